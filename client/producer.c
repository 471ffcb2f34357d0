/*
 * producer.c - the producer (mq/producer.h): life cycle and sync sends
 * (round-robin with retries, to a chosen queue, orderly, by selector,
 * batch), and the request/answer helpers every send uses: header, answer,
 * judgement of an attempt (retry, SYSTEM_BUSY back-off, latency fault
 * avoidance). Async and oneway sends live in producer_async.c, the publish
 * table and queue choice in publish_table.c (see producer_internal.h).
 *
 * States (p->state, atomic), their transitions and the function doing each:
 *
 *   state       meaning                         sends        next
 *   ----------  ------------------------------  -----------  -----------------
 *   P_CREATED   options checked, no I/O thread   MQ_ESTATE    P_STARTED: mq_producer_start
 *                                                             P_STOPPED: mq_producer_shutdown
 *   P_STARTED   instance + I/O thread running,   accepted     P_STOPPED: mq_producer_shutdown
 *               heartbeat timer on (io_start)
 *   P_STOPPED   async jobs drained or failed     MQ_ESTATE    (final; mq_producer_destroy frees)
 *               (io_stop), unregistered,
 *               instance freed
 *
 *   mq_producer_start     CREATED -> STARTED: creates the instance, encodes
 *                         the heartbeat body, runs io_start on the I/O thread.
 *   mq_producer_shutdown  STARTED -> STOPPED (compare-and-swap, so once):
 *                         waits (bounded) for async jobs, ends sync sends
 *                         still waiting (MQ_ESTATE), runs io_stop
 *                         (timer off, pending jobs flushed, back-offs
 *                         failed), UNREGISTER_CLIENT, frees the instance.
 *                         CREATED -> STOPPED: nothing to undo.
 *   A send checks the state once at its start (mqc_prod_check_started); a
 *   send racing with shutdown ends with MQ_ESTATE from the instance.
 *
 * Threads and what they own
 *   Application threads run sync sends start to finish: choose a queue,
 *   build the header on their stack, write it and read the answer on a
 *   pooled connection of their own (mqc_invoke_sync_view, direct.c),
 *   reading the answer straight from its buffer, so a sync send allocates
 *   nothing in this file (the property
 *   string is built in a stack buffer; the body is borrowed until the
 *   transport copies it into its output chunk). Each send holds a reference
 *   on the route snapshot its queue points into until the send ends.
 *   The I/O thread sends heartbeats every heartbeat_interval_ms to the
 *   masters of every topic used so far (mqc_heartbeater, heartbeat.c).
 *
 * Shared state
 *   `lock` guards the publish table; the heartbeater guards its set of
 *   brokers; the fault table has its own mutex; `jobs_lock` guards the count
 *   of async jobs alive (producer_async.c).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "message_internal.h"
#include "producer_impl.h"
#include "util.h"

#define BUSY_BACKOFF_FIRST_MS 5
#define BUSY_BACKOFF_MAX_MS 200
#define PROPS_STACK 1024

void mq_producer_options_init(mq_producer_options *o)
{
    memset(o, 0, sizeof *o);
    o->send_timeout_ms = 3000;
    o->retry_times_when_send_failed = 2;
    o->retry_times_when_send_async_failed = 2;
    o->max_message_size = 4 * 1024 * 1024;
    o->compress_msg_body_over_howmuch = 0;
    o->send_latency_fault_enable = true;
    o->fault_isolation_ms = 30000;
    o->max_async_inflight = 10000;
    o->async_batch_max_msgs = 64;
    o->async_batch_max_bytes = 256 * 1024;
    o->heartbeat_interval_ms = 30000;
    o->poll_name_server_interval_ms = 30000;
}

const char *mq_send_status_name(mq_send_status s)
{
    switch (s) {
    case MQ_SEND_OK: return "SEND_OK";
    case MQ_SEND_FLUSH_DISK_TIMEOUT: return "FLUSH_DISK_TIMEOUT";
    case MQ_SEND_FLUSH_SLAVE_TIMEOUT: return "FLUSH_SLAVE_TIMEOUT";
    case MQ_SEND_SLAVE_NOT_AVAILABLE: return "SLAVE_NOT_AVAILABLE";
    }
    return "UNKNOWN";
}

void mq_send_result_destroy(mq_send_result *r)
{
    if (!r)
        return;
    free(r->batch_msg_ids);
    free(r->batch_offset_msg_ids);
    r->batch_msg_ids = r->batch_offset_msg_ids = NULL;
}

void mq_free(void *p) { free(p); }

static void io_start(void *arg)
{
    mq_producer *p = arg;
    assert(mqc_on_io_thread(p->inst));
    mqc_heartbeater_start(&p->hb, p->inst, p->o.heartbeat_interval_ms, NULL, NULL);
    mqc_on_drained(p->inst, mqc_prod_jobs_on_drained, p);
}

static void io_stop(void *arg)
{
    mq_producer *p = arg;
    assert(mqc_on_io_thread(p->inst));
    p->io_closing = true;
    mqc_heartbeater_stop(&p->hb);
    mqc_on_drained(p->inst, NULL, NULL);
    mqc_prod_jobs_flush(p); /* jobs posted but not yet sent go out (or fail) now */
    mqc_prod_jobs_stop_backoff(p);
}

