/* Integration tests of GetInsights and SimulatePolicy: exact numbers for a
 * small known history (every Insights field, the histogram's buckets with
 * the 20000 one, reasons, tiers, the window's bounds, the sku filter, two
 * currencies), the what-if of candidate policies (customers, changed, the
 * tier lists, the changes and their order, other excusing reasons and
 * floor), isolation between vendors, bad input that changes nothing, and
 * the time of both calls over a vendor loaded with SQL (printed, not
 * asserted; FP_INSIGHTS_ROWS sets its payments, default 20000). */
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

#include "facts.h"
#include "harness.h"

typedef Fairpay__V1__Response resp_t;

static struct {
	h_world w;    /* db, admin_key, srv, admin */
	fp_client *a; /* the vendor of the known history */
	char *a_id;
	char *a_key;
	fp_client *b;    /* another vendor */
	int64_t t_start; /* before the known history */
	int64_t t_mid;   /* between the first customer's cycles and the rest */
} T;

/* ---------------------------------------------------------------- calls */

static int get_insights(fp_client *c, const char *sku, int64_t from, int64_t to, resp_t **resp)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetInsightsRequest m = FAIRPAY__V1__GET_INSIGHTS_REQUEST__INIT;
	m.sku = (char *)sku;
	m.from_unix_ms = from;
	m.to_unix_ms = to;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_INSIGHTS;
	req.get_insights = &m;
	resp_t *r = NULL;
	int code = h_call(c, &req, &r);
	if (code == H_OK && r->result_case != FAIRPAY__V1__RESPONSE__RESULT_GET_INSIGHTS)
		fail_msg("GetInsights answered OK without its result");
	if (resp != NULL)
		*resp = r;
	else
		fp_response_free(r);
	return code;
}

static int simulate(fp_client *c, Fairpay__V1__Policy *pol, bool set_reasons, resp_t **resp)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__SimulatePolicyRequest m = FAIRPAY__V1__SIMULATE_POLICY_REQUEST__INIT;
	m.policy = pol;
	m.set_excusing_reasons = set_reasons;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SIMULATE_POLICY;
	req.simulate_policy = &m;
	resp_t *r = NULL;
	int code = h_call(c, &req, &r);
	if (code == H_OK && r->result_case != FAIRPAY__V1__RESPONSE__RESULT_SIMULATE_POLICY)
		fail_msg("SimulatePolicy answered OK without its result");
	if (resp != NULL)
		*resp = r;
	else
		fp_response_free(r);
	return code;
}

static void product(fp_client *c, const char *sku, const char *currency, int64_t sp, int64_t list)
{
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = (char *)sku;
	p.name = (char *)sku;
	p.currency = (char *)currency;
	p.suggested_price_minor = sp;
	p.list_price_minor = list;
	h_must(h_put_product(c, &p, NULL), "PutProduct");
}

/* Create, accept and pay an offer with one reason (0: none); returns the
 * malloc'ed payment id. */
static char *cycle(fp_client *c, const char *customer, const char *sku, int64_t amount, int reason)
{
	char *offer = h_offer(c, customer, sku);
	h_accept(c, offer);
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	Fairpay__V1__PaymentReason r = (Fairpay__V1__PaymentReason)reason;
	m.offer_id = offer;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = amount;
	if (reason != 0) {
		m.reasons = &r;
		m.n_reasons = 1;
	}
	resp_t *resp = NULL;
	h_must(h_submit_payment(c, &m, NULL, &resp), "SubmitPayment");
	char *id = strdup(resp->submit_payment->payment->payment_id);
	fp_response_free(resp);
	free(offer);
	return id;
}

/* An accepted offer the sweeper has defaulted (its pay_by moved into the past). */
static char *defaulted(const char *customer, const char *sku)
{
	char *offer = h_offer(T.a, customer, sku);
	h_accept(T.a, offer);
	char *sql = h_fmt("UPDATE offers SET pay_by = now() - interval '1 s'"
			  " WHERE vendor_id = '%s' AND id = '%s'",
			  T.a_id, offer);
	free(h_sql(T.w.db, sql));
	free(sql);
	if (!h_wait_offer_status(T.a, offer, H_STATUS(DEFAULTED), 10000))
		fail_msg("offer %s was not defaulted within 10 s", offer);
	return offer;
}

