/* fairpay-bench: the load generator of `make bench`.
 *
 * N TLS connections (one fp_client each) keep D requests in flight each by
 * pipelining. A few threads (--threads, one per processor) drive them, each
 * waiting on all of its connections at once: a thread per connection would
 * spend the processors the measured server shares on waking threads. In the "cycles" mix every in-flight
 * slot runs whole FairPay cycles, one after another: CreateOffer for a random
 * customer, AcceptOffer, SubmitPayment of the offer's suggested price. In the
 * "reads" mix every slot asks GetReputation of random customers.
 *
 * The load is closed-loop: a slot sends its next request only when the
 * previous one was answered, so a slow server gets fewer requests rather than
 * a growing queue, and the latencies are those of a server that keeps up.
 * With --rate the cycles start on a fixed schedule instead (at most D at
 * once per connection), to measure latency at a given load.
 * A call's latency runs from just before its request is written to the moment
 * its reply is read, in microseconds, into a log-linear histogram per connection
 * (about 3% resolution); the histograms are merged at the end. Every reply
 * that is not OK is counted by call and status code, with the first message
 * seen for each, and makes the exit status 1. After --duration seconds (or
 * SIGINT/SIGTERM) no new request is sent and the replies still owed are read
 * before the figures are printed.
 *
 * In the cycles mix one more connection follows the vendor's event feed
 * (ListEvents long polls from the feed's end): the feed lag is the time from
 * an event's timestamp (its transaction's) to the moment the poll answering
 * it is read, on the same machine's clock. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fairpay/client.h"

#define BENCH_MAX_CONNECTIONS 1024
#define BENCH_MAX_DEPTH 1024 /* slot index lives in the low 16 bits of an id */
#define BENCH_MAX_DURATION 86400
#define BENCH_MAX_CUSTOMERS 100000000
#define BENCH_ID_MAX 64   /* offer ids are "o_" + 16 hex; room for a longer one */
#define BENCH_MSG_MAX 200 /* first error message kept per call and code */
#define BENCH_CODES 18    /* Code values 0..16, then one slot for unknown codes */
#define BENCH_CODE_UNKNOWN 17

/* Log-linear histogram: values 0..63 exactly, then 32 buckets per power of
 * two up to 2^40 us (12 days); larger values land in the last bucket. */
#define HIST_SUB_BITS 5
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_MAX_EXP 40
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_EXP - HIST_SUB_BITS - 1) * HIST_SUB)

typedef enum bench_mix {
	MIX_CYCLES,
	MIX_READS
} bench_mix;

/* What is measured: the four calls, and a whole cycle from the CreateOffer
 * request to the SubmitPayment reply. */
typedef enum bench_kind {
	K_CREATE,
	K_ACCEPT,
	K_SUBMIT,
	K_REPUTATION,
	K_CYCLE,
	K_COUNT
} bench_kind;

static const char *const kind_names[K_COUNT] = {
	"CreateOffer", "AcceptOffer", "SubmitPayment", "GetReputation", "cycle",
};

typedef struct bench_opts {
	const char *server;
	const char *ca;
	const char *api_key;
	const char *sku;
	int connections;
	int threads; /* that drive the connections; 0: one per processor */
	int depth;
	int duration_s;
	int customers;
	int timeout_ms;
	bench_mix mix;
	int rate; /* cycles started per second over all connections; 0: closed loop */
	bool json;
	uint64_t feed_after; /* the feed's end when the run starts (0: page to it) */
} bench_opts;

typedef struct bench_hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t count;
	uint64_t sum;
	uint64_t max;
} bench_hist;

typedef struct bench_stats {
	bench_hist hist[K_COUNT];
	uint64_t errors[K_COUNT][BENCH_CODES];
	char first_msg[K_COUNT][BENCH_CODES][BENCH_MSG_MAX];
	uint64_t cycles;      /* SubmitPayment answered OK */
	uint64_t cut;         /* cycles left unfinished when the run ended */
	uint64_t not_fairpay; /* offers whose mode was not FAIRPAY */
	uint64_t bad_replies; /* OK replies without the expected result */
	uint64_t lost;        /* requests whose reply never came (broken connection) */
	uint64_t conn_errors; /* connections that broke during the run */
	char conn_msg[BENCH_MSG_MAX];
} bench_stats;

typedef struct bench_slot {
	bool busy;
	bench_kind kind; /* the call in flight */
	uint64_t id;
	int64_t sent_ns;
	int64_t cycle_ns; /* when this cycle's CreateOffer was sent */
	int64_t sp;
	int64_t set_price;
	bool set_price_mode;
	char offer_id[BENCH_ID_MAX];
} bench_slot;

typedef struct bench_shared {
	pthread_barrier_t ready; /* every thread connected (or failed) */
	pthread_barrier_t go;    /* start time and deadline are set */
	int64_t deadline_ns;
	volatile int setup_failed;
} bench_shared;

/* One connection and its slots. */
typedef struct bench_conn {
	int index;
	const bench_opts *opts;
	bench_shared *shared;
	fp_client *client;
	bench_slot *slots;
	int inflight;
	uint64_t seq;
	uint64_t rng;
	bench_stats *stats;
	int64_t last_reply_ns;
	bool stopping; /* closed loop: the deadline passed, draining */
	bool done;     /* nothing more to send or read */
	int64_t due;   /* paced: when its next cycle starts */
	char setup_err[BENCH_MSG_MAX + 64];
} bench_conn;

