/* Migration files for `fairpayctl db`: built in or read from a directory
 * (see ctl_migrations.h). */
#include "ctl_migrations.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Far above any schema change; a larger file is a mistake (a dump?). */
#define CTL_MIGRATION_MAX_BYTES (64L * 1024 * 1024)

__attribute__((format(printf, 3, 4))) static void err_fmt(char *err, size_t size, const char *fmt,
							  ...)
{
	va_list ap;
	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* True when name looks like a migration file at all: NNNN_*.sql. */
static bool looks_like_migration(const char *name)
{
	size_t len = strlen(name);
	return len >= 9 && is_digit(name[0]) && is_digit(name[1]) && is_digit(name[2]) &&
	       is_digit(name[3]) && name[4] == '_' && strcmp(name + len - 4, ".sql") == 0;
}

/* True when name has the shape NNNN_name.sql. */
bool ctl_migrations_parse_name(const char *name, int *version)
{
	if (name == NULL || !looks_like_migration(name) || strlen(name) == 9)
		return false; /* "0001_.sql" has no name */
	/* The same characters scripts/embed-migrations.sh accepts, so that a
	 * name is safe in generated C and in messages. */
	for (const char *p = name + 5; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	int v = (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 +
		(name[3] - '0');
	if (v == 0)
		return false;
	*version = v;
	return true;
}

static int cmp_version(const void *a, const void *b)
{
	const struct ctl_migration *x = a, *y = b;
	if (x->version != y->version)
		return (x->version > y->version) - (x->version < y->version);
	/* Equal versions are an error; name them in a stable order. */
	return strcmp(x->name, y->name);
}

/* Check the order and uniqueness of versions and that SQL has no NUL byte,
 * which libpq would take for the end of the text. */
static int set_check(const ctl_migration_set *set, char *err, size_t err_size)
{
	for (size_t i = 0; i < set->count; i++) {
		const struct ctl_migration *m = &set->items[i];
		if (i > 0 && set->items[i - 1].version == m->version) {
			err_fmt(err, err_size, "migrations %s and %s have the same version",
				set->items[i - 1].name, m->name);
			return -1;
		}
		if (i > 0 && set->items[i - 1].version > m->version) {
			err_fmt(err, err_size, "migration %s is out of order", m->name);
			return -1;
		}
		if (memchr(m->sql, '\0', m->len) != NULL) {
			err_fmt(err, err_size, "migration %s contains a NUL byte", m->name);
			return -1;
		}
	}
	return 0;
}

static int read_file(const char *path, char **data, size_t *len, char *err, size_t err_size)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0) {
		err_fmt(err, err_size, "cannot read %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		err_fmt(err, err_size, "%s is not a regular file", path);
		goto done;
	}
	if (st.st_size > CTL_MIGRATION_MAX_BYTES) {
		err_fmt(err, err_size, "%s is larger than %ld bytes", path,
			CTL_MIGRATION_MAX_BYTES);
		goto done;
	}
	size_t size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL) {
		err_fmt(err, err_size, "out of memory reading %s", path);
		goto done;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_fmt(err, err_size, "cannot read %s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break; /* shrank while we read: take what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	rc = 0;
done:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int load_dir(const char *dir, ctl_migration_set *out, char *err, size_t err_size)
{
	size_t cap = 0;
	int rc = -1;
	DIR *d = opendir(dir);

	if (d == NULL) {
		err_fmt(err, err_size, "cannot open migrations directory %s: %s", dir,
			strerror(errno));
		return -1;
	}
	out->owned = true;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (e == NULL) {
			if (errno != 0) {
				err_fmt(err, err_size, "cannot list %s: %s", dir, strerror(errno));
				goto done;
			}
			break;
		}
		if (!looks_like_migration(e->d_name))
			continue; /* README, editor backups, ... */
		int version = 0;
		if (!ctl_migrations_parse_name(e->d_name, &version)) {
			err_fmt(err, err_size,
				"bad migration file name %s (want NNNN_name.sql, NNNN > 0, name "
				"of letters, digits, '_', '-', '.')",
				e->d_name);
			goto done;
		}
		if (out->count == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct ctl_migration *grown = realloc(out->items, ncap * sizeof(*grown));
			if (grown == NULL) {
				err_fmt(err, err_size, "out of memory");
				goto done;
			}
			out->items = grown;
			cap = ncap;
		}
		struct ctl_migration *m = &out->items[out->count];
		memset(m, 0, sizeof(*m));
		m->version = version;
		size_t plen = strlen(dir) + 1 + strlen(e->d_name) + 1;
		char *path = malloc(plen);
		char *name = strdup(e->d_name);
		char *sql = NULL;
		if (path == NULL || name == NULL) {
			free(path);
			free(name);
			err_fmt(err, err_size, "out of memory");
			goto done;
		}
		snprintf(path, plen, "%s/%s", dir, e->d_name);
		int r = read_file(path, &sql, &m->len, err, err_size);
		free(path);
		if (r != 0) {
			free(name);
			goto done;
		}
		m->name = name;
		m->sql = sql;
		out->count++;
	}
	qsort(out->items, out->count, sizeof(*out->items), cmp_version);
	rc = 0;
done:
	closedir(d);
	return rc;
}

/* Load the migrations of dir, or the built-in ones. */
int ctl_migrations_load(const char *dir, ctl_migration_set *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	if (dir != NULL) {
		if (load_dir(dir, out, err, err_size) != 0)
			goto fail;
	} else if (ctl_embedded_migrations_count > 0) {
		size_t n = ctl_embedded_migrations_count;
		out->items = malloc(n * sizeof(*out->items));
		if (out->items == NULL) {
			err_fmt(err, err_size, "out of memory");
			goto fail;
		}
		memcpy(out->items, ctl_embedded_migrations, n * sizeof(*out->items));
		out->count = n;
	}
	if (set_check(out, err, err_size) != 0)
		goto fail;
	return 0;
fail:
	ctl_migrations_free(out);
	return -1;
}

/* Free what a set holds. */
void ctl_migrations_free(ctl_migration_set *set)
{
	if (set == NULL)
		return;
	if (set->owned) {
		for (size_t i = 0; i < set->count; i++) {
			/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): count is 0 while items is NULL (the set was cleared) */
			free((char *)set->items[i].name);
			free((char *)set->items[i].sql);
		}
	}
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* Find the migration with a version. */
const struct ctl_migration *ctl_migrations_find(const ctl_migration_set *set, int version)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->items[i].version == version)
			return &set->items[i];
	return NULL;
}

/* Compute a migration's checksum. */
int ctl_migrations_checksum(const struct ctl_migration *m, char out[CTL_MIGRATION_CHECKSUM_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(m->sql, m->len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[CTL_MIGRATION_CHECKSUM_LEN] = '\0';
	return 0;
}
