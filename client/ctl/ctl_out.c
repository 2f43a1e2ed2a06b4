/* Tables, JSON strings and times as fairpayctl prints them (see ctl_out.h).
 *
 * Strings from the server are shown to a terminal and read by scripts, so in
 * human output they lose their control characters: a vendor name must not be
 * able to move the cursor, or forge an "api_key:" line with a newline. */
#include "ctl_out.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctl_table {
	size_t ncols;
	size_t nrows; /* the header row included */
	size_t cap;
	char **cells; /* nrows * ncols, row by row */
};

/* Return how many bytes of the UTF-8 character at s are valid, or 0. */
size_t ctl_out_utf8_len(const unsigned char *s, size_t len)
{
	if (len == 0)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Copy s with control characters and invalid UTF-8 replaced by '?'. */
static char *cell_clean(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	char *out = malloc(len + 1);
	size_t o = 0;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t n = ctl_out_utf8_len(p, len - i);
		if (n == 0 || (n == 1 && (p[0] < 0x20 || p[0] == 0x7f)) ||
		    (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			/* C0, DEL and C1 controls, or a broken sequence. */
			out[o++] = '?';
			i += n == 0 ? 1 : n;
		} else {
			memcpy(out + o, p, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return out;
}

/* Write s for a terminal. */
void ctl_out_text(FILE *f, const char *s)
{
	char *clean = cell_clean(s);
	if (clean != NULL)
		fputs(clean, f);
	free(clean);
}

/* Print "name: value". */
void ctl_out_field(FILE *f, const char *name, const char *value)
{
	fputs(name, f);
	fputs(": ", f);
	ctl_out_text(f, value);
	fputc('\n', f);
}

static size_t cell_width(const char *s)
{
	size_t w = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Start a table with ncols columns named by headers. */
ctl_table *ctl_table_new(size_t ncols, const char *const *headers)
{
	ctl_table *t = calloc(1, sizeof(*t));
	if (t == NULL || ncols == 0)
		goto fail;
	t->ncols = ncols;
	if (ctl_table_add(t, headers) != 0)
		goto fail;
	return t;
fail:
	ctl_table_free(t);
	return NULL;
}

/* Append a row of ncols cells. */
int ctl_table_add(ctl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap == 0 ? 16 : t->cap * 2;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
		if (grown == NULL)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = cell_clean(cells[i]);
		if (row[i] == NULL) {
			while (i-- > 0)
				free(row[i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

/* Print the table with its columns aligned. */
void ctl_table_print(const ctl_table *t, FILE *f)
{
	size_t *widths = calloc(t->ncols, sizeof(*widths));
	if (widths == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = cell_width(t->cells[r * t->ncols + c]);
			if (w > widths[c])
				widths[c] = w;
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			fputs(cell, f);
			if (c + 1 < t->ncols) {
				/* Pad by characters, not bytes, so UTF-8 names line up. */
				for (size_t w = cell_width(cell); w < widths[c] + 2; w++)
					fputc(' ', f);
			}
		}
		fputc('\n', f);
	}
	free(widths);
}

/* Free a table. */
void ctl_table_free(ctl_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* Write s as a JSON string literal. */
void ctl_out_json_string(FILE *f, const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)s + i;
		unsigned char c = p[0];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			i++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n':
				fputs("\\n", f);
				break;
			case '\r':
				fputs("\\r", f);
				break;
			case '\t':
				fputs("\\t", f);
				break;
			case '\b':
				fputs("\\b", f);
				break;
			case '\f':
				fputs("\\f", f);
				break;
			default:
				fprintf(f, "\\u%04x", c);
				break;
			}
			i++;
		} else {
			size_t n = ctl_out_utf8_len(p, len - i);
			if (n == 0) {
				/* JSON text must be UTF-8. */
				fputs("\\ufffd", f);
				i++;
			} else {
				fwrite(p, 1, n, f);
				i += n;
			}
		}
	}
	fputc('"', f);
}

/* Format milliseconds since the epoch as an ISO 8601 UTC time. */
const char *ctl_out_time(int64_t unix_ms, char buf[CTL_OUT_TIME_LEN])
{
	struct tm tm;
	if (unix_ms == 0) {
		strcpy(buf, "-");
		return buf;
	}
	/* Round toward minus infinity so that times before 1970 stay right. */
	int64_t secs = unix_ms / 1000 - (unix_ms % 1000 < 0 ? 1 : 0);
	time_t t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, CTL_OUT_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, CTL_OUT_TIME_LEN, "%lld ms", (long long)unix_ms);
	return buf;
}
