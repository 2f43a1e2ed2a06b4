/* Enum names of the protocol as fairpayctl reads and prints them (see
 * ctl_enum.h), from the protobuf-c descriptors. */
#include "ctl_enum.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "names.h"

#define ENUM(var, descriptor) const ctl_enum var = { &(descriptor) }

ENUM(ctl_enum_tier, fairpay__v1__tier__descriptor);
ENUM(ctl_enum_enforcement, fairpay__v1__enforcement__descriptor);
ENUM(ctl_enum_offer_status, fairpay__v1__offer_status__descriptor);
ENUM(ctl_enum_offer_mode, fairpay__v1__offer_mode__descriptor);
ENUM(ctl_enum_offer_reason, fairpay__v1__offer_reason__descriptor);
ENUM(ctl_enum_payment_reason, fairpay__v1__payment_reason__descriptor);
ENUM(ctl_enum_verdict, fairpay__v1__verdict__descriptor);
ENUM(ctl_enum_review, fairpay__v1__review__descriptor);
ENUM(ctl_enum_event_kind, fairpay__v1__event_kind__descriptor);

/* Return the name of value v. */
const char *ctl_enum_name(const ctl_enum *e, int v, char buf[CTL_ENUM_BUF])
{
	const char *name = names_known(e->d, v);
	if (name != NULL)
		return name;
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
	size_t plen = names_prefix_len(e->d);
	int max = names_max(e->d);
	/* The prefix is optional: "TIER_PROBATION" and "probation" both work. */
	if (len > plen && strncasecmp(s, e->d->values[0].name, plen) == 0) {
		for (int v = 1; v <= max; v++) {
			const char *name = names_known(e->d, v);
			if (name != NULL && name_eq(s + plen, len - plen, name)) {
				*out = v;
				return 0;
			}
		}
	}
	for (int v = 1; v <= max; v++) {
		const char *name = names_known(e->d, v);
		if (name != NULL && name_eq(s, len, name)) {
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
	int max = names_max(e->d);
	for (int v = 1; v <= max && used < size; v++) {
		const char *name = names_known(e->d, v);
		if (name == NULL)
			continue;
		int w = snprintf(buf + used, size - used, "%s%s", v > 1 ? sep : "", name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
