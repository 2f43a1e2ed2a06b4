/* Integration test of the idempotency guarantee (PROTOCOL.md, "Calls"): the
 * reply to a keyed mutating call is recorded in the same transaction as the
 * change it reports, so no crash, kill or database outage can lose it. A
 * retry after any failure gets the first reply (replayed = true) when the
 * call had committed, and runs the call when it had not; a request left in
 * flight by a server that died answers ABORTED only until that server's
 * database session has ended.
 *
 *  1. test_kill_during_keyed_calls: worker threads run CreateOffer,
 *     AcceptOffer and SubmitPayment cycles for their own customers, and an
 *     admin thread runs CreateVendor, every call under its own key and
 *     retried with the same key and fields (reconnecting as needed) until it
 *     is answered; meanwhile the main thread kills fairpayd with SIGKILL at
 *     random moments and restarts it on the same port, or terminates its
 *     PostgreSQL backends, or both. Checked: every call ends OK (a retry is
 *     never refused for its own earlier success, and never answered ABORTED
 *     for longer than abort_ms()); each OK answer is repeated once under its
 *     key and the repeat is replayed and names the same object; afterwards
 *     the offers, payments and vendors in the database are exactly the ones
 *     the answers named, every offer of a finished cycle is PAID with exactly
 *     the one payment its answer named, and `fairpayctl reputation verify`
 *     finds no difference.
 *  2. test_kill_around_commit: one keyed SubmitPayment at a time, fairpayd
 *     killed a random moment (up to twice the call's usual latency) after
 *     the request was sent; once the dead server's database sessions have
 *     ended, a retry with the same key must answer OK: replayed with the
 *     stored payment when the payment committed, run anew when it did not.
 *
 * The keyed load, its record of the answers and the checks against the
 * database are keyed_load.c's; worker threads never fail the test
 * themselves: they record violations, and the main thread reports them all
 * (by kind, with examples) once every thread has stopped. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "harness.h"

#include "keyed_load.h"

#define DB_NAME "fp_it_idem_crash"
#define WORKERS 6
#define ROUNDS 9
#define COMMIT_LOOPS 10
#define ID_LEN 48

typedef Fairpay__V1__Response resp_t;

static struct {
	char *db;
	char *pg_admin; /* the maintenance database of the same cluster */
	char *admin_key;
	char port[16];
	h_server *srv;
	char *vid;  /* the vendor of the cycles */
	char *vkey; /* its API key */
	int restarts;
} T;

/* The kill rounds stop after this long, whatever their number. */
static int rounds_budget_ms(void)
{
	return h_slow() ? 240000 : 15000;
}

/* ---------------------------------------------------------------- setup */

static void start_server(const char *port)
{
	T.srv = port != NULL ? h_server_start_on(port, T.db, NULL) : h_server_start(T.db, NULL);
	snprintf(T.port, sizeof(T.port), "%s", T.srv->port);
}

static int setup(void **state)
{
	T.db = h_db_create(DB_NAME);
	T.pg_admin = h_fmt("host=%s port=%s user=postgres dbname=postgres", h_env("FP_PGHOST"),
			   h_env("FP_PGPORT"));
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	start_server(NULL);
	kl_make_vendor(T.srv, T.admin_key, "idem crash", &T.vid, &T.vkey);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.vid);
	free(T.vkey);
	free(T.admin_key);
	free(T.pg_admin);
	free(T.db);
	return 0;
}

static int random_ms(int lo, int hi)
{
	return lo + rand() % (hi - lo + 1);
}

/* ---------------------------------------------------------------- test 1 */

