/* Unit tests of the server's TLS context: the TLS 1.2 suites it offers are
 * ECDHE only (no DHE: the server loads no DH parameters) and the context
 * builds with the rotating ticket keys in place. Uses the test certificates
 * of $FP_CERTS. */
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

#include <openssl/obj_mac.h>
#include <openssl/ssl.h>

#include "config.h"
#include "tls.h"

static SSL_CTX *new_ctx(fp_config *cfg)
{
	const char *certs = getenv("FP_CERTS");
	if (certs == NULL)
		fail_msg("FP_CERTS is not set (scripts/run-tests.sh sets it)");
	char path[1024];
	cfg_defaults(cfg);
	snprintf(path, sizeof(path), "%s/server.pem", certs);
	cfg->cert_file = strdup(path);
	snprintf(path, sizeof(path), "%s/server.key", certs);
	cfg->key_file = strdup(path);
	char err[512];
	SSL_CTX *ctx = tls_ctx_new(cfg, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("tls_ctx_new: %s", err);
	return ctx;
}

static void test_tls12_suites_are_ecdhe(void **state)
{
	fp_config cfg;
	SSL_CTX *ctx = new_ctx(&cfg);
	STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
	int tls12 = 0, tls13 = 0;
	for (int i = 0; i < sk_SSL_CIPHER_num(list); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(list, i);
		int kx = SSL_CIPHER_get_kx_nid(c);
		if (kx == NID_kx_any) {
			tls13++; /* TLS 1.3: the key exchange is not the suite's */
			continue;
		}
		tls12++;
		if (kx != NID_kx_ecdhe)
			fail_msg("TLS 1.2 suite %s is not ECDHE", SSL_CIPHER_get_name(c));
	}
	assert_int_equal(tls12, 6);
	assert_true(tls13 >= 3);
	tls_ctx_free(ctx);
	cfg_free(&cfg);
}

static void test_ctx_with_ticket_keys(void **state)
{
	assert_int_equal(tls_tickets_init(60), 0);
	fp_config cfg;
	SSL_CTX *ctx = new_ctx(&cfg);
	/* A ticket lives two periods at most. */
	assert_int_equal(SSL_CTX_get_timeout(ctx), 120);
	assert_int_equal(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET, 0);
	tls_ctx_free(ctx);
	cfg_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls12_suites_are_ecdhe),
		cmocka_unit_test(test_ctx_with_ticket_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
