/* Unit tests of what offers and payments add to the GetInsights sums
 * (server/store/facts.c): each offer status, a payment with every part that
 * counts, the changes the cycle makes (accept, pay, pay late, review) as
 * after minus before, and the stored text form. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "facts.h"

static facts offer_change(fp_offer_status from, fp_offer_status to)
{
	facts f = { { 0 } };
	facts_offer(&f, to, 1);
	facts_offer(&f, from, -1);
	return f;
}

static void expect_text(const facts *f, const char *want)
{
	char text[FACTS_TEXT_LEN];
	assert_int_equal(facts_format(f, text, sizeof(text)), 0);
	assert_string_equal(text, want);
}

static void test_offer_statuses(void **state)
{
	facts f = { { 0 } };
	facts_offer(&f, FP_OFFER_STATUS_OPEN, 1);
	expect_text(&f, "{0,1}");
	memset(&f, 0, sizeof(f));
	facts_offer(&f, FP_OFFER_STATUS_PAID, 1);
	expect_text(&f, "{0,1,1,1}");
	memset(&f, 0, sizeof(f));
	facts_offer(&f, FP_OFFER_STATUS_DEFAULTED, 1);
	expect_text(&f, "{0,1,1,1,4,1}");
	memset(&f, 0, sizeof(f));
	facts_offer(&f, FP_OFFER_STATUS_DECLINED, 1);
	expect_text(&f, "{0,1,2,1}");
	memset(&f, 0, sizeof(f));
	facts_offer(&f, FP_OFFER_STATUS_EXPIRED, 1);
	expect_text(&f, "{0,1,3,1}");
}

static void test_offer_changes(void **state)
{
	facts f = offer_change(FP_OFFER_STATUS_OPEN, FP_OFFER_STATUS_ACCEPTED);
	expect_text(&f, "{1,1}");
	f = offer_change(FP_OFFER_STATUS_OPEN, FP_OFFER_STATUS_EXPIRED);
	expect_text(&f, "{3,1}");
	f = offer_change(FP_OFFER_STATUS_ACCEPTED, FP_OFFER_STATUS_DEFAULTED);
	expect_text(&f, "{4,1}");
	/* Paying counts nothing for the offer itself (the payment counts). */
	f = offer_change(FP_OFFER_STATUS_ACCEPTED, FP_OFFER_STATUS_PAID);
	assert_true(facts_zero(&f));
}

static const facts_payment_row PAYMENT = {
	.amount_minor = 1250,
	.suggested_price_minor = 1000,
	.list_price_minor = 1500,
	.raw_fairness_bp = 12500,
	.fairness_bp = 12500,
	.reasons = FP_REASON_BIT(FP_PAYMENT_REASON_GREAT_VALUE) |
		   FP_REASON_BIT(FP_PAYMENT_REASON_OTHER),
	.review = FP_REVIEW_NOT_NEEDED,
	.late = false,
};

static void test_payment(void **state)
{
	facts f = { { 0 } };
	facts_payment(&f, &PAYMENT, 1);
	assert_int_equal(f.v[FACTS_PAYMENTS], 1);
	assert_int_equal(f.v[FACTS_PAID_MINOR], 1250);
	assert_int_equal(f.v[FACTS_SUGGESTED_MINOR], 1000);
	assert_int_equal(f.v[FACTS_LIST_MINOR], 1500);
	assert_int_equal(f.v[FACTS_AT_OR_ABOVE_SP], 1);
	assert_int_equal(f.v[FACTS_HISTOGRAM_0 + 12], 1);
	assert_int_equal(f.v[FACTS_REASON_0 + FP_PAYMENT_REASON_GREAT_VALUE], 1);
	assert_int_equal(f.v[FACTS_REASON_0 + FP_PAYMENT_REASON_OTHER], 1);
	assert_int_equal(f.v[FACTS_DEFAULTS], 0);
	assert_int_equal(f.v[FACTS_REVIEWS_PENDING], 0);
	expect_text(&f, "{5,1,8,1250,9,1000,10,1500,11,1,24,1,39,1,40,1}");

	/* Below the suggested price, at 0, and above the histogram's end. */
	facts_payment_row p = PAYMENT;
	p.raw_fairness_bp = 9999;
	p.fairness_bp = 9999;
	p.reasons = 0;
	memset(&f, 0, sizeof(f));
	facts_payment(&f, &p, 1);
	assert_int_equal(f.v[FACTS_AT_OR_ABOVE_SP], 0);
	assert_int_equal(f.v[FACTS_HISTOGRAM_0 + 9], 1);
	p.fairness_bp = 0;
	facts_payment(&f, &p, 1);
	assert_int_equal(f.v[FACTS_HISTOGRAM_0], 1);
	p.fairness_bp = FP_RAW_FAIRNESS_CAP;
	facts_payment(&f, &p, 1);
	assert_int_equal(f.v[FACTS_HISTOGRAM_0 + FACTS_HISTOGRAM - 1], 1);
}

/* A late payment moves the default from the offer to the payment: the
 * change leaves defaults as they were and adds a late payment. */
static void test_late_payment(void **state)
{
	facts f = offer_change(FP_OFFER_STATUS_DEFAULTED, FP_OFFER_STATUS_PAID);
	facts_payment_row p = PAYMENT;
	p.late = true;
	facts_payment(&f, &p, 1);
	assert_int_equal(f.v[FACTS_DEFAULTS], 0);
	assert_int_equal(f.v[FACTS_LATE_PAYMENTS], 1);
	assert_int_equal(f.v[FACTS_PAYMENTS], 1);
	assert_int_equal(f.v[FACTS_OFFERS_ACCEPTED], 0);
}

/* A review ends a pending review and moves the payment's bucket. */
static void test_review(void **state)
{
	facts_payment_row before = PAYMENT;
	before.review = FP_REVIEW_PENDING;
	before.fairness_bp = 3000;
	facts_payment_row after = before;
	after.review = FP_REVIEW_ACCEPTED;
	after.fairness_bp = 8000;
	facts f = { { 0 } };
	facts_payment(&f, &after, 1);
	facts_payment(&f, &before, -1);
	expect_text(&f, "{7,-1,15,-1,20,1}");
}

static void test_add_and_text(void **state)
{
	facts a = { { 0 } };
	a.v[FACTS_PAID_MINOR] = INT64_MAX - 1;
	facts_add_stat(&a, FACTS_PAID_MINOR, 5);
	facts_add_stat(&a, FACTS_PAYMENTS, -2);
	assert_true(a.v[FACTS_PAID_MINOR] == INT64_MAX);
	assert_int_equal(a.v[FACTS_PAYMENTS], -2);
	facts z = { { 0 } };
	assert_true(facts_zero(&z));
	expect_text(&z, "{}");
	/* Every entry at its widest fits FACTS_TEXT_LEN; one byte less does not. */
	facts w;
	for (int i = 0; i < FACTS_N; i++)
		w.v[i] = INT64_MIN;
	char text[FACTS_TEXT_LEN];
	assert_int_equal(facts_format(&w, text, sizeof(text)), 0);
	assert_int_equal(facts_format(&w, text, strlen(text)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offer_statuses), cmocka_unit_test(test_offer_changes),
		cmocka_unit_test(test_payment),        cmocka_unit_test(test_late_payment),
		cmocka_unit_test(test_review),         cmocka_unit_test(test_add_and_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
