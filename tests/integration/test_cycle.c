/* Integration tests of the FairPay cycle with well-formed requests: products,
 * policies, offers, payments, reviews, reputations and the event ledger, each
 * checked against numbers worked out by hand from PROTOCOL.md's rules 1-13.
 *
 * Every test makes its own vendor, so that each starts from the default
 * policy and a clean history. Score arithmetic in the comments is rule 7 with
 * the default alpha 3000: score + (min(f, 15000) - score) * 3000 / 10000,
 * truncated toward zero. */
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
#include <time.h>

#include "harness.h"

static struct {
	h_world w; /* db, admin_key, srv, admin */
} T;

typedef Fairpay__V1__Response resp_t;

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A new vendor (default policy) and a client for it. */
static fp_client *vendor(const char *name, char **vendor_id)
{
	return h_vendor_client(T.w.srv, T.w.admin, name, vendor_id, NULL);
}

static void product(fp_client *c, const char *sku, int64_t sp, int64_t list, int64_t minimum,
		    int min_tier, int period_days, int64_t unit_price)
{
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = (char *)sku;
	p.name = (char *)sku;
	p.currency = "USD";
	p.suggested_price_minor = sp;
	p.list_price_minor = list;
	p.minimum_price_minor = minimum;
	p.min_tier = (Fairpay__V1__Tier)min_tier;
	p.period_days = period_days;
	p.unit_price_minor = unit_price;
	h_must(h_put_product(c, &p, NULL), "PutProduct");
}

/* CreateOffer that must answer OK. */
static resp_t *create(fp_client *c, const char *customer, const char *sku,
		      const Fairpay__V1__OfferOverrides *ov)
{
	resp_t *r = NULL;
	h_must(h_create_offer(c, customer, sku, ov, &r), "CreateOffer");
	assert_non_null(r->create_offer->offer);
	return r;
}

static resp_t *accept(fp_client *c, const char *offer_id)
{
	resp_t *r = NULL;
	h_must(h_accept_offer(c, offer_id, &r), "AcceptOffer");
	assert_non_null(r->accept_offer->offer);
	return r;
}

static resp_t *pay(fp_client *c, const char *offer_id, int64_t amount)
{
	resp_t *r = NULL;
	h_must(h_pay(c, offer_id, amount, &r), "SubmitPayment");
	assert_non_null(r->submit_payment->payment);
	assert_non_null(r->submit_payment->reputation);
	return r;
}

static resp_t *pay_diff(fp_client *c, const char *offer_id, int32_t diff)
{
	resp_t *r = NULL;
	h_must(h_pay_differential(c, offer_id, diff, &r), "SubmitPayment");
	assert_non_null(r->submit_payment->payment);
	return r;
}

/* SubmitPayment with usage, reasons and a note. */
static int pay_full(fp_client *c, const char *offer_id, int64_t amount, int64_t usage,
		    const Fairpay__V1__PaymentReason *reasons, size_t n_reasons, const char *note,
		    resp_t **r)
{
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = amount;
	m.usage_units = usage;
	m.reasons = (Fairpay__V1__PaymentReason *)reasons;
	m.n_reasons = n_reasons;
	if (note != NULL)
		m.note = (char *)note;
	return h_submit_payment(c, &m, NULL, r);
}

/* Create, accept and pay amount; returns the payment's reply. */
static resp_t *cycle(fp_client *c, const char *customer, const char *sku, int64_t amount)
{
	return h_cycle(c, customer, sku, amount);
}

/* Create, accept and pay by differential. */
static resp_t *cycle_diff(fp_client *c, const char *customer, const char *sku, int32_t diff)
{
	char *id = h_offer(c, customer, sku);
	h_accept(c, id);
	resp_t *r = pay_diff(c, id, diff);
	free(id);
	return r;
}

/* Fail at the caller's line, naming the field and both values in decimal. */
#define CHECK(line, what, got, want)                                                         \
	do {                                                                                 \
		long long got_ = (long long)(got), want_ = (long long)(want);                \
		if (got_ != want_)                                                           \
			fail_msg("line %d: %s is %lld, want %lld", line, what, got_, want_); \
	} while (0)

static void check_payment(int line, const Fairpay__V1__Payment *p, int64_t amount, int64_t sp,
			  int32_t raw, int32_t fairness, int verdict, int review, bool late)
{
	CHECK(line, "payment amount_minor", p->amount_minor, amount);
	CHECK(line, "payment suggested_price_minor", p->suggested_price_minor, sp);
	CHECK(line, "payment raw_fairness_bp", p->raw_fairness_bp, raw);
	CHECK(line, "payment fairness_bp", p->fairness_bp, fairness);
	CHECK(line, "payment verdict", p->verdict, verdict);
	CHECK(line, "payment review", p->review, review);
	CHECK(line, "payment late", p->late, late);
}

#define assert_payment(...) check_payment(__LINE__, __VA_ARGS__)

/* The score, tier and payments of a reputation. */
static void check_standing(int line, const Fairpay__V1__Reputation *r, int32_t score, int tier,
			   int32_t payments)
{
	CHECK(line, "score_bp", r->score_bp, score);
	CHECK(line, "tier", r->tier, tier);
	CHECK(line, "payments", r->payments, payments);
}

#define assert_standing(...) check_standing(__LINE__, __VA_ARGS__)

static void check_rep_score(int line, fp_client *c, const char *customer, int32_t score, int tier,
			    int32_t payments)
{
	resp_t *r = h_reputation(c, customer);
	check_standing(line, r->get_reputation->reputation, score, tier, payments);
	fp_response_free(r);
}

#define assert_rep_score(...) check_rep_score(__LINE__, __VA_ARGS__)

static long long count(const char *fmt, const char *a, const char *b)
{
	char *sql = h_fmt(fmt, a, b);
	long long n = h_sql_int(T.w.db, sql);
	free(sql);
	return n;
}

/* Payments recorded for one offer. */
static long long payments_of(const char *vendor_id, const char *offer_id)
{
	return count("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND offer_id = '%s'",
		     vendor_id, offer_id);
}

static int offer_status(fp_client *c, const char *offer_id)
{
	resp_t *r = NULL;
	h_must(h_get_offer(c, offer_id, &r), "GetOffer");
	int st = (int)r->get_offer->offer->status;
	fp_response_free(r);
	return st;
}

static bool explanation_has(const Fairpay__V1__Reputation *r, const char *needle)
{
	for (size_t i = 0; i < r->n_explanation; i++)
		if (h_contains(r->explanation[i], needle))
			return true;
	return false;
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_cycle", NULL);
	return 0;
}

