/* Vendor calls of the FairPay cycle: offers, payments, reviews, reputations
 * and the customer's event ledger.
 *
 * A state change reads what it depends on (store_sql_load_*), decides with
 * the rules library in C, builds its reply, and writes the change, its
 * events and (under an idempotency key) the reply with one statement
 * (store_write()) that applies only if the customer's reputation row is
 * still the one read. When it is not, the call reads again and decides
 * again, up to CYCLE_ATTEMPTS times. This file validates every request
 * field first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include <jansson.h>

#include "cache.h"
#include "clock.h"
#include "conv.h"
#include "idem.h"
#include "limit.h"
#include "log.h"
#include "names.h"
#include "rpc.h"
#include "store.h"
#include "text.h"

#define ID_LEN 19 /* "o_" + 16 hex + NUL */
#define CYCLE_ATTEMPTS 100
#define CYCLE_BACKOFF_MS 8 /* most a retry waits, times the attempt, capped */
#define DETAIL_LEN 320
/* What a decide_*() returns, besides 0 (decided) and -1 (refused and
 * answered), when the history it read cannot be resumed at the changed
 * cycle: nothing is answered, and the call reads the whole history. */
#define DECIDE_REREAD 1

typedef enum cyc_kind {
	CYC_CREATE,
	CYC_ACCEPT,
	CYC_DECLINE,
	CYC_PAY,
	CYC_REVIEW,
	CYC_GET
} cyc_kind;

/* A cycle call between its read and its write. */
typedef struct cyc {
	cyc_kind kind;
	int attempt;
	store_state st;
	store_stmt stmt;
	store_change ch;
	store_rep after;
	store_offer offer; /* the new or changed offer */
	store_offer next;  /* rule 12's next offer */
	store_payment pay;
	char detail[STORE_WRITE_EVENTS][DETAIL_LEN];
	/* rule 7's checkpoints the write sets */
	store_cycle_entry appended;  /* of a cycle appended to the history */
	store_cycle_entry *replayed; /* of the cycles a replay moved (malloc'd) */
	size_t n_replayed;
	bool full_history; /* read the whole history, not from the change on */
	/* the request, validated */
	const char *customer_id;
	const char *sku;
	const char *offer_id;
	fp_overrides ov;
	const Fairpay__V1__AttestationClaims *claims; /* rule 14: verified, or NULL */
	bool by_amount;
	int64_t amount_minor;
	int32_t differential_bp;
	int64_t usage_units;
	uint32_t reasons;
	const char *note;
	bool accept_reasons;
	/* the cache */
	bool from_cache;              /* st came from the cache, not the database */
	bool stale;                   /* a refusal decided on cached rows: read again */
	bool fresh;                   /* the next read goes to the database */
	unsigned long long cache_gen; /* the cache's mark when the read began */
	char *notify;                 /* the keys announced with the write (JSON) */
} cyc;

static void cyc_load(rpc_call *call);
static void retry_cb(evutil_socket_t fd, short what, void *arg);

static int check_customer(rpc_call *call, const char *customer_id)
{
	if (text_valid_name(customer_id, LIMIT_CUSTOMER_BYTES))
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "customer_id",
		 "customer_id must be 1 to %d bytes of UTF-8", LIMIT_CUSTOMER_BYTES);
	return -1;
}

/* An id we never issued cannot exist: answer as for a missing one, so that
 * a caller learns nothing from the shape of another vendor's ids. */
static int check_object_id(rpc_call *call, const char *id, const char *prefix, const char *field)
{
	if (id[0] == '\0') {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, field, "%s is required", field);
		return -1;
	}
	if (!text_valid_id(id, prefix)) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, field, "no such %s", field);
		return -1;
	}
	return 0;
}

static int check_note(rpc_call *call, const char *note)
{
	size_t len = strlen(note);
	if (len <= LIMIT_NOTE_BYTES && text_valid_utf8(note, len))
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "note",
		 "note must be at most %d bytes of UTF-8", LIMIT_NOTE_BYTES);
	return -1;
}

/* Add without overflow: running totals saturate rather than wedge a
 * customer whose next write would no longer fit. */
static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

static int64_t ms(int64_t us)
{
	return us / 1000;
}

/* ------------------------------------------------------------ messages */

static Fairpay__V1__Reputation *reputation_msg(rpc_call *call, const fp_policy *pol,
					       const char *customer, const store_rep *r)
{
	Fairpay__V1__Reputation *m = rpc_alloc(call, sizeof(*m));
	fairpay__v1__reputation__init(m);
	fp_tier tier = fp_tier_attested(pol, r->score_bp, r->payments, r->attested_payments,
					r->open_defaults);
	m->customer_id = rpc_strdup(call, customer);
	m->attested_payments = r->attested_payments;
	m->attested_by = rpc_strdup(call, r->attested_by);
	m->score_bp = r->score_bp;
	m->tier = (Fairpay__V1__Tier)tier;
	m->payments = r->payments;
	m->defaults = r->defaults;
	m->open_defaults = r->open_defaults;
	m->offers_accepted = r->offers_accepted;
	m->total_paid_minor = r->total_paid_minor;
	m->total_suggested_minor = r->total_suggested_minor;
	m->credit_limit_minor = fp_credit_limit(pol, tier);
	m->credit_used_minor = r->credit_used_minor;
	m->updated_at_unix_ms = r->exists ? ms(r->updated_us) : 0;
	m->currency = rpc_strdup(call, r->currency);
	int32_t at_sp = 0;
	for (size_t i = 0; i < r->n_recent; i++)
		at_sp += r->recent[i] >= FP_BP_ONE;
	fp_explain_input in = {
		.score_bp = r->score_bp,
		.tier = tier,
		.payments = r->payments,
		.open_defaults = r->open_defaults,
		.recent = (int32_t)r->n_recent,
		.recent_at_sp = at_sp,
		.attested_payments = r->attested_payments,
	};
	fp_explanation ex;
	fp_explain(pol, &in, &ex);
	m->explanation = rpc_alloc(call, (ex.n ? ex.n : 1) * sizeof(char *));
	for (size_t i = 0; i < ex.n; i++)
		m->explanation[i] = rpc_strdup(call, ex.line[i]);
	m->n_explanation = ex.n;
	return m;
}

/* ------------------------------------------------------------ ending */

static void cyc_free(cyc *c)
{
	free(c->replayed);
	c->replayed = NULL;
	c->n_replayed = 0;
	store_state_free(&c->st);
	store_stmt_free(&c->stmt);
	free(c->notify);
	c->notify = NULL;
}

static void cyc_ok(rpc_call *call)
{
	cyc_free(call->ctx);
	rpc_ok(call);
}

/* Answer with an error and end the call. */
#define cyc_fail_now(call, ...)                \
	do {                                   \
		cyc_free((call)->ctx);         \
		rpc_fail((call), __VA_ARGS__); \
	} while (0)

/* Refuse, unless the rows decided on came from the cache: a refusal is
 * only answered on rows just read from the database (the caller reads
 * again when stale is set). */
