/* attest_: signed reputation attestations (PROTOCOL.md, "Attestations").
 *
 * An attestation is a serialized SignedAttestation { claims, signature }:
 * claims is a serialized AttestationClaims and signature the Ed25519
 * (RFC 8032) signature of ATTEST_CONTEXT, one zero byte, then the claims
 * bytes, so that a signature made for anything else can never pass as
 * one. All the cryptography is OpenSSL 3's EVP; nothing here is
 * home-made.
 *
 * Issuers' private keys are kept sealed: AES-256-GCM under a key-encryption
 * key (KEK) that only the server holds (--attestation-key-file), with the
 * vendor id and key id as associated data, so that a sealed key copied to
 * another vendor's row or key id does not open. Shared by the server and
 * fairpayctl (offline verification). */
#ifndef FP_ATTEST_H
#define FP_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fairpay.pb-c.h"

#define ATTEST_CONTEXT "fairpay-attestation-v1" /* signed before a zero byte and the claims */
#define ATTEST_KEY_BYTES 32                     /* an Ed25519 key, public or private, raw */
#define ATTEST_SIG_BYTES 64                     /* an Ed25519 signature */
#define ATTEST_KEK_BYTES 32                     /* AES-256 */
#define ATTEST_NONCE_BYTES 12
#define ATTEST_TAG_BYTES 16
#define ATTEST_SEALED_BYTES (ATTEST_NONCE_BYTES + ATTEST_KEY_BYTES + ATTEST_TAG_BYTES)
#define ATTEST_KEY_ID_LEN 19 /* "ak_" + 16 hex digits */

/* Make a new key pair (raw bytes). */
int attest_keygen(uint8_t pub[ATTEST_KEY_BYTES], uint8_t priv[ATTEST_KEY_BYTES])
	__attribute__((warn_unused_result));

/* Sign claims (the serialized AttestationClaims) with priv. */
int attest_sign(const uint8_t priv[ATTEST_KEY_BYTES], const uint8_t *claims, size_t len,
		uint8_t sig[ATTEST_SIG_BYTES]) __attribute__((warn_unused_result));

/* Tell whether sig is pub's signature of claims. */
bool attest_verify(const uint8_t pub[ATTEST_KEY_BYTES], const uint8_t *claims, size_t len,
		   const uint8_t *sig, size_t sig_len);

/* Seal a private key under kek for (vendor_id, key_id). */
int attest_seal(const uint8_t kek[ATTEST_KEK_BYTES], const char *vendor_id, const char *key_id,
		const uint8_t priv[ATTEST_KEY_BYTES], uint8_t out[ATTEST_SEALED_BYTES])
	__attribute__((warn_unused_result));

/* Open a sealed private key; -1 when it is not one sealed under kek for
 * exactly (vendor_id, key_id). */
int attest_open(const uint8_t kek[ATTEST_KEK_BYTES], const char *vendor_id, const char *key_id,
		const uint8_t *sealed, size_t len, uint8_t priv[ATTEST_KEY_BYTES])
	__attribute__((warn_unused_result));

/* Read a KEK file: 64 hex digits (e.g. `openssl rand -hex 32`), surrounding
 * white space ignored. On -1, err says why (it never quotes the file). */
int attest_kek_load(const char *path, uint8_t kek[ATTEST_KEK_BYTES], char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The parts of an attestation, each unpacked (attest_parts_free()). */
typedef struct attest_parts {
	Fairpay__V1__SignedAttestation *signed_att;
	Fairpay__V1__AttestationClaims *claims;
} attest_parts;

/* Unpack an attestation and its claims; -1 when the bytes do not decode
 * (INVALID_ARGUMENT): not a SignedAttestation, claims that are not an
 * AttestationClaims, no claims or key_id at all, or a claims string that is
 * not UTF-8. */
int attest_decode(const uint8_t *buf, size_t len, attest_parts *out)
	__attribute__((warn_unused_result));

/* Free what attest_decode() unpacked. Accepts NULL. */
void attest_parts_free(attest_parts *p);

/* Tell whether the decoded attestation's signature is pub's. */
bool attest_parts_verify(const attest_parts *p, const uint8_t pub[ATTEST_KEY_BYTES]);

/* Write len bytes as base64url without padding (RFC 4648, section 5); out
 * needs attest_b64url_len(len) + 1 bytes. */
void attest_b64url_encode(const uint8_t *in, size_t len, char *out);

/* The length of the base64url text of len bytes. */
size_t attest_b64url_len(size_t len);

/* Decode base64url text (padding and surrounding white space tolerated)
 * into out (cap bytes); -1 on a character outside the alphabet, a bad
 * length or too little room. */
int attest_b64url_decode(const char *in, uint8_t *out, size_t cap, size_t *out_len)
	__attribute__((warn_unused_result));

/* Write len bytes as lower-case hex; out needs 2 * len + 1 bytes. */
void attest_hex(const uint8_t *in, size_t len, char *out);

/* Parse exactly 2 * len hex digits (either case) into out; -1 otherwise. */
int attest_unhex(const char *in, uint8_t *out, size_t len) __attribute__((warn_unused_result));

#endif
