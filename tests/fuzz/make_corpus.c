/* make_corpus: write the seed corpora of the fuzz targets.
 *
 * Every call of the protocol as a real packed Request, valid and at the
 * edges of its validation, plus the framing edge cases and a deeply nested
 * input. fuzz_request seeds are the control byte of fuzz_request.c followed
 * by the Request; fuzz_frame seeds are client byte streams (frames).
 * Regenerate after a change of the schema or of the validation:
 *   scripts/fuzz.sh --make-corpus
 * It fails when a call of the schema has no seed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fairpay.pb-c.h"

/* The control byte of fuzz_request.c. */
#define N 0x00u /* no role */
#define A 0x01u /* ADMIN */
#define V 0x02u /* VENDOR */
#define D 0x04u /* the database answers later */
#define F 0x08u /* two failed authentications already */

#define MAX_FRAME 65536u /* fairpayd's default --max-frame */
#define NESTED_FRAME 60000u
#define NESTED_REQUEST 4000u
#define PIPELINE_MAX (64 * 1024)

#define OFFER_ID "o_0123456789abcdef"
#define PAYMENT_ID "p_0123456789abcdef"
#define VENDOR_ID "v_0123456789abcdef"
#define KEY_ID "0123456789abcdef"

static const char *out_dir;
static int seen_calls[64];
static uint8_t pipeline[PIPELINE_MAX];
static size_t pipeline_len;

