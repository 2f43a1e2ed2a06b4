/* notify_: tell systemd (Type=notify) where the server is: READY=1 once it
 * serves, RELOADING=1 and READY=1 around a reload, STOPPING=1 on SIGTERM.
 *
 * Only the main process talks to systemd (libsystemd's sd_notify; nothing
 * is sent without NOTIFY_SOCKET). A worker of --workers tells its parent
 * instead, over a pipe the parent reads: the parent says READY=1 once every
 * worker listens, and again once every worker has applied a reload. */
#ifndef FP_NOTIFY_H
#define FP_NOTIFY_H

/* What a worker tells its parent, one byte each. */
#define NOTIFY_LISTENING 'L'
#define NOTIFY_RELOADED 'R'

/* Make this process a worker that reports to its parent on fd. */
void notify_set_parent(int fd);

/* The server listens: READY=1 (a worker: tell the parent). */
void notify_ready(void);

/* A reload starts: RELOADING=1 with MONOTONIC_USEC (a worker: nothing). */
void notify_reloading(void);

/* A reload is done, applied or not: READY=1 (a worker: tell the parent). */
void notify_reloaded(void);

/* Shutting down: STOPPING=1 (a worker: nothing). */
void notify_stopping(void);

/* Send READY=1 from the main process (the parent, once all workers are). */
void notify_main_ready(void);

#endif
