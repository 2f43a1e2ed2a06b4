/* API key parsing, generation and hashing (see key.h). */
#include "key.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int key_parse(const char *text, size_t len, key_parts *out)
{
	if (text == NULL || len != KEY_TEXT_LEN)
		return -1;
	if (memcmp(text, "fp_", 3) != 0 || text[3 + KEY_ID_LEN] != '_')
		return -1;
	const char *id = text + 3;
	const char *secret = id + KEY_ID_LEN + 1;
	if (!is_lower_hex(id, KEY_ID_LEN) || !is_lower_hex(secret, KEY_SECRET_LEN))
		return -1;
	memcpy(out->id, id, KEY_ID_LEN);
	out->id[KEY_ID_LEN] = '\0';
	memcpy(out->secret, secret, KEY_SECRET_LEN);
	out->secret[KEY_SECRET_LEN] = '\0';
	return 0;
}

int key_random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		return -1;
	to_hex(raw, nbytes, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int key_generate(key_parts *out, char *text, size_t text_size)
{
	if (text_size < KEY_TEXT_LEN + 1)
		return -1;
	if (key_random_hex(out->id, KEY_ID_LEN / 2) != 0 ||
	    key_random_hex(out->secret, KEY_SECRET_LEN / 2) != 0)
		return -1;
	memcpy(text, "fp_", 3);
	memcpy(text + 3, out->id, KEY_ID_LEN);
	text[3 + KEY_ID_LEN] = '_';
	memcpy(text + 4 + KEY_ID_LEN, out->secret, KEY_SECRET_LEN + 1);
	return 0;
}

void key_hash(const key_parts *key, char out[KEY_HASH_LEN + 1])
{
	/* The id is part of the hashed text so that a hash cannot be moved to
	 * another key row. */
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, "fairpay-key-v1:", 15) != 1 ||
	    EVP_DigestUpdate(ctx, key->id, KEY_ID_LEN) != 1 || EVP_DigestUpdate(ctx, ":", 1) != 1 ||
	    EVP_DigestUpdate(ctx, key->secret, KEY_SECRET_LEN) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != sizeof(md)) {
		/* Only reachable when OpenSSL itself is broken: a hash that can
		 * never match keeps every key locked out rather than open. */
		memset(out, 'x', KEY_HASH_LEN);
		out[KEY_HASH_LEN] = '\0';
	} else {
		to_hex(md, sizeof(md), out);
	}
	EVP_MD_CTX_free(ctx);
}

bool key_matches(const key_parts *key, const char *stored_hash)
{
	char computed[KEY_HASH_LEN + 1];
	if (stored_hash == NULL || strlen(stored_hash) != KEY_HASH_LEN)
		return false;
	key_hash(key, computed);
	return CRYPTO_memcmp(computed, stored_hash, KEY_HASH_LEN) == 0;
}
