/* Integration tests of the row cache with two servers on one database: a
 * server reads its own writes at once; the other server sees them within
 * 100 ms of the commit (its cached rows are dropped when the commit is
 * announced); a server that loses the database drops its cache; a row
 * changed behind the servers' backs never leads to a wrong write. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef Fairpay__V1__Response resp_t;

/* The bound of PROTOCOL.md's spirit for a cache: a change committed on one
 * server is visible on the other within this (valgrind is slower). */
#define BOUND_MS 100

static struct {
	char *db;
	char *admin_key;
	h_server *srv[2];
	fp_client *admin;
	fp_client *a, *b; /* one vendor, on server 0 and on server 1 */
	char *vendor_id;
} T;

static int bound_ms(void)
{
	return h_slow() ? 20 * BOUND_MS : BOUND_MS;
}

static int setup(void **state)
{
	T.db = h_db_create("fp_it_cache");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv[0] = h_server_start(T.db, NULL);
	T.srv[1] = h_server_start(T.db, NULL);
	T.admin = h_connect_auth(T.srv[0], T.admin_key);
	char *key = NULL;
	T.a = h_vendor_client(T.srv[0], T.admin, "cache shop", &T.vendor_id, &key);
	T.b = h_connect_auth(T.srv[1], key);
	free(key);
	h_product(T.a, "basic", 1000, 1200);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.a);
	fp_client_free(T.b);
	fp_client_free(T.admin);
	h_server_free(T.srv[0]);
	h_server_free(T.srv[1]);
	free(T.vendor_id);
	free(T.admin_key);
	free(T.db);
	return 0;
}

static int payments_of(fp_client *c, const char *customer)
{
	resp_t *r = h_reputation(c, customer);
	int n = (int)r->get_reputation->reputation->payments;
	fp_response_free(r);
	return n;
}

/* Milliseconds until customer's payments read `want` through c; -1 if not
 * within 5 s. */
static long wait_payments(fp_client *c, const char *customer, int want)
{
	int64_t t0 = h_now_ms();
	while (h_now_ms() - t0 < 5000) {
		if (payments_of(c, customer) == want)
			return (long)(h_now_ms() - t0);
		h_sleep_ms(1);
	}
	return -1;
}

static void test_read_your_writes_and_the_bound(void **state)
{
	for (int round = 1; round <= 5; round++) {
		char customer[32];
		snprintf(customer, sizeof(customer), "rw-%d", round);
		/* Both servers hold the customer's row: the prior one. */
		assert_int_equal(payments_of(T.a, customer), 0);
		assert_int_equal(payments_of(T.b, customer), 0);
		assert_int_equal(payments_of(T.b, customer), 0);

		resp_t *r = h_cycle(T.a, customer, "basic", 1000);
		assert_int_equal(r->submit_payment->reputation->payments, 1);
		fp_response_free(r);
		/* The writer reads its own write at once. */
		assert_int_equal(payments_of(T.a, customer), 1);
		/* The other server drops its copy when the commit is announced. */
		long ms = wait_payments(T.b, customer, 1);
		print_message("round %d: server 1 saw the payment after %ld ms\n", round, ms);
		assert_true(ms >= 0);
		assert_true(ms <= bound_ms());
	}
}

