/* fairpayctl insights and policy simulate (see ctl_insights.h). JSON output
 * is written from the protobuf-c descriptors of the reply, so that it has
 * the proto field names and follows the schema as it grows. */
#include "ctl_insights.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl_build.h"
#include "ctl_chart.h"
#include "ctl_enum.h"
#include "ctl_out.h"
#include "ctl_remote.h"
#include "money.h"

/* Width of the longest bar of the terminal histogram. */
#define BAR_WIDTH 40
/* Fairness per histogram entry (PROTOCOL.md: [1000 i, 1000 i + 1000)). */
#define BUCKET_BP 1000

/* Money as fairpayctl prints it: major units and the currency (money.h). */
static void put_money(FILE *f, int64_t minor, const char *currency)
{
	char buf[MONEY_TEXT_LEN];
	fputs(money_format(minor, currency, buf), f);
}

/* part / whole as a percentage with one decimal ("-" when whole is 0),
 * in integer arithmetic. */
static void put_percent(FILE *f, int64_t part, int64_t whole)
{
	if (whole <= 0) {
		fputs("-", f);
		return;
	}
	__int128 tenths = (__int128)part * 1000 / whole;
	fprintf(f, "%lld.%lld%%", (long long)(tenths / 10), (long long)(tenths % 10));
}

/* ---------------------------------------------------------------- JSON */

/* Writes a nested message (a bounded depth: see json_top). */
typedef void (*json_nested)(FILE *f, const ProtobufCMessage *m);

static void json_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p,
		       json_nested nested)
{
	char buf[CTL_ENUM_BUF];
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(f, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(f, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(f, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(f, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		ctl_enum e = { fd->descriptor };
		ctl_out_json_string(f, ctl_enum_name(&e, *(const int *)p, buf));
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		ctl_out_json_string(f, *(char *const *)p ? *(char *const *)p : "");
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		if (nested != NULL)
			nested(f, *(const ProtobufCMessage *const *)p);
		else
			fputs("{}", f); /* deeper than these replies go */
		break;
	default: /* bytes, floats: none in these replies */
		fputs("null", f);
		break;
	}
}

/* Size of one element of a repeated field as protobuf-c stores it. */
static size_t elem_size(const ProtobufCFieldDescriptor *fd)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

/* One JSON object with the message's fields by their proto names; unset
 * oneof members are left out; message fields are written by nested. */
static void json_fields(FILE *f, const ProtobufCMessage *m, json_nested nested)
{
	if (m == NULL) {
		fputs("{}", f);
		return;
	}
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	bool more = false;
	fputc('{', f);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(const void *)(base + fd->quantifier_offset) != fd->id)
			continue;
		fprintf(f, "%s\"%s\":", more ? "," : "", fd->name);
		more = true;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(const void *)(base + fd->quantifier_offset);
			const char *arr = *(char *const *)(const void *)(base + fd->offset);
			fputc('[', f);
			for (size_t k = 0; k < n; k++) {
				if (k > 0)
					fputc(',', f);
				json_value(f, fd, arr + k * elem_size(fd), nested);
			}
			fputc(']', f);
		} else {
			json_value(f, fd, base + fd->offset, nested);
		}
	}
	fputc('}', f);
}

/* The replies here are three levels deep (GetInsightsResponse, Insights,
 * TierCount), so three writers, each writing the next level's messages. */
static void json_leaf(FILE *f, const ProtobufCMessage *m)
{
	json_fields(f, m, NULL);
}

static void json_mid(FILE *f, const ProtobufCMessage *m)
{
	json_fields(f, m, json_leaf);
}

static void json_top(FILE *f, const ProtobufCMessage *m)
{
	json_fields(f, m, json_mid);
}

/* ---------------------------------------------------------------- insights */

static const char *tier_name(int t, char buf[CTL_ENUM_BUF])
{
	return ctl_enum_name(&ctl_enum_tier, t, buf);
}

static void print_histogram(FILE *f, const Fairpay__V1__Insights *m)
{
	int64_t max = 0;
	for (size_t i = 0; i < m->n_fairness_histogram; i++)
		if (m->fairness_histogram[i] > max)
			max = m->fairness_histogram[i];
	fputs("fairness (payments per 1000 bp of fairness):\n", f);
	for (size_t i = 0; i < m->n_fairness_histogram; i++) {
		char label[32];
		int lo = (int)i * BUCKET_BP;
		if (i + 1 == m->n_fairness_histogram)
			snprintf(label, sizeof(label), "%d", lo);
		else
			snprintf(label, sizeof(label), "%d-%d", lo, lo + BUCKET_BP - 1);
		int64_t v = m->fairness_histogram[i];
		int64_t w = max > 0 ? v * BAR_WIDTH / max : 0;
		if (v > 0 && w == 0)
			w = 1; /* a payment is never invisible */
		fprintf(f, "  %11s |", label);
		for (int64_t k = 0; k < w; k++)
			fputc('#', f);
		fprintf(f, "%*s %" PRId64 "\n", (int)(BAR_WIDTH - w), "", v);
	}
}

