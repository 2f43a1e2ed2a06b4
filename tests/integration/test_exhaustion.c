/* Integration tests of what a hostile client or a short descriptor limit can
 * exhaust: 10,000 connections from one address beside a client from
 * another, the deadline to authenticate (which a Ping does not extend), the
 * cap on connections not yet authenticated, the cap on connections per API
 * key, accepts failing with EMFILE, and the memory a pipelined burst of
 * large List calls may take against --max-output-bytes. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define N_ATTACK_CONNS 10000
#define SOURCE_CAP 1000 /* the default --max-connections-per-source */
#define STATS_MS "200"

static struct {
	char *db;
	char *admin_key;
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_exhaustion");
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

/* ---------------------------------------------------------------- helpers */

/* One request on a raw TLS connection, and its reply (NULL when the server
 * closed or did not answer within timeout_ms). */
static Fairpay__V1__Response *raw_call(h_tls *t, Fairpay__V1__Request *req, int timeout_ms)
{
	h_tls_write_request(t, req);
	Fairpay__V1__Response *resp = NULL;
	if (h_tls_read(t, timeout_ms, &resp) != H_READ_FRAME)
		return NULL;
	return resp;
}

static Fairpay__V1__Response *raw_ping(h_tls *t, uint64_t id, int timeout_ms)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	req.id = id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	return raw_call(t, &req, timeout_ms);
}

static int raw_auth(h_tls *t, const char *key)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__AuthenticateRequest auth = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	auth.api_key = (char *)key;
	req.id = 1;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &auth;
	Fairpay__V1__Response *resp = raw_call(t, &req, 5000);
	if (resp == NULL)
		fail_msg("no reply to Authenticate");
	int code = resp->status->code;
	fairpay__v1__response__free_unpacked(resp, NULL);
	return code;
}

/* Connections the server holds beyond base: its descriptors, which the
 * refused ones never keep for long. Waits up to timeout_ms for the count to
 * settle. */
static int held_beyond(const h_server *s, int base, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	int last = -1, stable = 0;
	while (h_now_ms() < deadline && stable < 5) {
		int n = h_proc_fd_count(s->pid) - base;
		stable = n == last ? stable + 1 : 0;
		last = n;
		h_sleep_ms(50);
	}
	return last;
}

/* User plus system CPU time of process pid in clock ticks, from /proc. */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command's closing parenthesis; utime and stime
	 * are the 14th and 15th of the line. */
	const char *p = strrchr(buf, ')');
	long long utime = 0, stime = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld",
				&utime, &stime) != 2)
		return -1;
	return utime + stime;
}

/* ---------------------------------------------------------------- tests */

/* 10,000 silent connections from 127.0.0.1 hold at most the per-source cap
 * of the server's slots; a client from 127.0.0.2 connects, authenticates
 * and is served meanwhile. */
