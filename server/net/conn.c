/* Client connections: TLS transport, framing, backpressure and the
 * connection state machine (see server.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "clock.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "tally.h"
#include "tls.h"

/* How long a closing connection waits for the client's EOF, so that the
 * last reply is not lost to a reset. */
#define CONN_LINGER_MS 1000

static const char *const state_names[] = { "HANDSHAKE", "OPEN", "CLOSING", "DRAINING", "CLOSED" };

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_process(conn *c);

static void arm_timer(conn *c, int64_t delay_ms)
{
	if (delay_ms < 1)
		delay_ms = 1;
	struct timeval tv = { (time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000) };
	event_add(c->timer, &tv);
}

bool conn_alive(const conn *c)
{
	/* CLOSING has sent its last reply: a protocol error or the third
	 * failed authentication. */
	return c->bev != NULL && (c->state == CONN_OPEN || c->state == CONN_DRAINING);
}

static void reap_later(conn *c)
{
	srv *s = c->srv;
	if (c->reap_queued)
		return;
	c->reap_queued = true;
	c->reap_next = s->reap;
	s->reap = c;
	event_active(s->reaper, EV_TIMEOUT, 0);
}

void conn_set_state(conn *c, conn_state next)
{
	if (c->state == next || c->state == CONN_CLOSED)
		return;
	log_debug(c->id, "state %s -> %s", state_names[c->state], state_names[next]);
	if (c->state == CONN_HANDSHAKE)
		metrics_add(next == CONN_OPEN ? METRIC_TLS_HANDSHAKES : METRIC_TLS_FAILURES, 1);
	c->state = next;
	if (next != CONN_CLOSED)
		return;
	srv *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->nconns--;
	metrics_set(METRIC_CONNECTIONS, s->nconns);
	tally_del(s->sources, c->source);
	if (c->role == ROLE_NONE)
		s->nunauth--;
	else
		tally_del(s->keys, c->key_id);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	}
	event_del(c->resume);
	event_del(c->timer);
	/* The reaper closes the socket on its next pass even while calls are
	 * in flight; the struct goes when the last reference is dropped. */
	reap_later(c);
	conn_unref(c); /* the list's reference */
}

void conn_ref(conn *c)
{
	c->refs++;
}

void conn_unref(conn *c)
{
	if (--c->refs == 0)
		reap_later(c);
}

static void rearm_timer(conn *c);

static bool set_identity(conn *c, conn_role role, const char *key_id, const char *vendor_id)
{
	srv *s = c->srv;
	if (c->state == CONN_CLOSED)
		return true; /* its counts are gone already; a reply has nowhere to go */
	bool was_anonymous = c->role == ROLE_NONE;
	bool same_key = !was_anonymous && role != ROLE_NONE && strcmp(c->key_id, key_id) == 0;
	if (role != ROLE_NONE && !same_key &&
	    !tally_add(s->keys, key_id, (unsigned)s->cfg->max_connections_per_key)) {
		stats_hit(&s->stats, STAT_KEY_CAP_REFUSALS, c->id);
		return false;
	}
	if (!was_anonymous && !same_key)
		tally_del(s->keys, c->key_id);
	if (was_anonymous && role != ROLE_NONE)
		s->nunauth--;
	else if (!was_anonymous && role == ROLE_NONE)
		s->nunauth++;
	c->role = role;
	snprintf(c->key_id, sizeof(c->key_id), "%s", key_id);
	snprintf(c->vendor_id, sizeof(c->vendor_id), "%s", vendor_id);
	if (role == ROLE_NONE && !was_anonymous) {
		/* A fresh deadline to authenticate again. */
		c->unauth_since_ms = clock_mono_ms();
		if (c->state == CONN_OPEN)
			rearm_timer(c);
	}
	return true;
}

bool conn_set_identity(conn *c, conn_role role, const char *key_id, const char *vendor_id)
{
	return set_identity(c, role, key_id, vendor_id);
}

void conn_drop_identity(conn *c)
{
	set_identity(c, ROLE_NONE, "", ""); /* no cap on being nobody */
}

void conn_reserve(conn *c, size_t bytes)
{
	c->reserved += bytes;
}

