/* Integration tests of fairpayctl as an operator runs it: remote commands
 * against a live fairpayd (flags and FAIRPAY_* variables), its exit codes, and
 * the db commands (idempotent and concurrent migrations, checksum refusal,
 * status, bootstrap-admin). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "harness.h"

static struct {
	char *db;
	char *qdb; /* shell-quoted conninfo */
	char *admin_key;
	h_server *srv;
	char *ctl;    /* quoted fairpayctl path */
	char *remote; /* ctl --server .. --ca .. */
	char *ca;     /* quoted CA path */
} T;

static void expect_exit(int got, int want, const char *out)
{
	if (got != want)
		fail_msg("exit status %d, want %d; output:\n%s", got, want, out ? out : "");
}

/* The value after "label: " on its own line, malloc'ed; fails if absent. */
static char *line_value(const char *text, const char *label)
{
	size_t ll = strlen(label);
	const char *p = text;
	while (p != NULL && *p) {
		if (strncmp(p, label, ll) == 0 && p[ll] == ':') {
			const char *v = p + ll + 1;
			while (*v == ' ')
				v++;
			size_t n = strcspn(v, "\r\n");
			return strndup(v, n);
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	fail_msg("no '%s:' line in:\n%s", label, text);
	return NULL;
}

/* Number of NNNN_*.sql files in the repository's migrations/. */
static int count_migration_files(void)
{
	char *dir = h_path(h_root_dir(), "migrations");
	DIR *d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot open %s", dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > 9 && strcmp(e->d_name + l - 4, ".sql") == 0 && e->d_name[4] == '_')
			n++;
	}
	closedir(d);
	free(dir);
	return n;
}

static int setup(void **state)
{
	T.db = h_db_create("fp_it_ctl");
	T.qdb = h_shq(T.db);
	T.ctl = h_ctl();
	char *ca = h_path(h_certs_dir(), "ca.pem");
	T.ca = h_shq(ca);
	free(ca);
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv = h_server_start(T.db, NULL);
	T.remote = h_fmt("%s --server %s --ca %s", T.ctl, T.srv->addr, T.ca);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.remote);
	free(T.ca);
	free(T.ctl);
	free(T.admin_key);
	free(T.qdb);
	free(T.db);
	return 0;
}

static void test_ping(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s ping", T.remote);
	expect_exit(rc, 0, out);
	assert_true(strlen(out) > 0);
	free(out);
	/* Options after the command words work too. */
	rc = h_runf(&out, "%s ping --server %s --ca %s", T.ctl, T.srv->addr, T.ca);
	expect_exit(rc, 0, out);
	free(out);
}

static void test_vendor_create_and_list(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s --api-key %s vendor create 'Ctl Vendor One'", T.remote,
			T.admin_key);
	expect_exit(rc, 0, out);
	char *vid = line_value(out, "vendor_id");
	char *name = line_value(out, "name");
	char *kid = line_value(out, "key_id");
	char *key = line_value(out, "api_key");
	free(out);
	assert_string_equal(name, "Ctl Vendor One");
	assert_int_equal(strlen(vid), 18);
	assert_memory_equal(vid, "v_", 2);
	assert_int_equal(strlen(key), 84);
	assert_memory_equal(key, "fp_", 3);
	assert_memory_equal(key + 3, kid, 16);

	/* The printed key works. */
	fp_client *c = h_connect(T.srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	char *got = NULL;
	h_assert_code(h_auth(c, key, &role, &got), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_VENDOR);
	assert_string_equal(got, vid);
	free(got);
	fp_client_free(c);

	rc = h_runf(&out, "%s --api-key %s vendor list --json", T.remote, T.admin_key);
	expect_exit(rc, 0, out);
	if (!h_contains(out, vid) || !h_contains(out, "Ctl Vendor One"))
		fail_msg("vendor list --json does not show %s:\n%s", vid, out);
	assert_true(h_contains(out, "{") || h_contains(out, "["));
	free(out);

	rc = h_runf(&out, "%s vendor list --api-key %s", T.remote, T.admin_key);
	expect_exit(rc, 0, out);
	if (!h_contains(out, vid))
		fail_msg("vendor list does not show %s:\n%s", vid, out);
	free(out);

	free(vid);
	free(name);
	free(kid);
	free(key);
}

