/* Asynchronous PostgreSQL pool in pipeline mode (see db.h).
 *
 * Each connection is a small state machine:
 *   DOWN -> CONNECTING -> READY -> (broken) -> WAITING -> CONNECTING ...
 * A READY connection keeps a FIFO of the queries it sent; results arrive in
 * the same order, each query's results followed by the PIPELINE_SYNC result
 * that closes it.
 *
 * The commit of a group happens at its sync: with synchronous replication it
 * waits there for the standby, a wait that statement_timeout does not cover
 * (and the group's results, buffered by the server until its sync, do not
 * arrive meanwhile). A group at the head of its connection for longer than
 * statement_timeout and DB_CANCEL_GRACE_MS gets a cancel: a statement still
 * running fails (57014) and is rolled back, while a commit's wait for the
 * standby ends with the transaction committed on the primary only, which
 * PostgreSQL says in a WARNING from SyncRepWaitForLSN; the notice receiver
 * turns that into DB_UNCONFIRMED for every member of the group. */
#include "db.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define DB_TICK_MS 50
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 2000
#define DB_CONNECT_TIMEOUT_S 5
/* Beyond statement_timeout, before the pool cancels a group itself. */
#define DB_CANCEL_GRACE_MS 500
#define DB_GROUP_MAX 64
/* Statement texts the pool prepares once per connection (the server has a
 * few dozen, all string literals); more are sent unprepared. */
#define DB_STATEMENTS_MAX 128
#define DB_TENANT_SLOTS 256 /* hash buckets of the tenant table */

typedef struct db_tenant db_tenant;

typedef struct db_req {
	struct db_req *next;
	const char *sql; /* a string literal of the caller's: never freed */
	int nparams;
	char **params; /* one block: pointers, then the copied strings */
	db_cb cb;
	void *arg;
	int64_t deadline_ms;
	PGresult *res;
	bool write;             /* may share a transaction with other writes */
	bool set;               /* a set write: params[0] is its item (db_write_set) */
	struct db_req *members; /* a statement of set writes: theirs, by next_member */
	struct db_req *next_member;
	int n_members;
	bool solo;          /* its group failed: sent again alone */
	bool ended;         /* all its results are in */
	bool last_in_group; /* a sync follows it */
	bool unconfirmed;   /* its commit's wait for the standby was cancelled */
	char *lock_key;     /* writes are sent in this order (NULL sorts first) */
	db_tenant *tenant;  /* whose work it is; NULL: the server's own, no share */
	bool admitted;      /* counted in its tenant's share (not held back) */
	bool preparing;     /* the results of its statement's Parse come first */
	int stmt_id;        /* the pool's number of its statement, or -1 */
	int64_t queued_ns;  /* queued, not sent yet (0: sent once already) */
	uint64_t seq;       /* the pool's number of this request */
} db_req;

/* One vendor's (or the unauthenticated clients') work in the pool: what it
 * has in the pool's queues or in flight, and what waits beyond its share. */
struct db_tenant {
	db_tenant *next; /* hash chain */
	db_pool *pool;
	unsigned admitted;
	db_req *held_head, *held_tail;
	char name[];
};

typedef enum dbc_state {
	DBC_DOWN = 0,
	DBC_CONNECTING,
	DBC_READY,
	DBC_WAITING
} dbc_state;

typedef struct db_conn {
	db_pool *pool;
	int index;
	dbc_state state;
	PGconn *pg;
	struct event *io;  /* connect polling, then persistent reads */
	struct event *wev; /* waits for the socket to drain a flush */
	struct event *retry;
	int backoff_ms;
	db_req *head, *tail; /* sent, awaiting results */
	int inflight;
	int write_groups;                 /* groups of writes sent, at most one at a time */
	uint64_t head_seq;                /* the head group's first request, as last seen */
	int64_t head_since_ms;            /* since when it has been the head */
	int64_t cancelled_ms;             /* when it was last cancelled (0: never) */
	bool prepared[DB_STATEMENTS_MAX]; /* which of the pool's statements it has */
} db_conn;

struct db_pool {
	struct event_base *base;
	char *conninfo;
	char *options; /* libpq "options": the session's role */
	int size;
	int depth;
	int timeout_ms;
	int cancel_after_ms; /* how long a group may be at the head of its connection */
	uint64_t next_seq;
	db_conn *conns;
	db_req *pend_head, *pend_tail;   /* reads not sent yet */
	db_req *wpend_head, *wpend_tail; /* writes not sent yet */
	db_req *done_head, *done_tail;   /* finished, callback not yet run */
	struct event *kick;
	struct event *tick;
	int64_t down_since_ms;                     /* 0 while some connection is ready */
	bool was_ready;                            /* some connection was ready once */
	const char *statements[DB_STATEMENTS_MAX]; /* prepared as "fp<index>" */
	int n_statements;
	struct db_listener *listener;
	uint64_t writes_committed, write_commits; /* group commit at work */
	unsigned tenant_share;                    /* queries one tenant may have admitted */
	db_tenant *tenants[DB_TENANT_SLOTS];
	uint64_t tenant_holds; /* queries held back by their tenant's share */
	bool freeing;
};

static const char *const state_names[] = { "DOWN", "CONNECTING", "READY", "WAITING" };

static void dbc_set_state(db_conn *dc, dbc_state next)
{
	if (dc->state == next)
		return;
	log_debug(0, "db[%d]: %s -> %s", dc->index, state_names[dc->state], state_names[next]);
	dc->state = next;
}

static void req_free(db_req *r)
{
	if (r == NULL)
		return;
	PQclear(r->res);
	free(r->params);
	free(r->lock_key);
	free(r);
}

static void tenant_done(db_req *r);
static void carrier_run(db_req *c, db_status st);

/* Run one caller's request's callback and free it. */
static void req_complete(db_req *r, db_status st)
{
	r->cb(r->arg, st, st == DB_UNAVAILABLE ? NULL : r->res);
	metrics_move(METRIC_DB_INFLIGHT, -1);
	tenant_done(r);
	req_free(r);
}

/* Complete r (a carrier: each of its members). */
static void req_run(db_req *r, db_status st)
{
	if (r->members != NULL)
		carrier_run(r, st);
	else
		req_complete(r, st);
}

/* Complete r from the next loop turn, so callbacks never run inside
 * db_query(). */
static void req_defer(db_pool *p, db_req *r)
{
	r->next = NULL;
	if (p->done_tail)
		p->done_tail->next = r;
	else
		p->done_head = r;
	p->done_tail = r;
	event_active(p->kick, EV_TIMEOUT, 0);
}

