/* Integration tests of webhooks: the endpoint calls (limits, isolation,
 * idempotency), URLs refused, and delivery to real receivers (a Node
 * process verifying every signature with the npm standardwebhooks
 * package, tests/receiver/) through real faults: a receiver down then up,
 * one answering 500 then 200, one that never answers beside one that
 * does, a tampered secret, a name resolving to loopback, and fairpayd
 * killed with SIGKILL mid-stream.
 *
 * The receivers serve HTTPS with the test server certificate (CN
 * localhost, IP 127.0.0.1, signed by the test CA); fairpayd trusts that CA
 * through --webhook-ca-file and may reach 127.0.0.1 through
 * --webhook-allow-private, with short retry and timeout flags. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"
#include "hook_receiver.h"

#define WAIT_MS 20000

static struct {
	h_world w; /* its server: --webhook-allow-private, the test CA */
} T;

typedef Fairpay__V1__Response resp_t;

/* ---------------------------------------------------------------- calls */

static int wh_create(fp_client *c, const char *url, const Fairpay__V1__EventKind *kinds,
		     size_t n_kinds, const char *idem, resp_t **resp)
{
	Fairpay__V1__CreateWebhookEndpointRequest m =
		FAIRPAY__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	m.url = (char *)url;
	m.kinds = (Fairpay__V1__EventKind *)kinds;
	m.n_kinds = n_kinds;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_WEBHOOK_ENDPOINT;
	req.create_webhook_endpoint = &m;
	if (idem != NULL)
		req.idempotency_key = (char *)idem;
	return h_call(c, &req, resp);
}

/* CreateWebhookEndpoint for every kind; returns the id, *secret the secret. */
static char *endpoint(fp_client *c, const char *url, char **secret)
{
	resp_t *r = NULL;
	h_must(wh_create(c, url, NULL, 0, NULL, &r), "CreateWebhookEndpoint");
	char *id = strdup(r->create_webhook_endpoint->endpoint->endpoint_id);
	if (secret != NULL)
		*secret = strdup(r->create_webhook_endpoint->secret);
	fp_response_free(r);
	return id;
}

static int wh_list(fp_client *c, resp_t **resp)
{
	Fairpay__V1__ListWebhookEndpointsRequest m =
		FAIRPAY__V1__LIST_WEBHOOK_ENDPOINTS_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_WEBHOOK_ENDPOINTS;
	req.list_webhook_endpoints = &m;
	return h_call(c, &req, resp);
}

static int wh_delete(fp_client *c, const char *id, const char *idem)
{
	Fairpay__V1__DeleteWebhookEndpointRequest m =
		FAIRPAY__V1__DELETE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	m.endpoint_id = (char *)id;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_DELETE_WEBHOOK_ENDPOINT;
	req.delete_webhook_endpoint = &m;
	if (idem != NULL)
		req.idempotency_key = (char *)idem;
	return h_call(c, &req, NULL);
}

static int wh_deliveries(fp_client *c, const char *id, uint64_t after, uint32_t limit,
			 resp_t **resp)
{
	Fairpay__V1__ListWebhookDeliveriesRequest m =
		FAIRPAY__V1__LIST_WEBHOOK_DELIVERIES_REQUEST__INIT;
	m.endpoint_id = (char *)id;
	m.after_id = after;
	m.limit = limit;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_WEBHOOK_DELIVERIES;
	req.list_webhook_deliveries = &m;
	return h_call(c, &req, resp);
}

/* ---------------------------------------------------------------- events */

/* The vendor's committed events as "evt_<id>" strings (json array). */
static json_t *committed(const char *vendor_id)
{
	char *sql = h_fmt("SELECT coalesce(json_agg('evt_' || id ORDER BY id), '[]')::text"
			  " FROM events WHERE vendor_id = '%s'",
			  vendor_id);
	char *text = h_sql(T.w.db, sql);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	free(sql);
	free(text);
	return j;
}

/* How many of the vendor's committed events the receiver has not seen. */
static size_t missing(const hr_receiver *r, const char *vendor_id, size_t *total)
{
	json_t *ev = committed(vendor_id);
	json_t *st = hr_state(r);
	json_t *ids = json_object_get(st, "ids");
	size_t miss = 0, i;
	json_t *v;
	json_array_foreach(ev, i, v)
	{
		if (json_object_get(ids, json_string_value(v)) == NULL)
			miss++;
	}
	if (total != NULL)
		*total = json_array_size(ev);
	json_decref(ev);
	json_decref(st);
	return miss;
}

/* Wait until the receiver saw every committed event of the vendor. */
static void wait_all_delivered(const hr_receiver *r, const char *vendor_id, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	size_t total = 0, miss;
	while ((miss = missing(r, vendor_id, &total)) != 0) {
		if (h_now_ms() > deadline)
			fail_msg("%zu of %zu committed events not delivered within %d ms", miss,
				 total, timeout_ms);
		h_sleep_ms(50);
	}
	assert_true(total > 0);
}

