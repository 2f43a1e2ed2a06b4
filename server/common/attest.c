/* Signing, verifying, sealing and encoding attestations (see attest.h). */
#include "attest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "text.h"

/* The bytes signed: the context, one zero byte, the claims. */
static uint8_t *signed_message(const uint8_t *claims, size_t len, size_t *out_len)
{
	size_t ctx_len = sizeof(ATTEST_CONTEXT); /* with its NUL: the zero byte */
	uint8_t *m = malloc(ctx_len + len + 1);
	if (m == NULL)
		return NULL;
	memcpy(m, ATTEST_CONTEXT, ctx_len);
	if (len > 0)
		memcpy(m + ctx_len, claims, len);
	*out_len = ctx_len + len;
	return m;
}

int attest_keygen(uint8_t pub[ATTEST_KEY_BYTES], uint8_t priv[ATTEST_KEY_BYTES])
{
	int rc = -1;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	size_t pub_len = ATTEST_KEY_BYTES, priv_len = ATTEST_KEY_BYTES;
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &key) != 1)
		goto done;
	if (EVP_PKEY_get_raw_public_key(key, pub, &pub_len) != 1 || pub_len != ATTEST_KEY_BYTES ||
	    EVP_PKEY_get_raw_private_key(key, priv, &priv_len) != 1 || priv_len != ATTEST_KEY_BYTES)
		goto done;
	rc = 0;
done:
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int attest_sign(const uint8_t priv[ATTEST_KEY_BYTES], const uint8_t *claims, size_t len,
		uint8_t sig[ATTEST_SIG_BYTES])
{
	int rc = -1;
	size_t m_len = 0, sig_len = ATTEST_SIG_BYTES;
	uint8_t *m = signed_message(claims, len, &m_len);
	EVP_PKEY *key =
		EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, ATTEST_KEY_BYTES);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	/* Ed25519 hashes internally: no digest, one shot. */
	if (m == NULL || key == NULL || md == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, m, m_len) != 1 || sig_len != ATTEST_SIG_BYTES)
		goto done;
	rc = 0;
done:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	free(m);
	return rc;
}

bool attest_verify(const uint8_t pub[ATTEST_KEY_BYTES], const uint8_t *claims, size_t len,
		   const uint8_t *sig, size_t sig_len)
{
	bool ok = false;
	size_t m_len = 0;
	uint8_t *m = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	if (sig_len != ATTEST_SIG_BYTES)
		goto done;
	m = signed_message(claims, len, &m_len);
	key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, ATTEST_KEY_BYTES);
	md = EVP_MD_CTX_new();
	if (m == NULL || key == NULL || md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) != 1)
		goto done;
	ok = EVP_DigestVerify(md, sig, sig_len, m, m_len) == 1;
done:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	free(m);
	return ok;
}

/* The associated data binding a sealed key to its owner and id. */
static int aad_of(const char *vendor_id, const char *key_id, char *out, size_t size)
{
	int n = snprintf(out, size, "fairpay-attestation-key-v1:%s:%s", vendor_id, key_id);
	return n > 0 && (size_t)n < size ? n : -1;
}

int attest_seal(const uint8_t kek[ATTEST_KEK_BYTES], const char *vendor_id, const char *key_id,
		const uint8_t priv[ATTEST_KEY_BYTES], uint8_t out[ATTEST_SEALED_BYTES])
{
	int rc = -1, len = 0;
	char aad[256];
	int aad_len = aad_of(vendor_id, key_id, aad, sizeof(aad));
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t *nonce = out, *ct = out + ATTEST_NONCE_BYTES,
		*tag = out + ATTEST_NONCE_BYTES + ATTEST_KEY_BYTES;
	if (ctx == NULL || aad_len < 0 || RAND_bytes(nonce, ATTEST_NONCE_BYTES) != 1)
		goto done;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *)aad, aad_len) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &len, priv, ATTEST_KEY_BYTES) != 1 ||
	    len != ATTEST_KEY_BYTES || EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ATTEST_TAG_BYTES, tag) != 1)
		goto done;
	rc = 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int attest_open(const uint8_t kek[ATTEST_KEK_BYTES], const char *vendor_id, const char *key_id,
		const uint8_t *sealed, size_t sealed_len, uint8_t priv[ATTEST_KEY_BYTES])
{
	int rc = -1, len = 0;
	char aad[256];
	int aad_len = aad_of(vendor_id, key_id, aad, sizeof(aad));
	uint8_t plain[ATTEST_KEY_BYTES + 16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || aad_len < 0 || sealed_len != ATTEST_SEALED_BYTES)
		goto done;
	const uint8_t *nonce = sealed, *ct = sealed + ATTEST_NONCE_BYTES,
		      *tag = sealed + ATTEST_NONCE_BYTES + ATTEST_KEY_BYTES;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, kek, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)aad, aad_len) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &len, ct, ATTEST_KEY_BYTES) != 1 ||
	    len != ATTEST_KEY_BYTES ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ATTEST_TAG_BYTES, (void *)tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + len, &len) != 1)
		goto done;
	memcpy(priv, plain, ATTEST_KEY_BYTES);
	rc = 0;
