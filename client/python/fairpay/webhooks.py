"""Verify the signatures of fairpayd's webhooks (Standard Webhooks).

fairpayd signs each delivery with the endpoint's secret, ``whsec_`` and the
base64 of 32 random bytes (shown once by CreateWebhookEndpoint):
``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``
where ``key`` is the decoded secret, ``id`` the ``webhook-id`` header
(``evt_<event id>``) and ``timestamp`` the ``webhook-timestamp`` header (unix
seconds of the attempt). A receiver checks the signature on the body's bytes
exactly as they came, refuses timestamps too far from its clock (replays), and
deduplicates by ``webhook-id`` (delivery is at least once).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional, Union

SECRET_PREFIX = "whsec_"
#: Seconds a timestamp may be away from the receiver's clock, either way.
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(ValueError):
    """A delivery whose headers or signature do not check out."""


def _header(headers: Any, name: str) -> str:
    # http.server's message, a dict, a list of pairs: any case of the name.
    if hasattr(headers, "get"):
        value = headers.get(name)
        if value is None and isinstance(headers, Mapping):
            for k, v in headers.items():
                if k.lower() == name:
                    value = v
                    break
    else:
        value = next((v for k, v in headers if k.lower() == name), None)
    if value is None:
        raise WebhookVerificationError(f"missing header {name}")
    return value


class WebhookVerifier:
    """Check deliveries signed with one endpoint's secret."""

    def __init__(self, secret: str, tolerance: int = DEFAULT_TOLERANCE) -> None:
        raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
        try:
            self._key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("the webhook secret is not whsec_ and base64") from exc
        if not self._key:
            raise ValueError("the webhook secret is empty")
        self.tolerance = tolerance

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """Return the ``v1,...`` signature of a delivery (as the server makes it)."""
        signed = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    def verify(self, body: Union[bytes, str], headers: Any, now: Optional[float] = None) -> Any:
        """Check a delivery; return its JSON body, or raise WebhookVerificationError."""
        if isinstance(body, str):
            body = body.encode()
        msg_id = _header(headers, "webhook-id")
        ts_text = _header(headers, "webhook-timestamp")
        sig_header = _header(headers, "webhook-signature")
        try:
            timestamp = int(ts_text)
        except ValueError:
            raise WebhookVerificationError("webhook-timestamp is not a number") from None
        now = time.time() if now is None else now
        if timestamp < now - self.tolerance:
            raise WebhookVerificationError("webhook-timestamp is too old")
        if timestamp > now + self.tolerance:
            raise WebhookVerificationError("webhook-timestamp is in the future")
        expected = self.sign(msg_id, timestamp, body).encode()
        # The header may carry several space-separated signatures (a secret
        # being rotated); one of ours is enough. Compare in constant time.
        ok = False
        for candidate in sig_header.split():
            if hmac.compare_digest(candidate.encode(), expected):
                ok = True
        if not ok:
            raise WebhookVerificationError("no matching signature")
        try:
            return json.loads(body)
        except ValueError:
            raise WebhookVerificationError("the body is not JSON") from None