#define cyc_fail(call, ...)                                \
	do {                                               \
		cyc *c_ = (call)->ctx;                     \
		if (c_->from_cache)                        \
			c_->stale = true;                  \
		else                                       \
			cyc_fail_now((call), __VA_ARGS__); \
	} while (0)

static void cyc_fail_db(rpc_call *call, db_status st, PGresult *res)
{
	cyc_free(call->ctx);
	rpc_fail_db(call, st, res);
}

/* ------------------------------------------------------------ the rules */

static const char *tier_name(fp_tier t)
{
	return names_of(NAMES_TIER, t);
}

static void offer_created_detail(char *out, const store_offer *o)
{
	char reasons[200] = "";
	size_t used = 0;
	for (size_t i = 0; i < o->n_reasons && used < sizeof(reasons); i++)
		used += (size_t)snprintf(reasons + used, sizeof(reasons) - used, "%s%s",
					 i ? "," : "", names_of(NAMES_OFFER_REASON, o->reasons[i]));
	snprintf(out, DETAIL_LEN, "sku %s, mode %s, suggested %lld, tier %s, reasons %s", o->sku,
		 names_of(NAMES_MODE, o->mode), (long long)o->suggested_price_minor,
		 tier_name(o->tier), o->n_reasons ? reasons : "none");
}

/* Make an OPEN offer on rule 10's terms for the standing in rep. */
static int make_offer(rpc_call *call, const store_state *st, const store_rep *rep,
		      const fp_overrides *ov, const char *customer, int64_t at_us, store_offer *o)
{
	fp_standing standing = { rep->score_bp, rep->payments, rep->open_defaults,
				 rep->credit_used_minor, rep->attested_payments };
	fp_terms t;
	const char *field = NULL;
	if (fp_offer_terms(&st->policy, &st->product.terms, &standing, ov, &t, &field) != 0) {
		cyc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, field, "%s is out of range",
			 field ? field : "a value");
		return -1;
	}
	memset(o, 0, sizeof(*o));
	rpc_new_id(o->id, sizeof(o->id), "o_");
	snprintf(o->customer_id, sizeof(o->customer_id), "%s", customer);
	snprintf(o->sku, sizeof(o->sku), "%s", st->product.sku);
	snprintf(o->currency, sizeof(o->currency), "%s", st->product.currency);
	o->status = FP_OFFER_STATUS_OPEN;
	o->mode = t.mode;
	o->tier = t.tier;
	o->suggested_price_minor = t.suggested_price_minor;
	o->unit_price_minor = st->product.unit_price_minor;
	o->list_price_minor = st->product.terms.list_price_minor;
	o->minimum_price_minor = t.minimum_price_minor;
	o->set_price_minor = t.set_price_minor;
	o->credit_limit_minor = t.credit_limit_minor;
	o->credit_used_minor = rep->credit_used_minor;
	o->n_reasons = t.n_reasons;
	memcpy(o->reasons, t.reasons, t.n_reasons * sizeof(t.reasons[0]));
	o->created_us = at_us;
	o->expires_us = at_us + st->policy.offer_ttl_seconds * 1000000;
	return 0;
}

/* Accept o for the customer rep (rule 9's check again), changing both. */
static int accept_offer(rpc_call *call, const fp_policy *pol, store_rep *rep, store_offer *o,
			int64_t at_us, char *detail)
{
	fp_tier tier = fp_tier_attested(pol, rep->score_bp, rep->payments, rep->attested_payments,
					rep->open_defaults);
	int64_t limit = fp_credit_limit(pol, tier);
	bool fairpay = fp_mode_is_fairpay(o->mode);
	bool overridden = false;
	for (size_t i = 0; i < o->n_reasons; i++)
		overridden |= o->reasons[i] == FP_OFFER_REASON_VENDOR_OVERRIDE;
	if (fairpay && pol->enforcement == FP_ENFORCEMENT_ENFORCE && !overridden &&
	    !fp_credit_fits(rep->credit_used_minor, o->suggested_price_minor, limit)) {
		cyc_fail(
			call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			"offer %s no longer fits the FairPay credit: %lld used + %lld suggested is "
			"over the %lld limit of tier %s",
			o->id, (long long)rep->credit_used_minor,
			(long long)o->suggested_price_minor, (long long)limit, tier_name(tier));
		return -1;
	}
	int64_t used = fairpay ? sat_add(rep->credit_used_minor, o->suggested_price_minor)
			       : rep->credit_used_minor;
	rep->offers_accepted =
		rep->offers_accepted < INT32_MAX ? rep->offers_accepted + 1 : INT32_MAX;
	rep->credit_used_minor = used;
	o->status = FP_OFFER_STATUS_ACCEPTED;
	o->pay_by_us = at_us + pol->payment_window_seconds * 1000000;
	o->credit_limit_minor = limit;
	o->credit_used_minor = used;
	char pay_by[40];
	store_ts(o->pay_by_us, pay_by, sizeof(pay_by));
	/* Whole seconds, as the ledger has always shown them. */
	snprintf(pay_by + 19, sizeof(pay_by) - 19, "Z");
	snprintf(detail, DETAIL_LEN, "pay by %s, credit used %lld of %lld", pay_by, (long long)used,
		 (long long)limit);
	return 0;
}

/* An offer whose money cannot join the customer's (from before currencies
 * were fixed per customer) is refused rather than summed. */
static int require_currency(rpc_call *call, const store_rep *rep, const store_offer *o)
{
	if (rep->currency[0] == '\0' || strcmp(rep->currency, o->currency) == 0)
		return 0;
	cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
		 "offer %s is in %s; customer %s pays in %s", o->id, o->currency, o->customer_id,
		 rep->currency);
	return -1;
}

static int require_open(rpc_call *call, const store_offer *o, int64_t now_us)
{
	if (o->status != FP_OFFER_STATUS_OPEN) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			 "offer %s is %s, not OPEN", o->id, names_of(NAMES_STATUS, o->status));
		return -1;
	}
	if (o->expires_us < now_us) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			 "offer %s has expired", o->id);
		return -1;
	}
	return 0;
}

/* How a review or a late payment changes the customer's history. */
typedef struct history_change {
	const char *id;        /* the cycle changed: the payment reviewed, the default paid */
	bool drop;             /* it leaves the history (rule 6); else it gets fairness_bp */
	int32_t fairness_bp;   /* its new fairness (rule 5) */
	const char *append_id; /* a payment closing a cycle now (rule 6), or NULL */
	int32_t append_fairness_bp;
} history_change;

/* Tell whether the history read can be resumed at the changed cycle: it
 * starts there, with the checkpoints of the policy in force, and replaying
 * it as read from its first checkpoint gives back every checkpoint read and
 * the stored score (so that no writer without checkpoints came between). */
