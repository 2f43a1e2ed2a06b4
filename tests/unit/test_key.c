/* Unit tests of API keys: generation, parsing of every malformed form, and
 * the stored hash, whose format must never change (stored rows depend on it). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "key.h"

#define GOOD_ID "0123456789abcdef"
#define GOOD_SECRET "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define GOOD_KEY "fp_" GOOD_ID "_" GOOD_SECRET

static bool all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int parse_str(const char *s, key_parts *out)
{
	return key_parse(s, strlen(s), out);
}

static void test_generate_parse_round_trip(void **state)
{
	key_parts gen, parsed;
	char text[KEY_TEXT_LEN + 1];
	assert_int_equal(key_generate(&gen, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), KEY_TEXT_LEN);
	assert_memory_equal(text, "fp_", 3);
	assert_int_equal(text[3 + KEY_ID_LEN], '_');
	assert_int_equal(strlen(gen.id), KEY_ID_LEN);
	assert_int_equal(strlen(gen.secret), KEY_SECRET_LEN);
	assert_true(all_lower_hex(gen.id, KEY_ID_LEN));
	assert_true(all_lower_hex(gen.secret, KEY_SECRET_LEN));

	assert_int_equal(key_parse(text, strlen(text), &parsed), 0);
	assert_string_equal(parsed.id, gen.id);
	assert_string_equal(parsed.secret, gen.secret);

	key_parts gen2;
	char text2[KEY_TEXT_LEN + 1];
	assert_int_equal(key_generate(&gen2, text2, sizeof(text2)), 0);
	assert_string_not_equal(text, text2);
	assert_string_not_equal(gen.id, gen2.id);
	assert_string_not_equal(gen.secret, gen2.secret);
}

static void test_generate_small_buffer(void **state)
{
	key_parts gen;
	char text[KEY_TEXT_LEN];
	assert_int_equal(key_generate(&gen, text, sizeof(text)), -1);
}

static void test_parse_good(void **state)
{
	key_parts k;
	assert_int_equal(parse_str(GOOD_KEY, &k), 0);
	assert_string_equal(k.id, GOOD_ID);
	assert_string_equal(k.secret, GOOD_SECRET);
}

static void test_parse_malformed(void **state)
{
	const char *bad[] = {
		"",
		"fp_",
		"fq_" GOOD_ID "_" GOOD_SECRET,      /* wrong prefix */
		"FP_" GOOD_ID "_" GOOD_SECRET,      /* prefix case */
		"xfp_" GOOD_ID "_" GOOD_SECRET,     /* extra lead byte */
		"fp_0123456789ABCDEF_" GOOD_SECRET, /* upper-case id */
		"fp_" GOOD_ID "_"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA",
		"fp_0123456789abcde_" GOOD_SECRET,   /* id 15 */
		"fp_0123456789abcdef0_" GOOD_SECRET, /* id 17 */
		"fp_" GOOD_ID "_"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"fp_" GOOD_ID "_" GOOD_SECRET "a",  /* secret 65 */
		"fp_0123456789abcdef" GOOD_SECRET,  /* missing '_' */
		"fp_0123456789abcdef-" GOOD_SECRET, /* '-' for '_' */
		"fp_0123456789abcde__" GOOD_SECRET, /* '_' inside id */
		"fp_" GOOD_ID "_"
		"gaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"fp_0123456789abcdeg_" GOOD_SECRET, /* non-hex in id */
		"fp_ 123456789abcdef_" GOOD_SECRET, /* space */
		" fp_0123456789abcdef_" GOOD_SECRET,
		GOOD_KEY "\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		key_parts k;
		if (parse_str(bad[i], &k) != -1)
			fail_msg("key_parse accepted malformed key #%zu '%s'", i, bad[i]);
	}
}

static void test_parse_length_is_authoritative(void **state)
{
	key_parts k;
	char buf[KEY_TEXT_LEN + 2];
	memcpy(buf, GOOD_KEY, KEY_TEXT_LEN + 1);

	/* A NUL inside the counted bytes is not a key, wherever it is. */
	const size_t positions[] = { 0, 3, 10, 3 + KEY_ID_LEN, 40, KEY_TEXT_LEN - 1 };
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		char tmp[KEY_TEXT_LEN + 1];
		memcpy(tmp, GOOD_KEY, sizeof(tmp));
		tmp[positions[i]] = '\0';
		if (key_parse(tmp, KEY_TEXT_LEN, &k) != -1)
			fail_msg("key_parse accepted a NUL at offset %zu", positions[i]);
	}
	/* The right bytes with a wrong length. */
	assert_int_equal(key_parse(buf, KEY_TEXT_LEN - 1, &k), -1);
	buf[KEY_TEXT_LEN + 1] = 'a';
	assert_int_equal(key_parse(buf, KEY_TEXT_LEN + 1, &k), -1); /* trailing NUL counted */
	assert_int_equal(key_parse(buf, 0, &k), -1);
	assert_int_equal(key_parse(NULL, KEY_TEXT_LEN, &k), -1);
	/* A longer buffer whose first KEY_TEXT_LEN bytes form a key: len decides. */
	char longer[KEY_TEXT_LEN + 8];
	memcpy(longer, GOOD_KEY, KEY_TEXT_LEN);
	memcpy(longer + KEY_TEXT_LEN, "trailer", 8);
	assert_int_equal(key_parse(longer, KEY_TEXT_LEN, &k), 0);
	assert_string_equal(k.id, GOOD_ID);
	assert_int_equal(key_parse(longer, strlen(longer), &k), -1);
}

