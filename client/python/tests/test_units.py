"""The Python client's pure parts: the call table, request building, errors,
addresses and the webhook verifier (no server needed)."""

from __future__ import annotations

import time
import unittest

import harness  # noqa: F401 - puts the package on sys.path

import fairpay
from fairpay import pb

# PROTOCOL.md, "Mutating calls": every call but Ping, Get*, List*,
# VerifyAttestation and SimulatePolicy (Authenticate is no data call).
PROTOCOL_MUTATING = {
    "create_vendor",
    "create_api_key",
    "revoke_api_key",
    "register_client_cert",
    "put_product",
    "put_policy",
    "create_offer",
    "accept_offer",
    "decline_offer",
    "submit_payment",
    "review_payment",
    "create_webhook_endpoint",
    "delete_webhook_endpoint",
    "issue_attestation",
}

# The test vector of the Standard Webhooks specification's reference
# libraries (standard-webhooks/standard-webhooks, libraries/*/ tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


class CallTableTests(unittest.TestCase):
    def test_mutating_calls_follow_the_protocol_rule(self) -> None:
        got = {name for name, c in fairpay.CALLS.items() if c.mutating}
        self.assertEqual(got, PROTOCOL_MUTATING)
        self.assertFalse(fairpay.is_mutating("GetInsights"))
        self.assertFalse(fairpay.is_mutating("ListWebhookDeliveries"))
        self.assertTrue(fairpay.is_mutating("IssueAttestation"))

    def test_one_call_per_request_field(self) -> None:
        fields = pb.Request.DESCRIPTOR.oneofs_by_name["call"].fields
        self.assertEqual(set(fairpay.CALLS), {f.name for f in fields})
        c = fairpay.CALLS["submit_payment"]
        self.assertEqual(c.name, "SubmitPayment")
        self.assertIs(c.request_class, pb.SubmitPaymentRequest)
        self.assertIs(c.response_class, pb.SubmitPaymentResponse)

    def test_build_message_enums_dicts_repeated(self) -> None:
        for value in ("STANDARD", "TIER_STANDARD", pb.TIER_STANDARD):
            m = fairpay.build_message(pb.PutProductRequest, {"product": {"sku": "a", "min_tier": value}})
            self.assertEqual(m.product.min_tier, pb.TIER_STANDARD)
        m = fairpay.build_message(
            pb.PutPolicyRequest,
            {"policy": {"alpha_bp": 0, "excusing_reasons": ["DID_NOT_USE", "OTHER"]}, "set_excusing_reasons": True},
        )
        self.assertTrue(m.policy.HasField("alpha_bp"))  # an optional 0 is sent
        self.assertFalse(m.policy.HasField("fair_score_bp"))
        self.assertEqual(list(m.policy.excusing_reasons), [pb.PAYMENT_REASON_DID_NOT_USE, pb.PAYMENT_REASON_OTHER])
        m = fairpay.build_message(pb.SubmitPaymentRequest, {"offer_id": "o", "amount_minor": 0})
        self.assertEqual(m.WhichOneof("amount"), "amount_minor")
        m = fairpay.build_message(pb.CreateOfferRequest, {"customer_id": "c", "overrides": None})
        self.assertFalse(m.HasField("overrides"))
        with self.assertRaises(ValueError):
            fairpay.build_message(pb.PutProductRequest, {"product": {"min_tier": "GOLD"}})
        with self.assertRaises(TypeError):
            fairpay.build_message(pb.PutProductRequest, {"product": {"colour": "red"}})


class ErrorTableTests(unittest.TestCase):
    def test_one_class_per_code(self) -> None:
        for value in pb.Code.DESCRIPTOR.values:
            if value.number == 0:
                continue
            err = fairpay.error_for_status(pb.Status(code=value.number, message="m", field="f"), replayed=True)
            self.assertEqual(err.code, value.number)
            self.assertEqual(err.code_name, value.name)
            self.assertEqual((err.message, err.field, err.replayed), ("m", "f", True))
            self.assertIsInstance(err, fairpay.Error)
        self.assertIsInstance(fairpay.error_for_status(pb.Status(code=pb.NOT_FOUND)), fairpay.NotFound)
        self.assertTrue(fairpay.Unavailable.retryable)
        self.assertTrue(fairpay.Aborted.retryable)
        self.assertFalse(fairpay.InvalidArgument.retryable)

    def test_addresses(self) -> None:
        self.assertEqual(fairpay.parse_address("[::1]:7000"), ("::1", 7000))
        self.assertEqual(fairpay.parse_address("example.com"), ("example.com", 7443))
        self.assertEqual(fairpay.parse_address("127.0.0.1:81"), ("127.0.0.1", 81))

    def test_refused_connection_is_retried_then_reported(self) -> None:
        port = harness.free_port()
        start = time.monotonic()
        with self.assertRaises(fairpay.ConnectError) as cm:
            fairpay.Client(f"127.0.0.1:{port}", connect_timeout=0.5)
        took = time.monotonic() - start
        self.assertTrue(cm.exception.retryable)
        self.assertGreater(took, 0.2)  # attempts with backoff in between
        self.assertLess(took, 2.0)


class VerifierTests(unittest.TestCase):
    def test_the_specification_vector(self) -> None:
        v = fairpay.WebhookVerifier(SPEC_SECRET)
        self.assertEqual(v.sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG)
        headers = {"Webhook-Id": SPEC_ID, "Webhook-Timestamp": str(SPEC_TS), "Webhook-Signature": SPEC_SIG}
        self.assertEqual(v.verify(SPEC_BODY, headers, now=SPEC_TS + 10), {"test": 2432232314})
        # Several signatures (a secret being rotated): one match is enough.
        headers["Webhook-Signature"] = "v1,bm90IGl0 " + SPEC_SIG
        self.assertEqual(v.verify(SPEC_BODY.decode(), headers, now=SPEC_TS), {"test": 2432232314})
        # The secret without its prefix is the same key.
        self.assertEqual(fairpay.WebhookVerifier(SPEC_SECRET[6:]).sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG)

    def test_refusals(self) -> None:
        v = fairpay.WebhookVerifier(SPEC_SECRET, tolerance=60)
        good = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIG}
        cases = [
            (SPEC_BODY + b" ", good, SPEC_TS, "no matching signature"),
            (SPEC_BODY, good, SPEC_TS + 61, "too old"),
            (SPEC_BODY, good, SPEC_TS - 61, "in the future"),
            (SPEC_BODY, dict(good, **{"webhook-id": "msg_other"}), SPEC_TS, "no matching signature"),
            (SPEC_BODY, dict(good, **{"webhook-signature": "v2," + SPEC_SIG[3:]}), SPEC_TS, "no matching"),
            (SPEC_BODY, dict(good, **{"webhook-timestamp": "soon"}), SPEC_TS, "not a number"),
            (SPEC_BODY, {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS)}, SPEC_TS, "missing header"),
        ]
        for body, headers, now, why in cases:
            with self.subTest(why=why):
                with self.assertRaisesRegex(fairpay.WebhookVerificationError, why):
                    v.verify(body, headers, now=now)
        with self.assertRaises(ValueError):
            fairpay.WebhookVerifier("whsec_not base64!")


if __name__ == "__main__":
    unittest.main(verbosity=2)
