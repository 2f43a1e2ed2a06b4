/* Unit tests of the wire check of string fields (wirestr.h): invalid UTF-8,
 * a NUL inside a value (which protobuf-c's unpacked string hides), every
 * bound of limit.h, the field path named in the error, and a walk over every
 * string field of every call so that none is left unchecked. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fairpay.pb-c.h"
#include "limit.h"
#include "wirestr.h"

typedef struct buf {
	uint8_t b[8192];
	size_t n;
} buf;

static void put_varint(buf *w, uint64_t v)
{
	do {
		uint8_t byte = v & 0x7F;
		v >>= 7;
		w->b[w->n++] = (uint8_t)(byte | (v ? 0x80 : 0));
	} while (v);
}

/* Append field number f, length-delimited, with len bytes of s. */
static void put_bytes(buf *w, unsigned f, const void *s, size_t len)
{
	put_varint(w, (uint64_t)f << 3 | 2);
	put_varint(w, len);
	memcpy(w->b + w->n, s, len);
	w->n += len;
}

/* The field of Request's oneof that carries the call (a sub-message). */
static unsigned call_field(const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&fairpay__v1__request__descriptor, name);
	assert_non_null(f);
	return f->id;
}

/* A Request with call `call` whose message holds the single string field
 * `field` = s[0..len). */
static buf request_with(const char *call, const char *field, const void *s, size_t len)
{
	buf inner = { .n = 0 };
	buf w = { .n = 0 };
	const ProtobufCFieldDescriptor *c = protobuf_c_message_descriptor_get_field_by_name(
		&fairpay__v1__request__descriptor, call);
	assert_non_null(c);
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(c->descriptor, field);
	assert_non_null(f);
	put_bytes(&inner, f->id, s, len);
	put_varint(&w, 1 << 3); /* id = 7 */
	put_varint(&w, 7);
	put_bytes(&w, c->id, inner.b, inner.n);
	return w;
}

static wirestr_result check(const buf *w, wirestr_bad *bad)
{
	return wirestr_check(&fairpay__v1__request__descriptor, w->b, w->n, bad);
}

static void test_valid_request(void **state)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	co.customer_id = "alice \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	co.sku = "basic";
	req.id = 42;
	req.idempotency_key = "k-1\nline";
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	buf w = { .n = protobuf_c_message_get_packed_size(&req.base) };
	protobuf_c_message_pack(&req.base, w.b);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_OK);
	assert_string_equal(bad.field, "");
	/* No fields at all is a valid (empty) message. */
	assert_int_equal(wirestr_check(&fairpay__v1__request__descriptor, NULL, 0, &bad),
			 WIRESTR_OK);
}

static void test_idempotency_key_utf8(void **state)
{
	buf w = { .n = 0 };
	put_bytes(&w, 2, "\xff\xfe", 2);
	put_bytes(&w, call_field("ping"), "", 0);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_UTF8);
	assert_string_equal(bad.field, "idempotency_key");
}

static void test_nul_inside(void **state)
{
	/* Packed by protobuf-c, then the X becomes a NUL: the bytes a client
	 * sends for "a\0b". */
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	gr.customer_id = "aXb";
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &gr;
	buf w = { .n = protobuf_c_message_get_packed_size(&req.base) };
	protobuf_c_message_pack(&req.base, w.b);
	uint8_t *x = memchr(w.b, 'X', w.n);
	assert_non_null(x);
	*x = 0;
	/* protobuf-c decodes it, and the value reads as "a". */
	Fairpay__V1__Request *u = fairpay__v1__request__unpack(NULL, w.n, w.b);
	assert_non_null(u);
	assert_string_equal(u->get_reputation->customer_id, "a");
	fairpay__v1__request__free_unpacked(u, NULL);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_NUL);
	assert_string_equal(bad.field, "customer_id");
	/* A NUL at the end is as bad. */
	w = request_with("create_vendor", "name", "shop\0", 5);
	assert_int_equal(check(&w, &bad), WIRESTR_NUL);
	assert_string_equal(bad.field, "name");
}

