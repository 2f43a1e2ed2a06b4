/* Integration tests that hold the SQL port of the FairPay rules
 * (migrations/0002_fairpay_cycle.sql, the fp_sql_* functions) to the C
 * reference (server/fp_rules.c): each function runs over a grid of inputs in
 * one SQL query, and every row is recomputed in C from the inputs the query
 * echoes back; any difference fails the test and prints those inputs. Also:
 * the policy defaults and CHECK constraints agree with fp_policy_defaults()
 * and fp_policy_validate(), fp_recompute_score() replays a random history as
 * fp_score_replay() does, and a random mixed history driven through the cycle
 * functions keeps the incremental score equal to a recomputation.
 *
 * No server is started: the database is migrated and queried directly. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "harness.h"

/* Integration tests link only the harness and libfairpay (see the Makefile),
 * not the server's objects; the rules are pure C without dependencies, so the
 * reference is compiled into this binary from its source. */
#include "../../server/fp_rules.c"

#define MAX_SHOWN 20 /* mismatches printed per comparison */

static struct {
	char *db;
	PGconn *pg;
	int mismatches;
	unsigned long long rng;
} T;

/* ---------------------------------------------------------------- names */

static const char *const tier_names[] = { "UNSPECIFIED", "FIXED_PRICE", "RESTRICTED",
					  "PROBATION",   "STANDARD",    "TRUSTED" };
static const char *const mode_names[] = { "UNSPECIFIED", "FAIRPAY", "FAIRPAY_MINIMUM",
					  "SET_PRICE" };
static const char *const offer_reason_names[] = {
	"UNSPECIFIED",   "PROBATION",       "CREDIT_LIMIT",    "LOW_SCORE",      "OPEN_DEFAULTS",
	"TIER_REQUIRED", "PRODUCT_MINIMUM", "VENDOR_OVERRIDE", "VOLUNTARY_MODE",
};
static const char *const payment_reason_names[] = {
	"UNSPECIFIED",       "DID_NOT_USE",   "POOR_QUALITY", "NOT_AS_DESCRIBED",
	"TECHNICAL_PROBLEM", "CANNOT_AFFORD", "GREAT_VALUE",  "OTHER",
};
static const char *const verdict_names[] = { "UNSPECIFIED", "GENEROUS", "FAIR", "LOW", "UNFAIR" };
static const char *const review_names[] = { "UNSPECIFIED", "NOT_NEEDED", "PENDING", "ACCEPTED",
					    "REJECTED" };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The index of name in names; fails the test for an unknown name. */
static int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	fail_msg("unknown name '%s'", name);
	return -1;
}

/* The payment reason mask of a comma-joined list of names. */
static uint32_t reason_mask(const char *list)
{
	uint32_t mask = 0;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		mask |= FP_REASON_BIT(
			name_index(payment_reason_names, N_OF(payment_reason_names), tok));
	return mask;
}

/* ---------------------------------------------------------------- database */

/* Run sql; fails the test unless it succeeds. */
static PGresult *query(const char *sql)
{
	PGresult *r = PQexec(T.pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("query failed: %s\n%s", msg, sql);
	}
	return r;
}

static void run_sql(const char *sql)
{
	PQclear(query(sql));
}

static long long query_ll(const char *sql)
{
	PGresult *r = query(sql);
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0))
		fail_msg("no single value from %s", sql);
	long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static bool is_null(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) != 0;
}

static const char *str(PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col);
}

static long long ll(PGresult *r, int row, int col)
{
	if (is_null(r, row, col))
		fail_msg("row %d column %d is NULL", row, col);
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool boolean(PGresult *r, int row, int col)
{
	return strcmp(str(r, row, col), "t") == 0;
}

/* The first value of sql, malloc'ed, or NULL when there is no row. */
static char *query_str(const char *sql)
{
	PGresult *r = query(sql);
	char *v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	return v;
}

/* A growing string for building SQL. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			fail_msg("out of memory");
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---------------------------------------------------------------- comparing */

static void compare_begin(void)
{
	T.mismatches = 0;
}

/* Record one mismatch; the first MAX_SHOWN are printed with their inputs. */
static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void mismatch(const char *fmt, ...)
{
	if (T.mismatches++ < MAX_SHOWN) {
		char line[1024];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		print_error("MISMATCH %s\n", line);
	}
}

/* Fail when anything differed, or when the grid was smaller than meant. */
static void compare_end(const char *what, int rows, int min_rows)
{
	if (rows < min_rows)
		fail_msg("%s: only %d cases, want at least %d", what, rows, min_rows);
	if (T.mismatches > 0)
		fail_msg("%s: %d of %d cases differ between SQL and C", what, T.mismatches, rows);
	print_message("%s: %d cases agree\n", what, rows);
}

/* A deterministic generator, so that a failure can be reproduced. */
static uint32_t rnd(void)
{
	T.rng = T.rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(T.rng >> 33);
}

static int rnd_below(int n)
{
	return (int)(rnd() % (uint32_t)n);
}

/* ---------------------------------------------------------------- fixture */

static int setup(void **state)
{
	T.db = h_db_create("fp_it_sql_rules");
	h_migrate(T.db);
	T.pg = PQconnectdb(T.db);
	if (PQstatus(T.pg) != CONNECTION_OK)
		fail_msg("cannot connect: %s", PQerrorMessage(T.pg));
	/* Payment reason masks are written bit by bit in C; this turns one
	 * into the array of names the SQL functions take. */
	run_sql("CREATE FUNCTION t_reasons(m int) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$"
		" SELECT coalesce(array_agg(u.n ORDER BY u.i), '{}')"
		" FROM unnest(fp_payment_reason_names()) WITH ORDINALITY u(n, i)"
		" WHERE m & (1 << u.i::int) <> 0 $$");
	T.rng = 20240601;
	return 0;
}

static int teardown(void **state)
{
	PQfinish(T.pg);
	free(T.db);
	return 0;
}

/* ---------------------------------------------------------------- policy */

/* Read the policy columns of fp_policy_of() (in table order from column
 * `first`) into p. */
static void read_policy(PGresult *r, int row, int first, fp_policy *p)
{
	int c = first;
	memset(p, 0, sizeof(*p)); /* the padding too: policies are compared with memcmp */
	const char *enf = str(r, row, c++);
	p->enforcement = strcmp(enf, "ENFORCE") == 0     ? FP_ENFORCEMENT_ENFORCE
			 : strcmp(enf, "VOLUNTARY") == 0 ? FP_ENFORCEMENT_VOLUNTARY
							 : FP_ENFORCEMENT_UNSPECIFIED;
	p->prior_score_bp = (int32_t)ll(r, row, c++);
	p->alpha_bp = (int32_t)ll(r, row, c++);
	p->probation_payments = (int32_t)ll(r, row, c++);
	p->trusted_score_bp = (int32_t)ll(r, row, c++);
	p->fair_score_bp = (int32_t)ll(r, row, c++);
	p->low_score_bp = (int32_t)ll(r, row, c++);
	p->generous_bp = (int32_t)ll(r, row, c++);
	p->max_open_defaults = (int32_t)ll(r, row, c++);
	p->restricted_minimum_bp = (int32_t)ll(r, row, c++);
	p->probation_credit_minor = ll(r, row, c++);
	p->standard_credit_minor = ll(r, row, c++);
	p->trusted_credit_minor = ll(r, row, c++);
	p->excusing_reasons = reason_mask(str(r, row, c++));
	p->excused_floor_bp = (int32_t)ll(r, row, c++);
	p->late_penalty_bp = (int32_t)ll(r, row, c++);
	p->offer_ttl_seconds = ll(r, row, c++);
	p->payment_window_seconds = ll(r, row, c++);
	p->version = ll(r, row, c++);
}

#define POLICY_COLUMNS                                                                      \
	"p.enforcement, p.prior_score_bp, p.alpha_bp, p.probation_payments, "               \
	"p.trusted_score_bp, p.fair_score_bp, p.low_score_bp, p.generous_bp, "              \
	"p.max_open_defaults, p.restricted_minimum_bp, p.probation_credit_minor, "          \
	"p.standard_credit_minor, p.trusted_credit_minor, "                                 \
	"array_to_string(p.excusing_reasons, ','), p.excused_floor_bp, p.late_penalty_bp, " \
	"p.offer_ttl_seconds, p.payment_window_seconds, p.version"

static void test_policy_defaults(void **state)
{
	/* A vendor without a policies row gets the column defaults of 0001,
	 * which must be PROTOCOL.md's, as fp_policy_defaults() has them. */
	PGresult *r = query("SELECT " POLICY_COLUMNS " FROM fp_policy_of('v_00000000000000ff') p");
	fp_policy sql, c;
	read_policy(r, 0, 0, &sql);
	PQclear(r);
	fp_policy_defaults(&c);
	assert_memory_equal(&sql, &c, sizeof(c));
}

/* One policy as an INSERT; true when PostgreSQL took it. */
static bool policy_insert_ok(const fp_policy *p)
{
	char sql[1024];
	const char *enf = p->enforcement == FP_ENFORCEMENT_ENFORCE     ? "ENFORCE"
			  : p->enforcement == FP_ENFORCEMENT_VOLUNTARY ? "VOLUNTARY"
								       : "UNSPECIFIED";
	snprintf(sql, sizeof(sql),
		 "INSERT INTO policies (vendor_id, enforcement, prior_score_bp, alpha_bp, "
		 "probation_payments, trusted_score_bp, fair_score_bp, low_score_bp, "
		 "generous_bp, max_open_defaults, restricted_minimum_bp, "
		 "probation_credit_minor, standard_credit_minor, trusted_credit_minor, "
		 "excused_floor_bp, late_penalty_bp, offer_ttl_seconds, "
		 "payment_window_seconds) VALUES ('v_00000000000000c1', '%s', %d, %d, %d, %d, "
		 "%d, %d, %d, %d, %d, %" PRId64 ", %" PRId64 ", %" PRId64 ", %d, %d, %" PRId64
		 ", %" PRId64 ")",
		 enf, p->prior_score_bp, p->alpha_bp, p->probation_payments, p->trusted_score_bp,
		 p->fair_score_bp, p->low_score_bp, p->generous_bp, p->max_open_defaults,
		 p->restricted_minimum_bp, p->probation_credit_minor, p->standard_credit_minor,
		 p->trusted_credit_minor, p->excused_floor_bp, p->late_penalty_bp,
		 p->offer_ttl_seconds, p->payment_window_seconds);
	PGresult *r = PQexec(T.pg, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok && strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514") != 0)
		fail_msg("policy insert failed for another reason than a CHECK: %s",
			 PQresultErrorMessage(r));
	PQclear(r);
	run_sql("DELETE FROM policies WHERE vendor_id = 'v_00000000000000c1'");
	return ok;
}

static void test_policy_checks_match_validate(void **state)
{
	run_sql("INSERT INTO vendors (id, name) VALUES ('v_00000000000000c1', 'checks')");
	struct {
		const char *name;
		size_t off;
		bool wide; /* int64 field */
		int64_t lo, hi;
	} fields[] = {
#define F32(f, lo, hi) { #f, offsetof(fp_policy, f), false, lo, hi }
#define F64(f, lo, hi)                                   \
	{                                                \
#f, offsetof(fp_policy, f), true, lo, hi \
	}
		F32(prior_score_bp, 0, 15000),
		F32(alpha_bp, 1, 10000),
		F32(probation_payments, 0, 1000),
		F32(trusted_score_bp, 0, 20000),
		F32(fair_score_bp, 0, 20000),
		F32(low_score_bp, 0, 20000),
		F32(generous_bp, 0, 20000),
		F32(max_open_defaults, 0, 1000),
		F32(restricted_minimum_bp, 0, 10000),
		F64(probation_credit_minor, 0, INT64_MAX),
		F64(standard_credit_minor, 0, INT64_MAX),
		F64(trusted_credit_minor, 0, INT64_MAX),
		F32(excused_floor_bp, 0, 10000),
		F32(late_penalty_bp, 0, 10000),
		F64(offer_ttl_seconds, 1, FP_MAX_SECONDS),
		F64(payment_window_seconds, 1, FP_MAX_SECONDS),
#undef F32
#undef F64
	};
	int cases = 0;
	compare_begin();
	for (size_t i = 0; i < N_OF(fields); i++) {
		int64_t lo = fields[i].lo, hi = fields[i].hi;
		int64_t vals[] = { lo - 1, lo, lo + 1, hi - 1, hi, hi == INT64_MAX ? hi : hi + 1,
				   8000 };
		for (size_t j = 0; j < N_OF(vals); j++) {
			fp_policy p;
			fp_policy_defaults(&p);
			char *at = (char *)&p + fields[i].off;
			if (fields[i].wide) {
				int64_t v = vals[j];
				memcpy(at, &v, sizeof(v));
			} else {
				int32_t v = (int32_t)vals[j];
				memcpy(at, &v, sizeof(v));
			}
			bool c_ok = fp_policy_validate(&p, NULL) == 0;
			bool sql_ok = policy_insert_ok(&p);
			if (c_ok != sql_ok)
				mismatch("%s = %" PRId64 ": C %s, SQL %s", fields[i].name, vals[j],
					 c_ok ? "valid" : "invalid", sql_ok ? "valid" : "invalid");
			cases++;
		}
	}
	/* The threshold order, and the enforcement values. */
	int32_t orders[][4] = {
		/* low, fair, trusted, generous */
		{ 5000, 8000, 9000, 11000 },    { 8001, 8000, 9000, 11000 },
		{ 5000, 9001, 9000, 11000 },    { 5000, 8000, 9000, 7999 },
		{ 5000, 8000, 9000, 8000 },     { 0, 0, 0, 0 },
		{ 20000, 20000, 20000, 20000 },
	};
	for (size_t i = 0; i < N_OF(orders); i++) {
		fp_policy p;
		fp_policy_defaults(&p);
		p.low_score_bp = orders[i][0];
		p.fair_score_bp = orders[i][1];
		p.trusted_score_bp = orders[i][2];
		p.generous_bp = orders[i][3];
		bool c_ok = fp_policy_validate(&p, NULL) == 0;
		bool sql_ok = policy_insert_ok(&p);
		if (c_ok != sql_ok)
			mismatch("low %d fair %d trusted %d generous %d: C %s, SQL %s",
				 orders[i][0], orders[i][1], orders[i][2], orders[i][3],
				 c_ok ? "valid" : "invalid", sql_ok ? "valid" : "invalid");
		cases++;
	}
	for (int e = 0; e <= 2; e++) {
		fp_policy p;
		fp_policy_defaults(&p);
		p.enforcement = (fp_enforcement)e;
		bool c_ok = fp_policy_validate(&p, NULL) == 0;
		if (c_ok != policy_insert_ok(&p))
			mismatch("enforcement %d: C %s", e, c_ok ? "valid" : "invalid");
		cases++;
	}
	compare_end("policy CHECKs vs fp_policy_validate", cases, 100);
}

/* ---------------------------------------------------------------- rules 1-7 */

static void test_score_step(void **state)
{
	PGresult *r = query(
		"SELECT s, f, a, fp_sql_score_step(s, f, a) FROM "
		"(SELECT generate_series(0, 20000, 211) UNION SELECT unnest(ARRAY[1, 4999, 5000, "
		" 5001, 7999, 8000, 8001, 9999, 10000, 10001, 14999, 15000, 15001, 19999, 20000])"
		") ss(s), "
		"(SELECT generate_series(-20000, 25000, 401) UNION SELECT unnest(ARRAY[-1, 0, 1, "
		" 9999, 10000, 10001, 14999, 15000, 15001, 20000])) ff(f), "
		"unnest(ARRAY[1, 2, 999, 1000, 2999, 3000, 3001, 3333, 5000, 7777, 9999, 10000]) "
		"a");
	int n = PQntuples(r);
	compare_begin();
	for (int i = 0; i < n; i++) {
		int32_t s = (int32_t)ll(r, i, 0), f = (int32_t)ll(r, i, 1),
			a = (int32_t)ll(r, i, 2);
		int32_t want = fp_score_step(s, f, a);
		if (ll(r, i, 3) != want)
			mismatch("score_step(score %d, fairness %d, alpha %d): SQL %s, C %d", s, f,
				 a, str(r, i, 3), want);
	}
	PQclear(r);
	compare_end("fp_sql_score_step", n, 100000);
}

static void test_tier(void **state)
{
	PGresult *r = query(
		"SELECT p.pp, p.tr, p.fa, p.lo, p.mo, s, n, d, "
		" fp_sql_tier(p.pp, p.tr, p.fa, p.lo, p.mo, s, n, d) FROM "
		"(VALUES (3, 9000, 8000, 5000, 2), (0, 0, 0, 0, 0), (1, 8000, 8000, 8000, 1), "
		" (1000, 20000, 20000, 20000, 1000), (5, 12000, 7000, 4000, 3), "
		" (2, 15000, 10000, 0, 1000), (10, 9500, 9500, 2000, 4), (0, 20000, 0, 0, 1)) "
		" p(pp, tr, fa, lo, mo), "
		"LATERAL unnest(ARRAY[0, 1, p.lo - 1, p.lo, p.lo + 1, p.fa - 1, p.fa, p.fa + 1, "
		" p.tr - 1, p.tr, p.tr + 1, 15000, 20000]) s, "
		"LATERAL unnest(ARRAY[0, 1, p.pp - 1, p.pp, p.pp + 1, 2000]) n, "
		"LATERAL unnest(ARRAY[0, 1, p.mo - 1, p.mo, p.mo + 1]) d "
		"WHERE s >= 0 AND n >= 0 AND d >= 0");
	int rows = PQntuples(r);
	compare_begin();
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		fp_policy_defaults(&p);
		p.probation_payments = (int32_t)ll(r, i, 0);
		p.trusted_score_bp = (int32_t)ll(r, i, 1);
		p.fair_score_bp = (int32_t)ll(r, i, 2);
		p.low_score_bp = (int32_t)ll(r, i, 3);
		p.max_open_defaults = (int32_t)ll(r, i, 4);
		int32_t s = (int32_t)ll(r, i, 5), n = (int32_t)ll(r, i, 6),
			d = (int32_t)ll(r, i, 7);
		const char *want = tier_names[fp_tier_of(&p, s, n, d)];
		if (strcmp(str(r, i, 8), want) != 0)
			mismatch("tier(probation_payments %d trusted %d fair %d low %d "
				 "max_open_defaults %d; score %d payments %d open_defaults %d): "
				 "SQL %s, C %s",
				 p.probation_payments, p.trusted_score_bp, p.fair_score_bp,
				 p.low_score_bp, p.max_open_defaults, s, n, d, str(r, i, 8), want);
	}
	PQclear(r);
	compare_end("fp_sql_tier", rows, 2000);
}

static void test_credit(void **state)
{
	PGresult *r = query(
		"SELECT c.pc, c.sc, c.tc, t, fp_sql_credit_limit(c.pc, c.sc, c.tc, t) FROM "
		"(VALUES (2000::bigint, 10000::bigint, 50000::bigint), (0, 0, 0), (1, 2, 3), "
		" (1000000000000000, 0, 9223372036854775807)) c(pc, sc, tc), "
		"unnest(ARRAY['UNSPECIFIED', 'FIXED_PRICE', 'RESTRICTED', 'PROBATION', 'STANDARD', "
		" 'TRUSTED']) t");
	int rows = PQntuples(r);
	compare_begin();
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		fp_policy_defaults(&p);
		p.probation_credit_minor = ll(r, i, 0);
		p.standard_credit_minor = ll(r, i, 1);
		p.trusted_credit_minor = ll(r, i, 2);
		fp_tier t = (fp_tier)name_index(tier_names, N_OF(tier_names), str(r, i, 3));
		int64_t want = fp_credit_limit(&p, t);
		if (ll(r, i, 4) != want)
			mismatch("credit_limit(%s, credits %s/%s/%s): SQL %s, C %" PRId64,
				 str(r, i, 3), str(r, i, 0), str(r, i, 1), str(r, i, 2),
				 str(r, i, 4), want);
	}
	int total = rows;
	PQclear(r);

	r = query("SELECT u, s, l, fp_sql_credit_fits(u, s, l) FROM "
		  "unnest(ARRAY[0, 1, 999, 1000, 1001, 1000000000000000, 9223372036854775807]) u, "
		  "unnest(ARRAY[0, 1, 999, 1000, 1001, 1000000000000000, 9223372036854775807]) s, "
		  "unnest(ARRAY[0, 1, 999, 1000, 1001, 2000, 1000000000000000, "
		  " 9223372036854775807]) l");
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		bool want = fp_credit_fits(ll(r, i, 0), ll(r, i, 1), ll(r, i, 2));
		if (boolean(r, i, 3) != want)
			mismatch("credit_fits(used %s, sp %s, limit %s): SQL %s, C %d",
				 str(r, i, 0), str(r, i, 1), str(r, i, 2), str(r, i, 3), want);
	}
	total += rows;
	PQclear(r);
	compare_end("fp_sql_credit_limit, fp_sql_credit_fits", total, 400);
}

