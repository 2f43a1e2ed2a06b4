/* Integration test of several fairpayd on one database behind a TCP load
 * balancer (docs/deploy.md, "N fairpayd behind HAProxy"): HAProxy in TCP
 * mode passes the TLS connections through untouched and takes a server out
 * when its admin endpoint's GET /readyz stops answering 200.
 *
 *  test_kill_one_server: three fairpayd (each with --admin-listen) and
 *  HAProxy in front; keyed callers (keyed_load.c) run FairPay cycles and
 *  CreateVendor through the balancer's one port, every call retried with the
 *  same key until answered. The server with the most client sessions is
 *  killed with SIGKILL. Checked: HAProxy had sent sessions to every server;
 *  it marks the killed one DOWN; every keyed call is answered OK (its
 *  clients reconnect through the balancer to the others) and each repeat is
 *  replayed with the same object; the offers, payments and vendors stored
 *  are exactly those answered, each finished cycle's offer PAID once with
 *  its answered payment; `fairpayctl reputation verify` is clean. The
 *  server is then started again on its port, HAProxy's checks bring it back
 *  UP and it takes new sessions. Measured and printed: the time from the
 *  kill until HAProxy marks the server DOWN, until the calls are answered
 *  again, and the longest call of the run (a call caught by the kill).
 *
 *  test_drain_one_server: the same load; one server is stopped with
 *  SIGTERM, as for maintenance. It exits 0 once its calls are done, HAProxy
 *  takes it out, and every keyed call is answered exactly once through the
 *  others.
 *
 * Ports: HAProxy's frontend and the servers' ports come from
 * FP_BALANCER_PORTS (default 7500-7549), the first free ones, so that a
 * developer's fixed ports and the harness's ephemeral ones never meet. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "keyed_load.h"

#define DB_NAME "fp_it_balancer"
#define SERVERS 3
#define WORKERS 8
/* HAProxy's health checks: every CHECK_MS, FALL failures mark a server
 * DOWN and RISE successes UP again. Between checks, one refused or broken
 * connection marks it DOWN at once (observe layer4), so that a killed
 * server's clients are not sent back to it for FALL checks' time. */
#define CHECK_MS 200
#define FALL 2
#define RISE 2

static struct {
	char *db;
	char *admin_key;
	char *vid, *vkey;
	char front[16];               /* HAProxy's frontend port */
	char port[SERVERS][16];       /* fairpayd's */
	char admin_port[SERVERS][16]; /* their --admin-listen */
	h_server *srv[SERVERS];
	pid_t haproxy;
	char *haproxy_cfg, *haproxy_sock, *haproxy_log, *haproxy_pidfile;
} T;

/* ---------------------------------------------------------------- ports */

static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in sa = { 0 };
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* The next free port of the range after *at, into out. */
static void take_port(int *at, int last, char *out, size_t len)
{
	for (; *at <= last; (*at)++) {
		if (port_free(*at)) {
			snprintf(out, len, "%d", *at);
			(*at)++;
			return;
		}
	}
	fail_msg("no free port left in FP_BALANCER_PORTS");
}

/* ---------------------------------------------------------------- HAProxy */

/* Write the configuration docs/deploy.md describes, for our ports. */
static void write_haproxy_cfg(void)
{
	FILE *f = fopen(T.haproxy_cfg, "w");
	if (f == NULL)
		fail_msg("%s: %s", T.haproxy_cfg, strerror(errno));
	fprintf(f,
		"global\n"
		"  maxconn 2000\n"
		"  stats socket %s mode 600 level admin\n"
		"defaults\n"
		"  mode tcp\n"
		"  timeout connect 2s\n"
		"  timeout client 120s\n"
		"  timeout server 120s\n"
		"  retries 2\n"
		"  option redispatch\n"
		"frontend fairpay\n"
		"  bind 127.0.0.1:%s\n"
		"  default_backend fairpayd\n"
		"backend fairpayd\n"
		"  balance leastconn\n"
		"  option httpchk GET /readyz\n"
		"  http-check expect status 200\n"
		"  default-server inter %dms fall %d rise %d on-marked-down shutdown-sessions"
		" observe layer4 error-limit 1 on-error mark-down\n",
		T.haproxy_sock, T.front, CHECK_MS, FALL, RISE);
	for (int i = 0; i < SERVERS; i++)
		fprintf(f, "  server s%d 127.0.0.1:%s check port %s\n", i + 1, T.port[i],
			T.admin_port[i]);
	fclose(f);
}

