/* pagetoken_: the page tokens of ListOffers and ListPayments.
 *
 * A token is the position of the last row of a page in the list's order,
 * newest first: that row's creation time (microseconds since the epoch) and
 * its id. The next page starts strictly after it, so rows created since the
 * first page never shift the pages that follow. Clients treat tokens as
 * opaque (docs/protocol-notes.md); the server takes back only what it made:
 * exactly PAGETOKEN_LEN characters, the list's kind letter, then 16 and 16
 * lower-case hex digits (the time, the id's digits). */
#ifndef FP_PAGETOKEN_H
#define FP_PAGETOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGETOKEN_LEN 33 /* kind, 16 hex digits of time, 16 of the id */
#define PAGETOKEN_SIZE (PAGETOKEN_LEN + 1)

/* The latest time a token may carry: before the year 10000, which
 * PostgreSQL's timestamptz and store_ts() both hold. */
#define PAGETOKEN_MAX_US INT64_C(253402300800000000)

/* A position in a list, newest first. */
typedef struct pagetoken {
	int64_t created_us;
	char hex[17]; /* the id's 16 hex digits, after its "x_" prefix */
} pagetoken;

/* Write the token of the row (created_us, id) of list kind ('o' offers,
 * 'p' payments); id is kind, '_', 16 lower-case hex digits. -1 (out
 * untouched but empty) when the row cannot make a token. */
int pagetoken_make(char kind, int64_t created_us, const char *id, char out[PAGETOKEN_SIZE])
	__attribute__((warn_unused_result));

/* Read a token of list kind into *out: 0, or -1 for anything the server did
 * not make (another list's token included). */
int pagetoken_parse(char kind, const char *token, pagetoken *out)
	__attribute__((warn_unused_result));

/* Write the id of a parsed position: kind, '_', its hex digits. */
void pagetoken_id(char kind, const pagetoken *t, char *out, size_t size);

#endif
