/* The event feed's horizon and its waiting readers (see feed.h).
 *
 * A round is a small state machine:
 *   IDLE -> SEQUENCE (last id L read) -> XID (a fresh xid X taken, and the
 *        oldest running xid read) -> VENDORS (which vendors' events the
 *        horizon passed; only when someone waits and it moved) -> IDLE
 * Each round leaves a candidate (L, X); it becomes the horizon once a later
 * round finds no transaction older than X still running. */
#include "feed.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* Candidates kept; when more are waiting, the oldest goes (a newer one
 * covers it: its L and X are at least as large). */
#define FEED_CANDIDATES 32

typedef enum feed_state {
	FEED_IDLE = 0,
	FEED_SEQUENCE,
	FEED_XID,
	FEED_VENDORS
} feed_state;

typedef struct feed_sync_req {
	struct feed_sync_req *next;
	feed_sync_cb cb;
	void *arg;
	bool started;   /* a round started after the request */
	int64_t target; /* that round's L: answered once the horizon reaches it */
} feed_sync_req;

struct feed_waiter {
	feed_waiter *prev, *next;
	char vendor_id[64];
	int64_t seen; /* the horizon its reader had read up to */
	int64_t deadline_ms;
	feed_wait_cb cb;
	void *arg;
	bool wake; /* the horizon passed new events of its vendor */
};

typedef struct feed_candidate {
	int64_t last_id;
	uint64_t xid; /* taken after last_id was read */
} feed_candidate;

struct feed {
	struct event_base *base;
	db_pool *db;
	int poll_ms;
	feed_state state;
	int64_t horizon;
	int64_t round_last_id; /* step 1 of the round in flight */
	int64_t moved_from;    /* the horizon before this round moved it */
	feed_candidate cand[FEED_CANDIDATES];
	int ncand;
	feed_sync_req *syncs; /* readers waiting for a fresh horizon */
	feed_waiter *waiters;
	struct event *timer;  /* polls while readers wait; their deadlines */
	struct event *wakeup; /* answers woken waiters on a loop turn of their own */
	struct event *kick;   /* starts the next round on a loop turn of its own */
	bool ok;              /* the round in flight has not failed */
};

static const char sql_last_id[] =
	"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq";
/* A new xid X bounds every transaction running now, which a snapshot's
 * xmax does not (it is one past the latest *completed* xid). The statement
 * writes nothing, so its commit is not waited for. */
static const char sql_xid[] = "SELECT pg_current_xact_id()::text,"
			      " pg_snapshot_xmin(pg_current_snapshot())::text";
static const char sql_vendors[] =
	"SELECT DISTINCT vendor_id FROM events WHERE id > $1 AND id <= $2";

static void start_round(feed *f);
static void arm_timer(feed *f);

static uint64_t parse_u64(const char *s)
{
	return strtoull(s, NULL, 10);
}

static void unlink_waiter(feed *f, feed_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		f->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

/* Answer the waiters marked to wake, and those whose deadline passed. They
 * leave the list first: a callback may park its reader again. */
static void answer_waiters(feed *f, int64_t now)
{
	feed_waiter *due = NULL;
	feed_waiter *next = NULL;
	for (feed_waiter *w = f->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->wake || w->deadline_ms <= now) {
			unlink_waiter(f, w);
			w->next = due;
			due = w;
		}
	}
	while (due != NULL) {
		feed_waiter *w = due;
		due = w->next;
		bool timed_out = !w->wake;
		feed_wait_cb cb = w->cb;
		void *arg = w->arg;
		free(w);
		cb(arg, timed_out, f->horizon);
	}
}

/* Answer the readers whose fresh horizon is reached (or cannot be: the
 * round failed); the rest need another round. */
static void end_round(feed *f)
{
	f->state = FEED_IDLE;
	feed_sync_req *done = NULL;
	feed_sync_req **link = &f->syncs;
	while (*link != NULL) {
		feed_sync_req *s = *link;
		if (s->started && (!f->ok || (s->target >= 0 && f->horizon >= s->target))) {
			*link = s->next;
			s->next = done;
			done = s;
		} else {
			link = &s->next;
		}
	}
	while (done != NULL) {
		feed_sync_req *s = done;
		done = s->next;
		s->cb(s->arg, f->ok, f->horizon);
		free(s);
	}
	answer_waiters(f, clock_mono_ms());
	if (f->syncs != NULL)
		event_active(f->kick, EV_TIMEOUT, 0);
	arm_timer(f);
}

static void vendors_done(void *arg, db_status st, PGresult *res)
{
	feed *f = arg;
	if (st != DB_OK) {
		/* Which vendors is unknown: every waiter looks again. */
		for (feed_waiter *w = f->waiters; w != NULL; w = w->next)
			w->wake = w->seen < f->horizon;
	} else {
		int n = PQntuples(res);
		for (feed_waiter *w = f->waiters; w != NULL; w = w->next) {
			if (w->seen >= f->horizon)
				continue;
			/* One that had read less than where this round started
			 * may have missed older events too: it looks again. */
			bool hit = w->seen < f->moved_from;
			for (int i = 0; i < n && !hit; i++)
				hit = strcmp(db_get_str(res, i, 0), w->vendor_id) == 0;
			w->wake = hit;
		}
	}
	end_round(f);
}

