/* Integration tests of bad input to the vendor calls: every refused request
 * answers the right code and status.field, and stores nothing (rows counted
 * with SQL before and after). Also: another vendor's ids look exactly like
 * missing ones, and list limits are clamped as PROTOCOL.md says. */
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

static struct {
	h_world w;    /* db, admin_key, srv, admin */
	fp_client *a; /* vendor A, with products "basic" and "floor" */
	char *a_id;
	fp_client *b; /* vendor B */
	char *b_id;
} T;

typedef Fairpay__V1__Response resp_t;

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Every row the cycle can write, summed over the tables: a refused call must
 * leave it unchanged. */
static long long rows(void)
{
	return h_sql_int(T.w.db,
			 "SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM "
			 "offers) + (SELECT count(*) FROM payments) + (SELECT count(*) FROM "
			 "reputations) + (SELECT count(*) FROM events) + (SELECT count(*) "
			 "FROM policies) + (SELECT count(*) FROM idempotency)");
}

/* A fingerprint of every row's content, to catch updates as well. */
static char *content(void)
{
	char *s = h_sql(T.w.db,
			"SELECT md5(coalesce((SELECT string_agg(p::text, '|' ORDER BY vendor_id, "
			"sku) FROM products p), '') || coalesce((SELECT string_agg(o::text, '|' "
			"ORDER BY vendor_id, id) FROM offers o), '') || coalesce((SELECT "
			"string_agg(r::text, '|' ORDER BY vendor_id, customer_id) FROM "
			"reputations r), '') || coalesce((SELECT string_agg(y::text, '|' ORDER BY "
			"vendor_id, id) FROM payments y), ''))");
	assert_non_null(s);
	return s;
}

typedef struct snapshot {
	long long rows;
	char *content;
} snapshot;

static snapshot snap(void)
{
	snapshot s = { rows(), content() };
	return s;
}

/* Fail unless nothing was stored or changed since s; frees s. */
static void assert_unchanged(snapshot s, const char *what)
{
	long long r = rows();
	char *c = content();
	if (r != s.rows)
		fail_msg("%s: %lld rows before, %lld after", what, s.rows, r);
	if (strcmp(c, s.content) != 0)
		fail_msg("%s: stored rows changed", what);
	free(c);
	free(s.content);
}

/* Fail unless code and status.field are as wanted, naming the case. */
static void expect(int code, int want_code, const char *want_field, const char *what)
{
	if (code != want_code)
		fail_msg("%s: got %s, want %s (message '%s', field '%s')", what, h_code_name(code),
			 h_code_name(want_code), h_last_message(), h_last_field());
	if (want_field != NULL && strcmp(h_last_field(), want_field) != 0)
		fail_msg("%s: status.field '%s', want '%s' (message '%s')", what, h_last_field(),
			 want_field, h_last_message());
}

/* The last status message with every occurrence of id replaced by "ID":
 * a message may echo the id asked for, and must differ in nothing else. */
