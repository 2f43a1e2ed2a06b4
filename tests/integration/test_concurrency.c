/* Integration tests of concurrency: two fairpayd processes on one database,
 * many connections in parallel, each pipelining its requests, all working on
 * ONE customer. Afterwards the reputation must be exactly what replaying the
 * history in time order gives (rule 7), the credit must never have been
 * overdrawn (rule 9), and no offer may have been paid twice.
 *
 * Worker threads use libfairpay directly, one client each (the library is
 * not thread-safe per client, and cmocka's checks belong to the main thread):
 * they record what went wrong, and the main thread asserts. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CYCLES 200
#define WORKERS 8
#define BATCH 5 /* cycles pipelined at once on one connection */
#define RACERS 10

static struct {
	char *db;
	char *admin_key;
	h_server *srv[2];
	fp_client *admin;
} T;

typedef Fairpay__V1__Response resp_t;

/* Cycle i pays 500 + (i * 37) % 1500 on SP 1000: fairness 5000 to 19990,
 * capped at 15000 in the score, so the order of the cycles matters. */
static int64_t amount_of(int i)
{
	return 500 + (int64_t)((i * 37) % 1500);
}

typedef struct worker {
	fp_client *c;
	const char *customer;
	int first; /* cycle indexes first .. first + count - 1 */
	int count;
	int paid;
	int64_t paid_minor;
	char err[512];
} worker;

/* Send n requests at once, then collect the n replies (any order); false
 * with w->err set on a failure or a non-OK status. */
static bool pipeline(worker *w, Fairpay__V1__Request *req, resp_t **resp, int n, const char *what)
{
	uint64_t ids[BATCH];
	for (int i = 0; i < n; i++) {
		req[i].id = 0;
		if (fp_client_send(w->c, &req[i], &ids[i]) != 0) {
			snprintf(w->err, sizeof(w->err), "%s: send: %s", what,
				 fp_client_error_message(w->c));
			return false;
		}
	}
	bool ok = true;
	for (int i = 0; i < n; i++) {
		resp[i] = NULL;
		if (fp_client_recv_id(w->c, ids[i], &resp[i]) != 0 || resp[i] == NULL) {
			snprintf(w->err, sizeof(w->err), "%s: recv: %s", what,
				 fp_client_error_message(w->c));
			return false;
		}
		int code = resp[i]->status ? (int)resp[i]->status->code : 0;
		if (ok && code != H_OK) {
			snprintf(w->err, sizeof(w->err), "%s answered %s: %s (field %s)", what,
				 fp_code_name(code), resp[i]->status->message,
				 resp[i]->status->field);
			ok = false;
		}
	}
	return ok;
}

static void free_all(resp_t **resp, int n)
{
	for (int i = 0; i < n; i++) {
		fp_response_free(resp[i]);
		resp[i] = NULL;
	}
}

static void *run_cycles(void *arg)
{
	worker *w = arg;
	for (int done = 0; done < w->count && w->err[0] == '\0'; done += BATCH) {
		int n = w->count - done < BATCH ? w->count - done : BATCH;
		Fairpay__V1__Request req[BATCH];
		resp_t *resp[BATCH] = { NULL };
		char ids[BATCH][32];
		Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
		co.customer_id = (char *)w->customer;
		co.sku = "basic";
		for (int i = 0; i < n; i++) {
			fairpay__v1__request__init(&req[i]);
			req[i].call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
			req[i].create_offer = &co;
		}
		bool ok = pipeline(w, req, resp, n, "CreateOffer");
		for (int i = 0; ok && i < n; i++) {
			Fairpay__V1__Offer *o = resp[i]->create_offer->offer;
			if (o->mode != H_MODE(FAIRPAY)) {
				snprintf(w->err, sizeof(w->err), "offer %s has mode %d",
					 o->offer_id, (int)o->mode);
				ok = false;
			}
			snprintf(ids[i], sizeof(ids[i]), "%s", o->offer_id);
		}
		free_all(resp, n);
		if (!ok)
			break;

		Fairpay__V1__AcceptOfferRequest ao[BATCH];
		for (int i = 0; i < n; i++) {
			fairpay__v1__accept_offer_request__init(&ao[i]);
			ao[i].offer_id = ids[i];
			fairpay__v1__request__init(&req[i]);
			req[i].call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
			req[i].accept_offer = &ao[i];
		}
		ok = pipeline(w, req, resp, n, "AcceptOffer");
		free_all(resp, n);
		if (!ok)
			break;

		Fairpay__V1__SubmitPaymentRequest sp[BATCH];
		for (int i = 0; i < n; i++) {
			fairpay__v1__submit_payment_request__init(&sp[i]);
			sp[i].offer_id = ids[i];
			sp[i].amount_case =
				FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
			sp[i].amount_minor = amount_of(w->first + done + i);
			fairpay__v1__request__init(&req[i]);
			req[i].call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
			req[i].submit_payment = &sp[i];
		}
		ok = pipeline(w, req, resp, n, "SubmitPayment");
		for (int i = 0; ok && i < n; i++) {
			w->paid++;
			w->paid_minor += resp[i]->submit_payment->payment->amount_minor;
		}
		free_all(resp, n);
	}
	return NULL;
}

