/* db_: a small pool of asynchronous PostgreSQL connections.
 *
 * libpq runs in non-blocking pipeline mode, driven by the event loop: a query
 * is sent at once on the least busy ready connection, and many queries are in
 * flight per connection, each followed by its own sync so that one failing
 * query aborts nothing else. A query that cannot be sent within db_timeout_ms
 * (the database is down, or the pool is saturated) completes with
 * DB_UNAVAILABLE. Broken connections fail their queries with DB_UNAVAILABLE
 * and reconnect with exponential backoff. The loop never blocks on the
 * database. A commit that waits for a synchronous standby longer than
 * statement_timeout_ms is cancelled: it stays committed on the primary only,
 * and its queries complete with DB_UNCONFIRMED. */
#ifndef FP_DB_H
#define FP_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

typedef struct db_pool db_pool;

typedef enum db_status {
	DB_OK = 0,      /* res is a TUPLES_OK or COMMAND_OK result */
	DB_ERROR,       /* the statement failed: res holds the error */
	DB_UNAVAILABLE, /* no database: res is NULL */
	DB_UNCONFIRMED  /* committed on the primary, not confirmed by the synchronous
			   standby (the wait was cancelled): res is the statement's
			   result, but the change must not be reported as durable */
} db_status;

/* Called once per query, from the event loop. res is freed after the call. */
typedef void (*db_cb)(void *arg, db_status status, PGresult *res);

typedef struct db_options {
	const char *conninfo;
	int pool_size;
	int pipeline_depth;
	int timeout_ms;
	const char *role;         /* set as the session's role; NULL or "" = the login role */
	int statement_timeout_ms; /* every statement's bound (statement_timeout) */
	int lock_timeout_ms;      /* the longest wait for a row lock (lock_timeout) */
	int tenant_share_pct; /* of size x depth, the most one tenant holds at once; 0: no cap */
} db_options;

/* Create the pool and start connecting. */
db_pool *db_pool_new(struct event_base *base, const db_options *opts);

/* Close every connection; pending queries complete with DB_UNAVAILABLE. Accepts NULL. */
void db_pool_free(db_pool *pool);

/* Queue a query with text parameters (NULL = SQL NULL). The parameters are
 * copied. cb is always called exactly once, never from within this call. */
int db_query(db_pool *pool, const char *sql, int nparams, const char *const *params, db_cb cb,
	     void *arg) __attribute__((warn_unused_result));

/* The same on behalf of a tenant (a vendor, or any name that groups one
 * party's work): a tenant has at most its share of the pool's slots (size x
 * depth x tenant_share_pct / 100) queued or in flight at once; its other
 * queries wait, in order and within the same deadline, until one of its own
 * completes. db_query and db_write are the server's own work, never held. */
int db_query_for(db_pool *pool, const char *tenant, const char *sql, int nparams,
		 const char *const *params, db_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Queue a single-statement write. Writes that wait together are sent as one
 * transaction on one connection (group commit), in lock_key order; the
 * callback of each runs once the transaction ended, with its own result. A
 * group that fails is rolled back whole and each member is sent again
 * alone, so that a statement's error fails only its own call. On
 * DB_UNAVAILABLE the write may or may not have committed. */
int db_write(db_pool *pool, const char *sql, int nparams, const char *const *params,
	     const char *lock_key, db_cb cb, void *arg) __attribute__((warn_unused_result));

/* db_write on behalf of a tenant (see db_query_for). */
int db_write_for(db_pool *pool, const char *tenant, const char *sql, int nparams,
		 const char *const *params, const char *lock_key, db_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* A set write: a write whose statement text takes one parameter, a JSON
 * array of items, writes each item on its own terms (one item's refusal
 * does not stop the others), and answers rows whose first column is the
 * place (from 0) in that array of the item they answer. The caller gives
 * one item, a JSON value; set writes of the same text in one group go as
 * one statement with all their items, at most one per lock key (a second
 * of one key waits for the next group, so that rows are locked in key
 * order), and
 * each callback gets a result of its own item's rows. A statement that
 * fails fails its group, whose members are then sent again alone. */
int db_write_set(db_pool *pool, const char *sql, const char *item, const char *lock_key, db_cb cb,
		 void *arg) __attribute__((warn_unused_result));

/* db_write_set on behalf of a tenant (see db_query_for). */
int db_write_set_for(db_pool *pool, const char *tenant, const char *sql, const char *item,
		     const char *lock_key, db_cb cb, void *arg) __attribute__((warn_unused_result));

/* Queries held back so far because their tenant was at its share. */
uint64_t db_tenant_holds(const db_pool *pool);

/* Hears a notification (payload; own: one of this pool's sessions sent
 * it), or NULL when the channel was lost (whatever was announced meanwhile
 * is unknown), or "" when it is listening again. */
typedef void (*db_notify_cb)(void *arg, const char *payload, bool own);

/* LISTEN on channel on a connection of its own, reconnecting with backoff. */
int db_listen(db_pool *pool, const char *channel, db_notify_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Writes committed so far, and the transactions that committed them. */
void db_write_counts(const db_pool *pool, uint64_t *writes, uint64_t *commits);

/* Number of connections ready for queries. */
int db_ready_count(const db_pool *pool);

/* The SQLSTATE of an error result, or "" */
const char *db_sqlstate(const PGresult *res);

/* Parse a bigint column value; 0 when NULL or malformed. */
int64_t db_get_i64(const PGresult *res, int row, int col);

/* A column value, or "" for NULL. */
const char *db_get_str(const PGresult *res, int row, int col);

/* True when the column is SQL NULL. */
bool db_is_null(const PGresult *res, int row, int col);

#endif
