/* fairpayctl's command line: the table of commands and options, the parser
 * and the help texts (see ctl_args.h). Pure code: no I/O, no globals that
 * change. */
#include "ctl_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CTL_MAX_WORDS 16

typedef enum opt_id {
	OPT_SERVER,
	OPT_CA,
	OPT_API_KEY,
	OPT_CERT,
	OPT_KEY,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_HELP,
	OPT_VERSION,
	OPT_LIMIT,
	OPT_PAGE_TOKEN,
	OPT_VENDOR,
	OPT_ROLE,
	OPT_DB,
	OPT_MIGRATIONS,
	OPT_COUNT
} opt_id;

typedef struct opt_def {
	const char *name; /* without the leading "--" */
	bool has_value;
	bool global; /* accepted with every command */
} opt_def;

static const opt_def opt_defs[OPT_COUNT] = {
	[OPT_SERVER] = { "server", true, true },
	[OPT_CA] = { "ca", true, true },
	[OPT_API_KEY] = { "api-key", true, true },
	[OPT_CERT] = { "cert", true, true },
	[OPT_KEY] = { "key", true, true },
	[OPT_TIMEOUT] = { "timeout", true, true },
	[OPT_JSON] = { "json", false, true },
	[OPT_HELP] = { "help", false, true },
	[OPT_VERSION] = { "version", false, false },
	[OPT_LIMIT] = { "limit", true, false },
	[OPT_PAGE_TOKEN] = { "page-token", true, false },
	[OPT_VENDOR] = { "vendor", true, false },
	[OPT_ROLE] = { "role", true, false },
	[OPT_DB] = { "db", true, false },
	[OPT_MIGRATIONS] = { "migrations", true, false },
};

#define OPT_BIT(id) (1u << (id))

typedef struct cmd_def {
	const char *group; /* first command word */
	const char *verb;  /* second command word, or NULL */
	const char *topic; /* both words, the key of the help text */
	ctl_cmd cmd;
	unsigned opts;       /* command-specific options it accepts */
	int nargs;           /* positional arguments after the command words */
	const char *argname; /* their name in messages */
} cmd_def;

static const cmd_def cmd_defs[] = {
	{ "ping", NULL, "ping", CTL_CMD_PING, 0, 0, NULL },
	{ "vendor", "create", "vendor create", CTL_CMD_VENDOR_CREATE, 0, 1, "NAME" },
	{ "vendor", "list", "vendor list", CTL_CMD_VENDOR_LIST,
	  OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_PAGE_TOKEN), 0, NULL },
	{ "key", "create", "key create", CTL_CMD_KEY_CREATE, OPT_BIT(OPT_VENDOR) | OPT_BIT(OPT_ROLE),
	  0, NULL },
	{ "key", "revoke", "key revoke", CTL_CMD_KEY_REVOKE, 0, 1, "KEY_ID" },
	{ "db", "migrate", "db migrate", CTL_CMD_DB_MIGRATE,
	  OPT_BIT(OPT_DB) | OPT_BIT(OPT_MIGRATIONS), 0, NULL },
	{ "db", "status", "db status", CTL_CMD_DB_STATUS, OPT_BIT(OPT_DB) | OPT_BIT(OPT_MIGRATIONS),
	  0, NULL },
	{ "db", "bootstrap-admin", "db bootstrap-admin", CTL_CMD_DB_BOOTSTRAP_ADMIN,
	  OPT_BIT(OPT_DB) | OPT_BIT(OPT_MIGRATIONS), 0, NULL },
};

#define N_CMDS (sizeof(cmd_defs) / sizeof(cmd_defs[0]))

/* ---------------------------------------------------------------- help texts */

#define CONN_OPTIONS                                                                         \
	"Connection options (before or after the command words):\n"                          \
	"  --server HOST:PORT  fairpayd address; [IPv6]:PORT for IPv6\n"                     \
	"                      (env FAIRPAY_SERVER, default " CTL_DEFAULT_SERVER ")\n"        \
	"  --ca FILE           CA certificates that verify the server (env FAIRPAY_CA)\n"    \
	"  --api-key KEY       API key fp_... (env FAIRPAY_API_KEY)\n"                      \
	"  --cert FILE         client certificate for mutual TLS, instead of a key\n"       \
	"  --key FILE          its private key (default: read from the --cert file)\n"      \
	"  --timeout MS        limit on each read and write (default 30000)\n"              \
	"  --json              print JSON instead of tables\n"

