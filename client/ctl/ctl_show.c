/* The FairPay cycle's messages as fairpayctl prints them (see ctl_show.h).
 * Depends only on the generated message structs, ctl_out, ctl_enum and the
 * pure rules of fp_rules (for the default min_tier), so that the output can
 * be unit-tested without a server. */
#include "ctl_show.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ctl_enum.h"
#include "ctl_out.h"
#include "fp_rules.h"
#include "money.h"

/* ---------------------------------------------------------------- text */

static void kv(FILE *f, const char *ind, const char *name, const char *value)
{
	fputs(ind, f);
	ctl_out_field(f, name, value != NULL && value[0] != '\0' ? value : "-");
}

static void kv_i64(FILE *f, const char *ind, const char *name, int64_t v)
{
	fprintf(f, "%s%s: %" PRId64 "\n", ind, name, v);
}

/* Money with its currency, in major units: "10.00 EUR" (money.h). */
static void kv_money(FILE *f, const char *ind, const char *name, int64_t v, const char *currency)
{
	char buf[MONEY_TEXT_LEN];
	fprintf(f, "%s%s: %s\n", ind, name, money_format(v, currency, buf));
}

static void kv_time(FILE *f, const char *ind, const char *name, int64_t unix_ms)
{
	char when[CTL_OUT_TIME_LEN];
	kv(f, ind, name, ctl_out_time(unix_ms, when));
}

static void kv_enum(FILE *f, const char *ind, const char *name, const ctl_enum *e, int v)
{
	char buf[CTL_ENUM_BUF];
	kv(f, ind, name, ctl_enum_name(e, v, buf));
}

static void kv_bool(FILE *f, const char *ind, const char *name, bool v)
{
	kv(f, ind, name, v ? "yes" : "no");
}

/* A repeated enum, comma-joined; values arrive as the generated enum types,
 * which are all int-sized. */
static void kv_enum_list(FILE *f, const char *ind, const char *name, const ctl_enum *e,
			 const int *values, size_t n)
{
	char buf[CTL_ENUM_BUF];
	fprintf(f, "%s%s: ", ind, name);
	if (n == 0)
		fputc('-', f);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		fputs(ctl_enum_name(e, values[i], buf), f);
	}
	fputc('\n', f);
}

/* ---------------------------------------------------------------- JSON */

/* Writes the members of one JSON object, commas included. */
typedef struct jw {
	FILE *f;
	bool more;
} jw;

static jw jw_begin(FILE *f)
{
	fputc('{', f);
	return (jw){ f, false };
}

static void jw_end(jw *j)
{
	fputc('}', j->f);
}

static void jw_key(jw *j, const char *name)
{
	if (j->more)
		fputc(',', j->f);
	j->more = true;
	fprintf(j->f, "\"%s\":", name);
}

static void jw_str(jw *j, const char *name, const char *v)
{
	jw_key(j, name);
	ctl_out_json_string(j->f, v != NULL ? v : "");
}

static void jw_i64(jw *j, const char *name, int64_t v)
{
	jw_key(j, name);
	fprintf(j->f, "%" PRId64, v);
}

static void jw_u64(jw *j, const char *name, uint64_t v)
{
	jw_key(j, name);
	fprintf(j->f, "%" PRIu64, v);
}

static void jw_bool(jw *j, const char *name, bool v)
{
	jw_key(j, name);
	fputs(v ? "true" : "false", j->f);
}

static void jw_enum(jw *j, const char *name, const ctl_enum *e, int v)
{
	char buf[CTL_ENUM_BUF];
	jw_str(j, name, ctl_enum_name(e, v, buf));
}

static void jw_enum_list(jw *j, const char *name, const ctl_enum *e, const int *values, size_t n)
{
	char buf[CTL_ENUM_BUF];
	jw_key(j, name);
	fputc('[', j->f);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', j->f);
		ctl_out_json_string(j->f, ctl_enum_name(e, values[i], buf));
	}
	fputc(']', j->f);
}