static bool history_resumable(const store_state *st, const char *id)
{
	if (st->n_history == 0 || strcmp(st->history[0].id, id) != 0 ||
	    !store_checkpoint_holds(&st->rep, &st->policy, &st->history[0]))
		return false;
	int32_t s = st->history[0].score_before_bp;
	for (size_t i = 0; i < st->n_history; i++) {
		if (st->history[i].score_before_bp != s)
			return false;
		s = fp_score_step(s, st->history[i].fairness_bp, st->policy.alpha_bp);
	}
	return s == st->rep.score_bp;
}

/* Replay rule 7 over the history read with the change applied: from the
 * changed cycle's checkpoint over the cycles from it on, or from the prior
 * over all of them when c->full_history. Set after's score to the score
 * after the last cycle and c->replayed to the checkpoints that moved (the
 * appended payment's included). A full replay writes those of the latest
 * STORE_CHECKPOINTS_WRITE cycles only, and after's checkpoints then hold
 * from the first of them on. False when the history read cannot be
 * resumed: read all of it and replay again. */
static bool replay_change(rpc_call *call, cyc *c, const history_change *hc, store_rep *after)
{
	const store_state *st = &c->st;
	const fp_policy *pol = &st->policy;
	size_t n = st->n_history;
	free(c->replayed);
	c->replayed = NULL;
	c->n_replayed = 0;
	if (!c->full_history && !history_resumable(st, hc->id))
		return false;
	int32_t start = c->full_history ? pol->prior_score_bp : st->history[0].score_before_bp;
	int32_t *f = malloc((n + 1) * sizeof(*f));
	int32_t *before = malloc((n + 1) * sizeof(*before));
	size_t *from = malloc((n + 1) * sizeof(*from)); /* entry of history, n: appended */
	c->replayed = calloc(n + 1, sizeof(*c->replayed));
	if (f == NULL || before == NULL || from == NULL || c->replayed == NULL) {
		log_error(call->conn_id, "out of memory");
		abort(); /* as rpc_alloc(): no sane way on */
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const store_cycle_entry *e = &st->history[i];
		bool changed = strcmp(e->id, hc->id) == 0;
		if (changed && hc->drop)
			continue;
		from[m] = i;
		f[m++] = changed ? hc->fairness_bp : e->fairness_bp;
	}
	if (hc->append_id != NULL) {
		from[m] = n;
		f[m++] = hc->append_fairness_bp;
	}
	after->score_bp = fp_score_resume(pol, start, f, m, before);
	size_t first = 0; /* the first cycle whose checkpoint is written */
	if (c->full_history) {
		first = m > STORE_CHECKPOINTS_WRITE ? m - STORE_CHECKPOINTS_WRITE : 0;
		after->checkpoints_prior_bp = pol->prior_score_bp;
		after->checkpoints_alpha_bp = pol->alpha_bp;
		after->checkpoints_from_us = first > 0 ? st->history[from[first]].at_us : 0;
		snprintf(after->checkpoints_from_id, sizeof(after->checkpoints_from_id), "%s",
			 first > 0 ? st->history[from[first]].id : "");
	}
	for (size_t j = first; j < m; j++) {
		store_cycle_entry *out = &c->replayed[c->n_replayed];
		if (from[j] == n) {
			snprintf(out->id, sizeof(out->id), "%s", hc->append_id);
			out->is_default = false;
		} else if (st->history[from[j]].score_before_bp != before[j]) {
			*out = st->history[from[j]];
		} else {
			continue;
		}
		out->fairness_bp = f[j];
		out->score_before_bp = before[j];
		c->n_replayed++;
	}
	log_debug(call->conn_id, "%s: replayed %zu closed cycles (%s), %zu checkpoints moved",
		  call->route->name, m,
		  c->full_history ? "the whole history" : "from the changed one on", c->n_replayed);
	free(f);
	free(before);
	free(from);
	c->ch.checkpoints = c->replayed;
	c->ch.n_checkpoints = c->n_replayed;
	return true;
}

/* ------------------------------------------------------------ decide */

/* Rule 14: seed c->after from the verified attestation when it may seed
 * (fp_seed_of()), writing the REPUTATION_SEEDED event's detail; true when it
 * did. */
static bool seed(rpc_call *call, cyc *c)
{
	const Fairpay__V1__AttestationClaims *cl = c->claims;
	const store_rep *r = &c->st.rep;
	const fp_policy *pol = &c->st.policy;
	fp_seed sd;
	if (cl == NULL)
		return false;
	bool by_caller = strcmp(cl->issuer_vendor_id, call->vendor_id) == 0;
	bool history = r->offers_accepted > 0 || r->payments > 0 || r->defaults > 0;
	bool seeded = r->seed_score_bp >= 0 || r->attested_by[0] != '\0';
	if (!fp_seed_of(pol, by_caller, history, seeded, cl->score_bp, cl->payments, &sd)) {
		log_debug(call->conn_id, "CreateOffer: attestation of %s ignored (%s)",
			  cl->issuer_vendor_id,
			  pol->attestation_cap_bp <= 0 ? "cap 0"
			  : by_caller                  ? "issued by the caller"
			  : history                    ? "customer has history"
						       : "already seeded");
		return false;
	}
	store_rep *a = &c->after;
	a->score_bp = sd.score_bp;
	a->attested_payments = sd.attested_payments;
	snprintf(a->attested_by, sizeof(a->attested_by), "%s", cl->issuer_vendor_id);
	a->seed_score_bp = sd.score_bp;
	/* No closed cycle yet: every replay of rule 7 starts from the seed. */
	a->checkpoints_prior_bp = sd.score_bp;
	a->checkpoints_alpha_bp = pol->alpha_bp;
	a->checkpoints_from_us = 0;
	a->checkpoints_from_id[0] = '\0';
	c->st.policy.prior_score_bp = sd.score_bp;
	char name[LOG_ESCAPE_SIZE];
	snprintf(c->detail[1], DETAIL_LEN,
		 "seeded by vendor %s (%.80s), key %s: score %d (attested %d, cap %d),"
		 " attested payments %d",
		 cl->issuer_vendor_id, log_escape(name, cl->issuer_name), cl->key_id, sd.score_bp,
		 cl->score_bp, pol->attestation_cap_bp, sd.attested_payments);
	return true;
}

