/*
 * evq.c - a mutex-protected FIFO plus an ev_async. The loop thread swaps the
 * whole list out under the lock and runs it unlocked, so a poster never waits
 * for work to run. ev_async_send coalesces wake-ups.
 */
#include "evq.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util.h"

struct evq {
    struct ev_loop *loop;
    ev_async wake;
    pthread_mutex_t lock;
    evq_item *head, *tail;
    void (*after_drain)(void *arg); /* loop thread only */
    void *after_drain_arg;
    loop_owner owner;               /* debug builds: the thread draining */
};

void loop_owner_note(loop_owner *o)
{
    o->thread = pthread_self();
    o->known = true;
}

bool loop_owner_here(const loop_owner *o, struct ev_loop *loop)
{
    return !o->known || ev_depth(loop) == 0 || pthread_equal(o->thread, pthread_self());
}

typedef struct fn_item {
    evq_item item;
    void (*fn)(void *arg);
    void *arg;
} fn_item;

void evq_drain(evq *q)
{
    assert(loop_owner_here(&q->owner, q->loop));
    bool ran = false;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        evq_item *list = q->head;
        q->head = q->tail = NULL;
        pthread_mutex_unlock(&q->lock);
        if (!list)
            break;
        ran = true;
        while (list) {
            evq_item *next = list->next;
            list->fn(list);
            list = next;
        }
    }
    if (ran && q->after_drain)
        q->after_drain(q->after_drain_arg);
}

void evq_set_after_drain(evq *q, void (*fn)(void *arg), void *arg)
{
    assert(loop_owner_here(&q->owner, q->loop));
    q->after_drain = fn;
    q->after_drain_arg = arg;
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    evq *q = w->data;
    LOOP_OWNER_NOTE(&q->owner);
    evq_drain(q);
}

evq *evq_new(struct ev_loop *loop)
{
    evq *q = xcalloc(1, sizeof *q);
    q->loop = loop;
    pthread_mutex_init(&q->lock, NULL);
    ev_async_init(&q->wake, on_wake);
    q->wake.data = q;
    ev_async_start(loop, &q->wake);
    return q;
}

void evq_free(evq *q)
{
    if (!q)
        return;
    assert(loop_owner_here(&q->owner, q->loop));
    evq_drain(q);
    ev_async_stop(q->loop, &q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

void evq_post(evq *q, evq_item *item, void (*fn)(evq_item *item))
{
    item->fn = fn;
    item->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    pthread_mutex_unlock(&q->lock);
    ev_async_send(q->loop, &q->wake);
}

static void run_fn_item(evq_item *item)
{
    fn_item *f = (fn_item *)item;
    f->fn(f->arg);
    free(f);
}

void evq_post_fn(evq *q, void (*fn)(void *arg), void *arg)
{
    fn_item *f = xmalloc(sizeof *f);
    f->fn = fn;
    f->arg = arg;
    evq_post(q, &f->item, run_fn_item);
}