/* The generated enums are int-sized (PROTOBUF_C__FORCE_ENUM_TO_BE_INT_SIZE),
 * so a repeated enum field can be read as ints. */
#define AS_INTS(p) ((const int *)(const void *)(p))
_Static_assert(sizeof(Fairpay__V1__OfferReason) == sizeof(int), "enum size");
_Static_assert(sizeof(Fairpay__V1__PaymentReason) == sizeof(int), "enum size");

/* ---------------------------------------------------------------- products */

static const Fairpay__V1__Product empty_product = FAIRPAY__V1__PRODUCT__INIT;

/* The min_tier a product has: an unset one (0) stands for the default,
 * RESTRICTED (PROTOCOL.md, Product), shown as that tier. */
static int shown_min_tier(const Fairpay__V1__Product *p)
{
	return (int)fp_product_min_tier((fp_tier)p->min_tier);
}

/* Print a product as text lines. */
void ctl_show_product(FILE *f, const char *ind, const Fairpay__V1__Product *p)
{
	if (p == NULL)
		p = &empty_product;
	kv(f, ind, "sku", p->sku);
	kv(f, ind, "name", p->name);
	kv(f, ind, "currency", p->currency);
	kv_money(f, ind, "suggested_price", p->suggested_price_minor, p->currency);
	kv_money(f, ind, "unit_price", p->unit_price_minor, p->currency);
	kv_money(f, ind, "list_price", p->list_price_minor, p->currency);
	kv_money(f, ind, "minimum_price", p->minimum_price_minor, p->currency);
	kv_enum(f, ind, "min_tier", &ctl_enum_tier, shown_min_tier(p));
	kv_i64(f, ind, "period_days", p->period_days);
	kv_i64(f, ind, "version", p->version);
}

/* Print a product as a JSON object. */
void ctl_show_product_json(FILE *f, const Fairpay__V1__Product *p)
{
	if (p == NULL)
		p = &empty_product;
	jw j = jw_begin(f);
	jw_str(&j, "sku", p->sku);
	jw_str(&j, "name", p->name);
	jw_str(&j, "currency", p->currency);
	jw_i64(&j, "suggested_price_minor", p->suggested_price_minor);
	jw_i64(&j, "unit_price_minor", p->unit_price_minor);
	jw_i64(&j, "list_price_minor", p->list_price_minor);
	jw_i64(&j, "minimum_price_minor", p->minimum_price_minor);
	jw_enum(&j, "min_tier", &ctl_enum_tier, shown_min_tier(p));
	jw_i64(&j, "period_days", p->period_days);
	jw_i64(&j, "version", p->version);
	jw_end(&j);
}

/* Print products as a table. */
int ctl_show_product_table(FILE *f, Fairpay__V1__Product *const *items, size_t n)
{
	static const char *const headers[] = { "SKU",        "NAME",        "SP",
					       "UNIT_PRICE", "LIST_PRICE",  "MINIMUM",
					       "MIN_TIER",   "PERIOD_DAYS", "VERSION" };
	ctl_table *t = ctl_table_new(9, headers);
	int rc = -1;
	if (t == NULL)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const Fairpay__V1__Product *p = items[i] != NULL ? items[i] : &empty_product;
		char sp[MONEY_TEXT_LEN], unit[MONEY_TEXT_LEN], list[MONEY_TEXT_LEN],
			min[MONEY_TEXT_LEN], period[16], version[24];
		char tier[CTL_ENUM_BUF];
		money_format(p->suggested_price_minor, p->currency, sp);
		money_format(p->unit_price_minor, p->currency, unit);
		money_format(p->list_price_minor, p->currency, list);
		money_format(p->minimum_price_minor, p->currency, min);
		snprintf(period, sizeof(period), "%" PRId32, p->period_days);
		snprintf(version, sizeof(version), "%" PRId64, p->version);
		const char *cells[] = { p->sku,
					p->name,
					sp,
					unit,
					list,
					min,
					ctl_enum_name(&ctl_enum_tier, shown_min_tier(p), tier),
					period,
					version };
		if (ctl_table_add(t, cells) != 0)
			goto done;
	}
	ctl_table_print(t, f);
	rc = 0;
