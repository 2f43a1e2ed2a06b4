/* Integration tests of tenant isolation and of the server's database role.
 *
 * Vendor A has products, a policy, offers in every state, payments (one of
 * them waiting for review), customers and idempotency records. Vendor B then
 * makes every call that names an id, a sku or a customer with A's, and must
 * get exactly the answer it gets for a missing one of the same shape, see
 * none of A's data and change none of A's rows. Keys of the wrong role get
 * PERMISSION_DENIED. Finally the role fairpayd runs as (fairpay_app, made by
 * migrations/0003_app_role.sql) may read and append the ledger but never
 * rewrite it, and the server really works as that role; it logs in as a
 * role that is no more than that (so that leaving the role gains nothing),
 * and says at start when it logs in as one that is more. */
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

#include "harness.h"

typedef Fairpay__V1__Response resp_t;

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct {
	h_world w; /* db, admin_key, srv, admin */
	fp_client *a;
	char *a_id;
	char *a_key_id;
	fp_client *b;
	char *b_id;
	/* A's offers, one per state, and A's payments. */
	char *open_offer;
	char *accepted_offer;
	char *paid_offer;
	char *pending_offer; /* paid, its payment waits for review */
	char *declined_offer;
	char *plain_payment; /* review NOT_NEEDED */
	char *pending_payment;
} T;

/* ---------------------------------------------------------------- small things */

static char *xstrdup(const char *s)
{
	char *d = strdup(s != NULL ? s : "");
	if (d == NULL)
		fail_msg("out of memory");
	return d;
}

/* Empty a string of an unpacked message. An empty one may be protobuf-c's
 * static default and is left alone; others were malloc'ed by the unpacker. */
static void blank(char **s)
{
	if (*s == NULL || **s == '\0')
		return;
	free(*s);
	*s = xstrdup("");
}

/* A string of the same shape that names nothing: every letter and digit
 * moved one step ('a' -> 'b', 'f' -> '0' in hex ids, '9' -> '0'), the rest
 * kept, so length, prefix and character classes stay. */
static char *same_shape(const char *s)
{
	char *m = xstrdup(s);
	bool hex_id = (s[0] == 'o' || s[0] == 'p') && s[1] == '_';
	for (char *p = m + (hex_id ? 2 : 0); *p != '\0'; p++) {
		if (hex_id)
			*p = *p == 'f' ? '0' : *p == '9' ? 'a' : (char)(*p + 1);
		else if (*p >= 'a' && *p <= 'z')
			*p = *p == 'z' ? 'a' : (char)(*p + 1);
		else if (*p >= '0' && *p <= '9')
			*p = *p == '9' ? '0' : (char)(*p + 1);
	}
	return m;
}

/* Fail unless s names no offer, payment, product or customer of anyone. */
static void assert_unused(const char *s)
{
	char *sql = h_fmt("SELECT count(*) FROM (SELECT id AS x FROM offers UNION ALL SELECT id "
			  "FROM payments UNION ALL SELECT sku FROM products UNION ALL SELECT "
			  "customer_id FROM offers UNION ALL SELECT customer_id FROM events UNION "
			  "ALL SELECT customer_id FROM reputations) u WHERE x = '%s'",
			  s);
	long long n = h_sql_int(T.w.db, sql);
	free(sql);
	if (n != 0)
		fail_msg("'%s' was meant to be unused but names %lld rows", s, n);
}

/* Every row of vendor v, table by table: "table:count:md5 ...". Ordered by
 * key, so that the text changes exactly when a row does. */
static char *vendor_rows(const char *v)
{
	char *sql = h_fmt(
		"SELECT concat_ws(' ',"
		" (SELECT 'vendors:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.id), '')) FROM vendors x WHERE x.id = '%1$s'),"
		" (SELECT 'api_keys:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.id), '')) FROM api_keys x WHERE x.vendor_id = '%1$s'),"
		" (SELECT 'products:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.sku), '')) FROM products x WHERE x.vendor_id = '%1$s'),"
		" (SELECT 'policies:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.vendor_id), '')) FROM policies x WHERE x.vendor_id = '%1$s'),"
		" (SELECT 'reputations:' || count(*) || ':' || md5(coalesce(string_agg(x::text,"
		"  '|' ORDER BY x.customer_id), '')) FROM reputations x WHERE x.vendor_id = "
		"'%1$s'),"
		" (SELECT 'offers:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.id), '')) FROM offers x WHERE x.vendor_id = '%1$s'),"
		" (SELECT 'payments:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.id), '')) FROM payments x WHERE x.vendor_id = '%1$s'),"
		" (SELECT 'events:' || count(*) || ':' || md5(coalesce(string_agg(x::text, '|'"
		"  ORDER BY x.id), '')) FROM events x WHERE x.vendor_id = '%1$s'),"
		" (SELECT 'idempotency:' || count(*) || ':' || md5(coalesce(string_agg(x::text,"
		"  '|' ORDER BY x.key), '')) FROM idempotency x WHERE x.vendor_id = '%1$s'))",
		v);
	char *s = h_sql(T.w.db, sql);
	free(sql);
	assert_non_null(s);
	return s;
}

static void assert_rows_equal(const char *before, const char *after, const char *what)
{
	if (strcmp(before, after) != 0)
		fail_msg("%s changed vendor A's rows:\nbefore: %s\nafter:  %s", what, before,
			 after);
}

/* Make resp comparable with the answer for another argument: drop the
 * request id, mask arg in the status message and blank the fields that
 * echo the argument or are new per call (ids, times). */
static void normalize(resp_t *r, const char *arg)
{
	r->id = 0;
	if (r->status != NULL && r->status->message != NULL && r->status->message[0] != '\0' &&
	    arg[0] != '\0') {
		char *m = r->status->message;
		size_t alen = strlen(arg), used = 0;
		char *out = malloc(strlen(m) + 1);
		if (out == NULL)
			fail_msg("out of memory");
		for (const char *p = m; *p != '\0';) {
			if (strncmp(p, arg, alen) == 0) {
				memcpy(out + used, "ID", 2);
				used += 2;
				p += alen;
			} else {
				out[used++] = *p++;
			}
		}
		out[used] = '\0';
		free(m);
		r->status->message = out;
	}
	Fairpay__V1__Offer *o = NULL;
	switch (r->result_case) {
	case FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER:
		o = r->create_offer->offer;
		break;
	case FAIRPAY__V1__RESPONSE__RESULT_GET_REPUTATION:
		blank(&r->get_reputation->reputation->customer_id);
		break;
	case FAIRPAY__V1__RESPONSE__RESULT_PUT_PRODUCT:
		blank(&r->put_product->product->sku);
		break;
	default:
		break;
	}
	if (o != NULL) {
		blank(&o->offer_id);
		blank(&o->customer_id);
		o->created_at_unix_ms = 0;
		o->expires_at_unix_ms = 0;
		o->pay_by_unix_ms = 0;
	}
}

