/*
 * dispatch.h - the dispatcher (RocketMQ's ReputMessageService): follows the
 * CommitLog and, for every record, writes its ConsumeQueue entry and its
 * key-index entries, then tells the broker which queues grew.
 *
 * Thread: store-dispatch owns `pos`, the ConsumeQueue writes, the index write
 * batch and the touched-queue list. It sleeps on a condition variable when it
 * has caught up; a putter wakes it only if it is asleep (a flag checked with
 * sequentially consistent atomics against the published max offset), so a
 * busy log costs no syscall per message and an idle one wakes in microseconds.
 * `dispatched` (CommitLog offset below which every record is dispatched) is
 * published for the checkpoint service and stats.
 *
 * The same per-record code runs single-threaded during recovery (redo).
 */
#ifndef MQ_STORE_DISPATCH_H
#define MQ_STORE_DISPATCH_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "consumequeue.h"
#include "store.h"

struct store;

typedef struct dispatcher {
    struct store *s;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    atomic_int sleeping;
    bool stop;

    int64_t pos;                 /* next CommitLog offset to dispatch */
    _Atomic int64_t dispatched;
    _Atomic int64_t last_store_ts;
    rocksdb_writebatch_t *wb;
    consume_queue *last_cq;      /* cache for runs of one queue */
    consume_queue **touched;     /* queues that grew this round (referenced) */
    size_t ntouched, touched_cap;
    uint64_t round;
    bool failed;                 /* last round hit an error; retried every second */
    bool fail_logged;

    /* Recovery redo: CommitLog offsets below which ConsumeQueue entries /
     * index entries are known durable and need not be written again. */
    int64_t redo_cq_below, redo_index_below;

    _Atomic(store_arrival_cb) listener;
    void *_Atomic listener_arg;
    _Atomic int64_t index_keys;
} dispatcher;

int dispatcher_init(dispatcher *d, struct store *s, int64_t from);
/* Dispatches one record (CQ entry + index entries into the pending batch). */
int dispatcher_record(dispatcher *d, const msg_record *r);
/* Writes the pending index batch with the marker `upto` and publishes it. */
int dispatcher_commit(dispatcher *d, int64_t upto);
int dispatcher_start(dispatcher *d);
/* Dispatches everything written so far, then stops the thread. */
void dispatcher_stop(dispatcher *d);
void dispatcher_destroy(dispatcher *d);
/* Wakes the thread if it sleeps (called after every put). */
void dispatcher_notify(void *arg);

/* ConsumeQueue tag field of a record: tag hash, or for SCHEDULE_TOPIC_XXXX
 * the delivery time of its delay level. */
int64_t dispatcher_tag_code(struct store *s, const msg_record *r, const char *tags, size_t tlen,
                            const char *delay, size_t dlen);

static inline int64_t dispatcher_dispatched(dispatcher *d)
{
    return atomic_load_explicit(&d->dispatched, memory_order_acquire);
}

#endif