static void test_amounts(void **state)
{
	int total = 0;
	compare_begin();

	/* Rule 1. */
	PGresult *r = query("SELECT o, u, n, fp_sql_cycle_sp(o, u, n) FROM "
			    "unnest(ARRAY[-1, 0, 5, 1000000000000000]) o, "
			    "unnest(ARRAY[-1, 0, 1, 7, 1000000000000000, 9223372036854775807]) u, "
			    "unnest(ARRAY[-1, 0, 1, 3, 10000, 1000000000, 9223]) n");
	int rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		int64_t sp = -7;
		bool ok = fp_cycle_sp(ll(r, i, 0), ll(r, i, 1), ll(r, i, 2), &sp) == 0;
		if (ok != !is_null(r, i, 3) || (ok && ll(r, i, 3) != sp))
			mismatch(
				"cycle_sp(offer sp %s, unit %s, usage %s): SQL '%s', C %s %" PRId64,
				str(r, i, 0), str(r, i, 1), str(r, i, 2), str(r, i, 3),
				ok ? "ok" : "refused", sp);
	}
	total += rows;
	PQclear(r);

	/* Rule 2. */
	r = query("SELECT s, d, fp_sql_amount_from_differential(s, d) FROM "
		  "unnest(ARRAY[-1, 0, 1, 3, 7, 999, 1000, 1000000000000000, 4611686018427387903, "
		  " 9223372036854775807]) s, "
		  "unnest(ARRAY[-10001, -10000, -9999, -5000, -3333, -1, 0, 1, 333, 10000, "
		  " 1000000]) d");
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		int64_t amount = -7;
		bool ok = fp_amount_from_differential(ll(r, i, 0), (int32_t)ll(r, i, 1), &amount) ==
			  0;
		if (ok != !is_null(r, i, 2) || (ok && ll(r, i, 2) != amount))
			mismatch("amount_from_differential(sp %s, differential %s): SQL '%s', "
				 "C %s %" PRId64,
				 str(r, i, 0), str(r, i, 1), str(r, i, 2), ok ? "ok" : "refused",
				 amount);
	}
	total += rows;
	PQclear(r);

	/* Rule 3. */
	r = query("SELECT m, a, s, n, fp_sql_check_mode(m, a, s, n) FROM "
		  "unnest(ARRAY['UNSPECIFIED', 'FAIRPAY', 'FAIRPAY_MINIMUM', 'SET_PRICE']) m, "
		  "unnest(ARRAY[-1, 0, 1, 499, 500, 501, 1500]) a, unnest(ARRAY[0, 500, 1500]) s, "
		  "unnest(ARRAY[0, 1, 500, 501]) n");
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		fp_mode m = (fp_mode)name_index(mode_names, N_OF(mode_names), str(r, i, 0));
		bool want = fp_check_mode(m, ll(r, i, 1), ll(r, i, 2), ll(r, i, 3)) == 0;
		if (boolean(r, i, 4) != want)
			mismatch("check_mode(%s, amount %s, set %s, min %s): SQL %s, C %d",
				 str(r, i, 0), str(r, i, 1), str(r, i, 2), str(r, i, 3),
				 str(r, i, 4), want);
	}
	total += rows;
	PQclear(r);

	/* Rule 4. */
	r = query("SELECT m, a, s, fp_sql_raw_fairness(m, a, s) FROM "
		  "unnest(ARRAY['FAIRPAY', 'FAIRPAY_MINIMUM', 'SET_PRICE']) m, "
		  "unnest(ARRAY[0, 1, 2, 3, 7, 499, 500, 501, 999, 1000, 1001, 1999, 2000, 2001, "
		  " 3000, 999999999999999, 1000000000000000, 922337203685477, 922337203685478, "
		  " 9223372036854775807]) a, "
		  "unnest(ARRAY[0, 1, 3, 7, 1000, 1001, 3000, 1000000000000000, "
		  " 9223372036854775807]) s");
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		fp_mode m = (fp_mode)name_index(mode_names, N_OF(mode_names), str(r, i, 0));
		int32_t want = fp_raw_fairness(m, ll(r, i, 1), ll(r, i, 2));
		if (ll(r, i, 3) != want)
			mismatch("raw_fairness(%s, amount %s, sp %s): SQL %s, C %d", str(r, i, 0),
				 str(r, i, 1), str(r, i, 2), str(r, i, 3), want);
	}
	total += rows;
	PQclear(r);
	compare_end("rules 1-4 (cycle_sp, amount, check_mode, raw_fairness)", total, 1000);
}

