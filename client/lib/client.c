/* libfairpay: one blocking TLS connection to fairpayd carrying length-framed
 * protobuf Requests and Responses (see fairpay/client.h).
 *
 * The socket is non-blocking underneath: every SSL call that cannot proceed is
 * followed by poll() with the time left, so one deadline bounds each frame
 * written or read, whatever OpenSSL has to do on the way (TLS 1.3 session
 * tickets, key updates).
 *
 * SIGPIPE: OpenSSL's socket BIO writes with write(2), which cannot take
 * MSG_NOSIGNAL, so a write to a connection the server has closed would raise
 * SIGPIPE and kill a caller that does not ignore it. Where the platform has
 * SO_NOSIGPIPE the socket gets it; elsewhere (Linux) SIGPIPE is blocked in the
 * calling thread while this library does socket I/O, and one that the I/O
 * raised is discarded, as libpq does. The write then fails with EPIPE and is
 * reported as FP_ERR_IO. Callers may still ignore SIGPIPE themselves. */
#include "fairpay/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define FP_EXPORT __attribute__((visibility("default")))

#define FP_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)
#define FP_DEFAULT_PORT "7443"
#define FP_FRAME_HEADER_LEN 4

/* ALPN wire format: one length byte, then the protocol id. */
static const unsigned char fp_alpn_offer[] = "\x09"
					     "fairpay/1";

/* A reply that arrived while the caller waited for another id. */
typedef struct fp_held {
	struct fp_held *next;
	Fairpay__V1__Response *resp;
} fp_held;

struct fp_client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	/* Set after a failure that leaves the byte stream at an unknown place:
	 * nothing more can be sent or read on this connection. */
	bool broken;
	int timeout_ms;
	uint32_t max_frame;
	uint64_t next_id;
	fp_held *held_head;
	fp_held *held_tail;

	fp_error_kind err_kind;
	int err_code;
	char err_message[512];
	char err_field[256];
	char alpn[64];
};

/* ---------------------------------------------------------------- errors */

static void err_clear(fp_client *c)
{
	c->err_kind = FP_ERR_NONE;
	c->err_code = 0;
	c->err_message[0] = '\0';
	c->err_field[0] = '\0';
}

