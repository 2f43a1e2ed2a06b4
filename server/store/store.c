/* The cycle's SQL, its column layout and its row conversion (see store.h). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cache.h"
#include "db.h"
#include "facts.h"
#include "names.h"
#include "outbox.h"

/* ---------------------------------------------------------------- reads
 *
 * Every load answers at most one row with the same layout, blocks that do
 * not apply being NULL: offer | payment | policy | product | reputation |
 * recent | history. The COL_* numbers below are the only place positions
 * are written. */

#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

#define OFFER_BLOCK                                                                               \
	"o.id, o.customer_id, o.sku, o.status, o.mode, o.currency, o.suggested_price_minor,"      \
	" o.unit_price_minor, o.minimum_price_minor, o.set_price_minor, o.tier,"                  \
	" o.credit_limit_minor, o.credit_used_minor, array_to_string(o.reasons, ','), " US(       \
		"o.created_at") ", " US("o.expires_at") ", " US("o.pay_by") ", o.period_index,"   \
									    " coalesce(o."        \
									    "previous_offer_id, " \
									    "''), o.vendor_id, "  \
									    "o.xmin::text, "      \
									    "coalesce(o.list_"    \
									    "price_minor, 0)"
#define OFFER_NULLS "NULL" REPEAT18(", NULL") ", NULL, NULL, NULL"
#define REPEAT18(x) x x x x x x x x x x x x x x x x x x

#define PAYMENT_BLOCK                                                                           \
	"p.id, p.offer_id, p.customer_id, p.amount_minor, p.currency, p.suggested_price_minor," \
	" p.usage_units, array_to_string(p.reasons, ','), p.note, p.fairness_bp,"               \
	" p.raw_fairness_bp, p.verdict, p.review, p.late, " US("p.created_at")
#define PAYMENT_NULLS "NULL" REPEAT14(", NULL")
#define REPEAT14(x) x x x x x x x x x x x x x x

#define POLICY_BLOCK "pol.*"
#define POLICY_JOIN(vendor)                                                             \
	" LEFT JOIN LATERAL (SELECT true AS found, " STORE_POLICY_COLS " FROM policies" \
	" WHERE vendor_id = " vendor ") pol ON true"

#define PRODUCT_BLOCK                                                         \
	"pr.sku, pr.currency, pr.suggested_price_minor, pr.list_price_minor," \
	" pr.minimum_price_minor, pr.min_tier, pr.unit_price_minor, pr.period_days"

#define REP_BLOCK                                                                                \
	"r.xmin::text, r.score_bp, r.payments, r.defaults, r.open_defaults, r.offers_accepted,"  \
	" r.total_paid_minor, r.total_suggested_minor, r.credit_used_minor, " US(                \
		"r.updated_at") ", coalesce(r.currency, ''),"                                    \
				" coalesce(r.checkpoints_prior_bp, -1),"                         \
				" coalesce(r.checkpoints_alpha_bp, -1), coalesce(" US(           \
					"r.checkpoints_from_at") ", 0),"                         \
								 " coalesce(r.checkpoints_from_" \
								 "id, ''), r.attested_payments," \
								 " coalesce(r.attested_by, '')," \
								 " coalesce(r.seed_score_bp, -1)"

/* The raw fairness of the customer's latest payments, newest first. */
#define RECENT(vendor, customer)                                                        \
	"(SELECT string_agg(l.raw_fairness_bp::text, ',' ORDER BY l.created_at DESC,"   \
	" l.id COLLATE \"C\" DESC) FROM (SELECT x.raw_fairness_bp, x.created_at, x.id"  \
	" FROM payments x WHERE x.vendor_id = " vendor " AND x.customer_id = " customer \
	" ORDER BY x.created_at DESC, x.id COLLATE \"C\" DESC LIMIT 5) l)"

/* The closed cycles in replay order (rule 7): payments at created_at,
 * defaults still open at closed_at; ties by id, compared bytewise. Only
 * those from the cycle (at, id) on, each with its checkpoint and time, as
 * "<k><id>:<fairness>:<score before, or empty>:<µs>" joined by ','. The bounds
 * are index conditions (payments_customer_idx, offers_customer_defaults_idx),
 * so the rows before the cycle are never read. */
#define AFTER(t, id, at, from_id) \
	t " >= " at " AND (" t " > " at " OR " id " COLLATE \"C\" >= " from_id ")"
#define HISTORY(vendor, customer, at, from_id)                                                   \
	"(SELECT string_agg(h.k || h.id || ':' || h.f || ':' || coalesce(h.s::text, '') || ':'"  \
	" || " US("h.at") ", ','"                                                                \
			  " ORDER BY h.at, h.id COLLATE \"C\")"                                  \
			  " FROM (SELECT 'p' AS k, x.id, x.fairness_bp AS f, x.score_before_bp " \
			  "AS s,"                                                                \
			  " x.created_at AS at FROM payments x"                                  \
			  " WHERE x.vendor_id = " vendor " AND x.customer_id = " customer        \
			  " AND " AFTER("x.created_at", "x.id", at,                              \
					from_id) " UNION ALL SELECT 'd', y.id, 0,"               \
						 " y.score_before_bp, y.closed_at"               \
						 " FROM offers y"                                \
						 " WHERE y.vendor_id = " vendor                  \
						 " AND y.customer_id = " customer                \
						 " AND y.status = 'DEFAULTED'"                   \
						 " AND " AFTER("y.closed_at", "y.id", at,        \
							       from_id) ") h)"
/* The start of the history a load reads: the cycle (at, id), or the first
 * one when full (the least time, and '' is the least id). */
#define FROM_AT(full, at) "(CASE WHEN " full " THEN '-infinity'::timestamptz ELSE " at " END)"
#define FROM_ID(full, id) "(CASE WHEN " full " THEN ''::text ELSE " id " END)"

enum {
	COL_OFFER = 0,
	COL_PAYMENT = COL_OFFER + 22,
	COL_POLICY = COL_PAYMENT + 15, /* found, then STORE_POLICY_NCOLS */
	COL_PRODUCT = COL_POLICY + 1 + STORE_POLICY_NCOLS,
	COL_REP = COL_PRODUCT + 8,
	COL_RECENT = COL_REP + 18,
	COL_HISTORY = COL_RECENT + 1,
	COL_COUNT = COL_HISTORY + 1,
};

