/* Unit tests of the attestation module (attest.h): Ed25519 signatures over
 * exactly the bytes PROTOCOL.md names, the sealing of private keys (bound to
 * vendor and key id), the key file, base64url (RFC 4648 vectors), hex and
 * the decoding of SignedAttestation. */
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
#include <unistd.h>

#include <openssl/evp.h>

#include "attest.h"

static const uint8_t claims[] = "\x0a\x12v_0123456789abcdef\x22\x03"
				"a@b";

/* Sign msg with priv directly with OpenSSL, to check what attest_sign()
 * covers. */
static void raw_sign(const uint8_t *priv, const uint8_t *msg, size_t len, uint8_t *sig)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, ATTEST_KEY_BYTES);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t sig_len = ATTEST_SIG_BYTES;
	assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &sig_len, msg, len), 1);
	assert_int_equal(sig_len, ATTEST_SIG_BYTES);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
}

static void test_sign_verify(void **state)
{
	uint8_t pub[ATTEST_KEY_BYTES], priv[ATTEST_KEY_BYTES], pub2[ATTEST_KEY_BYTES],
		priv2[ATTEST_KEY_BYTES];
	uint8_t sig[ATTEST_SIG_BYTES], sig2[ATTEST_SIG_BYTES];
	size_t len = sizeof(claims) - 1;
	assert_int_equal(attest_keygen(pub, priv), 0);
	assert_int_equal(attest_keygen(pub2, priv2), 0);
	assert_memory_not_equal(pub, pub2, sizeof(pub));
	assert_int_equal(attest_sign(priv, claims, len, sig), 0);
	assert_true(attest_verify(pub, claims, len, sig, sizeof(sig)));
	/* Ed25519 is deterministic. */
	assert_int_equal(attest_sign(priv, claims, len, sig2), 0);
	assert_memory_equal(sig, sig2, sizeof(sig));
	/* Another key, another message, a flipped bit, a short signature. */
	assert_false(attest_verify(pub2, claims, len, sig, sizeof(sig)));
	assert_false(attest_verify(pub, claims, len - 1, sig, sizeof(sig)));
	sig2[10] ^= 0x40;
	assert_false(attest_verify(pub, claims, len, sig2, sizeof(sig2)));
	assert_false(attest_verify(pub, claims, len, sig, sizeof(sig) - 1));

	/* What is signed is "fairpay-attestation-v1", a zero byte, the claims. */
	uint8_t msg[64];
	memcpy(msg, "fairpay-attestation-v1", 22);
	msg[22] = 0;
	memcpy(msg + 23, claims, len);
	raw_sign(priv, msg, 23 + len, sig2);
	assert_memory_equal(sig, sig2, sizeof(sig));
	/* The claims alone, or without the zero byte, are not it. */
	raw_sign(priv, claims, len, sig2);
	assert_false(attest_verify(pub, claims, len, sig2, sizeof(sig2)));
	memmove(msg + 22, msg + 23, len);
	raw_sign(priv, msg, 22 + len, sig2);
	assert_false(attest_verify(pub, claims, len, sig2, sizeof(sig2)));
}

