/* conv_: between database rows and protobuf messages.
 *
 * Enum values are stored as their names without the proto prefix ("OPEN",
 * "FAIRPAY_MINIMUM", names.h); lists of them as comma-joined text. Every message built
 * here lives in the call's memory (rpc_alloc) and is freed with the call. */
#ifndef FP_CONV_H
#define FP_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp_rules.h"
#include "rpc.h"
#include "store.h"

/* Columns of a product row. */
#define CONV_PRODUCT_COLS                                                                 \
	"sku, name, currency, suggested_price_minor, unit_price_minor, list_price_minor," \
	" minimum_price_minor, min_tier, period_days, version"
#define CONV_PRODUCT_NCOLS 10

/* Columns of an event row. */
#define CONV_EVENT_COLS                                                                    \
	"id, kind, customer_id, coalesce(offer_id, ''), coalesce(payment_id, ''), detail," \
	" (extract(epoch FROM at) * 1000)::bigint"

/* The Event messages of rows [0, n) of CONV_EVENT_COLS, as many as the
 * call's page budget holds (rpc_page_fits); *more is set when it stopped
 * early. Returns the array, *count the events in it. */
Fairpay__V1__Event **conv_event_page(rpc_call *call, const PGresult *res, unsigned n, size_t *count,
				     bool *more);

/* Build a Policy message with every field present. */
Fairpay__V1__Policy *conv_policy_to_pb(rpc_call *call, const fp_policy *p);

/* Build a Product message from a row of CONV_PRODUCT_COLS starting at col. */
Fairpay__V1__Product *conv_product(rpc_call *call, const PGresult *res, int row, int col);

/* Build an Offer message from an offers row as read (store.h). */
Fairpay__V1__Offer *conv_offer(rpc_call *call, const store_offer *o);

/* Build a Payment message from a payments row as read (store.h). */
Fairpay__V1__Payment *conv_payment(rpc_call *call, const store_payment *p);

#endif
