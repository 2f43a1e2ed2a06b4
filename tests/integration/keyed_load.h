/* kl_: keyed load for the integration tests that break things under it.
 *
 * Worker threads run FairPay cycles (CreateOffer, AcceptOffer,
 * SubmitPayment) for their own customers, and an optional admin thread runs
 * CreateVendor, every call under its own idempotency key and retried with
 * the same key and fields (reconnecting, and moving on to the next of the
 * given ports) until it is answered; each OK answer is then repeated once
 * and must be replayed naming the same object. What the clients were told is
 * recorded, so that after a kill, a failover or an outage a test can check
 * that the database holds exactly the told objects (kl_check_*), each paid
 * offer with exactly its one payment, and that `fairpayctl reputation
 * verify` finds no difference.
 *
 * Worker threads never fail the test themselves: they record violations
 * (kl_violation), and the main thread reports them all (kl_report) once every
 * thread has stopped. Include <cmocka.h> (and its prerequisites) and
 * harness.h before this header. */
#ifndef FP_TEST_KEYED_LOAD_H
#define FP_TEST_KEYED_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* ---------------------------------------------------------------- violations */

typedef enum kl_kind {
	KL_ABORTED,      /* kept answering ABORTED */
	KL_NO_ANSWER,    /* no answer at all within call_ms */
	KL_REFUSED,      /* a definitive answer other than OK */
	KL_NOT_REPLAYED, /* a repeat after an OK answer ran the call again */
	KL_OTHER_OBJECT, /* two answers for one key name different objects */
	KL_BAD_REPLY,    /* an OK reply that does not match its request */
	KL_EXTRA,        /* objects in the database that no answer named */
	KL_MISSING,      /* objects an answer named that are not stored */
	KL_STATE,        /* told-about objects in the wrong state */
	KL_VERIFY,       /* reputation verify found differences */
	KL_KINDS
} kl_kind;