static void test_kill_during_keyed_calls(void **state)
{
	kl_violations_reset();
	kl_config cfg = {
		.ports = T.port,
		.vendor_id = T.vid,
		.vendor_key = T.vkey,
		.admin_key = T.admin_key,
		.tag = "ic",
		.workers = WORKERS,
	};
	kl_load *L = kl_start(&cfg);
	if (!kl_wait_answers(L, 20, h_slow() ? 60000 : 10000)) {
		int answered = kl_answered(L);
		kl_free(L);
		kl_report("before any kill");
		fail_msg("the load made no progress before the first kill (%d OK answers)",
			 answered);
	}
	int64_t t_rounds = h_now_ms();
	int rounds = 0, kills = 0, terminations = 0, terminated = 0;
	for (int round = 1; round <= ROUNDS; round++) {
		if (h_now_ms() - t_rounds > rounds_budget_ms())
			break;
		h_sleep_ms(random_ms(100, 600));
		int before = kl_answered(L);
		int kind = round % 3; /* 1: kill, 2: terminate backends, 0: both */
		int64_t t0 = h_now_ms();
		if (kind == 2) {
			terminated += kl_terminate_sessions(T.pg_admin, DB_NAME);
			terminations++;
		} else {
			int status = h_server_stop(T.srv, SIGKILL);
			if (status != 128 + SIGKILL) {
				kl_free(L);
				fail_msg("round %d: fairpayd had exited with status %d before it "
					 "was killed; log at %s",
					 round, status, T.srv->log_path);
			}
			kills++;
			if (kind == 0) {
				terminated += kl_terminate_sessions(T.pg_admin, DB_NAME);
				terminations++;
			}
			h_server_free(T.srv);
			T.srv = NULL;
			start_server(T.port);
			T.restarts++;
		}
		rounds++;
		bool moving = kl_wait_answers(L, 2 * WORKERS, 3000);
		print_message("round %d: %s with %d calls answered OK; %s %d more answers after "
			      "%lld ms\n",
			      round,
			      kind == 1   ? "fairpayd SIGKILL + restart"
			      : kind == 2 ? "pg_terminate_backend on the server's backends"
					  : "fairpayd SIGKILL, its backends terminated, restart",
			      before, moving ? "then" : "only", kl_answered(L) - before,
			      (long long)(h_now_ms() - t0));
	}
	kl_wait_answers(L, 2 * WORKERS, 2000);
	kl_stop(L);

	kl_check_offers(L, T.db);
	kl_check_vendors(L, T.db);
	kl_check_verify(T.db);

	print_message("%d rounds (%d server kills, %d backend terminations of %d backends), "
		      "fairpayd restarted %d times so far\n",
		      rounds, kills, terminations, terminated, T.restarts);
	kl_print_totals(L);
	kl_free(L);
	kl_report("kill during keyed calls");
	print_message("checked: every keyed call answered OK, its repeat replayed with the same "
		      "object; offers, payments and vendors stored are exactly those answered; "
		      "every finished cycle's offer PAID once with its answered payment; "
		      "reputation verify exit 0\n");
}