static void message_without(const char *id, char *out, size_t len)
{
	const char *m = h_last_message();
	size_t idlen = strlen(id), used = 0;
	while (*m != '\0' && used + 3 < len) {
		if (idlen > 0 && strncmp(m, id, idlen) == 0) {
			memcpy(out + used, "ID", 2);
			used += 2;
			m += idlen;
		} else {
			out[used++] = *m++;
		}
	}
	out[used] = '\0';
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_cycle_input", NULL);
	T.a = h_vendor_client(T.w.srv, T.w.admin, "input A", &T.a_id, NULL);
	T.b = h_vendor_client(T.w.srv, T.w.admin, "input B", &T.b_id, NULL);
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

/* ---------------------------------------------------------------- identifiers */

static void test_customer_id(void **state)
{
	char *c129 = repeat('c', 129);
	const char *bad[] = { "",         c129,           "bad \xff\xfe utf8",
			      "\xc0\xaf", "\xed\xa0\x80", "cut \xe2\x82" };
	const char *what[] = { "empty",    "129 bytes", "0xFF 0xFE",
			       "overlong", "surrogate", "truncated" };
	snapshot s = snap();
	for (size_t i = 0; i < N(bad); i++) {
		char name[64];
		snprintf(name, sizeof(name), "CreateOffer customer_id %s", what[i]);
		expect(h_create_offer(T.a, bad[i], "basic", NULL, NULL), H_INVALID, "customer_id",
		       name);
		snprintf(name, sizeof(name), "GetReputation customer_id %s", what[i]);
		expect(h_get_reputation(T.a, bad[i], NULL), H_INVALID, "customer_id", name);
		snprintf(name, sizeof(name), "ListCustomerEvents customer_id %s", what[i]);
		expect(h_list_events(T.a, bad[i], 0, 0, NULL), H_INVALID, "customer_id", name);
	}
	assert_unchanged(s, "bad customer_id");

	/* 128 bytes is the limit, counted in bytes: 64 two-byte characters. */
	char *c128 = repeat('c', 128);
	char e64[129];
	for (int i = 0; i < 64; i++)
		memcpy(e64 + 2 * i, "\xc3\xa9", 2);
	e64[128] = '\0';
	resp_t *r = NULL;
	h_assert_code(h_create_offer(T.a, c128, "basic", NULL, &r), H_OK);
	assert_string_equal(r->create_offer->offer->customer_id, c128);
	fp_response_free(r);
	h_assert_code(h_create_offer(T.a, e64, "basic", NULL, &r), H_OK);
	assert_string_equal(r->create_offer->offer->customer_id, e64);
	fp_response_free(r);
	char e65[131];
	memcpy(e65, e64, 128);
	memcpy(e65 + 128, "\xc3\xa9", 3);
	expect(h_create_offer(T.a, e65, "basic", NULL, NULL), H_INVALID, "customer_id",
	       "65 two-byte characters");
	free(c128);
	free(c129);
}

static void test_sku(void **state)
{
	char *s65 = repeat('a', 65);
	const char *bad[] = { "", s65, "a b", "a/b", "caf\xc3\xa9", "tab\there", "semi;colon" };
	snapshot s = snap();
	for (size_t i = 0; i < N(bad); i++) {
		char name[96];
		snprintf(name, sizeof(name), "CreateOffer sku #%zu", i);
		expect(h_create_offer(T.a, "cust", bad[i], NULL, NULL), H_INVALID, "sku", name);
		snprintf(name, sizeof(name), "GetProduct sku #%zu", i);
		expect(h_get_product(T.a, bad[i], NULL), H_INVALID, "sku", name);
		Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
		p.sku = (char *)bad[i];
		p.name = "Name";
		p.currency = "USD";
		p.suggested_price_minor = 100;
		p.list_price_minor = 100;
		snprintf(name, sizeof(name), "PutProduct sku #%zu", i);
		expect(h_put_product(T.a, &p, NULL), H_INVALID, "product.sku", name);
	}
	/* A well-formed sku that does not exist. */
	expect(h_create_offer(T.a, "cust", "no-such-product", NULL, NULL), H_NOT_FOUND, "sku",
	       "CreateOffer unknown sku");
	assert_unchanged(s, "bad sku");

	char *s64 = repeat('a', 64);
	h_product(T.a, s64, 10, 10);
	h_product(T.a, "A-Za-z0-9._-", 10, 10);
	resp_t *r = NULL;
	h_assert_code(h_get_product(T.a, s64, &r), H_OK);
	assert_string_equal(r->get_product->product->sku, s64);
	fp_response_free(r);
	free(s64);
	free(s65);
}

/* ---------------------------------------------------------------- products */

static void test_product_fields(void **state)
{
	char *n201 = repeat('n', 201);
	struct {
		const char *field;
		Fairpay__V1__Product p;
	} bad[32];
	size_t n = 0;
#define BAD(f, stmt)                                               \
	do {                                                       \
		Fairpay__V1__Product *p = &bad[n].p;               \
		fairpay__v1__product__init(p);                     \
		p->sku = "basic"; /* exists: must stay as it is */ \
		p->name = "Renamed";                               \
		p->currency = "USD";                               \
		p->suggested_price_minor = 2000;                   \
		p->list_price_minor = 2400;                        \
		stmt;                                              \
		bad[n++].field = "product." f;                     \
	} while (0)
	BAD("currency", p->currency = "usd");
	BAD("currency", p->currency = "US");
	BAD("currency", p->currency = "USDD");
	BAD("currency", p->currency = "");
	BAD("currency", p->currency = "U1D");
	BAD("name", p->name = "");
	BAD("name", p->name = n201);
	BAD("name", p->name = "bad \xff utf8");
	BAD("suggested_price_minor", p->suggested_price_minor = -1);
	BAD("suggested_price_minor", p->suggested_price_minor = 1000000000000001LL);
	BAD("unit_price_minor", p->unit_price_minor = -1);
	BAD("list_price_minor", p->list_price_minor = -1);
	BAD("minimum_price_minor", p->minimum_price_minor = -5);
	BAD("period_days", p->period_days = -1);
	BAD("period_days", p->period_days = 3661);
	BAD("min_tier", p->min_tier = (Fairpay__V1__Tier)99);
	BAD("min_tier", p->min_tier = (Fairpay__V1__Tier)-1);
#undef BAD
	snapshot s = snap();
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "PutProduct bad #%zu (%s)", i, bad[i].field);
		expect(h_put_product(T.a, &bad[i].p, NULL), H_INVALID, bad[i].field, name);
		/* The same on a new sku: not created either. */
		bad[i].p.sku = "never-created";
		expect(h_put_product(T.a, &bad[i].p, NULL), H_INVALID, bad[i].field, name);
	}
	/* No product at all. */
	Fairpay__V1__PutProductRequest empty = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	expect(h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT, &empty, NULL, NULL), H_INVALID,
	       "product", "PutProduct without a product");
	assert_unchanged(s, "bad products");

	resp_t *r = NULL;
	h_assert_code(h_get_product(T.a, "basic", &r), H_OK);
	assert_int_equal(r->get_product->product->version, 1);
	assert_int_equal(r->get_product->product->suggested_price_minor, 1000);
	fp_response_free(r);
	h_assert_code(h_get_product(T.a, "never-created", NULL), H_NOT_FOUND);

	/* The edges are accepted. */
	Fairpay__V1__Product ok = FAIRPAY__V1__PRODUCT__INIT;
	ok.sku = "edges";
	ok.name = "Edges";
	ok.currency = "XTS";
	ok.suggested_price_minor = 1000000000000000LL;
	ok.list_price_minor = 0;
	ok.period_days = 3660;
	ok.min_tier = H_TIER(FIXED_PRICE);
	h_assert_code(h_put_product(T.a, &ok, &r), H_OK);
	assert_int_equal(r->put_product->product->suggested_price_minor, 1000000000000000LL);
	assert_int_equal(r->put_product->product->period_days, 3660);
	fp_response_free(r);
	free(n201);
}

