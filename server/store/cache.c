/* The bounded row cache (see cache.h): an open hash table of entries on a
 * doubly linked recency list. */
#include "cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Changed keys remembered, for cache_changed(): more than a busy server
 * changes while a call reads. */
#define CACHE_RECENT 8192

typedef struct entry {
	struct entry *prev, *next; /* recency: head is the most recent */
	struct entry *chain;       /* hash bucket */
	uint64_t hash;
	size_t size;
	char *key;
	unsigned char value[];
} entry;

struct cache {
	size_t max, count, nbuckets;
	entry **buckets;
	entry *head, *tail;
	bool off;
	/* One step per key dropped or noted, the step's key hash remembered
	 * in recent[step % CACHE_RECENT]; cleared: the step of the last clear. */
	unsigned long long generation, cleared;
	uint64_t recent[CACHE_RECENT];
	cache_stats stats;
};

static uint64_t key_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

cache *cache_new(size_t max_entries)
{
	cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->max = max_entries;
	c->nbuckets = 64;
	while (c->nbuckets < max_entries)
		c->nbuckets *= 2;
	if (max_entries > 0 && (c->buckets = calloc(c->nbuckets, sizeof(entry *))) == NULL) {
		free(c);
		return NULL;
	}
	c->off = max_entries == 0;
	return c;
}

static void unlink_recency(cache *c, entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(cache *c, entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static entry **find_slot(cache *c, const char *key, uint64_t h)
{
	entry **link = &c->buckets[h & (c->nbuckets - 1)];
	while (*link != NULL && ((*link)->hash != h || strcmp((*link)->key, key) != 0))
		link = &(*link)->chain;
	return link;
}

static void remove_entry(cache *c, entry **link)
{
	entry *e = *link;
	if (e == NULL)
		return;
	*link = e->chain;
	unlink_recency(c, e);
	free(e->key);
	free(e);
	c->count--;
}

bool cache_get(cache *c, const char *key, void *out, size_t size)
{
	if (c == NULL || c->off)
		return false;
	entry *e = *find_slot(c, key, key_hash(key));
	if (e == NULL || e->size != size) {
		c->stats.misses++;
		metrics_add(METRIC_CACHE_MISSES, 1);
		return false;
	}
	memcpy(out, e->value, size);
	unlink_recency(c, e);
	push_front(c, e);
	c->stats.hits++;
	metrics_add(METRIC_CACHE_HITS, 1);
	return true;
}

void cache_put(cache *c, const char *key, const void *value, size_t size)
{
	if (c == NULL || c->off)
		return;
	uint64_t h = key_hash(key);
	entry **link = find_slot(c, key, h);
	if (*link != NULL)
		remove_entry(c, link);
	while (c->count >= c->max && c->tail != NULL) {
		entry *old = c->tail;
		remove_entry(c, find_slot(c, old->key, old->hash));
		c->stats.evictions++;
	}
	entry *e = malloc(sizeof(*e) + size);
	char *k = strdup(key);
	if (e == NULL || k == NULL) {
		/* A cache that cannot grow just caches less. */
		free(e);
		free(k);
		return;
	}
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->size = size;
	e->key = k;
	memcpy(e->value, value, size);
	link = find_slot(c, key, h);
	e->chain = *link;
	*link = e;
	push_front(c, e);
	c->count++;
}

void cache_del(cache *c, const char *key)
{
	if (c == NULL || c->buckets == NULL)
		return;
	uint64_t h = key_hash(key);
	c->recent[++c->generation % CACHE_RECENT] = h;
	entry **link = find_slot(c, key, h);
	if (*link != NULL) {
		remove_entry(c, link);
		c->stats.invalidations++;
	}
}

void cache_note(cache *c, const char *key)
{
	if (c != NULL)
		c->recent[++c->generation % CACHE_RECENT] = key_hash(key);
}

void cache_clear(cache *c, bool off)
{
	if (c == NULL)
		return;
	while (c->head != NULL)
		remove_entry(c, find_slot(c, c->head->key, c->head->hash));
	c->cleared = ++c->generation;
	c->recent[c->generation % CACHE_RECENT] = 0;
	if (off)
		c->off = true;
}

unsigned long long cache_mark(const cache *c)
{
	return c ? c->generation : 0;
}

bool cache_changed(const cache *c, unsigned long long mark, const char *key)
{
	if (c == NULL)
		return true;
	if (c->cleared > mark || c->generation - mark >= CACHE_RECENT)
		return true;
	uint64_t h = key_hash(key);
	for (unsigned long long g = mark + 1; g <= c->generation; g++)
		if (c->recent[g % CACHE_RECENT] == h)
			return true;
	return false;
}

bool cache_fill(cache *c, unsigned long long mark, const char *key, const void *value, size_t size)
{
	if (cache_changed(c, mark, key))
		return false;
	cache_put(c, key, value, size);
	return true;
}

void cache_on(cache *c)
{
	if (c != NULL && c->max > 0)
		c->off = false;
}

void cache_get_stats(const cache *c, cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	*out = c->stats;
	out->entries = c->count;
}

void cache_free(cache *c)
{
	if (c == NULL)
		return;
	cache_clear(c, true);
	free(c->buckets);
	free(c);
}
