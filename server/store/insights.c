/* The statements of GetInsights and SimulatePolicy and their rows (see
 * insights.h; the sums are maintained by migration 0012). */
#include "insights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "names.h"
#include "store.h"

#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"
#define HOUR_MS 3600000LL

/* A sum as int64, stopping at the largest value (protocol-notes, Money limits). */
#define SUM(x) "least(sum(" x "), 9223372036854775807)::bigint"

/* The columns every part of the window gives, summed per currency. */
#define SUM_COLS                                                                             \
	SUM("offers_created")                                                                \
	", " SUM("offers_accepted") ", " SUM("offers_declined") ", " SUM(                    \
		"offers_expired") ", " SUM("defaults") ", " SUM("payments") ", " SUM("late_" \
										     "payments") ", " SUM("reviews_pending") ", " SUM("paid_minor") ", " SUM("suggested_minor") ", " SUM("list_minor") ", " SUM("at_or_above_sp")

/* The offers created in the two partial hours of the window. */
#define EDGE_OFFERS                                                                           \
	"SELECT o.* FROM offers o WHERE o.vendor_id = $1 AND o.created_at >= $5::timestamptz" \
	" AND o.created_at < $6::timestamptz AND ($2 = '' OR o.sku = $2)"                     \
	" UNION ALL SELECT o.* FROM offers o WHERE o.vendor_id = $1"                          \
	" AND o.created_at >= $7::timestamptz AND o.created_at < $8::timestamptz"             \
	" AND ($2 = '' OR o.sku = $2)"

const char insights_sql_sums[] =
	"WITH e AS (" EDGE_OFFERS "),"
	" x AS (SELECT h.currency, h.offers_created, h.offers_accepted, h.offers_declined,"
	"  h.offers_expired, h.defaults, h.payments, h.late_payments, h.reviews_pending,"
	"  h.paid_minor, h.suggested_minor, h.list_minor, h.at_or_above_sp, h.histogram, h.reasons"
	"  FROM insights_hourly h WHERE h.vendor_id = $1 AND h.hour >= $3::bigint"
	"  AND h.hour < $4::bigint AND ($2 = '' OR h.sku = $2)"
	" UNION ALL SELECT e.currency, (f).* FROM e, LATERAL insights_offer_facts(e, 1) f"
	/* Each offer's payment through the payments' unique key (LIMIT keeps
	 * the planner from hashing all the vendor's payments instead). */
	" UNION ALL SELECT e.currency, (f).* FROM e,"
	"  LATERAL (SELECT p FROM payments p WHERE p.vendor_id = e.vendor_id"
	"   AND p.offer_id = e.id LIMIT 1) x,"
	"  LATERAL insights_payment_facts(x.p, e::offers, 1) f),"
	/* The count arrays are summed entry by entry in one pass over their
	 * entries (an aggregate of arrays would rebuild one per row). */
	" hx AS (SELECT x.currency, u.i, sum(u.v)::bigint AS v FROM x,"
	"  unnest(x.histogram) WITH ORDINALITY u(v, i) GROUP BY 1, 2),"
	" rx AS (SELECT x.currency, u.i, sum(u.v)::bigint AS v FROM x,"
	"  unnest(x.reasons) WITH ORDINALITY u(v, i) GROUP BY 1, 2)"
	" SELECT s.*,"
	"  (SELECT '{' || string_agg(hx.v::text, ',' ORDER BY hx.i) || '}' FROM hx"
	"   WHERE hx.currency = s.currency),"
	"  (SELECT '{' || string_agg(rx.v::text, ',' ORDER BY rx.i) || '}' FROM rx"
	"   WHERE rx.currency = s.currency),"
	"  array_to_string(insights_reason_names(), ',')"
	" FROM (SELECT currency, " SUM_COLS " FROM x GROUP BY currency) s ORDER BY s.currency";

const char insights_sql_product[] = "SELECT 1 FROM products WHERE vendor_id = $1 AND sku = $2";

/* Policies allow probation_payments and max_open_defaults up to 1000 (fp_policy_validate). */
#define STANDING_CAP "1001"

const char insights_sql_standing[] =
	"SELECT currency, score_bp, least(payments, " STANDING_CAP "),"
	" least(open_defaults, " STANDING_CAP "), count(*) FROM reputations"
	" WHERE vendor_id = $1 AND currency IS NOT NULL GROUP BY 1, 2, 3, 4";

const char insights_sql_customers[] =
	"SELECT customer_id, score_bp, payments, open_defaults FROM reputations"
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

/* Parse a bigint[] in text form ("{1,2,3}", or "" for NULL) into n counts;
 * -1 when it holds another number of entries. */
static int parse_counts(const char *s, int64_t *out, size_t n)
{
	memset(out, 0, n * sizeof(*out));
	if (*s == '\0')
		return 0;
	if (*s++ != '{')
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *end;
		errno = 0;
		out[i] = strtoll(s, &end, 10);
		if (errno != 0 || end == s)
			return -1;
		s = end;
		if (*s != (i + 1 == n ? '}' : ','))
			return -1;
		s++;
	}
	return 0;
}

int insights_read_sums(const PGresult *res, int row, insights_sums *out)
{
	memset(out, 0, sizeof(*out));
	if (PQnfields(res) != 16)
		return -1;
	snprintf(out->currency, sizeof(out->currency), "%s", db_get_str(res, row, 0));
	int64_t *scalars[] = { &out->offers_created,  &out->offers_accepted, &out->offers_declined,
			       &out->offers_expired,  &out->defaults,        &out->payments,
			       &out->late_payments,   &out->reviews_pending, &out->paid_minor,
			       &out->suggested_minor, &out->list_minor,      &out->at_or_above_sp };
	for (int i = 0; i < 12; i++)
		*scalars[i] = db_get_i64(res, row, 1 + i);
	if (parse_counts(db_get_str(res, row, 13), out->histogram, INSIGHTS_HISTOGRAM) != 0)
		return -1;
	/* The reasons' order is the migration's (insights_reason_names()). */
	const char *names = db_get_str(res, row, 15);
	int64_t counts[FP_PAYMENT_REASON_MAX];
	if (parse_counts(db_get_str(res, row, 14), counts, FP_PAYMENT_REASON_MAX) != 0)
		return -1;
	for (size_t i = 0; i < FP_PAYMENT_REASON_MAX; i++) {
		const char *comma = strchr(names, ',');
		size_t len = comma ? (size_t)(comma - names) : strlen(names);
		int r = names_value_n(NAMES_PAYMENT_REASON, names, len);
		if (r <= 0 || r > FP_PAYMENT_REASON_MAX)
			return -1;
		out->reasons[r] = counts[i];
		names = comma ? comma + 1 : names + len;
	}
	return 0;
}

void insights_read_standing(const PGresult *res, int row, insights_standing *out)
{
	snprintf(out->currency, sizeof(out->currency), "%s", db_get_str(res, row, 0));
	out->score_bp = (int32_t)db_get_i64(res, row, 1);
	out->payments = (int32_t)db_get_i64(res, row, 2);
	out->open_defaults = (int32_t)db_get_i64(res, row, 3);
	out->customers = db_get_i64(res, row, 4);
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
