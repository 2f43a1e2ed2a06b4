/* Unit tests of the page tokens of ListOffers and ListPayments
 * (server/common/pagetoken.c): what the server makes it takes back, and
 * nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "pagetoken.h"

static void test_round_trip(void **state)
{
	static const int64_t times[] = { 0, 1, INT64_C(1767225600123456), PAGETOKEN_MAX_US - 1 };
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char tok[PAGETOKEN_SIZE];
		assert_int_equal(pagetoken_make('o', times[i], "o_0123456789abcdef", tok), 0);
		assert_int_equal(strlen(tok), PAGETOKEN_LEN);
		pagetoken t;
		assert_int_equal(pagetoken_parse('o', tok, &t), 0);
		assert_true(t.created_us == times[i]);
		char id[32];
		pagetoken_id('o', &t, id, sizeof(id));
		assert_string_equal(id, "o_0123456789abcdef");
		/* A token names its list: the other one refuses it. */
		assert_int_equal(pagetoken_parse('p', tok, &t), -1);
	}
	char tok[PAGETOKEN_SIZE];
	assert_int_equal(pagetoken_make('p', 42, "p_ffffffffffffffff", tok), 0);
	assert_string_equal(tok, "p000000000000002affffffffffffffff");
}

static void test_make_refuses(void **state)
{
	char tok[PAGETOKEN_SIZE] = "x";
	assert_int_equal(pagetoken_make('o', -1, "o_0123456789abcdef", tok), -1);
	assert_string_equal(tok, "");
	assert_int_equal(pagetoken_make('o', PAGETOKEN_MAX_US, "o_0123456789abcdef", tok), -1);
	assert_int_equal(pagetoken_make('o', 1, "p_0123456789abcdef", tok), -1);
	assert_int_equal(pagetoken_make('o', 1, "o_0123456789ABCDEF", tok), -1);
	assert_int_equal(pagetoken_make('o', 1, "o_0123456789abcde", tok), -1);
	assert_int_equal(pagetoken_make('o', 1, NULL, tok), -1);
}

static void test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"o",
		"o000000000000002a0123456789abcde",   /* short */
		"o000000000000002a0123456789abcdef0", /* long */
		"O000000000000002a0123456789abcdef",  /* kind in upper case */
		"o000000000000002A0123456789abcdef",  /* upper-case hex */
		"o000000000000002a0123456789abcdeg",  /* not hex */
		"o000000000000002a 123456789abcdef",
		"o-00000000000002a0123456789abcdef",
		"o7fffffffffffffff0123456789abcdef", /* past the year 9999 */
		"offffffffffffffff0123456789abcdef", /* negative */
		"o0384440ccc7360000123456789abcdef", /* exactly PAGETOKEN_MAX_US */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pagetoken t;
		if (pagetoken_parse('o', bad[i], &t) != -1)
			fail_msg("token accepted: '%s'", bad[i]);
	}
	pagetoken t;
	assert_int_equal(pagetoken_parse('o', NULL, &t), -1);
	assert_int_equal(pagetoken_parse('o', "o0384440ccc735fff0123456789abcdef", &t), 0);
	assert_true(t.created_us == PAGETOKEN_MAX_US - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_make_refuses),
		cmocka_unit_test(test_parse_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
