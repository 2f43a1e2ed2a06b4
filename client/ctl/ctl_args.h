/* ctl_args_: fairpayctl's command line, parsed without side effects.
 *
 * ctl_args_parse() takes argv and the environment's defaults and fills a
 * ctl_args; it prints nothing and reads no file, so that every rule of the
 * command line can be unit-tested. Options may come before or after the
 * command words. */
#ifndef FP_CTL_ARGS_H
#define FP_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes of fairpayctl (the command-line contract). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1, /* the server or the database said no */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_CONNECT = 3 /* cannot reach or talk to the server or database */
};

#define CTL_DEFAULT_SERVER "127.0.0.1:7443"
#define CTL_MAX_TIMEOUT_MS 3600000
#define CTL_MAX_LIMIT 1000

typedef enum ctl_cmd {
	CTL_CMD_NONE = 0,
	CTL_CMD_PING,
	CTL_CMD_VENDOR_CREATE,
	CTL_CMD_VENDOR_LIST,
	CTL_CMD_KEY_CREATE,
	CTL_CMD_KEY_REVOKE,
	CTL_CMD_DB_MIGRATE,
	CTL_CMD_DB_STATUS,
	CTL_CMD_DB_BOOTSTRAP_ADMIN
} ctl_cmd;

typedef enum ctl_parse_result {
	CTL_PARSE_RUN = 0, /* run out->cmd */
	CTL_PARSE_HELP,    /* print ctl_args_usage(out->topic) to stdout, exit 0 */
	CTL_PARSE_VERSION, /* print the version, exit 0 */
	CTL_PARSE_USAGE    /* print err and a hint for out->topic to stderr, exit 2 */
} ctl_parse_result;

typedef enum ctl_role { CTL_ROLE_NONE = 0, CTL_ROLE_ADMIN, CTL_ROLE_VENDOR } ctl_role;

/* Defaults taken from the environment (NULL or "" = unset). */
typedef struct ctl_env {
	const char *server;  /* FAIRPAY_SERVER */
	const char *ca;      /* FAIRPAY_CA */
	const char *api_key; /* FAIRPAY_API_KEY */
	const char *db;      /* FAIRPAY_DB */
} ctl_env;

/* Strings point into argv, the environment or static storage. */
typedef struct ctl_args {
	ctl_cmd cmd;
	const char *topic; /* command words of the help or error, e.g. "vendor create" */

	/* connection to fairpayd */
	const char *server;
	const char *ca;      /* NULL when not given */
	const char *api_key; /* NULL when not given */
	const char *cert;
	const char *key;
	int timeout_ms; /* 0 = the library's default */
	bool json;

	/* database commands */
	const char *db;         /* never NULL; "" = libpq's PG* variables */
	const char *migrations; /* NULL = the migrations built into the binary */

	/* command arguments */
	const char *name;       /* vendor create NAME */
	const char *vendor_id;  /* key create --vendor */
	ctl_role role;          /* key create --role */
	const char *key_id;     /* key revoke KEY_ID */
	uint32_t limit;         /* vendor list --limit; 0 = server default */
	const char *page_token; /* vendor list --page-token */
} ctl_args;

/* Parse argv[1..argc) into out; on CTL_PARSE_USAGE, err holds a one-line message. */
ctl_parse_result ctl_args_parse(int argc, char *const argv[], const ctl_env *env,
				ctl_args *out, char *err, size_t err_size);

/* Return the usage text for a topic ("" = the whole program), or NULL. */
const char *ctl_args_usage(const char *topic);

/* True when cmd talks to fairpayd (as opposed to the database). */
bool ctl_args_is_remote(ctl_cmd cmd);

#endif
