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

#include "fp_rules.h"

/* Exit codes of fairpayctl (the command-line contract). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_REFUSED = 1, /* the server or the database said no */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_CONNECT = 3 /* cannot reach or talk to the server or database */
};

#define CTL_DEFAULT_SERVER "127.0.0.1:7443"
#define CTL_MAX_TIMEOUT_MS 3600000

typedef enum ctl_cmd {
	CTL_CMD_NONE = 0,
	CTL_CMD_PING,
	CTL_CMD_VENDOR_CREATE,
	CTL_CMD_VENDOR_LIST,
	CTL_CMD_KEY_CREATE,
	CTL_CMD_KEY_REVOKE,
	CTL_CMD_DB_MIGRATE,
	CTL_CMD_DB_STATUS,
	CTL_CMD_DB_BOOTSTRAP_ADMIN,
	CTL_CMD_PRODUCT_PUT,
	CTL_CMD_PRODUCT_GET,
	CTL_CMD_PRODUCT_LIST,
	CTL_CMD_POLICY_GET,
	CTL_CMD_POLICY_SET,
	CTL_CMD_OFFER_CREATE,
	CTL_CMD_OFFER_ACCEPT,
	CTL_CMD_OFFER_DECLINE,
	CTL_CMD_OFFER_GET,
	CTL_CMD_PAY,
	CTL_CMD_REVIEW,
	CTL_CMD_REPUTATION,
	CTL_CMD_REPUTATION_VERIFY,
	CTL_CMD_EVENTS,
	CTL_CMD_KEY_REGISTER_CERT,
	CTL_CMD_OFFERS_LIST,
	CTL_CMD_PAYMENTS_LIST,
	CTL_CMD_WEBHOOK_CREATE,
	CTL_CMD_WEBHOOK_LIST,
	CTL_CMD_WEBHOOK_DELETE,
	CTL_CMD_WEBHOOK_DELIVERIES,
	CTL_CMD_ATTEST_ISSUE,
	CTL_CMD_ATTEST_VERIFY,
	CTL_CMD_ATTEST_VERIFY_OFFLINE, /* attestation verify --offline: no server */
	CTL_CMD_ATTEST_ROTATE_KEY,
	CTL_CMD_ISSUER_KEY,
	CTL_CMD_INSIGHTS,
	CTL_CMD_POLICY_SIMULATE
} ctl_cmd;

typedef enum ctl_parse_result {
	CTL_PARSE_RUN = 0, /* run out->cmd */
	CTL_PARSE_HELP,    /* print ctl_args_usage(out->topic) to stdout, exit 0 */
	CTL_PARSE_VERSION, /* print the version, exit 0 */
	CTL_PARSE_USAGE    /* print err and a hint for out->topic to stderr, exit 2 */
} ctl_parse_result;

typedef enum ctl_role {
	CTL_ROLE_NONE = 0,
	CTL_ROLE_ADMIN,
	CTL_ROLE_VENDOR
} ctl_role;

/* The fields of fairpay.v1.Policy that `policy set` can change, in proto
 * order; the KEY of KEY=VALUE is the field's name (ctl_args_policy_key). */
/* One per field of FP_POLICY_FIELDS, e.g. CTL_POLICY_ALPHA_BP. The value
 * of ENFORCEMENT is the Enforcement number; that of EXCUSING_REASONS is
 * unused (see ctl_policy_edit.reasons). */
typedef enum ctl_policy_key {
#define CTL_POLICY_KEY(name, NAME, KIND) CTL_POLICY_##NAME,
	FP_POLICY_FIELDS(CTL_POLICY_KEY)
#undef CTL_POLICY_KEY
	CTL_POLICY_KEY_COUNT
} ctl_policy_key;

/* Number of PaymentReason values (1-7). */
#define CTL_MAX_REASONS 7
/* Event kinds a webhook endpoint may name (EventKind has fewer). */
#define CTL_MAX_KINDS 16

/* What `policy set KEY=VALUE...` asks to change: only the keys given. */
typedef struct ctl_policy_edit {
	bool set[CTL_POLICY_KEY_COUNT];
	int64_t value[CTL_POLICY_KEY_COUNT];
	int reasons[CTL_MAX_REASONS]; /* excusing_reasons, PaymentReason numbers */
	size_t n_reasons;
} ctl_policy_edit;

