/* Integration tests of the timed sweeper and what follows from it: offers
 * that expire (no effect on the reputation), accepted offers that default
 * (fairness 0, one open default), payments made after the default (late
 * penalty, the score recomputed from the history) and FIXED_PRICE once
 * max_open_defaults is reached.
 *
 * The server sweeps every 100 ms; policies set payment_window_seconds or
 * offer_ttl_seconds to 1, so each wait is a little over a second. Scores
 * follow rule 7 with alpha 3000, truncated toward zero. */
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

#include "harness.h"

#define WAIT_MS 3000

static struct {
	h_world w; /* db, admin_key, srv, admin */
} T;

typedef Fairpay__V1__Response resp_t;

/* A vendor with product "basic" (SP 1000, list 1200) and a policy whose
 * payment window and offer lifetime are given in seconds (0: default). */
static fp_client *vendor(const char *name, int64_t window_s, int64_t ttl_s, int32_t low_score,
			 char **vendor_id)
{
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, name, vendor_id, NULL);
	h_product(c, "basic", 1000, 1200);
	Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
	if (window_s > 0)
		H_POLICY_SET(&p, payment_window_seconds, PAYMENT_WINDOW_SECONDS, window_s);
	if (ttl_s > 0)
		H_POLICY_SET(&p, offer_ttl_seconds, OFFER_TTL_SECONDS, ttl_s);
	if (low_score >= 0)
		H_POLICY_SET(&p, low_score_bp, LOW_SCORE_BP, low_score);
	h_must(h_put_policy(c, &p, false, NULL), "PutPolicy");
	return c;
}

static void wait_status(fp_client *c, const char *offer_id, int status, const char *name)
{
	if (!h_wait_offer_status(c, offer_id, status, WAIT_MS))
		fail_msg("offer %s did not become %s within %d ms", offer_id, name, WAIT_MS);
}

static void expect_rep(const Fairpay__V1__Reputation *r, int32_t score, int tier, int32_t payments,
		       int32_t defaults, int32_t open_defaults)
{
	if (r->score_bp != score || (int)r->tier != tier || r->payments != payments ||
	    r->defaults != defaults || r->open_defaults != open_defaults)
		fail_msg("reputation of %s: score %d tier %d payments %d defaults %d open %d; want "
			 "%d %d %d %d %d",
			 r->customer_id, r->score_bp, (int)r->tier, r->payments, r->defaults,
			 r->open_defaults, score, tier, payments, defaults, open_defaults);
}

/* The kinds of a customer's events, as a string of numbers. */
static char *event_kinds(fp_client *c, const char *customer, const char *offer_id)
{
	resp_t *r = NULL;
	h_must(h_list_events(c, customer, 0, 0, &r), "ListCustomerEvents");
	char buf[512] = "";
	for (size_t i = 0; i < r->list_customer_events->n_events; i++) {
		Fairpay__V1__Event *e = r->list_customer_events->events[i];
		if (offer_id != NULL && strcmp(e->offer_id, offer_id) != 0 &&
		    e->kind != H_EVENT(REPUTATION_CHANGED))
			continue;
		size_t used = strlen(buf);
		snprintf(buf + used, sizeof(buf) - used, "%s%d", used ? "," : "", (int)e->kind);
	}
	fp_response_free(r);
	return strdup(buf);
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_sweeper", "--sweep-interval-ms", "100", NULL);
	return 0;
}

static int teardown(void **state)
{
	h_world_stop(&T.w);
	return 0;
}