static int teardown(void **state)
{
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- products */

static void test_products(void **state)
{
	char *vid = NULL, *other_vid = NULL;
	fp_client *c = vendor("products", &vid);
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = "tea-1.green_L";
	p.name = "Green tea";
	p.currency = "EUR";
	p.suggested_price_minor = 450;
	p.unit_price_minor = 3;
	p.list_price_minor = 500;
	p.minimum_price_minor = 100;
	p.min_tier = H_TIER(STANDARD);
	p.period_days = 30;
	resp_t *r = NULL;
	h_assert_code(h_put_product(c, &p, &r), H_OK);
	assert_true(r->put_product->created);
	Fairpay__V1__Product *got = r->put_product->product;
	assert_string_equal(got->sku, "tea-1.green_L");
	assert_string_equal(got->name, "Green tea");
	assert_string_equal(got->currency, "EUR");
	assert_int_equal(got->suggested_price_minor, 450);
	assert_int_equal(got->unit_price_minor, 3);
	assert_int_equal(got->list_price_minor, 500);
	assert_int_equal(got->minimum_price_minor, 100);
	assert_int_equal(got->min_tier, H_TIER(STANDARD));
	assert_int_equal(got->period_days, 30);
	assert_int_equal(got->version, 1);
	fp_response_free(r);

	/* The same sku again updates it: not created, version 2. */
	p.name = "Green tea, large";
	p.suggested_price_minor = 650;
	p.min_tier = 0; /* unspecified means RESTRICTED */
	h_assert_code(h_put_product(c, &p, &r), H_OK);
	assert_false(r->put_product->created);
	assert_int_equal(r->put_product->product->version, 2);
	assert_int_equal(r->put_product->product->suggested_price_minor, 650);
	fp_response_free(r);

	h_assert_code(h_get_product(c, "tea-1.green_L", &r), H_OK);
	got = r->get_product->product;
	assert_string_equal(got->name, "Green tea, large");
	assert_int_equal(got->suggested_price_minor, 650);
	assert_int_equal(got->min_tier, H_TIER(RESTRICTED));
	assert_int_equal(got->version, 2);
	fp_response_free(r);
	assert_int_equal(
		count("SELECT count(*) FROM products WHERE vendor_id = '%s' AND sku = '%s'", vid,
		      "tea-1.green_L"),
		1);

	h_assert_code(h_get_product(c, "no-such-sku", NULL), H_NOT_FOUND);
	h_assert_field("sku");

	/* Another vendor sees nothing of it, and has its own namespace. */
	fp_client *o = vendor("products other", &other_vid);
	h_assert_code(h_get_product(o, "tea-1.green_L", NULL), H_NOT_FOUND);
	h_assert_field("sku");
	h_assert_code(h_create_offer(o, "cust", "tea-1.green_L", NULL, NULL), H_NOT_FOUND);
	h_assert_field("sku");
	assert_int_equal(count("SELECT count(*) FROM offers WHERE vendor_id IN ('%s', '%s')", vid,
			       other_vid),
			 0);
	p.name = "Other tea";
	h_assert_code(h_put_product(o, &p, &r), H_OK);
	assert_true(r->put_product->created);
	assert_int_equal(r->put_product->product->version, 1);
	fp_response_free(r);
	h_assert_code(h_get_product(c, "tea-1.green_L", &r), H_OK);
	assert_string_equal(r->get_product->product->name, "Green tea, large");
	fp_response_free(r);

	fp_client_free(o);
	fp_client_free(c);
	free(vid);
	free(other_vid);
}

static void test_list_products(void **state)
{
	fp_client *c = vendor("list products", NULL);
	fp_client *o = vendor("list products other", NULL);
	/* Inserted out of order; listed by sku. */
	for (int i = 24; i >= 0; i--) {
		char sku[16];
		snprintf(sku, sizeof(sku), "sku-%02d", i);
		h_product(c, sku, 100 + i, 200);
	}
	h_product(o, "sku-00x", 1, 1); /* another vendor's: never listed */

	char seen[25] = { 0 };
	int total = 0, pages = 0;
	char token[80] = "";
	do {
		resp_t *r = NULL;
		h_assert_code(h_list_products(c, token, 10, &r), H_OK);
		Fairpay__V1__ListProductsResponse *l = r->list_products;
		pages++;
		assert_true(l->n_products == (pages < 3 ? 10u : 5u));
		for (size_t i = 0; i < l->n_products; i++) {
			int n = -1;
			if (sscanf(l->products[i]->sku, "sku-%d", &n) != 1 || n < 0 || n > 24 ||
			    strlen(l->products[i]->sku) != 6)
				fail_msg("unexpected sku '%s'", l->products[i]->sku);
			if (seen[n])
				fail_msg("sku %s listed twice", l->products[i]->sku);
			/* In order: page p holds skus 10(p-1) .. */
			assert_int_equal(n, total);
			assert_int_equal(l->products[i]->suggested_price_minor, 100 + n);
			seen[n] = 1;
			total++;
		}
		if (pages < 3)
			assert_string_not_equal(l->next_page_token, "");
		else
			assert_string_equal(l->next_page_token, "");
		snprintf(token, sizeof(token), "%s", l->next_page_token);
		fp_response_free(r);
	} while (token[0] != '\0' && pages < 10);
	assert_int_equal(pages, 3);
	assert_int_equal(total, 25);

	/* limit 0 means 100: everything on one page. */
	resp_t *r = NULL;
	h_assert_code(h_list_products(c, NULL, 0, &r), H_OK);
	assert_int_equal(r->list_products->n_products, 25);
	assert_string_equal(r->list_products->next_page_token, "");
	fp_response_free(r);
	fp_client_free(o);
	fp_client_free(c);
}

/* ---------------------------------------------------------------- policy */

static void assert_default_policy(const Fairpay__V1__Policy *p)
{
	/* Every scalar field is present (proto3 optional) with PROTOCOL.md's default. */
	assert_int_equal(p->opt_enforcement_case, FAIRPAY__V1__POLICY__OPT_ENFORCEMENT_ENFORCEMENT);
	assert_int_equal(p->enforcement, H_ENFORCEMENT(ENFORCE));
	assert_int_equal(p->opt_prior_score_bp_case,
			 FAIRPAY__V1__POLICY__OPT_PRIOR_SCORE_BP_PRIOR_SCORE_BP);
	assert_int_equal(p->prior_score_bp, 8000);
	assert_int_equal(p->opt_alpha_bp_case, FAIRPAY__V1__POLICY__OPT_ALPHA_BP_ALPHA_BP);
	assert_int_equal(p->alpha_bp, 3000);
	assert_int_equal(p->opt_probation_payments_case,
			 FAIRPAY__V1__POLICY__OPT_PROBATION_PAYMENTS_PROBATION_PAYMENTS);
	assert_int_equal(p->probation_payments, 3);
	assert_int_equal(p->opt_trusted_score_bp_case,
			 FAIRPAY__V1__POLICY__OPT_TRUSTED_SCORE_BP_TRUSTED_SCORE_BP);
	assert_int_equal(p->trusted_score_bp, 9000);
	assert_int_equal(p->opt_fair_score_bp_case,
			 FAIRPAY__V1__POLICY__OPT_FAIR_SCORE_BP_FAIR_SCORE_BP);
	assert_int_equal(p->fair_score_bp, 8000);
	assert_int_equal(p->opt_low_score_bp_case,
			 FAIRPAY__V1__POLICY__OPT_LOW_SCORE_BP_LOW_SCORE_BP);
	assert_int_equal(p->low_score_bp, 5000);
	assert_int_equal(p->opt_generous_bp_case, FAIRPAY__V1__POLICY__OPT_GENEROUS_BP_GENEROUS_BP);
	assert_int_equal(p->generous_bp, 11000);
	assert_int_equal(p->opt_max_open_defaults_case,
			 FAIRPAY__V1__POLICY__OPT_MAX_OPEN_DEFAULTS_MAX_OPEN_DEFAULTS);
	assert_int_equal(p->max_open_defaults, 2);
	assert_int_equal(p->opt_restricted_minimum_bp_case,
			 FAIRPAY__V1__POLICY__OPT_RESTRICTED_MINIMUM_BP_RESTRICTED_MINIMUM_BP);
	assert_int_equal(p->restricted_minimum_bp, 5000);
	assert_int_equal(p->opt_probation_credit_minor_case,
			 FAIRPAY__V1__POLICY__OPT_PROBATION_CREDIT_MINOR_PROBATION_CREDIT_MINOR);
	assert_int_equal(p->probation_credit_minor, 2000);
	assert_int_equal(p->opt_standard_credit_minor_case,
			 FAIRPAY__V1__POLICY__OPT_STANDARD_CREDIT_MINOR_STANDARD_CREDIT_MINOR);
	assert_int_equal(p->standard_credit_minor, 10000);
	assert_int_equal(p->opt_trusted_credit_minor_case,
			 FAIRPAY__V1__POLICY__OPT_TRUSTED_CREDIT_MINOR_TRUSTED_CREDIT_MINOR);
	assert_int_equal(p->trusted_credit_minor, 50000);
	assert_int_equal(p->opt_excused_floor_bp_case,
			 FAIRPAY__V1__POLICY__OPT_EXCUSED_FLOOR_BP_EXCUSED_FLOOR_BP);
	assert_int_equal(p->excused_floor_bp, 8000);
	assert_int_equal(p->opt_late_penalty_bp_case,
			 FAIRPAY__V1__POLICY__OPT_LATE_PENALTY_BP_LATE_PENALTY_BP);
	assert_int_equal(p->late_penalty_bp, 2000);
	assert_int_equal(p->opt_offer_ttl_seconds_case,
			 FAIRPAY__V1__POLICY__OPT_OFFER_TTL_SECONDS_OFFER_TTL_SECONDS);
	assert_int_equal(p->offer_ttl_seconds, 86400);
	assert_int_equal(p->opt_payment_window_seconds_case,
			 FAIRPAY__V1__POLICY__OPT_PAYMENT_WINDOW_SECONDS_PAYMENT_WINDOW_SECONDS);
	assert_int_equal(p->payment_window_seconds, 1209600);
	/* DID_NOT_USE, TECHNICAL_PROBLEM, NOT_AS_DESCRIBED, in any order. */
	assert_int_equal(p->n_excusing_reasons, 3);
	unsigned mask = 0;
	for (size_t i = 0; i < p->n_excusing_reasons; i++)
		mask |= 1u << (unsigned)p->excusing_reasons[i];
	assert_int_equal(mask, (1u << H_PREASON(DID_NOT_USE)) |
				       (1u << H_PREASON(TECHNICAL_PROBLEM)) |
				       (1u << H_PREASON(NOT_AS_DESCRIBED)));
}

static void test_policy_defaults(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("policy defaults", &vid);
	resp_t *r = NULL;
	h_assert_code(h_get_policy(c, &r), H_OK);
	assert_default_policy(r->get_policy->policy);
	assert_int_equal(r->get_policy->policy->version, 0);
	fp_response_free(r);
	/* Reading the defaults stores nothing. */
	assert_int_equal(count("SELECT count(*) FROM policies WHERE vendor_id = '%s'%s", vid, ""),
			 0);
	fp_client_free(c);
	free(vid);
}

static unsigned reasons_mask(const Fairpay__V1__Policy *p)
{
	unsigned mask = 0;
	for (size_t i = 0; i < p->n_excusing_reasons; i++)
		mask |= 1u << (unsigned)p->excusing_reasons[i];
	return mask;
}

static void test_policy_partial_update(void **state)
{
	fp_client *c = vendor("policy partial", NULL);
	resp_t *r = NULL;

	Fairpay__V1__Policy p1 = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&p1, alpha_bp, ALPHA_BP, 5000);
	h_assert_code(h_put_policy(c, &p1, false, &r), H_OK);
	Fairpay__V1__Policy *got = r->put_policy->policy;
	assert_int_equal(got->alpha_bp, 5000);
	assert_int_equal(got->version, 1);
	assert_int_equal(got->prior_score_bp, 8000);
	assert_int_equal(got->probation_payments, 3);
	assert_int_equal(got->n_excusing_reasons, 3);
	fp_response_free(r);

	/* A second partial update keeps the first. */
	Fairpay__V1__Policy p2 = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&p2, probation_payments, PROBATION_PAYMENTS, 5);
	H_POLICY_SET(&p2, enforcement, ENFORCEMENT, H_ENFORCEMENT(VOLUNTARY));
	h_assert_code(h_put_policy(c, &p2, false, &r), H_OK);
	got = r->put_policy->policy;
	assert_int_equal(got->alpha_bp, 5000);
	assert_int_equal(got->probation_payments, 5);
	assert_int_equal(got->enforcement, H_ENFORCEMENT(VOLUNTARY));
	assert_int_equal(got->version, 2);
	fp_response_free(r);

	/* excusing_reasons in the request without set_excusing_reasons: ignored. */
	Fairpay__V1__PaymentReason other[] = { H_PREASON(OTHER) };
	Fairpay__V1__Policy p3 = FAIRPAY__V1__POLICY__INIT;
	p3.excusing_reasons = other;
	p3.n_excusing_reasons = 1;
	h_assert_code(h_put_policy(c, &p3, false, &r), H_OK);
	assert_int_equal(reasons_mask(r->put_policy->policy),
			 (1u << H_PREASON(DID_NOT_USE)) | (1u << H_PREASON(TECHNICAL_PROBLEM)) |
				 (1u << H_PREASON(NOT_AS_DESCRIBED)));
	int64_t v3 = r->put_policy->policy->version;
	assert_int_equal(v3, 3);
	fp_response_free(r);

	/* With it: replaced. */
	h_assert_code(h_put_policy(c, &p3, true, &r), H_OK);
	assert_int_equal(reasons_mask(r->put_policy->policy), 1u << H_PREASON(OTHER));
	assert_int_equal(r->put_policy->policy->version, 4);
	fp_response_free(r);

	/* With it and an empty list: no excusing reason at all. */
	Fairpay__V1__Policy p4 = FAIRPAY__V1__POLICY__INIT;
	h_assert_code(h_put_policy(c, &p4, true, &r), H_OK);
	assert_int_equal(r->put_policy->policy->n_excusing_reasons, 0);
	assert_int_equal(r->put_policy->policy->version, 5);
	fp_response_free(r);

	h_assert_code(h_get_policy(c, &r), H_OK);
	got = r->get_policy->policy;
	assert_int_equal(got->version, 5);
	assert_int_equal(got->alpha_bp, 5000);
	assert_int_equal(got->probation_payments, 5);
	assert_int_equal(got->enforcement, H_ENFORCEMENT(VOLUNTARY));
	assert_int_equal(got->n_excusing_reasons, 0);
	assert_int_equal(got->trusted_credit_minor, 50000);
	assert_int_equal(got->payment_window_seconds, 1209600);
	fp_response_free(r);
	fp_client_free(c);
}

/* Pack a policy, to compare two whole policies byte for byte. */
static char *policy_bytes(const Fairpay__V1__Policy *p, size_t *len)
{
	*len = fairpay__v1__policy__get_packed_size(p);
	char *buf = malloc(*len + 1);
	assert_non_null(buf);
	fairpay__v1__policy__pack(p, (uint8_t *)buf);
	return buf;
}

typedef struct bad_policy {
	const char *field; /* status.field expected, "policy.<name>" */
	Fairpay__V1__Policy p;
	bool set_reasons;
} bad_policy;

