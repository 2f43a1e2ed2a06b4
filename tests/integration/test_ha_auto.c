/* Integration test of automatic failover with pg_auto_failover: fairpayd on
 * the conninfo of a pg_auto_failover formation (a monitor, a primary and a
 * synchronous secondary on this machine, scripts/ha.sh) keeps its promise
 * when the primary's host is lost, and nobody runs promote.
 *
 *  1. test_primary_lost: worker threads run keyed FairPay cycles and an admin
 *     thread CreateVendor (keyed_load.c: every call retried with the same key
 *     until answered); the primary's postgres and its keeper are killed with
 *     SIGKILL. The monitor notices, promotes the secondary, and fairpayd's
 *     libpq (target_session_attrs=read-write over both nodes) finds it.
 *     Checked: the monitor names the other node as primary; every keyed call
 *     is answered OK within call_ms, its repeat replayed with the same
 *     object; the new primary holds exactly the offers, payments and vendors
 *     the answers named (none lost, none twice), every finished cycle's offer
 *     PAID once; `fairpayctl reputation verify` is clean. The seconds from
 *     the kill to the first answer that needed the new primary are printed.
 *  2. test_old_primary_rejoins: the killed node's keeper started again
 *     rejoins as the secondary (the formation is primary + secondary
 *     again, the secondary synchronous), and keyed cycles made afterwards
 *     are answered and stored exactly once.
 *
 * The formation uses fixed ports HA_BASE..HA_BASE+2 (pg_autoctl registers
 * each node's host and port with the monitor), clear of the free ports the
 * harness takes from the kernel and of `make ha-demo`'s. */
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

#include "keyed_load.h"

/* The monitor's port; the nodes take the next two. */
#define HA_BASE 7460
#define WORKERS 4
/* A keyed call may wait this long for an answer: the failover included. */
#define CALL_MS 60000

static struct {
	char *dir;      /* the formation's directory (scripts/ha.sh) */
	char *ha;       /* "'$FP_ROOT/scripts/ha.sh'" */
	char *conninfo; /* the formation's, from pg_autoctl show uri */
	char *db;       /* the same as the owner, who migrates */
	char *admin_key;
	h_server *srv;
	char *vid, *vkey;
	char victim[32]; /* the node killed by test 1 */
} T;

/* Run `scripts/ha.sh ARGS`; its stdout, trimmed, into *out when not NULL. */
static int ha(char **out, const char *args)
{
	char *o = NULL;
	int rc = h_runf(&o, "%s %s", T.ha, args);
	if (o != NULL)
		o[strcspn(o, "\n")] = '\0';
	if (out != NULL)
		*out = o;
	else
		free(o);
	return rc;
}

static char *primary_name(void)
{
	char *args = h_fmt("primary %s", T.dir);
	char *name = NULL;
	int rc = ha(&name, args);
	free(args);
	if (rc != 0) {
		free(name);
		return NULL;
	}
	return name;
}

/* Fail unless the primary's standby is synchronous, so that an acknowledged
 * commit is on both nodes (pg_auto_failover's ANY 1 (...): quorum). */
static void assert_synchronous(void)
{
	char *sync = h_sql(T.db, "SELECT string_agg(sync_state, ',') FROM pg_stat_replication");
	char *commit = h_sql(T.db, "SELECT current_setting('synchronous_commit')");
	print_message("the primary's standbys: %s; synchronous_commit = %s\n",
		      sync != NULL ? sync : "(none)", commit != NULL ? commit : "?");
	if (sync == NULL || (strcmp(sync, "quorum") != 0 && strcmp(sync, "sync") != 0) ||
	    commit == NULL || strcmp(commit, "on") != 0)
		fail_msg("the secondary is not a synchronous standby of the primary");
	free(sync);
	free(commit);
}

static int setup(void **state)
{
	T.dir = h_fmt("%s/ha", h_env("FP_TMP"));
	char *path = h_fmt("%s/scripts/ha.sh", h_env("FP_ROOT"));
	T.ha = h_shq(path);
	free(path);
	/* The keepers run in sessions of their own: run-tests.sh stops them
	 * through their pid files when this test dies midway. */
	char *reap = h_fmt("%s/pids", h_env("FP_TMP"));
	setenv("FP_HA_REAP_DIR", reap, 1);
	free(reap);
	char *args = h_fmt("start %s %d", T.dir, HA_BASE);
	int64_t t0 = h_now_ms();
	if (ha(NULL, args) != 0)
		fail_msg("scripts/ha.sh could not start the formation (logs in %s/*.log; is "
			 "postgresql-15-auto-failover installed? make deps)",
			 T.dir);
	free(args);
	print_message("monitor and two nodes up in %lld ms\n", (long long)(h_now_ms() - t0));
	args = h_fmt("conninfo %s", T.dir);
	int rc = ha(&T.conninfo, args);
	if (rc != 0 || strstr(T.conninfo, "target_session_attrs") == NULL)
		fail_msg("no conninfo from pg_autoctl show uri: '%s'", T.conninfo);
	free(args);
	T.db = h_conninfo_as(T.conninfo, "postgres");
	h_migrate(T.db);
	char *q = h_shq(T.db);
	rc = h_runf(NULL, "'%s/scripts/pg.sh' server-login --conninfo %s", h_env("FP_ROOT"), q);
	free(q);
	if (rc != 0)
		fail_msg("could not create the role fairpayd logs in as");
	T.admin_key = h_bootstrap_admin(T.db);
	assert_synchronous();
	T.srv = h_server_start(T.conninfo, NULL);
	kl_make_vendor(T.srv, T.admin_key, "ha auto", &T.vid, &T.vkey);
	return 0;
}

