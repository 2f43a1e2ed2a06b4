/* The worker processes and their supervisor (see workers.h). */
#include "workers.h"

#include <errno.h>
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

#define WORKERS_MAX 256
#define RESTART_MIN_MS 1000

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
	_exit(run(cfg, id));
}

static void signal_all(worker *w, int n, int sig)
{
	for (int i = 0; i < n; i++)
		if (w[i].pid > 0)
			kill(w[i].pid, sig);
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
	while (running > 0 || !stopping) {
		siginfo_t info;
		struct timespec tick = { 0, 200 * 1000000 };
		int sig = sigtimedwait(&set, &info, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping)
				log_info(0, "%s: stopping %d workers",
					 sig == SIGTERM ? "SIGTERM" : "SIGINT", running);
			stopping = true;
			signal_all(w, n, sig);
		} else if (sig == SIGHUP) {
			signal_all(w, n, SIGHUP);
		}
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
	log_info(0, "all workers stopped");
	return failed ? 1 : 0;
}
