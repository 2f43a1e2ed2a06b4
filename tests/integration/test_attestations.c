/* Integration tests of signed reputation attestations (PROTOCOL.md,
 * "Attestations" and rule 14): an attestation issued at vendor A seeds a new
 * customer at vendor B (score capped at B's cap, probation shortened, a
 * REPUTATION_SEEDED event naming A), verifies offline from the public key
 * alone (fairpayctl --offline, and a Python script using nothing of ours),
 * and fails in every way PROTOCOL.md lists; the signing key rotates without
 * breaking what it signed; and no private key material ever leaves the
 * server in a reply, an event or a log line. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest.h"
#include "harness.h"
#include "limit.h"

static struct {
	h_world w;      /* db, admin_key, srv, admin */
	char *kek_path; /* the server's --attestation-key-file */
	uint8_t kek[ATTEST_KEK_BYTES];
	fp_client *a, *b; /* vendors A (issuer) and B (relying) */
	char *a_id, *b_id, *a_key, *b_key;
	int sku_n;
} T;

#define SUBJECT "alice@example.com"

static int setup(void **state)
{
	T.kek_path = h_path(h_tmp_dir(), "attest-kek.hex");
	/* A fixed key-encryption key, so that the test can open what the
	 * server sealed and look for it where it must never be. */
	char hex[2 * ATTEST_KEK_BYTES + 1];
	for (size_t i = 0; i < ATTEST_KEK_BYTES; i++)
		T.kek[i] = (uint8_t)(0xa0 + i);
	attest_hex(T.kek, sizeof(T.kek), hex);
	FILE *f = fopen(T.kek_path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", hex);
	fclose(f);
	h_world_start(&T.w, "fp_it_attest", "--attestation-key-file", T.kek_path, NULL);
	T.a = h_vendor_client(T.w.srv, T.w.admin, "Issuer A", &T.a_id, &T.a_key);
	T.b = h_vendor_client(T.w.srv, T.w.admin, "Relying B", &T.b_id, &T.b_key);
	h_product(T.a, "sku", 1000, 1500);
	h_product(T.b, "sku", 1000, 1500);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.a);
	fp_client_free(T.b);
	free(T.a_id);
	free(T.b_id);
	free(T.a_key);
	free(T.b_key);
	free(T.kek_path);
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

/* h_vcall for the attestation calls (and CreateOffer): the request's call
 * is set from msg, and an OK reply must carry the call's result. */
static int acall(fp_client *c, Fairpay__V1__Request__CallCase cc, void *msg, const char *idem,
		 Fairpay__V1__Response **resp)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = cc;
	req.idempotency_key = (char *)(idem != NULL ? idem : "");
	switch (cc) {
	case FAIRPAY__V1__REQUEST__CALL_ISSUE_ATTESTATION:
		req.issue_attestation = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_VERIFY_ATTESTATION:
		req.verify_attestation = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_ISSUER_KEY:
		req.get_issuer_key = msg;
		break;
	default:
		return h_vcall(c, cc, msg, idem, resp);
	}
	Fairpay__V1__Response *r = NULL;
	int code = h_call(c, &req, &r);
	if (code == H_OK && (int)r->result_case != (int)cc)
		fail_msg("call %d answered OK with result %d", (int)cc, (int)r->result_case);
	if (resp != NULL)
		*resp = r;
	else
		fp_response_free(r);
	return code;
}

static void set_policy(fp_client *c, int32_t cap, int32_t probation)
{
	Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&p, attestation_cap_bp, ATTESTATION_CAP_BP, cap);
	H_POLICY_SET(&p, probation_payments, PROBATION_PAYMENTS, probation);
	Fairpay__V1__Response *r = NULL;
	h_must(h_put_policy(c, &p, false, &r), "PutPolicy");
	assert_int_equal(r->put_policy->policy->attestation_cap_bp, cap);
	fp_response_free(r);
}

