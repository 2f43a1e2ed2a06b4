/* A call's memory, its replies and its database errors (see rpc.h). */
#include "rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "key.h"
#include "limit.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"

struct rpc_mem {
	rpc_mem *next;
	max_align_t data[];
};

void rpc_new_id(char *out, size_t size, const char *prefix)
{
	size_t plen = strlen(prefix);
	if (size < plen + 17 || key_random_hex(out + plen, 8) != 0) {
		/* Without randomness no id is safe to hand out. */
		log_error(0, "no random bytes for a new id");
		abort();
	}
	memcpy(out, prefix, plen);
}

unsigned rpc_list_limit(uint32_t limit)
{
	if (limit == 0)
		return LIMIT_LIST_DEFAULT;
	return limit > LIMIT_LIST_MAX ? LIMIT_LIST_MAX : limit;
}

void rpc_page_query_limit(uint32_t limit, char *buf, size_t len)
{
	snprintf(buf, len, "%u", rpc_list_limit(limit) + 1);
}

unsigned rpc_page_size(uint32_t limit, int rows, bool *more)
{
	unsigned page = rpc_list_limit(limit);
	*more = (unsigned)rows > page;
	return *more ? page : (unsigned)rows;
}

void *rpc_alloc(rpc_call *call, size_t size)
{
	rpc_mem *m = calloc(1, sizeof(*m) + size);
	if (m == NULL) {
		/* The reply cannot be built either; there is no sane way on
		 * for this process. */
		log_error(call->conn_id, "out of memory");
		abort();
	}
	m->next = call->mem;
	call->mem = m;
	return m->data;
}

char *rpc_strdup(rpc_call *call, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = rpc_alloc(call, len);
	memcpy(p, s, len);
	return p;
}

static void call_free(rpc_call *call)
{
	rpc_mem *m = call->mem;
	while (m != NULL) {
		rpc_mem *next = m->next;
		free(m);
		m = next;
	}
	fairpay__v1__request__free_unpacked(call->req, NULL);
	free(call);
}

void rpc_release(rpc_call *call)
{
	conn *c = call->conn;
	/* A replayed reply carries the recorded status, not call->status. */
	const Fairpay__V1__Status *st = call->resp.status ? call->resp.status : &call->status;
	metrics_call(call->route ? (unsigned)call->req->call_case : 0, (unsigned)st->code,
		     clock_mono_ns() - call->started_ns);
	if (call->release_hook != NULL)
		call->release_hook(call);
	if (call->close_after && conn_alive(c))
		conn_close_after_flush(c);
	/* The reply is in the output buffer, counted there now. */
	conn_release(c, call->reserved);
	conn_call_done(c);
	conn_unref(c);
	call_free(call);
}

void rpc_send(rpc_call *call)
{
	reply_send(call->conn, &call->resp);
	rpc_release(call);
}

/* The structured fields of a line about call (see log.h). */
static log_fields call_fields(const rpc_call *call)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		&fairpay__v1__code__descriptor, call->status.code);
	log_fields f = { call->route ? call->route->name : "?", v ? v->name : "?",
			 (clock_mono_ns() - call->started_ns) / 1000, call->vendor_id };
	return f;
}

static void call_end(rpc_call *call)
{
	if (log_enabled(LOG_DEBUG)) {
		log_fields f = call_fields(call);
		log_call(LOG_DEBUG, call->conn_id, &f, "%s id=%llu done", f.call,
			 (unsigned long long)call->req->id);
	}
	call->resp.id = call->req->id;
	call->resp.status = &call->status;
	if (call->status.message == NULL)
		call->status.message = "";
	if (call->status.field == NULL)
		call->status.field = "";
	/* With an idempotency key the reply goes out only once it is
	 * recorded, so that a retry finds it. */
	if (call->end_hook != NULL && call->end_hook(call))
		return;
	rpc_send(call);
}

void rpc_ok(rpc_call *call)
{
	call->status.code = FAIRPAY__V1__CODE__OK;
	call_end(call);
}

void rpc_fail(rpc_call *call, int code, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* An error carries no result, whatever the handler had built. */
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
	call->status.code = code;
	call->status.message = rpc_strdup(call, msg);
	call->status.field = field ? rpc_strdup(call, field) : "";
	if (log_enabled(LOG_DEBUG)) {
		/* The message may quote the request. */
		char m[LOG_ESCAPE_SIZE], fe[LOG_ESCAPE_SIZE];
		log_fields f = call_fields(call);
		log_call(LOG_DEBUG, call->conn_id, &f, "%s id=%llu: %s (%s)", f.call,
			 (unsigned long long)call->req->id, log_escape(m, msg),
			 log_escape(fe, field));
	}
	call_end(call);
}

