/* Integration tests of the TLS transport: plain TCP is never served, stalled
 * handshakes do not block anyone else, the certificate verifies for 127.0.0.1,
 * ALPN is fairpay/1, and TLS older than 1.2 is refused. */
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
#include <unistd.h>

#include <openssl/ssl.h>

#include "harness.h"

#define N_STALLED 20

static struct {
	char *db;
	char *admin_key;
	h_server *srv;
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_tls");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	/* A short handshake limit, so that the test of it is quick; the other
	 * tests finish their handshakes well within it. */
	T.srv = h_server_start(T.db, "--handshake-timeout-ms", "1500", NULL);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.admin_key);
	free(T.db);
	return 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			fail_msg("write to a raw TCP connection failed");
		p += n;
		len -= (size_t)n;
	}
}

/* The first bytes of a TLS 1.2 ClientHello record: record header announcing
 * 512 bytes, handshake header, version, and a few bytes of random. */
static const unsigned char half_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
					    0xfc, 0x03, 0x03, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };

static void test_plain_tcp_garbage_closed(void **state)
{
	fp_client *normal = h_connect_auth(T.srv, T.admin_key);
	int fd = h_tcp_connect(T.srv->port);
	const char *http = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	write_all(fd, http, strlen(http));
	h_assert_code(h_ping(normal), FAIRPAY__V1__CODE__OK);
	if (!h_fd_wait_closed(fd, 5000))
		fail_msg("a plain-TCP client sending HTTP was not closed within 5 s");
	close(fd);
	h_assert_code(h_ping(normal), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(normal, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	fp_client_free(normal);
}

static void test_plain_tcp_framed_request_closed(void **state)
{
	/* A well-formed FairPay frame without TLS is not served either. */
	int fd = h_tcp_connect(T.srv->port);
	write_all(fd, "\x00\x00\x00\x02\x52\x00", 6);
	if (!h_fd_wait_closed(fd, 5000))
		fail_msg("a plain-TCP FairPay frame was not closed within 5 s");
	close(fd);
}

static void test_stalled_handshakes_do_not_block(void **state)
{
	int fds[N_STALLED];
	for (int i = 0; i < N_STALLED; i++) {
		fds[i] = h_tcp_connect(T.srv->port);
		/* Half of them send nothing, half stop inside the ClientHello. */
		if (i % 2)
			write_all(fds[i], half_hello, sizeof(half_hello));
	}
	int64_t t0 = h_now_ms();
	fp_client *c = h_connect(T.srv);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	int64_t took = h_now_ms() - t0;
	if (took >= 1000)
		fail_msg("a normal client took %lld ms to connect and Ping beside %d stalled "
			 "handshakes",
			 (long long)took, N_STALLED);
	h_assert_code(h_auth(c, T.admin_key, NULL, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	for (int i = 0; i < N_STALLED; i++)
		close(fds[i]);
}

static void test_handshake_timeout(void **state)
{
	/* A connection that never finishes its handshake is closed after
	 * --handshake-timeout-ms (1500 here). */
	int silent = h_tcp_connect(T.srv->port);
	int half = h_tcp_connect(T.srv->port);
	write_all(half, half_hello, sizeof(half_hello));
	int64_t t0 = h_now_ms();
	if (!h_fd_wait_closed(silent, 6000))
		fail_msg("a silent connection was still open 6 s later");
	if (!h_fd_wait_closed(half, 6000))
		fail_msg("a half handshake was still open 6 s later");
	int64_t took = h_now_ms() - t0;
	assert_true(took >= 1000);
	close(silent);
	close(half);
}

static void test_certificate_and_alpn(void **state)
{
	fp_client *c = h_connect(T.srv);
	assert_string_equal(fp_client_alpn(c), "fairpay/1");
	fp_client_free(c);

	h_tls *t = h_tls_connect(T.srv->port); /* verifies against the CA for 127.0.0.1 */
	assert_string_equal(h_tls_alpn(t), "fairpay/1");
	assert_int_equal(h_tls_version(t), TLS1_3_VERSION);
	h_tls_close(t);

	/* The same certificate does not verify for another name. */
	fp_client_options opts = *h_client_options();
	opts.server_name = "not-this-server.example";
	fp_client *bad = NULL;
	char err[512];
	if (h_try_connect(T.srv->port, &opts, &bad, err, sizeof(err)) == 0) {
		fp_client_free(bad);
		fail_msg("connected although the certificate does not name the server");
	}
	/* "localhost" is in the certificate too. */
	opts.server_name = "localhost";
	fp_client *ok = NULL;
	if (h_try_connect(T.srv->port, &opts, &ok, err, sizeof(err)) != 0)
		fail_msg("could not connect verifying 'localhost': %s", err);
	h_assert_code(h_ping(ok), FAIRPAY__V1__CODE__OK);
	fp_client_free(ok);
}

static void test_untrusted_ca_refused(void **state)
{
	/* A client trusting another CA refuses the server. */
	char *dir = h_path(h_tmp_dir(), "other-ca");
	char *qdir = h_shq(dir);
	char *cmd = h_fmt("mkdir -p %s && openssl req -x509 -newkey ec "
			  "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s/ca.key "
			  "-out %s/ca.pem -subj /CN=other -days 1 2>&1",
			  qdir, qdir, qdir);
	char *out = NULL;
	if (h_run(cmd, &out) != 0)
		fail_msg("openssl: %s", out);
	free(out);
	char *ca = h_path(dir, "ca.pem");
	fp_client_options opts = *h_client_options();
	opts.ca_file = ca;
	fp_client *c = NULL;
	char err[512];
	if (h_try_connect(T.srv->port, &opts, &c, err, sizeof(err)) == 0) {
		fp_client_free(c);
		fail_msg("connected although the server's CA is not trusted");
	}
	free(ca);
	free(cmd);
	free(qdir);
	free(dir);
}

static void test_tls11_refused(void **state)
{
	char err[1024];
	h_tls *t = h_tls_try(T.srv->port, 0, TLS1_1_VERSION, err, sizeof(err));
	if (t != NULL) {
		int v = h_tls_version(t);
		h_tls_close(t);
		fail_msg("a TLS 1.1 client was served (version 0x%x)", v);
	}
	/* Our own library must have offered TLS 1.1: the refusal is the
	 * server's. */
	if (h_contains(err, "no protocols available"))
		fail_msg("the test client could not offer TLS 1.1: %s", err);
	print_message("TLS 1.1 refused: %s\n", err);

	t = h_tls_try(T.srv->port, 0, TLS1_VERSION, err, sizeof(err));
	if (t != NULL) {
		h_tls_close(t);
		fail_msg("a TLS 1.0 client was served");
	}

	/* TLS 1.2 is still accepted. */
	t = h_tls_try(T.srv->port, TLS1_2_VERSION, TLS1_2_VERSION, err, sizeof(err));
	if (t == NULL)
		fail_msg("a TLS 1.2 client was refused: %s", err);
	assert_int_equal(h_tls_version(t), TLS1_2_VERSION);
	assert_string_equal(h_tls_alpn(t), "fairpay/1");
	h_tls_close(t);

	fp_client *c = h_connect(T.srv);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_tcp_garbage_closed),
		cmocka_unit_test(test_plain_tcp_framed_request_closed),
		cmocka_unit_test(test_stalled_handshakes_do_not_block),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_certificate_and_alpn),
		cmocka_unit_test(test_untrusted_ca_refused),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
