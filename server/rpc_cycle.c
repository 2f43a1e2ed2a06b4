/* Vendor calls of the FairPay cycle: offers, payments, reviews, reputations
 * and the customer's event ledger.
 *
 * Each state change is one call of a SQL function (migrations/0002), so the
 * change, the reputation it causes and its events commit together, under
 * row locks, before the reply is sent. This file validates every field first
 * and turns the rows that come back into messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "rpc.h"
#include "text.h"

#define DIFFERENTIAL_MAX 1000000
#define USAGE_MAX 1000000000
#define ID_LEN 19 /* "o_" + 16 hex + NUL */

/* Columns that follow a reputation row: what its explanation needs of the
 * policy. */
#define REPUTATION_POLICY_COLS ", pol.probation_payments, pol.max_open_defaults"

static int check_customer(rpc_call *call, const char *customer_id)
{
	if (text_valid_name(customer_id, RPC_CUSTOMER_MAX))
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "customer_id",
		 "customer_id must be 1 to %d bytes of UTF-8", RPC_CUSTOMER_MAX);
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
	if (len <= RPC_NOTE_MAX && text_valid_utf8(note, len))
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "note",
		 "note must be at most %d bytes of UTF-8", RPC_NOTE_MAX);
	return -1;
}

/* ------------------------------------------------------------ offers */

typedef enum offer_reply { REPLY_CREATE, REPLY_ACCEPT, REPLY_DECLINE, REPLY_GET } offer_reply;

static void offer_done(rpc_call *call, db_status st, PGresult *res, offer_reply kind)
{
	if (st != DB_OK || PQntuples(res) != 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	Fairpay__V1__Offer *offer = conv_offer(call, res, 0, 0);
	switch (kind) {
	case REPLY_CREATE: {
		Fairpay__V1__CreateOfferResponse *r = rpc_alloc(call, sizeof(*r));
		fairpay__v1__create_offer_response__init(r);
		r->offer = offer;
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER;
		call->resp.create_offer = r;
		break;
	}
	case REPLY_ACCEPT: {
		Fairpay__V1__AcceptOfferResponse *r = rpc_alloc(call, sizeof(*r));
		fairpay__v1__accept_offer_response__init(r);
		r->offer = offer;
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_ACCEPT_OFFER;
		call->resp.accept_offer = r;
		break;
	}
	case REPLY_DECLINE: {
		Fairpay__V1__DeclineOfferResponse *r = rpc_alloc(call, sizeof(*r));
		fairpay__v1__decline_offer_response__init(r);
		r->offer = offer;
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_DECLINE_OFFER;
		call->resp.decline_offer = r;
		break;
	}
	case REPLY_GET: {
		Fairpay__V1__GetOfferResponse *r = rpc_alloc(call, sizeof(*r));
		fairpay__v1__get_offer_response__init(r);
		r->offer = offer;
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_OFFER;
		call->resp.get_offer = r;
		break;
	}
	}
	rpc_ok(call);
}

static void create_offer_done(void *arg, db_status st, PGresult *res)
{
	offer_done(arg, st, res, REPLY_CREATE);
}

static void accept_offer_done(void *arg, db_status st, PGresult *res)
{
	offer_done(arg, st, res, REPLY_ACCEPT);
}

static void decline_offer_done(void *arg, db_status st, PGresult *res)
{
	offer_done(arg, st, res, REPLY_DECLINE);
}

static void get_offer_done(void *arg, db_status st, PGresult *res)
{
	offer_done(arg, st, res, REPLY_GET);
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
	char mode[24] = "", sp[24] = "", min[24] = "";
	bool has_mode = false, has_sp = false, has_min = false;
	if (ov != NULL) {
		has_mode = ov->opt_mode_case == FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
		has_sp = ov->opt_suggested_price_minor_case ==
			 FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
		has_min = ov->opt_minimum_price_minor_case ==
			  FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
		if (has_mode && conv_enum_name(conv_mode_names, ov->mode) == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "overrides.mode",
				 "mode must be FAIRPAY, FAIRPAY_MINIMUM or SET_PRICE");
			return;
		}
		if (has_sp && (ov->suggested_price_minor < 0 ||
			       ov->suggested_price_minor > RPC_MONEY_MAX)) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				 "overrides.suggested_price_minor", "must be 0 to 10^15 minor units");
			return;
		}
		if (has_min && (ov->minimum_price_minor < 0 ||
				ov->minimum_price_minor > RPC_MONEY_MAX)) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				 "overrides.minimum_price_minor", "must be 0 to 10^15 minor units");
			return;
		}
		if (has_mode)
			snprintf(mode, sizeof(mode), "%s", conv_enum_name(conv_mode_names, ov->mode));
		if (has_sp)
			snprintf(sp, sizeof(sp), "%lld", (long long)ov->suggested_price_minor);
		if (has_min)
			snprintf(min, sizeof(min), "%lld", (long long)ov->minimum_price_minor);
	}
	char offer_id[ID_LEN];
	rpc_new_id(offer_id, sizeof(offer_id), "o_");
	const char *params[] = {call->vendor_id, offer_id, in->customer_id, in->sku,
				has_mode ? mode : NULL, has_sp ? sp : NULL, has_min ? min : NULL};
	rpc_query(call, "SELECT (r).* FROM fp_create_offer($1, $2, $3, $4, $5, $6, $7) r", 7, params,
		  create_offer_done);
}

