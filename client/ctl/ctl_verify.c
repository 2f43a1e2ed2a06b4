/* `fairpayctl reputation verify` (see ctl_verify.h).
 *
 * The history is read in one REPEATABLE READ READ ONLY transaction, so every
 * query sees the same snapshot and a server working at the same time cannot
 * cause false differences. Each table is read by one cursor ordered by
 * (vendor, customer) and fetched in batches; the cursors are walked side by
 * side like a merge join, so memory holds one customer's history at a time
 * however large the database is. Keys are ordered with COLLATE "C", which is
 * strcmp()'s order, so that C and SQL agree on which key comes first.
 *
 * What is recomputed, and how, is ctl_recompute.h: the FairPay rules built
 * into fairpayctl, not the server's SQL functions. */
#include "ctl_verify.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ctl_db.h"
#include "ctl_enum.h"
#include "ctl_out.h"
#include "ctl_recompute.h"
#include "fp_rules.h"

#define FETCH_ROWS 2000

/* Restricts a query to the vendor in $1, or to none when $1 is NULL. */
#define VENDOR_FILTER "($1::text IS NULL OR vendor_id = $1)"
#define KEY_ORDER "vendor_id COLLATE \"C\", customer_id COLLATE \"C\""
#define MICROS(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* Columns 0 and 1 of every cursor are vendor_id and customer_id. */
static const struct {
	const char *name;
	const char *sql;
} cursors[] = {
	{ "fp_verify_rep",
	  "DECLARE fp_verify_rep NO SCROLL CURSOR FOR"
	  " SELECT vendor_id, customer_id, score_bp, payments, defaults, open_defaults,"
	  " offers_accepted, total_paid_minor, total_suggested_minor, credit_used_minor,"
	  " coalesce(seed_score_bp, -1) FROM reputations WHERE " VENDOR_FILTER
	  " ORDER BY " KEY_ORDER },
	{ "fp_verify_pay",
	  "DECLARE fp_verify_pay NO SCROLL CURSOR FOR"
	  " SELECT vendor_id, customer_id, id, fairness_bp, amount_minor,"
	  " suggested_price_minor, " MICROS("created_at") " FROM payments WHERE " VENDOR_FILTER
							  " ORDER BY " KEY_ORDER
							  ", created_at, id COLLATE \"C\"" },
	{ "fp_verify_offer",
	  "DECLARE fp_verify_offer NO SCROLL CURSOR FOR"
	  " SELECT vendor_id, customer_id, id, status, mode, suggested_price_minor,"
	  " COALESCE(" MICROS("closed_at") ", 0)"
					   " FROM offers WHERE status IN ('DEFAULTED', 'ACCEPTED') "
					   "AND " VENDOR_FILTER " ORDER BY " KEY_ORDER
					   ", closed_at, id COLLATE \"C\"" },
	{ "fp_verify_event",
	  "DECLARE fp_verify_event NO SCROLL CURSOR FOR"
	  " SELECT vendor_id, customer_id,"
	  " count(*) FILTER (WHERE kind = 'OFFER_DEFAULTED'),"
	  " count(*) FILTER (WHERE kind = 'OFFER_ACCEPTED')"
	  " FROM events WHERE kind IN ('OFFER_DEFAULTED', 'OFFER_ACCEPTED') AND " VENDOR_FILTER
	  " GROUP BY vendor_id, customer_id ORDER BY " KEY_ORDER },
};

enum {
	S_REP,
	S_PAY,
	S_OFFER,
	S_EVENT,
	S_COUNT
};

/* One cursor and the batch of rows fetched from it. */
typedef struct stream {
	const char *cursor;
	PGresult *res;
	int row, nrows;
	bool done;
} stream;

/* One vendor's policy, as far as the score needs it. */
typedef struct vendor_policy {
	char *vendor_id;
	fp_policy policy;
} vendor_policy;

typedef struct verify {
	PGconn *conn;
	const ctl_args *a;
	stream s[S_COUNT];
	vendor_policy *policies; /* ordered by vendor_id, bytewise */
	size_t n_policies;
	ctl_recompute rc;
	size_t checked, vendors, customers_with_diffs, differences, missing;
	char *last_vendor;
	FILE *missing_json; /* --json: the "missing" items, written at the end */
	char *missing_buf;
	size_t missing_len;
} verify;

static int64_t to_i64(const char *s)
{
	return strtoll(s, NULL, 10);
}

