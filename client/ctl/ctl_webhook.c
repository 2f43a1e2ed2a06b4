/* fairpayctl's webhook commands (see ctl_webhook.h). */
#include "ctl_webhook.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "ctl_enum.h"
#include "ctl_out.h"
#include "ctl_remote.h"

/* The kinds as "A,B" ("all" when none) into buf. */
static const char *kinds_text(const Fairpay__V1__WebhookEndpoint *e, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < e->n_kinds && at < len; i++) {
		char nb[CTL_ENUM_BUF];
		int n = snprintf(buf + at, len - at, "%s%s", i ? "," : "",
				 ctl_enum_name(&ctl_enum_event_kind, (int)e->kinds[i], nb));
		at += n > 0 ? (size_t)n : 0;
	}
	return e->n_kinds ? buf : "all";
}

static void endpoint_json(const Fairpay__V1__WebhookEndpoint *e)
{
	fputs("{\"endpoint_id\":", stdout);
	ctl_out_json_string(stdout, e->endpoint_id);
	fputs(",\"url\":", stdout);
	ctl_out_json_string(stdout, e->url);
	fputs(",\"kinds\":[", stdout);
	for (size_t i = 0; i < e->n_kinds; i++) {
		char nb[CTL_ENUM_BUF];
		if (i > 0)
			fputc(',', stdout);
		ctl_out_json_string(stdout,
				    ctl_enum_name(&ctl_enum_event_kind, (int)e->kinds[i], nb));
	}
	printf("],\"created_at_unix_ms\":%" PRId64 "}", e->created_at_unix_ms);
}

int ctl_webhook_create(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateWebhookEndpointRequest m =
		FAIRPAY__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	Fairpay__V1__EventKind kinds[CTL_MAX_KINDS];
	Fairpay__V1__Response *resp = NULL;
	for (size_t i = 0; i < a->n_kinds; i++)
		kinds[i] = (Fairpay__V1__EventKind)a->kinds[i];
	m.url = (char *)a->url;
	m.kinds = kinds;
	m.n_kinds = a->n_kinds;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_WEBHOOK_ENDPOINT;
	req.create_webhook_endpoint = &m;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_CREATE_WEBHOOK_ENDPOINT,
				 &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__CreateWebhookEndpointResponse *r = resp->create_webhook_endpoint;
	if (a->json) {
		fputs("{\"endpoint\":", stdout);
		endpoint_json(r->endpoint);
		fputs(",\"secret\":", stdout);
		ctl_out_json_string(stdout, r->secret);
		printf(",\"replayed\":%s}\n", resp->replayed ? "true" : "false");
		goto done;
	}
	char kb[512], tb[CTL_OUT_TIME_LEN];
	ctl_out_field(stdout, "endpoint_id", r->endpoint->endpoint_id);
	ctl_out_field(stdout, "url", r->endpoint->url);
	ctl_out_field(stdout, "kinds", kinds_text(r->endpoint, kb, sizeof(kb)));
	ctl_out_field(stdout, "created_at", ctl_out_time(r->endpoint->created_at_unix_ms, tb));
	if (r->secret[0] != '\0') {
		ctl_out_field(stdout, "secret", r->secret);
		fprintf(stderr, "the secret is shown this once: keep it where the receiver can "
				"verify signatures with it\n");
	} else {
		fprintf(stderr, "replayed: the secret was shown only in the first reply\n");
	}
done:
	fp_response_free(resp);
	return rc;
}