const char store_sql_load_customer[] =
	"SELECT " OFFER_NULLS ", " PAYMENT_NULLS ", " POLICY_BLOCK ", " PRODUCT_BLOCK ", " REP_BLOCK
	", CASE WHEN $4::boolean THEN " RECENT(
		"k.vendor_id",
		"k.customer_id") " END, NULL"
				 " FROM (SELECT $1::text AS vendor_id, $2::text AS customer_id) "
				 "k" POLICY_JOIN(
					 "k.vendor_id") " LEFT JOIN products pr ON pr.vendor_id = "
							"k.vendor_id AND pr.sku = $3"
							" LEFT JOIN reputations r ON r.vendor_id = "
							"k.vendor_id AND r.customer_id = "
							"k.customer_id";

const char store_sql_load_offer[] =
	"SELECT " OFFER_BLOCK ", " PAYMENT_NULLS ", " POLICY_BLOCK ", " PRODUCT_BLOCK ", " REP_BLOCK
	", " RECENT(
		"o.vendor_id",
		"o.customer_id") ","
				 " CASE WHEN $3::boolean AND o.status = 'DEFAULTED' THEN " HISTORY(
					 "o.vendor_id", "o.customer_id",
					 FROM_AT("$4::boolean", "o.closed_at"),
					 FROM_ID("$4::boolean",
						 "o.id")) " END"
							  " FROM offers o" POLICY_JOIN(
								  "o.vendor_id") " LEFT JOIN "
										 "products pr ON "
										 "pr.vendor_id = "
										 "o.vendor_id AND "
										 "pr.sku = o.sku"
										 " LEFT JOIN "
										 "reputations r ON "
										 "r.vendor_id = "
										 "o.vendor_id AND "
										 "r.customer_id = "
										 "o.customer_id"
										 " WHERE "
										 "o.vendor_id = $1 "
										 "AND o.id = $2";

const char store_sql_load_payment[] =
	"SELECT " OFFER_NULLS ", " PAYMENT_BLOCK ", " POLICY_BLOCK ", NULL, NULL, NULL, NULL, NULL,"
	" NULL, NULL, NULL, " REP_BLOCK ", " RECENT("p.vendor_id", "p.customer_id") ", " HISTORY(
		"p.vendor_id", "p.customer_id", FROM_AT("$3::boolean", "p.created_at"),
		FROM_ID("$3::boolean",
			"p.id")) " FROM payments p" POLICY_JOIN("p.vendor_id") " LEFT JOIN "
									       "reputations r ON "
									       "r.vendor_id = "
									       "p.vendor_id AND "
									       "r.customer_id = "
									       "p.customer_id"
									       " WHERE p.vendor_id "
									       "= $1 AND p.id = $2";

const char store_sql_load_due_defaults[] =
	"SELECT " OFFER_BLOCK ", " PAYMENT_NULLS ", " POLICY_BLOCK ", NULL, NULL, NULL, NULL, NULL,"
	" NULL, NULL, NULL, " REP_BLOCK ", NULL, NULL"
	" FROM (SELECT DISTINCT ON (d.vendor_id, d.customer_id) d.* FROM (SELECT x.*, x.xmin FROM "
	"offers x"
	" WHERE x.status = 'ACCEPTED' AND x.pay_by < now() ORDER BY x.pay_by LIMIT $1) d"
	" ORDER BY d.vendor_id, d.customer_id, d.pay_by) o" POLICY_JOIN(
		"o.vendor_id") " JOIN reputations r ON r.vendor_id = o.vendor_id AND r.customer_id "
			       "= o.customer_id";

const char store_sql_expire[] =
	"WITH due AS (SELECT o.vendor_id, o.id FROM offers o JOIN reputations r"
	"  ON r.vendor_id = o.vendor_id AND r.customer_id = o.customer_id"
	"  WHERE o.status = 'OPEN' AND o.expires_at < now() ORDER BY o.expires_at LIMIT $1"
	"  FOR UPDATE OF o, r SKIP LOCKED),"
	" up AS (UPDATE offers o SET status = 'EXPIRED', closed_at = now() FROM due"
	"  WHERE o.vendor_id = due.vendor_id AND o.id = due.id"
	"  RETURNING o.vendor_id, o.customer_id, o.id),"
	" ev AS (INSERT INTO events (vendor_id, customer_id, kind, offer_id, detail, insights)"
	"  SELECT vendor_id, customer_id, 'OFFER_EXPIRED', id, '', $2::bigint[] FROM up"
	"  RETURNING vendor_id, id, kind)," OUTBOX_QUEUE_CTE(
		"ev") " SELECT up.vendor_id, up.id, pg_notify('" CACHE_CHANNEL "',"
		      "  json_build_array('o/' || up.vendor_id || '/' || up.id)::text) FROM up";

const char store_sql_idem_expire[] =
	"WITH gone AS (DELETE FROM idempotency i WHERE (i.vendor_id, i.key) IN ("
	" SELECT j.vendor_id, j.key FROM idempotency j WHERE j.expires_at < now()"
	" ORDER BY j.expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1)"
	" SELECT count(*) FROM gone";

static void copy_str(char *out, size_t len, const PGresult *res, int row, int col)
{
	snprintf(out, len, "%s", db_get_str(res, row, col));
}

static int32_t get_i32(const PGresult *res, int row, int col)
{
	return (int32_t)db_get_i64(res, row, col);
}

static void read_offer(const PGresult *res, int row, int c, store_offer *o)
{
	copy_str(o->id, sizeof(o->id), res, row, c + 0);
	copy_str(o->customer_id, sizeof(o->customer_id), res, row, c + 1);
	copy_str(o->sku, sizeof(o->sku), res, row, c + 2);
	o->status = (fp_offer_status)names_value(NAMES_STATUS, db_get_str(res, row, c + 3));
	o->mode = (fp_mode)names_value(NAMES_MODE, db_get_str(res, row, c + 4));
	copy_str(o->currency, sizeof(o->currency), res, row, c + 5);
	o->suggested_price_minor = db_get_i64(res, row, c + 6);
	o->unit_price_minor = db_get_i64(res, row, c + 7);
	o->minimum_price_minor = db_get_i64(res, row, c + 8);
	o->set_price_minor = db_get_i64(res, row, c + 9);
	o->tier = (fp_tier)names_value(NAMES_TIER, db_get_str(res, row, c + 10));
	o->credit_limit_minor = db_get_i64(res, row, c + 11);
	o->credit_used_minor = db_get_i64(res, row, c + 12);
	const char *p = db_get_str(res, row, c + 13);
	o->n_reasons = 0;
	while (*p && o->n_reasons < FP_MAX_OFFER_REASONS) {
		size_t len = strcspn(p, ",");
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		int v = names_value(NAMES_OFFER_REASON, name);
		if (v != 0)
			o->reasons[o->n_reasons++] = (fp_offer_reason)v;
		p += len;
		if (*p == ',')
			p++;
	}
	o->created_us = db_get_i64(res, row, c + 14);
	o->expires_us = db_get_i64(res, row, c + 15);
	o->pay_by_us = db_get_i64(res, row, c + 16);
	o->period_index = get_i32(res, row, c + 17);
	copy_str(o->previous_offer_id, sizeof(o->previous_offer_id), res, row, c + 18);
	copy_str(o->vendor_id, sizeof(o->vendor_id), res, row, c + 19);
	copy_str(o->xmin, sizeof(o->xmin), res, row, c + 20);
	o->list_price_minor = db_get_i64(res, row, c + 21);
}

