/* Unit tests of fairpayctl's command-line parser (client/ctl/ctl_args.c).
 *
 * The Makefile links unit tests with the server's objects only, so the parser
 * is compiled into this test by including its source file; it depends on
 * nothing but libc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../client/ctl/ctl_args.c"

static ctl_args A;
static char E[256];

static const ctl_env env_ca = { NULL, "/etc/ca.pem", NULL, NULL };
static const ctl_env env_admin = { NULL, "/etc/ca.pem", "fp_key", NULL };

/* Parse a NULL-terminated list of words after the program name. */
static ctl_parse_result parse_v(const ctl_env *env, const char *const *words)
{
	const char *argv[32];
	int argc = 0;
	argv[argc++] = "fairpayctl";
	while (words[argc - 1] != NULL && argc < 31) {
		argv[argc] = words[argc - 1];
		argc++;
	}
	argv[argc] = NULL;
	return ctl_args_parse(argc, (char *const *)argv, env, &A, E, sizeof(E));
}

#define PARSE(env, ...) parse_v((env), (const char *const[]){ __VA_ARGS__, NULL })

static void test_no_command_is_usage(void **state)
{
	const char *argv[] = { "fairpayctl", NULL };
	assert_int_equal(ctl_args_parse(1, (char *const *)argv, &env_ca, &A, E, sizeof(E)),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "missing command"));
	assert_string_equal(A.topic, "");
}

static void test_top_help(void **state)
{
	assert_int_equal(PARSE(NULL, "--help"), CTL_PARSE_HELP);
	assert_string_equal(A.topic, "");
	assert_int_equal(PARSE(NULL, "-h"), CTL_PARSE_HELP);
	assert_string_equal(A.topic, "");
	const char *text = ctl_args_usage(A.topic);
	assert_non_null(text);
	assert_true(strncmp(text, "Usage: fairpayctl", 17) == 0);
}

static void test_help_at_every_level(void **state)
{
	static const struct {
		const char *words[4];
		const char *topic;
	} cases[] = {
		{ { "ping", "--help" }, "ping" },
		{ { "vendor", "--help" }, "vendor" },
		{ { "vendor", "create", "--help" }, "vendor create" },
		{ { "--help", "vendor", "list" }, "vendor list" },
		{ { "key", "-h" }, "key" },
		{ { "key", "create", "-h" }, "key create" },
		{ { "key", "revoke", "--help" }, "key revoke" },
		{ { "db", "--help" }, "db" },
		{ { "db", "migrate", "--help" }, "db migrate" },
		{ { "db", "status", "--help" }, "db status" },
		{ { "db", "bootstrap-admin", "--help" }, "db bootstrap-admin" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_v(NULL, cases[i].words), CTL_PARSE_HELP);
		assert_string_equal(A.topic, cases[i].topic);
		const char *text = ctl_args_usage(A.topic);
		assert_non_null(text);
		assert_non_null(strstr(text, "Usage: fairpayctl"));
	}
}

static void test_help_wins_over_other_problems(void **state)
{
	/* No NAME, an unknown option and no CA: help is still help. */
	assert_int_equal(PARSE(NULL, "vendor", "create", "--bogus", "--help"), CTL_PARSE_HELP);
	assert_string_equal(A.topic, "vendor create");
}

static void test_unknown_commands(void **state)
{
	assert_int_equal(PARSE(&env_ca, "frob"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "'frob'"));
	assert_string_equal(A.topic, "");

	assert_int_equal(PARSE(&env_ca, "vendor", "frob"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "vendor frob"));
	assert_string_equal(A.topic, "vendor");

	assert_int_equal(PARSE(&env_ca, "vendor", "frob", "--help"), CTL_PARSE_USAGE);
}

static void test_missing_subcommand(void **state)
{
	assert_int_equal(PARSE(&env_admin, "vendor"), CTL_PARSE_USAGE);
	assert_string_equal(A.topic, "vendor");
	assert_int_equal(PARSE(&env_admin, "db"), CTL_PARSE_USAGE);
	assert_string_equal(A.topic, "db");
}

