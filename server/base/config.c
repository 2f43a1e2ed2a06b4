/* fairpayd's settings: flags, the config file, reloads (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef enum cfg_type {
	CFG_STR,
	CFG_INT,
	CFG_BOOL
} cfg_type;

/* When a new value takes effect: the reloadable column. */
typedef enum cfg_when {
	RESTART, /* read at start only: a reload warns and keeps the old value */
	LIVE,    /* a reload (SIGHUP) applies it */
	CMDLINE  /* a flag only, never in the file (--config, --help, ...) */
} cfg_when;

typedef struct cfg_opt {
	const char *name;
	cfg_type type;
	cfg_when reloadable;
	size_t offset;
	const char *def;  /* default, as text; NULL = unset */
	int64_t min, max; /* for CFG_INT */
	const char *arg;  /* placeholder in --help */
	const char *help;
} cfg_opt;

#define OFF(f) offsetof(fp_config, f)

static const cfg_opt options[] = {
	{ "listen", CFG_STR, RESTART, OFF(listen), "127.0.0.1:7443", 0, 0, "HOST:PORT",
	  "address to serve TLS on" },
	{ "db", CFG_STR, RESTART, OFF(db), "", 0, 0, "CONNINFO",
	  "libpq connection string or URI (PG* env vars apply)" },
	{ "cert", CFG_STR, LIVE, OFF(cert_file), NULL, 0, 0, "FILE",
	  "server certificate chain (PEM)" },
	{ "key", CFG_STR, LIVE, OFF(key_file), NULL, 0, 0, "FILE", "server private key (PEM)" },
	{ "client-ca", CFG_STR, LIVE, OFF(client_ca_file), NULL, 0, 0, "FILE",
	  "CA for client certificates (mutual TLS)" },
	{ "tls-ticket-rotate-s", CFG_INT, RESTART, OFF(tls_ticket_rotate_s), "3600", 1, 86400, "S",
	  "draw a new session ticket key this often; a ticket resumes for one to two periods" },
	{ "max-frame", CFG_INT, LIVE, OFF(max_frame), "65536", 64, 16 << 20, "BYTES",
	  "largest request frame" },
	{ "max-inflight", CFG_INT, LIVE, OFF(max_inflight), "128", 1, 65536, "N",
	  "requests in flight per connection" },
	{ "max-connections", CFG_INT, LIVE, OFF(max_connections), "10000", 1, 1000000, "N",
	  "client connections at once" },
	{ "max-connections-per-source", CFG_INT, LIVE, OFF(max_connections_per_source), "1000", 0,
	  1000000, "N", "client connections from one address; 0 = no cap" },
	{ "max-unauthenticated", CFG_INT, LIVE, OFF(max_unauthenticated), "0", 0, 1000000, "N",
	  "connections not yet authenticated (TLS handshake included); 0 = half of "
	  "--max-connections" },
	{ "max-connections-per-key", CFG_INT, LIVE, OFF(max_connections_per_key), "1000", 0,
	  1000000, "N", "connections authenticated with one API key; 0 = no cap" },
	{ "auth-timeout-ms", CFG_INT, LIVE, OFF(auth_timeout_ms), "10000", 100, 600000, "MS",
	  "close a connection not authenticated this long after its accept (or after it lost "
	  "its key)" },
	{ "db-pool", CFG_INT, RESTART, OFF(db_pool), "4", 1, 64, "N",
	  "PostgreSQL connections for the calls in all, shared among the workers (each has at "
	  "least one, and opens one more that listens and one for its background jobs)" },
	{ "db-pipeline", CFG_INT, RESTART, OFF(db_pipeline), "64", 1, 4096, "N",
	  "queries in flight per PostgreSQL connection" },
	{ "db-timeout-ms", CFG_INT, RESTART, OFF(db_timeout_ms), "1000", 100, 600000, "MS",
	  "wait for the database before answering UNAVAILABLE" },
	{ "db-vendor-share", CFG_INT, RESTART, OFF(db_vendor_share_pct), "50", 0, 100, "PCT",
	  "of the pool's query slots (--db-pool x --db-pipeline), the most one vendor's calls "
	  "hold at once; the rest wait in the vendor's own queue; 0 = no share, one queue for "
	  "all" },
	{ "db-statement-timeout-ms", CFG_INT, RESTART, OFF(db_statement_timeout_ms), "5000", 100,
	  600000, "MS", "longest run of one SQL statement (statement_timeout)" },
	{ "db-lock-timeout-ms", CFG_INT, RESTART, OFF(db_lock_timeout_ms), "2000", 10, 600000, "MS",
	  "longest wait for a row lock (lock_timeout); the call answers ABORTED" },
	{ "handshake-timeout-ms", CFG_INT, LIVE, OFF(handshake_timeout_ms), "10000", 100, 600000,
	  "MS", "TLS handshake time limit" },
	{ "idle-timeout-ms", CFG_INT, LIVE, OFF(idle_timeout_ms), "300000", 100, 86400000, "MS",
	  "close a connection silent this long" },
	{ "shutdown-timeout-ms", CFG_INT, LIVE, OFF(shutdown_timeout_ms), "10000", 0, 600000, "MS",
	  "on SIGTERM, wait this long for in-flight requests" },
	{ "revocation-poll-ms", CFG_INT, LIVE, OFF(revocation_poll_ms), "500", 50, 60000, "MS",
	  "how often to look for keys revoked by other servers" },
	{ "frames-per-wakeup", CFG_INT, LIVE, OFF(frames_per_wakeup), "32", 1, 100000, "N",
	  "frames handled per connection per wake-up" },
	{ "max-output-bytes", CFG_INT, LIVE, OFF(max_output_bytes), "1048576", 4096, 1 << 30,
	  "BYTES", "stop reading from a client whose unsent replies pass this" },
	{ "slow-reader-timeout-ms", CFG_INT, LIVE, OFF(slow_reader_timeout_ms), "10000", 100,
	  600000, "MS", "close a client stuck above --max-output-bytes this long" },
	{ "stats-interval-ms", CFG_INT, LIVE, OFF(stats_interval_ms), "10000", 100, 86400000, "MS",
	  "log the limit counters this often when they changed" },
	{ "db-role", CFG_STR, RESTART, OFF(db_role), "fairpay_app", 0, 0, "ROLE",
	  "PostgreSQL role the server's sessions run as (\"\" = the login role)" },
	{ "workers", CFG_INT, RESTART, OFF(workers), "0", 0, 256, "N",
	  "event loops (processes) sharing the port, each with its own connections, pool and "
	  "cache; 0 = one per processor" },
	{ "cache-entries", CFG_INT, RESTART, OFF(cache_entries), "100000", 0, 100000000, "N",
	  "rows (reputations, offers, policies, products) kept in memory; 0 = none" },
	{ "sweep-interval-ms", CFG_INT, RESTART, OFF(sweep_interval_ms), "250", 10, 3600000, "MS",
	  "how often to expire and default offers" },
	{ "sweep-batch", CFG_INT, RESTART, OFF(sweep_batch), "500", 1, 100000, "N",
	  "offers swept per round" },
	{ "webhook-ca-file", CFG_STR, RESTART, OFF(webhook_ca_file), NULL, 0, 0, "FILE",
	  "CA certificates (PEM) to verify webhook receivers with, instead of the system's" },
	{ "webhook-allow-http", CFG_BOOL, LIVE, OFF(webhook_allow_http), NULL, 0, 0, NULL,
	  "accept and deliver to plain http:// webhook URLs" },
	{ "webhook-allow-private", CFG_BOOL, LIVE, OFF(webhook_allow_private), NULL, 0, 0, NULL,
	  "accept and deliver to loopback, private, link-local and unspecified addresses" },
	{ "webhook-retry-base-ms", CFG_INT, LIVE, OFF(webhook_retry_base_ms), "1000", 1, 3600000,
	  "MS", "delay before a failed webhook delivery's first retry; it doubles after each" },
	{ "webhook-retry-max-ms", CFG_INT, LIVE, OFF(webhook_retry_max_ms), "3600000", 1, 86400000,
	  "MS", "longest delay between two attempts of a webhook delivery" },
	{ "webhook-give-up-s", CFG_INT, LIVE, OFF(webhook_give_up_s), "259200", 1, 31536000, "S",
	  "stop retrying a webhook delivery this long after its event" },
	{ "webhook-timeout-ms", CFG_INT, LIVE, OFF(webhook_timeout_ms), "10000", 100, 600000, "MS",
	  "one webhook attempt's limit (connect, TLS, request, answer)" },
	{ "webhook-poll-ms", CFG_INT, LIVE, OFF(webhook_poll_ms), "200", 10, 60000, "MS",
	  "how often to look for due webhook deliveries" },
	{ "webhook-per-endpoint", CFG_INT, LIVE, OFF(webhook_per_endpoint), "8", 1, 1000, "N",
	  "webhook deliveries in flight per endpoint (per worker)" },
	{ "webhook-max-inflight", CFG_INT, LIVE, OFF(webhook_max_inflight), "256", 1, 100000, "N",
	  "webhook deliveries in flight in all (per worker)" },
	{ "attestation-key-file", CFG_STR, RESTART, OFF(attestation_key_file), NULL, 0, 0, "FILE",
	  "64 hex digits (openssl rand -hex 32): the key sealing vendors' attestation signing keys "
	  "in the database; without it the server verifies attestations but signs none" },
	{ "log-level", CFG_STR, LIVE, OFF(log_level), "info", 0, 0, "LEVEL",
	  "debug, info, warn or error" },
	{ "admin-listen", CFG_STR, RESTART, OFF(admin_listen), NULL, 0, 0, "HOST:PORT",
	  "serve plain HTTP for operators here: GET /metrics, /healthz, /readyz (off unless "
	  "given)" },
	{ "log-format", CFG_STR, LIVE, OFF(log_format), "text", 0, 0, "FORMAT",
	  "text, or json: one JSON object per line" },
	{ "config", CFG_STR, CMDLINE, OFF(config_file), NULL, 0, 0, "FILE",
	  "read settings from FILE (name = value lines); flags given here win over it" },
	{ "print-config", CFG_BOOL, CMDLINE, OFF(print_config), NULL, 0, 0, NULL,
	  "print every setting as a commented config file line and exit" },
	{ "help", CFG_BOOL, CMDLINE, OFF(help), NULL, 0, 0, NULL, "print this help and exit" },
	{ "version", CFG_BOOL, CMDLINE, OFF(version), NULL, 0, 0, NULL,
	  "print the version and exit" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* The command line of cfg_load(), kept for cfg_reload(): flags win over
 * the file after a reload too. */
static int saved_argc;
static char **saved_argv;

static const cfg_opt *find_option(const char *name, size_t nlen)
{
	for (size_t k = 0; k < N_OPTIONS; k++)
		if (strlen(options[k].name) == nlen && strncmp(options[k].name, name, nlen) == 0)
			return &options[k];
	return NULL;
}

/* A boolean's text in a file: true/false, yes/no, 1/0; -1 if none. */
static int parse_bool(const char *v)
{
	static const char *const yes[] = { "true", "yes", "1" };
	static const char *const no[] = { "false", "no", "0" };
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int set_value(fp_config *cfg, const cfg_opt *o, const char *value, char *err, size_t errlen)
{
	char *base = (char *)cfg;
	switch (o->type) {
	case CFG_STR: {
		char **slot = (char **)(base + o->offset);
		char *copy = strdup(value);
		if (copy == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*slot);
		*slot = copy;
		return 0;
	}
	case CFG_INT: {
		char *end = NULL;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0') {
			snprintf(err, errlen, "--%s: '%s' is not a whole number", o->name, value);
			return -1;
		}
		if (v < o->min || v > o->max) {
			snprintf(err, errlen, "--%s: %lld is outside %lld..%lld", o->name, v,
				 (long long)o->min, (long long)o->max);
			return -1;
		}
		*(int64_t *)(base + o->offset) = (int64_t)v;
		return 0;
	}
	case CFG_BOOL: {
		/* A flag is true by being there; a file line says which. */
		int b = value == NULL ? 1 : parse_bool(value);
		if (b < 0) {
			snprintf(err, errlen, "--%s: '%s' is not true, false, yes, no, 1 or 0",
				 o->name, value);
			return -1;
		}
		*(bool *)(base + o->offset) = b == 1;
		return 0;
	}
	}
	return -1;
}

void cfg_defaults(fp_config *cfg)
{
	char err[64];
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].def != NULL &&
		    set_value(cfg, &options[i], options[i].def, err, sizeof(err)) != 0)
			abort(); /* a default outside its own range is a bug */
	}
}

