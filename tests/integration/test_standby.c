/* Integration test of fairpayd on a primary with a synchronous streaming
 * standby (scripts/pg-standby.sh: two throwaway clusters on private unix
 * sockets, the standby made by pg_basebackup -R), the server given libpq's
 * multi-host conninfo "host=A,B port=PA,PB target_session_attrs=read-write".
 *
 *  1. test_primary_lost: 8 clients run keyed FairPay cycles (keyed_load.c:
 *     every call retried under its key until answered), a feed follower
 *     reads ListEvents, a webhook receiver takes every event; the primary
 *     is killed (SIGKILL of every process of it) and the standby promoted.
 *     Checked on the new primary: every answered offer, payment and vendor
 *     stored exactly once and nothing else, reputation verify clean; the
 *     follower saw every committed event once and in order; the receiver
 *     got every committed event and none that is not; the server's row
 *     cache was dropped (a row changed behind its back is read anew) and
 *     fills again. The seconds from the kill to the first answer are
 *     printed.
 *  2. test_standby_lost: the old primary rebuilt as the synchronous standby
 *     of the new one, then killed during the load. While it is gone no call
 *     is answered OK (a commit waits, is cancelled after the statement
 *     timeout and answered UNAVAILABLE; a repeat of an answered key waits
 *     the same way; a commit that queues behind a waiting one for the
 *     notification lock fails at its sync, and its group with it); what
 *     the server reports meanwhile (/readyz, /metrics, its log) is checked
 *     and printed. The standby restarts, the load resumes, and both
 *     machines hold exactly the answered objects; the feed and the webhooks
 *     are checked as in 1.
 *  3. test_sync_cost: cycles/s of the same load with synchronous
 *     replication and without it (synchronous_standby_names = ''), in this
 *     run, printed. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"
#include "hook_receiver.h"
#include "keyed_load.h"

#define DB_NAME "fp_it_standby"
#define WORKERS 8
/* TCP ports of this test (fairpayd, its operators' endpoint, the webhook
 * receiver) come from here, clear of the ports the runner uses. */
#define PORT_FIRST 7400
#define PORT_LAST 7449
/* A delivery's timeout: a delivery claimed when the primary died is sent
 * again when its lease ends, four timeouts and 5 s later (deliver.c). */
#define WEBHOOK_TIMEOUT_MS "2000"
/* Shorter than a commit's wait before its cancel: a commit that announces
 * rows (NOTIFY) behind one waiting for the standby then fails at its sync
 * on the notification queue's lock, and its group must fail with it. */
#define LOCK_TIMEOUT_MS "300"
/* The bound of a statement, and so of a commit's wait for the standby. */
#define STATEMENT_TIMEOUT_MS "1000"

typedef Fairpay__V1__Response resp_t;

static struct {
	char dir[2][512]; /* the clusters A and B (scripts/pg.sh directories) */
	char *script;     /* scripts/pg-standby.sh, quoted */
	int primary;      /* 0: A, 1: B */
	char *multi;      /* the server's conninfo: both hosts, read-write wanted */
	char *admin_key;
	char port[16], admin_port[16], recv_port[16];
	h_server *srv;
	char *vid, *vkey;             /* the vendor of the load */
	char *cache_vid, *cache_vkey; /* the vendor whose policy shows the cache */
	hr_receiver *recv;            /* takes every event of the load vendor */
} T;

/* ---------------------------------------------------------------- the clusters */

static const char *cluster_port(int i)
{
	static char port[2][16];
	char *path = h_fmt("%s/port", T.dir[i]);
	FILE *f = fopen(path, "r");
	if (f == NULL || fgets(port[i], sizeof(port[i]), f) == NULL)
		fail_msg("cannot read %s", path);
	fclose(f);
	port[i][strcspn(port[i], "\n")] = '\0';
	free(path);
	return port[i];
}

/* The owner's conninfo of cluster i, database db. */
static char *ci_of(int i, const char *db)
{
	return h_fmt("host=%s/sock port=%s user=postgres dbname=%s", T.dir[i], cluster_port(i), db);
}