static void test_vendor_create_json(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s --api-key %s --json vendor create 'Json Vendor'", T.remote,
			T.admin_key);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "\"api_key\":\"fp_") && !h_contains(out, "\"api_key\": \"fp_"))
		fail_msg("no api_key in JSON output:\n%s", out);
	if (!h_contains(out, "\"vendor\"") || !h_contains(out, "Json Vendor") ||
	    !h_contains(out, "\"key_id\""))
		fail_msg("JSON output lacks a field:\n%s", out);
	free(out);
}

static void test_environment_variables(void **state)
{
	char *out = NULL;
	char *env = h_fmt("FAIRPAY_SERVER=%s FAIRPAY_CA=%s FAIRPAY_API_KEY=%s", T.srv->addr, T.ca,
			  T.admin_key);
	int rc = h_runf(&out, "%s %s ping", env, T.ctl);
	expect_exit(rc, 0, out);
	free(out);
	rc = h_runf(&out, "%s %s vendor create 'Env Vendor'", env, T.ctl);
	expect_exit(rc, 0, out);
	char *vid = line_value(out, "vendor_id");
	free(out);
	rc = h_runf(&out, "%s %s vendor list", env, T.ctl);
	expect_exit(rc, 0, out);
	assert_true(h_contains(out, vid));
	free(out);
	free(vid);
	free(env);
}

static void test_wrong_api_key_exit_1(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s --api-key fp_0123456789abcdef_%s vendor list 2>&1", T.remote,
			"0000000000000000000000000000000000000000000000000000000000000000");
	expect_exit(rc, 1, out);
	free(out);
	long long before = h_sql_int(T.db, "SELECT count(*) FROM vendors");
	rc = h_runf(&out, "%s --api-key fp_0123456789abcdef_%s vendor create Nope 2>&1", T.remote,
		    "0000000000000000000000000000000000000000000000000000000000000000");
	expect_exit(rc, 1, out);
	free(out);
	assert_int_equal(h_sql_int(T.db, "SELECT count(*) FROM vendors"), before);
	/* A refused argument is exit 1 too: the server said no. */
	char n201[202];
	memset(n201, 'n', 201);
	n201[201] = '\0';
	rc = h_runf(&out, "%s --api-key %s vendor create %s 2>&1", T.remote, T.admin_key, n201);
	expect_exit(rc, 1, out);
	free(out);
}

static void test_unreachable_exit_3(void **state)
{
	char port[16];
	h_free_port(port, sizeof(port));
	char *out = NULL;
	int rc = h_runf(&out, "%s --server 127.0.0.1:%s --ca %s ping 2>&1", T.ctl, port, T.ca);
	expect_exit(rc, 3, out);
	free(out);
	rc = h_runf(&out, "%s --server 127.0.0.1:%s --ca %s --api-key %s vendor list 2>&1", T.ctl,
		    port, T.ca, T.admin_key);
	expect_exit(rc, 3, out);
	free(out);
}

static void test_bad_usage_exit_2(void **state)
{
	const char *bad[] = {
		"frobnicate",
		"vendor",
		"vendor create",
		"vendor frobnicate",
		"ping --no-such-option",
		"key create --role superuser",
		"vendor list --limit 0",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = NULL;
		int rc = h_runf(&out, "%s --api-key %s %s 2>&1", T.remote, T.admin_key, bad[i]);
		if (rc != 2)
			fail_msg("'fairpayctl %s' exited %d, want 2:\n%s", bad[i], rc, out);
		free(out);
	}
}

static void test_help_exit_0(void **state)
{
	const char *forms[] = { "--help",
				"-h",
				"vendor --help",
				"vendor create --help",
				"vendor list --help",
				"db --help",
				"db migrate --help",
				"ping --help",
				"key revoke --help" };
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char *out = NULL;
		int rc = h_runf(&out, "%s %s", T.ctl, forms[i]);
		if (rc != 0)
			fail_msg("'fairpayctl %s' exited %d, want 0", forms[i], rc);
		if (!h_contains(out, "Usage") && !h_contains(out, "usage"))
			fail_msg("'fairpayctl %s' printed no usage:\n%s", forms[i], out);
		free(out);
	}
	/* Help for a subcommand describes that subcommand. */
	char *out = NULL;
	assert_int_equal(h_runf(&out, "%s vendor create --help", T.ctl), 0);
	assert_true(h_contains(out, "vendor create"));
	free(out);
}

