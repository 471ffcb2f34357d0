/*
 * pull_hold.c - see pull_hold.h.
 *
 * Loop-side table: "topic\x01queueId" -> doubly linked list of entries.
 * Each entry has its own ev_timer for its deadline. Dispatch-side table:
 * "topic\x01queueId" -> newest max offset, under `lock`; `posted` says a
 * drain is already on its way to the loop.
 *
 * With no pull held anywhere (`count` is 0) arrivals are recorded
 * but not posted: a broker that only takes sends does not wake its loop
 * once per dispatch round for nothing. pull_hold_add() counts its entry and
 * looks for recorded arrivals under the same lock, so an arrival that raced
 * with a pull (dispatched after the pull read the queue, before the pull was
 * held) is either seen by the add or sees the held entry.
 */
#include "pull_hold.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "util.h"

typedef struct held {
    ev_timer timer; /* first: the timer callback casts back */
    struct held *prev, *next;
    pull_hold *ph;
    char *key;
    int64_t offset;
    void *ctx;
} held;

typedef struct held_list {
    held *head;
} held_list;

typedef struct arrival {
    int64_t max_offset;
} arrival;

struct pull_hold {
    struct ev_loop *loop;
    evq *q;
    pull_hold_retry_fn retry;
    pull_hold_drop_fn drop;
    strmap lists; /* key -> held_list* (loop) */
    size_t count; /* entries held; written by the loop under `lock`, read by the dispatcher under it */
    pthread_mutex_t lock;
    strmap arrivals; /* key -> arrival* (under lock) */
    bool posted;
    evq_item drain_item;
};

static void drain(evq_item *item);

static void make_key(char *buf, size_t cap, const char *topic, int32_t queue_id)
{
    snprintf(buf, cap, "%s\x01%d", topic, queue_id);
}

static void unlink_held(pull_hold *ph, held *h)
{
    ev_timer_stop(ph->loop, &h->timer);
    held_list *l = strmap_get(&ph->lists, h->key);
    if (h->prev)
        h->prev->next = h->next;
    else if (l)
        l->head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (l && !l->head)
        free(strmap_remove(&ph->lists, h->key));
    pthread_mutex_lock(&ph->lock);
    ph->count--;
    pthread_mutex_unlock(&ph->lock);
    free(h->key);
    free(h);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    held *h = (held *)w;
    pull_hold *ph = h->ph;
    void *ctx = h->ctx;
    unlink_held(ph, h);
    if (!ph->retry(ctx, true))
        ph->drop(ctx); /* must not happen: a final retry answers */
}

void pull_hold_add(pull_hold *ph, const char *topic, int32_t queue_id, int64_t offset, int64_t hold_ms, void *ctx)
{
    char key[512];
    make_key(key, sizeof key, topic, queue_id);
    held_list *l = strmap_get(&ph->lists, key);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        strmap_put(&ph->lists, key, l);
    }
    held *h = xcalloc(1, sizeof *h);
    h->ph = ph;
    h->key = xstrdup(key);
    h->offset = offset;
    h->ctx = ctx;
    h->next = l->head;
    if (l->head)
        l->head->prev = h;
    l->head = h;
    ev_timer_init(&h->timer, on_deadline, (hold_ms > 0 ? hold_ms : 1) / 1000.0, 0.);
    ev_timer_start(ph->loop, &h->timer);
    pthread_mutex_lock(&ph->lock);
    ph->count++;
    if (!ph->posted && ph->arrivals.count > 0) {
        ph->posted = true;
        evq_post(ph->q, &ph->drain_item, drain);
    }
    pthread_mutex_unlock(&ph->lock);
}

