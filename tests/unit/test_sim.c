/* Unit tests of the offline simulator (client/ctl/ctl_sim.c) and of
 * `fairpayctl simulate`'s command line and outputs (ctl_simulate.c): a run
 * whose totals are pinned (any change of the rules or of the behaviour
 * shows here), a population worked out by hand, the free-rider bound over
 * 200 seeds, and the refusals of bad arguments.
 *
 * As in test_ctl_args.c, the fairpayctl modules are compiled in by including
 * their sources (unit tests link the server's objects only: fp_rules and the
 * protobuf names come from there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../client/ctl/ctl_args.c"
#include "../../client/ctl/ctl_cert.c"
#include "../../client/ctl/ctl_chart.c"
#include "../../client/ctl/ctl_enum.c"
#include "../../client/ctl/ctl_out.c"
#include "../../client/ctl/ctl_sim.c"
#include "../../client/ctl/ctl_simulate.c"

static char E[512];

/* Parse a NULL-terminated list of words after `simulate`. */
static int parse_v(ctl_simulate_opts *o, const char *const *words)
{
	char *argv[32];
	int argc = 0;
	while (words[argc] != NULL && argc < 31) {
		argv[argc] = (char *)words[argc];
		argc++;
	}
	E[0] = '\0';
	return ctl_simulate_parse(argc, argv, o, E, sizeof(E));
}
#define PARSE(o, ...) parse_v(o, (const char *const[]){ __VA_ARGS__, NULL })

/* The population of the pinned run: every type. */
#define ALL_TYPES "fair=40,generous=10,low=10,free_rider=10,excuser=10,defaulter=10,gamer=10"

static void test_sim_pinned_run(void **state)
{
	(void)state;
	ctl_simulate_opts o;
	ctl_sim_result r;
	assert_int_equal(PARSE(&o, "--population", ALL_TYPES, "--customers", "140", "--cycles",
			       "40", "--seed", "42", "--walkaway", "20"),
			 0);
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	const ctl_sim_row *t = &r.total;
	assert_int_equal(t->customers, 140);
	assert_int_equal(t->identities, 406);
	assert_int_equal(t->walkaway, 32);
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].revenue_minor, 4203744);
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].purchases, 5410);
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].loss_minor, 1462733);
	assert_int_equal(t->by[CTL_SIM_PWYW].revenue_minor, 3363672);
	assert_int_equal(t->by[CTL_SIM_PWYW].loss_minor, 2492805);
	assert_int_equal(t->by[CTL_SIM_SET].revenue_minor, 4320000);
	assert_int_equal(t->by[CTL_SIM_SET].purchases, 4320);
	assert_int_equal(r.reviews_accepted, 14);
	assert_int_equal(r.reviews_rejected, 538);
	assert_int_equal(r.defaults, 28);
	assert_int_equal(r.type[CTL_SIM_FAIR].by[CTL_SIM_FAIRPAY].revenue_minor, 2246634);
	assert_int_equal(r.type[CTL_SIM_LOW].by[CTL_SIM_FAIRPAY].revenue_minor, 305054);
	assert_int_equal(r.type[CTL_SIM_EXCUSER].by[CTL_SIM_FAIRPAY].revenue_minor, 270074);
	assert_int_equal(r.type[CTL_SIM_DEFAULTER].by[CTL_SIM_FAIRPAY].revenue_minor, 418000);
	assert_int_equal(r.type[CTL_SIM_FREE_RIDER].by[CTL_SIM_FAIRPAY].revenue_minor, 234000);
	assert_int_equal(r.type[CTL_SIM_GAMER].identities, 280);
	/* fair and generous customers pay the same under FairPay and PWYW */
	assert_int_equal(r.type[CTL_SIM_GENEROUS].by[CTL_SIM_FAIRPAY].revenue_minor, 729982);
	assert_int_equal(r.type[CTL_SIM_GENEROUS].by[CTL_SIM_PWYW].revenue_minor, 729982);
	/* the tier mix: everyone starts on probation */
	assert_int_equal(r.tiers[FP_TIER_PROBATION], 140);
	const int64_t *last = r.tiers + (size_t)39 * CTL_SIM_TIERS;
	assert_int_equal(last[FP_TIER_FIXED_PRICE], 16);
	assert_int_equal(last[FP_TIER_RESTRICTED], 40);
	assert_int_equal(last[FP_TIER_PROBATION], 14);
	assert_int_equal(last[FP_TIER_STANDARD], 0);
	assert_int_equal(last[FP_TIER_TRUSTED], 70);
	ctl_sim_result_free(&r);

	/* the same seed, the same run; another seed, another one */
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	assert_int_equal(r.total.by[CTL_SIM_FAIRPAY].revenue_minor, 4203744);
	ctl_sim_result_free(&r);
	o.sim.seed = 43;
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	assert_true(r.total.by[CTL_SIM_FAIRPAY].revenue_minor != 4203744);
	ctl_sim_result_free(&r);
}

