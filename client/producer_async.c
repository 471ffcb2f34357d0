/*
 * producer_async.c - async and oneway sends (mq/producer.h): jobs on the
 * I/O thread.
 *
 * Async and oneway sends copy the message into one job allocation and post
 * it (intrusively) to the I/O thread, which chooses the queue, sends,
 * retries and runs the callback. Async jobs that reach the I/O thread in
 * the same wake-up (one drain of the posted work) for the same topic are
 * sent together as one SEND_BATCH_MESSAGE (wire-level batching, as Kafka
 * clients do; no linger timer, so a lone message is never delayed): the
 * broker stores them as consecutive records of one queue, and each job
 * still gets its own callback, queue offset and message ids. A failed batch
 * falls back to each job's own retry path. A counter bounds the jobs alive
 * at once (max_async_inflight): the caller waits for room, which is the
 * back-pressure of a pipelined producer.
 *
 * Threads: send_job_post runs on application threads; everything else on
 * the I/O thread (io), which owns pending, backoff_jobs and io_closing.
 * A job holds a reference on the route snapshot its queue points into.
 *
 * Jobs are recycled: a finished job goes on the producer's free list (up
 * to JOB_POOL_BYTES of storage in all, jobs of at most JOB_POOL_CAP; under
 * jobs_lock, which the in-flight count takes anyway) and the next send
 * reuses it if it is large enough. A job is
 * allocated on the application thread and freed on the I/O thread, and
 * glibc gives such memory back to the allocating thread's arena, trims the
 * arena's top and faults it in again: in the W1 profile `sysmalloc` and its
 * page faults were half of the sending thread's CPU.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "message_internal.h"
#include "producer_impl.h"
#include "util.h"

enum {
    JOB_POOL_BYTES = 32 << 20,  /* storage of the free jobs kept per producer */
    JOB_POOL_CAP = 16 * 1024,   /* ... each with at most this much storage */
    JOBS_WAKE_ROOM = 256,       /* senders waiting for room are woken once this much is free */
    JOBS_RECHECK_MS = 10,       /* ... and look again this often on their own */
};

typedef struct send_job {
    evq_item item;
    size_t cap;              /* bytes of storage[] */
    mq_producer *p;
    mq_send_callback cb; /* NULL: oneway */
    void *arg;
    mqc_send_req r;
    char uniq[MSG_ID_BUF];
    int attempts_left;
    int backoff_ms;
    int64_t deadline;
    int64_t sent_ms;
    mqc_pub_queue q;
    mqc_topic_pub *pub;      /* reference while q points into it */
    char avoid[MQ_BROKER_NAME_MAX + 1];
    mq_error last;
    bool have_last;
    ev_timer backoff_timer;
    struct send_job *bprev, *bnext; /* in p->backoff_jobs while the timer runs */
    mqc_send_answer a;
    bool batchable;      /* may travel in an automatic batch (no delay) */
    uint32_t props_len;  /* length of r.props, kept for batching */
    struct send_job *pnext; /* (io) in a pending list of this loop turn */
    char storage[];      /* topic, props, body */
} send_job;

/* Takes a place in the in-flight count and, in *reuse, a free job (or NULL). */
static int jobs_acquire(mq_producer *p, send_job **reuse, mq_error *err)
{
    *reuse = NULL;
    pthread_mutex_lock(&p->jobs_lock);
    int64_t deadline = p->jobs >= p->o.max_async_inflight ? mono_ms() + p->o.send_timeout_ms : 0;
    while (p->jobs >= p->o.max_async_inflight) {
        /* Woken when room for several sends has opened (jobs_release), and
         * looking again every JOBS_RECHECK_MS: another thread may take each
         * place as it frees, keeping the count above the wake-up mark. */
        p->jobs_waiters++;
        mqc_prod_timed_wait_ms(&p->jobs_cv, &p->jobs_lock, MQ_MIN(deadline, mono_ms() + JOBS_RECHECK_MS));
        p->jobs_waiters--;
        if (p->jobs >= p->o.max_async_inflight && mono_ms() >= deadline) {
            pthread_mutex_unlock(&p->jobs_lock);
            mqc_error_set(err, MQ_ETIMEOUT, "%d async sends in flight for %d ms (max_async_inflight)",
                          p->o.max_async_inflight, p->o.send_timeout_ms);
            return MQ_ETIMEOUT;
        }
    }
    p->jobs++;
    if (p->job_free) {
        *reuse = p->job_free;
        p->job_free = (*reuse)->pnext;
        p->job_free_bytes -= (*reuse)->cap;
    }
    pthread_mutex_unlock(&p->jobs_lock);
    return MQ_OK;
}

