/* Integration tests of bad strings in requests: invalid UTF-8, a NUL inside
 * a value and over-long values answer INVALID_ARGUMENT naming the field,
 * store nothing and write no ERROR line; "a\0b" never stands for customer
 * "a"; a client's string in a log line is escaped and stays on its line;
 * fairpayctl reports such input as the server's refusal. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct {
	h_world w;    /* db, admin_key, srv, admin */
	fp_client *v; /* a vendor with product "basic" */
	char *v_id;
	char *v_key;
} T;

typedef Fairpay__V1__Response resp_t;

/* Every row a call could write. */
static long long rows(void)
{
	return h_sql_int(T.w.db,
			 "SELECT (SELECT count(*) FROM vendors) + (SELECT count(*) FROM "
			 "api_keys) + (SELECT count(*) FROM products) + (SELECT count(*) "
			 "FROM offers) + (SELECT count(*) FROM payments) + (SELECT count(*) "
			 "FROM reputations) + (SELECT count(*) FROM events) + (SELECT "
			 "count(*) FROM idempotency)");
}

static void expect_invalid(int code, const char *field, const char *says, const char *what)
{
	if (code != H_INVALID)
		fail_msg("%s: got %s, want INVALID_ARGUMENT (message '%s', field '%s')", what,
			 h_code_name(code), h_last_message(), h_last_field());
	if (strcmp(h_last_field(), field) != 0)
		fail_msg("%s: status.field '%s', want '%s'", what, h_last_field(), field);
	if (!h_contains(h_last_message(), says))
		fail_msg("%s: message '%s' does not say '%s'", what, h_last_message(), says);
}

/* Lines of the server's log whose level is ERROR (the word after the
 * timestamp, not ERROR anywhere in a line). */
static int error_lines(void)
{
	char *log = h_server_log(T.w.srv);
	int n = 0;
	for (char *line = log; line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n');
		char *sp = strchr(line, ' ');
		if (sp != NULL && (end == NULL || sp < end) && strncmp(sp, " ERROR ", 7) == 0)
			n++;
		line = end ? end + 1 : NULL;
	}
	free(log);
	return n;
}

static void no_error_logged(void)
{
	if (error_lines() != 0) {
		char *log = h_server_log(T.w.srv);
		fail_msg("the server logged an ERROR:\n%s", log);
	}
}

static int setup(void **state)
{
	/* debug: each request's line carries its idempotency key. */
	h_world_start(&T.w, "fp_it_strings", "--log-level", "debug", NULL);
	T.v = h_vendor_client(T.w.srv, T.w.admin, "strings", &T.v_id, &T.v_key);
	h_product(T.v, "basic", 1000, 1200);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.v);
	free(T.v_id);
	free(T.v_key);
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- raw requests */

/* A raw connection authenticated with the vendor's key: for bytes the client
 * library cannot send (a NUL inside a string). */
static h_tls *raw_vendor(void)
{
	h_tls *t = h_tls_connect(T.w.srv->port);
	Fairpay__V1__AuthenticateRequest a = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	a.api_key = T.v_key;
	req.id = 1;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &a;
	h_tls_write_request(t, &req);
	resp_t *resp = NULL;
	if (h_tls_read(t, 5000, &resp) != H_READ_FRAME)
		fail_msg("no reply to Authenticate");
	assert_int_equal(resp->status ? (int)resp->status->code : 0, H_OK);
	fairpay__v1__response__free_unpacked(resp, NULL);
	return t;
}

/* Send req with its one 'X' byte (inside a string) turned into a NUL; the
 * reply's status code, with its field in field[]. */
static int raw_with_nul(h_tls *t, Fairpay__V1__Request *req, char *field, size_t flen)
{
	size_t len = fairpay__v1__request__get_packed_size(req);
	uint8_t *body = malloc(len);
	assert_non_null(body);
	fairpay__v1__request__pack(req, body);
	uint8_t *x = memchr(body, 'X', len);
	assert_non_null(x);
	assert_null(memchr(x + 1, 'X', len - (size_t)(x + 1 - body)));
	*x = 0;
	h_tls_write_frame(t, (uint32_t)len, body, len);
	free(body);
	resp_t *resp = NULL;
	if (h_tls_read(t, 5000, &resp) != H_READ_FRAME)
		fail_msg("no reply");
	assert_int_equal(resp->id, req->id);
	int code = resp->status ? (int)resp->status->code : 0;
	snprintf(field, flen, "%s", resp->status ? resp->status->field : "");
	if (code == H_OK)
		assert_int_not_equal(resp->result_case, FAIRPAY__V1__RESPONSE__RESULT__NOT_SET);
	fairpay__v1__response__free_unpacked(resp, NULL);
	return code;
}

