/* The statements of GetInsights and SimulatePolicy and their rows (see
 * insights.h; the sums are folded by server/jobs/fold.c, migration 0014). */
#include "insights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "facts.h"
#include "names.h"
#include "store.h"

#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"
#define HOUR_MS 3600000LL

/* The offers created in the two partial hours of the window. */
#define EDGE_OFFERS                                                                           \
	"SELECT o.* FROM offers o WHERE o.vendor_id = $1 AND o.created_at >= $5::timestamptz" \
	" AND o.created_at < $6::timestamptz AND ($2 = '' OR o.sku = $2)"                     \
	" UNION ALL SELECT o.* FROM offers o WHERE o.vendor_id = $1"                          \
	" AND o.created_at >= $7::timestamptz AND o.created_at < $8::timestamptz"             \
	" AND ($2 = '' OR o.sku = $2)"

/* The hour of an offer, as insights_stats.hour. */
#define HOUR_OF(t) "floor(extract(epoch FROM " t ") / 3600)"

const char insights_sql_sums[] =
	/* The events not folded yet, of offers in the whole hours. */
	"WITH t AS (SELECT o.currency, e.insights AS a FROM events e,"
	/* Each event's offer through its key (LIMIT keeps the generic plan,
	 * which cannot tell that the tail is short, from hashing all the
	 * vendor's offers instead). */
	"  LATERAL (SELECT o.currency, o.sku, o.created_at FROM offers o"
	"   WHERE o.vendor_id = e.vendor_id AND o.id = e.offer_id LIMIT 1) o"
	/* A scalar, so that the tail is a range of the events' key. */
	"  WHERE e.vendor_id = $1 AND e.id > (SELECT folded_upto FROM insights_fold)"
	"  AND e.insights IS NOT NULL"
	"  AND " HOUR_OF("o.created_at") " >= $3::bigint AND " HOUR_OF(
		"o.created_at") " < $4::bigint"
				"  AND ($2 = '' OR o.sku = $2)),"
				" s AS (SELECT h.currency, h.stat, h.value FROM insights_stats h"
				"  WHERE h.vendor_id = $1 AND h.hour >= $3::bigint AND h.hour < "
				"$4::bigint"
				"  AND ($2 = '' OR h.sku = $2)"
				"  UNION ALL SELECT t.currency, t.a[2 * k - 1]::smallint, t.a[2 * "
				"k]::numeric"
				"  FROM t, generate_series(1, cardinality(t.a) / 2) k)"
				" SELECT 's' AS k, s.currency, s.stat::int,"
				"  least(greatest(sum(s.value), -9223372036854775808),"
				"   9223372036854775807)::bigint,"
				"  NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, "
				"NULL::int, "
				"NULL::int,"
				"  NULL::text, NULL::text, NULL::boolean"
				" FROM s GROUP BY s.currency, s.stat"
				/* The partial hours: the rows themselves, each offer with
				 * its payment through the payments' unique key (LIMIT keeps
				 * the planner from hashing all the vendor's payments). */
				" UNION ALL SELECT 'e', o.currency, NULL, NULL, o.status,"
				"  coalesce(o.list_price_minor, 0), p.amount_minor, "
				"p.suggested_price_minor,"
				"  p.raw_fairness_bp, p.fairness_bp, array_to_string(p.reasons, "
				"','), p.review, p.late"
				" FROM (" EDGE_OFFERS
				") o LEFT JOIN LATERAL (SELECT * FROM payments p"
				"  WHERE p.vendor_id = o.vendor_id AND p.offer_id = o.id LIMIT 1) "
				"p ON "
				"true"
				" ORDER BY 2";

const char insights_sql_fold[] =
	"WITH st AS (SELECT folded_upto FROM insights_fold FOR UPDATE SKIP LOCKED),"
	" n AS (SELECT st.folded_upto AS lo, least($1::bigint, st.folded_upto + $2::bigint) AS hi"
	"  FROM st WHERE $1::bigint > st.folded_upto),"
	" d AS (SELECT o.vendor_id, " HOUR_OF(
		"o.created_at") "::bigint AS hour, o.sku, o.currency,"
				"  e.insights AS a FROM events e,"
				"  LATERAL (SELECT o.vendor_id, o.sku, o.currency, o.created_at "
				"FROM "
				"offers o"
				"   WHERE o.vendor_id = e.vendor_id AND o.id = e.offer_id LIMIT 1) "
				"o"
				"  WHERE e.id > (SELECT lo FROM n) AND e.id <= (SELECT hi FROM n)"
				"  AND e.insights IS NOT NULL),"
				" s AS (SELECT d.vendor_id, d.hour, d.sku, d.currency, d.a[2 * k - "
				"1]::smallint AS stat,"
				"  sum(d.a[2 * k]) AS value FROM d, generate_series(1, "
				"cardinality(d.a) / 2) k"
				"  GROUP BY 1, 2, 3, 4, 5),"
				" up AS (INSERT INTO insights_stats AS h (vendor_id, hour, sku, "
				"currency, stat, value)"
				"  SELECT * FROM s ORDER BY 1, 2, 3, 4, 5"
				"  ON CONFLICT (vendor_id, hour, sku, currency, stat)"
				"  DO UPDATE SET value = h.value + EXCLUDED.value),"
				" mv AS (UPDATE insights_fold f SET folded_upto = n.hi FROM n "
				"RETURNING f.folded_upto)"
				" SELECT mv.folded_upto, (SELECT count(*) FROM d) FROM mv";

