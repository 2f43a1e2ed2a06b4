/* Calls of any role (Ping, Authenticate) and the ADMIN calls: vendors and
 * API keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cache.h"
#include "clock.h"
#include "idem.h"
#include "key.h"
#include "limit.h"
#include "log.h"
#include "rpc.h"
#include "store.h"
#include "text.h"

void rpc_ping(rpc_call *call)
{
	Fairpay__V1__PingResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__ping_response__init(r);
	r->server_version = "fairpayd " FP_VERSION;
	r->server_time_unix_ms = clock_wall_ms();
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_PING;
	call->resp.ping = r;
	rpc_ok(call);
}

/* ------------------------------------------------------------ Authenticate */

typedef struct auth_ctx {
	key_parts key;
} auth_ctx;

static void forget_key(key_parts *key)
{
	OPENSSL_cleanse(key->secret, sizeof(key->secret));
}

static void auth_refuse(rpc_call *call)
{
	conn *c = call->conn;
	c->auth_failures++;
	/* A refused key also ends the identity the connection had: a caller
	 * that tried to switch keys must not go on as the earlier one. */
	if (c->role != ROLE_NONE)
		log_info(call->conn_id, "key %s no longer authenticates the connection", c->key_id);
	conn_drop_identity(c);
	/* One message for every cause, so that a caller cannot tell an
	 * unknown key from a wrong secret or a revoked key. */
	if (c->auth_failures >= 3) {
		log_info(call->conn_id, "3 failed authentication attempts from %s; closing",
			 c->peer);
		stats_hit(&call->srv->stats, STAT_AUTH_CLOSES, call->conn_id);
		call->close_after = true;
	}
	rpc_fail(call, FAIRPAY__V1__CODE__UNAUTHENTICATED, "api_key", "invalid API key");
}

void rpc_auth_refuse(rpc_call *call)
{
	auth_refuse(call);
}

static void auth_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	auth_ctx *ctx = call->ctx;
	conn *c = call->conn;
	c->auth_pending = false;
	if (st != DB_OK) {
		forget_key(&ctx->key);
		rpc_fail_db(call, st, res);
		return;
	}
	bool ok = PQntuples(res) == 1 && strcmp(db_get_str(res, 0, 3), "f") == 0 &&
		  key_matches(&ctx->key, db_get_str(res, 0, 2));
	forget_key(&ctx->key);
	if (!ok) {
		auth_refuse(call);
		return;
	}
	const char *vendor_id = db_get_str(res, 0, 0);
	conn_role role =
		strcmp(db_get_str(res, 0, 1), "ADMIN") == 0 ? ROLE_ADMIN_KEY : ROLE_VENDOR_KEY;
	/* A key that authenticates replaces whatever key the connection had. */
	if (!conn_set_identity(c, role, ctx->key.id, vendor_id)) {
		rpc_fail(call, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED, "api_key",
			 "key %s already has %lld connections; close one first", ctx->key.id,
			 (long long)call->srv->cfg->max_connections_per_key);
		return;
	}
	c->auth_failures = 0;
	log_fields lf = { "Authenticate", NULL, -1, vendor_id };
	log_call(LOG_INFO, call->conn_id, &lf, "authenticated key %s (%s%s%s)", ctx->key.id,
		 role == ROLE_ADMIN_KEY ? "ADMIN" : "VENDOR", vendor_id[0] ? ", vendor " : "",
		 vendor_id);

	Fairpay__V1__AuthenticateResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__authenticate_response__init(r);
	r->vendor_id = rpc_strdup(call, vendor_id);
	r->role = role == ROLE_ADMIN_KEY ? FAIRPAY__V1__ROLE__ROLE_ADMIN
					 : FAIRPAY__V1__ROLE__ROLE_VENDOR;
	r->key_id = rpc_strdup(call, ctx->key.id);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_AUTHENTICATE;
	call->resp.authenticate = r;
	rpc_ok(call);
}

