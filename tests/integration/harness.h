/* h_: the integration test harness.
 *
 * Every integration binary starts the real fairpayd on a free port against its
 * own database in the throwaway cluster made by scripts/run-tests.sh, and talks
 * to it over TLS through libfairpay (or raw OpenSSL for protocol abuse). The
 * environment comes from the runner: FP_BUILD, FP_ROOT, FP_TMP, FP_CERTS,
 * FP_PGDATA, FP_PGHOST, FP_PGPORT.
 *
 * Helpers that set things up fail the running test (cmocka fail_msg) on any
 * error, so a test body only states what it checks. Include <cmocka.h> (and its
 * prerequisites) before this header. */
#ifndef FP_TEST_HARNESS_H
#define FP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fairpay/client.h"

/* h_call's answer when no reply came at all (I/O or decode failure). */
#define H_NO_REPLY (-1)

typedef struct h_server {
	pid_t pid;
	bool running;
	int status; /* exit status once stopped: code, or 128 + signal */
	char port[16];
	char addr[32];      /* "127.0.0.1:PORT" */
	char log_path[512]; /* its stderr */
	char pid_path[512]; /* $FP_TMP/pids/<pid>.pid */
} h_server;

/* ---------------------------------------------------------------- environment */

/* The value of a required environment variable; fails the test when unset. */
const char *h_env(const char *name);

/* Absolute directories: the build (fairpayd, fairpayctl), the repository, the
 * scratch directory and the certificates. */
const char *h_build_dir(void);
const char *h_root_dir(void);
const char *h_tmp_dir(void);
const char *h_certs_dir(void);

/* A malloc'ed "DIR/NAME" path. */
char *h_path(const char *dir, const char *name);

/* Monotonic milliseconds. */
int64_t h_now_ms(void);

/* Sleep ms milliseconds (only inside polling loops). */
void h_sleep_ms(int ms);

/* A malloc'ed, single-quoted copy of s for /bin/sh. */
char *h_shq(const char *s);

/* A malloc'ed printf. */
char *h_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when hay contains needle (NULL hay: false). */
bool h_contains(const char *hay, const char *needle);

/* ---------------------------------------------------------------- database */

/* Drop and create database name; returns its malloc'ed conninfo
 * "host=.. port=.. user=postgres dbname=NAME". */
char *h_db_create(const char *name);

/* Apply the migrations with `fairpayctl db migrate`. */
void h_migrate(const char *conninfo);

/* Create an ADMIN key with `fairpayctl db bootstrap-admin`; returns it. */
char *h_bootstrap_admin(const char *conninfo);

/* Run sql; returns the malloc'ed first value of the first row, or NULL when
 * there is no row (or the value is NULL). */
char *h_sql(const char *conninfo, const char *sql);

/* Run sql and return its first value as an integer (fails if none). */
long long h_sql_int(const char *conninfo, const char *sql);

/* Stop and start the shared cluster (scripts/pg.sh). h_pg_start waits until it
 * accepts connections again. */
void h_pg_stop(void);
void h_pg_start(void);

/* ---------------------------------------------------------------- processes */

/* Run cmd with /bin/sh; *output (when not NULL) receives its malloc'ed stdout.
 * Returns the exit status (128 + signal when killed). Fails the test when it
 * runs longer than 120 s. */
int h_run(const char *cmd, char **output);

/* A malloc'ed shell command line "'$FP_BUILD/fairpayctl'" to append to. */
char *h_ctl(void);

/* Start fairpayd on a free port with the test certificates; extra arguments
 * follow, ended by NULL. Returns once a client can connect and Ping. */
h_server *h_server_start(const char *conninfo, ...) __attribute__((sentinel));

/* Send sig (0: send nothing) and wait up to 30 s for the server to exit;
 * returns its exit status (128 + signal when killed by one). */
int h_server_stop(h_server *s, int sig);

/* True while the server's process has not exited. */
bool h_server_alive(h_server *s);

/* The malloc'ed contents of the server's log. */
char *h_server_log(const h_server *s);

/* Kill the server if it still runs and free s. Accepts NULL. */
void h_server_free(h_server *s);

/* ---------------------------------------------------------------- clients */

/* A client connected to s (CA: FP_CERTS/ca.pem, host 127.0.0.1, 10 s timeout). */
fp_client *h_connect(const h_server *s);

/* Connect without failing the test: 0, or -1 with the client's message in err. */
int h_try_connect(const char *port, const fp_client_options *opts, fp_client **out, char *err,
		  size_t errlen);

/* The options h_connect uses (static storage). */
const fp_client_options *h_client_options(void);

/* A client connected to s and authenticated with key (fails unless OK). */
fp_client *h_connect_auth(const h_server *s, const char *key);

/* Send req, wait for its reply: returns the status code, or H_NO_REPLY. The
 * reply goes to *resp (when not NULL; free with fp_response_free). The status
 * message and field are kept for h_last_message()/h_last_field(). */
int h_call(fp_client *c, Fairpay__V1__Request *req, Fairpay__V1__Response **resp);