static void test_seal_open(void **state)
{
	uint8_t kek[ATTEST_KEK_BYTES], kek2[ATTEST_KEK_BYTES];
	uint8_t pub[ATTEST_KEY_BYTES], priv[ATTEST_KEY_BYTES], back[ATTEST_KEY_BYTES];
	uint8_t sealed[ATTEST_SEALED_BYTES], sealed2[ATTEST_SEALED_BYTES];
	memset(kek, 7, sizeof(kek));
	memset(kek2, 8, sizeof(kek2));
	assert_int_equal(attest_keygen(pub, priv), 0);
	assert_int_equal(attest_seal(kek, "v_1", "ak_1", priv, sealed), 0);
	assert_null(memmem(sealed, sizeof(sealed), priv, sizeof(priv)));
	assert_int_equal(attest_open(kek, "v_1", "ak_1", sealed, sizeof(sealed), back), 0);
	assert_memory_equal(back, priv, sizeof(priv));
	/* A fresh nonce each time. */
	assert_int_equal(attest_seal(kek, "v_1", "ak_1", priv, sealed2), 0);
	assert_memory_not_equal(sealed, sealed2, sizeof(sealed));
	/* Bound to the key file, the vendor and the key id; tamper-evident. */
	assert_int_not_equal(attest_open(kek2, "v_1", "ak_1", sealed, sizeof(sealed), back), 0);
	assert_int_not_equal(attest_open(kek, "v_2", "ak_1", sealed, sizeof(sealed), back), 0);
	assert_int_not_equal(attest_open(kek, "v_1", "ak_2", sealed, sizeof(sealed), back), 0);
	assert_int_not_equal(attest_open(kek, "v_1:ak", "_1", sealed, sizeof(sealed), back), 0);
	assert_int_not_equal(attest_open(kek, "v_1", "ak_1", sealed, sizeof(sealed) - 1, back), 0);
	for (size_t i = 0; i < sizeof(sealed); i += 7) {
		memcpy(sealed2, sealed, sizeof(sealed));
		sealed2[i] ^= 1;
		assert_int_not_equal(
			attest_open(kek, "v_1", "ak_1", sealed2, sizeof(sealed2), back), 0);
	}
}

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/fp-kek-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_kek_file(void **state)
{
	uint8_t kek[ATTEST_KEK_BYTES];
	char err[256];
	char *p = write_temp("  000102030405060708090a0b0c0d0e0f"
			     "101112131415161718191A1B1C1D1E1F\n");
	assert_int_equal(attest_kek_load(p, kek, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(kek); i++)
		assert_int_equal(kek[i], i);
	unlink(p);
	free(p);
	static const char *const bad[] = {
		"",
		"0001",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
		"g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = write_temp(bad[i]);
		assert_int_equal(attest_kek_load(p, kek, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "64 hex digits"));
		unlink(p);
		free(p);
	}
	assert_int_equal(attest_kek_load("/nonexistent/kek", kek, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
}

static void test_base64url(void **state)
{
	/* RFC 4648, section 10, without padding. */
	static const struct {
		const char *raw, *text;
	} v[] = { { "", "" },
		  { "f", "Zg" },
		  { "fo", "Zm8" },
		  { "foo", "Zm9v" },
		  { "foob", "Zm9vYg" },
		  { "fooba", "Zm9vYmE" },
		  { "foobar", "Zm9vYmFy" } };
	char text[64];
	uint8_t raw[64];
	size_t len = 0;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].raw);
		assert_int_equal(attest_b64url_len(n), strlen(v[i].text));
		attest_b64url_encode((const uint8_t *)v[i].raw, n, text);
		assert_string_equal(text, v[i].text);
		assert_int_equal(attest_b64url_decode(v[i].text, raw, sizeof(raw), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(raw, v[i].raw, n);
	}
	/* The URL alphabet: 62 and 63 are '-' and '_'. */
	static const uint8_t hi[] = { 0xfb, 0xff, 0xbf };
	attest_b64url_encode(hi, sizeof(hi), text);
	assert_string_equal(text, "-_-_");
	/* Padding and surrounding white space are tolerated. */
	assert_int_equal(attest_b64url_decode(" Zm9vYg==\n", raw, sizeof(raw), &len), 0);
	assert_int_equal(len, 4);
	/* The standard alphabet's + and /, stray characters, a bad length, no room. */
	assert_int_equal(attest_b64url_decode("+/+/", raw, sizeof(raw), &len), -1);
	assert_int_equal(attest_b64url_decode("Zm 9v", raw, sizeof(raw), &len), -1);
	assert_int_equal(attest_b64url_decode("Zm9vY", raw, sizeof(raw), &len), -1);
	assert_int_equal(attest_b64url_decode("Zm9v=x", raw, sizeof(raw), &len), -1);
	assert_int_equal(attest_b64url_decode("Zm9vYmFy", raw, 5, &len), -1);
}

static void test_hex(void **state)
{
	static const uint8_t b[] = { 0x00, 0x9f, 0xa0, 0xff };
	uint8_t back[4];
	char h[9];
	attest_hex(b, sizeof(b), h);
	assert_string_equal(h, "009fa0ff");
	assert_int_equal(attest_unhex("009FA0ff", back, sizeof(back)), 0);
	assert_memory_equal(back, b, sizeof(b));
	assert_int_equal(attest_unhex("009fa0f", back, sizeof(back)), -1);
	assert_int_equal(attest_unhex("009fa0ff00", back, sizeof(back)), -1);
	assert_int_equal(attest_unhex("009fa0fg", back, sizeof(back)), -1);
}

static void test_decode(void **state)
{
	uint8_t pub[ATTEST_KEY_BYTES], priv[ATTEST_KEY_BYTES], sig[ATTEST_SIG_BYTES];
	uint8_t buf[512], cl[256];
	attest_parts p;
	assert_int_equal(attest_keygen(pub, priv), 0);
	Fairpay__V1__AttestationClaims c = FAIRPAY__V1__ATTESTATION_CLAIMS__INIT;
	c.issuer_vendor_id = "v_0123456789abcdef";
	c.key_id = "ak_0123456789abcdef";
	c.subject = "a@b";
	c.score_bp = 9100;
	size_t cl_len = fairpay__v1__attestation_claims__pack(&c, cl);
	assert_int_equal(attest_sign(priv, cl, cl_len, sig), 0);
	Fairpay__V1__SignedAttestation s = FAIRPAY__V1__SIGNED_ATTESTATION__INIT;
	s.claims.data = cl;
	s.claims.len = cl_len;
	s.signature.data = sig;
	s.signature.len = sizeof(sig);
	size_t len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), 0);
	assert_string_equal(p.claims->subject, "a@b");
	assert_int_equal(p.claims->score_bp, 9100);
	assert_true(attest_parts_verify(&p, pub));
	attest_parts_free(&p);
	attest_parts_free(&p); /* twice is harmless */
	attest_parts_free(NULL);

	/* Not a message; no claims; claims that are not AttestationClaims;
	 * claims without a key id. */
	static const uint8_t junk[] = { 0xff, 0xff, 0xff };
	assert_int_equal(attest_decode(junk, sizeof(junk), &p), -1);
	assert_null(p.signed_att);
	s.claims.len = 0;
	len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), -1);
	s.claims.data = (uint8_t *)junk;
	s.claims.len = sizeof(junk);
	len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), -1);
	c.key_id = "";
	cl_len = fairpay__v1__attestation_claims__pack(&c, cl);
	s.claims.data = cl;
	s.claims.len = cl_len;
	len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), -1);
	/* A claims string that is not UTF-8 (protobuf-c lets it through). */
	c.key_id = "ak_\xb5";
	cl_len = fairpay__v1__attestation_claims__pack(&c, cl);
	s.claims.len = cl_len;
	len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), -1);
	c.key_id = "ak_0123456789abcdef";
	c.issuer_name = "Caf\xe9";
	cl_len = fairpay__v1__attestation_claims__pack(&c, cl);
	s.claims.len = cl_len;
	len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), -1);
	c.issuer_name = "";
	/* A signature that is no signature decodes, and does not verify. */
	c.key_id = "ak_0123456789abcdef";
	cl_len = fairpay__v1__attestation_claims__pack(&c, cl);
	s.claims.len = cl_len;
	s.signature.len = 3;
	len = fairpay__v1__signed_attestation__pack(&s, buf);
	assert_int_equal(attest_decode(buf, len, &p), 0);
	assert_false(attest_parts_verify(&p, pub));
	attest_parts_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify), cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_kek_file),    cmocka_unit_test(test_base64url),
		cmocka_unit_test(test_hex),         cmocka_unit_test(test_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