static void test_nested_path(void **state)
{
	buf product = { .n = 0 };
	buf put = { .n = 0 };
	buf w = { .n = 0 };
	put_bytes(&product, 1, "basic", 5);
	put_bytes(&product, 2, "caf\xe9", 4); /* Latin-1, not UTF-8 */
	put_bytes(&put, 1, product.b, product.n);
	put_bytes(&w, call_field("put_product"), put.b, put.n);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_UTF8);
	assert_string_equal(bad.field, "product.name");
}

/* Bytes of n characters 'x'. */
static void xs(char *s, size_t n)
{
	memset(s, 'x', n);
}

static void test_bounds(void **state)
{
	static const struct {
		const char *call, *field;
		size_t max;
	} cases[] = {
		{ "create_vendor", "name", LIMIT_NAME_BYTES },
		{ "create_offer", "customer_id", LIMIT_CUSTOMER_BYTES },
		{ "create_offer", "sku", LIMIT_SKU_BYTES },
		{ "submit_payment", "note", LIMIT_NOTE_BYTES },
		{ "review_payment", "note", LIMIT_NOTE_BYTES },
		{ "revoke_api_key", "key_id", LIMIT_TEXT_BYTES },
		{ "authenticate", "api_key", LIMIT_TEXT_BYTES },
		{ "list_products", "page_token", LIMIT_TEXT_BYTES },
	};
	static char s[LIMIT_NOTE_BYTES + 2];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wirestr_bad bad;
		xs(s, cases[i].max + 1);
		buf w = request_with(cases[i].call, cases[i].field, s, cases[i].max);
		if (check(&w, &bad) != WIRESTR_OK)
			fail_msg("%s.%s: %zu bytes refused", cases[i].call, cases[i].field,
				 cases[i].max);
		w = request_with(cases[i].call, cases[i].field, s, cases[i].max + 1);
		if (check(&w, &bad) != WIRESTR_TOO_LONG)
			fail_msg("%s.%s: %zu bytes accepted", cases[i].call, cases[i].field,
				 cases[i].max + 1);
		assert_string_equal(bad.field, cases[i].field);
		assert_int_equal(bad.max, cases[i].max);
	}
	/* The envelope's key: 255 bytes, not 256. */
	buf w = { .n = 0 };
	xs(s, 256);
	put_bytes(&w, 2, s, 255);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_OK);
	w.n = 0;
	put_bytes(&w, 2, s, 256);
	assert_int_equal(check(&w, &bad), WIRESTR_TOO_LONG);
	assert_string_equal(bad.field, "idempotency_key");
	assert_int_equal(bad.max, LIMIT_IDEMPOTENCY_KEY_BYTES);
}

static void test_every_occurrence(void **state)
{
	/* protobuf-c keeps the last of two; the first was sent too. */
	buf w = { .n = 0 };
	put_bytes(&w, 2, "\xc0\x80", 2); /* an overlong NUL */
	put_bytes(&w, 2, "good", 4);
	put_bytes(&w, call_field("ping"), "", 0);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_UTF8);
	assert_string_equal(bad.field, "idempotency_key");
}

static void test_unknown_and_other_wire_types(void **state)
{
	buf w = { .n = 0 };
	/* An unknown length-delimited field is never read by the server. */
	put_bytes(&w, 999, "\xff\x00", 2);
	put_varint(&w, 998 << 3 | 0); /* varint */
	put_varint(&w, UINT64_MAX);
	put_varint(&w, 997 << 3 | 1); /* 64-bit */
	memset(w.b + w.n, 0xff, 8);
	w.n += 8;
	put_varint(&w, 996 << 3 | 5); /* 32-bit */
	memset(w.b + w.n, 0xff, 4);
	w.n += 4;
	put_bytes(&w, call_field("ping"), "", 0);
	wirestr_bad bad;
	assert_int_equal(check(&w, &bad), WIRESTR_OK);
}

