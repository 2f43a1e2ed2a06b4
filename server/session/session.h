/* session_: between the transport and the calls. It implements the
 * transport's conn_handler: a whole frame is decoded into a Request and
 * dispatched (dispatch.h), a frame that does not decode is answered and the
 * connection closed, a client certificate is looked up when the handshake
 * is done. */
#ifndef FP_SESSION_H
#define FP_SESSION_H

#include "fairpay.pb-c.h"
#include "server.h"

/* The handler the server gives every connection. */
extern const conn_handler session_handler;

#endif
