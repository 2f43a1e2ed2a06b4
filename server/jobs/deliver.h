/* deliver_: the webhook delivery job.
 *
 * Every --webhook-poll-ms (and at once while there is more) it claims due
 * outbox rows (store/outbox.h: FOR UPDATE SKIP LOCKED, and a lease of the
 * attempt's timeout plus 5 s, so that several servers and workers share the
 * outbox without sending one row at the same moment) and POSTs each event,
 * signed as Standard Webhooks says, through libcurl's multi interface
 * driven by this event loop: many deliveries in flight, at most
 * --webhook-per-endpoint per endpoint, so one slow endpoint delays no other
 * and no call. Each attempt is recorded (the delivery log, and the outbox
 * row moved to its next attempt or removed) with one statement. A server
 * that dies mid-delivery leaves its rows leased: another server, or this one
 * restarted, sends them again when the lease ends (at least once). */
#ifndef FP_DELIVER_H
#define FP_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "db.h"

typedef struct deliverer deliverer;

typedef struct deliver_options {
	bool allow_http;       /* http:// URLs too */
	bool allow_private;    /* loopback, private, link-local, unspecified addresses too */
	const char *ca_file;   /* NULL: the system's trust store */
	int64_t retry_base_ms; /* delay after the first failed attempt; doubles after each */
	int64_t retry_max_ms;  /* the longest delay */
	int64_t give_up_s;     /* no attempt is scheduled this long after the event was queued */
	int64_t timeout_ms;    /* one attempt's limit */
	int64_t poll_ms;       /* how often to claim due rows */
	int64_t per_endpoint;  /* deliveries in flight per endpoint */
	int64_t max_inflight;  /* deliveries in flight in all */
} deliver_options;

/* Start delivering on base; NULL when out of memory or libcurl failed. */
deliverer *deliver_new(struct event_base *base, db_pool *db, const deliver_options *opts);

/* Take new settings (a reload) for the attempts that follow; ca_file is
 * kept as it was. */
void deliver_set_options(deliverer *d, const deliver_options *opts);

/* Claim nothing more (shutdown); deliveries in flight go on while the loop runs. */
void deliver_stop(deliverer *d);

/* Attempts that succeeded and that failed so far. */
void deliver_counts(const deliverer *d, uint64_t *delivered, uint64_t *failed);

/* Abort what is in flight (its rows stay leased and are sent again later)
 * and free everything. Call after the pool is freed. Accepts NULL. */
void deliver_free(deliverer *d);

/* ---------------------------------------------------------------- pure parts */

/* The delay after failed attempt number attempt (1, 2, ...): base, doubling,
 * at most max. */
int64_t deliver_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms);

/* An event as it is delivered. */
typedef struct deliver_event {
	int64_t id;
	const char *kind; /* e.g. "PAYMENT_RECEIVED" */
	const char *customer_id;
	const char *offer_id;   /* "" when none */
	const char *payment_id; /* "" when none */
	const char *detail;
	int64_t at_ms;
} deliver_event;

/* The JSON body of e (PROTOCOL.md); malloc'ed, NULL when out of memory. */
char *deliver_body(const deliver_event *e);

/* Write "v1,<base64 of HMAC-SHA256(key, msg_id.timestamp.body)>" into out,
 * key being the base64 after "whsec_" in secret; -1 when the secret does
 * not decode or out is too small. */
int deliver_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
		 char *out, size_t outlen) __attribute__((warn_unused_result));

#endif
