/* fp_: the FairPay rules of PROTOCOL.md ("The FairPay rules the server
 * applies", rules 1-13) as pure functions.
 *
 * No I/O, no allocation, no protobuf: plain structs and enums, integer
 * arithmetic only (int32/int64; a 128-bit intermediate where a product of two
 * int64 could overflow). Each formula is kept to one line that can be matched
 * against PROTOCOL.md and ported as it is to SQL, where integer division also
 * truncates toward zero (use numeric for the 128-bit intermediates).
 *
 * Every enum below has the numeric values of the proto enum of the same name
 * (fairpay.v1.Tier, Enforcement, OfferStatus, OfferMode, OfferReason,
 * PaymentReason, Verdict, Review), so the server converts by cast in both
 * directions; tests/unit/test_rules.c checks that at compile time.
 *
 * Decisions where PROTOCOL.md is silent (each one is tested):
 * - Rule 14: a seeded customer's score replays (rule 7) start from the
 *   seeded score instead of prior_score_bp (the caller passes a policy
 *   whose prior_score_bp is that score).
 * - Ranges PROTOCOL.md leaves open: prior_score_bp 0-15000 (a score never
 *   exceeds 15000, rule 7); generous_bp fair_score_bp-20000; late_penalty_bp
 *   0-10000; *_seconds 1-FP_MAX_SECONDS (so that now + ttl in milliseconds
 *   cannot overflow); enforcement ENFORCE or VOLUNTARY; excusing_reasons only
 *   real PaymentReason values.
 * - The verdict judges the payment's final fairness_bp (after the excuse, the
 *   review and the late penalty), not the raw fairness, so that it always
 *   agrees with the fairness the score uses.
 * - The late penalty is applied after the excuse and again after a review:
 *   a late payment stays late whatever the review decides.
 * - In VOLUNTARY mode the tier and credit limit are still computed by rules
 *   8 and 9 and reported for information; they restrict nothing.
 * - "On probation" (reason PROBATION) means tier PROBATION.
 * - Terms: see fp_offer_terms() for how overrides are applied.
 *
 * - The policy and product passed in are assumed validated
 *   (fp_policy_validate(), PutProduct); request values are checked here.
 *
 * Money is int64 minor units, ratios and scores int32 basis points; a score
 * stays within 0-15000 when the prior does. Functions that can fail return
 * 0 or -1. */
#ifndef FP_RULES_H
#define FP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FP_BP_ONE 10000             /* 100% in basis points */
#define FP_RAW_FAIRNESS_CAP 20000   /* rule 4: raw fairness is at most 200% */
#define FP_SCORE_FAIRNESS_CAP 15000 /* rule 7: one cycle counts at most 150% */
#define FP_MAX_SECONDS 3153600000LL /* 100 years of 365 days */

/* fairpay.v1.Enforcement */
typedef enum fp_enforcement {
	FP_ENFORCEMENT_UNSPECIFIED = 0,
	FP_ENFORCEMENT_ENFORCE = 1,
	FP_ENFORCEMENT_VOLUNTARY = 2,
} fp_enforcement;

/* fairpay.v1.Tier; rank is the number. */
typedef enum fp_tier {
	FP_TIER_UNSPECIFIED = 0,
	FP_TIER_FIXED_PRICE = 1,
	FP_TIER_RESTRICTED = 2,
	FP_TIER_PROBATION = 3,
	FP_TIER_STANDARD = 4,
	FP_TIER_TRUSTED = 5,
} fp_tier;

/* The tier an unset Product.min_tier (TIER_UNSPECIFIED, 0) stands for
 * (PROTOCOL.md, Product): RESTRICTED, so that by default a RESTRICTED
 * customer gets FairPay with a minimum (rule 10). The one place this default
 * is written: fp_offer_terms(), PutProduct (the value stored) and
 * fairpayctl's product display all use it through fp_product_min_tier(). */
#define FP_DEFAULT_MIN_TIER FP_TIER_RESTRICTED