/* An integer option that may be absent. */
typedef struct ctl_opt_int {
	bool set;
	int64_t v;
} ctl_opt_int;

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
	const char *key_id;     /* key revoke KEY_ID, key register-cert KEY_ID */
	const char *cert_pem;   /* key register-cert KEY_ID CERT.pem; NULL with --fingerprint */
	bool has_fingerprint;   /* key register-cert --fingerprint given */
	char fingerprint[65];   /* its value: 64 lower-case hex digits, or "" to remove */
	uint32_t limit;         /* vendor/product list, events --limit; 0 = server default */
	const char *page_token; /* vendor/product list --page-token */

	/* the FairPay cycle (vendor calls) */
	const char *idempotency_key;  /* --idempotency-key on mutating calls; NULL = none */
	const char *sku;              /* product put/get SKU, offer create CUSTOMER SKU */
	const char *customer_id;      /* offer create, reputation, events CUSTOMER; --customer */
	const char *offer_id;         /* offer accept/decline/get ID, pay OFFER_ID */
	const char *payment_id;       /* review PAYMENT_ID */
	const char *currency;         /* product put --currency */
	ctl_opt_int sp;               /* product put / offer create --sp */
	ctl_opt_int unit_price;       /* product put --unit-price */
	ctl_opt_int list_price;       /* product put --list-price */
	ctl_opt_int minimum;          /* product put / offer create --minimum */
	ctl_opt_int min_tier;         /* product put --min-tier, a Tier number */
	ctl_opt_int period_days;      /* product put --period-days */
	ctl_opt_int mode;             /* offer create --mode, an OfferMode number */
	ctl_opt_int amount;           /* pay --amount */
	ctl_opt_int differential;     /* pay --differential (basis points) */
	ctl_opt_int usage;            /* pay --usage */
	ctl_opt_int state;            /* offers list --status, payments list --review */
	int reasons[CTL_MAX_REASONS]; /* pay --reason, PaymentReason numbers, no duplicates */
	size_t n_reasons;
	const char *note;         /* pay, review --note; NULL = none */
	bool accept;              /* review: --accept (true) or --reject (false) */
	uint64_t after_id;        /* events, webhook deliveries --after */
	const char *url;          /* webhook create URL */
	const char *endpoint_id;  /* webhook delete/deliveries ID */
	bool follow;              /* events --follow: print events as they commit */
	int kinds[CTL_MAX_KINDS]; /* events --kinds, webhook create --kinds: EventKind numbers */
	size_t n_kinds;
	ctl_policy_edit policy; /* policy set, policy simulate */

	/* attestations */
	const char *subject;          /* attestation issue / offer create --subject */
	ctl_opt_int ttl;              /* attestation issue --ttl, in seconds */
	const char *out_file;         /* attestation issue --out: the raw bytes */
	const char *attestation;      /* attestation verify TEXT, offer create --attestation */
	const char *attestation_file; /* attestation verify --file: raw bytes or base64url text */
	const char *public_key;       /* attestation verify --offline --public-key: 64 hex digits */

	/* insights */
	int64_t from_ms; /* --from DATE, Unix milliseconds; 0 = open */
	int64_t to_ms;   /* --to DATE; 0 = open */
	const char *svg; /* --svg FILE; NULL = none */
} ctl_args;

/* Parse argv[1..argc) into out; on CTL_PARSE_USAGE, err holds a one-line message. */
ctl_parse_result ctl_args_parse(int argc, char *const argv[], const ctl_env *env, ctl_args *out,
				char *err, size_t err_size);

/* Return the usage text for a topic ("" = the whole program), or NULL. */
const char *ctl_args_usage(const char *topic);

/* True when cmd talks to fairpayd (as opposed to the database). */
bool ctl_args_is_remote(ctl_cmd cmd);

/* Parse a date of --from/--to: YYYY-MM-DD (midnight UTC) or RFC 3339
 * (YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)) into Unix milliseconds. */
int ctl_args_parse_date(const char *s, int64_t *unix_ms) __attribute__((warn_unused_result));

/* Return the Policy field name of a policy key, e.g. "alpha_bp". */
const char *ctl_args_policy_key(ctl_policy_key k);

/* Parse policy KEY=VALUE words as `policy set` takes them into pe; on -1
 * err holds a one-line message. */
int ctl_args_parse_policy(const char *const *words, int n, ctl_policy_edit *pe, char *err,
			  size_t err_size) __attribute__((warn_unused_result));

#endif
