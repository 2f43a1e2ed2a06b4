/* Unit tests of what the log writes of client strings: log_escape()'s exact
 * output (control characters, quotes, backslashes, bytes that are not UTF-8,
 * the bound), log_write()'s guard that keeps every message on one line, the
 * call fields in text, and --log-format json (one valid JSON object a line,
 * whatever the bytes). */
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
#include <unistd.h>

#include <jansson.h>

#include "log.h"

static void expect(const char *in, const char *want)
{
	char buf[LOG_ESCAPE_SIZE];
	const char *got = log_escape(buf, in);
	assert_ptr_equal(got, buf);
	if (strcmp(got, want) != 0)
		fail_msg("log_escape: want [%s], got [%s]", want, got);
}

static void test_escape_exact(void **state)
{
	expect("", "");
	expect(NULL, "");
	expect("plain key-1_2.3", "plain key-1_2.3");
	expect("a\nb", "a\\nb");
	expect("a\r\nb\tc", "a\\r\\nb\\tc");
	expect("say \"hi\"", "say \\\"hi\\\"");
	expect("back\\slash", "back\\\\slash");
	expect("\x01\x1f\x7f", "\\x01\\x1f\\x7f");
	expect("\x1b[31mred", "\\x1b[31mred");
	/* Bytes that are not UTF-8. */
	expect("\xff\xfe", "\\xff\\xfe");
	expect("caf\xe9", "caf\\xe9");
	expect("\xc0\x80", "\\xc0\\x80");          /* overlong NUL */
	expect("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
	expect("\xe2\x82", "\\xe2\\x82");          /* cut short */
	/* UTF-8 stays readable, but not what some readers take for a line break. */
	expect("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	expect("a\xc2\x85z", "a\\u0085z");
	expect("a\xe2\x80\xa8z\xe2\x80\xa9", "a\\u2028z\\u2029");
}

static void test_escape_bound(void **state)
{
	char in[LOG_ESCAPE_SHOWN + 2];
	char want[LOG_ESCAPE_SHOWN + 4];
	memset(in, 'k', LOG_ESCAPE_SHOWN);
	in[LOG_ESCAPE_SHOWN] = '\0';
	expect(in, in); /* exactly the bound: all of it */
	in[LOG_ESCAPE_SHOWN] = 'z';
	in[LOG_ESCAPE_SHOWN + 1] = '\0';
	memset(want, 'k', LOG_ESCAPE_SHOWN);
	strcpy(want + LOG_ESCAPE_SHOWN, "...");
	expect(in, want);
	/* The worst case fills the buffer and no more. */
	char worst[LOG_ESCAPE_SHOWN + 10];
	memset(worst, '\x01', sizeof(worst) - 1);
	worst[sizeof(worst) - 1] = '\0';
	char buf[LOG_ESCAPE_SIZE];
	size_t n = strlen(log_escape(buf, worst));
	assert_int_equal(n, 4 * LOG_ESCAPE_SHOWN + 3);
	assert_int_equal(n, LOG_ESCAPE_SIZE - 1);
	assert_string_equal(buf + n - 3, "...");
	/* A character cut by the bound is shown as its bytes, never half. */
	char cut[LOG_ESCAPE_SHOWN + 3];
	memset(cut, 'k', LOG_ESCAPE_SHOWN - 1);
	memcpy(cut + LOG_ESCAPE_SHOWN - 1, "\xc3\xa9", 3);
	log_escape(buf, cut);
	assert_string_equal(buf + LOG_ESCAPE_SHOWN - 1, "\\xc3...");
}

/* What log_write puts on stderr for one message. */
static char *captured_fields(const log_fields *f, const char *fmt, const char *arg)
{
	char path[] = "/tmp/fp-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_call(LOG_WARN, 9, f, fmt, arg);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	char *out = calloc(1, 4096);
	assert_non_null(out);
	assert_true(pread(fd, out, 4095, 0) >= 0);
	close(fd);
	unlink(path);
	return out;
}

static char *captured(const char *fmt, const char *arg)
{
	return captured_fields(NULL, fmt, arg);
}

static void test_text_fields(void **state)
{
	log_fields f = { "CreateOffer", "ABORTED", 1500, "v_1" };
	char *out = captured_fields(&f, "offer %s", "o1");
	assert_non_null(strstr(
		out,
		" conn=9 call=CreateOffer code=ABORTED duration_ms=1.500 vendor=v_1 offer o1\n"));
	free(out);
}

/* The one line of out as a JSON object (fails unless it is one). */
static json_t *parse_line(const char *out)
{
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
	json_error_t e;
	json_t *o = json_loads(out, JSON_DISABLE_EOF_CHECK, &e);
	if (!json_is_object(o))
		fail_msg("not a JSON object: %s (%s)", out, e.text);
	return o;
}

static void test_json_lines(void **state)
{
	log_set_format(LOG_JSON);
	log_set_worker(3);
	log_fields f = { "GetProduct", "NOT_FOUND", 2000, "v_9" };
	char *out = captured_fields(&f, "no product %s", "a\n\"b\"\x01");
	json_t *o = parse_line(out);
	assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
	assert_int_equal(json_integer_value(json_object_get(o, "conn")), 9);
	assert_int_equal(json_integer_value(json_object_get(o, "worker")), 3);
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
			    "no product a\n\"b\"\x01");
	assert_string_equal(json_string_value(json_object_get(o, "call")), "GetProduct");
	assert_string_equal(json_string_value(json_object_get(o, "code")), "NOT_FOUND");
	assert_string_equal(json_string_value(json_object_get(o, "vendor")), "v_9");
	assert_true(json_real_value(json_object_get(o, "duration_ms")) == 2.0);
	const char *ts = json_string_value(json_object_get(o, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24); /* 2026-01-01T00:00:00.000Z */
	json_decref(o);
	free(out);

	/* Bytes that are not UTF-8 still make valid JSON; no fields, no worker
	 * for a single process. */
	log_set_worker(0);
	out = captured("bad %s", "\xff\xfeok");
	o = parse_line(out);
	assert_string_equal(json_string_value(json_object_get(o, "msg")), "bad \\xff\\xfeok");
	assert_null(json_object_get(o, "worker"));
	assert_null(json_object_get(o, "call"));
	json_decref(o);
	free(out);
	log_set_format(LOG_TEXT);
}

static void test_parse_format(void **state)
{
	log_format f = LOG_TEXT;
	assert_int_equal(log_parse_format("json", &f), 0);
	assert_int_equal(f, LOG_JSON);
	assert_int_equal(log_parse_format("text", &f), 0);
	assert_int_equal(f, LOG_TEXT);
	assert_int_equal(log_parse_format("xml", &f), -1);
}

static void test_write_one_line(void **state)
{
	/* A string that no call site escaped still cannot split the line. */
	char *out = captured("key %s done", "k\n2026-01-01T00:00:00.000Z ERROR conn=1 forged\r");
	assert_non_null(strstr(out, " WARN  conn=9 key k\\n2026-01-01T00:00:00.000Z ERROR conn=1 "
				    "forged\\r done\n"));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
	free(out);
	/* What log_escape wrote is kept as it is. */
	char buf[LOG_ESCAPE_SIZE];
	out = captured("key \"%s\"", log_escape(buf, "a\nb\\"));
	assert_non_null(strstr(out, "key \"a\\nb\\\\\"\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_exact),   cmocka_unit_test(test_escape_bound),
		cmocka_unit_test(test_write_one_line), cmocka_unit_test(test_text_fields),
		cmocka_unit_test(test_json_lines),     cmocka_unit_test(test_parse_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