/* A thread and the connections it drives. */
typedef struct bench_loop {
	pthread_t tid;
	bench_shared *shared;
	const bench_opts *opts;
	bench_conn **conns;
	int n;
} bench_loop;

/* The signal that asked to stop (SIGINT or SIGTERM), or 0. */
static volatile sig_atomic_t bench_stopping;

static void on_signal(int sig)
{
	bench_stopping = sig;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

/* ------------------------------------------------------------ histogram */

static int hist_index(uint64_t v)
{
	if (v < HIST_LINEAR)
		return (int)v;
	int e = 63 - __builtin_clzll(v);
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	int shift = e - HIST_SUB_BITS;
	return HIST_LINEAR + (shift - 1) * HIST_SUB + (int)(v >> shift) - HIST_SUB;
}

/* The highest value that falls in bucket i: percentiles err on the slow side. */
static uint64_t hist_upper(int i)
{
	if (i < HIST_LINEAR)
		return (uint64_t)i;
	int j = i - HIST_LINEAR;
	int shift = j / HIST_SUB + 1;
	uint64_t sub = (uint64_t)(j % HIST_SUB + HIST_SUB);
	return (sub << shift) + ((uint64_t)1 << shift) - 1;
}

static void hist_add(bench_hist *h, uint64_t us)
{
	h->n[hist_index(us)]++;
	h->count++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

static void hist_merge(bench_hist *into, const bench_hist *from)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		into->n[i] += from->n[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

/* Return the value at quantile q (0 < q <= 1), in microseconds. */
static uint64_t hist_quantile(const bench_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= rank)
			return hist_upper(i) < h->max ? hist_upper(i) : h->max;
	}
	return h->max;
}

/* ------------------------------------------------------------ statistics */

static int code_slot(int code)
{
	return code >= 0 && code < BENCH_CODE_UNKNOWN ? code : BENCH_CODE_UNKNOWN;
}

static void stats_error(bench_stats *s, bench_kind kind, int code, const char *msg)
{
	int slot = code_slot(code);
	if (s->errors[kind][slot]++ == 0)
		copy_str(s->first_msg[kind][slot], BENCH_MSG_MAX, msg);
}

static void stats_merge(bench_stats *into, const bench_stats *from)
{
	for (int k = 0; k < K_COUNT; k++) {
		hist_merge(&into->hist[k], &from->hist[k]);
		for (int c = 0; c < BENCH_CODES; c++) {
			if (from->errors[k][c] > 0 && into->errors[k][c] == 0)
				copy_str(into->first_msg[k][c], BENCH_MSG_MAX,
					 from->first_msg[k][c]);
			into->errors[k][c] += from->errors[k][c];
		}
	}
	into->cycles += from->cycles;
	into->cut += from->cut;
	into->not_fairpay += from->not_fairpay;
	into->bad_replies += from->bad_replies;
	into->lost += from->lost;
	if (from->conn_errors > 0 && into->conn_errors == 0)
		copy_str(into->conn_msg, BENCH_MSG_MAX, from->conn_msg);
	into->conn_errors += from->conn_errors;
}

static uint64_t stats_error_total(const bench_stats *s)
{
	uint64_t n = 0;
	for (int k = 0; k < K_COUNT; k++)
		for (int c = 1; c < BENCH_CODES; c++)
			n += s->errors[k][c];
	return n;
}

/* ------------------------------------------------------------ requests */

/* xorshift64*: cheap, per thread, good enough to spread customers. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void random_customer(bench_conn *t, char *buf, size_t size)
{
	uint64_t n = rng_next(&t->rng) % (uint64_t)t->opts->customers;
	snprintf(buf, size, "bench-%08" PRIu64, n);
}

/* Send the request for slot i's current call. The slot index rides in the
 * low 16 bits of the request id, so a reply finds its slot without a search. */
static int slot_send(bench_conn *t, int i) __attribute__((warn_unused_result));
static int slot_send(bench_conn *t, int i)
{
	bench_slot *s = &t->slots[i];
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	char customer[32];

	switch (s->kind) {
	case K_CREATE:
		random_customer(t, customer, sizeof(customer));
		co.customer_id = customer;
		co.sku = (char *)t->opts->sku;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
		req.create_offer = &co;
		break;
	case K_ACCEPT:
		ao.offer_id = s->offer_id;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
		req.accept_offer = &ao;
		break;
	case K_SUBMIT:
		sp.offer_id = s->offer_id;
		sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		/* A fair payment; a set price must be paid exactly. */
		sp.amount_minor = s->set_price_mode ? s->set_price : s->sp;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
		req.submit_payment = &sp;
		break;
	case K_REPUTATION:
		random_customer(t, customer, sizeof(customer));
		gr.customer_id = customer;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
		req.get_reputation = &gr;
		break;
	case K_CYCLE:
	case K_COUNT:
		return -1;
	}
	req.id = (++t->seq << 16) | (uint64_t)i;
	s->id = req.id;
	s->sent_ns = now_ns();
	if (s->kind == K_CREATE)
		s->cycle_ns = s->sent_ns;
	if (fp_client_send(t->client, &req, NULL) != 0)
		return -1;
	s->busy = true;
	t->inflight++;
	return 0;
}

/* Whether the OK reply carries the result its call should have. */
static bool reply_shaped(const bench_slot *s, const Fairpay__V1__Response *r)
{
	switch (s->kind) {
	case K_CREATE:
		return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER &&
		       r->create_offer != NULL && r->create_offer->offer != NULL &&
		       r->create_offer->offer->offer_id != NULL &&
		       strlen(r->create_offer->offer->offer_id) < BENCH_ID_MAX;
	case K_ACCEPT:
		return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_ACCEPT_OFFER;
	case K_SUBMIT:
		return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_SUBMIT_PAYMENT;
	case K_REPUTATION:
		return r->result_case == FAIRPAY__V1__RESPONSE__RESULT_GET_REPUTATION;
	case K_CYCLE:
	case K_COUNT:
		break;
	}
	return false;
}

/* Account for the reply to slot s and choose the slot's next call. */
static void slot_reply(bench_conn *t, bench_slot *s, const Fairpay__V1__Response *r, int64_t at_ns)
{
	bench_stats *st = t->stats;
	int code = r->status != NULL ? (int)r->status->code : FAIRPAY__V1__CODE__OK;

	s->busy = false;
	t->inflight--;
	hist_add(&st->hist[s->kind], (uint64_t)(at_ns - s->sent_ns) / 1000);
	if (code != FAIRPAY__V1__CODE__OK) {
		stats_error(st, s->kind, code, r->status->message);
		/* A cycle that failed halfway is given up; the slot starts anew. */
		if (s->kind == K_ACCEPT || s->kind == K_SUBMIT)
			st->cut++;
		s->kind = t->opts->mix == MIX_CYCLES ? K_CREATE : K_REPUTATION;
		return;
	}
	if (!reply_shaped(s, r)) {
		st->bad_replies++;
		if (s->kind == K_ACCEPT || s->kind == K_SUBMIT)
			st->cut++;
		s->kind = t->opts->mix == MIX_CYCLES ? K_CREATE : K_REPUTATION;
		return;
	}
	switch (s->kind) {
	case K_CREATE: {
		const Fairpay__V1__Offer *o = r->create_offer->offer;
		copy_str(s->offer_id, sizeof(s->offer_id), o->offer_id);
		s->sp = o->suggested_price_minor;
		s->set_price = o->set_price_minor;
		s->set_price_mode = o->mode == FAIRPAY__V1__OFFER_MODE__OFFER_MODE_SET_PRICE;
		if (o->mode != FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY)
			st->not_fairpay++;
		s->kind = K_ACCEPT;
		break;
	}
	case K_ACCEPT:
		s->kind = K_SUBMIT;
		break;
	case K_SUBMIT:
		st->cycles++;
		hist_add(&st->hist[K_CYCLE], (uint64_t)(at_ns - s->cycle_ns) / 1000);
		s->kind = K_CREATE;
		break;
	case K_REPUTATION:
	case K_CYCLE:
	case K_COUNT:
		break;
	}
}

/* ------------------------------------------------------------ threads */

static int thread_setup(bench_conn *t) __attribute__((warn_unused_result));
static int thread_setup(bench_conn *t)
{
	fp_client_options o = { 0 };
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;

	o.ca_file = t->opts->ca;
	o.timeout_ms = t->opts->timeout_ms;
	t->client = fp_client_new();
	if (t->client == NULL) {
		copy_str(t->setup_err, sizeof(t->setup_err), "out of memory");
		return -1;
	}
	if (fp_client_connect_addr(t->client, t->opts->server, &o) != 0) {
		snprintf(t->setup_err, sizeof(t->setup_err), "connect to %s: %s", t->opts->server,
			 fp_client_error_message(t->client));
		return -1;
	}
	if (fp_client_authenticate(t->client, t->opts->api_key, &role, NULL) != 0) {
		snprintf(t->setup_err, sizeof(t->setup_err), "authenticate: %s",
			 fp_client_error_message(t->client));
		return -1;
	}
	if (role != FAIRPAY__V1__ROLE__ROLE_VENDOR) {
		copy_str(t->setup_err, sizeof(t->setup_err),
			 "the API key is not a VENDOR key: the cycle calls need one");
		return -1;
	}
	return 0;
}

/* Note a connection that cannot go on (msg says why): whatever was in flight
 * on it is lost, and the cycles those requests were in stay unfinished. */
static void thread_broken(bench_conn *t, const char *msg)
{
	bench_stats *st = t->stats;
	st->conn_errors++;
	snprintf(st->conn_msg, sizeof(st->conn_msg), "connection %d: %s", t->index, msg);
	st->lost += (uint64_t)t->inflight;
	for (int i = 0; i < t->opts->depth; i++) {
		if (t->slots[i].busy &&
		    (t->slots[i].kind == K_ACCEPT || t->slots[i].kind == K_SUBMIT))
			st->cut++;
		t->slots[i].busy = false;
	}
	t->inflight = 0;
}

static void thread_io_failed(bench_conn *t, const char *what)
{
	char msg[BENCH_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s: %s", what, fp_client_error_message(t->client));
	thread_broken(t, msg);
}

/* Read the next reply and account for it; NULL when the connection broke
 * (accounted for too). */
static bench_slot *read_reply(bench_conn *t)
{
	Fairpay__V1__Response *r = NULL;
	if (fp_client_recv(t->client, &r) != 0) {
		thread_io_failed(t, "read");
		return NULL;
	}
	int64_t at = now_ns();
	t->last_reply_ns = at;
	int i = (int)(r->id & 0xffff);
	if (r->id == 0 || i >= t->opts->depth || !t->slots[i].busy || t->slots[i].id != r->id) {
		/* id 0: the server reports a protocol error and closes. */
		char msg[BENCH_MSG_MAX];
		snprintf(msg, sizeof(msg), "reply to id %" PRIu64 " not in flight: %s", r->id,
			 r->status != NULL ? r->status->message : "");
		fp_response_free(r);
		thread_broken(t, msg);
		return NULL;
	}
	bench_slot *s = &t->slots[i];
	slot_reply(t, s, r, at);
	fp_response_free(r);
	return s;
}

static int free_slot(const bench_conn *t)
{
	for (int i = 0; i < t->opts->depth; i++)
		if (!t->slots[i].busy)
			return i;
	return -1;
}

/* The paced cycles mix (--rate): cycles start on a fixed schedule, each on
 * a free slot, whatever the replies; a cycle whose time came while every
 * slot was busy starts late, and its latency still runs from its scheduled
 * time, so a server that falls behind shows it (no coordinated omission).
 * Start the cycles that are due on t; *wait_ms shrinks to when the next is. */
static void paced_tick(bench_conn *t, int64_t now, int *wait_ms)
{
	const int64_t interval = (int64_t)1000000000 * t->opts->connections / t->opts->rate;
	bool stopping = bench_stopping || now >= t->shared->deadline_ns;
	int i;
	while (!stopping && t->due <= now && (i = free_slot(t)) >= 0) {
		t->slots[i].kind = K_CREATE;
		if (slot_send(t, i) != 0) {
			thread_io_failed(t, "send");
			t->done = true;
			return;
		}
		t->slots[i].cycle_ns = t->due;
		t->due += interval;
	}
	if (stopping && t->inflight == 0) {
		t->done = true;
		return;
	}
	if (!stopping && free_slot(t) >= 0) {
		int w = t->due <= now ? 0 : (int)((t->due - now + 999999) / 1000000);
		if (w < *wait_ms)
			*wait_ms = w;
	}
}

/* The paced mix after a reply on slot s: the cycle goes on. */
static void paced_reply(bench_conn *t, bench_slot *s)
{
	if (s->kind != K_ACCEPT && s->kind != K_SUBMIT)
		return; /* the slot is free */
	if (bench_stopping || now_ns() >= t->shared->deadline_ns) {
		t->stats->cut++;
		return;
	}
	if (slot_send(t, (int)(s - t->slots)) != 0) {
		thread_io_failed(t, "send");
		t->done = true;
	}
}

/* The closed loop after a reply on slot s: the slot's next request, until
 * the deadline; then the replies still owed are read. */
static void closed_reply(bench_conn *t, bench_slot *s)
{
	if (!t->stopping && (bench_stopping || t->last_reply_ns >= t->shared->deadline_ns))
		t->stopping = true;
	if (t->stopping) {
		/* Drain: the cycle this slot was in stays unfinished. */
		if (s->kind == K_ACCEPT || s->kind == K_SUBMIT)
			t->stats->cut++;
		return;
	}
	if (slot_send(t, (int)(s - t->slots)) != 0) {
		thread_io_failed(t, "send");
		t->done = true;
	}
}

/* Read every reply t has ready, socket and buffers both. */
static void conn_drain(bench_conn *t, bool paced)
{
	do {
		bench_slot *s = read_reply(t);
		if (s == NULL) {
			t->done = true;
			return;
		}
		if (paced)
			paced_reply(t, s);
		else
			closed_reply(t, s);
		if (t->done || t->inflight == 0)
			return;
	} while (fp_client_wait(t->client, 0) == 1);
}

static void loop_run(bench_loop *l)
{
	const bool paced = l->opts->rate > 0;
	struct pollfd *fds = calloc((size_t)l->n, sizeof(*fds));
	bench_conn **who = calloc((size_t)l->n, sizeof(*who));
	if (fds == NULL || who == NULL) {
		for (int k = 0; k < l->n; k++)
			thread_broken(l->conns[k], "out of memory");
		goto done;
	}
	for (int k = 0; k < l->n; k++) {
		bench_conn *t = l->conns[k];
		if (paced) {
			/* The connections' schedules interleave. */
			const int64_t interval =
				(int64_t)1000000000 * t->opts->connections / t->opts->rate;
			t->due = now_ns() + interval * t->index / t->opts->connections;
			continue;
		}
		for (int i = 0; i < t->opts->depth && !t->done; i++) {
			t->slots[i].kind = t->opts->mix == MIX_CYCLES ? K_CREATE : K_REPUTATION;
			if (slot_send(t, i) != 0) {
				thread_io_failed(t, "send");
				t->done = true;
			}
		}
	}
	for (;;) {
		int64_t now = now_ns();
		int wait_ms = 100, np = 0;
		bool live = false;
		for (int k = 0; k < l->n; k++) {
			bench_conn *t = l->conns[k];
			if (!t->done && paced)
				paced_tick(t, now, &wait_ms);
			else if (!t->done && t->stopping && t->inflight == 0)
				t->done = true;
			if (t->done)
				continue;
			live = true;
			if (t->inflight > 0) {
				fds[np] = (struct pollfd){ .fd = fp_client_fd(t->client),
							   .events = POLLIN };
				who[np++] = t;
			}
		}
		if (!live)
			break;
		if (poll(fds, (nfds_t)np, wait_ms) < 0 && errno != EINTR) {
			for (int k = 0; k < np; k++)
				thread_broken(who[k], strerror(errno));
			break;
		}
		for (int k = 0; k < np; k++)
			if (fds[k].revents != 0)
				conn_drain(who[k], paced);
	}
done:
	free(fds);
	free(who);
}

static void *loop_main(void *arg)
{
	bench_loop *l = arg;

	for (int k = 0; k < l->n && !l->shared->setup_failed; k++)
		if (thread_setup(l->conns[k]) != 0)
			l->shared->setup_failed = 1;
	pthread_barrier_wait(&l->shared->ready);
	pthread_barrier_wait(&l->shared->go);
	if (!l->shared->setup_failed)
		loop_run(l);
	for (int k = 0; k < l->n; k++) {
		fp_client_free(l->conns[k]->client);
		l->conns[k]->client = NULL;
	}
	return NULL;
}

/* ------------------------------------------------------------ feed lag */

typedef struct feed_follow {
	const bench_opts *opts;
	const bench_shared *shared;
	pthread_t tid;
	bench_hist lag; /* microseconds */
	char err[BENCH_MSG_MAX];
} feed_follow;

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One ListEvents; NULL with f->err set on failure. */
static Fairpay__V1__ListEventsResponse *feed_call(feed_follow *f, fp_client *c, uint64_t after,
						  uint32_t wait_ms, Fairpay__V1__Response **resp)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListEventsRequest le = FAIRPAY__V1__LIST_EVENTS_REQUEST__INIT;
	le.after_id = after;
	le.limit = 1000;
	le.wait_ms = wait_ms;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS;
	req.list_events = &le;
	if (fp_client_call(c, &req, resp) != 0) {
		snprintf(f->err, sizeof(f->err), "ListEvents: %s", fp_client_error_message(c));
		return NULL;
	}
	if ((*resp)->status == NULL || (*resp)->status->code != 0 || (*resp)->list_events == NULL) {
		snprintf(f->err, sizeof(f->err), "ListEvents answered %s",
			 (*resp)->status ? (*resp)->status->message : "no status");
		return NULL;
	}
	return (*resp)->list_events;
}

static void *feed_main(void *arg)
{
	feed_follow *f = arg;
	fp_client_options o = { 0 };
	o.ca_file = f->opts->ca;
	o.timeout_ms = f->opts->timeout_ms;
	fp_client *c = fp_client_new();
	if (c == NULL || fp_client_connect_addr(c, f->opts->server, &o) != 0 ||
	    fp_client_authenticate(c, f->opts->api_key, NULL, NULL) != 0) {
		snprintf(f->err, sizeof(f->err), "feed connection: %s",
			 c ? fp_client_error_message(c) : "out of memory");
		fp_client_free(c);
		return NULL;
	}
	/* From the feed's end: earlier runs' events are not this run's lag.
	 * --feed-after saves paging through them. */
	uint64_t after = f->opts->feed_after;
	while (f->opts->feed_after == 0) {
		Fairpay__V1__Response *resp = NULL;
		Fairpay__V1__ListEventsResponse *r = feed_call(f, c, after, 0, &resp);
		size_t n = r ? r->n_events : 0;
		if (r != NULL)
			after = r->next_after_id;
		fp_response_free(resp);
		if (r == NULL || n == 0)
			break;
	}
	while (f->err[0] == '\0' && now_ns() < f->shared->deadline_ns) {
		Fairpay__V1__Response *resp = NULL;
		Fairpay__V1__ListEventsResponse *r = feed_call(f, c, after, 1000, &resp);
		if (r != NULL) {
			int64_t now = wall_ms();
			for (size_t i = 0; i < r->n_events; i++) {
				int64_t lag = now - r->events[i]->at_unix_ms;
				hist_add(&f->lag, lag > 0 ? (uint64_t)lag * 1000 : 0);
			}
			after = r->next_after_id;
		}
		fp_response_free(resp);
	}
	fp_client_free(c);
	return NULL;
}

static void print_feed_lag(const feed_follow *f)
{
	if (f->err[0] != '\0') {
		printf("feed_lag: not measured (%s)\n", f->err);
		return;
	}
	printf("feed_lag_ms: p50 %.1f p99 %.1f max %.1f over %" PRIu64
	       " events (event time to ListEvents answer)\n",
	       (double)hist_quantile(&f->lag, 0.50) / 1000.0,
	       (double)hist_quantile(&f->lag, 0.99) / 1000.0, (double)f->lag.max / 1000.0,
	       f->lag.count);
}

/* ------------------------------------------------------------ output */

static double per_s(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0;
}

/* CPU seconds this process used so far: the load generator shares the
 * machine with the server and the database, so its share is reported. */
static double self_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void print_text(const bench_opts *o, const bench_stats *s, double elapsed, double cpu)
{
	uint64_t calls = 0;
	for (int k = 0; k < K_CYCLE; k++)
		calls += s->hist[k].count;

	printf("mix: %s, %d connections x depth %d, %d s, %d customers, sku %s\n",
	       o->mix == MIX_CYCLES ? "cycles" : "reads", o->connections, o->depth, o->duration_s,
	       o->customers, o->sku);
	printf("elapsed_s: %.3f\n", elapsed);
	printf("client_cpu_s: %.2f (%.0f%% of one core)\n", cpu,
	       elapsed > 0 ? 100.0 * cpu / elapsed : 0.0);
	if (o->mix == MIX_CYCLES)
		printf("cycles: %" PRIu64 "\ncycles/s: %.1f\n", s->cycles,
		       per_s(s->cycles, elapsed));
	printf("calls: %" PRIu64 "\ncalls/s: %.1f\n", calls, per_s(calls, elapsed));
	printf("%-14s %10s %10s %9s %9s %9s %9s\n", "latency", "replies", "per_s", "p50_ms",
	       "p99_ms", "max_ms", "mean_ms");
	for (int k = 0; k < K_COUNT; k++) {
		const bench_hist *h = &s->hist[k];
		if (h->count == 0)
			continue;
		printf("%-14s %10" PRIu64 " %10.1f %9.3f %9.3f %9.3f %9.3f\n", kind_names[k],
		       h->count, per_s(h->count, elapsed), hist_quantile(h, 0.50) / 1000.0,
		       hist_quantile(h, 0.99) / 1000.0, h->max / 1000.0,
		       (double)h->sum / (double)h->count / 1000.0);
	}
	uint64_t errors = stats_error_total(s);
	printf("errors: %" PRIu64 "\n", errors);
	for (int k = 0; k < K_COUNT; k++)
		for (int c = 1; c < BENCH_CODES; c++)
			if (s->errors[k][c] > 0)
				printf("  %-14s %-20s %10" PRIu64 "  first: %s\n", kind_names[k],
				       c == BENCH_CODE_UNKNOWN ? "UNKNOWN_CODE" : fp_code_name(c),
				       s->errors[k][c], s->first_msg[k][c]);
	if (o->mix == MIX_CYCLES) {
		printf("offers_not_fairpay: %" PRIu64 "\n", s->not_fairpay);
		printf("cycles_unfinished: %" PRIu64 "\n", s->cut);
	}
	printf("bad_replies: %" PRIu64 "\n", s->bad_replies);
	printf("connection_errors: %" PRIu64 "\n", s->conn_errors);
	if (s->conn_errors > 0)
		printf("  first: %s (%" PRIu64 " requests lost)\n", s->conn_msg, s->lost);
}

/* Print s as a JSON string; our strings are UTF-8 from the server. */
static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json(const bench_opts *o, const bench_stats *s, double elapsed, double cpu)
{
	uint64_t calls = 0;
	for (int k = 0; k < K_CYCLE; k++)
		calls += s->hist[k].count;

	printf("{\"mix\":\"%s\",\"connections\":%d,\"depth\":%d,\"duration_s\":%d,"
	       "\"customers\":%d,\"sku\":",
	       o->mix == MIX_CYCLES ? "cycles" : "reads", o->connections, o->depth, o->duration_s,
	       o->customers);
	json_str(o->sku);
	printf(",\"elapsed_s\":%.3f,\"client_cpu_s\":%.2f,\"cycles\":%" PRIu64
	       ",\"cycles_per_s\":%.1f,"
	       "\"calls\":%" PRIu64 ",\"calls_per_s\":%.1f,\"latency_us\":{",
	       elapsed, cpu, s->cycles, per_s(s->cycles, elapsed), calls, per_s(calls, elapsed));
	bool first = true;
	for (int k = 0; k < K_COUNT; k++) {
		const bench_hist *h = &s->hist[k];
		if (h->count == 0)
			continue;
		printf("%s\"%s\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
		       ",\"max\":%" PRIu64 ",\"mean\":%.1f}",
		       first ? "" : ",", kind_names[k], h->count, hist_quantile(h, 0.50),
		       hist_quantile(h, 0.99), h->max, (double)h->sum / (double)h->count);
		first = false;
	}
	printf("},\"errors\":[");
	first = true;
	for (int k = 0; k < K_COUNT; k++) {
		for (int c = 1; c < BENCH_CODES; c++) {
			if (s->errors[k][c] == 0)
				continue;
			printf("%s{\"call\":\"%s\",\"code\":\"%s\",\"count\":%" PRIu64
			       ",\"first_message\":",
			       first ? "" : ",", kind_names[k],
			       c == BENCH_CODE_UNKNOWN ? "UNKNOWN_CODE" : fp_code_name(c),
			       s->errors[k][c]);
			json_str(s->first_msg[k][c]);
			putchar('}');
			first = false;
		}
	}
	printf("],\"offers_not_fairpay\":%" PRIu64 ",\"cycles_unfinished\":%" PRIu64
	       ",\"bad_replies\":%" PRIu64 ",\"connection_errors\":%" PRIu64
	       ",\"requests_lost\":%" PRIu64 ",\"first_connection_error\":",
	       s->not_fairpay, s->cut, s->bad_replies, s->conn_errors, s->lost);
	json_str(s->conn_msg);
	printf("}\n");
}

/* ------------------------------------------------------------ command line */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fairpay-bench --server HOST:PORT --ca FILE --api-key KEY --sku SKU\n"
		"                     [--connections N] [--threads T] [--depth D] [--duration S]\n"
		"                     [--customers C] [--mix cycles|reads] [--timeout MS] "
		"[--json]\n"
		"                     [--feed-after ID] [--rate R]\n"
		"\n"
		"Load fairpayd with N connections, each keeping D requests in flight, for S\n"
		"seconds, then print throughput, latency percentiles per call and every\n"
		"error by status code. The API key must be a VENDOR key; in the cycles mix\n"
		"SKU must be one of its products.\n"
		"\n"
		"  --connections N   connections (default 16)\n"
		"  --threads T       threads that drive them (default: one per processor)\n"
		"  --depth D         requests in flight per connection (default 8)\n"
		"  --duration S      seconds of load (default 10)\n"
		"  --customers C     customer ids bench-00000000.. drawn at random (default "
		"10000)\n"
		"  --feed-after ID   the cycles mix follows the feed from this event id (the\n"
		"                    feed's end; default 0: page to the end first)\n"
		"  --mix MIX         cycles: CreateOffer, AcceptOffer, SubmitPayment of the\n"
		"                    suggested price; reads: GetReputation (default cycles)\n"
		"  --rate R          cycles mix: start R cycles per second over all\n"
		"                    connections on a fixed schedule (a cycle's latency runs\n"
		"                    from its scheduled start); default: closed loop\n"
		"  --timeout MS      limit on each read and write (default 30000)\n"
		"  --json            print one JSON object instead of text\n"
		"\n"
		"Exit status: 0 every call answered OK; 1 some call failed or a connection\n"
		"broke (the figures are printed anyway); 2 usage error; 3 cannot connect.\n");
}

