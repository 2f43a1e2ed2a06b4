/* fairpayctl's commands against fairpayd (see ctl_admin.h). Each one connects,
 * authenticates, makes one call and prints the result as lines of
 * "name: value" (or a table), or as one JSON object with --json. */
#include "ctl_admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "ctl_cert.h"
#include "ctl_out.h"
#include "ctl_remote.h"

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Check that the server answers. */
int ctl_admin_ping(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	fp_client *c = NULL;
	char when[CTL_OUT_TIME_LEN];

	/* Ping works before authentication: it checks the server, not the key. */
	int rc = ctl_remote_open(a, false, &c);
	if (rc != CTL_EXIT_OK)
		goto done;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	int64_t start = now_us();
	rc = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_PING, &resp);
	int64_t rtt = now_us() - start;
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__PingResponse *p = resp->ping;
	if (a->json) {
		fputs("{\"server_version\":", stdout);
		ctl_out_json_string(stdout, p->server_version);
		printf(",\"server_time_unix_ms\":%" PRId64 ",\"round_trip_us\":%" PRId64
		       ",\"alpn\":",
		       p->server_time_unix_ms, rtt);
		ctl_out_json_string(stdout, fp_client_alpn(c));
		fputs("}\n", stdout);
	} else {
		ctl_out_field(stdout, "server_version", p->server_version);
		ctl_out_field(stdout, "server_time", ctl_out_time(p->server_time_unix_ms, when));
		printf("round_trip_ms: %" PRId64 ".%03" PRId64 "\n", rtt / 1000, rtt % 1000);
		ctl_out_field(stdout, "alpn",
			      fp_client_alpn(c)[0] != '\0' ? fp_client_alpn(c) : "-");
	}
done:
	fp_response_free(resp);
	fp_client_free(c);
	return rc;
}

/* Create a vendor and its first VENDOR key. */
int ctl_admin_vendor_create(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	fp_client *c = NULL;

	int rc = ctl_remote_open(a, true, &c);
	if (rc != CTL_EXIT_OK)
		goto done;
	cv.name = (char *)a->name;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
	req.create_vendor = &cv;
	rc = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__CreateVendorResponse *r = resp->create_vendor;
	Fairpay__V1__Vendor empty = FAIRPAY__V1__VENDOR__INIT;
	const Fairpay__V1__Vendor *v = r->vendor != NULL ? r->vendor : &empty;
	if (a->json) {
		fputs("{\"vendor\":{\"id\":", stdout);
		ctl_out_json_string(stdout, v->id);
		fputs(",\"name\":", stdout);
		ctl_out_json_string(stdout, v->name);
		printf(",\"created_at_unix_ms\":%" PRId64 "},\"key_id\":", v->created_at_unix_ms);
		ctl_out_json_string(stdout, r->key_id);
		fputs(",\"api_key\":", stdout);
		ctl_out_json_string(stdout, r->api_key);
		fputs("}\n", stdout);
	} else {
		ctl_out_field(stdout, "vendor_id", v->id);
		ctl_out_field(stdout, "name", v->name);
		ctl_out_field(stdout, "key_id", r->key_id);
		ctl_out_field(stdout, "api_key", r->api_key);
	}
done:
	fp_response_free(resp);
	fp_client_free(c);
	return rc;
}

static void vendor_json(const Fairpay__V1__Vendor *v)
{
	fputs("{\"id\":", stdout);
	ctl_out_json_string(stdout, v->id);
	fputs(",\"name\":", stdout);
	ctl_out_json_string(stdout, v->name);
	printf(",\"created_at_unix_ms\":%" PRId64 "}", v->created_at_unix_ms);
}

/* Print one page of vendors. */
int ctl_admin_vendor_list(const ctl_args *a)
{
	static const char *const headers[] = { "ID", "NAME", "CREATED" };
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	ctl_table *t = NULL;
	fp_client *c = NULL;

	int rc = ctl_remote_open(a, true, &c);
	if (rc != CTL_EXIT_OK)
		goto done;
	lv.limit = a->limit;
	if (a->page_token != NULL)
		lv.page_token = (char *)a->page_token;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
	req.list_vendors = &lv;
	rc = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_VENDORS, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListVendorsResponse *r = resp->list_vendors;
	const char *next = r->next_page_token != NULL ? r->next_page_token : "";
	if (a->json) {
		fputs("{\"vendors\":[", stdout);
		for (size_t i = 0; i < r->n_vendors; i++) {
			if (i > 0)
				fputc(',', stdout);
			vendor_json(r->vendors[i]);
		}
		fputs("],\"next_page_token\":", stdout);
		ctl_out_json_string(stdout, next);
		fputs("}\n", stdout);
		goto done;
	}
	t = ctl_table_new(3, headers);
	if (t == NULL)
		goto oom;
	for (size_t i = 0; i < r->n_vendors; i++) {
		char when[CTL_OUT_TIME_LEN];
		const Fairpay__V1__Vendor *v = r->vendors[i];
		const char *cells[] = { v->id, v->name, ctl_out_time(v->created_at_unix_ms, when) };
		if (ctl_table_add(t, cells) != 0)
			goto oom;
	}
	ctl_table_print(t, stdout);
	/* stderr, so that stdout stays one clean table for scripts. */
	if (next[0] != '\0')
		ctl_out_field(stderr, "more vendors follow; next page with --page-token", next);
	goto done;
oom:
	fprintf(stderr, "error: out of memory\n");
	rc = CTL_EXIT_REFUSED;
done:
	ctl_table_free(t);
	fp_response_free(resp);
	fp_client_free(c);
	return rc;
}