static int decide_create(rpc_call *call, cyc *c, int64_t now)
{
	store_state *st = &c->st;
	if (!st->product.exists) {
		cyc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "sku", "no product with sku %s",
			 c->sku);
		return -1;
	}
	/* A customer's money is kept in one currency: the first offer's. */
	if (st->rep.currency[0] && strcmp(st->rep.currency, st->product.currency) != 0) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "sku",
			 "customer %s pays in %s; product %s is priced in %s", c->customer_id,
			 st->rep.currency, c->sku, st->product.currency);
		return -1;
	}
	bool has_ov = c->ov.has_mode || c->ov.has_suggested_price || c->ov.has_minimum_price;
	c->after = st->rep;
	size_t n_events = 0;
	if (seed(call, c)) {
		c->ch.events[n_events] =
			(store_event){ "REPUTATION_SEEDED", c->offer.id, NULL, c->detail[1] };
		n_events++;
	}
	if (make_offer(call, st, &c->after, has_ov ? &c->ov : NULL, c->customer_id, now,
		       &c->offer) != 0)
		return -1;
	if (!st->rep.exists)
		c->after.updated_us = now;
	if (!c->after.currency[0])
		snprintf(c->after.currency, sizeof(c->after.currency), "%s", st->product.currency);
	offer_created_detail(c->detail[0], &c->offer);
	c->ch.insert_offer = &c->offer;
	/* The seeding first: the offer's terms follow from it. */
	if (n_events > 0)
		c->ch.events[0].offer_id = c->offer.id;
	c->ch.events[n_events] = (store_event){ "OFFER_CREATED", c->offer.id, NULL, c->detail[0] };

	Fairpay__V1__CreateOfferResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__create_offer_response__init(r);
	r->offer = conv_offer(call, &c->offer);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER;
	call->resp.create_offer = r;
	return 0;
}

static int decide_accept(rpc_call *call, cyc *c, int64_t now)
{
	store_state *st = &c->st;
	if (require_open(call, &st->offer, now) != 0 ||
	    require_currency(call, &st->rep, &st->offer) != 0)
		return -1;
	c->after = st->rep;
	if (!c->after.currency[0])
		snprintf(c->after.currency, sizeof(c->after.currency), "%s", st->offer.currency);
	c->offer = st->offer;
	if (accept_offer(call, &st->policy, &c->after, &c->offer, now, c->detail[0]) != 0)
		return -1;
	c->after.updated_us = now;
	c->ch.update_offer = &c->offer;
	c->ch.update_offer_from = FP_OFFER_STATUS_OPEN;
	c->ch.update_offer_accepted_us = now;
	c->ch.events[0] = (store_event){ "OFFER_ACCEPTED", c->offer.id, NULL, c->detail[0] };

	Fairpay__V1__AcceptOfferResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__accept_offer_response__init(r);
	r->offer = conv_offer(call, &c->offer);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_ACCEPT_OFFER;
	call->resp.accept_offer = r;
	return 0;
}

static int decide_decline(rpc_call *call, cyc *c, int64_t now)
{
	store_state *st = &c->st;
	if (require_open(call, &st->offer, now) != 0)
		return -1;
	c->after = st->rep;
	c->offer = st->offer;
	c->offer.status = FP_OFFER_STATUS_DECLINED;
	c->ch.update_offer = &c->offer;
	c->ch.update_offer_from = FP_OFFER_STATUS_OPEN;
	c->ch.update_offer_closed_us = now;
	c->ch.events[0] = (store_event){ "OFFER_DECLINED", c->offer.id, NULL, "" };

	Fairpay__V1__DeclineOfferResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__decline_offer_response__init(r);
	r->offer = conv_offer(call, &c->offer);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_DECLINE_OFFER;
	call->resp.decline_offer = r;
	return 0;
}

static int decide_pay(rpc_call *call, cyc *c, int64_t now)
{
	store_state *st = &c->st;
	const fp_policy *pol = &st->policy;
	store_offer *o = &st->offer;
	const char *amount_field = c->by_amount ? "amount_minor" : "differential_bp";
	/* Rule 11: which states take a payment. */
	if (o->status == FP_OFFER_STATUS_PAID) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			 "offer %s is already paid", o->id);
		return -1;
	}
	if (o->status == FP_OFFER_STATUS_OPEN && o->mode != FP_MODE_SET_PRICE) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			 "offer %s must be accepted before it is paid", o->id);
		return -1;
	}
	if (o->status == FP_OFFER_STATUS_OPEN && o->expires_us < now) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			 "offer %s has expired", o->id);
		return -1;
	}
	if (o->status != FP_OFFER_STATUS_OPEN && o->status != FP_OFFER_STATUS_ACCEPTED &&
	    o->status != FP_OFFER_STATUS_DEFAULTED) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "offer_id",
			 "offer %s is %s and cannot be paid", o->id,
			 names_of(NAMES_STATUS, o->status));
		return -1;
	}
	if (require_currency(call, &st->rep, o) != 0)
		return -1;
	bool late = o->status == FP_OFFER_STATUS_DEFAULTED;
	/* Rule 1, held to the 10^15 of every other amount so that rule 2 fits. */
	int64_t sp = 0;
	if (fp_cycle_sp(o->suggested_price_minor, o->unit_price_minor, c->usage_units, &sp) != 0 ||
	    sp > LIMIT_MONEY_MAX) {
		cyc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "usage_units",
			 "usage_units %lld at unit price %lld is over 10^15",
			 (long long)c->usage_units, (long long)o->unit_price_minor);
		return -1;
	}
	/* Rule 2; an amount is at most 10^15 however it was given. */
	int64_t amount = c->amount_minor;
	if (!c->by_amount && (fp_amount_from_differential(sp, c->differential_bp, &amount) != 0 ||
			      amount > LIMIT_MONEY_MAX)) {
		cyc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "differential_bp",
			 "differential_bp %d of the suggested price %lld is over 10^15",
			 c->differential_bp, (long long)sp);
		return -1;
	}
	/* Rule 3. */
	if (fp_check_mode(o->mode, amount, o->set_price_minor, o->minimum_price_minor) != 0) {
		if (o->mode == FP_MODE_SET_PRICE)
			cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, amount_field,
				 "amount %lld must equal the set price %lld", (long long)amount,
				 (long long)o->set_price_minor);
		else
			cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, amount_field,
				 "amount %lld is below the minimum price %lld", (long long)amount,
				 (long long)o->minimum_price_minor);
		return -1;
	}
	int64_t t = store_next_us(&st->rep, now);
	store_payment *p = &c->pay;
	memset(p, 0, sizeof(*p));
	rpc_new_id(p->id, sizeof(p->id), "p_");
	snprintf(p->offer_id, sizeof(p->offer_id), "%s", o->id);
	snprintf(p->customer_id, sizeof(p->customer_id), "%s", o->customer_id);
	snprintf(p->currency, sizeof(p->currency), "%s", o->currency);
	p->amount_minor = amount;
	p->suggested_price_minor = sp;
	p->usage_units = c->usage_units;
	p->reasons = c->reasons;
	p->note = c->note;
	p->late = late;
	p->created_us = t;
	fp_assess_payment(pol, o->mode, amount, sp, c->reasons, late, &p->a);

	/* The offer closes now, also a late one: its cycle moves from the
	 * default's time to the payment's. */
	c->offer = *o;
	c->offer.status = FP_OFFER_STATUS_PAID;
	c->ch.update_offer = &c->offer;
	c->ch.update_offer_from = o->status;
	c->ch.update_offer_closed_us = t;
	c->ch.update_offer_accepted_us = 0;

	store_rep *a = &c->after;
	*a = st->rep;
	if (!a->currency[0])
		snprintf(a->currency, sizeof(a->currency), "%s", o->currency);
	a->payments = a->payments < INT32_MAX ? a->payments + 1 : INT32_MAX;
	a->total_paid_minor = sat_add(a->total_paid_minor, amount);
	a->total_suggested_minor = sat_add(a->total_suggested_minor, sp);
	if (o->status == FP_OFFER_STATUS_ACCEPTED && fp_mode_is_fairpay(o->mode))
		a->credit_used_minor = a->credit_used_minor > o->suggested_price_minor
					       ? a->credit_used_minor - o->suggested_price_minor
					       : 0;
	if (late) {
		a->open_defaults = a->open_defaults > 0 ? a->open_defaults - 1 : 0;
		/* Rule 6: the default leaves the history and the payment closes
		 * the cycle now, so the score is replayed from the default on. */
		history_change hc = { o->id, true, 0, p->id, p->a.fairness_bp };
		if (!replay_change(call, c, &hc, a))
			return DECIDE_REREAD;
	} else {
		a->score_bp = fp_score_step(a->score_bp, p->a.fairness_bp, pol->alpha_bp);
		store_checkpoint_append(pol, &st->rep, a, &c->appended, p->id, false,
					p->a.fairness_bp);
		c->ch.checkpoints = &c->appended;
		c->ch.n_checkpoints = 1;
	}
	a->updated_us = t;
	/* The latest payments now start with this one. */
	memmove(a->recent + 1, a->recent, (FP_EXPLAIN_RECENT - 1) * sizeof(a->recent[0]));
	a->recent[0] = p->a.raw_fairness_bp;
	if (a->n_recent < FP_EXPLAIN_RECENT)
		a->n_recent++;

	snprintf(c->detail[0], DETAIL_LEN,
		 "amount %lld, suggested %lld, fairness %d (raw %d), verdict %s, review %s%s",
		 (long long)amount, (long long)sp, p->a.fairness_bp, p->a.raw_fairness_bp,
		 names_of(NAMES_VERDICT, p->a.verdict), names_of(NAMES_REVIEW, p->a.review),
		 late ? ", late" : "");
	store_reputation_detail(c->detail[1], DETAIL_LEN, pol, &st->rep, a);
	c->ch.insert_payment = p;
	c->ch.events[0] = (store_event){ "PAYMENT_RECEIVED", o->id, p->id, c->detail[0] };
	c->ch.events[1] = (store_event){ "REPUTATION_CHANGED", o->id, p->id, c->detail[1] };

	Fairpay__V1__SubmitPaymentResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__submit_payment_response__init(r);

	/* Rule 12, on the reputation this payment produced. */
	if (st->product.exists && st->product.period_days > 0) {
		if (make_offer(call, st, a, NULL, o->customer_id, t, &c->next) != 0)
			return -1;
		c->next.period_index = o->period_index + 1;
		snprintf(c->next.previous_offer_id, sizeof(c->next.previous_offer_id), "%s", o->id);
		offer_created_detail(c->detail[2], &c->next);
		c->ch.events[2] = (store_event){ "OFFER_CREATED", c->next.id, NULL, c->detail[2] };
		if (fp_mode_is_fairpay(c->next.mode)) {
			if (accept_offer(call, pol, a, &c->next, t, c->detail[3]) != 0)
				return -1;
			c->ch.events[3] =
				(store_event){ "OFFER_ACCEPTED", c->next.id, NULL, c->detail[3] };
		}
		c->ch.insert_offer2 = &c->next;
		r->next_offer = conv_offer(call, &c->next);
	}
	c->ch.at_us = t;
	r->payment = conv_payment(call, p);
	r->reputation = reputation_msg(call, pol, o->customer_id, a);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_SUBMIT_PAYMENT;
	call->resp.submit_payment = r;
	return 0;
}