/* Fail when the receiver saw an event that is not committed. */
static void assert_none_uncommitted(const hr_receiver *r, const char *vendor_id)
{
	json_t *ev = committed(vendor_id);
	json_t *st = hr_state(r);
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(st, "ids"), k, v)
	{
		bool found = false;
		size_t i;
		json_t *e;
		json_array_foreach(ev, i, e) found |= strcmp(json_string_value(e), k) == 0;
		if (!found)
			fail_msg("the receiver got %s, which never committed", k);
	}
	json_decref(ev);
	json_decref(st);
}

static fp_client *vendor(const char *name, char **vendor_id)
{
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, name, vendor_id, NULL);
	h_product(c, "basic", 1000, 1200);
	return c;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
	char *ca = h_cert_path("ca.pem");
	h_world_start(&T.w, "fp_it_webhooks", "--webhook-ca-file", ca, "--webhook-allow-private",
		      "--webhook-retry-base-ms", "200", "--webhook-retry-max-ms", "800",
		      "--webhook-poll-ms", "50", "--webhook-timeout-ms", "2000", NULL);
	free(ca);
	return 0;
}

static int teardown(void **state)
{
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- the calls */

static void test_endpoint_calls(void **state)
{
	char *va = NULL;
	fp_client *a = vendor("hooks-a", &va);
	fp_client *b = vendor("hooks-b", NULL);
	Fairpay__V1__EventKind kinds[] = { H_EVENT(PAYMENT_RECEIVED), H_EVENT(OFFER_CREATED),
					   H_EVENT(PAYMENT_RECEIVED) };
	resp_t *r = NULL;
	h_must(wh_create(a, "https://example.com/hook", kinds, 3, NULL, &r),
	       "CreateWebhookEndpoint");
	const Fairpay__V1__CreateWebhookEndpointResponse *cr = r->create_webhook_endpoint;
	char *id = strdup(cr->endpoint->endpoint_id);
	assert_int_equal(strlen(id), 19);
	assert_memory_equal(id, "we_", 3);
	assert_int_equal(strlen(cr->secret), 6 + 44);
	assert_memory_equal(cr->secret, "whsec_", 6);
	assert_int_equal(cr->endpoint->n_kinds, 2); /* each kind once */
	assert_true(cr->endpoint->created_at_unix_ms > 0);
	fp_response_free(r);

	/* The secret is shown once: never in a list, never in the log. */
	r = NULL;
	h_must(wh_list(a, &r), "ListWebhookEndpoints");
	assert_int_equal(r->list_webhook_endpoints->n_endpoints, 1);
	const Fairpay__V1__WebhookEndpoint *e = r->list_webhook_endpoints->endpoints[0];
	assert_string_equal(e->endpoint_id, id);
	assert_string_equal(e->url, "https://example.com/hook");
	assert_int_equal(e->n_kinds, 2);
	assert_int_equal(e->kinds[0], H_EVENT(PAYMENT_RECEIVED));
	assert_int_equal(e->kinds[1], H_EVENT(OFFER_CREATED));
	fp_response_free(r);

	/* Another vendor sees none of it, and cannot touch it: NOT_FOUND,
	 * exactly as for an id that does not exist. */
	r = NULL;
	h_must(wh_list(b, &r), "ListWebhookEndpoints");
	assert_int_equal(r->list_webhook_endpoints->n_endpoints, 0);
	fp_response_free(r);
	h_assert_code(wh_delete(b, id, NULL), H_NOT_FOUND);
	h_assert_field("endpoint_id");
	char *msg_other = strdup(h_last_message());
	h_assert_code(wh_deliveries(b, id, 0, 0, NULL), H_NOT_FOUND);
	h_assert_field("endpoint_id");
	h_assert_code(wh_delete(a, "we_0000000000000000", NULL), H_NOT_FOUND);
	h_assert_field("endpoint_id");
	char *expect = h_fmt("no webhook endpoint %s", id);
	assert_string_equal(msg_other, expect);
	assert_string_equal(h_last_message(), "no webhook endpoint we_0000000000000000");
	h_assert_code(wh_deliveries(a, "we_0000000000000000", 0, 0, NULL), H_NOT_FOUND);
	h_assert_code(wh_delete(a, "nonsense", NULL), H_NOT_FOUND);
	h_assert_code(wh_delete(a, "", NULL), H_INVALID);

	/* Its delivery log, empty. */
	r = NULL;
	h_must(wh_deliveries(a, id, 7, 0, &r), "ListWebhookDeliveries");
	assert_int_equal(r->list_webhook_deliveries->n_deliveries, 0);
	assert_int_equal(r->list_webhook_deliveries->next_after_id, 7);
	fp_response_free(r);

	/* An ADMIN key may not call them. */
	h_assert_code(wh_list(T.w.admin, NULL), H_DENIED);

	/* Deleted by its vendor: gone. */
	h_must(wh_delete(a, id, NULL), "DeleteWebhookEndpoint");
	h_assert_code(wh_delete(a, id, NULL), H_NOT_FOUND);
	r = NULL;
	h_must(wh_list(a, &r), "ListWebhookEndpoints");
	assert_int_equal(r->list_webhook_endpoints->n_endpoints, 0);
	fp_response_free(r);

	/* Unknown kinds. */
	Fairpay__V1__EventKind bad[] = { (Fairpay__V1__EventKind)77 };
	h_assert_code(wh_create(a, "https://example.com/", bad, 1, NULL, NULL), H_INVALID);
	h_assert_field("kinds");
	Fairpay__V1__EventKind unspecified[] = { (Fairpay__V1__EventKind)0 };
	h_assert_code(wh_create(a, "https://example.com/", unspecified, 1, NULL, NULL), H_INVALID);

	/* At most 16 per vendor. */
	for (int i = 0; i < 16; i++) {
		char *url = h_fmt("https://example.com/%d", i);
		h_must(wh_create(a, url, NULL, 0, NULL, NULL), "CreateWebhookEndpoint");
		free(url);
	}
	h_assert_code(wh_create(a, "https://example.com/17", NULL, 0, NULL, NULL),
		      FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	char *sql = h_fmt("SELECT count(*) FROM webhook_endpoints WHERE vendor_id = '%s'", va);
	assert_int_equal(h_sql_int(T.w.db, sql), 16);
	free(sql);
	free(expect);
	free(msg_other);
	free(id);
	free(va);
	fp_client_free(a);
	fp_client_free(b);
}

static void test_create_idempotent(void **state)
{
	char *va = NULL;
	fp_client *a = vendor("hooks-idem", &va);
	resp_t *r1 = NULL, *r2 = NULL;
	h_must(wh_create(a, "https://example.com/i", NULL, 0, "wh-key-1", &r1),
	       "CreateWebhookEndpoint");
	assert_false(r1->replayed);
	h_must(wh_create(a, "https://example.com/i", NULL, 0, "wh-key-1", &r2),
	       "CreateWebhookEndpoint (replay)");
	assert_true(r2->replayed);
	assert_string_equal(r2->create_webhook_endpoint->endpoint->endpoint_id,
			    r1->create_webhook_endpoint->endpoint->endpoint_id);
	/* Shown once: the record keeps no secret. */
	assert_string_equal(r2->create_webhook_endpoint->secret, "");
	assert_true(strlen(r1->create_webhook_endpoint->secret) == 50);
	char *sql = h_fmt("SELECT count(*) FROM webhook_endpoints WHERE vendor_id = '%s'", va);
	assert_int_equal(h_sql_int(T.w.db, sql), 1);
	/* The same key for other fields. */
	h_assert_code(wh_create(a, "https://example.com/other", NULL, 0, "wh-key-1", NULL),
		      H_PRECONDITION);
	/* Delete under a key, replayed. */
	const char *id = r1->create_webhook_endpoint->endpoint->endpoint_id;
	h_must(wh_delete(a, id, "wh-del-1"), "DeleteWebhookEndpoint");
	h_must(wh_delete(a, id, "wh-del-1"), "DeleteWebhookEndpoint (replay)");
	h_assert_code(wh_delete(a, id, "wh-del-2"), H_NOT_FOUND);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);
	fp_response_free(r1);
	fp_response_free(r2);
	free(va);
	fp_client_free(a);
}

static void test_urls_refused(void **state)
{
	fp_client *a = vendor("hooks-urls", NULL);
	/* A server without --webhook-allow-private. */
	h_server *strict = h_server_start(T.w.db, NULL);
	fp_client *admin = h_connect_auth(strict, T.w.admin_key);
	fp_client *s = h_vendor_client(strict, admin, "hooks-strict", NULL, NULL);
	const char *refused[] = { "http://example.com/",         "https://127.0.0.1/",
				  "https://10.0.0.1/",           "https://[::1]:8443/",
				  "https://[::ffff:127.0.0.1]/", "https://169.254.169.254/x",
				  "https://192.168.0.1/",        "ftp://example.com/",
				  "https://user@example.com/" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int code = wh_create(s, refused[i], NULL, 0, NULL, NULL);
		if (code != H_INVALID)
			fail_msg("%s: %s, want INVALID_ARGUMENT", refused[i], h_code_name(code));
		h_assert_field("url");
	}
	/* http:// needs --webhook-allow-http on the permissive server too. */
	h_assert_code(wh_create(a, "http://127.0.0.1:9/", NULL, 0, NULL, NULL), H_INVALID);
	/* That server allows private addresses. */
	h_must(wh_create(a, "https://127.0.0.1:9/", NULL, 0, NULL, NULL), "private allowed");
	/* 2048 bytes pass, 2049 do not. */
	char url[2050];
	memset(url, 'a', sizeof(url));
	memcpy(url, "https://example.com/", 20);
	url[2048] = '\0';
	h_must(wh_create(s, url, NULL, 0, NULL, NULL), "2048-byte url");
	url[2048] = 'a';
	url[2049] = '\0';
	h_assert_code(wh_create(s, url, NULL, 0, NULL, NULL), H_INVALID);
	h_assert_field("url");
	assert_true(h_contains(h_last_message(), "2048"));
	fp_client_free(s);
	fp_client_free(admin);
	h_server_free(strict);
	fp_client_free(a);
}

/* A name that resolves to loopback is refused when it is connected to:
 * a failed delivery, logged, and nothing reaches the receiver. */
static void test_name_resolving_to_loopback(void **state)
{
	/* Its own database: every server of a database delivers its outbox,
	 * and the shared one may reach loopback. */
	char *db = h_db_create("fp_it_webhooks_strict");
	h_migrate(db);
	char *admin_key = h_bootstrap_admin(db);
	h_server *strict = h_server_start(db, "--webhook-retry-base-ms", "200", "--webhook-poll-ms",
					  "50", NULL);
	fp_client *admin = h_connect_auth(strict, admin_key);
	char *vid = NULL;
	fp_client *c = h_vendor_client(strict, admin, "hooks-localhost", &vid, NULL);
	h_product(c, "basic", 1000, 1200);
	hr_receiver *rv = hr_start("", NULL, NULL);
	char *url = h_fmt("https://localhost:%s/hook", rv->port);
	char *id = endpoint(c, url, NULL);
	fp_response_free(h_cycle(c, "lou", "basic", 1000));
	int64_t deadline = h_now_ms() + WAIT_MS;
	resp_t *r = NULL;
	for (;;) {
		r = NULL;
		h_must(wh_deliveries(c, id, 0, 0, &r), "ListWebhookDeliveries");
		if (r->list_webhook_deliveries->n_deliveries > 0)
			break;
		fp_response_free(r);
		if (h_now_ms() > deadline)
			fail_msg("no delivery attempt logged");
		h_sleep_ms(50);
	}
	const Fairpay__V1__WebhookDelivery *d = r->list_webhook_deliveries->deliveries[0];
	assert_false(d->succeeded);
	assert_int_equal(d->http_status, 0);
	assert_int_equal(d->attempt, 1);
	assert_true(d->next_attempt_unix_ms > d->at_unix_ms);
	if (!h_contains(d->error, "loopback"))
		fail_msg("error '%s' does not name the loopback address", d->error);
	fp_response_free(r);
	assert_int_equal(hr_count(rv, "requests"), 0);
	hr_free(rv);
	free(url);
	free(id);
	free(vid);
	fp_client_free(c);
	fp_client_free(admin);
	h_server_free(strict);
	free(admin_key);
	free(db);
}

/* ---------------------------------------------------------------- delivery */

static void test_delivered_and_verified(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("hooks-deliver", &vid);
	resp_t *r = NULL;
	/* The receiver knows the secret only once it is created: create the
	 * endpoint on a port, then start the receiver there. */
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	h_must(wh_create(c, url, NULL, 0, NULL, &r), "CreateWebhookEndpoint");
	char *secret = strdup(r->create_webhook_endpoint->secret);
	char *id = strdup(r->create_webhook_endpoint->endpoint->endpoint_id);
	fp_response_free(r);
	hr_receiver *rv = hr_start(port, secret, NULL);
	for (int i = 0; i < 5; i++) {
		char cust[32];
		snprintf(cust, sizeof(cust), "dora-%d", i);
		fp_response_free(h_cycle(c, cust, "basic", 900 + i));
	}
	wait_all_delivered(rv, vid, WAIT_MS);
	assert_none_uncommitted(rv, vid);
	assert_int_equal(hr_count(rv, "bad_signature"), 0);
	/* Every attempt logged; the successes say so. */
	int64_t deadline = h_now_ms() + WAIT_MS;
	size_t ok = 0;
	size_t total = 0;
	missing(rv, vid, &total);
	while (ok < total && h_now_ms() < deadline) {
		ok = 0;
		uint64_t after = 0;
		for (;;) {
			r = NULL;
			h_must(wh_deliveries(c, id, after, 7, &r), "ListWebhookDeliveries");
			const Fairpay__V1__ListWebhookDeliveriesResponse *l =
				r->list_webhook_deliveries;
			for (size_t i = 0; i < l->n_deliveries; i++) {
				assert_true(l->deliveries[i]->id > after);
				assert_string_equal(l->deliveries[i]->endpoint_id, id);
				ok += l->deliveries[i]->succeeded;
				if (l->deliveries[i]->succeeded) {
					assert_int_equal(l->deliveries[i]->http_status, 200);
					assert_int_equal(l->deliveries[i]->next_attempt_unix_ms, 0);
				}
			}
			bool last = l->n_deliveries == 0;
			after = l->next_after_id;
			fp_response_free(r);
			if (last)
				break;
		}
		if (ok < total)
			h_sleep_ms(50);
	}
	assert_int_equal(ok, total);
	/* Kinds filter: an endpoint for PAYMENT_RECEIVED only gets those. */
	hr_receiver *only = hr_start("", NULL, NULL);
	char *ourl = hr_url(only);
	Fairpay__V1__EventKind k[] = { H_EVENT(PAYMENT_RECEIVED) };
	h_must(wh_create(c, ourl, k, 1, NULL, NULL), "CreateWebhookEndpoint");
	fp_response_free(h_cycle(c, "paula", "basic", 1000));
	char *sql = h_fmt("SELECT 'evt_' || id FROM events WHERE vendor_id = '%s'"
			  " AND kind = 'PAYMENT_RECEIVED' AND customer_id = 'paula'",
			  vid);
	char *want = h_sql(T.w.db, sql);
	deadline = h_now_ms() + WAIT_MS;
	while (hr_count(only, "verified") < 1 && h_now_ms() < deadline)
		h_sleep_ms(50);
	h_sleep_ms(300); /* anything else would have come by now */
	json_t *st = hr_state(only);
	assert_int_equal(json_object_size(json_object_get(st, "ids")), 1);
	assert_non_null(json_object_get(json_object_get(st, "ids"), want));
	json_decref(st);
	free(want);
	free(sql);
	free(ourl);
	hr_free(only);
	hr_free(rv);
	free(secret);
	free(id);
	free(url);
	free(vid);
	fp_client_free(c);
}

static void test_tampered_secret(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("hooks-tamper", &vid);
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	char *secret = NULL;
	char *id = endpoint(c, url, &secret);
	/* One character of the key changed. */
	size_t n = strlen(secret);
	secret[n - 3] = secret[n - 3] == 'A' ? 'B' : 'A';
	hr_receiver *rv = hr_start(port, secret, NULL);
	fp_response_free(h_cycle(c, "tim", "basic", 1000));
	int64_t deadline = h_now_ms() + WAIT_MS;
	while (hr_count(rv, "bad_signature") < 3 && h_now_ms() < deadline)
		h_sleep_ms(50);
	assert_true(hr_count(rv, "bad_signature") >= 3);
	assert_int_equal(hr_count(rv, "verified"), 0);
	/* Refused deliveries are failed attempts, logged with the status. */
	resp_t *r = NULL;
	h_must(wh_deliveries(c, id, 0, 0, &r), "ListWebhookDeliveries");
	assert_true(r->list_webhook_deliveries->n_deliveries >= 1);
	assert_int_equal(r->list_webhook_deliveries->deliveries[0]->http_status, 400);
	assert_false(r->list_webhook_deliveries->deliveries[0]->succeeded);
	fp_response_free(r);
	hr_free(rv);
	free(secret);
	free(id);
	free(url);
	free(vid);
	fp_client_free(c);
}

/* 500 three times, then 200: retried with backoff, each attempt logged. */
static void test_retry_with_backoff(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("hooks-retry", &vid);
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	char *secret = NULL;
	Fairpay__V1__EventKind k[] = { H_EVENT(OFFER_CREATED) };
	resp_t *r = NULL;
	h_must(wh_create(c, url, k, 1, NULL, &r), "CreateWebhookEndpoint");
	secret = strdup(r->create_webhook_endpoint->secret);
	char *id = strdup(r->create_webhook_endpoint->endpoint->endpoint_id);
	fp_response_free(r);
	hr_receiver *rv = hr_start(port, secret, "--fail-first", "3", NULL);
	char *offer = h_offer(c, "rita", "basic");
	int64_t until = h_now_ms() + WAIT_MS;
	while (hr_answered(rv, "200") < 1 && h_now_ms() < until)
		h_sleep_ms(20);
	assert_int_equal(hr_answered(rv, "500"), 3);
	assert_int_equal(hr_answered(rv, "200"), 1);
	assert_int_equal(hr_count(rv, "verified"), 4);
	/* The log: three failures 200, 400 and 800 ms apart (base 200, max
	 * 800), then the success. */
	size_t n = 0;
	int64_t deadline = h_now_ms() + WAIT_MS;
	for (;;) {
		r = NULL;
		h_must(wh_deliveries(c, id, 0, 0, &r), "ListWebhookDeliveries");
		n = r->list_webhook_deliveries->n_deliveries;
		if (n >= 4 || h_now_ms() > deadline)
			break;
		fp_response_free(r);
		h_sleep_ms(50);
	}
	assert_int_equal(n, 4);
	Fairpay__V1__WebhookDelivery **d = r->list_webhook_deliveries->deliveries;
	int64_t delays[] = { 200, 400, 800 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(d[i]->attempt, i + 1);
		assert_int_equal(d[i]->http_status, 500);
		assert_false(d[i]->succeeded);
		assert_string_equal(d[i]->error, "HTTP 500");
		int64_t gap = d[i]->next_attempt_unix_ms - d[i]->at_unix_ms;
		if (gap < delays[i] - 50 || gap > delays[i] + 500)
			fail_msg("attempt %d: next attempt %lld ms later, want about %lld", i + 1,
				 (long long)gap, (long long)delays[i]);
		/* Not tried again before it was due. */
		if (d[i + 1]->at_unix_ms < d[i]->next_attempt_unix_ms - 20)
			fail_msg("attempt %d came %lld ms early", i + 2,
				 (long long)(d[i]->next_attempt_unix_ms - d[i + 1]->at_unix_ms));
	}
	assert_int_equal(d[3]->attempt, 4);
	assert_true(d[3]->succeeded);
	assert_int_equal(d[3]->http_status, 200);
	assert_int_equal(d[3]->next_attempt_unix_ms, 0);
	fp_response_free(r);
	/* Delivered: nothing is left to send. */
	char *sql = h_fmt("SELECT count(*) FROM webhook_outbox WHERE vendor_id = '%s'", vid);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);
	free(offer);
	free(secret);
	free(id);
	free(url);
	free(vid);
	hr_free(rv);
	fp_client_free(c);
}