/* One call made by several threads at the same moment. */
typedef struct racer {
	fp_client *c;
	pthread_barrier_t *go;
	Fairpay__V1__Request req;
	Fairpay__V1__AcceptOfferRequest accept;
	Fairpay__V1__SubmitPaymentRequest pay;
	int code; /* H_NO_REPLY when no reply came */
	char field[64];
} racer;

static void *run_racer(void *arg)
{
	racer *r = arg;
	resp_t *resp = NULL;
	pthread_barrier_wait(r->go);
	int rc = fp_client_call(r->c, &r->req, &resp);
	r->code = resp != NULL && resp->status != NULL ? (int)resp->status->code
						       : (rc == 0 ? H_OK : H_NO_REPLY);
	snprintf(r->field, sizeof(r->field), "%s",
		 resp != NULL && resp->status != NULL ? resp->status->field : "");
	fp_response_free(resp);
	return NULL;
}

/* Start n racers, release them together, wait for all. */
static void race(racer *r, int n)
{
	pthread_barrier_t go;
	pthread_t th[RACERS];
	assert_true(n <= RACERS);
	assert_int_equal(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
	for (int i = 0; i < n; i++) {
		r[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, run_racer, &r[i]), 0);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&go);
}

static int setup(void **state)
{
	T.db = h_db_create("fp_it_concurrency");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv[0] = h_server_start(T.db, NULL);
	T.srv[1] = h_server_start(T.db, NULL);
	T.admin = h_connect_auth(T.srv[0], T.admin_key);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.admin);
	h_server_free(T.srv[0]);
	h_server_free(T.srv[1]);
	free(T.admin_key);
	free(T.db);
	return 0;
}

/* The fairness values of a customer's payments in time order, the order
 * rule 7 applies them in (ties broken by id). */
