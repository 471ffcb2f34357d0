/*
 * admin_query.c - message lookups of the admin API (mq/admin_query.h):
 * by offset id (VIEW_MESSAGE_BY_ID to the broker the id names), by unique
 * id and by key (QUERY_MESSAGE to every master of the topic's route, which
 * answers from its RocksDB index), by queue offset and over ranges (pulls
 * without committing, as RocketMQ's tools do, under the group
 * TOOLS_CONSUMER).
 *
 * Answers are stored records back to back, decoded with the consumers'
 * code (mqc_msg_batch_decode); a list keeps a reference on every batch its
 * views point into. The index is hash-based, so answers are checked here
 * (the key really is among KEYS, the unique id really is UNIQ_KEY), as
 * RocketMQ's client does. Runs on the caller's thread; every request is a
 * blocking call through the handle's client runtime.
 */
#include "mq/admin_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "message.h"
#include "message_internal.h"
#include "mq/consumer.h"
#include "protocol.h"
#include "util.h"

enum { QUERY_BATCH_MAX = 64, PULL_BATCH = 32 };

#define TOOLS_GROUP "TOOLS_CONSUMER"

/* ---- lists ---- */

typedef struct list_priv {
    size_t n_batches;
    mqc_msg_batch **batches;
} list_priv;

static mq_message_list *list_new(void)
{
    mq_message_list *l = xcalloc(1, sizeof *l);
    l->priv_ = xcalloc(1, sizeof(list_priv));
    return l;
}

/* Takes over the caller's reference on b; adds the views keep() accepts. */
static void list_add_batch(mq_message_list *l, mqc_msg_batch *b, bool (*keep)(const mq_message_ext *, const void *),
                           const void *arg)
{
    list_priv *p = l->priv_;
    p->batches = xrealloc(p->batches, (p->n_batches + 1) * sizeof *p->batches);
    p->batches[p->n_batches++] = b;
    l->msgs = xrealloc(l->msgs, (l->n + (size_t)b->n + 1) * sizeof *l->msgs);
    for (int i = 0; i < b->n; i++)
        if (!keep || keep(&b->msgs[i], arg))
            l->msgs[l->n++] = &b->msgs[i];
}

void mq_message_list_free(mq_message_list *l)
{
    if (!l)
        return;
    list_priv *p = l->priv_;
    for (size_t i = 0; p && i < p->n_batches; i++)
        mqc_msg_batch_unref(p->batches[i]);
    if (p)
        free(p->batches);
    free(p);
    free(l->msgs);
    free(l);
}

static int cmp_msg(const void *x, const void *y)
{
    const mq_message_ext *a = *(const mq_message_ext *const *)x, *b = *(const mq_message_ext *const *)y;
    if (a->store_timestamp != b->store_timestamp)
        return a->store_timestamp < b->store_timestamp ? -1 : 1;
    int c = strcmp(a->batch->broker_name, b->batch->broker_name);
    if (c)
        return c;
    return a->commit_log_offset < b->commit_log_offset ? -1 : a->commit_log_offset > b->commit_log_offset;
}

/* Sorts l and hands it out, or frees it and says not found. */
static int list_finish(mq_message_list *l, mq_message_list **out, mq_error *err, const char *what)
{
    if (l->n == 0) {
        mq_message_list_free(l);
        mqc_error_set(err, MQ_ENOTFOUND, "%s: not found", what);
        return MQ_ENOTFOUND;
    }
    qsort(l->msgs, l->n, sizeof *l->msgs, cmp_msg);
    *out = l;
    return MQ_OK;
}

/* ---- helpers ---- */

static bool check_arg(const char *what, const char *v, mq_error *err)
{
    if (v && *v)
        return true;
    mqc_error_set(err, MQ_EINVAL, "no %s given", what);
    return false;
}

/* The master (else the lowest id) address of broker group b. */
static const char *broker_addr(const mq_broker_info *b)
{
    return b->n_addrs ? b->addrs[0].addr : NULL; /* sorted by id: the master first */
}

/* Sends h to addr; on SUCCESS decodes the body into a batch of broker_name
 * (*out), on not-found statuses sets *out NULL and returns MQ_OK. */
