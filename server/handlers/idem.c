/* Idempotency records of mutating calls (see idem.h). */
#include "idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "reply.h"

/* Keys in flight on this server: "scope/key", in a small open list. A
 * server has at most max_connections * max_inflight calls, and keyed calls
 * are a fraction of them, so a linear probe table stays small. */
typedef struct idem_slot {
	char *name;
} idem_slot;

static idem_slot *inflight;
static size_t inflight_cap, inflight_used;

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int inflight_grow(void)
{
	size_t cap = inflight_cap ? inflight_cap * 2 : 64;
	idem_slot *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -1;
	for (size_t i = 0; i < inflight_cap; i++) {
		if (inflight[i].name == NULL)
			continue;
		size_t j = name_hash(inflight[i].name) & (cap - 1);
		while (t[j].name != NULL)
			j = (j + 1) & (cap - 1);
		t[j] = inflight[i];
	}
	free(inflight);
	inflight = t;
	inflight_cap = cap;
	return 0;
}

/* Add name; 1 if it was there already, -1 without memory. */
static int inflight_add(const char *name)
{
	if ((inflight_used + 1) * 2 > inflight_cap && inflight_grow() != 0)
		return -1;
	size_t j = name_hash(name) & (inflight_cap - 1);
	while (inflight[j].name != NULL) {
		if (strcmp(inflight[j].name, name) == 0)
			return 1;
		j = (j + 1) & (inflight_cap - 1);
	}
	inflight[j].name = strdup(name);
	if (inflight[j].name == NULL)
		return -1;
	inflight_used++;
	return 0;
}

static void inflight_del(const char *name)
{
	if (inflight_cap == 0)
		return;
	size_t j = name_hash(name) & (inflight_cap - 1);
	while (inflight[j].name != NULL && strcmp(inflight[j].name, name) != 0)
		j = (j + 1) & (inflight_cap - 1);
	if (inflight[j].name == NULL)
		return;
	free(inflight[j].name);
	inflight[j].name = NULL;
	inflight_used--;
	/* Re-insert the rest of the cluster so that probes stay unbroken. */
	for (j = (j + 1) & (inflight_cap - 1); inflight[j].name != NULL;
	     j = (j + 1) & (inflight_cap - 1)) {
		char *moved = inflight[j].name;
		inflight[j].name = NULL;
		size_t k = name_hash(moved) & (inflight_cap - 1);
		while (inflight[k].name != NULL)
			k = (k + 1) & (inflight_cap - 1);
		inflight[k].name = moved;
	}
}

/* Hash the call's name and its packed fields: a repeat must be the same
 * call with the same fields, whatever its request id. */
static int request_hash(rpc_call *call, char out[65])
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&fairpay__v1__request__descriptor, (unsigned)call->req->call_case);
	if (f == NULL)
		return -1;
	const ProtobufCMessage *msg =
		*(ProtobufCMessage *const *)((const char *)call->req + f->offset);
	size_t len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	uint8_t *buf = rpc_alloc(call, len + 1);
	if (msg)
		protobuf_c_message_pack(msg, buf);
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, call->route->name, strlen(call->route->name) + 1) == 1 &&
		 EVP_DigestUpdate(ctx, buf, len) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static const char *scope(const rpc_call *call)
{
	return call->role == ROLE_VENDOR_KEY ? call->vendor_id : "";
}

static void replay(rpc_call *call, PGresult *res)
{
	size_t len = 0;
	unsigned char *bytes = PQunescapeBytea((const unsigned char *)db_get_str(res, 0, 2), &len);
	Fairpay__V1__Response *stored =
		bytes ? fairpay__v1__response__unpack(NULL, len, bytes) : NULL;
	PQfreemem(bytes);
	if (stored == NULL) {
		char k[LOG_ESCAPE_SIZE];
		log_error(call->conn_id, "idempotency record for key \"%s\" does not decode",
			  log_escape(k, call->req->idempotency_key));
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	stored->id = call->req->id;
	stored->replayed = true;
	reply_send(call->conn, stored);
	fairpay__v1__response__free_unpacked(stored, NULL);
	rpc_release(call);
}

static void lookup(rpc_call *call);

static void expired_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	lookup(call);
}