static void test_list_limits(void **state)
{
	char *vid = NULL;
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "many products", &vid, NULL);
	/* 1001 products and 1001 events, written directly. */
	char *sql = h_fmt("INSERT INTO products (vendor_id, sku, name, currency, "
			  "suggested_price_minor, list_price_minor) SELECT '%s', 'sku-' || "
			  "lpad(i::text, 4, '0'), 'n', 'USD', 1, 1 FROM generate_series(0, 1000) i",
			  vid);
	free(h_sql(T.w.db, sql));
	free(sql);
	sql = h_fmt("INSERT INTO events (vendor_id, customer_id, kind, detail) SELECT '%s', "
		    "'many', 'OFFER_CREATED', 'synthetic ' || i FROM generate_series(1, 1001) i",
		    vid);
	free(h_sql(T.w.db, sql));
	free(sql);

	resp_t *r = NULL;
	h_assert_code(h_list_products(c, NULL, 0, &r), H_OK); /* 0 means 100 */
	assert_int_equal(r->list_products->n_products, 100);
	assert_string_equal(r->list_products->products[99]->sku, "sku-0099");
	assert_string_equal(r->list_products->next_page_token, "sku-0099");
	fp_response_free(r);
	h_assert_code(h_list_products(c, NULL, 5000, &r), H_OK); /* above 1000 is 1000 */
	assert_int_equal(r->list_products->n_products, 1000);
	assert_string_not_equal(r->list_products->next_page_token, "");
	char *token = strdup(r->list_products->next_page_token);
	fp_response_free(r);
	h_assert_code(h_list_products(c, token, 5000, &r), H_OK);
	assert_int_equal(r->list_products->n_products, 1);
	assert_string_equal(r->list_products->products[0]->sku, "sku-1000");
	assert_string_equal(r->list_products->next_page_token, "");
	fp_response_free(r);
	free(token);
	h_assert_code(h_list_products(c, NULL, 1001, &r), H_OK);
	assert_int_equal(r->list_products->n_products, 1000);
	fp_response_free(r);
	expect(h_list_products(c, "not a token!", 10, NULL), H_INVALID, "page_token",
	       "ListProducts bad page_token");

	h_assert_code(h_list_events(c, "many", 0, 0, &r), H_OK);
	Fairpay__V1__ListCustomerEventsResponse *ev = r->list_customer_events;
	assert_int_equal(ev->n_events, 100);
	assert_int_equal(ev->next_after_id, ev->events[99]->id);
	fp_response_free(r);
	h_assert_code(h_list_events(c, "many", 0, 5000, &r), H_OK);
	ev = r->list_customer_events;
	assert_int_equal(ev->n_events, 1000);
	assert_int_equal(ev->next_after_id, ev->events[999]->id);
	uint64_t after = ev->next_after_id;
	fp_response_free(r);
	h_assert_code(h_list_events(c, "many", after, 5000, &r), H_OK);
	assert_int_equal(r->list_customer_events->n_events, 1);
	assert_string_equal(r->list_customer_events->events[0]->detail, "synthetic 1001");
	assert_int_equal(r->list_customer_events->next_after_id, 0);
	fp_response_free(r);
	fp_client_free(c);
	free(vid);
}

