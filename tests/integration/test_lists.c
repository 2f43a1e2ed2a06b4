/* Integration tests of ListOffers and ListPayments: pages newest first, the
 * filters and the review queue, page tokens (strict, and scoped to the
 * caller), bad input, fairpayctl's `offers list` and `payments list`, and the
 * plans of the server's own list statements (store.h) over many rows of one
 * vendor: each filter combination must be an index scan of its index
 * (migration 0010) that never sorts the vendor's rows.
 *
 * The plan test loads FP_LIST_ROWS offers and as many payments (default
 * 200000; `FP_LIST_ROWS=1000000` for the measurement that docs/
 * protocol-notes.md quotes) with plain SQL and prints each page's time. */
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

#include <libpq-fe.h>

#include "harness.h"
#include "store.h"

static struct {
	h_world w; /* db, admin_key, srv, admin */
} T;

typedef Fairpay__V1__Response resp_t;

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_lists", NULL);
	return 0;
}

static int teardown(void **state)
{
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- calls */

static int list_offers(fp_client *c, int status, const char *customer, const char *token,
		       uint32_t limit, resp_t **resp)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListOffersRequest lo = FAIRPAY__V1__LIST_OFFERS_REQUEST__INIT;
	lo.status = (Fairpay__V1__OfferStatus)status;
	lo.customer_id = (char *)(customer ? customer : "");
	lo.page_token = (char *)(token ? token : "");
	lo.limit = limit;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_OFFERS;
	req.list_offers = &lo;
	resp_t *r = NULL;
	int code = h_call(c, &req, &r);
	if (code == H_OK && r->result_case != FAIRPAY__V1__RESPONSE__RESULT_LIST_OFFERS)
		fail_msg("ListOffers answered OK without its result");
	if (resp != NULL)
		*resp = r;
	else
		fp_response_free(r);
	return code;
}

static int list_payments(fp_client *c, int review, const char *customer, const char *token,
			 uint32_t limit, resp_t **resp)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListPaymentsRequest lp = FAIRPAY__V1__LIST_PAYMENTS_REQUEST__INIT;
	lp.review = (Fairpay__V1__Review)review;
	lp.customer_id = (char *)(customer ? customer : "");
	lp.page_token = (char *)(token ? token : "");
	lp.limit = limit;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_PAYMENTS;
	req.list_payments = &lp;
	resp_t *r = NULL;
	int code = h_call(c, &req, &r);
	if (code == H_OK && r->result_case != FAIRPAY__V1__RESPONSE__RESULT_LIST_PAYMENTS)
		fail_msg("ListPayments answered OK without its result");
	if (resp != NULL)
		*resp = r;
	else
		fp_response_free(r);
	return code;
}

/* Every offer id of a listing, following its tokens with pages of limit,
 * as one comma-joined string (newest first); checks the order and that no
 * page but the last is empty. *pages gets the number of pages. */
static char *all_offers(fp_client *c, int status, const char *customer, uint32_t limit, int *pages)
{
	char *ids = strdup("");
	char *token = strdup("");
	int64_t prev_at = INT64_MAX;
	*pages = 0;
	for (;;) {
		resp_t *r = NULL;
		h_must(list_offers(c, status, customer, token, limit, &r), "ListOffers");
		const Fairpay__V1__ListOffersResponse *l = r->list_offers;
		(*pages)++;
		assert_true(l->n_offers <= (limit ? limit : 100));
		for (size_t i = 0; i < l->n_offers; i++) {
			const Fairpay__V1__Offer *o = l->offers[i];
			assert_true(o->created_at_unix_ms <= prev_at);
			prev_at = o->created_at_unix_ms;
			if (status != 0)
				assert_int_equal(o->status, status);
			if (customer != NULL && customer[0] != '\0')
				assert_string_equal(o->customer_id, customer);
			char *n = h_fmt("%s%s%s", ids, ids[0] ? "," : "", o->offer_id);
			free(ids);
			ids = n;
		}
		free(token);
		token = strdup(l->next_page_token);
		if (token[0] != '\0')
			assert_true(l->n_offers > 0);
		fp_response_free(r);
		if (token[0] == '\0')
			break;
		assert_true(*pages < 1000);
	}
	free(token);
	return ids;
}

/* A payment of amount for a new accepted offer; reason 0: none. Returns
 * the payment id. */