/* One line about a reply, for failure messages. */
static char *describe(const resp_t *r)
{
	if (r == NULL)
		return xstrdup("no reply");
	const Fairpay__V1__Status *st = r->status;
	return h_fmt("%s field '%s' message '%s' result %d replayed %d",
		     h_code_name(st ? (int)st->code : 0), st && st->field ? st->field : "",
		     st && st->message ? st->message : "", (int)r->result_case, (int)r->replayed);
}

/* Fail unless two normalized replies are byte for byte the same. */
static void assert_same_reply(resp_t *theirs, resp_t *missing, const char *what)
{
	if (theirs == NULL || missing == NULL)
		fail_msg("%s: no reply", what);
	size_t n1 = fairpay__v1__response__get_packed_size(theirs);
	size_t n2 = fairpay__v1__response__get_packed_size(missing);
	uint8_t *b1 = malloc(n1 + 1), *b2 = malloc(n2 + 1);
	if (b1 == NULL || b2 == NULL)
		fail_msg("out of memory");
	fairpay__v1__response__pack(theirs, b1);
	fairpay__v1__response__pack(missing, b2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
		char *d1 = describe(theirs), *d2 = describe(missing);
		fail_msg("%s: another vendor's answers differently from a missing one\n"
			 "  theirs:  %s (%zu bytes)\n  missing: %s (%zu bytes)",
			 what, d1, n1, d2, n2);
	}
	free(b1);
	free(b2);
}

/* ---------------------------------------------------------------- calls taking one argument */

typedef int (*iso_fn)(fp_client *c, const char *arg, resp_t **r);

static int get_offer(fp_client *c, const char *id, resp_t **r)
{
	return h_get_offer(c, id, r);
}

static int accept_offer(fp_client *c, const char *id, resp_t **r)
{
	return h_accept_offer(c, id, r);
}

static int decline_offer(fp_client *c, const char *id, resp_t **r)
{
	return h_decline_offer(c, id, r);
}

static int pay_amount(fp_client *c, const char *id, resp_t **r)
{
	return h_pay(c, id, 1000, r);
}

static int pay_differential(fp_client *c, const char *id, resp_t **r)
{
	return h_pay_differential(c, id, 0, r);
}

/* A payment that would need a review (and be PENDING) if it were recorded. */
static int pay_excused(fp_client *c, const char *id, resp_t **r)
{
	Fairpay__V1__PaymentReason dnu[] = { H_PREASON(DID_NOT_USE) };
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = (char *)id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = 1;
	m.reasons = dnu;
	m.n_reasons = 1;
	m.note = "not used";
	return h_submit_payment(c, &m, NULL, r);
}

static int review_accept(fp_client *c, const char *id, resp_t **r)
{
	return h_review_payment(c, id, true, "looks right", r);
}

static int review_reject(fp_client *c, const char *id, resp_t **r)
{
	return h_review_payment(c, id, false, NULL, r);
}

static int get_product(fp_client *c, const char *sku, resp_t **r)
{
	return h_get_product(c, sku, r);
}

/* CreateOffer of sku for B's own customer. */
static int offer_of_sku(fp_client *c, const char *sku, resp_t **r)
{
	return h_create_offer(c, "b-customer", sku, NULL, r);
}

/* CreateOffer for customer of B's own product. */
static int offer_for_customer(fp_client *c, const char *customer, resp_t **r)
{
	return h_create_offer(c, customer, "b-only", NULL, r);
}

static int get_reputation(fp_client *c, const char *customer, resp_t **r)
{
	return h_get_reputation(c, customer, r);
}

static int list_events(fp_client *c, const char *customer, resp_t **r)
{
	return h_list_events(c, customer, 0, 1000, r);
}

/* The request A made under idempotency key "same-key", made by B under key. */
static int offer_with_key(fp_client *c, const char *key, resp_t **r)
{
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = "a-cust-2";
	m.sku = "shared";
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, key, r);
}

/* PutProduct of sku with B's own terms. */
static int put_product(fp_client *c, const char *sku, resp_t **r)
{
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = (char *)sku;
	p.name = "B's own";
	p.currency = "EUR";
	p.suggested_price_minor = 300;
	p.list_price_minor = 400;
	return h_put_product(c, &p, r);
}

typedef struct iso_case {
	const char *call;
	iso_fn fn;
	const char *theirs; /* A's id, sku or customer */
	int want_code;      /* for both */
	const char *want_field;
} iso_case;

/* Run c as B with A's argument and with an unused one of the same shape:
 * both answers must be want_code (and want_field) and otherwise identical. */
static void run_case(const iso_case *c)
{
	char *missing = same_shape(c->theirs);
	assert_unused(missing);
	char what[256];
	snprintf(what, sizeof(what), "B's %s of A's '%s'", c->call, c->theirs);
	resp_t *r1 = NULL, *r2 = NULL;
	int code1 = c->fn(T.b, c->theirs, &r1);
	char field1[256];
	snprintf(field1, sizeof(field1), "%s", h_last_field());
	if (code1 != c->want_code)
		fail_msg("%s: got %s, want %s (message '%s', field '%s')", what, h_code_name(code1),
			 h_code_name(c->want_code), h_last_message(), h_last_field());
	if (c->want_field != NULL && strcmp(field1, c->want_field) != 0)
		fail_msg("%s: status.field '%s', want '%s'", what, field1, c->want_field);
	int code2 = c->fn(T.b, missing, &r2);
	if (code2 != c->want_code)
		fail_msg("B's %s of missing '%s': got %s, want %s (message '%s')", c->call, missing,
			 h_code_name(code2), h_code_name(c->want_code), h_last_message());
	normalize(r1, c->theirs);
	normalize(r2, missing);
	assert_same_reply(r1, r2, what);
	fp_response_free(r1);
	fp_response_free(r2);
	free(missing);
}