void conn_release(conn *c, size_t bytes)
{
	c->reserved = bytes < c->reserved ? c->reserved - bytes : 0;
}

void conn_destroy(conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->resume != NULL)
		event_free(c->resume);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

void conn_reap(srv *s)
{
	conn *list = s->reap;
	s->reap = NULL;
	while (list != NULL) {
		conn *c = list;
		list = c->reap_next;
		c->reap_next = NULL;
		c->reap_queued = false;
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		if (c->refs == 0)
			conn_destroy(c);
	}
}

static void set_reading(conn *c, bool on)
{
	if (c->bev == NULL || c->reading == on)
		return;
	c->reading = on;
	if (on)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

/* Read from the socket only while the client is within its limits: calls in
 * flight (pipelining depth) and replies not yet written (slow reader). */
static void update_reading(conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	const fp_config *cfg = c->srv->cfg;
	size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
	bool over = out >= (size_t)cfg->max_output_bytes;
	bool budget_spent = out + c->reserved >= (size_t)cfg->max_output_bytes;
	if (over && c->stuck_since_ms == 0) {
		/* A client that does not read its replies: pause it, and
		 * give it --slow-reader-timeout-ms to catch up. */
		c->stuck_since_ms = clock_mono_ms();
		stats_hit(&c->srv->stats, STAT_SLOW_READER_PAUSES, c->id);
		arm_timer(c, cfg->slow_reader_timeout_ms);
	} else if (!over) {
		c->stuck_since_ms = 0;
	}
	if (c->inflight < (unsigned)cfg->max_inflight)
		c->inflight_paused = false;
	set_reading(c, c->inflight < (unsigned)cfg->max_inflight && !budget_spent);
}

static void linger_read_cb(struct bufferevent *bev, void *arg)
{
	/* Whatever the client still sends is discarded. */
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

/* Everything queued is written: say goodbye and wait briefly for the
 * client's EOF before closing, so a reset does not eat the last reply. */
static void begin_linger(conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (ssl != NULL)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	struct timeval tv = { CONN_LINGER_MS / 1000, (CONN_LINGER_MS % 1000) * 1000 };
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_setcb(c->bev, linger_read_cb, NULL, conn_event_cb, c);
	c->reading = false;
	set_reading(c, true);
}

/* Close a CLOSING or DRAINING connection once nothing is left to do. */
static void maybe_finish(conn *c)
{
	if (c->state != CONN_CLOSING && c->state != CONN_DRAINING)
		return;
	if (c->reading)
		return; /* already lingering */
	if (c->state == CONN_DRAINING && c->inflight > 0)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return; /* conn_write_cb comes back when it is written */
	begin_linger(c);
}

void conn_close_after_flush(conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_HANDSHAKE) {
		conn_set_state(c, CONN_CLOSED);
		return;
	}
	set_reading(c, false);
	conn_set_state(c, CONN_CLOSING);
	maybe_finish(c);
}

void conn_begin_drain(conn *c)
{
	switch (c->state) {
	case CONN_HANDSHAKE:
		conn_set_state(c, CONN_CLOSED);
		break;
	case CONN_OPEN:
		set_reading(c, false);
		conn_set_state(c, CONN_DRAINING);
		/* Requests already received are still answered. */
		event_active(c->resume, EV_TIMEOUT, 0);
		maybe_finish(c);
		break;
	default:
		break;
	}
}

void conn_send_frame(conn *c, const uint8_t *body, size_t len)
{
	if (!conn_alive(c))
		return; /* the client went away; the reply has nowhere to go */
	if (frame_write_bytes(bufferevent_get_output(c->bev), body, len) != 0)
		log_error(c->id, "cannot frame %zu bytes", len);
	c->last_active_ms = clock_mono_ms();
}

struct ssl_st *conn_ssl(conn *c)
{
	return bufferevent_openssl_get_ssl(c->bev);
}

void conn_protocol_error(conn *c, int code, const char *message)
{
	log_info(c->id, "protocol error from %s: %s; closing", c->peer, message);
	stats_hit(&c->srv->stats, STAT_PROTOCOL_ERRORS, c->id);
	c->srv->handler->on_error(c, code, message);
}

void conn_call_done(conn *c)
{
	c->inflight--;
	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_OPEN || c->state == CONN_DRAINING) {
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) >= FRAME_HEADER_LEN)
			event_active(c->resume, EV_TIMEOUT, 0);
		update_reading(c);
	}
	maybe_finish(c);
}

