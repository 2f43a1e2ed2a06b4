/* Integration tests of the operators' HTTP endpoint (--admin-listen): /metrics
 * read with the reference Prometheus parser (metrics_parse.py) moves by
 * exactly the calls, connections and limit hits made, its histogram counts
 * match its counters, and with --workers 2 any worker answers for all;
 * /healthz and /readyz answer as the database comes and goes and as the
 * server drains after SIGTERM; other paths
 * are 404, other methods 405, oversized requests refused. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"

static struct {
	char *db;
	char *admin_key;
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_metrics");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	return 0;
}

static int teardown(void **state)
{
	free(T.admin_key);
	free(T.db);
	return 0;
}

/* ---------------------------------------------------------------- HTTP */

/* Send request (the whole HTTP/1.0 text) to 127.0.0.1:port and read the
 * answer until the server closes; the status code, the body in *body
 * (malloc'ed, when not NULL). */
static int http_raw(const char *port, const char *request, size_t len, char **body)
{
	int fd = h_tcp_connect(port);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, request + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the server may refuse before reading it all */
		off += (size_t)n;
	}
	size_t cap = 65536, used = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	int64_t deadline = h_now_ms() + 10000;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int left = (int)(deadline - h_now_ms());
		if (left <= 0)
			fail_msg("no answer from %s within 10 s", port);
		if (poll(&p, 1, left) <= 0)
			continue;
		if (used == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		fail_msg("not an HTTP answer: '%.200s'", buf);
	if (body != NULL) {
		char *b = strstr(buf, "\r\n\r\n");
		*body = strdup(b ? b + 4 : "");
	}
	free(buf);
	return status;
}

static int http(const char *port, const char *method, const char *path, char **body)
{
	char *req = h_fmt("%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
	int status = http_raw(port, req, strlen(req), body);
	free(req);
	return status;
}

/* ---------------------------------------------------------------- scrapes */

/* Scrape /metrics and parse it with prometheus_client's parser; the
 * malloc'ed lines of metrics_parse.py. */
static char *scrape(const char *port)
{
	char *body = NULL;
	int status = http(port, "GET", "/metrics", &body);
	assert_int_equal(status, 200);
	char *file = h_path(h_tmp_dir(), "metrics-scrape.txt");
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	char *script = h_path(h_root_dir(), "tests/integration/metrics_parse.py");
	char *qs = h_shq(script), *qf = h_shq(file);
	/* The Debian interpreter: python3-prometheus-client installs for it. */
	char *cmd = h_fmt("/usr/bin/python3 %s < %s", qs, qf);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0)
		fail_msg("the Prometheus parser refused /metrics (exit %d):\n%s", rc, body);
	free(cmd);
	free(qs);
	free(qf);
	free(script);
	free(file);
	free(body);
	return out;
}

/* The value of sample key ('name{label="v",...}', labels sorted) in a
 * parsed scrape; -1 when it is absent. */
static double sample(const char *parsed, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = parsed; p != NULL && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtod(p + klen + 1, NULL);
	}
	return -1;
}

/* A sample that must be there. */
static double must(const char *parsed, const char *key)
{
	double v = sample(parsed, key);
	if (v < 0)
		fail_msg("no sample %s in the scrape:\n%s", key, parsed);
	return v;
}

/* A counter's sample, 0 when absent (series appear at their first count). */
static double count_of(const char *parsed, const char *key)
{
	double v = sample(parsed, key);
	return v < 0 ? 0 : v;
}

static double requests(const char *parsed, const char *call, const char *code)
{
	char *key = h_fmt("fairpay_requests_total{call=\"%s\",code=\"%s\"}", call, code);
	double v = count_of(parsed, key);
	free(key);
	return v;
}

static double hist(const char *parsed, const char *suffix, const char *call, const char *le)
{
	char *key = le ? h_fmt("fairpay_request_duration_seconds%s{call=\"%s\",le=\"%s\"}", suffix,
			       call, le)
		       : h_fmt("fairpay_request_duration_seconds%s{call=\"%s\"}", suffix, call);
	double v = count_of(parsed, key);
	free(key);
	return v;
}

/* Scrape until fairpay_connections is want (closes are noticed a moment
 * later); the last scrape. */
