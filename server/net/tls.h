/* tls_: the server's TLS context.
 *
 * TLS 1.2 and 1.3 only, no compression, no renegotiation, ALPN "fairpay/1".
 * A client that offers ALPN without fairpay/1 is refused at the handshake;
 * one that offers no ALPN is still served, as PROTOCOL.md says. TLS 1.2
 * suites are ECDHE only; session tickets are encrypted under keys that
 * rotate (tls_tickets_init). */
#ifndef FP_TLS_H
#define FP_TLS_H

#include <openssl/ssl.h>

#include "config.h"

#define TLS_ALPN "fairpay/1"

/* Set up the session ticket keys shared by this process and the workers it
 * forks afterwards: keys drawn every rotate_s seconds, the previous one kept
 * for decryption. Contexts built later use them; without this call OpenSSL's
 * own (never rotated) keys apply. 0, or -1 when out of memory. */
int tls_tickets_init(int64_t rotate_s) __attribute__((warn_unused_result));

/* Build a server context from the certificate, key and optional client CA. */
SSL_CTX *tls_ctx_new(const fp_config *cfg, char *err, size_t errlen);

/* Free a context. Accepts NULL. */
void tls_ctx_free(SSL_CTX *ctx);

/* Put the OpenSSL error queue into buf and clear it. */
void tls_drain_errors(char *buf, size_t len);

#endif
