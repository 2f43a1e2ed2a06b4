/* Keyed load for the integration tests (see keyed_load.h): callers that
 * retry a keyed call with the same key until it is answered, the cycle and
 * CreateVendor threads, the record of what the clients were told, and the
 * checks of the database against that record. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "keyed_load.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define ID_LEN 48
#define NAME_LEN 64
#define DEFAULT_WORKERS 6
#define DEFAULT_CUSTOMERS 3
#define MAX_WORKERS 32
#define MAX_LOST 64

typedef Fairpay__V1__Response resp_t;

/* ---------------------------------------------------------------- violations */

static const char *const kind_names[KL_KINDS] = {
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

#define KEEP 3 /* examples kept per kind */

static struct {
	pthread_mutex_t mu;
	int count[KL_KINDS];
	char msg[KL_KINDS][KEEP][600];
} V = { .mu = PTHREAD_MUTEX_INITIALIZER };

void kl_violation(kl_kind kind, const char *fmt, ...)
{
	pthread_mutex_lock(&V.mu);
	int n = V.count[kind]++;
	if (n < KEEP) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(V.msg[kind][n], sizeof(V.msg[kind][n]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&V.mu);
}

int kl_violations(void)
{
	pthread_mutex_lock(&V.mu);
	int n = 0;
	for (int k = 0; k < KL_KINDS; k++)
		n += V.count[k];
	pthread_mutex_unlock(&V.mu);
	return n;
}

void kl_violations_reset(void)
{
	pthread_mutex_lock(&V.mu);
	memset(V.count, 0, sizeof(V.count));
	pthread_mutex_unlock(&V.mu);
}

/* One line per example: cmocka's messages are cut at 1 KiB, so the failure
 * itself carries only the counts and the first example. */
void kl_report(const char *what)
{
	int total = kl_violations();
	if (total == 0)
		return;
	char counts[600] = "", first[600] = "";
	size_t len = 0;
	print_message("%s: %d violations of the idempotency guarantee:\n", what, total);
	for (int k = 0; k < KL_KINDS; k++) {
		if (V.count[k] == 0)
			continue;
		print_message("  %s: %d time(s), e.g.\n", kind_names[k], V.count[k]);
		for (int i = 0; i < V.count[k] && i < KEEP; i++)
			print_message("    - %s\n", V.msg[k][i]);
		if (len < sizeof(counts))
			len += (size_t)snprintf(counts + len, sizeof(counts) - len, "%s%s: %d",
						len ? "; " : "", kind_names[k], V.count[k]);
		if (first[0] == '\0')
			snprintf(first, sizeof(first), "%s", V.msg[k][0]);
	}
	fail_msg("%s: %d violations of the idempotency guarantee (%s); first: %.300s", what, total,
		 counts, first);
}

/* ---------------------------------------------------------------- keyed calls */

/* A killed server's database session ends within moments (its sockets close
 * with it), so a retry answered ABORTED for this long is stuck. */
static int default_abort_ms(void)
{
	return h_slow() ? 30000 : 8000;
}

static int default_call_ms(void)
{
	return h_slow() ? 120000 : 20000;
}

void kl_caller_init(kl_caller *cl, const char *ports, const char *api_key, unsigned seed,
		    atomic_int *answered, const kl_limits *lim)
{
	memset(cl, 0, sizeof(*cl));
	const char *p = ports;
	while (*p != '\0' && cl->n_ports < KL_MAX_PORTS) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(cl->ports[0]))
			fail_msg("kl_caller_init: bad port list '%s'", ports);
		memcpy(cl->ports[cl->n_ports], p, n);
		cl->ports[cl->n_ports][n] = '\0';
		cl->n_ports++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (cl->n_ports == 0)
		fail_msg("kl_caller_init: no port in '%s'", ports);
	cl->at = (int)(seed % (unsigned)cl->n_ports);
	h_rc_init(&cl->rc, cl->ports[cl->at], api_key);
	cl->seed = seed;
	cl->answered = answered;
	if (lim != NULL)
		cl->lim = *lim;
	if (cl->lim.abort_ms <= 0)
		cl->lim.abort_ms = default_abort_ms();
	if (cl->lim.call_ms <= 0)
		cl->lim.call_ms = default_call_ms();
}

void kl_caller_close(kl_caller *cl)
{
	h_rc_close(&cl->rc);
}

const char *kl_attempts_text(const kl_caller *cl, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%d attempt(s): %d without a reply, %d UNAVAILABLE, %d ABORTED; last error '%s'",
		 cl->c_attempts, cl->c_no_reply, cl->c_unavailable, cl->c_aborted, cl->rc.err);
	return buf;
}

