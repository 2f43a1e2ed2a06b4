/* Integration tests of crash safety: FairPay cycles keep running from several
 * client threads, each mutating call under an idempotency key and retried
 * with the same key until it is answered, while
 *   1. fairpayd is killed with SIGKILL at random moments and restarted on the
 *      same port, and
 *   2. the server's PostgreSQL backends are terminated (pg_terminate_backend)
 *      or killed with SIGKILL (which makes PostgreSQL restart every backend
 *      and run crash recovery) while the server stays up.
 * Afterwards every payment a client was told about is stored exactly once,
 * no offer is paid twice, every offer is in a consistent state with its
 * events, every recurring cycle has exactly one successor, and
 * `fairpayctl reputation verify` finds no difference.
 *
 * A call's idempotency record is written with its change, so a retry after
 * a kill finds the first reply or runs the call (test_idem_crash.c holds the
 * server to that). This test stays tolerant of the older behaviour, where a
 * key could be left IN_FLIGHT: a worker that sees ABORTED for stuck_ms()
 * takes a new key, and when the step turns out to be done already
 * (FAILED_PRECONDITION) it reads the offer to learn where the cycle stands;
 * such payments would be stored but never acknowledged, counted apart. It
 * does check that no record is ever left IN_FLIGHT.
 *
 * Worker threads use h_rclient only (nothing there fails the test); they
 * record what went wrong and the main thread, which also kills and restarts,
 * asserts. */
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

#include <libpq-fe.h>

#include "harness.h"

#define DB_NAME "fp_it_crash"
#define WORKERS 6
#define CUSTOMERS 4
#define SERVER_KILLS 5
#define BACKEND_KILLS 6
#define ID_LEN 24

typedef Fairpay__V1__Response resp_t;

static struct {
	char *db;
	char *admin_key;
	char port[16];
	h_server *srv;
	int restarts;
} T;

/* A payment the server acknowledged with OK. */
typedef struct ack {
	char payment_id[ID_LEN];
	char offer_id[ID_LEN];
	int64_t amount;
} ack;

typedef struct worker {
	int no;
	const char *tag; /* the phase, part of every key */
	h_rclient rc;
	atomic_int *stop;
	atomic_int *acked; /* acknowledged payments of all workers */
	unsigned seed;
	int serial;         /* makes every idempotency key unique */
	char chain[ID_LEN]; /* an ACCEPTED next cycle of "monthly" to pay */
	char chain_customer[32];
	ack *acks;
	size_t n_acks, cap_acks;
	int cycles;
	int unacked_paid; /* paid, but the acknowledgement was lost */
	int no_reply, unavailable, aborted, fresh_keys, refused;
	char err[768];
} worker;

static int stuck_ms(void)
{
	return h_slow() ? 20000 : 3000;
}

static int give_up_ms(void)
{
	return h_slow() ? 600000 : 90000;
}

/* Make the call until it is answered: OK, a refusal, or ABORTED after
 * stuck_ms() of nothing else (the key's record was left IN_FLIGHT). Broken
 * connections and UNAVAILABLE are retried with the same request and key.
 * H_NO_REPLY with w->err set when there is no answer for give_up_ms(). */
static int call_answered(worker *w, Fairpay__V1__Request *req, const char *what, resp_t **resp)
{
	int64_t start = h_now_ms();
	int64_t aborted_since = 0;
	for (;;) {
		*resp = NULL;
		int code = h_rc_call(&w->rc, req, resp);
		int64_t now = h_now_ms();
		if (code == H_NO_REPLY) {
			w->no_reply++;
		} else if (code == FAIRPAY__V1__CODE__UNAVAILABLE) {
			w->unavailable++;
		} else if (code == H_ABORTED && req->idempotency_key[0] != '\0') {
			w->aborted++;
			if (aborted_since == 0)
				aborted_since = now;
			if (now - aborted_since >= stuck_ms())
				return code;
		} else {
			return code;
		}
		if (code != H_ABORTED)
			aborted_since = 0;
		fp_response_free(*resp);
		*resp = NULL;
		if (now - start > give_up_ms()) {
			snprintf(w->err, sizeof(w->err), "%s: no answer for %d ms, last %s: %s",
				 what, give_up_ms(), h_code_name(code), w->rc.err);
			return H_NO_REPLY;
		}
		h_sleep_ms(10 + (int)(rand_r(&w->seed) % 40));
	}
}

