/* Unit tests of deeply nested input: protobuf-c 1.4 has no recursion limit,
 * and our schema no recursive message, so a decoder descends at most as deep
 * as the schema goes and keeps anything deeper as one opaque unknown field.
 * A frame of 60000 bytes of nested length-delimited fields must decode (or
 * be refused) quickly and without crashing, and a frame over the limit must
 * be refused from its 4-byte header before anything is unpacked. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "config.h"
#include "fairpay.pb-c.h"
#include "frame.h"

#define NESTED_LEN 60000u
#define TAG_PING 0x52 /* Request.ping: field 10, length-delimited */
/* Generous for a sanitizer build on a busy machine; a decoder that
 * recursed or went quadratic would take far longer, or crash. */
#define QUICK_NS 1000000000LL

static uint32_t default_max_frame(void)
{
	fp_config cfg;
	cfg_defaults(&cfg);
	uint32_t max = (uint32_t)cfg.max_frame;
	cfg_free(&cfg);
	return max;
}

static size_t varint_len(size_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Fill buf[0..size) with tag-length fields, each the whole content of the
 * one outside it, around a few zero bytes: about size / 3 levels deep. */
static void nest(uint8_t *buf, size_t size, uint8_t tag)
{
	size_t filler = 0;
	for (;; filler++) {
		size_t s = filler;
		while (s < size)
			s += 1 + varint_len(s);
		if (s == size)
			break;
	}
	size_t pos = size - filler;
	memset(buf + pos, 0, filler);
	size_t content = filler;
	while (pos > 0) {
		size_t vl = varint_len(content);
		pos -= 1 + vl;
		buf[pos] = tag;
		size_t v = content;
		for (size_t i = 0; i < vl; i++, v >>= 7)
			buf[pos + 1 + i] = (uint8_t)((v & 0x7f) | (i + 1 < vl ? 0x80 : 0));
		content += 1 + vl;
	}
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Unpack body as conn_process() does, and check that it was quick. */
static Fairpay__V1__Request *unpack_quickly(const uint8_t *body, size_t len)
{
	long long t0 = now_ns();
	Fairpay__V1__Request *req = fairpay__v1__request__unpack(NULL, len, body);
	long long took = now_ns() - t0;
	assert_true(took < QUICK_NS);
	return req;
}

/* Header and body in one buffer, as a client sends them. */
static struct evbuffer *frame_of(const uint8_t *body, uint32_t len)
{
	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	uint8_t hdr[FRAME_HEADER_LEN];
	frame_put_header(hdr, len);
	assert_int_equal(evbuffer_add(in, hdr, sizeof(hdr)), 0);
	assert_int_equal(evbuffer_add(in, body, len), 0);
	return in;
}

static void test_nested_frame_decodes_quickly(void **state)
{
	uint32_t max_frame = default_max_frame();
	assert_true(NESTED_LEN <= max_frame); /* the frame itself is allowed */
	uint8_t *body = malloc(NESTED_LEN);
	assert_non_null(body);
	nest(body, NESTED_LEN, TAG_PING);
	struct evbuffer *in = frame_of(body, NESTED_LEN);

	const uint8_t *got = NULL;
	uint32_t len = 0;
	assert_int_equal(frame_take(in, max_frame, &got, &len), FRAME_OK);
	assert_int_equal(len, NESTED_LEN);
	Fairpay__V1__Request *req = unpack_quickly(got, len);
	frame_consume(in, len);
	assert_int_equal(evbuffer_get_length(in), 0);

	/* Request.ping is the one level the schema has; the rest is a single
	 * unknown field of PingRequest, kept whole and not descended into. */
	assert_non_null(req);
	assert_int_equal(req->call_case, FAIRPAY__V1__REQUEST__CALL_PING);
	assert_non_null(req->ping);
	assert_int_equal(req->ping->base.n_unknown_fields, 1);
	assert_int_equal(req->ping->base.unknown_fields[0].tag, 10);
	assert_true(req->ping->base.unknown_fields[0].len > NESTED_LEN - 16);
	fairpay__v1__request__free_unpacked(req, NULL);
	evbuffer_free(in);
	free(body);
}

static void test_repeated_tag_bytes_refused_quickly(void **state)
{
	/* 0x52 0x52 ...: every level claims 82 bytes; the second level has
	 * only 80 left, so the Request does not decode. */
	uint8_t *body = malloc(NESTED_LEN);
	assert_non_null(body);
	memset(body, TAG_PING, NESTED_LEN);
	assert_null(unpack_quickly(body, NESTED_LEN));

	/* Lengths that claim more than the frame holds, at every level. */
	for (size_t i = 0; i + 4 <= NESTED_LEN; i += 4) {
		body[i] = TAG_PING;
		body[i + 1] = 0xff;
		body[i + 2] = 0xff;
		body[i + 3] = 0x03;
	}
	assert_null(unpack_quickly(body, NESTED_LEN));
	free(body);
}

static void test_nested_under_every_call(void **state)
{
	/* The same nesting under each call's field number: the decoder goes
	 * into that call's message, and no deeper than the schema does. */
	uint8_t *body = malloc(NESTED_LEN);
	assert_non_null(body);
	const ProtobufCMessageDescriptor *d = &fairpay__v1__request__descriptor;
	unsigned calls = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->id > 15)
			continue; /* a one-byte tag is needed for this layout */
		nest(body, NESTED_LEN, (uint8_t)(f->id << 3 | 2));
		Fairpay__V1__Request *req = unpack_quickly(body, NESTED_LEN);
		/* Whether it decodes depends on the call's own fields; it must
		 * only come back, and be freed. */
		fairpay__v1__request__free_unpacked(req, NULL);
		calls++;
	}
	assert_true(calls >= 6);
	free(body);
}