/* IssueAttestation; returns the reply (OK) or NULL with *code set. */
static int issue(fp_client *c, const char *customer, const char *subject, int64_t ttl,
		 const char *idem, Fairpay__V1__Response **resp)
{
	Fairpay__V1__IssueAttestationRequest m = FAIRPAY__V1__ISSUE_ATTESTATION_REQUEST__INIT;
	m.customer_id = (char *)customer;
	m.subject = (char *)subject;
	m.ttl_seconds = ttl;
	return acall(c, FAIRPAY__V1__REQUEST__CALL_ISSUE_ATTESTATION, &m, idem, resp);
}

/* The attestation bytes of an OK IssueAttestation, malloc'ed. */
static uint8_t *issue_ok(fp_client *c, const char *customer, size_t *len)
{
	Fairpay__V1__Response *r = NULL;
	h_assert_code(issue(c, customer, SUBJECT, 0, NULL, &r), H_OK);
	*len = r->issue_attestation->attestation.len;
	uint8_t *out = malloc(*len);
	assert_non_null(out);
	memcpy(out, r->issue_attestation->attestation.data, *len);
	fp_response_free(r);
	return out;
}

static int create_attested(fp_client *c, const char *customer, const uint8_t *att, size_t len,
			   const char *subject, Fairpay__V1__Response **resp)
{
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = (char *)customer;
	m.sku = "sku";
	m.attestation.data = (uint8_t *)att;
	m.attestation.len = len;
	m.attestation_subject = (char *)subject;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, NULL, resp);
}

static int verify_call(fp_client *c, const uint8_t *att, size_t len, Fairpay__V1__Response **resp)
{
	Fairpay__V1__VerifyAttestationRequest m = FAIRPAY__V1__VERIFY_ATTESTATION_REQUEST__INIT;
	m.attestation.data = (uint8_t *)att;
	m.attestation.len = len;
	return acall(c, FAIRPAY__V1__REQUEST__CALL_VERIFY_ATTESTATION, &m, NULL, resp);
}

static Fairpay__V1__Response *issuer_key(fp_client *c, const char *vendor)
{
	Fairpay__V1__GetIssuerKeyRequest m = FAIRPAY__V1__GET_ISSUER_KEY_REQUEST__INIT;
	m.vendor_id = (char *)vendor;
	Fairpay__V1__Response *r = NULL;
	h_assert_code(acall(c, FAIRPAY__V1__REQUEST__CALL_GET_ISSUER_KEY, &m, NULL, &r), H_OK);
	assert_int_equal(r->get_issuer_key->public_key.len, ATTEST_KEY_BYTES);
	return r;
}

/* Events of kind for a customer at vendor c. */
static size_t count_kind(fp_client *c, const char *customer, int kind, char *detail,
			 size_t detail_len)
{
	Fairpay__V1__Response *r = NULL;
	h_must(h_list_events(c, customer, 0, 0, &r), "ListCustomerEvents");
	size_t n = 0;
	for (size_t i = 0; i < r->list_customer_events->n_events; i++) {
		const Fairpay__V1__Event *e = r->list_customer_events->events[i];
		if ((int)e->kind != kind)
			continue;
		n++;
		if (detail != NULL)
			snprintf(detail, detail_len, "%s", e->detail);
	}
	fp_response_free(r);
	return n;
}

/* A customer of A with three generous payments: score 8000 -> 10100 ->
 * 11570 -> 12599 under the default alpha (rule 7, fairness capped at 15000). */
static void history_at_a(const char *customer)
{
	for (int i = 0; i < 3; i++)
		fp_response_free(h_cycle(T.a, customer, "sku", 1500));
}

/* Wall-clock milliseconds (attestations carry wall time; wall_ms() is
 * monotonic). */
static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *b64(const uint8_t *att, size_t len)
{
	char *text = malloc(attest_b64url_len(len) + 1);
	assert_non_null(text);
	attest_b64url_encode(att, len, text);
	return text;
}

static char *hex_of(const uint8_t *b, size_t len)
{
	char *h = malloc(2 * len + 1);
	assert_non_null(h);
	attest_hex(b, len, h);
	return h;
}

