/* hookurl_: webhook URLs and the addresses a delivery may reach.
 *
 * PROTOCOL.md: URLs are https:// (http:// only when allowed), at most
 * LIMIT_URL_BYTES, and never reach a loopback, private, link-local or
 * unspecified address unless allowed. CreateWebhookEndpoint refuses such a
 * literal address; the delivery job refuses the address a name resolved to,
 * at the moment it connects (hookurl_addr_class on the socket address), so
 * that a name cannot be rebound between the check and the connection. Pure
 * code: no I/O, no resolver. */
#ifndef FP_HOOKURL_H
#define FP_HOOKURL_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

typedef enum hookurl_result {
	HOOKURL_OK = 0,
	HOOKURL_SCHEME,    /* neither https:// nor http:// */
	HOOKURL_HTTP,      /* http:// while it is not allowed */
	HOOKURL_MALFORMED, /* no host, bad port, user info, spaces or control bytes */
	HOOKURL_BLOCKED    /* the host is a literal address of a refused class */
} hookurl_result;

/* Check url as CreateWebhookEndpoint does; *why names the rule it broke
 * (static text). */
hookurl_result hookurl_check(const char *url, bool allow_http, bool allow_private, const char **why)
	__attribute__((warn_unused_result));

/* The refused class of an address ("loopback", "private", "link-local",
 * "unspecified"), or NULL when a delivery may connect to it. IPv4-mapped
 * and IPv4-compatible IPv6 addresses are judged by their IPv4 address. */
const char *hookurl_addr_class(const struct sockaddr *sa);

/* The same for a literal host ("127.1", "::1", "[::1]" without brackets);
 * NULL also when host is not a literal address. */
const char *hookurl_host_class(const char *host);

#endif
