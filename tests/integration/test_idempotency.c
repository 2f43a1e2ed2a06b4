/* Integration tests of Request.idempotency_key on the vendor calls: a repeat
 * is answered from the record (replayed, nothing done twice), a reuse for
 * other fields or another call is refused, keys are per vendor, a request
 * still in flight answers ABORTED, and the sweeper removes records past
 * their 24 hours. Also: a payment is never recorded twice, with or without a
 * key. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "harness.h"

static struct {
	h_world w; /* db, admin_key, srv, admin */
	fp_client *a;
	char *a_id;
	fp_client *b;
	char *b_id;
} T;

typedef Fairpay__V1__Response resp_t;

static long long count_sql(const char *fmt, const char *a, const char *b)
{
	char *sql = h_fmt(fmt, a, b);
	long long n = h_sql_int(T.w.db, sql);
	free(sql);
	return n;
}

static long long offers_of(const char *vendor_id)
{
	return count_sql("SELECT count(*) FROM offers WHERE vendor_id = '%s'%s", vendor_id, "");
}

static long long events_of(const char *vendor_id)
{
	return count_sql("SELECT count(*) FROM events WHERE vendor_id = '%s'%s", vendor_id, "");
}

static int create_keyed(fp_client *c, const char *customer, const char *sku, const char *key,
			resp_t **r)
{
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = (char *)customer;
	m.sku = (char *)sku;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, key, r);
}

static int pay_keyed(fp_client *c, const char *offer_id, int64_t amount, const char *key,
		     resp_t **r)
{
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = amount;
	return h_submit_payment(c, &m, key, r);
}

/* Fail unless a and b pack to the same bytes. */
static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	assert_int_equal(la, lb);
	uint8_t *ba = malloc(la + 1), *bb = malloc(lb + 1);
	assert_non_null(ba);
	assert_non_null(bb);
	protobuf_c_message_pack(a, ba);
	protobuf_c_message_pack(b, bb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
}

static void expect_field_code(int code, int want, const char *field)
{
	h_assert_code(code, want);
	h_assert_field(field);
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_idempotency", "--sweep-interval-ms", "100", NULL);
	T.a = h_vendor_client(T.w.srv, T.w.admin, "idempotency A", &T.a_id, NULL);
	T.b = h_vendor_client(T.w.srv, T.w.admin, "idempotency B", &T.b_id, NULL);
	h_product(T.a, "basic", 1000, 1200);
	h_product(T.b, "basic", 1000, 1200);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.b);
	fp_client_free(T.a);
	free(T.a_id);
	free(T.b_id);
	h_world_stop(&T.w);
	return 0;
}

static void test_replay_create_offer(void **state)
{
	long long offers = offers_of(T.a_id), events = events_of(T.a_id);
	resp_t *r1 = NULL, *r2 = NULL;
	h_assert_code(create_keyed(T.a, "ivan", "basic", "key-create-1", &r1), H_OK);
	assert_false(r1->replayed);
	assert_int_equal(offers_of(T.a_id), offers + 1);
	assert_int_equal(events_of(T.a_id), events + 1);

	h_assert_code(create_keyed(T.a, "ivan", "basic", "key-create-1", &r2), H_OK);
	assert_true(r2->replayed);
	assert_string_equal(r2->create_offer->offer->offer_id, r1->create_offer->offer->offer_id);
	assert_same_message(&r1->create_offer->offer->base, &r2->create_offer->offer->base);
	assert_int_equal(offers_of(T.a_id), offers + 1);
	assert_int_equal(events_of(T.a_id), events + 1);
	fp_response_free(r2);

	/* The same key for other fields, or for another call: refused. */
	expect_field_code(create_keyed(T.a, "ivan2", "basic", "key-create-1", NULL), H_PRECONDITION,
			  "idempotency_key");
	Fairpay__V1__AcceptOfferRequest acc = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	acc.offer_id = r1->create_offer->offer->offer_id;
	expect_field_code(
		h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER, &acc, "key-create-1", NULL),
		H_PRECONDITION, "idempotency_key");
	assert_int_equal(offers_of(T.a_id), offers + 1);
	assert_true(h_wait_offer_status(T.a, acc.offer_id, H_STATUS(OPEN), 0));

	/* Keys are per vendor: B may use A's key for its own call. */
	long long b_offers = offers_of(T.b_id);
	h_assert_code(create_keyed(T.b, "ivan", "basic", "key-create-1", &r2), H_OK);
	assert_false(r2->replayed);
	assert_string_not_equal(r2->create_offer->offer->offer_id,
				r1->create_offer->offer->offer_id);
	assert_int_equal(offers_of(T.b_id), b_offers + 1);
	assert_int_equal(offers_of(T.a_id), offers + 1);
	fp_response_free(r2);
	fp_response_free(r1);
}

