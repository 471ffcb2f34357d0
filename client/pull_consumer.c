/*
 * pull_consumer.c - the pull consumer (mq/consumer.h): the application
 * chooses queues and offsets; each call is one blocking request on the
 * caller's thread. The only per-queue state is the broker id the last pull
 * answer suggested (suggestWhichBrokerId, RocketMQ's pullFromWhichNodeTable:
 * a slave for a consumer reading far behind), under its own lock: the next
 * pull of that queue goes there if the route has it, else to the master,
 * else to any broker of the name; a failed pull forgets it. Offsets always
 * go to the master.
 *
 * A pull's body is decoded on the I/O thread straight from the transport's
 * buffer into the result's batch (one copy of the records), then filtered
 * exactly by tag. A FOUND answer whose messages all fail the exact tag check
 * (hash collisions on the broker) is reported as NO_MATCHED_MSG.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "allocate.h"
#include "hashmap.h"
#include "instance.h"
#include "message_internal.h"
#include "mq/consumer.h"
#include "util.h"

enum { PC_CREATED = 0, PC_STARTED = 1, PC_STOPPED = 2 };

struct mq_pull_consumer {
    char *group;
    char *namesrv;
    char *instance_name;
    mq_pull_consumer_options o;
    mqc_instance *inst;
    atomic_int state;
    pthread_mutex_t from_mu;
    strmap pull_from; /* "topic\x01broker\x01queue" -> malloc'd int64_t broker id (from_mu) */
};

void mq_pull_consumer_options_init(mq_pull_consumer_options *o)
{
    memset(o, 0, sizeof *o);
    o->request_timeout_ms = 3000;
    o->poll_name_server_interval_ms = 30000;
}

const char *mq_pull_status_name(mq_pull_status s)
{
    switch (s) {
    case MQ_PULL_FOUND: return "FOUND";
    case MQ_PULL_NO_NEW_MSG: return "NO_NEW_MSG";
    case MQ_PULL_NO_MATCHED_MSG: return "NO_MATCHED_MSG";
    case MQ_PULL_OFFSET_ILLEGAL: return "OFFSET_ILLEGAL";
    }
    return "UNKNOWN";
}

int mq_pull_consumer_new(const char *group, const char *namesrv_addr, const mq_pull_consumer_options *opts,
                         mq_pull_consumer **out, mq_error *err)
{
    int rc = mqc_check_group(group, err);
    if (rc != MQ_OK)
        return rc;
    mq_pull_consumer_options o;
    if (opts)
        o = *opts;
    else
        mq_pull_consumer_options_init(&o);
    if (o.request_timeout_ms <= 0 || o.poll_name_server_interval_ms <= 0) {
        mqc_error_set(err, MQ_EINVAL, "pull consumer options: timeouts must be positive");
        return MQ_EINVAL;
    }
    mq_pull_consumer *c = xcalloc(1, sizeof *c);
    c->group = xstrdup(group);
    c->namesrv = namesrv_addr ? xstrdup(namesrv_addr) : NULL;
    c->instance_name = o.instance_name ? xstrdup(o.instance_name) : NULL;
    c->o = o;
    c->o.instance_name = c->instance_name;
    pthread_mutex_init(&c->from_mu, NULL);
    strmap_init(&c->pull_from);
    *out = c;
    return MQ_OK;
}

int mq_pull_consumer_start(mq_pull_consumer *c, mq_error *err)
{
    if (atomic_load(&c->state) != PC_CREATED) {
        mqc_error_set(err, MQ_ESTATE, "pull consumer already started or shut down");
        return MQ_ESTATE;
    }
    mqc_options io;
    mqc_options_default(&io);
    io.namesrv_addr = c->namesrv;
    io.instance_name = c->instance_name;
    io.request_timeout_ms = c->o.request_timeout_ms;
    io.poll_name_server_interval_ms = c->o.poll_name_server_interval_ms;
    int rc = mqc_instance_new(&io, &c->inst, err);
    if (rc == MQ_OK)
        atomic_store(&c->state, PC_STARTED);
    return rc;
}

