/* ctl_cert_: client certificate fingerprints for `key register-cert`: the
 * SHA-256 of a certificate's DER, as the server matches it at the TLS
 * handshake, and the normalisation of one typed by hand. */
#ifndef FP_CTL_CERT_H
#define FP_CTL_CERT_H

#include <stddef.h>

/* Hex digits of a SHA-256 fingerprint. */
#define CTL_CERT_SHA256_HEX 64

/* Compute the lower-case hex SHA-256 of the DER of the first certificate in
 * the PEM file path. Returns 0, or -1 with a message for a person in err. */
int ctl_cert_fingerprint(const char *path, char out[CTL_CERT_SHA256_HEX + 1], char *err,
			 size_t err_size) __attribute__((warn_unused_result));

/* Normalise a fingerprint typed by hand: 64 hex digits in either case, with
 * or without ':' between the bytes (as `openssl x509 -fingerprint -sha256`
 * prints it), become 64 lower-case digits; "" stays "" (no certificate).
 * Returns -1 for anything else. */
int ctl_cert_parse_hex(const char *in, char out[CTL_CERT_SHA256_HEX + 1])
	__attribute__((warn_unused_result));

#endif