/* Ten free riders, five cycles, SP 10.00, list price 12.00, by hand with the
 * default policy (prior 8000, alpha 3000, low 5000, probation 3 payments,
 * restricted minimum 50%):
 *   1: PROBATION, FAIRPAY, pays 0: score 8000 - 2400 = 5600
 *   2: PROBATION, FAIRPAY, pays 0: 5600 - 1680 = 3920 (< 5000)
 *   3: FIXED_PRICE, SET_PRICE 1200, paid: 3920 + 1824 = 5744, 3 payments
 *   4: RESTRICTED, minimum 500, paid: fairness 5000, 5744 - 223 = 5521
 *   5: RESTRICTED, minimum 500, paid.
 * FairPay: 2200 each, loss 1000 + 1000 + 500 + 500 = 3000; PWYW: 0, loss
 * 5 * 1000; set prices: 5 * 1200. */
static void test_sim_by_hand(void **state)
{
	(void)state;
	ctl_simulate_opts o;
	ctl_sim_result r;
	assert_int_equal(PARSE(&o, "--population", "free_rider=100", "--customers", "10",
			       "--cycles", "5", "--list-price", "1200"),
			 0);
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	const ctl_sim_row *t = &r.type[CTL_SIM_FREE_RIDER];
	assert_int_equal(t->customers, 10);
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].revenue_minor, 10 * 2200);
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].loss_minor, 10 * 3000);
	assert_int_equal(t->by[CTL_SIM_PWYW].revenue_minor, 0);
	assert_int_equal(t->by[CTL_SIM_PWYW].loss_minor, 10 * 5 * 1000);
	assert_int_equal(t->by[CTL_SIM_SET].revenue_minor, 10 * 5 * 1200);
	assert_int_equal(t->max_identity_loss_minor, 2000);
	assert_true(r.bounded);
	assert_int_equal(r.bound_cycles, 2);
	assert_int_equal(r.bound_minor, 2000);
	assert_int_equal(r.tiers[2 * CTL_SIM_TIERS + FP_TIER_FIXED_PRICE], 10);
	assert_int_equal(r.tiers[4 * CTL_SIM_TIERS + FP_TIER_RESTRICTED], 10);
	ctl_sim_result_free(&r);

	/* Everyone walks away from prices: nothing but the two free rides. */
	assert_int_equal(PARSE(&o, "--population", "free_rider=100", "--customers", "10",
			       "--cycles", "5", "--walkaway", "100"),
			 0);
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	t = &r.type[CTL_SIM_FREE_RIDER];
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].revenue_minor, 0);
	assert_int_equal(t->by[CTL_SIM_FAIRPAY].purchases, 10 * 2);
	assert_int_equal(t->by[CTL_SIM_SET].revenue_minor, 0);
	assert_int_equal(t->by[CTL_SIM_SET].purchases, 0);
	ctl_sim_result_free(&r);

	/* Defaulters under PWYW: every cycle accepted and defaulted. */
	assert_int_equal(
		PARSE(&o, "--population", "defaulter=100", "--customers", "3", "--cycles", "4"), 0);
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	t = &r.type[CTL_SIM_DEFAULTER];
	assert_int_equal(t->by[CTL_SIM_PWYW].revenue_minor, 0);
	assert_int_equal(t->by[CTL_SIM_PWYW].loss_minor, 3 * 4 * 1000);
	assert_int_equal(t->by[CTL_SIM_SET].revenue_minor, 3 * 4 * 1000);
	/* two defaults (scores 5600, 3920) make FIXED_PRICE: then set prices */
	assert_int_equal(t->max_identity_loss_minor, 2000);
	assert_int_equal(r.defaults, 3 * 2);
	ctl_sim_result_free(&r);
}

/* Whatever the draws, a free rider's id never takes more for nothing than
 * the bound the policy gives, and neither does any gamer's id. */
