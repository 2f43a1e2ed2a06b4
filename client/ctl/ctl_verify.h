/* ctl_verify_: `fairpayctl reputation verify`, the audit of the stored
 * reputations against the history, straight on PostgreSQL (synchronous
 * libpq, like the db commands). Returns an exit code of the command-line
 * contract: 0 no difference, 1 differences (or a failed query), 3 the
 * database cannot be reached. */
#ifndef FP_CTL_VERIFY_H
#define FP_CTL_VERIFY_H

#include "ctl_args.h"

/* Recompute every reputation (of a->vendor_id, or all) and report each
 * difference and each missing reputation row. */
int ctl_verify_reputations(const ctl_args *a);

#endif