/* Gives back the place in the count and, if j is not NULL, the job. */
static void jobs_release(mq_producer *p, send_job *j)
{
    pthread_mutex_lock(&p->jobs_lock);
    assert(p->jobs > 0);
    p->jobs--;
    if (j && j->cap <= JOB_POOL_CAP && p->job_free_bytes + j->cap <= JOB_POOL_BYTES) {
        j->pnext = p->job_free;
        p->job_free = j;
        p->job_free_bytes += j->cap;
        j = NULL;
    }
    /* Senders waiting for room are woken once room for several sends has
     * opened (a quarter of the limit, at most JOBS_WAKE_ROOM), not at each
     * answer: with the count at its limit (a pipelined producer, W1) a
     * broadcast per answer cost every sending thread a futex wait and a
     * wake-up per message (perf trace: 30,000 futex calls a second). */
    int room = MQ_MIN(p->o.max_async_inflight / 4, JOBS_WAKE_ROOM);
    if (p->jobs_waiters > 0 && p->jobs <= p->o.max_async_inflight - room)
        pthread_cond_broadcast(&p->jobs_cv);
    pthread_mutex_unlock(&p->jobs_lock);
    free(j);
}

void mqc_prod_jobs_free_pool(mq_producer *p)
{
    pthread_mutex_lock(&p->jobs_lock);
    send_job *j = p->job_free;
    p->job_free = NULL;
    p->job_free_bytes = 0;
    pthread_mutex_unlock(&p->jobs_lock);
    while (j) {
        send_job *next = j->pnext;
        free(j);
        j = next;
    }
}

static void job_finish(send_job *j, int rc, mq_error *err)
{
    mq_producer *p = j->p;
    if (j->cb) {
        if (rc == MQ_OK) {
            mq_send_result res;
            mqc_prod_fill_result(&j->r, &j->q, &j->a, j->uniq, &res);
            j->cb(MQ_OK, &res, NULL, j->arg);
        } else {
            j->cb(rc, NULL, err, j->arg);
        }
    }
    mqc_pub_unref(j->pub);
    free(j->a.msg_id);
    jobs_release(p, j);
}

static void job_attempt(send_job *j);

static void backoff_unlink(send_job *j)
{
    if (j->bprev)
        j->bprev->bnext = j->bnext;
    else
        j->p->backoff_jobs = j->bnext;
    if (j->bnext)
        j->bnext->bprev = j->bprev;
    j->bprev = j->bnext = NULL;
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    send_job *j = w->data;
    assert(mqc_on_io_thread(j->p->inst));
    backoff_unlink(j);
    job_attempt(j);
}

static void job_after(send_job *j, int rc, const mq_error *e)
{
    mq_producer *p = j->p;
    mq_error why = {0};
    mqc_next_step step = mqc_prod_judge(p, &j->q, rc, &j->a, e, mono_ms_coarse() - j->sent_ms, &why);
    if (step == MQC_NEXT_DONE) {
        job_finish(j, MQ_OK, NULL);
        return;
    }
    j->last = why;
    j->have_last = true;
    str_copy(j->avoid, sizeof j->avoid, j->q.broker_name);
    int64_t left = j->deadline - mono_ms_coarse();
    if (step == MQC_NEXT_BUSY && left > 0 && !p->io_closing) {
        j->backoff_ms = mqc_prod_busy_backoff_next(j->backoff_ms);
        j->bprev = NULL;
        j->bnext = p->backoff_jobs;
        if (j->bnext)
            j->bnext->bprev = j;
        p->backoff_jobs = j;
        double d = (j->backoff_ms < left ? j->backoff_ms : left) / 1000.0;
        ev_timer_init(&j->backoff_timer, on_backoff, d, 0.);
        j->backoff_timer.data = j;
        ev_timer_start(mqc_loop(p->inst), &j->backoff_timer);
        return;
    }
    if (step == MQC_NEXT_RETRY)
        mqc_pub_refetch_io(p, j->r.topic); /* a dead or fenced master: the route may have a new one */
    if (step == MQC_NEXT_RETRY && --j->attempts_left > 0 && left > 0) {
        job_attempt(j);
        return;
    }
    if (left <= 0 && why.code != MQ_ETIMEOUT) {
        char tail[sizeof why.message];
        str_copy(tail, sizeof tail, why.message);
        snprintf(why.message, sizeof why.message, "send timed out after %d ms; last attempt: %.180s",
                 p->o.send_timeout_ms, tail);
    }
    job_finish(j, why.code ? why.code : MQ_EBROKER, &why);
}

