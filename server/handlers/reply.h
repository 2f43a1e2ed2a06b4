/* reply_: a Response as the client receives it: packed and handed to the
 * transport as one frame. Used by the session (protocol errors), the calls
 * and the idempotency step (replays). */
#ifndef FP_REPLY_H
#define FP_REPLY_H

#include "fairpay.pb-c.h"
#include "server.h"

/* Queue a reply for the client; dropped when the client is gone. */
void reply_send(conn *c, const Fairpay__V1__Response *resp);

#endif
