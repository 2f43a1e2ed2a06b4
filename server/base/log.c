/* Log lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"

static log_level min_level = LOG_INFO;
static log_format format = LOG_TEXT;
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

static const char *const format_names[] = { "text", "json" };

int log_parse_format(const char *name, log_format *out)
{
	for (int i = LOG_TEXT; i <= LOG_JSON; i++) {
		if (name != NULL && strcasecmp(name, format_names[i]) == 0) {
			*out = (log_format)i;
			return 0;
		}
	}
	return -1;
}

void log_set_format(log_format f)
{
	format = f;
}

int log_enabled(log_level level)
{
	return level >= min_level;
}

/* The length of the well-formed UTF-8 sequence at p (2 to 4 bytes, within
 * avail) and its code point; 0 when there is none. */
static size_t utf8_seq(const unsigned char *p, size_t avail, unsigned *cp)
{
	size_t n;
	unsigned v;
	unsigned min;
	if ((p[0] & 0xE0) == 0xC0)
		n = 2, v = p[0] & 0x1Fu, min = 0x80;
	else if ((p[0] & 0xF0) == 0xE0)
		n = 3, v = p[0] & 0x0Fu, min = 0x800;
	else if ((p[0] & 0xF8) == 0xF0)
		n = 4, v = p[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[k] & 0x3Fu);
	}
	if (v < min || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
		return 0;
	*cp = v;
	return n;
}

/* Escape one byte of 0x00-0x1F or 0x7F at out; the characters written. */
static size_t escape_control(char *out, unsigned char c)
{
	switch (c) {
	case '\n':
		return (size_t)sprintf(out, "\\n");
	case '\r':
		return (size_t)sprintf(out, "\\r");
	case '\t':
		return (size_t)sprintf(out, "\\t");
	default:
		return (size_t)sprintf(out, "\\x%02x", c);
	}
}

const char *log_escape(char buf[LOG_ESCAPE_SIZE], const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t len = strnlen((const char *)p, LOG_ESCAPE_SHOWN + 1);
	size_t shown = len > LOG_ESCAPE_SHOWN ? LOG_ESCAPE_SHOWN : len;
	size_t i = 0;
	size_t o = 0;
	while (i < shown) {
		unsigned char c = p[i];
		unsigned cp = 0;
		size_t n;
		if (c == '\\' || c == '"') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			o += escape_control(buf + o, c);
			i++;
		} else if (c < 0x80) {
			buf[o++] = (char)c;
			i++;
		} else if ((n = utf8_seq(p + i, shown - i, &cp)) == 0) {
			/* Not UTF-8 (or cut at the bound): shown byte by byte. */
			o += (size_t)sprintf(buf + o, "\\x%02x", c);
			i++;
		} else if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
			/* Line breaks to some readers of the log. */
			o += (size_t)sprintf(buf + o, "\\u%04x", cp);
			i += n;
		} else {
			memcpy(buf + o, p + i, n);
			o += n;
			i += n;
		}
	}
	if (len > shown) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* msg as a JSON string: jansson takes UTF-8 only, so bytes that are not
 * are written as \xNN text first (the message stays readable). */
static json_t *json_text(const char *msg)
{
	json_t *j = json_string(msg);
	if (j != NULL)
		return j;
	size_t len = strlen(msg);
	char *clean = malloc(4 * len + 1);
	if (clean == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		unsigned cp;
		unsigned char c = (unsigned char)msg[i];
		size_t n = c < 0x80 ? 1 : utf8_seq((const unsigned char *)msg + i, len - i, &cp);
		if (n == 0) {
			o += (size_t)sprintf(clean + o, "\\x%02x", c);
			i++;
		} else {
			memcpy(clean + o, msg + i, n);
			o += n;
			i += n;
		}
	}
	clean[o] = '\0';
	j = json_string(clean);
	free(clean);
	return j;
}

