/* The timed sweeper (see sweep.h). */
#include "sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache.h"
#include "clock.h"
#include "facts.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

/* One round: expire, then default (the rules in C, one write per
 * customer), then drop old idempotency records. */
struct sweeper {
	struct event_base *base;
	db_pool *db;
	cache *cache;
	int64_t batch;
	char expire_facts[FACTS_TEXT_LEN]; /* what an expiry adds to the insights */
	struct event *timer;               /* NULL once freed */
	bool sweeping;                     /* a round is in flight */
	bool stopping;
	bool freed; /* sweep_free() came during a round: the round frees it */
	sweep_idle_cb idle;
	void *idle_arg;
};

typedef struct sweep_round {
	sweeper *s;
	long long expired, defaulted, removed;
	int writes_pending;
	bool full; /* a step took a whole batch: more are due */
} sweep_round;

/* One default being written. */
typedef struct sweep_default {
	sweep_round *round;
	store_state st;
	store_rep after;
	store_offer offer;
	store_stmt stmt;
	char detail[2][320];
	char keys[2][STORE_KEY_LEN]; /* the reputation's and the offer's */
	char *notify;
} sweep_default;

static void round_end(sweep_round *r)
{
	sweeper *s = r->s;
	bool r_full = r->full;
	s->sweeping = false;
	metrics_add(METRIC_SWEEP_ROUNDS, 1);
	metrics_set(METRIC_SWEEP_LAST_MS, clock_wall_ms());
	if (r->expired || r->defaulted || r->removed)
		log_info(0,
			 "sweep: %lld offers expired, %lld defaulted, %lld idempotency records "
			 "removed",
			 r->expired, r->defaulted, r->removed);
	free(r);
	if (s->freed) {
		free(s);
		return;
	}
	/* A full batch means more are due: go on without waiting a tick. */
	if (!s->stopping) {
		if (r_full)
			event_active(s->timer, EV_TIMEOUT, 0);
	} else if (s->idle != NULL) {
		s->idle(s->idle_arg);
	}
}

static void idem_done(void *arg, db_status st, PGresult *res)
{
	sweep_round *r = arg;
	if (st == DB_OK) {
		r->removed = db_get_i64(res, 0, 0);
		r->full |= r->removed >= r->s->batch;
	} else if (st == DB_ERROR) {
		char e[LOG_ESCAPE_SIZE];
		log_error(0, "sweep (idempotency) failed: %s",
			  log_escape(e, PQresultErrorMessage(res)));
	}
	round_end(r);
}

static void step_idem(sweep_round *r)
{
	char batch[16];
	snprintf(batch, sizeof(batch), "%lld", (long long)r->s->batch);
	const char *params[] = { batch };
	if (db_query(r->s->db, store_sql_idem_expire, 1, params, idem_done, r) != 0)
		round_end(r);
}

static void default_written(void *arg, db_status st, PGresult *res)
{
	sweep_default *d = arg;
	sweep_round *r = d->round;
	if (st == DB_OK && PQntuples(res) == 1 && db_get_i64(res, 0, STORE_WRITE_OK) == 1)
		r->defaulted++;
	else if (st == DB_ERROR) {
		char e[LOG_ESCAPE_SIZE];
		log_error(0, "sweep (default of %s) failed: %s", d->offer.id,
			  log_escape(e, PQresultErrorMessage(res)));
	}
	/* 0: the customer changed since the read; the next round sees it.
	 * Either way this server forgets the rows (the next read fills them). */
	cache_del(r->s->cache, d->keys[0]);
	cache_del(r->s->cache, d->keys[1]);
	free(d->notify);
	store_stmt_free(&d->stmt);
	store_state_free(&d->st);
	free(d);
	if (--r->writes_pending == 0)
		step_idem(r);
}

/* Rules 7 and 11: the unpaid cycle closes with fairness 0 and one open
 * default; FairPay credit it held is released. */