#define DB_OPTIONS                                                                            \
	"Database options:\n"                                                                 \
	"  --db CONNINFO       libpq connection string or URI (env FAIRPAY_DB; when\n"       \
	"                      neither is set, libpq's PG* variables apply)\n"               \
	"  --migrations DIR    read NNNN_name.sql files from DIR instead of the\n"           \
	"                      migrations built into fairpayctl\n"                           \
	"  --json              print JSON instead of tables\n"

typedef struct usage_text {
	const char *topic;
	const char *text;
} usage_text;

static const usage_text usage_texts[] = {
	{ "",
	  "Usage: fairpayctl [OPTIONS] COMMAND [ARGS]\n"
	  "\n"
	  "Administer a FairPay server (fairpayd) and its PostgreSQL database.\n"
	  "\n"
	  "Commands:\n"
	  "  ping                     check that the server answers\n"
	  "  vendor create NAME       create a vendor and its first API key\n"
	  "  vendor list              list vendors\n"
	  "  key create --role ROLE   create an API key (admin, or vendor with --vendor)\n"
	  "  key revoke KEY_ID        revoke an API key at once\n"
	  "  db migrate               apply pending database migrations\n"
	  "  db status                show which migrations are applied\n"
	  "  db bootstrap-admin       create an ADMIN key directly in the database\n"
	  "\n" CONN_OPTIONS "  -h, --help          show help; after command words, help on that command\n"
	  "  --version           print the version\n"
	  "\n" DB_OPTIONS "\n"
	  "Exit status: 0 ok, 1 refused by the server or the database, 2 usage error,\n"
	  "3 cannot connect.\n" },
	{ "ping",
	  "Usage: fairpayctl ping [OPTIONS]\n"
	  "\n"
	  "Check that fairpayd answers over TLS; print its version, its clock and the\n"
	  "round-trip time. Needs no API key.\n"
	  "\n" CONN_OPTIONS },
	{ "vendor",
	  "Usage: fairpayctl vendor create NAME [OPTIONS]\n"
	  "       fairpayctl vendor list [--limit N] [--page-token T] [OPTIONS]\n"
	  "\n"
	  "Manage vendors (needs an ADMIN key). 'fairpayctl vendor COMMAND --help'\n"
	  "describes each command.\n" },
	{ "vendor create",
	  "Usage: fairpayctl vendor create NAME [OPTIONS]\n"
	  "\n"
	  "Create a vendor named NAME (1-200 bytes of UTF-8) and a VENDOR API key for\n"
	  "it. The key is shown only this once. Needs an ADMIN key.\n"
	  "\n"
	  "Prints the lines 'vendor_id: ...', 'name: ...', 'key_id: ...' and\n"
	  "'api_key: ...'; with --json one object\n"
	  "{\"vendor\":{\"id\",\"name\",\"created_at_unix_ms\"},\"key_id\",\"api_key\"}.\n"
	  "\n" CONN_OPTIONS },
	{ "vendor list",
	  "Usage: fairpayctl vendor list [--limit N] [--page-token T] [OPTIONS]\n"
	  "\n"
	  "List vendors as a table (ID, NAME, CREATED), one page at a time. Needs an\n"
	  "ADMIN key. When more pages follow, the command for the next one is printed\n"
	  "to stderr.\n"
	  "\n"
	  "  --limit N           vendors per page, 1-1000 (default: the server's, 100)\n"
	  "  --page-token T      continue where a previous page ended\n"
	  "\n" CONN_OPTIONS },
	{ "key",
	  "Usage: fairpayctl key create --role admin|vendor [--vendor ID] [OPTIONS]\n"
	  "       fairpayctl key revoke KEY_ID [OPTIONS]\n"
	  "\n"
	  "Manage API keys (needs an ADMIN key). 'fairpayctl key COMMAND --help'\n"
	  "describes each command.\n" },
	{ "key create",
	  "Usage: fairpayctl key create --role admin|vendor [--vendor ID] [OPTIONS]\n"
	  "\n"
	  "Create an API key; it is shown only this once. A vendor key needs the\n"
	  "vendor's ID; an admin key may name one too. Needs an ADMIN key.\n"
	  "\n"
	  "  --role ROLE         admin or vendor\n"
	  "  --vendor ID         the vendor the key belongs to (v_...)\n"
	  "\n"
	  "Prints 'key_id: ...' and 'api_key: ...'; with --json {\"key_id\",\"api_key\"}.\n"
	  "\n" CONN_OPTIONS },
	{ "key revoke",
	  "Usage: fairpayctl key revoke KEY_ID [OPTIONS]\n"
	  "\n"
	  "Revoke the API key KEY_ID (16 hex digits, the part after 'fp_'). It stops\n"
	  "working at once, also on connections that already authenticated with it.\n"
	  "Needs an ADMIN key.\n"
	  "\n" CONN_OPTIONS },
	{ "db",
	  "Usage: fairpayctl db migrate [--db CONNINFO] [--migrations DIR]\n"
	  "       fairpayctl db status [--db CONNINFO] [--migrations DIR]\n"
	  "       fairpayctl db bootstrap-admin [--db CONNINFO]\n"
	  "\n"
	  "Work on the database directly, without fairpayd. 'fairpayctl db COMMAND\n"
	  "--help' describes each command.\n" },
	{ "db migrate",
	  "Usage: fairpayctl db migrate [--db CONNINFO] [--migrations DIR]\n"
	  "\n"
	  "Apply every pending migration in version order, each in its own\n"
	  "transaction, and record it with its SHA-256 in schema_migrations. Safe to\n"
	  "run again and from two places at once. Refuses to run when an applied file\n"
	  "was changed afterwards.\n"
	  "\n" DB_OPTIONS },
	{ "db status",
	  "Usage: fairpayctl db status [--db CONNINFO] [--migrations DIR]\n"
	  "\n"
	  "List every migration as applied (with its time), pending, changed (applied,\n"
	  "but the file differs now) or missing (applied, but no file has it).\n"
	  "\n" DB_OPTIONS },
	{ "db bootstrap-admin",
	  "Usage: fairpayctl db bootstrap-admin [--db CONNINFO] [--migrations DIR]\n"
	  "\n"
	  "Create an ADMIN API key directly in the database, to get the first key of a\n"
	  "new installation. The key is printed once, as the last line of the output.\n"
	  "Refuses to run before 'fairpayctl db migrate'.\n"
	  "\n" DB_OPTIONS },
};

