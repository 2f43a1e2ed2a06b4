/* fairpayctl's FairPay cycle commands (see ctl_cycle.h). Each builds its
 * request (ctl_build), makes the call over one connection and prints the
 * reply as text or, with --json, as one JSON object per line that mirrors the
 * Response message (plus "replayed" on mutating calls). */
#include "ctl_cycle.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "ctl_attest.h"
#include "ctl_build.h"
#include "ctl_out.h"
#include "ctl_remote.h"
#include "ctl_show.h"
#include "limit.h"

/* End the JSON object of a mutating call's reply. */
static void json_end_mutating(const Fairpay__V1__Response *resp)
{
	printf(",\"replayed\":%s}\n", resp->replayed ? "true" : "false");
}

/* Print a reply holding one offer. */
static void print_offer(const ctl_args *a, const Fairpay__V1__Response *resp,
			const Fairpay__V1__Offer *o, bool mutating)
{
	if (a->json) {
		fputs("{\"offer\":", stdout);
		ctl_show_offer_json(stdout, o);
		if (mutating)
			json_end_mutating(resp);
		else
			fputs("}\n", stdout);
	} else {
		ctl_show_offer(stdout, "", o);
	}
}

/* ---------------------------------------------------------------- products */

/* Create or replace a product. */
int ctl_cycle_product_put(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__PutProductRequest pp = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	Fairpay__V1__Product product = FAIRPAY__V1__PRODUCT__INIT;
	Fairpay__V1__Response *resp = NULL;

	ctl_build_product(a, &product);
	pp.product = &product;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT;
	req.put_product = &pp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_PUT_PRODUCT, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__PutProductResponse *r = resp->put_product;
	if (a->json) {
		fputs("{\"product\":", stdout);
		ctl_show_product_json(stdout, r->product);
		printf(",\"created\":%s", r->created ? "true" : "false");
		json_end_mutating(resp);
	} else {
		ctl_show_product(stdout, "", r->product);
		printf("created: %s\n", r->created ? "yes" : "no");
	}
done:
	fp_response_free(resp);
	return rc;
}

/* Print a product. */
int ctl_cycle_product_get(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetProductRequest gp = FAIRPAY__V1__GET_PRODUCT_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	gp.sku = (char *)a->sku;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT;
	req.get_product = &gp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_GET_PRODUCT, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	if (a->json) {
		fputs("{\"product\":", stdout);
		ctl_show_product_json(stdout, resp->get_product->product);
		fputs("}\n", stdout);
	} else {
		ctl_show_product(stdout, "", resp->get_product->product);
	}
done:
	fp_response_free(resp);
	return rc;
}

/* Print one page of products. */
int ctl_cycle_product_list(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListProductsRequest lp = FAIRPAY__V1__LIST_PRODUCTS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	lp.limit = a->limit;
	if (a->page_token != NULL)
		lp.page_token = (char *)a->page_token;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS;
	req.list_products = &lp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_PRODUCTS, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListProductsResponse *r = resp->list_products;
	const char *next = r->next_page_token != NULL ? r->next_page_token : "";
	if (a->json) {
		fputs("{\"products\":[", stdout);
		for (size_t i = 0; i < r->n_products; i++) {
			if (i > 0)
				fputc(',', stdout);
			ctl_show_product_json(stdout, r->products[i]);
		}
		fputs("],\"next_page_token\":", stdout);
		ctl_out_json_string(stdout, next);
		fputs("}\n", stdout);
		goto done;
	}
	if (ctl_show_product_table(stdout, r->products, r->n_products) != 0) {
		fprintf(stderr, "error: out of memory\n");
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	/* stderr, so that stdout stays one clean table for scripts. */
	if (next[0] != '\0')
		ctl_out_field(stderr, "more products follow; next page with --page-token", next);
done:
	fp_response_free(resp);
	return rc;
}

/* ---------------------------------------------------------------- policy */

static void print_policy(const ctl_args *a, const Fairpay__V1__Response *resp,
			 const Fairpay__V1__Policy *p, bool mutating)
{
	if (a->json) {
		fputs("{\"policy\":", stdout);
		ctl_show_policy_json(stdout, p);
		if (mutating)
			json_end_mutating(resp);
		else
			fputs("}\n", stdout);
	} else {
		ctl_show_policy(stdout, "", p);
	}
}

/* Print the vendor's policy. */
int ctl_cycle_policy_get(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetPolicyRequest gp = FAIRPAY__V1__GET_POLICY_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_POLICY;
	req.get_policy = &gp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_GET_POLICY, &resp);
	if (rc == CTL_EXIT_OK)
		print_policy(a, resp, resp->get_policy->policy, false);
	fp_response_free(resp);
	return rc;
}