__attribute__((format(printf, 3, 4))) static void err_set(fp_client *c, fp_error_kind kind,
							  const char *fmt, ...)
{
	va_list ap;
	c->err_kind = kind;
	c->err_code = 0;
	c->err_field[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(c->err_message, sizeof(c->err_message), fmt, ap);
	va_end(ap);
}

/* The first error of OpenSSL's queue (the cause; later ones are the callers
 * giving up), which is then emptied. */
static const char *err_openssl(char *buf, size_t size)
{
	unsigned long e = ERR_peek_error();
	if (e == 0) {
		snprintf(buf, size, "unknown TLS error");
	} else if (ERR_SYSTEM_ERROR(e)) {
		/* OpenSSL 3 keeps errno values of failed system calls here. */
		snprintf(buf, size, "%s", strerror(ERR_GET_REASON(e)));
	} else {
		const char *reason = ERR_reason_error_string(e);
		if (reason != NULL)
			snprintf(buf, size, "%s", reason);
		else
			ERR_error_string_n(e, buf, size);
	}
	ERR_clear_error();
	return buf;
}

static void err_from_status(fp_client *c, const Fairpay__V1__Response *r)
{
	const Fairpay__V1__Status *st = r->status;
	c->err_kind = FP_ERR_SERVER;
	c->err_code = st != NULL ? (int)st->code : 0;
	snprintf(c->err_message, sizeof(c->err_message), "%s",
		 st != NULL && st->message != NULL ? st->message : "");
	snprintf(c->err_field, sizeof(c->err_field), "%s",
		 st != NULL && st->field != NULL ? st->field : "");
}

static bool status_ok(const Fairpay__V1__Response *r)
{
	/* An absent Status decodes as the default message, whose code is OK. */
	return r->status == NULL || r->status->code == FAIRPAY__V1__CODE__OK;
}

/* ---------------------------------------------------------------- time and waiting */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGPIPE held back for the duration of one operation (see the top). */
typedef struct sigpipe_guard {
	sigset_t old;
	bool was_pending; /* one was pending before: not ours to discard */
} sigpipe_guard;

static void sigpipe_hold(sigpipe_guard *g)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
	g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_release(const sigpipe_guard *g)
{
	sigset_t pipe_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
		const struct timespec zero = { 0, 0 };
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Wait until fd is ready for events or the deadline passes. On a timeout
 * *timed_out is set (when not NULL). */
static int fd_wait(fp_client *c, short events, int64_t deadline, bool *timed_out)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			if (timed_out != NULL)
				*timed_out = true;
			err_set(c, FP_ERR_IO, "timed out after %d ms", c->timeout_ms);
			return -1;
		}
		struct pollfd p = { .fd = c->fd, .events = events, .revents = 0 };
		int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		/* POLLERR and POLLHUP count as ready: the next call reports them. */
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			err_set(c, FP_ERR_IO, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* Wait for what SSL_get_error() said OpenSSL needs before it can go on. */
static int tls_wait(fp_client *c, int ssl_err, int64_t deadline, bool *timed_out)
{
	/* Bytes already decrypted need no socket readiness. */
	if (ssl_err == SSL_ERROR_WANT_READ && SSL_pending(c->ssl) > 0)
		return 0;
	return fd_wait(c, ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline, timed_out);
}

/* Describe a failed SSL_read/SSL_write/SSL_connect. */
static void tls_io_error(fp_client *c, int ssl_err, const char *what)
{
	char buf[256];
	int saved = errno;
	switch (ssl_err) {
	case SSL_ERROR_ZERO_RETURN:
		err_set(c, FP_ERR_IO, "%s: the server closed the connection", what);
		break;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() != 0)
			err_set(c, FP_ERR_IO, "%s: %s", what, err_openssl(buf, sizeof(buf)));
		else if (saved != 0)
			err_set(c, FP_ERR_IO, "%s: %s", what, strerror(saved));
		else
			err_set(c, FP_ERR_IO, "%s: the server closed the connection", what);
		break;
	case SSL_ERROR_SSL:
		if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			err_set(c, FP_ERR_IO, "%s: the server closed the connection", what);
		} else {
			err_set(c, FP_ERR_IO, "%s: %s", what, err_openssl(buf, sizeof(buf)));
		}
		break;
	default:
		err_set(c, FP_ERR_IO, "%s: TLS error %d", what, ssl_err);
		break;
	}
	ERR_clear_error();
}

/* ---------------------------------------------------------------- TLS byte I/O */

/* Read exactly len bytes. *got says how many arrived before a failure;
 * *timed_out is set when the failure was the deadline. */
static int tls_read_exact(fp_client *c, unsigned char *buf, size_t len, int64_t deadline,
			  size_t *got, bool *timed_out)
{
	size_t done = 0;
	int rc = -1;
	*timed_out = false;
	while (done < len) {
		size_t n = 0;
		errno = 0;
		ERR_clear_error();
		int ret = SSL_read_ex(c->ssl, buf + done, len - done, &n);
		if (ret == 1) {
			done += n;
			continue;
		}
		int e = SSL_get_error(c->ssl, ret);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (tls_wait(c, e, deadline, timed_out) != 0)
				goto done;
			continue;
		}
		tls_io_error(c, e, "read");
		goto done;
	}
	rc = 0;
done:
	*got = done;
	return rc;
}