static void test_sim_free_rider_bound(void **state)
{
	(void)state;
	ctl_simulate_opts o;
	for (int seed = 1; seed <= 200; seed++) {
		char s[16], w[16];
		snprintf(s, sizeof(s), "%d", seed);
		snprintf(w, sizeof(w), "%d", seed % 101);
		assert_int_equal(PARSE(&o, "--population", ALL_TYPES, "--customers", "70",
				       "--cycles", "30", "--seed", s, "--walkaway", w),
				 0);
		ctl_sim_result r;
		assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
		assert_true(r.bounded);
		assert_int_equal(r.bound_minor, o.sim.policy.probation_credit_minor);
		assert_true(r.type[CTL_SIM_FREE_RIDER].max_identity_loss_minor <= r.bound_minor);
		assert_true(r.type[CTL_SIM_GAMER].max_identity_loss_minor <= r.bound_minor);
		assert_true(r.type[CTL_SIM_FREE_RIDER].max_identity_loss_minor > 0);
		ctl_sim_result_free(&r);
	}
	/* The bound follows the policy: a slower score takes three zero
	 * payments to fall below low_score_bp (8000, 6400, 5120, 4096). */
	int32_t n = 0;
	int64_t loss = 0;
	fp_policy p;
	fp_policy_defaults(&p);
	p.alpha_bp = 2000;
	p.probation_credit_minor = 5000;
	fp_product pr = { 1000, 1000, 0, FP_TIER_UNSPECIFIED };
	assert_true(ctl_sim_bound(&p, &pr, 100, &n, &loss));
	assert_int_equal(n, 3);
	assert_int_equal(loss, 3000);
	/* an SP above the probation credit: no free ride at all */
	pr.suggested_price_minor = 6000;
	assert_true(ctl_sim_bound(&p, &pr, 100, &n, &loss));
	assert_int_equal(n, 0);
	/* no floor and no minimum: a zero payer is never stopped */
	p.low_score_bp = 0;
	p.restricted_minimum_bp = 0;
	pr.suggested_price_minor = 1000;
	assert_false(ctl_sim_bound(&p, &pr, 100, &n, &loss));
	assert_int_equal(n, 100);
}

static void test_sim_bad_arguments(void **state)
{
	(void)state;
	ctl_simulate_opts o;
	assert_int_equal(PARSE(&o, "--population", "fair=50,bogus=50"), -1);
	assert_string_equal(E, "--population: unknown customer type 'bogus' (types: fair, "
			       "generous, low, free_rider, excuser, defaulter, gamer)");
	assert_int_equal(PARSE(&o, "--population", "fair=60,gamer=30"), -1);
	assert_string_equal(E, "--population: the shares sum to 90%, not 100%");
	assert_int_equal(PARSE(&o, "--population", "fair=60,fair=40"), -1);
	assert_string_equal(E, "--population: 'fair' is given twice");
	assert_int_equal(PARSE(&o, "--population", "fair"), -1);
	assert_int_equal(PARSE(&o, "--population", "fair=-10,gamer=110"), -1);
	assert_int_equal(PARSE(&o, "--cycles", "-1"), -1);
	assert_string_equal(E, "--cycles needs a whole number between 1 and 10000, not '-1'");
	assert_int_equal(PARSE(&o, "--cycles", "0"), -1);
	assert_int_equal(PARSE(&o, "--customers", "1000001"), -1);
	assert_int_equal(PARSE(&o, "--customers", "1000000", "--cycles", "10000"), -1);
	assert_int_equal(PARSE(&o, "--walkaway", "101"), -1);
	assert_int_equal(PARSE(&o, "--sp", "-5"), -1);
	assert_int_equal(PARSE(&o, "--currency", "euro"), -1);
	assert_int_equal(PARSE(&o, "--svg"), -1);
	assert_string_equal(E, "--svg needs a value");
	assert_int_equal(PARSE(&o, "--bogus"), -1);
	assert_int_equal(PARSE(&o, "stray"), -1);
	/* policy overrides: the keys of `policy set`, checked as PutPolicy does */
	assert_int_equal(PARSE(&o, "nosuch_bp=1"), -1);
	assert_string_equal(E, "unknown policy key 'nosuch_bp'");
	assert_int_equal(PARSE(&o, "alpha_bp=0"), -1);
	assert_string_equal(E, "the policy is out of range at 'alpha_bp' (see 'fairpayctl "
			       "policy set --help')");
	assert_int_equal(PARSE(&o, "low_score_bp=9000"), -1);
	assert_int_equal(PARSE(&o, "probation_credit_minor=5000", "excusing_reasons=other",
			       "--sp=700", "--seed=9"),
			 0);
	assert_int_equal(o.sim.policy.probation_credit_minor, 5000);
	assert_int_equal(o.sim.policy.excusing_reasons, FP_REASON_BIT(FP_PAYMENT_REASON_OTHER));
	assert_int_equal(o.sim.product.suggested_price_minor, 700);
	assert_int_equal(o.sim.product.list_price_minor, 700);
	assert_int_equal((int)o.sim.seed, 9);
	assert_int_equal(PARSE(&o, "--help"), 0);
	assert_true(o.help);
	/* the engine refuses what the command line would */
	ctl_sim_config c;
	ctl_sim_result r;
	ctl_sim_defaults(&c);
	c.share[CTL_SIM_FAIR] = 90;
	assert_int_equal(ctl_sim_run(&c, &r), -1);
	ctl_sim_defaults(&c);
	c.cycles = -1;
	assert_int_equal(ctl_sim_run(&c, &r), -1);
}