/* Nothing listens for a while: attempts fail; once it listens, every event
 * arrives. */
static void test_receiver_down_then_up(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("hooks-down", &vid);
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	char *secret = NULL;
	char *id = endpoint(c, url, &secret);
	for (int i = 0; i < 4; i++) {
		char cust[32];
		snprintf(cust, sizeof(cust), "dan-%d", i);
		fp_response_free(h_cycle(c, cust, "basic", 1000));
	}
	/* Failed attempts are logged while it is down. */
	char *sql = h_fmt("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = '%s'"
			  " AND NOT succeeded",
			  id);
	int64_t deadline = h_now_ms() + WAIT_MS;
	while (h_sql_int(T.w.db, sql) < 16 && h_now_ms() < deadline)
		h_sleep_ms(50);
	assert_true(h_sql_int(T.w.db, sql) >= 16);
	hr_receiver *rv = hr_start(port, secret, NULL);
	wait_all_delivered(rv, vid, WAIT_MS);
	assert_none_uncommitted(rv, vid);
	assert_int_equal(hr_count(rv, "bad_signature"), 0);
	hr_free(rv);
	free(sql);
	free(secret);
	free(id);
	free(url);
	free(vid);
	fp_client_free(c);
}

/* One endpoint never answers: the other gets every event at once, and the
 * calls are as quick as ever. */
