/*
 * pull_loop.c - the life of one assigned queue on the I/O thread: find
 * where to start, then pull with long polling and hand what arrives to the
 * consume service, for as long as the queue is ours.
 *
 * Start offset (FACTS 8.1): the group's committed offset
 * (QUERY_CONSUMER_OFFSET; BROADCASTING: the local file). Only when the
 * group has none (QUERY_NOT_FOUND) does consume_from apply: LAST asks
 * GET_MAX_OFFSET, FIRST GET_MIN_OFFSET, TIMESTAMP SEARCH_OFFSET_BY_TIMESTAMP;
 * a retry topic always starts at 0. Any other answer is an error and is
 * retried after pull_error_delay_ms: guessing a start would skip or replay
 * messages.
 *
 * Pulls ask for pull_batch_size messages from the pull position with the
 * SUSPEND flag, so the broker holds an empty pull up to
 * pull_suspend_timeout_ms and answers as soon as a message arrives; the
 * committed offset rides along (COMMIT_OFFSET). FOUND: messages are decoded
 * in place, checked exactly against the tag expression (the broker filters
 * by hash), recorded as in flight and handed on; the next pull starts at
 * once at nextBeginOffset. NOT_FOUND / RETRY_IMMEDIATELY: pull again at
 * nextBeginOffset. OFFSET_MOVED: jump there and commit it. Errors: pull again
 * after pull_error_delay_ms. Every answer's suggestWhichBrokerId picks the
 * broker of the queue's next pull (mqc_pq_pull_addr: a slave when the
 * broker says the consumer reads far behind, the master otherwise or when
 * the route has no such broker, any broker of the name when the master is
 * gone). A pull that fails against the master sends the queue's pulls to
 * a slave of the route at once, for poll_name_server_interval_ms (the route
 * would drop a dead master by then), suggestions of the master included;
 * one that fails against a slave sends them back to the master. A pull
 * from a slave does not carry the committed offset (a slave ignores it),
 * the periodic commit takes it to the master. Above the flow-control
 * thresholds the queue is checked again every 50 ms instead of pulled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "push_consumer_internal.h"
#include "util.h"

#define FLOW_CONTROL_DELAY_MS 50
#define RELEASE_CHECK_MS 20

typedef struct offset_call {
    mqc_pq *pq;
    int32_t code;
} offset_call;

static void pull(mqc_pq *pq);
static void pull_failed(mqc_pq *pq);

/* ---- committing ---- */

void mqc_pq_persist(mq_push_consumer *c, mqc_pq *pq)
{
    pthread_mutex_lock(&pq->lock);
    bool known = pq->offset_known;
    int64_t off = mqc_inflight_commit_offset(&pq->inflight);
    pthread_mutex_unlock(&pq->lock);
    if (!known)
        return;
    if (c->o.message_model == MQ_BROADCASTING) {
        int64_t *v = strmap_get(&c->local_offsets, pq->key);
        if (!v) {
            v = xmalloc(sizeof *v);
            strmap_put(&c->local_offsets, pq->key, v);
        }
        *v = off;
        pq->persisted = off;
        return;
    }
    char addr[ADDR_TEXT_MAX];
    if (!mqc_pq_broker_addr(c, &pq->mq, addr, sizeof addr))
        return;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__UpdateConsumerOffsetRequestHeader u = MQ__UPDATE_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
    h.code = RC_UPDATE_CONSUMER_OFFSET;
    h.has_code = 1;
    u.consumergroup = c->group;
    u.topic = pq->mq.topic;
    u.queueid = pq->mq.queue_id;
    u.has_queueid = 1;
    u.commitoffset = off;
    u.has_commitoffset = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_UPDATE_CONSUMER_OFFSET;
    h.update_consumer_offset = &u;
    mq_error e;
    if (mqc_invoke_oneway(c->inst, addr, &h, NULL, 0, &e) == MQ_OK)
        pq->persisted = off;
    else
        log_debug("offset commit of %s/%d to %s: %s", pq->mq.topic, pq->mq.queue_id, addr, e.message);
}

