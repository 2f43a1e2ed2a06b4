/* The webhook delivery job (see deliver.h): libcurl's multi interface on
 * the server's event loop, the claim and record statements of
 * store/outbox.c. */
#include "deliver.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "clock.h"
#include "hookurl.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

/* Rows claimed per endpoint: this many times --webhook-per-endpoint, so
 * that the next ones are at hand as deliveries end (a claim takes a round
 * trip to the database); the rest wait here, in claim order. */
#define QUEUE_FACTOR 4
/* A claim's lease: long enough for a claimed row to wait for its turn and
 * be attempted (QUEUE_FACTOR attempts' timeouts), and this. */
#define LEASE_EXTRA_MS INT64_C(5000)
#define ERROR_MAX 500 /* bytes of an attempt's error kept in the log */
#define ID_LEN 32

/* One claimed delivery: waiting for its endpoint's turn, or in flight. */
typedef struct hook_job {
	deliverer *d;
	struct hook_job *prev, *next; /* every job, in claim order */
	bool started;                 /* its transfer is in the multi handle */
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	char secret[96];        /* the endpoint's, to sign as the attempt starts */
	char vendor_id[ID_LEN]; /* with outbox_id, the outbox row's key */
	char outbox_id[24];
	char endpoint_id[ID_LEN];
	char event_id[24];
	int attempt;
	int64_t queued_ms;
	char refused[160]; /* why the connection was refused (SSRF guard) */
	char errbuf[CURL_ERROR_SIZE];
} hook_job;

/* One socket libcurl asked us to watch. */
typedef struct hook_sock {
	struct event ev;
	deliverer *d;
	struct hook_sock *prev, *next;
} hook_sock;

/* Deliveries of one endpoint claimed here. */
typedef struct ep_slot {
	char id[ID_LEN];
	int n;       /* claimed: waiting or in flight */
	int running; /* in flight */
} ep_slot;

struct deliverer {
	struct event_base *base;
	db_pool *db;
	deliver_options o;
	char *ca_file;
	CURLM *multi;
	struct event curl_timer;
	struct event poll_timer;
	/* Claims at once (more is due): an event of its own, so that
	 * activating it never disturbs the timer's schedule. */
	struct event kick;
	bool claiming;
	bool more;   /* rows were due at the last claims: claim as deliveries end */
	bool capped; /* the claim in flight left out an endpoint at its bound */
	bool stopping;
	hook_job *jobs, *jobs_tail;
	hook_sock *socks;
	int inflight; /* jobs claimed: waiting or in flight */
	ep_slot *slots;
	size_t n_slots, cap_slots;
	uint64_t delivered, failed;
	bool db_error_logged;
};

/* ---------------------------------------------------------------- pure parts */

int64_t deliver_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms)
{
	int64_t delay = base_ms;
	for (int i = 1; i < attempt && delay < max_ms; i++)
		delay *= 2;
	return delay < max_ms ? delay : max_ms;
}

static void rfc3339_ms(int64_t ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	int64_t frac = ms % 1000;
	if (frac < 0) {
		frac += 1000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

char *deliver_body(const deliver_event *e)
{
	char type[64], id[24], ts[64];
	size_t i = 0;
	for (; i < sizeof(type) - 1 && e->kind[i] != '\0'; i++)
		type[i] = (char)tolower((unsigned char)e->kind[i]);
	type[i] = '\0';
	snprintf(id, sizeof(id), "%lld", (long long)e->id);
	rfc3339_ms(e->at_ms, ts, sizeof(ts));
	json_t *root =
		json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:I}}", "type", type,
			  "timestamp", ts, "data", "id", id, "kind", e->kind, "customer_id",
			  e->customer_id, "offer_id", e->offer_id, "payment_id", e->payment_id,
			  "detail", e->detail, "at_unix_ms", (json_int_t)e->at_ms);
	if (root == NULL)
		return NULL;
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