/* ---------------------------------------------------------------- offers */

static Fairpay__V1__OfferOverrides ov_init(void)
{
	Fairpay__V1__OfferOverrides ov = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
	return ov;
}

static void test_override_fields(void **state)
{
	struct {
		const char *field;
		Fairpay__V1__OfferOverrides ov;
	} bad[6];
	size_t n = 0;
	bad[n].field = "overrides.mode";
	bad[n].ov = ov_init();
	bad[n].ov.opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
	bad[n++].ov.mode = (Fairpay__V1__OfferMode)99;
	bad[n].field = "overrides.mode";
	bad[n].ov = ov_init();
	bad[n].ov.opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
	bad[n++].ov.mode = (Fairpay__V1__OfferMode)0;
	bad[n].field = "overrides.suggested_price_minor";
	bad[n].ov = ov_init();
	bad[n].ov.opt_suggested_price_minor_case =
		FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
	bad[n++].ov.suggested_price_minor = -1;
	bad[n].field = "overrides.minimum_price_minor";
	bad[n].ov = ov_init();
	bad[n].ov.opt_minimum_price_minor_case =
		FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
	bad[n++].ov.minimum_price_minor = -1;
	bad[n].field = "overrides.minimum_price_minor";
	bad[n].ov = ov_init();
	bad[n].ov.opt_minimum_price_minor_case =
		FAIRPAY__V1__OFFER_OVERRIDES__OPT_MINIMUM_PRICE_MINOR_MINIMUM_PRICE_MINOR;
	bad[n++].ov.minimum_price_minor = 1000000000000001LL;
	snapshot s = snap();
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "CreateOffer overrides #%zu", i);
		expect(h_create_offer(T.a, "ov-cust", "basic", &bad[i].ov, NULL), H_INVALID,
		       bad[i].field, name);
	}
	assert_unchanged(s, "bad overrides");
}

/* ---------------------------------------------------------------- payments */

