/* ctl_migrations_: the SQL migration files fairpayctl applies, either built
 * into the binary (scripts/embed-migrations.sh generates
 * ctl_embedded_migrations) or read from a directory at run time.
 *
 * A migration file is NNNN_name.sql: four digits of version, then a name.
 * Its checksum is the lower-case hex SHA-256 of its bytes. */
#ifndef FP_CTL_MIGRATIONS_H
#define FP_CTL_MIGRATIONS_H

#include <stdbool.h>
#include <stddef.h>

/* The generated file repeats this block, with the same guard, because it is
 * compiled without this directory on the include path. Keep them equal. */
#ifndef CTL_MIGRATION_DEFINED
#define CTL_MIGRATION_DEFINED
struct ctl_migration {
	int version;      /* NNNN of the file name */
	const char *name; /* file name, e.g. "0001_schema.sql" */
	const char *sql;  /* the file's bytes, NUL-terminated */
	size_t len;       /* their number, without the NUL */
};
extern const struct ctl_migration ctl_embedded_migrations[];
extern const size_t ctl_embedded_migrations_count;
#endif

#define CTL_MIGRATION_CHECKSUM_LEN 64

/* An ordered list of migrations (ascending, unique versions). */
typedef struct ctl_migration_set {
	struct ctl_migration *items;
	size_t count;
	bool owned; /* names and SQL were read from files and are freed with the set */
} ctl_migration_set;

/* Load the migrations of dir, or the built-in ones when dir is NULL. On -1,
 * err says why. */
int ctl_migrations_load(const char *dir, ctl_migration_set *out, char *err, size_t err_size)
	__attribute__((warn_unused_result));

/* Free what a set holds. Accepts NULL and a zeroed set. */
void ctl_migrations_free(ctl_migration_set *set);

/* Find the migration with a version, or NULL. */
const struct ctl_migration *ctl_migrations_find(const ctl_migration_set *set, int version);

/* Compute a migration's checksum as 64 hex digits + NUL. */
int ctl_migrations_checksum(const struct ctl_migration *m, char out[CTL_MIGRATION_CHECKSUM_LEN + 1])
	__attribute__((warn_unused_result));

/* True when name has the shape NNNN_name.sql; *version receives NNNN. */
bool ctl_migrations_parse_name(const char *name, int *version);

#endif
