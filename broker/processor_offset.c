/*
 * processor_offset.c - offsets: QUERY_CONSUMER_OFFSET (14),
 * UPDATE_CONSUMER_OFFSET (15), SEARCH_OFFSET_BY_TIMESTAMP (29),
 * GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32),
 * GET_CONSUME_STATS (208), GET_TOPIC_STATS_INFO (202).
 *
 * Loop thread. Where we differ from RocketMQ, on purpose (SPEC section 12):
 * QUERY_CONSUMER_OFFSET for a queue the group never committed answers
 * QUERY_NOT_FOUND, always. RocketMQ answers 0 when the queue's first message
 * is still "in memory", so a new group configured to start from the last
 * offset replays a young topic from the beginning; here the client's
 * consumeFromWhere decides, every time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "body.pb-c.h"
#include "broker_context.h"
#include "client_manager.h"
#include "consumer_offset.h"
#include "pull_hold.h"
#include "processors.h"
#include "store/store.h"
#include "topic_config.h"
#include "util.h"

static void reply_offset(rm_conn *c, const rm_cmd *req, int64_t offset)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__OffsetResponseHeader r = MQ__OFFSET_RESPONSE_HEADER__INIT;
    h.code = RS_SUCCESS;
    r.offset = offset;
    r.has_offset = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE;
    h.offset_response = &r;
    rm_reply(c, req, &h, NULL, 0);
}

static bool need_topic(rm_conn *c, const rm_cmd *req, const char *topic)
{
    if (!topic || !*topic) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s needs a topic", rm_code_name(req->hdr->code));
        return false;
    }
    return true;
}

static void on_query_consumer_offset(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__QueryConsumerOffsetRequestHeader *h = req->hdr->query_consumer_offset;
    if (!need_topic(c, req, h->topic))
        return;
    if (!h->consumergroup || !*h->consumergroup) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "QUERY_CONSUMER_OFFSET needs consumerGroup");
        return;
    }
    int64_t offset;
    if (offset_manager_query(b->offsets, h->consumergroup, h->topic, h->queueid, &offset)) {
        reply_offset(c, req, offset);
        return;
    }
    rm_reply_status(c, req, RS_QUERY_NOT_FOUND, "group %s has no committed offset for %s queue %d",
                    h->consumergroup, h->topic, h->queueid);
}

static void on_update_consumer_offset(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__UpdateConsumerOffsetRequestHeader *h = req->hdr->update_consumer_offset;
    if (!need_topic(c, req, h->topic))
        return;
    if (!h->consumergroup || !*h->consumergroup) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "UPDATE_CONSUMER_OFFSET needs consumerGroup");
        return;
    }
    offset_manager_commit(b->offsets, h->consumergroup, h->topic, h->queueid, h->commitoffset);
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_min_max(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__QueueRequestHeader *h = req->hdr->queue;
    if (!need_topic(c, req, h->topic))
        return;
    int64_t min, max;
    store_queue_offsets(b->store, h->topic, h->queueid, &min, &max);
    reply_offset(c, req, req->hdr->code == RC_GET_MAX_OFFSET ? max : min);
}

static void on_search_offset(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__SearchOffsetRequestHeader *h = req->hdr->search_offset;
    if (!need_topic(c, req, h->topic))
        return;
    store_boundary boundary = STORE_BOUNDARY_LOWER;
    if (h->boundarytype && strcasecmp(h->boundarytype, "UPPER") == 0)
        boundary = STORE_BOUNDARY_UPPER;
    int64_t offset = 0;
    int rc = store_search_offset_by_time(b->store, h->topic, h->queueid, h->timestamp, boundary, &offset);
    if (rc < 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "search by time failed: %s", store_strerror(rc));
        return;
    }
    reply_offset(c, req, offset);
}

static void on_earliest_time(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__QueueRequestHeader *h = req->hdr->queue;
    if (!need_topic(c, req, h->topic))
        return;
    int64_t ts = -1;
    int rc = store_earliest_message_time(b->store, h->topic, h->queueid, &ts);
    if (rc == STORE_ERR_NOT_FOUND) {
        ts = -1; /* an empty or unknown queue: RocketMQ answers SUCCESS with -1 */
    } else if (rc < 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "earliest message time of %s queue %d: %s", h->topic, h->queueid,
                        store_strerror(rc));
        return;
    }
    Mq__RemotingHeader rh = MQ__REMOTING_HEADER__INIT;
    Mq__TimestampResponseHeader r = MQ__TIMESTAMP_RESPONSE_HEADER__INIT;
    rh.code = RS_SUCCESS;
    r.timestamp = ts;
    r.has_timestamp = 1;
    rh.ext_case = MQ__REMOTING_HEADER__EXT_TIMESTAMP_RESPONSE;
    rh.timestamp_response = &r;
    rm_reply(c, req, &rh, NULL, 0);
}

