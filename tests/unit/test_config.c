/* Unit tests of fairpayd's flag table: defaults, both flag forms, range and
 * syntax errors, HOST:PORT splitting and the cross-flag validation. */
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

#include "config.h"

/* Parse a NULL-terminated flag list over the defaults; returns cfg_parse's
 * result and leaves the message in err. */
static int parse(fp_config *cfg, char *err, size_t errlen, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	argv[argc++] = "fairpayd";
	va_start(ap, errlen);
	for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
		assert_true(argc < 63);
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	cfg_defaults(cfg);
	err[0] = '\0';
	return cfg_parse(cfg, argc, argv, err, errlen);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

static void test_defaults(void **state)
{
	fp_config cfg;
	cfg_defaults(&cfg);
	assert_string_equal(cfg.listen, "127.0.0.1:7443");
	assert_non_null(cfg.db);
	assert_string_equal(cfg.db, "");
	assert_null(cfg.cert_file);
	assert_null(cfg.key_file);
	assert_null(cfg.client_ca_file);
	assert_int_equal(cfg.max_frame, 65536);
	assert_int_equal(cfg.max_inflight, 128);
	assert_int_equal(cfg.max_connections, 10000);
	assert_int_equal(cfg.db_pool, 4);
	assert_int_equal(cfg.db_timeout_ms, 1000);
	assert_int_equal(cfg.handshake_timeout_ms, 10000);
	assert_int_equal(cfg.idle_timeout_ms, 300000);
	assert_int_equal(cfg.shutdown_timeout_ms, 10000);
	assert_int_equal(cfg.revocation_poll_ms, 500);
	assert_string_equal(cfg.log_level, "info");
	assert_false(cfg.help);
	assert_false(cfg.version);
	cfg_free(&cfg);
}

static void test_no_flags_keeps_defaults(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
	assert_string_equal(cfg.listen, "127.0.0.1:7443");
	assert_int_equal(cfg.max_frame, 65536);
	cfg_free(&cfg);
}

static void test_space_form(void **state)
{
	fp_config cfg;
	char err[256];
	int rc = parse(&cfg, err, sizeof(err), "--listen", "0.0.0.0:9000", "--db",
		       "host=/tmp port=5432 dbname=x", "--cert", "s.pem", "--key", "s.key",
		       "--client-ca", "ca.pem", "--max-frame", "1024", "--max-inflight", "4",
		       "--max-connections", "7", "--db-pool", "2", "--db-timeout-ms", "250",
		       "--handshake-timeout-ms", "300", "--idle-timeout-ms", "400",
		       "--shutdown-timeout-ms", "0", "--revocation-poll-ms", "50", "--log-level",
		       "debug", NULL);
	if (rc != 0)
		fail_msg("cfg_parse: %s", err);
	assert_string_equal(cfg.listen, "0.0.0.0:9000");
	assert_string_equal(cfg.db, "host=/tmp port=5432 dbname=x");
	assert_string_equal(cfg.cert_file, "s.pem");
	assert_string_equal(cfg.key_file, "s.key");
	assert_string_equal(cfg.client_ca_file, "ca.pem");
	assert_int_equal(cfg.max_frame, 1024);
	assert_int_equal(cfg.max_inflight, 4);
	assert_int_equal(cfg.max_connections, 7);
	assert_int_equal(cfg.db_pool, 2);
	assert_int_equal(cfg.db_timeout_ms, 250);
	assert_int_equal(cfg.handshake_timeout_ms, 300);
	assert_int_equal(cfg.idle_timeout_ms, 400);
	assert_int_equal(cfg.shutdown_timeout_ms, 0);
	assert_int_equal(cfg.revocation_poll_ms, 50);
	assert_string_equal(cfg.log_level, "debug");
	assert_false(cfg.help);
	cfg_free(&cfg);
}

static void test_equals_form(void **state)
{
	fp_config cfg;
	char err[256];
	/* The value of --db itself holds '=' signs: only the first one splits. */
	int rc = parse(&cfg, err, sizeof(err), "--listen=[::1]:7443", "--db=host=h dbname=d",
		       "--cert=c.pem", "--key=k.pem", "--max-frame=2048", "--max-inflight=1",
		       "--log-level=warn", "--db=", NULL);
	if (rc != 0)
		fail_msg("cfg_parse: %s", err);
	assert_string_equal(cfg.listen, "[::1]:7443");
	assert_string_equal(cfg.db, ""); /* the last --db wins, and may be empty */
	assert_string_equal(cfg.cert_file, "c.pem");
	assert_string_equal(cfg.key_file, "k.pem");
	assert_int_equal(cfg.max_frame, 2048);
	assert_int_equal(cfg.max_inflight, 1);
	assert_string_equal(cfg.log_level, "warn");
	cfg_free(&cfg);

	assert_int_equal(parse(&cfg, err, sizeof(err), "--db=host=h dbname=d", NULL), 0);
	assert_string_equal(cfg.db, "host=h dbname=d");
	cfg_free(&cfg);
}

static void test_last_flag_wins(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--max-inflight", "4", "--max-inflight=8",
			       "--cert", "a", "--cert", "b", NULL),
			 0);
	assert_int_equal(cfg.max_inflight, 8);
	assert_string_equal(cfg.cert_file, "b");
	cfg_free(&cfg);
}