static void conn_process(conn *c)
{
	if (c->state != CONN_OPEN && c->state != CONN_DRAINING)
		return;
	const fp_config *cfg = c->srv->cfg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int handled = 0;
	while (c->state == CONN_OPEN || c->state == CONN_DRAINING) {
		/* Resumed by conn_call_done() or the write callback. A
		 * pending Authenticate is a barrier: requests pipelined behind
		 * it must see its outcome. */
		if (c->auth_pending ||
		    evbuffer_get_length(out) + c->reserved >= (size_t)cfg->max_output_bytes)
			break;
		if (c->inflight >= (unsigned)cfg->max_inflight) {
			if (!c->inflight_paused) {
				c->inflight_paused = true;
				stats_hit(&c->srv->stats, STAT_INFLIGHT_PAUSES, c->id);
			}
			break;
		}
		if (handled >= cfg->frames_per_wakeup) {
			/* Fairness: let other connections run, then go on. */
			stats_hit(&c->srv->stats, STAT_WAKEUP_YIELDS, c->id);
			event_active(c->resume, EV_TIMEOUT, 0);
			break;
		}
		const uint8_t *body = NULL;
		uint32_t len = 0;
		frame_result fr = frame_take(in, (uint32_t)cfg->max_frame, &body, &len);
		if (fr == FRAME_NEED_MORE)
			break;
		if (fr == FRAME_EMPTY) {
			conn_protocol_error(c, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
					    "frame of length 0");
			return;
		}
		if (fr == FRAME_TOO_LARGE) {
			char msg[128];
			stats_hit(&c->srv->stats, STAT_FRAME_TOO_LARGE, c->id);
			snprintf(msg, sizeof(msg), "frame of %u bytes is over the limit of %lld",
				 len, (long long)cfg->max_frame);
			conn_protocol_error(c, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED, msg);
			return;
		}
		c->last_active_ms = clock_mono_ms();
		/* Counted in flight first: the call may end within on_frame. */
		c->inflight++;
		bool started = c->srv->handler->on_frame(c, body, len);
		frame_consume(in, len);
		if (!started) {
			c->inflight--;
			return;
		}
		handled++;
	}
	update_reading(c);
	maybe_finish(c);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_process(arg);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	conn *c = arg;
	if (c->state == CONN_OPEN) {
		update_reading(c);
		if (evbuffer_get_length(bufferevent_get_input(bev)) >= FRAME_HEADER_LEN)
			event_active(c->resume, EV_TIMEOUT, 0);
	} else if (c->state == CONN_DRAINING) {
		event_active(c->resume, EV_TIMEOUT, 0);
	}
	maybe_finish(c);
}

/* The deadline to authenticate of an unauthenticated connection; INT64_MAX
 * when it has none (authenticated, or an Authenticate in flight). */
static int64_t auth_deadline(const conn *c)
{
	if (c->role != ROLE_NONE || c->auth_pending)
		return INT64_MAX;
	return c->unauth_since_ms + c->srv->cfg->auth_timeout_ms;
}

/* Arm the timer for the earliest deadline of an open connection. */
static void rearm_timer(conn *c)
{
	const fp_config *cfg = c->srv->cfg;
	int64_t now = clock_mono_ms();
	int64_t at = c->last_active_ms + cfg->idle_timeout_ms;
	if (at <= now)
		at = now + cfg->idle_timeout_ms; /* idle but busy: look again later */
	if (c->stuck_since_ms != 0 && c->stuck_since_ms + cfg->slow_reader_timeout_ms < at)
		at = c->stuck_since_ms + cfg->slow_reader_timeout_ms;
	int64_t auth_at = auth_deadline(c);
	if (auth_at < at)
		at = auth_at;
	arm_timer(c, at - now);
}

