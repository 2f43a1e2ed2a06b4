/* What offers and payments add to the GetInsights sums (see facts.h). */
#include "facts.h"

#include <stdio.h>
#include <string.h>

void facts_offer(facts *f, fp_offer_status status, int s)
{
	f->v[FACTS_OFFERS_CREATED] += s;
	/* Accepted offers go on to be paid or to default; declined and expired
	 * ones were never accepted. */
	if (status == FP_OFFER_STATUS_ACCEPTED || status == FP_OFFER_STATUS_PAID ||
	    status == FP_OFFER_STATUS_DEFAULTED)
		f->v[FACTS_OFFERS_ACCEPTED] += s;
	if (status == FP_OFFER_STATUS_DECLINED)
		f->v[FACTS_OFFERS_DECLINED] += s;
	if (status == FP_OFFER_STATUS_EXPIRED)
		f->v[FACTS_OFFERS_EXPIRED] += s;
	/* A cycle that defaulted counts in defaults while it is open here, and,
	 * once paid late, through its payment. */
	if (status == FP_OFFER_STATUS_DEFAULTED)
		f->v[FACTS_DEFAULTS] += s;
}

void facts_payment(facts *f, const facts_payment_row *p, int s)
{
	f->v[FACTS_PAYMENTS] += s;
	if (p->late) {
		f->v[FACTS_DEFAULTS] += s;
		f->v[FACTS_LATE_PAYMENTS] += s;
	}
	if (p->review == FP_REVIEW_PENDING)
		f->v[FACTS_REVIEWS_PENDING] += s;
	f->v[FACTS_PAID_MINOR] += s * p->amount_minor;
	f->v[FACTS_SUGGESTED_MINOR] += s * p->suggested_price_minor;
	f->v[FACTS_LIST_MINOR] += s * p->list_price_minor;
	if (p->raw_fairness_bp >= FP_BP_ONE)
		f->v[FACTS_AT_OR_ABOVE_SP] += s;
	int32_t bucket = p->fairness_bp / FACTS_BUCKET_BP;
	if (bucket < 0)
		bucket = 0;
	if (bucket >= FACTS_HISTOGRAM)
		bucket = FACTS_HISTOGRAM - 1;
	f->v[FACTS_HISTOGRAM_0 + bucket] += s;
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++)
		if (p->reasons & FP_REASON_BIT(r))
			f->v[FACTS_REASON_0 + r] += s;
}

void facts_add_stat(facts *f, int stat, int64_t v)
{
	if (__builtin_add_overflow(f->v[stat], v, &f->v[stat]))
		f->v[stat] = v > 0 ? INT64_MAX : INT64_MIN;
}

bool facts_zero(const facts *f)
{
	for (int i = 0; i < FACTS_N; i++)
		if (f->v[i] != 0)
			return false;
	return true;
}

int facts_format(const facts *f, char *out, size_t len)
{
	if (len < 3)
		return -1;
	size_t n = 0;
	out[n++] = '{';
	const char *sep = "";
	for (int i = 0; i < FACTS_N; i++) {
		if (f->v[i] == 0)
			continue;
		int w = snprintf(out + n, len - n, "%s%d,%lld", sep, i, (long long)f->v[i]);
		if (w < 0 || (size_t)w >= len - n)
			return -1;
		n += (size_t)w;
		sep = ",";
	}
	if (n + 2 > len)
		return -1;
	memcpy(out + n, "}", 2);
	return 0;
}
