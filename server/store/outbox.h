/* outbox_: webhook endpoints, the outbox of deliveries and the delivery
 * log: their SQL, column layout and row conversion.
 *
 * The outbox is filled by the statements that append events
 * (OUTBOX_QUEUE_CTE, used by store.c), in the same statement and so in the
 * same transaction: an event is queued exactly when it commits. The
 * delivery job (jobs/deliver.c) claims due rows (outbox_sql_claim) with
 * FOR UPDATE SKIP LOCKED and a lease, then records each attempt in the log
 * and moves or removes its row with one statement (outbox_sql_record). */
#ifndef FP_OUTBOX_H
#define FP_OUTBOX_H

#include <stdint.h>

#include <libpq-fe.h>

/* A WITH item that queues, for each event the WITH item `ev` inserted
 * (RETURNING vendor_id, id, kind), one outbox row per endpoint of the
 * event's vendor that takes its kind. No endpoint: one index probe of an
 * empty range. */
#define OUTBOX_QUEUE_CTE(ev)                                                        \
	" outbox AS (INSERT INTO webhook_outbox (vendor_id, endpoint_id, event_id)" \
	"  SELECT e.vendor_id, w.id, e.id FROM " ev " e JOIN webhook_endpoints w"   \
	"  ON w.vendor_id = e.vendor_id AND (w.kinds = '{}' OR e.kind = ANY (w.kinds)))"

/* CreateWebhookEndpoint: $1 vendor, $2 id, $3 url, $4 kinds (text[]
 * literal), $5 secret, $6 created_at; then the idempotency record's five
 * (IDEM_RECORD_CTE over "w"). Answers one row: the slot taken, or no row
 * when all OUTBOX_SLOTS are taken. A race for the same slot fails with
 * SQLSTATE 23505 on constraint OUTBOX_SLOT_CONSTRAINT. */
extern const char outbox_sql_create_endpoint[];
/* Milliseconds since the oldest row still in the outbox was queued; 0 when
 * it is empty. Ids grow with time, so the primary key finds it. */
extern const char outbox_sql_oldest_age_ms[];
#define OUTBOX_SLOT_CONSTRAINT "webhook_endpoints_slot_key"

/* ListWebhookEndpoints: $1 vendor; rows of OUTBOX_ENDPOINT_COLS by creation. */
extern const char outbox_sql_list_endpoints[];
/* DeleteWebhookEndpoint: $1 vendor, $2 id, then the record's five over "w";
 * one row when deleted (with its outbox rows and log). */
extern const char outbox_sql_delete_endpoint[];

/* Columns of an endpoint row. */
enum {
	OUTBOX_EP_ID = 0,
	OUTBOX_EP_URL,
	OUTBOX_EP_KINDS, /* comma-joined */
	OUTBOX_EP_CREATED_MS,
	OUTBOX_EP_NCOLS
};

/* ListWebhookDeliveries: $1 vendor, $2 endpoint id, $3 after id, $4 limit
 * (one past the page). No row: no such endpoint of the vendor. Otherwise
 * one row per delivery (OUTBOX_DL_* columns), or one row of NULLs when the
 * endpoint has none after $3. */
extern const char outbox_sql_list_deliveries[];
enum {
	OUTBOX_DL_ID = 0,
	OUTBOX_DL_EVENT_ID,
	OUTBOX_DL_ATTEMPT,
	OUTBOX_DL_HTTP_STATUS,
	OUTBOX_DL_ERROR,
	OUTBOX_DL_SUCCEEDED,
	OUTBOX_DL_AT_MS,
	OUTBOX_DL_NEXT_MS, /* NULL: none */
	OUTBOX_DL_NCOLS
};

/* Claim due outbox rows: $1 the most per endpoint, $2 endpoint ids and $3
 * the deliveries each already has in flight here (text[] and int[]
 * literals), $4 the most in all, $5 the lease in ms (the row is not due
 * again before it ends). Each row claimed counts one attempt. Rows of
 * OUTBOX_CLAIM_* columns. */
extern const char outbox_sql_claim[];
enum {
	OUTBOX_CLAIM_ID = 0,
	OUTBOX_CLAIM_VENDOR,
	OUTBOX_CLAIM_ENDPOINT,
	OUTBOX_CLAIM_ATTEMPT,
	OUTBOX_CLAIM_QUEUED_MS, /* when the row was queued */
	OUTBOX_CLAIM_URL,
	OUTBOX_CLAIM_SECRET,
	OUTBOX_CLAIM_EVENT_ID,
	OUTBOX_CLAIM_KIND,
	OUTBOX_CLAIM_CUSTOMER,
	OUTBOX_CLAIM_OFFER,
	OUTBOX_CLAIM_PAYMENT,
	OUTBOX_CLAIM_DETAIL,
	OUTBOX_CLAIM_AT_MS,
	OUTBOX_CLAIM_NCOLS
};

/* Record one attempt: $1 vendor id and $2 id of the outbox row, $3 attempt,
 * $4 http status, $5 error, $6 succeeded ('t'/'f'), $7 next attempt (ms
 * since the epoch; NULL: none, the row leaves the outbox). Answers the log row's id (no row: the
 * outbox row is gone, its endpoint deleted). */
extern const char outbox_sql_record[];

#endif
