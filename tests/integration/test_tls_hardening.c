/* Integration tests of fairpayd's TLS hardening: the Mozilla intermediate
 * profile as sslscan sees it (ECDHE only for TLS 1.2), no 0-RTT, session
 * resumption (ticket keys that rotate, shared by the workers; also keeping a
 * client certificate's identity), mutual TLS with certificates registered by
 * RegisterClientCert (through the library and `fairpayctl key
 * register-cert`), certificate reload on SIGHUP, and clients that vanish
 * without close_notify. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "harness.h"

#define N_ABRUPT 50
#define N_WORKERS 4
#define N_WORKER_CALLS 250 /* 1,000 requests in all */

static struct {
	char *db;
	char *admin_key;
	char admin_key_id[17];
	h_server *plain;  /* no --client-ca */
	h_server *mtls;   /* --client-ca ca.pem */
	fp_client *admin; /* on mtls */
	char *ca;
	char fp_client[65]; /* SHA-256 of client.pem */
	char fp_client2[65];
} T;

static int setup(void **state)
{
	T.db = h_db_create("fp_it_tls_hardening");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	/* fp_<key_id>_<secret> */
	snprintf(T.admin_key_id, sizeof(T.admin_key_id), "%.16s", T.admin_key + 3);
	T.ca = h_cert_path("ca.pem");
	char *c1 = h_cert_path("client.pem");
	char *c2 = h_cert_path("client2.pem");
	h_cert_sha256(c1, T.fp_client);
	h_cert_sha256(c2, T.fp_client2);
	free(c1);
	free(c2);
	T.plain = h_server_start(T.db, NULL);
	T.mtls = h_server_start(T.db, "--client-ca", T.ca, NULL);
	T.admin = h_connect_auth(T.mtls, T.admin_key);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.admin);
	h_server_free(T.mtls);
	h_server_free(T.plain);
	free(T.ca);
	free(T.admin_key);
	free(T.db);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

/* A vendor and its key on the mTLS server; *key_id is malloc'ed. */
static void new_vendor(const char *name, char **key_id, char **api_key)
{
	h_must(h_create_vendor(T.admin, name, NULL, api_key, key_id), "CreateVendor");
}

/* A client of the mTLS server presenting CERTS/name.pem; fails the test
 * when it cannot connect. */
static fp_client *connect_cert(const char *name)
{
	fp_client *c = NULL;
	char err[512];
	if (h_try_connect_cert(T.mtls, name, &c, err, sizeof(err)) != 0)
		fail_msg("cannot connect with the client certificate %s: %s", name, err);
	return c;
}

/* The code a vendor call (GetPolicy) gets on c without any Authenticate. */
static int vendor_call(fp_client *c)
{
	return h_get_policy(c, NULL);
}

/* Copy a file (for the reload test). */
static void copy_file(const char *from, const char *to)
{
	char *f = h_shq(from), *t = h_shq(to);
	char *cmd = h_fmt("cp %s %s.tmp && mv %s.tmp %s 2>&1", f, t, t, t);
	char *out = NULL;
	if (h_run(cmd, &out) != 0)
		fail_msg("%s: %s", cmd, out);
	free(out);
	free(cmd);
	free(t);
	free(f);
}

/* Write text over a file in place (the server reads it only on SIGHUP). */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fail_msg("cannot write %s", path);
}

/* The SHA-256 of the certificate a new raw connection to port sees. */
static void server_cert_sha256(const char *port, char out[65])
{
	h_tls *t = h_tls_connect(port);
	h_tls_peer_sha256(t, out);
	h_tls_shutdown_close(t);
}

/* ---------------------------------------------------------------- the TLS profile */