/* ---------------------------------------------------------------- setup */

static char *pending_cycle(fp_client *c, const char *customer, char **payment_id)
{
	char *id = h_offer(c, customer, "a-secret");
	h_accept(c, id);
	resp_t *r = NULL;
	h_must(pay_excused(c, id, &r), "SubmitPayment (excused)");
	if (r->submit_payment->payment->review != H_REVIEW(PENDING))
		fail_msg("the excused payment is not PENDING review");
	*payment_id = xstrdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	return id;
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_isolation", NULL);

	char *a_key = NULL;
	h_must(h_create_vendor(T.w.admin, "tenant A", &T.a_id, &a_key, &T.a_key_id),
	       "CreateVendor A");
	T.a = h_connect_auth(T.w.srv, a_key);
	free(a_key);
	T.b = h_vendor_client(T.w.srv, T.w.admin, "tenant B", &T.b_id, NULL);

	/* A's policy differs from the defaults, so that a leak would show. */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, prior_score_bp, PRIOR_SCORE_BP, 7000);
	H_POLICY_SET(&pol, alpha_bp, ALPHA_BP, 5000);
	Fairpay__V1__PutPolicyRequest pp = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	pp.policy = &pol;
	h_must(h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &pp, "policy-1", NULL),
	       "PutPolicy A");

	h_product(T.a, "a-secret", 1000, 1200);
	h_product(T.a, "a-put", 500, 600);
	h_product(T.a, "shared", 1000, 1200);
	h_product(T.b, "shared", 700, 900);
	h_product(T.b, "b-only", 100, 100);

	T.accepted_offer = h_offer(T.a, "a-cust-1", "a-secret");
	h_accept(T.a, T.accepted_offer);
	T.pending_offer = pending_cycle(T.a, "a-cust-1", &T.pending_payment);
	T.open_offer = h_offer(T.a, "a-cust-1", "a-secret");
	resp_t *r = h_cycle(T.a, "a-cust-2", "a-secret", 1000);
	T.paid_offer = xstrdup(r->submit_payment->payment->offer_id);
	T.plain_payment = xstrdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	T.declined_offer = h_offer(T.a, "a-cust-2", "a-secret");
	h_must(h_decline_offer(T.a, T.declined_offer, NULL), "DeclineOffer");
	/* An idempotency record of A's that B will try to hit. */
	h_must(offer_with_key(T.a, "same-key", NULL), "CreateOffer under same-key");
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.b);
	fp_client_free(T.a);
	free(T.open_offer);
	free(T.accepted_offer);
	free(T.paid_offer);
	free(T.pending_offer);
	free(T.declined_offer);
	free(T.plain_payment);
	free(T.pending_payment);
	free(T.a_id);
	free(T.a_key_id);
	free(T.b_id);
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- tenant isolation */

static void test_other_vendor_sees_nothing(void **state)
{
	const char *offers[] = { T.open_offer, T.accepted_offer, T.paid_offer, T.pending_offer,
				 T.declined_offer };
	const char *payments[] = { T.pending_payment, T.plain_payment };
	const char *skus[] = { "a-secret", "a-put" };
	const char *customers[] = { "a-cust-1", "a-cust-2" };
	const struct {
		const char *call;
		iso_fn fn;
	} offer_calls[] = {
		{ "GetOffer", get_offer },
		{ "AcceptOffer", accept_offer },
		{ "DeclineOffer", decline_offer },
		{ "SubmitPayment amount", pay_amount },
		{ "SubmitPayment differential", pay_differential },
		{ "SubmitPayment excused", pay_excused },
	};
	iso_case cases[64];
	size_t n = 0;
	for (size_t i = 0; i < N(offer_calls); i++)
		for (size_t k = 0; k < N(offers); k++)
			cases[n++] = (iso_case){ offer_calls[i].call, offer_calls[i].fn, offers[k],
						 H_NOT_FOUND, "offer_id" };
	for (size_t k = 0; k < N(payments); k++) {
		cases[n++] = (iso_case){ "ReviewPayment accept", review_accept, payments[k],
					 H_NOT_FOUND, "payment_id" };
		cases[n++] = (iso_case){ "ReviewPayment reject", review_reject, payments[k],
					 H_NOT_FOUND, "payment_id" };
	}
	for (size_t k = 0; k < N(skus); k++) {
		cases[n++] = (iso_case){ "GetProduct", get_product, skus[k], H_NOT_FOUND, "sku" };
		cases[n++] = (iso_case){ "CreateOffer", offer_of_sku, skus[k], H_NOT_FOUND, "sku" };
	}
	/* Reads of a customer before B's own CreateOffer makes them B's too. */
	for (size_t k = 0; k < N(customers); k++) {
		cases[n++] =
			(iso_case){ "GetReputation", get_reputation, customers[k], H_OK, NULL };
		cases[n++] =
			(iso_case){ "ListCustomerEvents", list_events, customers[k], H_OK, NULL };
	}
	for (size_t k = 0; k < N(customers); k++)
		cases[n++] = (iso_case){ "CreateOffer for customer", offer_for_customer,
					 customers[k], H_OK, NULL };
	/* A's idempotency key does not replay A's reply to B. */
	cases[n++] = (iso_case){ "CreateOffer under A's idempotency key", offer_with_key,
				 "same-key", H_OK, NULL };
	/* Last: B's PutProduct of A's sku makes B's own product. */
	cases[n++] = (iso_case){ "PutProduct", put_product, "a-put", H_OK, NULL };
	assert_true(n <= N(cases));

	char *before = vendor_rows(T.a_id);
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
	char *after = vendor_rows(T.a_id);
	assert_rows_equal(before, after, "B's calls");
	printf("isolation: %zu calls of vendor B with vendor A's ids compared with missing "
	       "ones\n",
	       n);

	/* What B got is B's: its reputation of A's customer is the prior (B's
	 * default policy, not A's 7000), and its events are its own. */
	resp_t *r = h_reputation(T.b, "a-cust-1");
	Fairpay__V1__Reputation *rep = r->get_reputation->reputation;
	assert_int_equal(rep->score_bp, 8000);
	assert_int_equal(rep->payments, 0);
	assert_int_equal(rep->offers_accepted, 0);
	assert_int_equal(rep->credit_used_minor, 0);
	assert_int_equal(rep->total_paid_minor, 0);
	assert_int_equal(rep->tier, H_TIER(PROBATION));
	fp_response_free(r);
	h_assert_code(h_list_events(T.b, "a-cust-1", 0, 1000, &r), H_OK);
	Fairpay__V1__ListCustomerEventsResponse *ev = r->list_customer_events;
	assert_int_equal(ev->n_events, 1); /* B's own OFFER_CREATED */
	assert_int_equal(ev->events[0]->kind, H_EVENT(OFFER_CREATED));
	char *b_offer_ids =
		h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND id = '%s'", T.b_id,
		      ev->events[0]->offer_id);
	assert_int_equal(h_sql_int(T.w.db, b_offer_ids), 1);
	free(b_offer_ids);
	fp_response_free(r);

	/* B's product "a-put" is B's; A's is as it was. */
	h_assert_code(h_get_product(T.b, "a-put", &r), H_OK);
	assert_string_equal(r->get_product->product->name, "B's own");
	assert_string_equal(r->get_product->product->currency, "EUR");
	fp_response_free(r);
	h_assert_code(h_get_product(T.a, "a-put", &r), H_OK);
	assert_string_equal(r->get_product->product->name, "a-put");
	assert_int_equal(r->get_product->product->suggested_price_minor, 500);
	assert_int_equal(r->get_product->product->version, 1);
	fp_response_free(r);

	/* B's policy is the default one (version 0), not A's. */
	h_assert_code(h_get_policy(T.b, &r), H_OK);
	assert_int_equal(r->get_policy->policy->version, 0);
	assert_int_equal(r->get_policy->policy->prior_score_bp, 8000);
	assert_int_equal(r->get_policy->policy->alpha_bp, 3000);
	fp_response_free(r);

	/* A's own view is intact: its offers are where they were. */
	assert_true(h_wait_offer_status(T.a, T.open_offer, H_STATUS(OPEN), 0));
	assert_true(h_wait_offer_status(T.a, T.accepted_offer, H_STATUS(ACCEPTED), 0));
	assert_true(h_wait_offer_status(T.a, T.declined_offer, H_STATUS(DECLINED), 0));
	free(before);
	free(after);
}