static void req_finish(db_req *r)
{
	db_status st = DB_UNAVAILABLE;
	if (r->res != NULL) {
		ExecStatusType es = PQresultStatus(r->res);
		st = (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) ? DB_OK : DB_ERROR;
		if (st == DB_OK && r->unconfirmed)
			st = DB_UNCONFIRMED;
	}
	req_run(r, st);
}

/* ---------------------------------------------------------------- set writes
 *
 * Set writes of one statement text that wait together travel as one
 * statement, a carrier: its parameter is the JSON array of their items, at
 * most one per lock key, and its result rows say by their first column
 * which item they answer. A carrier is made when its group is sent and
 * never waits in a queue: when its group fails, its members are sent
 * again alone (each in a carrier of its own). */

/* The rows of res that answer item (first column), as a result of their own. */
static PGresult *carrier_rows(const PGresult *res, int item)
{
	PGresult *out = PQcopyResult(res, PG_COPYRES_ATTRS);
	if (out == NULL)
		return NULL;
	char pos[16];
	snprintf(pos, sizeof(pos), "%d", item);
	int nf = PQnfields(res), k = 0;
	for (int row = 0; row < PQntuples(res); row++) {
		if (PQgetisnull(res, row, 0) || strcmp(PQgetvalue(res, row, 0), pos) != 0)
			continue;
		for (int f = 0; f < nf; f++) {
			bool null = PQgetisnull(res, row, f);
			if (!PQsetvalue(out, k, f, null ? NULL : PQgetvalue(res, row, f),
					null ? -1 : PQgetlength(res, row, f))) {
				PQclear(out);
				return NULL;
			}
		}
		k++;
	}
	return out;
}

/* Complete each member of carrier c with its own rows, then free c. */
static void carrier_run(db_req *c, db_status st)
{
	int item = 0;
	for (db_req *m = c->members; m != NULL; item++) {
		db_req *next = m->next_member;
		m->next_member = NULL;
		db_status mst = st;
		if (st != DB_UNAVAILABLE && c->res != NULL) {
			if (c->n_members == 1) {
				m->res = c->res;
				c->res = NULL;
			} else if (PQresultStatus(c->res) == PGRES_TUPLES_OK) {
				m->res = carrier_rows(c->res, item);
				if (m->res == NULL)
					mst = DB_UNAVAILABLE; /* out of memory */
			} else {
				mst = DB_UNAVAILABLE; /* a group that failed is never split */
			}
		}
		req_complete(m, mst);
		m = next;
	}
	c->members = NULL;
	req_free(c);
}

/* ---------------------------------------------------------------- tenants
 *
 * Fairness between vendors: one tenant may have at most tenant_share
 * queries in the pool's queues and in flight together; the rest wait in the
 * tenant's own queue, in order, and enter the pool's queues one for each of
 * its queries that completes. A vendor that floods the pool then waits
 * behind itself, and another vendor's query finds the queues short. */

static size_t tenant_hash(const char *name)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++) {
		h ^= *c;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % DB_TENANT_SLOTS);
}

static db_tenant *tenant_get(db_pool *p, const char *name)
{
	db_tenant **pp = &p->tenants[tenant_hash(name)];
	for (db_tenant *t = *pp; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	size_t len = strlen(name);
	db_tenant *t = calloc(1, sizeof(*t) + len + 1);
	if (t == NULL)
		return NULL;
	memcpy(t->name, name, len + 1);
	t->pool = p;
	t->next = *pp;
	*pp = t;
	return t;
}

static void tenant_forget(db_tenant *t)
{
	db_tenant **pp = &t->pool->tenants[tenant_hash(t->name)];
	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	free(t);
}

static void queue_back(db_pool *p, db_req *r)
{
	db_req **head = r->write ? &p->wpend_head : &p->pend_head;
	db_req **tail = r->write ? &p->wpend_tail : &p->pend_tail;
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

/* r's callback ran: its place in the share goes to the tenant's next held
 * query, and a tenant with nothing left is forgotten. */
static void tenant_done(db_req *r)
{
	db_tenant *t = r->tenant;
	if (t == NULL)
		return;
	r->tenant = NULL;
	db_pool *p = t->pool;
	if (r->admitted) {
		t->admitted--;
		if (t->held_head != NULL && !p->freeing) {
			db_req *next = t->held_head;
			t->held_head = next->next;
			if (t->held_head == NULL)
				t->held_tail = NULL;
			next->admitted = true;
			t->admitted++;
			queue_back(p, next);
			event_active(p->kick, EV_TIMEOUT, 0);
		}
	}
	if (t->admitted == 0 && t->held_head == NULL)
		tenant_forget(t);
}

/* Into the pool's queues, or the tenant's own when it is at its share. */
static void tenant_admit(db_pool *p, db_req *r)
{
	db_tenant *t = r->tenant;
	if (t == NULL || t->admitted < p->tenant_share) {
		if (t != NULL)
			t->admitted++;
		r->admitted = true;
		queue_back(p, r);
		return;
	}
	p->tenant_holds++;
	r->next = NULL;
	if (t->held_tail)
		t->held_tail->next = r;
	else
		t->held_head = r;
	t->held_tail = r;
}

/* Held queries past their deadline complete with DB_UNAVAILABLE, as queued
 * ones do. */
static void tenants_expire(db_pool *p, int64_t now)
{
	for (size_t i = 0; i < DB_TENANT_SLOTS; i++) {
		for (db_tenant *t = p->tenants[i]; t != NULL; t = t->next) {
			db_req **link = &t->held_head;
			db_req *last = NULL;
			while (*link != NULL) {
				db_req *r = *link;
				if (r->deadline_ms <= now) {
					*link = r->next;
					req_defer(p, r);
				} else {
					last = r;
					link = &r->next;
				}
			}
			t->held_tail = last;
		}
	}
}

static void dbc_connect(db_conn *dc);
static void pool_dispatch(db_pool *p);

static void dbc_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	dbc_connect(arg);
}

/* Drop the connection, fail what it had in flight, and try again later. */
static void dbc_broken(db_conn *dc, const char *reason)
{
	db_pool *p = dc->pool;
	char why[256];
	/* reason may point into the PGconn that is finished below. */
	snprintf(why, sizeof(why), "%s", reason);
	why[strcspn(why, "\n")] = '\0';
	if (dc->state == DBC_READY)
		log_warn(0, "database connection %d lost: %s", dc->index, why);
	else
		log_debug(0, "database connection %d failed: %s", dc->index, why);
	event_del(dc->io);
	event_del(dc->wev);
	PQfinish(dc->pg);
	dc->pg = NULL;
	dbc_set_state(dc, DBC_WAITING);
	db_req *r = dc->head;
	dc->head = dc->tail = NULL;
	dc->inflight = 0;
	dc->write_groups = 0;
	dc->head_seq = 0;
	memset(dc->prepared, 0, sizeof(dc->prepared));
	while (r != NULL) {
		db_req *next = r->next;
		PQclear(r->res);
		r->res = NULL;
		req_defer(p, r);
		r = next;
	}
	if (db_ready_count(p) == 0 && p->down_since_ms == 0) {
		p->down_since_ms = clock_mono_ms();
		log_error(0, "database unavailable: %s", why);
	}
	struct timeval tv = { dc->backoff_ms / 1000, (dc->backoff_ms % 1000) * 1000 };
	dc->backoff_ms =
		dc->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : dc->backoff_ms * 2;
	event_add(dc->retry, &tv);
}

static void dbc_write_cb(evutil_socket_t fd, short what, void *arg);

static int dbc_flush(db_conn *dc)
{
	int r = PQflush(dc->pg);
	if (r < 0) {
		dbc_broken(dc, PQerrorMessage(dc->pg));
		return -1;
	}
	if (r > 0)
		event_add(dc->wev, NULL);
	return 0;
}

static void dbc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *dc = arg;
	if (dc->state == DBC_READY)
		(void)dbc_flush(dc);
}