/* ---------------------------------------------------------------- test 2 */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_kill_around_commit(void **state)
{
	kl_violations_reset();
	if (T.srv == NULL || !h_server_alive(T.srv))
		fail_msg("no server to start from (the last test left none)");
	/* The usual latency of a keyed SubmitPayment, to spread the kills over. */
	fp_client *c = h_connect_auth(T.srv, T.vkey);
	int64_t lat[5];
	for (int i = 0; i < 5; i++) {
		char *offer = h_offer(c, "ic-commit-calibrate", "basic");
		h_accept(c, offer);
		Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
		sp.offer_id = offer;
		sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		sp.amount_minor = 1000;
		char key[32];
		snprintf(key, sizeof(key), "calibrate-%d", i);
		int64_t t0 = now_us();
		h_must(h_submit_payment(c, &sp, key, NULL), "SubmitPayment (calibration)");
		lat[i] = now_us() - t0;
		free(offer);
	}
	fp_client_free(c);
	qsort(lat, 5, sizeof(lat[0]), cmp_i64);
	int64_t spread = 2 * lat[2];
	print_message("keyed SubmitPayment: median latency %lld us; kills spread over 0..%lld us "
		      "after the send\n",
		      (long long)lat[2], (long long)spread);

	atomic_int answered;
	atomic_init(&answered, 0);
	int replied_first = 0, committed_only = 0, not_committed = 0, loops = 0;
	int64_t deadline = h_now_ms() + (h_slow() ? 300000 : 30000);
	for (int i = 0; i < COMMIT_LOOPS && h_now_ms() < deadline && kl_violations() < 2; i++) {
		loops++;
		c = h_connect_auth(T.srv, T.vkey);
		char *offer = h_offer(c, "ic-commit", "basic");
		h_accept(c, offer);
		char key[32];
		snprintf(key, sizeof(key), "commit-%d", i);
		Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
		sp.offer_id = offer;
		sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		sp.amount_minor = 700 + i;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT;
		req.submit_payment = &sp;
		req.idempotency_key = key;
		uint64_t id = 0;
		if (fp_client_send(c, &req, &id) != 0)
			fail_msg("sending SubmitPayment key %s: %s", key,
				 fp_client_error_message(c));
		long delay = spread > 0 ? (long)(rand() % (spread + 1)) : 0;
		sleep_us(delay);
		int status = h_server_stop(T.srv, SIGKILL);
		if (status != 128 + SIGKILL)
			fail_msg("fairpayd exited with status %d before it was killed", status);
		/* A reply that made it out before the kill. */
		resp_t *early = NULL;
		if (fp_client_recv_id(c, id, &early) != 0)
			early = NULL;
		fp_client_free(c);
		char early_id[ID_LEN] = "";
		if (early != NULL && early->status != NULL && early->status->code == H_OK &&
		    kl_payment_of_submit(early) != NULL)
			snprintf(early_id, sizeof(early_id), "%s", kl_payment_of_submit(early));
		else if (early != NULL)
			kl_violation(KL_REFUSED,
				     "SubmitPayment key %s: the first attempt answered %s "
				     "'%s' before the kill",
				     key,
				     h_code_name(early->status ? (int)early->status->code : -1),
				     early->status ? early->status->message : "");
		fp_response_free(early);

		/* What committed, once the dead server's sessions are gone. */
		int gone_ms = kl_wait_sessions_gone(T.pg_admin, DB_NAME, 10000);
		if (gone_ms < 0)
			print_message("loop %d: the killed server's database sessions had not "
				      "ended after 10 s\n",
				      i);
		char *sql = h_fmt("SELECT id FROM payments WHERE vendor_id = '%s' AND offer_id = "
				  "'%s'",
				  T.vid, offer);
		char *stored = h_sql(T.db, sql);
		h_server_free(T.srv);
		T.srv = NULL;
		start_server(T.port);
		T.restarts++;

		kl_caller cl;
		kl_caller_init(&cl, T.port, T.vkey, (unsigned)rand(), &answered, NULL);
		char what[200];
		snprintf(what, sizeof(what),
			 "SubmitPayment key %s (offer %s) retried after a SIGKILL %ld us after "
			 "it was sent (%s)",
			 key, offer, delay,
			 early_id[0] ? "its reply had arrived"
			 : stored    ? "the payment had committed, no reply"
				     : "the payment had not committed");
		resp_t *r = NULL;
		int code = kl_resolve(&cl, &req, what, &r);
		kl_caller_close(&cl);
		const char *pid = r != NULL && code == H_OK ? kl_payment_of_submit(r) : NULL;
		char how[700];
		if (code == H_ABORTED || code == H_NO_REPLY) {
			/* recorded by kl_resolve() */
		} else if (code != H_OK || pid == NULL) {
			kl_violation(KL_REFUSED, "%s: answered %s '%s' (%s)", what,
				     h_code_name(code), r && r->status ? r->status->message : "",
				     kl_attempts_text(&cl, how, sizeof(how)));
		} else if (stored != NULL) {
			if (!r->replayed)
				kl_violation(
					KL_NOT_REPLAYED,
					"%s: answered OK with replayed = false (payment %s): the "
					"committed call's reply was not recorded with it",
					what, pid);
			if (strcmp(pid, stored) != 0)
				kl_violation(
					KL_OTHER_OBJECT,
					"%s: answered payment %s, but the stored payment is %s",
					what, pid, stored);
		} else if (r->replayed) {
			kl_violation(
				KL_BAD_REPLY,
				"%s: answered replayed = true (payment %s) for a call that had "
				"not committed",
				what, pid);
		}
		if (pid != NULL && early_id[0] != '\0' && strcmp(pid, early_id) != 0)
			kl_violation(KL_OTHER_OBJECT,
				     "%s: the retry named payment %s, the first reply %s", what,
				     pid, early_id);
		char *after = h_sql(T.db, sql);
		long long count = 0;
		{
			char *csql =
				h_fmt("SELECT count(*) FROM payments WHERE vendor_id = '%s' AND "
				      "offer_id = '%s'",
				      T.vid, offer);
			count = h_sql_int(T.db, csql);
			free(csql);
		}
		if (pid != NULL && (count != 1 || after == NULL || strcmp(after, pid) != 0))
			kl_violation(KL_STATE,
				     "%s: answered payment %s, the offer has %lld payment(s) "
				     "(%s)",
				     what, pid, count, after ? after : "none");
		if (early_id[0] != '\0')
			replied_first++;
		else if (stored != NULL)
			committed_only++;
		else
			not_committed++;
		print_message("loop %d: kill %ld us after the send: %s; retry: %s%s after %d "
			      "attempt(s) (%d ABORTED); sessions gone after %d ms\n",
			      i, delay,
			      early_id[0] ? "reply arrived first"
			      : stored    ? "committed without a reply"
					  : "not committed",
			      h_code_name(code), r && r->replayed ? " replayed" : "", cl.c_attempts,
			      cl.c_aborted, gone_ms);
		fp_response_free(r);
		free(after);
		free(stored);
		free(sql);
		free(offer);
	}
	print_message("%d loops: %d replied before the kill, %d committed without a reply, %d "
		      "not committed\n",
		      loops, replied_first, committed_only, not_committed);
	kl_check_verify(T.db);
	kl_report("kill around commit");
	print_message("checked: each retry OK; replayed with the stored payment when it had "
		      "committed, run once when it had not\n");
}

static void test_clean_shutdown(void **state)
{
	if (T.srv == NULL)
		fail_msg("no server left to shut down");
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
	print_message("fairpayd restarted %d times; the last one exited 0 on SIGTERM\n",
		      T.restarts);
}

int main(void)
{
	srand((unsigned)h_now_ms());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_during_keyed_calls),
		cmocka_unit_test(test_kill_around_commit),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
