/* Limit counters (see stats.h). */
#include "stats.h"

#include <stdio.h>

#include "log.h"

static const char *const names[STAT_COUNT] = {
	"connections_refused",     "handshake_timeouts",
	"idle_timeouts",           "slow_reader_pauses",
	"slow_reader_disconnects", "frame_too_large",
	"protocol_errors",         "auth_closes",
	"inflight_pauses",         "wakeup_yields",
	"source_cap_refusals",     "unauth_cap_refusals",
	"key_cap_refusals",        "auth_timeouts",
	"accept_errors",
};

const char *stats_name(stats_id id)
{
	return id >= 0 && id < STAT_COUNT ? names[id] : "?";
}

void stats_hit(stats *st, stats_id id, uint64_t conn_id)
{
	/* One writer per counter (this process): relaxed is enough. */
	uint64_t total = atomic_fetch_add_explicit(&st->value[id], 1, memory_order_relaxed) + 1;
	st->changed = true;
	/* Pipelining clients reach the first two all the time by design, and
	 * a flood of connections would turn the others into a flood of log
	 * lines: they show in the summary line, not once per hit. */
	if (id == STAT_INFLIGHT_PAUSES || id == STAT_WAKEUP_YIELDS ||
	    id == STAT_SOURCE_CAP_REFUSALS || id == STAT_UNAUTH_CAP_REFUSALS ||
	    id == STAT_ACCEPT_ERRORS)
		log_debug(conn_id, "limit %s hit (total %llu)", names[id],
			  (unsigned long long)total);
	else
		log_info(conn_id, "limit %s hit (total %llu)", names[id],
			 (unsigned long long)total);
}

void stats_log(stats *st, bool only_if_changed)
{
	if (only_if_changed && !st->changed)
		return;
	char line[512];
	size_t used = 0;
	for (int i = 0; i < STAT_COUNT && used < sizeof(line); i++) {
		int n = snprintf(line + used, sizeof(line) - used, "%s%s=%llu", i ? " " : "",
				 names[i],
				 (unsigned long long)atomic_load_explicit(&st->value[i],
									  memory_order_relaxed));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	log_info(0, "stats: %s", line);
	st->changed = false;
}
