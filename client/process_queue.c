/*
 * process_queue.c - see process_queue.h: the offsets in flight of one queue
 * (mqc_inflight, pure data), and the push consumer's process queue built on
 * them (mqc_pq, push_consumer_internal.h): its creation, references, timers,
 * orderly scheduling, drop and release.
 *
 * In-flight slots are a sorted array with a moving head: messages arrive in
 * offset order (append), finish in any order (binary search, mark), and
 * finished slots leave from the head, so every operation is O(log n) or
 * amortised O(1) with no allocation once the array has grown to the
 * queue's flow-control threshold.
 *
 * Process-queue states (pq->state, owned by the I/O thread), transitions
 * and the function doing each; mqc_pq_step (pull_loop.c) runs the work of
 * the current state:
 *
 *   state           meaning                             next: function
 *   --------------  ----------------------------------  ---------------------------------------
 *   PQ_WAIT_LOCK    orderly CLUSTERING: broker lock      PQ_WAIT_OFFSET: lock answer, granted
 *                   not held yet (initial state)                         (rebalance.c, on_lock_response)
 *   PQ_WAIT_OFFSET  ready to find the start offset       PQ_OFFSET: find_start_offset (pull_loop.c)
 *                   (initial state otherwise)
 *   PQ_OFFSET       start-offset request in flight       PQ_PULLING: offset_found (pull_loop.c)
 *                                                        PQ_WAIT_OFFSET: offset_request failed or
 *                                                          on_offset_response error (retry later)
 *   PQ_PULLING      pull loop running                    (stays until dropped)
 *   any             queue no longer ours                 PQ_RELEASING: mqc_pq_drop, orderly with
 *                                                          the lock held (else it just leaves)
 *   PQ_RELEASING    waiting for the running listener,    PQ_WAIT_LOCK (inert): mqc_pq_release_now
 *                   then commit and unlock               commits, unlocks, drops the reference
 *
 * `dropped` (under pq->lock) is the flag consume threads read; `state`,
 * the timers and `in_table` are the I/O thread's (asserted in debug builds).
 *
 * References: the consumer's queue table holds one (mqc_pq_new), every
 * armed timer, request in flight, consume task and the releasing list hold
 * one each; the last mqc_pq_unref frees. A reference count never goes
 * below zero (asserted).
 */
#include "process_queue.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "push_consumer_internal.h"
#include "util.h"

void mqc_inflight_init(mqc_inflight *f, int64_t next_offset)
{
    memset(f, 0, sizeof *f);
    f->next_offset = next_offset;
}

void mqc_inflight_free(mqc_inflight *f)
{
    free(f->slots);
    memset(f, 0, sizeof *f);
}

void mqc_inflight_reset(mqc_inflight *f, int64_t next_offset)
{
    f->head = f->len = f->live = 0;
    f->live_bytes = 0;
    f->next_offset = next_offset;
}

static void pop_done(mqc_inflight *f)
{
    while (f->len && f->slots[f->head].done) {
        f->head++;
        f->len--;
    }
    if (!f->len)
        f->head = 0;
}