/* The database's wall clock in Unix milliseconds (h_now_ms is monotonic). */
static int64_t unix_ms(void)
{
	return h_sql_int(T.w.db, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint");
}

static int64_t policy_version(fp_client *c)
{
	resp_t *r = NULL;
	h_must(h_get_policy(c, &r), "GetPolicy");
	int64_t v = r->get_policy->policy->version;
	fp_response_free(r);
	return v;
}

/* ---------------------------------------------------------------- setup */

/* The known history of vendor A (see the expected numbers in the tests):
 *   EUR: eur-bob pays e1 (SP 1000, list 1200) 1000, GREAT_VALUE.
 *   USD, before t_mid: alice pays s1 (SP 1000, list 1500) 1000; s1 500 with
 *     DID_NOT_USE (excused to 8000, then accepted: 10000); s2 (SP 2000, list
 *     2500) 4000 (raw 20000).
 *   USD, after t_mid: zoe pays s1 700 with POOR_QUALITY (7000); declines an
 *     s1 offer; leaves one open; pays s1 300 with TECHNICAL_PROBLEM (3000,
 *     excused to 8000, pending). dave lets two s1 offers default and pays
 *     the first late, 1000 (10000 - 2000 = 8000).
 * Vendor B: one cycle of its own. */
static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_insights", NULL);
	T.a = h_vendor_client(T.w.srv, T.w.admin, "insights-a", &T.a_id, &T.a_key);
	T.b = h_vendor_client(T.w.srv, T.w.admin, "insights-b", NULL, NULL);

	T.t_start = unix_ms();
	product(T.a, "s1", "USD", 1000, 1500);
	product(T.a, "s2", "USD", 2000, 2500);
	product(T.a, "e1", "EUR", 1000, 1200);
	product(T.b, "s1", "USD", 1000, 9999);
	free(cycle(T.b, "alice", "s1", 100, H_PREASON(OTHER)));

	free(cycle(T.a, "eur-bob", "e1", 1000, H_PREASON(GREAT_VALUE)));
	free(cycle(T.a, "alice", "s1", 1000, 0));
	char *excused = cycle(T.a, "alice", "s1", 500, H_PREASON(DID_NOT_USE));
	h_must(h_review_payment(T.a, excused, true, "fine", NULL), "ReviewPayment");
	free(excused);
	free(cycle(T.a, "alice", "s2", 4000, 0));
	h_sleep_ms(20);
	T.t_mid = unix_ms();
	h_sleep_ms(20);
	free(cycle(T.a, "zoe", "s1", 700, H_PREASON(POOR_QUALITY)));
	char *declined = h_offer(T.a, "zoe", "s1");
	h_must(h_decline_offer(T.a, declined, NULL), "DeclineOffer");
	free(declined);
	free(h_offer(T.a, "zoe", "s1"));
	free(cycle(T.a, "zoe", "s1", 300, H_PREASON(TECHNICAL_PROBLEM)));
	char *late = defaulted("dave", "s1");
	char *open_default = defaulted("dave", "s1");
	resp_t *r = NULL;
	h_must(h_pay(T.a, late, 1000, &r), "SubmitPayment (late)");
	assert_true(r->submit_payment->payment->late);
	fp_response_free(r);
	free(late);
	free(open_default);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.a);
	fp_client_free(T.b);
	free(T.a_id);
	free(T.a_key);
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- checks */

/* The Insights of currency in r; fails when absent. */
static const Fairpay__V1__Insights *of(const resp_t *r, const char *currency)
{
	for (size_t i = 0; i < r->get_insights->n_insights; i++)
		if (strcmp(r->get_insights->insights[i]->currency, currency) == 0)
			return r->get_insights->insights[i];
	fail_msg("no Insights for %s", currency);
	return NULL;
}

/* Fail unless the histogram is all zero but the n (bucket, count) pairs. */
static void assert_histogram(const Fairpay__V1__Insights *m, size_t n, ...)
{
	int64_t want[21] = { 0 };
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		int b = va_arg(ap, int);
		want[b] = va_arg(ap, int);
	}
	va_end(ap);
	assert_int_equal(m->n_fairness_histogram, 21);
	for (int b = 0; b < 21; b++)
		if (m->fairness_histogram[b] != want[b])
			fail_msg("%s histogram[%d] = %lld, want %lld", m->currency, b,
				 (long long)m->fairness_histogram[b], (long long)want[b]);
}

/* Fail unless the reasons are exactly the n (reason, count) pairs, in order. */
static void assert_reasons(const Fairpay__V1__Insights *m, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	assert_int_equal(m->n_reasons, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m->reasons[i]->reason, va_arg(ap, int));
		assert_int_equal(m->reasons[i]->payments, va_arg(ap, int));
	}
	va_end(ap);
}

/* Fail unless the TierCount list holds every tier in rank order with these counts. */
static void assert_tiers(Fairpay__V1__TierCount **t, size_t n, int fixed, int restricted,
			 int probation, int standard, int trusted)
{
	int want[] = { fixed, restricted, probation, standard, trusted };
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(t[i]->tier, H_TIER(FIXED_PRICE) + i);
		if (t[i]->customers != want[i])
			fail_msg("tier %d: %lld customers, want %d", t[i]->tier,
				 (long long)t[i]->customers, want[i]);
	}
}

