/* libFuzzer target: a client's byte stream through the production decode
 * path, frame_take() / frame_consume() and fairpay__v1__request__unpack(),
 * in the order conn_process() calls them.
 *
 * The input is what the client sends. It arrives in pieces of varying size,
 * each in its own evbuffer chain (so frame_take() must pull bodies that span
 * chains together), and after each piece the frames now whole are taken, as
 * a read callback would. A length-0 or over-limit frame, or a body that is
 * not a Request naming a call, ends the stream as it ends the connection.
 * Checked against a model of the header written here from PROTOCOL.md:
 *   - frame_take()'s verdict and length agree with the model; a frame over
 *     max_frame is refused as soon as its 4-byte header is buffered, however
 *     little of its body is there, and nothing is consumed;
 *   - the body it points at is exactly the body the client sent;
 *   - frame_consume() drops exactly the header and the body;
 *   - a decoded Request packs again, and that packing decodes and packs to
 *     the same bytes (idem.c hashes a call's re-packed fields: a retry must
 *     hash alike), but for one quirk of protobuf-c (has_unknown_field_zero). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "fairpay.pb-c.h"
#include "frame.h"

static uint32_t max_frame;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The limit fairpayd runs with unless told otherwise. */
	fp_config cfg;
	cfg_defaults(&cfg);
	max_frame = (uint32_t)cfg.max_frame;
	cfg_free(&cfg);
	return 0;
}

static void check(int ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_frame: invariant broken: %s\n", what);
	abort();
}

/* The header rule of PROTOCOL.md, applied to the avail bytes of the stream
 * not yet consumed. */
static frame_result model(const uint8_t *p, size_t avail, uint32_t *len)
{
	if (avail < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	uint32_t l = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	*len = l;
	if (l == 0)
		return FRAME_EMPTY;
	if (l > max_frame)
		return FRAME_TOO_LARGE;
	return avail - FRAME_HEADER_LEN < l ? FRAME_NEED_MORE : FRAME_OK;
}

/* True when msg or a message inside it kept an unknown field numbered 0.
 * protobuf-c 1.4 refuses a tag of 0 only when its first byte says so: the
 * over-long 0x80 0x00 decodes, is kept as unknown field 0 and packs as
 * 0x00, which it then refuses. The server never decodes what it packed from
 * a request (idem.c only hashes it), so that case is not ours to fail on. */
static int has_unknown_field_zero(const ProtobufCMessage *msg)
{
	for (unsigned i = 0; i < msg->n_unknown_fields; i++)
		if (msg->unknown_fields[i].tag == 0)
			return 1;
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *at = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
			ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)at;
			for (size_t k = 0; k < n; k++)
				if (has_unknown_field_zero(items[k]))
					return 1;
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)msg + f->quantifier_offset) != f->id)
			continue; /* another member of the oneof shares the slot */
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)at;
		if (sub != NULL && has_unknown_field_zero(sub))
			return 1;
	}
	return 0;
}

static void check_round_trip(const Fairpay__V1__Request *req)
{
	size_t n1 = fairpay__v1__request__get_packed_size(req);
	uint8_t *b1 = malloc(n1 + 1);
	check(b1 != NULL, "out of memory");
	check(fairpay__v1__request__pack(req, b1) == n1, "pack wrote another size than announced");
	Fairpay__V1__Request *again = fairpay__v1__request__unpack(NULL, n1, b1);
	if (again == NULL && has_unknown_field_zero(&req->base)) {
		free(b1);
		return;
	}
	check(again != NULL, "a packed Request does not decode");
	check(again->call_case == req->call_case, "the call changed in a round trip");
	size_t n2 = fairpay__v1__request__get_packed_size(again);
	uint8_t *b2 = malloc(n2 + 1);
	check(b2 != NULL, "out of memory");
	check(fairpay__v1__request__pack(again, b2) == n2,
	      "pack wrote another size than announced");
	check(n1 == n2 && memcmp(b1, b2, n1) == 0, "packing is not stable over a round trip");
	fairpay__v1__request__free_unpacked(again, NULL);
	free(b2);
	free(b1);
}

/* Take the whole frames now buffered; false once the connection would be
 * closed. *done counts the stream's bytes consumed so far. */
static int take_frames(struct evbuffer *in, const uint8_t *stream, size_t *done)
{
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		uint32_t want_len = 0;
		frame_result want = model(stream + *done, avail, &want_len);
		const uint8_t *body = NULL;
		uint32_t len = 0;
		frame_result fr = frame_take(in, max_frame, &body, &len);
		check(fr == want, "frame_take disagrees with the header rule");
		if (avail >= FRAME_HEADER_LEN)
			check(len == want_len, "frame_take reports another length than the header");
		if (fr == FRAME_NEED_MORE)
			return 1;
		if (fr == FRAME_EMPTY || fr == FRAME_TOO_LARGE) {
			/* Refused from the header: nothing read past it. */
			check(evbuffer_get_length(in) == avail, "a refused frame consumed bytes");
			return 0;
		}
		check(body != NULL, "FRAME_OK without a body");
		check(memcmp(body, stream + *done + FRAME_HEADER_LEN, len) == 0,
		      "the body is not the bytes the client sent");
		Fairpay__V1__Request *req = fairpay__v1__request__unpack(NULL, len, body);
		frame_consume(in, len);
		check(evbuffer_get_length(in) == avail - FRAME_HEADER_LEN - len,
		      "frame_consume dropped another amount than header + body");
		*done += FRAME_HEADER_LEN + (size_t)len;
		if (req == NULL)
			return 0; /* INVALID_ARGUMENT, close */
		if (req->call_case == FAIRPAY__V1__REQUEST__CALL__NOT_SET) {
			fairpay__v1__request__free_unpacked(req, NULL);
			return 0; /* names no call, close */
		}
		check_round_trip(req);
		fairpay__v1__request__free_unpacked(req, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Piece sizes a TLS read might deliver, from a byte to more than a
	 * frame; the cycle restarts with each input, so runs replay alike. */
	static const size_t pieces[] = { 1, 3, 4, 5, 64, 1000, 16384, 2, 70000 };
	struct evbuffer *in = evbuffer_new();
	check(in != NULL, "out of memory");
	size_t fed = 0, done = 0, k = 0;
	while (fed < size) {
		size_t n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
		if (n > size - fed)
			n = size - fed;
		/* A reference, not a copy: each piece is its own chain. */
		check(evbuffer_add_reference(in, data + fed, n, NULL, NULL) == 0, "evbuffer_add");
		fed += n;
		if (!take_frames(in, data, &done))
			break;
	}
	check(done <= fed, "consumed more than was sent");
	evbuffer_free(in);
	return 0;
}