/* The deadlines of a connection, checked when its timer fires: the
 * handshake's (absolute from accept, so trickled bytes do not extend it),
 * the one to authenticate (absolute too: a Ping does not extend it), then
 * the idle one (reset by whole frames and replies only) and the slow
 * reader's. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;
	const fp_config *cfg = c->srv->cfg;
	int64_t now = clock_mono_ms();
	if (c->state == CONN_HANDSHAKE) {
		stats_hit(&c->srv->stats, STAT_HANDSHAKE_TIMEOUTS, c->id);
		log_info(c->id, "TLS handshake with %s not done in %lld ms; closing", c->peer,
			 (long long)cfg->handshake_timeout_ms);
		conn_set_state(c, CONN_CLOSED);
		return;
	}
	if (c->state != CONN_OPEN && c->state != CONN_DRAINING)
		return;
	if (c->state == CONN_OPEN && now >= auth_deadline(c)) {
		char msg[128];
		stats_hit(&c->srv->stats, STAT_AUTH_TIMEOUTS, c->id);
		log_info(c->id, "%s did not authenticate within %lld ms; closing", c->peer,
			 (long long)cfg->auth_timeout_ms);
		snprintf(msg, sizeof(msg), "not authenticated within %lld ms; closing",
			 (long long)cfg->auth_timeout_ms);
		c->srv->handler->on_error(c, FAIRPAY__V1__CODE__UNAUTHENTICATED, msg);
		return;
	}
	if (c->stuck_since_ms != 0 && now - c->stuck_since_ms >= cfg->slow_reader_timeout_ms) {
		stats_hit(&c->srv->stats, STAT_SLOW_READER_DISCONNECTS, c->id);
		log_info(c->id, "%s has not read its replies for %lld ms; closing", c->peer,
			 (long long)(now - c->stuck_since_ms));
		conn_set_state(c, CONN_CLOSED);
		return;
	}
	int64_t idle_at = c->last_active_ms + cfg->idle_timeout_ms;
	if (now >= idle_at && c->inflight == 0) {
		stats_hit(&c->srv->stats, STAT_IDLE_TIMEOUTS, c->id);
		log_info(c->id, "%s sent no request for %lld ms; closing", c->peer,
			 (long long)(now - c->last_active_ms));
		conn_set_state(c, CONN_CLOSED);
		return;
	}
	rearm_timer(c);
}

static void handshake_done(conn *c)
{
	const fp_config *cfg = c->srv->cfg;
	/* From here the connection's own timer keeps time; the bufferevent's
	 * timeouts would be reset by every trickled byte. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	conn_set_state(c, CONN_OPEN);
	c->last_active_ms = clock_mono_ms();
	rearm_timer(c);
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	log_debug(c->id, "TLS established with %s (%s, %s%s)", c->peer, SSL_get_version(ssl),
		  SSL_get_cipher_name(ssl), SSL_session_reused(ssl) ? ", resumed" : "");
	if (c->srv->nconns > (unsigned)cfg->max_connections) {
		stats_hit(&c->srv->stats, STAT_CONNECTIONS_REFUSED, c->id);
		c->srv->handler->on_error(c, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED,
					  "too many connections; try again later");
		return;
	}
	if (c->srv->stopping) {
		conn_begin_drain(c);
		return;
	}
	c->srv->handler->on_open(c);
	update_reading(c);
	conn_process(c); /* bytes that came with the handshake */
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		handshake_done(c);
		return;
	}
	char why[256] = "";
	unsigned long e;
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (why[0] == '\0')
			ERR_error_string_n(e, why, sizeof(why));
	}
	/* OpenSSL 3 reports a peer that closes without close_notify as an
	 * error; the queue must be empty before the next connection runs. */
	ERR_clear_error();
	if (what & BEV_EVENT_TIMEOUT) {
		log_debug(c->id, "closing: the client did not close in time");
	} else if (what & BEV_EVENT_ERROR) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
		if (c->state == CONN_HANDSHAKE && verify != X509_V_OK)
			/* Say which: an expired certificate and an unknown CA
			 * both read "certificate verify failed" otherwise. */
			log_info(c->id, "TLS handshake with %s failed: client certificate: %s",
				 c->peer, X509_verify_cert_error_string(verify));
		else if (c->state == CONN_HANDSHAKE)
			log_info(c->id, "TLS handshake with %s failed: %s", c->peer,
				 why[0] ? why : strerror(EVUTIL_SOCKET_ERROR()));
		else if (c->state == CONN_OPEN)
			log_debug(c->id, "connection error: %s", why[0] ? why : "socket error");
	} else if (what & BEV_EVENT_EOF) {
		log_debug(c->id, "client closed the connection");
	}
	conn_set_state(c, CONN_CLOSED);
}

