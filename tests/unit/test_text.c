/* Unit tests of the request string checks: UTF-8 (overlong forms,
 * surrogates, truncation, values past U+10FFFF, NUL), currency, SKU, names
 * and generated ids. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "text.h"

typedef struct bytes {
	const char *s;
	size_t len;
	const char *what;
} bytes;

#define B(lit, what)                       \
	{                                  \
		lit, sizeof(lit) - 1, what \
	}

static void test_utf8_valid(void **state)
{
	const bytes good[] = {
		B("", "empty"),
		B("plain ascii ~!", "ascii"),
		B("\x7f", "DEL"),
		B("\xc2\x80", "U+0080"),
		B("caf\xc3\xa9", "e acute"),
		B("\xdf\xbf", "U+07FF"),
		B("\xe0\xa0\x80", "U+0800"),
		B("\xe2\x82\xac", "euro"),
		B("\xed\x9f\xbf", "U+D7FF, below surrogates"),
		B("\xee\x80\x80", "U+E000, above surrogates"),
		B("\xef\xbf\xbf", "U+FFFF"),
		B("\xf0\x90\x80\x80", "U+10000"),
		B("\xf0\x9d\x84\x9e", "G clef"),
		B("\xf4\x8f\xbf\xbf", "U+10FFFF"),
		B("a\xc3\xa9"
		  "b\xe2\x82\xac"
		  "c\xf0\x9f\x98\x80",
		  "mixed"),
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!text_valid_utf8(good[i].s, good[i].len))
			fail_msg("valid UTF-8 refused: %s", good[i].what);
}

static void test_utf8_invalid(void **state)
{
	const bytes bad[] = {
		B("\xc0\x80", "overlong NUL"),
		B("\xc0\xaf", "overlong '/'"),
		B("\xc1\xbf", "overlong 2-byte"),
		B("\xe0\x80\x80", "overlong 3-byte NUL"),
		B("\xe0\x9f\xbf", "overlong U+07FF in 3 bytes"),
		B("\xf0\x80\x80\x80", "overlong 4-byte NUL"),
		B("\xf0\x8f\xbf\xbf", "overlong U+FFFF in 4 bytes"),
		B("\xed\xa0\x80", "surrogate U+D800"),
		B("\xed\xbf\xbf", "surrogate U+DFFF"),
		B("\xed\xa0\xbd\xed\xb8\x80", "surrogate pair (CESU-8)"),
		B("\xf4\x90\x80\x80", "U+110000"),
		B("\xf7\xbf\xbf\xbf", "U+1FFFFF"),
		B("\xf8\x88\x80\x80\x80", "5-byte form"),
		B("\xfc\x84\x80\x80\x80\x80", "6-byte form"),
		B("\xfe", "0xFE"),
		B("\xff", "0xFF"),
		B("\x80", "lone continuation"),
		B("a\xbf"
		  "b",
		  "continuation in text"),
		B("\xc3", "truncated 2-byte at end"),
		B("\xe2\x82", "truncated 3-byte at end"),
		B("\xf0\x9d\x84", "truncated 4-byte at end"),
		B("\xc3"
		  "a",
		  "2-byte lead then ASCII"),
		B("\xe2\x82"
		  "a",
		  "3-byte cut by ASCII"),
		B("\xf0\x9d"
		  "ab",
		  "4-byte cut by ASCII"),
		B("\xe2\xc3\xa9", "lead then another lead"),
		B("\x00", "NUL"),
		B("ab\x00"
		  "cd",
		  "NUL inside"),
		B("abc\x00", "NUL at end"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (text_valid_utf8(bad[i].s, bad[i].len))
			fail_msg("invalid UTF-8 accepted: %s", bad[i].what);
}

static void test_utf8_length_is_authoritative(void **state)
{
	/* A valid string cut inside a sequence by len is truncated. */
	const char *euro = "x\xe2\x82\xac";
	assert_true(text_valid_utf8(euro, 4));
	assert_false(text_valid_utf8(euro, 3));
	assert_false(text_valid_utf8(euro, 2));
	assert_true(text_valid_utf8(euro, 1));
	assert_true(text_valid_utf8(euro, 0));
}