static void start_haproxy(void)
{
	char *check = h_fmt("haproxy -c -q -f %s", T.haproxy_cfg);
	if (h_run(check, NULL) != 0)
		fail_msg("haproxy refuses its configuration %s (is haproxy installed? make deps)",
			 T.haproxy_cfg);
	free(check);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(T.haproxy_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* -db: in the foreground, in our process group. */
		execlp("haproxy", "haproxy", "-db", "-f", T.haproxy_cfg, (char *)NULL);
		_exit(127);
	}
	T.haproxy = pid;
	FILE *pf = fopen(T.haproxy_pidfile, "w");
	if (pf != NULL) {
		fprintf(pf, "%d\n", (int)pid);
		fclose(pf);
	}
}

static void stop_haproxy(void)
{
	if (T.haproxy <= 0)
		return;
	kill(T.haproxy, SIGTERM);
	waitpid(T.haproxy, NULL, 0);
	T.haproxy = 0;
	unlink(T.haproxy_pidfile);
}

/* Ask the stats socket: the malloc'ed answer, or NULL when it cannot. */
static char *haproxy_ask(const char *command)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct sockaddr_un sa = { 0 };
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", T.haproxy_sock);
	char *out = NULL;
	size_t len = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, command, strlen(command)) != (ssize_t)strlen(command))
		goto done;
	for (;;) {
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		char *grown = realloc(out, len + (size_t)n + 1);
		if (grown == NULL)
			break;
		out = grown;
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
done:
	close(fd);
	return out;
}

typedef struct server_stat {
	char status[32]; /* UP, DOWN, "no check", ... */
	long scur;       /* sessions now */
	long stot;       /* sessions so far */
} server_stat;

/* Server i's line of `show stat` (CSV: pxname, svname, qcur, qmax, scur,
 * smax, slim, stot, ..., status is field 17). False when not there. */
static bool server_stat_of(int i, server_stat *st)
{
	char *csv = haproxy_ask("show stat\n");
	if (csv == NULL)
		return false;
	char name[16];
	snprintf(name, sizeof(name), "s%d", i + 1);
	bool found = false;
	for (char *line = strtok(csv, "\n"); line != NULL && !found; line = strtok(NULL, "\n")) {
		char *field[20] = { 0 };
		int n = 0;
		for (char *p = line; n < 20; n++) {
			field[n] = p;
			char *comma = strchr(p, ',');
			if (comma == NULL) {
				n++;
				break;
			}
			*comma = '\0';
			p = comma + 1;
		}
		if (n < 18 || strcmp(field[0], "fairpayd") != 0 || strcmp(field[1], name) != 0)
			continue;
		snprintf(st->status, sizeof(st->status), "%s", field[17]);
		st->scur = atol(field[4]);
		st->stot = atol(field[7]);
		found = true;
	}
	free(csv);
	return found;
}

/* Wait until HAProxy reports server i with status want (a prefix: "UP"
 * also matches "UP 1/2"); return the ms it took. Fails after ms. */
static int64_t wait_server_status(int i, const char *want, int ms)
{
	int64_t t0 = h_now_ms();
	server_stat st = { "", 0, 0 };
	for (;;) {
		if (server_stat_of(i, &st) && strncmp(st.status, want, strlen(want)) == 0 &&
		    (strcmp(want, "UP") != 0 || strcmp(st.status, "UP") == 0))
			return h_now_ms() - t0;
		if (h_now_ms() - t0 > ms)
			fail_msg("HAProxy reports server s%d as '%s', not %s, after %d ms (log %s)",
				 i + 1, st.status, want, ms, T.haproxy_log);
		h_sleep_ms(20);
	}
}

/* Sessions so far of every server but skip. */
static long others_sessions(int skip)
{
	long sum = 0;
	for (int i = 0; i < SERVERS; i++) {
		server_stat st;
		if (i != skip && server_stat_of(i, &st))
			sum += st.stot;
	}
	return sum;
}

/* ---------------------------------------------------------------- setup */

static void start_server(int i)
{
	char *listen = h_fmt("127.0.0.1:%s", T.admin_port[i]);
	T.srv[i] = h_server_start_on(T.port[i], T.db, "--admin-listen", listen, NULL);
	free(listen);
}