static bool req_ok(const db_req *r)
{
	if (r->res == NULL)
		return false;
	ExecStatusType es = PQresultStatus(r->res);
	return es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK;
}

static void queue_front(db_req **head, db_req **tail, db_req *r)
{
	r->next = *head;
	*head = r;
	if (*tail == NULL)
		*tail = r;
}

/* The head group's sync arrived: its transaction ended. A group of writes
 * that failed rolled back as a whole, so each of its members is sent again
 * alone: one bad call does not fail the others. Otherwise every member
 * completes with its own result. */
static void dbc_group_done(db_conn *dc)
{
	db_pool *p = dc->pool;
	db_req *first = dc->head, *r = first;
	int n = 0, items = 0;
	bool all_ok = true;
	while (r != NULL) {
		n++;
		items += r->members != NULL ? r->n_members : 1;
		all_ok = all_ok && req_ok(r);
		if (r->last_in_group)
			break;
		r = r->next;
	}
	if (r == NULL)
		return; /* a sync without its group: cannot happen */
	dc->head = r->next;
	if (dc->head == NULL)
		dc->tail = NULL;
	r->next = NULL;
	dc->inflight -= n;
	if (first->write)
		dc->write_groups--;
	if (items > 1 && !all_ok) {
		log_debug(0, "db[%d]: a group of %d writes failed; each is retried alone",
			  dc->index, items);
		/* Back to the front of the queue, in their order; a carrier's
		 * members each alone. */
		db_req *members[DB_GROUP_MAX];
		int k = 0;
		for (db_req *m = first; m != NULL;) {
			db_req *next = m->next;
			if (m->members == NULL) {
				if (k < DB_GROUP_MAX)
					members[k++] = m;
			} else {
				for (db_req *x = m->members; x != NULL; x = x->next_member)
					if (k < DB_GROUP_MAX)
						members[k++] = x;
				for (int i = k - m->n_members; i < k; i++)
					members[i]->next_member = NULL;
				m->members = NULL;
				req_free(m);
			}
			m = next;
		}
		for (int i = k - 1; i >= 0; i--) {
			db_req *m = members[i];
			PQclear(m->res);
			m->res = NULL;
			m->ended = m->last_in_group = false;
			m->solo = true;
			queue_front(&p->wpend_head, &p->wpend_tail, m);
		}
		return;
	}
	if (first->write && all_ok && !first->unconfirmed) {
		p->writes_committed += (uint64_t)items;
		p->write_commits++;
		metrics_add(METRIC_DB_COMMITS, 1);
		metrics_add(METRIC_DB_COMMITTED_CALLS, (uint64_t)items);
		for (db_req *m = first; m != NULL; m = m->next)
			if (m->members != NULL) {
				metrics_add(METRIC_DB_SET_STATEMENTS, 1);
				metrics_add(METRIC_DB_SET_ITEMS, (uint64_t)m->n_members);
			}
	}
	for (db_req *m = first; m != NULL;) {
		db_req *next = m->next;
		req_finish(m);
		m = next;
	}
}

/* The request whose results come next: the first of the head group whose
 * results are not all in (NULL while the group waits for its sync). */
static db_req *dbc_current(db_conn *dc)
{
	for (db_req *r = dc->head; r != NULL; r = r->next) {
		if (!r->ended)
			return r;
		if (r->last_in_group)
			return NULL;
	}
	return NULL;
}

static void dbc_read_results(db_conn *dc)
{
	int nulls = 0;
	while (dc->state == DBC_READY && dc->head != NULL && !PQisBusy(dc->pg)) {
		PGresult *res = PQgetResult(dc->pg);
		if (res == NULL) {
			/* The end of one query's results. Two in a row means
			 * nothing more is buffered. */
			if (++nulls > 1)
				break;
			db_req *cur = dbc_current(dc);
			if (cur != NULL && cur->preparing)
				cur->preparing = false; /* the Parse's results ended */
			else if (cur != NULL)
				cur->ended = true;
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			dbc_group_done(dc);
			continue;
		}
		db_req *cur = dbc_current(dc);
		if (cur == NULL && dc->head != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
			/* An error at the sync: the group's commit failed (or was
			 * cancelled before its commit record), so the whole
			 * transaction rolled back, whatever its results said. */
			db_req *last = dc->head;
			while (!last->last_in_group && last->next != NULL)
				last = last->next;
			PQclear(last->res);
			last->res = res;
			continue;
		}
		/* A failed Parse is the request's result (what follows it in
		 * the pipeline is aborted); a successful one is dropped. */
		if (cur != NULL && cur->preparing && PQresultStatus(res) != PGRES_COMMAND_OK &&
		    cur->stmt_id >= 0)
			dc->prepared[cur->stmt_id] = false; /* never parsed: parse it next time */
		if (cur != NULL && cur->res == NULL &&
		    (!cur->preparing || PQresultStatus(res) != PGRES_COMMAND_OK))
			cur->res = res;
		else
			PQclear(res);
	}
}

static void dbc_io_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *dc = arg;
	if (dc->state != DBC_READY)
		return;
	if (!PQconsumeInput(dc->pg)) {
		dbc_broken(dc, PQerrorMessage(dc->pg));
		pool_dispatch(dc->pool);
		return;
	}
	dbc_read_results(dc);
	if (dc->state == DBC_READY && PQstatus(dc->pg) == CONNECTION_BAD)
		dbc_broken(dc, PQerrorMessage(dc->pg));
	pool_dispatch(dc->pool);
}

