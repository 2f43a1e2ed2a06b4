/* Integration tests of failures around the server: PostgreSQL stopped and
 * restarted under a live connection, and SIGTERM with requests in flight
 * (everything answered is done, nothing is done without an answer). */
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

#define N_INFLIGHT 100

static struct {
	char *db;
	char *admin_key;
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_resilience");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	return 0;
}

static int teardown(void **state)
{
	free(T.admin_key);
	free(T.db);
	return 0;
}

static void test_postgres_restart(void **state)
{
	h_server *srv = h_server_start(T.db, NULL);
	fp_client *c = h_connect_auth(srv, T.admin_key);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);

	h_pg_stop();
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	int64_t t0 = h_now_ms();
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__UNAVAILABLE);
	int64_t took = h_now_ms() - t0;
	print_message("ListVendors answered UNAVAILABLE after %lld ms\n", (long long)took);
	if (took >= 1500)
		fail_msg("UNAVAILABLE took %lld ms (want about 1 s at most)", (long long)took);
	/* Again, now that the server knows the database is gone. */
	t0 = h_now_ms();
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__UNAVAILABLE);
	assert_true(h_now_ms() - t0 < 1500);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	assert_true(h_server_alive(srv));
	/* A new connection is still served: TLS and Ping need no database. */
	fp_client *c2 = h_connect(srv);
	h_assert_code(h_ping(c2), FAIRPAY__V1__CODE__OK);

	h_pg_start();
	t0 = h_now_ms();
	int code = H_NO_REPLY;
	while (h_now_ms() - t0 < 10000) {
		code = h_list_vendors(c, NULL, 1, NULL);
		if (code == FAIRPAY__V1__CODE__OK)
			break;
		if (code != FAIRPAY__V1__CODE__UNAVAILABLE)
			fail_msg("while PostgreSQL comes back: %s (%s)", h_code_name(code),
				 h_last_message());
		h_sleep_ms(100);
	}
	if (code != FAIRPAY__V1__CODE__OK)
		fail_msg("ListVendors still %s 10 s after PostgreSQL restarted", h_code_name(code));
	print_message("served again %lld ms after PostgreSQL restarted\n",
		      (long long)(h_now_ms() - t0));
	/* Writes work again too, and a new connection can authenticate. */
	h_assert_code(h_create_vendor(c, "after restart", NULL, NULL, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_auth(c2, T.admin_key, NULL, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(c2, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);

	fp_client_free(c2);
	fp_client_free(c);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
}

static void test_authenticate_while_postgres_down(void **state)
{
	/* Authenticate needs the database: it must answer UNAVAILABLE, not
	 * UNAUTHENTICATED, and must not count as a failed attempt. */
	h_server *srv = h_server_start(T.db, NULL);
	fp_client *c = h_connect(srv);
	h_pg_stop();
	for (int i = 0; i < 3; i++) {
		int64_t t0 = h_now_ms();
		h_assert_code(h_auth(c, T.admin_key, NULL, NULL), FAIRPAY__V1__CODE__UNAVAILABLE);
		assert_true(h_now_ms() - t0 < 1500);
	}
	h_pg_start();
	int64_t t0 = h_now_ms();
	int code = H_NO_REPLY;
	while (h_now_ms() - t0 < 10000) {
		code = h_auth(c, T.admin_key, NULL, NULL);
		if (code != FAIRPAY__V1__CODE__UNAVAILABLE)
			break;
		h_sleep_ms(100);
	}
	h_assert_code(code, FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
}

static void test_sigterm_with_requests_in_flight(void **state)
{
	h_server *srv = h_server_start(T.db, NULL);
	fp_client *c = h_connect_auth(srv, T.admin_key);
	long long before = h_sql_int(T.db, "SELECT count(*) FROM vendors WHERE name LIKE 'term-%'");
	assert_int_equal(before, 0);

	for (int i = 0; i < N_INFLIGHT; i++) {
		char name[32];
		snprintf(name, sizeof(name), "term-%03d", i);
		Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
		cv.name = name;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = (uint64_t)i + 1;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
		req.create_vendor = &cv;
		if (fp_client_send(c, &req, NULL) != 0)
			fail_msg("send %d: %s", i, fp_client_error_message(c));
	}

	int ok = 0, received = 0;
	bool seen[N_INFLIGHT + 1] = { false };
	Fairpay__V1__Response *resp = NULL;
	if (fp_client_recv(c, &resp) != 0)
		fail_msg("no first reply: %s", fp_client_error_message(c));
	if (kill(srv->pid, SIGTERM) != 0)
		fail_msg("kill: SIGTERM failed");
	int64_t t0 = h_now_ms();
	for (;;) {
		received++;
		assert_true(resp->id >= 1 && resp->id <= N_INFLIGHT);
		if (seen[resp->id])
			fail_msg("two replies for id %llu", (unsigned long long)resp->id);
		seen[resp->id] = true;
		int code = resp->status ? (int)resp->status->code : 0;
		if (code != FAIRPAY__V1__CODE__OK)
			fail_msg("reply %llu during shutdown: %s (%s)",
				 (unsigned long long)resp->id, h_code_name(code),
				 resp->status->message);
		assert_int_equal(resp->result_case, FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR);
		ok++;
		fp_response_free(resp);
		resp = NULL;
		if (fp_client_recv(c, &resp) != 0)
			break;
	}
	int64_t closed_after = h_now_ms() - t0;
	/* The connection ended by closing, not by the client's read timeout. */
	assert_int_not_equal(fp_client_error_kind(c), FP_ERR_SERVER);
	assert_true(closed_after < 9000);
	int status = h_server_stop(srv, 0);
	print_message("%d of %d answered OK before the close (%lld ms); exit status %d\n", ok,
		      N_INFLIGHT, (long long)closed_after, status);
	assert_int_equal(status, 0);

	long long stored = h_sql_int(T.db, "SELECT count(*) FROM vendors WHERE name LIKE 'term-%'");
	if (stored != ok)
		fail_msg("%lld vendors stored, %d OK replies received", stored, ok);
	/* Every stored vendor is one that was answered. */
	for (int i = 0; i < N_INFLIGHT; i++) {
		char *sql = h_fmt("SELECT count(*) FROM vendors WHERE name = 'term-%03d'", i);
		long long n = h_sql_int(T.db, sql);
		free(sql);
		if (n != (seen[i + 1] ? 1 : 0))
			fail_msg("vendor term-%03d: %lld rows, answered %s", i, n,
				 seen[i + 1] ? "yes" : "no");
	}
	fp_client_free(c);

	/* The port is released. */
	int64_t w0 = h_now_ms();
	fp_client *late = NULL;
	char err[256];
	int rc = h_try_connect(srv->port, h_client_options(), &late, err, sizeof(err));
	fp_client_free(late);
	assert_int_equal(rc, -1);
	assert_true(h_now_ms() - w0 < 5000);
	h_server_free(srv);
}

static void test_restart_keeps_state(void **state)
{
	/* PostgreSQL is the only state: a new server on the same database knows
	 * the keys and vendors of the old one. */
	h_server *srv = h_server_start(T.db, NULL);
	fp_client *c = h_connect_auth(srv, T.admin_key);
	char *vid = NULL, *key = NULL;
	h_assert_code(h_create_vendor(c, "survives restart", &vid, &key, NULL),
		      FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	assert_int_equal(h_server_stop(srv, SIGINT), 0);
	h_server_free(srv);

	srv = h_server_start(T.db, NULL);
	c = h_connect(srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	char *got = NULL;
	h_assert_code(h_auth(c, key, &role, &got), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_VENDOR);
	assert_string_equal(got, vid);
	fp_client_free(c);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
	free(got);
	free(vid);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postgres_restart),
		cmocka_unit_test(test_authenticate_while_postgres_down),
		cmocka_unit_test(test_sigterm_with_requests_in_flight),
		cmocka_unit_test(test_restart_keeps_state),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
