/* fairpayd's flags (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum cfg_type {
	CFG_STR,
	CFG_INT,
	CFG_BOOL
} cfg_type;

typedef struct cfg_opt {
	const char *name;
	cfg_type type;
	size_t offset;
	const char *def;  /* default, as text; NULL = unset */
	int64_t min, max; /* for CFG_INT */
	const char *arg;  /* placeholder in --help */
	const char *help;
} cfg_opt;

#define OFF(f) offsetof(fp_config, f)

static const cfg_opt options[] = {
	{ "listen", CFG_STR, OFF(listen), "127.0.0.1:7443", 0, 0, "HOST:PORT",
	  "address to serve TLS on" },
	{ "db", CFG_STR, OFF(db), "", 0, 0, "CONNINFO",
	  "libpq connection string or URI (PG* env vars apply)" },
	{ "cert", CFG_STR, OFF(cert_file), NULL, 0, 0, "FILE", "server certificate chain (PEM)" },
	{ "key", CFG_STR, OFF(key_file), NULL, 0, 0, "FILE", "server private key (PEM)" },
	{ "client-ca", CFG_STR, OFF(client_ca_file), NULL, 0, 0, "FILE",
	  "CA for client certificates (mutual TLS)" },
	{ "tls-ticket-rotate-s", CFG_INT, OFF(tls_ticket_rotate_s), "3600", 1, 86400, "S",
	  "draw a new session ticket key this often; a ticket resumes for one to two periods" },
	{ "max-frame", CFG_INT, OFF(max_frame), "65536", 64, 16 << 20, "BYTES",
	  "largest request frame" },
	{ "max-inflight", CFG_INT, OFF(max_inflight), "128", 1, 65536, "N",
	  "requests in flight per connection" },
	{ "max-connections", CFG_INT, OFF(max_connections), "10000", 1, 1000000, "N",
	  "client connections at once" },
	{ "max-connections-per-source", CFG_INT, OFF(max_connections_per_source), "1000", 0,
	  1000000, "N", "client connections from one address; 0 = no cap" },
	{ "max-unauthenticated", CFG_INT, OFF(max_unauthenticated), "0", 0, 1000000, "N",
	  "connections not yet authenticated (TLS handshake included); 0 = half of "
	  "--max-connections" },
	{ "max-connections-per-key", CFG_INT, OFF(max_connections_per_key), "1000", 0, 1000000, "N",
	  "connections authenticated with one API key; 0 = no cap" },
	{ "auth-timeout-ms", CFG_INT, OFF(auth_timeout_ms), "10000", 100, 600000, "MS",
	  "close a connection not authenticated this long after its accept (or after it lost "
	  "its key)" },
	{ "db-pool", CFG_INT, OFF(db_pool), "4", 1, 64, "N",
	  "PostgreSQL connections in all, shared among the workers (each has at least one)" },
	{ "db-pipeline", CFG_INT, OFF(db_pipeline), "64", 1, 4096, "N",
	  "queries in flight per PostgreSQL connection" },
	{ "db-timeout-ms", CFG_INT, OFF(db_timeout_ms), "1000", 100, 600000, "MS",
	  "wait for the database before answering UNAVAILABLE" },
	{ "db-vendor-share", CFG_INT, OFF(db_vendor_share_pct), "50", 0, 100, "PCT",
	  "of the pool's query slots (--db-pool x --db-pipeline), the most one vendor's calls "
	  "hold at once; the rest wait in the vendor's own queue; 0 = no share, one queue for "
	  "all" },
	{ "db-statement-timeout-ms", CFG_INT, OFF(db_statement_timeout_ms), "5000", 100, 600000,
	  "MS", "longest run of one SQL statement (statement_timeout)" },
	{ "db-lock-timeout-ms", CFG_INT, OFF(db_lock_timeout_ms), "2000", 10, 600000, "MS",
	  "longest wait for a row lock (lock_timeout); the call answers ABORTED" },
	{ "handshake-timeout-ms", CFG_INT, OFF(handshake_timeout_ms), "10000", 100, 600000, "MS",
	  "TLS handshake time limit" },
	{ "idle-timeout-ms", CFG_INT, OFF(idle_timeout_ms), "300000", 100, 86400000, "MS",
	  "close a connection silent this long" },
	{ "shutdown-timeout-ms", CFG_INT, OFF(shutdown_timeout_ms), "10000", 0, 600000, "MS",
	  "on SIGTERM, wait this long for in-flight requests" },
	{ "revocation-poll-ms", CFG_INT, OFF(revocation_poll_ms), "500", 50, 60000, "MS",
	  "how often to look for keys revoked by other servers" },
	{ "frames-per-wakeup", CFG_INT, OFF(frames_per_wakeup), "32", 1, 100000, "N",
	  "frames handled per connection per wake-up" },
	{ "max-output-bytes", CFG_INT, OFF(max_output_bytes), "1048576", 4096, 1 << 30, "BYTES",
	  "stop reading from a client whose unsent replies pass this" },
	{ "slow-reader-timeout-ms", CFG_INT, OFF(slow_reader_timeout_ms), "10000", 100, 600000,
	  "MS", "close a client stuck above --max-output-bytes this long" },
	{ "stats-interval-ms", CFG_INT, OFF(stats_interval_ms), "10000", 100, 86400000, "MS",
	  "log the limit counters this often when they changed" },
	{ "db-role", CFG_STR, OFF(db_role), "fairpay_app", 0, 0, "ROLE",
	  "PostgreSQL role the server's sessions run as (\"\" = the login role)" },
	{ "workers", CFG_INT, OFF(workers), "0", 0, 256, "N",
	  "event loops (processes) sharing the port, each with its own connections, pool and "
	  "cache; 0 = one per processor" },
	{ "cache-entries", CFG_INT, OFF(cache_entries), "100000", 0, 100000000, "N",
	  "rows (reputations, offers, policies, products) kept in memory; 0 = none" },
	{ "sweep-interval-ms", CFG_INT, OFF(sweep_interval_ms), "250", 10, 3600000, "MS",
	  "how often to expire and default offers" },
	{ "sweep-batch", CFG_INT, OFF(sweep_batch), "500", 1, 100000, "N",
	  "offers swept per round" },
	{ "webhook-ca-file", CFG_STR, OFF(webhook_ca_file), NULL, 0, 0, "FILE",
	  "CA certificates (PEM) to verify webhook receivers with, instead of the system's" },
	{ "webhook-allow-http", CFG_BOOL, OFF(webhook_allow_http), NULL, 0, 0, NULL,
	  "accept and deliver to plain http:// webhook URLs" },
	{ "webhook-allow-private", CFG_BOOL, OFF(webhook_allow_private), NULL, 0, 0, NULL,
	  "accept and deliver to loopback, private, link-local and unspecified addresses" },
	{ "webhook-retry-base-ms", CFG_INT, OFF(webhook_retry_base_ms), "1000", 1, 3600000, "MS",
	  "delay before a failed webhook delivery's first retry; it doubles after each" },
	{ "webhook-retry-max-ms", CFG_INT, OFF(webhook_retry_max_ms), "3600000", 1, 86400000, "MS",
	  "longest delay between two attempts of a webhook delivery" },
	{ "webhook-give-up-s", CFG_INT, OFF(webhook_give_up_s), "259200", 1, 31536000, "S",
	  "stop retrying a webhook delivery this long after its event" },
	{ "webhook-timeout-ms", CFG_INT, OFF(webhook_timeout_ms), "10000", 100, 600000, "MS",
	  "one webhook attempt's limit (connect, TLS, request, answer)" },
	{ "webhook-poll-ms", CFG_INT, OFF(webhook_poll_ms), "200", 10, 60000, "MS",
	  "how often to look for due webhook deliveries" },
	{ "webhook-per-endpoint", CFG_INT, OFF(webhook_per_endpoint), "8", 1, 1000, "N",
	  "webhook deliveries in flight per endpoint (per worker)" },
	{ "webhook-max-inflight", CFG_INT, OFF(webhook_max_inflight), "256", 1, 100000, "N",
	  "webhook deliveries in flight in all (per worker)" },
	{ "attestation-key-file", CFG_STR, OFF(attestation_key_file), NULL, 0, 0, "FILE",
	  "64 hex digits (openssl rand -hex 32): the key sealing vendors' attestation signing keys "
	  "in the database; without it the server verifies attestations but signs none" },
	{ "log-level", CFG_STR, OFF(log_level), "info", 0, 0, "LEVEL",
	  "debug, info, warn or error" },
	{ "admin-listen", CFG_STR, OFF(admin_listen), NULL, 0, 0, "HOST:PORT",
	  "serve plain HTTP for operators here: GET /metrics, /healthz, /readyz (off unless "
	  "given)" },
	{ "help", CFG_BOOL, OFF(help), NULL, 0, 0, NULL, "print this help and exit" },
	{ "version", CFG_BOOL, OFF(version), NULL, 0, 0, NULL, "print the version and exit" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

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
	case CFG_BOOL:
		*(bool *)(base + o->offset) = true;
		return 0;
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
		const cfg_opt *o = NULL;
		for (size_t k = 0; k < N_OPTIONS; k++) {
			if (strlen(options[k].name) == nlen &&
			    strncmp(options[k].name, name, nlen) == 0) {
				o = &options[k];
				break;
			}
		}
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