static int decide_review(rpc_call *call, cyc *c, int64_t now)
{
	store_state *st = &c->st;
	const fp_policy *pol = &st->policy;
	store_payment *p = &c->pay;
	*p = st->payment;
	if (p->a.review != FP_REVIEW_PENDING) {
		cyc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, "payment_id",
			 "payment %s is not waiting for a review (review %s)", p->id,
			 names_of(NAMES_REVIEW, p->a.review));
		return -1;
	}
	fp_assessment a;
	if (fp_review_payment(pol, p->a.raw_fairness_bp, p->a.review, p->late, c->accept_reasons,
			      &a) != 0) {
		cyc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (review)");
		return -1;
	}
	p->a = a;
	int64_t t = store_next_us(&st->rep, now);
	c->after = st->rep;
	/* Rule 7: the payment's fairness changed in place, so the score is
	 * replayed from it on. */
	history_change hc = { p->id, false, a.fairness_bp, NULL, 0 };
	if (!replay_change(call, c, &hc, &c->after))
		return DECIDE_REREAD;
	c->after.updated_us = t;
	snprintf(c->detail[0], DETAIL_LEN, "%s: fairness %d, verdict %s",
		 names_of(NAMES_REVIEW, a.review), a.fairness_bp,
		 names_of(NAMES_VERDICT, a.verdict));
	store_reputation_detail(c->detail[1], DETAIL_LEN, pol, &st->rep, &c->after);
	c->ch.update_payment = p;
	c->ch.update_payment_from = &st->payment;
	c->ch.review_note = c->note;
	c->ch.at_us = t;
	c->ch.events[0] = (store_event){ "PAYMENT_REVIEWED", p->offer_id, p->id, c->detail[0] };
	c->ch.events[1] = (store_event){ "REPUTATION_CHANGED", p->offer_id, p->id, c->detail[1] };

	Fairpay__V1__ReviewPaymentResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__review_payment_response__init(r);
	r->payment = conv_payment(call, p);
	r->reputation = reputation_msg(call, pol, p->customer_id, &c->after);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_REVIEW_PAYMENT;
	call->resp.review_payment = r;
	return 0;
}

/* ------------------------------------------------------------ read, decide, write */

/* ------------------------------------------------------------ the cache */

static const char *cyc_customer(const cyc *c)
{
	return c->kind == CYC_CREATE   ? c->customer_id
	       : c->kind == CYC_REVIEW ? c->st.payment.customer_id
				       : c->st.offer.customer_id;
}

/* Fill st from cached rows when all the call needs is there. A review and
 * a late payment replay history, which is never cached. */
static bool cyc_from_cache(rpc_call *call, cyc *c)
{
	cache *k = call->srv->cache;
	char key[STORE_KEY_LEN];
	store_state *st = &c->st;
	memset(st, 0, sizeof(*st));
	const char *customer = c->customer_id, *sku = c->sku;
	if (c->kind == CYC_REVIEW)
		return false;
	if (c->kind != CYC_CREATE) {
		store_key_offer(key, sizeof(key), call->vendor_id, c->offer_id);
		if (!cache_get(k, key, &st->offer, sizeof(st->offer)))
			return false;
		st->offer_found = true;
		if (c->kind == CYC_GET)
			return true;
		if (st->offer.status == FP_OFFER_STATUS_DEFAULTED)
			return false;
		customer = st->offer.customer_id;
		sku = st->offer.sku;
	}
	store_policy pol;
	store_key_policy(key, sizeof(key), call->vendor_id);
	if (!cache_get(k, key, &pol, sizeof(pol)))
		return false;
	st->policy_stored = pol.stored;
	st->policy = pol.policy;
	store_key_product(key, sizeof(key), call->vendor_id, sku);
	if (!cache_get(k, key, &st->product, sizeof(st->product)))
		return false;
	store_key_rep(key, sizeof(key), call->vendor_id, customer);
	return cache_get(k, key, &st->rep, sizeof(st->rep));
}