/* fairpay.v1.OfferStatus */
typedef enum fp_offer_status {
	FP_OFFER_STATUS_UNSPECIFIED = 0,
	FP_OFFER_STATUS_OPEN = 1,
	FP_OFFER_STATUS_ACCEPTED = 2,
	FP_OFFER_STATUS_PAID = 3,
	FP_OFFER_STATUS_DECLINED = 4,
	FP_OFFER_STATUS_EXPIRED = 5,
	FP_OFFER_STATUS_DEFAULTED = 6,
} fp_offer_status;

/* fairpay.v1.OfferMode */
typedef enum fp_mode {
	FP_MODE_UNSPECIFIED = 0,
	FP_MODE_FAIRPAY = 1,
	FP_MODE_FAIRPAY_MINIMUM = 2,
	FP_MODE_SET_PRICE = 3,
} fp_mode;

/* fairpay.v1.OfferReason */
typedef enum fp_offer_reason {
	FP_OFFER_REASON_UNSPECIFIED = 0,
	FP_OFFER_REASON_PROBATION = 1,
	FP_OFFER_REASON_CREDIT_LIMIT = 2,
	FP_OFFER_REASON_LOW_SCORE = 3,
	FP_OFFER_REASON_OPEN_DEFAULTS = 4,
	FP_OFFER_REASON_TIER_REQUIRED = 5,
	FP_OFFER_REASON_PRODUCT_MINIMUM = 6,
	FP_OFFER_REASON_VENDOR_OVERRIDE = 7,
	FP_OFFER_REASON_VOLUNTARY_MODE = 8,
} fp_offer_reason;

/* fairpay.v1.PaymentReason */
typedef enum fp_payment_reason {
	FP_PAYMENT_REASON_UNSPECIFIED = 0,
	FP_PAYMENT_REASON_DID_NOT_USE = 1,
	FP_PAYMENT_REASON_POOR_QUALITY = 2,
	FP_PAYMENT_REASON_NOT_AS_DESCRIBED = 3,
	FP_PAYMENT_REASON_TECHNICAL_PROBLEM = 4,
	FP_PAYMENT_REASON_CANNOT_AFFORD = 5,
	FP_PAYMENT_REASON_GREAT_VALUE = 6,
	FP_PAYMENT_REASON_OTHER = 7,
} fp_payment_reason;

#define FP_PAYMENT_REASON_MAX FP_PAYMENT_REASON_OTHER

/* A set of payment reasons is a bit mask, bit r for reason r (an int column
 * in SQL; duplicates in a request collapse). */
#define FP_REASON_BIT(r) (UINT32_C(1) << (unsigned)(r))
#define FP_REASONS_ALL (((UINT32_C(1) << (FP_PAYMENT_REASON_MAX + 1)) - 1) & ~UINT32_C(1))

/* fairpay.v1.Verdict */
typedef enum fp_verdict {
	FP_VERDICT_UNSPECIFIED = 0,
	FP_VERDICT_GENEROUS = 1,
	FP_VERDICT_FAIR = 2,
	FP_VERDICT_LOW = 3,
	FP_VERDICT_UNFAIR = 4,
} fp_verdict;

/* fairpay.v1.Review */
typedef enum fp_review {
	FP_REVIEW_UNSPECIFIED = 0,
	FP_REVIEW_NOT_NEEDED = 1,
	FP_REVIEW_PENDING = 2,
	FP_REVIEW_ACCEPTED = 3,
	FP_REVIEW_REJECTED = 4,
} fp_review;

/* Every field of fairpay.v1.Policy but its version, in the message's order:
 * X(name, NAME, KIND), where NAME is the name in upper case (as protobuf-c
 * spells it) and KIND how fp_policy holds it: ENFORCEMENT (fp_enforcement),
 * I32, I64, or REASONS (a FP_REASON_BIT() mask). fp_policy below and every
 * other list of policy fields (the server's reply and merge, fairpayctl's
 * keys, display and simulation) expand this one, so that a field is named
 * once. attestation_cap_bp (rule 14) is the highest score an attestation
 * seeds; 0 ignores attestations. */
