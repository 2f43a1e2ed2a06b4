/* Integration tests of pipelining: 1,000 requests sent before any reply is
 * read all come back, each id exactly once, also when the server may only hold
 * 4 in flight per connection (it pauses reads; it never drops). */
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

#define N_REQUESTS 1000

static struct {
	char *db;
	char *admin_key;
	h_server *srv;
	h_server *narrow; /* --max-inflight 4 */
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_pipeline");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv = h_server_start(T.db, NULL);
	T.narrow = h_server_start(T.db, "--max-inflight", "4", NULL);
	/* A few vendors, so that ListVendors has something to read. */
	fp_client *c = h_connect_auth(T.srv, T.admin_key);
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "pipeline vendor %d", i);
		h_assert_code(h_create_vendor(c, name, NULL, NULL, NULL), FAIRPAY__V1__CODE__OK);
	}
	fp_client_free(c);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	h_server_free(T.narrow);
	free(T.admin_key);
	free(T.db);
	return 0;
}

/* Send N_REQUESTS (odd ids Ping, even ids ListVendors) before reading any
 * reply, then read them all. */
static void pipeline(h_server *srv)
{
	fp_client *c = h_connect_auth(srv, T.admin_key);
	long long vendors = h_sql_int(T.db, "SELECT count(*) FROM vendors");
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
	lv.limit = 2;

	int64_t t0 = h_now_ms();
	for (uint64_t id = 1; id <= N_REQUESTS; id++) {
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = id;
		if (id % 2) {
			req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
			req.ping = &ping;
		} else {
			req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
			req.list_vendors = &lv;
		}
		uint64_t sent = 0;
		if (fp_client_send(c, &req, &sent) != 0)
			fail_msg("send of request %llu failed: %s", (unsigned long long)id,
				 fp_client_error_message(c));
		assert_int_equal(sent, id);
	}

	static bool seen[N_REQUESTS + 1];
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < N_REQUESTS; i++) {
		Fairpay__V1__Response *resp = NULL;
		if (fp_client_recv(c, &resp) != 0)
			fail_msg("reply %d of %d: %s", i + 1, N_REQUESTS,
				 fp_client_error_message(c));
		uint64_t id = resp->id;
		if (id < 1 || id > N_REQUESTS)
			fail_msg("reply with id %llu, none was sent", (unsigned long long)id);
		if (seen[id])
			fail_msg("two replies for id %llu", (unsigned long long)id);
		seen[id] = true;
		int code = resp->status ? (int)resp->status->code : 0;
		if (code != FAIRPAY__V1__CODE__OK)
			fail_msg("id %llu answered %s: %s", (unsigned long long)id,
				 h_code_name(code), resp->status->message);
		if (id % 2) {
			assert_int_equal(resp->result_case, FAIRPAY__V1__RESPONSE__RESULT_PING);
		} else {
			assert_int_equal(resp->result_case,
					 FAIRPAY__V1__RESPONSE__RESULT_LIST_VENDORS);
			size_t want = vendors < 2 ? (size_t)vendors : 2;
			assert_int_equal(resp->list_vendors->n_vendors, want);
		}
		fp_response_free(resp);
	}
	print_message("%d pipelined requests answered in %lld ms\n", N_REQUESTS,
		      (long long)(h_now_ms() - t0));
	/* Nothing more is owed, and the connection still works. */
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
}

static void test_pipeline_1000(void **state)
{
	pipeline(T.srv);
}

static void test_pipeline_1000_max_inflight_4(void **state)
{
	pipeline(T.narrow);
}

static void test_pipeline_unauthenticated_mix(void **state)
{
	/* Before Authenticate, a pipelined stream gets Ping answered and every
	 * other call refused, each under its own id. */
	fp_client *c = h_connect(T.narrow);
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
	for (uint64_t id = 1; id <= 100; id++) {
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = id;
		if (id % 2) {
			req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
			req.ping = &ping;
		} else {
			req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
			req.list_vendors = &lv;
		}
		if (fp_client_send(c, &req, NULL) != 0)
			fail_msg("send failed: %s", fp_client_error_message(c));
	}
	bool seen[101] = { false };
	for (int i = 0; i < 100; i++) {
		Fairpay__V1__Response *resp = NULL;
		if (fp_client_recv(c, &resp) != 0)
			fail_msg("reply %d: %s", i + 1, fp_client_error_message(c));
		assert_true(resp->id >= 1 && resp->id <= 100);
		assert_false(seen[resp->id]);
		seen[resp->id] = true;
		int code = resp->status ? (int)resp->status->code : 0;
		int want =
			resp->id % 2 ? FAIRPAY__V1__CODE__OK : FAIRPAY__V1__CODE__UNAUTHENTICATED;
		if (code != want)
			fail_msg("id %llu answered %s, want %s", (unsigned long long)resp->id,
				 h_code_name(code), h_code_name(want));
		fp_response_free(resp);
	}
	fp_client_free(c);
}

static void test_recv_id_out_of_order(void **state)
{
	/* fp_client_recv_id waits for one id and keeps the others. */
	fp_client *c = h_connect_auth(T.srv, T.admin_key);
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	for (uint64_t id = 10; id < 20; id++) {
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = id;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
		req.ping = &ping;
		if (fp_client_send(c, &req, NULL) != 0)
			fail_msg("send failed: %s", fp_client_error_message(c));
	}
	Fairpay__V1__Response *resp = NULL;
	assert_int_equal(fp_client_recv_id(c, 19, &resp), 0);
	assert_int_equal(resp->id, 19);
	fp_response_free(resp);
	bool seen[20] = { false };
	for (int i = 0; i < 9; i++) {
		/* Held replies are ready without waiting. */
		assert_int_equal(fp_client_wait(c, 0), 1);
		assert_int_equal(fp_client_recv(c, &resp), 0);
		assert_true(resp->id >= 10 && resp->id < 19);
		assert_false(seen[resp->id]);
		seen[resp->id] = true;
		fp_response_free(resp);
	}
	fp_client_free(c);
}

/* fp_client_wait: nothing in flight times out; a request's reply is ready
 * once it arrives. */
static void test_wait(void **state)
{
	fp_client *c = h_connect_auth(T.srv, T.admin_key);
	int64_t t0 = h_now_ms();
	assert_int_equal(fp_client_wait(c, 200), 0);
	assert_true(h_now_ms() - t0 >= 190);
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = 7;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	if (fp_client_send(c, &req, NULL) != 0)
		fail_msg("send failed: %s", fp_client_error_message(c));
	assert_int_equal(fp_client_wait(c, 5000), 1);
	Fairpay__V1__Response *resp = NULL;
	assert_int_equal(fp_client_recv(c, &resp), 0);
	assert_int_equal(resp->id, 7);
	fp_response_free(resp);
	assert_int_equal(fp_client_wait(c, 0), 0);
	assert_int_equal(fp_client_wait(NULL, 0), -1);
	fp_client_free(c);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_true(h_server_alive(T.narrow));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
	assert_int_equal(h_server_stop(T.narrow, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_1000),
		cmocka_unit_test(test_pipeline_1000_max_inflight_4),
		cmocka_unit_test(test_pipeline_unauthenticated_mix),
		cmocka_unit_test(test_recv_id_out_of_order),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
