/* srv_ and conn_: the server, its listener and its client connections.
 *
 * One event loop serves every connection. Each connection is an explicit
 * state machine, changed only through conn_set_state():
 *
 *   HANDSHAKE --TLS done--> OPEN --protocol error / 3rd failed auth--> CLOSING
 *       |                    |  \--shutdown: stop reading, drain--> DRAINING
 *       +--error/timeout-----+------------------------------------> CLOSED
 *
 * CLOSING and DRAINING flush what is queued for the client, then close.
 * A CLOSED connection is unlinked at once but freed only by the reaper, on a
 * later loop turn and once no database reply still refers to it: a callback
 * never frees the connection it runs for. */
#ifndef FP_SERVER_H
#define FP_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "attest.h"
#include "config.h"
#include "db.h"
#include "fairpay.pb-c.h"
#include "key.h"
#include "stats.h"

typedef struct srv srv;
typedef struct conn conn;

typedef enum conn_state {
	CONN_HANDSHAKE = 0,
	CONN_OPEN,
	CONN_CLOSING,  /* flush the last reply (a protocol error), then close */
	CONN_DRAINING, /* shutting down: finish in-flight calls, then close */
	CONN_CLOSED
} conn_state;

typedef enum conn_role {
	ROLE_NONE = 0,
	ROLE_ADMIN_KEY = 1,
	ROLE_VENDOR_KEY = 2
} conn_role;

struct conn {
	srv *srv;
	uint64_t id;
	conn_state state;
	struct bufferevent *bev;
	struct event *resume;   /* runs conn_process() again on the next turn */
	struct event *timer;    /* handshake deadline, then idle and slow-reader checks */
	int64_t last_active_ms; /* a whole frame arrived or a reply was queued */
	int64_t stuck_since_ms; /* replies over --max-output-bytes since; 0 = not */
	bool inflight_paused;
	char peer[64];
	char source[48];         /* the peer's address without the port (per-source cap) */
	int64_t unauth_since_ms; /* accepted, or lost its key: --auth-timeout-ms runs from here */
	size_t reserved;         /* bytes the calls in flight may still add (conn_reserve) */
	unsigned refs;           /* 1 while linked + 1 per call in flight */
	unsigned inflight;       /* calls dispatched, reply not yet written */
	bool reading;            /* EV_READ enabled */
	/* Authentication: role ROLE_NONE until an Authenticate succeeds. */
	conn_role role;
	char key_id[KEY_ID_LEN + 1];
	char vendor_id[32];
	int auth_failures;
	bool auth_pending; /* an Authenticate is in flight: later frames wait */
	conn *prev, *next; /* the server's list of live connections */
	conn *reap_next;
	bool reap_queued;
};

/* What the transport hands up to the session layer (session.c implements
 * it; conn.c knows nothing of calls, protobuf messages or SQL). The
 * contract, as PgBouncer's proto_cb:
 *   on_open  - the TLS handshake completed; the session may look at the
 *              peer (conn_ssl()) before the first frame is read;
 *   on_frame - one whole frame's body (valid during the call); true when a
 *              call was started for it (conn counts it in flight until
 *              conn_call_done()), false when it was refused and the session
 *              closed the connection;
 *   on_error - answer a framing error or a refusal (code of fairpay.v1.Code,
 *              message) and close after it is written. */
typedef struct conn_handler {
	void (*on_open)(conn *c);
	bool (*on_frame)(conn *c, const uint8_t *body, uint32_t len);
	void (*on_error)(conn *c, int code, const char *message);
} conn_handler;