static const char *cell(const stream *s, int col)
{
	return PQgetvalue(s->res, s->row, col);
}

/* Make sure s has a current row, or is done. */
static int stream_fill(verify *v, stream *s)
{
	char sql[96];
	if (s->done || s->row < s->nrows)
		return 0;
	PQclear(s->res);
	snprintf(sql, sizeof(sql), "FETCH FORWARD %d FROM %s", FETCH_ROWS, s->cursor);
	s->res = PQexec(v->conn, sql);
	if (PQresultStatus(s->res) != PGRES_TUPLES_OK) {
		ctl_db_report("cannot read the history", s->res, v->conn);
		return -1;
	}
	s->nrows = PQntuples(s->res);
	s->row = 0;
	s->done = s->nrows == 0;
	return 0;
}

/* Advance s by one row. */
static int stream_next(verify *v, stream *s)
{
	s->row++;
	return stream_fill(v, s);
}

/* Compare the current key of s with (vendor, customer). */
static int key_cmp(const stream *s, const char *vendor, const char *customer)
{
	int c = strcmp(cell(s, 0), vendor);
	return c != 0 ? c : strcmp(cell(s, 1), customer);
}

static bool at_key(const stream *s, const char *vendor, const char *customer)
{
	return !s->done && key_cmp(s, vendor, customer) == 0;
}

/* Load the stored policies: a vendor without one has the defaults. */
static int load_policies(verify *v, const char *const *params)
{
	PGresult *res = PQexecParams(v->conn,
				     "SELECT vendor_id, prior_score_bp, alpha_bp FROM policies"
				     " WHERE " VENDOR_FILTER " ORDER BY vendor_id COLLATE \"C\"",
				     1, NULL, params, NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_db_report("cannot read the policies", res, v->conn);
		goto done;
	}
	size_t n = (size_t)PQntuples(res);
	v->policies = calloc(n > 0 ? n : 1, sizeof(*v->policies));
	if (v->policies == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		vendor_policy *vp = &v->policies[i];
		vp->vendor_id = strdup(PQgetvalue(res, (int)i, 0));
		if (vp->vendor_id == NULL)
			goto oom;
		v->n_policies++;
		fp_policy_defaults(&vp->policy);
		vp->policy.prior_score_bp = (int32_t)to_i64(PQgetvalue(res, (int)i, 1));
		vp->policy.alpha_bp = (int32_t)to_i64(PQgetvalue(res, (int)i, 2));
	}
	rc = 0;
	goto done;
oom:
	fprintf(stderr, "error: out of memory\n");
done:
	PQclear(res);
	return rc;
}

/* The policy of a vendor: its row, or the defaults. */
static const fp_policy *policy_of(const verify *v, const char *vendor, fp_policy *defaults)
{
	size_t lo = 0, hi = v->n_policies;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->policies[mid].vendor_id, vendor);
		if (c == 0)
			return &v->policies[mid].policy;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	fp_policy_defaults(defaults);
	return defaults;
}

/* Print a vendor and customer as the start of a text line. */
static void print_who(const char *vendor, const char *customer)
{
	ctl_out_text(stdout, vendor);
	fputc(' ', stdout);
	ctl_out_text(stdout, customer);
}

static void json_who(FILE *f, const char *vendor, const char *customer)
{
	fputs("{\"vendor_id\":", f);
	ctl_out_json_string(f, vendor);
	fputs(",\"customer_id\":", f);
	ctl_out_json_string(f, customer);
}