static void test_replay_payment(void **state)
{
	char *id = h_offer(T.a, "jane", "basic");
	h_accept(T.a, id);
	resp_t *r1 = NULL, *r2 = NULL;
	/* 1000 on SP 1000: 8000 -> 8600. */
	h_assert_code(pay_keyed(T.a, id, 1000, "key-pay-1", &r1), H_OK);
	assert_false(r1->replayed);
	assert_int_equal(r1->submit_payment->reputation->score_bp, 8600);
	long long events = events_of(T.a_id);

	h_assert_code(pay_keyed(T.a, id, 1000, "key-pay-1", &r2), H_OK);
	assert_true(r2->replayed);
	assert_string_equal(r2->submit_payment->payment->payment_id,
			    r1->submit_payment->payment->payment_id);
	assert_int_equal(r2->submit_payment->reputation->score_bp, 8600);
	fp_response_free(r2);
	assert_int_equal(count_sql("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND "
				   "offer_id = '%s'",
				   T.a_id, id),
			 1);
	assert_int_equal(events_of(T.a_id), events);
	resp_t *rep = h_reputation(T.a, "jane");
	assert_int_equal(rep->get_reputation->reputation->payments, 1);
	assert_int_equal(rep->get_reputation->reputation->score_bp, 8600);
	assert_int_equal(rep->get_reputation->reputation->total_paid_minor, 1000);
	fp_response_free(rep);

	/* Without a key, or with a new one: already paid. A refusal under a
	 * key is recorded too, and replayed. */
	expect_field_code(h_pay(T.a, id, 1000, NULL), H_PRECONDITION, "offer_id");
	expect_field_code(pay_keyed(T.a, id, 1000, "key-pay-2", &r2), H_PRECONDITION, "offer_id");
	assert_false(r2->replayed);
	fp_response_free(r2);
	expect_field_code(pay_keyed(T.a, id, 1000, "key-pay-2", &r2), H_PRECONDITION, "offer_id");
	assert_true(r2->replayed);
	fp_response_free(r2);
	assert_int_equal(count_sql("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND "
				   "offer_id = '%s'",
				   T.a_id, id),
			 1);
	rep = h_reputation(T.a, "jane");
	assert_int_equal(rep->get_reputation->reputation->payments, 1);
	fp_response_free(rep);
	fp_response_free(r1);
	free(id);
}

static void test_refusal_replayed(void **state)
{
	/* A FairPay offer paid before it is accepted: refused, under a key. */
	char *id = h_offer(T.a, "kim", "basic");
	resp_t *r = NULL;
	expect_field_code(pay_keyed(T.a, id, 1000, "key-early", &r), H_PRECONDITION, "offer_id");
	assert_false(r->replayed);
	fp_response_free(r);
	h_accept(T.a, id);
	/* The same request again gets the first answer, not a new attempt. */
	expect_field_code(pay_keyed(T.a, id, 1000, "key-early", &r), H_PRECONDITION, "offer_id");
	assert_true(r->replayed);
	fp_response_free(r);
	assert_int_equal(count_sql("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND "
				   "offer_id = '%s'",
				   T.a_id, id),
			 0);
	h_assert_code(pay_keyed(T.a, id, 1000, "key-late-enough", &r), H_OK);
	assert_false(r->replayed);
	fp_response_free(r);
	free(id);
}