/* ---- life cycle ---- */

int mq_producer_new(const char *group, const char *namesrv_addr, const mq_producer_options *opts,
                    mq_producer **out, mq_error *err)
{
    int rc = mqc_check_group(group, err);
    if (rc != MQ_OK)
        return rc;
    mq_producer_options o;
    if (opts)
        o = *opts;
    else
        mq_producer_options_init(&o);
    if (o.compress_msg_body_over_howmuch != 0) {
        mqc_error_set(err, MQ_EINVAL, "compress_msg_body_over_howmuch: compression is not implemented yet (use 0)");
        return MQ_EINVAL;
    }
    if (o.send_timeout_ms <= 0 || o.max_message_size <= 0 || o.retry_times_when_send_failed < 0 ||
        o.retry_times_when_send_async_failed < 0 || o.max_async_inflight <= 0 ||
        o.heartbeat_interval_ms <= 0 || o.fault_isolation_ms < 0 || o.async_batch_max_msgs < 1 ||
        o.async_batch_max_bytes < 1024) {
        mqc_error_set(err, MQ_EINVAL, "producer options: timeouts, sizes and intervals must be positive");
        return MQ_EINVAL;
    }
    mq_producer *p = xcalloc(1, sizeof *p);
    p->group = xstrdup(group);
    p->namesrv = namesrv_addr ? xstrdup(namesrv_addr) : NULL;
    p->o = o;
    p->o.instance_name = o.instance_name ? xstrdup(o.instance_name) : NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->jobs_lock, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&p->jobs_cv, &a);
    pthread_condattr_destroy(&a);
    strmap_init(&p->publish);
    strmap_init(&p->pending);
    mqc_fault_table_init(&p->faults, o.fault_isolation_ms);
    mqc_heartbeater_init(&p->hb);
    *out = p;
    return MQ_OK;
}

int mq_producer_start(mq_producer *p, mq_error *err)
{
    if (atomic_load(&p->state) != P_CREATED) {
        mqc_error_set(err, MQ_ESTATE, "producer already started or shut down");
        return MQ_ESTATE;
    }
    mqc_options io;
    mqc_options_default(&io);
    io.namesrv_addr = p->namesrv;
    io.instance_name = p->o.instance_name;
    io.request_timeout_ms = p->o.send_timeout_ms;
    io.poll_name_server_interval_ms = p->o.poll_name_server_interval_ms;
    int rc = mqc_instance_new(&io, &p->inst, err);
    if (rc != MQ_OK)
        return rc;
    mqc_heartbeat_encode(mqc_client_id(p->inst), p->group, NULL, &p->hb.body);
    mqc_run_sync(p->inst, io_start, p);
    atomic_store(&p->state, P_STARTED);
    return MQ_OK;
}