void mqc_persist_all(mq_push_consumer *c)
{
    bool changed = false;
    void *v;
    for (size_t it = 0; strmap_next(&c->pqs, &it, NULL, &v);) {
        mqc_pq *pq = v;
        pthread_mutex_lock(&pq->lock);
        bool known = pq->offset_known;
        int64_t off = mqc_inflight_commit_offset(&pq->inflight);
        pthread_mutex_unlock(&pq->lock);
        if (known && off != pq->persisted) {
            mqc_pq_persist(c, pq);
            changed = true;
        }
    }
    if (changed && c->o.message_model == MQ_BROADCASTING) {
        mq_error e;
        if (mqc_local_offsets_save(c->offset_file, &c->local_offsets, &e) != MQ_OK)
            log_warn("consumer %s: %s", c->group, e.message);
    }
}

/* ---- the start offset ---- */

static void offset_found(mqc_pq *pq, int64_t off)
{
    pthread_mutex_lock(&pq->lock);
    mqc_inflight_reset(&pq->inflight, off);
    pq->offset_known = true;
    pthread_mutex_unlock(&pq->lock);
    log_debug("consumer %s: %s/%s/%d starts at offset %lld", pq->c->group, pq->mq.topic, pq->mq.broker_name,
              pq->mq.queue_id, (long long)off);
    pq->state = PQ_PULLING;
    mqc_pq_step(pq);
}

static void on_offset_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg);

static void offset_request(mqc_pq *pq, int32_t code)
{
    mq_push_consumer *c = pq->c;
    char addr[ADDR_TEXT_MAX];
    if (!mqc_pq_broker_addr(c, &pq->mq, addr, sizeof addr)) {
        pq->state = PQ_WAIT_OFFSET;
        mqc_pq_later(pq, c->o.pull_error_delay_ms);
        return;
    }
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__QueryConsumerOffsetRequestHeader qh = MQ__QUERY_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
    Mq__QueueRequestHeader q = MQ__QUEUE_REQUEST_HEADER__INIT;
    Mq__SearchOffsetRequestHeader sh = MQ__SEARCH_OFFSET_REQUEST_HEADER__INIT;
    h.code = code;
    h.has_code = 1;
    if (code == RC_QUERY_CONSUMER_OFFSET) {
        qh.consumergroup = c->group;
        qh.topic = pq->mq.topic;
        qh.queueid = pq->mq.queue_id;
        qh.has_queueid = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_QUERY_CONSUMER_OFFSET;
        h.query_consumer_offset = &qh;
    } else if (code == RC_SEARCH_OFFSET_BY_TIMESTAMP) {
        sh.topic = pq->mq.topic;
        sh.queueid = pq->mq.queue_id;
        sh.has_queueid = 1;
        sh.timestamp = c->o.consume_timestamp_ms > 0 ? c->o.consume_timestamp_ms : now_ms() - 30 * 60 * 1000;
        sh.has_timestamp = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_SEARCH_OFFSET;
        h.search_offset = &sh;
    } else {
        q.topic = pq->mq.topic;
        q.queueid = pq->mq.queue_id;
        q.has_queueid = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_QUEUE;
        h.queue = &q;
    }
    offset_call *oc = xmalloc(sizeof *oc);
    oc->pq = pq;
    oc->code = code;
    mqc_pq_ref(pq);
    mq_error e;
    if (mqc_invoke_async(c->inst, addr, &h, NULL, 0, c->o.request_timeout_ms, on_offset_response, oc, &e) != MQ_OK) {
        free(oc);
        mqc_pq_unref(pq);
        pq->state = PQ_WAIT_OFFSET;
        mqc_pq_later(pq, c->o.pull_error_delay_ms);
    }
}

/* The group has no offset for the queue: consume_from decides. */
static void from_where(mqc_pq *pq)
{
    mq_push_consumer *c = pq->c;
    if (pq->sub->is_retry) {
        offset_found(pq, 0);
        return;
    }
    switch (c->o.consume_from) {
    case MQ_CONSUME_FROM_FIRST_OFFSET: offset_request(pq, RC_GET_MIN_OFFSET); break;
    case MQ_CONSUME_FROM_TIMESTAMP: offset_request(pq, RC_SEARCH_OFFSET_BY_TIMESTAMP); break;
    default: offset_request(pq, RC_GET_MAX_OFFSET); break;
    }
}