static void on_async_response(rm_conn *conn, int e, const rm_cmd *resp, void *arg)
{
    (void)conn;
    send_job *j = arg;
    if (e == RM_OK) {
        mqc_prod_read_answer(resp, &j->a);
        job_after(j, MQ_OK, NULL);
        return;
    }
    mq_error err;
    if (e == RM_ETIMEDOUT)
        mqc_error_set(&err, MQ_ETIMEOUT, "send to %s (%s) timed out", j->q.broker_name, j->q.addr);
    else
        mqc_error_set(&err, MQ_ENETWORK, "connection to %s (%s) closed during the send", j->q.broker_name,
                      j->q.addr);
    job_after(j, err.code, &err);
}

/* Chooses a queue and sends (I/O thread). */
static void job_attempt(send_job *j)
{
    mq_producer *p = j->p;
    mq_error err = {0};
    int64_t now = mono_ms_coarse();
    if (now >= j->deadline) {
        if (j->have_last)
            err = j->last;
        else
            mqc_error_set(&err, MQ_ETIMEOUT, "send timed out after %d ms", p->o.send_timeout_ms);
        job_finish(j, err.code, &err);
        return;
    }
    mqc_topic_pub *pub;
    atomic_uint *counter;
    if (mqc_pub_get(p, j->r.topic, true, &pub, &counter, &err) == MQ_OK) {
        mqc_pub_unref(j->pub);
        j->pub = pub;
    } else if (!j->pub) {
        job_finish(j, err.code, &err);
        return;
    } else {
        pub = j->pub; /* route vanished meanwhile: keep the one we had */
        counter = NULL;
    }
    j->q = pub->queues[mqc_pub_choose(p, pub, counter, j->avoid[0] ? j->avoid : NULL, now)];
    Mq__RemotingHeader h;
    Mq__SendMessageRequestHeader sh;
    mqc_prod_fill_header(p, &j->r, &j->q, &h, &sh);
    j->sent_ms = now;
    if (!j->cb) { /* oneway */
        int rc = mqc_invoke_oneway(p->inst, j->q.addr, &h, j->r.body, j->r.body_len, &err);
        if (rc != MQ_OK) {
            uint64_t n = atomic_fetch_add(&p->oneway_failures, 1) + 1;
            if (n == 1 || n % 1000 == 0)
                log_warn("oneway send to %s (%s) failed (%llu so far): %s", j->q.broker_name, j->q.addr,
                         (unsigned long long)n, err.message);
            if (p->o.send_latency_fault_enable)
                mqc_fault_update(&p->faults, j->q.broker_name, 0, true, now);
        }
        job_finish(j, MQ_OK, NULL);
        return;
    }
    int rc = mqc_invoke_async(p->inst, j->q.addr, &h, j->r.body, j->r.body_len, (int)(j->deadline - now),
                              on_async_response, j, &err);
    if (rc != MQ_OK)
        job_after(j, rc, &err);
}

/* ---- automatic batching of async sends (I/O thread) ---- */

typedef struct pending_list {
    send_job *head, *tail;
    int n;
} pending_list;

typedef struct batch_req {
    mq_producer *p;
    mqc_pub_queue q;
    mqc_topic_pub *pub;     /* reference: q points into it */
    int n;
    send_job *jobs[];
} batch_req;

static void batch_req_free(batch_req *br)
{
    mqc_pub_unref(br->pub);
    free(br);
}

/* Splits the broker's comma-joined offset ids into the batch's jobs. */
static void batch_done(batch_req *br, const mqc_send_answer *a)
{
    const char *ids = mqc_prod_answer_msg_id(a);
    for (int i = 0; i < br->n; i++) {
        send_job *j = br->jobs[i];
        j->a.code = a->code;
        j->a.queue_id = a->queue_id;
        j->a.queue_offset = a->queue_offset + i;
        size_t len = strcspn(ids, ",");
        if (len >= sizeof j->a.msg_id_small)
            len = sizeof j->a.msg_id_small - 1;
        memcpy(j->a.msg_id_small, ids, len);
        j->a.msg_id_small[len] = '\0';
        ids += strcspn(ids, ",");
        if (*ids == ',')
            ids++;
        job_finish(j, MQ_OK, NULL);
    }
}

