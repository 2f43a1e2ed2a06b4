/* db_stub_: the database pool of db.h without a database, for the fuzz
 * targets.
 *
 * REFUSE (the default): db_query() fails at once, so a call that passes its
 * validation ends with INTERNAL at its first query. DEFER: queries are queued
 * and db_stub_run() answers them later, as the event loop would: the policy
 * read gets the default policy and a new idempotency key is granted, so the
 * checks that need stored state (PutPolicy's merge, handlers under an
 * idempotency key) run too; every other query completes with DB_UNAVAILABLE. Either
 * way a parameter that is not UTF-8 aborts: PostgreSQL would refuse it. */
#ifndef FP_DB_STUB_H
#define FP_DB_STUB_H

#include <stddef.h>

typedef enum db_stub_mode {
	DB_STUB_REFUSE = 0,
	DB_STUB_DEFER
} db_stub_mode;

/* Choose how db_query() behaves from now on. */
void db_stub_set_mode(db_stub_mode mode);

/* Answer queued queries, and those their callbacks queue, until none is left;
 * aborts if a chain of queries does not end. Returns how many were answered. */
size_t db_stub_run(void);

/* Number of queries queued and not yet answered. */
size_t db_stub_pending(void);

/* Number of db_query() and db_write() calls so far, refused ones too. */
size_t db_stub_asked(void);

#endif