/* After a connection failed, try the next server (the rclient reconnects on
 * its next call). */
static void next_port(kl_caller *cl)
{
	if (cl->n_ports < 2 || cl->rc.c != NULL)
		return;
	cl->at = (cl->at + 1) % cl->n_ports;
	memcpy(cl->rc.port, cl->ports[cl->at], sizeof(cl->rc.port));
}

int kl_resolve(kl_caller *cl, Fairpay__V1__Request *req, const char *what, resp_t **resp)
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
			next_port(cl);
		} else if (code == FAIRPAY__V1__CODE__UNAVAILABLE) {
			cl->unavailable++;
			cl->c_unavailable++;
		} else if (code == H_ABORTED) {
			cl->aborted++;
			cl->c_aborted++;
		} else {
			if (code == H_OK && cl->answered != NULL)
				atomic_fetch_add(cl->answered, 1);
			if (now - start > cl->longest_ms)
				cl->longest_ms = now - start;
			return code;
		}
		fp_response_free(*resp);
		*resp = NULL;
		if (code != H_ABORTED) {
			aborted_since = 0;
		} else {
			if (aborted_since == 0)
				aborted_since = now;
			if (now - aborted_since >= cl->lim.abort_ms) {
				kl_violation(KL_ABORTED,
					     "%s: still answered ABORTED after %lld ms of retrying "
					     "(%s); a request left in flight by a killed server "
					     "must stop answering ABORTED once its database "
					     "session has ended",
					     what, (long long)(now - aborted_since),
					     kl_attempts_text(cl, how, sizeof(how)));
				return H_ABORTED;
			}
		}
		if (now - start >= cl->lim.call_ms) {
			kl_violation(KL_NO_ANSWER, "%s: no answer within %d ms (%s)", what,
				     cl->lim.call_ms, kl_attempts_text(cl, how, sizeof(how)));
			return H_NO_REPLY;
		}
		/* A record in flight takes a while to clear: back off more. */
		int pause = code == H_ABORTED ? 40 : 10;
		h_sleep_ms(pause + (int)(rand_r(&cl->seed) % (unsigned)pause));
	}
}

const char *kl_offer_of_create(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER && r->create_offer &&
			       r->create_offer->offer
		       ? r->create_offer->offer->offer_id
		       : NULL;
}

const char *kl_offer_of_accept(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_ACCEPT_OFFER && r->accept_offer &&
			       r->accept_offer->offer
		       ? r->accept_offer->offer->offer_id
		       : NULL;
}

const char *kl_payment_of_submit(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_SUBMIT_PAYMENT &&
			       r->submit_payment && r->submit_payment->payment
		       ? r->submit_payment->payment->payment_id
		       : NULL;
}

const char *kl_vendor_of_create(const resp_t *r)
{
	return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR && r->create_vendor &&
			       r->create_vendor->vendor
		       ? r->create_vendor->vendor->id
		       : NULL;
}

