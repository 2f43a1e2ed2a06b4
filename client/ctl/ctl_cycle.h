/* ctl_cycle_: the fairpayctl commands of the FairPay cycle, which talk to
 * fairpayd with a VENDOR key: products, policy, offers, payments, reviews,
 * reputations and events. Each makes one call, prints the reply (ctl_show)
 * and returns an exit code of the command-line contract. */
#ifndef FP_CTL_CYCLE_H
#define FP_CTL_CYCLE_H

#include "ctl_args.h"

/* Create or replace a product; print it. */
int ctl_cycle_product_put(const ctl_args *a);

/* Print a product. */
int ctl_cycle_product_get(const ctl_args *a);

/* Print one page of products. */
int ctl_cycle_product_list(const ctl_args *a);

/* Print the vendor's policy. */
int ctl_cycle_policy_get(const ctl_args *a);

/* Change the given policy fields; print the policy. */
int ctl_cycle_policy_set(const ctl_args *a);

/* Make an offer; print it. */
int ctl_cycle_offer_create(const ctl_args *a);

/* Accept an offer; print it. */
int ctl_cycle_offer_accept(const ctl_args *a);

/* Decline an offer; print it. */
int ctl_cycle_offer_decline(const ctl_args *a);

/* Print an offer. */
int ctl_cycle_offer_get(const ctl_args *a);

/* Print one page of the vendor's offers, newest first. */
int ctl_cycle_offers_list(const ctl_args *a);

/* Print one page of the vendor's payments, newest first. */
int ctl_cycle_payments_list(const ctl_args *a);

/* Record a payment; print it, the reputation and the next offer. */
int ctl_cycle_pay(const ctl_args *a);

/* Review a payment; print it and the reputation. */
int ctl_cycle_review(const ctl_args *a);

/* Print a customer's reputation. */
int ctl_cycle_reputation(const ctl_args *a);

/* Print one page of a customer's events. */
int ctl_cycle_events(const ctl_args *a);

#endif
