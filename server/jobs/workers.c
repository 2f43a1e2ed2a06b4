/* The worker processes and their supervisor (see workers.h). */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "notify.h"

#define WORKERS_MAX 256
#define RESTART_MIN_MS 1000
/* A reload that some worker never confirms (it died) is done after this. */
#define RELOAD_WAIT_MS 10000

typedef struct worker {
	int64_t started_ms;
	pid_t pid; /* 0: not running */
	int status;
} worker;

int workers_default(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (n > WORKERS_MAX ? WORKERS_MAX : (int)n);
}

/* The pipe on which workers tell the supervisor they listen or reloaded. */
static int report_pipe[2] = { -1, -1 };

static pid_t spawn(fp_config *cfg, int id, workers_main run, const sigset_t *old, pid_t parent)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid; /* the parent, or -1 */
	/* A worker dies with the supervisor, so that a killed server leaves
	 * nothing serving behind it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	/* SIGTERM, SIGINT and SIGHUP stay blocked until the worker's server
	 * has its handlers (run() unblocks them): a signal passed on while it
	 * starts waits instead of killing it. */
	sigset_t held = *old;
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGHUP);
	sigprocmask(SIG_SETMASK, &held, NULL);
	log_set_worker(id);
	close(report_pipe[0]);
	notify_set_parent(report_pipe[1]);
	_exit(run(cfg, id));
}

static void signal_all(worker *w, int n, int sig)
{
	for (int i = 0; i < n; i++)
		if (w[i].pid > 0)
			kill(w[i].pid, sig);
}

/* What the workers reported: readiness at start, reloads confirmed. */
typedef struct reports {
	int listening;          /* workers that said they listen */
	bool ready;             /* READY=1 was sent */
	int reload_waiting;     /* confirmations of a reload still to come */
	int64_t reload_started; /* when that reload began (ms, monotonic) */
} reports;

/* Read the workers' reports; READY=1 once every worker listens, and again
 * once every worker has applied a reload. */
static void read_reports(reports *r, int n)
{
	char buf[64];
	ssize_t got;
	while ((got = read(report_pipe[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] == NOTIFY_LISTENING)
				r->listening++;
			else if (buf[i] == NOTIFY_RELOADED && r->reload_waiting > 0 &&
				 --r->reload_waiting == 0)
				notify_main_ready();
		}
	}
	if (!r->ready && r->listening >= n) {
		r->ready = true;
		notify_main_ready();
	}
	if (r->reload_waiting > 0 && clock_mono_ms() - r->reload_started > RELOAD_WAIT_MS) {
		r->reload_waiting = 0;
		notify_main_ready();
	}
}

/* SIGHUP: the supervisor reads the file first (its own log settings, and
 * the one account of what changed), then each worker applies it. An
 * invalid file goes no further. */
static void reload(fp_config *cfg, worker *w, int n, int running, reports *r)
{
	notify_reloading();
	if (cfg_reload_apply(cfg, false) < 0 || running == 0) {
		notify_main_ready();
		return;
	}
	r->reload_waiting += running;
	r->reload_started = clock_mono_ms();
	signal_all(w, n, SIGHUP);
}

int workers_run(fp_config *cfg, int n, workers_main run)
{
	if (n <= 1)
		return run(cfg, 0);
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	worker w[WORKERS_MAX];
	memset(w, 0, sizeof(w));
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t self = getpid();
	/* Non-blocking both ways: the parent polls it, and a worker's report
	 * waits for nothing. */
	if (pipe2(report_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error(0, "cannot make the workers' pipe: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		w[i].pid = spawn(cfg, i + 1, run, &old, self);
		w[i].started_ms = clock_mono_ms();
		if (w[i].pid < 0) {
			log_error(0, "cannot start worker %d: %s", i + 1, strerror(errno));
			signal_all(w, n, SIGTERM);
			w[i].pid = 0;
			n = i;
			break;
		}
	}
	log_info(0, "%d workers serving", n);
	bool stopping = n == 0;
	int running = n, failed = n == 0;
	reports rep = { 0 };
	while (running > 0 || !stopping) {
		siginfo_t info;
		struct timespec tick = { 0, 50 * 1000000 };
		int sig = sigtimedwait(&set, &info, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping) {
				notify_stopping();
				log_info(0, "%s: stopping %d workers",
					 sig == SIGTERM ? "SIGTERM" : "SIGINT", running);
			}
			stopping = true;
			signal_all(w, n, sig);
		} else if (sig == SIGHUP && !stopping) {
			reload(cfg, w, n, running, &rep);
		}
		read_reports(&rep, n);
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (w[i].pid != pid)
					continue;
				w[i].pid = 0;
				running--;
				bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
				if (stopping) {
					failed |= !clean;
					break;
				}
				/* Exiting with an error as it starts means it cannot
				 * start; being killed is never that. */
				bool at_start = WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
						clock_mono_ms() - w[i].started_ms < RESTART_MIN_MS;
				log_error(0, "worker %d (pid %d) %s %d%s", i + 1, (int)pid,
					  WIFSIGNALED(status) ? "died of signal" : "exited",
					  WIFSIGNALED(status) ? WTERMSIG(status)
							      : WEXITSTATUS(status),
					  at_start ? " as it started: stopping"
						   : "; starting it again");
				w[i].status = status;
				if (at_start) {
					/* A worker that cannot start (a port taken, a
					 * bad file) will not start on a retry either. */
					stopping = true;
					failed = true;
					signal_all(w, n, SIGTERM);
				}
				break;
			}
		}
		/* Start again the workers that died, each at most once a second. */
		for (int i = 0; i < n && !stopping; i++) {
			if (w[i].pid != 0 || clock_mono_ms() - w[i].started_ms < RESTART_MIN_MS)
				continue;
			w[i].started_ms = clock_mono_ms();
			w[i].pid = spawn(cfg, i + 1, run, &old, self);
			if (w[i].pid < 0)
				w[i].pid = 0;
			else
				running++;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(report_pipe[0]);
	close(report_pipe[1]);
	log_info(0, "all workers stopped");
	return failed ? 1 : 0;
}