static void test_list_products_own_only(void **state)
{
	char *before = vendor_rows(T.a_id);
	char *want = h_fmt("SELECT string_agg(sku, ',' ORDER BY sku) FROM products WHERE "
			   "vendor_id = '%s'",
			   T.b_id);
	char *b_skus = h_sql(T.w.db, want);
	free(want);
	assert_non_null(b_skus);

	resp_t *r = NULL;
	h_assert_code(h_list_products(T.b, NULL, 1000, &r), H_OK);
	char got[1024] = "";
	for (size_t i = 0; i < r->list_products->n_products; i++) {
		size_t used = strlen(got);
		snprintf(got + used, sizeof(got) - used, "%s%s", i ? "," : "",
			 r->list_products->products[i]->sku);
		/* "a-put" is B's own by now; check it carries B's terms. */
		if (strcmp(r->list_products->products[i]->sku, "a-put") == 0)
			assert_string_equal(r->list_products->products[i]->name, "B's own");
		if (strcmp(r->list_products->products[i]->sku, "shared") == 0)
			assert_int_equal(r->list_products->products[i]->suggested_price_minor, 700);
	}
	assert_string_equal(got, b_skus);
	assert_false(h_contains(got, "a-secret"));
	assert_string_equal(r->list_products->next_page_token, "");
	fp_response_free(r);

	/* Paging from one of A's skus: B's products after it, nothing of A's. */
	h_assert_code(h_list_products(T.b, "a-secret", 1000, &r), H_OK);
	for (size_t i = 0; i < r->list_products->n_products; i++) {
		const char *sku = r->list_products->products[i]->sku;
		assert_true(strcmp(sku, "a-secret") > 0);
		char *q =
			h_fmt("SELECT count(*) FROM products WHERE vendor_id = '%s' AND sku = '%s'",
			      T.b_id, sku);
		assert_int_equal(h_sql_int(T.w.db, q), 1);
		free(q);
	}
	fp_response_free(r);
	char *after = vendor_rows(T.a_id);
	assert_rows_equal(before, after, "B's ListProducts");
	free(before);
	free(after);
	free(b_skus);
}

/* ---------------------------------------------------------------- roles */