/* Change the given policy fields. */
int ctl_cycle_policy_set(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__PutPolicyRequest pp = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	Fairpay__V1__Policy policy = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS];
	Fairpay__V1__Response *resp = NULL;

	ctl_build_policy(a, &pp, &policy, reasons);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PUT_POLICY;
	req.put_policy = &pp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_PUT_POLICY, &resp);
	if (rc == CTL_EXIT_OK)
		print_policy(a, resp, resp->put_policy->policy, true);
	fp_response_free(resp);
	return rc;
}

/* ---------------------------------------------------------------- offers */

/* Make an offer. */
int ctl_cycle_offer_create(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	Fairpay__V1__OfferOverrides ov = FAIRPAY__V1__OFFER_OVERRIDES__INIT;
	Fairpay__V1__Response *resp = NULL;

	co.customer_id = (char *)a->customer_id;
	co.sku = (char *)a->sku;
	/* Overrides are sent only when given: an empty message would still
	 * be "present" to a server that checks for it. */
	if (ctl_build_overrides(a, &ov))
		co.overrides = &ov;
	uint8_t att[LIMIT_ATTESTATION_BYTES];
	size_t att_len = 0;
	if (a->attestation != NULL) {
		int brc = ctl_attest_bytes(a->attestation, NULL, att, sizeof(att), &att_len);
		if (brc != CTL_EXIT_OK)
			return brc;
		co.attestation.data = att;
		co.attestation.len = att_len;
	}
	co.attestation_subject = (char *)(a->subject != NULL ? a->subject : "");
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_CREATE_OFFER, &resp);
	if (rc == CTL_EXIT_OK)
		print_offer(a, resp, resp->create_offer->offer, true);
	fp_response_free(resp);
	return rc;
}

/* Accept an offer. */
int ctl_cycle_offer_accept(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	ao.offer_id = (char *)a->offer_id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
	req.accept_offer = &ao;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_ACCEPT_OFFER, &resp);
	if (rc == CTL_EXIT_OK)
		print_offer(a, resp, resp->accept_offer->offer, true);
	fp_response_free(resp);
	return rc;
}

/* Decline an offer. */
int ctl_cycle_offer_decline(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__DeclineOfferRequest d = FAIRPAY__V1__DECLINE_OFFER_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	d.offer_id = (char *)a->offer_id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER;
	req.decline_offer = &d;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_DECLINE_OFFER, &resp);
	if (rc == CTL_EXIT_OK)
		print_offer(a, resp, resp->decline_offer->offer, true);
	fp_response_free(resp);
	return rc;
}

/* Print an offer. */
int ctl_cycle_offer_get(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetOfferRequest g = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	g.offer_id = (char *)a->offer_id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_OFFER;
	req.get_offer = &g;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_GET_OFFER, &resp);
	if (rc == CTL_EXIT_OK)
		print_offer(a, resp, resp->get_offer->offer, false);
	fp_response_free(resp);
	return rc;
}

/* ---------------------------------------------------------------- list pages */

/* What differs between the List calls' pages: the rows' name, one row as
 * JSON, all rows as a table. items is the response's array of rows. */
typedef struct page_kind {
	const char *name;
	void (*json_item)(FILE *f, const void *items, size_t i);
	int (*table)(FILE *f, const void *items, size_t n);
} page_kind;

static void offer_json_item(FILE *f, const void *items, size_t i)
{
	ctl_show_offer_json(f, ((Fairpay__V1__Offer *const *)items)[i]);
}

static int offer_table(FILE *f, const void *items, size_t n)
{
	return ctl_show_offer_table(f, (Fairpay__V1__Offer *const *)items, n);
}

static void payment_json_item(FILE *f, const void *items, size_t i)
{
	ctl_show_payment_json(f, ((Fairpay__V1__Payment *const *)items)[i]);
}

static int payment_table(FILE *f, const void *items, size_t n)
{
	return ctl_show_payment_table(f, (Fairpay__V1__Payment *const *)items, n);
}

/* Print one page: {"NAME":[...],"next_page_token":...} with --json, else the
 * table on stdout and the next page's token on stderr (so that stdout stays
 * one clean table for scripts). Returns an exit code. */