static void test_malformed(void **state)
{
	wirestr_bad bad;
	const uint8_t truncated_len[] = { 2 << 3 | 2, 5, 'a', 'b' };
	const uint8_t truncated_varint[] = { 1 << 3, 0x80 };
	const uint8_t group[] = { 5 << 3 | 3 };
	const uint8_t field_zero[] = { 0 << 3 | 0, 1 };
	assert_int_equal(wirestr_check(&fairpay__v1__request__descriptor, truncated_len,
				       sizeof(truncated_len), &bad),
			 WIRESTR_MALFORMED);
	assert_int_equal(wirestr_check(&fairpay__v1__request__descriptor, truncated_varint,
				       sizeof(truncated_varint), &bad),
			 WIRESTR_MALFORMED);
	assert_int_equal(
		wirestr_check(&fairpay__v1__request__descriptor, group, sizeof(group), &bad),
		WIRESTR_MALFORMED);
	assert_int_equal(wirestr_check(&fairpay__v1__request__descriptor, field_zero,
				       sizeof(field_zero), &bad),
			 WIRESTR_MALFORMED);
	/* A fixed32 field cut short: tag 12 (field 1, type 5) then two bytes. */
	const uint8_t cut32[] = { 1 << 3 | 5, 0, 0 };
	assert_int_equal(
		wirestr_check(&fairpay__v1__request__descriptor, cut32, sizeof(cut32), &bad),
		WIRESTR_MALFORMED);
}

/* Every string field of msg (and of its sub-messages), as path prefix.name:
 * a request whose only bad byte is in that field must be refused naming it. */
static int walk_strings(const ProtobufCMessageDescriptor *d, const char *call,
			const ProtobufCFieldDescriptor *const *chain, size_t depth,
			const char *prefix)
{
	int checked = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char path[WIRESTR_PATH_LEN];
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", f->name);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCFieldDescriptor *next[8];
			assert_true(depth < 7);
			memcpy(next, chain, depth * sizeof(*chain));
			next[depth] = f;
			checked += walk_strings(f->descriptor, call, next, depth + 1, path);
			continue;
		}
		if (f->type != PROTOBUF_C_TYPE_STRING)
			continue;
		/* Innermost first: the bad string, then each enclosing message. */
		buf w = { .n = 0 };
		put_bytes(&w, f->id, "ok\xff", 3);
		for (size_t k = depth; k-- > 0;) {
			buf outer = { .n = 0 };
			put_bytes(&outer, chain[k]->id, w.b, w.n);
			w = outer;
		}
		wirestr_bad bad;
		if (check(&w, &bad) != WIRESTR_UTF8)
			fail_msg("%s: %s is not checked", call, path);
		if (strcmp(bad.field, path) != 0)
			fail_msg("%s: %s named as '%s'", call, path, bad.field);
		checked++;
	}
	return checked;
}

static void test_every_string_field(void **state)
{
	const ProtobufCMessageDescriptor *req = &fairpay__v1__request__descriptor;
	int checked = 0;
	for (unsigned i = 0; i < req->n_fields; i++) {
		const ProtobufCFieldDescriptor *c = &req->fields[i];
		if (c->type == PROTOBUF_C_TYPE_STRING) {
			buf w = { .n = 0 };
			put_bytes(&w, c->id, "\xff", 1);
			wirestr_bad bad;
			assert_int_equal(check(&w, &bad), WIRESTR_UTF8);
			assert_string_equal(bad.field, c->name);
			checked++;
			continue;
		}
		if (c->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		/* A call's fields are named as in its request. */
		const ProtobufCFieldDescriptor *chain[1] = { c };
		checked += walk_strings(c->descriptor, c->name, chain, 1, "");
	}
	/* idempotency_key, and at least the calls' ids, names and notes. */
	assert_true(checked >= 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_request),
		cmocka_unit_test(test_idempotency_key_utf8),
		cmocka_unit_test(test_nul_inside),
		cmocka_unit_test(test_nested_path),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_every_occurrence),
		cmocka_unit_test(test_unknown_and_other_wire_types),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_every_string_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