done:
	ctl_table_free(t);
	return rc;
}

/* ---------------------------------------------------------------- policies */

typedef enum pf_kind {
	PF_ENFORCEMENT,
	PF_I32,
	PF_I64,
	PF_REASONS
} pf_kind;

/* The Policy fields in proto order. Each optional field is a one-member
 * oneof: its case (an int-sized enum, NOT_SET = 0) says whether it is set. */
typedef struct policy_field {
	const char *name;
	pf_kind kind;
	size_t case_off;
	size_t value_off;
} policy_field;

#define PF(field, kind)                                                          \
	{                                                                        \
#field, kind, offsetof(Fairpay__V1__Policy, opt_##field##_case), \
			offsetof(Fairpay__V1__Policy, field)                     \
	}

#define PF_ROW_ENFORCEMENT(f) PF(f, PF_ENFORCEMENT),
#define PF_ROW_I32(f) PF(f, PF_I32),
#define PF_ROW_I64(f) PF(f, PF_I64),
#define PF_ROW_REASONS(f) { #f, PF_REASONS, 0, 0 }, /* repeated: no case */
#define PF_ROW(f, F, KIND) PF_ROW_##KIND(f)

static const policy_field policy_fields[] = { FP_POLICY_FIELDS(PF_ROW) };

_Static_assert(sizeof(Fairpay__V1__Policy__OptAlphaBpCase) == sizeof(int), "case size");
_Static_assert(sizeof(Fairpay__V1__Enforcement) == sizeof(int32_t), "enum size");

/* Read one optional field: false when unset, else its value in *v. */
static bool policy_get(const Fairpay__V1__Policy *p, const policy_field *pf, int64_t *v)
{
	const char *base = (const char *)p;
	int c = 0;
	memcpy(&c, base + pf->case_off, sizeof(c));
	if (c == 0)
		return false;
	if (pf->kind == PF_I64) {
		memcpy(v, base + pf->value_off, sizeof(*v));
	} else {
		int32_t v32 = 0;
		memcpy(&v32, base + pf->value_off, sizeof(v32));
		*v = v32;
	}
	return true;
}

static const Fairpay__V1__Policy empty_policy = FAIRPAY__V1__POLICY__INIT;

/* Print a policy as text lines. */
void ctl_show_policy(FILE *f, const char *ind, const Fairpay__V1__Policy *p)
{
	char buf[CTL_ENUM_BUF];
	if (p == NULL)
		p = &empty_policy;
	for (size_t i = 0; i < sizeof(policy_fields) / sizeof(policy_fields[0]); i++) {
		const policy_field *pf = &policy_fields[i];
		int64_t v = 0;
		if (pf->kind == PF_REASONS)
			kv_enum_list(f, ind, pf->name, &ctl_enum_payment_reason,
				     AS_INTS(p->excusing_reasons), p->n_excusing_reasons);
		else if (!policy_get(p, pf, &v))
			kv(f, ind, pf->name, "-");
		else if (pf->kind == PF_ENFORCEMENT)
			kv(f, ind, pf->name, ctl_enum_name(&ctl_enum_enforcement, (int)v, buf));
		else
			kv_i64(f, ind, pf->name, v);
	}
	kv_i64(f, ind, "version", p->version);
}