const char insights_sql_product[] = "SELECT 1 FROM products WHERE vendor_id = $1 AND sku = $2";

/* Policies allow probation_payments and max_open_defaults up to 1000 (fp_policy_validate). */
#define STANDING_CAP "1001"

const char insights_sql_standing[] =
	"SELECT currency, score_bp, least(payments, " STANDING_CAP "),"
	" least(open_defaults, " STANDING_CAP "), least(attested_payments, " STANDING_CAP "),"
	" count(*) FROM reputations"
	" WHERE vendor_id = $1 AND currency IS NOT NULL GROUP BY 1, 2, 3, 4, 5";

const char insights_sql_customers[] =
	"SELECT customer_id, score_bp, payments, open_defaults, attested_payments,"
	" coalesce(seed_score_bp, -1) FROM reputations"
	" WHERE vendor_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3::int";

/* Each branch walks its index in (customer, time, id) order from the
 * position on: payments_list_customer_idx and offers_customer_defaults_idx. */
const char insights_sql_history[] = "SELECT customer_id, " US(
	"at") ", id, d, raw, reasons, review, late FROM ("
	      " (SELECT p.customer_id, p.created_at AS at, p.id COLLATE \"C\" AS id, false AS d,"
	      "  p.raw_fairness_bp AS raw, array_to_string(p.reasons, ',') AS reasons, p.review, "
	      "p.late"
	      "  FROM payments p WHERE p.vendor_id = $1"
	      "  AND (p.customer_id, p.created_at, p.id COLLATE \"C\") > ($2, $3::timestamptz, $4)"
	      "  AND p.customer_id <= $5"
	      "  ORDER BY p.customer_id, p.created_at, p.id COLLATE \"C\" LIMIT $6::int)"
	      " UNION ALL"
	      " (SELECT o.customer_id, o.closed_at, o.id COLLATE \"C\", true, 0, '', 'NOT_NEEDED', "
	      "false"
	      "  FROM offers o WHERE o.vendor_id = $1 AND o.status = 'DEFAULTED'"
	      "  AND (o.customer_id, o.closed_at, o.id COLLATE \"C\") > ($2, $3::timestamptz, $4)"
	      "  AND o.customer_id <= $5"
	      "  ORDER BY o.customer_id, o.closed_at, o.id COLLATE \"C\" LIMIT $6::int)) h"
	      " ORDER BY customer_id, at, id LIMIT $6::int";

/* The first hour at or after ms (floor division for negatives too). */
static int64_t hour_ceil(int64_t ms)
{
	int64_t h = ms / HOUR_MS;
	return (ms % HOUR_MS > 0) ? h + 1 : h;
}

static int64_t hour_floor(int64_t ms)
{
	int64_t h = ms / HOUR_MS;
	return (ms % HOUR_MS < 0) ? h - 1 : h;
}

void insights_window_of(int64_t from_ms, int64_t to_ms, insights_window *w)
{
	/* Open ends take every hour a timestamp can have. */
	int64_t fh = from_ms == 0 ? INT64_MIN / 2 : hour_ceil(from_ms);
	int64_t th = to_ms == 0 ? INT64_MAX / 2 : hour_floor(to_ms);
	char from_ts[INSIGHTS_TS_LEN], to_ts[INSIGHTS_TS_LEN];
	if (from_ms == 0)
		snprintf(from_ts, sizeof(from_ts), "-infinity");
	else
		store_ts(from_ms * 1000, from_ts, sizeof(from_ts));
	if (to_ms == 0)
		snprintf(to_ts, sizeof(to_ts), "infinity");
	else
		store_ts(to_ms * 1000, to_ts, sizeof(to_ts));
	if (fh >= th) {
		/* Within one hour, or across one boundary: all from the rows. */
		snprintf(w->hour_from, sizeof(w->hour_from), "0");
		snprintf(w->hour_to, sizeof(w->hour_to), "0");
		snprintf(w->edge[0], sizeof(w->edge[0]), "%s", from_ts);
		snprintf(w->edge[1], sizeof(w->edge[1]), "%s", to_ts);
		snprintf(w->edge[2], sizeof(w->edge[2]), "%s", to_ts);
		snprintf(w->edge[3], sizeof(w->edge[3]), "%s", to_ts);
		return;
	}
	snprintf(w->hour_from, sizeof(w->hour_from), "%lld", (long long)fh);
	snprintf(w->hour_to, sizeof(w->hour_to), "%lld", (long long)th);
	snprintf(w->edge[0], sizeof(w->edge[0]), "%s", from_ts);
	if (from_ms == 0)
		snprintf(w->edge[1], sizeof(w->edge[1]), "%s", from_ts);
	else
		store_ts(fh * HOUR_MS * 1000, w->edge[1], sizeof(w->edge[1]));
	if (to_ms == 0)
		snprintf(w->edge[2], sizeof(w->edge[2]), "%s", to_ts);
	else
		store_ts(th * HOUR_MS * 1000, w->edge[2], sizeof(w->edge[2]));
	snprintf(w->edge[3], sizeof(w->edge[3]), "%s", to_ts);
}