#define FP_POLICY_FIELDS(X)                                    \
	X(enforcement, ENFORCEMENT, ENFORCEMENT)               \
	X(prior_score_bp, PRIOR_SCORE_BP, I32)                 \
	X(alpha_bp, ALPHA_BP, I32)                             \
	X(probation_payments, PROBATION_PAYMENTS, I32)         \
	X(trusted_score_bp, TRUSTED_SCORE_BP, I32)             \
	X(fair_score_bp, FAIR_SCORE_BP, I32)                   \
	X(low_score_bp, LOW_SCORE_BP, I32)                     \
	X(generous_bp, GENEROUS_BP, I32)                       \
	X(max_open_defaults, MAX_OPEN_DEFAULTS, I32)           \
	X(restricted_minimum_bp, RESTRICTED_MINIMUM_BP, I32)   \
	X(probation_credit_minor, PROBATION_CREDIT_MINOR, I64) \
	X(standard_credit_minor, STANDARD_CREDIT_MINOR, I64)   \
	X(trusted_credit_minor, TRUSTED_CREDIT_MINOR, I64)     \
	X(excusing_reasons, EXCUSING_REASONS, REASONS)         \
	X(excused_floor_bp, EXCUSED_FLOOR_BP, I32)             \
	X(late_penalty_bp, LATE_PENALTY_BP, I32)               \
	X(offer_ttl_seconds, OFFER_TTL_SECONDS, I64)           \
	X(payment_window_seconds, PAYMENT_WINDOW_SECONDS, I64) \
	X(attestation_cap_bp, ATTESTATION_CAP_BP, I32)

/* The C type of each KIND of FP_POLICY_FIELDS. */
typedef fp_enforcement fp_policy_ENFORCEMENT;
typedef int32_t fp_policy_I32;
typedef int64_t fp_policy_I64;
typedef uint32_t fp_policy_REASONS;

/* A vendor's policy: every field of fairpay.v1.Policy, all present. */
typedef struct fp_policy {
#define FP_POLICY_MEMBER(name, NAME, KIND) fp_policy_##KIND name;
	FP_POLICY_FIELDS(FP_POLICY_MEMBER)
#undef FP_POLICY_MEMBER
	int64_t version; /* set by the server; not checked here */
} fp_policy;

/* Fill p with the defaults of PROTOCOL.md (version 0). */
void fp_policy_defaults(fp_policy *p);

/* Check every field's range and the threshold order; on -1 *field (if field
 * is not NULL) names the first offending Policy field, e.g. "alpha_bp".
 * Order violations name the field that breaks it, checked in this order:
 * low_score_bp > fair_score_bp names "low_score_bp", fair_score_bp >
 * trusted_score_bp names "fair_score_bp", generous_bp < fair_score_bp names
 * "generous_bp". */
int fp_policy_validate(const fp_policy *p, const char **field) __attribute__((warn_unused_result));

/* Tell whether r is a real PaymentReason (1-7). */
bool fp_payment_reason_valid(int r);

/* Tell whether mode is a FairPay mode (FAIRPAY, FAIRPAY_MINIMUM). */
bool fp_mode_is_fairpay(fp_mode mode);

/* ---------------------------------------------------------------- payments */

/* Compute the SP of a cycle (rule 1): unit_price * usage_units when both
 * are > 0, else the offer's SP. -1 when an input is negative or the product
 * overflows. */
int fp_cycle_sp(int64_t offer_sp, int64_t unit_price, int64_t usage_units, int64_t *sp)
	__attribute__((warn_unused_result));

/* Compute an amount from a differential (rule 2):
 * SP * (10000 + differential_bp) / 10000, rounded down. -1 when sp < 0,
 * differential_bp < -10000 or the amount exceeds int64. */
int fp_amount_from_differential(int64_t sp, int32_t differential_bp, int64_t *amount)
	__attribute__((warn_unused_result));

/* Check an amount (>= 0) against the offer's mode (rule 3); -1 refuses it
 * (the server answers FAILED_PRECONDITION and records nothing). */
int fp_check_mode(fp_mode mode, int64_t amount, int64_t set_price, int64_t minimum)
	__attribute__((warn_unused_result));

/* Compute the raw fairness of amount against sp (rule 4; both >= 0), 0-20000. */
int32_t fp_raw_fairness(fp_mode mode, int64_t amount, int64_t sp);

/* Judge a (final) fairness: GENEROUS >= generous_bp, FAIR >=
 * fair_score_bp, LOW >= low_score_bp, else UNFAIR. */
