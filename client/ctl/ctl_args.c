/* fairpayctl's command line: the table of commands and options, the parser
 * and the help texts (see ctl_args.h). Pure code: no I/O, no globals that
 * change. */
#include "ctl_args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_cert.h"
#include "ctl_enum.h"
#include "limit.h"

/* policy set takes up to one word per Policy field after its two. */
#define CTL_MAX_WORDS 32

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
	OPT_IDEMPOTENCY_KEY,
	OPT_NAME,
	OPT_CURRENCY,
	OPT_SP,
	OPT_UNIT_PRICE,
	OPT_LIST_PRICE,
	OPT_MINIMUM,
	OPT_MIN_TIER,
	OPT_PERIOD_DAYS,
	OPT_MODE,
	OPT_AMOUNT,
	OPT_DIFFERENTIAL,
	OPT_USAGE,
	OPT_REASON,
	OPT_NOTE,
	OPT_ACCEPT,
	OPT_REJECT,
	OPT_AFTER,
	OPT_FINGERPRINT,
	OPT_FOLLOW,
	OPT_KINDS,
	OPT_STATUS,
	OPT_REVIEW,
	OPT_CUSTOMER,
	OPT_SUBJECT,
	OPT_TTL,
	OPT_OUT,
	OPT_FILE,
	OPT_OFFLINE,
	OPT_PUBLIC_KEY,
	OPT_ATTESTATION,
	OPT_SKU,
	OPT_FROM,
	OPT_TO,
	OPT_SVG,
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
	[OPT_IDEMPOTENCY_KEY] = { "idempotency-key", true, false },
	[OPT_NAME] = { "name", true, false },
	[OPT_CURRENCY] = { "currency", true, false },
	[OPT_SP] = { "sp", true, false },
	[OPT_UNIT_PRICE] = { "unit-price", true, false },
	[OPT_LIST_PRICE] = { "list-price", true, false },
	[OPT_MINIMUM] = { "minimum", true, false },
	[OPT_MIN_TIER] = { "min-tier", true, false },
	[OPT_PERIOD_DAYS] = { "period-days", true, false },
	[OPT_MODE] = { "mode", true, false },
	[OPT_AMOUNT] = { "amount", true, false },
	[OPT_DIFFERENTIAL] = { "differential", true, false },
	[OPT_USAGE] = { "usage", true, false },
	[OPT_REASON] = { "reason", true, false },
	[OPT_NOTE] = { "note", true, false },
	[OPT_ACCEPT] = { "accept", false, false },
	[OPT_REJECT] = { "reject", false, false },
	[OPT_AFTER] = { "after", true, false },
	[OPT_FINGERPRINT] = { "fingerprint", true, false },
	[OPT_FOLLOW] = { "follow", false, false },
	[OPT_KINDS] = { "kinds", true, false },
	[OPT_STATUS] = { "status", true, false },
	[OPT_REVIEW] = { "review", true, false },
	[OPT_CUSTOMER] = { "customer", true, false },
	[OPT_SUBJECT] = { "subject", true, false },
	[OPT_TTL] = { "ttl", true, false },
	[OPT_OUT] = { "out", true, false },
	[OPT_FILE] = { "file", true, false },
	[OPT_OFFLINE] = { "offline", false, false },
	[OPT_PUBLIC_KEY] = { "public-key", true, false },
	[OPT_ATTESTATION] = { "attestation", true, false },
	[OPT_SKU] = { "sku", true, false },
	[OPT_FROM] = { "from", true, false },
	[OPT_TO] = { "to", true, false },
	[OPT_SVG] = { "svg", true, false },
};

#define OPT_BIT(id) (UINT64_C(1) << (id))
#define OPT_DB_BITS (OPT_BIT(OPT_DB) | OPT_BIT(OPT_MIGRATIONS))
#define OPT_IDEM OPT_BIT(OPT_IDEMPOTENCY_KEY)
#define OPT_PAGE (OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_PAGE_TOKEN) | OPT_BIT(OPT_CUSTOMER))

/* --reason may be given several times; each may hold a comma list. */
#define CTL_MAX_REASON_OPTS 16

/* nargs of a command that takes one or more arguments. */
#define NARGS_SOME (-1)
/* nargs of a command that takes none or one. */
#define NARGS_OPTIONAL (-2)

typedef struct cmd_def {
	const char *group; /* first command word */
	const char *verb;  /* second command word, or NULL */
	const char *topic; /* both words, the key of the help text */
	ctl_cmd cmd;
	bool remote;         /* talks to fairpayd (else to the database) */
	uint64_t opts;       /* command-specific options it accepts */
	int nargs;           /* positional arguments after the command words */
	const char *argname; /* their name in messages */
} cmd_def;

/* A group may have a command without a verb ("reputation CUSTOMER") and
 * commands with one ("reputation verify"); the one without comes first. */
