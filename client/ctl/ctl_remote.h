/* ctl_remote_: fairpayctl's connection to fairpayd, and how a failure of it
 * is reported (message on stderr, exit code of the command-line contract). */
#ifndef FP_CTL_REMOTE_H
#define FP_CTL_REMOTE_H

#include <stdbool.h>

#include "ctl_args.h"
#include "fairpay/client.h"

/* Connect to a->server and, when authenticate is set and a key is given,
 * authenticate with it. Returns an exit code; on CTL_EXIT_OK *out is the
 * connected client. */
int ctl_remote_open(const ctl_args *a, bool authenticate, fp_client **out);

/* Send req (with a->idempotency_key, when given), wait for its reply and
 * check that it carries the result expected; a replayed reply is noted on
 * stderr.
 * Returns an exit code; on CTL_EXIT_OK *resp is the reply (fp_response_free). */
int ctl_remote_call(fp_client *c, const ctl_args *a, Fairpay__V1__Request *req,
		    Fairpay__V1__Response__ResultCase expect, Fairpay__V1__Response **resp);

/* Connect, authenticate, make one call (ctl_remote_open, ctl_remote_call)
 * and disconnect. Returns an exit code; on CTL_EXIT_OK *resp holds the reply
 * carrying expect. */
int ctl_remote_once(const ctl_args *a, Fairpay__V1__Request *req,
		    Fairpay__V1__Response__ResultCase expect, Fairpay__V1__Response **resp);

/* Print the client's last error to stderr and return its exit code. */
int ctl_remote_report(const fp_client *c, const ctl_args *a);

#endif
