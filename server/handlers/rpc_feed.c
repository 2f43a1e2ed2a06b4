/* ListEvents: the vendor's event feed, gapless, with long polling.
 *
 * A call reads events above its cursor and at most up to the feed's horizon
 * (store/feed.h), below which no transaction can still commit an event; so
 * a cursor never passes an event that commits later. Each call first asks
 * for a horizon fresh from a round that started after it arrived, so that a
 * vendor sees its own committed events at once. With wait_ms and nothing to
 * return, the call parks in the feed (no database connection held) until
 * the horizon passes events of its vendor, or its time is up:
 *
 *   SYNC (fresh horizon) -> QUERY -> answer
 *                             \--> nothing and time left: WAIT -> QUERY ... */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "conv.h"
#include "feed.h"
#include "limit.h"
#include "names.h"
#include "rpc.h"

typedef struct list_events_ctx {
	int64_t horizon;     /* of the query in flight */
	int64_t deadline_ms; /* 0: answer whatever the first query finds */
	char *kinds;         /* a text[] literal of the kinds asked for; NULL: all */
	char after[24], limit[16];
} list_events_ctx;

static void events_query(rpc_call *call);

/* No event to return: the cursor stays where the caller had it. */
static void answer_empty(rpc_call *call)
{
	Fairpay__V1__ListEventsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_events_response__init(r);
	r->next_after_id = call->req->list_events->after_id;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_EVENTS;
	call->resp.list_events = r;
	rpc_ok(call);
}

static void woken(void *arg, bool timed_out, int64_t horizon)
{
	rpc_call *call = arg;
	list_events_ctx *ctx = call->ctx;
	if (timed_out) {
		answer_empty(call);
		return;
	}
	ctx->horizon = horizon;
	events_query(call);
}

static void events_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	list_events_ctx *ctx = call->ctx;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (PQntuples(res) == 0 && ctx->deadline_ms > clock_mono_ms() && !call->srv->stopping) {
		if (feed_wait(call->srv->feed, call->vendor_id, ctx->horizon, ctx->deadline_ms,
			      woken, call) == NULL)
			rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL,
				 "internal error (out of memory)");
		return;
	}
	bool more = false;
	unsigned n = rpc_page_size(call->req->list_events->limit, PQntuples(res), &more);
	Fairpay__V1__ListEventsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_events_response__init(r);
	r->events = conv_event_page(call, res, n, &r->n_events, &more);
	r->next_after_id =
		r->n_events > 0 ? r->events[r->n_events - 1]->id : call->req->list_events->after_id;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_EVENTS;
	call->resp.list_events = r;
	rpc_ok(call);
}

static void events_query(rpc_call *call)
{
	list_events_ctx *ctx = call->ctx;
	char horizon[24];
	snprintf(horizon, sizeof(horizon), "%" PRId64, ctx->horizon);
	const char *params[] = { call->vendor_id, ctx->after, horizon, ctx->kinds, ctx->limit };
	rpc_query(call,
		  "SELECT " CONV_EVENT_COLS " FROM events"
		  " WHERE vendor_id = $1 AND id > $2 AND id <= $3"
		  " AND ($4::text[] IS NULL OR kind = ANY ($4::text[]))"
		  " ORDER BY id LIMIT $5",
		  5, params, events_done);
}

static void synced(void *arg, bool ok, int64_t horizon)
{
	rpc_call *call = arg;
	list_events_ctx *ctx = call->ctx;
	if (!ok) {
		rpc_fail(call, FAIRPAY__V1__CODE__UNAVAILABLE, NULL,
			 "the database is unavailable; try again shortly");
		return;
	}
	ctx->horizon = horizon;
	events_query(call);
}

/* The kinds as a text[] literal ("{A,B}"), or NULL for every kind; -1 with
 * the call failed for an unknown kind. Names are [A-Z_], nothing to quote. */
static int kinds_literal(rpc_call *call, const Fairpay__V1__ListEventsRequest *in, char **out)
{
	*out = NULL;
	if (in->n_kinds == 0)
		return 0;
	size_t size = 3;
	for (size_t i = 0; i < in->n_kinds; i++) {
		const char *name = names_known(NAMES_EVENT, (int)in->kinds[i]);
		if (name == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "kinds",
				 "kinds[%zu] is not an event kind (%d)", i, (int)in->kinds[i]);
			return -1;
		}
		size += strlen(name) + 1;
	}
	char *s = rpc_alloc(call, size);
	size_t used = 0;
	s[used++] = '{';
	for (size_t i = 0; i < in->n_kinds; i++) {
		const char *name = names_known(NAMES_EVENT, (int)in->kinds[i]);
		used += (size_t)snprintf(s + used, size - used, "%s%s", i ? "," : "", name);
	}
	snprintf(s + used, size - used, "}");
	*out = s;
	return 0;
}

void rpc_list_events(rpc_call *call)
{
	const Fairpay__V1__ListEventsRequest *in = call->req->list_events;
	if (in->after_id > (uint64_t)INT64_MAX) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "after_id",
			 "after_id is larger than any event id");
		return;
	}
	if (in->wait_ms > LIMIT_FEED_WAIT_MS) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "wait_ms",
			 "wait_ms is above %d", LIMIT_FEED_WAIT_MS);
		return;
	}
	list_events_ctx *ctx = rpc_alloc(call, sizeof(*ctx));
	call->ctx = ctx;
	if (kinds_literal(call, in, &ctx->kinds) != 0)
		return;
	snprintf(ctx->after, sizeof(ctx->after), "%" PRIu64, in->after_id);
	rpc_page_query_limit(in->limit, ctx->limit, sizeof(ctx->limit));
	rpc_reserve_page(call, in->limit);
	ctx->deadline_ms = in->wait_ms > 0 ? clock_mono_ms() + in->wait_ms : 0;
	if (feed_sync(call->srv->feed, synced, call) != 0)
		rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (out of memory)");
}
