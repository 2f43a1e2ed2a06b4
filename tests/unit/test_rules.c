/* Unit tests of the FairPay rules (server/rules/fp_rules.c) against the exact
 * integer arithmetic of PROTOCOL.md. Expected values are worked out by hand;
 * the comment next to a non-obvious one shows the computation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the headers above first. */
#include <cmocka.h>

#include <string.h>

#include "fairpay.pb-c.h"
#include "fp_rules.h"

/* The server converts fp_ enums to and from the generated ones by cast. */
#define SAME_ENUM(fp, pb) _Static_assert((int)(fp) == (int)(pb), #fp " != " #pb)
SAME_ENUM(FP_ENFORCEMENT_ENFORCE, FAIRPAY__V1__ENFORCEMENT__ENFORCEMENT_ENFORCE);
SAME_ENUM(FP_ENFORCEMENT_VOLUNTARY, FAIRPAY__V1__ENFORCEMENT__ENFORCEMENT_VOLUNTARY);
SAME_ENUM(FP_TIER_UNSPECIFIED, FAIRPAY__V1__TIER__TIER_UNSPECIFIED);
SAME_ENUM(FP_TIER_FIXED_PRICE, FAIRPAY__V1__TIER__TIER_FIXED_PRICE);
SAME_ENUM(FP_TIER_RESTRICTED, FAIRPAY__V1__TIER__TIER_RESTRICTED);
SAME_ENUM(FP_TIER_PROBATION, FAIRPAY__V1__TIER__TIER_PROBATION);
SAME_ENUM(FP_TIER_STANDARD, FAIRPAY__V1__TIER__TIER_STANDARD);
SAME_ENUM(FP_TIER_TRUSTED, FAIRPAY__V1__TIER__TIER_TRUSTED);
SAME_ENUM(FP_OFFER_STATUS_OPEN, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_OPEN);
SAME_ENUM(FP_OFFER_STATUS_ACCEPTED, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_ACCEPTED);
SAME_ENUM(FP_OFFER_STATUS_PAID, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_PAID);
SAME_ENUM(FP_OFFER_STATUS_DECLINED, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_DECLINED);
SAME_ENUM(FP_OFFER_STATUS_EXPIRED, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_EXPIRED);
SAME_ENUM(FP_OFFER_STATUS_DEFAULTED, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_DEFAULTED);
SAME_ENUM(FP_MODE_FAIRPAY, FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY);
SAME_ENUM(FP_MODE_FAIRPAY_MINIMUM, FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY_MINIMUM);
SAME_ENUM(FP_MODE_SET_PRICE, FAIRPAY__V1__OFFER_MODE__OFFER_MODE_SET_PRICE);
SAME_ENUM(FP_OFFER_REASON_PROBATION, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_PROBATION);
SAME_ENUM(FP_OFFER_REASON_CREDIT_LIMIT, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_CREDIT_LIMIT);
SAME_ENUM(FP_OFFER_REASON_LOW_SCORE, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_LOW_SCORE);
SAME_ENUM(FP_OFFER_REASON_OPEN_DEFAULTS, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_OPEN_DEFAULTS);
SAME_ENUM(FP_OFFER_REASON_TIER_REQUIRED, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_TIER_REQUIRED);
SAME_ENUM(FP_OFFER_REASON_PRODUCT_MINIMUM, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_PRODUCT_MINIMUM);
SAME_ENUM(FP_OFFER_REASON_VENDOR_OVERRIDE, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_VENDOR_OVERRIDE);
SAME_ENUM(FP_OFFER_REASON_VOLUNTARY_MODE, FAIRPAY__V1__OFFER_REASON__OFFER_REASON_VOLUNTARY_MODE);
SAME_ENUM(FP_PAYMENT_REASON_DID_NOT_USE, FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE);
SAME_ENUM(FP_PAYMENT_REASON_POOR_QUALITY, FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_POOR_QUALITY);
SAME_ENUM(FP_PAYMENT_REASON_NOT_AS_DESCRIBED,
	  FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_NOT_AS_DESCRIBED);
SAME_ENUM(FP_PAYMENT_REASON_TECHNICAL_PROBLEM,
	  FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_TECHNICAL_PROBLEM);
SAME_ENUM(FP_PAYMENT_REASON_CANNOT_AFFORD,
	  FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_CANNOT_AFFORD);
SAME_ENUM(FP_PAYMENT_REASON_GREAT_VALUE, FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_GREAT_VALUE);
SAME_ENUM(FP_PAYMENT_REASON_OTHER, FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_OTHER);
SAME_ENUM(FP_VERDICT_GENEROUS, FAIRPAY__V1__VERDICT__VERDICT_GENEROUS);
SAME_ENUM(FP_VERDICT_FAIR, FAIRPAY__V1__VERDICT__VERDICT_FAIR);
SAME_ENUM(FP_VERDICT_LOW, FAIRPAY__V1__VERDICT__VERDICT_LOW);
SAME_ENUM(FP_VERDICT_UNFAIR, FAIRPAY__V1__VERDICT__VERDICT_UNFAIR);
SAME_ENUM(FP_REVIEW_NOT_NEEDED, FAIRPAY__V1__REVIEW__REVIEW_NOT_NEEDED);
SAME_ENUM(FP_REVIEW_PENDING, FAIRPAY__V1__REVIEW__REVIEW_PENDING);
SAME_ENUM(FP_REVIEW_ACCEPTED, FAIRPAY__V1__REVIEW__REVIEW_ACCEPTED);
SAME_ENUM(FP_REVIEW_REJECTED, FAIRPAY__V1__REVIEW__REVIEW_REJECTED);

#define BIT(r) FP_REASON_BIT(FP_PAYMENT_REASON_##r)

static fp_policy defaults(void)
{
	fp_policy p;
	fp_policy_defaults(&p);
	return p;
}

/* ---------------------------------------------------------------- policy */

static void test_policy_defaults(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const char *field = "unset";

	assert_int_equal(p.enforcement, FP_ENFORCEMENT_ENFORCE);
	assert_int_equal(p.prior_score_bp, 8000);
	assert_int_equal(p.alpha_bp, 3000);
	assert_int_equal(p.probation_payments, 3);
	assert_int_equal(p.trusted_score_bp, 9000);
	assert_int_equal(p.fair_score_bp, 8000);
	assert_int_equal(p.low_score_bp, 5000);
	assert_int_equal(p.generous_bp, 11000);
	assert_int_equal(p.max_open_defaults, 2);
	assert_int_equal(p.restricted_minimum_bp, 5000);
	assert_int_equal(p.probation_credit_minor, 2000);
	assert_int_equal(p.standard_credit_minor, 10000);
	assert_int_equal(p.trusted_credit_minor, 50000);
	/* DID_NOT_USE (1), NOT_AS_DESCRIBED (3), TECHNICAL_PROBLEM (4): 2 + 8 + 16 */
	assert_int_equal(p.excusing_reasons, 26);
	assert_int_equal(p.excused_floor_bp, 8000);
	assert_int_equal(p.late_penalty_bp, 2000);
	assert_int_equal(p.offer_ttl_seconds, 86400);
	assert_int_equal(p.payment_window_seconds, 1209600);
	assert_int_equal(fp_policy_validate(&p, &field), 0);
	assert_null(field);
	assert_int_equal(fp_policy_validate(&p, NULL), 0);
}

/* One range check: a setter that puts v into a field of an otherwise valid
 * policy (threshold setters first move the other thresholds out of the way). */
typedef struct range_case {
	const char *field;
	void (*set)(fp_policy *p, int64_t v);
	int64_t lo, hi;
	bool open_high; /* no upper bound */
} range_case;

static void set_enforcement(fp_policy *p, int64_t v)
{
	p->enforcement = (fp_enforcement)v;
}
static void set_prior(fp_policy *p, int64_t v)
{
	p->prior_score_bp = (int32_t)v;
}
static void set_alpha(fp_policy *p, int64_t v)
{
	p->alpha_bp = (int32_t)v;
}
static void set_probation(fp_policy *p, int64_t v)
{
	p->probation_payments = (int32_t)v;
}
static void set_trusted(fp_policy *p, int64_t v)
{
	p->low_score_bp = 0;
	p->fair_score_bp = 0;
	p->generous_bp = 20000;
	p->trusted_score_bp = (int32_t)v;
}
static void set_fair(fp_policy *p, int64_t v)
{
	p->low_score_bp = 0;
	p->trusted_score_bp = 20000;
	p->generous_bp = 20000;
	p->fair_score_bp = (int32_t)v;
}
static void set_low(fp_policy *p, int64_t v)
{
	p->fair_score_bp = 20000;
	p->trusted_score_bp = 20000;
	p->generous_bp = 20000;
	p->low_score_bp = (int32_t)v;
}
static void set_generous(fp_policy *p, int64_t v)
{
	p->low_score_bp = 0;
	p->fair_score_bp = 0;
	p->generous_bp = (int32_t)v;
}
static void set_max_open(fp_policy *p, int64_t v)
{
	p->max_open_defaults = (int32_t)v;
}
static void set_restricted(fp_policy *p, int64_t v)
{
	p->restricted_minimum_bp = (int32_t)v;
}
static void set_prob_credit(fp_policy *p, int64_t v)
{
	p->probation_credit_minor = v;
}
static void set_std_credit(fp_policy *p, int64_t v)
{
	p->standard_credit_minor = v;
}
static void set_trusted_credit(fp_policy *p, int64_t v)
{
	p->trusted_credit_minor = v;
}
static void set_floor(fp_policy *p, int64_t v)
{
	p->excused_floor_bp = (int32_t)v;
}
static void set_late(fp_policy *p, int64_t v)
{
	p->late_penalty_bp = (int32_t)v;
}
static void set_ttl(fp_policy *p, int64_t v)
{
	p->offer_ttl_seconds = v;
}
static void set_window(fp_policy *p, int64_t v)
{
	p->payment_window_seconds = v;
}

static void set_cap(fp_policy *p, int64_t v)
{
	p->attestation_cap_bp = (int32_t)v;
}

static const range_case range_cases[] = {
	{ "enforcement", set_enforcement, 1, 2, false },
	{ "prior_score_bp", set_prior, 0, 15000, false },
	{ "alpha_bp", set_alpha, 1, 10000, false },
	{ "probation_payments", set_probation, 0, 1000, false },
	{ "trusted_score_bp", set_trusted, 0, 20000, false },
	{ "fair_score_bp", set_fair, 0, 20000, false },
	{ "low_score_bp", set_low, 0, 20000, false },
	{ "generous_bp", set_generous, 0, 20000, false },
	{ "max_open_defaults", set_max_open, 0, 1000, false },
	{ "restricted_minimum_bp", set_restricted, 0, 10000, false },
	{ "probation_credit_minor", set_prob_credit, 0, INT64_MAX, true },
	{ "standard_credit_minor", set_std_credit, 0, INT64_MAX, true },
	{ "trusted_credit_minor", set_trusted_credit, 0, INT64_MAX, true },
	{ "excused_floor_bp", set_floor, 0, 10000, false },
	{ "late_penalty_bp", set_late, 0, 10000, false },
	{ "offer_ttl_seconds", set_ttl, 1, FP_MAX_SECONDS, false },
	{ "payment_window_seconds", set_window, 1, FP_MAX_SECONDS, false },
	{ "attestation_cap_bp", set_cap, 0, 15000, false },
};

