/* Vendor calls that page through the vendor's offers and payments, newest
 * first: ListOffers, and ListPayments (with review = PENDING, the review
 * queue). The statements, their indexes and their rows are store.h's; the
 * page tokens pagetoken.h's. */
#include <stdio.h>
#include <string.h>

#include "conv.h"
#include "limit.h"
#include "names.h"
#include "pagetoken.h"
#include "rpc.h"
#include "store.h"
#include "text.h"

#define TS_LEN 40

/* What a List call asks for, as the statement's parameters. */
typedef struct list_query {
	char at[TS_LEN];       /* the position's created_at */
	char id[STORE_ID_LEN]; /* the position's id */
	char limit[16];        /* one row past the page */
	const char *params[6]; /* vendor, at, id, limit, then the filters */
	int nparams;
	unsigned filters; /* STORE_LIST_* */
} list_query;

/* Check the common fields of a List call and fill q; on failure the call
 * has been answered. state is the filter's stored name (NULL: none). */
static int list_begin(rpc_call *call, char kind, const char *state, const char *customer_id,
		      const char *page_token, uint32_t limit, list_query *q)
{
	memset(q, 0, sizeof(*q));
	if (customer_id[0] != '\0' && !text_valid_name(customer_id, LIMIT_CUSTOMER_BYTES)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "customer_id",
			 "customer_id must be empty (any) or 1 to %d bytes of UTF-8",
			 LIMIT_CUSTOMER_BYTES);
		return -1;
	}
	if (page_token[0] == '\0') {
		snprintf(q->at, sizeof(q->at), "infinity");
	} else {
		pagetoken t;
		if (pagetoken_parse(kind, page_token, &t) != 0) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "page_token",
				 "page_token is not one this call returned");
			return -1;
		}
		store_ts(t.created_us, q->at, sizeof(q->at));
		pagetoken_id(kind, &t, q->id, sizeof(q->id));
	}
	rpc_page_query_limit(limit, q->limit, sizeof(q->limit));
	q->params[0] = call->vendor_id;
	q->params[1] = q->at;
	q->params[2] = q->id;
	q->params[3] = q->limit;
	q->nparams = 4;
	if (state != NULL) {
		q->filters |= STORE_LIST_STATE;
		q->params[q->nparams++] = state;
	}
	if (customer_id[0] != '\0') {
		q->filters |= STORE_LIST_CUSTOMER;
		q->params[q->nparams++] = customer_id;
	}
	rpc_reserve_page(call, limit);
	return 0;
}

/* The token of the page's last row, or "" when it is the last page. */
static char *list_next_token(rpc_call *call, bool more, char kind, int64_t created_us,
			     const char *id)
{
	char token[PAGETOKEN_SIZE];
	if (!more)
		return "";
	if (pagetoken_make(kind, created_us, id, token) != 0) {
		/* Rows are the server's own (CHECK constraints on the id, now()
		 * for the time): a row that makes no token is a bug. */
		return NULL;
	}
	return rpc_strdup(call, token);
}

/* ------------------------------------------------------------ offers */

static void list_offers_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	bool more = false;
	unsigned n = rpc_page_size(call->req->list_offers->limit, PQntuples(res), &more);
	Fairpay__V1__ListOffersResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_offers_response__init(r);
	r->offers = rpc_alloc(call, (n ? n : 1) * sizeof(*r->offers));
	size_t used = 0;
	store_offer o;
	store_offer last = { 0 };
	for (unsigned i = 0; i < n; i++) {
		if (store_read_offer(res, (int)i, &o) != 0) {
			rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "unexpected offer row");
			return;
		}
		r->offers[i] = conv_offer(call, &o);
		if (!rpc_page_fits(call, &used,
				   fairpay__v1__offer__get_packed_size(r->offers[i]))) {
			n = i; /* the rest on the next page */
			more = true;
			break;
		}
		last = o;
	}
	r->n_offers = n;
	r->next_page_token = list_next_token(call, more, 'o', last.created_us, last.id);
	if (r->next_page_token == NULL) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "offer %s makes no page token",
			 last.id);
		return;
	}
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_OFFERS;
	call->resp.list_offers = r;
	rpc_ok(call);
}

void rpc_list_offers(rpc_call *call)
{
	const Fairpay__V1__ListOffersRequest *in = call->req->list_offers;
	const char *status = NULL;
	if (in->status != 0) {
		status = names_known(NAMES_STATUS, in->status);
		if (status == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "status",
				 "status is not a known OfferStatus");
			return;
		}
	}
	list_query q;
	if (list_begin(call, 'o', status, in->customer_id, in->page_token, in->limit, &q) != 0)
		return;
	rpc_query(call, store_sql_list_offers(q.filters), q.nparams, q.params, list_offers_done);
}

/* ------------------------------------------------------------ payments */

static void list_payments_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	bool more = false;
	unsigned n = rpc_page_size(call->req->list_payments->limit, PQntuples(res), &more);
	Fairpay__V1__ListPaymentsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_payments_response__init(r);
	r->payments = rpc_alloc(call, (n ? n : 1) * sizeof(*r->payments));
	size_t used = 0;
	store_payment p;
	int64_t last_us = 0;
	char last_id[STORE_ID_LEN] = "";
	for (unsigned i = 0; i < n; i++) {
		if (store_read_payment(res, (int)i, &p) != 0) {
			rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "unexpected payment row");
			return;
		}
		r->payments[i] = conv_payment(call, &p);
		if (!rpc_page_fits(call, &used,
				   fairpay__v1__payment__get_packed_size(r->payments[i]))) {
			n = i; /* the rest on the next page */
			more = true;
			break;
		}
		last_us = p.created_us;
		snprintf(last_id, sizeof(last_id), "%s", p.id);
	}
	r->n_payments = n;
	r->next_page_token = list_next_token(call, more, 'p', last_us, last_id);
	if (r->next_page_token == NULL) {
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "payment %s makes no page token",
			 last_id);
		return;
	}
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_PAYMENTS;
	call->resp.list_payments = r;
	rpc_ok(call);
}

void rpc_list_payments(rpc_call *call)
{
	const Fairpay__V1__ListPaymentsRequest *in = call->req->list_payments;
	const char *review = NULL;
	if (in->review != 0) {
		review = names_known(NAMES_REVIEW, in->review);
		if (review == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "review",
				 "review is not a known Review");
			return;
		}
	}
	list_query q;
	if (list_begin(call, 'p', review, in->customer_id, in->page_token, in->limit, &q) != 0)
		return;
	rpc_query(call, store_sql_list_payments(q.filters), q.nparams, q.params,
		  list_payments_done);
}
