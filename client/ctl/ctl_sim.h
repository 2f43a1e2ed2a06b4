/* ctl_sim_: an offline FairPay simulator. A population of customers of
 * given types plays a number of cycles against a policy and a product, with
 * the rules library (fp_rules) deciding every offer's terms, every
 * payment's fairness and every reputation, and the same behaviour is priced
 * twice more for comparison: plain pay-what-you-want (every offer FAIRPAY,
 * no reputation) and set prices (the list price; some customers walk away).
 *
 * Pure: no I/O, deterministic for a seed (a counter-based splitmix64, so
 * that a customer's draw for a cycle is the same under the three pricings).
 *
 * The model, one cycle per period for every customer:
 * - an offer is made with fp_offer_terms() from the customer's standing
 *   (nothing is ever left accepted and unpaid across cycles, so the
 *   credit_used at each offer is 0 and the credit limits act through the
 *   SP alone); it is accepted and either paid within the payment window or
 *   defaulted by the sweeper at the window's end (rule 11: fairness 0, one
 *   open default); nobody pays late;
 * - a SET_PRICE offer is paid at the list price, by every type, unless the
 *   customer is one of the walk-away share, who never pay a price they did
 *   not choose (a set price, or a minimum when they would pay less);
 * - excusers pay little with the reason DID_NOT_USE; the vendor reviews each
 *   excused payment before the next offer and accepts an identity's first
 *   claim and rejects every later one (a reason given every cycle is not a
 *   reason).
 * Customer behaviour per FairPay offer (amounts as a share of SP, uniform):
 *   fair 85-115%, generous 110-150%, low 30-70%, excuser 0-40% with a
 *   reason, free_rider 0, defaulter accepts and never pays, gamer 0 and,
 *   when the terms no longer allow 0, registers again under a new id (a new
 *   customer on probation). Where an offer has a minimum, paying types pay
 *   at least the minimum, and free riders and gamers (who cannot start
 *   over) pay exactly the minimum unless they walk away. Defaulters cannot
 *   default a set price (it is paid up front). */
#ifndef FP_CTL_SIM_H
#define FP_CTL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp_rules.h"

/* Customer types, in the order of every report. */
typedef enum ctl_sim_type {
	CTL_SIM_FAIR = 0,
	CTL_SIM_GENEROUS,
	CTL_SIM_LOW,
	CTL_SIM_FREE_RIDER,
	CTL_SIM_EXCUSER,
	CTL_SIM_DEFAULTER,
	CTL_SIM_GAMER,
	CTL_SIM_TYPES
} ctl_sim_type;

/* The three pricings compared. */
typedef enum ctl_sim_pricing {
	CTL_SIM_FAIRPAY = 0, /* the policy's rules */
	CTL_SIM_PWYW,        /* every offer FAIRPAY, no reputation */
	CTL_SIM_SET,         /* the list price, take it or leave it */
	CTL_SIM_PRICINGS
} ctl_sim_pricing;

/* Limits of a run (the command line checks them). */
#define CTL_SIM_MAX_CUSTOMERS 1000000
#define CTL_SIM_MAX_CYCLES 10000
#define CTL_SIM_MAX_WORK 200000000LL /* customers * cycles */

/* Tiers counted per cycle: fp_tier values 0-5. */
#define CTL_SIM_TIERS (FP_TIER_TRUSTED + 1)

typedef struct ctl_sim_config {
	fp_policy policy;
	fp_product product;
	int32_t share[CTL_SIM_TYPES]; /* percent of the customers; sums to 100 */
	int64_t customers;
	int32_t cycles;
	uint64_t seed;
	int32_t walkaway_pct; /* customers who would not buy at the set price */
} ctl_sim_config;

/* What one type (or everyone) did under one pricing. */
typedef struct ctl_sim_money {
	int64_t revenue_minor;
	int64_t purchases;  /* cycles in which the product was taken */
	int64_t loss_minor; /* SP - paid, summed over the cycles it was taken below SP */
} ctl_sim_money;

typedef struct ctl_sim_row {
	int64_t customers;  /* people */
	int64_t identities; /* customer ids under FairPay: more than people for gamers */
	int64_t walkaway;   /* customers who would not buy at the set price */
	ctl_sim_money by[CTL_SIM_PRICINGS];
	/* FairPay: the largest SP sum of the offers one id took for nothing
	 * (paid 0, or defaulted): what the free-rider bound limits. */
	int64_t max_identity_loss_minor;
} ctl_sim_row;

typedef struct ctl_sim_result {
	ctl_sim_row type[CTL_SIM_TYPES];
	ctl_sim_row total;
	int64_t reviews_accepted;
	int64_t reviews_rejected;
	int64_t defaults;
	/* The free-rider bound: a customer who pays 0 gets bound_cycles FairPay
	 * offers (computed from the policy and product by the rules), so loses
	 * the vendor at most bound_minor per identity; unbounded when the rules
	 * never stop a zero payer within the run's cycles. */
	bool bounded;
	int32_t bound_cycles;
	int64_t bound_minor;
	int32_t cycles;
	int64_t *tiers; /* cycles * CTL_SIM_TIERS: offers by tier under FairPay */
} ctl_sim_result;

/* Return a type's name ("free_rider"), or NULL out of range. */
const char *ctl_sim_type_name(ctl_sim_type t);

/* Find a type by name; -1 when there is none. */
int ctl_sim_type_find(const char *name, size_t len) __attribute__((warn_unused_result));

/* Fill c with the defaults: the policy defaults, SP and list price 1000,
 * 100 customers, 50 cycles, seed 1, no walk-away, all customers fair. */
void ctl_sim_defaults(ctl_sim_config *c);

/* Compute the free-rider bound of a policy and product over at most
 * max_cycles cycles (see ctl_sim_result); false when it is not reached. */
bool ctl_sim_bound(const fp_policy *p, const fp_product *product, int32_t max_cycles,
		   int32_t *cycles, int64_t *loss_minor);

/* Run the simulation; -1 on a configuration outside the limits, or out of
 * memory. Free the result with ctl_sim_result_free(). */
int ctl_sim_run(const ctl_sim_config *c, ctl_sim_result *out) __attribute__((warn_unused_result));

/* Free what a result holds. Accepts NULL. */
void ctl_sim_result_free(ctl_sim_result *r);

#endif
