/* Routing a decoded request to its handler (see dispatch.h). */
#include "dispatch.h"

#include <string.h>

#include "idem.h"
#include "log.h"
#include "wirestr.h"

#define ROUTE(field, name, access, mutating, fn) \
	[FAIRPAY__V1__REQUEST__CALL_##field] = { name, access, mutating, fn }

/* One row per call of PROTOCOL.md: who may make it, whether it changes
 * state, and its handler. */
static const rpc_route routes[] = {
	ROUTE(PING, "Ping", RPC_ANYONE, false, rpc_ping),
	ROUTE(AUTHENTICATE, "Authenticate", RPC_ANYONE, false, rpc_authenticate),
	ROUTE(CREATE_VENDOR, "CreateVendor", RPC_ADMIN, true, rpc_create_vendor),
	ROUTE(CREATE_API_KEY, "CreateApiKey", RPC_ADMIN, true, rpc_create_api_key),
	ROUTE(REVOKE_API_KEY, "RevokeApiKey", RPC_ADMIN, true, rpc_revoke_api_key),
	ROUTE(LIST_VENDORS, "ListVendors", RPC_ADMIN, false, rpc_list_vendors),
	ROUTE(REGISTER_CLIENT_CERT, "RegisterClientCert", RPC_ADMIN, true,
	      rpc_register_client_cert),
	ROUTE(PUT_PRODUCT, "PutProduct", RPC_VENDOR, true, rpc_put_product),
	ROUTE(GET_PRODUCT, "GetProduct", RPC_VENDOR, false, rpc_get_product),
	ROUTE(LIST_PRODUCTS, "ListProducts", RPC_VENDOR, false, rpc_list_products),
	ROUTE(PUT_POLICY, "PutPolicy", RPC_VENDOR, true, rpc_put_policy),
	ROUTE(GET_POLICY, "GetPolicy", RPC_VENDOR, false, rpc_get_policy),
	ROUTE(CREATE_OFFER, "CreateOffer", RPC_VENDOR, true, rpc_create_offer),
	ROUTE(ACCEPT_OFFER, "AcceptOffer", RPC_VENDOR, true, rpc_accept_offer),
	ROUTE(DECLINE_OFFER, "DeclineOffer", RPC_VENDOR, true, rpc_decline_offer),
	ROUTE(GET_OFFER, "GetOffer", RPC_VENDOR, false, rpc_get_offer),
	ROUTE(SUBMIT_PAYMENT, "SubmitPayment", RPC_VENDOR, true, rpc_submit_payment),
	ROUTE(REVIEW_PAYMENT, "ReviewPayment", RPC_VENDOR, true, rpc_review_payment),
	ROUTE(GET_REPUTATION, "GetReputation", RPC_VENDOR, false, rpc_get_reputation),
	ROUTE(LIST_CUSTOMER_EVENTS, "ListCustomerEvents", RPC_VENDOR, false,
	      rpc_list_customer_events),
	ROUTE(LIST_EVENTS, "ListEvents", RPC_VENDOR, false, rpc_list_events),
	ROUTE(LIST_OFFERS, "ListOffers", RPC_VENDOR, false, rpc_list_offers),
	ROUTE(LIST_PAYMENTS, "ListPayments", RPC_VENDOR, false, rpc_list_payments),
	ROUTE(CREATE_WEBHOOK_ENDPOINT, "CreateWebhookEndpoint", RPC_VENDOR, true,
	      rpc_create_webhook_endpoint),
	ROUTE(LIST_WEBHOOK_ENDPOINTS, "ListWebhookEndpoints", RPC_VENDOR, false,
	      rpc_list_webhook_endpoints),
	ROUTE(DELETE_WEBHOOK_ENDPOINT, "DeleteWebhookEndpoint", RPC_VENDOR, true,
	      rpc_delete_webhook_endpoint),
	ROUTE(LIST_WEBHOOK_DELIVERIES, "ListWebhookDeliveries", RPC_VENDOR, false,
	      rpc_list_webhook_deliveries),
	ROUTE(ISSUE_ATTESTATION, "IssueAttestation", RPC_VENDOR, true, rpc_issue_attestation),
	ROUTE(VERIFY_ATTESTATION, "VerifyAttestation", RPC_VENDOR, false, rpc_verify_attestation),
	ROUTE(GET_ISSUER_KEY, "GetIssuerKey", RPC_VENDOR, false, rpc_get_issuer_key),
	ROUTE(GET_INSIGHTS, "GetInsights", RPC_VENDOR, false, rpc_get_insights),
	/* Not idempotent: it changes nothing, and each run reads afresh. */
	ROUTE(SIMULATE_POLICY, "SimulatePolicy", RPC_VENDOR, false, rpc_simulate_policy),
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

const char *dispatch_call_name(unsigned call_case)
{
	return call_case < N_ROUTES ? routes[call_case].name : NULL;
}

const char *dispatch_code_name(unsigned code)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fairpay__v1__code__descriptor, (int)code);
	return v ? v->name : NULL;
}

