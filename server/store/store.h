/* store_: the FairPay cycle's rows, their SQL and their conversion.
 *
 * PostgreSQL stores and locks; it does not decide. A state-changing call
 * reads what it depends on with one statement (store_load_*), runs the rules
 * in C on what it read, and writes the change, its events, their webhook
 * outbox rows (outbox.h) and its idempotency record with one statement (store_write_*), guarded by the
 * reputation row it read: the write takes that row's lock and applies only
 * when the row is still the version that was read (its xmin), else it
 * changes nothing and reports 0 so that the caller reads again (optimistic
 * concurrency). Every writer of a customer's history goes through the guard,
 * so the customer's events get their ids under its row lock, in commit order.
 *
 * The statement texts are fixed (parameters only), so that the pool can send
 * them as grouped writes, one transaction for many calls. All column
 * positions live in store.c and nowhere else. */
#ifndef FP_STORE_H
#define FP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "fp_rules.h"
#include "limit.h"

#define STORE_ID_LEN 20 /* "o_" + 16 hex + NUL, with room */
#define STORE_CUSTOMER_LEN (LIMIT_CUSTOMER_BYTES + 1)
#define STORE_SKU_LEN (LIMIT_SKU_BYTES + 1)
#define STORE_HISTORY_MAX 100000 /* closed cycles of one customer replayed in memory */
/* Checkpoints a full replay writes: those of the latest cycles, so that the
 * write stays small however long the history is. */
#define STORE_CHECKPOINTS_WRITE 1000

/* A reputations row as read (exists = false: the customer was never seen). */
typedef struct store_rep {
	bool exists;
	char xmin[24]; /* the row version the guard checks */
	int32_t score_bp;
	int32_t payments;
	int32_t defaults;
	int32_t open_defaults;
	int32_t offers_accepted;
	int64_t total_paid_minor;
	int64_t total_suggested_minor;
	int64_t credit_used_minor;
	int64_t updated_us; /* 0 = never */
	char currency[4];   /* of its money: fixed by the first offer ("" before) */
	/* The policy (prior_score_bp, alpha_bp) under which the closed
	 * cycles' checkpoints (store_cycle_entry.score_before_bp) are the
	 * replay of rule 7, for the cycles from (checkpoints_from_us,
	 * checkpoints_from_id) on (0 and "": from the first), so that a replay
	 * may resume at any of those; -1 when none is known (a full replay
	 * writes them again). */
	int32_t checkpoints_prior_bp;
	int32_t checkpoints_alpha_bp;
	int64_t checkpoints_from_us;
	char checkpoints_from_id[STORE_ID_LEN];
	int32_t recent[FP_EXPLAIN_RECENT]; /* raw fairness of the latest payments, newest first */
	size_t n_recent;
	/* Rule 14: what an attestation seeded (seed_score_bp -1: never seeded).
	 * The seeded score is where every replay of rule 7 for this customer
	 * starts: store_apply_seed() makes it the policy's prior_score_bp. */
	int32_t attested_payments;
	char attested_by[STORE_ID_LEN];
	int32_t seed_score_bp;
} store_rep;

/* A product as the cycle needs it. */
typedef struct store_product {
	bool exists;
	char sku[STORE_SKU_LEN];
	char currency[4];
	fp_product terms;
	int64_t unit_price_minor;
	int32_t period_days;
} store_product;

/* An offers row. */
typedef struct store_offer {
	char xmin[24]; /* the row version the guard checks */
	char vendor_id[STORE_ID_LEN];
	char id[STORE_ID_LEN];
	char customer_id[STORE_CUSTOMER_LEN];
	char sku[STORE_SKU_LEN];
	char currency[4];
	char previous_offer_id[STORE_ID_LEN];
	fp_offer_status status;
	fp_mode mode;
	fp_tier tier;
	int64_t suggested_price_minor;
	int64_t unit_price_minor;
	int64_t minimum_price_minor;
	int64_t set_price_minor;
	int64_t credit_limit_minor;
	int64_t credit_used_minor;
	fp_offer_reason reasons[FP_MAX_OFFER_REASONS];
	size_t n_reasons;
	int64_t created_us;
	int64_t expires_us;
	int64_t pay_by_us; /* 0 = not accepted */
	int32_t period_index;
	int64_t list_price_minor; /* the product's when the offer was made (GetInsights) */
} store_offer;