/* The line as one JSON object; its text (malloc'ed) or NULL. */
static char *json_line(const char *ts, log_level level, uint64_t conn_id, const log_fields *f,
		       const char *msg)
{
	static const char *const lower[] = { "debug", "info", "warn", "error" };
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(lower[level]));
	if (worker_id > 0)
		json_object_set_new(o, "worker", json_integer(worker_id));
	json_object_set_new(o, "conn", json_integer((json_int_t)conn_id));
	json_object_set_new(o, "msg", json_text(msg));
	if (f != NULL) {
		if (f->call != NULL)
			json_object_set_new(o, "call", json_text(f->call));
		if (f->code != NULL)
			json_object_set_new(o, "code", json_text(f->code));
		if (f->duration_us >= 0)
			json_object_set_new(o, "duration_ms",
					    json_real((double)f->duration_us / 1000.0));
		if (f->vendor != NULL && f->vendor[0] != '\0')
			json_object_set_new(o, "vendor", json_text(f->vendor));
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	return text;
}

/* The fields of a text line, after conn=: "call=... code=... ". Before the
 * message, so that the strings a client chose still end the line. */
static void text_fields(char *buf, size_t len, const log_fields *f)
{
	buf[0] = '\0';
	if (f == NULL)
		return;
	char dur[32] = "";
	if (f->duration_us >= 0)
		snprintf(dur, sizeof(dur), "duration_ms=%.3f ", (double)f->duration_us / 1000.0);
	snprintf(buf, len, "%s%s%s%s%s%s%s%s%s", f->call ? "call=" : "", f->call ? f->call : "",
		 f->call ? " " : "", f->code ? "code=" : "", f->code ? f->code : "",
		 f->code ? " " : "", dur, f->vendor && f->vendor[0] ? "vendor=" : "",
		 f->vendor && f->vendor[0] ? f->vendor : "");
	size_t bl = strlen(buf);
	if (f->vendor && f->vendor[0] && bl + 1 < len)
		memcpy(buf + bl, " ", 2);
}

static void write_line(log_level level, uint64_t conn_id, const log_fields *f, const char *fmt,
		       va_list ap)
{
	if (level < min_level)
		return;
	char line[1024];
	int64_t us = clock_wall_us();
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char ts[64];
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)(us % 1000000 / 1000));
	char msg[sizeof(line)];
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		return;
	if (format == LOG_JSON) {
		/* jansson escapes what could split or forge a line. */
		char *text = json_line(ts, level, conn_id, f, msg);
		if (text == NULL)
			return;
		size_t tl = strlen(text);
		text[tl] = '\n'; /* over the NUL: one write, as below */
		fwrite(text, 1, tl + 1, stderr);
		free(text);
		return;
	}
	char worker[24] = "";
	if (worker_id > 0)
		snprintf(worker, sizeof(worker), "worker=%d ", worker_id);
	char fields[256];
	text_fields(fields, sizeof(fields), f);
	int n = snprintf(line, sizeof(line), "%s %-5s %sconn=%llu %s", ts, level_names[level],
			 worker, (unsigned long long)conn_id, fields);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	/* A control character that no log_escape() caught still cannot split
	 * the line. */
	size_t len = (size_t)n;
	for (const char *q = msg; *q != '\0'; q++) {
		unsigned char c = (unsigned char)*q;
		char esc[8];
		size_t k = 1;
		esc[0] = *q;
		if (c < 0x20 || c == 0x7F)
			k = escape_control(esc, c);
		if (len + k > sizeof(line) - 1)
			break;
		memcpy(line + len, esc, k);
		len += k;
	}
	line[len++] = '\n';
	/* One write per line keeps lines whole when several processes share
	 * stderr. */
	fwrite(line, 1, len, stderr);
}

void log_write(log_level level, uint64_t conn_id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	write_line(level, conn_id, NULL, fmt, ap);
	va_end(ap);
}

void log_call(log_level level, uint64_t conn_id, const log_fields *fields, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	write_line(level, conn_id, fields, fmt, ap);
	va_end(ap);
}