static void next_key(worker *w, char *key, size_t len, const char *step)
{
	snprintf(key, len, "%s-w%d-%d-%s", w->tag, w->no, ++w->serial, step);
}

static void fail_worker(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_worker(worker *w, const char *fmt, ...)
{
	if (w->err[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
}

/* GetOffer until answered; the offer's status, or -1. */
static int offer_status(worker *w, const char *offer_id)
{
	Fairpay__V1__GetOfferRequest m = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_OFFER;
	req.get_offer = &m;
	resp_t *resp = NULL;
	int code = call_answered(w, &req, "GetOffer", &resp);
	int status = -1;
	if (code == H_OK)
		status = (int)resp->get_offer->offer->status;
	else
		fail_worker(w, "GetOffer %s answered %s: %s", offer_id, h_code_name(code),
			    w->rc.err);
	fp_response_free(resp);
	return status;
}

/* A mutating step: a new key, then a fresh one each time the last one is
 * stuck IN_FLIGHT. Returns the final answer's code. */
static int step(worker *w, Fairpay__V1__Request *req, const char *what, resp_t **resp)
{
	char key[96];
	req->idempotency_key = key;
	for (;;) {
		next_key(w, key, sizeof(key), what);
		int code = call_answered(w, req, what, resp);
		if (code != H_ABORTED)
			return code;
		w->fresh_keys++;
		fp_response_free(*resp);
		*resp = NULL;
	}
}

static void keep_ack(worker *w, const Fairpay__V1__Payment *p)
{
	if (w->n_acks == w->cap_acks) {
		size_t cap = w->cap_acks ? 2 * w->cap_acks : 256;
		ack *a = realloc(w->acks, cap * sizeof(*a));
		if (a == NULL) {
			fail_worker(w, "out of memory");
			return;
		}
		w->acks = a;
		w->cap_acks = cap;
	}
	ack *a = &w->acks[w->n_acks++];
	snprintf(a->payment_id, sizeof(a->payment_id), "%s", p->payment_id);
	snprintf(a->offer_id, sizeof(a->offer_id), "%s", p->offer_id);
	a->amount = p->amount_minor;
	atomic_fetch_add(w->acked, 1);
}

/* One cycle: CreateOffer and AcceptOffer (or the ACCEPTED next cycle of a
 * recurring product), then SubmitPayment. False on anything unexpected. */
static bool run_cycle(worker *w, int n)
{
	char customer[32], offer_id[ID_LEN];
	snprintf(customer, sizeof(customer), "crash-%d", (w->no + n) % CUSTOMERS);
	bool recurring = n % 3 == 2;
	resp_t *resp = NULL;
	int code;
	if (recurring && w->chain[0] != '\0') {
		snprintf(offer_id, sizeof(offer_id), "%s", w->chain);
		snprintf(customer, sizeof(customer), "%s", w->chain_customer);
		w->chain[0] = '\0';
	} else {
		Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
		co.customer_id = customer;
		co.sku = recurring ? "monthly" : "basic";
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
		req.create_offer = &co;
		code = step(w, &req, "create", &resp);
		if (code != H_OK) {
			fail_worker(w, "CreateOffer answered %s: %s", h_code_name(code), w->rc.err);
			fp_response_free(resp);
			return false;
		}
		const Fairpay__V1__Offer *o = resp->create_offer->offer;
		snprintf(offer_id, sizeof(offer_id), "%s", o->offer_id);
		if (o->mode != H_MODE(FAIRPAY) || o->status != H_STATUS(OPEN)) {
			fail_worker(w, "new offer %s: mode %d status %d", offer_id, (int)o->mode,
				    (int)o->status);
			fp_response_free(resp);
			return false;
		}
		fp_response_free(resp);
		resp = NULL;

		Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
		ao.offer_id = offer_id;
		fairpay__v1__request__init(&req);
		req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
		req.accept_offer = &ao;
		code = step(w, &req, "accept", &resp);
		fp_response_free(resp);
		resp = NULL;
		if (code == H_PRECONDITION) {
			/* Under a new key after a stuck one: accepted already? */
			int st = offer_status(w, offer_id);
			if (st != H_STATUS(ACCEPTED)) {
				fail_worker(w, "AcceptOffer %s refused (%s), offer status %d",
					    offer_id, w->rc.err, st);
				return false;
			}
			w->refused++;
		} else if (code != H_OK) {
			fail_worker(w, "AcceptOffer %s answered %s: %s", offer_id,
				    h_code_name(code), w->rc.err);
			return false;
		}
	}

	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	sp.offer_id = offer_id;
	sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	sp.amount_minor = 500 + (int64_t)(rand_r(&w->seed) % 1500);
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	req.submit_payment = &sp;
	code = step(w, &req, "pay", &resp);
	if (code == H_OK) {
		const Fairpay__V1__Payment *p = resp->submit_payment->payment;
		if (strcmp(p->offer_id, offer_id) != 0 || p->amount_minor != sp.amount_minor) {
			fail_worker(w, "SubmitPayment %s answered payment %s of offer %s, %lld",
				    offer_id, p->payment_id, p->offer_id,
				    (long long)p->amount_minor);
		} else {
			keep_ack(w, p);
		}
		const Fairpay__V1__Offer *next = resp->submit_payment->next_offer;
		if (next != NULL && next->status == H_STATUS(ACCEPTED)) {
			snprintf(w->chain, sizeof(w->chain), "%s", next->offer_id);
			snprintf(w->chain_customer, sizeof(w->chain_customer), "%s", customer);
		}
	} else if (code == H_PRECONDITION) {
		/* Under a new key after a stuck one, or the first attempt's
		 * commit was not answered: paid already? */
		int st = offer_status(w, offer_id);
		if (st != H_STATUS(PAID)) {
			fail_worker(w, "SubmitPayment %s refused (%s), offer status %d", offer_id,
				    w->rc.err, st);
		} else {
			w->refused++;
			w->unacked_paid++;
		}
	} else {
		fail_worker(w, "SubmitPayment %s answered %s: %s", offer_id, h_code_name(code),
			    w->rc.err);
	}
	fp_response_free(resp);
	w->cycles++;
	return w->err[0] == '\0';
}

static void *run_worker(void *arg)
{
	worker *w = arg;
	for (int n = 0; atomic_load(w->stop) == 0; n++)
		if (!run_cycle(w, n))
			break;
	h_rc_close(&w->rc);
	return NULL;
}

/* ---------------------------------------------------------------- PostgreSQL */

/* A connection to the maintenance database, retried while PostgreSQL
 * recovers from a killed backend; NULL after 60 s. */
static PGconn *pg_admin(void)
{
	char *ci = h_fmt("host=%s port=%s user=postgres dbname=postgres", h_env("FP_PGHOST"),
			 h_env("FP_PGPORT"));
	int64_t deadline = h_now_ms() + 60000;
	PGconn *pg = NULL;
	for (;;) {
		pg = PQconnectdb(ci);
		if (PQstatus(pg) == CONNECTION_OK)
			break;
		PQfinish(pg);
		pg = NULL;
		if (h_now_ms() > deadline)
			break;
		h_sleep_ms(100);
	}
	free(ci);
	return pg;
}

/* The pids of the client backends connected to the test database. */
static int server_backends(int *pids, int max)
{
	PGconn *pg = pg_admin();
	if (pg == NULL)
		fail_msg("PostgreSQL did not come back within 60 s");
	PGresult *r = PQexec(pg, "SELECT pid FROM pg_stat_activity WHERE datname = '" DB_NAME
				 "' AND backend_type = 'client backend' ORDER BY pid");
	int n = 0;
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		for (int i = 0; i < PQntuples(r) && n < max; i++)
			pids[n++] = atoi(PQgetvalue(r, i, 0));
	PQclear(r);
	PQfinish(pg);
	return n;
}

static void terminate_backends(const int *pids, int n)
{
	PGconn *pg = pg_admin();
	if (pg == NULL)
		fail_msg("PostgreSQL did not come back within 60 s");
	for (int i = 0; i < n; i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pids[i]);
		PQclear(PQexec(pg, sql));
	}
	PQfinish(pg);
}

/* The result of a query that must return rows (PQclear it). */
static PGresult *query(const char *sql)
{
	PGconn *pg = PQconnectdb(T.db);
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("cannot connect: %s", PQerrorMessage(pg));
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQfinish(pg);
	return r;
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
	/* Acknowledged commits must survive a PostgreSQL crash restart; the test
	 * cluster runs with synchronous_commit off, which may lose the last
	 * few on a crash (fsync off does not matter here: the operating system
	 * keeps what was written). */
	free(h_sql(T.db, "ALTER DATABASE " DB_NAME " SET synchronous_commit = on"));
	T.admin_key = h_bootstrap_admin(T.db);
	start_server(NULL);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.admin_key);
	free(T.db);
	return 0;
}

/* A vendor whose offers are always FAIRPAY however the scores go: a one-off
 * and a monthly product, thresholds 0 and credit without limit. */
static char *make_vendor(const char *name, char **api_key)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *vid = NULL;
	fp_client *c = h_vendor_client(T.srv, admin, name, &vid, api_key);
	h_product(c, "basic", 1000, 1200);
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = "monthly";
	p.name = "monthly";
	p.currency = "USD";
	p.suggested_price_minor = 1000;
	p.list_price_minor = 1200;
	p.period_days = 30;
	h_must(h_put_product(c, &p, NULL), "PutProduct monthly");
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
	return vid;
}