/* Compare one customer's stored row (if any) with its recomputed values. */
static void judge(verify *v, const char *vendor, const char *customer, bool has_row,
		  const int64_t stored[CTL_REP_FIELD_COUNT], int32_t seed_score_bp)
{
	fp_policy defaults, seeded;
	int64_t want[CTL_REP_FIELD_COUNT];

	if (!has_row) {
		if (!ctl_recompute_has_history(&v->rc))
			return;
		ctl_recompute_result(&v->rc, policy_of(v, vendor, &defaults), want);
		v->missing++;
		if (v->a->json) {
			if (v->missing > 1)
				fputc(',', v->missing_json);
			json_who(v->missing_json, vendor, customer);
			for (int f = 0; f < CTL_REP_FIELD_COUNT; f++)
				fprintf(v->missing_json, ",\"%s\":%" PRId64,
					ctl_recompute_field_name((ctl_rep_field)f), want[f]);
			fputc('}', v->missing_json);
		} else {
			print_who(vendor, customer);
			printf(" reputation: stored none, recomputed score_bp %" PRId64
			       ", payments %" PRId64 ", defaults %" PRId64
			       ", offers_accepted %" PRId64 "\n",
			       want[CTL_REP_SCORE_BP], want[CTL_REP_PAYMENTS],
			       want[CTL_REP_DEFAULTS], want[CTL_REP_OFFERS_ACCEPTED]);
		}
		return;
	}
	v->checked++;
	/* A customer seeded by an attestation (rule 14) replays from the
	 * seeded score. */
	seeded = *policy_of(v, vendor, &defaults);
	if (seed_score_bp >= 0)
		seeded.prior_score_bp = seed_score_bp;
	ctl_recompute_result(&v->rc, &seeded, want);
	bool any = false;
	for (int f = 0; f < CTL_REP_FIELD_COUNT; f++) {
		if (stored[f] == want[f])
			continue;
		any = true;
		const char *name = ctl_recompute_field_name((ctl_rep_field)f);
		if (v->a->json) {
			if (v->differences > 0)
				fputc(',', stdout);
			json_who(stdout, vendor, customer);
			printf(",\"field\":\"%s\",\"stored\":%" PRId64 ",\"recomputed\":%" PRId64
			       "}",
			       name, stored[f], want[f]);
		} else {
			print_who(vendor, customer);
			printf(" %s: stored %" PRId64 ", recomputed %" PRId64 "\n", name, stored[f],
			       want[f]);
		}
		v->differences++;
	}
	if (any)
		v->customers_with_diffs++;
}

/* Take the rows of the smallest key from every stream and judge them. */
static int verify_one(verify *v)
{
	const char *vendor = NULL, *customer = NULL;
	int64_t stored[CTL_REP_FIELD_COUNT] = { 0 };
	int32_t seed_score_bp = -1;
	bool has_row = false;
	char *kv = NULL, *kc = NULL;
	int rc = -1;

	for (int i = 0; i < S_COUNT; i++) {
		const stream *s = &v->s[i];
		if (!s->done && (vendor == NULL || key_cmp(s, vendor, customer) < 0)) {
			vendor = cell(s, 0);
			customer = cell(s, 1);
		}
	}
	if (vendor == NULL)
		return 1; /* every stream is done */
	/* Copies: fetching the next batch frees the current one. */
	kv = strdup(vendor);
	kc = strdup(customer);
	if (kv == NULL || kc == NULL)
		goto oom;
	if (v->last_vendor == NULL || strcmp(v->last_vendor, kv) != 0) {
		free(v->last_vendor);
		v->last_vendor = strdup(kv);
		if (v->last_vendor == NULL)
			goto oom;
		v->vendors++;
	}
	ctl_recompute_reset(&v->rc);

	stream *s = &v->s[S_REP];
	if (at_key(s, kv, kc)) {
		has_row = true;
		stored[CTL_REP_SCORE_BP] = to_i64(cell(s, 2));
		stored[CTL_REP_PAYMENTS] = to_i64(cell(s, 3));
		stored[CTL_REP_DEFAULTS] = to_i64(cell(s, 4));
		stored[CTL_REP_OPEN_DEFAULTS] = to_i64(cell(s, 5));
		stored[CTL_REP_OFFERS_ACCEPTED] = to_i64(cell(s, 6));
		stored[CTL_REP_TOTAL_PAID] = to_i64(cell(s, 7));
		stored[CTL_REP_TOTAL_SUGGESTED] = to_i64(cell(s, 8));
		stored[CTL_REP_CREDIT_USED] = to_i64(cell(s, 9));
		seed_score_bp = (int32_t)to_i64(cell(s, 10));
		if (stream_next(v, s) != 0)
			goto done;
	}
	for (s = &v->s[S_PAY]; at_key(s, kv, kc);) {
		if (ctl_recompute_payment(&v->rc, to_i64(cell(s, 6)), cell(s, 2),
					  (int32_t)to_i64(cell(s, 3)), to_i64(cell(s, 4)),
					  to_i64(cell(s, 5))) != 0)
			goto oom;
		if (stream_next(v, s) != 0)
			goto done;
	}
	for (s = &v->s[S_OFFER]; at_key(s, kv, kc);) {
		if (strcmp(cell(s, 3), "DEFAULTED") == 0) {
			int64_t closed_us = to_i64(cell(s, 6));
			if (ctl_recompute_defaulted_offer(&v->rc, closed_us, cell(s, 2)) != 0)
				goto oom;
		} else {
			int mode = 0;
			if (ctl_enum_parse(&ctl_enum_offer_mode, cell(s, 4), &mode) != 0)
				mode = 0; /* the schema's CHECK makes this impossible */
			ctl_recompute_accepted_offer(&v->rc, (fp_mode)mode, to_i64(cell(s, 5)));
		}
		if (stream_next(v, s) != 0)
			goto done;
	}
	s = &v->s[S_EVENT];
	if (at_key(s, kv, kc)) {
		ctl_recompute_events(&v->rc, to_i64(cell(s, 2)), to_i64(cell(s, 3)));
		if (stream_next(v, s) != 0)
			goto done;
	}
	judge(v, kv, kc, has_row, stored, seed_score_bp);
	rc = 0;
	goto done;
oom:
	fprintf(stderr, "error: out of memory\n");
done:
	free(kv);
	free(kc);
	return rc;
}