/* Create an API key. */
int ctl_admin_key_create(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateApiKeyRequest ck = FAIRPAY__V1__CREATE_API_KEY_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	fp_client *c = NULL;

	int rc = ctl_remote_open(a, true, &c);
	if (rc != CTL_EXIT_OK)
		goto done;
	if (a->vendor_id != NULL)
		ck.vendor_id = (char *)a->vendor_id;
	ck.role = a->role == CTL_ROLE_ADMIN ? FAIRPAY__V1__ROLE__ROLE_ADMIN
					    : FAIRPAY__V1__ROLE__ROLE_VENDOR;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY;
	req.create_api_key = &ck;
	rc = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_CREATE_API_KEY, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__CreateApiKeyResponse *r = resp->create_api_key;
	if (a->json) {
		fputs("{\"key_id\":", stdout);
		ctl_out_json_string(stdout, r->key_id);
		fputs(",\"api_key\":", stdout);
		ctl_out_json_string(stdout, r->api_key);
		fputs("}\n", stdout);
	} else {
		ctl_out_field(stdout, "key_id", r->key_id);
		ctl_out_field(stdout, "api_key", r->api_key);
	}
done:
	fp_response_free(resp);
	fp_client_free(c);
	return rc;
}

/* Revoke an API key. */
int ctl_admin_key_revoke(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__RevokeApiKeyRequest rk = FAIRPAY__V1__REVOKE_API_KEY_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	fp_client *c = NULL;

	int rc = ctl_remote_open(a, true, &c);
	if (rc != CTL_EXIT_OK)
		goto done;
	rk.key_id = (char *)a->key_id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_REVOKE_API_KEY;
	req.revoke_api_key = &rk;
	rc = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_REVOKE_API_KEY, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	if (a->json) {
		fputs("{\"key_id\":", stdout);
		ctl_out_json_string(stdout, a->key_id);
		fputs(",\"revoked\":true}\n", stdout);
	} else {
		fputs("revoked key ", stdout);
		ctl_out_text(stdout, a->key_id);
		fputc('\n', stdout);
	}
done:
	fp_response_free(resp);
	fp_client_free(c);
	return rc;
}

/* Register (or remove) the client certificate of an API key. */
int ctl_admin_key_register_cert(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__RegisterClientCertRequest rc = FAIRPAY__V1__REGISTER_CLIENT_CERT_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	fp_client *c = NULL;
	char sha[CTL_CERT_SHA256_HEX + 1];
	char err[512];
	int rc_exit;

	/* The file is read before connecting: a wrong path is the caller's
	 * mistake, reported without touching the server. */
	if (a->cert_pem != NULL) {
		if (ctl_cert_fingerprint(a->cert_pem, sha, err, sizeof(err)) != 0) {
			fprintf(stderr, "error: %s\n", err);
			rc_exit = CTL_EXIT_USAGE;
			goto done;
		}
	} else {
		snprintf(sha, sizeof(sha), "%s", a->fingerprint);
	}
	rc_exit = ctl_remote_open(a, true, &c);
	if (rc_exit != CTL_EXIT_OK)
		goto done;
	rc.key_id = (char *)a->key_id;
	rc.cert_sha256 = sha;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_REGISTER_CLIENT_CERT;
	req.register_client_cert = &rc;
	rc_exit = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_REGISTER_CLIENT_CERT,
				  &resp);
	if (rc_exit != CTL_EXIT_OK)
		goto done;
	if (a->json) {
		fputs("{\"key_id\":", stdout);
		ctl_out_json_string(stdout, a->key_id);
		fputs(",\"cert_sha256\":", stdout);
		ctl_out_json_string(stdout, sha);
		fputs("}\n", stdout);
	} else {
		ctl_out_field(stdout, "key_id", a->key_id);
		ctl_out_field(stdout, "cert_sha256", sha[0] != '\0' ? sha : "-");
	}
done:
	fp_response_free(resp);
	fp_client_free(c);
	return rc_exit;
}