static int setup(void **state)
{
	const char *range = getenv("FP_BALANCER_PORTS");
	int first = 7500, last = 7549;
	if (range != NULL && sscanf(range, "%d-%d", &first, &last) != 2)
		fail_msg("FP_BALANCER_PORTS '%s' is not FIRST-LAST", range);
	int at = first;
	take_port(&at, last, T.front, sizeof(T.front));
	for (int i = 0; i < SERVERS; i++) {
		take_port(&at, last, T.port[i], sizeof(T.port[i]));
		take_port(&at, last, T.admin_port[i], sizeof(T.admin_port[i]));
	}
	T.haproxy_cfg = h_path(h_tmp_dir(), "haproxy-balancer.cfg");
	T.haproxy_sock = h_path(h_tmp_dir(), "haproxy-balancer.sock");
	T.haproxy_log = h_path(h_tmp_dir(), "haproxy-balancer.log");
	char *pids = h_path(h_tmp_dir(), "pids");
	T.haproxy_pidfile = h_path(pids, "haproxy-balancer.pid");
	free(pids);

	T.db = h_db_create(DB_NAME);
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	for (int i = 0; i < SERVERS; i++)
		start_server(i);
	write_haproxy_cfg();
	start_haproxy();
	for (int i = 0; i < SERVERS; i++)
		wait_server_status(i, "UP", 10000);
	print_message("HAProxy on %s in front of fairpayd on %s, %s, %s (checks: GET /readyz on "
		      "%s, %s, %s every %d ms, fall %d, rise %d)\n",
		      T.front, T.port[0], T.port[1], T.port[2], T.admin_port[0], T.admin_port[1],
		      T.admin_port[2], CHECK_MS, FALL, RISE);
	/* The vendor is made through the balancer too. */
	h_server front = { 0 };
	snprintf(front.port, sizeof(front.port), "%s", T.front);
	snprintf(front.addr, sizeof(front.addr), "127.0.0.1:%s", T.front);
	kl_make_vendor(&front, T.admin_key, "balancer", &T.vid, &T.vkey);
	return 0;
}

static int teardown(void **state)
{
	stop_haproxy();
	for (int i = 0; i < SERVERS; i++)
		h_server_free(T.srv[i]);
	free(T.vid);
	free(T.vkey);
	free(T.admin_key);
	free(T.db);
	free(T.haproxy_cfg);
	free(T.haproxy_sock);
	free(T.haproxy_log);
	free(T.haproxy_pidfile);
	return 0;
}

/* ---------------------------------------------------------------- the test */

static void test_kill_one_server(void **state)
{
	kl_violations_reset();
	kl_config cfg = {
		.ports = T.front,
		.vendor_id = T.vid,
		.vendor_key = T.vkey,
		.admin_key = T.admin_key,
		.tag = "lb",
		.workers = WORKERS,
	};
	kl_load *L = kl_start(&cfg);
	int64_t t_start = h_now_ms();
	if (!kl_wait_answers(L, 300, h_slow() ? 120000 : 20000)) {
		int answered = kl_answered(L);
		kl_free(L);
		kl_report("before the kill");
		fail_msg("the load made no progress through the balancer (%d OK answers)",
			 answered);
	}
	double rate = kl_answered(L) * 1000.0 / (double)(h_now_ms() - t_start + 1);

	/* Every server had sessions; the busiest one goes. */
	int victim = 0;
	long most = -1;
	for (int i = 0; i < SERVERS; i++) {
		server_stat st;
		if (!server_stat_of(i, &st))
			fail_msg("HAProxy's stats name no server s%d", i + 1);
		print_message("before the kill: s%d %s, %ld sessions now, %ld so far\n", i + 1,
			      st.status, st.scur, st.stot);
		assert_true(st.stot > 0);
		if (st.scur > most) {
			most = st.scur;
			victim = i;
		}
	}
	long others_before = others_sessions(victim);
	kl_totals before;
	kl_totals_of(L, &before);
	int answered_at_kill = kl_answered(L);
	int64_t t_kill = h_now_ms();
	int status = h_server_stop(T.srv[victim], SIGKILL);
	if (status != 128 + SIGKILL) {
		kl_free(L);
		fail_msg("fairpayd s%d had exited with status %d before it was killed; log at %s",
			 victim + 1, status, T.srv[victim]->log_path);
	}
	int64_t down_ms = wait_server_status(victim, "DOWN", 5000);
	/* Back: every client the killed server had has a new session on
	 * another server (a client reconnects to send its retry), and the load
	 * has answered two calls per worker since. */
	while (others_sessions(victim) < others_before + most) {
		if (h_now_ms() - t_kill > 20000) {
			kl_free(L);
			kl_report("after the kill");
			fail_msg(
				"the killed server's %ld clients did not all reconnect through the "
				"balancer within 20 s",
				most);
		}
		h_sleep_ms(5);
	}
	int64_t moved_ms = h_now_ms() - t_kill;
	bool back = kl_wait_answers(L, 2 * WORKERS, 20000);
	int64_t back_ms = h_now_ms() - t_kill;
	if (!back) {
		kl_free(L);
		kl_report("after the kill");
		fail_msg("the calls were not answered again within 20 s of the kill");
	}
	/* Run on with one server fewer, then bring it back. */
	kl_wait_answers(L, 200, 10000);
	h_server_free(T.srv[victim]);
	T.srv[victim] = NULL;
	start_server(victim);
	int64_t up_ms = wait_server_status(victim, "UP", 10000);
	server_stat again;
	server_stat_of(victim, &again);
	long stot_back = again.stot;
	/* New sessions reach it: the load's reconnects and the CreateVendor
	 * thread's, plus a few clients of our own. */
	for (int k = 0; k < 2 * SERVERS; k++) {
		char err[256];
		fp_client *c = NULL;
		if (h_try_connect(T.front, h_client_options(), &c, err, sizeof(err)) == 0) {
			h_assert_code(h_ping(c), H_OK);
			fp_client_free(c);
		}
	}
	kl_wait_answers(L, 100, 10000);
	kl_stop(L);
	server_stat_of(victim, &again);

	kl_totals after;
	kl_totals_of(L, &after);
	print_message("%.0f OK answers/s through the balancer before the kill (%d workers, %d "
		      "servers)\n",
		      rate, WORKERS, SERVERS);
	int64_t run_ms = h_now_ms() - t_start;
	print_message("s%d killed (SIGKILL) with %ld client sessions after %d answers: HAProxy "
		      "marked it DOWN %lld ms after the kill; its clients all reconnected through "
		      "the balancer %lld ms after it and %d more calls were answered %lld ms after "
		      "it; longest call of the run %lld ms (before the kill %lld ms)\n",
		      victim + 1, most, answered_at_kill, (long long)down_ms, (long long)moved_ms,
		      2 * WORKERS, (long long)back_ms, (long long)after.longest_ms,
		      (long long)before.longest_ms);
	print_message("%d cycles finished in %.1f s: %.0f cycles/s through the balancer, kill and "
		      "restart included\n",
		      after.finished, (double)run_ms / 1000.0,
		      after.finished * 1000.0 / (double)(run_ms + 1));
	print_message("s%d restarted on its port: UP again after %lld ms; sessions to it %ld "
		      "then %ld\n",
		      victim + 1, (long long)up_ms, stot_back, again.stot);

	kl_check_offers(L, T.db);
	kl_check_vendors(L, T.db);
	kl_check_verify(T.db);
	kl_print_totals(L);
	/* The killed server's clients came back through the balancer. */
	assert_true(after.connects > WORKERS + 1);
	assert_true(again.stot > stot_back);
	kl_free(L);
	kl_report("one server killed behind the balancer");
	print_message("checked: every keyed call answered OK through the balancer, its repeat "
		      "replayed with the same object; offers, payments and vendors stored are "
		      "exactly those answered; every finished cycle's offer PAID once with its "
		      "answered payment; reputation verify exit 0\n");
}

