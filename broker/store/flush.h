/*
 * flush.h - makes the CommitLog durable: ASYNC_FLUSH (every
 * flush_interval_commit_log ms once flush_commit_log_least_pages pages are
 * dirty, and everything every flush_commit_log_thorough_interval ms) and
 * SYNC_FLUSH group commit (waiters register "durable up to X"; one msync
 * serves every waiter up to the written end at that moment).
 *
 * Threads: store-flush flushes for registered waiters and the periodic
 * flush; a caller of flusher_flush_now (the broker's event loop, at the end
 * of a loop turn) flushes on its own thread, and whoever flushes completes
 * the waiters its flush covers;
 * store-flushwd (watchdog) fails waiters whose deadline passed even while a
 * flush is stuck in the kernel. The waiter list (sorted by end offset) is
 * guarded by one mutex; whoever unlinks a waiter runs its callback, so each
 * callback runs exactly once, outside the mutex. Putters never wait for the
 * flusher: they only register waiters (and only if they want to).
 *
 * A failed flush (EIO, or the injected failure of a test) puts the store in
 * the io-error state: the CommitLog refuses puts from then on and waiters
 * fail at once, because after a failed fsync the kernel may have dropped the
 * dirty pages, so later "successful" flushes would prove nothing.
 */
#ifndef MQ_STORE_FLUSH_H
#define MQ_STORE_FLUSH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "commitlog.h"
#include "store.h"

typedef struct flush_waiter {
    int64_t end;
    int64_t deadline_ms; /* monotonic */
    store_flush_cb cb;
    void *arg;
    struct flush_waiter *prev, *next;
} flush_waiter;

typedef struct flusher {
    commitlog *cl;
    store_flush_disk_type type;
    int32_t interval_ms, least_pages, thorough_ms, timeout_ms;

    pthread_t thread, wd_thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;    /* wakes store-flush */
    pthread_cond_t wd_cond; /* wakes store-flushwd when parked (and on stop) */
    bool wd_parked;         /* store-flushwd sleeps until signalled: no waiters for a while */
    bool stop;
    flush_waiter head;      /* sentinel of the sorted waiter list */
    size_t nwaiters;
    flush_waiter *free_nodes;
    flush_waiter **chunks;
    size_t nchunks;
    bool flush_requested;   /* a waiter arrived under ASYNC_FLUSH */

    _Atomic int64_t flushed;
    int64_t flushed_msgs_mark; /* put_msgs counted at the last flush */
    int64_t last_thorough_ms;

    atomic_bool io_error;
    _Atomic int64_t fsync_count, fsync_msgs, timeouts, errors, max_us;
} flusher;

int flusher_init(flusher *f, commitlog *cl, const store_config *cfg, int64_t flushed);
int flusher_start(flusher *f);
/* Flushes everything written, completes or fails every waiter, joins the
 * threads. */
void flusher_stop(flusher *f);
void flusher_destroy(flusher *f);

/* See store_flush_now: msyncs everything written, on the calling thread,
 * if end is not durable yet, and completes the waiters it covers. */
int flusher_flush_now(flusher *f, int64_t end);
/* See store_wait_flushed. */
int flusher_wait(flusher *f, int64_t end, store_flush_cb cb, void *arg);
/* Blocking variant; returns STORE_PUT_OK or STORE_PUT_FLUSH_DISK_TIMEOUT. */
store_put_status flusher_wait_blocking(flusher *f, int64_t end);

static inline int64_t flusher_flushed(flusher *f)
{
    return atomic_load_explicit(&f->flushed, memory_order_acquire);
}

#endif
