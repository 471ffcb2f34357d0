/*
 * rebalance.c - which queues this consumer owns, and the process queue of
 * each (see push_consumer_internal.h).
 *
 * Rebalance (I/O thread, every rebalance_interval_ms and at once when a
 * broker sends NOTIFY_CONSUMER_IDS_CHANGED): for each subscribed topic take
 * the readable queues from the cached route (fetching it asynchronously if
 * missing), ask one broker for the group's client ids, sort both and keep
 * our AllocateMessageQueueAveragely block (BROADCASTING: every queue). A
 * queue we no longer own is dropped: its pulls stop, its offset (smallest
 * still in flight) is committed, its cached messages are released and, for
 * an orderly consumer, its broker lock is released once its listener call
 * has returned. A new queue gets a process queue that first (orderly)
 * locks the queue on the broker, then finds its start offset, then pulls.
 *
 * A client list without us (the broker has not seen our heartbeat) leaves
 * us no queue, as in RocketMQ, so two members never read one queue; we send
 * heartbeats at once and rebalance again a second later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocate.h"
#include "frame.h"
#include "log.h"
#include "push_consumer_internal.h"
#include "util.h"

void mqc_heartbeat_route(mq_push_consumer *c, const mqc_route *r, bool only_new);

bool mqc_pq_broker_addr(mq_push_consumer *c, const mq_message_queue *mq, char *out, size_t cap)
{
    mqc_route *r = mqc_route_cached(c->inst, mq->topic);
    if (!r)
        return false;
    const char *a = mqc_route_broker_addr(r, mq->broker_name, 0);
    if (!a)
        a = mqc_route_any_addr(r, mq->broker_name);
    bool ok = a && str_copy(out, cap, a);
    mqc_route_release(r);
    return ok;
}

bool mqc_pq_pull_addr(mq_push_consumer *c, const mqc_pq *pq, char *out, size_t cap, bool *slave)
{
    mqc_route *r = mqc_route_cached(c->inst, pq->mq.topic);
    if (!r)
        return false;
    const char *master = mqc_route_broker_addr(r, pq->mq.broker_name, 0);
    const char *a = pq->pull_from != 0 ? mqc_route_broker_addr(r, pq->mq.broker_name, pq->pull_from) : NULL;
    if (!a && master && pq->master_down_ms > mono_ms())
        a = mqc_route_lowest_addr(r, pq->mq.broker_name, 1);
    if (!a)
        a = master;
    if (!a)
        a = mqc_route_any_addr(r, pq->mq.broker_name);
    *slave = a != master;
    bool ok = a && str_copy(out, cap, a);
    mqc_route_release(r);
    return ok;
}

/* ---- locks (orderly, CLUSTERING) ---- */

void mqc_lock_body(mq_push_consumer *c, mqc_pq **pqs, int n, bytebuf *out)
{
    Mq__MessageQueue *items = xcalloc(n ? (size_t)n : 1, sizeof *items);
    Mq__MessageQueue **ptrs = xcalloc(n ? (size_t)n : 1, sizeof *ptrs);
    for (int i = 0; i < n; i++) {
        mq__message_queue__init(&items[i]);
        items[i].topic = pqs[i]->mq.topic;
        items[i].brokername = pqs[i]->mq.broker_name;
        items[i].queueid = pqs[i]->mq.queue_id;
        items[i].has_queueid = 1;
        ptrs[i] = &items[i];
    }
    Mq__LockBatchRequestBody body = MQ__LOCK_BATCH_REQUEST_BODY__INIT;
    body.consumergroup = c->group;
    body.clientid = (char *)mqc_client_id(c->inst);
    body.n_mqset = (size_t)n;
    body.mqset = ptrs;
    char err[128];
    bytebuf_clear(out);
    frame_body_encode(RM_SERIALIZE_PROTOBUF, &body.base, out, err, sizeof err);
    free(ptrs);
    free(items);
}

