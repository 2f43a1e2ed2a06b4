/* text_: checks of request strings shared by the server and the CLI. */
#ifndef FP_TEXT_H
#define FP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 without NUL bytes. */
bool text_valid_utf8(const char *s, size_t len);

/* True when s is an ISO 4217-shaped code: exactly three upper-case letters. */
bool text_valid_currency(const char *s);

/* True when s is a SKU: 1-64 bytes of [A-Za-z0-9._-]. */
bool text_valid_sku(const char *s);

/* True when s is 1..max bytes of well-formed UTF-8. */
bool text_valid_name(const char *s, size_t max);

/* True when s looks like one of our generated ids: prefix then 16 hex digits. */
bool text_valid_id(const char *s, const char *prefix);

#endif
