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

/* True when every fairpayd runs under valgrind memcheck (FP_VALGRIND=1, set
 * by `make valgrind`): the server is then many times slower, so a test that
 * measures time must widen its limits or skip the timing assertion. The
 * harness itself already waits longer for a server to start and to stop. */
bool h_slow(void);

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
 * "host=.. port=.. user=postgres dbname=NAME": the owner's, who migrates. */
char *h_db_create(const char *name);

/* The role every fairpayd the harness starts logs in as, made by
 * `scripts/pg.sh server-login` (scripts/run-tests.sh runs it): a LOGIN role
 * that is a member of fairpay_app and of nothing else. */
#define H_SERVER_LOGIN "fairpayd"

/* A malloc'ed conninfo (keyword=value form) with user=role appended: libpq
 * takes the last value of a keyword. */
char *h_conninfo_as(const char *conninfo, const char *role);

/* Log the servers started from now on in as role; NULL: as their conninfo
 * says (the owner, for h_db_create's). H_SERVER_LOGIN until changed. */
void h_server_login(const char *role);

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

/* h_run() of a printf-formatted command line, shown in the test's output with
 * its exit status; *out (when not NULL) receives its stdout. */
int h_runf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A malloc'ed shell command line "'$FP_BUILD/fairpayctl'" to append to. */
char *h_ctl(void);

/* Start fairpayd on a free port with the test certificates, logged in to
 * conninfo's database as h_server_login's role; extra arguments follow,
 * ended by NULL. Returns once a client can connect and Ping. Under
 * h_slow() it runs under valgrind memcheck, with its log in
 * $FP_TMP/valgrind-PID.log and exit status 99 on any error or definite
 * leak. */
h_server *h_server_start(const char *conninfo, ...) __attribute__((sentinel));

/* The same on the given port, e.g. to restart a killed server where its
 * clients will reconnect. */
h_server *h_server_start_on(const char *port, const char *conninfo, ...) __attribute__((sentinel));

/* What most suites start from: a fresh database with the migrations, its
 * bootstrap admin key, a fairpayd on it and a client logged in as that
 * admin. */
typedef struct h_world {
	char *db;
	char *admin_key;
	h_server *srv;
	fp_client *admin;
} h_world;

/* Set w up on a new database named name; fairpayd gets the extra
 * arguments, ended by NULL. Fails the test on any error. */
void h_world_start(h_world *w, const char *name, ...) __attribute__((sentinel));

/* Stop w's server and free all of w (the server may be gone already). */
void h_world_stop(h_world *w);

/* Pass the test certificate as --cert and --key to the servers started from
 * now on (true until changed); false: a --config file names them (flags
 * would win over it). */
void h_server_tls_flags(bool on);

/* The server process's resident set size in KiB (VmRSS in /proc/PID/status;
 * under valgrind, valgrind's), or -1 when it cannot be read. */
long h_server_rss_kb(const h_server *s);

/* The next server started gets this descriptor limit, soft and hard (0: the
 * test's own). */
void h_server_nofile(long n);

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

/* ---------------------------------------------------------------- clients for worker threads */

/* A client for worker threads that reconnects and re-authenticates by itself
 * when its connection broke (a server killed and restarted on the same
 * port). Its functions never fail the test, so they may run outside the main
 * thread (one h_rclient per thread); h_rc_init must be called on the main
 * thread. */
typedef struct h_rclient {
	char port[16];
	char api_key[160];
	fp_client_options opts;
	fp_client *c;  /* NULL while not connected */
	int connects;  /* successful connect + Authenticate so far */
	char err[512]; /* what went wrong in the last h_rc_call */
} h_rclient;

/* Set up (not connected yet) for 127.0.0.1:port and key, with h_connect's options. */
void h_rc_init(h_rclient *rc, const char *port, const char *api_key);

/* One attempt: connect and authenticate when not connected, then send req
 * (its id is reassigned) and wait for the reply. Returns the reply's status
 * code, Authenticate's code when that failed, or H_NO_REPLY when the
 * connection failed or broke (it is then closed, and the next call
 * reconnects). The reply goes to *resp when not NULL (free with
 * fp_response_free). */
int h_rc_call(h_rclient *rc, Fairpay__V1__Request *req, Fairpay__V1__Response **resp);

/* Close the connection (the next h_rc_call reconnects). */
void h_rc_close(h_rclient *rc);

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

/* Raw connections (h_tcp_connect, h_tls_*) come from ip from now on, e.g.
 * "127.0.0.2" to be another client address on loopback; NULL: the default. */
void h_set_source(const char *ip);

/* A plain TCP connection to 127.0.0.1:port; fails the test on error. */
int h_tcp_connect(const char *port);

/* 1 when the peer closes fd (EOF or reset) within timeout_ms, reading and
 * dropping whatever it sends first; 0 on timeout. */
int h_fd_wait_closed(int fd, int timeout_ms);

/* A port on 127.0.0.1 that nothing listens on right now. */
void h_free_port(char *port, size_t len);