/* Keep the rows just read, but those whose change was heard while they
 * were read (they may be older than it). */
static void cyc_cache_fill(rpc_call *call, cyc *c)
{
	cache *k = call->srv->cache;
	unsigned long long mark = c->cache_gen;
	char key[STORE_KEY_LEN];
	const store_state *st = &c->st;
	if (st->offer_found) {
		store_key_offer(key, sizeof(key), call->vendor_id, st->offer.id);
		cache_fill(k, mark, key, &st->offer, sizeof(st->offer));
	}
	if (c->kind == CYC_GET || c->kind == CYC_REVIEW)
		return;
	store_policy pol = { st->policy_stored, st->policy };
	store_key_policy(key, sizeof(key), call->vendor_id);
	cache_fill(k, mark, key, &pol, sizeof(pol));
	store_key_product(key, sizeof(key), call->vendor_id,
			  c->kind == CYC_CREATE ? c->sku : st->offer.sku);
	cache_fill(k, mark, key, &st->product, sizeof(st->product));
	store_key_rep(key, sizeof(key), call->vendor_id, cyc_customer(c));
	cache_fill(k, mark, key, &st->rep, sizeof(st->rep));
}

/* The keys of the rows the write changes, announced with it (JSON). */
static char *cyc_notify_keys(rpc_call *call, cyc *c)
{
	char key[STORE_KEY_LEN];
	json_t *a = json_array();
	store_key_rep(key, sizeof(key), call->vendor_id, cyc_customer(c));
	json_array_append_new(a, json_string(key));
	if (c->ch.insert_offer || c->ch.update_offer) {
		store_key_offer(key, sizeof(key), call->vendor_id, c->offer.id);
		json_array_append_new(a, json_string(key));
	}
	if (c->ch.insert_offer2) {
		store_key_offer(key, sizeof(key), call->vendor_id, c->next.id);
		json_array_append_new(a, json_string(key));
	}
	char *text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return text;
}

/* After the write: keep what this server just committed (reads of it
 * begun before are then not kept), or forget it when the outcome is
 * unknown or a change of it by another server was heard in between. */
static void cyc_cache_written(rpc_call *call, cyc *c, bool committed, const char *xmin)
{
	cache *k = call->srv->cache;
	char key[STORE_KEY_LEN];
	bool keep = committed && xmin != NULL && *xmin;
	store_key_rep(key, sizeof(key), call->vendor_id, cyc_customer(c));
	if (keep && c->kind != CYC_REVIEW && !cache_changed(k, c->cache_gen, key)) {
		store_rep r = c->after;
		r.exists = true;
		snprintf(r.xmin, sizeof(r.xmin), "%s", xmin);
		cache_note(k, key);
		cache_put(k, key, &r, sizeof(r));
	} else {
		cache_del(k, key);
	}
	bool changed = c->ch.insert_offer != NULL || c->ch.update_offer != NULL;
	const store_offer *offers[2] = { changed ? &c->offer : NULL,
					 c->ch.insert_offer2 ? &c->next : NULL };
	for (int i = 0; i < 2; i++) {
		if (offers[i] == NULL)
			continue;
		store_key_offer(key, sizeof(key), call->vendor_id, offers[i]->id);
		if (keep && !cache_changed(k, c->cache_gen, key)) {
			/* Every row of one transaction has its id as xmin. */
			store_offer o = *offers[i];
			snprintf(o.xmin, sizeof(o.xmin), "%s", xmin);
			cache_note(k, key);
			cache_put(k, key, &o, sizeof(o));
		} else
			cache_del(k, key);
	}
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	cyc_load(arg);
}

static void write_done(void *arg, db_status status, PGresult *res)
{
	rpc_call *call = arg;
	cyc *c = call->ctx;
	bool written =
		status == DB_OK && PQntuples(res) == 1 && db_get_i64(res, 0, STORE_WRITE_OK) == 1;
	cyc_cache_written(call, c, written, written ? db_get_str(res, 0, STORE_WRITE_XMIN) : NULL);
	if (status == DB_ERROR && idem_is_conflict(call, res)) {
		/* Another server recorded this key first: answer its reply. */
		cyc_free(c);
		idem_again(call);
		return;
	}
	if (status != DB_OK || PQntuples(res) != 1) {
		cyc_fail_db(call, status == DB_OK ? DB_ERROR : status, res);
		return;
	}
	if (written) {
		cyc_ok(call);
		return;
	}
	c->fresh = true;
	/* The customer changed since the read: read and decide again. */
	if (++c->attempt >= CYCLE_ATTEMPTS) {
		cyc_fail_now(call, FAIRPAY__V1__CODE__ABORTED, NULL,
			     "the customer changed %d times while this call ran; try again",
			     CYCLE_ATTEMPTS);
		return;
	}
	cyc_free(c);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
	call->idem_recorded = false;
	/* Calls that collided would collide again in step: wait a random
	 * while, longer after each attempt. */
	int span = CYCLE_BACKOFF_MS * (c->attempt < 8 ? c->attempt : 8);
	/* Each process draws its own jitter: servers sharing a database must
	 * not back off in step. */
	uint32_t r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)c->attempt;
	struct timeval tv = { 0, (suseconds_t)(r % (uint32_t)(span * 1000 + 1)) };
	if (event_base_once(call->srv->base, -1, EV_TIMEOUT, retry_cb, call, &tv) != 0)
		cyc_load(call);
}

static void cyc_decide(rpc_call *call, cyc *c);