/* ---------------------------------------------------------------- GetInsights */

/* The known history's sums, however they were read. */
static void check_known_history(const resp_t *r)
{
	assert_int_equal(r->get_insights->n_insights, 2);
	/* One per currency, in currency order. */
	assert_string_equal(r->get_insights->insights[0]->currency, "EUR");
	const Fairpay__V1__Insights *u = of(r, "USD");
	assert_int_equal(u->offers_created, 9);
	assert_int_equal(u->offers_accepted, 7);
	assert_int_equal(u->offers_declined, 1);
	assert_int_equal(u->offers_expired, 0);
	assert_int_equal(u->defaults, 2); /* one open, one paid late */
	assert_int_equal(u->payments, 6);
	assert_int_equal(u->late_payments, 1);
	assert_int_equal(u->reviews_pending, 1);
	assert_int_equal(u->paid_minor, 7500);
	assert_int_equal(u->suggested_minor, 7000);
	assert_int_equal(u->list_minor, 10000);
	assert_int_equal(u->at_or_above_sp, 3);
	assert_histogram(u, 4, 7, 1, 8, 2, 10, 2, 20, 1);
	assert_reasons(u, 3, H_PREASON(DID_NOT_USE), 1, H_PREASON(POOR_QUALITY), 1,
		       H_PREASON(TECHNICAL_PROBLEM), 1);
	/* alice 10814 TRUSTED; zoe (2 payments) and dave (1) on probation. */
	assert_tiers(u->tiers, u->n_tiers, 0, 0, 2, 0, 1);
	const Fairpay__V1__Insights *e = of(r, "EUR");
	assert_int_equal(e->offers_created, 1);
	assert_int_equal(e->offers_accepted, 1);
	assert_int_equal(e->defaults, 0);
	assert_int_equal(e->payments, 1);
	assert_int_equal(e->paid_minor, 1000);
	assert_int_equal(e->suggested_minor, 1000);
	assert_int_equal(e->list_minor, 1200);
	assert_int_equal(e->at_or_above_sp, 1);
	assert_histogram(e, 1, 10, 1);
	assert_reasons(e, 1, H_PREASON(GREAT_VALUE), 1);
	assert_tiers(e->tiers, e->n_tiers, 0, 0, 1, 0, 0);
}

static void test_insights_all(void **state)
{
	resp_t *r = NULL;
	assert_int_equal(get_insights(T.a, "", 0, 0, &r), H_OK);
	check_known_history(r);
	fp_response_free(r);
}

/* The three ways to the same sums: the events not folded yet (read at once
 * after the writes, above), the folded sums once the fold has caught up,
 * and the rows themselves (a window of less than two hours is read from
 * the offers and payments). Each server folds, never twice. */
static void test_insights_fold(void **state)
{
	h_server *second = h_server_start(T.w.db, NULL);
	int64_t t0 = h_now_ms();
	while (h_sql_int(T.w.db, "SELECT ((SELECT folded_upto FROM insights_fold) >="
				 " (SELECT max(id) FROM events))::int") != 1) {
		if (h_now_ms() - t0 > 30000)
			fail_msg("the insights fold did not catch up in 30 s");
		h_sleep_ms(50);
	}
	assert_true(h_sql_int(T.w.db, "SELECT count(*) FROM insights_stats") > 0);
	resp_t *r = NULL;
	assert_int_equal(get_insights(T.a, "", 0, 0, &r), H_OK);
	check_known_history(r);
	fp_response_free(r);
	assert_int_equal(get_insights(T.a, "", T.t_start - 1, unix_ms() + 1, &r), H_OK);
	check_known_history(r);
	fp_response_free(r);
	/* Both servers' folds ran a while more: still counted once. */
	h_sleep_ms(2500);
	assert_int_equal(get_insights(T.a, "", 0, 0, &r), H_OK);
	check_known_history(r);
	fp_response_free(r);
	assert_int_equal(h_server_stop(second, SIGTERM), 0);
	h_server_free(second);
}