static void test_offer_and_policy_seen_across(void **state)
{
	char *id = h_offer(T.a, "across", "basic");
	resp_t *r = NULL;
	h_assert_code(h_get_offer(T.b, id, &r), H_OK);
	assert_int_equal(r->get_offer->offer->status, H_STATUS(OPEN));
	fp_response_free(r);
	h_accept(T.a, id);
	assert_true(h_wait_offer_status(T.b, id, H_STATUS(ACCEPTED), bound_ms()));
	free(id);

	h_assert_code(h_get_policy(T.b, &r), H_OK);
	uint64_t version = (uint64_t)r->get_policy->policy->version;
	fp_response_free(r);
	Fairpay__V1__Policy p = FAIRPAY__V1__POLICY__INIT;
	p.prior_score_bp = 7000;
	p.opt_prior_score_bp_case = FAIRPAY__V1__POLICY__OPT_PRIOR_SCORE_BP_PRIOR_SCORE_BP;
	h_assert_code(h_put_policy(T.a, &p, false, NULL), H_OK);
	int64_t t0 = h_now_ms();
	bool seen = false;
	while (!seen && h_now_ms() - t0 <= bound_ms()) {
		h_assert_code(h_get_policy(T.b, &r), H_OK);
		seen = (uint64_t)r->get_policy->policy->version > version &&
		       r->get_policy->policy->prior_score_bp == 7000;
		fp_response_free(r);
		if (!seen)
			h_sleep_ms(1);
	}
	assert_true(seen);
	/* A customer never seen now starts from the new prior, on both. */
	r = h_reputation(T.b, "new-after-policy");
	assert_int_equal(r->get_reputation->reputation->score_bp, 7000);
	fp_response_free(r);
	/* Put it back for the other tests. */
	p.prior_score_bp = 8000;
	h_assert_code(h_put_policy(T.a, &p, false, NULL), H_OK);
}

static void test_changed_behind_its_back(void **state)
{
	/* A row changed by hand under both servers: a write decided on a
	 * cached copy is refused by the database's guard, read again and
	 * decided again; nothing wrong is written. */
	char *id = h_offer(T.a, "behind", "basic");
	resp_t *r = NULL;
	h_assert_code(h_get_offer(T.a, id, &r), H_OK); /* cached on server 0 */
	fp_response_free(r);
	char *sql = h_fmt("UPDATE offers SET status = 'DECLINED', closed_at = now()"
			  " WHERE vendor_id = '%s' AND id = '%s'",
			  T.vendor_id, id);
	free(h_sql(T.db, sql));
	free(sql);
	h_assert_code(h_accept_offer(T.a, id, NULL), H_PRECONDITION);
	h_assert_field("offer_id");
	sql = h_fmt("SELECT count(*) FROM events WHERE vendor_id = '%s' AND offer_id = '%s'"
		    " AND kind = 'OFFER_ACCEPTED'",
		    T.vendor_id, id);
	assert_int_equal(h_sql_int(T.db, sql), 0);
	free(sql);
	free(id);
}

static void test_dropped_when_the_database_goes(void **state)
{
	assert_int_equal(payments_of(T.b, "outage"), 0); /* cached on server 1 */
	/* Changed by hand: no server announces it, so server 1 still serves
	 * its copy... */
	char *sql = h_fmt("INSERT INTO reputations (vendor_id, customer_id, score_bp, payments)"
			  " VALUES ('%s', 'outage', 8000, 7)",
			  T.vendor_id);
	free(h_sql(T.db, sql));
	free(sql);
	assert_int_equal(payments_of(T.b, "outage"), 0);
	/* ...until the database goes away: then nothing cached is trusted. */
	h_pg_stop();
	h_sleep_ms(300);
	h_pg_start();
	int64_t t0 = h_now_ms();
	int n = -1;
	while (h_now_ms() - t0 < 10000) {
		resp_t *r = NULL;
		if (h_get_reputation(T.b, "outage", &r) == H_OK) {
			n = (int)r->get_reputation->reputation->payments;
			fp_response_free(r);
			if (n == 7)
				break;
		} else {
			fp_response_free(r);
		}
		h_sleep_ms(50);
	}
	assert_int_equal(n, 7);
}

static void test_clean_shutdown(void **state)
{
	assert_int_equal(h_server_stop(T.srv[0], 15), 0);
	assert_int_equal(h_server_stop(T.srv[1], 15), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_your_writes_and_the_bound),
		cmocka_unit_test(test_offer_and_policy_seen_across),
		cmocka_unit_test(test_changed_behind_its_back),
		cmocka_unit_test(test_dropped_when_the_database_goes),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