/* ---------------------------------------------------------------- commits the standby did not confirm */

/* The PostgreSQL function that waits for the synchronous standby. Its
 * WARNING is matched by this source routine, not by its text, which the
 * server's lc_messages may translate. */
#define DB_SYNCREP_ROUTINE "SyncRepWaitForLSN"

/* A notice from the server. The one that matters says that a commit's wait
 * for the standby was cancelled: the transaction committed on the primary
 * only. That commit is the head group's: its results are in, and its sync
 * (ReadyForQuery) is the next message, parsed after this one. */
static void dbc_notice(void *arg, const PGresult *res)
{
	db_conn *dc = arg;
	const char *routine = PQresultErrorField(res, PG_DIAG_SOURCE_FUNCTION);
	if (routine == NULL || strcmp(routine, DB_SYNCREP_ROUTINE) != 0 || dc->head == NULL)
		return;
	int n = 0;
	for (db_req *r = dc->head; r != NULL; r = r->next) {
		r->unconfirmed = true;
		n++;
		if (r->last_in_group)
			break;
	}
	metrics_add(METRIC_DB_UNCONFIRMED, 1);
	log_warn(0,
		 "database connection %d: the synchronous standby did not confirm a commit of "
		 "%d statement(s) within %d ms; it stands on the primary only, and its calls "
		 "are answered UNAVAILABLE (a retry under the same idempotency key is replayed "
		 "once a standby confirms)",
		 dc->index, n, dc->pool->cancel_after_ms);
}

/* PQcancel connects and sends, blocking, and libpq 15 has no asynchronous
 * cancel; a short-lived thread sends it, touching nothing but its own
 * PGcancel, so that the event loop never waits on a host that may be gone. */
static void *cancel_main(void *arg)
{
	PGcancel *c = arg;
	char err[256];
	(void)PQcancel(c, err, (int)sizeof(err));
	PQfreeCancel(c);
	return NULL;
}

static void dbc_cancel(db_conn *dc, int64_t now, int64_t waited_ms)
{
	dc->cancelled_ms = now;
	PGcancel *c = PQgetCancel(dc->pg);
	pthread_attr_t attr;
	pthread_t th;
	bool started = false;
	if (c != NULL && pthread_attr_init(&attr) == 0) {
		started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
			  pthread_create(&th, &attr, cancel_main, c) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!started) {
		PQfreeCancel(c);
		log_error(0, "database connection %d: cannot send a cancel", dc->index);
		return;
	}
	log_warn(0,
		 "database connection %d: a query has waited %lld ms for its answer, past the "
		 "statement timeout: cancelling it (a commit waiting for a synchronous standby "
		 "stays committed on the primary only)",
		 dc->index, (long long)waited_ms);
}

/* Cancel the groups that have been at the head of their connection for
 * longer than cancel_after_ms, and publish the longest such wait. */
static void pool_check_heads(db_pool *p, int64_t now)
{
	int64_t longest = 0;
	for (int i = 0; i < p->size; i++) {
		db_conn *dc = &p->conns[i];
		if (dc->state != DBC_READY || dc->head == NULL) {
			dc->head_seq = 0;
			continue;
		}
		if (dc->head->seq != dc->head_seq) {
			dc->head_seq = dc->head->seq;
			dc->head_since_ms = now;
			dc->cancelled_ms = 0;
			continue;
		}
		int64_t waited = now - dc->head_since_ms;
		if (waited > longest)
			longest = waited;
		/* Again each period: a cancel that found the backend between
		 * two messages of the group did nothing. */
		if (p->cancel_after_ms > 0 && waited >= p->cancel_after_ms &&
		    now - dc->cancelled_ms >= p->cancel_after_ms)
			dbc_cancel(dc, now, waited);
	}
	metrics_set(METRIC_DB_OLDEST_QUERY_MS, longest);
}

static void dbc_ready(db_conn *dc)
{
	db_pool *p = dc->pool;
	if (PQsetnonblocking(dc->pg, 1) != 0 || PQenterPipelineMode(dc->pg) != 1) {
		dbc_broken(dc, PQerrorMessage(dc->pg));
		return;
	}
	int sock = PQsocket(dc->pg);
	event_del(dc->io);
	event_assign(dc->io, p->base, sock, EV_READ | EV_PERSIST, dbc_io_cb, dc);
	event_assign(dc->wev, p->base, sock, EV_WRITE, dbc_write_cb, dc);
	event_add(dc->io, NULL);
	dbc_set_state(dc, DBC_READY);
	dc->backoff_ms = DB_BACKOFF_MIN_MS;
	if (p->down_since_ms != 0) {
		log_info(0, "database %s after %lld ms",
			 p->was_ready ? "available again" : "connected",
			 (long long)(clock_mono_ms() - p->down_since_ms));
		p->down_since_ms = 0;
	}
	p->was_ready = true;
	pool_dispatch(p);
}

static void dbc_poll_cb(evutil_socket_t fd, short what, void *arg);

static void dbc_poll_wait(db_conn *dc, PostgresPollingStatusType mode)
{
	struct timeval tv = { DB_CONNECT_TIMEOUT_S, 0 };
	event_del(dc->io);
	event_assign(dc->io, dc->pool->base, PQsocket(dc->pg),
		     mode == PGRES_POLLING_READING ? EV_READ : EV_WRITE, dbc_poll_cb, dc);
	event_add(dc->io, &tv);
}

static void dbc_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *dc = arg;
	if (what & EV_TIMEOUT) {
		dbc_broken(dc, "connect timed out");
		return;
	}
	PostgresPollingStatusType st = PQconnectPoll(dc->pg);
	switch (st) {
	case PGRES_POLLING_READING:
	case PGRES_POLLING_WRITING:
		dbc_poll_wait(dc, st);
		break;
	case PGRES_POLLING_OK:
		dbc_ready(dc);
		break;
	default:
		dbc_broken(dc, PQerrorMessage(dc->pg));
		break;
	}
}

static void dbc_connect(db_conn *dc)
{
	dbc_set_state(dc, DBC_CONNECTING);
	/* The conninfo is expanded as dbname; "options" after it sets the
	 * role for the whole session, before any query can run. */
	const char *const keys[] = { "dbname", "options", "fallback_application_name", NULL };
	const char *const values[] = { dc->pool->conninfo, dc->pool->options, "fairpayd", NULL };
	dc->pg = PQconnectStartParams(keys, values, 1);
	if (dc->pg == NULL) {
		dbc_broken(dc, "out of memory");
		return;
	}
	if (PQstatus(dc->pg) == CONNECTION_BAD) {
		dbc_broken(dc, PQerrorMessage(dc->pg));
		return;
	}
	PQsetNoticeReceiver(dc->pg, dbc_notice, dc);
	dbc_poll_wait(dc, PGRES_POLLING_WRITING);
}