static void read_payment(const PGresult *res, int row, int c, store_payment *p)
{
	copy_str(p->id, sizeof(p->id), res, row, c + 0);
	copy_str(p->offer_id, sizeof(p->offer_id), res, row, c + 1);
	copy_str(p->customer_id, sizeof(p->customer_id), res, row, c + 2);
	p->amount_minor = db_get_i64(res, row, c + 3);
	copy_str(p->currency, sizeof(p->currency), res, row, c + 4);
	p->suggested_price_minor = db_get_i64(res, row, c + 5);
	p->usage_units = db_get_i64(res, row, c + 6);
	p->reasons = store_reason_mask(db_get_str(res, row, c + 7));
	p->note = db_get_str(res, row, c + 8);
	p->a.fairness_bp = get_i32(res, row, c + 9);
	p->a.raw_fairness_bp = get_i32(res, row, c + 10);
	p->a.verdict = (fp_verdict)names_value(NAMES_VERDICT, db_get_str(res, row, c + 11));
	p->a.review = (fp_review)names_value(NAMES_REVIEW, db_get_str(res, row, c + 12));
	p->late = strcmp(db_get_str(res, row, c + 13), "t") == 0;
	p->created_us = db_get_i64(res, row, c + 14);
}

static int read_history(const char *s, store_state *st)
{
	size_t n = 0;
	if (*s == '\0')
		return 0;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	n++;
	if (n > STORE_HISTORY_MAX)
		return -1;
	st->history = calloc(n, sizeof(*st->history));
	if (st->history == NULL)
		return -1;
	const char *p = s;
	while (*p && st->n_history < n) {
		store_cycle_entry *e = &st->history[st->n_history];
		e->is_default = *p == 'd';
		p++;
		size_t idlen = strcspn(p, ":");
		if (idlen >= sizeof(e->id) || p[idlen] != ':')
			return -1;
		memcpy(e->id, p, idlen);
		e->id[idlen] = '\0';
		p += idlen + 1;
		char *end = NULL;
		e->fairness_bp = (int32_t)strtol(p, &end, 10);
		if (end == p || *end != ':')
			return -1;
		p = end + 1;
		e->score_before_bp = -1;
		if (*p != ':') {
			e->score_before_bp = (int32_t)strtol(p, &end, 10);
			if (end == p || *end != ':' || e->score_before_bp < 0)
				return -1;
			p = end;
		}
		p++;
		e->at_us = strtoll(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0'))
			return -1;
		p = end;
		if (*p == ',')
			p++;
		st->n_history++;
	}
	return 0;
}

int store_read_state(const PGresult *res, int row, store_state *st)
{
	memset(st, 0, sizeof(*st));
	if (row >= PQntuples(res) || PQnfields(res) != COL_COUNT)
		return -1;
	if (!db_is_null(res, row, COL_OFFER)) {
		st->offer_found = true;
		read_offer(res, row, COL_OFFER, &st->offer);
	}
	if (!db_is_null(res, row, COL_PAYMENT)) {
		st->payment_found = true;
		read_payment(res, row, COL_PAYMENT, &st->payment);
	}
	fp_policy_defaults(&st->policy);
	if (!db_is_null(res, row, COL_POLICY)) {
		st->policy_stored = true;
		store_policy_from_row(res, row, COL_POLICY + 1, &st->policy);
	}
	store_product *pr = &st->product;
	if (!db_is_null(res, row, COL_PRODUCT)) {
		pr->exists = true;
		copy_str(pr->sku, sizeof(pr->sku), res, row, COL_PRODUCT + 0);
		copy_str(pr->currency, sizeof(pr->currency), res, row, COL_PRODUCT + 1);
		pr->terms.suggested_price_minor = db_get_i64(res, row, COL_PRODUCT + 2);
		pr->terms.list_price_minor = db_get_i64(res, row, COL_PRODUCT + 3);
		pr->terms.minimum_price_minor = db_get_i64(res, row, COL_PRODUCT + 4);
		pr->terms.min_tier =
			(fp_tier)names_value(NAMES_TIER, db_get_str(res, row, COL_PRODUCT + 5));
		pr->unit_price_minor = db_get_i64(res, row, COL_PRODUCT + 6);
		pr->period_days = get_i32(res, row, COL_PRODUCT + 7);
	}
	store_rep *r = &st->rep;
	if (!db_is_null(res, row, COL_REP)) {
		r->exists = true;
		copy_str(r->xmin, sizeof(r->xmin), res, row, COL_REP + 0);
		r->score_bp = get_i32(res, row, COL_REP + 1);
		r->payments = get_i32(res, row, COL_REP + 2);
		r->defaults = get_i32(res, row, COL_REP + 3);
		r->open_defaults = get_i32(res, row, COL_REP + 4);
		r->offers_accepted = get_i32(res, row, COL_REP + 5);
		r->total_paid_minor = db_get_i64(res, row, COL_REP + 6);
		r->total_suggested_minor = db_get_i64(res, row, COL_REP + 7);
		r->credit_used_minor = db_get_i64(res, row, COL_REP + 8);
		r->updated_us = db_get_i64(res, row, COL_REP + 9);
		copy_str(r->currency, sizeof(r->currency), res, row, COL_REP + 10);
		r->checkpoints_prior_bp = get_i32(res, row, COL_REP + 11);
		r->checkpoints_alpha_bp = get_i32(res, row, COL_REP + 12);
		r->checkpoints_from_us = db_get_i64(res, row, COL_REP + 13);
		copy_str(r->checkpoints_from_id, sizeof(r->checkpoints_from_id), res, row,
			 COL_REP + 14);
		r->attested_payments = get_i32(res, row, COL_REP + 15);
		copy_str(r->attested_by, sizeof(r->attested_by), res, row, COL_REP + 16);
		r->seed_score_bp = get_i32(res, row, COL_REP + 17);
	} else {
		r->seed_score_bp = -1;
		r->score_bp = st->policy.prior_score_bp;
		/* No history: every checkpoint (none) is a replay under it. */
		r->checkpoints_prior_bp = st->policy.prior_score_bp;
		r->checkpoints_alpha_bp = st->policy.alpha_bp;
	}
	const char *p = db_get_str(res, row, COL_RECENT);
	while (*p && r->n_recent < FP_EXPLAIN_RECENT) {
		r->recent[r->n_recent++] = (int32_t)strtol(p, NULL, 10);
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (read_history(db_get_str(res, row, COL_HISTORY), st) != 0) {
		store_state_free(st);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- lists */

#define LIST_OFFERS(filters)                                                    \
	"SELECT " OFFER_BLOCK " FROM offers o WHERE o.vendor_id = $1" filters   \
	" AND (o.created_at, o.id COLLATE \"C\") < ($2::timestamptz, $3::text)" \
	" ORDER BY o.created_at DESC, o.id COLLATE \"C\" DESC LIMIT $4"
#define LIST_PAYMENTS(filters)                                                    \
	"SELECT " PAYMENT_BLOCK " FROM payments p WHERE p.vendor_id = $1" filters \
	" AND (p.created_at, p.id COLLATE \"C\") < ($2::timestamptz, $3::text)"   \
	" ORDER BY p.created_at DESC, p.id COLLATE \"C\" DESC LIMIT $4"

/* Indexed by the STORE_LIST_* bits; each text is its own prepared statement. */
static const char list_offers_any[] = LIST_OFFERS("");
static const char list_offers_status[] = LIST_OFFERS(" AND o.status = $5");
static const char list_offers_customer[] = LIST_OFFERS(" AND o.customer_id = $5");
static const char list_offers_both[] = LIST_OFFERS(" AND o.status = $5 AND o.customer_id = $6");
static const char *const list_offers[4] = { list_offers_any, list_offers_status,
					    list_offers_customer, list_offers_both };

static const char list_payments_any[] = LIST_PAYMENTS("");
static const char list_payments_review[] = LIST_PAYMENTS(" AND p.review = $5");
static const char list_payments_customer[] = LIST_PAYMENTS(" AND p.customer_id = $5");
static const char list_payments_both[] = LIST_PAYMENTS(" AND p.review = $5 AND p.customer_id = $6");
static const char *const list_payments[4] = { list_payments_any, list_payments_review,
					      list_payments_customer, list_payments_both };

const char *store_sql_list_offers(unsigned filters)
{
	return list_offers[filters & 3u];
}

const char *store_sql_list_payments(unsigned filters)
{
	return list_payments[filters & 3u];
}

int store_read_offer(const PGresult *res, int row, store_offer *o)
{
	memset(o, 0, sizeof(*o));
	if (row >= PQntuples(res) || PQnfields(res) != COL_PAYMENT - COL_OFFER)
		return -1;
	read_offer(res, row, 0, o);
	return 0;
}

int store_read_payment(const PGresult *res, int row, store_payment *p)
{
	memset(p, 0, sizeof(*p));
	if (row >= PQntuples(res) || PQnfields(res) != COL_POLICY - COL_PAYMENT)
		return -1;
	read_payment(res, row, 0, p);
	return 0;
}

void store_apply_seed(store_state *st)
{
	if (st->rep.exists && st->rep.seed_score_bp >= 0)
		st->policy.prior_score_bp = st->rep.seed_score_bp;
}

void store_state_free(store_state *st)
{
	if (st == NULL)
		return;
	free(st->history);
	st->history = NULL;
	st->n_history = 0;
}

/* ---------------------------------------------------------------- writes
 *
 * One statement writes any number of cycle changes, each of a different
 * customer: $1 is a JSON array of them (store_write() makes one item; the
 * pool merges the items of writes that wait together, db_write_set()), and
 * every table gets one set-based statement part for all of them. Each
 * item's guards come first and lock: its reputation row at the version
 * read (or its insertion, for a customer never seen), then its offer in
 * the status read. An item whose guards fail writes nothing, and the
 * others are written all the same. Every write below takes its items from
 * `ok` (data-modifying WITH parts all run, so each must filter itself).
 * Locks are taken item by item, in the array's order, which the pool makes
 * the lock-key order: a LATERAL probe can only be the inner side of a nested
 * loop, whose outer side here is the scan of `it`, and a materialized WITH
 * part is read back in the order it was made (ORDINALITY's).
 *
 * An item (keys absent: none): v vendor, c customer, x reputation xmin
 * (absent: insert r if absent), r reputation row, oi guarded offer id and
 * ox its xmin, ou offer update (the columns it changes, and the id), o offers to insert, p payments to insert,
 * pu payment review, e events, k the idempotency record {s scope, k key,
 * c call, h request hash, r response (bytea hex)}, n the keys to announce,
 * ck rule 7's checkpoints of existing closed cycles ({k: 'p' or 'd', id,
 * s}); those of the rows ou, p and pu write travel in their records, as a
 * row is updated at most once per statement. */
static const char sql_write[] =
	/* The two range filters always hold: the planner takes each for 0.5%
	 * of the rows (a range on a column without statistics), so that it
	 * plans for the handful of items there are, not the 100 rows it
	 * assumes of a set-returning function, and every join below probes
	 * the primary keys, however small the tables were when the (generic,
	 * cached) plan was made. */
	"WITH it AS MATERIALIZED (SELECT t.n - 1 AS i, t.j, t.j->>'v' AS v, t.j->>'c' AS c,"
	"  t.j->>'x' AS x, t.j->>'oi' AS oi, t.j->>'ox' AS ox"
	"  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(j, n)"
	"  WHERE t.n BETWEEN 1 AND 2147483647),"
	" gl AS (SELECT it.i FROM it, LATERAL (SELECT 1 FROM reputations r"
	"  WHERE r.vendor_id = it.v AND r.customer_id = it.c AND r.xmin = it.x::xid FOR UPDATE) l"
	"  WHERE it.x IS NOT NULL),"
	" gi AS (INSERT INTO reputations SELECT x.* FROM it,"
	"  jsonb_populate_record(NULL::reputations, it.j->'r') x WHERE it.x IS NULL"
	"  ON CONFLICT DO NOTHING RETURNING vendor_id, customer_id, xmin::text AS x),"
	" ol AS (SELECT it.i FROM it, LATERAL (SELECT 1 FROM offers o"
	"  WHERE o.vendor_id = it.v AND o.id = it.oi AND o.xmin = it.ox::xid FOR UPDATE) l"
	"  WHERE it.oi IS NOT NULL),"
	" ok AS MATERIALIZED (SELECT it.i, it.j, it.v, it.c, it.x FROM it"
	"  WHERE (it.i IN (SELECT i FROM gl)"
	"  OR EXISTS (SELECT 1 FROM gi WHERE gi.vendor_id = it.v AND gi.customer_id = it.c))"
	"  AND (it.oi IS NULL OR it.i IN (SELECT i FROM ol))),"
	" ru AS (UPDATE reputations r SET score_bp = x.score_bp, payments = x.payments,"
	"  defaults = x.defaults, open_defaults = x.open_defaults,"
	"  offers_accepted = x.offers_accepted, total_paid_minor = x.total_paid_minor,"
	"  total_suggested_minor = x.total_suggested_minor,"
	"  credit_used_minor = x.credit_used_minor, updated_at = x.updated_at,"
	"  currency = x.currency, checkpoints_prior_bp = x.checkpoints_prior_bp,"
	"  checkpoints_alpha_bp = x.checkpoints_alpha_bp,"
	"  checkpoints_from_at = x.checkpoints_from_at, checkpoints_from_id = "
	"x.checkpoints_from_id,"
	"  attested_payments = x.attested_payments, attested_by = x.attested_by,"
	"  seed_score_bp = x.seed_score_bp"
	"  FROM ok, jsonb_populate_record(NULL::reputations, ok.j->'r') x"
	"  WHERE ok.x IS NOT NULL AND r.vendor_id = ok.v AND r.customer_id = ok.c"
	"  RETURNING r.vendor_id, r.customer_id, r.xmin::text AS x),"
	" ou AS (UPDATE offers o SET status = x.status,"
	"  accepted_at = coalesce(x.accepted_at, o.accepted_at), pay_by = coalesce(x.pay_by, "
	"o.pay_by),"
	"  closed_at = coalesce(x.closed_at, o.closed_at), credit_limit_minor = "
	"x.credit_limit_minor,"
	"  credit_used_minor = x.credit_used_minor,"
	"  score_before_bp = coalesce(x.score_before_bp, o.score_before_bp)"
	"  FROM ok, jsonb_populate_record(NULL::offers, ok.j->'ou') x"
	"  WHERE ok.j->'ou' IS NOT NULL AND o.vendor_id = ok.v AND o.id = x.id),"
	" oi AS (INSERT INTO offers SELECT x.* FROM ok,"
	"  jsonb_populate_recordset(NULL::offers, ok.j->'o') x),"
	" pi AS (INSERT INTO payments SELECT x.* FROM ok,"
	"  jsonb_populate_recordset(NULL::payments, ok.j->'p') x),"
	" pu AS (UPDATE payments p SET fairness_bp = x.fairness_bp, verdict = x.verdict,"
	"  review = x.review, reviewed_at = x.reviewed_at, review_note = x.review_note,"
	"  score_before_bp = coalesce(x.score_before_bp, p.score_before_bp)"
	"  FROM ok, jsonb_populate_record(NULL::payments, ok.j->'pu') x"
	"  WHERE ok.j->'pu' IS NOT NULL AND p.vendor_id = ok.v AND p.id = x.id),"
	/* Event ids follow the items' order, and each item's events their
	 * order in it. */
	" ev AS (INSERT INTO events (vendor_id, customer_id, kind, offer_id, payment_id, detail, "
	"at, insights)"
	"  SELECT x.vendor_id, x.customer_id, x.kind, x.offer_id, x.payment_id, x.detail, x.at,"
	"  x.insights FROM ok, jsonb_populate_recordset(NULL::events, ok.j->'e')"
	"  WITH ORDINALITY AS x ORDER BY ok.i, x.ordinality"
	"  RETURNING vendor_id, id, kind)," OUTBOX_QUEUE_CTE(
		"ev") ","
		      " id AS (INSERT INTO idempotency (vendor_id, key, call, request_hash, state, "
		      "response)"
		      "  SELECT ok.j->'k'->>'s', ok.j->'k'->>'k', ok.j->'k'->>'c', "
		      "ok.j->'k'->>'h', 'DONE',"
		      "  (ok.j->'k'->>'r')::bytea FROM ok WHERE ok.j->'k' IS NOT NULL),"
		      " ck AS (SELECT ok.v, x.k, x.id, x.s FROM ok,"
		      "  jsonb_to_recordset(ok.j->'ck') AS x(k text, id text, s int)"
		      "  WHERE x.s BETWEEN -2147483648 AND 2147483647),"
		      " cp AS (UPDATE payments p SET score_before_bp = x.s FROM ck x"
		      "  WHERE x.k = 'p' AND p.vendor_id = x.v AND p.id = x.id),"
		      " cd AS (UPDATE offers o SET score_before_bp = x.s FROM ck x"
		      "  WHERE x.k = 'd' AND o.vendor_id = x.v AND o.id = x.id),"
		      " nt AS (SELECT count(pg_notify('" CACHE_CHANNEL
		      "', ok.j->>'n')) AS n FROM ok"
		      "  WHERE ok.j->>'n' IS NOT NULL)"
		      " SELECT it.i, (ok.i IS NOT NULL)::int, coalesce(ru.x, gi.x), nt.n"
		      " FROM it CROSS JOIN nt LEFT JOIN ok ON ok.i = it.i"
		      " LEFT JOIN ru ON ru.vendor_id = it.v AND ru.customer_id = it.c"
		      " LEFT JOIN gi ON gi.vendor_id = it.v AND gi.customer_id = it.c ORDER BY "
		      "it.i";

static const char sql_idem_only[] =
	"INSERT INTO idempotency (vendor_id, key, call, request_hash, state, response)"
	" VALUES ($1, $2, $3, $4, 'DONE', $5::bytea) RETURNING 1";

void store_ts(int64_t us, char *out, size_t len)
{
	time_t s = (time_t)(us / 1000000);
	int64_t frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

/* Tell whether rep's checkpoints are a replay under pol (from some cycle on). */
static bool checkpoints_hold(const store_rep *rep, const fp_policy *pol)
{
	return rep->checkpoints_prior_bp == pol->prior_score_bp &&
	       rep->checkpoints_alpha_bp == pol->alpha_bp;
}

bool store_checkpoint_holds(const store_rep *rep, const fp_policy *pol, const store_cycle_entry *e)
{
	if (!checkpoints_hold(rep, pol) || e->score_before_bp < 0)
		return false;
	/* In replay order: (at, id), ids compared bytewise. */
	if (e->at_us != rep->checkpoints_from_us)
		return e->at_us > rep->checkpoints_from_us;
	return strcmp(e->id, rep->checkpoints_from_id) >= 0;
}

void store_checkpoint_append(const fp_policy *pol, const store_rep *before, store_rep *after,
			     store_cycle_entry *e, const char *id, bool is_default,
			     int32_t fairness_bp)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->is_default = is_default;
	e->fairness_bp = fairness_bp;
	e->score_before_bp = before->score_bp;
	/* A step under another policy than the checkpoints' makes a score
	 * that no replay from the prior gives: the next replay starts over. */
	if (!checkpoints_hold(before, pol)) {
		after->checkpoints_prior_bp = -1;
		after->checkpoints_alpha_bp = -1;
	}
}

int64_t store_next_us(const store_rep *rep, int64_t now_us)
{
	return rep->exists && rep->updated_us >= now_us ? rep->updated_us + 1 : now_us;
}

static json_t *ts_json(int64_t us)
{
	if (us == 0)
		return json_null();
	char buf[40];
	store_ts(us, buf, sizeof(buf));
	return json_string(buf);
}

/* What the write's offer update (`ou`) reads of an offer: the columns a
 * transition changes, and the key. Leaving out the rest spares building,
 * sending and parsing the two thirds of the row that stay as they are. */
static json_t *offer_update_json(const store_offer *o, int64_t accepted_us, int64_t closed_us)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_string(o->id));
	json_object_set_new(j, "status", json_string(names_of(NAMES_STATUS, o->status)));
	json_object_set_new(j, "accepted_at", ts_json(accepted_us));
	json_object_set_new(j, "pay_by", ts_json(o->pay_by_us));
	json_object_set_new(j, "closed_at", ts_json(closed_us));
	json_object_set_new(j, "credit_limit_minor", json_integer(o->credit_limit_minor));
	json_object_set_new(j, "credit_used_minor", json_integer(o->credit_used_minor));
	return j;
}

/* A whole offer row, to insert: the update's columns and the rest. */
static json_t *offer_json(const char *vendor, const store_offer *o, int64_t accepted_us,
			  int64_t closed_us)
{
	json_t *reasons = json_array();
	for (size_t i = 0; i < o->n_reasons; i++)
		json_array_append_new(reasons,
				      json_string(names_of(NAMES_OFFER_REASON, o->reasons[i])));
	json_t *j = offer_update_json(o, accepted_us, closed_us);
	json_object_set_new(j, "vendor_id", json_string(vendor));
	json_object_set_new(j, "customer_id", json_string(o->customer_id));
	json_object_set_new(j, "sku", json_string(o->sku));
	json_object_set_new(j, "mode", json_string(names_of(NAMES_MODE, o->mode)));
	json_object_set_new(j, "currency", json_string(o->currency));
	json_object_set_new(j, "suggested_price_minor", json_integer(o->suggested_price_minor));
	json_object_set_new(j, "unit_price_minor", json_integer(o->unit_price_minor));
	json_object_set_new(j, "minimum_price_minor", json_integer(o->minimum_price_minor));
	json_object_set_new(j, "set_price_minor", json_integer(o->set_price_minor));
	json_object_set_new(j, "tier", json_string(names_of(NAMES_TIER, o->tier)));
	json_object_set_new(j, "reasons", reasons);
	json_object_set_new(j, "created_at", ts_json(o->created_us));
	json_object_set_new(j, "expires_at", ts_json(o->expires_us));
	json_object_set_new(j, "period_index", json_integer(o->period_index));
	json_object_set_new(j, "previous_offer_id",
			    o->previous_offer_id[0] ? json_string(o->previous_offer_id)
						    : json_null());
	json_object_set_new(j, "list_price_minor", json_integer(o->list_price_minor));
	return j;
}

static json_t *payment_json(const char *vendor, const store_payment *p, const char *review_note,
			    int64_t reviewed_us)
{
	json_t *reasons = json_array();
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++)
		if (p->reasons & FP_REASON_BIT(r))
			json_array_append_new(reasons,
					      json_string(names_of(NAMES_PAYMENT_REASON, r)));
	json_t *j = json_object();
	json_object_set_new(j, "vendor_id", json_string(vendor));
	json_object_set_new(j, "id", json_string(p->id));
	json_object_set_new(j, "offer_id", json_string(p->offer_id));
	json_object_set_new(j, "customer_id", json_string(p->customer_id));
	json_object_set_new(j, "amount_minor", json_integer(p->amount_minor));
	json_object_set_new(j, "currency", json_string(p->currency));
	json_object_set_new(j, "suggested_price_minor", json_integer(p->suggested_price_minor));
	json_object_set_new(j, "usage_units", json_integer(p->usage_units));
	json_object_set_new(j, "reasons", reasons);
	json_object_set_new(j, "note", json_string(p->note ? p->note : ""));
	json_object_set_new(j, "fairness_bp", json_integer(p->a.fairness_bp));
	json_object_set_new(j, "raw_fairness_bp", json_integer(p->a.raw_fairness_bp));
	json_object_set_new(j, "verdict", json_string(names_of(NAMES_VERDICT, p->a.verdict)));
	json_object_set_new(j, "review", json_string(names_of(NAMES_REVIEW, p->a.review)));
	json_object_set_new(j, "late", json_boolean(p->late));
	json_object_set_new(j, "created_at", ts_json(p->created_us));
	json_object_set_new(j, "reviewed_at", ts_json(reviewed_us));
	json_object_set_new(j, "review_note", review_note ? json_string(review_note) : json_null());
	return j;
}

/* The checkpoint ch sets for closed cycle id, or -1. */
static int32_t checkpoint_of(const store_change *ch, const char *id, bool is_default)
{
	for (size_t i = 0; i < ch->n_checkpoints; i++) {
		const store_cycle_entry *e = &ch->checkpoints[i];
		if (e->is_default == is_default && strcmp(e->id, id) == 0)
			return e->score_before_bp;
	}
	return -1;
}

/* Put a row's checkpoint into its record, when ch sets one. */
static void set_checkpoint(json_t *j, const store_change *ch, const char *id, bool is_default)
{
	int32_t s = checkpoint_of(ch, id, is_default);
	if (s >= 0)
		json_object_set_new(j, "score_before_bp", json_integer(s));
}

/* True when the checkpoint of id travels in a record ($7, $9 or $10). */
static bool in_record(const store_change *ch, const store_cycle_entry *e)
{
	if (e->is_default)
		return ch->update_offer != NULL && strcmp(ch->update_offer->id, e->id) == 0;
	return (ch->insert_payment != NULL && strcmp(ch->insert_payment->id, e->id) == 0) ||
	       (ch->update_payment != NULL && strcmp(ch->update_payment->id, e->id) == 0);
}

static json_t *rep_json(const store_rep_write *w)
{
	const store_rep *r = w->after;
	json_t *j = json_object();
	json_object_set_new(j, "vendor_id", json_string(w->vendor_id));
	json_object_set_new(j, "customer_id", json_string(w->customer_id));
	json_object_set_new(j, "score_bp", json_integer(r->score_bp));
	json_object_set_new(j, "payments", json_integer(r->payments));
	json_object_set_new(j, "defaults", json_integer(r->defaults));
	json_object_set_new(j, "open_defaults", json_integer(r->open_defaults));
	json_object_set_new(j, "offers_accepted", json_integer(r->offers_accepted));
	json_object_set_new(j, "total_paid_minor", json_integer(r->total_paid_minor));
	json_object_set_new(j, "total_suggested_minor", json_integer(r->total_suggested_minor));
	json_object_set_new(j, "credit_used_minor", json_integer(r->credit_used_minor));
	json_object_set_new(j, "updated_at", ts_json(r->updated_us));
	json_object_set_new(j, "currency", r->currency[0] ? json_string(r->currency) : json_null());
	json_object_set_new(j, "checkpoints_prior_bp",
			    r->checkpoints_prior_bp >= 0 ? json_integer(r->checkpoints_prior_bp)
							 : json_null());
	json_object_set_new(j, "checkpoints_alpha_bp",
			    r->checkpoints_alpha_bp >= 0 ? json_integer(r->checkpoints_alpha_bp)
							 : json_null());
	json_object_set_new(j, "checkpoints_from_at", ts_json(r->checkpoints_from_us));
	json_object_set_new(j, "checkpoints_from_id",
			    r->checkpoints_from_id[0] ? json_string(r->checkpoints_from_id)
						      : json_null());
	json_object_set_new(j, "attested_payments", json_integer(r->attested_payments));
	json_object_set_new(j, "attested_by",
			    r->attested_by[0] ? json_string(r->attested_by) : json_null());
	json_object_set_new(j, "seed_score_bp",
			    r->seed_score_bp >= 0 ? json_integer(r->seed_score_bp) : json_null());
	return j;
}

/* Keep a JSON text alive as long as the statement: it is stored in a
 * param slot's heap copy, freed by store_stmt_free(). */
static const char *dump(store_stmt *s, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (text == NULL)
		abort(); /* out of memory: nothing sane to write */
	s->owned[s->n_owned++] = text;
	return text;
}

/* What a change adds to one offer's insights (facts.h). */
typedef struct offer_facts {
	const char *offer_id;
	facts f;
} offer_facts;

/* A change touches at most two offers and a payment. */
#define CHANGE_FACTS 4

static facts *facts_for(offer_facts *out, size_t *n, const char *offer_id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i].offer_id, offer_id) == 0)
			return &out[i].f;
	memset(&out[*n], 0, sizeof(out[*n]));
	out[*n].offer_id = offer_id;
	return &out[(*n)++].f;
}

