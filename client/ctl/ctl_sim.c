/* The offline FairPay simulator (see ctl_sim.h for the model).
 *
 * Every decision about terms, fairness, reviews, score and tier is a call
 * into fp_rules, the library the server uses, so the simulation follows
 * whatever the rules say; only the customers' behaviour and the vendor's
 * review habit are written here. Customers are independent, so each one is
 * played through all cycles in turn, three times: under the policy, under
 * pay-what-you-want and under set prices. */
#include "ctl_sim.h"

#include <stdlib.h>
#include <string.h>

#define SIM_MAX_PRICE 1000000000000LL /* 10^12 minor units: SP * 15000 fits int64 */

/* Draw streams (a customer's draws differ per purpose). */
enum {
	SIM_DRAW_AMOUNT = 1,
	SIM_DRAW_WALKAWAY = 2
};

static const char *const sim_type_names[CTL_SIM_TYPES] = {
	[CTL_SIM_FAIR] = "fair",       [CTL_SIM_GENEROUS] = "generous",
	[CTL_SIM_LOW] = "low",         [CTL_SIM_FREE_RIDER] = "free_rider",
	[CTL_SIM_EXCUSER] = "excuser", [CTL_SIM_DEFAULTER] = "defaulter",
	[CTL_SIM_GAMER] = "gamer",
};

/* What each paying type pays on a FairPay offer, in basis points of SP
 * (uniform over [lo, hi]); free riders, defaulters and gamers pay nothing. */
static const struct {
	int32_t lo, hi;
} sim_pays[CTL_SIM_TYPES] = {
	[CTL_SIM_FAIR] = { 8500, 11500 },
	[CTL_SIM_GENEROUS] = { 11000, 15000 },
	[CTL_SIM_LOW] = { 3000, 7000 },
	[CTL_SIM_EXCUSER] = { 0, 4000 },
};

/* The reason excusers give: one of the default excusing reasons. */
#define SIM_EXCUSE FP_PAYMENT_REASON_DID_NOT_USE

/* One customer id's standing and what it has cost. */
typedef struct sim_id {
	int32_t score_bp;
	int32_t payments;
	int32_t open_defaults;
	bool claimed;       /* a review of its excuse was accepted once */
	int64_t free_minor; /* SP of the offers it took for nothing */
} sim_id;

/* Return a type's name. */
const char *ctl_sim_type_name(ctl_sim_type t)
{
	return (unsigned)t < CTL_SIM_TYPES ? sim_type_names[t] : NULL;
}

/* Find a type by name. */
int ctl_sim_type_find(const char *name, size_t len)
{
	for (int t = 0; t < CTL_SIM_TYPES; t++)
		if (strlen(sim_type_names[t]) == len && strncmp(sim_type_names[t], name, len) == 0)
			return t;
	return -1;
}

/* Fill c with the defaults. */
void ctl_sim_defaults(ctl_sim_config *c)
{
	memset(c, 0, sizeof(*c));
	fp_policy_defaults(&c->policy);
	c->product.suggested_price_minor = 1000;
	c->product.list_price_minor = 1000;
	c->product.min_tier = FP_TIER_UNSPECIFIED;
	c->share[CTL_SIM_FAIR] = 100;
	c->customers = 100;
	c->cycles = 50;
	c->seed = 1;
}

/* splitmix64's output function: a bijection of 64-bit values that mixes
 * every input bit into every output bit. */
static uint64_t sim_mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* The draw of a customer for a cycle and a purpose: counter-based, so that
 * it does not depend on what was drawn before (or on the pricing). */
static uint64_t sim_draw(uint64_t seed, int64_t customer, int64_t cycle, unsigned purpose)
{
	uint64_t h = sim_mix(seed);
	h = sim_mix(h ^ (uint64_t)customer);
	return sim_mix(h ^ (((uint64_t)cycle << 8) | purpose));
}

