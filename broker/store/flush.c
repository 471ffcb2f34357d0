/*
 * flush.c - see flush.h.
 *
 * The flush loop takes a snapshot of the CommitLog's written end, msyncs up to
 * it without holding any lock, then completes every waiter whose end is at or
 * below the new durable offset. Waiters that registered during the msync are
 * served by the next round: that is the group commit, and the number of
 * messages made durable per round is reported as msgs_per_fsync.
 */
#define _GNU_SOURCE
#include "flush.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define PAGE 4096
#define POOL_CHUNK 256

static void deadline_ts(struct timespec *ts, int64_t mono_deadline_ms)
{
    ts->tv_sec = mono_deadline_ms / 1000;
    ts->tv_nsec = (mono_deadline_ms % 1000) * 1000000;
}

int flusher_init(flusher *f, commitlog *cl, const store_config *cfg, int64_t flushed)
{
    memset(f, 0, sizeof *f);
    f->cl = cl;
    f->type = cfg->flush_disk_type;
    f->interval_ms = cfg->flush_interval_commit_log > 0 ? cfg->flush_interval_commit_log : 1;
    f->least_pages = cfg->flush_commit_log_least_pages;
    f->thorough_ms = cfg->flush_commit_log_thorough_interval;
    f->timeout_ms = cfg->sync_flush_timeout;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &ca);
    pthread_cond_init(&f->wd_cond, &ca);
    pthread_condattr_destroy(&ca);
    f->head.next = f->head.prev = &f->head;
    atomic_init(&f->flushed, flushed);
    atomic_init(&f->io_error, false);
    f->flushed_msgs_mark = atomic_load(&cl->put_msgs);
    f->last_thorough_ms = mono_ms();
    return 0;
}

/* ---- waiter list (mu held) ------------------------------------------------ */

static flush_waiter *node_get(flusher *f)
{
    if (!f->free_nodes) {
        flush_waiter *chunk = xcalloc(POOL_CHUNK, sizeof *chunk);
        f->chunks = xrealloc(f->chunks, (f->nchunks + 1) * sizeof *f->chunks);
        f->chunks[f->nchunks++] = chunk;
        for (int i = 0; i < POOL_CHUNK; i++) {
            chunk[i].next = f->free_nodes;
            f->free_nodes = &chunk[i];
        }
    }
    flush_waiter *w = f->free_nodes;
    f->free_nodes = w->next;
    return w;
}

static void node_put(flusher *f, flush_waiter *w)
{
    w->next = f->free_nodes;
    f->free_nodes = w;
}

static void list_unlink(flush_waiter *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
}

/* Inserts keeping the list sorted by end; waiters arrive nearly in order,
 * so the search from the tail is short. */
static void list_insert(flusher *f, flush_waiter *w)
{
    flush_waiter *p = f->head.prev;
    while (p != &f->head && p->end > w->end)
        p = p->prev;
    w->prev = p;
    w->next = p->next;
    p->next->prev = w;
    p->next = w;
}

/* A batch of completed waiters to call outside the lock. */
typedef struct done_list {
    flush_waiter *first;
} done_list;

static void done_push(done_list *d, flush_waiter *w)
{
    w->next = d->first;
    d->first = w;
}

static void done_run(flusher *f, done_list *d, store_put_status st)
{
    /* Counted before the callbacks: a waiter that has been told may read
     * the stats at once. */
    if (st != STORE_PUT_OK) {
        int n = 0;
        for (flush_waiter *w = d->first; w; w = w->next)
            n++;
        if (n)
            atomic_fetch_add(&f->timeouts, n);
    }
    for (flush_waiter *w = d->first; w; w = w->next)
        w->cb(w->arg, st);
    pthread_mutex_lock(&f->mu);
    flush_waiter *w = d->first;
    while (w) {
        flush_waiter *next = w->next;
        node_put(f, w);
        w = next;
    }
    pthread_mutex_unlock(&f->mu);
    d->first = NULL;
}

/* Moves waiters with end <= upto (all if upto < 0) to d. mu held. */
static void take_satisfied(flusher *f, int64_t upto, done_list *d)
{
    flush_waiter *w = f->head.next;
    while (w != &f->head && (upto < 0 || w->end <= upto)) {
        flush_waiter *next = w->next;
        list_unlink(w);
        f->nwaiters--;
        done_push(d, w);
        w = next;
    }
}

/* ---- store-flush ------------------------------------------------------------ */

