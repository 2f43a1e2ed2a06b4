/* Integration tests of the vendor's event feed (ListEvents): the page and
 * cursor rules, the kinds filter and bad input, isolation between vendors,
 * long polls that answer when an event commits on another server and that
 * hold no database connection while they wait, and the feed's promise under
 * load: a reader following the cursor while many connections on two servers
 * commit at once sees every event exactly once, in increasing id order. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WRITERS 8
#define WRITE_MS 4000
#define MAX_SEEN 200000

static struct {
	char *db;
	char *admin_key;
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_feed");
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

/* The vendor's event ids in the database, in id order. */
static long long count_events(const char *vendor_id)
{
	char *sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s'", vendor_id);
	long long n = h_sql_int(T.db, sql);
	free(sql);
	return n;
}

/* ---------------------------------------------------------------- basics */

static void test_cursor_kinds_and_bad_input(void **state)
{
	h_server *s = h_server_start(T.db, NULL);
	fp_client *admin = h_connect_auth(s, T.admin_key);
	char *vendor = NULL;
	fp_client *v = h_vendor_client(s, admin, "feed basics", &vendor, NULL);
	fp_client *other = h_vendor_client(s, admin, "feed other", NULL, NULL);
	h_product(v, "sku", 1000, 1500);
	for (int i = 0; i < 3; i++)
		fp_response_free(h_cycle(v, "alice", "sku", 1000));
	long long total = count_events(vendor);
	assert_true(total >= 9);

	/* The whole feed in id order, then an empty page that keeps the cursor. */
	Fairpay__V1__Response *r = NULL;
	h_assert_code(h_feed(v, 0, 0, 0, &r), H_OK);
	const Fairpay__V1__ListEventsResponse *f = r->list_events;
	assert_int_equal(f->n_events, total);
	for (size_t i = 1; i < f->n_events; i++)
		assert_true(f->events[i]->id > f->events[i - 1]->id);
	uint64_t last = f->events[f->n_events - 1]->id;
	assert_int_equal(f->next_after_id, last);
	assert_string_equal(f->events[0]->customer_id, "alice");
	fp_response_free(r);
	h_assert_code(h_feed(v, last, 0, 0, &r), H_OK);
	assert_int_equal(r->list_events->n_events, 0);
	assert_int_equal(r->list_events->next_after_id, last);
	fp_response_free(r);

	/* Pages of two follow each other without a gap. */
	uint64_t after = 0;
	long long seen = 0;
	for (;;) {
		h_assert_code(h_feed(v, after, 2, 0, &r), H_OK);
		if (r->list_events->n_events == 0) {
			fp_response_free(r);
			break;
		}
		assert_true(r->list_events->n_events <= 2);
		assert_true(r->list_events->events[0]->id > after);
		seen += (long long)r->list_events->n_events;
		after = r->list_events->next_after_id;
		fp_response_free(r);
	}
	assert_int_equal(seen, total);

	/* Only the kinds asked for. */
	Fairpay__V1__ListEventsRequest m = FAIRPAY__V1__LIST_EVENTS_REQUEST__INIT;
	Fairpay__V1__EventKind kinds[] = { H_EVENT(PAYMENT_RECEIVED) };
	m.kinds = kinds;
	m.n_kinds = 1;
	h_assert_code(h_vcall(v, FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS, &m, NULL, &r), H_OK);
	assert_int_equal(r->list_events->n_events, 3);
	for (size_t i = 0; i < r->list_events->n_events; i++)
		assert_int_equal(r->list_events->events[i]->kind, H_EVENT(PAYMENT_RECEIVED));
	fp_response_free(r);

	/* Bad input. */
	Fairpay__V1__EventKind bad[] = { H_EVENT(PAYMENT_RECEIVED), (Fairpay__V1__EventKind)99 };
	m.kinds = bad;
	m.n_kinds = 2;
	h_assert_code(h_vcall(v, FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS, &m, NULL, NULL),
		      H_INVALID);
	h_assert_field("kinds");
	m.kinds = NULL;
	m.n_kinds = 0;
	m.wait_ms = 30001;
	h_assert_code(h_vcall(v, FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS, &m, NULL, NULL),
		      H_INVALID);
	h_assert_field("wait_ms");
	h_assert_code(h_feed(v, (uint64_t)INT64_MAX + 1, 0, 0, NULL), H_INVALID);
	h_assert_field("after_id");
	/* ADMIN keys have no feed. */
	h_assert_code(h_feed(admin, 0, 0, 0, NULL), H_DENIED);

	/* Another vendor sees none of these. */
	h_assert_code(h_feed(other, 0, 0, 0, &r), H_OK);
	assert_int_equal(r->list_events->n_events, 0);
	assert_int_equal(r->list_events->next_after_id, 0);
	fp_response_free(r);

	fp_client_free(other);
	fp_client_free(v);
	fp_client_free(admin);
	free(vendor);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* ---------------------------------------------------------------- long polls */

typedef struct poll_arg {
	const h_server *srv;
	const char *key;
	uint64_t after;
	uint32_t wait_ms;
	int code;
	size_t n_events;
	int64_t answered_ms;
} poll_arg;

static void *long_poll(void *p)
{
	poll_arg *a = p;
	fp_client *c = h_connect_auth(a->srv, a->key);
	Fairpay__V1__Response *r = NULL;
	a->code = h_feed(c, a->after, 0, a->wait_ms, &r);
	a->answered_ms = h_now_ms();
	if (a->code == H_OK)
		a->n_events = r->list_events->n_events;
	fp_response_free(r);
	fp_client_free(c);
	return NULL;
}

/* A long poll on one server answers soon after a commit on another; one
 * with nothing to wait for answers empty when its time is up; 50 parked
 * polls hold none of the single pool connection. */
static void test_long_poll(void **state)
{
	h_server *a = h_server_start(T.db, "--db-pool", "1", NULL);
	h_server *b = h_server_start(T.db, NULL);
	fp_client *admin = h_connect_auth(a, T.admin_key);
	char *vendor = NULL, *key = NULL;
	fp_client *v = h_vendor_client(b, admin, "long poll", &vendor, &key);
	h_product(v, "sku", 1000, 1500);
	fp_response_free(h_cycle(v, "warm", "sku", 1000));
	Fairpay__V1__Response *r = NULL;
	h_assert_code(h_feed(v, 0, 0, 0, &r), H_OK);
	uint64_t end = r->list_events->next_after_id;
	fp_response_free(r);

	/* Nothing comes: an empty answer after the wait. */
	int64_t t0 = h_now_ms();
	fp_client *va = h_connect_auth(a, key);
	h_assert_code(h_feed(va, end, 0, 400, &r), H_OK);
	int64_t waited = h_now_ms() - t0;
	assert_int_equal(r->list_events->n_events, 0);
	assert_int_equal(r->list_events->next_after_id, end);
	fp_response_free(r);
	print_message("an empty long poll of 400 ms answered after %lld ms\n", (long long)waited);
	assert_true(waited >= 380 && waited < 3000);

	/* 50 polls parked on A (one pool connection) while a call on A is
	 * served at once, then a commit on B wakes them all. */
	enum {
		N_POLLS = 50
	};
	poll_arg args[N_POLLS];
	pthread_t th[N_POLLS];
	for (int i = 0; i < N_POLLS; i++) {
		args[i] = (poll_arg){ a, key, end, 10000, -1, 0, 0 };
		pthread_create(&th[i], NULL, long_poll, &args[i]);
	}
	h_sleep_ms(h_server_sanitized(a) ? 2000 : 1000);
	/* A call that always reads the database: were the polls holding the
	 * pool's one connection, it would wait --db-timeout-ms and answer
	 * UNAVAILABLE. */
	t0 = h_now_ms();
	h_assert_code(h_list_events(va, "warm", 0, 10, NULL), H_OK);
	int64_t served = h_now_ms() - t0;
	print_message("a call beside %d parked polls: %lld ms\n", N_POLLS, (long long)served);

	int64_t committed = 0;
	char *offer = h_offer(v, "bob", "sku"); /* on B */
	committed = h_now_ms();
	int64_t slowest = 0;
	for (int i = 0; i < N_POLLS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].code, H_OK);
		assert_true(args[i].n_events >= 1);
		int64_t lag = args[i].answered_ms - committed;
		if (lag > slowest)
			slowest = lag;
	}
	print_message("%d long polls on server A answered at most %lld ms after a commit on "
		      "server B\n",
		      N_POLLS, (long long)slowest);
	assert_true(slowest < 2000);

	free(offer);
	fp_client_free(va);
	fp_client_free(v);
	fp_client_free(admin);
	free(vendor);
	free(key);
	assert_int_equal(h_server_stop(a, SIGTERM), 0);
	assert_int_equal(h_server_stop(b, SIGTERM), 0);
	h_server_free(a);
	h_server_free(b);
}