static void test_slow_endpoint_delays_no_other(void **state)
{
	/* A server of its own, stopped at the end with a transfer in flight. */
	char *ca = h_cert_path("ca.pem");
	h_server *s =
		h_server_start(T.w.db, "--webhook-ca-file", ca, "--webhook-allow-private",
			       "--webhook-poll-ms", "50", "--webhook-timeout-ms", "5000", NULL);
	free(ca);
	fp_client *admin = h_connect_auth(s, T.w.admin_key);
	char *vid = NULL;
	fp_client *c = h_vendor_client(s, admin, "hooks-slow", &vid, NULL);
	h_product(c, "basic", 1000, 1200);
	hr_receiver *hang = hr_start("", NULL, "--hang", NULL);
	char *hurl = hr_url(hang);
	char *hid = endpoint(c, hurl, NULL);
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	char *secret = NULL;
	char *id = endpoint(c, url, &secret);
	hr_receiver *rv = hr_start(port, secret, NULL);
	int64_t worst = 0;
	for (int i = 0; i < 20; i++) {
		char cust[32];
		snprintf(cust, sizeof(cust), "sam-%d", i);
		int64_t t0 = h_now_ms();
		fp_response_free(h_cycle(c, cust, "basic", 1000));
		int64_t dt = h_now_ms() - t0;
		worst = dt > worst ? dt : worst;
	}
	int64_t t0 = h_now_ms();
	/* Were the answering endpoint held up by the hanging one, its 80
	 * events would take 5 s timeouts of 8 at a time: 50 s. */
	wait_all_delivered(rv, vid, 6000);
	int64_t took = h_now_ms() - t0;
	print_message("the answering endpoint had all events %lld ms after the last call;"
		      " slowest cycle %lld ms; the hanging one got %lld requests\n",
		      (long long)took, (long long)worst, hr_count(hang, "requests"));
	assert_true(hr_count(hang, "requests") >= 1);
	assert_true(worst < (h_slow() ? 5000 : 1000));
	/* SIGTERM while the hanging endpoint holds transfers: a clean exit
	 * (under make asan: no leak of libcurl's handles), within the
	 * shutdown timeout. */
	assert_true(hr_count(hang, "requests") > 0);
	fp_client_free(c);
	c = NULL;
	fp_client_free(admin);
	int64_t t1 = h_now_ms();
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	assert_true(h_now_ms() - t1 < 10000);
	h_server_free(s);
	hr_free(rv);
	hr_free(hang);
	free(secret);
	free(id);
	free(url);
	free(hid);
	free(hurl);
	free(vid);
	fp_client_free(c);
}