/* Policies for rules 5-6 and the verdict: fair, low, generous, excusing mask,
 * excused floor, late penalty. */
#define JUDGE_POLICIES                                                                \
	"(VALUES (8000, 5000, 11000, 26, 8000, 2000), (0, 0, 0, 0, 0, 0), "           \
	" (10000, 9000, 10000, 254, 10000, 10000), (7000, 3000, 15000, 2, 5000, 1), " \
	" (20000, 20000, 20000, 128, 9999, 5000)) p(fa, lo, ge, em, fl, lp)"

static void judge_policy(PGresult *r, int row, fp_policy *p)
{
	fp_policy_defaults(p);
	p->fair_score_bp = (int32_t)ll(r, row, 0);
	p->low_score_bp = (int32_t)ll(r, row, 1);
	p->generous_bp = (int32_t)ll(r, row, 2);
	p->excusing_reasons = (uint32_t)ll(r, row, 3);
	p->excused_floor_bp = (int32_t)ll(r, row, 4);
	p->late_penalty_bp = (int32_t)ll(r, row, 5);
}

static void test_excuse_and_late(void **state)
{
	int total = 0;
	compare_begin();
	PGresult *r = query(
		"SELECT p.*, m, raw, e.fairness_bp, e.review FROM " JUDGE_POLICIES ", "
		"generate_series(0, 254, 2) m, "
		"LATERAL unnest(ARRAY[0, 1, 4999, 5000, 7999, 8000, 8001, 9999, 10000, 20000, "
		" p.fl - 1, p.fl, p.fl + 1]) raw, "
		"LATERAL fp_sql_excuse(t_reasons(p.em), p.fl, t_reasons(m), raw) e "
		"WHERE raw >= 0");
	int rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		judge_policy(r, i, &p);
		uint32_t m = (uint32_t)ll(r, i, 6);
		int32_t raw = (int32_t)ll(r, i, 7);
		fp_review rv;
		int32_t f = fp_excuse(&p, m, raw, &rv);
		if (ll(r, i, 8) != f || strcmp(str(r, i, 9), review_names[rv]) != 0)
			mismatch("excuse(excusing 0x%x floor %d; reasons 0x%x raw %d): SQL %s %s, "
				 "C %d %s",
				 p.excusing_reasons, p.excused_floor_bp, m, raw, str(r, i, 8),
				 str(r, i, 9), f, review_names[rv]);
	}
	total += rows;
	PQclear(r);

	r = query(
		"SELECT lp, f, fp_sql_late(lp, f), fp_sql_review_fairness(f, true), "
		" fp_sql_review_fairness(f, false) FROM "
		"unnest(ARRAY[0, 1, 2000, 9999, 10000]) lp, "
		"unnest(ARRAY[0, 1, 1999, 2000, 2001, 8000, 9999, 10000, 10001, 15000, 20000]) f");
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		fp_policy_defaults(&p);
		p.late_penalty_bp = (int32_t)ll(r, i, 0);
		int32_t f = (int32_t)ll(r, i, 1);
		int32_t late = fp_late_fairness(&p, f);
		int32_t acc = fp_review_fairness(f, true), rej = fp_review_fairness(f, false);
		if (ll(r, i, 2) != late || ll(r, i, 3) != acc || ll(r, i, 4) != rej)
			mismatch("late(penalty %d, fairness %d) / review_fairness: SQL %s %s %s, "
				 "C %d %d %d",
				 p.late_penalty_bp, f, str(r, i, 2), str(r, i, 3), str(r, i, 4),
				 late, acc, rej);
	}
	total += rows;
	PQclear(r);
	compare_end("fp_sql_excuse, fp_sql_late, fp_sql_review_fairness", total, 3000);
}

static void test_verdict(void **state)
{
	PGresult *r =
		query("SELECT p.*, f, fp_sql_verdict(p.fa, p.lo, p.ge, f) FROM " JUDGE_POLICIES
		      ", LATERAL unnest(ARRAY[0, 1, p.lo - 1, p.lo, p.lo + 1, p.fa - 1, "
		      " p.fa, p.fa + 1, p.ge - 1, p.ge, p.ge + 1, 10000, 20000]) f "
		      "WHERE f >= 0");
	int rows = PQntuples(r);
	compare_begin();
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		judge_policy(r, i, &p);
		int32_t f = (int32_t)ll(r, i, 6);
		const char *want = verdict_names[fp_verdict_of(&p, f)];
		if (strcmp(str(r, i, 7), want) != 0)
			mismatch("verdict(fair %d low %d generous %d; fairness %d): SQL %s, C %s",
				 p.fair_score_bp, p.low_score_bp, p.generous_bp, f, str(r, i, 7),
				 want);
	}
	PQclear(r);
	compare_end("fp_sql_verdict", rows, 50);
}