static void die(const char *what)
{
	fprintf(stderr, "make_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *target, const char *name, const uint8_t *a, size_t alen,
		       const uint8_t *b, size_t blen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		die(path);
	if ((alen && fwrite(a, 1, alen, f) != alen) || (blen && fwrite(b, 1, blen, f) != blen))
		die(path);
	if (fclose(f) != 0)
		die(path);
}

static void put_header(uint8_t *p, uint32_t len)
{
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

/* One fuzz_request seed from raw Request bytes. */
static void request_raw(const char *name, uint8_t ctl, const uint8_t *body, size_t len)
{
	write_file("fuzz_request", name, &ctl, 1, body, len);
}

/* One fuzz_request seed; the Request also joins the pipelined frame seed. */
static void request(const char *name, uint8_t ctl, Fairpay__V1__Request *req)
{
	static uint64_t next_id = 1;
	req->id = next_id++;
	size_t len = fairpay__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(len + 1);
	if (buf == NULL)
		die("malloc");
	fairpay__v1__request__pack(req, buf);
	request_raw(name, ctl, buf, len);
	if (pipeline_len + 4 + len <= sizeof(pipeline)) {
		put_header(pipeline + pipeline_len, (uint32_t)len);
		memcpy(pipeline + pipeline_len + 4, buf, len);
		pipeline_len += 4 + len;
	}
	if ((unsigned)req->call_case < sizeof(seen_calls) / sizeof(seen_calls[0]))
		seen_calls[req->call_case] = 1;
	free(buf);
}

/* One fuzz_request seed from req with its only 'X' byte made a NUL: the
 * bytes of a string with a NUL inside, which the client library cannot send. */
static void request_nul(const char *name, uint8_t ctl, Fairpay__V1__Request *req)
{
	size_t len = fairpay__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(len + 1);
	if (buf == NULL)
		die("malloc");
	fairpay__v1__request__pack(req, buf);
	uint8_t *x = memchr(buf, 'X', len);
	if (x == NULL || memchr(x + 1, 'X', len - (size_t)(x + 1 - buf)) != NULL) {
		fprintf(stderr, "make_corpus: %s: not exactly one X\n", name);
		exit(1);
	}
	*x = 0;
	request_raw(name, ctl, buf, len);
	free(buf);
}

/* A malloc'ed string of n times c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	if (s == NULL)
		die("malloc");
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A fuzz_frame seed: a header saying hdr_len, then len bytes of body. */
static void frame(const char *name, uint32_t hdr_len, const uint8_t *body, size_t len)
{
	uint8_t hdr[4];
	put_header(hdr, hdr_len);
	write_file("fuzz_frame", name, hdr, 4, body, len);
}

static size_t varint_len(size_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Fill buf[0..size) with field-10 (0x52) length-delimited fields, each the
 * whole content of the one outside it, around a few filler bytes: as deep as
 * size allows. The outermost is Request.ping; the rest is what a decoder
 * without a recursion limit would descend into. */
static void nest(uint8_t *buf, size_t size)
{
	size_t filler = 0;
	for (;; filler++) {
		size_t s = filler;
		while (s < size)
			s += 1 + varint_len(s);
		if (s == size)
			break;
	}
	size_t pos = size - filler;
	memset(buf + pos, 0, filler);
	size_t content = filler;
	while (pos > 0) {
		size_t vl = varint_len(content);
		pos -= 1 + vl;
		buf[pos] = 0x52;
		size_t v = content;
		for (size_t i = 0; i < vl; i++, v >>= 7)
			buf[pos + 1 + i] = (uint8_t)((v & 0x7f) | (i + 1 < vl ? 0x80 : 0));
		content += 1 + vl;
	}
}

#define NEW_REQUEST(var, field, Type, type)                           \
	Fairpay__V1__Request var = FAIRPAY__V1__REQUEST__INIT;        \
	Fairpay__V1__##Type var##_call = FAIRPAY__V1__##type##__INIT; \
	var.call_case = FAIRPAY__V1__REQUEST__CALL_##field;

static void admin_calls(void)
{
	{
		NEW_REQUEST(r, PING, PingRequest, PING_REQUEST);
		r.ping = &r_call;
		request("ping", N, &r);
	}
	{
		NEW_REQUEST(r, AUTHENTICATE, AuthenticateRequest, AUTHENTICATE_REQUEST);
		r_call.api_key = "fp_" KEY_ID "_"
				 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
		r.authenticate = &r_call;
		request("authenticate", N | D, &r);
		r_call.api_key = "fp_" KEY_ID "_0011";
		request("authenticate_malformed_third_failure", N | F, &r);
	}
	{
		NEW_REQUEST(r, CREATE_VENDOR, CreateVendorRequest, CREATE_VENDOR_REQUEST);
		r_call.name = "Café Ünïcode Ltd";
		r.create_vendor = &r_call;
		r.idempotency_key = "create-vendor-1";
		request("create_vendor_idempotent", A | D, &r);
		r.idempotency_key = "";
		r_call.name = "bad \xff\xfe utf-8";
		request("create_vendor_bad_utf8", A, &r);
	}
	{
		NEW_REQUEST(r, CREATE_API_KEY, CreateApiKeyRequest, CREATE_API_KEY_REQUEST);
		r_call.vendor_id = VENDOR_ID;
		r_call.role = FAIRPAY__V1__ROLE__ROLE_VENDOR;
		r.create_api_key = &r_call;
		request("create_api_key", A, &r);
		r_call.vendor_id = "v_XYZ";
		r_call.role = FAIRPAY__V1__ROLE__ROLE_ADMIN;
		request("create_api_key_bad_vendor", A, &r);
	}
	{
		NEW_REQUEST(r, REVOKE_API_KEY, RevokeApiKeyRequest, REVOKE_API_KEY_REQUEST);
		r_call.key_id = KEY_ID;
		r.revoke_api_key = &r_call;
		request("revoke_api_key", A, &r);
		r_call.key_id = "0123456789ABCDEF";
		request("revoke_api_key_upper_case", A, &r);
	}
	{
		NEW_REQUEST(r, LIST_VENDORS, ListVendorsRequest, LIST_VENDORS_REQUEST);
		r_call.page_token = VENDOR_ID;
		r_call.limit = 5000;
		r.list_vendors = &r_call;
		request("list_vendors", A, &r);
	}
	{
		NEW_REQUEST(r, REGISTER_CLIENT_CERT, RegisterClientCertRequest,
			    REGISTER_CLIENT_CERT_REQUEST);
		r_call.key_id = KEY_ID;
		r_call.cert_sha256 =
			"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
		r.register_client_cert = &r_call;
		request("register_client_cert", A | D, &r);
		r_call.cert_sha256 = "";
		request("register_client_cert_remove", A, &r);
	}
}

static void catalog_calls(void)
{
	{
		NEW_REQUEST(r, PUT_PRODUCT, PutProductRequest, PUT_PRODUCT_REQUEST);
		Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
		p.sku = "plan-pro.2024_v1";
		p.name = "Pro plan";
		p.currency = "EUR";
		p.suggested_price_minor = 1500;
		p.unit_price_minor = 2;
		p.list_price_minor = 2000;
		p.minimum_price_minor = 500;
		p.min_tier = FAIRPAY__V1__TIER__TIER_TRUSTED;
		p.period_days = 30;
		r_call.product = &p;
		r.put_product = &r_call;
		r.idempotency_key = "put-product-1";
		request("put_product_idempotent", V | D, &r);
		r.idempotency_key = "";
		p.suggested_price_minor = 1000000000000001; /* 10^15 + 1 */
		request("put_product_price_over_max", V, &r);
		p.suggested_price_minor = 1500;
		p.period_days = -1;
		request("put_product_negative_period", V, &r);
		char key[257];
		memset(key, 'k', 256);
		key[256] = '\0';
		r.idempotency_key = key;
		request("idempotency_key_256_bytes", V | D, &r);
	}
	{
		NEW_REQUEST(r, GET_PRODUCT, GetProductRequest, GET_PRODUCT_REQUEST);
		r_call.sku = "plan-pro.2024_v1";
		r.get_product = &r_call;
		request("get_product", V, &r);
		request("vendor_call_unauthenticated", N, &r);
		request("vendor_call_as_admin", A, &r);
	}
	{
		NEW_REQUEST(r, LIST_PRODUCTS, ListProductsRequest, LIST_PRODUCTS_REQUEST);
		r_call.page_token = "plan-basic";
		r.list_products = &r_call;
		request("list_products", V, &r);
	}
	{
		NEW_REQUEST(r, PUT_POLICY, PutPolicyRequest, PUT_POLICY_REQUEST);
		Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
#define SET(field, FIELD, value)                                                   \
	do {                                                                       \
		p.field = (value);                                                 \
		p.opt_##field##_case = FAIRPAY__V1__POLICY__OPT_##FIELD##_##FIELD; \
	} while (0)
		SET(enforcement, ENFORCEMENT, FAIRPAY__V1__ENFORCEMENT__ENFORCEMENT_VOLUNTARY);
		SET(prior_score_bp, PRIOR_SCORE_BP, 8000);
		SET(alpha_bp, ALPHA_BP, 3000);
		SET(probation_payments, PROBATION_PAYMENTS, 3);
		SET(trusted_score_bp, TRUSTED_SCORE_BP, 9000);
		SET(fair_score_bp, FAIR_SCORE_BP, 8000);
		SET(low_score_bp, LOW_SCORE_BP, 5000);
		SET(generous_bp, GENEROUS_BP, 11000);
		SET(max_open_defaults, MAX_OPEN_DEFAULTS, 2);
		SET(restricted_minimum_bp, RESTRICTED_MINIMUM_BP, 5000);
		SET(probation_credit_minor, PROBATION_CREDIT_MINOR, 2000);
		SET(standard_credit_minor, STANDARD_CREDIT_MINOR, 10000);
		SET(trusted_credit_minor, TRUSTED_CREDIT_MINOR, 50000);
		SET(excused_floor_bp, EXCUSED_FLOOR_BP, 8000);
		SET(late_penalty_bp, LATE_PENALTY_BP, 2000);
		SET(offer_ttl_seconds, OFFER_TTL_SECONDS, 86400);
		SET(payment_window_seconds, PAYMENT_WINDOW_SECONDS, 1209600);
		Fairpay__V1__PaymentReason reasons[] = {
			FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE,
			FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_TECHNICAL_PROBLEM
		};
		p.excusing_reasons = reasons;
		p.n_excusing_reasons = 2;
		r_call.policy = &p;
		r_call.set_excusing_reasons = 1;
		r.put_policy = &r_call;
		r.idempotency_key = "put-policy-1";
		request("put_policy_every_field", V | D, &r);
		r.idempotency_key = "";
		SET(fair_score_bp, FAIR_SCORE_BP, 9500); /* above trusted: out of order */
		request("put_policy_out_of_order", V | D, &r);
		SET(fair_score_bp, FAIR_SCORE_BP, 8000);
		reasons[1] = (Fairpay__V1__PaymentReason)99;
		request("put_policy_unknown_reason", V | D, &r);
		Fairpay__V1__Policy empty = FAIRPAY__V1__POLICY__INIT;
		r_call.policy = &empty;
		r_call.set_excusing_reasons = 0;
		request("put_policy_nothing_set", V | D, &r);
#undef SET
	}
	{
		NEW_REQUEST(r, GET_POLICY, GetPolicyRequest, GET_POLICY_REQUEST);
		r.get_policy = &r_call;
		request("get_policy", V | D, &r);
	}
}

static void cycle_calls(void)
{
	{
		NEW_REQUEST(r, CREATE_OFFER, CreateOfferRequest, CREATE_OFFER_REQUEST);
		Fairpay__V1__OfferOverrides ov = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
		ov.mode = FAIRPAY__V1__OFFER_MODE__OFFER_MODE_FAIRPAY_MINIMUM;
		ov.opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
		ov.suggested_price_minor = 1200;
		ov.opt_suggested_price_minor_case =
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
		ov.minimum_price_minor = 0;
		ov.opt_minimum_price_minor_case =
			FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
		r_call.customer_id = "customer-42";
		r_call.sku = "plan-pro.2024_v1";
		r_call.overrides = &ov;
		r.create_offer = &r_call;
		r.idempotency_key = "offer-1";
		request("create_offer_overrides", V | D, &r);
		r.idempotency_key = "";
		ov.mode = (Fairpay__V1__OfferMode)9;
		request("create_offer_unknown_mode", V, &r);
	}
	{
		NEW_REQUEST(r, ACCEPT_OFFER, AcceptOfferRequest, ACCEPT_OFFER_REQUEST);
		r_call.offer_id = OFFER_ID;
		r.accept_offer = &r_call;
		request("accept_offer", V, &r);
	}
	{
		NEW_REQUEST(r, DECLINE_OFFER, DeclineOfferRequest, DECLINE_OFFER_REQUEST);
		r_call.offer_id = OFFER_ID;
		r.decline_offer = &r_call;
		r.idempotency_key = "decline-1";
		request("decline_offer_idempotent", V | D, &r);
	}
	{
		NEW_REQUEST(r, GET_OFFER, GetOfferRequest, GET_OFFER_REQUEST);
		r_call.offer_id = "x_0123";
		r.get_offer = &r_call;
		request("get_offer_foreign_id", V, &r);
	}
	{
		NEW_REQUEST(r, SUBMIT_PAYMENT, SubmitPaymentRequest, SUBMIT_PAYMENT_REQUEST);
		Fairpay__V1__PaymentReason reasons[] = {
			FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE,
			FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_DID_NOT_USE,
			FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_GREAT_VALUE
		};
		r_call.offer_id = OFFER_ID;
		r_call.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		r_call.amount_minor = 1500;
		r_call.usage_units = 3;
		r_call.reasons = reasons;
		r_call.n_reasons = 3;
		r_call.note = "merci, très bien";
		r.submit_payment = &r_call;
		r.idempotency_key = "pay-1";
		request("submit_payment_amount", V | D, &r);
		r.idempotency_key = "";
		r_call.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
		r_call.differential_bp = -10001;
		request("submit_payment_differential_below_min", V, &r);
	}
	{
		NEW_REQUEST(r, REVIEW_PAYMENT, ReviewPaymentRequest, REVIEW_PAYMENT_REQUEST);
		char note[1002];
		memset(note, 'n', 1001);
		note[1001] = '\0';
		r_call.payment_id = PAYMENT_ID;
		r_call.accept_reasons = 1;
		r_call.note = "ok";
		r.review_payment = &r_call;
		request("review_payment", V, &r);
		r_call.note = note;
		request("review_payment_note_1001_bytes", V, &r);
	}
	{
		NEW_REQUEST(r, GET_REPUTATION, GetReputationRequest, GET_REPUTATION_REQUEST);
		r_call.customer_id = "customer-42";
		r.get_reputation = &r_call;
		request("get_reputation", V, &r);
	}
	{
		NEW_REQUEST(r, LIST_CUSTOMER_EVENTS, ListCustomerEventsRequest,
			    LIST_CUSTOMER_EVENTS_REQUEST);
		r_call.customer_id = "customer-42";
		r_call.after_id = UINT64_MAX;
		r_call.limit = 1;
		r.list_customer_events = &r_call;
		request("list_customer_events_after_max", V, &r);
	}
	{
		NEW_REQUEST(r, LIST_EVENTS, ListEventsRequest, LIST_EVENTS_REQUEST);
		static Fairpay__V1__EventKind kinds[] = {
			FAIRPAY__V1__EVENT_KIND__EVENT_KIND_OFFER_CREATED,
			(Fairpay__V1__EventKind)77
		};
		r_call.after_id = 10;
		r_call.wait_ms = 1000;
		r.list_events = &r_call;
		request("list_events_wait", V, &r);
		r_call.kinds = kinds;
		r_call.n_kinds = 1;
		request("list_events_kind", V, &r);
		r_call.n_kinds = 2;
		request("list_events_unknown_kind", V, &r);
		r_call.n_kinds = 0;
		r_call.wait_ms = 30001;
		request("list_events_wait_too_long", V, &r);
	}
	{
		NEW_REQUEST(r, LIST_OFFERS, ListOffersRequest, LIST_OFFERS_REQUEST);
		r_call.status = FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_OPEN;
		r_call.customer_id = "customer-42";
		r_call.page_token = "o0006480b1f2a10000123456789abcdef";
		r_call.limit = 50;
		r.list_offers = &r_call;
		request("list_offers_filtered", V | D, &r);
		r_call.status = (Fairpay__V1__OfferStatus)7;
		request("list_offers_unknown_status", V, &r);
		r_call.status = 0;
		r_call.page_token = "p0006480b1f2a10000123456789abcdef";
		r_call.limit = UINT32_MAX;
		request("list_offers_payment_token", V, &r);
	}
	{
		NEW_REQUEST(r, LIST_PAYMENTS, ListPaymentsRequest, LIST_PAYMENTS_REQUEST);
		r_call.review = FAIRPAY__V1__REVIEW__REVIEW_PENDING;
		r.list_payments = &r_call;
		request("list_payments_review_queue", V | D, &r);
		r_call.review = (Fairpay__V1__Review)5;
		request("list_payments_unknown_review", V, &r);
		r_call.review = 0;
		r_call.page_token = "p0006480B1F2A10000123456789ABCDEF";
		request("list_payments_token_upper_case", V, &r);
	}
}

static void webhook_calls(void)
{
	{
		NEW_REQUEST(r, CREATE_WEBHOOK_ENDPOINT, CreateWebhookEndpointRequest,
			    CREATE_WEBHOOK_ENDPOINT_REQUEST);
		static Fairpay__V1__EventKind kinds[] = {
			FAIRPAY__V1__EVENT_KIND__EVENT_KIND_PAYMENT_RECEIVED,
			(Fairpay__V1__EventKind)99
		};
		r_call.url = "https://hooks.example.com/fairpay";
		r_call.kinds = kinds;
		r_call.n_kinds = 1;
		r.create_webhook_endpoint = &r_call;
		r.idempotency_key = "hook-1";
		request("create_webhook_endpoint", V | D, &r);
		r_call.n_kinds = 2;
		request("create_webhook_endpoint_unknown_kind", V, &r);
		r_call.url = "https://127.0.0.1/";
		r_call.n_kinds = 0;
		request("create_webhook_endpoint_loopback", V, &r);
		r_call.url = "http://hooks.example.com/";
		request("create_webhook_endpoint_http", V, &r);
	}
	{
		NEW_REQUEST(r, LIST_WEBHOOK_ENDPOINTS, ListWebhookEndpointsRequest,
			    LIST_WEBHOOK_ENDPOINTS_REQUEST);
		r.list_webhook_endpoints = &r_call;
		request("list_webhook_endpoints", V | D, &r);
	}
	{
		NEW_REQUEST(r, DELETE_WEBHOOK_ENDPOINT, DeleteWebhookEndpointRequest,
			    DELETE_WEBHOOK_ENDPOINT_REQUEST);
		r_call.endpoint_id = "we_0011223344556677";
		r.delete_webhook_endpoint = &r_call;
		request("delete_webhook_endpoint", V | D, &r);
		r_call.endpoint_id = "we_nothex";
		request("delete_webhook_endpoint_bad_id", V, &r);
	}
	{
		NEW_REQUEST(r, LIST_WEBHOOK_DELIVERIES, ListWebhookDeliveriesRequest,
			    LIST_WEBHOOK_DELIVERIES_REQUEST);
		r_call.endpoint_id = "we_0011223344556677";
		r_call.after_id = UINT64_MAX;
		r_call.limit = 5;
		r.list_webhook_deliveries = &r_call;
		request("list_webhook_deliveries", V | D, &r);
	}
}

static void attestation_calls(void)
{
	/* A SignedAttestation's bytes: claims (field 1) naming key ak_..., and
	 * a signature (field 2) of 64 bytes that verifies nothing. */
	static uint8_t att[2 + 40 + 2 + 64];
	static const char claims[] = "\x1a\x13"
				     "ak_0123456789abcdef"
				     "\x22\x11"
				     "alice@example.com";
	size_t cl = sizeof(claims) - 1;
	att[0] = 0x0a;
	att[1] = (uint8_t)cl;
	memcpy(att + 2, claims, cl);
	att[2 + cl] = 0x12;
	att[3 + cl] = 64;
	memset(att + 4 + cl, 0x5a, 64);
	size_t att_len = 4 + cl + 64;
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x07 };
	{
		NEW_REQUEST(r, ISSUE_ATTESTATION, IssueAttestationRequest,
			    ISSUE_ATTESTATION_REQUEST);
		r_call.customer_id = "cust-1";
		r_call.subject = "alice@example.com";
		r_call.ttl_seconds = 86400;
		r.issue_attestation = &r_call;
		r.idempotency_key = "att-1";
		request("issue_attestation", V | D, &r);
		r_call.ttl_seconds = 59;
		request("issue_attestation_short_ttl", V, &r);
		r_call.ttl_seconds = 0;
		r_call.subject = "";
		request("issue_attestation_no_subject", V, &r);
	}
	{
		NEW_REQUEST(r, VERIFY_ATTESTATION, VerifyAttestationRequest,
			    VERIFY_ATTESTATION_REQUEST);
		r_call.attestation.data = att;
		r_call.attestation.len = att_len;
		r.verify_attestation = &r_call;
		request("verify_attestation", V | D, &r);
		r_call.attestation.data = (uint8_t *)junk;
		r_call.attestation.len = sizeof(junk);
		request("verify_attestation_junk", V, &r);
		/* Claims whose key id is not UTF-8 (protobuf-c does not check). */
		static uint8_t bad_key[sizeof(att)];
		memcpy(bad_key, att, att_len);
		bad_key[2 + 2 + 5] = 0xb5;
		r_call.attestation.data = bad_key;
		r_call.attestation.len = att_len;
		request("verify_attestation_key_not_utf8", V, &r);
	}
	{
		NEW_REQUEST(r, GET_ISSUER_KEY, GetIssuerKeyRequest, GET_ISSUER_KEY_REQUEST);
		r.get_issuer_key = &r_call;
		request("get_issuer_key_own", V | D, &r);
		r_call.vendor_id = VENDOR_ID;
		request("get_issuer_key_other", V | D, &r);
		r_call.vendor_id = "v_nothex";
		request("get_issuer_key_bad_id", V, &r);
	}
	{
		NEW_REQUEST(r, CREATE_OFFER, CreateOfferRequest, CREATE_OFFER_REQUEST);
		r_call.customer_id = "cust-1";
		r_call.sku = "basic";
		r_call.attestation.data = att;
		r_call.attestation.len = att_len;
		r_call.attestation_subject = "alice@example.com";
		r.create_offer = &r_call;
		request("create_offer_attested", V | D, &r);
		r_call.attestation.data = (uint8_t *)junk;
		r_call.attestation.len = sizeof(junk);
		request("create_offer_attestation_junk", V, &r);
	}
}

/* GetInsights and SimulatePolicy: both read only, SimulatePolicy in pages. */
static void insights_calls(void)
{
	{
		NEW_REQUEST(r, GET_INSIGHTS, GetInsightsRequest, GET_INSIGHTS_REQUEST);
		r_call.sku = "basic";
		r_call.from_unix_ms = INT64_C(1767225600000);
		r_call.to_unix_ms = INT64_C(1769904000000);
		r.get_insights = &r_call;
		request("get_insights", V | D, &r);
		r_call.sku = "";
		r_call.from_unix_ms = 0;
		r_call.to_unix_ms = 0;
		request("get_insights_all_open", V | D, &r);
		r_call.from_unix_ms = INT64_MAX;
		r_call.to_unix_ms = INT64_MAX;
		request("get_insights_end_of_time", V | D, &r);
		r_call.from_unix_ms = 2000;
		r_call.to_unix_ms = 1000;
		request("get_insights_to_before_from", V, &r);
		r_call.from_unix_ms = -1;
		request("get_insights_negative", V, &r);
	}
	{
		NEW_REQUEST(r, SIMULATE_POLICY, SimulatePolicyRequest, SIMULATE_POLICY_REQUEST);
		Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
		p.alpha_bp = 5000;
		p.opt_alpha_bp_case = FAIRPAY__V1__POLICY__OPT_ALPHA_BP_ALPHA_BP;
		p.excused_floor_bp = 9000;
		p.opt_excused_floor_bp_case =
			FAIRPAY__V1__POLICY__OPT_EXCUSED_FLOOR_BP_EXCUSED_FLOOR_BP;
		Fairpay__V1__PaymentReason reasons[] = {
			FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_CANNOT_AFFORD
		};
		p.excusing_reasons = reasons;
		p.n_excusing_reasons = 1;
		r_call.policy = &p;
		r_call.set_excusing_reasons = 1;
		r.simulate_policy = &r_call;
		request("simulate_policy", V | D, &r);
		p.low_score_bp = 9900; /* above fair_score_bp: refused after the read */
		p.opt_low_score_bp_case = FAIRPAY__V1__POLICY__OPT_LOW_SCORE_BP_LOW_SCORE_BP;
		request("simulate_policy_out_of_order", V | D, &r);
		r_call.policy = NULL;
		request("simulate_policy_without_policy", V, &r);
	}
}

/* Strings that the wire check refuses (wirestr.h), and some at its edges. */
static void bad_strings(void)
{
	{
		NEW_REQUEST(r, CREATE_OFFER, CreateOfferRequest, CREATE_OFFER_REQUEST);
		r_call.customer_id = "cust-1";
		r_call.sku = "basic";
		r.create_offer = &r_call;
		r.idempotency_key = "\xff\xfe";
		request("key_ff_fe", V | D, &r);
		r.idempotency_key = "k\xc0\x80";
		request("key_overlong_nul", V | D, &r);
		r.idempotency_key = "k\n2026-01-01T00:00:00.000Z ERROR forged\r\"\\";
		request("key_control_chars", V | D, &r);
		char *k = repeat('k', 256);
		r.idempotency_key = k;
		request("key_256", V | D, &r);
		k[255] = '\0';
		request("key_255", V | D, &r);
		free(k);
		r.idempotency_key = "keyXnul";
		request_nul("key_nul", V | D, &r);
		r.idempotency_key = "";
		r_call.customer_id = "aXb";
		request_nul("customer_nul", V | D, &r);
		r_call.customer_id = "\xed\xa0\x80";
		request("customer_surrogate", V | D, &r);
		char *c = repeat('c', 129);
		r_call.customer_id = c;
		request("customer_129", V | D, &r);
		c[128] = '\0';
		request("customer_128", V | D, &r);
		free(c);
	}
	{
		NEW_REQUEST(r, PUT_PRODUCT, PutProductRequest, PUT_PRODUCT_REQUEST);
		Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
		p.sku = "s";
		p.name = "shopXevil";
		p.currency = "EUR";
		p.suggested_price_minor = 100;
		r_call.product = &p;
		r.put_product = &r_call;
		request_nul("product_name_nul", V | D, &r);
		p.name = "caf\xe9";
		request("product_name_latin1", V | D, &r);
		p.name = "ok";
		p.currency = "E\xf4\x90\x80\x80";
		request("product_currency_past_10ffff", V | D, &r);
	}
	{
		NEW_REQUEST(r, SUBMIT_PAYMENT, SubmitPaymentRequest, SUBMIT_PAYMENT_REQUEST);
		r_call.offer_id = OFFER_ID;
		r_call.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		r_call.amount_minor = 100;
		char *note = repeat('n', 1001);
		r_call.note = note;
		r.submit_payment = &r_call;
		request("note_1001", V | D, &r);
		note[1000] = '\0';
		memcpy(note + 997, "\xe2\x82", 2); /* cut short at the end */
		request("note_cut_utf8", V | D, &r);
		free(note);
	}
	{
		NEW_REQUEST(r, AUTHENTICATE, AuthenticateRequest, AUTHENTICATE_REQUEST);
		char *key = repeat('f', 257);
		r_call.api_key = key;
		r.authenticate = &r_call;
		request("api_key_257", N | D, &r);
		free(key);
	}
	/* An unknown field holding bytes that are not UTF-8 is never read: a
	 * Ping with field 99 (length-delimited) ff fe. */
	static const uint8_t unknown_bytes[] = { 0x9a, 0x06, 0x02, 0xff, 0xfe, 0x52, 0x00 };
	request_raw("unknown_field_not_utf8", N, unknown_bytes, sizeof(unknown_bytes));
}

/* Inputs that are not one well-formed call. */
static void odd_requests(void)
{
	static uint8_t nested[NESTED_REQUEST];
	nest(nested, sizeof(nested));
	request_raw("nested_fields", N, nested, sizeof(nested));
	/* Two members of the call oneof: the last one wins. */
	static const uint8_t two_calls[] = { 0x08, 0x07, 0x52, 0x00, 0xc2, 0x01, 0x00 };
	request_raw("two_calls_last_wins", V, two_calls, sizeof(two_calls));
	/* An unknown field (99, varint) before a Ping. */
	static const uint8_t unknown[] = { 0x98, 0x06, 0x01, 0x52, 0x00 };
	request_raw("unknown_field_then_ping", N, unknown, sizeof(unknown));
}

static void frames(void)
{
	write_file("fuzz_frame", "pipeline_every_call", pipeline, pipeline_len, NULL, 0);
	frame("empty_frame", 0, NULL, 0);
	frame("over_limit_header_only", MAX_FRAME + 1, NULL, 0);
	static const uint8_t ping[] = { 0x08, 0x01, 0x52, 0x00 };
	frame("over_limit_4g", UINT32_MAX, ping, sizeof(ping));
	frame("partial_body", 100, ping, sizeof(ping));
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	frame("not_a_request", sizeof(junk), junk, sizeof(junk));
	static const uint8_t no_call[] = { 0x08, 0x07 };
	frame("names_no_call", sizeof(no_call), no_call, sizeof(no_call));

	static uint8_t big[MAX_FRAME];
	nest(big, NESTED_FRAME);
	frame("nested_60000", NESTED_FRAME, big, NESTED_FRAME);
	/* A CreateVendor whose name fills the frame to the limit exactly:
	 * 0x62 len(3) { 0x0a len(3) name }. */
	size_t name_len = MAX_FRAME - 2 * 4;
	big[0] = 0x62;
	big[1] = (uint8_t)(((name_len + 4) & 0x7f) | 0x80);
	big[2] = (uint8_t)((((name_len + 4) >> 7) & 0x7f) | 0x80);
	big[3] = (uint8_t)((name_len + 4) >> 14);
	big[4] = 0x0a;
	big[5] = (uint8_t)((name_len & 0x7f) | 0x80);
	big[6] = (uint8_t)(((name_len >> 7) & 0x7f) | 0x80);
	big[7] = (uint8_t)(name_len >> 14);
	memset(big + 8, 'n', name_len);
	frame("create_vendor_at_limit", MAX_FRAME, big, MAX_FRAME);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus DIR\n");
		return 2;
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
		die(out_dir);
	admin_calls();
	catalog_calls();
	cycle_calls();
	webhook_calls();
	attestation_calls();
	bad_strings();
	odd_requests();
	insights_calls();
	frames();
	/* A call added to the schema needs its seeds here. */
	int missing = 0;
	const ProtobufCMessageDescriptor *d = &fairpay__v1__request__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->id >= sizeof(seen_calls) / sizeof(seen_calls[0]) || !seen_calls[f->id]) {
			fprintf(stderr, "make_corpus: no seed for the call %s\n", f->name);
			missing = 1;
		}
	}
	return missing;
}
