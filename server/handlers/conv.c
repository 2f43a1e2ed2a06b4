/* Rows to messages (see conv.h). */
#include "conv.h"

#include <stdlib.h>
#include <string.h>

#include "names.h"

static int32_t get_i32(const PGresult *res, int row, int col)
{
	return (int32_t)db_get_i64(res, row, col);
}

static int64_t ms(int64_t us)
{
	return us / 1000;
}

static char *get_str(rpc_call *call, const PGresult *res, int row, int col)
{
	return rpc_strdup(call, db_get_str(res, row, col));
}

#define SET_OPT(msg, field, FIELD, value)                                               \
	do {                                                                            \
		(msg)->field = (value);                                                 \
		(msg)->opt_##field##_case = FAIRPAY__V1__POLICY__OPT_##FIELD##_##FIELD; \
	} while (0)

Fairpay__V1__Policy *conv_policy_to_pb(rpc_call *call, const fp_policy *p)
{
	Fairpay__V1__Policy *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__policy__init(m);
#define TO_PB_ENFORCEMENT(f, F) SET_OPT(m, f, F, (Fairpay__V1__Enforcement)p->f);
#define TO_PB_I32(f, F) SET_OPT(m, f, F, p->f);
#define TO_PB_I64(f, F) SET_OPT(m, f, F, p->f);
#define TO_PB_REASONS(f, F) /* a repeated field: below */
#define TO_PB(f, F, KIND) TO_PB_##KIND(f, F)
	FP_POLICY_FIELDS(TO_PB)
	size_t n = 0;
	m->excusing_reasons = rpc_alloc(call, 8 * sizeof(*m->excusing_reasons));
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++)
		if (p->excusing_reasons & FP_REASON_BIT(r))
			m->excusing_reasons[n++] = (Fairpay__V1__PaymentReason)r;
	m->n_excusing_reasons = n;
	m->version = p->version;
	return m;
}

Fairpay__V1__Product *conv_product(rpc_call *call, const PGresult *res, int row, int c)
{
	Fairpay__V1__Product *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__product__init(m);
	m->sku = get_str(call, res, row, c + 0);
	m->name = get_str(call, res, row, c + 1);
	m->currency = get_str(call, res, row, c + 2);
	m->suggested_price_minor = db_get_i64(res, row, c + 3);
	m->unit_price_minor = db_get_i64(res, row, c + 4);
	m->list_price_minor = db_get_i64(res, row, c + 5);
	m->minimum_price_minor = db_get_i64(res, row, c + 6);
	m->min_tier = (Fairpay__V1__Tier)names_value(NAMES_TIER, db_get_str(res, row, c + 7));
	m->period_days = get_i32(res, row, c + 8);
	m->version = db_get_i64(res, row, c + 9);
	return m;
}

Fairpay__V1__Event **conv_event_page(rpc_call *call, const PGresult *res, unsigned n, size_t *count,
				     bool *more)
{
	Fairpay__V1__Event **events = rpc_alloc(call, (n ? n : 1) * sizeof(*events));
	size_t used = 0;
	unsigned i = 0;
	for (; i < n; i++) {
		Fairpay__V1__Event *e = rpc_alloc(call, sizeof(*e));
		fairpay__v1__event__init(e);
		int row = (int)i;
		e->id = (uint64_t)db_get_i64(res, row, 0);
		e->kind = (Fairpay__V1__EventKind)names_value(NAMES_EVENT, db_get_str(res, row, 1));
		e->customer_id = get_str(call, res, row, 2);
		e->offer_id = get_str(call, res, row, 3);
		e->payment_id = get_str(call, res, row, 4);
		e->detail = get_str(call, res, row, 5);
		e->at_unix_ms = db_get_i64(res, row, 6);
		if (!rpc_page_fits(call, &used, fairpay__v1__event__get_packed_size(e))) {
			*more = true; /* the rest on the next page */
			break;
		}
		events[i] = e;
	}
	*count = i;
	return events;
}

Fairpay__V1__Offer *conv_offer(rpc_call *call, const store_offer *o)
{
	Fairpay__V1__Offer *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__offer__init(m);
	m->offer_id = rpc_strdup(call, o->id);
	m->customer_id = rpc_strdup(call, o->customer_id);
	m->sku = rpc_strdup(call, o->sku);
	m->status = (Fairpay__V1__OfferStatus)o->status;
	m->mode = (Fairpay__V1__OfferMode)o->mode;
	m->currency = rpc_strdup(call, o->currency);
	m->suggested_price_minor = o->suggested_price_minor;
	m->unit_price_minor = o->unit_price_minor;
	m->minimum_price_minor = o->minimum_price_minor;
	m->set_price_minor = o->set_price_minor;
	m->tier = (Fairpay__V1__Tier)o->tier;
	m->credit_limit_minor = o->credit_limit_minor;
	m->credit_used_minor = o->credit_used_minor;
	m->n_reasons = o->n_reasons;
	m->reasons = rpc_alloc(call, (o->n_reasons ? o->n_reasons : 1) * sizeof(*m->reasons));
	for (size_t i = 0; i < o->n_reasons; i++)
		m->reasons[i] = (Fairpay__V1__OfferReason)o->reasons[i];
	m->created_at_unix_ms = ms(o->created_us);
	m->expires_at_unix_ms = ms(o->expires_us);
	m->pay_by_unix_ms = ms(o->pay_by_us);
	m->period_index = o->period_index;
	m->previous_offer_id = rpc_strdup(call, o->previous_offer_id);
	return m;
}

Fairpay__V1__Payment *conv_payment(rpc_call *call, const store_payment *p)
{
	Fairpay__V1__Payment *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__payment__init(m);
	m->payment_id = rpc_strdup(call, p->id);
	m->offer_id = rpc_strdup(call, p->offer_id);
	m->customer_id = rpc_strdup(call, p->customer_id);
	m->amount_minor = p->amount_minor;
	m->currency = rpc_strdup(call, p->currency);
	m->suggested_price_minor = p->suggested_price_minor;
	m->usage_units = p->usage_units;
	m->reasons = rpc_alloc(call, (FP_PAYMENT_REASON_MAX + 1) * sizeof(*m->reasons));
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++)
		if (p->reasons & FP_REASON_BIT(r))
			m->reasons[m->n_reasons++] = (Fairpay__V1__PaymentReason)r;
	m->note = rpc_strdup(call, p->note ? p->note : "");
	m->fairness_bp = p->a.fairness_bp;
	m->raw_fairness_bp = p->a.raw_fairness_bp;
	m->verdict = (Fairpay__V1__Verdict)p->a.verdict;
	m->review = (Fairpay__V1__Review)p->a.review;
	m->late = p->late;
	m->created_at_unix_ms = ms(p->created_us);
	return m;
}