/* Write all len bytes. */
static int tls_write_all(fp_client *c, const unsigned char *buf, size_t len, int64_t deadline)
{
	size_t done = 0;
	while (done < len) {
		size_t n = 0;
		errno = 0;
		ERR_clear_error();
		int ret = SSL_write_ex(c->ssl, buf + done, len - done, &n);
		if (ret == 1) {
			done += n;
			continue;
		}
		int e = SSL_get_error(c->ssl, ret);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (tls_wait(c, e, deadline, NULL) != 0)
				return -1;
			continue;
		}
		tls_io_error(c, e, "write");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- connection setup */

static void client_close(fp_client *c)
{
	if (c->ssl != NULL) {
		/* One non-blocking close_notify so that the server sees an orderly
		 * end rather than a truncated stream; the reply is not awaited. */
		if (!c->broken && SSL_is_init_finished(c->ssl)) {
			sigpipe_guard g;
			sigpipe_hold(&g);
			(void)SSL_shutdown(c->ssl);
			sigpipe_release(&g);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
	if (c->ctx != NULL) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	while (c->held_head != NULL) {
		fp_held *h = c->held_head;
		c->held_head = h->next;
		fp_response_free(h->resp);
		free(h);
	}
	c->held_tail = NULL;
	c->broken = false;
	c->alpn[0] = '\0';
}

static int tls_make_ctx(fp_client *c, const fp_client_options *opts)
{
	char buf[256];
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL) {
		err_set(c, FP_ERR_CONNECT, "cannot create a TLS context: %s",
			err_openssl(buf, sizeof(buf)));
		return -1;
	}
	if (SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
		err_set(c, FP_ERR_CONNECT, "cannot require TLS 1.2: %s",
			err_openssl(buf, sizeof(buf)));
		return -1;
	}
	SSL_CTX_set_mode(c->ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(c->ctx, opts->ca_file, NULL) != 1) {
		err_set(c, FP_ERR_CONNECT, "cannot load CA file %s: %s", opts->ca_file,
			err_openssl(buf, sizeof(buf)));
		return -1;
	}
	/* SSL_CTX_set_alpn_protos returns 0 on success, unlike its neighbours. */
	if (SSL_CTX_set_alpn_protos(c->ctx, fp_alpn_offer, sizeof(fp_alpn_offer) - 1) != 0) {
		err_set(c, FP_ERR_CONNECT, "cannot offer ALPN: %s", err_openssl(buf, sizeof(buf)));
		return -1;
	}
	if (opts->cert_file != NULL && opts->cert_file[0] != '\0') {
		/* A PEM file may hold the certificate and its key together. */
		const char *key = opts->key_file != NULL && opts->key_file[0] != '\0'
					  ? opts->key_file
					  : opts->cert_file;
		if (SSL_CTX_use_certificate_chain_file(c->ctx, opts->cert_file) != 1) {
			err_set(c, FP_ERR_CONNECT, "cannot load client certificate %s: %s",
				opts->cert_file, err_openssl(buf, sizeof(buf)));
			return -1;
		}
		if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(c->ctx) != 1) {
			err_set(c, FP_ERR_CONNECT, "cannot load client key %s: %s", key,
				err_openssl(buf, sizeof(buf)));
			return -1;
		}
	}
	return 0;
}

/* Try each address of host:port in turn, each within the timeout. */
static int tcp_connect(fp_client *c, const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL;
	char last[NI_MAXHOST + 128] = "no address to connect to";
	int rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		err_set(c, FP_ERR_CONNECT, "cannot resolve %s: %s", host,
			gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		return -1;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		char addr[NI_MAXHOST] = "?";
		getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
			    NI_NUMERICHOST);
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);
		if (fd < 0) {
			snprintf(last, sizeof(last), "%s: %s", addr, strerror(errno));
			continue;
		}
		c->fd = fd;
		int err = 0;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			err = errno;
			if (err == EINPROGRESS) {
				bool timed_out = false;
				socklen_t elen = sizeof(err);
				if (fd_wait(c, POLLOUT, now_ms() + c->timeout_ms, &timed_out) != 0)
					err = timed_out ? ETIMEDOUT : errno;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
					err = errno;
			}
		}
		if (err == 0) {
			rc = 0;
			break;
		}
		snprintf(last, sizeof(last), "%s: %s", addr, strerror(err));
		close(fd);
		c->fd = -1;
	}
	if (rc != 0) {
		err_set(c, FP_ERR_CONNECT, "%s", last);
		goto done;
	}
	/* Requests are small and answered one by one: do not let Nagle wait for
	 * an ACK that the server delays. */
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef SO_NOSIGPIPE
	(void)setsockopt(c->fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
done:
	freeaddrinfo(res);
	return rc;
}

