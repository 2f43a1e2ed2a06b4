/* ctl_out_: how fairpayctl prints: aligned tables for people, JSON for
 * programs, and times in UTC. */
#ifndef FP_CTL_OUT_H
#define FP_CTL_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_OUT_TIME_LEN 32

typedef struct ctl_table ctl_table;

/* Start a table with ncols columns named by headers. NULL when out of memory. */
ctl_table *ctl_table_new(size_t ncols, const char *const *headers);

/* Append a row of ncols cells (copied; NULL prints as ""). */
int ctl_table_add(ctl_table *t, const char *const *cells) __attribute__((warn_unused_result));

/* Print the table with its columns aligned. */
void ctl_table_print(const ctl_table *t, FILE *f);

/* Free a table. Accepts NULL. */
void ctl_table_free(ctl_table *t);

/* Write s for a terminal: control characters and invalid UTF-8 become '?'. */
void ctl_out_text(FILE *f, const char *s);

/* Print "name: value\n" with value written by ctl_out_text(). */
void ctl_out_field(FILE *f, const char *name, const char *value);

/* Write s as a JSON string literal, quotes included. Invalid UTF-8 becomes U+FFFD. */
void ctl_out_json_string(FILE *f, const char *s);

/* Format milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" ("-" for 0). */
const char *ctl_out_time(int64_t unix_ms, char buf[CTL_OUT_TIME_LEN]);

/* Return how many bytes of the UTF-8 sequence at s[0..len) are valid: 1-4, or
 * 0 when s does not start a well-formed character. */
size_t ctl_out_utf8_len(const unsigned char *s, size_t len);

#endif
