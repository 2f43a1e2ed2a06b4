/* Integration tests of the score recompute of ReviewPayment and of a late
 * payment (rules 5-7) on long histories: the score stays exactly the replay
 * of rule 7 over the whole history, and the server replays only the closed
 * cycles from the changed one on (it logs how many at debug level), not the
 * whole history.
 *
 * A customer's history of N payments is written with SQL (fast), as fairpayd
 * would have written it: offers PAID, payments with their fairness, the
 * score before each cycle (rule 7's checkpoints),
 * OFFER_ACCEPTED events and the reputation row. Then a default, a few
 * cycles, a pending payment, its review and a late payment go through the
 * server. The time of the review and of the late payment is printed for
 * N = 1,000 and N = 100,000 (never asserted). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "harness.h"

#define BIG_N 100000
#define SMALL_N 1000
#define LEGACY_N SMALL_N /* payments written before checkpoints existed */
#define PRIOR 8000       /* the default policy's prior_score_bp */
#define ALPHA 3000       /* and alpha_bp */

static struct {
	h_world w; /* db, admin_key, srv, admin */
	fp_client *c;
	char *vendor;
} T;

typedef Fairpay__V1__Response resp_t;

/* The fairness of entry i of a written history: 8000 to 15000 in steps of
 * 10 (amount = fairness / 10 against an SP of 1000 gives it exactly), so
 * that the customer stays on FairPay terms through a default and a reject. */
static int32_t fairness_of(int i)
{
	return 8000 + (int32_t)(((uint32_t)i * 2654435761u >> 7) % 701u) * 10;
}