static void test_hash_known_answer(void **state)
{
	/* Pinned: stored api_keys.secret_hash values depend on this exact
	 * construction; a change locks every existing key out. */
	key_parts k;
	char h[KEY_HASH_LEN + 1];
	assert_int_equal(parse_str(GOOD_KEY, &k), 0);
	key_hash(&k, h);
	assert_string_equal(h, "9bcee5d29563a6564353ad8a2f3b34f2eaca07bd2aa8cd635163c0b51351329e");
}

static void test_hash_stability(void **state)
{
	key_parts a, b;
	char text[KEY_TEXT_LEN + 1];
	char h1[KEY_HASH_LEN + 1], h2[KEY_HASH_LEN + 1], h3[KEY_HASH_LEN + 1];
	assert_int_equal(key_generate(&a, text, sizeof(text)), 0);
	key_hash(&a, h1);
	key_hash(&a, h2);
	assert_int_equal(strlen(h1), KEY_HASH_LEN);
	assert_true(all_lower_hex(h1, KEY_HASH_LEN));
	assert_string_equal(h1, h2);

	/* Same input through a fresh parse: same hash. */
	assert_int_equal(key_parse(text, strlen(text), &b), 0);
	key_hash(&b, h3);
	assert_string_equal(h1, h3);

	/* Same secret, different id: the hash is bound to the id. */
	b = a;
	b.id[0] = a.id[0] == '0' ? '1' : '0';
	key_hash(&b, h3);
	assert_string_not_equal(h1, h3);

	/* Same id, different secret. */
	b = a;
	b.secret[KEY_SECRET_LEN - 1] = a.secret[KEY_SECRET_LEN - 1] == 'f' ? 'e' : 'f';
	key_hash(&b, h3);
	assert_string_not_equal(h1, h3);
}

static void test_matches(void **state)
{
	key_parts a, b;
	char text[KEY_TEXT_LEN + 1];
	char ha[KEY_HASH_LEN + 1], hb[KEY_HASH_LEN + 1];
	assert_int_equal(key_generate(&a, text, sizeof(text)), 0);
	assert_int_equal(key_generate(&b, text, sizeof(text)), 0);
	key_hash(&a, ha);
	key_hash(&b, hb);

	assert_true(key_matches(&a, ha));
	assert_true(key_matches(&b, hb));
	assert_false(key_matches(&a, hb));
	assert_false(key_matches(&b, ha));

	/* Right id, wrong secret. */
	key_parts wrong = a;
	wrong.secret[0] = a.secret[0] == 'a' ? 'b' : 'a';
	assert_false(key_matches(&wrong, ha));

	/* Stored values that are not a hash of the right length. */
	char shorter[KEY_HASH_LEN + 1];
	memcpy(shorter, ha, sizeof(shorter));
	shorter[KEY_HASH_LEN - 1] = '\0';
	assert_false(key_matches(&a, shorter));
	char longer[KEY_HASH_LEN + 2];
	memcpy(longer, ha, KEY_HASH_LEN);
	longer[KEY_HASH_LEN] = '0';
	longer[KEY_HASH_LEN + 1] = '\0';
	assert_false(key_matches(&a, longer));
	assert_false(key_matches(&a, ""));
	assert_false(key_matches(&a, NULL));
}

static void test_random_hex(void **state)
{
	char a[2 * 32 + 1], b[2 * 32 + 1];
	memset(a, 'X', sizeof(a));
	assert_int_equal(key_random_hex(a, 8), 0);
	assert_int_equal(strlen(a), 16);
	assert_true(all_lower_hex(a, 16));
	assert_int_equal(key_random_hex(a, 32), 0);
	assert_int_equal(key_random_hex(b, 32), 0);
	assert_int_equal(strlen(a), 64);
	assert_true(all_lower_hex(a, 64));
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_parse_round_trip),
		cmocka_unit_test(test_generate_small_buffer),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_length_is_authoritative),
		cmocka_unit_test(test_hash_known_answer),
		cmocka_unit_test(test_hash_stability),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_random_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
