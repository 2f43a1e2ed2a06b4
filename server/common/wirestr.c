/* String fields checked on the wire (see wirestr.h). */
#include "wirestr.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "limit.h"
#include "text.h"

/* Fields with a bound of their own; every other string field has
 * LIMIT_TEXT_BYTES. A field name means the same thing in every message. */
static const struct {
	const char *name;
	size_t max;
} bounds[] = {
	{ "idempotency_key", LIMIT_IDEMPOTENCY_KEY_BYTES },
	{ "name", LIMIT_NAME_BYTES },
	{ "customer_id", LIMIT_CUSTOMER_BYTES },
	{ "sku", LIMIT_SKU_BYTES },
	{ "note", LIMIT_NOTE_BYTES },
	{ "url", LIMIT_URL_BYTES },
};

size_t wirestr_bound(const char *field_name)
{
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
		if (strcmp(bounds[i].name, field_name) == 0)
			return bounds[i].max;
	return LIMIT_TEXT_BYTES;
}

static bool read_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
		uint8_t b = data[(*pos)++];
		v |= (uint64_t)(b & 0x7F) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Skip n bytes of data[*pos..len). */
static bool skip(size_t len, size_t *pos, uint64_t n)
{
	if (n > len - *pos)
		return false;
	*pos += (size_t)n;
	return true;
}

/* Append ".name" (or "name" at the start) to path; false when it does not fit. */
static bool path_push(char *path, size_t at, const char *name)
{
	int n = snprintf(path + at, WIRESTR_PATH_LEN - at, "%s%s", at ? "." : "", name);
	return n >= 0 && (size_t)n < WIRESTR_PATH_LEN - at;
}

static wirestr_result check_string(const ProtobufCFieldDescriptor *f, const uint8_t *s, size_t n,
				   wirestr_bad *bad, size_t at)
{
	size_t max = wirestr_bound(f->name);
	wirestr_result r = WIRESTR_OK;
	if (n > max)
		r = WIRESTR_TOO_LONG;
	else if (memchr(s, 0, n) != NULL)
		r = WIRESTR_NUL;
	else if (!text_valid_utf8((const char *)s, n))
		r = WIRESTR_UTF8;
	if (r != WIRESTR_OK) {
		bad->max = max;
		if (!path_push(bad->field, at, f->name))
			bad->field[at] = '\0';
	}
	return r;
}

/* The schema has no recursive message; this only bounds the walk. */
#define MAX_DEPTH 16

/* A message being walked: its bytes, how far, and where its path ends. */
typedef struct frame {
	const ProtobufCMessageDescriptor *d;
	const uint8_t *data;
	size_t len;
	size_t pos;
	size_t at; /* strlen of the path to this message */
} frame;

/* Skip the value of wire type wire at f->pos; *v and *n give a
 * length-delimited one. */
static bool take_value(frame *f, unsigned wire, const uint8_t **v, uint64_t *n)
{
	switch (wire) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		return read_varint(f->data, f->len, &f->pos, n);
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		return skip(f->len, &f->pos, 8);
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		return skip(f->len, &f->pos, 4);
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		if (!read_varint(f->data, f->len, &f->pos, n) || *n > f->len - f->pos)
			return false;
		*v = f->data + f->pos;
		f->pos += (size_t)*n;
		return true;
	default: /* groups: protobuf-c refuses them */
		return false;
	}
}

/* Depth first, with a stack of its own rather than recursion. */
static wirestr_result walk(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
			   wirestr_bad *bad)
{
	frame stack[MAX_DEPTH];
	int top = 0;
	stack[0] = (frame){ .d = d, .data = data, .len = len };
	while (top >= 0) {
		frame *fr = &stack[top];
		if (fr->pos == fr->len) {
			if (--top >= 0)
				bad->field[stack[top].at] = '\0'; /* the path back to the parent */
			continue;
		}
		uint64_t tag, n = 0;
		const uint8_t *v = NULL;
		if (!read_varint(fr->data, fr->len, &fr->pos, &tag) || tag >> 3 == 0 ||
		    tag >> 3 > UINT32_MAX || !take_value(fr, (unsigned)(tag & 7), &v, &n))
			return WIRESTR_MALFORMED;
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(fr->d, (unsigned)(tag >> 3));
		/* An unknown field is kept by protobuf-c and never read by us;
		 * strings and messages come length-delimited or not at all. */
		if (f == NULL || v == NULL)
			continue;
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			wirestr_result r = check_string(f, v, (size_t)n, bad, fr->at);
			if (r != WIRESTR_OK)
				return r;
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (top + 1 >= MAX_DEPTH)
				return WIRESTR_MALFORMED;
			size_t at = fr->at;
			/* A call's request names no path element of its own. */
			if (top > 0 || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
				if (!path_push(bad->field, at, f->name))
					return WIRESTR_MALFORMED;
				at = strlen(bad->field);
			}
			stack[++top] = (frame){
				.d = f->descriptor, .data = v, .len = (size_t)n, .at = at
			};
		}
	}
	return WIRESTR_OK;
}

wirestr_result wirestr_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
			     wirestr_bad *bad)
{
	memset(bad, 0, sizeof(*bad));
	if (len > 0 && data == NULL)
		return WIRESTR_MALFORMED;
	return walk(d, data, len, bad);
}