static int parse_int(const char *name, const char *s, int lo, int hi, int *out)
	__attribute__((warn_unused_result));
static int parse_int(const char *name, const char *s, int lo, int hi, int *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "fairpay-bench: --%s must be a whole number from %d to %d\n", name,
			lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o) __attribute__((warn_unused_result));
static int parse_args(int argc, char **argv, bench_opts *o)
{
	static const struct option longs[] = {
		{ "server", required_argument, NULL, 's' },
		{ "ca", required_argument, NULL, 'a' },
		{ "api-key", required_argument, NULL, 'k' },
		{ "sku", required_argument, NULL, 'u' },
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 'p' },
		{ "depth", required_argument, NULL, 'd' },
		{ "duration", required_argument, NULL, 'T' },
		{ "customers", required_argument, NULL, 'C' },
		{ "mix", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "feed-after", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (bench_opts){ .connections = 16,
			   .depth = 8,
			   .duration_s = 10,
			   .customers = 10000,
			   .timeout_ms = 30000,
			   .mix = MIX_CYCLES };
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int rc = 0;
		switch (ch) {
		case 's':
			o->server = optarg;
			break;
		case 'a':
			o->ca = optarg;
			break;
		case 'k':
			o->api_key = optarg;
			break;
		case 'u':
			o->sku = optarg;
			break;
		case 'c':
			rc = parse_int("connections", optarg, 1, BENCH_MAX_CONNECTIONS,
				       &o->connections);
			break;
		case 'p':
			rc = parse_int("threads", optarg, 1, BENCH_MAX_CONNECTIONS, &o->threads);
			break;
		case 'd':
			rc = parse_int("depth", optarg, 1, BENCH_MAX_DEPTH, &o->depth);
			break;
		case 'T':
			rc = parse_int("duration", optarg, 1, BENCH_MAX_DURATION, &o->duration_s);
			break;
		case 'f':
			o->feed_after = strtoull(optarg, NULL, 10);
			break;
		case 'C':
			rc = parse_int("customers", optarg, 1, BENCH_MAX_CUSTOMERS, &o->customers);
			break;
		case 't':
			rc = parse_int("timeout", optarg, 1, 3600000, &o->timeout_ms);
			break;
		case 'r':
			rc = parse_int("rate", optarg, 1, 1000000, &o->rate);
			break;
		case 'm':
			if (strcmp(optarg, "cycles") == 0) {
				o->mix = MIX_CYCLES;
			} else if (strcmp(optarg, "reads") == 0) {
				o->mix = MIX_READS;
			} else {
				fprintf(stderr, "fairpay-bench: --mix must be cycles or reads\n");
				rc = -1;
			}
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rc = -1;
			break;
		}
		if (rc != 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "fairpay-bench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->server == NULL || o->ca == NULL || o->api_key == NULL ||
	    (o->mix == MIX_CYCLES && o->sku == NULL)) {
		fprintf(stderr, "fairpay-bench: --server, --ca, --api-key and (for cycles) --sku "
				"are required\n");
		return -1;
	}
	if (o->rate > 0 && o->mix != MIX_CYCLES) {
		fprintf(stderr, "fairpay-bench: --rate paces the cycles mix only\n");
		return -1;
	}
	if (o->sku == NULL)
		o->sku = "";
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	bench_opts opts;
	bench_shared shared = { 0 };
	bench_conn *conns = NULL;
	bench_conn **by_loop = NULL;
	bench_loop *loops = NULL;
	bench_stats *total = NULL;
	int nloops = 0, started = 0;
	int rc = 3;
	bool barriers = false;
	sigset_t block, old;

	if (parse_args(argc, argv, &opts) != 0) {
		usage(stderr);
		return 2;
	}
	nloops = opts.threads;
	if (nloops == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		nloops = cpus > 0 ? (int)cpus : 1;
	}
	if (nloops > opts.connections)
		nloops = opts.connections;
	conns = calloc((size_t)opts.connections, sizeof(*conns));
	by_loop = calloc((size_t)opts.connections, sizeof(*by_loop));
	loops = calloc((size_t)nloops, sizeof(*loops));
	total = calloc(1, sizeof(*total));
	if (conns == NULL || by_loop == NULL || loops == NULL || total == NULL) {
		fprintf(stderr, "fairpay-bench: out of memory\n");
		goto done;
	}
	for (int i = 0; i < opts.connections; i++) {
		bench_conn *t = &conns[i];
		t->index = i;
		t->opts = &opts;
		t->shared = &shared;
		t->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ (uint64_t)now_ns();
		if (t->rng == 0)
			t->rng = 1;
		t->slots = calloc((size_t)opts.depth, sizeof(*t->slots));
		t->stats = calloc(1, sizeof(*t->stats));
		if (t->slots == NULL || t->stats == NULL) {
			fprintf(stderr, "fairpay-bench: out of memory\n");
			goto done;
		}
	}
	/* Connection i goes to thread i % nloops; each thread's are contiguous
	 * in by_loop. */
	for (int l = 0, k = 0; l < nloops; l++) {
		loops[l].shared = &shared;
		loops[l].opts = &opts;
		loops[l].conns = &by_loop[k];
		for (int i = l; i < opts.connections; i += nloops)
			by_loop[k++] = &conns[i];
		loops[l].n = (int)(&by_loop[k] - loops[l].conns);
	}
	if (pthread_barrier_init(&shared.ready, NULL, (unsigned)nloops + 1) != 0 ||
	    pthread_barrier_init(&shared.go, NULL, (unsigned)nloops + 1) != 0) {
		fprintf(stderr, "fairpay-bench: cannot create barriers\n");
		goto done;
	}
	barriers = true;

	/* Threads never take SIGINT/SIGTERM: main does, and tells them by a flag
	 * so that they stop sending and drain instead of dying mid-read. */
	struct sigaction sa = { 0 }, was = { 0 };
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	/* A background job started with SIGINT ignored keeps ignoring it. */
	if (sigaction(SIGINT, NULL, &was) == 0 && was.sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (; started < nloops; started++) {
		if (pthread_create(&loops[started].tid, NULL, loop_main, &loops[started]) != 0) {
			fprintf(stderr, "fairpay-bench: cannot start thread %d\n", started);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* The barriers count every thread, so the ones already started would
	 * wait forever: end the process, which ends them. */
	if (started < nloops)
		exit(3);

	pthread_barrier_wait(&shared.ready);
	double cpu_start = self_cpu_s();
	int64_t start = now_ns();
	shared.deadline_ns = start + (int64_t)opts.duration_s * 1000000000;
	feed_follow *feed = NULL;
	if (opts.mix == MIX_CYCLES && !opts.json) {
		feed = calloc(1, sizeof(*feed));
		if (feed != NULL) {
			feed->opts = &opts;
			feed->shared = &shared;
			if (pthread_create(&feed->tid, NULL, feed_main, feed) != 0) {
				free(feed);
				feed = NULL;
			}
		}
	}
	pthread_barrier_wait(&shared.go);
	int64_t end = start;
	for (int i = 0; i < started; i++)
		pthread_join(loops[i].tid, NULL);
	for (int i = 0; i < opts.connections; i++)
		if (conns[i].last_reply_ns > end)
			end = conns[i].last_reply_ns;
	if (shared.setup_failed) {
		for (int i = 0; i < opts.connections; i++)
			if (conns[i].setup_err[0] != '\0') {
				fprintf(stderr, "fairpay-bench: %s\n", conns[i].setup_err);
				break;
			}
		goto done;
	}

	for (int i = 0; i < opts.connections; i++)
		stats_merge(total, conns[i].stats);
	double elapsed = (double)(end - start) / 1e9;
	double cpu = self_cpu_s() - cpu_start;
	if (opts.json)
		print_json(&opts, total, elapsed, cpu);
	else
		print_text(&opts, total, elapsed, cpu);
	if (feed != NULL) {
		pthread_join(feed->tid, NULL);
		print_feed_lag(feed);
		free(feed);
		feed = NULL;
	}
	fflush(stdout);
	rc = stats_error_total(total) > 0 || total->conn_errors > 0 || total->bad_replies > 0 ? 1
											      : 0;
done:
	if (barriers) {
		pthread_barrier_destroy(&shared.ready);
		pthread_barrier_destroy(&shared.go);
	}
	if (conns != NULL) {
		for (int i = 0; i < opts.connections; i++) {
			free(conns[i].slots);
			free(conns[i].stats);
		}
	}
	free(conns);
	free(by_loop);
	free(loops);
	free(total);
	/* Stopped by a signal: the figures are out, now die of it, so that a
	 * calling shell sees the interrupt and stops too instead of going on. */
	if (bench_stopping != 0) {
		signal(bench_stopping, SIG_DFL);
		raise(bench_stopping);
	}
	return rc;
}
