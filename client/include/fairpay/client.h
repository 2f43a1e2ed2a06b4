/* libfairpay: a small blocking C client for the FairPay protocol.
 *
 * One fp_client is one TLS connection to fairpayd. It verifies the server's
 * certificate and host name against a CA file, frames protobuf messages, and
 * lets the caller either call synchronously or send several requests before
 * reading their replies (pipelining; replies may come back in any order).
 * The library never prints and never exits; every failure is reported through
 * the return value and fp_client_error_*(). Not thread-safe: use one client
 * per thread. A SIGPIPE raised by the library's own socket I/O is discarded,
 * so callers need not ignore SIGPIPE. timeout_ms applies to each frame read
 * or written. */
#ifndef FAIRPAY_CLIENT_H
#define FAIRPAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fairpay.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp_client fp_client;

/* Where an error came from: the server's status, or the local side. */
typedef enum fp_error_kind {
	FP_ERR_NONE = 0,
	FP_ERR_SERVER,   /* the server answered a non-OK status */
	FP_ERR_CONNECT,  /* TCP connect, TLS handshake or verification failed */
	FP_ERR_IO,       /* the connection broke or timed out */
	FP_ERR_PROTOCOL, /* the server sent something that does not decode */
	FP_ERR_USAGE     /* the caller passed something invalid */
} fp_error_kind;

/* The timeout of each read and write when fp_client_options.timeout_ms is 0. */
#define FP_CLIENT_DEFAULT_TIMEOUT_MS 30000

typedef struct fp_client_options {
	const char *ca_file;     /* PEM CA bundle to verify the server; required */
	const char *cert_file;   /* optional client certificate (mutual TLS) */
	const char *key_file;    /* its private key */
	const char *server_name; /* name to verify; default: the host */
	int timeout_ms;          /* per read/write; 0 = FP_CLIENT_DEFAULT_TIMEOUT_MS */
	uint32_t max_frame;      /* largest reply accepted; 0 = 16 MiB */
} fp_client_options;

/* Create an unconnected client. Returns NULL only when out of memory. */
fp_client *fp_client_new(void);

/* Close the connection and free the client. Accepts NULL. */
void fp_client_free(fp_client *c);

/* Connect to host:port ("127.0.0.1", "7443") with TLS and peer verification.
 * Returns 0, or -1 with the error set. */
int fp_client_connect(fp_client *c, const char *host, const char *port,
		      const fp_client_options *opts) __attribute__((warn_unused_result));

/* Connect to "HOST:PORT" (IPv6 as "[::1]:7443"). */
int fp_client_connect_addr(fp_client *c, const char *addr, const fp_client_options *opts)
	__attribute__((warn_unused_result));

/* Authenticate with an API key. On success, *role and (if vendor_id is not
 * NULL) a malloc'ed copy of the vendor id are returned. */
int fp_client_authenticate(fp_client *c, const char *api_key, Fairpay__V1__Role *role,
			   char **vendor_id) __attribute__((warn_unused_result));

/* Send req and wait for its reply. req->id is assigned when it is 0. On
 * success *resp holds a reply whose status is OK (free it with
 * fp_response_free). A non-OK status returns -1 with FP_ERR_SERVER and still
 * stores the reply in *resp when resp is not NULL, so the caller may inspect
 * it. */
int fp_client_call(fp_client *c, Fairpay__V1__Request *req, Fairpay__V1__Response **resp)
	__attribute__((warn_unused_result));

/* Send req without waiting (pipelining). req->id is assigned when it is 0 and
 * is returned in *id_out when id_out is not NULL. */
int fp_client_send(fp_client *c, Fairpay__V1__Request *req, uint64_t *id_out)
	__attribute__((warn_unused_result));

/* Send raw bytes as they are, for tests of the server's protocol checks. */
int fp_client_send_raw(fp_client *c, const void *buf, size_t len)
	__attribute__((warn_unused_result));

/* Read the next reply, whatever its id (replies held back by fp_client_call
 * come first). Any status is returned as 0; only I/O and decode failures are
 * -1. */
int fp_client_recv(fp_client *c, Fairpay__V1__Response **resp) __attribute__((warn_unused_result));

/* Wait up to timeout_ms (0: do not wait) for a reply to read, for callers
 * that pace their requests: 1 when one is held or its bytes have begun to
 * arrive (fp_client_recv will not wait for a reply that was never sent),
 * 0 when none came in time, -1 on failure. */
int fp_client_wait(fp_client *c, int timeout_ms) __attribute__((warn_unused_result));

/* The connection's socket (-1: none), for callers that wait on many
 * connections at once (poll, epoll). A reply may be buffered in the client
 * while the socket is not readable: after reading one, ask
 * fp_client_wait(c, 0) before waiting on the socket again. */
int fp_client_fd(const fp_client *c);

/* Wait for the reply to request id. Replies to other ids are kept for later
 * fp_client_recv calls. Any status is returned as 0. A reply with id 0 (a
 * connection-level protocol error) also ends the wait. */
int fp_client_recv_id(fp_client *c, uint64_t id, Fairpay__V1__Response **resp)
	__attribute__((warn_unused_result));

/* Free a reply. Accepts NULL. */
void fp_response_free(Fairpay__V1__Response *resp);

/* The last error: its kind, the server's status code (Code, or 0), a message
 * for a person and the offending request field (may be ""). */
fp_error_kind fp_client_error_kind(const fp_client *c);
int fp_client_error_code(const fp_client *c);
const char *fp_client_error_message(const fp_client *c);
const char *fp_client_error_field(const fp_client *c);

/* The ALPN protocol the server selected ("" if none). */
const char *fp_client_alpn(const fp_client *c);

/* The name of a status code, e.g. "NOT_FOUND". */
const char *fp_code_name(int code);

#ifdef __cplusplus
}
#endif

#endif /* FAIRPAY_CLIENT_H */
