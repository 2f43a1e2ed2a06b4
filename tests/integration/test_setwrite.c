/* Integration tests of set writes: the cycle changes that wait together
 * travel as one statement per group (db_write_set()). Pipelined calls of
 * many customers, two of each customer in one burst, are all stored
 * exactly once and the statements carried several changes each; a change
 * whose rows the database refuses fails alone, and the others of its
 * statement are stored all the same. */
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
#include "keyed_load.h"

#define CUSTOMERS 24

static struct {
	h_world w; /* db, admin_key, srv, admin */
	char admin_port[16];
	fp_client *v;
	char *vendor_id;
} T;

static int setup(void **state)
{
	h_free_port(T.admin_port, sizeof(T.admin_port));
	char *listen = h_fmt("127.0.0.1:%s", T.admin_port);
	/* One worker: every call shares its pool, and so its groups. */
	h_world_start(&T.w, "fp_it_setwrite", "--workers", "1", "--admin-listen", listen, NULL);
	free(listen);
	char *key = NULL;
	T.v = h_vendor_client(T.w.srv, T.w.admin, "set shop", &T.vendor_id, &key);
	free(key);
	h_product(T.v, "basic", 1000, 1200);
	return 0;
}

static int teardown(void **state)
{
	fp_client_free(T.v);
	free(T.vendor_id);
	h_world_stop(&T.w);
	return 0;
}

/* Send a CreateOffer for each customer at once on one connection, then
 * read every reply; codes[i] is the code of customers[i]'s. */
static void burst(const char *const *customers, int n, int *codes)
{
	for (int i = 0; i < n; i++) {
		Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
		m.customer_id = (char *)customers[i];
		m.sku = "basic";
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.id = (uint64_t)i + 1;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER;
		req.create_offer = &m;
		uint64_t sent = 0;
		if (fp_client_send(T.v, &req, &sent) != 0)
			fail_msg("send %d: %s", i, fp_client_error_message(T.v));
	}
	for (int i = 0; i < n; i++) {
		Fairpay__V1__Response *r = NULL;
		if (fp_client_recv(T.v, &r) != 0)
			fail_msg("reply %d: %s", i, fp_client_error_message(T.v));
		assert_true(r->id >= 1 && r->id <= (uint64_t)n);
		codes[r->id - 1] = r->status ? (int)r->status->code : 0;
		fp_response_free(r);
	}
}

static long long rows(const char *sql_fmt, const char *customer_like)
{
	char *sql = h_fmt(sql_fmt, T.vendor_id, customer_like);
	long long n = h_sql_int(T.w.db, sql);
	free(sql);
	return n;
}

static void test_a_burst_shares_statements(void **state)
{
	double stmts0 = h_metric(T.admin_port, "fairpay_db_set_statements_total");
	double items0 = h_metric(T.admin_port, "fairpay_db_set_items_total");
	assert_true(stmts0 >= 0 && items0 >= 0);
	/* Two offers for each customer, both in the same burst. */
	char names[CUSTOMERS][32];
	const char *customers[2 * CUSTOMERS];
	int codes[2 * CUSTOMERS];
	for (int i = 0; i < CUSTOMERS; i++) {
		snprintf(names[i], sizeof(names[i]), "set-%02d", i);
		customers[2 * i] = customers[2 * i + 1] = names[i];
	}
	burst(customers, 2 * CUSTOMERS, codes);
	for (int i = 0; i < 2 * CUSTOMERS; i++)
		if (codes[i] != FAIRPAY__V1__CODE__OK)
			fail_msg("CreateOffer for %s answered %s", customers[i],
				 h_code_name(codes[i]));
	const char *each = "SELECT count(*) FROM (SELECT customer_id FROM offers WHERE vendor_id = "
			   "'%s' AND customer_id LIKE '%s' GROUP BY customer_id HAVING count(*) = "
			   "2) c";
	assert_int_equal(rows(each, "set-%"), CUSTOMERS);
	assert_int_equal(rows("SELECT count(*) FROM events WHERE vendor_id = '%s' AND customer_id "
			      "LIKE '%s' AND kind = 'OFFER_CREATED'",
			      "set-%"),
			 2 * CUSTOMERS);
	assert_int_equal(rows("SELECT count(*) FROM reputations WHERE vendor_id = '%s' AND "
			      "customer_id LIKE '%s'",
			      "set-%"),
			 CUSTOMERS);
	kl_check_verify(T.w.db);
	assert_int_equal(kl_violations(), 0);

	double stmts = h_metric(T.admin_port, "fairpay_db_set_statements_total") - stmts0;
	double items = h_metric(T.admin_port, "fairpay_db_set_items_total") - items0;
	print_message("%.0f changes (retries included) in %.0f statements\n", items, stmts);
	/* Every offer is an item; a second offer of a customer waits for the
	 * next group, where its guard finds the first and it is retried:
	 * another item. */
	assert_true(items >= 2 * CUSTOMERS);
	assert_true(stmts < items);
}

static void test_a_refused_change_fails_alone(void **state)
{
	/* The database refuses the offer of one customer only. */
	free(h_sql(T.w.db, "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
			   "IF NEW.customer_id = 'bad-00' THEN RAISE EXCEPTION 'poisoned'; END IF; "
			   "RETURN NEW; END $$"));
	free(h_sql(T.w.db, "CREATE TRIGGER poison BEFORE INSERT ON offers FOR EACH ROW EXECUTE "
			   "FUNCTION poison()"));
	char names[CUSTOMERS][32];
	const char *customers[CUSTOMERS];
	int codes[CUSTOMERS];
	for (int i = 0; i < CUSTOMERS; i++) {
		snprintf(names[i], sizeof(names[i]), "bad-%02d", i);
		customers[i] = names[i];
	}
	burst(customers, CUSTOMERS, codes);
	assert_int_equal(codes[0], FAIRPAY__V1__CODE__INTERNAL);
	for (int i = 1; i < CUSTOMERS; i++)
		if (codes[i] != FAIRPAY__V1__CODE__OK)
			fail_msg("CreateOffer for %s answered %s", customers[i],
				 h_code_name(codes[i]));
	/* Nothing of the refused change, all of the others. */
	const char *offers = "SELECT count(*) FROM offers WHERE vendor_id = '%s' AND customer_id "
			     "LIKE '%s'";
	const char *reps = "SELECT count(*) FROM reputations WHERE vendor_id = '%s' AND "
			   "customer_id LIKE '%s'";
	const char *events = "SELECT count(*) FROM events WHERE vendor_id = '%s' AND customer_id "
			     "LIKE '%s'";
	assert_int_equal(rows(offers, "bad-00"), 0);
	assert_int_equal(rows(reps, "bad-00"), 0);
	assert_int_equal(rows(events, "bad-00"), 0);
	assert_int_equal(rows(offers, "bad-%"), CUSTOMERS - 1);
	assert_int_equal(rows(reps, "bad-%"), CUSTOMERS - 1);
	assert_int_equal(rows(events, "bad-%"), CUSTOMERS - 1);

	/* Once the database takes it, the same call works. */
	free(h_sql(T.w.db, "DROP TRIGGER poison ON offers"));
	free(h_sql(T.w.db, "DROP FUNCTION poison()"));
	char *id = h_offer(T.v, "bad-00", "basic");
	free(id);
	assert_int_equal(rows(offers, "bad-00"), 1);
	kl_check_verify(T.w.db);
	assert_int_equal(kl_violations(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_burst_shares_statements),
		cmocka_unit_test(test_a_refused_change_fails_alone),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