resp_t *kl_keyed(kl_caller *cl, Fairpay__V1__Request *req, const char *what, kl_id_fn id_of)
{
	char how[700];
	resp_t *first = NULL;
	int code = kl_resolve(cl, req, what, &first);
	if (code == H_ABORTED || code == H_NO_REPLY)
		return NULL; /* recorded by kl_resolve() */
	if (code != H_OK) {
		kl_violation(KL_REFUSED,
			     "%s answered %s '%s' (%s): every step of this load is valid, so a "
			     "retry after a failure must get the first reply or run the call, not "
			     "be refused for the first attempt's own effect",
			     what, h_code_name(code),
			     first && first->status ? first->status->message : "",
			     kl_attempts_text(cl, how, sizeof(how)));
		fp_response_free(first);
		return NULL;
	}
	const char *id = id_of(first);
	if (id == NULL || id[0] == '\0') {
		kl_violation(KL_BAD_REPLY, "%s: the OK reply names no object (result case %d)",
			     what, (int)first->result_case);
		fp_response_free(first);
		return NULL;
	}
	if (first->replayed && cl->c_attempts == 1)
		kl_violation(KL_BAD_REPLY,
			     "%s: the first attempt of a new key was answered replayed = true",
			     what);
	char again_what[400];
	snprintf(again_what, sizeof(again_what), "%s, repeated after its OK answer", what);
	resp_t *again = NULL;
	code = kl_resolve(cl, req, again_what, &again);
	if (code == H_ABORTED || code == H_NO_REPLY)
		return first;
	cl->replays_checked++;
	if (code != H_OK) {
		kl_violation(KL_NOT_REPLAYED, "%s answered %s '%s' (%s) instead of the first reply",
			     again_what, h_code_name(code),
			     again && again->status ? again->status->message : "",
			     kl_attempts_text(cl, how, sizeof(how)));
	} else {
		const char *id2 = id_of(again);
		if (!again->replayed)
			kl_violation(KL_NOT_REPLAYED,
				     "%s was not replayed (replayed = false, names %s; the first "
				     "answer named %s): the call ran a second time",
				     again_what, id2 ? id2 : "nothing", id);
		if (id2 == NULL || strcmp(id, id2) != 0)
			kl_violation(KL_OTHER_OBJECT, "%s names %s, the first answer named %s",
				     again_what, id2 ? id2 : "nothing", id);
	}
	fp_response_free(again);
	return first;
}

/* ---------------------------------------------------------------- the cycle workers */

/* An offer the server told a worker about, and how far its cycle got. */
typedef struct told_offer {
	char offer_id[ID_LEN];
	char customer[NAME_LEN];
	char create_key[NAME_LEN];
	int stage; /* 1 created, 2 accepted, 3 paid */
	char payment_id[ID_LEN];
	int64_t amount;
} told_offer;

/* A CreateOffer key that never got an answer. */
typedef struct lost_key {
	char customer[NAME_LEN];
	char key[NAME_LEN];
} lost_key;

typedef struct worker {
	int no;
	const kl_load *load;
	kl_caller cl;
	told_offer *told;
	size_t n_told, cap_told;
	lost_key lost[MAX_LOST];
	int n_lost;
	int cycles, finished;
} worker;

typedef struct told_vendor {
	char name[NAME_LEN];
	char id[ID_LEN];
} told_vendor;

typedef struct admin_thread {
	const kl_load *load;
	kl_caller cl;
	told_vendor *told;
	size_t n_told, cap_told;
	int lost;
} admin_thread;

struct kl_load {
	char tag[24];
	char vendor_id[ID_LEN];
	int workers, customers;
	worker w[MAX_WORKERS];
	pthread_t th[MAX_WORKERS];
	bool with_admin;
	admin_thread admin;
	pthread_t admin_th;
	bool running;
	atomic_int stop;
	atomic_int answered;
};

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

static void customer_name(const kl_load *L, int worker_no, int n, char *buf, size_t len)
{
	snprintf(buf, len, "%s-w%d-c%d", L->tag, worker_no, n % L->customers);
}