/* Loop: retries every entry of key waiting for an offset below max. */
static void notify(pull_hold *ph, const char *key, int64_t max_offset)
{
    held_list *l = strmap_get(&ph->lists, key);
    if (!l)
        return;
    /* Collect first: retry may re-add entries to this very list. */
    size_t n = 0, cap = 8;
    held **ready = xmalloc(cap * sizeof *ready);
    for (held *h = l->head; h; h = h->next) {
        if (h->offset < max_offset) {
            if (n == cap) {
                cap *= 2;
                ready = xrealloc(ready, cap * sizeof *ready);
            }
            ready[n++] = h;
        }
    }
    for (size_t i = 0; i < n; i++) {
        void *ctx = ready[i]->ctx;
        unlink_held(ph, ready[i]);
        if (!ph->retry(ctx, false))
            ph->drop(ctx);
    }
    free(ready);
}

void pull_hold_kick(pull_hold *ph, const char *topic, int32_t queue_id)
{
    char key[512];
    make_key(key, sizeof key, topic, queue_id);
    notify(ph, key, INT64_MAX);
}

static void drain(evq_item *item)
{
    pull_hold *ph = (pull_hold *)((char *)item - offsetof(pull_hold, drain_item));
    pthread_mutex_lock(&ph->lock);
    strmap batch = ph->arrivals;
    strmap_init(&ph->arrivals);
    ph->posted = false;
    pthread_mutex_unlock(&ph->lock);
    const char *key;
    void *v;
    for (size_t it = 0; strmap_next(&batch, &it, &key, &v);) {
        notify(ph, key, ((arrival *)v)->max_offset);
        free(v);
    }
    strmap_free(&batch);
}

/* The registry whose arrivals this thread reports directly: set only by
 * the loop around its own dispatch rounds. Thread-local, so the dispatch
 * thread, which may be in a round of its own meanwhile (the loop's inline
 * round is then refused), still posts its arrivals. */
static _Thread_local const pull_hold *direct_ph;

void pull_hold_direct_begin(pull_hold *ph) { direct_ph = ph; }
void pull_hold_direct_end(pull_hold *ph)
{
    (void)ph;
    direct_ph = NULL;
}
bool pull_hold_direct(const pull_hold *ph) { return direct_ph == ph; }

void pull_hold_arrived(void *arg, const char *topic, int32_t queue_id, int64_t max_offset)
{
    pull_hold *ph = arg;
    char key[512];
    make_key(key, sizeof key, topic, queue_id);
    if (pull_hold_direct(ph)) { /* the loop, in its own dispatch round */
        notify(ph, key, max_offset);
        return;
    }
    pthread_mutex_lock(&ph->lock);
    arrival *a = strmap_get(&ph->arrivals, key);
    if (!a) {
        a = xmalloc(sizeof *a);
        strmap_put(&ph->arrivals, key, a);
    }
    a->max_offset = max_offset;
    if (!ph->posted && ph->count > 0) {
        ph->posted = true;
        evq_post(ph->q, &ph->drain_item, drain);
    }
    pthread_mutex_unlock(&ph->lock);
}

pull_hold *pull_hold_new(struct ev_loop *loop, evq *q, pull_hold_retry_fn retry, pull_hold_drop_fn drop)
{
    pull_hold *ph = xcalloc(1, sizeof *ph);
    ph->loop = loop;
    ph->q = q;
    ph->retry = retry;
    ph->drop = drop;
    strmap_init(&ph->lists);
    strmap_init(&ph->arrivals);
    pthread_mutex_init(&ph->lock, NULL);
    return ph;
}

void pull_hold_free(pull_hold *ph)
{
    if (!ph)
        return;
    void *v;
    for (size_t it = 0; strmap_next(&ph->lists, &it, NULL, &v);) {
        held *h = ((held_list *)v)->head;
        while (h) {
            held *next = h->next;
            ev_timer_stop(ph->loop, &h->timer);
            ph->drop(h->ctx);
            free(h->key);
            free(h);
            h = next;
        }
        free(v);
    }
    strmap_free(&ph->lists);
    for (size_t it = 0; strmap_next(&ph->arrivals, &it, NULL, &v);)
        free(v);
    strmap_free(&ph->arrivals);
    pthread_mutex_destroy(&ph->lock);
    free(ph);
}

size_t pull_hold_count(const pull_hold *ph) { return ph->count; }
