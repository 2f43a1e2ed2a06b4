/* Integration tests of `fairpayctl reputation verify`: after real cycles
 * through fairpayd (payments, reviews, defaults, late payments, recurring
 * periods, credit in use) every stored reputation agrees with the history
 * (exit 0); a reputation row changed behind the server's back is reported
 * with its vendor, customer and field (exit 1), and only for its vendor. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct {
	h_world w; /* db, admin_key, srv, admin */
	char *v1;  /* payment window 1 s: defaults happen */
	char *v2;  /* default policy */
} T;

typedef Fairpay__V1__Response resp_t;

/* Run `fairpayctl reputation verify --db DB [extra]`; returns its exit
 * status and (when out is not NULL) its stdout and stderr. */
static int verify(const char *extra, char **out)
{
	char *ctl = h_ctl();
	char *db = h_shq(T.w.db);
	char *cmd = h_fmt("%s reputation verify --db %s %s 2>&1", ctl, db, extra ? extra : "");
	char *output = NULL;
	int rc = h_run(cmd, &output);
	print_message("$ fairpayctl reputation verify %s -> %d\n%s", extra ? extra : "", rc,
		      output);
	free(cmd);
	free(db);
	free(ctl);
	if (out != NULL)
		*out = output;
	else
		free(output);
	return rc;
}

static void sql(const char *fmt, const char *a, const char *b)
{
	char *s = h_fmt(fmt, a, b);
	free(h_sql(T.w.db, s));
	free(s);
}

static void pay_reasons(fp_client *c, const char *offer_id, int64_t amount, char **payment_id)
{
	Fairpay__V1__PaymentReason dnu[] = { H_PREASON(DID_NOT_USE) };
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = amount;
	m.reasons = dnu;
	m.n_reasons = 1;
	resp_t *r = NULL;
	h_must(h_submit_payment(c, &m, NULL, &r), "SubmitPayment");
	*payment_id = strdup(r->submit_payment->payment->payment_id);
	fp_response_free(r);
}

static bool wait_sql_zero(const char *query, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	while (h_sql_int(T.w.db, query) != 0) {
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(50);
	}
	return true;
}

/* A history with every kind of closed cycle, for two vendors. */
static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_verify", "--sweep-interval-ms", "100", NULL);
	fp_client *c1 = h_vendor_client(T.w.srv, T.w.admin, "verify one", &T.v1, NULL);
	fp_client *c2 = h_vendor_client(T.w.srv, T.w.admin, "verify two", &T.v2, NULL);
	h_product(c1, "basic", 1000, 1200);
	h_product(c2, "basic", 1000, 1200);
	Fairpay__V1__Product monthly = FAIRPAY__V1__PRODUCT__INIT;
	monthly.sku = "monthly";
	monthly.name = "Monthly";
	monthly.currency = "USD";
	monthly.suggested_price_minor = 1000;
	monthly.list_price_minor = 1200;
	monthly.period_days = 30;
	h_must(h_put_product(c2, &monthly, NULL), "PutProduct");

	/* v1 defaults 1 s after AcceptOffer. */
	Fairpay__V1__Policy pol = FAIRPAY__V1__POLICY__INIT;
	H_POLICY_SET(&pol, payment_window_seconds, PAYMENT_WINDOW_SECONDS, 1);
	h_must(h_put_policy(c1, &pol, false, NULL), "PutPolicy");

	/* v1: plain cycles, then a default paid late, and one left open. */
	fp_response_free(h_cycle(c1, "v-alice", "basic", 1000));
	fp_response_free(h_cycle(c1, "v-alice", "basic", 700));
	fp_response_free(h_cycle(c1, "v-alice", "basic", 1500));
	fp_response_free(h_cycle(c1, "v-carl", "basic", 900));
	char *late = h_offer(c1, "v-carl", "basic");
	h_accept(c1, late);
	char *open_default = h_offer(c1, "v-dina", "basic");
	h_accept(c1, open_default);

	/* v2: reviews both ways, a recurring product with a period in flight,
	 * credit in use, a declined offer. */
	char *pid = NULL;
	char *id = h_offer(c2, "w-bob", "basic");
	h_accept(c2, id);
	pay_reasons(c2, id, 100, &pid);
	h_must(h_review_payment(c2, pid, true, NULL, NULL), "ReviewPayment");
	free(pid);
	free(id);
	id = h_offer(c2, "w-bob", "basic");
	h_accept(c2, id);
	pay_reasons(c2, id, 200, &pid);
	h_must(h_review_payment(c2, pid, false, NULL, NULL), "ReviewPayment");
	free(pid);
	free(id);
	id = h_offer(c2, "w-bob", "basic");
	h_accept(c2, id);
	pay_reasons(c2, id, 300, &pid); /* left PENDING */
	free(pid);
	free(id);
	fp_response_free(h_cycle(c2, "w-ed", "monthly", 1000)); /* period 1 ACCEPTED */
	fp_response_free(h_cycle(c2, "w-gus", "basic", 1200));
	id = h_offer(c2, "w-gus", "basic");
	h_accept(c2, id); /* 1000 of credit in use */
	free(id);
	id = h_offer(c2, "w-gus", "basic");
	h_must(h_decline_offer(c2, id, NULL), "DeclineOffer");
	free(id);

	/* Wait for v1's defaults, then pay one of them late. */
	char *q = h_fmt("SELECT count(*) FROM offers WHERE vendor_id = '%s' AND status = "
			"'ACCEPTED'",
			T.v1);
	if (!wait_sql_zero(q, 3000))
		fail_msg("v1's accepted offers did not default within 3 s");
	free(q);
	resp_t *r = NULL;
	h_must(h_pay(c1, late, 1000, &r), "SubmitPayment");
	assert_true(r->submit_payment->payment->late);
	fp_response_free(r);
	free(late);
	free(open_default);
	fp_client_free(c1);
	fp_client_free(c2);
	return 0;
}