/* A uniform integer in [lo, hi] (the modulo bias is below 2^-40 here). */
static int32_t sim_uniform(uint64_t draw, int32_t lo, int32_t hi)
{
	return lo + (int32_t)(draw % (uint64_t)(hi - lo + 1));
}

static void sim_id_fresh(const fp_policy *p, sim_id *id)
{
	memset(id, 0, sizeof(*id));
	id->score_bp = p->prior_score_bp;
}

/* Whether a customer who pays nothing can take an offer on these terms. */
static bool sim_free_ride_ok(const fp_terms *t)
{
	return fp_mode_is_fairpay(t->mode) &&
	       fp_check_mode(t->mode, 0, t->set_price_minor, t->minimum_price_minor) == 0;
}

/* Compute the free-rider bound. */
bool ctl_sim_bound(const fp_policy *p, const fp_product *product, int32_t max_cycles,
		   int32_t *cycles, int64_t *loss_minor)
{
	fp_standing st = { p->prior_score_bp, 0, 0, 0, 0 };
	int64_t loss = 0;
	int32_t n = 0;
	bool stopped = false;
	while (n < max_cycles) {
		fp_terms t;
		if (fp_offer_terms(p, product, &st, NULL, &t, NULL) != 0 || !sim_free_ride_ok(&t)) {
			stopped = true;
			break;
		}
		fp_assessment a;
		fp_assess_payment(p, t.mode, 0, t.suggested_price_minor, 0, false, &a);
		st.score_bp = fp_score_step(st.score_bp, a.fairness_bp, p->alpha_bp);
		st.payments++;
		loss += t.suggested_price_minor;
		n++;
	}
	*cycles = n;
	*loss_minor = loss;
	return stopped;
}

/* Record a payment of amount on terms t: the assessment, the vendor's
 * review of an excuse (counted in res when not NULL), the score. */
static void sim_pay(const fp_policy *p, const fp_terms *t, int64_t amount, uint32_t reasons,
		    sim_id *id, ctl_sim_money *m, ctl_sim_result *res)
{
	int64_t sp = t->suggested_price_minor;
	fp_assessment a;
	fp_assess_payment(p, t->mode, amount, sp, reasons, false, &a);
	int32_t fairness = a.fairness_bp;
	if (a.review == FP_REVIEW_PENDING) {
		bool accept = !id->claimed;
		fp_assessment r;
		if (fp_review_payment(p, a.raw_fairness_bp, a.review, false, accept, &r) == 0)
			fairness = r.fairness_bp;
		id->claimed = true;
		if (res != NULL) {
			if (accept)
				res->reviews_accepted++;
			else
				res->reviews_rejected++;
		}
	}
	id->score_bp = fp_score_step(id->score_bp, fairness, p->alpha_bp);
	id->payments++;
	m->revenue_minor += amount;
	m->purchases++;
	if (amount < sp)
		m->loss_minor += sp - amount;
	if (amount == 0)
		id->free_minor += sp;
}

/* What a customer of type ty does with an offer on terms t. */
static void sim_take(const ctl_sim_config *c, ctl_sim_type ty, bool walkaway, uint64_t draw,
		     const fp_terms *t, sim_id *id, ctl_sim_money *m, ctl_sim_result *res)
{
	const fp_policy *p = &c->policy;
	int64_t sp = t->suggested_price_minor;
	if (t->mode == FP_MODE_SET_PRICE) {
		if (!walkaway)
			sim_pay(p, t, t->set_price_minor, 0, id, m, res);
		return;
	}
	switch (ty) {
	case CTL_SIM_FREE_RIDER:
	case CTL_SIM_GAMER:
		if (sim_free_ride_ok(t))
			sim_pay(p, t, 0, 0, id, m, res);
		else if (!walkaway)
			sim_pay(p, t, t->minimum_price_minor, 0, id, m, res);
		return;
	case CTL_SIM_DEFAULTER:
		/* Accepted, never paid: the sweeper defaults it (rule 11). */
		id->score_bp = fp_score_step(id->score_bp, 0, p->alpha_bp);
		id->open_defaults++;
		id->free_minor += sp;
		m->purchases++;
		m->loss_minor += sp;
		if (res != NULL)
			res->defaults++;
		return;
	default:
		break;
	}
	int64_t amount = sp * sim_uniform(draw, sim_pays[ty].lo, sim_pays[ty].hi) / FP_BP_ONE;
	if (t->mode == FP_MODE_FAIRPAY_MINIMUM && amount < t->minimum_price_minor)
		amount = t->minimum_price_minor;
	uint32_t reasons = ty == CTL_SIM_EXCUSER ? FP_REASON_BIT(SIM_EXCUSE) : 0;
	sim_pay(p, t, amount, reasons, id, m, res);
}

