/* ctl_attest_: fairpayctl's attestation commands (issue, verify online and
 * offline, rotate-key, issuer-key; docs/attestations.md). Each prints as
 * text or, with --json, as one JSON object. */
#ifndef FP_CTL_ATTEST_H
#define FP_CTL_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_args.h"

/* Read an attestation given as base64url text, or from a file holding the
 * raw bytes or that text, into buf (cap bytes). Returns an exit code (the
 * reason on stderr). */
int ctl_attest_bytes(const char *text, const char *file, uint8_t *buf, size_t cap, size_t *len);

/* Sign a customer's reputation; print the attestation's text (and claims). */
int ctl_attest_issue(const ctl_args *a);

/* Ask the server whether an attestation verifies; print its claims. */
int ctl_attest_verify(const ctl_args *a);

/* Verify an attestation against a public key, without any server. */
int ctl_attest_verify_offline(const ctl_args *a);

/* Retire a vendor's signing key in the database. */
int ctl_attest_rotate_key(const ctl_args *a);

/* Print a vendor's current public key. */
int ctl_attest_issuer_key(const ctl_args *a);

#endif