typedef struct load {
	worker w[WORKERS];
	pthread_t th[WORKERS];
	atomic_int stop;
	atomic_int acked;
	int64_t started_ms;
} load;

static void load_start(load *L, const char *tag, const char *api_key)
{
	memset(L, 0, sizeof(*L));
	atomic_init(&L->stop, 0);
	atomic_init(&L->acked, 0);
	for (int i = 0; i < WORKERS; i++) {
		worker *w = &L->w[i];
		w->no = i;
		w->tag = tag;
		w->stop = &L->stop;
		w->acked = &L->acked;
		w->seed = (unsigned)(h_now_ms() * 31 + i);
		h_rc_init(&w->rc, T.port, api_key);
	}
	L->started_ms = h_now_ms();
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&L->th[i], NULL, run_worker, &L->w[i]), 0);
}

/* Wait until the workers have n more acknowledged payments; fail after 60 s
 * (300 s under valgrind). */
static void wait_progress(load *L, int n)
{
	int want = atomic_load(&L->acked) + n;
	int64_t deadline = h_now_ms() + (h_slow() ? 300000 : 60000);
	while (atomic_load(&L->acked) < want && h_now_ms() < deadline)
		h_sleep_ms(20);
	if (atomic_load(&L->acked) < want)
		fail_msg("no progress: %d acknowledged payments, waited for %d",
			 atomic_load(&L->acked), want);
}