static char *pay(fp_client *c, const char *customer, const char *sku, int64_t amount, int reason,
		 char **offer_id)
{
	char *oid = h_offer(c, customer, sku);
	h_accept(c, oid);
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	Fairpay__V1__PaymentReason reasons[1] = { (Fairpay__V1__PaymentReason)reason };
	sp.offer_id = oid;
	sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	sp.amount_minor = amount;
	if (reason != 0) {
		sp.reasons = reasons;
		sp.n_reasons = 1;
	}
	resp_t *r = NULL;
	h_must(h_submit_payment(c, &sp, NULL, &r), "SubmitPayment");
	char *pid = strdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
	if (offer_id != NULL)
		*offer_id = oid;
	else
		free(oid);
	return pid;
}

/* ---------------------------------------------------------------- offers */

static void test_list_offers(void **state)
{
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists offers", NULL, NULL);
	h_product(c, "book", 1000, 1200);

	/* alice: one PAID, one DECLINED, one OPEN; bob: one ACCEPTED, one OPEN. */
	free(pay(c, "alice", "book", 1000, 0, NULL));
	char *declined = h_offer(c, "alice", "book");
	resp_t *r = NULL;
	h_must(h_decline_offer(c, declined, NULL), "DeclineOffer");
	char *alice_open = h_offer(c, "alice", "book");
	char *bob_accepted = h_offer(c, "bob", "book");
	h_accept(c, bob_accepted);
	char *bob_open = h_offer(c, "bob", "book");

	/* Everything, newest first, in pages of 2: 2 + 2 + 1. */
	int pages = 0;
	char *ids = all_offers(c, 0, NULL, 2, &pages);
	assert_int_equal(pages, 3);
	char *want = h_fmt("%s,%s,%s,%s", bob_open, bob_accepted, alice_open, declined);
	assert_true(strncmp(ids, want, strlen(want)) == 0);
	assert_int_equal(strlen(ids), 5 * 18 + 4);
	free(want);
	free(ids);

	/* One page holds all when the limit allows; no token then. */
	h_must(list_offers(c, 0, NULL, NULL, 0, &r), "ListOffers");
	assert_int_equal(r->list_offers->n_offers, 5);
	assert_string_equal(r->list_offers->next_page_token, "");
	/* A listed offer is the same message as GetOffer's. */
	resp_t *g = NULL;
	h_must(h_get_offer(c, bob_accepted, &g), "GetOffer");
	const Fairpay__V1__Offer *listed = r->list_offers->offers[1];
	size_t n1 = fairpay__v1__offer__get_packed_size(listed);
	size_t n2 = fairpay__v1__offer__get_packed_size(g->get_offer->offer);
	assert_int_equal(n1, n2);
	uint8_t *b1 = malloc(n1), *b2 = malloc(n2);
	fairpay__v1__offer__pack(listed, b1);
	fairpay__v1__offer__pack(g->get_offer->offer, b2);
	assert_memory_equal(b1, b2, n1);
	free(b1);
	free(b2);
	fp_response_free(g);
	fp_response_free(r);

	/* Filters: status, customer, both. */
	ids = all_offers(c, H_STATUS(OPEN), NULL, 1, &pages);
	want = h_fmt("%s,%s", bob_open, alice_open);
	assert_string_equal(ids, want);
	free(want);
	free(ids);
	ids = all_offers(c, 0, "bob", 0, &pages);
	want = h_fmt("%s,%s", bob_open, bob_accepted);
	assert_string_equal(ids, want);
	assert_int_equal(pages, 1);
	free(want);
	free(ids);
	ids = all_offers(c, H_STATUS(OPEN), "alice", 0, &pages);
	assert_string_equal(ids, alice_open);
	free(ids);
	ids = all_offers(c, H_STATUS(DECLINED), "bob", 0, &pages);
	assert_string_equal(ids, "");
	free(ids);
	ids = all_offers(c, 0, "nobody", 0, &pages);
	assert_string_equal(ids, "");
	free(ids);

	free(declined);
	free(alice_open);
	free(bob_accepted);
	free(bob_open);
	fp_client_free(c);
}

/* ---------------------------------------------------------------- payments */