static const char *const mozilla_intermediate_tls12[] = {
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
};
static const char *const tls13_suites[] = {
	"TLS_AES_128_GCM_SHA256",
	"TLS_AES_256_GCM_SHA384",
	"TLS_CHACHA20_POLY1305_SHA256",
};
static const char *const allowed_groups[] = { "x25519", "secp256r1", "secp384r1" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

#define IN_LIST(s, list) in_list((s), (list), sizeof(list) / sizeof((list)[0]))

static void test_sslscan_profile(void **state)
{
	char *cmd = h_fmt("command -v sslscan >/dev/null 2>&1 || exit 97; "
			  "sslscan --no-colour 127.0.0.1:%s 2>&1",
			  T.plain->port);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc == 97)
		fail_msg("sslscan is not installed: `make deps` (scripts/deps.sh) installs it");
	if (rc != 0)
		fail_msg("sslscan exited %d:\n%s", rc, out);

	enum {
		NONE,
		PROTOCOLS,
		RENEGOTIATION,
		COMPRESSION,
		CIPHERS,
		GROUPS
	} section = NONE;
	int enabled12 = 0, enabled13 = 0, ciphers12 = 0, ciphers13 = 0, groups = 0;
	bool saw_protocols = false, saw_renegotiation = false, saw_compression = false;
	char problems[2048] = "";
	size_t used = 0;
	/* Every problem found, so that one run names them all. */
#define PROBLEM(...)                                                                       \
	do {                                                                               \
		if (used < sizeof(problems))                                               \
			used += (size_t)snprintf(problems + used, sizeof(problems) - used, \
						 __VA_ARGS__);                             \
	} while (0)
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		/* Section headers are indented by two spaces and end in ':'. */
		if (strncmp(line, "  ", 2) == 0 && line[strlen(line) - 1] == ':') {
			section = h_contains(line, "SSL/TLS Protocols")         ? PROTOCOLS
				  : h_contains(line, "TLS renegotiation")       ? RENEGOTIATION
				  : h_contains(line, "TLS Compression")         ? COMPRESSION
				  : h_contains(line, "Supported Server Cipher") ? CIPHERS
				  : h_contains(line, "Key Exchange Group")      ? GROUPS
										: NONE;
			continue;
		}
		char w[5][96] = { "" };
		int nw = sscanf(line, "%95s %95s %95s %95s %95s", w[0], w[1], w[2], w[3], w[4]);
		switch (section) {
		case PROTOCOLS:
			if (nw == 2 && strcmp(w[1], "enabled") == 0) {
				saw_protocols = true;
				if (strcmp(w[0], "TLSv1.2") == 0)
					enabled12++;
				else if (strcmp(w[0], "TLSv1.3") == 0)
					enabled13++;
				else
					PROBLEM("protocol %s is enabled; ", w[0]);
			} else if (nw == 2 && strcmp(w[1], "disabled") == 0) {
				saw_protocols = true;
			}
			break;
		case RENEGOTIATION:
			saw_renegotiation = true;
			if (h_contains(line, "Insecure"))
				PROBLEM("%s; ", line);
			print_message("sslscan renegotiation: %s\n", line);
			break;
		case COMPRESSION:
			saw_compression = true;
			/* "Compression disabled", or sslscan's OpenSSL cannot
			 * test it; "Compression enabled (CRIME)" is the failure. */
			if (h_contains(line, "enabled"))
				PROBLEM("%s; ", line);
			print_message("sslscan compression: %s\n", line);
			break;
		case CIPHERS:
			/* "Accepted  TLSv1.2  256 bits  NAME  Curve 25519 DHE 253" */
			if (nw == 5 &&
			    (strcmp(w[0], "Accepted") == 0 || strcmp(w[0], "Preferred") == 0)) {
				if (strcmp(w[1], "TLSv1.2") == 0) {
					ciphers12++;
					if (!IN_LIST(w[4], mozilla_intermediate_tls12))
						PROBLEM("TLS 1.2 cipher %s is not in the Mozilla "
							"intermediate list; ",
							w[4]);
				} else if (strcmp(w[1], "TLSv1.3") == 0) {
					ciphers13++;
					if (!IN_LIST(w[4], tls13_suites))
						PROBLEM("TLS 1.3 suite %s; ", w[4]);
				} else {
					PROBLEM("cipher %s accepted with %s; ", w[4], w[1]);
				}
			}
			break;
		case GROUPS:
			/* "TLSv1.3  128 bits  secp256r1 (NIST P-256)" */
			if (nw >= 4 && strncmp(w[0], "TLSv", 4) == 0) {
				groups++;
				if (!IN_LIST(w[3], allowed_groups))
					PROBLEM("key exchange group %s with %s; ", w[3], w[0]);
			}
			break;
		case NONE:
			if (h_contains(line, "heartbleed") && !h_contains(line, "not vulnerable"))
				PROBLEM("%s; ", line);
			break;
		}
	}
	print_message("sslscan: TLSv1.2 %s, TLSv1.3 %s, %d TLS 1.2 ciphers, %d TLS 1.3 suites, "
		      "%d group lines\n",
		      enabled12 ? "enabled" : "disabled", enabled13 ? "enabled" : "disabled",
		      ciphers12, ciphers13, groups);
	if (!saw_protocols || !saw_renegotiation || !saw_compression || groups == 0)
		fail_msg("sslscan's output has not the expected sections (protocols %d, "
			 "renegotiation %d, compression %d, groups %d)",
			 saw_protocols, saw_renegotiation, saw_compression, groups);
	if (enabled12 != 1 || enabled13 != 1)
		PROBLEM("TLSv1.2 and TLSv1.3 must both be enabled; ");
	if (ciphers12 == 0 || ciphers13 == 0)
		PROBLEM("no TLS 1.2 cipher or no TLS 1.3 suite accepted; ");
#undef PROBLEM
	if (problems[0] != '\0')
		fail_msg("sslscan found: %s", problems);
	assert_true(h_server_alive(T.plain));
	free(out);
	free(cmd);
}