static void test_policy_out_of_range(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("policy ranges", &vid);
	static Fairpay__V1__PaymentReason unknown_reason[] = { (Fairpay__V1__PaymentReason)99 };
	bad_policy bad[24];
	size_t n = 0;
#define BAD(name, NAME, value)                              \
	do {                                                \
		bad[n].field = "policy." #name;             \
		bad[n].set_reasons = false;                 \
		fairpay__v1__policy__init(&bad[n].p);       \
		H_POLICY_SET(&bad[n].p, name, NAME, value); \
		n++;                                        \
	} while (0)
	BAD(alpha_bp, ALPHA_BP, 0);
	BAD(alpha_bp, ALPHA_BP, 10001);
	BAD(prior_score_bp, PRIOR_SCORE_BP, -1);
	BAD(probation_payments, PROBATION_PAYMENTS, 1001);
	BAD(probation_payments, PROBATION_PAYMENTS, -1);
	BAD(max_open_defaults, MAX_OPEN_DEFAULTS, 1001);
	BAD(trusted_score_bp, TRUSTED_SCORE_BP, 20001);
	BAD(restricted_minimum_bp, RESTRICTED_MINIMUM_BP, 10001);
	BAD(excused_floor_bp, EXCUSED_FLOOR_BP, 10001);
	BAD(probation_credit_minor, PROBATION_CREDIT_MINOR, -1);
	BAD(standard_credit_minor, STANDARD_CREDIT_MINOR, -1);
	BAD(trusted_credit_minor, TRUSTED_CREDIT_MINOR, -1);
	BAD(offer_ttl_seconds, OFFER_TTL_SECONDS, 0);
	BAD(payment_window_seconds, PAYMENT_WINDOW_SECONDS, 0);
	BAD(enforcement, ENFORCEMENT, (Fairpay__V1__Enforcement)99);
	BAD(enforcement, ENFORCEMENT, H_ENFORCEMENT(UNSPECIFIED));
	/* Out of order with the defaults low 5000 <= fair 8000 <= trusted 9000. */
	BAD(low_score_bp, LOW_SCORE_BP, 8001);
	BAD(fair_score_bp, FAIR_SCORE_BP, 9001);
#undef BAD
	bad[n].field = "policy.excusing_reasons";
	bad[n].set_reasons = true;
	fairpay__v1__policy__init(&bad[n].p);
	bad[n].p.excusing_reasons = unknown_reason;
	bad[n].p.n_excusing_reasons = 1;
	n++;
	/* A valid field next to an invalid one: neither is applied. */
	bad[n].field = "policy.offer_ttl_seconds";
	bad[n].set_reasons = false;
	fairpay__v1__policy__init(&bad[n].p);
	H_POLICY_SET(&bad[n].p, alpha_bp, ALPHA_BP, 4000);
	H_POLICY_SET(&bad[n].p, offer_ttl_seconds, OFFER_TTL_SECONDS, 0);
	n++;

	/* Twice: once while the vendor has no stored policy, once after. */
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			Fairpay__V1__Policy ok = FAIRPAY__V1__POLICY__INIT;
			H_POLICY_SET(&ok, late_penalty_bp, LATE_PENALTY_BP, 1500);
			h_assert_code(h_put_policy(c, &ok, false, NULL), H_OK);
		}
		resp_t *before = NULL;
		h_assert_code(h_get_policy(c, &before), H_OK);
		size_t blen = 0;
		char *bbytes = policy_bytes(before->get_policy->policy, &blen);
		long long rows =
			count("SELECT count(*) FROM policies WHERE vendor_id = '%s'%s", vid, "");
		assert_int_equal(rows, round);
		for (size_t i = 0; i < n; i++) {
			int code = h_put_policy(c, &bad[i].p, bad[i].set_reasons, NULL);
			if (code != H_INVALID)
				fail_msg("bad policy %zu (%s): got %s, want INVALID_ARGUMENT", i,
					 bad[i].field, h_code_name(code));
			h_assert_field(bad[i].field);
		}
		resp_t *after = NULL;
		h_assert_code(h_get_policy(c, &after), H_OK);
		size_t alen = 0;
		char *abytes = policy_bytes(after->get_policy->policy, &alen);
		assert_int_equal(alen, blen);
		assert_memory_equal(abytes, bbytes, alen);
		assert_int_equal(
			count("SELECT count(*) FROM policies WHERE vendor_id = '%s'%s", vid, ""),
			rows);
		if (round == 1) {
			assert_int_equal(after->get_policy->policy->version, 1);
			assert_int_equal(after->get_policy->policy->late_penalty_bp, 1500);
			assert_int_equal(after->get_policy->policy->alpha_bp, 3000);
		} else {
			assert_default_policy(after->get_policy->policy);
		}
		free(abytes);
		free(bbytes);
		fp_response_free(after);
		fp_response_free(before);
	}

	/* The edges themselves are accepted. */
	Fairpay__V1__Policy edge = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&edge, alpha_bp, ALPHA_BP, 10000);
	H_POLICY_SET(&edge, probation_payments, PROBATION_PAYMENTS, 1000);
	H_POLICY_SET(&edge, max_open_defaults, MAX_OPEN_DEFAULTS, 0);
	H_POLICY_SET(&edge, low_score_bp, LOW_SCORE_BP, 8000);
	H_POLICY_SET(&edge, probation_credit_minor, PROBATION_CREDIT_MINOR, 0);
	H_POLICY_SET(&edge, offer_ttl_seconds, OFFER_TTL_SECONDS, 1);
	resp_t *r = NULL;
	h_assert_code(h_put_policy(c, &edge, false, &r), H_OK);
	assert_int_equal(r->put_policy->policy->alpha_bp, 10000);
	assert_int_equal(r->put_policy->policy->low_score_bp, 8000);
	assert_int_equal(r->put_policy->policy->version, 2);
	fp_response_free(r);
	fp_client_free(c);
	free(vid);
}

/* ---------------------------------------------------------------- the cycle */

static void assert_is_id(const char *id, const char *prefix)
{
	if (strlen(id) != 18 || strncmp(id, prefix, 2) != 0 ||
	    strspn(id + 2, "0123456789abcdef") != 16)
		fail_msg("'%s' is not an id %s + 16 hex digits", id, prefix);
}