static int sim_check(const ctl_sim_config *c)
{
	int32_t sum = 0;
	for (int t = 0; t < CTL_SIM_TYPES; t++) {
		if (c->share[t] < 0 || c->share[t] > 100)
			return -1;
		sum += c->share[t];
	}
	const fp_product *pr = &c->product;
	if (sum != 100 || c->customers < 1 || c->customers > CTL_SIM_MAX_CUSTOMERS ||
	    c->cycles < 1 || c->cycles > CTL_SIM_MAX_CYCLES ||
	    c->customers * c->cycles > CTL_SIM_MAX_WORK || c->walkaway_pct < 0 ||
	    c->walkaway_pct > 100 || pr->suggested_price_minor < 0 ||
	    pr->suggested_price_minor > SIM_MAX_PRICE || pr->list_price_minor < 0 ||
	    pr->list_price_minor > SIM_MAX_PRICE || pr->minimum_price_minor < 0 ||
	    pr->minimum_price_minor > SIM_MAX_PRICE)
		return -1;
	return fp_policy_validate(&c->policy, NULL);
}

/* How many customers each type gets: the largest remainders round, ties
 * to the earlier type. */
static void sim_counts(const ctl_sim_config *c, int64_t n[CTL_SIM_TYPES])
{
	int64_t given = 0;
	int64_t rem[CTL_SIM_TYPES];
	for (int t = 0; t < CTL_SIM_TYPES; t++) {
		n[t] = c->customers * c->share[t] / 100;
		rem[t] = c->customers * c->share[t] % 100;
		given += n[t];
	}
	while (given < c->customers) {
		int best = 0;
		for (int t = 1; t < CTL_SIM_TYPES; t++)
			if (rem[t] > rem[best])
				best = t;
		n[best]++;
		rem[best] = -1;
		given++;
	}
}

/* Play one customer through every cycle under the policy. */
static int sim_fairpay(const ctl_sim_config *c, ctl_sim_type ty, int64_t cust, bool walkaway,
		       ctl_sim_row *row, ctl_sim_result *res)
{
	const fp_policy *p = &c->policy;
	sim_id id;
	sim_id_fresh(p, &id);
	row->identities++;
	for (int32_t cyc = 0; cyc < c->cycles; cyc++) {
		fp_standing st = { id.score_bp, id.payments, id.open_defaults, 0, 0 };
		fp_terms t;
		if (fp_offer_terms(p, &c->product, &st, NULL, &t, NULL) != 0)
			return -1;
		if (ty == CTL_SIM_GAMER && !sim_free_ride_ok(&t)) {
			/* Restricted: come back as somebody new, when a new
			 * customer would get FairPay terms. */
			fp_standing fresh = { p->prior_score_bp, 0, 0, 0, 0 };
			fp_terms ft;
			if (fp_offer_terms(p, &c->product, &fresh, NULL, &ft, NULL) != 0)
				return -1;
			if (sim_free_ride_ok(&ft)) {
				if (id.free_minor > row->max_identity_loss_minor)
					row->max_identity_loss_minor = id.free_minor;
				sim_id_fresh(p, &id);
				row->identities++;
				t = ft;
			}
		}
		res->tiers[(size_t)cyc * CTL_SIM_TIERS + (size_t)t.tier]++;
		uint64_t draw = sim_draw(c->seed, cust, cyc, SIM_DRAW_AMOUNT);
		sim_take(c, ty, walkaway, draw, &t, &id, &row->by[CTL_SIM_FAIRPAY], res);
	}
	if (id.free_minor > row->max_identity_loss_minor)
		row->max_identity_loss_minor = id.free_minor;
	return 0;
}

