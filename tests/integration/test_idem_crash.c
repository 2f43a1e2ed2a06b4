/* Integration test of the idempotency guarantee (PROTOCOL.md, "Calls"): the
 * reply to a keyed mutating call is recorded in the same transaction as the
 * change it reports, so no crash, kill or database outage can lose it. A
 * retry after any failure gets the first reply (replayed = true) when the
 * call had committed, and runs the call when it had not; a request left in
 * flight by a server that died answers ABORTED only until that server's
 * database session has ended.
 *
 *  1. test_kill_during_keyed_calls: worker threads run CreateOffer,
 *     AcceptOffer and SubmitPayment cycles for their own customers, and an
 *     admin thread runs CreateVendor, every call under its own key and
 *     retried with the same key and fields (reconnecting as needed) until it
 *     is answered; meanwhile the main thread kills fairpayd with SIGKILL at
 *     random moments and restarts it on the same port, or terminates its
 *     PostgreSQL backends, or both. Checked: every call ends OK (a retry is
 *     never refused for its own earlier success, and never answered ABORTED
 *     for longer than abort_ms()); each OK answer is repeated once under its
 *     key and the repeat is replayed and names the same object; afterwards
 *     the offers, payments and vendors in the database are exactly the ones
 *     the answers named, every offer of a finished cycle is PAID with exactly
 *     the one payment its answer named, and `fairpayctl reputation verify`
 *     finds no difference.
 *  2. test_kill_around_commit: one keyed SubmitPayment at a time, fairpayd
 *     killed a random moment (up to twice the call's usual latency) after
 *     the request was sent; once the dead server's database sessions have
 *     ended, a retry with the same key must answer OK: replayed with the
 *     stored payment when the payment committed, run anew when it did not.
 *
 * Worker threads never fail the test themselves: they record violations,
 * and the main thread reports them all (by kind, with examples) once every
 * thread has stopped. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "harness.h"

#define DB_NAME "fp_it_idem_crash"
#define WORKERS 6
#define CUSTOMERS 3 /* per worker */
#define ROUNDS 9
#define COMMIT_LOOPS 10
#define ID_LEN 48
#define VENDOR_PREFIX "idem-crash-vendor-"

typedef Fairpay__V1__Response resp_t;

static struct {
	char *db;
	char *admin_key;
	char port[16];
	h_server *srv;
	char *vid;  /* the vendor of the cycles */
	char *vkey; /* its API key */
	int restarts;
} T;

/* ---------------------------------------------------------------- limits */

/* How long a retry may keep answering ABORTED: a killed server's database
 * session ends within moments (its sockets close with it), so this is
 * generous, and far below the one minute an old IN_FLIGHT record took. */
static int abort_ms(void)
{
	return h_slow() ? 30000 : 8000;
}

/* How long a call may go without any answer at all (server down, database
 * unavailable) before the worker gives up on it. */
static int call_ms(void)
{
	return h_slow() ? 120000 : 20000;
}

/* The kill rounds stop after this long, whatever their number. */
static int rounds_budget_ms(void)
{
	return h_slow() ? 240000 : 15000;
}

/* ---------------------------------------------------------------- violations */

enum {
	V_ABORTED,      /* kept answering ABORTED */
	V_NO_ANSWER,    /* no answer at all within call_ms() */
	V_REFUSED,      /* a definitive answer other than OK */
	V_NOT_REPLAYED, /* a repeat after an OK answer ran the call again */
	V_OTHER_OBJECT, /* two answers for one key name different objects */
	V_BAD_REPLY,    /* an OK reply that does not match its request */
	V_EXTRA,        /* objects in the database that no answer named */
	V_MISSING,      /* objects an answer named that are not stored */
	V_STATE,        /* told-about objects in the wrong state */
	V_VERIFY,       /* reputation verify found differences */
	V_KINDS
};

static const char *const v_names[V_KINDS] = {
	"a retry kept answering ABORTED",
	"a call got no answer at all",
	"a retried call was refused",
	"a repeat of an answered call was not replayed",
	"answers for one key name different objects",
	"an OK reply does not match its request",
	"stored objects that no answer named",
	"objects an answer named that are not stored",
	"told-about objects in the wrong state",
	"fairpayctl reputation verify reports differences",
};

#define V_KEEP 3 /* examples kept per kind */

