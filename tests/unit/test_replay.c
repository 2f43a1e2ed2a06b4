/* Unit tests of the what-if replay (fp_replay*, server/rules/fp_rules.c):
 * a recorded history replayed under the current and under candidate
 * policies, with the numbers worked out by hand in the comments, and a
 * measure of the replay's speed (payments replayed per second, printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the headers above first. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fp_rules.h"

#define BIT(r) FP_REASON_BIT(FP_PAYMENT_REASON_##r)

/* The history every test replays, in time order. */
static const fp_history_entry history[] = {
	/* excused when it was paid (DID_NOT_USE), still pending */
	{ .raw_fairness_bp = 5000, .reasons = BIT(DID_NOT_USE), .review = FP_REVIEW_PENDING },
	/* a generous payment: 12000 */
	{ .raw_fairness_bp = 12000, .review = FP_REVIEW_NOT_NEEDED },
	/* a default still open: 0 */
	{ .open_default = true },
	/* reviewed and rejected: the raw 3000 whatever the policy */
	{ .raw_fairness_bp = 3000, .reasons = BIT(POOR_QUALITY), .review = FP_REVIEW_REJECTED },
	/* reviewed and accepted, late: max(6000, 10000) less the late penalty */
	{ .raw_fairness_bp = 6000,
	  .reasons = BIT(TECHNICAL_PROBLEM),
	  .review = FP_REVIEW_ACCEPTED,
	  .late = true },
	/* CANNOT_AFFORD excuses nothing by default */
	{ .raw_fairness_bp = 4000, .reasons = BIT(CANNOT_AFFORD), .review = FP_REVIEW_NOT_NEEDED },
};
#define N_HISTORY (sizeof(history) / sizeof(history[0]))

static void test_replay_defaults(void **state)
{
	(void)state;
	fp_policy p;
	fp_policy_defaults(&p);
	/* 8000 -> f 8000 (excused to the floor): 8000
	 *      -> f 12000: 8000 + 4000*3000/10000 = 9200
	 *      -> f 0: 9200 - 2760 = 6440
	 *      -> f 3000: 6440 + (-3440*3000)/10000 = 6440 - 1032 = 5408
	 *      -> f 10000 - 2000 = 8000: 5408 + 2592*3000/10000 = 5408 + 777 = 6185
	 *      -> f 4000: 6185 + (-2185*3000)/10000 = 6185 - 655 = 5530 */
	assert_int_equal(fp_replay_fairness(&p, &history[0]), 8000);
	assert_int_equal(fp_replay_fairness(&p, &history[2]), 0);
	assert_int_equal(fp_replay_fairness(&p, &history[3]), 3000);
	assert_int_equal(fp_replay_fairness(&p, &history[4]), 8000);
	assert_int_equal(fp_replay_fairness(&p, &history[5]), 4000);
	fp_replay_state s;
	fp_replay(&p, history, N_HISTORY, &s);
	assert_int_equal(s.score_bp, 5530);
	assert_int_equal(s.payments, 5);
	assert_int_equal(s.open_defaults, 1);
	assert_int_equal(fp_replay_tier(&p, &s), FP_TIER_RESTRICTED);
	/* The replay is rule 7 over the fairness it judges. */
	int32_t f[N_HISTORY];
	for (size_t i = 0; i < N_HISTORY; i++)
		f[i] = fp_replay_fairness(&p, &history[i]);
	assert_int_equal(fp_score_replay(&p, f, N_HISTORY), s.score_bp);
}

static void test_replay_candidate_reasons_and_floor(void **state)
{
	(void)state;
	fp_policy p;
	fp_policy_defaults(&p);
	p.excusing_reasons = BIT(CANNOT_AFFORD);
	p.excused_floor_bp = 9000;
	p.late_penalty_bp = 1000;
	/* DID_NOT_USE no longer excuses: 5000; CANNOT_AFFORD now does: 9000;
	 * the reviews stay; the late penalty is the candidate's.
	 * 8000 -> 5000: 8000 - 900 = 7100
	 *      -> 12000: 7100 + 1470 = 8570
	 *      -> 0: 8570 - 2571 = 5999
	 *      -> 3000: 5999 + (-2999*3000)/10000 = 5999 - 899 = 5100
	 *      -> 9000: 5100 + 1170 = 6270
	 *      -> 9000: 6270 + 2730*3000/10000 = 6270 + 819 = 7089 */
	assert_int_equal(fp_replay_fairness(&p, &history[0]), 5000);
	assert_int_equal(fp_replay_fairness(&p, &history[4]), 9000);
	assert_int_equal(fp_replay_fairness(&p, &history[5]), 9000);
	fp_replay_state s;
	fp_replay(&p, history, N_HISTORY, &s);
	assert_int_equal(s.score_bp, 7089);
	assert_int_equal(fp_replay_tier(&p, &s), FP_TIER_RESTRICTED);
	/* A lower fair threshold makes the same history STANDARD. */
	p.fair_score_bp = 7000;
	p.low_score_bp = 5000;
	assert_int_equal(fp_replay_tier(&p, &s), FP_TIER_STANDARD);
}