static void test_migrate_twice_up_to_date(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s db migrate --db %s 2>&1", T.ctl, T.qdb);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "up to date"))
		fail_msg("a second migrate does not say 'up to date':\n%s", out);
	free(out);
	assert_int_equal(h_sql_int(T.db, "SELECT count(*) FROM schema_migrations"),
			 count_migration_files());
}

static void test_db_status(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s db status --db %s", T.ctl, T.qdb);
	expect_exit(rc, 0, out);
	const char *line = strstr(out, "0001_schema.sql");
	if (line == NULL)
		fail_msg("db status does not list 0001_schema.sql:\n%s", out);
	size_t n = strcspn(line, "\n");
	const char *start = line;
	while (start > out && start[-1] != '\n')
		start--;
	char *whole = strndup(start, (size_t)(line - start) + n);
	if (!h_contains(whole, "applied") || h_contains(whole, "pending"))
		fail_msg("0001_schema.sql is not shown as applied: '%s'", whole);
	free(whole);
	free(out);
}

static void test_edited_migration_refused(void **state)
{
	char *dir = h_path(h_tmp_dir(), "migrations-edited");
	char *qdir = h_shq(dir);
	char *src = h_path(h_root_dir(), "migrations");
	char *qsrc = h_shq(src);
	char *out = NULL;
	int rc = h_runf(
		&out, "rm -rf %s && cp -r %s %s && printf '\\n-- edited\\n' >> %s/0001_schema.sql",
		qdir, qsrc, qdir, qdir);
	expect_exit(rc, 0, out);
	free(out);

	/* The unchanged copy is accepted: only the edit matters. */
	char *clean = h_path(h_tmp_dir(), "migrations-copy");
	char *qclean = h_shq(clean);
	rc = h_runf(&out, "rm -rf %s && cp -r %s %s", qclean, qsrc, qclean);
	expect_exit(rc, 0, out);
	free(out);
	rc = h_runf(&out, "%s db migrate --migrations %s --db %s 2>&1", T.ctl, qclean, T.qdb);
	expect_exit(rc, 0, out);
	free(out);

	rc = h_runf(&out, "%s db migrate --migrations %s --db %s 2>&1", T.ctl, qdir, T.qdb);
	expect_exit(rc, 1, out);
	if (!h_contains(out, "0001_schema.sql") && !h_contains(out, "0001_schema"))
		fail_msg("the refusal does not name the edited file:\n%s", out);
	free(out);
	/* Nothing was recorded for the edited file. */
	char *sum = h_sql(T.db, "SELECT checksum FROM schema_migrations WHERE version = 1");
	assert_non_null(sum);
	char *want = NULL;
	char *cmd = h_fmt("sha256sum %s/0001_schema.sql | cut -d' ' -f1", qsrc);
	assert_int_equal(h_run(cmd, &want), 0);
	want[strcspn(want, "\n")] = '\0';
	assert_string_equal(sum, want);

	/* db status shows it as changed, not applied. */
	rc = h_runf(&out, "%s db status --migrations %s --db %s 2>&1", T.ctl, qdir, T.qdb);
	if (!h_contains(out, "changed"))
		fail_msg("db status does not report the edited file as changed:\n%s", out);
	free(out);

	free(cmd);
	free(want);
	free(sum);
	free(qclean);
	free(clean);
	free(qsrc);
	free(src);
	free(qdir);
	free(dir);
}