static void load_done(void *arg, db_status status, PGresult *res)
{
	rpc_call *call = arg;
	cyc *c = call->ctx;
	if (status != DB_OK) {
		cyc_fail_db(call, status, res);
		return;
	}
	if (PQntuples(res) == 0) {
		if (c->kind == CYC_REVIEW)
			cyc_fail_now(call, FAIRPAY__V1__CODE__NOT_FOUND, "payment_id",
				     "no payment %s", c->offer_id);
		else
			cyc_fail_now(call, FAIRPAY__V1__CODE__NOT_FOUND, "offer_id", "no offer %s",
				     c->offer_id);
		return;
	}
	if (store_read_state(res, 0, &c->st) != 0) {
		log_error(call->conn_id, "%s: a row of an unexpected shape", call->route->name);
		cyc_fail_now(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	cyc_cache_fill(call, c);
	cyc_decide(call, c);
}

/* Decide on the rows in c->st and write, or answer. */
static void cyc_decide(rpc_call *call, cyc *c)
{
	if (c->kind == CYC_GET) {
		Fairpay__V1__GetOfferResponse *r = rpc_alloc(call, sizeof(*r));
		fairpay__v1__get_offer_response__init(r);
		r->offer = conv_offer(call, &c->st.offer);
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_OFFER;
		call->resp.get_offer = r;
		cyc_ok(call);
		return;
	}
	int64_t now = clock_wall_us();
	/* After the cache took the vendor's policy: from here on it is the
	 * customer's (a seeded score is its prior). */
	store_apply_seed(&c->st);
	memset(&c->ch, 0, sizeof(c->ch));
	memset(c->detail, 0, sizeof(c->detail));
	c->ch.at_us = now;
	bool from_cache = c->from_cache;
	int rc = -1;
	switch (c->kind) {
	case CYC_CREATE:
		rc = decide_create(call, c, now);
		break;
	case CYC_ACCEPT:
		rc = decide_accept(call, c, now);
		break;
	case CYC_DECLINE:
		rc = decide_decline(call, c, now);
		break;
	case CYC_PAY:
		rc = decide_pay(call, c, now);
		break;
	case CYC_REVIEW:
		rc = decide_review(call, c, now);
		break;
	case CYC_GET:
		break;
	}
	/* A refusal on rows from the database was answered, and the call
	 * (c with it) is gone; one on cached rows was not (c->stale), nor is
	 * DECIDE_REREAD. */
	if (rc != 0) {
		if (rc == DECIDE_REREAD || (from_cache && c->stale)) {
			/* Refused on cached rows, or the checkpoints read cannot be
			 * resumed: decide again on fresh rows (the whole history). */
			c->full_history |= rc == DECIDE_REREAD;
			c->stale = false;
			c->fresh = true;
			call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
			store_state_free(&c->st);
			/* From the next loop turn: the read never nests in a decision. */
			struct timeval next_turn = { 0, 0 };
			if (event_base_once(call->srv->base, -1, EV_TIMEOUT, retry_cb, call,
					    &next_turn) != 0)
				cyc_fail_now(call, FAIRPAY__V1__CODE__INTERNAL, NULL,
					     "internal error (out of memory)");
		}
		return; /* refused: already answered */
	}
	const char *customer = cyc_customer(c);
	c->ch.rep = (store_rep_write){ call->vendor_id, customer, &c->st.rep, &c->after,
				       c->st.policy.prior_score_bp };
	if (idem_prepare(call, &c->ch.idem) != 0) {
		cyc_fail_now(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (reply)");
		return;
	}
	free(c->notify);
	c->notify = cyc_notify_keys(call, c);
	c->ch.notify = c->notify;
	store_write(&c->stmt, &c->ch);
	/* Writes of one customer queue behind each other in a group. */
	char lock_key[STORE_CUSTOMER_LEN + 40];
	snprintf(lock_key, sizeof(lock_key), "%s/%s", call->vendor_id, customer);
	if (db_write_set_for(call->srv->db, rpc_tenant(call), c->stmt.sql, c->stmt.params[0],
			     lock_key, write_done, call) != 0)
		cyc_fail_now(call, FAIRPAY__V1__CODE__INTERNAL, NULL,
			     "internal error (out of memory)");
}

static void cyc_load(rpc_call *call)
{
	cyc *c = call->ctx;
	c->cache_gen = cache_mark(call->srv->cache);
	c->from_cache = false;
	if (!c->fresh && cyc_from_cache(call, c)) {
		c->from_cache = true;
		cyc_decide(call, c);
		return;
	}
	c->fresh = false;
	switch (c->kind) {
	case CYC_CREATE: {
		const char *params[] = { call->vendor_id, c->customer_id, c->sku, "t" };
		rpc_query(call, store_sql_load_customer, 4, params, load_done);
		return;
	}
	case CYC_REVIEW: {
		const char *params[] = { call->vendor_id, c->offer_id,
					 c->full_history ? "t" : "f" };
		rpc_query(call, store_sql_load_payment, 3, params, load_done);
		return;
	}
	default: {
		/* A late payment replays the history from the default on: load
		 * it only then. */
		const char *params[] = { call->vendor_id, c->offer_id,
					 c->kind == CYC_PAY ? "t" : "f",
					 c->full_history ? "t" : "f" };
		rpc_query(call, store_sql_load_offer, 4, params, load_done);
		return;
	}
	}
}

static cyc *cyc_new(rpc_call *call, cyc_kind kind)
{
	cyc *c = rpc_alloc(call, sizeof(*c));
	c->kind = kind;
	call->ctx = c;
	return c;
}

/* ------------------------------------------------------------ handlers */

/* Rule 14: the attestation verified; whether it seeds is decided on the
 * customer's rows. */
static void create_attested(rpc_call *call, const Fairpay__V1__AttestationClaims *claims)
{
	cyc *c = call->ctx;
	c->claims = claims;
	cyc_load(call);
}

void rpc_create_offer(rpc_call *call)
{
	const Fairpay__V1__CreateOfferRequest *in = call->req->create_offer;
	const Fairpay__V1__OfferOverrides *ov = in->overrides;
	if (check_customer(call, in->customer_id) != 0)
		return;
	if (!text_valid_sku(in->sku)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "sku",
			 "sku must be 1 to 64 bytes of A-Z a-z 0-9 . _ -");
		return;
	}
	fp_overrides o = { 0 };
	if (ov != NULL) {
		o.has_mode = ov->opt_mode_case == FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
		o.has_suggested_price =
			ov->opt_suggested_price_minor_case ==
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
		o.has_minimum_price =
			ov->opt_minimum_price_minor_case ==
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
		if (o.has_mode && names_known(NAMES_MODE, ov->mode) == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "overrides.mode",
				 "mode must be FAIRPAY, FAIRPAY_MINIMUM or SET_PRICE");
			return;
		}
		if (o.has_suggested_price && (ov->suggested_price_minor < 0 ||
					      ov->suggested_price_minor > LIMIT_MONEY_MAX)) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				 "overrides.suggested_price_minor",
				 "must be 0 to 10^15 minor units");
			return;
		}
		if (o.has_minimum_price &&
		    (ov->minimum_price_minor < 0 || ov->minimum_price_minor > LIMIT_MONEY_MAX)) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				 "overrides.minimum_price_minor", "must be 0 to 10^15 minor units");
			return;
		}
		o.mode = (fp_mode)ov->mode;
		o.suggested_price_minor = ov->suggested_price_minor;
		o.minimum_price_minor = ov->minimum_price_minor;
	}
	cyc *c = cyc_new(call, CYC_CREATE);
	c->customer_id = in->customer_id;
	c->sku = in->sku;
	c->ov = o;
	if (in->attestation.len > 0) {
		rpc_attest_verify(call, in->attestation, "attestation", in->attestation_subject,
				  create_attested);
		return;
	}
	cyc_load(call);
}