/* Print a policy as a JSON object. */
void ctl_show_policy_json(FILE *f, const Fairpay__V1__Policy *p)
{
	if (p == NULL)
		p = &empty_policy;
	jw j = jw_begin(f);
	for (size_t i = 0; i < sizeof(policy_fields) / sizeof(policy_fields[0]); i++) {
		const policy_field *pf = &policy_fields[i];
		int64_t v = 0;
		if (pf->kind == PF_REASONS)
			jw_enum_list(&j, pf->name, &ctl_enum_payment_reason,
				     AS_INTS(p->excusing_reasons), p->n_excusing_reasons);
		else if (!policy_get(p, pf, &v))
			continue;
		else if (pf->kind == PF_ENFORCEMENT)
			jw_enum(&j, pf->name, &ctl_enum_enforcement, (int)v);
		else
			jw_i64(&j, pf->name, v);
	}
	jw_i64(&j, "version", p->version);
	jw_end(&j);
}

/* ---------------------------------------------------------------- offers */

static const Fairpay__V1__Offer empty_offer = FAIRPAY__V1__OFFER__INIT;

/* Print an offer as text lines. */
void ctl_show_offer(FILE *f, const char *ind, const Fairpay__V1__Offer *o)
{
	if (o == NULL)
		o = &empty_offer;
	kv(f, ind, "offer_id", o->offer_id);
	kv(f, ind, "customer_id", o->customer_id);
	kv(f, ind, "sku", o->sku);
	kv_enum(f, ind, "status", &ctl_enum_offer_status, o->status);
	kv_enum(f, ind, "mode", &ctl_enum_offer_mode, o->mode);
	kv_money(f, ind, "suggested_price", o->suggested_price_minor, o->currency);
	kv_money(f, ind, "unit_price", o->unit_price_minor, o->currency);
	kv_money(f, ind, "minimum_price", o->minimum_price_minor, o->currency);
	kv_money(f, ind, "set_price", o->set_price_minor, o->currency);
	kv_enum(f, ind, "tier", &ctl_enum_tier, o->tier);
	kv_money(f, ind, "credit_limit", o->credit_limit_minor, o->currency);
	kv_money(f, ind, "credit_used", o->credit_used_minor, o->currency);
	kv_enum_list(f, ind, "reasons", &ctl_enum_offer_reason, AS_INTS(o->reasons), o->n_reasons);
	kv_time(f, ind, "created_at", o->created_at_unix_ms);
	kv_time(f, ind, "expires_at", o->expires_at_unix_ms);
	kv_time(f, ind, "pay_by", o->pay_by_unix_ms);
	kv_i64(f, ind, "period_index", o->period_index);
	kv(f, ind, "previous_offer_id", o->previous_offer_id);
}

/* Print an offer as a JSON object. */
void ctl_show_offer_json(FILE *f, const Fairpay__V1__Offer *o)
{
	if (o == NULL)
		o = &empty_offer;
	jw j = jw_begin(f);
	jw_str(&j, "offer_id", o->offer_id);
	jw_str(&j, "customer_id", o->customer_id);
	jw_str(&j, "sku", o->sku);
	jw_enum(&j, "status", &ctl_enum_offer_status, o->status);
	jw_enum(&j, "mode", &ctl_enum_offer_mode, o->mode);
	jw_str(&j, "currency", o->currency);
	jw_i64(&j, "suggested_price_minor", o->suggested_price_minor);
	jw_i64(&j, "unit_price_minor", o->unit_price_minor);
	jw_i64(&j, "minimum_price_minor", o->minimum_price_minor);
	jw_i64(&j, "set_price_minor", o->set_price_minor);
	jw_enum(&j, "tier", &ctl_enum_tier, o->tier);
	jw_i64(&j, "credit_limit_minor", o->credit_limit_minor);
	jw_i64(&j, "credit_used_minor", o->credit_used_minor);
	jw_enum_list(&j, "reasons", &ctl_enum_offer_reason, AS_INTS(o->reasons), o->n_reasons);
	jw_i64(&j, "created_at_unix_ms", o->created_at_unix_ms);
	jw_i64(&j, "expires_at_unix_ms", o->expires_at_unix_ms);
	jw_i64(&j, "pay_by_unix_ms", o->pay_by_unix_ms);
	jw_i64(&j, "period_index", o->period_index);
	jw_str(&j, "previous_offer_id", o->previous_offer_id);
	jw_end(&j);
}