static void expect_valid(const range_case *c, int64_t v)
{
	fp_policy p = defaults();
	const char *field = "unset";
	c->set(&p, v);
	if (fp_policy_validate(&p, &field) != 0)
		fail_msg("%s = %lld should be valid, got field %s", c->field, (long long)v, field);
	assert_null(field);
}

static void expect_invalid(const range_case *c, int64_t v)
{
	fp_policy p = defaults();
	const char *field = NULL;
	c->set(&p, v);
	if (fp_policy_validate(&p, &field) != -1)
		fail_msg("%s = %lld should be invalid", c->field, (long long)v);
	assert_non_null(field);
	assert_string_equal(field, c->field);
}

static void test_policy_ranges(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const range_case *c = &range_cases[i];
		expect_valid(c, c->lo);
		expect_valid(c, c->hi);
		expect_invalid(c, c->lo - 1);
		if (!c->open_high)
			expect_invalid(c, c->hi + 1);
	}
}

static void test_policy_range_extremes(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const char *field = NULL;

	p.alpha_bp = INT32_MIN;
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "alpha_bp");

	p = defaults();
	p.offer_ttl_seconds = INT64_MAX;
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "offer_ttl_seconds");

	p = defaults();
	p.trusted_credit_minor = INT64_MIN;
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "trusted_credit_minor");
}

static void test_policy_excusing_reasons(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const char *field = NULL;

	p.excusing_reasons = 0;
	assert_int_equal(fp_policy_validate(&p, &field), 0);
	p.excusing_reasons = FP_REASONS_ALL; /* bits 1-7 */
	assert_int_equal(FP_REASONS_ALL, 0xFE);
	assert_int_equal(fp_policy_validate(&p, &field), 0);
	p.excusing_reasons = FP_REASON_BIT(FP_PAYMENT_REASON_UNSPECIFIED);
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "excusing_reasons");
	p.excusing_reasons = FP_REASON_BIT(8);
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "excusing_reasons");
}

static void test_policy_threshold_order(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const char *field = NULL;

	/* equal thresholds are allowed */
	p.low_score_bp = p.fair_score_bp = p.trusted_score_bp = p.generous_bp = 7000;
	assert_int_equal(fp_policy_validate(&p, &field), 0);

	p = defaults();
	p.low_score_bp = 8001; /* > fair 8000 */
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "low_score_bp");
	p.low_score_bp = 8000;
	assert_int_equal(fp_policy_validate(&p, &field), 0);

	p = defaults();
	p.fair_score_bp = 9001; /* > trusted 9000 */
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "fair_score_bp");
	p.fair_score_bp = 9000;
	assert_int_equal(fp_policy_validate(&p, &field), 0);

	p = defaults();
	p.generous_bp = 7999; /* < fair 8000 */
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "generous_bp");
	p.generous_bp = 8000;
	assert_int_equal(fp_policy_validate(&p, &field), 0);

	/* generous may be below trusted: only fair <= generous is required */
	p = defaults();
	p.generous_bp = 8500;
	assert_int_equal(fp_policy_validate(&p, &field), 0);

	/* a range error is reported before an order error */
	p = defaults();
	p.low_score_bp = 9500;
	p.late_penalty_bp = -1;
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "late_penalty_bp");

	/* several range errors: the first in field order */
	p = defaults();
	p.alpha_bp = 0;
	p.prior_score_bp = -1;
	assert_int_equal(fp_policy_validate(&p, &field), -1);
	assert_string_equal(field, "prior_score_bp");
	assert_int_equal(fp_policy_validate(&p, NULL), -1);
}

static void test_small_predicates(void **state)
{
	(void)state;
	assert_false(fp_payment_reason_valid(-1));
	assert_false(fp_payment_reason_valid(FP_PAYMENT_REASON_UNSPECIFIED));
	for (int r = 1; r <= 7; r++)
		assert_true(fp_payment_reason_valid(r));
	assert_false(fp_payment_reason_valid(8));

	assert_false(fp_mode_is_fairpay(FP_MODE_UNSPECIFIED));
	assert_true(fp_mode_is_fairpay(FP_MODE_FAIRPAY));
	assert_true(fp_mode_is_fairpay(FP_MODE_FAIRPAY_MINIMUM));
	assert_false(fp_mode_is_fairpay(FP_MODE_SET_PRICE));
}

/* ---------------------------------------------------------------- rule 1 */

static void test_cycle_sp(void **state)
{
	(void)state;
	int64_t sp = -7;

	assert_int_equal(fp_cycle_sp(1500, 0, 0, &sp), 0); /* flat */
	assert_int_equal(sp, 1500);
	assert_int_equal(fp_cycle_sp(1500, 0, 7, &sp), 0); /* unit price 0: flat */
	assert_int_equal(sp, 1500);
	assert_int_equal(fp_cycle_sp(1500, 25, 0, &sp), 0); /* no usage: offer SP */
	assert_int_equal(sp, 1500);
	assert_int_equal(fp_cycle_sp(1500, 25, 40, &sp), 0); /* 25 * 40 */
	assert_int_equal(sp, 1000);
	assert_int_equal(fp_cycle_sp(0, 0, 0, &sp), 0);
	assert_int_equal(sp, 0);
	assert_int_equal(fp_cycle_sp(0, INT64_MAX, 1, &sp), 0);
	assert_int_equal(sp, INT64_MAX);
}

static void test_cycle_sp_invalid_and_overflow(void **state)
{
	(void)state;
	int64_t sp = 42;

	assert_int_equal(fp_cycle_sp(-1, 0, 0, &sp), -1);
	assert_int_equal(fp_cycle_sp(100, -1, 5, &sp), -1);
	assert_int_equal(fp_cycle_sp(100, 5, -1, &sp), -1);
	assert_int_equal(fp_cycle_sp(100, INT64_MAX, 2, &sp), -1);
	/* 3037000500^2 = 9223372037000250000 > INT64_MAX = 9223372036854775807 */
	assert_int_equal(fp_cycle_sp(100, 3037000500LL, 3037000500LL, &sp), -1);
	/* 3037000499^2 = 9223372030926249001 fits */
	assert_int_equal(fp_cycle_sp(100, 3037000499LL, 3037000499LL, &sp), 0);
	assert_int_equal(sp, 9223372030926249001LL);
}

/* ---------------------------------------------------------------- rule 2 */

static void test_amount_from_differential(void **state)
{
	(void)state;
	int64_t a = -1;

	assert_int_equal(fp_amount_from_differential(1000, 0, &a), 0);
	assert_int_equal(a, 1000);
	assert_int_equal(fp_amount_from_differential(1000, -10000, &a), 0);
	assert_int_equal(a, 0);
	assert_int_equal(fp_amount_from_differential(1000, 2500, &a), 0);
	assert_int_equal(a, 1250);
	/* 1000 * 6667 / 10000 = 666.7 -> 666 */
	assert_int_equal(fp_amount_from_differential(1000, -3333, &a), 0);
	assert_int_equal(a, 666);
	/* 999 * 10001 / 10000 = 999.0999 -> 999 */
	assert_int_equal(fp_amount_from_differential(999, 1, &a), 0);
	assert_int_equal(a, 999);
	/* 1 * 19999 / 10000 = 1.9999 -> 1 */
	assert_int_equal(fp_amount_from_differential(1, 9999, &a), 0);
	assert_int_equal(a, 1);
	/* 1 * 9999 / 10000 = 0.9999 -> 0 */
	assert_int_equal(fp_amount_from_differential(1, -1, &a), 0);
	assert_int_equal(a, 0);
	assert_int_equal(fp_amount_from_differential(0, 5000, &a), 0);
	assert_int_equal(a, 0);
	/* 1000 * (10000 + 2147483647) / 10000 = 214749364.7 -> 214749364 */
	assert_int_equal(fp_amount_from_differential(1000, INT32_MAX, &a), 0);
	assert_int_equal(a, 214749364);
}

static void test_amount_from_differential_limits(void **state)
{
	(void)state;
	int64_t a = 42;

	assert_int_equal(fp_amount_from_differential(1000, -10001, &a), -1);
	assert_int_equal(fp_amount_from_differential(1000, INT32_MIN, &a), -1);
	assert_int_equal(fp_amount_from_differential(-1, 0, &a), -1);
	assert_int_equal(a, 42);
	/* SP * 10000 overflows int64 but the amount does not */
	assert_int_equal(fp_amount_from_differential(INT64_MAX, 0, &a), 0);
	assert_int_equal(a, INT64_MAX);
	/* floor(INT64_MAX * 5000 / 10000) = floor(INT64_MAX / 2) */
	assert_int_equal(fp_amount_from_differential(INT64_MAX, -5000, &a), 0);
	assert_int_equal(a, 4611686018427387903LL);
	assert_int_equal(fp_amount_from_differential(INT64_MAX, 1, &a), -1);
	/* INT64_MAX / 2 * 2 = 9223372036854775806 fits; * 3 does not */
	assert_int_equal(fp_amount_from_differential(INT64_MAX / 2, 10000, &a), 0);
	assert_int_equal(a, 9223372036854775806LL);
	assert_int_equal(fp_amount_from_differential(INT64_MAX / 2, 20000, &a), -1);
}

/* ---------------------------------------------------------------- rule 3 */

static void test_check_mode(void **state)
{
	(void)state;
	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY, 0, 0, 0), 0);
	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY, 5, 1500, 300), 0);
	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY, -1, 0, 0), -1);

	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY_MINIMUM, 499, 0, 500), -1);
	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY_MINIMUM, 500, 0, 500), 0);
	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY_MINIMUM, 501, 0, 500), 0);
	assert_int_equal(fp_check_mode(FP_MODE_FAIRPAY_MINIMUM, 0, 0, 0), 0);

	assert_int_equal(fp_check_mode(FP_MODE_SET_PRICE, 1999, 1999, 0), 0);
	assert_int_equal(fp_check_mode(FP_MODE_SET_PRICE, 1998, 1999, 0), -1);
	assert_int_equal(fp_check_mode(FP_MODE_SET_PRICE, 2000, 1999, 0), -1);
	assert_int_equal(fp_check_mode(FP_MODE_SET_PRICE, 0, 0, 0), 0);

	assert_int_equal(fp_check_mode(FP_MODE_UNSPECIFIED, 100, 100, 0), -1);
	assert_int_equal(fp_check_mode((fp_mode)9, 100, 100, 0), -1);
}

/* ---------------------------------------------------------------- rule 4 */