static void test_assess(void **state)
{
	PGresult *r = query(
		"SELECT p.*, m, a, s, rm, late, x.raw_fairness_bp, x.fairness_bp, x.verdict, "
		" x.review FROM " JUDGE_POLICIES ", "
		"unnest(ARRAY['FAIRPAY', 'FAIRPAY_MINIMUM', 'SET_PRICE']) m, "
		"unnest(ARRAY[0, 1, 299, 300, 500, 799, 800, 801, 999, 1000, 1001, 1100, 1999, "
		" 2000, 5000]) a, unnest(ARRAY[0, 3, 1000]) s, "
		"unnest(ARRAY[0, 2, 4, 8, 16, 32, 64, 128, 254, 130]) rm, "
		"unnest(ARRAY[false, true]) late, "
		"LATERAL fp_sql_assess(p.fa, p.lo, p.ge, t_reasons(p.em), p.fl, p.lp, m, a, s, "
		" t_reasons(rm), late) x");
	int rows = PQntuples(r);
	compare_begin();
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		judge_policy(r, i, &p);
		fp_mode m = (fp_mode)name_index(mode_names, N_OF(mode_names), str(r, i, 6));
		int64_t a = ll(r, i, 7), s = ll(r, i, 8);
		uint32_t rm = (uint32_t)ll(r, i, 9);
		bool late = boolean(r, i, 10);
		fp_assessment x;
		fp_assess_payment(&p, m, a, s, rm, late, &x);
		if (ll(r, i, 11) != x.raw_fairness_bp || ll(r, i, 12) != x.fairness_bp ||
		    strcmp(str(r, i, 13), verdict_names[x.verdict]) != 0 ||
		    strcmp(str(r, i, 14), review_names[x.review]) != 0)
			mismatch("assess(fair %d low %d generous %d excusing 0x%x floor %d "
				 "penalty %d; %s amount %" PRId64 " sp %" PRId64
				 " reasons 0x%x late %d): SQL %s %s %s %s, C %d %d %s %s",
				 p.fair_score_bp, p.low_score_bp, p.generous_bp, p.excusing_reasons,
				 p.excused_floor_bp, p.late_penalty_bp, mode_names[m], a, s, rm,
				 late, str(r, i, 11), str(r, i, 12), str(r, i, 13), str(r, i, 14),
				 x.raw_fairness_bp, x.fairness_bp, verdict_names[x.verdict],
				 review_names[x.review]);
	}
	PQclear(r);
	compare_end("fp_sql_assess", rows, 10000);
}

static void test_review(void **state)
{
	PGresult *r = query(
		"SELECT p.*, raw, rv, late, acc, x.raw_fairness_bp, x.fairness_bp, x.verdict, "
		" x.review FROM " JUDGE_POLICIES ", "
		"unnest(ARRAY[0, 1, 2000, 4999, 5000, 7999, 8000, 9999, 10000, 10001, 15000, "
		" 20000]) raw, "
		"unnest(ARRAY['UNSPECIFIED', 'NOT_NEEDED', 'PENDING', 'ACCEPTED', 'REJECTED']) rv, "
		"unnest(ARRAY[false, true]) late, unnest(ARRAY[false, true]) acc, "
		"LATERAL fp_sql_review(p.fa, p.lo, p.ge, p.lp, raw, rv, late, acc) x");
	int rows = PQntuples(r);
	compare_begin();
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		judge_policy(r, i, &p);
		int32_t raw = (int32_t)ll(r, i, 6);
		fp_review rv =
			(fp_review)name_index(review_names, N_OF(review_names), str(r, i, 7));
		bool late = boolean(r, i, 8), acc = boolean(r, i, 9);
		fp_assessment x;
		bool ok = fp_review_payment(&p, raw, rv, late, acc, &x) == 0;
		bool same;
		if (!ok)
			same = is_null(r, i, 10) && is_null(r, i, 11) && is_null(r, i, 12) &&
			       is_null(r, i, 13);
		else
			same = !is_null(r, i, 10) && ll(r, i, 10) == x.raw_fairness_bp &&
			       ll(r, i, 11) == x.fairness_bp &&
			       strcmp(str(r, i, 12), verdict_names[x.verdict]) == 0 &&
			       strcmp(str(r, i, 13), review_names[x.review]) == 0;
		if (!same)
			mismatch("review(fair %d low %d generous %d penalty %d; raw %d review %s "
				 "late %d accept %d): SQL '%s' '%s' '%s' '%s', C %s %d %d %s %s",
				 p.fair_score_bp, p.low_score_bp, p.generous_bp, p.late_penalty_bp,
				 raw, review_names[rv], late, acc, str(r, i, 10), str(r, i, 11),
				 str(r, i, 12), str(r, i, 13), ok ? "ok" : "refused",
				 ok ? x.raw_fairness_bp : 0, ok ? x.fairness_bp : 0,
				 ok ? verdict_names[x.verdict] : "-",
				 ok ? review_names[x.review] : "-");
	}
	PQclear(r);
	compare_end("fp_sql_review", rows, 1000);
}

/* ---------------------------------------------------------------- rule 10 */

/* The terms C gives, with reasons comma-joined. */
static void terms_reasons(const fp_terms *t, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < t->n_reasons; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s", i ? "," : "",
			 offer_reason_names[t->reasons[i]]);
	}
}

/* Optional bigint column: NULL means absent. */
static bool opt_ll(PGresult *r, int row, int col, int64_t *v)
{
	if (is_null(r, row, col))
		return false;
	*v = ll(r, row, col);
	return true;
}

