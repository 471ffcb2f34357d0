/*
 * processor_client.c - requests about clients rather than messages:
 * HEART_BEAT (34), UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
 * GET_CONSUMER_CONNECTION_LIST (203), GET_PRODUCER_CONNECTION_LIST (204),
 * LOCK_BATCH_MQ (41), UNLOCK_BATCH_MQ (42).
 *
 * Loop thread. State lives in client_manager.c (membership) and
 * queue_lock.c (orderly locks); this file decodes, validates and answers.
 * A heartbeat of a clustering consumer also makes sure the group exists
 * (autoCreateSubscriptionGroup) and that its %RETRY% topic exists, as
 * RocketMQ does, so send-back has somewhere to go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.pb-c.h"
#include "broker_context.h"
#include "client_manager.h"
#include "log.h"
#include "processors.h"
#include "queue_lock.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "util.h"

#define RETRY_PREFIX "%RETRY%"

static void ensure_group_and_retry_topic(broker *b, const char *group)
{
    if (!b->groups || !b->topics)
        return;
    const group_config *g = group_table_ensure(b->groups, group);
    if (!g)
        return; /* auto-creation off and group unknown */
    if (g->retry_queue_nums <= 0)
        return;
    char retry[300];
    snprintf(retry, sizeof retry, "%s%s", RETRY_PREFIX, group);
    topic_table_ensure(b->topics, retry, g->retry_queue_nums, g->retry_queue_nums, PERM_READ | PERM_WRITE, 0);
}

static void on_heartbeat(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    char err[256];
    Mq__HeartbeatData *hb = (Mq__HeartbeatData *)rm_body_decode(c, req, &mq__heartbeat_data__descriptor, err, sizeof err);
    if (!hb) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "bad heartbeat body: %s", err);
        return;
    }
    for (size_t i = 0; i < hb->n_consumerdataset; i++) {
        const Mq__ConsumerData *cd = hb->consumerdataset[i];
        if (cd->groupname && *cd->groupname &&
            (!cd->messagemodel || strcmp(cd->messagemodel, "BROADCASTING") != 0))
            ensure_group_and_retry_topic(b, cd->groupname);
    }
    if (client_manager_heartbeat(b->clients, c, hb, req->hdr->language, req->hdr->version, err, sizeof err) != 0) {
        rm_reply_status(c, req, RS_SUBSCRIPTION_PARSE_FAILED, "heartbeat partly rejected: %s", err);
        return;
    }
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_unregister(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__UnregisterClientRequestHeader *h = req->hdr->unregister_client;
    if (!h->clientid || !*h->clientid) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "UNREGISTER_CLIENT without clientID");
        return;
    }
    client_manager_unregister(b->clients, h->clientid, h->producergroup, h->consumergroup);
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_consumer_list(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const char *group = req->hdr->consumer_group->consumergroup;
    if (!group || !*group) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "consumerGroup is required");
        return;
    }
    char **ids;
    size_t n = client_manager_consumer_ids(b->clients, group, &ids);
    if (n == 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "no consumer of group %s is online on %s", group, b->addr);
        return;
    }
    Mq__GetConsumerListByGroupResponseBody body = MQ__GET_CONSUMER_LIST_BY_GROUP_RESPONSE_BODY__INIT;
    body.n_consumeridlist = n;
    body.consumeridlist = ids;
    rm_reply_ok(c, req, &body.base);
    client_manager_ids_free(ids, n);
}

static void on_consumer_connections(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const char *group = req->hdr->consumer_group->consumergroup;
    Mq__ConsumerConnection cc;
    if (!group || !client_manager_connection_info(b->clients, group, &cc)) {
        rm_reply_status(c, req, RS_CONSUMER_NOT_ONLINE, "the consumer group %s is not online", group ? group : "");
        return;
    }
    rm_reply_ok(c, req, &cc.base);
    client_manager_connection_free(&cc);
}