void mq_pull_consumer_shutdown(mq_pull_consumer *c)
{
    int expected = PC_STARTED;
    if (atomic_compare_exchange_strong(&c->state, &expected, PC_STOPPED)) {
        mqc_instance_free(c->inst);
        c->inst = NULL;
    }
    atomic_store(&c->state, PC_STOPPED);
}

void mq_pull_consumer_destroy(mq_pull_consumer *c)
{
    if (!c)
        return;
    mq_pull_consumer_shutdown(c);
    void *v;
    for (size_t it = 0; strmap_next(&c->pull_from, &it, NULL, &v);)
        free(v);
    strmap_free(&c->pull_from);
    pthread_mutex_destroy(&c->from_mu);
    free(c->group);
    free(c->namesrv);
    free(c->instance_name);
    free(c);
}

static int check_started(mq_pull_consumer *c, mq_error *err)
{
    if (atomic_load(&c->state) != PC_STARTED) {
        mqc_error_set(err, MQ_ESTATE, "pull consumer is not started");
        return MQ_ESTATE;
    }
    return MQ_OK;
}

int mq_pull_consumer_fetch_queues(mq_pull_consumer *c, const char *topic, mq_message_queue **queues, int *n,
                                  mq_error *err)
{
    int rc = check_started(c, err);
    if (rc == MQ_OK)
        rc = mqc_check_topic(topic, err);
    if (rc != MQ_OK)
        return rc;
    mqc_route *r;
    if ((rc = mqc_route_get(c->inst, topic, false, &r, err)) != MQ_OK)
        return rc;
    int total = 0;
    for (size_t i = 0; i < r->data->n_queuedatas; i++)
        if (r->data->queuedatas[i]->perm & PERM_READ)
            total += r->data->queuedatas[i]->readqueuenums > 0 ? r->data->queuedatas[i]->readqueuenums : 0;
    mq_message_queue *qs = xcalloc(total ? (size_t)total : 1, sizeof *qs);
    int k = 0;
    for (size_t i = 0; i < r->data->n_queuedatas; i++) {
        Mq__QueueData *q = r->data->queuedatas[i];
        if (!(q->perm & PERM_READ) || !q->brokername)
            continue;
        for (int j = 0; j < q->readqueuenums; j++) {
            str_copy(qs[k].topic, sizeof qs[k].topic, topic);
            str_copy(qs[k].broker_name, sizeof qs[k].broker_name, q->brokername);
            qs[k].queue_id = j;
            k++;
        }
    }
    mqc_route_release(r);
    qsort(qs, (size_t)k, sizeof *qs, mqc_queue_compare);
    *queues = qs;
    *n = k;
    return MQ_OK;
}

/* Master address of queue's broker (fetching the route if needed). */
static int queue_addr(mq_pull_consumer *c, const mq_message_queue *q, char *out, size_t cap, mq_error *err)
{
    int rc = check_started(c, err);
    if (rc != MQ_OK)
        return rc;
    if (!q) {
        mqc_error_set(err, MQ_EINVAL, "queue is NULL");
        return MQ_EINVAL;
    }
    mqc_route *r;
    if ((rc = mqc_route_get(c->inst, q->topic, false, &r, err)) != MQ_OK)
        return rc;
    const char *a = mqc_route_broker_addr(r, q->broker_name, 0);
    if (!a)
        a = mqc_route_any_addr(r, q->broker_name);
    if (!a) {
        mqc_error_set(err, MQ_ENOROUTE, "broker %s is not in the route of topic %s", q->broker_name, q->topic);
        mqc_route_release(r);
        return MQ_ENOROUTE;
    }
    str_copy(out, cap, a);
    mqc_route_release(r);
    return MQ_OK;
}

/* ---- pulling ---- */

static void pull_key(const mq_message_queue *q, char *out, size_t cap)
{
    snprintf(out, cap, "%s\x01%s\x01%d", q->topic, q->broker_name, q->queue_id);
}

