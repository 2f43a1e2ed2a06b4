/* Webhook URLs and the addresses they may reach (see hookurl.h). */
#include "hookurl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "limit.h"

static const char *v4_class(uint32_t a)
{
	if ((a >> 24) == 0)
		return "unspecified"; /* 0.0.0.0/8: "this network" */
	if ((a >> 24) == 127)
		return "loopback";
	if ((a >> 24) == 10 || (a >> 20) == 0xAC1 /* 172.16/12 */ ||
	    (a >> 16) == 0xC0A8 /* 192.168/16 */ || (a >> 22) == 0x191 /* 100.64/10 */)
		return "private";
	if ((a >> 16) == 0xA9FE) /* 169.254/16 */
		return "link-local";
	if (a == 0xFFFFFFFFu)
		return "unspecified"; /* limited broadcast */
	return NULL;
}

static const char *v6_class(const struct in6_addr *a)
{
	const uint8_t *b = a->s6_addr;
	static const uint8_t zero[16] = { 0 };
	if (memcmp(b, zero, 16) == 0)
		return "unspecified";
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return "loopback";
	/* ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64) */
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, zero, 12) == 0 || memcmp(b, nat64, 12) == 0) {
		uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 |
			      b[15];
		return v4_class(v4);
	}
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local"; /* fe80::/10 */
	if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
		return "private"; /* fc00::/7 unique local, fec0::/10 site-local */
	return NULL;
}

const char *hookurl_addr_class(const struct sockaddr *sa)
{
	if (sa == NULL)
		return "unspecified";
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		return v4_class(ntohl(in.sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		return v6_class(&in6.sin6_addr);
	}
	return "unspecified"; /* no other family is ever connected to */
}

const char *hookurl_host_class(const char *host)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", host);
	char *zone = strchr(buf, '%');
	if (zone != NULL)
		*zone = '\0';
	struct in6_addr a6;
	if (inet_pton(AF_INET6, buf, &a6) == 1)
		return v6_class(&a6);
	/* inet_aton, like the resolver, takes the short forms too: "127.1",
	 * "0x7f.1", "2130706433". */
	struct in_addr a4;
	if (inet_aton(buf, &a4) != 0)
		return v4_class(ntohl(a4.s_addr));
	return NULL;
}

hookurl_result hookurl_check(const char *url, bool allow_http, bool allow_private, const char **why)
{
	size_t len = strlen(url);
	*why = "";
	if (len > LIMIT_URL_BYTES) {
		*why = "url is longer than 2048 bytes";
		return HOOKURL_MALFORMED;
	}
	const char *rest;
	if (strncasecmp(url, "https://", 8) == 0) {
		rest = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		if (!allow_http) {
			*why = "url must be https:// (this server does not deliver over plain "
			       "http)";
			return HOOKURL_HTTP;
		}
		rest = url + 7;
	} else {
		*why = "url must start with https://";
		return HOOKURL_SCHEME;
	}
	for (const char *p = url; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch == 0x7f) {
			*why = "url contains a space or a control character";
			return HOOKURL_MALFORMED;
		}
	}
	size_t alen = strcspn(rest, "/?#");
	if (memchr(rest, '@', alen) != NULL || memchr(rest, '\\', alen) != NULL) {
		*why = "url must not carry user information";
		return HOOKURL_MALFORMED;
	}
	char host[LIMIT_URL_BYTES + 1];
	const char *port = NULL;
	size_t plen = 0;
	if (alen > 0 && rest[0] == '[') {
		const char *end = memchr(rest, ']', alen);
		if (end == NULL) {
			*why = "url has an unterminated [IPv6 address]";
			return HOOKURL_MALFORMED;
		}
		size_t hlen = (size_t)(end - rest - 1);
		memcpy(host, rest + 1, hlen);
		host[hlen] = '\0';
		struct in6_addr a6;
		char probe[64];
		snprintf(probe, sizeof(probe), "%.*s", (int)strcspn(host, "%"), host);
		if (inet_pton(AF_INET6, probe, &a6) != 1) {
			*why = "url has a malformed [IPv6 address]";
			return HOOKURL_MALFORMED;
		}
		const char *after = end + 1;
		size_t left = alen - (size_t)(after - rest);
		if (left > 0) {
			if (after[0] != ':') {
				*why = "url has a malformed host";
				return HOOKURL_MALFORMED;
			}
			port = after + 1;
			plen = left - 1;
		}
	} else {
		const char *colon = memchr(rest, ':', alen);
		size_t hlen = colon ? (size_t)(colon - rest) : alen;
		memcpy(host, rest, hlen);
		host[hlen] = '\0';
		if (colon != NULL) {
			port = colon + 1;
			plen = alen - hlen - 1;
		}
	}
	if (host[0] == '\0') {
		*why = "url has no host";
		return HOOKURL_MALFORMED;
	}
	if (port != NULL) {
		long v = 0;
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9' || v > 65535) {
				v = -1;
				break;
			}
			v = v * 10 + (port[i] - '0');
		}
		if (plen == 0 || v < 1 || v > 65535) {
			*why = "url has a malformed port";
			return HOOKURL_MALFORMED;
		}
	}
	if (!allow_private) {
		const char *cls = hookurl_host_class(host);
		if (cls != NULL) {
			*why = strcmp(cls, "loopback") == 0  ? "url's host is a loopback address"
			       : strcmp(cls, "private") == 0 ? "url's host is a private address"
			       : strcmp(cls, "link-local") == 0
				       ? "url's host is a link-local address"
				       : "url's host is an unspecified address";
			return HOOKURL_BLOCKED;
		}
	}
	return HOOKURL_OK;
}