/* Every vendor call, with A's real ids, for an ADMIN key. */
static void test_admin_key_denied_vendor_calls(void **state)
{
	Fairpay__V1__Product prod = FAIRPAY__V1__PRODUCT__INIT;
	prod.sku = "a-secret";
	prod.name = "admin's";
	prod.currency = "USD";
	prod.suggested_price_minor = 1;
	prod.list_price_minor = 1;
	Fairpay__V1__PutProductRequest put_product = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	put_product.product = &prod;
	Fairpay__V1__GetProductRequest get_product_m = FAIRPAY__V1__GET_PRODUCT_REQUEST__INIT;
	get_product_m.sku = "a-secret";
	Fairpay__V1__ListProductsRequest list_products = FAIRPAY__V1__LIST_PRODUCTS_REQUEST__INIT;
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, alpha_bp, ALPHA_BP, 100);
	Fairpay__V1__PutPolicyRequest put_policy = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	put_policy.policy = &pol;
	Fairpay__V1__GetPolicyRequest get_policy = FAIRPAY__V1__GET_POLICY_REQUEST__INIT;
	Fairpay__V1__CreateOfferRequest create_offer = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	create_offer.customer_id = "a-cust-1";
	create_offer.sku = "a-secret";
	Fairpay__V1__AcceptOfferRequest accept = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	accept.offer_id = T.open_offer;
	Fairpay__V1__DeclineOfferRequest decline = FAIRPAY__V1__DECLINE_OFFER_REQUEST__INIT;
	decline.offer_id = T.open_offer;
	Fairpay__V1__GetOfferRequest get_offer_m = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	get_offer_m.offer_id = T.open_offer;
	Fairpay__V1__SubmitPaymentRequest pay = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	pay.offer_id = T.accepted_offer;
	pay.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	pay.amount_minor = 1000;
	Fairpay__V1__ReviewPaymentRequest review = FAIRPAY__V1__REVIEW_PAYMENT_REQUEST__INIT;
	review.payment_id = T.pending_payment;
	review.accept_reasons = true;
	Fairpay__V1__GetReputationRequest get_rep = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	get_rep.customer_id = "a-cust-1";
	Fairpay__V1__ListCustomerEventsRequest list_ev =
		FAIRPAY__V1__LIST_CUSTOMER_EVENTS_REQUEST__INIT;
	list_ev.customer_id = "a-cust-1";
	const struct {
		const char *name;
		Fairpay__V1__Request__CallCase cc;
		void *msg;
	} calls[] = {
		{ "PutProduct", FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT, &put_product },
		{ "GetProduct", FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT, &get_product_m },
		{ "ListProducts", FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS, &list_products },
		{ "PutPolicy", FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &put_policy },
		{ "GetPolicy", FAIRPAY__V1__REQUEST__CALL_GET_POLICY, &get_policy },
		{ "CreateOffer", FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &create_offer },
		{ "AcceptOffer", FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER, &accept },
		{ "DeclineOffer", FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER, &decline },
		{ "GetOffer", FAIRPAY__V1__REQUEST__CALL_GET_OFFER, &get_offer_m },
		{ "SubmitPayment", FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT, &pay },
		{ "ReviewPayment", FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT, &review },
		{ "GetReputation", FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION, &get_rep },
		{ "ListCustomerEvents", FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS, &list_ev },
	};
	char *before = vendor_rows(T.a_id);
	long long rows_before =
		h_sql_int(T.w.db, "SELECT (SELECT count(*) FROM products) + "
				  "(SELECT count(*) FROM offers) + (SELECT count(*) "
				  "FROM idempotency) + (SELECT count(*) FROM policies)");
	for (size_t i = 0; i < N(calls); i++) {
		for (int k = 0; k < 2; k++) {
			/* With and without an idempotency key: the role is checked
			 * before a record is made. */
			const char *key = k == 0 ? NULL : "admin-key";
			int code = h_vcall(T.w.admin, calls[i].cc, calls[i].msg, key, NULL);
			if (code != H_DENIED)
				fail_msg("ADMIN key's %s%s: got %s, want PERMISSION_DENIED "
					 "(message '%s')",
					 calls[i].name, key ? " with idempotency key" : "",
					 h_code_name(code), h_last_message());
		}
	}
	char *after = vendor_rows(T.a_id);
	assert_rows_equal(before, after, "the ADMIN key's vendor calls");
	assert_int_equal(h_sql_int(T.w.db, "SELECT (SELECT count(*) FROM products) + (SELECT "
					   "count(*) FROM offers) + (SELECT count(*) FROM "
					   "idempotency) + (SELECT count(*) FROM policies)"),
			 rows_before);
	free(before);
	free(after);
}

/* Admin calls for a VENDOR key: B cannot make vendors, give itself or A keys,
 * revoke A's key, list vendors or move A's certificate. */
static void test_vendor_key_denied_admin_calls(void **state)
{
	char *before = vendor_rows(T.a_id);
	long long vendors = h_sql_int(T.w.db, "SELECT count(*) FROM vendors");
	long long keys = h_sql_int(T.w.db, "SELECT count(*) FROM api_keys");

	Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
	cv.name = "B's puppet";
	Fairpay__V1__CreateApiKeyRequest key_for_a = FAIRPAY__V1__CREATE_API_KEY_REQUEST__INIT;
	key_for_a.vendor_id = T.a_id;
	key_for_a.role = FAIRPAY__V1__ROLE__ROLE_VENDOR;
	Fairpay__V1__CreateApiKeyRequest admin_for_b = FAIRPAY__V1__CREATE_API_KEY_REQUEST__INIT;
	admin_for_b.vendor_id = T.b_id;
	admin_for_b.role = FAIRPAY__V1__ROLE__ROLE_ADMIN;
	Fairpay__V1__RevokeApiKeyRequest revoke = FAIRPAY__V1__REVOKE_API_KEY_REQUEST__INIT;
	revoke.key_id = T.a_key_id;
	Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
	Fairpay__V1__RegisterClientCertRequest cert =
		FAIRPAY__V1__REGISTER_CLIENT_CERT_REQUEST__INIT;
	cert.key_id = T.a_key_id;
	cert.cert_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	struct {
		const char *name;
		Fairpay__V1__Request req;
	} calls[6];
	for (size_t i = 0; i < N(calls); i++)
		fairpay__v1__request__init(&calls[i].req);
	calls[0].name = "CreateVendor";
	calls[0].req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
	calls[0].req.create_vendor = &cv;
	calls[1].name = "CreateApiKey for A";
	calls[1].req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY;
	calls[1].req.create_api_key = &key_for_a;
	calls[2].name = "CreateApiKey ADMIN for B";
	calls[2].req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY;
	calls[2].req.create_api_key = &admin_for_b;
	calls[3].name = "RevokeApiKey of A's key";
	calls[3].req.call_case = FAIRPAY__V1__REQUEST__CALL_REVOKE_API_KEY;
	calls[3].req.revoke_api_key = &revoke;
	calls[4].name = "ListVendors";
	calls[4].req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
	calls[4].req.list_vendors = &lv;
	calls[5].name = "RegisterClientCert on A's key";
	calls[5].req.call_case = FAIRPAY__V1__REQUEST__CALL_REGISTER_CLIENT_CERT;
	calls[5].req.register_client_cert = &cert;
	for (size_t i = 0; i < N(calls); i++) {
		resp_t *r = NULL;
		int code = h_call(T.b, &calls[i].req, &r);
		if (code != H_DENIED)
			fail_msg("VENDOR key's %s: got %s, want PERMISSION_DENIED (message '%s')",
				 calls[i].name, h_code_name(code), h_last_message());
		assert_int_equal(r->result_case, FAIRPAY__V1__RESPONSE__RESULT__NOT_SET);
		fp_response_free(r);
	}
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM vendors"), vendors);
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM api_keys"), keys);
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT "
					   "NULL OR cert_sha256 IS NOT NULL"),
			 0);
	char *after = vendor_rows(T.a_id);
	assert_rows_equal(before, after, "B's admin calls");
	/* A's key still works. */
	h_assert_code(h_get_product(T.a, "a-secret", NULL), H_OK);
	free(before);
	free(after);
}

