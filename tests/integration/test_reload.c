/* Integration tests of the config file and its reload: a limit read from
 * --config, changed by rewriting the file and sending SIGHUP (and the log
 * line saying so), an invalid file keeping every old value, a setting that
 * needs a restart kept, the log level changed live, the TLS certificate
 * named by the file replaced for new connections only, --log-format json
 * (every line a JSON object with its fields) and the systemd notifications
 * (READY, RELOADING, READY, STOPPING; with --workers 2 READY once both
 * listen). */
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
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

static struct {
	char *db;
	char *admin_key;
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_reload");
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

/* Write text as the config file path (replaced whole, as an editor or a
 * deployment tool would). */
static void write_conf(const char *path, const char *text)
{
	char *tmp = h_fmt("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fail_msg("cannot write %s", tmp);
	if (rename(tmp, path) != 0)
		fail_msg("rename %s: %s", tmp, strerror(errno));
	free(tmp);
}

static char *conf_path(const char *name)
{
	return h_path(h_tmp_dir(), name);
}

/* SIGHUP, then wait for the reload's summary line (the n-th). */
static void sighup(h_server *s, int n)
{
	assert_int_equal(kill(s->pid, SIGHUP), 0);
	if (!h_wait_log(s, "SIGHUP:", n, 5000))
		fail_msg("no SIGHUP line in the log 5 s after the signal; log:\n%s",
			 h_server_log(s));
}

/* A Ping request of exactly size bytes (padded with an unknown field, which
 * the decoder skips), written as one frame on t. */
static void write_ping_of(h_tls *t, size_t size, uint64_t id)
{
	uint8_t *body = malloc(size);
	assert_non_null(body);
	size_t n = 0;
	body[n++] = 0x08; /* id */
	body[n++] = (uint8_t)id;
	body[n++] = 0x52; /* field 10 (ping), length-delimited, empty */
	body[n++] = 0x00;
	body[n++] = 0xc2; /* field 1000, wire type 2 */
	body[n++] = 0x3e;
	size_t pad = size - n - 2; /* two bytes of length varint */
	body[n++] = (uint8_t)(0x80 | (pad & 0x7f));
	body[n++] = (uint8_t)(pad >> 7);
	memset(body + n, 'p', pad);
	n += pad;
	assert_int_equal(n, size);
	h_tls_write_frame(t, (uint32_t)size, body, size);
	free(body);
}

/* The code of the reply to a padded Ping of size bytes on t. */
static int ping_of(h_tls *t, size_t size, uint64_t id)
{
	write_ping_of(t, size, id);
	Fairpay__V1__Response *resp = NULL;
	if (h_tls_read(t, 5000, &resp) != H_READ_FRAME)
		fail_msg("no reply to a Ping of %zu bytes", size);
	int code = resp->status ? (int)resp->status->code : 0;
	fairpay__v1__response__free_unpacked(resp, NULL);
	return code;
}

static void test_limit_reload(void **state)
{
	char *conf = conf_path("reload-limit.conf");
	write_conf(conf, "# the test's limits\nmax-frame = 1024\nidle-timeout-ms = 60000\n");
	h_server *s = h_server_start(T.db, "--config", conf, NULL);

	/* 1024 from the file: a frame above it is refused. */
	h_tls *t = h_tls_connect(s->port);
	assert_int_equal(ping_of(t, 1024, 1), FAIRPAY__V1__CODE__OK);
	write_ping_of(t, 1500, 2);
	Fairpay__V1__Response *resp = NULL;
	assert_int_equal(h_tls_read(t, 5000, &resp), H_READ_FRAME);
	assert_int_equal(resp->status->code, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_close(t);
	h_tls *before = h_tls_connect(s->port);
	assert_int_equal(ping_of(before, 100, 3), FAIRPAY__V1__CODE__OK);

	/* Raised to 4096 and a setting that needs a restart changed. */
	write_conf(conf, "max-frame = 4096\nidle-timeout-ms = 60000\ndb-pool = 2\n");
	sighup(s, 1);
	assert_true(h_wait_log(s, "SIGHUP: read ", 1, 5000));
	if (h_log_count(s, "SIGHUP: max-frame 1024 -> 4096") != 1)
		fail_msg("no line for the new max-frame; log:\n%s", h_server_log(s));
	assert_int_equal(h_log_count(s, "SIGHUP: db-pool 4 -> 2 needs a restart; keeping 4"), 1);
	assert_int_equal(h_log_count(s, "idle-timeout-ms"), 0); /* unchanged: no line */
	t = h_tls_connect(s->port);
	assert_int_equal(ping_of(t, 3000, 4), FAIRPAY__V1__CODE__OK);
	h_tls_close(t);
	/* The connection opened before takes the new limit too. */
	assert_int_equal(ping_of(before, 3000, 5), FAIRPAY__V1__CODE__OK);

	/* An invalid file (its second line): every old value stays. */
	write_conf(conf, "max-frame = 8192\nmax-inflight = lots\n");
	sighup(s, 5);
	if (!h_wait_log(s,
			":2: --max-inflight: 'lots' is not a whole number; keeping every "
			"setting as it was",
			1, 5000))
		fail_msg("no line for the invalid file; log:\n%s", h_server_log(s));
	assert_true(h_log_count(s, "ERROR") >= 1);
	t = h_tls_connect(s->port);
	write_ping_of(t, 6000, 6);
	resp = NULL;
	assert_int_equal(h_tls_read(t, 5000, &resp), H_READ_FRAME);
	assert_int_equal(resp->status->code, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED);
	fairpay__v1__response__free_unpacked(resp, NULL);
	h_tls_close(t);
	assert_int_equal(ping_of(before, 4096, 7), FAIRPAY__V1__CODE__OK);

	/* A file gone: the same. */
	assert_int_equal(unlink(conf), 0);
	sighup(s, 6);
	assert_true(h_wait_log(s, "No such file or directory; keeping every setting", 1, 5000));
	assert_int_equal(ping_of(before, 4096, 8), FAIRPAY__V1__CODE__OK);
	h_tls_close(before);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(conf);
}

static void test_flags_win_after_reload(void **state)
{
	char *conf = conf_path("reload-flags.conf");
	write_conf(conf, "max-frame = 1024\n");
	h_server *s = h_server_start(T.db, "--config", conf, "--max-frame", "2048", NULL);
	h_tls *t = h_tls_connect(s->port);
	assert_int_equal(ping_of(t, 2000, 1), FAIRPAY__V1__CODE__OK);
	write_conf(conf, "max-frame = 512\n");
	sighup(s, 1);
	assert_true(h_wait_log(s, "SIGHUP: read ", 1, 5000));
	assert_int_equal(h_log_count(s, "max-frame"), 0);
	assert_int_equal(ping_of(t, 2000, 2), FAIRPAY__V1__CODE__OK);
	h_tls_close(t);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(conf);
}

static void test_log_level_reload(void **state)
{
	char *conf = conf_path("reload-level.conf");
	write_conf(conf, "log-level = info\n");
	h_server *s = h_server_start(T.db, "--config", conf, NULL);
	fp_client *c = h_connect_auth(s, T.admin_key);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	assert_int_equal(h_log_count(s, "DEBUG"), 0);
	write_conf(conf, "log-level = debug\n");
	sighup(s, 1);
	assert_true(h_wait_log(s, "SIGHUP: log-level info -> debug", 1, 5000));
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	if (!h_wait_log(s, "call=Ping code=OK", 1, 5000))
		fail_msg("no debug line for a Ping after log-level debug; log:\n%s",
			 h_server_log(s));
	/* And back. */
	write_conf(conf, "log-level = warn\n");
	sighup(s, 2);
	assert_true(h_wait_log(s, "SIGHUP: read ", 2, 5000));
	int debug_lines = h_log_count(s, "DEBUG");
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	h_sleep_ms(200);
	assert_int_equal(h_log_count(s, "DEBUG"), debug_lines);
	fp_client_free(c);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(conf);
}

/* The SHA-256 of the certificate a new raw connection to port sees. */
static void server_cert_sha256(const char *port, char out[65])
{
	h_tls *t = h_tls_connect(port);
	h_tls_peer_sha256(t, out);
	h_tls_close(t);
}

static void test_tls_reload(void **state)
{
	char *conf = conf_path("reload-tls.conf");
	char *cert1 = h_cert_path("server.pem"), *key1 = h_cert_path("server.key");
	char *cert2 = h_cert_path("server2.pem"), *key2 = h_cert_path("server2.key");
	char fp1[65], fp2[65], seen[65];
	h_cert_sha256(cert1, fp1);
	h_cert_sha256(cert2, fp2);
	assert_string_not_equal(fp1, fp2);
	char *text = h_fmt("cert = %s\nkey = \"%s\"\n", cert1, key1);
	write_conf(conf, text);
	free(text);
	h_server_tls_flags(false);
	h_server *s = h_server_start(T.db, "--config", conf, NULL);
	h_server_tls_flags(true);
	server_cert_sha256(s->port, seen);
	assert_string_equal(seen, fp1);
	h_tls *old = h_tls_connect(s->port);
	assert_int_equal(h_tls_ping(old, 1), FAIRPAY__V1__CODE__OK);

	text = h_fmt("cert = %s\nkey = %s\n", cert2, key2);
	write_conf(conf, text);
	free(text);
	sighup(s, 1);
	char *line = h_fmt("SIGHUP: cert %s -> %s", cert1, cert2);
	assert_true(h_wait_log(s, line, 1, 5000));
	free(line);
	assert_true(h_wait_log(s, "SIGHUP: read ", 1, 5000));
	server_cert_sha256(s->port, seen);
	assert_string_equal(seen, fp2);
	/* The connection made before keeps its certificate, and works. */
	assert_int_equal(h_tls_ping(old, 2), FAIRPAY__V1__CODE__OK);
	h_tls_peer_sha256(old, seen);
	assert_string_equal(seen, fp1);

	/* A key that does not match: the server keeps serving server2. */
	text = h_fmt("cert = %s\nkey = %s\n", cert2, key1);
	write_conf(conf, text);
	free(text);
	sighup(s, 5);
	assert_true(h_wait_log(s, "reload failed", 1, 5000));
	server_cert_sha256(s->port, seen);
	assert_string_equal(seen, fp2);
	h_tls_close(old);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(conf);
	free(cert1);
	free(key1);
	free(cert2);
	free(key2);
}

/* Every line of the log parses as a JSON object with the common fields;
 * the number of lines with a "call" field. */
static int check_json_log(const h_server *s, const char *want_call, const char *want_code)
{
	char *log = h_server_log(s);
	int lines = 0, calls = 0;
	char *save = NULL;
	for (char *line = strtok_r(log, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t e;
		json_t *o = json_loads(line, 0, &e);
		if (!json_is_object(o))
			fail_msg("not a JSON object: %s (%s)", line, e.text);
		lines++;
		if (!json_is_string(json_object_get(o, "ts")) ||
		    !json_is_string(json_object_get(o, "level")) ||
		    !json_is_integer(json_object_get(o, "conn")) ||
		    !json_is_string(json_object_get(o, "msg")))
			fail_msg("a line without ts, level, conn or msg: %s", line);
		if (json_object_get(o, "worker") != NULL)
			fail_msg("worker in a single process's line: %s", line);
		const char *call = json_string_value(json_object_get(o, "call"));
		const char *code = json_string_value(json_object_get(o, "code"));
		if (call != NULL && code != NULL && strcmp(call, want_call) == 0 &&
		    strcmp(code, want_code) == 0) {
			if (!json_is_number(json_object_get(o, "duration_ms")))
				fail_msg("a call line without duration_ms: %s", line);
			calls++;
		}
		json_decref(o);
	}
	assert_true(lines > 3);
	free(log);
	return calls;
}

static void test_json_log(void **state)
{
	h_server *s = h_server_start(T.db, "--log-format", "json", "--log-level", "debug", NULL);
	fp_client *c = h_connect_auth(s, T.admin_key);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	char *vid = NULL, *vkey = NULL;
	fp_client *v = h_vendor_client(s, c, "json log \"vendor\"\n", &vid, &vkey);
	/* A vendor's call that fails: a line with its code and vendor. */
	h_assert_code(h_get_product(v, "no-such-sku", NULL), FAIRPAY__V1__CODE__NOT_FOUND);
	assert_true(h_wait_log(s, "\"code\":\"NOT_FOUND\"", 1, 5000));
	char *want_vendor = h_fmt("\"vendor\":\"%s\"", vid);
	assert_true(h_log_count(s, want_vendor) >= 1);
	free(want_vendor);
	fp_client_free(v);
	fp_client_free(c);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	assert_true(check_json_log(s, "Ping", "OK") >= 1);
	assert_true(check_json_log(s, "GetProduct", "NOT_FOUND") >= 1);
	h_server_free(s);
	free(vid);
	free(vkey);
}

/* ---------------------------------------------------------------- sd_notify */

/* A datagram socket for NOTIFY_SOCKET; its path in path. */
static int notify_socket(char *path, size_t len)
{
	snprintf(path, len, "/tmp/fp-notify-%d.sock", (int)getpid());
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("bind %s: %s", path, strerror(errno));
	return fd;
}

/* The next notification within timeout_ms (malloc'ed), or NULL. */
static char *notify_read(int fd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, timeout_ms) != 1)
		return NULL;
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* Fail unless the next notification holds want. */
static void expect_notify(int fd, const char *want, const h_server *s)
{
	char *msg = notify_read(fd, 10000);
	if (msg == NULL || !h_contains(msg, want))
		fail_msg("notification '%s', want '%s'; log:\n%s", msg ? msg : "(none)", want,
			 h_server_log(s));
	free(msg);
}

static void notify_cycle(const char *workers, int listening)
{
	char path[108];
	int fd = notify_socket(path, sizeof(path));
	char *conf = conf_path("reload-notify.conf");
	write_conf(conf, "max-inflight = 64\n");
	setenv("NOTIFY_SOCKET", path, 1);
	h_server *s = h_server_start(T.db, "--config", conf, "--workers", workers, NULL);
	unsetenv("NOTIFY_SOCKET");
	expect_notify(fd, "READY=1", s);
	/* READY only once every worker listens. */
	assert_int_equal(h_log_count(s, "listening on"), listening);

	write_conf(conf, "max-inflight = 32\n");
	assert_int_equal(kill(s->pid, SIGHUP), 0);
	char *msg = notify_read(fd, 10000);
	if (msg == NULL || !h_contains(msg, "RELOADING=1") || !h_contains(msg, "MONOTONIC_USEC="))
		fail_msg("notification '%s', want RELOADING=1 with MONOTONIC_USEC", msg);
	free(msg);
	expect_notify(fd, "READY=1", s);
	assert_true(h_wait_log(s, "SIGHUP: max-inflight 64 -> 32", 1, 5000));

	assert_int_equal(kill(s->pid, SIGTERM), 0);
	expect_notify(fd, "STOPPING=1", s);
	assert_int_equal(h_server_stop(s, 0), 0);
	/* Nothing more, and only the main process spoke (one READY each). */
	msg = notify_read(fd, 200);
	if (msg != NULL)
		fail_msg("an extra notification: '%s'", msg);
	h_server_free(s);
	close(fd);
	unlink(path);
	free(conf);
}

static void test_notify_one_process(void **state)
{
	notify_cycle("1", 1);
}

static void test_notify_workers(void **state)
{
	notify_cycle("2", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_reload),
		cmocka_unit_test(test_flags_win_after_reload),
		cmocka_unit_test(test_log_level_reload),
		cmocka_unit_test(test_tls_reload),
		cmocka_unit_test(test_json_log),
		cmocka_unit_test(test_notify_one_process),
		cmocka_unit_test(test_notify_workers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
