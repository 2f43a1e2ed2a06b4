/* ctl_db_: the `fairpayctl db` commands (migrate, status, bootstrap-admin),
 * which work on PostgreSQL directly with synchronous libpq. Each returns an
 * exit code of the command-line contract. */
#ifndef FP_CTL_DB_H
#define FP_CTL_DB_H

#include <libpq-fe.h>

#include "ctl_args.h"

/* The advisory lock `db migrate` holds while it works: the bytes "fairpay!".
 * Anything else that must not run during a migration can take it too. */
#define CTL_DB_MIGRATE_LOCK "7377293604842207521"

/* Apply the pending migrations, each in its own transaction. */
int ctl_db_migrate(const ctl_args *a);

/* Print the state of every migration. */
int ctl_db_status(const ctl_args *a);

/* Create an ADMIN key in a migrated database and print it last. */
int ctl_db_bootstrap_admin(const ctl_args *a);

/* Connect to a->db (libpq defaults for what it leaves out); NULL, with the
 * reason on stderr, when the database cannot be reached. */
PGconn *ctl_db_connect(const ctl_args *a);

/* Report a failed statement on stderr: "error: WHAT: message", then
 * PostgreSQL's detail and hint. res may be NULL. */
void ctl_db_report(const char *what, const PGresult *res, PGconn *conn);

#endif
