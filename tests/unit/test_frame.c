/* Unit tests of the frame codec: partial and back-to-back frames, the length
 * limits (judged from the header alone, before any body arrives) and a
 * frame_write round trip through a packed Response. */
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

#include <event2/buffer.h>

#include "fairpay.pb-c.h"
#include "frame.h"

#define MAX_FRAME 1024u

/* Build header + body of n bytes (body byte i = seed + i) into a new buffer. */
static uint8_t *make_frame(uint32_t n, uint8_t seed, size_t *total)
{
	uint8_t *f = malloc(FRAME_HEADER_LEN + (size_t)n);
	assert_non_null(f);
	frame_put_header(f, n);
	for (uint32_t i = 0; i < n; i++)
		f[FRAME_HEADER_LEN + i] = (uint8_t)(seed + i);
	*total = FRAME_HEADER_LEN + (size_t)n;
	return f;
}

static void test_put_header_big_endian(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	frame_put_header(hdr, 0x01020304u);
	assert_int_equal(hdr[0], 0x01);
	assert_int_equal(hdr[1], 0x02);
	assert_int_equal(hdr[2], 0x03);
	assert_int_equal(hdr[3], 0x04);

	uint32_t len = 0;
	frame_put_header(hdr, 0x00000300u);
	assert_int_equal(frame_parse_header(hdr, sizeof(hdr), MAX_FRAME, &len), FRAME_NEED_MORE);
	assert_int_equal(len, 0x300);
}

static void test_parse_header_short(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN] = { 0, 0, 0, 5 };
	uint32_t len = 0;
	for (size_t avail = 0; avail < FRAME_HEADER_LEN; avail++)
		assert_int_equal(frame_parse_header(hdr, avail, MAX_FRAME, &len), FRAME_NEED_MORE);

	uint8_t whole[FRAME_HEADER_LEN + 5] = { 0, 0, 0, 5, 1, 2, 3, 4, 5 };
	assert_int_equal(frame_parse_header(whole, sizeof(whole) - 1, MAX_FRAME, &len),
			 FRAME_NEED_MORE);
	assert_int_equal(len, 5);
	assert_int_equal(frame_parse_header(whole, sizeof(whole), MAX_FRAME, &len), FRAME_OK);
	assert_int_equal(len, 5);
}

static void test_header_split_byte_by_byte(void **state)
{
	size_t total;
	uint8_t *f = make_frame(10, 0x40, &total);
	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	const uint8_t *body = NULL;
	uint32_t len = 0;

	for (size_t i = 0; i < total; i++) {
		assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
		assert_int_equal(evbuffer_add(in, f + i, 1), 0);
	}
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_OK);
	assert_int_equal(len, 10);
	assert_memory_equal(body, f + FRAME_HEADER_LEN, 10);
	frame_consume(in, len);
	assert_int_equal(evbuffer_get_length(in), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);

	evbuffer_free(in);
	free(f);
}

static void test_body_split(void **state)
{
	size_t total;
	uint8_t *f = make_frame(300, 7, &total);
	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	const uint8_t *body = NULL;
	uint32_t len = 0;

	/* Header and a third of the body, then the next third, then the rest:
	 * each piece lands in its own evbuffer chain. */
	assert_int_equal(evbuffer_add(in, f, FRAME_HEADER_LEN + 100), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_add(in, f + FRAME_HEADER_LEN + 100, 100), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_add(in, f + FRAME_HEADER_LEN + 200, 99), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_add(in, f + total - 1, 1), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_OK);
	assert_int_equal(len, 300);
	assert_memory_equal(body, f + FRAME_HEADER_LEN, 300);
	frame_consume(in, len);
	assert_int_equal(evbuffer_get_length(in), 0);

	evbuffer_free(in);
	free(f);
}