static int32_t *history(const char *vendor_id, const char *customer, size_t *n)
{
	char *sql = h_fmt("SELECT string_agg(fairness_bp::text, ',' ORDER BY created_at, id) FROM "
			  "payments WHERE vendor_id = '%s' AND customer_id = '%s'",
			  vendor_id, customer);
	char *list = h_sql(T.db, sql);
	free(sql);
	assert_non_null(list);
	int32_t *f = calloc(CYCLES + 1, sizeof(*f));
	assert_non_null(f);
	size_t k = 0;
	for (char *p = list; *p != '\0' && k <= CYCLES;) {
		char *end = NULL;
		f[k++] = (int32_t)strtol(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	free(list);
	*n = k;
	return f;
}

static void test_one_customer_two_servers(void **state)
{
	char *vid = NULL, *key = NULL;
	fp_client *c = h_vendor_client(T.srv[0], T.admin, "concurrency", &vid, &key);
	h_product(c, "basic", 1000, 1200);
	/* Credit for many cycles in flight; fair_score_bp 0 and low_score_bp 0
	 * keep every offer FAIRPAY (never RESTRICTED or FIXED_PRICE). */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, low_score_bp, LOW_SCORE_BP, 0);
	H_POLICY_SET(&pol, fair_score_bp, FAIR_SCORE_BP, 0);
	H_POLICY_SET(&pol, probation_credit_minor, PROBATION_CREDIT_MINOR, 1000000000);
	H_POLICY_SET(&pol, standard_credit_minor, STANDARD_CREDIT_MINOR, 1000000000);
	H_POLICY_SET(&pol, trusted_credit_minor, TRUSTED_CREDIT_MINOR, 1000000000);
	h_must(h_put_policy(c, &pol, false, NULL), "PutPolicy");

	worker w[WORKERS];
	pthread_t th[WORKERS];
	memset(w, 0, sizeof(w));
	int64_t want_paid = 0;
	for (int i = 0; i < CYCLES; i++)
		want_paid += amount_of(i);
	for (int i = 0; i < WORKERS; i++) {
		w[i].c = h_connect_auth(T.srv[i % 2], key);
		w[i].customer = "crowd";
		w[i].first = i * (CYCLES / WORKERS);
		w[i].count = CYCLES / WORKERS;
	}
	int64_t t0 = h_now_ms();
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run_cycles, &w[i]), 0);
	int paid = 0;
	int64_t paid_minor = 0;
	for (int i = 0; i < WORKERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (w[i].err[0] != '\0')
			fail_msg("worker %d (server %d): %s", i, i % 2, w[i].err);
		paid += w[i].paid;
		paid_minor += w[i].paid_minor;
	}
	print_message("%d cycles on 2 servers, %d connections: %lld ms\n", CYCLES, WORKERS,
		      (long long)(h_now_ms() - t0));
	assert_int_equal(paid, CYCLES);
	assert_int_equal(paid_minor, want_paid);

	resp_t *r = h_reputation(c, "crowd");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	assert_int_equal(rep->payments, CYCLES);
	assert_int_equal(rep->offers_accepted, CYCLES);
	assert_int_equal(rep->defaults, 0);
	assert_int_equal(rep->credit_used_minor, 0);
	assert_int_equal(rep->total_paid_minor, want_paid);
	assert_int_equal(rep->total_suggested_minor, CYCLES * 1000);

	/* The score equals the sequential replay of the 200 fairness values in
	 * the order the payments were applied. */
	size_t n = 0;
	int32_t *f = history(vid, "crowd", &n);
	assert_int_equal(n, CYCLES);
	for (int i = 0; i < CYCLES; i++)
		assert_true(f[i] >= 5000 && f[i] <= 20000);
	int32_t want = h_score_replay(8000, 3000, f, n);
	if (rep->score_bp != want)
		fail_msg("score %d after %d concurrent cycles, replay in time order gives %d",
			 rep->score_bp, CYCLES, want);
	/* And the row itself agrees. */
	char *sql =
		h_fmt("SELECT score_bp FROM reputations WHERE vendor_id = '%s' AND customer_id = "
		      "'crowd'",
		      vid);
	assert_int_equal(h_sql_int(T.db, sql), want);
	free(sql);
	sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s' AND customer_id = 'crowd' "
		    "AND kind = 'PAYMENT_RECEIVED'",
		    vid);
	assert_int_equal(h_sql_int(T.db, sql), CYCLES);
	free(sql);
	sql = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND customer_id = 'crowd' "
		    "AND status = 'PAID'",
		    vid);
	assert_int_equal(h_sql_int(T.db, sql), CYCLES);
	free(sql);
	free(f);
	fp_response_free(r);
	for (int i = 0; i < WORKERS; i++)
		fp_client_free(w[i].c);
	fp_client_free(c);
	free(key);
	free(vid);
}

