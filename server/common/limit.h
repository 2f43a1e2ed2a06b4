/* LIMIT_: every bound on what a request may carry, written once.
 *
 * The server's validation, its row buffers, fairpayctl's argument checks
 * and docs/protocol-notes.md ("Limits on request fields") all take them
 * from here; the schema's CHECK constraints are the database's last line
 * behind them. Money is capped so that any product of an amount and a
 * basis-point factor fits in int64. */
#ifndef FP_LIMIT_H
#define FP_LIMIT_H

#include <stdint.h>

#define LIMIT_MONEY_MAX INT64_C(1000000000000000) /* any amount, minor units (10^15) */
#define LIMIT_NAME_BYTES 200                      /* a vendor's or a product's name */
#define LIMIT_CUSTOMER_BYTES 128                  /* customer_id */
#define LIMIT_SKU_BYTES 64                        /* sku */
#define LIMIT_NOTE_BYTES 1000                     /* a payment's or a review's note */
#define LIMIT_IDEMPOTENCY_KEY_BYTES 255           /* Request.idempotency_key */
#define LIMIT_TEXT_BYTES 256                      /* any other request string: ids, keys, tokens */
#define LIMIT_LIST_DEFAULT 100                    /* a List call's page when limit is 0 */
#define LIMIT_LIST_MAX 1000                       /* the largest page */
#define LIMIT_DIFFERENTIAL_BP_MIN (-10000)        /* rule 2: paying nothing */
#define LIMIT_DIFFERENTIAL_BP_MAX 1000000         /* 100 times the SP */
#define LIMIT_USAGE_UNITS_MAX 1000000000          /* SubmitPayment.usage_units */
#define LIMIT_PERIOD_DAYS_MAX 3660                /* a recurring product's period */
#define LIMIT_FEED_WAIT_MS 30000                  /* ListEvents.wait_ms */
#define LIMIT_URL_BYTES 2048                      /* a webhook endpoint's url */
#define LIMIT_WEBHOOK_ENDPOINTS 16                /* webhook endpoints of one vendor */
#define LIMIT_SUBJECT_BYTES 256                   /* AttestationClaims.subject */
#define LIMIT_ATTESTATION_TTL_MIN 60              /* IssueAttestation.ttl_seconds */
#define LIMIT_ATTESTATION_TTL_MAX 31536000        /* one year */
#define LIMIT_ATTESTATION_TTL_DEFAULT 2592000     /* ttl_seconds 0: 30 days */
#define LIMIT_ATTESTATION_BYTES 2048              /* a SignedAttestation in a request */

/* What a call in flight may add to its connection's memory, reserved
 * against --max-output-bytes before its frame is taken (see conn_reserve):
 * its request and state, and its reply. A List call reserves per row asked
 * for, up to LIMIT_LIST_REPLY_BYTES, and ends its page early (with a page
 * token) rather than pass what it reserved. */
#define LIMIT_CALL_BYTES 4096              /* a call's state and its reply, List rows aside */
#define LIMIT_LIST_ROW_BYTES 2048          /* reserved per row a List call asks for */
#define LIMIT_LIST_REPLY_BYTES (256 << 10) /* the largest List reply */

#endif