static void on_offset_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg)
{
    offset_call *oc = arg;
    mqc_pq *pq = oc->pq;
    int32_t code = oc->code;
    free(oc);
    mq_push_consumer *c = pq->c;
    if (c->closing || pq->dropped) {
        mqc_pq_unref(pq);
        return;
    }
    int32_t st = err == RM_OK ? resp->hdr->code : -1;
    const Mq__OffsetResponseHeader *o =
        err == RM_OK && resp->hdr->ext_case == MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE ? resp->hdr->offset_response
                                                                                         : NULL;
    if (code == RC_QUERY_CONSUMER_OFFSET && (st == RS_QUERY_NOT_FOUND || (st == RS_SUCCESS && o && o->offset < 0))) {
        from_where(pq);
    } else if (st == RS_SUCCESS && o) {
        offset_found(pq, o->offset);
    } else {
        log_warn("consumer %s: cannot find the start offset of %s/%s/%d (%s from %s: %s); retrying in %d ms",
                 c->group, pq->mq.topic, pq->mq.broker_name, pq->mq.queue_id, rm_code_name(code), rm_conn_peer(conn),
                 err == RM_ETIMEDOUT ? "timed out" : err != RM_OK ? "connection closed" : rm_status_name(st),
                 c->o.pull_error_delay_ms);
        pq->state = PQ_WAIT_OFFSET;
        mqc_pq_later(pq, c->o.pull_error_delay_ms);
    }
    mqc_pq_unref(pq);
}

static void find_start_offset(mqc_pq *pq)
{
    mq_push_consumer *c = pq->c;
    pq->state = PQ_OFFSET;
    if (c->o.message_model == MQ_BROADCASTING) {
        int64_t *v = strmap_get(&c->local_offsets, pq->key);
        if (v)
            offset_found(pq, *v);
        else
            from_where(pq);
        return;
    }
    offset_request(pq, RC_QUERY_CONSUMER_OFFSET);
}

/* ---- steps ---- */

void mqc_pq_step(mqc_pq *pq)
{
    mq_push_consumer *c = pq->c;
    if (c->closing)
        return;
    switch (pq->state) {
    case PQ_WAIT_LOCK:
        if (!pq->dropped && pq->in_table)
            mqc_lock_queue(c, pq);
        return;
    case PQ_OFFSET:
        return;
    case PQ_WAIT_OFFSET:
        if (!pq->dropped)
            find_start_offset(pq);
        return;
    case PQ_PULLING:
        if (!pq->dropped)
            pull(pq);
        return;
    case PQ_RELEASING: {
        pthread_mutex_lock(&pq->lock);
        bool busy = pq->consuming;
        pthread_mutex_unlock(&pq->lock);
        if (busy)
            mqc_pq_later(pq, RELEASE_CHECK_MS);
        else
            mqc_pq_release_now(pq);
        return;
    }
    }
}

void mqc_unpark_all(mq_push_consumer *c)
{
    void *v;
    for (size_t it = 0; strmap_next(&c->pqs, &it, NULL, &v);) {
        mqc_pq *pq = v;
        if (pq->parked) {
            pq->parked = false;
            mqc_pq_step(pq);
        }
        if (c->orderly)
            mqc_pq_schedule_orderly(pq);
    }
}

/* ---- pulling ---- */

static void on_pull_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg);