static void test_payment_fields(void **state)
{
	char *id = h_offer(T.a, "pay-cust", "basic");
	h_accept(T.a, id);
	char *n1001 = repeat('n', 1001);
	Fairpay__V1__PaymentReason r99[] = { (Fairpay__V1__PaymentReason)99 };
	Fairpay__V1__PaymentReason r0[] = { H_PREASON(OTHER), H_PREASON(UNSPECIFIED) };
	Fairpay__V1__PaymentReason r8[] = { (Fairpay__V1__PaymentReason)8 };
	struct {
		const char *field;
		Fairpay__V1__SubmitPaymentRequest m;
	} bad[16];
	size_t n = 0;
#define BAD(f, stmt)                                                                       \
	do {                                                                               \
		Fairpay__V1__SubmitPaymentRequest *m = &bad[n].m;                          \
		fairpay__v1__submit_payment_request__init(m);                              \
		m->offer_id = id;                                                          \
		m->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR; \
		m->amount_minor = 1000;                                                    \
		stmt;                                                                      \
		bad[n++].field = f;                                                        \
	} while (0)
	BAD("amount_minor", m->amount_minor = -1);
	BAD("amount_minor", m->amount_minor = 1000000000000001LL);
	/* Neither amount nor differential (a oneof cannot carry both). */
	BAD("amount_minor", m->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT__NOT_SET);
	BAD("differential_bp", {
		m->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
		m->differential_bp = -10001;
	});
	BAD("differential_bp", {
		m->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
		m->differential_bp = 1000001;
	});
	BAD("usage_units", m->usage_units = -1);
	BAD("reasons", {
		m->reasons = r99;
		m->n_reasons = 1;
	});
	BAD("reasons", {
		m->reasons = r0;
		m->n_reasons = 2;
	});
	BAD("reasons", {
		m->reasons = r8;
		m->n_reasons = 1;
	});
	BAD("note", m->note = n1001);
	BAD("note", m->note = "bad \xff utf8");
	BAD("note", m->note = "overlong \xc0\xaf");
#undef BAD
	snapshot s = snap();
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "SubmitPayment bad #%zu (%s)", i, bad[i].field);
		expect(h_submit_payment(T.a, &bad[i].m, NULL, NULL), H_INVALID, bad[i].field, name);
	}
	assert_unchanged(s, "bad payments");
	assert_true(h_wait_offer_status(T.a, id, H_STATUS(ACCEPTED), 0));

	/* The edges: a 1000-byte note of UTF-8 and the lowest differential. */
	char note[1001];
	for (int i = 0; i < 500; i++)
		memcpy(note + 2 * i, "\xc3\xa9", 2);
	note[1000] = '\0';
	Fairpay__V1__SubmitPaymentRequest ok = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	ok.offer_id = id;
	ok.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
	ok.differential_bp = -10000;
	ok.note = note;
	resp_t *r = NULL;
	h_assert_code(h_submit_payment(T.a, &ok, NULL, &r), H_OK);
	assert_string_equal(r->submit_payment->payment->note, note);
	assert_int_equal(r->submit_payment->payment->amount_minor, 0);
	fp_response_free(r);
	free(n1001);
	free(id);
}

static void test_review_fields(void **state)
{
	/* A PENDING payment: 100 on SP 1000 with DID_NOT_USE. */
	char *id = h_offer(T.a, "review-cust", "basic");
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
	assert_int_equal(r->submit_payment->payment->review, H_REVIEW(PENDING));
	char *pid = strdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);

	char *n1001 = repeat('n', 1001);
	snapshot s = snap();
	expect(h_review_payment(T.a, pid, true, n1001, NULL), H_INVALID, "note", "review note");
	expect(h_review_payment(T.a, pid, true, "bad \xff", NULL), H_INVALID, "note",
	       "review note UTF-8");
	/* Another vendor's payment is NOT_FOUND, exactly like a missing one. */
	expect(h_review_payment(T.b, pid, true, NULL, NULL), H_NOT_FOUND, "payment_id",
	       "another vendor's payment");
	char other_msg[1024], missing_msg[1024];
	message_without(pid, other_msg, sizeof(other_msg));
	expect(h_review_payment(T.a, "p_0123456789abcdef", true, NULL, NULL), H_NOT_FOUND,
	       "payment_id", "missing payment");
	message_without("p_0123456789abcdef", missing_msg, sizeof(missing_msg));
	assert_string_equal(missing_msg, other_msg);
	expect(h_review_payment(T.a, "bogus", true, NULL, NULL), H_NOT_FOUND, "payment_id",
	       "malformed payment id");
	expect(h_review_payment(T.a, id, true, NULL, NULL), H_NOT_FOUND, "payment_id",
	       "an offer id as payment id");
	assert_unchanged(s, "bad reviews");

	h_assert_code(h_review_payment(T.a, pid, true, "ok", &r), H_OK);
	assert_int_equal(r->review_payment->payment->review, H_REVIEW(ACCEPTED));
	fp_response_free(r);
	free(n1001);
	free(pid);
	free(id);
}

/* ---------------------------------------------------------------- other vendors' ids */

typedef int (*offer_call)(fp_client *, const char *, Fairpay__V1__Response **);

static int pay_1000(fp_client *c, const char *id, Fairpay__V1__Response **r)
{
	return h_pay(c, id, 1000, r);
}