static void run_cycle(worker *w, int n)
{
	const kl_load *L = w->load;
	char customer[NAME_LEN], key[NAME_LEN], what[300];
	customer_name(L, w->no, n, customer, sizeof(customer));
	w->cycles++;

	/* CreateOffer. */
	snprintf(key, sizeof(key), "%s-w%d-n%d-create", L->tag, w->no, n);
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	co.customer_id = customer;
	co.sku = "basic";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	req.idempotency_key = key;
	snprintf(what, sizeof(what), "CreateOffer key %s (customer %s)", key, customer);
	resp_t *r = kl_keyed(&w->cl, &req, what, kl_offer_of_create);
	if (r == NULL) {
		if (w->n_lost < MAX_LOST) {
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
		kl_violation(KL_BAD_REPLY,
			     "%s answered offer %s for customer '%s' sku '%s', status %d, mode %d "
			     "(want an OPEN FAIRPAY offer of basic for %s)",
			     what, o->offer_id, o->customer_id, o->sku, (int)o->status,
			     (int)o->mode, customer);
	fp_response_free(r);
	char offer_id[ID_LEN];
	snprintf(offer_id, sizeof(offer_id), "%s", t->offer_id);

	/* AcceptOffer. */
	snprintf(key, sizeof(key), "%s-w%d-n%d-accept", L->tag, w->no, n);
	Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	ao.offer_id = offer_id;
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
	req.accept_offer = &ao;
	req.idempotency_key = key;
	snprintf(what, sizeof(what), "AcceptOffer key %s (offer %s)", key, offer_id);
	r = kl_keyed(&w->cl, &req, what, kl_offer_of_accept);
	if (r == NULL)
		return;
	o = r->accept_offer->offer;
	if (strcmp(o->offer_id, offer_id) != 0 || o->status != H_STATUS(ACCEPTED))
		kl_violation(KL_BAD_REPLY, "%s answered offer %s in status %d (want %s ACCEPTED)",
			     what, o->offer_id, (int)o->status, offer_id);
	fp_response_free(r);
	t = &w->told[w->n_told - 1];
	t->stage = 2;

	/* SubmitPayment. */
	snprintf(key, sizeof(key), "%s-w%d-n%d-pay", L->tag, w->no, n);
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
	r = kl_keyed(&w->cl, &req, what, kl_payment_of_submit);
	if (r == NULL)
		return;
	const Fairpay__V1__Payment *p = r->submit_payment->payment;
	if (strcmp(p->offer_id, offer_id) != 0 || p->amount_minor != sp.amount_minor)
		kl_violation(KL_BAD_REPLY, "%s answered payment %s of offer %s amount %lld", what,
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
	kl_load *L = (kl_load *)w->load;
	/* A cycle, once started, is finished (or given up) even after stop. */
	for (int n = 0; atomic_load(&L->stop) == 0; n++)
		run_cycle(w, n);
	kl_caller_close(&w->cl);
	return NULL;
}

/* ---------------------------------------------------------------- the admin thread */

static void vendor_prefix(const kl_load *L, char *buf, size_t len)
{
	snprintf(buf, len, "%s-vendor-", L->tag);
}

static void *run_admin(void *arg)
{
	admin_thread *a = arg;
	kl_load *L = (kl_load *)a->load;
	char prefix[40]; /* the tag (24) and "-vendor-" */
	vendor_prefix(L, prefix, sizeof(prefix));
	for (int n = 0; atomic_load(&L->stop) == 0; n++) {
		char name[NAME_LEN], key[NAME_LEN], what[200];
		snprintf(name, sizeof(name), "%s%d", prefix, n);
		snprintf(key, sizeof(key), "%s-vendor-%d", L->tag, n);
		Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
		cv.name = name;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
		req.create_vendor = &cv;
		req.idempotency_key = key;
		snprintf(what, sizeof(what), "CreateVendor key %s (name %s)", key, name);
		resp_t *r = kl_keyed(&a->cl, &req, what, kl_vendor_of_create);
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
				kl_violation(KL_BAD_REPLY, "%s answered vendor %s named '%s'", what,
					     t->id, r->create_vendor->vendor->name);
			fp_response_free(r);
		}
		h_sleep_ms(10 + (int)(rand_r(&a->cl.seed) % 30));
	}
	kl_caller_close(&a->cl);
	return NULL;
}

/* ---------------------------------------------------------------- the load */

void kl_make_vendor(const h_server *s, const char *admin_key, const char *name, char **vendor_id,
		    char **vendor_key)
{
	fp_client *admin = h_connect_auth(s, admin_key);
	fp_client *c = h_vendor_client(s, admin, name, vendor_id, vendor_key);
	h_product(c, "basic", 1000, 1200);
	/* Thresholds 0 and credit without limit: every offer is FAIRPAY, so
	 * every cycle of the load is valid whatever the customers paid. */
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
}

kl_load *kl_start(const kl_config *cfg)
{
	kl_load *L = calloc(1, sizeof(*L));
	if (L == NULL)
		fail_msg("out of memory");
	snprintf(L->tag, sizeof(L->tag), "%s", cfg->tag ? cfg->tag : "kl");
	snprintf(L->vendor_id, sizeof(L->vendor_id), "%s", cfg->vendor_id);
	L->workers = cfg->workers > 0 ? cfg->workers : DEFAULT_WORKERS;
	L->customers = cfg->customers > 0 ? cfg->customers : DEFAULT_CUSTOMERS;
	if (L->workers > MAX_WORKERS)
		fail_msg("kl_start: at most %d workers", MAX_WORKERS);
	atomic_init(&L->stop, 0);
	atomic_init(&L->answered, 0);
	unsigned base = (unsigned)h_now_ms();
	for (int i = 0; i < L->workers; i++) {
		worker *w = &L->w[i];
		w->no = i;
		w->load = L;
		kl_caller_init(&w->cl, cfg->ports, cfg->vendor_key, base * 31 + (unsigned)i,
			       &L->answered, &cfg->lim);
	}
	L->with_admin = cfg->admin_key != NULL;
	if (L->with_admin) {
		L->admin.load = L;
		kl_caller_init(&L->admin.cl, cfg->ports, cfg->admin_key, base * 37, &L->answered,
			       &cfg->lim);
	}
	for (int i = 0; i < L->workers; i++)
		assert_int_equal(pthread_create(&L->th[i], NULL, run_worker, &L->w[i]), 0);
	if (L->with_admin)
		assert_int_equal(pthread_create(&L->admin_th, NULL, run_admin, &L->admin), 0);
	L->running = true;
	return L;
}

bool kl_wait_answers(kl_load *L, int n, int timeout_ms)
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

int kl_answered(kl_load *L)
{
	return atomic_load(&L->answered);
}

void kl_stop(kl_load *L)
{
	if (!L->running)
		return;
	atomic_store(&L->stop, 1);
	for (int i = 0; i < L->workers; i++)
		assert_int_equal(pthread_join(L->th[i], NULL), 0);
	if (L->with_admin)
		assert_int_equal(pthread_join(L->admin_th, NULL), 0);
	L->running = false;
}

void kl_free(kl_load *L)
{
	if (L == NULL)
		return;
	kl_stop(L);
	for (int i = 0; i < L->workers; i++)
		free(L->w[i].told);
	free(L->admin.told);
	free(L);
}

void kl_totals_of(kl_load *L, kl_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i <= L->workers; i++) {
		if (i == L->workers && !L->with_admin)
			break;
		const kl_caller *cl = i < L->workers ? &L->w[i].cl : &L->admin.cl;
		t->calls += cl->calls;
		t->attempts += cl->attempts;
		t->no_reply += cl->no_reply;
		t->unavailable += cl->unavailable;
		t->aborted += cl->aborted;
		t->replays += cl->replays_checked;
		t->connects += cl->rc.connects;
		if (cl->longest_ms > t->longest_ms)
			t->longest_ms = cl->longest_ms;
		if (i < L->workers) {
			t->cycles += L->w[i].cycles;
			t->finished += L->w[i].finished;
			for (size_t j = 0; j < L->w[i].n_told; j++) {
				t->offers++;
				t->paid += L->w[i].told[j].stage == 3;
			}
		}
	}
	t->vendors = L->admin.n_told;
	t->vendors_lost = L->admin.lost;
}

void kl_print_totals(kl_load *L)
{
	kl_totals t;
	kl_totals_of(L, &t);
	print_message("%d workers: %d cycles started, %d finished; %zu offers and %zu payments "
		      "answered; admin: %zu vendors answered, %d CreateVendor calls unanswered\n",
		      L->workers, t.cycles, t.finished, t.offers, t.paid, t.vendors,
		      t.vendors_lost);
	print_message("%d keyed calls (%d repeats checked for a replay) in %d attempts: %d "
		      "without a reply, %d UNAVAILABLE, %d ABORTED; %d connects; longest call "
		      "%lld ms\n",
		      t.calls, t.replays, t.attempts, t.no_reply, t.unavailable, t.aborted,
		      t.connects, (long long)t.longest_ms);
}

/* ---------------------------------------------------------------- checks */

/* The rows of a query (PQclear them); fails the test on error. */
static PGresult *query(const char *conninfo, const char *sql)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		PQfinish(pg);
		fail_msg("cannot connect to %s: %s", conninfo, msg);
	}
	PGresult *r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(pg);
		fail_msg("%s: %s", sql, msg);
	}
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