/* Index (from head) of the first slot with offset >= off. */
static size_t lower_bound(const mqc_inflight *f, int64_t off)
{
    size_t lo = 0, hi = f->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->slots[f->head + mid].offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool mqc_inflight_add(mqc_inflight *f, int64_t offset, uint32_t size)
{
    size_t pos = f->len;
    if (f->len && f->slots[f->head + f->len - 1].offset >= offset) {
        pos = lower_bound(f, offset);
        if (pos < f->len && f->slots[f->head + pos].offset == offset)
            return false;
    }
    if (f->head + f->len == f->cap) {
        if (f->head > 0) { /* slide down before growing */
            memmove(f->slots, f->slots + f->head, f->len * sizeof *f->slots);
            f->head = 0;
        }
        if (f->len == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 64;
            f->slots = xrealloc(f->slots, f->cap * sizeof *f->slots);
        }
    }
    mqc_inflight_slot *at = f->slots + f->head + pos;
    if (pos < f->len)
        memmove(at + 1, at, (f->len - pos) * sizeof *at);
    at->offset = offset;
    at->size = size;
    at->done = false;
    f->len++;
    f->live++;
    f->live_bytes += size;
    return true;
}

void mqc_inflight_set_next(mqc_inflight *f, int64_t next_offset) { f->next_offset = next_offset; }

bool mqc_inflight_done(mqc_inflight *f, int64_t offset)
{
    size_t pos = lower_bound(f, offset);
    if (pos >= f->len)
        return false;
    mqc_inflight_slot *s = &f->slots[f->head + pos];
    if (s->offset != offset || s->done)
        return false;
    s->done = true;
    f->live--;
    f->live_bytes -= s->size;
    pop_done(f);
    return true;
}

int64_t mqc_inflight_commit_offset(const mqc_inflight *f)
{
    /* Finished slots leave from the head, so the head is the smallest live one. */
    return f->len ? f->slots[f->head].offset : f->next_offset;
}

int64_t mqc_inflight_span(const mqc_inflight *f)
{
    if (f->live < 2)
        return 0;
    size_t last = f->head + f->len - 1;
    while (f->slots[last].done)
        last--;
    return f->slots[last].offset - f->slots[f->head].offset;
}

mqc_flow mqc_flow_check(const mqc_inflight *f, size_t max_count, uint64_t max_bytes, int64_t max_span)
{
    if (f->live > max_count)
        return MQC_FLOW_COUNT;
    if (f->live_bytes > max_bytes)
        return MQC_FLOW_SIZE;
    if (max_span > 0 && mqc_inflight_span(f) > max_span)
        return MQC_FLOW_SPAN;
    return MQC_FLOW_OK;
}

/* ---- the push consumer's process queue (I/O thread unless marked) ---- */

void mqc_pq_ref(mqc_pq *pq)
{
    int before = atomic_fetch_add(&pq->refs, 1);
    assert(before > 0); /* a reference is taken from a live one */
    (void)before;
}

void mqc_pq_unref(mqc_pq *pq)
{
    if (!pq)
        return;
    int before = atomic_fetch_sub(&pq->refs, 1);
    assert(before > 0);
    if (before != 1)
        return;
    for (size_t i = 0; i < pq->pend_len; i++)
        mqc_msg_batch_unref(pq->pending[(pq->pend_head + i) % pq->pend_cap]->batch);
    free(pq->pending);
    mqc_inflight_free(&pq->inflight);
    pthread_mutex_destroy(&pq->lock);
    free(pq);
}

mqc_pq *mqc_pq_new(mq_push_consumer *c, mqc_sub *sub, const mq_message_queue *mq)
{
    mqc_pq *pq = xcalloc(1, sizeof *pq);
    pq->mq = *mq;
    mqc_queue_key(mq, pq->key, sizeof pq->key);
    atomic_init(&pq->refs, 1);
    pq->c = c;
    pq->sub = sub;
    pthread_mutex_init(&pq->lock, NULL);
    mqc_inflight_init(&pq->inflight, 0);
    pq->persisted = -1;
    pq->state = c->orderly && c->o.message_model == MQ_CLUSTERING ? PQ_WAIT_LOCK : PQ_WAIT_OFFSET;
    return pq;
}

bool mqc_pq_lock_valid(const mqc_pq *pq, int64_t now)
{
    if (pq->c->o.message_model == MQ_BROADCASTING)
        return true;
    return pq->locked && now - pq->lock_ms <= pq->c->o.lock_expiry_ms;
}

void mqc_pq_schedule_orderly(mqc_pq *pq)
{
    pthread_mutex_lock(&pq->lock);
    bool go = !pq->dropped && !pq->scheduled && pq->pend_len > 0 && mqc_pq_lock_valid(pq, mono_ms());
    if (go)
        pq->scheduled = true;
    pthread_mutex_unlock(&pq->lock);
    if (go)
        mqc_svc_push_queue(pq->c, pq);
}

void mqc_pq_drop(mq_push_consumer *c, mqc_pq *pq)
{
    assert(mqc_on_io_thread(c->inst));
    if (pq->in_table) {
        strmap_remove(&c->pqs, pq->key);
        pq->in_table = false;
    }
    pthread_mutex_lock(&pq->lock);
    pq->dropped = true;
    bool held_lock = pq->locked;
    pthread_mutex_unlock(&pq->lock);
    mqc_pq_stop_timers(pq);
    log_info("consumer %s: queue %s/%s/%d is no longer ours", c->group, pq->mq.topic, pq->mq.broker_name,
             pq->mq.queue_id);
    if (c->orderly && c->o.message_model == MQ_CLUSTERING && held_lock && !c->closing) {
        /* Commit and unlock once the listener (if running) returns, so the
         * next owner starts exactly after the last message consumed here. */
        pq->state = PQ_RELEASING;
        mqc_pq_ref(pq); /* the releasing list's */
        pq->rel_prev = NULL;
        pq->rel_next = c->releasing;
        if (c->releasing)
            c->releasing->rel_prev = pq;
        c->releasing = pq;
        mqc_pq_step(pq);
    } else {
        mqc_pq_persist(c, pq);
    }
    mqc_pq_unref(pq); /* the table's reference */
}

static void on_pq_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_pq *pq = w->data;
    pq->timer_on = false;
    mqc_pq_step(pq);
    mqc_pq_unref(pq);
}

void mqc_pq_later(mqc_pq *pq, int delay_ms)
{
    assert(mqc_on_io_thread(pq->c->inst));
    if (pq->c->closing || pq->timer_on)
        return;
    mqc_pq_ref(pq);
    pq->timer_on = true;
    ev_timer_init(&pq->timer, on_pq_timer, delay_ms / 1000.0, 0.);
    pq->timer.data = pq;
    ev_timer_start(mqc_loop(pq->c->inst), &pq->timer);
}

void mqc_pq_stop_timers(mqc_pq *pq)
{
    assert(mqc_on_io_thread(pq->c->inst));
    struct ev_loop *loop = mqc_loop(pq->c->inst);
    if (pq->timer_on) {
        ev_timer_stop(loop, &pq->timer);
        pq->timer_on = false;
        mqc_pq_unref(pq);
    }
    if (pq->resume_on) {
        ev_timer_stop(loop, &pq->resume_timer);
        pq->resume_on = false;
        pthread_mutex_lock(&pq->lock);
        pq->scheduled = false;
        pthread_mutex_unlock(&pq->lock);
        mqc_pq_unref(pq);
    }
}

void mqc_pq_release_now(mqc_pq *pq)
{
    mq_push_consumer *c = pq->c;
    assert(mqc_on_io_thread(c->inst));
    assert(pq->state == PQ_RELEASING);
    if (pq->rel_prev)
        pq->rel_prev->rel_next = pq->rel_next;
    else
        c->releasing = pq->rel_next;
    if (pq->rel_next)
        pq->rel_next->rel_prev = pq->rel_prev;
    pq->rel_prev = pq->rel_next = NULL;
    mqc_pq_persist(c, pq);
    mqc_pq_unlock_oneway(c, pq);
    pq->state = PQ_WAIT_LOCK; /* inert */
    mqc_pq_unref(pq);
}
