/* Integration tests of a PostgreSQL outage under load: many connections keep
 * calling GetReputation and running FairPay cycles while the database is
 * stopped for a few seconds, twice. While it is down every call that needs it
 * answers UNAVAILABLE, soon (a retried cycle step may also be refused as done
 * already: FAILED_PRECONDITION; under an idempotency key a retry may find the
 * key's record left IN_FLIGHT: ABORTED); the server keeps every connection
 * and stays up; within 5 s of PostgreSQL accepting connections again every
 * connection is served again; the server's memory after the outages is about
 * what it was before; the history is consistent afterwards.
 *
 * Worker threads use h_rclient only (nothing there fails the test); they
 * record what they saw and the main thread asserts. */
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

#define READERS 12
#define CYCLERS 6 /* the odd ones use idempotency keys */
#define WORKERS (READERS + CYCLERS)
#define OUTAGES 2
#define OUTAGE_MS 3000
#define RECOVERY_LIMIT_MS 5000
#define ID_LEN 24

typedef Fairpay__V1__Response resp_t;

static struct {
	char *db;
	char *admin_key;
	h_server *srv;
	char *vid;
	char *key;
	atomic_int stop;
	atomic_int epoch;             /* outages begun so far */
	_Atomic int64_t restarted_ms; /* when PostgreSQL of this epoch was back; 0 before */
} T;

typedef struct worker {
	int no;
	bool reader;
	bool keyed;
	h_rclient rc;
	unsigned seed;
	int serial;
	/* Read by the main thread while the worker runs. */
	atomic_long ok, unavailable;
	_Atomic int64_t answered_ms[OUTAGES + 1]; /* first answer after PostgreSQL came back */
	atomic_bool failed;                       /* err is set */
	/* Read once the worker has ended. */
	long precondition, aborted, fresh_keys, cycles;
	int64_t slowest_unavailable_ms; /* the longest wait for an UNAVAILABLE */
	char err[768];
} worker;

