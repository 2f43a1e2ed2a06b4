/* `fairpayctl db`: migrations and the first ADMIN key, straight on
 * PostgreSQL (see ctl_db.h).
 *
 * Migrations are forward-only. schema_migrations records each applied file
 * with its SHA-256; a file changed after it was applied stops `db migrate`,
 * because the database no longer matches what the file says it should be. */
#include "ctl_db.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "ctl_migrations.h"
#include "ctl_out.h"
#include "key.h"

static const char sql_create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
				       " version integer PRIMARY KEY,"
				       " name text NOT NULL,"
				       " checksum text NOT NULL,"
				       " applied_at timestamptz NOT NULL DEFAULT now())";

static const char sql_select_applied[] =
	"SELECT version, name, checksum,"
	" to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	" FROM schema_migrations ORDER BY version";

typedef enum mig_state {
	MIG_PENDING, /* a file not applied yet */
	MIG_APPLIED, /* applied, and the file is unchanged */
	MIG_CHANGED, /* applied, but the file differs now */
	MIG_MISSING  /* applied, but no file has its version */
} mig_state;

static const char *const mig_state_names[] = { "pending", "applied", "changed", "missing" };

/* One version as files and database see it. */
typedef struct mig_row {
	int version;
	const char *name; /* the file's, else the recorded one */
	mig_state state;
	const char *applied_at;                        /* NULL when pending */
	const struct ctl_migration *file;              /* NULL when missing */
	char checksum[CTL_MIGRATION_CHECKSUM_LEN + 1]; /* of the file */
} mig_row;

typedef struct mig_plan {
	mig_row *rows; /* by version */
	size_t count;
	size_t pending, changed, missing;
} mig_plan;

/* ---------------------------------------------------------------- libpq helpers */

static void trim_right(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* Print PostgreSQL's message without its trailing newline. */
static void print_pg_text(const char *msg)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", msg != NULL ? msg : "");
	trim_right(buf);
	fputs(buf, stderr);
}

/* Line of sql that a 1-based character position (as PostgreSQL reports it)
 * falls on. */