/* ---------------------------------------------------------------- tests */

static void test_idempotency_key_not_utf8(void **state)
{
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = "utf8-cust";
	m.sku = "basic";
	long long before = rows();
	expect_invalid(h_vcall(T.v, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, "\xff\xfe", NULL),
		       "idempotency_key", "not valid UTF-8", "key ff fe");
	expect_invalid(h_vcall(T.v, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, "k\xc0\x80", NULL),
		       "idempotency_key", "not valid UTF-8", "key with an overlong NUL");
	assert_int_equal(rows(), before);
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM idempotency"), 0);
	no_error_logged();
	/* The connection goes on, and a good key works. */
	resp_t *r = NULL;
	h_assert_code(h_vcall(T.v, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, "k-\xc3\xa9", &r),
		      H_OK);
	fp_response_free(r);
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM idempotency"), 1);
}

static void test_customer_id_with_nul(void **state)
{
	h_tls *t = raw_vendor();
	char field[64];
	long long before = rows();

	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	co.customer_id = "aXb";
	co.sku = "basic";
	req.id = 10;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)), H_INVALID);
	assert_string_equal(field, "customer_id");
	/* Not an offer to customer "a". */
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM offers WHERE customer_id = 'a'"),
			 0);

	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	gr.customer_id = "aXb";
	req.id = 11;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &gr;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)), H_INVALID);
	assert_string_equal(field, "customer_id");

	/* A NUL in the key, and in a nested message's field. */
	co.customer_id = "nul-key";
	req.id = 12;
	req.idempotency_key = "keyXtail";
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)), H_INVALID);
	assert_string_equal(field, "idempotency_key");

	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	Fairpay__V1__PutProductRequest pp = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	p.sku = "nul-name";
	p.name = "shopXevil";
	p.currency = "EUR";
	p.suggested_price_minor = 100;
	pp.product = &p;
	req.id = 13;
	req.idempotency_key = "";
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT;
	req.put_product = &pp;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)), H_INVALID);
	assert_string_equal(field, "product.name");

	assert_int_equal(rows(), before);
	/* The same connection still serves a good request. */
	co.customer_id = "after-nuls";
	req.id = 14;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	h_tls_write_request(t, &req);
	resp_t *resp = NULL;
	assert_int_equal(h_tls_read(t, 5000, &resp), H_READ_FRAME);
	assert_int_equal(resp->status ? (int)resp->status->code : 0, H_OK);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_close(t);
	no_error_logged();
}

static void test_names_and_notes_not_utf8(void **state)
{
	long long before = rows();
	expect_invalid(h_create_vendor(T.w.admin, "caf\xe9", NULL, NULL, NULL), "name",
		       "not valid UTF-8", "CreateVendor name in Latin-1");

	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = "bad-name";
	p.name = "\xff\xfe";
	p.currency = "EUR";
	p.suggested_price_minor = 100;
	expect_invalid(h_put_product(T.v, &p, NULL), "product.name", "not valid UTF-8",
		       "PutProduct name ff fe");
	p.name = "surrogate \xed\xa0\x80";
	expect_invalid(h_put_product(T.v, &p, NULL), "product.name", "not valid UTF-8",
		       "PutProduct name with a surrogate");

	/* Checked before the call looks anything up: an unknown offer is not
	 * what the caller hears about. */
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	sp.offer_id = "o_0123456789abcdef";
	sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	sp.amount_minor = 100;
	sp.note = "thanks \x80";
	expect_invalid(h_submit_payment(T.v, &sp, NULL, NULL), "note", "not valid UTF-8",
		       "SubmitPayment note");
	expect_invalid(h_review_payment(T.v, "p_0123456789abcdef", true, "\xc3", NULL), "note",
		       "not valid UTF-8", "ReviewPayment note");
	expect_invalid(h_get_product(T.v, "\xff", NULL), "sku", "not valid UTF-8",
		       "GetProduct sku");
	assert_int_equal(rows(), before);
	no_error_logged();
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_overlong(void **state)
{
	long long before = rows();
	char *k = repeat('k', 257);
	expect_invalid(h_revoke_api_key(T.w.admin, k), "key_id", "longer than 256 bytes",
		       "RevokeApiKey key_id of 257 bytes");
	char *c = repeat('c', 129);
	expect_invalid(h_get_reputation(T.v, c, NULL), "customer_id", "longer than 128 bytes",
		       "customer_id of 129 bytes");
	assert_int_equal(rows(), before);
	free(c);
	free(k);
}

static void test_gates_first_and_bad_api_keys(void **state)
{
	char field[64];
	/* Before authentication any call but Ping and Authenticate hears
	 * UNAUTHENTICATED, whatever it carries. */
	h_tls *t = h_tls_connect(T.w.srv->port);
	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	gr.customer_id = "aXb";
	req.id = 20;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &gr;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)),
			 FAIRPAY__V1__CODE__UNAUTHENTICATED);

	/* A good key with a NUL and more after it does not authenticate, and
	 * three bad keys close the connection as three wrong ones do. */
	char *key = h_fmt("%sXmore", T.v_key);
	Fairpay__V1__AuthenticateRequest a = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	a.api_key = key;
	req.id = 21;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &a;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)),
			 FAIRPAY__V1__CODE__UNAUTHENTICATED);
	assert_string_equal(field, "api_key");
	char *longkey = h_fmt("%s%0300dX", T.v_key, 0);
	a.api_key = longkey;
	req.id = 22;
	assert_int_equal(raw_with_nul(t, &req, field, sizeof(field)),
			 FAIRPAY__V1__CODE__UNAUTHENTICATED);
	a.api_key = "fp_\xff";
	req.id = 23;
	h_tls_write_request(t, &req);
	resp_t *resp = NULL;
	assert_int_equal(h_tls_read(t, 5000, &resp), H_READ_FRAME);
	assert_int_equal(resp->status->code, FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_expect_closed(t, 5000);
	h_tls_close(t);
	free(longkey);
	free(key);
}