/* ---------------------------------------------------------------- kill -9 */

typedef struct pump {
	h_rclient rc;
	volatile int stop;
	int ok;
	int failed;
} pump;

static void *pump_run(void *arg)
{
	pump *p = arg;
	for (int i = 0; !p->stop; i++) {
		Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
		char cust[32];
		snprintf(cust, sizeof(cust), "kim-%d", i % 50);
		co.customer_id = cust;
		co.sku = "basic";
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
		req.create_offer = &co;
		int code = h_rc_call(&p->rc, &req, NULL);
		if (code == H_OK)
			p->ok++;
		else
			p->failed++;
	}
	return NULL;
}

static void test_kill9_mid_stream(void **state)
{
	/* A server of its own, killed and started again on its port. */
	char *ca = h_cert_path("ca.pem");
	h_server *s = h_server_start(T.w.db, "--webhook-ca-file", ca, "--webhook-allow-private",
				     "--webhook-retry-base-ms", "100", "--webhook-poll-ms", "20",
				     "--webhook-timeout-ms", "1000", NULL);
	fp_client *admin = h_connect_auth(s, T.w.admin_key);
	char *vid = NULL, *key = NULL;
	fp_client *c = h_vendor_client(s, admin, "hooks-kill", &vid, &key);
	h_product(c, "basic", 1000, 1200);
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	char *secret = NULL;
	char *id = endpoint(c, url, &secret);
	/* A receiver slower than the calls: a backlog builds up. */
	hr_receiver *rv = hr_start(port, secret, "--delay-ms", "300", NULL);
	pump p = { 0 };
	h_rc_init(&p.rc, s->port, key);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, pump_run, &p), 0);
	/* Mid-stream: calls in flight, deliveries in flight. */
	int64_t deadline = h_now_ms() + WAIT_MS;
	while (hr_count(rv, "verified") < 20 && h_now_ms() < deadline)
		h_sleep_ms(20);
	assert_true(hr_count(rv, "verified") >= 20);
	assert_int_equal(h_server_stop(s, SIGKILL), 128 + SIGKILL);
	h_sleep_ms(200);
	p.stop = 1;
	pthread_join(th, NULL);
	h_rc_close(&p.rc);
	size_t total = 0;
	size_t miss = missing(rv, vid, &total);
	print_message("at the kill: %d offers created, %d calls failed; %zu of %zu committed "
		      "events not yet delivered\n",
		      p.ok, p.failed, miss, total);
	assert_true(miss > 0); /* it was mid-stream */
	/* Nothing is delivered while no server runs... */
	h_server *s2 =
		h_server_start_on(s->port, T.w.db, "--webhook-ca-file", ca,
				  "--webhook-allow-private", "--webhook-retry-base-ms", "100",
				  "--webhook-poll-ms", "20", "--webhook-timeout-ms", "1000", NULL);
	/* ...and every committed event arrives after the restart (rows leased
	 * by the dead server: after their lease, 6 s). */
	wait_all_delivered(rv, vid, WAIT_MS);
	assert_none_uncommitted(rv, vid);
	assert_int_equal(hr_count(rv, "bad_signature"), 0);
	/* The rows the dead server had leased are sent again once their lease
	 * ends, and recorded: the outbox empties. */
	char *sql = h_fmt("SELECT count(*) FROM webhook_outbox WHERE vendor_id = '%s'", vid);
	int64_t until = h_now_ms() + WAIT_MS;
	while (h_sql_int(T.w.db, sql) > 0 && h_now_ms() < until)
		h_sleep_ms(100);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);
	json_t *st = hr_state(rv);
	const char *k;
	json_t *v;
	int dup = 0;
	json_object_foreach(json_object_get(st, "ids"), k, v) dup += json_integer_value(v) > 1;
	json_decref(st);
	print_message("after the restart: every committed event delivered, %d of them twice "
		      "(in flight at the kill)\n",
		      dup);
	hr_free(rv);
	h_server_free(s2);
	h_server_free(s);
	fp_client_free(c);
	fp_client_free(admin);
	free(ca);
	free(secret);
	free(id);
	free(url);
	free(key);
	free(vid);
}

