/* names_: the names of the protocol's enum values as the server stores and
 * shows them, taken from the protobuf-c descriptors (proto/fairpay.proto is
 * the one place they are written): the value's name without its enum's
 * prefix, e.g. TIER_FIXED_PRICE is stored as FIXED_PRICE. The prefix is the
 * zero value's name less UNSPECIFIED. */
#ifndef FP_NAMES_H
#define FP_NAMES_H

#include <stddef.h>

#include "fairpay.pb-c.h"

#define NAMES_TIER (&fairpay__v1__tier__descriptor)
#define NAMES_ENFORCEMENT (&fairpay__v1__enforcement__descriptor)
#define NAMES_STATUS (&fairpay__v1__offer_status__descriptor)
#define NAMES_MODE (&fairpay__v1__offer_mode__descriptor)
#define NAMES_OFFER_REASON (&fairpay__v1__offer_reason__descriptor)
#define NAMES_PAYMENT_REASON (&fairpay__v1__payment_reason__descriptor)
#define NAMES_VERDICT (&fairpay__v1__verdict__descriptor)
#define NAMES_REVIEW (&fairpay__v1__review__descriptor)
#define NAMES_EVENT (&fairpay__v1__event_kind__descriptor)

/* The length of the enum's prefix ("TIER_" for Tier). */
size_t names_prefix_len(const ProtobufCEnumDescriptor *d);

/* The largest value of the enum. */
int names_max(const ProtobufCEnumDescriptor *d);

/* The name of value v ("" for the zero value and unknown values). */
const char *names_of(const ProtobufCEnumDescriptor *d, int v);

/* The name of value v, or NULL when v is zero or unknown (to check a request). */
const char *names_known(const ProtobufCEnumDescriptor *d, int v);

/* The value whose name is the len bytes at name (0 when none). */
int names_value_n(const ProtobufCEnumDescriptor *d, const char *name, size_t len);

/* The value whose name is name (0 when none). */
int names_value(const ProtobufCEnumDescriptor *d, const char *name);

#endif