int mqc_prod_timed_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline_mono_ms)
{
    struct timespec ts;
    ts.tv_sec = deadline_mono_ms / 1000;
    ts.tv_nsec = (deadline_mono_ms % 1000) * 1000000L;
    return pthread_cond_timedwait(cv, m, &ts);
}

void mq_producer_shutdown(mq_producer *p)
{
    int expected = P_STARTED;
    if (!atomic_compare_exchange_strong(&p->state, &expected, P_STOPPED)) {
        atomic_store(&p->state, P_STOPPED);
        return;
    }
    /* Let async sends finish: each ends by its deadline (send timeout). */
    int64_t deadline = mono_ms() + p->o.send_timeout_ms + 1000;
    pthread_mutex_lock(&p->jobs_lock);
    p->jobs_waiters++;
    while (p->jobs > 0)
        if (mqc_prod_timed_wait_ms(&p->jobs_cv, &p->jobs_lock, deadline) == ETIMEDOUT)
            break;
    p->jobs_waiters--;
    int left = p->jobs;
    pthread_mutex_unlock(&p->jobs_lock);
    if (left)
        log_warn("producer %s: %d async sends still pending at shutdown; their callbacks get MQ_ESTATE",
                 p->group, left);
    mqc_stop_sync_calls(p->inst); /* a sync send waiting on a stuck broker ends now */
    mqc_run_sync(p->inst, io_stop, p);
    mqc_addr_set set = {0};
    mqc_heartbeater_snapshot(&p->hb, &set);
    mqc_unregister(p->inst, &set, p->group, NULL, mqc_default_timeout(p->inst));
    mqc_addr_set_free(&set);
    mqc_instance_free(p->inst); /* jobs still queued finish with MQ_ESTATE here */
    p->inst = NULL;
}

void mq_producer_destroy(mq_producer *p)
{
    if (!p)
        return;
    mq_producer_shutdown(p);
    mqc_pub_table_free(p);
    strmap_free(&p->pending); /* emptied by io_stop */
    mqc_prod_jobs_free_pool(p);
    bytebuf_free(&p->batch_body);
    mqc_heartbeater_free(&p->hb);
    mqc_fault_table_free(&p->faults);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->jobs_lock);
    pthread_cond_destroy(&p->jobs_cv);
    free((char *)p->o.instance_name);
    free(p->group);
    free(p->namesrv);
    free(p);
}

const char *mq_producer_client_id(const mq_producer *p)
{
    return p->inst ? mqc_client_id(p->inst) : "";
}

uint64_t mq_producer_oneway_failures(const mq_producer *p)
{
    return atomic_load(&((mq_producer *)p)->oneway_failures);
}

int mqc_prod_check_started(mq_producer *p, mq_error *err)
{
    if (atomic_load(&p->state) != P_STARTED) {
        mqc_error_set(err, MQ_ESTATE, "producer is %s",
                      atomic_load(&p->state) == P_CREATED ? "not started" : "shut down");
        return MQ_ESTATE;
    }
    return MQ_OK;
}

int mqc_prod_check_send(mq_producer *p, const mq_message *msg, mq_error *err)
{
    int rc = mqc_prod_check_started(p, err);
    return rc == MQ_OK ? mqc_check_message(msg, p->o.max_message_size, err) : rc;
}

/* ---- one send request, and what the broker answered ---- */