/* Sign claims with priv into a SignedAttestation (malloc'ed). */
static uint8_t *craft(const Fairpay__V1__AttestationClaims *c, const uint8_t *priv, size_t *len)
{
	size_t cl = fairpay__v1__attestation_claims__get_packed_size(c);
	uint8_t *claims = malloc(cl + 1), sig[ATTEST_SIG_BYTES];
	assert_non_null(claims);
	fairpay__v1__attestation_claims__pack(c, claims);
	assert_int_equal(attest_sign(priv, claims, cl, sig), 0);
	Fairpay__V1__SignedAttestation s = FAIRPAY__V1__SIGNED_ATTESTATION__INIT;
	s.claims.data = claims;
	s.claims.len = cl;
	s.signature.data = sig;
	s.signature.len = sizeof(sig);
	*len = fairpay__v1__signed_attestation__get_packed_size(&s);
	uint8_t *out = malloc(*len);
	assert_non_null(out);
	fairpay__v1__signed_attestation__pack(&s, out);
	free(claims);
	return out;
}

/* ---------------------------------------------------------------- seeding */

static void test_seed_at_another_vendor(void **state)
{
	history_at_a("alice");
	Fairpay__V1__Response *r = h_reputation(T.a, "alice");
	int32_t a_score = r->get_reputation->reputation->score_bp;
	assert_int_equal(a_score, 12599);
	fp_response_free(r);

	/* B caps at 9000 and needs 4 payments of probation. */
	set_policy(T.b, 9000, 4);
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "alice", &len);
	h_assert_code(create_attested(T.b, "alice-at-b", att, len, SUBJECT, &r), H_OK);
	const Fairpay__V1__Offer *o = r->create_offer->offer;
	/* payments 0 + attested 3 < 4: still on probation. */
	assert_int_equal(o->tier, H_TIER(PROBATION));
	fp_response_free(r);

	r = h_reputation(T.b, "alice-at-b");
	const Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	assert_int_equal(rep->score_bp, 9000);
	assert_int_equal(rep->attested_payments, 3);
	assert_string_equal(rep->attested_by, T.a_id);
	assert_int_equal(rep->payments, 0);
	assert_int_equal(rep->tier, H_TIER(PROBATION));
	fp_response_free(r);

	char detail[512] = "";
	assert_int_equal(
		count_kind(T.b, "alice-at-b", H_EVENT(REPUTATION_SEEDED), detail, sizeof(detail)),
		1);
	assert_true(h_contains(detail, T.a_id));
	assert_true(h_contains(detail, "Issuer A"));
	/* A's ledger has no such event: the seeding is B's. */
	assert_int_equal(count_kind(T.a, "alice", H_EVENT(REPUTATION_SEEDED), NULL, 0), 0);

	/* One payment: 1 + 3 >= 4 ends probation; the score moved from the
	 * seeded 9000 (rule 7 from the seed). */
	fp_response_free(h_cycle(T.b, "alice-at-b", "sku", 1000));
	r = h_reputation(T.b, "alice-at-b");
	rep = r->get_reputation->reputation;
	int32_t want = h_score_step(9000, 10000, 3000);
	assert_int_equal(rep->score_bp, want);
	assert_int_equal(rep->payments, 1);
	assert_int_equal(rep->attested_payments, 3);
	assert_int_equal(rep->tier, H_TIER(TRUSTED));
	fp_response_free(r);

	/* Seeding at most once: the same attestation again seeds nothing
	 * (the customer has history now, and was seeded before). */
	h_assert_code(create_attested(T.b, "alice-at-b", att, len, SUBJECT, &r), H_OK);
	fp_response_free(r);
	assert_int_equal(count_kind(T.b, "alice-at-b", H_EVENT(REPUTATION_SEEDED), NULL, 0), 1);
	free(att);

	/* The ledger check replays a seeded customer from the seed: no
	 * difference. */
	char *ctl = h_ctl(), *db = h_shq(T.w.db);
	char *cmd = h_fmt("%s reputation verify --db %s --vendor %s", ctl, db, T.b_id);
	char *out = NULL;
	assert_int_equal(h_run(cmd, &out), 0);
	assert_false(h_contains(out, "stored"));
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