/* "host:port" into out, and the host alone into host (INET6_ADDRSTRLEN). */
static void format_peer(const struct sockaddr *addr, char *out, size_t len, char *host)
{
	int port = 0;
	snprintf(host, INET6_ADDRSTRLEN, "?");
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &a->sin_addr, host, INET6_ADDRSTRLEN);
		port = ntohs(a->sin_port);
		snprintf(out, len, "%s:%d", host, port);
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
		inet_ntop(AF_INET6, &a->sin6_addr, host, INET6_ADDRSTRLEN);
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
	} else {
		snprintf(out, len, "unknown");
	}
}

/* The caps checked before any TLS work: per source address, and on
 * connections not yet authenticated (so that slow or silent handshakes
 * cannot take every slot). A refused connection is closed at once: before
 * the handshake there is no way to send it a reply. */
static bool admit(srv *s, const char *source)
{
	const fp_config *cfg = s->cfg;
	if (s->nunauth >= (unsigned)cfg->max_unauthenticated) {
		stats_hit(&s->stats, STAT_UNAUTH_CAP_REFUSALS, 0);
		return false;
	}
	if (!tally_add(s->sources, source, (unsigned)cfg->max_connections_per_source)) {
		stats_hit(&s->stats, STAT_SOURCE_CAP_REFUSALS, 0);
		return false;
	}
	return true;
}

void conn_accept(srv *s, evutil_socket_t fd, const struct sockaddr *addr, int addrlen)
{
	const fp_config *cfg = s->cfg;
	SSL *ssl = NULL;
	char peer[64], source[INET6_ADDRSTRLEN];
	format_peer(addr, peer, sizeof(peer), source);
	if (!admit(s, source)) {
		close(fd);
		return;
	}
	conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	ssl = SSL_new(s->ssl_ctx);
	if (ssl == NULL)
		goto fail;
	/* Replies are small frames: Nagle's algorithm would hold them back. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL)
		goto fail;
	ssl = NULL; /* owned by the bufferevent now */
	fd = -1;
	c->resume = event_new(s->base, -1, 0, conn_resume_cb, c);
	if (c->resume == NULL)
		goto fail;
	c->srv = s;
	c->id = ++s->next_conn_id;
	c->state = CONN_HANDSHAKE;
	c->refs = 1;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->source, sizeof(c->source), "%s", source);
	c->unauth_since_ms = clock_mono_ms();
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	/* The input buffer holds at most a few whole frames: the limit is
	 * checked on each header before its body is read. */
	size_t in_high = 2 * ((size_t)cfg->max_frame + FRAME_HEADER_LEN);
	if (in_high < 256 * 1024)
		in_high = 256 * 1024;
	bufferevent_setwatermark(c->bev, EV_READ, 0, in_high);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	c->timer = evtimer_new(s->base, conn_timer_cb, c);
	if (c->timer == NULL)
		goto fail;
	arm_timer(c, cfg->handshake_timeout_ms);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	s->nunauth++;
	metrics_add(METRIC_CONN_ACCEPTED, 1);
	metrics_set(METRIC_CONNECTIONS, s->nconns);
	c->reading = false;
	set_reading(c, true);
	log_debug(c->id, "accepted %s (%u connections)", c->peer, s->nconns);
	return;
fail:
	log_error(0, "cannot accept a connection: out of memory");
	tally_del(s->sources, source);
	SSL_free(ssl);
	if (c != NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->resume != NULL)
			event_free(c->resume);
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
	}
	if (fd >= 0)
		close(fd);
}
