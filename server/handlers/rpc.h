/* rpc_: one call from its request to its reply.
 *
 * dispatch_request() (dispatch.h) makes the call and runs its handler. A
 * handler either answers at once or issues database queries and answers
 * from their callbacks; rpc_ok()/rpc_fail() send the reply (dropped if the
 * client went away) and free everything the call allocated. */
#ifndef FP_RPC_H
#define FP_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "fairpay.pb-c.h"
#include "fp_rules.h"
#include "server.h"

typedef struct rpc_mem rpc_mem;

typedef struct rpc_call {
	conn *conn;
	srv *srv;
	uint64_t conn_id;
	Fairpay__V1__Request *req;
	Fairpay__V1__Response resp;
	Fairpay__V1__Status status;
	const struct rpc_route *route;
	rpc_mem *mem;   /* allocations freed with the call */
	conn_role role; /* the caller, as of dispatch */
	char vendor_id[32];
	char key_id[KEY_ID_LEN + 1];
	bool close_after;   /* close the connection after this reply */
	size_t reserved;    /* against the connection's output budget (conn_reserve) */
	size_t page_budget; /* a List call: bytes its rows may take (rpc_reserve_page) */
	int64_t started_ns; /* its request was decoded (for its latency) */
	void *ctx;          /* the handler's state between queries */
	/* Under an idempotency key (idem.c): */
	bool idem_active;      /* the call runs and its reply is to be recorded */
	bool idem_recorded;    /* a write records the reply */
	bool idem_replay_only; /* looked up again after a conflicting write */
	char *idem_hash;       /* the request's digest */
	char *idem_name;       /* "scope/key" while in this server's in-flight set */
	/* Steps that dispatch took (idem.c) run as the call ends: end_hook
	 * before the reply is sent (true: it sends it), release_hook as the
	 * call is freed. */
	bool (*end_hook)(struct rpc_call *call);
	void (*release_hook)(struct rpc_call *call);
} rpc_call;

typedef void (*rpc_handler)(rpc_call *call);

typedef enum rpc_access {
	RPC_ANYONE = 0,
	RPC_ADMIN,
	RPC_VENDOR
} rpc_access;

typedef struct rpc_route {
	const char *name;
	rpc_access access;
	bool mutating; /* honours idempotency keys */
	rpc_handler handler;
} rpc_route;

/* A call for req (frame_len bytes on the wire) on connection c, referenced
 * until the call ends; its request and reply are reserved against the
 * connection's output budget until then. */
rpc_call *rpc_call_new(conn *c, Fairpay__V1__Request *req, size_t frame_len);

/* A List call asking for limit rows reserves room for its page. */
void rpc_reserve_page(rpc_call *call, uint32_t limit);

/* Whether one more row of row_bytes (packed) fits the page, counting it in
 * *used when it does; the first row always fits. */
bool rpc_page_fits(rpc_call *call, size_t *used, size_t row_bytes);

/* Allocate zeroed memory that lives as long as the call. */
void *rpc_alloc(rpc_call *call, size_t size);

/* Copy a string into the call's memory. */
char *rpc_strdup(rpc_call *call, const char *s);

/* Send the reply whose result the handler has set, and end the call. */
void rpc_ok(rpc_call *call);

