"""fairpay: the official Python client of the FairPay protocol.

    import fairpay
    with fairpay.connect("127.0.0.1:7443", api_key=KEY, ca_file="ca.pem") as fp:
        offer = fp.create_offer(customer_id="alice", sku="ebook").offer

``AsyncClient`` is the asyncio client, ``Client`` (and ``connect``) the
blocking one; both have one method per call of proto/fairpay.proto.
``WebhookVerifier`` checks the signatures of webhook deliveries.
"""

from ._pb import pb
from .aio import ALPN, DEFAULT_PORT, AsyncClient, Reply, make_ssl_context, parse_address
from .calls import CALLS, build_message, is_mutating
from .errors import *  # noqa: F401,F403 - the error classes, one per code
from .errors import __all__ as _errors_all
from .sync import Client, connect
from .webhooks import WebhookVerificationError, WebhookVerifier

__version__ = "0.1.0"

__all__ = [
    "pb",
    "ALPN",
    "DEFAULT_PORT",
    "AsyncClient",
    "Client",
    "connect",
    "Reply",
    "CALLS",
    "build_message",
    "is_mutating",
    "make_ssl_context",
    "parse_address",
    "WebhookVerifier",
    "WebhookVerificationError",
] + list(_errors_all)