struct srv {
	struct event_base *base;
	const conn_handler *handler; /* the session layer */
	fp_config *cfg;
	SSL_CTX *ssl_ctx;
	struct evconnlistener *listener;
	db_pool *db;
	db_pool *jobs_db;      /* the background jobs' own connection: a long round
			     never holds up the calls' writes */
	struct cache *cache;   /* rows read and written here; see cache.h */
	struct feed *feed;     /* the event feed's horizon and its waiting readers */
	struct folder *folder; /* the insights fold */
	conn *conns;           /* live connections */
	unsigned nconns;
	unsigned nunauth;            /* of which not authenticated (handshakes included) */
	struct tally *sources;       /* connections per client address */
	struct tally *keys;          /* authenticated connections per API key id */
	struct event *accept_resume; /* the listener paused by EMFILE resumes */
	int64_t accept_error_logged_ms;
	uint64_t accept_errors_quiet; /* failures not logged since then */
	uint64_t next_conn_id;
	conn *reap; /* closed, waiting to be freed */
	struct event *reaper;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *stats_timer;
	stats stats;
	struct event *shutdown_timer;
	struct event *revoke_timer;
	bool revoke_polling;
	char revoke_since[64]; /* PostgreSQL timestamptz text of the newest revocation seen */
	bool login_checking;   /* the check of the database login role is in flight */
	bool login_checked;    /* ...and was answered */
	struct sweeper *sweeper;
	struct deliverer *deliverer; /* webhook deliveries (jobs/deliver.h) */
	struct admin *admin;         /* --admin-listen (admin.h); NULL: off */
	/* --attestation-key-file, read once at start (handlers/rpc_attest.c) */
	bool attest_kek_set;
	uint8_t attest_kek[ATTEST_KEK_BYTES];
	bool stopping;
	int exit_code;
};

/* Set up the listener, signals and database pool, with handler taking what
 * connections receive; -1 on failure (logged). */
int srv_init(srv *s, fp_config *cfg, const conn_handler *handler)
	__attribute__((warn_unused_result));

/* Run the loop until shutdown completes. */
void srv_run(srv *s);

/* Free everything srv_init() made. */
void srv_cleanup(srv *s);

/* SIGHUP: read the config file again and apply what can change live
 * (limits, timeouts, the log, TLS files: new connections get the new
 * certificate, open ones keep theirs, webhook settings). */
void srv_reload(srv *s);

/* Reload the certificate, key and client CA (SIGHUP); the old ones stay on
 * failure. */
void srv_reload_tls(srv *s);

/* Drop the authentication of every connection that used key_id. */
void srv_revoke_key(srv *s, const char *key_id);

/* Accept a new TCP connection (called by the listener). */
void conn_accept(srv *s, evutil_socket_t fd, const struct sockaddr *addr, int addrlen);

/* Change state, logging the transition; CLOSED unlinks and schedules the free. */
void conn_set_state(conn *c, conn_state next);

/* Take a reference for a call in flight. */
void conn_ref(conn *c);

/* Drop a reference; the reaper frees a CLOSED connection at zero. */
void conn_unref(conn *c);

/* Set who the connection speaks for (ROLE_NONE: nobody, and the
 * authentication deadline starts again). False, and nothing changes, when
 * key_id already has --max-connections-per-key connections. */
bool conn_set_identity(conn *c, conn_role role, const char *key_id, const char *vendor_id)
	__attribute__((warn_unused_result));

/* Forget the connection's identity (a failed Authenticate, a revoked key). */
void conn_drop_identity(conn *c);

/* Budget for replies: a call in flight reserves what its reply may take,
 * and no more frames are read while the queued replies plus the
 * reservations reach --max-output-bytes; the reply releases it. */
void conn_reserve(conn *c, size_t bytes);
void conn_release(conn *c, size_t bytes);

/* Queue one frame (its body) for the client; dropped when the client is gone. */
void conn_send_frame(conn *c, const uint8_t *body, size_t len);

/* The TLS session of an open connection. */
struct ssl_st *conn_ssl(conn *c);

/* A call finished: count it, and resume reading when below the limits. */
void conn_call_done(conn *c);

/* Count and log a protocol error; the session answers it and closes. */
void conn_protocol_error(conn *c, int code, const char *message);

/* Close the connection after its queued output is written. */
void conn_close_after_flush(conn *c);

/* Start a graceful close for shutdown. */
void conn_begin_drain(conn *c);

/* True while replies can still reach the client. */
bool conn_alive(const conn *c);

/* Apply reloaded limits (--max-frame, budgets, timeouts) to the connections
 * already open. */
void conn_limits_changed(srv *s);

/* Free every closed connection with no references (the reaper). */
void conn_reap(srv *s);

/* Free a connection that is still linked (at exit). */
void conn_destroy(conn *c);

#endif