/* Stop the workers (each finishes its cycle), fail on a worker's error. */
static void load_stop(load *L)
{
	atomic_store(&L->stop, 1);
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_join(L->th[i], NULL), 0);
	for (int i = 0; i < WORKERS; i++)
		if (L->w[i].err[0] != '\0')
			fail_msg("worker %d: %s", i, L->w[i].err);
}

static void load_free(load *L)
{
	for (int i = 0; i < WORKERS; i++)
		free(L->w[i].acks);
}

static int random_ms(int lo, int hi)
{
	return lo + rand() % (hi - lo + 1);
}

/* ---------------------------------------------------------------- the checks */

static long long count_where(const char *vid, const char *sql_fmt)
{
	char *sql = h_fmt(sql_fmt, vid);
	long long n = h_sql_int(T.db, sql);
	free(sql);
	return n;
}

/* Fail with the query's name unless it counts 0 rows. */
static void expect_none(const char *vid, const char *what, const char *sql_fmt)
{
	long long n = count_where(vid, sql_fmt);
	if (n != 0)
		fail_msg("%lld %s (vendor %s)", n, what, vid);
}

static int cmp_ack(const void *a, const void *b)
{
	return strcmp(((const ack *)a)->payment_id, ((const ack *)b)->payment_id);
}