void mqc_prod_fill_header(mq_producer *p, const mqc_send_req *r, const mqc_pub_queue *q,
                        Mq__RemotingHeader *h, Mq__SendMessageRequestHeader *sh)
{
    mq__remoting_header__init(h);
    mq__send_message_request_header__init(sh);
    h->code = r->code;
    h->has_code = 1;
    h->ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
    h->send_message = sh;
    sh->producergroup = p->group;
    sh->topic = (char *)r->topic;
    sh->defaulttopic = (char *)MQC_DEFAULT_TOPIC;
    sh->defaulttopicqueuenums = MQC_DEFAULT_TOPIC_QUEUE_NUMS;
    sh->has_defaulttopicqueuenums = 1;
    sh->queueid = q->queue_id;
    sh->has_queueid = 1;
    sh->sysflag = r->sysflag;
    sh->has_sysflag = 1;
    sh->borntimestamp = r->born_ms;
    sh->has_borntimestamp = 1;
    sh->flag = r->flag;
    sh->has_flag = 1;
    sh->properties = (char *)r->props;
    sh->reconsumetimes = 0;
    sh->has_reconsumetimes = 1;
    sh->unitmode = 0;
    sh->has_unitmode = 1;
    if (r->code == RC_SEND_BATCH_MESSAGE) {
        sh->batch = 1;
        sh->has_batch = 1;
    }
    sh->brokername = (char *)q->broker_name;
}

void mqc_prod_read_answer(const rm_cmd *resp, mqc_send_answer *a)
{
    a->code = resp->hdr->code;
    str_copy(a->remark, sizeof a->remark, resp->hdr->remark ? resp->hdr->remark : "");
    const Mq__SendMessageResponseHeader *sr =
        resp->hdr->ext_case == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE ? resp->hdr->send_message_response
                                                                               : NULL;
    if (!sr)
        return;
    a->queue_id = sr->queueid;
    a->queue_offset = sr->queueoffset;
    const char *id = sr->msgid ? sr->msgid : "";
    if (strlen(id) < sizeof a->msg_id_small) {
        strcpy(a->msg_id_small, id);
    } else {
        free(a->msg_id);
        a->msg_id = xstrdup(id);
    }
}

static void on_send_view(const rm_cmd *resp, void *arg) { mqc_prod_read_answer(resp, arg); }

const char *mqc_prod_answer_msg_id(const mqc_send_answer *a) { return a->msg_id ? a->msg_id : a->msg_id_small; }

bool mqc_prod_is_stored(int32_t code)
{
    return code == RS_SUCCESS || code == RS_FLUSH_DISK_TIMEOUT || code == RS_FLUSH_SLAVE_TIMEOUT ||
           code == RS_SLAVE_NOT_AVAILABLE;
}

static bool is_retryable(int32_t code)
{
    return code == RS_TOPIC_NOT_EXIST || code == RS_SERVICE_NOT_AVAILABLE || code == RS_SYSTEM_ERROR ||
           code == RS_NO_PERMISSION || code == 204 /* NO_BUYER_ID */ || code == 205 /* NOT_IN_CURRENT_UNIT */;
}

static mq_send_status status_of(int32_t code)
{
    switch (code) {
    case RS_FLUSH_DISK_TIMEOUT: return MQ_SEND_FLUSH_DISK_TIMEOUT;
    case RS_FLUSH_SLAVE_TIMEOUT: return MQ_SEND_FLUSH_SLAVE_TIMEOUT;
    case RS_SLAVE_NOT_AVAILABLE: return MQ_SEND_SLAVE_NOT_AVAILABLE;
    default: return MQ_SEND_OK;
    }
}

void mqc_prod_fill_result(const mqc_send_req *r, const mqc_pub_queue *q, const mqc_send_answer *a,
                        const char *uniq_id, mq_send_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = status_of(a->code);
    str_copy(res->msg_id, sizeof res->msg_id, uniq_id);
    const char *oid = mqc_prod_answer_msg_id(a);
    size_t first = strcspn(oid, ",");
    if (first >= sizeof res->offset_msg_id)
        first = sizeof res->offset_msg_id - 1;
    memcpy(res->offset_msg_id, oid, first);
    res->offset_msg_id[first] = '\0';
    str_copy(res->queue.topic, sizeof res->queue.topic, r->topic);
    str_copy(res->queue.broker_name, sizeof res->queue.broker_name, q->broker_name);
    res->queue.queue_id = q->queue_id;
    res->queue_offset = a->queue_offset;
    res->batch_count = 1;
}