static void test_int_limits_inclusive(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--max-frame", "64", NULL), 0);
	assert_int_equal(cfg.max_frame, 64);
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--max-frame", "16777216", NULL), 0);
	assert_int_equal(cfg.max_frame, 16777216);
	cfg_free(&cfg);
}

static void test_out_of_range_and_not_numbers(void **state)
{
	const char *bad[][2] = {
		{ "--max-frame", "63" },         { "--max-frame", "16777217" },
		{ "--max-frame", "-1" },         { "--max-inflight", "0" },
		{ "--max-connections", "0" },    { "--db-pool", "0" },
		{ "--db-pool", "1000" },         { "--db-timeout-ms", "0" },
		{ "--revocation-poll-ms", "1" }, { "--max-frame", "99999999999999999999999" },
		{ "--max-frame", "12abc" },      { "--max-frame", "abc" },
		{ "--max-frame", "" },           { "--max-frame", "1e3" },
		{ "--max-inflight", " 4x" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fp_config cfg;
		char err[256];
		int rc = parse(&cfg, err, sizeof(err), bad[i][0], bad[i][1], NULL);
		if (rc != -1)
			fail_msg("cfg_parse accepted %s '%s'", bad[i][0], bad[i][1]);
		if (err[0] == '\0')
			fail_msg("no message for %s '%s'", bad[i][0], bad[i][1]);
		/* The message names the flag, so an operator knows which. */
		assert_contains(err, bad[i][0] + 2);
		cfg_free(&cfg);
	}
}

static void test_unknown_flag(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--frobnicate", "1", NULL), -1);
	assert_contains(err, "frobnicate");
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--frobnicate=1", NULL), -1);
	assert_contains(err, "frobnicate");
	cfg_free(&cfg);
	/* A prefix of a flag is not that flag. */
	assert_int_equal(parse(&cfg, err, sizeof(err), "--max", "1", NULL), -1);
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--listenx", "a:1", NULL), -1);
	cfg_free(&cfg);
	/* Positional arguments and single-dash forms are refused too. */
	assert_int_equal(parse(&cfg, err, sizeof(err), "serve", NULL), -1);
	assert_true(err[0] != '\0');
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "-h", NULL), -1);
	cfg_free(&cfg);
}

static void test_missing_value(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--listen", NULL), -1);
	assert_contains(err, "listen");
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c", "--max-frame", NULL), -1);
	assert_contains(err, "max-frame");
	cfg_free(&cfg);
}

static void test_help_and_version(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--help", NULL), 0);
	assert_true(cfg.help);
	assert_false(cfg.version);
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--version", NULL), 0);
	assert_true(cfg.version);
	assert_false(cfg.help);
	cfg_free(&cfg);
	/* --help mixed with other flags still parses. */
	assert_int_equal(parse(&cfg, err, sizeof(err), "--max-frame", "100", "--help", NULL), 0);
	assert_true(cfg.help);
	cfg_free(&cfg);
	/* A boolean flag takes no value. */
	assert_int_equal(parse(&cfg, err, sizeof(err), "--help=yes", NULL), -1);
	cfg_free(&cfg);
}

