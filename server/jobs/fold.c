/* The insights fold (see fold.h).
 *
 * States: IDLE -(timer)-> SYNCING (waiting for a fresh horizon)
 * -(horizon above the last folded id)-> FOLDING (a statement in flight)
 * -(answered: more below the horizon)-> FOLDING again, or -> IDLE. */
#include "fold.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "insights.h"
#include "log.h"

typedef enum fold_state {
	FOLD_IDLE,
	FOLD_SYNCING,
	FOLD_FOLDING
} fold_state;

struct folder {
	db_pool *db;
	feed *events;
	struct event *timer;
	fold_state state;
	int64_t horizon; /* the round's */
	int64_t folded;  /* the last folded id this server saw */
	bool stopping;
	bool freed; /* fold_free() came while a statement was in flight */
};

static void fold_step(folder *w);

static void folded(void *arg, db_status st, PGresult *res)
{
	folder *w = arg;
	if (w->freed) {
		free(w);
		return;
	}
	w->state = FOLD_IDLE;
	if (st == DB_ERROR) {
		char e[LOG_ESCAPE_SIZE];
		log_error(0, "insights fold failed: %s", log_escape(e, PQresultErrorMessage(res)));
		return;
	}
	/* No row: another server is folding now. */
	if (st != DB_OK || PQntuples(res) != 1 || db_is_null(res, 0, 0))
		return;
	w->folded = db_get_i64(res, 0, 0);
	log_debug(0, "insights: folded %" PRId64 " events, up to id %" PRId64,
		  db_get_i64(res, 0, 1), w->folded);
	if (w->folded < w->horizon && !w->stopping)
		fold_step(w);
}

/* Fold the next batch below the round's horizon. */
static void fold_step(folder *w)
{
	char horizon[24], batch[24];
	snprintf(horizon, sizeof(horizon), "%" PRId64, w->horizon);
	snprintf(batch, sizeof(batch), "%d", INSIGHTS_FOLD_BATCH);
	const char *params[] = { horizon, batch };
	if (db_query(w->db, insights_sql_fold, 2, params, folded, w) == 0)
		w->state = FOLD_FOLDING;
}

static void synced(void *arg, bool ok, int64_t horizon)
{
	folder *w = arg;
	w->state = FOLD_IDLE;
	if (!ok || w->stopping || horizon <= w->folded)
		return;
	w->horizon = horizon;
	fold_step(w);
}

static void fold_tick(evutil_socket_t fd, short what, void *arg)
{
	folder *w = arg;
	if (w->state != FOLD_IDLE || w->stopping)
		return;
	if (feed_sync(w->events, synced, w) == 0)
		w->state = FOLD_SYNCING;
}

folder *fold_new(struct event_base *base, db_pool *db, feed *events, int64_t interval_ms)
{
	folder *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->db = db;
	w->events = events;
	w->timer = event_new(base, -1, EV_PERSIST, fold_tick, w);
	if (w->timer == NULL) {
		free(w);
		return NULL;
	}
	struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };
	event_add(w->timer, &tv);
	return w;
}

void fold_stop(folder *w)
{
	if (w == NULL)
		return;
	w->stopping = true;
	event_del(w->timer);
}

void fold_free(folder *w)
{
	if (w == NULL)
		return;
	event_free(w->timer);
	w->timer = NULL;
	if (w->state == FOLD_FOLDING)
		w->freed = true;
	else
		free(w);
}