mqc_next_step mqc_prod_judge(mq_producer *p, const mqc_pub_queue *q, int rc, const mqc_send_answer *a,
                       const mq_error *e, int64_t latency_ms, mq_error *err)
{
    int64_t now = mono_ms_coarse();
    if (rc == MQ_OK && mqc_prod_is_stored(a->code)) {
        if (p->o.send_latency_fault_enable)
            mqc_fault_update(&p->faults, q->broker_name, latency_ms, false, now);
        return MQC_NEXT_DONE;
    }
    if (rc == MQ_OK && a->code == RS_SYSTEM_BUSY) {
        mqc_error_set(err, MQ_EBROKER, "broker %s is busy: %s", q->broker_name, a->remark);
        err->status = a->code;
        return MQC_NEXT_BUSY;
    }
    if (rc == MQ_OK) {
        mqc_error_set(err, MQ_EBROKER, "send to %s (%s) failed: %s (%d)%s%s", q->broker_name, q->addr,
                      rm_status_name(a->code), a->code, a->remark[0] ? ": " : "", a->remark);
        err->status = a->code;
        if (!is_retryable(a->code))
            return MQC_NEXT_FAIL;
    } else {
        if (err)
            *err = *e;
        if (rc == MQ_ESTATE || rc == MQ_EINVAL)
            return MQC_NEXT_FAIL;
    }
    if (p->o.send_latency_fault_enable)
        mqc_fault_update(&p->faults, q->broker_name, latency_ms, true, now);
    return MQC_NEXT_RETRY;
}

int mqc_prod_busy_backoff_next(int prev)
{
    return prev <= 0 ? BUSY_BACKOFF_FIRST_MS : (prev * 2 > BUSY_BACKOFF_MAX_MS ? BUSY_BACKOFF_MAX_MS : prev * 2);
}

/* The blocking send loop shared by send, send_batch and the fixed-queue
 * sends. fixed: a queue the caller chose (no move to another queue). */
