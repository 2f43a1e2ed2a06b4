/* ctl_show_: how fairpayctl prints the messages of the FairPay cycle.
 *
 * Text: one "name: value" line per field, the names of the proto fields with
 * these changes, so that a person can read them and still find the field:
 * times lose "_unix_ms" and are UTC ISO 8601 ("created_at: 2025-01-31T12:00:00Z",
 * "-" for none); on objects with a currency (product, offer, payment,
 * reputation) money fields lose "_minor" and are written in the currency's
 * major unit with its code ("suggested_price: 10.00 EUR", "1000 JPY",
 * "1.000 BHD": money_format() of server/common/money.h, in text and tables
 * alike); enums are the names without prefix;
 * lists are comma-joined ("-" when empty); booleans are yes/no. Strings are
 * cleaned for the terminal (ctl_out_text).
 *
 * JSON: one object per message with the proto field names, int64 as numbers
 * (money in integer minor units, as on the wire),
 * enums as their names without prefix, repeated fields as arrays, absent
 * optional fields left out.
 *
 * Every function accepts a NULL message (an unset message field of a reply)
 * and prints it as the empty message. Output goes to f only; nothing fails
 * but the table printers, which may run out of memory. */
#ifndef FP_CTL_SHOW_H
#define FP_CTL_SHOW_H

#include <stdio.h>

#include "fairpay.pb-c.h"

/* Print a product as text lines, each prefixed by indent. */
void ctl_show_product(FILE *f, const char *indent, const Fairpay__V1__Product *p);

/* Print a product as a JSON object (no newline). */
void ctl_show_product_json(FILE *f, const Fairpay__V1__Product *p);

/* Print products as a table (SKU, NAME, SP, UNIT_PRICE, LIST_PRICE, MINIMUM,
 * MIN_TIER, PERIOD_DAYS, VERSION). Returns 0, or -1 when out of memory. */
int ctl_show_product_table(FILE *f, Fairpay__V1__Product *const *items, size_t n)
	__attribute__((warn_unused_result));

/* Print a policy as text lines, each prefixed by indent. */
void ctl_show_policy(FILE *f, const char *indent, const Fairpay__V1__Policy *p);

/* Print a policy as a JSON object (no newline). */
void ctl_show_policy_json(FILE *f, const Fairpay__V1__Policy *p);

/* Print an offer as text lines, each prefixed by indent. */
void ctl_show_offer(FILE *f, const char *indent, const Fairpay__V1__Offer *o);

/* Print an offer as a JSON object (no newline). */
void ctl_show_offer_json(FILE *f, const Fairpay__V1__Offer *o);

/* Print offers as a table (OFFER, CUSTOMER, SKU, STATUS, MODE, SP, MINIMUM,
 * SET_PRICE, TIER, CREATED; MINIMUM and SET_PRICE "-" where the mode does not
 * use them). Returns 0, or -1 when out of memory. */
int ctl_show_offer_table(FILE *f, Fairpay__V1__Offer *const *items, size_t n)
	__attribute__((warn_unused_result));

/* Print a payment as text lines, each prefixed by indent. */
void ctl_show_payment(FILE *f, const char *indent, const Fairpay__V1__Payment *p);

/* Print a payment as a JSON object (no newline). */
void ctl_show_payment_json(FILE *f, const Fairpay__V1__Payment *p);

/* Print payments as a table (PAYMENT, OFFER, CUSTOMER, AMOUNT, SP,
 * FAIRNESS, VERDICT, REVIEW, LATE, CREATED). Returns 0, or -1 when out of
 * memory. */
int ctl_show_payment_table(FILE *f, Fairpay__V1__Payment *const *items, size_t n)
	__attribute__((warn_unused_result));

/* Print a reputation as text lines, each prefixed by indent; the
 * explanation follows as indented lines under "explanation:". */
void ctl_show_reputation(FILE *f, const char *indent, const Fairpay__V1__Reputation *r);

/* Print a reputation as a JSON object (no newline). */
void ctl_show_reputation_json(FILE *f, const Fairpay__V1__Reputation *r);

/* Print events as a table (ID, AT, KIND, OFFER, PAYMENT, DETAIL). Returns 0,
 * or -1 when out of memory. */
int ctl_show_event_table(FILE *f, Fairpay__V1__Event *const *items, size_t n)
	__attribute__((warn_unused_result));

/* Print an event as a JSON object (no newline). */
void ctl_show_event_json(FILE *f, const Fairpay__V1__Event *e);

#endif