static void test_ping_defaults(void **state)
{
	assert_int_equal(PARSE(&env_ca, "ping"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_PING);
	assert_string_equal(A.server, CTL_DEFAULT_SERVER);
	assert_string_equal(A.ca, "/etc/ca.pem");
	assert_null(A.api_key);
	assert_null(A.cert);
	assert_int_equal(A.timeout_ms, 0);
	assert_false(A.json);
	assert_true(ctl_args_is_remote(A.cmd));
}

static void test_env_and_overrides(void **state)
{
	const ctl_env env = { "envhost:1", "/env/ca.pem", "fp_env", "dbname=env" };
	assert_int_equal(PARSE(&env, "vendor", "list"), CTL_PARSE_RUN);
	assert_string_equal(A.server, "envhost:1");
	assert_string_equal(A.ca, "/env/ca.pem");
	assert_string_equal(A.api_key, "fp_env");

	assert_int_equal(PARSE(&env, "--server", "h:2", "vendor", "list", "--ca", "/c.pem",
			       "--api-key", "fp_opt"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.server, "h:2");
	assert_string_equal(A.ca, "/c.pem");
	assert_string_equal(A.api_key, "fp_opt");

	/* Empty variables count as unset. */
	const ctl_env empty = { "", "/ca.pem", "", "" };
	assert_int_equal(PARSE(&empty, "ping"), CTL_PARSE_RUN);
	assert_string_equal(A.server, CTL_DEFAULT_SERVER);
	assert_null(A.api_key);
}

static void test_options_before_or_after_words(void **state)
{
	assert_int_equal(PARSE(NULL, "--json", "--ca", "c", "vendor", "list", "--limit", "5",
			       "--api-key", "k"),
			 CTL_PARSE_RUN);
	ctl_args first = A;
	assert_int_equal(PARSE(NULL, "vendor", "--ca=c", "list", "--json", "--limit=5",
			       "--api-key=k"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_VENDOR_LIST);
	assert_int_equal(A.cmd, first.cmd);
	assert_true(A.json && first.json);
	assert_int_equal(A.limit, 5);
	assert_int_equal(first.limit, 5);
	assert_string_equal(A.ca, first.ca);
	assert_string_equal(A.api_key, first.api_key);
}

static void test_vendor_create(void **state)
{
	assert_int_equal(PARSE(&env_admin, "vendor", "create", "Acme Books"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_VENDOR_CREATE);
	assert_string_equal(A.name, "Acme Books");

	/* After "--" a name may start with a dash. */
	assert_int_equal(PARSE(&env_admin, "vendor", "create", "--", "--dash"), CTL_PARSE_RUN);
	assert_string_equal(A.name, "--dash");

	assert_int_equal(PARSE(&env_admin, "vendor", "create"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "NAME"));
	assert_string_equal(A.topic, "vendor create");

	assert_int_equal(PARSE(&env_admin, "vendor", "create", "a", "b"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "'b'"));
}

static void test_vendor_list_limit_and_token(void **state)
{
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--limit", "1000"), CTL_PARSE_RUN);
	assert_int_equal(A.limit, 1000);
	assert_null(A.page_token);
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--limit", "0"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--limit", "1001"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--limit", "5x"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--limit", "-5"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--limit", ""), CTL_PARSE_USAGE);

	/* A token is taken as it is, even when it starts with a dash. */
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--page-token", "-abc"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.page_token, "-abc");
}

static void test_key_create_roles(void **state)
{
	assert_int_equal(PARSE(&env_admin, "key", "create"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--role"));

	assert_int_equal(PARSE(&env_admin, "key", "create", "--role", "vendor"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--vendor"));

	assert_int_equal(PARSE(&env_admin, "key", "create", "--role", "boss"), CTL_PARSE_USAGE);

	assert_int_equal(PARSE(&env_admin, "key", "create", "--role", "vendor", "--vendor", "v_1"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_KEY_CREATE);
	assert_int_equal(A.role, CTL_ROLE_VENDOR);
	assert_string_equal(A.vendor_id, "v_1");

	assert_int_equal(PARSE(&env_admin, "key", "create", "--role=ADMIN"), CTL_PARSE_RUN);
	assert_int_equal(A.role, CTL_ROLE_ADMIN);
	assert_null(A.vendor_id);
}

static void test_key_revoke(void **state)
{
	assert_int_equal(PARSE(&env_admin, "key", "revoke", "0123456789abcdef"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_KEY_REVOKE);
	assert_string_equal(A.key_id, "0123456789abcdef");
	assert_int_equal(PARSE(&env_admin, "key", "revoke"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "KEY_ID"));
}

static void test_option_must_fit_command(void **state)
{
	assert_int_equal(PARSE(&env_admin, "ping", "--limit", "3"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--limit"));
	assert_string_equal(A.topic, "ping");
	assert_int_equal(PARSE(&env_admin, "db", "migrate", "--vendor", "x"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "vendor", "list", "--db", "x"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "ping", "--version"), CTL_PARSE_USAGE);
}

static void test_option_value_errors(void **state)
{
	assert_int_equal(PARSE(&env_ca, "ping", "--timeout"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "needs a value"));
	assert_string_equal(A.topic, "ping");
	assert_int_equal(PARSE(&env_ca, "ping", "--json=yes"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "takes no value"));
	assert_int_equal(PARSE(&env_ca, "ping", "--timeout", "0"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_ca, "ping", "--timeout", "99999999999"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_ca, "ping", "--frob"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--frob"));
	assert_int_equal(PARSE(&env_ca, "ping", "-x"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_ca, "ping", "--timeout", "5000"), CTL_PARSE_RUN);
	assert_int_equal(A.timeout_ms, 5000);
}

static void test_remote_needs_ca_and_credentials(void **state)
{
	const ctl_env none = { NULL, NULL, NULL, NULL };
	assert_int_equal(PARSE(&none, "ping"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "FAIRPAY_CA"));

	assert_int_equal(PARSE(&env_ca, "vendor", "list"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "FAIRPAY_API_KEY"));

	/* A client certificate stands in for the key; its key file is optional. */
	assert_int_equal(PARSE(&env_ca, "vendor", "list", "--cert", "c.pem"), CTL_PARSE_RUN);
	assert_string_equal(A.cert, "c.pem");
	assert_null(A.key);
	assert_int_equal(PARSE(&env_ca, "ping", "--key", "k.pem"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--cert"));
}

static void test_db_commands(void **state)
{
	const ctl_env none = { NULL, NULL, NULL, NULL };
	const ctl_env env_db = { NULL, NULL, NULL, "dbname=fromenv" };

	/* No CA and no key are needed to work on the database. */
	assert_int_equal(PARSE(&none, "db", "migrate"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_DB_MIGRATE);
	assert_string_equal(A.db, "");
	assert_null(A.migrations);
	assert_false(ctl_args_is_remote(A.cmd));

	assert_int_equal(PARSE(&env_db, "db", "status"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_DB_STATUS);
	assert_string_equal(A.db, "dbname=fromenv");

	assert_int_equal(PARSE(&env_db, "db", "bootstrap-admin", "--db", "host=x"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_DB_BOOTSTRAP_ADMIN);
	assert_string_equal(A.db, "host=x");

	/* An explicit empty --db means libpq's PG* variables, over FAIRPAY_DB. */
	assert_int_equal(PARSE(&env_db, "db", "migrate", "--db", ""), CTL_PARSE_RUN);
	assert_string_equal(A.db, "");

	assert_int_equal(PARSE(&none, "db", "migrate", "--migrations", "/tmp/m"), CTL_PARSE_RUN);
	assert_string_equal(A.migrations, "/tmp/m");
	assert_int_equal(PARSE(&none, "db", "migrate", "--migrations="), CTL_PARSE_USAGE);
}

static void test_version(void **state)
{
	assert_int_equal(PARSE(NULL, "--version"), CTL_PARSE_VERSION);
}

static void test_too_many_words(void **state)
{
	assert_int_equal(PARSE(&env_admin, "vendor", "create", "1", "2", "3", "4", "5", "6", "7",
			       "8", "9", "10", "11", "12", "13", "14", "15", "16"),
			 CTL_PARSE_USAGE);
}

static void test_no_error_buffer(void **state)
{
	const char *argv[] = { "fairpayctl", "frob", NULL };
	assert_int_equal(ctl_args_parse(2, (char *const *)argv, NULL, &A, NULL, 0),
			 CTL_PARSE_USAGE);
}

static void test_unknown_topic_has_no_usage(void **state)
{
	assert_null(ctl_args_usage("frob"));
	assert_non_null(ctl_args_usage(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_command_is_usage),
		cmocka_unit_test(test_top_help),
		cmocka_unit_test(test_help_at_every_level),
		cmocka_unit_test(test_help_wins_over_other_problems),
		cmocka_unit_test(test_unknown_commands),
		cmocka_unit_test(test_missing_subcommand),
		cmocka_unit_test(test_ping_defaults),
		cmocka_unit_test(test_env_and_overrides),
		cmocka_unit_test(test_options_before_or_after_words),
		cmocka_unit_test(test_vendor_create),
		cmocka_unit_test(test_vendor_list_limit_and_token),
		cmocka_unit_test(test_key_create_roles),
		cmocka_unit_test(test_key_revoke),
		cmocka_unit_test(test_option_must_fit_command),
		cmocka_unit_test(test_option_value_errors),
		cmocka_unit_test(test_remote_needs_ca_and_credentials),
		cmocka_unit_test(test_db_commands),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_too_many_words),
		cmocka_unit_test(test_no_error_buffer),
		cmocka_unit_test(test_unknown_topic_has_no_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