/* Return the usage text for a topic ("" = the whole program), or NULL. */
const char *ctl_args_usage(const char *topic)
{
	if (topic == NULL)
		topic = "";
	for (size_t i = 0; i < sizeof(usage_texts) / sizeof(usage_texts[0]); i++)
		if (strcmp(usage_texts[i].topic, topic) == 0)
			return usage_texts[i].text;
	return NULL;
}

/* True when cmd talks to fairpayd (as opposed to the database). */
bool ctl_args_is_remote(ctl_cmd cmd)
{
	return cmd == CTL_CMD_PING || cmd == CTL_CMD_VENDOR_CREATE || cmd == CTL_CMD_VENDOR_LIST ||
	       cmd == CTL_CMD_KEY_CREATE || cmd == CTL_CMD_KEY_REVOKE;
}

/* ---------------------------------------------------------------- parsing */

__attribute__((format(printf, 3, 4))) static void err_fmt(char *err, size_t size,
							   const char *fmt, ...)
{
	va_list ap;
	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static int opt_find(const char *name, size_t len)
{
	for (int i = 0; i < OPT_COUNT; i++)
		if (strlen(opt_defs[i].name) == len && strncmp(opt_defs[i].name, name, len) == 0)
			return i;
	return -1;
}

static const char *nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Parse a decimal number in [min, max]; -1 if s is anything else. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static const cmd_def *cmd_find(const char *group, const char *verb)
{
	for (size_t i = 0; i < N_CMDS; i++) {
		if (strcmp(cmd_defs[i].group, group) != 0)
			continue;
		if (verb == NULL || (cmd_defs[i].verb != NULL && strcmp(cmd_defs[i].verb, verb) == 0))
			return &cmd_defs[i];
	}
	return NULL;
}

/* Fill the values of out from the options, the environment and defaults, and
 * check what depends on the command. */
static ctl_parse_result fill(const cmd_def *def, const char *const val[OPT_COUNT],
			     const bool seen[OPT_COUNT], const char *const *args, const ctl_env *env,
			     ctl_args *out, char *err, size_t err_size)
{
	unsigned long n = 0;

	out->cmd = def->cmd;
	out->server = nonempty(val[OPT_SERVER]);
	if (out->server == NULL)
		out->server = nonempty(env->server);
	if (out->server == NULL)
		out->server = CTL_DEFAULT_SERVER;
	out->ca = nonempty(val[OPT_CA]) != NULL ? val[OPT_CA] : nonempty(env->ca);
	out->api_key = nonempty(val[OPT_API_KEY]) != NULL ? val[OPT_API_KEY] : nonempty(env->api_key);
	out->cert = nonempty(val[OPT_CERT]);
	out->key = nonempty(val[OPT_KEY]);
	out->json = seen[OPT_JSON];
	/* An explicit --db "" is meaningful: libpq's PG* variables. */
	out->db = val[OPT_DB] != NULL ? val[OPT_DB] : env->db != NULL ? env->db : "";
	out->page_token = val[OPT_PAGE_TOKEN];
	out->vendor_id = nonempty(val[OPT_VENDOR]);

	if (val[OPT_TIMEOUT] != NULL) {
		if (parse_uint(val[OPT_TIMEOUT], 1, CTL_MAX_TIMEOUT_MS, &n) != 0) {
			err_fmt(err, err_size, "--timeout needs milliseconds between 1 and %d",
				CTL_MAX_TIMEOUT_MS);
			return CTL_PARSE_USAGE;
		}
		out->timeout_ms = (int)n;
	}
	if (val[OPT_LIMIT] != NULL) {
		if (parse_uint(val[OPT_LIMIT], 1, CTL_MAX_LIMIT, &n) != 0) {
			err_fmt(err, err_size, "--limit needs a number between 1 and %d",
				CTL_MAX_LIMIT);
			return CTL_PARSE_USAGE;
		}
		out->limit = (uint32_t)n;
	}
	if (seen[OPT_MIGRATIONS]) {
		out->migrations = nonempty(val[OPT_MIGRATIONS]);
		if (out->migrations == NULL) {
			err_fmt(err, err_size, "--migrations needs a directory");
			return CTL_PARSE_USAGE;
		}
	}
	if (val[OPT_ROLE] != NULL) {
		if (strcasecmp(val[OPT_ROLE], "admin") == 0) {
			out->role = CTL_ROLE_ADMIN;
		} else if (strcasecmp(val[OPT_ROLE], "vendor") == 0) {
			out->role = CTL_ROLE_VENDOR;
		} else {
			err_fmt(err, err_size, "--role must be admin or vendor, not '%s'",
				val[OPT_ROLE]);
			return CTL_PARSE_USAGE;
		}
	}
	if (out->key != NULL && out->cert == NULL) {
		err_fmt(err, err_size, "--key needs --cert");
		return CTL_PARSE_USAGE;
	}

	switch (def->cmd) {
	case CTL_CMD_VENDOR_CREATE:
		out->name = args[0];
		break;
	case CTL_CMD_KEY_REVOKE:
		out->key_id = args[0];
		break;
	case CTL_CMD_KEY_CREATE:
		if (out->role == CTL_ROLE_NONE) {
			err_fmt(err, err_size, "key create needs --role admin or --role vendor");
			return CTL_PARSE_USAGE;
		}
		if (out->role == CTL_ROLE_VENDOR && out->vendor_id == NULL) {
			err_fmt(err, err_size, "--role vendor needs --vendor ID");
			return CTL_PARSE_USAGE;
		}
		break;
	default:
		break;
	}

	if (ctl_args_is_remote(def->cmd)) {
		if (out->ca == NULL) {
			err_fmt(err, err_size,
				"no CA file to verify the server: give --ca FILE or set FAIRPAY_CA");
			return CTL_PARSE_USAGE;
		}
		if (def->cmd != CTL_CMD_PING && out->api_key == NULL && out->cert == NULL) {
			err_fmt(err, err_size,
				"'%s' needs credentials: give --api-key KEY (or set "
				"FAIRPAY_API_KEY) or --cert FILE",
				def->topic);
			return CTL_PARSE_USAGE;
		}
	}
	return CTL_PARSE_RUN;
}

/* Parse argv[1..argc) into out. */
ctl_parse_result ctl_args_parse(int argc, char *const argv[], const ctl_env *env,
				ctl_args *out, char *err, size_t err_size)
{
	static const ctl_env no_env = { NULL, NULL, NULL, NULL };
	const char *val[OPT_COUNT] = { NULL };
	bool seen[OPT_COUNT] = { false };
	const char *words[CTL_MAX_WORDS];
	int nwords = 0;
	bool only_words = false;
	bool failed = false; /* err holds the first problem; the topic comes later */

	memset(out, 0, sizeof(*out));
	out->topic = "";
	out->server = CTL_DEFAULT_SERVER;
	out->db = "";
	if (err_size > 0)
		err[0] = '\0';
	if (env == NULL)
		env = &no_env;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_words || a[0] != '-' || a[1] == '\0') {
			if (nwords == CTL_MAX_WORDS) {
				if (!failed)
					err_fmt(err, err_size, "too many arguments");
				failed = true;
				continue;
			}
			words[nwords++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_words = true;
			continue;
		}
		if (strcmp(a, "-h") == 0) {
			seen[OPT_HELP] = true;
			continue;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		int id = a[1] == '-' ? opt_find(name, nlen) : -1;
		if (id < 0) {
			if (!failed)
				err_fmt(err, err_size, "unknown option '%s'", a);
			failed = true;
			continue;
		}
		if (opt_defs[id].has_value) {
			if (eq != NULL) {
				val[id] = eq + 1;
			} else if (i + 1 < argc) {
				/* The value is the next word as it is, even if it
				 * starts with '-' (a page token may). */
				val[id] = argv[++i];
			} else {
				if (!failed)
					err_fmt(err, err_size, "option --%s needs a value",
						opt_defs[id].name);
				failed = true;
				continue;
			}
		} else if (eq != NULL) {
			if (!failed)
				err_fmt(err, err_size, "option --%s takes no value",
					opt_defs[id].name);
			failed = true;
			continue;
		}
		seen[id] = true;
	}

	/* Resolve the command words first, so that help and errors are about
	 * the command the user was typing. */
	if (nwords == 0) {
		if (seen[OPT_HELP])
			return CTL_PARSE_HELP;
		if (failed)
			return CTL_PARSE_USAGE;
		if (seen[OPT_VERSION])
			return CTL_PARSE_VERSION;
		err_fmt(err, err_size, "missing command");
		return CTL_PARSE_USAGE;
	}
	const cmd_def *def = cmd_find(words[0], NULL);
	if (def == NULL) {
		err_fmt(err, err_size, "unknown command '%s'", words[0]);
		return CTL_PARSE_USAGE;
	}
	int used = 1;
	if (def->verb != NULL) {
		out->topic = def->group;
		if (nwords < 2) {
			if (seen[OPT_HELP])
				return CTL_PARSE_HELP;
			err_fmt(err, err_size, "'%s' needs a command after it", def->group);
			return CTL_PARSE_USAGE;
		}
		const cmd_def *sub = cmd_find(words[0], words[1]);
		if (sub == NULL) {
			err_fmt(err, err_size, "unknown command '%s %s'", words[0], words[1]);
			return CTL_PARSE_USAGE;
		}
		def = sub;
		used = 2;
	}
	out->topic = def->topic;
	if (seen[OPT_HELP])
		return CTL_PARSE_HELP;
	if (failed)
		return CTL_PARSE_USAGE;

	for (int id = 0; id < OPT_COUNT; id++) {
		if (seen[id] && !opt_defs[id].global && (def->opts & OPT_BIT(id)) == 0) {
			err_fmt(err, err_size, "option --%s does not apply to '%s'", opt_defs[id].name,
				def->topic);
			return CTL_PARSE_USAGE;
		}
	}
	int nargs = nwords - used;
	if (nargs < def->nargs) {
		err_fmt(err, err_size, "'%s' needs %s", def->topic, def->argname);
		return CTL_PARSE_USAGE;
	}
	if (nargs > def->nargs) {
		err_fmt(err, err_size, "unexpected argument '%s'", words[used + def->nargs]);
		return CTL_PARSE_USAGE;
	}
	return fill(def, val, seen, words + used, env, out, err, err_size);
}
