/*
 * dispatch.c - see dispatch.h.
 *
 * A round reads records from pos up to the CommitLog max offset seen at its
 * start (at most ROUND_MAX records, so arrival notifications are not held
 * back by a long backlog; with pread into d->buf, not through the mapping)
 * and hands each to every sink; then every sink ends
 * its round and the round's end is published as the dispatched offset.
 * With the built-in sinks (ConsumeQueue first, key index second): each
 * queue's entries are written and become visible, the arrival listener is
 * called once per queue that grew (held pulls are answered), the round's
 * index batch (with the marker) is written, and then `dispatched` moves.
 */
#define _GNU_SOURCE
#include "dispatch.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "index.h"
#include "log.h"
#include "util.h"

#define ROUND_MAX 512
#define RECENT_COPY_MAX (64 * 1024)  /* reads tried from the CommitLog's staging buffer first */
#define DISPATCH_READ (1 << 20)        /* bytes read per pread (at least one record) */
#define DISPATCH_MAX_RECORD (64 << 20) /* a larger TOTALSIZE is damage: not buffered */

int dispatcher_init(dispatcher *d, commitlog *cl, int64_t from)
{
    memset(d, 0, sizeof *d);
    d->cl = cl;
    d->owner = pthread_self();
    d->pos = from;
    d->mapped_to = from & ~(int64_t)4095; /* what readers read before a restart stays unmapped */
    atomic_init(&d->dispatched, from);
    atomic_init(&d->sleeping, 0);
    atomic_init(&d->nsinks, 0);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_mutex_init(&d->round_mu, NULL);
    return 0;
}

void dispatcher_seek(dispatcher *d, int64_t from)
{
    assert(!d->running);
    d->pos = from;
    d->mapped_to = from & ~(int64_t)4095;
    atomic_store(&d->dispatched, from);
}

int dispatcher_add_sink(dispatcher *d, const store_sink *sink)
{
    size_t n = atomic_load_explicit(&d->nsinks, memory_order_relaxed);
    if (n == DISPATCH_MAX_SINKS || !sink->on_record)
        return n == DISPATCH_MAX_SINKS ? STORE_ERR_FULL : STORE_ERR_INVALID;
    d->sinks[n] = *sink;
    atomic_store_explicit(&d->nsinks, n + 1, memory_order_release);
    return 0;
}

int dispatcher_record(dispatcher *d, const msg_record *r)
{
    /* The sinks' state is owned by one thread: store_open's during the
     * redo, store-dispatch once started. */
    assert(pthread_equal(d->owner, pthread_self()));
    size_t n = atomic_load_explicit(&d->nsinks, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        int rc = d->sinks[i].on_record(d->sinks[i].arg, r);
        if (rc < 0)
            return rc;
    }
    atomic_store_explicit(&d->last_store_ts, r->store_timestamp, memory_order_relaxed);
    return 0;
}

int dispatcher_commit(dispatcher *d, int64_t upto)
{
    /* D4: dispatched never passes the written end of the log. During the
     * redo (before the thread runs) the written end is what cl_recover has
     * verified so far; cl_max_offset shows it only once the redo returns. */
    assert(!d->running || upto <= cl_max_offset(d->cl));
    assert(upto >= atomic_load_explicit(&d->dispatched, memory_order_relaxed));
    assert(pthread_equal(d->owner, pthread_self()));
    size_t n = atomic_load_explicit(&d->nsinks, memory_order_acquire);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!d->sinks[i].on_round_end)
            continue;
        int r = d->sinks[i].on_round_end(d->sinks[i].arg, upto);
        if (r < 0 && rc == 0)
            rc = r;
    }
    /* D5: published only after every sink ended the round below upto. */
    atomic_store_explicit(&d->dispatched, upto, memory_order_release);
    return rc;
}

/* ---- the key-index sink ---- */

void index_sink_init(index_sink *x, kv_db *kv, bool enabled)
{
    memset(x, 0, sizeof *x);
    x->kv = kv;
    x->enabled = enabled;
    x->wb = rocksdb_writebatch_create();
}