static void on_producer_connections(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const char *group = req->hdr->get_producer_connection_list->producergroup;
    Mq__ProducerConnection pc;
    if (!group || !client_manager_producer_info(b->clients, group, &pc)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "the producer group[%s] not exist", group ? group : "");
        return;
    }
    rm_reply_ok(c, req, &pc.base);
    client_manager_producer_info_free(&pc);
}

static Mq__LockBatchRequestBody *decode_lock_body(rm_conn *c, const rm_cmd *req)
{
    char err[256];
    Mq__LockBatchRequestBody *body =
        (Mq__LockBatchRequestBody *)rm_body_decode(c, req, &mq__lock_batch_request_body__descriptor, err, sizeof err);
    if (!body) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "bad lock body: %s", err);
        return NULL;
    }
    if (!body->consumergroup || !*body->consumergroup || !body->clientid || !*body->clientid) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "lock request needs consumerGroup and clientId");
        return NULL;
    }
    return body;
}

static void on_lock_batch(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    Mq__LockBatchRequestBody *body = decode_lock_body(c, req);
    if (!body)
        return;
    int64_t now = mono_ms();
    Mq__MessageQueue **ok = xmalloc((body->n_mqset ? body->n_mqset : 1) * sizeof *ok);
    size_t n_ok = 0;
    for (size_t i = 0; i < body->n_mqset; i++) {
        Mq__MessageQueue *mq = body->mqset[i];
        if (!mq->topic)
            continue;
        if (queue_locks_try(b->locks, body->consumergroup, mq->topic, mq->queueid, body->clientid, now))
            ok[n_ok++] = mq;
    }
    Mq__LockBatchResponseBody resp = MQ__LOCK_BATCH_RESPONSE_BODY__INIT;
    resp.n_lockokmqset = n_ok;
    resp.lockokmqset = ok;
    rm_reply_ok(c, req, &resp.base);
    free(ok);
}

static void on_unlock_batch(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    Mq__LockBatchRequestBody *body = decode_lock_body(c, req);
    if (!body)
        return;
    for (size_t i = 0; i < body->n_mqset; i++) {
        Mq__MessageQueue *mq = body->mqset[i];
        if (mq->topic)
            queue_locks_release(b->locks, body->consumergroup, mq->topic, mq->queueid, body->clientid);
    }
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    broker *b = w->data;
    client_manager_expire(b->clients, b->cfg.client_channel_expired_time);
    queue_locks_expire(b->locks, mono_ms());
}

static ev_timer sweep_timer;

void processor_client_register(broker *b)
{
    b->clients = client_manager_new(b);
    b->locks = queue_locks_new(60000);
    rm_dispatch_on(b->dispatch, RC_HEART_BEAT, on_heartbeat, b);
    rm_dispatch_on(b->dispatch, RC_UNREGISTER_CLIENT, on_unregister, b);
    rm_dispatch_on(b->dispatch, RC_GET_CONSUMER_LIST_BY_GROUP, on_consumer_list, b);
    rm_dispatch_on(b->dispatch, RC_GET_CONSUMER_CONNECTION_LIST, on_consumer_connections, b);
    rm_dispatch_on(b->dispatch, RC_GET_PRODUCER_CONNECTION_LIST, on_producer_connections, b);
    rm_dispatch_on(b->dispatch, RC_LOCK_BATCH_MQ, on_lock_batch, b);
    rm_dispatch_on(b->dispatch, RC_UNLOCK_BATCH_MQ, on_unlock_batch, b);
    ev_timer_init(&sweep_timer, on_sweep, 10.0, 10.0);
    sweep_timer.data = b;
    ev_timer_start(b->loop, &sweep_timer);
}

void processor_client_conn_closed(broker *b, rm_conn *c)
{
    if (b->clients)
        client_manager_conn_closed(b->clients, c);
}

void processor_client_unregister(broker *b)
{
    ev_timer_stop(b->loop, &sweep_timer);
    client_manager_free(b->clients);
    b->clients = NULL;
    queue_locks_free(b->locks);
    b->locks = NULL;
}