/* Sets the broker id q's next pull goes to (0 = the master). */
static void pull_from_set(mq_pull_consumer *c, const mq_message_queue *q, int64_t id)
{
    char key[MQ_TOPIC_MAX + MQ_BROKER_NAME_MAX + 16];
    pull_key(q, key, sizeof key);
    pthread_mutex_lock(&c->from_mu);
    int64_t *v = strmap_get(&c->pull_from, key);
    if (!v && id != 0) {
        v = xmalloc(sizeof *v);
        strmap_put(&c->pull_from, key, v);
    }
    if (v)
        *v = id;
    pthread_mutex_unlock(&c->from_mu);
}

/* Address of q's next pull: the suggested broker if the route has it, else
 * the master, else any broker of the name. */
static int pull_addr(mq_pull_consumer *c, const mq_message_queue *q, char *out, size_t cap, mq_error *err)
{
    char key[MQ_TOPIC_MAX + MQ_BROKER_NAME_MAX + 16];
    pull_key(q, key, sizeof key);
    pthread_mutex_lock(&c->from_mu);
    int64_t *v = strmap_get(&c->pull_from, key);
    int64_t id = v ? *v : 0;
    pthread_mutex_unlock(&c->from_mu);
    if (id == 0)
        return queue_addr(c, q, out, cap, err);
    mqc_route *r;
    int rc = mqc_route_get(c->inst, q->topic, false, &r, err);
    if (rc != MQ_OK)
        return rc;
    const char *a = mqc_route_broker_addr(r, q->broker_name, id);
    if (a)
        str_copy(out, cap, a);
    mqc_route_release(r);
    return a ? MQ_OK : queue_addr(c, q, out, cap, err);
}

typedef struct pull_view {
    const mq_subscription *filter;
    const char *broker_name;
    int32_t code;
    char remark[200];
    int64_t next, min, max;
    mqc_msg_batch *batch;
    int decode_rc;
    mq_error decode_err;
    int64_t suggest; /* suggestWhichBrokerId, -1 absent */
} pull_view;

static void on_pull_view(const rm_cmd *resp, void *arg)
{
    pull_view *v = arg;
    v->code = resp->hdr->code;
    str_copy(v->remark, sizeof v->remark, resp->hdr->remark ? resp->hdr->remark : "");
    if (resp->hdr->ext_case == MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE) {
        v->next = resp->hdr->pull_message_response->nextbeginoffset;
        v->min = resp->hdr->pull_message_response->minoffset;
        v->max = resp->hdr->pull_message_response->maxoffset;
        if (resp->hdr->pull_message_response->has_suggestwhichbrokerid)
            v->suggest = resp->hdr->pull_message_response->suggestwhichbrokerid;
    }
    if (v->code == RS_SUCCESS)
        v->decode_rc = mqc_msg_batch_decode(resp->body, resp->body_len, v->broker_name, v->filter, &v->batch,
                                            &v->decode_err);
}

void mq_pull_result_destroy(mq_pull_result *r)
{
    if (!r)
        return;
    mqc_msg_batch_unref(r->priv_);
    free(r->msgs);
    memset(r, 0, sizeof *r);
}