void mqc_pq_unlock_oneway(mq_push_consumer *c, mqc_pq *pq)
{
    char addr[ADDR_TEXT_MAX];
    if (!mqc_pq_broker_addr(c, &pq->mq, addr, sizeof addr))
        return;
    bytebuf b;
    bytebuf_init(&b);
    mqc_lock_body(c, &pq, 1, &b);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_UNLOCK_BATCH_MQ;
    h.has_code = 1;
    mq_error e;
    if (mqc_invoke_oneway(c->inst, addr, &h, b.data, b.len, &e) != MQ_OK)
        log_debug("unlock of %s/%d: %s", pq->mq.topic, pq->mq.queue_id, e.message);
    bytebuf_free(&b);
}

typedef struct lock_call {
    mq_push_consumer *c;
    int n;
    mqc_pq *pqs[];
} lock_call;

static void on_lock_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg)
{
    lock_call *lc = arg;
    mq_push_consumer *c = lc->c;
    Mq__LockBatchResponseBody *body = NULL;
    if (err == RM_OK && resp->hdr->code == RS_SUCCESS) {
        char why[128];
        body = (Mq__LockBatchResponseBody *)rm_body_decode(conn, resp, &mq__lock_batch_response_body__descriptor,
                                                           why, sizeof why);
    } else {
        log_warn("consumer %s: locking %d queues on %s failed: %s", c->group, lc->n, rm_conn_peer(conn),
                 err != RM_OK ? "no answer" : (resp->hdr->remark ? resp->hdr->remark : rm_status_name(resp->hdr->code)));
    }
    int64_t now = mono_ms();
    for (int i = 0; i < lc->n; i++) {
        mqc_pq *pq = lc->pqs[i];
        bool ok = false;
        for (size_t j = 0; body && j < body->n_lockokmqset; j++) {
            Mq__MessageQueue *q = body->lockokmqset[j];
            if (q->topic && !strcmp(q->topic, pq->mq.topic) && q->queueid == pq->mq.queue_id &&
                (!q->brokername || !strcmp(q->brokername, pq->mq.broker_name)))
                ok = true;
        }
        if (body) { /* without an answer the lock stays as it was until it expires */
            pthread_mutex_lock(&pq->lock);
            pq->locked = ok; /* refused: another member still holds it */
            if (ok)
                pq->lock_ms = now;
            pthread_mutex_unlock(&pq->lock);
        }
        if (!c->closing && pq->in_table && !ok && pq->state == PQ_WAIT_LOCK) {
            /* The previous owner has not released it yet: ask again soon
             * rather than at the next renewal. */
            mqc_pq_later(pq, c->o.lock_renew_interval_ms < 1000 ? c->o.lock_renew_interval_ms : 1000);
        }
        if (!c->closing && pq->in_table && ok) {
            if (pq->state == PQ_WAIT_LOCK) {
                /* Read the offset only now: the previous owner committed
                 * before it unlocked. */
                pq->state = PQ_WAIT_OFFSET;
                mqc_pq_step(pq);
            } else {
                if (pq->parked) {
                    pq->parked = false; /* else every renewal would pull again */
                    mqc_pq_step(pq);
                }
                mqc_pq_schedule_orderly(pq);
            }
        }
        mqc_pq_unref(pq);
    }
    free(lc);
}

/* Locks (or renews) the given queues of one broker. (io) */
static void lock_broker(mq_push_consumer *c, mqc_pq **pqs, int n)
{
    if (n == 0)
        return;
    char addr[ADDR_TEXT_MAX];
    if (!mqc_pq_broker_addr(c, &pqs[0]->mq, addr, sizeof addr))
        return;
    bytebuf b;
    bytebuf_init(&b);
    mqc_lock_body(c, pqs, n, &b);
    lock_call *lc = xmalloc(sizeof *lc + (size_t)n * sizeof(mqc_pq *));
    lc->c = c;
    lc->n = n;
    for (int i = 0; i < n; i++) {
        lc->pqs[i] = pqs[i];
        mqc_pq_ref(pqs[i]);
    }
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_LOCK_BATCH_MQ;
    h.has_code = 1;
    mq_error e;
    if (mqc_invoke_async(c->inst, addr, &h, b.data, b.len, c->o.request_timeout_ms, on_lock_response, lc, &e) !=
        MQ_OK) {
        log_debug("lock request to %s: %s", addr, e.message);
        for (int i = 0; i < n; i++)
            mqc_pq_unref(lc->pqs[i]);
        free(lc);
    }
    bytebuf_free(&b);
}