static char *wait_connections(const char *port, double want)
{
	int64_t deadline = h_now_ms() + 10000;
	for (;;) {
		char *m = scrape(port);
		double got = must(m, "fairpay_connections{}");
		if (got == want)
			return m;
		if (h_now_ms() > deadline)
			fail_msg("fairpay_connections is %g, not %g", got, want);
		free(m);
		h_sleep_ms(50);
	}
}

/* Poll path until it answers want, for up to ms. */
static void wait_status(const char *port, const char *path, int want, int ms)
{
	int64_t deadline = h_now_ms() + ms;
	int got;
	while ((got = http(port, "GET", path, NULL)) != want) {
		if (h_now_ms() > deadline)
			fail_msg("%s answered %d, not %d, for %d ms", path, got, want, ms);
		h_sleep_ms(100);
	}
}

/* ---------------------------------------------------------------- tests */

static void test_counts_match_the_calls(void **state)
{
	char port[16];
	h_free_port(port, sizeof(port));
	char *listen = h_fmt("127.0.0.1:%s", port);
	h_server *srv = h_server_start(T.db, "--admin-listen", listen, NULL);
	/* Nothing of ours yet: the harness's own ping has closed. */
	char *before = wait_connections(port, 0);
	assert_int_equal(must(before, "fairpay_workers{}"), 1);
	/* The families are what they claim to be. */
	assert_true(h_contains(before, "TYPE fairpay_requests counter"));
	assert_true(h_contains(before, "TYPE fairpay_request_duration_seconds histogram"));
	assert_true(h_contains(before, "TYPE fairpay_connections gauge"));
	assert_true(h_contains(before, "TYPE fairpay_limit_hits counter"));
	assert_true(h_contains(before, "TYPE fairpay_webhook_deliveries counter"));

	fp_client *admin = h_connect_auth(srv, T.admin_key);
	fp_client *vendor = h_vendor_client(srv, admin, "metrics", NULL, NULL);
	fp_client *anon = h_connect(srv);
	for (int i = 0; i < 3; i++)
		h_assert_code(h_ping(admin), H_OK);
	h_assert_code(h_ping(anon), H_OK);
	h_assert_code(h_get_product(vendor, "no-such-sku", NULL), H_NOT_FOUND);
	h_assert_code(h_get_product(vendor, "no-such-sku-2", NULL), H_NOT_FOUND);
	h_product(vendor, "tea", 1000, 1200);
	h_assert_code(h_get_product(vendor, "tea", NULL), H_OK);
	h_assert_code(h_get_product(anon, "tea", NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);

	char *after = wait_connections(port, 3);
	assert_int_equal(requests(after, "Ping", "OK") - requests(before, "Ping", "OK"), 4);
	assert_int_equal(
		requests(after, "Authenticate", "OK") - requests(before, "Authenticate", "OK"), 2);
	assert_int_equal(
		requests(after, "CreateVendor", "OK") - requests(before, "CreateVendor", "OK"), 1);
	assert_int_equal(requests(after, "PutProduct", "OK") - requests(before, "PutProduct", "OK"),
			 1);
	assert_int_equal(requests(after, "GetProduct", "NOT_FOUND") -
				 requests(before, "GetProduct", "NOT_FOUND"),
			 2);
	assert_int_equal(requests(after, "GetProduct", "OK") - requests(before, "GetProduct", "OK"),
			 1);
	assert_int_equal(requests(after, "GetProduct", "UNAUTHENTICATED"), 1);
	/* No call of another kind moved. */
	assert_int_equal(requests(after, "GetPolicy", "OK"), 0);

	/* The histogram counts each call once, whatever its code. */
	double n = hist(after, "_count", "GetProduct", NULL) -
		   hist(before, "_count", "GetProduct", NULL);
	assert_int_equal(n, 4);
	assert_int_equal(hist(after, "_bucket", "GetProduct", "+Inf"),
			 hist(after, "_count", "GetProduct", NULL));
	assert_true(hist(after, "_bucket", "GetProduct", "0.0005") <=
		    hist(after, "_bucket", "GetProduct", "0.01"));
	assert_true(hist(after, "_bucket", "GetProduct", "0.01") <=
		    hist(after, "_bucket", "GetProduct", "+Inf"));
	assert_true(hist(after, "_sum", "GetProduct", NULL) > 0);
	assert_int_equal(hist(after, "_count", "Ping", NULL) - hist(before, "_count", "Ping", NULL),
			 4);

	assert_int_equal(must(after, "fairpay_connections_accepted_total{}") -
				 must(before, "fairpay_connections_accepted_total{}"),
			 3);
	assert_int_equal(must(after, "fairpay_tls_handshakes_total{}") -
				 must(before, "fairpay_tls_handshakes_total{}"),
			 3);
	/* Writes committed: the vendor, its key, the product. */
	assert_true(must(after, "fairpay_db_committed_calls_total{}") >
		    must(before, "fairpay_db_committed_calls_total{}"));
	assert_true(must(after, "fairpay_db_commits_total{}") > 0);
	assert_true(must(after, "fairpay_db_queue_wait_seconds_count{}") >
		    must(before, "fairpay_db_queue_wait_seconds_count{}"));
	assert_true(must(after, "fairpay_db_queries_in_flight{}") >= 0);
	assert_true(must(after, "fairpay_webhook_oldest_undelivered_seconds{}") >= 0);
	assert_int_equal(must(after, "fairpay_webhook_deliveries_total{result=\"delivered\"}"), 0);
	must(after, "fairpay_cache_hits_total{}");
	must(after, "fairpay_sweep_rounds_total{}");

	fp_client_free(admin);
	fp_client_free(vendor);
	fp_client_free(anon);
	char *closed = wait_connections(port, 0);

	/* The limit counters of the log's stats line are the same ones: a
	 * frame over --max-frame counts one frame_too_large. */
	double big_before = must(closed, "fairpay_limit_hits_total{limit=\"frame_too_large\"}");
	h_tls *t = h_tls_connect(srv->port);
	h_tls_write_frame(t, 64u << 20, NULL, 0);
	Fairpay__V1__Response *resp = NULL;
	assert_int_equal(h_tls_read(t, 5000, &resp), H_READ_FRAME);
	assert_int_equal(resp->status->code, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_expect_closed(t, 5000);
	h_tls_close(t);
	char *hit = wait_connections(port, 0);
	assert_int_equal(
		must(hit, "fairpay_limit_hits_total{limit=\"frame_too_large\"}") - big_before, 1);
	must(hit, "fairpay_limit_hits_total{limit=\"connections_refused\"}");

	free(before);
	free(after);
	free(closed);
	free(hit);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
	free(listen);
}

static void test_paths_methods_and_bounds(void **state)
{
	char port[16];
	h_free_port(port, sizeof(port));
	char *listen = h_fmt("127.0.0.1:%s", port);
	h_server *srv = h_server_start(T.db, "--admin-listen", listen, NULL);
	char *body = NULL;
	assert_int_equal(http(port, "GET", "/healthz", &body), 200);
	assert_string_equal(body, "ok\n");
	free(body);
	wait_status(port, "/readyz", 200, 10000);
	assert_int_equal(http(port, "GET", "/metrics?x=1", NULL), 200);
	assert_int_equal(http(port, "GET", "/", NULL), 404);
	assert_int_equal(http(port, "GET", "/metricsx", NULL), 404);
	assert_int_equal(http(port, "GET", "/metrics/", NULL), 404);
	assert_int_equal(http(port, "POST", "/metrics", NULL), 405);
	assert_int_equal(http(port, "DELETE", "/readyz", NULL), 405);
	assert_int_equal(http(port, "PUT", "/healthz", NULL), 405);

	/* Headers past the bound are refused, and the endpoint goes on. */
	size_t big = 64 * 1024;
	char *req = malloc(big + 128);
	assert_non_null(req);
	int n = snprintf(req, 128, "GET /metrics HTTP/1.0\r\nX-Pad: ");
	memset(req + n, 'a', big);
	memcpy(req + n + big, "\r\n\r\n", 5);
	int status = http_raw(port, req, strlen(req), NULL);
	assert_true(status >= 400 && status < 500);
	free(req);
	assert_int_equal(http(port, "GET", "/healthz", NULL), 200);

	/* Nothing secret: the ADMIN key is nowhere in what is served. */
	char *m = NULL;
	assert_int_equal(http(port, "GET", "/metrics", &m), 200);
	assert_false(h_contains(m, T.admin_key));
	free(m);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
	free(listen);
}

/* With --workers 2, whichever worker answers a scrape sums both. */
static void test_workers_sum(void **state)
{
	enum {
		CONNS = 24
	};
	char port[16];
	h_free_port(port, sizeof(port));
	char *listen = h_fmt("127.0.0.1:%s", port);
	h_server *srv = h_server_start(T.db, "--workers", "2", "--admin-listen", listen, NULL);
	char *before = wait_connections(port, 0);
	assert_int_equal(must(before, "fairpay_workers{}"), 2);
	fp_client *c[CONNS];
	for (int i = 0; i < CONNS; i++) {
		c[i] = h_connect(srv);
		h_assert_code(h_ping(c[i]), H_OK);
	}
	char *open = wait_connections(port, CONNS);
	free(open);
	for (int i = 0; i < CONNS; i++)
		fp_client_free(c[i]);
	/* Each scrape is a new connection, spread over the workers by the
	 * kernel: every one must see all the pings. */
	for (int k = 0; k < 12; k++) {
		char *m = wait_connections(port, 0);
		assert_int_equal(requests(m, "Ping", "OK") - requests(before, "Ping", "OK"), CONNS);
		assert_int_equal(hist(m, "_count", "Ping", NULL) -
					 hist(before, "_count", "Ping", NULL),
				 CONNS);
		assert_int_equal(must(m, "fairpay_connections_accepted_total{}") -
					 must(before, "fairpay_connections_accepted_total{}"),
				 CONNS);
		assert_int_equal(must(m, "fairpay_workers{}"), 2);
		free(m);
	}
	wait_status(port, "/readyz", 200, 10000);
	free(before);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
	free(listen);
}

/* /readyz follows the database; /healthz does not. */
static void test_readiness_follows_the_database(void **state)
{
	char port[16];
	h_free_port(port, sizeof(port));
	char *listen = h_fmt("127.0.0.1:%s", port);
	h_server *srv = h_server_start(T.db, "--workers", "2", "--admin-listen", listen,
				       "--db-timeout-ms", "500", NULL);
	wait_status(port, "/readyz", 200, 10000);
	h_pg_stop();
	wait_status(port, "/readyz", 503, 15000);
	assert_int_equal(http(port, "GET", "/healthz", NULL), 200);
	assert_int_equal(http(port, "GET", "/metrics", NULL), 200);
	h_pg_start();
	wait_status(port, "/readyz", 200, 30000);
	assert_int_equal(h_server_stop(srv, SIGTERM), 0);
	h_server_free(srv);
	free(listen);
}

/* After SIGTERM, while a call still runs, /readyz says 503 (a balancer
 * sends no more) and /healthz still 200. The call is held on a lock of the
 * table its query reads. */
static void test_not_ready_while_draining(void **state)
{
	char port[16];
	h_free_port(port, sizeof(port));
	char *listen = h_fmt("127.0.0.1:%s", port);
	h_server *srv =
		h_server_start(T.db, "--admin-listen", listen, "--db-lock-timeout-ms", "30000",
			       "--db-statement-timeout-ms", "30000", "--db-timeout-ms", "30000",
			       "--shutdown-timeout-ms", "30000", NULL);
	wait_status(port, "/readyz", 200, 10000);
	PGconn *pg = PQconnectdb(T.db);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	PGresult *r = PQexec(pg, "BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);

	h_tls *t = h_tls_connect(srv->port);
	Fairpay__V1__AuthenticateRequest auth = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	auth.api_key = T.admin_key;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = 5;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &auth;
	h_tls_write_request(t, &req);
	/* Its query waits on the lock. */
	int64_t deadline = h_now_ms() + 10000;
	while (h_sql_int(T.db, "SELECT count(*) FROM pg_locks WHERE NOT granted") == 0) {
		if (h_now_ms() > deadline)
			fail_msg("the Authenticate never waited on the lock");
		h_sleep_ms(20);
	}
	assert_int_equal(kill(srv->pid, SIGTERM), 0);
	wait_status(port, "/readyz", 503, 5000);
	assert_int_equal(http(port, "GET", "/healthz", NULL), 200);
	assert_true(h_server_alive(srv));

	r = PQexec(pg, "ROLLBACK");
	PQclear(r);
	PQfinish(pg);
	Fairpay__V1__Response *resp = NULL;
	assert_int_equal(h_tls_read(t, 10000, &resp), H_READ_FRAME);
	assert_int_equal(resp->id, 5);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_close(t);
	assert_int_equal(h_server_stop(srv, 0), 0);
	h_server_free(srv);
	free(listen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_match_the_calls),
		cmocka_unit_test(test_paths_methods_and_bounds),
		cmocka_unit_test(test_workers_sum),
		cmocka_unit_test(test_readiness_follows_the_database),
		cmocka_unit_test(test_not_ready_while_draining),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