static void test_several_frames_in_one_buffer(void **state)
{
	const uint32_t sizes[] = { 1, 17, 200, 3, MAX_FRAME };
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	uint8_t *frames[5];
	size_t totals[5];

	for (size_t i = 0; i < n; i++) {
		frames[i] = make_frame(sizes[i], (uint8_t)(i * 31), &totals[i]);
		assert_int_equal(evbuffer_add(in, frames[i], totals[i]), 0);
	}
	/* Half of a sixth frame trails the others. */
	size_t tail_total;
	uint8_t *tail = make_frame(50, 0x99, &tail_total);
	assert_int_equal(evbuffer_add(in, tail, 20), 0);

	for (size_t i = 0; i < n; i++) {
		const uint8_t *body = NULL;
		uint32_t len = 0;
		assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_OK);
		assert_int_equal(len, sizes[i]);
		assert_memory_equal(body, frames[i] + FRAME_HEADER_LEN, sizes[i]);
		frame_consume(in, len);
	}
	const uint8_t *body = NULL;
	uint32_t len = 0;
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_get_length(in), 20);
	assert_int_equal(evbuffer_add(in, tail + 20, tail_total - 20), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_OK);
	assert_int_equal(len, 50);
	assert_memory_equal(body, tail + FRAME_HEADER_LEN, 50);
	frame_consume(in, len);
	assert_int_equal(evbuffer_get_length(in), 0);

	for (size_t i = 0; i < n; i++)
		free(frames[i]);
	free(tail);
	evbuffer_free(in);
}

static void test_length_zero_is_empty(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN] = { 0, 0, 0, 0 };
	uint32_t len = 99;
	assert_int_equal(frame_parse_header(hdr, sizeof(hdr), MAX_FRAME, &len), FRAME_EMPTY);

	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	const uint8_t *body = NULL;
	/* The header alone decides, whatever follows it. */
	assert_int_equal(evbuffer_add(in, hdr, sizeof(hdr)), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_EMPTY);
	assert_int_equal(evbuffer_add(in, "\x00\x00\x00\x01x", 5), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_EMPTY);
	evbuffer_free(in);
}

static void test_max_frame_exactly(void **state)
{
	size_t total;
	uint8_t *f = make_frame(MAX_FRAME, 1, &total);
	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	const uint8_t *body = NULL;
	uint32_t len = 0;

	assert_int_equal(evbuffer_add(in, f, FRAME_HEADER_LEN), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_add(in, f + FRAME_HEADER_LEN, MAX_FRAME), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_OK);
	assert_int_equal(len, MAX_FRAME);
	assert_memory_equal(body, f + FRAME_HEADER_LEN, MAX_FRAME);
	frame_consume(in, len);
	assert_int_equal(evbuffer_get_length(in), 0);

	evbuffer_free(in);
	free(f);
}

static void test_max_frame_plus_one_from_header_alone(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	uint32_t len = 0;
	frame_put_header(hdr, MAX_FRAME + 1);
	assert_int_equal(frame_parse_header(hdr, sizeof(hdr), MAX_FRAME, &len), FRAME_TOO_LARGE);

	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	const uint8_t *body = NULL;
	/* Only the 4-byte header has arrived: the verdict must not wait for the
	 * body. */
	assert_int_equal(evbuffer_add(in, hdr, sizeof(hdr)), 0);
	assert_int_equal(frame_take(in, MAX_FRAME, &body, &len), FRAME_TOO_LARGE);
	/* Three header bytes are not enough to judge. */
	struct evbuffer *partial = evbuffer_new();
	assert_non_null(partial);
	assert_int_equal(evbuffer_add(partial, hdr, 3), 0);
	assert_int_equal(frame_take(partial, MAX_FRAME, &body, &len), FRAME_NEED_MORE);
	evbuffer_free(partial);
	evbuffer_free(in);
}

static void test_length_all_ones(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN] = { 0xFF, 0xFF, 0xFF, 0xFF };
	uint32_t len = 0;
	assert_int_equal(frame_parse_header(hdr, sizeof(hdr), MAX_FRAME, &len), FRAME_TOO_LARGE);
	assert_int_equal(frame_parse_header(hdr, sizeof(hdr), 16u << 20, &len), FRAME_TOO_LARGE);

	struct evbuffer *in = evbuffer_new();
	assert_non_null(in);
	const uint8_t *body = NULL;
	assert_int_equal(evbuffer_add(in, hdr, sizeof(hdr)), 0);
	assert_int_equal(evbuffer_add(in, "abcdefgh", 8), 0);
	assert_int_equal(frame_take(in, 65536, &body, &len), FRAME_TOO_LARGE);
	evbuffer_free(in);
}