static struct {
	pthread_mutex_t mu;
	int count[V_KINDS];
	char msg[V_KINDS][V_KEEP][600];
} V = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void violation(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(int kind, const char *fmt, ...)
{
	pthread_mutex_lock(&V.mu);
	int n = V.count[kind]++;
	if (n < V_KEEP) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(V.msg[kind][n], sizeof(V.msg[kind][n]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&V.mu);
}

static int violations(void)
{
	pthread_mutex_lock(&V.mu);
	int n = 0;
	for (int k = 0; k < V_KINDS; k++)
		n += V.count[k];
	pthread_mutex_unlock(&V.mu);
	return n;
}

static void violations_reset(void)
{
	pthread_mutex_lock(&V.mu);
	memset(V.count, 0, sizeof(V.count));
	pthread_mutex_unlock(&V.mu);
}

/* Print every kind of violation seen with a few examples (one line each:
 * cmocka's messages are cut at 1 KiB), then fail with the counts and the
 * first example. */
static void report_violations(const char *test)
{
	int total = violations();
	if (total == 0)
		return;
	char counts[600] = "", first[600] = "";
	size_t len = 0;
	print_message("%s: %d violations of the idempotency guarantee:\n", test, total);
	for (int k = 0; k < V_KINDS; k++) {
		if (V.count[k] == 0)
			continue;
		print_message("  %s: %d time(s), e.g.\n", v_names[k], V.count[k]);
		for (int i = 0; i < V.count[k] && i < V_KEEP; i++)
			print_message("    - %s\n", V.msg[k][i]);
		if (len < sizeof(counts))
			len += (size_t)snprintf(counts + len, sizeof(counts) - len, "%s%s: %d",
						len ? "; " : "", v_names[k], V.count[k]);
		if (first[0] == '\0')
			snprintf(first, sizeof(first), "%s", V.msg[k][0]);
	}
	fail_msg("%s: %d violations of the idempotency guarantee (%s); first: %.300s", test, total,
		 counts, first);
}

/* ---------------------------------------------------------------- keyed calls */

typedef struct caller {
	h_rclient rc;
	unsigned seed;
	atomic_int *answered; /* OK answers of every thread */
	/* Totals over every call of this thread. */
	int calls, attempts, no_reply, unavailable, aborted, replays_checked;
	/* The last call's attempts. */
	int c_attempts, c_no_reply, c_unavailable, c_aborted;
} caller;

static void caller_init(caller *cl, const char *key, unsigned seed, atomic_int *answered)
{
	memset(cl, 0, sizeof(*cl));
	h_rc_init(&cl->rc, T.port, key);
	cl->seed = seed;
	cl->answered = answered;
}

/* How the last call went, for messages. */
static const char *attempts_text(const caller *cl, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%d attempt(s): %d without a reply, %d UNAVAILABLE, %d ABORTED; last error '%s'",
		 cl->c_attempts, cl->c_no_reply, cl->c_unavailable, cl->c_aborted, cl->rc.err);
	return buf;
}

/* Send req (with its key) until it is answered: a broken connection,
 * UNAVAILABLE and ABORTED are retried with the same request. Returns the
 * answer's code with the reply in *resp; H_ABORTED after abort_ms() of
 * nothing but ABORTED, or H_NO_REPLY after call_ms() without an answer (both
 * recorded as violations, *resp NULL). */
static int resolve(caller *cl, Fairpay__V1__Request *req, const char *what, resp_t **resp)
{
	int64_t start = h_now_ms(), aborted_since = 0;
	cl->calls++;
	cl->c_attempts = cl->c_no_reply = cl->c_unavailable = cl->c_aborted = 0;
	char how[700];
	for (;;) {
		*resp = NULL;
		int code = h_rc_call(&cl->rc, req, resp);
		int64_t now = h_now_ms();
		cl->attempts++;
		cl->c_attempts++;
		if (code == H_NO_REPLY) {
			cl->no_reply++;
			cl->c_no_reply++;
		} else if (code == FAIRPAY__V1__CODE__UNAVAILABLE) {
			cl->unavailable++;
			cl->c_unavailable++;
		} else if (code == H_ABORTED) {
			cl->aborted++;
			cl->c_aborted++;
		} else {
			if (code == H_OK)
				atomic_fetch_add(cl->answered, 1);
			return code;
		}
		fp_response_free(*resp);
		*resp = NULL;
		if (code != H_ABORTED) {
			aborted_since = 0;
		} else {
			if (aborted_since == 0)
				aborted_since = now;
			if (now - aborted_since >= abort_ms()) {
				violation(V_ABORTED,
					  "%s: still answered ABORTED after %lld ms of retrying "
					  "(%s); "
					  "a request left in flight by a killed server must stop "
					  "answering ABORTED once its database session has ended",
					  what, (long long)(now - aborted_since),
					  attempts_text(cl, how, sizeof(how)));
				return H_ABORTED;
			}
		}
		if (now - start >= call_ms()) {
			violation(V_NO_ANSWER, "%s: no answer within %d ms (%s)", what, call_ms(),
				  attempts_text(cl, how, sizeof(how)));
			return H_NO_REPLY;
		}
		/* A record in flight takes a while to clear: back off more. */
		int pause = code == H_ABORTED ? 40 : 10;
		h_sleep_ms(pause + (int)(rand_r(&cl->seed) % (unsigned)pause));
	}
}

/* The id of the object an OK reply names, or NULL when the reply lacks it. */
typedef const char *(*id_of_fn)(const resp_t *r);

static const char *offer_of_create(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER && r->create_offer &&
			       r->create_offer->offer
		       ? r->create_offer->offer->offer_id
		       : NULL;
}

static const char *offer_of_accept(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_ACCEPT_OFFER && r->accept_offer &&
			       r->accept_offer->offer
		       ? r->accept_offer->offer->offer_id
		       : NULL;
}

static const char *payment_of_submit(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_SUBMIT_PAYMENT &&
			       r->submit_payment && r->submit_payment->payment
		       ? r->submit_payment->payment->payment_id
		       : NULL;
}

static const char *vendor_of_create(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR && r->create_vendor &&
			       r->create_vendor->vendor
		       ? r->create_vendor->vendor->id
		       : NULL;
}

/* A keyed call: resolve() it, then make it once more under the same key,
 * which must be replayed and name the same object. Returns the first OK
 * reply (free with fp_response_free), or NULL after a violation. */
static resp_t *keyed(caller *cl, Fairpay__V1__Request *req, const char *what, id_of_fn id_of)
{
	char how[700];
	resp_t *first = NULL;
	int code = resolve(cl, req, what, &first);
	if (code == H_ABORTED || code == H_NO_REPLY)
		return NULL; /* recorded by resolve() */
	if (code != H_OK) {
		violation(
			V_REFUSED,
			"%s answered %s '%s' (%s): every step of this load is valid, so a retry "
			"after a failure must get the first reply or run the call, not be refused "
			"for the first attempt's own effect",
			what, h_code_name(code),
			first && first->status ? first->status->message : "",
			attempts_text(cl, how, sizeof(how)));
		fp_response_free(first);
		return NULL;
	}
	const char *id = id_of(first);
	if (id == NULL || id[0] == '\0') {
		violation(V_BAD_REPLY, "%s: the OK reply names no object (result case %d)", what,
			  (int)first->result_case);
		fp_response_free(first);
		return NULL;
	}
	if (first->replayed && cl->c_attempts == 1)
		violation(V_BAD_REPLY,
			  "%s: the first attempt of a new key was answered replayed = true", what);
	char again_what[400];
	snprintf(again_what, sizeof(again_what), "%s, repeated after its OK answer", what);
	resp_t *again = NULL;
	code = resolve(cl, req, again_what, &again);
	if (code == H_ABORTED || code == H_NO_REPLY)
		return first;
	cl->replays_checked++;
	if (code != H_OK) {
		violation(V_NOT_REPLAYED, "%s answered %s '%s' (%s) instead of the first reply",
			  again_what, h_code_name(code),
			  again && again->status ? again->status->message : "",
			  attempts_text(cl, how, sizeof(how)));
	} else {
		const char *id2 = id_of(again);
		if (!again->replayed)
			violation(V_NOT_REPLAYED,
				  "%s was not replayed (replayed = false, names %s; the first "
				  "answer named %s): the call ran a second time",
				  again_what, id2 ? id2 : "nothing", id);
		if (id2 == NULL || strcmp(id, id2) != 0)
			violation(V_OTHER_OBJECT, "%s names %s, the first answer named %s",
				  again_what, id2 ? id2 : "nothing", id);
	}
	fp_response_free(again);
	return first;
}

/* ---------------------------------------------------------------- the cycle workers */

/* An offer the server told a worker about, and how far its cycle got. */
typedef struct told_offer {
	char offer_id[ID_LEN];
	char customer[32];
	char create_key[64];
	int stage; /* 1 created, 2 accepted, 3 paid */
	char payment_id[ID_LEN];
	int64_t amount;
} told_offer;

/* A CreateOffer key that never got an answer. */
typedef struct lost_key {
	char customer[32];
	char key[64];
} lost_key;

typedef struct worker {
	int no;
	caller cl;
	atomic_int *stop;
	told_offer *told;
	size_t n_told, cap_told;
	lost_key lost[64];
	int n_lost;
	int cycles, finished;
} worker;

static told_offer *tell(worker *w)
{
	if (w->n_told == w->cap_told) {
		size_t cap = w->cap_told ? 2 * w->cap_told : 256;
		told_offer *t = realloc(w->told, cap * sizeof(*t));
		if (t == NULL)
			abort();
		w->told = t;
		w->cap_told = cap;
	}
	told_offer *t = &w->told[w->n_told++];
	memset(t, 0, sizeof(*t));
	return t;
}

static void run_cycle(worker *w, int n)
{
	char customer[32], key[64], what[300];
	snprintf(customer, sizeof(customer), "ic-w%d-c%d", w->no, n % CUSTOMERS);
	w->cycles++;

	/* CreateOffer. */
	snprintf(key, sizeof(key), "w%d-n%d-create", w->no, n);
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	co.customer_id = customer;
	co.sku = "basic";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	req.idempotency_key = key;
	snprintf(what, sizeof(what), "CreateOffer key %s (customer %s)", key, customer);
	resp_t *r = keyed(&w->cl, &req, what, offer_of_create);
	if (r == NULL) {
		if (w->n_lost < (int)(sizeof(w->lost) / sizeof(w->lost[0]))) {
			lost_key *l = &w->lost[w->n_lost++];
			snprintf(l->customer, sizeof(l->customer), "%s", customer);
			snprintf(l->key, sizeof(l->key), "%s", key);
		}
		return;
	}
	const Fairpay__V1__Offer *o = r->create_offer->offer;
	told_offer *t = tell(w);
	snprintf(t->offer_id, sizeof(t->offer_id), "%s", o->offer_id);
	snprintf(t->customer, sizeof(t->customer), "%s", customer);
	snprintf(t->create_key, sizeof(t->create_key), "%s", key);
	t->stage = 1;
	if (strcmp(o->customer_id, customer) != 0 || strcmp(o->sku, "basic") != 0 ||
	    o->status != H_STATUS(OPEN) || o->mode != H_MODE(FAIRPAY))
		violation(V_BAD_REPLY,
			  "%s answered offer %s for customer '%s' sku '%s', status %d, mode %d "
			  "(want an OPEN FAIRPAY offer of basic for %s)",
			  what, o->offer_id, o->customer_id, o->sku, (int)o->status, (int)o->mode,
			  customer);
	fp_response_free(r);
	char offer_id[ID_LEN];
	snprintf(offer_id, sizeof(offer_id), "%s", t->offer_id);

	/* AcceptOffer. */
	snprintf(key, sizeof(key), "w%d-n%d-accept", w->no, n);
	Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	ao.offer_id = offer_id;
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
	req.accept_offer = &ao;
	req.idempotency_key = key;
	snprintf(what, sizeof(what), "AcceptOffer key %s (offer %s)", key, offer_id);
	r = keyed(&w->cl, &req, what, offer_of_accept);
	if (r == NULL)
		return;
	o = r->accept_offer->offer;
	if (strcmp(o->offer_id, offer_id) != 0 || o->status != H_STATUS(ACCEPTED))
		violation(V_BAD_REPLY, "%s answered offer %s in status %d (want %s ACCEPTED)", what,
			  o->offer_id, (int)o->status, offer_id);
	fp_response_free(r);
	t = &w->told[w->n_told - 1];
	t->stage = 2;

	/* SubmitPayment. */
	snprintf(key, sizeof(key), "w%d-n%d-pay", w->no, n);
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	sp.offer_id = offer_id;
	sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	sp.amount_minor = 500 + (int64_t)(rand_r(&w->cl.seed) % 1500);
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	req.submit_payment = &sp;
	req.idempotency_key = key;
	snprintf(what, sizeof(what), "SubmitPayment key %s (offer %s, %lld)", key, offer_id,
		 (long long)sp.amount_minor);
	r = keyed(&w->cl, &req, what, payment_of_submit);
	if (r == NULL)
		return;
	const Fairpay__V1__Payment *p = r->submit_payment->payment;
	if (strcmp(p->offer_id, offer_id) != 0 || p->amount_minor != sp.amount_minor)
		violation(V_BAD_REPLY, "%s answered payment %s of offer %s amount %lld", what,
			  p->payment_id, p->offer_id, (long long)p->amount_minor);
	t = &w->told[w->n_told - 1];
	snprintf(t->payment_id, sizeof(t->payment_id), "%s", p->payment_id);
	t->amount = sp.amount_minor;
	t->stage = 3;
	fp_response_free(r);
	w->finished++;
}

static void *run_worker(void *arg)
{
	worker *w = arg;
	/* A cycle, once started, is finished (or given up) even after stop. */
	for (int n = 0; atomic_load(w->stop) == 0; n++)
		run_cycle(w, n);
	h_rc_close(&w->cl.rc);
	return NULL;
}

/* ---------------------------------------------------------------- the admin thread */

typedef struct told_vendor {
	char name[64];
	char id[ID_LEN];
} told_vendor;

typedef struct admin_thread {
	caller cl;
	atomic_int *stop;
	told_vendor *told;
	size_t n_told, cap_told;
	int lost;
} admin_thread;

static void *run_admin(void *arg)
{
	admin_thread *a = arg;
	for (int n = 0; atomic_load(a->stop) == 0; n++) {
		char name[64], key[64], what[200];
		snprintf(name, sizeof(name), VENDOR_PREFIX "%d", n);
		snprintf(key, sizeof(key), "vendor-%d", n);
		Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
		cv.name = name;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
		req.create_vendor = &cv;
		req.idempotency_key = key;
		snprintf(what, sizeof(what), "CreateVendor key %s (name %s)", key, name);
		resp_t *r = keyed(&a->cl, &req, what, vendor_of_create);
		if (r == NULL) {
			a->lost++;
		} else {
			if (a->n_told == a->cap_told) {
				size_t cap = a->cap_told ? 2 * a->cap_told : 128;
				told_vendor *t = realloc(a->told, cap * sizeof(*t));
				if (t == NULL)
					abort();
				a->told = t;
				a->cap_told = cap;
			}
			told_vendor *t = &a->told[a->n_told++];
			snprintf(t->name, sizeof(t->name), "%s", name);
			snprintf(t->id, sizeof(t->id), "%s", r->create_vendor->vendor->id);
			if (strcmp(r->create_vendor->vendor->name, name) != 0)
				violation(V_BAD_REPLY, "%s answered vendor %s named '%s'", what,
					  t->id, r->create_vendor->vendor->name);
			fp_response_free(r);
		}
		h_sleep_ms(10 + (int)(rand_r(&a->cl.seed) % 30));
	}
	h_rc_close(&a->cl.rc);
	return NULL;
}

/* ---------------------------------------------------------------- PostgreSQL */

/* A connection to the maintenance database; NULL when there is none. */
static PGconn *pg_admin(void)
{
	char *ci = h_fmt("host=%s port=%s user=postgres dbname=postgres", h_env("FP_PGHOST"),
			 h_env("FP_PGPORT"));
	PGconn *pg = PQconnectdb(ci);
	free(ci);
	if (PQstatus(pg) != CONNECTION_OK) {
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/* The number of client backends connected to the test database (the
 * server's: the test's own queries use short connections of their own). */
static int server_sessions(PGconn *pg)
{
	PGresult *r = PQexec(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" DB_NAME
				 "' AND backend_type = 'client backend'");
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

/* pg_terminate_backend on every client backend of the test database;
 * returns how many. */
static int terminate_sessions(void)
{
	PGconn *pg = pg_admin();
	if (pg == NULL)
		fail_msg("cannot connect to PostgreSQL to terminate the server's backends");
	PGresult *r =
		PQexec(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
			   "WHERE datname = '" DB_NAME "' AND backend_type = 'client backend'");
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	PQfinish(pg);
	return n;
}

/* Wait until no backend of the test database is left (a killed server's
 * sessions end once PostgreSQL notices their sockets closed); the ms it
 * took, or -1 after timeout_ms. */
static int wait_sessions_gone(int timeout_ms)
{
	PGconn *pg = pg_admin();
	if (pg == NULL)
		fail_msg("cannot connect to PostgreSQL to watch the server's backends");
	int64_t t0 = h_now_ms();
	int took = -1;
	for (;;) {
		if (server_sessions(pg) == 0) {
			took = (int)(h_now_ms() - t0);
			break;
		}
		if (h_now_ms() - t0 > timeout_ms)
			break;
		h_sleep_ms(10);
	}
	PQfinish(pg);
	return took;
}

/* The rows of a query (PQclear them); fails the test on error. */
static PGresult *query(const char *sql)
{
	PGconn *pg = PQconnectdb(T.db);
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", T.db, PQerrorMessage(pg));
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQfinish(pg);
	return r;
}

/* The row whose column col equals id in a result sorted on that column
 * (COLLATE "C", which orders as strcmp does), or -1. */
static int find_row(PGresult *r, int col, const char *id)
{
	int lo = 0, hi = PQntuples(r) - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(PQgetvalue(r, mid, col), id);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* ---------------------------------------------------------------- setup */

static void start_server(const char *port)
{
	T.srv = port != NULL ? h_server_start_on(port, T.db, NULL) : h_server_start(T.db, NULL);
	snprintf(T.port, sizeof(T.port), "%s", T.srv->port);
}

static int setup(void **state)
{
	T.db = h_db_create(DB_NAME);
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	start_server(NULL);
	/* A vendor whose offers are always FAIRPAY, whatever the scores: one
	 * one-off product, thresholds 0 and credit without limit. */
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	fp_client *c = h_vendor_client(T.srv, admin, "idem crash", &T.vid, &T.vkey);
	h_product(c, "basic", 1000, 1200);
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, low_score_bp, LOW_SCORE_BP, 0);
	H_POLICY_SET(&pol, fair_score_bp, FAIR_SCORE_BP, 0);
	H_POLICY_SET(&pol, max_open_defaults, MAX_OPEN_DEFAULTS, 1000);
	H_POLICY_SET(&pol, probation_credit_minor, PROBATION_CREDIT_MINOR, 1000000000);
	H_POLICY_SET(&pol, standard_credit_minor, STANDARD_CREDIT_MINOR, 1000000000);
	H_POLICY_SET(&pol, trusted_credit_minor, TRUSTED_CREDIT_MINOR, 1000000000);
	h_must(h_put_policy(c, &pol, false, NULL), "PutPolicy");
	fp_client_free(c);
	fp_client_free(admin);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.vid);
	free(T.vkey);
	free(T.admin_key);
	free(T.db);
	return 0;
}

static int random_ms(int lo, int hi)
{
	return lo + rand() % (hi - lo + 1);
}

/* ---------------------------------------------------------------- test 1 */

typedef struct load {
	worker w[WORKERS];
	pthread_t th[WORKERS];
	admin_thread admin;
	pthread_t admin_th;
	atomic_int stop;
	atomic_int answered;
} load;

static void load_start(load *L)
{
	memset(L, 0, sizeof(*L));
	atomic_init(&L->stop, 0);
	atomic_init(&L->answered, 0);
	unsigned base = (unsigned)h_now_ms();
	for (int i = 0; i < WORKERS; i++) {
		worker *w = &L->w[i];
		w->no = i;
		w->stop = &L->stop;
		caller_init(&w->cl, T.vkey, base * 31 + (unsigned)i, &L->answered);
	}
	L->admin.stop = &L->stop;
	caller_init(&L->admin.cl, T.admin_key, base * 37, &L->answered);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&L->th[i], NULL, run_worker, &L->w[i]), 0);
	assert_int_equal(pthread_create(&L->admin_th, NULL, run_admin, &L->admin), 0);
}

static void load_stop(load *L)
{
	atomic_store(&L->stop, 1);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_join(L->th[i], NULL), 0);
	assert_int_equal(pthread_join(L->admin_th, NULL), 0);
}