/* The pool's number for a statement text, registering it; -1 when the
 * registry is full (the text is then sent unprepared). */
static int pool_statement(db_pool *p, const char *sql)
{
	for (int i = 0; i < p->n_statements; i++)
		if (p->statements[i] == sql)
			return i;
	if (p->n_statements == DB_STATEMENTS_MAX)
		return -1;
	p->statements[p->n_statements] = sql;
	return p->n_statements++;
}

/* r leaves the queue: its wait there is measured (once: a write sent
 * again alone waited once). */
static void req_dequeued(db_req *r)
{
	if (r->queued_ns == 0)
		return;
	metrics_add(METRIC_DB_QUEUE_WAIT_NS, (uint64_t)(clock_mono_ns() - r->queued_ns));
	metrics_add(METRIC_DB_QUEUE_WAITS, 1);
	r->queued_ns = 0;
}

static int dbc_send_one(db_conn *dc, db_req *r, bool sync)
{
	/* Each text is parsed and planned once per connection (generic
	 * plans: plan_cache_mode is set for the session), then only bound and
	 * executed: the database's CPU goes to the work, not to the SQL. */
	int id = pool_statement(dc->pool, r->sql);
	char name[16];
	snprintf(name, sizeof(name), "fp%d", id);
	r->preparing = false;
	r->stmt_id = id;
	req_dequeued(r);
	if (id >= 0 && !dc->prepared[id]) {
		if (!PQsendPrepare(dc->pg, name, r->sql, r->nparams, NULL))
			return -1;
		dc->prepared[id] = true;
		r->preparing = true;
	}
	int ok = id >= 0 ? PQsendQueryPrepared(dc->pg, name, r->nparams,
					       (const char *const *)r->params, NULL, NULL, 0)
			 : PQsendQueryParams(dc->pg, r->sql, r->nparams, NULL,
					     (const char *const *)r->params, NULL, NULL, 0);
	if (!ok || (sync && !PQpipelineSync(dc->pg)))
		return -1;
	r->last_in_group = sync;
	r->ended = false;
	r->next = NULL;
	if (dc->tail)
		dc->tail->next = r;
	else
		dc->head = r;
	dc->tail = r;
	dc->inflight++;
	return 0;
}

static int dbc_send(db_conn *dc, db_req *r)
{
	return dbc_send_one(dc, r, true);
}

static int lock_key_cmp(const void *a, const void *b)
{
	const db_req *x = *(db_req *const *)a, *y = *(db_req *const *)b;
	const char *kx = x->lock_key ? x->lock_key : "", *ky = y->lock_key ? y->lock_key : "";
	return strcmp(kx, ky);
}

/* True when a set write of r's text and lock key is among group[0..n). */
static bool group_has_key(db_req *const *group, int n, const db_req *r)
{
	for (int i = 0; i < n; i++)
		if (group[i]->set && group[i]->sql == r->sql &&
		    strcmp(group[i]->lock_key, r->lock_key) == 0)
			return true;
	return false;
}

/* The carrier of set writes of sql among stmts[0..ns), or -1. */
static int carrier_of(db_req *const *stmts, int ns, const char *sql)
{
	for (int k = 0; k < ns; k++)
		if (stmts[k]->members != NULL && stmts[k]->sql == sql)
			return k;
	return -1;
}

/* Free the carriers among stmts[0..ns) (those with a last member in
 * tails[]), unlinking their members, which stay as they were. */
static void carriers_undo(db_req **stmts, db_req *const *tails, int ns)
{
	for (int i = 0; i < ns; i++) {
		if (tails[i] == NULL)
			continue;
		for (db_req *m = stmts[i]->members; m != NULL;) {
			db_req *next = m->next_member;
			m->next_member = NULL;
			m = next;
		}
		stmts[i]->members = NULL;
		req_free(stmts[i]);
	}
}

/* Turn a group's members (in lock-key order) into its statements: the set
 * writes of one text go into one carrier, in that order (pool_dispatch lets
 * no lock key into a group twice, so its items lock their rows in key
 * order); other writes go as they are. Returns the number of statements,
 * or -1 when out of memory (the members are then as they were). */
static int group_statements(db_pool *p, db_req **group, int n, db_req **stmts)
{
	db_req *tails[DB_GROUP_MAX] = { NULL }; /* a carrier's last member; NULL: none */
	int ns = 0;
	for (int i = 0; i < n; i++) {
		db_req *r = group[i];
		int k = r->set ? carrier_of(stmts, ns, r->sql) : -1;
		if (!r->set) {
			stmts[ns++] = r;
		} else if (k < 0) {
			db_req *c = calloc(1, sizeof(*c));
			if (c == NULL) {
				carriers_undo(stmts, tails, ns);
				return -1;
			}
			c->sql = r->sql;
			c->nparams = 1;
			c->write = true;
			c->seq = ++p->next_seq;
			c->members = r;
			c->n_members = 1;
			tails[ns] = r;
			stmts[ns++] = c;
		} else {
			tails[k]->next_member = r;
			tails[k] = r;
			stmts[k]->n_members++;
		}
	}
	/* Each carrier's parameter: the JSON array of its members' items. */
	for (int i = 0; i < ns; i++) {
		db_req *c = stmts[i];
		if (tails[i] == NULL)
			continue;
		size_t len = 2;
		for (db_req *m = c->members; m != NULL; m = m->next_member)
			len += strlen(m->params[0]) + 1;
		c->params = malloc(sizeof(char *) + len);
		if (c->params == NULL) {
			carriers_undo(stmts, tails, ns);
			return -1;
		}
		char *out = (char *)(c->params + 1);
		c->params[0] = out;
		*out++ = '[';
		for (db_req *m = c->members; m != NULL; m = m->next_member) {
			size_t l = strlen(m->params[0]);
			memcpy(out, m->params[0], l);
			out += l;
			*out++ = m->next_member != NULL ? ',' : ']';
		}
		*out = '\0';
	}
	for (int i = 0; i < n; i++)
		if (group[i]->set)
			req_dequeued(group[i]);
	return ns;
}

static db_conn *pool_pick(db_pool *p)
{
	db_conn *best = NULL;
	for (int i = 0; i < p->size; i++) {
		db_conn *dc = &p->conns[i];
		if (dc->state == DBC_READY && dc->inflight < p->depth &&
		    (best == NULL || dc->inflight < best->inflight))
			best = dc;
	}
	return best;
}