/* Send an error reply and end the call. field may be NULL. */
void rpc_fail(rpc_call *call, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Send call->resp as it is and end the call (used by idem.c). */
void rpc_send(rpc_call *call);

/* End the call without sending anything more (used by idem.c). */
void rpc_release(rpc_call *call);

/* End the call for a failed query: UNAVAILABLE, or INTERNAL (logged). */
void rpc_fail_db(rpc_call *call, db_status st, PGresult *res);

/* Whose share of the database pool the call's queries take (db_query_for):
 * its vendor, "admin" for ADMIN keys, "-" before authentication. */
const char *rpc_tenant(const rpc_call *call);

/* Run a query for the call; cb gets the call as its arg. On failure to queue,
 * the call fails. */
int rpc_query(rpc_call *call, const char *sql, int nparams, const char *const *params, db_cb cb);

/* Write a new random id: prefix and 16 hex digits (size >= prefix + 17). */
void rpc_new_id(char *out, size_t size, const char *prefix);

/* Handlers: rpc_admin.c */
void rpc_ping(rpc_call *call);
void rpc_authenticate(rpc_call *call);
/* Refuse an Authenticate as for a wrong key: one more failed attempt. */
void rpc_auth_refuse(rpc_call *call);
void rpc_create_vendor(rpc_call *call);
void rpc_create_api_key(rpc_call *call);
void rpc_revoke_api_key(rpc_call *call);
void rpc_list_vendors(rpc_call *call);
void rpc_register_client_cert(rpc_call *call);

/* Handlers: rpc_catalog.c (products and the policy) */
void rpc_put_product(rpc_call *call);
void rpc_get_product(rpc_call *call);
void rpc_list_products(rpc_call *call);
void rpc_put_policy(rpc_call *call);
void rpc_get_policy(rpc_call *call);

/* Apply the fields set in a Policy message over p and check the result, as
 * PutPolicy does (excusing_reasons only when set_excusing_reasons); -1 when
 * refused, the call then answered INVALID_ARGUMENT naming the field. */
int rpc_policy_merge(rpc_call *call, const Fairpay__V1__Policy *in, bool set_excusing_reasons,
		     fp_policy *p) __attribute__((warn_unused_result));

/* Continues a call with the caller's policy (call->ctx is free again). */
typedef void (*rpc_policy_cb)(rpc_call *call, const fp_policy *policy);

/* Read the caller's policy (from the cache when it holds it) and go on with
 * then; a failed read answers the call. */
void rpc_policy_load(rpc_call *call, rpc_policy_cb then);

/* Handlers: rpc_cycle.c (offers, payments, reputations, events) */
void rpc_create_offer(rpc_call *call);
void rpc_accept_offer(rpc_call *call);
void rpc_decline_offer(rpc_call *call);
void rpc_get_offer(rpc_call *call);
void rpc_submit_payment(rpc_call *call);
void rpc_review_payment(rpc_call *call);
void rpc_get_reputation(rpc_call *call);
void rpc_list_customer_events(rpc_call *call);

/* rpc_feed.c */
void rpc_list_events(rpc_call *call);

/* Handlers: rpc_lists.c (the vendor's offers and payments, newest first) */
void rpc_list_offers(rpc_call *call);
void rpc_list_payments(rpc_call *call);

/* Handlers: rpc_webhook.c (webhook endpoints and their delivery log) */
void rpc_create_webhook_endpoint(rpc_call *call);
void rpc_list_webhook_endpoints(rpc_call *call);
void rpc_delete_webhook_endpoint(rpc_call *call);
void rpc_list_webhook_deliveries(rpc_call *call);

/* Handlers: rpc_attest.c (signed reputation attestations) */
void rpc_issue_attestation(rpc_call *call);
void rpc_verify_attestation(rpc_call *call);
void rpc_get_issuer_key(rpc_call *call);

/* What to do with the claims of an attestation that verified (they live as
 * long as the call). */
typedef void (*rpc_attest_cb)(rpc_call *call, const Fairpay__V1__AttestationClaims *claims);

/* Check an attestation against this server's keys (PROTOCOL.md,
 * "Attestations"; rule 14): its issuer's key signed it, it has not expired,
 * and its subject is subject (NULL: any). Then cb runs; otherwise the call
 * is answered: INVALID_ARGUMENT for bytes that do not decode,
 * FAILED_PRECONDITION for the rest, both naming field. */
void rpc_attest_verify(rpc_call *call, ProtobufCBinaryData bytes, const char *field,
		       const char *subject, rpc_attest_cb cb);
/* Handlers: rpc_insights.c (the vendor's sums and the what-if of a policy) */
void rpc_get_insights(rpc_call *call);
void rpc_simulate_policy(rpc_call *call);

/* Clamp a List call's limit as PROTOCOL.md says: 0 means 100, above 1000 is 1000. */
unsigned rpc_list_limit(uint32_t limit);

/* A List query asks for one row past the page: write that LIMIT into buf. */
void rpc_page_query_limit(uint32_t limit, char *buf, size_t len);

/* How many of rows go on the page; *more says whether another page follows. */
unsigned rpc_page_size(uint32_t limit, int rows, bool *more);

#endif
