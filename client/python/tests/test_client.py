"""The Python client against the real fairpayd and PostgreSQL.

TLS verification, authentication, a FairPay cycle with exact numbers, errors,
pipelining, deadlines, reconnecting (with the same idempotency key), webhook
signatures on real deliveries, the blocking wrapper and the example script.
Run by scripts/run-tests.sh (it gives the environment harness.py reads).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import unittest
import uuid

import harness
from harness import cert

import fairpay
from fairpay import pb

# Fast webhook retries, and a receiver on 127.0.0.1 over plain HTTP.
WEBHOOK_FLAGS = (
    "--webhook-allow-private",
    "--webhook-allow-http",
    "--webhook-retry-base-ms",
    "200",
    "--webhook-retry-max-ms",
    "800",
    "--webhook-poll-ms",
    "50",
)


class Env:
    """The database, server and keys shared by the tests of this file."""

    db = ""
    server: harness.Server
    admin_key = ""
    vendor_key = ""
    vendor_id = ""
    vendor_key_id = ""


def setUpModule() -> None:  # noqa: N802 - unittest's name
    Env.db = harness.db_create("fp_it_python")
    Env.admin_key = harness.bootstrap_admin(Env.db)
    Env.server = harness.Server(Env.db, *WEBHOOK_FLAGS)
    with Env.server.client(api_key=Env.admin_key) as admin:
        made = admin.create_vendor(name="Python Shop")
    Env.vendor_key = made.api_key
    Env.vendor_id = made.vendor.id
    Env.vendor_key_id = made.key_id


def tearDownModule() -> None:  # noqa: N802
    rc = Env.server.stop()
    if rc != 0:
        raise AssertionError(f"fairpayd exited {rc}:\n{Env.server.log()}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def vendor_client(**kwargs: object) -> fairpay.Client:
    return Env.server.client(api_key=Env.vendor_key, **kwargs)


def put_ebook(c: fairpay.Client, sku: str) -> None:
    c.put_product(
        product={
            "sku": sku,
            "name": "A good e-book",
            "currency": "EUR",
            "suggested_price_minor": 1200,
            "list_price_minor": 1500,
        }
    )


class TlsTests(unittest.TestCase):
    def test_verified_connection_speaks_fairpay_1(self) -> None:
        with Env.server.client() as c:
            self.assertEqual(c.alpn, fairpay.ALPN)
            self.assertEqual(c.alpn, "fairpay/1")
            self.assertGreater(c.ping().server_time_unix_ms, 0)

    def test_wrong_ca_refused(self) -> None:
        start = time.monotonic()
        with self.assertRaises(fairpay.ConnectError) as cm:
            Env.server.client(ca_file=cert("other-ca.pem"))
        self.assertFalse(cm.exception.retryable)
        self.assertIn("verif", str(cm.exception))
        # Not retried until the connect timeout: a bad certificate is final.
        self.assertLess(time.monotonic() - start, 5.0)

    def test_system_store_does_not_trust_the_test_ca(self) -> None:
        with self.assertRaises(fairpay.ConnectError):
            fairpay.Client(Env.server.address)

    def test_wrong_host_name_refused(self) -> None:
        with self.assertRaises(fairpay.ConnectError) as cm:
            Env.server.client(server_hostname="wrong.example")
        self.assertIn("wrong.example", str(cm.exception))
        # The certificate names localhost: verifying that name succeeds.
        with Env.server.client(server_hostname="localhost") as c:
            c.ping()

    def test_client_certificate_is_offered(self) -> None:
        # The server has no --client-ca here: the certificate is simply not
        # asked for, and the key still authenticates.
        with vendor_client(client_cert=cert("client.pem"), client_key=cert("client.key")) as c:
            self.assertEqual(c.identity.vendor_id, Env.vendor_id)


class MutualTlsTests(unittest.TestCase):
    def test_registered_client_certificate_authenticates(self) -> None:
        with open(cert("client.pem")) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        server = harness.Server(Env.db, "--client-ca", cert("ca.pem"))
        try:
            with server.client(api_key=Env.admin_key) as admin:
                admin.register_client_cert(key_id=Env.vendor_key_id, cert_sha256=hashlib.sha256(der).hexdigest())
            # No API key: the certificate is the vendor's key.
            with server.client(client_cert=cert("client.pem"), client_key=cert("client.key")) as c:
                self.assertIsNone(c.identity)
                self.assertEqual(c.get_policy().policy.prior_score_bp, 8000)
            # Without it, the same connection is a stranger.
            with server.client() as c:
                with self.assertRaises(fairpay.Unauthenticated):
                    c.get_policy()
            with server.client(api_key=Env.admin_key) as admin:
                admin.register_client_cert(key_id=Env.vendor_key_id, cert_sha256="")
        finally:
            server.stop()


class AuthTests(unittest.TestCase):
    def test_authenticates_with_the_key(self) -> None:
        with vendor_client() as c:
            self.assertEqual(c.identity.role, pb.ROLE_VENDOR)
            self.assertEqual(c.identity.vendor_id, Env.vendor_id)
            self.assertEqual(c.get_reputation(customer_id="nobody").reputation.score_bp, 8000)

    def test_wrong_key_refused(self) -> None:
        with self.assertRaises(fairpay.Unauthenticated) as cm:
            Env.server.client(api_key="fp_0000000000000000_" + "0" * 64)
        e = cm.exception
        self.assertEqual(e.code, 16)
        self.assertEqual(e.code_name, "UNAUTHENTICATED")
        self.assertEqual(e.field, "api_key")
        self.assertEqual(e.message, "invalid API key")

    def test_without_a_key_only_ping(self) -> None:
        with Env.server.client() as c:
            c.ping()
            with self.assertRaises(fairpay.Unauthenticated):
                c.get_policy()
            # Authenticating later: the connection (and its reconnects) use it.
            c.authenticate(api_key=Env.vendor_key)
            self.assertEqual(c.identity.vendor_id, Env.vendor_id)
            self.assertEqual(c.get_policy().policy.alpha_bp, 3000)


class CycleTests(unittest.TestCase):
    def test_fairpay_cycles_with_exact_numbers(self) -> None:
        sku = unique("ebook")
        alice = unique("alice")
        with vendor_client() as c:
            put_ebook(c, sku)
            offer = c.create_offer(customer_id=alice, sku=sku).offer
            self.assertEqual(offer.status, pb.OFFER_STATUS_OPEN)
            self.assertEqual(offer.mode, pb.OFFER_MODE_FAIRPAY)
            self.assertEqual(offer.tier, pb.TIER_PROBATION)
            self.assertEqual(list(offer.reasons), [pb.OFFER_REASON_PROBATION])
            self.assertEqual(offer.suggested_price_minor, 1200)
            self.assertEqual(offer.credit_limit_minor, 2000)
            accepted = c.accept_offer(offer_id=offer.offer_id).offer
            self.assertEqual(accepted.status, pb.OFFER_STATUS_ACCEPTED)
            self.assertGreater(accepted.pay_by_unix_ms, 0)

            # 1500 of 1200: raw 12500, GENEROUS; score 8000 + 4500 * 0.3.
            paid = c.submit_payment(offer_id=offer.offer_id, amount_minor=1500, reasons=["GREAT_VALUE"])
            self.assertEqual(paid.payment.raw_fairness_bp, 12500)
            self.assertEqual(paid.payment.fairness_bp, 12500)
            self.assertEqual(paid.payment.verdict, pb.VERDICT_GENEROUS)
            self.assertEqual(paid.payment.review, pb.REVIEW_NOT_NEEDED)
            self.assertEqual(paid.reputation.score_bp, 9350)
            self.assertEqual(paid.reputation.payments, 1)
            self.assertEqual(paid.reputation.tier, pb.TIER_PROBATION)
            self.assertEqual(paid.reputation.total_paid_minor, 1500)
            self.assertEqual(paid.reputation.total_suggested_minor, 1200)
            self.assertTrue(paid.reputation.explanation)

            # Half the SP with an excusing reason: raw 5000, excused to 8000
            # until reviewed; score 9350 + (8000 - 9350) * 0.3 = 8945.
            second = c.create_offer(customer_id=alice, sku=sku).offer
            c.accept_offer(offer_id=second.offer_id)
            low = c.submit_payment(
                offer_id=second.offer_id, differential_bp=-5000, reasons=["DID_NOT_USE"], note="on holiday"
            )
            self.assertEqual(low.payment.amount_minor, 600)
            self.assertEqual(low.payment.raw_fairness_bp, 5000)
            self.assertEqual(low.payment.fairness_bp, 8000)
            self.assertEqual(low.payment.review, pb.REVIEW_PENDING)
            self.assertEqual(low.payment.verdict, pb.VERDICT_FAIR)
            self.assertEqual(low.reputation.score_bp, 8945)
            queue = c.list_payments(review="PENDING", customer_id=alice).payments
            self.assertEqual([p.payment_id for p in queue], [low.payment.payment_id])

            # Rejecting the excuse: fairness back to raw 5000, LOW; the
            # score is recomputed: 9350 + (5000 - 9350) * 0.3 = 8045.
            reviewed = c.review_payment(payment_id=low.payment.payment_id, accept_reasons=False)
            self.assertEqual(reviewed.payment.review, pb.REVIEW_REJECTED)
            self.assertEqual(reviewed.payment.fairness_bp, 5000)
            self.assertEqual(reviewed.payment.verdict, pb.VERDICT_LOW)
            self.assertEqual(reviewed.reputation.score_bp, 8045)
            self.assertEqual(reviewed.reputation.total_paid_minor, 2100)
            self.assertEqual(c.get_reputation(customer_id=alice).reputation.score_bp, 8045)

            kinds = [e.kind for e in c.list_customer_events(customer_id=alice).events]
            self.assertEqual(kinds.count(pb.EVENT_KIND_PAYMENT_RECEIVED), 2)
            self.assertIn(pb.EVENT_KIND_PAYMENT_REVIEWED, kinds)

    def test_messages_and_dicts_both_build_requests(self) -> None:
        with vendor_client() as c:
            policy = c.put_policy(policy=pb.Policy(late_penalty_bp=2000)).policy
            self.assertEqual(policy.late_penalty_bp, 2000)
            req = pb.GetReputationRequest(customer_id="x")
            self.assertEqual(c.get_reputation(req).reputation.customer_id, "x")
            self.assertEqual(c.get_reputation({"customer_id": "y"}).reputation.customer_id, "y")
            with self.assertRaises(TypeError):
                c.get_reputation(no_such_field=1)


class ErrorTests(unittest.TestCase):
    def test_codes_messages_fields(self) -> None:
        sku = unique("err")
        with vendor_client() as c:
            put_ebook(c, sku)
            with self.assertRaises(fairpay.NotFound) as cm:
                c.get_offer(offer_id="o_00000000000000000000000000000000")
            self.assertEqual((cm.exception.code, cm.exception.code_name), (5, "NOT_FOUND"))

            with self.assertRaises(fairpay.InvalidArgument) as cm:
                c.create_offer(customer_id="", sku=sku)
            self.assertEqual(cm.exception.code, 3)
            self.assertEqual(cm.exception.field, "customer_id")
            self.assertTrue(cm.exception.message)
            self.assertIsInstance(cm.exception, fairpay.Error)
            self.assertIn("INVALID_ARGUMENT (3)", str(cm.exception))
            self.assertIn("customer_id", str(cm.exception))

            offer = c.create_offer(customer_id=unique("bob"), sku=sku).offer
            with self.assertRaises(fairpay.FailedPrecondition) as cm:
                c.submit_payment(offer_id=offer.offer_id, amount_minor=100)
            self.assertEqual(cm.exception.code, pb.FAILED_PRECONDITION)
            self.assertFalse(cm.exception.retryable)

            with self.assertRaises(fairpay.InvalidArgument) as cm:
                c.put_policy(policy={"alpha_bp": 0})
            self.assertEqual(cm.exception.field, "policy.alpha_bp")
            # The connection is still good.
            self.assertEqual(c.connects, 1)
            c.ping()

    def test_request_over_the_frame_limit_is_not_sent(self) -> None:
        # The server would close the connection on it; the client refuses it
        # at once, not retryable, and the connection stays as it was.
        sku = unique("big")
        with vendor_client() as c:
            put_ebook(c, sku)
            offer = c.create_offer(customer_id=unique("cid"), sku=sku).offer
            with self.assertRaises(fairpay.RequestTooLarge) as cm:
                c.submit_payment(offer_id=offer.offer_id, amount_minor=100, note="n" * 70000)
            self.assertFalse(cm.exception.retryable)
            self.assertEqual(cm.exception.code, pb.RESOURCE_EXHAUSTED)
            self.assertIn("65536", cm.exception.message)
            self.assertEqual(c.connects, 1)
            self.assertEqual(c.get_offer(offer_id=offer.offer_id).offer.status, pb.OFFER_STATUS_OPEN)

    def test_every_call_of_the_proto_is_a_method(self) -> None:
        names = [f.name for f in pb.Request.DESCRIPTOR.oneofs_by_name["call"].fields]
        for name in names + ["get_insights", "simulate_policy", "issue_attestation", "verify_attestation"]:
            self.assertTrue(callable(getattr(fairpay.Client, name)), name)
            self.assertTrue(asyncio.iscoroutinefunction(getattr(fairpay.AsyncClient, name)), name)
        # A call this server may not serve yet answers an error (an unknown
        # call is a protocol error that closes the connection), never hangs;
        # the client then reconnects for the next call.
        with vendor_client(timeout=10) as c:
            try:
                got = c.get_insights(sku="")
                self.assertIsInstance(got, pb.GetInsightsResponse)
            except fairpay.Error as e:
                self.assertEqual(e.code, pb.INVALID_ARGUMENT)
            c.ping()

    def test_same_key_replays_different_fields_refused(self) -> None:
        sku = unique("idem")
        key = unique("key")
        cust = unique("carol")
        with vendor_client() as c:
            put_ebook(c, sku)
            first = c.call("create_offer", customer_id=cust, sku=sku, idempotency_key=key)
            self.assertFalse(first.replayed)
            self.assertEqual(first.idempotency_key, key)
            again = c.call("create_offer", customer_id=cust, sku=sku, idempotency_key=key)
            self.assertTrue(again.replayed)
            self.assertEqual(again.response.offer.offer_id, first.response.offer.offer_id)
            with self.assertRaises(fairpay.FailedPrecondition):
                c.call("create_offer", customer_id=unique("dave"), sku=sku, idempotency_key=key)
            # Generated keys differ per call; read-only calls carry none.
            a = c.call("create_offer", customer_id=cust, sku=sku)
            b = c.call("create_offer", customer_id=cust, sku=sku)
            self.assertNotEqual(a.idempotency_key, b.idempotency_key)
            self.assertNotEqual(a.response.offer.offer_id, b.response.offer.offer_id)
            self.assertEqual(c.call("get_offer", offer_id=a.response.offer.offer_id).idempotency_key, "")


class PipelineTests(unittest.TestCase):
    def test_hundred_calls_in_flight_matched_by_id(self) -> None:
        async def run() -> None:
            async with Env.server.async_client(api_key=Env.vendor_key) as c:
                done = []

                async def slow() -> None:
                    # Nothing comes after this id: the server holds the call.
                    r = await c.list_events(after_id=2**62, wait_ms=3000)
                    self.assertEqual(r.next_after_id, 2**62)
                    done.append("slow")

                async def rep(i: int) -> None:
                    r = await c.get_reputation(customer_id=f"pipe-{i}")
                    self.assertEqual(r.reputation.customer_id, f"pipe-{i}")
                    done.append(i)

                slow_task = asyncio.ensure_future(slow())
                await asyncio.sleep(0)  # the slow call goes out first
                await asyncio.gather(slow_task, *(rep(i) for i in range(100)))
                self.assertEqual(len(done), 101)
                # Sent first, answered last: replies came out of order.
                self.assertEqual(done[-1], "slow")
                self.assertEqual(sorted(d for d in done if d != "slow"), list(range(100)))
                self.assertEqual(c.connects, 1)

        asyncio.run(run())


class DeadlineTests(unittest.TestCase):
    def test_deadline_leaves_the_connection_usable(self) -> None:
        with vendor_client() as c:
            start = time.monotonic()
            with self.assertRaises(fairpay.DeadlineExceeded) as cm:
                c.list_events(after_id=2**62, wait_ms=3000, timeout=0.3)
            took = time.monotonic() - start
            self.assertGreaterEqual(took, 0.3)
            self.assertLess(took, 2.0)  # well before the server's answer
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertIsNone(cm.exception.code)
            # The same connection answers at once, the late reply aside.
            self.assertEqual(c.get_reputation(customer_id="dl").reputation.customer_id, "dl")
            # The server answers at last; the reply finds no caller.
            deadline = time.monotonic() + 10
            while c.dropped_replies == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(c.dropped_replies, 1)
            self.assertGreaterEqual(time.monotonic() - start, 2.9)
            self.assertEqual(c.get_reputation(customer_id="dl2").reputation.customer_id, "dl2")
            self.assertEqual(c.connects, 1)


class ReconnectTests(unittest.TestCase):
    """A server of its own on the shared database, killed and started again."""

    def setUp(self) -> None:
        self.server = harness.Server(Env.db)
        self.sku = unique("re")
        with self.server.client(api_key=Env.vendor_key) as c:
            put_ebook(c, self.sku)

    def tearDown(self) -> None:
        self.server.stop(signal.SIGKILL)

    def test_reconnects_and_authenticates_after_a_restart(self) -> None:
        with self.server.client(api_key=Env.vendor_key) as c:
            c.ping()
            self.server.stop(signal.SIGKILL)
            self.server.start()
            # The old connection is dead; the call reconnects and
            # authenticates again (a vendor call would fail otherwise).
            self.assertEqual(c.get_policy().policy.prior_score_bp, 8000)
            self.assertEqual(c.connects, 2)
            self.assertEqual(c.identity.vendor_id, Env.vendor_id)

    def test_call_in_flight_is_retried_once_with_the_same_key(self) -> None:
        cust = unique("erin")
        with self.server.client(api_key=Env.vendor_key, timeout=30) as c:
            c.ping()
            # Frozen, the server takes the request into its socket buffer
            # only; killed, it never runs it. The client's retry (same key)
            # on the restarted server does.
            os.kill(self.server.proc.pid, signal.SIGSTOP)
            fut = c.submit("create_offer", customer_id=cust, sku=self.sku)
            time.sleep(0.3)
            self.assertFalse(fut.done())
            self.server.stop(signal.SIGKILL)
            self.server.start()
            reply = fut.result(30)
            self.assertFalse(reply.replayed)
            self.assertGreaterEqual(c.connects, 2)
            offers = c.list_offers(customer_id=cust).offers
            self.assertEqual([o.offer_id for o in offers], [reply.response.offer.offer_id])

    def test_lost_reply_is_replayed_with_the_same_key(self) -> None:
        proxy = harness.Proxy(self.server.port)
        cust = unique("fred")
        try:
            with fairpay.Client(
                proxy.address, api_key=Env.vendor_key, ca_file=cert("ca.pem"), server_hostname="localhost"
            ) as c:
                c.ping()
                proxy.lose_next_reply()
                reply = c.call("create_offer", customer_id=cust, sku=self.sku)
                self.assertEqual(proxy.lost, 1)
                self.assertEqual(c.connects, 2)
                # The first attempt committed; the retry carried its key.
                self.assertTrue(reply.replayed)
                offers = c.list_offers(customer_id=cust).offers
                self.assertEqual([o.offer_id for o in offers], [reply.response.offer.offer_id])
        finally:
            proxy.close()

    def test_without_retries_calls_in_flight_fail_retryable(self) -> None:
        with self.server.client(api_key=Env.vendor_key, retries=0) as c:
            c.ping()
            os.kill(self.server.proc.pid, signal.SIGSTOP)
            fut = c.submit("ping")
            time.sleep(0.2)
            self.server.stop(signal.SIGKILL)
            with self.assertRaises(fairpay.ConnectionLost) as cm:
                fut.result(10)
            self.assertTrue(cm.exception.retryable)
            self.server.start()
            c.ping()  # a new call connects again


class WebhookTests(unittest.TestCase):
    def test_real_deliveries_verify(self) -> None:
        receiver = harness.Receiver()
        try:
            with vendor_client() as c:
                made = c.create_webhook_endpoint(url=receiver.url, kinds=["OFFER_CREATED"])
                self.assertTrue(made.secret.startswith("whsec_"))
                verifier = fairpay.WebhookVerifier(made.secret)
                sku = unique("hook")
                put_ebook(c, sku)
                cust = unique("gina")
                offer = c.create_offer(customer_id=cust, sku=sku).offer

                headers, body = receiver.wait_for(lambda h, b: cust.encode() in b)
                event = verifier.verify(body, headers)
                self.assertEqual(event["type"], "offer_created")
                self.assertEqual(event["data"]["kind"], "OFFER_CREATED")
                self.assertEqual(event["data"]["offer_id"], offer.offer_id)
                self.assertEqual(headers["webhook-id"], "evt_" + event["data"]["id"])

                # A changed body, another secret, an old timestamp: refused.
                with self.assertRaises(fairpay.WebhookVerificationError):
                    verifier.verify(body.replace(cust.encode(), b"mallory"), headers)
                other = fairpay.WebhookVerifier("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
                with self.assertRaises(fairpay.WebhookVerificationError):
                    other.verify(body, headers)
                ts = int(headers["webhook-timestamp"])
                with self.assertRaisesRegex(fairpay.WebhookVerificationError, "too old"):
                    verifier.verify(body, headers, now=ts + verifier.tolerance + 1)
                old = dict(headers)
                old["webhook-timestamp"] = str(ts - 3600)
                old["webhook-signature"] = verifier.sign(old["webhook-id"], ts - 3600, body)
                with self.assertRaisesRegex(fairpay.WebhookVerificationError, "too old"):
                    verifier.verify(body, old)
                missing = {k: v for k, v in headers.items() if k != "webhook-signature"}
                with self.assertRaises(fairpay.WebhookVerificationError):
                    verifier.verify(body, missing)
                c.delete_webhook_endpoint(endpoint_id=made.endpoint.endpoint_id)
        finally:
            receiver.close()


class SyncWrapperTests(unittest.TestCase):
    def test_connect_threads_and_close(self) -> None:
        c = fairpay.connect(Env.server.address, api_key=Env.vendor_key, ca_file=cert("ca.pem"))
        with c:
            self.assertTrue(c.ping().server_version)
            results = {}

            def worker(i: int) -> None:
                results[i] = c.get_reputation(customer_id=f"thread-{i}").reputation.customer_id

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(results, {i: f"thread-{i}" for i in range(8)})
            # Submitted together, answered by id.
            futs = [c.submit("get_reputation", customer_id=f"sub-{i}") for i in range(20)]
            got = [f.result(10).response.reputation.customer_id for f in futs]
            self.assertEqual(got, [f"sub-{i}" for i in range(20)])
            self.assertEqual(c.connects, 1)
        with self.assertRaises(RuntimeError):
            c.ping()


class ExampleTests(unittest.TestCase):
    def test_checkout_example_end_to_end(self) -> None:
        example = os.path.join(os.path.dirname(harness.HERE), "examples", "checkout.py")
        env = dict(
            os.environ,
            FAIRPAY_SERVER=Env.server.address,
            FAIRPAY_CA=cert("ca.pem"),
            FAIRPAY_API_KEY=Env.vendor_key,
            FAIRPAY_CUSTOMER=unique("hana"),
            PYTHONPATH=os.path.dirname(harness.HERE),
        )
        out = subprocess.run(
            [sys.executable, "-B", example], env=env, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        lines = out.stdout.splitlines()
        self.assertIn("offer: FAIRPAY, suggested 12.00 EUR", lines)
        self.assertIn("paid 9.00 EUR: fairness 8000 bp (raw 7500), verdict FAIR, review PENDING", lines)
        self.assertTrue(any(line.startswith("reputation: score 8000 bp, tier PROBATION") for line in lines), lines)
        hooks = [line for line in lines if line.startswith("webhook (signature verified): ")]
        self.assertTrue(hooks, out.stdout)
        self.assertIn("payment_received", hooks[0])
        event = json.loads(hooks[0].split(": ", 1)[1].split(" ", 1)[1])
        self.assertEqual(event["kind"], "PAYMENT_RECEIVED")


if __name__ == "__main__":
    unittest.main(verbosity=2)