static bool is_ip_literal(const char *name)
{
	unsigned char tmp[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1;
}

static int tls_handshake(fp_client *c, const char *name)
{
	char buf[256];
	c->ssl = SSL_new(c->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		err_set(c, FP_ERR_CONNECT, "cannot create a TLS session: %s",
			err_openssl(buf, sizeof(buf)));
		return -1;
	}
	if (is_ip_literal(name)) {
		/* An IP address is matched against the certificate's IP SANs, and
		 * RFC 6066 forbids sending it as SNI. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1) {
			err_set(c, FP_ERR_CONNECT, "cannot verify IP address %s: %s", name,
				err_openssl(buf, sizeof(buf)));
			return -1;
		}
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(c->ssl, name) != 1 ||
		    SSL_set1_host(c->ssl, name) != 1) {
			err_set(c, FP_ERR_CONNECT, "cannot verify host name %s: %s", name,
				err_openssl(buf, sizeof(buf)));
			return -1;
		}
	}

	int64_t deadline = now_ms() + c->timeout_ms;
	for (;;) {
		errno = 0;
		ERR_clear_error();
		int ret = SSL_connect(c->ssl);
		if (ret == 1)
			break;
		int e = SSL_get_error(c->ssl, ret);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (tls_wait(c, e, deadline, NULL) != 0) {
				err_set(c, FP_ERR_CONNECT, "TLS handshake timed out after %d ms",
					c->timeout_ms);
				return -1;
			}
			continue;
		}
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			ERR_clear_error();
			err_set(c, FP_ERR_CONNECT, "server certificate verification failed: %s",
				X509_verify_cert_error_string(vr));
		} else {
			tls_io_error(c, e, "TLS handshake");
			c->err_kind = FP_ERR_CONNECT;
		}
		return -1;
	}

	const unsigned char *proto = NULL;
	unsigned int plen = 0;
	SSL_get0_alpn_selected(c->ssl, &proto, &plen);
	if (proto != NULL && plen < sizeof(c->alpn)) {
		memcpy(c->alpn, proto, plen);
		c->alpn[plen] = '\0';
	}
	return 0;
}

/* ---------------------------------------------------------------- frames */

static int check_usable(fp_client *c)
{
	if (c->ssl == NULL) {
		err_set(c, FP_ERR_USAGE, "not connected");
		return -1;
	}
	if (c->broken) {
		err_set(c, FP_ERR_IO, "the connection failed earlier and cannot be used");
		return -1;
	}
	return 0;
}

static int frame_write(fp_client *c, const unsigned char *buf, size_t len)
{
	sigpipe_guard g;
	sigpipe_hold(&g);
	int rc = tls_write_all(c, buf, len, now_ms() + c->timeout_ms);
	sigpipe_release(&g);
	if (rc != 0) {
		/* Part of a frame may have gone out: the stream is unusable. */
		c->broken = true;
		return -1;
	}
	return 0;
}

/* Read and decode one Response frame. */
static int frame_read_body(fp_client *c, Fairpay__V1__Response **out)
{
	unsigned char hdr[FP_FRAME_HEADER_LEN];
	unsigned char *body = NULL;
	size_t got = 0;
	bool timed_out = false;
	int rc = -1;

	*out = NULL;
	int64_t deadline = now_ms() + c->timeout_ms;
	if (tls_read_exact(c, hdr, sizeof(hdr), deadline, &got, &timed_out) != 0) {
		/* A wait that ended before any byte of the frame leaves the stream
		 * intact: the caller may wait again. */
		if (!(timed_out && got == 0))
			c->broken = true;
		goto done;
	}
	uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		       (uint32_t)hdr[3];
	if (len == 0 || len > c->max_frame) {
		err_set(c, FP_ERR_PROTOCOL, "reply frame length %u is outside 1..%u", len,
			c->max_frame);
		c->broken = true;
		goto done;
	}
	body = malloc(len);
	if (body == NULL) {
		err_set(c, FP_ERR_IO, "out of memory for a %u-byte reply", len);
		c->broken = true;
		goto done;
	}
	if (tls_read_exact(c, body, len, deadline, &got, &timed_out) != 0) {
		c->broken = true;
		goto done;
	}
	*out = fairpay__v1__response__unpack(NULL, len, body);
	if (*out == NULL) {
		err_set(c, FP_ERR_PROTOCOL, "reply does not decode as fairpay.v1.Response");
		c->broken = true;
		goto done;
	}
	rc = 0;
done:
	free(body);
	return rc;
}

/* Reading may write too (TLS 1.3 key updates), so it is guarded as well. */
static int frame_read(fp_client *c, Fairpay__V1__Response **out)
{
	sigpipe_guard g;
	sigpipe_hold(&g);
	int rc = frame_read_body(c, out);
	sigpipe_release(&g);
	return rc;
}

static int held_push(fp_client *c, Fairpay__V1__Response *r)
{
	fp_held *h = malloc(sizeof(*h));
	if (h == NULL) {
		err_set(c, FP_ERR_IO, "out of memory");
		return -1;
	}
	h->next = NULL;
	h->resp = r;
	if (c->held_tail != NULL)
		c->held_tail->next = h;
	else
		c->held_head = h;
	c->held_tail = h;
	return 0;
}

/* Take the held reply with id out of the queue, or NULL. */
static Fairpay__V1__Response *held_take(fp_client *c, uint64_t id)
{
	fp_held *prev = NULL;
	for (fp_held *h = c->held_head; h != NULL; prev = h, h = h->next) {
		if (h->resp->id != id)
			continue;
		if (prev != NULL)
			prev->next = h->next;
		else
			c->held_head = h->next;
		if (c->held_tail == h)
			c->held_tail = prev;
		Fairpay__V1__Response *r = h->resp;
		free(h);
		return r;
	}
	return NULL;
}

/* ---------------------------------------------------------------- public API */

/* Create an unconnected client. */
FP_EXPORT fp_client *fp_client_new(void)
{
	fp_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = -1;
	c->next_id = 1;
	c->timeout_ms = FP_CLIENT_DEFAULT_TIMEOUT_MS;
	c->max_frame = FP_DEFAULT_MAX_FRAME;
	return c;
}

/* Close the connection and free the client. */
FP_EXPORT void fp_client_free(fp_client *c)
{
	if (c == NULL)
		return;
	client_close(c);
	free(c);
}

/* Connect to host:port with TLS and verify the server. */
FP_EXPORT int fp_client_connect(fp_client *c, const char *host, const char *port,
				const fp_client_options *opts)
{
	int rc = -1;
	if (c == NULL)
		return -1;
	err_clear(c);
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0' || opts == NULL) {
		err_set(c, FP_ERR_USAGE, "host, port and options are required");
		return -1;
	}
	if (opts->ca_file == NULL || opts->ca_file[0] == '\0') {
		err_set(c, FP_ERR_USAGE, "a CA file is required to verify the server");
		return -1;
	}
	if (opts->timeout_ms < 0) {
		err_set(c, FP_ERR_USAGE, "timeout_ms must not be negative");
		return -1;
	}
	if ((opts->key_file != NULL && opts->key_file[0] != '\0') &&
	    (opts->cert_file == NULL || opts->cert_file[0] == '\0')) {
		err_set(c, FP_ERR_USAGE, "a client key needs its certificate");
		return -1;
	}
	if (c->ssl != NULL || c->fd >= 0) {
		err_set(c, FP_ERR_USAGE, "already connected");
		return -1;
	}
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : FP_CLIENT_DEFAULT_TIMEOUT_MS;
	c->max_frame = opts->max_frame > 0 ? opts->max_frame : FP_DEFAULT_MAX_FRAME;
	if (OPENSSL_init_ssl(0, NULL) != 1) {
		err_set(c, FP_ERR_CONNECT, "cannot initialise OpenSSL");
		return -1;
	}
	if (tls_make_ctx(c, opts) != 0)
		goto done;
	if (tcp_connect(c, host, port) != 0)
		goto done;
	const char *name = opts->server_name != NULL && opts->server_name[0] != '\0'
				   ? opts->server_name
				   : host;
	sigpipe_guard g;
	sigpipe_hold(&g);
	int hs = tls_handshake(c, name);
	sigpipe_release(&g);
	if (hs != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0)
		client_close(c);
	return rc;
}

/* Connect to "HOST:PORT", "[IPv6]:PORT", or a bare host on the default port. */
FP_EXPORT int fp_client_connect_addr(fp_client *c, const char *addr, const fp_client_options *opts)
{
	char host[256];
	const char *port = FP_DEFAULT_PORT;
	size_t hlen;

	if (c == NULL)
		return -1;
	err_clear(c);
	if (addr == NULL || addr[0] == '\0')
		goto bad;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (end == NULL)
			goto bad;
		hlen = (size_t)(end - addr - 1);
		addr++;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			goto bad;
	} else {
		const char *colon = strrchr(addr, ':');
		if (colon != NULL && strchr(addr, ':') != colon) {
			err_set(c, FP_ERR_USAGE, "write an IPv6 address as [ADDRESS]:PORT");
			return -1;
		}
		hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
		if (colon != NULL)
			port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || port[0] == '\0')
		goto bad;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	return fp_client_connect(c, host, port, opts);
bad:
	err_set(c, FP_ERR_USAGE, "server address must be HOST:PORT, got \"%s\"",
		addr != NULL ? addr : "");
	return -1;
}

/* Authenticate the connection with an API key. */
FP_EXPORT int fp_client_authenticate(fp_client *c, const char *api_key, Fairpay__V1__Role *role,
				     char **vendor_id)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__AuthenticateRequest auth = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	Fairpay__V1__Response *resp = NULL;
	int rc = -1;

	if (vendor_id != NULL)
		*vendor_id = NULL;
	if (c == NULL)
		return -1;
	err_clear(c);
	if (api_key == NULL) {
		err_set(c, FP_ERR_USAGE, "an API key is required");
		return -1;
	}
	auth.api_key = (char *)api_key;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &auth;
	if (fp_client_call(c, &req, &resp) != 0)
		goto done;
	if (resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_AUTHENTICATE ||
	    resp->authenticate == NULL) {
		err_set(c, FP_ERR_PROTOCOL, "the reply to Authenticate carries no result");
		goto done;
	}
	if (vendor_id != NULL) {
		const char *v = resp->authenticate->vendor_id;
		*vendor_id = strdup(v != NULL ? v : "");
		if (*vendor_id == NULL) {
			err_set(c, FP_ERR_IO, "out of memory");
			goto done;
		}
	}
	if (role != NULL)
		*role = resp->authenticate->role;
	rc = 0;
done:
	fp_response_free(resp);
	return rc;
}