static void test_first_cycle(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("first cycle", &vid);
	h_product(c, "basic", 1000, 1200);
	h_product(c, "big", 1500, 1800);
	int64_t t0 = wall_ms();

	/* A customer never seen: the prior reputation. */
	resp_t *r = h_reputation(c, "alice");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	assert_string_equal(rep->customer_id, "alice");
	assert_standing(rep, 8000, H_TIER(PROBATION), 0);
	assert_int_equal(rep->defaults, 0);
	assert_int_equal(rep->open_defaults, 0);
	assert_int_equal(rep->offers_accepted, 0);
	assert_int_equal(rep->total_paid_minor, 0);
	assert_int_equal(rep->total_suggested_minor, 0);
	assert_int_equal(rep->credit_limit_minor, 2000);
	assert_int_equal(rep->credit_used_minor, 0);
	assert_int_equal(rep->updated_at_unix_ms, 0);
	assert_true(rep->n_explanation > 0);
	fp_response_free(r);

	/* Offer 1 on SP 1000: probation, credit 0 + 1000 <= 2000, so FAIRPAY. */
	r = create(c, "alice", "basic", NULL);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_is_id(o->offer_id, "o_");
	char *o1 = strdup(o->offer_id);
	assert_string_equal(o->customer_id, "alice");
	assert_string_equal(o->sku, "basic");
	assert_string_equal(o->currency, "USD");
	assert_int_equal(o->status, H_STATUS(OPEN));
	assert_int_equal(o->mode, H_MODE(FAIRPAY));
	assert_int_equal(o->suggested_price_minor, 1000);
	assert_int_equal(o->unit_price_minor, 0);
	assert_int_equal(o->minimum_price_minor, 0);
	assert_int_equal(o->set_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(PROBATION));
	assert_int_equal(o->credit_limit_minor, 2000);
	assert_int_equal(o->credit_used_minor, 0);
	h_assert_reasons(o, 1, H_OREASON(PROBATION));
	assert_true(o->created_at_unix_ms >= t0 - 60000 && o->created_at_unix_ms <= t0 + 60000);
	assert_int_equal(o->expires_at_unix_ms - o->created_at_unix_ms, 86400LL * 1000);
	assert_int_equal(o->pay_by_unix_ms, 0);
	assert_int_equal(o->period_index, 0);
	assert_string_equal(o->previous_offer_id, "");
	int64_t created = o->created_at_unix_ms;
	fp_response_free(r);

	/* Accept: pay_by = accept time + 14 days; credit 1000 of 2000 in use. */
	r = accept(c, o1);
	o = r->accept_offer->offer;
	assert_int_equal(o->status, H_STATUS(ACCEPTED));
	assert_true(o->pay_by_unix_ms >= created + 1209600LL * 1000);
	assert_true(o->pay_by_unix_ms <= wall_ms() + 60000 + 1209600LL * 1000);
	assert_int_equal(o->credit_used_minor, 1000);
	assert_int_equal(o->credit_limit_minor, 2000);
	fp_response_free(r);
	r = h_reputation(c, "alice");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 1000);
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 1);
	assert_int_equal(r->get_reputation->reputation->payments, 0);
	fp_response_free(r);

	/* Offer 2 on SP 1500 with 1000 in use: 2500 > 2000, SET_PRICE at the
	 * list price 1800, reasons CREDIT_LIMIT then PROBATION. */
	r = create(c, "alice", "big", NULL);
	o = r->create_offer->offer;
	char *o2 = strdup(o->offer_id);
	assert_int_equal(o->mode, H_MODE(SET_PRICE));
	assert_int_equal(o->set_price_minor, 1800);
	assert_int_equal(o->suggested_price_minor, 1500);
	assert_int_equal(o->minimum_price_minor, 0);
	assert_int_equal(o->credit_used_minor, 1000);
	h_assert_reasons(o, 2, H_OREASON(CREDIT_LIMIT), H_OREASON(PROBATION));
	fp_response_free(r);

	/* Pay offer 1 at SP: raw 10000, fairness 10000, FAIR (8000 <= f < 11000);
	 * score 8000 + (10000 - 8000) * 3000 / 10000 = 8600. */
	r = pay(c, o1, 1000);
	Fairpay__V1__Payment *p = r->submit_payment->payment;
	assert_is_id(p->payment_id, "p_");
	char *p1 = strdup(p->payment_id);
	assert_string_equal(p->offer_id, o1);
	assert_string_equal(p->customer_id, "alice");
	assert_string_equal(p->currency, "USD");
	assert_int_equal(p->usage_units, 0);
	assert_int_equal(p->n_reasons, 0);
	assert_string_equal(p->note, "");
	assert_payment(p, 1000, 1000, 10000, 10000, H_VERDICT(FAIR), H_REVIEW(NOT_NEEDED), false);
	assert_true(p->created_at_unix_ms >= created);
	rep = r->submit_payment->reputation;
	assert_standing(rep, 8600, H_TIER(PROBATION), 1);
	assert_int_equal(rep->total_paid_minor, 1000);
	assert_int_equal(rep->total_suggested_minor, 1000);
	assert_int_equal(rep->credit_used_minor, 0);
	assert_int_equal(rep->credit_limit_minor, 2000);
	assert_int_equal(rep->offers_accepted, 1);
	assert_true(rep->updated_at_unix_ms >= created);
	assert_null(r->submit_payment->next_offer);
	fp_response_free(r);
	assert_int_equal(offer_status(c, o1), H_STATUS(PAID));
	assert_int_equal(payments_of(vid, o1), 1);

	/* Pay the SET_PRICE offer up front while OPEN, at exactly the set price:
	 * raw 10000; score 8600 + (10000 - 8600) * 3000 / 10000 = 9020. */
	r = pay(c, o2, 1800);
	p = r->submit_payment->payment;
	assert_payment(p, 1800, 1500, 10000, 10000, H_VERDICT(FAIR), H_REVIEW(NOT_NEEDED), false);
	rep = r->submit_payment->reputation;
	assert_standing(rep, 9020, H_TIER(PROBATION), 2);
	assert_int_equal(rep->total_paid_minor, 2800);
	assert_int_equal(rep->total_suggested_minor, 2500);
	assert_int_equal(rep->offers_accepted, 1);
	fp_response_free(r);

	/* Offer 3, paid 1500 on SP 1000: raw 15000, GENEROUS (>= 11000);
	 * score 9020 + (15000 - 9020) * 3000 / 10000 = 9020 + 1794 = 10814;
	 * 3 payments end probation, 10814 >= 9000: TRUSTED, credit 50000. */
	r = cycle(c, "alice", "basic", 1500);
	p = r->submit_payment->payment;
	char *p3 = strdup(p->payment_id);
	char *o3 = strdup(p->offer_id);
	assert_payment(p, 1500, 1000, 15000, 15000, H_VERDICT(GENEROUS), H_REVIEW(NOT_NEEDED),
		       false);
	rep = r->submit_payment->reputation;
	assert_standing(rep, 10814, H_TIER(TRUSTED), 3);
	assert_int_equal(rep->credit_limit_minor, 50000);
	assert_int_equal(rep->total_paid_minor, 4300);
	assert_int_equal(rep->total_suggested_minor, 3500);
	assert_int_equal(rep->offers_accepted, 2);
	fp_response_free(r);

	/* The explanation speaks of the recent payments. */
	r = h_reputation(c, "alice");
	rep = r->get_reputation->reputation;
	assert_standing(rep, 10814, H_TIER(TRUSTED), 3);
	assert_true(rep->n_explanation > 0);
	for (size_t i = 0; i < rep->n_explanation; i++)
		assert_true(strlen(rep->explanation[i]) > 0);
	if (!explanation_has(rep, "of your last"))
		fail_msg("the explanation does not mention the recent payments: '%s'",
			 rep->explanation[0]);
	fp_response_free(r);

	/* A trusted customer's offer: FAIRPAY without any reason. */
	r = create(c, "alice", "big", NULL);
	o = r->create_offer->offer;
	char *o4 = strdup(o->offer_id);
	assert_int_equal(o->mode, H_MODE(FAIRPAY));
	assert_int_equal(o->tier, H_TIER(TRUSTED));
	assert_int_equal(o->credit_limit_minor, 50000);
	h_assert_reasons(o, 0);
	fp_response_free(r);
	h_assert_code(h_decline_offer(c, o4, &r), H_OK);
	assert_int_equal(r->decline_offer->offer->status, H_STATUS(DECLINED));
	fp_response_free(r);

	/* The ledger, in order. */
	struct {
		int kind;
		const char *offer;
		const char *payment;
	} want[] = {
		{ H_EVENT(OFFER_CREATED), o1, NULL },
		{ H_EVENT(OFFER_ACCEPTED), o1, NULL },
		{ H_EVENT(OFFER_CREATED), o2, NULL },
		{ H_EVENT(PAYMENT_RECEIVED), o1, p1 },
		{ H_EVENT(REPUTATION_CHANGED), NULL, NULL },
		{ H_EVENT(PAYMENT_RECEIVED), o2, NULL },
		{ H_EVENT(REPUTATION_CHANGED), NULL, NULL },
		{ H_EVENT(OFFER_CREATED), o3, NULL },
		{ H_EVENT(OFFER_ACCEPTED), o3, NULL },
		{ H_EVENT(PAYMENT_RECEIVED), o3, p3 },
		{ H_EVENT(REPUTATION_CHANGED), NULL, NULL },
		{ H_EVENT(OFFER_CREATED), o4, NULL },
		{ H_EVENT(OFFER_DECLINED), o4, NULL },
	};
	size_t n_want = sizeof(want) / sizeof(want[0]);
	h_assert_code(h_list_events(c, "alice", 0, 0, &r), H_OK);
	Fairpay__V1__ListCustomerEventsResponse *ev = r->list_customer_events;
	if (ev->n_events != n_want) {
		for (size_t i = 0; i < ev->n_events; i++)
			print_message("event %llu kind %d offer %s detail %s\n",
				      (unsigned long long)ev->events[i]->id,
				      (int)ev->events[i]->kind, ev->events[i]->offer_id,
				      ev->events[i]->detail);
		fail_msg("%zu events for alice, want %zu", ev->n_events, n_want);
	}
	assert_int_equal(ev->next_after_id, 0);
	uint64_t ids[16];
	for (size_t i = 0; i < n_want; i++) {
		Fairpay__V1__Event *e = ev->events[i];
		if ((int)e->kind != want[i].kind)
			fail_msg("event %zu has kind %d, want %d", i, (int)e->kind, want[i].kind);
		assert_string_equal(e->customer_id, "alice");
		if (want[i].offer != NULL)
			assert_string_equal(e->offer_id, want[i].offer);
		if (want[i].payment != NULL)
			assert_string_equal(e->payment_id, want[i].payment);
		assert_true(e->at_unix_ms >= t0 - 60000);
		if (i > 0)
			assert_true(e->id > ids[i - 1]);
		ids[i] = e->id;
	}
	/* The first score change is 8000 -> 8600. */
	if (!h_contains(ev->events[4]->detail, "8600"))
		fail_msg("REPUTATION_CHANGED detail '%s' does not name the new score 8600",
			 ev->events[4]->detail);
	fp_response_free(r);

	/* Paging with after_id: 5 + 5 + 3, the same events in the same order. */
	uint64_t after = 0;
	size_t seen = 0;
	for (int page = 0; page < 3; page++) {
		h_assert_code(h_list_events(c, "alice", after, 5, &r), H_OK);
		ev = r->list_customer_events;
		assert_int_equal(ev->n_events, page < 2 ? 5 : 3);
		for (size_t i = 0; i < ev->n_events; i++)
			assert_int_equal(ev->events[i]->id, ids[seen++]);
		if (page < 2)
			assert_int_equal(ev->next_after_id, ev->events[4]->id);
		else
			assert_int_equal(ev->next_after_id, 0);
		after = ev->next_after_id;
		fp_response_free(r);
	}
	assert_int_equal(seen, n_want);
	/* Another customer's events are not mixed in. */
	h_assert_code(h_list_events(c, "nobody", 0, 0, &r), H_OK);
	assert_int_equal(r->list_customer_events->n_events, 0);
	fp_response_free(r);

	/* The ledger refuses UPDATE, DELETE and TRUNCATE, whoever asks. */
	char err[512];
	long long before = count("SELECT count(*) FROM events WHERE vendor_id = '%s'%s", vid, "");
	char *sql = h_fmt("UPDATE events SET detail = 'rewritten' WHERE vendor_id = '%s'", vid);
	assert_int_equal(h_sql_try(T.w.db, sql, err, sizeof(err)), -1);
	free(sql);
	sql = h_fmt("DELETE FROM events WHERE vendor_id = '%s'", vid);
	assert_int_equal(h_sql_try(T.w.db, sql, err, sizeof(err)), -1);
	free(sql);
	assert_int_equal(h_sql_try(T.w.db, "TRUNCATE events CASCADE", err, sizeof(err)), -1);
	assert_int_equal(count("SELECT count(*) FROM events WHERE vendor_id = '%s'%s", vid, ""),
			 before);
	sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s' AND detail = 'rewritten'",
		    vid);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);

	free(o1);
	free(o2);
	free(o3);
	free(o4);
	free(p1);
	free(p3);
	fp_client_free(c);
	free(vid);
}