static void test_replay_alpha_prior_and_tiers(void **state)
{
	(void)state;
	fp_policy p;
	fp_policy_defaults(&p);
	p.prior_score_bp = 10000;
	p.alpha_bp = 5000;
	/* 10000 -> 8000: 9000 -> 12000: 10500 -> 0: 5250 -> 3000: 4125
	 *       -> 8000: 6062 -> 4000: 5031 */
	fp_replay_state s;
	fp_replay(&p, history, N_HISTORY, &s);
	assert_int_equal(s.score_bp, 5031);
	/* One open default is enough when max_open_defaults is 1. */
	p.max_open_defaults = 1;
	assert_int_equal(fp_replay_tier(&p, &s), FP_TIER_FIXED_PRICE);
	/* A customer without history has the prior and is on probation. */
	fp_replay(&p, history, 0, &s);
	assert_int_equal(s.score_bp, 10000);
	assert_int_equal(s.payments, 0);
	assert_int_equal(fp_replay_tier(&p, &s), FP_TIER_PROBATION);
	/* Streaming step by step equals the whole replay. */
	fp_replay_state a, b;
	fp_replay(&p, history, N_HISTORY, &a);
	fp_replay_start(&p, NULL, &b);
	for (size_t i = 0; i < N_HISTORY; i++)
		fp_replay_step(&p, &b, &history[i]);
	assert_int_equal(a.score_bp, b.score_bp);
	assert_int_equal(a.payments, b.payments);
	assert_int_equal(a.open_defaults, b.open_defaults);
	/* A seeded customer (rule 14) starts from the seed, and its attested
	 * payments count towards probation. */
	fp_seed seed = { 9000, p.probation_payments };
	fp_replay_start(&p, &seed, &b);
	assert_int_equal(b.score_bp, 9000);
	assert_int_equal(b.attested_payments, p.probation_payments);
	assert_int_not_equal(fp_replay_tier(&p, &b), FP_TIER_PROBATION);
	assert_int_equal(fp_replay_tier(&p, &b),
			 fp_tier_attested(&p, 9000, 0, p.probation_payments, 0));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Payments replayed per second on one core, printed (not asserted: the
 * machine is shared). FP_REPLAY_BENCH sets the number of payments. */
static void test_replay_rate(void **state)
{
	(void)state;
	const char *env = getenv("FP_REPLAY_BENCH");
	size_t n = env ? (size_t)strtoull(env, NULL, 10) : 4000000;
	fp_history_entry *h = calloc(n ? n : 1, sizeof(*h));
	assert_non_null(h);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		h[i].raw_fairness_bp = (int32_t)((x >> 8) % 20001);
		h[i].reasons = FP_REASON_BIT(1 + (x >> 4) % 7);
		h[i].review = (x & 1) ? FP_REVIEW_NOT_NEEDED : FP_REVIEW_PENDING;
		h[i].late = (x & 0x30) == 0x30;
		h[i].open_default = (x & 0x3c0) == 0;
	}
	fp_policy p;
	fp_policy_defaults(&p);
	fp_replay_state s;
	double t0 = now_s();
	fp_replay(&p, h, n, &s);
	double dt = now_s() - t0;
	printf("replay: %zu cycles in %.3f s, %.0f cycles/s on one core (score %d)\n", n, dt,
	       dt > 0 ? (double)n / dt : 0.0, s.score_bp);
	assert_int_equal(s.payments + s.open_defaults, (int32_t)n);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_defaults),
		cmocka_unit_test(test_replay_candidate_reasons_and_floor),
		cmocka_unit_test(test_replay_alpha_prior_and_tiers),
		cmocka_unit_test(test_replay_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
