/* Integration tests of protocol errors over a raw TLS connection: each one
 * gets a single Response with id 0 and the right code, then the connection
 * closes, while a normal client on its own connection keeps being served. */
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

#define MAX_FRAME 1024

static struct {
	char *db;
	char *admin_key;
	h_server *srv;
	fp_client *normal; /* an authenticated bystander */
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_protocol");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv = h_server_start(T.db, "--max-frame", "1024", NULL);
	T.normal = h_connect_auth(T.srv, T.admin_key);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.normal);
	h_server_free(T.srv);
	free(T.admin_key);
	free(T.db);
	return 0;
}

static void bystander_works(void)
{
	h_assert_code(h_ping(T.normal), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(T.normal, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
}

/* Read the one error Response a protocol error earns, check it, then the close. */
static void expect_protocol_error(h_tls *t, int want_code)
{
	Fairpay__V1__Response *resp = NULL;
	h_read r = h_tls_read(t, 5000, &resp);
	if (r != H_READ_FRAME)
		fail_msg("no error Response (read result %d)", (int)r);
	assert_int_equal(resp->id, 0);
	assert_non_null(resp->status);
	if ((int)resp->status->code != want_code)
		fail_msg("code %s, want %s (%s)", h_code_name((int)resp->status->code),
			 h_code_name(want_code), resp->status->message);
	assert_int_equal(resp->result_case, FAIRPAY__V1__RESPONSE__RESULT__NOT_SET);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_expect_closed(t, 5000);
}

/* A raw connection that is known to be served: a Ping answered first. */
static h_tls *raw_served(void)
{
	h_tls *t = h_tls_connect(T.srv->port);
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = 77;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	h_tls_write_request(t, &req);
	Fairpay__V1__Response *resp = NULL;
	if (h_tls_read(t, 5000, &resp) != H_READ_FRAME)
		fail_msg("no reply to a raw Ping");
	assert_int_equal(resp->id, 77);
	assert_int_equal(resp->status ? (int)resp->status->code : 0, FAIRPAY__V1__CODE__OK);
	fairpay__v1__response__free_unpacked(resp, NULL);
	return t;
}

static void test_frame_length_zero(void **state)
{
	bystander_works();
	h_tls *t = raw_served();
	h_tls_write_frame(t, 0, NULL, 0);
	expect_protocol_error(t, FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	h_tls_close(t);
	bystander_works();
}

static void test_frame_too_large_header_only(void **state)
{
	bystander_works();
	h_tls *t = raw_served();
	/* Only the header: the server must judge it without waiting for a body. */
	h_tls_write_frame(t, MAX_FRAME + 1, NULL, 0);
	expect_protocol_error(t, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	h_tls_close(t);
	bystander_works();
}

static void test_frame_length_all_ones(void **state)
{
	h_tls *t = h_tls_connect(T.srv->port);
	h_tls_write_frame(t, 0xFFFFFFFFu, "abc", 3);
	expect_protocol_error(t, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	h_tls_close(t);
	bystander_works();
}

static void test_frame_max_exactly_served(void **state)
{
	/* A Request of exactly max-frame bytes: id, ping, and an unknown
	 * length-delimited field (number 1000) as padding, which a decoder
	 * skips. */
	uint8_t body[MAX_FRAME];
	size_t n = 0;
	body[n++] = 0x08; /* id = 5 */
	body[n++] = 0x05;
	body[n++] = 0x52; /* field 10 (ping), length-delimited, empty */
	body[n++] = 0x00;
	body[n++] = 0xc2; /* field 1000, wire type 2: tag 8002 = 0xc2 0x3e */
	body[n++] = 0x3e;
	size_t pad = MAX_FRAME - n - 2; /* two bytes of length varint */
	body[n++] = (uint8_t)(0x80 | (pad & 0x7f));
	body[n++] = (uint8_t)(pad >> 7);
	memset(body + n, 'p', pad);
	n += pad;
	assert_int_equal(n, MAX_FRAME);

	h_tls *t = h_tls_connect(T.srv->port);
	h_tls_write_frame(t, MAX_FRAME, body, n);
	Fairpay__V1__Response *resp = NULL;
	if (h_tls_read(t, 5000, &resp) != H_READ_FRAME)
		fail_msg("no reply to a frame of exactly max-frame bytes");
	assert_int_equal(resp->id, 5);
	assert_int_equal(resp->status ? (int)resp->status->code : 0, FAIRPAY__V1__CODE__OK);
	assert_int_equal(resp->result_case, FAIRPAY__V1__RESPONSE__RESULT_PING);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_close(t);
}

static void test_garbage_body(void **state)
{
	bystander_works();
	h_tls *t = raw_served();
	h_tls_write_frame(t, 3, "\xff\xff\xff", 3);
	expect_protocol_error(t, FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	h_tls_close(t);
	bystander_works();

	/* A truncated field inside the body: length says 10, 2 bytes follow. */
	t = h_tls_connect(T.srv->port);
	h_tls_write_frame(t, 4, "\x52\x0a\x01\x02", 4);
	expect_protocol_error(t, FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	h_tls_close(t);
	bystander_works();
}

static void test_request_without_call(void **state)
{
	bystander_works();
	h_tls *t = raw_served();
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = 7;
	h_tls_write_request(t, &req);
	expect_protocol_error(t, FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	h_tls_close(t);
	bystander_works();
}

static void test_error_after_pipelined_requests(void **state)
{
	/* Valid requests ahead of the bad frame are still answered under their
	 * own ids; the error reply has id 0 and ends the connection. */
	h_tls *t = h_tls_connect(T.srv->port);
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	for (uint64_t id = 1; id <= 3; id++) {
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = id;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
		req.ping = &ping;
		h_tls_write_request(t, &req);
	}
	h_tls_write_frame(t, 0, NULL, 0);
	bool seen[4] = { false };
	bool error_seen = false;
	for (;;) {
		Fairpay__V1__Response *resp = NULL;
		h_read r = h_tls_read(t, 5000, &resp);
		if (r == H_READ_TIMEOUT)
			fail_msg("the server neither answered nor closed");
		if (r != H_READ_FRAME)
			break;
		if (resp->id == 0) {
			assert_false(error_seen);
			error_seen = true;
			assert_int_equal(resp->status->code, FAIRPAY__V1__CODE__INVALID_ARGUMENT);
		} else {
			assert_true(resp->id <= 3);
			assert_false(error_seen); /* nothing after the error reply */
			seen[resp->id] = true;
		}
		fairpay__v1__response__free_unpacked(resp, NULL);
	}
	assert_true(error_seen);
	for (int i = 1; i <= 3; i++)
		if (!seen[i])
			fail_msg("Ping %d ahead of the bad frame was not answered", i);
	h_tls_close(t);
	bystander_works();
}

static void test_client_send_raw(void **state)
{
	/* The client library's raw sender reaches the same check. */
	fp_client *c = h_connect(T.srv);
	assert_int_equal(fp_client_send_raw(c, "\x00\x00\x00\x00", 4), 0);
	Fairpay__V1__Response *resp = NULL;
	assert_int_equal(fp_client_recv(c, &resp), 0);
	assert_int_equal(resp->id, 0);
	assert_int_equal(resp->status->code, FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	fp_response_free(resp);
	resp = NULL;
	assert_int_not_equal(fp_client_recv(c, &resp), 0);
	assert_null(resp);
	fp_client_free(c);
	bystander_works();
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_length_zero),
		cmocka_unit_test(test_frame_too_large_header_only),
		cmocka_unit_test(test_frame_length_all_ones),
		cmocka_unit_test(test_frame_max_exactly_served),
		cmocka_unit_test(test_garbage_body),
		cmocka_unit_test(test_request_without_call),
		cmocka_unit_test(test_error_after_pipelined_requests),
		cmocka_unit_test(test_client_send_raw),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
