/* Rows to messages and enum names to values (see conv.h). */
#include "conv.h"

#include <stdlib.h>
#include <string.h>

const char *const conv_tier_names[] = { "",         "FIXED_PRICE", "RESTRICTED", "PROBATION",
					"STANDARD", "TRUSTED",     NULL };
const char *const conv_status_names[] = { "",         "OPEN",    "ACCEPTED",  "PAID",
					  "DECLINED", "EXPIRED", "DEFAULTED", NULL };
const char *const conv_mode_names[] = { "", "FAIRPAY", "FAIRPAY_MINIMUM", "SET_PRICE", NULL };
const char *const conv_offer_reason_names[] = { "",
						"PROBATION",
						"CREDIT_LIMIT",
						"LOW_SCORE",
						"OPEN_DEFAULTS",
						"TIER_REQUIRED",
						"PRODUCT_MINIMUM",
						"VENDOR_OVERRIDE",
						"VOLUNTARY_MODE",
						NULL };
const char *const conv_payment_reason_names[] = { "",
						  "DID_NOT_USE",
						  "POOR_QUALITY",
						  "NOT_AS_DESCRIBED",
						  "TECHNICAL_PROBLEM",
						  "CANNOT_AFFORD",
						  "GREAT_VALUE",
						  "OTHER",
						  NULL };
const char *const conv_verdict_names[] = { "", "GENEROUS", "FAIR", "LOW", "UNFAIR", NULL };
const char *const conv_review_names[] = {
	"", "NOT_NEEDED", "PENDING", "ACCEPTED", "REJECTED", NULL
};
const char *const conv_event_names[] = { "",
					 "OFFER_CREATED",
					 "OFFER_ACCEPTED",
					 "OFFER_DECLINED",
					 "OFFER_EXPIRED",
					 "OFFER_DEFAULTED",
					 "PAYMENT_RECEIVED",
					 "PAYMENT_REVIEWED",
					 "REPUTATION_CHANGED",
					 NULL };
const char *const conv_enforcement_names[] = { "", "ENFORCE", "VOLUNTARY", NULL };

int conv_enum_value(const char *const *table, const char *name)
{
	for (int i = 1; table[i] != NULL; i++)
		if (strcmp(table[i], name) == 0)
			return i;
	return 0;
}

const char *conv_enum_name(const char *const *table, int value)
{
	if (value <= 0)
		return NULL;
	for (int i = 1; table[i] != NULL; i++)
		if (i == value)
			return table[i];
	return NULL;
}

static int32_t get_i32(const PGresult *res, int row, int col)
{
	return (int32_t)db_get_i64(res, row, col);
}

static char *get_str(rpc_call *call, const PGresult *res, int row, int col)
{
	return rpc_strdup(call, db_get_str(res, row, col));
}

/* Split a comma-joined list of names into enum values in call memory. */
static int *split_enums(rpc_call *call, const char *const *table, const char *list, size_t *n)
{
	size_t count = 0;
	*n = 0;
	if (list[0] == '\0')
		return NULL;
	for (const char *p = list; *p; p++)
		count += *p == ',';
	count++;
	int *out = rpc_alloc(call, count * sizeof(int));
	char *copy = rpc_strdup(call, list);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		int v = conv_enum_value(table, tok);
		if (v != 0)
			out[(*n)++] = v;
	}
	return out;
}

