/* The db.h interface with no database behind it (see db_stub.h). The fuzz
 * targets link the server's modules with this file instead of db.c, so
 * requests reach their handlers and nothing leaves the process. */
#include "db_stub.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "db.h"
#include "fp_rules.h"
#include "names.h"
#include "text.h"

/* A chain longer than this (a callback that queues again and again) is a
 * bug in the caller: PutPolicy, the longest, needs four. */
#define STUB_CHAIN_MAX 64

typedef enum stub_answer {
	ANSWER_UNAVAILABLE = 0,
	ANSWER_POLICY,
	ANSWER_IDEM_NEW
} stub_answer;

typedef struct stub_req {
	struct stub_req *next;
	stub_answer answer;
	db_cb cb;
	void *arg;
} stub_req;

struct db_pool {
	int unused;
};

static db_stub_mode mode = DB_STUB_REFUSE;
static stub_req *queue_head, *queue_tail;
static size_t queued;
static size_t asked; /* db_query() calls, refused ones too */

void db_stub_set_mode(db_stub_mode m)
{
	mode = m;
}

size_t db_stub_pending(void)
{
	return queued;
}

size_t db_stub_asked(void)
{
	return asked;
}

db_pool *db_pool_new(struct event_base *base, const db_options *opts)
{
	return calloc(1, sizeof(db_pool));
}

void db_pool_free(db_pool *pool)
{
	free(pool);
}

/* The few queries whose answer lets a call go further than a refusal. */
static stub_answer answer_for(const char *sql)
{
	static const char policy_read[] = "SELECT " STORE_POLICY_COLS " FROM policies WHERE";
	if (strncmp(sql, policy_read, sizeof(policy_read) - 1) == 0)
		return ANSWER_POLICY;
	/* The idempotency look-up: no record, so the call runs. */
	if (strstr(sql, "FROM idempotency") != NULL && strncmp(sql, "SELECT call,", 12) == 0)
		return ANSWER_IDEM_NEW;
	return ANSWER_UNAVAILABLE;
}

int db_query(db_pool *pool, const char *sql, int nparams, const char *const *params, db_cb cb,
	     void *arg)
{
	/* The real pool copies every parameter here: read them all, so that
	 * a parameter that is not a valid string shows under ASan. */
	size_t total = strlen(sql);
	for (int i = 0; i < nparams; i++) {
		size_t len = params[i] ? strlen(params[i]) : 0;
		/* PostgreSQL refuses a text parameter that is not UTF-8 with an
		 * ERROR: validation must have stopped it. */
		if (!text_valid_utf8(params[i], len)) {
			fprintf(stderr, "db_stub: parameter $%d is not UTF-8\n", i + 1);
			abort();
		}
		total += len;
	}
	if (pool == NULL || total == 0)
		abort(); /* a query without SQL or pool is a caller's bug */
	asked++;
	if (mode == DB_STUB_REFUSE)
		return -1;
	stub_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -1;
	r->answer = answer_for(sql);
	r->cb = cb;
	r->arg = arg;
	if (queue_tail)
		queue_tail->next = r;
	else
		queue_head = r;
	queue_tail = r;
	queued++;
	return 0;
}

int db_write(db_pool *pool, const char *sql, int nparams, const char *const *params,
	     const char *lock_key, db_cb cb, void *arg)
{
	return db_query(pool, sql, nparams, params, cb, arg);
}

int db_query_for(db_pool *pool, const char *tenant, const char *sql, int nparams,
		 const char *const *params, db_cb cb, void *arg)
{
	return db_query(pool, sql, nparams, params, cb, arg);
}

int db_write_for(db_pool *pool, const char *tenant, const char *sql, int nparams,
		 const char *const *params, const char *lock_key, db_cb cb, void *arg)
{
	return db_query(pool, sql, nparams, params, cb, arg);
}

int db_write_set(db_pool *pool, const char *sql, const char *item, const char *lock_key, db_cb cb,
		 void *arg)
{
	return db_query(pool, sql, 1, &item, cb, arg);
}

int db_write_set_for(db_pool *pool, const char *tenant, const char *sql, const char *item,
		     const char *lock_key, db_cb cb, void *arg)
{
	return db_query(pool, sql, 1, &item, cb, arg);
}

uint64_t db_tenant_holds(const db_pool *pool)
{
	return 0;
}

void db_write_counts(const db_pool *pool, uint64_t *writes, uint64_t *commits)
{
	*writes = 0;
	*commits = 0;
}