void rpc_authenticate(rpc_call *call)
{
	const char *text = call->req->authenticate->api_key;
	auth_ctx *ctx = rpc_alloc(call, sizeof(*ctx));
	call->ctx = ctx;
	if (key_parse(text, strlen(text), &ctx->key) != 0) {
		auth_refuse(call);
		return;
	}
	/* The connection outlives the call: the reaper frees it on a later
	 * loop turn at the earliest. */
	conn *c = call->conn;
	c->auth_pending = true;
	const char *params[] = { ctx->key.id };
	if (rpc_query(call,
		      "SELECT vendor_id, role, secret_hash, revoked_at IS NOT NULL"
		      " FROM api_keys WHERE id = $1",
		      1, params, auth_done) != 0)
		c->auth_pending = false;
}

/* ------------------------------------------------------------ CreateVendor */

typedef struct vendor_ctx {
	char vendor_id[32];
	char key_text[KEY_TEXT_LEN + 1];
	key_parts key;
} vendor_ctx;

static void create_vendor_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	vendor_ctx *ctx = call->ctx;
	if (idem_write_failed(call, st, res, st == DB_OK))
		return;
	if (st != DB_OK || PQntuples(res) != 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	log_info(call->conn_id, "created vendor %s with key %s", ctx->vendor_id, ctx->key.id);
	rpc_ok(call);
}

void rpc_create_vendor(rpc_call *call)
{
	const char *name = call->req->create_vendor->name;
	if (!text_valid_name(name, LIMIT_NAME_BYTES)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "name",
			 "name must be 1 to %d bytes of UTF-8", LIMIT_NAME_BYTES);
		return;
	}
	vendor_ctx *ctx = rpc_alloc(call, sizeof(*ctx));
	call->ctx = ctx;
	char hash[KEY_HASH_LEN + 1];
	memcpy(ctx->vendor_id, "v_", 2);
	if (key_random_hex(ctx->vendor_id + 2, 8) != 0 ||
	    key_generate(&ctx->key, ctx->key_text, sizeof(ctx->key_text)) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "no random bytes");
		return;
	}
	key_hash(&ctx->key, hash);
	/* The reply is complete before the write, so that the write records it
	 * (under an idempotency key) in the same statement. */
	int64_t now_us = clock_wall_us();
	char created[40];
	store_ts(now_us, created, sizeof(created));
	Fairpay__V1__Vendor *v = rpc_alloc(call, sizeof(*v));
	fairpay__v1__vendor__init(v);
	v->id = ctx->vendor_id;
	v->name = call->req->create_vendor->name;
	v->created_at_unix_ms = now_us / 1000;
	Fairpay__V1__CreateVendorResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__create_vendor_response__init(r);
	r->vendor = v;
	r->api_key = ctx->key_text;
	r->key_id = ctx->key.id;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR;
	call->resp.create_vendor = r;
	const char *params[] = { ctx->vendor_id, name, ctx->key.id, hash, created };
	idem_write(call,
		   "WITH v AS (INSERT INTO vendors (id, name, created_at) VALUES ($1, $2, $5)"
		   "  RETURNING id),"
		   " k AS (INSERT INTO api_keys (id, vendor_id, role, secret_hash, created_at)"
		   "  SELECT $3, v.id, 'VENDOR', $4, $5 FROM v RETURNING 1)," IDEM_RECORD_CTE(
			   "k", "$6", "$7", "$8", "$9", "$10") " SELECT count(*) FROM k",
		   5, params, create_vendor_done);
}

/* ------------------------------------------------------------ CreateApiKey */

static void create_key_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	vendor_ctx *ctx = call->ctx;
	bool changed = st == DB_OK && PQntuples(res) == 1;
	if (idem_write_failed(call, st, res, changed))
		return;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (!changed) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "vendor_id", "no vendor %s",
			 call->req->create_api_key->vendor_id);
		return;
	}
	log_info(call->conn_id, "created key %s", ctx->key.id);
	rpc_ok(call);
}

