/* Integration test: a storm of bad input while well-behaved clients work.
 *
 * Many threads open TLS connections to one fairpayd and send 10,000 bad
 * frames: zero-length and oversize frames, bodies that do not decode,
 * requests naming no call, unauthenticated calls, wrong API keys, and valid
 * frames whose fields are invalid in every way the vendor calls can be
 * (empty and 10 KB strings, unknown enum values, negative amounts, admin
 * calls from a vendor key). Meanwhile other threads run FairPay cycles on
 * their own connections. The server must answer every bad frame with an
 * error or close the connection, never trouble the good clients, store
 * nothing for the stormer, stay up, and give its memory back: its resident
 * size after the storm stays within 10% of the size after a warm-up.
 *
 * The threads use OpenSSL and libfairpay directly, never the harness (whose
 * helpers fail the running test, which only the main thread may do); they
 * count, and the main thread asserts on the counts. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "harness.h"

typedef Fairpay__V1__Response resp_t;

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define STORM_THREADS 25
#define GOOD_THREADS 4
#define STORM_FRAMES 10000
#define WARM_FRAMES 1500
#define SLOW_STORM_FRAMES 1000 /* under valgrind */
#define SLOW_WARM_FRAMES 300
#define IO_TIMEOUT_MS 10000
#define SLOW_IO_TIMEOUT_MS 60000 /* under valgrind */
#define BATCH 24                 /* invalid requests written before reading their replies */
#define BIG 10240                /* the "10 KB" of oversized strings */
#define MAX_FRAME 65536          /* fairpayd's default --max-frame */
#define RSS_SLACK_PCT 10         /* allowed growth of the resident size */

static struct {
	h_world w; /* db, admin_key, srv, admin */
	char *good_key;
	char *good_id;
	char *storm_key;
	char *storm_id;
	SSL_CTX *ctx;
	char ca[1024];
	int io_timeout_ms;
	bool stats_flag;        /* the server has --stats-interval-ms */
	fp_client_options opts; /* for the good clients' threads */
} T;

/* ---------------------------------------------------------------- counts */

/* What the storm threads saw; summed by the main thread after joining. */
typedef struct storm_count {
	long connections;      /* opened (handshake done) */
	long handshake_failed; /* TLS connection could not be made */
	long frames;           /* bad frames written */
	long partial;          /* connections left with half a frame (we close) */
	long error_replies;    /* error replies, each as expected */
	long protocol_errors;  /* connections ended by a protocol error we sent */
	long server_closes;    /* ... of which the server closed after its reply */
	long closed_early;     /* ... of which closed before the reply could be read */
	long auth_closes;      /* closed after the third wrong key */
	long unexpected;       /* a wrong reply, a timeout, no close */
	char first[512];       /* what the first unexpected thing was */
} storm_count;

typedef struct good_count {
	long cycles;
	long calls;
	long errors;
	char first[512];
} good_count;