static int default_one(sweep_round *r, const PGresult *res, int row)
{
	sweep_default *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -1;
	d->round = r;
	if (store_read_state(res, row, &d->st) != 0 || !d->st.offer_found || !d->st.rep.exists) {
		store_state_free(&d->st);
		free(d);
		return -1;
	}
	store_apply_seed(&d->st);
	const fp_policy *pol = &d->st.policy;
	const store_offer *o = &d->st.offer;
	int64_t t = store_next_us(&d->st.rep, clock_wall_us());
	store_rep *a = &d->after;
	*a = d->st.rep;
	a->defaults = a->defaults < INT32_MAX ? a->defaults + 1 : INT32_MAX;
	a->open_defaults = a->open_defaults < INT32_MAX ? a->open_defaults + 1 : INT32_MAX;
	if (fp_mode_is_fairpay(o->mode))
		a->credit_used_minor = a->credit_used_minor > o->suggested_price_minor
					       ? a->credit_used_minor - o->suggested_price_minor
					       : 0;
	a->score_bp = fp_score_step(a->score_bp, 0, pol->alpha_bp);
	a->updated_us = t;
	d->offer = *o;
	d->offer.status = FP_OFFER_STATUS_DEFAULTED;
	snprintf(d->detail[0], sizeof(d->detail[0]), "unpaid, suggested %lld",
		 (long long)o->suggested_price_minor);
	store_reputation_detail(d->detail[1], sizeof(d->detail[1]), pol, &d->st.rep, a);
	store_cycle_entry ck;
	store_checkpoint_append(pol, &d->st.rep, a, &ck, o->id, true, 0);
	store_change ch = { 0 };
	ch.rep = (store_rep_write){ o->vendor_id, o->customer_id, &d->st.rep, a,
				    pol->prior_score_bp };
	ch.checkpoints = &ck;
	ch.n_checkpoints = 1;
	ch.update_offer = &d->offer;
	ch.update_offer_from = FP_OFFER_STATUS_ACCEPTED;
	ch.update_offer_closed_us = t;
	ch.events[0] = (store_event){ "OFFER_DEFAULTED", o->id, NULL, d->detail[0] };
	ch.events[1] = (store_event){ "REPUTATION_CHANGED", o->id, NULL, d->detail[1] };
	ch.at_us = t;
	store_key_rep(d->keys[0], sizeof(d->keys[0]), o->vendor_id, o->customer_id);
	store_key_offer(d->keys[1], sizeof(d->keys[1]), o->vendor_id, o->id);
	json_t *keys = json_pack("[ss]", d->keys[0], d->keys[1]);
	d->notify = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
	json_decref(keys);
	ch.notify = d->notify;
	store_write(&d->stmt, &ch);
	char lock_key[STORE_CUSTOMER_LEN + 40];
	snprintf(lock_key, sizeof(lock_key), "%s/%s", o->vendor_id, o->customer_id);
	if (db_write_set(r->s->db, d->stmt.sql, d->stmt.params[0], lock_key, default_written, d) !=
	    0) {
		free(d->notify);
		store_stmt_free(&d->stmt);
		store_state_free(&d->st);
		free(d);
		return -1;
	}
	r->writes_pending++;
	return 0;
}

static void defaults_loaded(void *arg, db_status st, PGresult *res)
{
	sweep_round *r = arg;
	if (st != DB_OK) {
		char e[LOG_ESCAPE_SIZE];
		if (st == DB_ERROR)
			log_error(0, "sweep (defaults) failed: %s",
				  log_escape(e, PQresultErrorMessage(res)));
		step_idem(r);
		return;
	}
	int n = PQntuples(res);
	r->full |= n >= r->s->batch;
	for (int i = 0; i < n; i++)
		if (default_one(r, res, i) != 0)
			log_error(0, "sweep: could not default an offer (row %d)", i);
	if (r->writes_pending == 0)
		step_idem(r);
}

static void expire_done(void *arg, db_status st, PGresult *res)
{
	sweep_round *r = arg;
	if (st == DB_OK) {
		r->expired = PQntuples(res);
		r->full |= r->expired >= r->s->batch;
		/* Other servers hear of it; this one forgets at once. */
		char key[STORE_KEY_LEN];
		for (int i = 0; i < PQntuples(res); i++) {
			store_key_offer(key, sizeof(key), db_get_str(res, i, 0),
					db_get_str(res, i, 1));
			cache_del(r->s->cache, key);
		}
	} else if (st == DB_ERROR) {
		char e[LOG_ESCAPE_SIZE];
		log_error(0, "sweep (expiry) failed: %s", log_escape(e, PQresultErrorMessage(res)));
	}
	char batch[16];
	snprintf(batch, sizeof(batch), "%lld", (long long)r->s->batch);
	const char *params[] = { batch };
	if (db_query(r->s->db, store_sql_load_due_defaults, 1, params, defaults_loaded, r) != 0)
		step_idem(r);
}

static void sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	sweeper *s = arg;
	if (s->sweeping || s->stopping)
		return;
	sweep_round *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return;
	r->s = s;
	char batch[16];
	snprintf(batch, sizeof(batch), "%lld", (long long)s->batch);
	const char *params[] = { batch, s->expire_facts };
	if (db_write(s->db, store_sql_expire, 2, params, NULL, expire_done, r) != 0) {
		free(r);
		return;
	}
	s->sweeping = true;
}

sweeper *sweep_new(struct event_base *base, db_pool *db, cache *rows, int64_t interval_ms,
		   int64_t batch)
{
	sweeper *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->base = base;
	w->db = db;
	w->cache = rows;
	w->batch = batch;
	facts f = { { 0 } };
	facts_offer(&f, FP_OFFER_STATUS_EXPIRED, 1);
	facts_offer(&f, FP_OFFER_STATUS_OPEN, -1);
	if (facts_format(&f, w->expire_facts, sizeof(w->expire_facts)) != 0) {
		free(w);
		return NULL;
	}
	w->timer = event_new(base, -1, EV_PERSIST, sweep_tick, w);
	if (w->timer == NULL) {
		free(w);
		return NULL;
	}
	struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };
	event_add(w->timer, &tv);
	return w;
}

void sweep_stop(sweeper *w, sweep_idle_cb idle, void *arg)
{
	if (w == NULL)
		return;
	w->stopping = true;
	w->idle = idle;
	w->idle_arg = arg;
	event_del(w->timer);
}

bool sweep_busy(const sweeper *w)
{
	return w != NULL && w->sweeping;
}

void sweep_free(sweeper *w)
{
	if (w == NULL)
		return;
	event_free(w->timer);
	w->timer = NULL;
	w->stopping = true;
	w->idle = NULL;
	if (w->sweeping) {
		w->freed = true;
		return;
	}
	free(w);
}