static void load_free(load *L)
{
	for (int i = 0; i < WORKERS; i++)
		free(L->w[i].told);
	free(L->admin.told);
}

/* Wait (at most timeout_ms) for n more OK answers; false on timeout. */
static bool wait_answers(load *L, int n, int timeout_ms)
{
	int want = atomic_load(&L->answered) + n;
	int64_t deadline = h_now_ms() + timeout_ms;
	while (atomic_load(&L->answered) < want) {
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(10);
	}
	return true;
}

static int cmp_told_offer(const void *a, const void *b)
{
	return strcmp(((const told_offer *)a)->offer_id, ((const told_offer *)b)->offer_id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The CreateOffer keys of customer that never got an answer, for messages. */
static void lost_keys_of(load *L, const char *customer, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int i = 0; i < WORKERS; i++)
		for (int j = 0; j < L->w[i].n_lost; j++)
			if (strcmp(L->w[i].lost[j].customer, customer) == 0 && at + 80 < len)
				at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "",
						       L->w[i].lost[j].key);
}

/* The offers and payments of the vendor against what the answers said. */
static void check_offers(load *L, size_t *n_offers, size_t *n_paid)
{
	size_t n = 0;
	for (int i = 0; i < WORKERS; i++)
		n += L->w[i].n_told;
	told_offer *all = calloc(n + 1, sizeof(*all));
	assert_non_null(all);
	size_t k = 0, paid = 0;
	for (int i = 0; i < WORKERS; i++)
		for (size_t j = 0; j < L->w[i].n_told; j++) {
			all[k++] = L->w[i].told[j];
			paid += L->w[i].told[j].stage == 3;
		}
	qsort(all, n, sizeof(*all), cmp_told_offer);
	for (size_t i = 1; i < n; i++)
		if (strcmp(all[i].offer_id, all[i - 1].offer_id) == 0)
			violation(V_OTHER_OBJECT,
				  "offer %s was named by the answers to two different CreateOffer "
				  "keys, %s and %s",
				  all[i].offer_id, all[i - 1].create_key, all[i].create_key);

	char *sql = h_fmt("SELECT o.id, o.customer_id, o.status, (SELECT count(*) FROM payments p "
			  "WHERE p.vendor_id = o.vendor_id AND p.offer_id = o.id), (SELECT "
			  "string_agg(p.id || ':' || p.amount_minor, ',') FROM payments p WHERE "
			  "p.vendor_id = o.vendor_id AND p.offer_id = o.id) FROM offers o WHERE "
			  "o.vendor_id = '%s' ORDER BY o.id COLLATE \"C\"",
			  T.vid);
	PGresult *r = query(sql);
	free(sql);
	/* Every stored offer was named by an answer. */
	for (int row = 0; row < PQntuples(r); row++) {
		told_offer key;
		snprintf(key.offer_id, sizeof(key.offer_id), "%s", PQgetvalue(r, row, 0));
		if (bsearch(&key, all, n, sizeof(*all), cmp_told_offer) != NULL)
			continue;
		char lost[400];
		lost_keys_of(L, PQgetvalue(r, row, 1), lost, sizeof(lost));
		violation(V_EXTRA,
			  "offer %s (customer %s, %s, %s payment(s)) is stored but no CreateOffer "
			  "answer named it: a CreateOffer ran without its reply reaching any retry "
			  "(unanswered CreateOffer keys of this customer: %s)",
			  PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
			  PQgetvalue(r, row, 3), lost[0] ? lost : "none");
	}
	/* Every named offer is stored; a finished cycle's is PAID once, with
	 * the payment its answer named. */
	for (size_t i = 0; i < n; i++) {
		const told_offer *t = &all[i];
		int row = find_row(r, 0, t->offer_id);
		if (row < 0) {
			violation(V_MISSING,
				  "offer %s, named by the answer to CreateOffer key %s (customer "
				  "%s), is not stored",
				  t->offer_id, t->create_key, t->customer);
			continue;
		}
		const char *status = PQgetvalue(r, row, 2);
		long npay = atol(PQgetvalue(r, row, 3));
		if (t->stage == 3) {
			char want[ID_LEN + 32];
			snprintf(want, sizeof(want), "%s:%lld", t->payment_id,
				 (long long)t->amount);
			if (strcmp(status, "PAID") != 0 || npay != 1 ||
			    strcmp(PQgetvalue(r, row, 4), want) != 0)
				violation(
					V_STATE,
					"offer %s (CreateOffer key %s): its cycle was answered OK "
					"throughout with payment %s of %lld, but the offer is %s "
					"with "
					"%ld payment(s) [%s]",
					t->offer_id, t->create_key, t->payment_id,
					(long long)t->amount, status, npay, PQgetvalue(r, row, 4));
		} else if ((t->stage == 2 && strcmp(status, "OPEN") == 0) || npay > 1) {
			violation(
				V_STATE,
				"offer %s (CreateOffer key %s): answered %s, stored as %s with %ld "
				"payment(s)",
				t->offer_id, t->create_key, t->stage == 2 ? "ACCEPTED" : "OPEN",
				status, npay);
		}
	}
	PQclear(r);

	/* Every stored payment was named by a SubmitPayment answer. */
	const char **ids = calloc(paid + 1, sizeof(*ids));
	assert_non_null(ids);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (all[i].stage == 3)
			ids[m++] = all[i].payment_id;
	qsort(ids, m, sizeof(*ids), cmp_str);
	sql = h_fmt("SELECT id, offer_id, amount_minor FROM payments WHERE vendor_id = '%s' ORDER "
		    "BY id COLLATE \"C\"",
		    T.vid);
	r = query(sql);
	free(sql);
	for (int row = 0; row < PQntuples(r); row++) {
		const char *id = PQgetvalue(r, row, 0);
		if (bsearch(&id, ids, m, sizeof(*ids), cmp_str) == NULL)
			violation(V_EXTRA,
				  "payment %s (offer %s, %s) is stored but no SubmitPayment answer "
				  "named it",
				  id, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2));
	}
	for (size_t i = 0; i < m; i++)
		if (find_row(r, 0, ids[i]) < 0)
			violation(V_MISSING,
				  "payment %s, named by a SubmitPayment answer, is not "
				  "stored",
				  ids[i]);
	PQclear(r);
	free(ids);
	free(all);
	*n_offers = n;
	*n_paid = paid;
}