static int teardown(void **state)
{
	if (T.srv != NULL)
		h_server_free(T.srv);
	if (T.dir != NULL) {
		char *args = h_fmt("stop %s", T.dir);
		ha(NULL, args);
		free(args);
	}
	free(T.vid);
	free(T.vkey);
	free(T.admin_key);
	free(T.db);
	free(T.conninfo);
	free(T.ha);
	free(T.dir);
	return 0;
}

/* ---------------------------------------------------------------- test 1 */

static void test_primary_lost(void **state)
{
	kl_violations_reset();
	kl_config cfg = {
		.ports = T.srv->port,
		.vendor_id = T.vid,
		.vendor_key = T.vkey,
		.admin_key = T.admin_key,
		.tag = "ha",
		.workers = WORKERS,
		.lim = { .call_ms = CALL_MS },
	};
	kl_load *L = kl_start(&cfg);
	if (!kl_wait_answers(L, 30, 20000)) {
		int answered = kl_answered(L);
		kl_free(L);
		kl_report("before the kill");
		fail_msg("the load made no progress before the kill (%d OK answers)", answered);
	}

	char *victim = primary_name();
	if (victim == NULL || victim[0] == '\0') {
		kl_free(L);
		fail_msg("the monitor names no primary");
	}
	snprintf(T.victim, sizeof(T.victim), "%s", victim);
	free(victim);
	char *args = h_fmt("kill %s %s", T.victim, T.dir);
	int at_kill = kl_answered(L);
	int64_t t_kill = h_now_ms();
	int rc = ha(NULL, args);
	free(args);
	if (rc != 0) {
		kl_free(L);
		fail_msg("could not kill %s", T.victim);
	}
	/* Each worker has at most one call in flight, answered perhaps just
	 * before the kill: the answer after those needed the new primary. */
	int in_flight = WORKERS + 1;
	bool back = kl_wait_answers(L, in_flight + 1, CALL_MS);
	int64_t back_ms = h_now_ms() - t_kill;
	print_message("%s (the primary) killed with %d calls answered OK; %s %lld ms later\n",
		      T.victim, at_kill, back ? "service back" : "no service", (long long)back_ms);
	if (back)
		kl_wait_answers(L, 4 * WORKERS, 20000);
	kl_stop(L);

	char *now = primary_name();
	print_message("the monitor's primary now: %s\n", now != NULL ? now : "(none)");
	bool promoted = now != NULL && now[0] != '\0' && strcmp(now, T.victim) != 0;
	free(now);

	kl_check_offers(L, T.db);
	kl_check_vendors(L, T.db);
	kl_check_verify(T.db);
	kl_print_totals(L);
	kl_free(L);
	kl_report("primary lost during keyed calls");
	if (!back)
		fail_msg("no call answered within %d ms of the kill", CALL_MS);
	assert_true(promoted);
	assert_true(h_server_alive(T.srv));
	print_message("checked: the secondary promoted by the monitor, no promote run; every "
		      "keyed call answered OK, its repeat replayed; offers, payments and vendors "
		      "on the new primary exactly those answered; reputation verify exit 0; "
		      "failover: %.1f s from the kill to service back\n",
		      (double)back_ms / 1000.0);
}

/* ---------------------------------------------------------------- test 2 */

static void test_old_primary_rejoins(void **state)
{
	if (T.victim[0] == '\0')
		fail_msg("test_primary_lost killed no node");
	char *args = h_fmt("restart %s %s", T.victim, T.dir);
	assert_int_equal(ha(NULL, args), 0);
	free(args);
	int64_t t0 = h_now_ms();
	args = h_fmt("wait %s 90", T.dir);
	int rc = ha(NULL, args);
	free(args);
	args = h_fmt("state %s", T.dir);
	ha(NULL, args);
	free(args);
	if (rc != 0)
		fail_msg("%s did not rejoin as the secondary within 90 s (log %s/%s.log)", T.victim,
			 T.dir, T.victim);
	print_message("%s rejoined as the secondary in %lld ms\n", T.victim,
		      (long long)(h_now_ms() - t0));
	char *now = primary_name();
	assert_non_null(now);
	assert_string_not_equal(now, T.victim);
	free(now);
	assert_synchronous();

	/* Writes wait for the secondary again, and are answered. */
	kl_violations_reset();
	kl_config cfg = {
		.ports = T.srv->port,
		.vendor_id = T.vid,
		.vendor_key = T.vkey,
		.tag = "ha2",
		.workers = 2,
		.customers = 1,
	};
	kl_load *L = kl_start(&cfg);
	bool moving = kl_wait_answers(L, 6, 20000);
	kl_stop(L);
	kl_check_offers(L, T.db);
	kl_free(L);
	kl_report("after the old primary rejoined");
	assert_true(moving);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary_lost),
		cmocka_unit_test(test_old_primary_rejoins),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
