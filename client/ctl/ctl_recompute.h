/* ctl_recompute_: one customer's reputation recomputed from its history, for
 * `fairpayctl reputation verify`.
 *
 * The caller feeds the customer's rows (in any order) and gets the values a
 * reputation row must hold, computed with the FairPay rules of fp_rules.h and
 * nothing of the server's own bookkeeping:
 *   score_bp        fp_score_replay() over the closed cycles in time order:
 *                   each payment (its fairness_bp at its created_at) and each
 *                   offer still DEFAULTED (0 at its closed_at); ties by id;
 *   payments        the number of payments;
 *   defaults        the number of OFFER_DEFAULTED events;
 *   open_defaults   the number of offers in status DEFAULTED;
 *   offers_accepted the number of OFFER_ACCEPTED events;
 *   total_paid_minor, total_suggested_minor  sums over the payments;
 *   credit_used_minor  the SP sum of ACCEPTED offers in a FairPay mode.
 * Pure code: no I/O. */
#ifndef FP_CTL_RECOMPUTE_H
#define FP_CTL_RECOMPUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp_rules.h"

/* The reputation columns that are checked, in the order they are reported. */
typedef enum ctl_rep_field {
	CTL_REP_SCORE_BP = 0,
	CTL_REP_PAYMENTS,
	CTL_REP_DEFAULTS,
	CTL_REP_OPEN_DEFAULTS,
	CTL_REP_OFFERS_ACCEPTED,
	CTL_REP_TOTAL_PAID,
	CTL_REP_TOTAL_SUGGESTED,
	CTL_REP_CREDIT_USED,
	CTL_REP_FIELD_COUNT
} ctl_rep_field;

#define CTL_RECOMPUTE_ID_LEN 40

/* One closed cycle of the score history. */
typedef struct ctl_cycle_entry {
	int64_t at_us; /* microseconds since the epoch */
	char id[CTL_RECOMPUTE_ID_LEN];
	int32_t fairness_bp;
} ctl_cycle_entry;

/* A customer's history as fed so far. Zero-initialise, reuse with
 * ctl_recompute_reset(), release with ctl_recompute_free(). */
typedef struct ctl_recompute {
	ctl_cycle_entry *cycles;
	size_t n_cycles, cap;
	int64_t value[CTL_REP_FIELD_COUNT]; /* all but the score */
} ctl_recompute;

/* Return the reputations column name of a field, e.g. "score_bp". */
const char *ctl_recompute_field_name(ctl_rep_field f);

/* Forget the history fed so far (keeps the memory for the next customer). */
void ctl_recompute_reset(ctl_recompute *r);

/* Release the memory. Accepts NULL. */
void ctl_recompute_free(ctl_recompute *r);

/* Add a payment. -1 when out of memory. */
int ctl_recompute_payment(ctl_recompute *r, int64_t at_us, const char *id, int32_t fairness_bp,
			  int64_t amount_minor, int64_t suggested_price_minor)
	__attribute__((warn_unused_result));

/* Add an offer in status DEFAULTED, closed at at_us. -1 when out of memory. */
int ctl_recompute_defaulted_offer(ctl_recompute *r, int64_t at_us, const char *id)
	__attribute__((warn_unused_result));

/* Add an offer in status ACCEPTED. */
void ctl_recompute_accepted_offer(ctl_recompute *r, fp_mode mode, int64_t suggested_price_minor);

/* Add counts of OFFER_DEFAULTED and OFFER_ACCEPTED events. */
void ctl_recompute_events(ctl_recompute *r, int64_t defaulted, int64_t accepted);

/* Tell whether anything a reputation row must reflect was fed. */
bool ctl_recompute_has_history(const ctl_recompute *r);

/* Compute the values of every field with the vendor's policy (only
 * prior_score_bp and alpha_bp matter). Sorts the cycles. */
void ctl_recompute_result(ctl_recompute *r, const fp_policy *p, int64_t out[CTL_REP_FIELD_COUNT]);

#endif