fp_verdict fp_verdict_of(const fp_policy *p, int32_t fairness_bp);

/* Apply the excuses of rule 5 to a raw fairness; set *review to PENDING
 * when excused, NOT_NEEDED otherwise. reasons is an FP_REASON_BIT() mask. */
int32_t fp_excuse(const fp_policy *p, uint32_t reasons, int32_t raw_bp, fp_review *review);

/* Give the fairness a review decides (rule 5): max(raw, 10000) when
 * accepted, raw when rejected. */
int32_t fp_review_fairness(int32_t raw_bp, bool accept);

/* Take the late penalty off a fairness (rule 6):
 * max(0, fairness - late_penalty_bp). */
int32_t fp_late_fairness(const fp_policy *p, int32_t fairness_bp);

/* What rules 4-6 say about one payment. */
typedef struct fp_assessment {
	int32_t raw_fairness_bp;
	int32_t fairness_bp;
	fp_verdict verdict;
	fp_review review;
} fp_assessment;

/* Assess a payment that passed fp_check_mode(): rule 4, rule 5, rule 6 when
 * late, then the verdict of the resulting fairness. */
void fp_assess_payment(const fp_policy *p, fp_mode mode, int64_t amount, int64_t sp,
		       uint32_t reasons, bool late, fp_assessment *out);

/* Apply ReviewPayment to a payment with the given raw fairness and review
 * state: rule 5's outcome, then rule 6 again when late, then the verdict.
 * -1 (nothing written) unless review is PENDING. */
int fp_review_payment(const fp_policy *p, int32_t raw_bp, fp_review review, bool late, bool accept,
		      fp_assessment *out) __attribute__((warn_unused_result));

/* ---------------------------------------------------------------- reputation */

/* Move a score by one closed cycle (rule 7): f = min(fairness, 15000);
 * score + (f - score) * alpha / 10000, truncated toward zero. */
int32_t fp_score_step(int32_t score_bp, int32_t fairness_bp, int32_t alpha_bp);

/* Recompute a score from the whole history (rule 7): replay the closed
 * cycles' fairness in order (a default still open is a 0 entry) from
 * prior_score_bp. */
int32_t fp_score_replay(const fp_policy *p, const int32_t *fairness_bp, size_t n);

/* Resume the replay of rule 7 at a cycle: step score_bp (the exact score
 * before fairness_bp[0], i.e. fp_score_replay() over the cycles before it)
 * over the n cycles, writing the score before each to before_bp[i] (when
 * not NULL), and answer the score after the last. Rule 7 truncates at every
 * step, so only such a replay from the cycle that changed on equals the
 * replay from the prior: fp_score_replay(p, f, n) == fp_score_resume(p,
 * before_bp[k], f + k, n - k, NULL) for every k < n. */
int32_t fp_score_resume(const fp_policy *p, int32_t score_bp, const int32_t *fairness_bp, size_t n,
			int32_t *before_bp);

/* Compute the tier (rule 8, first match) of a customer without attested
 * payments: fp_tier_attested() with attested_payments 0. */
fp_tier fp_tier_of(const fp_policy *p, int32_t score_bp, int32_t payments, int32_t open_defaults);

/* Compute the tier (rule 8, first match), with rule 14's probation test
 * payments + attested_payments < probation_payments. VOLUNTARY mode
 * computes it the same way and reports it for information only. */
fp_tier fp_tier_attested(const fp_policy *p, int32_t score_bp, int32_t payments,
			 int32_t attested_payments, int32_t open_defaults);

/* What an attestation seeds (rule 14), for a customer with no history:
 * score_bp = min(claims score, attestation_cap_bp), attested_payments =
 * min(claims payments, probation_payments). */
typedef struct fp_seed {
	int32_t score_bp;
	int32_t attested_payments;
} fp_seed;

/* Tell whether an attestation that verified may seed (rule 14): the cap is
 * above 0, it was issued by another vendor (by_caller false), and the
 * customer has no history (no offer accepted, no payment, no default) and
 * was never seeded; when it may, fill *out. Claims' negative values count
 * as 0. */