int cfg_parse(fp_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument '%s'", arg);
			return -1;
		}
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const cfg_opt *o = find_option(name, nlen);
		if (o == NULL) {
			snprintf(err, errlen, "unknown option '%.*s' (see --help)", (int)(nlen + 2),
				 arg);
			return -1;
		}
		const char *value = NULL;
		if (o->type != CFG_BOOL) {
			if (eq != NULL) {
				value = eq + 1;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				snprintf(err, errlen, "--%s needs a value (%s)", o->name, o->arg);
				return -1;
			}
		} else if (eq != NULL) {
			snprintf(err, errlen, "--%s takes no value", o->name);
			return -1;
		}
		if (set_value(cfg, o, value, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* One line of a config file, cut in place: blank and comment lines set
 * nothing; else "name = value" with optional spaces, value in double
 * quotes or bare (spaces at its ends trimmed; no escapes either way). */
static int parse_line(fp_config *cfg, char *line, char *err, size_t errlen)
{
	char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	char *end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (*p == '\0' || *p == '#')
		return 0;
	char *eq = strchr(p, '=');
	if (eq == NULL) {
		snprintf(err, errlen, "expected 'name = value', got '%.64s'", p);
		return -1;
	}
	char *name_end = eq;
	while (name_end > p && isspace((unsigned char)name_end[-1]))
		name_end--;
	size_t nlen = (size_t)(name_end - p);
	const cfg_opt *o = find_option(p, nlen);
	if (o == NULL) {
		snprintf(err, errlen, "unknown option '%.*s' (see fairpayd --print-config)",
			 (int)(nlen > 64 ? 64 : nlen), p);
		return -1;
	}
	if (o->reloadable == CMDLINE) {
		snprintf(err, errlen, "'%s' is a command-line flag only", o->name);
		return -1;
	}
	char *v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	if (*v == '"') {
		size_t vl = strlen(v);
		if (vl < 2 || v[vl - 1] != '"') {
			snprintf(err, errlen, "--%s: the value's closing quote is missing",
				 o->name);
			return -1;
		}
		v[vl - 1] = '\0';
		v++;
	}
	return set_value(cfg, o, v, err, errlen);
}

int cfg_parse_file(fp_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;
	int rc = 0;
	while (getline(&line, &cap, f) >= 0) {
		char why[384];
		lineno++;
		if (parse_line(cfg, line, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
			goto done;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
done:
	free(line);
	fclose(f);
	return rc;
}

int cfg_load(fp_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	saved_argc = argc;
	saved_argv = argv;
	cfg_defaults(cfg);
	/* The flags first, for --config; then again over the file. */
	if (cfg_parse(cfg, argc, argv, err, errlen) != 0)
		return -1;
	if (cfg->config_file == NULL)
		return 0;
	char *path = cfg->config_file;
	cfg->config_file = NULL;
	cfg_free(cfg);
	cfg_defaults(cfg);
	cfg->config_file = path;
	if (cfg_parse_file(cfg, path, err, errlen) != 0)
		return -1;
	return cfg_parse(cfg, argc, argv, err, errlen);
}

int cfg_reload(fp_config *next, char *err, size_t errlen)
{
	if (cfg_load(next, saved_argc, saved_argv, err, errlen) != 0)
		return -1;
	return cfg_validate(next, err, errlen);
}

void cfg_share(fp_config *cfg, int workers)
{
	if (workers < 1)
		workers = 1;
	cfg->shared_by = workers;
	if (cfg->max_unauthenticated == 0)
		cfg->max_unauthenticated =
			cfg->max_connections / 2 > 0 ? cfg->max_connections / 2 : 1;
	/* The connection caps are the server's, whatever the number of
	 * workers: each worker enforces its share (rounded up). The kernel
	 * spreads connections across workers evenly, by a hash of their
	 * addresses. */
	cfg->max_connections = cfg_share_of(cfg->max_connections, workers);
	cfg->max_unauthenticated = cfg_share_of(cfg->max_unauthenticated, workers);
	cfg->max_connections_per_source = cfg_share_of(cfg->max_connections_per_source, workers);
	/* --db-pool is the server's share of the database, whatever the
	 * number of workers: fewer, fuller write groups commit more per fsync. */
	if (workers > 1)
		cfg->db_pool = cfg->db_pool / workers > 0 ? cfg->db_pool / workers : 1;
}

int64_t cfg_share_of(int64_t total, int workers)
{
	return total == 0 ? 0 : (total + workers - 1) / workers;
}

/* A setting's value as text, for the reload's log and comparisons. */
static const char *value_text(const fp_config *cfg, const cfg_opt *o, char *buf, size_t len)
{
	const char *base = (const char *)cfg;
	switch (o->type) {
	case CFG_STR: {
		const char *v = *(char *const *)(base + o->offset);
		snprintf(buf, len, "%s", v ? v : "(unset)");
		break;
	}
	case CFG_INT:
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)(base + o->offset));
		break;
	case CFG_BOOL:
		snprintf(buf, len, "%s", *(const bool *)(base + o->offset) ? "true" : "false");
		break;
	}
	return buf;
}

static int values_equal(const fp_config *a, const fp_config *b, const cfg_opt *o)
{
	const char *pa = (const char *)a + o->offset, *pb = (const char *)b + o->offset;
	switch (o->type) {
	case CFG_STR: {
		const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
		return sa == sb || (sa != NULL && sb != NULL && strcmp(sa, sb) == 0);
	}
	case CFG_INT:
		return *(const int64_t *)pa == *(const int64_t *)pb;
	case CFG_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	}
	return 1;
}

int cfg_apply(fp_config *cur, const fp_config *next, cfg_change_fn fn, void *arg)
{
	int applied = 0;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const cfg_opt *o = &options[i];
		if (o->reloadable == CMDLINE || values_equal(cur, next, o))
			continue;
		char was[256], now[256];
		value_text(cur, o, was, sizeof(was));
		value_text(next, o, now, sizeof(now));
		if (o->reloadable == LIVE) {
			char *dst = (char *)cur + o->offset;
			const char *src = (const char *)next + o->offset;
			if (o->type == CFG_STR) {
				const char *v = *(char *const *)src;
				char *copy = v != NULL ? strdup(v) : NULL;
				if (v != NULL && copy == NULL)
					return -1;
				free(*(char **)dst);
				*(char **)dst = copy;
			} else {
				memcpy(dst, src,
				       o->type == CFG_INT ? sizeof(int64_t) : sizeof(bool));
			}
			applied++;
		}
		if (fn != NULL)
			fn(arg, o->name, was, now, o->reloadable == LIVE);
	}
	return applied;
}

/* One line per changed setting. The database conninfo may hold a
 * password: its value is never shown. */
static void report_change(void *arg, const char *name, const char *was, const char *now,
			  bool applied)
{
	bool secret = strcmp(name, "db") == 0;
	char a[LOG_ESCAPE_SIZE], b[LOG_ESCAPE_SIZE];
	log_escape(a, secret ? "(not shown)" : was);
	log_escape(b, secret ? "(not shown)" : now);
	if (applied)
		log_info(0, "SIGHUP: %s %s -> %s", name, a, b);
	else
		log_warn(0, "SIGHUP: %s %s -> %s needs a restart; keeping %s", name, a, b, a);
}

int cfg_reload_apply(fp_config *cur, bool quiet)
{
	fp_config next;
	char err[512];
	int n = -1;
	if (cfg_reload(&next, err, sizeof(err)) != 0) {
		if (!quiet)
			log_error(0, "SIGHUP: %s; keeping every setting as it was", err);
		goto done;
	}
	cfg_share(&next, cur->shared_by);
	n = cfg_apply(cur, &next, quiet ? NULL : report_change, NULL);
	if (n < 0) {
		log_error(0, "SIGHUP: out of memory; some settings may be unchanged");
		goto done;
	}
	/* Said before a new level could hide it. */
	if (!quiet)
		log_info(0, "SIGHUP: read %s: %d settings changed",
			 cur->config_file ? cur->config_file : "the flags", n);
	log_level level;
	log_format format;
	if (log_parse_level(cur->log_level, &level) == 0)
		log_set_level(level);
	if (log_parse_format(cur->log_format, &format) == 0)
		log_set_format(format);
done:
	cfg_free(&next);
	return n;
}

int cfg_split_hostport(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	const char *h = addr;
	size_t hl;
	if (addr == NULL || *addr == '\0')
		return -1;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || strchr(addr, ':') != colon)
			return -1;
		hl = (size_t)(colon - addr);
	}
	const char *p = colon + 1;
	size_t pl = strlen(p);
	if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen)
		return -1;
	char *end = NULL;
	long pn = strtol(p, &end, 10);
	if (*end != '\0' || pn < 0 || pn > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, p, pl + 1);
	return 0;
}