static int fetch_records(mq_admin *a, const char *addr, const char *broker_name, Mq__RemotingHeader *h,
                         const char *what, mqc_msg_batch **out, mq_error *err)
{
    *out = NULL;
    mqc_response r;
    int rc = mqc_invoke_sync(a->inst, addr, h, NULL, 0, a->timeout_ms, &r, err);
    if (rc != MQ_OK)
        return rc;
    if (r.code == RS_QUERY_NOT_FOUND) {
        mqc_response_free(&r);
        return MQ_OK;
    }
    if (r.code != RS_SUCCESS) {
        mqc_error_from_response(err, what, &r);
        mqc_response_free(&r);
        return MQ_EBROKER;
    }
    rc = mqc_msg_batch_decode(r.body, r.body_len, broker_name, NULL, out, err);
    mqc_response_free(&r);
    return rc;
}

/* ---- by offset id ---- */

/* Finds the broker group whose addresses include addr. */
static const mq_broker_info *broker_by_addr(const mq_cluster_info *ci, const char *addr)
{
    for (size_t i = 0; i < ci->n_brokers; i++)
        for (size_t k = 0; k < ci->brokers[i].n_addrs; k++)
            if (!strcmp(ci->brokers[i].addrs[k].addr, addr))
                return &ci->brokers[i];
    return NULL;
}

/* Decodes an offset id into "ip:port" and the offset; false if it is not one. */
static bool decode_offset_id(const char *id, char *addr, size_t cap, int64_t *offset)
{
    msg_host host;
    if (msg_offset_id_decode(id, strlen(id), &host, offset) != 0)
        return false;
    return msg_host_format(&host, addr, cap) > 0;
}

/* VIEW_MESSAGE_BY_ID to a known broker. *found false if it has no such record. */
static int view_at(mq_admin *a, const mq_broker_info *b, const char *addr, int64_t offset, mq_message_list *l,
                   mq_error *err)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__ViewMessageRequestHeader v = MQ__VIEW_MESSAGE_REQUEST_HEADER__INIT;
    h.code = RC_VIEW_MESSAGE_BY_ID;
    v.offset = offset;
    v.has_offset = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_VIEW_MESSAGE;
    h.view_message = &v;
    mqc_msg_batch *batch;
    int rc = fetch_records(a, addr, b->broker_name, &h, "view message", &batch, err);
    if (rc == MQ_EBROKER && err && err->status == RS_SYSTEM_ERROR)
        return MQ_OK; /* the broker has no record there */
    if (rc == MQ_OK && batch)
        list_add_batch(l, batch, NULL, NULL);
    return rc;
}

static int view_known(mq_admin *a, const char *id, const mq_cluster_info *ci, bool *known, mq_message_list *l,
                      mq_error *err)
{
    char addr[ADDR_TEXT_MAX];
    int64_t offset;
    *known = false;
    if (!decode_offset_id(id, addr, sizeof addr, &offset))
        return MQ_OK;
    const mq_broker_info *b = broker_by_addr(ci, addr);
    if (!b)
        return MQ_OK;
    *known = true;
    return view_at(a, b, addr, offset, l, err);
}

int mq_admin_view_message(mq_admin *a, const char *id, mq_message_list **out, mq_error *err)
{
    if (!check_arg("message id", id, err))
        return MQ_EINVAL;
    char addr[ADDR_TEXT_MAX];
    int64_t offset;
    if (!decode_offset_id(id, addr, sizeof addr, &offset)) {
        mqc_error_set(err, MQ_EINVAL, "'%s' is not an offset message id (32 or 56 hex characters)", id);
        return MQ_EINVAL;
    }
    mq_cluster_info *ci;
    int rc = mq_admin_cluster_info(a, &ci, err);
    if (rc != MQ_OK)
        return rc;
    const mq_broker_info *b = broker_by_addr(ci, addr);
    mq_broker_info unknown = {.broker_name = addr};
    mq_message_list *l = list_new();
    rc = view_at(a, b ? b : &unknown, addr, offset, l, err);
    mq_cluster_info_free(ci);
    if (rc != MQ_OK) {
        mq_message_list_free(l);
        return rc;
    }
    char what[160];
    snprintf(what, sizeof what, "message %s (offset %lld on %s)", id, (long long)offset, addr);
    return list_finish(l, out, err, what);
}

/* ---- by index (key or unique id) ---- */

typedef struct index_query {
    const char *topic;
    const char *key;
    bool unique;
    int64_t begin_ms, end_ms;
    int max;
} index_query;