void index_sink_destroy(index_sink *x)
{
    if (x->wb)
        rocksdb_writebatch_destroy(x->wb);
    x->wb = NULL;
}

static int index_on_record(void *arg, const msg_record *r)
{
    index_sink *x = arg;
    if (!x->enabled || msg_tx_type(r->sysflag) == MSG_SYSFLAG_TX_ROLLBACK ||
        r->physical_offset < x->redo_below)
        return 0;
    const char *keys = NULL, *uniq = NULL;
    size_t keys_len = 0, uniq_len = 0;
    size_t it = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(r->properties, r->properties_len, &it, &k, &kl, &v, &vl)) {
        if (kl == 4 && !memcmp(k, "KEYS", 4))
            keys = v, keys_len = vl;
        else if (kl == 8 && !memcmp(k, "UNIQ_KEY", 8))
            uniq = v, uniq_len = vl;
    }
    if (!uniq && !keys)
        return 0;
    int n = idx_add_record(x->wb, x->kv, r->topic, r->topic_len, uniq, uniq_len, keys, keys_len,
                           r->store_timestamp, r->physical_offset);
    atomic_fetch_add_explicit(&x->keys, n, memory_order_relaxed);
    return 0;
}

/* D6: the batch carries the marker `upto`, so the index on disk always says
 * how far it is complete. */
static int index_on_round_end(void *arg, int64_t upto)
{
    index_sink *x = arg;
    idx_add_marker(x->wb, x->kv, upto);
    return idx_write(x->kv, x->wb, false);
}

store_sink index_sink_as_sink(index_sink *x)
{
    return (store_sink){"key-index", x, index_on_record, index_on_round_end};
}

/* ---- the ConsumeQueue sink ---- */

void cq_sink_init(cq_sink *x, cq_table *cqs, index_sink *idx, const int64_t *delay_ms, int ndelay)
{
    memset(x, 0, sizeof *x);
    x->cqs = cqs;
    x->idx = idx;
    x->delay_ms = delay_ms;
    x->ndelay = ndelay;
    x->round = 1; /* a queue's round starts at 0: never this one, so its first round touches it */
}

void cq_sink_destroy(cq_sink *x)
{
    if (x->last_cq)
        cq_unref(x->last_cq);
    x->last_cq = NULL;
    for (size_t i = 0; i < x->ntouched; i++)
        cq_unref(x->touched[i]);
    free(x->touched);
    x->touched = NULL;
    x->ntouched = 0;
}

int64_t cq_sink_deliver_time(const cq_sink *x, int level, int64_t store_ms)
{
    if (x->ndelay == 0)
        return store_ms;
    if (level < 1)
        level = 1;
    if (level > x->ndelay)
        level = x->ndelay;
    return store_ms + x->delay_ms[level - 1];
}

int64_t cq_sink_tag_code(const cq_sink *x, const msg_record *r, const char *tags, size_t tlen,
                         const char *delay, size_t dlen)
{
    if (r->topic_len == sizeof MSG_TOPIC_SCHEDULE - 1 &&
        memcmp(r->topic, MSG_TOPIC_SCHEDULE, r->topic_len) == 0 && delay && dlen > 0 &&
        dlen < 12) {
        char buf[12];
        memcpy(buf, delay, dlen);
        buf[dlen] = '\0';
        int32_t level;
        if (parse_int32(buf, INT32_MIN, INT32_MAX, &level) == 0 && level > 0)
            return cq_sink_deliver_time(x, level, r->store_timestamp);
    }
    return msg_tag_hash(tags, tlen);
}

/* Referenced queue for r (cached across consecutive records of one queue). */
static consume_queue *queue_for(cq_sink *x, const msg_record *r)
{
    consume_queue *q = x->last_cq;
    if (q && q->qid == r->queue_id && q->topic_len == r->topic_len &&
        memcmp(q->topic, r->topic, r->topic_len) == 0 && !atomic_load(&q->deleted))
        return q;
    if (q)
        cq_unref(q);
    bool created;
    q = cq_get_or_create(x->cqs, r->topic, r->topic_len, r->queue_id, &created);
    if (created || !q->started)
        idx_add_queue(x->idx->wb, x->idx->kv, r->topic, r->topic_len, r->queue_id);
    x->last_cq = q;
    return q;
}