static int cmp_told_offer(const void *a, const void *b)
{
	return strcmp(((const told_offer *)a)->offer_id, ((const told_offer *)b)->offer_id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The CreateOffer keys of customer that never got an answer, for messages. */
static void lost_keys_of(kl_load *L, const char *customer, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int i = 0; i < L->workers; i++)
		for (int j = 0; j < L->w[i].n_lost; j++)
			if (strcmp(L->w[i].lost[j].customer, customer) == 0 && at + 80 < len)
				at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "",
						       L->w[i].lost[j].key);
}

/* A malloc'ed SQL array literal of the load's customers ('{a,b}'::text[]):
 * only their offers and payments are this load's, whatever else the vendor
 * has. The names are the load's own ([a-z0-9-]), so they need no quoting. */
static char *customers_sql(kl_load *L)
{
	size_t cap = (size_t)L->workers * (size_t)L->customers * NAME_LEN + 32;
	char *s = malloc(cap);
	if (s == NULL)
		fail_msg("out of memory");
	size_t at = (size_t)snprintf(s, cap, "'{");
	for (int i = 0; i < L->workers; i++)
		for (int c = 0; c < L->customers; c++) {
			char name[NAME_LEN];
			customer_name(L, i, c, name, sizeof(name));
			at += (size_t)snprintf(s + at, cap - at, "%s%s", at > 2 ? "," : "", name);
		}
	snprintf(s + at, cap - at, "}'::text[]");
	return s;
}