static void test_usage_lists_flags(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	assert_non_null(f);
	cfg_usage(f);
	assert_int_equal(fclose(f), 0);
	const char *flags[] = { "--listen",
				"--db",
				"--cert",
				"--key",
				"--client-ca",
				"--max-frame",
				"--max-inflight",
				"--max-connections",
				"--db-pool",
				"--db-timeout-ms",
				"--handshake-timeout-ms",
				"--idle-timeout-ms",
				"--shutdown-timeout-ms",
				"--revocation-poll-ms",
				"--log-level",
				"--help",
				"--version",
				"65536",
				"127.0.0.1:7443" };
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		assert_contains(text, flags[i]);
	free(text);
}

static void test_split_hostport_good(void **state)
{
	char host[64], port[16];
	assert_int_equal(
		cfg_split_hostport("127.0.0.1:7443", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(port, "7443");

	assert_int_equal(cfg_split_hostport("[::1]:7443", host, sizeof(host), port, sizeof(port)),
			 0);
	assert_string_equal(host, "::1");
	assert_string_equal(port, "7443");

	assert_int_equal(
		cfg_split_hostport("[fe80::1:2]:0", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "fe80::1:2");
	assert_string_equal(port, "0");

	assert_int_equal(
		cfg_split_hostport("localhost:65535", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "localhost");
	assert_string_equal(port, "65535");
}

static void test_split_hostport_bad(void **state)
{
	const char *bad[] = {
		"",        "localhost", ":7443",   "host:",     "::1:7443",   "[::1]7443",
		"[::1]",   "[::1:7443", "[]:7443", "host:port", "host:70000", "host:65536",
		"host:-1", "host:80x",  "a:b:c",   "[::1]:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[64], port[16];
		if (cfg_split_hostport(bad[i], host, sizeof(host), port, sizeof(port)) != -1)
			fail_msg("cfg_split_hostport accepted '%s'", bad[i]);
	}
	char host[64], port[16];
	assert_int_equal(cfg_split_hostport(NULL, host, sizeof(host), port, sizeof(port)), -1);
	/* Output buffers too small for the parts. */
	char small[4];
	assert_int_equal(
		cfg_split_hostport("localhost:80", small, sizeof(small), port, sizeof(port)), -1);
	assert_int_equal(cfg_split_hostport("h:65535", host, sizeof(host), small, 3), -1);
}

static void test_validate(void **state)
{
	fp_config cfg;
	char err[256];

	cfg_defaults(&cfg);
	err[0] = '\0';
	assert_int_equal(cfg_validate(&cfg, err, sizeof(err)), -1);
	assert_contains(err, "--cert");
	cfg_free(&cfg);

	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c.pem", NULL), 0);
	assert_int_equal(cfg_validate(&cfg, err, sizeof(err)), -1);
	assert_contains(err, "--key");
	cfg_free(&cfg);

	assert_int_equal(parse(&cfg, err, sizeof(err), "--key", "k.pem", NULL), 0);
	assert_int_equal(cfg_validate(&cfg, err, sizeof(err)), -1);
	cfg_free(&cfg);

	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c.pem", "--key", "k.pem", NULL),
			 0);
	if (cfg_validate(&cfg, err, sizeof(err)) != 0)
		fail_msg("cfg_validate: %s", err);
	cfg_free(&cfg);

	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c.pem", "--key", "k.pem",
			       "--listen", "no-port", NULL),
			 0);
	assert_int_equal(cfg_validate(&cfg, err, sizeof(err)), -1);
	assert_contains(err, "--listen");
	cfg_free(&cfg);
}

static void test_cfg_free(void **state)
{
	cfg_free(NULL);
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c", NULL), 0);
	cfg_free(&cfg);
	assert_null(cfg.cert_file);
	assert_null(cfg.listen);
	cfg_free(&cfg); /* a second free is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_no_flags_keeps_defaults),
		cmocka_unit_test(test_space_form),
		cmocka_unit_test(test_equals_form),
		cmocka_unit_test(test_last_flag_wins),
		cmocka_unit_test(test_int_limits_inclusive),
		cmocka_unit_test(test_out_of_range_and_not_numbers),
		cmocka_unit_test(test_unknown_flag),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_usage_lists_flags),
		cmocka_unit_test(test_split_hostport_good),
		cmocka_unit_test(test_split_hostport_bad),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_cfg_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