static void test_write_round_trip(void **state)
{
	Fairpay__V1__Status st = FAIRPAY__V1__STATUS__INIT;
	st.code = FAIRPAY__V1__CODE__NOT_FOUND;
	st.message = "no such vendor";
	st.field = "vendor_id";
	Fairpay__V1__PingResponse ping = FAIRPAY__V1__PING_RESPONSE__INIT;
	ping.server_version = "9.8.7";
	ping.server_time_unix_ms = 1700000000123;
	Fairpay__V1__Response resp = FAIRPAY__V1__RESPONSE__INIT;
	resp.id = 0x1122334455667788ull;
	resp.status = &st;
	resp.replayed = 1;
	resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_PING;
	resp.ping = &ping;

	struct evbuffer *out = evbuffer_new();
	assert_non_null(out);
	size_t sizes[2];
	sizes[0] = fairpay__v1__response__get_packed_size(&resp);
	assert_int_equal(frame_write(out, &resp.base), 0);
	resp.id = 2;
	sizes[1] = fairpay__v1__response__get_packed_size(&resp);
	assert_int_equal(frame_write(out, &resp.base), 0);
	assert_true(sizes[1] > 0 && sizes[0] > sizes[1]);

	const uint8_t *body = NULL;
	uint32_t len = 0;
	uint64_t want_ids[2] = { 0x1122334455667788ull, 2 };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(frame_take(out, 65536, &body, &len), FRAME_OK);
		assert_int_equal(len, sizes[i]);
		Fairpay__V1__Response *got = fairpay__v1__response__unpack(NULL, len, body);
		assert_non_null(got);
		assert_int_equal(got->id, want_ids[i]);
		assert_non_null(got->status);
		assert_int_equal(got->status->code, FAIRPAY__V1__CODE__NOT_FOUND);
		assert_string_equal(got->status->message, "no such vendor");
		assert_string_equal(got->status->field, "vendor_id");
		assert_true(got->replayed);
		assert_int_equal(got->result_case, FAIRPAY__V1__RESPONSE__RESULT_PING);
		assert_string_equal(got->ping->server_version, "9.8.7");
		assert_int_equal(got->ping->server_time_unix_ms, 1700000000123);
		fairpay__v1__response__free_unpacked(got, NULL);
		frame_consume(out, len);
	}
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

static void test_write_header_matches_packed_size(void **state)
{
	Fairpay__V1__Status st = FAIRPAY__V1__STATUS__INIT;
	st.code = FAIRPAY__V1__CODE__OK;
	Fairpay__V1__Response resp = FAIRPAY__V1__RESPONSE__INIT;
	resp.id = 5;
	resp.status = &st;

	struct evbuffer *out = evbuffer_new();
	assert_non_null(out);
	assert_int_equal(frame_write(out, &resp.base), 0);
	size_t packed = fairpay__v1__response__get_packed_size(&resp);
	assert_int_equal(evbuffer_get_length(out), FRAME_HEADER_LEN + packed);
	uint8_t hdr[FRAME_HEADER_LEN], want[FRAME_HEADER_LEN];
	assert_int_equal(evbuffer_copyout(out, hdr, sizeof(hdr)), sizeof(hdr));
	frame_put_header(want, (uint32_t)packed);
	assert_memory_equal(hdr, want, sizeof(hdr));
	evbuffer_free(out);
}

static void test_write_refuses_empty_message(void **state)
{
	/* A message that packs to 0 bytes would go out as a length-0 frame, which
	 * the peer must treat as a protocol error. */
	Fairpay__V1__PingRequest empty = FAIRPAY__V1__PING_REQUEST__INIT;
	struct evbuffer *out = evbuffer_new();
	assert_non_null(out);
	assert_int_equal(frame_write(out, &empty.base), -1);
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_header_big_endian),
		cmocka_unit_test(test_parse_header_short),
		cmocka_unit_test(test_header_split_byte_by_byte),
		cmocka_unit_test(test_body_split),
		cmocka_unit_test(test_several_frames_in_one_buffer),
		cmocka_unit_test(test_length_zero_is_empty),
		cmocka_unit_test(test_max_frame_exactly),
		cmocka_unit_test(test_max_frame_plus_one_from_header_alone),
		cmocka_unit_test(test_length_all_ones),
		cmocka_unit_test(test_write_round_trip),
		cmocka_unit_test(test_write_header_matches_packed_size),
		cmocka_unit_test(test_write_refuses_empty_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