/* Send pending queries while some connection has room. */
static void pool_dispatch(db_pool *p)
{
	db_conn *touched[64];
	int ntouched = 0;
	while (p->pend_head != NULL) {
		db_conn *dc = pool_pick(p);
		if (dc == NULL)
			break;
		db_req *r = p->pend_head;
		p->pend_head = r->next;
		if (p->pend_head == NULL)
			p->pend_tail = NULL;
		if (dbc_send(dc, r) != 0) {
			/* Put it back first: the connection's failure must
			 * not lose a query that was never sent. */
			r->next = p->pend_head;
			p->pend_head = r;
			if (p->pend_tail == NULL)
				p->pend_tail = r;
			dbc_broken(dc, PQerrorMessage(dc->pg));
			continue;
		}
		int seen = 0;
		for (int i = 0; i < ntouched; i++)
			seen |= touched[i] == dc;
		if (!seen && ntouched < 64)
			touched[ntouched++] = dc;
	}
	/* Writes: one group at a time per connection, as many as are waiting
	 * (up to DB_GROUP_MAX) in one transaction, so that they share its
	 * commit. Members are sent in lock-key order, so that two groups
	 * never wait for each other's rows in opposite orders. A write whose
	 * group failed goes alone. */
	while (p->wpend_head != NULL) {
		db_conn *dc = NULL;
		for (int i = 0; i < p->size; i++) {
			db_conn *c = &p->conns[i];
			if (c->state == DBC_READY && c->write_groups == 0 &&
			    c->inflight < p->depth && (dc == NULL || c->inflight < dc->inflight))
				dc = c;
		}
		if (dc == NULL)
			break;
		db_req *group[DB_GROUP_MAX] = { NULL };
		int n = 0;
		db_req **link = &p->wpend_head, *prev = NULL;
		int held = 0; /* set writes passed over for the next group */
		while (*link != NULL && n < DB_GROUP_MAX && held < DB_GROUP_MAX &&
		       dc->inflight + n < p->depth) {
			db_req *r = *link;
			if (n > 0 && r->solo)
				break;
			/* A second set write of one lock key waits for the next
			 * group: in this one it would lock after the statement
			 * that locked the others, out of key order. */
			if (r->set && group_has_key(group, n, r)) {
				/* Bounded: a queue full of one customer's
				 * changes is not scanned to its end each time. */
				held++;
				prev = r;
				link = &r->next;
				continue;
			}
			*link = r->next;
			if (p->wpend_tail == r)
				p->wpend_tail = prev;
			r->next = NULL;
			group[n++] = r;
			if (r->solo)
				break;
		}
		if (n > 1)
			qsort(group, (size_t)n, sizeof(group[0]), lock_key_cmp);
		db_req *stmts[DB_GROUP_MAX] = { NULL };
		int ns = group_statements(p, group, n, stmts);
		if (ns < 0) {
			/* Out of memory: they wait for the next round (or their
			 * deadline). */
			for (int i = n - 1; i >= 0; i--)
				queue_front(&p->wpend_head, &p->wpend_tail, group[i]);
			break;
		}
		int sent = 0;
		for (; sent < ns; sent++)
			if (dbc_send_one(dc, stmts[sent], sent == ns - 1) != 0)
				break;
		if (sent < ns) {
			/* Unsent statements go back (a carrier as its members);
			 * the sent ones fail with the connection (their
			 * transaction never committed). */
			for (int i = ns - 1; i >= sent; i--) {
				db_req *st = stmts[i];
				if (st->members == NULL) {
					queue_front(&p->wpend_head, &p->wpend_tail, st);
					continue;
				}
				db_req *ms[DB_GROUP_MAX];
				int k = 0;
				for (db_req *m = st->members; m != NULL; m = m->next_member)
					ms[k++] = m;
				while (k > 0) {
					ms[--k]->next_member = NULL;
					queue_front(&p->wpend_head, &p->wpend_tail, ms[k]);
				}
				st->members = NULL;
				req_free(st);
			}
			dbc_broken(dc, PQerrorMessage(dc->pg));
			continue;
		}
		dc->write_groups++;
		int seen = 0;
		for (int i = 0; i < ntouched; i++)
			seen |= touched[i] == dc;
		if (!seen && ntouched < 64)
			touched[ntouched++] = dc;
	}
	/* One flush per connection per round: the queries of a burst leave in
	 * as few writes as possible. */
	for (int i = 0; i < ntouched; i++)
		if (touched[i]->state == DBC_READY)
			(void)dbc_flush(touched[i]);
}

static void pool_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	db_pool *p = arg;
	db_req *r = p->done_head;
	p->done_head = p->done_tail = NULL;
	while (r != NULL) {
		db_req *next = r->next;
		req_run(r, DB_UNAVAILABLE);
		r = next;
	}
	pool_dispatch(p);
}

static void pool_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	db_pool *p = arg;
	int64_t now = clock_mono_ms();
	db_req **heads[2] = { &p->pend_head, &p->wpend_head };
	db_req **tails[2] = { &p->pend_tail, &p->wpend_tail };
	for (int k = 0; k < 2; k++) {
		db_req **link = heads[k];
		db_req *last = NULL;
		while (*link != NULL) {
			db_req *r = *link;
			if (r->deadline_ms <= now) {
				*link = r->next;
				req_defer(p, r);
			} else {
				last = r;
				link = &r->next;
			}
		}
		*tails[k] = last;
	}
	tenants_expire(p, now);
	pool_check_heads(p, now);
}

/* ---------------------------------------------------------------- LISTEN
 *
 * One more connection, outside the pipeline, that only listens:
 *   CONNECTING -> LISTENING (LISTEN sent) -> READY -> (lost) -> WAITING ...
 * The callback hears every notification on the channel, whether one of this
 * pool's own sessions sent it, and NULL whenever the channel is lost (what
 * was announced meanwhile is unknown) or "" once it is listening again. */
typedef enum dbl_state {
	DBL_WAITING = 0,
	DBL_CONNECTING,
	DBL_LISTENING,
	DBL_READY
} dbl_state;

typedef struct db_listener {
	db_pool *pool;
	char *channel;
	db_notify_cb cb;
	void *arg;
	dbl_state state;
	PGconn *pg;
	struct event *io;
	struct event *retry;
	int backoff_ms;
} db_listener;

static void dbl_connect(db_listener *l);

