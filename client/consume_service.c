/*
 * consume_service.c - the consume threads ("mq-consume-N") that run the
 * application's listener.
 *
 * One FIFO of tasks (a ring buffer, no allocation per message) under one
 * mutex and condition variable. Concurrent consumers queue one task per
 * message; a thread takes up to consume_message_batch_max_size consecutive
 * tasks of one queue per listener call. Orderly consumers queue one task per
 * queue with messages ready ("scheduled"): the thread that takes it consumes
 * that queue's messages in order, a batch at a time, while the queue is ours
 * and locked, so no two threads ever run one queue.
 *
 * After the listener
 *   success: the messages leave the in-flight set (their queue's committed
 *   offset may advance).
 *   RECONSUME_LATER (concurrent, CLUSTERING): each message is sent back to
 *   its broker (CONSUMER_SEND_MSG_BACK, blocking on this thread); sent back
 *   counts as done. If the send-back fails, the message stays in flight and
 *   is consumed again here after send_back_retry_delay_ms. BROADCASTING:
 *   logged and dropped, as RocketMQ does.
 *   SUSPEND_CURRENT_QUEUE_A_MOMENT (orderly): the same messages are retried
 *   after suspend_current_queue_time_ms; the queue waits meanwhile. Past
 *   max_reconsume_times (if set) a message is sent back with delay level -1,
 *   which the broker routes to the dead-letter queue, and the queue moves on.
 *
 * Messages of a dropped queue are released without calling the listener and
 * without touching offsets. Stopping lets running listener calls finish and
 * releases queued tasks: their messages were never acknowledged, so the
 * committed offsets stay below them and they are delivered again later.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "push_consumer_internal.h"
#include "util.h"

#define ORDERLY_MAX_CONTINUOUS_MS 60000

/* ---- queue of tasks (svc->lock held) ---- */

static void ring_push(mqc_consume_service *s, mqc_pq *pq, mq_message_ext *m)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        mqc_task *r = xmalloc(cap * sizeof *r);
        for (size_t i = 0; i < s->len; i++)
            r[i] = s->ring[(s->head + i) % s->cap];
        free(s->ring);
        s->ring = r;
        s->cap = cap;
        s->head = 0;
    }
    s->ring[(s->head + s->len++) % s->cap] = (mqc_task){pq, m};
}

static mqc_task ring_pop(mqc_consume_service *s)
{
    mqc_task t = s->ring[s->head];
    s->head = (s->head + 1) % s->cap;
    s->len--;
    return t;
}

void mqc_svc_submit(mq_push_consumer *c, mqc_pq *pq, mqc_msg_batch *b)
{
    mqc_consume_service *s = &c->svc;
    mqc_msg_batch_ref(b, b->n - 1); /* one per task; ours becomes the first's */
    atomic_fetch_add(&pq->refs, b->n);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < b->n; i++)
        ring_push(s, pq, &b->msgs[i]);
    if (b->n == 1)
        pthread_cond_signal(&s->cv); /* one task: wake one thread, not the pool */
    else
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
}

void mqc_svc_push_queue(mq_push_consumer *c, mqc_pq *pq)
{
    mqc_consume_service *s = &c->svc;
    mqc_pq_ref(pq);
    pthread_mutex_lock(&s->lock);
    ring_push(s, pq, NULL);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->lock);
}

void mqc_svc_set_suspended(mq_push_consumer *c, bool suspended)
{
    mqc_consume_service *s = &c->svc;
    pthread_mutex_lock(&s->lock);
    s->suspended = suspended;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
}

/* ---- finishing messages ---- */

static void done(mqc_pq *pq, mq_message_ext *const *msgs, int n)
{
    pthread_mutex_lock(&pq->lock);
    if (!pq->dropped)
        for (int i = 0; i < n; i++)
            mqc_inflight_done(&pq->inflight, msgs[i]->queue_offset);
    pthread_mutex_unlock(&pq->lock);
}

/* CONSUMER_SEND_MSG_BACK for m (blocking). delay_level -1 sends it to the DLQ. */
/* Events that can happen once per message are logged as counts: a line for
 * the first, then one per 1000 (total: the count including these n). */
static bool worth_a_line(unsigned long long total, int n)
{
    unsigned long long before = total - (unsigned long long)n;
    return before == 0 || before / 1000 != total / 1000;
}