static void on_batch_response(rm_conn *conn, int e, const rm_cmd *resp, void *arg)
{
    (void)conn;
    batch_req *br = arg;
    mq_producer *p = br->p;
    if (e == RM_OK) {
        mqc_send_answer a = {0};
        mqc_prod_read_answer(resp, &a);
        if (mqc_prod_is_stored(a.code)) {
            if (p->o.send_latency_fault_enable)
                mqc_fault_update(&p->faults, br->q.broker_name, mono_ms_coarse() - br->jobs[0]->sent_ms,
                                 false, mono_ms_coarse());
            batch_done(br, &a);
        } else {
            for (int i = 0; i < br->n; i++) {
                send_job *j = br->jobs[i];
                int32_t code = a.code;
                j->a.code = code;
                str_copy(j->a.remark, sizeof j->a.remark, a.remark);
                job_after(j, MQ_OK, NULL); /* judged one by one: retried alone */
            }
        }
        free(a.msg_id);
    } else {
        mq_error err;
        if (e == RM_ETIMEDOUT)
            mqc_error_set(&err, MQ_ETIMEOUT, "batch send to %s (%s) timed out", br->q.broker_name, br->q.addr);
        else
            mqc_error_set(&err, MQ_ENETWORK, "connection to %s (%s) closed during a batch send",
                          br->q.broker_name, br->q.addr);
        for (int i = 0; i < br->n; i++)
            job_after(br->jobs[i], err.code, &err);
    }
    batch_req_free(br);
}

/* Sends jobs[0..n) (same topic, n > 1) as one SEND_BATCH_MESSAGE. */
static void batch_send(mq_producer *p, send_job **jobs, int n)
{
    int64_t now = mono_ms_coarse();
    int64_t deadline = INT64_MAX;
    for (int i = 0; i < n; i++)
        if (jobs[i]->deadline < deadline)
            deadline = jobs[i]->deadline;
    mqc_topic_pub *pub;
    atomic_uint *counter;
    mq_error err = {0};
    if (now >= deadline || mqc_pub_get(p, jobs[0]->r.topic, true, &pub, &counter, &err) != MQ_OK) {
        for (int i = 0; i < n; i++)
            job_attempt(jobs[i]); /* each finds its own way (or its own error) */
        return;
    }
    int idx = mqc_pub_choose(p, pub, counter, NULL, now);
    batch_req *br = xmalloc(sizeof *br + (size_t)n * sizeof *br->jobs);
    br->p = p;
    br->pub = pub;
    br->q = pub->queues[idx];
    br->n = n;
    /* The transport copies the body: one buffer serves every batch. */
    bytebuf *body = &p->batch_body;
    bytebuf_clear(body);
    for (int i = 0; i < n; i++) {
        send_job *j = jobs[i];
        msg_batch_item item = {j->r.flag, j->r.body, j->r.body_len, j->r.props, j->props_len};
        msg_batch_encode(body, &item, 1);
        j->q = br->q;
        j->sent_ms = now;
        br->jobs[i] = j;
    }
    mqc_send_req r = {RC_SEND_BATCH_MESSAGE, jobs[0]->r.topic, "", 0, body->data, (uint32_t)body->len, jobs[0]->r.born_ms, 0};
    Mq__RemotingHeader h;
    Mq__SendMessageRequestHeader sh;
    mqc_prod_fill_header(p, &r, &br->q, &h, &sh);
    int rc = mqc_invoke_async(p->inst, br->q.addr, &h, body->data, body->len, (int)(deadline - now),
                              on_batch_response, br, &err);
    if (rc != MQ_OK) {
        for (int i = 0; i < n; i++)
            job_after(jobs[i], rc, &err);
        batch_req_free(br);
    }
}

/* Sends everything pending: alone, or in batches of the configured size. */
void mqc_prod_jobs_flush(mq_producer *p)
{
    if (p->pending.count == 0)
        return;
    strmap lists = p->pending;
    strmap_init(&p->pending);
    int max = p->o.async_batch_max_msgs;
    send_job **chunk = xmalloc((size_t)max * sizeof *chunk);
    void *v;
    for (size_t it = 0; strmap_next(&lists, &it, NULL, &v);) {
        pending_list *l = v;
        send_job *j = l->head;
        while (j) {
            int n = 0;
            size_t bytes = 0;
            while (j && n < max && (n == 0 || bytes + j->r.body_len + j->props_len <= (size_t)p->o.async_batch_max_bytes)) {
                bytes += j->r.body_len + j->props_len;
                chunk[n++] = j;
                j = j->pnext;
            }
            if (n == 1)
                job_attempt(chunk[0]);
            else
                batch_send(p, chunk, n);
        }
        free(l);
    }
    free(chunk);
    strmap_free(&lists);
}