int deliver_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
		 char *out, size_t outlen)
{
	const char *b64 = strncmp(secret, "whsec_", 6) == 0 ? secret + 6 : secret;
	size_t blen = strlen(b64);
	if (blen == 0 || blen % 4 != 0 || blen > 128)
		return -1;
	unsigned char key[96];
	int klen = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)blen);
	if (klen < 0)
		return -1;
	klen -= (b64[blen - 1] == '=') + (b64[blen - 2] == '=');
	char ts[24];
	snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
	/* The signed content: "<msg_id>.<timestamp>.<body>". */
	size_t mlen_id = strlen(msg_id), tlen = strlen(ts), bodylen = strlen(body);
	size_t len = mlen_id + 1 + tlen + 1 + bodylen;
	unsigned char *msg = malloc(len);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	int rc = -1;
	if (msg != NULL) {
		memcpy(msg, msg_id, mlen_id);
		msg[mlen_id] = '.';
		memcpy(msg + mlen_id + 1, ts, tlen);
		msg[mlen_id + 1 + tlen] = '.';
		memcpy(msg + mlen_id + 2 + tlen, body, bodylen);
		if (HMAC(EVP_sha256(), key, klen, msg, len, mac, &mlen) != NULL &&
		    outlen >= 3 + 4 * ((mlen + 2) / 3) + 1) {
			memcpy(out, "v1,", 3);
			EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mlen);
			rc = 0;
		}
		free(msg);
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---------------------------------------------------------------- endpoints in flight */

static ep_slot *slot_find(deliverer *d, const char *id)
{
	for (size_t i = 0; i < d->n_slots; i++)
		if (strcmp(d->slots[i].id, id) == 0)
			return &d->slots[i];
	return NULL;
}

static int slot_add(deliverer *d, const char *id)
{
	ep_slot *s = slot_find(d, id);
	if (s == NULL) {
		if (d->n_slots == d->cap_slots) {
			size_t cap = d->cap_slots ? 2 * d->cap_slots : 16;
			ep_slot *more = realloc(d->slots, cap * sizeof(*more));
			if (more == NULL)
				return -1;
			d->slots = more;
			d->cap_slots = cap;
		}
		s = &d->slots[d->n_slots++];
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->n = 0;
		s->running = 0;
	}
	s->n++;
	return 0;
}

static void slot_drop(deliverer *d, const char *id, bool started)
{
	ep_slot *s = slot_find(d, id);
	if (s == NULL)
		return;
	if (started)
		s->running--;
	if (--s->n == 0)
		*s = d->slots[--d->n_slots]; /* order does not matter */
}

/* ---------------------------------------------------------------- results */

static void recorded(void *arg, db_status st, PGresult *res)
{
	deliverer *d = arg;
	if (st == DB_ERROR && strcmp(db_sqlstate(res), "23503") == 0) {
		/* foreign_key_violation: the endpoint was deleted while this
		 * attempt ran; its log went with it (protocol-notes). */
		log_debug(0, "webhooks: an attempt ended after its endpoint was deleted");
		return;
	}
	if (st == DB_ERROR && !d->db_error_logged) {
		char e[LOG_ESCAPE_SIZE];
		log_error(0, "webhooks: could not record a delivery: %s",
			  log_escape(e, PQresultErrorMessage(res)));
		d->db_error_logged = true;
	}
	/* Unrecorded (no database): the row's lease ends and it is sent
	 * again. At least once. */
}

static void job_free(hook_job *j)
{
	deliverer *d = j->d;
	if (j->easy != NULL) {
		if (j->started)
			curl_multi_remove_handle(d->multi, j->easy);
		curl_easy_cleanup(j->easy);
	}
	curl_slist_free_all(j->headers);
	free(j->body);
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	if (j->prev)
		j->prev->next = j->next;
	else
		d->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		d->jobs_tail = j->prev;
	slot_drop(d, j->endpoint_id, j->started);
	d->inflight--;
	free(j);
}

static void pump(deliverer *d);

/* Record the attempt and free the job. */
static void job_done(hook_job *j, CURLcode rc)
{
	deliverer *d = j->d;
	long code = 0;
	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	bool ok = rc == CURLE_OK && code >= 200 && code <= 299;
	char error[ERROR_MAX + 1] = "";
	if (j->refused[0] != '\0')
		snprintf(error, sizeof(error), "%s", j->refused);
	else if (rc != CURLE_OK)
		snprintf(error, sizeof(error), "%s",
			 j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
	else if (!ok)
		snprintf(error, sizeof(error), "HTTP %ld", code);
	char next[24] = "";
	if (ok) {
		d->delivered++;
		metrics_add(METRIC_HOOK_DELIVERED, 1);
	} else {
		d->failed++;
		int64_t now = clock_wall_ms();
		int64_t at =
			now + deliver_backoff_ms(j->attempt, d->o.retry_base_ms, d->o.retry_max_ms);
		bool retry = at - j->queued_ms <= d->o.give_up_s * 1000;
		metrics_add(retry ? METRIC_HOOK_FAILED : METRIC_HOOK_GAVE_UP, 1);
		if (retry)
			snprintf(next, sizeof(next), "%lld", (long long)at);
		else
			log_warn(0,
				 "webhooks: gave up on event %s for endpoint %s after %d attempts "
				 "(%s)",
				 j->event_id, j->endpoint_id, j->attempt, error);
	}
	log_debug(0, "webhooks: event %s to %s, attempt %d: %s", j->event_id, j->endpoint_id,
		  j->attempt, ok ? "delivered" : error);
	char attempt[16], status[16];
	snprintf(attempt, sizeof(attempt), "%d", j->attempt);
	snprintf(status, sizeof(status), "%ld", rc == CURLE_OK ? code : 0L);
	const char *params[] = { j->vendor_id,   j->outbox_id,         attempt, status, error,
				 ok ? "t" : "f", next[0] ? next : NULL };
	if (db_write(d->db, outbox_sql_record, 7, params, NULL, recorded, d) != 0)
		log_error(0, "webhooks: out of memory recording a delivery");
	job_free(j);
	pump(d);
	/* A slot is free: claim again now when rows were left behind. */
	if (d->more && !d->stopping)
		event_active(&d->kick, EV_TIMEOUT, 0);
}

static void check_done(deliverer *d)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		hook_job *j = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (j != NULL)
			job_done(j, m->data.result);
	}
}

