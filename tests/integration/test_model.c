/* Integration test, model-based: random histories under random policies,
 * driven through two fairpayd processes on one database by several client
 * threads at once, then checked against a sequential replay through the
 * rules library (server/rules/fp_rules.h, linked into the test).
 *
 * Each round makes a fresh vendor with a random policy (thresholds, alpha,
 * prior, probation, credits, excuses, late penalty, ENFORCE or VOLUNTARY) and
 * two products (one flat, one priced per unit; random min_tier and minimum).
 * THREADS threads then run random operations on CUSTOMERS customers, each
 * call through a server picked at random, several threads on the same
 * customer: CreateOffer (sometimes with overrides), AcceptOffer,
 * DeclineOffer, SubmitPayment (an amount or a differential, usage units,
 * reasons that may excuse), ReviewPayment (accept or reject), GetOffer and
 * GetReputation. A thread records only what the servers answered; refusals
 * (FAILED_PRECONDITION) are expected, any other error fails the test. One
 * round has a payment window of 1 s, so that offers default (the sweeper)
 * and some are paid late.
 *
 * Afterwards, for every customer, the stored history (offers, payments,
 * OFFER_DEFAULTED events) is put in time order and replayed: each offer's
 * terms must be fp_offer_terms() of the standing at that moment, each
 * accepted FairPay offer must have fitted the credit, each payment's
 * fairness, verdict and review must be what fp_assess_payment() and
 * fp_review_payment() give, and every reputation a reply carried must be
 * the replayed one at that point. The final replay must equal the stored
 * reputation row, GetReputation through both servers, the rule 7 replay of
 * the closed cycles in (time, id) order, the counts of the event ledger and
 * the counts of OK answers. Last, `fairpayctl reputation verify` must find
 * no difference.
 *
 * The seed is printed; FP_MODEL_SEED=N repeats a run's random choices (the
 * interleaving of the threads differs from run to run). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "fp_rules.h"
#include "harness.h"

#define ROUNDS 4
#define DEFAULTS_ROUND 3 /* payment window 1 s: defaults and late payments */
#define THREADS 4
#define CUSTOMERS 10
#define OPS 250 /* per thread and phase */
#define PHASES 2
#define MAX_OFFERS (THREADS * OPS * PHASES)
#define MAX_PAYMENTS (THREADS * OPS * PHASES)
#define N_PRODUCTS 2
#define ID_LEN 32
#define REPORT_LEN 12000
/* Waits, times 10 under valgrind (h_slow()). */
#define SETTLE_MS 8000   /* for the last accepted offers to default */
#define COHERENT_MS 3000 /* for a server's cache to hear the other's writes */

typedef Fairpay__V1__Response resp_t;

static struct {
	char *db;
	char *admin_key;
	h_server *srv[2];
	fp_client *admin;
	uint64_t seed;
	PGconn *pg;
	int stale_reads; /* GetReputation answers that needed a second look */
} T;

/* ---------------------------------------------------------------- random */

typedef struct rng {
	uint64_t s;
} rng;