static void test_raw_fairness(void **state)
{
	(void)state;
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 0, 0), 10000); /* SP 0 */
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 500, 0), 10000);
	assert_int_equal(fp_raw_fairness(FP_MODE_SET_PRICE, 1999, 1000), 10000);
	assert_int_equal(fp_raw_fairness(FP_MODE_SET_PRICE, 0, 1000), 10000);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 1000, 1000), 10000);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 0, 1000), 0);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 999, 1000), 9990);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY_MINIMUM, 500, 1000), 5000);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 1, 3), 3333);  /* 3333.3 */
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 2, 3), 6666);  /* 6666.7 */
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 1, 10001), 0); /* 0.9999 */
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 1999, 1000), 19990);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 2000, 1000), 20000);
	/* 2001 * 10000 / 1000 = 20010, capped */
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 2001, 1000), 20000);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 5000000, 1000), 20000);
}

static void test_raw_fairness_overflow(void **state)
{
	(void)state;
	/* amount * 10000 would overflow int64 */
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, INT64_MAX, INT64_MAX), 10000);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, INT64_MAX, 1), 20000);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, INT64_MAX / 2, INT64_MAX), 4999);
	assert_int_equal(fp_raw_fairness(FP_MODE_FAIRPAY, 1, INT64_MAX), 0);
}

/* ---------------------------------------------------------------- verdict */

static void test_verdict(void **state)
{
	(void)state;
	fp_policy p = defaults();

	assert_int_equal(fp_verdict_of(&p, 20000), FP_VERDICT_GENEROUS);
	assert_int_equal(fp_verdict_of(&p, 11000), FP_VERDICT_GENEROUS);
	assert_int_equal(fp_verdict_of(&p, 10999), FP_VERDICT_FAIR);
	assert_int_equal(fp_verdict_of(&p, 10000), FP_VERDICT_FAIR);
	assert_int_equal(fp_verdict_of(&p, 8000), FP_VERDICT_FAIR);
	assert_int_equal(fp_verdict_of(&p, 7999), FP_VERDICT_LOW);
	assert_int_equal(fp_verdict_of(&p, 5000), FP_VERDICT_LOW);
	assert_int_equal(fp_verdict_of(&p, 4999), FP_VERDICT_UNFAIR);
	assert_int_equal(fp_verdict_of(&p, 0), FP_VERDICT_UNFAIR);

	p.low_score_bp = 0;
	assert_int_equal(fp_verdict_of(&p, 0), FP_VERDICT_LOW);
	p.fair_score_bp = p.generous_bp = 9000;
	assert_int_equal(fp_verdict_of(&p, 9000), FP_VERDICT_GENEROUS);
	assert_int_equal(fp_verdict_of(&p, 8999), FP_VERDICT_LOW);
}

/* ---------------------------------------------------------------- rule 5 */

static void test_excuse(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_review r = FP_REVIEW_UNSPECIFIED;

	assert_int_equal(fp_excuse(&p, BIT(DID_NOT_USE), 3000, &r), 8000);
	assert_int_equal(r, FP_REVIEW_PENDING);
	assert_int_equal(fp_excuse(&p, BIT(NOT_AS_DESCRIBED), 0, &r), 8000);
	assert_int_equal(r, FP_REVIEW_PENDING);
	assert_int_equal(fp_excuse(&p, BIT(TECHNICAL_PROBLEM), 7999, &r), 8000);
	assert_int_equal(r, FP_REVIEW_PENDING);
	/* exactly at the floor: not below it, so not excused */
	assert_int_equal(fp_excuse(&p, BIT(DID_NOT_USE), 8000, &r), 8000);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);
	assert_int_equal(fp_excuse(&p, BIT(DID_NOT_USE), 9000, &r), 9000);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);
	/* reasons that do not excuse */
	assert_int_equal(fp_excuse(&p, BIT(POOR_QUALITY), 3000, &r), 3000);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);
	assert_int_equal(fp_excuse(&p, BIT(CANNOT_AFFORD) | BIT(GREAT_VALUE) | BIT(OTHER), 0, &r),
			 0);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);
	assert_int_equal(fp_excuse(&p, 0, 3000, &r), 3000);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);
	/* one excusing reason among others is enough */
	assert_int_equal(fp_excuse(&p, BIT(POOR_QUALITY) | BIT(TECHNICAL_PROBLEM), 100, &r), 8000);
	assert_int_equal(r, FP_REVIEW_PENDING);
}

static void test_excuse_policy_variants(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_review r = FP_REVIEW_UNSPECIFIED;

	p.excusing_reasons = 0;
	assert_int_equal(fp_excuse(&p, FP_REASONS_ALL, 0, &r), 0);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);

	p = defaults();
	p.excused_floor_bp = 0; /* nothing is below 0 */
	assert_int_equal(fp_excuse(&p, BIT(DID_NOT_USE), 0, &r), 0);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);

	p = defaults();
	p.excusing_reasons = BIT(POOR_QUALITY);
	p.excused_floor_bp = 10000;
	assert_int_equal(fp_excuse(&p, BIT(POOR_QUALITY), 9999, &r), 10000);
	assert_int_equal(r, FP_REVIEW_PENDING);
	assert_int_equal(fp_excuse(&p, BIT(DID_NOT_USE), 9999, &r), 9999);
	assert_int_equal(r, FP_REVIEW_NOT_NEEDED);
}

static void test_review_fairness(void **state)
{
	(void)state;
	assert_int_equal(fp_review_fairness(3000, true), 10000);
	assert_int_equal(fp_review_fairness(0, true), 10000);
	assert_int_equal(fp_review_fairness(10000, true), 10000);
	assert_int_equal(fp_review_fairness(12000, true), 12000);
	assert_int_equal(fp_review_fairness(3000, false), 3000);
	assert_int_equal(fp_review_fairness(0, false), 0);
}

static void test_review_payment(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_assessment a;

	memset(&a, 0x5a, sizeof(a));
	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_NOT_NEEDED, false, true, &a), -1);
	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_ACCEPTED, false, true, &a), -1);
	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_REJECTED, false, false, &a), -1);
	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_UNSPECIFIED, false, true, &a), -1);
	assert_int_equal(a.fairness_bp, 0x5a5a5a5a); /* untouched */

	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_PENDING, false, true, &a), 0);
	assert_int_equal(a.raw_fairness_bp, 3000);
	assert_int_equal(a.fairness_bp, 10000);
	assert_int_equal(a.review, FP_REVIEW_ACCEPTED);
	assert_int_equal(a.verdict, FP_VERDICT_FAIR);

	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_PENDING, false, false, &a), 0);
	assert_int_equal(a.fairness_bp, 3000);
	assert_int_equal(a.review, FP_REVIEW_REJECTED);
	assert_int_equal(a.verdict, FP_VERDICT_UNFAIR);

	assert_int_equal(fp_review_payment(&p, 6000, FP_REVIEW_PENDING, false, false, &a), 0);
	assert_int_equal(a.fairness_bp, 6000);
	assert_int_equal(a.verdict, FP_VERDICT_LOW);
}

static void test_review_late_payment(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_assessment a;

	/* accepted: max(3000, 10000) = 10000, late: 10000 - 2000 = 8000 */
	assert_int_equal(fp_review_payment(&p, 3000, FP_REVIEW_PENDING, true, true, &a), 0);
	assert_int_equal(a.fairness_bp, 8000);
	assert_int_equal(a.review, FP_REVIEW_ACCEPTED);
	assert_int_equal(a.verdict, FP_VERDICT_FAIR);

	/* rejected: 1000, late: max(0, 1000 - 2000) = 0 */
	assert_int_equal(fp_review_payment(&p, 1000, FP_REVIEW_PENDING, true, false, &a), 0);
	assert_int_equal(a.fairness_bp, 0);
	assert_int_equal(a.review, FP_REVIEW_REJECTED);
	assert_int_equal(a.verdict, FP_VERDICT_UNFAIR);

	/* rejected: 7000 - 2000 = 5000, exactly the lowest LOW */
	assert_int_equal(fp_review_payment(&p, 7000, FP_REVIEW_PENDING, true, false, &a), 0);
	assert_int_equal(a.fairness_bp, 5000);
	assert_int_equal(a.verdict, FP_VERDICT_LOW);
}

/* ---------------------------------------------------------------- rule 6 */

static void test_late_fairness(void **state)
{
	(void)state;
	fp_policy p = defaults();

	assert_int_equal(fp_late_fairness(&p, 10000), 8000);
	assert_int_equal(fp_late_fairness(&p, 20000), 18000);
	assert_int_equal(fp_late_fairness(&p, 2001), 1);
	assert_int_equal(fp_late_fairness(&p, 2000), 0);
	assert_int_equal(fp_late_fairness(&p, 1500), 0); /* 1500 - 2000 < 0 */
	assert_int_equal(fp_late_fairness(&p, 0), 0);
	p.late_penalty_bp = 0;
	assert_int_equal(fp_late_fairness(&p, 7777), 7777);
	p.late_penalty_bp = 10000;
	assert_int_equal(fp_late_fairness(&p, 20000), 10000);
	assert_int_equal(fp_late_fairness(&p, 9999), 0);
}

/* ---------------------------------------------------------------- rules 4-6 together */

static void expect_assessment(const fp_assessment *a, int32_t raw, int32_t fairness,
			      fp_verdict verdict, fp_review review)
{
	assert_int_equal(a->raw_fairness_bp, raw);
	assert_int_equal(a->fairness_bp, fairness);
	assert_int_equal(a->verdict, verdict);
	assert_int_equal(a->review, review);
}

static void test_assess_payment(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_assessment a;

	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1200, 1000, 0, false, &a);
	expect_assessment(&a, 12000, 12000, FP_VERDICT_GENEROUS, FP_REVIEW_NOT_NEEDED);
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1100, 1000, 0, false, &a);
	expect_assessment(&a, 11000, 11000, FP_VERDICT_GENEROUS, FP_REVIEW_NOT_NEEDED);
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1099, 1000, 0, false, &a);
	expect_assessment(&a, 10990, 10990, FP_VERDICT_FAIR, FP_REVIEW_NOT_NEEDED);
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 3000, 1000, 0, false, &a);
	expect_assessment(&a, 20000, 20000, FP_VERDICT_GENEROUS, FP_REVIEW_NOT_NEEDED);
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 400, 1000, BIT(POOR_QUALITY), false, &a);
	expect_assessment(&a, 4000, 4000, FP_VERDICT_UNFAIR, FP_REVIEW_NOT_NEEDED);
	fp_assess_payment(&p, FP_MODE_FAIRPAY_MINIMUM, 600, 1000, 0, false, &a);
	expect_assessment(&a, 6000, 6000, FP_VERDICT_LOW, FP_REVIEW_NOT_NEEDED);
	/* the verdict judges the excused fairness (8000 = lowest FAIR) */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 0, 1000, BIT(DID_NOT_USE), false, &a);
	expect_assessment(&a, 0, 8000, FP_VERDICT_FAIR, FP_REVIEW_PENDING);
	/* SP 0: 10000 whatever the amount */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 0, 0, BIT(DID_NOT_USE), false, &a);
	expect_assessment(&a, 10000, 10000, FP_VERDICT_FAIR, FP_REVIEW_NOT_NEEDED);
	/* SET_PRICE: 10000, never excused */
	fp_assess_payment(&p, FP_MODE_SET_PRICE, 1500, 1000, BIT(DID_NOT_USE), false, &a);
	expect_assessment(&a, 10000, 10000, FP_VERDICT_FAIR, FP_REVIEW_NOT_NEEDED);
}

