/*
 * hashmap.h - open-addressing hash tables used across the code base:
 *   u64map: uint64_t key -> void *value (request ids, offsets, client ids)
 *   strmap: string key (copied and owned by the map) -> void *value
 *           (topics, groups, broker names)
 *
 * Linear probing with backward-shift deletion (no tombstones), power-of-two
 * capacity, load factor <= 0.7. Values are never freed by the map: the owner
 * walks the map and frees them. Not thread-safe: each map has one owning
 * thread, or its owner holds a lock around it.
 *
 * Iteration: for (size_t it = 0; map_next(m, &it, &k, &v); ) { ... }
 * Removing the entry just returned during iteration is not allowed; collect
 * keys first.
 */
#ifndef MQ_HASHMAP_H
#define MQ_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct u64map {
    uint64_t *keys;
    void **values;
    uint8_t *used;
    size_t cap;   /* power of two, or 0 */
    size_t count;
} u64map;

void u64map_init(u64map *m);
void u64map_free(u64map *m);
/* Inserts or replaces; returns the previous value or NULL. */
void *u64map_put(u64map *m, uint64_t key, void *value);
void *u64map_get(const u64map *m, uint64_t key);
bool u64map_contains(const u64map *m, uint64_t key);
/* Removes and returns the value, or NULL. */
void *u64map_remove(u64map *m, uint64_t key);
bool u64map_next(const u64map *m, size_t *it, uint64_t *key, void **value);

typedef struct strmap {
    char **keys;
    void **values;
    uint64_t *hashes;
    size_t cap;
    size_t count;
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m); /* frees the key copies, not the values */
void *strmap_put(strmap *m, const char *key, void *value);
void *strmap_get(const strmap *m, const char *key);
/* Same as strmap_get for a key of n bytes that need not be NUL-terminated. */
void *strmap_getn(const strmap *m, const char *key, size_t n);
void *strmap_remove(strmap *m, const char *key);
bool strmap_next(const strmap *m, size_t *it, const char **key, void **value);

/* 64-bit hashes used by the maps (FNV-1a over bytes; a mixer for ints). */
uint64_t hash_bytes(const void *data, size_t n);
uint64_t hash_u64(uint64_t x);

#ifdef __cplusplus
}
#endif

#endif