static void test_offer_terms(void **state)
{
	/* Columns: 0-9 policy, 10-13 product, 14-17 standing, 18-20 overrides,
	 * 21-27 terms. Standings are chosen against the first two policies so
	 * that every tier occurs, with credit that fits exactly, and by one
	 * too little, for some of the SPs. */
	PGresult *r = query(
		"SELECT p.*, pr.sp, pr.lp, pr.pm, mt, st.*, ov.*, t.* FROM "
		"(VALUES ('ENFORCE', 3, 9000, 8000, 5000, 2, 5000, 2000::bigint, 10000::bigint, "
		"   50000::bigint), "
		" ('ENFORCE', 1, 12000, 7000, 4000, 1, 3333, 1000, 3000, 6000), "
		" ('VOLUNTARY', 3, 9000, 8000, 5000, 2, 5000, 2000, 10000, 50000), "
		" ('VOLUNTARY', 0, 20000, 0, 0, 0, 10000, 0, 0, 0)) "
		" p(enf, pp, tr, fa, lo, mo, rmb, pc, sc, tc), "
		"(SELECT * FROM unnest(ARRAY[0, 1000, 2000, 2001]::bigint[]) sp, "
		" unnest(ARRAY[1500]::bigint[]) lp, unnest(ARRAY[0, 1, 600]::bigint[]) pm) pr, "
		"unnest(ARRAY[NULL, 'FIXED_PRICE', 'RESTRICTED', 'PROBATION', 'STANDARD', "
		" 'TRUSTED']) mt, "
		"(VALUES (8000, 0, 0, 0::bigint), (8000, 0, 0, 1000), (4999, 5, 0, 0), "
		" (9000, 5, 2, 0), (4000, 5, 3, 0), (7999, 3, 0, 0), (7999, 3, 1, 8000), "
		" (8000, 3, 0, 8000), (9000, 10, 0, 48000), (15000, 100, 0, 0), (8500, 2, 1, 0), "
		" (6999, 1, 0, 1000), (12000, 1, 0, 4000)) st(score, pay, od, used), "
		"(VALUES (NULL::text, NULL::bigint, NULL::bigint), ('FAIRPAY', NULL, NULL), "
		" ('FAIRPAY_MINIMUM', NULL, NULL), ('SET_PRICE', NULL, NULL), (NULL, 500, NULL), "
		" (NULL, 5000, NULL), (NULL, NULL, 0), (NULL, NULL, 300), "
		" ('FAIRPAY_MINIMUM', NULL, 250), ('FAIRPAY', NULL, 250), ('SET_PRICE', NULL, "
		"250), "
		" ('FAIRPAY_MINIMUM', 1800, NULL), (NULL, 0, 0), ('FAIRPAY_MINIMUM', 3000, 0)) "
		" ov(om, osp, omin), "
		"LATERAL fp_sql_offer_terms(p.enf, p.pp, p.tr, p.fa, p.lo, p.mo, p.rmb, p.pc, "
		"p.sc, "
		" p.tc, pr.sp, pr.lp, pr.pm, mt, st.score, st.pay, st.od, st.used, ov.om, ov.osp, "
		" ov.omin) t");
	int rows = PQntuples(r);
	compare_begin();
	for (int i = 0; i < rows; i++) {
		fp_policy p;
		fp_policy_defaults(&p);
		p.enforcement = strcmp(str(r, i, 0), "ENFORCE") == 0 ? FP_ENFORCEMENT_ENFORCE
								     : FP_ENFORCEMENT_VOLUNTARY;
		p.probation_payments = (int32_t)ll(r, i, 1);
		p.trusted_score_bp = (int32_t)ll(r, i, 2);
		p.fair_score_bp = (int32_t)ll(r, i, 3);
		p.low_score_bp = (int32_t)ll(r, i, 4);
		p.max_open_defaults = (int32_t)ll(r, i, 5);
		p.restricted_minimum_bp = (int32_t)ll(r, i, 6);
		p.probation_credit_minor = ll(r, i, 7);
		p.standard_credit_minor = ll(r, i, 8);
		p.trusted_credit_minor = ll(r, i, 9);
		fp_product pr = {
			.suggested_price_minor = ll(r, i, 10),
			.list_price_minor = ll(r, i, 11),
			.minimum_price_minor = ll(r, i, 12),
			/* The SQL copy (0002) reads a NULL min_tier as PROBATION, the
			 * old default; C's unset one now means RESTRICTED, so C is
			 * given PROBATION explicitly for those rows. */
			.min_tier = is_null(r, i, 13)
					    ? FP_TIER_PROBATION
					    : (fp_tier)name_index(tier_names, N_OF(tier_names),
								  str(r, i, 13)),
		};
		fp_standing st = {
			.score_bp = (int32_t)ll(r, i, 14),
			.payments = (int32_t)ll(r, i, 15),
			.open_defaults = (int32_t)ll(r, i, 16),
			.credit_used_minor = ll(r, i, 17),
		};
		fp_overrides ov = { 0 };
		if (!is_null(r, i, 18)) {
			ov.has_mode = true;
			ov.mode = (fp_mode)name_index(mode_names, N_OF(mode_names), str(r, i, 18));
		}
		ov.has_suggested_price = opt_ll(r, i, 19, &ov.suggested_price_minor);
		ov.has_minimum_price = opt_ll(r, i, 20, &ov.minimum_price_minor);
		bool any_ov = ov.has_mode || ov.has_suggested_price || ov.has_minimum_price;

		fp_terms t;
		const char *field = NULL;
		if (fp_offer_terms(&p, &pr, &st, any_ov ? &ov : NULL, &t, &field) != 0)
			fail_msg("row %d: C refused valid terms inputs (%s)", i, field);
		char reasons[256];
		terms_reasons(&t, reasons, sizeof(reasons));
		bool same = strcmp(str(r, i, 21), mode_names[t.mode]) == 0 &&
			    ll(r, i, 22) == t.suggested_price_minor &&
			    ll(r, i, 23) == t.minimum_price_minor &&
			    ll(r, i, 24) == t.set_price_minor &&
			    strcmp(str(r, i, 25), tier_names[t.tier]) == 0 &&
			    ll(r, i, 26) == t.credit_limit_minor &&
			    strcmp(str(r, i, 27), reasons) == 0;
		if (!same)
			mismatch("offer_terms(%s pp %d trusted %d fair %d low %d mod %d rmin %d "
				 "credit %" PRId64 "/%" PRId64 "/%" PRId64 "; product sp %" PRId64
				 " list %" PRId64 " min %" PRId64
				 " min_tier %s; score %d payments %d "
				 "open_defaults %d used %" PRId64 "; overrides mode '%s' sp '%s' "
				 "min '%s'):\n  SQL %s sp %s min %s set %s %s limit %s [%s]\n"
				 "  C   %s sp %" PRId64 " min %" PRId64 " set %" PRId64
				 " %s limit %" PRId64 " [%s]",
				 str(r, i, 0), p.probation_payments, p.trusted_score_bp,
				 p.fair_score_bp, p.low_score_bp, p.max_open_defaults,
				 p.restricted_minimum_bp, p.probation_credit_minor,
				 p.standard_credit_minor, p.trusted_credit_minor,
				 pr.suggested_price_minor, pr.list_price_minor,
				 pr.minimum_price_minor, tier_names[pr.min_tier], st.score_bp,
				 st.payments, st.open_defaults, st.credit_used_minor, str(r, i, 18),
				 str(r, i, 19), str(r, i, 20), str(r, i, 21), str(r, i, 22),
				 str(r, i, 23), str(r, i, 24), str(r, i, 25), str(r, i, 26),
				 str(r, i, 27), mode_names[t.mode], t.suggested_price_minor,
				 t.minimum_price_minor, t.set_price_minor, tier_names[t.tier],
				 t.credit_limit_minor, reasons);
	}
	PQclear(r);
	compare_end("fp_sql_offer_terms", rows, 50000);
}

