/* Vendor calls that read the vendor's history whole: GetInsights (the sums
 * of its cycles, per currency) and SimulatePolicy (every customer's history
 * replayed under a candidate policy). Both change nothing. The statements
 * and their rows are insights.h's; the replay is the rules library's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insights.h"
#include "limit.h"
#include "names.h"
#include "rpc.h"
#include "store.h"

/* Tiers reported in every TierCount list, in rank order. */
#define TIER_FIRST FP_TIER_FIXED_PRICE
#define TIER_LAST FP_TIER_TRUSTED
#define N_TIERS (TIER_LAST - TIER_FIRST + 1)

/* SimulatePolicy answers at most this many CustomerChange (PROTOCOL.md). */
#define SIM_MAX_CHANGES 100

/* A TierCount list of every tier, from counts indexed by tier number. */
static Fairpay__V1__TierCount **tier_counts(rpc_call *call, const int64_t *counts, size_t *n)
{
	Fairpay__V1__TierCount **list = rpc_alloc(call, N_TIERS * sizeof(*list));
	for (int t = TIER_FIRST; t <= TIER_LAST; t++) {
		Fairpay__V1__TierCount *tc = rpc_alloc(call, sizeof(*tc));
		fairpay__v1__tier_count__init(tc);
		tc->tier = (Fairpay__V1__Tier)t;
		tc->customers = counts[t];
		list[t - TIER_FIRST] = tc;
	}
	*n = N_TIERS;
	return list;
}

/* ------------------------------------------------------------ GetInsights */

typedef struct insights_ctx {
	fp_policy policy;
	insights_window w;
	insights_sums *sums; /* one per currency, in currency order */
	size_t n_sums;
	int64_t (*tiers)[TIER_LAST + 1]; /* customers by tier, per entry of sums */
} insights_ctx;

static Fairpay__V1__Insights *insights_message(rpc_call *call, const insights_sums *s,
					       const int64_t *tiers)
{
	Fairpay__V1__Insights *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__insights__init(m);
	m->currency = rpc_strdup(call, s->currency);
	const int64_t *v = s->f.v;
	m->offers_created = v[FACTS_OFFERS_CREATED];
	m->offers_accepted = v[FACTS_OFFERS_ACCEPTED];
	m->offers_declined = v[FACTS_OFFERS_DECLINED];
	m->offers_expired = v[FACTS_OFFERS_EXPIRED];
	m->defaults = v[FACTS_DEFAULTS];
	m->payments = v[FACTS_PAYMENTS];
	m->late_payments = v[FACTS_LATE_PAYMENTS];
	m->reviews_pending = v[FACTS_REVIEWS_PENDING];
	m->paid_minor = v[FACTS_PAID_MINOR];
	m->suggested_minor = v[FACTS_SUGGESTED_MINOR];
	m->list_minor = v[FACTS_LIST_MINOR];
	m->at_or_above_sp = v[FACTS_AT_OR_ABOVE_SP];
	m->n_fairness_histogram = FACTS_HISTOGRAM;
	m->fairness_histogram = rpc_alloc(call, FACTS_HISTOGRAM * sizeof(int64_t));
	memcpy(m->fairness_histogram, &v[FACTS_HISTOGRAM_0], FACTS_HISTOGRAM * sizeof(int64_t));
	/* Reasons given at least once, in PaymentReason order. */
	m->reasons = rpc_alloc(call, FP_PAYMENT_REASON_MAX * sizeof(*m->reasons));
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++) {
		if (v[FACTS_REASON_0 + r] == 0)
			continue;
		Fairpay__V1__ReasonCount *rc = rpc_alloc(call, sizeof(*rc));
		fairpay__v1__reason_count__init(rc);
		rc->reason = (Fairpay__V1__PaymentReason)r;
		rc->payments = v[FACTS_REASON_0 + r];
		m->reasons[m->n_reasons++] = rc;
	}
	m->tiers = tier_counts(call, tiers, &m->n_tiers);
	return m;
}