static int cq_on_record(void *arg, const msg_record *r)
{
    cq_sink *x = arg;
    int32_t tx = msg_tx_type(r->sysflag);
    if (tx == MSG_SYSFLAG_TX_PREPARED || tx == MSG_SYSFLAG_TX_ROLLBACK ||
        r->physical_offset < x->redo_below)
        return 0;
    const char *tags = NULL, *delay = NULL;
    size_t tags_len = 0, delay_len = 0;
    size_t it = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(r->properties, r->properties_len, &it, &k, &kl, &v, &vl)) {
        if (kl == 4 && !memcmp(k, "TAGS", 4))
            tags = v, tags_len = vl;
        else if (kl == 5 && !memcmp(k, "DELAY", 5))
            delay = v, delay_len = vl;
    }
    consume_queue *q = queue_for(x, r);
    int64_t tag = cq_sink_tag_code(x, r, tags, tags_len, delay, delay_len);
    int rc = cq_put_staged(q, r->queue_offset, r->physical_offset, (int32_t)r->total_size, tag);
    if (rc < 0)
        return rc;
    x->round_entries++;
    if (q->round != x->round) {
        q->round = x->round;
        if (x->ntouched == x->touched_cap) {
            x->touched_cap = x->touched_cap ? x->touched_cap * 2 : 64;
            x->touched = xrealloc(x->touched, x->touched_cap * sizeof *x->touched);
        }
        cq_ref(q);
        x->touched[x->ntouched++] = q;
    }
    return 0;
}

/* A round of at most this many entries writes each queue's run with
 * pwrite; a larger one stores it through the mapping. A small round is the
 * one a latency-bound load sees (inline dispatch on the loop at W4), where
 * a store into the mapping could stall the loop for milliseconds in ext4's
 * page_mkwrite (consumequeue.c); in a large round those faults are shared
 * by many entries, and a pwrite per queue per round cost W1 about 13 %. */
#define CQ_PWRITE_ROUND_MAX 64

static int cq_on_round_end(void *arg, int64_t upto)
{
    (void)upto;
    cq_sink *x = arg;
    store_arrival_cb cb = atomic_load(&x->listener);
    void *cb_arg = atomic_load(&x->listener_arg);
    for (size_t i = 0; i < x->ntouched; i++) {
        consume_queue *q = x->touched[i];
        cq_write_staged(q, x->round_entries > CQ_PWRITE_ROUND_MAX);
        if (cb && !atomic_load(&q->deleted))
            cb(cb_arg, q->topic, q->qid, cq_max(q));
        cq_unref(q);
    }
    x->ntouched = 0;
    x->round_entries = 0;
    x->round++;
    return 0;
}

store_sink cq_sink_as_sink(cq_sink *x)
{
    return (store_sink){"consumequeue", x, cq_on_record, cq_on_round_end};
}

/* Reads [pos, pos + want) of seg (clamped to its end) into d->buf, growing
 * it to hold at least `need` bytes. Returns the bytes read (0 on error). The
 * dispatcher reads the log with pread, not through the mapping: on this
 * project's VM installing a page-table entry costs several microseconds, and
 * the kernel copies from pages the writer's pwrite just filled. */
static size_t fill(dispatcher *d, mapped_file *seg, int64_t pos, size_t want, size_t need)
{
    if (d->buf_cap < need || !d->buf) {
        free(d->buf);
        d->buf_cap = MQ_MAX(need, (size_t)DISPATCH_READ);
        d->buf = xmalloc(d->buf_cap);
    }
    want = MQ_MIN(want, d->buf_cap);
    want = (size_t)MQ_MIN((int64_t)want, seg->start + seg->size - pos);
    if (want <= RECENT_COPY_MAX && cl_copy_recent(d->cl, pos, d->buf, want))
        return want; /* the put just before us: no system call (inline rounds) */
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(seg->fd, d->buf + got, want - got, (off_t)(pos - seg->start + (int64_t)got));
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break; /* EIO, or a file shorter than its segment: the caller stops the round */
    }
    return got;
}