static void pull(mqc_pq *pq)
{
    mq_push_consumer *c = pq->c;
    /* A stray wake-up (a lock-retry timer left from before the queue was
     * locked, a lock renewal) must not start a second pull chain: two
     * pulls from the same offset would deliver the same messages twice. */
    if (pq->pull_inflight)
        return;
    if (atomic_load(&c->suspended)) {
        pq->parked = true;
        return;
    }
    pthread_mutex_lock(&pq->lock);
    bool lock_ok = !c->orderly || mqc_pq_lock_valid(pq, mono_ms());
    mqc_flow flow = mqc_flow_check(&pq->inflight, (size_t)c->o.pull_threshold_for_queue,
                                   (uint64_t)c->o.pull_threshold_size_for_queue_mib << 20,
                                   c->orderly ? 0 : c->o.consume_concurrently_max_span);
    int64_t next = pq->inflight.next_offset;
    int64_t commit = mqc_inflight_commit_offset(&pq->inflight);
    size_t live = pq->inflight.live;
    pthread_mutex_unlock(&pq->lock);
    if (!lock_ok) {
        pq->parked = true; /* the next successful lock restarts it */
        return;
    }
    pq->parked = false; /* one pull in flight per queue, whoever restarted it */
    if (flow != MQC_FLOW_OK) {
        if (pq->flow_pauses++ % 1000 == 0)
            log_info("consumer %s: flow control on %s/%s/%d (%s; %zu messages cached), pulls paused %llu times",
                     c->group, pq->mq.topic, pq->mq.broker_name, pq->mq.queue_id,
                     flow == MQC_FLOW_COUNT ? "count" : flow == MQC_FLOW_SIZE ? "size" : "offset span", live,
                     (unsigned long long)pq->flow_pauses);
        mqc_pq_later(pq, FLOW_CONTROL_DELAY_MS);
        return;
    }
    char addr[ADDR_TEXT_MAX];
    bool from_slave;
    if (!mqc_pq_pull_addr(c, pq, addr, sizeof addr, &from_slave)) {
        mqc_pq_later(pq, c->o.pull_error_delay_ms);
        return;
    }
    bool commit_it = c->o.message_model == MQ_CLUSTERING && !from_slave;
    pq->pulled_slave = from_slave;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__PullMessageRequestHeader p = MQ__PULL_MESSAGE_REQUEST_HEADER__INIT;
    h.code = RC_PULL_MESSAGE;
    h.has_code = 1;
    p.consumergroup = c->group;
    p.topic = pq->mq.topic;
    p.queueid = pq->mq.queue_id;
    p.has_queueid = 1;
    p.queueoffset = next;
    p.has_queueoffset = 1;
    p.maxmsgnums = c->o.pull_batch_size;
    p.has_maxmsgnums = 1;
    p.sysflag = PULL_FLAG_SUSPEND | PULL_FLAG_SUBSCRIPTION | (commit_it ? PULL_FLAG_COMMIT_OFFSET : 0);
    p.has_sysflag = 1;
    p.commitoffset = commit_it ? commit : 0;
    p.has_commitoffset = 1;
    p.suspendtimeoutmillis = c->o.pull_suspend_timeout_ms;
    p.has_suspendtimeoutmillis = 1;
    p.subscription = pq->sub->sub.expression;
    p.subversion = pq->sub->sub.version;
    p.has_subversion = 1;
    p.expressiontype = pq->sub->expr_type;
    h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE;
    h.pull_message = &p;
    mqc_pq_ref(pq);
    mq_error e;
    pq->pull_inflight = true;
    if (mqc_invoke_async(c->inst, addr, &h, NULL, 0, c->o.pull_request_timeout_ms, on_pull_response, pq, &e) !=
        MQ_OK) {
        log_debug("pull of %s/%d from %s: %s", pq->mq.topic, pq->mq.queue_id, addr, e.message);
        pq->pull_inflight = false;
        mqc_pq_unref(pq);
        pull_failed(pq);
        return;
    }
    if (commit_it)
        pq->persisted = commit;
}

/* A pull got no answer. A failed master: its slave (if the route has one)
 * at once, until the next route refresh would have dropped the master. A
 * failed slave: the master, after the error delay. (io) */
static void pull_failed(mqc_pq *pq)
{
    mq_push_consumer *c = pq->c;
    bool to_slave = !pq->pulled_slave;
    pq->pull_from = 0;
    pq->master_down_ms = to_slave ? mono_ms() + c->o.poll_name_server_interval_ms : 0;
    char addr[ADDR_TEXT_MAX];
    bool slave = false;
    to_slave = to_slave && mqc_pq_pull_addr(c, pq, addr, sizeof addr, &slave) && slave;
    mqc_pq_later(pq, to_slave ? 0 : c->o.pull_error_delay_ms);
}

/* Records the kept messages as in flight and hands them on. (io) */
static void deliver(mqc_pq *pq, mqc_msg_batch *b, int64_t next)
{
    mq_push_consumer *c = pq->c;
    pthread_mutex_lock(&pq->lock);
    int kept = 0;
    for (int i = 0; i < b->n; i++) {
        mq_message_ext *m = &b->msgs[i];
        if (!mqc_inflight_add(&pq->inflight, m->queue_offset, m->body_len))
            continue; /* already in flight: never deliver twice */
        if (kept != i) {
            b->msgs[kept] = *m;
        }
        kept++;
    }
    b->n = kept;
    if (next >= 0)
        mqc_inflight_set_next(&pq->inflight, next);
    if (c->orderly && kept > 0) {
        if (pq->pend_len + (size_t)kept > pq->pend_cap) {
            size_t cap = pq->pend_cap ? pq->pend_cap : 64;
            while (cap < pq->pend_len + (size_t)kept)
                cap *= 2;
            mq_message_ext **ring = xmalloc(cap * sizeof *ring);
            for (size_t i = 0; i < pq->pend_len; i++)
                ring[i] = pq->pending[(pq->pend_head + i) % pq->pend_cap];
            free(pq->pending);
            pq->pending = ring;
            pq->pend_cap = cap;
            pq->pend_head = 0;
        }
        for (int i = 0; i < kept; i++)
            pq->pending[(pq->pend_head + pq->pend_len++) % pq->pend_cap] = &b->msgs[i];
    }
    pthread_mutex_unlock(&pq->lock);
    if (kept == 0) {
        mqc_msg_batch_unref(b);
    } else if (c->orderly) {
        mqc_msg_batch_ref(b, kept - 1); /* one per pending message, ours included */
        mqc_pq_schedule_orderly(pq);
    } else {
        mqc_svc_submit(c, pq, b);
    }
}

