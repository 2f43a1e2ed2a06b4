/* The webhook calls: endpoints (create, list, delete) and their delivery
 * log. Delivery itself is the job of jobs/deliver.c; the SQL is in
 * store/outbox.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "clock.h"
#include "hookurl.h"
#include "idem.h"
#include "limit.h"
#include "log.h"
#include "names.h"
#include "outbox.h"
#include "rpc.h"
#include "store.h"
#include "text.h"

#define SECRET_BYTES 32
#define SECRET_PREFIX "whsec_"
/* "whsec_" + base64 of 32 bytes (44) + NUL */
#define SECRET_LEN (sizeof(SECRET_PREFIX) - 1 + 4 * ((SECRET_BYTES + 2) / 3) + 1)

/* Split a comma-joined list of event kind names into the message's kinds. */
static void kinds_from_text(rpc_call *call, const char *list, Fairpay__V1__EventKind **out,
			    size_t *n_out)
{
	size_t n = 0;
	Fairpay__V1__EventKind *k =
		rpc_alloc(call, (size_t)(names_max(NAMES_EVENT) + 1) * sizeof(*k));
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",");
		int v = names_value_n(NAMES_EVENT, p, len);
		if (v != 0 && n < (size_t)names_max(NAMES_EVENT) + 1)
			k[n++] = (Fairpay__V1__EventKind)v;
		p += len;
		if (*p == ',')
			p++;
	}
	*out = k;
	*n_out = n;
}

static Fairpay__V1__WebhookEndpoint *endpoint_from_row(rpc_call *call, const PGresult *res, int row)
{
	Fairpay__V1__WebhookEndpoint *e = rpc_alloc(call, sizeof(*e));
	fairpay__v1__webhook_endpoint__init(e);
	e->endpoint_id = rpc_strdup(call, db_get_str(res, row, OUTBOX_EP_ID));
	e->url = rpc_strdup(call, db_get_str(res, row, OUTBOX_EP_URL));
	kinds_from_text(call, db_get_str(res, row, OUTBOX_EP_KINDS), &e->kinds, &e->n_kinds);
	e->created_at_unix_ms = db_get_i64(res, row, OUTBOX_EP_CREATED_MS);
	return e;
}

/* ------------------------------------------------------------ CreateWebhookEndpoint */

static void create_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	char *secret = call->ctx;
	bool changed = st == DB_OK && PQntuples(res) == 1;
	if (idem_write_failed(call, st, res, changed)) {
		OPENSSL_cleanse(secret, SECRET_LEN);
		return;
	}
	if (st == DB_ERROR && strcmp(db_sqlstate(res), "23505") == 0) {
		const char *c = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
		if (c != NULL && strcmp(c, OUTBOX_SLOT_CONSTRAINT) == 0) {
			OPENSSL_cleanse(secret, SECRET_LEN);
			rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, NULL,
				 "another endpoint was created at the same time; try again");
			return;
		}
	}
	if (st != DB_OK) {
		OPENSSL_cleanse(secret, SECRET_LEN);
		rpc_fail_db(call, st, res);
		return;
	}
	if (!changed) {
		OPENSSL_cleanse(secret, SECRET_LEN);
		rpc_fail(call, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED, NULL,
			 "a vendor has at most %d webhook endpoints; delete one first",
			 LIMIT_WEBHOOK_ENDPOINTS);
		return;
	}
	log_info(call->conn_id, "vendor %s created webhook endpoint %s", call->vendor_id,
		 call->resp.create_webhook_endpoint->endpoint->endpoint_id);
	rpc_ok(call);
}