static void test_review_queue(void **state)
{
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists payments", NULL, NULL);
	h_product(c, "app", 1000, 1000);
	char *p1 = pay(c, "carol", "app", 1000, 0, NULL);
	char *p2 = pay(c, "carol", "app", 100, H_PREASON(DID_NOT_USE), NULL);
	char *p3 = pay(c, "dave", "app", 200, H_PREASON(TECHNICAL_PROBLEM), NULL);
	char *p4 = pay(c, "dave", "app", 1000, 0, NULL);

	/* The review queue: the excused payments, newest first. */
	resp_t *r = NULL;
	h_must(list_payments(c, H_REVIEW(PENDING), NULL, NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 2);
	assert_string_equal(r->list_payments->payments[0]->payment_id, p3);
	assert_string_equal(r->list_payments->payments[1]->payment_id, p2);
	assert_int_equal(r->list_payments->payments[0]->review, H_REVIEW(PENDING));
	assert_string_equal(r->list_payments->next_page_token, "");
	fp_response_free(r);

	/* Pages of one through all four. */
	char *token = strdup("");
	const char *order[] = { p4, p3, p2, p1 };
	for (int i = 0; i < 4; i++) {
		h_must(list_payments(c, 0, NULL, token, 1, &r), "ListPayments");
		assert_int_equal(r->list_payments->n_payments, 1);
		assert_string_equal(r->list_payments->payments[0]->payment_id, order[i]);
		free(token);
		token = strdup(r->list_payments->next_page_token);
		assert_int_equal(token[0] == '\0', i == 3);
		fp_response_free(r);
	}
	free(token);

	/* A review takes a payment out of the queue. */
	h_must(h_review_payment(c, p2, true, "ok", NULL), "ReviewPayment");
	h_must(list_payments(c, H_REVIEW(PENDING), NULL, NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 1);
	assert_string_equal(r->list_payments->payments[0]->payment_id, p3);
	fp_response_free(r);
	h_must(list_payments(c, H_REVIEW(ACCEPTED), "carol", NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 1);
	assert_string_equal(r->list_payments->payments[0]->payment_id, p2);
	assert_int_equal(r->list_payments->payments[0]->review, H_REVIEW(ACCEPTED));
	fp_response_free(r);
	h_must(list_payments(c, H_REVIEW(NOT_NEEDED), "dave", NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 1);
	assert_string_equal(r->list_payments->payments[0]->payment_id, p4);
	fp_response_free(r);
	h_must(list_payments(c, H_REVIEW(REJECTED), NULL, NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 0);
	fp_response_free(r);

	free(p1);
	free(p2);
	free(p3);
	free(p4);
	fp_client_free(c);
}

/* ---------------------------------------------------------------- isolation */

static void test_vendor_isolation(void **state)
{
	fp_client *a = h_vendor_client(T.w.srv, T.w.admin, "lists a", NULL, NULL);
	fp_client *b = h_vendor_client(T.w.srv, T.w.admin, "lists b", NULL, NULL);
	h_product(a, "x", 1000, 1000);
	h_product(b, "x", 1000, 1000);
	char *b_old = pay(b, "bea", "x", 1000, 0, NULL);
	for (int i = 0; i < 3; i++)
		free(pay(a, "erin", "x", 100, H_PREASON(DID_NOT_USE), NULL));

	/* B filtering by A's customer, or by A's review queue, sees nothing. */
	resp_t *r = NULL;
	h_must(list_offers(b, 0, "erin", NULL, 0, &r), "ListOffers");
	assert_int_equal(r->list_offers->n_offers, 0);
	assert_string_equal(r->list_offers->next_page_token, "");
	fp_response_free(r);
	h_must(list_payments(b, H_REVIEW(PENDING), NULL, NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 0);
	fp_response_free(r);
	h_must(list_payments(b, 0, "erin", NULL, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 0);
	fp_response_free(r);

	/* A token from A's listing gives B only B's own older rows. */
	h_must(list_payments(a, 0, NULL, NULL, 1, &r), "ListPayments");
	char *a_token = strdup(r->list_payments->next_page_token);
	assert_true(a_token[0] != '\0');
	fp_response_free(r);
	h_must(list_payments(b, 0, NULL, a_token, 0, &r), "ListPayments");
	assert_int_equal(r->list_payments->n_payments, 1);
	assert_string_equal(r->list_payments->payments[0]->payment_id, b_old);
	fp_response_free(r);
	free(a_token);
	h_must(list_offers(a, 0, NULL, NULL, 1, &r), "ListOffers");
	a_token = strdup(r->list_offers->next_page_token);
	fp_response_free(r);
	h_must(list_offers(b, 0, "erin", a_token, 0, &r), "ListOffers");
	assert_int_equal(r->list_offers->n_offers, 0);
	fp_response_free(r);
	h_must(list_offers(b, 0, NULL, a_token, 0, &r), "ListOffers");
	assert_int_equal(r->list_offers->n_offers, 1);
	assert_string_equal(r->list_offers->offers[0]->customer_id, "bea");
	fp_response_free(r);
	free(a_token);

	free(b_old);
	fp_client_free(a);
	fp_client_free(b);
}

/* ---------------------------------------------------------------- bad input */

static void test_bad_input(void **state)
{
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists bad", NULL, NULL);
	h_product(c, "x", 1000, 1000);
	for (int i = 0; i < 2; i++)
		free(pay(c, "fay", "x", 1000, 0, NULL));

	/* Unknown enum values. */
	h_assert_code(list_offers(c, 7, NULL, NULL, 0, NULL), H_INVALID);
	h_assert_field("status");
	h_assert_code(list_offers(c, -1, NULL, NULL, 0, NULL), H_INVALID);
	h_assert_field("status");
	h_assert_code(list_payments(c, 5, NULL, NULL, 0, NULL), H_INVALID);
	h_assert_field("review");

	/* Tokens the server did not make, and the other list's tokens. */
	resp_t *r = NULL;
	h_must(list_offers(c, 0, NULL, NULL, 1, &r), "ListOffers");
	char *otok = strdup(r->list_offers->next_page_token);
	fp_response_free(r);
	h_must(list_payments(c, 0, NULL, NULL, 1, &r), "ListPayments");
	char *ptok = strdup(r->list_payments->next_page_token);
	fp_response_free(r);
	assert_int_equal(strlen(otok), 33);
	assert_int_equal(strlen(ptok), 33);
	char *upper = strdup(otok);
	for (char *p = upper + 1; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	char *longer = h_fmt("%s0", otok);
	char *far = strdup(otok);
	memcpy(far + 1, "7fffffffffffffff", 16); /* past the year 9999 */
	const char *bad_offer_tokens[] = { "x",
					   "abc",
					   otok + 1,
					   longer,
					   ptok,
					   far,
					   strcmp(upper, otok) != 0 ? upper : "o-",
					   "o00000000000000000000000000000000 " };
	for (size_t i = 0; i < sizeof(bad_offer_tokens) / sizeof(bad_offer_tokens[0]); i++) {
		h_assert_code(list_offers(c, 0, NULL, bad_offer_tokens[i], 0, NULL), H_INVALID);
		h_assert_field("page_token");
	}
	h_assert_code(list_payments(c, 0, NULL, otok, 0, NULL), H_INVALID);
	h_assert_field("page_token");
	/* The valid ones still work. */
	h_must(list_offers(c, 0, NULL, otok, 0, NULL), "ListOffers with its token");
	h_must(list_payments(c, 0, NULL, ptok, 0, NULL), "ListPayments with its token");
	free(otok);
	free(ptok);
	free(upper);
	free(longer);
	free(far);

	/* customer_id over 128 bytes (checked on the wire). */
	char big[130];
	memset(big, 'c', 129);
	big[129] = '\0';
	h_assert_code(list_offers(c, 0, big, NULL, 0, NULL), H_INVALID);
	h_assert_field("customer_id");
	h_assert_code(list_payments(c, 0, big, NULL, 0, NULL), H_INVALID);
	h_assert_field("customer_id");

	/* Huge limits are 1000: the whole (small) list on one page. A negative
	 * number sent as an int32 arrives as a huge uint32. */
	h_must(list_offers(c, 0, NULL, NULL, UINT32_MAX, &r), "ListOffers limit 2^32-1");
	assert_int_equal(r->list_offers->n_offers, 2);
	assert_string_equal(r->list_offers->next_page_token, "");
	fp_response_free(r);
	h_must(list_payments(c, 0, NULL, NULL, (uint32_t)-5, &r), "ListPayments limit -5");
	assert_int_equal(r->list_payments->n_payments, 2);
	fp_response_free(r);
	fp_client_free(c);
}

/* A negative limit as a 10-byte varint, as an int32 field would carry it,
 * on a raw connection: answered, the limit taken as 1000. */
static void test_negative_limit_on_the_wire(void **state)
{
	char *key = NULL;
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists wire", NULL, &key);
	h_product(c, "x", 1000, 1000);
	free(pay(c, "gus", "x", 1000, 0, NULL));
	fp_client_free(c);

	h_tls *t = h_tls_connect(T.w.srv->port);
	h_assert_code(h_tls_auth(t, 1, key), H_OK);
	/* Request { id = 2 (field 1), list_offers (field 34) { limit (field 4) = -1 } } */
	static const uint8_t frame[] = { 0x08, 0x02, 0x92, 0x02, 0x0b, 0x20, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	h_tls_write_frame(t, sizeof(frame), frame, sizeof(frame));
	resp_t *r = NULL;
	assert_int_equal(h_tls_read(t, 10000, &r), H_READ_FRAME);
	assert_int_equal(r->id, 2);
	assert_non_null(r->status);
	assert_int_equal(r->status->code, H_OK);
	assert_int_equal(r->result_case, FAIRPAY__V1__RESPONSE__RESULT_LIST_OFFERS);
	assert_int_equal(r->list_offers->n_offers, 1);
	fairpay__v1__response__free_unpacked(r, NULL);
	h_tls_close(t);
	free(key);
}

/* A page ends early, with a token, when its reply would pass what the
 * connection reserved for it; following the tokens still gives every row. */
static void test_page_ends_early(void **state)
{
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists big", NULL, NULL);
	h_product(c, "x", 1000, 1000);
	char note[1001];
	memset(note, 'n', 1000);
	note[1000] = '\0';
	char *q = h_fmt("SELECT id FROM vendors WHERE name = 'lists big'");
	char *vid = h_sql(T.w.db, q);
	free(q);
	/* 300 payments with 1000-byte notes: over 256 KiB in all. */
	q = h_fmt(
		"INSERT INTO offers (vendor_id, id, customer_id, sku, status, mode, currency,"
		" suggested_price_minor, tier, created_at, expires_at)"
		" SELECT '%s', 'o_' || lpad(to_hex(i), 16, '0'), 'hal', 'x', 'PAID', 'FAIRPAY',"
		" 'USD', 1000, 'STANDARD', now() - i * interval '1 ms', now() + interval '1 day'"
		" FROM generate_series(1, 300) i;"
		"INSERT INTO payments (vendor_id, id, offer_id, customer_id, amount_minor, "
		"currency,"
		" suggested_price_minor, note, fairness_bp, raw_fairness_bp, verdict, created_at)"
		" SELECT '%s', 'p_' || lpad(to_hex(i), 16, '0'), 'o_' || lpad(to_hex(i), 16, '0'),"
		" 'hal', 1000, 'USD', 1000, repeat('n', 1000), 10000, 10000, 'FAIR',"
		" now() - i * interval '1 ms' FROM generate_series(1, 300) i",
		vid, vid);
	free(h_sql(T.w.db, q));
	free(q);
	free(vid);
	resp_t *r = NULL;
	h_must(list_payments(c, 0, NULL, NULL, 1000, &r), "ListPayments");
	size_t first = r->list_payments->n_payments;
	print_message("first page of 1000-byte notes: %zu payments\n", first);
	assert_true(first > 0 && first < 300);
	assert_true(r->list_payments->next_page_token[0] != '\0');
	size_t total = first;
	char *token = strdup(r->list_payments->next_page_token);
	fp_response_free(r);
	while (token[0] != '\0') {
		h_must(list_payments(c, 0, NULL, token, 1000, &r), "ListPayments");
		total += r->list_payments->n_payments;
		free(token);
		token = strdup(r->list_payments->next_page_token);
		fp_response_free(r);
	}
	free(token);
	assert_int_equal(total, 300);
	fp_client_free(c);
}

/* ---------------------------------------------------------------- fairpayctl */

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_ctl_lists(void **state)
{
	char *key = NULL;
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists ctl", NULL, &key);
	h_product(c, "x", 1000, 1000);
	char *oid = NULL;
	char *p1 = pay(c, "ivy", "x", 100, H_PREASON(DID_NOT_USE), &oid);
	char *p2 = pay(c, "jon", "x", 1000, 0, NULL);
	char *open = h_offer(c, "ivy", "x");
	fp_client_free(c);

	char *ctl = h_ctl();
	char *ca = h_path(h_certs_dir(), "ca.pem");
	char *qca = h_shq(ca);
	char *qkey = h_shq(key);
	char *cli = h_fmt("%s --server %s --ca %s --api-key %s", ctl, T.w.srv->addr, qca, qkey);
	char *out = NULL;

	/* Table: a header and one line per offer, newest first. */
	assert_int_equal(h_runf(&out, "%s offers list", cli), 0);
	assert_int_equal(count_lines(out), 4);
	assert_true(h_contains(out, "STATUS"));
	assert_true(strstr(out, open) < strstr(out, oid));
	free(out);
	assert_int_equal(h_runf(&out, "%s offers list --status open --customer ivy", cli), 0);
	assert_int_equal(count_lines(out), 2);
	assert_true(h_contains(out, open));
	free(out);
	/* The singular spelling works too. */
	assert_int_equal(h_runf(&out, "%s offer list --status PAID --json", cli), 0);
	assert_int_equal(count_lines(out), 1);
	assert_true(h_contains(out, "{\"offers\":[{"));
	assert_true(h_contains(out, "\"status\":\"PAID\""));
	assert_true(h_contains(out, "\"next_page_token\":\"\"}"));
	free(out);

	/* Pages: the token of the next page on stderr; --page-token follows it. */
	assert_int_equal(h_runf(&out, "%s offers list --limit 1 2>&1 >/dev/null", cli), 0);
	assert_true(h_contains(out, "--page-token"));
	char *tok = strdup(strstr(out, "--page-token") + strlen("--page-token"));
	free(out);
	char *t = tok;
	while (*t == ':' || *t == ' ')
		t++;
	t[strcspn(t, "\r\n")] = '\0';
	assert_int_equal(strlen(t), 33);
	assert_int_equal(h_runf(&out, "%s offers list --limit 5 --page-token %s --json", cli, t),
			 0);
	assert_true(h_contains(out, oid));
	assert_false(h_contains(out, open));
	free(out);
	free(tok);

	/* The review queue. */
	assert_int_equal(h_runf(&out, "%s payments list --review pending", cli), 0);
	assert_int_equal(count_lines(out), 2);
	assert_true(h_contains(out, p1));
	assert_true(h_contains(out, "PENDING"));
	assert_false(h_contains(out, p2));
	free(out);
	assert_int_equal(h_runf(&out, "%s payments list --review none --customer jon --json", cli),
			 0);
	assert_true(h_contains(out, p2));
	assert_true(h_contains(out, "\"review\":\"NOT_NEEDED\""));
	free(out);

	/* Usage errors (2) and the server's refusals (1). */
	assert_int_equal(h_runf(&out, "%s offers list --status lost 2>&1", cli), 2);
	assert_true(h_contains(out, "--status"));
	free(out);
	assert_int_equal(h_runf(&out, "%s payments list --review maybe 2>&1", cli), 2);
	assert_true(h_contains(out, "--review"));
	free(out);
	assert_int_equal(h_runf(&out, "%s payments list --status open 2>&1", cli), 2);
	free(out);
	assert_int_equal(h_runf(&out, "%s payments list --page-token nope 2>&1", cli), 1);
	assert_true(h_contains(out, "page_token"));
	free(out);

	free(cli);
	free(qkey);
	free(qca);
	free(ca);
	free(ctl);
	free(open);
	free(oid);
	free(p1);
	free(p2);
	free(key);
}

/* ---------------------------------------------------------------- plans at scale */

static long list_rows(void)
{
	const char *s = getenv("FP_LIST_ROWS");
	long n = s != NULL ? strtol(s, NULL, 10) : 0;
	return n >= 1000 ? n : 200000;
}

static PGconn *pg_open(void)
{
	PGconn *pg = PQconnectdb(T.w.db);
	if (PQstatus(pg) != CONNECTION_OK)
		fail_msg("cannot connect: %s", PQerrorMessage(pg));
	return pg;
}

static void pg_ok(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

/* EXPLAIN ANALYZE one list statement with the server's settings (generic
 * plans) and params; fails unless the plan scans index `index` and sorts
 * nothing. Prints the execution time. */
static void check_plan(PGconn *pg, const char *what, const char *sql, int n,
		       const char *const *params, const char *index)
{
	static int seq;
	char name[32];
	snprintf(name, sizeof(name), "l%d", ++seq);
	PGresult *r = PQprepare(pg, name, sql, n, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("prepare %s: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	char *args = strdup("");
	for (int i = 0; i < n; i++) {
		char *lit = PQescapeLiteral(pg, params[i], strlen(params[i]));
		char *a = h_fmt("%s%s%s", args, i ? ", " : "", lit);
		PQfreemem(lit);
		free(args);
		args = a;
	}
	char *q = h_fmt("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE %s(%s)", name, args);
	free(args);
	r = PQexec(pg, q);
	free(q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("explain %s: %s", what, PQresultErrorMessage(r));
	char *plan = strdup("");
	for (int i = 0; i < PQntuples(r); i++) {
		char *p = h_fmt("%s%s\n", plan, PQgetvalue(r, i, 0));
		free(plan);
		plan = p;
	}
	PQclear(r);
	const char *t = strstr(plan, "Execution Time:");
	print_message("%-40s %s", what, t != NULL ? t : "?\n");
	if (!h_contains(plan, "Index Scan") || h_contains(plan, "Sort") ||
	    !h_contains(plan, index) || h_contains(plan, "Seq Scan"))
		fail_msg("%s: want an index scan of %s without a sort, got:\n%s", what, index,
			 plan);
	free(plan);
}

static void test_plans_at_scale(void **state)
{
	long n = list_rows();
	char *key = NULL, *vid = NULL;
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "lists scale", &vid, &key);
	h_product(c, "x", 1000, 1000);
	PGconn *pg = pg_open();
	int64_t t0 = h_now_ms();
	/* n offers and n payments of one vendor over 10000 customers, two rows
	 * per created_at (ties broken by id). Customer "whale" has every 97th
	 * row; statuses and reviews are mostly PAID and NOT_NEEDED. */
	char *q =
		h_fmt("INSERT INTO offers (vendor_id, id, customer_id, sku, status, mode, currency,"
		      " suggested_price_minor, tier, created_at, expires_at, accepted_at, pay_by)"
		      " SELECT '%s', 'o_' || lpad(to_hex(i), 16, '0'),"
		      " CASE WHEN i %% 97 = 0 THEN 'whale' ELSE 'c' || (i %% 10000) END, 'x',"
		      " CASE WHEN i %% 50 = 1 THEN 'OPEN' WHEN i %% 50 = 2 THEN 'ACCEPTED'"
		      " WHEN i %% 50 = 3 THEN 'DECLINED' ELSE 'PAID' END, 'FAIRPAY', 'USD', 1000,"
		      " 'STANDARD', timestamptz '2026-01-01' - (i / 2) * interval '1 second',"
		      " timestamptz '2099-01-01', now(), timestamptz '2099-01-01'"
		      " FROM generate_series(1, %ld) i",
		      vid, n);
	pg_ok(pg, q);
	free(q);
	q = h_fmt(
		"INSERT INTO payments (vendor_id, id, offer_id, customer_id, amount_minor,"
		" currency, suggested_price_minor, fairness_bp, raw_fairness_bp, verdict, review,"
		" created_at)"
		" SELECT '%s', 'p_' || lpad(to_hex(i), 16, '0'), 'o_' || lpad(to_hex(i), 16, '0'),"
		" CASE WHEN i %% 97 = 0 THEN 'whale' ELSE 'c' || (i %% 10000) END, 1000, 'USD',"
		" 1000, 10000, 10000, 'FAIR',"
		" CASE WHEN i %% 997 = 0 THEN 'PENDING' WHEN i %% 997 = 1 THEN 'ACCEPTED'"
		" WHEN i %% 997 = 2 THEN 'REJECTED' ELSE 'NOT_NEEDED' END,"
		" timestamptz '2026-01-01' - (i / 2) * interval '1 second'"
		" FROM generate_series(1, %ld) i",
		vid, n);
	pg_ok(pg, q);
	free(q);
	pg_ok(pg, "ANALYZE offers; ANALYZE payments");
	print_message("loaded %ld offers and %ld payments in %lld ms\n", n, n,
		      (long long)(h_now_ms() - t0));

	/* The server's own statements, planned as the server plans them. */
	pg_ok(pg, "SET plan_cache_mode = force_generic_plan");
	char deep_at[64], deep_id[32];
	char *mid = h_fmt("SELECT created_at::text || '|' || id FROM offers WHERE vendor_id = '%s'"
			  " AND id = 'o_' || lpad(to_hex(%ld), 16, '0')",
			  vid, n / 2 + 1);
	char *v = h_sql(T.w.db, mid);
	free(mid);
	assert_non_null(v);
	snprintf(deep_at, sizeof(deep_at), "%.*s", (int)strcspn(v, "|"), v);
	snprintf(deep_id, sizeof(deep_id), "%s", strchr(v, '|') + 1);
	free(v);
	char deep_pid[32];
	snprintf(deep_pid, sizeof(deep_pid), "p_%s", deep_id + 2);

	struct {
		const char *what;
		bool payments;
		unsigned filters;
		const char *state;
		const char *index;
	} cases[] = {
		{ "offers", false, 0, NULL, "offers_list_idx" },
		{ "offers status=OPEN", false, STORE_LIST_STATE, "OPEN", "offers_list_status_idx" },
		{ "offers customer", false, STORE_LIST_CUSTOMER, NULL, "offers_list_customer_idx" },
		{ "offers status=OPEN customer", false, STORE_LIST_STATE | STORE_LIST_CUSTOMER,
		  "OPEN", "offers_list_customer_idx" },
		{ "payments", true, 0, NULL, "payments_list_idx" },
		{ "payments review=PENDING", true, STORE_LIST_STATE, "PENDING",
		  "payments_list_review_idx" },
		{ "payments customer", true, STORE_LIST_CUSTOMER, NULL,
		  "payments_list_customer_idx" },
		{ "payments review=PENDING customer", true, STORE_LIST_STATE | STORE_LIST_CUSTOMER,
		  "PENDING", "payments_list_customer_idx" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int deep = 0; deep < 2; deep++) {
			const char *params[6] = { vid, deep ? deep_at : "infinity",
						  deep ? (cases[i].payments ? deep_pid : deep_id)
						       : "",
						  "101" };
			int np = 4;
			if (cases[i].state != NULL)
				params[np++] = cases[i].state;
			if (cases[i].filters & STORE_LIST_CUSTOMER)
				params[np++] = "whale";
			char *what = h_fmt("%s, %s page", cases[i].what, deep ? "middle" : "first");
			check_plan(pg, what,
				   cases[i].payments ? store_sql_list_payments(cases[i].filters)
						     : store_sql_list_offers(cases[i].filters),
				   np, params, cases[i].index);
			free(what);
		}
	}
	PQfinish(pg);

	/* Through the server: each filter's first page, and every page of the
	 * whale's review queue, timed (not asserted). */
	resp_t *r = NULL;
	struct {
		const char *what;
		bool payments;
		int state;
		const char *customer;
	} calls[] = {
		{ "ListOffers", false, 0, NULL },
		{ "ListOffers status=DECLINED", false, H_STATUS(DECLINED), NULL },
		{ "ListOffers customer=whale", false, 0, "whale" },
		{ "ListOffers OPEN whale", false, H_STATUS(OPEN), "whale" },
		{ "ListPayments", true, 0, NULL },
		{ "ListPayments PENDING", true, H_REVIEW(PENDING), NULL },
		{ "ListPayments customer=c7", true, 0, "c7" },
		{ "ListPayments REJECTED whale", true, H_REVIEW(REJECTED), "whale" },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		int64_t s = h_now_ms();
		if (calls[i].payments)
			h_must(list_payments(c, calls[i].state, calls[i].customer, NULL, 100, &r),
			       calls[i].what);
		else
			h_must(list_offers(c, calls[i].state, calls[i].customer, NULL, 100, &r),
			       calls[i].what);
		size_t rows =
			calls[i].payments ? r->list_payments->n_payments : r->list_offers->n_offers;
		print_message("%-40s %zu rows in %lld ms\n", calls[i].what, rows,
			      (long long)(h_now_ms() - s));
		assert_true(rows > 0);
		fp_response_free(r);
	}

	/* Pages of one across the ties: rows 1, (2, 3), (4, 5), (6, 7) share
	 * their times, the larger id first. */
	char *token = strdup("");
	const char *tied[] = { "1", "3", "2", "5", "4", "7", "6" };
	for (size_t i = 0; i < sizeof(tied) / sizeof(tied[0]); i++) {
		h_must(list_payments(c, 0, NULL, token, 1, &r), "ListPayments limit 1");
		assert_int_equal(r->list_payments->n_payments, 1);
		char want_id[32];
		snprintf(want_id, sizeof(want_id), "p_%015d%s", 0, tied[i]);
		assert_string_equal(r->list_payments->payments[0]->payment_id, want_id);
		free(token);
		token = strdup(r->list_payments->next_page_token);
		fp_response_free(r);
	}
	free(token);

	/* Every page of the whale's payments: as many as SQL counts, each once,
	 * in strict (created_at, id) descending order across the ties. */
	char *cq = h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND customer_id = "
			 "'whale'",
			 vid);
	long long want = h_sql_int(T.w.db, cq);
	free(cq);
	token = strdup("");
	long long got = 0;
	int pages = 0;
	int64_t s = h_now_ms(), worst = 0;
	char prev[32] = "";
	int64_t prev_at = INT64_MAX;
	do {
		int64_t ps = h_now_ms();
		h_must(list_payments(c, 0, "whale", token, 1000, &r), "ListPayments whale");
		int64_t took = h_now_ms() - ps;
		worst = took > worst ? took : worst;
		pages++;
		for (size_t i = 0; i < r->list_payments->n_payments; i++) {
			const Fairpay__V1__Payment *p = r->list_payments->payments[i];
			assert_true(p->created_at_unix_ms <= prev_at);
			if (p->created_at_unix_ms == prev_at)
				assert_true(strcmp(p->payment_id, prev) < 0);
			prev_at = p->created_at_unix_ms;
			snprintf(prev, sizeof(prev), "%s", p->payment_id);
			got++;
		}
		free(token);
		token = strdup(r->list_payments->next_page_token);
		fp_response_free(r);
	} while (token[0] != '\0');
	free(token);
	print_message("whale's payments: %lld rows in %d pages of 1000, %lld ms, slowest page %lld "
		      "ms\n",
		      got, pages, (long long)(h_now_ms() - s), (long long)worst);
	assert_int_equal(got, want);

	fp_client_free(c);
	free(vid);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_offers),
		cmocka_unit_test(test_review_queue),
		cmocka_unit_test(test_vendor_isolation),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_negative_limit_on_the_wire),
		cmocka_unit_test(test_page_ends_early),
		cmocka_unit_test(test_ctl_lists),
		cmocka_unit_test(test_plans_at_scale),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