/* A change that rolls back queues nothing: a payment whose write waits for
 * a row lock held elsewhere gives up (ABORTED), and its event is neither
 * committed nor delivered. */
static void test_rolled_back_change_not_delivered(void **state)
{
	char *vid = NULL;
	fp_client *c = vendor("hooks-rollback", &vid);
	char port[16];
	h_free_port(port, sizeof(port));
	char *url = h_fmt("https://127.0.0.1:%s/hook", port);
	char *secret = NULL;
	char *id = endpoint(c, url, &secret);
	hr_receiver *rv = hr_start(port, secret, NULL);
	char *offer = h_offer(c, "rob", "basic");
	h_accept(c, offer);
	/* Hold the customer's row. */
	PGconn *pg = PQconnectdb(T.w.db);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	char *lock = h_fmt("BEGIN; SELECT 1 FROM reputations WHERE vendor_id = '%s'"
			   " AND customer_id = 'rob' FOR UPDATE",
			   vid);
	PQclear(PQexec(pg, lock));
	int code = h_pay(c, offer, 1000, NULL);
	PQclear(PQexec(pg, "ROLLBACK"));
	PQfinish(pg);
	h_assert_code(code, H_ABORTED);
	wait_all_delivered(rv, vid, WAIT_MS);
	h_sleep_ms(500);
	assert_none_uncommitted(rv, vid);
	char *sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s'"
			  " AND kind = 'PAYMENT_RECEIVED'",
			  vid);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	/* The payment made again commits, and is delivered. */
	h_must(h_pay(c, offer, 1000, NULL), "SubmitPayment");
	assert_int_equal(h_sql_int(T.w.db, sql), 1);
	wait_all_delivered(rv, vid, WAIT_MS);
	free(sql);
	free(lock);
	hr_free(rv);
	free(offer);
	free(secret);
	free(id);
	free(url);
	free(vid);
	fp_client_free(c);
}