static void print_insights(FILE *f, const Fairpay__V1__Insights *m)
{
	char buf[CTL_ENUM_BUF];
	fputs("currency: ", f);
	ctl_out_text(f, m->currency);
	fprintf(f,
		"\noffers: %" PRId64 " created, %" PRId64 " accepted, %" PRId64
		" declined, %" PRId64 " expired, %" PRId64 " defaulted\n",
		m->offers_created, m->offers_accepted, m->offers_declined, m->offers_expired,
		m->defaults);
	fprintf(f,
		"payments: %" PRId64 " (%" PRId64 " late, %" PRId64 " waiting for review), %" PRId64
		" at or above the suggested price (",
		m->payments, m->late_payments, m->reviews_pending, m->at_or_above_sp);
	put_percent(f, m->at_or_above_sp, m->payments);
	fputs(")\npaid: ", f);
	put_money(f, m->paid_minor, m->currency);
	fputs("\nsuggested: ", f);
	put_money(f, m->suggested_minor, m->currency);
	fputs(" (paid ", f);
	put_percent(f, m->paid_minor, m->suggested_minor);
	fputs(" of it)\nlist: ", f);
	put_money(f, m->list_minor, m->currency);
	fputs(" (paid ", f);
	put_percent(f, m->paid_minor, m->list_minor);
	fputs(" of it: set prices would have asked this)\n", f);
	print_histogram(f, m);
	fputs("reasons:", f);
	if (m->n_reasons == 0)
		fputs(" -", f);
	fputc('\n', f);
	for (size_t i = 0; i < m->n_reasons; i++)
		fprintf(f, "  %-18s %" PRId64 "\n",
			ctl_enum_name(&ctl_enum_payment_reason, m->reasons[i]->reason, buf),
			m->reasons[i]->payments);
	fputs("customers by tier:\n", f);
	for (size_t i = 0; i < m->n_tiers; i++)
		fprintf(f, "  %-18s %" PRId64 "\n", tier_name(m->tiers[i]->tier, buf),
			m->tiers[i]->customers);
}

/* The histogram (one series per currency) and each currency's revenue
 * against the suggested and the list prices. */
static int write_svg(const char *path, const Fairpay__V1__GetInsightsResponse *r)
{
	int rc = -1;
	ctl_chart *c = ctl_chart_new("FairPay insights", NULL);
	const char *series[CTL_CHART_MAX_SERIES];
	size_t ns = r->n_insights < CTL_CHART_MAX_SERIES ? r->n_insights : CTL_CHART_MAX_SERIES;
	if (c == NULL)
		goto done;
	if (ns > 0) {
		for (size_t k = 0; k < ns; k++)
			series[k] = r->insights[k]->currency;
		ctl_chart_panel_spec hist = {
			"Payments by fairness (bp)", "payments", 0, false, ns, series
		};
		if (ctl_chart_panel(c, &hist) != 0)
			goto done;
		for (size_t i = 0; i < r->insights[0]->n_fairness_histogram; i++) {
			double v[CTL_CHART_MAX_SERIES];
			char label[16];
			snprintf(label, sizeof(label), "%zu", i * BUCKET_BP);
			for (size_t k = 0; k < ns; k++)
				v[k] = i < r->insights[k]->n_fairness_histogram
					       ? (double)r->insights[k]->fairness_histogram[i]
					       : 0.0;
			if (ctl_chart_add(c, label, v) != 0)
				goto done;
		}
	}
	for (size_t k = 0; k < ns; k++) {
		const Fairpay__V1__Insights *m = r->insights[k];
		static const char *const one[] = { "revenue" };
		char title[64];
		snprintf(title, sizeof(title), "Revenue (%s)", m->currency);
		/* The bars in major units, as the text report prints them. */
		int exponent = money_exponent(m->currency);
		ctl_chart_panel_spec rev = { title, m->currency, exponent, false, 1, one };
		double unit = 1.0;
		for (int e = exponent; e > 0; e--)
			unit *= 10.0;
		double paid = (double)m->paid_minor / unit, sp = (double)m->suggested_minor / unit,
		       list = (double)m->list_minor / unit;
		if (ctl_chart_panel(c, &rev) != 0 || ctl_chart_add(c, "paid", &paid) != 0 ||
		    ctl_chart_add(c, "suggested", &sp) != 0 || ctl_chart_add(c, "list", &list) != 0)
			goto done;
	}
	rc = ctl_chart_save(c, path);
done:
	ctl_chart_free(c);
	return rc;
}