/* The status message and field of the last h_call (or the client's error). */
const char *h_last_message(void);
const char *h_last_field(void);

/* Calls by name; each returns the status code (or H_NO_REPLY). Out
 * parameters are malloc'ed copies, set only on OK, and may be NULL. */
int h_ping(fp_client *c);
int h_auth(fp_client *c, const char *key, Fairpay__V1__Role *role, char **vendor_id);
int h_list_vendors(fp_client *c, const char *page_token, uint32_t limit,
		   Fairpay__V1__Response **resp);
int h_create_vendor(fp_client *c, const char *name, char **vendor_id, char **api_key,
		    char **key_id);
int h_create_api_key(fp_client *c, const char *vendor_id, int role, char **key_id, char **api_key);
int h_revoke_api_key(fp_client *c, const char *key_id);

/* The name of a code for messages ("NO_REPLY" for H_NO_REPLY). */
const char *h_code_name(int code);

/* Fail unless got == want, naming both codes and the status message. */
#define h_assert_code(got, want)                                                              \
	do {                                                                                  \
		int h_got_ = (got);                                                           \
		int h_want_ = (want);                                                         \
		if (h_got_ != h_want_)                                                        \
			fail_msg("%s: got %s, want %s (message '%s', field '%s')", #got,      \
				 h_code_name(h_got_), h_code_name(h_want_), h_last_message(), \
				 h_last_field());                                             \
	} while (0)

/* ---------------------------------------------------------------- raw TLS and TCP */

typedef struct h_tls h_tls;

/* A raw TLS connection to port, verified against the CA for 127.0.0.1, offering
 * ALPN fairpay/1; fails the test when the handshake fails. */
h_tls *h_tls_connect(const char *port);

/* The same without failing: TLS versions bounded by min_version/max_version
 * (0: library default). NULL with OpenSSL's reasons in err on failure. */
h_tls *h_tls_try(const char *port, int min_version, int max_version, char *err, size_t errlen);

/* Write all of buf (fails the test on error). */
void h_tls_write(h_tls *t, const void *buf, size_t len);

/* Write a 4-byte frame header for len, then body (may be NULL). */
void h_tls_write_frame(h_tls *t, uint32_t len, const void *body, size_t body_len);

/* Pack req and write it as one frame. */
void h_tls_write_request(h_tls *t, const Fairpay__V1__Request *req);

typedef enum h_read {
	H_READ_FRAME = 1,  /* a Response was read */
	H_READ_CLOSED = 0, /* the peer closed (clean close, EOF or reset) */
	H_READ_TIMEOUT = -1,
	H_READ_ERROR = -2 /* a TLS error, or bytes that are not a Response */
} h_read;

/* Read one framed Response within timeout_ms. */
h_read h_tls_read(h_tls *t, int timeout_ms, Fairpay__V1__Response **resp);

/* Fail unless the peer closes within timeout_ms without sending another frame. */
void h_tls_expect_closed(h_tls *t, int timeout_ms);

/* The negotiated ALPN protocol ("" if none) and TLS version (e.g. TLS1_3_VERSION). */
const char *h_tls_alpn(h_tls *t);
int h_tls_version(h_tls *t);

/* Close and free. Accepts NULL. */
void h_tls_close(h_tls *t);

/* A plain TCP connection to 127.0.0.1:port; fails the test on error. */
int h_tcp_connect(const char *port);

/* 1 when the peer closes fd (EOF or reset) within timeout_ms, reading and
 * dropping whatever it sends first; 0 on timeout. */
int h_fd_wait_closed(int fd, int timeout_ms);

/* A port on 127.0.0.1 that nothing listens on right now. */
void h_free_port(char *port, size_t len);

/* ---------------------------------------------------------------- the FairPay cycle */

/* Short names for the codes and enum values the cycle tests compare. */
#define H_OK FAIRPAY__V1__CODE__OK
#define H_INVALID FAIRPAY__V1__CODE__INVALID_ARGUMENT
#define H_NOT_FOUND FAIRPAY__V1__CODE__NOT_FOUND
#define H_DENIED FAIRPAY__V1__CODE__PERMISSION_DENIED
#define H_PRECONDITION FAIRPAY__V1__CODE__FAILED_PRECONDITION
#define H_ABORTED FAIRPAY__V1__CODE__ABORTED
#define H_TIER(x) FAIRPAY__V1__TIER__TIER_##x
#define H_MODE(x) FAIRPAY__V1__OFFER_MODE__OFFER_MODE_##x
#define H_STATUS(x) FAIRPAY__V1__OFFER_STATUS__OFFER_STATUS_##x
#define H_OREASON(x) FAIRPAY__V1__OFFER_REASON__OFFER_REASON_##x
#define H_PREASON(x) FAIRPAY__V1__PAYMENT_REASON__PAYMENT_REASON_##x
#define H_VERDICT(x) FAIRPAY__V1__VERDICT__VERDICT_##x
#define H_REVIEW(x) FAIRPAY__V1__REVIEW__REVIEW_##x
#define H_EVENT(x) FAIRPAY__V1__EVENT_KIND__EVENT_KIND_##x
#define H_ENFORCEMENT(x) FAIRPAY__V1__ENFORCEMENT__ENFORCEMENT_##x