static bool has_key(const mq_message_ext *m, const void *arg)
{
    const index_query *q = arg;
    if (q->unique) {
        const char *u = mq_message_ext_property(m, MSG_PROP_UNIQ_KEY);
        return u && !strcmp(u, q->key);
    }
    size_t klen = strlen(q->key);
    for (const char *k = m->keys; *k;) {
        size_t n = strcspn(k, " ");
        if (n == klen && !memcmp(k, q->key, n))
            return m->store_timestamp >= q->begin_ms && m->store_timestamp <= q->end_ms;
        k += n;
        k += strspn(k, " ");
    }
    return false;
}

/* QUERY_MESSAGE to the master of every broker group of the topic's route. */
static int query_index(mq_admin *a, const index_query *q, mq_message_list *l, mq_error *err)
{
    mq_topic_route *route;
    int rc = mq_admin_topic_route(a, q->topic, &route, err);
    if (rc != MQ_OK)
        return rc;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__QueryMessageRequestHeader qh = MQ__QUERY_MESSAGE_REQUEST_HEADER__INIT;
    h.code = RC_QUERY_MESSAGE;
    qh.topic = (char *)q->topic;
    qh.key = (char *)q->key;
    qh.maxnum = q->max;
    qh.has_maxnum = 1;
    qh.begintimestamp = q->begin_ms;
    qh.has_begintimestamp = 1;
    qh.endtimestamp = q->end_ms;
    qh.has_endtimestamp = 1;
    qh._unique_key_query = q->unique;
    qh.has__unique_key_query = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_QUERY_MESSAGE;
    h.query_message = &qh;
    int answered = 0;
    mq_error first = {0};
    for (size_t i = 0; i < route->n_brokers; i++) {
        const char *addr = broker_addr(&route->brokers[i]);
        if (!addr)
            continue;
        mqc_msg_batch *batch;
        mq_error e = {0};
        int r = fetch_records(a, addr, route->brokers[i].broker_name, &h, "query message", &batch, &e);
        if (r != MQ_OK) {
            if (first.code == 0)
                first = e;
            continue; /* one broker down must not hide what the others have */
        }
        answered++;
        if (batch)
            list_add_batch(l, batch, has_key, q);
    }
    mq_topic_route_free(route);
    if (answered == 0 && first.code != 0) {
        if (err)
            *err = first;
        return first.code;
    }
    return MQ_OK;
}

static int run_index_query(mq_admin *a, const index_query *q, const char *what, mq_message_list **out,
                           mq_error *err)
{
    mq_message_list *l = list_new();
    int rc = query_index(a, q, l, err);
    if (rc != MQ_OK) {
        mq_message_list_free(l);
        return rc;
    }
    return list_finish(l, out, err, what);
}

int mq_admin_query_unique_key(mq_admin *a, const char *topic, const char *id, mq_message_list **out,
                              mq_error *err)
{
    if (!check_arg("topic", topic, err) || !check_arg("unique id", id, err))
        return MQ_EINVAL;
    index_query q = {topic, id, true, 0, INT64_MAX, QUERY_BATCH_MAX};
    char what[400];
    snprintf(what, sizeof what, "message with unique id %s in topic %s", id, topic);
    return run_index_query(a, &q, what, out, err);
}

int mq_admin_query_msg_id(mq_admin *a, const char *topic, const char *id, mq_message_list **out, mq_error *err)
{
    if (!check_arg("message id", id, err))
        return MQ_EINVAL;
    mq_cluster_info *ci;
    int rc = mq_admin_cluster_info(a, &ci, err);
    if (rc != MQ_OK)
        return rc;
    bool known;
    char addr[ADDR_TEXT_MAX];
    int64_t offset;
    bool decodes = decode_offset_id(id, addr, sizeof addr, &offset);
    mq_message_list *l = list_new();
    rc = view_known(a, id, ci, &known, l, err);
    mq_cluster_info_free(ci);
    if (rc != MQ_OK || l->n > 0) {
        if (rc != MQ_OK)
            mq_message_list_free(l);
        else
            *out = l;
        return rc;
    }
    mq_message_list_free(l);
    if (!topic || !*topic) {
        if (known)
            mqc_error_set(err, MQ_ENOTFOUND,
                          "message %s: not found at the offset it names; give -t TOPIC to look it up as a unique id", id);
        else if (decodes)
            mqc_error_set(err, MQ_EINVAL,
                          "%s names no broker the nameservers know (%s), so it is no offset id here; give -t TOPIC "
                          "to look it up as a unique id", id, addr);
        else
            mqc_error_set(err, MQ_EINVAL, "'%s' is not an offset id; give -t TOPIC to look it up as a unique id", id);
        return known ? MQ_ENOTFOUND : MQ_EINVAL;
    }
    return mq_admin_query_unique_key(a, topic, id, out, err);
}

