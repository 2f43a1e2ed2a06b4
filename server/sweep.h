/* sweep_: the timed sweeper.
 *
 * Every --sweep-interval-ms it asks the database to expire OPEN offers past
 * their time, default ACCEPTED ones past their pay-by time (with the
 * reputation change that causes) and drop idempotency records past their 24
 * hours, in batches of --sweep-batch: expiry as one statement, defaults by
 * the rules library, one guarded write per customer (store.h). The rows are
 * taken with SKIP LOCKED, so several servers on one database sweep side by
 * side; the loop only sends a query and never waits for it. */
#ifndef FP_SWEEP_H
#define FP_SWEEP_H

#include "server.h"

/* Start sweeping on the server's loop; -1 when out of memory. */
int sweep_start(srv *s) __attribute__((warn_unused_result));

/* Stop sweeping. Accepts a server that never started. */
void sweep_stop(srv *s);

#endif
