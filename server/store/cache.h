/* cache_: a bounded in-process cache of rows (reputations, offers,
 * policies, products), least recently used out first.
 *
 * Nothing in it is a source of truth: every write is guarded in the
 * database by the row version it was decided on, so a stale entry costs a
 * retry, never a wrong change. Entries are updated by this server's own
 * commits at once and dropped when another server's commit is announced
 * (db_listen: LISTEN/NOTIFY), and the whole cache is dropped while that
 * announcement channel is down. Keys are strings; values are copied in and
 * out as plain bytes. */
#ifndef FP_CACHE_H
#define FP_CACHE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cache cache;

/* The channel on which every server announces the rows its commits
 * changed (a JSON array of cache keys), so that the others drop them. */
#define CACHE_CHANNEL "fairpay_cache"

/* A cache of at most max_entries entries (0: caches nothing). */
cache *cache_new(size_t max_entries);

/* Free the cache. Accepts NULL. */
void cache_free(cache *c);

/* Copy the value of key into out (size bytes); false when absent, of
 * another size, or the cache is off. */
bool cache_get(cache *c, const char *key, void *out, size_t size);

/* Store a copy of value under key, evicting the least recently used entry
 * when full. Does nothing while the cache is off. */
void cache_put(cache *c, const char *key, const void *value, size_t size);

/* Drop key. */
void cache_del(cache *c, const char *key);

/* Drop everything; with off, also refuse entries until cache_on(). */
void cache_clear(cache *c, bool off);

/* Take entries again (after cache_clear(c, true)). */
void cache_on(cache *c);

/* A number that changes whenever another server's change was heard or
 * the channel was lost: a row read before such a change may be older than
 * it, so a reader caches what it read only if the number did not move
 * while it read. */
unsigned long long cache_generation(const cache *c);

/* Move the generation (another server's change was heard). */
void cache_bump(cache *c);

/* Counters for the stats line. */
typedef struct cache_stats {
	size_t entries;
	unsigned long long hits, misses, evictions, invalidations;
} cache_stats;

/* Read the counters. */
void cache_get_stats(const cache *c, cache_stats *out);

#endif
