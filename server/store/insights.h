/* insights_: the statements of GetInsights, SimulatePolicy and the insights
 * fold, the columns they return and the conversion of their rows.
 *
 * GetInsights reads the sums folded per vendor, hour of the offer's
 * creation, sku, currency and stat (insights_stats, migration 0014) for the
 * whole hours of the window, adds the events not folded yet, and counts the
 * offers and payments of the partial hours at its ends themselves; every
 * number is facts.h's. So its cost follows the number of hours asked for and
 * the fold's lag, not the number of payments. SimulatePolicy pages through
 * the vendor's customers and their recorded history by keyset, in customer
 * order, one bounded page per query. */
#ifndef FP_INSIGHTS_H
#define FP_INSIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "facts.h"
#include "fp_rules.h"

/* Customers per SimulatePolicy page, and history rows per page. */
#define INSIGHTS_CUSTOMER_PAGE 1000
#define INSIGHTS_HISTORY_PAGE 10000

#define INSIGHTS_TS_LEN 40
#define INSIGHTS_CURRENCY_LEN 8
#define INSIGHTS_ID_LEN 20
#define INSIGHTS_CUSTOMER_LEN 129 /* LIMIT_CUSTOMER_BYTES and a NUL */

/* The latest time a window may name: 9999-12-31T23:59:59.999Z (the
 * timestamps' text form has four digits of year). */
#define INSIGHTS_MAX_UNIX_MS INT64_C(253402300799999)

/* The parameters of insights_sql_sums for a window [from_ms, to_ms), 0 =
 * open at that end: the whole hours, and the two partial ends. */
typedef struct insights_window {
	char hour_from[24];
	char hour_to[24];
	char edge[4][INSIGHTS_TS_LEN]; /* [edge0, edge1) and [edge2, edge3) */
} insights_window;

/* Split [from_ms, to_ms) (0 = open; from_ms <= to_ms when both are set,
 * both 0 to INSIGHTS_MAX_UNIX_MS). */
void insights_window_of(int64_t from_ms, int64_t to_ms, insights_window *w);

/* The sums of one currency: $1 vendor, $2 sku ("" = all), $3 $4 the whole
 * hours, $5-$8 the partial ends (insights_window); rows for
 * insights_collect(), in currency order. */
extern const char insights_sql_sums[];

/* Whether the vendor has product $2: one row when it does. */
extern const char insights_sql_product[];

typedef struct insights_sums {
	char currency[INSIGHTS_CURRENCY_LEN];
	facts f;
} insights_sums;

/* Sum the rows of insights_sql_sums into out (room for one per row), one
 * entry per currency in currency order; -1 when they are not its rows. */
int insights_collect(const PGresult *res, insights_sums *out, size_t *n)
	__attribute__((warn_unused_result));

/* Events folded per statement of the fold. */
#define INSIGHTS_FOLD_BATCH 50000

/* Fold the events after the last folded id, up to $1 (a horizon of the
 * event feed) and at most $2 of them, into insights_stats; one row (the
 * id folded to, the events that counted) when it folded, none when another
 * server holds the fold or there is nothing to fold. */
extern const char insights_sql_fold[];

/* The vendor's customers by standing: $1 vendor; rows of currency,
 * score_bp, payments, open_defaults, attested_payments (the counts capped
 * above any policy's thresholds, which keeps the groups few) and the number
 * of customers. */
extern const char insights_sql_standing[];

typedef struct insights_standing {
	char currency[INSIGHTS_CURRENCY_LEN];
	int32_t score_bp;
	int32_t payments;
	int32_t open_defaults;
	int32_t attested_payments;
	int64_t customers;
} insights_standing;

/* Read row of insights_sql_standing. */
void insights_read_standing(const PGresult *res, int row, insights_standing *out);

/* A page of customers: $1 vendor, $2 after this customer_id ("" = from the
 * first), $3 the page size; customer_id, score_bp, payments, open_defaults,
 * attested_payments, seed_score_bp (-1: not seeded) in customer order. */
extern const char insights_sql_customers[];

typedef struct insights_customer {
	char customer_id[INSIGHTS_CUSTOMER_LEN];
	int32_t score_bp;
	int32_t payments;
	int32_t open_defaults;
	int32_t attested_payments; /* rule 14 */
	int32_t seed_score_bp;     /* rule 14's seed; -1: none */
} insights_customer;

/* Read row of insights_sql_customers; -1 when it is not one. */
int insights_read_customer(const PGresult *res, int row, insights_customer *out)
	__attribute__((warn_unused_result));

/* A page of closed cycles, in customer then time order: $1 vendor, $2 $3 $4
 * the position after which it starts (customer_id, time, id; "", the
 * earliest time and "" to start at the first customer), $5 the last
 * customer of the customers' page, $6 the page size. Payments, and the
 * defaults still open (a default paid late is in its payment). */
extern const char insights_sql_history[];

/* A history row and its position. */
typedef struct insights_cycle {
	char customer_id[INSIGHTS_CUSTOMER_LEN];
	int64_t at_us;
	char id[INSIGHTS_ID_LEN];
	fp_history_entry entry;
} insights_cycle;

/* Read row of insights_sql_history; -1 when it is not one. */
int insights_read_cycle(const PGresult *res, int row, insights_cycle *out)
	__attribute__((warn_unused_result));

#endif