static void offer_call(rpc_call *call, const char *offer_id, cyc_kind kind)
{
	if (check_object_id(call, offer_id, "o_", "offer_id") != 0)
		return;
	cyc *c = cyc_new(call, kind);
	c->offer_id = offer_id;
	cyc_load(call);
}

void rpc_accept_offer(rpc_call *call)
{
	offer_call(call, call->req->accept_offer->offer_id, CYC_ACCEPT);
}

void rpc_decline_offer(rpc_call *call)
{
	offer_call(call, call->req->decline_offer->offer_id, CYC_DECLINE);
}

void rpc_get_offer(rpc_call *call)
{
	offer_call(call, call->req->get_offer->offer_id, CYC_GET);
}

/* Collect payment reasons into a mask, rejecting unknown values; a reason
 * given twice counts once. */
static int reasons_mask(const Fairpay__V1__PaymentReason *r, size_t n, uint32_t *mask)
{
	*mask = 0;
	for (size_t i = 0; i < n; i++) {
		if (!fp_payment_reason_valid((int)r[i]))
			return -1;
		*mask |= FP_REASON_BIT(r[i]);
	}
	return 0;
}

void rpc_submit_payment(rpc_call *call)
{
	const Fairpay__V1__SubmitPaymentRequest *in = call->req->submit_payment;
	if (check_object_id(call, in->offer_id, "o_", "offer_id") != 0)
		return;
	switch (in->amount_case) {
	case FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR:
		if (in->amount_minor < 0 || in->amount_minor > LIMIT_MONEY_MAX) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "amount_minor",
				 "amount_minor must be 0 to 10^15 minor units");
			return;
		}
		break;
	case FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP:
		if (in->differential_bp < LIMIT_DIFFERENTIAL_BP_MIN ||
		    in->differential_bp > LIMIT_DIFFERENTIAL_BP_MAX) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "differential_bp",
				 "differential_bp must be %d to %d", LIMIT_DIFFERENTIAL_BP_MIN,
				 LIMIT_DIFFERENTIAL_BP_MAX);
			return;
		}
		break;
	default:
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "amount_minor",
			 "give exactly one of amount_minor and differential_bp");
		return;
	}
	if (in->usage_units < 0 || in->usage_units > LIMIT_USAGE_UNITS_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "usage_units",
			 "usage_units must be 0 to %d", LIMIT_USAGE_UNITS_MAX);
		return;
	}
	uint32_t mask = 0;
	if (reasons_mask(in->reasons, in->n_reasons, &mask) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "reasons",
			 "reasons holds an unknown PaymentReason");
		return;
	}
	if (check_note(call, in->note) != 0)
		return;
	cyc *c = cyc_new(call, CYC_PAY);
	c->offer_id = in->offer_id;
	c->by_amount = in->amount_case == FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	c->amount_minor = in->amount_minor;
	c->differential_bp = in->differential_bp;
	c->usage_units = in->usage_units;
	c->reasons = mask;
	c->note = in->note;
	cyc_load(call);
}

void rpc_review_payment(rpc_call *call)
{
	const Fairpay__V1__ReviewPaymentRequest *in = call->req->review_payment;
	if (check_object_id(call, in->payment_id, "p_", "payment_id") != 0 ||
	    check_note(call, in->note) != 0)
		return;
	cyc *c = cyc_new(call, CYC_REVIEW);
	c->offer_id = in->payment_id;
	c->accept_reasons = in->accept_reasons;
	c->note = in->note;
	cyc_load(call);
}

/* ------------------------------------------------------------ reputation, events */

static void reputation_reply(rpc_call *call, const fp_policy *pol, const store_rep *rep)
{
	Fairpay__V1__GetReputationResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__get_reputation_response__init(r);
	r->reputation = reputation_msg(call, pol, call->req->get_reputation->customer_id, rep);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_REPUTATION;
	call->resp.get_reputation = r;
	rpc_ok(call);
}

static void get_reputation_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	store_state s;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (store_read_state(res, 0, &s) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
		return;
	}
	cache *k = call->srv->cache;
	unsigned long long mark = *(unsigned long long *)call->ctx;
	char key[STORE_KEY_LEN];
	store_policy pol = { s.policy_stored, s.policy };
	store_key_policy(key, sizeof(key), call->vendor_id);
	cache_fill(k, mark, key, &pol, sizeof(pol));
	store_key_rep(key, sizeof(key), call->vendor_id, call->req->get_reputation->customer_id);
	cache_fill(k, mark, key, &s.rep, sizeof(s.rep));
	reputation_reply(call, &s.policy, &s.rep);
	store_state_free(&s);
}

void rpc_get_reputation(rpc_call *call)
{
	const char *customer = call->req->get_reputation->customer_id;
	if (check_customer(call, customer) != 0)
		return;
	/* From the cache when it holds the row and the policy: this server's
	 * own commits are in it at once, other servers' leave it when they
	 * are announced. */
	cache *k = call->srv->cache;
	char key[STORE_KEY_LEN];
	store_policy pol;
	store_rep rep;
	store_key_policy(key, sizeof(key), call->vendor_id);
	if (cache_get(k, key, &pol, sizeof(pol))) {
		store_key_rep(key, sizeof(key), call->vendor_id, customer);
		if (cache_get(k, key, &rep, sizeof(rep))) {
			reputation_reply(call, &pol.policy, &rep);
			return;
		}
	}
	unsigned long long *gen = rpc_alloc(call, sizeof(*gen));
	*gen = cache_mark(k);
	call->ctx = gen;
	const char *params[] = { call->vendor_id, customer, NULL, "t" };
	rpc_query(call, store_sql_load_customer, 4, params, get_reputation_done);
}

static void list_events_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	bool more = false;
	unsigned n = rpc_page_size(call->req->list_customer_events->limit, PQntuples(res), &more);
	Fairpay__V1__ListCustomerEventsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_customer_events_response__init(r);
	r->events = conv_event_page(call, res, n, &r->n_events, &more);
	/* One row past the page says there is more. */
	r->next_after_id = more ? r->events[r->n_events - 1]->id : 0;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_CUSTOMER_EVENTS;
	call->resp.list_customer_events = r;
	rpc_ok(call);
}

void rpc_list_customer_events(rpc_call *call)
{
	const Fairpay__V1__ListCustomerEventsRequest *in = call->req->list_customer_events;
	if (check_customer(call, in->customer_id) != 0)
		return;
	if (in->after_id > (uint64_t)INT64_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "after_id",
			 "after_id is larger than any event id");
		return;
	}
	char after[24], limit[16];
	snprintf(after, sizeof(after), "%llu", (unsigned long long)in->after_id);
	rpc_page_query_limit(in->limit, limit, sizeof(limit));
	rpc_reserve_page(call, in->limit);
	const char *params[] = { call->vendor_id, in->customer_id, after, limit };
	rpc_query(call,
		  "SELECT " CONV_EVENT_COLS " FROM events"
		  " WHERE vendor_id = $1 AND customer_id = $2 AND id > $3"
		  " ORDER BY id LIMIT $4",
		  4, params, list_events_done);
}