/* Append "{a,b,...}" of n ints to a malloc'ed string. */
static char *int_array(const int32_t *v, int n)
{
	size_t cap = (size_t)n * 12 + 3;
	char *s = malloc(cap);
	assert_non_null(s);
	size_t len = 0;
	s[len++] = '{';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%d", i ? "," : "", v[i]);
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

/* Write a history of n paid cycles for customer (ids with the one-letter
 * tag, so that customers do not share ids), ending a minute ago. */
static void write_history(const char *customer, char tag, int n)
{
	int32_t *f = calloc((size_t)n, sizeof(*f));
	int32_t *before = calloc((size_t)n, sizeof(*before));
	assert_non_null(f);
	assert_non_null(before);
	int32_t score = PRIOR;
	int64_t paid = 0;
	for (int i = 0; i < n; i++) {
		f[i] = fairness_of(i);
		before[i] = score;
		score = h_score_step(score, f[i], ALPHA);
		paid += f[i] / 10;
	}
	char *fa = int_array(f, n);
	char *sa = int_array(before, n);
	/* Entry i (1-based) at base + i ms; the last one a minute ago. */
	char *sql = h_fmt(
		"CREATE TABLE replay_h AS SELECT u.i, u.f, u.s, now() - interval '60 s'"
		" - (%d - u.i) * interval '1 ms' AS at,"
		" 'o_%c' || lpad(to_hex(u.i), 15, '0') AS oid,"
		" 'p_%c' || lpad(to_hex(u.i), 15, '0') AS pid"
		" FROM unnest('%s'::int[], '%s'::int[]) WITH ORDINALITY AS u(f, s, i);"
		"INSERT INTO offers (vendor_id, id, customer_id, sku, status, mode, currency,"
		" suggested_price_minor, tier, created_at, expires_at, pay_by, accepted_at,"
		" closed_at)"
		" SELECT '%s', oid, '%s', 'basic', 'PAID', 'FAIRPAY', 'USD', 1000, 'STANDARD',"
		" at - interval '2 ms', at + interval '1 day', at + interval '14 days',"
		" at - interval '1 ms', at FROM replay_h;"
		"INSERT INTO payments (vendor_id, id, offer_id, customer_id, amount_minor,"
		" currency, suggested_price_minor, fairness_bp, raw_fairness_bp, verdict,"
		" created_at, score_before_bp)"
		" SELECT '%s', pid, oid, '%s', f / 10, 'USD', 1000, f, f,"
		" CASE WHEN f >= 11000 THEN 'GENEROUS' WHEN f >= 8000 THEN 'FAIR'"
		" WHEN f >= 5000 THEN 'LOW' ELSE 'UNFAIR' END, at, s FROM replay_h;"
		"INSERT INTO events (vendor_id, customer_id, kind, offer_id, at)"
		" SELECT '%s', '%s', 'OFFER_ACCEPTED', oid, at - interval '1 ms' FROM replay_h;"
		"INSERT INTO reputations (vendor_id, customer_id, score_bp, payments,"
		" offers_accepted, total_paid_minor, total_suggested_minor, updated_at, currency,"
		" checkpoints_prior_bp, checkpoints_alpha_bp)"
		" SELECT '%s', '%s', %d, %d, %d, %lld, %lld, max(at), 'USD', %d, %d FROM replay_h;",
		n, tag, tag, fa, sa, T.vendor, customer, T.vendor, customer, T.vendor, customer,
		T.vendor, customer, score, n, n, (long long)paid, (long long)n * 1000, PRIOR,
		ALPHA);
	free(h_sql(T.w.db, sql));
	free(sql);
	free(h_sql(T.w.db, "DROP TABLE replay_h; ANALYZE offers; ANALYZE payments"));
	free(fa);
	free(sa);
	free(f);
	free(before);
}

/* The score of rule 7 replayed over the customer's whole history as the
 * database has it now, from the policy's prior with its alpha. */
static int32_t full_replay(const char *customer, int32_t prior, int32_t alpha, size_t *n_out)
{
	char *sql = h_fmt("SELECT coalesce(string_agg(h.f::text, ',' ORDER BY h.at,"
			  " h.id COLLATE \"C\"), '') FROM ("
			  "SELECT x.id, x.fairness_bp AS f, x.created_at AS at FROM payments x"
			  " WHERE x.vendor_id = '%s' AND x.customer_id = '%s'"
			  " UNION ALL SELECT y.id, 0, y.closed_at FROM offers y"
			  " WHERE y.vendor_id = '%s' AND y.customer_id = '%s'"
			  " AND y.status = 'DEFAULTED') h",
			  T.vendor, customer, T.vendor, customer);
	char *list = h_sql(T.w.db, sql);
	free(sql);
	assert_non_null(list);
	size_t n = 0, cap = 1024;
	int32_t *f = malloc(cap * sizeof(*f));
	assert_non_null(f);
	for (char *p = list; *p;) {
		if (n == cap) {
			cap *= 2;
			f = realloc(f, cap * sizeof(*f));
			assert_non_null(f);
		}
		f[n++] = (int32_t)strtol(p, &p, 10);
		if (*p == ',')
			p++;
	}
	int32_t score = h_score_replay(prior, alpha, f, n);
	free(f);
	free(list);
	if (n_out != NULL)
		*n_out = n;
	return score;
}

static int32_t stored_score(const char *customer)
{
	char *sql = h_fmt("SELECT score_bp FROM reputations WHERE vendor_id = '%s'"
			  " AND customer_id = '%s'",
			  T.vendor, customer);
	int32_t s = (int32_t)h_sql_int(T.w.db, sql);
	free(sql);
	return s;
}

/* Offer, accept and pay `amount` with reason DID_NOT_USE: returns the
 * (pending, when low) payment's id. */
static char *pending_payment(const char *customer, int64_t amount)
{
	char *offer = h_offer(T.c, customer, "basic");
	h_accept(T.c, offer);
	Fairpay__V1__PaymentReason dnu[] = { H_PREASON(DID_NOT_USE) };
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = offer;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = amount;
	m.reasons = dnu;
	m.n_reasons = 1;
	resp_t *r = NULL;
	h_must(h_submit_payment(T.c, &m, NULL, &r), "SubmitPayment");
	assert_int_equal(r->submit_payment->payment->review, H_REVIEW(PENDING));
	char *id = strdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	free(offer);
	return id;
}

/* An offer the sweeper has defaulted (its pay_by moved into the past). */
static char *defaulted_offer(const char *customer)
{
	char *offer = h_offer(T.c, customer, "basic");
	h_accept(T.c, offer);
	char *sql = h_fmt("UPDATE offers SET pay_by = now() - interval '1 s'"
			  " WHERE vendor_id = '%s' AND id = '%s'",
			  T.vendor, offer);
	free(h_sql(T.w.db, sql));
	free(sql);
	if (!h_wait_offer_status(T.c, offer, H_STATUS(DEFAULTED), 5000))
		fail_msg("offer %s was not defaulted within 5 s", offer);
	return offer;
}

/* The number in the last "... replayed N closed cycles" line of the log,
 * when there are more such lines than *seen (-1 otherwise); *seen becomes
 * their count. */
static long last_replayed(int *seen)
{
	char *log = h_server_log(T.w.srv);
	long n = -1;
	int count = 0;
	for (char *p = log; (p = strstr(p, "replayed ")) != NULL; p++) {
		char *end = NULL;
		long v = strtol(p + 9, &end, 10);
		if (end != p + 9 && strncmp(end, " closed cycle", 13) == 0) {
			count++;
			n = v;
		}
	}
	free(log);
	if (count <= *seen)
		n = -1;
	*seen = count;
	return n;
}

/* Wait until the server logged one more replay line, and answer its count. */
static long next_replayed(int *seen)
{
	int64_t deadline = h_now_ms() + 3000;
	for (;;) {
		int before = *seen;
		long n = last_replayed(seen);
		if (n >= 0 || h_now_ms() > deadline) {
			if (n < 0)
				*seen = before;
			return n;
		}
		h_sleep_ms(20);
	}
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_replay", "--sweep-interval-ms", "100", "--log-level", "debug",
		      NULL);
	T.c = h_vendor_client(T.w.srv, T.w.admin, "replay", &T.vendor, NULL);
	h_product(T.c, "basic", 1000, 1200);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.c);
	free(T.vendor);
	h_world_stop(&T.w);
	return 0;
}