static void test_seed_leaves_probation_and_once(void **state)
{
	history_at_a("bob");
	set_policy(T.b, 9000, 3);
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "bob", &len);
	Fairpay__V1__Response *r = NULL;
	/* 0 + 3 >= 3: out of probation at once, TRUSTED at the cap. */
	h_assert_code(create_attested(T.b, "bob-at-b", att, len, SUBJECT, &r), H_OK);
	assert_int_equal(r->create_offer->offer->tier, H_TIER(TRUSTED));
	for (size_t i = 0; i < r->create_offer->offer->n_reasons; i++)
		assert_int_not_equal(r->create_offer->offer->reasons[i], H_OREASON(PROBATION));
	fp_response_free(r);
	/* Seeded but no history yet: a second attestation seeds nothing. */
	h_assert_code(create_attested(T.b, "bob-at-b", att, len, SUBJECT, &r), H_OK);
	fp_response_free(r);
	assert_int_equal(count_kind(T.b, "bob-at-b", H_EVENT(REPUTATION_SEEDED), NULL, 0), 1);
	free(att);

	/* SimulatePolicy replays a seeded customer from the seed, with its
	 * attested payments: the current policy as the candidate changes
	 * nobody (from the prior, bob would be back on probation). */
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__SimulatePolicyRequest sm = FAIRPAY__V1__SIMULATE_POLICY_REQUEST__INIT;
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	sm.policy = &pol;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SIMULATE_POLICY;
	req.simulate_policy = &sm;
	h_must(h_call(T.b, &req, &r), "SimulatePolicy");
	assert_true(r->simulate_policy->customers >= 1);
	assert_int_equal(r->simulate_policy->changed, 0);
	for (size_t i = 0; i < r->simulate_policy->n_changes; i++)
		assert_string_not_equal(r->simulate_policy->changes[i]->customer_id, "bob-at-b");
	fp_response_free(r);
}

/* A review replays rule 7 from the seeded score, not from prior_score_bp:
 * 9000 -> 9300 after an accepted review, where a replay from the prior
 * 8000 would give 8600. */
static void test_review_replays_from_seed(void **state)
{
	history_at_a("ivy");
	set_policy(T.b, 9000, 3);
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "ivy", &len);
	Fairpay__V1__Response *r = NULL;
	h_assert_code(create_attested(T.b, "ivy-at-b", att, len, SUBJECT, &r), H_OK);
	char *offer = strdup(r->create_offer->offer->offer_id);
	fp_response_free(r);
	h_accept(T.b, offer);
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	Fairpay__V1__PaymentReason reasons[] = { H_PREASON(DID_NOT_USE) };
	m.offer_id = offer;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = 100;
	m.reasons = reasons;
	m.n_reasons = 1;
	h_must(h_submit_payment(T.b, &m, NULL, &r), "SubmitPayment");
	assert_int_equal(r->submit_payment->payment->review, H_REVIEW(PENDING));
	/* Excused: 8000 while pending. */
	assert_int_equal(r->submit_payment->reputation->score_bp, h_score_step(9000, 8000, 3000));
	char *payment = strdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	h_must(h_review_payment(T.b, payment, true, NULL, &r), "ReviewPayment");
	assert_int_equal(r->review_payment->reputation->score_bp, h_score_step(9000, 10000, 3000));
	assert_int_equal(r->review_payment->reputation->score_bp, 9300);
	fp_response_free(r);
	free(payment);
	free(offer);
	free(att);
}