static void note(char *first, size_t len, long *counter, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void note(char *first, size_t len, long *counter, const char *fmt, ...)
{
	if (*counter == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(first, len, fmt, ap);
		va_end(ap);
	}
	(*counter)++;
}

/* ---------------------------------------------------------------- raw TLS connections */

typedef struct sconn {
	int fd;
	SSL *ssl;
} sconn;

typedef enum sread {
	S_FRAME = 1,
	S_CLOSED = 0,
	S_TIMEOUT = -1,
	S_ERROR = -2
} sread;

static int tcp_connect(const char *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { 0 };
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(port));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Bounds the blocking handshake and writes. */
	struct timeval tv = { T.io_timeout_ms / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void sconn_close(sconn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static int sconn_open(sconn *c, const char *port)
{
	c->ssl = NULL;
	c->fd = tcp_connect(port);
	if (c->fd < 0)
		return -1;
	c->ssl = SSL_new(T.ctx);
	if (c->ssl == NULL)
		goto fail;
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	sconn_close(c);
	return -1;
}

static int sconn_write(sconn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		int n = SSL_write(c->ssl, p, (int)len);
		if (n <= 0) {
			ERR_clear_error();
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static sread read_exact(sconn *c, uint8_t *buf, size_t n, int64_t deadline)
{
	size_t got = 0;
	while (got < n) {
		if (SSL_pending(c->ssl) == 0) {
			int64_t left = deadline - h_now_ms();
			if (left <= 0)
				return S_TIMEOUT;
			struct pollfd pfd = { c->fd, POLLIN, 0 };
			int pr = poll(&pfd, 1, (int)left);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0)
				return S_TIMEOUT;
		}
		ERR_clear_error();
		int r = SSL_read(c->ssl, buf + got, (int)(n - got));
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			continue;
		ERR_clear_error();
		/* A clean close, EOF, a reset or OpenSSL 3's "unexpected eof":
		 * the peer is gone. */
		if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL)
			return got == 0 ? S_CLOSED : S_ERROR;
		return S_ERROR;
	}
	return S_FRAME;
}

/* Read one framed Response within timeout_ms. */
static sread sconn_read(sconn *c, int timeout_ms, resp_t **out)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	uint8_t hdr[4];
	*out = NULL;
	sread r = read_exact(c, hdr, 4, deadline);
	if (r != S_FRAME)
		return r;
	uint32_t len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
		       ((uint32_t)hdr[2] << 8) | hdr[3];
	if (len == 0 || len > (1u << 24))
		return S_ERROR;
	uint8_t *body = malloc(len);
	if (body == NULL)
		return S_ERROR;
	r = read_exact(c, body, len, deadline);
	if (r == S_FRAME) {
		*out = fairpay__v1__response__unpack(NULL, len, body);
		if (*out == NULL)
			r = S_ERROR;
	} else if (r == S_CLOSED) {
		r = S_ERROR;
	}
	free(body);
	return r;
}

/* ---------------------------------------------------------------- frames */

/* A growable buffer of frames, written in one go. */
typedef struct fbuf {
	uint8_t *p;
	size_t len, cap;
	int frames;
} fbuf;

static int fbuf_room(fbuf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int fbuf_frame(fbuf *b, uint32_t len, const void *body, size_t body_len)
{
	if (fbuf_room(b, 4 + body_len) != 0)
		return -1;
	uint8_t *h = b->p + b->len;
	h[0] = (uint8_t)(len >> 24);
	h[1] = (uint8_t)(len >> 16);
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len;
	if (body_len > 0)
		memcpy(h + 4, body, body_len);
	b->len += 4 + body_len;
	b->frames++;
	return 0;
}

/* Append req (a shallow copy gets the id) as one frame. */
static int fbuf_request(fbuf *b, const Fairpay__V1__Request *tmpl, uint64_t id)
{
	Fairpay__V1__Request req = *tmpl;
	req.id = id;
	size_t n = fairpay__v1__request__get_packed_size(&req);
	if (fbuf_room(b, 4 + n) != 0)
		return -1;
	uint8_t *h = b->p + b->len;
	h[0] = (uint8_t)(n >> 24);
	h[1] = (uint8_t)(n >> 16);
	h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n;
	fairpay__v1__request__pack(&req, h + 4);
	b->len += 4 + n;
	b->frames++;
	return 0;
}

static void fbuf_reset(fbuf *b)
{
	b->len = 0;
	b->frames = 0;
}

/* ---------------------------------------------------------------- the bad requests */

#define BIT(code) (1u << (code))
#define INVALID BIT(FAIRPAY__V1__CODE__INVALID_ARGUMENT)
#define NOT_FOUND BIT(FAIRPAY__V1__CODE__NOT_FOUND)
#define DENIED BIT(FAIRPAY__V1__CODE__PERMISSION_DENIED)

/* One bad request and the codes it may be answered with (never OK). */
typedef struct bad_req {
	const char *what;
	unsigned codes;
	Fairpay__V1__Request req;
} bad_req;

/* The messages the bad requests point to; built once, read by all threads. */
static struct {
	char big[BIG + 1]; /* 10 KB of 'x' */
	char bad_utf8[8];
	bad_req r[64];
	size_t n;
	/* storage */
	Fairpay__V1__Product prod[8];
	Fairpay__V1__PutProductRequest put_product[8];
	Fairpay__V1__GetProductRequest get_product[2];
	Fairpay__V1__ListProductsRequest list_products[2];
	Fairpay__V1__Policy pol[4];
	Fairpay__V1__PutPolicyRequest put_policy[5];
	Fairpay__V1__OfferOverrides ov[2];
	Fairpay__V1__CreateOfferRequest create_offer[7];
	Fairpay__V1__AcceptOfferRequest accept[3];
	Fairpay__V1__DeclineOfferRequest decline[1];
	Fairpay__V1__GetOfferRequest get_offer[1];
	Fairpay__V1__SubmitPaymentRequest pay[7];
	Fairpay__V1__ReviewPaymentRequest review[2];
	Fairpay__V1__GetReputationRequest get_rep[2];
	Fairpay__V1__ListCustomerEventsRequest list_ev[1];
	Fairpay__V1__CreateVendorRequest create_vendor[1];
	Fairpay__V1__CreateApiKeyRequest create_key[1];
	Fairpay__V1__RevokeApiKeyRequest revoke[1];
	Fairpay__V1__ListVendorsRequest list_vendors[1];
	Fairpay__V1__RegisterClientCertRequest cert[1];
	Fairpay__V1__PaymentReason reason99[1];
	Fairpay__V1__PaymentReason excuse99[1];
} B;

static bad_req *bad_add(const char *what, unsigned codes)
{
	assert_true(B.n < N(B.r));
	bad_req *b = &B.r[B.n++];
	b->what = what;
	b->codes = codes;
	fairpay__v1__request__init(&b->req);
	return b;
}

static Fairpay__V1__Product *bad_product(int i)
{
	Fairpay__V1__Product *p = &B.prod[i];
	fairpay__v1__product__init(p);
	p->sku = "storm";
	p->name = "Storm";
	p->currency = "USD";
	p->suggested_price_minor = 100;
	p->list_price_minor = 100;
	fairpay__v1__put_product_request__init(&B.put_product[i]);
	B.put_product[i].product = p;
	bad_req *b = bad_add("PutProduct", INVALID);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT;
	b->req.put_product = &B.put_product[i];
	return p;
}

static Fairpay__V1__SubmitPaymentRequest *bad_pay(int i)
{
	Fairpay__V1__SubmitPaymentRequest *m = &B.pay[i];
	fairpay__v1__submit_payment_request__init(m);
	m->offer_id = "o_0123456789abcdef";
	m->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m->amount_minor = 100;
	bad_req *b = bad_add("SubmitPayment", INVALID);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	b->req.submit_payment = m;
	return m;
}

static void bad_build(void)
{
	memset(B.big, 'x', BIG);
	B.big[BIG] = '\0';
	memcpy(B.bad_utf8, "ab\xff\xfe", 5);
	B.reason99[0] = (Fairpay__V1__PaymentReason)99;
	B.excuse99[0] = (Fairpay__V1__PaymentReason)99;
	bad_req *b;

	/* Products. */
	bad_product(0)->sku = "";
	bad_product(1)->sku = B.big;
	bad_product(2)->name = B.big;
	bad_product(3)->currency = "usd";
	bad_product(4)->suggested_price_minor = -1;
	bad_product(5)->min_tier = (Fairpay__V1__Tier)99;
	bad_product(6)->period_days = -5;
	bad_product(7)->list_price_minor = INT64_MIN;
	b = bad_add("PutProduct without a product", INVALID);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT;
	static Fairpay__V1__PutProductRequest empty_put = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	b->req.put_product = &empty_put;
	for (int i = 0; i < 2; i++) {
		fairpay__v1__get_product_request__init(&B.get_product[i]);
		B.get_product[i].sku = i == 0 ? "" : B.big;
		b = bad_add("GetProduct", INVALID);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT;
		b->req.get_product = &B.get_product[i];
		fairpay__v1__list_products_request__init(&B.list_products[i]);
		B.list_products[i].page_token = i == 0 ? "not a token!" : B.big;
		b = bad_add("ListProducts", INVALID);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS;
		b->req.list_products = &B.list_products[i];
	}

	/* Policies. */
	for (int i = 0; i < 5; i++) {
		fairpay__v1__put_policy_request__init(&B.put_policy[i]);
		if (i < 4) {
			fairpay__v1__policy__init(&B.pol[i]);
			B.put_policy[i].policy = &B.pol[i];
		}
		b = bad_add("PutPolicy", INVALID);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_PUT_POLICY;
		b->req.put_policy = &B.put_policy[i];
	}
	H_POLICY_SET(&B.pol[0], alpha_bp, ALPHA_BP, 0);
	H_POLICY_SET(&B.pol[1], enforcement, ENFORCEMENT, (Fairpay__V1__Enforcement)99);
	B.pol[2].excusing_reasons = B.excuse99;
	B.pol[2].n_excusing_reasons = 1;
	B.put_policy[2].set_excusing_reasons = true;
	H_POLICY_SET(&B.pol[3], low_score_bp, LOW_SCORE_BP, 9500); /* above fair */
	H_POLICY_SET(&B.pol[3], late_penalty_bp, LATE_PENALTY_BP, -1);

	/* Offers. */
	fairpay__v1__offer_overrides__init(&B.ov[0]);
	B.ov[0].opt_mode_case = FAIRPAY__V1__OFFER_OVERRIDES__OPT_MODE_MODE;
	B.ov[0].mode = (Fairpay__V1__OfferMode)99;
	fairpay__v1__offer_overrides__init(&B.ov[1]);
	B.ov[1].opt_suggested_price_minor_case =
		FAIRPAY__V1__OFFER_OVERRIDES__OPT_SUGGESTED_PRICE_MINOR_SUGGESTED_PRICE_MINOR;
	B.ov[1].suggested_price_minor = -100;
	for (int i = 0; i < 7; i++) {
		Fairpay__V1__CreateOfferRequest *m = &B.create_offer[i];
		fairpay__v1__create_offer_request__init(m);
		m->customer_id = "storm-customer";
		m->sku = "storm";
		b = bad_add("CreateOffer", INVALID);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
		b->req.create_offer = m;
	}
	B.create_offer[0].customer_id = "";
	B.create_offer[1].customer_id = B.big;
	B.create_offer[2].customer_id = B.bad_utf8;
	B.create_offer[3].sku = "";
	B.create_offer[4].overrides = &B.ov[0];
	B.create_offer[5].overrides = &B.ov[1];
	/* Well-formed, but the stormer has no products: the database says so. */
	B.r[B.n - 1].codes = NOT_FOUND;
	B.r[B.n - 1].what = "CreateOffer of a missing product";
	/* A 10 KB idempotency key on an otherwise valid call. */
	b = bad_add("CreateOffer with a 10 KB idempotency key", INVALID);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	b->req.create_offer = &B.create_offer[6];
	b->req.idempotency_key = B.big;

	const char *ids[] = { "", B.big, "o_0123456789abcdef" };
	for (int i = 0; i < 3; i++) {
		fairpay__v1__accept_offer_request__init(&B.accept[i]);
		B.accept[i].offer_id = (char *)ids[i];
		/* An empty id may be answered as missing or as required; one
		 * over every string's bound (limit.h) is refused as input. */
		b = bad_add("AcceptOffer", i == 0   ? INVALID | NOT_FOUND
					   : i == 1 ? INVALID
						    : NOT_FOUND);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
		b->req.accept_offer = &B.accept[i];
	}
	fairpay__v1__decline_offer_request__init(&B.decline[0]);
	B.decline[0].offer_id = "";
	b = bad_add("DeclineOffer", INVALID | NOT_FOUND);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER;
	b->req.decline_offer = &B.decline[0];
	fairpay__v1__get_offer_request__init(&B.get_offer[0]);
	B.get_offer[0].offer_id = "o_ZZ";
	b = bad_add("GetOffer", NOT_FOUND);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_OFFER;
	b->req.get_offer = &B.get_offer[0];

	/* Payments. */
	bad_pay(0)->amount_minor = -1;
	bad_pay(1)->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT__NOT_SET;
	Fairpay__V1__SubmitPaymentRequest *m = bad_pay(2);
	m->amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
	m->differential_bp = -10001;
	bad_pay(3)->usage_units = -1;
	m = bad_pay(4);
	m->reasons = B.reason99;
	m->n_reasons = 1;
	bad_pay(5)->note = B.big;
	bad_pay(6)->offer_id = "";
	B.r[B.n - 1].codes = INVALID | NOT_FOUND;
	for (int i = 0; i < 2; i++) {
		fairpay__v1__review_payment_request__init(&B.review[i]);
		B.review[i].payment_id = i == 0 ? "" : "p_0123456789abcdef";
		B.review[i].note = i == 0 ? "" : B.big;
		b = bad_add("ReviewPayment", INVALID | NOT_FOUND);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT;
		b->req.review_payment = &B.review[i];
	}
	for (int i = 0; i < 2; i++) {
		fairpay__v1__get_reputation_request__init(&B.get_rep[i]);
		B.get_rep[i].customer_id = i == 0 ? "" : B.bad_utf8;
		b = bad_add("GetReputation", INVALID);
		b->req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
		b->req.get_reputation = &B.get_rep[i];
	}
	fairpay__v1__list_customer_events_request__init(&B.list_ev[0]);
	B.list_ev[0].customer_id = B.big;
	b = bad_add("ListCustomerEvents", INVALID);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS;
	b->req.list_customer_events = &B.list_ev[0];

	/* Admin calls from a vendor key. */
	fairpay__v1__create_vendor_request__init(&B.create_vendor[0]);
	B.create_vendor[0].name = B.big;
	b = bad_add("CreateVendor", DENIED);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
	b->req.create_vendor = &B.create_vendor[0];
	fairpay__v1__create_api_key_request__init(&B.create_key[0]);
	B.create_key[0].role = (Fairpay__V1__Role)99;
	b = bad_add("CreateApiKey", DENIED);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY;
	b->req.create_api_key = &B.create_key[0];
	fairpay__v1__revoke_api_key_request__init(&B.revoke[0]);
	b = bad_add("RevokeApiKey", DENIED);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_REVOKE_API_KEY;
	b->req.revoke_api_key = &B.revoke[0];
	fairpay__v1__list_vendors_request__init(&B.list_vendors[0]);
	B.list_vendors[0].limit = UINT32_MAX;
	b = bad_add("ListVendors", DENIED);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
	b->req.list_vendors = &B.list_vendors[0];
	fairpay__v1__register_client_cert_request__init(&B.cert[0]);
	B.cert[0].cert_sha256 = B.big;
	b = bad_add("RegisterClientCert", DENIED);
	b->req.call_case = FAIRPAY__V1__REQUEST__CALL_REGISTER_CLIENT_CERT;
	b->req.register_client_cert = &B.cert[0];
}

/* Bodies that are not a Request: each is checked to fail decoding. */
static const struct {
	const char *what;
	const uint8_t *bytes;
	size_t len;
} garbage[] = {
	{ "wire type 7", (const uint8_t *)"\x0f\x01\x02\x03\x04\x05", 6 },
	{ "endless varint", (const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	  12 },
	{ "field longer than the frame", (const uint8_t *)"\x52\x7f\x01\x02", 4 },
	{ "text", (const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27 },
};

/* A 2000-byte body of noise that starts with an invalid tag. */
static uint8_t noise[2000];

/* Requests that decode but name no call: a bare id, and an unknown field. */
static const struct {
	const char *what;
	const uint8_t *bytes;
	size_t len;
} no_call[] = {
	{ "id only", (const uint8_t *)"\x08\x07", 2 },
	{ "unknown field 99", (const uint8_t *)"\x08\x07\x9a\x06\x00", 5 },
};

/* ---------------------------------------------------------------- the storm */

typedef enum kind {
	K_ZERO,     /* a frame of length 0 */
	K_OVERSIZE, /* a header over --max-frame */
	K_GARBAGE,  /* a body that does not decode */
	K_NOCALL,   /* a Request without a call */
	K_UNAUTH,   /* vendor and admin calls before Authenticate */
	K_BADKEYS,  /* three wrong API keys */
	K_INVALID,  /* authenticated, every call with invalid fields */
	K_PARTIAL,  /* half a frame, then we go */
	K_COUNT
} kind;

static atomic_long budget; /* bad frames still to send */

typedef struct storm_arg {
	int index;
	const char *port;
	storm_count n;
} storm_arg;

/* Take up to want frames from the budget; the number granted. */
static long take(long want)
{
	long left = atomic_fetch_sub(&budget, want);
	if (left <= 0)
		return 0;
	return left < want ? left : want;
}

/* After a protocol error: the server's reply (id 0, code want) and its
 * close, or a close before the reply could be read. */
static void expect_protocol_error(sconn *c, int want, const char *what, storm_count *n)
{
	resp_t *r = NULL;
	n->protocol_errors++;
	sread s = sconn_read(c, T.io_timeout_ms, &r);
	if (s == S_CLOSED || s == S_ERROR) {
		n->closed_early++;
		return;
	}
	if (s == S_TIMEOUT) {
		note(n->first, sizeof(n->first), &n->unexpected, "%s: no reply and no close", what);
		return;
	}
	int code = r->status ? (int)r->status->code : 0;
	if (r->id != 0 || code != want) {
		note(n->first, sizeof(n->first), &n->unexpected,
		     "%s: reply id %llu code %s, want id 0 %s", what, (unsigned long long)r->id,
		     h_code_name(code), h_code_name(want));
		fp_response_free(r);
		return;
	}
	fp_response_free(r);
	n->error_replies++;
	s = sconn_read(c, T.io_timeout_ms, &r);
	if (s == S_CLOSED || s == S_ERROR) {
		n->server_closes++;
	} else {
		note(n->first, sizeof(n->first), &n->unexpected, "%s: %s after the error reply",
		     what, s == S_TIMEOUT ? "no close" : "another reply");
		fp_response_free(r);
	}
}

/* Read k replies to requests first_id..first_id+k-1 (any order), each an
 * error among codes[id - first_id] (codes == NULL: UNAUTHENTICATED). */
static int expect_replies(sconn *c, uint64_t first_id, int k, const unsigned *codes,
			  const char *const *whats, storm_count *n)
{
	for (int i = 0; i < k; i++) {
		resp_t *r = NULL;
		sread s = sconn_read(c, T.io_timeout_ms, &r);
		if (s != S_FRAME) {
			note(n->first, sizeof(n->first), &n->unexpected, "reply %d of %d: %s",
			     i + 1, k, s == S_TIMEOUT ? "timed out" : "connection lost");
			return -1;
		}
		int code = r->status ? (int)r->status->code : 0;
		uint64_t id = r->id;
		fp_response_free(r);
		if (id < first_id || id >= first_id + (uint64_t)k) {
			note(n->first, sizeof(n->first), &n->unexpected,
			     "reply id %llu, want %llu..%llu (code %s)", (unsigned long long)id,
			     (unsigned long long)first_id,
			     (unsigned long long)(first_id + (uint64_t)k - 1), h_code_name(code));
			return -1;
		}
		size_t j = (size_t)(id - first_id);
		unsigned want = codes ? codes[j] : BIT(FAIRPAY__V1__CODE__UNAUTHENTICATED);
		if (code == 0 || code >= 32 || !(want & BIT(code))) {
			note(n->first, sizeof(n->first), &n->unexpected, "%s%s answered %s",
			     whats ? whats[j] : "a call", codes ? "" : " unauthenticated",
			     h_code_name(code));
			return -1;
		}
		n->error_replies++;
	}
	return 0;
}

static void storm_zero(sconn *c, fbuf *f, storm_count *n)
{
	fbuf_frame(f, 0, NULL, 0);
	if (sconn_write(c, f->p, f->len) == 0) {
		n->frames++;
		expect_protocol_error(c, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "zero-length frame",
				      n);
	}
}

static void storm_oversize(sconn *c, fbuf *f, int round, storm_count *n)
{
	/* Only the header: the server refuses on it alone. */
	fbuf_frame(f, round % 2 ? 0xffffffffu : MAX_FRAME + 1, NULL, 0);
	if (sconn_write(c, f->p, f->len) == 0) {
		n->frames++;
		expect_protocol_error(c, FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED, "oversize frame",
				      n);
	}
}

static void storm_garbage(sconn *c, fbuf *f, int round, storm_count *n)
{
	size_t g = (size_t)round % (N(garbage) + 1);
	if (g < N(garbage))
		fbuf_frame(f, (uint32_t)garbage[g].len, garbage[g].bytes, garbage[g].len);
	else
		fbuf_frame(f, sizeof(noise), noise, sizeof(noise));
	if (sconn_write(c, f->p, f->len) == 0) {
		n->frames++;
		expect_protocol_error(c, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "garbage body", n);
	}
}

static void storm_nocall(sconn *c, fbuf *f, int round, storm_count *n)
{
	size_t i = (size_t)round % N(no_call);
	fbuf_frame(f, (uint32_t)no_call[i].len, no_call[i].bytes, no_call[i].len);
	if (sconn_write(c, f->p, f->len) == 0) {
		n->frames++;
		expect_protocol_error(c, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
				      "request without call", n);
	}
}

static void storm_partial(sconn *c, fbuf *f, storm_count *n)
{
	fbuf_frame(f, 1000, noise, 10); /* says 1000 bytes, brings 10 */
	if (sconn_write(c, f->p, f->len) == 0) {
		n->frames++;
		n->partial++;
	}
}

static void storm_unauth(sconn *c, fbuf *f, long frames, storm_count *n)
{
	for (long i = 0; i < frames; i++)
		fbuf_request(f, &B.r[(size_t)i % B.n].req, (uint64_t)i + 1);
	if (sconn_write(c, f->p, f->len) != 0)
		return;
	n->frames += frames;
	(void)expect_replies(c, 1, (int)frames, NULL, NULL, n);
}

static void storm_badkeys(sconn *c, fbuf *f, int round, storm_count *n)
{
	char wrong[200];
	/* The stormer's own key id with another secret, then keys of the wrong
	 * shape. */
	snprintf(wrong, sizeof(wrong), "%.20s%064d", T.storm_key, round);
	const char *keys[3] = { wrong, round % 2 ? "" : "fp_", round % 3 ? B.big : "not a key" };
	for (int i = 0; i < 3; i++) {
		Fairpay__V1__AuthenticateRequest a = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
		a.api_key = (char *)keys[i];
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
		req.authenticate = &a;
		fbuf_reset(f);
		fbuf_request(f, &req, (uint64_t)i + 1);
		if (sconn_write(c, f->p, f->len) != 0)
			return;
		n->frames++;
		if (expect_replies(c, (uint64_t)i + 1, 1, NULL, NULL, n) != 0)
			return;
	}
	resp_t *r = NULL;
	sread s = sconn_read(c, T.io_timeout_ms, &r);
	if (s == S_CLOSED || s == S_ERROR) {
		n->auth_closes++;
	} else {
		note(n->first, sizeof(n->first), &n->unexpected, "third wrong key: %s",
		     s == S_TIMEOUT ? "no close" : "another reply");
		fp_response_free(r);
	}
}

static void storm_invalid(sconn *c, fbuf *f, long frames, int round, storm_count *n)
{
	/* Authenticate first (not counted as a bad frame). */
	Fairpay__V1__AuthenticateRequest a = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	a.api_key = T.storm_key;
	Fairpay__V1__Request auth = FAIRPAY__V1__REQUEST__INIT;
	auth.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	auth.authenticate = &a;
	fbuf_request(f, &auth, 1);
	if (sconn_write(c, f->p, f->len) != 0)
		return;
	resp_t *r = NULL;
	if (sconn_read(c, T.io_timeout_ms, &r) != S_FRAME || r->status == NULL ||
	    r->status->code != 0) {
		note(n->first, sizeof(n->first), &n->unexpected,
		     "the stormer's Authenticate failed");
		fp_response_free(r);
		return;
	}
	fp_response_free(r);
	uint64_t id = 2;
	unsigned codes[BATCH];
	const char *whats[BATCH];
	size_t next = (size_t)round * 7; /* vary where each connection starts */
	while (frames > 0) {
		int k = frames < BATCH ? (int)frames : BATCH;
		fbuf_reset(f);
		for (int i = 0; i < k; i++) {
			const bad_req *b = &B.r[next++ % B.n];
			codes[i] = b->codes;
			whats[i] = b->what;
			fbuf_request(f, &b->req, id + (uint64_t)i);
		}
		if (sconn_write(c, f->p, f->len) != 0) {
			note(n->first, sizeof(n->first), &n->unexpected, "write failed mid-stream");
			return;
		}
		n->frames += k;
		if (expect_replies(c, id, k, codes, whats, n) != 0)
			return;
		id += (uint64_t)k;
		frames -= k;
	}
	/* Every other one ends with a protocol error on top of it all. */
	if (round % 2 == 0 && take(1) == 1) {
		fbuf_reset(f);
		storm_zero(c, f, n);
	}
}

/* Run one connection of kind k, spending from the budget. */
static void storm_one(storm_arg *arg, kind k, int round, fbuf *f)
{
	storm_count *n = &arg->n;
	long want = k == K_UNAUTH ? 20 : k == K_BADKEYS ? 3 : k == K_INVALID ? 4 * BATCH : 1;
	long frames = take(want);
	if (frames == 0)
		return;
	if (k == K_BADKEYS && frames < 3)
		k = K_UNAUTH; /* not enough left for three keys: spend them so */
	sconn c;
	if (sconn_open(&c, arg->port) != 0) {
		n->handshake_failed++;
		note(n->first, sizeof(n->first), &n->unexpected, "TLS connection failed");
		return;
	}
	n->connections++;
	fbuf_reset(f);
	switch (k) {
	case K_ZERO:
		storm_zero(&c, f, n);
		break;
	case K_OVERSIZE:
		storm_oversize(&c, f, round, n);
		break;
	case K_GARBAGE:
		storm_garbage(&c, f, round, n);
		break;
	case K_NOCALL:
		storm_nocall(&c, f, round, n);
		break;
	case K_UNAUTH:
		storm_unauth(&c, f, frames, n);
		break;
	case K_BADKEYS:
		storm_badkeys(&c, f, round, n);
		break;
	case K_INVALID:
		storm_invalid(&c, f, frames, round, n);
		break;
	case K_PARTIAL:
	default:
		storm_partial(&c, f, n);
		break;
	}
	sconn_close(&c);
}

static void *storm_thread(void *p)
{
	storm_arg *arg = p;
	fbuf f = { 0 };
	/* One connection held open, unauthenticated and silent, for the whole
	 * storm (so that many connections are open at once); it ends with a
	 * garbage frame like the others. */
	sconn idle;
	bool have_idle = sconn_open(&idle, arg->port) == 0;
	if (have_idle)
		arg->n.connections++;
	else
		arg->n.handshake_failed++;
	for (int round = 0; atomic_load(&budget) > 0; round++)
		storm_one(arg, (kind)((arg->index + round) % K_COUNT), round, &f);
	if (have_idle) {
		fbuf_reset(&f);
		storm_garbage(&idle, &f, arg->index, &arg->n);
		sconn_close(&idle);
	}
	free(f.p);
	return NULL;
}

/* ---------------------------------------------------------------- the good clients */

typedef struct good_arg {
	int index;
	const char *port;
	atomic_bool *stop;
	good_count n;
} good_arg;

/* One call; 0 when it answered OK. */
static int good_call(fp_client *c, Fairpay__V1__Request *req, resp_t **out, good_count *n,
		     const char *what)
{
	resp_t *r = NULL;
	req->id = 0;
	n->calls++;
	if (fp_client_call(c, req, &r) != 0) {
		note(n->first, sizeof(n->first), &n->errors, "%s: %s (%s)", what,
		     fp_client_error_message(c), h_code_name(fp_client_error_code(c)));
		fp_response_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

static int good_cycle(fp_client *c, const char *customer, good_count *n)
{
	resp_t *r = NULL;
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	co.customer_id = (char *)customer;
	co.sku = "good";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
	req.create_offer = &co;
	if (good_call(c, &req, &r, n, "CreateOffer") != 0)
		return -1;
	const Fairpay__V1__Offer *o = r->create_offer->offer;
	char offer_id[64];
	snprintf(offer_id, sizeof(offer_id), "%s", o->offer_id);
	bool set_price = o->mode == H_MODE(SET_PRICE);
	int64_t amount = set_price ? o->set_price_minor
				   : (o->suggested_price_minor > o->minimum_price_minor
					      ? o->suggested_price_minor
					      : o->minimum_price_minor);
	fp_response_free(r);

	if (!set_price) {
		Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
		ao.offer_id = offer_id;
		fairpay__v1__request__init(&req);
		req.call_case = FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER;
		req.accept_offer = &ao;
		if (good_call(c, &req, &r, n, "AcceptOffer") != 0)
			return -1;
		fp_response_free(r);
	}
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	sp.offer_id = offer_id;
	sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	sp.amount_minor = amount;
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
	req.submit_payment = &sp;
	if (good_call(c, &req, &r, n, "SubmitPayment") != 0)
		return -1;
	fp_response_free(r);

	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	gr.customer_id = (char *)customer;
	fairpay__v1__request__init(&req);
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION;
	req.get_reputation = &gr;
	if (good_call(c, &req, &r, n, "GetReputation") != 0)
		return -1;
	int payments = r->get_reputation->reputation ? r->get_reputation->reputation->payments : -1;
	fp_response_free(r);
	if (payments <= 0) {
		note(n->first, sizeof(n->first), &n->errors, "GetReputation: %d payments after one",
		     payments);
		return -1;
	}
	n->cycles++;
	return 0;
}

static void *good_thread(void *p)
{
	good_arg *arg = p;
	fp_client *c = fp_client_new();
	fp_client_options opts = T.opts;
	Fairpay__V1__Role role;
	if (c == NULL || fp_client_connect(c, "127.0.0.1", arg->port, &opts) != 0 ||
	    fp_client_authenticate(c, T.good_key, &role, NULL) != 0) {
		note(arg->n.first, sizeof(arg->n.first), &arg->n.errors, "connect/authenticate: %s",
		     c ? fp_client_error_message(c) : "out of memory");
		fp_client_free(c);
		return NULL;
	}
	char customer[64];
	snprintf(customer, sizeof(customer), "good-%d", arg->index);
	/* At least one cycle, then until told to stop; the first error ends it. */
	do {
		if (good_cycle(c, customer, &arg->n) != 0)
			break;
	} while (!atomic_load(arg->stop));
	fp_client_free(c);
	return NULL;
}

/* ---------------------------------------------------------------- one storm with good clients */

typedef struct round_result {
	storm_count s;
	good_count g;
	int64_t ms;
} round_result;

static void add(storm_count *t, const storm_count *n)
{
	t->connections += n->connections;
	t->handshake_failed += n->handshake_failed;
	t->frames += n->frames;
	t->partial += n->partial;
	t->error_replies += n->error_replies;
	t->protocol_errors += n->protocol_errors;
	t->server_closes += n->server_closes;
	t->closed_early += n->closed_early;
	t->auth_closes += n->auth_closes;
	if (t->unexpected == 0 && n->unexpected > 0)
		snprintf(t->first, sizeof(t->first), "%s", n->first);
	t->unexpected += n->unexpected;
}

static round_result run_storm(long frames)
{
	round_result res;
	memset(&res, 0, sizeof(res));
	atomic_bool stop;
	atomic_init(&stop, false);
	atomic_store(&budget, frames);
	static good_arg goods[GOOD_THREADS];
	static storm_arg storms[STORM_THREADS];
	pthread_t gt[GOOD_THREADS], st[STORM_THREADS];
	int64_t t0 = h_now_ms();
	for (int i = 0; i < GOOD_THREADS; i++) {
		memset(&goods[i], 0, sizeof(goods[i]));
		goods[i].index = i;
		goods[i].port = T.w.srv->port;
		goods[i].stop = &stop;
		if (pthread_create(&gt[i], NULL, good_thread, &goods[i]) != 0)
			fail_msg("pthread_create failed");
	}
	for (int i = 0; i < STORM_THREADS; i++) {
		memset(&storms[i], 0, sizeof(storms[i]));
		storms[i].index = i;
		storms[i].port = T.w.srv->port;
		if (pthread_create(&st[i], NULL, storm_thread, &storms[i]) != 0)
			fail_msg("pthread_create failed");
	}
	for (int i = 0; i < STORM_THREADS; i++) {
		pthread_join(st[i], NULL);
		add(&res.s, &storms[i].n);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < GOOD_THREADS; i++) {
		pthread_join(gt[i], NULL);
		res.g.cycles += goods[i].n.cycles;
		res.g.calls += goods[i].n.calls;
		if (res.g.errors == 0 && goods[i].n.errors > 0)
			snprintf(res.g.first, sizeof(res.g.first), "%s", goods[i].n.first);
		res.g.errors += goods[i].n.errors;
	}
	res.ms = h_now_ms() - t0;
	return res;
}

static void print_round(const char *name, const round_result *r)
{
	printf("%s: %ld bad frames on %ld connections in %lld ms (%ld error replies; %ld protocol "
	       "errors: %ld closed by the server after its reply, %ld closed before it could be "
	       "read; %ld closed after 3 wrong keys; %ld left with half a frame); good clients: "
	       "%ld cycles, %ld calls, %ld errors\n",
	       name, r->s.frames, r->s.connections, (long long)r->ms, r->s.error_replies,
	       r->s.protocol_errors, r->s.server_closes, r->s.closed_early, r->s.auth_closes,
	       r->s.partial, r->g.cycles, r->g.calls, r->g.errors);
	fflush(stdout);
}

/* Fail on anything unexpected in a round. */
static void assert_round(const char *name, const round_result *r, long frames)
{
	if (r->s.unexpected > 0)
		fail_msg("%s: %ld unexpected answers from the server; the first: %s", name,
			 r->s.unexpected, r->s.first);
	if (r->s.handshake_failed > 0)
		fail_msg("%s: %ld TLS connections could not be made", name, r->s.handshake_failed);
	if (r->g.errors > 0)
		fail_msg("%s: the good clients saw %ld errors; the first: %s", name, r->g.errors,
			 r->g.first);
	if (r->g.cycles < GOOD_THREADS)
		fail_msg("%s: the good clients completed only %ld cycles", name, r->g.cycles);
	/* Every bad frame was sent (the idle connections add one each). */
	if (r->s.frames < frames)
		fail_msg("%s: only %ld of %ld bad frames were sent", name, r->s.frames, frames);
	/* Every connection ended by a protocol error got its reply and close,
	 * or was closed before the reply could be read. */
	if (r->s.server_closes + r->s.closed_early != r->s.protocol_errors)
		fail_msg("%s: %ld protocol errors, %ld + %ld closes", name, r->s.protocol_errors,
			 r->s.server_closes, r->s.closed_early);
}

/* ---------------------------------------------------------------- the server's memory */

/* The server's resident set size in kB, from /proc/PID/status. */
static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	long kb = -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		fail_msg("no VmRSS in %s", path);
	return kb;
}

/* True when the server runs under AddressSanitizer, whose quarantine holds
 * freed memory back on purpose (its leak check covers leaks then). */
static bool server_has_asan(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool asan = false;
	while (!asan && fgets(line, sizeof(line), f) != NULL)
		asan = strstr(line, "libasan") != NULL;
	fclose(f);
	return asan || h_contains(h_build_dir(), "asan");
}

/* The value of counter name in the server's last "stats:" line, or -1. */
static long server_counter(const char *name)
{
	char *log = h_server_log(T.w.srv);
	const char *line = NULL;
	for (const char *p = strstr(log, "stats: "); p != NULL; p = strstr(p + 1, "stats: "))
		line = p;
	long v = -1;
	if (line != NULL) {
		char key[64];
		snprintf(key, sizeof(key), " %s=", name);
		const char *end = strchr(line, '\n');
		const char *k = strstr(line, key);
		if (k != NULL && (end == NULL || k < end))
			v = atol(k + strlen(key));
	}
	free(log);
	return v;
}

/* ---------------------------------------------------------------- setup */

static bool server_has_flag(const char *flag)
{
	char *bin = h_path(h_build_dir(), "fairpayd");
	char *q = h_shq(bin);
	char *cmd = h_fmt("%s --help 2>&1", q);
	char *out = NULL;
	(void)h_run(cmd, &out);
	bool has = h_contains(out, flag);
	free(out);
	free(cmd);
	free(q);
	free(bin);
	return has;
}

static int setup(void **state)
{
	T.stats_flag = server_has_flag("--stats-interval-ms");
	if (T.stats_flag)
		h_world_start(&T.w, "fp_it_storm", "--stats-interval-ms", "200", NULL);
	else
		h_world_start(&T.w, "fp_it_storm", NULL);
	fp_client *g = h_vendor_client(T.w.srv, T.w.admin, "good", &T.good_id, &T.good_key);
	h_product(g, "good", 100, 120);
	fp_client_free(g);
	fp_client *s = h_vendor_client(T.w.srv, T.w.admin, "stormer", &T.storm_id, &T.storm_key);
	fp_client_free(s);

	T.io_timeout_ms = h_slow() ? SLOW_IO_TIMEOUT_MS : IO_TIMEOUT_MS;
	T.opts = *h_client_options();
	T.opts.timeout_ms = T.io_timeout_ms;
	snprintf(T.ca, sizeof(T.ca), "%s/ca.pem", h_certs_dir());
	T.ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(T.ctx);
	SSL_CTX_set_verify(T.ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(T.ctx, T.ca, NULL) != 1)
		fail_msg("cannot load %s", T.ca);
	static const unsigned char alpn[] = "\x09"
					    "fairpay/1";
	SSL_CTX_set_alpn_protos(T.ctx, alpn, sizeof(alpn) - 1);

	bad_build();
	noise[0] = 0xff; /* field 31, wire type 7: never a valid tag */
	for (size_t i = 1; i < sizeof(noise); i++)
		noise[i] = (uint8_t)(i * 131 + 7);
	/* The bad bodies must really be bad, and the good-looking ones must
	 * decode without a call: otherwise the test would test nothing. */
	for (size_t i = 0; i < N(garbage); i++)
		if (fairpay__v1__request__unpack(NULL, garbage[i].len, garbage[i].bytes) != NULL)
			fail_msg("garbage '%s' decodes as a Request", garbage[i].what);
	if (fairpay__v1__request__unpack(NULL, sizeof(noise), noise) != NULL)
		fail_msg("the noise decodes as a Request");
	for (size_t i = 0; i < N(no_call); i++) {
		Fairpay__V1__Request *r =
			fairpay__v1__request__unpack(NULL, no_call[i].len, no_call[i].bytes);
		if (r == NULL || r->call_case != FAIRPAY__V1__REQUEST__CALL__NOT_SET)
			fail_msg("'%s' is not a Request without a call", no_call[i].what);
		fairpay__v1__request__free_unpacked(r, NULL);
	}
	for (size_t i = 0; i < B.n; i++)
		if (fairpay__v1__request__get_packed_size(&B.r[i].req) + 8 > MAX_FRAME)
			fail_msg("bad request '%s' does not fit a frame", B.r[i].what);
	return 0;
}

static int teardown(void **state)
{
	SSL_CTX_free(T.ctx);
	free(T.good_key);
	free(T.good_id);
	free(T.storm_key);
	free(T.storm_id);
	h_world_stop(&T.w);
	return 0;
}

/* ---------------------------------------------------------------- the test */

static void test_storm(void **state)
{
	bool slow = h_slow();
	long warm_frames = slow ? SLOW_WARM_FRAMES : WARM_FRAMES;
	long storm_frames = slow ? SLOW_STORM_FRAMES : STORM_FRAMES;
	pid_t pid = T.w.srv->pid;

	/* Warm up: the same threads and kinds of connection at the same
	 * concurrency, fewer frames, so that the allocator's high-water mark
	 * is reached before the baseline is taken. */
	round_result warm = run_storm(warm_frames);
	print_round("warm-up", &warm);
	assert_round("warm-up", &warm, warm_frames);
	h_sleep_ms(1000);
	long rss0 = rss_kb(pid);

	round_result storm = run_storm(storm_frames);
	print_round("storm", &storm);
	assert_round("storm", &storm, storm_frames);
	assert_true(h_server_alive(T.w.srv));

	/* All storm connections are closed on our side; give the server a
	 * second to see that and free them. */
	h_sleep_ms(1000);
	long rss1 = rss_kb(pid);
	for (int i = 0; i < 20 && rss1 * 100 > rss0 * (100 + RSS_SLACK_PCT); i++) {
		h_sleep_ms(100); /* a late close or two */
		rss1 = rss_kb(pid);
	}
	printf("fairpayd VmRSS: %ld kB after the warm-up, %ld kB after the storm (%+.1f%%)\n", rss0,
	       rss1, 100.0 * (double)(rss1 - rss0) / (double)rss0);

	/* The server's own counts, when it keeps them, agree with ours. */
	if (T.stats_flag) {
		long pe = server_counter("protocol_errors");
		long ftl = server_counter("frame_too_large");
		long ac = server_counter("auth_closes");
		long want_pe = warm.s.protocol_errors + storm.s.protocol_errors;
		long want_ac = warm.s.auth_closes + storm.s.auth_closes;
		printf("server counters: protocol_errors=%ld (ours %ld) frame_too_large=%ld "
		       "auth_closes=%ld (ours %ld)\n",
		       pe, want_pe, ftl, ac, want_ac);
		if (pe >= 0 && pe != want_pe)
			fail_msg("the server counted %ld protocol errors, we caused %ld", pe,
				 want_pe);
		if (ac >= 0 && ac != want_ac)
			fail_msg("the server closed %ld connections for wrong keys, we made %ld",
				 ac, want_ac);
	}

	/* The stormer stored nothing; the good clients' cycles are all there. */
	char *q =
		h_fmt("SELECT (SELECT count(*) FROM products WHERE vendor_id = '%1$s') + "
		      "(SELECT count(*) FROM offers WHERE vendor_id = '%1$s') + (SELECT count(*) "
		      "FROM payments WHERE vendor_id = '%1$s') + (SELECT count(*) FROM "
		      "reputations WHERE vendor_id = '%1$s') + (SELECT count(*) FROM events WHERE "
		      "vendor_id = '%1$s') + (SELECT count(*) FROM policies WHERE vendor_id = "
		      "'%1$s') + (SELECT count(*) FROM idempotency WHERE vendor_id = '%1$s')",
		      T.storm_id);
	assert_int_equal(h_sql_int(T.w.db, q), 0);
	free(q);
	q = h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s'", T.good_id);
	assert_int_equal(h_sql_int(T.w.db, q), warm.g.cycles + storm.g.cycles);
	free(q);
	assert_int_equal(h_sql_int(T.w.db, "SELECT count(*) FROM vendors"), 2);
	assert_int_equal(
		h_sql_int(T.w.db, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL"), 0);

	/* Still serving. */
	fp_client *c = h_connect_auth(T.w.srv, T.good_key);
	h_assert_code(h_ping(c), H_OK);
	resp_t *r = h_reputation(c, "good-0");
	assert_true(r->get_reputation->reputation->payments > 0);
	fp_response_free(r);
	fp_client_free(c);

	if (slow || server_has_asan(pid)) {
		printf("memory check skipped: the server runs under %s\n",
		       slow ? "valgrind" : "AddressSanitizer");
	} else if (rss1 * 100 > rss0 * (100 + RSS_SLACK_PCT)) {
		fail_msg("fairpayd's resident size grew from %ld kB to %ld kB over the storm "
			 "(more than %d%%)",
			 rss0, rss1, RSS_SLACK_PCT);
	}
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storm),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