static void test_concurrent_migrate(void **state)
{
	int files = count_migration_files();
	for (int round = 0; round < 3; round++) {
		char name[32];
		snprintf(name, sizeof(name), "fp_it_ctl_race%d", round);
		char *db = h_db_create(name);
		char *qdb = h_shq(db);
		char *log1 = h_fmt("%s/race-%d-a.log", h_tmp_dir(), round);
		char *log2 = h_fmt("%s/race-%d-b.log", h_tmp_dir(), round);
		char *out = NULL;
		int rc = h_runf(&out,
				"%s db migrate --db %s >%s 2>&1 & a=$!; "
				"%s db migrate --db %s >%s 2>&1 & b=$!; "
				"wait $a; ra=$?; wait $b; rb=$?; echo \"$ra $rb\"",
				T.ctl, qdb, log1, T.ctl, qdb, log2);
		expect_exit(rc, 0, out);
		if (strncmp(out, "0 0", 3) != 0) {
			char *l1 = NULL, *l2 = NULL;
			char *c1 = h_fmt("cat %s", log1), *c2 = h_fmt("cat %s", log2);
			(void)h_run(c1, &l1);
			(void)h_run(c2, &l2);
			fail_msg("concurrent migrations exited '%s'\nfirst:\n%s\nsecond:\n%s", out,
				 l1, l2);
		}
		free(out);
		assert_int_equal(h_sql_int(db, "SELECT count(*) FROM schema_migrations"), files);
		assert_int_equal(h_sql_int(db, "SELECT count(DISTINCT version) FROM "
					       "schema_migrations"),
				 files);
		/* The schema is there exactly once and usable. */
		assert_int_equal(h_sql_int(db, "SELECT count(*) FROM vendors"), 0);
		free(log1);
		free(log2);
		free(qdb);
		free(db);
	}
}

static void test_bootstrap_admin(void **state)
{
	long long admins = h_sql_int(T.db, "SELECT count(*) FROM api_keys WHERE role = 'ADMIN'");
	char *key = h_bootstrap_admin(T.db);
	assert_int_equal(strlen(key), 84);
	assert_int_equal(h_sql_int(T.db, "SELECT count(*) FROM api_keys WHERE role = 'ADMIN'"),
			 admins + 1);
	char *sql = h_fmt("SELECT count(*) FROM api_keys WHERE id = '%.16s' AND vendor_id IS NULL "
			  "AND role = 'ADMIN' AND revoked_at IS NULL",
			  key + 3);
	assert_int_equal(h_sql_int(T.db, sql), 1);
	free(sql);

	fp_client *c = h_connect(T.srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	h_assert_code(h_auth(c, key, &role, NULL), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_ADMIN);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	free(key);

	/* Before migrations there is nothing to bootstrap: refused (exit 1). */
	char *empty = h_db_create("fp_it_ctl_empty");
	char *qempty = h_shq(empty);
	char *out = NULL;
	int rc = h_runf(&out, "%s db bootstrap-admin --db %s 2>&1", T.ctl, qempty);
	expect_exit(rc, 1, out);
	free(out);
	free(qempty);
	free(empty);
}

static void test_key_create_and_revoke(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s --api-key %s key create --role admin", T.remote, T.admin_key);
	expect_exit(rc, 0, out);
	char *kid = line_value(out, "key_id");
	char *key = line_value(out, "api_key");
	free(out);
	fp_client *c = h_connect_auth(T.srv, key);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);

	rc = h_runf(&out, "%s --api-key %s key revoke %s", T.remote, T.admin_key, kid);
	expect_exit(rc, 0, out);
	free(out);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fp_client_free(c);

	/* An unknown key id is refused by the server: exit 1. */
	rc = h_runf(&out, "%s --api-key %s key revoke fedcba9876543210 2>&1", T.remote,
		    T.admin_key);
	expect_exit(rc, 1, out);
	free(out);
	free(kid);
	free(key);
}

typedef struct later_cycle {
	const h_server *srv;
	const char *key;
} later_cycle;

/* A cycle a second from now, while `events --follow` waits. */
static void *cycle_later(void *p)
{
	later_cycle *l = p;
	h_sleep_ms(1000);
	fp_client *c = h_connect_auth(l->srv, l->key);
	fp_response_free(h_cycle(c, "followed", "feed-sku", 1000));
	fp_client_free(c);
	return NULL;
}

/* `events` without a customer reads the vendor's feed; --follow prints
 * each event as it commits, one JSON object per line with --json. */