/* ---------------------------------------------------------------- libcurl on libevent */

static void sock_event(evutil_socket_t fd, short what, void *arg)
{
	deliverer *d = arg;
	int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running = 0;
	curl_multi_socket_action(d->multi, fd, flags, &running);
	check_done(d);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	deliverer *d = userp;
	hook_sock *hs = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			event_del(&hs->ev);
			if (hs->prev)
				hs->prev->next = hs->next;
			else
				d->socks = hs->next;
			if (hs->next)
				hs->next->prev = hs->prev;
			free(hs);
		}
		return 0;
	}
	if (hs == NULL) {
		hs = calloc(1, sizeof(*hs));
		if (hs == NULL)
			return -1;
		hs->d = d;
		hs->next = d->socks;
		if (d->socks)
			d->socks->prev = hs;
		d->socks = hs;
		curl_multi_assign(d->multi, s, hs);
	} else {
		event_del(&hs->ev);
	}
	short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
			     ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
	event_assign(&hs->ev, d->base, s, kind, sock_event, d);
	event_add(&hs->ev, NULL);
	return 0;
}

static void curl_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	deliverer *d = arg;
	int running = 0;
	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(d);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	deliverer *d = userp;
	if (timeout_ms < 0) {
		evtimer_del(&d->curl_timer);
		return 0;
	}
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	evtimer_add(&d->curl_timer, &tv);
	return 0;
}

/* The SSRF guard: every address libcurl connects to, whatever name it
 * came from, is checked here, as it is connected to, so a name rebound
 * after a check cannot slip another address in. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	hook_job *j = clientp;
	if (!j->d->o.allow_private) {
		const char *cls = hookurl_addr_class(&a->addr);
		if (cls != NULL) {
			char host[64] = "?";
			getnameinfo(&a->addr, a->addrlen, host, sizeof(host), NULL, 0,
				    NI_NUMERICHOST);
			snprintf(j->refused, sizeof(j->refused),
				 "refused to connect to %s: a %s address", host, cls);
			return CURL_SOCKET_BAD;
		}
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
	return size * n; /* the receiver's answer is not kept */
}

/* ---------------------------------------------------------------- claims */

