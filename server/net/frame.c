/* Frame codec on evbuffers (see frame.h). */
#include "frame.h"

#include <stdlib.h>

frame_result frame_parse_header(const uint8_t *data, size_t avail, uint32_t max_frame,
				uint32_t *len)
{
	if (avail < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	uint32_t l = ((uint32_t)data[0] << 24) | ((uint32_t)data[1] << 16) |
		     ((uint32_t)data[2] << 8) | (uint32_t)data[3];
	*len = l;
	if (l == 0)
		return FRAME_EMPTY;
	if (l > max_frame)
		return FRAME_TOO_LARGE;
	if (avail - FRAME_HEADER_LEN < l)
		return FRAME_NEED_MORE;
	return FRAME_OK;
}

frame_result frame_take(struct evbuffer *in, uint32_t max_frame, const uint8_t **body,
			uint32_t *len)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t avail = evbuffer_get_length(in);
	if (avail < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
		return FRAME_NEED_MORE;
	/* Parse the header alone first: the body's size is judged before the
	 * buffer is made contiguous for it. */
	frame_result r = frame_parse_header(hdr, sizeof(hdr), max_frame, len);
	if (r != FRAME_NEED_MORE)
		return r;
	if (avail - FRAME_HEADER_LEN < *len)
		return FRAME_NEED_MORE;
	unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + *len));
	if (p == NULL)
		return FRAME_NEED_MORE;
	*body = p + FRAME_HEADER_LEN;
	return FRAME_OK;
}

void frame_consume(struct evbuffer *in, uint32_t len)
{
	evbuffer_drain(in, FRAME_HEADER_LEN + (size_t)len);
}

void frame_put_header(uint8_t hdr[FRAME_HEADER_LEN], uint32_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

int frame_write(struct evbuffer *out, const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg);
	if (size == 0 || size > UINT32_MAX - FRAME_HEADER_LEN) {
		/* An all-default Response packs to 0 bytes, which the peer
		 * would read as a protocol error; our responses always carry
		 * a status, so this is a bug, not input. */
		return -1;
	}
	struct evbuffer_iovec vec;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_LEN + size), &vec, 1) < 1)
		return -1;
	uint8_t *p = vec.iov_base;
	frame_put_header(p, (uint32_t)size);
	protobuf_c_message_pack(msg, p + FRAME_HEADER_LEN);
	vec.iov_len = FRAME_HEADER_LEN + size;
	return evbuffer_commit_space(out, &vec, 1) == 0 ? 0 : -1;
}

int frame_write_bytes(struct evbuffer *out, const uint8_t *body, size_t len)
{
	if (len == 0 || len > UINT32_MAX - FRAME_HEADER_LEN)
		return -1;
	uint8_t hdr[FRAME_HEADER_LEN];
	frame_put_header(hdr, (uint32_t)len);
	if (evbuffer_expand(out, FRAME_HEADER_LEN + len) != 0 ||
	    evbuffer_add(out, hdr, sizeof(hdr)) != 0)
		return -1;
	return evbuffer_add(out, body, len);
}