int mq_pull_consumer_pull(mq_pull_consumer *c, const mq_message_queue *queue, const char *expression,
                          int64_t offset, int max_nums, int block_ms, mq_pull_result *result, mq_error *err)
{
    memset(result, 0, sizeof *result);
    if (max_nums < 1 || max_nums > 1024 || offset < 0 || block_ms < 0) {
        mqc_error_set(err, MQ_EINVAL, "pull: max_nums must be 1..1024, offset and block_ms >= 0");
        return MQ_EINVAL;
    }
    char addr[ADDR_TEXT_MAX];
    int rc = check_started(c, err);
    if (rc == MQ_OK && !queue) {
        mqc_error_set(err, MQ_EINVAL, "queue is NULL");
        rc = MQ_EINVAL;
    }
    if (rc == MQ_OK)
        rc = pull_addr(c, queue, addr, sizeof addr, err);
    if (rc != MQ_OK)
        return rc;
    mq_subscription sub;
    char why[200];
    if (mq_subscription_parse(expression && *expression ? expression : "*", "TAG", &sub, why, sizeof why) != 0) {
        mqc_error_set(err, MQ_EINVAL, "bad tag expression: %s", why);
        return MQ_EINVAL;
    }
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__PullMessageRequestHeader p = MQ__PULL_MESSAGE_REQUEST_HEADER__INIT;
    h.code = RC_PULL_MESSAGE;
    h.has_code = 1;
    p.consumergroup = c->group;
    p.topic = (char *)queue->topic;
    p.queueid = queue->queue_id;
    p.has_queueid = 1;
    p.queueoffset = offset;
    p.has_queueoffset = 1;
    p.maxmsgnums = max_nums;
    p.has_maxmsgnums = 1;
    p.sysflag = PULL_FLAG_SUBSCRIPTION | (block_ms > 0 ? PULL_FLAG_SUSPEND : 0);
    p.has_sysflag = 1;
    p.commitoffset = 0;
    p.has_commitoffset = 1;
    p.suspendtimeoutmillis = block_ms;
    p.has_suspendtimeoutmillis = 1;
    p.subscription = sub.match_all ? (char *)"*" : sub.expression;
    p.subversion = 0;
    p.has_subversion = 1;
    p.expressiontype = (char *)"TAG";
    h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE;
    h.pull_message = &p;
    pull_view v;
    memset(&v, 0, sizeof v);
    v.filter = sub.match_all ? NULL : &sub;
    v.broker_name = queue->broker_name;
    v.suggest = -1;
    rc = mqc_invoke_sync_view(c->inst, addr, &h, NULL, 0, block_ms + c->o.request_timeout_ms, on_pull_view, &v,
                              err);
    mq_subscription_free(&sub);
    pull_from_set(c, queue, rc == MQ_OK && v.suggest > 0 ? v.suggest : 0);
    if (rc != MQ_OK)
        return rc;
    result->next_begin_offset = v.next;
    result->min_offset = v.min;
    result->max_offset = v.max;
    switch (v.code) {
    case RS_SUCCESS:
        if (v.decode_rc != MQ_OK) {
            if (err)
                *err = v.decode_err;
            return v.decode_rc;
        }
        result->priv_ = v.batch;
        result->n = v.batch->n;
        result->status = v.batch->n ? MQ_PULL_FOUND : MQ_PULL_NO_MATCHED_MSG;
        result->msgs = xcalloc(v.batch->n ? (size_t)v.batch->n : 1, sizeof *result->msgs);
        for (int i = 0; i < v.batch->n; i++)
            result->msgs[i] = &v.batch->msgs[i];
        return MQ_OK;
    case RS_PULL_NOT_FOUND: result->status = MQ_PULL_NO_NEW_MSG; return MQ_OK;
    case RS_PULL_RETRY_IMMEDIATELY: result->status = MQ_PULL_NO_MATCHED_MSG; return MQ_OK;
    case RS_PULL_OFFSET_MOVED: result->status = MQ_PULL_OFFSET_ILLEGAL; return MQ_OK;
    default:
        mqc_error_set(err, MQ_EBROKER, "pull from %s: %s (%d)%s%s", addr, rm_status_name(v.code), v.code,
                      v.remark[0] ? ": " : "", v.remark);
        if (err)
            err->status = v.code;
        return MQ_EBROKER;
    }
}

/* ---- offsets ---- */

/* Sends an offset request and reads the OffsetResponseHeader. */
static int offset_call(mq_pull_consumer *c, const mq_message_queue *q, Mq__RemotingHeader *h, const char *what,
                       int64_t *offset, mq_error *err)
{
    char addr[ADDR_TEXT_MAX];
    int rc = queue_addr(c, q, addr, sizeof addr, err);
    if (rc != MQ_OK)
        return rc;
    mqc_response r;
    if ((rc = mqc_invoke_sync(c->inst, addr, h, NULL, 0, c->o.request_timeout_ms, &r, err)) != MQ_OK)
        return rc;
    if (r.code == RS_QUERY_NOT_FOUND) {
        mqc_error_set(err, MQ_ENOTFOUND, "%s: group %s has no offset for %s/%s/%d", what, c->group, q->topic,
                      q->broker_name, q->queue_id);
        mqc_response_free(&r);
        return MQ_ENOTFOUND;
    }
    if (r.code != RS_SUCCESS) {
        mqc_error_from_response(err, what, &r);
        mqc_response_free(&r);
        return MQ_EBROKER;
    }
    if (offset) {
        if (r.hdr->ext_case != MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE) {
            mqc_error_set(err, MQ_EBROKER, "%s: answer without an offset", what);
            mqc_response_free(&r);
            return MQ_EBROKER;
        }
        *offset = r.hdr->offset_response->offset;
    }
    mqc_response_free(&r);
    return MQ_OK;
}

