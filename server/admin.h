/* admin_: the operators' plain-HTTP endpoint (--admin-listen).
 *
 * GET /metrics answers the Prometheus text format 0.0.4 with the counters of
 * every worker (metrics.h); GET /healthz answers 200 while the process runs;
 * GET /readyz 200 when every running worker's database answered its last
 * probe and none is draining, else 503. Any other path is 404, any other
 * method 405. It runs on the worker's own event loop (libevent's evhttp),
 * every worker listening on the port (SO_REUSEPORT), so that any of them
 * answers for all. Nothing it serves is secret: counts and names only. */
#ifndef FP_ADMIN_H
#define FP_ADMIN_H

#include <stdbool.h>

#include <event2/event.h>

#include "config.h"
#include "db.h"

typedef struct admin admin;

/* Listen on cfg->admin_listen on base and probe db for readiness, which
 * ends once *stopping (the server is draining); NULL on failure (logged). */
admin *admin_new(struct event_base *base, const fp_config *cfg, db_pool *db, const bool *stopping);

/* Stop listening and free a. Accepts NULL. After the database pool is
 * freed: a probe in flight is answered first. */
void admin_free(admin *a);

#endif