bool fp_seed_of(const fp_policy *p, bool by_caller, bool has_history, bool seeded,
		int32_t claims_score_bp, int32_t claims_payments, fp_seed *out);

/* Give the credit limit of a tier (rule 9; 0 for FIXED_PRICE and UNSPECIFIED). */
int64_t fp_credit_limit(const fp_policy *p, fp_tier tier);

/* Tell whether credit_used + sp <= credit_limit (rules 9, 10), without
 * overflow; also the check AcceptOffer repeats. */
bool fp_credit_fits(int64_t credit_used, int64_t sp, int64_t credit_limit);

/* ---------------------------------------------------------------- offers */

/* The product fields the terms depend on. */
typedef struct fp_product {
	int64_t suggested_price_minor;
	int64_t list_price_minor;
	int64_t minimum_price_minor; /* 0 = none */
	fp_tier min_tier;            /* UNSPECIFIED means FP_DEFAULT_MIN_TIER */
} fp_product;

/* Give the tier a product's min_tier stands for: FP_DEFAULT_MIN_TIER when it
 * is UNSPECIFIED, else min_tier itself. */
fp_tier fp_product_min_tier(fp_tier min_tier);

/* The customer's standing when the offer is made. */
typedef struct fp_standing {
	int32_t score_bp;
	int32_t payments;
	int32_t open_defaults;
	int64_t credit_used_minor; /* SP sum of ACCEPTED unpaid FairPay offers */
	int32_t attested_payments; /* rule 14 */
} fp_standing;

/* OfferOverrides, with presence flags. */
typedef struct fp_overrides {
	bool has_mode;
	fp_mode mode;
	bool has_suggested_price;
	int64_t suggested_price_minor;
	bool has_minimum_price;
	int64_t minimum_price_minor;
} fp_overrides;

#define FP_MAX_OFFER_REASONS 8

/* Terms of a new offer. */
typedef struct fp_terms {
	fp_mode mode;
	int64_t suggested_price_minor;
	int64_t minimum_price_minor; /* 0 unless mode is FAIRPAY_MINIMUM */
	int64_t set_price_minor;     /* list price for SET_PRICE, else 0 */
	fp_tier tier;
	int64_t credit_limit_minor;
	int64_t credit_used_minor;
	fp_offer_reason reasons[FP_MAX_OFFER_REASONS];
	size_t n_reasons;
} fp_terms;

/* Compute the terms of a new offer (rule 10); ov may be NULL (no overrides).
 *
 * The offer's SP is the SP override when given, else the product's; the
 * policy's terms are computed with it (the credit check and RESTRICTED's
 * minimum use the SP the offer will carry, as AcceptOffer's check and
 * credit_used do). ENFORCE, first match:
 *   FIXED_PRICE tier -> SET_PRICE (OPEN_DEFAULTS if open_defaults >=
 *     max_open_defaults, then LOW_SCORE if score < low_score_bp);
 *   tier < fp_product_min_tier(product min_tier) -> SET_PRICE (TIER_REQUIRED);
 *   !fp_credit_fits(credit_used, SP, limit) -> SET_PRICE (CREDIT_LIMIT);
 *   RESTRICTED -> FAIRPAY_MINIMUM, max(product min, SP * restricted_minimum_bp
 *     / 10000) (LOW_SCORE);
 *   product minimum > 0 -> FAIRPAY_MINIMUM, product minimum (PRODUCT_MINIMUM);
 *   else FAIRPAY;
 * then PROBATION when the tier is PROBATION. VOLUNTARY: FAIRPAY, or
 * FAIRPAY_MINIMUM at the product minimum when it is > 0, reasons exactly
 * VOLUNTARY_MODE (no min_tier, no credit check).
 *
 * Then the overrides, in this order, recorded with VENDOR_OVERRIDE last when
 * any is present (the policy's reasons stay, to show what was overridden):
 *   mode replaces the mode;
 *   minimum, when the mode was not overridden and the offer is FairPay, sets
 *     the minimum and the mode follows it (FAIRPAY_MINIMUM when > 0, FAIRPAY
 *     when 0); when the mode was overridden to FAIRPAY_MINIMUM it sets that
 *     offer's minimum; otherwise it has no effect;
 *   a mode overridden to FAIRPAY_MINIMUM without a minimum override gets the
 *     minimum the policy would give: RESTRICTED's when the tier is RESTRICTED
 *     (ENFORCE), else the product minimum.
 * Finally SET_PRICE offers get set_price = list price and minimum 0;
 * FAIRPAY offers minimum 0; FairPay offers set_price 0.
 *
 * -1 with *field (if not NULL) naming the request field ("overrides.mode",
 * "overrides.suggested_price_minor", "overrides.minimum_price_minor") or the
 * product field ("product.suggested_price_minor", ...) that is out of range:
 * a mode that is not 1-3, a negative price. */