static bool send_back(mq_push_consumer *c, mqc_pq *pq, const mq_message_ext *m, int delay_level)
{
    char addr[ADDR_TEXT_MAX];
    if (!mqc_pq_broker_addr(c, &pq->mq, addr, sizeof addr))
        return false;
    const char *origin = mq_message_ext_property(m, MSG_PROP_ORIGIN_MESSAGE_ID);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__ConsumerSendMsgBackRequestHeader sb = MQ__CONSUMER_SEND_MSG_BACK_REQUEST_HEADER__INIT;
    h.code = RC_CONSUMER_SEND_MSG_BACK;
    h.has_code = 1;
    sb.offset = m->commit_log_offset;
    sb.has_offset = 1;
    sb.group = c->group;
    sb.delaylevel = delay_level;
    sb.has_delaylevel = 1;
    sb.originmsgid = (char *)(origin ? origin : mq_message_ext_msg_id(m));
    sb.origintopic = (char *)m->topic;
    sb.unitmode = 0;
    sb.has_unitmode = 1;
    /* Only an explicit setting overrides the group's retryMaxTimes on the
     * broker (so `mqadmin updateSubGroup -r` works for default consumers). */
    if (c->o.max_reconsume_times >= 0) {
        sb.maxreconsumetimes = c->o.max_reconsume_times;
        sb.has_maxreconsumetimes = 1;
    }
    h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_SEND_MSG_BACK;
    h.consumer_send_msg_back = &sb;
    mqc_response r;
    mq_error e;
    int rc = mqc_invoke_sync(c->inst, addr, &h, NULL, 0, c->o.request_timeout_ms, &r, &e);
    if (rc != MQ_OK) {
        unsigned long long n = atomic_fetch_add(&c->send_back_failures, 1) + 1;
        if (worth_a_line(n, 1))
            log_warn("consumer %s: send-back of %s to %s failed: %s (%llu send-back failures so far; the "
                     "messages are consumed again here)", c->group, mq_message_ext_msg_id(m), addr, e.message, n);
        return false;
    }
    bool ok = r.code == RS_SUCCESS;
    if (!ok) {
        unsigned long long n = atomic_fetch_add(&c->send_back_failures, 1) + 1;
        if (worth_a_line(n, 1))
            log_warn("consumer %s: send-back of %s refused by %s: %s (%d) %s (%llu send-back failures so far)",
                     c->group, mq_message_ext_msg_id(m), addr, rm_status_name(r.code), r.code,
                     mqc_response_remark(&r), n);
    }
    mqc_response_free(&r);
    return ok;
}

/* Messages whose send-back failed: consumed again here after a pause. */
typedef struct local_retry {
    ev_timer timer;
    struct local_retry *prev, *next; /* in c->local_retries while the timer runs */
    mq_push_consumer *c;
    mqc_pq *pq;
    int n;
    mq_message_ext *msgs[];
} local_retry;

static void on_local_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    local_retry *lr = w->data;
    mq_push_consumer *c = lr->c;
    if (lr->prev)
        lr->prev->next = lr->next;
    else
        c->local_retries = lr->next;
    if (lr->next)
        lr->next->prev = lr->prev;
    mqc_consume_service *s = &c->svc;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < lr->n; i++)
        ring_push(s, lr->pq, lr->msgs[i]); /* the references move to the tasks */
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&lr->pq->refs, lr->n - 1);
    free(lr);
}

static void local_retry_free(local_retry *lr)
{
    for (int i = 0; i < lr->n; i++)
        mqc_msg_batch_unref(lr->msgs[i]->batch);
    mqc_pq_unref(lr->pq);
    free(lr);
}

void mqc_svc_cancel_retries(mq_push_consumer *c)
{
    while (c->local_retries) {
        local_retry *lr = c->local_retries;
        c->local_retries = lr->next;
        ev_timer_stop(mqc_loop(c->inst), &lr->timer);
        local_retry_free(lr);
    }
}

static void local_retry_start(void *arg)
{
    local_retry *lr = arg;
    mq_push_consumer *c = lr->c;
    if (c->closing) { /* never acknowledged: redelivered after a restart */
        local_retry_free(lr);
        return;
    }
    lr->prev = NULL;
    lr->next = c->local_retries;
    if (lr->next)
        lr->next->prev = lr;
    c->local_retries = lr;
    ev_timer_init(&lr->timer, on_local_retry, c->o.send_back_retry_delay_ms / 1000.0, 0.);
    lr->timer.data = lr;
    ev_timer_start(mqc_loop(c->inst), &lr->timer);
}

/* ---- concurrent ---- */

