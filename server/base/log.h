/* log_: level-gated log lines on stderr.
 *
 * Two formats (--log-format): text, and json, one JSON object a line with
 * ts, level, worker (when > 0), conn and msg, plus call, code, duration_ms
 * and vendor on the lines about calls (log_call()).
 *
 * Each line carries a UTC timestamp, the level and the connection id (0 for
 * the server itself), so an operator can follow one client through the log.
 * Secrets (API keys, key hashes) are never passed to these functions.
 *
 * A line is one line: every string a client chose (idempotency keys, ids,
 * names, and PostgreSQL's error texts, which may echo them) goes through
 * log_escape(), and log_write() escapes any control character left in a
 * message, so that no input can forge or split a line. */
#ifndef FP_LOG_H
#define FP_LOG_H

#include <stdint.h>

typedef enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR
} log_level;

typedef enum log_format {
	LOG_TEXT = 0,
	LOG_JSON
} log_format;

/* What a line about one call adds as fields: NULL (or duration_us < 0)
 * leaves a field out. */
typedef struct log_fields {
	const char *call;    /* the call's name, e.g. "CreateOffer" */
	const char *code;    /* the status code's name, e.g. "ABORTED" */
	int64_t duration_us; /* since the request was read */
	const char *vendor;  /* the vendor the caller speaks for */
} log_fields;

/* Name this process's worker in every line (0: a single process). */
void log_set_worker(int id);

/* The worker named by log_set_worker() (0: a single process). */
int log_worker(void);

/* Set the lowest level that is written. */
void log_set_level(log_level level);

/* Parse "debug", "info", "warn" or "error"; -1 if it is none of them. */
int log_parse_level(const char *name, log_level *out) __attribute__((warn_unused_result));

/* Parse "text" or "json"; -1 if it is neither. */
int log_parse_format(const char *name, log_format *out) __attribute__((warn_unused_result));

/* Write the lines that follow in format. */
void log_set_format(log_format format);

/* True when a message at level would be written. */
int log_enabled(log_level level);

/* At most this many bytes of a string are shown by log_escape(). */
#define LOG_ESCAPE_SHOWN 256
/* log_escape()'s buffer: 4 characters per byte shown at worst, "...", NUL. */
#define LOG_ESCAPE_SIZE (4 * LOG_ESCAPE_SHOWN + 4)

/* Write s into buf for a log line and return buf: backslash and double quote
 * as \\ and \", \n \r \t, other control characters and bytes that are not
 * UTF-8 as \xNN, C1 controls and U+2028/U+2029 as \uNNNN; the first
 * LOG_ESCAPE_SHOWN bytes of s, then "..." when there was more. NULL is "". */
const char *log_escape(char buf[LOG_ESCAPE_SIZE], const char *s);

/* Write one line. Use the macros below. */
void log_write(log_level level, uint64_t conn_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write one line about a call, with its fields (text: key=value after the
 * message; json: members of the object). */
void log_call(log_level level, uint64_t conn_id, const log_fields *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_debug(cid, ...)                                       \
	do {                                                      \
		if (log_enabled(LOG_DEBUG))                       \
			log_write(LOG_DEBUG, (cid), __VA_ARGS__); \
	} while (0)
#define log_info(cid, ...) log_write(LOG_INFO, (cid), __VA_ARGS__)
#define log_warn(cid, ...) log_write(LOG_WARN, (cid), __VA_ARGS__)
#define log_error(cid, ...) log_write(LOG_ERROR, (cid), __VA_ARGS__)

#endif