static void offer_by_id(rpc_call *call, const char *offer_id, const char *sql, db_cb cb)
{
	if (check_object_id(call, offer_id, "o_", "offer_id") != 0)
		return;
	const char *params[] = {call->vendor_id, offer_id};
	rpc_query(call, sql, 2, params, cb);
}

void rpc_accept_offer(rpc_call *call)
{
	offer_by_id(call, call->req->accept_offer->offer_id,
		    "SELECT (r).* FROM fp_accept_offer($1, $2) r", accept_offer_done);
}

void rpc_decline_offer(rpc_call *call)
{
	offer_by_id(call, call->req->decline_offer->offer_id,
		    "SELECT (r).* FROM fp_decline_offer($1, $2) r", decline_offer_done);
}

void rpc_get_offer(rpc_call *call)
{
	offer_by_id(call, call->req->get_offer->offer_id,
		    "SELECT (r).* FROM fp_get_offer($1, $2) r", get_offer_done);
}

/* ------------------------------------------------------------ payments */

/* Join payment reason names with commas, rejecting unknown values; -1 if
 * one is not a PaymentReason. */
static int reasons_list(const Fairpay__V1__PaymentReason *r, size_t n, char *out, size_t len)
{
	uint32_t mask = 0;
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!fp_payment_reason_valid((int)r[i]))
			return -1;
		if (mask & FP_REASON_BIT(r[i]))
			continue; /* a reason given twice counts once */
		mask |= FP_REASON_BIT(r[i]);
		int w = snprintf(out + used, len - used, "%s%s", used ? "," : "",
				 conv_payment_reason_names[r[i]]);
		if (w < 0 || (size_t)w >= len - used)
			return -1;
		used += (size_t)w;
	}
	return 0;
}

static void submit_payment_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK || PQntuples(res) != 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	Fairpay__V1__SubmitPaymentResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__submit_payment_response__init(r);
	r->payment = conv_payment(call, res, 0, 0);
	r->reputation = conv_reputation(call, res, 0, CONV_PAYMENT_NCOLS);
	r->next_offer = conv_offer(call, res, 0, CONV_PAYMENT_NCOLS + CONV_REPUTATION_NCOLS + 2);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_SUBMIT_PAYMENT;
	call->resp.submit_payment = r;
	rpc_ok(call);
}

void rpc_submit_payment(rpc_call *call)
{
	const Fairpay__V1__SubmitPaymentRequest *in = call->req->submit_payment;
	char amount[24] = "", diff[24] = "", usage[24], reasons[160], payment_id[ID_LEN],
	     next_id[ID_LEN];
	if (check_object_id(call, in->offer_id, "o_", "offer_id") != 0)
		return;
	switch (in->amount_case) {
	case FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR:
		if (in->amount_minor < 0 || in->amount_minor > RPC_MONEY_MAX) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "amount_minor",
				 "amount_minor must be 0 to 10^15 minor units");
			return;
		}
		snprintf(amount, sizeof(amount), "%lld", (long long)in->amount_minor);
		break;
	case FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP:
		if (in->differential_bp < -10000 || in->differential_bp > DIFFERENTIAL_MAX) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "differential_bp",
				 "differential_bp must be -10000 to %d", DIFFERENTIAL_MAX);
			return;
		}
		snprintf(diff, sizeof(diff), "%d", in->differential_bp);
		break;
	default:
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "amount_minor",
			 "give exactly one of amount_minor and differential_bp");
		return;
	}
	if (in->usage_units < 0 || in->usage_units > USAGE_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "usage_units",
			 "usage_units must be 0 to %d", USAGE_MAX);
		return;
	}
	if (reasons_list(in->reasons, in->n_reasons, reasons, sizeof(reasons)) != 0) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "reasons",
			 "reasons holds an unknown PaymentReason");
		return;
	}
	if (check_note(call, in->note) != 0)
		return;
	snprintf(usage, sizeof(usage), "%lld", (long long)in->usage_units);
	rpc_new_id(payment_id, sizeof(payment_id), "p_");
	rpc_new_id(next_id, sizeof(next_id), "o_");
	bool by_amount = in->amount_case == FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	const char *params[] = {call->vendor_id, payment_id, in->offer_id, by_amount ? amount : NULL,
				by_amount ? NULL : diff, usage, reasons, in->note, next_id};
	rpc_query(call,
		  "SELECT (x.payment).*, (x.reputation).*" REPUTATION_POLICY_COLS
		  ", (x.next_offer).*"
		  " FROM fp_submit_payment($1, $2, $3, $4, $5, $6, $7, $8, $9) x,"
		  " fp_policy_of($1) pol",
		  9, params, submit_payment_done);
}