void kl_check_offers(kl_load *L, const char *conninfo)
{
	size_t n = 0;
	for (int i = 0; i < L->workers; i++)
		n += L->w[i].n_told;
	told_offer *all = calloc(n + 1, sizeof(*all));
	assert_non_null(all);
	size_t k = 0, paid = 0;
	for (int i = 0; i < L->workers; i++)
		for (size_t j = 0; j < L->w[i].n_told; j++) {
			all[k++] = L->w[i].told[j];
			paid += L->w[i].told[j].stage == 3;
		}
	qsort(all, n, sizeof(*all), cmp_told_offer);
	for (size_t i = 1; i < n; i++)
		if (strcmp(all[i].offer_id, all[i - 1].offer_id) == 0)
			kl_violation(KL_OTHER_OBJECT,
				     "offer %s was named by the answers to two different "
				     "CreateOffer keys, %s and %s",
				     all[i].offer_id, all[i - 1].create_key, all[i].create_key);

	char *customers = customers_sql(L);
	char *sql = h_fmt("SELECT o.id, o.customer_id, o.status, (SELECT count(*) FROM payments p "
			  "WHERE p.vendor_id = o.vendor_id AND p.offer_id = o.id), (SELECT "
			  "string_agg(p.id || ':' || p.amount_minor, ',') FROM payments p WHERE "
			  "p.vendor_id = o.vendor_id AND p.offer_id = o.id) FROM offers o WHERE "
			  "o.vendor_id = '%s' AND o.customer_id = ANY (%s) ORDER BY o.id COLLATE "
			  "\"C\"",
			  L->vendor_id, customers);
	PGresult *r = query(conninfo, sql);
	free(sql);
	/* Every stored offer was named by an answer. */
	for (int row = 0; row < PQntuples(r); row++) {
		told_offer key;
		snprintf(key.offer_id, sizeof(key.offer_id), "%s", PQgetvalue(r, row, 0));
		if (bsearch(&key, all, n, sizeof(*all), cmp_told_offer) != NULL)
			continue;
		char lost[400];
		lost_keys_of(L, PQgetvalue(r, row, 1), lost, sizeof(lost));
		kl_violation(KL_EXTRA,
			     "offer %s (customer %s, %s, %s payment(s)) is stored but no "
			     "CreateOffer answer named it: a CreateOffer ran without its reply "
			     "reaching any retry (unanswered CreateOffer keys of this customer: "
			     "%s)",
			     PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
			     PQgetvalue(r, row, 3), lost[0] ? lost : "none");
	}
	/* Every named offer is stored; a finished cycle's is PAID once, with
	 * the payment its answer named. */
	for (size_t i = 0; i < n; i++) {
		const told_offer *t = &all[i];
		int row = find_row(r, 0, t->offer_id);
		if (row < 0) {
			kl_violation(KL_MISSING,
				     "offer %s, named by the answer to CreateOffer key %s "
				     "(customer %s), is not stored",
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
				kl_violation(KL_STATE,
					     "offer %s (CreateOffer key %s): its cycle was "
					     "answered OK throughout with payment %s of %lld, but "
					     "the offer is %s with %ld payment(s) [%s]",
					     t->offer_id, t->create_key, t->payment_id,
					     (long long)t->amount, status, npay,
					     PQgetvalue(r, row, 4));
		} else if ((t->stage == 2 && strcmp(status, "OPEN") == 0) || npay > 1) {
			kl_violation(KL_STATE,
				     "offer %s (CreateOffer key %s): answered %s, stored as %s "
				     "with %ld payment(s)",
				     t->offer_id, t->create_key,
				     t->stage == 2 ? "ACCEPTED" : "OPEN", status, npay);
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
	sql = h_fmt("SELECT id, offer_id, amount_minor FROM payments WHERE vendor_id = '%s' AND "
		    "customer_id = ANY (%s) ORDER BY id COLLATE \"C\"",
		    L->vendor_id, customers);
	r = query(conninfo, sql);
	free(sql);
	free(customers);
	for (int row = 0; row < PQntuples(r); row++) {
		const char *id = PQgetvalue(r, row, 0);
		if (bsearch(&id, ids, m, sizeof(*ids), cmp_str) == NULL)
			kl_violation(KL_EXTRA,
				     "payment %s (offer %s, %s) is stored but no SubmitPayment "
				     "answer named it",
				     id, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2));
	}
	for (size_t i = 0; i < m; i++)
		if (find_row(r, 0, ids[i]) < 0)
			kl_violation(KL_MISSING,
				     "payment %s, named by a SubmitPayment answer, is not stored",
				     ids[i]);
	PQclear(r);
	free(ids);
	free(all);
}

void kl_check_vendors(kl_load *L, const char *conninfo)
{
	if (!L->with_admin)
		return;
	admin_thread *a = &L->admin;
	char prefix[NAME_LEN];
	vendor_prefix(L, prefix, sizeof(prefix));
	char *sql = h_fmt("SELECT id, name FROM vendors WHERE left(name, %zu) = '%s' ORDER BY id "
			  "COLLATE \"C\"",
			  strlen(prefix), prefix);
	PGresult *r = query(conninfo, sql);
	free(sql);
	for (size_t i = 0; i < a->n_told; i++) {
		int row = find_row(r, 0, a->told[i].id);
		if (row < 0)
			kl_violation(KL_MISSING,
				     "vendor %s (%s), named by a CreateVendor answer, is not "
				     "stored",
				     a->told[i].id, a->told[i].name);
		else if (strcmp(PQgetvalue(r, row, 1), a->told[i].name) != 0)
			kl_violation(KL_STATE, "vendor %s is stored as '%s', answered as '%s'",
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
			kl_violation(KL_EXTRA,
				     "vendor %s '%s' is stored but no CreateVendor answer named "
				     "it (%s)",
				     PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), also);
		}
	}
	PQclear(r);
}

void kl_check_verify(const char *conninfo)
{
	char *ctl = h_ctl();
	char *db = h_shq(conninfo);
	char *cmd = h_fmt("%s reputation verify --db %s 2>&1", ctl, db);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0) {
		size_t len = out ? strlen(out) : 0;
		kl_violation(KL_VERIFY, "fairpayctl reputation verify exited %d: %s", rc,
			     out ? out + (len > 450 ? len - 450 : 0) : "");
	} else {
		print_message("reputation verify: %s", out ? out : "\n");
	}
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

/* ---------------------------------------------------------------- database sessions */

static const char *const SESSIONS_WHERE = "datname = $1 AND backend_type = 'client backend' "
					  "AND pid <> pg_backend_pid()";

/* The first value of sql (with dbname as $1) as an integer, or -1. */
static int admin_count(PGconn *pg, const char *sql, const char *dbname)
{
	const char *params[1] = { dbname };
	PGresult *r = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
	int n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
			? atoi(PQgetvalue(r, 0, 0))
			: -1;
	PQclear(r);
	return n;
}

static PGconn *admin_connect(const char *admin)
{
	PGconn *pg = PQconnectdb(admin);
	if (PQstatus(pg) != CONNECTION_OK) {
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

int kl_sessions(const char *admin, const char *dbname)
{
	PGconn *pg = admin_connect(admin);
	if (pg == NULL)
		return -1;
	char *sql = h_fmt("SELECT count(*) FROM pg_stat_activity WHERE %s", SESSIONS_WHERE);
	int n = admin_count(pg, sql, dbname);
	free(sql);
	PQfinish(pg);
	return n;
}

int kl_terminate_sessions(const char *admin, const char *dbname)
{
	PGconn *pg = admin_connect(admin);
	if (pg == NULL)
		fail_msg("cannot connect to PostgreSQL (%s) to terminate the server's backends",
			 admin);
	char *sql = h_fmt("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE %s",
			  SESSIONS_WHERE);
	int n = admin_count(pg, sql, dbname);
	free(sql);
	PQfinish(pg);
	return n;
}

int kl_wait_sessions_gone(const char *admin, const char *dbname, int timeout_ms)
{
	PGconn *pg = admin_connect(admin);
	if (pg == NULL)
		fail_msg("cannot connect to PostgreSQL (%s) to watch the server's backends", admin);
	char *sql = h_fmt("SELECT count(*) FROM pg_stat_activity WHERE %s", SESSIONS_WHERE);
	int64_t t0 = h_now_ms();
	int took = -1;
	for (;;) {
		if (admin_count(pg, sql, dbname) == 0) {
			took = (int)(h_now_ms() - t0);
			break;
		}
		if (h_now_ms() - t0 > timeout_ms)
			break;
		h_sleep_ms(10);
	}
	free(sql);
	PQfinish(pg);
	return took;
}
