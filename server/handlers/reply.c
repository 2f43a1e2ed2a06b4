/* Replies to frames (see reply.h). */
#include "reply.h"

#include <stdlib.h>

#include "log.h"

void reply_send(conn *c, const Fairpay__V1__Response *resp)
{
	size_t len = protobuf_c_message_get_packed_size(&resp->base);
	uint8_t stack[4096];
	uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);
	if (buf == NULL) {
		log_error(c->id, "out of memory for a reply of %zu bytes", len);
		return;
	}
	protobuf_c_message_pack(&resp->base, buf);
	conn_send_frame(c, buf, len);
	if (buf != stack)
		free(buf);
}