static void test_currency(void **state)
{
	assert_true(text_valid_currency("USD"));
	assert_true(text_valid_currency("EUR"));
	assert_true(text_valid_currency("XXX"));
	const char *bad[] = { "usd", "Usd", "US",  "USDX", "",
			      "U1D", "US ", " US", "U-D",  "\xc3\x89UR" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (text_valid_currency(bad[i]))
			fail_msg("currency accepted: '%s'", bad[i]);
	assert_false(text_valid_currency(NULL));
}

static void test_sku(void **state)
{
	char s64[65], s65[66];
	memset(s64, 'a', 64);
	s64[64] = '\0';
	memset(s65, 'Z', 65);
	s65[65] = '\0';
	assert_true(text_valid_sku("a"));
	assert_true(text_valid_sku("SKU-1.basic_v2"));
	assert_true(text_valid_sku("0123456789"));
	assert_true(text_valid_sku("..--__"));
	assert_true(text_valid_sku(s64));
	assert_false(text_valid_sku(s65));
	const char *bad[] = { "",      "a b",       "a/b", "a+b", "sku!", "caf\xc3\xa9",
			      "tab\t", "new\nline", "a,b", "a:b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (text_valid_sku(bad[i]))
			fail_msg("sku accepted: '%s'", bad[i]);
	assert_false(text_valid_sku(NULL));
}

static void test_name(void **state)
{
	char n200[201], n201[202];
	memset(n200, 'n', 200);
	n200[200] = '\0';
	memset(n201, 'n', 201);
	n201[201] = '\0';
	assert_true(text_valid_name("x", 200));
	assert_true(text_valid_name(n200, 200));
	assert_false(text_valid_name(n201, 200));
	assert_false(text_valid_name("", 200));
	assert_false(text_valid_name(NULL, 200));
	assert_false(text_valid_name("bad \xff byte", 200));
	assert_false(text_valid_name("\xed\xa0\x80", 200));
	/* The limit is in bytes, not characters: 100 two-byte characters fit,
	 * 101 do not. */
	char e100[201], e101[203];
	for (int i = 0; i < 100; i++)
		memcpy(e100 + 2 * i, "\xc3\xa9", 2);
	e100[200] = '\0';
	for (int i = 0; i < 101; i++)
		memcpy(e101 + 2 * i, "\xc3\xa9", 2);
	e101[202] = '\0';
	assert_true(text_valid_name(e100, 200));
	assert_false(text_valid_name(e101, 200));
}

static void test_id(void **state)
{
	assert_true(text_valid_id("v_0123456789abcdef", "v_"));
	assert_true(text_valid_id("o_ffffffffffffffff", "o_"));
	assert_true(text_valid_id("p_0000000000000000", "p_"));
	assert_true(text_valid_id("0123456789abcdef", "")); /* a key id */
	const char *bad[] = {
		"v_0123456789ABCDEF",  /* upper case */
		"v_0123456789abcde",   /* 15 digits */
		"v_0123456789abcdef0", /* 17 digits */
		"o_0123456789abcdef",  /* other prefix */
		"V_0123456789abcdef",
		"v-0123456789abcdef",
		"0123456789abcdefgh",
		"v_0123456789abcdeg",
		"v_",
		"",
		"v_0123456789abcde ",
		" v_0123456789abcde",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (text_valid_id(bad[i], "v_"))
			fail_msg("id accepted: '%s'", bad[i]);
	assert_false(text_valid_id(NULL, "v_"));
	assert_false(text_valid_id("0123456789abcdef0", ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_utf8_length_is_authoritative),
		cmocka_unit_test(test_currency),
		cmocka_unit_test(test_sku),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
