/* The operators' counters, shared by the workers (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "stats.h"

/* Upper bounds of the latency buckets, in nanoseconds: from half a
 * millisecond (a cached read) to the longest a call may wait on the
 * database and then some. */
static const int64_t bucket_ns[] = {
	500000,    1000000,   2500000,   5000000,    10000000,   25000000,   50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
#define N_BUCKETS (sizeof(bucket_ns) / sizeof(bucket_ns[0]))

typedef struct slot {
	atomic_int pid; /* 0: no process has it */
	atomic_bool ready;
	_Atomic uint64_t counter[METRIC_COUNTERS];
	_Atomic int64_t gauge[METRIC_GAUGES];
	_Atomic uint64_t limit[STAT_COUNT];
	_Atomic uint64_t requests[METRICS_CALLS][METRICS_CODES];
	_Atomic uint64_t bucket[METRICS_CALLS][N_BUCKETS + 1]; /* the last: +Inf */
	_Atomic uint64_t duration_ns[METRICS_CALLS];
} slot;

static slot own;           /* without metrics_init */
static slot *slots = &own; /* n_slots of them */
static int n_slots = 1;
static slot *mine = &own;
static metrics_namer call_namer, code_namer;

/* The simple counters: one row each, rows of one family (a label each)
 * next to each other. NULL family: rendered apart. */
static const struct {
	const char *family;
	const char *help;
	const char *label;
} counters[METRIC_COUNTERS] = {
	[METRIC_CONN_ACCEPTED] = { "fairpay_connections_accepted_total",
				   "Client connections accepted.", NULL },
	[METRIC_TLS_HANDSHAKES] = { "fairpay_tls_handshakes_total", "TLS handshakes completed.",
				    NULL },
	[METRIC_TLS_FAILURES] = { "fairpay_tls_handshake_failures_total",
				  "Connections that ended before their TLS handshake completed.",
				  NULL },
	[METRIC_DB_COMMITS] = { "fairpay_db_commits_total",
				"Transactions of grouped writes committed.", NULL },
	[METRIC_DB_COMMITTED_CALLS] = { "fairpay_db_committed_calls_total",
					"Writes committed, in all those transactions.", NULL },
	[METRIC_DB_QUEUE_WAIT_NS] = { NULL, NULL, NULL },
	[METRIC_DB_QUEUE_WAITS] = { NULL, NULL, NULL },
	[METRIC_CACHE_HITS] = { "fairpay_cache_hits_total", "Row cache lookups that found the row.",
				NULL },
	[METRIC_CACHE_MISSES] = { "fairpay_cache_misses_total",
				  "Row cache lookups that went to the database.", NULL },
	[METRIC_SWEEP_ROUNDS] = { "fairpay_sweep_rounds_total",
				  "Rounds of the offer sweeper completed.", NULL },
	[METRIC_HOOK_DELIVERED] = { "fairpay_webhook_deliveries_total",
				    "Webhook delivery attempts, by result.",
				    "result=\"delivered\"" },
	[METRIC_HOOK_FAILED] = { "fairpay_webhook_deliveries_total", NULL, "result=\"failed\"" },
	[METRIC_HOOK_GAVE_UP] = { "fairpay_webhook_deliveries_total", NULL, "result=\"gave_up\"" },
	[METRIC_DB_UNCONFIRMED] = { "fairpay_db_commits_unconfirmed_total",
				    "Commits whose wait for the synchronous standby was cancelled: "
				    "on the primary only, their calls answered UNAVAILABLE.",
				    NULL },
	[METRIC_DB_SET_STATEMENTS] = { "fairpay_db_set_statements_total",
				       "Committed statements that carried set writes (cycle "
				       "changes): one per group.",
				       NULL },
	[METRIC_DB_SET_ITEMS] = { "fairpay_db_set_items_total",
				  "Set writes (cycle changes) those statements carried.", NULL },
};

void metrics_names(metrics_namer call_name, metrics_namer code_name)
{
	call_namer = call_name;
	code_namer = code_name;
}

int metrics_init(int workers)
{
	if (slots != &own)
		return 0;
	int n = workers + 1;
	void *mem = mmap(NULL, sizeof(slot) * (size_t)n, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	/* Fresh anonymous pages are zero: every counter and pid starts at 0. */
	slots = mem;
	n_slots = n;
	mine = &slots[0];
	return 0;
}

void metrics_attach(int worker)
{
	mine = worker >= 0 && worker < n_slots ? &slots[worker] : &own;
	for (int i = 0; i < METRIC_GAUGES; i++)
		atomic_store_explicit(&mine->gauge[i], 0, memory_order_relaxed);
	atomic_store_explicit(&mine->gauge[METRIC_HOOK_OLDEST_AGE_MS], -1, memory_order_relaxed);
	atomic_store(&mine->ready, false);
	atomic_store(&mine->pid, (int)getpid());
}

void metrics_detach(void)
{
	atomic_store(&mine->ready, false);
	atomic_store(&mine->pid, 0);
}

void metrics_add(metrics_counter id, uint64_t n)
{
	atomic_fetch_add_explicit(&mine->counter[id], n, memory_order_relaxed);
}

void metrics_set(metrics_gauge id, int64_t value)
{
	atomic_store_explicit(&mine->gauge[id], value, memory_order_relaxed);
}

void metrics_move(metrics_gauge id, int64_t delta)
{
	atomic_fetch_add_explicit(&mine->gauge[id], delta, memory_order_relaxed);
}

void metrics_call(unsigned call, unsigned code, int64_t ns)
{
	if (call >= METRICS_CALLS)
		call = 0;
	if (code >= METRICS_CODES)
		code = METRICS_CODES - 1;
	if (ns < 0)
		ns = 0;
	size_t b = 0;
	while (b < N_BUCKETS && ns > bucket_ns[b])
		b++;
	atomic_fetch_add_explicit(&mine->requests[call][code], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&mine->bucket[call][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&mine->duration_ns[call], (uint64_t)ns, memory_order_relaxed);
}

void metrics_set_ready(bool ready)
{
	atomic_store_explicit(&mine->ready, ready, memory_order_relaxed);
}

_Atomic uint64_t *metrics_limits(void)
{
	return mine->limit;
}

/* Whether slot i belongs to a process that still runs (a worker killed
 * before it could detach leaves its pid behind). */
static bool running(int i)
{
	int pid = atomic_load(&slots[i].pid);
	if (pid == 0)
		return false;
	return pid == (int)getpid() || kill(pid, 0) == 0 || errno == EPERM;
}

bool metrics_ready(void)
{
	int live = 0;
	for (int i = 0; i < n_slots; i++) {
		if (!running(i))
			continue;
		live++;
		if (!atomic_load_explicit(&slots[i].ready, memory_order_relaxed))
			return false;
	}
	return live > 0;
}

/* ---------------------------------------------------------------- text */

static uint64_t load(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Sums over every slot, of a field at the same place in each. */
static uint64_t sum_counter(metrics_counter id)
{
	uint64_t t = 0;
	for (int i = 0; i < n_slots; i++)
		t += load(&slots[i].counter[id]);
	return t;
}

static uint64_t sum_requests(unsigned call, unsigned code)
{
	uint64_t t = 0;
	for (int i = 0; i < n_slots; i++)
		t += load(&slots[i].requests[call][code]);
	return t;
}

static uint64_t sum_bucket(unsigned call, size_t b)
{
	uint64_t t = 0;
	for (int i = 0; i < n_slots; i++)
		t += load(&slots[i].bucket[call][b]);
	return t;
}

static uint64_t sum_duration_ns(unsigned call)
{
	uint64_t t = 0;
	for (int i = 0; i < n_slots; i++)
		t += load(&slots[i].duration_ns[call]);
	return t;
}

/* A gauge over the running workers: their sum, or with want_max the
 * largest value at least 0 (-1 when none has one). */
static int64_t gauge_of(metrics_gauge id, bool want_max)
{
	int64_t t = want_max ? -1 : 0;
	for (int i = 0; i < n_slots; i++) {
		if (!running(i))
			continue;
		int64_t v = atomic_load_explicit(&slots[i].gauge[id], memory_order_relaxed);
		if (!want_max)
			t += v;
		else if (v > t)
			t = v;
	}
	return t;
}

/* A label value as the format wants it: backslash, quote and newline
 * escaped. */
static void put_label(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(out, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void seconds(FILE *out, uint64_t ns)
{
	fprintf(out, "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
		(unsigned long long)(ns % 1000000000u));
}

/* The call's label: its name, else its number (0: "unknown"). */
static const char *call_label(unsigned call, char *buf, size_t len)
{
	const char *n = call != 0 && call_namer != NULL ? call_namer(call) : NULL;
	if (n != NULL)
		return n;
	if (call == 0)
		return "unknown";
	snprintf(buf, len, "%u", call);
	return buf;
}

static void render_calls(FILE *out)
{
	char num[16];
	header(out, "fairpay_requests_total", "counter",
	       "Calls answered, by call and status code.");
	for (unsigned c = 0; c < METRICS_CALLS; c++) {
		for (unsigned k = 0; k < METRICS_CODES; k++) {
			uint64_t n = sum_requests(c, k);
			if (n == 0)
				continue;
			const char *code = code_namer != NULL ? code_namer(k) : NULL;
			fputs("fairpay_requests_total{call=\"", out);
			put_label(out, call_label(c, num, sizeof(num)));
			fputs("\",code=\"", out);
			if (code != NULL)
				put_label(out, code);
			else
				fprintf(out, "%u", k);
			fprintf(out, "\"} %llu\n", (unsigned long long)n);
		}
	}
	header(out, "fairpay_request_duration_seconds", "histogram",
	       "Time from a request's arrival to its reply, by call.");
	for (unsigned c = 0; c < METRICS_CALLS; c++) {
		uint64_t cum = 0;
		for (size_t b = 0; b <= N_BUCKETS; b++)
			cum += sum_bucket(c, b);
		if (cum == 0)
			continue;
		const char *name = call_label(c, num, sizeof(num));
		cum = 0;
		for (size_t b = 0; b <= N_BUCKETS; b++) {
			cum += sum_bucket(c, b);
			fputs("fairpay_request_duration_seconds_bucket{call=\"", out);
			put_label(out, name);
			if (b < N_BUCKETS)
				fprintf(out, "\",le=\"%g\"} %llu\n", (double)bucket_ns[b] / 1e9,
					(unsigned long long)cum);
			else
				fprintf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		fputs("fairpay_request_duration_seconds_sum{call=\"", out);
		put_label(out, name);
		fputs("\"} ", out);
		seconds(out, sum_duration_ns(c));
		fputs("\nfairpay_request_duration_seconds_count{call=\"", out);
		put_label(out, name);
		fprintf(out, "\"} %llu\n", (unsigned long long)cum);
	}
}

static void render_counters(FILE *out)
{
	const char *last = NULL;
	for (int i = 0; i < METRIC_COUNTERS; i++) {
		const char *fam = counters[i].family;
		if (fam == NULL)
			continue;
		if (last == NULL || strcmp(last, fam) != 0)
			header(out, fam, "counter", counters[i].help);
		last = fam;
		fputs(fam, out);
		if (counters[i].label != NULL)
			fprintf(out, "{%s}", counters[i].label);
		fprintf(out, " %llu\n", (unsigned long long)sum_counter((metrics_counter)i));
	}
}

int metrics_render(FILE *out)
{
	render_calls(out);
	render_counters(out);

	int workers = 0;
	for (int i = 0; i < n_slots; i++)
		workers += running(i);
	header(out, "fairpay_workers", "gauge", "Worker processes running.");
	fprintf(out, "fairpay_workers %d\n", workers);
	header(out, "fairpay_connections", "gauge", "Client connections open.");
	fprintf(out, "fairpay_connections %lld\n", (long long)gauge_of(METRIC_CONNECTIONS, false));

	header(out, "fairpay_limit_hits_total", "counter",
	       "Times a limit of the server was reached, by limit.");
	for (int id = 0; id < STAT_COUNT; id++) {
		uint64_t t = 0;
		for (int i = 0; i < n_slots; i++)
			t += load(&slots[i].limit[id]);
		fputs("fairpay_limit_hits_total{limit=\"", out);
		put_label(out, stats_name((stats_id)id));
		fprintf(out, "\"} %llu\n", (unsigned long long)t);
	}

	header(out, "fairpay_db_queries_in_flight", "gauge",
	       "Database queries queued or sent, not yet answered.");
	fprintf(out, "fairpay_db_queries_in_flight %lld\n",
		(long long)gauge_of(METRIC_DB_INFLIGHT, false));
	header(out, "fairpay_db_oldest_query_seconds", "gauge",
	       "How long the oldest query sent (its statements and its commit, which with "
	       "synchronous replication waits for the standby) has waited for its answer.");
	fprintf(out, "fairpay_db_oldest_query_seconds %.3f\n",
		(double)gauge_of(METRIC_DB_OLDEST_QUERY_MS, true) / 1000.0);
	header(out, "fairpay_db_queue_wait_seconds", "summary",
	       "Time a query waited in the pool's queue before it was sent.");
	fputs("fairpay_db_queue_wait_seconds_sum ", out);
	seconds(out, sum_counter(METRIC_DB_QUEUE_WAIT_NS));
	fprintf(out, "\nfairpay_db_queue_wait_seconds_count %llu\n",
		(unsigned long long)sum_counter(METRIC_DB_QUEUE_WAITS));

	int64_t last_sweep = gauge_of(METRIC_SWEEP_LAST_MS, true);
	if (last_sweep > 0) {
		int64_t age = clock_wall_ms() - last_sweep;
		header(out, "fairpay_sweep_last_round_age_seconds", "gauge",
		       "Seconds since the offer sweeper last completed a round.");
		fprintf(out, "fairpay_sweep_last_round_age_seconds %.3f\n",
			(double)(age > 0 ? age : 0) / 1000.0);
	}
	int64_t oldest = gauge_of(METRIC_HOOK_OLDEST_AGE_MS, true);
	if (oldest >= 0) {
		header(out, "fairpay_webhook_oldest_undelivered_seconds", "gauge",
		       "Age of the oldest webhook delivery not yet done (0: none waits).");
		fprintf(out, "fairpay_webhook_oldest_undelivered_seconds %.3f\n",
			(double)oldest / 1000.0);
	}
	fflush(out);
	return ferror(out) ? -1 : 0;
}