static facts_payment_row payment_row(const store_payment *p, int64_t list_price_minor)
{
	return (facts_payment_row){ p->amount_minor,  p->suggested_price_minor,
				    list_price_minor, p->a.raw_fairness_bp,
				    p->a.fairness_bp, p->reasons,
				    p->a.review,      p->late };
}

/* What ch adds to the sums, per offer: its rows after minus before. */
static size_t change_facts(const store_change *ch, offer_facts out[CHANGE_FACTS])
{
	size_t n = 0;
	int64_t list_price = 0;
	if (ch->update_offer != NULL) {
		facts *f = facts_for(out, &n, ch->update_offer->id);
		facts_offer(f, ch->update_offer->status, 1);
		facts_offer(f, ch->update_offer_from, -1);
		list_price = ch->update_offer->list_price_minor;
	}
	if (ch->insert_offer != NULL)
		facts_offer(facts_for(out, &n, ch->insert_offer->id), ch->insert_offer->status, 1);
	if (ch->insert_offer2 != NULL)
		facts_offer(facts_for(out, &n, ch->insert_offer2->id), ch->insert_offer2->status,
			    1);
	if (ch->insert_payment != NULL) {
		/* The payment is for the offer it updates (SubmitPayment). */
		facts_payment_row row = payment_row(ch->insert_payment, list_price);
		facts_payment(facts_for(out, &n, ch->insert_payment->offer_id), &row, 1);
	}
	if (ch->update_payment != NULL && ch->update_payment_from != NULL) {
		/* The list price counts the same before and after a review. */
		facts *f = facts_for(out, &n, ch->update_payment->offer_id);
		facts_payment_row after = payment_row(ch->update_payment, 0);
		facts_payment_row before = payment_row(ch->update_payment_from, 0);
		facts_payment(f, &after, 1);
		facts_payment(f, &before, -1);
	}
	return n;
}

