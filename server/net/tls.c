/* The server's TLS context (see tls.h). */
#include "tls.h"

#include <string.h>

#include <openssl/err.h>

/* Mozilla's "intermediate" TLS 1.2 cipher list; TLS 1.3 suites are OpenSSL's
 * defaults, which match that profile. */
static const char cipher_list[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

void tls_drain_errors(char *buf, size_t len)
{
	unsigned long e;
	size_t used = 0;
	if (len > 0)
		buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (used + 2 < len) {
			if (used > 0)
				buf[used++] = ';', buf[used] = '\0';
			ERR_error_string_n(e, buf + used, len - used);
			used = strlen(buf);
		}
	}
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x09" TLS_ALPN;
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tls_ctx_new(const fp_config *cfg, char *err, size_t errlen)
{
	char ossl[512];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Partial writes and moving buffers are what bufferevent_openssl
	 * expects. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, cipher_list) != 1)
		goto fail;
	if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
		tls_drain_errors(ossl, sizeof(ossl));
		snprintf(err, errlen, "cannot load certificate %s: %s", cfg->cert_file, ossl);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_drain_errors(ossl, sizeof(ossl));
		snprintf(err, errlen, "cannot load private key %s: %s", cfg->key_file, ossl);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cfg->client_ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) != 1) {
			tls_drain_errors(ossl, sizeof(ossl));
			snprintf(err, errlen, "cannot load client CA %s: %s", cfg->client_ca_file,
				 ossl);
			SSL_CTX_free(ctx);
			return NULL;
		}
		/* A certificate is optional: without one the client
		 * authenticates with an API key. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	/* Resumption by tickets (OpenSSL's default) stays on; early data
	 * (0-RTT) is replayable and stays off. */
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_recv_max_early_data(ctx, 0);
	/* A resumed session must carry its client certificate: that needs a
	 * session id context once peers are verified. */
	static const unsigned char sid_ctx[] = "fairpay/1";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	return ctx;
fail:
	tls_drain_errors(ossl, sizeof(ossl));
	snprintf(err, errlen, "cannot set up TLS: %s", ossl);
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
