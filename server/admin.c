/* The operators' HTTP endpoint: metrics, health, readiness (see admin.h). */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "log.h"
#include "metrics.h"
#include "outbox.h"

/* How often each worker asks its database whether it answers (and how old
 * the oldest undelivered webhook is). */
#define PROBE_MS 1000
/* A scrape is a small GET: refuse anything much larger. */
#define MAX_HEADERS_BYTES 8192
#define MAX_BODY_BYTES 1024
/* Drop an HTTP connection silent this long. */
#define IDLE_S 10

struct admin {
	db_pool *db;
	const bool *stopping;
	struct evhttp *http;
	struct event *probe;
	bool probing;
	bool freed; /* admin_free() came during a probe: the probe frees it */
};

static void reply_text(struct evhttp_request *req, int status, const char *reason, const char *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	struct evbuffer *b = evbuffer_new();
	if (b != NULL)
		evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, status, reason, b);
	if (b != NULL)
		evbuffer_free(b);
}

static void serve_metrics(struct evhttp_request *req)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (out == NULL) {
		reply_text(req, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	int rc = metrics_render(out);
	fclose(out);
	struct evbuffer *b = evbuffer_new();
	if (rc != 0 || b == NULL || evbuffer_add(b, text, len) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		free(text);
		reply_text(req, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	free(text);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void handle(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t plen = strcspn(uri, "?#");
	enum {
		METRICS,
		HEALTHZ,
		READYZ,
		NONE
	} route = NONE;
	if (plen == 8 && strncmp(uri, "/metrics", 8) == 0)
		route = METRICS;
	else if (plen == 8 && strncmp(uri, "/healthz", 8) == 0)
		route = HEALTHZ;
	else if (plen == 7 && strncmp(uri, "/readyz", 7) == 0)
		route = READYZ;
	if (route == NONE) {
		reply_text(req, 404, "Not Found", "not found: /metrics, /healthz, /readyz\n");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		reply_text(req, 405, "Method Not Allowed", "only GET\n");
		return;
	}
	switch (route) {
	case METRICS:
		serve_metrics(req);
		break;
	case HEALTHZ:
		reply_text(req, 200, "OK", "ok\n");
		break;
	case READYZ:
		if (metrics_ready())
			reply_text(req, 200, "OK", "ready\n");
		else
			reply_text(req, 503, "Service Unavailable", "not ready\n");
		break;
	case NONE:
		break;
	}
}

static void probe_done(void *arg, db_status st, PGresult *res)
{
	admin *a = arg;
	a->probing = false;
	if (a->freed) {
		free(a);
		return;
	}
	bool answered = st == DB_OK && PQntuples(res) == 1;
	if (answered)
		metrics_set(METRIC_HOOK_OLDEST_AGE_MS, db_get_i64(res, 0, 0));
	metrics_set_ready(answered && !*a->stopping);
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
	admin *a = arg;
	if (*a->stopping) {
		metrics_set_ready(false);
		return;
	}
	if (a->probing)
		return; /* the database is slow to answer: its timeout will say */
	if (db_query(a->db, outbox_sql_oldest_age_ms, 0, NULL, probe_done, a) == 0)
		a->probing = true;
	else
		metrics_set_ready(false);
}

/* A listening socket on addr, shared with the other workers' (each accepts
 * on its own; the kernel spreads the connections). */
static evutil_socket_t listen_on(const char *addr, bool shared)
{
	char host[256], port[16];
	evutil_socket_t fd = -1;
	struct evutil_addrinfo hints = { 0 }, *ai = NULL;
	if (cfg_split_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0) {
		log_error(0, "--admin-listen: '%s' is not HOST:PORT", addr);
		goto done;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	int gai = evutil_getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		log_error(0, "--admin-listen %s: %s", addr, evutil_gai_strerror(gai));
		goto done;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    bind(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		log_error(0, "cannot listen on --admin-listen %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
done:
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	return fd;
}

admin *admin_new(struct event_base *base, const fp_config *cfg, db_pool *db, const bool *stopping)
{
	admin *a = calloc(1, sizeof(*a));
	evutil_socket_t fd = -1;
	if (a == NULL)
		goto fail;
	a->db = db;
	a->stopping = stopping;
	a->http = evhttp_new(base);
	a->probe = event_new(base, -1, EV_PERSIST, probe_cb, a);
	if (a->http == NULL || a->probe == NULL)
		goto fail;
	evhttp_set_max_headers_size(a->http, MAX_HEADERS_BYTES);
	evhttp_set_max_body_size(a->http, MAX_BODY_BYTES);
	evhttp_set_timeout(a->http, IDLE_S);
	/* Every method reaches handle(), which answers 405 itself (libevent
	 * would answer 501 for the ones not allowed). */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(a->http, handle, a);
	fd = listen_on(cfg->admin_listen, cfg->workers != 1);
	if (fd < 0)
		goto fail;
	if (evhttp_accept_socket(a->http, fd) != 0) {
		log_error(0, "cannot serve --admin-listen %s", cfg->admin_listen);
		close(fd);
		goto fail;
	}
	struct timeval tv = { PROBE_MS / 1000, (PROBE_MS % 1000) * 1000 };
	event_add(a->probe, &tv);
	probe_cb(-1, 0, a); /* ready as soon as the database first answers */
	log_info(0, "operators' HTTP on %s (/metrics, /healthz, /readyz)", cfg->admin_listen);
	return a;
fail:
	if (a != NULL && a->http == NULL)
		log_error(0, "--admin-listen: out of memory");
	admin_free(a);
	return NULL;
}

void admin_free(admin *a)
{
	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	a->http = NULL;
	if (a->probe != NULL)
		event_free(a->probe);
	a->probe = NULL;
	if (a->probing) {
		a->freed = true; /* probe_done frees it */
		return;
	}
	free(a);
}
