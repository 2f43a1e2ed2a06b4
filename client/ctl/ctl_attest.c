/* fairpayctl's attestation commands (see ctl_attest.h). */
#include "ctl_attest.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest.h"
#include "ctl_db.h"
#include "ctl_enum.h"
#include "ctl_out.h"
#include "ctl_remote.h"
#include "limit.h"

int ctl_attest_bytes(const char *text, const char *file, uint8_t *buf, size_t cap, size_t *len)
{
	/* Room for the text of cap bytes. */
	size_t text_cap = attest_b64url_len(cap) + 64;
	char *read = NULL;
	int rc = CTL_EXIT_USAGE;
	if (file != NULL) {
		FILE *f = fopen(file, "rb");
		if (f == NULL) {
			fprintf(stderr, "error: cannot open %s\n", file);
			return CTL_EXIT_USAGE;
		}
		read = malloc(text_cap + 1);
		size_t n = read ? fread(read, 1, text_cap, f) : 0;
		fclose(f);
		if (read == NULL)
			goto done;
		/* The raw bytes, unless the file holds the text. */
		read[n] = '\0';
		if (strlen(read) != n || attest_b64url_decode(read, buf, cap, len) != 0) {
			if (n > cap) {
				fprintf(stderr, "error: %s is larger than an attestation\n", file);
				goto done;
			}
			memcpy(buf, read, n);
			*len = n;
		}
		rc = CTL_EXIT_OK;
		goto done;
	}
	if (attest_b64url_decode(text, buf, cap, len) != 0) {
		fprintf(stderr,
			"error: the attestation is not base64url text of at most %zu bytes\n", cap);
		goto done;
	}
	rc = CTL_EXIT_OK;
done:
	free(read);
	return rc;
}

static void print_claims(const Fairpay__V1__AttestationClaims *c)
{
	char nb[CTL_ENUM_BUF], tb[CTL_OUT_TIME_LEN], num[32];
	ctl_out_field(stdout, "issuer_vendor_id", c->issuer_vendor_id);
	ctl_out_field(stdout, "issuer_name", c->issuer_name);
	ctl_out_field(stdout, "key_id", c->key_id);
	ctl_out_field(stdout, "subject", c->subject);
	snprintf(num, sizeof(num), "%" PRId32, c->score_bp);
	ctl_out_field(stdout, "score_bp", num);
	ctl_out_field(stdout, "tier", ctl_enum_name(&ctl_enum_tier, (int)c->tier, nb));
	snprintf(num, sizeof(num), "%" PRId32, c->payments);
	ctl_out_field(stdout, "payments", num);
	snprintf(num, sizeof(num), "%" PRId32, c->defaults);
	ctl_out_field(stdout, "defaults", num);
	snprintf(num, sizeof(num), "%" PRId32, c->open_defaults);
	ctl_out_field(stdout, "open_defaults", num);
	ctl_out_field(stdout, "issued_at", ctl_out_time(c->issued_at_unix_ms, tb));
	ctl_out_field(stdout, "expires_at", ctl_out_time(c->expires_at_unix_ms, tb));
}

static void claims_json(const Fairpay__V1__AttestationClaims *c)
{
	char nb[CTL_ENUM_BUF];
	fputs("{\"issuer_vendor_id\":", stdout);
	ctl_out_json_string(stdout, c->issuer_vendor_id);
	fputs(",\"issuer_name\":", stdout);
	ctl_out_json_string(stdout, c->issuer_name);
	fputs(",\"key_id\":", stdout);
	ctl_out_json_string(stdout, c->key_id);
	fputs(",\"subject\":", stdout);
	ctl_out_json_string(stdout, c->subject);
	printf(",\"score_bp\":%" PRId32 ",\"tier\":", c->score_bp);
	ctl_out_json_string(stdout, ctl_enum_name(&ctl_enum_tier, (int)c->tier, nb));
	printf(",\"payments\":%" PRId32 ",\"defaults\":%" PRId32 ",\"open_defaults\":%" PRId32
	       ",\"issued_at_unix_ms\":%" PRId64 ",\"expires_at_unix_ms\":%" PRId64 "}",
	       c->payments, c->defaults, c->open_defaults, c->issued_at_unix_ms,
	       c->expires_at_unix_ms);
}

