/* Integration tests of --workers: several processes share the port, each
 * with its own connections, pool and cache; a change on one worker is seen
 * on the others within 100 ms; a revoked key stops on every worker; a
 * worker that dies is started again; SIGHUP and SIGTERM reach them all. */
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

typedef Fairpay__V1__Response resp_t;

#define WORKERS 2
#define CONNS 16

static struct {
	h_world w; /* db, admin_key, srv, admin */
	char *vendor_id;
	char *key;
	fp_client *c[CONNS];
} T;

static int bound_ms(void)
{
	return h_slow() ? 2000 : 100;
}

/* The pids of the server's workers (its children), from /proc. */
static int worker_pids(pid_t parent, pid_t *out, int max)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	int n = 0, pid;
	while (n < max && fscanf(f, "%d", &pid) == 1)
		out[n++] = (pid_t)pid;
	fclose(f);
	return n;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_workers", "--workers", "2", NULL);
	fp_client *v = h_vendor_client(T.w.srv, T.w.admin, "workers shop", &T.vendor_id, &T.key);
	h_product(v, "basic", 1000, 1200);
	fp_client_free(v);
	for (int i = 0; i < CONNS; i++)
		T.c[i] = h_connect_auth(T.w.srv, T.key);
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < CONNS; i++)
		fp_client_free(T.c[i]);
	free(T.vendor_id);
	free(T.key);
	h_world_stop(&T.w);
	return 0;
}

static void test_every_worker_serves(void **state)
{
	pid_t pids[8];
	assert_int_equal(worker_pids(T.w.srv->pid, pids, 8), WORKERS);
	char *log = h_server_log(T.w.srv);
	/* The kernel spread the connections over both workers. */
	for (int w = 1; w <= WORKERS; w++) {
		char needle[64];
		snprintf(needle, sizeof(needle), "worker=%d conn=", w);
		int n = count_of(log, needle);
		print_message("worker %d: %d log lines\n", w, n);
		assert_true(n > 0);
	}
	free(log);
}

static void test_changes_seen_across_workers(void **state)
{
	for (int round = 0; round < 4; round++) {
		char customer[32];
		snprintf(customer, sizeof(customer), "across-%d", round);
		/* Every connection (so both workers) holds the prior row. */
		for (int i = 0; i < CONNS; i++) {
			resp_t *r = h_reputation(T.c[i], customer);
			assert_int_equal(r->get_reputation->reputation->payments, 0);
			fp_response_free(r);
		}
		resp_t *r = h_cycle(T.c[round], customer, "basic", 1000);
		fp_response_free(r);
		int64_t t0 = h_now_ms();
		for (int i = 0; i < CONNS; i++) {
			int payments = 0;
			while (payments != 1 && h_now_ms() - t0 <= bound_ms()) {
				r = h_reputation(T.c[i], customer);
				payments = (int)r->get_reputation->reputation->payments;
				fp_response_free(r);
			}
			assert_int_equal(payments, 1);
		}
		print_message("round %d: every connection saw the payment within %lld ms\n", round,
			      (long long)(h_now_ms() - t0));
	}
}

static void test_revocation_reaches_every_worker(void **state)
{
	char *key_id = NULL, *key = NULL;
	h_must(h_create_api_key(T.w.admin, T.vendor_id, FAIRPAY__V1__ROLE__ROLE_VENDOR, &key_id,
				&key),
	       "CreateApiKey");
	fp_client *c[CONNS];
	for (int i = 0; i < CONNS; i++)
		c[i] = h_connect_auth(T.w.srv, key);
	h_must(h_revoke_api_key(T.w.admin, key_id), "RevokeApiKey");
	int64_t t0 = h_now_ms();
	for (int i = 0; i < CONNS; i++) {
		int code = H_OK;
		while (code == H_OK && h_now_ms() - t0 <= bound_ms()) {
			resp_t *r = NULL;
			code = h_get_reputation(c[i], "anyone", &r);
			fp_response_free(r);
		}
		assert_int_equal(code, FAIRPAY__V1__CODE__UNAUTHENTICATED);
		fp_client_free(c[i]);
	}
	print_message("every connection refused within %lld ms of the revocation\n",
		      (long long)(h_now_ms() - t0));
	free(key_id);
	free(key);
}

static void test_dead_worker_started_again(void **state)
{
	pid_t pids[8];
	assert_int_equal(worker_pids(T.w.srv->pid, pids, 8), WORKERS);
	kill(pids[0], SIGKILL);
	/* Once it is gone (its socket with it), new connections are served
	 * meanwhile by the other worker. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/%d/task/%d/children", (int)pids[0], (int)pids[0]);
	for (int64_t t0 = h_now_ms(); h_now_ms() - t0 < 2000;) {
		FILE *f = fopen(proc, "r");
		if (f == NULL)
			break;
		fclose(f);
		h_sleep_ms(5);
	}
	fp_client *c = h_connect_auth(T.w.srv, T.key);
	resp_t *r = h_reputation(c, "meanwhile");
	fp_response_free(r);
	fp_client_free(c);
	int64_t t0 = h_now_ms();
	pid_t now[8];
	int n = 0;
	bool replaced = false;
	while (!replaced && h_now_ms() - t0 < 5000) {
		h_sleep_ms(50);
		n = worker_pids(T.w.srv->pid, now, 8);
		replaced = n == WORKERS && now[0] != pids[0] && now[1] != pids[0];
	}
	assert_true(replaced);
	print_message("worker %d replaced after %lld ms\n", (int)pids[0],
		      (long long)(h_now_ms() - t0));
	assert_true(h_wait_log(T.w.srv, "starting it again", 1, 1000));
}

static void test_signals_reach_every_worker(void **state)
{
	kill(T.w.srv->pid, SIGHUP);
	assert_true(h_wait_log(T.w.srv, "SIGHUP: reloaded", WORKERS, h_slow() ? 60000 : 5000));
	int status = h_server_stop(T.w.srv, SIGTERM);
	assert_int_equal(status, 0);
	char *log = h_server_log(T.w.srv);
	assert_true(h_contains(log, "all workers stopped"));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_worker_serves),
		cmocka_unit_test(test_changes_seen_across_workers),
		cmocka_unit_test(test_revocation_reaches_every_worker),
		cmocka_unit_test(test_dead_worker_started_again),
		cmocka_unit_test(test_signals_reach_every_worker),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