void mqc_lock_queue(mq_push_consumer *c, mqc_pq *pq) { lock_broker(c, &pq, 1); }

static int pq_broker_cmp(const void *a, const void *b)
{
    const mqc_pq *x = *(mqc_pq *const *)a, *y = *(mqc_pq *const *)b;
    return strcmp(x->mq.broker_name, y->mq.broker_name);
}

/* Locks the queues in list, one request per broker. */
static void lock_queues(mq_push_consumer *c, mqc_pq **list, int n)
{
    qsort(list, (size_t)n, sizeof *list, pq_broker_cmp);
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(list[j]->mq.broker_name, list[i]->mq.broker_name))
            j++;
        lock_broker(c, list + i, j - i);
        i = j;
    }
}

void mqc_lock_all(mq_push_consumer *c)
{
    if (!c->orderly || c->o.message_model != MQ_CLUSTERING || c->closing)
        return;
    size_t n = c->pqs.count, i = 0;
    mqc_pq **list = xmalloc((n ? n : 1) * sizeof *list);
    void *v;
    for (size_t it = 0; strmap_next(&c->pqs, &it, NULL, &v);)
        list[i++] = v;
    lock_queues(c, list, (int)n);
    free(list);
}

/* ---- rebalance ---- */

/* Readable queues of topic in the route, sorted. */
static mq_message_queue *route_queues(const mqc_route *r, const char *topic, int *n)
{
    Mq__TopicRouteData *d = r->data;
    int total = 0;
    for (size_t i = 0; i < d->n_queuedatas; i++)
        if ((d->queuedatas[i]->perm & PERM_READ) && d->queuedatas[i]->readqueuenums > 0)
            total += d->queuedatas[i]->readqueuenums;
    mq_message_queue *qs = xcalloc(total ? (size_t)total : 1, sizeof *qs);
    int k = 0;
    for (size_t i = 0; i < d->n_queuedatas; i++) {
        Mq__QueueData *q = d->queuedatas[i];
        if (!(q->perm & PERM_READ) || !q->brokername)
            continue;
        for (int j = 0; j < q->readqueuenums; j++) {
            str_copy(qs[k].topic, sizeof qs[k].topic, topic);
            str_copy(qs[k].broker_name, sizeof qs[k].broker_name, q->brokername);
            qs[k].queue_id = j;
            k++;
        }
    }
    qsort(qs, (size_t)k, sizeof *qs, mqc_queue_compare);
    *n = k;
    return qs;
}