/* Print offers as a table. */
int ctl_show_offer_table(FILE *f, Fairpay__V1__Offer *const *items, size_t n)
{
	static const char *const headers[] = {
		"OFFER", "CUSTOMER", "SKU",       "STATUS", "MODE",
		"SP",    "MINIMUM",  "SET_PRICE", "TIER",   "CREATED"
	};
	ctl_table *t = ctl_table_new(10, headers);
	int rc = -1;
	if (t == NULL)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const Fairpay__V1__Offer *o = items[i] != NULL ? items[i] : &empty_offer;
		char sp[MONEY_TEXT_LEN], min[MONEY_TEXT_LEN], set[MONEY_TEXT_LEN];
		char when[CTL_OUT_TIME_LEN];
		char status[CTL_ENUM_BUF], mode[CTL_ENUM_BUF], tier[CTL_ENUM_BUF];
		money_format(o->suggested_price_minor, o->currency, sp);
		/* Each price only where the offer's mode uses it, so that a row
		 * reads as the terms: "at least 5.00 EUR", or "exactly 12.00 EUR". */
		if (o->mode == FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY_MINIMUM)
			money_format(o->minimum_price_minor, o->currency, min);
		else
			snprintf(min, sizeof(min), "-");
		if (o->mode == FAIRPAY__V1__OFFER_MODE__OFFER_MODE_SET_PRICE)
			money_format(o->set_price_minor, o->currency, set);
		else
			snprintf(set, sizeof(set), "-");
		const char *cells[] = { o->offer_id,
					o->customer_id,
					o->sku,
					ctl_enum_name(&ctl_enum_offer_status, o->status, status),
					ctl_enum_name(&ctl_enum_offer_mode, o->mode, mode),
					sp,
					min,
					set,
					ctl_enum_name(&ctl_enum_tier, o->tier, tier),
					ctl_out_time(o->created_at_unix_ms, when) };
		if (ctl_table_add(t, cells) != 0)
			goto done;
	}
	ctl_table_print(t, f);
	rc = 0;
done:
	ctl_table_free(t);
	return rc;
}

/* ---------------------------------------------------------------- payments */

static const Fairpay__V1__Payment empty_payment = FAIRPAY__V1__PAYMENT__INIT;

/* Print a payment as text lines. */
void ctl_show_payment(FILE *f, const char *ind, const Fairpay__V1__Payment *p)
{
	if (p == NULL)
		p = &empty_payment;
	kv(f, ind, "payment_id", p->payment_id);
	kv(f, ind, "offer_id", p->offer_id);
	kv(f, ind, "customer_id", p->customer_id);
	kv_money(f, ind, "amount", p->amount_minor, p->currency);
	kv_money(f, ind, "suggested_price", p->suggested_price_minor, p->currency);
	kv_i64(f, ind, "usage_units", p->usage_units);
	kv_i64(f, ind, "fairness_bp", p->fairness_bp);
	kv_i64(f, ind, "raw_fairness_bp", p->raw_fairness_bp);
	kv_enum(f, ind, "verdict", &ctl_enum_verdict, p->verdict);
	kv_enum(f, ind, "review", &ctl_enum_review, p->review);
	kv_bool(f, ind, "late", p->late);
	kv_enum_list(f, ind, "reasons", &ctl_enum_payment_reason, AS_INTS(p->reasons),
		     p->n_reasons);
	kv(f, ind, "note", p->note);
	kv_time(f, ind, "created_at", p->created_at_unix_ms);
}