/* Play one customer through every cycle under pay-what-you-want and under
 * set prices. */
static void sim_compare(const ctl_sim_config *c, ctl_sim_type ty, int64_t cust, bool walkaway,
			ctl_sim_row *row)
{
	const fp_policy *p = &c->policy;
	fp_terms pwyw = { 0 }, set = { 0 };
	pwyw.mode = FP_MODE_FAIRPAY;
	pwyw.suggested_price_minor = c->product.suggested_price_minor;
	set.mode = FP_MODE_SET_PRICE;
	set.suggested_price_minor = c->product.suggested_price_minor;
	set.set_price_minor = c->product.list_price_minor;
	sim_id a, b;
	sim_id_fresh(p, &a);
	sim_id_fresh(p, &b);
	for (int32_t cyc = 0; cyc < c->cycles; cyc++) {
		uint64_t draw = sim_draw(c->seed, cust, cyc, SIM_DRAW_AMOUNT);
		sim_take(c, ty, walkaway, draw, &pwyw, &a, &row->by[CTL_SIM_PWYW], NULL);
		sim_take(c, ty, walkaway, draw, &set, &b, &row->by[CTL_SIM_SET], NULL);
	}
}

static void sim_add(ctl_sim_row *sum, const ctl_sim_row *r)
{
	sum->customers += r->customers;
	sum->identities += r->identities;
	sum->walkaway += r->walkaway;
	for (int k = 0; k < CTL_SIM_PRICINGS; k++) {
		sum->by[k].revenue_minor += r->by[k].revenue_minor;
		sum->by[k].purchases += r->by[k].purchases;
		sum->by[k].loss_minor += r->by[k].loss_minor;
	}
	if (r->max_identity_loss_minor > sum->max_identity_loss_minor)
		sum->max_identity_loss_minor = r->max_identity_loss_minor;
}

/* Run the simulation. */
int ctl_sim_run(const ctl_sim_config *c, ctl_sim_result *out)
{
	int rc = -1;
	memset(out, 0, sizeof(*out));
	if (sim_check(c) != 0)
		goto done;
	out->cycles = c->cycles;
	out->tiers = calloc((size_t)c->cycles * CTL_SIM_TIERS, sizeof(*out->tiers));
	if (out->tiers == NULL)
		goto done;
	out->bounded = ctl_sim_bound(&c->policy, &c->product, c->cycles, &out->bound_cycles,
				     &out->bound_minor);
	int64_t n[CTL_SIM_TYPES];
	sim_counts(c, n);
	int64_t cust = 0;
	for (int ty = 0; ty < CTL_SIM_TYPES; ty++) {
		ctl_sim_row *row = &out->type[ty];
		for (int64_t i = 0; i < n[ty]; i++, cust++) {
			bool walkaway = sim_uniform(sim_draw(c->seed, cust, 0, SIM_DRAW_WALKAWAY),
						    0, 99) < c->walkaway_pct;
			row->customers++;
			row->walkaway += walkaway;
			if (sim_fairpay(c, (ctl_sim_type)ty, cust, walkaway, row, out) != 0)
				goto done;
			sim_compare(c, (ctl_sim_type)ty, cust, walkaway, row);
		}
		sim_add(&out->total, row);
	}
	rc = 0;
done:
	if (rc != 0)
		ctl_sim_result_free(out);
	return rc;
}

/* Free what a result holds. */
void ctl_sim_result_free(ctl_sim_result *r)
{
	if (r == NULL)
		return;
	free(r->tiers);
	r->tiers = NULL;
}