int mq_admin_query_key(mq_admin *a, const char *topic, const char *key, int64_t begin_ms, int64_t end_ms,
                       int max_per_broker, mq_message_list **out, mq_error *err)
{
    if (!check_arg("topic", topic, err) || !check_arg("key", key, err))
        return MQ_EINVAL;
    if (max_per_broker < 0 || max_per_broker > QUERY_BATCH_MAX || begin_ms > end_ms) {
        mqc_error_set(err, MQ_EINVAL, "query by key: max must be 0..%d and begin <= end", QUERY_BATCH_MAX);
        return MQ_EINVAL;
    }
    index_query q = {topic, key, false, begin_ms, end_ms, max_per_broker ? max_per_broker : QUERY_BATCH_MAX};
    char what[400];
    snprintf(what, sizeof what, "message with key %s in topic %s%s", key, topic,
             begin_ms > 0 || end_ms < INT64_MAX ? " in that time range" : "");
    return run_index_query(a, &q, what, out, err);
}

/* ---- by queue offset and ranges: pulls that commit nothing ---- */

static int tools_consumer(mq_admin *a, mq_pull_consumer **out, mq_error *err)
{
    char list[MQ_ADMIN_MAX_NAMESRV * (ADDR_TEXT_MAX + 1)] = "";
    size_t n = 0;
    for (int i = 0; i < a->namesrv_count; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ";" : "", a->namesrv[i]);
    mq_pull_consumer_options o;
    mq_pull_consumer_options_init(&o);
    o.request_timeout_ms = a->timeout_ms;
    int rc = mq_pull_consumer_new(TOOLS_GROUP, list, &o, out, err);
    if (rc == MQ_OK && (rc = mq_pull_consumer_start(*out, err)) != MQ_OK) {
        mq_pull_consumer_destroy(*out);
        *out = NULL;
    }
    return rc;
}

static void queue_set(mq_message_queue *q, const char *topic, const char *broker_name, int32_t queue_id)
{
    memset(q, 0, sizeof *q);
    str_copy(q->topic, sizeof q->topic, topic);
    str_copy(q->broker_name, sizeof q->broker_name, broker_name);
    q->queue_id = queue_id;
}

int mq_admin_query_offset(mq_admin *a, const char *topic, const char *broker_name, int32_t queue_id,
                          int64_t offset, mq_message_list **out, mq_error *err)
{
    if (!check_arg("topic", topic, err) || !check_arg("broker name", broker_name, err))
        return MQ_EINVAL;
    if (queue_id < 0 || offset < 0) {
        mqc_error_set(err, MQ_EINVAL, "queue id and offset must not be negative");
        return MQ_EINVAL;
    }
    mq_pull_consumer *pc;
    int rc = tools_consumer(a, &pc, err);
    if (rc != MQ_OK)
        return rc;
    mq_message_queue q;
    queue_set(&q, topic, broker_name, queue_id);
    mq_pull_result r;
    rc = mq_pull_consumer_pull(pc, &q, "*", offset, 1, 0, &r, err);
    mq_message_list *l = list_new();
    if (rc == MQ_OK && r.status == MQ_PULL_FOUND && r.msgs[0]->queue_offset == offset) {
        mqc_msg_batch *b = r.priv_;
        mqc_msg_batch_ref(b, 1);
        list_add_batch(l, b, NULL, NULL);
    }
    mq_pull_consumer_destroy(pc);
    if (rc != MQ_OK) {
        mq_message_list_free(l);
        return rc;
    }
    char what[400];
    snprintf(what, sizeof what, "offset %lld of %s/%s/%d (the queue holds [%lld, %lld))", (long long)offset, topic,
             broker_name, queue_id, (long long)r.min_offset, (long long)r.max_offset);
    mq_pull_result_destroy(&r);
    return list_finish(l, out, err, what);
}

void mq_message_range_init(mq_message_range *r)
{
    memset(r, 0, sizeof *r);
    r->queue_id = -1;
    r->end_ms = INT64_MAX;
    r->from_offset = -1;
    r->to_offset = -1;
}

