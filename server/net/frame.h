/* frame_: the length-prefixed framing of PROTOCOL.md.
 *
 * A frame is a 4-byte big-endian length L, then L bytes of a protobuf message,
 * with 1 <= L <= max_frame. The length is checked before any byte of the body
 * is buffered or allocated for. */
#ifndef FP_FRAME_H
#define FP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <protobuf-c/protobuf-c.h>

#define FRAME_HEADER_LEN 4

typedef enum frame_result {
	FRAME_NEED_MORE = 0, /* not a whole frame yet */
	FRAME_OK,            /* a whole frame is at the front */
	FRAME_EMPTY,         /* length 0: a protocol error */
	FRAME_TOO_LARGE      /* length over max_frame: a protocol error */
} frame_result;

/* Read a frame header from avail bytes at data; on FRAME_OK or FRAME_NEED_MORE
 * with a whole header, *len is the body length. */
frame_result frame_parse_header(const uint8_t *data, size_t avail, uint32_t max_frame,
				uint32_t *len);

/* Look at the front of in: on FRAME_OK, *body points at the contiguous body
 * of *len bytes, valid until frame_consume(). */
frame_result frame_take(struct evbuffer *in, uint32_t max_frame, const uint8_t **body,
			uint32_t *len);

/* Drop the frame returned by frame_take(). */
void frame_consume(struct evbuffer *in, uint32_t len);

/* Append msg to out as one frame; -1 if it cannot be packed. */
int frame_write(struct evbuffer *out, const ProtobufCMessage *msg)
	__attribute__((warn_unused_result));

/* Append body (len bytes, at least 1) to out as one frame; -1 on failure. */
int frame_write_bytes(struct evbuffer *out, const uint8_t *body, size_t len)
	__attribute__((warn_unused_result));

/* Write a frame header for len into hdr. */
void frame_put_header(uint8_t hdr[FRAME_HEADER_LEN], uint32_t len);

#endif