/* The vendors named VENDOR_PREFIX... against the CreateVendor answers. */
static void check_vendors(load *L)
{
	admin_thread *a = &L->admin;
	PGresult *r = query("SELECT id, name FROM vendors WHERE name LIKE '" VENDOR_PREFIX
			    "%' ORDER BY id COLLATE \"C\"");
	for (size_t i = 0; i < a->n_told; i++) {
		int row = find_row(r, 0, a->told[i].id);
		if (row < 0)
			violation(V_MISSING,
				  "vendor %s (%s), named by a CreateVendor answer, is "
				  "not stored",
				  a->told[i].id, a->told[i].name);
		else if (strcmp(PQgetvalue(r, row, 1), a->told[i].name) != 0)
			violation(V_STATE, "vendor %s is stored as '%s', answered as '%s'",
				  a->told[i].id, PQgetvalue(r, row, 1), a->told[i].name);
	}
	for (int row = 0; row < PQntuples(r); row++) {
		bool named = false;
		for (size_t i = 0; i < a->n_told && !named; i++)
			named = strcmp(a->told[i].id, PQgetvalue(r, row, 0)) == 0;
		if (!named) {
			const char *also = "no other vendor of that name was answered";
			for (size_t i = 0; i < a->n_told; i++)
				if (strcmp(a->told[i].name, PQgetvalue(r, row, 1)) == 0)
					also = "another vendor of that name was answered: the "
					       "CreateVendor ran twice";
			violation(V_EXTRA,
				  "vendor %s '%s' is stored but no CreateVendor answer "
				  "named it (%s)",
				  PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), also);
		}
	}
	PQclear(r);
}

