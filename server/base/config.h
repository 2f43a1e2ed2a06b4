/* cfg_: fairpayd's configuration, one table of settings.
 *
 * Every setting is a row of the table in config.c (name, type, default, help,
 * reloadable), so --help, --print-config, the flags, the config file, the
 * defaults and what SIGHUP may change cannot drift apart. A config file
 * (--config) holds "name = value" lines with the flags' names; flags given
 * on the command line win over it, at start and on every reload. */
#ifndef FP_CONFIG_H
#define FP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fp_config {
	char *listen; /* HOST:PORT */
	char *db;     /* libpq conninfo; "" = PG* environment */
	char *cert_file;
	char *key_file;
	char *client_ca_file;        /* NULL: no mutual TLS */
	int64_t tls_ticket_rotate_s; /* a session ticket key's period */
	int64_t max_frame;           /* bytes */
	int64_t max_inflight;        /* requests per connection */
	int64_t max_connections;
	int64_t max_connections_per_source; /* 0 = no cap */
	int64_t max_unauthenticated;        /* 0 = half of max_connections */
	int64_t max_connections_per_key;    /* 0 = no cap */
	int64_t auth_timeout_ms;
	int64_t db_pool;                 /* PostgreSQL connections */
	int64_t db_pipeline;             /* queries in flight per PostgreSQL connection */
	int64_t db_timeout_ms;           /* wait for the database before UNAVAILABLE */
	int64_t db_statement_timeout_ms; /* statement_timeout of the server's sessions */
	int64_t db_lock_timeout_ms;      /* lock_timeout of the server's sessions */
	int64_t db_vendor_share_pct;     /* one vendor's share of the pool's query slots */
	int64_t handshake_timeout_ms;
	int64_t idle_timeout_ms;
	int64_t shutdown_timeout_ms;
	int64_t revocation_poll_ms;
	int64_t frames_per_wakeup;
	int64_t sweep_interval_ms;
	int64_t max_output_bytes;
	int64_t slow_reader_timeout_ms;
	int64_t stats_interval_ms;
	char *db_role; /* PostgreSQL role for the server's sessions; "" = login role */
	int64_t sweep_batch;
	int64_t cache_entries; /* bound of the row cache; 0 = off */
	int64_t workers;       /* processes sharing the port; 0 = one per processor */
	char *log_level;
	char *log_format;   /* "text" or "json" */
	char *config_file;  /* --config; NULL: flags only */
	char *admin_listen; /* HOST:PORT of the operators' HTTP (server/admin.c); NULL: off */
	/* Webhook delivery (jobs/deliver.c) */
	char *webhook_ca_file;         /* NULL: the system's trust store */
	bool webhook_allow_http;       /* http:// endpoints too */
	bool webhook_allow_private;    /* loopback, private, link-local addresses too */
	int64_t webhook_retry_base_ms; /* the first retry's delay; doubles after */
	int64_t webhook_retry_max_ms;  /* the longest delay between attempts */
	int64_t webhook_give_up_s;     /* stop retrying an event this long after it was queued */
	int64_t webhook_timeout_ms;    /* one attempt's limit */
	int64_t webhook_poll_ms;       /* how often to look for due deliveries */
	int64_t webhook_per_endpoint;  /* deliveries in flight per endpoint */
	int64_t webhook_max_inflight;  /* deliveries in flight in all */
	/* Attestations (handlers/rpc_attest.c) */
	char *attestation_key_file; /* the KEK sealing signing keys; NULL: cannot sign */
	bool print_config;
	int shared_by; /* workers the caps were divided among (cfg_share); not a setting */
	bool help;
	bool version;
} fp_config;

/* Fill cfg with the defaults. */
void cfg_defaults(fp_config *cfg);

/* Parse argv over the defaults; on error -1 with a message in err. */
int cfg_parse(fp_config *cfg, int argc, char **argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Read the settings of a config file over cfg; on error -1 with a message
 * naming the file and line in err. */
int cfg_parse_file(fp_config *cfg, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Fill cfg from the defaults, the --config file if argv names one, then
 * argv again (flags win); argv is kept for cfg_reload(). */
int cfg_load(fp_config *cfg, int argc, char **argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Load and validate the settings again as cfg_load() did (the file may
 * have changed) into next, a struct not yet filled. */
int cfg_reload(fp_config *next, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Turn the server's settings into one worker's of workers: the connection
 * caps and the database pool are divided among them (at start and on every
 * reload alike). */
void cfg_share(fp_config *cfg, int workers);

/* One worker's part of a cap of total (rounded up; 0 stays "no cap"). */
int64_t cfg_share_of(int64_t total, int workers);

/* Told of a setting that differs: its name, the old and new value as text,
 * and whether it was applied (else it needs a restart). */
typedef void (*cfg_change_fn)(void *arg, const char *name, const char *was, const char *now,
			      bool applied);

/* Copy into cur the reloadable settings of next that differ from it, and
 * call fn (may be NULL) for every setting that differs; the number applied,
 * -1 when out of memory. */
int cfg_apply(fp_config *cur, const fp_config *next, cfg_change_fn fn, void *arg)
	__attribute__((warn_unused_result));

/* SIGHUP: load the settings again, divide them as cur's were, apply to
 * cur those that can change live and set the log's level and format. With
 * quiet false, log one line per changed setting (a warning for those that
 * need a restart) or, when the file is invalid, why nothing changed. The
 * number of settings applied; -1 when none could be (invalid file). */
int cfg_reload_apply(fp_config *cur, bool quiet) __attribute__((warn_unused_result));

/* Print every file setting as a commented "# name = default" line under
 * its help text: an example config file. */
void cfg_print(FILE *out);

/* Check that the settings make sense together (files given, ranges). */
int cfg_validate(const fp_config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Split "HOST:PORT" or "[V6]:PORT" into host and port; -1 if malformed. */
int cfg_split_hostport(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
	__attribute__((warn_unused_result));

/* Print the usage text with every flag and its default. */
void cfg_usage(FILE *out);

/* Free the strings of cfg. Accepts NULL. */
void cfg_free(fp_config *cfg);

#endif