int fp_offer_terms(const fp_policy *p, const fp_product *product, const fp_standing *st,
		   const fp_overrides *ov, fp_terms *out, const char **field)
	__attribute__((warn_unused_result));

/* Tell whether the terms carry reason r. */
bool fp_terms_has_reason(const fp_terms *t, fp_offer_reason r);

/* Give the status of a recurring product's next offer (rule 12): ACCEPTED
 * for a FairPay mode, OPEN for SET_PRICE. */
fp_offer_status fp_recurring_status(fp_mode mode);

/* ---------------------------------------------------------------- explanation */

/* The reputation facts the customer-facing explanation is written from. */
typedef struct fp_explain_input {
	int32_t score_bp;
	fp_tier tier;
	int32_t payments;
	int32_t open_defaults;
	int32_t recent;            /* N: how many of the latest payments were looked at */
	int32_t recent_at_sp;      /* how many of those N had raw fairness >= 10000 */
	int32_t attested_payments; /* rule 14: counted towards probation */
} fp_explain_input;

/* Suggested N for fp_explain_input.recent. */
#define FP_EXPLAIN_RECENT 5
#define FP_EXPLAIN_MAX_LINES 5
#define FP_EXPLAIN_LINE_LEN 160

/* Sentences for Reputation.explanation, one per line, NUL-terminated. */
typedef struct fp_explanation {
	size_t n;
	char line[FP_EXPLAIN_MAX_LINES][FP_EXPLAIN_LINE_LEN];
} fp_explanation;

/* Write the explanation of a reputation, in this order: standing (tier, or
 * voluntary mode), score, recent payments, open defaults, advice. */
void fp_explain(const fp_policy *p, const fp_explain_input *in, fp_explanation *out);

/* ---------------------------------------------------------------- what-if */

/* One closed cycle of a customer's recorded history, as SimulatePolicy
 * replays it under a candidate policy: a payment (its raw fairness, reasons,
 * review as recorded, lateness) or a default still open (fairness 0). */
typedef struct fp_history_entry {
	bool open_default;
	bool late;
	fp_review review; /* ACCEPTED and REJECTED are kept; others judged again */
	int32_t raw_fairness_bp;
	uint32_t reasons; /* FP_REASON_BIT() mask */
} fp_history_entry;

/* A customer's standing while their history is replayed. */
typedef struct fp_replay_state {
	int32_t score_bp;
	int32_t payments;
	int32_t attested_payments; /* rule 14: count towards probation */
	int32_t open_defaults;
} fp_replay_state;

/* Start a replay from the policy's prior, or from what an attestation
 * seeded (rule 14; seed NULL: none): no payments, no defaults. */
void fp_replay_start(const fp_policy *p, const fp_seed *seed, fp_replay_state *s);

/* Give the fairness a recorded cycle has under p: 0 for an open default; a
 * recorded review's outcome (rule 5) when reviewed, else the excuse judged
 * again with p's reasons and floor; then p's late penalty (rule 6). */
int32_t fp_replay_fairness(const fp_policy *p, const fp_history_entry *e);

/* Step a replay over one recorded cycle (rules 5-7). */
void fp_replay_step(const fp_policy *p, fp_replay_state *s, const fp_history_entry *e);

/* Replay a whole history (in time order) from the prior into *out. */
void fp_replay(const fp_policy *p, const fp_history_entry *h, size_t n, fp_replay_state *out);

/* Give the tier a replayed standing has under p (rule 8). */
fp_tier fp_replay_tier(const fp_policy *p, const fp_replay_state *s);

#endif