/* Fills a MessageQueue owned by the caller's arrays. */
static void set_mq(Mq__MessageQueue *mq, const char *topic, const char *broker_name, int32_t qid)
{
    mq__message_queue__init(mq);
    mq->topic = (char *)topic;
    mq->brokername = (char *)broker_name;
    mq->queueid = qid;
    mq->has_queueid = 1;
}

static void on_consume_stats(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__GetConsumeStatsRequestHeader *h = req->hdr->get_consume_stats;
    if (!h->consumergroup || !*h->consumergroup) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "GET_CONSUME_STATS needs consumerGroup");
        return;
    }
    char **topics;
    size_t nt;
    if (h->topic && *h->topic) {
        topics = xmalloc(sizeof *topics);
        topics[0] = xstrdup(h->topic);
        nt = 1;
    } else {
        nt = offset_manager_topics_of(b->offsets, h->consumergroup, &topics);
    }
    size_t cap = 16, n = 0;
    Mq__QueueOffsetEntry **entries = xmalloc(cap * sizeof *entries);
    for (size_t t = 0; t < nt; t++) {
        const topic_config *tc = topic_table_find(b->topics, topics[t]);
        if (!tc)
            continue;
        for (int32_t q = 0; q < tc->read_queue_nums; q++) {
            int64_t min, max, consumer = 0, last = 0;
            store_queue_offsets(b->store, topics[t], q, &min, &max);
            if (!offset_manager_query(b->offsets, h->consumergroup, topics[t], q, &consumer))
                consumer = 0;
            if (consumer > 0)
                store_offset_store_time(b->store, topics[t], q, consumer - 1, &last);
            if (n == cap) {
                cap *= 2;
                entries = xrealloc(entries, cap * sizeof *entries);
            }
            Mq__QueueOffsetEntry *e = xmalloc(sizeof *e + sizeof(Mq__MessageQueue) + sizeof(Mq__OffsetWrapper));
            Mq__MessageQueue *mq = (Mq__MessageQueue *)(e + 1);
            Mq__OffsetWrapper *ow = (Mq__OffsetWrapper *)(mq + 1);
            mq__queue_offset_entry__init(e);
            set_mq(mq, topics[t], b->cfg.broker_name, q);
            mq__offset_wrapper__init(ow);
            ow->brokeroffset = max;
            ow->has_brokeroffset = 1;
            ow->consumeroffset = consumer;
            ow->has_consumeroffset = 1;
            ow->lasttimestamp = last;
            ow->has_lasttimestamp = 1;
            e->mq = mq;
            e->offset = ow;
            entries[n++] = e;
        }
    }
    Mq__ConsumeStats stats = MQ__CONSUME_STATS__INIT;
    stats.n_offsettable = n;
    stats.offsettable = entries;
    rm_reply_ok(c, req, &stats.base);
    for (size_t i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
    for (size_t t = 0; t < nt; t++)
        free(topics[t]);
    free(topics);
}