/* Makes the queues of sub->topic exactly qs[0..n). */
static void apply_assignment(mq_push_consumer *c, mqc_sub *sub, const mq_message_queue *qs, int n)
{
    /* Drop what is no longer ours. */
    size_t cnt = c->pqs.count, nd = 0;
    mqc_pq **drop = xmalloc((cnt ? cnt : 1) * sizeof *drop);
    void *v;
    for (size_t it = 0; strmap_next(&c->pqs, &it, NULL, &v);) {
        mqc_pq *pq = v;
        if (pq->sub != sub)
            continue;
        bool keep = false;
        for (int i = 0; i < n && !keep; i++)
            keep = mqc_queue_compare(&qs[i], &pq->mq) == 0;
        if (!keep)
            drop[nd++] = pq;
    }
    for (size_t i = 0; i < nd; i++)
        mqc_pq_drop(c, drop[i]);
    free(drop);

    /* Add what is new. */
    mqc_pq **to_lock = xmalloc((n ? (size_t)n : 1) * sizeof *to_lock);
    int nl = 0;
    for (int i = 0; i < n; i++) {
        char key[sizeof(((mqc_pq *)0)->key)];
        mqc_queue_key(&qs[i], key, sizeof key);
        if (strmap_get(&c->pqs, key))
            continue;
        mqc_pq *pq = mqc_pq_new(c, sub, &qs[i]);
        strmap_put(&c->pqs, pq->key, pq);
        pq->in_table = true;
        log_info("consumer %s: queue %s/%s/%d is now ours", c->group, pq->mq.topic, pq->mq.broker_name,
                 pq->mq.queue_id);
        if (pq->state == PQ_WAIT_LOCK)
            to_lock[nl++] = pq;
        else
            mqc_pq_step(pq);
    }
    lock_queues(c, to_lock, nl);
    free(to_lock);
}

typedef struct ids_call {
    mq_push_consumer *c;
    mqc_sub *sub;
    int n;
    mq_message_queue qs[];
} ids_call;

static void rebalance_topic(mq_push_consumer *c, mqc_sub *sub);

static void on_consumer_ids(rm_conn *conn, int err, const rm_cmd *resp, void *arg)
{
    ids_call *ic = arg;
    mq_push_consumer *c = ic->c;
    mqc_sub *sub = ic->sub;
    sub->ids_pending = false;
    if (c->closing) {
        free(ic);
        return;
    }
    Mq__GetConsumerListByGroupResponseBody *body = NULL;
    char why[160] = "";
    if (err != RM_OK)
        snprintf(why, sizeof why, "%s", err == RM_ETIMEDOUT ? "timed out" : "connection closed");
    else if (resp->hdr->code != RS_SUCCESS)
        snprintf(why, sizeof why, "%s (%d) %s", rm_status_name(resp->hdr->code), resp->hdr->code,
                 resp->hdr->remark ? resp->hdr->remark : "");
    else
        body = (Mq__GetConsumerListByGroupResponseBody *)rm_body_decode(
            conn, resp, &mq__get_consumer_list_by_group_response_body__descriptor, why, sizeof why);
    if (!body) {
        log_warn("consumer %s: cannot get the group's members for %s from %s: %s", c->group, sub->topic,
                 rm_conn_peer(conn), why);
    } else {
        size_t n = body->n_consumeridlist;
        const char **ids = xmalloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            ids[i] = body->consumeridlist[i];
        qsort(ids, n, sizeof *ids, mqc_string_compare);
        int first, count;
        mqc_allocate_averagely(ic->n, ids, (int)n, mqc_client_id(c->inst), &first, &count);
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = !strcmp(ids[i], mqc_client_id(c->inst));
        free(ids);
        if (!known) {
            log_info("consumer %s: broker %s does not list us in the group yet; heartbeat and retry",
                     c->group, rm_conn_peer(conn));
            mqc_route *r = mqc_route_cached(c->inst, sub->topic);
            if (r) {
                mqc_heartbeat_route(c, r, false);
                mqc_route_release(r);
            }
            mqc_rebalance_soon(c, 1000);
        }
        apply_assignment(c, sub, ic->qs + first, count);
    }
    free(ic);
    if (sub->again) {
        sub->again = false;
        rebalance_topic(c, sub);
    }
}

typedef struct fetch_ctx {
    mq_push_consumer *c;
    mqc_sub *sub;
} fetch_ctx;