void rpc_create_api_key(rpc_call *call)
{
	const Fairpay__V1__CreateApiKeyRequest *in = call->req->create_api_key;
	const char *role;
	if (in->role == FAIRPAY__V1__ROLE__ROLE_ADMIN) {
		role = "ADMIN";
	} else if (in->role == FAIRPAY__V1__ROLE__ROLE_VENDOR) {
		role = "VENDOR";
	} else {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "role",
			 "role must be ROLE_ADMIN or ROLE_VENDOR");
		return;
	}
	bool has_vendor = in->vendor_id[0] != '\0';
	if (!has_vendor && in->role == FAIRPAY__V1__ROLE__ROLE_VENDOR) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "vendor_id",
			 "a VENDOR key needs a vendor_id");
		return;
	}
	if (has_vendor && !text_valid_id(in->vendor_id, "v_")) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "vendor_id",
			 "vendor_id is not a vendor id (v_ and 16 hex digits)");
		return;
	}
	vendor_ctx *ctx = rpc_alloc(call, sizeof(*ctx));
	call->ctx = ctx;
	char hash[KEY_HASH_LEN + 1];
	if (key_generate(&ctx->key, ctx->key_text, sizeof(ctx->key_text)) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "no random bytes");
		return;
	}
	key_hash(&ctx->key, hash);
	/* The reply is known before the write, which records it. */
	Fairpay__V1__CreateApiKeyResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__create_api_key_response__init(r);
	r->key_id = ctx->key.id;
	r->api_key = ctx->key_text;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_CREATE_API_KEY;
	call->resp.create_api_key = r;
	const char *params[] = { ctx->key.id, has_vendor ? in->vendor_id : NULL, role, hash };
	idem_write(call,
		   "WITH k AS (INSERT INTO api_keys (id, vendor_id, role, secret_hash)"
		   "  SELECT $1, $2, $3, $4"
		   "  WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM vendors WHERE id = $2)"
		   "  RETURNING id)," IDEM_RECORD_CTE("k", "$5", "$6", "$7", "$8",
						      "$9") " SELECT id FROM k",
		   4, params, create_key_done);
}

/* ------------------------------------------------------------ RevokeApiKey */

static void revoke_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	const char *key_id = call->req->revoke_api_key->key_id;
	bool changed = st == DB_OK && PQntuples(res) == 1;
	if (idem_write_failed(call, st, res, changed))
		return;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (!changed) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "key_id", "no API key %s", key_id);
		return;
	}
	/* Connections of this server stop at once; other servers notice
	 * within --revocation-poll-ms. */
	srv_revoke_key(call->srv, key_id);
	log_info(call->conn_id, "revoked key %s", key_id);
	rpc_ok(call);
}

/* True when id is 16 lower-case hex digits: checked with the key parser on a
 * key built around it with a dummy secret, so there is one definition. */
static bool key_id_valid(const char *id)
{
	key_parts probe;
	char text[KEY_TEXT_LEN + 1];
	snprintf(text, sizeof(text), "fp_%.16s_%064d", id, 0);
	return strlen(id) == KEY_ID_LEN && key_parse(text, strlen(text), &probe) == 0;
}

void rpc_revoke_api_key(rpc_call *call)
{
	const char *key_id = call->req->revoke_api_key->key_id;
	if (!key_id_valid(key_id)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "key_id",
			 "key_id must be 16 lower-case hex digits");
		return;
	}
	Fairpay__V1__RevokeApiKeyResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__revoke_api_key_response__init(r);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_REVOKE_API_KEY;
	call->resp.revoke_api_key = r;
	const char *params[] = { key_id };
	/* Revoking twice is not an error: the first revocation time stays. */
	idem_write(
		call,
		"WITH k AS (UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())"
		"  WHERE id = $1 RETURNING id)," IDEM_RECORD_CTE("k", "$2", "$3", "$4", "$5", "$6")
		/* Other servers and workers revoke at once too. */
		" SELECT id, pg_notify('" CACHE_CHANNEL "', json_build_array('k/' || id)::text)"
		" FROM k",
		1, params, revoke_done);
}

