/* Vendor calls of signed reputation attestations (PROTOCOL.md,
 * "Attestations"): IssueAttestation, VerifyAttestation, GetIssuerKey, and
 * the check CreateOffer makes of an attestation before rule 14 seeds.
 *
 * A vendor's signing key is made here when first needed and stored sealed
 * under --attestation-key-file (attest.h); the sealed private half is read
 * only to sign and opened only in this process's memory, which is cleansed
 * after. No reply, log line or event carries it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "attest.h"
#include "clock.h"
#include "idem.h"
#include "limit.h"
#include "log.h"
#include "names.h"
#include "rpc.h"
#include "store.h"
#include "text.h"

/* The current key of a vendor, with the vendor's name, whether or not a key
 * exists yet: $1 vendor. */
static const char sql_current_key[] =
	"SELECT v.name, coalesce(k.key_id, ''), coalesce(encode(k.public_key, 'hex'), ''),"
	" coalesce(encode(k.private_key_sealed, 'hex'), '')"
	" FROM vendors v LEFT JOIN attestation_keys k ON k.vendor_id = v.id"
	" AND k.retired_at IS NULL WHERE v.id = $1";
enum {
	KEY_NAME,
	KEY_ID,
	KEY_PUBLIC,
	KEY_SEALED
};

/* A new current key, unless another server made one first: $1 vendor, $2
 * key id, $3 public key, $4 sealed private key (hex). */
static const char sql_insert_key[] =
	"INSERT INTO attestation_keys (vendor_id, key_id, public_key, private_key_sealed)"
	" VALUES ($1, $2, decode($3, 'hex'), decode($4, 'hex')) ON CONFLICT DO NOTHING";

/* Any key of an issuer, current or retired, by its id: $1 the issuer's
 * vendor id, $2 key id. */
static const char sql_key_by_id[] = "SELECT encode(k.public_key, 'hex') FROM attestation_keys k"
				    " WHERE k.vendor_id = $1 AND k.key_id = $2";

/* Record an IssueAttestation's reply under its idempotency key. */
static const char sql_record[] =
	"WITH w AS (SELECT 1)," IDEM_RECORD_CTE("w", "$1", "$2", "$3", "$4", "$5") " SELECT 1";

static Fairpay__V1__AttestationClaims *claims_copy(rpc_call *call,
						   const Fairpay__V1__AttestationClaims *in)
{
	Fairpay__V1__AttestationClaims *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__attestation_claims__init(m);
	m->issuer_vendor_id = rpc_strdup(call, in->issuer_vendor_id);
	m->issuer_name = rpc_strdup(call, in->issuer_name);
	m->key_id = rpc_strdup(call, in->key_id);
	m->subject = rpc_strdup(call, in->subject);
	m->score_bp = in->score_bp;
	m->tier = in->tier;
	m->payments = in->payments;
	m->defaults = in->defaults;
	m->open_defaults = in->open_defaults;
	m->issued_at_unix_ms = in->issued_at_unix_ms;
	m->expires_at_unix_ms = in->expires_at_unix_ms;
	return m;
}

/* ------------------------------------------------------------ verifying */

typedef struct verify_ctx {
	rpc_call *call;
	ProtobufCBinaryData bytes;
	const char *field;
	const char *subject; /* NULL: any */
	rpc_attest_cb cb;
} verify_ctx;

static void verify_key_done(void *arg, db_status st, PGresult *res)
{
	verify_ctx *v = arg;
	rpc_call *call = v->call;
	attest_parts parts;
	uint8_t pub[ATTEST_KEY_BYTES];
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (attest_decode(v->bytes.data, v->bytes.len, &parts) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	const Fairpay__V1__AttestationClaims *c = parts.claims;
	const char *why = NULL;
	/* The key is looked up under the issuer the claims name, so a key of
	 * another vendor is not found: it cannot vouch for them. */
	if (PQntuples(res) != 1 || attest_unhex(db_get_str(res, 0, 0), pub, sizeof(pub)) != 0)
		why = "it was signed by a key this server does not know for its issuer";
	else if (!attest_parts_verify(&parts, pub))
		why = "its signature does not verify";
	else if (c->expires_at_unix_ms <= clock_wall_ms())
		why = "it has expired";
	else if (v->subject != NULL && strcmp(v->subject, c->subject) != 0)
		why = "its subject is not attestation_subject";
	if (why != NULL) {
		attest_parts_free(&parts);
		rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, v->field,
			 "the attestation is not accepted: %s", why);
		return;
	}
	Fairpay__V1__AttestationClaims *copy = claims_copy(call, c);
	attest_parts_free(&parts);
	v->cb(call, copy);
}