static size_t count_bars(const char *svg)
{
	size_t n = 0;
	for (const char *p = strstr(svg, "<rect class=\"bar\""); p != NULL;
	     p = strstr(p + 1, "<rect class=\"bar\""))
		n++;
	return n;
}

static void test_sim_outputs(void **state)
{
	(void)state;
	ctl_simulate_opts o;
	ctl_sim_result r;
	char b[MONEY_TEXT_LEN];
	assert_string_equal(ctl_simulate_money(123456789, "EUR", b), "1234567.89 EUR");
	assert_string_equal(ctl_simulate_money(-5, "USD", b), "-0.05 USD");
	assert_string_equal(ctl_simulate_money(0, "EUR", b), "0.00 EUR");
	assert_string_equal(ctl_simulate_money(1000, "JPY", b), "1000 JPY");

	assert_int_equal(PARSE(&o, "--population", "free_rider=100", "--customers", "10",
			       "--cycles", "5", "--list-price", "1200", "--currency", "USD"),
			 0);
	assert_int_equal(ctl_sim_run(&o.sim, &r), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	ctl_simulate_json(f, &o, &r);
	fclose(f);
	assert_true(len > 0 && buf[len - 1] == '\n');
	assert_non_null(strstr(buf, "{\"type\":\"free_rider\",\"customers\":10,\"identities\":10,"
				    "\"walkaway\":0,\"fairpay\":{\"revenue_minor\":22000,"
				    "\"per_customer_minor\":2200,\"purchases\":50,"
				    "\"loss_minor\":30000}"));
	assert_non_null(strstr(buf, "\"free_rider_bound\":{\"bounded\":true,\"zero_payment_"
				    "offers\":2,\"loss_bound_minor\":2000,"));
	assert_non_null(strstr(buf, "{\"cycle\":3,\"fixed_price\":10,"));
	free(buf);

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	ctl_simulate_print(f, &o, &r);
	fclose(f);
	assert_non_null(strstr(buf, "free_rider  10         10   220.00 USD  22.00 USD"));
	assert_non_null(strstr(buf, "loss bound per id: 20.00 USD (the policy gives a customer "
				    "who never pays 2 FairPay offers of SP 10.00 USD)"));
	assert_null(strstr(buf, "above the bound"));
	assert_non_null(strstr(buf, "observed max loss per free-rider id: 20.00 USD\n"));
	free(buf);

	char dir[] = "/tmp/test_sim.XXXXXX", path[64], cmd[400];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sim.svg", dir);
	assert_int_equal(ctl_simulate_svg(path, &o, &r), 0);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s' && rsvg-convert -o '%s.png' '%s'", path,
		 path, path);
	assert_int_equal(system(cmd), 0);
	ctl_sim_result_free(&r);
	f = fopen(path, "r");
	assert_non_null(f);
	static char svg[1 << 18];
	size_t n = fread(svg, 1, sizeof(svg) - 1, f);
	fclose(f);
	svg[n] = '\0';
	/* revenue: 2 groups (free_rider, all) x 3; loss 2 x 2; tiers 5 cycles x 5 */
	assert_int_equal(count_bars(svg), 2 * 3 + 2 * 2 + 5 * 5);
	assert_non_null(strstr(svg, "<title>free_rider, FairPay: 22.00</title>"));
	char png[80];
	snprintf(png, sizeof(png), "%s.png", path);
	struct stat st;
	assert_int_equal(stat(png, &st), 0);
	assert_true(st.st_size > 1000);
	unlink(png);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_pinned_run),
		cmocka_unit_test(test_sim_by_hand),
		cmocka_unit_test(test_sim_free_rider_bound),
		cmocka_unit_test(test_sim_bad_arguments),
		cmocka_unit_test(test_sim_outputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
