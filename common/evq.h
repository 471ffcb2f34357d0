/*
 * evq.h - run a function on an event loop's thread, from any thread.
 *
 * Service threads (flush, dispatch, client API callers) hand work to the
 * loop that owns the sockets: they post an item; the loop runs it soon, in
 * posting order. Items are intrusive (embed an evq_item in your struct), so
 * posting never allocates; evq_post_fn allocates one for convenience.
 */
#ifndef MQ_EVQ_H
#define MQ_EVQ_H

#include <pthread.h>
#include <stdbool.h>

#include <ev.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which thread runs a loop, for debug-build assertions of the rule "loop
 * thread only". A loop callback notes its thread (LOOP_OWNER_NOTE); a
 * loop-thread-only function asserts loop_owner_here. While the loop is not
 * running (before ev_run, after it returned) set-up and tear-down may run on
 * any one thread, so the check passes then. In NDEBUG builds nothing is noted
 * and assert() evaluates nothing. */
typedef struct loop_owner {
    pthread_t thread;
    bool known;
} loop_owner;

void loop_owner_note(loop_owner *o);
/* True if the caller may touch what o guards: o never noted, loop not
 * running, or the caller is the thread that noted it. */
bool loop_owner_here(const loop_owner *o, struct ev_loop *loop);
#ifdef NDEBUG
#define LOOP_OWNER_NOTE(o) ((void)0)
#else
#define LOOP_OWNER_NOTE(o) loop_owner_note(o)
#endif

typedef struct evq evq;

typedef struct evq_item {
    struct evq_item *next;
    void (*fn)(struct evq_item *item);
} evq_item;

/* Creates a queue on loop; call on the loop's thread. */
evq *evq_new(struct ev_loop *loop);
/* Stops the queue; items still queued are run first. Loop thread only. */
void evq_free(evq *q);
/* Any thread: item->fn(item) will run on the loop thread. */
void evq_post(evq *q, evq_item *item, void (*fn)(evq_item *item));
/* Any thread: fn(arg) will run on the loop thread (allocates). */
void evq_post_fn(evq *q, void (*fn)(void *arg), void *arg);
/* Runs what is queued now (loop thread); normally the loop does this. */
void evq_drain(evq *q);
/* Calls fn(arg) on the loop thread after each drain that ran items: work
 * that arrives together can be handled together (e.g. a producer batches
 * the sends posted since the last wake-up). One hook per queue; NULL clears.
 * Loop thread. */
void evq_set_after_drain(evq *q, void (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif
