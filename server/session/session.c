/* The session layer: what the transport hands up, from frames to calls and
 * from replies to frames (see session.h). */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dispatch.h"
#include "log.h"
#include "reply.h"

/* An id-0 error reply, then close once it is written. */
static void session_error(conn *c, int code, const char *message)
{
	Fairpay__V1__Status st = FAIRPAY__V1__STATUS__INIT;
	Fairpay__V1__Response resp = FAIRPAY__V1__RESPONSE__INIT;
	st.code = code;
	st.message = (char *)message;
	resp.id = 0;
	resp.status = &st;
	reply_send(c, &resp);
	conn_close_after_flush(c);
}

static bool session_frame(conn *c, const uint8_t *body, uint32_t len)
{
	Fairpay__V1__Request *req = fairpay__v1__request__unpack(NULL, len, body);
	if (req == NULL) {
		conn_protocol_error(c, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				    "frame does not decode as a fairpay.v1.Request");
		return false;
	}
	if (req->call_case == FAIRPAY__V1__REQUEST__CALL__NOT_SET) {
		fairpay__v1__request__free_unpacked(req, NULL);
		conn_protocol_error(c, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				    "request names no call (unknown or missing)");
		return false;
	}
	dispatch_request(c, req, body, len);
	return true;
}

/* A client certificate registered on a key authenticates the connection. */
static void cert_auth_done(void *arg, db_status st, PGresult *res)
{
	conn *c = arg;
	c->auth_pending = false;
	if (conn_alive(c)) {
		if (st == DB_OK && PQntuples(res) == 1) {
			conn_role role = strcmp(db_get_str(res, 0, 2), "ADMIN") == 0
						 ? ROLE_ADMIN_KEY
						 : ROLE_VENDOR_KEY;
			if (conn_set_identity(c, role, db_get_str(res, 0, 0),
					      db_get_str(res, 0, 1)))
				log_info(c->id, "authenticated key %s by client certificate",
					 c->key_id);
			else
				log_info(c->id,
					 "client certificate of key %s not used: the key has "
					 "--max-connections-per-key connections",
					 db_get_str(res, 0, 0));
		} else if (st == DB_OK) {
			log_info(c->id, "client certificate of %s is not registered on a key",
				 c->peer);
		} else {
			log_warn(c->id,
				 "cannot look up the client certificate: database unavailable");
		}
		event_active(c->resume, EV_TIMEOUT, 0);
	}
	conn_unref(c);
}

static void cert_auth_start(conn *c, SSL *ssl)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
		return;
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	const char *params[] = { hex };
	/* Requests wait behind the lookup, as behind an Authenticate. */
	conn_ref(c);
	c->auth_pending = true;
	/* Before authentication: the unauthenticated clients' share. */
	if (db_query_for(c->srv->db, "-",
			 "SELECT id, coalesce(vendor_id, ''), role FROM api_keys"
			 " WHERE cert_sha256 = $1 AND revoked_at IS NULL",
			 1, params, cert_auth_done, c) != 0) {
		c->auth_pending = false;
		conn_unref(c);
	}
}

static void session_open(conn *c)
{
	if (c->srv->cfg->client_ca_file != NULL)
		cert_auth_start(c, conn_ssl(c));
}

const conn_handler session_handler = {
	.on_open = session_open,
	.on_frame = session_frame,
	.on_error = session_error,
};
