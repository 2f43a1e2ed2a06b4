/* Unit tests of money for people (server/common/money.c): the ISO 4217
 * exponents, and the exact text of amounts at every exponent, negative, zero,
 * at the limits of int64, without a currency and with an unknown one. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "money.h"

typedef struct money_case {
	int64_t minor;
	const char *currency;
	const char *want;
} money_case;

static void test_exponents(void **state)
{
	assert_int_equal(money_exponent("EUR"), 2);
	assert_int_equal(money_exponent("USD"), 2);
	assert_int_equal(money_exponent("JPY"), 0);
	assert_int_equal(money_exponent("KRW"), 0);
	assert_int_equal(money_exponent("ISK"), 0);
	assert_int_equal(money_exponent("CLP"), 0);
	assert_int_equal(money_exponent("BHD"), 3);
	assert_int_equal(money_exponent("KWD"), 3);
	assert_int_equal(money_exponent("TND"), 3);
	assert_int_equal(money_exponent("CLF"), 4);
	assert_int_equal(money_exponent("UYW"), 4);
	/* Unknown codes, and what is not a code at all, are hundredths. */
	assert_int_equal(money_exponent("ZZZ"), 2);
	assert_int_equal(money_exponent("jpy"), 2);
	assert_int_equal(money_exponent("JPYX"), 2);
	assert_int_equal(money_exponent(""), 2);
	assert_int_equal(money_exponent(NULL), 2);
}

static void test_format(void **state)
{
	static const money_case cases[] = {
		{ 1000, "EUR", "10.00 EUR" },
		{ 1005, "EUR", "10.05 EUR" },
		{ 5, "EUR", "0.05 EUR" },
		{ 0, "EUR", "0.00 EUR" },
		{ -5, "EUR", "-0.05 EUR" },
		{ -1234, "USD", "-12.34 USD" },
		{ 1000, "JPY", "1000 JPY" },
		{ 0, "JPY", "0 JPY" },
		{ -7, "KRW", "-7 KRW" },
		{ 1000, "BHD", "1.000 BHD" },
		{ 1, "BHD", "0.001 BHD" },
		{ -1, "KWD", "-0.001 KWD" },
		{ 0, "BHD", "0.000 BHD" },
		{ 12345, "CLF", "1.2345 CLF" },
		{ 1, "UYW", "0.0001 UYW" },
		{ 1000, "ZZZ", "10.00 ZZZ" },
		{ INT64_MAX, "EUR", "92233720368547758.07 EUR" },
		{ INT64_MIN, "EUR", "-92233720368547758.08 EUR" },
		{ INT64_MAX, "JPY", "9223372036854775807 JPY" },
		{ INT64_MIN, "JPY", "-9223372036854775808 JPY" },
		{ INT64_MIN, "CLF", "-922337203685477.5808 CLF" },
		{ INT64_MAX, "BHD", "9223372036854775.807 BHD" },
		/* 10^15, the largest amount a request may carry. */
		{ 1000000000000000, "EUR", "10000000000000.00 EUR" },
		/* No currency (a reputation before its first offer): minor units. */
		{ 1000, "", "1000" },
		{ -3, NULL, "-3" },
		/* Not a code: hundredths, and no text of it reaches the terminal. */
		{ 1000, "eur", "10.00 ?" },
		{ 1000, "EURO\n", "10.00 ?" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[MONEY_TEXT_LEN];
		const char *got = money_format(cases[i].minor, cases[i].currency, buf);
		assert_ptr_equal(got, buf);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, got, cases[i].want);
	}
}

/* The longest text fits MONEY_TEXT_LEN with room for its NUL. */
static void test_longest_fits(void **state)
{
	char buf[MONEY_TEXT_LEN];
	memset(buf, 'x', sizeof(buf));
	money_format(INT64_MIN, "CLF", buf);
	assert_true(strlen(buf) < MONEY_TEXT_LEN);
	assert_string_equal(buf, "-922337203685477.5808 CLF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exponents),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_longest_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
