/* ctl_webhook_: fairpayctl's webhook commands (create, list, delete,
 * deliveries). Each makes one call and prints the reply as text or, with
 * --json, as one JSON object that mirrors the Response message (plus
 * "replayed" on mutating calls). */
#ifndef FP_CTL_WEBHOOK_H
#define FP_CTL_WEBHOOK_H

#include "ctl_args.h"

/* Create an endpoint; print it and its secret. */
int ctl_webhook_create(const ctl_args *a);

/* Print the vendor's endpoints. */
int ctl_webhook_list(const ctl_args *a);

/* Delete an endpoint. */
int ctl_webhook_delete(const ctl_args *a);

/* Print one page of an endpoint's delivery log. */
int ctl_webhook_deliveries(const ctl_args *a);

#endif