/* Print a payment as a JSON object. */
void ctl_show_payment_json(FILE *f, const Fairpay__V1__Payment *p)
{
	if (p == NULL)
		p = &empty_payment;
	jw j = jw_begin(f);
	jw_str(&j, "payment_id", p->payment_id);
	jw_str(&j, "offer_id", p->offer_id);
	jw_str(&j, "customer_id", p->customer_id);
	jw_i64(&j, "amount_minor", p->amount_minor);
	jw_str(&j, "currency", p->currency);
	jw_i64(&j, "suggested_price_minor", p->suggested_price_minor);
	jw_i64(&j, "usage_units", p->usage_units);
	jw_enum_list(&j, "reasons", &ctl_enum_payment_reason, AS_INTS(p->reasons), p->n_reasons);
	jw_str(&j, "note", p->note);
	jw_i64(&j, "fairness_bp", p->fairness_bp);
	jw_i64(&j, "raw_fairness_bp", p->raw_fairness_bp);
	jw_enum(&j, "verdict", &ctl_enum_verdict, p->verdict);
	jw_enum(&j, "review", &ctl_enum_review, p->review);
	jw_bool(&j, "late", p->late);
	jw_i64(&j, "created_at_unix_ms", p->created_at_unix_ms);
	jw_end(&j);
}

/* Print payments as a table. */
int ctl_show_payment_table(FILE *f, Fairpay__V1__Payment *const *items, size_t n)
{
	static const char *const headers[] = { "PAYMENT", "OFFER",    "CUSTOMER", "AMOUNT",
					       "SP",      "FAIRNESS", "VERDICT",  "REVIEW",
					       "LATE",    "CREATED" };
	ctl_table *t = ctl_table_new(10, headers);
	int rc = -1;
	if (t == NULL)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const Fairpay__V1__Payment *p = items[i] != NULL ? items[i] : &empty_payment;
		char amount[MONEY_TEXT_LEN], sp[MONEY_TEXT_LEN], fairness[16];
		char when[CTL_OUT_TIME_LEN];
		char verdict[CTL_ENUM_BUF], review[CTL_ENUM_BUF];
		money_format(p->amount_minor, p->currency, amount);
		money_format(p->suggested_price_minor, p->currency, sp);
		snprintf(fairness, sizeof(fairness), "%" PRId32, p->fairness_bp);
		const char *cells[] = { p->payment_id,
					p->offer_id,
					p->customer_id,
					amount,
					sp,
					fairness,
					ctl_enum_name(&ctl_enum_verdict, p->verdict, verdict),
					ctl_enum_name(&ctl_enum_review, p->review, review),
					p->late ? "yes" : "no",
					ctl_out_time(p->created_at_unix_ms, when) };
		if (ctl_table_add(t, cells) != 0)
			goto done;
	}
	ctl_table_print(t, f);
	rc = 0;
done:
	ctl_table_free(t);
	return rc;
}

/* ---------------------------------------------------------------- reputations */

static const Fairpay__V1__Reputation empty_reputation = FAIRPAY__V1__REPUTATION__INIT;

/* Print a reputation as text lines. */
void ctl_show_reputation(FILE *f, const char *ind, const Fairpay__V1__Reputation *r)
{
	if (r == NULL)
		r = &empty_reputation;
	kv(f, ind, "customer_id", r->customer_id);
	kv_i64(f, ind, "score_bp", r->score_bp);
	kv_enum(f, ind, "tier", &ctl_enum_tier, r->tier);
	kv_i64(f, ind, "payments", r->payments);
	kv_i64(f, ind, "defaults", r->defaults);
	kv_i64(f, ind, "open_defaults", r->open_defaults);
	kv_i64(f, ind, "offers_accepted", r->offers_accepted);
	/* A customer pays in one currency, fixed by their first offer ("" before). */
	kv(f, ind, "currency", r->currency[0] ? r->currency : "-");
	kv_money(f, ind, "credit_limit", r->credit_limit_minor, r->currency);
	kv_money(f, ind, "credit_used", r->credit_used_minor, r->currency);
	kv_money(f, ind, "total_paid", r->total_paid_minor, r->currency);
	kv_money(f, ind, "total_suggested", r->total_suggested_minor, r->currency);
	kv_time(f, ind, "updated_at", r->updated_at_unix_ms);
	fprintf(f, "%sexplanation:%s\n", ind, r->n_explanation == 0 ? " -" : "");
	for (size_t i = 0; i < r->n_explanation; i++) {
		fprintf(f, "%s  ", ind);
		ctl_out_text(f, r->explanation[i]);
		fputc('\n', f);
	}
}