static void test_key_logged_on_one_line(void **state)
{
	const char *forged = "2026-01-01T00:00:00.000Z ERROR conn=0 forged";
	char *key = h_fmt("line-k\n%s\r\"q\"\\", forged);
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = "log-cust";
	m.sku = "basic";
	resp_t *r = NULL;
	h_assert_code(h_vcall(T.v, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, key, &r), H_OK);
	fp_response_free(r);
	/* The whole key, escaped, ends the request's line. */
	char *tail = h_fmt(" key=\"line-k\\n%s\\r\\\"q\\\"\\\\\"\n", forged);
	if (!h_wait_log(T.w.srv, tail, 1, 5000)) {
		char *log = h_server_log(T.w.srv);
		fail_msg("no escaped key in the log:\n%s", log);
	}
	char *log = h_server_log(T.w.srv);
	char *line_start = h_fmt("\n%s", forged);
	assert_null(strstr(log, line_start)); /* no forged line */
	assert_int_equal(error_lines(), 0);
	free(line_start);
	free(log);
	free(tail);
	free(key);
}

static void test_ctl_reports(void **state)
{
	char *ctl = h_ctl();
	char *ca = h_path(h_certs_dir(), "ca.pem");
	char *qca = h_shq(ca);
	char *qkey = h_shq(T.v_key);
	char *out = NULL;
	long long before = rows();
	/* printf turns \377 into the byte 0xff in the shell. */
	char *cmd = h_fmt("FAIRPAY_API_KEY=%s %s --server %s --ca %s offer create "
			  "\"$(printf 'cust\\377')\" basic 2>&1",
			  qkey, ctl, T.w.srv->addr, qca);
	int rc = h_run(cmd, &out);
	print_message("$ %s -> %d\n%s", cmd, rc, out ? out : "");
	assert_true(rc > 0 && rc < 128); /* refused, not a crash */
	assert_true(h_contains(out, "INVALID_ARGUMENT"));
	assert_true(h_contains(out, "customer_id"));
	free(out);
	free(cmd);
	/* The key is sent as given, and refused as clearly. */
	cmd = h_fmt("FAIRPAY_API_KEY=%s %s --server %s --ca %s offer create ctl-cust basic "
		    "--idempotency-key \"$(printf '\\377\\376')\" 2>&1",
		    qkey, ctl, T.w.srv->addr, qca);
	rc = h_run(cmd, &out);
	print_message("$ %s -> %d\n%s", cmd, rc, out ? out : "");
	assert_true(rc > 0 && rc < 128);
	assert_true(h_contains(out, "INVALID_ARGUMENT"));
	assert_true(h_contains(out, "idempotency_key"));
	assert_int_equal(rows(), before);
	free(out);
	free(cmd);
	free(qkey);
	free(qca);
	free(ca);
	free(ctl);
}

static void test_clean_shutdown(void **state)
{
	no_error_logged();
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idempotency_key_not_utf8),
		cmocka_unit_test(test_customer_id_with_nul),
		cmocka_unit_test(test_names_and_notes_not_utf8),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_gates_first_and_bad_api_keys),
		cmocka_unit_test(test_key_logged_on_one_line),
		cmocka_unit_test(test_ctl_reports),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