static void test_one_source_cannot_take_every_slot(void **state)
{
	long lim = h_raise_nofile(N_ATTACK_CONNS + 1024);
	if (lim < N_ATTACK_CONNS + 200)
		fail_msg("RLIMIT_NOFILE is %ld (hard limit too low) for %d connections", lim,
			 N_ATTACK_CONNS);
	h_server *s = h_server_start(T.db, "--stats-interval-ms", STATS_MS, NULL);
	int base = h_proc_fd_count(s->pid);
	static int fds[N_ATTACK_CONNS];
	int64_t t0 = h_now_ms();
	for (int i = 0; i < N_ATTACK_CONNS; i++)
		fds[i] = h_tcp_connect(s->port);
	int held = held_beyond(s, base, 20000);
	print_message("%d connections from one address opened in %lld ms; the server holds %d\n",
		      N_ATTACK_CONNS, (long long)(h_now_ms() - t0), held);
	assert_true(held <= SOURCE_CAP);
	assert_true(held >= SOURCE_CAP - 10);

	h_set_source("127.0.0.2");
	t0 = h_now_ms();
	h_tls *good = h_tls_connect(s->port);
	assert_int_equal(raw_auth(good, T.admin_key), H_OK);
	Fairpay__V1__Response *pong = raw_ping(good, 2, 5000);
	assert_non_null(pong);
	assert_int_equal(pong->status->code, H_OK);
	fairpay__v1__response__free_unpacked(pong, NULL);
	print_message("a client from another address was served in %lld ms\n",
		      (long long)(h_now_ms() - t0));
	h_tls_close(good);
	h_set_source(NULL);

	assert_true(h_wait_log(s, "source_cap_refusals=", 1, 5000));
	h_sleep_ms(400); /* the next stats line counts them all */
	long long refused = h_stats_counter(s, "source_cap_refusals");
	print_message("source_cap_refusals=%lld\n", refused);
	assert_true(refused >= N_ATTACK_CONNS - SOURCE_CAP);
	for (int i = 0; i < N_ATTACK_CONNS; i++)
		close(fds[i]);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* A connection that does not authenticate is closed at the deadline,
 * counted from its accept, however many Pings it sends; an authenticated
 * one stays. */
static void test_auth_deadline(void **state)
{
	/* Under valgrind a TLS handshake alone can take longer than 600 ms. */
	int deadline_ms = h_slow() ? 3000 : 600;
	char deadline[16], why[64];
	snprintf(deadline, sizeof(deadline), "%d", deadline_ms);
	snprintf(why, sizeof(why), "not authenticated within %d ms", deadline_ms);
	h_server *s = h_server_start(T.db, "--auth-timeout-ms", deadline, "--stats-interval-ms",
				     STATS_MS, NULL);
	fp_client *authed = h_connect_auth(s, T.admin_key);
	int64_t t0 = h_now_ms();
	h_tls *t = h_tls_connect(s->port);
	Fairpay__V1__Response *last = NULL;
	int pongs = 0;
	for (uint64_t id = 1; h_now_ms() - t0 < 5 * deadline_ms; id++) {
		last = raw_ping(t, id, 1000);
		if (last == NULL || last->id == 0)
			break;
		assert_int_equal(last->status->code, H_OK);
		pongs++;
		fairpay__v1__response__free_unpacked(last, NULL);
		last = NULL;
		h_sleep_ms(100);
	}
	int64_t closed_ms = h_now_ms() - t0;
	print_message("%d Pings answered; closed after %lld ms\n", pongs, (long long)closed_ms);
	assert_non_null(last); /* the server said why */
	assert_int_equal(last->id, 0);
	assert_int_equal(last->status->code, FAIRPAY__V1__CODE__UNAUTHENTICATED);
	assert_true(h_contains(last->status->message, why));
	fairpay__v1__response__free_unpacked(last, NULL);
	h_tls_expect_closed(t, 2000);
	h_tls_close(t);
	assert_true(pongs >= 3);
	assert_true(closed_ms >= deadline_ms - 50 && closed_ms < deadline_ms + 1400);

	/* The authenticated connection, older than the deadline, still works. */
	h_assert_code(h_ping(authed), H_OK);
	fp_client_free(authed);
	assert_true(h_wait_log(s, "auth_timeouts=1", 1, 5000));
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* Connections not yet authenticated are capped, from every address; one
 * that authenticates leaves the count, and a refused one is closed before
 * any TLS work. */
static void test_unauthenticated_cap(void **state)
{
	h_server *s =
		h_server_start(T.db, "--max-unauthenticated", "20", "--max-connections-per-source",
			       "0", "--stats-interval-ms", STATS_MS, NULL);
	int fds[20];
	h_sleep_ms(300); /* the start's readiness probe has gone */
	for (int i = 0; i < 19; i++)
		fds[i] = h_tcp_connect(s->port);
	h_sleep_ms(200);
	/* The 20th slot goes to a client that authenticates: then it frees it. */
	fp_client *authed = h_connect_auth(s, T.admin_key);
	fds[19] = h_tcp_connect(s->port);
	h_sleep_ms(200);
	h_set_source("127.0.0.2");
	int refused = h_tcp_connect(s->port);
	assert_int_equal(h_fd_wait_closed(refused, 2000), 1);
	close(refused);
	h_set_source(NULL);
	for (int i = 0; i < 20; i++)
		assert_int_equal(h_fd_wait_closed(fds[i], 0), 0);
	h_assert_code(h_ping(authed), H_OK);

	/* One leaves: a new client gets its slot. */
	close(fds[0]);
	h_sleep_ms(200);
	fp_client *later = h_connect_auth(s, T.admin_key);
	h_assert_code(h_ping(later), H_OK);
	fp_client_free(later);
	assert_true(h_wait_log(s, "unauth_cap_refusals=1", 1, 5000));
	for (int i = 1; i < 20; i++)
		close(fds[i]);
	fp_client_free(authed);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* One API key holds at most --max-connections-per-key connections; closing
 * one, or re-authenticating one with another key, frees a place. */
static void test_connections_per_key(void **state)
{
	h_server *s = h_server_start(T.db, "--max-connections-per-key", "3", NULL);
	fp_client *admin = h_connect_auth(s, T.admin_key);
	char *key = NULL;
	fp_client *c[4];
	c[0] = h_vendor_client(s, admin, "per-key cap", NULL, &key);
	c[1] = h_connect_auth(s, key);
	c[2] = h_connect_auth(s, key);
	c[3] = h_connect(s);
	h_assert_code(h_auth(c[3], key, NULL, NULL), FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	h_assert_field("api_key");
	assert_true(h_contains(h_last_message(), "already has 3 connections"));
	/* Refused, it is still nobody. */
	h_assert_code(h_get_policy(c[3], NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);

	fp_client_free(c[1]);
	h_sleep_ms(200);
	h_assert_code(h_auth(c[3], key, NULL, NULL), H_OK);
	h_assert_code(h_get_policy(c[3], NULL), H_OK);
	/* Re-authenticating with the same key does not count twice. */
	h_assert_code(h_auth(c[3], key, NULL, NULL), H_OK);
	fp_client *extra = h_connect(s);
	h_assert_code(h_auth(extra, key, NULL, NULL), FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	/* c[2] moves to the ADMIN key: a place for extra. */
	h_assert_code(h_auth(c[2], T.admin_key, NULL, NULL), H_OK);
	h_assert_code(h_auth(extra, key, NULL, NULL), H_OK);

	fp_client_free(extra);
	for (int i = 0; i < 4; i++)
		if (i != 1)
			fp_client_free(c[i]);
	fp_client_free(admin);
	free(key);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* Out of descriptors, the server pauses accepting instead of spinning on
 * EMFILE: little CPU, a few log lines, and it accepts again once
 * descriptors are free. It warns at start that the limit is short. */
static void test_emfile_does_not_spin(void **state)
{
	h_server_nofile(64);
	h_server *s = h_server_start(T.db, "--max-connections", "1000", NULL);
	/* Under valgrind the server sees 12 descriptors fewer: valgrind keeps
	 * them for itself. */
	assert_true(h_wait_log(s, h_slow() ? " is below the " : "open file limit 64 is below", 1,
			       2000));
	int fds[80];
	for (int i = 0; i < 80; i++)
		fds[i] = h_tcp_connect(s->port); /* the kernel's backlog takes the rest */
	h_sleep_ms(300);
	long long cpu0 = cpu_ticks(s->pid);
	int lines0 = h_log_count(s, "accept failed");
	h_sleep_ms(2000);
	long long cpu = cpu_ticks(s->pid) - cpu0;
	int lines = h_log_count(s, "accept failed") - lines0;
	print_message("out of descriptors for 2 s: %lld ticks of CPU, %d log lines\n", cpu, lines);
	assert_true(h_log_count(s, "accept failed") >= 1);
	assert_true(lines <= 3);
	if (!h_slow())
		assert_true(cpu < 40); /* 0.4 s of 2 s; the spin took all of it */
	for (int i = 0; i < 80; i++)
		close(fds[i]);
	h_sleep_ms(300);
	fp_client *c = h_connect_auth(s, T.admin_key);
	h_assert_code(h_ping(c), H_OK);
	fp_client_free(c);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

#define N_BURST 128
#define N_HISTORY 250

/* A client that pipelines 128 List calls of 1,000 rows and reads nothing
 * costs the server about --max-output-bytes plus one List reply, not 128
 * replies; each call is answered in full once it reads. */
static void test_reply_budget_bounds_memory(void **state)
{
	h_server *s = h_server_start(T.db, "--max-output-bytes", "1048576",
				     "--slow-reader-timeout-ms", "60000", NULL);
	fp_client *admin = h_connect_auth(s, T.admin_key);
	char *key = NULL;
	fp_client *v = h_vendor_client(s, admin, "reply budget", NULL, &key);
	fp_client_free(admin);
	h_product(v, "big", 1000, 1500);
	for (int i = 0; i < N_HISTORY; i++) {
		Fairpay__V1__Response *r = h_cycle(v, "history", "big", 900);
		fp_response_free(r);
	}
	fp_client_free(v);

	h_tls *t = h_tls_connect(s->port);
	assert_int_equal(raw_auth(t, key), H_OK);
	h_sleep_ms(300);
	long before = h_server_rss_kb(s);
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListCustomerEventsRequest list =
		FAIRPAY__V1__LIST_CUSTOMER_EVENTS_REQUEST__INIT;
	list.customer_id = "history";
	list.limit = 1000;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS;
	req.list_customer_events = &list;
	for (int i = 0; i < N_BURST; i++) {
		req.id = (uint64_t)(100 + i);
		h_tls_write_request(t, &req);
	}
	h_sleep_ms(1500);
	long peak = h_proc_status_kb(s->pid, "VmHWM");
	long after = h_server_rss_kb(s);
	long grew = (peak > after ? peak : after) - before;
	print_message("RSS %ld KiB before the burst, %ld KiB after (peak %ld): grew %ld KiB "
		      "against --max-output-bytes 1024 KiB\n",
		      before, after, peak, grew);

	/* Every call answered once (in any order: each reply names its
	 * request), with the same page. */
	uint64_t events_total = 0;
	size_t reply_bytes = 0;
	bool seen[N_BURST] = { false };
	for (int i = 0; i < N_BURST; i++) {
		Fairpay__V1__Response *resp = NULL;
		assert_int_equal(h_tls_read(t, 10000, &resp), H_READ_FRAME);
		assert_in_range(resp->id, 100, 100 + N_BURST - 1);
		assert_false(seen[resp->id - 100]);
		seen[resp->id - 100] = true;
		assert_int_equal(resp->status->code, H_OK);
		const Fairpay__V1__ListCustomerEventsResponse *r = resp->list_customer_events;
		assert_true(r->n_events > 0);
		if (i == 0) {
			events_total = r->n_events;
			reply_bytes = fairpay__v1__response__get_packed_size(resp);
		} else
			assert_int_equal(r->n_events, events_total);
		fairpay__v1__response__free_unpacked(resp, NULL);
	}
	print_message("each reply: %llu events, %zu bytes; %d of them: %zu KiB\n",
		      (unsigned long long)events_total, reply_bytes, N_BURST,
		      N_BURST * reply_bytes / 1024);
	assert_true(events_total >= N_HISTORY);
	assert_true(N_BURST * reply_bytes > 12u << 20); /* what an unbounded burst would hold */
	h_tls_close(t);
	/* The bound: --max-output-bytes, plus one List reservation (256
	 * KiB), plus buffers; an unbounded burst holds most of the replies
	 * (the rest sit in the kernel's socket buffers). */
	if (!h_slow() && !h_server_sanitized(s))
		assert_true(grew < 4 * 1024);
	free(key);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* ---------------------------------------------------------------- vendor share */

#define N_FLOODERS 4
#define FLOOD_DEPTH 128
#define N_VICTIM_CALLS 100

typedef struct flood_arg {
	h_tls *t; /* authenticated as the flooding vendor */
	atomic_bool *stop;
	long calls, unavailable;
} flood_arg;

/* A vendor that pipelines expensive List calls as fast as they come back. */
static void *flood(void *p)
{
	flood_arg *a = p;
	h_tls *t = a->t;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListCustomerEventsRequest list =
		FAIRPAY__V1__LIST_CUSTOMER_EVENTS_REQUEST__INIT;
	list.customer_id = "history";
	list.limit = 1000;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS;
	req.list_customer_events = &list;
	while (!atomic_load(a->stop)) {
		for (int i = 0; i < FLOOD_DEPTH; i++) {
			req.id = (uint64_t)(i + 1);
			h_tls_write_request(t, &req);
		}
		for (int i = 0; i < FLOOD_DEPTH; i++) {
			Fairpay__V1__Response *resp = NULL;
			if (h_tls_read(t, 30000, &resp) != H_READ_FRAME)
				fail_msg("the flooding vendor lost its connection");
			a->calls++;
			a->unavailable += resp->status->code == FAIRPAY__V1__CODE__UNAVAILABLE;
			fairpay__v1__response__free_unpacked(resp, NULL);
		}
	}
	return NULL;
}

/* While vendor A floods: N_VICTIM_CALLS calls of vendor B, one at a time;
 * returns how many answered UNAVAILABLE. */
static int victim_errors(const char *share, long *flood_calls, long *flood_unavailable)
{
	/* A large output budget: each flooding connection keeps 128 calls in
	 * the pool's queue, not the few its replies' budget allows. One
	 * worker: the flood and the quiet vendor share its one pool, wherever
	 * the kernel puts their connections. */
	h_server *s = h_server_start(T.db, "--workers", "1", "--db-pool", "1", "--db-pipeline", "4",
				     "--db-timeout-ms", "300", "--db-vendor-share", share,
				     "--max-output-bytes", "268435456", NULL);
	fp_client *admin = h_connect_auth(s, T.admin_key);
	char *key_a = NULL;
	fp_client *a = h_vendor_client(s, admin, "flooding vendor", NULL, &key_a);
	fp_client *b = h_vendor_client(s, admin, "quiet vendor", NULL, NULL);
	fp_client_free(admin);
	h_product(a, "big", 1000, 1500);
	for (int i = 0; i < 250; i++)
		fp_response_free(h_cycle(a, "history", "big", 900));
	fp_client_free(a);

	atomic_bool stop = false;
	pthread_t th[N_FLOODERS];
	flood_arg args[N_FLOODERS];
	for (int i = 0; i < N_FLOODERS; i++) {
		/* Authenticated before any flood, so that none waits behind it. */
		args[i] = (flood_arg){ h_tls_connect(s->port), &stop, 0, 0 };
		assert_int_equal(raw_auth(args[i].t, key_a), H_OK);
	}
	for (int i = 0; i < N_FLOODERS; i++)
		pthread_create(&th[i], NULL, flood, &args[i]);
	h_sleep_ms(500); /* the flood builds up */
	int errors = 0;
	for (int i = 0; i < N_VICTIM_CALLS; i++) {
		int code = h_list_events(b, "someone", 0, 10, NULL);
		if (code == FAIRPAY__V1__CODE__UNAVAILABLE)
			errors++;
		else
			h_assert_code(code, H_OK);
	}
	atomic_store(&stop, true);
	*flood_calls = *flood_unavailable = 0;
	for (int i = 0; i < N_FLOODERS; i++) {
		pthread_join(th[i], NULL);
		h_tls_close(args[i].t);
		*flood_calls += args[i].calls;
		*flood_unavailable += args[i].unavailable;
	}
	fp_client_free(b);
	free(key_a);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	return errors;
}

/* A vendor flooding the pool with expensive calls waits behind itself: the
 * other vendor's calls are answered, none UNAVAILABLE. Without the share
 * (one queue for all) they time out behind the flood. */
static void test_vendor_share(void **state)
{
	long calls_on = 0, unav_on = 0, calls_off = 0, unav_off = 0;
	int with_share = victim_errors("50", &calls_on, &unav_on);
	int without = victim_errors("0", &calls_off, &unav_off);
	print_message("quiet vendor: %d of %d calls UNAVAILABLE with --db-vendor-share 50, %d "
		      "without; flooding vendor: %ld of %ld and %ld of %ld\n",
		      with_share, N_VICTIM_CALLS, without, unav_on, calls_on, unav_off, calls_off);
	if (h_slow())
		return; /* under valgrind every query is slow: the figures only */
	assert_int_equal(with_share, 0);
	assert_true(without > N_VICTIM_CALLS / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_source_cannot_take_every_slot),
		cmocka_unit_test(test_auth_deadline),
		cmocka_unit_test(test_unauthenticated_cap),
		cmocka_unit_test(test_connections_per_key),
		cmocka_unit_test(test_emfile_does_not_spin),
		cmocka_unit_test(test_reply_budget_bounds_memory),
		cmocka_unit_test(test_vendor_share),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