static int sql_line(const char *sql, long pos)
{
	int line = 1;
	long chars = 0;
	for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
		if ((*p & 0xc0) != 0x80 && ++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

/* Report a failed statement: "error: WHAT: message (line N)", then detail and
 * hint lines when PostgreSQL gave them. */
static void pg_report(const char *what, const PGresult *res, PGconn *conn, const char *sql)
{
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	fprintf(stderr, "error: %s: ", what);
	print_pg_text(primary != NULL ? primary : PQerrorMessage(conn));
	const char *pos = res != NULL ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
	if (pos != NULL && sql != NULL)
		fprintf(stderr, " (line %d)", sql_line(sql, strtol(pos, NULL, 10)));
	fputc('\n', stderr);
	const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	if (detail != NULL) {
		fputs("detail: ", stderr);
		print_pg_text(detail);
		fputc('\n', stderr);
	}
	if (hint != NULL) {
		fputs("hint: ", stderr);
		print_pg_text(hint);
		fputc('\n', stderr);
	}
}

/* Run a statement that returns no rows. */
static int db_exec(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_report(what, res, conn, NULL);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Run a query expected to return rows; NULL (reported) on failure. */
static PGresult *db_query(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_report(what, res, conn, NULL);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Connect to a->db. Returns NULL (reported) on failure. */
static PGconn *db_connect(const ctl_args *a)
{
	char timeout[16];
	const char *keys[4], *vals[4];
	int n = 0;

	/* Keywords before dbname are defaults that a conninfo string in
	 * --db overrides. */
	keys[n] = "fallback_application_name";
	vals[n++] = "fairpayctl";
	if (a->timeout_ms > 0) {
		snprintf(timeout, sizeof(timeout), "%d", (a->timeout_ms + 999) / 1000);
		keys[n] = "connect_timeout";
		vals[n++] = timeout;
	}
	keys[n] = "dbname";
	vals[n++] = a->db;
	keys[n] = NULL;
	vals[n] = NULL;

	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		fputs("error: cannot connect to the database: ", stderr);
		print_pg_text(conn != NULL ? PQerrorMessage(conn) : "out of memory");
		fputc('\n', stderr);
		PQfinish(conn);
		return NULL;
	}
	/* "relation already exists, skipping" and the like are noise here. */
	if (db_exec(conn, "SET client_min_messages = warning", "cannot configure the session") !=
	    0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Connect to a->db. */
PGconn *ctl_db_connect(const ctl_args *a)
{
	return db_connect(a);
}

/* Report a failed statement. */
void ctl_db_report(const char *what, const PGresult *res, PGconn *conn)
{
	pg_report(what, res, conn, NULL);
}

/* ---------------------------------------------------------------- the plan */

static void plan_free(mig_plan *p)
{
	free(p->rows);
	memset(p, 0, sizeof(*p));
}

/* Merge the files of set with the rows of applied (may be NULL: nothing is
 * applied) into one list by version. */
static int plan_build(const ctl_migration_set *set, const PGresult *applied, mig_plan *p)
{
	size_t napplied = applied != NULL ? (size_t)PQntuples(applied) : 0;
	size_t cap = set->count + napplied;
	size_t i = 0, j = 0;

	memset(p, 0, sizeof(*p));
	p->rows = calloc(cap > 0 ? cap : 1, sizeof(*p->rows));
	if (p->rows == NULL) {
		fprintf(stderr, "error: out of memory\n");
		return -1;
	}
	while (i < set->count || j < napplied) {
		const struct ctl_migration *f = i < set->count ? &set->items[i] : NULL;
		int row = j < napplied ? (int)j : -1;
		int av = row >= 0 ? (int)strtol(PQgetvalue(applied, row, 0), NULL, 10) : 0;
		mig_row *r = &p->rows[p->count++];

		if (f == NULL || (row >= 0 && av < f->version)) {
			/* A recorded version that no file has. */
			r->version = av;
			r->name = PQgetvalue(applied, row, 1);
			r->applied_at = PQgetvalue(applied, row, 3);
			r->state = MIG_MISSING;
			p->missing++;
			j++;
			continue;
		}
		r->version = f->version;
		r->name = f->name;
		r->file = f;
		i++;
		if (ctl_migrations_checksum(f, r->checksum) != 0) {
			fprintf(stderr, "error: cannot compute the checksum of %s\n", f->name);
			return -1;
		}
		if (row < 0 || f->version < av) {
			r->state = MIG_PENDING;
			p->pending++;
			continue;
		}
		j++;
		r->applied_at = PQgetvalue(applied, row, 3);
		if (strcmp(r->checksum, PQgetvalue(applied, row, 2)) == 0) {
			r->state = MIG_APPLIED;
		} else {
			r->state = MIG_CHANGED;
			p->changed++;
		}
	}
	return 0;
}

/* Load the migration files that a->migrations names (or the built-in ones). */
static int load_set(const ctl_args *a, ctl_migration_set *set)
{
	char err[512];
	if (ctl_migrations_load(a->migrations, set, err, sizeof(err)) != 0) {
		fprintf(stderr, "error: %s\n", err);
		return -1;
	}
	return 0;
}

/* True when schema_migrations exists, false when not; -1 on error. */
static int has_table(PGconn *conn, const char *table)
{
	const char *params[1] = { table };
	PGresult *res = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params,
				     NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		pg_report("cannot inspect the database", res, conn, NULL);
	else
		rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------------- db migrate */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Apply one file in its own transaction and record it. */
static int apply_one(PGconn *conn, const mig_row *r)
{
	char what[300];
	char version[16];
	const char *params[3] = { version, r->name, r->checksum };
	PGresult *res = NULL;
	int rc = -1;

	snprintf(what, sizeof(what), "migration %s failed", r->name);
	snprintf(version, sizeof(version), "%d", r->version);
	if (db_exec(conn, "BEGIN", what) != 0)
		return -1;
	res = PQexec(conn, r->file->sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			fprintf(stderr, "error: %s: COPY is not supported in migrations\n", what);
		else
			pg_report(what, res, conn, r->file->sql);
		goto done;
	}
	PQclear(res);
	/* A file with its own COMMIT has ended our transaction: what it did is
	 * committed already, so record it, but say that it was not atomic. */
	bool in_tx = PQtransactionStatus(conn) == PQTRANS_INTRANS;
	if (!in_tx)
		fprintf(stderr,
			"warning: %s ended the transaction itself; it was not applied atomically\n",
			r->name);
	res = PQexecParams(conn,
			   "INSERT INTO schema_migrations (version, name, checksum) "
			   "VALUES ($1, $2, $3)",
			   3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_report(what, res, conn, NULL);
		goto done;
	}
	if (in_tx && db_exec(conn, "COMMIT", what) != 0)
		goto done;
	rc = 0;
done:
	PQclear(res);
	if (rc != 0 && PQtransactionStatus(conn) != PQTRANS_IDLE) {
		PGresult *rb = PQexec(conn, "ROLLBACK");
		PQclear(rb);
	}
	return rc;
}

/* Apply the pending migrations. */
int ctl_db_migrate(const ctl_args *a)
{
	ctl_migration_set set = { 0 };
	mig_plan plan = { 0 };
	PGconn *conn = NULL;
	PGresult *applied = NULL;
	PGresult *res = NULL;
	size_t done_count = 0;
	int rc = CTL_EXIT_REFUSED;

	if (load_set(a, &set) != 0)
		goto done;
	conn = db_connect(a);
	if (conn == NULL) {
		rc = CTL_EXIT_CONNECT;
		goto done;
	}
	/* Two migrators at once would both see a file as pending; the second
	 * waits here and then finds it applied. */
	res = db_query(conn, "SELECT pg_try_advisory_lock(" CTL_DB_MIGRATE_LOCK ")",
		       "cannot take the migration lock");
	if (res == NULL)
		goto done;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		fprintf(stderr, "another migration is running; waiting for it to finish\n");
		if (db_exec(conn, "SELECT pg_advisory_lock(" CTL_DB_MIGRATE_LOCK ")",
			    "cannot take the migration lock") != 0)
			goto done;
	}
	if (db_exec(conn, sql_create_table, "cannot create schema_migrations") != 0)
		goto done;
	applied = db_query(conn, sql_select_applied, "cannot read schema_migrations");
	if (applied == NULL || plan_build(&set, applied, &plan) != 0)
		goto done;

	/* Check everything before changing anything. */
	for (size_t i = 0; i < plan.count; i++) {
		const mig_row *r = &plan.rows[i];
		if (r->state == MIG_MISSING)
			fprintf(stderr, "warning: version %04d (%s) is applied but has no file\n",
				r->version, r->name);
		else if (r->state == MIG_CHANGED)
			fprintf(stderr,
				"error: migration %s was changed after it was applied; restore it "
				"and put the change in a new migration\n",
				r->name);
	}
	if (plan.changed > 0)
		goto done;

	if (a->json)
		fputs("{\"applied\":[", stdout);
	for (size_t i = 0; i < plan.count; i++) {
		const mig_row *r = &plan.rows[i];
		if (r->state != MIG_PENDING)
			continue;
		int64_t start = now_ms();
		if (apply_one(conn, r) != 0)
			break;
		if (a->json) {
			if (done_count > 0)
				fputc(',', stdout);
			ctl_out_json_string(stdout, r->name);
		} else {
			printf("applied %s (%" PRId64 " ms)\n", r->name, now_ms() - start);
			fflush(stdout);
		}
		done_count++;
	}
	if (a->json)
		fputs("]}\n", stdout);
	if (done_count < plan.pending)
		goto done;
	if (!a->json && done_count == 0)
		printf("up to date (%zu migration%s applied)\n", plan.count - plan.missing,
		       plan.count - plan.missing == 1 ? "" : "s");
	rc = CTL_EXIT_OK;
done:
	PQclear(res);
	PQclear(applied);
	plan_free(&plan);
	ctl_migrations_free(&set);
	/* Closing the session releases the advisory lock. */
	PQfinish(conn);
	return rc;
}

/* ---------------------------------------------------------------- db status */

/* Print the state of every migration. */
int ctl_db_status(const ctl_args *a)
{
	static const char *const headers[] = { "VERSION", "NAME", "STATE", "APPLIED" };
	ctl_migration_set set = { 0 };
	mig_plan plan = { 0 };
	PGconn *conn = NULL;
	PGresult *applied = NULL;
	ctl_table *t = NULL;
	int rc = CTL_EXIT_REFUSED;

	if (load_set(a, &set) != 0)
		goto done;
	conn = db_connect(a);
	if (conn == NULL) {
		rc = CTL_EXIT_CONNECT;
		goto done;
	}
	int exists = has_table(conn, "schema_migrations");
	if (exists < 0)
		goto done;
	if (exists) {
		applied = db_query(conn, sql_select_applied, "cannot read schema_migrations");
		if (applied == NULL)
			goto done;
	}
	if (plan_build(&set, applied, &plan) != 0)
		goto done;

	if (a->json) {
		fputs("{\"migrations\":[", stdout);
		for (size_t i = 0; i < plan.count; i++) {
			const mig_row *r = &plan.rows[i];
			printf("%s{\"version\":%d,\"name\":", i > 0 ? "," : "", r->version);
			ctl_out_json_string(stdout, r->name);
			printf(",\"state\":\"%s\",\"applied_at\":", mig_state_names[r->state]);
			if (r->applied_at != NULL)
				ctl_out_json_string(stdout, r->applied_at);
			else
				fputs("null", stdout);
			fputc('}', stdout);
		}
		fputs("]}\n", stdout);
	} else {
		t = ctl_table_new(4, headers);
		if (t == NULL)
			goto oom;
		for (size_t i = 0; i < plan.count; i++) {
			const mig_row *r = &plan.rows[i];
			char version[16];
			snprintf(version, sizeof(version), "%04d", r->version);
			const char *cells[] = { version, r->name, mig_state_names[r->state],
						r->applied_at != NULL ? r->applied_at : "-" };
			if (ctl_table_add(t, cells) != 0)
				goto oom;
		}
		ctl_table_print(t, stdout);
		if (plan.changed > 0)
			fprintf(stderr,
				"warning: %zu applied migration%s changed since; 'db migrate' will "
				"refuse to run\n",
				plan.changed, plan.changed == 1 ? " was" : "s were");
	}
	rc = CTL_EXIT_OK;
	goto done;
oom:
	fprintf(stderr, "error: out of memory\n");
done:
	ctl_table_free(t);
	PQclear(applied);
	plan_free(&plan);
	ctl_migrations_free(&set);
	PQfinish(conn);
	return rc;
}

/* ---------------------------------------------------------------- db bootstrap-admin */

/* Refuse unless every known migration is applied. */
static int check_migrated(PGconn *conn, const ctl_migration_set *set)
{
	mig_plan plan = { 0 };
	PGresult *applied = NULL;
	int rc = -1;

	int exists = has_table(conn, "schema_migrations");
	if (exists < 0)
		goto done;
	int keys = exists ? has_table(conn, "api_keys") : 0;
	if (keys < 0)
		goto done;
	if (!exists || !keys) {
		fprintf(stderr,
			"error: the database schema is not migrated (no %s table); run "
			"'fairpayctl db migrate' first\n",
			exists ? "api_keys" : "schema_migrations");
		goto done;
	}
	applied = db_query(conn, sql_select_applied, "cannot read schema_migrations");
	if (applied == NULL || plan_build(set, applied, &plan) != 0)
		goto done;
	if (plan.pending > 0) {
		const char *first = "";
		for (size_t i = 0; i < plan.count && first[0] == '\0'; i++)
			if (plan.rows[i].state == MIG_PENDING)
				first = plan.rows[i].name;
		fprintf(stderr,
			"error: the database schema is not up to date (%zu migration%s pending, "
			"first %s); run 'fairpayctl db migrate' first\n",
			plan.pending, plan.pending == 1 ? "" : "s", first);
		goto done;
	}
	rc = 0;
done:
	PQclear(applied);
	plan_free(&plan);
	return rc;
}

/* Create an ADMIN key in a migrated database. */
int ctl_db_bootstrap_admin(const ctl_args *a)
{
	ctl_migration_set set = { 0 };
	PGconn *conn = NULL;
	PGresult *res = NULL;
	key_parts key;
	char text[KEY_TEXT_LEN + 1];
	char hash[KEY_HASH_LEN + 1];
	int rc = CTL_EXIT_REFUSED;

	memset(&key, 0, sizeof(key));
	memset(text, 0, sizeof(text));
	if (load_set(a, &set) != 0)
		goto done;
	conn = db_connect(a);
	if (conn == NULL) {
		rc = CTL_EXIT_CONNECT;
		goto done;
	}
	if (check_migrated(conn, &set) != 0)
		goto done;
	if (key_generate(&key, text, sizeof(text)) != 0) {
		fprintf(stderr, "error: cannot generate a key: no randomness\n");
		goto done;
	}
	key_hash(&key, hash);
	const char *params[2] = { key.id, hash };
	res = PQexecParams(conn,
			   "INSERT INTO api_keys (id, vendor_id, role, secret_hash) "
			   "VALUES ($1, NULL, 'ADMIN', $2)",
			   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_report("cannot store the key", res, conn, NULL);
		goto done;
	}
	if (a->json) {
		fputs("{\"key_id\":", stdout);
		ctl_out_json_string(stdout, key.id);
		fputs(",\"api_key\":", stdout);
		ctl_out_json_string(stdout, text);
		fputs("}\n", stdout);
	} else {
		printf("Created the ADMIN API key %s.\n"
		       "It is shown only this once (the database keeps a hash): store it now.\n"
		       "Use it with --api-key or FAIRPAY_API_KEY; revoke it with\n"
		       "'fairpayctl key revoke %s'.\n"
		       "%s\n",
		       key.id, key.id, text);
	}
	rc = CTL_EXIT_OK;
done:
	OPENSSL_cleanse(&key, sizeof(key));
	OPENSSL_cleanse(text, sizeof(text));
	PQclear(res);
	ctl_migrations_free(&set);
	PQfinish(conn);
	return rc;
}