/* Walks one queue. Returns MQ_OK, the first error, or 1 when fn or the
 * limit stopped the walk. */
static int read_queue(mq_pull_consumer *pc, const mq_message_queue *q, const mq_message_range *rg, mq_message_fn fn,
                      void *arg, size_t *count, mq_error *err)
{
    int64_t from, to;
    int rc = mq_pull_consumer_max_offset(pc, q, &to, err);
    if (rc != MQ_OK)
        return rc;
    if (rg->to_offset >= 0 && rg->to_offset < to)
        to = rg->to_offset;
    if (rg->from_offset >= 0)
        from = rg->from_offset;
    else if (rg->begin_ms > 0)
        rc = mq_pull_consumer_search_offset(pc, q, rg->begin_ms, &from, err);
    else
        rc = mq_pull_consumer_min_offset(pc, q, &from, err);
    if (rc != MQ_OK)
        return rc;
    while (from < to) {
        mq_pull_result r;
        int n = to - from < PULL_BATCH ? (int)(to - from) : PULL_BATCH;
        if ((rc = mq_pull_consumer_pull(pc, q, rg->tags, from, n, 0, &r, err)) != MQ_OK)
            return rc;
        int64_t next = r.next_begin_offset;
        int stop = 0;
        if (r.status == MQ_PULL_OFFSET_ILLEGAL && from < r.min_offset)
            next = r.min_offset; /* retention removed the start: go on from what is stored */
        else if (r.status == MQ_PULL_NO_NEW_MSG || r.status == MQ_PULL_OFFSET_ILLEGAL)
            stop = 2;
        for (int i = 0; i < r.n && !stop; i++) {
            const mq_message_ext *m = r.msgs[i];
            if (m->queue_offset >= to || m->store_timestamp > rg->end_ms)
                stop = 2; /* store times grow along a queue */
            else if (m->store_timestamp >= rg->begin_ms) {
                (*count)++;
                if (fn(m, arg) != 0 || (rg->max_messages && *count >= rg->max_messages))
                    stop = 1;
            }
        }
        mq_pull_result_destroy(&r);
        if (stop == 1)
            return 1;
        if (stop || next <= from)
            break;
        from = next;
    }
    return MQ_OK;
}

int mq_admin_read_messages(mq_admin *a, const char *topic, const mq_message_range *rg, mq_message_fn fn, void *arg,
                           size_t *count, mq_error *err)
{
    size_t dummy = 0;
    if (!count)
        count = &dummy;
    *count = 0;
    if (!check_arg("topic", topic, err))
        return MQ_EINVAL;
    bool one_queue = rg->broker_name && *rg->broker_name && rg->queue_id >= 0;
    if ((rg->from_offset >= 0 || rg->to_offset >= 0) && !one_queue) {
        mqc_error_set(err, MQ_EINVAL, "an offset range needs one queue (broker name and queue id)");
        return MQ_EINVAL;
    }
    if (rg->begin_ms > rg->end_ms) {
        mqc_error_set(err, MQ_EINVAL, "the time range ends before it begins");
        return MQ_EINVAL;
    }
    mq_pull_consumer *pc;
    int rc = tools_consumer(a, &pc, err);
    if (rc != MQ_OK)
        return rc;
    mq_message_queue *qs = NULL;
    int nq = 0;
    rc = mq_pull_consumer_fetch_queues(pc, topic, &qs, &nq, err);
    int matched = 0;
    for (int i = 0; rc == MQ_OK && i < nq; i++) {
        if (rg->broker_name && *rg->broker_name && strcmp(qs[i].broker_name, rg->broker_name) != 0)
            continue;
        if (rg->queue_id >= 0 && qs[i].queue_id != rg->queue_id)
            continue;
        matched++;
        rc = read_queue(pc, &qs[i], rg, fn, arg, count, err);
    }
    if (rc == 1)
        rc = MQ_OK;
    if (rc == MQ_OK && matched == 0) {
        mqc_error_set(err, MQ_ENOTFOUND, "topic %s has no readable queue%s%s%s", topic,
                      rg->broker_name && *rg->broker_name ? " on broker " : "",
                      rg->broker_name ? rg->broker_name : "", rg->queue_id >= 0 ? " with that id" : "");
        rc = MQ_ENOTFOUND;
    }
    mq_free(qs);
    mq_pull_consumer_destroy(pc);
    return rc;
}