/* splitmix64 */
static uint64_t rng_next(rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A number in [lo, hi]. */
static int64_t rng_range(rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static bool rng_chance(rng *r, int percent)
{
	return (int)(rng_next(r) % 100) < percent;
}

/* ---------------------------------------------------------------- enum names */

static const char *const status_names[] = { "",         "OPEN",    "ACCEPTED", "PAID",
					    "DECLINED", "EXPIRED", "DEFAULTED" };
static const char *const mode_names[] = { "", "FAIRPAY", "FAIRPAY_MINIMUM", "SET_PRICE" };
static const char *const tier_names[] = { "",          "FIXED_PRICE", "RESTRICTED",
					  "PROBATION", "STANDARD",    "TRUSTED" };
static const char *const oreason_names[] = { "",
					     "PROBATION",
					     "CREDIT_LIMIT",
					     "LOW_SCORE",
					     "OPEN_DEFAULTS",
					     "TIER_REQUIRED",
					     "PRODUCT_MINIMUM",
					     "VENDOR_OVERRIDE",
					     "VOLUNTARY_MODE" };
static const char *const preason_names[] = { "",
					     "DID_NOT_USE",
					     "POOR_QUALITY",
					     "NOT_AS_DESCRIBED",
					     "TECHNICAL_PROBLEM",
					     "CANNOT_AFFORD",
					     "GREAT_VALUE",
					     "OTHER" };
static const char *const verdict_names[] = { "", "GENEROUS", "FAIR", "LOW", "UNFAIR" };
static const char *const review_names[] = { "", "NOT_NEEDED", "PENDING", "ACCEPTED", "REJECTED" };

#define NAMES(a) a, sizeof(a) / sizeof(a[0])

/* The index of s in names, or -1. */
static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static const char *name_of(const char *const *names, size_t n, int v)
{
	return v > 0 && (size_t)v < n ? names[v] : "?";
}

/* ---------------------------------------------------------------- what the servers answered */

/* A reputation as a reply showed it. */
typedef struct rep_view {
	int32_t score_bp;
	int tier;
	int32_t payments, defaults, open_defaults, offers_accepted;
	int64_t total_paid, total_suggested, credit_limit, credit_used;
} rep_view;

typedef struct known_offer {
	char id[ID_LEN];
	int customer;
	int product;
	bool has_ov;
	fp_overrides ov;
	/* CreateOffer's reply */
	int mode, tier;
	int64_t sp, unit_price, minimum, set_price, credit_limit, credit_used;
	int reasons[FP_MAX_OFFER_REASONS];
	size_t n_reasons;
	int hint; /* the status the latest reply showed, to choose what to do next */
	/* AcceptOffer's reply */
	int accepts_ok;
	int64_t acc_credit_limit, acc_credit_used;
} known_offer;

typedef struct known_payment {
	char id[ID_LEN];
	char offer_id[ID_LEN];
	int customer;
	/* the request */
	bool by_amount;
	int64_t amount_req;
	int32_t differential_bp;
	int64_t usage_units;
	uint32_t reasons;
	/* SubmitPayment's reply */
	int64_t amount, sp;
	int32_t fairness, raw;
	int verdict, review;
	bool late;
	rep_view rep;
	/* ReviewPayment's reply */
	int reviews_ok;
	bool accept;
	int32_t rv_fairness;
	int rv_verdict, rv_review;
	rep_view rv_rep;
} known_payment;

enum {
	OP_CREATE,
	OP_ACCEPT,
	OP_DECLINE,
	OP_PAY,
	OP_REVIEW,
	OP_GET_REP,
	OP_GET_OFFER,
	OP_COUNT
};
static const char *const op_names[OP_COUNT] = { "CreateOffer",   "AcceptOffer",   "DeclineOffer",
						"SubmitPayment", "ReviewPayment", "GetReputation",
						"GetOffer" };

typedef struct product_def {
	char sku[16];
	fp_product terms;
	int64_t unit_price;
} product_def;

typedef struct round_state {
	int index;
	uint64_t seed;
	char *vendor_id;
	char *key;
	fp_policy pol;
	product_def products[N_PRODUCTS];
	char customers[CUSTOMERS][ID_LEN];
	bool naps; /* threads pause now and then, so that offers default */
	pthread_mutex_t mu;
	known_offer offers[MAX_OFFERS];
	size_t n_offers;
	known_payment payments[MAX_PAYMENTS];
	size_t n_payments;
	int ok[CUSTOMERS][OP_COUNT];
	int ops_ok[OP_COUNT], ops_refused[OP_COUNT];
	/* the mismatches found */
	int n_mismatch;
	size_t report_len;
	char report[REPORT_LEN];
} round_state;

static void mismatch(round_state *R, const char *customer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record one difference between the model and the server, naming the
 * customer and the field. */
static void mismatch(round_state *R, const char *customer, const char *fmt, ...)
{
	R->n_mismatch++;
	if (R->report_len + 200 >= sizeof(R->report))
		return;
	int n = snprintf(R->report + R->report_len, sizeof(R->report) - R->report_len,
			 "  round %d (seed %" PRIu64 ") customer %s: ", R->index, R->seed,
			 customer);
	if (n > 0)
		R->report_len += (size_t)n;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(R->report + R->report_len, sizeof(R->report) - R->report_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		R->report_len += (size_t)n;
	if (R->report_len >= sizeof(R->report) - 2)
		R->report_len = sizeof(R->report) - 2;
	R->report[R->report_len++] = '\n';
	R->report[R->report_len] = '\0';
}

static void differ(round_state *R, const char *customer, const char *want, const char *got,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Record a field that differs: fmt names it. */
static void differ(round_state *R, const char *customer, const char *want, const char *got,
		   const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	mismatch(R, customer, "%s: expected %s, server has %s", what, want, got);
}

/* Unless want == got, record a mismatch; the printf arguments after them
 * name the field. */
#define EXPECT_EQ(R, cust, want, got, ...)                               \
	do {                                                             \
		long long w_ = (long long)(want), g_ = (long long)(got); \
		if (w_ != g_) {                                          \
			char ws_[24], gs_[24];                           \
			snprintf(ws_, sizeof(ws_), "%lld", w_);          \
			snprintf(gs_, sizeof(gs_), "%lld", g_);          \
			differ((R), (cust), ws_, gs_, __VA_ARGS__);      \
		}                                                        \
	} while (0)

/* The same for an enum value, shown by its name in names. */
#define EXPECT_NAME(R, cust, names, want, got, ...)                                               \
	do {                                                                                      \
		int w_ = (int)(want), g_ = (int)(got);                                            \
		if (w_ != g_)                                                                     \
			differ((R), (cust), name_of(NAMES(names), w_), name_of(NAMES(names), g_), \
			       __VA_ARGS__);                                                      \
	} while (0)

static void view_of(const Fairpay__V1__Reputation *r, rep_view *v)
{
	memset(v, 0, sizeof(*v));
	if (r == NULL) {
		v->score_bp = -1;
		return;
	}
	v->score_bp = r->score_bp;
	v->tier = (int)r->tier;
	v->payments = r->payments;
	v->defaults = r->defaults;
	v->open_defaults = r->open_defaults;
	v->offers_accepted = r->offers_accepted;
	v->total_paid = r->total_paid_minor;
	v->total_suggested = r->total_suggested_minor;
	v->credit_limit = r->credit_limit_minor;
	v->credit_used = r->credit_used_minor;
}

/* Compare two reputations; false with the differing fields in diff. */
static bool views_equal(const rep_view *want, const rep_view *got, char *diff, size_t len)
{
	size_t used = 0;
	diff[0] = '\0';
#define CMP(field)                                                                                \
	if (want->field != got->field && used < len)                                              \
		used += (size_t)snprintf(diff + used, len - used, "%s%s expected %lld, got %lld", \
					 used ? "; " : "", #field, (long long)want->field,        \
					 (long long)got->field);
	CMP(score_bp)
	if (want->tier != got->tier && used < len)
		used += (size_t)snprintf(diff + used, len - used, "%stier expected %s, got %s",
					 used ? "; " : "", name_of(NAMES(tier_names), want->tier),
					 name_of(NAMES(tier_names), got->tier));
	CMP(payments)
	CMP(defaults)
	CMP(open_defaults)
	CMP(offers_accepted)
	CMP(total_paid)
	CMP(total_suggested)
	CMP(credit_limit)
	CMP(credit_used)
#undef CMP
	return diff[0] == '\0';
}

/* ---------------------------------------------------------------- worker threads */

typedef struct worker {
	round_state *R;
	int index;
	int ops;
	fp_client *c[2]; /* one client on each server */
	rng r;
	int ok[OP_COUNT], refused[OP_COUNT];
	char err[512];
} worker;

/* Make one call through a server chosen at random. Returns the status
 * code; any answer but OK and FAILED_PRECONDITION sets w->err. */
static int wcall(worker *w, int op, Fairpay__V1__Request *req, resp_t **resp)
{
	int s = (int)(rng_next(&w->r) & 1);
	*resp = NULL;
	req->id = 0;
	int rc = fp_client_call(w->c[s], req, resp);
	if (*resp == NULL) {
		snprintf(w->err, sizeof(w->err), "%s through server %d: no reply (rc %d): %s",
			 op_names[op], s, rc, fp_client_error_message(w->c[s]));
		return H_NO_REPLY;
	}
	int code = (*resp)->status != NULL ? (int)(*resp)->status->code : 0;
	if (code == H_OK && (int)(*resp)->result_case != (int)req->call_case) {
		snprintf(w->err, sizeof(w->err), "%s through server %d: OK without its result",
			 op_names[op], s);
		return H_NO_REPLY;
	}
	if (code == H_OK) {
		w->ok[op]++;
	} else if (code == H_PRECONDITION) {
		w->refused[op]++;
	} else {
		snprintf(w->err, sizeof(w->err), "%s through server %d answered %s: %s (field %s)",
			 op_names[op], s, h_code_name(code), (*resp)->status->message,
			 (*resp)->status->field);
	}
	return code;
}

/* Mostly one of this thread's own customers, often anyone's. */
static int pick_customer(worker *w)
{
	if (rng_chance(&w->r, 60)) {
		int own = (CUSTOMERS + THREADS - 1 - w->index) / THREADS;
		if (own > 0)
			return w->index + THREADS * (int)rng_range(&w->r, 0, own - 1);
	}
	return (int)rng_range(&w->r, 0, CUSTOMERS - 1);
}

/* A known offer of the customer, preferably one whose last seen status is
 * in the mask (bit per status); -1 when it has none. Holds R->mu. */
static int pick_offer(worker *w, int cust, unsigned prefer, int percent)
{
	round_state *R = w->R;
	static _Thread_local int cand[MAX_OFFERS];
	size_t n = 0;
	bool want_pref = rng_chance(&w->r, percent);
	for (int pass = 0; pass < 2 && n == 0; pass++) {
		for (size_t i = 0; i < R->n_offers; i++) {
			const known_offer *o = &R->offers[i];
			if (o->customer != cust)
				continue;
			if (pass == 0 && want_pref && !(prefer & (1u << o->hint)))
				continue;
			cand[n++] = (int)i;
		}
	}
	return n == 0 ? -1 : cand[rng_range(&w->r, 0, (int64_t)n - 1)];
}

static void remember_offer(const Fairpay__V1__Offer *m, known_offer *o)
{
	snprintf(o->id, sizeof(o->id), "%s", m->offer_id);
	o->mode = (int)m->mode;
	o->tier = (int)m->tier;
	o->sp = m->suggested_price_minor;
	o->unit_price = m->unit_price_minor;
	o->minimum = m->minimum_price_minor;
	o->set_price = m->set_price_minor;
	o->credit_limit = m->credit_limit_minor;
	o->credit_used = m->credit_used_minor;
	o->n_reasons = m->n_reasons < FP_MAX_OFFER_REASONS ? m->n_reasons : FP_MAX_OFFER_REASONS;
	for (size_t i = 0; i < o->n_reasons; i++)
		o->reasons[i] = (int)m->reasons[i];
	o->hint = (int)m->status;
}

static void op_create(worker *w)
{
	round_state *R = w->R;
	int cust = pick_customer(w);
	int prod = (int)rng_range(&w->r, 0, N_PRODUCTS - 1);
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	Fairpay__V1__OfferOverrides ov = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
	fp_overrides fo = { 0 };
	m.customer_id = R->customers[cust];
	m.sku = R->products[prod].sku;
	if (rng_chance(&w->r, 10)) {
		int which = (int)rng_range(&w->r, 1, 7); /* a non-empty set of the three */
		if (which & 1) {
			fo.has_mode = true;
			fo.mode = (fp_mode)rng_range(&w->r, 1, 3);
			ov.opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
			ov.mode = (Fairpay__V1__OfferMode)fo.mode;
		}
		if (which & 2) {
			fo.has_suggested_price = true;
			fo.suggested_price_minor = rng_range(&w->r, 0, 3000);
			ov.opt_suggested_price_minor_case =
				FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
			ov.suggested_price_minor = fo.suggested_price_minor;
		}
		if (which & 4) {
			fo.has_minimum_price = true;
			fo.minimum_price_minor =
				rng_chance(&w->r, 25) ? 0 : rng_range(&w->r, 1, 1500);
			ov.opt_minimum_price_minor_case =
				FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
			ov.minimum_price_minor = fo.minimum_price_minor;
		}
		m.overrides = &ov;
	}
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &m;
	resp_t *resp = NULL;
	if (wcall(w, OP_CREATE, &req, &resp) == H_OK) {
		pthread_mutex_lock(&R->mu);
		if (R->n_offers < MAX_OFFERS) {
			known_offer *o = &R->offers[R->n_offers++];
			memset(o, 0, sizeof(*o));
			remember_offer(resp->create_offer->offer, o);
			o->customer = cust;
			o->product = prod;
			o->has_ov = m.overrides != NULL;
			o->ov = fo;
			R->ok[cust][OP_CREATE]++;
		}
		pthread_mutex_unlock(&R->mu);
	}
	fp_response_free(resp);
}

/* AcceptOffer, DeclineOffer or GetOffer of a known offer. */
static void op_offer(worker *w, int op)
{
	round_state *R = w->R;
	int cust = pick_customer(w);
	char id[ID_LEN];
	pthread_mutex_lock(&R->mu);
	int i = pick_offer(w, cust, 1u << FP_OFFER_STATUS_OPEN, op == OP_GET_OFFER ? 0 : 85);
	if (i >= 0)
		snprintf(id, sizeof(id), "%s", R->offers[i].id);
	pthread_mutex_unlock(&R->mu);
	if (i < 0) {
		op_create(w);
		return;
	}
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__AcceptOfferRequest acc = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	Fairpay__V1__DeclineOfferRequest dec = FAIRPAY__V1__DECLINE_OFFER_REQUEST__INIT;
	Fairpay__V1__GetOfferRequest get = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	acc.offer_id = dec.offer_id = get.offer_id = id;
	if (op == OP_ACCEPT) {
		req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
		req.accept_offer = &acc;
	} else if (op == OP_DECLINE) {
		req.call_case = FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER;
		req.decline_offer = &dec;
	} else {
		req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_OFFER;
		req.get_offer = &get;
	}
	resp_t *resp = NULL;
	if (wcall(w, op, &req, &resp) == H_OK) {
		const Fairpay__V1__Offer *m = op == OP_ACCEPT    ? resp->accept_offer->offer
					      : op == OP_DECLINE ? resp->decline_offer->offer
								 : resp->get_offer->offer;
		pthread_mutex_lock(&R->mu);
		known_offer *o = &R->offers[i];
		o->hint = (int)m->status;
		if (op == OP_ACCEPT) {
			o->accepts_ok++;
			o->acc_credit_limit = m->credit_limit_minor;
			o->acc_credit_used = m->credit_used_minor;
		}
		if (op != OP_GET_OFFER)
			R->ok[cust][op]++;
		pthread_mutex_unlock(&R->mu);
	}
	fp_response_free(resp);
}

static void op_pay(worker *w)
{
	round_state *R = w->R;
	int cust = pick_customer(w);
	known_offer o;
	pthread_mutex_lock(&R->mu);
	int i = pick_offer(w, cust,
			   (1u << FP_OFFER_STATUS_ACCEPTED) | (1u << FP_OFFER_STATUS_DEFAULTED) |
				   (1u << FP_OFFER_STATUS_OPEN),
			   85);
	if (i >= 0)
		o = R->offers[i];
	pthread_mutex_unlock(&R->mu);
	if (i < 0) {
		op_create(w);
		return;
	}
	known_payment kp;
	memset(&kp, 0, sizeof(kp));
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = o.id;
	if (o.unit_price > 0 ? rng_chance(&w->r, 75) : rng_chance(&w->r, 10))
		kp.usage_units = rng_range(&w->r, 1, 120);
	m.usage_units = kp.usage_units;
	int64_t sp = o.unit_price > 0 && kp.usage_units > 0 ? o.unit_price * kp.usage_units : o.sp;
	int choice = (int)rng_range(&w->r, 0, 99);
	kp.by_amount = true;
	if (o.mode == FP_MODE_SET_PRICE && choice < 75)
		kp.amount_req = o.set_price;
	else if (choice < 40)
		kp.amount_req = rng_range(&w->r, 0, 2 * sp + 1);
	else if (choice < 65)
		kp.by_amount = false;
	else if (choice < 80)
		kp.amount_req = sp > o.minimum ? sp : o.minimum;
	else if (choice < 92)
		kp.amount_req = o.minimum;
	else
		kp.amount_req = o.minimum > 0 ? o.minimum - 1 : 0;
	if (kp.by_amount) {
		m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		m.amount_minor = kp.amount_req;
	} else {
		kp.differential_bp = (int32_t)rng_range(&w->r, -10000, 10000);
		m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
		m.differential_bp = kp.differential_bp;
	}
	/* No reason, random ones, or often one the policy excuses. */
	Fairpay__V1__PaymentReason reasons[3];
	int n_reasons = rng_chance(&w->r, 35) ? 0 : (int)rng_range(&w->r, 1, 2);
	for (int k = 0; k < n_reasons; k++)
		reasons[k] = (Fairpay__V1__PaymentReason)rng_range(&w->r, 1, FP_PAYMENT_REASON_MAX);
	if (R->pol.excusing_reasons != 0 && rng_chance(&w->r, 45)) {
		int k;
		do
			k = (int)rng_range(&w->r, 1, FP_PAYMENT_REASON_MAX);
		while (!(R->pol.excusing_reasons & FP_REASON_BIT(k)));
		reasons[n_reasons++] = (Fairpay__V1__PaymentReason)k;
	}
	for (int k = 0; k < n_reasons; k++)
		kp.reasons |= FP_REASON_BIT(reasons[k]);
	m.reasons = reasons;
	m.n_reasons = (size_t)n_reasons;
	m.note = rng_chance(&w->r, 20) ? "model" : "";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	req.submit_payment = &m;
	resp_t *resp = NULL;
	if (wcall(w, OP_PAY, &req, &resp) == H_OK) {
		const Fairpay__V1__SubmitPaymentResponse *r = resp->submit_payment;
		const Fairpay__V1__Payment *p = r->payment;
		snprintf(kp.id, sizeof(kp.id), "%s", p->payment_id);
		snprintf(kp.offer_id, sizeof(kp.offer_id), "%s", o.id);
		kp.customer = cust;
		kp.amount = p->amount_minor;
		kp.sp = p->suggested_price_minor;
		kp.fairness = p->fairness_bp;
		kp.raw = p->raw_fairness_bp;
		kp.verdict = (int)p->verdict;
		kp.review = (int)p->review;
		kp.late = p->late;
		view_of(r->reputation, &kp.rep);
		pthread_mutex_lock(&R->mu);
		R->offers[i].hint = FP_OFFER_STATUS_PAID;
		if (R->n_payments < MAX_PAYMENTS)
			R->payments[R->n_payments++] = kp;
		R->ok[cust][OP_PAY]++;
		pthread_mutex_unlock(&R->mu);
	}
	fp_response_free(resp);
}

static void op_review(worker *w)
{
	round_state *R = w->R;
	int cust = pick_customer(w);
	static _Thread_local int cand[MAX_PAYMENTS];
	size_t n = 0;
	char id[ID_LEN];
	pthread_mutex_lock(&R->mu);
	bool pending = rng_chance(&w->r, 85);
	for (int pass = 0; pass < 2 && n == 0; pass++)
		for (size_t i = 0; i < R->n_payments; i++)
			if (R->payments[i].customer == cust &&
			    (pass == 1 || !pending ||
			     (R->payments[i].review == FP_REVIEW_PENDING &&
			      R->payments[i].reviews_ok == 0)))
				cand[n++] = (int)i;
	int i = n == 0 ? -1 : cand[rng_range(&w->r, 0, (int64_t)n - 1)];
	if (i >= 0)
		snprintf(id, sizeof(id), "%s", R->payments[i].id);
	pthread_mutex_unlock(&R->mu);
	if (i < 0) {
		op_pay(w);
		return;
	}
	Fairpay__V1__ReviewPaymentRequest m = FAIRPAY__V1__REVIEW_PAYMENT_REQUEST__INIT;
	m.payment_id = id;
	m.accept_reasons = rng_chance(&w->r, 50);
	m.note = rng_chance(&w->r, 30) ? "reviewed by the model" : "";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT;
	req.review_payment = &m;
	resp_t *resp = NULL;
	if (wcall(w, OP_REVIEW, &req, &resp) == H_OK) {
		const Fairpay__V1__ReviewPaymentResponse *r = resp->review_payment;
		pthread_mutex_lock(&R->mu);
		known_payment *kp = &R->payments[i];
		kp->reviews_ok++;
		kp->accept = m.accept_reasons;
		kp->rv_fairness = r->payment->fairness_bp;
		kp->rv_verdict = (int)r->payment->verdict;
		kp->rv_review = (int)r->payment->review;
		view_of(r->reputation, &kp->rv_rep);
		R->ok[cust][OP_REVIEW]++;
		pthread_mutex_unlock(&R->mu);
	}
	fp_response_free(resp);
}

static void op_get_reputation(worker *w)
{
	Fairpay__V1__GetReputationRequest m = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	m.customer_id = w->R->customers[pick_customer(w)];
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &m;
	resp_t *resp = NULL;
	if (wcall(w, OP_GET_REP, &req, &resp) == H_PRECONDITION)
		snprintf(w->err, sizeof(w->err), "GetReputation answered FAILED_PRECONDITION");
	fp_response_free(resp);
}

static void *run_worker(void *arg)
{
	worker *w = arg;
	for (int n = 0; n < w->ops && w->err[0] == '\0'; n++) {
		if (w->R->naps && rng_chance(&w->r, 3))
			h_sleep_ms((int)rng_range(&w->r, 100, 500));
		int pick = (int)rng_range(&w->r, 0, 99);
		if (pick < 24)
			op_create(w);
		else if (pick < 44)
			op_offer(w, OP_ACCEPT);
		else if (pick < 48)
			op_offer(w, OP_DECLINE);
		else if (pick < 78)
			op_pay(w);
		else if (pick < 90)
			op_review(w);
		else if (pick < 96)
			op_get_reputation(w);
		else
			op_offer(w, OP_GET_OFFER);
	}
	return NULL;
}

/* ---------------------------------------------------------------- setup of a round */

static void random_policy(rng *r, int round, fp_policy *p)
{
	static const int32_t alphas[] = { 1, 700, 1500, 3000, 5000, 8000, 10000 };
	fp_policy_defaults(p);
	if (round == 1)
		p->enforcement = FP_ENFORCEMENT_VOLUNTARY;
	else if (round == 0 || round == DEFAULTS_ROUND)
		p->enforcement = FP_ENFORCEMENT_ENFORCE;
	else
		p->enforcement =
			rng_chance(r, 30) ? FP_ENFORCEMENT_VOLUNTARY : FP_ENFORCEMENT_ENFORCE;
	p->prior_score_bp = (int32_t)rng_range(r, 3000, 12000);
	p->alpha_bp =
		rng_chance(r, 50) ? alphas[rng_range(r, 0, 6)] : (int32_t)rng_range(r, 1, 10000);
	p->probation_payments = (int32_t)rng_range(r, 0, 4);
	int32_t t[3];
	for (int i = 0; i < 3; i++)
		t[i] = (int32_t)rng_range(r, 2000, 12000);
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (t[j] < t[i]) {
				int32_t x = t[i];
				t[i] = t[j];
				t[j] = x;
			}
	p->low_score_bp = t[0];
	p->fair_score_bp = t[1];
	p->trusted_score_bp = t[2];
	p->generous_bp = (int32_t)rng_range(r, p->fair_score_bp, 20000);
	p->max_open_defaults = (int32_t)rng_range(r, 1, 3);
	p->restricted_minimum_bp = (int32_t)rng_range(r, 0, 10000);
	p->probation_credit_minor = rng_range(r, 500, 6000);
	p->standard_credit_minor = rng_range(r, 1000, 20000);
	p->trusted_credit_minor = rng_range(r, 2000, 60000);
	p->excusing_reasons = 0;
	for (int k = 1; k <= FP_PAYMENT_REASON_MAX; k++)
		if (rng_chance(r, 35))
			p->excusing_reasons |= FP_REASON_BIT(k);
	p->excused_floor_bp = (int32_t)rng_range(r, 0, 10000);
	p->late_penalty_bp = (int32_t)rng_range(r, 0, 6000);
	p->offer_ttl_seconds = 3600;
	p->payment_window_seconds = round == DEFAULTS_ROUND ? 1 : 3600;
}

static void put_policy(fp_client *c, const fp_policy *p)
{
	Fairpay__V1__Policy m = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&m, enforcement, ENFORCEMENT, (Fairpay__V1__Enforcement)p->enforcement);
	H_POLICY_SET(&m, prior_score_bp, PRIOR_SCORE_BP, p->prior_score_bp);
	H_POLICY_SET(&m, alpha_bp, ALPHA_BP, p->alpha_bp);
	H_POLICY_SET(&m, probation_payments, PROBATION_PAYMENTS, p->probation_payments);
	H_POLICY_SET(&m, trusted_score_bp, TRUSTED_SCORE_BP, p->trusted_score_bp);
	H_POLICY_SET(&m, fair_score_bp, FAIR_SCORE_BP, p->fair_score_bp);
	H_POLICY_SET(&m, low_score_bp, LOW_SCORE_BP, p->low_score_bp);
	H_POLICY_SET(&m, generous_bp, GENEROUS_BP, p->generous_bp);
	H_POLICY_SET(&m, max_open_defaults, MAX_OPEN_DEFAULTS, p->max_open_defaults);
	H_POLICY_SET(&m, restricted_minimum_bp, RESTRICTED_MINIMUM_BP, p->restricted_minimum_bp);
	H_POLICY_SET(&m, probation_credit_minor, PROBATION_CREDIT_MINOR, p->probation_credit_minor);
	H_POLICY_SET(&m, standard_credit_minor, STANDARD_CREDIT_MINOR, p->standard_credit_minor);
	H_POLICY_SET(&m, trusted_credit_minor, TRUSTED_CREDIT_MINOR, p->trusted_credit_minor);
	H_POLICY_SET(&m, excused_floor_bp, EXCUSED_FLOOR_BP, p->excused_floor_bp);
	H_POLICY_SET(&m, late_penalty_bp, LATE_PENALTY_BP, p->late_penalty_bp);
	H_POLICY_SET(&m, offer_ttl_seconds, OFFER_TTL_SECONDS, p->offer_ttl_seconds);
	H_POLICY_SET(&m, payment_window_seconds, PAYMENT_WINDOW_SECONDS, p->payment_window_seconds);
	Fairpay__V1__PaymentReason ex[FP_PAYMENT_REASON_MAX];
	size_t n = 0;
	for (int k = 1; k <= FP_PAYMENT_REASON_MAX; k++)
		if (p->excusing_reasons & FP_REASON_BIT(k))
			ex[n++] = (Fairpay__V1__PaymentReason)k;
	m.excusing_reasons = ex;
	m.n_excusing_reasons = n;
	resp_t *resp = NULL;
	h_must(h_put_policy(c, &m, true, &resp), "PutPolicy");
	const Fairpay__V1__Policy *got = resp->put_policy->policy;
	assert_non_null(got);
	uint32_t mask = 0;
	for (size_t i = 0; i < got->n_excusing_reasons; i++)
		mask |= FP_REASON_BIT(got->excusing_reasons[i]);
	assert_int_equal((int)got->enforcement, (int)p->enforcement);
	assert_int_equal(got->prior_score_bp, p->prior_score_bp);
	assert_int_equal(got->alpha_bp, p->alpha_bp);
	assert_int_equal(got->probation_payments, p->probation_payments);
	assert_int_equal(got->low_score_bp, p->low_score_bp);
	assert_int_equal(got->fair_score_bp, p->fair_score_bp);
	assert_int_equal(got->trusted_score_bp, p->trusted_score_bp);
	assert_int_equal(got->generous_bp, p->generous_bp);
	assert_int_equal(got->max_open_defaults, p->max_open_defaults);
	assert_int_equal(got->restricted_minimum_bp, p->restricted_minimum_bp);
	assert_int_equal(got->probation_credit_minor, p->probation_credit_minor);
	assert_int_equal(got->standard_credit_minor, p->standard_credit_minor);
	assert_int_equal(got->trusted_credit_minor, p->trusted_credit_minor);
	assert_int_equal(mask, p->excusing_reasons);
	assert_int_equal(got->excused_floor_bp, p->excused_floor_bp);
	assert_int_equal(got->late_penalty_bp, p->late_penalty_bp);
	assert_int_equal(got->offer_ttl_seconds, p->offer_ttl_seconds);
	assert_int_equal(got->payment_window_seconds, p->payment_window_seconds);
	fp_response_free(resp);
}

static void random_products(rng *r, fp_client *c, product_def *prods)
{
	for (int i = 0; i < N_PRODUCTS; i++) {
		product_def *d = &prods[i];
		bool metered = i == 1;
		snprintf(d->sku, sizeof(d->sku), "%s", metered ? "metered" : "flat");
		d->terms.suggested_price_minor =
			metered ? rng_range(r, 200, 1200) : rng_range(r, 400, 2000);
		d->terms.list_price_minor = d->terms.suggested_price_minor + rng_range(r, 0, 800);
		d->terms.minimum_price_minor =
			rng_chance(r, 30) ? rng_range(r, 1, d->terms.suggested_price_minor / 2) : 0;
		d->terms.min_tier = (fp_tier)rng_range(r, FP_TIER_UNSPECIFIED, FP_TIER_TRUSTED);
		d->unit_price = metered ? rng_range(r, 5, 40) : 0;
		Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
		p.sku = d->sku;
		p.name = d->sku;
		p.currency = "EUR";
		p.suggested_price_minor = d->terms.suggested_price_minor;
		p.unit_price_minor = d->unit_price;
		p.list_price_minor = d->terms.list_price_minor;
		p.minimum_price_minor = d->terms.minimum_price_minor;
		p.min_tier = (Fairpay__V1__Tier)d->terms.min_tier;
		resp_t *resp = NULL;
		h_must(h_put_product(c, &p, &resp), "PutProduct");
		/* An unset min_tier is stored as the default it stands for. */
		assert_int_equal((int)resp->put_product->product->min_tier,
				 (int)fp_product_min_tier(d->terms.min_tier));
		fp_response_free(resp);
	}
}

static void print_policy(const round_state *R)
{
	const fp_policy *p = &R->pol;
	print_message("round %d: %s, prior %d, alpha %d, probation %d, low/fair/trusted %d/%d/%d,"
		      " generous %d, max_open_defaults %d, restricted_min %d, credits "
		      "%lld/%lld/%lld, excusing 0x%x floor %d, late penalty %d, window %llds\n",
		      R->index, p->enforcement == FP_ENFORCEMENT_ENFORCE ? "ENFORCE" : "VOLUNTARY",
		      p->prior_score_bp, p->alpha_bp, p->probation_payments, p->low_score_bp,
		      p->fair_score_bp, p->trusted_score_bp, p->generous_bp, p->max_open_defaults,
		      p->restricted_minimum_bp, (long long)p->probation_credit_minor,
		      (long long)p->standard_credit_minor, (long long)p->trusted_credit_minor,
		      p->excusing_reasons, p->excused_floor_bp, p->late_penalty_bp,
		      (long long)p->payment_window_seconds);
	for (int i = 0; i < N_PRODUCTS; i++) {
		const product_def *d = &R->products[i];
		print_message("  product %s: SP %lld, unit %lld, list %lld, minimum %lld, min_tier "
			      "%s\n",
			      d->sku, (long long)d->terms.suggested_price_minor,
			      (long long)d->unit_price, (long long)d->terms.list_price_minor,
			      (long long)d->terms.minimum_price_minor,
			      tier_names[fp_product_min_tier(d->terms.min_tier)]);
	}
}

/* ---------------------------------------------------------------- the database */

static PGresult *query(const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(T.pg, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		PQclear(res);
		fail_msg("%s: %s", sql, msg);
	}
	return res;
}

static int64_t cell_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* One stored offer and where the replay has it. */
typedef struct db_offer {
	char id[ID_LEN];
	int product;
	int status, mode, tier;
	int64_t sp, unit_price, minimum, set_price, credit_limit, credit_used;
	int reasons[FP_MAX_OFFER_REASONS];
	size_t n_reasons;
	int64_t created_us, accepted_us, closed_us, default_us;
	int defaults_seen; /* OFFER_DEFAULTED events */
	int replay;        /* its status in the replay */
	const known_offer *known;
} db_offer;

typedef struct db_payment {
	char id[ID_LEN];
	int offer; /* index in the customer's offers */
	int64_t amount, sp, usage;
	uint32_t reasons;
	int32_t fairness, raw;
	int verdict, review;
	bool late;
	int64_t created_us, reviewed_us;
	fp_assessment model; /* what the rules say, as far as replayed */
	bool replayed;
	const known_payment *known;
} db_payment;

enum {
	EV_CREATE,
	EV_ACCEPT,
	EV_DECLINE,
	EV_EXPIRE,
	EV_DEFAULT,
	EV_PAY,
	EV_REVIEW
};
static const char *const ev_names[] = { "CreateOffer", "AcceptOffer", "DeclineOffer", "expiry",
					"default",     "payment",     "review" };

typedef struct event {
	int64_t at;
	int kind;
	int idx;
} event;

static int event_cmp(const void *a, const void *b)
{
	const event *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return x->idx - y->idx;
}

/* One closed cycle of the replayed history. */
typedef struct cycle {
	char id[ID_LEN];
	int64_t at;
	int32_t fairness;
} cycle;

static int cycle_cmp(const void *a, const void *b)
{
	const cycle *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The customer as the replay has it. */
typedef struct model {
	int32_t score;
	int32_t payments, defaults, open_defaults, offers_accepted;
	int64_t paid, suggested;
	cycle *h;
	size_t nh;
} model;

static void rescore(const fp_policy *p, model *m)
{
	int32_t *f = calloc(m->nh + 1, sizeof(*f));
	assert_non_null(f);
	for (size_t i = 0; i < m->nh; i++)
		f[i] = m->h[i].fairness;
	m->score = fp_score_replay(p, f, m->nh);
	free(f);
}

/* Rule 9: the SP sum of the ACCEPTED FairPay offers. */
static int64_t credit_used(const db_offer *o, size_t n)
{
	int64_t used = 0;
	for (size_t i = 0; i < n; i++)
		if (o[i].replay == FP_OFFER_STATUS_ACCEPTED &&
		    fp_mode_is_fairpay((fp_mode)o[i].mode))
			used += o[i].sp;
	return used;
}

static void model_view(const fp_policy *p, const model *m, const db_offer *o, size_t n, rep_view *v)
{
	memset(v, 0, sizeof(*v));
	v->score_bp = m->score;
	v->tier = (int)fp_tier_of(p, m->score, m->payments, m->open_defaults);
	v->payments = m->payments;
	v->defaults = m->defaults;
	v->open_defaults = m->open_defaults;
	v->offers_accepted = m->offers_accepted;
	v->total_paid = m->paid;
	v->total_suggested = m->suggested;
	v->credit_limit = fp_credit_limit(p, (fp_tier)v->tier);
	v->credit_used = credit_used(o, n);
}

static void check_view(round_state *R, const char *cust, const char *what, const rep_view *want,
		       const rep_view *got)
{
	char diff[600];
	if (!views_equal(want, got, diff, sizeof(diff)))
		mismatch(R, cust, "%s: reputation differs from the replay: %s", what, diff);
}

static const known_offer *find_known_offer(const round_state *R, const char *id)
{
	for (size_t i = 0; i < R->n_offers; i++)
		if (strcmp(R->offers[i].id, id) == 0)
			return &R->offers[i];
	return NULL;
}

static const known_payment *find_known_payment(const round_state *R, const char *id)
{
	for (size_t i = 0; i < R->n_payments; i++)
		if (strcmp(R->payments[i].id, id) == 0)
			return &R->payments[i];
	return NULL;
}

static int parse_names(round_state *R, const char *cust, const char *list, const char *const *names,
		       size_t n_names, int *out, size_t max)
{
	size_t n = 0;
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		int v = name_index(names, n_names, t);
		if (v < 0)
			mismatch(R, cust, "unknown name '%s' stored", t);
		else if (n < max)
			out[n++] = v;
	}
	return (int)n;
}

static int load_offers(round_state *R, const char *cust, db_offer **out)
{
	const char *params[] = { R->vendor_id, cust };
	PGresult *res = query(
		"SELECT id, sku, status, mode, suggested_price_minor, unit_price_minor,"
		" minimum_price_minor, set_price_minor, tier, credit_limit_minor, "
		"credit_used_minor,"
		" array_to_string(reasons, ','), " US("created_at") ", coalesce(" US(
			"accepted_at") ", 0), coalesce(" US("closed_at") ", 0)"
									 " FROM offers WHERE "
									 "vendor_id = $1 AND "
									 "customer_id = $2"
									 " ORDER BY created_at, id",
		2, params);
	int n = PQntuples(res);
	db_offer *o = calloc((size_t)n + 1, sizeof(*o));
	assert_non_null(o);
	for (int i = 0; i < n; i++) {
		db_offer *d = &o[i];
		snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(res, i, 0));
		d->product = -1;
		for (int k = 0; k < N_PRODUCTS; k++)
			if (strcmp(R->products[k].sku, PQgetvalue(res, i, 1)) == 0)
				d->product = k;
		if (d->product < 0)
			mismatch(R, cust, "offer %s: unknown sku %s", d->id, PQgetvalue(res, i, 1));
		d->status = name_index(NAMES(status_names), PQgetvalue(res, i, 2));
		d->mode = name_index(NAMES(mode_names), PQgetvalue(res, i, 3));
		d->sp = cell_i64(res, i, 4);
		d->unit_price = cell_i64(res, i, 5);
		d->minimum = cell_i64(res, i, 6);
		d->set_price = cell_i64(res, i, 7);
		d->tier = name_index(NAMES(tier_names), PQgetvalue(res, i, 8));
		d->credit_limit = cell_i64(res, i, 9);
		d->credit_used = cell_i64(res, i, 10);
		d->n_reasons =
			(size_t)parse_names(R, cust, PQgetvalue(res, i, 11), NAMES(oreason_names),
					    d->reasons, FP_MAX_OFFER_REASONS);
		d->created_us = cell_i64(res, i, 12);
		d->accepted_us = cell_i64(res, i, 13);
		d->closed_us = cell_i64(res, i, 14);
		d->replay = 0; /* not yet created */
		d->known = find_known_offer(R, d->id);
		if (d->known == NULL)
			mismatch(R, cust, "offer %s is stored but no CreateOffer answered it",
				 d->id);
		if (d->status < 0 || d->mode < 0 || d->tier < 0)
			mismatch(R, cust, "offer %s: unknown status, mode or tier stored", d->id);
	}
	PQclear(res);
	*out = o;
	return n;
}

static int load_payments(round_state *R, const char *cust, const db_offer *o, int n_offers,
			 db_payment **out)
{
	const char *params[] = { R->vendor_id, cust };
	PGresult *res =
		query("SELECT id, offer_id, amount_minor, suggested_price_minor, usage_units,"
		      " array_to_string(reasons, ','), fairness_bp, raw_fairness_bp, verdict, "
		      "review, late,"
		      " " US("created_at") ", coalesce(" US(
			      "reviewed_at") ", 0) FROM payments WHERE vendor_id = $1 AND "
					     "customer_id = $2"
					     " ORDER BY created_at, id",
		      2, params);
	int n = PQntuples(res);
	db_payment *p = calloc((size_t)n + 1, sizeof(*p));
	assert_non_null(p);
	for (int i = 0; i < n; i++) {
		db_payment *d = &p[i];
		snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(res, i, 0));
		d->offer = -1;
		for (int k = 0; k < n_offers; k++)
			if (strcmp(o[k].id, PQgetvalue(res, i, 1)) == 0)
				d->offer = k;
		if (d->offer < 0)
			mismatch(R, cust, "payment %s is for offer %s of another customer", d->id,
				 PQgetvalue(res, i, 1));
		d->amount = cell_i64(res, i, 2);
		d->sp = cell_i64(res, i, 3);
		d->usage = cell_i64(res, i, 4);
		int r[FP_PAYMENT_REASON_MAX];
		int nr = parse_names(R, cust, PQgetvalue(res, i, 5), NAMES(preason_names), r,
				     FP_PAYMENT_REASON_MAX);
		for (int k = 0; k < nr; k++)
			d->reasons |= FP_REASON_BIT(r[k]);
		d->fairness = (int32_t)cell_i64(res, i, 6);
		d->raw = (int32_t)cell_i64(res, i, 7);
		d->verdict = name_index(NAMES(verdict_names), PQgetvalue(res, i, 8));
		d->review = name_index(NAMES(review_names), PQgetvalue(res, i, 9));
		d->late = strcmp(PQgetvalue(res, i, 10), "t") == 0;
		d->created_us = cell_i64(res, i, 11);
		d->reviewed_us = cell_i64(res, i, 12);
		d->known = find_known_payment(R, d->id);
		if (d->known == NULL)
			mismatch(R, cust, "payment %s is stored but no SubmitPayment answered it",
				 d->id);
	}
	PQclear(res);
	*out = p;
	return n;
}

/* The OFFER_DEFAULTED events: each offer's default time. */
static void load_defaults(round_state *R, const char *cust, db_offer *o, int n_offers)
{
	const char *params[] = { R->vendor_id, cust };
	PGresult *res = query(
		"SELECT offer_id, " US(
			"at") " FROM events WHERE vendor_id = $1"
			      " AND customer_id = $2 AND kind = 'OFFER_DEFAULTED' ORDER BY id",
		2, params);
	for (int i = 0; i < PQntuples(res); i++) {
		int k = -1;
		for (int j = 0; j < n_offers; j++)
			if (strcmp(o[j].id, PQgetvalue(res, i, 0)) == 0)
				k = j;
		if (k < 0) {
			mismatch(R, cust, "OFFER_DEFAULTED event for unknown offer %s",
				 PQgetvalue(res, i, 0));
			continue;
		}
		o[k].defaults_seen++;
		o[k].default_us = cell_i64(res, i, 1);
	}
	PQclear(res);
}

/* Events of each kind in the customer's ledger. */
static long long ledger_count(const round_state *R, const char *cust, const char *kind)
{
	const char *params[] = { R->vendor_id, cust, kind };
	PGresult *res = query("SELECT count(*) FROM events WHERE vendor_id = $1 AND customer_id = "
			      "$2 AND kind = $3",
			      3, params);
	long long n = cell_i64(res, 0, 0);
	PQclear(res);
	return n;
}

/* ---------------------------------------------------------------- the replay */

static void replay_create(round_state *R, const char *cust, model *m, db_offer *o, size_t n,
			  db_offer *d)
{
	const fp_policy *pol = &R->pol;
	d->replay = FP_OFFER_STATUS_OPEN;
	if (d->product < 0 || d->known == NULL)
		return;
	const product_def *prod = &R->products[d->product];
	fp_standing st = { m->score, m->payments, m->open_defaults, credit_used(o, n), 0 };
	fp_terms t;
	const char *field = NULL;
	if (fp_offer_terms(pol, &prod->terms, &st, d->known->has_ov ? &d->known->ov : NULL, &t,
			   &field) != 0) {
		mismatch(R, cust, "offer %s: the rules refuse its terms (%s)", d->id,
			 field ? field : "?");
		return;
	}
	EXPECT_NAME(R, cust, mode_names, t.mode, d->mode, "offer %s mode", d->id);
	EXPECT_NAME(R, cust, mode_names, t.mode, d->known->mode, "offer %s mode", d->id);
	EXPECT_NAME(R, cust, tier_names, t.tier, d->tier, "offer %s tier", d->id);
	EXPECT_NAME(R, cust, tier_names, t.tier, d->known->tier, "offer %s tier", d->id);
	EXPECT_EQ(R, cust, t.suggested_price_minor, d->sp, "offer %s suggested_price_minor", d->id);
	EXPECT_EQ(R, cust, t.minimum_price_minor, d->minimum, "offer %s minimum_price_minor",
		  d->id);
	EXPECT_EQ(R, cust, t.minimum_price_minor, d->known->minimum, "offer %s minimum_price_minor",
		  d->id);
	EXPECT_EQ(R, cust, t.set_price_minor, d->set_price, "offer %s set_price_minor", d->id);
	EXPECT_EQ(R, cust, t.set_price_minor, d->known->set_price, "offer %s set_price_minor",
		  d->id);
	EXPECT_EQ(R, cust, prod->unit_price, d->unit_price, "offer %s unit_price_minor", d->id);
	/* The credit the offer was made under (AcceptOffer rewrites the row's). */
	EXPECT_EQ(R, cust, t.credit_limit_minor, d->known->credit_limit,
		  "offer %s credit_limit_minor (CreateOffer reply)", d->id);
	EXPECT_EQ(R, cust, st.credit_used_minor, d->known->credit_used,
		  "offer %s credit_used_minor (CreateOffer reply)", d->id);
	if (d->accepted_us == 0) {
		EXPECT_EQ(R, cust, t.credit_limit_minor, d->credit_limit,
			  "offer %s credit_limit_minor", d->id);
		EXPECT_EQ(R, cust, st.credit_used_minor, d->credit_used,
			  "offer %s credit_used_minor", d->id);
	}
	bool same = t.n_reasons == d->n_reasons && t.n_reasons == d->known->n_reasons;
	for (size_t i = 0; same && i < t.n_reasons; i++)
		same = (int)t.reasons[i] == d->reasons[i] && d->reasons[i] == d->known->reasons[i];
	if (!same) {
		char want[160] = "", got[160] = "";
		size_t a = 0, b = 0;
		for (size_t i = 0; i < t.n_reasons; i++)
			a += (size_t)snprintf(want + a, sizeof(want) - a, "%s%s", i ? "," : "",
					      oreason_names[t.reasons[i]]);
		for (size_t i = 0; i < d->n_reasons; i++)
			b += (size_t)snprintf(got + b, sizeof(got) - b, "%s%s", i ? "," : "",
					      name_of(NAMES(oreason_names), d->reasons[i]));
		mismatch(R, cust, "offer %s reasons: expected [%s], server has [%s]", d->id, want,
			 got);
	}
}

static void replay_accept(round_state *R, const char *cust, model *m, db_offer *o, size_t n,
			  db_offer *d)
{
	const fp_policy *pol = &R->pol;
	if (d->replay != FP_OFFER_STATUS_OPEN) {
		mismatch(R, cust, "offer %s accepted while %s", d->id,
			 name_of(NAMES(status_names), d->replay));
		return;
	}
	fp_tier tier = fp_tier_of(pol, m->score, m->payments, m->open_defaults);
	int64_t limit = fp_credit_limit(pol, tier);
	int64_t used = credit_used(o, n);
	bool fairpay = fp_mode_is_fairpay((fp_mode)d->mode);
	bool overridden = false;
	for (size_t i = 0; i < d->n_reasons; i++)
		overridden |= d->reasons[i] == FP_OFFER_REASON_VENDOR_OVERRIDE;
	if (fairpay && pol->enforcement == FP_ENFORCEMENT_ENFORCE && !overridden &&
	    !fp_credit_fits(used, d->sp, limit))
		mismatch(R, cust,
			 "offer %s (FairPay, SP %lld) accepted over the credit: %lld used of "
			 "%lld (tier %s)",
			 d->id, (long long)d->sp, (long long)used, (long long)limit,
			 tier_names[tier]);
	d->replay = FP_OFFER_STATUS_ACCEPTED;
	m->offers_accepted++;
	used = credit_used(o, n);
	EXPECT_EQ(R, cust, limit, d->credit_limit, "offer %s credit_limit_minor after AcceptOffer",
		  d->id);
	if (d->known != NULL && d->known->accepts_ok == 1)
		EXPECT_EQ(R, cust, limit, d->known->acc_credit_limit,
			  "offer %s credit_limit_minor after AcceptOffer", d->id);
	EXPECT_EQ(R, cust, used, d->credit_used, "offer %s credit_used_minor after AcceptOffer",
		  d->id);
	if (d->known != NULL && d->known->accepts_ok == 1)
		EXPECT_EQ(R, cust, used, d->known->acc_credit_used,
			  "offer %s credit_used_minor after AcceptOffer", d->id);
}

static void replay_default(round_state *R, const char *cust, model *m, db_offer *d)
{
	if (d->replay != FP_OFFER_STATUS_ACCEPTED) {
		mismatch(R, cust, "offer %s defaulted while %s", d->id,
			 name_of(NAMES(status_names), d->replay));
		return;
	}
	d->replay = FP_OFFER_STATUS_DEFAULTED;
	m->defaults++;
	m->open_defaults++;
	cycle *c = &m->h[m->nh++];
	snprintf(c->id, sizeof(c->id), "%s", d->id);
	c->at = d->default_us;
	c->fairness = 0;
	rescore(&R->pol, m);
}

static void replay_pay(round_state *R, const char *cust, model *m, db_offer *o, size_t n,
		       db_payment *p)
{
	const fp_policy *pol = &R->pol;
	if (p->offer < 0)
		return;
	db_offer *d = &o[p->offer];
	char what[96];
	bool late = d->replay == FP_OFFER_STATUS_DEFAULTED;
	bool ok_state = d->replay == FP_OFFER_STATUS_ACCEPTED || late ||
			(d->replay == FP_OFFER_STATUS_OPEN && d->mode == FP_MODE_SET_PRICE);
	if (!ok_state)
		mismatch(R, cust, "payment %s made on offer %s while %s (%s)", p->id, d->id,
			 name_of(NAMES(status_names), d->replay),
			 name_of(NAMES(mode_names), d->mode));
	EXPECT_EQ(R, cust, late, p->late, "payment %s late", p->id);
	/* Rules 1-3. */
	int64_t sp = -1;
	if (fp_cycle_sp(d->sp, d->unit_price, p->usage, &sp) != 0)
		mismatch(R, cust, "payment %s: no SP for usage %lld", p->id, (long long)p->usage);
	EXPECT_EQ(R, cust, sp, p->sp, "payment %s suggested_price_minor", p->id);
	const known_payment *k = p->known;
	if (k != NULL) {
		int64_t amount = k->amount_req;
		if (!k->by_amount &&
		    fp_amount_from_differential(sp, k->differential_bp, &amount) != 0)
			mismatch(R, cust, "payment %s: differential %d gives no amount", p->id,
				 k->differential_bp);
		EXPECT_EQ(R, cust, amount, p->amount, "payment %s amount_minor (%s %lld)", p->id,
			  k->by_amount ? "amount" : "differential_bp",
			  k->by_amount ? (long long)k->amount_req : (long long)k->differential_bp);
		EXPECT_EQ(R, cust, k->usage_units, p->usage, "payment %s usage_units", p->id);
		EXPECT_EQ(R, cust, k->reasons, p->reasons, "payment %s reasons (mask)", p->id);
		if (strcmp(k->offer_id, d->id) != 0)
			mismatch(R, cust, "payment %s: stored for offer %s, answered for %s", p->id,
				 d->id, k->offer_id);
	}
	if (fp_check_mode((fp_mode)d->mode, p->amount, d->set_price, d->minimum) != 0)
		mismatch(R, cust,
			 "payment %s of %lld accepted on a %s offer (set %lld, minimum %lld)",
			 p->id, (long long)p->amount, name_of(NAMES(mode_names), d->mode),
			 (long long)d->set_price, (long long)d->minimum);
	/* Rules 4-6. */
	fp_assessment a;
	fp_assess_payment(pol, (fp_mode)d->mode, p->amount, sp, p->reasons, late, &a);
	EXPECT_EQ(R, cust, a.raw_fairness_bp, p->raw, "payment %s raw_fairness_bp", p->id);
	if (k != NULL) {
		EXPECT_EQ(R, cust, a.fairness_bp, k->fairness,
			  "payment %s fairness_bp (SubmitPayment reply)", p->id);
		EXPECT_EQ(R, cust, a.raw_fairness_bp, k->raw,
			  "payment %s raw_fairness_bp (SubmitPayment reply)", p->id);
		EXPECT_NAME(R, cust, verdict_names, a.verdict, k->verdict,
			    "payment %s verdict (SubmitPayment reply)", p->id);
		EXPECT_NAME(R, cust, review_names, a.review, k->review,
			    "payment %s review (SubmitPayment reply)", p->id);
		EXPECT_EQ(R, cust, late, k->late, "payment %s late (SubmitPayment reply)", p->id);
		EXPECT_EQ(R, cust, p->amount, k->amount,
			  "payment %s amount_minor (SubmitPayment reply)", p->id);
	}
	p->model = a;
	p->replayed = true;
	/* The cycle closes now; a late one leaves the default's place. */
	if (late) {
		for (size_t i = 0; i < m->nh; i++)
			if (strcmp(m->h[i].id, d->id) == 0) {
				memmove(&m->h[i], &m->h[i + 1], (m->nh - i - 1) * sizeof(m->h[0]));
				m->nh--;
				break;
			}
		m->open_defaults--;
	}
	cycle *c = &m->h[m->nh++];
	snprintf(c->id, sizeof(c->id), "%s", p->id);
	c->at = p->created_us;
	c->fairness = a.fairness_bp;
	d->replay = FP_OFFER_STATUS_PAID;
	m->payments++;
	m->paid += p->amount;
	m->suggested += sp;
	rescore(pol, m);
	if (k != NULL) {
		rep_view want;
		model_view(pol, m, o, n, &want);
		snprintf(what, sizeof(what), "SubmitPayment %s reply", p->id);
		check_view(R, cust, what, &want, &k->rep);
	}
}

static void replay_review(round_state *R, const char *cust, model *m, db_offer *o, size_t n,
			  db_payment *p)
{
	const fp_policy *pol = &R->pol;
	char what[96];
	if (!p->replayed)
		return;
	if (p->model.review != FP_REVIEW_PENDING) {
		mismatch(R, cust, "payment %s reviewed while %s", p->id,
			 name_of(NAMES(review_names), p->model.review));
		return;
	}
	if (p->review != FP_REVIEW_ACCEPTED && p->review != FP_REVIEW_REJECTED) {
		mismatch(R, cust, "payment %s has reviewed_at but review %s", p->id,
			 name_of(NAMES(review_names), p->review));
		return;
	}
	bool accept = p->review == FP_REVIEW_ACCEPTED;
	const known_payment *k = p->known;
	if (k != NULL && k->reviews_ok != 1)
		mismatch(R, cust, "payment %s: %d ReviewPayment calls answered OK, expected 1",
			 p->id, k->reviews_ok);
	if (k != NULL && k->reviews_ok == 1 && k->accept != accept)
		mismatch(R, cust, "payment %s: reviewed with accept_reasons %d, stored review %s",
			 p->id, k->accept, review_names[p->review]);
	fp_assessment a;
	if (fp_review_payment(pol, p->model.raw_fairness_bp, p->model.review, p->late,
			      k != NULL && k->reviews_ok == 1 ? k->accept : accept, &a) != 0) {
		mismatch(R, cust, "payment %s: the rules refuse its review", p->id);
		return;
	}
	p->model = a;
	for (size_t i = 0; i < m->nh; i++)
		if (strcmp(m->h[i].id, p->id) == 0)
			m->h[i].fairness = a.fairness_bp;
	rescore(pol, m);
	if (k != NULL && k->reviews_ok == 1) {
		EXPECT_EQ(R, cust, a.fairness_bp, k->rv_fairness,
			  "payment %s fairness_bp (ReviewPayment reply)", p->id);
		EXPECT_NAME(R, cust, verdict_names, a.verdict, k->rv_verdict,
			    "payment %s verdict (ReviewPayment reply)", p->id);
		EXPECT_NAME(R, cust, review_names, a.review, k->rv_review,
			    "payment %s review (ReviewPayment reply)", p->id);
		rep_view want;
		model_view(pol, m, o, n, &want);
		snprintf(what, sizeof(what), "ReviewPayment %s reply", p->id);
		check_view(R, cust, what, &want, &k->rv_rep);
	}
}

/* GetReputation through server s until it shows want (the server's cache
 * hears of the other server's writes shortly after they commit). */
static void check_get_reputation(round_state *R, const char *cust, fp_client *c, int s,
				 const rep_view *want)
{
	int64_t deadline = h_now_ms() + COHERENT_MS * (h_slow() ? 10 : 1);
	char diff[600] = "";
	for (int attempt = 0;; attempt++) {
		resp_t *resp = h_reputation(c, cust);
		rep_view got;
		view_of(resp->get_reputation->reputation, &got);
		fp_response_free(resp);
		if (views_equal(want, &got, diff, sizeof(diff))) {
			if (attempt > 0)
				T.stale_reads++;
			return;
		}
		if (h_now_ms() > deadline)
			break;
		h_sleep_ms(50);
	}
	mismatch(R, cust, "GetReputation through server %d: %s", s, diff);
}

/* Every change of the customer, in the order of its time; returns how many. */
static size_t order_events(round_state *R, const char *cust, const db_offer *o, int n_o,
			   const db_payment *p, int n_p, event *ev)
{
	size_t ne = 0;
	for (int i = 0; i < n_o; i++) {
		ev[ne++] = (event){ o[i].created_us, EV_CREATE, i };
		if (o[i].accepted_us != 0)
			ev[ne++] = (event){ o[i].accepted_us, EV_ACCEPT, i };
		if (o[i].status == FP_OFFER_STATUS_DECLINED)
			ev[ne++] = (event){ o[i].closed_us, EV_DECLINE, i };
		if (o[i].status == FP_OFFER_STATUS_EXPIRED)
			ev[ne++] = (event){ o[i].closed_us, EV_EXPIRE, i };
		if (o[i].defaults_seen > 1)
			mismatch(R, cust, "offer %s defaulted %d times", o[i].id,
				 o[i].defaults_seen);
		if (o[i].defaults_seen > 0)
			ev[ne++] = (event){ o[i].default_us, EV_DEFAULT, i };
		else if (o[i].status == FP_OFFER_STATUS_DEFAULTED)
			mismatch(R, cust, "offer %s is DEFAULTED without an OFFER_DEFAULTED event",
				 o[i].id);
		if (o[i].status == FP_OFFER_STATUS_DEFAULTED && o[i].closed_us != o[i].default_us)
			mismatch(R, cust, "offer %s: closed_at %lld, default event at %lld",
				 o[i].id, (long long)o[i].closed_us, (long long)o[i].default_us);
	}
	for (int i = 0; i < n_p; i++) {
		ev[ne++] = (event){ p[i].created_us, EV_PAY, i };
		if (p[i].reviewed_us != 0)
			ev[ne++] = (event){ p[i].reviewed_us, EV_REVIEW, i };
		else if (p[i].review == FP_REVIEW_ACCEPTED || p[i].review == FP_REVIEW_REJECTED)
			mismatch(R, cust, "payment %s is %s without reviewed_at", p[i].id,
				 review_names[p[i].review]);
	}
	qsort(ev, ne, sizeof(*ev), event_cmp);
	/* Two writes of one customer never share an instant: each reads what
	 * the one before it committed. */
	for (size_t i = 1; i < ne; i++)
		if (ev[i].at == ev[i - 1].at)
			mismatch(R, cust, "%s and %s at the same instant %lld: order unknown",
				 ev_names[ev[i - 1].kind], ev_names[ev[i].kind],
				 (long long)ev[i].at);
	return ne;
}

/* Apply the events one after the other, checking each against the rules. */
static void replay(round_state *R, const char *cust, model *m, const event *ev, size_t ne,
		   db_offer *o, size_t n, db_payment *p)
{
	for (size_t i = 0; i < ne; i++) {
		const event *e = &ev[i];
		switch (e->kind) {
		case EV_CREATE:
			replay_create(R, cust, m, o, n, &o[e->idx]);
			break;
		case EV_ACCEPT:
			replay_accept(R, cust, m, o, n, &o[e->idx]);
			break;
		case EV_DECLINE:
		case EV_EXPIRE:
			if (o[e->idx].replay != FP_OFFER_STATUS_OPEN)
				mismatch(R, cust, "offer %s %s while %s", o[e->idx].id,
					 ev_names[e->kind],
					 name_of(NAMES(status_names), o[e->idx].replay));
			o[e->idx].replay = e->kind == EV_DECLINE ? FP_OFFER_STATUS_DECLINED
								 : FP_OFFER_STATUS_EXPIRED;
			break;
		case EV_DEFAULT:
			replay_default(R, cust, m, &o[e->idx]);
			break;
		case EV_PAY:
			replay_pay(R, cust, m, o, n, &p[e->idx]);
			break;
		case EV_REVIEW:
			replay_review(R, cust, m, o, n, &p[e->idx]);
			break;
		default:
			break;
		}
	}
}

/* Every offer and payment ends where the replay has it. */
static void check_rows(round_state *R, const char *cust, const db_offer *o, int n_o,
		       const db_payment *p, int n_p)
{
	for (int i = 0; i < n_o; i++) {
		EXPECT_NAME(R, cust, status_names, o[i].replay, o[i].status, "offer %s status",
			    o[i].id);
		if (o[i].known != NULL && o[i].known->accepts_ok != (o[i].accepted_us != 0))
			mismatch(R, cust,
				 "offer %s: %d AcceptOffer calls answered OK, accepted_at %s",
				 o[i].id, o[i].known->accepts_ok,
				 o[i].accepted_us ? "set" : "unset");
	}
	for (int i = 0; i < n_p; i++) {
		if (!p[i].replayed)
			continue;
		EXPECT_EQ(R, cust, p[i].model.fairness_bp, p[i].fairness, "payment %s fairness_bp",
			  p[i].id);
		EXPECT_NAME(R, cust, verdict_names, p[i].model.verdict, p[i].verdict,
			    "payment %s verdict", p[i].id);
		EXPECT_NAME(R, cust, review_names, p[i].model.review, p[i].review,
			    "payment %s review", p[i].id);
		if (p[i].known != NULL && p[i].known->reviews_ok > 0 && p[i].reviewed_us == 0)
			mismatch(R, cust, "payment %s: ReviewPayment answered OK, nothing stored",
				 p[i].id);
	}
}

/* Rule 7 from the stored rows alone: payments at their time, defaults
 * still open at theirs, ties by id. */
static int32_t stored_score(const fp_policy *pol, const db_offer *o, int n_o, const db_payment *p,
			    int n_p)
{
	cycle *h = calloc((size_t)(n_o + n_p + 1), sizeof(*h));
	assert_non_null(h);
	size_t nh = 0;
	for (int i = 0; i < n_p; i++) {
		h[nh] = (cycle){ .at = p[i].created_us, .fairness = p[i].fairness };
		snprintf(h[nh].id, sizeof(h[nh].id), "%s", p[i].id);
		nh++;
	}
	for (int i = 0; i < n_o; i++) {
		if (o[i].status != FP_OFFER_STATUS_DEFAULTED)
			continue;
		h[nh] = (cycle){ .at = o[i].closed_us, .fairness = 0 };
		snprintf(h[nh].id, sizeof(h[nh].id), "%s", o[i].id);
		nh++;
	}
	qsort(h, nh, sizeof(*h), cycle_cmp);
	model m = { .h = h, .nh = nh };
	rescore(pol, &m);
	free(h);
	return m.score;
}

/* The customer's reputations row against the replay. */
static void check_stored_reputation(round_state *R, const char *cust, const rep_view *want,
				    int32_t rule7_score, int n_o)
{
	const char *params[] = { R->vendor_id, cust };
	PGresult *res = query("SELECT score_bp, payments, defaults, open_defaults, offers_accepted,"
			      " total_paid_minor, total_suggested_minor, credit_used_minor"
			      " FROM reputations WHERE vendor_id = $1 AND customer_id = $2",
			      2, params);
	if (PQntuples(res) == 0) {
		if (n_o > 0)
			mismatch(R, cust, "no reputations row, but %d offers", n_o);
		PQclear(res);
		return;
	}
	EXPECT_EQ(R, cust, want->score_bp, cell_i64(res, 0, 0), "reputations.score_bp");
	EXPECT_EQ(R, cust, rule7_score, cell_i64(res, 0, 0),
		  "reputations.score_bp (rule 7 over the stored closed cycles)");
	EXPECT_EQ(R, cust, want->payments, cell_i64(res, 0, 1), "reputations.payments");
	EXPECT_EQ(R, cust, want->defaults, cell_i64(res, 0, 2), "reputations.defaults");
	EXPECT_EQ(R, cust, want->open_defaults, cell_i64(res, 0, 3), "reputations.open_defaults");
	EXPECT_EQ(R, cust, want->offers_accepted, cell_i64(res, 0, 4),
		  "reputations.offers_accepted");
	EXPECT_EQ(R, cust, want->total_paid, cell_i64(res, 0, 5), "reputations.total_paid_minor");
	EXPECT_EQ(R, cust, want->total_suggested, cell_i64(res, 0, 6),
		  "reputations.total_suggested_minor");
	EXPECT_EQ(R, cust, want->credit_used, cell_i64(res, 0, 7), "reputations.credit_used_minor");
	PQclear(res);
}

/* The ledger (rule 13), the rows and the OK answers count the same changes. */
static void check_counts(round_state *R, int ci, const db_offer *o, int n_o, const db_payment *p,
			 int n_p, int32_t defaults)
{
	const char *cust = R->customers[ci];
	int accepted = 0, declined = 0, defaulted = 0, reviewed = 0, known_p = 0, known_o = 0;
	for (int i = 0; i < n_o; i++) {
		accepted += o[i].accepted_us != 0;
		declined += o[i].status == FP_OFFER_STATUS_DECLINED;
		defaulted += o[i].defaults_seen;
	}
	for (int i = 0; i < n_p; i++)
		reviewed += p[i].reviewed_us != 0;
	for (size_t i = 0; i < R->n_offers; i++)
		known_o += R->offers[i].customer == ci;
	for (size_t i = 0; i < R->n_payments; i++)
		known_p += R->payments[i].customer == ci;
	EXPECT_EQ(R, cust, R->ok[ci][OP_CREATE], n_o, "offers (OK CreateOffer answers)");
	EXPECT_EQ(R, cust, known_o, n_o, "offers (recorded)");
	EXPECT_EQ(R, cust, R->ok[ci][OP_ACCEPT], accepted,
		  "accepted offers (OK AcceptOffer answers)");
	EXPECT_EQ(R, cust, R->ok[ci][OP_DECLINE], declined,
		  "declined offers (OK DeclineOffer answers)");
	EXPECT_EQ(R, cust, R->ok[ci][OP_PAY], n_p, "payments (OK SubmitPayment answers)");
	EXPECT_EQ(R, cust, known_p, n_p, "payments (recorded)");
	EXPECT_EQ(R, cust, R->ok[ci][OP_REVIEW], reviewed,
		  "reviewed payments (OK ReviewPayment answers)");
	EXPECT_EQ(R, cust, n_o, ledger_count(R, cust, "OFFER_CREATED"), "OFFER_CREATED events");
	EXPECT_EQ(R, cust, accepted, ledger_count(R, cust, "OFFER_ACCEPTED"),
		  "OFFER_ACCEPTED events");
	EXPECT_EQ(R, cust, declined, ledger_count(R, cust, "OFFER_DECLINED"),
		  "OFFER_DECLINED events");
	EXPECT_EQ(R, cust, defaults, defaulted, "OFFER_DEFAULTED events");
	EXPECT_EQ(R, cust, n_p, ledger_count(R, cust, "PAYMENT_RECEIVED"),
		  "PAYMENT_RECEIVED events");
	EXPECT_EQ(R, cust, reviewed, ledger_count(R, cust, "PAYMENT_REVIEWED"),
		  "PAYMENT_REVIEWED events");
	EXPECT_EQ(R, cust, n_p + reviewed + defaulted, ledger_count(R, cust, "REPUTATION_CHANGED"),
		  "REPUTATION_CHANGED events");
}

static void check_customer(round_state *R, int ci, fp_client *c[2])
{
	const char *cust = R->customers[ci];
	const fp_policy *pol = &R->pol;
	db_offer *o = NULL;
	db_payment *p = NULL;
	int n_o = load_offers(R, cust, &o);
	int n_p = load_payments(R, cust, o, n_o, &p);
	load_defaults(R, cust, o, n_o);

	event *ev = calloc((size_t)(3 * n_o + 2 * n_p + 1), sizeof(*ev));
	assert_non_null(ev);
	size_t ne = order_events(R, cust, o, n_o, p, n_p, ev);
	model m = { .score = pol->prior_score_bp };
	m.h = calloc((size_t)(n_o + n_p + 1), sizeof(*m.h));
	assert_non_null(m.h);
	replay(R, cust, &m, ev, ne, o, (size_t)n_o, p);
	check_rows(R, cust, o, n_o, p, n_p);

	rep_view want;
	model_view(pol, &m, o, (size_t)n_o, &want);
	check_stored_reputation(R, cust, &want, stored_score(pol, o, n_o, p, n_p), n_o);
	check_counts(R, ci, o, n_o, p, n_p, want.defaults);
	for (int s = 0; s < 2; s++)
		check_get_reputation(R, cust, c[s], s, &want);

	free(m.h);
	free(ev);
	free(o);
	free(p);
}

/* ---------------------------------------------------------------- a round */

static void run_phase(round_state *R, fp_client *c[THREADS][2], int ops, uint64_t seed)
{
	worker w[THREADS];
	pthread_t th[THREADS];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		w[i].R = R;
		w[i].index = i;
		w[i].ops = ops;
		w[i].c[0] = c[i][0];
		w[i].c[1] = c[i][1];
		w[i].r.s = seed + (uint64_t)i * UINT64_C(0x5851f42d4c957f2d);
	}
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		if (w[i].err[0] != '\0')
			fail_msg("round %d (seed %" PRIu64 ") thread %d: %s", R->index, R->seed, i,
				 w[i].err);
		for (int k = 0; k < OP_COUNT; k++) {
			R->ops_ok[k] += w[i].ok[k];
			R->ops_refused[k] += w[i].refused[k];
		}
	}
}

