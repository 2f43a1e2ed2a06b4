/* workers_: run --workers copies of the server as processes, one event loop
 * each, sharing the listening port (SO_REUSEPORT: the kernel spreads new
 * connections) and nothing else: each has its own connections, database
 * pool and row cache, kept coherent with the others like another server's
 * (LISTEN/NOTIFY).
 *
 * The parent only supervises: it passes SIGTERM, SIGINT and SIGHUP on to
 * every worker, starts again a worker that dies while the server runs (at
 * most once a second), and exits once every worker has exited after a
 * SIGTERM: 0 when all exited 0. A worker dies with its parent (a killed
 * supervisor leaves no worker serving). On SIGHUP the parent reads the
 * config file first: an invalid one goes no further, and the workers are
 * signalled only with a valid one. It alone talks to systemd (notify.h):
 * READY=1 once every worker said it listens, again once every worker
 * applied a reload. */
#ifndef FP_WORKERS_H
#define FP_WORKERS_H

#include "config.h"

/* Run one server in this process; its exit status. */
typedef int (*workers_main)(fp_config *cfg, int worker_id);

/* Run n workers of run until a SIGTERM or SIGINT ends them; the exit
 * status for the process. n == 1 runs run() in this process. */
int workers_run(fp_config *cfg, int n, workers_main run);

/* The number of processors online (at least 1). */
int workers_default(void);

#endif