/* Put each offer's facts on the first of ch's events that names the offer
 * (the fold finds the offer's hour, sku and currency through it). */
static void events_facts(const store_change *ch, json_t *const ev[STORE_WRITE_EVENTS])
{
	offer_facts of[CHANGE_FACTS];
	size_t n = change_facts(ch, of);
	for (size_t i = 0; i < n; i++) {
		if (facts_zero(&of[i].f))
			continue;
		char text[FACTS_TEXT_LEN];
		if (facts_format(&of[i].f, text, sizeof(text)) != 0)
			continue; /* cannot happen: the buffer holds every entry */
		for (int k = 0; k < STORE_WRITE_EVENTS; k++) {
			const store_event *e = &ch->events[k];
			if (ev[k] != NULL && e->offer_id != NULL &&
			    strcmp(e->offer_id, of[i].offer_id) == 0) {
				json_object_set_new(ev[k], "insights", json_string(text));
				break;
			}
		}
	}
}

void store_write(store_stmt *s, const store_change *ch)
{
	memset(s, 0, sizeof(*s));
	s->sql = sql_write;
	s->n = 1;
	const char *vendor = ch->rep.vendor_id;
	json_t *item = json_object();
	json_object_set_new(item, "v", json_string(vendor));
	json_object_set_new(item, "c", json_string(ch->rep.customer_id));
	if (ch->rep.before->exists)
		json_object_set_new(item, "x", json_string(ch->rep.before->xmin));
	json_object_set_new(item, "r", rep_json(&ch->rep));
	if (ch->update_offer != NULL) {
		json_object_set_new(item, "oi", json_string(ch->update_offer->id));
		json_object_set_new(item, "ox", json_string(ch->update_offer->xmin));
		json_t *o = offer_update_json(ch->update_offer, ch->update_offer_accepted_us,
					      ch->update_offer_closed_us);
		set_checkpoint(o, ch, ch->update_offer->id, true);
		json_object_set_new(item, "ou", o);
	}
	json_t *offers = json_array();
	if (ch->insert_offer != NULL)
		json_array_append_new(offers, offer_json(vendor, ch->insert_offer, 0, 0));
	if (ch->insert_offer2 != NULL)
		json_array_append_new(
			offers, offer_json(vendor, ch->insert_offer2,
					   ch->insert_offer2->status == FP_OFFER_STATUS_ACCEPTED
						   ? ch->insert_offer2->created_us
						   : 0,
					   0));
	json_object_set_new(item, "o", offers);
	json_t *payments = json_array();
	if (ch->insert_payment != NULL) {
		json_t *p = payment_json(vendor, ch->insert_payment, NULL, 0);
		set_checkpoint(p, ch, ch->insert_payment->id, false);
		json_array_append_new(payments, p);
	}
	json_object_set_new(item, "p", payments);
	if (ch->update_payment != NULL) {
		json_t *p = payment_json(vendor, ch->update_payment,
					 ch->review_note ? ch->review_note : "", ch->at_us);
		set_checkpoint(p, ch, ch->update_payment->id, false);
		json_object_set_new(item, "pu", p);
	}
	json_t *events = json_array();
	json_t *ev[STORE_WRITE_EVENTS] = { NULL };
	for (int i = 0; i < STORE_WRITE_EVENTS; i++) {
		const store_event *e = &ch->events[i];
		if (e->kind == NULL)
			continue;
		json_t *j = json_object();
		ev[i] = j;
		json_object_set_new(j, "vendor_id", json_string(vendor));
		json_object_set_new(j, "customer_id", json_string(ch->rep.customer_id));
		json_object_set_new(j, "kind", json_string(e->kind));
		json_object_set_new(j, "offer_id",
				    e->offer_id && e->offer_id[0] ? json_string(e->offer_id)
								  : json_null());
		json_object_set_new(j, "payment_id",
				    e->payment_id && e->payment_id[0] ? json_string(e->payment_id)
								      : json_null());
		json_object_set_new(j, "detail", json_string(e->detail ? e->detail : ""));
		json_object_set_new(j, "at", ts_json(ch->at_us));
		json_array_append_new(events, j);
	}
	events_facts(ch, ev);
	json_object_set_new(item, "e", events);
	if (ch->idem.key != NULL)
		json_object_set_new(item, "k",
				    json_pack("{s:s,s:s,s:s,s:s,s:s}", "s", ch->idem.scope, "k",
					      ch->idem.key, "c", ch->idem.call, "h", ch->idem.hash,
					      "r", ch->idem.response_hex));
	if (ch->notify != NULL)
		json_object_set_new(item, "n", json_string(ch->notify));
	json_t *cks = json_array();
	for (size_t i = 0; i < ch->n_checkpoints; i++) {
		const store_cycle_entry *e = &ch->checkpoints[i];
		if (in_record(ch, e))
			continue;
		json_array_append_new(cks,
				      json_pack("{s:s,s:s,s:i}", "k", e->is_default ? "d" : "p",
						"id", e->id, "s", (int)e->score_before_bp));
	}
	json_object_set_new(item, "ck", cks);
	s->params[0] = dump(s, item);
}