static void test_insights_window(void **state)
{
	resp_t *r = NULL;
	/* From t_mid on: zoe's and dave's cycles only, no EUR. */
	assert_int_equal(get_insights(T.a, "", T.t_mid, 0, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 1);
	const Fairpay__V1__Insights *u = of(r, "USD");
	assert_int_equal(u->offers_created, 6);
	assert_int_equal(u->offers_accepted, 4);
	assert_int_equal(u->offers_declined, 1);
	assert_int_equal(u->defaults, 2);
	assert_int_equal(u->payments, 3);
	assert_int_equal(u->late_payments, 1);
	assert_int_equal(u->reviews_pending, 1);
	assert_int_equal(u->paid_minor, 2000);
	assert_int_equal(u->suggested_minor, 3000);
	assert_int_equal(u->list_minor, 4500);
	assert_int_equal(u->at_or_above_sp, 1);
	assert_histogram(u, 2, 7, 1, 8, 2);
	assert_reasons(u, 2, H_PREASON(POOR_QUALITY), 1, H_PREASON(TECHNICAL_PROBLEM), 1);
	fp_response_free(r);

	/* Before t_mid: alice's three cycles and eur-bob's. */
	assert_int_equal(get_insights(T.a, "", 0, T.t_mid, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 2);
	u = of(r, "USD");
	assert_int_equal(u->offers_created, 3);
	assert_int_equal(u->payments, 3);
	assert_int_equal(u->paid_minor, 5500);
	assert_int_equal(u->suggested_minor, 4000);
	assert_int_equal(u->list_minor, 5500);
	assert_int_equal(u->at_or_above_sp, 2);
	assert_int_equal(u->reviews_pending, 0);
	assert_histogram(u, 2, 10, 2, 20, 1);
	assert_reasons(u, 1, H_PREASON(DID_NOT_USE), 1);
	assert_int_equal(of(r, "EUR")->payments, 1);
	fp_response_free(r);

	/* A closed window around everything equals the open one; an empty
	 * window (from == to) and one in the future have no currency. */
	int64_t now = unix_ms();
	assert_int_equal(get_insights(T.a, "", 1, now + 3600000, &r), H_OK);
	assert_int_equal(of(r, "USD")->payments, 6);
	assert_int_equal(of(r, "USD")->offers_created, 9);
	assert_int_equal(of(r, "EUR")->payments, 1);
	fp_response_free(r);
	assert_int_equal(get_insights(T.a, "", T.t_mid, T.t_mid, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 0);
	fp_response_free(r);
	assert_int_equal(get_insights(T.a, "", now + 7200000, 0, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 0);
	fp_response_free(r);
}

static void test_insights_sku(void **state)
{
	resp_t *r = NULL;
	assert_int_equal(get_insights(T.a, "s2", 0, 0, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 1);
	const Fairpay__V1__Insights *u = of(r, "USD");
	assert_int_equal(u->offers_created, 1);
	assert_int_equal(u->offers_accepted, 1);
	assert_int_equal(u->payments, 1);
	assert_int_equal(u->paid_minor, 4000);
	assert_int_equal(u->suggested_minor, 2000);
	assert_int_equal(u->list_minor, 2500);
	assert_int_equal(u->at_or_above_sp, 1);
	assert_histogram(u, 1, 20, 1);
	assert_reasons(u, 0);
	/* Tiers are the currency's customers, whatever the product. */
	assert_tiers(u->tiers, u->n_tiers, 0, 0, 2, 0, 1);
	fp_response_free(r);
	assert_int_equal(get_insights(T.a, "e1", 0, 0, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 1);
	assert_int_equal(of(r, "EUR")->list_minor, 1200);
	fp_response_free(r);
}

static void test_insights_isolation_and_bad_input(void **state)
{
	resp_t *r = NULL;
	/* B sees its own cycle only. */
	assert_int_equal(get_insights(T.b, "", 0, 0, &r), H_OK);
	assert_int_equal(r->get_insights->n_insights, 1);
	const Fairpay__V1__Insights *u = of(r, "USD");
	assert_int_equal(u->offers_created, 1);
	assert_int_equal(u->paid_minor, 100);
	assert_int_equal(u->list_minor, 9999);
	assert_reasons(u, 1, H_PREASON(OTHER), 1);
	assert_tiers(u->tiers, u->n_tiers, 0, 0, 1, 0, 0);
	fp_response_free(r);
	/* A's e1 is not B's. */
	assert_int_equal(get_insights(T.b, "e1", 0, 0, NULL), H_NOT_FOUND);
	h_assert_field("sku");
	assert_int_equal(get_insights(T.a, "nope", 0, 0, NULL), H_NOT_FOUND);
	h_assert_field("sku");
	assert_int_equal(get_insights(T.a, "", 2000, 1000, NULL), H_INVALID);
	h_assert_field("to_unix_ms");
	assert_int_equal(get_insights(T.a, "", -5, 0, NULL), H_INVALID);
	h_assert_field("from_unix_ms");
	assert_int_equal(get_insights(T.a, "", INT64_MAX, 0, NULL), H_INVALID);
	h_assert_field("from_unix_ms");
	assert_int_equal(get_insights(T.a, "", 0, INT64_MAX, NULL), H_INVALID);
	h_assert_field("to_unix_ms");
	/* An admin key is refused. */
	assert_int_equal(get_insights(T.w.admin, "", 0, 0, NULL), H_DENIED);
}

/* ---------------------------------------------------------------- SimulatePolicy */

static void assert_change(const Fairpay__V1__CustomerChange *c, const char *id, int now, int cand,
			  int tier_now, int tier_cand)
{
	assert_string_equal(c->customer_id, id);
	assert_int_equal(c->score_now_bp, now);
	assert_int_equal(c->score_candidate_bp, cand);
	assert_int_equal(c->tier_now, tier_now);
	assert_int_equal(c->tier_candidate, tier_cand);
}

static void test_simulate_reasons_and_floor(void **state)
{
	int64_t version = policy_version(T.a);
	/* POOR_QUALITY alone excuses, to 9000; probation after 1 payment.
	 *   alice: reviews kept: 10814, TRUSTED (no change)
	 *   zoe: 7000 -> 9000 (excused), 3000 no longer excused:
	 *        8000 -> 8300 -> 6710 RESTRICTED (now 7790 PROBATION)
	 *   eur-bob: 8600, 1 payment: STANDARD (now PROBATION)
	 *   dave: default 0, late 10000 - 2000: 6320, RESTRICTED (now PROBATION) */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason reasons[] = { H_PREASON(POOR_QUALITY) };
	pol.excusing_reasons = reasons;
	pol.n_excusing_reasons = 1;
	H_POLICY_SET(&pol, excused_floor_bp, EXCUSED_FLOOR_BP, 9000);
	H_POLICY_SET(&pol, probation_payments, PROBATION_PAYMENTS, 1);
	resp_t *r = NULL;
	assert_int_equal(simulate(T.a, &pol, true, &r), H_OK);
	const Fairpay__V1__SimulatePolicyResponse *s = r->simulate_policy;
	assert_int_equal(s->customers, 4);
	assert_int_equal(s->changed, 3);
	assert_tiers(s->tiers_now, s->n_tiers_now, 0, 0, 3, 0, 1);
	assert_tiers(s->tiers_candidate, s->n_tiers_candidate, 0, 2, 0, 1, 1);
	assert_int_equal(s->n_changes, 3);
	assert_change(s->changes[0], "zoe", 7790, 6710, H_TIER(PROBATION), H_TIER(RESTRICTED));
	/* Same score change (0) and tier change (1): by customer_id. */
	assert_change(s->changes[1], "dave", 6320, 6320, H_TIER(PROBATION), H_TIER(RESTRICTED));
	assert_change(s->changes[2], "eur-bob", 8600, 8600, H_TIER(PROBATION), H_TIER(STANDARD));
	fp_response_free(r);
	/* Nothing changed. */
	assert_int_equal(policy_version(T.a), version);
	r = h_reputation(T.a, "zoe");
	assert_int_equal(r->get_reputation->reputation->score_bp, 7790);
	assert_int_equal(r->get_reputation->reputation->tier, H_TIER(PROBATION));
	fp_response_free(r);
}

static void test_simulate_alpha_order(void **state)
{
	/* alpha 5000: alice 8000 -> 9000 -> 9500 -> 12250; eur-bob 9000;
	 * dave 8000 -> 4000 -> 6000; zoe 8000 -> 7500 -> 7750 (still excused). */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, alpha_bp, ALPHA_BP, 5000);
	resp_t *r = NULL;
	assert_int_equal(simulate(T.a, &pol, false, &r), H_OK);
	const Fairpay__V1__SimulatePolicyResponse *s = r->simulate_policy;
	assert_int_equal(s->customers, 4);
	assert_int_equal(s->changed, 0);
	assert_tiers(s->tiers_candidate, s->n_tiers_candidate, 0, 0, 3, 0, 1);
	assert_int_equal(s->n_changes, 4);
	assert_change(s->changes[0], "alice", 10814, 12250, H_TIER(TRUSTED), H_TIER(TRUSTED));
	assert_change(s->changes[1], "eur-bob", 8600, 9000, H_TIER(PROBATION), H_TIER(PROBATION));
	assert_change(s->changes[2], "dave", 6320, 6000, H_TIER(PROBATION), H_TIER(PROBATION));
	assert_change(s->changes[3], "zoe", 7790, 7750, H_TIER(PROBATION), H_TIER(PROBATION));
	fp_response_free(r);
	/* The current policy itself changes nobody. */
	Fairpay__V1__Policy none = FAIRPAY__V1__POLICY__INIT;
	assert_int_equal(simulate(T.a, &none, false, &r), H_OK);
	assert_int_equal(r->simulate_policy->customers, 4);
	assert_int_equal(r->simulate_policy->changed, 0);
	assert_int_equal(r->simulate_policy->n_changes, 0);
	fp_response_free(r);
	/* B's one customer only. */
	assert_int_equal(simulate(T.b, &pol, false, &r), H_OK);
	assert_int_equal(r->simulate_policy->customers, 1);
	assert_int_equal(r->simulate_policy->n_changes, 1);
	assert_string_equal(r->simulate_policy->changes[0]->customer_id, "alice");
	fp_response_free(r);
}

static void test_simulate_invalid(void **state)
{
	int64_t version = policy_version(T.a);
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, low_score_bp, LOW_SCORE_BP, 9500); /* above fair_score_bp */
	assert_int_equal(simulate(T.a, &pol, false, NULL), H_INVALID);
	h_assert_field("policy.low_score_bp");
	Fairpay__V1__Policy bad_alpha = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&bad_alpha, alpha_bp, ALPHA_BP, 0);
	assert_int_equal(simulate(T.a, &bad_alpha, false, NULL), H_INVALID);
	h_assert_field("policy.alpha_bp");
	Fairpay__V1__Policy bad_reason = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason unknown[] = { (Fairpay__V1__PaymentReason)99 };
	bad_reason.excusing_reasons = unknown;
	bad_reason.n_excusing_reasons = 1;
	assert_int_equal(simulate(T.a, &bad_reason, true, NULL), H_INVALID);
	assert_int_equal(simulate(T.a, NULL, false, NULL), H_INVALID);
	h_assert_field("policy");
	assert_int_equal(policy_version(T.a), version);
}

/* ---------------------------------------------------------------- fairpayctl */

static void test_ctl(void **state)
{
	char *ctl = h_ctl();
	char *ca = h_path(h_certs_dir(), "ca.pem");
	char *qca = h_shq(ca);
	char *qkey = h_shq(T.a_key);
	char *cli = h_fmt("%s --server %s --ca %s --api-key %s", ctl, T.w.srv->addr, qca, qkey);
	char *svg = h_path(h_tmp_dir(), "insights.svg");
	char *qsvg = h_shq(svg);
	char *out = NULL;

	assert_int_equal(h_runf(&out, "%s insights --svg %s", cli, qsvg), 0);
	assert_true(h_contains(out, "currency: EUR"));
	assert_true(h_contains(out, "currency: USD"));
	assert_true(h_contains(
		out, "offers: 9 created, 7 accepted, 1 declined, 0 expired, 2 defaulted"));
	assert_true(h_contains(out, "payments: 6 (1 late, 1 waiting for review), 3 at or above"
				    " the suggested price (50.0%)"));
	assert_true(h_contains(out, "paid: 75.00 USD"));
	assert_true(h_contains(out, "suggested: 70.00 USD (paid 107.1% of it)"));
	assert_true(h_contains(out, "list: 100.00 USD (paid 75.0% of it"));
	/* The largest USD buckets (8000-8999 and 10000-10999: 2 each) get the
	 * full bar, the 20000 one half of it. */
	assert_true(h_contains(out, "    8000-8999 |######################################## 2\n"));
	assert_true(h_contains(out, "        20000 |####################                     1\n"));
	assert_true(h_contains(out, "  TECHNICAL_PROBLEM  1"));
	assert_true(h_contains(out, "  TRUSTED            1"));
	free(out);
	char *doc = NULL;
	assert_int_equal(h_runf(&doc, "cat %s", qsvg), 0);
	assert_true(h_contains(doc, "<svg"));
	assert_true(h_contains(doc, "Revenue (USD)"));
	free(doc);

	assert_int_equal(h_runf(&out, "%s insights --json --sku s2", cli), 0);
	assert_true(h_contains(out, "{\"insights\":[{\"currency\":\"USD\",\"offers_created\":1,"));
	assert_true(h_contains(out,
			       "\"paid_minor\":4000,\"suggested_minor\":2000,\"list_minor\":2500"));
	assert_true(h_contains(
		out, "\"fairness_histogram\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]"));
	assert_true(h_contains(out, "{\"tier\":\"TRUSTED\",\"customers\":1}"));
	free(out);
	assert_int_equal(
		h_runf(&out, "%s insights --from 2020-01-01 --to 2020-01-02T00:00:00Z", cli), 0);
	assert_true(h_contains(out, "no offers in this period"));
	free(out);
	assert_int_equal(h_runf(NULL, "%s insights --from 2021-01-01 --to 2020-01-01", cli), 2);
	assert_int_equal(h_runf(NULL, "%s insights --from yesterday", cli), 2);
	assert_int_equal(h_runf(NULL, "%s insights --sku nope", cli), 1);

	assert_int_equal(h_runf(&out, "%s policy simulate alpha_bp=5000", cli), 0);
	assert_true(h_contains(out, "customers: 4\nchanged tier: 0\n"));
	assert_true(h_contains(out, "alice"));
	assert_true(h_contains(out, "12250"));
	/* Largest score change first. */
	assert_true(strstr(out, "alice") < strstr(out, "eur-bob"));
	assert_true(strstr(out, "dave") < strstr(out, "zoe"));
	free(out);
	assert_int_equal(h_runf(&out,
				"%s policy simulate --json excusing_reasons=POOR_QUALITY"
				" excused_floor_bp=9000 probation_payments=1",
				cli),
			 0);
	assert_true(h_contains(out, "{\"customers\":4,\"changed\":3,"));
	assert_true(h_contains(out, "\"changes\":[{\"customer_id\":\"zoe\",\"score_now_bp\":7790,"
				    "\"score_candidate_bp\":6710,\"tier_now\":\"PROBATION\","
				    "\"tier_candidate\":\"RESTRICTED\"}"));
	free(out);
	assert_int_equal(h_runf(NULL, "%s policy simulate low_score_bp=9500", cli), 1);
	assert_int_equal(h_runf(NULL, "%s policy simulate", cli), 2);

	free(qsvg);
	free(svg);
	free(cli);
	free(qkey);
	free(qca);
	free(ca);
	free(ctl);
}

/* ---------------------------------------------------------------- scale */

#define SCALE_CHUNK 50000LL

/* A vendor loaded with SQL: FP_INSIGHTS_ROWS payments over 1/20 as many
 * customers, spread over 30 days; both calls timed (printed). The counts
 * are asserted: several pages of customers and of history. */
static void test_scale(void **state)
{
	const char *env = getenv("FP_INSIGHTS_ROWS");
	long long n = env ? atoll(env) : 20000;
	long long customers = n / 20 > 0 ? n / 20 : 1;
	char *vid = NULL;
	char *key = NULL;
	fp_client *setup_c = h_vendor_client(T.w.srv, T.w.admin, "insights-scale", &vid, &key);
	product(setup_c, "big", "USD", 1000, 1500);
	fp_client_free(setup_c);
	char *sql = h_fmt(
		"INSERT INTO reputations (vendor_id, customer_id, score_bp, payments, currency)"
		" SELECT '%s', 'c' || g, 8000, %lld / %lld, 'USD' FROM generate_series(1, %lld) g",
		vid, n, customers, customers);
	free(h_sql(T.w.db, sql));
	free(sql);
	/* In chunks, as a bulk import would (session_replication_role skips
	 * the checks), each cycle with one event carrying what the server
	 * would have stored for it (facts.h): the fold sums them. */
	int64_t l0 = h_now_ms();
	for (long long lo = 1; lo <= n; lo += SCALE_CHUNK) {
		long long hi = lo + SCALE_CHUNK - 1 < n ? lo + SCALE_CHUNK - 1 : n;
		sql = h_fmt(
			"SET session_replication_role = replica;"
			"INSERT INTO offers (vendor_id, id, customer_id, sku, status, mode,"
			" currency, suggested_price_minor, tier, created_at, expires_at,"
			" accepted_at, closed_at, list_price_minor)"
			" SELECT '%s', 'o_' || lpad(to_hex(g), 16, '0'), 'c' || (g %% %lld + 1), "
			"'big',"
			" 'PAID', 'FAIRPAY', 'USD', 1000, 'STANDARD', now() - g * interval '2 s',"
			" now() - g * interval '2 s' + interval '1 day', now() - g * interval '2 "
			"s',"
			" now() - g * interval '2 s', 1500 FROM generate_series(%lld, %lld) g;"
			"INSERT INTO payments (vendor_id, id, offer_id, customer_id, amount_minor,"
			" currency, suggested_price_minor, reasons, fairness_bp, raw_fairness_bp,"
			" verdict, created_at)"
			" SELECT '%s', 'p_' || lpad(to_hex(g), 16, '0'), 'o_' || lpad(to_hex(g), "
			"16, '0'),"
			" 'c' || (g %% %lld + 1), (g %% 21) * 100, 'USD', 1000,"
			" CASE WHEN g %% 7 = 0 THEN '{CANNOT_AFFORD}'::text[] ELSE '{}' END,"
			" (g %% 21) * 1000, (g %% 21) * 1000, 'FAIR',"
			" now() - g * interval '2 s' + interval '1 s' FROM generate_series(%lld, "
			"%lld) g;"
			"INSERT INTO events (vendor_id, customer_id, kind, offer_id, payment_id,"
			" insights)"
			" SELECT '%s', 'c' || (g %% %lld + 1), 'PAYMENT_RECEIVED',"
			" 'o_' || lpad(to_hex(g), 16, '0'), 'p_' || lpad(to_hex(g), 16, '0'),"
			" ARRAY[%d, 1, %d, 1, %d, 1, %d, (g %% 21) * 100, %d, 1000, %d, 1500,"
			"  %d + g %% 21, 1]::bigint[]"
			" || CASE WHEN g %% 21 >= 10 THEN ARRAY[%d, 1]::bigint[] ELSE '{}' END"
			" || CASE WHEN g %% 7 = 0 THEN ARRAY[%d, 1]::bigint[] ELSE '{}' END"
			" FROM generate_series(%lld, %lld) g",
			vid, customers, lo, hi, vid, customers, lo, hi, vid, customers,
			FACTS_OFFERS_CREATED, FACTS_OFFERS_ACCEPTED, FACTS_PAYMENTS,
			FACTS_PAID_MINOR, FACTS_SUGGESTED_MINOR, FACTS_LIST_MINOR,
			FACTS_HISTOGRAM_0, FACTS_AT_OR_ABOVE_SP,
			FACTS_REASON_0 + FP_PAYMENT_REASON_CANNOT_AFFORD, lo, hi);
		free(h_sql(T.w.db, sql));
		free(sql);
	}
	printf("insights: loaded %lld offers and payments in %lld ms\n", n,
	       (long long)(h_now_ms() - l0));
	free(h_sql(T.w.db,
		   "ANALYZE offers; ANALYZE payments; ANALYZE reputations; ANALYZE events"));
	/* The server's fold catches up by itself (fold.h). */
	int64_t f0 = h_now_ms();
	while (h_sql_int(T.w.db, "SELECT ((SELECT folded_upto FROM insights_fold) >="
				 " (SELECT max(id) FROM events))::int") != 1) {
		if (h_now_ms() - f0 > 600000)
			fail_msg("the insights fold did not catch up in ten minutes");
		h_sleep_ms(100);
	}
	printf("insights: folded %lld events in %lld ms\n", n, (long long)(h_now_ms() - f0));
	free(h_sql(T.w.db, "ANALYZE insights_stats"));

	/* Connected after the load (an idle connection is closed), and waiting
	 * up to ten minutes for a reply: a million payments' replay takes
	 * longer than the harness's read timeout on a busy machine. */
	fp_client_options opts = *h_client_options();
	opts.timeout_ms = 600000;
	fp_client *c = NULL;
	char err[256];
	if (h_try_connect(T.w.srv->port, &opts, &c, err, sizeof(err)) != 0)
		fail_msg("connect: %s", err);
	h_must(h_auth(c, key, NULL, NULL), "Authenticate");

	resp_t *r = NULL;
	int64_t t0 = h_now_ms();
	assert_int_equal(get_insights(c, "", 0, 0, &r), H_OK);
	int64_t t1 = h_now_ms();
	assert_int_equal(of(r, "USD")->payments, n);
	assert_int_equal(of(r, "USD")->offers_created, n);
	/* Every 21st payment is in each bucket. */
	assert_int_equal(of(r, "USD")->fairness_histogram[20], n / 21);
	fp_response_free(r);
	int64_t t2 = h_now_ms();
	assert_int_equal(
		get_insights(c, "", unix_ms() - 86400000LL * 3 - 1234, unix_ms() - 4321, &r), H_OK);
	int64_t t3 = h_now_ms();
	fp_response_free(r);

	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason reasons[] = { H_PREASON(CANNOT_AFFORD) };
	pol.excusing_reasons = reasons;
	pol.n_excusing_reasons = 1;
	int64_t t4 = h_now_ms();
	assert_int_equal(simulate(c, &pol, true, &r), H_OK);
	int64_t t5 = h_now_ms();
	assert_int_equal(r->simulate_policy->customers, customers);
	assert_true(r->simulate_policy->n_changes > 0 && r->simulate_policy->n_changes <= 100);
	/* Largest score change first. */
	for (size_t i = 1; i < r->simulate_policy->n_changes; i++) {
		const Fairpay__V1__CustomerChange *p = r->simulate_policy->changes[i - 1];
		const Fairpay__V1__CustomerChange *q = r->simulate_policy->changes[i];
		assert_true(labs((long)p->score_candidate_bp - p->score_now_bp) >=
			    labs((long)q->score_candidate_bp - q->score_now_bp));
	}
	fp_response_free(r);
	printf("insights: %lld payments, %lld customers: GetInsights all %lld ms, 3 days %lld ms;"
	       " SimulatePolicy %lld ms (%.0f payments/s end to end)\n",
	       n, customers, (long long)(t1 - t0), (long long)(t3 - t2), (long long)(t5 - t4),
	       t5 > t4 ? (double)n * 1000.0 / (double)(t5 - t4) : 0.0);
	fp_client_free(c);
	free(key);
	free(vid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insights_all),
		cmocka_unit_test(test_insights_fold),
		cmocka_unit_test(test_insights_window),
		cmocka_unit_test(test_insights_sku),
		cmocka_unit_test(test_insights_isolation_and_bad_input),
		cmocka_unit_test(test_simulate_reasons_and_floor),
		cmocka_unit_test(test_simulate_alpha_order),
		cmocka_unit_test(test_simulate_invalid),
		cmocka_unit_test(test_ctl),
		cmocka_unit_test(test_scale),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