static void test_other_vendor_ids(void **state)
{
	char *open_id = h_offer(T.a, "shared-cust", "basic");
	char *acc_id = h_offer(T.a, "shared-cust", "basic");
	h_accept(T.a, acc_id);
	const offer_call calls[] = { h_get_offer, h_accept_offer, h_decline_offer, pay_1000 };
	const char *names[] = { "GetOffer", "AcceptOffer", "DeclineOffer", "SubmitPayment" };
	const char *malformed[] = { "bogus", "o_0123", "o_0123456789ABCDEF", "o_0123456789abcdefg",
				    "p_0123456789abcdef" };

	snapshot s = snap();
	for (size_t i = 0; i < N(calls); i++) {
		for (int k = 0; k < 2; k++) {
			const char *theirs = k == 0 ? open_id : acc_id;
			char name[96];
			snprintf(name, sizeof(name), "%s of another vendor's offer", names[i]);
			expect(calls[i](T.b, theirs, NULL), H_NOT_FOUND, "offer_id", name);
			char msg[1024], missing[1024];
			message_without(theirs, msg, sizeof(msg));
			snprintf(name, sizeof(name), "%s of a missing offer", names[i]);
			expect(calls[i](T.b, "o_0123456789abcdef", NULL), H_NOT_FOUND, "offer_id",
			       name);
			message_without("o_0123456789abcdef", missing, sizeof(missing));
			if (strcmp(msg, missing) != 0)
				fail_msg("%s: another vendor's offer answers '%s', a missing one "
					 "'%s'",
					 names[i], msg, missing);
		}
		for (size_t k = 0; k < N(malformed); k++) {
			char name[96];
			snprintf(name, sizeof(name), "%s of malformed id #%zu", names[i], k);
			expect(calls[i](T.b, malformed[k], NULL), H_NOT_FOUND, "offer_id", name);
		}
		/* Bytes that are not UTF-8 are nobody's id: refused as input,
		 * which tells nothing of other vendors. */
		char name[96];
		snprintf(name, sizeof(name), "%s of an id that is not UTF-8", names[i]);
		expect(calls[i](T.b, "o_0123456789abcde\xff", NULL), H_INVALID, "offer_id", name);
	}
	assert_unchanged(s, "other vendor's offers");
	assert_true(h_wait_offer_status(T.a, open_id, H_STATUS(OPEN), 0));
	assert_true(h_wait_offer_status(T.a, acc_id, H_STATUS(ACCEPTED), 0));

	/* The customer id is the vendor's own: B sees a customer never seen. */
	resp_t *r = h_reputation(T.b, "shared-cust");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 0);
	assert_int_equal(r->get_reputation->reputation->offers_accepted, 0);
	fp_response_free(r);
	h_assert_code(h_list_events(T.b, "shared-cust", 0, 0, &r), H_OK);
	assert_int_equal(r->list_customer_events->n_events, 0);
	fp_response_free(r);
	r = h_reputation(T.a, "shared-cust");
	assert_int_equal(r->get_reputation->reputation->credit_used_minor, 1000);
	fp_response_free(r);
	free(open_id);
	free(acc_id);
}

/* ---------------------------------------------------------------- idempotency key */

static void test_idempotency_key_length(void **state)
{
	char *k256 = repeat('k', 256);
	char *k255 = repeat('k', 255);
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = "idem-cust";
	m.sku = "basic";
	snapshot s = snap();
	expect(h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, k256, NULL), H_INVALID,
	       "idempotency_key", "256-byte idempotency key");
	assert_unchanged(s, "256-byte idempotency key");
	resp_t *r = NULL;
	h_assert_code(h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, k255, &r), H_OK);
	assert_false(r->replayed);
	fp_response_free(r);
	free(k255);
	free(k256);
}

static void test_policy_missing(void **state)
{
	Fairpay__V1__PutPolicyRequest m = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	snapshot s = snap();
	expect(h_vcall(T.a, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &m, NULL, NULL), H_INVALID,
	       "policy", "PutPolicy without a policy");
	assert_unchanged(s, "PutPolicy without a policy");
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_customer_id),
		cmocka_unit_test(test_sku),
		cmocka_unit_test(test_product_fields),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_override_fields),
		cmocka_unit_test(test_payment_fields),
		cmocka_unit_test(test_review_fields),
		cmocka_unit_test(test_other_vendor_ids),
		cmocka_unit_test(test_idempotency_key_length),
		cmocka_unit_test(test_policy_missing),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