static void test_offer_terms_refusals(void **state)
{
	/* Out-of-range inputs: SQL raises FPARG naming the field C names.
	 * Columns: product sp, list, min, credit used, override mode, sp, min. */
	struct {
		int64_t sp, list, min, used;
		const char *om;    /* NULL: absent */
		int64_t osp, omin; /* INT64_MIN: absent */
	} bad[] = {
		{ -1, 0, 0, 0, NULL, INT64_MIN, INT64_MIN },
		{ 0, -1, 0, 0, NULL, INT64_MIN, INT64_MIN },
		{ 0, 0, -1, 0, NULL, INT64_MIN, INT64_MIN },
		{ 0, 0, 0, -1, NULL, INT64_MIN, INT64_MIN },
		{ 0, 0, 0, 0, "UNSPECIFIED", INT64_MIN, INT64_MIN },
		{ 0, 0, 0, 0, NULL, -1, INT64_MIN },
		{ 0, 0, 0, 0, NULL, INT64_MIN, -1 },
		{ -1, 0, 0, 0, "UNSPECIFIED", -1, -1 },
		{ 0, 0, 0, -1, NULL, -1, -1 },
		{ 0, 0, 0, 0, "UNSPECIFIED", -1, -1 },
	};
	for (size_t i = 0; i < N_OF(bad); i++) {
		fp_policy p;
		fp_policy_defaults(&p);
		fp_product pr = { bad[i].sp, bad[i].list, bad[i].min, FP_TIER_PROBATION };
		fp_standing st = { 8000, 0, 0, bad[i].used };
		fp_overrides ov = { 0 };
		ov.has_mode = bad[i].om != NULL;
		ov.mode = FP_MODE_UNSPECIFIED;
		ov.has_suggested_price = bad[i].osp != INT64_MIN;
		ov.suggested_price_minor = bad[i].osp;
		ov.has_minimum_price = bad[i].omin != INT64_MIN;
		ov.minimum_price_minor = bad[i].omin;
		fp_terms t;
		const char *want = NULL;
		if (fp_offer_terms(&p, &pr, &st, &ov, &t, &want) == 0 || want == NULL)
			fail_msg("case %zu: C accepted bad terms inputs", i);

		char osp[32] = "NULL", omin[32] = "NULL", om[32] = "NULL";
		if (ov.has_suggested_price)
			snprintf(osp, sizeof(osp), "%" PRId64, bad[i].osp);
		if (ov.has_minimum_price)
			snprintf(omin, sizeof(omin), "%" PRId64, bad[i].omin);
		if (ov.has_mode)
			snprintf(om, sizeof(om), "'%s'", bad[i].om);
		char *sql =
			h_fmt("SELECT * FROM fp_sql_offer_terms('ENFORCE', 3, 9000, 8000, 5000, "
			      "2, 5000, 2000, 10000, 50000, %" PRId64 ", %" PRId64 ", %" PRId64
			      ", 'PROBATION', 8000, 0, 0, %" PRId64 ", %s, %s, %s)",
			      bad[i].sp, bad[i].list, bad[i].min, bad[i].used, om, osp, omin);
		PGresult *r = PQexec(T.pg, sql);
		const char *state_ = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *col = PQresultErrorField(r, PG_DIAG_COLUMN_NAME);
		if (PQresultStatus(r) != PGRES_FATAL_ERROR || state_ == NULL ||
		    strcmp(state_, "FPARG") != 0 || col == NULL || strcmp(col, want) != 0)
			fail_msg("%s: want FPARG on %s, got %s %s (%s)", sql, want,
				 state_ ? state_ : "success", col ? col : "-",
				 PQresultErrorMessage(r));
		PQclear(r);
		free(sql);
	}
}

/* ---------------------------------------------------------------- replay */

typedef struct hist {
	int t;       /* seconds after the base time */
	char id[24]; /* payment id, or the offer id of a default */
	int32_t f;   /* fairness (0 for a default) */
} hist;