/* ---------------------------------------------------------------- the database role */

/* Run sql on pg: its SQLSTATE ("" when it succeeded) and message. */
static void pg_try(PGconn *pg, const char *sql, char *state, size_t slen, char *msg, size_t mlen)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		snprintf(state, slen, "%s", "");
		snprintf(msg, mlen, "%s", "");
	} else {
		const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		snprintf(state, slen, "%s", s ? s : "?");
		snprintf(msg, mlen, "%s", m ? m : PQresultErrorMessage(r));
	}
	PQclear(r);
}

static void pg_ok(PGconn *pg, const char *sql)
{
	char state[8], msg[512];
	pg_try(pg, sql, state, sizeof(state), msg, sizeof(msg));
	if (state[0] != '\0')
		fail_msg("%s: %s (SQLSTATE %s)", sql, msg, state);
}

/* Fail unless sql is refused by the permission check (42501, "permission
 * denied" or "must be owner"), not by the append-only trigger (which uses
 * the same SQLSTATE with its own message). */
static void pg_denied(PGconn *pg, const char *sql)
{
	char state[8], msg[512];
	pg_try(pg, sql, state, sizeof(state), msg, sizeof(msg));
	if (state[0] == '\0')
		fail_msg("%s: succeeded as fairpay_app", sql);
	if (strcmp(state, "42501") != 0)
		fail_msg("%s: SQLSTATE %s (%s), want 42501", sql, state, msg);
	if (h_contains(msg, "append-only") ||
	    !(h_contains(msg, "permission denied") || h_contains(msg, "must be owner")))
		fail_msg("%s: refused by '%s', want the privilege check", sql, msg);
}

static PGconn *pg_connect(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		PQfinish(pg);
		fail_msg("cannot connect (%s): %s", conninfo, msg);
	}
	return pg;
}

static void test_app_role_privileges(void **state)
{
	/* The role: no login, no superpowers. */
	char *attrs =
		h_sql(T.w.db, "SELECT rolcanlogin::text || rolsuper::text || "
			      "rolcreaterole::text || rolcreatedb::text || rolbypassrls::text "
			      "FROM pg_roles WHERE rolname = 'fairpay_app'");
	assert_non_null(attrs);
	assert_string_equal(attrs, "falsefalsefalsefalsefalse");
	free(attrs);

	/* Exactly the table privileges of 0003_app_role.sql. */
	char *privs =
		h_sql(T.w.db, "SELECT string_agg(t || ':' || (SELECT string_agg(CASE WHEN "
			      "has_table_privilege('fairpay_app', t, p) THEN l ELSE '-' END, '' "
			      "ORDER BY o) FROM (VALUES (1, 'SELECT', 'r'), (2, 'INSERT', 'a'), "
			      "(3, 'UPDATE', 'w'), (4, 'DELETE', 'd'), (5, 'TRUNCATE', 'D'), "
			      "(6, 'TRIGGER', 't')) v (o, p, l)), ' ' ORDER BY t) "
			      "FROM unnest(ARRAY['api_keys', 'events', 'idempotency', 'offers', "
			      "'payments', 'policies', 'products', 'reputations', "
			      "'schema_migrations', 'vendors']) t");
	assert_non_null(privs);
	assert_string_equal(privs, "api_keys:rawd-- events:ra---- idempotency:rawd-- "
				   "offers:rawd-- payments:rawd-- policies:rawd-- "
				   "products:rawd-- reputations:rawd-- schema_migrations:------ "
				   "vendors:rawd--");
	free(privs);
	/* Nobody through PUBLIC may change the ledger. */
	assert_int_equal(h_sql_int(T.w.db,
				   "SELECT count(*) FROM information_schema.role_table_grants "
				   "WHERE table_name = 'events' AND grantee = 'PUBLIC'"),
			 0);
	assert_int_equal(h_sql_int(T.w.db,
				   "SELECT count(*) FROM pg_proc WHERE proname LIKE 'fp\\_%' "
				   "AND NOT has_function_privilege('fairpay_app', oid, "
				   "'EXECUTE')"),
			 0);
	assert_int_equal(h_sql_int(T.w.db, "SELECT has_schema_privilege('fairpay_app', "
					   "current_schema(), 'CREATE')::int"),
			 0);

	/* The ledger has rows (A's cycle), so a row trigger would fire. */
	char *q = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s'", T.a_id);
	long long a_events = h_sql_int(T.w.db, q);
	free(q);
	assert_true(a_events > 0);
	char *before = vendor_rows(T.a_id);

	PGconn *pg = pg_connect(T.w.db);
	pg_ok(pg, "SET ROLE fairpay_app");
	PGresult *r = PQexec(pg, "SELECT current_user, count(*) FROM events");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "fairpay_app");
	assert_true(atoll(PQgetvalue(r, 0, 1)) >= a_events);
	PQclear(r);
	/* Appending works (rolled back, so that A's rows stay as they are). */
	pg_ok(pg, "BEGIN");
	char *ins = h_fmt("INSERT INTO events (vendor_id, customer_id, kind, detail) VALUES "
			  "('%s', 'probe', 'OFFER_CREATED', 'role probe')",
			  T.a_id);
	pg_ok(pg, ins);
	free(ins);
	pg_ok(pg, "ROLLBACK");
	pg_denied(pg, "UPDATE events SET detail = detail");
	pg_denied(pg, "UPDATE events SET detail = 'rewritten' WHERE id = (SELECT max(id) FROM "
		      "events)");
	pg_denied(pg, "DELETE FROM events");
	pg_denied(pg, "TRUNCATE events");
	/* Nor can the role take the trigger away or change the schema. */
	pg_denied(pg, "ALTER TABLE events DISABLE TRIGGER events_no_update_delete");
	pg_denied(pg, "DROP TRIGGER events_no_update_delete ON events");
	pg_denied(pg, "DROP TABLE events");
	pg_denied(pg, "CREATE TABLE fairpay_app_probe (x int)");
	pg_denied(pg, "DELETE FROM schema_migrations");
	pg_denied(pg, "SELECT fairpay_grant_app_role('fairpay_app')");
	/* The rest of what the server does works. */
	pg_ok(pg, "BEGIN");
	char *upd = h_fmt("UPDATE products SET name = name WHERE vendor_id = '%s'", T.a_id);
	pg_ok(pg, upd);
	free(upd);
	pg_ok(pg, "DELETE FROM idempotency WHERE false");
	pg_ok(pg, "ROLLBACK");

	/* The superuser is stopped by the trigger: the second line of defence. */
	pg_ok(pg, "RESET ROLE");
	char st[8], msg[512];
	pg_try(pg, "UPDATE events SET detail = detail", st, sizeof(st), msg, sizeof(msg));
	assert_string_equal(st, "42501");
	if (!h_contains(msg, "append-only"))
		fail_msg("the superuser's UPDATE of events was refused by '%s', want the trigger",
			 msg);
	PQfinish(pg);
	char *after = vendor_rows(T.a_id);
	assert_rows_equal(before, after, "the role probes");
	free(before);
	free(after);
}