static void test_over_limit_refused_from_header(void **state)
{
	uint32_t max_frame = default_max_frame();
	const uint32_t sizes[] = { max_frame + 1, NESTED_LEN + max_frame, UINT32_MAX };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct evbuffer *in = evbuffer_new();
		assert_non_null(in);
		uint8_t hdr[FRAME_HEADER_LEN];
		frame_put_header(hdr, sizes[k]);
		assert_int_equal(evbuffer_add(in, hdr, sizeof(hdr)), 0);
		const uint8_t *body = NULL;
		uint32_t len = 0;
		/* Only the header is buffered: the verdict needs no more. */
		assert_int_equal(frame_take(in, max_frame, &body, &len), FRAME_TOO_LARGE);
		assert_int_equal(len, sizes[k]);
		assert_null(body);
		assert_int_equal(evbuffer_get_length(in), FRAME_HEADER_LEN);
		evbuffer_free(in);
	}
}

static void test_nested_over_limit_refused_before_unpack(void **state)
{
	/* The nesting in a frame one byte over a limit just below it: refused
	 * whole, body untouched, before any decoding could start. */
	uint8_t *body = malloc(NESTED_LEN);
	assert_non_null(body);
	nest(body, NESTED_LEN, TAG_PING);
	struct evbuffer *in = frame_of(body, NESTED_LEN);
	const uint8_t *got = NULL;
	uint32_t len = 0;
	assert_int_equal(frame_take(in, NESTED_LEN - 1, &got, &len), FRAME_TOO_LARGE);
	assert_int_equal(len, NESTED_LEN);
	assert_null(got);
	assert_int_equal(evbuffer_get_length(in), FRAME_HEADER_LEN + NESTED_LEN);
	evbuffer_free(in);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_frame_decodes_quickly),
		cmocka_unit_test(test_repeated_tag_bytes_refused_quickly),
		cmocka_unit_test(test_nested_under_every_call),
		cmocka_unit_test(test_over_limit_refused_from_header),
		cmocka_unit_test(test_nested_over_limit_refused_before_unpack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
