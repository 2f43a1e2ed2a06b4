/* Call dispatch, the authentication gate and replies (see rpc.h). */
#include "rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "idem.h"
#include "key.h"
#include "log.h"

struct rpc_mem {
	rpc_mem *next;
	max_align_t data[];
};

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
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

void rpc_new_id(char *out, size_t size, const char *prefix)
{
	size_t plen = strlen(prefix);
	if (size < plen + 17 || key_random_hex(out + plen, 8) != 0) {
		/* Without randomness no id is safe to hand out. */
		log_error(0, "no random bytes for a new id");
		abort();
	}
	memcpy(out, prefix, plen);
}

int64_t rpc_now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

unsigned rpc_list_limit(uint32_t limit)
{
	if (limit == 0)
		return RPC_LIST_DEFAULT;
	return limit > RPC_LIST_MAX ? RPC_LIST_MAX : limit;
}

void rpc_page_query_limit(uint32_t limit, char *buf, size_t len)
{
	snprintf(buf, len, "%u", rpc_list_limit(limit) + 1);
}

unsigned rpc_page_size(uint32_t limit, int rows, bool *more)
{
	unsigned page = rpc_list_limit(limit);
	*more = (unsigned)rows > page;
	return *more ? page : (unsigned)rows;
}

void *rpc_alloc(rpc_call *call, size_t size)
{
	rpc_mem *m = calloc(1, sizeof(*m) + size);
	if (m == NULL) {
		/* The reply cannot be built either; there is no sane way on
		 * for this process. */
		log_error(call->conn_id, "out of memory");
		abort();
	}
	m->next = call->mem;
	call->mem = m;
	return m->data;
}

char *rpc_strdup(rpc_call *call, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = rpc_alloc(call, len);
	memcpy(p, s, len);
	return p;
}

static void call_free(rpc_call *call)
{
	rpc_mem *m = call->mem;
	while (m != NULL) {
		rpc_mem *next = m->next;
		free(m);
		m = next;
	}
	fairpay__v1__request__free_unpacked(call->req, NULL);
	free(call);
}

void rpc_release(rpc_call *call)
{
	conn *c = call->conn;
	idem_release(call);
	if (call->close_after && conn_alive(c))
		conn_close_after_flush(c);
	conn_call_done(c);
	conn_unref(c);
	call_free(call);
}

void rpc_send(rpc_call *call)
{
	conn_send_response(call->conn, &call->resp);
	rpc_release(call);
}

static void call_end(rpc_call *call)
{
	call->resp.id = call->req->id;
	call->resp.status = &call->status;
	if (call->status.message == NULL)
		call->status.message = "";
	if (call->status.field == NULL)
		call->status.field = "";
	/* With an idempotency key the reply goes out only once it is
	 * recorded, so that a retry finds it. */
	if (idem_finish(call))
		return;
	rpc_send(call);
}

void rpc_ok(rpc_call *call)
{
	call->status.code = FAIRPAY__V1__CODE__OK;
	call_end(call);
}

void rpc_fail(rpc_call *call, int code, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* An error carries no result, whatever the handler had built. */
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
	call->status.code = code;
	call->status.message = rpc_strdup(call, msg);
	call->status.field = field ? rpc_strdup(call, field) : "";
	log_debug(call->conn_id, "%s id=%llu: %s (%s)", call->route ? call->route->name : "?",
		  (unsigned long long)call->req->id, msg, field ? field : "");
	call_end(call);
}

/* SQLSTATEs our SQL functions raise for a refused request (see
 * migrations/0002), and the status each one means. */
static const struct {
	const char *sqlstate;
	int code;
} sql_codes[] = {
	{ "FPNTF", FAIRPAY__V1__CODE__NOT_FOUND },
	{ "FPPRE", FAIRPAY__V1__CODE__FAILED_PRECONDITION },
	{ "FPARG", FAIRPAY__V1__CODE__INVALID_ARGUMENT },
	{ "40001", FAIRPAY__V1__CODE__ABORTED },     /* serialization failure */
	{ "40P01", FAIRPAY__V1__CODE__ABORTED },     /* deadlock detected */
	{ "55P03", FAIRPAY__V1__CODE__ABORTED },     /* lock_timeout: another call holds the row */
	{ "57014", FAIRPAY__V1__CODE__UNAVAILABLE }, /* statement_timeout */
};

void rpc_fail_db(rpc_call *call, db_status st, PGresult *res)
{
	if (st == DB_UNAVAILABLE) {
		rpc_fail(call, FAIRPAY__V1__CODE__UNAVAILABLE, NULL,
			 "the database is unavailable; try again shortly");
		return;
	}
	const char *state = db_sqlstate(res);
	for (size_t i = 0; i < sizeof(sql_codes) / sizeof(sql_codes[0]); i++) {
		if (strcmp(state, sql_codes[i].sqlstate) != 0)
			continue;
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *field = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
		if (sql_codes[i].code == FAIRPAY__V1__CODE__ABORTED)
			msg = "the request conflicted with another one; try again";
		rpc_fail(call, sql_codes[i].code, field, "%s", msg ? msg : "refused");
		return;
	}
	log_error(call->conn_id, "%s: database error %s: %s", call->route->name, db_sqlstate(res),
		  res ? PQresultErrorMessage(res) : "no result");
	rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
}

int rpc_query(rpc_call *call, const char *sql, int nparams, const char *const *params, db_cb cb)
{
	if (db_query(call->srv->db, sql, nparams, params, cb, call) == 0)
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (out of memory)");
	return -1;
}

void rpc_dispatch(conn *c, Fairpay__V1__Request *req)
{
	rpc_call *call = calloc(1, sizeof(*call));
	if (call == NULL) {
		log_error(c->id, "out of memory");
		abort();
	}
	conn_ref(c);
	call->conn = c;
	call->srv = c->srv;
	call->conn_id = c->id;
	call->req = req;
	fairpay__v1__response__init(&call->resp);
	fairpay__v1__status__init(&call->status);
	call->role = c->role;
	snprintf(call->vendor_id, sizeof(call->vendor_id), "%s", c->vendor_id);
	snprintf(call->key_id, sizeof(call->key_id), "%s", c->key_id);

	size_t idx = (size_t)req->call_case;
	if (idx >= N_ROUTES || routes[idx].handler == NULL) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "call", "unknown call");
		return;
	}
	const rpc_route *r = &routes[idx];
	call->route = r;
	log_debug(c->id, "%s id=%llu", r->name, (unsigned long long)req->id);
	if (strlen(req->idempotency_key) > RPC_IDEMPOTENCY_KEY_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "idempotency_key",
			 "idempotency_key is longer than %d bytes", RPC_IDEMPOTENCY_KEY_MAX);
		return;
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
	if (r->mutating && req->idempotency_key[0] != '\0') {
		idem_begin(call); /* runs the handler unless it replays */
		return;
	}
	r->handler(call);
}