static const cmd_def cmd_defs[] = {
	{ "ping", NULL, "ping", CTL_CMD_PING, true, 0, 0, NULL },
	{ "vendor", "create", "vendor create", CTL_CMD_VENDOR_CREATE, true, OPT_IDEM, 1, "NAME" },
	{ "vendor", "list", "vendor list", CTL_CMD_VENDOR_LIST, true,
	  OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_PAGE_TOKEN), 0, NULL },
	{ "key", "create", "key create", CTL_CMD_KEY_CREATE, true,
	  OPT_BIT(OPT_VENDOR) | OPT_BIT(OPT_ROLE) | OPT_IDEM, 0, NULL },
	{ "key", "revoke", "key revoke", CTL_CMD_KEY_REVOKE, true, OPT_IDEM, 1, "KEY_ID" },
	/* KEY_ID, then CERT.pem unless --fingerprint: fill() checks the count. */
	{ "key", "register-cert", "key register-cert", CTL_CMD_KEY_REGISTER_CERT, true,
	  OPT_BIT(OPT_FINGERPRINT) | OPT_IDEM, NARGS_SOME, "KEY_ID" },
	{ "db", "migrate", "db migrate", CTL_CMD_DB_MIGRATE, false, OPT_DB_BITS, 0, NULL },
	{ "db", "status", "db status", CTL_CMD_DB_STATUS, false, OPT_DB_BITS, 0, NULL },
	{ "db", "bootstrap-admin", "db bootstrap-admin", CTL_CMD_DB_BOOTSTRAP_ADMIN, false,
	  OPT_DB_BITS, 0, NULL },
	{ "product", "put", "product put", CTL_CMD_PRODUCT_PUT, true,
	  OPT_BIT(OPT_NAME) | OPT_BIT(OPT_CURRENCY) | OPT_BIT(OPT_SP) | OPT_BIT(OPT_UNIT_PRICE) |
		  OPT_BIT(OPT_LIST_PRICE) | OPT_BIT(OPT_MINIMUM) | OPT_BIT(OPT_MIN_TIER) |
		  OPT_BIT(OPT_PERIOD_DAYS) | OPT_IDEM,
	  1, "SKU" },
	{ "product", "get", "product get", CTL_CMD_PRODUCT_GET, true, 0, 1, "SKU" },
	{ "product", "list", "product list", CTL_CMD_PRODUCT_LIST, true,
	  OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_PAGE_TOKEN), 0, NULL },
	{ "policy", "get", "policy get", CTL_CMD_POLICY_GET, true, 0, 0, NULL },
	{ "policy", "set", "policy set", CTL_CMD_POLICY_SET, true, OPT_IDEM, NARGS_SOME,
	  "KEY=VALUE" },
	{ "offer", "create", "offer create", CTL_CMD_OFFER_CREATE, true,
	  OPT_BIT(OPT_MODE) | OPT_BIT(OPT_SP) | OPT_BIT(OPT_MINIMUM) | OPT_BIT(OPT_ATTESTATION) |
		  OPT_BIT(OPT_SUBJECT) | OPT_IDEM,
	  2, "CUSTOMER and SKU" },
	{ "offer", "accept", "offer accept", CTL_CMD_OFFER_ACCEPT, true, OPT_IDEM, 1, "OFFER_ID" },
	{ "offer", "decline", "offer decline", CTL_CMD_OFFER_DECLINE, true, OPT_IDEM, 1,
	  "OFFER_ID" },
	{ "offer", "get", "offer get", CTL_CMD_OFFER_GET, true, 0, 1, "OFFER_ID" },
	{ "offer", "list", "offers list", CTL_CMD_OFFERS_LIST, true, OPT_PAGE | OPT_BIT(OPT_STATUS),
	  0, NULL },
	{ "offers", "list", "offers list", CTL_CMD_OFFERS_LIST, true,
	  OPT_PAGE | OPT_BIT(OPT_STATUS), 0, NULL },
	{ "payments", "list", "payments list", CTL_CMD_PAYMENTS_LIST, true,
	  OPT_PAGE | OPT_BIT(OPT_REVIEW), 0, NULL },
	{ "pay", NULL, "pay", CTL_CMD_PAY, true,
	  OPT_BIT(OPT_AMOUNT) | OPT_BIT(OPT_DIFFERENTIAL) | OPT_BIT(OPT_USAGE) |
		  OPT_BIT(OPT_REASON) | OPT_BIT(OPT_NOTE) | OPT_IDEM,
	  1, "OFFER_ID" },
	{ "review", NULL, "review", CTL_CMD_REVIEW, true,
	  OPT_BIT(OPT_ACCEPT) | OPT_BIT(OPT_REJECT) | OPT_BIT(OPT_NOTE) | OPT_IDEM, 1,
	  "PAYMENT_ID" },
	{ "reputation", NULL, "reputation", CTL_CMD_REPUTATION, true, 0, 1, "CUSTOMER" },
	{ "reputation", "verify", "reputation verify", CTL_CMD_REPUTATION_VERIFY, false,
	  OPT_BIT(OPT_DB) | OPT_BIT(OPT_VENDOR), 0, NULL },
	/* Without CUSTOMER: the vendor's feed. */
	{ "events", NULL, "events", CTL_CMD_EVENTS, true,
	  OPT_BIT(OPT_AFTER) | OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_FOLLOW) | OPT_BIT(OPT_KINDS),
	  NARGS_OPTIONAL, "CUSTOMER" },
	{ "webhook", "create", "webhook create", CTL_CMD_WEBHOOK_CREATE, true,
	  OPT_BIT(OPT_KINDS) | OPT_IDEM, 1, "URL" },
	{ "webhook", "list", "webhook list", CTL_CMD_WEBHOOK_LIST, true, 0, 0, NULL },
	{ "webhook", "delete", "webhook delete", CTL_CMD_WEBHOOK_DELETE, true, OPT_IDEM, 1,
	  "ENDPOINT_ID" },
	{ "webhook", "deliveries", "webhook deliveries", CTL_CMD_WEBHOOK_DELIVERIES, true,
	  OPT_BIT(OPT_AFTER) | OPT_BIT(OPT_LIMIT), 1, "ENDPOINT_ID" },
	{ "attestation", "issue", "attestation issue", CTL_CMD_ATTEST_ISSUE, true,
	  OPT_BIT(OPT_SUBJECT) | OPT_BIT(OPT_TTL) | OPT_BIT(OPT_OUT) | OPT_IDEM, 1, "CUSTOMER" },
	/* TEXT, or --file F; --offline (with --public-key) makes it
	 * CTL_CMD_ATTEST_VERIFY_OFFLINE: fill() checks both. */
	{ "attestation", "verify", "attestation verify", CTL_CMD_ATTEST_VERIFY, true,
	  OPT_BIT(OPT_FILE) | OPT_BIT(OPT_OFFLINE) | OPT_BIT(OPT_PUBLIC_KEY), NARGS_OPTIONAL,
	  "TEXT" },
	{ "attestation", "rotate-key", "attestation rotate-key", CTL_CMD_ATTEST_ROTATE_KEY, false,
	  OPT_BIT(OPT_DB), 1, "VENDOR_ID" },
	{ "issuer-key", NULL, "issuer-key", CTL_CMD_ISSUER_KEY, true, 0, NARGS_OPTIONAL,
	  "VENDOR_ID" },
	{ "insights", NULL, "insights", CTL_CMD_INSIGHTS, true,
	  OPT_BIT(OPT_SKU) | OPT_BIT(OPT_FROM) | OPT_BIT(OPT_TO) | OPT_BIT(OPT_SVG), 0, NULL },
	{ "policy", "simulate", "policy simulate", CTL_CMD_POLICY_SIMULATE, true, 0, NARGS_SOME,
	  "KEY=VALUE" },
};

/* The KEY of `policy set KEY=VALUE`: the Policy field names. */
static const char *const policy_keys[CTL_POLICY_KEY_COUNT] = {
#define POLICY_KEY_NAME(name, NAME, KIND) [CTL_POLICY_##NAME] = #name,
	FP_POLICY_FIELDS(POLICY_KEY_NAME)
#undef POLICY_KEY_NAME
};

#define N_CMDS (sizeof(cmd_defs) / sizeof(cmd_defs[0]))

/* ---------------------------------------------------------------- help texts */

#define CONN_OPTIONS                                                                      \
	"Connection options (before or after the command words):\n"                       \
	"  --server HOST:PORT  fairpayd address; [IPv6]:PORT for IPv6\n"                  \
	"                      (env FAIRPAY_SERVER, default " CTL_DEFAULT_SERVER ")\n"    \
	"  --ca FILE           CA certificates that verify the server (env FAIRPAY_CA)\n" \
	"  --api-key KEY       API key fp_... (env FAIRPAY_API_KEY)\n"                    \
	"  --cert FILE         client certificate for mutual TLS, instead of a key\n"     \
	"  --key FILE          its private key (default: read from the --cert file)\n"    \
	"  --timeout MS        limit on each read and write (default 30000)\n"            \
	"  --json              print JSON instead of tables\n"

#define DB_OPTIONS                                                                     \
	"Database options:\n"                                                          \
	"  --db CONNINFO       libpq connection string or URI (env FAIRPAY_DB; when\n" \
	"                      neither is set, libpq's PG* variables apply)\n"         \
	"  --migrations DIR    read NNNN_name.sql files from DIR instead of the\n"     \
	"                      migrations built into fairpayctl\n"                     \
	"  --json              print JSON instead of tables\n"

#define DB_ONLY_OPTIONS                                                                \
	"Database options:\n"                                                          \
	"  --db CONNINFO       libpq connection string or URI (env FAIRPAY_DB; when\n" \
	"                      neither is set, libpq's PG* variables apply)\n"         \
	"  --json              print JSON instead of text\n"

#define IDEM_OPTION                                                                   \
	"  --idempotency-key KEY  the same KEY again (within 24 hours) returns the\n" \
	"                      first reply and changes nothing: safe to retry\n"

#define OFFER_OUTPUT                                                                    \
	"Prints the offer as 'name: value' lines (prices with the currency, times in\n" \
	"UTC); with --json {\"offer\":{...}} with the fields of fairpay.v1.Offer.\n"

typedef struct usage_text {
	const char *topic;
	const char *text;
} usage_text;

/* One text for the webhook commands. */
#define WEBHOOK_USAGE                                                                              \
	"Usage: fairpayctl webhook create URL [--kinds K,...] [--idempotency-key KEY] [OPTIONS]\n" \
	"       fairpayctl webhook list [OPTIONS]\n"                                               \
	"       fairpayctl webhook delete ENDPOINT_ID [--idempotency-key KEY] [OPTIONS]\n"         \
	"       fairpayctl webhook deliveries ENDPOINT_ID [--after ID] [--limit N] [OPTIONS]\n"    \
	"\n"                                                                                       \
	"Manage the vendor's webhook endpoints (at most 16; needs a VENDOR key). Every\n"          \
	"event of a kind an endpoint takes is POSTed to its https:// URL, signed as\n"             \
	"Standard Webhooks says. 'create' prints the endpoint and its signing secret\n"            \
	"(whsec_...), shown this once only. 'deliveries' lists the endpoint's delivery\n"          \
	"log, oldest first (ID, AT, EVENT, ATTEMPT, STATUS, OK, NEXT, ERROR); when more\n"         \
	"follow, the --after value of the next page is printed to stderr.\n"                       \
	"\n"                                                                                       \
	"  --kinds K,...       only these event kinds (e.g. payment_received); default all\n"      \
	"  --after ID          only deliveries after this id\n"                                    \
	"  --limit N           deliveries per page, 1-1000 (default: the server's, 100)\n"         \
	"\n" CONN_OPTIONS