void store_write_idem_only(store_stmt *s, const store_idem *idem)
{
	memset(s, 0, sizeof(*s));
	s->sql = sql_idem_only;
	s->n = 5;
	s->params[0] = idem->scope;
	s->params[1] = idem->key;
	s->params[2] = idem->call;
	s->params[3] = idem->hash;
	s->params[4] = idem->response_hex;
}

void store_stmt_free(store_stmt *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n_owned; i++)
		free(s->owned[i]);
	s->n_owned = 0;
}

void store_key_rep(char *out, size_t len, const char *vendor, const char *customer)
{
	snprintf(out, len, "r/%s/%s", vendor, customer);
}

void store_key_offer(char *out, size_t len, const char *vendor, const char *offer_id)
{
	snprintf(out, len, "o/%s/%s", vendor, offer_id);
}

void store_key_policy(char *out, size_t len, const char *vendor)
{
	snprintf(out, len, "p/%s", vendor);
}

void store_key_product(char *out, size_t len, const char *vendor, const char *sku)
{
	snprintf(out, len, "s/%s/%s", vendor, sku);
}

uint32_t store_reason_mask(const char *list)
{
	uint32_t mask = 0;
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",");
		int r = names_value_n(NAMES_PAYMENT_REASON, p, len);
		if (r != 0)
			mask |= FP_REASON_BIT(r);
		p += len;
		if (*p == ',')
			p++;
	}
	return mask;
}