static void test_assess_late_payment(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_assessment a;

	/* 10000 - 2000 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1000, 1000, 0, true, &a);
	expect_assessment(&a, 10000, 8000, FP_VERDICT_FAIR, FP_REVIEW_NOT_NEEDED);
	/* 1000 - 2000 < 0 -> 0 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 100, 1000, 0, true, &a);
	expect_assessment(&a, 1000, 0, FP_VERDICT_UNFAIR, FP_REVIEW_NOT_NEEDED);
	/* excused to the floor 8000 first, then 8000 - 2000 = 6000 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 0, 1000, BIT(DID_NOT_USE), true, &a);
	expect_assessment(&a, 0, 6000, FP_VERDICT_LOW, FP_REVIEW_PENDING);
	/* 20000 - 2000 = 18000 (the 20000 cap comes first) */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 9000, 1000, 0, true, &a);
	expect_assessment(&a, 20000, 18000, FP_VERDICT_GENEROUS, FP_REVIEW_NOT_NEEDED);
	/* 12999 - 2000 = 10999: FAIR, not GENEROUS */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 12999, 10000, 0, true, &a);
	expect_assessment(&a, 12999, 10999, FP_VERDICT_FAIR, FP_REVIEW_NOT_NEEDED);
}

/* ---------------------------------------------------------------- rule 7 */

static void test_score_step(void **state)
{
	(void)state;
	/* 8000 + (10000 - 8000) * 3000 / 10000 = 8000 + 600 */
	assert_int_equal(fp_score_step(8000, 10000, 3000), 8600);
	/* 8000 + (-8000 * 3000) / 10000 = 8000 - 2400 */
	assert_int_equal(fp_score_step(8000, 0, 3000), 5600);
	/* (-8001 * 3333) / 10000 = -2666.7333 -> -2666 (toward zero; floor gives 5334) */
	assert_int_equal(fp_score_step(8001, 0, 3333), 5335);
	/* (1999 * 3333) / 10000 = 666.2667 -> 666 */
	assert_int_equal(fp_score_step(8001, 10000, 3333), 8667);
	/* (-1 * 3000) / 10000 = -0.3 -> 0: a tiny drop truncates to no change */
	assert_int_equal(fp_score_step(8000, 7999, 3000), 8000);
	/* (-7 * 3000) / 10000 = -2.1 -> -2 */
	assert_int_equal(fp_score_step(8000, 7993, 3000), 7998);
	/* (-10 * 3000) / 10000 = -3 exactly */
	assert_int_equal(fp_score_step(8000, 7990, 3000), 7997);
	assert_int_equal(fp_score_step(0, 0, 3000), 0);
	assert_int_equal(fp_score_step(8000, 8000, 3000), 8000);
	/* alpha 1: (1 * 1) / 10000 = 0 */
	assert_int_equal(fp_score_step(14999, 15000, 1), 14999);
	/* alpha 10000: the score becomes f */
	assert_int_equal(fp_score_step(8000, 12345, 10000), 12345);
	assert_int_equal(fp_score_step(8000, 0, 10000), 0);
}

static void test_score_fairness_cap(void **state)
{
	(void)state;
	/* f = min(20000, 15000) = 15000: 8000 + 7000 * 3000 / 10000 = 10100 */
	assert_int_equal(fp_score_step(8000, 20000, 3000), 10100);
	assert_int_equal(fp_score_step(8000, 15001, 3000), 10100);
	assert_int_equal(fp_score_step(8000, 15000, 3000), 10100);
	/* 14999: 8000 + 6999 * 3000 / 10000 = 8000 + 2099.7 -> 10099 */
	assert_int_equal(fp_score_step(8000, 14999, 3000), 10099);
	assert_int_equal(fp_score_step(8000, 20000, 10000), 15000);
	assert_int_equal(fp_score_step(15000, 20000, 10000), 15000);
}

static void test_score_replay(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const int32_t three_full[] = { 10000, 10000, 10000 };
	const int32_t with_default[] = { 10000, 0, 10000 };
	const int32_t late_paid[] = { 10000, 8000 };
	const int32_t capped[] = { 20000, 20000 };

	assert_int_equal(fp_score_replay(&p, NULL, 0), 8000);
	/* 8000 -> 8600 -> 8600 + 1400*0.3 = 9020 -> 9020 + 980*3000/10000 = 9020 + 294 */
	assert_int_equal(fp_score_replay(&p, three_full, 3), 9314);
	/* 8000 -> 8600 -> 8600 - 2580 = 6020 -> 6020 + 3980*3000/10000 = 6020 + 1194 */
	assert_int_equal(fp_score_replay(&p, with_default, 3), 7214);
	/* default at 0 replaced by a late full payment (8000):
	 * 8600 + (-600 * 3000) / 10000 = 8600 - 180 */
	assert_int_equal(fp_score_replay(&p, late_paid, 2), 8420);
	/* 8000 -> 10100 -> 10100 + 4900*3000/10000 = 10100 + 1470 */
	assert_int_equal(fp_score_replay(&p, capped, 2), 11570);

	p.prior_score_bp = 5000;
	p.alpha_bp = 5000;
	/* 5000 -> 7500 -> 3750 (7500 - 7500*0.5) -> 3750 + 6250*0.5 = 6875 */
	assert_int_equal(fp_score_replay(&p, with_default, 3), 6875);
}

static void test_score_replay_truncation(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const int32_t zeros[] = { 0, 0, 0 };

	p.prior_score_bp = 8001;
	p.alpha_bp = 3333;
	/* 8001 -> 8001 - 2666 = 5335 (-2666.7333 truncated)
	 * 5335 -> (-5335 * 3333) / 10000 = -1778.1555 -> -1778 -> 3557
	 * 3557 -> (-3557 * 3333) / 10000 = -1185.5481 -> -1185 -> 2372 */
	assert_int_equal(fp_score_replay(&p, zeros, 1), 5335);
	assert_int_equal(fp_score_replay(&p, zeros, 2), 3557);
	assert_int_equal(fp_score_replay(&p, zeros, 3), 2372);
}

static void test_score_resume(void **state)
{
	(void)state;
	fp_policy p = defaults();
	const int32_t f[] = { 10000, 0, 10000 };
	int32_t before[3] = { -1, -1, -1 };

	/* From the prior it is the replay, with the score before each cycle:
	 * 8000 -> 8600 -> 6020 -> 7214 (test_score_replay). */
	assert_int_equal(fp_score_resume(&p, 8000, f, 3, before), 7214);
	assert_int_equal(before[0], 8000);
	assert_int_equal(before[1], 8600);
	assert_int_equal(before[2], 6020);
	/* From a checkpoint: only the cycles from there on. */
	assert_int_equal(fp_score_resume(&p, before[1], f + 1, 2, NULL), 7214);
	assert_int_equal(fp_score_resume(&p, before[2], f + 2, 1, NULL), 7214);
	assert_int_equal(fp_score_resume(&p, 6020, NULL, 0, NULL), 6020);
}

/* A review (a cycle's fairness changed) and a late payment (a default
 * dropped, a payment appended) resumed at the changed cycle give the full
 * replay of the changed history, for random histories and policies. */
static void test_score_resume_random(void **state)
{
	(void)state;
	enum {
		N = 60
	};
	uint32_t seed = 12345;
#define NEXT() (seed = seed * 1103515245u + 12345u, (seed >> 8) & 0xffffff)
	for (int round = 0; round < 300; round++) {
		fp_policy p = defaults();
		p.prior_score_bp = (int32_t)(NEXT() % 15001);
		p.alpha_bp = 1 + (int32_t)(NEXT() % 10000);
		int32_t f[N + 1], before[N + 1], g[N + 1];
		size_t n = 1 + NEXT() % N;
		for (size_t i = 0; i < n; i++)
			f[i] = NEXT() % 4 == 0 ? 0 : (int32_t)(NEXT() % 20001);
		int32_t full = fp_score_resume(&p, p.prior_score_bp, f, n, before);
		assert_int_equal(full, fp_score_replay(&p, f, n));
		size_t k = NEXT() % n;
		assert_int_equal(before[k], fp_score_replay(&p, f, k));

		/* Review: f[k] changes in place. */
		memcpy(g, f, sizeof(f));
		g[k] = (int32_t)(NEXT() % 20001);
		assert_int_equal(fp_score_resume(&p, before[k], g + k, n - k, NULL),
				 fp_score_replay(&p, g, n));

		/* Late payment: entry k leaves, x is appended. */
		int32_t x = (int32_t)(NEXT() % 20001);
		memcpy(g, f, sizeof(f));
		memmove(g + k, g + k + 1, (n - k - 1) * sizeof(g[0]));
		g[n - 1] = x;
		assert_int_equal(fp_score_resume(&p, before[k], g + k, n - k, NULL),
				 fp_score_replay(&p, g, n));
	}
#undef NEXT
}

/* ---------------------------------------------------------------- rule 8 */

static void test_tier_boundaries(void **state)
{
	(void)state;
	fp_policy p = defaults();

	/* open defaults: 2 is max_open_defaults */
	assert_int_equal(fp_tier_of(&p, 9500, 10, 2), FP_TIER_FIXED_PRICE);
	assert_int_equal(fp_tier_of(&p, 9500, 10, 1), FP_TIER_TRUSTED);
	/* low score: 5000 is low_score_bp */
	assert_int_equal(fp_tier_of(&p, 4999, 10, 0), FP_TIER_FIXED_PRICE);
	assert_int_equal(fp_tier_of(&p, 5000, 10, 0), FP_TIER_RESTRICTED);
	/* probation: 3 payments */
	assert_int_equal(fp_tier_of(&p, 9500, 2, 0), FP_TIER_PROBATION);
	assert_int_equal(fp_tier_of(&p, 9500, 3, 0), FP_TIER_TRUSTED);
	/* trusted: 9000 */
	assert_int_equal(fp_tier_of(&p, 9000, 3, 0), FP_TIER_TRUSTED);
	assert_int_equal(fp_tier_of(&p, 8999, 3, 0), FP_TIER_STANDARD);
	/* standard: 8000 */
	assert_int_equal(fp_tier_of(&p, 8000, 3, 0), FP_TIER_STANDARD);
	assert_int_equal(fp_tier_of(&p, 7999, 3, 0), FP_TIER_RESTRICTED);
	assert_int_equal(fp_tier_of(&p, 15000, 100, 1), FP_TIER_TRUSTED);
}

/* Rule 14's probation test: payments + attested_payments <
 * probation_payments; nothing else of rule 8 moves. */