static void lookup_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (PQntuples(res) == 0) {
		if (call->idem_replay_only) {
			/* Recorded a moment ago, gone now: only the sweeper
			 * removes records, so this cannot last. */
			rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, "idempotency_key",
				 "a request with this idempotency key is still in flight");
			return;
		}
		call->idem_active = true;
		call->route->handler(call);
		return;
	}
	if (strcmp(db_get_str(res, 0, 3), "t") == 0) {
		/* Past its 24 hours: the key is free again. */
		const char *params[] = { scope(call), call->req->idempotency_key };
		if (db_query_for(call->srv->db, rpc_tenant(call),
				 "DELETE FROM idempotency WHERE vendor_id = $1 AND key = $2"
				 " AND expires_at < now()",
				 2, params, expired_done, call) != 0)
			rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	if (strcmp(db_get_str(res, 0, 0), call->route->name) != 0 ||
	    strcmp(db_get_str(res, 0, 1), call->idem_hash) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "idempotency_key",
			 "this idempotency key was used for a different request");
		return;
	}
	replay(call, res);
}

/* A record found is answered only once it is as durable as a first answer
 * would have been: its commit may have been confirmed by no standby (the
 * wait was cancelled, DB_UNCONFIRMED). A transactional WAL message written
 * when a row is found (an xid alone writes no WAL, and PostgreSQL waits for
 * the standby only after both) makes this read's own commit wait for the
 * synchronous standby to reach a point past that record's commit, or be
 * cancelled like any other (then UNAVAILABLE, and the client retries).
 * Without synchronous standbys nothing is written, and a lookup that finds
 * nothing never waits. */
static void lookup(rpc_call *call)
{
	const char *params[] = { scope(call), call->req->idempotency_key };
	rpc_query(call,
		  "SELECT call, request_hash, response, expires_at < now(),"
		  " CASE WHEN current_setting('synchronous_standby_names') <> ''"
		  " THEN pg_logical_emit_message(true, 'fairpay', 'replay') END FROM idempotency"
		  " WHERE vendor_id = $1 AND key = $2 AND state = 'DONE'",
		  2, params, lookup_done);
}

void idem_begin(rpc_call *call)
{
	call->idem_hash = rpc_alloc(call, 65);
	if (request_hash(call, call->idem_hash) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (hash)");
		return;
	}
	size_t len = strlen(scope(call)) + strlen(call->req->idempotency_key) + 2;
	char *name = rpc_alloc(call, len);
	snprintf(name, len, "%s/%s", scope(call), call->req->idempotency_key);
	int rc = inflight_add(name);
	if (rc != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, "idempotency_key",
			 "a request with this idempotency key is still in flight");
		return;
	}
	call->idem_name = name;
	call->end_hook = idem_finish;
	call->release_hook = idem_release;
	lookup(call);
}

void idem_again(rpc_call *call)
{
	call->idem_active = false;
	call->idem_replay_only = true;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
	lookup(call);
}

void idem_release(rpc_call *call)
{
	if (call->idem_name == NULL)
		return;
	inflight_del(call->idem_name);
	call->idem_name = NULL;
}

/* Pack the reply as it will be sent, in bytea hex input form. A new API
 * key (or webhook signing secret) is shown once: the record keeps everything of the reply but the
 * secret, so that a replay names what was created and a secret never rests
 * in the database in the clear. */
static char *response_hex(rpc_call *call)
{
	call->resp.id = call->req->id;
	call->resp.status = &call->status;
	if (call->status.message == NULL)
		call->status.message = "";
	if (call->status.field == NULL)
		call->status.field = "";
	char **secret = NULL;
	if (call->resp.result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR)
		secret = &call->resp.create_vendor->api_key;
	else if (call->resp.result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_API_KEY)
		secret = &call->resp.create_api_key->api_key;
	else if (call->resp.result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_WEBHOOK_ENDPOINT)
		secret = &call->resp.create_webhook_endpoint->secret;
	char *kept = secret ? *secret : NULL;
	if (secret)
		*secret = "";
	size_t len = protobuf_c_message_get_packed_size(&call->resp.base);
	uint8_t *buf = rpc_alloc(call, len + 1);
	protobuf_c_message_pack(&call->resp.base, buf);
	if (secret)
		*secret = kept;
	char *hex = rpc_alloc(call, 2 * len + 3);
	memcpy(hex, "\\x", 2);
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		hex[2 + 2 * i] = digits[buf[i] >> 4];
		hex[3 + 2 * i] = digits[buf[i] & 15];
	}
	hex[2 + 2 * len] = '\0';
	return hex;
}