static void dbl_lost(db_listener *l, const char *why)
{
	bool was_ready = l->state == DBL_READY;
	if (was_ready)
		log_warn(0, "database notifications lost: %.200s", why);
	event_del(l->io);
	PQfinish(l->pg);
	l->pg = NULL;
	l->state = DBL_WAITING;
	l->cb(l->arg, NULL, false);
	struct timeval tv = { l->backoff_ms / 1000, (l->backoff_ms % 1000) * 1000 };
	l->backoff_ms =
		l->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : l->backoff_ms * 2;
	event_add(l->retry, &tv);
}

static bool pool_owns_backend(const db_pool *p, int pid)
{
	for (int i = 0; i < p->size; i++)
		if (p->conns[i].state == DBC_READY && PQbackendPID(p->conns[i].pg) == pid)
			return true;
	return false;
}

static void dbl_io_cb(evutil_socket_t fd, short what, void *arg)
{
	db_listener *l = arg;
	if (what & EV_TIMEOUT) {
		dbl_lost(l, "connect timed out");
		return;
	}
	if (l->state == DBL_CONNECTING) {
		PostgresPollingStatusType st = PQconnectPoll(l->pg);
		if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
			struct timeval tv = { DB_CONNECT_TIMEOUT_S, 0 };
			event_del(l->io);
			event_assign(l->io, l->pool->base, PQsocket(l->pg),
				     st == PGRES_POLLING_READING ? EV_READ : EV_WRITE, dbl_io_cb,
				     l);
			event_add(l->io, &tv);
			return;
		}
		if (st != PGRES_POLLING_OK) {
			dbl_lost(l, PQerrorMessage(l->pg));
			return;
		}
		char *ch = PQescapeIdentifier(l->pg, l->channel, strlen(l->channel));
		char sql[160];
		snprintf(sql, sizeof(sql), "LISTEN %s", ch ? ch : "fairpay");
		PQfreemem(ch);
		if (!PQsendQuery(l->pg, sql)) {
			dbl_lost(l, PQerrorMessage(l->pg));
			return;
		}
		l->state = DBL_LISTENING;
		event_del(l->io);
		event_assign(l->io, l->pool->base, PQsocket(l->pg), EV_READ | EV_PERSIST, dbl_io_cb,
			     l);
		event_add(l->io, NULL);
		return;
	}
	if (!PQconsumeInput(l->pg)) {
		dbl_lost(l, PQerrorMessage(l->pg));
		return;
	}
	while (l->state == DBL_LISTENING && !PQisBusy(l->pg)) {
		PGresult *res = PQgetResult(l->pg);
		if (res == NULL) {
			l->state = DBL_READY;
			l->backoff_ms = DB_BACKOFF_MIN_MS;
			l->cb(l->arg, "", false);
			break;
		}
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (!ok) {
			dbl_lost(l, PQerrorMessage(l->pg));
			return;
		}
	}
	PGnotify *n;
	while (l->state == DBL_READY && (n = PQnotifies(l->pg)) != NULL) {
		l->cb(l->arg, n->extra, pool_owns_backend(l->pool, n->be_pid));
		PQfreemem(n);
	}
	if (l->state != DBL_WAITING && PQstatus(l->pg) == CONNECTION_BAD)
		dbl_lost(l, PQerrorMessage(l->pg));
}

static void dbl_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	dbl_connect(arg);
}

static void dbl_connect(db_listener *l)
{
	const char *const keys[] = { "dbname", "options", "fallback_application_name", NULL };
	const char *const values[] = { l->pool->conninfo, l->pool->options, "fairpayd", NULL };
	l->pg = PQconnectStartParams(keys, values, 1);
	if (l->pg == NULL || PQstatus(l->pg) == CONNECTION_BAD) {
		dbl_lost(l, l->pg ? PQerrorMessage(l->pg) : "out of memory");
		return;
	}
	l->state = DBL_CONNECTING;
	struct timeval tv = { DB_CONNECT_TIMEOUT_S, 0 };
	event_assign(l->io, l->pool->base, PQsocket(l->pg), EV_WRITE, dbl_io_cb, l);
	event_add(l->io, &tv);
}

static void dbl_free(db_listener *l)
{
	if (l == NULL)
		return;
	if (l->io)
		event_free(l->io);
	if (l->retry)
		event_free(l->retry);
	PQfinish(l->pg);
	free(l->channel);
	free(l);
}

int db_listen(db_pool *p, const char *channel, db_notify_cb cb, void *arg)
{
	if (p->listener != NULL)
		return -1;
	db_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -1;
	l->pool = p;
	l->cb = cb;
	l->arg = arg;
	l->backoff_ms = DB_BACKOFF_MIN_MS;
	l->channel = strdup(channel);
	l->io = event_new(p->base, -1, 0, NULL, NULL);
	l->retry = evtimer_new(p->base, dbl_retry_cb, l);
	if (l->channel == NULL || l->io == NULL || l->retry == NULL) {
		dbl_free(l);
		return -1;
	}
	p->listener = l;
	dbl_connect(l);
	return 0;
}

db_pool *db_pool_new(struct event_base *base, const db_options *opts)
{
	db_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base = base;
	p->size = opts->pool_size;
	p->depth = opts->pipeline_depth;
	p->timeout_ms = opts->timeout_ms;
	/* A commit is bounded like a statement: what statement_timeout does not
	 * cover of it (the wait for the standby), the pool's cancel does. */
	p->cancel_after_ms = opts->statement_timeout_ms > 0
				     ? opts->statement_timeout_ms + DB_CANCEL_GRACE_MS
				     : 0;
	/* At least one query each, whatever the share; 0: no share at all. */
	p->tenant_share = (unsigned)((int64_t)p->size * p->depth * opts->tenant_share_pct / 100);
	if (opts->tenant_share_pct == 0)
		p->tenant_share = UINT_MAX;
	else if (p->tenant_share < 1)
		p->tenant_share = 1;
	p->conninfo = strdup(opts->conninfo ? opts->conninfo : "");
	/* Every statement is bounded, so that one slow call or a lock held
	 * elsewhere cannot hold a pool connection's queue for long. No JIT:
	 * generic plans of the whole-history reads (GetInsights) estimate
	 * enough rows to start it, and compiling costs seconds here where
	 * running costs milliseconds. */
	size_t olen = (opts->role ? strlen(opts->role) : 0) + 160;
	p->options = malloc(olen);
	if (p->options != NULL) {
		int w = snprintf(p->options, olen,
				 "-c statement_timeout=%d -c lock_timeout=%d"
				 " -c plan_cache_mode=force_generic_plan -c jit=off",
				 opts->statement_timeout_ms, opts->lock_timeout_ms);
		if (opts->role != NULL && opts->role[0] != '\0' && w > 0)
			snprintf(p->options + w, olen - (size_t)w, " -c role=%s", opts->role);
	}
	p->conns = calloc((size_t)p->size, sizeof(db_conn));
	p->kick = event_new(base, -1, 0, pool_kick_cb, p);
	p->tick = event_new(base, -1, EV_PERSIST, pool_tick_cb, p);
	if (p->conninfo == NULL || p->options == NULL || p->conns == NULL || p->kick == NULL ||
	    p->tick == NULL)
		goto fail;
	struct timeval tv = { 0, DB_TICK_MS * 1000 };
	event_add(p->tick, &tv);
	p->down_since_ms = clock_mono_ms();
	for (int i = 0; i < p->size; i++) {
		db_conn *dc = &p->conns[i];
		dc->pool = p;
		dc->index = i;
		dc->backoff_ms = DB_BACKOFF_MIN_MS;
		dc->io = event_new(base, -1, 0, NULL, NULL);
		dc->wev = event_new(base, -1, 0, NULL, NULL);
		dc->retry = evtimer_new(base, dbc_retry_cb, dc);
		if (dc->io == NULL || dc->wev == NULL || dc->retry == NULL)
			goto fail;
	}
	for (int i = 0; i < p->size; i++)
		dbc_connect(&p->conns[i]);
	return p;
fail:
	db_pool_free(p);
	return NULL;
}