static void test_tier_attested(void **state)
{
	(void)state;
	fp_policy p = defaults(); /* probation_payments 3 */

	assert_int_equal(fp_tier_attested(&p, 9500, 0, 2, 0), FP_TIER_PROBATION);
	assert_int_equal(fp_tier_attested(&p, 9500, 0, 3, 0), FP_TIER_TRUSTED);
	assert_int_equal(fp_tier_attested(&p, 9500, 1, 2, 0), FP_TIER_TRUSTED);
	assert_int_equal(fp_tier_attested(&p, 9500, 2, 0, 0), FP_TIER_PROBATION);
	assert_int_equal(fp_tier_attested(&p, 8500, 2, 1, 0), FP_TIER_STANDARD);
	assert_int_equal(fp_tier_attested(&p, 7000, 0, 3, 0), FP_TIER_RESTRICTED);
	/* FIXED_PRICE still comes first, attested or not. */
	assert_int_equal(fp_tier_attested(&p, 4999, 0, 3, 0), FP_TIER_FIXED_PRICE);
	assert_int_equal(fp_tier_attested(&p, 9500, 0, 3, 2), FP_TIER_FIXED_PRICE);
	/* Without attested payments it is fp_tier_of(). */
	for (int32_t pay = 0; pay < 5; pay++)
		assert_int_equal(fp_tier_attested(&p, 8200, pay, 0, 0),
				 fp_tier_of(&p, 8200, pay, 0));
	/* No overflow at the ends of int32. */
	assert_int_equal(fp_tier_attested(&p, 9500, INT32_MAX, INT32_MAX, 0), FP_TIER_TRUSTED);
	/* The terms follow the attested tier. */
	fp_product pr = { 1000, 1500, 0, FP_TIER_UNSPECIFIED };
	fp_standing st = { 9500, 0, 0, 0, 3 };
	fp_terms t;
	assert_int_equal(fp_offer_terms(&p, &pr, &st, NULL, &t, NULL), 0);
	assert_int_equal(t.tier, FP_TIER_TRUSTED);
	assert_false(fp_terms_has_reason(&t, FP_OFFER_REASON_PROBATION));
	assert_int_equal(t.credit_limit_minor, p.trusted_credit_minor);
	st.attested_payments = 2;
	assert_int_equal(fp_offer_terms(&p, &pr, &st, NULL, &t, NULL), 0);
	assert_int_equal(t.tier, FP_TIER_PROBATION);
	assert_true(fp_terms_has_reason(&t, FP_OFFER_REASON_PROBATION));
}

/* Rule 14's seeding: when it applies, and the exact capped values. */
static void test_seed_of(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_seed sd = { -1, -1 };

	/* Cap 0 (the default): attestations are ignored. */
	assert_false(fp_seed_of(&p, false, false, false, 9000, 5, &sd));
	assert_int_equal(sd.score_bp, -1);
	p.attestation_cap_bp = 9000;
	assert_true(fp_seed_of(&p, false, false, false, 12599, 5, &sd));
	assert_int_equal(sd.score_bp, 9000);       /* min(12599, 9000) */
	assert_int_equal(sd.attested_payments, 3); /* min(5, 3) */
	assert_true(fp_seed_of(&p, false, false, false, 7000, 2, &sd));
	assert_int_equal(sd.score_bp, 7000);
	assert_int_equal(sd.attested_payments, 2);
	assert_true(fp_seed_of(&p, false, false, false, 9000, 3, &sd));
	assert_int_equal(sd.score_bp, 9000);
	assert_int_equal(sd.attested_payments, 3);
	/* Negative claims count as 0. */
	assert_true(fp_seed_of(&p, false, false, false, -5, -1, &sd));
	assert_int_equal(sd.score_bp, 0);
	assert_int_equal(sd.attested_payments, 0);
	/* Issued by the caller, a customer with history, one seeded before. */
	assert_false(fp_seed_of(&p, true, false, false, 9000, 3, &sd));
	assert_false(fp_seed_of(&p, false, true, false, 9000, 3, &sd));
	assert_false(fp_seed_of(&p, false, false, true, 9000, 3, &sd));
	/* The largest cap: 15000, a score's own ceiling. */
	p.attestation_cap_bp = 15000;
	assert_true(fp_seed_of(&p, false, false, false, 20000, 0, &sd));
	assert_int_equal(sd.score_bp, 15000);
	p.probation_payments = 0;
	assert_true(fp_seed_of(&p, false, false, false, 9000, 7, &sd));
	assert_int_equal(sd.attested_payments, 0);
}

static void test_tier_first_match(void **state)
{
	(void)state;
	fp_policy p = defaults();

	/* the never-seen customer: prior 8000, no payments */
	assert_int_equal(fp_tier_of(&p, 8000, 0, 0), FP_TIER_PROBATION);
	/* FIXED_PRICE comes before PROBATION */
	assert_int_equal(fp_tier_of(&p, 4999, 0, 0), FP_TIER_FIXED_PRICE);
	assert_int_equal(fp_tier_of(&p, 5000, 0, 0), FP_TIER_PROBATION);
	assert_int_equal(fp_tier_of(&p, 9000, 1, 2), FP_TIER_FIXED_PRICE);
	/* PROBATION comes before RESTRICTED */
	assert_int_equal(fp_tier_of(&p, 6000, 2, 0), FP_TIER_PROBATION);
	assert_int_equal(fp_tier_of(&p, 6000, 2, 1), FP_TIER_PROBATION);

	/* max_open_defaults 0: "0 open defaults >= 0" holds for everyone */
	p.max_open_defaults = 0;
	assert_int_equal(fp_tier_of(&p, 9500, 10, 0), FP_TIER_FIXED_PRICE);

	/* probation_payments 0: no probation at all */
	p = defaults();
	p.probation_payments = 0;
	assert_int_equal(fp_tier_of(&p, 8000, 0, 0), FP_TIER_STANDARD);

	/* VOLUNTARY computes the same tier, for information */
	p = defaults();
	p.enforcement = FP_ENFORCEMENT_VOLUNTARY;
	assert_int_equal(fp_tier_of(&p, 4999, 10, 0), FP_TIER_FIXED_PRICE);
	assert_int_equal(fp_tier_of(&p, 8000, 0, 0), FP_TIER_PROBATION);
	assert_int_equal(fp_tier_of(&p, 9000, 3, 0), FP_TIER_TRUSTED);
}

/* ---------------------------------------------------------------- rule 9 */

static void test_credit_limit(void **state)
{
	(void)state;
	fp_policy p = defaults();

	assert_int_equal(fp_credit_limit(&p, FP_TIER_FIXED_PRICE), 0);
	assert_int_equal(fp_credit_limit(&p, FP_TIER_RESTRICTED), 10000);
	assert_int_equal(fp_credit_limit(&p, FP_TIER_PROBATION), 2000);
	assert_int_equal(fp_credit_limit(&p, FP_TIER_STANDARD), 10000);
	assert_int_equal(fp_credit_limit(&p, FP_TIER_TRUSTED), 50000);
	assert_int_equal(fp_credit_limit(&p, FP_TIER_UNSPECIFIED), 0);
}

static void test_credit_fits(void **state)
{
	(void)state;
	assert_true(fp_credit_fits(0, 2000, 2000));
	assert_true(fp_credit_fits(1000, 1000, 2000));
	assert_false(fp_credit_fits(1001, 1000, 2000));
	assert_false(fp_credit_fits(0, 2001, 2000));
	assert_true(fp_credit_fits(0, 0, 0));
	assert_false(fp_credit_fits(0, 1, 0));
	/* no overflow in credit_used + SP */
	assert_false(fp_credit_fits(INT64_MAX, INT64_MAX, INT64_MAX));
	assert_false(fp_credit_fits(1, INT64_MAX, INT64_MAX));
	assert_true(fp_credit_fits(0, INT64_MAX, INT64_MAX));
}

/* ---------------------------------------------------------------- rule 10 */

static fp_product product(void)
{
	return (fp_product){ .suggested_price_minor = 1000,
			     .list_price_minor = 1500,
			     .minimum_price_minor = 0,
			     .min_tier = FP_TIER_UNSPECIFIED };
}

static fp_standing standing(int32_t score, int32_t payments, int32_t open_defaults, int64_t used)
{
	return (fp_standing){ .score_bp = score,
			      .payments = payments,
			      .open_defaults = open_defaults,
			      .credit_used_minor = used };
}

static fp_terms terms(const fp_policy *p, const fp_product *pr, const fp_standing *st,
		      const fp_overrides *ov)
{
	fp_terms t;
	const char *field = "unset";
	assert_int_equal(fp_offer_terms(p, pr, st, ov, &t, &field), 0);
	assert_null(field);
	return t;
}

static void expect_reasons(const fp_terms *t, const fp_offer_reason *want, size_t n)
{
	assert_int_equal(t->n_reasons, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(t->reasons[i], want[i]);
}

#define EXPECT_REASONS(t, ...)                                        \
	expect_reasons((t), (const fp_offer_reason[]){ __VA_ARGS__ }, \
		       sizeof((const fp_offer_reason[]){ __VA_ARGS__ }) / sizeof(fp_offer_reason))
#define R(x) FP_OFFER_REASON_##x

static void expect_terms(const fp_terms *t, fp_mode mode, int64_t sp, int64_t minimum,
			 int64_t set_price, fp_tier tier, int64_t limit, int64_t used)
{
	assert_int_equal(t->mode, mode);
	assert_int_equal(t->suggested_price_minor, sp);
	assert_int_equal(t->minimum_price_minor, minimum);
	assert_int_equal(t->set_price_minor, set_price);
	assert_int_equal(t->tier, tier);
	assert_int_equal(t->credit_limit_minor, limit);
	assert_int_equal(t->credit_used_minor, used);
}

static void expect_same_terms(const fp_terms *a, const fp_terms *b)
{
	expect_terms(a, b->mode, b->suggested_price_minor, b->minimum_price_minor,
		     b->set_price_minor, b->tier, b->credit_limit_minor, b->credit_used_minor);
	expect_reasons(a, b->reasons, b->n_reasons);
}

static void test_terms_fairpay(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st;
	fp_terms t;

	st = standing(8000, 0, 0, 0); /* never seen */
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_PROBATION, 2000, 0);
	EXPECT_REASONS(&t, R(PROBATION));
	assert_true(fp_terms_has_reason(&t, R(PROBATION)));
	assert_false(fp_terms_has_reason(&t, R(LOW_SCORE)));

	st = standing(8500, 5, 0, 3000);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_STANDARD, 10000, 3000);
	assert_int_equal(t.n_reasons, 0);

	st = standing(9500, 5, 1, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_TRUSTED, 50000, 0);
	assert_int_equal(t.n_reasons, 0);
}