int idem_prepare(rpc_call *call, store_idem *out)
{
	memset(out, 0, sizeof(*out));
	if (!call->idem_active)
		return 0;
	call->status.code = FAIRPAY__V1__CODE__OK;
	out->scope = scope(call);
	out->key = call->req->idempotency_key;
	out->call = call->route->name;
	out->hash = call->idem_hash;
	out->response_hex = response_hex(call);
	/* The write that carries it records it: nothing more to do at the end. */
	call->idem_recorded = true;
	return 0;
}

bool idem_is_conflict(const rpc_call *call, const PGresult *res)
{
	if (call->idem_name == NULL || res == NULL || strcmp(db_sqlstate(res), "23505") != 0)
		return false;
	const char *c = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	return c != NULL && strcmp(c, "idempotency_pkey") == 0;
}

static void refusal_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st == DB_ERROR && idem_is_conflict(call, res)) {
		/* Another server answered this key first. */
		call->status.message = NULL;
		call->status.field = NULL;
		idem_again(call);
		return;
	}
	if (st != DB_OK) {
		char k[LOG_ESCAPE_SIZE];
		log_warn(call->conn_id, "could not record the reply for idempotency key \"%s\"",
			 log_escape(k, call->req->idempotency_key));
	}
	rpc_send(call);
}

bool idem_finish(rpc_call *call)
{
	if (!call->idem_active || call->idem_recorded)
		return false;
	int code = (int)call->status.code;
	/* Validation failures and "try again" replies are not kept: the same
	 * key with corrected fields, or later, runs. */
	if (code == FAIRPAY__V1__CODE__INVALID_ARGUMENT || code == FAIRPAY__V1__CODE__UNAVAILABLE ||
	    code == FAIRPAY__V1__CODE__INTERNAL || code == FAIRPAY__V1__CODE__ABORTED ||
	    code == FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED ||
	    code == FAIRPAY__V1__CODE__UNAUTHENTICATED)
		return false;
	call->idem_recorded = true;
	store_idem rec = { scope(call), call->req->idempotency_key, call->route->name,
			   call->idem_hash, response_hex(call) };
	store_stmt stmt;
	store_write_idem_only(&stmt, &rec);
	if (db_write_for(call->srv->db, rpc_tenant(call), stmt.sql, stmt.n, stmt.params, NULL,
			 refusal_done, call) != 0)
		return false;
	return true;
}

void idem_write(rpc_call *call, const char *sql, int nparams, const char *const *params, db_cb cb)
{
	store_idem rec;
	const char *all[32];
	if (nparams + 5 > 32 || idem_prepare(call, &rec) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (reply)");
		return;
	}
	memcpy(all, params, (size_t)nparams * sizeof(*params));
	all[nparams] = rec.scope;
	all[nparams + 1] = rec.key;
	all[nparams + 2] = rec.call;
	all[nparams + 3] = rec.hash;
	all[nparams + 4] = rec.response_hex;
	if (db_write_for(call->srv->db, rpc_tenant(call), sql, nparams + 5, all, NULL, cb, call) !=
	    0)
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (out of memory)");
}

bool idem_write_failed(rpc_call *call, db_status st, const PGresult *res, bool changed)
{
	if (st == DB_ERROR && idem_is_conflict(call, res)) {
		idem_again(call);
		return true;
	}
	/* Nothing changed, so the record was not written with it: the
	 * refusal that the handler answers is recorded on its own. */
	if (!changed)
		call->idem_recorded = false;
	return false;
}