static void insights_standing_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	insights_ctx *ctx = call->ctx;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		insights_standing s;
		insights_read_standing(res, i, &s);
		for (size_t k = 0; k < ctx->n_sums; k++) {
			if (strcmp(ctx->sums[k].currency, s.currency) != 0)
				continue;
			fp_tier t = fp_tier_attested(&ctx->policy, s.score_bp, s.payments,
						     s.attested_payments, s.open_defaults);
			ctx->tiers[k][t] += s.customers;
		}
	}
	Fairpay__V1__GetInsightsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__get_insights_response__init(r);
	r->insights = rpc_alloc(call, (ctx->n_sums ? ctx->n_sums : 1) * sizeof(*r->insights));
	for (size_t k = 0; k < ctx->n_sums; k++)
		r->insights[r->n_insights++] = insights_message(call, &ctx->sums[k], ctx->tiers[k]);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_INSIGHTS;
	call->resp.get_insights = r;
	rpc_ok(call);
}

static void insights_sums_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	insights_ctx *ctx = call->ctx;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	int n = PQntuples(res);
	insights_sums *all = rpc_alloc(call, (size_t)(n ? n : 1) * sizeof(*all));
	size_t n_all = 0;
	if (insights_collect(res, all, &n_all) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "unexpected insights row");
		return;
	}
	ctx->sums = all;
	ctx->tiers = rpc_alloc(call, (n_all ? n_all : 1) * sizeof(*ctx->tiers));
	/* A currency whose offers' changes cancelled out has none. */
	for (size_t i = 0; i < n_all; i++)
		if (all[i].f.v[FACTS_OFFERS_CREATED] > 0)
			all[ctx->n_sums++] = all[i];
	const char *params[] = { call->vendor_id };
	rpc_query(call, insights_sql_standing, 1, params, insights_standing_done);
}

static void insights_with_policy(rpc_call *call, const fp_policy *policy)
{
	const Fairpay__V1__GetInsightsRequest *in = call->req->get_insights;
	insights_ctx *ctx = rpc_alloc(call, sizeof(*ctx));
	call->ctx = ctx;
	ctx->policy = *policy;
	insights_window_of(in->from_unix_ms, in->to_unix_ms, &ctx->w);
	const char *params[] = {
		call->vendor_id, in->sku,        ctx->w.hour_from, ctx->w.hour_to,
		ctx->w.edge[0],  ctx->w.edge[1], ctx->w.edge[2],   ctx->w.edge[3]
	};
	rpc_query(call, insights_sql_sums, 8, params, insights_sums_done);
}

static void insights_product_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (PQntuples(res) != 1) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "sku", "no product %s",
			 call->req->get_insights->sku);
		return;
	}
	rpc_policy_load(call, insights_with_policy);
}

void rpc_get_insights(rpc_call *call)
{
	const Fairpay__V1__GetInsightsRequest *in = call->req->get_insights;
	if (in->from_unix_ms < 0 || in->from_unix_ms > INSIGHTS_MAX_UNIX_MS) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "from_unix_ms",
			 "from_unix_ms must be 0 (open) or a time from 1970 to 9999");
		return;
	}
	if (in->to_unix_ms < 0 || in->to_unix_ms > INSIGHTS_MAX_UNIX_MS ||
	    (in->to_unix_ms != 0 && in->to_unix_ms < in->from_unix_ms)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "to_unix_ms",
			 "to_unix_ms must be 0 (open) or a time to 9999 not before "
			 "from_unix_ms");
		return;
	}
	if (in->sku[0] == '\0') {
		rpc_policy_load(call, insights_with_policy);
		return;
	}
	const char *params[] = { call->vendor_id, in->sku };
	rpc_query(call, insights_sql_product, 2, params, insights_product_done);
}

/* ------------------------------------------------------------ SimulatePolicy */

/*
 * A vendor may have millions of customers and payments, so the replay
 * streams: a page of INSIGHTS_CUSTOMER_PAGE customers (keyset on
 * customer_id), then their closed cycles in pages of INSIGHTS_HISTORY_PAGE
 * rows (keyset on customer, time, id), each page one query and one trip
 * through the event loop. Memory is one page of customers and their replay
 * states, whatever the vendor's size; a database connection is held for
 * one page's statement at a time (milliseconds), never for the whole call,
 * and the loop serves other connections between pages, each of which costs
 * at most a few milliseconds of replay (the rules replay tens of millions of
 * cycles per second). The pages are read in separate snapshots: a payment
 * recorded meanwhile may or may not be counted, which a what-if can bear.
 */

typedef struct sim_change {
	char customer_id[INSIGHTS_CUSTOMER_LEN];
	int32_t score_now;
	int32_t score_candidate;
	fp_tier tier_now;
	fp_tier tier_candidate;
} sim_change;