static void test_terms_fixed_price(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st;
	fp_terms t;

	st = standing(4999, 5, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	st = standing(9500, 5, 2, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(OPEN_DEFAULTS));

	/* both conditions: open defaults first, as in rule 8 */
	st = standing(4000, 5, 3, 0);
	t = terms(&p, &pr, &st, NULL);
	EXPECT_REASONS(&t, R(OPEN_DEFAULTS), R(LOW_SCORE));

	/* FIXED_PRICE is not probation even with few payments */
	st = standing(4000, 1, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* a product minimum does not matter for SET_PRICE */
	pr.minimum_price_minor = 400;
	st = standing(4000, 5, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_FIXED_PRICE, 0, 0);
}

static void test_terms_tier_required(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st;
	fp_terms t;

	pr.min_tier = FP_TIER_STANDARD;
	st = standing(8000, 0, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_PROBATION, 2000, 0);
	EXPECT_REASONS(&t, R(TIER_REQUIRED), R(PROBATION));

	st = standing(8000, 3, 0, 0); /* STANDARD meets STANDARD */
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_STANDARD, 10000, 0);
	assert_int_equal(t.n_reasons, 0);

	pr.min_tier = FP_TIER_TRUSTED;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(TIER_REQUIRED));

	/* TIER_REQUIRED comes before CREDIT_LIMIT */
	st = standing(8000, 3, 0, 10000);
	t = terms(&p, &pr, &st, NULL);
	EXPECT_REASONS(&t, R(TIER_REQUIRED));

	/* PROBATION's rank 3 is above RESTRICTED's 2: a product that asks for
	 * PROBATION gives a RESTRICTED customer SET_PRICE at the list price */
	pr.min_tier = FP_TIER_PROBATION;
	st = standing(7999, 3, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(TIER_REQUIRED));
	/* min_tier unspecified means RESTRICTED, which RESTRICTED meets:
	 * FAIRPAY_MINIMUM, max(0, 1000 * 5000 / 10000) = 500 (test_terms_default_min_tier) */
	pr.min_tier = FP_TIER_UNSPECIFIED;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));
}

/* An unset min_tier (UNSPECIFIED, 0) means RESTRICTED (PROTOCOL.md, Product):
 * a RESTRICTED customer gets FairPay with a minimum (rule 10), while a product
 * whose min_tier is PROBATION still sets the price. */
static void test_terms_default_min_tier(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product(); /* SP 1000, list 1500, no minimum, min_tier unset */
	fp_standing st = standing(7000, 5, 0, 0); /* 5000 <= 7000 < 8000: RESTRICTED */
	fp_terms t;

	/* the default, written once */
	assert_int_equal(FP_DEFAULT_MIN_TIER, FP_TIER_RESTRICTED);
	assert_int_equal(fp_product_min_tier(FP_TIER_UNSPECIFIED), FP_TIER_RESTRICTED);
	/* a set min_tier stands for itself */
	assert_int_equal(fp_product_min_tier(FP_TIER_FIXED_PRICE), FP_TIER_FIXED_PRICE);
	assert_int_equal(fp_product_min_tier(FP_TIER_RESTRICTED), FP_TIER_RESTRICTED);
	assert_int_equal(fp_product_min_tier(FP_TIER_PROBATION), FP_TIER_PROBATION);
	assert_int_equal(fp_product_min_tier(FP_TIER_STANDARD), FP_TIER_STANDARD);
	assert_int_equal(fp_product_min_tier(FP_TIER_TRUSTED), FP_TIER_TRUSTED);

	assert_int_equal(fp_tier_of(&p, 7000, 5, 0), FP_TIER_RESTRICTED);
	/* minimum max(product min, SP * restricted_minimum_bp / 10000):
	 * max(0, 1000 * 5000 / 10000) = max(0, 500) = 500 */
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));
	assert_false(fp_terms_has_reason(&t, R(TIER_REQUIRED)));

	/* the same as min_tier RESTRICTED set explicitly */
	fp_product explicit_pr = pr;
	explicit_pr.min_tier = FP_TIER_RESTRICTED;
	fp_terms te = terms(&p, &explicit_pr, &st, NULL);
	expect_same_terms(&t, &te);

	/* max(700, 1000 * 5000 / 10000 = 500) = 700, still LOW_SCORE */
	pr.minimum_price_minor = 700;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 700, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* max(300, 1000 * 5000 / 10000 = 500) = 500 */
	pr.minimum_price_minor = 300;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* another share and SP: max(0, 2345 * 3000 / 10000 = 703.5 -> 703) = 703 */
	p.restricted_minimum_bp = 3000;
	pr.minimum_price_minor = 0;
	pr.suggested_price_minor = 2345;
	pr.list_price_minor = 2500;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 2345, 703, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* min_tier PROBATION set on the product: SET_PRICE at the list price 2500 */
	pr.min_tier = FP_TIER_PROBATION;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 2345, 0, 2500, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(TIER_REQUIRED));

	/* unset again: the credit check now applies to RESTRICTED customers;
	 * 7656 + 2345 = 10001 > 10000: SET_PRICE (CREDIT_LIMIT) */
	pr.min_tier = FP_TIER_UNSPECIFIED;
	st = standing(7000, 5, 0, 7656);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 2345, 0, 2500, FP_TIER_RESTRICTED, 10000, 7656);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT));
	/* 7655 + 2345 = 10000 fits: FAIRPAY_MINIMUM at 703 */
	st = standing(7000, 5, 0, 7655);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 2345, 703, 0, FP_TIER_RESTRICTED, 10000, 7655);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* FIXED_PRICE is below RESTRICTED, but its own rule comes first */
	st = standing(4999, 5, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 2345, 0, 2500, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* a PROBATION customer (rank 3 >= 2) keeps plain FairPay (SP 1000 within
	 * the probation credit of 2000) */
	pr.suggested_price_minor = 1000;
	st = standing(8000, 0, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_PROBATION, 2000, 0);
	EXPECT_REASONS(&t, R(PROBATION));
}

static void test_terms_credit_limit(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st;
	fp_terms t;

	/* probation: 1000 + 1000 = 2000 <= 2000 fits */
	st = standing(8000, 0, 0, 1000);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_PROBATION, 2000, 1000);
	EXPECT_REASONS(&t, R(PROBATION));
	/* 1001 + 1000 = 2001 > 2000 */
	st = standing(8000, 0, 0, 1001);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_PROBATION, 2000, 1001);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT), R(PROBATION));

	st = standing(8500, 5, 0, 9000);
	t = terms(&p, &pr, &st, NULL);
	assert_int_equal(t.mode, FP_MODE_FAIRPAY);
	st = standing(8500, 5, 0, 9001);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_STANDARD, 10000, 9001);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT));

	st = standing(9000, 5, 0, 49000);
	t = terms(&p, &pr, &st, NULL);
	assert_int_equal(t.mode, FP_MODE_FAIRPAY);
	st = standing(9000, 5, 0, 49001);
	t = terms(&p, &pr, &st, NULL);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT));

	/* SP 0 always fits, even at the limit */
	pr.suggested_price_minor = 0;
	st = standing(8000, 0, 0, 2000);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 0, 0, 0, FP_TIER_PROBATION, 2000, 2000);

	/* CREDIT_LIMIT comes before RESTRICTED's minimum and the product minimum */
	pr = product();
	pr.minimum_price_minor = 300;
	pr.min_tier = FP_TIER_RESTRICTED;
	st = standing(7000, 5, 0, 9500);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_RESTRICTED, 10000, 9500);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT));
}

static void test_terms_restricted(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st = standing(7000, 5, 0, 0);
	fp_terms t;

	pr.min_tier = FP_TIER_RESTRICTED;
	/* max(0, 1000 * 5000 / 10000) = 500 */
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	pr.minimum_price_minor = 700; /* max(700, 500) */
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 700, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	pr.minimum_price_minor = 300; /* max(300, 500) */
	t = terms(&p, &pr, &st, NULL);
	assert_int_equal(t.minimum_price_minor, 500);

	pr.minimum_price_minor = 0;
	pr.suggested_price_minor = 999; /* 999 * 5000 / 10000 = 499.5 -> 499 */
	t = terms(&p, &pr, &st, NULL);
	assert_int_equal(t.minimum_price_minor, 499);

	p.restricted_minimum_bp = 0; /* max(0, 0): a minimum of 0 is still the mode */
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 999, 0, 0, FP_TIER_RESTRICTED, 10000, 0);

	/* lowest RESTRICTED score is low_score_bp */
	p = defaults();
	pr = product();
	pr.min_tier = FP_TIER_FIXED_PRICE;
	st = standing(5000, 3, 1, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
}

static void test_terms_product_minimum(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st = standing(8500, 5, 0, 0);
	fp_terms t;

	pr.minimum_price_minor = 400;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 400, 0, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(PRODUCT_MINIMUM));

	st = standing(8000, 2, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 400, 0, FP_TIER_PROBATION, 2000, 0);
	EXPECT_REASONS(&t, R(PRODUCT_MINIMUM), R(PROBATION));

	st = standing(9999, 50, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 400, 0, FP_TIER_TRUSTED, 50000, 0);
	EXPECT_REASONS(&t, R(PRODUCT_MINIMUM));
}

static void test_terms_voluntary(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_standing st;
	fp_terms t;

	p.enforcement = FP_ENFORCEMENT_VOLUNTARY;
	pr.min_tier = FP_TIER_TRUSTED;

	/* reputation never restricts: no SET_PRICE, no TIER_REQUIRED, no credit check;
	 * tier and credit limit are still reported */
	st = standing(4000, 5, 3, 999999);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_FIXED_PRICE, 0, 999999);
	EXPECT_REASONS(&t, R(VOLUNTARY_MODE));

	st = standing(8000, 0, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_PROBATION, 2000, 0);
	EXPECT_REASONS(&t, R(VOLUNTARY_MODE));

	/* RESTRICTED's share minimum does not apply; the product minimum does */
	st = standing(7000, 5, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_RESTRICTED, 10000, 0);
	pr.minimum_price_minor = 400;
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 400, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(VOLUNTARY_MODE));
}

static fp_overrides no_overrides(void)
{
	fp_overrides ov;
	memset(&ov, 0, sizeof(ov));
	return ov;
}

static void test_terms_override_sp(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st;
	fp_terms t;

	/* the credit check uses the offer's SP: 6000 + 5000 = 11000 > 10000 */
	ov.has_suggested_price = true;
	ov.suggested_price_minor = 5000;
	st = standing(8500, 5, 0, 6000);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_SET_PRICE, 5000, 0, 1500, FP_TIER_STANDARD, 10000, 6000);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT), R(VENDOR_OVERRIDE));

	/* 1500 + 1000 > 2000 at the product SP, but 1500 + 500 = 2000 fits */
	ov.suggested_price_minor = 500;
	st = standing(8000, 0, 0, 1500);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY, 500, 0, 0, FP_TIER_PROBATION, 2000, 1500);
	EXPECT_REASONS(&t, R(PROBATION), R(VENDOR_OVERRIDE));

	/* RESTRICTED's minimum is a share of the offer's SP: 800 * 5000 / 10000 */
	pr.min_tier = FP_TIER_RESTRICTED;
	ov.suggested_price_minor = 800;
	st = standing(7000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 800, 400, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE), R(VENDOR_OVERRIDE));

	/* SP 0 override */
	pr = product();
	ov.suggested_price_minor = 0;
	st = standing(8500, 5, 0, 10000);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY, 0, 0, 0, FP_TIER_STANDARD, 10000, 10000);
}