/* Refuse a request with a bad string field (wirestr.h); true if it did. */
static bool refuse_bad_strings(rpc_call *call, const uint8_t *body, size_t len)
{
	wirestr_bad bad;
	const char *f = bad.field;
	wirestr_result r = wirestr_check(&fairpay__v1__request__descriptor, body, len, &bad);
	if (r == WIRESTR_OK)
		return false;
	if (call->req->call_case == FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE &&
	    strcmp(f, "api_key") == 0) {
		/* A malformed key is one more failed attempt, answered as every
		 * other one (PROTOCOL.md: three close the connection). */
		rpc_auth_refuse(call);
		return true;
	}
	switch (r) {
	case WIRESTR_OK:
		return false;
	case WIRESTR_TOO_LONG:
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, f,
			 "%s is longer than %zu bytes", f, bad.max);
		break;
	case WIRESTR_NUL:
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, f, "%s contains a NUL byte", f);
		break;
	case WIRESTR_UTF8:
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, f, "%s is not valid UTF-8", f);
		break;
	case WIRESTR_MALFORMED:
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, NULL,
			 "the request does not decode");
		break;
	}
	return true;
}

void dispatch_request(conn *c, Fairpay__V1__Request *req, const uint8_t *body, size_t len)
{
	rpc_call *call = rpc_call_new(c, req, len);

	size_t idx = (size_t)req->call_case;
	if (idx >= N_ROUTES || routes[idx].handler == NULL) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "call", "unknown call");
		return;
	}
	const rpc_route *r = &routes[idx];
	call->route = r;
	if (log_enabled(LOG_DEBUG)) {
		char k[LOG_ESCAPE_SIZE];
		log_fields f = { r->name, NULL, -1, call->vendor_id };
		log_call(LOG_DEBUG, c->id, &f, "%s id=%llu key=\"%s\"", r->name,
			 (unsigned long long)req->id, log_escape(k, req->idempotency_key));
	}
	if (r->access != RPC_ANYONE && call->role == ROLE_NONE) {
		rpc_fail(call, FAIRPAY__V1__CODE__UNAUTHENTICATED, NULL,
			 "%s needs an authenticated connection: call Authenticate first", r->name);
		return;
	}
	if ((r->access == RPC_ADMIN && call->role != ROLE_ADMIN_KEY) ||
	    (r->access == RPC_VENDOR && call->role != ROLE_VENDOR_KEY)) {
		rpc_fail(call, FAIRPAY__V1__CODE__PERMISSION_DENIED, NULL, "%s needs a%s key",
			 r->name, r->access == RPC_ADMIN ? "n ADMIN" : " VENDOR");
		return;
	}
	/* After the gates: a caller that may not make the call hears that,
	 * whatever the call carries. */
	if (refuse_bad_strings(call, body, len))
		return;
	if (r->mutating && req->idempotency_key[0] != '\0') {
		idem_begin(call); /* runs the handler unless it replays */
		return;
	}
	r->handler(call);
}