void store_policy_from_row(const PGresult *res, int row, int col, fp_policy *p)
{
	p->enforcement =
		(fp_enforcement)names_value(NAMES_ENFORCEMENT, db_get_str(res, row, col + 0));
	p->prior_score_bp = get_i32(res, row, col + 1);
	p->alpha_bp = get_i32(res, row, col + 2);
	p->probation_payments = get_i32(res, row, col + 3);
	p->trusted_score_bp = get_i32(res, row, col + 4);
	p->fair_score_bp = get_i32(res, row, col + 5);
	p->low_score_bp = get_i32(res, row, col + 6);
	p->generous_bp = get_i32(res, row, col + 7);
	p->max_open_defaults = get_i32(res, row, col + 8);
	p->restricted_minimum_bp = get_i32(res, row, col + 9);
	p->probation_credit_minor = db_get_i64(res, row, col + 10);
	p->standard_credit_minor = db_get_i64(res, row, col + 11);
	p->trusted_credit_minor = db_get_i64(res, row, col + 12);
	p->excusing_reasons = store_reason_mask(db_get_str(res, row, col + 13));
	p->excused_floor_bp = get_i32(res, row, col + 14);
	p->late_penalty_bp = get_i32(res, row, col + 15);
	p->offer_ttl_seconds = db_get_i64(res, row, col + 16);
	p->payment_window_seconds = db_get_i64(res, row, col + 17);
	p->version = db_get_i64(res, row, col + 18);
	p->attestation_cap_bp = get_i32(res, row, col + 19);
}

void store_reputation_detail(char *out, size_t len, const fp_policy *pol, const store_rep *before,
			     const store_rep *after)
{
	fp_tier t0 = fp_tier_attested(pol, before->score_bp, before->payments,
				      before->attested_payments, before->open_defaults);
	fp_tier t1 = fp_tier_attested(pol, after->score_bp, after->payments,
				      after->attested_payments, after->open_defaults);
	if (t0 == t1)
		snprintf(out, len, "score %d -> %d, tier %s", before->score_bp, after->score_bp,
			 names_of(NAMES_TIER, t1));
	else
		snprintf(out, len, "score %d -> %d, tier %s -> %s", before->score_bp,
			 after->score_bp, names_of(NAMES_TIER, t0), names_of(NAMES_TIER, t1));
}