static void consume_concurrently(mq_push_consumer *c, mqc_pq *pq, mq_message_ext **msgs, int n)
{
    mq_consume_status st = c->listener((const mq_message_ext *const *)msgs, n, c->listener_arg);
    if (st == MQ_CONSUME_SUCCESS) {
        done(pq, msgs, n);
    } else if (c->o.message_model == MQ_BROADCASTING) {
        unsigned long long total = atomic_fetch_add(&c->dropped_broadcast, (unsigned long long)n) + (unsigned long long)n;
        if (worth_a_line(total, n))
            log_warn("consumer %s: BROADCASTING listener asked to reconsume messages of %s/%d; dropped "
                     "(broadcast messages are not retried; %llu dropped so far)", c->group, pq->mq.topic,
                     pq->mq.queue_id, total);
        done(pq, msgs, n);
    } else {
        mq_message_ext *failed[n];
        int nf = 0;
        for (int i = 0; i < n; i++) {
            if (send_back(c, pq, msgs[i], 0))
                done(pq, &msgs[i], 1);
            else
                failed[nf++] = msgs[i];
        }
        if (nf > 0) {
            local_retry *lr = xmalloc(sizeof *lr + (size_t)nf * sizeof(mq_message_ext *));
            lr->c = c;
            lr->pq = pq;
            lr->n = nf;
            for (int i = 0; i < nf; i++) {
                failed[i]->reconsume_times++;
                lr->msgs[i] = failed[i];
            }
            mqc_pq_ref(pq);
            if (mqc_post(c->inst, local_retry_start, lr) != MQ_OK) {
                mqc_pq_unref(pq);
                free(lr);
                nf = 0;
            } else {
                /* The retry keeps these messages' batch references. */
                for (int i = 0; i < n; i++) {
                    bool kept = false;
                    for (int k = 0; k < nf; k++)
                        kept |= msgs[i] == failed[k];
                    if (kept)
                        msgs[i] = NULL;
                }
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (msgs[i])
            mqc_msg_batch_unref(msgs[i]->batch);
}

/* ---- orderly ---- */

static void on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_pq *pq = w->data;
    pq->resume_on = false;
    pthread_mutex_lock(&pq->lock);
    bool go = !pq->dropped && !pq->c->closing;
    if (!go)
        pq->scheduled = false;
    pthread_mutex_unlock(&pq->lock);
    if (go)
        mqc_svc_push_queue(pq->c, pq);
    mqc_pq_unref(pq);
}

static void resume_later(void *arg)
{
    mqc_pq *pq = arg;
    mq_push_consumer *c = pq->c;
    if (pq->resume_on) { /* cannot happen: one task per queue */
        mqc_pq_unref(pq);
        return;
    }
    if (c->closing || pq->dropped) {
        pthread_mutex_lock(&pq->lock);
        pq->scheduled = false;
        pthread_mutex_unlock(&pq->lock);
        mqc_pq_unref(pq);
        return;
    }
    pq->resume_on = true; /* keeps the reference */
    ev_timer_init(&pq->resume_timer, on_resume, c->o.suspend_current_queue_time_ms / 1000.0, 0.);
    pq->resume_timer.data = pq;
    ev_timer_start(mqc_loop(c->inst), &pq->resume_timer);
}

/* Consumes pq in order until it is empty, not ours, or suspended. */
static void consume_orderly(mq_push_consumer *c, mqc_pq *pq)
{
    int batch = c->o.consume_message_batch_max_size;
    mq_message_ext *msgs[batch];
    int64_t started = mono_ms();
    for (;;) {
        pthread_mutex_lock(&c->svc.lock);
        bool stop = c->svc.stopping || c->svc.suspended;
        pthread_mutex_unlock(&c->svc.lock);
        pthread_mutex_lock(&pq->lock);
        if (stop || pq->dropped || pq->pend_len == 0 || !mqc_pq_lock_valid(pq, mono_ms())) {
            pq->scheduled = false; /* a new message, lock or resume() schedules it again */
            pthread_mutex_unlock(&pq->lock);
            return;
        }
        int n = 0;
        while (n < batch && (size_t)n < pq->pend_len) {
            msgs[n] = pq->pending[(pq->pend_head + (size_t)n) % pq->pend_cap];
            n++;
        }
        pq->consuming = true;
        pthread_mutex_unlock(&pq->lock);

        mq_orderly_status st = c->orderly_listener((const mq_message_ext *const *)msgs, n, c->listener_arg);

        bool advance = st == MQ_ORDERLY_SUCCESS;
        if (!advance && c->max_reconsume >= 0) {
            bool over = false;
            for (int i = 0; i < n; i++)
                over |= msgs[i]->reconsume_times >= c->max_reconsume;
            if (over) {
                advance = true;
                for (int i = 0; i < n && advance; i++)
                    advance = send_back(c, pq, msgs[i], -1);
                unsigned long long total = 0;
                if (advance)
                    total = atomic_fetch_add(&c->dead_lettered, (unsigned long long)n) + (unsigned long long)n;
                if (advance && worth_a_line(total, n))
                    log_warn("consumer %s: messages of %s/%d reached max_reconsume_times (%d): sent to the "
                             "dead-letter queue (%llu so far)", c->group, pq->mq.topic, pq->mq.queue_id,
                             c->max_reconsume, total);
            }
        }
        pthread_mutex_lock(&pq->lock);
        pq->consuming = false;
        if (advance) {
            /* Even if the queue was dropped while the listener ran: these
             * were consumed, and the release (which waits for `consuming`)
             * must commit past them or the next owner sees them again. */
            pq->pend_head = (pq->pend_head + (size_t)n) % pq->pend_cap;
            pq->pend_len -= (size_t)n;
            for (int i = 0; i < n; i++)
                mqc_inflight_done(&pq->inflight, msgs[i]->queue_offset);
        } else {
            for (int i = 0; i < n; i++)
                msgs[i]->reconsume_times++;
        }
        pthread_mutex_unlock(&pq->lock);
        if (advance)
            for (int i = 0; i < n; i++)
                mqc_msg_batch_unref(msgs[i]->batch);
        if (!advance) {
            mqc_pq_ref(pq);
            if (mqc_post(c->inst, resume_later, pq) != MQ_OK) {
                mqc_pq_unref(pq);
                pthread_mutex_lock(&pq->lock);
                pq->scheduled = false;
                pthread_mutex_unlock(&pq->lock);
            }
            return; /* still scheduled: the resume timer queues it again */
        }
        if (mono_ms() - started > ORDERLY_MAX_CONTINUOUS_MS) {
            mqc_svc_push_queue(c, pq); /* let other queues have a turn */
            return;
        }
    }
}

/* ---- threads ---- */

typedef struct worker_arg {
    mq_push_consumer *c;
    int index;
} worker_arg;

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    mq_push_consumer *c = wa->c;
    char name[32];
    snprintf(name, sizeof name, "mq-consume-%d", wa->index);
    free(wa);
    log_set_thread_name(name);
    mqc_consume_service *s = &c->svc;
    int batch = c->orderly ? 1 : c->o.consume_message_batch_max_size;
    mq_message_ext *msgs[batch];
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && (s->suspended || s->len == 0))
            pthread_cond_wait(&s->cv, &s->lock);
        if (s->stopping) {
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        mqc_task t = ring_pop(s);
        int n = 0;
        if (t.msg) {
            msgs[n++] = t.msg;
            while (n < batch && s->len > 0 && s->ring[s->head].pq == t.pq)
                msgs[n++] = ring_pop(s).msg;
        }
        pthread_mutex_unlock(&s->lock);

        if (!t.msg) {
            consume_orderly(c, t.pq);
            mqc_pq_unref(t.pq);
            continue;
        }
        pthread_mutex_lock(&t.pq->lock);
        bool dropped = t.pq->dropped;
        pthread_mutex_unlock(&t.pq->lock);
        if (dropped) {
            for (int i = 0; i < n; i++)
                mqc_msg_batch_unref(msgs[i]->batch);
        } else {
            consume_concurrently(c, t.pq, msgs, n);
        }
        for (int i = 0; i < n; i++)
            mqc_pq_unref(t.pq);
    }
}

