/* The timed sweeper (see sweep.h). */
#include "sweep.h"

#include <stdlib.h>

#include "log.h"

static void sweep_done(void *arg, db_status st, PGresult *res)
{
	srv *s = arg;
	s->sweeping = false;
	if (st != DB_OK) {
		if (st == DB_ERROR)
			log_error(0, "sweep failed: %s", PQresultErrorMessage(res));
		return; /* the next tick tries again */
	}
	long long expired = db_get_i64(res, 0, 0), defaulted = db_get_i64(res, 0, 1),
		  removed = db_get_i64(res, 0, 2);
	if (expired || defaulted || removed)
		log_info(0, "sweep: %lld offers expired, %lld defaulted, %lld idempotency records removed",
			 expired, defaulted, removed);
	/* A full batch means more are due: go on without waiting a tick. */
	if (expired >= s->cfg->sweep_batch || defaulted >= s->cfg->sweep_batch ||
	    removed >= s->cfg->sweep_batch)
		event_active(s->sweep_timer, EV_TIMEOUT, 0);
}

static void sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	srv *s = arg;
	if (s->sweeping || s->stopping)
		return;
	char batch[16];
	snprintf(batch, sizeof(batch), "%lld", (long long)s->cfg->sweep_batch);
	const char *params[] = {batch};
	if (db_query(s->db, "SELECT expired, defaulted, idempotency_removed FROM fp_sweep($1)", 1,
		     params, sweep_done, s) == 0)
		s->sweeping = true;
}

int sweep_start(srv *s)
{
	s->sweep_timer = event_new(s->base, -1, EV_PERSIST, sweep_tick, s);
	if (s->sweep_timer == NULL)
		return -1;
	struct timeval tv = {s->cfg->sweep_interval_ms / 1000,
			     (s->cfg->sweep_interval_ms % 1000) * 1000};
	event_add(s->sweep_timer, &tv);
	return 0;
}

void sweep_stop(srv *s)
{
	if (s->sweep_timer != NULL) {
		event_free(s->sweep_timer);
		s->sweep_timer = NULL;
	}
}