static void fail_worker(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_worker(worker *w, const char *fmt, ...)
{
	if (w->err[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	atomic_store(&w->failed, true);
}

static int stuck_ms(void)
{
	return h_slow() ? 20000 : 3000;
}

/* One attempt, counted. An answer that is neither UNAVAILABLE nor a broken
 * connection after PostgreSQL came back marks this worker recovered. */
static int attempt(worker *w, Fairpay__V1__Request *req, resp_t **resp)
{
	int64_t t0 = h_now_ms();
	int code = h_rc_call(&w->rc, req, resp);
	int64_t now = h_now_ms();
	switch (code) {
	case H_OK:
		atomic_fetch_add(&w->ok, 1);
		break;
	case FAIRPAY__V1__CODE__UNAVAILABLE:
		atomic_fetch_add(&w->unavailable, 1);
		if (now - t0 > w->slowest_unavailable_ms)
			w->slowest_unavailable_ms = now - t0;
		break;
	case H_PRECONDITION:
		w->precondition++;
		break;
	case H_ABORTED:
		w->aborted++;
		break;
	default:
		break;
	}
	int epoch = atomic_load(&T.epoch);
	int64_t back = atomic_load(&T.restarted_ms);
	if (back != 0 && t0 >= back && code != FAIRPAY__V1__CODE__UNAVAILABLE &&
	    code != H_NO_REPLY && atomic_load(&w->answered_ms[epoch]) == 0)
		atomic_store(&w->answered_ms[epoch], now);
	return code;
}

/* Retry while UNAVAILABLE (and, under a key, while ABORTED for less than
 * stuck_ms()); any other answer is returned. */
static int call(worker *w, Fairpay__V1__Request *req, const char *what, resp_t **resp)
{
	int64_t aborted_since = 0;
	for (;;) {
		*resp = NULL;
		int code = attempt(w, req, resp);
		if (code == H_ABORTED && w->keyed) {
			if (strcmp((*resp)->status->field, "idempotency_key") != 0) {
				fail_worker(w, "%s answered ABORTED: %s", what, w->rc.err);
				return code;
			}
			if (aborted_since == 0)
				aborted_since = h_now_ms();
			if (h_now_ms() - aborted_since >= stuck_ms())
				return code;
		} else if (code != FAIRPAY__V1__CODE__UNAVAILABLE) {
			return code;
		}
		fp_response_free(*resp);
		*resp = NULL;
		if (atomic_load(&T.stop) != 0 && atomic_load(&T.restarted_ms) == 0) {
			fail_worker(w, "%s: still %s when the test ended", what, h_code_name(code));
			return code;
		}
		h_sleep_ms(20 + (int)(rand_r(&w->seed) % 40));
	}
}

/* A mutating step, under a new key when the worker uses keys (and a fresh
 * one when the last stays IN_FLIGHT). */
static int step(worker *w, Fairpay__V1__Request *req, const char *what, resp_t **resp)
{
	char key[96];
	for (;;) {
		if (w->keyed) {
			snprintf(key, sizeof(key), "out-w%d-%d-%s", w->no, ++w->serial, what);
			req->idempotency_key = key;
		}
		int code = call(w, req, what, resp);
		if (code != H_ABORTED || !w->keyed || w->err[0] != '\0')
			return code;
		w->fresh_keys++;
		fp_response_free(*resp);
		*resp = NULL;
	}
}

static int offer_status(worker *w, const char *offer_id)
{
	Fairpay__V1__GetOfferRequest m = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_OFFER;
	req.get_offer = &m;
	resp_t *resp = NULL;
	int code = call(w, &req, "GetOffer", &resp);
	int status = code == H_OK ? (int)resp->get_offer->offer->status : -1;
	if (code != H_OK)
		fail_worker(w, "GetOffer %s answered %s: %s", offer_id, h_code_name(code),
			    w->rc.err);
	fp_response_free(resp);
	return status;
}

/* A refusal of a retried step is right only when the step was done. */
static bool refused_but_done(worker *w, int code, const char *what, const char *offer_id,
			     int want_status)
{
	if (code == H_OK)
		return true;
	if (code == H_PRECONDITION) {
		int st = offer_status(w, offer_id);
		if (st == want_status)
			return true;
		fail_worker(w, "%s %s refused (%s), offer status %d", what, offer_id, w->rc.err,
			    st);
		return false;
	}
	fail_worker(w, "%s %s answered %s: %s", what, offer_id, h_code_name(code), w->rc.err);
	return false;
}

static void run_cycle(worker *w, int n)
{
	char customer[32], offer_id[ID_LEN];
	snprintf(customer, sizeof(customer), "outage-%d", (w->no + n) % 4);
	resp_t *resp = NULL;
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	co.customer_id = customer;
	co.sku = "basic";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	int code = step(w, &req, "create", &resp);
	if (code != H_OK) {
		fail_worker(w, "CreateOffer answered %s: %s", h_code_name(code), w->rc.err);
		fp_response_free(resp);
		return;
	}
	snprintf(offer_id, sizeof(offer_id), "%s", resp->create_offer->offer->offer_id);
	fp_response_free(resp);

	Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	ao.offer_id = offer_id;
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
	req.accept_offer = &ao;
	code = step(w, &req, "accept", &resp);
	fp_response_free(resp);
	if (!refused_but_done(w, code, "AcceptOffer", offer_id, H_STATUS(ACCEPTED)))
		return;

	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	sp.offer_id = offer_id;
	sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	sp.amount_minor = 800 + (int64_t)(rand_r(&w->seed) % 600);
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	req.submit_payment = &sp;
	code = step(w, &req, "pay", &resp);
	fp_response_free(resp);
	if (refused_but_done(w, code, "SubmitPayment", offer_id, H_STATUS(PAID)))
		w->cycles++;
}

static void run_reader(worker *w, int n)
{
	char customer[32];
	snprintf(customer, sizeof(customer), "outage-%d", (w->no + n) % 4);
	Fairpay__V1__GetReputationRequest m = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	m.customer_id = customer;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &m;
	resp_t *resp = NULL;
	int code = attempt(w, &req, &resp);
	if (code == H_OK &&
	    (resp->get_reputation == NULL || resp->get_reputation->reputation == NULL))
		fail_worker(w, "GetReputation answered OK without a reputation");
	else if (code != H_OK && code != FAIRPAY__V1__CODE__UNAVAILABLE)
		fail_worker(w, "GetReputation answered %s: %s", h_code_name(code), w->rc.err);
	fp_response_free(resp);
	h_sleep_ms(code == H_OK ? 5 : 20);
}

static void *run_worker(void *arg)
{
	worker *w = arg;
	for (int n = 0; atomic_load(&T.stop) == 0 && !atomic_load(&w->failed); n++) {
		if (w->reader)
			run_reader(w, n);
		else
			run_cycle(w, n);
	}
	h_rc_close(&w->rc);
	return NULL;
}

static int setup(void **state)
{
	T.db = h_db_create("fp_it_outage");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv = h_server_start(T.db, NULL);
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	fp_client *c = h_vendor_client(T.srv, admin, "outage", &T.vid, &T.key);
	h_product(c, "basic", 1000, 1200);
	/* Always FairPay and always within credit, however the load goes. */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, low_score_bp, LOW_SCORE_BP, 0);
	H_POLICY_SET(&pol, fair_score_bp, FAIR_SCORE_BP, 0);
	H_POLICY_SET(&pol, probation_credit_minor, PROBATION_CREDIT_MINOR, 1000000000);
	H_POLICY_SET(&pol, standard_credit_minor, STANDARD_CREDIT_MINOR, 1000000000);
	H_POLICY_SET(&pol, trusted_credit_minor, TRUSTED_CREDIT_MINOR, 1000000000);
	h_must(h_put_policy(c, &pol, false, NULL), "PutPolicy");
	fp_client_free(c);
	fp_client_free(admin);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.vid);
	free(T.key);
	free(T.admin_key);
	free(T.db);
	return 0;
}

/* Sums over the workers: of counters they update as they run, and of those
 * read after they ended. */
#define LIVE_TOTAL(w, field)                                 \
	({                                                   \
		long sum_ = 0;                               \
		for (int i_ = 0; i_ < WORKERS; i_++)         \
			sum_ += atomic_load(&(w)[i_].field); \
		sum_;                                        \
	})
#define TOTAL(w, field)                              \
	({                                           \
		long sum_ = 0;                       \
		for (int i_ = 0; i_ < WORKERS; i_++) \
			sum_ += (w)[i_].field;       \
		sum_;                                \
	})

/* Wait until every worker has had an answer since PostgreSQL came back;
 * the slowest worker's delay, or -1 after limit_ms. */
static int64_t wait_recovered(worker *w, int epoch, int64_t back, int limit_ms, int64_t *fastest)
{
	int64_t deadline = back + limit_ms;
	for (;;) {
		int64_t slowest = 0;
		*fastest = -1;
		bool all = true;
		for (int i = 0; i < WORKERS; i++) {
			int64_t t = atomic_load(&w[i].answered_ms[epoch]);
			if (t == 0 && !atomic_load(&w[i].failed)) {
				all = false;
				continue;
			}
			if (t == 0)
				continue;
			if (t - back > slowest)
				slowest = t - back;
			if (*fastest < 0 || t - back < *fastest)
				*fastest = t - back;
		}
		if (all)
			return slowest;
		if (h_now_ms() > deadline)
			return -1;
		h_sleep_ms(10);
	}
}

static void fail_on_worker_error(worker *w)
{
	for (int i = 0; i < WORKERS; i++)
		if (w[i].err[0] != '\0')
			fail_msg("worker %d (%s): %s", i,
				 w[i].reader  ? "GetReputation"
				 : w[i].keyed ? "keyed cycles"
					      : "cycles",
				 w[i].err);
}

static void test_postgres_outage_under_load(void **state)
{
	static worker w[WORKERS];
	pthread_t th[WORKERS];
	memset(w, 0, sizeof(w));
	atomic_init(&T.stop, 0);
	atomic_init(&T.epoch, 0);
	atomic_init(&T.restarted_ms, 0);
	for (int i = 0; i < WORKERS; i++) {
		w[i].no = i;
		w[i].reader = i < READERS;
		w[i].keyed = !w[i].reader && i % 2 == 1;
		w[i].seed = (unsigned)(h_now_ms() + 7 * i);
		h_rc_init(&w[i].rc, T.srv->port, T.key);
	}
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
	/* Warm up: every worker served, the server's memory in its working
	 * state. */
	int64_t warm = h_now_ms() + (h_slow() ? 60000 : 10000);
	for (;;) {
		bool all = true;
		for (int i = 0; i < WORKERS; i++)
			all = all && atomic_load(&w[i].ok) > 10;
		if (all)
			break;
		if (h_now_ms() > warm) {
			atomic_store(&T.stop, 1);
			for (int i = 0; i < WORKERS; i++)
				pthread_join(th[i], NULL);
			fail_on_worker_error(w);
			fail_msg("the workers did not all get going");
		}
		h_sleep_ms(20);
	}
	h_sleep_ms(1000);
	long rss_before = h_server_rss_kb(T.srv);
	long rss[OUTAGES];
	int64_t recovery[OUTAGES], first[OUTAGES];
	long unavailable_total = 0;

	/* Authenticated before the first outage: it lives longer than
	 * --auth-timeout-ms, which Pings do not extend. */
	fp_client *probe = h_connect_auth(T.srv, T.admin_key);
	for (int o = 0; o < OUTAGES; o++) {
		long unavailable_before = LIVE_TOTAL(w, unavailable);
		long ok_before = LIVE_TOTAL(w, ok);
		h_pg_stop();
		h_sleep_ms(OUTAGE_MS);
		/* The server is up, serves Ping and keeps every connection. */
		assert_true(h_server_alive(T.srv));
		h_assert_code(h_ping(probe), H_OK);
		long unavailable = LIVE_TOTAL(w, unavailable) - unavailable_before;
		long ok_during = LIVE_TOTAL(w, ok) - ok_before;
		atomic_store(&T.epoch, o + 1);
		atomic_store(&T.restarted_ms, 0);
		h_pg_start();
		int64_t back = h_now_ms();
		atomic_store(&T.restarted_ms, back);
		int limit = h_slow() ? 60000 : 30000;
		recovery[o] = wait_recovered(w, o + 1, back, limit, &first[o]);
		if (recovery[o] < 0) {
			atomic_store(&T.stop, 1);
			for (int i = 0; i < WORKERS; i++)
				pthread_join(th[i], NULL);
			fail_on_worker_error(w);
			fail_msg("outage %d: not every connection served again within %d ms of "
				 "PostgreSQL's restart",
				 o + 1, limit);
		}
		h_sleep_ms(1000);
		rss[o] = h_server_rss_kb(T.srv);
		unavailable_total += unavailable;
		print_message(
			"outage %d: %d ms, %ld calls answered UNAVAILABLE (and %ld OK "
			"while it was stopping); served again %lld ms (first connection) to "
			"%lld ms (all %d) after PostgreSQL accepted connections; RSS %ld kB\n",
			o + 1, OUTAGE_MS, unavailable, ok_during, (long long)first[o],
			(long long)recovery[o], WORKERS, rss[o]);
		if (unavailable == 0)
			fail_msg("outage %d: no call answered UNAVAILABLE", o + 1);
	}
	fp_client_free(probe);
	atomic_store(&T.stop, 1);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	fail_on_worker_error(w);

	int64_t slowest_unavailable = 0;
	int connects = 0;
	for (int i = 0; i < WORKERS; i++) {
		if (w[i].slowest_unavailable_ms > slowest_unavailable)
			slowest_unavailable = w[i].slowest_unavailable_ms;
		connects += w[i].rc.connects;
	}
	print_message(
		"%d connections (%d GetReputation, %d cycles of which %d keyed): %ld OK, "
		"%ld UNAVAILABLE (slowest %lld ms), %ld FAILED_PRECONDITION (retried step "
		"done already), %ld ABORTED (key left IN_FLIGHT; %ld keys replaced), no other "
		"code; %ld cycles; %d connects\n",
		WORKERS, READERS, CYCLERS, CYCLERS / 2, LIVE_TOTAL(w, ok),
		LIVE_TOTAL(w, unavailable), (long long)slowest_unavailable, TOTAL(w, precondition),
		TOTAL(w, aborted), TOTAL(w, fresh_keys), TOTAL(w, cycles), connects);
	print_message("server RSS: %ld kB before, %ld kB after the last outage\n", rss_before,
		      rss[OUTAGES - 1]);
	/* No connection was lost: one connect each. */
	assert_int_equal(connects, WORKERS);
	assert_true(unavailable_total > 0);
	assert_true(h_server_alive(T.srv));
	for (int o = 0; o < OUTAGES; o++) {
		if (h_slow()) {
			/* Under valgrind every call is many times slower: the
			 * limit is for the real server. */
			continue;
		}
		if (recovery[o] >= RECOVERY_LIMIT_MS)
			fail_msg("outage %d: served again only %lld ms after PostgreSQL "
				 "restarted (limit %d ms)",
				 o + 1, (long long)recovery[o], RECOVERY_LIMIT_MS);
	}
	if (!h_slow() && slowest_unavailable > 2500)
		fail_msg("an UNAVAILABLE answer took %lld ms (about 1 s expected)",
			 (long long)slowest_unavailable);
	/* Memory: a bounded queue and buffers, nothing kept per failed call. */
	assert_true(rss_before > 0 && rss[OUTAGES - 1] > 0);
	if (rss[OUTAGES - 1] > 2 * rss_before + 32768)
		fail_msg("RSS grew from %ld kB to %ld kB over %d outages", rss_before,
			 rss[OUTAGES - 1], OUTAGES);
}

static void test_history_consistent(void **state)
{
	/* Whatever was cut off by the outage, no payment is stored twice and
	 * every reputation agrees with the history. */
	char *sql = h_fmt("SELECT count(*) FROM (SELECT offer_id FROM payments WHERE vendor_id = "
			  "'%s' GROUP BY offer_id HAVING count(*) > 1) x",
			  T.vid);
	assert_int_equal(h_sql_int(T.db, sql), 0);
	free(sql);
	sql = h_fmt("SELECT count(*) FROM offers o WHERE o.vendor_id = '%s' AND (o.status = "
		    "'PAID') <> EXISTS (SELECT 1 FROM payments p WHERE p.vendor_id = o.vendor_id "
		    "AND p.offer_id = o.id)",
		    T.vid);
	assert_int_equal(h_sql_int(T.db, sql), 0);
	free(sql);
	char *ctl = h_ctl();
	char *db = h_shq(T.db);
	char *cmd = h_fmt("%s reputation verify --db %s 2>&1", ctl, db);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	print_message("reputation verify -> %d: %s", rc, out);
	assert_int_equal(rc, 0);
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postgres_outage_under_load),
		cmocka_unit_test(test_history_consistent),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