/* Print a reputation as a JSON object. */
void ctl_show_reputation_json(FILE *f, const Fairpay__V1__Reputation *r)
{
	if (r == NULL)
		r = &empty_reputation;
	jw j = jw_begin(f);
	jw_str(&j, "customer_id", r->customer_id);
	jw_i64(&j, "score_bp", r->score_bp);
	jw_enum(&j, "tier", &ctl_enum_tier, r->tier);
	jw_i64(&j, "payments", r->payments);
	jw_i64(&j, "defaults", r->defaults);
	jw_i64(&j, "open_defaults", r->open_defaults);
	jw_i64(&j, "offers_accepted", r->offers_accepted);
	jw_i64(&j, "total_paid_minor", r->total_paid_minor);
	jw_i64(&j, "total_suggested_minor", r->total_suggested_minor);
	jw_str(&j, "currency", r->currency);
	jw_i64(&j, "credit_limit_minor", r->credit_limit_minor);
	jw_i64(&j, "credit_used_minor", r->credit_used_minor);
	jw_key(&j, "explanation");
	fputc('[', f);
	for (size_t i = 0; i < r->n_explanation; i++) {
		if (i > 0)
			fputc(',', f);
		ctl_out_json_string(f, r->explanation[i]);
	}
	fputc(']', f);
	jw_i64(&j, "updated_at_unix_ms", r->updated_at_unix_ms);
	jw_end(&j);
}

/* ---------------------------------------------------------------- events */

static const Fairpay__V1__Event empty_event = FAIRPAY__V1__EVENT__INIT;

static const char *or_dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* Print events as a table. */
int ctl_show_event_table(FILE *f, Fairpay__V1__Event *const *items, size_t n)
{
	static const char *const headers[] = { "ID", "AT", "KIND", "OFFER", "PAYMENT", "DETAIL" };
	ctl_table *t = ctl_table_new(6, headers);
	int rc = -1;
	if (t == NULL)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const Fairpay__V1__Event *e = items[i] != NULL ? items[i] : &empty_event;
		char id[24], when[CTL_OUT_TIME_LEN], kind[CTL_ENUM_BUF];
		snprintf(id, sizeof(id), "%" PRIu64, e->id);
		const char *cells[] = { id,
					ctl_out_time(e->at_unix_ms, when),
					ctl_enum_name(&ctl_enum_event_kind, e->kind, kind),
					or_dash(e->offer_id),
					or_dash(e->payment_id),
					or_dash(e->detail) };
		if (ctl_table_add(t, cells) != 0)
			goto done;
	}
	ctl_table_print(t, f);
	rc = 0;
done:
	ctl_table_free(t);
	return rc;
}

/* Print an event as a JSON object. */
void ctl_show_event_json(FILE *f, const Fairpay__V1__Event *e)
{
	if (e == NULL)
		e = &empty_event;
	jw j = jw_begin(f);
	jw_u64(&j, "id", e->id);
	jw_enum(&j, "kind", &ctl_enum_event_kind, e->kind);
	jw_str(&j, "customer_id", e->customer_id);
	jw_str(&j, "offer_id", e->offer_id);
	jw_str(&j, "payment_id", e->payment_id);
	jw_str(&j, "detail", e->detail);
	jw_i64(&j, "at_unix_ms", e->at_unix_ms);
	jw_end(&j);
}