typedef struct sim_ctx {
	fp_policy current;
	fp_policy candidate;
	insights_customer page[INSIGHTS_CUSTOMER_PAGE];
	fp_replay_state replay[INSIGHTS_CUSTOMER_PAGE];
	size_t n_page;
	size_t at;                         /* the page's customer the history is at */
	char after[INSIGHTS_CUSTOMER_LEN]; /* the previous page's last customer */
	/* Where the next page of history starts. */
	char pos_customer[INSIGHTS_CUSTOMER_LEN];
	char pos_at[INSIGHTS_TS_LEN];
	char pos_id[INSIGHTS_ID_LEN];
	int64_t customers;
	int64_t changed;
	int64_t tiers_now[TIER_LAST + 1];
	int64_t tiers_candidate[TIER_LAST + 1];
	sim_change top[SIM_MAX_CHANGES]; /* in answer order */
	size_t n_top;
} sim_ctx;

static int32_t abs32(int32_t v)
{
	return v < 0 ? -v : v;
}

/* PROTOCOL.md's order: largest score change, then largest tier change,
 * then customer_id (bytewise). */
static bool sim_before(const sim_change *a, const sim_change *b)
{
	int32_t da = abs32(a->score_candidate - a->score_now);
	int32_t db = abs32(b->score_candidate - b->score_now);
	if (da != db)
		return da > db;
	int32_t ta = abs32((int32_t)a->tier_candidate - (int32_t)a->tier_now);
	int32_t tb = abs32((int32_t)b->tier_candidate - (int32_t)b->tier_now);
	if (ta != tb)
		return ta > tb;
	return strcmp(a->customer_id, b->customer_id) < 0;
}

/* Keep c if it is among the first SIM_MAX_CHANGES so far. */
static void sim_keep(sim_ctx *ctx, const sim_change *c)
{
	size_t i = ctx->n_top;
	if (i == SIM_MAX_CHANGES) {
		if (!sim_before(c, &ctx->top[i - 1]))
			return;
		i--;
	} else {
		ctx->n_top++;
	}
	while (i > 0 && sim_before(c, &ctx->top[i - 1])) {
		ctx->top[i] = ctx->top[i - 1];
		i--;
	}
	ctx->top[i] = *c;
}

static void sim_reply(rpc_call *call)
{
	sim_ctx *ctx = call->ctx;
	Fairpay__V1__SimulatePolicyResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__simulate_policy_response__init(r);
	r->customers = ctx->customers;
	r->changed = ctx->changed;
	r->tiers_now = tier_counts(call, ctx->tiers_now, &r->n_tiers_now);
	r->tiers_candidate = tier_counts(call, ctx->tiers_candidate, &r->n_tiers_candidate);
	r->changes = rpc_alloc(call, (ctx->n_top ? ctx->n_top : 1) * sizeof(*r->changes));
	for (size_t i = 0; i < ctx->n_top; i++) {
		const sim_change *c = &ctx->top[i];
		Fairpay__V1__CustomerChange *m = rpc_alloc(call, sizeof(*m));
		fairpay__v1__customer_change__init(m);
		m->customer_id = rpc_strdup(call, c->customer_id);
		m->score_now_bp = c->score_now;
		m->score_candidate_bp = c->score_candidate;
		m->tier_now = (Fairpay__V1__Tier)c->tier_now;
		m->tier_candidate = (Fairpay__V1__Tier)c->tier_candidate;
		r->changes[r->n_changes++] = m;
	}
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_SIMULATE_POLICY;
	call->resp.simulate_policy = r;
	rpc_ok(call);
}

static void sim_next_customers(rpc_call *call);
static void sim_next_history(rpc_call *call);

/* Compare the page's customers now and under the candidate. */
static void sim_finish_page(sim_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_page; i++) {
		const insights_customer *c = &ctx->page[i];
		sim_change ch;
		snprintf(ch.customer_id, sizeof(ch.customer_id), "%s", c->customer_id);
		/* Now is what GetReputation answers: the stored score under the
		 * current policy's thresholds. */
		ch.score_now = c->score_bp;
		ch.tier_now = fp_tier_attested(&ctx->current, c->score_bp, c->payments,
					       c->attested_payments, c->open_defaults);
		ch.score_candidate = ctx->replay[i].score_bp;
		ch.tier_candidate = fp_replay_tier(&ctx->candidate, &ctx->replay[i]);
		ctx->customers++;
		ctx->tiers_now[ch.tier_now]++;
		ctx->tiers_candidate[ch.tier_candidate]++;
		if (ch.tier_now != ch.tier_candidate)
			ctx->changed++;
		if (ch.tier_now != ch.tier_candidate || ch.score_now != ch.score_candidate)
			sim_keep(ctx, &ch);
	}
}