/* One text for the attestation commands. */
#define ATTEST_USAGE                                                                          \
	"Usage: fairpayctl attestation issue CUSTOMER --subject S [--ttl D] [--out FILE]\n"   \
	"           [--idempotency-key KEY] [OPTIONS]\n"                                      \
	"       fairpayctl attestation verify (TEXT | --file F) [OPTIONS]\n"                  \
	"       fairpayctl attestation verify --offline --public-key HEX (TEXT | --file F)\n" \
	"       fairpayctl attestation rotate-key VENDOR_ID [--db CONNINFO]\n"                \
	"       fairpayctl issuer-key [VENDOR_ID] [OPTIONS]\n"                                \
	"\n"                                                                                  \
	"'issue' signs CUSTOMER's current reputation for another vendor, about the\n"         \
	"subject S agreed with the customer (e.g. a verified e-mail address), and\n"          \
	"prints it as base64url text (--out FILE: also the raw bytes into FILE).\n"           \
	"--ttl: how long it is valid, seconds or with s, m, h, d (default 30d).\n"            \
	"'verify' prints the claims of an attestation that verifies: by the server\n"         \
	"(against the keys of all its vendors), or with --offline by this program\n"          \
	"alone against the issuer's public key (64 hex digits, from 'issuer-key').\n"         \
	"--file F holds the raw bytes or the text. 'rotate-key' (on the database)\n"          \
	"retires the vendor's signing key: the server makes a new one when it next\n"         \
	"signs; attestations signed before keep verifying until they expire.\n"               \
	"'issuer-key' prints a vendor's current public key (default: the caller's).\n"        \
	"\n" CONN_OPTIONS