/* Add to f what one partial-hour row of insights_sql_sums counts. */
static void add_edge_row(const PGresult *res, int row, facts *f)
{
	facts_offer(f, (fp_offer_status)names_value(NAMES_STATUS, db_get_str(res, row, 4)), 1);
	if (db_is_null(res, row, 6))
		return; /* not paid */
	facts_payment_row p = {
		.amount_minor = db_get_i64(res, row, 6),
		.suggested_price_minor = db_get_i64(res, row, 7),
		.list_price_minor = db_get_i64(res, row, 5),
		.raw_fairness_bp = (int32_t)db_get_i64(res, row, 8),
		.fairness_bp = (int32_t)db_get_i64(res, row, 9),
		.reasons = store_reason_mask(db_get_str(res, row, 10)),
		.review = (fp_review)names_value(NAMES_REVIEW, db_get_str(res, row, 11)),
		.late = db_get_str(res, row, 12)[0] == 't',
	};
	facts_payment(f, &p, 1);
}

int insights_collect(const PGresult *res, insights_sums *out, size_t *n)
{
	*n = 0;
	if (PQnfields(res) != 13)
		return -1;
	for (int row = 0; row < PQntuples(res); row++) {
		const char *cur = db_get_str(res, row, 1);
		if (strlen(cur) >= sizeof(out->currency))
			return -1;
		/* Rows come in currency order. */
		if (*n == 0 || strcmp(out[*n - 1].currency, cur) != 0) {
			memset(&out[*n], 0, sizeof(out[*n]));
			snprintf(out[*n].currency, sizeof(out[*n].currency), "%s", cur);
			(*n)++;
		}
		facts *f = &out[*n - 1].f;
		if (db_get_str(res, row, 0)[0] == 'e') {
			add_edge_row(res, row, f);
			continue;
		}
		int64_t stat = db_get_i64(res, row, 2);
		if (stat < 0 || stat >= FACTS_N)
			continue; /* a stat of a later version: not reported here */
		facts_add_stat(f, (int)stat, db_get_i64(res, row, 3));
	}
	return 0;
}

void insights_read_standing(const PGresult *res, int row, insights_standing *out)
{
	snprintf(out->currency, sizeof(out->currency), "%s", db_get_str(res, row, 0));
	out->score_bp = (int32_t)db_get_i64(res, row, 1);
	out->payments = (int32_t)db_get_i64(res, row, 2);
	out->open_defaults = (int32_t)db_get_i64(res, row, 3);
	out->attested_payments = (int32_t)db_get_i64(res, row, 4);
	out->customers = db_get_i64(res, row, 5);
}

int insights_read_customer(const PGresult *res, int row, insights_customer *out)
{
	const char *id = db_get_str(res, row, 0);
	if (strlen(id) >= sizeof(out->customer_id))
		return -1;
	snprintf(out->customer_id, sizeof(out->customer_id), "%s", id);
	out->score_bp = (int32_t)db_get_i64(res, row, 1);
	out->payments = (int32_t)db_get_i64(res, row, 2);
	out->open_defaults = (int32_t)db_get_i64(res, row, 3);
	out->attested_payments = (int32_t)db_get_i64(res, row, 4);
	out->seed_score_bp = (int32_t)db_get_i64(res, row, 5);
	return 0;
}

int insights_read_cycle(const PGresult *res, int row, insights_cycle *out)
{
	memset(out, 0, sizeof(*out));
	const char *cust = db_get_str(res, row, 0);
	const char *id = db_get_str(res, row, 2);
	if (strlen(cust) >= sizeof(out->customer_id) || strlen(id) >= sizeof(out->id))
		return -1;
	snprintf(out->customer_id, sizeof(out->customer_id), "%s", cust);
	out->at_us = db_get_i64(res, row, 1);
	snprintf(out->id, sizeof(out->id), "%s", id);
	out->entry.open_default = db_get_str(res, row, 3)[0] == 't';
	out->entry.raw_fairness_bp = (int32_t)db_get_i64(res, row, 4);
	out->entry.reasons = store_reason_mask(db_get_str(res, row, 5));
	out->entry.review = (fp_review)names_value(NAMES_REVIEW, db_get_str(res, row, 6));
	out->entry.late = db_get_str(res, row, 7)[0] == 't';
	return 0;
}