/* True when this fairpayd has --db-role. */
static bool server_has_db_role(void)
{
	char *bin = h_path(h_build_dir(), "fairpayd");
	char *q = h_shq(bin);
	char *cmd = h_fmt("%s --help 2>&1", q);
	char *out = NULL;
	(void)h_run(cmd, &out);
	bool has = h_contains(out, "--db-role");
	free(out);
	free(cmd);
	free(q);
	free(bin);
	return has;
}

/* GetProduct through s: OK while fairpay_app may read products, not OK
 * after that privilege is taken away if (and only if) s works as it. */
static void expect_get_product(const h_server *s, const char *key, bool works)
{
	fp_client *c = h_connect_auth(s, key);
	int code = h_get_product(c, "probe", NULL);
	if (works && code != H_OK)
		fail_msg("GetProduct answered %s ('%s'), want OK", h_code_name(code),
			 h_last_message());
	if (!works && code == H_OK)
		fail_msg("GetProduct answered OK without SELECT on products for fairpay_app: the "
			 "server does not work as fairpay_app");
	if (!works)
		printf("GetProduct without SELECT on products for fairpay_app: %s '%s'\n",
		       h_code_name(code), h_last_message());
	fp_client_free(c);
}

static void test_server_runs_as_app_role(void **state)
{
	if (!server_has_db_role()) {
		printf("fairpayd has no --db-role yet: the server still works as its login role; "
		       "skipped\n");
		skip();
	}
	char *db = h_db_create("fp_it_isolation_role");
	h_migrate(db);
	char *admin_key = h_bootstrap_admin(db);
	/* The default role is fairpay_app. */
	h_server *s = h_server_start(db, NULL);
	fp_client *admin = h_connect_auth(s, admin_key);
	char *key = NULL;
	fp_client *v = h_vendor_client(s, admin, "role probe", NULL, &key);

	/* A whole cycle as fairpay_app: every statement the server makes is
	 * granted. */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, payment_window_seconds, PAYMENT_WINDOW_SECONDS, 1);
	Fairpay__V1__PutPolicyRequest pp = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	pp.policy = &pol;
	h_must(h_vcall(v, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &pp, "p1", NULL), "PutPolicy");
	resp_t *r = NULL;
	h_must(h_vcall(v, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &pp, "p1", &r), "PutPolicy again");
	assert_true(r->replayed);
	fp_response_free(r);
	h_product(v, "probe", 1000, 1200);
	char *pid = NULL;
	char *oid = h_offer(v, "c1", "probe");
	h_accept(v, oid);
	h_must(pay_excused(v, oid, &r), "SubmitPayment");
	pid = xstrdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	h_must(h_review_payment(v, pid, true, "ok", NULL), "ReviewPayment");
	fp_response_free(h_reputation(v, "c1"));
	h_must(h_list_events(v, "c1", 0, 0, NULL), "ListCustomerEvents");
	h_must(h_list_products(v, NULL, 0, NULL), "ListProducts");
	/* The sweeper defaults an accepted offer (payment window 1 s). */
	char *late = h_offer(v, "c2", "probe");
	h_accept(v, late);
	if (!h_wait_offer_status(v, late, H_STATUS(DEFAULTED), 15000))
		fail_msg("the sweeper did not default %s as fairpay_app", late);
	h_must(h_pay(v, late, 1000, NULL), "late SubmitPayment");
	char *new_key = NULL, *key_id = NULL;
	char *vid = NULL;
	h_must(h_create_vendor(admin, "second", &vid, &new_key, &key_id), "CreateVendor");
	h_must(h_revoke_api_key(admin, key_id), "RevokeApiKey");
	h_must(h_list_vendors(admin, NULL, 0, NULL), "ListVendors");

	/* Take SELECT on products from fairpay_app: the server now fails... */
	free(h_sql(db, "REVOKE SELECT ON products FROM fairpay_app"));
	expect_get_product(s, key, false);
	/* ...while one that logs in as the owner with --db-role "" (the login
	 * role itself) does not; it says that it should not log in so... */
	h_server_login(NULL);
	h_server *s2 = h_server_start(db, "--db-role", "", NULL);
	h_server_login(H_SERVER_LOGIN);
	expect_get_product(s2, key, true);
	assert_true(h_wait_log(s2, "WARN", 1, 10000));
	h_server_free(s2);
	/* ...and the privilege back makes it work again. */
	free(h_sql(db, "GRANT SELECT ON products TO fairpay_app"));
	expect_get_product(s, key, true);

	fp_client_free(v);
	fp_client_free(admin);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(late);
	free(oid);
	free(pid);
	free(vid);
	free(new_key);
	free(key_id);
	free(key);
	free(admin_key);
	free(db);
}

/* The role the server's sessions logged in as (their session user), read
 * from pg_stat_activity: fairpayd names its sessions "fairpayd". */