static void test_standard_and_restricted(void **state)
{
	fp_client *c = vendor("standard and restricted", NULL);
	h_product(c, "basic", 1000, 1200);
	product(c, "p-only", 1000, 1200, 0, H_TIER(PROBATION), 0, 0);
	product(c, "r-plain", 1000, 1200, 0, H_TIER(RESTRICTED), 0, 0);
	product(c, "r-700", 1000, 1200, 700, H_TIER(RESTRICTED), 0, 0);
	product(c, "r-300", 1000, 1200, 300, H_TIER(RESTRICTED), 0, 0);

	/* Three payments of 800 on SP 1000: fairness 8000, FAIR; the score stays
	 * 8000 + (8000 - 8000) * 0.3 = 8000: STANDARD (8000 <= s < 9000). */
	for (int i = 0; i < 3; i++) {
		resp_t *r = cycle(c, "bob", "basic", 800);
		assert_payment(r->submit_payment->payment, 800, 1000, 8000, 8000, H_VERDICT(FAIR),
			       H_REVIEW(NOT_NEEDED), false);
		assert_standing(r->submit_payment->reputation, 8000,
				i < 2 ? H_TIER(PROBATION) : H_TIER(STANDARD), i + 1);
		fp_response_free(r);
	}
	resp_t *r = h_reputation(c, "bob");
	assert_int_equal(r->get_reputation->reputation->credit_limit_minor, 10000);
	if (!explanation_has(r->get_reputation->reputation, "of your last"))
		fail_msg("the explanation does not mention the recent payments");
	fp_response_free(r);
	r = create(c, "bob", "basic", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY));
	assert_int_equal(r->create_offer->offer->tier, H_TIER(STANDARD));
	assert_int_equal(r->create_offer->offer->credit_limit_minor, 10000);
	h_assert_reasons(r->create_offer->offer, 0);
	h_must(h_decline_offer(c, r->create_offer->offer->offer_id, NULL), "DeclineOffer");
	fp_response_free(r);

	/* 700: score 8000 + (7000 - 8000) * 0.3 = 7700 < 8000: RESTRICTED. */
	r = cycle(c, "bob", "basic", 700);
	assert_payment(r->submit_payment->payment, 700, 1000, 7000, 7000, H_VERDICT(LOW),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 7700, H_TIER(RESTRICTED), 4);
	assert_int_equal(r->submit_payment->reputation->credit_limit_minor, 10000);
	fp_response_free(r);

	/* RESTRICTED ranks below a min_tier of PROBATION: SET_PRICE. */
	r = create(c, "bob", "p-only", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(SET_PRICE));
	assert_int_equal(r->create_offer->offer->set_price_minor, 1200);
	h_assert_reasons(r->create_offer->offer, 1, H_OREASON(TIER_REQUIRED));
	fp_response_free(r);

	/* The default min_tier is RESTRICTED: FAIRPAY_MINIMUM at
	 * max(0, 1000 * 5000 / 10000) = 500 (more in test_min_tier_default). */
	r = create(c, "bob", "basic", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(r->create_offer->offer->minimum_price_minor, 500);
	h_assert_reasons(r->create_offer->offer, 1, H_OREASON(LOW_SCORE));
	fp_response_free(r);

	/* Products open to RESTRICTED: FAIRPAY_MINIMUM, minimum
	 * max(product minimum, 1000 * 5000 / 10000 = 500), reason LOW_SCORE. */
	r = create(c, "bob", "r-700", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(r->create_offer->offer->minimum_price_minor, 700);
	h_assert_reasons(r->create_offer->offer, 1, H_OREASON(LOW_SCORE));
	fp_response_free(r);
	r = create(c, "bob", "r-300", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(r->create_offer->offer->minimum_price_minor, 500);
	fp_response_free(r);
	r = create(c, "bob", "r-plain", NULL);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(o->minimum_price_minor, 500);
	assert_int_equal(o->set_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(RESTRICTED));
	h_assert_reasons(o, 1, H_OREASON(LOW_SCORE));
	char *id = strdup(o->offer_id);
	fp_response_free(r);

	/* Below the minimum: refused, nothing recorded. */
	h_accept(c, id);
	h_assert_code(h_pay(c, id, 499, NULL), H_PRECONDITION);
	h_assert_field("amount_minor");
	assert_int_equal(offer_status(c, id), H_STATUS(ACCEPTED));
	assert_rep_score(c, "bob", 7700, H_TIER(RESTRICTED), 4);
	/* At the minimum: raw 5000, LOW; 7700 + (5000 - 7700) * 0.3 = 6890. */
	r = pay(c, id, 500);
	assert_payment(r->submit_payment->payment, 500, 1000, 5000, 5000, H_VERDICT(LOW),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 6890, H_TIER(RESTRICTED), 5);
	fp_response_free(r);
	free(id);
	fp_client_free(c);
}

/* A product put without min_tier (TIER_UNSPECIFIED) has min_tier RESTRICTED
 * (PROTOCOL.md, Product): stored and read back as RESTRICTED, it gives a
 * RESTRICTED customer FAIRPAY_MINIMUM at max(product minimum, SP *
 * restricted_minimum_bp / 10000) with reason LOW_SCORE (rule 10), while a
 * product whose min_tier is PROBATION gives that customer SET_PRICE
 * (TIER_REQUIRED). */
static void test_min_tier_default(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("min_tier default", &vid);
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = "no-tier";
	p.name = "No tier";
	p.currency = "USD";
	p.suggested_price_minor = 1500;
	p.list_price_minor = 1800;
	p.minimum_price_minor = 600;
	assert_int_equal(p.min_tier, FAIRPAY__V1__TIER__TIER_UNSPECIFIED); /* not set */
	resp_t *r = NULL;
	h_assert_code(h_put_product(c, &p, &r), H_OK);
	assert_true(r->put_product->created);
	assert_int_equal(r->put_product->product->min_tier, H_TIER(RESTRICTED));
	fp_response_free(r);
	h_assert_code(h_get_product(c, "no-tier", &r), H_OK);
	assert_int_equal(r->get_product->product->min_tier, H_TIER(RESTRICTED));
	fp_response_free(r);
	h_assert_code(h_list_products(c, NULL, 0, &r), H_OK);
	assert_int_equal(r->list_products->n_products, 1);
	assert_int_equal(r->list_products->products[0]->min_tier, H_TIER(RESTRICTED));
	fp_response_free(r);
	assert_int_equal(count("SELECT count(*) FROM products WHERE vendor_id = '%s' AND sku = '%s'"
			       " AND min_tier = 'RESTRICTED'",
			       vid, "no-tier"),
			 1);

	/* The column default (migration 0004) agrees: a row written without
	 * min_tier reads back as RESTRICTED too. */
	char *sql = h_fmt("INSERT INTO products (vendor_id, sku, name, currency,"
			  " suggested_price_minor, list_price_minor)"
			  " VALUES ('%s', 'by-sql', 'By SQL', 'USD', 1000, 1200)",
			  vid);
	char err[512];
	if (h_sql_try(T.w.db, sql, err, sizeof(err)) != 0)
		fail_msg("insert without min_tier: %s", err);
	free(sql);
	h_assert_code(h_get_product(c, "by-sql", &r), H_OK);
	assert_int_equal(r->get_product->product->min_tier, H_TIER(RESTRICTED));
	fp_response_free(r);

	h_product(c, "basic", 1000, 1200); /* min_tier unset as well */
	product(c, "p-only", 1500, 1800, 600, H_TIER(PROBATION), 0, 0);

	/* Three payments of 800 on SP 1000 (fairness 8000): the score stays 8000,
	 * STANDARD after probation; then 700: 8000 + (7000 - 8000) * 0.3 = 7700
	 * < 8000: RESTRICTED. */
	for (int i = 0; i < 3; i++) {
		r = cycle(c, "rita", "basic", 800);
		assert_standing(r->submit_payment->reputation, 8000,
				i < 2 ? H_TIER(PROBATION) : H_TIER(STANDARD), i + 1);
		fp_response_free(r);
	}
	r = cycle(c, "rita", "basic", 700);
	assert_standing(r->submit_payment->reputation, 7700, H_TIER(RESTRICTED), 4);
	assert_int_equal(r->submit_payment->reputation->credit_limit_minor, 10000);
	assert_int_equal(r->submit_payment->reputation->credit_used_minor, 0);
	fp_response_free(r);

	/* min_tier PROBATION ranks above RESTRICTED: SET_PRICE at the list price. */
	r = create(c, "rita", "p-only", NULL);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(SET_PRICE));
	assert_int_equal(o->set_price_minor, 1800);
	assert_int_equal(o->minimum_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(RESTRICTED));
	h_assert_reasons(o, 1, H_OREASON(TIER_REQUIRED));
	h_must(h_decline_offer(c, o->offer_id, NULL), "DeclineOffer");
	fp_response_free(r);

	/* The unset min_tier: FAIRPAY_MINIMUM at max(0, 1000 * 5000 / 10000) = 500. */
	r = create(c, "rita", "basic", NULL);
	o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(o->minimum_price_minor, 500);
	assert_int_equal(o->set_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(RESTRICTED));
	h_assert_reasons(o, 1, H_OREASON(LOW_SCORE));
	h_must(h_decline_offer(c, o->offer_id, NULL), "DeclineOffer");
	fp_response_free(r);

	/* And max(600, 1500 * 5000 / 10000 = 750) = 750 on the product put without
	 * min_tier. */
	r = create(c, "rita", "no-tier", NULL);
	o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(o->suggested_price_minor, 1500);
	assert_int_equal(o->minimum_price_minor, 750);
	assert_int_equal(o->set_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(RESTRICTED));
	assert_int_equal(o->credit_limit_minor, 10000);
	h_assert_reasons(o, 1, H_OREASON(LOW_SCORE));
	char *id = strdup(o->offer_id);
	fp_response_free(r);

	/* Accepted on FairPay terms, it uses credit; below the minimum is refused. */
	h_accept(c, id);
	r = h_reputation(c, "rita");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 1500);
	fp_response_free(r);
	h_assert_code(h_pay(c, id, 749, NULL), H_PRECONDITION);
	h_assert_field("amount_minor");
	assert_int_equal(offer_status(c, id), H_STATUS(ACCEPTED));
	/* At the minimum: raw 750 * 10000 / 1500 = 5000, LOW;
	 * 7700 + (5000 - 7700) * 0.3 = 6890, still RESTRICTED. */
	r = pay(c, id, 750);
	assert_payment(r->submit_payment->payment, 750, 1500, 5000, 5000, H_VERDICT(LOW),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 6890, H_TIER(RESTRICTED), 5);
	fp_response_free(r);
	free(id);
	fp_client_free(c);
	free(vid);
}