void db_pool_free(db_pool *p)
{
	if (p == NULL)
		return;
	p->freeing = true;
	dbl_free(p->listener);
	p->listener = NULL;
	for (int i = 0; p->conns != NULL && i < p->size; i++) {
		db_conn *dc = &p->conns[i];
		if (dc->io)
			event_free(dc->io);
		if (dc->wev)
			event_free(dc->wev);
		if (dc->retry)
			event_free(dc->retry);
		PQfinish(dc->pg);
		db_req *r = dc->head;
		while (r != NULL) {
			db_req *next = r->next;
			req_run(r, DB_UNAVAILABLE);
			r = next;
		}
	}
	db_req *lists[3] = { p->pend_head, p->wpend_head, p->done_head };
	for (int k = 0; k < 3; k++) {
		db_req *r = lists[k];
		while (r != NULL) {
			db_req *next = r->next;
			req_run(r, DB_UNAVAILABLE);
			r = next;
		}
	}
	/* What is left: queries held back by their tenant's share. */
	for (size_t i = 0; i < DB_TENANT_SLOTS; i++) {
		while (p->tenants[i] != NULL) {
			db_tenant *t = p->tenants[i];
			db_req *r = t->held_head;
			p->tenants[i] = t->next; /* tenant_forget(), knowing the bucket */
			free(t);
			while (r != NULL) {
				db_req *next = r->next;
				r->tenant = NULL;
				req_run(r, DB_UNAVAILABLE);
				r = next;
			}
		}
	}
	if (p->kick)
		event_free(p->kick);
	if (p->tick)
		event_free(p->tick);
	free(p->conns);
	free(p->conninfo);
	free(p->options);
	free(p);
}

static int pool_enqueue(db_pool *p, const char *tenant, const char *sql, int nparams,
			const char *const *params, db_cb cb, void *arg, const char *lock_key,
			bool set)
{
	if (p->freeing)
		return -1;
	size_t bytes = (size_t)nparams * sizeof(char *);
	for (int i = 0; i < nparams; i++)
		bytes += params[i] ? strlen(params[i]) + 1 : 0;
	db_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	if ((nparams > 0 && (r->params = malloc(bytes)) == NULL) ||
	    (lock_key != NULL && (r->lock_key = strdup(lock_key)) == NULL) ||
	    (tenant != NULL && (r->tenant = tenant_get(p, tenant)) == NULL)) {
		req_free(r);
		return -1;
	}
	char *store = (char *)(r->params + nparams);
	for (int i = 0; i < nparams; i++) {
		if (params[i] == NULL) {
			r->params[i] = NULL;
			continue;
		}
		size_t len = strlen(params[i]) + 1;
		memcpy(store, params[i], len);
		r->params[i] = store;
		store += len;
	}
	r->sql = sql;
	r->nparams = nparams;
	r->cb = cb;
	r->arg = arg;
	r->write = lock_key != NULL;
	r->set = set;
	r->deadline_ms = clock_mono_ms() + p->timeout_ms - DB_TICK_MS;
	r->queued_ns = clock_mono_ns();
	r->seq = ++p->next_seq;
	metrics_move(METRIC_DB_INFLIGHT, 1);
	tenant_admit(p, r);
	/* Sending happens on the next loop turn too: a burst of queries from
	 * one read callback then leaves in one flush (and writes in one
	 * group). */
	event_active(p->kick, EV_TIMEOUT, 0);
	return 0;
}

int db_query(db_pool *p, const char *sql, int nparams, const char *const *params, db_cb cb,
	     void *arg)
{
	return pool_enqueue(p, NULL, sql, nparams, params, cb, arg, NULL, false);
}

int db_query_for(db_pool *p, const char *tenant, const char *sql, int nparams,
		 const char *const *params, db_cb cb, void *arg)
{
	return pool_enqueue(p, tenant, sql, nparams, params, cb, arg, NULL, false);
}

int db_write(db_pool *p, const char *sql, int nparams, const char *const *params,
	     const char *lock_key, db_cb cb, void *arg)
{
	return pool_enqueue(p, NULL, sql, nparams, params, cb, arg, lock_key ? lock_key : "",
			    false);
}

int db_write_for(db_pool *p, const char *tenant, const char *sql, int nparams,
		 const char *const *params, const char *lock_key, db_cb cb, void *arg)
{
	return pool_enqueue(p, tenant, sql, nparams, params, cb, arg, lock_key ? lock_key : "",
			    false);
}

int db_write_set(db_pool *p, const char *sql, const char *item, const char *lock_key, db_cb cb,
		 void *arg)
{
	return pool_enqueue(p, NULL, sql, 1, &item, cb, arg, lock_key ? lock_key : "", true);
}

int db_write_set_for(db_pool *p, const char *tenant, const char *sql, const char *item,
		     const char *lock_key, db_cb cb, void *arg)
{
	return pool_enqueue(p, tenant, sql, 1, &item, cb, arg, lock_key ? lock_key : "", true);
}

uint64_t db_tenant_holds(const db_pool *p)
{
	return p->tenant_holds;
}

int db_ready_count(const db_pool *p)
{
	int n = 0;
	for (int i = 0; i < p->size; i++)
		n += p->conns[i].state == DBC_READY;
	return n;
}

void db_write_counts(const db_pool *p, uint64_t *writes, uint64_t *commits)
{
	*writes = p ? p->writes_committed : 0;
	*commits = p ? p->write_commits : 0;
}