static int send_blocking(mq_producer *p, const mqc_send_req *r, const mqc_pub_queue *fixed,
                         const char *uniq_id, mq_send_result *result, mq_error *err)
{
    int64_t start = mono_ms();
    int64_t deadline = start + p->o.send_timeout_ms;
    int attempts = fixed ? 1 : 1 + p->o.retry_times_when_send_failed;
    int tried = 0;
    int backoff = 0;
    const char *avoid = NULL;
    char avoid_buf[MQ_BROKER_NAME_MAX + 1];
    mq_error last = {0};
    bool have_last = false;
    mqc_send_answer a;
    memset(&a, 0, sizeof a);
    int rc = MQ_OK;
    while (tried < attempts) {
        int64_t now = mono_ms();
        if (now >= deadline)
            break;
        mqc_topic_pub *pub = NULL;
        atomic_uint *counter = NULL;
        mqc_pub_queue q;
        if (fixed) {
            q = *fixed;
        } else {
            rc = mqc_pub_get(p, r->topic, false, &pub, &counter, err);
            if (rc != MQ_OK) {
                free(a.msg_id);
                return rc;
            }
            q = pub->queues[mqc_pub_choose(p, pub, counter, avoid, now)];
        }
        Mq__RemotingHeader h;
        Mq__SendMessageRequestHeader sh;
        mqc_prod_fill_header(p, r, &q, &h, &sh);
        mq_error e = {0};
        rc = mqc_invoke_sync_view(p->inst, q.addr, &h, r->body, r->body_len, (int)(deadline - now),
                                  on_send_view, &a, &e);
        int64_t latency = mono_ms() - now;
        mq_error why = {0};
        mqc_next_step step = mqc_prod_judge(p, &q, rc, &a, &e, latency, &why);
        if (step == MQC_NEXT_DONE) {
            if (result)
                mqc_prod_fill_result(r, &q, &a, uniq_id, result);
            if (result && r->code == RC_SEND_BATCH_MESSAGE && a.msg_id)
                result->batch_offset_msg_ids = a.msg_id;
            else if (result && r->code == RC_SEND_BATCH_MESSAGE)
                result->batch_offset_msg_ids = xstrdup(a.msg_id_small);
            else
                free(a.msg_id);
            mqc_pub_unref(pub);
            return MQ_OK;
        }
        last = why;
        have_last = true;
        str_copy(avoid_buf, sizeof avoid_buf, q.broker_name);
        avoid = avoid_buf;
        mqc_pub_unref(pub);
        if (step == MQC_NEXT_FAIL)
            break;
        if (step == MQC_NEXT_BUSY) {
            /* Not an attempt lost: wait a little and try again (another
             * broker if there is one), for as long as the budget allows. */
            backoff = mqc_prod_busy_backoff_next(backoff);
            int64_t left = deadline - mono_ms();
            if (left <= 0)
                break;
            sleep_ms(backoff < left ? backoff : left);
            if (fixed)
                continue;
            continue;
        }
        tried++;
        if (!fixed)
            mqc_pub_refetch(p, r->topic);
    }
    free(a.msg_id);
    if (have_last) {
        if (err) {
            *err = last;
            if (mono_ms() >= deadline && last.code != MQ_ETIMEOUT) {
                char tail[sizeof err->message];
                str_copy(tail, sizeof tail, last.message);
                snprintf(err->message, sizeof err->message, "send timed out after %d ms; last attempt: %.180s",
                         p->o.send_timeout_ms, tail);
            }
        }
        return last.code ? last.code : MQ_EBROKER;
    }
    mqc_error_set(err, MQ_ETIMEOUT, "send timed out after %d ms", p->o.send_timeout_ms);
    return MQ_ETIMEOUT;
}

/* Builds the wire properties into buf (stack) or a heap copy. */
static const char *props_for(const mq_message *m, const char *uniq, char *buf, size_t cap, char **heap)
{
    size_t n = mqc_message_wire_props(m, uniq, buf, cap);
    *heap = NULL;
    if (n < cap)
        return buf;
    *heap = xmalloc(n + 1);
    mqc_message_wire_props(m, uniq, *heap, n + 1);
    return *heap;
}

/* One message, blocking: to the queue fixed (no move), or to one chosen
 * round-robin with retries (fixed NULL). */
static int send_one(mq_producer *p, const mq_message *msg, int32_t sysflag, const mqc_pub_queue *fixed,
                    mq_send_result *result, mq_error *err)
{
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    char buf[PROPS_STACK], *heap;
    mqc_send_req r = {RC_SEND_MESSAGE_V2, mq_message_topic(msg), props_for(msg, uniq, buf, sizeof buf, &heap),
                      mq_message_flag(msg), NULL, 0, now_ms(), sysflag};
    r.body = mqc_message_body(msg, &r.body_len);
    int rc = send_blocking(p, &r, fixed, uniq, result, err);
    free(heap);
    return rc;
}

int mqc_producer_send_sync(mq_producer *p, const mq_message *msg, int32_t sysflag, mq_send_result *result,
                           mq_error *err)
{
    int rc = mqc_prod_check_send(p, msg, err);
    if (rc != MQ_OK)
        return rc;
    return send_one(p, msg, sysflag, NULL, result, err);
}

int mq_producer_send(mq_producer *p, const mq_message *msg, mq_send_result *result, mq_error *err)
{
    return mqc_producer_send_sync(p, msg, 0, result, err);
}