static void test_differential_and_caps(void **state)
{
	fp_client *c = vendor("differential", NULL);
	h_product(c, "basic", 1000, 1200);
	h_product(c, "odd", 999, 1200);

	/* -2500: amount 1000 * 7500 / 10000 = 750, raw 7500, LOW;
	 * 8000 + (7500 - 8000) * 0.3 = 7850. */
	resp_t *r = cycle_diff(c, "dora", "basic", -2500);
	assert_payment(r->submit_payment->payment, 750, 1000, 7500, 7500, H_VERDICT(LOW),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 7850, H_TIER(PROBATION), 1);
	fp_response_free(r);

	/* -10000: amount 0, raw 0, UNFAIR; 7850 - 7850 * 0.3 = 7850 - 2355 = 5495. */
	r = cycle_diff(c, "dora", "basic", -10000);
	assert_payment(r->submit_payment->payment, 0, 1000, 0, 0, H_VERDICT(UNFAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 5495, H_TIER(PROBATION), 2);
	fp_response_free(r);

	/* 30000 on SP 1000: raw capped at 20000, GENEROUS; the score counts
	 * 15000: 5495 + (15000 - 5495) * 3000 / 10000 = 5495 + 2851 = 8346,
	 * 3 payments: STANDARD. */
	r = cycle(c, "dora", "basic", 30000);
	assert_payment(r->submit_payment->payment, 30000, 1000, 20000, 20000, H_VERDICT(GENEROUS),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8346, H_TIER(STANDARD), 3);
	assert_int_equal(r->submit_payment->reputation->total_paid_minor, 30750);
	assert_int_equal(r->submit_payment->reputation->total_suggested_minor, 3000);
	fp_response_free(r);

	/* +500: amount 1050, raw 10500, FAIR (< 11000);
	 * 8346 + (10500 - 8346) * 0.3 = 8346 + 646 = 8992 (still < 9000). */
	r = cycle_diff(c, "dora", "basic", 500);
	assert_payment(r->submit_payment->payment, 1050, 1000, 10500, 10500, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8992, H_TIER(STANDARD), 4);
	fp_response_free(r);

	/* Rounding down: SP 999, -3333: 999 * 6667 / 10000 = 666.03 -> 666;
	 * raw 666 * 10000 / 999 = 6666.6 -> 6666, LOW;
	 * 8992 + (6666 - 8992) * 3000 / 10000 = 8992 - 697 (toward zero) = 8295. */
	r = cycle_diff(c, "dora", "odd", -3333);
	assert_payment(r->submit_payment->payment, 666, 999, 6666, 6666, H_VERDICT(LOW),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8295, H_TIER(STANDARD), 5);
	fp_response_free(r);
	fp_client_free(c);
}

static void test_zero_sp_and_usage(void **state)
{
	fp_client *c = vendor("zero sp and usage", NULL);
	h_product(c, "free", 0, 0);
	product(c, "meter", 1000, 1200, 0, 0, 0, 10);

	/* SP 0: raw 10000 whatever the amount; 8000 -> 8600 -> 9020. */
	resp_t *r = cycle(c, "zed", "free", 0);
	assert_payment(r->submit_payment->payment, 0, 0, 10000, 10000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8600, H_TIER(PROBATION), 1);
	fp_response_free(r);
	r = cycle(c, "zed", "free", 500);
	assert_payment(r->submit_payment->payment, 500, 0, 10000, 10000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 9020, H_TIER(PROBATION), 2);
	fp_response_free(r);

	/* Usage pricing: unit price 10 x 50 units = SP 500; paid 500: raw 10000;
	 * 8000 -> 8600. The credit taken at accept is the offer's SP, 1000. */
	r = create(c, "uma", "meter", NULL);
	assert_int_equal(r->create_offer->offer->unit_price_minor, 10);
	assert_int_equal(r->create_offer->offer->suggested_price_minor, 1000);
	char *id = strdup(r->create_offer->offer->offer_id);
	fp_response_free(r);
	r = accept(c, id);
	assert_int_equal(r->accept_offer->offer->credit_used_minor, 1000);
	fp_response_free(r);
	h_assert_code(pay_full(c, id, 500, 50, NULL, 0, NULL, &r), H_OK);
	Fairpay__V1__Payment *p = r->submit_payment->payment;
	assert_int_equal(p->usage_units, 50);
	assert_payment(p, 500, 500, 10000, 10000, H_VERDICT(FAIR), H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8600, H_TIER(PROBATION), 1);
	assert_int_equal(r->submit_payment->reputation->credit_used_minor, 0);
	assert_int_equal(r->submit_payment->reputation->total_suggested_minor, 500);
	fp_response_free(r);
	free(id);

	/* Usage and a differential: SP 500, -2000: amount 500 * 8000 / 10000 =
	 * 400, raw 8000; 8600 + (8000 - 8600) * 0.3 = 8420. */
	id = h_offer(c, "uma", "meter");
	h_accept(c, id);
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
	m.differential_bp = -2000;
	m.usage_units = 50;
	h_assert_code(h_submit_payment(c, &m, NULL, &r), H_OK);
	assert_payment(r->submit_payment->payment, 400, 500, 8000, 8000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8420, H_TIER(PROBATION), 2);
	fp_response_free(r);
	free(id);

	/* No usage: the offer's SP 1000; raw 10000; 8420 + 1580 * 0.3 = 8894. */
	r = cycle(c, "uma", "meter", 1000);
	assert_payment(r->submit_payment->payment, 1000, 1000, 10000, 10000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 8894, H_TIER(STANDARD), 3);
	assert_int_equal(r->submit_payment->reputation->total_suggested_minor, 2000);
	assert_int_equal(r->submit_payment->reputation->total_paid_minor, 1900);
	fp_response_free(r);
	fp_client_free(c);
}

/* Three cycles with an excused low payment in the middle: 1000, 100 with
 * DID_NOT_USE, 1000. Returns the middle payment's id. */
static char *excused_history(fp_client *c, const char *customer)
{
	resp_t *r = cycle(c, customer, "basic", 1000); /* 8000 -> 8600 */
	assert_int_equal(r->submit_payment->reputation->score_bp, 8600);
	fp_response_free(r);

	/* 100 on SP 1000: raw 1000 < floor 8000 and DID_NOT_USE excuses:
	 * fairness 8000, PENDING, FAIR; 8600 + (8000 - 8600) * 0.3 = 8420. */
	char *id = h_offer(c, customer, "basic");
	h_accept(c, id);
	Fairpay__V1__PaymentReason reasons[] = { H_PREASON(DID_NOT_USE), H_PREASON(DID_NOT_USE),
						 H_PREASON(OTHER) };
	h_assert_code(pay_full(c, id, 100, 0, reasons, 3, "never opened it", &r), H_OK);
	Fairpay__V1__Payment *p = r->submit_payment->payment;
	assert_payment(p, 100, 1000, 1000, 8000, H_VERDICT(FAIR), H_REVIEW(PENDING), false);
	assert_string_equal(p->note, "never opened it");
	/* A reason given twice counts once. */
	assert_int_equal(p->n_reasons, 2);
	assert_true(
		(p->reasons[0] == H_PREASON(DID_NOT_USE) && p->reasons[1] == H_PREASON(OTHER)) ||
		(p->reasons[1] == H_PREASON(DID_NOT_USE) && p->reasons[0] == H_PREASON(OTHER)));
	assert_standing(r->submit_payment->reputation, 8420, H_TIER(PROBATION), 2);
	char *pid = strdup(p->payment_id);
	fp_response_free(r);
	free(id);

	r = cycle(c, customer, "basic", 1000); /* 8420 + 1580 * 0.3 = 8894 */
	assert_standing(r->submit_payment->reputation, 8894, H_TIER(STANDARD), 3);
	fp_response_free(r);
	return pid;
}

static void test_excuse_and_review(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("excuse and review", &vid);
	h_product(c, "basic", 1000, 1200);

	/* Accepted: fairness max(1000, 10000) = 10000; the score is recomputed
	 * over 10000, 10000, 10000: 8000 -> 8600 -> 9020 -> 9314, TRUSTED. */
	char *pid = excused_history(c, "erin");
	resp_t *r = NULL;
	h_assert_code(h_review_payment(c, pid, true, "fair enough", &r), H_OK);
	Fairpay__V1__Payment *p = r->review_payment->payment;
	assert_string_equal(p->payment_id, pid);
	assert_payment(p, 100, 1000, 1000, 10000, H_VERDICT(FAIR), H_REVIEW(ACCEPTED), false);
	assert_standing(r->review_payment->reputation, 9314, H_TIER(TRUSTED), 3);
	fp_response_free(r);
	assert_rep_score(c, "erin", 9314, H_TIER(TRUSTED), 3);
	char *sql = h_fmt("SELECT fairness_bp FROM payments WHERE vendor_id = '%s' AND id = '%s'",
			  vid, pid);
	assert_int_equal(h_sql_int(T.w.db, sql), 10000);
	free(sql);

	/* A second review: FAILED_PRECONDITION, nothing changes. */
	h_assert_code(h_review_payment(c, pid, false, NULL, NULL), H_PRECONDITION);
	h_assert_field("payment_id");
	assert_rep_score(c, "erin", 9314, H_TIER(TRUSTED), 3);
	h_assert_code(h_list_events(c, "erin", 0, 0, &r), H_OK);
	int reviewed = 0;
	for (size_t i = 0; i < r->list_customer_events->n_events; i++)
		if (r->list_customer_events->events[i]->kind == H_EVENT(PAYMENT_REVIEWED)) {
			reviewed++;
			assert_string_equal(r->list_customer_events->events[i]->payment_id, pid);
			/* The review's score change follows it. */
			assert_true(i + 1 < r->list_customer_events->n_events);
			assert_int_equal(r->list_customer_events->events[i + 1]->kind,
					 H_EVENT(REPUTATION_CHANGED));
		}
	assert_int_equal(reviewed, 1);
	fp_response_free(r);
	free(pid);

	/* Rejected: fairness = raw 1000, UNFAIR; recomputed over 10000, 1000,
	 * 10000: 8000 -> 8600 -> 8600 - 7600 * 0.3 = 6320 -> 6320 + 3680 * 0.3 =
	 * 7424: RESTRICTED. */
	pid = excused_history(c, "fred");
	h_assert_code(h_review_payment(c, pid, false, NULL, &r), H_OK);
	p = r->review_payment->payment;
	assert_payment(p, 100, 1000, 1000, 1000, H_VERDICT(UNFAIR), H_REVIEW(REJECTED), false);
	assert_standing(r->review_payment->reputation, 7424, H_TIER(RESTRICTED), 3);
	fp_response_free(r);
	h_assert_code(h_review_payment(c, pid, true, NULL, NULL), H_PRECONDITION);
	h_assert_field("payment_id");
	free(pid);

	/* A reason that does not excuse (CANNOT_AFFORD): fairness = raw 1000,
	 * no review; reviewing it is refused. 8000 - 7000 * 0.3 = 5900. */
	char *id = h_offer(c, "gina", "basic");
	h_accept(c, id);
	Fairpay__V1__PaymentReason afford[] = { H_PREASON(CANNOT_AFFORD) };
	h_assert_code(pay_full(c, id, 100, 0, afford, 1, NULL, &r), H_OK);
	p = r->submit_payment->payment;
	assert_payment(p, 100, 1000, 1000, 1000, H_VERDICT(UNFAIR), H_REVIEW(NOT_NEEDED), false);
	assert_int_equal(r->submit_payment->reputation->score_bp, 5900);
	h_assert_code(h_review_payment(c, p->payment_id, true, NULL, NULL), H_PRECONDITION);
	h_assert_field("payment_id");
	fp_response_free(r);
	free(id);

	/* An excusing reason on a payment at or above the floor: no excuse.
	 * raw 9000; 5900 + 3100 * 0.3 = 6830. */
	id = h_offer(c, "gina", "basic");
	h_accept(c, id);
	Fairpay__V1__PaymentReason dnu[] = { H_PREASON(DID_NOT_USE) };
	h_assert_code(pay_full(c, id, 900, 0, dnu, 1, NULL, &r), H_OK);
	assert_payment(r->submit_payment->payment, 900, 1000, 9000, 9000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_int_equal(r->submit_payment->reputation->score_bp, 6830);
	fp_response_free(r);
	free(id);
	fp_client_free(c);
	free(vid);
}

static void test_fixed_price(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("fixed price", &vid);
	h_product(c, "basic", 1000, 1200);

	/* Two payments of 0: 8000 -> 5600 -> 3920 < 5000: FIXED_PRICE, credit 0. */
	resp_t *r = cycle_diff(c, "hank", "basic", -10000);
	assert_standing(r->submit_payment->reputation, 5600, H_TIER(PROBATION), 1);
	fp_response_free(r);
	r = cycle_diff(c, "hank", "basic", -10000);
	assert_standing(r->submit_payment->reputation, 3920, H_TIER(FIXED_PRICE), 2);
	assert_int_equal(r->submit_payment->reputation->credit_limit_minor, 0);
	fp_response_free(r);

	r = create(c, "hank", "basic", NULL);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(SET_PRICE));
	assert_int_equal(o->set_price_minor, 1200);
	assert_int_equal(o->minimum_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(FIXED_PRICE));
	assert_int_equal(o->credit_limit_minor, 0);
	h_assert_reasons(o, 1, H_OREASON(LOW_SCORE));
	char *id = strdup(o->offer_id);
	fp_response_free(r);

	/* A wrong amount is refused and records nothing. */
	long long events = count("SELECT count(*) FROM events WHERE vendor_id = '%s'%s", vid, "");
	h_assert_code(h_pay(c, id, 1000, NULL), H_PRECONDITION);
	h_assert_field("amount_minor");
	h_assert_code(h_pay(c, id, 1201, NULL), H_PRECONDITION);
	h_assert_field("amount_minor");
	/* SP 1000 * (10000 + 0) / 10000 = 1000 != 1200. */
	h_assert_code(h_pay_differential(c, id, 0, NULL), H_PRECONDITION);
	h_assert_field("differential_bp");
	assert_int_equal(payments_of(vid, id), 0);
	assert_int_equal(offer_status(c, id), H_STATUS(OPEN));
	assert_rep_score(c, "hank", 3920, H_TIER(FIXED_PRICE), 2);
	assert_int_equal(count("SELECT count(*) FROM events WHERE vendor_id = '%s'%s", vid, ""),
			 events);

	/* Paid up front at the set price: raw 10000;
	 * 3920 + (10000 - 3920) * 0.3 = 5744: 3 payments, RESTRICTED. */
	r = pay(c, id, 1200);
	assert_payment(r->submit_payment->payment, 1200, 1000, 10000, 10000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 5744, H_TIER(RESTRICTED), 3);
	assert_int_equal(r->submit_payment->reputation->total_paid_minor, 1200);
	assert_int_equal(r->submit_payment->reputation->total_suggested_minor, 3000);
	fp_response_free(r);
	assert_int_equal(offer_status(c, id), H_STATUS(PAID));
	free(id);
	fp_client_free(c);
	free(vid);
}

static void test_product_minimum(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("product minimum", &vid);
	product(c, "floor", 1000, 1200, 400, 0, 0, 0);

	resp_t *r = create(c, "ivy", "floor", NULL);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(o->minimum_price_minor, 400);
	assert_int_equal(o->set_price_minor, 0);
	h_assert_reasons(o, 2, H_OREASON(PRODUCT_MINIMUM), H_OREASON(PROBATION));
	char *id = strdup(o->offer_id);
	fp_response_free(r);
	h_accept(c, id);

	h_assert_code(h_pay(c, id, 399, NULL), H_PRECONDITION);
	h_assert_field("amount_minor");
	/* 1000 * 3900 / 10000 = 390 < 400. */
	h_assert_code(h_pay_differential(c, id, -6100, NULL), H_PRECONDITION);
	h_assert_field("differential_bp");
	assert_int_equal(payments_of(vid, id), 0);
	assert_int_equal(offer_status(c, id), H_STATUS(ACCEPTED));
	r = h_reputation(c, "ivy");
	assert_standing(r->get_reputation->reputation, 8000, H_TIER(PROBATION), 0);
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 1000);
	fp_response_free(r);

	/* At the minimum: raw 4000, UNFAIR; 8000 - 4000 * 0.3 = 6800. */
	r = pay(c, id, 400);
	assert_payment(r->submit_payment->payment, 400, 1000, 4000, 4000, H_VERDICT(UNFAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_standing(r->submit_payment->reputation, 6800, H_TIER(PROBATION), 1);
	fp_response_free(r);
	free(id);
	fp_client_free(c);
	free(vid);
}

static Fairpay__V1__OfferOverrides overrides(int mode, int64_t sp, int64_t minimum)
{
	Fairpay__V1__OfferOverrides ov = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
	if (mode >= 0) {
		ov.mode = (Fairpay__V1__OfferMode)mode;
		ov.opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
	}
	if (sp >= 0) {
		ov.suggested_price_minor = sp;
		ov.opt_suggested_price_minor_case =
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
	}
	if (minimum >= 0) {
		ov.minimum_price_minor = minimum;
		ov.opt_minimum_price_minor_case =
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
	}
	return ov;
}

/* Create with overrides and check mode, SP, minimum, set price and reasons. */
static char *override_offer(fp_client *c, const char *customer, const char *sku,
			    Fairpay__V1__OfferOverrides ov, int mode, int64_t sp, int64_t minimum,
			    int64_t set_price, size_t n_reasons, int r1, int r2, int r3)
{
	resp_t *r = create(c, customer, sku, &ov);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, mode);
	assert_int_equal(o->suggested_price_minor, sp);
	assert_int_equal(o->minimum_price_minor, minimum);
	assert_int_equal(o->set_price_minor, set_price);
	h_assert_reasons(o, n_reasons, r1, r2, r3);
	char *id = strdup(o->offer_id);
	fp_response_free(r);
	return id;
}

static void test_overrides(void **state)
{
	fp_client *c = vendor("overrides", NULL);
	h_product(c, "basic", 1000, 1200);
	h_product(c, "big", 1500, 1800);
	product(c, "floor", 1000, 1200, 400, 0, 0, 0);
	const int P = H_OREASON(PROBATION), V = H_OREASON(VENDOR_OVERRIDE);
	char *ids[9];

	ids[0] = override_offer(c, "jack", "basic", overrides(H_MODE(SET_PRICE), -1, -1),
				H_MODE(SET_PRICE), 1000, 0, 1200, 2, P, V, 0);
	ids[1] = override_offer(c, "jack", "basic", overrides(-1, 500, -1), H_MODE(FAIRPAY), 500, 0,
				0, 2, P, V, 0);
	/* A minimum without a mode: the mode follows it. */
	ids[2] = override_offer(c, "jack", "basic", overrides(-1, -1, 300), H_MODE(FAIRPAY_MINIMUM),
				1000, 300, 0, 2, P, V, 0);
	ids[3] = override_offer(c, "jack", "basic", overrides(H_MODE(FAIRPAY_MINIMUM), -1, 250),
				H_MODE(FAIRPAY_MINIMUM), 1000, 250, 0, 2, P, V, 0);
	/* Minimum 0 lifts the product minimum: FAIRPAY; the policy's reason stays. */
	ids[4] = override_offer(c, "jack", "floor", overrides(-1, -1, 0), H_MODE(FAIRPAY), 1000, 0,
				0, 3, H_OREASON(PRODUCT_MINIMUM), P, V);

	/* Fill the credit: the SP-500 offer and a plain 1500 one make 2000 of
	 * 2000 in use. */
	h_accept(c, ids[1]);
	ids[5] = h_offer(c, "jack", "big"); /* 500 + 1500 <= 2000: FAIRPAY */
	h_accept(c, ids[5]);                /* credit in use: 2000 */

	/* Over the credit: SET_PRICE; a minimum override cannot lift that. */
	ids[6] = override_offer(c, "jack", "basic", overrides(-1, -1, 300), H_MODE(SET_PRICE), 1000,
				0, 1200, 3, H_OREASON(CREDIT_LIMIT), P, V);
	/* A mode override can: FAIRPAY, and AcceptOffer does not check the
	 * credit again for an overridden offer. 2000 + 1000 in use after. */
	ids[7] = override_offer(c, "jack", "basic", overrides(H_MODE(FAIRPAY), -1, -1),
				H_MODE(FAIRPAY), 1000, 0, 0, 3, H_OREASON(CREDIT_LIMIT), P, V);
	resp_t *r = accept(c, ids[7]);
	assert_int_equal(r->accept_offer->offer->credit_used_minor, 3000);
	fp_response_free(r);
	r = h_reputation(c, "jack");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 3000);
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 3);
	fp_response_free(r);
	/* The SP override is what the payment is judged against: 500 on SP 500. */
	r = pay(c, ids[1], 500);
	assert_payment(r->submit_payment->payment, 500, 500, 10000, 10000, H_VERDICT(FAIR),
		       H_REVIEW(NOT_NEEDED), false);
	assert_int_equal(r->submit_payment->reputation->credit_used_minor, 2500);
	fp_response_free(r);
	ids[8] = NULL;
	for (int i = 0; i < 9; i++)
		free(ids[i]);
	fp_client_free(c);
}

