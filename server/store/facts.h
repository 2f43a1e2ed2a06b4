/* facts_: what each offer and payment row adds to a vendor's GetInsights
 * sums, written once.
 *
 * A change's contribution is facts(rows after) - facts(rows before). The
 * server computes it when it writes the change (store_write) and carries it
 * in the change's event rows (events.insights); a job folds the events into
 * insights_stats (migration 0014), and GetInsights adds what is not folded
 * yet and, for the partial hours at a window's ends, the facts of the rows
 * themselves. So every number GetInsights reports comes from these two
 * functions, and no statement of the write path does more than store them.
 *
 * The stat numbers are stored (events.insights, insights_stats.stat): they
 * may be appended to, never renumbered. */
#ifndef FP_FACTS_H
#define FP_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp_rules.h"

/* Entries of Insights.fairness_histogram: [1000 i, 1000 i + 1000), the last
 * one 20000 (FP_RAW_FAIRNESS_CAP). */
#define FACTS_BUCKET_BP 1000
#define FACTS_HISTOGRAM (FP_RAW_FAIRNESS_CAP / FACTS_BUCKET_BP + 1)

enum {
	FACTS_OFFERS_CREATED = 0,
	FACTS_OFFERS_ACCEPTED = 1,
	FACTS_OFFERS_DECLINED = 2,
	FACTS_OFFERS_EXPIRED = 3,
	FACTS_DEFAULTS = 4, /* open defaults, and payments made late */
	FACTS_PAYMENTS = 5,
	FACTS_LATE_PAYMENTS = 6,
	FACTS_REVIEWS_PENDING = 7,
	FACTS_PAID_MINOR = 8,
	FACTS_SUGGESTED_MINOR = 9,
	FACTS_LIST_MINOR = 10,
	FACTS_AT_OR_ABOVE_SP = 11,
	FACTS_HISTOGRAM_0 = 12,                               /* FACTS_HISTOGRAM entries */
	FACTS_REASON_0 = FACTS_HISTOGRAM_0 + FACTS_HISTOGRAM, /* by PaymentReason number */
	FACTS_N = FACTS_REASON_0 + FP_PAYMENT_REASON_MAX + 1,
};

/* Sums (or a change to them) of one currency. */
typedef struct facts {
	int64_t v[FACTS_N];
} facts;

/* The columns of a payment that count. */
typedef struct facts_payment_row {
	int64_t amount_minor;
	int64_t suggested_price_minor;
	int64_t list_price_minor; /* the offer's: its product's when it was made */
	int32_t raw_fairness_bp;
	int32_t fairness_bp;
	uint32_t reasons; /* FP_REASON_BIT() mask */
	fp_review review;
	bool late;
} facts_payment_row;

/* Add s (+1 or -1) times what an offer in this status counts. */
void facts_offer(facts *f, fp_offer_status status, int s);

/* Add s times what a payment counts. */
void facts_payment(facts *f, const facts_payment_row *p, int s);

/* Add v to entry stat (0 <= stat < FACTS_N), stopping at the int64 limits. */
void facts_add_stat(facts *f, int stat, int64_t v);

/* Whether every entry is 0 (the change counts nothing). */
bool facts_zero(const facts *f);

/* Write f's non-zero entries as the array literal events.insights stores,
 * "{stat,value,stat,value,...}" ("{}" when none). -1 when len is short. */
int facts_format(const facts *f, char *out, size_t len) __attribute__((warn_unused_result));

/* Room for any facts_format text. */
#define FACTS_TEXT_LEN (FACTS_N * 2 * 21 + 3)

#endif
