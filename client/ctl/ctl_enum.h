/* ctl_enum_: the names fairpayctl reads and prints for the protocol's enums.
 *
 * PROTOCOL.md lets clients match enum values by the name after the protobuf
 * prefix ("PROBATION" for TIER_PROBATION); fairpayctl prints exactly those
 * names and reads them case-insensitively, with or without the prefix and
 * with '-' for '_'. The names and numbers are the protobuf-c descriptors'
 * (names.h): proto/fairpay.proto is the one place they are written. */
#ifndef FP_CTL_ENUM_H
#define FP_CTL_ENUM_H

#include <stddef.h>

#include "fairpay.pb-c.h"

/* One enum of the protocol. */
typedef struct ctl_enum {
	const ProtobufCEnumDescriptor *d;
} ctl_enum;

extern const ctl_enum ctl_enum_tier;
extern const ctl_enum ctl_enum_enforcement;
extern const ctl_enum ctl_enum_offer_status;
extern const ctl_enum ctl_enum_offer_mode;
extern const ctl_enum ctl_enum_offer_reason;
extern const ctl_enum ctl_enum_payment_reason;
extern const ctl_enum ctl_enum_verdict;
extern const ctl_enum ctl_enum_review;
extern const ctl_enum ctl_enum_event_kind;

#define CTL_ENUM_BUF 24

/* Return the name of value v: the table's name, "UNSPECIFIED" for 0, or the
 * number written into buf for a value this build does not know. */
const char *ctl_enum_name(const ctl_enum *e, int v, char buf[CTL_ENUM_BUF]);

/* Parse one name (case-insensitive, prefix optional, '-' as '_') into *out
 * (1..count-1). Returns 0, or -1 for anything else, "UNSPECIFIED" included. */
int ctl_enum_parse(const ctl_enum *e, const char *s, int *out) __attribute__((warn_unused_result));

/* Parse a comma-separated list of names, appending to values[0..*n) (so that
 * several lists can be merged) and skipping duplicates and empty items (""
 * adds nothing). Returns 0, or -1 when an item is not a name (copied into
 * bad, truncated to bad_size, when bad is not NULL; "" when the list was too
 * long) or when it would take more than max values. */
int ctl_enum_parse_list(const ctl_enum *e, const char *s, int *values, size_t max, size_t *n,
			char *bad, size_t bad_size) __attribute__((warn_unused_result));

/* Write the names of e, separated by sep, into buf (truncated to size). */
void ctl_enum_list(const ctl_enum *e, const char *sep, char *buf, size_t size);

#endif