static void test_credit_recheck(void **state)
{
	fp_client *c = vendor("credit recheck", NULL);
	h_product(c, "basic", 1000, 1200);

	/* Three offers made while nothing is in use: all FAIRPAY. */
	char *x = h_offer(c, "kate", "basic");
	char *y = h_offer(c, "kate", "basic");
	char *z = h_offer(c, "kate", "basic");
	h_accept(c, x); /* 1000 of 2000 */

	/* 1000 + 1000 = 2000 <= 2000 still fits. */
	resp_t *r = create(c, "kate", "basic", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY));
	assert_int_equal(r->create_offer->offer->credit_used_minor, 1000);
	h_must(h_decline_offer(c, r->create_offer->offer->offer_id, NULL), "DeclineOffer");
	fp_response_free(r);

	h_accept(c, y); /* 2000 of 2000 */
	h_assert_code(h_accept_offer(c, z, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	assert_int_equal(offer_status(c, z), H_STATUS(OPEN));
	r = h_reputation(c, "kate");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 2000);
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 2);
	fp_response_free(r);

	/* A new offer no longer fits: SET_PRICE for CREDIT_LIMIT. */
	r = create(c, "kate", "basic", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(SET_PRICE));
	h_assert_reasons(r->create_offer->offer, 2, H_OREASON(CREDIT_LIMIT), H_OREASON(PROBATION));
	fp_response_free(r);

	/* Paying frees the credit; then the third one can be accepted. */
	fp_response_free(pay(c, x, 1000));
	r = accept(c, z);
	assert_int_equal(r->accept_offer->offer->credit_used_minor, 2000);
	fp_response_free(r);
	free(x);
	free(y);
	free(z);
	fp_client_free(c);
}

static void test_voluntary(void **state)
{
	fp_client *c = vendor("voluntary", NULL);
	h_product(c, "basic", 1000, 1200);
	product(c, "floor", 1000, 1200, 400, 0, 0, 0);
	product(c, "premium", 1000, 1200, 0, H_TIER(TRUSTED), 0, 0);
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, enforcement, ENFORCEMENT, H_ENFORCEMENT(VOLUNTARY));
	h_must(h_put_policy(c, &pol, false, NULL), "PutPolicy");

	/* 8000 -> 5600 -> 3920: FIXED_PRICE by rule 8, reported, restricting nothing. */
	fp_response_free(cycle_diff(c, "lou", "basic", -10000));
	resp_t *r = cycle_diff(c, "lou", "basic", -10000);
	assert_standing(r->submit_payment->reputation, 3920, H_TIER(FIXED_PRICE), 2);
	fp_response_free(r);

	r = create(c, "lou", "basic", NULL);
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(FAIRPAY));
	assert_int_equal(o->set_price_minor, 0);
	assert_int_equal(o->tier, H_TIER(FIXED_PRICE));
	h_assert_reasons(o, 1, H_OREASON(VOLUNTARY_MODE));
	char *a = strdup(o->offer_id);
	fp_response_free(r);
	r = create(c, "lou", "floor", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY_MINIMUM));
	assert_int_equal(r->create_offer->offer->minimum_price_minor, 400);
	h_assert_reasons(r->create_offer->offer, 1, H_OREASON(VOLUNTARY_MODE));
	fp_response_free(r);
	/* No min_tier either. */
	r = create(c, "lou", "premium", NULL);
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY));
	h_assert_reasons(r->create_offer->offer, 1, H_OREASON(VOLUNTARY_MODE));
	char *b = strdup(r->create_offer->offer->offer_id);
	fp_response_free(r);

	/* Credit is not enforced: both accepted with a limit of 0. */
	h_accept(c, a);
	h_accept(c, b);
	r = h_reputation(c, "lou");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	assert_standing(rep, 3920, H_TIER(FIXED_PRICE), 2);
	assert_int_equal(rep->credit_used_minor, 2000);
	assert_true(rep->n_explanation > 0);
	fp_response_free(r);
	/* The low score is still recorded: 3920 + (10000 - 3920) * 0.3 = 5744. */
	r = pay(c, a, 1000);
	assert_standing(r->submit_payment->reputation, 5744, H_TIER(RESTRICTED), 3);
	fp_response_free(r);
	free(a);
	free(b);
	fp_client_free(c);
}