static void test_default_then_late_payment(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("late", 1, 0, -1, &vid);

	/* A first cycle paid at once: raw 15000; 8000 + 7000 * 0.3 = 10100. */
	resp_t *r = h_cycle(c, "lara", "basic", 1500);
	assert_int_equal(r->submit_payment->reputation->score_bp, 10100);
	fp_response_free(r);

	char *id = h_offer(c, "lara", "basic");
	r = NULL;
	h_must(h_accept_offer(c, id, &r), "AcceptOffer");
	/* pay_by = accepted + 1 s. */
	int64_t window =
		r->accept_offer->offer->pay_by_unix_ms - r->accept_offer->offer->created_at_unix_ms;
	assert_true(window >= 1000 && window <= 6000);
	fp_response_free(r);
	wait_status(c, id, H_STATUS(DEFAULTED), "DEFAULTED");

	/* The default is a closed cycle of fairness 0:
	 * 10100 + (0 - 10100) * 0.3 = 7070; one open default; credit freed;
	 * open 1 < 2, 7070 >= 5000, 1 payment: PROBATION. */
	r = h_reputation(c, "lara");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	expect_rep(rep, 7070, H_TIER(PROBATION), 1, 1, 1);
	assert_int_equal(rep->credit_used_minor, 0);
	assert_int_equal(rep->offers_accepted, 2);
	assert_true(rep->n_explanation > 0);
	fp_response_free(r);
	char *kinds = event_kinds(c, "lara", id);
	/* The first cycle's score change, then this offer's life and the
	 * default's score change. */
	char *want = h_fmt("%d,%d,%d,%d,%d", H_EVENT(REPUTATION_CHANGED), H_EVENT(OFFER_CREATED),
			   H_EVENT(OFFER_ACCEPTED), H_EVENT(OFFER_DEFAULTED),
			   H_EVENT(REPUTATION_CHANGED));
	assert_string_equal(kinds, want);
	free(kinds);
	free(want);

	/* Paid late at SP: raw 10000, fairness 10000 - 2000 = 8000, FAIR, late.
	 * The default leaves the history; the cycle closes now with 8000.
	 * Recomputed over 15000, 8000: 8000 -> 10100 -> 10100 - 2100 * 0.3 =
	 * 9470. open_defaults 0, defaults stays 1. */
	r = NULL;
	h_assert_code(h_pay(c, id, 1000, &r), H_OK);
	Fairpay__V1__Payment *p = r->submit_payment->payment;
	assert_true(p->late);
	assert_int_equal(p->amount_minor, 1000);
	assert_int_equal(p->raw_fairness_bp, 10000);
	assert_int_equal(p->fairness_bp, 8000);
	assert_int_equal(p->verdict, H_VERDICT(FAIR));
	assert_int_equal(p->review, H_REVIEW(NOT_NEEDED));
	rep = r->submit_payment->reputation;
	expect_rep(rep, 9470, H_TIER(PROBATION), 2, 1, 0);
	assert_int_equal(rep->credit_used_minor, 0);
	assert_int_equal(rep->total_paid_minor, 2500);
	assert_int_equal(rep->total_suggested_minor, 2000);
	fp_response_free(r);
	assert_true(h_wait_offer_status(c, id, H_STATUS(PAID), 0));
	h_assert_code(h_pay(c, id, 1000, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	char *sql =
		h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND offer_id = '%s'",
		      vid, id);
	assert_int_equal(h_sql_int(T.w.db, sql), 1);
	free(sql);

	/* Stable: a later sweep changes nothing. */
	h_sleep_ms(300);
	r = h_reputation(c, "lara");
	expect_rep(r->get_reputation->reputation, 9470, H_TIER(PROBATION), 2, 1, 0);
	fp_response_free(r);
	free(id);
	fp_client_free(c);
	free(vid);
}

static void test_late_excused_then_reviewed(void **state)
{
	fp_client *c = vendor("late review", 1, 0, -1, NULL);
	char *id = h_offer(c, "lenny", "basic");
	h_accept(c, id);
	wait_status(c, id, H_STATUS(DEFAULTED), "DEFAULTED");
	resp_t *r = h_reputation(c, "lenny"); /* 8000 - 8000 * 0.3 = 5600 */
	expect_rep(r->get_reputation->reputation, 5600, H_TIER(PROBATION), 0, 1, 1);
	fp_response_free(r);

	/* 100 on SP 1000 with DID_NOT_USE, late: raw 1000, excused to 8000,
	 * then the penalty: 6000, PENDING, LOW. History [6000]:
	 * 8000 - 2000 * 0.3 = 7400. */
	Fairpay__V1__PaymentReason dnu[] = { H_PREASON(DID_NOT_USE) };
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = 100;
	m.reasons = dnu;
	m.n_reasons = 1;
	h_assert_code(h_submit_payment(c, &m, NULL, &r), H_OK);
	Fairpay__V1__Payment *p = r->submit_payment->payment;
	assert_true(p->late);
	assert_int_equal(p->raw_fairness_bp, 1000);
	assert_int_equal(p->fairness_bp, 6000);
	assert_int_equal(p->review, H_REVIEW(PENDING));
	assert_int_equal(p->verdict, H_VERDICT(LOW));
	expect_rep(r->submit_payment->reputation, 7400, H_TIER(PROBATION), 1, 1, 0);
	char *pid = strdup(p->payment_id);
	fp_response_free(r);

	/* Accepted: max(1000, 10000) = 10000, and late again: 8000, FAIR.
	 * History [8000]: 8000. */
	h_assert_code(h_review_payment(c, pid, true, NULL, &r), H_OK);
	p = r->review_payment->payment;
	assert_true(p->late);
	assert_int_equal(p->fairness_bp, 8000);
	assert_int_equal(p->review, H_REVIEW(ACCEPTED));
	assert_int_equal(p->verdict, H_VERDICT(FAIR));
	expect_rep(r->review_payment->reputation, 8000, H_TIER(PROBATION), 1, 1, 0);
	fp_response_free(r);
	free(pid);
	free(id);
	fp_client_free(c);
}

static void test_expiry(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("expiry", 0, 1, -1, &vid);
	h_product(c, "pricey", 5000, 6000);

	char *id = h_offer(c, "eve", "basic");
	/* A SET_PRICE offer (5000 > the 2000 of probation credit) expires too. */
	char *sp = h_offer(c, "eve", "pricey");
	wait_status(c, id, H_STATUS(EXPIRED), "EXPIRED");
	wait_status(c, sp, H_STATUS(EXPIRED), "EXPIRED");

	/* No effect on the reputation: still the prior. */
	resp_t *r = h_reputation(c, "eve");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	expect_rep(rep, 8000, H_TIER(PROBATION), 0, 0, 0);
	assert_int_equal(rep->offers_accepted, 0);
	assert_int_equal(rep->credit_used_minor, 0);
	fp_response_free(r);
	char *kinds = event_kinds(c, "eve", id);
	char *want = h_fmt("%d,%d", H_EVENT(OFFER_CREATED), H_EVENT(OFFER_EXPIRED));
	assert_string_equal(kinds, want);
	free(kinds);
	free(want);
	char *sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s' AND customer_id = "
			  "'eve' AND kind = 'REPUTATION_CHANGED'",
			  vid);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);

	/* Nothing moves an expired offer. */
	h_assert_code(h_accept_offer(c, id, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	h_assert_code(h_decline_offer(c, id, NULL), H_PRECONDITION);
	h_assert_code(h_pay(c, id, 1000, NULL), H_PRECONDITION);
	h_assert_code(h_pay(c, sp, 6000, NULL), H_PRECONDITION);
	assert_true(h_wait_offer_status(c, id, H_STATUS(EXPIRED), 0));
	free(id);
	free(sp);
	fp_client_free(c);
	free(vid);
}

static void test_accept_past_expiry_before_sweep(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("past expiry", 0, 0, -1, &vid);
	char *id = h_offer(c, "ezra", "basic");
	/* Past its expiry, whether or not the sweeper got to it yet. */
	char *sql = h_fmt("UPDATE offers SET created_at = now() - interval '2 hours', expires_at = "
			  "now() - interval '1 second' WHERE vendor_id = '%s' AND id = '%s'",
			  vid, id);
	free(h_sql(T.w.db, sql));
	free(sql);
	h_assert_code(h_accept_offer(c, id, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	wait_status(c, id, H_STATUS(EXPIRED), "EXPIRED");
	resp_t *r = h_reputation(c, "ezra");
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 0);
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 0);
	fp_response_free(r);
	free(id);
	fp_client_free(c);
	free(vid);
}

static void test_max_open_defaults(void **state)
{
	/* low_score_bp 3000, so that only the open defaults decide. */
	fp_client *c = vendor("open defaults", 1, 0, 3000, NULL);
	char *a = h_offer(c, "dan", "basic");
	char *b = h_offer(c, "dan", "basic");
	h_accept(c, a);
	h_accept(c, b); /* 2000 of 2000 in use */
	wait_status(c, a, H_STATUS(DEFAULTED), "DEFAULTED");
	wait_status(c, b, H_STATUS(DEFAULTED), "DEFAULTED");

	/* 8000 -> 5600 -> 3920; 2 open defaults >= max 2: FIXED_PRICE. */
	resp_t *r = h_reputation(c, "dan");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	expect_rep(rep, 3920, H_TIER(FIXED_PRICE), 0, 2, 2);
	assert_int_equal(rep->credit_limit_minor, 0);
	assert_int_equal(rep->credit_used_minor, 0);
	fp_response_free(r);

	r = NULL;
	h_must(h_create_offer(c, "dan", "basic", NULL, &r), "CreateOffer");
	Fairpay__V1__Offer *o = r->create_offer->offer;
	assert_int_equal(o->mode, H_MODE(SET_PRICE));
	assert_int_equal(o->set_price_minor, 1200);
	assert_int_equal(o->tier, H_TIER(FIXED_PRICE));
	h_assert_reasons(o, 1, H_OREASON(OPEN_DEFAULTS));
	fp_response_free(r);

	/* One paid late: 8000 after the penalty. The other default stays in
	 * the history before it: [0, 8000]: 5600 -> 5600 + 2400 * 0.3 = 6320.
	 * One open default left, below the maximum: PROBATION again. */
	h_assert_code(h_pay(c, b, 1000, &r), H_OK);
	assert_true(r->submit_payment->payment->late);
	assert_int_equal(r->submit_payment->payment->fairness_bp, 8000);
	expect_rep(r->submit_payment->reputation, 6320, H_TIER(PROBATION), 1, 2, 1);
	fp_response_free(r);
	h_must(h_create_offer(c, "dan", "basic", NULL, &r), "CreateOffer");
	assert_int_equal(r->create_offer->offer->mode, H_MODE(FAIRPAY));
	h_assert_reasons(r->create_offer->offer, 1, H_OREASON(PROBATION));
	fp_response_free(r);
	free(a);
	free(b);
	fp_client_free(c);
}

/* Requests on one raw connection, written as one TLS record so that the
 * server receives all of them or none. */
#define BACKLOG_CLIENTS 4
#define BACKLOG_CALLS 16

static void write_offers(h_tls *t, uint64_t first_id, const char *customer)
{
	uint8_t buf[BACKLOG_CALLS * 128];
	size_t used = 0;
	for (int i = 0; i < BACKLOG_CALLS; i++) {
		Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
		co.customer_id = (char *)customer;
		co.sku = "basic";
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = first_id + (uint64_t)i;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
		req.create_offer = &co;
		size_t n = fairpay__v1__request__get_packed_size(&req);
		assert_true(used + 4 + n <= sizeof(buf));
		buf[used] = (uint8_t)(n >> 24);
		buf[used + 1] = (uint8_t)(n >> 16);
		buf[used + 2] = (uint8_t)(n >> 8);
		buf[used + 3] = (uint8_t)n;
		fairpay__v1__request__pack(&req, buf + used + 4);
		used += 4 + n;
	}
	h_tls_write(t, buf, used);
}

/* SIGTERM while the sweeper works through a backlog (a full batch in flight,
 * more due at once) and clients wait for replies: every call received is
 * answered, then the server exits 0. */
static void test_sigterm_with_sweeper_backlog(void **state)
{
	h_server *s =
		h_server_start(T.w.db, "--sweep-interval-ms", "10", "--sweep-batch", "10", NULL);
	fp_client *admin = h_connect_auth(s, T.w.admin_key);
	char *vid = NULL, *key = NULL;
	fp_client *c = h_vendor_client(s, admin, "backlog", &vid, &key);
	h_product(c, "basic", 1000, 1200);

	/* Accepted offers of 30 customers due to default, and 20000 open
	 * offers past their expiry: hundreds of full rounds. */
	for (int i = 0; i < 30; i++) {
		char customer[32];
		snprintf(customer, sizeof(customer), "debtor-%02d", i);
		char *id = h_offer(c, customer, "basic");
		h_accept(c, id);
		free(id);
	}
	char *sql = h_fmt("INSERT INTO offers (vendor_id, id, customer_id, sku, mode, currency,"
			  " suggested_price_minor, tier, created_at, expires_at)"
			  " SELECT vendor_id, 'o_f' || lpad(to_hex(g), 15, '0'), customer_id, sku,"
			  " mode, currency, suggested_price_minor, tier,"
			  " now() - interval '1 hour', now() - interval '1 minute'"
			  " FROM offers, generate_series(1, 20000) g"
			  " WHERE vendor_id = '%s' AND customer_id = 'debtor-00'",
			  vid);
	free(h_sql(T.w.db, sql));
	free(sql);
	sql = h_fmt("UPDATE offers SET pay_by = now() - interval '1 second' WHERE vendor_id = '%s'"
		    " AND status = 'ACCEPTED'",
		    vid);
	free(h_sql(T.w.db, sql));
	free(sql);
	/* The sweeper is at work: the first offers expire. */
	sql = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = 'EXPIRED'",
		    vid);
	int64_t until = h_now_ms() + WAIT_MS;
	while (h_sql_int(T.w.db, sql) == 0 && h_now_ms() < until)
		h_sleep_ms(10);
	assert_true(h_sql_int(T.w.db, sql) > 0);
	free(sql);

	h_tls *t[BACKLOG_CLIENTS];
	int replies[BACKLOG_CLIENTS];
	for (int i = 0; i < BACKLOG_CLIENTS; i++) {
		t[i] = h_tls_connect(s->port);
		h_assert_code(h_tls_auth(t[i], 1, key), H_OK);
		char customer[32];
		snprintf(customer, sizeof(customer), "caller-%d", i);
		write_offers(t[i], 100, customer);
	}
	/* Each connection's first reply: its requests are in the server. */
	for (int i = 0; i < BACKLOG_CLIENTS; i++) {
		Fairpay__V1__Response *r = NULL;
		assert_int_equal(h_tls_read(t[i], 10000, &r), H_READ_FRAME);
		assert_int_equal(r->status ? (int)r->status->code : H_OK, H_OK);
		fairpay__v1__response__free_unpacked(r, NULL);
		replies[i] = 1;
	}
	assert_int_equal(kill(s->pid, SIGTERM), 0);
	for (int i = 0; i < BACKLOG_CLIENTS; i++) {
		Fairpay__V1__Response *r = NULL;
		h_read got;
		while ((got = h_tls_read(t[i], 10000, &r)) == H_READ_FRAME) {
			if (r->status != NULL && r->status->code != H_OK)
				fail_msg("connection %d, request %llu: %s (%s)", i,
					 (unsigned long long)r->id, h_code_name(r->status->code),
					 r->status->message);
			fairpay__v1__response__free_unpacked(r, NULL);
			r = NULL;
			replies[i]++;
		}
		if (replies[i] != BACKLOG_CALLS)
			fail_msg("connection %d: %d of %d replies, then %d", i, replies[i],
				 BACKLOG_CALLS, (int)got);
		h_tls_close(t[i]);
	}
	int status = h_server_stop(s, 0);
	char *log = h_server_log(s);
	if (status != 0)
		fail_msg("exit status %d after SIGTERM; log:\n%s", status, log);
	/* The round in flight at SIGTERM ended before the server stopped. */
	const char *term = strstr(log, "SIGTERM: no longer accepting");
	assert_non_null(term);
	const char *waited = strstr(term, "and the sweeper's round");
	const char *stopped = strstr(term, " stopped");
	const char *swept = strstr(term, " sweep: ");
	if (waited == NULL || stopped == NULL || swept == NULL || swept > stopped)
		fail_msg("the sweeper's round did not end before the server stopped:\n%s", term);
	free(log);
	/* It stopped with offers still due: the backlog was there. */
	sql = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = 'OPEN'"
		    " AND expires_at < now()",
		    vid);
	assert_true(h_sql_int(T.w.db, sql) > 0);
	free(sql);
	fp_client_free(c);
	fp_client_free(admin);
	h_server_free(s);
	free(vid);
	free(key);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
	char *log = h_server_log(T.w.srv);
	if (h_contains(log, "sweep failed"))
		fail_msg("the sweeper logged a failure:\n%s", log);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_then_late_payment),
		cmocka_unit_test(test_late_excused_then_reviewed),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_accept_past_expiry_before_sweep),
		cmocka_unit_test(test_max_open_defaults),
		cmocka_unit_test(test_clean_shutdown),
		/* Its own server, with the shared one stopped: none but it sweeps. */
		cmocka_unit_test(test_sigterm_with_sweeper_backlog),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
