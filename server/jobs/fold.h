/* fold_: the job that folds the events' insights into insights_stats.
 *
 * Every interval it asks the event feed for a fresh horizon (feed.h: every
 * event id at or below it has committed or never will) and folds the events
 * between the last folded id and the horizon into the sums, a bounded batch
 * per statement (insights_sql_fold), until it has caught up. The statement
 * takes the fold's one row with SKIP LOCKED, so several servers on one
 * database fold in turn, never twice. Nothing waits for it: GetInsights
 * adds the events not folded yet, so the fold only keeps that tail short. */
#ifndef FP_FOLD_H
#define FP_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "db.h"
#include "feed.h"

typedef struct folder folder;

/* Fold every interval_ms on base; NULL when out of memory. */
folder *fold_new(struct event_base *base, db_pool *db, feed *events, int64_t interval_ms);

/* Start no new round (one in flight ends by itself). */
void fold_stop(folder *w);

/* Free the job; a statement still in flight frees it when it is answered.
 * Call it after the pool and the feed are freed. Accepts NULL. */
void fold_free(folder *w);

#endif