void rpc_create_webhook_endpoint(rpc_call *call)
{
	const Fairpay__V1__CreateWebhookEndpointRequest *in = call->req->create_webhook_endpoint;
	const fp_config *cfg = call->srv->cfg;
	const char *why = "";
	if (hookurl_check(in->url, cfg->webhook_allow_http, cfg->webhook_allow_private, &why) !=
	    HOOKURL_OK) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "url", "%s", why);
		return;
	}
	/* Kinds: known values only, each once, kept in the order given. */
	Fairpay__V1__EventKind *kinds =
		rpc_alloc(call, (in->n_kinds ? in->n_kinds : 1) * sizeof(*kinds));
	size_t n_kinds = 0;
	char *kinds_text =
		rpc_alloc(call, 3 + in->n_kinds * 40) /* "{", names and commas, "}", NUL */;
	size_t at = 0;
	kinds_text[at++] = '{';
	for (size_t i = 0; i < in->n_kinds; i++) {
		const char *name = names_known(NAMES_EVENT, (int)in->kinds[i]);
		if (name == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "kinds",
				 "kinds[%zu] is not an event kind", i);
			return;
		}
		bool seen = false;
		for (size_t j = 0; j < n_kinds; j++)
			seen |= kinds[j] == in->kinds[i];
		if (seen)
			continue;
		kinds[n_kinds++] = in->kinds[i];
		at += (size_t)snprintf(kinds_text + at, 40, "%s%s", n_kinds > 1 ? "," : "", name);
	}
	kinds_text[at++] = '}';
	kinds_text[at] = '\0';

	uint8_t raw[SECRET_BYTES];
	char *secret = rpc_alloc(call, SECRET_LEN);
	call->ctx = secret;
	char *id = rpc_alloc(call, STORE_ID_LEN);
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "no random bytes");
		return;
	}
	memcpy(secret, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1);
	EVP_EncodeBlock((unsigned char *)secret + sizeof(SECRET_PREFIX) - 1, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	rpc_new_id(id, STORE_ID_LEN, "we_");

	int64_t now_us = clock_wall_us();
	char created[40];
	store_ts(now_us, created, sizeof(created));
	Fairpay__V1__WebhookEndpoint *e = rpc_alloc(call, sizeof(*e));
	fairpay__v1__webhook_endpoint__init(e);
	e->endpoint_id = id;
	e->url = in->url;
	e->kinds = kinds;
	e->n_kinds = n_kinds;
	e->created_at_unix_ms = now_us / 1000;
	Fairpay__V1__CreateWebhookEndpointResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__create_webhook_endpoint_response__init(r);
	r->endpoint = e;
	r->secret = secret;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_CREATE_WEBHOOK_ENDPOINT;
	call->resp.create_webhook_endpoint = r;
	/* The reply is complete before the write, which records it (without
	 * the secret, see idem.c) in the same statement. */
	const char *params[] = { call->vendor_id, id, in->url, kinds_text, secret, created };
	idem_write(call, outbox_sql_create_endpoint, 6, params, create_done);
}

/* ------------------------------------------------------------ ListWebhookEndpoints */

static void list_endpoints_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	int n = PQntuples(res);
	Fairpay__V1__ListWebhookEndpointsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_webhook_endpoints_response__init(r);
	r->endpoints = rpc_alloc(call, (size_t)(n ? n : 1) * sizeof(*r->endpoints));
	for (int i = 0; i < n; i++)
		r->endpoints[i] = endpoint_from_row(call, res, i);
	r->n_endpoints = (size_t)n;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_WEBHOOK_ENDPOINTS;
	call->resp.list_webhook_endpoints = r;
	rpc_ok(call);
}

void rpc_list_webhook_endpoints(rpc_call *call)
{
	/* At most LIMIT_WEBHOOK_ENDPOINTS rows of at most a URL each. */
	rpc_reserve_page(call, LIMIT_WEBHOOK_ENDPOINTS);
	const char *params[] = { call->vendor_id };
	rpc_query(call, outbox_sql_list_endpoints, 1, params, list_endpoints_done);
}

/* ------------------------------------------------------------ DeleteWebhookEndpoint */

/* INVALID_ARGUMENT for an empty id; NOT_FOUND for one that cannot be ours
 * (exactly as for a missing one). True when the call was answered. */
static bool refuse_endpoint_id(rpc_call *call, const char *id)
{
	if (id[0] == '\0') {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "endpoint_id",
			 "endpoint_id is required");
		return true;
	}
	if (!text_valid_id(id, "we_")) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "endpoint_id",
			 "no webhook endpoint %s", id);
		return true;
	}
	return false;
}