/* Send a request and wait for its reply. */
FP_EXPORT int fp_client_call(fp_client *c, Fairpay__V1__Request *req, Fairpay__V1__Response **resp)
{
	Fairpay__V1__Response *r = NULL;
	uint64_t id = 0;

	if (resp != NULL)
		*resp = NULL;
	if (c == NULL)
		return -1;
	if (fp_client_send(c, req, &id) != 0)
		return -1;
	if (fp_client_recv_id(c, id, &r) != 0)
		return -1;
	if (!status_ok(r)) {
		err_from_status(c, r);
	} else if (r->id != id) {
		/* Only a connection-level error reply (id 0) may end the wait early,
		 * and that one is never OK. */
		err_set(c, FP_ERR_PROTOCOL, "reply id %llu does not match request id %llu",
			(unsigned long long)r->id, (unsigned long long)id);
		c->broken = true;
	}
	if (resp != NULL)
		*resp = r;
	else
		fp_response_free(r);
	return c->err_kind == FP_ERR_NONE ? 0 : -1;
}

/* Send a request without waiting for its reply. */
FP_EXPORT int fp_client_send(fp_client *c, Fairpay__V1__Request *req, uint64_t *id_out)
{
	unsigned char *buf = NULL;
	int rc = -1;

	if (c == NULL)
		return -1;
	err_clear(c);
	if (req == NULL) {
		err_set(c, FP_ERR_USAGE, "no request");
		return -1;
	}
	if (check_usable(c) != 0)
		return -1;
	if (req->id == 0)
		req->id = c->next_id++;
	size_t len = fairpay__v1__request__get_packed_size(req);
	if (len == 0 || len > UINT32_MAX - FP_FRAME_HEADER_LEN) {
		err_set(c, FP_ERR_USAGE, "request packs to %zu bytes, which no frame can carry",
			len);
		goto done;
	}
	buf = malloc(FP_FRAME_HEADER_LEN + len);
	if (buf == NULL) {
		err_set(c, FP_ERR_IO, "out of memory for a %zu-byte request", len);
		goto done;
	}
	buf[0] = (unsigned char)(len >> 24);
	buf[1] = (unsigned char)(len >> 16);
	buf[2] = (unsigned char)(len >> 8);
	buf[3] = (unsigned char)len;
	fairpay__v1__request__pack(req, buf + FP_FRAME_HEADER_LEN);
	/* Header and body in one write: one TLS record, one TCP segment. */
	if (frame_write(c, buf, FP_FRAME_HEADER_LEN + len) != 0)
		goto done;
	if (id_out != NULL)
		*id_out = req->id;
	rc = 0;
done:
	free(buf);
	return rc;
}

