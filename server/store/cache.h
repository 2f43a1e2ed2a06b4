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

/* A mark of now. A row read after it may be kept (cache_fill()) unless
 * its key changed in the meantime: the row read may be older than that
 * change. */
unsigned long long cache_mark(const cache *c);

/* True when key may have changed since mark: it was dropped (cache_del(),
 * which an announcement of another server's change does) or noted
 * (cache_note()), or the cache was cleared, or more keys changed since
 * than the cache remembers. */
bool cache_changed(const cache *c, unsigned long long mark, const char *key);

/* Keep a row read since mark: cache_put(), unless cache_changed(). True
 * when kept. */
bool cache_fill(cache *c, unsigned long long mark, const char *key, const void *value, size_t size);

/* Note that this server changed key: rows of it read before are not kept. */
void cache_note(cache *c, const char *key);

/* Counters for the stats line. */
typedef struct cache_stats {
	size_t entries;
	unsigned long long hits, misses, evictions, invalidations;
} cache_stats;

/* Read the counters. */
void cache_get_stats(const cache *c, cache_stats *out);

#endif