static void test_no_early_data(void **state)
{
	/* A TLS 1.3 ticket that allows no early data. */
	h_tls_opts o = { 0 };
	o.min_version = o.max_version = TLS1_3_VERSION;
	char err[1024];
	h_tls *t = h_tls_open(T.plain->port, &o, err, sizeof(err));
	if (t == NULL)
		fail_msg("TLS 1.3 connection: %s", err);
	h_assert_code(h_tls_ping(t, 1), FAIRPAY__V1__CODE__OK);
	SSL_SESSION *sess = h_tls_session(t);
	h_tls_shutdown_close(t);
	uint32_t max_early = SSL_SESSION_get_max_early_data(sess);
	print_message("ticket max_early_data: %u\n", max_early);
	assert_int_equal(max_early, 0);

	/* A client that sends early data anyway (its copy of the ticket says
	 * it may): the Ping in it must not be served. */
	SSL_SESSION *forced = SSL_SESSION_dup(sess);
	assert_non_null(forced);
	assert_int_equal(SSL_SESSION_set_max_early_data(forced, 16384), 1);
	uint8_t frame[64];
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = 7;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	size_t n = fairpay__v1__request__pack(&req, frame + 4);
	frame[0] = frame[1] = frame[2] = 0;
	frame[3] = (uint8_t)n;
	o.session = forced;
	o.early_data = frame;
	o.early_len = 4 + n;
	t = h_tls_open(T.plain->port, &o, err, sizeof(err));
	if (t == NULL) {
		/* Refusing the connection refuses the early data too. */
		print_message("early data: handshake refused (%s)\n", err);
	} else {
		int status = SSL_get_early_data_status(h_tls_ssl(t));
		print_message("early data: status %s, session %s\n",
			      status == SSL_EARLY_DATA_ACCEPTED   ? "ACCEPTED"
			      : status == SSL_EARLY_DATA_REJECTED ? "REJECTED"
								  : "NOT_SENT",
			      SSL_session_reused(h_tls_ssl(t)) ? "resumed" : "new");
		assert_int_not_equal(status, SSL_EARLY_DATA_ACCEPTED);
		/* The first reply must be to a request sent after the handshake. */
		Fairpay__V1__PingRequest p2 = FAIRPAY__V1__PING_REQUEST__INIT;
		Fairpay__V1__Request r2 = FAIRPAY__V1__REQUEST__INIT;
		r2.id = 8;
		r2.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
		r2.ping = &p2;
		/* The server may also end the connection over data it did not
		 * ask for: the client's handshake is over before it knows. */
		uint8_t f2[64];
		size_t n2 = fairpay__v1__request__pack(&r2, f2 + 4);
		f2[0] = f2[1] = f2[2] = 0;
		f2[3] = (uint8_t)n2;
		if (SSL_write(h_tls_ssl(t), f2, (int)(4 + n2)) != (int)(4 + n2)) {
			print_message("early data: the server ended the connection\n");
		} else {
			Fairpay__V1__Response *resp = NULL;
			h_read r = h_tls_read(t, 5000, &resp);
			if (r == H_READ_FRAME) {
				uint64_t id = resp->id;
				fairpay__v1__response__free_unpacked(resp, NULL);
				if (id == 7)
					fail_msg("the Ping sent as early data was served");
				assert_int_equal(id, 8);
				print_message("early data: only the later Ping was served\n");
			} else {
				assert_int_not_equal(r, H_READ_TIMEOUT);
				print_message("early data: the server ended the connection\n");
			}
		}
		h_tls_close(t);
	}
	SSL_SESSION_free(forced);
	SSL_SESSION_free(sess);

	/* Nobody else noticed. */
	fp_client *c = h_connect(T.plain);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
}

/* Connect with TLS version v, save the session, reconnect with it. */
static void resume_once(const h_server *s, int v, const char *what)
{
	h_tls_opts o = { 0 };
	o.min_version = o.max_version = v;
	char err[1024];
	h_tls *t = h_tls_open(s->port, &o, err, sizeof(err));
	if (t == NULL)
		fail_msg("%s: %s", what, err);
	assert_int_equal(SSL_session_reused(h_tls_ssl(t)), 0);
	/* TLS 1.3 tickets arrive after the handshake: a reply read takes
	 * them in. */
	h_assert_code(h_tls_ping(t, 1), FAIRPAY__V1__CODE__OK);
	SSL_SESSION *sess = h_tls_session(t);
	assert_int_equal(SSL_SESSION_is_resumable(sess), 1);
	h_tls_shutdown_close(t);

	o.session = sess;
	t = h_tls_open(s->port, &o, err, sizeof(err));
	if (t == NULL)
		fail_msg("%s, resuming: %s", what, err);
	int reused = SSL_session_reused(h_tls_ssl(t));
	print_message("%s: second connection %s\n", what, reused ? "resumed" : "NOT resumed");
	assert_int_equal(reused, 1);
	h_assert_code(h_tls_ping(t, 2), FAIRPAY__V1__CODE__OK);
	h_tls_shutdown_close(t);
	SSL_SESSION_free(sess);
}

static void test_session_resumption(void **state)
{
	resume_once(T.plain, TLS1_3_VERSION, "TLS 1.3");
	resume_once(T.plain, TLS1_2_VERSION, "TLS 1.2");
	resume_once(T.mtls, TLS1_3_VERSION, "TLS 1.3 with --client-ca, no certificate");
}

/* ---------------------------------------------------------------- ECDHE only */

/* With an RSA certificate (the DHE-RSA suites' kind), a client that offers
 * only DHE suites gets no TLS 1.2 handshake; ECDHE-RSA works. */
static void test_dhe_only_client_refused(void **state)
{
	const char *tmp = h_tmp_dir();
	const char *certs = h_certs_dir();
	char *cmd = h_fmt(
		"set -e; cd %s; "
		"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key "
		"2>/dev/null; "
		"openssl req -new -key rsa.key -subj /CN=127.0.0.1 -out rsa.csr 2>/dev/null; "
		"printf 'subjectAltName=IP:127.0.0.1\n' > rsa.ext; "
		"openssl x509 -req -in rsa.csr -CA %s/ca.pem -CAkey %s/ca.key -CAcreateserial "
		"-days 2 -extfile rsa.ext -out rsa.pem 2>/dev/null",
		tmp, certs, certs);
	assert_int_equal(h_run(cmd, NULL), 0);
	free(cmd);
	char *cert = h_path(tmp, "rsa.pem");
	char *key = h_path(tmp, "rsa.key");
	h_server *s = h_server_start(T.db, "--cert", cert, "--key", key, NULL);
	const char *dhe = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
			  "DHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256";
	const char *ciphers[] = { dhe, "ECDHE-RSA-AES128-GCM-SHA256" };
	for (int i = 0; i < 2; i++) {
		cmd = h_fmt(
			"openssl s_client -connect 127.0.0.1:%s -tls1_2 -cipher '%s' "
			"-CAfile %s/ca.pem -verify_return_error -alpn fairpay/1 </dev/null 2>&1",
			s->port, ciphers[i], certs);
		char *out = NULL;
		int rc = h_run(cmd, &out);
		if (i == 0 && (rc == 0 || !h_contains(out, "Cipher is (NONE)")))
			fail_msg("a DHE-only client negotiated (exit %d):\n%s", rc, out);
		if (i == 1 &&
		    (rc != 0 || !h_contains(out, "Cipher is ECDHE-RSA-AES128-GCM-SHA256")))
			fail_msg("ECDHE-RSA failed (exit %d):\n%s", rc, out);
		free(out);
		free(cmd);
	}
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(cert);
	free(key);
}