static void test_events_feed_and_follow(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *key = NULL;
	fp_client *v = h_vendor_client(T.srv, admin, "ctl feed", NULL, &key);
	h_product(v, "feed-sku", 1000, 1500);
	fp_response_free(h_cycle(v, "first", "feed-sku", 1000));
	char *out = NULL;
	int rc = h_runf(&out, "%s --api-key %s events --json", T.remote, key);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "\"customer_id\":\"first\"") || !h_contains(out, "PAYMENT_RECEIVED"))
		fail_msg("events --json does not show the feed:\n%s", out);
	free(out);
	rc = h_runf(&out, "%s --api-key %s events first --follow", T.remote, key);
	expect_exit(rc, 2, out);
	free(out);
	rc = h_runf(&out, "%s --api-key %s events --kinds nonsense", T.remote, key);
	expect_exit(rc, 2, out);
	free(out);

	pthread_t th;
	later_cycle l = { T.srv, key };
	pthread_create(&th, NULL, cycle_later, &l);
	rc = h_runf(&out,
		    "timeout 4 %s --api-key %s events --follow --json --kinds payment_received",
		    T.remote, key);
	pthread_join(th, NULL);
	expect_exit(rc, 124, out); /* stopped by timeout, not by an error */
	/* The earlier payment, then the one made while it followed, each a
	 * line of its own. */
	if (!h_contains(out, "\"customer_id\":\"first\"") ||
	    !h_contains(out, "\"customer_id\":\"followed\"") || h_contains(out, "OFFER_CREATED"))
		fail_msg("events --follow did not print the payments as they came:\n%s", out);
	int lines = 0;
	for (const char *p = out; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2);
	free(out);
	fp_client_free(v);
	fp_client_free(admin);
	free(key);
}

/* The value of the first "key":"..." string in JSON text, as a new string. */
static char *json_str(const char *json, const char *key)
{
	char *pat = h_fmt("\"%s\":\"", key);
	const char *at = strstr(json, pat);
	if (at == NULL)
		fail_msg("no %s in:\n%s", pat, json);
	at += strlen(pat);
	const char *end = strchr(at, '"');
	assert_non_null(end);
	char *v = strndup(at, (size_t)(end - at));
	free(pat);
	return v;
}

/* The first line of a table that contains needle, as a new string with its
 * cells separated by " | " (a table pads cells to their column's width and
 * puts two spaces between columns; a cell holds no two spaces in a row). */
static char *line_with(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);
	if (at == NULL)
		fail_msg("no line with '%s' in:\n%s", needle, text);
	const char *start = at;
	while (start > text && start[-1] != '\n')
		start--;
	const char *end = strchr(at, '\n');
	size_t n = end != NULL ? (size_t)(end - start) : strlen(start);
	char *row = calloc(3 * n + 3, 1);
	assert_non_null(row);
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (start[i] == ' ' && i + 1 < n && start[i + 1] == ' ') {
			while (i < n && start[i] == ' ')
				i++;
			memcpy(row + o, " | ", 3);
			o += 3;
		} else {
			row[o++] = start[i++];
		}
	}
	memcpy(row + o, " |", 2);
	return row;
}

/* Offer, accept and pay amount for customer on sku with fairpayctl; returns
 * the text output of `pay`. */
static char *ctl_cycle(const char *key, const char *customer, const char *sku, long amount)
{
	char *out = NULL;
	expect_exit(h_runf(&out, "%s --api-key %s offer create %s %s --json", T.remote, key,
			   customer, sku),
		    0, out);
	char *offer = json_str(out, "offer_id");
	free(out);
	expect_exit(h_runf(&out, "%s --api-key %s offer accept %s", T.remote, key, offer), 0, out);
	free(out);
	expect_exit(
		h_runf(&out, "%s --api-key %s pay %s --amount %ld", T.remote, key, offer, amount),
		0, out);
	free(offer);
	return out;
}

/* Money for people: tables and text give a JPY (exponent 0) and a BHD
 * (exponent 3) product, offer, payment and reputation in the major unit
 * with the code; --json keeps the minor units of the wire. */
