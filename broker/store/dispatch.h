/*
 * dispatch.h - the dispatcher (RocketMQ's ReputMessageService): follows the
 * CommitLog and hands every record to a list of sinks, in registration
 * order. The store registers two at open: the key-index sink (UNIQ_KEY and
 * KEYS entries plus the dispatch marker, one RocksDB write batch per round)
 * and the ConsumeQueue sink (one 20-byte entry per record, then the arrival
 * listener once per queue that grew). A new service (schedule, timer,
 * transaction) registers its own sink with store_add_sink instead of
 * editing this file.
 *
 * Thread: store-dispatch owns `pos`, every sink's per-round state and the
 * calls into the sinks. It sleeps on a condition variable when it has
 * caught up; a putter wakes it only if it is asleep (a flag checked with
 * sequentially consistent atomics against the published max offset), so a
 * busy log costs no syscall per message and an idle one wakes in
 * microseconds. `dispatched` (CommitLog offset below which every record has
 * been passed to every sink and every sink has ended its round) is published
 * for the checkpoint service, the cleaner and stats (D4, D5 in STORE.md).
 *
 * The same per-record code runs single-threaded during recovery (redo).
 */
#ifndef MQ_STORE_DISPATCH_H
#define MQ_STORE_DISPATCH_H

#include <assert.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "kv.h"
#include "store.h"

#define DISPATCH_MAX_SINKS 8

typedef struct dispatcher {
    commitlog *cl;
    pthread_t thread;
    pthread_t owner;             /* the one thread calling into the sinks (asserted) */
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_mutex_t round_mu;    /* held by whichever thread runs a round */
    atomic_int sleeping;
    bool stop;

    int64_t pos;                 /* next CommitLog offset to dispatch */
    int64_t mapped_to;           /* the mapping is populated below this (page end) */
    _Atomic int64_t dispatched;
    _Atomic int64_t last_store_ts;
    bool failed;                 /* last round hit an error; retried every second */
    bool fail_logged;
    uint8_t *buf;                /* the round's records, read with pread (not the mapping) */
    size_t buf_cap;

    /* Append-only: a slot is filled, then nsinks is published (release), so
     * a sink may be added while the thread runs. */
    store_sink sinks[DISPATCH_MAX_SINKS];
    _Atomic size_t nsinks;
} dispatcher;

/* ---- the key-index sink ---- */
typedef struct index_sink {
    kv_db *kv;
    bool enabled;                /* messageIndexEnable: KEYS / UNIQ_KEY entries */
    rocksdb_writebatch_t *wb;    /* the round's batch (the ConsumeQueue sink adds to it) */
    int64_t redo_below;          /* recovery: entries below are durable, skip them */
    _Atomic int64_t keys;        /* entries added since open */
} index_sink;

/* ---- the ConsumeQueue sink ---- */
typedef struct cq_sink {
    cq_table *cqs;
    index_sink *idx;             /* queue registrations go into its batch */
    const int64_t *delay_ms;     /* delay levels (ms) for SCHEDULE_TOPIC_XXXX tag codes */
    int ndelay;
    consume_queue *last_cq;      /* cache for runs of one queue (referenced) */
    consume_queue **touched;     /* queues that grew this round (referenced) */
    size_t ntouched, touched_cap;
    uint64_t round;
    size_t round_entries;        /* entries written this round */
    int64_t redo_below;          /* recovery: entries below are durable, skip them */
    _Atomic(store_arrival_cb) listener;
    void *_Atomic listener_arg;
} cq_sink;

int dispatcher_init(dispatcher *d, commitlog *cl, int64_t from);
/* Moves the position and the dispatched offset to `from` (recovery, before
 * the thread starts). */
void dispatcher_seek(dispatcher *d, int64_t from);
/* Appends a sink (copied); STORE_ERR_FULL past DISPATCH_MAX_SINKS. */
int dispatcher_add_sink(dispatcher *d, const store_sink *sink);
/* Hands one record to every sink. */
int dispatcher_record(dispatcher *d, const msg_record *r);
/* Ends the round at `upto` in every sink, then publishes it as dispatched. */
int dispatcher_commit(dispatcher *d, int64_t upto);
int dispatcher_start(dispatcher *d);
/* Dispatches everything written so far, then stops the thread. */
void dispatcher_stop(dispatcher *d);
void dispatcher_destroy(dispatcher *d);
/* Wakes the thread if it sleeps (called after every put). */
void dispatcher_notify(void *arg);
/* Runs the rounds for what is written but not dispatched on the calling
 * thread, if that is at most max_bytes and no round is in progress on
 * store-dispatch; returns true if everything written is now dispatched.
 * The sinks (and arrival listeners) then run on the caller's thread. */
bool dispatcher_try_inline(dispatcher *d, int64_t max_bytes);

static inline int64_t dispatcher_dispatched(dispatcher *d)
{
    return atomic_load_explicit(&d->dispatched, memory_order_acquire);
}

void index_sink_init(index_sink *x, kv_db *kv, bool enabled);
void index_sink_destroy(index_sink *x);
store_sink index_sink_as_sink(index_sink *x);

void cq_sink_init(cq_sink *x, cq_table *cqs, index_sink *idx, const int64_t *delay_ms, int ndelay);
void cq_sink_destroy(cq_sink *x);
store_sink cq_sink_as_sink(cq_sink *x);
/* ConsumeQueue tag field of a record: tag hash, or for SCHEDULE_TOPIC_XXXX
 * the delivery time of its delay level. */
int64_t cq_sink_tag_code(const cq_sink *x, const msg_record *r, const char *tags, size_t tlen,
                         const char *delay, size_t dlen);
/* Store time + the delay of `level` (clamped to the configured levels). */
int64_t cq_sink_deliver_time(const cq_sink *x, int level, int64_t store_ms);

#endif