/* Wait until no offer of the vendor is ACCEPTED (all paid or defaulted). */
static void settle(const round_state *R)
{
	char *sql = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = "
			  "'ACCEPTED'",
			  R->vendor_id);
	int limit = SETTLE_MS * (h_slow() ? 10 : 1);
	int64_t deadline = h_now_ms() + limit;
	while (h_sql_int(T.db, sql) != 0) {
		if (h_now_ms() > deadline)
			fail_msg("round %d: accepted offers did not default within %d ms", R->index,
				 limit);
		h_sleep_ms(50);
	}
	free(sql);
}

static void run_round(int index, uint64_t seed)
{
	round_state *R = calloc(1, sizeof(*R));
	assert_non_null(R);
	R->index = index;
	R->seed = seed;
	pthread_mutex_init(&R->mu, NULL);
	rng r = { seed };
	int64_t t0 = h_now_ms();

	char name[64];
	snprintf(name, sizeof(name), "model round %d", index);
	fp_client *main_c[2];
	main_c[0] = h_vendor_client(T.srv[0], T.admin, name, &R->vendor_id, &R->key);
	main_c[1] = h_connect_auth(T.srv[1], R->key);
	random_policy(&r, index, &R->pol);
	const char *bad = NULL;
	assert_int_equal(fp_policy_validate(&R->pol, &bad), 0);
	put_policy(main_c[index % 2], &R->pol);
	random_products(&r, main_c[(index + 1) % 2], R->products);
	for (int i = 0; i < CUSTOMERS; i++)
		snprintf(R->customers[i], sizeof(R->customers[i]), "cust-%d-%02d", index, i);
	R->naps = index == DEFAULTS_ROUND;
	print_policy(R);

	fp_client *c[THREADS][2];
	for (int i = 0; i < THREADS; i++) {
		c[i][0] = h_connect_auth(T.srv[0], R->key);
		c[i][1] = h_connect_auth(T.srv[1], R->key);
	}
	int phases = index == DEFAULTS_ROUND ? PHASES : 1;
	for (int ph = 0; ph < phases; ph++) {
		run_phase(R, c, OPS, rng_next(&r));
		/* Let every unpaid offer default, so that the next phase pays some
		 * late and the checks see a history that no longer moves. */
		if (index == DEFAULTS_ROUND)
			settle(R);
	}
	int64_t t1 = h_now_ms();

	/* One snapshot of the database for the whole check. */
	PQclear(query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL));
	for (int i = 0; i < CUSTOMERS; i++)
		check_customer(R, i, main_c);
	PQclear(query("COMMIT", 0, NULL));

	char *sql = h_fmt("SELECT count(*) FILTER (WHERE late) || ' late, ' || count(*) FILTER "
			  "(WHERE review IN ('ACCEPTED', 'REJECTED')) || ' reviewed, ' || count(*) "
			  "FILTER (WHERE review = 'PENDING') || ' pending' FROM payments WHERE "
			  "vendor_id = '%s'",
			  R->vendor_id);
	char *pays = h_sql(T.db, sql);
	free(sql);
	sql = h_fmt("SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT "
		    "status, count(*) AS n FROM offers WHERE vendor_id = '%s' GROUP BY status) s",
		    R->vendor_id);
	char *offers = h_sql(T.db, sql);
	free(sql);
	print_message("  calls (OK/refused):");
	for (int k = 0; k < OP_COUNT; k++)
		print_message(" %s %d/%d", op_names[k], R->ops_ok[k], R->ops_refused[k]);
	print_message("\n  offers: %s; payments: %s\n", offers ? offers : "none",
		      pays ? pays : "none");
	print_message("  %lld ms of calls, %lld ms of checks, %d mismatches\n",
		      (long long)(t1 - t0), (long long)(h_now_ms() - t1), R->n_mismatch);
	free(pays);
	free(offers);

	if (R->n_mismatch > 0) {
		/* Line by line: cmocka cuts a message at 1024 bytes. */
		print_message("round %d (seed %" PRIu64 "): %d differences between the servers "
			      "and the replay of the rules:\n",
			      index, seed, R->n_mismatch);
		for (char *save = NULL, *line = strtok_r(R->report, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			print_message("%s\n", line);
		fail_msg("round %d (seed %" PRIu64 "): %d differences (listed above, the first "
			 "%d KB of them)",
			 index, seed, R->n_mismatch, REPORT_LEN / 1000);
	}
	assert_true(R->ops_ok[OP_PAY] > 0);
	assert_true(R->ops_ok[OP_ACCEPT] > 0);

	for (int i = 0; i < THREADS; i++) {
		fp_client_free(c[i][0]);
		fp_client_free(c[i][1]);
	}
	fp_client_free(main_c[0]);
	fp_client_free(main_c[1]);
	pthread_mutex_destroy(&R->mu);
	free(R->vendor_id);
	free(R->key);
	free(R);
}

/* ---------------------------------------------------------------- tests */

static int setup(void **state)
{
	const char *env = getenv("FP_MODEL_SEED");
	if (env != NULL && *env != '\0') {
		T.seed = strtoull(env, NULL, 10);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		T.seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^
			 ((uint64_t)getpid() << 32);
	}
	print_message("model: seed %" PRIu64 " (FP_MODEL_SEED=%" PRIu64 " repeats the choices)\n",
		      T.seed, T.seed);
	T.db = h_db_create("fp_it_model");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv[0] = h_server_start(T.db, "--sweep-interval-ms", "100", NULL);
	T.srv[1] = h_server_start(T.db, "--sweep-interval-ms", "100", NULL);
	T.admin = h_connect_auth(T.srv[0], T.admin_key);
	T.pg = PQconnectdb(T.db);
	if (PQstatus(T.pg) != CONNECTION_OK)
		fail_msg("cannot connect to the test database: %s", PQerrorMessage(T.pg));
	return 0;
}

static int teardown(void **state)
{
	PQfinish(T.pg);
	fp_client_free(T.admin);
	h_server_free(T.srv[0]);
	h_server_free(T.srv[1]);
	free(T.admin_key);
	free(T.db);
	return 0;
}

static void test_random_histories(void **state)
{
	rng r = { T.seed };
	int64_t t0 = h_now_ms();
	for (int i = 0; i < ROUNDS; i++)
		run_round(i, rng_next(&r));
	print_message("model: %d rounds in %lld ms; %d GetReputation answers were stale at "
		      "first\n",
		      ROUNDS, (long long)(h_now_ms() - t0), T.stale_reads);
}

/* fairpayctl's own recomputation agrees with every stored reputation. */
static void test_reputation_verify(void **state)
{
	char *ctl = h_ctl();
	char *db = h_shq(T.db);
	char *cmd = h_fmt("%s reputation verify --db %s 2>&1", ctl, db);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	print_message("$ fairpayctl reputation verify -> %d\n%s", rc, out);
	if (rc != 0 || !h_contains(out, ": 0 differences") || !h_contains(out, ", 0 missing"))
		fail_msg("reputation verify exited %d:\n%s", rc, out);
	/* It looked at every customer of every round. */
	char want[64];
	snprintf(want, sizeof(want), "checked %d reputations of %d vendors", ROUNDS * CUSTOMERS,
		 ROUNDS);
	if (!h_contains(out, want))
		fail_msg("reputation verify did not check every customer:\n%s", out);
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

static void test_clean_shutdown(void **state)
{
	for (int i = 0; i < 2; i++) {
		assert_true(h_server_alive(T.srv[i]));
		assert_int_equal(h_server_stop(T.srv[i], SIGTERM), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_histories),
		cmocka_unit_test(test_reputation_verify),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
