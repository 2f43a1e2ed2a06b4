/* stats_: counters of the limits the server enforces.
 *
 * Each hit is logged with its running total, so an operator sees an attack
 * or a misbehaving client as it happens; a summary line with every counter
 * is written every --stats-interval-ms when something changed, and once at
 * shutdown. The counters themselves live in metrics.h's shared memory, so
 * that a scrape sees them too (fairpay_limit_hits_total, by stats_name). */
#ifndef FP_STATS_H
#define FP_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum stats_id {
	STAT_CONNECTIONS_REFUSED = 0,
	STAT_HANDSHAKE_TIMEOUTS,
	STAT_IDLE_TIMEOUTS,
	STAT_SLOW_READER_PAUSES,
	STAT_SLOW_READER_DISCONNECTS,
	STAT_FRAME_TOO_LARGE,
	STAT_PROTOCOL_ERRORS,
	STAT_AUTH_CLOSES,
	STAT_INFLIGHT_PAUSES,
	STAT_WAKEUP_YIELDS,
	STAT_SOURCE_CAP_REFUSALS,
	STAT_UNAUTH_CAP_REFUSALS,
	STAT_KEY_CAP_REFUSALS,
	STAT_AUTH_TIMEOUTS,
	STAT_ACCEPT_ERRORS,
	STAT_COUNT
} stats_id;

typedef struct stats {
	_Atomic uint64_t *value; /* STAT_COUNT counters: metrics_limits() */
	bool changed;
} stats;

/* The limit's name, as logged and as the label of its metric. */
const char *stats_name(stats_id id);

/* Count one hit of a limit and log it (quietly for the frequent ones). */
void stats_hit(stats *st, stats_id id, uint64_t conn_id);

/* Write the summary line; with only_if_changed, only when a counter moved. */
void stats_log(stats *st, bool only_if_changed);

#endif