done:
	OPENSSL_cleanse(plain, sizeof(plain));
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int attest_kek_load(const char *path, uint8_t kek[ATTEST_KEK_BYTES], char *err, size_t errlen)
{
	int rc = -1;
	char buf[256];
	size_t n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s", path);
		goto done;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	char *p = buf;
	while (*p && isspace((unsigned char)*p))
		p++;
	char *end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if ((size_t)(end - p) != 2 * ATTEST_KEK_BYTES ||
	    attest_unhex(p, kek, ATTEST_KEK_BYTES) != 0) {
		snprintf(err, errlen, "%s must hold 64 hex digits (e.g. openssl rand -hex 32)",
			 path);
		goto done;
	}
	rc = 0;
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (f != NULL)
		fclose(f);
	return rc;
}

int attest_decode(const uint8_t *buf, size_t len, attest_parts *out)
{
	memset(out, 0, sizeof(*out));
	out->signed_att = fairpay__v1__signed_attestation__unpack(NULL, len, buf);
	if (out->signed_att == NULL || out->signed_att->claims.len == 0)
		goto fail;
	out->claims = fairpay__v1__attestation_claims__unpack(NULL, out->signed_att->claims.len,
							      out->signed_att->claims.data);
	const Fairpay__V1__AttestationClaims *c = out->claims;
	if (c == NULL || c->key_id[0] == '\0')
		goto fail;
	/* protobuf-c does not check that strings are UTF-8; the claims go
	 * back out in replies and into SQL, where they must be. */
	const char *strings[] = { c->issuer_vendor_id, c->issuer_name, c->key_id, c->subject };
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (!text_valid_utf8(strings[i], strlen(strings[i])))
			goto fail;
	return 0;
fail:
	attest_parts_free(out);
	return -1;
}

void attest_parts_free(attest_parts *p)
{
	if (p == NULL)
		return;
	if (p->claims != NULL)
		fairpay__v1__attestation_claims__free_unpacked(p->claims, NULL);
	if (p->signed_att != NULL)
		fairpay__v1__signed_attestation__free_unpacked(p->signed_att, NULL);
	p->claims = NULL;
	p->signed_att = NULL;
}

bool attest_parts_verify(const attest_parts *p, const uint8_t pub[ATTEST_KEY_BYTES])
{
	const Fairpay__V1__SignedAttestation *s = p->signed_att;
	return attest_verify(pub, s->claims.data, s->claims.len, s->signature.data,
			     s->signature.len);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t attest_b64url_len(size_t len)
{
	return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

void attest_b64url_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		size_t chars = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
		for (size_t k = 0; k < chars; k++)
			out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
	}
	out[o] = '\0';
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;
	return p ? (int)(p - b64url) : -1;
}

int attest_b64url_decode(const char *in, uint8_t *out, size_t cap, size_t *out_len)
{
	while (*in && isspace((unsigned char)*in))
		in++;
	size_t n = strcspn(in, "= \t\r\n");
	const char *rest = in + n;
	while (*rest == '=')
		rest++;
	while (*rest && isspace((unsigned char)*rest))
		rest++;
	if (*rest != '\0' || n % 4 == 1)
		return -1;
	size_t want = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (want > cap)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*out_len = o;
	return 0;
}

void attest_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int attest_unhex(const char *in, uint8_t *out, size_t len)
{
	if (strlen(in) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
