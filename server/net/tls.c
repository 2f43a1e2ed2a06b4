/* The server's TLS context (see tls.h). */
#include "tls.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "clock.h"
#include "log.h"

/* Mozilla's "intermediate" TLS 1.2 cipher list, ECDHE only: the DHE suites
 * would need DH parameters, which the server does not load. TLS 1.3 suites
 * are OpenSSL's defaults, which match that profile. */
static const char cipher_list[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* ------------------------------------------------------------ ticket keys */

/* The session ticket keys: the current one, which encrypts new tickets, and
 * the one before it, which still decrypts. Each key serves one period of
 * --tls-ticket-rotate-s on the monotonic clock (shared by every process of
 * the machine), so a ticket resumes for one to two periods. The ring lives
 * in memory shared with the worker processes (mapped before they are
 * forked): every worker encrypts and decrypts with the same keys, and a
 * client that reconnects to another worker of the port still resumes. The
 * first process to see a new period draws its key (RAND_bytes); a seqlock
 * lets the others copy the keys without a lock. Keys never leave this
 * memory: nothing logs them. */
#define TICKET_NAME_LEN 16
#define TICKET_AES_LEN 32
#define TICKET_HMAC_LEN 32
#define TICKET_KEYS 2 /* the current key and the previous one */
#define TICKET_READ_TRIES 1000

typedef struct ticket_key {
	unsigned char name[TICKET_NAME_LEN];
	unsigned char aes[TICKET_AES_LEN];
	unsigned char hmac[TICKET_HMAC_LEN];
	int64_t period; /* -1: no key */
} ticket_key;

typedef struct ticket_ring {
	_Atomic uint64_t seq;   /* odd while a process writes the keys */
	_Atomic int64_t period; /* the period of keys[0], claimed before it is written */
	int64_t rotate_ms;
	ticket_key keys[TICKET_KEYS];
} ticket_ring;

static ticket_ring *ticket_keys; /* NULL: OpenSSL's own keys */

int tls_tickets_init(int64_t rotate_s)
{
	if (ticket_keys != NULL)
		return 0;
	void *mem = mmap(NULL, sizeof(ticket_ring), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	/* Not in core dumps. */
	(void)madvise(mem, sizeof(ticket_ring), MADV_DONTDUMP);
	ticket_ring *r = mem;
	atomic_init(&r->seq, 0);
	atomic_init(&r->period, -1);
	r->rotate_ms = rotate_s * 1000;
	for (int i = 0; i < TICKET_KEYS; i++)
		r->keys[i].period = -1;
	ticket_keys = r;
	return 0;
}

/* Draw the key of period now when no process did yet. */
static void tickets_rotate(ticket_ring *r, int64_t now)
{
	int64_t seen = atomic_load(&r->period);
	if (seen == now || !atomic_compare_exchange_strong(&r->period, &seen, now))
		return; /* current, or another process is drawing it */
	ticket_key fresh;
	fresh.period = now;
	if (RAND_bytes(fresh.name, sizeof(fresh.name)) != 1 ||
	    RAND_bytes(fresh.aes, sizeof(fresh.aes)) != 1 ||
	    RAND_bytes(fresh.hmac, sizeof(fresh.hmac)) != 1) {
		/* No key for this period: tickets wait for the next one. */
		OPENSSL_cleanse(&fresh, sizeof(fresh));
		log_error(0, "TLS: no random bytes for a session ticket key");
		fresh.period = -1;
	}
	atomic_fetch_add(&r->seq, 1);
	atomic_thread_fence(memory_order_seq_cst);
	/* The current key decrypts one more period, unless periods went by
	 * without a key being drawn. */
	if (r->keys[0].period == now - 1) {
		r->keys[1] = r->keys[0];
	} else {
		OPENSSL_cleanse(&r->keys[1], sizeof(r->keys[1]));
		r->keys[1].period = -1;
	}
	r->keys[0] = fresh;
	atomic_thread_fence(memory_order_seq_cst);
	atomic_fetch_add(&r->seq, 1);
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	log_info(0, "TLS: session ticket keys rotated");
}

/* Copy the keys still valid at period now; false when none could be read. */
static bool tickets_read(ticket_ring *r, int64_t now, ticket_key out[TICKET_KEYS])
{
	for (int tries = 0; tries < TICKET_READ_TRIES; tries++) {
		uint64_t before = atomic_load(&r->seq);
		if (before & 1)
			continue;
		atomic_thread_fence(memory_order_seq_cst);
		memcpy(out, r->keys, sizeof(r->keys));
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&r->seq) != before)
			continue;
		for (int i = 0; i < TICKET_KEYS; i++)
			if (out[i].period != now && out[i].period != now - 1)
				out[i].period = -1;
		return true;
	}
	return false;
}

static int ticket_key_use(const ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *ctx,
			  EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						  sizeof(k->hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	int ok = enc ? EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes, iv)
		     : EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes, iv);
	return ok == 1 ? 0 : -1;
}

/* OpenSSL's ticket callback: 1 done, 2 (decrypting) done but issue a new
 * ticket under the current key, 0 no ticket (encrypting) or a full
 * handshake (decrypting), -1 error. */
static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
		     EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc)
{
	ticket_ring *r = ticket_keys;
	int64_t now = clock_mono_ms() / r->rotate_ms;
	tickets_rotate(r, now);
	ticket_key keys[TICKET_KEYS];
	int rc = 0;
	if (!tickets_read(r, now, keys))
		goto done;
	if (enc) {
		const ticket_key *k = &keys[0];
		if (k->period != now)
			goto done; /* no key for this period */
		int ivlen = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
		if (RAND_bytes(iv, ivlen) != 1) {
			rc = -1;
			goto done;
		}
		memcpy(key_name, k->name, TICKET_NAME_LEN);
		rc = ticket_key_use(k, iv, ctx, hctx, 1) == 0 ? 1 : -1;
		goto done;
	}
	for (int i = 0; i < TICKET_KEYS; i++) {
		const ticket_key *k = &keys[i];
		if (k->period < 0 || CRYPTO_memcmp(key_name, k->name, TICKET_NAME_LEN) != 0)
			continue;
		if (ticket_key_use(k, iv, ctx, hctx, 0) != 0) {
			rc = -1;
			goto done;
		}
		rc = k->period == now ? 1 : 2;
		goto done;
	}
	/* An unknown or dropped key: a full handshake. */
done:
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

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
	/* Resumption by tickets stays on, under keys that rotate (see
	 * above); early data (0-RTT) is replayable and stays off. */
	if (ticket_keys != NULL) {
		if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1)
			goto fail;
		/* A ticket lives at most two periods: its key's and the next. */
		SSL_CTX_set_timeout(ctx, (long)(2 * ticket_keys->rotate_ms / 1000));
	}
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