/* ---------------------------------------------------------------- ticket key rotation */

/* Sleep until 150 ms into the next period of period_ms on the monotonic
 * clock (the server's periods start at multiples of it too). */
static void sleep_into_next_period(int64_t period_ms)
{
	int64_t now = h_now_ms();
	h_sleep_ms((int)(period_ms - now % period_ms + 150));
}

/* A new connection with version v and the session sess (NULL: none);
 * returns whether it resumed. *out (when not NULL) gets its session. */
static bool connect_resume(const char *port, int v, SSL_SESSION *sess, SSL_SESSION **out)
{
	h_tls_opts o = { 0 };
	o.min_version = o.max_version = v;
	o.session = sess;
	char err[1024];
	h_tls *t = h_tls_open(port, &o, err, sizeof(err));
	if (t == NULL)
		fail_msg("TLS %x: %s", v, err);
	bool reused = SSL_session_reused(h_tls_ssl(t)) == 1;
	/* TLS 1.3 tickets come after the handshake: a reply takes them in. */
	h_assert_code(h_tls_ping(t, 1), FAIRPAY__V1__CODE__OK);
	if (out != NULL)
		*out = h_tls_session(t);
	h_tls_shutdown_close(t);
	return reused;
}

/* A ticket resumes in the period it was issued in and the next one, and no
 * longer once its key is dropped, two rotations later. */
static void test_ticket_key_rotation(void **state)
{
	int64_t period_s = h_slow() ? 6 : 2;
	char *rotate = h_fmt("%lld", (long long)period_s);
	h_server *s = h_server_start(T.db, "--tls-ticket-rotate-s", rotate, NULL);
	const int versions[] = { TLS1_3_VERSION, TLS1_2_VERSION };
	SSL_SESSION *sess[2] = { NULL, NULL };
	sleep_into_next_period(period_s * 1000);
	for (int i = 0; i < 2; i++) {
		assert_false(connect_resume(s->port, versions[i], NULL, &sess[i]));
		assert_int_equal(SSL_SESSION_is_resumable(sess[i]), 1);
	}
	/* One rotation: the previous key still decrypts. */
	sleep_into_next_period(period_s * 1000);
	for (int i = 0; i < 2; i++)
		if (!connect_resume(s->port, versions[i], sess[i], NULL))
			fail_msg("TLS %x: a ticket of the previous key did not resume",
				 versions[i]);
	/* Two: its key is gone. */
	sleep_into_next_period(period_s * 1000);
	for (int i = 0; i < 2; i++)
		if (connect_resume(s->port, versions[i], sess[i], NULL))
			fail_msg("TLS %x: a ticket of a dropped key resumed", versions[i]);
	for (int i = 0; i < 2; i++)
		SSL_SESSION_free(sess[i]);
	char *log = h_server_log(s);
	assert_true(h_contains(log, "session ticket keys rotated"));
	free(log);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(rotate);
}

/* With --workers, every worker decrypts every worker's tickets: a client
 * resumes whichever worker its new connection reaches. */