static void test_replay_review_and_policy(void **state)
{
	/* A PENDING payment, reviewed under a key twice: one review. */
	char *id = h_offer(T.a, "lena", "basic");
	h_accept(T.a, id);
	Fairpay__V1__PaymentReason dnu[] = { H_PREASON(DID_NOT_USE) };
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = 100;
	m.reasons = dnu;
	m.n_reasons = 1;
	resp_t *r = NULL;
	h_assert_code(h_submit_payment(T.a, &m, NULL, &r), H_OK);
	char *pid = strdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	Fairpay__V1__ReviewPaymentRequest rv = FAIRPAY__V1__REVIEW_PAYMENT_REQUEST__INIT;
	rv.payment_id = pid;
	rv.accept_reasons = true;
	/* Accepted: fairness 10000; [10000]: 8600. */
	h_assert_code(
		h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT, &rv, "key-review", &r),
		H_OK);
	assert_false(r->replayed);
	assert_int_equal(r->review_payment->reputation->score_bp, 8600);
	fp_response_free(r);
	h_assert_code(
		h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT, &rv, "key-review", &r),
		H_OK);
	assert_true(r->replayed);
	assert_int_equal(r->review_payment->payment->review, H_REVIEW(ACCEPTED));
	fp_response_free(r);
	assert_int_equal(count_sql("SELECT count(*) FROM events WHERE vendor_id = '%s' AND "
				   "payment_id = '%s' AND kind = 'PAYMENT_REVIEWED'",
				   T.a_id, pid),
			 1);

	/* PutPolicy under a key twice: one version. */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, late_penalty_bp, LATE_PENALTY_BP, 2500);
	Fairpay__V1__PutPolicyRequest pp = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	pp.policy = &pol;
	h_assert_code(h_vcall(T.b, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &pp, "key-policy", &r),
		      H_OK);
	int64_t version = r->put_policy->policy->version;
	fp_response_free(r);
	h_assert_code(h_vcall(T.b, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &pp, "key-policy", &r),
		      H_OK);
	assert_true(r->replayed);
	assert_int_equal(r->put_policy->policy->version, version);
	fp_response_free(r);
	h_assert_code(h_get_policy(T.b, &r), H_OK);
	assert_int_equal(r->get_policy->policy->version, version);
	fp_response_free(r);
	free(pid);
	free(id);
}

static void test_replay_recurring(void **state)
{
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = "monthly";
	p.name = "Monthly";
	p.currency = "USD";
	p.suggested_price_minor = 1000;
	p.list_price_minor = 1200;
	p.period_days = 30;
	h_must(h_put_product(T.a, &p, NULL), "PutProduct");
	char *id = h_offer(T.a, "mona", "monthly");
	h_accept(T.a, id);
	resp_t *r1 = NULL, *r2 = NULL;
	h_assert_code(pay_keyed(T.a, id, 1000, "key-recurring", &r1), H_OK);
	assert_non_null(r1->submit_payment->next_offer);
	h_assert_code(pay_keyed(T.a, id, 1000, "key-recurring", &r2), H_OK);
	assert_true(r2->replayed);
	assert_non_null(r2->submit_payment->next_offer);
	assert_string_equal(r2->submit_payment->next_offer->offer_id,
			    r1->submit_payment->next_offer->offer_id);
	/* One next period, not two. */
	assert_int_equal(count_sql("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND "
				   "customer_id = '%s'",
				   T.a_id, "mona"),
			 2);
	fp_response_free(r1);
	fp_response_free(r2);
	free(id);
}

/* The record's request_hash as the server computes it (server/handlers/idem.c):
 * SHA-256 of the call's name, a NUL, and the call's packed message. */
static void request_hash(const char *call, const ProtobufCMessage *msg, char out[65])
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len + 1);
	assert_non_null(buf);
	protobuf_c_message_pack(msg, buf);
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, call, strlen(call) + 1), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, buf, len), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	EVP_MD_CTX_free(ctx);
	free(buf);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_in_flight_record(void **state)
{
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = "nora";
	m.sku = "basic";
	char hash[65];
	request_hash("CreateOffer", &m.base, hash);

	/* A first attempt still running on another server holds its record
	 * uncommitted, in its own transaction: the repeat waits for it (at
	 * most the server's lock_timeout) and answers ABORTED, changing
	 * nothing. */
	PGconn *other = PQconnectdb(T.w.db);
	assert_int_equal(PQstatus(other), CONNECTION_OK);
	char *sql = h_fmt("BEGIN; INSERT INTO idempotency (vendor_id, key, call, request_hash,"
			  " state, response) VALUES ('%s', 'key-in-flight', 'CreateOffer', '%s',"
			  " 'DONE', '\\x00')",
			  T.a_id, hash);
	PGresult *res = PQexec(other, sql);
	free(sql);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	long long offers = offers_of(T.a_id);
	h_assert_code(
		h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, "key-in-flight", NULL),
		H_ABORTED);
	assert_int_equal(offers_of(T.a_id), offers);

	/* That server died: its session ended and its record with it. The
	 * call runs, once. */
	PQfinish(other);
	resp_t *r = NULL;
	h_assert_code(
		h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, "key-in-flight", &r),
		H_OK);
	assert_false(r->replayed);
	fp_response_free(r);
	assert_int_equal(offers_of(T.a_id), offers + 1);
	assert_int_equal(count_sql("SELECT count(*) FROM idempotency WHERE vendor_id = '%s' AND "
				   "key = '%s' AND state = 'DONE'",
				   T.a_id, "key-in-flight"),
			 1);

	/* A record of other fields is a reuse of the key. */
	sql = h_fmt("INSERT INTO idempotency (vendor_id, key, call, request_hash, state, response)"
		    " VALUES ('%s', 'key-in-flight-2', 'CreateOffer', '%064d', 'DONE', '\\x00')",
		    T.a_id, 0);
	free(h_sql(T.w.db, sql));
	free(sql);
	expect_field_code(
		h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, "key-in-flight-2", NULL),
		H_PRECONDITION, "idempotency_key");
	assert_int_equal(offers_of(T.a_id), offers + 1);
}