static void test_money_in_major_units(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *key = NULL;
	fp_client *v = h_vendor_client(T.srv, admin, "ctl money", NULL, &key);
	char *out = NULL;
	expect_exit(h_runf(&out,
			   "%s --api-key %s product put yen-book --name 'Yen book' --currency JPY "
			   "--sp 1500 --list-price 2000",
			   T.remote, key),
		    0, out);
	assert_true(h_contains(out, "suggested_price: 1500 JPY\n"));
	assert_true(h_contains(out, "list_price: 2000 JPY\n"));
	free(out);
	expect_exit(h_runf(&out,
			   "%s --api-key %s product put dinar-book --name 'Dinar book' "
			   "--currency BHD --sp 1500 --list-price 2000 --minimum 250",
			   T.remote, key),
		    0, out);
	free(out);

	expect_exit(h_runf(&out, "%s --api-key %s product list", T.remote, key), 0, out);
	char *line = line_with(out, "yen-book");
	if (!h_contains(line, "| 1500 JPY | 0 JPY | 2000 JPY | 0 JPY | RESTRICTED |"))
		fail_msg("JPY product row: '%s'", line);
	free(line);
	line = line_with(out, "dinar-book");
	if (!h_contains(line, "| 1.500 BHD | 0.000 BHD | 2.000 BHD | 0.250 BHD | RESTRICTED |"))
		fail_msg("BHD product row: '%s'", line);
	free(line);
	assert_false(h_contains(out, "CURRENCY"));
	free(out);

	out = ctl_cycle(key, "taro", "yen-book", 1234);
	assert_true(h_contains(out, "  amount: 1234 JPY\n  suggested_price: 1500 JPY\n"));
	assert_true(h_contains(out, "  total_paid: 1234 JPY\n  total_suggested: 1500 JPY\n"));
	free(out);
	out = ctl_cycle(key, "hamad", "dinar-book", 1234);
	assert_true(h_contains(out, "  amount: 1.234 BHD\n  suggested_price: 1.500 BHD\n"));
	assert_true(h_contains(out, "  credit_limit: 2.000 BHD\n"));
	assert_true(h_contains(out, "  total_paid: 1.234 BHD\n  total_suggested: 1.500 BHD\n"));
	free(out);

	expect_exit(h_runf(&out, "%s --api-key %s payments list", T.remote, key), 0, out);
	line = line_with(out, "taro");
	if (!h_contains(line, "| 1234 JPY | 1500 JPY | 8226 |"))
		fail_msg("JPY payment row: '%s'", line);
	free(line);
	line = line_with(out, "hamad");
	if (!h_contains(line, "| 1.234 BHD | 1.500 BHD | 8226 |"))
		fail_msg("BHD payment row: '%s'", line);
	free(line);
	free(out);

	/* A product minimum makes the offer FAIRPAY_MINIMUM: the row shows it. */
	expect_exit(h_runf(&out, "%s --api-key %s offers list --customer hamad", T.remote, key), 0,
		    out);
	line = line_with(out, "dinar-book");
	if (!h_contains(line, "| FAIRPAY_MINIMUM | 1.500 BHD | 0.250 BHD | - |"))
		fail_msg("BHD offer row: '%s'", line);
	free(line);
	free(out);

	/* JSON keeps the minor units. */
	expect_exit(h_runf(&out, "%s --api-key %s payments list --customer hamad --json", T.remote,
			   key),
		    0, out);
	assert_true(h_contains(out, "\"amount_minor\":1234,\"currency\":\"BHD\","
				    "\"suggested_price_minor\":1500,"));
	free(out);
	expect_exit(h_runf(&out, "%s --api-key %s reputation taro --json", T.remote, key), 0, out);
	assert_true(h_contains(out, "\"total_paid_minor\":1234,"));
	free(out);
	fp_client_free(v);
	fp_client_free(admin);
	free(key);
}

/* Run fairpayctl with args and --json; check that it succeeds and prints
 * one JSON object on one line, ending with a newline. Returns the output. */
static char *json_line(const char *args)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s %s --json", T.remote, args);
	expect_exit(rc, 0, out);
	size_t n = strlen(out);
	if (n < 3 || out[0] != '{' || out[n - 2] != '}' || out[n - 1] != '\n' ||
	    strchr(out, '\n') != out + n - 1)
		fail_msg("'%s --json' is not one JSON line ending with a newline:\n[%s]", args,
			 out);
	return out;
}