/* The score the server answered and stored equals the full replay. */
static void assert_replayed(const char *customer, const Fairpay__V1__Reputation *rep, int32_t prior,
			    int32_t alpha)
{
	size_t n = 0;
	int32_t want = full_replay(customer, prior, alpha, &n);
	if (rep->score_bp != want || stored_score(customer) != want)
		fail_msg("%s: answered score %d, stored %d, the replay of its %zu cycles %d",
			 customer, rep->score_bp, stored_score(customer), n, want);
}

/* A default, three cycles, a pending payment; the review of that payment,
 * then the default paid late. Both recompute exactly, and replay only the
 * cycles from the changed one on: the review 1 (the last payment), the late
 * payment 5 (the three cycles and the reviewed payment after the default,
 * which leaves, then the late payment itself). */
static void review_and_late(const char *customer, char tag, int n)
{
	int64_t t0 = h_now_ms();
	write_history(customer, tag, n);
	int64_t t1 = h_now_ms();
	char *late = defaulted_offer(customer);
	for (int i = 0; i < 3; i++)
		fp_response_free(h_cycle(T.c, customer, "basic", 900 + 100 * i));
	char *pid = pending_payment(customer, 100);
	int seen = 0;
	(void)last_replayed(&seen);

	resp_t *r = NULL;
	int64_t t2 = h_now_ms();
	h_must(h_review_payment(T.c, pid, true, "ok", &r), "ReviewPayment");
	int64_t t3 = h_now_ms();
	assert_int_equal(r->review_payment->payment->review, H_REVIEW(ACCEPTED));
	assert_replayed(customer, r->review_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	long review_cycles = next_replayed(&seen);

	int64_t t4 = h_now_ms();
	h_must(h_pay(T.c, late, 1000, &r), "SubmitPayment (late)");
	int64_t t5 = h_now_ms();
	assert_true(r->submit_payment->payment->late);
	assert_replayed(customer, r->submit_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	long late_cycles = next_replayed(&seen);

	print_message("history of %d payments (written in %lld ms): ReviewPayment %lld ms"
		      " (replayed %ld cycles), late payment %lld ms (replayed %ld cycles)\n",
		      n, (long long)(t1 - t0), (long long)(t3 - t2), review_cycles,
		      (long long)(t5 - t4), late_cycles);
	assert_int_equal(review_cycles, 1);
	assert_int_equal(late_cycles, 5);
	free(pid);
	free(late);
}

static void test_small(void **state)
{
	review_and_late("small", 'a', SMALL_N);
}

static void test_big(void **state)
{
	review_and_late("big", 'b', BIG_N);
	/* A later review is as cheap: the checkpoints it wrote hold. */
	char *pid = pending_payment("big", 300);
	int seen = 0;
	(void)last_replayed(&seen);
	resp_t *r = NULL;
	h_must(h_review_payment(T.c, pid, false, NULL, &r), "ReviewPayment");
	assert_int_equal(r->review_payment->payment->review, H_REVIEW(REJECTED));
	assert_replayed("big", r->review_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	assert_int_equal(next_replayed(&seen), 1);
	free(pid);
}

/* A review of an older payment replays from it to the end, no further back. */
static void test_older_payment(void **state)
{
	char *old = pending_payment("older", 200);
	for (int i = 0; i < 5; i++)
		fp_response_free(h_cycle(T.c, "older", "basic", 800 + 50 * i));
	int seen = 0;
	(void)last_replayed(&seen);
	resp_t *r = NULL;
	h_must(h_review_payment(T.c, old, true, NULL, &r), "ReviewPayment");
	assert_replayed("older", r->review_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	assert_int_equal(next_replayed(&seen), 6);
	free(old);
}

/* A history without checkpoints (written before they existed): the first
 * review replays it all and writes those of the latest 1000 cycles
 * (STORE_CHECKPOINTS_WRITE); the next one is bounded again; one of a
 * payment older than those replays it all again. */
static void test_unknown_checkpoints(void **state)
{
	write_history("legacy", 'c', LEGACY_N);
	/* The first payment waits for a review since. */
	char *sql = h_fmt("UPDATE payments SET score_before_bp = NULL,"
			  " review = CASE WHEN id = 'p_c000000000000001' THEN 'PENDING'"
			  " ELSE review END WHERE vendor_id = '%s' AND customer_id = 'legacy';"
			  "UPDATE reputations SET checkpoints_prior_bp = NULL,"
			  " checkpoints_alpha_bp = NULL"
			  " WHERE vendor_id = '%s' AND customer_id = 'legacy'",
			  T.vendor, T.vendor);
	free(h_sql(T.w.db, sql));
	free(sql);
	char *pid = pending_payment("legacy", 100);
	int seen = 0;
	(void)last_replayed(&seen);
	resp_t *r = NULL;
	int64_t t0 = h_now_ms();
	h_must(h_review_payment(T.c, pid, true, NULL, &r), "ReviewPayment");
	int64_t t1 = h_now_ms();
	assert_replayed("legacy", r->review_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	assert_int_equal(next_replayed(&seen), LEGACY_N + 1);
	sql = h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s'"
		    " AND customer_id = 'legacy' AND score_before_bp IS NOT NULL",
		    T.vendor);
	assert_int_equal(h_sql_int(T.w.db, sql), LEGACY_N + 1 < 1000 ? LEGACY_N + 1 : 1000);
	free(sql);
	free(pid);

	pid = pending_payment("legacy", 100);
	int64_t t2 = h_now_ms();
	h_must(h_review_payment(T.c, pid, false, NULL, &r), "ReviewPayment");
	int64_t t3 = h_now_ms();
	assert_replayed("legacy", r->review_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	assert_int_equal(next_replayed(&seen), 1);
	free(pid);
	print_message("history of %d payments without checkpoints: first ReviewPayment %lld ms"
		      " (the whole history, checkpoints written), the next %lld ms\n",
		      LEGACY_N, (long long)(t1 - t0), (long long)(t3 - t2));

	/* Older than the checkpoints written: the whole history again. */
	h_must(h_review_payment(T.c, "p_c000000000000001", true, NULL, &r), "ReviewPayment");
	assert_replayed("legacy", r->review_payment->reputation, PRIOR, ALPHA);
	fp_response_free(r);
	assert_int_equal(next_replayed(&seen), LEGACY_N + 2);
}

/* A policy change (prior and alpha) makes the checkpoints stale: the next
 * review replays the whole history under the new policy, as rule 7 says,
 * and the one after it is bounded again. Runs last: it changes the policy. */
static void test_policy_change(void **state)
{
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, alpha_bp, ALPHA_BP, 4500);
	H_POLICY_SET(&pol, prior_score_bp, PRIOR_SCORE_BP, 7000);
	h_must(h_put_policy(T.c, &pol, false, NULL), "PutPolicy");
	char *pid = pending_payment("small", 100);
	int seen = 0;
	(void)last_replayed(&seen);
	resp_t *r = NULL;
	h_must(h_review_payment(T.c, pid, true, NULL, &r), "ReviewPayment");
	assert_replayed("small", r->review_payment->reputation, 7000, 4500);
	fp_response_free(r);
	size_t n = 0;
	(void)full_replay("small", 7000, 4500, &n);
	assert_int_equal(next_replayed(&seen), (long)n);
	free(pid);

	pid = pending_payment("small", 100);
	h_must(h_review_payment(T.c, pid, true, NULL, &r), "ReviewPayment");
	assert_replayed("small", r->review_payment->reputation, 7000, 4500);
	fp_response_free(r);
	assert_int_equal(next_replayed(&seen), 1);
	free(pid);
}

/* fairpayctl reputation verify agrees with every stored reputation. */
static void test_verify(void **state)
{
	char *ctl = h_ctl();
	char *db = h_shq(T.w.db);
	char *cmd = h_fmt("%s reputation verify --db %s --vendor %s 2>&1", ctl, db, T.vendor);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0)
		fail_msg("verify exited %d:\n%s", rc, out);
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),         cmocka_unit_test(test_big),
		cmocka_unit_test(test_older_payment), cmocka_unit_test(test_unknown_checkpoints),
		cmocka_unit_test(test_verify),        cmocka_unit_test(test_policy_change),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