static int hist_cmp(const void *a, const void *b)
{
	const hist *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void test_replay(void **state)
{
	static const int32_t alphas[] = { 1, 1000, 3000, 3333, 7001, 10000 };
	int cases = 0;
	unsigned serial = 0;
	compare_begin();
	for (int round = 0; round < 6; round++) {
		char vendor[24];
		snprintf(vendor, sizeof(vendor), "v_%016x", 0xd00 + round);
		fp_policy p;
		fp_policy_defaults(&p);
		p.alpha_bp = alphas[round];
		p.prior_score_bp = rnd_below(15001);
		char *sql = h_fmt("INSERT INTO vendors (id, name) VALUES ('%s', 'replay'); "
				  "INSERT INTO policies (vendor_id, alpha_bp, prior_score_bp) "
				  "VALUES ('%s', %d, %d); "
				  "INSERT INTO products (vendor_id, sku, name, currency, "
				  "suggested_price_minor, list_price_minor) "
				  "VALUES ('%s', 'r', 'r', 'EUR', 1000, 1000)",
				  vendor, vendor, p.alpha_bp, p.prior_score_bp, vendor);
		run_sql(sql);
		free(sql);

		for (int cust = 0; cust < 8; cust++) {
			int n = rnd_below(80);
			hist *h = calloc((size_t)n + 1, sizeof(*h));
			sbuf offers = { 0 }, pays = { 0 };
			sb_add(&offers,
			       "INSERT INTO offers (vendor_id, id, customer_id, sku, status, "
			       "mode, currency, suggested_price_minor, tier, created_at, "
			       "expires_at, closed_at) VALUES ");
			sb_add(&pays, "INSERT INTO payments (vendor_id, id, offer_id, customer_id, "
				      "amount_minor, currency, suggested_price_minor, fairness_bp, "
				      "raw_fairness_bp, verdict, created_at) VALUES ");
			int n_pays = 0;
			for (int k = 0; k < n; k++) {
				/* Few distinct times, so that ties (broken by id) occur. */
				h[k].t = rnd_below(3 * n + 1);
				bool is_default = rnd_below(4) == 0;
				h[k].f = is_default          ? 0
					 : rnd_below(5) == 0 ? 15000 + rnd_below(5001)
							     : rnd_below(15001);
				char oid[24];
				/* Unique, in an order unrelated to time: an odd
				 * multiplier is a bijection modulo 2^32. */
				snprintf(oid, sizeof(oid), "o_%016x", ++serial * 2654435761u);
				const char *at = "timestamptz '2024-01-01 00:00:00+00'";
				sb_add(&offers,
				       "%s('%s', '%s', 'c%d', 'r', '%s', 'FAIRPAY', 'EUR', 1000, "
				       "'STANDARD', %s, %s + interval '1 day', %s + %d * interval "
				       "'1 second')",
				       k ? ", " : "", vendor, oid, cust,
				       is_default ? "DEFAULTED" : "PAID", at, at, at, h[k].t);
				if (is_default) {
					snprintf(h[k].id, sizeof(h[k].id), "%s", oid);
				} else {
					snprintf(h[k].id, sizeof(h[k].id), "p_%s", oid + 2);
					sb_add(&pays,
					       "%s('%s', '%s', '%s', 'c%d', 0, 'EUR', 1000, %d, "
					       "%d, "
					       "'FAIR', %s + %d * interval '1 second')",
					       n_pays ? ", " : "", vendor, h[k].id, oid, cust,
					       h[k].f, h[k].f, at, h[k].t);
					n_pays++;
				}
			}
			if (n > 0)
				run_sql(offers.s);
			if (n_pays > 0)
				run_sql(pays.s);
			free(offers.s);
			free(pays.s);

			qsort(h, (size_t)n, sizeof(*h), hist_cmp);
			int32_t *f = calloc((size_t)n + 1, sizeof(*f));
			for (int k = 0; k < n; k++)
				f[k] = h[k].f;
			int32_t want = fp_score_replay(&p, f, (size_t)n);
			sql = h_fmt("SELECT fp_recompute_score('%s', 'c%d')", vendor, cust);
			long long got = query_ll(sql);
			free(sql);
			if (got != want) {
				char list[4096] = "";
				for (int k = 0; k < n && strlen(list) < sizeof(list) - 40; k++)
					snprintf(list + strlen(list), sizeof(list) - strlen(list),
						 " %d@%d", f[k], h[k].t);
				mismatch("replay(prior %d alpha %d; fairness@time%s): SQL %lld, C "
					 "%d",
					 p.prior_score_bp, p.alpha_bp, list, got, want);
			}
			cases++;
			free(f);
			free(h);
		}
	}
	compare_end("fp_recompute_score vs fp_score_replay", cases, 48);
}

/* ---------------------------------------------------------------- whole cycles */

static const char *CV = "v_00000000000000e1";

/* A fresh id with prefix "o_" or "p_". */
static void next_id(char prefix, char *buf, size_t size)
{
	static unsigned n;
	snprintf(buf, size, "%c_%016x", prefix, 0xe0000000u + ++n);
}

/* Pay offer oid with an amount its mode accepts and random reasons; check the
 * assessment against fp_assess_payment(). */
static void cycle_pay(const fp_policy *p, const char *cust, const char *oid, bool late)
{
	char *sql = h_fmt("SELECT mode, minimum_price_minor, set_price_minor, "
			  "suggested_price_minor FROM offers WHERE vendor_id = '%s' AND id = '%s'",
			  CV, oid);
	PGresult *r = query(sql);
	free(sql);
	fp_mode mode = (fp_mode)name_index(mode_names, N_OF(mode_names), str(r, 0, 0));
	int64_t min = ll(r, 0, 1), set = ll(r, 0, 2), sp = ll(r, 0, 3);
	PQclear(r);
	int64_t amount = mode == FP_MODE_SET_PRICE ? set : min + rnd_below(2 * (int)sp + 1);
	uint32_t reasons = rnd_below(3) == 0 ? (uint32_t)rnd_below(128) * 2 : 0;
	char pid[24];
	next_id('p', pid, sizeof(pid));
	sql = h_fmt("SELECT (x.payment).raw_fairness_bp, (x.payment).fairness_bp, "
		    "(x.payment).verdict, (x.payment).review, (x.payment).late "
		    "FROM fp_submit_payment('%s', '%s', '%s', %" PRId64 ", NULL, 0, "
		    "array_to_string(t_reasons(%u), ','), '', NULL) x",
		    CV, pid, oid, amount, reasons);
	r = query(sql);
	free(sql);
	fp_assessment x;
	fp_assess_payment(p, mode, amount, sp, reasons, late, &x);
	if (ll(r, 0, 0) != x.raw_fairness_bp || ll(r, 0, 1) != x.fairness_bp ||
	    strcmp(str(r, 0, 2), verdict_names[x.verdict]) != 0 ||
	    strcmp(str(r, 0, 3), review_names[x.review]) != 0 || boolean(r, 0, 4) != late)
		mismatch("payment of %s (%s amount %" PRId64 " sp %" PRId64
			 " reasons 0x%x late %d): SQL %s %s %s %s, C %d %d %s %s",
			 cust, mode_names[mode], amount, sp, reasons, late, str(r, 0, 0),
			 str(r, 0, 1), str(r, 0, 2), str(r, 0, 3), x.raw_fairness_bp, x.fairness_bp,
			 verdict_names[x.verdict], review_names[x.review]);
	PQclear(r);
}

/* Create and accept an offer; its id goes to oid. */
static void cycle_offer(const char *cust, char *oid, size_t size)
{
	next_id('o', oid, size);
	char *sql = h_fmt("SELECT (fp_create_offer('%s', '%s', '%s', 'cyc')).status; "
			  "SELECT (fp_accept_offer('%s', '%s')).status",
			  CV, oid, cust, CV, oid);
	run_sql(sql);
	free(sql);
}

static void test_cycles_incremental_equals_recompute(void **state)
{
	/* Credit large enough that every FairPay offer can be accepted, low
	 * thresholds reachable, and every reason excusing. */
	run_sql("INSERT INTO vendors (id, name) VALUES ('v_00000000000000e1', 'cycles'); "
		"INSERT INTO policies (vendor_id, alpha_bp, prior_score_bp, probation_payments, "
		" probation_credit_minor, standard_credit_minor, trusted_credit_minor, "
		" excusing_reasons, late_penalty_bp, max_open_defaults) "
		"VALUES ('v_00000000000000e1', 3500, 7000, 2, 1000000000, 1000000000, 1000000000, "
		" ARRAY['DID_NOT_USE', 'POOR_QUALITY', 'NOT_AS_DESCRIBED', 'TECHNICAL_PROBLEM', "
		" 'CANNOT_AFFORD', 'GREAT_VALUE', 'OTHER'], 2500, 3); "
		"INSERT INTO products (vendor_id, sku, name, currency, suggested_price_minor, "
		" list_price_minor, minimum_price_minor) "
		"VALUES ('v_00000000000000e1', 'cyc', 'cycle', 'EUR', 1000, 1300, 0)");
	PGresult *r = query("SELECT " POLICY_COLUMNS " FROM fp_policy_of('v_00000000000000e1') p");
	fp_policy p;
	read_policy(r, 0, 0, &p);
	PQclear(r);

	int steps = 0;
	compare_begin();
	for (int c = 0; c < 4; c++) {
		char cust[16];
		snprintf(cust, sizeof(cust), "cyc%d", c);
		for (int step = 0; step < 40; step++) {
			char oid[24];
			int op = rnd_below(100);
			const char *what;
			if (op < 45) {
				what = "pay";
				cycle_offer(cust, oid, sizeof(oid));
				cycle_pay(&p, cust, oid, false);
			} else if (op < 70) {
				what = "default";
				cycle_offer(cust, oid, sizeof(oid));
				char *sql = h_fmt(
					"UPDATE offers SET pay_by = now() - interval '1 second' "
					"WHERE vendor_id = '%s' AND id = '%s'",
					CV, oid);
				run_sql(sql);
				free(sql);
				if (query_ll("SELECT defaulted FROM fp_sweep(1000)") != 1)
					fail_msg("%s: the sweeper did not default %s", cust, oid);
			} else if (op < 85) {
				what = "late payment";
				char *sql =
					h_fmt("SELECT id FROM offers WHERE vendor_id = '%s' AND "
					      "customer_id = '%s' AND status = 'DEFAULTED' "
					      "ORDER BY random() LIMIT 1",
					      CV, cust);
				char *id = query_str(sql);
				free(sql);
				if (id == NULL)
					continue;
				cycle_pay(&p, cust, id, true);
				free(id);
			} else {
				what = "review";
				char *sql =
					h_fmt("SELECT id FROM payments WHERE vendor_id = '%s' AND "
					      "customer_id = '%s' AND review = 'PENDING' "
					      "ORDER BY random() LIMIT 1",
					      CV, cust);
				char *id = query_str(sql);
				free(sql);
				if (id == NULL)
					continue;
				sql = h_fmt(
					"SELECT (x.payment).review FROM fp_review_payment('%s', "
					"'%s', %s, 'looked') x",
					CV, id, rnd_below(2) ? "true" : "false");
				run_sql(sql);
				free(sql);
				free(id);
			}
			char *sql = h_fmt(
				"SELECT score_bp, fp_recompute_score(vendor_id, customer_id), "
				"open_defaults, (SELECT count(*) FROM offers o WHERE "
				" o.vendor_id = r.vendor_id AND o.customer_id = r.customer_id "
				" AND o.status = 'DEFAULTED') FROM reputations r "
				"WHERE vendor_id = '%s' AND customer_id = '%s'",
				CV, cust);
			r = query(sql);
			free(sql);
			if (ll(r, 0, 0) != ll(r, 0, 1) || ll(r, 0, 2) != ll(r, 0, 3))
				mismatch("%s after step %d (%s): score %s, recomputed %s; "
					 "open_defaults %s, DEFAULTED offers %s",
					 cust, step, what, str(r, 0, 0), str(r, 0, 1), str(r, 0, 2),
					 str(r, 0, 3));
			PQclear(r);
			steps++;
		}
	}
	compare_end("cycles: incremental score vs fp_recompute_score", steps, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_defaults),
		cmocka_unit_test(test_policy_checks_match_validate),
		cmocka_unit_test(test_score_step),
		cmocka_unit_test(test_tier),
		cmocka_unit_test(test_credit),
		cmocka_unit_test(test_amounts),
		cmocka_unit_test(test_excuse_and_late),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_assess),
		cmocka_unit_test(test_review),
		cmocka_unit_test(test_offer_terms),
		cmocka_unit_test(test_offer_terms_refusals),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_cycles_incremental_equals_recompute),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