/* Record a violation of kind (thread-safe; a few examples per kind are kept). */
void kl_violation(kl_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Return the number of violations recorded since the last reset. */
int kl_violations(void);

/* Forget every recorded violation. */
void kl_violations_reset(void);

/* Print every kind of violation with examples, then fail the test naming
 * what (nothing when there was none). */
void kl_report(const char *what);

/* ---------------------------------------------------------------- keyed calls */

/* How long a retry may keep answering ABORTED, and how long a call may go
 * without any answer, before it is given up as a violation; 0: defaults. */
typedef struct kl_limits {
	int abort_ms;
	int call_ms;
} kl_limits;

#define KL_MAX_PORTS 8

/* One thread's keyed caller: a reconnecting client over a list of ports. */
typedef struct kl_caller {
	h_rclient rc;
	char ports[KL_MAX_PORTS][16];
	int n_ports, at; /* the port in use */
	unsigned seed;
	atomic_int *answered; /* OK answers of every thread (may be NULL) */
	kl_limits lim;
	/* Totals over every call of this thread. */
	int calls, attempts, no_reply, unavailable, aborted, replays_checked;
	/* The last call's attempts. */
	int c_attempts, c_no_reply, c_unavailable, c_aborted;
	/* Milliseconds of the longest call until its answer. */
	int64_t longest_ms;
} kl_caller;

/* Set up cl (on the main thread) for api_key on ports, a comma-separated
 * list ("7401,7402"): a call that gets no reply moves to the next port. */
void kl_caller_init(kl_caller *cl, const char *ports, const char *api_key, unsigned seed,
		    atomic_int *answered, const kl_limits *lim);

/* Close the caller's connection. */
void kl_caller_close(kl_caller *cl);

/* Describe the last call's attempts into buf (for messages). */
const char *kl_attempts_text(const kl_caller *cl, char *buf, size_t len);

/* Send req until it is answered: a broken connection, UNAVAILABLE and ABORTED
 * are retried with the same request. Return the answer's code with the reply
 * in *resp; H_ABORTED after abort_ms of nothing but ABORTED, or H_NO_REPLY
 * after call_ms without an answer (both recorded as violations, *resp NULL). */
int kl_resolve(kl_caller *cl, Fairpay__V1__Request *req, const char *what,
	       Fairpay__V1__Response **resp);

/* The id of the object an OK reply names, or NULL when the reply lacks it. */
typedef const char *(*kl_id_fn)(const Fairpay__V1__Response *r);
const char *kl_offer_of_create(const Fairpay__V1__Response *r);
const char *kl_offer_of_accept(const Fairpay__V1__Response *r);
const char *kl_payment_of_submit(const Fairpay__V1__Response *r);
const char *kl_vendor_of_create(const Fairpay__V1__Response *r);

/* kl_resolve req, then make it once more under the same key, which must be
 * replayed and name the same object. Return the first OK reply (free with
 * fp_response_free), or NULL after a violation. */
Fairpay__V1__Response *kl_keyed(kl_caller *cl, Fairpay__V1__Request *req, const char *what,
				kl_id_fn id_of);

/* ---------------------------------------------------------------- the load */

typedef struct kl_config {
	const char *ports;     /* comma-separated fairpayd (or balancer) ports */
	const char *vendor_id; /* the vendor of the cycles (kl_make_vendor) */
	const char *vendor_key;
	const char *admin_key; /* NULL: no CreateVendor thread */
	const char *tag;       /* prefixes customers, keys and vendor names */
	int workers;           /* cycle threads; 0: 6 */
	int customers;         /* per worker; 0: 3 */
	kl_limits lim;
} kl_config;

typedef struct kl_load kl_load;

/* Create the vendor name on s through an ADMIN key, with a one-off product
 * "basic" and a policy under which every offer is FAIRPAY whatever the
 * scores; *vendor_id and *vendor_key receive malloc'ed copies. */
void kl_make_vendor(const h_server *s, const char *admin_key, const char *name, char **vendor_id,
		    char **vendor_key);

/* Start the worker threads (and the admin thread) of cfg; fails the test
 * when a thread cannot start. The strings of cfg are copied. */
kl_load *kl_start(const kl_config *cfg);

/* Wait (at most timeout_ms) for n more OK answers; false on timeout. */
bool kl_wait_answers(kl_load *L, int n, int timeout_ms);

/* Return the OK answers so far. */
int kl_answered(kl_load *L);

/* Stop the threads: each finishes (or gives up) the cycle it is in. */
void kl_stop(kl_load *L);

/* Free the load (stopping it first if needed). Accepts NULL. */
void kl_free(kl_load *L);

/* What the load did, summed over its threads. */
typedef struct kl_totals {
	int calls, attempts, no_reply, unavailable, aborted, replays, connects;
	int cycles, finished; /* cycles started and finished */
	size_t offers, paid;  /* offers and payments answered */
	size_t vendors;       /* vendors answered */
	int vendors_lost;     /* CreateVendor calls never answered */
	int64_t longest_ms;   /* the longest call until its answer */
} kl_totals;

/* Sum up what the load did. */
void kl_totals_of(kl_load *L, kl_totals *t);

/* Print the totals in three lines. */
void kl_print_totals(kl_load *L);

/* ---------------------------------------------------------------- checks */

/* Check the vendor's offers and payments of this load's customers in the
 * database at conninfo against what the answers said: exactly the answered
 * ones are stored, and every finished cycle's offer is PAID once with its
 * answered payment. Violations are recorded. */
void kl_check_offers(kl_load *L, const char *conninfo);

/* Check the vendors named after the tag against the CreateVendor answers. */
void kl_check_vendors(kl_load *L, const char *conninfo);

/* Run `fairpayctl reputation verify` on conninfo; a violation unless it exits 0. */
void kl_check_verify(const char *conninfo);

/* ---------------------------------------------------------------- database sessions */

/* Return the client backends connected to database dbname of the cluster
 * whose maintenance conninfo is admin (-1 on error). */
int kl_sessions(const char *admin, const char *dbname);

/* pg_terminate_backend every client backend of dbname; return how many. */
int kl_terminate_sessions(const char *admin, const char *dbname);

/* Wait until no client backend of dbname is left; return the ms it took,
 * or -1 after timeout_ms. */
int kl_wait_sessions_gone(const char *admin, const char *dbname, int timeout_ms);

#endif