int ctl_insights_report(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetInsightsRequest gi = FAIRPAY__V1__GET_INSIGHTS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	gi.sku = (char *)(a->sku != NULL ? a->sku : "");
	gi.from_unix_ms = a->from_ms;
	gi.to_unix_ms = a->to_ms;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_INSIGHTS;
	req.get_insights = &gi;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_GET_INSIGHTS, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__GetInsightsResponse *r = resp->get_insights;
	if (a->json) {
		json_top(stdout, &r->base);
		fputc('\n', stdout);
	} else if (r->n_insights == 0) {
		puts("no offers in this period");
	}
	for (size_t i = 0; !a->json && i < r->n_insights; i++) {
		if (i > 0)
			fputc('\n', stdout);
		print_insights(stdout, r->insights[i]);
	}
	if (a->svg != NULL && write_svg(a->svg, r) != 0) {
		fprintf(stderr, "fairpayctl: cannot write %s: %s\n", a->svg, strerror(errno));
		rc = CTL_EXIT_REFUSED;
	}
done:
	fp_response_free(resp);
	return rc;
}

/* ---------------------------------------------------------------- simulate */

static int simulate_print(const Fairpay__V1__SimulatePolicyResponse *r)
{
	char b1[CTL_ENUM_BUF], b2[CTL_ENUM_BUF];
	char n1[32], n2[32], n3[32];
	int rc = -1;
	printf("customers: %" PRId64 "\nchanged tier: %" PRId64 "\n\n", r->customers, r->changed);
	static const char *const th[] = { "tier", "now", "candidate" };
	static const char *const ch[] = { "customer", "score_now", "score_candidate", "tier_now",
					  "tier_candidate" };
	ctl_table *tiers = ctl_table_new(3, th);
	ctl_table *changes = ctl_table_new(5, ch);
	if (tiers == NULL || changes == NULL)
		goto done;
	for (size_t i = 0; i < r->n_tiers_now && i < r->n_tiers_candidate; i++) {
		snprintf(n1, sizeof(n1), "%" PRId64, r->tiers_now[i]->customers);
		snprintf(n2, sizeof(n2), "%" PRId64, r->tiers_candidate[i]->customers);
		const char *row[] = { tier_name(r->tiers_now[i]->tier, b1), n1, n2 };
		if (ctl_table_add(tiers, row) != 0)
			goto done;
	}
	ctl_table_print(tiers, stdout);
	if (r->n_changes == 0) {
		puts("\nno customer's score or tier changes");
		rc = 0;
		goto done;
	}
	printf("\nthe customers who change most (largest score change first):\n");
	for (size_t i = 0; i < r->n_changes; i++) {
		const Fairpay__V1__CustomerChange *c = r->changes[i];
		snprintf(n1, sizeof(n1), "%" PRId32, c->score_now_bp);
		snprintf(n2, sizeof(n2), "%" PRId32, c->score_candidate_bp);
		snprintf(n3, sizeof(n3), "%s", tier_name(c->tier_now, b1));
		const char *row[] = { c->customer_id, n1, n2, n3,
				      tier_name(c->tier_candidate, b2) };
		if (ctl_table_add(changes, row) != 0)
			goto done;
	}
	ctl_table_print(changes, stdout);
	rc = 0;
done:
	ctl_table_free(tiers);
	ctl_table_free(changes);
	return rc;
}

int ctl_insights_simulate(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__SimulatePolicyRequest sp = FAIRPAY__V1__SIMULATE_POLICY_REQUEST__INIT;
	/* The same KEY=VALUE words as `policy set`, built the same way. */
	Fairpay__V1__PutPolicyRequest pp = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	Fairpay__V1__Policy policy = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS];
	Fairpay__V1__Response *resp = NULL;
	ctl_build_policy(a, &pp, &policy, reasons);
	sp.policy = pp.policy;
	sp.set_excusing_reasons = pp.set_excusing_reasons;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SIMULATE_POLICY;
	req.simulate_policy = &sp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_SIMULATE_POLICY, &resp);
	if (rc == CTL_EXIT_OK) {
		if (a->json) {
			json_top(stdout, &resp->simulate_policy->base);
			fputc('\n', stdout);
		} else if (simulate_print(resp->simulate_policy) != 0) {
			fputs("fairpayctl: out of memory\n", stderr);
			rc = CTL_EXIT_REFUSED;
		}
	}
	fp_response_free(resp);
	return rc;
}