static bool want_periodic_flush(flusher *f, int64_t dirty, int64_t now)
{
    if (dirty <= 0)
        return false;
    if (dirty >= (int64_t)f->least_pages * PAGE)
        return true;
    if (f->thorough_ms >= 0 && now - f->last_thorough_ms >= f->thorough_ms)
        return true;
    return false;
}

/* One flush round up to target; mu held on entry and exit. Returns 0 or the
 * flush error. Two threads may flush at once (store-flush and a caller of
 * flusher_flush_now): each msyncs from the durable offset it saw, and the
 * durable offset takes the larger end only (D2). */
static int flush_round(flusher *f, int64_t target)
{
    int64_t from = atomic_load(&f->flushed);
    if (target <= from)
        return 0;
    int64_t msgs = atomic_load(&f->cl->put_msgs);
    pthread_mutex_unlock(&f->mu);
    int64_t t0 = mono_us();
    int rc = cl_flush(f->cl, from, target);
    int64_t us = mono_us() - t0;
    pthread_mutex_lock(&f->mu);
    done_list d = {NULL};
    if (rc == 0) {
        /* D2: flushed <= written, and it only grows. */
        assert(target <= cl_max_offset(f->cl) && target >= from);
        if (target > atomic_load(&f->flushed)) {
            atomic_store_explicit(&f->flushed, target, memory_order_release);
            atomic_fetch_add(&f->fsync_count, 1);
            if (msgs > f->flushed_msgs_mark) {
                atomic_fetch_add(&f->fsync_msgs, msgs - f->flushed_msgs_mark);
                f->flushed_msgs_mark = msgs;
            }
        }
        if (us > atomic_load(&f->max_us))
            atomic_store(&f->max_us, us);
        take_satisfied(f, atomic_load(&f->flushed), &d);
        pthread_mutex_unlock(&f->mu);
        done_run(f, &d, STORE_PUT_OK);
    } else {
        if (!atomic_exchange(&f->io_error, true)) {
            log_error("CommitLog flush of [%lld, %lld) failed: %s; refusing writes until "
                      "restart", (long long)from, (long long)target, strerror(-rc));
            cl_set_refusal(f->cl, CL_REFUSE_IO_ERROR, true);
        }
        atomic_fetch_add(&f->errors, 1);
        take_satisfied(f, -1, &d);
        pthread_mutex_unlock(&f->mu);
        done_run(f, &d, STORE_PUT_FLUSH_DISK_TIMEOUT);
    }
    pthread_mutex_lock(&f->mu);
    return rc;
}