void rpc_attest_verify(rpc_call *call, ProtobufCBinaryData bytes, const char *field,
		       const char *subject, rpc_attest_cb cb)
{
	attest_parts parts;
	if (bytes.len > LIMIT_ATTESTATION_BYTES ||
	    attest_decode(bytes.data, bytes.len, &parts) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, field,
			 "%s is not a serialized SignedAttestation of at most %d bytes", field,
			 LIMIT_ATTESTATION_BYTES);
		return;
	}
	/* Not one of the ids this server gives its keys: no key of ours. */
	if (!text_valid_id(parts.claims->key_id, "ak_")) {
		attest_parts_free(&parts);
		rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, field,
			 "the attestation is not accepted: it was signed by a key this server "
			 "does not know");
		return;
	}
	verify_ctx *v = rpc_alloc(call, sizeof(*v));
	*v = (verify_ctx){ call, bytes, field, subject, cb };
	const char *params[] = { rpc_strdup(call, parts.claims->issuer_vendor_id),
				 rpc_strdup(call, parts.claims->key_id) };
	attest_parts_free(&parts);
	if (db_query_for(call->srv->db, rpc_tenant(call), sql_key_by_id, 2, params, verify_key_done,
			 v) != 0)
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (out of memory)");
}

static void verify_done(rpc_call *call, const Fairpay__V1__AttestationClaims *claims)
{
	Fairpay__V1__VerifyAttestationResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__verify_attestation_response__init(r);
	r->claims = (Fairpay__V1__AttestationClaims *)claims;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_VERIFY_ATTESTATION;
	call->resp.verify_attestation = r;
	rpc_ok(call);
}

void rpc_verify_attestation(rpc_call *call)
{
	rpc_attest_verify(call, call->req->verify_attestation->attestation, "attestation", NULL,
			  verify_done);
}

/* ------------------------------------------------------------ keys */

/* Make the caller's first (or next) signing key, sealed under the key file,
 * unless another server makes one first; done runs when the insert is
 * answered (the caller reads the current key again). *attempts bounds the
 * races lost. */
static void new_key(rpc_call *call, int *attempts, db_cb done)
{
	uint8_t pub[ATTEST_KEY_BYTES], priv[ATTEST_KEY_BYTES], sealed[ATTEST_SEALED_BYTES];
	char pub_hex[2 * ATTEST_KEY_BYTES + 1], sealed_hex[2 * ATTEST_SEALED_BYTES + 1];
	char key_id[ATTEST_KEY_ID_LEN + 1];
	rpc_new_id(key_id, sizeof(key_id), "ak_");
	int rc = attest_keygen(pub, priv);
	if (rc == 0)
		rc = attest_seal(call->srv->attest_kek, call->vendor_id, key_id, priv, sealed);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (rc != 0 || ++*attempts > 3) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (key)");
		return;
	}
	attest_hex(pub, sizeof(pub), pub_hex);
	attest_hex(sealed, sizeof(sealed), sealed_hex);
	const char *params[] = { call->vendor_id, key_id, pub_hex, sealed_hex };
	if (rpc_query(call, sql_insert_key, 4, params, done) == 0)
		log_info(call->conn_id, "vendor %s: new attestation key %s", call->vendor_id,
			 key_id);
}

/* ------------------------------------------------------------ GetIssuerKey */

typedef struct issuer_ctx {
	uint8_t pub[ATTEST_KEY_BYTES];
	int attempts;
} issuer_ctx;

static void issuer_key_read(rpc_call *call);

static void issuer_key_inserted(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	issuer_key_read(call);
}

