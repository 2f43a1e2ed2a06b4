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

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "cache.h"
#include "db.h"

typedef struct sweeper sweeper;

/* Start sweeping every interval_ms, batch rows per step, on base; NULL when
 * out of memory. Rows it changes leave the cache rows (NULL: none). */
sweeper *sweep_new(struct event_base *base, db_pool *db, cache *rows, int64_t interval_ms,
		   int64_t batch);

/* Called once the round in flight at sweep_stop() has ended. */
typedef void (*sweep_idle_cb)(void *arg);

/* Start no new round; a round in flight finishes (or fails with the pool),
 * then idle(arg) runs (idle may be NULL). */
void sweep_stop(sweeper *w, sweep_idle_cb idle, void *arg);

/* True while a round waits for the database. */
bool sweep_busy(const sweeper *w);

/* Free the sweeper. A round still in flight (its queries not yet answered
 * by the pool) frees it when it ends instead. Accepts NULL. */
void sweep_free(sweeper *w);

#endif