/* Every --json output is one JSON object ending with a newline, so that
 * tools reading line by line see its end: every command, as a vendor, as
 * the admin and on the database. */
static void test_json_ends_with_newline(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *key = NULL;
	fp_client *v = h_vendor_client(T.srv, admin, "ctl json", NULL, &key);
	char *k = h_fmt("--api-key %s", key), *a = h_fmt("--api-key %s", T.admin_key);
	char *args = NULL;
#define JSON_OK(...)                       \
	do {                               \
		args = h_fmt(__VA_ARGS__); \
		free(json_line(args));     \
		free(args);                \
	} while (0)
	JSON_OK("%s ping", k);
	JSON_OK("%s product put jsn --name J --currency EUR --sp 1000", k);
	JSON_OK("%s product get jsn", k);
	JSON_OK("%s product list", k);
	JSON_OK("%s policy get", k);
	JSON_OK("%s policy set alpha_bp=3000", k);

	args = h_fmt("%s offer create nina jsn", k);
	char *out = json_line(args);
	free(args);
	char *offer = json_str(out, "offer_id");
	free(out);
	JSON_OK("%s offer get %s", k, offer);
	JSON_OK("%s offer accept %s", k, offer);
	JSON_OK("%s offers list", k);
	args = h_fmt("%s pay %s --amount 500 --reason did_not_use", k, offer);
	out = json_line(args);
	free(args);
	char *payment = json_str(out, "payment_id");
	free(out);
	JSON_OK("%s payments list --review pending", k);
	JSON_OK("%s review %s --accept", k, payment);
	args = h_fmt("%s offer create olga jsn", k);
	out = json_line(args);
	free(args);
	char *offer2 = json_str(out, "offer_id");
	free(out);
	JSON_OK("%s offer decline %s", k, offer2);
	JSON_OK("%s reputation nina", k);
	JSON_OK("%s events nina", k);
	JSON_OK("%s events", k);
	args = h_fmt("%s webhook create https://hooks.example.com/fairpay", k);
	out = json_line(args);
	free(args);
	char *endpoint = json_str(out, "endpoint_id");
	free(out);
	JSON_OK("%s webhook list", k);
	JSON_OK("%s webhook deliveries %s", k, endpoint);
	JSON_OK("%s webhook delete %s", k, endpoint);

	JSON_OK("%s vendor list", a);
	JSON_OK("%s vendor create 'Json Two'", a);
	args = h_fmt("%s key create --role admin", a);
	out = json_line(args);
	free(args);
	char *kid = json_str(out, "key_id");
	free(out);
	JSON_OK("%s key register-cert %s --fingerprint %s", a, kid,
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	JSON_OK("%s key revoke %s", a, kid);
	JSON_OK("db status --db %s", T.qdb);
	JSON_OK("db migrate --db %s", T.qdb);
	JSON_OK("db bootstrap-admin --db %s", T.qdb);
	JSON_OK("reputation verify --db %s", T.qdb);
#undef JSON_OK
	free(kid);
	free(endpoint);
	free(offer2);
	free(payment);
	free(offer);
	free(k);
	free(a);
	fp_client_free(v);
	fp_client_free(admin);
	free(key);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_vendor_create_and_list),
		cmocka_unit_test(test_vendor_create_json),
		cmocka_unit_test(test_environment_variables),
		cmocka_unit_test(test_wrong_api_key_exit_1),
		cmocka_unit_test(test_unreachable_exit_3),
		cmocka_unit_test(test_bad_usage_exit_2),
		cmocka_unit_test(test_help_exit_0),
		cmocka_unit_test(test_migrate_twice_up_to_date),
		cmocka_unit_test(test_db_status),
		cmocka_unit_test(test_edited_migration_refused),
		cmocka_unit_test(test_concurrent_migrate),
		cmocka_unit_test(test_bootstrap_admin),
		cmocka_unit_test(test_key_create_and_revoke),
		cmocka_unit_test(test_events_feed_and_follow),
		cmocka_unit_test(test_money_in_major_units),
		cmocka_unit_test(test_json_ends_with_newline),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
