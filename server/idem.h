/* idem_: idempotency keys on mutating calls (PROTOCOL.md).
 *
 * The first request under a key records IN_FLIGHT, runs, and records its
 * reply (DONE) before the reply is sent. A repeat with the same call and
 * fields gets that reply again with replayed = true; different fields get
 * FAILED_PRECONDITION; a repeat while the first still runs gets ABORTED. A
 * reply that only says "try again" (UNAVAILABLE, INTERNAL, ABORTED) is not
 * kept: the record is dropped so that the retry runs. An IN_FLIGHT record
 * older than a minute belonged to a server that died mid-call and may be
 * taken over. Keys are scoped to the vendor ('' for ADMIN keys) and kept
 * 24 hours; the sweeper removes them after. */
#ifndef FP_IDEM_H
#define FP_IDEM_H

#include "rpc.h"

/* Look the key up and either run the call's handler or answer from the record. */
void idem_begin(rpc_call *call);

/* Record the call's reply (or drop the record), then send it. */
void idem_finish(rpc_call *call);

#endif