static int job_start(deliverer *d, const PGresult *res, int row)
{
	hook_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -1;
	j->d = d;
	snprintf(j->vendor_id, sizeof(j->vendor_id), "%s",
		 db_get_str(res, row, OUTBOX_CLAIM_VENDOR));
	snprintf(j->outbox_id, sizeof(j->outbox_id), "%s", db_get_str(res, row, OUTBOX_CLAIM_ID));
	snprintf(j->endpoint_id, sizeof(j->endpoint_id), "%s",
		 db_get_str(res, row, OUTBOX_CLAIM_ENDPOINT));
	snprintf(j->event_id, sizeof(j->event_id), "%s",
		 db_get_str(res, row, OUTBOX_CLAIM_EVENT_ID));
	j->attempt = (int)db_get_i64(res, row, OUTBOX_CLAIM_ATTEMPT);
	j->queued_ms = db_get_i64(res, row, OUTBOX_CLAIM_QUEUED_MS);
	deliver_event e = { db_get_i64(res, row, OUTBOX_CLAIM_EVENT_ID),
			    db_get_str(res, row, OUTBOX_CLAIM_KIND),
			    db_get_str(res, row, OUTBOX_CLAIM_CUSTOMER),
			    db_get_str(res, row, OUTBOX_CLAIM_OFFER),
			    db_get_str(res, row, OUTBOX_CLAIM_PAYMENT),
			    db_get_str(res, row, OUTBOX_CLAIM_DETAIL),
			    db_get_i64(res, row, OUTBOX_CLAIM_AT_MS) };
	snprintf(j->secret, sizeof(j->secret), "%s", db_get_str(res, row, OUTBOX_CLAIM_SECRET));
	j->body = deliver_body(&e);
	j->easy = curl_easy_init();
	if (j->body == NULL || j->easy == NULL || slot_add(d, j->endpoint_id) != 0) {
		if (j->easy)
			curl_easy_cleanup(j->easy);
		free(j->body);
		OPENSSL_cleanse(j->secret, sizeof(j->secret));
		free(j);
		return -1;
	}
	CURL *c = j->easy;
	curl_easy_setopt(c, CURLOPT_URL, db_get_str(res, row, OUTBOX_CLAIM_URL));
	curl_easy_setopt(c, CURLOPT_PRIVATE, j);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->o.timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, d->o.allow_http ? "https,http" : "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	/* The address connected to must be the one checked: no proxy from
	 * the environment in between. */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (d->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_file);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, j);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "fairpayd/" FP_VERSION);
	/* Last in the queue. */
	j->prev = d->jobs_tail;
	if (d->jobs_tail)
		d->jobs_tail->next = j;
	else
		d->jobs = j;
	d->jobs_tail = j;
	d->inflight++;
	return 0;
}

/* Sign the job as of now and start its transfer; -1 when it cannot. */
static int job_launch(hook_job *j)
{
	deliverer *d = j->d;
	char msg_id[40], sig[128], h[160];
	snprintf(msg_id, sizeof(msg_id), "evt_%s", j->event_id);
	int64_t now_s = clock_wall_ms() / 1000;
	if (deliver_sign(j->secret, msg_id, now_s, j->body, sig, sizeof(sig)) != 0)
		return -1;
	struct curl_slist *hd = curl_slist_append(NULL, "content-type: application/json");
	snprintf(h, sizeof(h), "webhook-id: %s", msg_id);
	hd = hd ? curl_slist_append(hd, h) : NULL;
	snprintf(h, sizeof(h), "webhook-timestamp: %lld", (long long)now_s);
	hd = hd ? curl_slist_append(hd, h) : NULL;
	snprintf(h, sizeof(h), "webhook-signature: %s", sig);
	hd = hd ? curl_slist_append(hd, h) : NULL;
	/* No "Expect: 100-continue" round trip. */
	hd = hd ? curl_slist_append(hd, "Expect:") : NULL;
	if (hd == NULL)
		return -1;
	j->headers = hd;
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
	if (curl_multi_add_handle(d->multi, j->easy) != CURLM_OK)
		return -1;
	j->started = true;
	ep_slot *s = slot_find(d, j->endpoint_id);
	if (s != NULL)
		s->running++;
	return 0;
}

/* Start waiting jobs, in claim order, while their endpoints have room. */
static void pump(deliverer *d)
{
	hook_job *j = d->jobs;
	while (j != NULL && !d->stopping) {
		hook_job *next = j->next;
		ep_slot *s = j->started ? NULL : slot_find(d, j->endpoint_id);
		if (s != NULL && s->running < d->o.per_endpoint && job_launch(j) != 0) {
			log_error(0, "webhooks: could not start a delivery (out of memory?)");
			job_free(j); /* leased: attempted again when the lease ends */
		}
		j = next;
	}
}