/* Stopping one server for maintenance: SIGTERM, the server drains (its
 * /readyz answers 503, it finishes its calls and exits 0), HAProxy takes it
 * out, and its clients' calls go on through the others exactly once. */
static void test_drain_one_server(void **state)
{
	kl_violations_reset();
	const int victim = SERVERS - 1;
	if (T.srv[victim] == NULL || !h_server_alive(T.srv[victim]))
		fail_msg("no server s%d to drain (the last test left none)", victim + 1);
	wait_server_status(victim, "UP", 10000);
	kl_config cfg = {
		.ports = T.front,
		.vendor_id = T.vid,
		.vendor_key = T.vkey,
		.tag = "lbd",
		.workers = WORKERS,
	};
	kl_load *L = kl_start(&cfg);
	if (!kl_wait_answers(L, 200, h_slow() ? 120000 : 20000)) {
		kl_free(L);
		kl_report("before the drain");
		fail_msg("the load made no progress through the balancer");
	}
	server_stat st;
	if (!server_stat_of(victim, &st) || st.scur == 0) {
		kl_free(L);
		fail_msg("s%d has no client session to drain", victim + 1);
	}
	int64_t t0 = h_now_ms();
	int status = h_server_stop(T.srv[victim], SIGTERM);
	int64_t exit_ms = h_now_ms() - t0;
	bool back = kl_wait_answers(L, 2 * WORKERS, 20000);
	int64_t back_ms = h_now_ms() - t0;
	int64_t down_ms = wait_server_status(victim, "DOWN", 5000) + exit_ms;
	kl_wait_answers(L, 100, 10000);
	kl_stop(L);
	print_message("s%d drained (SIGTERM) with %ld client sessions: exit status %d after %lld "
		      "ms; HAProxy had it DOWN within %lld ms; %d more calls answered %lld ms "
		      "after the SIGTERM\n",
		      victim + 1, st.scur, status, (long long)exit_ms, (long long)down_ms,
		      2 * WORKERS, (long long)back_ms);
	kl_check_offers(L, T.db);
	kl_check_verify(T.db);
	kl_print_totals(L);
	kl_free(L);
	h_server_free(T.srv[victim]);
	T.srv[victim] = NULL;
	assert_int_equal(status, 0);
	assert_true(back);
	kl_report("one server drained behind the balancer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_one_server),
		cmocka_unit_test(test_drain_one_server),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
