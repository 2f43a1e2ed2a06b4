/* metrics_: the server's counters for operators, across every worker.
 *
 * The counters live in one shared anonymous mapping made before the
 * workers fork (metrics_init), one slot per worker: a worker writes only
 * its own slot, with relaxed atomics (an increment costs nanoseconds and no
 * lock), and whichever worker answers a scrape sums every slot
 * (metrics_render). Counters keep what a worker that died had counted;
 * gauges and readiness count only the workers that run.
 *
 * Without metrics_init (tests, tools) everything writes to a slot private
 * to the process, so callers never check. The limit counters of stats.h
 * live here too (metrics_limits): one copy, logged and scraped. */
#ifndef FP_METRICS_H
#define FP_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Call numbers below this are counted apart (the request's call field);
 * others, and requests for no known call, count as call 0. */
#define METRICS_CALLS 64
/* Status codes below this are counted apart; a larger one (none is)
 * counts as the last. */
#define METRICS_CODES 32

typedef enum metrics_counter {
	METRIC_CONN_ACCEPTED = 0,
	METRIC_TLS_HANDSHAKES,
	METRIC_TLS_FAILURES,
	METRIC_DB_COMMITS,
	METRIC_DB_COMMITTED_CALLS,
	METRIC_DB_QUEUE_WAIT_NS,
	METRIC_DB_QUEUE_WAITS,
	METRIC_CACHE_HITS,
	METRIC_CACHE_MISSES,
	METRIC_SWEEP_ROUNDS,
	METRIC_HOOK_DELIVERED,
	METRIC_HOOK_FAILED,
	METRIC_HOOK_GAVE_UP,
	METRIC_DB_UNCONFIRMED,    /* commits the synchronous standby did not confirm in time */
	METRIC_DB_SET_STATEMENTS, /* committed statements that carried set writes */
	METRIC_DB_SET_ITEMS,      /* the set writes they carried */
	METRIC_COUNTERS
} metrics_counter;

typedef enum metrics_gauge {
	METRIC_CONNECTIONS = 0,
	METRIC_DB_INFLIGHT,        /* queries the pool holds: queued or sent */
	METRIC_SWEEP_LAST_MS,      /* wall clock of the last completed sweep round */
	METRIC_HOOK_OLDEST_AGE_MS, /* age of the oldest undelivered webhook; -1: unknown */
	METRIC_DB_OLDEST_QUERY_MS, /* the longest a connection's current query has waited */
	METRIC_GAUGES
} metrics_gauge;

/* Names of the calls and codes, by number (NULL: not one), for the labels. */
typedef const char *(*metrics_namer)(unsigned n);

/* Name the calls and codes in the labels (before forking: the workers
 * inherit it); without, they are numbers. */
void metrics_names(metrics_namer call_name, metrics_namer code_name);

/* Map the slots of workers processes (plus one for a single process);
 * call once, before forking. -1 when the memory cannot be mapped. */
int metrics_init(int workers) __attribute__((warn_unused_result));

/* Take slot worker (0: a single process) for this process, its gauges reset. */
void metrics_attach(int worker);

/* Give the slot up: this process no longer counts as a running worker. */
void metrics_detach(void);

/* Add n to a counter. */
void metrics_add(metrics_counter id, uint64_t n);

/* Set a gauge, or move it by delta. */
void metrics_set(metrics_gauge id, int64_t value);
void metrics_move(metrics_gauge id, int64_t delta);

/* Count one finished call: its number, status code and duration. */
void metrics_call(unsigned call, unsigned code, int64_t ns);

/* Say whether this worker is ready (its database answers, not draining). */
void metrics_set_ready(bool ready);

/* True when every running worker said it is ready. */
bool metrics_ready(void);

/* This process's limit counters, indexed by stats_id (stats.h). */
_Atomic uint64_t *metrics_limits(void);

/* Write every metric of every worker in the Prometheus text format 0.0.4;
 * -1 when out cannot take it. */
int metrics_render(FILE *out) __attribute__((warn_unused_result));

#endif