/* A payments row. */
typedef struct store_payment {
	char id[STORE_ID_LEN];
	char offer_id[STORE_ID_LEN];
	char customer_id[STORE_CUSTOMER_LEN];
	char currency[4];
	int64_t amount_minor;
	int64_t suggested_price_minor;
	int64_t usage_units;
	uint32_t reasons; /* FP_REASON_BIT() mask */
	const char *note; /* points into the call's request or the result */
	fp_assessment a;
	bool late;
	int64_t created_us;
} store_payment;

/* One closed cycle of a customer's history (rule 7), in replay order, with
 * its checkpoint: the score just before it. */
typedef struct store_cycle_entry {
	char id[STORE_ID_LEN]; /* the payment's id, or the defaulted offer's */
	bool is_default;
	int32_t fairness_bp;
	int32_t score_before_bp; /* -1: none stored */
	int64_t at_us;           /* its place in time (the payment's, the default's) */
} store_cycle_entry;

/* Everything a cycle call reads before it decides. */
typedef struct store_state {
	bool policy_stored;
	fp_policy policy;
	store_product product;
	store_rep rep;
	bool offer_found;
	store_offer offer;
	bool payment_found;
	store_payment payment;
	/* The closed cycles from the one the call changes on, or all of them
	 * (see the loads); malloc'd, only when asked for. */
	store_cycle_entry *history;
	size_t n_history;
} store_state;

/* Columns of a policy row, in the order store_policy_from_row() reads. */
#define STORE_POLICY_COLS                                                                      \
	"enforcement, prior_score_bp, alpha_bp, probation_payments, trusted_score_bp,"         \
	" fair_score_bp, low_score_bp, generous_bp, max_open_defaults, restricted_minimum_bp," \
	" probation_credit_minor, standard_credit_minor, trusted_credit_minor,"                \
	" array_to_string(excusing_reasons, ','), excused_floor_bp, late_penalty_bp,"          \
	" offer_ttl_seconds, payment_window_seconds, version, attestation_cap_bp"
#define STORE_POLICY_NCOLS 20

/* Read a policy row (STORE_POLICY_COLS) starting at column col. */
void store_policy_from_row(const PGresult *res, int row, int col, fp_policy *out);

/* Turn a comma-joined list of payment reason names into an FP_REASON_BIT() mask. */
uint32_t store_reason_mask(const char *list);

/* ---------------------------------------------------------------- reads */

/* CreateOffer, GetReputation: $1 vendor, $2 customer, $3 sku (NULL: none),
 * $4 't' to load the latest payments too. */
extern const char store_sql_load_customer[];
/* AcceptOffer, DeclineOffer, SubmitPayment, GetOffer: $1 vendor, $2 offer
 * id, $3 't' to load the customer's history too when the offer is
 * DEFAULTED (a late payment): the closed cycles from that default on, or
 * all of them when $4 is 't'. */
extern const char store_sql_load_offer[];
/* ReviewPayment: $1 vendor, $2 payment id; the history is always loaded:
 * the closed cycles from that payment on, or all of them when $3 is 't'. */
extern const char store_sql_load_payment[];

/* The sweeper: ACCEPTED offers past pay_by, oldest first, at most one per
 * customer; $1 the batch size. Same layout as the loads. */
extern const char store_sql_load_due_defaults[];
/* The sweeper: expire OPEN offers past expires_at ($1 at most), each with
 * its OFFER_EXPIRED event, under the customer's row lock (SKIP LOCKED),
 * announcing each (store_key_offer()); answers vendor_id, id per offer.
 * $2 is what one expiry adds to the insights (facts_format() of OPEN ->
 * EXPIRED), stored on each event. Expiry changes no reputation: no rule to
 * run. */