/* Maps the pages just dispatched into the CommitLog's mapping (one madvise
 * per round, at most one per new page), after the round's notifications:
 * pulls answer with sendmsg from the mapping, and since the log is written
 * with pwrite nothing else maps those pages, so each pull took the page
 * faults on the loop (W3: broker CPU per consumed message 0.67 us at
 * 2ee9e87, 0.93 us with the pwrite writer, this file's readers otherwise
 * unchanged). One page past the dispatched end is made ready as well: put
 * into the page cache with POSIX_FADV_WILLNEED (a zero page, as the file
 * reads there; a page the writer already has is left alone) and then
 * mapped, so the next put's pwrite finds its page and the next pull's
 * sendmsg takes no fault, both work a latency-bound load (W4) otherwise
 * did between a send and its delivery. The page is readied by readahead
 * of that one page, not by a read fault: populating it by a fault alone
 * (which reads around the faulting page) gave maxima of 15-19 ms in three
 * W4 runs of four. One page at a time, unlike the prefault of fresh
 * segment memory that issue 13 removed. */
static void populate(dispatcher *d, mapped_file *seg)
{
    int64_t lo = MQ_MAX(d->mapped_to, seg->start);
    int64_t end = MQ_MIN((d->pos + 4095) & ~(int64_t)4095, seg->start + seg->size);
    int64_t hi = MQ_MIN(end + 4096, seg->start + seg->size);
    /* Each page is readied once, before the first record enters it. */
    if (hi <= lo)
        return;
    if (hi > end)
        posix_fadvise(seg->fd, end - seg->start, hi - end, POSIX_FADV_WILLNEED);
    mf_prefault(seg, lo - seg->start, hi - seg->start);
    d->mapped_to = hi;
}

/* One round; returns true if it made progress. */
static bool dispatch_round(dispatcher *d)
{
    commitlog *cl = d->cl;
    int64_t end = cl_max_offset(cl);
    if (d->pos >= end || d->failed)
        return false;
    bool log_errors = !d->fail_logged;
    mapped_file *seg = NULL;
    int64_t buf_at = 0;  /* CommitLog offset of d->buf[0] */
    size_t buf_len = 0;  /* valid bytes in d->buf */
    int n = 0;
    while (d->pos < end && n < ROUND_MAX) {
        if (!seg || d->pos >= seg->start + seg->size) {
            if (seg)
                mf_unref(seg);
            buf_len = 0;
            seg = cl_acquire(cl, d->pos);
            if (!seg) {
                int64_t min = cl_min_offset(cl);
                if (d->pos < min) { /* retention outran us (should not happen) */
                    log_error("dispatch offset %lld below CommitLog min %lld; skipping",
                              (long long)d->pos, (long long)min);
                    d->pos = min;
                    continue;
                }
                if (log_errors)
                    log_error("no CommitLog segment for dispatch offset %lld", (long long)d->pos);
                d->failed = true;
                break;
            }
        }
        /* The record's header, then the whole record, must be in the buffer:
         * at most two reads (the second once the header gave the size). */
        int64_t avail = 0;
        bool readable = false;
        for (int tries = 0; tries < 3; tries++) {
            avail = buf_at + (int64_t)buf_len - d->pos;
            uint32_t need = 0;
            if (buf_len && d->pos >= buf_at && avail >= MSG_BLANK_LEN) {
                const uint8_t *h = d->buf + (d->pos - buf_at);
                need = be32_load(h + 4) == MSG_MAGIC_BLANK ? MSG_BLANK_LEN : be32_load(h);
                if (avail >= (int64_t)need || need > DISPATCH_MAX_RECORD) {
                    readable = true; /* whole, or damaged: msg_decode says which */
                    break;
                }
            }
            size_t want = (size_t)MQ_MIN(end - d->pos, (int64_t)DISPATCH_READ);
            want = MQ_MAX(want, (size_t)need);
            buf_at = d->pos;
            buf_len = fill(d, seg, d->pos, want, want);
        }
        if (!readable) {
            if (log_errors)
                log_error("cannot read the CommitLog at offset %lld (%s); dispatch stopped",
                          (long long)d->pos, buf_len ? "short read" : strerror(errno));
            d->failed = true;
            break;
        }
        const uint8_t *p = d->buf + (d->pos - buf_at);
        if (be32_load(p + 4) == MSG_MAGIC_BLANK) {
            d->pos = seg->start + seg->size;
            continue;
        }
        msg_record r;
        int rc = msg_decode(p, (size_t)avail, false, &r);
        if (rc != MSG_OK || r.physical_offset != d->pos) {
            if (log_errors)
                log_error("unreadable record at CommitLog offset %lld (%s); dispatch stopped",
                          (long long)d->pos, msg_strerror(rc));
            d->failed = true;
            break;
        }
        if (dispatcher_record(d, &r) < 0) {
            if (log_errors)
                log_error("ConsumeQueue write failed at CommitLog offset %lld; dispatch stopped",
                          (long long)d->pos);
            d->failed = true;
            break;
        }
        d->pos += r.total_size;
        n++;
    }
    dispatcher_commit(d, d->pos);
    if (seg && !d->failed)
        populate(d, seg);
    if (seg)
        mf_unref(seg);
    if (d->failed)
        d->fail_logged = true; /* one log line per failure streak */
    else if (d->fail_logged) {
        d->fail_logged = false;
        log_info("dispatch resumed at CommitLog offset %lld", (long long)d->pos);
    }
    return n > 0;
}