/* SIGTERM answers a parked poll at once: shutdown does not wait for it. */
static void test_shutdown_answers_polls(void **state)
{
	h_server *s = h_server_start(T.db, NULL);
	fp_client *admin = h_connect_auth(s, T.admin_key);
	char *key = NULL;
	fp_client *v = h_vendor_client(s, admin, "poll at shutdown", NULL, &key);
	Fairpay__V1__Response *r = NULL;
	h_assert_code(h_feed(v, 0, 0, 0, &r), H_OK);
	uint64_t end = r->list_events->next_after_id;
	fp_response_free(r);
	poll_arg arg = { s, key, end, 30000, -1, 0, 0 };
	pthread_t th;
	pthread_create(&th, NULL, long_poll, &arg);
	h_sleep_ms(500);
	int64_t t0 = h_now_ms();
	kill(s->pid, SIGTERM);
	pthread_join(th, NULL);
	assert_int_equal(arg.code, H_OK);
	assert_int_equal(arg.n_events, 0);
	assert_true(arg.answered_ms - t0 < 2000);
	assert_int_equal(h_server_stop(s, 0), 0);
	fp_client_free(v);
	fp_client_free(admin);
	free(key);
	h_server_free(s);
}

/* ---------------------------------------------------------------- gapless */

typedef struct writer_arg {
	const h_server *srv;
	const char *key;
	int index;
	atomic_bool *stop;
	int cycles;
} writer_arg;

