/* Unit tests of fairpayctl's pure parts: the command-line parser
 * (client/ctl/ctl_args.c), the enum names (ctl_enum.c), the requests built
 * from the command line (ctl_build.c), the printed output (ctl_show.c,
 * ctl_out.c) and the reputation recomputation of `reputation verify`
 * (ctl_recompute.c).
 *
 * The Makefile links unit tests with the server's objects only (which bring
 * the generated protobuf code and fp_rules), so these modules are compiled
 * into this test by including their source files; none of them does I/O
 * beyond writing to a FILE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <unistd.h>

#include "../../client/ctl/ctl_args.c"
#include "../../client/ctl/ctl_build.c"
#include "../../client/ctl/ctl_cert.c"
#include "../../client/ctl/ctl_enum.c"
#include "../../client/ctl/ctl_out.c"
#include "../../client/ctl/ctl_recompute.c"
#include "../../client/ctl/ctl_show.c"

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
		{ { "key", "register-cert", "--help" }, "key register-cert" },
		{ { "db", "--help" }, "db" },
		{ { "db", "migrate", "--help" }, "db migrate" },
		{ { "db", "status", "--help" }, "db status" },
		{ { "db", "bootstrap-admin", "--help" }, "db bootstrap-admin" },
		{ { "product", "--help" }, "product" },
		{ { "product", "put", "--help" }, "product put" },
		{ { "product", "get", "-h" }, "product get" },
		{ { "product", "list", "--help" }, "product list" },
		{ { "policy", "--help" }, "policy" },
		{ { "policy", "get", "--help" }, "policy get" },
		{ { "policy", "set", "--help" }, "policy set" },
		{ { "offer", "--help" }, "offer" },
		{ { "offer", "create", "--help" }, "offer create" },
		{ { "offer", "accept", "--help" }, "offer accept" },
		{ { "offer", "decline", "--help" }, "offer decline" },
		{ { "offer", "get", "--help" }, "offer get" },
		{ { "pay", "--help" }, "pay" },
		{ { "review", "--help" }, "review" },
		{ { "reputation", "--help" }, "reputation" },
		{ { "reputation", "alice", "--help" }, "reputation" },
		{ { "reputation", "verify", "--help" }, "reputation verify" },
		{ { "events", "-h" }, "events" },
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
	assert_int_equal(
		PARSE(NULL, "vendor", "--ca=c", "list", "--json", "--limit=5", "--api-key=k"),
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

/* ---------------------------------------------------------------- attestations */

