/* Enum names of the protocol as fairpayctl reads and prints them (see
 * ctl_enum.h). Pure code: libc only. */
#include "ctl_enum.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ENUM(var, prefix, ...)                                          \
	static const char *const var##_names[] = { NULL, __VA_ARGS__ }; \
	const ctl_enum var = { prefix, var##_names,                     \
			       (int)(sizeof(var##_names) / sizeof(var##_names[0])) }

ENUM(ctl_enum_tier, "TIER_", "FIXED_PRICE", "RESTRICTED", "PROBATION", "STANDARD", "TRUSTED");
ENUM(ctl_enum_enforcement, "ENFORCEMENT_", "ENFORCE", "VOLUNTARY");
ENUM(ctl_enum_offer_status, "OFFER_STATUS_", "OPEN", "ACCEPTED", "PAID", "DECLINED", "EXPIRED",
     "DEFAULTED");
ENUM(ctl_enum_offer_mode, "OFFER_MODE_", "FAIRPAY", "FAIRPAY_MINIMUM", "SET_PRICE");
ENUM(ctl_enum_offer_reason, "OFFER_REASON_", "PROBATION", "CREDIT_LIMIT", "LOW_SCORE",
     "OPEN_DEFAULTS", "TIER_REQUIRED", "PRODUCT_MINIMUM", "VENDOR_OVERRIDE", "VOLUNTARY_MODE");
ENUM(ctl_enum_payment_reason, "PAYMENT_REASON_", "DID_NOT_USE", "POOR_QUALITY", "NOT_AS_DESCRIBED",
     "TECHNICAL_PROBLEM", "CANNOT_AFFORD", "GREAT_VALUE", "OTHER");
ENUM(ctl_enum_verdict, "VERDICT_", "GENEROUS", "FAIR", "LOW", "UNFAIR");
ENUM(ctl_enum_review, "REVIEW_", "NOT_NEEDED", "PENDING", "ACCEPTED", "REJECTED");
ENUM(ctl_enum_event_kind, "EVENT_KIND_", "OFFER_CREATED", "OFFER_ACCEPTED", "OFFER_DECLINED",
     "OFFER_EXPIRED", "OFFER_DEFAULTED", "PAYMENT_RECEIVED", "PAYMENT_REVIEWED",
     "REPUTATION_CHANGED");

/* Return the name of value v. */
const char *ctl_enum_name(const ctl_enum *e, int v, char buf[CTL_ENUM_BUF])
{
	if (v > 0 && v < e->count)
		return e->names[v];
	if (v == 0)
		return "UNSPECIFIED";
	/* A newer server may send a value this build does not know: show it
	 * rather than hide it. */
	snprintf(buf, CTL_ENUM_BUF, "%d", v);
	return buf;
}

/* True when s[0..len) names `name`, ignoring case and taking '-' as '_'. */
static bool name_eq(const char *s, size_t len, const char *name)
{
	if (strlen(name) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i] == '-' ? '_' : s[i];
		char n = name[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != n)
			return false;
	}
	return true;
}

/* Parse s[0..len) into *out. */
static int parse_n(const ctl_enum *e, const char *s, size_t len, int *out)
{
	size_t plen = strlen(e->prefix);
	/* The prefix is optional: "TIER_PROBATION" and "probation" both work. */
	if (len > plen && strncasecmp(s, e->prefix, plen) == 0) {
		for (int v = 1; v < e->count; v++) {
			if (name_eq(s + plen, len - plen, e->names[v])) {
				*out = v;
				return 0;
			}
		}
	}
	for (int v = 1; v < e->count; v++) {
		if (name_eq(s, len, e->names[v])) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Parse one name. */
int ctl_enum_parse(const ctl_enum *e, const char *s, int *out)
{
	if (s == NULL)
		return -1;
	return parse_n(e, s, strlen(s), out);
}

/* Parse a comma-separated list of names. */
int ctl_enum_parse_list(const ctl_enum *e, const char *s, int *values, size_t max, size_t *n,
			char *bad, size_t bad_size)
{
	if (bad != NULL && bad_size > 0)
		bad[0] = '\0';
	while (s != NULL && *s != '\0') {
		size_t len = strcspn(s, ",");
		int v = 0;
		if (len > 0) {
			if (parse_n(e, s, len, &v) != 0) {
				if (bad != NULL && bad_size > 0)
					snprintf(bad, bad_size, "%.*s", (int)len, s);
				return -1;
			}
			bool dup = false;
			for (size_t i = 0; i < *n; i++)
				dup = dup || values[i] == v;
			if (!dup) {
				if (*n >= max)
					return -1;
				values[(*n)++] = v;
			}
		}
		s += len;
		if (*s == ',')
			s++;
	}
	return 0;
}

/* Write the names of e, separated by sep. */
void ctl_enum_list(const ctl_enum *e, const char *sep, char *buf, size_t size)
{
	size_t used = 0;
	if (size == 0)
		return;
	buf[0] = '\0';
	for (int v = 1; v < e->count && used < size; v++) {
		int w = snprintf(buf + used, size - used, "%s%s", v > 1 ? sep : "", e->names[v]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
