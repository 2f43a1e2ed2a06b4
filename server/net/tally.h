/* tally_: counts per name (a client's address, an API key id), for the
 * per-source and per-key connection caps.
 *
 * A small chained hash table; a name is forgotten when its count drops to
 * zero, so the table holds at most one entry per live connection. */
#ifndef FP_TALLY_H
#define FP_TALLY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tally tally;

/* An empty tally; NULL when out of memory. */
tally *tally_new(void);

/* Add one to name's count unless it is already at cap (cap 0: no cap).
 * True when counted; false at the cap or out of memory. */
bool tally_add(tally *t, const char *name, unsigned cap);

/* Take one from name's count (which must have been added). */
void tally_del(tally *t, const char *name);

/* name's count (0 when absent). */
unsigned tally_get(const tally *t, const char *name);

/* Free the table. Accepts NULL. */
void tally_free(tally *t);

#endif