/* After each batch of posted jobs: what arrived together goes together. */
void mqc_prod_jobs_on_drained(void *p) { mqc_prod_jobs_flush(p); }

static void job_start(evq_item *item)
{
    send_job *j = (send_job *)item;
    mq_producer *p = j->p;
    if (!j->batchable || p->o.async_batch_max_msgs <= 1 || p->io_closing) {
        job_attempt(j);
        return;
    }
    pending_list *l = strmap_get(&p->pending, j->r.topic);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        strmap_put(&p->pending, j->r.topic, l);
    }
    j->pnext = NULL;
    if (l->tail)
        l->tail->pnext = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static int send_job_post(mq_producer *p, const mq_message *msg, mq_send_callback cb, void *arg,
                         mq_error *err)
{
    int rc = mqc_prod_check_send(p, msg, err);
    if (rc != MQ_OK)
        return rc;
    const char *topic = mq_message_topic(msg);
    /* Fetch the route here (may block) so the I/O thread always finds it. */
    mqc_topic_pub *pub;
    atomic_uint *counter;
    rc = mqc_pub_get(p, topic, false, &pub, &counter, err);
    if (rc != MQ_OK)
        return rc;
    send_job *j;
    rc = jobs_acquire(p, &j, err);
    if (rc != MQ_OK) {
        mqc_pub_unref(pub);
        return rc;
    }
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    size_t tl = strlen(topic);
    size_t pl = mqc_message_wire_props(msg, uniq, NULL, 0);
    uint32_t bl;
    const uint8_t *body = mqc_message_body(msg, &bl);
    size_t need = tl + 1 + pl + 1 + bl;
    if (j && j->cap < need) {
        free(j);
        j = NULL;
    }
    size_t cap = j ? j->cap : (need + 1023) & ~(size_t)1023;
    if (!j)
        j = xmalloc(sizeof *j + cap);
    memset(j, 0, sizeof *j);
    j->cap = cap;
    char *s = j->storage;
    memcpy(s, topic, tl + 1);
    j->r.topic = s;
    s += tl + 1;
    mqc_message_wire_props(msg, uniq, s, pl + 1);
    j->r.props = s;
    j->props_len = (uint32_t)pl;
    s += pl + 1;
    memcpy(s, body, bl);
    j->r.body = (const uint8_t *)s;
    j->r.body_len = bl;
    j->r.code = RC_SEND_MESSAGE_V2;
    j->r.flag = mq_message_flag(msg);
    j->r.born_ms = now_ms();
    strcpy(j->uniq, uniq);
    j->p = p;
    j->cb = cb;
    j->arg = arg;
    j->pub = pub;
    j->batchable = cb != NULL && mq_message_delay_level(msg) <= 0;
    j->attempts_left = cb ? 1 + p->o.retry_times_when_send_async_failed : 1;
    j->deadline = mono_ms_coarse() + p->o.send_timeout_ms;
    if (mqc_post_item(p->inst, &j->item, job_start) != MQ_OK) {
        mqc_pub_unref(pub);
        jobs_release(p, j);
        mqc_error_set(err, MQ_ESTATE, "producer is shutting down");
        return MQ_ESTATE;
    }
    return MQ_OK;
}

int mq_producer_send_async(mq_producer *p, const mq_message *msg, mq_send_callback cb, void *arg,
                           mq_error *err)
{
    if (!cb) {
        mqc_error_set(err, MQ_EINVAL, "callback is NULL (use mq_producer_send_oneway)");
        return MQ_EINVAL;
    }
    return send_job_post(p, msg, cb, arg, err);
}

int mq_producer_send_oneway(mq_producer *p, const mq_message *msg, mq_error *err)
{
    return send_job_post(p, msg, NULL, NULL, err);
}

/* Shutdown: jobs waiting out a back-off end now with MQ_ESTATE. (io) */
void mqc_prod_jobs_stop_backoff(mq_producer *p)
{
    while (p->backoff_jobs) {
        send_job *j = p->backoff_jobs;
        ev_timer_stop(mqc_loop(p->inst), &j->backoff_timer);
        backoff_unlink(j);
        mq_error e;
        mqc_error_set(&e, MQ_ESTATE, "producer shut down while the send waited for a busy broker");
        job_finish(j, MQ_ESTATE, &e);
    }
}