static void test_ignored_cases(void **state)
{
	history_at_a("carol");
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "carol", &len);
	Fairpay__V1__Response *r = NULL;

	/* Cap 0: ignored, the offer is made on the prior. */
	set_policy(T.b, 0, 3);
	h_assert_code(create_attested(T.b, "carol-cap0", att, len, SUBJECT, &r), H_OK);
	assert_int_equal(r->create_offer->offer->tier, H_TIER(PROBATION));
	fp_response_free(r);
	r = h_reputation(T.b, "carol-cap0");
	assert_int_equal(r->get_reputation->reputation->score_bp, 8000);
	assert_string_equal(r->get_reputation->reputation->attested_by, "");
	fp_response_free(r);

	/* Issued by the caller itself: ignored, offer still created. */
	set_policy(T.a, 9000, 3);
	h_assert_code(create_attested(T.a, "carol-self", att, len, SUBJECT, &r), H_OK);
	assert_non_null(r->create_offer->offer);
	fp_response_free(r);
	r = h_reputation(T.a, "carol-self");
	assert_int_equal(r->get_reputation->reputation->attested_payments, 0);
	assert_string_equal(r->get_reputation->reputation->attested_by, "");
	fp_response_free(r);
	assert_int_equal(count_kind(T.a, "carol-self", H_EVENT(REPUTATION_SEEDED), NULL, 0), 0);
	set_policy(T.a, 0, 3);

	/* A customer with history at B: ignored. */
	set_policy(T.b, 9000, 3);
	fp_response_free(h_cycle(T.b, "carol-known", "sku", 500));
	r = h_reputation(T.b, "carol-known");
	int32_t before = r->get_reputation->reputation->score_bp;
	fp_response_free(r);
	h_assert_code(create_attested(T.b, "carol-known", att, len, SUBJECT, &r), H_OK);
	fp_response_free(r);
	r = h_reputation(T.b, "carol-known");
	assert_int_equal(r->get_reputation->reputation->score_bp, before);
	assert_string_equal(r->get_reputation->reputation->attested_by, "");
	fp_response_free(r);
	assert_int_equal(count_kind(T.b, "carol-known", H_EVENT(REPUTATION_SEEDED), NULL, 0), 0);
	free(att);
}

/* ---------------------------------------------------------------- refusals */

/* CreateOffer with these bytes must answer code (field attestation) and
 * create nothing; VerifyAttestation answers verify_code. */
static void expect_refused(const uint8_t *att, size_t len, const char *subject, int code,
			   const char *customer, int verify_code)
{
	Fairpay__V1__Response *r = NULL;
	h_assert_code(create_attested(T.b, customer, att, len, subject, &r), code);
	h_assert_field("attestation");
	fp_response_free(r);
	h_assert_code(verify_call(T.b, att, len, &r), verify_code);
	fp_response_free(r);
	char *sql = h_fmt("SELECT count(*) FROM offers WHERE customer_id = '%s'", customer);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);
}

static void test_every_refusal(void **state)
{
	history_at_a("dave");
	set_policy(T.b, 9000, 3);
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "dave", &len);
	attest_parts p;
	assert_int_equal(attest_decode(att, len, &p), 0);

	/* Tampered claims: one byte of the issuer's name inside the claims. */
	uint8_t *bad = malloc(len);
	memcpy(bad, att, len);
	uint8_t *name = memmem(bad, len, "Issuer A", 8);
	assert_non_null(name);
	name[0] = 'J';
	expect_refused(bad, len, SUBJECT, H_PRECONDITION, "dave-claims", H_PRECONDITION);
	/* Tampered signature: its last byte. */
	memcpy(bad, att, len);
	bad[len - 1] ^= 0x01;
	expect_refused(bad, len, SUBJECT, H_PRECONDITION, "dave-sig", H_PRECONDITION);
	/* Wrong subject, and none. */
	expect_refused(att, len, "mallory@example.com", H_PRECONDITION, "dave-subject", H_OK);
	expect_refused(att, len, "", H_PRECONDITION, "dave-nosubject", H_OK);
	/* Bytes that do not decode. */
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x07 };
	expect_refused(junk, sizeof(junk), SUBJECT, H_INVALID, "dave-junk", H_INVALID);

	/* Crafted ones, signed with the test's own key: an unknown key id;
	 * then the same key known to the server (as A's, retired) but an
	 * expired attestation, and a fresh one that verifies (so that the
	 * expiry, not the key, is what refused). */
	uint8_t pub[ATTEST_KEY_BYTES], priv[ATTEST_KEY_BYTES];
	assert_int_equal(attest_keygen(pub, priv), 0);
	Fairpay__V1__AttestationClaims c = *p.claims;
	c.key_id = "ak_00000000000000aa";
	c.expires_at_unix_ms = wall_ms() + 3600000;
	size_t clen = 0;
	uint8_t *crafted = craft(&c, priv, &clen);
	expect_refused(crafted, clen, SUBJECT, H_PRECONDITION, "dave-unknown", H_PRECONDITION);
	free(crafted);
	char *pub_hex = hex_of(pub, sizeof(pub));
	char *sql = h_fmt("INSERT INTO attestation_keys (vendor_id, key_id, public_key, retired_at)"
			  " VALUES ('%s', 'ak_00000000000000aa', decode('%s', 'hex'), now())",
			  T.a_id, pub_hex);
	free(h_sql(T.w.db, sql));
	free(sql);
	c.issued_at_unix_ms = wall_ms() - 7200000;
	c.expires_at_unix_ms = wall_ms() - 1000;
	crafted = craft(&c, priv, &clen);
	expect_refused(crafted, clen, SUBJECT, H_PRECONDITION, "dave-expired", H_PRECONDITION);
	free(crafted);
	c.expires_at_unix_ms = wall_ms() + 3600000;
	crafted = craft(&c, priv, &clen);
	Fairpay__V1__Response *r = NULL;
	h_assert_code(verify_call(T.b, crafted, clen, &r), H_OK);
	fp_response_free(r);
	/* A key of A cannot vouch for claims naming B as issuer. */
	c.issuer_vendor_id = T.b_id;
	free(crafted);
	crafted = craft(&c, priv, &clen);
	expect_refused(crafted, clen, SUBJECT, H_PRECONDITION, "dave-issuer", H_PRECONDITION);
	free(crafted);
	free(pub_hex);

	attest_parts_free(&p);
	free(bad);
	free(att);
}