static int teardown(void **state)
{
	free(T.v1);
	free(T.v2);
	h_world_stop(&T.w);
	return 0;
}

static void test_consistent(void **state)
{
	char *out = NULL;
	int rc = verify(NULL, &out);
	if (rc != 0)
		fail_msg("verify exited %d on a consistent database:\n%s", rc, out);
	free(out);
	char *one = h_fmt("--vendor %s", T.v1);
	assert_int_equal(verify(one, NULL), 0);
	free(one);
	rc = verify("--json", &out);
	assert_int_equal(rc, 0);
	assert_true(h_contains(out, "\"checked\""));
	assert_true(h_contains(out, "\"differences\":[]"));
	free(out);
}

/* Change one column of one reputation, check verify names it, undo. */
static void corrupt(const char *vendor, const char *customer, const char *column,
		    const char *change, const char *undo, const char *other_vendor)
{
	char *set =
		h_fmt("UPDATE reputations SET %s = %s WHERE vendor_id = '%%s' AND customer_id = "
		      "'%%s'",
		      column, change);
	sql(set, vendor, customer);
	free(set);

	char *out = NULL;
	int rc = verify(NULL, &out);
	if (rc != 1)
		fail_msg("verify exited %d with %s of %s/%s changed:\n%s", rc, column, vendor,
			 customer, out);
	/* One line naming vendor, customer and field. */
	bool named = false;
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (h_contains(line, vendor) && h_contains(line, customer) &&
		    h_contains(line, column))
			named = true;
	if (!named)
		fail_msg("verify did not name %s %s %s in one line", vendor, customer, column);
	free(out);

	char *mine = h_fmt("--vendor %s", vendor);
	assert_int_equal(verify(mine, NULL), 1);
	free(mine);
	char *theirs = h_fmt("--vendor %s", other_vendor);
	assert_int_equal(verify(theirs, NULL), 0);
	free(theirs);

	set = h_fmt(
		"UPDATE reputations SET %s = %s WHERE vendor_id = '%%s' AND customer_id = '%%s'",
		column, undo);
	sql(set, vendor, customer);
	free(set);
	assert_int_equal(verify(NULL, NULL), 0);
}

static void test_score_changed(void **state)
{
	corrupt(T.v1, "v-alice", "score_bp", "score_bp + 1", "score_bp - 1", T.v2);
}

static void test_late_history_score_changed(void **state)
{
	corrupt(T.v1, "v-carl", "score_bp", "score_bp - 1", "score_bp + 1", T.v2);
}

static void test_counters_changed(void **state)
{
	corrupt(T.v2, "w-gus", "credit_used_minor", "credit_used_minor + 1000",
		"credit_used_minor - 1000", T.v1);
	corrupt(T.v1, "v-dina", "open_defaults", "open_defaults - 1", "open_defaults + 1", T.v2);
	corrupt(T.v2, "w-bob", "payments", "payments + 1", "payments - 1", T.v1);
}

static void test_missing_row(void **state)
{
	sql("CREATE TABLE verify_backup AS SELECT * FROM reputations WHERE vendor_id = '%s' AND "
	    "customer_id = '%s'",
	    T.v2, "w-ed");
	sql("DELETE FROM reputations WHERE vendor_id = '%s' AND customer_id = '%s'", T.v2, "w-ed");
	char *out = NULL;
	int rc = verify(NULL, &out);
	assert_int_equal(rc, 1);
	assert_true(h_contains(out, "w-ed"));
	free(out);
	sql("INSERT INTO reputations SELECT * FROM verify_backup%s%s", "", "");
	sql("DROP TABLE verify_backup%s%s", "", "");
	assert_int_equal(verify(NULL, NULL), 0);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_consistent),
		cmocka_unit_test(test_score_changed),
		cmocka_unit_test(test_late_history_score_changed),
		cmocka_unit_test(test_counters_changed),
		cmocka_unit_test(test_missing_row),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