static const usage_text usage_texts[] = {
	{ "", "Usage: fairpayctl [OPTIONS] COMMAND [ARGS]\n"
	      "\n"
	      "Administer a FairPay server (fairpayd) and its PostgreSQL database.\n"
	      "\n"
	      "Commands:\n"
	      "  ping                     check that the server answers\n"
	      "  vendor create NAME       create a vendor and its first API key\n"
	      "  vendor list              list vendors\n"
	      "  key create --role ROLE   create an API key (admin, or vendor with --vendor)\n"
	      "  key revoke KEY_ID        revoke an API key at once\n"
	      "  key register-cert KEY_ID CERT.pem\n"
	      "                           let a client certificate authenticate as a key\n"
	      "  db migrate               apply pending database migrations\n"
	      "  db status                show which migrations are applied\n"
	      "  db bootstrap-admin       create an ADMIN key directly in the database\n"
	      "\n"
	      "FairPay cycle commands (need a VENDOR key):\n"
	      "  product put|get|list     manage the catalogue\n"
	      "  policy get|set           show or change the vendor's FairPay policy\n"
	      "  policy simulate KEY=VALUE...\n"
	      "                           replay every customer's history under changes\n"
	      "  insights                 the vendor's payments, fairness, reasons, tiers\n"
	      "  offer create|accept|decline|get\n"
	      "                           make and follow offers to customers\n"
	      "  offers list              the vendor's offers, newest first\n"
	      "  pay OFFER_ID             record a customer's payment for an offer\n"
	      "  review PAYMENT_ID        accept or reject the reasons of a low payment\n"
	      "  payments list            the vendor's payments; --review pending: the\n"
	      "                           review queue\n"
	      "  reputation CUSTOMER      show a customer's fairness reputation\n"
	      "  events [CUSTOMER]        show a customer's history, or the vendor's feed\n"
	      "                           (--follow: as it happens)\n"
	      "  webhook create|list|delete|deliveries\n"
	      "                           signed event deliveries to the vendor's URLs\n"
	      "  reputation verify        recompute every reputation from the database\n"
	      "  simulate                 play customer types through a policy offline\n"
	      "                           (no server; 'fairpayctl simulate --help')\n"
	      "  attestation issue|verify|rotate-key\n"
	      "                           signed reputation attestations (docs/attestations.md)\n"
	      "  issuer-key [VENDOR_ID]   a vendor's public attestation key\n"
	      "\n" CONN_OPTIONS
	      "  -h, --help          show help; after command words, help on that command\n"
	      "  --version           print the version\n"
	      "\n" DB_OPTIONS "\n"
	      "Exit status: 0 ok, 1 refused by the server or the database, 2 usage error,\n"
	      "3 cannot connect.\n" },
	{ "ping", "Usage: fairpayctl ping [OPTIONS]\n"
		  "\n"
		  "Check that fairpayd answers over TLS; print its version, its clock and the\n"
		  "round-trip time. Needs no API key.\n"
		  "\n" CONN_OPTIONS },
	{ "vendor", "Usage: fairpayctl vendor create NAME [OPTIONS]\n"
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
	{ "key", "Usage: fairpayctl key create --role admin|vendor [--vendor ID] [OPTIONS]\n"
		 "       fairpayctl key revoke KEY_ID [OPTIONS]\n"
		 "       fairpayctl key register-cert KEY_ID (CERT.pem | --fingerprint HEX)\n"
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
	{ "key register-cert",
	  "Usage: fairpayctl key register-cert KEY_ID CERT.pem [OPTIONS]\n"
	  "       fairpayctl key register-cert KEY_ID --fingerprint HEX [OPTIONS]\n"
	  "\n"
	  "Register a client certificate for the API key KEY_ID: a server started\n"
	  "with --client-ca then authenticates a connection presenting that\n"
	  "certificate as KEY_ID at the TLS handshake, without Authenticate. The\n"
	  "server stores the SHA-256 of the certificate's DER; fairpayctl computes it\n"
	  "from CERT.pem (the first certificate in the file), or takes it as given.\n"
	  "A key has at most one certificate: registering another replaces it. A\n"
	  "certificate belongs to one key only. Needs an ADMIN key.\n"
	  "\n"
	  "  --fingerprint HEX   the SHA-256 as 64 hex digits (any case, ':' between\n"
	  "                      bytes allowed); --fingerprint '' removes the key's\n"
	  "                      certificate\n" IDEM_OPTION "\n"
	  "Prints 'key_id: ...' and 'cert_sha256: ...' ('-' once removed); with --json\n"
	  "{\"key_id\",\"cert_sha256\"} (\"\" once removed).\n"
	  "\n" CONN_OPTIONS },
	{ "db", "Usage: fairpayctl db migrate [--db CONNINFO] [--migrations DIR]\n"
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
	{ "product", "Usage: fairpayctl product put SKU --name N --currency C --sp N [OPTIONS]\n"
		     "       fairpayctl product get SKU [OPTIONS]\n"
		     "       fairpayctl product list [--limit N] [--page-token T] [OPTIONS]\n"
		     "\n"
		     "Manage the vendor's products (needs a VENDOR key). 'fairpayctl product\n"
		     "COMMAND --help' describes each command.\n" },
	{ "product put",
	  "Usage: fairpayctl product put SKU --name N --currency C --sp N\n"
	  "           [--unit-price N] [--list-price N] [--minimum N] [--min-tier TIER]\n"
	  "           [--period-days N] [--idempotency-key KEY] [OPTIONS]\n"
	  "\n"
	  "Create the product SKU (1-64 bytes of [A-Za-z0-9._-]) or replace it: every\n"
	  "field not given takes its default. Prices are integer minor units (cents).\n"
	  "\n"
	  "  --name N            the product's name, 1-200 bytes of UTF-8\n"
	  "  --currency C        ISO 4217 code, e.g. EUR\n"
	  "  --sp N              suggested price (SP) of one purchase or one period\n"
	  "  --unit-price N      SP per usage unit instead (default 0: flat)\n"
	  "  --list-price N      the conventional set price (default 0)\n"
	  "  --minimum N         minimum price (default 0: none)\n"
	  "  --min-tier TIER     lowest tier offered FairPay terms: FIXED_PRICE,\n"
	  "                      RESTRICTED (default), PROBATION, STANDARD or TRUSTED\n"
	  "  --period-days N     > 0: recurring, one FairPay cycle per period (default "
	  "0)\n" IDEM_OPTION "\n"
	  "Prints the stored product as 'name: value' lines and 'created: yes|no'; with\n"
	  "--json {\"product\":{...},\"created\":BOOL}.\n"
	  "\n" CONN_OPTIONS },
	{ "product get", "Usage: fairpayctl product get SKU [OPTIONS]\n"
			 "\n"
			 "Print the product SKU as 'name: value' lines; with --json\n"
			 "{\"product\":{...}} with the fields of fairpay.v1.Product.\n"
			 "\n" CONN_OPTIONS },
	{ "product list",
	  "Usage: fairpayctl product list [--limit N] [--page-token T] [OPTIONS]\n"
	  "\n"
	  "List the products as a table (SKU, NAME, CURRENCY, SP, UNIT_PRICE,\n"
	  "LIST_PRICE, MINIMUM, MIN_TIER, PERIOD_DAYS, VERSION), one page at a time.\n"
	  "When more pages follow, the token of the next one is printed to stderr.\n"
	  "\n"
	  "  --limit N           products per page, 1-1000 (default: the server's, 100)\n"
	  "  --page-token T      continue where a previous page ended\n"
	  "\n" CONN_OPTIONS },
	{ "policy", "Usage: fairpayctl policy get [OPTIONS]\n"
		    "       fairpayctl policy set KEY=VALUE... [OPTIONS]\n"
		    "       fairpayctl policy simulate KEY=VALUE... [OPTIONS]\n"
		    "\n"
		    "Show or change the vendor's FairPay policy (needs a VENDOR key).\n"
		    "'fairpayctl policy COMMAND --help' describes each command.\n" },
	{ "policy get", "Usage: fairpayctl policy get [OPTIONS]\n"
			"\n"
			"Print the vendor's policy, one 'field: value' line per Policy field (a\n"
			"vendor that never set one has the defaults, version 0); with --json\n"
			"{\"policy\":{...}}.\n"
			"\n" CONN_OPTIONS },
	{ "policy set",
	  "Usage: fairpayctl policy set KEY=VALUE... [--idempotency-key KEY] [OPTIONS]\n"
	  "\n"
	  "Change the given fields of the vendor's policy and keep the others; print\n"
	  "the policy as stored (as 'policy get'). KEY is a Policy field name:\n"
	  "\n"
	  "  enforcement=ENFORCE|VOLUNTARY\n"
	  "  prior_score_bp, alpha_bp, probation_payments, trusted_score_bp,\n"
	  "  fair_score_bp, low_score_bp, generous_bp, max_open_defaults,\n"
	  "  restricted_minimum_bp, excused_floor_bp, late_penalty_bp,\n"
	  "  attestation_cap_bp=N\n"
	  "  probation_credit_minor, standard_credit_minor, trusted_credit_minor,\n"
	  "  offer_ttl_seconds, payment_window_seconds=N\n"
	  "  excusing_reasons=REASON,...  payment reasons (DID_NOT_USE, POOR_QUALITY,\n"
	  "                      NOT_AS_DESCRIBED, TECHNICAL_PROBLEM, CANNOT_AFFORD,\n"
	  "                      GREAT_VALUE, OTHER); 'excusing_reasons=' for none\n"
	  "\n"
	  "Numbers are whole and not negative; the server checks their ranges and\n"
	  "changes nothing when one is out of range.\n" IDEM_OPTION "\n" CONN_OPTIONS },
	{ "policy simulate",
	  "Usage: fairpayctl policy simulate KEY=VALUE... [OPTIONS]\n"
	  "\n"
	  "Replay every customer's recorded history under the vendor's policy with\n"
	  "the given changes (the keys of 'policy set') and change nothing: print how\n"
	  "many customers were replayed and changed tier, the customers per tier now\n"
	  "and under the candidate, and the customers whose score or tier changes\n"
	  "most (at most 100); with --json the SimulatePolicyResponse as an object.\n"
	  "\n" CONN_OPTIONS },
	{ "insights",
	  "Usage: fairpayctl insights [--sku SKU] [--from DATE] [--to DATE] [--svg FILE]\n"
	  "                           [OPTIONS]\n"
	  "\n"
	  "Print the sums of the vendor's cycles whose offer was made in [--from, --to)\n"
	  "(either may be left out: open), for one product or all, per currency:\n"
	  "offers, payments, what was paid against the suggested and the list prices,\n"
	  "the fairness of the payments as a bar chart (1000 bp per bar), the reasons\n"
	  "given and the customers per tier. With --json the GetInsightsResponse as an\n"
	  "object.\n"
	  "\n"
	  "  --sku SKU           one product only\n"
	  "  --from DATE         offers made at or after DATE\n"
	  "  --to DATE           offers made before DATE\n"
	  "  --svg FILE          also write the histogram and the revenue as an SVG chart\n"
	  "\n"
	  "DATE is YYYY-MM-DD (midnight UTC) or RFC 3339, e.g. 2026-01-31T12:00:00Z or\n"
	  "2026-01-31T13:00:00+01:00.\n"
	  "\n" CONN_OPTIONS },
	{ "offer",
	  "Usage: fairpayctl offer create CUSTOMER SKU [--mode MODE] [--sp N] [--minimum N]\n"
	  "       fairpayctl offer accept OFFER_ID\n"
	  "       fairpayctl offer decline OFFER_ID\n"
	  "       fairpayctl offer get OFFER_ID\n"
	  "       fairpayctl offers list [--status S] [--customer C] [--limit N]\n"
	  "\n"
	  "Make offers to customers and follow them (needs a VENDOR key).\n"
	  "'fairpayctl offer COMMAND --help' describes each command.\n" },
	{ "offer create",
	  "Usage: fairpayctl offer create CUSTOMER SKU [--mode MODE] [--sp N] [--minimum N]\n"
	  "           [--attestation TEXT --subject S] [--idempotency-key KEY] [OPTIONS]\n"
	  "\n"
	  "Offer the product SKU to CUSTOMER (1-128 bytes of UTF-8) on the terms the\n"
	  "policy and the customer's reputation give, and print the offer. The\n"
	  "options override those terms (recorded with reason VENDOR_OVERRIDE):\n"
	  "\n"
	  "  --mode MODE         FAIRPAY, FAIRPAY_MINIMUM or SET_PRICE\n"
	  "  --sp N              suggested price in minor units\n"
	  "  --minimum N         minimum price in minor units\n"
	  "  --attestation TEXT  another vendor's attestation (base64url) that may seed\n"
	  "                      a new customer's reputation (rule 14)\n"
	  "  --subject S         the subject the customer proved, as the attestation\n"
	  "                      must name it\n" IDEM_OPTION "\n" OFFER_OUTPUT "\n" CONN_OPTIONS },
	{ "offer accept",
	  "Usage: fairpayctl offer accept OFFER_ID [--idempotency-key KEY] [OPTIONS]\n"
	  "\n"
	  "Accept an OPEN offer for the customer: the payment window starts (pay_by)\n"
	  "and a FairPay offer takes its SP from the customer's FairPay credit.\n" IDEM_OPTION
	  "\n" OFFER_OUTPUT "\n" CONN_OPTIONS },
	{ "offer decline",
	  "Usage: fairpayctl offer decline OFFER_ID [--idempotency-key KEY] [OPTIONS]\n"
	  "\n"
	  "Decline an OPEN offer for the customer.\n" IDEM_OPTION "\n" OFFER_OUTPUT
	  "\n" CONN_OPTIONS },
	{ "offer get", "Usage: fairpayctl offer get OFFER_ID [OPTIONS]\n"
		       "\n"
		       "Print an offer.\n"
		       "\n" OFFER_OUTPUT "\n" CONN_OPTIONS },
	{ "pay", "Usage: fairpayctl pay OFFER_ID (--amount N | --differential BP) [--usage N]\n"
		 "           [--reason R]... [--note TEXT] [--idempotency-key KEY] [OPTIONS]\n"
		 "\n"
		 "Record what the customer paid for an offer (ACCEPTED; a SET_PRICE offer\n"
		 "also while OPEN; a DEFAULTED one as a late payment). Needs a VENDOR key.\n"
		 "\n"
		 "  --amount N          the amount paid, in minor units\n"
		 "  --differential BP   or the amount relative to the SP, in basis points:\n"
		 "                      -2000 = 20% below, 1000 = 10% above (at least -10000)\n"
		 "  --usage N           usage units, for a product priced per unit\n"
		 "  --reason R          why the customer paid what they paid; repeat it or\n"
		 "                      give a comma list: DID_NOT_USE, POOR_QUALITY,\n"
		 "                      NOT_AS_DESCRIBED, TECHNICAL_PROBLEM, CANNOT_AFFORD,\n"
		 "                      GREAT_VALUE, OTHER (any case)\n"
		 "  --note TEXT         the customer's words, up to 1000 bytes\n" IDEM_OPTION "\n"
		 "Prints the payment (amount, SP, fairness, raw fairness, verdict, review,\n"
		 "late), the customer's updated reputation and, for a recurring product, the\n"
		 "next cycle's offer, each under its own heading; with --json\n"
		 "{\"payment\":{...},\"reputation\":{...},\"next_offer\":{...}|null,\n"
		 "\"replayed\":BOOL}.\n"
		 "\n" CONN_OPTIONS },
	{ "review", "Usage: fairpayctl review PAYMENT_ID (--accept | --reject) [--note TEXT]\n"
		    "           [--idempotency-key KEY] [OPTIONS]\n"
		    "\n"
		    "Decide on a payment whose reasons excused a low amount (review PENDING):\n"
		    "--accept counts it as at least fair, --reject at its raw fairness. The\n"
		    "customer's score is recomputed. Needs a VENDOR key.\n"
		    "\n"
		    "  --accept            accept the customer's reasons\n"
		    "  --reject            reject them\n"
		    "  --note TEXT         the reviewer's note, up to 1000 bytes\n" IDEM_OPTION "\n"
		    "Prints the payment and the updated reputation; with --json\n"
		    "{\"payment\":{...},\"reputation\":{...},\"replayed\":BOOL}.\n"
		    "\n" CONN_OPTIONS },
	{ "reputation",
	  "Usage: fairpayctl reputation CUSTOMER [OPTIONS]\n"
	  "       fairpayctl reputation verify [--db CONNINFO] [--vendor ID]\n"
	  "\n"
	  "Print a customer's fairness reputation (needs a VENDOR key): score, tier,\n"
	  "payments, defaults (all and still open), FairPay credit limit and use,\n"
	  "totals, and the explanation written for the customer. A customer the\n"
	  "vendor has never seen has the prior reputation. With --json\n"
	  "{\"reputation\":{...}} with the fields of fairpay.v1.Reputation.\n"
	  "\n"
	  "'reputation verify' checks every stored reputation against the history\n"
	  "(see 'fairpayctl reputation verify --help'). A customer whose id is\n"
	  "'verify' is shown with 'fairpayctl reputation -- verify'.\n"
	  "\n" CONN_OPTIONS },
	{ "reputation verify",
	  "Usage: fairpayctl reputation verify [--db CONNINFO] [--vendor ID] [--json]\n"
	  "\n"
	  "Recompute every stored reputation (of one vendor, or of all) from the\n"
	  "payment, offer and event history, directly in the database and\n"
	  "independently of fairpayd, with the FairPay rules built into fairpayctl:\n"
	  "the score replayed over the closed cycles in time order with the vendor's\n"
	  "policy, payments, defaults, open defaults, accepted offers, totals and\n"
	  "credit in use. Reads one consistent snapshot.\n"
	  "\n"
	  "Prints one line per difference, 'VENDOR CUSTOMER FIELD: stored X,\n"
	  "recomputed Y', one per customer with a history but no reputation row, and\n"
	  "a summary line. With --json {\"checked\":N,\"differences\":[...],\n"
	  "\"missing\":[...]}.\n"
	  "\n"
	  "  --vendor ID         check one vendor only (v_...)\n"
	  "\n" DB_ONLY_OPTIONS "\n"
	  "Exit status: 0 no difference, 1 differences (or a query failed), 3 the\n"
	  "database cannot be reached.\n" },
	{ "offers", "Usage: fairpayctl offers list [--status S] [--customer C] [--limit N]\n"
		    "           [--page-token T] [OPTIONS]\n"
		    "\n"
		    "'fairpayctl offers list --help' describes the command.\n" },
	{ "offers list",
	  "Usage: fairpayctl offers list [--status S] [--customer C] [--limit N]\n"
	  "           [--page-token T] [OPTIONS]\n"
	  "\n"
	  "List the vendor's offers, newest first, as a table (OFFER, CUSTOMER, SKU,\n"
	  "STATUS, MODE, SP, CURRENCY, TIER, CREATED), one page at a time. Needs a\n"
	  "VENDOR key. When more pages follow, the token of the next one is printed to\n"
	  "stderr. With --json {\"offers\":[...],\"next_page_token\":T} on one line.\n"
	  "'fairpayctl offer list' is the same command.\n"
	  "\n"
	  "  --status S          only offers in this state: OPEN, ACCEPTED, PAID,\n"
	  "                      DECLINED, EXPIRED or DEFAULTED\n"
	  "  --customer C        only this customer's offers\n"
	  "  --limit N           offers per page, 1-1000 (default: the server's, 100)\n"
	  "  --page-token T      continue where a previous page ended (with the same\n"
	  "                      filters)\n"
	  "\n" CONN_OPTIONS },
	{ "payments", "Usage: fairpayctl payments list [--review R] [--customer C] [--limit N]\n"
		      "           [--page-token T] [OPTIONS]\n"
		      "\n"
		      "'fairpayctl payments list --help' describes the command.\n" },
	{ "payments list",
	  "Usage: fairpayctl payments list [--review R] [--customer C] [--limit N]\n"
	  "           [--page-token T] [OPTIONS]\n"
	  "\n"
	  "List the vendor's payments, newest first, as a table (PAYMENT, OFFER,\n"
	  "CUSTOMER, AMOUNT, SP, CURRENCY, FAIRNESS, VERDICT, REVIEW, LATE, CREATED),\n"
	  "one page at a time; '--review pending' is the review queue (payments whose\n"
	  "reasons excused them until 'fairpayctl review'). Needs a VENDOR key. When\n"
	  "more pages follow, the token of the next one is printed to stderr. With\n"
	  "--json {\"payments\":[...],\"next_page_token\":T} on one line.\n"
	  "\n"
	  "  --review R          only payments whose review is pending, accepted,\n"
	  "                      rejected or none (not needed)\n"
	  "  --customer C        only this customer's payments\n"
	  "  --limit N           payments per page, 1-1000 (default: the server's, 100)\n"
	  "  --page-token T      continue where a previous page ended (with the same\n"
	  "                      filters)\n"
	  "\n" CONN_OPTIONS },
	{ "events", "Usage: fairpayctl events [CUSTOMER] [--after ID] [--limit N] [OPTIONS]\n"
		    "       fairpayctl events --follow [--after ID] [--kinds K,...] [OPTIONS]\n"
		    "\n"
		    "List a customer's events, or without CUSTOMER the vendor's event feed,\n"
		    "oldest first, as a table (ID, AT, KIND, CUSTOMER, OFFER, PAYMENT, DETAIL).\n"
		    "Needs a VENDOR key. When more follow, the --after value of the next page\n"
		    "is printed to stderr. With --json {\"events\":[...],\"next_after_id\":N}.\n"
		    "\n"
		    "  --after ID          only events after this id (default 0: from the start)\n"
		    "  --limit N           events per page, 1-1000 (default: the server's, 100)\n"
		    "  --kinds K,...       the feed: only these kinds (e.g. payment_received)\n"
		    "  --follow            the feed: wait for new events and print each as it\n"
		    "                      commits, until interrupted; with --json one object\n"
		    "                      per line\n"
		    "\n" CONN_OPTIONS },
	{ "webhook", WEBHOOK_USAGE },
	{ "webhook create", WEBHOOK_USAGE },
	{ "webhook list", WEBHOOK_USAGE },
	{ "webhook delete", WEBHOOK_USAGE },
	{ "webhook deliveries", WEBHOOK_USAGE },
	{ "attestation", ATTEST_USAGE },
	{ "attestation issue", ATTEST_USAGE },
	{ "attestation verify", ATTEST_USAGE },
	{ "attestation rotate-key", ATTEST_USAGE },
	{ "issuer-key", ATTEST_USAGE },
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
	for (size_t i = 0; i < N_CMDS; i++)
		if (cmd_defs[i].cmd == cmd)
			return cmd_defs[i].remote;
	return false;
}

/* Read exactly n digits at *s into *v and move past them. */
static int digits(const char **s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*s)[i];
		if (c < '0' || c > '9')
			return -1;
		*v = *v * 10 + (c - '0');
	}
	*s += n;
	return 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (no
 * timegm: the parser stays free of the C library's time zone state). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int ctl_args_parse_date(const char *s, int64_t *unix_ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, offset_min = 0;
	if (digits(&s, 4, &y) != 0 || *s++ != '-' || digits(&s, 2, &mo) != 0 || *s++ != '-' ||
	    digits(&s, 2, &d) != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
		return -1;
	if (*s != '\0') {
		if (*s != 'T' && *s != 't')
			return -1;
		s++;
		if (digits(&s, 2, &h) != 0 || *s++ != ':' || digits(&s, 2, &mi) != 0 ||
		    *s++ != ':' || digits(&s, 2, &sec) != 0)
			return -1;
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (*s == '.') {
			s++;
			int n = 0;
			while (*s >= '0' && *s <= '9') {
				if (n < 3)
					ms = ms * 10 + (*s - '0');
				n++;
				s++;
			}
			if (n == 0)
				return -1;
			for (; n < 3; n++)
				ms *= 10;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int sign = *s++ == '-' ? -1 : 1, oh, om;
			if (digits(&s, 2, &oh) != 0 || *s++ != ':' || digits(&s, 2, &om) != 0 ||
			    oh > 23 || om > 59)
				return -1;
			offset_min = sign * (oh * 60 + om);
		} else {
			return -1;
		}
		if (*s != '\0')
			return -1;
	}
	int64_t t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - offset_min) * 60 + sec;
	t = t * 1000 + ms;
	/* 0 means open on the wire, so the epoch itself cannot be asked for. */
	if (t <= 0)
		return -1;
	*unix_ms = t;
	return 0;
}

/* Return the Policy field name of a policy key. */
const char *ctl_args_policy_key(ctl_policy_key k)
{
	return (unsigned)k < CTL_POLICY_KEY_COUNT ? policy_keys[k] : "";
}

/* ---------------------------------------------------------------- parsing */

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

/* Parse a decimal integer in [min, max]: an optional '-', then digits only
 * (no '+', no spaces); -1 if s is anything else. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	const char *digits = s != NULL && s[0] == '-' ? s + 1 : s;
	if (digits == NULL || digits[0] < '0' || digits[0] > '9')
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parse the value of an integer option into *o, or explain what it needs. */
static int opt_int(const char *const val[OPT_COUNT], opt_id id, int64_t min, int64_t max,
		   ctl_opt_int *o, char *err, size_t err_size)
{
	if (val[id] == NULL)
		return 0;
	if (parse_int(val[id], min, max, &o->v) != 0) {
		if (max == INT64_MAX)
			err_fmt(err, err_size,
				"--%s needs a whole number of at least %" PRId64 ", not '%s'",
				opt_defs[id].name, min, val[id]);
		else
			err_fmt(err, err_size,
				"--%s needs a whole number between %" PRId64 " and %" PRId64
				", not '%s'",
				opt_defs[id].name, min, max, val[id]);
		return -1;
	}
	o->set = true;
	return 0;
}

/* Parse the value of an enum option into *o, or list the names it takes. */
static int opt_enum(const char *const val[OPT_COUNT], opt_id id, const ctl_enum *e, ctl_opt_int *o,
		    char *err, size_t err_size)
{
	char names[256];
	int v = 0;
	if (val[id] == NULL)
		return 0;
	if (ctl_enum_parse(e, val[id], &v) != 0) {
		ctl_enum_list(e, ", ", names, sizeof(names));
		err_fmt(err, err_size, "--%s must be one of %s, not '%s'", opt_defs[id].name, names,
			val[id]);
		return -1;
	}
	o->set = true;
	o->v = v;
	return 0;
}

/* Parse a --ttl: seconds, or a number with s, m, h or d, within the range
 * IssueAttestation takes. */
static int parse_ttl(const char *s, ctl_opt_int *o)
{
	static const struct {
		char suffix;
		int64_t seconds;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	char num[24];
	size_t len = strlen(s);
	int64_t unit = 1, v = 0;
	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (num[len - 1] == units[i].suffix) {
			unit = units[i].seconds;
			num[len - 1] = '\0';
		}
	if (parse_int(num, 1, LIMIT_ATTESTATION_TTL_MAX, &v) != 0 ||
	    v * unit < LIMIT_ATTESTATION_TTL_MIN || v * unit > LIMIT_ATTESTATION_TTL_MAX)
		return -1;
	o->set = true;
	o->v = v * unit;
	return 0;
}

/* Parse `policy set`'s KEY=VALUE words into out->policy. */
static int parse_policy(const char *const *words, int n, ctl_args *out, char *err, size_t err_size)
{
	ctl_policy_edit *pe = &out->policy;
	for (int i = 0; i < n; i++) {
		const char *w = words[i];
		const char *eq = strchr(w, '=');
		size_t klen = eq != NULL ? (size_t)(eq - w) : strlen(w);
		int key = -1;
		for (int k = 0; k < CTL_POLICY_KEY_COUNT && key < 0; k++)
			if (strlen(policy_keys[k]) == klen &&
			    strncasecmp(policy_keys[k], w, klen) == 0)
				key = k;
		if (key < 0) {
			err_fmt(err, err_size, "unknown policy key '%.*s'", (int)klen, w);
			return -1;
		}
		const char *name = policy_keys[key];
		if (eq == NULL) {
			err_fmt(err, err_size, "policy key '%s' needs a value: %s=VALUE", name,
				name);
			return -1;
		}
		if (pe->set[key]) {
			err_fmt(err, err_size, "policy key '%s' is given twice", name);
			return -1;
		}
		const char *v = eq + 1;
		char names[256];
		char bad[64];
		int ev = 0;
		switch ((ctl_policy_key)key) {
		case CTL_POLICY_ENFORCEMENT:
			if (ctl_enum_parse(&ctl_enum_enforcement, v, &ev) != 0) {
				err_fmt(err, err_size,
					"policy key 'enforcement' must be ENFORCE or VOLUNTARY, "
					"not '%s'",
					v);
				return -1;
			}
			pe->value[key] = ev;
			break;
		case CTL_POLICY_EXCUSING_REASONS:
			pe->n_reasons = 0;
			if (ctl_enum_parse_list(&ctl_enum_payment_reason, v, pe->reasons,
						CTL_MAX_REASONS, &pe->n_reasons, bad,
						sizeof(bad)) != 0) {
				ctl_enum_list(&ctl_enum_payment_reason, ", ", names, sizeof(names));
				err_fmt(err, err_size,
					"policy key 'excusing_reasons' takes a comma list of %s, "
					"not '%s'",
					names, bad);
				return -1;
			}
			break;
#define I64_CASE_ENFORCEMENT(f, F)
#define I64_CASE_I32(f, F)
#define I64_CASE_I64(f, F) case CTL_POLICY_##F:
#define I64_CASE_REASONS(f, F)
#define I64_CASE(f, F, KIND) I64_CASE_##KIND(f, F)
			FP_POLICY_FIELDS(I64_CASE)
			if (parse_int(v, 0, INT64_MAX, &pe->value[key]) != 0) {
				err_fmt(err, err_size,
					"policy key '%s' needs a whole number of at "
					"least 0, not '%s'",
					name, v);
				return -1;
			}
			break;
		default:
			if (parse_int(v, 0, INT32_MAX, &pe->value[key]) != 0) {
				err_fmt(err, err_size,
					"policy key '%s' needs a whole number between 0 and %d, "
					"not '%s'",
					name, INT32_MAX, v);
				return -1;
			}
			break;
		}
		pe->set[key] = true;
	}
	return 0;
}

/* Parse policy KEY=VALUE words into pe. */
int ctl_args_parse_policy(const char *const *words, int n, ctl_policy_edit *pe, char *err,
			  size_t err_size)
{
	static const ctl_args empty;
	ctl_args tmp = empty;
	if (parse_policy(words, n, &tmp, err, err_size) != 0)
		return -1;
	*pe = tmp.policy;
	return 0;
}

static const cmd_def *cmd_find(const char *group, const char *verb)
{
	for (size_t i = 0; i < N_CMDS; i++) {
		if (strcmp(cmd_defs[i].group, group) != 0)
			continue;
		if (verb == NULL ||
		    (cmd_defs[i].verb != NULL && strcmp(cmd_defs[i].verb, verb) == 0))
			return &cmd_defs[i];
	}
	return NULL;
}

/* Fill the values of out from the options, the environment and defaults, and
 * check what depends on the command. */
static ctl_parse_result fill(const cmd_def *def, const char *const val[OPT_COUNT],
			     const bool seen[OPT_COUNT], const char *const *reason_opts,
			     int n_reason_opts, const char *const *args, int nargs,
			     const ctl_env *env, ctl_args *out, char *err, size_t err_size)
{
	unsigned long n = 0;

	out->cmd = def->cmd;
	out->server = nonempty(val[OPT_SERVER]);
	if (out->server == NULL)
		out->server = nonempty(env->server);
	if (out->server == NULL)
		out->server = CTL_DEFAULT_SERVER;
	out->ca = nonempty(val[OPT_CA]) != NULL ? val[OPT_CA] : nonempty(env->ca);
	out->api_key =
		nonempty(val[OPT_API_KEY]) != NULL ? val[OPT_API_KEY] : nonempty(env->api_key);
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
		if (parse_uint(val[OPT_LIMIT], 1, LIMIT_LIST_MAX, &n) != 0) {
			err_fmt(err, err_size, "--limit needs a number between 1 and %d",
				LIMIT_LIST_MAX);
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

	out->idempotency_key = val[OPT_IDEMPOTENCY_KEY];
	if (out->idempotency_key != NULL && out->idempotency_key[0] == '\0') {
		err_fmt(err, err_size, "--idempotency-key needs a key of 1-255 bytes");
		return CTL_PARSE_USAGE;
	}
	out->currency = val[OPT_CURRENCY];
	out->note = val[OPT_NOTE];
	if (opt_int(val, OPT_SP, 0, INT64_MAX, &out->sp, err, err_size) != 0 ||
	    opt_int(val, OPT_UNIT_PRICE, 0, INT64_MAX, &out->unit_price, err, err_size) != 0 ||
	    opt_int(val, OPT_LIST_PRICE, 0, INT64_MAX, &out->list_price, err, err_size) != 0 ||
	    opt_int(val, OPT_MINIMUM, 0, INT64_MAX, &out->minimum, err, err_size) != 0 ||
	    opt_int(val, OPT_PERIOD_DAYS, 0, INT32_MAX, &out->period_days, err, err_size) != 0 ||
	    opt_int(val, OPT_AMOUNT, 0, INT64_MAX, &out->amount, err, err_size) != 0 ||
	    opt_int(val, OPT_DIFFERENTIAL, -10000, INT32_MAX, &out->differential, err, err_size) !=
		    0 ||
	    opt_int(val, OPT_USAGE, 0, INT64_MAX, &out->usage, err, err_size) != 0 ||
	    opt_enum(val, OPT_MIN_TIER, &ctl_enum_tier, &out->min_tier, err, err_size) != 0 ||
	    opt_enum(val, OPT_MODE, &ctl_enum_offer_mode, &out->mode, err, err_size) != 0)
		return CTL_PARSE_USAGE;
	if (opt_enum(val, OPT_STATUS, &ctl_enum_offer_status, &out->state, err, err_size) != 0)
		return CTL_PARSE_USAGE;
	if (val[OPT_REVIEW] != NULL) {
		int v = 0;
		if (strcasecmp(val[OPT_REVIEW], "none") == 0) {
			v = FAIRPAY__V1__REVIEW__REVIEW_NOT_NEEDED;
		} else if (ctl_enum_parse(&ctl_enum_review, val[OPT_REVIEW], &v) != 0) {
			err_fmt(err, err_size,
				"--review must be pending, accepted, rejected or none, not '%s'",
				val[OPT_REVIEW]);
			return CTL_PARSE_USAGE;
		}
		out->state.set = true;
		out->state.v = v;
	}
	if (val[OPT_CUSTOMER] != NULL)
		out->customer_id = val[OPT_CUSTOMER];
	if (val[OPT_AFTER] != NULL) {
		char *end = NULL;
		errno = 0;
		unsigned long long after = strtoull(val[OPT_AFTER], &end, 10);
		if (val[OPT_AFTER][0] < '0' || val[OPT_AFTER][0] > '9' || errno != 0 ||
		    *end != '\0') {
			err_fmt(err, err_size,
				"--after needs an event id (a whole number), not '%s'",
				val[OPT_AFTER]);
			return CTL_PARSE_USAGE;
		}
		out->after_id = (uint64_t)after;
	}
	out->follow = seen[OPT_FOLLOW];
	if (val[OPT_KINDS] != NULL) {
		char names[512];
		char bad[64];
		if (ctl_enum_parse_list(&ctl_enum_event_kind, val[OPT_KINDS], out->kinds,
					CTL_MAX_KINDS, &out->n_kinds, bad, sizeof(bad)) != 0) {
			ctl_enum_list(&ctl_enum_event_kind, ", ", names, sizeof(names));
			err_fmt(err, err_size, "--kinds must list %s, not '%s'", names, bad);
			return CTL_PARSE_USAGE;
		}
	}
	for (int i = 0; i < n_reason_opts; i++) {
		char names[256];
		char bad[64];
		if (ctl_enum_parse_list(&ctl_enum_payment_reason, reason_opts[i], out->reasons,
					CTL_MAX_REASONS, &out->n_reasons, bad, sizeof(bad)) != 0) {
			ctl_enum_list(&ctl_enum_payment_reason, ", ", names, sizeof(names));
			err_fmt(err, err_size, "--reason must be one of %s, not '%s'", names, bad);
			return CTL_PARSE_USAGE;
		}
	}
	if (seen[OPT_ACCEPT] && seen[OPT_REJECT]) {
		err_fmt(err, err_size, "give --accept or --reject, not both");
		return CTL_PARSE_USAGE;
	}
	out->accept = seen[OPT_ACCEPT];
	out->subject = val[OPT_SUBJECT];
	out->out_file = nonempty(val[OPT_OUT]);
	out->attestation = val[OPT_ATTESTATION];
	out->attestation_file = nonempty(val[OPT_FILE]);
	out->public_key = val[OPT_PUBLIC_KEY];
	if (val[OPT_TTL] != NULL && parse_ttl(val[OPT_TTL], &out->ttl) != 0) {
		err_fmt(err, err_size,
			"--ttl needs %d to %d seconds, or a number with s, m, h or d, not '%s'",
			LIMIT_ATTESTATION_TTL_MIN, LIMIT_ATTESTATION_TTL_MAX, val[OPT_TTL]);
		return CTL_PARSE_USAGE;
	}

	switch (def->cmd) {
	case CTL_CMD_VENDOR_CREATE:
		out->name = args[0];
		break;
	case CTL_CMD_PRODUCT_PUT:
		out->sku = args[0];
		out->name = val[OPT_NAME];
		if (out->name == NULL || out->currency == NULL || !out->sp.set) {
			err_fmt(err, err_size, "'product put' needs %s%s%s",
				out->name == NULL ? "--name N " : "",
				out->currency == NULL ? "--currency C " : "",
				!out->sp.set ? "--sp N" : "");
			return CTL_PARSE_USAGE;
		}
		break;
	case CTL_CMD_PRODUCT_GET:
		out->sku = args[0];
		break;
	case CTL_CMD_POLICY_SET:
	case CTL_CMD_POLICY_SIMULATE:
		if (parse_policy(args, nargs, out, err, err_size) != 0)
			return CTL_PARSE_USAGE;
		break;
	case CTL_CMD_INSIGHTS:
		out->sku = val[OPT_SKU];
		out->svg = nonempty(val[OPT_SVG]);
		if (seen[OPT_SVG] && out->svg == NULL) {
			err_fmt(err, err_size, "--svg needs a file name");
			return CTL_PARSE_USAGE;
		}
		if ((val[OPT_FROM] != NULL &&
		     ctl_args_parse_date(val[OPT_FROM], &out->from_ms) != 0) ||
		    (val[OPT_TO] != NULL && ctl_args_parse_date(val[OPT_TO], &out->to_ms) != 0)) {
			err_fmt(err, err_size,
				"--from and --to need YYYY-MM-DD or an RFC 3339 time after 1970");
			return CTL_PARSE_USAGE;
		}
		if (out->to_ms != 0 && out->to_ms < out->from_ms) {
			err_fmt(err, err_size, "--to is before --from");
			return CTL_PARSE_USAGE;
		}
		break;
	case CTL_CMD_OFFER_CREATE:
		out->customer_id = args[0];
		out->sku = args[1];
		break;
	case CTL_CMD_OFFER_ACCEPT:
	case CTL_CMD_OFFER_DECLINE:
	case CTL_CMD_OFFER_GET:
		out->offer_id = args[0];
		break;
	case CTL_CMD_PAY:
		out->offer_id = args[0];
		if (out->amount.set == out->differential.set) {
			err_fmt(err, err_size, "%s",
				out->amount.set ? "give --amount or --differential, not both"
						: "'pay' needs --amount N or --differential BP");
			return CTL_PARSE_USAGE;
		}
		break;
	case CTL_CMD_REVIEW:
		out->payment_id = args[0];
		if (!seen[OPT_ACCEPT] && !seen[OPT_REJECT]) {
			err_fmt(err, err_size, "'review' needs --accept or --reject");
			return CTL_PARSE_USAGE;
		}
		break;
	case CTL_CMD_REPUTATION:
		out->customer_id = args[0];
		break;
	case CTL_CMD_EVENTS:
		out->customer_id = nargs > 0 ? args[0] : NULL;
		if (out->customer_id != NULL && (seen[OPT_FOLLOW] || seen[OPT_KINDS])) {
			err_fmt(err, err_size,
				"--follow and --kinds read the vendor's feed: leave out CUSTOMER");
			return CTL_PARSE_USAGE;
		}
		break;
	case CTL_CMD_KEY_REVOKE:
		out->key_id = args[0];
		break;
	case CTL_CMD_WEBHOOK_CREATE:
		out->url = args[0];
		break;
	case CTL_CMD_ATTEST_ISSUE:
		out->customer_id = args[0];
		if (nonempty(out->subject) == NULL) {
			err_fmt(err, err_size, "'attestation issue' needs --subject S");
			return CTL_PARSE_USAGE;
		}
		break;
	case CTL_CMD_ATTEST_VERIFY:
		out->attestation = nargs > 0 ? args[0] : NULL;
		if ((out->attestation != NULL) == (out->attestation_file != NULL)) {
			err_fmt(err, err_size, "%s",
				out->attestation != NULL
					? "give TEXT or --file F, not both"
					: "'attestation verify' needs TEXT or --file F");
			return CTL_PARSE_USAGE;
		}
		if (seen[OPT_OFFLINE] != (out->public_key != NULL)) {
			err_fmt(err, err_size, "%s",
				seen[OPT_OFFLINE] ? "--offline needs --public-key HEX"
						  : "--public-key goes with --offline");
			return CTL_PARSE_USAGE;
		}
		if (seen[OPT_OFFLINE])
			out->cmd = CTL_CMD_ATTEST_VERIFY_OFFLINE;
		break;
	case CTL_CMD_ATTEST_ROTATE_KEY:
		out->vendor_id = args[0];
		break;
	case CTL_CMD_ISSUER_KEY:
		out->vendor_id = nargs > 0 ? args[0] : NULL;
		break;
	case CTL_CMD_WEBHOOK_DELETE:
	case CTL_CMD_WEBHOOK_DELIVERIES:
		out->endpoint_id = args[0];
		break;
	case CTL_CMD_KEY_REGISTER_CERT:
		out->key_id = args[0];
		out->cert_pem = nargs > 1 ? args[1] : NULL;
		out->has_fingerprint = val[OPT_FINGERPRINT] != NULL;
		if (nargs > 2) {
			err_fmt(err, err_size, "unexpected argument '%s'", args[2]);
			return CTL_PARSE_USAGE;
		}
		if (out->has_fingerprint == (out->cert_pem != NULL)) {
			err_fmt(err, err_size, "%s",
				out->has_fingerprint
					? "give CERT.pem or --fingerprint HEX, not both"
					: "'key register-cert' needs CERT.pem or "
					  "--fingerprint HEX");
			return CTL_PARSE_USAGE;
		}
		if (out->has_fingerprint &&
		    ctl_cert_parse_hex(val[OPT_FINGERPRINT], out->fingerprint) != 0) {
			err_fmt(err, err_size,
				"--fingerprint needs the SHA-256 as 64 hex digits (or '' to "
				"remove), not '%s'",
				val[OPT_FINGERPRINT]);
			return CTL_PARSE_USAGE;
		}
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

	if (def->remote && out->cmd != CTL_CMD_ATTEST_VERIFY_OFFLINE) {
		if (out->ca == NULL) {
			err_fmt(err, err_size,
				"no CA file to verify the server: give --ca FILE or set "
				"FAIRPAY_CA");
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
ctl_parse_result ctl_args_parse(int argc, char *const argv[], const ctl_env *env, ctl_args *out,
				char *err, size_t err_size)
{
	static const ctl_env no_env = { NULL, NULL, NULL, NULL };
	const char *val[OPT_COUNT] = { NULL };
	bool seen[OPT_COUNT] = { false };
	const char *words[CTL_MAX_WORDS];
	int nwords = 0;
	const char *reason_opts[CTL_MAX_REASON_OPTS];
	int n_reason_opts = 0;
	int first_literal = CTL_MAX_WORDS + 1; /* index of the first word after "--" */
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
			first_literal = nwords;
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
		if (id == OPT_REASON) {
			if (n_reason_opts == CTL_MAX_REASON_OPTS) {
				if (!failed)
					err_fmt(err, err_size, "too many --reason options");
				failed = true;
				continue;
			}
			reason_opts[n_reason_opts++] = val[id];
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
	if (def->verb == NULL && nwords >= 2 && first_literal > 1) {
		/* "reputation verify" beside "reputation CUSTOMER"; after "--"
		 * the word is an argument ("reputation -- verify"). */
		const cmd_def *sub = cmd_find(words[0], words[1]);
		if (sub != NULL && sub->verb != NULL) {
			def = sub;
			used = 2;
		}
	}
	if (def->verb != NULL && used == 1) {
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
			err_fmt(err, err_size, "option --%s does not apply to '%s'",
				opt_defs[id].name, def->topic);
			return CTL_PARSE_USAGE;
		}
	}
	int nargs = nwords - used;
	int need = def->nargs == NARGS_SOME ? 1 : def->nargs == NARGS_OPTIONAL ? 0 : def->nargs;
	int most = def->nargs == NARGS_OPTIONAL ? 1 : def->nargs;
	if (nargs < need) {
		err_fmt(err, err_size, "'%s' needs %s", def->topic, def->argname);
		return CTL_PARSE_USAGE;
	}
	if (def->nargs != NARGS_SOME && nargs > most) {
		err_fmt(err, err_size, "unexpected argument '%s'", words[used + most]);
		return CTL_PARSE_USAGE;
	}
	return fill(def, val, seen, reason_opts, n_reason_opts, words + used, nargs, env, out, err,
		    err_size);
}