static void review_payment_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK || PQntuples(res) != 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	Fairpay__V1__ReviewPaymentResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__review_payment_response__init(r);
	r->payment = conv_payment(call, res, 0, 0);
	r->reputation = conv_reputation(call, res, 0, CONV_PAYMENT_NCOLS);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_REVIEW_PAYMENT;
	call->resp.review_payment = r;
	rpc_ok(call);
}

void rpc_review_payment(rpc_call *call)
{
	const Fairpay__V1__ReviewPaymentRequest *in = call->req->review_payment;
	if (check_object_id(call, in->payment_id, "p_", "payment_id") != 0 ||
	    check_note(call, in->note) != 0)
		return;
	const char *params[] = {call->vendor_id, in->payment_id, in->accept_reasons ? "t" : "f",
				in->note};
	rpc_query(call,
		  "SELECT (x.payment).*, (x.reputation).*" REPUTATION_POLICY_COLS
		  " FROM fp_review_payment($1, $2, $3, $4) x, fp_policy_of($1) pol",
		  4, params, review_payment_done);
}

/* ------------------------------------------------------------ reputation, events */

static void get_reputation_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK || PQntuples(res) != 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	Fairpay__V1__GetReputationResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__get_reputation_response__init(r);
	r->reputation = conv_reputation(call, res, 0, 0);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_REPUTATION;
	call->resp.get_reputation = r;
	rpc_ok(call);
}

void rpc_get_reputation(rpc_call *call)
{
	const char *customer = call->req->get_reputation->customer_id;
	if (check_customer(call, customer) != 0)
		return;
	const char *params[] = {call->vendor_id, customer};
	rpc_query(call,
		  "SELECT (r).*" REPUTATION_POLICY_COLS
		  " FROM fp_get_reputation($1, $2) r, fp_policy_of($1) pol",
		  2, params, get_reputation_done);
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
	r->events = rpc_alloc(call, (n ? n : 1) * sizeof(*r->events));
	for (unsigned i = 0; i < n; i++) {
		Fairpay__V1__Event *e = rpc_alloc(call, sizeof(*e));
		fairpay__v1__event__init(e);
		int row = (int)i;
		e->id = (uint64_t)db_get_i64(res, row, 0);
		e->kind = (Fairpay__V1__EventKind)conv_enum_value(conv_event_names,
								  db_get_str(res, row, 1));
		e->customer_id = rpc_strdup(call, db_get_str(res, row, 2));
		e->offer_id = rpc_strdup(call, db_get_str(res, row, 3));
		e->payment_id = rpc_strdup(call, db_get_str(res, row, 4));
		e->detail = rpc_strdup(call, db_get_str(res, row, 5));
		e->at_unix_ms = db_get_i64(res, row, 6);
		r->events[i] = e;
	}
	r->n_events = n;
	/* One row past the page says there is more. */
	r->next_after_id = more ? r->events[n - 1]->id : 0;
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
	const char *params[] = {call->vendor_id, in->customer_id, after, limit};
	rpc_query(call,
		  "SELECT id, kind, customer_id, coalesce(offer_id, ''), coalesce(payment_id, ''),"
		  " detail, fp_ms(at) FROM events"
		  " WHERE vendor_id = $1 AND customer_id = $2 AND id > $3"
		  " ORDER BY id LIMIT $4",
		  4, params, list_events_done);
}