int mqc_svc_start(mq_push_consumer *c, mq_error *err)
{
    mqc_consume_service *s = &c->svc;
    s->n_threads = 0;
    s->threads = xcalloc((size_t)c->o.consume_thread_count, sizeof *s->threads);
    for (int i = 0; i < c->o.consume_thread_count; i++) {
        worker_arg *wa = xmalloc(sizeof *wa);
        wa->c = c;
        wa->index = i;
        if (pthread_create(&s->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            mqc_error_set(err, MQ_ENOMEM, "cannot start consume thread %d", i);
            mqc_svc_stop(c);
            return MQ_ENOMEM;
        }
        s->n_threads++;
    }
    return MQ_OK;
}

void mqc_svc_stop(mq_push_consumer *c)
{
    mqc_consume_service *s = &c->svc;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    s->n_threads = 0;
    free(s->threads);
    s->threads = NULL;
    /* Tasks never started: their messages stay unacknowledged. */
    while (s->len > 0) {
        mqc_task t = ring_pop(s);
        if (t.msg) {
            mqc_msg_batch_unref(t.msg->batch);
        } else {
            pthread_mutex_lock(&t.pq->lock);
            t.pq->scheduled = false;
            pthread_mutex_unlock(&t.pq->lock);
        }
        mqc_pq_unref(t.pq);
    }
}