static void on_pull_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg)
{
    mqc_pq *pq = arg;
    mq_push_consumer *c = pq->c;
    pq->pull_inflight = false;
    if (c->closing || pq->dropped) {
        mqc_pq_unref(pq);
        return;
    }
    if (err != RM_OK) {
        log_debug("pull of %s/%d from %s: %s", pq->mq.topic, pq->mq.queue_id, rm_conn_peer(conn),
                  err == RM_ETIMEDOUT ? "timed out" : "connection closed");
        pull_failed(pq);
        mqc_pq_unref(pq);
        return;
    }
    const Mq__PullMessageResponseHeader *ph =
        resp->hdr->ext_case == MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE ? resp->hdr->pull_message_response : NULL;
    int64_t next = ph && ph->has_nextbeginoffset ? ph->nextbeginoffset : -1;
    if (ph && ph->has_suggestwhichbrokerid && ph->suggestwhichbrokerid != pq->pull_from &&
        !(ph->suggestwhichbrokerid == 0 && pq->master_down_ms > mono_ms())) {
        log_debug("consumer %s: %s/%s/%d pulls from broker id %lld next (suggested by %s)", c->group, pq->mq.topic,
                  pq->mq.broker_name, pq->mq.queue_id, (long long)ph->suggestwhichbrokerid, rm_conn_peer(conn));
        pq->pull_from = ph->suggestwhichbrokerid;
    }
    switch (resp->hdr->code) {
    case RS_SUCCESS: {
        const mq_subscription *filter =
            pq->sub->sub.type == SUB_TAG && !pq->sub->sub.match_all ? &pq->sub->sub : NULL;
        mqc_msg_batch *b;
        mq_error e;
        if (mqc_msg_batch_decode(resp->body, resp->body_len, pq->mq.broker_name, filter, &b, &e) != MQ_OK) {
            log_warn("consumer %s: %s/%s/%d: %s", c->group, pq->mq.topic, pq->mq.broker_name, pq->mq.queue_id,
                     e.message);
            mqc_pq_later(pq, c->o.pull_error_delay_ms);
            break;
        }
        deliver(pq, b, next);
        mqc_pq_step(pq);
        break;
    }
    case RS_PULL_NOT_FOUND:
    case RS_PULL_RETRY_IMMEDIATELY:
        if (next >= 0) {
            pthread_mutex_lock(&pq->lock);
            mqc_inflight_set_next(&pq->inflight, next);
            pthread_mutex_unlock(&pq->lock);
        }
        mqc_pq_step(pq);
        break;
    case RS_PULL_OFFSET_MOVED:
        log_warn("consumer %s: offset of %s/%s/%d moved by the broker to %lld", c->group, pq->mq.topic,
                 pq->mq.broker_name, pq->mq.queue_id, (long long)next);
        if (next >= 0) {
            pthread_mutex_lock(&pq->lock);
            mqc_inflight_set_next(&pq->inflight, next);
            pthread_mutex_unlock(&pq->lock);
            mqc_pq_persist(c, pq);
        }
        mqc_pq_step(pq);
        break;
    default:
        log_warn("consumer %s: pull of %s/%s/%d refused: %s (%d) %s; retrying in %d ms", c->group, pq->mq.topic,
                 pq->mq.broker_name, pq->mq.queue_id, rm_status_name(resp->hdr->code), resp->hdr->code,
                 resp->hdr->remark ? resp->hdr->remark : "", c->o.pull_error_delay_ms);
        mqc_pq_later(pq, c->o.pull_error_delay_ms);
        break;
    }
    mqc_pq_unref(pq);
}