uint32_t conv_reason_mask(const char *list)
{
	uint32_t mask = 0;
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		for (int i = 1; conv_payment_reason_names[i] != NULL; i++) {
			if (strlen(conv_payment_reason_names[i]) == len &&
			    strncmp(conv_payment_reason_names[i], p, len) == 0)
				mask |= FP_REASON_BIT(i);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return mask;
}

void conv_policy_from_row(const PGresult *res, int row, int col, fp_policy *p)
{
	p->enforcement = (fp_enforcement)conv_enum_value(conv_enforcement_names,
							 db_get_str(res, row, col + 0));
	p->prior_score_bp = get_i32(res, row, col + 1);
	p->alpha_bp = get_i32(res, row, col + 2);
	p->probation_payments = get_i32(res, row, col + 3);
	p->trusted_score_bp = get_i32(res, row, col + 4);
	p->fair_score_bp = get_i32(res, row, col + 5);
	p->low_score_bp = get_i32(res, row, col + 6);
	p->generous_bp = get_i32(res, row, col + 7);
	p->max_open_defaults = get_i32(res, row, col + 8);
	p->restricted_minimum_bp = get_i32(res, row, col + 9);
	p->probation_credit_minor = db_get_i64(res, row, col + 10);
	p->standard_credit_minor = db_get_i64(res, row, col + 11);
	p->trusted_credit_minor = db_get_i64(res, row, col + 12);
	p->excusing_reasons = conv_reason_mask(db_get_str(res, row, col + 13));
	p->excused_floor_bp = get_i32(res, row, col + 14);
	p->late_penalty_bp = get_i32(res, row, col + 15);
	p->offer_ttl_seconds = db_get_i64(res, row, col + 16);
	p->payment_window_seconds = db_get_i64(res, row, col + 17);
	p->version = db_get_i64(res, row, col + 18);
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
	SET_OPT(m, enforcement, ENFORCEMENT, (Fairpay__V1__Enforcement)p->enforcement);
	SET_OPT(m, prior_score_bp, PRIOR_SCORE_BP, p->prior_score_bp);
	SET_OPT(m, alpha_bp, ALPHA_BP, p->alpha_bp);
	SET_OPT(m, probation_payments, PROBATION_PAYMENTS, p->probation_payments);
	SET_OPT(m, trusted_score_bp, TRUSTED_SCORE_BP, p->trusted_score_bp);
	SET_OPT(m, fair_score_bp, FAIR_SCORE_BP, p->fair_score_bp);
	SET_OPT(m, low_score_bp, LOW_SCORE_BP, p->low_score_bp);
	SET_OPT(m, generous_bp, GENEROUS_BP, p->generous_bp);
	SET_OPT(m, max_open_defaults, MAX_OPEN_DEFAULTS, p->max_open_defaults);
	SET_OPT(m, restricted_minimum_bp, RESTRICTED_MINIMUM_BP, p->restricted_minimum_bp);
	SET_OPT(m, probation_credit_minor, PROBATION_CREDIT_MINOR, p->probation_credit_minor);
	SET_OPT(m, standard_credit_minor, STANDARD_CREDIT_MINOR, p->standard_credit_minor);
	SET_OPT(m, trusted_credit_minor, TRUSTED_CREDIT_MINOR, p->trusted_credit_minor);
	SET_OPT(m, excused_floor_bp, EXCUSED_FLOOR_BP, p->excused_floor_bp);
	SET_OPT(m, late_penalty_bp, LATE_PENALTY_BP, p->late_penalty_bp);
	SET_OPT(m, offer_ttl_seconds, OFFER_TTL_SECONDS, p->offer_ttl_seconds);
	SET_OPT(m, payment_window_seconds, PAYMENT_WINDOW_SECONDS, p->payment_window_seconds);
	size_t n = 0;
	m->excusing_reasons = rpc_alloc(call, 8 * sizeof(*m->excusing_reasons));
	for (int r = 1; conv_payment_reason_names[r] != NULL; r++)
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
	m->min_tier =
		(Fairpay__V1__Tier)conv_enum_value(conv_tier_names, db_get_str(res, row, c + 7));
	m->period_days = get_i32(res, row, c + 8);
	m->version = db_get_i64(res, row, c + 9);
	return m;
}

Fairpay__V1__Offer *conv_offer(rpc_call *call, const PGresult *res, int row, int c)
{
	if (db_is_null(res, row, c))
		return NULL;
	Fairpay__V1__Offer *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__offer__init(m);
	m->offer_id = get_str(call, res, row, c + 0);
	m->customer_id = get_str(call, res, row, c + 1);
	m->sku = get_str(call, res, row, c + 2);
	m->status = (Fairpay__V1__OfferStatus)conv_enum_value(conv_status_names,
							      db_get_str(res, row, c + 3));
	m->mode = (Fairpay__V1__OfferMode)conv_enum_value(conv_mode_names,
							  db_get_str(res, row, c + 4));
	m->currency = get_str(call, res, row, c + 5);
	m->suggested_price_minor = db_get_i64(res, row, c + 6);
	m->unit_price_minor = db_get_i64(res, row, c + 7);
	m->minimum_price_minor = db_get_i64(res, row, c + 8);
	m->set_price_minor = db_get_i64(res, row, c + 9);
	m->tier = (Fairpay__V1__Tier)conv_enum_value(conv_tier_names, db_get_str(res, row, c + 10));
	m->credit_limit_minor = db_get_i64(res, row, c + 11);
	m->credit_used_minor = db_get_i64(res, row, c + 12);
	m->reasons = (Fairpay__V1__OfferReason *)split_enums(
		call, conv_offer_reason_names, db_get_str(res, row, c + 13), &m->n_reasons);
	m->created_at_unix_ms = db_get_i64(res, row, c + 14);
	m->expires_at_unix_ms = db_get_i64(res, row, c + 15);
	m->pay_by_unix_ms = db_get_i64(res, row, c + 16);
	m->period_index = get_i32(res, row, c + 17);
	m->previous_offer_id = get_str(call, res, row, c + 18);
	return m;
}

Fairpay__V1__Payment *conv_payment(rpc_call *call, const PGresult *res, int row, int c)
{
	Fairpay__V1__Payment *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__payment__init(m);
	m->payment_id = get_str(call, res, row, c + 0);
	m->offer_id = get_str(call, res, row, c + 1);
	m->customer_id = get_str(call, res, row, c + 2);
	m->amount_minor = db_get_i64(res, row, c + 3);
	m->currency = get_str(call, res, row, c + 4);
	m->suggested_price_minor = db_get_i64(res, row, c + 5);
	m->usage_units = db_get_i64(res, row, c + 6);
	m->reasons = (Fairpay__V1__PaymentReason *)split_enums(
		call, conv_payment_reason_names, db_get_str(res, row, c + 7), &m->n_reasons);
	m->note = get_str(call, res, row, c + 8);
	m->fairness_bp = get_i32(res, row, c + 9);
	m->raw_fairness_bp = get_i32(res, row, c + 10);
	m->verdict = (Fairpay__V1__Verdict)conv_enum_value(conv_verdict_names,
							   db_get_str(res, row, c + 11));
	m->review = (Fairpay__V1__Review)conv_enum_value(conv_review_names,
							 db_get_str(res, row, c + 12));
	m->late = strcmp(db_get_str(res, row, c + 13), "t") == 0;
	m->created_at_unix_ms = db_get_i64(res, row, c + 14);
	return m;
}

Fairpay__V1__Reputation *conv_reputation(rpc_call *call, const PGresult *res, int row, int c)
{
	Fairpay__V1__Reputation *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__reputation__init(m);
	m->customer_id = get_str(call, res, row, c + 0);
	m->score_bp = get_i32(res, row, c + 1);
	m->tier = (Fairpay__V1__Tier)conv_enum_value(conv_tier_names, db_get_str(res, row, c + 2));
	m->payments = get_i32(res, row, c + 3);
	m->defaults = get_i32(res, row, c + 4);
	m->open_defaults = get_i32(res, row, c + 5);
	m->offers_accepted = get_i32(res, row, c + 6);
	m->total_paid_minor = db_get_i64(res, row, c + 7);
	m->total_suggested_minor = db_get_i64(res, row, c + 8);
	m->credit_limit_minor = db_get_i64(res, row, c + 9);
	m->credit_used_minor = db_get_i64(res, row, c + 10);
	m->updated_at_unix_ms = db_get_i64(res, row, c + 11);

	/* The explanation is worded here, from the numbers the database
	 * returned and the parts of the policy it depends on. */
	fp_policy p;
	fp_policy_defaults(&p);
	p.enforcement = (fp_enforcement)conv_enum_value(conv_enforcement_names,
							db_get_str(res, row, c + 14));
	p.probation_payments = get_i32(res, row, c + CONV_REPUTATION_NCOLS);
	p.max_open_defaults = get_i32(res, row, c + CONV_REPUTATION_NCOLS + 1);
	fp_explain_input in = {
		.score_bp = m->score_bp,
		.tier = (fp_tier)m->tier,
		.payments = m->payments,
		.open_defaults = m->open_defaults,
		.recent = get_i32(res, row, c + 12),
		.recent_at_sp = get_i32(res, row, c + 13),
	};
	fp_explanation ex;
	fp_explain(&p, &in, &ex);
	m->explanation = rpc_alloc(call, (ex.n ? ex.n : 1) * sizeof(char *));
	for (size_t i = 0; i < ex.n; i++)
		m->explanation[i] = rpc_strdup(call, ex.line[i]);
	m->n_explanation = ex.n;
	return m;
}