static void test_transitions(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("transitions", &vid);
	h_product(c, "basic", 1000, 1200);

	char *a = h_offer(c, "max", "basic");
	h_accept(c, a);
	h_assert_code(h_accept_offer(c, a, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	h_assert_code(h_decline_offer(c, a, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	assert_int_equal(offer_status(c, a), H_STATUS(ACCEPTED));
	fp_response_free(pay(c, a, 1000));
	h_assert_code(h_pay(c, a, 1000, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	h_assert_code(h_accept_offer(c, a, NULL), H_PRECONDITION);
	h_assert_code(h_decline_offer(c, a, NULL), H_PRECONDITION);
	assert_int_equal(payments_of(vid, a), 1);
	assert_int_equal(offer_status(c, a), H_STATUS(PAID));

	/* A FairPay offer cannot be paid before it is accepted. */
	char *b = h_offer(c, "max", "basic");
	h_assert_code(h_pay(c, b, 1000, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	assert_int_equal(payments_of(vid, b), 0);
	assert_int_equal(offer_status(c, b), H_STATUS(OPEN));
	resp_t *r = NULL;
	h_assert_code(h_decline_offer(c, b, &r), H_OK);
	assert_int_equal(r->decline_offer->offer->status, H_STATUS(DECLINED));
	assert_int_equal(r->decline_offer->offer->pay_by_unix_ms, 0);
	fp_response_free(r);
	h_assert_code(h_decline_offer(c, b, NULL), H_PRECONDITION);
	h_assert_code(h_accept_offer(c, b, NULL), H_PRECONDITION);
	h_assert_code(h_pay(c, b, 1000, NULL), H_PRECONDITION);
	assert_int_equal(offer_status(c, b), H_STATUS(DECLINED));
	assert_int_equal(payments_of(vid, b), 0);

	/* Only the one payment counted; declining left no credit in use. */
	r = h_reputation(c, "max");
	assert_standing(r->get_reputation->reputation, 8600, H_TIER(PROBATION), 1);
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 0);
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 1);
	fp_response_free(r);
	h_assert_code(h_list_events(c, "max", 0, 0, &r), H_OK);
	int declined = 0, received = 0;
	for (size_t i = 0; i < r->list_customer_events->n_events; i++) {
		if (r->list_customer_events->events[i]->kind == H_EVENT(OFFER_DECLINED))
			declined++;
		if (r->list_customer_events->events[i]->kind == H_EVENT(PAYMENT_RECEIVED))
			received++;
	}
	assert_int_equal(declined, 1);
	assert_int_equal(received, 1);
	fp_response_free(r);
	free(a);
	free(b);
	fp_client_free(c);
	free(vid);
}

static void test_recurring(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("recurring", &vid);
	/* min_tier PROBATION: a RESTRICTED customer's next period is SET_PRICE. */
	product(c, "monthly", 1000, 1200, 0, H_TIER(PROBATION), 30, 0);

	/* Paying a period creates the next, ACCEPTED on FairPay terms. */
	char *o1 = h_offer(c, "nina", "monthly");
	h_accept(c, o1);
	resp_t *r = pay(c, o1, 1000); /* 8000 -> 8600 */
	assert_int_equal(r->submit_payment->reputation->score_bp, 8600);
	Fairpay__V1__Offer *n = r->submit_payment->next_offer;
	assert_non_null(n);
	assert_is_id(n->offer_id, "o_");
	assert_string_not_equal(n->offer_id, o1);
	assert_string_equal(n->previous_offer_id, o1);
	assert_int_equal(n->period_index, 1);
	assert_int_equal(n->status, H_STATUS(ACCEPTED));
	assert_int_equal(n->mode, H_MODE(FAIRPAY));
	assert_int_equal(n->suggested_price_minor, 1000);
	assert_string_equal(n->sku, "monthly");
	assert_string_equal(n->customer_id, "nina");
	assert_true(n->pay_by_unix_ms > n->created_at_unix_ms);
	h_assert_reasons(n, 1, H_OREASON(PROBATION));
	char *o2 = strdup(n->offer_id);
	fp_response_free(r);
	r = h_reputation(c, "nina");
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 2);
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 1000);
	fp_response_free(r);
	assert_int_equal(offer_status(c, o2), H_STATUS(ACCEPTED));

	r = pay(c, o2, 1000); /* 8600 -> 9020 */
	assert_int_equal(r->submit_payment->reputation->score_bp, 9020);
	n = r->submit_payment->next_offer;
	assert_non_null(n);
	assert_string_equal(n->previous_offer_id, o2);
	assert_int_equal(n->period_index, 2);
	assert_int_equal(n->status, H_STATUS(ACCEPTED));
	fp_response_free(r);
	h_assert_code(h_list_events(c, "nina", 0, 0, &r), H_OK);
	int created = 0, accepted = 0;
	for (size_t i = 0; i < r->list_customer_events->n_events; i++) {
		int k = (int)r->list_customer_events->events[i]->kind;
		created += k == H_EVENT(OFFER_CREATED);
		accepted += k == H_EVENT(OFFER_ACCEPTED);
	}
	assert_int_equal(created, 3);
	assert_int_equal(accepted, 3);
	fp_response_free(r);

	/* Falling to FIXED_PRICE: the next period is SET_PRICE and OPEN.
	 * 8000 -> 5600 (PROBATION: next FAIRPAY) -> 3920 (FIXED_PRICE). */
	char *p1 = h_offer(c, "otto", "monthly");
	h_accept(c, p1);
	r = pay_diff(c, p1, -10000);
	n = r->submit_payment->next_offer;
	assert_non_null(n);
	assert_int_equal(n->status, H_STATUS(ACCEPTED));
	assert_int_equal(n->mode, H_MODE(FAIRPAY));
	char *p2 = strdup(n->offer_id);
	fp_response_free(r);
	r = pay_diff(c, p2, -10000);
	assert_int_equal(r->submit_payment->reputation->score_bp, 3920);
	n = r->submit_payment->next_offer;
	assert_non_null(n);
	assert_int_equal(n->status, H_STATUS(OPEN));
	assert_int_equal(n->mode, H_MODE(SET_PRICE));
	assert_int_equal(n->set_price_minor, 1200);
	assert_int_equal(n->pay_by_unix_ms, 0);
	assert_int_equal(n->period_index, 2);
	assert_string_equal(n->previous_offer_id, p2);
	h_assert_reasons(n, 1, H_OREASON(LOW_SCORE));
	char *p3 = strdup(n->offer_id);
	fp_response_free(r);
	r = h_reputation(c, "otto");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 0);
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 2);
	fp_response_free(r);
	/* Paid up front: 3920 + 6080 * 0.3 = 5744, RESTRICTED, below the
	 * product's min_tier: the next period is SET_PRICE for TIER_REQUIRED. */
	r = pay(c, p3, 1200);
	assert_standing(r->submit_payment->reputation, 5744, H_TIER(RESTRICTED), 3);
	n = r->submit_payment->next_offer;
	assert_non_null(n);
	assert_int_equal(n->status, H_STATUS(OPEN));
	assert_int_equal(n->mode, H_MODE(SET_PRICE));
	assert_int_equal(n->period_index, 3);
	h_assert_reasons(n, 1, H_OREASON(TIER_REQUIRED));
	fp_response_free(r);
	assert_int_equal(count("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND "
			       "customer_id = '%s'",
			       vid, "otto"),
			 4);

	/* A one-off product has no next offer. */
	h_product(c, "once", 1000, 1200);
	r = cycle(c, "nina", "once", 1000);
	assert_null(r->submit_payment->next_offer);
	fp_response_free(r);
	free(o1);
	free(o2);
	free(p1);
	free(p2);
	free(p3);
	fp_client_free(c);
	free(vid);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

static void test_one_currency_per_customer(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("two currencies", &vid);
	h_product(c, "usd-plan", 1000, 1200);
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = "eur-plan";
	p.name = "EUR plan";
	p.currency = "EUR";
	p.suggested_price_minor = 900;
	p.list_price_minor = 1100;
	h_must(h_put_product(c, &p, NULL), "PutProduct");

	/* Before any offer a customer has no currency. */
	resp_t *r = h_reputation(c, "dora");
	assert_string_equal(r->get_reputation->reputation->currency, "");
	fp_response_free(r);
	/* The first offer fixes it; the credit and totals are in it. */
	r = h_cycle(c, "dora", "usd-plan", 1000);
	assert_string_equal(r->submit_payment->reputation->currency, "USD");
	assert_int_equal(r->submit_payment->reputation->total_paid_minor, 1000);
	fp_response_free(r);
	/* An offer in another currency would add euros to dollars: refused,
	 * and nothing is written. */
	h_assert_code(h_create_offer(c, "dora", "eur-plan", NULL, NULL), H_PRECONDITION);
	h_assert_field("sku");
	assert_true(h_contains(h_last_message(), "USD"));
	char *sql = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND customer_id = "
			  "'dora' AND currency = 'EUR'",
			  vid);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);
	/* Another customer may pay in euros. */
	r = h_cycle(c, "emil", "eur-plan", 900);
	assert_string_equal(r->submit_payment->reputation->currency, "EUR");
	assert_int_equal(r->submit_payment->reputation->total_suggested_minor, 900);
	fp_response_free(r);
	r = h_reputation(c, "dora");
	assert_string_equal(r->get_reputation->reputation->currency, "USD");
	assert_int_equal(r->get_reputation->reputation->total_paid_minor, 1000);
	fp_response_free(r);
	fp_client_free(c);
	free(vid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_products),
		cmocka_unit_test(test_list_products),
		cmocka_unit_test(test_policy_defaults),
		cmocka_unit_test(test_policy_partial_update),
		cmocka_unit_test(test_policy_out_of_range),
		cmocka_unit_test(test_first_cycle),
		cmocka_unit_test(test_standard_and_restricted),
		cmocka_unit_test(test_min_tier_default),
		cmocka_unit_test(test_differential_and_caps),
		cmocka_unit_test(test_zero_sp_and_usage),
		cmocka_unit_test(test_excuse_and_review),
		cmocka_unit_test(test_fixed_price),
		cmocka_unit_test(test_product_minimum),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_credit_recheck),
		cmocka_unit_test(test_voluntary),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_recurring),
		cmocka_unit_test(test_one_currency_per_customer),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
