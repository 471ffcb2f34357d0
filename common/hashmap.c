/*
 * hashmap.c - see hashmap.h. Deletion shifts later members of the probe run
 * back so lookups never need tombstones.
 */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

uint64_t hash_bytes(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return hash_u64(h);
}

uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- u64map ---- */

void u64map_init(u64map *m) { memset(m, 0, sizeof *m); }

void u64map_free(u64map *m)
{
    free(m->keys);
    free(m->values);
    free(m->used);
    memset(m, 0, sizeof *m);
}

static void u64map_grow(u64map *m)
{
    u64map old = *m;
    size_t cap = old.cap ? old.cap * 2 : 16;
    m->keys = xcalloc(cap, sizeof *m->keys);
    m->values = xcalloc(cap, sizeof *m->values);
    m->used = xcalloc(cap, 1);
    m->cap = cap;
    m->count = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.used[i])
            u64map_put(m, old.keys[i], old.values[i]);
    free(old.keys);
    free(old.values);
    free(old.used);
}

void *u64map_put(u64map *m, uint64_t key, void *value)
{
    if ((m->count + 1) * 10 > m->cap * 7)
        u64map_grow(m);
    size_t mask = m->cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (!m->used[i]) {
            m->used[i] = 1;
            m->keys[i] = key;
            m->values[i] = value;
            m->count++;
            return NULL;
        }
        if (m->keys[i] == key) {
            void *prev = m->values[i];
            m->values[i] = value;
            return prev;
        }
    }
}

static size_t u64map_find(const u64map *m, uint64_t key)
{
    if (!m->cap)
        return SIZE_MAX;
    size_t mask = m->cap - 1;
    for (size_t i = hash_u64(key) & mask; m->used[i]; i = (i + 1) & mask)
        if (m->keys[i] == key)
            return i;
    return SIZE_MAX;
}

void *u64map_get(const u64map *m, uint64_t key)
{
    size_t i = u64map_find(m, key);
    return i == SIZE_MAX ? NULL : m->values[i];
}

bool u64map_contains(const u64map *m, uint64_t key) { return u64map_find(m, key) != SIZE_MAX; }

void *u64map_remove(u64map *m, uint64_t key)
{
    size_t i = u64map_find(m, key);
    if (i == SIZE_MAX)
        return NULL;
    void *prev = m->values[i];
    size_t mask = m->cap - 1;
    m->used[i] = 0;
    m->count--;
    /* Backward shift: move later members of the run into the hole when
     * their home slot is not between the hole and their position. */
    for (size_t j = (i + 1) & mask; m->used[j]; j = (j + 1) & mask) {
        size_t home = hash_u64(m->keys[j]) & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->keys[i] = m->keys[j];
            m->values[i] = m->values[j];
            m->used[i] = 1;
            m->used[j] = 0;
            i = j;
        }
    }
    return prev;
}

bool u64map_next(const u64map *m, size_t *it, uint64_t *key, void **value)
{
    for (; *it < m->cap; (*it)++) {
        if (m->used[*it]) {
            if (key)
                *key = m->keys[*it];
            if (value)
                *value = m->values[*it];
            (*it)++;
            return true;
        }
    }
    return false;
}

/* ---- strmap ---- */

void strmap_init(strmap *m) { memset(m, 0, sizeof *m); }

void strmap_free(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->values);
    free(m->hashes);
    memset(m, 0, sizeof *m);
}

static void strmap_insert_owned(strmap *m, char *key, uint64_t h, void *value)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->keys[i])
        i = (i + 1) & mask;
    m->keys[i] = key;
    m->hashes[i] = h;
    m->values[i] = value;
    m->count++;
}

static void strmap_grow(strmap *m)
{
    strmap old = *m;
    size_t cap = old.cap ? old.cap * 2 : 16;
    m->keys = xcalloc(cap, sizeof *m->keys);
    m->values = xcalloc(cap, sizeof *m->values);
    m->hashes = xcalloc(cap, sizeof *m->hashes);
    m->cap = cap;
    m->count = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            strmap_insert_owned(m, old.keys[i], old.hashes[i], old.values[i]);
    free(old.keys);
    free(old.values);
    free(old.hashes);
}

static size_t strmap_find(const strmap *m, const char *key, size_t n, uint64_t h)
{
    if (!m->cap)
        return SIZE_MAX;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask; m->keys[i]; i = (i + 1) & mask)
        if (m->hashes[i] == h && strncmp(m->keys[i], key, n) == 0 && m->keys[i][n] == '\0')
            return i;
    return SIZE_MAX;
}

void *strmap_put(strmap *m, const char *key, void *value)
{
    size_t n = strlen(key);
    uint64_t h = hash_bytes(key, n);
    size_t i = strmap_find(m, key, n, h);
    if (i != SIZE_MAX) {
        void *prev = m->values[i];
        m->values[i] = value;
        return prev;
    }
    if ((m->count + 1) * 10 > m->cap * 7)
        strmap_grow(m);
    strmap_insert_owned(m, xstrndup(key, n), h, value);
    return NULL;
}

void *strmap_getn(const strmap *m, const char *key, size_t n)
{
    size_t i = strmap_find(m, key, n, hash_bytes(key, n));
    return i == SIZE_MAX ? NULL : m->values[i];
}

void *strmap_get(const strmap *m, const char *key) { return strmap_getn(m, key, strlen(key)); }

void *strmap_remove(strmap *m, const char *key)
{
    size_t n = strlen(key);
    size_t i = strmap_find(m, key, n, hash_bytes(key, n));
    if (i == SIZE_MAX)
        return NULL;
    void *prev = m->values[i];
    free(m->keys[i]);
    m->keys[i] = NULL;
    m->count--;
    size_t mask = m->cap - 1;
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = m->hashes[j] & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->keys[i] = m->keys[j];
            m->hashes[i] = m->hashes[j];
            m->values[i] = m->values[j];
            m->keys[j] = NULL;
            i = j;
        }
    }
    return prev;
}

bool strmap_next(const strmap *m, size_t *it, const char **key, void **value)
{
    for (; *it < m->cap; (*it)++) {
        if (m->keys[*it]) {
            if (key)
                *key = m->keys[*it];
            if (value)
                *value = m->values[*it];
            (*it)++;
            return true;
        }
    }
    return false;
}