static void xid_done(void *arg, db_status st, PGresult *res)
{
	feed *f = arg;
	if (st != DB_OK || PQntuples(res) != 1) {
		f->ok = false;
		end_round(f);
		return;
	}
	uint64_t xid = parse_u64(db_get_str(res, 0, 0));
	uint64_t xmin = parse_u64(db_get_str(res, 0, 1));
	/* Every earlier candidate whose transactions have all ended (none
	 * older than its xid runs) is safe. This round's xmin was read before
	 * its own xid existed: its candidate waits for the next round. */
	int64_t horizon = f->horizon;
	int kept = 0;
	for (int i = 0; i < f->ncand; i++) {
		if (xmin >= f->cand[i].xid) {
			if (f->cand[i].last_id > horizon)
				horizon = f->cand[i].last_id;
		} else {
			f->cand[kept++] = f->cand[i];
		}
	}
	f->ncand = kept;
	if (f->ncand == FEED_CANDIDATES) {
		memmove(&f->cand[0], &f->cand[1], sizeof(f->cand[0]) * (FEED_CANDIDATES - 1));
		f->ncand--;
	}
	f->cand[f->ncand++] = (feed_candidate){ f->round_last_id, xid };
	f->moved_from = f->horizon;
	bool moved = horizon > f->horizon;
	f->horizon = horizon;
	if (!moved || f->waiters == NULL) {
		end_round(f);
		return;
	}
	char from[24], to[24];
	snprintf(from, sizeof(from), "%" PRId64, f->moved_from);
	snprintf(to, sizeof(to), "%" PRId64, f->horizon);
	const char *params[] = { from, to };
	f->state = FEED_VENDORS;
	if (db_query(f->db, sql_vendors, 2, params, vendors_done, f) != 0)
		vendors_done(f, DB_UNAVAILABLE, NULL);
}

static void last_id_done(void *arg, db_status st, PGresult *res)
{
	feed *f = arg;
	if (st != DB_OK || PQntuples(res) != 1) {
		f->ok = false;
		end_round(f);
		return;
	}
	f->round_last_id = db_get_i64(res, 0, 0);
	for (feed_sync_req *s = f->syncs; s != NULL; s = s->next)
		if (s->started && s->target < 0)
			s->target = f->round_last_id;
	/* A query of its own, sent after the first answered: the xid must be
	 * taken after the sequence was read. */
	f->state = FEED_XID;
	if (db_query(f->db, sql_xid, 0, NULL, xid_done, f) != 0) {
		f->ok = false;
		end_round(f);
	}
}

static void start_round(feed *f)
{
	if (f->state != FEED_IDLE)
		return;
	f->state = FEED_SEQUENCE;
	f->ok = true;
	for (feed_sync_req *s = f->syncs; s != NULL; s = s->next)
		s->started = true;
	if (db_query(f->db, sql_last_id, 0, NULL, last_id_done, f) != 0) {
		f->ok = false;
		end_round(f);
	}
}

static void arm_timer(feed *f)
{
	if (f->waiters == NULL) {
		event_del(f->timer);
		return;
	}
	int64_t now = clock_mono_ms();
	int64_t at = now + f->poll_ms;
	for (feed_waiter *w = f->waiters; w != NULL; w = w->next)
		if (w->deadline_ms < at)
			at = w->deadline_ms;
	int64_t ms = at > now ? at - now : 0;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
	event_add(f->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	feed *f = arg;
	answer_waiters(f, clock_mono_ms());
	if (f->waiters != NULL)
		start_round(f); /* no-op while one is in flight */
	arm_timer(f);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	start_round(arg);
}

static void wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
	feed *f = arg;
	answer_waiters(f, clock_mono_ms());
	arm_timer(f);
}

feed *feed_new(struct event_base *base, db_pool *db, int poll_ms)
{
	feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->base = base;
	f->db = db;
	f->poll_ms = poll_ms;
	f->timer = evtimer_new(base, timer_cb, f);
	f->wakeup = event_new(base, -1, 0, wakeup_cb, f);
	f->kick = event_new(base, -1, 0, kick_cb, f);
	if (f->timer == NULL || f->wakeup == NULL || f->kick == NULL) {
		feed_free(f);
		return NULL;
	}
	return f;
}

int64_t feed_horizon(const feed *f)
{
	return f->horizon;
}

int feed_sync(feed *f, feed_sync_cb cb, void *arg)
{
	feed_sync_req *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	s->cb = cb;
	s->arg = arg;
	s->target = -1;
	s->next = f->syncs;
	f->syncs = s;
	start_round(f); /* or the next one, once the one in flight ends */
	return 0;
}

feed_waiter *feed_wait(feed *f, const char *vendor_id, int64_t seen, int64_t deadline_ms,
		       feed_wait_cb cb, void *arg)
{
	feed_waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	snprintf(w->vendor_id, sizeof(w->vendor_id), "%s", vendor_id);
	w->seen = seen;
	w->deadline_ms = deadline_ms;
	w->cb = cb;
	w->arg = arg;
	w->next = f->waiters;
	if (f->waiters)
		f->waiters->prev = w;
	f->waiters = w;
	if (seen < f->horizon) {
		/* The horizon moved since its reader looked: look again, but
		 * not from within this call. */
		w->wake = true;
		event_active(f->wakeup, EV_TIMEOUT, 0);
	}
	arm_timer(f);
	return w;
}

void feed_release_all(feed *f)
{
	for (feed_waiter *w = f->waiters; w != NULL; w = w->next)
		w->deadline_ms = 0;
	answer_waiters(f, clock_mono_ms());
	arm_timer(f);
}

void feed_free(feed *f)
{
	if (f == NULL)
		return;
	feed_release_all(f);
	feed_sync_req *s = f->syncs;
	f->syncs = NULL;
	while (s != NULL) {
		feed_sync_req *next = s->next;
		s->cb(s->arg, false, f->horizon);
		free(s);
		s = next;
	}
	if (f->timer)
		event_free(f->timer);
	if (f->wakeup)
		event_free(f->wakeup);
	if (f->kick)
		event_free(f->kick);
	free(f);
}