int mqc_producer_send_prepared(mq_producer *p, const mq_message *msg, const char *uniq_id, const char *props,
                               mq_send_result *result, mq_error *err)
{
    int rc = mqc_prod_check_send(p, msg, err);
    if (rc != MQ_OK)
        return rc;
    mqc_send_req r = {RC_SEND_MESSAGE_V2, mq_message_topic(msg), props, mq_message_flag(msg), NULL, 0, now_ms(),
                      MSG_SYSFLAG_TX_PREPARED};
    r.body = mqc_message_body(msg, &r.body_len);
    return send_blocking(p, &r, NULL, uniq_id, result, err);
}

/* The queue is resolved in the snapshot the caller chose it from, so a
 * route refresh between the choice and the send cannot move the message. */
int mqc_producer_send_chosen(mq_producer *p, const mq_message *msg, int32_t sysflag, const mqc_topic_pub *snap,
                             const mq_message_queue *want, int idx, mq_send_result *result, mq_error *err)
{
    mqc_pub_queue q;
    int rc = mqc_pub_resolve(snap, mq_message_topic(msg), want, idx, &q, err);
    if (rc != MQ_OK)
        return rc;
    return send_one(p, msg, sysflag, &q, result, err);
}

mqc_instance *mqc_producer_instance(mq_producer *p) { return p->inst; }

int mqc_producer_route(mq_producer *p, const char *topic, mqc_topic_pub **snap, mq_error *err)
{
    atomic_uint *counter;
    return mqc_pub_get(p, topic, false, snap, &counter, err);
}

/* The start of every fixed-queue send: the checks, then one route snapshot
 * for the choice and the send (a reference for the caller). queue_topic:
 * the topic of the queue the caller named, which must be the message's. */
static int fixed_send_begin(mq_producer *p, const mq_message *msg, bool given, const char *what,
                            const char *queue_topic, mqc_topic_pub **snap, mq_error *err)
{
    int rc = mqc_prod_check_send(p, msg, err);
    if (rc != MQ_OK)
        return rc;
    if (!given) {
        mqc_error_set(err, MQ_EINVAL, "%s is NULL", what);
        return MQ_EINVAL;
    }
    if (queue_topic && strcmp(queue_topic, mq_message_topic(msg)) != 0) {
        mqc_error_set(err, MQ_EINVAL, "the queue's topic differs from the message's topic");
        return MQ_EINVAL;
    }
    return mqc_producer_route(p, mq_message_topic(msg), snap, err);
}

int mq_producer_send_to_queue(mq_producer *p, const mq_message *msg, const mq_message_queue *queue,
                              mq_send_result *result, mq_error *err)
{
    mqc_topic_pub *pub;
    int rc = fixed_send_begin(p, msg, queue != NULL, "queue", queue ? queue->topic : NULL, &pub, err);
    if (rc != MQ_OK)
        return rc;
    rc = mqc_producer_send_chosen(p, msg, 0, pub, queue, -1, result, err);
    mqc_pub_unref(pub);
    return rc;
}

int mq_producer_send_orderly(mq_producer *p, const mq_message *msg, const char *sharding_key,
                             mq_send_result *result, mq_error *err)
{
    mqc_topic_pub *pub;
    int rc = fixed_send_begin(p, msg, sharding_key != NULL, "sharding key", NULL, &pub, err);
    if (rc != MQ_OK)
        return rc;
    rc = mqc_producer_send_chosen(p, msg, 0, pub, NULL, mqc_select_by_key(sharding_key, pub->n), result, err);
    mqc_pub_unref(pub);
    return rc;
}

int mq_producer_fetch_publish_queues(mq_producer *p, const char *topic, mq_message_queue **queues,
                                     int *n, mq_error *err)
{
    int rc = mqc_prod_check_started(p, err);
    if (rc == MQ_OK)
        rc = mqc_check_topic(topic, err);
    if (rc != MQ_OK)
        return rc;
    mqc_topic_pub *pub;
    atomic_uint *counter;
    rc = mqc_pub_get(p, topic, false, &pub, &counter, err);
    if (rc != MQ_OK)
        return rc;
    *queues = mqc_pub_to_queues(pub, topic);
    *n = pub->n;
    mqc_pub_unref(pub);
    return MQ_OK;
}