/* Run scripts/pg-standby.sh with the arguments; fails the test unless it exits 0. */
static void ha(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ha(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *args = NULL;
	if (vasprintf(&args, fmt, ap) < 0)
		fail_msg("out of memory");
	va_end(ap);
	char *out = NULL;
	int rc = h_runf(&out, "%s %s 2>&1", T.script, args);
	if (rc != 0)
		fail_msg("pg-standby.sh %s exited %d: %s", args, rc, out ? out : "");
	free(out);
	free(args);
}

/* Wait until cluster standby has replayed everything the primary wrote. */
static void wait_replayed(int standby, int timeout_ms)
{
	char *pci = ci_of(T.primary, "postgres"), *sci = ci_of(standby, "postgres");
	char *lsn = h_sql(pci, "SELECT pg_current_wal_lsn()::text");
	char *sql = h_fmt("SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn", lsn);
	int64_t deadline = h_now_ms() + timeout_ms;
	for (;;) {
		char *ok = h_sql(sci, sql);
		bool done = ok != NULL && strcmp(ok, "t") == 0;
		free(ok);
		if (done)
			break;
		if (h_now_ms() > deadline)
			fail_msg("the standby has not replayed up to %s within %d ms", lsn,
				 timeout_ms);
		h_sleep_ms(20);
	}
	free(sql);
	free(lsn);
	free(pci);
	free(sci);
}

/* ---------------------------------------------------------------- ports, HTTP */

/* A port of this test's range that nothing listens on. */
static void range_port(char *out, size_t len, int after)
{
	for (int p = after + 1; p <= PORT_LAST; p++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		bool free_now = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (free_now) {
			snprintf(out, len, "%d", p);
			return;
		}
	}
	fail_msg("no free port in %d-%d", PORT_FIRST, PORT_LAST);
}

/* The HTTP status of GET path on the operators' endpoint (0: no answer). */
static int admin_status(const char *path)
{
	char *out = NULL;
	char *cmd = h_fmt("curl -s -o /dev/null -m 5 -w '%%{http_code}' http://127.0.0.1:%s%s",
			  T.admin_port, path);
	h_run(cmd, &out);
	free(cmd);
	int code = out ? atoi(out) : 0;
	free(out);
	return code;
}

static double metric(const char *name)
{
	return h_metric(T.admin_port, name);
}

/* The load vendor's committed events on the primary, as a sorted id list. */
static uint64_t *committed_events(size_t *n)
{
	char *ci = ci_of(T.primary, DB_NAME);
	PGconn *pg = PQconnectdb(ci);
	free(ci);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	const char *params[] = { T.vid };
	PGresult *r = PQexecParams(pg, "SELECT id FROM events WHERE vendor_id = $1 ORDER BY id", 1,
				   NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	*n = (size_t)PQntuples(r);
	uint64_t *ids = calloc(*n + 1, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < *n; i++)
		ids[i] = strtoull(PQgetvalue(r, (int)i, 0), NULL, 10);
	PQclear(r);
	PQfinish(pg);
	return ids;
}

/* Wait until the receiver got every committed event of the load vendor,
 * then fail if it got one that never committed; returns how many. */
static size_t check_webhooks(int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	size_t n = 0, missing = 0;
	for (;;) {
		uint64_t *ids = committed_events(&n);
		json_t *st = hr_state(T.recv);
		json_t *seen = json_object_get(st, "ids");
		missing = 0;
		for (size_t i = 0; i < n; i++) {
			char name[32];
			snprintf(name, sizeof(name), "evt_%llu", (unsigned long long)ids[i]);
			missing += json_object_get(seen, name) == NULL;
		}
		if (missing == 0) {
			const char *k;
			json_t *v;
			json_object_foreach(seen, k, v)
			{
				uint64_t id = strtoull(k + 4, NULL, 10);
				bool found = false;
				for (size_t i = 0; i < n && !found; i++)
					found = ids[i] == id;
				/* Other vendors' events go to no endpoint: each
				 * one the receiver got must be committed. */
				if (!found)
					fail_msg("the receiver got %s, which the new primary does "
						 "not hold",
						 k);
			}
		}
		json_decref(st);
		free(ids);
		if (missing == 0)
			return n;
		if (h_now_ms() > deadline)
			fail_msg("%zu of %zu committed events not delivered to the webhook within "
				 "%d ms",
				 missing, n, timeout_ms);
		h_sleep_ms(100);
	}
}

/* ---------------------------------------------------------------- the feed follower */

typedef struct follower {
	kl_caller cl;
	atomic_int stop;
	uint64_t after;
	uint64_t *ids;
	size_t n, cap;
	int disorder; /* an id not above the one before */
	int errors;   /* definitive answers other than OK */
	pthread_t th;
} follower;

static void *run_follower(void *arg)
{
	follower *f = arg;
	for (;;) {
		bool stopping = atomic_load(&f->stop) != 0;
		Fairpay__V1__ListEventsRequest le = FAIRPAY__V1__LIST_EVENTS_REQUEST__INIT;
		le.after_id = f->after;
		le.limit = 1000;
		le.wait_ms = stopping ? 0 : 500;
		Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
		req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS;
		req.list_events = &le;
		resp_t *r = NULL;
		int code = kl_resolve(&f->cl, &req, "ListEvents", &r);
		size_t got = 0;
		if (code == H_OK && r->list_events != NULL) {
			got = r->list_events->n_events;
			for (size_t i = 0; i < got; i++) {
				uint64_t id = r->list_events->events[i]->id;
				if (f->n > 0 && id <= f->ids[f->n - 1])
					f->disorder++;
				if (f->n == f->cap) {
					f->cap = f->cap ? 2 * f->cap : 1024;
					f->ids = realloc(f->ids, f->cap * sizeof(*f->ids));
					if (f->ids == NULL)
						abort();
				}
				f->ids[f->n++] = id;
			}
			f->after = r->list_events->next_after_id;
		} else if (code != H_NO_REPLY && code != H_ABORTED) {
			f->errors++;
		}
		fp_response_free(r);
		if (stopping && got == 0)
			break;
	}
	kl_caller_close(&f->cl);
	return NULL;
}

static follower *follower_start(void)
{
	follower *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	atomic_init(&f->stop, 0);
	kl_caller_init(&f->cl, T.port, T.vkey, 7, NULL, NULL);
	assert_int_equal(pthread_create(&f->th, NULL, run_follower, f), 0);
	return f;
}

/* Stop (after it read to the end) and check what it saw against the
 * committed events: each once, in order, none missing. */
static void follower_check(follower *f)
{
	atomic_store(&f->stop, 1);
	assert_int_equal(pthread_join(f->th, NULL), 0);
	size_t n = 0;
	uint64_t *ids = committed_events(&n);
	size_t missing = 0, extra = 0, j = 0;
	for (size_t i = 0; i < n; i++) {
		while (j < f->n && f->ids[j] < ids[i])
			j++, extra++;
		if (j < f->n && f->ids[j] == ids[i])
			j++;
		else
			missing++;
	}
	extra += f->n - j;
	print_message("feed follower: %zu events read, %zu committed; %zu missing, %zu not "
		      "committed, %d out of order, %d errors\n",
		      f->n, n, missing, extra, f->disorder, f->errors);
	free(ids);
	if (missing != 0 || extra != 0 || f->disorder != 0 || n == 0)
		fail_msg("the event feed across the failover: %zu of %zu committed events never "
			 "read, %zu read that are not committed, %d out of order",
			 missing, n, extra, f->disorder);
	free(f->ids);
	free(f);
}

/* ---------------------------------------------------------------- the cache probe */

static int32_t cached_alpha(void)
{
	fp_client *c = h_connect_auth(T.srv, T.cache_vkey);
	resp_t *r = NULL;
	h_must(h_get_policy(c, &r), "GetPolicy");
	int32_t alpha = r->get_policy->policy->alpha_bp;
	fp_response_free(r);
	fp_client_free(c);
	return alpha;
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
	char *script = h_path(h_root_dir(), "scripts/pg-standby.sh");
	T.script = h_shq(script);
	free(script);
	snprintf(T.dir[0], sizeof(T.dir[0]), "%s/ha-a", h_tmp_dir());
	snprintf(T.dir[1], sizeof(T.dir[1]), "%s/ha-b", h_tmp_dir());
	T.primary = 0;
	ha("primary %s", T.dir[0]);
	char *pgsh = h_path(h_root_dir(), "scripts/pg.sh");
	h_runf(NULL, "%s server-login %s", pgsh, T.dir[0]);
	free(pgsh);
	char *admin = ci_of(0, "postgres");
	free(h_sql(admin, "CREATE DATABASE " DB_NAME));
	free(admin);
	char *db = ci_of(0, DB_NAME);
	h_migrate(db);
	T.admin_key = h_bootstrap_admin(db);
	free(db);
	ha("standby %s %s ha_b", T.dir[1], T.dir[0]);
	ha("sync %s ha_b", T.dir[0]);
	ha("wait-sync %s ha_b", T.dir[0]);
	T.multi = h_fmt("host=%s/sock,%s/sock port=%s,%s target_session_attrs=read-write "
			"user=postgres dbname=" DB_NAME,
			T.dir[0], T.dir[1], cluster_port(0), cluster_port(1));

	range_port(T.port, sizeof(T.port), PORT_FIRST - 1);
	range_port(T.admin_port, sizeof(T.admin_port), atoi(T.port));
	range_port(T.recv_port, sizeof(T.recv_port), atoi(T.admin_port));
	T.recv = hr_start(T.recv_port, NULL, NULL);
	char *listen = h_fmt("127.0.0.1:%s", T.admin_port);
	char *ca = h_cert_path("ca.pem");
	T.srv = h_server_start_on(T.port, T.multi, "--admin-listen", listen,
				  "--db-statement-timeout-ms", STATEMENT_TIMEOUT_MS,
				  "--webhook-allow-private", "--webhook-ca-file", ca,
				  "--webhook-retry-base-ms", "100", "--webhook-retry-max-ms",
				  "1000", "--webhook-timeout-ms", WEBHOOK_TIMEOUT_MS,
				  "--db-lock-timeout-ms", LOCK_TIMEOUT_MS, NULL);
	free(listen);
	free(ca);
	kl_make_vendor(T.srv, T.admin_key, "standby shop", &T.vid, &T.vkey);
	kl_make_vendor(T.srv, T.admin_key, "standby cache", &T.cache_vid, &T.cache_vkey);

	fp_client *c = h_connect_auth(T.srv, T.vkey);
	char *url = hr_url(T.recv);
	Fairpay__V1__CreateWebhookEndpointRequest m =
		FAIRPAY__V1__CREATE_WEBHOOK_ENDPOINT_REQUEST__INIT;
	m.url = url;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_WEBHOOK_ENDPOINT;
	req.create_webhook_endpoint = &m;
	h_must(h_call(c, &req, NULL), "CreateWebhookEndpoint");
	free(url);
	fp_client_free(c);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	hr_free(T.recv);
	for (int i = 0; i < 2; i++)
		if (T.dir[i][0] != '\0')
			h_runf(NULL, "%s crash %s", T.script, T.dir[i]);
	free(T.script);
	free(T.multi);
	free(T.admin_key);
	free(T.vid);
	free(T.vkey);
	free(T.cache_vid);
	free(T.cache_vkey);
	return 0;
}

static kl_load *load_start(const char *tag)
{
	kl_config cfg = {
		.ports = T.port,
		.vendor_id = T.vid,
		.vendor_key = T.vkey,
		.admin_key = T.admin_key,
		.tag = tag,
		.workers = WORKERS,
	};
	kl_load *L = kl_start(&cfg);
	if (!kl_wait_answers(L, 40, 20000)) {
		int n = kl_answered(L);
		kl_free(L);
		kl_report(tag);
		fail_msg("%s: the load made no progress (%d OK answers)", tag, n);
	}
	return L;
}

/* Milliseconds from t0 until the load's answers pass from; -1 after timeout_ms. */
static int64_t until_answers(kl_load *L, int from, int64_t t0, int timeout_ms)
{
	while (kl_answered(L) <= from) {
		if (h_now_ms() - t0 > timeout_ms)
			return -1;
		h_sleep_ms(2);
	}
	return h_now_ms() - t0;
}

/* ---------------------------------------------------------------- test 1 */

static void test_primary_lost(void **state)
{
	kl_violations_reset();
	/* The cache probe: a policy read through the server (cached), then
	 * changed by hand on the primary, where no server announces it. */
	int32_t before = cached_alpha();
	char *pci = ci_of(T.primary, DB_NAME);
	char *sql = h_fmt("UPDATE policies SET alpha_bp = %d WHERE vendor_id = '%s'",
			  before == 4321 ? 4322 : 4321, T.cache_vid);
	free(h_sql(pci, sql));
	free(sql);
	int32_t changed = before == 4321 ? 4322 : 4321;
	if (cached_alpha() != before)
		fail_msg("GetPolicy read a change made behind the server's back: the probe "
			 "needs a cached row");

	follower *f = follower_start();
	kl_load *L = load_start("pl");
	h_sleep_ms(1500);
	int at_kill = kl_answered(L);
	int64_t t_kill = h_now_ms();
	ha("crash %s", T.dir[T.primary]);
	int standby = 1 - T.primary;
	ha("promote %s", T.dir[standby]);
	int64_t promoted_ms = h_now_ms() - t_kill;
	T.primary = standby;
	/* Answers that left the old primary before it died may still be on
	 * their way: count from a little later. */
	h_sleep_ms(20);
	int64_t back_ms = until_answers(L, kl_answered(L), t_kill, 30000);
	print_message("primary killed with %d calls answered OK; standby promoted after %lld ms; "
		      "first answer %lld ms after the kill\n",
		      at_kill, (long long)promoted_ms, (long long)back_ms);
	if (back_ms < 0)
		fail_msg("no call answered within 30 s of the primary's kill; log at %s",
			 T.srv->log_path);
	kl_wait_answers(L, 200, 20000);
	kl_stop(L);

	char *nci = ci_of(T.primary, DB_NAME);
	kl_check_offers(L, nci);
	kl_check_vendors(L, nci);
	kl_check_verify(nci);
	kl_print_totals(L);
	kl_free(L);
	kl_report("primary lost");
	follower_check(f);
	size_t delivered = check_webhooks(30000);
	print_message("webhooks: all %zu committed events delivered, none that did not commit\n",
		      delivered);

	/* The cache: dropped with the database connection, so the change
	 * made by hand is read now; then it fills again. */
	assert_true(h_wait_log(T.srv, "database notifications lost", 1, 5000));
	int64_t t0 = h_now_ms();
	int32_t alpha = before;
	while ((alpha = cached_alpha()) != changed && h_now_ms() - t0 < 10000)
		h_sleep_ms(50);
	if (alpha != changed)
		fail_msg("after the failover GetPolicy still answers alpha_bp %d, not %d: the "
			 "cache was not dropped",
			 alpha, changed);
	double hits = metric("fairpay_cache_hits_total");
	for (int i = 0; i < 3; i++)
		assert_int_equal(cached_alpha(), changed);
	double hits_after = metric("fairpay_cache_hits_total");
	print_message("cache: dropped at the failover (the change made behind its back is "
		      "read), filled again (hits %.0f -> %.0f)\n",
		      hits, hits_after);
	assert_true(hits_after >= hits + 2);
	free(pci);
	free(nci);
}

/* ---------------------------------------------------------------- test 2 */

static void test_standby_lost(void **state)
{
	kl_violations_reset();
	/* The old primary comes back as the new one's synchronous standby. */
	int standby = 1 - T.primary;
	char *data = h_fmt("%s/data", T.dir[standby]);
	char *q = h_shq(data);
	h_runf(NULL, "rm -rf %s", q);
	free(q);
	free(data);
	ha("standby %s %s ha_a", T.dir[standby], T.dir[T.primary]);
	ha("sync %s ha_a", T.dir[T.primary]);
	ha("wait-sync %s ha_a", T.dir[T.primary]);

	follower *f = follower_start();
	kl_load *L = load_start("sl");
	h_sleep_ms(500);
	ha("crash %s", T.dir[standby]);
	int64_t t_kill = h_now_ms();
	/* A commit the standby confirmed just before it died may still be on
	 * its way to the client. */
	h_sleep_ms(300);
	int from = kl_answered(L);
	int ready = -1;
	double waiting = 0, unconfirmed = 0;
	while (h_now_ms() - t_kill < 3300) {
		double w = metric("fairpay_db_oldest_query_seconds");
		if (w > waiting)
			waiting = w;
		ready = admin_status("/readyz");
		h_sleep_ms(100);
	}
	unconfirmed = metric("fairpay_db_commits_unconfirmed_total");
	int during = kl_answered(L) - from;
	int logged = h_log_count(T.srv, "the synchronous standby did not confirm");
	char *plog = h_fmt("%s/log", T.dir[T.primary]);
	char *cmd = h_fmt("grep -c 'canceling statement due to lock timeout' %s", plog);
	char *locks = NULL;
	h_run(cmd, &locks);
	print_message("the primary logged %ld lock timeouts so far\n", locks ? atol(locks) : 0L);
	free(locks);
	free(cmd);
	free(plog);
	print_message("standby killed: in the next 3 s, %d calls answered OK; /readyz %d; "
		      "fairpay_db_oldest_query_seconds up to %.3f; "
		      "fairpay_db_commits_unconfirmed_total %.0f; %d log warnings\n",
		      during, ready, waiting, unconfirmed, logged);

	ha("start %s", T.dir[standby]);
	int64_t t_start = h_now_ms();
	int64_t back_ms = until_answers(L, kl_answered(L), t_start, 30000);
	print_message("standby restarted: first answer %lld ms later\n", (long long)back_ms);
	kl_wait_answers(L, 100, 20000);
	kl_stop(L);
	kl_totals t;
	kl_totals_of(L, &t);
	kl_print_totals(L);

	char *pci = ci_of(T.primary, DB_NAME), *sci = ci_of(standby, DB_NAME);
	kl_check_offers(L, pci);
	kl_check_vendors(L, pci);
	kl_check_verify(pci);
	wait_replayed(standby, 30000);
	kl_check_offers(L, sci);
	kl_check_vendors(L, sci);
	kl_free(L);
	kl_report("standby lost");
	free(pci);
	free(sci);
	follower_check(f);
	size_t delivered = check_webhooks(30000);
	print_message("webhooks: all %zu committed events delivered, none that did not commit\n",
		      delivered);

	if (during != 0)
		fail_msg("%d calls were answered OK while the synchronous standby was gone",
			 during);
	if (back_ms < 0)
		fail_msg("no call answered within 30 s of the standby's return");
	assert_true(unconfirmed >= 1);
	assert_true(logged >= 1);
	assert_true(t.unavailable >= 1);
	assert_true(waiting >= 0.5);
}

/* ---------------------------------------------------------------- test 3 */

/* Run the load for ms and check it; add its finished cycles and the time
 * they took to *cycles and *took_ms. */
static void measure(const char *tag, int ms, double *cycles, double *took_ms)
{
	kl_load *L = load_start(tag);
	kl_totals t0, t1;
	kl_totals_of(L, &t0);
	int64_t start = h_now_ms();
	h_sleep_ms(ms);
	kl_totals_of(L, &t1);
	*took_ms += (double)(h_now_ms() - start);
	*cycles += (double)(t1.finished - t0.finished);
	kl_stop(L);
	char *pci = ci_of(T.primary, DB_NAME);
	kl_check_offers(L, pci);
	free(pci);
	kl_free(L);
}

static void test_sync_cost(void **state)
{
	kl_violations_reset();
	/* Alternated, so that whatever else runs on the machine weighs on
	 * both alike. */
	double cycles[2] = { 0, 0 }, ms[2] = { 0, 0 };
	for (int round = 0; round < 2; round++) {
		char tag[16];
		ha("sync %s ha_a", T.dir[T.primary]);
		ha("wait-sync %s ha_a", T.dir[T.primary]);
		snprintf(tag, sizeof(tag), "bs%d", round);
		measure(tag, 2500, &cycles[0], &ms[0]);
		ha("sync %s ''", T.dir[T.primary]);
		snprintf(tag, sizeof(tag), "ba%d", round);
		measure(tag, 2500, &cycles[1], &ms[1]);
	}
	kl_report("sync cost");
	double sync = cycles[0] * 1000.0 / ms[0], async = cycles[1] * 1000.0 / ms[1];
	print_message("%d clients, keyed cycles (CreateOffer, AcceptOffer, SubmitPayment, each "
		      "repeated once), durable clusters: %.1f cycles/s with a synchronous standby, "
		      "%.1f without (%.0f%%)\n",
		      WORKERS, sync, async, async > 0 ? 100.0 * sync / async : 0.0);
	assert_true(sync > 0 && async > 0);
	ha("sync %s ha_a", T.dir[T.primary]);
}

static void test_clean_shutdown(void **state)
{
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary_lost),
		cmocka_unit_test(test_standby_lost),
		cmocka_unit_test(test_sync_cost),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
