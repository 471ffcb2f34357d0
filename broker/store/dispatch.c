/*
 * dispatch.c - see dispatch.h.
 *
 * A round reads records from pos up to the CommitLog max offset seen at its
 * start (at most ROUND_MAX records, so arrival notifications are not held
 * back by a long backlog), writes ConsumeQueue entries as it goes (each one
 * visible at once), then writes the round's index batch (with the marker)
 * and calls the arrival listener once per queue that grew.
 */
#define _GNU_SOURCE
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "index.h"
#include "log.h"
#include "store_internal.h"
#include "util.h"

#define ROUND_MAX 512

int dispatcher_init(dispatcher *d, struct store *s, int64_t from)
{
    memset(d, 0, sizeof *d);
    d->s = s;
    d->pos = from;
    atomic_init(&d->dispatched, from);
    atomic_init(&d->sleeping, 0);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->wb = rocksdb_writebatch_create();
    return 0;
}

int64_t dispatcher_tag_code(struct store *s, const msg_record *r, const char *tags, size_t tlen,
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
            return store_deliver_time(s, level, r->store_timestamp);
    }
    return msg_tag_hash(tags, tlen);
}

/* Referenced queue for r (cached across consecutive records of one queue). */
static consume_queue *queue_for(dispatcher *d, const msg_record *r)
{
    consume_queue *q = d->last_cq;
    if (q && q->qid == r->queue_id && q->topic_len == r->topic_len &&
        memcmp(q->topic, r->topic, r->topic_len) == 0 && !atomic_load(&q->deleted))
        return q;
    if (q)
        cq_unref(q);
    bool created;
    q = cq_get_or_create(&d->s->cqs, r->topic, r->topic_len, r->queue_id, &created);
    if (created || !q->started)
        idx_add_queue(d->wb, &d->s->kv, r->topic, r->topic_len, r->queue_id);
    d->last_cq = q;
    return q;
}

int dispatcher_record(dispatcher *d, const msg_record *r)
{
    const char *tags = NULL, *keys = NULL, *uniq = NULL, *delay = NULL;
    size_t tags_len = 0, keys_len = 0, uniq_len = 0, delay_len = 0;
    size_t it = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(r->properties, r->properties_len, &it, &k, &kl, &v, &vl)) {
        switch (kl) {
        case 4:
            if (!memcmp(k, "TAGS", 4))
                tags = v, tags_len = vl;
            else if (!memcmp(k, "KEYS", 4))
                keys = v, keys_len = vl;
            break;
        case 5:
            if (!memcmp(k, "DELAY", 5))
                delay = v, delay_len = vl;
            break;
        case 8:
            if (!memcmp(k, "UNIQ_KEY", 8))
                uniq = v, uniq_len = vl;
            break;
        }
    }
    int32_t tx = msg_tx_type(r->sysflag);
    if (tx != MSG_SYSFLAG_TX_PREPARED && tx != MSG_SYSFLAG_TX_ROLLBACK &&
        r->physical_offset >= d->redo_cq_below) {
        consume_queue *q = queue_for(d, r);
        int64_t tag = dispatcher_tag_code(d->s, r, tags, tags_len, delay, delay_len);
        int rc = cq_put(q, r->queue_offset, r->physical_offset, (int32_t)r->total_size, tag);
        if (rc < 0)
            return rc;
        if (q->round != d->round) {
            q->round = d->round;
            if (d->ntouched == d->touched_cap) {
                d->touched_cap = d->touched_cap ? d->touched_cap * 2 : 64;
                d->touched = xrealloc(d->touched, d->touched_cap * sizeof *d->touched);
            }
            cq_ref(q);
            d->touched[d->ntouched++] = q;
        }
    }
    if (d->s->cfg.message_index_enable && tx != MSG_SYSFLAG_TX_ROLLBACK && (uniq || keys) &&
        r->physical_offset >= d->redo_index_below) {
        int n = idx_add_record(d->wb, &d->s->kv, r->topic, r->topic_len, uniq, uniq_len, keys,
                               keys_len, r->store_timestamp, r->physical_offset);
        atomic_fetch_add_explicit(&d->index_keys, n, memory_order_relaxed);
    }
    atomic_store_explicit(&d->last_store_ts, r->store_timestamp, memory_order_relaxed);
    return 0;
}

int dispatcher_commit(dispatcher *d, int64_t upto)
{
    idx_add_marker(d->wb, &d->s->kv, upto);
    int rc = idx_write(&d->s->kv, d->wb, false);
    atomic_store_explicit(&d->dispatched, upto, memory_order_release);
    store_arrival_cb cb = atomic_load(&d->listener);
    void *arg = atomic_load(&d->listener_arg);
    for (size_t i = 0; i < d->ntouched; i++) {
        consume_queue *q = d->touched[i];
        if (cb && !atomic_load(&q->deleted))
            cb(arg, q->topic, q->qid, cq_max(q));
        cq_unref(q);
    }
    d->ntouched = 0;
    d->round++;
    return rc;
}

/* One round; returns true if it made progress. */
static bool dispatch_round(dispatcher *d)
{
    commitlog *cl = &d->s->cl;
    int64_t end = cl_max_offset(cl);
    if (d->pos >= end || d->failed)
        return false;
    bool log_errors = !d->fail_logged;
    mapped_file *seg = NULL;
    int n = 0;
    while (d->pos < end && n < ROUND_MAX) {
        if (!seg || d->pos >= seg->start + seg->size) {
            if (seg)
                mf_unref(seg);
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
        int64_t rel = d->pos - seg->start;
        const uint8_t *p = seg->base + rel;
        if (be32_load(p + 4) == MSG_MAGIC_BLANK) {
            d->pos = seg->start + seg->size;
            continue;
        }
        msg_record r;
        int rc = msg_decode(p, (size_t)(seg->size - rel), false, &r);
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
    if (seg)
        mf_unref(seg);
    dispatcher_commit(d, d->pos);
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
    commitlog *cl = &d->s->cl;
    log_set_thread_name("store-dispatch");
    for (;;) {
        if (dispatch_round(d))
            continue;
        pthread_mutex_lock(&d->mu);
        atomic_store(&d->sleeping, 1);
        /* seq_cst pair: either we see the new max offset here, or the
         * putter sees sleeping == 1 and signals under mu. */
        bool idle = atomic_load(&cl->max_offset) <= d->pos || d->failed;
        if (idle && d->stop) {
            atomic_store(&d->sleeping, 0);
            pthread_mutex_unlock(&d->mu);
            break;
        }
        if (idle) {
            if (d->failed) { /* retry every second; the log said why */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&d->cond, &d->mu, &ts);
                d->failed = false;
            } else {
                pthread_cond_wait(&d->cond, &d->mu);
            }
        }
        atomic_store(&d->sleeping, 0);
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
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
    if (pthread_create(&d->thread, NULL, dispatch_main, d) != 0)
        return STORE_ERR_IO;
    d->running = true;
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
    if (d->last_cq)
        cq_unref(d->last_cq);
    d->last_cq = NULL;
    for (size_t i = 0; i < d->ntouched; i++)
        cq_unref(d->touched[i]);
    free(d->touched);
    d->touched = NULL;
    if (d->wb)
        rocksdb_writebatch_destroy(d->wb);
    d->wb = NULL;
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cond);
}