static void delete_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	const char *id = call->req->delete_webhook_endpoint->endpoint_id;
	bool changed = st == DB_OK && PQntuples(res) == 1;
	if (idem_write_failed(call, st, res, changed))
		return;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (!changed) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "endpoint_id",
			 "no webhook endpoint %s", id);
		return;
	}
	log_info(call->conn_id, "vendor %s deleted webhook endpoint %s", call->vendor_id, id);
	rpc_ok(call);
}

void rpc_delete_webhook_endpoint(rpc_call *call)
{
	const char *id = call->req->delete_webhook_endpoint->endpoint_id;
	if (refuse_endpoint_id(call, id))
		return;
	Fairpay__V1__DeleteWebhookEndpointResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__delete_webhook_endpoint_response__init(r);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_DELETE_WEBHOOK_ENDPOINT;
	call->resp.delete_webhook_endpoint = r;
	const char *params[] = { call->vendor_id, id };
	idem_write(call, outbox_sql_delete_endpoint, 2, params, delete_done);
}

/* ------------------------------------------------------------ ListWebhookDeliveries */

static void list_deliveries_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	const Fairpay__V1__ListWebhookDeliveriesRequest *in = call->req->list_webhook_deliveries;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	int rows = PQntuples(res);
	if (rows == 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "endpoint_id",
			 "no webhook endpoint %s", in->endpoint_id);
		return;
	}
	if (db_is_null(res, 0, OUTBOX_DL_ID))
		rows = 0; /* the endpoint, without deliveries after after_id */
	bool more = false;
	unsigned n = rpc_page_size(in->limit, rows, &more);
	Fairpay__V1__ListWebhookDeliveriesResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_webhook_deliveries_response__init(r);
	r->deliveries = rpc_alloc(call, (n ? n : 1) * sizeof(*r->deliveries));
	size_t used = 0;
	for (unsigned i = 0; i < n; i++) {
		int row = (int)i;
		Fairpay__V1__WebhookDelivery *d = rpc_alloc(call, sizeof(*d));
		fairpay__v1__webhook_delivery__init(d);
		d->id = (uint64_t)db_get_i64(res, row, OUTBOX_DL_ID);
		d->endpoint_id = in->endpoint_id;
		d->event_id = (uint64_t)db_get_i64(res, row, OUTBOX_DL_EVENT_ID);
		d->attempt = (int32_t)db_get_i64(res, row, OUTBOX_DL_ATTEMPT);
		d->http_status = (int32_t)db_get_i64(res, row, OUTBOX_DL_HTTP_STATUS);
		d->error = rpc_strdup(call, db_get_str(res, row, OUTBOX_DL_ERROR));
		d->succeeded = strcmp(db_get_str(res, row, OUTBOX_DL_SUCCEEDED), "t") == 0;
		d->at_unix_ms = db_get_i64(res, row, OUTBOX_DL_AT_MS);
		d->next_attempt_unix_ms = db_get_i64(res, row, OUTBOX_DL_NEXT_MS);
		r->deliveries[i] = d;
		if (!rpc_page_fits(call, &used,
				   fairpay__v1__webhook_delivery__get_packed_size(d))) {
			n = i; /* the rest on the next page */
			break;
		}
	}
	r->n_deliveries = n;
	r->next_after_id = n ? r->deliveries[n - 1]->id : in->after_id;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_WEBHOOK_DELIVERIES;
	call->resp.list_webhook_deliveries = r;
	rpc_ok(call);
}

void rpc_list_webhook_deliveries(rpc_call *call)
{
	const Fairpay__V1__ListWebhookDeliveriesRequest *in = call->req->list_webhook_deliveries;
	if (refuse_endpoint_id(call, in->endpoint_id))
		return;
	if (in->after_id > (uint64_t)INT64_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "after_id",
			 "after_id is out of range");
		return;
	}
	char after[24], limit[16];
	snprintf(after, sizeof(after), "%llu", (unsigned long long)in->after_id);
	rpc_page_query_limit(in->limit, limit, sizeof(limit));
	rpc_reserve_page(call, in->limit);
	const char *params[] = { call->vendor_id, in->endpoint_id, after, limit };
	rpc_query(call, outbox_sql_list_deliveries, 4, params, list_deliveries_done);
}