static void sim_history_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	sim_ctx *ctx = call->ctx;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	int n = PQntuples(res);
	insights_cycle cy;
	for (int i = 0; i < n; i++) {
		if (insights_read_cycle(res, i, &cy) != 0) {
			rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "unexpected history row");
			return;
		}
		/* Both are in customer order, so the customer is here or ahead. */
		size_t k = ctx->at;
		while (k < ctx->n_page && strcmp(ctx->page[k].customer_id, cy.customer_id) != 0)
			k++;
		if (k == ctx->n_page)
			continue; /* no reputation row: not a customer to report */
		ctx->at = k;
		fp_replay_step(&ctx->candidate, &ctx->replay[k], &cy.entry);
	}
	if (n == INSIGHTS_HISTORY_PAGE) {
		snprintf(ctx->pos_customer, sizeof(ctx->pos_customer), "%s", cy.customer_id);
		store_ts(cy.at_us, ctx->pos_at, sizeof(ctx->pos_at));
		snprintf(ctx->pos_id, sizeof(ctx->pos_id), "%s", cy.id);
		sim_next_history(call);
		return;
	}
	sim_finish_page(ctx);
	sim_next_customers(call);
}

static void sim_next_history(rpc_call *call)
{
	sim_ctx *ctx = call->ctx;
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", INSIGHTS_HISTORY_PAGE);
	const char *params[] = { call->vendor_id,
				 ctx->pos_customer,
				 ctx->pos_at,
				 ctx->pos_id,
				 ctx->page[ctx->n_page - 1].customer_id,
				 limit };
	rpc_query(call, insights_sql_history, 6, params, sim_history_done);
}

static void sim_customers_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	sim_ctx *ctx = call->ctx;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	int n = PQntuples(res);
	if (n == 0) {
		sim_reply(call);
		return;
	}
	ctx->n_page = 0;
	for (int i = 0; i < n && i < INSIGHTS_CUSTOMER_PAGE; i++) {
		if (insights_read_customer(res, i, &ctx->page[i]) != 0) {
			rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL,
				 "unexpected customer row");
			return;
		}
		/* A seeded customer's history replays from the seed (rule 14). */
		const insights_customer *c = &ctx->page[i];
		fp_seed seed = { c->seed_score_bp, c->attested_payments };
		fp_replay_start(&ctx->candidate, c->seed_score_bp >= 0 ? &seed : NULL,
				&ctx->replay[i]);
		ctx->n_page++;
	}
	ctx->at = 0;
	/* The history starts after every cycle of the previous page's last
	 * customer ("" before the first page: every customer_id is longer). */
	snprintf(ctx->pos_customer, sizeof(ctx->pos_customer), "%s", ctx->after);
	snprintf(ctx->pos_at, sizeof(ctx->pos_at), "infinity");
	ctx->pos_id[0] = '\0';
	snprintf(ctx->after, sizeof(ctx->after), "%s", ctx->page[ctx->n_page - 1].customer_id);
	sim_next_history(call);
}

static void sim_next_customers(rpc_call *call)
{
	sim_ctx *ctx = call->ctx;
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", INSIGHTS_CUSTOMER_PAGE);
	const char *params[] = { call->vendor_id, ctx->after, limit };
	rpc_query(call, insights_sql_customers, 3, params, sim_customers_done);
}

static void sim_with_policy(rpc_call *call, const fp_policy *policy)
{
	const Fairpay__V1__SimulatePolicyRequest *in = call->req->simulate_policy;
	sim_ctx *ctx = rpc_alloc(call, sizeof(*ctx));
	ctx->current = *policy;
	ctx->candidate = *policy;
	if (rpc_policy_merge(call, in->policy, in->set_excusing_reasons, &ctx->candidate) != 0)
		return;
	call->ctx = ctx;
	sim_next_customers(call);
}

void rpc_simulate_policy(rpc_call *call)
{
	if (call->req->simulate_policy->policy == NULL) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "policy",
			 "policy is required (the fields to change; none set changes none)");
		return;
	}
	rpc_policy_load(call, sim_with_policy);
}