static void test_terms_override_mode(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st;
	fp_terms t;

	/* FAIRPAY for a FIXED_PRICE customer: the policy's reason stays */
	ov.has_mode = true;
	ov.mode = FP_MODE_FAIRPAY;
	st = standing(4000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE), R(VENDOR_OVERRIDE));

	/* SET_PRICE for a standard customer: set price is the list price */
	ov.mode = FP_MODE_SET_PRICE;
	st = standing(8500, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(VENDOR_OVERRIDE));

	/* with an SP override the set price stays the list price */
	ov.has_suggested_price = true;
	ov.suggested_price_minor = 800;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_SET_PRICE, 800, 0, 1500, FP_TIER_STANDARD, 10000, 0);

	/* a minimum means nothing to SET_PRICE */
	ov = no_overrides();
	ov.has_mode = true;
	ov.mode = FP_MODE_SET_PRICE;
	ov.has_minimum_price = true;
	ov.minimum_price_minor = 300;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_STANDARD, 10000, 0);

	/* FAIRPAY overrides a product minimum, and a minimum override is ignored */
	pr.minimum_price_minor = 400;
	ov.mode = FP_MODE_FAIRPAY;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(PRODUCT_MINIMUM), R(VENDOR_OVERRIDE));

	/* the same override twice gives the same terms */
	fp_terms again = terms(&p, &pr, &st, &ov);
	expect_same_terms(&t, &again);
}

static void test_terms_override_mode_minimum(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st = standing(8500, 5, 0, 0);
	fp_terms t;

	/* FAIRPAY_MINIMUM without a minimum: the product minimum (here 0) */
	ov.has_mode = true;
	ov.mode = FP_MODE_FAIRPAY_MINIMUM;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 0, 0, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(VENDOR_OVERRIDE));
	pr.minimum_price_minor = 250;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 250, 0, FP_TIER_STANDARD, 10000, 0);

	/* FAIRPAY_MINIMUM with a minimum */
	ov.has_minimum_price = true;
	ov.minimum_price_minor = 300;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 300, 0, FP_TIER_STANDARD, 10000, 0);

	/* a RESTRICTED customer the product refuses (TIER_REQUIRED) offered FairPay
	 * with a minimum: RESTRICTED's minimum, 1000 * 5000 / 10000 */
	pr = product();
	pr.min_tier = FP_TIER_PROBATION;
	ov = no_overrides();
	ov.has_mode = true;
	ov.mode = FP_MODE_FAIRPAY_MINIMUM;
	st = standing(7000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(TIER_REQUIRED), R(VENDOR_OVERRIDE));

	/* a FIXED_PRICE customer: the product minimum */
	pr.minimum_price_minor = 100;
	st = standing(4000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 100, 0, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE), R(VENDOR_OVERRIDE));
}

static void test_terms_override_minimum_only(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st = standing(8500, 5, 0, 0);
	fp_terms t;

	/* FAIRPAY becomes FAIRPAY_MINIMUM */
	ov.has_minimum_price = true;
	ov.minimum_price_minor = 300;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 300, 0, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(VENDOR_OVERRIDE));

	/* a minimum of 0 lifts the product minimum: FAIRPAY */
	pr.minimum_price_minor = 400;
	ov.minimum_price_minor = 0;
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&t, R(PRODUCT_MINIMUM), R(VENDOR_OVERRIDE));

	/* lowers RESTRICTED's minimum */
	pr = product();
	pr.min_tier = FP_TIER_RESTRICTED;
	ov.minimum_price_minor = 100;
	st = standing(7000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 100, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE), R(VENDOR_OVERRIDE));

	/* does not loosen the policy's SET_PRICE */
	st = standing(4000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_FIXED_PRICE, 0, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE), R(VENDOR_OVERRIDE));

	/* probation reason stays before VENDOR_OVERRIDE */
	pr = product();
	ov.minimum_price_minor = 200;
	st = standing(8000, 0, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 200, 0, FP_TIER_PROBATION, 2000, 0);
	EXPECT_REASONS(&t, R(PROBATION), R(VENDOR_OVERRIDE));
}

static void test_terms_override_presence(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st = standing(8500, 5, 0, 0);
	fp_terms with_none, without;

	/* values without presence flags are ignored: same as no overrides */
	ov.mode = FP_MODE_SET_PRICE;
	ov.suggested_price_minor = -5;
	ov.minimum_price_minor = 700;
	with_none = terms(&p, &pr, &st, &ov);
	without = terms(&p, &pr, &st, NULL);
	expect_same_terms(&with_none, &without);
	assert_int_equal(without.n_reasons, 0);

	/* an override equal to the policy's terms is still recorded */
	ov = no_overrides();
	ov.has_mode = true;
	ov.mode = FP_MODE_FAIRPAY;
	with_none = terms(&p, &pr, &st, &ov);
	expect_terms(&with_none, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&with_none, R(VENDOR_OVERRIDE));

	/* VOLUNTARY: overrides apply too */
	p.enforcement = FP_ENFORCEMENT_VOLUNTARY;
	ov.mode = FP_MODE_SET_PRICE;
	with_none = terms(&p, &pr, &st, &ov);
	expect_terms(&with_none, FP_MODE_SET_PRICE, 1000, 0, 1500, FP_TIER_STANDARD, 10000, 0);
	EXPECT_REASONS(&with_none, R(VOLUNTARY_MODE), R(VENDOR_OVERRIDE));

	/* VOLUNTARY, FAIRPAY_MINIMUM for a RESTRICTED customer: the product
	 * minimum, since RESTRICTED's share does not apply in VOLUNTARY */
	ov.mode = FP_MODE_FAIRPAY_MINIMUM;
	st = standing(7000, 5, 0, 0);
	with_none = terms(&p, &pr, &st, &ov);
	expect_terms(&with_none, FP_MODE_FAIRPAY_MINIMUM, 1000, 0, 0, FP_TIER_RESTRICTED, 10000, 0);
	pr.minimum_price_minor = 350;
	with_none = terms(&p, &pr, &st, &ov);
	expect_terms(&with_none, FP_MODE_FAIRPAY_MINIMUM, 1000, 350, 0, FP_TIER_RESTRICTED, 10000,
		     0);
}

static void expect_terms_error(const fp_policy *p, const fp_product *pr, const fp_standing *st,
			       const fp_overrides *ov, const char *want)
{
	fp_terms t;
	const char *field = NULL;
	assert_int_equal(fp_offer_terms(p, pr, st, ov, &t, &field), -1);
	assert_non_null(field);
	assert_string_equal(field, want);
	assert_int_equal(fp_offer_terms(p, pr, st, ov, &t, NULL), -1);
}

static void test_terms_invalid(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st = standing(8500, 5, 0, 0);

	ov.has_mode = true;
	ov.mode = FP_MODE_UNSPECIFIED;
	expect_terms_error(&p, &pr, &st, &ov, "overrides.mode");
	ov.mode = (fp_mode)4;
	expect_terms_error(&p, &pr, &st, &ov, "overrides.mode");

	ov = no_overrides();
	ov.has_suggested_price = true;
	ov.suggested_price_minor = -1;
	expect_terms_error(&p, &pr, &st, &ov, "overrides.suggested_price_minor");

	ov = no_overrides();
	ov.has_minimum_price = true;
	ov.minimum_price_minor = -1;
	expect_terms_error(&p, &pr, &st, &ov, "overrides.minimum_price_minor");

	pr.suggested_price_minor = -1;
	expect_terms_error(&p, &pr, &st, NULL, "product.suggested_price_minor");
	pr = product();
	pr.list_price_minor = -1;
	expect_terms_error(&p, &pr, &st, NULL, "product.list_price_minor");
	pr = product();
	pr.minimum_price_minor = -1;
	expect_terms_error(&p, &pr, &st, NULL, "product.minimum_price_minor");
	pr = product();
	st.credit_used_minor = -1;
	expect_terms_error(&p, &pr, &st, NULL, "credit_used_minor");
}

