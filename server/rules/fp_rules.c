/* The FairPay rules of PROTOCOL.md as pure integer functions (see fp_rules.h).
 * Each formula is one line, written as PROTOCOL.md writes it. */
#include "fp_rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Products of two int64 values are taken in 128 bits (numeric in SQL) so that
 * the one-line formula stays exact; the result is range-checked after. */
__extension__ typedef __int128 fp_wide;

static int32_t min32(int32_t a, int32_t b)
{
	return a < b ? a : b;
}

static int32_t max32(int32_t a, int32_t b)
{
	return a > b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

void fp_policy_defaults(fp_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->enforcement = FP_ENFORCEMENT_ENFORCE;
	p->prior_score_bp = 8000;
	p->alpha_bp = 3000;
	p->probation_payments = 3;
	p->trusted_score_bp = 9000;
	p->fair_score_bp = 8000;
	p->low_score_bp = 5000;
	p->generous_bp = 11000;
	p->max_open_defaults = 2;
	p->restricted_minimum_bp = 5000;
	p->probation_credit_minor = 2000;
	p->standard_credit_minor = 10000;
	p->trusted_credit_minor = 50000;
	p->excusing_reasons = FP_REASON_BIT(FP_PAYMENT_REASON_DID_NOT_USE) |
			      FP_REASON_BIT(FP_PAYMENT_REASON_TECHNICAL_PROBLEM) |
			      FP_REASON_BIT(FP_PAYMENT_REASON_NOT_AS_DESCRIBED);
	p->excused_floor_bp = 8000;
	p->late_penalty_bp = 2000;
	p->offer_ttl_seconds = 86400;
	p->payment_window_seconds = 1209600;
	p->version = 0;
}

static bool in_range(int64_t v, int64_t lo, int64_t hi)
{
	return v >= lo && v <= hi;
}

int fp_policy_validate(const fp_policy *p, const char **field)
{
	const char *bad = NULL;

	if (p->enforcement != FP_ENFORCEMENT_ENFORCE && p->enforcement != FP_ENFORCEMENT_VOLUNTARY)
		bad = "enforcement";
	else if (!in_range(p->prior_score_bp, 0, FP_SCORE_FAIRNESS_CAP))
		bad = "prior_score_bp";
	else if (!in_range(p->alpha_bp, 1, 10000))
		bad = "alpha_bp";
	else if (!in_range(p->probation_payments, 0, 1000))
		bad = "probation_payments";
	else if (!in_range(p->trusted_score_bp, 0, 20000))
		bad = "trusted_score_bp";
	else if (!in_range(p->fair_score_bp, 0, 20000))
		bad = "fair_score_bp";
	else if (!in_range(p->low_score_bp, 0, 20000))
		bad = "low_score_bp";
	else if (!in_range(p->generous_bp, 0, 20000))
		bad = "generous_bp";
	else if (!in_range(p->max_open_defaults, 0, 1000))
		bad = "max_open_defaults";
	else if (!in_range(p->restricted_minimum_bp, 0, 10000))
		bad = "restricted_minimum_bp";
	else if (p->probation_credit_minor < 0)
		bad = "probation_credit_minor";
	else if (p->standard_credit_minor < 0)
		bad = "standard_credit_minor";
	else if (p->trusted_credit_minor < 0)
		bad = "trusted_credit_minor";
	else if ((p->excusing_reasons & ~FP_REASONS_ALL) != 0)
		bad = "excusing_reasons";
	else if (!in_range(p->excused_floor_bp, 0, 10000))
		bad = "excused_floor_bp";
	else if (!in_range(p->late_penalty_bp, 0, 10000))
		bad = "late_penalty_bp";
	else if (!in_range(p->offer_ttl_seconds, 1, FP_MAX_SECONDS))
		bad = "offer_ttl_seconds";
	else if (!in_range(p->payment_window_seconds, 1, FP_MAX_SECONDS))
		bad = "payment_window_seconds";
	else if (!in_range(p->attestation_cap_bp, 0, FP_SCORE_FAIRNESS_CAP))
		bad = "attestation_cap_bp";
	else if (p->low_score_bp > p->fair_score_bp)
		bad = "low_score_bp";
	else if (p->fair_score_bp > p->trusted_score_bp)
		bad = "fair_score_bp";
	else if (p->generous_bp < p->fair_score_bp)
		bad = "generous_bp";

	if (field != NULL)
		*field = bad;
	return bad == NULL ? 0 : -1;
}

bool fp_payment_reason_valid(int r)
{
	return r >= FP_PAYMENT_REASON_DID_NOT_USE && r <= FP_PAYMENT_REASON_MAX;
}

bool fp_mode_is_fairpay(fp_mode mode)
{
	return mode == FP_MODE_FAIRPAY || mode == FP_MODE_FAIRPAY_MINIMUM;
}

int fp_cycle_sp(int64_t offer_sp, int64_t unit_price, int64_t usage_units, int64_t *sp)
{
	if (offer_sp < 0 || unit_price < 0 || usage_units < 0)
		return -1;
	if (unit_price > 0 && usage_units > 0)
		return __builtin_mul_overflow(unit_price, usage_units, sp) ? -1 : 0;
	*sp = offer_sp;
	return 0;
}

int fp_amount_from_differential(int64_t sp, int32_t differential_bp, int64_t *amount)
{
	if (sp < 0 || differential_bp < -10000)
		return -1;
	/* Both factors are >= 0, so truncation is rounding down. */
	fp_wide a = (fp_wide)sp * (10000 + (int64_t)differential_bp) / 10000;
	if (a > INT64_MAX)
		return -1;
	*amount = (int64_t)a;
	return 0;
}

int fp_check_mode(fp_mode mode, int64_t amount, int64_t set_price, int64_t minimum)
{
	if (amount < 0)
		return -1;
	switch (mode) {
	case FP_MODE_FAIRPAY:
		return 0;
	case FP_MODE_FAIRPAY_MINIMUM:
		return amount >= minimum ? 0 : -1;
	case FP_MODE_SET_PRICE:
		return amount == set_price ? 0 : -1;
	default:
		return -1;
	}
}

int32_t fp_raw_fairness(fp_mode mode, int64_t amount, int64_t sp)
{
	if (mode == FP_MODE_SET_PRICE || sp <= 0)
		return FP_BP_ONE;
	if (amount <= 0)
		return 0;
	fp_wide f = (fp_wide)amount * 10000 / sp;
	return f > FP_RAW_FAIRNESS_CAP ? FP_RAW_FAIRNESS_CAP : (int32_t)f;
}

fp_verdict fp_verdict_of(const fp_policy *p, int32_t fairness_bp)
{
	if (fairness_bp >= p->generous_bp)
		return FP_VERDICT_GENEROUS;
	if (fairness_bp >= p->fair_score_bp)
		return FP_VERDICT_FAIR;
	if (fairness_bp >= p->low_score_bp)
		return FP_VERDICT_LOW;
	return FP_VERDICT_UNFAIR;
}

int32_t fp_excuse(const fp_policy *p, uint32_t reasons, int32_t raw_bp, fp_review *review)
{
	bool excused = (reasons & p->excusing_reasons) != 0 && raw_bp < p->excused_floor_bp;
	*review = excused ? FP_REVIEW_PENDING : FP_REVIEW_NOT_NEEDED;
	return excused ? p->excused_floor_bp : raw_bp;
}

int32_t fp_review_fairness(int32_t raw_bp, bool accept)
{
	return accept ? max32(raw_bp, FP_BP_ONE) : raw_bp;
}

int32_t fp_late_fairness(const fp_policy *p, int32_t fairness_bp)
{
	return max32(0, fairness_bp - p->late_penalty_bp);
}

void fp_assess_payment(const fp_policy *p, fp_mode mode, int64_t amount, int64_t sp,
		       uint32_t reasons, bool late, fp_assessment *out)
{
	out->raw_fairness_bp = fp_raw_fairness(mode, amount, sp);
	out->fairness_bp = fp_excuse(p, reasons, out->raw_fairness_bp, &out->review);
	if (late)
		out->fairness_bp = fp_late_fairness(p, out->fairness_bp);
	out->verdict = fp_verdict_of(p, out->fairness_bp);
}

int fp_review_payment(const fp_policy *p, int32_t raw_bp, fp_review review, bool late, bool accept,
		      fp_assessment *out)
{
	if (review != FP_REVIEW_PENDING)
		return -1;
	out->raw_fairness_bp = raw_bp;
	out->fairness_bp = fp_review_fairness(raw_bp, accept);
	if (late)
		out->fairness_bp = fp_late_fairness(p, out->fairness_bp);
	out->review = accept ? FP_REVIEW_ACCEPTED : FP_REVIEW_REJECTED;
	out->verdict = fp_verdict_of(p, out->fairness_bp);
	return 0;
}

int32_t fp_score_step(int32_t score_bp, int32_t fairness_bp, int32_t alpha_bp)
{
	int64_t f = min32(fairness_bp, FP_SCORE_FAIRNESS_CAP);
	/* C99 `/` truncates toward zero, as PROTOCOL.md (and SQL) require. */
	return (int32_t)(score_bp + (f - score_bp) * alpha_bp / 10000);
}

int32_t fp_score_replay(const fp_policy *p, const int32_t *fairness_bp, size_t n)
{
	int32_t score = p->prior_score_bp;
	for (size_t i = 0; i < n; i++)
		score = fp_score_step(score, fairness_bp[i], p->alpha_bp);
	return score;
}

int32_t fp_score_resume(const fp_policy *p, int32_t score_bp, const int32_t *fairness_bp, size_t n,
			int32_t *before_bp)
{
	for (size_t i = 0; i < n; i++) {
		if (before_bp != NULL)
			before_bp[i] = score_bp;
		score_bp = fp_score_step(score_bp, fairness_bp[i], p->alpha_bp);
	}
	return score_bp;
}

fp_tier fp_tier_of(const fp_policy *p, int32_t score_bp, int32_t payments, int32_t open_defaults)
{
	return fp_tier_attested(p, score_bp, payments, 0, open_defaults);
}

fp_tier fp_tier_attested(const fp_policy *p, int32_t score_bp, int32_t payments,
			 int32_t attested_payments, int32_t open_defaults)
{
	if (open_defaults >= p->max_open_defaults || score_bp < p->low_score_bp)
		return FP_TIER_FIXED_PRICE;
	/* In int64: both counts may be near INT32_MAX. */
	if ((int64_t)payments + attested_payments < p->probation_payments)
		return FP_TIER_PROBATION;
	if (score_bp >= p->trusted_score_bp)
		return FP_TIER_TRUSTED;
	if (score_bp >= p->fair_score_bp)
		return FP_TIER_STANDARD;
	return FP_TIER_RESTRICTED;
}

bool fp_seed_of(const fp_policy *p, bool by_caller, bool has_history, bool seeded,
		int32_t claims_score_bp, int32_t claims_payments, fp_seed *out)
{
	if (p->attestation_cap_bp <= 0 || by_caller || has_history || seeded)
		return false;
	out->score_bp = min32(max32(claims_score_bp, 0), p->attestation_cap_bp);
	out->attested_payments = min32(max32(claims_payments, 0), p->probation_payments);
	return true;
}

int64_t fp_credit_limit(const fp_policy *p, fp_tier tier)
{
	switch (tier) {
	case FP_TIER_PROBATION:
		return p->probation_credit_minor;
	case FP_TIER_RESTRICTED:
	case FP_TIER_STANDARD:
		return p->standard_credit_minor;
	case FP_TIER_TRUSTED:
		return p->trusted_credit_minor;
	default:
		return 0;
	}
}

bool fp_credit_fits(int64_t credit_used, int64_t sp, int64_t credit_limit)
{
	return (fp_wide)credit_used + sp <= credit_limit;
}

static void add_reason(fp_terms *t, fp_offer_reason r)
{
	if (t->n_reasons < FP_MAX_OFFER_REASONS)
		t->reasons[t->n_reasons++] = r;
}

bool fp_terms_has_reason(const fp_terms *t, fp_offer_reason r)
{
	for (size_t i = 0; i < t->n_reasons; i++)
		if (t->reasons[i] == r)
			return true;
	return false;
}

/* RESTRICTED's minimum: max(product minimum, SP * restricted_minimum_bp / 10000). */
static int64_t restricted_minimum(const fp_policy *p, int64_t product_min, int64_t sp)
{
	/* The share is <= SP, so it fits in int64 again. */
	return max64(product_min, (int64_t)((fp_wide)sp * p->restricted_minimum_bp / 10000));
}

static int check_inputs(const fp_product *product, const fp_standing *st, const fp_overrides *ov,
			const char **bad)
{
	if (product->suggested_price_minor < 0)
		*bad = "product.suggested_price_minor";
	else if (product->list_price_minor < 0)
		*bad = "product.list_price_minor";
	else if (product->minimum_price_minor < 0)
		*bad = "product.minimum_price_minor";
	else if (st->credit_used_minor < 0)
		*bad = "credit_used_minor";
	else if (ov != NULL && ov->has_mode && ov->mode != FP_MODE_FAIRPAY &&
		 ov->mode != FP_MODE_FAIRPAY_MINIMUM && ov->mode != FP_MODE_SET_PRICE)
		*bad = "overrides.mode";
	else if (ov != NULL && ov->has_suggested_price && ov->suggested_price_minor < 0)
		*bad = "overrides.suggested_price_minor";
	else if (ov != NULL && ov->has_minimum_price && ov->minimum_price_minor < 0)
		*bad = "overrides.minimum_price_minor";
	return *bad == NULL ? 0 : -1;
}

fp_tier fp_product_min_tier(fp_tier min_tier)
{
	return min_tier == FP_TIER_UNSPECIFIED ? FP_DEFAULT_MIN_TIER : min_tier;
}

/* The policy's terms of rule 10, before overrides. */
static void policy_terms(const fp_policy *p, const fp_product *product, const fp_standing *st,
			 fp_terms *t)
{
	int64_t sp = t->suggested_price_minor;
	fp_tier min_tier = fp_product_min_tier(product->min_tier);

	if (p->enforcement == FP_ENFORCEMENT_VOLUNTARY) {
		bool has_min = product->minimum_price_minor > 0;
		t->mode = has_min ? FP_MODE_FAIRPAY_MINIMUM : FP_MODE_FAIRPAY;
		t->minimum_price_minor = product->minimum_price_minor;
		add_reason(t, FP_OFFER_REASON_VOLUNTARY_MODE);
		return;
	}

	if (t->tier == FP_TIER_FIXED_PRICE) {
		t->mode = FP_MODE_SET_PRICE;
		if (st->open_defaults >= p->max_open_defaults)
			add_reason(t, FP_OFFER_REASON_OPEN_DEFAULTS);
		if (st->score_bp < p->low_score_bp)
			add_reason(t, FP_OFFER_REASON_LOW_SCORE);
	} else if (t->tier < min_tier) {
		t->mode = FP_MODE_SET_PRICE;
		add_reason(t, FP_OFFER_REASON_TIER_REQUIRED);
	} else if (!fp_credit_fits(st->credit_used_minor, sp, t->credit_limit_minor)) {
		t->mode = FP_MODE_SET_PRICE;
		add_reason(t, FP_OFFER_REASON_CREDIT_LIMIT);
	} else if (t->tier == FP_TIER_RESTRICTED) {
		t->mode = FP_MODE_FAIRPAY_MINIMUM;
		t->minimum_price_minor = restricted_minimum(p, product->minimum_price_minor, sp);
		add_reason(t, FP_OFFER_REASON_LOW_SCORE);
	} else if (product->minimum_price_minor > 0) {
		t->mode = FP_MODE_FAIRPAY_MINIMUM;
		t->minimum_price_minor = product->minimum_price_minor;
		add_reason(t, FP_OFFER_REASON_PRODUCT_MINIMUM);
	} else {
		t->mode = FP_MODE_FAIRPAY;
	}
	if (t->tier == FP_TIER_PROBATION)
		add_reason(t, FP_OFFER_REASON_PROBATION);
}

/* The overrides, after the policy's terms (order documented in fp_rules.h). */
static void apply_overrides(const fp_policy *p, const fp_product *product, const fp_overrides *ov,
			    fp_terms *t)
{
	if (!ov->has_mode && !ov->has_suggested_price && !ov->has_minimum_price)
		return;
	if (ov->has_mode) {
		bool restricted =
			p->enforcement == FP_ENFORCEMENT_ENFORCE && t->tier == FP_TIER_RESTRICTED;
		t->mode = ov->mode;
		if (t->mode == FP_MODE_FAIRPAY_MINIMUM && ov->has_minimum_price)
			t->minimum_price_minor = ov->minimum_price_minor;
		else if (t->mode == FP_MODE_FAIRPAY_MINIMUM && restricted)
			t->minimum_price_minor = restricted_minimum(p, product->minimum_price_minor,
								    t->suggested_price_minor);
		else if (t->mode == FP_MODE_FAIRPAY_MINIMUM)
			t->minimum_price_minor = product->minimum_price_minor;
	} else if (ov->has_minimum_price && fp_mode_is_fairpay(t->mode)) {
		t->minimum_price_minor = ov->minimum_price_minor;
		t->mode = t->minimum_price_minor > 0 ? FP_MODE_FAIRPAY_MINIMUM : FP_MODE_FAIRPAY;
	}
	add_reason(t, FP_OFFER_REASON_VENDOR_OVERRIDE);
}

int fp_offer_terms(const fp_policy *p, const fp_product *product, const fp_standing *st,
		   const fp_overrides *ov, fp_terms *out, const char **field)
{
	const char *bad = NULL;
	int rc = -1;

	if (check_inputs(product, st, ov, &bad) != 0)
		goto done;

	memset(out, 0, sizeof(*out));
	out->suggested_price_minor = ov != NULL && ov->has_suggested_price
					     ? ov->suggested_price_minor
					     : product->suggested_price_minor;
	out->tier = fp_tier_attested(p, st->score_bp, st->payments, st->attested_payments,
				     st->open_defaults);
	out->credit_limit_minor = fp_credit_limit(p, out->tier);
	out->credit_used_minor = st->credit_used_minor;

	policy_terms(p, product, st, out);
	if (ov != NULL)
		apply_overrides(p, product, ov, out);

	if (out->mode != FP_MODE_FAIRPAY_MINIMUM)
		out->minimum_price_minor = 0;
	out->set_price_minor = out->mode == FP_MODE_SET_PRICE ? product->list_price_minor : 0;
	rc = 0;
done:
	if (field != NULL)
		*field = bad;
	return rc;
}

fp_offer_status fp_recurring_status(fp_mode mode)
{
	return fp_mode_is_fairpay(mode) ? FP_OFFER_STATUS_ACCEPTED : FP_OFFER_STATUS_OPEN;
}

/* ---------------------------------------------------------------- explanation */

static const char *plural(int32_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Append one sentence; snprintf truncates, which the fixed sentences never
 * reach (the longest is well under FP_EXPLAIN_LINE_LEN). */
static void add_line(fp_explanation *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_line(fp_explanation *out, const char *fmt, ...)
{
	va_list ap;
	if (out->n >= FP_EXPLAIN_MAX_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(out->line[out->n], FP_EXPLAIN_LINE_LEN, fmt, ap);
	va_end(ap);
	out->n++;
}

/* Basis points as a percentage without trailing zeros: 8550 -> "85.5". */
static void format_percent(int32_t bp, char *buf, size_t size)
{
	int32_t whole = bp / 100, frac = bp % 100;
	if (frac == 0)
		snprintf(buf, size, "%d", (int)whole);
	else if (frac % 10 == 0)
		snprintf(buf, size, "%d.%d", (int)whole, (int)(frac / 10));
	else
		snprintf(buf, size, "%d.%02d", (int)whole, (int)frac);
}

static void explain_standing(const fp_policy *p, const fp_explain_input *in, fp_explanation *out)
{
	int64_t left64 = (int64_t)p->probation_payments - in->payments - in->attested_payments;
	int32_t left = left64 > 0 ? (int32_t)left64 : 0;

	if (p->enforcement == FP_ENFORCEMENT_VOLUNTARY) {
		add_line(out, "Every offer lets you pay what you think is fair; "
			      "your payment record is kept but never limits your offers.");
		return;
	}
	switch (in->tier) {
	case FP_TIER_PROBATION:
		if (left > 0)
			add_line(out,
				 "You are new here: after %d more %s your offers will follow "
				 "your payment record.",
				 (int)left, plural(left, "payment", "payments"));
		else
			add_line(out, "You are new here: your offers will follow your payment "
				      "record.");
		break;
	case FP_TIER_TRUSTED:
		add_line(out, "You are a trusted customer: you get FairPay offers with the highest "
			      "credit.");
		break;
	case FP_TIER_STANDARD:
		add_line(out, "You are in good standing: you get FairPay offers.");
		break;
	case FP_TIER_RESTRICTED:
		add_line(out, "Your payments have been below the suggested price, so your FairPay "
			      "offers have a minimum price.");
		break;
	case FP_TIER_FIXED_PRICE:
		if (in->open_defaults >= p->max_open_defaults)
			add_line(out, "Because of unpaid purchases past their payment date, we can "
				      "offer only set prices for now.");
		else
			add_line(out, "Your payments have been far below the suggested price, "
				      "so we can offer only set prices for now.");
		break;
	default:
		break;
	}
}

static void explain_recent(const fp_explain_input *in, fp_explanation *out)
{
	int32_t n = in->recent, at = in->recent_at_sp;

	if (n <= 0) {
		if (in->payments <= 0)
			add_line(out, "You have not made a payment yet.");
		return;
	}
	if (at < 0)
		at = 0;
	if (at > n)
		at = n;
	if (n == 1)
		add_line(out, "Your last payment was %s the suggested price.",
			 at == 1 ? "at or above" : "below");
	else if (at == n)
		add_line(out, "All of your last %d payments were at or above the suggested price.",
			 (int)n);
	else if (at == 0)
		add_line(out, "None of your last %d payments were at or above the suggested price.",
			 (int)n);
	else
		add_line(out, "%d of your last %d payments %s at or above the suggested price.",
			 (int)at, (int)n, at == 1 ? "was" : "were");
}

void fp_explain(const fp_policy *p, const fp_explain_input *in, fp_explanation *out)
{
	char pct[16];
	bool fresh = in->payments <= 0 && in->open_defaults <= 0;

	memset(out, 0, sizeof(*out));
	explain_standing(p, in, out);

	format_percent(max32(0, in->score_bp), pct, sizeof(pct));
	add_line(out, "Your fairness score %s %s%% (100%% means paying the suggested price).",
		 fresh ? "starts at" : "is", pct);

	explain_recent(in, out);

	if (in->open_defaults == 1)
		add_line(out, "You have 1 unpaid purchase past its payment date; paying it late "
			      "still counts toward your record.");
	else if (in->open_defaults > 1)
		add_line(out,
			 "You have %d unpaid purchases past their payment date; paying them "
			 "late still counts toward your record.",
			 (int)in->open_defaults);

	/* Paying the SP raises a score only while the score is below 100%. */
	if (p->enforcement == FP_ENFORCEMENT_ENFORCE && in->score_bp < FP_BP_ONE)
		add_line(out, "Paying the suggested price or more raises your score.");
}

/* ---------------------------------------------------------------- what-if */

void fp_replay_start(const fp_policy *p, const fp_seed *seed, fp_replay_state *s)
{
	s->score_bp = seed != NULL ? seed->score_bp : p->prior_score_bp;
	s->payments = 0;
	s->attested_payments = seed != NULL ? seed->attested_payments : 0;
	s->open_defaults = 0;
}

int32_t fp_replay_fairness(const fp_policy *p, const fp_history_entry *e)
{
	if (e->open_default)
		return 0;
	int32_t f;
	if (e->review == FP_REVIEW_ACCEPTED || e->review == FP_REVIEW_REJECTED) {
		/* A vendor's review is a decision about this payment, kept
		 * whatever the candidate's excuses would say. */
		f = fp_review_fairness(e->raw_fairness_bp, e->review == FP_REVIEW_ACCEPTED);
	} else {
		fp_review ignored;
		f = fp_excuse(p, e->reasons, e->raw_fairness_bp, &ignored);
	}
	return e->late ? fp_late_fairness(p, f) : f;
}

void fp_replay_step(const fp_policy *p, fp_replay_state *s, const fp_history_entry *e)
{
	s->score_bp = fp_score_step(s->score_bp, fp_replay_fairness(p, e), p->alpha_bp);
	if (e->open_default) {
		if (s->open_defaults < INT32_MAX)
			s->open_defaults++;
	} else if (s->payments < INT32_MAX) {
		s->payments++;
	}
}

void fp_replay(const fp_policy *p, const fp_history_entry *h, size_t n, fp_replay_state *out)
{
	fp_replay_start(p, NULL, out);
	for (size_t i = 0; i < n; i++)
		fp_replay_step(p, out, &h[i]);
}

fp_tier fp_replay_tier(const fp_policy *p, const fp_replay_state *s)
{
	return fp_tier_attested(p, s->score_bp, s->payments, s->attested_payments,
				s->open_defaults);
}
