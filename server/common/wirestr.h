/* wirestr_: every string field of a message, checked on the wire.
 *
 * protobuf-c copies a string field's bytes as they come and adds a NUL: it
 * checks no UTF-8, and a NUL inside the value is invisible afterwards (strlen
 * stops there, so "a\0b" reads as "a"). wirestr_check() therefore walks the
 * serialized bytes with the message's descriptor, into every sub-message, and
 * checks each string field as sent: no NUL byte, well-formed UTF-8, and at
 * most the bound limit.h gives that field. No field can be forgotten: a new
 * string field of the schema is checked by the same walk. */
#ifndef FP_WIRESTR_H
#define FP_WIRESTR_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define WIRESTR_PATH_LEN 128

typedef enum wirestr_result {
	WIRESTR_OK = 0,
	WIRESTR_NUL,      /* a NUL byte inside the value */
	WIRESTR_UTF8,     /* not well-formed UTF-8 */
	WIRESTR_TOO_LONG, /* longer than its bound */
	WIRESTR_MALFORMED /* the bytes are not a message of this type */
} wirestr_result;

typedef struct wirestr_bad {
	char field[WIRESTR_PATH_LEN]; /* e.g. "product.name", as in Status.field */
	size_t max;                   /* the bound, for WIRESTR_TOO_LONG */
} wirestr_bad;

/* Check every string field of the message d serialized in data[0..len);
 * on a bad one, say which in *bad. The message-typed members of a oneof of
 * the outermost message (Request.call) add nothing to the path, so that a
 * call's fields are named as in its request ("customer_id"). */
wirestr_result wirestr_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
			     wirestr_bad *bad) __attribute__((warn_unused_result));

/* The most bytes a string field of this name may hold (limit.h). */
size_t wirestr_bound(const char *field_name);

#endif