static void on_topic_stats(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const char *topic = req->hdr->topic->topic;
    if (!need_topic(c, req, topic))
        return;
    const topic_config *tc = topic_table_find(b->topics, topic);
    if (!tc) {
        rm_reply_status(c, req, RS_TOPIC_NOT_EXIST, "topic[%s] not exist", topic);
        return;
    }
    int32_t n = tc->write_queue_nums > tc->read_queue_nums ? tc->write_queue_nums : tc->read_queue_nums;
    Mq__TopicOffsetEntry **entries = xmalloc((size_t)(n ? n : 1) * sizeof *entries);
    for (int32_t q = 0; q < n; q++) {
        Mq__TopicOffsetEntry *e = xmalloc(sizeof *e + sizeof(Mq__MessageQueue) + sizeof(Mq__TopicOffset));
        Mq__MessageQueue *mq = (Mq__MessageQueue *)(e + 1);
        Mq__TopicOffset *to = (Mq__TopicOffset *)(mq + 1);
        mq__topic_offset_entry__init(e);
        set_mq(mq, topic, b->cfg.broker_name, q);
        mq__topic_offset__init(to);
        int64_t min, max, last = 0;
        store_queue_offsets(b->store, topic, q, &min, &max);
        if (max > 0)
            store_queue_last_store_time(b->store, topic, q, &last);
        to->minoffset = min;
        to->has_minoffset = 1;
        to->maxoffset = max;
        to->has_maxoffset = 1;
        to->lastupdatetimestamp = last;
        to->has_lastupdatetimestamp = 1;
        e->mq = mq;
        e->offset = to;
        entries[q] = e;
    }
    Mq__TopicStatsTable table = MQ__TOPIC_STATS_TABLE__INIT;
    table.n_offsettable = (size_t)n;
    table.offsettable = entries;
    rm_reply_ok(c, req, &table.base);
    for (int32_t q = 0; q < n; q++)
        free(entries[q]);
    free(entries);
}

/* INVOKE_BROKER_TO_RESET_OFFSET (222): by time for every queue of the
 * topic (timestamp -1: to the end), or to an exact offset for one queue
 * (queueId + offset). Works whether the group's consumers are online or
 * not: the committed offsets change here, and a pending reset per queue
 * redirects the group's next pull (see consumer_offset.h). Online
 * consumers are also sent RESET_CONSUMER_CLIENT_OFFSET (220), as RocketMQ
 * 4.x brokers do, for clients that act on it. Without isForce only
 * rewinds are applied (RocketMQ's rule). */