static void issuer_key_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	issuer_ctx *x = call->ctx;
	uint8_t *pub = x->pub;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	const char *vendor = call->req->get_issuer_key->vendor_id;
	if (vendor[0] == '\0')
		vendor = call->vendor_id;
	/* The caller's own key is made when first asked for, so that a vendor
	 * can publish it before it signs anything. */
	if (PQntuples(res) == 1 && db_get_str(res, 0, KEY_ID)[0] == '\0' &&
	    strcmp(vendor, call->vendor_id) == 0 && call->srv->attest_kek_set) {
		new_key(call, &x->attempts, issuer_key_inserted);
		return;
	}
	if (PQntuples(res) != 1 || db_get_str(res, 0, KEY_ID)[0] == '\0' ||
	    attest_unhex(db_get_str(res, 0, KEY_PUBLIC), pub, ATTEST_KEY_BYTES) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "vendor_id",
			 "no attestation key for vendor %s", vendor);
		return;
	}
	Fairpay__V1__GetIssuerKeyResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__get_issuer_key_response__init(r);
	r->vendor_id = rpc_strdup(call, vendor);
	r->vendor_name = rpc_strdup(call, db_get_str(res, 0, KEY_NAME));
	r->key_id = rpc_strdup(call, db_get_str(res, 0, KEY_ID));
	r->public_key.data = pub;
	r->public_key.len = ATTEST_KEY_BYTES;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_ISSUER_KEY;
	call->resp.get_issuer_key = r;
	rpc_ok(call);
}

void rpc_get_issuer_key(rpc_call *call)
{
	const char *vendor = call->req->get_issuer_key->vendor_id;
	/* An id we never issued cannot be a vendor ("" is the caller). */
	if (vendor[0] != '\0' && !text_valid_id(vendor, "v_")) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "vendor_id",
			 "no attestation key for that vendor");
		return;
	}
	call->ctx = rpc_alloc(call, sizeof(issuer_ctx));
	issuer_key_read(call);
}

static void issuer_key_read(rpc_call *call)
{
	const char *vendor = call->req->get_issuer_key->vendor_id;
	const char *params[] = { vendor[0] != '\0' ? vendor : call->vendor_id };
	rpc_query(call, sql_current_key, 1, params, issuer_key_done);
}

/* ------------------------------------------------------------ IssueAttestation */

typedef struct issue_ctx {
	int attempts; /* key creations raced */
	char vendor_name[LIMIT_NAME_BYTES + 1];
	char key_id[ATTEST_KEY_ID_LEN + 1];
	uint8_t sealed[ATTEST_SEALED_BYTES];
	int64_t ttl_seconds;
} issue_ctx;

static void issue_read_key(rpc_call *call);

static void issue_recorded(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (idem_write_failed(call, st, res, st == DB_OK))
		return;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	rpc_ok(call);
}

/* Sign the customer's reputation as read, and answer. */
static void issue_customer_done(void *arg, db_status status, PGresult *res)
{
	rpc_call *call = arg;
	issue_ctx *x = call->ctx;
	const Fairpay__V1__IssueAttestationRequest *in = call->req->issue_attestation;
	store_state st;
	uint8_t priv[ATTEST_KEY_BYTES], sig[ATTEST_SIG_BYTES];
	if (status != DB_OK) {
		rpc_fail_db(call, status, res);
		return;
	}
	if (store_read_state(res, 0, &st) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	const store_rep *r = &st.rep;
	int64_t now = clock_wall_ms();
	Fairpay__V1__AttestationClaims *c = rpc_alloc(call, sizeof(*c));
	fairpay__v1__attestation_claims__init(c);
	c->issuer_vendor_id = call->vendor_id;
	c->issuer_name = x->vendor_name;
	c->key_id = x->key_id;
	c->subject = in->subject;
	c->score_bp = r->score_bp;
	c->tier = (Fairpay__V1__Tier)fp_tier_attested(&st.policy, r->score_bp, r->payments,
						      r->attested_payments, r->open_defaults);
	c->payments = r->payments;
	c->defaults = r->defaults;
	c->open_defaults = r->open_defaults;
	c->issued_at_unix_ms = now;
	c->expires_at_unix_ms = now + x->ttl_seconds * 1000;
	store_state_free(&st);
	size_t len = fairpay__v1__attestation_claims__get_packed_size(c);
	uint8_t *claims = rpc_alloc(call, len + 1);
	fairpay__v1__attestation_claims__pack(c, claims);
	int opened = attest_open(call->srv->attest_kek, call->vendor_id, x->key_id, x->sealed,
				 sizeof(x->sealed), priv);
	int signed_ok = opened == 0 ? attest_sign(priv, claims, len, sig) : -1;
	OPENSSL_cleanse(priv, sizeof(priv));
	OPENSSL_cleanse(x->sealed, sizeof(x->sealed));
	if (opened != 0) {
		/* The key file is not the one the key was sealed under. */
		log_error(call->conn_id,
			  "IssueAttestation: key %s of vendor %s does not open with "
			  "--attestation-key-file",
			  x->key_id, call->vendor_id);
		rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, NULL,
			 "this server cannot open the vendor's signing key (another "
			 "--attestation-key-file?)");
		return;
	}
	if (signed_ok != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (signing)");
		return;
	}
	Fairpay__V1__SignedAttestation s = FAIRPAY__V1__SIGNED_ATTESTATION__INIT;
	s.claims.data = claims;
	s.claims.len = len;
	s.signature.data = sig;
	s.signature.len = sizeof(sig);
	size_t out_len = fairpay__v1__signed_attestation__get_packed_size(&s);
	uint8_t *out = rpc_alloc(call, out_len + 1);
	fairpay__v1__signed_attestation__pack(&s, out);
	Fairpay__V1__IssueAttestationResponse *resp = rpc_alloc(call, sizeof(*resp));
	fairpay__v1__issue_attestation_response__init(resp);
	resp->attestation.data = out;
	resp->attestation.len = out_len;
	resp->claims = c;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_ISSUE_ATTESTATION;
	call->resp.issue_attestation = resp;
	log_info(call->conn_id, "vendor %s issued an attestation with key %s", call->vendor_id,
		 x->key_id);
	if (!call->idem_active) {
		rpc_ok(call);
		return;
	}
	/* The same key answers the same attestation again. */
	const char *none[1] = { NULL };
	idem_write(call, sql_record, 0, none, issue_recorded);
}