int ctl_webhook_list(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListWebhookEndpointsRequest m =
		FAIRPAY__V1__LIST_WEBHOOK_ENDPOINTS_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_WEBHOOK_ENDPOINTS;
	req.list_webhook_endpoints = &m;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_WEBHOOK_ENDPOINTS,
				 &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListWebhookEndpointsResponse *r = resp->list_webhook_endpoints;
	if (a->json) {
		fputs("{\"endpoints\":[", stdout);
		for (size_t i = 0; i < r->n_endpoints; i++) {
			if (i > 0)
				fputc(',', stdout);
			endpoint_json(r->endpoints[i]);
		}
		fputs("]}\n", stdout);
		goto done;
	}
	static const char *const headers[] = { "ID", "CREATED", "KINDS", "URL" };
	ctl_table *t = ctl_table_new(4, headers);
	for (size_t i = 0; t != NULL && i < r->n_endpoints; i++) {
		char kb[512], tb[CTL_OUT_TIME_LEN];
		const Fairpay__V1__WebhookEndpoint *e = r->endpoints[i];
		const char *cells[] = { e->endpoint_id, ctl_out_time(e->created_at_unix_ms, tb),
					kinds_text(e, kb, sizeof(kb)), e->url };
		if (ctl_table_add(t, cells) != 0) {
			ctl_table_free(t);
			t = NULL;
		}
	}
	if (t == NULL) {
		fprintf(stderr, "error: out of memory\n");
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
done:
	fp_response_free(resp);
	return rc;
}

int ctl_webhook_delete(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__DeleteWebhookEndpointRequest m =
		FAIRPAY__V1__DELETE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	m.endpoint_id = (char *)a->endpoint_id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_DELETE_WEBHOOK_ENDPOINT;
	req.delete_webhook_endpoint = &m;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_DELETE_WEBHOOK_ENDPOINT,
				 &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	if (a->json)
		printf("{\"replayed\":%s}\n", resp->replayed ? "true" : "false");
	else
		printf("deleted %s\n", a->endpoint_id);
done:
	fp_response_free(resp);
	return rc;
}

int ctl_webhook_deliveries(const ctl_args *a)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__ListWebhookDeliveriesRequest m =
		FAIRPAY__V1__LIST_WEBHOOK_DELIVERIES_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	m.endpoint_id = (char *)a->endpoint_id;
	m.after_id = a->after_id;
	m.limit = a->limit;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_WEBHOOK_DELIVERIES;
	req.list_webhook_deliveries = &m;
	int rc = ctl_remote_once(a, &req, FAIRPAY__V1__RESPONSE__RESULT_LIST_WEBHOOK_DELIVERIES,
				 &resp);
	if (rc != CTL_EXIT_OK)
		goto done;
	const Fairpay__V1__ListWebhookDeliveriesResponse *r = resp->list_webhook_deliveries;
	if (a->json) {
		fputs("{\"deliveries\":[", stdout);
		for (size_t i = 0; i < r->n_deliveries; i++) {
			const Fairpay__V1__WebhookDelivery *d = r->deliveries[i];
			printf("%s{\"id\":%" PRIu64 ",\"endpoint_id\":", i ? "," : "", d->id);
			ctl_out_json_string(stdout, d->endpoint_id);
			printf(",\"event_id\":%" PRIu64
			       ",\"attempt\":%d,\"http_status\":%d,\"error\":",
			       d->event_id, d->attempt, d->http_status);
			ctl_out_json_string(stdout, d->error);
			printf(",\"succeeded\":%s,\"at_unix_ms\":%" PRId64
			       ",\"next_attempt_unix_ms\":%" PRId64 "}",
			       d->succeeded ? "true" : "false", d->at_unix_ms,
			       d->next_attempt_unix_ms);
		}
		printf("],\"next_after_id\":%" PRIu64 "}\n", r->next_after_id);
		goto done;
	}
	static const char *const headers[] = { "ID",     "AT", "EVENT", "ATTEMPT",
					       "STATUS", "OK", "NEXT",  "ERROR" };
	ctl_table *t = ctl_table_new(8, headers);
	for (size_t i = 0; t != NULL && i < r->n_deliveries; i++) {
		const Fairpay__V1__WebhookDelivery *d = r->deliveries[i];
		char id[24], ev[24], at[8], st[8], tb[CTL_OUT_TIME_LEN], nb[CTL_OUT_TIME_LEN];
		snprintf(id, sizeof(id), "%" PRIu64, d->id);
		snprintf(ev, sizeof(ev), "%" PRIu64, d->event_id);
		snprintf(at, sizeof(at), "%d", d->attempt);
		snprintf(st, sizeof(st), "%d", d->http_status);
		const char *cells[] = { id,
					ctl_out_time(d->at_unix_ms, tb),
					ev,
					at,
					st,
					d->succeeded ? "yes" : "no",
					d->next_attempt_unix_ms
						? ctl_out_time(d->next_attempt_unix_ms, nb)
						: "-",
					d->error };
		if (ctl_table_add(t, cells) != 0) {
			ctl_table_free(t);
			t = NULL;
		}
	}
	if (t == NULL) {
		fprintf(stderr, "error: out of memory\n");
		rc = CTL_EXIT_REFUSED;
		goto done;
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	if (r->n_deliveries > 0 && a->limit != 0 && r->n_deliveries >= a->limit)
		fprintf(stderr, "more may follow; next page with --after %" PRIu64 "\n",
			r->next_after_id);
done:
	fp_response_free(resp);
	return rc;
}
