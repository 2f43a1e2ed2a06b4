/* Idempotency records around mutating calls (see idem.h). */
#include "idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"

/* Hash the call's name and its packed fields: a repeat must be the same
 * call with the same fields, whatever its request id. */
static int request_hash(rpc_call *call, char out[65])
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&fairpay__v1__request__descriptor, (unsigned)call->req->call_case);
	if (f == NULL)
		return -1;
	const ProtobufCMessage *msg = *(ProtobufCMessage *const *)((const char *)call->req + f->offset);
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
	unsigned char *bytes = PQunescapeBytea((const unsigned char *)db_get_str(res, 0, 3), &len);
	Fairpay__V1__Response *stored =
		bytes ? fairpay__v1__response__unpack(NULL, len, bytes) : NULL;
	PQfreemem(bytes);
	if (stored == NULL) {
		log_error(call->conn_id, "idempotency record for key %s does not decode",
			  call->req->idempotency_key);
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	stored->id = call->req->id;
	stored->replayed = true;
	conn_send_response(call->conn, stored);
	fairpay__v1__response__free_unpacked(stored, NULL);
	rpc_release(call);
}

static void begin_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (PQntuples(res) == 0) {
		/* Another transaction inserted the key after our snapshot:
		 * it is still running. */
		rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, "idempotency_key",
			 "a request with this idempotency key is still in flight");
		return;
	}
	const char *state = db_get_str(res, 0, 0);
	if (strcmp(state, "NEW") == 0) {
		call->idem_running = true;
		call->route->handler(call);
		return;
	}
	const char *hash = call->ctx;
	if (strcmp(db_get_str(res, 0, 1), call->route->name) != 0 ||
	    strcmp(db_get_str(res, 0, 2), hash) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "idempotency_key",
			 "this idempotency key was used for a different request");
		return;
	}
	if (strcmp(state, "DONE") != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, "idempotency_key",
			 "a request with this idempotency key is still in flight");
		return;
	}
	replay(call, res);
}

void idem_begin(rpc_call *call)
{
	char *hash = rpc_alloc(call, 65);
	if (request_hash(call, hash) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (hash)");
		return;
	}
	const char *params[] = {scope(call), call->req->idempotency_key, call->route->name, hash};
	/* Handlers keep their own state in call->ctx: the hash is only
	 * needed until the handler starts. */
	call->ctx = hash;
	/* A record past its 24 hours, or one left IN_FLIGHT by a server that
	 * died a minute ago, is taken over as if new. */
	rpc_query(call,
		  "WITH ins AS (INSERT INTO idempotency AS i (vendor_id, key, call, request_hash)"
		  " VALUES ($1, $2, $3, $4)"
		  " ON CONFLICT (vendor_id, key) DO UPDATE SET call = EXCLUDED.call,"
		  " request_hash = EXCLUDED.request_hash, state = 'IN_FLIGHT', response = NULL,"
		  " created_at = now(), expires_at = now() + interval '24 hours'"
		  " WHERE i.expires_at < now() OR (i.state = 'IN_FLIGHT'"
		  " AND i.created_at < now() - interval '60 seconds'"
		  " AND i.call = EXCLUDED.call AND i.request_hash = EXCLUDED.request_hash)"
		  " RETURNING 1)"
		  " SELECT 'NEW', '', '', NULL::bytea FROM ins"
		  " UNION ALL"
		  " SELECT state, call, request_hash, response FROM idempotency"
		  " WHERE vendor_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM ins)",
		  4, params, begin_done);
}

static void finish_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK)
		log_warn(call->conn_id, "could not record the reply for idempotency key %s",
			 call->req->idempotency_key);
	rpc_send(call);
}

void idem_finish(rpc_call *call)
{
	call->idem_running = false;
	int code = (int)call->status.code;
	if (code == FAIRPAY__V1__CODE__UNAVAILABLE || code == FAIRPAY__V1__CODE__INTERNAL ||
	    code == FAIRPAY__V1__CODE__ABORTED) {
		const char *params[] = {scope(call), call->req->idempotency_key};
		if (db_query(call->srv->db,
			     "DELETE FROM idempotency WHERE vendor_id = $1 AND key = $2"
			     " AND state = 'IN_FLIGHT'",
			     2, params, finish_done, call) != 0)
			rpc_send(call);
		return;
	}
	/* A new API key is shown once: the record keeps everything of the
	 * reply but the secret, so a replay names what was created and a
	 * secret never rests in the database in the clear. */
	char **secret = NULL;
	if (call->resp.result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR)
		secret = &call->resp.create_vendor->api_key;
	else if (call->resp.result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_API_KEY)
		secret = &call->resp.create_api_key->api_key;
	char *kept = secret ? *secret : NULL;
	if (secret)
		*secret = "";
	size_t len = protobuf_c_message_get_packed_size(&call->resp.base);
	uint8_t *buf = rpc_alloc(call, len + 1);
	protobuf_c_message_pack(&call->resp.base, buf);
	if (secret)
		*secret = kept;
	/* bytea in hex input form. */
	char *hex = rpc_alloc(call, 2 * len + 3);
	memcpy(hex, "\\x", 2);
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 + 2 * i, 3, "%02x", buf[i]);
	const char *params[] = {scope(call), call->req->idempotency_key, hex};
	if (db_query(call->srv->db,
		     "UPDATE idempotency SET state = 'DONE', response = $3::bytea"
		     " WHERE vendor_id = $1 AND key = $2",
		     3, params, finish_done, call) != 0)
		rpc_send(call);
}
