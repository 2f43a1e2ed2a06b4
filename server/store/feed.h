/* feed_: the horizon of the event feed, and the readers waiting on it.
 *
 * Event ids come from a sequence when a transaction inserts them, but
 * transactions commit in any order: while one that took id 7 is still
 * running, another may have committed id 8. A reader that returned 8 and
 * moved its cursor past it would never see 7. So the feed only hands out
 * ids up to a horizon below which nothing can still commit:
 *
 *   1. read the sequence's last value L;
 *   2. then take a new transaction id X (every transaction running now has
 *      an older one);
 *   3. once no transaction older than X is running (a later round reads
 *      the oldest running xid), every id <= L has committed or never will:
 *      L is the horizon.
 *
 * Step 3 holds because a transaction has its xid before it takes an event
 * id (the write statements lock or change a row before they insert events,
 * see store.c), so one that took an id <= L before step 1 has an xid older
 * than X. (A snapshot's xmax would not do as X: it is one past the latest
 * *completed* xid, and a younger transaction may be running.) The horizon
 * is the same for every vendor and every server on the database; rounds
 * run while someone waits, and for each reader that asks for a fresh
 * horizon (one that reaches the L of a round started after it asked).
 *
 * Waiting readers park here, holding no database connection: a waiter is
 * woken when the horizon passes its cursor and one of the new events is its
 * vendor's, or when its deadline passes. */
#ifndef FP_FEED_H
#define FP_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "db.h"

typedef struct feed feed;
typedef struct feed_waiter feed_waiter;

/* The horizon is fresh (a round that started after the call finished), or
 * the database could not say (ok false; horizon is the last known). */
typedef void (*feed_sync_cb)(void *arg, bool ok, int64_t horizon);

/* A waiter's end: new events of its vendor below horizon (timed_out false),
 * or its deadline passed or the feed is closing (timed_out true). */
typedef void (*feed_wait_cb)(void *arg, bool timed_out, int64_t horizon);

/* A feed over db's events; poll_ms between rounds while readers wait. */
feed *feed_new(struct event_base *base, db_pool *db, int poll_ms);

/* Free the feed; waiters still parked are told timed_out first. Accepts
 * NULL. */
void feed_free(feed *f);

/* The last horizon computed (0 before the first round). */
int64_t feed_horizon(const feed *f);

/* Call cb once a round that starts after this call has ended. -1 when out
 * of memory (cb is not called). */
int feed_sync(feed *f, feed_sync_cb cb, void *arg) __attribute__((warn_unused_result));

/* Park until an event of vendor_id with id > after_id is below the
 * horizon, or until deadline_ms (clock_mono_ms). NULL when out of memory. */
feed_waiter *feed_wait(feed *f, const char *vendor_id, int64_t after_id, int64_t deadline_ms,
		       feed_wait_cb cb, void *arg);

/* End every wait now (timed_out true): the server is shutting down. */
void feed_release_all(feed *f);

#endif