int ctl_attest_issue(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__IssueAttestationRequest m = FAIRPAY__V1__ISSUE_ATTESTATION_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	char *text = NULL;
	m.customer_id = (char *)a->customer_id;
	m.subject = (char *)a->subject;
	m.ttl_seconds = a->ttl.set ? a->ttl.v : 0;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_ISSUE_ATTESTATION;
	req.issue_attestation = &m;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_ISSUE_ATTESTATION, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__IssueAttestationResponse *r = resp->issue_attestation;
	if (a->out_file != NULL) {
		FILE *f = fopen(a->out_file, "wb");
		bool ok = f != NULL && fwrite(r->attestation.data, 1, r->attestation.len, f) ==
					       r->attestation.len;
		if (f != NULL && fclose(f) != 0)
			ok = false;
		if (!ok) {
			fprintf(stderr, "error: cannot write %s\n", a->out_file);
			rc = CTL_EXIT_REFUSED;
			goto done;
		}
	}
	text = malloc(attest_b64url_len(r->attestation.len) + 1);
	if (text == NULL) {
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	attest_b64url_encode(r->attestation.data, r->attestation.len, text);
	if (a->json) {
		fputs("{\"attestation\":", stdout);
		ctl_out_json_string(stdout, text);
		fputs(",\"claims\":", stdout);
		claims_json(r->claims);
		printf(",\"replayed\":%s}\n", resp->replayed ? "true" : "false");
		goto done;
	}
	print_claims(r->claims);
	/* Last, on a line of its own, for scripts. */
	printf("%s\n", text);
done:
	free(text);
	fp_response_free(resp);
	return rc;
}

int ctl_attest_verify(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__VerifyAttestationRequest m = FAIRPAY__V1__VERIFY_ATTESTATION_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	uint8_t buf[LIMIT_ATTESTATION_BYTES];
	size_t len = 0;
	int rc = ctl_attest_bytes(a->attestation, a->attestation_file, buf, sizeof(buf), &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	m.attestation.data = buf;
	m.attestation.len = len;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_VERIFY_ATTESTATION;
	req.verify_attestation = &m;
	rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_VERIFY_ATTESTATION, &resp);
	if (rc == CTL_EXIT_OK) {
		if (a->json) {
			fputs("{\"claims\":", stdout);
			claims_json(resp->verify_attestation->claims);
			fputs("}\n", stdout);
		} else {
			print_claims(resp->verify_attestation->claims);
		}
	}
	fp_response_free(resp);
	return rc;
}

int ctl_attest_verify_offline(const ctl_args *a)
{
	uint8_t buf[LIMIT_ATTESTATION_BYTES], pub[ATTEST_KEY_BYTES];
	size_t len = 0;
	attest_parts parts = { 0 };
	if (attest_unhex(a->public_key, pub, sizeof(pub)) != 0) {
		fprintf(stderr, "error: --public-key needs the Ed25519 key as 64 hex digits\n");
		return CTL_EXIT_USAGE;
	}
	int rc = ctl_attest_bytes(a->attestation, a->attestation_file, buf, sizeof(buf), &len);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = CTL_EXIT_REFUSED;
	if (attest_decode(buf, len, &parts) != 0) {
		fprintf(stderr, "error: these bytes are not an attestation\n");
		goto done;
	}
	if (!attest_parts_verify(&parts, pub)) {
		fprintf(stderr, "error: the signature does not verify with this public key\n");
		goto done;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (parts.claims->expires_at_unix_ms <= now_ms) {
		fprintf(stderr, "error: the attestation has expired\n");
		goto done;
	}
	if (a->json) {
		fputs("{\"claims\":", stdout);
		claims_json(parts.claims);
		fputs("}\n", stdout);
	} else {
		print_claims(parts.claims);
	}
	rc = CTL_EXIT_OK;
done:
	attest_parts_free(&parts);
	return rc;
}

int ctl_attest_rotate_key(const ctl_args *a)
{
	const char *params[] = { a->vendor_id };
	int rc = CTL_EXIT_REFUSED;
	PGconn *conn = ctl_db_connect(a);
	PGresult *res = NULL;
	if (conn == NULL)
		return CTL_EXIT_CONNECT;
	/* The sealed private half goes with the retirement; the public key
	 * stays, so that what it signed keeps verifying until it expires. */
	res = PQexecParams(
		conn,
		"UPDATE attestation_keys SET retired_at = now(), private_key_sealed = NULL"
		" WHERE vendor_id = $1 AND retired_at IS NULL RETURNING key_id",
		1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_db_report("cannot retire the key", res, conn);
		goto done;
	}
	if (PQntuples(res) == 0) {
		fprintf(stderr,
			"vendor %s has no current attestation key (the server makes one "
			"when it next signs)\n",
			a->vendor_id);
		rc = CTL_EXIT_OK;
		goto done;
	}
	if (a->json) {
		fputs("{\"retired_key_id\":", stdout);
		ctl_out_json_string(stdout, PQgetvalue(res, 0, 0));
		fputs("}\n", stdout);
	} else {
		printf("retired key %s of vendor %s; the next attestation is signed with a new "
		       "key\n",
		       PQgetvalue(res, 0, 0), a->vendor_id);
	}
	rc = CTL_EXIT_OK;
done:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int ctl_attest_issuer_key(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetIssuerKeyRequest m = FAIRPAY__V1__GET_ISSUER_KEY_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	char hex[2 * ATTEST_KEY_BYTES + 1];
	m.vendor_id = (char *)(a->vendor_id != NULL ? a->vendor_id : "");
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_ISSUER_KEY;
	req.get_issuer_key = &m;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_GET_ISSUER_KEY, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__GetIssuerKeyResponse *r = resp->get_issuer_key;
	if (r->public_key.len != ATTEST_KEY_BYTES) {
		fprintf(stderr, "error: the server answered a key of %zu bytes\n",
			r->public_key.len);
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	attest_hex(r->public_key.data, r->public_key.len, hex);
	if (a->json) {
		fputs("{\"vendor_id\":", stdout);
		ctl_out_json_string(stdout, r->vendor_id);
		fputs(",\"vendor_name\":", stdout);
		ctl_out_json_string(stdout, r->vendor_name);
		fputs(",\"key_id\":", stdout);
		ctl_out_json_string(stdout, r->key_id);
		fputs(",\"public_key\":", stdout);
		ctl_out_json_string(stdout, hex);
		fputs("}\n", stdout);
		goto done;
	}
	ctl_out_field(stdout, "vendor_id", r->vendor_id);
	ctl_out_field(stdout, "vendor_name", r->vendor_name);
	ctl_out_field(stdout, "key_id", r->key_id);
	ctl_out_field(stdout, "public_key", hex);
done:
	fp_response_free(resp);
	return rc;
}