static void test_ticket_keys_shared_by_workers(void **state)
{
	h_server *s = h_server_start(T.db, "--workers", "2", NULL);
	SSL_SESSION *sess = NULL;
	assert_false(connect_resume(s->port, TLS1_3_VERSION, NULL, &sess));
	int resumed = 0;
	for (int i = 0; i < 16; i++)
		resumed += connect_resume(s->port, TLS1_3_VERSION, sess, NULL);
	SSL_SESSION_free(sess);
	/* Each connection reaches a worker by the hash of its address and
	 * port: unshared keys would fail about half of them. */
	assert_int_equal(resumed, 16);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

/* ---------------------------------------------------------------- mutual TLS */

static void test_mtls_register_via_library(void **state)
{
	char *key_id = NULL, *api_key = NULL;
	new_vendor("mtls library", &key_id, &api_key);

	/* Valid but not registered: the connection is not authenticated. */
	fp_client *c = connect_cert("client");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fp_client_free(c);

	h_assert_code(h_register_cert(T.admin, key_id, T.fp_client), FAIRPAY__V1__CODE__OK);
	/* Registering the same fingerprint on the same key again is fine. */
	h_assert_code(h_register_cert(T.admin, key_id, T.fp_client), FAIRPAY__V1__CODE__OK);

	/* Authenticated at the handshake: a vendor call works at once, an
	 * admin call is a vendor's PERMISSION_DENIED. */
	c = connect_cert("client");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__PERMISSION_DENIED);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	assert_true(h_wait_log(T.mtls, "by client certificate", 1, 2000));

	/* Removed: back to unauthenticated, and the API key still works. */
	h_assert_code(h_register_cert(T.admin, key_id, ""), FAIRPAY__V1__CODE__OK);
	c = connect_cert("client");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_auth(c, api_key, NULL, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	free(key_id);
	free(api_key);
}

/* Run a command; returns the exit status, its stdout and stderr in *out. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		fail_msg("out of memory");
	va_end(ap);
	char *full = h_fmt("%s 2>&1", cmd);
	int rc = h_run(full, out);
	print_message("$ %s -> %d\n", cmd, rc);
	free(full);
	free(cmd);
	return rc;
}

static void test_mtls_register_via_ctl(void **state)
{
	char *key_id = NULL;
	new_vendor("mtls fairpayctl", &key_id, NULL);
	char *ctl = h_ctl();
	char *ca = h_shq(T.ca);
	char *pem = h_cert_path("client2.pem");
	char *qpem = h_shq(pem);
	char *remote =
		h_fmt("%s --server %s --ca %s --api-key %s", ctl, T.mtls->addr, ca, T.admin_key);
	char *out = NULL;

	/* CERT.pem: fairpayctl computes the fingerprint. */
	int rc = run(&out, "%s key register-cert %s %s", remote, key_id, qpem);
	if (rc != 0)
		fail_msg("exit status %d:\n%s", rc, out);
	char *want = h_fmt("key_id: %s\ncert_sha256: %s\n", key_id, T.fp_client2);
	if (strcmp(out, want) != 0)
		fail_msg("output:\n%s\nwant:\n%s", out, want);
	free(want);
	free(out);
	fp_client *c = connect_cert("client2");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);

	/* --fingerprint as openssl prints it, --json. */
	char upper[96] = "";
	for (int i = 0; i < 32; i++) {
		size_t l = strlen(upper);
		snprintf(upper + l, sizeof(upper) - l, "%s%c%c", i ? ":" : "",
			 toupper((unsigned char)T.fp_client2[2 * i]),
			 toupper((unsigned char)T.fp_client2[2 * i + 1]));
	}
	rc = run(&out, "%s --json key register-cert %s --fingerprint %s", remote, key_id, upper);
	if (rc != 0)
		fail_msg("exit status %d:\n%s", rc, out);
	want = h_fmt("{\"key_id\":\"%s\",\"cert_sha256\":\"%s\"}\n", key_id, T.fp_client2);
	if (strcmp(out, want) != 0)
		fail_msg("output:\n%s\nwant:\n%s", out, want);
	free(want);
	free(out);

	/* The same certificate on another key: the server refuses, exit 1. */
	rc = run(&out, "%s key register-cert %s %s", remote, T.admin_key_id, qpem);
	if (rc != 1 || !h_contains(out, "ALREADY_EXISTS"))
		fail_msg("exit status %d (want 1, ALREADY_EXISTS):\n%s", rc, out);
	free(out);
	/* An unknown key: exit 1, NOT_FOUND. */
	rc = run(&out, "%s key register-cert 0123456789abcdef %s", remote, qpem);
	if (rc != 1 || !h_contains(out, "NOT_FOUND"))
		fail_msg("exit status %d (want 1, NOT_FOUND):\n%s", rc, out);
	free(out);
	/* A file that is not a certificate (its key): exit 2, nothing sent. */
	char *keyfile = h_cert_path("client2.key");
	char *qkey = h_shq(keyfile);
	rc = run(&out, "%s key register-cert %s %s", remote, key_id, qkey);
	if (rc != 2 || !h_contains(out, "no PEM certificate"))
		fail_msg("exit status %d (want 2):\n%s", rc, out);
	free(out);

	/* Removing: --fingerprint ''. */
	rc = run(&out, "%s key register-cert %s --fingerprint ''", remote, key_id);
	if (rc != 0 || !h_contains(out, "cert_sha256: -"))
		fail_msg("exit status %d:\n%s", rc, out);
	free(out);
	c = connect_cert("client2");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fp_client_free(c);

	/* fairpayctl itself authenticated by a certificate on the ADMIN key. */
	rc = run(&out, "%s key register-cert %s %s", remote, T.admin_key_id, qpem);
	if (rc != 0)
		fail_msg("exit status %d:\n%s", rc, out);
	free(out);
	rc = run(&out, "%s --server %s --ca %s --cert %s --key %s vendor list --limit 1", ctl,
		 T.mtls->addr, ca, qpem, qkey);
	if (rc != 0 || !h_contains(out, "v_"))
		fail_msg("vendor list with the admin's certificate exited %d:\n%s", rc, out);
	free(out);
	h_assert_code(h_register_cert(T.admin, T.admin_key_id, ""), FAIRPAY__V1__CODE__OK);
	rc = run(&out, "%s --server %s --ca %s --cert %s --key %s vendor list --limit 1", ctl,
		 T.mtls->addr, ca, qpem, qkey);
	if (rc != 1 || !h_contains(out, "UNAUTHENTICATED"))
		fail_msg("vendor list with an unregistered certificate exited %d:\n%s", rc, out);
	free(out);

	free(qkey);
	free(keyfile);
	free(remote);
	free(qpem);
	free(pem);
	free(ca);
	free(ctl);
	free(key_id);
}