static void test_in_flight_pipelined(void **state)
{
	/* Two identical requests under one key, sent back to back: the second
	 * finds the first either in flight (ABORTED) or done (replayed); in
	 * both cases exactly one offer is made. */
	int aborted = 0, replayed = 0;
	for (int round = 0; round < 5; round++) {
		char key[32];
		snprintf(key, sizeof(key), "key-pipelined-%d", round);
		long long offers = offers_of(T.a_id);
		Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
		m.customer_id = "olga";
		m.sku = "basic";
		Fairpay__V1__Request req[2];
		uint64_t ids[2];
		for (int i = 0; i < 2; i++) {
			fairpay__v1__request__init(&req[i]);
			req[i].idempotency_key = key;
			req[i].call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
			req[i].create_offer = &m;
			assert_int_equal(fp_client_send(T.a, &req[i], &ids[i]), 0);
		}
		resp_t *r[2] = { NULL, NULL };
		for (int i = 0; i < 2; i++) {
			assert_int_equal(fp_client_recv_id(T.a, ids[i], &r[i]), 0);
			assert_non_null(r[i]);
			assert_int_equal(r[i]->id, ids[i]);
		}
		int ok = -1;
		for (int i = 0; i < 2; i++)
			if (r[i]->status->code == H_OK && !r[i]->replayed)
				ok = i;
		if (ok < 0)
			fail_msg("round %d: neither request ran (codes %d and %d)", round,
				 (int)r[0]->status->code, (int)r[1]->status->code);
		resp_t *other = r[1 - ok];
		if (other->status->code == H_ABORTED) {
			aborted++;
			assert_string_equal(other->status->field, "idempotency_key");
		} else if (other->status->code == H_OK && other->replayed) {
			replayed++;
			assert_string_equal(other->create_offer->offer->offer_id,
					    r[ok]->create_offer->offer->offer_id);
		} else {
			fail_msg("round %d: the second request answered %s (replayed %d)", round,
				 h_code_name((int)other->status->code), (int)other->replayed);
		}
		assert_int_equal(offers_of(T.a_id), offers + 1);
		fp_response_free(r[0]);
		fp_response_free(r[1]);
	}
	print_message("pipelined repeats: %d ABORTED, %d replayed\n", aborted, replayed);
}

static void test_sweeper_removes_old_records(void **state)
{
	resp_t *r = NULL;
	h_assert_code(create_keyed(T.a, "pia", "basic", "key-old", &r), H_OK);
	char *first = strdup(r->create_offer->offer->offer_id);
	fp_response_free(r);
	char *sql = h_fmt("UPDATE idempotency SET expires_at = now() - interval '1 second' WHERE "
			  "vendor_id = '%s' AND key = 'key-old'",
			  T.a_id);
	free(h_sql(T.w.db, sql));
	free(sql);
	int64_t deadline = h_now_ms() + 3000;
	while (count_sql("SELECT count(*) FROM idempotency WHERE vendor_id = '%s' AND key = '%s'",
			 T.a_id, "key-old") != 0) {
		if (h_now_ms() > deadline)
			fail_msg("the sweeper did not remove an expired idempotency record in 3 s");
		h_sleep_ms(50);
	}
	/* Other records stay. */
	assert_int_equal(count_sql("SELECT count(*) FROM idempotency WHERE vendor_id = '%s' AND "
				   "key = '%s'",
				   T.a_id, "key-create-1"),
			 1);
	/* The key is free again: the call runs anew. */
	h_assert_code(create_keyed(T.a, "pia", "basic", "key-old", &r), H_OK);
	assert_false(r->replayed);
	assert_string_not_equal(r->create_offer->offer->offer_id, first);
	fp_response_free(r);
	free(first);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_create_offer),
		cmocka_unit_test(test_replay_payment),
		cmocka_unit_test(test_refusal_replayed),
		cmocka_unit_test(test_replay_review_and_policy),
		cmocka_unit_test(test_replay_recurring),
		cmocka_unit_test(test_in_flight_record),
		cmocka_unit_test(test_in_flight_pipelined),
		cmocka_unit_test(test_sweeper_removes_old_records),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