int db_listen(db_pool *pool, const char *channel, db_notify_cb cb, void *arg)
{
	return 0; /* nothing is ever announced: the cache stays off */
}

static PGresult *make_result(int ncols, const char *const *values)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	if (res == NULL)
		abort();
	PGresAttDesc attrs[32];
	char names[32][8];
	if (ncols > 32)
		abort();
	for (int i = 0; i < ncols; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		attrs[i] = (PGresAttDesc){
			.name = names[i], .format = 0, .typid = 25, .typlen = -1, .atttypmod = -1
		};
	}
	if (!PQsetResultAttrs(res, ncols, attrs))
		abort();
	for (int i = 0; i < ncols; i++) {
		const char *v = values[i];
		if (!PQsetvalue(res, 0, i, (char *)v, v ? (int)strlen(v) : -1))
			abort();
	}
	return res;
}

/* One row of STORE_POLICY_COLS holding the default policy, as stored. */
static PGresult *policy_row(void)
{
	fp_policy p;
	fp_policy_defaults(&p);
	p.version = 1;
	char v[STORE_POLICY_NCOLS][160];
	snprintf(v[0], sizeof(v[0]), "%s", names_of(NAMES_ENFORCEMENT, p.enforcement));
	snprintf(v[1], sizeof(v[1]), "%d", p.prior_score_bp);
	snprintf(v[2], sizeof(v[2]), "%d", p.alpha_bp);
	snprintf(v[3], sizeof(v[3]), "%d", p.probation_payments);
	snprintf(v[4], sizeof(v[4]), "%d", p.trusted_score_bp);
	snprintf(v[5], sizeof(v[5]), "%d", p.fair_score_bp);
	snprintf(v[6], sizeof(v[6]), "%d", p.low_score_bp);
	snprintf(v[7], sizeof(v[7]), "%d", p.generous_bp);
	snprintf(v[8], sizeof(v[8]), "%d", p.max_open_defaults);
	snprintf(v[9], sizeof(v[9]), "%d", p.restricted_minimum_bp);
	snprintf(v[10], sizeof(v[10]), "%lld", (long long)p.probation_credit_minor);
	snprintf(v[11], sizeof(v[11]), "%lld", (long long)p.standard_credit_minor);
	snprintf(v[12], sizeof(v[12]), "%lld", (long long)p.trusted_credit_minor);
	size_t used = 0;
	v[13][0] = '\0';
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++) {
		if (!(p.excusing_reasons & FP_REASON_BIT(r)))
			continue;
		used += (size_t)snprintf(v[13] + used, sizeof(v[13]) - used, "%s%s",
					 used ? "," : "", names_of(NAMES_PAYMENT_REASON, r));
	}
	snprintf(v[14], sizeof(v[14]), "%d", p.excused_floor_bp);
	snprintf(v[15], sizeof(v[15]), "%d", p.late_penalty_bp);
	snprintf(v[16], sizeof(v[16]), "%lld", (long long)p.offer_ttl_seconds);
	snprintf(v[17], sizeof(v[17]), "%lld", (long long)p.payment_window_seconds);
	snprintf(v[18], sizeof(v[18]), "%lld", (long long)p.version);
	snprintf(v[19], sizeof(v[19]), "%d", p.attestation_cap_bp);
	const char *values[STORE_POLICY_NCOLS];
	for (int i = 0; i < STORE_POLICY_NCOLS; i++)
		values[i] = v[i];
	return make_result(STORE_POLICY_NCOLS, values);
}

size_t db_stub_run(void)
{
	size_t answered = 0;
	while (queue_head != NULL) {
		if (answered >= STUB_CHAIN_MAX) {
			fprintf(stderr, "db_stub: more than %d queries for one request\n",
				STUB_CHAIN_MAX);
			abort();
		}
		stub_req *r = queue_head;
		queue_head = r->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		queued--;
		PGresult *res = NULL;
		db_status st = DB_OK;
		if (r->answer == ANSWER_POLICY) {
			res = policy_row();
		} else if (r->answer == ANSWER_IDEM_NEW) {
			res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
			if (res == NULL)
				abort();
		} else {
			st = DB_UNAVAILABLE;
		}
		/* As in db.c: the callback runs once, and res is freed after. */
		r->cb(r->arg, st, res);
		PQclear(res);
		free(r);
		answered++;
	}
	return answered;
}

int db_ready_count(const db_pool *pool)
{
	return 0;
}

/* db_sqlstate() and the db_get_*() readers come from server/db_result.c. */
