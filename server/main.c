/* fairpayd: read the flags and the config file, set up the server, run it
 * until a signal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <openssl/ssl.h>

#include "config.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"
#include "tls.h"
#include "workers.h"

/* One server: this process's event loop, until a signal ends it. */
static int run_server(fp_config *cfg, int worker_id)
{
	srv s;
	int rc = 1;
	metrics_attach(worker_id);
	if (srv_init(&s, cfg, &session_handler) == 0) {
		/* The handlers are in place: signals held while starting (a
		 * worker's) are delivered now. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		srv_run(&s);
		rc = s.exit_code;
	}
	srv_cleanup(&s);
	metrics_detach();
	return rc;
}

/* Descriptors a worker needs besides its clients': the listener, the
 * database pool and its LISTEN connection, the event loop's own, the log. */
#define FDS_BESIDES_CLIENTS 32

/* Take every descriptor the hard limit allows (the soft one is often 1024),
 * and say so when even that is short of what the caps let clients open. */
static void raise_fd_limit(const fp_config *cfg, int workers)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t need = (rlim_t)(cfg->max_connections / workers + cfg->db_pool + FDS_BESIDES_CLIENTS);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn(0,
			 "open file limit %llu is below the %llu descriptors a worker needs for "
			 "--max-connections %lld; accepts will pause when it is reached "
			 "(raise it: ulimit -n, or LimitNOFILE= in the unit file)",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)need,
			 (long long)cfg->max_connections);
}

int main(int argc, char **argv)
{
	fp_config cfg;
	char err[512];
	int rc = 1;

	if (cfg_load(&cfg, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "fairpayd: %s\n", err);
		cfg_free(&cfg);
		return 2;
	}
	if (cfg.help) {
		cfg_usage(stdout);
		rc = 0;
		goto done;
	}
	if (cfg.print_config) {
		cfg_print(stdout);
		rc = 0;
		goto done;
	}
	if (cfg.version) {
		printf("fairpayd %s\n", FP_VERSION);
		rc = 0;
		goto done;
	}
	if (cfg_validate(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "fairpayd: %s\n", err);
		rc = 2;
		goto done;
	}
	log_level level;
	log_format format;
	/* cfg_validate() checked both. */
	if (log_parse_level(cfg.log_level, &level) == 0)
		log_set_level(level);
	if (log_parse_format(cfg.log_format, &format) == 0)
		log_set_format(format);
	/* A client that vanishes mid-write must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	OPENSSL_init_ssl(0, NULL);
	/* Before the workers are forked: they share the ticket keys. */
	if (tls_tickets_init(cfg.tls_ticket_rotate_s) != 0) {
		fprintf(stderr, "fairpayd: cannot map memory for the TLS ticket keys\n");
		goto done;
	}

	int workers = cfg.workers > 0 ? (int)cfg.workers : workers_default();
	/* Before the workers are forked too: a scrape sums their slots. */
	metrics_names(dispatch_call_name, dispatch_code_name);
	if (metrics_init(workers) != 0) {
		fprintf(stderr, "fairpayd: cannot map memory for the metrics\n");
		goto done;
	}
	raise_fd_limit(&cfg, workers);
	/* Each worker's part of the caps; a reload divides the same way. */
	cfg_share(&cfg, workers);
	rc = workers_run(&cfg, workers, run_server);
done:
	cfg_free(&cfg);
	return rc;
}