static int print_page(const ctl_args *a, const page_kind *k, const void *items, size_t n,
		      const char *next_token)
{
	const char *next = next_token != NULL ? next_token : "";
	if (a->json) {
		printf("{\"%s\":[", k->name);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				fputc(',', stdout);
			k->json_item(stdout, items, i);
		}
		fputs("],\"next_page_token\":", stdout);
		ctl_out_json_string(stdout, next);
		fputs("}\n", stdout);
		return CTL_EXIT_OK;
	}
	if (k->table(stdout, items, n) != 0) {
		fprintf(stderr, "error: out of memory\n");
		return CTL_EXIT_REFUSED;
	}
	if (next[0] != '\0') {
		char label[64];
		snprintf(label, sizeof(label), "more %s follow; next page with --page-token",
			 k->name);
		ctl_out_field(stderr, label, next);
	}
	return CTL_EXIT_OK;
}

/* Print one page of the vendor's offers. */
int ctl_cycle_offers_list(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListOffersRequest lo = FAIRPAY__V1__LIST_OFFERS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	if (a->state.set)
		lo.status = (Fairpay__V1__OfferStatus)a->state.v;
	if (a->customer_id != NULL)
		lo.customer_id = (char *)a->customer_id;
	if (a->page_token != NULL)
		lo.page_token = (char *)a->page_token;
	lo.limit = a->limit;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_OFFERS;
	req.list_offers = &lo;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_OFFERS, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListOffersResponse *r = resp->list_offers;
	static const page_kind offers = { "offers", offer_json_item, offer_table };
	rc = print_page(a, &offers, r->offers, r->n_offers, r->next_page_token);
done:
	fp_response_free(resp);
	return rc;
}

/* ---------------------------------------------------------------- payments */

/* Print a payment and a reputation (and, for pay, the next offer) under
 * headings, or as one JSON object. */
static void print_payment_reply(const ctl_args *a, const Fairpay__V1__Response *resp,
				const Fairpay__V1__Payment *p, const Fairpay__V1__Reputation *r,
				bool has_next, const Fairpay__V1__Offer *next)
{
	if (a->json) {
		fputs("{\"payment\":", stdout);
		ctl_show_payment_json(stdout, p);
		fputs(",\"reputation\":", stdout);
		ctl_show_reputation_json(stdout, r);
		if (has_next) {
			fputs(",\"next_offer\":", stdout);
			if (next != NULL)
				ctl_show_offer_json(stdout, next);
			else
				fputs("null", stdout);
		}
		json_end_mutating(resp);
		return;
	}
	fputs("payment:\n", stdout);
	ctl_show_payment(stdout, "  ", p);
	fputs("reputation:\n", stdout);
	ctl_show_reputation(stdout, "  ", r);
	if (has_next) {
		if (next != NULL) {
			fputs("next_offer:\n", stdout);
			ctl_show_offer(stdout, "  ", next);
		} else {
			fputs("next_offer: -\n", stdout);
		}
	}
}

/* Record a payment. */
int ctl_cycle_pay(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS];
	Fairpay__V1__Response *resp = NULL;

	ctl_build_payment(a, &sp, reasons);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	req.submit_payment = &sp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_SUBMIT_PAYMENT, &resp);
	if (rc == CTL_EXIT_OK) {
		const Fairpay__V1__SubmitPaymentResponse *r = resp->submit_payment;
		print_payment_reply(a, resp, r->payment, r->reputation, true, r->next_offer);
	}
	fp_response_free(resp);
	return rc;
}

/* Review a payment. */
int ctl_cycle_review(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ReviewPaymentRequest rp = FAIRPAY__V1__REVIEW_PAYMENT_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	rp.payment_id = (char *)a->payment_id;
	rp.accept_reasons = a->accept;
	if (a->note != NULL)
		rp.note = (char *)a->note;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT;
	req.review_payment = &rp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_REVIEW_PAYMENT, &resp);
	if (rc == CTL_EXIT_OK) {
		const Fairpay__V1__ReviewPaymentResponse *r = resp->review_payment;
		print_payment_reply(a, resp, r->payment, r->reputation, false, NULL);
	}
	fp_response_free(resp);
	return rc;
}

/* Print one page of the vendor's payments. */
int ctl_cycle_payments_list(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListPaymentsRequest lp = FAIRPAY__V1__LIST_PAYMENTS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	if (a->state.set)
		lp.review = (Fairpay__V1__Review)a->state.v;
	if (a->customer_id != NULL)
		lp.customer_id = (char *)a->customer_id;
	if (a->page_token != NULL)
		lp.page_token = (char *)a->page_token;
	lp.limit = a->limit;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_PAYMENTS;
	req.list_payments = &lp;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_PAYMENTS, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListPaymentsResponse *r = resp->list_payments;
	static const page_kind payments = { "payments", payment_json_item, payment_table };
	rc = print_page(a, &payments, r->payments, r->n_payments, r->next_page_token);
done:
	fp_response_free(resp);
	return rc;
}