static void check_verify(void)
{
	char *ctl = h_ctl();
	char *db = h_shq(T.db);
	char *cmd = h_fmt("%s reputation verify --db %s 2>&1", ctl, db);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0) {
		size_t len = out ? strlen(out) : 0;
		violation(V_VERIFY, "fairpayctl reputation verify exited %d: %s", rc,
			  out ? out + (len > 450 ? len - 450 : 0) : "");
	} else {
		print_message("reputation verify: %s", out ? out : "\n");
	}
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

static void test_kill_during_keyed_calls(void **state)
{
	violations_reset();
	load L;
	load_start(&L);
	if (!wait_answers(&L, 20, h_slow() ? 60000 : 10000)) {
		load_stop(&L);
		load_free(&L);
		report_violations("before any kill");
		fail_msg("the load made no progress before the first kill (%d OK answers)",
			 atomic_load(&L.answered));
	}
	int64_t t_rounds = h_now_ms();
	int rounds = 0, kills = 0, terminations = 0, terminated = 0;
	for (int round = 1; round <= ROUNDS; round++) {
		if (h_now_ms() - t_rounds > rounds_budget_ms())
			break;
		h_sleep_ms(random_ms(100, 600));
		int before = atomic_load(&L.answered);
		int kind = round % 3; /* 1: kill, 2: terminate backends, 0: both */
		int n = 0;
		int64_t t0 = h_now_ms();
		if (kind == 2) {
			n = terminate_sessions();
			terminations++;
			terminated += n;
		} else {
			int status = h_server_stop(T.srv, SIGKILL);
			if (status != 128 + SIGKILL) {
				load_stop(&L);
				load_free(&L);
				fail_msg("round %d: fairpayd had exited with status %d before it "
					 "was killed; log at %s",
					 round, status, T.srv->log_path);
			}
			kills++;
			if (kind == 0) {
				n = terminate_sessions();
				terminations++;
				terminated += n;
			}
			h_server_free(T.srv);
			T.srv = NULL;
			start_server(T.port);
			T.restarts++;
		}
		rounds++;
		bool moving = wait_answers(&L, 2 * WORKERS, 3000);
		print_message("round %d: %s with %d calls answered OK; %s %d more answers after "
			      "%lld ms\n",
			      round,
			      kind == 1   ? "fairpayd SIGKILL + restart"
			      : kind == 2 ? "pg_terminate_backend on the server's backends"
					  : "fairpayd SIGKILL, its backends terminated, restart",
			      before, moving ? "then" : "only", atomic_load(&L.answered) - before,
			      (long long)(h_now_ms() - t0));
		(void)n;
	}
	wait_answers(&L, 2 * WORKERS, 2000);
	load_stop(&L);

	size_t n_offers = 0, n_paid = 0;
	check_offers(&L, &n_offers, &n_paid);
	check_vendors(&L);
	check_verify();

	int calls = 0, attempts = 0, no_reply = 0, unavailable = 0, aborted = 0, replays = 0,
	    cycles = 0, finished = 0, connects = 0;
	for (int i = 0; i <= WORKERS; i++) {
		caller *cl = i < WORKERS ? &L.w[i].cl : &L.admin.cl;
		calls += cl->calls;
		attempts += cl->attempts;
		no_reply += cl->no_reply;
		unavailable += cl->unavailable;
		aborted += cl->aborted;
		replays += cl->replays_checked;
		connects += cl->rc.connects;
		if (i < WORKERS) {
			cycles += L.w[i].cycles;
			finished += L.w[i].finished;
		}
	}
	print_message("%d rounds (%d server kills, %d backend terminations of %d backends), "
		      "fairpayd restarted %d times so far\n",
		      rounds, kills, terminations, terminated, T.restarts);
	print_message("%d workers: %d cycles started, %d finished; %zu offers and %zu payments "
		      "answered; admin: %zu vendors answered, %d CreateVendor calls unanswered\n",
		      WORKERS, cycles, finished, n_offers, n_paid, L.admin.n_told, L.admin.lost);
	print_message("%d keyed calls (%d repeats checked for a replay) in %d attempts: %d "
		      "without a reply, %d UNAVAILABLE, %d ABORTED; %d connects\n",
		      calls, replays, attempts, no_reply, unavailable, aborted, connects);
	load_free(&L);
	report_violations("kill during keyed calls");
	print_message("checked: every keyed call answered OK, its repeat replayed with the same "
		      "object; offers, payments and vendors stored are exactly those answered; "
		      "every finished cycle's offer PAID once with its answered payment; "
		      "reputation verify exit 0\n");
}