/* ---------------------------------------------------------------- fairpayctl */

/* Run fairpayctl as the vendor with key; returns its exit status, *out its stdout. */
static int ctl(const char *key, const char *args, char **out)
{
	char *base = h_ctl();
	char *ca = h_cert_path("ca.pem");
	char *qca = h_shq(ca), *qkey = h_shq(key);
	char *cmd = h_fmt("%s --server %s --ca %s --api-key %s %s 2>/dev/null", base, T.w.srv->addr,
			  qca, qkey, args);
	int rc = h_run(cmd, out);
	free(cmd);
	free(qkey);
	free(qca);
	free(ca);
	free(base);
	return rc;
}

static void test_fairpayctl_webhook(void **state)
{
	char *vid = NULL, *key = NULL;
	fp_client *c = h_vendor_client(T.w.srv, T.w.admin, "hooks-ctl", &vid, &key);
	h_product(c, "basic", 1000, 1200);
	hr_receiver *rv = hr_start("", NULL, NULL);
	char *url = hr_url(rv);
	char *args = h_fmt("webhook create %s --kinds payment_received,OFFER_CREATED --json", url);
	char *out = NULL;
	assert_int_equal(ctl(key, args, &out), 0);
	json_t *j = json_loads(out, 0, NULL);
	if (j == NULL)
		fail_msg("not JSON: %s", out);
	json_t *ep = json_object_get(j, "endpoint");
	char *id = strdup(json_string_value(json_object_get(ep, "endpoint_id")));
	assert_string_equal(json_string_value(json_object_get(ep, "url")), url);
	assert_int_equal(json_array_size(json_object_get(ep, "kinds")), 2);
	assert_int_equal(strncmp(json_string_value(json_object_get(j, "secret")), "whsec_", 6), 0);
	json_decref(j);
	free(out);

	out = NULL;
	assert_int_equal(ctl(key, "webhook list", &out), 0);
	assert_true(h_contains(out, id));
	assert_true(h_contains(out, "PAYMENT_RECEIVED,OFFER_CREATED"));
	free(out);

	/* A cycle: OFFER_CREATED and PAYMENT_RECEIVED reach it. */
	fp_response_free(h_cycle(c, "cleo", "basic", 1000));
	int64_t deadline = h_now_ms() + WAIT_MS;
	while (hr_answered(rv, "200") < 2 && h_now_ms() < deadline)
		h_sleep_ms(50);
	json_t *d = NULL;
	for (;;) {
		out = NULL;
		char *a2 = h_fmt("webhook deliveries %s --json", id);
		assert_int_equal(ctl(key, a2, &out), 0);
		free(a2);
		d = json_loads(out, 0, NULL);
		free(out);
		assert_non_null(d);
		if (json_array_size(json_object_get(d, "deliveries")) >= 2 || h_now_ms() > deadline)
			break;
		json_decref(d);
		h_sleep_ms(50);
	}
	assert_int_equal(json_array_size(json_object_get(d, "deliveries")), 2);
	json_t *first = json_array_get(json_object_get(d, "deliveries"), 0);
	assert_true(json_is_true(json_object_get(first, "succeeded")));
	assert_int_equal(json_integer_value(json_object_get(first, "http_status")), 200);
	json_decref(d);
	out = NULL;
	char *a3 = h_fmt("webhook deliveries %s --limit 1", id);
	assert_int_equal(ctl(key, a3, &out), 0);
	assert_true(h_contains(out, "ATTEMPT"));
	free(out);
	free(a3);

	/* Help for each command. */
	const char *cmds[] = { "create", "list", "delete", "deliveries" };
	for (size_t i = 0; i < 4; i++) {
		char *base = h_ctl();
		char *cmd = h_fmt("%s webhook %s --help", base, cmds[i]);
		out = NULL;
		assert_int_equal(h_run(cmd, &out), 0);
		assert_true(h_contains(out, "fairpayctl webhook deliveries ENDPOINT_ID"));
		free(out);
		free(cmd);
		free(base);
	}
	/* Refusals: exit status 1 from the server, 2 for usage. */
	assert_int_equal(ctl(key, "webhook create http://example.com/", NULL), 1);
	assert_int_equal(ctl(key, "webhook create https://example.com/ --kinds nope", NULL), 2);
	assert_int_equal(ctl(key, "webhook delete we_0000000000000000", NULL), 1);
	char *a4 = h_fmt("webhook delete %s", id);
	out = NULL;
	assert_int_equal(ctl(key, a4, &out), 0);
	assert_true(h_contains(out, id));
	free(out);
	assert_int_equal(ctl(key, a4, NULL), 1);
	free(a4);
	free(args);
	free(url);
	free(id);
	hr_free(rv);
	free(key);
	free(vid);
	fp_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_calls),
		cmocka_unit_test(test_create_idempotent),
		cmocka_unit_test(test_urls_refused),
		cmocka_unit_test(test_name_resolving_to_loopback),
		cmocka_unit_test(test_delivered_and_verified),
		cmocka_unit_test(test_tampered_secret),
		cmocka_unit_test(test_retry_with_backoff),
		cmocka_unit_test(test_receiver_down_then_up),
		cmocka_unit_test(test_slow_endpoint_delays_no_other),
		cmocka_unit_test(test_rolled_back_change_not_delivered),
		cmocka_unit_test(test_fairpayctl_webhook),
		cmocka_unit_test(test_kill9_mid_stream),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