/* Send bytes exactly as given. */
FP_EXPORT int fp_client_send_raw(fp_client *c, const void *buf, size_t len)
{
	if (c == NULL)
		return -1;
	err_clear(c);
	if (buf == NULL && len > 0) {
		err_set(c, FP_ERR_USAGE, "no buffer");
		return -1;
	}
	if (check_usable(c) != 0)
		return -1;
	return frame_write(c, buf, len);
}

/* Read the next reply, held ones first. */
FP_EXPORT int fp_client_recv(fp_client *c, Fairpay__V1__Response **resp)
{
	if (resp != NULL)
		*resp = NULL;
	if (c == NULL)
		return -1;
	err_clear(c);
	if (resp == NULL) {
		err_set(c, FP_ERR_USAGE, "no place for the reply");
		return -1;
	}
	/* Replies already received stay readable after the connection broke. */
	if (c->held_head != NULL) {
		fp_held *h = c->held_head;
		c->held_head = h->next;
		if (c->held_head == NULL)
			c->held_tail = NULL;
		*resp = h->resp;
		free(h);
		return 0;
	}
	if (check_usable(c) != 0)
		return -1;
	return frame_read(c, resp);
}

/* Whether a reply can be read without waiting for it to be sent. */
FP_EXPORT int fp_client_fd(const fp_client *c)
{
	return c != NULL && !c->broken ? c->fd : -1;
}

