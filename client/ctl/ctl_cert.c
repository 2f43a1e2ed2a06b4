/* Client certificate fingerprints (see ctl_cert.h). */
#include "ctl_cert.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Compute the SHA-256 of the DER of the first certificate in a PEM file. */
int ctl_cert_fingerprint(const char *path, char out[CTL_CERT_SHA256_HEX + 1], char *err,
			 size_t err_size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	X509 *x = NULL;
	int rc = -1;

	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
		goto done;
	}
	ERR_clear_error();
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		/* OpenSSL's reason ("no start line") means little to an operator. */
		snprintf(err, err_size, "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
			 path);
		ERR_clear_error();
		goto done;
	}
	/* X509_digest hashes the DER encoding, which is what the server sees
	 * on the wire. */
	if (X509_digest(x, EVP_sha256(), md, &md_len) != 1 || md_len * 2 != CTL_CERT_SHA256_HEX) {
		snprintf(err, err_size, "cannot compute the SHA-256 of %s", path);
		goto done;
	}
	for (unsigned int i = 0; i < md_len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	rc = 0;
done:
	X509_free(x);
	return rc;
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

/* Normalise a fingerprint typed by hand to 64 lower-case hex digits. */
int ctl_cert_parse_hex(const char *in, char out[CTL_CERT_SHA256_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;
	bool colons = strchr(in, ':') != NULL;

	out[0] = '\0';
	for (size_t i = 0; in[i] != '\0'; i++) {
		/* With colons, every byte is two digits followed by ':' (none
		 * after the last). */
		if (colons && i % 3 == 2) {
			if (in[i] != ':')
				return -1;
			continue;
		}
		int v = hex_value(in[i]);
		if (v < 0 || n == CTL_CERT_SHA256_HEX)
			return -1;
		out[n++] = digits[v];
	}
	if (colons && in[strlen(in) - 1] == ':')
		return -1;
	if (n != 0 && n != CTL_CERT_SHA256_HEX)
		return -1;
	out[n] = '\0';
	return 0;
}