static void test_terms_overflow(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_overrides ov = no_overrides();
	fp_standing st;
	fp_terms t;

	/* credit_used + SP would overflow int64: it does not fit */
	ov.has_suggested_price = true;
	ov.suggested_price_minor = INT64_MAX;
	st = standing(8500, 5, 0, 1);
	t = terms(&p, &pr, &st, &ov);
	EXPECT_REASONS(&t, R(CREDIT_LIMIT), R(VENDOR_OVERRIDE));

	p.standard_credit_minor = INT64_MAX;
	st = standing(8500, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	expect_terms(&t, FP_MODE_FAIRPAY, INT64_MAX, 0, 0, FP_TIER_STANDARD, INT64_MAX, 0);

	/* SP * restricted_minimum_bp would overflow int64: the minimum does not */
	pr.min_tier = FP_TIER_RESTRICTED;
	st = standing(7000, 5, 0, 0);
	t = terms(&p, &pr, &st, &ov);
	assert_int_equal(t.minimum_price_minor, 4611686018427387903LL); /* floor(MAX / 2) */
	p.restricted_minimum_bp = 10000;
	t = terms(&p, &pr, &st, &ov);
	assert_int_equal(t.minimum_price_minor, INT64_MAX);
}

/* ---------------------------------------------------------------- rule 12 */

static void test_recurring_status(void **state)
{
	(void)state;
	assert_int_equal(fp_recurring_status(FP_MODE_FAIRPAY), FP_OFFER_STATUS_ACCEPTED);
	assert_int_equal(fp_recurring_status(FP_MODE_FAIRPAY_MINIMUM), FP_OFFER_STATUS_ACCEPTED);
	assert_int_equal(fp_recurring_status(FP_MODE_SET_PRICE), FP_OFFER_STATUS_OPEN);
}

/* ---------------------------------------------------------------- a whole history */

/* Three on-time cycles, a default, then the late payment of that default: the
 * reputation and the next offer at each step, as a server would compute them. */
static void test_history_walkthrough(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_product pr = product();
	fp_assessment a;
	fp_standing st;
	fp_terms t;
	int32_t hist[4];

	/* cycle 1: 1000 on SP 1000 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1000, 1000, 0, false, &a);
	hist[0] = a.fairness_bp;
	/* cycle 2: 1200 -> 12000 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1200, 1000, 0, false, &a);
	hist[1] = a.fairness_bp;
	/* 8000 -> 8600 -> 8600 + 3400*0.3 = 9620 */
	assert_int_equal(fp_score_replay(&p, hist, 2), 9620);
	assert_int_equal(fp_tier_of(&p, 9620, 2, 0), FP_TIER_PROBATION);
	/* cycle 3: 900 -> 9000: 9620 + (-620 * 3000) / 10000 = 9620 - 186 = 9434 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 900, 1000, 0, false, &a);
	hist[2] = a.fairness_bp;
	assert_int_equal(fp_score_replay(&p, hist, 3), 9434);
	assert_int_equal(fp_tier_of(&p, 9434, 3, 0), FP_TIER_TRUSTED);
	st = standing(9434, 3, 0, 0);
	t = terms(&p, &pr, &st, NULL);
	expect_terms(&t, FP_MODE_FAIRPAY, 1000, 0, 0, FP_TIER_TRUSTED, 50000, 0);

	/* cycle 4 defaults: 9434 - 9434*0.3 = 9434 - 2830.2 -> 9434 - 2830 = 6604 */
	hist[3] = 0;
	assert_int_equal(fp_score_replay(&p, hist, 4), 6604);
	assert_int_equal(fp_tier_of(&p, 6604, 3, 1), FP_TIER_RESTRICTED);
	st = standing(6604, 3, 1, 0);
	t = terms(&p, &pr, &st, NULL);
	/* min_tier unset means RESTRICTED: FairPay with a minimum,
	 * max(0, 1000 * 5000 / 10000) = 500 */
	expect_terms(&t, FP_MODE_FAIRPAY_MINIMUM, 1000, 500, 0, FP_TIER_RESTRICTED, 10000, 0);
	EXPECT_REASONS(&t, R(LOW_SCORE));

	/* paid late in full: 10000 - 2000 = 8000;
	 * 9434 + (-1434 * 3000) / 10000 = 9434 - 430.2 -> 9434 - 430 = 9004 */
	fp_assess_payment(&p, FP_MODE_FAIRPAY, 1000, 1000, 0, true, &a);
	assert_int_equal(a.fairness_bp, 8000);
	hist[3] = a.fairness_bp;
	assert_int_equal(fp_score_replay(&p, hist, 4), 9004);
	assert_int_equal(fp_tier_of(&p, 9004, 4, 0), FP_TIER_TRUSTED);
}

/* ---------------------------------------------------------------- explanation */

static void expect_lines(const fp_explanation *e, const char *const *want, size_t n)
{
	for (size_t i = 0; i < e->n && i < n; i++)
		assert_string_equal(e->line[i], want[i]);
	assert_int_equal(e->n, n);
	for (size_t i = 0; i < e->n; i++) {
		size_t len = strlen(e->line[i]);
		assert_true(len > 0 && len < FP_EXPLAIN_LINE_LEN - 1); /* never truncated */
		assert_int_equal(e->line[i][len - 1], '.');
	}
}

#define EXPECT_LINES(e, ...)                                    \
	expect_lines((e), (const char *const[]){ __VA_ARGS__ }, \
		     sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static fp_explain_input explain_input(int32_t score, fp_tier tier, int32_t payments,
				      int32_t open_defaults, int32_t recent, int32_t at_sp)
{
	return (fp_explain_input){ .score_bp = score,
				   .tier = tier,
				   .payments = payments,
				   .open_defaults = open_defaults,
				   .recent = recent,
				   .recent_at_sp = at_sp };
}

static void test_explain_new_customer(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_explain_input in = explain_input(8000, FP_TIER_PROBATION, 0, 0, 0, 0);
	fp_explanation e;

	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "You are new here: after 3 more payments your offers will follow your "
		     "payment record.",
		     "Your fairness score starts at 80% (100% means paying the suggested price).",
		     "You have not made a payment yet.",
		     "Paying the suggested price or more raises your score.");

	/* Attested payments (rule 14) count towards the probation left. */
	in = explain_input(9000, FP_TIER_PROBATION, 0, 0, 0, 0);
	in.attested_payments = 2;
	fp_explain(&p, &in, &e);
	assert_string_equal(e.line[0], "You are new here: after 1 more payment your offers will "
				       "follow your payment record.");

	in = explain_input(8600, FP_TIER_PROBATION, 2, 0, 2, 2);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "You are new here: after 1 more payment your offers will follow your "
		     "payment record.",
		     "Your fairness score is 86% (100% means paying the suggested price).",
		     "All of your last 2 payments were at or above the suggested price.",
		     "Paying the suggested price or more raises your score.");
}

static void test_explain_standing(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_explain_input in = explain_input(8550, FP_TIER_STANDARD, 7, 0, 4, 3);
	fp_explanation e;

	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e, "You are in good standing: you get FairPay offers.",
		     "Your fairness score is 85.5% (100% means paying the suggested price).",
		     "3 of your last 4 payments were at or above the suggested price.",
		     "Paying the suggested price or more raises your score.");

	/* score at or above 100%: paying the SP would not raise it, so no advice */
	in = explain_input(10250, FP_TIER_TRUSTED, 9, 0, 5, 5);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "You are a trusted customer: you get FairPay offers with the highest credit.",
		     "Your fairness score is 102.5% (100% means paying the suggested price).",
		     "All of your last 5 payments were at or above the suggested price.");

	in = explain_input(9005, FP_TIER_TRUSTED, 9, 0, 5, 1);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "You are a trusted customer: you get FairPay offers with the highest credit.",
		     "Your fairness score is 90.05% (100% means paying the suggested price).",
		     "1 of your last 5 payments was at or above the suggested price.",
		     "Paying the suggested price or more raises your score.");
}

static void test_explain_restricted_and_fixed(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_explain_input in = explain_input(7000, FP_TIER_RESTRICTED, 5, 0, 1, 0);
	fp_explanation e;

	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "Your payments have been below the suggested price, so your FairPay offers "
		     "have a minimum price.",
		     "Your fairness score is 70% (100% means paying the suggested price).",
		     "Your last payment was below the suggested price.",
		     "Paying the suggested price or more raises your score.");

	in = explain_input(8000, FP_TIER_FIXED_PRICE, 4, 2, 4, 1);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "Because of unpaid purchases past their payment date, we can offer only set "
		     "prices for now.",
		     "Your fairness score is 80% (100% means paying the suggested price).",
		     "1 of your last 4 payments was at or above the suggested price.",
		     "You have 2 unpaid purchases past their payment date; paying them late still "
		     "counts toward your record.",
		     "Paying the suggested price or more raises your score.");

	in = explain_input(4200, FP_TIER_FIXED_PRICE, 5, 1, 5, 0);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "Your payments have been far below the suggested price, so we can offer only "
		     "set prices for now.",
		     "Your fairness score is 42% (100% means paying the suggested price).",
		     "None of your last 5 payments were at or above the suggested price.",
		     "You have 1 unpaid purchase past its payment date; paying it late still "
		     "counts toward your record.",
		     "Paying the suggested price or more raises your score.");
}

static void test_explain_voluntary_and_edges(void **state)
{
	(void)state;
	fp_policy p = defaults();
	fp_explain_input in = explain_input(4200, FP_TIER_FIXED_PRICE, 5, 0, 1, 1);
	fp_explanation e;

	p.enforcement = FP_ENFORCEMENT_VOLUNTARY;
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "Every offer lets you pay what you think is fair; your payment record is kept "
		     "but never limits your offers.",
		     "Your fairness score is 42% (100% means paying the suggested price).",
		     "Your last payment was at or above the suggested price.");

	/* a default but no payment yet: the score has moved, so "is" */
	p = defaults();
	in = explain_input(5600, FP_TIER_PROBATION, 0, 1, 0, 0);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "You are new here: after 3 more payments your offers will follow your "
		     "payment record.",
		     "Your fairness score is 56% (100% means paying the suggested price).",
		     "You have not made a payment yet.",
		     "You have 1 unpaid purchase past its payment date; paying it late still "
		     "counts toward your record.",
		     "Paying the suggested price or more raises your score.");

	/* inconsistent counts are clamped, an unknown tier writes no standing line */
	in = explain_input(15000, FP_TIER_UNSPECIFIED, 9, 0, 3, 7);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e, "Your fairness score is 150% (100% means paying the suggested price).",
		     "All of your last 3 payments were at or above the suggested price.");

	/* payments but no recent window given: no recent line */
	in = explain_input(9000, FP_TIER_TRUSTED, 9, 0, 0, 0);
	fp_explain(&p, &in, &e);
	EXPECT_LINES(&e,
		     "You are a trusted customer: you get FairPay offers with the highest credit.",
		     "Your fairness score is 90% (100% means paying the suggested price).",
		     "Paying the suggested price or more raises your score.");

	/* probation with no payments left to make (probation_payments lowered later) */
	p.probation_payments = 1;
	in = explain_input(8000, FP_TIER_PROBATION, 3, 0, 3, 3);
	fp_explain(&p, &in, &e);
	assert_string_equal(e.line[0],
			    "You are new here: your offers will follow your payment record.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_defaults),
		cmocka_unit_test(test_policy_ranges),
		cmocka_unit_test(test_policy_range_extremes),
		cmocka_unit_test(test_policy_excusing_reasons),
		cmocka_unit_test(test_policy_threshold_order),
		cmocka_unit_test(test_small_predicates),
		cmocka_unit_test(test_cycle_sp),
		cmocka_unit_test(test_cycle_sp_invalid_and_overflow),
		cmocka_unit_test(test_amount_from_differential),
		cmocka_unit_test(test_amount_from_differential_limits),
		cmocka_unit_test(test_check_mode),
		cmocka_unit_test(test_raw_fairness),
		cmocka_unit_test(test_raw_fairness_overflow),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_excuse),
		cmocka_unit_test(test_excuse_policy_variants),
		cmocka_unit_test(test_review_fairness),
		cmocka_unit_test(test_review_payment),
		cmocka_unit_test(test_review_late_payment),
		cmocka_unit_test(test_late_fairness),
		cmocka_unit_test(test_assess_payment),
		cmocka_unit_test(test_assess_late_payment),
		cmocka_unit_test(test_score_step),
		cmocka_unit_test(test_score_fairness_cap),
		cmocka_unit_test(test_score_replay),
		cmocka_unit_test(test_score_replay_truncation),
		cmocka_unit_test(test_score_resume),
		cmocka_unit_test(test_score_resume_random),
		cmocka_unit_test(test_tier_boundaries),
		cmocka_unit_test(test_tier_first_match),
		cmocka_unit_test(test_tier_attested),
		cmocka_unit_test(test_seed_of),
		cmocka_unit_test(test_credit_limit),
		cmocka_unit_test(test_credit_fits),
		cmocka_unit_test(test_terms_fairpay),
		cmocka_unit_test(test_terms_fixed_price),
		cmocka_unit_test(test_terms_tier_required),
		cmocka_unit_test(test_terms_default_min_tier),
		cmocka_unit_test(test_terms_credit_limit),
		cmocka_unit_test(test_terms_restricted),
		cmocka_unit_test(test_terms_product_minimum),
		cmocka_unit_test(test_terms_voluntary),
		cmocka_unit_test(test_terms_override_sp),
		cmocka_unit_test(test_terms_override_mode),
		cmocka_unit_test(test_terms_override_mode_minimum),
		cmocka_unit_test(test_terms_override_minimum_only),
		cmocka_unit_test(test_terms_override_presence),
		cmocka_unit_test(test_terms_invalid),
		cmocka_unit_test(test_terms_overflow),
		cmocka_unit_test(test_recurring_status),
		cmocka_unit_test(test_history_walkthrough),
		cmocka_unit_test(test_explain_new_customer),
		cmocka_unit_test(test_explain_standing),
		cmocka_unit_test(test_explain_restricted_and_fixed),
		cmocka_unit_test(test_explain_voluntary_and_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
