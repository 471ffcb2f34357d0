/*
 * consumer_offset.c - see consumer_offset.h.
 *
 * Table key "topic@group" (RocketMQ's key), value a growable array of
 * offsets indexed by queue id (-1 = never committed) plus a dirty flag.
 * Persisted value: for each committed queue, queue id (4) + offset (8),
 * big-endian, in namespace "offset" of meta_db.
 */
#include "consumer_offset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hashmap.h"
#include "log.h"
#include "meta_db.h"
#include "util.h"

#define OFFSET_NS META_NS_OFFSET

typedef struct group_offsets {
    int64_t *offsets; /* by queue id; -1 = none */
    int64_t *resets;  /* by queue id; -1 = no reset pending (NULL until a reset) */
    int32_t n;
    bool dirty;
} group_offsets;

struct offset_manager {
    broker *b;
    strmap table; /* "topic@group" -> group_offsets* */
    ev_timer persist_timer;
};

static void make_key(char *buf, size_t cap, const char *group, const char *topic)
{
    snprintf(buf, cap, "%s@%s", topic, group);
}

static void grow(group_offsets *g, int32_t queue_id)
{
    if (queue_id < g->n)
        return;
    int32_t n = queue_id + 1;
    g->offsets = xrealloc(g->offsets, (size_t)n * sizeof *g->offsets);
    if (g->resets)
        g->resets = xrealloc(g->resets, (size_t)n * sizeof *g->resets);
    for (int32_t i = g->n; i < n; i++) {
        g->offsets[i] = -1;
        if (g->resets)
            g->resets[i] = -1;
    }
    g->n = n;
}

static void set_offset(group_offsets *g, int32_t queue_id, int64_t offset)
{
    grow(g, queue_id);
    g->offsets[queue_id] = offset;
}

static void free_entry(group_offsets *g)
{
    free(g->offsets);
    free(g->resets);
    free(g);
}

static int load_one(void *arg, const char *key, const void *val, size_t len)
{
    offset_manager *m = arg;
    group_offsets *g = xcalloc(1, sizeof *g);
    const uint8_t *p = val;
    for (size_t i = 0; i + 12 <= len; i += 12) {
        int32_t q = (int32_t)be32_load(p + i);
        if (q >= 0 && q < 65536)
            set_offset(g, q, (int64_t)be64_load(p + i + 4));
    }
    strmap_put(&m->table, key, g);
    return 0;
}

static void on_persist_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    offset_manager_persist(w->data);
}

offset_manager *offset_manager_new(broker *b, char *err, size_t errlen)
{
    offset_manager *m = xcalloc(1, sizeof *m);
    m->b = b;
    strmap_init(&m->table);
    if (meta_db_scan(b->meta, OFFSET_NS, "", load_one, m) < 0) {
        snprintf(err, errlen, "cannot load consumer offsets");
        strmap_free(&m->table);
        free(m);
        return NULL;
    }
    log_info("loaded consumer offsets of %zu topic@group pairs", m->table.count);
    ev_timer_init(&m->persist_timer, on_persist_timer, 5.0, 5.0);
    m->persist_timer.data = m;
    ev_timer_start(b->loop, &m->persist_timer);
    return m;
}

void offset_manager_free(offset_manager *m)
{
    if (!m)
        return;
    ev_timer_stop(m->b->loop, &m->persist_timer);
    offset_manager_persist(m);
    void *v;
    for (size_t it = 0; strmap_next(&m->table, &it, NULL, &v);)
        free_entry(v);
    strmap_free(&m->table);
    free(m);
}

static group_offsets *entry(offset_manager *m, const char *group, const char *topic)
{
    char key[600];
    make_key(key, sizeof key, group, topic);
    group_offsets *g = strmap_get(&m->table, key);
    if (!g) {
        g = xcalloc(1, sizeof *g);
        strmap_put(&m->table, key, g);
    }
    return g;
}

void offset_manager_commit(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                           int64_t offset)
{
    if (offset < 0 || queue_id < 0 || queue_id >= 65536)
        return;
    group_offsets *g = entry(m, group, topic);
    if (queue_id < g->n && (g->offsets[queue_id] == offset || (g->resets && g->resets[queue_id] >= 0)))
        return; /* unchanged, or a stale position while a reset is pending */
    set_offset(g, queue_id, offset);
    g->dirty = true;
}

void offset_manager_reset(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                          int64_t offset)
{
    if (offset < 0 || queue_id < 0 || queue_id >= 65536)
        return;
    group_offsets *g = entry(m, group, topic);
    grow(g, queue_id);
    if (!g->resets) {
        g->resets = xmalloc((size_t)g->n * sizeof *g->resets);
        for (int32_t i = 0; i < g->n; i++)
            g->resets[i] = -1;
    }
    g->offsets[queue_id] = offset;
    g->resets[queue_id] = offset;
    g->dirty = true;
}