/* Set an optional Policy field: H_POLICY_SET(&pol, alpha_bp, ALPHA_BP, 5000). */
#define H_POLICY_SET(pol, field, FIELD, value)                                          \
	do {                                                                            \
		(pol)->field = (value);                                                 \
		(pol)->opt_##field##_case = FAIRPAY__V1__POLICY__OPT_##FIELD##_##FIELD; \
	} while (0)

/* Run sql without failing the test: 0, or -1 with PostgreSQL's message in err
 * (for statements that must be refused). */
int h_sql_try(const char *conninfo, const char *sql, char *err, size_t errlen);

/* Fail unless the last reply's status.field is want. */
void h_assert_field(const char *want);

/* Create a vendor through the ADMIN client and return a client connected to
 * s and authenticated with the new vendor's key; *vendor_id and *api_key
 * (when not NULL) receive malloc'ed copies. */
fp_client *h_vendor_client(const h_server *s, fp_client *admin, const char *name, char **vendor_id,
			   char **api_key);

/* Make vendor call cc with msg (the call's request message), under the
 * idempotency key (NULL: none). Returns the status code; an OK reply must
 * carry the call's result. */
int h_vcall(fp_client *c, Fairpay__V1__Request__CallCase cc, void *msg, const char *idem_key,
	    Fairpay__V1__Response **resp);

/* The vendor calls by name; each returns the status code like h_call. */
int h_put_product(fp_client *c, const Fairpay__V1__Product *p, Fairpay__V1__Response **resp);
int h_get_product(fp_client *c, const char *sku, Fairpay__V1__Response **resp);
int h_list_products(fp_client *c, const char *page_token, uint32_t limit,
		    Fairpay__V1__Response **resp);
int h_put_policy(fp_client *c, const Fairpay__V1__Policy *p, bool set_excusing_reasons,
		 Fairpay__V1__Response **resp);
int h_get_policy(fp_client *c, Fairpay__V1__Response **resp);
int h_create_offer(fp_client *c, const char *customer, const char *sku,
		   const Fairpay__V1__OfferOverrides *ov, Fairpay__V1__Response **resp);
int h_accept_offer(fp_client *c, const char *offer_id, Fairpay__V1__Response **resp);
int h_decline_offer(fp_client *c, const char *offer_id, Fairpay__V1__Response **resp);
int h_get_offer(fp_client *c, const char *offer_id, Fairpay__V1__Response **resp);
int h_submit_payment(fp_client *c, const Fairpay__V1__SubmitPaymentRequest *sp,
		     const char *idem_key, Fairpay__V1__Response **resp);
int h_pay(fp_client *c, const char *offer_id, int64_t amount, Fairpay__V1__Response **resp);
int h_pay_differential(fp_client *c, const char *offer_id, int32_t differential_bp,
		       Fairpay__V1__Response **resp);
int h_review_payment(fp_client *c, const char *payment_id, bool accept, const char *note,
		     Fairpay__V1__Response **resp);
int h_get_reputation(fp_client *c, const char *customer, Fairpay__V1__Response **resp);
int h_list_events(fp_client *c, const char *customer, uint64_t after_id, uint32_t limit,
		  Fairpay__V1__Response **resp);

/* Shortcuts that fail the test unless every call answers OK. */

/* Fail unless code is OK, naming what was called and the status. */
void h_must(int code, const char *what);

/* A product with these prices, in USD, one-off, min_tier unspecified. */
void h_product(fp_client *c, const char *sku, int64_t sp, int64_t list_price);
/* CreateOffer without overrides; returns the malloc'ed offer id. */
char *h_offer(fp_client *c, const char *customer, const char *sku);
/* AcceptOffer. */
void h_accept(fp_client *c, const char *offer_id);
/* CreateOffer, AcceptOffer and SubmitPayment of amount; returns the
 * SubmitPayment reply (free with fp_response_free). */
Fairpay__V1__Response *h_cycle(fp_client *c, const char *customer, const char *sku, int64_t amount);
/* GetReputation; returns the reply (its get_reputation->reputation). */
Fairpay__V1__Response *h_reputation(fp_client *c, const char *customer);

/* Fail unless the offer's reasons are exactly the n OfferReason values that
 * follow, in that order. */
void h_assert_reasons(const Fairpay__V1__Offer *o, size_t n, ...);

/* Poll GetOffer until the offer has status want; false after timeout_ms. */
bool h_wait_offer_status(fp_client *c, const char *offer_id, int want, int timeout_ms);

/* Rule 7, written out again here so that the tests check the server against
 * PROTOCOL.md rather than against its own code: one step, and a replay from
 * prior over n closed cycles. */
int32_t h_score_step(int32_t score_bp, int32_t fairness_bp, int32_t alpha_bp);
int32_t h_score_replay(int32_t prior_bp, int32_t alpha_bp, const int32_t *fairness_bp, size_t n);

#endif