static void test_credit_never_overdrawn(void **state)
{
	char *vid = NULL, *key = NULL;
	fp_client *c = h_vendor_client(T.srv[0], T.admin, "credit race", &vid, &key);
	h_product(c, "basic", 1000, 1200);
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, probation_credit_minor, PROBATION_CREDIT_MINOR, 3000);
	h_must(h_put_policy(c, &pol, false, NULL), "PutPolicy");

	/* Ten offers made while nothing is in use: all FairPay. */
	racer r[RACERS];
	memset(r, 0, sizeof(r));
	char *ids[RACERS];
	for (int i = 0; i < RACERS; i++) {
		ids[i] = h_offer(c, "racer", "basic");
		r[i].c = h_connect_auth(T.srv[i % 2], key);
		fairpay__v1__request__init(&r[i].req);
		fairpay__v1__accept_offer_request__init(&r[i].accept);
		r[i].accept.offer_id = ids[i];
		r[i].req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
		r[i].req.accept_offer = &r[i].accept;
	}
	/* All accepted at once, across both servers: 3 x 1000 fit in 3000. */
	race(r, RACERS);
	int ok = 0, refused = 0;
	for (int i = 0; i < RACERS; i++) {
		if (r[i].code == H_OK) {
			ok++;
		} else if (r[i].code == H_PRECONDITION) {
			refused++;
			assert_string_equal(r[i].field, "offer_id");
		} else {
			fail_msg("AcceptOffer %d answered %s", i, h_code_name(r[i].code));
		}
	}
	assert_int_equal(ok, 3);
	assert_int_equal(refused, RACERS - 3);
	resp_t *rep = h_reputation(c, "racer");
	assert_int_equal(rep->get_reputation->reputation->credit_used_minor, 3000);
	assert_int_equal(rep->get_reputation->reputation->offers_accepted, 3);
	fp_response_free(rep);
	char *sql = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND customer_id = "
			  "'racer' AND status = 'ACCEPTED'",
			  vid);
	assert_int_equal(h_sql_int(T.db, sql), 3);
	free(sql);
	for (int i = 0; i < RACERS; i++) {
		fp_client_free(r[i].c);
		free(ids[i]);
	}
	fp_client_free(c);
	free(key);
	free(vid);
}

static void test_payment_never_twice(void **state)
{
	char *vid = NULL, *key = NULL;
	fp_client *c = h_vendor_client(T.srv[0], T.admin, "payment race", &vid, &key);
	h_product(c, "basic", 1000, 1200);
	fp_client *pair[2] = { h_connect_auth(T.srv[0], key), h_connect_auth(T.srv[1], key) };
	/* Ten rounds: the same offer paid from both servers at the same moment. */
	for (int round = 0; round < 10; round++) {
		char *id = h_offer(c, "twice", "basic");
		h_accept(c, id);
		racer r[2];
		memset(r, 0, sizeof(r));
		for (int i = 0; i < 2; i++) {
			r[i].c = pair[i];
			fairpay__v1__request__init(&r[i].req);
			fairpay__v1__submit_payment_request__init(&r[i].pay);
			r[i].pay.offer_id = id;
			r[i].pay.amount_case =
				FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
			r[i].pay.amount_minor = 1000;
			r[i].req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
			r[i].req.submit_payment = &r[i].pay;
		}
		race(r, 2);
		int ok = (r[0].code == H_OK) + (r[1].code == H_OK);
		int refused = (r[0].code == H_PRECONDITION) + (r[1].code == H_PRECONDITION);
		if (ok != 1 || refused != 1)
			fail_msg("round %d: the two payments answered %s and %s", round,
				 h_code_name(r[0].code), h_code_name(r[1].code));
		char *sql =
			h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND offer_id "
			      "= '%s'",
			      vid, id);
		assert_int_equal(h_sql_int(T.db, sql), 1);
		free(sql);
		free(id);
	}
	resp_t *rep = h_reputation(c, "twice");
	assert_int_equal(rep->get_reputation->reputation->payments, 10);
	assert_int_equal(rep->get_reputation->reputation->credit_used_minor, 0);
	/* Ten payments at SP: 8000 -> 8600 -> 9020 -> ... (replayed). */
	int32_t f[10] = { 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000 };
	assert_int_equal(rep->get_reputation->reputation->score_bp,
			 h_score_replay(8000, 3000, f, 10));
	fp_response_free(rep);
	fp_client_free(pair[0]);
	fp_client_free(pair[1]);
	fp_client_free(c);
	free(key);
	free(vid);
}

static void test_clean_shutdown(void **state)
{
	for (int i = 0; i < 2; i++) {
		assert_true(h_server_alive(T.srv[i]));
		assert_int_equal(h_server_stop(T.srv[i], SIGTERM), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_customer_two_servers),
		cmocka_unit_test(test_credit_never_overdrawn),
		cmocka_unit_test(test_payment_never_twice),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