static void issue_key_inserted(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	/* Read again: this server's key, or the one another server made first. */
	issue_read_key(call);
}

static void issue_key_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	issue_ctx *x = call->ctx;
	if (st != DB_OK || PQntuples(res) != 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	if (db_get_str(res, 0, KEY_ID)[0] == '\0') {
		new_key(call, &x->attempts, issue_key_inserted);
		return;
	}
	snprintf(x->vendor_name, sizeof(x->vendor_name), "%s", db_get_str(res, 0, KEY_NAME));
	snprintf(x->key_id, sizeof(x->key_id), "%s", db_get_str(res, 0, KEY_ID));
	if (attest_unhex(db_get_str(res, 0, KEY_SEALED), x->sealed, sizeof(x->sealed)) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (key)");
		return;
	}
	const char *params[] = { call->vendor_id, call->req->issue_attestation->customer_id, NULL,
				 "f" };
	rpc_query(call, store_sql_load_customer, 4, params, issue_customer_done);
}

static void issue_read_key(rpc_call *call)
{
	const char *params[] = { call->vendor_id };
	rpc_query(call, sql_current_key, 1, params, issue_key_done);
}

void rpc_issue_attestation(rpc_call *call)
{
	const Fairpay__V1__IssueAttestationRequest *in = call->req->issue_attestation;
	if (!text_valid_name(in->customer_id, LIMIT_CUSTOMER_BYTES)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "customer_id",
			 "customer_id must be 1 to %d bytes of UTF-8", LIMIT_CUSTOMER_BYTES);
		return;
	}
	if (!text_valid_name(in->subject, LIMIT_SUBJECT_BYTES)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "subject",
			 "subject must be 1 to %d bytes of UTF-8", LIMIT_SUBJECT_BYTES);
		return;
	}
	int64_t ttl = in->ttl_seconds == 0 ? LIMIT_ATTESTATION_TTL_DEFAULT : in->ttl_seconds;
	if (ttl < LIMIT_ATTESTATION_TTL_MIN || ttl > LIMIT_ATTESTATION_TTL_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "ttl_seconds",
			 "ttl_seconds must be %d to %d (0: %d)", LIMIT_ATTESTATION_TTL_MIN,
			 LIMIT_ATTESTATION_TTL_MAX, LIMIT_ATTESTATION_TTL_DEFAULT);
		return;
	}
	if (!call->srv->attest_kek_set) {
		rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, NULL,
			 "this server signs no attestations: it was started without "
			 "--attestation-key-file");
		return;
	}
	issue_ctx *x = rpc_alloc(call, sizeof(*x));
	x->ttl_seconds = ttl;
	call->ctx = x;
	issue_read_key(call);
}