static void claimed(void *arg, db_status st, PGresult *res)
{
	deliverer *d = arg;
	d->claiming = false;
	if (st != DB_OK) {
		if (st == DB_ERROR && !d->db_error_logged) {
			char e[LOG_ESCAPE_SIZE];
			log_error(0, "webhooks: claim failed: %s",
				  log_escape(e, PQresultErrorMessage(res)));
			d->db_error_logged = true;
		}
		return;
	}
	d->db_error_logged = false;
	int n = PQntuples(res);
	if (d->stopping)
		return; /* leased: sent again when the lease ends */
	int started = 0;
	for (int i = 0; i < n; i++) {
		if (job_start(d, res, i) == 0)
			started++;
		else
			log_error(0, "webhooks: could not take a delivery (out of memory?)");
	}
	pump(d);
	/* Rows were due: more may be, behind an endpoint's bound or the
	 * total's. Claim again at once, and each time a delivery ends, until
	 * a claim that left no endpoint out finds nothing; then the timer
	 * takes over. */
	if (n > 0)
		d->more = true;
	else if (!d->capped)
		d->more = false;
	if (started > 0 && d->inflight < d->o.max_inflight)
		event_active(&d->kick, EV_TIMEOUT, 0);
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
	deliverer *d = arg;
	if (d->claiming || d->stopping || d->inflight >= d->o.max_inflight)
		return;
	/* The endpoints with deliveries in flight here, and how many each. */
	size_t cap = 8 + d->n_slots * (ID_LEN + 2);
	char *ids = malloc(cap), *ns = malloc(8 + d->n_slots * 12);
	if (ids == NULL || ns == NULL) {
		free(ids);
		free(ns);
		return;
	}
	size_t a = 0, b = 0;
	ids[a++] = '{';
	ns[b++] = '{';
	d->capped = false;
	for (size_t i = 0; i < d->n_slots; i++) {
		d->capped |= d->slots[i].n >= d->o.per_endpoint * QUEUE_FACTOR;
		a += (size_t)sprintf(ids + a, "%s%s", i ? "," : "", d->slots[i].id);
		b += (size_t)sprintf(ns + b, "%s%d", i ? "," : "", d->slots[i].n);
	}
	memcpy(ids + a, "}", 2);
	memcpy(ns + b, "}", 2);
	char per[16], total[16], lease[24];
	int64_t per_ep = d->o.per_endpoint * QUEUE_FACTOR;
	snprintf(per, sizeof(per), "%lld", (long long)per_ep);
	snprintf(total, sizeof(total), "%lld", (long long)(d->o.max_inflight - d->inflight));
	int64_t lease_ms = d->o.timeout_ms * QUEUE_FACTOR + LEASE_EXTRA_MS;
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	const char *params[] = { per, ids, ns, total, lease };
	if (db_query(d->db, outbox_sql_claim, 5, params, claimed, d) == 0)
		d->claiming = true;
	free(ids);
	free(ns);
}

/* ---------------------------------------------------------------- life */

void deliver_set_options(deliverer *d, const deliver_options *opts)
{
	d->o = *opts;
	d->o.ca_file = NULL; /* d->ca_file, copied at start */
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opts->per_endpoint);
	if (!d->stopping) {
		struct timeval tv = { opts->poll_ms / 1000, (opts->poll_ms % 1000) * 1000 };
		event_add(&d->poll_timer, &tv);
	}
}

deliverer *deliver_new(struct event_base *base, db_pool *db, const deliver_options *opts)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	deliverer *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		curl_global_cleanup();
		return NULL;
	}
	d->base = base;
	d->db = db;
	d->o = *opts;
	d->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
	d->o.ca_file = NULL;
	if (opts->ca_file == NULL || d->ca_file != NULL)
		d->multi = curl_multi_init();
	if (d->multi == NULL) {
		free(d->ca_file);
		free(d);
		curl_global_cleanup();
		return NULL;
	}
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	/* Connections to an endpoint are reused; at most this many per host. */
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opts->per_endpoint);
	evtimer_assign(&d->curl_timer, base, curl_timer_fired, d);
	event_assign(&d->poll_timer, base, -1, EV_PERSIST, poll_tick, d);
	event_assign(&d->kick, base, -1, 0, poll_tick, d);
	struct timeval tv = { opts->poll_ms / 1000, (opts->poll_ms % 1000) * 1000 };
	event_add(&d->poll_timer, &tv);
	return d;
}

void deliver_stop(deliverer *d)
{
	if (d == NULL)
		return;
	d->stopping = true;
	event_del(&d->poll_timer);
	event_del(&d->kick);
}

void deliver_counts(const deliverer *d, uint64_t *delivered, uint64_t *failed)
{
	*delivered = d ? d->delivered : 0;
	*failed = d ? d->failed : 0;
}

void deliver_free(deliverer *d)
{
	if (d == NULL)
		return;
	d->stopping = true;
	hook_job *j = d->jobs;
	while (j != NULL) {
		hook_job *next = j->next; /* job_free() unlinks j */
		job_free(j);
		j = next;
	}
	if (d->multi != NULL) {
		event_del(&d->poll_timer);
		event_del(&d->kick);
		evtimer_del(&d->curl_timer);
		curl_multi_cleanup(d->multi);
	}
	while (d->socks != NULL) {
		hook_sock *hs = d->socks;
		d->socks = hs->next;
		event_del(&hs->ev);
		free(hs);
	}
	free(d->slots);
	free(d->ca_file);
	free(d);
	curl_global_cleanup();
}