static void test_attestation_commands(void **state)
{
	assert_int_equal(PARSE(&env_admin, "attestation", "issue", "alice", "--subject", "a@b",
			       "--ttl", "2h", "--out", "/tmp/x"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_ATTEST_ISSUE);
	assert_string_equal(A.customer_id, "alice");
	assert_string_equal(A.subject, "a@b");
	assert_true(A.ttl.set);
	assert_int_equal(A.ttl.v, 7200);
	assert_string_equal(A.out_file, "/tmp/x");
	assert_int_equal(PARSE(&env_admin, "attestation", "issue", "alice", "--ttl", "90"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--subject"));
	/* The ttl's range is IssueAttestation's. */
	assert_int_equal(
		PARSE(&env_admin, "attestation", "issue", "alice", "--subject", "s", "--ttl", "59"),
		CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "attestation", "issue", "alice", "--subject", "s",
			       "--ttl", "366d"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "attestation", "issue", "alice", "--subject", "s",
			       "--ttl", "365d"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.ttl.v, 31536000);

	/* Online: TEXT or --file, and it needs the server's CA. */
	assert_int_equal(PARSE(&env_admin, "attestation", "verify", "AAAA"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_ATTEST_VERIFY);
	assert_string_equal(A.attestation, "AAAA");
	assert_int_equal(PARSE(&env_admin, "attestation", "verify"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "attestation", "verify", "AAAA", "--file", "f"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(NULL, "attestation", "verify", "AAAA"), CTL_PARSE_USAGE);
	/* Offline: no server, so no CA; --offline and --public-key go together. */
	assert_int_equal(PARSE(NULL, "attestation", "verify", "--offline", "--public-key", "ab",
			       "--file", "f"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_ATTEST_VERIFY_OFFLINE);
	assert_string_equal(A.attestation_file, "f");
	assert_string_equal(A.public_key, "ab");
	assert_int_equal(PARSE(NULL, "attestation", "verify", "--offline", "AAAA"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "attestation", "verify", "--public-key", "ab", "AAAA"),
			 CTL_PARSE_USAGE);

	assert_int_equal(
		PARSE(NULL, "attestation", "rotate-key", "v_0123456789abcdef", "--db", "dbname=x"),
		CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_ATTEST_ROTATE_KEY);
	assert_string_equal(A.vendor_id, "v_0123456789abcdef");
	assert_int_equal(PARSE(&env_admin, "issuer-key"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_ISSUER_KEY);
	assert_null(A.vendor_id);
	assert_int_equal(PARSE(&env_admin, "issuer-key", "v_1"), CTL_PARSE_RUN);
	assert_string_equal(A.vendor_id, "v_1");

	assert_int_equal(PARSE(&env_admin, "offer", "create", "c", "sku", "--attestation", "AAAA",
			       "--subject", "a@b"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.attestation, "AAAA");
	assert_string_equal(A.subject, "a@b");
	assert_int_equal(PARSE(&env_admin, "policy", "set", "attestation_cap_bp=9000"),
			 CTL_PARSE_RUN);
	assert_true(A.policy.set[CTL_POLICY_ATTESTATION_CAP_BP]);
	assert_int_equal(A.policy.value[CTL_POLICY_ATTESTATION_CAP_BP], 9000);
	assert_int_equal(PARSE(NULL, "attestation", "--help"), CTL_PARSE_HELP);
}

/* ---------------------------------------------------------------- key register-cert */

/* A self-signed certificate and the SHA-256 of its DER, as
 * `openssl x509 -outform DER | sha256sum` prints it. */
static const char unit_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBljCCATugAwIBAgIUAinGvx4Es6KDEPfcYVPxWHh1gD8wCgYIKoZIzj0EAwIw\n"
	"HzEdMBsGA1UEAwwUZmFpcnBheWN0bC11bml0LXRlc3QwIBcNMjYxMTIyMDk1OTQ5\n"
	"WhgPMjEyNjEwMjkwOTU5NDlaMB8xHTAbBgNVBAMMFGZhaXJwYXljdGwtdW5pdC10\n"
	"ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEetLg1XtP4w7/X3NUeI/VHHJi\n"
	"mKBTfuVGbLkmEaRC2AmZuduwLF4OEmdTMKcVQsMYovBCZBprLyvH44vkR+gxmqNT\n"
	"MFEwHQYDVR0OBBYEFDvqoxxqnQEGFbIfwJDHKXkq/jFLMB8GA1UdIwQYMBaAFDvq\n"
	"oxxqnQEGFbIfwJDHKXkq/jFLMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID\n"
	"SQAwRgIhALsjMMJQWYWzW/cDtql5ApiCACeZyT5F8DIJn3I6d5JPAiEA2val0YUJ\n"
	"QAILWmRMqUcxOLIWWk8qJMYGg6HKj8cyuPc=\n"
	"-----END CERTIFICATE-----\n";
static const char unit_cert_sha256[] =
	"02662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa45";

static void test_key_register_cert_args(void **state)
{
	assert_int_equal(PARSE(&env_admin, "key", "register-cert", "0123456789abcdef", "c.pem"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_KEY_REGISTER_CERT);
	assert_true(ctl_args_is_remote(A.cmd));
	assert_string_equal(A.key_id, "0123456789abcdef");
	assert_string_equal(A.cert_pem, "c.pem");
	assert_false(A.has_fingerprint);

	/* --fingerprint: any case, with or without colons, comes out lower-case. */
	assert_int_equal(PARSE(&env_admin, "key", "register-cert", "0123456789abcdef",
			       "--fingerprint",
			       "02662E1424FC9AE1288C8924331876159171EB63F547FC09C8D74C2FB2A3AA45"),
			 CTL_PARSE_RUN);
	assert_null(A.cert_pem);
	assert_true(A.has_fingerprint);
	assert_string_equal(A.fingerprint, unit_cert_sha256);
	assert_int_equal(PARSE(&env_admin,
			       "--fingerprint=02:66:2E:14:24:FC:9A:E1:28:8C:89:24:33:"
			       "18:76:15:91:71:EB:63:F5:47:FC:09:C8:D7:4C:2F:B2:A3:AA:45",
			       "key", "register-cert", "k1", "--json"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.fingerprint, unit_cert_sha256);
	assert_string_equal(A.key_id, "k1");
	assert_true(A.json);

	/* An empty fingerprint removes the key's certificate. */
	assert_int_equal(PARSE(&env_admin, "key", "register-cert", "k1", "--fingerprint", ""),
			 CTL_PARSE_RUN);
	assert_true(A.has_fingerprint);
	assert_string_equal(A.fingerprint, "");

	/* Exactly one of CERT.pem and --fingerprint. */
	assert_int_equal(PARSE(&env_admin, "key", "register-cert", "k1"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "CERT.pem or --fingerprint"));
	assert_string_equal(A.topic, "key register-cert");
	assert_int_equal(PARSE(&env_admin, "key", "register-cert", "k1", "c.pem", "--fingerprint",
			       unit_cert_sha256),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "not both"));
	assert_int_equal(PARSE(&env_admin, "key", "register-cert"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "KEY_ID"));
	assert_int_equal(PARSE(&env_admin, "key", "register-cert", "k1", "c.pem", "extra"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "extra"));

	/* Malformed fingerprints are refused before anything is sent. */
	static const char *const bad[] = {
		"02662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa4",   /* 63 */
		"02662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa455", /* 65 */
		"g2662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa45",
		"02:66:2E:14:24:FC:9A:E1:28:8C:89:24:33:18:76:15:91:71:EB:63:F5:47:FC:09:C8:D7:4C:"
		"2F:B2:A3:AA:45:",
		"026:62E:14",
		" 02662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa45",
		"nothex",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (PARSE(&env_admin, "key", "register-cert", "k1", "--fingerprint", bad[i]) !=
		    CTL_PARSE_USAGE)
			fail_msg("--fingerprint '%s' was accepted", bad[i]);
		assert_non_null(strstr(E, "64 hex digits"));
	}

	/* The option belongs to this command only, and it needs credentials. */
	assert_int_equal(
		PARSE(&env_admin, "key", "revoke", "k1", "--fingerprint", unit_cert_sha256),
		CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--fingerprint"));
	assert_int_equal(PARSE(&env_ca, "key", "register-cert", "k1", "c.pem"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "credentials"));
	assert_int_equal(PARSE(&env_ca, "key", "register-cert", "k1", "c.pem", "--cert", "adm.pem"),
			 CTL_PARSE_RUN);
}

static void test_cert_parse_hex(void **state)
{
	char out[CTL_CERT_SHA256_HEX + 1];
	assert_int_equal(ctl_cert_parse_hex(unit_cert_sha256, out), 0);
	assert_string_equal(out, unit_cert_sha256);
	assert_int_equal(ctl_cert_parse_hex("", out), 0);
	assert_string_equal(out, "");
	assert_int_equal(ctl_cert_parse_hex(":", out), -1);
	assert_int_equal(ctl_cert_parse_hex("ab:", out), -1);
	assert_int_equal(ctl_cert_parse_hex("ab", out), -1);
}

/* Write text to a new temporary file; returns its malloc'ed path. */
static char *temp_file(const char *text)
{
	char tmpl[] = "/tmp/fairpayctl-unit-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return strdup(tmpl);
}

static void test_cert_fingerprint(void **state)
{
	char out[CTL_CERT_SHA256_HEX + 1];
	char err[256];

	/* Text before the certificate (as in `openssl x509 -text` output) is skipped. */
	char *text = NULL;
	assert_true(asprintf(&text, "Certificate:\n    Data: ...\n%s", unit_cert_pem) > 0);
	char *path = temp_file(text);
	assert_int_equal(ctl_cert_fingerprint(path, out, err, sizeof(err)), 0);
	assert_string_equal(out, unit_cert_sha256);
	unlink(path);
	free(path);
	free(text);

	path = temp_file("not a certificate\n");
	assert_int_equal(ctl_cert_fingerprint(path, out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no PEM certificate"));
	assert_string_equal(out, "");
	unlink(path);
	free(path);

	assert_int_equal(ctl_cert_fingerprint("/nonexistent/c.pem", out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/c.pem"));
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

/* ---------------------------------------------------------------- enum names */

static void check_enum(const ctl_enum *e, const char *prefix, const char *first)
{
	char buf[CTL_ENUM_BUF];
	/* The names are the descriptor's without the enum's prefix. */
	const ProtobufCEnumValue *pv = protobuf_c_enum_descriptor_get_value(e->d, 1);
	assert_non_null(pv);
	assert_int_equal(strncmp(pv->name, prefix, strlen(prefix)), 0);
	assert_string_equal(ctl_enum_name(e, 1, buf), first);
	assert_string_equal(ctl_enum_name(e, 1, buf), pv->name + strlen(prefix));
}

static void test_enum_tables_match_proto(void **state)
{
	check_enum(&ctl_enum_tier, "TIER_", "FIXED_PRICE");
	check_enum(&ctl_enum_enforcement, "ENFORCEMENT_", "ENFORCE");
	check_enum(&ctl_enum_offer_status, "OFFER_STATUS_", "OPEN");
	check_enum(&ctl_enum_offer_mode, "OFFER_MODE_", "FAIRPAY");
	check_enum(&ctl_enum_offer_reason, "OFFER_REASON_", "PROBATION");
	check_enum(&ctl_enum_payment_reason, "PAYMENT_REASON_", "DID_NOT_USE");
	check_enum(&ctl_enum_verdict, "VERDICT_", "GENEROUS");
	check_enum(&ctl_enum_review, "REVIEW_", "NOT_NEEDED");
	check_enum(&ctl_enum_event_kind, "EVENT_KIND_", "OFFER_CREATED");
}

static void test_enum_parse_and_name(void **state)
{
	int v = 0;
	char buf[CTL_ENUM_BUF];
	assert_int_equal(ctl_enum_parse(&ctl_enum_offer_mode, "fairpay_minimum", &v), 0);
	assert_int_equal(v, FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY_MINIMUM);
	assert_int_equal(ctl_enum_parse(&ctl_enum_offer_mode, "OFFER_MODE_SET_PRICE", &v), 0);
	assert_int_equal(v, FAIRPAY__V1__OFFER_MODE__OFFER_MODE_SET_PRICE);
	assert_int_equal(ctl_enum_parse(&ctl_enum_payment_reason, "did-not-use", &v), 0);
	assert_int_equal(v, FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE);
	/* OFFER_REASON_PROBATION vs the tier PROBATION: prefixes stay apart. */
	assert_int_equal(ctl_enum_parse(&ctl_enum_tier, "tier_probation", &v), 0);
	assert_int_equal(v, FAIRPAY__V1__TIER__TIER_PROBATION);
	assert_int_equal(ctl_enum_parse(&ctl_enum_tier, "UNSPECIFIED", &v), -1);
	assert_int_equal(ctl_enum_parse(&ctl_enum_tier, "", &v), -1);
	assert_int_equal(ctl_enum_parse(&ctl_enum_tier, "TIER_", &v), -1);
	assert_int_equal(ctl_enum_parse(&ctl_enum_tier, "trusted ", &v), -1);
	assert_int_equal(ctl_enum_parse(&ctl_enum_tier, NULL, &v), -1);

	assert_string_equal(ctl_enum_name(&ctl_enum_tier, 5, buf), "TRUSTED");
	assert_string_equal(ctl_enum_name(&ctl_enum_tier, 0, buf), "UNSPECIFIED");
	assert_string_equal(ctl_enum_name(&ctl_enum_tier, 42, buf), "42");
	assert_string_equal(ctl_enum_name(&ctl_enum_tier, -1, buf), "-1");
}

static void test_enum_lists(void **state)
{
	int vals[CTL_MAX_REASONS];
	size_t n = 0;
	char bad[32];
	assert_int_equal(ctl_enum_parse_list(&ctl_enum_payment_reason, "other,,DID_NOT_USE,other",
					     vals, CTL_MAX_REASONS, &n, bad, sizeof(bad)),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(vals[0], 7);
	assert_int_equal(vals[1], 1);
	n = 0;
	assert_int_equal(ctl_enum_parse_list(&ctl_enum_payment_reason, "", vals, CTL_MAX_REASONS,
					     &n, bad, sizeof(bad)),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(ctl_enum_parse_list(&ctl_enum_payment_reason, "OTHER,happy,x", vals,
					     CTL_MAX_REASONS, &n, bad, sizeof(bad)),
			 -1);
	assert_string_equal(bad, "happy");
	n = 0;
	assert_int_equal(ctl_enum_parse_list(&ctl_enum_payment_reason, "OTHER,GREAT_VALUE", vals, 1,
					     &n, NULL, 0),
			 -1);
	char names[256];
	ctl_enum_list(&ctl_enum_verdict, "|", names, sizeof(names));
	assert_string_equal(names, "GENEROUS|FAIR|LOW|UNFAIR");
	ctl_enum_list(&ctl_enum_verdict, "|", names, 6);
	assert_string_equal(names, "GENER");
}

/* ---------------------------------------------------------------- cycle commands */

static const ctl_env env_vendor = { "h:1", "/etc/ca.pem", "fp_vendor", NULL };

static void test_cycle_commands_are_remote(void **state)
{
	static const struct {
		const char *words[4];
		ctl_cmd cmd;
	} cases[] = {
		{ { "product", "get", "sku-1" }, CTL_CMD_PRODUCT_GET },
		{ { "product", "list" }, CTL_CMD_PRODUCT_LIST },
		{ { "policy", "get" }, CTL_CMD_POLICY_GET },
		{ { "offer", "accept", "o_1" }, CTL_CMD_OFFER_ACCEPT },
		{ { "offer", "decline", "o_1" }, CTL_CMD_OFFER_DECLINE },
		{ { "offer", "get", "o_1" }, CTL_CMD_OFFER_GET },
		{ { "reputation", "alice" }, CTL_CMD_REPUTATION },
		{ { "events", "alice" }, CTL_CMD_EVENTS },
	};
	const ctl_env no_key = { NULL, "/etc/ca.pem", NULL, NULL };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_v(&env_vendor, cases[i].words), CTL_PARSE_RUN);
		assert_int_equal(A.cmd, cases[i].cmd);
		assert_true(ctl_args_is_remote(A.cmd));
		assert_string_equal(A.server, "h:1");
		assert_null(A.idempotency_key);
		/* They need credentials like every call but ping. */
		assert_int_equal(parse_v(&no_key, cases[i].words), CTL_PARSE_USAGE);
		assert_non_null(strstr(E, "credentials"));
	}
	assert_int_equal(PARSE(&env_vendor, "offer", "get", "o_1"), CTL_PARSE_RUN);
	assert_string_equal(A.offer_id, "o_1");
	assert_int_equal(PARSE(&env_vendor, "events", "bob"), CTL_PARSE_RUN);
	assert_string_equal(A.customer_id, "bob");
	assert_int_equal(PARSE(&env_vendor, "offer", "get"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "OFFER_ID"));
	assert_int_equal(PARSE(&env_vendor, "offer", "frob", "x"), CTL_PARSE_USAGE);
	assert_string_equal(A.topic, "offer");
	/* Without a customer: the vendor's feed. */
	assert_int_equal(PARSE(&env_vendor, "events"), CTL_PARSE_RUN);
	assert_null(A.customer_id);
	assert_int_equal(PARSE(&env_vendor, "events", "a", "b"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "'b'"));
}

static void test_idempotency_key_only_on_mutating(void **state)
{
	assert_int_equal(PARSE(&env_vendor, "offer", "accept", "o_1", "--idempotency-key", "k1"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.idempotency_key, "k1");
	assert_int_equal(PARSE(&env_vendor, "--idempotency-key=k2", "offer", "create", "c", "s"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.idempotency_key, "k2");
	assert_int_equal(PARSE(&env_vendor, "vendor", "create", "N", "--idempotency-key", "k3"),
			 CTL_PARSE_RUN);
	assert_string_equal(A.idempotency_key, "k3");
	assert_int_equal(PARSE(&env_vendor, "offer", "get", "o_1", "--idempotency-key", "k"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--idempotency-key"));
	assert_int_equal(PARSE(&env_vendor, "policy", "get", "--idempotency-key", "k"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "offer", "accept", "o_1", "--idempotency-key", ""),
			 CTL_PARSE_USAGE);
}

static void test_product_put(void **state)
{
	assert_int_equal(PARSE(&env_vendor, "product", "put", "book-1", "--name", "The Book",
			       "--currency", "EUR", "--sp", "1000"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_PRODUCT_PUT);
	assert_string_equal(A.sku, "book-1");
	assert_string_equal(A.name, "The Book");
	assert_true(A.sp.set);
	assert_int_equal(A.sp.v, 1000);
	assert_false(A.unit_price.set || A.list_price.set || A.minimum.set || A.min_tier.set ||
		     A.period_days.set);

	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	ctl_build_product(&A, &p);
	assert_string_equal(p.sku, "book-1");
	assert_string_equal(p.currency, "EUR");
	assert_int_equal(p.suggested_price_minor, 1000);
	assert_int_equal(p.min_tier, FAIRPAY__V1__TIER__TIER_UNSPECIFIED);
	assert_int_equal(p.period_days, 0);

	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name=M", "--currency=USD",
			       "--sp=0", "--unit-price", "5", "--list-price", "1200", "--minimum",
			       "300", "--min-tier", "standard", "--period-days", "30"),
			 CTL_PARSE_RUN);
	ctl_build_product(&A, &p);
	assert_int_equal(p.suggested_price_minor, 0);
	assert_int_equal(p.unit_price_minor, 5);
	assert_int_equal(p.list_price_minor, 1200);
	assert_int_equal(p.minimum_price_minor, 300);
	assert_int_equal(p.min_tier, FAIRPAY__V1__TIER__TIER_STANDARD);
	assert_int_equal(p.period_days, 30);

	assert_int_equal(
		PARSE(&env_vendor, "product", "put", "m", "--currency", "EUR", "--sp", "1"),
		CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--name"));
	assert_null(strstr(E, "--sp"));
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--name N --currency C --sp N"));
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name", "M", "--currency",
			       "EUR", "--sp", "-1"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--sp"));
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name", "M", "--currency",
			       "EUR", "--sp", "1.50"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name", "M", "--currency",
			       "EUR", "--sp", "99999999999999999999"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name", "M", "--currency",
			       "EUR", "--sp", "1", "--min-tier", "gold"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "TRUSTED"));
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name", "M", "--currency",
			       "EUR", "--sp", "1", "--period-days", "+3"),
			 CTL_PARSE_USAGE);
	/* Options of other commands are refused. */
	assert_int_equal(PARSE(&env_vendor, "product", "get", "m", "--sp", "1"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "product", "put", "m", "--name", "M", "--currency",
			       "EUR", "--sp", "1", "--mode", "fairpay"),
			 CTL_PARSE_USAGE);
}

static void test_product_list(void **state)
{
	assert_int_equal(
		PARSE(&env_vendor, "product", "list", "--limit", "7", "--page-token", "book-1"),
		CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_PRODUCT_LIST);
	assert_int_equal(A.limit, 7);
	assert_string_equal(A.page_token, "book-1");
	assert_int_equal(PARSE(&env_vendor, "product", "list", "--limit", "0"), CTL_PARSE_USAGE);
}

static void test_policy_set(void **state)
{
	assert_int_equal(PARSE(&env_vendor, "policy", "set", "alpha_bp=2500",
			       "enforcement=voluntary", "excusing_reasons=DID_NOT_USE,other",
			       "trusted_credit_minor=9000000000"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_POLICY_SET);
	Fairpay__V1__PutPolicyRequest req = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS];
	ctl_build_policy(&A, &req, &p, reasons);
	assert_ptr_equal(req.policy, &p);
	assert_true(req.set_excusing_reasons);
	assert_int_equal(p.opt_alpha_bp_case, FAIRPAY__V1__POLICY__OPT_ALPHA_BP_ALPHA_BP);
	assert_int_equal(p.alpha_bp, 2500);
	assert_int_equal(p.opt_enforcement_case, FAIRPAY__V1__POLICY__OPT_ENFORCEMENT_ENFORCEMENT);
	assert_int_equal(p.enforcement, FAIRPAY__V1__ENFORCEMENT__ENFORCEMENT_VOLUNTARY);
	assert_int_equal(p.opt_trusted_credit_minor_case,
			 FAIRPAY__V1__POLICY__OPT_TRUSTED_CREDIT_MINOR_TRUSTED_CREDIT_MINOR);
	assert_true(p.trusted_credit_minor == 9000000000LL);
	assert_int_equal(p.n_excusing_reasons, 2);
	assert_int_equal(p.excusing_reasons[0],
			 FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE);
	assert_int_equal(p.excusing_reasons[1], FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_OTHER);
	/* Only the keys given are present. */
	assert_int_equal(p.opt_prior_score_bp_case,
			 FAIRPAY__V1__POLICY__OPT_PRIOR_SCORE_BP__NOT_SET);
	assert_int_equal(p.opt_payment_window_seconds_case,
			 FAIRPAY__V1__POLICY__OPT_PAYMENT_WINDOW_SECONDS__NOT_SET);

	/* Every key is accepted, and lands in its own field. */
	for (int k = 0; k < CTL_POLICY_KEY_COUNT; k++) {
		char word[64];
		snprintf(word, sizeof(word), "%s=%s", ctl_args_policy_key((ctl_policy_key)k),
			 k == CTL_POLICY_ENFORCEMENT        ? "ENFORCE"
			 : k == CTL_POLICY_EXCUSING_REASONS ? "OTHER"
							    : "77");
		assert_int_equal(PARSE(&env_vendor, "policy", "set", word), CTL_PARSE_RUN);
		Fairpay__V1__Policy one = FAIRPAY__V1__POLICY__INIT;
		Fairpay__V1__PutPolicyRequest r1 = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
		ctl_build_policy(&A, &r1, &one, reasons);
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		ctl_show_policy_json(f, &one);
		fclose(f);
		char want[80];
		const char *key = ctl_args_policy_key((ctl_policy_key)k);
		if (k == CTL_POLICY_ENFORCEMENT)
			snprintf(want, sizeof(want),
				 "{\"enforcement\":\"ENFORCE\","
				 "\"excusing_reasons\":[],\"version\":0}");
		else if (k == CTL_POLICY_EXCUSING_REASONS)
			snprintf(want, sizeof(want),
				 "{\"excusing_reasons\":[\"OTHER\"],\"version\":0}");
		else if (k < CTL_POLICY_EXCUSING_REASONS)
			snprintf(want, sizeof(want),
				 "{\"%s\":77,\"excusing_reasons\":[],\"version\":0}", key);
		else
			snprintf(want, sizeof(want),
				 "{\"excusing_reasons\":[],\"%s\":77,\"version\":0}", key);
		assert_string_equal(text, want);
		assert_int_equal(r1.set_excusing_reasons, k == CTL_POLICY_EXCUSING_REASONS);
		free(text);
	}

	/* FP_POLICY_FIELDS is the Policy message: its fields in their order,
	 * all but the version. */
	static const char *const listed[] = {
#define LISTED(f, F, KIND) #f,
		FP_POLICY_FIELDS(LISTED)
	};
	const ProtobufCMessageDescriptor *pd = &fairpay__v1__policy__descriptor;
	size_t n_listed = sizeof(listed) / sizeof(listed[0]), at = 0;
	assert_int_equal(pd->n_fields, n_listed + 1);
	for (unsigned i = 0; i < pd->n_fields; i++)
		if (strcmp(pd->fields[i].name, "version") != 0)
			assert_string_equal(pd->fields[i].name, listed[at++]);
	assert_int_equal(at, n_listed);

	/* An empty list clears the reasons: present, with nothing in it. */
	assert_int_equal(PARSE(&env_vendor, "policy", "set", "excusing_reasons="), CTL_PARSE_RUN);
	Fairpay__V1__PutPolicyRequest r2 = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	Fairpay__V1__Policy p2 = FAIRPAY__V1__POLICY__INIT;
	ctl_build_policy(&A, &r2, &p2, reasons);
	assert_true(r2.set_excusing_reasons);
	assert_int_equal(p2.n_excusing_reasons, 0);
	/* Without the key the reasons are left alone. */
	assert_int_equal(PARSE(&env_vendor, "policy", "set", "low_score_bp=0"), CTL_PARSE_RUN);
	Fairpay__V1__PutPolicyRequest r3 = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	Fairpay__V1__Policy p3 = FAIRPAY__V1__POLICY__INIT;
	ctl_build_policy(&A, &r3, &p3, reasons);
	assert_false(r3.set_excusing_reasons);
	assert_int_equal(p3.opt_low_score_bp_case,
			 FAIRPAY__V1__POLICY__OPT_LOW_SCORE_BP_LOW_SCORE_BP);
	assert_int_equal(p3.low_score_bp, 0);
}

static void test_policy_set_errors(void **state)
{
	static const struct {
		const char *word;
		const char *named; /* the message must name this */
	} bad[] = {
		{ "alpha=1", "'alpha'" },
		{ "alpha_bp", "'alpha_bp'" },
		{ "alpha_bp=", "'alpha_bp'" },
		{ "alpha_bp=abc", "'alpha_bp'" },
		{ "alpha_bp=-1", "'alpha_bp'" },
		{ "alpha_bp=2147483648", "'alpha_bp'" },
		{ "alpha_bp= 5", "'alpha_bp'" },
		{ "offer_ttl_seconds=1e3", "'offer_ttl_seconds'" },
		{ "enforcement=maybe", "'enforcement'" },
		{ "enforcement=", "'enforcement'" },
		{ "excusing_reasons=DID_NOT_USE,BORED", "BORED" },
		{ "version=3", "'version'" },
		{ "=5", "''" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			PARSE(&env_vendor, "policy", "set", "prior_score_bp=1", bad[i].word),
			CTL_PARSE_USAGE);
		if (strstr(E, bad[i].named) == NULL)
			fail_msg("'%s': message '%s' does not name %s", bad[i].word, E,
				 bad[i].named);
		assert_string_equal(A.topic, "policy set");
	}
	assert_int_equal(PARSE(&env_vendor, "policy", "set", "alpha_bp=1", "ALPHA_BP=2"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "twice"));
	assert_int_equal(PARSE(&env_vendor, "policy", "set"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "KEY=VALUE"));
	/* Every field at once fits the command line. */
	const char *all[CTL_POLICY_KEY_COUNT + 3];
	char words[CTL_POLICY_KEY_COUNT][64];
	all[0] = "policy";
	all[1] = "set";
	for (int k = 0; k < CTL_POLICY_KEY_COUNT; k++) {
		const char *value = k == CTL_POLICY_ENFORCEMENT        ? "enforce"
				    : k == CTL_POLICY_EXCUSING_REASONS ? ""
								       : "1";
		snprintf(words[k], sizeof(words[k]), "%s=%s",
			 ctl_args_policy_key((ctl_policy_key)k), value);
		all[k + 2] = words[k];
	}
	all[CTL_POLICY_KEY_COUNT + 2] = NULL;
	assert_int_equal(parse_v(&env_vendor, all), CTL_PARSE_RUN);
	for (int k = 0; k < CTL_POLICY_KEY_COUNT; k++)
		assert_true(A.policy.set[k]);
}

static void test_offer_create(void **state)
{
	Fairpay__V1__OfferOverrides ov = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
	assert_int_equal(PARSE(&env_vendor, "offer", "create", "alice", "book-1"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_OFFER_CREATE);
	assert_string_equal(A.customer_id, "alice");
	assert_string_equal(A.sku, "book-1");
	assert_false(ctl_build_overrides(&A, &ov));
	assert_int_equal(ov.opt_mode_case, FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE__NOT_SET);

	assert_int_equal(PARSE(&env_vendor, "offer", "create", "alice", "book-1", "--minimum", "0"),
			 CTL_PARSE_RUN);
	assert_true(ctl_build_overrides(&A, &ov));
	assert_int_equal(ov.opt_minimum_price_minor_case,
			 FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR);
	assert_int_equal(ov.minimum_price_minor, 0);
	assert_int_equal(ov.opt_suggested_price_minor_case,
			 FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR__NOT_SET);

	Fairpay__V1__OfferOverrides ov2 = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
	assert_int_equal(PARSE(&env_vendor, "offer", "create", "alice", "book-1", "--mode",
			       "set_price", "--sp", "700"),
			 CTL_PARSE_RUN);
	assert_true(ctl_build_overrides(&A, &ov2));
	assert_int_equal(ov2.opt_mode_case, FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE);
	assert_int_equal(ov2.mode, FAIRPAY__V1__OFFER_MODE__OFFER_MODE_SET_PRICE);
	assert_int_equal(ov2.suggested_price_minor, 700);

	assert_int_equal(PARSE(&env_vendor, "offer", "create", "alice"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "CUSTOMER and SKU"));
	assert_int_equal(PARSE(&env_vendor, "offer", "create", "a", "b", "--mode", "free"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "FAIRPAY_MINIMUM"));
}

static void test_pay(void **state)
{
	Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS];
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;

	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--amount", "0"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_PAY);
	assert_string_equal(A.offer_id, "o_1");
	ctl_build_payment(&A, &sp, reasons);
	/* An amount of 0 is a real amount: present on the wire. */
	assert_int_equal(sp.amount_case, FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR);
	assert_int_equal(sp.amount_minor, 0);
	assert_int_equal(sp.n_reasons, 0);
	assert_string_equal(sp.note, "");

	Fairpay__V1__SubmitPaymentRequest sp2 = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--differential", "-2000", "--usage", "3",
			       "--reason", "did_not_use", "--reason", "Other,POOR-QUALITY,other",
			       "--note", "-- it broke"),
			 CTL_PARSE_RUN);
	ctl_build_payment(&A, &sp2, reasons);
	assert_int_equal(sp2.amount_case,
			 FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP);
	assert_int_equal(sp2.differential_bp, -2000);
	assert_int_equal(sp2.usage_units, 3);
	assert_int_equal(sp2.n_reasons, 3);
	assert_int_equal(sp2.reasons[0], FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE);
	assert_int_equal(sp2.reasons[1], FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_OTHER);
	assert_int_equal(sp2.reasons[2], FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_POOR_QUALITY);
	assert_string_equal(sp2.note, "-- it broke");

	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--differential", "-10000"),
			 CTL_PARSE_RUN);
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--differential", "-10001"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--differential"));
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--amount"));
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--amount", "1", "--differential", "0"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "not both"));
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--amount", "-1"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--amount", "1", "--reason", "lazy"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "'lazy'"));
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--amount", "1", "--usage", "x"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "pay", "--amount", "1"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "OFFER_ID"));
	/* All seven reasons, however often repeated, fit. */
	assert_int_equal(PARSE(&env_vendor, "pay", "o_1", "--amount", "1", "--reason",
			       "DID_NOT_USE,POOR_QUALITY,NOT_AS_DESCRIBED,TECHNICAL_PROBLEM",
			       "--reason", "CANNOT_AFFORD,GREAT_VALUE,OTHER", "--reason", "OTHER"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.n_reasons, 7);
}

static void test_review(void **state)
{
	assert_int_equal(PARSE(&env_vendor, "review", "p_1", "--accept", "--note", "ok"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_REVIEW);
	assert_string_equal(A.payment_id, "p_1");
	assert_true(A.accept);
	assert_string_equal(A.note, "ok");
	assert_int_equal(PARSE(&env_vendor, "review", "p_1", "--reject"), CTL_PARSE_RUN);
	assert_false(A.accept);
	assert_null(A.note);
	assert_int_equal(PARSE(&env_vendor, "review", "p_1"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--accept or --reject"));
	assert_int_equal(PARSE(&env_vendor, "review", "p_1", "--accept", "--reject"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "review", "p_1", "--accept=yes"), CTL_PARSE_USAGE);
}

static void test_reputation_and_verify(void **state)
{
	const ctl_env none = { NULL, NULL, NULL, NULL };
	assert_int_equal(PARSE(&env_vendor, "reputation", "alice"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_REPUTATION);
	assert_string_equal(A.customer_id, "alice");

	/* verify works on the database: no CA, no key. */
	assert_int_equal(PARSE(&none, "reputation", "verify", "--db", "dbname=x", "--vendor",
			       "v_0123456789abcdef"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_REPUTATION_VERIFY);
	assert_false(ctl_args_is_remote(A.cmd));
	assert_string_equal(A.db, "dbname=x");
	assert_string_equal(A.vendor_id, "v_0123456789abcdef");
	assert_int_equal(PARSE(&none, "reputation", "verify"), CTL_PARSE_RUN);
	assert_null(A.vendor_id);
	assert_string_equal(A.db, "");

	/* A customer called "verify" is reached after "--". */
	assert_int_equal(PARSE(&env_vendor, "reputation", "--", "verify"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_REPUTATION);
	assert_string_equal(A.customer_id, "verify");

	assert_int_equal(PARSE(&env_vendor, "reputation"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "CUSTOMER"));
	assert_int_equal(PARSE(&env_vendor, "reputation", "alice", "--db", "x"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&none, "reputation", "verify", "extra"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&none, "reputation", "verify", "--migrations", "/m"),
			 CTL_PARSE_USAGE);
}

static void test_events_args(void **state)
{
	assert_int_equal(PARSE(&env_vendor, "events", "alice", "--after", "18446744073709551615",
			       "--limit", "50"),
			 CTL_PARSE_RUN);
	assert_true(A.after_id == UINT64_MAX);
	assert_int_equal(A.limit, 50);
	assert_int_equal(PARSE(&env_vendor, "events", "alice"), CTL_PARSE_RUN);
	assert_true(A.after_id == 0);
	assert_int_equal(PARSE(&env_vendor, "events", "alice", "--after", "-1"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "events", "alice", "--after", "18446744073709551616"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_vendor, "events", "alice", "--after", "x"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--after"));
	/* The feed: --follow and --kinds, which a customer's history takes neither of. */
	assert_int_equal(PARSE(&env_vendor, "events", "--follow", "--kinds",
			       "payment_received,OFFER_CREATED,payment-received"),
			 CTL_PARSE_RUN);
	assert_true(A.follow);
	assert_null(A.customer_id);
	assert_int_equal(A.n_kinds, 2);
	assert_int_equal(A.kinds[0], FAIRPAY__V1__EVENT_KIND__EVENT_KIND_PAYMENT_RECEIVED);
	assert_int_equal(A.kinds[1], FAIRPAY__V1__EVENT_KIND__EVENT_KIND_OFFER_CREATED);
	assert_int_equal(PARSE(&env_vendor, "events", "--kinds", "paid"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "'paid'"));
	assert_int_equal(PARSE(&env_vendor, "events", "alice", "--follow"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "CUSTOMER"));
}

/* ---------------------------------------------------------------- output */

/* Run a printer into a string (free it). */
#define CAPTURE(out, call)                                   \
	do {                                                 \
		size_t cap_len_ = 0;                         \
		FILE *f = open_memstream(&(out), &cap_len_); \
		assert_non_null(f);                          \
		call;                                        \
		fclose(f);                                   \
	} while (0)

/* Tables show money in the currency's major unit, each offer price only
 * where its mode uses it; JSON keeps minor units. */
static void test_show_money_tables(void **state)
{
	Fairpay__V1__Offer o1 = FAIRPAY__V1__OFFER__INIT, o2 = FAIRPAY__V1__OFFER__INIT;
	o1.offer_id = "o_1";
	o1.customer_id = "ken";
	o1.sku = "s";
	o1.mode = FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY_MINIMUM;
	o1.currency = "JPY";
	o1.suggested_price_minor = 1000;
	o1.minimum_price_minor = 500;
	o1.set_price_minor = 1200;
	o2 = o1;
	o2.offer_id = "o_2";
	o2.mode = FAIRPAY__V1__OFFER_MODE__OFFER_MODE_SET_PRICE;
	o2.currency = "BHD";
	Fairpay__V1__Offer *offers[] = { &o1, &o2 };
	char *text = NULL;
	CAPTURE(text, assert_int_equal(ctl_show_offer_table(f, offers, 2), 0));
	assert_non_null(strstr(text, "SP         MINIMUM  SET_PRICE  TIER"));
	assert_non_null(strstr(text, "FAIRPAY_MINIMUM  1000 JPY   500 JPY  -          "));
	assert_non_null(strstr(text, "SET_PRICE        1.000 BHD  -        1.200 BHD  "));
	free(text);

	Fairpay__V1__Payment p = FAIRPAY__V1__PAYMENT__INIT;
	p.payment_id = "p_1";
	p.offer_id = "o_1";
	p.customer_id = "ken";
	p.amount_minor = -1;
	p.currency = "KWD";
	p.suggested_price_minor = INT64_MAX;
	Fairpay__V1__Payment *payments[] = { &p };
	CAPTURE(text, assert_int_equal(ctl_show_payment_table(f, payments, 1), 0));
	assert_non_null(strstr(text, "ken       -0.001 KWD  9223372036854775.807 KWD  0 "));
	free(text);
	CAPTURE(text, ctl_show_payment_json(f, &p));
	assert_non_null(strstr(text, "\"amount_minor\":-1,\"currency\":\"KWD\","
				     "\"suggested_price_minor\":9223372036854775807,"));
	free(text);
}

static void test_show_offer(void **state)
{
	Fairpay__V1__Offer o = FAIRPAY__V1__OFFER__INIT;
	Fairpay__V1__OfferReason reasons[] = {
		FAIRPAY__V1__OFFER_REASON__OFFER_REASON_PROBATION,
		FAIRPAY__V1__OFFER_REASON__OFFER_REASON_VENDOR_OVERRIDE,
	};
	o.offer_id = "o_0123456789abcdef";
	o.customer_id = "alice\n api_key: x";
	o.sku = "book-1";
	o.status = FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_ACCEPTED;
	o.mode = FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY_MINIMUM;
	o.currency = "EUR";
	o.suggested_price_minor = 1000;
	o.minimum_price_minor = 500;
	o.tier = FAIRPAY__V1__TIER__TIER_PROBATION;
	o.credit_limit_minor = 2000;
	o.credit_used_minor = 1000;
	o.n_reasons = 2;
	o.reasons = reasons;
	o.created_at_unix_ms = 1735689600000; /* 2025-01-01T00:00:00Z */
	o.expires_at_unix_ms = 1735776000500;
	o.period_index = 2;

	char *text = NULL;
	CAPTURE(text, ctl_show_offer(f, "  ", &o));
	assert_string_equal(text, "  offer_id: o_0123456789abcdef\n"
				  "  customer_id: alice? api_key: x\n"
				  "  sku: book-1\n"
				  "  status: ACCEPTED\n"
				  "  mode: FAIRPAY_MINIMUM\n"
				  "  suggested_price: 10.00 EUR\n"
				  "  unit_price: 0.00 EUR\n"
				  "  minimum_price: 5.00 EUR\n"
				  "  set_price: 0.00 EUR\n"
				  "  tier: PROBATION\n"
				  "  credit_limit: 20.00 EUR\n"
				  "  credit_used: 10.00 EUR\n"
				  "  reasons: PROBATION,VENDOR_OVERRIDE\n"
				  "  created_at: 2025-01-01T00:00:00Z\n"
				  "  expires_at: 2025-01-02T00:00:00Z\n"
				  "  pay_by: -\n"
				  "  period_index: 2\n"
				  "  previous_offer_id: -\n");
	free(text);

	CAPTURE(text, ctl_show_offer_json(f, &o));
	assert_string_equal(text, "{\"offer_id\":\"o_0123456789abcdef\","
				  "\"customer_id\":\"alice\\n api_key: x\",\"sku\":\"book-1\","
				  "\"status\":\"ACCEPTED\",\"mode\":\"FAIRPAY_MINIMUM\","
				  "\"currency\":\"EUR\",\"suggested_price_minor\":1000,"
				  "\"unit_price_minor\":0,\"minimum_price_minor\":500,"
				  "\"set_price_minor\":0,\"tier\":\"PROBATION\","
				  "\"credit_limit_minor\":2000,\"credit_used_minor\":1000,"
				  "\"reasons\":[\"PROBATION\",\"VENDOR_OVERRIDE\"],"
				  "\"created_at_unix_ms\":1735689600000,"
				  "\"expires_at_unix_ms\":1735776000500,\"pay_by_unix_ms\":0,"
				  "\"period_index\":2,\"previous_offer_id\":\"\"}");
	free(text);

	/* An unset message field of a reply prints as the empty message. */
	CAPTURE(text, ctl_show_offer(f, "", NULL));
	assert_non_null(strstr(text, "status: UNSPECIFIED\n"));
	assert_non_null(strstr(text, "suggested_price: 0\n"));
	free(text);
}

static void test_show_payment_and_reputation(void **state)
{
	Fairpay__V1__Payment p = FAIRPAY__V1__PAYMENT__INIT;
	Fairpay__V1__PaymentReason reasons[] = {
		FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE,
	};
	p.payment_id = "p_0123456789abcdef";
	p.offer_id = "o_0123456789abcdef";
	p.customer_id = "alice";
	p.amount_minor = 300;
	p.currency = "USD";
	p.suggested_price_minor = 1000;
	p.fairness_bp = 8000;
	p.raw_fairness_bp = 3000;
	p.verdict = FAIRPAY__V1__VERDICT__VERDICT_FAIR;
	p.review = FAIRPAY__V1__REVIEW__REVIEW_PENDING;
	p.late = 1;
	p.n_reasons = 1;
	p.reasons = reasons;
	p.note = "did not \"use\" it";
	p.created_at_unix_ms = 1735689600000;

	char *text = NULL;
	CAPTURE(text, ctl_show_payment(f, "", &p));
	assert_string_equal(text, "payment_id: p_0123456789abcdef\n"
				  "offer_id: o_0123456789abcdef\n"
				  "customer_id: alice\n"
				  "amount: 3.00 USD\n"
				  "suggested_price: 10.00 USD\n"
				  "usage_units: 0\n"
				  "fairness_bp: 8000\n"
				  "raw_fairness_bp: 3000\n"
				  "verdict: FAIR\n"
				  "review: PENDING\n"
				  "late: yes\n"
				  "reasons: DID_NOT_USE\n"
				  "note: did not \"use\" it\n"
				  "created_at: 2025-01-01T00:00:00Z\n");
	free(text);
	CAPTURE(text, ctl_show_payment_json(f, &p));
	assert_string_equal(text, "{\"payment_id\":\"p_0123456789abcdef\","
				  "\"offer_id\":\"o_0123456789abcdef\",\"customer_id\":\"alice\","
				  "\"amount_minor\":300,\"currency\":\"USD\","
				  "\"suggested_price_minor\":1000,\"usage_units\":0,"
				  "\"reasons\":[\"DID_NOT_USE\"],"
				  "\"note\":\"did not \\\"use\\\" it\","
				  "\"fairness_bp\":8000,\"raw_fairness_bp\":3000,"
				  "\"verdict\":\"FAIR\",\"review\":\"PENDING\",\"late\":true,"
				  "\"created_at_unix_ms\":1735689600000}");
	free(text);

	Fairpay__V1__Reputation r = FAIRPAY__V1__REPUTATION__INIT;
	char *lines[] = { "You are on probation.", "Bell\a here" };
	r.customer_id = "alice";
	r.score_bp = 8600;
	r.tier = FAIRPAY__V1__TIER__TIER_PROBATION;
	r.payments = 1;
	r.offers_accepted = 1;
	r.total_paid_minor = 300;
	r.total_suggested_minor = 1000;
	r.credit_limit_minor = 2000;
	r.n_explanation = 2;
	r.explanation = lines;
	r.updated_at_unix_ms = 1735689600000;
	r.currency = "EUR";
	CAPTURE(text, ctl_show_reputation(f, "  ", &r));
	assert_string_equal(text, "  customer_id: alice\n"
				  "  score_bp: 8600\n"
				  "  tier: PROBATION\n"
				  "  payments: 1\n"
				  "  defaults: 0\n"
				  "  open_defaults: 0\n"
				  "  offers_accepted: 1\n"
				  "  currency: EUR\n"
				  "  credit_limit: 20.00 EUR\n"
				  "  credit_used: 0.00 EUR\n"
				  "  total_paid: 3.00 EUR\n"
				  "  total_suggested: 10.00 EUR\n"
				  "  updated_at: 2025-01-01T00:00:00Z\n"
				  "  explanation:\n"
				  "    You are on probation.\n"
				  "    Bell? here\n");
	free(text);
	CAPTURE(text, ctl_show_reputation_json(f, &r));
	assert_string_equal(text, "{\"customer_id\":\"alice\",\"score_bp\":8600,"
				  "\"tier\":\"PROBATION\",\"payments\":1,\"defaults\":0,"
				  "\"open_defaults\":0,\"offers_accepted\":1,"
				  "\"total_paid_minor\":300,\"total_suggested_minor\":1000,"
				  "\"currency\":\"EUR\","
				  "\"credit_limit_minor\":2000,\"credit_used_minor\":0,"
				  "\"explanation\":[\"You are on probation.\","
				  "\"Bell\\u0007 here\"],"
				  "\"updated_at_unix_ms\":1735689600000}");
	free(text);
	r.n_explanation = 0;
	CAPTURE(text, ctl_show_reputation(f, "", &r));
	assert_non_null(strstr(text, "\nexplanation: -\n"));
	free(text);
}

static void test_show_policy_product_events(void **state)
{
	Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason reasons[] = {
		FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE,
		FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_OTHER
	};
	p.enforcement = FAIRPAY__V1__ENFORCEMENT__ENFORCEMENT_VOLUNTARY;
	p.opt_enforcement_case = FAIRPAY__V1__POLICY__OPT_ENFORCEMENT_ENFORCEMENT;
	p.alpha_bp = 2500;
	p.opt_alpha_bp_case = FAIRPAY__V1__POLICY__OPT_ALPHA_BP_ALPHA_BP;
	p.payment_window_seconds = 1209600;
	p.opt_payment_window_seconds_case =
		FAIRPAY__V1__POLICY__OPT_PAYMENT_WINDOW_SECONDS_PAYMENT_WINDOW_SECONDS;
	p.n_excusing_reasons = 2;
	p.excusing_reasons = reasons;
	p.version = 4;
	char *text = NULL;
	CAPTURE(text, ctl_show_policy(f, "", &p));
	assert_non_null(
		strstr(text, "enforcement: VOLUNTARY\nprior_score_bp: -\nalpha_bp: 2500\n"));
	assert_non_null(strstr(text, "excusing_reasons: DID_NOT_USE,OTHER\n"));
	assert_non_null(strstr(
		text, "payment_window_seconds: 1209600\nattestation_cap_bp: -\nversion: 4\n"));
	free(text);
	CAPTURE(text, ctl_show_policy_json(f, &p));
	assert_string_equal(text, "{\"enforcement\":\"VOLUNTARY\",\"alpha_bp\":2500,"
				  "\"excusing_reasons\":[\"DID_NOT_USE\",\"OTHER\"],"
				  "\"payment_window_seconds\":1209600,\"version\":4}");
	free(text);

	Fairpay__V1__Product pr = FAIRPAY__V1__PRODUCT__INIT;
	pr.sku = "book-1";
	pr.name = "Bücher";
	pr.currency = "EUR";
	pr.suggested_price_minor = 1000;
	pr.list_price_minor = 1200;
	pr.version = 2;
	CAPTURE(text, ctl_show_product(f, "", &pr));
	assert_non_null(strstr(text, "name: Bücher\n"));
	assert_non_null(strstr(text, "suggested_price: 10.00 EUR\nunit_price: 0.00 EUR\n"));
	/* An unspecified min_tier is RESTRICTED (PROTOCOL.md, Product). */
	assert_non_null(strstr(text, "min_tier: RESTRICTED\nperiod_days: 0\nversion: 2\n"));
	free(text);
	CAPTURE(text, ctl_show_product_json(f, &pr));
	assert_non_null(strstr(text, "\"min_tier\":\"RESTRICTED\",\"period_days\":0,"));
	free(text);
	Fairpay__V1__Product *list[] = { &pr, &pr };
	CAPTURE(text, assert_int_equal(ctl_show_product_table(f, list, 2), 0));
	assert_non_null(strstr(text, "SKU     NAME    SP         UNIT_PRICE  LIST_PRICE  MINIMUM"));
	assert_non_null(
		strstr(text, "book-1  Bücher  10.00 EUR  0.00 EUR    12.00 EUR   0.00 EUR "));
	assert_non_null(strstr(text, "  RESTRICTED  "));
	assert_null(strstr(text, "PROBATION"));
	free(text);
	/* A min_tier that is set is shown as it is. */
	pr.min_tier = FAIRPAY__V1__TIER__TIER_PROBATION;
	CAPTURE(text, ctl_show_product(f, "", &pr));
	assert_non_null(strstr(text, "min_tier: PROBATION\nperiod_days: 0\n"));
	free(text);
	CAPTURE(text, ctl_show_product_json(f, &pr));
	assert_non_null(strstr(text, "\"min_tier\":\"PROBATION\","));
	free(text);
	pr.min_tier = FAIRPAY__V1__TIER__TIER_UNSPECIFIED;

	Fairpay__V1__Event e1 = FAIRPAY__V1__EVENT__INIT, e2 = FAIRPAY__V1__EVENT__INIT;
	e1.id = 7;
	e1.kind = FAIRPAY__V1__EVENT_KIND__EVENT_KIND_OFFER_CREATED;
	e1.customer_id = "alice";
	e1.offer_id = "o_0123456789abcdef";
	e1.at_unix_ms = 1735689600000;
	e2.id = 12;
	e2.kind = FAIRPAY__V1__EVENT_KIND__EVENT_KIND_REPUTATION_CHANGED;
	e2.customer_id = "alice";
	e2.detail = "score 8000 -> 8600, tier PROBATION";
	e2.at_unix_ms = 1735689601000;
	Fairpay__V1__Event *events[] = { &e1, &e2 };
	CAPTURE(text, assert_int_equal(ctl_show_event_table(f, events, 2), 0));
	assert_string_equal(text,
			    "ID  AT                    KIND                OFFER               "
			    "PAYMENT  DETAIL\n"
			    "7   2025-01-01T00:00:00Z  OFFER_CREATED       o_0123456789abcdef  "
			    "-        -\n"
			    "12  2025-01-01T00:00:01Z  REPUTATION_CHANGED  -                   "
			    "-        score 8000 -> 8600, tier PROBATION\n");
	free(text);
	CAPTURE(text, ctl_show_event_json(f, &e2));
	assert_string_equal(text, "{\"id\":12,\"kind\":\"REPUTATION_CHANGED\","
				  "\"customer_id\":\"alice\",\"offer_id\":\"\",\"payment_id\":\"\","
				  "\"detail\":\"score 8000 -> 8600, tier PROBATION\","
				  "\"at_unix_ms\":1735689601000}");
	free(text);
}

/* ---------------------------------------------------------------- recompute */

static void test_recompute_orders_cycles(void **state)
{
	ctl_recompute r = { 0 };
	fp_policy p;
	int64_t out[CTL_REP_FIELD_COUNT];
	fp_policy_defaults(&p);
	p.alpha_bp = 5000;

	/* Fed out of order: a payment at t=3, a default at t=2, a payment at
	 * t=2 whose id sorts after the default's ("o_" < "p_"). */
	assert_int_equal(ctl_recompute_payment(&r, 3, "p_0000000000000002", 10000, 900, 1000), 0);
	assert_int_equal(ctl_recompute_payment(&r, 2, "p_0000000000000001", 12000, 1200, 1000), 0);
	assert_int_equal(ctl_recompute_defaulted_offer(&r, 2, "o_0000000000000009"), 0);
	ctl_recompute_accepted_offer(&r, FP_MODE_FAIRPAY, 700);
	ctl_recompute_accepted_offer(&r, FP_MODE_FAIRPAY_MINIMUM, 50);
	ctl_recompute_accepted_offer(&r, FP_MODE_SET_PRICE, 5000);
	ctl_recompute_events(&r, 2, 4);
	assert_true(ctl_recompute_has_history(&r));
	ctl_recompute_result(&r, &p, out);

	int32_t s = p.prior_score_bp;
	s = fp_score_step(s, 0, p.alpha_bp);     /* the default, o_ < p_ */
	s = fp_score_step(s, 12000, p.alpha_bp); /* then the payment at t=2 */
	s = fp_score_step(s, 10000, p.alpha_bp);
	assert_int_equal(out[CTL_REP_SCORE_BP], s);
	assert_int_equal(out[CTL_REP_PAYMENTS], 2);
	assert_int_equal(out[CTL_REP_DEFAULTS], 2);
	assert_int_equal(out[CTL_REP_OPEN_DEFAULTS], 1);
	assert_int_equal(out[CTL_REP_OFFERS_ACCEPTED], 4);
	assert_int_equal(out[CTL_REP_TOTAL_PAID], 2100);
	assert_int_equal(out[CTL_REP_TOTAL_SUGGESTED], 2000);
	assert_int_equal(out[CTL_REP_CREDIT_USED], 750);

	/* A reset customer has no history and the prior score. */
	ctl_recompute_reset(&r);
	assert_false(ctl_recompute_has_history(&r));
	ctl_recompute_result(&r, &p, out);
	assert_int_equal(out[CTL_REP_SCORE_BP], p.prior_score_bp);
	assert_int_equal(out[CTL_REP_PAYMENTS], 0);
	ctl_recompute_free(&r);
	ctl_recompute_free(NULL);
	assert_string_equal(ctl_recompute_field_name(CTL_REP_CREDIT_USED), "credit_used_minor");
}

static void test_recompute_long_history(void **state)
{
	/* Longer than the replay's chunk: the same as one replay of all. */
	enum {
		N = 1000
	};
	static int32_t fairness[N];
	ctl_recompute r = { 0 };
	fp_policy p;
	int64_t out[CTL_REP_FIELD_COUNT];
	char id[32];
	fp_policy_defaults(&p);
	for (int i = 0; i < N; i++)
		fairness[i] = (i * 7919) % 20001;
	/* Fed newest first, at times before the epoch (negative). */
	for (int i = N - 1; i >= 0; i--) {
		snprintf(id, sizeof(id), "p_%016x", i);
		assert_int_equal(
			ctl_recompute_payment(&r, (int64_t)(i - N) * 1000, id, fairness[i], 1, 1),
			0);
	}
	ctl_recompute_result(&r, &p, out);
	assert_int_equal(out[CTL_REP_SCORE_BP], fp_score_replay(&p, fairness, N));
	assert_int_equal(out[CTL_REP_PAYMENTS], N);
	ctl_recompute_free(&r);
}

/* offers list and payments list: filters, pages, aliases and refusals. */
static void test_list_commands(void **state)
{
	assert_int_equal(PARSE(&env_admin, "offers", "list", "--status", "open", "--customer",
			       "ann", "--limit", "5", "--page-token", "-o1"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_OFFERS_LIST);
	assert_true(A.state.set);
	assert_int_equal(A.state.v, FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_OPEN);
	assert_string_equal(A.customer_id, "ann");
	assert_int_equal(A.limit, 5);
	assert_string_equal(A.page_token, "-o1");
	assert_int_equal(PARSE(&env_admin, "offer", "list"), CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_OFFERS_LIST);
	assert_false(A.state.set);
	assert_null(A.customer_id);
	assert_int_equal(PARSE(&env_admin, "offer", "list", "--help"), CTL_PARSE_HELP);
	assert_non_null(ctl_args_usage(A.topic));

	static const struct {
		const char *word;
		int review;
	} reviews[] = {
		{ "pending", FAIRPAY__V1__REVIEW__REVIEW_PENDING },
		{ "ACCEPTED", FAIRPAY__V1__REVIEW__REVIEW_ACCEPTED },
		{ "rejected", FAIRPAY__V1__REVIEW__REVIEW_REJECTED },
		{ "none", FAIRPAY__V1__REVIEW__REVIEW_NOT_NEEDED },
		{ "not-needed", FAIRPAY__V1__REVIEW__REVIEW_NOT_NEEDED },
	};
	for (size_t i = 0; i < sizeof(reviews) / sizeof(reviews[0]); i++) {
		assert_int_equal(PARSE(&env_admin, "payments", "list", "--review", reviews[i].word),
				 CTL_PARSE_RUN);
		assert_int_equal(A.cmd, CTL_CMD_PAYMENTS_LIST);
		assert_int_equal(A.state.v, reviews[i].review);
	}
	assert_int_equal(PARSE(&env_admin, "payments", "list", "--review", "maybe"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--review must be"));
	assert_int_equal(PARSE(&env_admin, "offers", "list", "--status", "unspecified"),
			 CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "--status must be one of OPEN"));
	assert_int_equal(PARSE(&env_admin, "payments", "list", "--status", "open"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "offers", "list", "--review", "pending"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "offers", "list", "--limit", "1001"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "offers", "list", "--limit", "-1"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "offers", "list", "extra"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "product", "list", "--customer", "ann"),
			 CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_ca, "payments", "list"), CTL_PARSE_USAGE);
	assert_non_null(strstr(E, "needs credentials"));
}

/* insights --from/--to and policy simulate. */
static void test_insights_args(void **state)
{
	int64_t ms = 0;
	assert_int_equal(ctl_args_parse_date("2026-01-31", &ms), 0);
	assert_int_equal(ms, INT64_C(1769817600000));
	assert_int_equal(ctl_args_parse_date("2026-01-31T12:00:00Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1769860800000));
	assert_int_equal(ctl_args_parse_date("2026-01-31T13:00:00.25+01:00", &ms), 0);
	assert_int_equal(ms, INT64_C(1769860800250));
	assert_int_equal(ctl_args_parse_date("2024-02-29", &ms), 0);
	assert_int_equal(ms, INT64_C(1709164800000));
	assert_int_equal(ctl_args_parse_date("2025-02-29", &ms), -1);
	assert_int_equal(ctl_args_parse_date("2026-13-01", &ms), -1);
	assert_int_equal(ctl_args_parse_date("2026-01-31T12:00:00", &ms), -1); /* no zone */
	assert_int_equal(ctl_args_parse_date("2026-01-31 junk", &ms), -1);
	assert_int_equal(ctl_args_parse_date("1970-01-01", &ms), -1); /* 0 means open */
	assert_int_equal(ctl_args_parse_date("yesterday", &ms), -1);

	assert_int_equal(PARSE(&env_admin, "insights", "--sku", "s1", "--from", "2026-01-01",
			       "--to", "2026-02-01", "--svg", "out.svg"),
			 CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_INSIGHTS);
	assert_string_equal(A.sku, "s1");
	assert_int_equal(A.from_ms, INT64_C(1767225600000));
	assert_int_equal(A.to_ms, INT64_C(1769904000000));
	assert_string_equal(A.svg, "out.svg");
	assert_int_equal(PARSE(&env_admin, "insights"), CTL_PARSE_RUN);
	assert_int_equal(A.from_ms, 0);
	assert_null(A.svg);
	assert_int_equal(
		PARSE(&env_admin, "insights", "--from", "2026-02-01", "--to", "2026-01-01"),
		CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "insights", "--from", "soon"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "insights", "extra"), CTL_PARSE_USAGE);

	assert_int_equal(
		PARSE(&env_admin, "policy", "simulate", "alpha_bp=5000", "excusing_reasons=OTHER"),
		CTL_PARSE_RUN);
	assert_int_equal(A.cmd, CTL_CMD_POLICY_SIMULATE);
	assert_true(A.policy.set[CTL_POLICY_ALPHA_BP]);
	assert_int_equal(A.policy.value[CTL_POLICY_ALPHA_BP], 5000);
	assert_int_equal(A.policy.n_reasons, 1);
	assert_int_equal(PARSE(&env_admin, "policy", "simulate"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "policy", "simulate", "nope=1"), CTL_PARSE_USAGE);
	assert_int_equal(PARSE(&env_admin, "policy", "simulate", "--help"), CTL_PARSE_HELP);
	assert_non_null(ctl_args_usage("policy simulate"));
	assert_non_null(ctl_args_usage("insights"));
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
		cmocka_unit_test(test_attestation_commands),
		cmocka_unit_test(test_key_register_cert_args),
		cmocka_unit_test(test_cert_parse_hex),
		cmocka_unit_test(test_cert_fingerprint),
		cmocka_unit_test(test_option_must_fit_command),
		cmocka_unit_test(test_option_value_errors),
		cmocka_unit_test(test_remote_needs_ca_and_credentials),
		cmocka_unit_test(test_db_commands),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_too_many_words),
		cmocka_unit_test(test_no_error_buffer),
		cmocka_unit_test(test_unknown_topic_has_no_usage),
		cmocka_unit_test(test_enum_tables_match_proto),
		cmocka_unit_test(test_enum_parse_and_name),
		cmocka_unit_test(test_enum_lists),
		cmocka_unit_test(test_cycle_commands_are_remote),
		cmocka_unit_test(test_idempotency_key_only_on_mutating),
		cmocka_unit_test(test_product_put),
		cmocka_unit_test(test_product_list),
		cmocka_unit_test(test_policy_set),
		cmocka_unit_test(test_policy_set_errors),
		cmocka_unit_test(test_offer_create),
		cmocka_unit_test(test_pay),
		cmocka_unit_test(test_review),
		cmocka_unit_test(test_reputation_and_verify),
		cmocka_unit_test(test_events_args),
		cmocka_unit_test(test_show_offer),
		cmocka_unit_test(test_show_money_tables),
		cmocka_unit_test(test_show_payment_and_reputation),
		cmocka_unit_test(test_show_policy_product_events),
		cmocka_unit_test(test_recompute_orders_cycles),
		cmocka_unit_test(test_recompute_long_history),
		cmocka_unit_test(test_list_commands),
		cmocka_unit_test(test_insights_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