/* ---------------------------------------------------------------- offline */

static void test_offline_verification(void **state)
{
	history_at_a("erin");
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "erin", &len);
	/* B fetches A's public key: only the key, its id and A's name. */
	Fairpay__V1__Response *k = issuer_key(T.b, T.a_id);
	assert_string_equal(k->get_issuer_key->vendor_id, T.a_id);
	assert_string_equal(k->get_issuer_key->vendor_name, "Issuer A");
	char *pub = hex_of(k->get_issuer_key->public_key.data, ATTEST_KEY_BYTES);
	char *text = b64(att, len);

	/* Python, with python3-cryptography and nothing of ours. */
	char *script = h_path(h_root_dir(), "tests/attest/verify_attestation.py");
	char *cmd = h_fmt("python3 %s %s %s", script, text, pub);
	char *out = NULL;
	assert_int_equal(h_run(cmd, &out), 0);
	assert_true(h_contains(out, "verified"));
	assert_true(h_contains(out, "subject=" SUBJECT));
	assert_true(h_contains(out, "score_bp=12599"));
	assert_true(h_contains(out, k->get_issuer_key->key_id));
	free(out);
	free(cmd);
	/* Another key (B's) does not verify it. */
	Fairpay__V1__Response *kb = issuer_key(T.b, "");
	char *b_pub = hex_of(kb->get_issuer_key->public_key.data, ATTEST_KEY_BYTES);
	assert_string_equal(kb->get_issuer_key->vendor_id, T.b_id);
	cmd = h_fmt("python3 %s %s %s", script, text, b_pub);
	assert_int_equal(h_run(cmd, NULL), 1);
	free(cmd);

	/* fairpayctl --offline: no server, no key. */
	char *ctl = h_ctl();
	cmd = h_fmt("%s attestation verify --offline --public-key %s %s", ctl, pub, text);
	assert_int_equal(h_run(cmd, &out), 0);
	assert_true(h_contains(out, SUBJECT));
	free(out);
	free(cmd);
	cmd = h_fmt("%s attestation verify --offline --public-key %s %s", ctl, b_pub, text);
	assert_int_equal(h_run(cmd, NULL), 1);
	free(cmd);
	/* And online, by text, through the server. */
	char *ca = h_path(h_certs_dir(), "ca.pem");
	cmd = h_fmt("%s attestation verify --server %s --ca %s --api-key %s %s", ctl, T.w.srv->addr,
		    ca, T.b_key, text);
	assert_int_equal(h_run(cmd, &out), 0);
	assert_true(h_contains(out, T.a_id));
	free(out);
	free(cmd);
	free(ca);
	free(ctl);
	free(script);
	free(b_pub);
	fp_response_free(kb);
	free(pub);
	free(text);
	fp_response_free(k);
	free(att);
}

/* ---------------------------------------------------------------- keys */