/* The value of an unlabelled metric on the /metrics of the operators'
 * endpoint at 127.0.0.1:admin_port (-1: absent, or no answer). */
double h_metric(const char *admin_port, const char *name);

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
/* ListEvents: the vendor's feed above after_id, waiting up to wait_ms. */
int h_feed(fp_client *c, uint64_t after_id, uint32_t limit, uint32_t wait_ms,
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

/* ---------------------------------------------------------------- limits and TLS hardening */

struct ssl_st;
struct ssl_session_st;

/* Raise this process's soft limit on open files to at least want (capped by
 * the hard limit) and return the new soft limit; servers started afterwards
 * inherit it. */
long h_raise_nofile(long want);

/* Open file descriptors of process pid (from /proc), or -1. */
int h_proc_fd_count(pid_t pid);

/* A "Vm...:" field of /proc/PID/status in KiB (e.g. "VmHWM"), or -1. */
long h_proc_status_kb(pid_t pid, const char *field);

/* True when the server runs with AddressSanitizer (`make asan`): slower, and
 * freed memory stays resident a while (its quarantine), so a test that
 * measures time or memory widens its bounds. */
bool h_server_sanitized(const h_server *s);

/* Occurrences of needle in the server's log. */
int h_log_count(const h_server *s, const char *needle);

/* Wait until the server's log holds needle at least n times; false on timeout. */
bool h_wait_log(const h_server *s, const char *needle, int n, int timeout_ms);

/* Counter name in the last "stats: name=N ..." line of the log; -1 when no
 * stats line (or no such counter) was logged yet. */
long long h_stats_counter(const h_server *s, const char *name);

/* Wait for a stats line with counter name >= min and return it; fails the
 * test (with the log's tail) on timeout. */
long long h_wait_stats(const h_server *s, const char *name, long long min, int timeout_ms);

/* N of the last "limit NAME hit (total N)" line of the log; -1 if none. */
long long h_limit_total(const h_server *s, const char *name);

/* Wait for a "limit NAME hit (total N)" line with N >= min and return N;
 * fails the test on timeout. */
long long h_wait_limit(const h_server *s, const char *name, long long min, int timeout_ms);

/* The p-th percentile (0-100, nearest rank) of n values; sorts v. */
int64_t h_percentile(int64_t *v, size_t n, double p);

/* Options of h_tls_open; zero means the default. */
typedef struct h_tls_opts {
	int min_version; /* e.g. TLS1_2_VERSION */
	int max_version;
	const char *cert_file;          /* client certificate (mutual TLS) */
	const char *key_file;           /* its key; default: cert_file */
	struct ssl_session_st *session; /* resume this session */
	const void *early_data;         /* written as TLS 1.3 early data */
	size_t early_len;
	int rcvbuf; /* SO_RCVBUF of the socket, set before connecting */
} h_tls_opts;

/* A raw TLS connection like h_tls_try with the options above (opts may be
 * NULL). NULL with OpenSSL's reasons in err when the handshake fails. */
h_tls *h_tls_open(const char *port, const h_tls_opts *opts, char *err, size_t errlen);

/* The connection's OpenSSL object and socket, for what the helpers do not do. */
struct ssl_st *h_tls_ssl(h_tls *t);
int h_tls_fd(h_tls *t);

/* Send close_notify (a session stays resumable only after it), then close
 * and free. Accepts NULL. */
void h_tls_shutdown_close(h_tls *t);

/* Write req (its id must be set) and read frames until its reply. Returns
 * the status code, or H_NO_REPLY when the connection closed, failed or
 * timed out; the reply goes to *resp when not NULL (free with
 * fairpay__v1__response__free_unpacked). */
int h_tls_call(h_tls *t, Fairpay__V1__Request *req, int timeout_ms, Fairpay__V1__Response **resp);

/* Requests over a raw connection, by name; each returns like h_tls_call. */
int h_tls_ping(h_tls *t, uint64_t id);
int h_tls_auth(h_tls *t, uint64_t id, const char *api_key);
int h_tls_get_policy(h_tls *t, uint64_t id);

/* The latest session of t with the tickets that arrived so far (free with
 * SSL_SESSION_free); fails the test when there is none. */
struct ssl_session_st *h_tls_session(h_tls *t);

/* SHA-256 of the DER of the server's certificate on t: 64 lower-case hex. */
void h_tls_peer_sha256(h_tls *t, char out[65]);

/* SHA-256 of the DER of the (first) certificate in a PEM file. */
void h_cert_sha256(const char *pem_path, char out[65]);

/* A malloc'ed path of a file in the certificates directory, e.g. "client.pem". */
char *h_cert_path(const char *name);

/* RegisterClientCert: returns the status code (like h_call). */
int h_register_cert(fp_client *c, const char *key_id, const char *cert_sha256);

/* Connect with a client certificate (CERTS/NAME.pem and NAME.key) and
 * h_connect's other options; 0, or -1 with the client's message in err. */
int h_try_connect_cert(const h_server *s, const char *name, fp_client **out, char *err,
		       size_t errlen);

#endif
