/* conv_: between database rows and protobuf messages.
 *
 * Enum values are stored as their names without the proto prefix ("OPEN",
 * "FAIRPAY_MINIMUM"); lists of them as comma-joined text. Every message built
 * here lives in the call's memory (rpc_alloc) and is freed with the call. */
#ifndef FP_CONV_H
#define FP_CONV_H

#include <stdint.h>

#include "fp_rules.h"
#include "rpc.h"

/* Name tables indexed by the proto enum value; entry 0 is "". */
extern const char *const conv_tier_names[];
extern const char *const conv_status_names[];
extern const char *const conv_mode_names[];
extern const char *const conv_offer_reason_names[];
extern const char *const conv_payment_reason_names[];
extern const char *const conv_verdict_names[];
extern const char *const conv_review_names[];
extern const char *const conv_event_names[];
extern const char *const conv_enforcement_names[];

/* The value of name in table (0 if unknown). */
int conv_enum_value(const char *const *table, const char *name);

/* The name of value in table, or NULL when it is not a known value. */
const char *conv_enum_name(const char *const *table, int value);

/* Columns of a policy row, in the order conv_policy_from_row() reads. */
#define CONV_POLICY_COLS                                                                       \
	"enforcement, prior_score_bp, alpha_bp, probation_payments, trusted_score_bp,"         \
	" fair_score_bp, low_score_bp, generous_bp, max_open_defaults, restricted_minimum_bp," \
	" probation_credit_minor, standard_credit_minor, trusted_credit_minor,"                \
	" array_to_string(excusing_reasons, ','), excused_floor_bp, late_penalty_bp,"          \
	" offer_ttl_seconds, payment_window_seconds, version"
#define CONV_POLICY_NCOLS 19

/* Columns of a product row. */
#define CONV_PRODUCT_COLS                                                                 \
	"sku, name, currency, suggested_price_minor, unit_price_minor, list_price_minor," \
	" minimum_price_minor, min_tier, period_days, version"
#define CONV_PRODUCT_NCOLS 10

#define CONV_OFFER_NCOLS 19
#define CONV_PAYMENT_NCOLS 15
#define CONV_REPUTATION_NCOLS 15

/* Read a policy row (CONV_POLICY_COLS) starting at column col. */
void conv_policy_from_row(const PGresult *res, int row, int col, fp_policy *p);

/* Build a Policy message with every field present. */
Fairpay__V1__Policy *conv_policy_to_pb(rpc_call *call, const fp_policy *p);

/* Turn a comma-joined list of payment reason names into an FP_REASON_BIT mask. */
uint32_t conv_reason_mask(const char *list);

/* Build messages from rows of the fp_*_t types (see migrations/0002). */
Fairpay__V1__Product *conv_product(rpc_call *call, const PGresult *res, int row, int col);
Fairpay__V1__Offer *conv_offer(rpc_call *call, const PGresult *res, int row, int col);
Fairpay__V1__Payment *conv_payment(rpc_call *call, const PGresult *res, int row, int col);

/* Build a Reputation, with its explanation, from an fp_reputation_t row
 * followed by the policy's probation_payments and max_open_defaults. */
Fairpay__V1__Reputation *conv_reputation(rpc_call *call, const PGresult *res, int row, int col);

#endif