static void test_rotation(void **state)
{
	history_at_a("frank");
	size_t len1 = 0, len2 = 0;
	uint8_t *att1 = issue_ok(T.a, "frank", &len1);
	Fairpay__V1__Response *k1 = issuer_key(T.a, "");
	char *ctl = h_ctl();
	char *db = h_shq(T.w.db);
	char *cmd = h_fmt("%s attestation rotate-key %s --db %s", ctl, T.a_id, db);
	free(db);
	char *out = NULL;
	assert_int_equal(h_run(cmd, &out), 0);
	assert_true(h_contains(out, k1->get_issuer_key->key_id));
	free(out);
	free(cmd);
	uint8_t *att2 = issue_ok(T.a, "frank", &len2);
	Fairpay__V1__Response *k2 = issuer_key(T.a, "");
	assert_string_not_equal(k1->get_issuer_key->key_id, k2->get_issuer_key->key_id);
	assert_memory_not_equal(k1->get_issuer_key->public_key.data,
				k2->get_issuer_key->public_key.data, ATTEST_KEY_BYTES);
	attest_parts p1, p2;
	assert_int_equal(attest_decode(att1, len1, &p1), 0);
	assert_int_equal(attest_decode(att2, len2, &p2), 0);
	assert_string_equal(p1.claims->key_id, k1->get_issuer_key->key_id);
	assert_string_equal(p2.claims->key_id, k2->get_issuer_key->key_id);
	/* Both verify: the old public key is kept, its private half is gone. */
	Fairpay__V1__Response *r = NULL;
	h_assert_code(verify_call(T.b, att1, len1, &r), H_OK);
	fp_response_free(r);
	h_assert_code(verify_call(T.b, att2, len2, &r), H_OK);
	fp_response_free(r);
	char *sql = h_fmt("SELECT count(*) FROM attestation_keys WHERE key_id = '%s'"
			  " AND private_key_sealed IS NULL AND retired_at IS NOT NULL",
			  k1->get_issuer_key->key_id);
	assert_int_equal(h_sql_int(T.w.db, sql), 1);
	free(sql);
	attest_parts_free(&p1);
	attest_parts_free(&p2);
	fp_response_free(k1);
	fp_response_free(k2);
	free(ctl);
	free(att1);
	free(att2);
}

static void test_idempotent_issue_and_input(void **state)
{
	history_at_a("gina");
	Fairpay__V1__Response *r1 = NULL, *r2 = NULL;
	h_assert_code(issue(T.a, "gina", SUBJECT, 600, "att-1", &r1), H_OK);
	h_assert_code(issue(T.a, "gina", SUBJECT, 600, "att-1", &r2), H_OK);
	assert_true(r2->replayed);
	assert_int_equal(r1->issue_attestation->attestation.len,
			 r2->issue_attestation->attestation.len);
	assert_memory_equal(r1->issue_attestation->attestation.data,
			    r2->issue_attestation->attestation.data,
			    r1->issue_attestation->attestation.len);
	const Fairpay__V1__AttestationClaims *c = r1->issue_attestation->claims;
	assert_int_equal(c->expires_at_unix_ms - c->issued_at_unix_ms, 600000);
	assert_string_equal(c->issuer_vendor_id, T.a_id);
	assert_int_equal(c->payments, 3);
	fp_response_free(r1);
	fp_response_free(r2);
	/* Bad input. */
	h_assert_code(issue(T.a, "gina", "", 0, NULL, NULL), H_INVALID);
	h_assert_field("subject");
	h_assert_code(issue(T.a, "gina", SUBJECT, 59, NULL, NULL), H_INVALID);
	h_assert_field("ttl_seconds");
	h_assert_code(issue(T.a, "gina", SUBJECT, 31536001, NULL, NULL), H_INVALID);
	h_assert_code(issue(T.a, "", SUBJECT, 0, NULL, NULL), H_INVALID);
	char subj[LIMIT_SUBJECT_BYTES + 2];
	memset(subj, 's', sizeof(subj) - 1);
	subj[sizeof(subj) - 1] = '\0';
	h_assert_code(issue(T.a, "gina", subj, 0, NULL, NULL), H_INVALID);
	/* The policy's range. */
	Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&p, attestation_cap_bp, ATTESTATION_CAP_BP, 15001);
	h_assert_code(h_put_policy(T.b, &p, false, NULL), H_INVALID);
	h_assert_field("policy.attestation_cap_bp");
	/* Another vendor's id that is no vendor. */
	Fairpay__V1__GetIssuerKeyRequest m = FAIRPAY__V1__GET_ISSUER_KEY_REQUEST__INIT;
	m.vendor_id = "v_0000000000000000";
	h_assert_code(acall(T.b, FAIRPAY__V1__REQUEST__CALL_GET_ISSUER_KEY, &m, NULL, NULL),
		      H_NOT_FOUND);
}

