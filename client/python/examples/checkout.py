#!/usr/bin/env python3
"""A merchant's checkout with FairPay, and the webhook that follows it.

Makes sure the product "ebook" exists, offers it to a customer, accepts the
offer, pays 9.00 of the suggested 12.00 with a reason, prints the customer's
reputation and its explanation, and prints the PAYMENT_RECEIVED webhook that
fairpayd delivers to a small HTTP receiver started here, once its signature
checks out.

Against `make demo` (from the repository root; the demo also generates the
client's fairpay_pb2.py):

    PYTHONPATH=client/python python3 client/python/examples/checkout.py

Environment (defaults fit the demo):
    FAIRPAY_SERVER    HOST:PORT of fairpayd (127.0.0.1:7443)
    FAIRPAY_CA        CA file to verify it ($FAIRPAY_DEMO_DIR/certs/ca.pem)
    FAIRPAY_API_KEY   a VENDOR key (the one in $FAIRPAY_DEMO_DIR/vendor.key)
    FAIRPAY_CUSTOMER  the customer's id (bob)
    FAIRPAY_DEMO_DIR  where `make demo` keeps its files (./.demo)

The receiver listens on 127.0.0.1 over plain HTTP, which fairpayd accepts
only with --webhook-allow-private and --webhook-allow-http (the demo runs
with both); without them the example says so and skips the webhook.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import sys
import threading

import fairpay

SKU = "ebook"
WEBHOOK_WAIT_S = 20.0


def setting(name: str, default: str = "") -> str:
    value = os.environ.get(name, "")
    if value:
        return value
    if not default:
        sys.exit(f"checkout: set {name}")
    return default


def money(minor: int, currency: str) -> str:
    return f"{minor // 100}.{minor % 100:02d} {currency}"


def short(enum_type, value: int) -> str:
    """An enum value's name after its prefix (TIER_PROBATION -> PROBATION)."""
    name = enum_type.Name(value)
    prefix = enum_type.DESCRIPTOR.values[0].name.replace("UNSPECIFIED", "")
    return name[len(prefix) :] if name.startswith(prefix) else name


def start_receiver(events: "queue.Queue[dict]", verifier_box: list) -> http.server.ThreadingHTTPServer:
    """Serve POST /hook on a free port; queue each delivery whose signature verifies."""

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                event = verifier_box[0].verify(body, self.headers)
            except (fairpay.WebhookVerificationError, IndexError) as exc:
                print(f"webhook refused: {exc}", file=sys.stderr)
                self.send_response(400)
            else:
                events.put(event)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main() -> int:
    demo = os.environ.get("FAIRPAY_DEMO_DIR", ".demo")
    server = setting("FAIRPAY_SERVER", "127.0.0.1:7443")
    ca = setting("FAIRPAY_CA", os.path.join(demo, "certs", "ca.pem"))
    key = os.environ.get("FAIRPAY_API_KEY", "")
    if not key and os.path.exists(os.path.join(demo, "vendor.key")):
        with open(os.path.join(demo, "vendor.key")) as f:
            key = f.read().strip()
    if not key:
        sys.exit("checkout: set FAIRPAY_API_KEY to a vendor key")
    customer = setting("FAIRPAY_CUSTOMER", "bob")

    events: "queue.Queue[dict]" = queue.Queue()
    verifier_box: list = []
    httpd = start_receiver(events, verifier_box)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"

    with fairpay.connect(server, api_key=key, ca_file=ca) as fp:
        endpoint = None
        try:
            made = fp.create_webhook_endpoint(url=url, kinds=["PAYMENT_RECEIVED"])
            verifier_box.append(fairpay.WebhookVerifier(made.secret))
            endpoint = made.endpoint.endpoint_id
        except fairpay.InvalidArgument as exc:
            print(f"no webhook: the server refuses {url} ({exc.message}); "
                  "it needs --webhook-allow-private --webhook-allow-http")

        try:
            product = fp.get_product(sku=SKU).product
        except fairpay.NotFound:
            product = fp.put_product(
                product={
                    "sku": SKU,
                    "name": "A good e-book",
                    "currency": "EUR",
                    "suggested_price_minor": 1200,
                    "list_price_minor": 1500,
                }
            ).product
        print(f"product {product.sku}: {product.name}, suggested {money(product.suggested_price_minor, product.currency)}")

        offer = fp.create_offer(customer_id=customer, sku=SKU).offer
        print(f"offer: {short(fairpay.pb.OfferMode, offer.mode)}, "
              f"suggested {money(offer.suggested_price_minor, offer.currency)}")
        offer = fp.accept_offer(offer_id=offer.offer_id).offer

        # The customer pays what she thinks is fair, and says why.
        paid = fp.submit_payment(
            offer_id=offer.offer_id,
            amount_minor=900,
            reasons=["TECHNICAL_PROBLEM"],
            note="the PDF had broken links",
        )
        p = paid.payment
        print(f"paid {money(p.amount_minor, p.currency)}: fairness {p.fairness_bp} bp "
              f"(raw {p.raw_fairness_bp}), verdict {short(fairpay.pb.Verdict, p.verdict)}, "
              f"review {short(fairpay.pb.Review, p.review)}")
        rep = paid.reputation
        print(f"reputation: score {rep.score_bp} bp, tier {short(fairpay.pb.Tier, rep.tier)}, "
              f"{rep.payments} payment(s), credit {money(rep.credit_limit_minor, rep.currency)}")
        for line in rep.explanation:
            print(f"  {line}")

        if endpoint is not None:
            try:
                while True:
                    event = events.get(timeout=WEBHOOK_WAIT_S)
                    if event["data"].get("payment_id") == p.payment_id:
                        break
                print(f"webhook (signature verified): {event['type']} "
                      f"{json.dumps(event['data'], sort_keys=True)}")
            except queue.Empty:
                print(f"no webhook within {WEBHOOK_WAIT_S:.0f} s", file=sys.stderr)
                return 1
            finally:
                fp.delete_webhook_endpoint(endpoint_id=endpoint)
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
