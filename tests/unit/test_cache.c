/* Unit tests of the row cache's marks (server/store/cache.c): a row read
 * since a mark is kept unless its own key changed in the meantime; other
 * keys' changes do not stop it, a clear does, and so does a mark older
 * than the changes the cache remembers. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>

#include "cache.h"

static cache *on(void)
{
	cache *c = cache_new(64);
	assert_non_null(c);
	return c;
}

static int get(cache *c, const char *key)
{
	int v = -1;
	return cache_get(c, key, &v, sizeof(v)) ? v : -1;
}

static void test_other_keys_do_not_stop_a_fill(void **state)
{
	cache *c = on();
	unsigned long long mark = cache_mark(c);
	cache_del(c, "r/v/a");
	cache_note(c, "r/v/b");
	int v = 7;
	assert_false(cache_changed(c, mark, "r/v/c"));
	assert_true(cache_fill(c, mark, "r/v/c", &v, sizeof(v)));
	assert_int_equal(get(c, "r/v/c"), 7);
	cache_free(c);
}

static void test_a_change_of_the_key_stops_its_fill(void **state)
{
	cache *c = on();
	int old = 1, new = 2;
	unsigned long long mark = cache_mark(c);
	/* Another server's change of a is heard while a is read. */
	cache_del(c, "r/v/a");
	assert_true(cache_changed(c, mark, "r/v/a"));
	assert_false(cache_fill(c, mark, "r/v/a", &old, sizeof(old)));
	assert_int_equal(get(c, "r/v/a"), -1);
	/* This server's own write of b is newer than a read begun before. */
	unsigned long long mark2 = cache_mark(c);
	cache_note(c, "r/v/b");
	cache_put(c, "r/v/b", &new, sizeof(new));
	assert_false(cache_fill(c, mark2, "r/v/b", &old, sizeof(old)));
	assert_int_equal(get(c, "r/v/b"), 2);
	/* A read begun after the change is kept. */
	unsigned long long mark3 = cache_mark(c);
	assert_true(cache_fill(c, mark3, "r/v/a", &new, sizeof(new)));
	assert_int_equal(get(c, "r/v/a"), 2);
	cache_free(c);
}

static void test_a_clear_stops_every_fill(void **state)
{
	cache *c = on();
	int v = 3;
	unsigned long long mark = cache_mark(c);
	cache_clear(c, false);
	assert_true(cache_changed(c, mark, "r/v/a"));
	assert_false(cache_fill(c, mark, "r/v/a", &v, sizeof(v)));
	unsigned long long after = cache_mark(c);
	assert_true(cache_fill(c, after, "r/v/a", &v, sizeof(v)));
	cache_free(c);
}

static void test_too_many_changes_to_tell(void **state)
{
	cache *c = on();
	int v = 4;
	unsigned long long mark = cache_mark(c);
	char key[32];
	/* More changes than the cache remembers, none of them of "r/v/z":
	 * it cannot tell, so it does not keep the row. */
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "r/v/%d", i);
		cache_note(c, key);
	}
	assert_true(cache_changed(c, mark, "r/v/z"));
	assert_false(cache_fill(c, mark, "r/v/z", &v, sizeof(v)));
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_keys_do_not_stop_a_fill),
		cmocka_unit_test(test_a_change_of_the_key_stops_its_fill),
		cmocka_unit_test(test_a_clear_stops_every_fill),
		cmocka_unit_test(test_too_many_changes_to_tell),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