int cfg_validate(const fp_config *cfg, char *err, size_t errlen)
{
	char host[256], port[16];
	if (cfg_split_hostport(cfg->listen, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "--listen: '%s' is not HOST:PORT", cfg->listen);
		return -1;
	}
	for (const char *p = cfg->db_role; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
			snprintf(err, errlen, "--db-role: '%s' is not a plain role name",
				 cfg->db_role);
			return -1;
		}
	}
	log_level level;
	if (log_parse_level(cfg->log_level, &level) != 0) {
		snprintf(err, errlen, "--log-level: '%s' is not debug, info, warn or error",
			 cfg->log_level);
		return -1;
	}
	log_format format;
	if (log_parse_format(cfg->log_format, &format) != 0) {
		snprintf(err, errlen, "--log-format: '%s' is not text or json", cfg->log_format);
		return -1;
	}
	if (cfg->cert_file == NULL || cfg->key_file == NULL) {
		snprintf(err, errlen, "--cert and --key are required: plain TCP is never served");
		return -1;
	}
	return 0;
}

void cfg_usage(FILE *out)
{
	fprintf(out, "usage: fairpayd --listen HOST:PORT --db CONNINFO --cert FILE --key FILE "
		     "[--client-ca FILE] [options]\n\n"
		     "Serves the FairPay protocol over TLS, keeping its state in PostgreSQL.\n"
		     "SIGTERM or SIGINT: stop accepting, finish in-flight requests, exit 0.\n\n"
		     "options:\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const cfg_opt *o = &options[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(out, "  %-28s %s", left, o->help);
		if (o->def != NULL && o->def[0] != '\0')
			fprintf(out, " (default %s)", o->def);
		fputc('\n', out);
	}
}