static char *server_login_role(const char *db)
{
	char *role = NULL;
	for (int i = 0; i < 200 && role == NULL; i++) {
		role = h_sql(db, "SELECT string_agg(DISTINCT usename::text, ',') "
				 "FROM pg_stat_activity WHERE datname = current_database() "
				 "AND application_name = 'fairpayd'");
		if (role == NULL)
			h_sleep_ms(50);
	}
	if (role == NULL)
		fail_msg("no session of fairpayd in pg_stat_activity");
	if (strchr(role, ',') != NULL)
		fail_msg("fairpayd logs in as several roles: %s", role);
	return role;
}

/* What leaving the role would give a session of the server: nothing on the
 * ledger, and no way to the owner. */
static void expect_ledger_locked(PGconn *pg, const char *owner)
{
	pg_denied(pg, "UPDATE events SET detail = detail");
	pg_denied(pg, "DELETE FROM events");
	pg_denied(pg, "TRUNCATE events");
	pg_denied(pg, "ALTER TABLE events DISABLE TRIGGER events_no_update_delete");
	char *to_owner = h_fmt("SET ROLE %s", owner);
	char st[8], msg[512];
	pg_try(pg, to_owner, st, sizeof(st), msg, sizeof(msg));
	if (st[0] == '\0')
		fail_msg("%s: succeeded", to_owner);
	free(to_owner);
}

/* The server logs in as a role that is no more than fairpay_app: a session
 * of it that leaves --db-role (SET ROLE NONE, RESET ROLE) still can neither
 * update nor delete the ledger. */
static void test_server_login_is_a_boundary(void **state)
{
	char *login = server_login_role(T.w.db);
	printf("fairpayd logs in as %s\n", login);
	char *owner = h_sql(T.w.db, "SELECT relowner::regrole::text FROM pg_class "
				    "WHERE oid = 'events'::regclass");
	assert_non_null(owner);
	long long events = h_sql_int(T.w.db, "SELECT count(*) FROM events");
	assert_true(events > 0);
	char *before = vendor_rows(T.a_id);
	char *ci = h_conninfo_as(T.w.db, login);
	PGconn *pg = pg_connect(ci);
	PGresult *r = PQexec(pg, "SELECT session_user, current_user");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), login);
	PQclear(r);
	pg_ok(pg, "SET ROLE fairpay_app");
	expect_ledger_locked(pg, owner);
	pg_ok(pg, "SET ROLE NONE");
	expect_ledger_locked(pg, owner);
	pg_ok(pg, "RESET ROLE");
	expect_ledger_locked(pg, owner);
	/* Still the login role, and the ledger is whole. */
	r = PQexec(pg, "SELECT current_user, count(*) FROM events");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), login);
	assert_int_equal(atoll(PQgetvalue(r, 0, 1)), events);
	PQclear(r);
	PQfinish(pg);
	char *after = vendor_rows(T.a_id);
	assert_rows_equal(before, after, "the login role probes");
	/* Nor is the role more than that in other ways. */
	char *q = h_fmt("SELECT (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls "
			"OR pg_has_role(rolname, '%s', 'MEMBER'))::int FROM pg_roles "
			"WHERE rolname = '%s'",
			owner, login);
	if (h_sql_int(T.w.db, q) != 0)
		fail_msg("fairpayd's login role %s is a superuser, may create roles or "
			 "databases, or is a member of the owner %s",
			 login, owner);
	free(q);

	/* A server on such a role does not warn. */
	assert_int_equal(h_log_count(T.w.srv, "database login role"), 0);
	free(before);
	free(after);
	free(ci);
	free(owner);
	free(login);
}

/* Start a server logged in as role (the default --db-role) and wait for its
 * WARN line about the login role, which must say why. */
static void expect_login_warning(const char *role, const char *why)
{
	h_server_login(role);
	h_server *s = h_server_start(T.w.db, NULL);
	h_server_login(H_SERVER_LOGIN);
	char *line = h_fmt("WARN  conn=0 the database login role %s %s", role, why);
	bool seen = h_wait_log(s, line, 1, 10000);
	char *log = h_server_log(s);
	if (!seen)
		fail_msg("no '%s' in the log of a server logged in as %s:\n%s", line, role, log);
	if (!h_contains(log, "SET ROLE NONE"))
		fail_msg("the warning does not say why:\n%s", log);
	/* It still serves. */
	fp_client *c = h_connect_auth(s, T.w.admin_key);
	h_must(h_list_vendors(c, NULL, 0, NULL), "ListVendors");
	fp_client_free(c);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(log);
	free(line);
}

/* Drop the roles test_owner_login_warns makes, with their grants here. */
static void drop_probe_roles(void)
{
	free(h_sql(T.w.db, "DO $$ DECLARE r text; BEGIN FOREACH r IN ARRAY "
			   "ARRAY['fp_it_owner_member', 'fp_it_ledger_editor'] LOOP "
			   "IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN "
			   "EXECUTE format('DROP OWNED BY %I', r); "
			   "EXECUTE format('DROP ROLE %I', r); END IF; END LOOP; END $$"));
}

/* A server that logs in as a superuser, as the owner or with rights on the
 * ledger still runs, and says at start why it should not. */
static void test_owner_login_warns(void **state)
{
	expect_login_warning("postgres", "is a superuser");
	/* Roles belong to the cluster: made afresh, dropped at the end. */
	drop_probe_roles();
	free(h_sql(T.w.db, "CREATE ROLE fp_it_owner_member LOGIN IN ROLE postgres"));
	free(h_sql(T.w.db, "CREATE ROLE fp_it_ledger_editor LOGIN IN ROLE fairpay_app"));
	free(h_sql(T.w.db, "GRANT DELETE ON events TO fp_it_ledger_editor"));
	expect_login_warning("fp_it_owner_member", "owns the tables");
	expect_login_warning("fp_it_ledger_editor",
			     "may update, delete or truncate the event ledger");
	drop_probe_roles();
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_vendor_sees_nothing),
		cmocka_unit_test(test_list_products_own_only),
		cmocka_unit_test(test_admin_key_denied_vendor_calls),
		cmocka_unit_test(test_vendor_key_denied_admin_calls),
		cmocka_unit_test(test_app_role_privileges),
		cmocka_unit_test(test_server_runs_as_app_role),
		cmocka_unit_test(test_server_login_is_a_boundary),
		cmocka_unit_test(test_owner_login_warns),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
