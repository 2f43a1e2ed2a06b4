/* Integration tests of `fairpayctl simulate` as an operator runs it: the
 * built binary, no server and no database; its JSON (deterministic for a
 * seed, pinned figures, a final newline), its SVG chart (xmllint parses it,
 * rsvg-convert renders it), its help and its usage errors (exit 2). */
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
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The command line of the figures in docs/fairpay.md. */
#define DOC_RUN \
	"simulate --population fair=60,generous=10,free_rider=20,gamer=10 --cycles 50 --seed 1"

/* Run fairpayctl with args; returns the exit status, stdout (and stderr,
 * with err2out) in *out. */
static int ctl(char **out, bool err2out, const char *args)
{
	char *bin = h_ctl();
	char *cmd = h_fmt("%s %s%s", bin, args, err2out ? " 2>&1" : "");
	char *o = NULL;
	int rc = h_run(cmd, &o);
	print_message("$ %s -> %d\n", cmd, rc);
	free(cmd);
	free(bin);
	*out = o;
	return rc;
}

static void test_simulate_json(void **state)
{
	(void)state;
	char *a = NULL, *b = NULL;
	assert_int_equal(ctl(&a, false, DOC_RUN " --json"), 0);
	assert_int_equal(ctl(&b, false, DOC_RUN " --json"), 0);
	/* the same seed gives the same figures, byte for byte */
	assert_string_equal(a, b);
	size_t n = strlen(a);
	assert_true(n > 2 && a[0] == '{' && strcmp(a + n - 2, "}\n") == 0);
	assert_true(h_contains(a, "\"population\":{\"fair\":60,\"generous\":10,\"free_rider\":20,"
				  "\"gamer\":10}"));
	assert_true(h_contains(a, "{\"type\":\"free_rider\",\"customers\":20,\"identities\":20,"
				  "\"walkaway\":0,\"fairpay\":{\"revenue_minor\":490000,"));
	assert_true(h_contains(a, "\"free_rider_bound\":{\"bounded\":true,\"zero_payment_offers\":"
				  "2,\"loss_bound_minor\":2000,\"probation_credit_minor\":2000,"
				  "\"observed_max_loss_minor\":2000}"));
	assert_true(h_contains(a, "{\"type\":\"gamer\",\"customers\":10,\"identities\":250,"));
	free(b);
	/* another seed, other figures */
	assert_int_equal(ctl(&b, false,
			     "simulate --population fair=60,generous=10,free_rider=20,gamer=10 "
			     "--cycles 50 --seed 2 --json"),
			 0);
	assert_true(strcmp(a, b) != 0);
	free(a);
	free(b);
}

static void test_simulate_table_and_svg(void **state)
{
	(void)state;
	char *svg = h_path(h_tmp_dir(), "simulate.svg");
	char *png = h_path(h_tmp_dir(), "simulate.png");
	char *qsvg = h_shq(svg), *qpng = h_shq(png);
	char *args = h_fmt(DOC_RUN " --walkaway 20 --svg %s", qsvg);
	char *out = NULL;
	unlink(svg);
	assert_int_equal(ctl(&out, false, args), 0);
	assert_true(h_contains(out, "100 customers, 50 cycles, seed 1; SP 10.00 EUR, set price "
				    "10.00 EUR, walk-away 20%"));
	assert_true(h_contains(out, "observed max loss per free-rider id: 20.00 EUR\n"));
	/* the totals docs/fairpay.md quotes for this command line */
	assert_true(h_contains(out, "total       100        340  40063.27 EUR  400.63 EUR  "
				    "36388.27 EUR  363.88 EUR  35000.00 EUR  350.00 EUR"));
	free(out);
	char *check = h_fmt("xmllint --noout %s && rsvg-convert -o %s %s", qsvg, qpng, qsvg);
	assert_int_equal(h_run(check, NULL), 0);
	struct stat st;
	assert_int_equal(stat(png, &st), 0);
	assert_true(st.st_size > 1000);
	/* an unwritable chart is an error, after the figures */
	assert_int_equal(ctl(&out, true, DOC_RUN " --svg /nonexistent/dir/x.svg"), 1);
	assert_true(h_contains(out, "cannot write /nonexistent/dir/x.svg"));
	free(out);
	free(check);
	free(args);
	free(qsvg);
	free(qpng);
	free(svg);
	free(png);
}

static void test_simulate_usage(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(ctl(&out, true, "simulate --population fair=50"), 2);
	assert_true(h_contains(out, "--population: the shares sum to 50%, not 100%"));
	assert_true(h_contains(out, "Try 'fairpayctl simulate --help'."));
	free(out);
	assert_int_equal(ctl(&out, true, "simulate --population fair=50,cheat=50"), 2);
	assert_true(h_contains(out, "unknown customer type 'cheat'"));
	free(out);
	assert_int_equal(ctl(&out, true, "simulate --cycles -3"), 2);
	assert_true(h_contains(out, "--cycles needs a whole number between 1 and 10000"));
	free(out);
	assert_int_equal(ctl(&out, true, "simulate fair_score_bp=99999"), 2);
	assert_true(h_contains(out, "out of range at 'fair_score_bp'"));
	free(out);
	/* a flag before the command word is the simulator's too */
	assert_int_equal(ctl(&out, false, "--json simulate --cycles 2 --customers 1"), 0);
	assert_true(out[0] == '{' && h_contains(out, "\"cycles\":2,"));
	free(out);
	assert_int_equal(ctl(&out, false, "simulate --help"), 0);
	assert_true(h_contains(out, "Usage: fairpayctl simulate"));
	free(out);
	assert_int_equal(ctl(&out, false, "--help"), 0);
	assert_true(h_contains(out, "  simulate "));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulate_json),
		cmocka_unit_test(test_simulate_table_and_svg),
		cmocka_unit_test(test_simulate_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