static void test_mtls_without_certificate(void **state)
{
	char *api_key = NULL;
	new_vendor("mtls no certificate", NULL, &api_key);
	fp_client *c = h_connect(T.mtls);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_auth(c, api_key, NULL, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	free(api_key);
}

/* A certificate the server must refuse at the handshake: the client sees a
 * failure (at connect, or for TLS 1.3 at its first read); returns its
 * message. */
static void expect_refused(const char *name, char *msg, size_t len)
{
	fp_client *c = NULL;
	if (h_try_connect_cert(T.mtls, name, &c, msg, len) == 0) {
		int code = h_ping(c);
		snprintf(msg, len, "%s", h_last_message());
		fp_client_free(c);
		if (code != H_NO_REPLY)
			fail_msg("a client presenting %s got Ping %s", name, h_code_name(code));
	}
	print_message("%s: refused: %s\n", name, msg);
}

static void test_mtls_untrusted_and_expired(void **state)
{
	int before = h_log_count(T.mtls, "TLS handshake with");
	char msg[512];
	expect_refused("client-other", msg, sizeof(msg));
	h_assert_code(h_ping(T.admin), FAIRPAY__V1__CODE__OK);
	expect_refused("client-expired", msg, sizeof(msg));
	h_assert_code(h_ping(T.admin), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(T.admin, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);

	/* Both appear in the log, each with its own reason. */
	if (!h_wait_log(T.mtls, "TLS handshake with", before + 2, 3000))
		fail_msg("no log line for the refused handshakes; log:\n%s", h_server_log(T.mtls));
	char *log = h_server_log(T.mtls);
	int expired = 0, unknown_ca = 0;
	for (char *p = strstr(log, "TLS handshake with"); p != NULL;
	     p = strstr(p + 1, "TLS handshake with")) {
		size_t n = strcspn(p, "\n");
		char *line = strndup(p, n);
		if (h_contains(line, "client certificate: certificate has expired"))
			expired++;
		if (h_contains(line, "client certificate: unable to get local issuer certificate"))
			unknown_ca++;
		print_message("log: %s\n", line);
		free(line);
	}
	free(log);
	assert_true(expired >= 1);
	assert_true(unknown_ca >= 1);

	/* Certificates that verify still work beside them. */
	fp_client *c = connect_cert("client2");
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
}

static void test_register_validation(void **state)
{
	char *k1 = NULL, *k2 = NULL, *vkey = NULL;
	new_vendor("validation one", &k1, &vkey);
	new_vendor("validation two", &k2, NULL);

	static const char *const bad_hex[] = {
		"abc",
		"zz662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa45",
		"02662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa4",
		"02662e1424fc9ae1288c8924331876159171eb63f547fc09c8d74c2fb2a3aa455",
	};
	for (size_t i = 0; i < sizeof(bad_hex) / sizeof(bad_hex[0]); i++) {
		h_assert_code(h_register_cert(T.admin, k1, bad_hex[i]),
			      FAIRPAY__V1__CODE__INVALID_ARGUMENT);
		h_assert_field("cert_sha256");
	}
	h_assert_code(h_register_cert(T.admin, "not-a-key", T.fp_client),
		      FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	h_assert_field("key_id");
	h_assert_code(h_register_cert(T.admin, "0123456789abcdef", T.fp_client),
		      FAIRPAY__V1__CODE__NOT_FOUND);

	h_assert_code(h_register_cert(T.admin, k1, T.fp_client), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_register_cert(T.admin, k2, T.fp_client), FAIRPAY__V1__CODE__ALREADY_EXISTS);
	/* The refusal changed nothing: the certificate is still k1's. */
	fp_client *c = connect_cert("client");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);

	/* Admin only. */
	fp_client *v = h_connect_auth(T.mtls, vkey);
	h_assert_code(h_register_cert(v, k1, T.fp_client2), FAIRPAY__V1__CODE__PERMISSION_DENIED);
	fp_client_free(v);
	fp_client *anon = h_connect(T.mtls);
	h_assert_code(h_register_cert(anon, k1, T.fp_client2), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fp_client_free(anon);

	/* Moving the certificate: remove from k1, then k2 may have it. */
	h_assert_code(h_register_cert(T.admin, k1, ""), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_register_cert(T.admin, k2, T.fp_client), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_register_cert(T.admin, k2, ""), FAIRPAY__V1__CODE__OK);
	free(k1);
	free(k2);
	free(vkey);
}

/* A resumed session keeps the identity its client certificate gave. */
static void resume_with_certificate(int v, const char *what)
{
	h_tls_opts o = { 0 };
	o.min_version = o.max_version = v;
	char *cert = h_cert_path("client.pem");
	char *key = h_cert_path("client.key");
	o.cert_file = cert;
	o.key_file = key;
	char err[1024];
	h_tls *t = h_tls_open(T.mtls->port, &o, err, sizeof(err));
	if (t == NULL)
		fail_msg("%s: %s", what, err);
	h_assert_code(h_tls_get_policy(t, 1), FAIRPAY__V1__CODE__OK);
	SSL_SESSION *sess = h_tls_session(t);
	h_tls_shutdown_close(t);

	/* The second connection presents no certificate at all. */
	h_tls_opts r = { 0 };
	r.min_version = r.max_version = v;
	r.session = sess;
	t = h_tls_open(T.mtls->port, &r, err, sizeof(err));
	if (t == NULL)
		fail_msg("%s, resuming: %s", what, err);
	int reused = SSL_session_reused(h_tls_ssl(t));
	int code = h_tls_get_policy(t, 2);
	print_message("%s: %s, GetPolicy without Authenticate: %s\n", what,
		      reused ? "resumed" : "NOT resumed", h_code_name(code));
	assert_int_equal(reused, 1);
	h_assert_code(code, FAIRPAY__V1__CODE__OK);
	h_tls_shutdown_close(t);

	/* Control: without the session nor a certificate, no identity. */
	t = h_tls_open(T.mtls->port, NULL, err, sizeof(err));
	if (t == NULL)
		fail_msg("%s: %s", what, err);
	h_assert_code(h_tls_get_policy(t, 3), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_tls_shutdown_close(t);
	SSL_SESSION_free(sess);
	free(key);
	free(cert);
}

static void test_mtls_session_resumption(void **state)
{
	char *key_id = NULL;
	new_vendor("mtls resumption", &key_id, NULL);
	h_assert_code(h_register_cert(T.admin, key_id, T.fp_client), FAIRPAY__V1__CODE__OK);
	resume_with_certificate(TLS1_3_VERSION, "TLS 1.3 with a client certificate");
	resume_with_certificate(TLS1_2_VERSION, "TLS 1.2 with a client certificate");
	h_assert_code(h_register_cert(T.admin, key_id, ""), FAIRPAY__V1__CODE__OK);
	free(key_id);
}

static void test_revoked_key_certificate_stops(void **state)
{
	char *key_id = NULL;
	new_vendor("mtls revoked", &key_id, NULL);
	h_assert_code(h_register_cert(T.admin, key_id, T.fp_client2), FAIRPAY__V1__CODE__OK);
	fp_client *c = connect_cert("client2");
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__OK);

	h_assert_code(h_revoke_api_key(T.admin, key_id), FAIRPAY__V1__CODE__OK);
	/* The open connection loses its identity ... */
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fp_client_free(c);
	/* ... and a new one presenting the certificate gets none. */
	c = connect_cert("client2");
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	h_assert_code(vendor_call(c), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	fp_client_free(c);
	/* Free the certificate for the tests that follow. */
	int code = h_register_cert(T.admin, key_id, "");
	print_message("removing the certificate of a revoked key: %s\n", h_code_name(code));
	if (code != FAIRPAY__V1__CODE__OK)
		h_sql(T.db, "UPDATE api_keys SET cert_sha256 = NULL WHERE revoked_at IS NOT NULL");
	free(key_id);
}

/* ---------------------------------------------------------------- SIGHUP */

static void test_sighup_reload(void **state)
{
	char *dir = h_path(h_tmp_dir(), "reload");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		fail_msg("mkdir %s", dir);
	char *cert = h_path(dir, "server.pem"), *key = h_path(dir, "server.key");
	char *cert1 = h_cert_path("server.pem"), *key1 = h_cert_path("server.key");
	char *cert2 = h_cert_path("server2.pem"), *key2 = h_cert_path("server2.key");
	copy_file(cert1, cert);
	copy_file(key1, key);
	char fp1[65], fp2[65], seen[65];
	h_cert_sha256(cert1, fp1);
	h_cert_sha256(cert2, fp2);
	assert_string_not_equal(fp1, fp2);

	/* The later --cert and --key win over the harness's. */
	h_server *s = h_server_start(T.db, "--cert", cert, "--key", key, "--client-ca", T.ca, NULL);
	server_cert_sha256(s->port, seen);
	assert_string_equal(seen, fp1);
	h_tls *old_raw = h_tls_connect(s->port);
	h_assert_code(h_tls_ping(old_raw, 1), FAIRPAY__V1__CODE__OK);
	fp_client *old = h_connect_auth(s, T.admin_key);

	/* New files, SIGHUP: new connections get the new certificate. */
	copy_file(cert2, cert);
	copy_file(key2, key);
	assert_int_equal(kill(s->pid, SIGHUP), 0);
	int64_t deadline = h_now_ms() + 5000;
	for (;;) {
		server_cert_sha256(s->port, seen);
		if (strcmp(seen, fp2) == 0)
			break;
		if (h_now_ms() > deadline)
			fail_msg("5 s after SIGHUP new connections still see the old certificate; "
				 "log:\n%s",
				 h_server_log(s));
		h_sleep_ms(50);
	}
	print_message("after SIGHUP new connections see server2.pem\n");
	/* Connections made before go on, with the certificate they had. */
	h_assert_code(h_tls_ping(old_raw, 2), FAIRPAY__V1__CODE__OK);
	h_tls_peer_sha256(old_raw, seen);
	assert_string_equal(seen, fp1);
	h_assert_code(h_ping(old), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(old, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	/* The reloaded context still verifies client certificates. */
	char *kid = NULL;
	h_must(h_create_vendor(old, "after reload", NULL, NULL, &kid), "CreateVendor");
	h_assert_code(h_register_cert(old, kid, T.fp_client2), FAIRPAY__V1__CODE__OK);
	fp_client *mc = NULL;
	char err[512];
	if (h_try_connect_cert(s, "client2", &mc, err, sizeof(err)) != 0)
		fail_msg("client certificate after reload: %s", err);
	h_assert_code(vendor_call(mc), FAIRPAY__V1__CODE__OK);
	fp_client_free(mc);
	h_assert_code(h_register_cert(old, kid, ""), FAIRPAY__V1__CODE__OK);

	/* A broken certificate file: the old context stays, an ERROR says so. */
	write_file(cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
			 "-----END CERTIFICATE-----\n");
	assert_int_equal(kill(s->pid, SIGHUP), 0);
	if (!h_wait_log(s, "reload failed", 1, 5000))
		fail_msg("no 'reload failed' in the log 5 s after a SIGHUP with a broken "
			 "certificate; log:\n%s",
			 h_server_log(s));
	assert_true(h_wait_log(s, "ERROR", 1, 100));
	server_cert_sha256(s->port, seen);
	assert_string_equal(seen, fp2);
	/* A certificate and a key that do not match fail the same way. */
	copy_file(cert1, cert);
	assert_int_equal(kill(s->pid, SIGHUP), 0);
	if (!h_wait_log(s, "reload failed", 2, 5000))
		fail_msg("no second 'reload failed' after a SIGHUP with server.pem and "
			 "server2.key; log:\n%s",
			 h_server_log(s));
	server_cert_sha256(s->port, seen);
	assert_string_equal(seen, fp2);
	h_assert_code(h_ping(old), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_tls_ping(old_raw, 3), FAIRPAY__V1__CODE__OK);

	/* Good files again: back to the first certificate. */
	copy_file(key1, key);
	assert_int_equal(kill(s->pid, SIGHUP), 0);
	deadline = h_now_ms() + 5000;
	for (;;) {
		server_cert_sha256(s->port, seen);
		if (strcmp(seen, fp1) == 0)
			break;
		if (h_now_ms() > deadline)
			fail_msg("the good files were not loaded after a failed reload");
		h_sleep_ms(50);
	}
	char *log = h_server_log(s);
	for (char *p = strstr(log, "SIGHUP"); p != NULL; p = strstr(p + 1, "SIGHUP")) {
		while (p > log && p[-1] != '\n')
			p--;
		size_t n = strcspn(p, "\n");
		print_message("log: %.*s\n", (int)n, p);
		p += n;
	}
	free(log);

	h_tls_shutdown_close(old_raw);
	fp_client_free(old);
	assert_true(h_server_alive(s));
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
	free(kid);
	free(key2);
	free(cert2);
	free(key1);
	free(cert1);
	free(key);
	free(cert);
	free(dir);
}

/* ---------------------------------------------------------------- no close_notify */

typedef struct worker {
	h_rclient rc;
	int calls;
	int failures;
	char first_error[640];
} worker;

static void *worker_run(void *arg)
{
	worker *w = arg;
	for (int i = 0; i < N_WORKER_CALLS; i++) {
		Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
		Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		if (i % 2) {
			req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
			req.ping = &ping;
		} else {
			lv.limit = 5;
			req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
			req.list_vendors = &lv;
		}
		int code = h_rc_call(&w->rc, &req, NULL);
		w->calls++;
		if (code != FAIRPAY__V1__CODE__OK) {
			if (w->failures++ == 0)
				snprintf(w->first_error, sizeof(w->first_error), "call %d: %s: %s",
					 i, h_code_name(code), w->rc.err);
		}
	}
	return NULL;
}

/* One client that vanishes: what it has done before depends on i. */
static void vanish(const h_server *s, int i)
{
	if (i % 10 == 9) {
		/* In the middle of the handshake. */
		int fd = h_tcp_connect(s->port);
		static const unsigned char part[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
		if (write(fd, part, sizeof(part)) < 0)
			fail_msg("write failed");
		close(fd);
		return;
	}
	h_tls *t = h_tls_connect(s->port);
	if (i % 5 != 0)
		h_assert_code(h_tls_auth(t, 1, T.admin_key), FAIRPAY__V1__CODE__OK);
	/* Requests whose replies it never reads. */
	for (int k = 0; k < (i % 4) * 3; k++) {
		Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = (uint64_t)(10 + k);
		req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
		req.list_vendors = &lv;
		h_tls_write_request(t, &req);
	}
	if (i % 3 == 0)
		h_tls_write(t, "\x00\x00\x01", 3); /* half a frame header */
	if (i % 2) {
		/* A reset rather than a FIN. */
		struct linger lg = { 1, 0 };
		setsockopt(h_tls_fd(t), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	/* No SSL_shutdown: no close_notify. */
	h_tls_close(t);
}

static void test_abrupt_closes(void **state)
{
	h_server *s = h_server_start(T.db, NULL);
	static worker w[N_WORKERS];
	pthread_t th[N_WORKERS];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < N_WORKERS; i++)
		h_rc_init(&w[i].rc, s->port, T.admin_key);
	for (int i = 0; i < N_WORKERS; i++)
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0)
			fail_msg("pthread_create failed");
	for (int i = 0; i < N_ABRUPT; i++)
		vanish(s, i);
	int calls = 0, failures = 0, reconnects = 0;
	for (int i = 0; i < N_WORKERS; i++) {
		pthread_join(th[i], NULL);
		calls += w[i].calls;
		failures += w[i].failures;
		reconnects += w[i].rc.connects - 1;
		if (w[i].failures > 0)
			print_message("worker %d: %s\n", i, w[i].first_error);
		h_rc_close(&w[i].rc);
	}
	print_message("%d abrupt closes beside %d requests: %d failed, %d reconnects\n", N_ABRUPT,
		      calls, failures, reconnects);
	assert_int_equal(calls, N_WORKERS * N_WORKER_CALLS);
	assert_int_equal(failures, 0);
	assert_int_equal(reconnects, 0);

	/* The server is fine and said nothing alarming. */
	fp_client *c = h_connect_auth(s, T.admin_key);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	h_sleep_ms(300);
	char *log = h_server_log(s);
	const char *err = strstr(log, " ERROR ");
	if (err != NULL) {
		while (err > log && err[-1] != '\n')
			err--;
		fail_msg("the server logged an ERROR: %.*s", (int)strcspn(err, "\n"), err);
	}
	free(log);
	assert_int_equal(h_server_stop(s, SIGTERM), 0);
	h_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sslscan_profile),
		cmocka_unit_test(test_no_early_data),
		cmocka_unit_test(test_session_resumption),
		cmocka_unit_test(test_dhe_only_client_refused),
		cmocka_unit_test(test_ticket_key_rotation),
		cmocka_unit_test(test_ticket_keys_shared_by_workers),
		cmocka_unit_test(test_mtls_register_via_library),
		cmocka_unit_test(test_mtls_register_via_ctl),
		cmocka_unit_test(test_mtls_without_certificate),
		cmocka_unit_test(test_mtls_untrusted_and_expired),
		cmocka_unit_test(test_register_validation),
		cmocka_unit_test(test_mtls_session_resumption),
		cmocka_unit_test(test_revoked_key_certificate_stops),
		cmocka_unit_test(test_sighup_reload),
		cmocka_unit_test(test_abrupt_closes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