static void *dispatch_main(void *arg)
{
    dispatcher *d = arg;
    commitlog *cl = d->cl;
    log_set_thread_name("store-dispatch");
    for (;;) {
        pthread_mutex_lock(&d->round_mu);
        d->owner = pthread_self(); /* the sinks' thread for this round (an inline one may run between) */
        bool progressed = dispatch_round(d);
        int64_t pos = d->pos; /* an inline round may move it on: then we look again */
        bool failed = d->failed;
        pthread_mutex_unlock(&d->round_mu);
        if (progressed)
            continue;
        pthread_mutex_lock(&d->mu);
        atomic_store(&d->sleeping, 1);
        /* seq_cst pair: either we see the new max offset here, or the
         * putter sees sleeping == 1 and signals under mu. */
        bool idle = atomic_load(&cl->max_offset) <= pos || failed;
        if (idle && d->stop) {
            atomic_store(&d->sleeping, 0);
            pthread_mutex_unlock(&d->mu);
            break;
        }
        if (idle) {
            if (failed) { /* retry every second; the log said why */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&d->cond, &d->mu, &ts);
                pthread_mutex_lock(&d->round_mu);
                d->failed = false;
                pthread_mutex_unlock(&d->round_mu);
            } else {
                pthread_cond_wait(&d->cond, &d->mu);
            }
        }
        atomic_store(&d->sleeping, 0);
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

bool dispatcher_try_inline(dispatcher *d, int64_t max_bytes)
{
    if (!d->running || pthread_mutex_trylock(&d->round_mu) != 0)
        return false; /* the thread is in a round: it will see the new bytes */
    bool done = false;
    if (!d->failed && cl_max_offset(d->cl) - d->pos <= max_bytes) {
        d->owner = pthread_self();
        while (dispatch_round(d) && d->pos < cl_max_offset(d->cl))
            ;
        done = d->pos >= cl_max_offset(d->cl);
    }
    pthread_mutex_unlock(&d->round_mu);
    return done;
}

void dispatcher_notify(void *arg)
{
    dispatcher *d = arg;
    if (atomic_load(&d->sleeping)) {
        pthread_mutex_lock(&d->mu);
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->mu);
    }
}

int dispatcher_start(dispatcher *d)
{
    d->running = true; /* before the thread exists: it reads the flag (D4's assert) */
    if (pthread_create(&d->thread, NULL, dispatch_main, d) != 0) {
        d->running = false;
        return STORE_ERR_IO;
    }
    return 0;
}

void dispatcher_stop(dispatcher *d)
{
    if (!d->running)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    d->running = false;
}

void dispatcher_destroy(dispatcher *d)
{
    free(d->buf);
    d->buf = NULL;
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->round_mu);
    pthread_cond_destroy(&d->cond);
}
