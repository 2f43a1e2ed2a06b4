/* idem_: idempotency keys on mutating calls (PROTOCOL.md).
 *
 * A step of dispatch, not a runner of handlers: idem_begin() looks the key
 * up and either answers from the record (replayed = true, or
 * FAILED_PRECONDITION when the key was used for other fields) or lets the
 * call run. A call that runs writes its record, with its reply, in the same
 * statement as its change (idem_prepare() gives the parts), so the record
 * exists exactly when the change committed: a retry after any crash either
 * finds it or runs the call. Nothing is written before: a server that dies
 * leaves nothing behind but an uncommitted insert, gone with its session.
 *
 * A repeat while the first attempt runs on this server answers ABORTED at
 * once (a set of keys in flight); on another server it waits for that
 * attempt's insert (at most lock_timeout) and then replays it. A request
 * that fails validation, or whose reply only says "try again"
 * (UNAVAILABLE, INTERNAL, ABORTED, RESOURCE_EXHAUSTED), records nothing;
 * a refusal by the rules is recorded like a success. Keys are scoped to the
 * vendor ('' for ADMIN keys) and kept 24 hours; the sweeper removes them
 * after. */
#ifndef FP_IDEM_H
#define FP_IDEM_H

#include <stdbool.h>

#include "rpc.h"
#include "store.h"

/* Look the key up and either run the call's handler or answer from the record. */
void idem_begin(rpc_call *call);

/* Look the key up again after a write found it recorded, and answer from
 * the record. */
void idem_again(rpc_call *call);

/* Fill out with the record of the call's reply as built so far (OK); every
 * member NULL when the call has no key. -1 if the reply cannot be packed. */
int idem_prepare(rpc_call *call, store_idem *out) __attribute__((warn_unused_result));

/* The part of a write statement that records the reply: a WITH item that
 * inserts the record once for the rows `from` returns, with parameters
 * p1-p5 (scope, key, call, request hash, response) as idem_write() passes
 * them. */
#define IDEM_RECORD_CTE(from, p1, p2, p3, p4, p5)                                       \
	" idem AS (INSERT INTO idempotency (vendor_id, key, call, request_hash, state," \
	" response) SELECT " p1 ", " p2 ", " p3 ", " p4 ", 'DONE', " p5 "::bytea"       \
	" WHERE " p2 "::text IS NOT NULL AND EXISTS (SELECT 1 FROM " from "))"

/* Queue a single-statement write whose reply the handler has already put in
 * call->resp: params (nparams of them) are followed by the five of the
 * reply's record, which sql writes with IDEM_RECORD_CTE. cb gets the call.
 * When the write cannot be queued the call is answered with an error. */
void idem_write(rpc_call *call, const char *sql, int nparams, const char *const *params, db_cb cb);

/* In a write's callback: answer from the record when the write failed on
 * the key being recorded already (true: the call is answered), else make
 * sure a refusal that follows is recorded on its own. */
bool idem_write_failed(rpc_call *call, db_status st, const PGresult *res, bool changed);

/* Tell whether a failed write failed on the key already being recorded. */
bool idem_is_conflict(const rpc_call *call, const PGresult *res);

/* Called as the call ends: record a refusal that no write recorded, then
 * send the reply. Returns true when it took over sending. */
bool idem_finish(rpc_call *call);

/* Forget that the call's key is in flight (the call ends). */
void idem_release(rpc_call *call);

#endif