static void on_reset_offset(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__ResetOffsetRequestHeader *h = req->hdr->reset_offset;
    if (!need_topic(c, req, h->topic))
        return;
    if (!h->group || !*h->group) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "reset offset needs a group");
        return;
    }
    const topic_config *tc = topic_table_find(b->topics, h->topic);
    if (!tc) {
        rm_reply_status(c, req, RS_TOPIC_NOT_EXIST, "topic[%s] not exist on broker %s", h->topic, b->cfg.broker_name);
        return;
    }
    bool exact = h->has_queueid && h->queueid >= 0 && h->has_offset;
    if (exact && h->queueid >= tc->read_queue_nums) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "queueId %d is illegal: topic %s has %d read queues", h->queueid,
                        h->topic, tc->read_queue_nums);
        return;
    }
    bool force = !h->has_isforce || h->isforce;
    int32_t first = exact ? h->queueid : 0, last = exact ? h->queueid : tc->read_queue_nums - 1;
    size_t n = 0;
    Mq__MessageQueueOffset *items = xcalloc((size_t)(last - first + 1), sizeof *items);
    Mq__MessageQueue *mqs = xcalloc((size_t)(last - first + 1), sizeof *mqs);
    Mq__MessageQueueOffset **ptrs = xcalloc((size_t)(last - first + 1), sizeof *ptrs);
    for (int32_t q = first; q <= last; q++) {
        int64_t min, max, target;
        store_queue_offsets(b->store, h->topic, q, &min, &max);
        if (exact) {
            if (h->offset < min || h->offset > max) {
                rm_reply_status(c, req, RS_SYSTEM_ERROR, "offset %lld is outside queue %d's range [%lld, %lld]",
                                (long long)h->offset, q, (long long)min, (long long)max);
                goto out;
            }
            target = h->offset;
        } else if (h->timestamp < 0) {
            target = max;
        } else if (store_search_offset_by_time(b->store, h->topic, q, h->timestamp, STORE_BOUNDARY_LOWER, &target) < 0) {
            continue;
        }
        int64_t current;
        if (!force && offset_manager_query(b->offsets, h->group, h->topic, q, &current) && current <= target)
            continue; /* not forced: only move back */
        offset_manager_reset(b->offsets, h->group, h->topic, q, target);
        if (b->pull_hold)
            pull_hold_kick(b->pull_hold, h->topic, q);
        set_mq(&mqs[n], h->topic, b->cfg.broker_name, q);
        mq__message_queue_offset__init(&items[n]);
        items[n].mq = &mqs[n];
        items[n].offset = target;
        items[n].has_offset = 1;
        ptrs[n] = &items[n];
        n++;
    }
    offset_manager_persist(b->offsets);
    {
        Mq__ResetOffsetBody body = MQ__RESET_OFFSET_BODY__INIT;
        body.n_offsettable = n;
        body.offsettable = ptrs;
        /* Tell online consumers too (oneway; our pull redirect does not depend on it). */
        rm_conn *conns[64];
        size_t nc = b->clients ? client_manager_consumer_conns(b->clients, h->group, conns, 64) : 0;
        for (size_t i = 0; i < nc; i++) { /* the body in each consumer's own encoding (JSON for RocketMQ's) */
            Mq__RemotingHeader rh = MQ__REMOTING_HEADER__INIT;
            Mq__ResetOffsetRequestHeader x = MQ__RESET_OFFSET_REQUEST_HEADER__INIT;
            rh.code = RC_RESET_CONSUMER_CLIENT_OFFSET;
            x.topic = h->topic;
            x.group = h->group;
            x.timestamp = h->timestamp;
            x.has_timestamp = 1;
            rh.ext_case = MQ__REMOTING_HEADER__EXT_RESET_OFFSET;
            rh.reset_offset = &x;
            rm_oneway_msg(conns[i], &rh, &body.base);
        }
        rm_reply_ok(c, req, &body.base);
    }
out:
    free(items);
    free(mqs);
    free(ptrs);
}

void processor_offset_register(broker *b)
{
    rm_dispatch_on(b->dispatch, RC_INVOKE_BROKER_TO_RESET_OFFSET, on_reset_offset, b);
    rm_dispatch_on(b->dispatch, RC_QUERY_CONSUMER_OFFSET, on_query_consumer_offset, b);
    rm_dispatch_on(b->dispatch, RC_UPDATE_CONSUMER_OFFSET, on_update_consumer_offset, b);
    rm_dispatch_on(b->dispatch, RC_SEARCH_OFFSET_BY_TIMESTAMP, on_search_offset, b);
    rm_dispatch_on(b->dispatch, RC_GET_MAX_OFFSET, on_min_max, b);
    rm_dispatch_on(b->dispatch, RC_GET_MIN_OFFSET, on_min_max, b);
    rm_dispatch_on(b->dispatch, RC_GET_EARLIEST_MSG_STORETIME, on_earliest_time, b);
    rm_dispatch_on(b->dispatch, RC_GET_CONSUME_STATS, on_consume_stats, b);
    rm_dispatch_on(b->dispatch, RC_GET_TOPIC_STATS_INFO, on_topic_stats, b);
}

void processor_offset_unregister(broker *b)
{
    offset_manager_free(b->offsets);
    b->offsets = NULL;
}