static void *writer(void *p)
{
	writer_arg *w = p;
	fp_client *c = h_connect_auth(w->srv, w->key);
	char customer[32];
	while (!atomic_load(w->stop)) {
		/* A new customer each time: no two writers wait on one row, so
		 * their transactions overlap and commit in any order. */
		snprintf(customer, sizeof(customer), "w%d-%d", w->index, w->cycles);
		fp_response_free(h_cycle(c, customer, "sku", 900 + w->cycles % 300));
		w->cycles++;
	}
	fp_client_free(c);
	return NULL;
}

typedef struct reader_arg {
	const h_server *srv;
	const char *key;
	atomic_bool *writers_done;
	uint64_t *seen;
	size_t n_seen;
	char err[256];
} reader_arg;

static void *reader(void *p)
{
	reader_arg *a = p;
	fp_client *c = h_connect_auth(a->srv, a->key);
	uint64_t after = 0;
	int empty_after_done = 0;
	while (empty_after_done < 2) {
		bool done = atomic_load(a->writers_done);
		Fairpay__V1__Response *r = NULL;
		int code = h_feed(c, after, 1000, 200, &r);
		if (code != H_OK) {
			snprintf(a->err, sizeof(a->err), "ListEvents answered %s",
				 h_code_name(code));
			fp_response_free(r);
			break;
		}
		const Fairpay__V1__ListEventsResponse *f = r->list_events;
		for (size_t i = 0; i < f->n_events && a->n_seen < MAX_SEEN; i++) {
			if (f->events[i]->id <= after && a->err[0] == '\0')
				snprintf(a->err, sizeof(a->err), "event %llu after cursor %llu",
					 (unsigned long long)f->events[i]->id,
					 (unsigned long long)after);
			after = f->events[i]->id;
			a->seen[a->n_seen++] = after;
		}
		if (f->n_events == 0 && done)
			empty_after_done++;
		fp_response_free(r);
	}
	fp_client_free(c);
	return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Writers on two servers commit cycles as fast as they can, from many
 * connections at once; a reader follows the cursor on one server. It sees
 * every event of the vendor once, each above the one before. */
static void test_gapless_under_concurrent_commits(void **state)
{
	h_server *srv[2] = { h_server_start(T.db, NULL), h_server_start(T.db, NULL) };
	fp_client *admin = h_connect_auth(srv[0], T.admin_key);
	char *vendor = NULL, *key = NULL;
	fp_client *v = h_vendor_client(srv[0], admin, "gapless", &vendor, &key);
	h_product(v, "sku", 1000, 1500);

	atomic_bool stop = false, writers_done = false;
	reader_arg rd = { srv[1], key, &writers_done, calloc(MAX_SEEN, sizeof(uint64_t)), 0, "" };
	pthread_t rth, wth[WRITERS];
	writer_arg w[WRITERS];
	pthread_create(&rth, NULL, reader, &rd);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (writer_arg){ srv[i % 2], key, i, &stop, 0 };
		pthread_create(&wth[i], NULL, writer, &w[i]);
	}
	h_sleep_ms(WRITE_MS);
	atomic_store(&stop, true);
	int cycles = 0;
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(wth[i], NULL);
		cycles += w[i].cycles;
	}
	atomic_store(&writers_done, true);
	pthread_join(rth, NULL);
	if (rd.err[0] != '\0')
		fail_msg("%s", rd.err);

	/* Exactly the stored events, each once. */
	long long stored = count_events(vendor);
	print_message("%d cycles from %d connections on 2 servers: %lld events stored, %zu seen "
		      "by the reader\n",
		      cycles, WRITERS, stored, rd.n_seen);
	assert_true(cycles > 50);
	assert_int_equal((long long)rd.n_seen, stored);
	qsort(rd.seen, rd.n_seen, sizeof(uint64_t), cmp_u64);
	for (size_t i = 1; i < rd.n_seen; i++)
		assert_true(rd.seen[i] > rd.seen[i - 1]);
	char *sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s' AND id < %llu",
			  vendor, (unsigned long long)rd.seen[0]);
	assert_int_equal(h_sql_int(T.db, sql), 0);
	free(sql);
	sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s' AND id > %llu", vendor,
		    (unsigned long long)rd.seen[rd.n_seen - 1]);
	assert_int_equal(h_sql_int(T.db, sql), 0);
	free(sql);

	free(rd.seen);
	fp_client_free(v);
	fp_client_free(admin);
	free(vendor);
	free(key);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(h_server_stop(srv[i], SIGTERM), 0);
		h_server_free(srv[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cursor_kinds_and_bad_input),
		cmocka_unit_test(test_long_poll),
		cmocka_unit_test(test_shutdown_answers_polls),
		cmocka_unit_test(test_gapless_under_concurrent_commits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