/* ------------------------------------------------------------ RegisterClientCert */

static void register_cert_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	bool changed = st == DB_OK && PQntuples(res) == 1;
	if (idem_write_failed(call, st, res, changed))
		return;
	if (st == DB_ERROR && strcmp(db_sqlstate(res), "23505") == 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__ALREADY_EXISTS, "cert_sha256",
			 "this certificate is registered on another key");
		return;
	}
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (!changed) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "key_id", "no API key %s",
			 call->req->register_client_cert->key_id);
		return;
	}
	log_info(call->conn_id, "client certificate %s for key %s",
		 ((char *)call->ctx)[0] ? "registered" : "removed",
		 call->req->register_client_cert->key_id);
	rpc_ok(call);
}

void rpc_register_client_cert(rpc_call *call)
{
	const Fairpay__V1__RegisterClientCertRequest *in = call->req->register_client_cert;
	if (!key_id_valid(in->key_id)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "key_id",
			 "key_id must be 16 lower-case hex digits");
		return;
	}
	size_t len = strlen(in->cert_sha256);
	char *fp = rpc_alloc(call, 65);
	bool ok = len == 0 || len == 64;
	for (size_t i = 0; ok && i < len; i++) {
		char ch = in->cert_sha256[i];
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
		fp[i] = ch;
	}
	if (!ok) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "cert_sha256",
			 "cert_sha256 must be the 64 hex digits of a SHA-256, or empty");
		return;
	}
	call->ctx = fp;
	Fairpay__V1__RegisterClientCertResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__register_client_cert_response__init(r);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_REGISTER_CLIENT_CERT;
	call->resp.register_client_cert = r;
	const char *params[] = { in->key_id, len ? fp : NULL };
	idem_write(call,
		   "WITH k AS (UPDATE api_keys SET cert_sha256 = $2 WHERE id = $1 RETURNING "
		   "id)," IDEM_RECORD_CTE("k", "$3", "$4", "$5", "$6", "$7") " SELECT id FROM k",
		   2, params, register_cert_done);
}

/* ------------------------------------------------------------ ListVendors */

static void list_vendors_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	bool more = false;
	unsigned n = rpc_page_size(call->req->list_vendors->limit, PQntuples(res), &more);
	Fairpay__V1__ListVendorsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_vendors_response__init(r);
	r->vendors = rpc_alloc(call, (n ? n : 1) * sizeof(*r->vendors));
	size_t used = 0;
	for (unsigned i = 0; i < n; i++) {
		Fairpay__V1__Vendor *v = rpc_alloc(call, sizeof(*v));
		fairpay__v1__vendor__init(v);
		v->id = rpc_strdup(call, db_get_str(res, (int)i, 0));
		v->name = rpc_strdup(call, db_get_str(res, (int)i, 1));
		v->created_at_unix_ms = db_get_i64(res, (int)i, 2);
		r->vendors[i] = v;
		if (!rpc_page_fits(call, &used, fairpay__v1__vendor__get_packed_size(v))) {
			n = i; /* the rest on the next page */
			more = true;
		}
	}
	r->n_vendors = n;
	/* One row past the page says there is another page. */
	r->next_page_token = more ? r->vendors[n - 1]->id : "";
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_VENDORS;
	call->resp.list_vendors = r;
	rpc_ok(call);
}

void rpc_list_vendors(rpc_call *call)
{
	const Fairpay__V1__ListVendorsRequest *in = call->req->list_vendors;
	if (in->page_token[0] != '\0' && !text_valid_id(in->page_token, "v_")) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "page_token",
			 "page_token is not one this server returned");
		return;
	}
	char limit[16];
	rpc_page_query_limit(in->limit, limit, sizeof(limit));
	rpc_reserve_page(call, in->limit);
	const char *params[] = { in->page_token, limit };
	rpc_query(call,
		  "SELECT id, name, (extract(epoch FROM created_at) * 1000)::bigint"
		  " FROM vendors WHERE id > $1 ORDER BY id LIMIT $2",
		  2, params, list_vendors_done);
}