static void *flush_main(void *arg)
{
    flusher *f = arg;
    log_set_thread_name("store-flush");
    int64_t next_tick = mono_ms() + f->interval_ms;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        int64_t target = cl_max_offset(f->cl);
        int64_t flushed = atomic_load(&f->flushed);
        bool io_error = atomic_load(&f->io_error);
        if (!io_error && (f->nwaiters > 0 || f->flush_requested) && target > flushed) {
            f->flush_requested = false;
            flush_round(f, target);
            continue;
        }
        int64_t now = mono_ms();
        if (!io_error && now >= next_tick) {
            next_tick = now + f->interval_ms;
            if (want_periodic_flush(f, target - flushed, now)) {
                if (f->thorough_ms >= 0 && now - f->last_thorough_ms >= f->thorough_ms)
                    f->last_thorough_ms = now;
                flush_round(f, target);
                continue;
            }
        }
        struct timespec ts;
        deadline_ts(&ts, next_tick);
        pthread_cond_timedwait(&f->cond, &f->mu, &ts);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ---- store-flushwd ---------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
    flusher *f = arg;
    log_set_thread_name("store-flushwd");
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        int64_t now = mono_ms();
        int64_t next = INT64_MAX;
        done_list d = {NULL};
        flush_waiter *w = f->head.next;
        while (w != &f->head) {
            flush_waiter *n = w->next;
            if (w->deadline_ms <= now) {
                list_unlink(w);
                f->nwaiters--;
                done_push(&d, w);
            } else if (w->deadline_ms < next) {
                next = w->deadline_ms;
            }
            w = n;
        }
        if (d.first) {
            pthread_mutex_unlock(&f->mu);
            done_run(f, &d, STORE_PUT_FLUSH_DISK_TIMEOUT);
            pthread_mutex_lock(&f->mu);
            continue;
        }
        if (next == INT64_MAX) {
            /* Every waiter gets the same timeout, so one that arrives while
             * we linger has its deadline after the linger ends: nobody needs
             * to wake us for it. Only after a linger with no waiters at all
             * do we park, and then the next waiter signals. Under a steady
             * SYNC_FLUSH load that saves a thread wake-up per message. */
            struct timespec ts;
            deadline_ts(&ts, now + MQ_MIN(f->timeout_ms, 1000));
            pthread_cond_timedwait(&f->wd_cond, &f->mu, &ts);
            if (!f->stop && f->nwaiters == 0) {
                f->wd_parked = true;
                while (f->wd_parked && !f->stop)
                    pthread_cond_wait(&f->wd_cond, &f->mu);
            }
        } else {
            struct timespec ts;
            deadline_ts(&ts, next);
            pthread_cond_timedwait(&f->wd_cond, &f->mu, &ts);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int flusher_start(flusher *f)
{
    if (pthread_create(&f->thread, NULL, flush_main, f) != 0)
        return STORE_ERR_IO;
    if (pthread_create(&f->wd_thread, NULL, watchdog_main, f) != 0) {
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        return STORE_ERR_IO;
    }
    f->running = true;
    return 0;
}

void flusher_stop(flusher *f)
{
    if (!f->running)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cond);
    pthread_cond_broadcast(&f->wd_cond);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_join(f->wd_thread, NULL);
    f->running = false;
    /* Final flush on the closing thread; then nobody is left waiting. */
    pthread_mutex_lock(&f->mu);
    int64_t target = cl_max_offset(f->cl);
    if (!atomic_load(&f->io_error) && target > atomic_load(&f->flushed))
        flush_round(f, target);
    done_list d = {NULL};
    take_satisfied(f, -1, &d);
    pthread_mutex_unlock(&f->mu);
    done_run(f, &d, STORE_PUT_FLUSH_DISK_TIMEOUT);
}

void flusher_destroy(flusher *f)
{
    for (size_t i = 0; i < f->nchunks; i++)
        free(f->chunks[i]);
    free(f->chunks);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
    pthread_cond_destroy(&f->wd_cond);
}

int flusher_flush_now(flusher *f, int64_t end)
{
    if (end <= flusher_flushed(f))
        return 0;
    if (end > cl_max_offset(f->cl))
        return STORE_ERR_INVALID;
    if (atomic_load(&f->io_error))
        return STORE_ERR_IO;
    pthread_mutex_lock(&f->mu);
    /* Everything written now: one msync covers every put so far (group
     * commit), whoever asked for it. */
    int rc = flush_round(f, cl_max_offset(f->cl));
    pthread_mutex_unlock(&f->mu);
    if (rc < 0 || atomic_load(&f->io_error))
        return STORE_ERR_IO;
    return 0;
}

int flusher_wait(flusher *f, int64_t end, store_flush_cb cb, void *arg)
{
    if (end <= flusher_flushed(f))
        return 1;
    if (end > cl_max_offset(f->cl))
        return STORE_ERR_INVALID;
    if (atomic_load(&f->io_error))
        return STORE_ERR_IO;
    pthread_mutex_lock(&f->mu);
    if (f->stop || !f->running) {
        pthread_mutex_unlock(&f->mu);
        return STORE_ERR_CLOSED;
    }
    if (end <= atomic_load(&f->flushed)) {
        pthread_mutex_unlock(&f->mu);
        return 1;
    }
    flush_waiter *w = node_get(f);
    w->end = end;
    w->deadline_ms = mono_ms() + f->timeout_ms;
    w->cb = cb;
    w->arg = arg;
    list_insert(f, w);
    f->nwaiters++;
    if (f->wd_parked) {
        f->wd_parked = false;
        pthread_cond_signal(&f->wd_cond);
    }
    f->flush_requested = true;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* Blocking waits park on their own mutex/cond pair on the stack: the
 * callback signals under the mutex, so the waiter cannot return (and free
 * the pair) before the callback has let go of it. */
typedef struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int state; /* 0 pending, else 1 + status */
} sync_wait;

static void sync_wait_cb(void *arg, store_put_status st)
{
    sync_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->state = 1 + (int)st;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

store_put_status flusher_wait_blocking(flusher *f, int64_t end)
{
    sync_wait w;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cond, NULL);
    w.state = 0;
    int rc = flusher_wait(f, end, sync_wait_cb, &w);
    store_put_status st;
    if (rc == 1) {
        st = STORE_PUT_OK;
    } else if (rc < 0) {
        st = STORE_PUT_FLUSH_DISK_TIMEOUT;
    } else {
        pthread_mutex_lock(&w.mu);
        while (w.state == 0)
            pthread_cond_wait(&w.cond, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = (store_put_status)(w.state - 1);
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mu);
    return st;
}