FP_EXPORT int fp_client_wait(fp_client *c, int timeout_ms)
{
	if (c == NULL)
		return -1;
	err_clear(c);
	if (c->held_head != NULL)
		return 1;
	if (check_usable(c) != 0)
		return -1;
	/* Bytes OpenSSL already decrypted are not on the socket any more. */
	if (SSL_pending(c->ssl) > 0)
		return 1;
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN, .revents = 0 };
		int n = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
		/* POLLERR and POLLHUP count as ready: the read reports them. */
		if (n >= 0)
			return n > 0 ? 1 : 0;
		if (errno != EINTR) {
			err_set(c, FP_ERR_IO, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* Wait for the reply to one request id, holding back the others. */
FP_EXPORT int fp_client_recv_id(fp_client *c, uint64_t id, Fairpay__V1__Response **resp)
{
	if (resp != NULL)
		*resp = NULL;
	if (c == NULL)
		return -1;
	err_clear(c);
	if (resp == NULL) {
		err_set(c, FP_ERR_USAGE, "no place for the reply");
		return -1;
	}
	*resp = held_take(c, id);
	if (*resp != NULL)
		return 0;
	if (check_usable(c) != 0)
		return -1;
	for (;;) {
		Fairpay__V1__Response *r = NULL;
		if (frame_read(c, &r) != 0)
			return -1;
		/* A reply with id 0 reports a protocol error on the whole
		 * connection, which the server then closes: no reply to id will
		 * follow, so it ends the wait. */
		if (r->id == id || r->id == 0) {
			*resp = r;
			return 0;
		}
		if (held_push(c, r) != 0) {
			fp_response_free(r);
			return -1;
		}
	}
}

/* Free a reply. */
FP_EXPORT void fp_response_free(Fairpay__V1__Response *resp)
{
	if (resp != NULL)
		fairpay__v1__response__free_unpacked(resp, NULL);
}

/* Return the kind of the last error. */
FP_EXPORT fp_error_kind fp_client_error_kind(const fp_client *c)
{
	return c != NULL ? c->err_kind : FP_ERR_USAGE;
}

/* Return the server's status code of the last error, or 0. */
FP_EXPORT int fp_client_error_code(const fp_client *c)
{
	return c != NULL ? c->err_code : 0;
}

/* Return the message of the last error. */
FP_EXPORT const char *fp_client_error_message(const fp_client *c)
{
	return c != NULL ? c->err_message : "no client";
}

/* Return the offending request field of the last error, or "". */
FP_EXPORT const char *fp_client_error_field(const fp_client *c)
{
	return c != NULL ? c->err_field : "";
}

/* Return the ALPN protocol the server selected, or "". */
FP_EXPORT const char *fp_client_alpn(const fp_client *c)
{
	return c != NULL ? c->alpn : "";
}
