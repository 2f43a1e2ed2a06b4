/* dispatch_: one decoded request to its handler, the session layer's entry.
 *
 * dispatch_request() checks the envelope, the authentication gate and the
 * role from a table with one row per call, then every string field of the
 * request (wirestr.h), takes the idempotency step (idem.h) for a keyed
 * mutating call, then runs the call's handler. The
 * transport (conn) hands it whole decoded requests and knows nothing of
 * calls. */
#ifndef FP_DISPATCH_H
#define FP_DISPATCH_H

#include "fairpay.pb-c.h"
#include "server.h"

/* Run one decoded request, body[0..len) the bytes it was decoded from (its
 * string fields are checked there); takes ownership of req. */
void dispatch_request(conn *c, Fairpay__V1__Request *req, const uint8_t *body, size_t len);

/* The name of the call with this number (the request's call field), as the
 * route table has it; NULL when no route serves it. */
const char *dispatch_call_name(unsigned call_case);

/* The name of a status code (fairpay.v1.Code: "OK", "NOT_FOUND", ...);
 * NULL when it has none. */
const char *dispatch_code_name(unsigned code);

#endif
