/* Requests built from fairpayctl's command line (see ctl_build.h). */
#include "ctl_build.h"

#include <stddef.h>

/* Fill p from `product put`'s arguments. */
void ctl_build_product(const ctl_args *a, Fairpay__V1__Product *p)
{
	/* PutProduct replaces the whole product: what is not given is 0, and
	 * a min_tier of 0 means the default, FP_DEFAULT_MIN_TIER (RESTRICTED). */
	p->sku = (char *)a->sku;
	p->name = (char *)a->name;
	p->currency = (char *)a->currency;
	p->suggested_price_minor = a->sp.v;
	p->unit_price_minor = a->unit_price.set ? a->unit_price.v : 0;
	p->list_price_minor = a->list_price.set ? a->list_price.v : 0;
	p->minimum_price_minor = a->minimum.set ? a->minimum.v : 0;
	p->min_tier = a->min_tier.set ? (Fairpay__V1__Tier)a->min_tier.v
				      : FAIRPAY__V1__TIER__TIER_UNSPECIFIED;
	p->period_days = a->period_days.set ? (int32_t)a->period_days.v : 0;
}

/* Set one optional field of p: the value and its presence case. */
static void policy_put(Fairpay__V1__Policy *p, ctl_policy_key k, int64_t v)
{
	int32_t v32 = (int32_t)v; /* the parser kept int32 keys in range */
	switch (k) {
#define PUT_CASE(f, F, value)                                           \
	case CTL_POLICY_##F:                                            \
		p->f = (value);                                         \
		p->opt_##f##_case = FAIRPAY__V1__POLICY__OPT_##F##_##F; \
		break;
#define PUT_ENFORCEMENT(f, F) PUT_CASE(f, F, (Fairpay__V1__Enforcement)v)
#define PUT_I32(f, F) PUT_CASE(f, F, v32)
#define PUT_I64(f, F) PUT_CASE(f, F, v)
#define PUT_REASONS(f, F) /* a repeated field: ctl_build_policy() */
#define PUT(f, F, KIND) PUT_##KIND(f, F)
		FP_POLICY_FIELDS(PUT)
	case CTL_POLICY_EXCUSING_REASONS:
	case CTL_POLICY_KEY_COUNT:
		break;
	}
}

/* Fill req and p from `policy set`'s KEY=VALUE pairs. */
void ctl_build_policy(const ctl_args *a, Fairpay__V1__PutPolicyRequest *req, Fairpay__V1__Policy *p,
		      Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS])
{
	const ctl_policy_edit *pe = &a->policy;
	for (int k = 0; k < CTL_POLICY_KEY_COUNT; k++)
		if (pe->set[k])
			policy_put(p, (ctl_policy_key)k, pe->value[k]);
	if (pe->set[CTL_POLICY_EXCUSING_REASONS]) {
		for (size_t i = 0; i < pe->n_reasons && i < CTL_MAX_REASONS; i++)
			reasons[i] = (Fairpay__V1__PaymentReason)pe->reasons[i];
		p->n_excusing_reasons = pe->n_reasons;
		p->excusing_reasons = pe->n_reasons > 0 ? reasons : NULL;
		req->set_excusing_reasons = 1;
	}
	req->policy = p;
}

#define OVERRIDE_SP_SET \
	FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR

/* Fill ov from `offer create`'s overrides. */
bool ctl_build_overrides(const ctl_args *a, Fairpay__V1__OfferOverrides *ov)
{
	if (a->mode.set) {
		ov->mode = (Fairpay__V1__OfferMode)a->mode.v;
		ov->opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
	}
	if (a->sp.set) {
		ov->suggested_price_minor = a->sp.v;
		ov->opt_suggested_price_minor_case = OVERRIDE_SP_SET;
	}
	if (a->minimum.set) {
		ov->minimum_price_minor = a->minimum.v;
		ov->opt_minimum_price_minor_case =
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
	}
	return a->mode.set || a->sp.set || a->minimum.set;
}

/* Fill sp from `pay`'s arguments. */
void ctl_build_payment(const ctl_args *a, Fairpay__V1__SubmitPaymentRequest *sp,
		       Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS])
{
	sp->offer_id = (char *)a->offer_id;
	/* Both have presence on the wire, so that an amount of 0 is real. */
	if (a->amount.set) {
		sp->amount_minor = a->amount.v;
		sp->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	} else if (a->differential.set) {
		sp->differential_bp = (int32_t)a->differential.v;
		sp->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
	}
	sp->usage_units = a->usage.set ? a->usage.v : 0;
	for (size_t i = 0; i < a->n_reasons && i < CTL_MAX_REASONS; i++)
		reasons[i] = (Fairpay__V1__PaymentReason)a->reasons[i];
	sp->n_reasons = a->n_reasons;
	sp->reasons = a->n_reasons > 0 ? reasons : NULL;
	if (a->note != NULL)
		sp->note = (char *)a->note;
}
