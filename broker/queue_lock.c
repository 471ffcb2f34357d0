/*
 * queue_lock.c - see queue_lock.h. One map keyed "group\x01topic\x01queueId".
 */
#include "queue_lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "util.h"

typedef struct lock_entry {
    char client_id[192];
    int64_t last_locked_ms;
} lock_entry;

struct queue_locks {
    int64_t lease_ms;
    strmap locks;
};

queue_locks *queue_locks_new(int64_t lease_ms)
{
    queue_locks *l = xcalloc(1, sizeof *l);
    l->lease_ms = lease_ms;
    strmap_init(&l->locks);
    return l;
}

void queue_locks_free(queue_locks *l)
{
    if (!l)
        return;
    void *v;
    for (size_t it = 0; strmap_next(&l->locks, &it, NULL, &v);)
        free(v);
    strmap_free(&l->locks);
    free(l);
}

static void lock_key(char *buf, size_t cap, const char *group, const char *topic, int32_t queue_id)
{
    snprintf(buf, cap, "%s\x01%s\x01%d", group, topic, queue_id);
}

bool queue_locks_try(queue_locks *l, const char *group, const char *topic, int32_t queue_id,
                     const char *client_id, int64_t now_ms)
{
    char key[640];
    lock_key(key, sizeof key, group, topic, queue_id);
    lock_entry *e = strmap_get(&l->locks, key);
    if (!e) {
        e = xcalloc(1, sizeof *e);
        strmap_put(&l->locks, key, e);
    } else if (strcmp(e->client_id, client_id) != 0 && now_ms - e->last_locked_ms <= l->lease_ms) {
        return false; /* held by someone else, lease still valid */
    }
    str_copy(e->client_id, sizeof e->client_id, client_id);
    e->last_locked_ms = now_ms;
    return true;
}

void queue_locks_release(queue_locks *l, const char *group, const char *topic, int32_t queue_id,
                         const char *client_id)
{
    char key[640];
    lock_key(key, sizeof key, group, topic, queue_id);
    lock_entry *e = strmap_get(&l->locks, key);
    if (e && strcmp(e->client_id, client_id) == 0)
        free(strmap_remove(&l->locks, key));
}

bool queue_locks_held_by(queue_locks *l, const char *group, const char *topic, int32_t queue_id,
                         const char *client_id, int64_t now_ms)
{
    char key[640];
    lock_key(key, sizeof key, group, topic, queue_id);
    lock_entry *e = strmap_get(&l->locks, key);
    return e && strcmp(e->client_id, client_id) == 0 && now_ms - e->last_locked_ms <= l->lease_ms;
}

void queue_locks_expire(queue_locks *l, int64_t now_ms)
{
    size_t n = 0;
    char **dead = xmalloc((l->locks.count ? l->locks.count : 1) * sizeof *dead);
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&l->locks, &it, &k, &v);)
        if (now_ms - ((lock_entry *)v)->last_locked_ms > l->lease_ms)
            dead[n++] = xstrdup(k);
    for (size_t i = 0; i < n; i++) {
        free(strmap_remove(&l->locks, dead[i]));
        free(dead[i]);
    }
    free(dead);
}

size_t queue_locks_count(const queue_locks *l) { return l->locks.count; }
