#!/usr/bin/env python3
"""Verify a FairPay attestation offline, as a third party would: with the
issuer's public key alone and nothing of fairpay's code (docs/attestations.md).

Usage: verify_attestation.py BASE64URL_TEXT PUBLIC_KEY_HEX

Prints the claims as name=value lines and exits 0 when the signature verifies
and the attestation has not expired; exits 1 otherwise. Only the protobuf
wire format is parsed here (varints and length-delimited fields), so that the
check depends on nothing but the Ed25519 implementation of
python3-cryptography.
"""
import base64
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CONTEXT = b"fairpay-attestation-v1\x00"
# AttestationClaims: field number -> (name, wire type 0 varint / 2 bytes)
CLAIMS = {1: "issuer_vendor_id", 2: "issuer_name", 3: "key_id", 4: "subject",
          5: "score_bp", 6: "tier", 7: "payments", 8: "defaults", 9: "open_defaults",
          10: "issued_at_unix_ms", 11: "expires_at_unix_ms"}


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """Yield (number, value) of a message: ints for varints, bytes for the rest."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
            if len(value) != n:
                raise ValueError("truncated")
        else:
            raise ValueError("unexpected wire type %d" % wire)
        yield number, value


def main():
    text, key_hex = sys.argv[1], sys.argv[2]
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    parts = dict(fields(raw))  # SignedAttestation: 1 claims, 2 signature
    claims, signature = parts.get(1, b""), parts.get(2, b"")
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
    try:
        key.verify(signature, CONTEXT + claims)
    except InvalidSignature:
        print("signature does not verify")
        return 1
    out = {}
    for number, value in fields(claims):
        if number in CLAIMS:
            out[CLAIMS[number]] = value.decode() if isinstance(value, bytes) else value
    for number, name in CLAIMS.items():
        # proto3 leaves out zeros and empty strings
        print("%s=%s" % (name, out.get(name, "" if number <= 4 else 0)))
    if out.get("expires_at_unix_ms", 0) <= int(time.time() * 1000):
        print("expired")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