/* ---------------------------------------------------------------- customers */

/* Print a customer's reputation. */
int ctl_cycle_reputation(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	gr.customer_id = (char *)a->customer_id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &gr;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_GET_REPUTATION, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	if (a->json) {
		fputs("{\"reputation\":", stdout);
		ctl_show_reputation_json(stdout, resp->get_reputation->reputation);
		fputs("}\n", stdout);
	} else {
		ctl_show_reputation(stdout, "", resp->get_reputation->reputation);
	}
done:
	fp_response_free(resp);
	return rc;
}

/* The feed's long polls wait this long, well within the client's timeout. */
static uint32_t feed_wait_ms(const ctl_args *a)
{
	int timeout = a->timeout_ms > 0 ? a->timeout_ms : FP_CLIENT_DEFAULT_TIMEOUT_MS;
	int wait = timeout - 2000;
	if (wait > 25000)
		wait = 25000;
	return wait > 100 ? (uint32_t)wait : 100;
}

/* The vendor's feed: one page, or with --follow every event as it commits,
 * on one connection, until interrupted or the connection fails. */
static int feed_events(const ctl_args *a)
{
	fp_client *c = NULL;
	int rc = ctl_remote_open(a, true, &c);
	Fairpay__V1__ListEventsRequest le = FAIRPAY__V1__LIST_EVENTS_REQUEST__INIT;
	Fairpay__V1__EventKind kinds[CTL_MAX_KINDS];
	for (size_t i = 0; i < a->n_kinds; i++)
		kinds[i] = (Fairpay__V1__EventKind)a->kinds[i];
	le.kinds = kinds;
	le.n_kinds = a->n_kinds;
	le.after_id = a->after_id;
	le.limit = a->limit;
	le.wait_ms = a->follow ? feed_wait_ms(a) : 0;
	while (rc == CTL_EXIT_OK) {
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		Fairpay__V1__Response *resp = NULL;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS;
		req.list_events = &le;
		rc = ctl_remote_call(c, a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_EVENTS, &resp);
		if (rc != CTL_EXIT_OK)
			break;
		const Fairpay__V1__ListEventsResponse *r = resp->list_events;
		if (a->follow && a->json) {
			for (size_t i = 0; i < r->n_events; i++) {
				ctl_show_event_json(stdout, r->events[i]);
				fputc('\n', stdout);
			}
		} else if (a->json) {
			fputs("{\"events\":[", stdout);
			for (size_t i = 0; i < r->n_events; i++) {
				if (i > 0)
					fputc(',', stdout);
				ctl_show_event_json(stdout, r->events[i]);
			}
			printf("],\"next_after_id\":%" PRIu64 "}\n", r->next_after_id);
		} else if (r->n_events > 0 &&
			   ctl_show_event_table(stdout, r->events, r->n_events) != 0) {
			fprintf(stderr, "error: out of memory\n");
			rc = CTL_EXIT_REFUSED;
		}
		fflush(stdout);
		bool full = a->limit > 0 ? r->n_events >= a->limit : r->n_events >= 100;
		if (!a->follow && full && !a->json)
			fprintf(stderr,
				"more events may follow; next page with --after %" PRIu64 "\n",
				r->next_after_id);
		le.after_id = r->next_after_id;
		fp_response_free(resp);
		if (!a->follow)
			break;
	}
	fp_client_free(c);
	return rc;
}

/* Print one page of a customer's events, or the vendor's feed. */
int ctl_cycle_events(const ctl_args *a)
{
	if (a->customer_id == NULL)
		return feed_events(a);
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListCustomerEventsRequest le = FAIRPAY__V1__LIST_CUSTOMER_EVENTS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;

	le.customer_id = (char *)a->customer_id;
	le.after_id = a->after_id;
	le.limit = a->limit;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS;
	req.list_customer_events = &le;
	int rc =
		ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_CUSTOMER_EVENTS, &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListCustomerEventsResponse *r = resp->list_customer_events;
	if (a->json) {
		fputs("{\"events\":[", stdout);
		for (size_t i = 0; i < r->n_events; i++) {
			if (i > 0)
				fputc(',', stdout);
			ctl_show_event_json(stdout, r->events[i]);
		}
		printf("],\"next_after_id\":%" PRIu64 "}\n", r->next_after_id);
		goto done;
	}
	if (ctl_show_event_table(stdout, r->events, r->n_events) != 0) {
		fprintf(stderr, "error: out of memory\n");
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	if (r->next_after_id != 0)
		fprintf(stderr, "more events follow; next page with --after %" PRIu64 "\n",
			r->next_after_id);
done:
	fp_response_free(resp);
	return rc;
}