/* SQLSTATEs that say "try again" rather than "broken", and the status each
 * one means; the rules refuse in C, never in SQL. */
static const struct {
	const char *sqlstate;
	int code;
} sql_codes[] = {
	{ "40001", FAIRPAY__V1__CODE__ABORTED },     /* serialization failure */
	{ "40P01", FAIRPAY__V1__CODE__ABORTED },     /* deadlock detected */
	{ "55P03", FAIRPAY__V1__CODE__ABORTED },     /* lock_timeout: another call holds the row */
	{ "57014", FAIRPAY__V1__CODE__UNAVAILABLE }, /* statement_timeout */
};

void rpc_fail_db(rpc_call *call, db_status st, PGresult *res)
{
	if (st == DB_UNAVAILABLE) {
		rpc_fail(call, FAIRPAY__V1__CODE__UNAVAILABLE, NULL,
			 "the database is unavailable; try again shortly");
		return;
	}
	if (st == DB_UNCONFIRMED) {
		/* Committed on the primary only: not the durability promised,
		 * so not an answer; the retry under the same key replays it
		 * once a standby holds it. */
		rpc_fail(call, FAIRPAY__V1__CODE__UNAVAILABLE, NULL,
			 "the synchronous standby did not confirm the change; try again (with the "
			 "same idempotency key) shortly");
		return;
	}
	const char *state = db_sqlstate(res);
	for (size_t i = 0; i < sizeof(sql_codes) / sizeof(sql_codes[0]); i++) {
		if (strcmp(state, sql_codes[i].sqlstate) != 0)
			continue;
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *field = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
		if (sql_codes[i].code == FAIRPAY__V1__CODE__ABORTED)
			msg = "the request conflicted with another one; try again";
		rpc_fail(call, sql_codes[i].code, field, "%s", msg ? msg : "refused");
		return;
	}
	/* PostgreSQL's text may echo the request's values, over several lines. */
	char e[LOG_ESCAPE_SIZE];
	call->status.code = FAIRPAY__V1__CODE__INTERNAL;
	log_fields f = call_fields(call);
	log_call(LOG_ERROR, call->conn_id, &f, "%s: database error %s: %s", call->route->name,
		 db_sqlstate(res), log_escape(e, res ? PQresultErrorMessage(res) : "no result"));
	rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error");
}

const char *rpc_tenant(const rpc_call *call)
{
	if (call->vendor_id[0] != '\0')
		return call->vendor_id;
	/* ADMIN keys share one queue, and so do clients not yet known. */
	return call->role == ROLE_ADMIN_KEY ? "admin" : "-";
}

int rpc_query(rpc_call *call, const char *sql, int nparams, const char *const *params, db_cb cb)
{
	if (db_query_for(call->srv->db, rpc_tenant(call), sql, nparams, params, cb, call) == 0)
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INTERNAL, NULL, "internal error (out of memory)");
	return -1;
}

void rpc_reserve_page(rpc_call *call, uint32_t limit)
{
	size_t want = (size_t)rpc_list_limit(limit) * LIMIT_LIST_ROW_BYTES;
	call->page_budget = want < LIMIT_LIST_REPLY_BYTES ? want : LIMIT_LIST_REPLY_BYTES;
	call->reserved += call->page_budget;
	conn_reserve(call->conn, call->page_budget);
}

bool rpc_page_fits(rpc_call *call, size_t *used, size_t row_bytes)
{
	/* A row's tag and length prefix: at most 1 + 5 bytes. */
	size_t next = *used + row_bytes + 6;
	if (*used != 0 && next > call->page_budget)
		return false;
	*used = next;
	return true;
}

rpc_call *rpc_call_new(conn *c, Fairpay__V1__Request *req, size_t frame_len)
{
	rpc_call *call = calloc(1, sizeof(*call));
	if (call == NULL) {
		log_error(c->id, "out of memory");
		abort();
	}
	call->started_ns = clock_mono_ns();
	conn_ref(c);
	call->conn = c;
	call->srv = c->srv;
	call->conn_id = c->id;
	call->req = req;
	fairpay__v1__response__init(&call->resp);
	fairpay__v1__status__init(&call->status);
	call->role = c->role;
	snprintf(call->vendor_id, sizeof(call->vendor_id), "%s", c->vendor_id);
	snprintf(call->key_id, sizeof(call->key_id), "%s", c->key_id);
	call->reserved = frame_len + LIMIT_CALL_BYTES;
	conn_reserve(c, call->reserved);
	return call;
}