/* ---------------------------------------------------------------- test 2 */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_kill_around_commit(void **state)
{
	violations_reset();
	if (T.srv == NULL || !h_server_alive(T.srv))
		fail_msg("no server to start from (the last test left none)");
	/* The usual latency of a keyed SubmitPayment, to spread the kills over. */
	fp_client *c = h_connect_auth(T.srv, T.vkey);
	int64_t lat[5];
	for (int i = 0; i < 5; i++) {
		char *offer = h_offer(c, "ic-commit-calibrate", "basic");
		h_accept(c, offer);
		Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
		sp.offer_id = offer;
		sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		sp.amount_minor = 1000;
		char key[32];
		snprintf(key, sizeof(key), "calibrate-%d", i);
		int64_t t0 = now_us();
		h_must(h_submit_payment(c, &sp, key, NULL), "SubmitPayment (calibration)");
		lat[i] = now_us() - t0;
		free(offer);
	}
	fp_client_free(c);
	qsort(lat, 5, sizeof(lat[0]), cmp_i64);
	int64_t spread = 2 * lat[2];
	print_message("keyed SubmitPayment: median latency %lld us; kills spread over 0..%lld us "
		      "after the send\n",
		      (long long)lat[2], (long long)spread);

	atomic_int answered;
	atomic_init(&answered, 0);
	int replied_first = 0, committed_only = 0, not_committed = 0, loops = 0;
	int64_t deadline = h_now_ms() + (h_slow() ? 300000 : 30000);
	for (int i = 0; i < COMMIT_LOOPS && h_now_ms() < deadline && violations() < 2; i++) {
		loops++;
		c = h_connect_auth(T.srv, T.vkey);
		char *offer = h_offer(c, "ic-commit", "basic");
		h_accept(c, offer);
		char key[32];
		snprintf(key, sizeof(key), "commit-%d", i);
		Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
		sp.offer_id = offer;
		sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		sp.amount_minor = 700 + i;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
		req.submit_payment = &sp;
		req.idempotency_key = key;
		uint64_t id = 0;
		if (fp_client_send(c, &req, &id) != 0)
			fail_msg("sending SubmitPayment key %s: %s", key,
				 fp_client_error_message(c));
		long delay = spread > 0 ? (long)(rand() % (spread + 1)) : 0;
		sleep_us(delay);
		int status = h_server_stop(T.srv, SIGKILL);
		if (status != 128 + SIGKILL)
			fail_msg("fairpayd exited with status %d before it was killed", status);
		/* A reply that made it out before the kill. */
		resp_t *early = NULL;
		if (fp_client_recv_id(c, id, &early) != 0)
			early = NULL;
		fp_client_free(c);
		char early_id[ID_LEN] = "";
		if (early != NULL && early->status != NULL && early->status->code == H_OK &&
		    payment_of_submit(early) != NULL)
			snprintf(early_id, sizeof(early_id), "%s", payment_of_submit(early));
		else if (early != NULL)
			violation(V_REFUSED,
				  "SubmitPayment key %s: the first attempt answered %s "
				  "'%s' before the kill",
				  key, h_code_name(early->status ? (int)early->status->code : -1),
				  early->status ? early->status->message : "");
		fp_response_free(early);

		/* What committed, once the dead server's sessions are gone. */
		int gone_ms = wait_sessions_gone(10000);
		if (gone_ms < 0)
			print_message("loop %d: the killed server's database sessions had not "
				      "ended after 10 s\n",
				      i);
		char *sql = h_fmt("SELECT id FROM payments WHERE vendor_id = '%s' AND offer_id = "
				  "'%s'",
				  T.vid, offer);
		char *stored = h_sql(T.db, sql);
		h_server_free(T.srv);
		T.srv = NULL;
		start_server(T.port);
		T.restarts++;

		caller cl;
		caller_init(&cl, T.vkey, (unsigned)rand(), &answered);
		char what[200];
		snprintf(what, sizeof(what),
			 "SubmitPayment key %s (offer %s) retried after a SIGKILL %ld us after "
			 "it was sent (%s)",
			 key, offer, delay,
			 early_id[0] ? "its reply had arrived"
			 : stored    ? "the payment had committed, no reply"
				     : "the payment had not committed");
		resp_t *r = NULL;
		int code = resolve(&cl, &req, what, &r);
		h_rc_close(&cl.rc);
		const char *pid = r != NULL && code == H_OK ? payment_of_submit(r) : NULL;
		char how[700];
		if (code == H_ABORTED || code == H_NO_REPLY) {
			/* recorded by resolve() */
		} else if (code != H_OK || pid == NULL) {
			violation(V_REFUSED, "%s: answered %s '%s' (%s)", what, h_code_name(code),
				  r && r->status ? r->status->message : "",
				  attempts_text(&cl, how, sizeof(how)));
		} else if (stored != NULL) {
			if (!r->replayed)
				violation(V_NOT_REPLAYED,
					  "%s: answered OK with replayed = false (payment %s): the "
					  "committed call's reply was not recorded with it",
					  what, pid);
			if (strcmp(pid, stored) != 0)
				violation(V_OTHER_OBJECT,
					  "%s: answered payment %s, but the stored payment is %s",
					  what, pid, stored);
		} else if (r->replayed) {
			violation(V_BAD_REPLY,
				  "%s: answered replayed = true (payment %s) for a call that had "
				  "not committed",
				  what, pid);
		}
		if (pid != NULL && early_id[0] != '\0' && strcmp(pid, early_id) != 0)
			violation(V_OTHER_OBJECT,
				  "%s: the retry named payment %s, the first reply %s", what, pid,
				  early_id);
		char *after = h_sql(T.db, sql);
		long long count = 0;
		{
			char *csql =
				h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND "
				      "offer_id = '%s'",
				      T.vid, offer);
			count = h_sql_int(T.db, csql);
			free(csql);
		}
		if (pid != NULL && (count != 1 || after == NULL || strcmp(after, pid) != 0))
			violation(V_STATE,
				  "%s: answered payment %s, the offer has %lld payment(s) "
				  "(%s)",
				  what, pid, count, after ? after : "none");
		if (early_id[0] != '\0')
			replied_first++;
		else if (stored != NULL)
			committed_only++;
		else
			not_committed++;
		print_message("loop %d: kill %ld us after the send: %s; retry: %s%s after %d "
			      "attempt(s) (%d ABORTED); sessions gone after %d ms\n",
			      i, delay,
			      early_id[0] ? "reply arrived first"
			      : stored    ? "committed without a reply"
					  : "not committed",
			      h_code_name(code), r && r->replayed ? " replayed" : "", cl.c_attempts,
			      cl.c_aborted, gone_ms);
		fp_response_free(r);
		free(after);
		free(stored);
		free(sql);
		free(offer);
	}
	print_message("%d loops: %d replied before the kill, %d committed without a reply, %d "
		      "not committed\n",
		      loops, replied_first, committed_only, not_committed);
	check_verify();
	report_violations("kill around commit");
	print_message("checked: each retry OK; replayed with the stored payment when it had "
		      "committed, run once when it had not\n");
}

static void test_clean_shutdown(void **state)
{
	if (T.srv == NULL)
		fail_msg("no server left to shut down");
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
	print_message("fairpayd restarted %d times; the last one exited 0 on SIGTERM\n",
		      T.restarts);
}

int main(void)
{
	srand((unsigned)h_now_ms());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_during_keyed_calls),
		cmocka_unit_test(test_kill_around_commit),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
