/* Log lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static log_level min_level = LOG_INFO;
static int worker_id; /* 0: the only process; else which of --workers */

void log_set_worker(int id)
{
	worker_id = id;
}

int log_worker(void)
{
	return worker_id;
}

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

void log_set_level(log_level level)
{
	min_level = level;
}

int log_parse_level(const char *name, log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_enabled(log_level level)
{
	return level >= min_level;
}

void log_write(log_level level, uint64_t conn_id, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char line[1024];
	int64_t us = clock_wall_us();
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char worker[24] = "";
	if (worker_id > 0)
		snprintf(worker, sizeof(worker), "worker=%d ", worker_id);
	int n = snprintf(line, sizeof(line),
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %sconn=%llu ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(us % 1000000 / 1000), level_names[level], worker,
			 (unsigned long long)conn_id);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = strlen(line);
	line[len++] = '\n';
	/* One write per line keeps lines whole when several processes share
	 * stderr. */
	fwrite(line, 1, len, stderr);
}