/* ---------------------------------------------------------------- secrecy */

static void test_private_keys_never_leave(void **state)
{
	history_at_a("hank");
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "hank", &len);
	Fairpay__V1__Response *k = issuer_key(T.b, T.a_id);
	/* Open A's current key with the server's key file, as only the
	 * server should, to know what to look for. */
	char *sql = h_fmt("SELECT encode(private_key_sealed, 'hex') FROM attestation_keys"
			  " WHERE key_id = '%s'",
			  k->get_issuer_key->key_id);
	char *sealed_hex = h_sql(T.w.db, sql);
	free(sql);
	uint8_t sealed[ATTEST_SEALED_BYTES], priv[ATTEST_KEY_BYTES];
	assert_int_equal(attest_unhex(sealed_hex, sealed, sizeof(sealed)), 0);
	assert_int_equal(
		attest_open(T.kek, T.a_id, k->get_issuer_key->key_id, sealed, sizeof(sealed), priv),
		0);
	/* Sealed for A's key id only: under another id it does not open. */
	assert_int_not_equal(
		attest_open(T.kek, T.b_id, k->get_issuer_key->key_id, sealed, sizeof(sealed), priv),
		0);
	assert_int_equal(
		attest_open(T.kek, T.a_id, k->get_issuer_key->key_id, sealed, sizeof(sealed), priv),
		0);
	char *priv_hex = hex_of(priv, sizeof(priv));
	/* Not in the log, not in any event of any vendor, not in the reply. */
	char *log = h_server_log(T.w.srv);
	assert_false(h_contains(log, priv_hex));
	assert_false(h_contains(log, sealed_hex));
	sql = h_fmt("SELECT count(*) FROM events WHERE detail LIKE '%%%s%%'"
		    " OR detail LIKE '%%%s%%'",
		    priv_hex, sealed_hex);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);
	assert_null(memmem(att, len, priv, sizeof(priv)));
	assert_null(memmem(att, len, sealed, sizeof(sealed)));
	/* GetIssuerKey's reply is the public key and nothing else secret. */
	uint8_t packed[1024];
	size_t n = fairpay__v1__get_issuer_key_response__pack(k->get_issuer_key, packed);
	assert_null(memmem(packed, n, priv, sizeof(priv)));
	free(log);
	free(priv_hex);
	free(sealed_hex);
	fp_response_free(k);
	free(att);
}

static void test_server_without_key_file(void **state)
{
	h_server *s = h_server_start(T.w.db, NULL);
	fp_client *a = h_connect_auth(s, T.a_key);
	Fairpay__V1__Response *r = NULL;
	h_assert_code(issue(a, "hank", SUBJECT, 0, NULL, &r), H_PRECONDITION);
	assert_true(h_contains(h_last_message(), "--attestation-key-file"));
	fp_response_free(r);
	/* It still verifies what another server signed. */
	size_t len = 0;
	uint8_t *att = issue_ok(T.a, "hank", &len);
	h_assert_code(verify_call(a, att, len, &r), H_OK);
	assert_string_equal(r->verify_attestation->claims->issuer_vendor_id, T.a_id);
	fp_response_free(r);
	free(att);
	fp_client_free(a);
	h_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_at_another_vendor),
		cmocka_unit_test(test_seed_leaves_probation_and_once),
		cmocka_unit_test(test_review_replays_from_seed),
		cmocka_unit_test(test_ignored_cases),
		cmocka_unit_test(test_every_refusal),
		cmocka_unit_test(test_offline_verification),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_idempotent_issue_and_input),
		cmocka_unit_test(test_private_keys_never_leave),
		cmocka_unit_test(test_server_without_key_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
