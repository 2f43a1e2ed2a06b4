/* Unit tests of fairpayd's settings table: defaults, both flag forms, range
 * and syntax errors, HOST:PORT splitting, the cross-flag validation, the
 * config file (every error with its line, flags winning over it), reload
 * merging and the example file. */
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

/* Write text to a new temporary file; its path (static, overwritten by the
 * next call). */
static const char *write_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/fp-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* cfg_load() over argv (NULL-terminated, after the program name). */
static int load(fp_config *cfg, char *err, size_t errlen, char **args)
{
	static char *argv[32];
	int argc = 0;
	argv[argc++] = "fairpayd";
	for (int i = 0; args[i] != NULL; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	err[0] = '\0';
	return cfg_load(cfg, argc, argv, err, errlen);
}

static void test_file_values(void **state)
{
	const char *path = write_file("# a comment\n"
				      "\n"
				      "   # an indented comment\n"
				      "max-frame = 1024\n"
				      "max-inflight=7\n"
				      "  db = \"host=/tmp dbname=x password=a#b\"  \n"
				      "listen = 127.0.0.1:9999\n"
				      "db-role = \"\"\n"
				      "webhook-allow-http = yes\n"
				      "webhook-allow-private = true\n"
				      "log-level = warn\n"
				      "log-format = json\n"
				      "cert = /etc/c.pem\n");
	fp_config cfg;
	char err[512];
	cfg_defaults(&cfg);
	if (cfg_parse_file(&cfg, path, err, sizeof(err)) != 0)
		fail_msg("cfg_parse_file: %s", err);
	assert_int_equal(cfg.max_frame, 1024);
	assert_int_equal(cfg.max_inflight, 7);
	assert_string_equal(cfg.db, "host=/tmp dbname=x password=a#b");
	assert_string_equal(cfg.listen, "127.0.0.1:9999");
	assert_string_equal(cfg.db_role, "");
	assert_true(cfg.webhook_allow_http);
	assert_true(cfg.webhook_allow_private);
	assert_string_equal(cfg.log_level, "warn");
	assert_string_equal(cfg.log_format, "json");
	assert_string_equal(cfg.cert_file, "/etc/c.pem");
	/* Untouched: the default. */
	assert_int_equal(cfg.max_connections, 10000);
	cfg_free(&cfg);
	unlink(path);
}

static void test_file_booleans(void **state)
{
	const char *yes[] = { "true", "yes", "1", "TRUE", "Yes" };
	const char *no[] = { "false", "no", "0", "False", "NO" };
	for (size_t i = 0; i < 5; i++) {
		char text[128];
		fp_config cfg;
		char err[512];
		snprintf(text, sizeof(text),
			 "webhook-allow-http = %s\nwebhook-allow-private = %s\n", yes[i], no[i]);
		const char *path = write_file(text);
		cfg_defaults(&cfg);
		cfg.webhook_allow_private = true;
		assert_int_equal(cfg_parse_file(&cfg, path, err, sizeof(err)), 0);
		assert_true(cfg.webhook_allow_http);
		assert_false(cfg.webhook_allow_private);
		cfg_free(&cfg);
		unlink(path);
	}
}

/* One file line that must fail; the error must name the file, the line
 * (2: after a valid first line) and contain want. */
static void expect_file_error(const char *bad_line, const char *want)
{
	char text[256];
	snprintf(text, sizeof(text), "max-frame = 2048\n%s\nmax-inflight = 3\n", bad_line);
	const char *path = write_file(text);
	fp_config cfg;
	char err[512] = "";
	char where[96];
	cfg_defaults(&cfg);
	assert_int_equal(cfg_parse_file(&cfg, path, err, sizeof(err)), -1);
	snprintf(where, sizeof(where), "%s:2: ", path);
	assert_contains(err, where);
	assert_contains(err, want);
	/* Nothing after the bad line was read. */
	assert_int_equal(cfg.max_inflight, 128);
	cfg_free(&cfg);
	unlink(path);
}

static void test_file_errors(void **state)
{
	expect_file_error("no-such-option = 1", "unknown option 'no-such-option'");
	expect_file_error("max-frame = 12x", "--max-frame: '12x' is not a whole number");
	expect_file_error("max-frame = 10", "--max-frame: 10 is outside 64..16777216");
	expect_file_error("max-inflight = 0", "--max-inflight: 0 is outside 1..65536");
	expect_file_error("webhook-allow-http = maybe",
			  "--webhook-allow-http: 'maybe' is not true, false, yes, no, 1 or 0");
	expect_file_error("max-frame 1024", "expected 'name = value'");
	expect_file_error("listen = \"127.0.0.1:1", "closing quote is missing");
	expect_file_error("config = /etc/other.conf", "'config' is a command-line flag only");
	expect_file_error("help = true", "'help' is a command-line flag only");
	expect_file_error("--max-frame = 100", "unknown option '--max-frame'");
}

static void test_file_missing(void **state)
{
	fp_config cfg;
	char err[512];
	char *args[] = { "--config", "/nonexistent/fairpayd.conf", NULL };
	assert_int_equal(load(&cfg, err, sizeof(err), args), -1);
	assert_contains(err, "/nonexistent/fairpayd.conf");
	assert_contains(err, "No such file");
	cfg_free(&cfg);
}

static void test_flags_win_over_file(void **state)
{
	const char *path = write_file("max-frame = 1024\nmax-inflight = 9\nlog-level = error\n");
	char p[64];
	snprintf(p, sizeof(p), "%s", path);
	fp_config cfg;
	char err[512];
	/* Before and after --config alike: the flags win. */
	char *args[] = { "--max-frame", "4096", "--config", p, "--log-level=debug", NULL };
	if (load(&cfg, err, sizeof(err), args) != 0)
		fail_msg("cfg_load: %s", err);
	assert_int_equal(cfg.max_frame, 4096);
	assert_string_equal(cfg.log_level, "debug");
	assert_int_equal(cfg.max_inflight, 9); /* from the file */
	assert_string_equal(cfg.config_file, p);
	cfg_free(&cfg);

	/* A bad flag is an error even when the file is fine. */
	char *bad[] = { "--config", p, "--max-frame", "1", NULL };
	assert_int_equal(load(&cfg, err, sizeof(err), bad), -1);
	assert_contains(err, "--max-frame: 1 is outside");
	cfg_free(&cfg);
	unlink(p);
}

static void test_reload_keeps_flags_and_restart_settings(void **state)
{
	const char *path = write_file("max-frame = 1024\ndb-pool = 4\n"
				      "cert = c.pem\nkey = k.pem\n");
	char p[64];
	snprintf(p, sizeof(p), "%s", path);
	fp_config cur, next;
	char err[512];
	char *args[] = { "--config", p, "--max-inflight", "5", NULL };
	if (load(&cur, err, sizeof(err), args) != 0)
		fail_msg("cfg_load: %s", err);
	cfg_share(&cur, 2);
	assert_int_equal(cur.max_connections, 5000); /* divided among 2 */
	assert_int_equal(cur.db_pool, 2);

	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("max-frame = 2048\ndb-pool = 8\nmax-inflight = 99\nmax-connections = 301\n"
	      "cert = c2.pem\nkey = k.pem\n",
	      f);
	assert_int_equal(fclose(f), 0);
	if (cfg_reload(&next, err, sizeof(err)) != 0)
		fail_msg("cfg_reload: %s", err);
	assert_int_equal(next.max_inflight, 5); /* the flag still wins */
	cfg_share(&next, cur.shared_by);
	int applied = cfg_apply(&cur, &next, NULL, NULL);
	/* max-frame, max-connections and with it max-unauthenticated (half
	 * of it when 0), cert; db-pool needs a restart. */
	assert_int_equal(applied, 4);
	assert_int_equal(cur.max_unauthenticated, 75); /* 301 / 2 = 150, shared by 2 */
	assert_int_equal(cur.max_frame, 2048);
	assert_int_equal(cur.max_connections, 151); /* 301 shared by 2, rounded up */
	assert_string_equal(cur.cert_file, "c2.pem");
	assert_int_equal(cur.db_pool, 2);
	assert_int_equal(cur.max_inflight, 5);
	cfg_free(&next);

	/* An invalid file: cfg_reload fails, cur is untouched by it. */
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("max-frame = 4096\nmax-frame = lots\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cfg_reload(&next, err, sizeof(err)), -1);
	assert_contains(err, ":2: --max-frame: 'lots'");
	cfg_free(&next);
	assert_int_equal(cur.max_frame, 2048);
	cfg_free(&cur);
	unlink(p);
}

/* cfg_apply's report: count calls and remember the restart ones. */
typedef struct seen {
	int applied, restart;
	char last_restart[64];
} seen;

static void count_change(void *arg, const char *name, const char *was, const char *now,
			 bool applied)
{
	seen *s = arg;
	if (applied) {
		s->applied++;
	} else {
		s->restart++;
		snprintf(s->last_restart, sizeof(s->last_restart), "%s %s->%s", name, was, now);
	}
}

static void test_apply_reports(void **state)
{
	fp_config a, b;
	cfg_defaults(&a);
	cfg_defaults(&b);
	b.idle_timeout_ms = 1000;
	b.workers = 3;
	free(b.log_level);
	b.log_level = strdup("debug");
	seen s = { 0 };
	assert_int_equal(cfg_apply(&a, &b, count_change, &s), 2);
	assert_int_equal(s.applied, 2);
	assert_int_equal(s.restart, 1);
	assert_string_equal(s.last_restart, "workers 0->3");
	assert_int_equal(a.idle_timeout_ms, 1000);
	assert_string_equal(a.log_level, "debug");
	assert_int_equal(a.workers, 0);
	/* Nothing differs any more but workers. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cfg_apply(&a, &b, count_change, &s), 0);
	assert_int_equal(s.restart, 1);
	cfg_free(&a);
	cfg_free(&b);
}

static void test_validate_log_settings(void **state)
{
	fp_config cfg;
	char err[256];
	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c", "--key", "k", "--log-format",
			       "xml", NULL),
			 0);
	assert_int_equal(cfg_validate(&cfg, err, sizeof(err)), -1);
	assert_contains(err, "--log-format: 'xml' is not text or json");
	cfg_free(&cfg);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--cert", "c", "--key", "k", "--log-level",
			       "loud", NULL),
			 0);
	assert_int_equal(cfg_validate(&cfg, err, sizeof(err)), -1);
	assert_contains(err, "--log-level: 'loud'");
	cfg_free(&cfg);
}

/* The example file is the table: every line of it parses back into the
 * defaults once uncommented. */
static void test_print_config_round_trip(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	assert_non_null(f);
	cfg_print(f);
	assert_int_equal(fclose(f), 0);
	assert_contains(text, "# max-frame = 65536\n");
	assert_contains(text, "# log-format = text\n");
	assert_contains(text, "# db = \"\"\n");
	assert_contains(text, "(reloadable)");
	assert_contains(text, "(restart to change)");
	if (strstr(text, "# config =") != NULL || strstr(text, "# help =") != NULL)
		fail_msg("command-line flags in the example file");
	/* Uncomment the settings that have a default and read them back. */
	char *out = calloc(1, size + 1);
	assert_non_null(out);
	size_t o = 0;
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		/* "# name = value": a name has no spaces; help text does. A
		 * setting without a default shows its placeholder (FILE,
		 * HOST:PORT): no lower case, no digit. */
		const char *eq = strstr(line, " = ");
		if (strncmp(line, "# ", 2) != 0 || eq == NULL ||
		    strcspn(line + 2, " ") != (size_t)(eq - line - 2) ||
		    strpbrk(eq + 3, "abcdefghijklmnopqrstuvwxyz0123456789") == NULL)
			continue;
		o += (size_t)sprintf(out + o, "%s\n", line + 2);
	}
	const char *path = write_file(out);
	fp_config from_file, defaults;
	char err[512];
	cfg_defaults(&from_file);
	cfg_defaults(&defaults);
	if (cfg_parse_file(&from_file, path, err, sizeof(err)) != 0)
		fail_msg("the example does not parse: %s", err);
	seen s = { 0 };
	assert_int_equal(cfg_apply(&defaults, &from_file, count_change, &s), 0);
	assert_int_equal(s.restart, 0);
	assert_int_equal(from_file.max_frame, 65536);
	cfg_free(&from_file);
	cfg_free(&defaults);
	unlink(path);
	free(out);
	free(text);
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
		cmocka_unit_test(test_file_values),
		cmocka_unit_test(test_file_booleans),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_flags_win_over_file),
		cmocka_unit_test(test_reload_keeps_flags_and_restart_settings),
		cmocka_unit_test(test_apply_reports),
		cmocka_unit_test(test_validate_log_settings),
		cmocka_unit_test(test_print_config_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