bool offset_manager_take_reset(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                               int64_t *offset)
{
    char key[600];
    make_key(key, sizeof key, group, topic);
    group_offsets *g = strmap_get(&m->table, key);
    if (!g || !g->resets || queue_id < 0 || queue_id >= g->n || g->resets[queue_id] < 0)
        return false;
    *offset = g->resets[queue_id];
    g->resets[queue_id] = -1;
    return true;
}

bool offset_manager_query(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                          int64_t *offset)
{
    char key[600];
    make_key(key, sizeof key, group, topic);
    group_offsets *g = strmap_get(&m->table, key);
    if (!g || queue_id < 0 || queue_id >= g->n || g->offsets[queue_id] < 0)
        return false;
    *offset = g->offsets[queue_id];
    return true;
}

void offset_manager_foreach(offset_manager *m,
                            void (*cb)(void *arg, const char *key, int32_t queue_id, int64_t offset), void *arg)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&m->table, &it, &k, &v)) {
        const group_offsets *g = v;
        for (int32_t q = 0; q < g->n; q++)
            if (g->offsets[q] >= 0)
                cb(arg, k, q, g->offsets[q]);
    }
}

int offset_manager_persist(offset_manager *m)
{
    struct meta_batch *batch = meta_batch_new();
    size_t n = 0;
    bytebuf val;
    bytebuf_init(&val);
    const char *key;
    void *v;
    for (size_t it = 0; strmap_next(&m->table, &it, &key, &v);) {
        group_offsets *g = v;
        if (!g->dirty)
            continue;
        bytebuf_clear(&val);
        for (int32_t q = 0; q < g->n; q++) {
            if (g->offsets[q] < 0)
                continue;
            bytebuf_append_be32(&val, (uint32_t)q);
            bytebuf_append_be64(&val, (uint64_t)g->offsets[q]);
        }
        meta_batch_put(batch, OFFSET_NS, key, val.data, val.len);
        g->dirty = false;
        n++;
    }
    bytebuf_free(&val);
    int rc = 0;
    if (n > 0 && meta_db_write(m->b->meta, batch, false) != 0) {
        log_error("cannot persist %zu consumer offset entries", n);
        rc = -1;
        /* mark everything dirty again so the next round retries */
        for (size_t it = 0; strmap_next(&m->table, &it, NULL, &v);)
            ((group_offsets *)v)->dirty = true;
    }
    meta_batch_free(batch);
    return rc;
}

/* key = "topic@group": split at the last '@' (groups cannot contain '@'). */
static bool split_key(const char *key, const char **group, size_t *topic_len)
{
    const char *at = strrchr(key, '@');
    if (!at)
        return false;
    *group = at + 1;
    *topic_len = (size_t)(at - key);
    return true;
}

void offset_manager_remove(offset_manager *m, const char *group, const char *topic)
{
    size_t n = 0;
    char **dead = xmalloc((m->table.count ? m->table.count : 1) * sizeof *dead);
    const char *key;
    for (size_t it = 0; strmap_next(&m->table, &it, &key, NULL);) {
        const char *g;
        size_t tlen;
        if (!split_key(key, &g, &tlen) || strcmp(g, group) != 0)
            continue;
        if (topic && (strlen(topic) != tlen || strncmp(key, topic, tlen) != 0))
            continue;
        dead[n++] = xstrdup(key);
    }
    for (size_t i = 0; i < n; i++) {
        free_entry(strmap_remove(&m->table, dead[i]));
        meta_db_delete(m->b->meta, OFFSET_NS, dead[i], false);
        free(dead[i]);
    }
    free(dead);
}

static size_t collect(offset_manager *m, const char *group, const char *topic, char ***out)
{
    size_t n = 0;
    char **list = xmalloc((m->table.count ? m->table.count : 1) * sizeof *list);
    const char *key;
    for (size_t it = 0; strmap_next(&m->table, &it, &key, NULL);) {
        const char *g;
        size_t tlen;
        if (!split_key(key, &g, &tlen))
            continue;
        if (group && strcmp(g, group) == 0)
            list[n++] = xstrndup(key, tlen);
        else if (topic && strlen(topic) == tlen && strncmp(key, topic, tlen) == 0)
            list[n++] = xstrdup(g);
    }
    *out = list;
    return n;
}

size_t offset_manager_topics_of(offset_manager *m, const char *group, char ***topics)
{
    return collect(m, group, NULL, topics);
}

size_t offset_manager_groups_of(offset_manager *m, const char *topic, char ***groups)
{
    return collect(m, NULL, topic, groups);
}