int mq_producer_send_select(mq_producer *p, const mq_message *msg, mq_queue_selector selector,
                            void *arg, mq_send_result *result, mq_error *err)
{
    mqc_topic_pub *pub;
    int rc = fixed_send_begin(p, msg, selector != NULL, "selector", NULL, &pub, err);
    if (rc != MQ_OK)
        return rc;
    mq_message_queue *qs = mqc_pub_to_queues(pub, mq_message_topic(msg));
    int idx = selector(qs, pub->n, msg, arg);
    free(qs);
    rc = mqc_producer_send_chosen(p, msg, 0, pub, NULL, idx, result, err);
    mqc_pub_unref(pub);
    return rc;
}

int mq_producer_send_batch(mq_producer *p, const mq_message *const *msgs, size_t n,
                           mq_send_result *result, mq_error *err)
{
    int rc = mqc_prod_check_started(p, err);
    if (rc != MQ_OK)
        return rc;
    if (!msgs || n == 0) {
        mqc_error_set(err, MQ_EINVAL, "empty batch");
        return MQ_EINVAL;
    }
    const char *topic = mq_message_topic(msgs[0]);
    for (size_t i = 0; i < n; i++) {
        rc = mqc_check_message(msgs[i], p->o.max_message_size, err);
        if (rc != MQ_OK)
            return rc;
        if (strcmp(mq_message_topic(msgs[i]), topic) != 0) {
            mqc_error_set(err, MQ_EINVAL, "batch message %zu has topic %s, not %s", i,
                          mq_message_topic(msgs[i]), topic);
            return MQ_EINVAL;
        }
        if (mq_message_delay_level(msgs[i]) > 0) {
            mqc_error_set(err, MQ_EINVAL, "batch message %zu has a delay level: not allowed in a batch", i);
            return MQ_EINVAL;
        }
    }
    bytebuf body, ids;
    bytebuf_init(&body);
    bytebuf_init(&ids);
    char first_id[MSG_ID_BUF] = "";
    for (size_t i = 0; i < n; i++) {
        char uniq[MSG_ID_BUF];
        msg_uniq_id_new(uniq, sizeof uniq);
        if (i == 0)
            strcpy(first_id, uniq);
        bytebuf_printf(&ids, "%s%s", i ? "," : "", uniq);
        char buf[PROPS_STACK], *heap;
        const char *props = props_for(msgs[i], uniq, buf, sizeof buf, &heap);
        msg_batch_item item;
        item.flag = mq_message_flag(msgs[i]);
        item.body = mqc_message_body(msgs[i], &item.body_len);
        item.properties = props;
        item.properties_len = (uint32_t)strlen(props);
        int brc = msg_batch_encode(&body, &item, 1);
        free(heap);
        if (brc != 0 || body.len > (size_t)p->o.max_message_size) {
            mqc_error_set(err, MQ_EINVAL, "batch of %zu messages is larger than %d bytes", n,
                          p->o.max_message_size);
            bytebuf_free(&body);
            bytebuf_free(&ids);
            return MQ_EINVAL;
        }
    }
    char props[64];
    snprintf(props, sizeof props, "%s%c%s", MSG_PROP_WAIT, MSG_NAME_VALUE_SEPARATOR, "true");
    mqc_send_req r = {RC_SEND_BATCH_MESSAGE, topic, props, 0, body.data, (uint32_t)body.len, now_ms(), 0};
    mq_send_result res;
    rc = send_blocking(p, &r, NULL, first_id, &res, err);
    if (rc == MQ_OK) {
        res.batch_count = (int)n;
        res.batch_msg_ids = xstrdup(bytebuf_cstr(&ids));
        if (result)
            *result = res;
        else
            mq_send_result_destroy(&res);
    }
    bytebuf_free(&body);
    bytebuf_free(&ids);
    return rc;
}