extern const char store_sql_expire[];
/* The sweeper: drop idempotency records past their 24 hours ($1 at most). */
extern const char store_sql_idem_expire[];

/* Read row `row` of a store_sql_load_* result into st (zeroed first). -1
 * on a malformed row (a bug or a foreign schema). */
int store_read_state(const PGresult *res, int row, store_state *st)
	__attribute__((warn_unused_result));

/* Make st's policy the customer's own for rule 7: a customer seeded by an
 * attestation (rule 14) has its history replayed from the seeded score, so
 * its prior_score_bp becomes that score. Call it after the policy was
 * cached (it is the vendor's), before deciding. */
void store_apply_seed(store_state *st);

/* Free what store_read_state() allocated. Accepts NULL. */
void store_state_free(store_state *st);

/* ---------------------------------------------------------------- lists
 *
 * ListOffers and ListPayments: one vendor's rows, newest first ((created_at,
 * id) descending, id bytewise), strictly after a position. One fixed
 * statement per combination of filters, each a backward scan of an index of
 * migration 0010 that stops after its rows (the customer and state filter
 * scans the customer's index, checking the state). Parameters: $1 vendor, $2 the position's created_at (a timestamptz;
 * "infinity" for the first page), $3 its id ("" for the first page), $4 how
 * many rows, then the filters that are on, in this order: $5 the status
 * (offers) or review (payments) name, then the customer id. */
#define STORE_LIST_STATE 1u    /* status or review filter */
#define STORE_LIST_CUSTOMER 2u /* customer filter */

/* The statement of offers with the filters (STORE_LIST_* bits). */
const char *store_sql_list_offers(unsigned filters);

/* The statement of payments with the filters (STORE_LIST_* bits). */
const char *store_sql_list_payments(unsigned filters);

/* Read row `row` of a store_sql_list_offers() result. -1 on a malformed
 * result. */
int store_read_offer(const PGresult *res, int row, store_offer *o)
	__attribute__((warn_unused_result));

/* Read row `row` of a store_sql_list_payments() result; the note points
 * into res. -1 on a malformed result. */
int store_read_payment(const PGresult *res, int row, store_payment *p)
	__attribute__((warn_unused_result));

/* ---------------------------------------------------------------- writes */

/* A statement and its parameters. Parameters point into the change that
 * was written and into texts the statement owns (store_stmt_free()). */
#define STORE_MAX_PARAMS 18
typedef struct store_stmt {
	const char *sql;
	int n;
	const char *params[STORE_MAX_PARAMS];
	char *owned[STORE_MAX_PARAMS];
	int n_owned;
} store_stmt;

/* Free the texts a statement owns (not the statement). Accepts NULL. */
void store_stmt_free(store_stmt *s);

/* The reputation a write leaves behind (the guard's new values). */
typedef struct store_rep_write {
	const char *vendor_id;
	const char *customer_id;
	const store_rep *before; /* as read: exists and xmin */
	const store_rep *after;
	int32_t prior_score_bp; /* score of a row created by this write */
} store_rep_write;

/* The idempotency record of a keyed call (NULL members: no key). */
typedef struct store_idem {
	const char *scope;
	const char *key;
	const char *call;
	const char *hash;
	const char *response_hex; /* bytea hex input form */
} store_idem;

/* An event to append (kind NULL: none). */
typedef struct store_event {
	const char *kind;
	const char *offer_id;
	const char *payment_id;
	const char *detail;
} store_event;

#define STORE_WRITE_EVENTS 6

/* The whole of one cycle call's change. Each part is optional but the
 * reputation guard. */