int mq_pull_consumer_query_offset(mq_pull_consumer *c, const mq_message_queue *queue, int64_t *offset,
                                  mq_error *err)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__QueryConsumerOffsetRequestHeader q = MQ__QUERY_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
    h.code = RC_QUERY_CONSUMER_OFFSET;
    q.consumergroup = c->group;
    q.topic = queue ? (char *)queue->topic : NULL;
    q.queueid = queue ? queue->queue_id : 0;
    q.has_queueid = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_QUERY_CONSUMER_OFFSET;
    h.query_consumer_offset = &q;
    int rc = offset_call(c, queue, &h, "query consumer offset", offset, err);
    if (rc == MQ_OK && *offset < 0) {
        mqc_error_set(err, MQ_ENOTFOUND, "group %s has no offset for the queue", c->group);
        return MQ_ENOTFOUND;
    }
    return rc;
}

int mq_pull_consumer_commit_offset(mq_pull_consumer *c, const mq_message_queue *queue, int64_t offset,
                                   mq_error *err)
{
    if (offset < 0) {
        mqc_error_set(err, MQ_EINVAL, "offset %lld is negative", (long long)offset);
        return MQ_EINVAL;
    }
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__UpdateConsumerOffsetRequestHeader u = MQ__UPDATE_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
    h.code = RC_UPDATE_CONSUMER_OFFSET;
    u.consumergroup = c->group;
    u.topic = queue ? (char *)queue->topic : NULL;
    u.queueid = queue ? queue->queue_id : 0;
    u.has_queueid = 1;
    u.commitoffset = offset;
    u.has_commitoffset = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_UPDATE_CONSUMER_OFFSET;
    h.update_consumer_offset = &u;
    return offset_call(c, queue, &h, "commit offset", NULL, err);
}

static int queue_offset(mq_pull_consumer *c, const mq_message_queue *queue, int32_t code, const char *what,
                        int64_t *offset, mq_error *err)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__QueueRequestHeader q = MQ__QUEUE_REQUEST_HEADER__INIT;
    h.code = code;
    q.topic = queue ? (char *)queue->topic : NULL;
    q.queueid = queue ? queue->queue_id : 0;
    q.has_queueid = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_QUEUE;
    h.queue = &q;
    return offset_call(c, queue, &h, what, offset, err);
}

int mq_pull_consumer_min_offset(mq_pull_consumer *c, const mq_message_queue *queue, int64_t *offset, mq_error *err)
{
    return queue_offset(c, queue, RC_GET_MIN_OFFSET, "min offset", offset, err);
}

int mq_pull_consumer_max_offset(mq_pull_consumer *c, const mq_message_queue *queue, int64_t *offset, mq_error *err)
{
    return queue_offset(c, queue, RC_GET_MAX_OFFSET, "max offset", offset, err);
}

int mq_pull_consumer_search_offset(mq_pull_consumer *c, const mq_message_queue *queue, int64_t timestamp_ms,
                                   int64_t *offset, mq_error *err)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__SearchOffsetRequestHeader s = MQ__SEARCH_OFFSET_REQUEST_HEADER__INIT;
    h.code = RC_SEARCH_OFFSET_BY_TIMESTAMP;
    s.topic = queue ? (char *)queue->topic : NULL;
    s.queueid = queue ? queue->queue_id : 0;
    s.has_queueid = 1;
    s.timestamp = timestamp_ms;
    s.has_timestamp = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_SEARCH_OFFSET;
    h.search_offset = &s;
    return offset_call(c, queue, &h, "search offset by timestamp", offset, err);
}