static void on_route_fetched_ctx(mqc_instance *inst, const char *topic, int rc, void *arg)
{
    (void)inst;
    (void)topic;
    fetch_ctx *f = arg;
    f->sub->route_fetching = false;
    mq_push_consumer *c = f->c;
    mqc_sub *sub = f->sub;
    free(f);
    if (c->closing)
        return;
    if (rc == MQ_OK) {
        sub->no_route_logged = false;
        rebalance_topic(c, sub);
        return;
    }
    if (!sub->is_retry && !sub->no_route_logged) {
        sub->no_route_logged = true;
        log_warn("consumer %s: no route for subscribed topic %s yet (%s); asking again every second",
                 c->group, sub->topic, rc == MQ_ENOROUTE ? "topic does not exist" : "no nameserver answered");
    }
    /* A topic a producer is about to create (auto-creation) should start
     * flowing within a second, not at the next periodic rebalance. */
    mqc_rebalance_soon(c, 1000);
}

static void rebalance_topic(mq_push_consumer *c, mqc_sub *sub)
{
    if (c->closing)
        return;
    mqc_route *r = mqc_route_cached(c->inst, sub->topic);
    if (!r) {
        if (!sub->route_fetching) {
            sub->route_fetching = true;
            fetch_ctx *f = xmalloc(sizeof *f);
            f->c = c;
            f->sub = sub;
            mqc_route_refresh_async(c->inst, sub->topic, on_route_fetched_ctx, f);
        }
        return;
    }
    mqc_heartbeat_route(c, r, true);
    int n;
    mq_message_queue *qs = route_queues(r, sub->topic, &n);
    if (c->o.message_model == MQ_BROADCASTING) {
        apply_assignment(c, sub, qs, n);
        free(qs);
        mqc_route_release(r);
        return;
    }
    if (sub->ids_pending) {
        sub->again = true;
        free(qs);
        mqc_route_release(r);
        return;
    }
    /* Ask one broker (rotating) for the group's members. */
    const char *addr = NULL;
    size_t nb = r->data->n_brokerdatas;
    for (size_t k = 0; k < nb && !addr; k++) {
        Mq__BrokerData *b = r->data->brokerdatas[(c->ids_rr + k) % nb];
        addr = b->brokername ? mqc_route_any_addr(r, b->brokername) : NULL;
    }
    c->ids_rr++;
    if (!addr) {
        free(qs);
        mqc_route_release(r);
        return;
    }
    ids_call *ic = xmalloc(sizeof *ic + (size_t)n * sizeof(mq_message_queue));
    ic->c = c;
    ic->sub = sub;
    ic->n = n;
    memcpy(ic->qs, qs, (size_t)n * sizeof *qs);
    free(qs);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__ConsumerGroupRequestHeader g = MQ__CONSUMER_GROUP_REQUEST_HEADER__INIT;
    h.code = RC_GET_CONSUMER_LIST_BY_GROUP;
    h.has_code = 1;
    g.consumergroup = c->group;
    h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP;
    h.consumer_group = &g;
    mq_error e;
    sub->ids_pending = true;
    if (mqc_invoke_async(c->inst, addr, &h, NULL, 0, c->o.request_timeout_ms, on_consumer_ids, ic, &e) != MQ_OK) {
        sub->ids_pending = false;
        log_debug("consumer %s: member list request to %s: %s", c->group, addr, e.message);
        free(ic);
    }
    mqc_route_release(r);
}

void mqc_rebalance_all(mq_push_consumer *c)
{
    for (int i = 0; i < c->n_subs; i++)
        rebalance_topic(c, &c->subs[i]);
}

static void on_rebalance_soon(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_rebalance_all(w->data);
}

void mqc_rebalance_soon(mq_push_consumer *c, int delay_ms)
{
    if (c->closing)
        return;
    struct ev_loop *loop = mqc_loop(c->inst);
    if (ev_is_active(&c->rebalance_soon)) {
        /* Keep the earlier deadline. */
        if (ev_timer_remaining(loop, &c->rebalance_soon) <= delay_ms / 1000.0)
            return;
        ev_timer_stop(loop, &c->rebalance_soon);
    }
    ev_timer_init(&c->rebalance_soon, on_rebalance_soon, delay_ms / 1000.0, 0.);
    c->rebalance_soon.data = c;
    ev_timer_start(loop, &c->rebalance_soon);
}