void cfg_print(FILE *out)
{
	fprintf(out, "# fairpayd configuration (fairpayd --config FILE). One 'name = value'\n"
		     "# a line; a line starting with '#' is a comment. Booleans: true/false,\n"
		     "# yes/no, 1/0. Strings bare or in double quotes (no escapes); \"\" is\n"
		     "# empty. Flags on the command line win over this file. SIGHUP re-reads\n"
		     "# it and applies the settings marked reloadable; the others need a\n"
		     "# restart.\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const cfg_opt *o = &options[i];
		if (o->reloadable == CMDLINE)
			continue;
		fprintf(out, "\n# %s (%s)\n", o->help,
			o->reloadable == LIVE ? "reloadable" : "restart to change");
		if (o->type == CFG_BOOL)
			fprintf(out, "# %s = false\n", o->name);
		else if (o->def == NULL)
			fprintf(out, "# %s = %s\n", o->name, o->arg);
		else if (o->type == CFG_STR && o->def[0] == '\0')
			fprintf(out, "# %s = \"\"\n", o->name);
		else
			fprintf(out, "# %s = %s\n", o->name, o->def);
	}
}

void cfg_free(fp_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].type == CFG_STR) {
			char **slot = (char **)((char *)cfg + options[i].offset);
			free(*slot);
			*slot = NULL;
		}
	}
}