typedef struct store_change {
	store_rep_write rep;
	const store_offer *insert_offer;   /* a new offer */
	const store_offer *insert_offer2;  /* rule 12's next offer */
	const store_offer *update_offer;   /* new status etc. of an existing offer */
	fp_offer_status update_offer_from; /* as read; the guard checks its version (xmin) */
	int64_t update_offer_closed_us;
	int64_t update_offer_accepted_us;
	const store_payment *insert_payment;
	const store_payment *update_payment;      /* a review */
	const store_payment *update_payment_from; /* the payment as read */
	const char *review_note;
	store_event events[STORE_WRITE_EVENTS];
	store_idem idem;
	int64_t at_us;      /* the events' time */
	const char *notify; /* announced to other servers on commit (NULL: nothing) */
	/* Rule 7's checkpoints to write: score_before_bp of closed cycles
	 * (existing ones, or the payment inserted, or the offer defaulted), so
	 * that they always agree with the reputation written. */
	const store_cycle_entry *checkpoints;
	size_t n_checkpoints;
} store_change;

/* Fill stmt with the statement that writes ch: a set write (db_write_set())
 * whose one parameter is ch as an item. It answers one row per item, with
 * the columns below: STORE_WRITE_OK is 1 when written, 0 when a guard found
 * the reputation or the offer changed (nothing of the item written: read
 * again); STORE_WRITE_XMIN the reputation row's new version; and
 * STORE_WRITE_NOTIFIED how many items' keys were announced. A concurrent
 * record of the same idempotency key fails it with SQLSTATE 23505. */
enum {
	STORE_WRITE_ITEM = 0, /* the item's place in the statement (db_write_set()) */
	STORE_WRITE_OK,
	STORE_WRITE_XMIN,
	STORE_WRITE_NOTIFIED
};
void store_write(store_stmt *stmt, const store_change *ch);

/* Fill stmt with an idempotency record on its own (a refused call's reply). */
void store_write_idem_only(store_stmt *stmt, const store_idem *idem);

/* ---------------------------------------------------------------- cache keys
 *
 * The keys under which rows are cached and announced (cache.h). Vendor ids,
 * offer ids and SKUs hold no '/', so each key names one row. */
#define STORE_KEY_LEN (STORE_CUSTOMER_LEN + 48)

/* A policy as cached: the stored row, or the defaults (stored = false). */
typedef struct store_policy {
	bool stored;
	fp_policy policy;
} store_policy;

void store_key_rep(char *out, size_t len, const char *vendor, const char *customer);
void store_key_offer(char *out, size_t len, const char *vendor, const char *offer_id);
void store_key_policy(char *out, size_t len, const char *vendor);
void store_key_product(char *out, size_t len, const char *vendor, const char *sku);

/* ---------------------------------------------------------------- helpers */

/* Write the detail of a REPUTATION_CHANGED event: the score's move and the
 * tier, or the tier's move. */
void store_reputation_detail(char *out, size_t len, const fp_policy *pol, const store_rep *before,
			     const store_rep *after);

/* Format microseconds since the epoch as a timestamptz literal (UTC). */
void store_ts(int64_t us, char *out, size_t len);

/* Tell whether rep's checkpoint of cycle e is a replay of rule 7 under pol
 * (its prior_score_bp and alpha_bp), so that a replay may resume at e. */
bool store_checkpoint_holds(const store_rep *rep, const fp_policy *pol, const store_cycle_entry *e);

/* Record a closed cycle appended to the customer's history under pol (a
 * payment on time, a default), which moves the score from before->score_bp
 * to after->score_bp: fill its checkpoint e (the score before it), and
 * keep after's checkpoints trusted only if they held under pol. */
void store_checkpoint_append(const fp_policy *pol, const store_rep *before, store_rep *after,
			     store_cycle_entry *e, const char *id, bool is_default,
			     int32_t fairness_bp);

/* The time of a customer's next change: now, but always after the last one,
 * so that the history's order is the order in which it was applied even when
 * servers' clocks differ. */
int64_t store_next_us(const store_rep *rep, int64_t now_us);

#endif