static int exec_ok(verify *v, const char *sql, const char *what)
{
	PGresult *res = PQexec(v->conn, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc != 0)
		ctl_db_report(what, res, v->conn);
	PQclear(res);
	return rc;
}

/* Recompute every reputation and report the differences. */
int ctl_verify_reputations(const ctl_args *a)
{
	verify v;
	const char *params[1] = { a->vendor_id };
	int rc = CTL_EXIT_REFUSED;

	memset(&v, 0, sizeof(v));
	v.a = a;
	for (int i = 0; i < S_COUNT; i++)
		v.s[i].cursor = cursors[i].name;
	v.conn = ctl_db_connect(a);
	if (v.conn == NULL) {
		rc = CTL_EXIT_CONNECT;
		goto done;
	}
	if (exec_ok(&v, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    "cannot start a transaction") != 0)
		goto done;
	if (load_policies(&v, params) != 0)
		goto done;
	for (int i = 0; i < S_COUNT; i++) {
		PGresult *res =
			PQexecParams(v.conn, cursors[i].sql, 1, NULL, params, NULL, NULL, 0);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		if (!ok)
			ctl_db_report("cannot read the history", res, v.conn);
		PQclear(res);
		if (!ok || stream_fill(&v, &v.s[i]) != 0)
			goto done;
	}
	if (a->json) {
		v.missing_json = open_memstream(&v.missing_buf, &v.missing_len);
		if (v.missing_json == NULL) {
			fprintf(stderr, "error: out of memory\n");
			goto done;
		}
		fputs("{\"differences\":[", stdout);
	}
	int step;
	while ((step = verify_one(&v)) == 0)
		;
	if (step < 0) {
		if (a->json)
			fputs("]}\n", stdout); /* keep stdout parseable; stderr says why */
		goto done;
	}
	if (a->json) {
		if (fclose(v.missing_json) != 0) {
			v.missing_json = NULL;
			fputs("]}\n", stdout);
			fprintf(stderr, "error: out of memory\n");
			goto done;
		}
		v.missing_json = NULL;
		printf("],\"missing\":[%s],\"checked\":%zu,\"vendors\":%zu,\"ok\":%s}\n",
		       v.missing_buf != NULL ? v.missing_buf : "", v.checked, v.vendors,
		       v.differences + v.missing == 0 ? "true" : "false");
	} else {
		printf("checked %zu reputation%s of %zu vendor%s: %zu difference%s in %zu "
		       "reputation%s, %zu missing reputation row%s\n",
		       v.checked, v.checked == 1 ? "" : "s", v.vendors, v.vendors == 1 ? "" : "s",
		       v.differences, v.differences == 1 ? "" : "s", v.customers_with_diffs,
		       v.customers_with_diffs == 1 ? "" : "s", v.missing,
		       v.missing == 1 ? "" : "s");
	}
	rc = v.differences + v.missing == 0 ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
done:
	for (int i = 0; i < S_COUNT; i++)
		PQclear(v.s[i].res);
	for (size_t i = 0; i < v.n_policies; i++)
		free(v.policies[i].vendor_id);
	free(v.policies);
	ctl_recompute_free(&v.rc);
	free(v.last_vendor);
	if (v.missing_json != NULL)
		fclose(v.missing_json);
	free(v.missing_buf);
	/* Read only: ending the session ends the transaction. */
	PQfinish(v.conn);
	return rc;
}
