/* Counts per name (see tally.h). */
#include "tally.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally_entry {
	struct tally_entry *next;
	unsigned count;
	char name[]; /* NUL-terminated */
} tally_entry;

struct tally {
	tally_entry **slots;
	size_t nslots; /* a power of two */
	size_t n;      /* entries */
};

#define TALLY_MIN_SLOTS 64

/* FNV-1a: names are short. They are addresses a client connects from and
 * key ids the server made, so a client cannot pile many names into one
 * chain. */
static size_t hash_name(const char *name)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

tally *tally_new(void)
{
	tally *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->slots = calloc(TALLY_MIN_SLOTS, sizeof(*t->slots));
	if (t->slots == NULL) {
		free(t);
		return NULL;
	}
	t->nslots = TALLY_MIN_SLOTS;
	return t;
}

static tally_entry **find(const tally *t, const char *name)
{
	tally_entry **pp = &t->slots[hash_name(name) & (t->nslots - 1)];
	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Keep chains short: double when the table is fuller than one per slot. A
 * failed allocation only leaves the chains longer. */
static void grow(tally *t)
{
	size_t nslots = t->nslots * 2;
	tally_entry **slots = calloc(nslots, sizeof(*slots));
	if (slots == NULL)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		tally_entry *e = t->slots[i];
		while (e != NULL) {
			tally_entry *next = e->next;
			size_t j = hash_name(e->name) & (nslots - 1);
			e->next = slots[j];
			slots[j] = e;
			e = next;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
}

bool tally_add(tally *t, const char *name, unsigned cap)
{
	tally_entry **pp = find(t, name);
	if (*pp != NULL) {
		if (cap != 0 && (*pp)->count >= cap)
			return false;
		(*pp)->count++;
		return true;
	}
	size_t len = strlen(name);
	tally_entry *e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return false;
	memcpy(e->name, name, len + 1);
	e->count = 1;
	e->next = NULL;
	*pp = e;
	if (++t->n > t->nslots)
		grow(t);
	return true;
}

void tally_del(tally *t, const char *name)
{
	tally_entry **pp = find(t, name);
	tally_entry *e = *pp;
	if (e == NULL)
		return;
	if (--e->count == 0) {
		*pp = e->next;
		free(e);
		t->n--;
	}
}

unsigned tally_get(const tally *t, const char *name)
{
	tally_entry *const *pp = find(t, name);
	return *pp != NULL ? (*pp)->count : 0;
}

void tally_free(tally *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		tally_entry *e = t->slots[i];
		while (e != NULL) {
			tally_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(t->slots);
	free(t);
}
