/* Unit tests of the metrics module: the text it renders (cumulative buckets,
 * sums in seconds, escaped label values, the limit counters of stats.h) and
 * its sharing across processes (a forked worker's counts in the parent's
 * scrape, readiness of the running workers only). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "stats.h"

static const char *call_name(unsigned n)
{
	return n == 21 ? "Get\"Product\\x" : NULL;
}

static const char *code_name(unsigned n)
{
	return n == 0 ? "OK" : n == 5 ? "NOT_FOUND" : NULL;
}

/* The rendered text, malloc'ed. */
static char *render(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_non_null(out);
	assert_int_equal(metrics_render(out), 0);
	fclose(out);
	return text;
}

static void expect_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);
	assert_non_null(want);
	sprintf(want, "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
	free(want);
}

/* Without metrics_init, in this process alone. */
static void test_render_one_process(void **state)
{
	metrics_names(call_name, code_name);
	metrics_attach(0);
	metrics_call(21, 5, 3000000);   /* 3 ms */
	metrics_call(21, 5, 3000000);   /* 3 ms */
	metrics_call(21, 0, 100000);    /* 0.1 ms */
	metrics_call(500, 31, 1000000); /* no such call, no such code */
	stats st = { metrics_limits(), false };
	stats_hit(&st, STAT_FRAME_TOO_LARGE, 0);
	metrics_set(METRIC_CONNECTIONS, 7);
	metrics_add(METRIC_HOOK_GAVE_UP, 2);
	char *t = render();
	expect_line(t, "# TYPE fairpay_requests_total counter");
	expect_line(t, "fairpay_requests_total{call=\"Get\\\"Product\\\\x\",code=\"NOT_FOUND\"} 2");
	expect_line(t, "fairpay_requests_total{call=\"Get\\\"Product\\\\x\",code=\"OK\"} 1");
	expect_line(t, "fairpay_requests_total{call=\"unknown\",code=\"31\"} 1");
	expect_line(t, "fairpay_request_duration_seconds_bucket{call=\"Get\\\"Product\\\\x\","
		       "le=\"0.0005\"} 1");
	expect_line(t, "fairpay_request_duration_seconds_bucket{call=\"Get\\\"Product\\\\x\","
		       "le=\"0.0025\"} 1");
	expect_line(t, "fairpay_request_duration_seconds_bucket{call=\"Get\\\"Product\\\\x\","
		       "le=\"0.005\"} 3");
	expect_line(t, "fairpay_request_duration_seconds_bucket{call=\"Get\\\"Product\\\\x\","
		       "le=\"+Inf\"} 3");
	expect_line(t, "fairpay_request_duration_seconds_sum{call=\"Get\\\"Product\\\\x\"} "
		       "0.006100000");
	expect_line(t, "fairpay_request_duration_seconds_count{call=\"Get\\\"Product\\\\x\"} 3");
	expect_line(t, "fairpay_limit_hits_total{limit=\"frame_too_large\"} 1");
	expect_line(t, "fairpay_limit_hits_total{limit=\"idle_timeouts\"} 0");
	expect_line(t, "fairpay_connections 7");
	expect_line(t, "fairpay_webhook_deliveries_total{result=\"gave_up\"} 2");
	expect_line(t, "fairpay_webhook_deliveries_total{result=\"delivered\"} 0");
	expect_line(t, "fairpay_workers 1");
	/* No sweep round yet: no age to give. */
	assert_null(strstr(t, "fairpay_sweep_last_round_age_seconds"));
	free(t);

	assert_false(metrics_ready());
	metrics_set_ready(true);
	assert_true(metrics_ready());
	metrics_detach();
	assert_false(metrics_ready()); /* no worker runs */
}

/* Two processes: each writes its own slot, either's scrape sums both. */
static void test_shared_between_processes(void **state)
{
	assert_int_equal(metrics_init(2), 0);
	metrics_attach(1);
	metrics_call(21, 0, 1000);
	metrics_set(METRIC_CONNECTIONS, 3);
	metrics_set_ready(true);
	int go[2], done[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		metrics_attach(2);
		for (int i = 0; i < 4; i++)
			metrics_call(21, 0, 1000);
		metrics_set(METRIC_CONNECTIONS, 5);
		char c = 1;
		if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0); /* without detaching, as a killed worker */
	}
	char c;
	assert_int_equal(read(done[0], &c, 1), 1);
	char *t = render();
	expect_line(t, "fairpay_requests_total{call=\"Get\\\"Product\\\\x\",code=\"OK\"} 5");
	expect_line(t, "fairpay_connections 8");
	expect_line(t, "fairpay_workers 2");
	free(t);
	/* The second worker never said it is ready. */
	assert_false(metrics_ready());

	assert_int_equal(write(go[1], &c, 1), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	t = render();
	/* Its counts stay; its connections and readiness go with it. */
	expect_line(t, "fairpay_requests_total{call=\"Get\\\"Product\\\\x\",code=\"OK\"} 5");
	expect_line(t, "fairpay_connections 3");
	expect_line(t, "fairpay_workers 1");
	free(t);
	assert_true(metrics_ready());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_one_process),
		cmocka_unit_test(test_shared_between_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