static void check_everything(load *L, const char *vid, const char *phase, int rounds)
{
	/* Every acknowledged payment is stored once, as acknowledged. */
	size_t n = 0;
	for (int i = 0; i < WORKERS; i++)
		n += L->w[i].n_acks;
	ack *all = calloc(n + 1, sizeof(*all));
	assert_non_null(all);
	size_t k = 0;
	for (int i = 0; i < WORKERS; i++)
		for (size_t j = 0; j < L->w[i].n_acks; j++)
			all[k++] = L->w[i].acks[j];
	qsort(all, n, sizeof(*all), cmp_ack);
	for (size_t i = 1; i < n; i++)
		if (strcmp(all[i].payment_id, all[i - 1].payment_id) == 0)
			fail_msg("payment %s acknowledged twice", all[i].payment_id);
	char *sql = h_fmt("SELECT id, offer_id, amount_minor FROM payments WHERE vendor_id = '%s' "
			  "ORDER BY id COLLATE \"C\"",
			  vid);
	PGresult *r = query(sql);
	free(sql);
	int rows = PQntuples(r);
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		int lo = 0, hi = rows - 1, at = -1;
		while (lo <= hi) {
			int mid = (lo + hi) / 2;
			int c = strcmp(PQgetvalue(r, mid, 0), all[i].payment_id);
			if (c == 0) {
				at = mid;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		if (at < 0)
			fail_msg("acknowledged payment %s (offer %s) is not stored",
				 all[i].payment_id, all[i].offer_id);
		if (strcmp(PQgetvalue(r, at, 1), all[i].offer_id) != 0 ||
		    strtoll(PQgetvalue(r, at, 2), NULL, 10) != all[i].amount)
			fail_msg("payment %s stored for offer %s amount %s, acknowledged for "
				 "offer %s amount %lld",
				 all[i].payment_id, PQgetvalue(r, at, 1), PQgetvalue(r, at, 2),
				 all[i].offer_id, (long long)all[i].amount);
		found++;
	}
	PQclear(r);
	free(all);

	/* No offer paid twice; payments and offer states agree. */
	expect_none(vid, "offers with more than one payment",
		    "SELECT count(*) FROM (SELECT offer_id FROM payments WHERE vendor_id = '%s' "
		    "GROUP BY offer_id HAVING count(*) > 1) x");
	expect_none(vid, "payments of offers that are not PAID",
		    "SELECT count(*) FROM payments p JOIN offers o ON o.vendor_id = p.vendor_id "
		    "AND o.id = p.offer_id WHERE p.vendor_id = '%s' AND o.status <> 'PAID'");
	expect_none(vid, "PAID offers without exactly one payment",
		    "SELECT count(*) FROM offers o WHERE o.vendor_id = '%s' AND o.status = 'PAID' "
		    "AND (SELECT count(*) FROM payments p WHERE p.vendor_id = o.vendor_id AND "
		    "p.offer_id = o.id) <> 1");
	expect_none(vid, "offers in an unknown status",
		    "SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status NOT IN "
		    "('OPEN', 'ACCEPTED', 'PAID', 'DECLINED', 'EXPIRED', 'DEFAULTED')");
	expect_none(vid, "OPEN offers with accepted_at, pay_by or closed_at",
		    "SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = 'OPEN' AND "
		    "(accepted_at IS NOT NULL OR pay_by IS NOT NULL OR closed_at IS NOT NULL)");
	expect_none(vid, "ACCEPTED offers without accepted_at or pay_by, or closed",
		    "SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = 'ACCEPTED' "
		    "AND (accepted_at IS NULL OR pay_by IS NULL OR closed_at IS NOT NULL)");
	expect_none(vid, "PAID offers never accepted or without closed_at",
		    "SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = 'PAID' AND "
		    "(accepted_at IS NULL OR pay_by IS NULL OR closed_at IS NULL)");
	expect_none(vid, "offers in an unexpected status (this load only opens, accepts, pays)",
		    "SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status NOT IN "
		    "('OPEN', 'ACCEPTED', 'PAID')");

	/* The ledger has each change exactly once. */
	expect_none(vid, "offers without exactly one OFFER_CREATED event",
		    "SELECT count(*) FROM offers o WHERE o.vendor_id = '%s' AND (SELECT count(*) "
		    "FROM events e WHERE e.vendor_id = o.vendor_id AND e.offer_id = o.id AND "
		    "e.kind = 'OFFER_CREATED') <> 1");
	expect_none(vid, "accepted offers without exactly one OFFER_ACCEPTED event",
		    "SELECT count(*) FROM offers o WHERE o.vendor_id = '%s' AND (SELECT count(*) "
		    "FROM events e WHERE e.vendor_id = o.vendor_id AND e.offer_id = o.id AND "
		    "e.kind = 'OFFER_ACCEPTED') <> (CASE WHEN o.accepted_at IS NULL THEN 0 ELSE 1 "
		    "END)");
	expect_none(vid, "payments without exactly one PAYMENT_RECEIVED event",
		    "SELECT count(*) FROM payments p WHERE p.vendor_id = '%s' AND (SELECT count(*) "
		    "FROM events e WHERE e.vendor_id = p.vendor_id AND e.payment_id = p.id AND "
		    "e.kind = 'PAYMENT_RECEIVED') <> 1");
	expect_none(vid, "PAYMENT_RECEIVED events without their payment",
		    "SELECT count(*) FROM events e WHERE e.vendor_id = '%s' AND e.kind = "
		    "'PAYMENT_RECEIVED' AND NOT EXISTS (SELECT 1 FROM payments p WHERE "
		    "p.vendor_id = e.vendor_id AND p.id = e.payment_id)");

	/* Recurring: a paid cycle has exactly one successor, an unpaid none. */
	expect_none(vid, "monthly cycles with a wrong number of successors",
		    "SELECT count(*) FROM offers o WHERE o.vendor_id = '%s' AND o.sku = 'monthly' "
		    "AND (SELECT count(*) FROM offers s WHERE s.vendor_id = o.vendor_id AND "
		    "s.previous_offer_id = o.id) <> (CASE WHEN o.status = 'PAID' THEN 1 ELSE 0 "
		    "END)");

	/* The stored reputations agree with the history. */
	char *ctl = h_ctl();
	char *db = h_shq(T.db);
	char *cmd = h_fmt("%s reputation verify --db %s --vendor %s 2>&1", ctl, db, vid);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0)
		fail_msg("fairpayctl reputation verify exited %d:\n%s", rc, out);

	long long stored = count_where(vid, "SELECT count(*) FROM payments WHERE vendor_id = '%s'");
	long long offers = count_where(vid, "SELECT count(*) FROM offers WHERE vendor_id = '%s'");
	long long in_flight =
		count_where(vid, "SELECT count(*) FROM idempotency WHERE vendor_id = "
				 "'%s' AND state = 'IN_FLIGHT' AND created_at < now()");
	int cycles = 0, unacked = 0, no_reply = 0, unavailable = 0, aborted = 0, fresh = 0,
	    refused = 0, connects = 0;
	for (int i = 0; i < WORKERS; i++) {
		worker *w = &L->w[i];
		cycles += w->cycles;
		unacked += w->unacked_paid;
		no_reply += w->no_reply;
		unavailable += w->unavailable;
		aborted += w->aborted;
		fresh += w->fresh_keys;
		refused += w->refused;
		connects += w->rc.connects;
	}
	print_message("%s: %d rounds, %d workers, %d customers, %d cycles in %lld ms\n", phase,
		      rounds, WORKERS, CUSTOMERS, cycles, (long long)(h_now_ms() - L->started_ms));
	print_message("%s: %zu acknowledged payments, all stored once with their offer and "
		      "amount; %lld payments stored (%d known paid without an acknowledgement); "
		      "%lld offers\n",
		      phase, found, stored, unacked, offers);
	print_message("%s: retries: %d broken connections, %d UNAVAILABLE, %d ABORTED; %d keys "
		      "replaced after staying IN_FLIGHT; %d steps refused as done already; %d "
		      "connects\n",
		      phase, no_reply, unavailable, aborted, fresh, refused, connects);
	print_message(
		"%s: checked: every answer OK, UNAVAILABLE, ABORTED (a key left IN_FLIGHT) "
		"or a step refused as done already; no offer paid twice, payments only on "
		"PAID offers, PAID/ACCEPTED/OPEN fields consistent, one event per change, one "
		"successor per paid monthly cycle, reputation verify exit 0\n",
		phase);
	print_message("%s: idempotency records still IN_FLIGHT: %lld\n", phase, in_flight);
	/* Records are written with their change: none is ever in flight. */
	assert_int_equal(in_flight, 0);
	print_message("%s: verify: %s", phase, out);
	/* Everything stored but not acknowledged is explained by the workers. */
	if (stored < (long long)found)
		fail_msg("%lld payments stored, %zu acknowledged", stored, found);
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

/* ---------------------------------------------------------------- tests */

static void test_kill_server(void **state)
{
	char *key = NULL;
	char *vid = make_vendor("crash server", &key);
	load L;
	load_start(&L, "srv", key);
	wait_progress(&L, 20);
	for (int round = 1; round <= SERVER_KILLS; round++) {
		h_sleep_ms(random_ms(200, 800));
		int before = atomic_load(&L.acked);
		int status = h_server_stop(T.srv, SIGKILL);
		assert_int_equal(status, 128 + SIGKILL);
		h_server_free(T.srv);
		int64_t t0 = h_now_ms();
		start_server(T.port);
		T.restarts++;
		print_message("round %d: SIGKILL with %d payments acknowledged, serving again "
			      "after %lld ms\n",
			      round, before, (long long)(h_now_ms() - t0));
		/* Let the next round find work in flight. */
		wait_progress(&L, 3);
	}
	h_sleep_ms(500);
	load_stop(&L);
	check_everything(&L, vid, "server SIGKILL", SERVER_KILLS);
	load_free(&L);
	free(vid);
	free(key);
}

static void test_kill_postgres_backends(void **state)
{
	char *key = NULL;
	char *vid = make_vendor("crash postgres", &key);
	load L;
	load_start(&L, "pg", key);
	wait_progress(&L, 20);
	int terminated = 0, killed = 0;
	for (int round = 1; round <= BACKEND_KILLS; round++) {
		h_sleep_ms(random_ms(200, 800));
		int pids[64];
		/* After a SIGKILL the whole cluster restarts: payments the
		 * backends committed just before can be acknowledged before the
		 * server has reconnected. Wait for its sessions (30 s). */
		int n = server_backends(pids, 64);
		for (int64_t t0 = h_now_ms(); n == 0 && h_now_ms() - t0 < 30000;) {
			h_sleep_ms(50);
			n = server_backends(pids, 64);
		}
		int before = atomic_load(&L.acked);
		if (n == 0)
			fail_msg("round %d: the server has no PostgreSQL backend after 30 s",
				 round);
		if (round % 2 == 1) {
			/* Every backend of the server, politely. */
			terminate_backends(pids, n);
			terminated += n;
			print_message("round %d: pg_terminate_backend on %d backends with %d "
				      "payments acknowledged\n",
				      round, n, before);
		} else {
			/* One backend killed: PostgreSQL resets every backend and
			 * runs crash recovery. */
			int victim = pids[rand() % n];
			if (kill(victim, SIGKILL) != 0)
				fail_msg("kill -9 %d failed", victim);
			killed++;
			print_message("round %d: SIGKILL to backend %d (of %d) with %d payments "
				      "acknowledged\n",
				      round, victim, n, before);
		}
		assert_true(h_server_alive(T.srv));
		int64_t t0 = h_now_ms();
		wait_progress(&L, 3);
		print_message("round %d: payments acknowledged again after %lld ms\n", round,
			      (long long)(h_now_ms() - t0));
	}
	h_sleep_ms(500);
	load_stop(&L);
	assert_true(h_server_alive(T.srv));
	print_message("postgres: %d backends terminated, %d killed with SIGKILL\n", terminated,
		      killed);
	check_everything(&L, vid, "postgres backends killed", BACKEND_KILLS);
	char *log = h_server_log(T.srv);
	assert_false(h_contains(log, "AddressSanitizer"));
	free(log);
	load_free(&L);
	free(vid);
	free(key);
}

static void test_clean_shutdown(void **state)
{
	/* The last server (restarted after the kills, through the PostgreSQL
	 * crashes) still shuts down cleanly. */
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
	print_message("fairpayd restarted %d times; the last one exited 0 on SIGTERM\n",
		      T.restarts);
}

int main(void)
{
	srand((unsigned)h_now_ms());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_server),
		cmocka_unit_test(test_kill_postgres_backends),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
