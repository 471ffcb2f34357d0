/*
 * processor_pull.c - PULL_MESSAGE (11): read a queue from an offset, filter
 * by tag hash, answer with the stored records as they are on disk.
 *
 * Loop thread. The answer's body is the CommitLog records themselves,
 * queued as zero-copy iovecs that point into the mapped segments; the
 * store pin keeps those segments mapped until the transport has written
 * them (its release callback frees the pin). Adjacent records are merged
 * into one iovec.
 *
 * Nothing to return and the request allows suspension: the pull is parked
 * in pull_hold (long polling) with a copy of what it needs, and retried when
 * the dispatcher reports new entries for its queue, or answered
 * PULL_NOT_FOUND when its suspend time is over. Statuses follow RocketMQ's
 * PullMessageProcessor (docs/PROTOCOL.md "Pull statuses and long polling").
 *
 * Reads from slaves (RocketMQ's suggestWhichBrokerId): with slaveReadEnable,
 * an answer whose last record leaves more than accessMessageInMemoryMaxRatio
 * % of physical memory of CommitLog unread behind it suggests the group's
 * whichBrokerWhenConsumeSlowly (the consumer is reading cold data: let a
 * slave's page cache serve it); otherwise the group's brokerId (0, the
 * master). Without slaveReadEnable the suggestion is always 0. A slave
 * serves pulls either way (better than RocketMQ, whose slave refuses them
 * without slaveReadEnable: consumers that lost the master keep reading) and
 * never moves a consumer ahead of what it has copied: an offset at or past
 * its queue's end is held and answered PULL_NOT_FOUND at that same offset,
 * since the master has the messages and the slave will too.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_context.h"
#include "client_manager.h"
#include "consumer_offset.h"
#include "log.h"
#include "processors.h"
#include "pull_hold.h"
#include "store/store.h"
#include "subscription.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "util.h"

enum {
    MAX_PULL_COUNT = 1024,      /* hard cap on maxMsgNums */
    MAX_SUSPEND_MS = 60000,     /* longest hold honoured */
};

/* What a pull needs after its request buffer is gone (held pulls). */
typedef struct pull_ctx {
    broker *b;
    rm_reply_to to;
    char *group;
    char *topic;
    int32_t queue_id;
    int64_t offset;
    int32_t max_count;
    int32_t sysflag;
    mq_subscription sub;
    int64_t deadline_ms; /* mono; 0 = may not suspend */
    int64_t broker_id;   /* the group's brokerId and whichBrokerWhenConsumeSlowly */
    int64_t which_slow;
} pull_ctx;

static void ctx_free(pull_ctx *p)
{
    rm_reply_to_drop(&p->to);
    free(p->group);
    free(p->topic);
    mq_subscription_free(&p->sub);
    free(p);
}

static bool cq_filter(void *arg, int64_t tag_code)
{
    return mq_subscription_match_code(arg, tag_code);
}

typedef struct pin_box {
    store_pin pin;
} pin_box;

static void release_pin(void *arg)
{
    pin_box *box = arg;
    store_pin_release(&box->pin);
    free(box);
}

static int32_t map_status(store_get_status s, int64_t requested)
{
    switch (s) {
    case STORE_GET_FOUND: return RS_SUCCESS;
    case STORE_GET_NO_MATCHED_MESSAGE:
    case STORE_GET_MESSAGE_WAS_REMOVING: return RS_PULL_RETRY_IMMEDIATELY;
    case STORE_GET_NO_MESSAGE_IN_QUEUE:
    case STORE_GET_NO_MATCHED_LOGIC_QUEUE: return requested != 0 ? RS_PULL_OFFSET_MOVED : RS_PULL_NOT_FOUND;
    case STORE_GET_OFFSET_FOUND_NULL:
    case STORE_GET_OFFSET_OVERFLOW_ONE: return RS_PULL_NOT_FOUND;
    case STORE_GET_OFFSET_OVERFLOW_BADLY:
    case STORE_GET_OFFSET_TOO_SMALL: return RS_PULL_OFFSET_MOVED;
    }
    return RS_SYSTEM_ERROR;
}

/* Bytes of CommitLog a consumer may leave unread behind its pull before it
 * counts as reading from disk rather than memory (RocketMQ's
 * accessMessageInMemoryMaxRatio of the physical memory). */
static int64_t memory_limit(const broker *b)
{
    static _Atomic int64_t phys; /* any loop thread; every writer stores the same value */
    int64_t m = atomic_load_explicit(&phys, memory_order_relaxed);
    if (m == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        m = pages > 0 && size > 0 ? (int64_t)pages * size : (int64_t)8 << 30;
        atomic_store_explicit(&phys, m, memory_order_relaxed);
    }
    return m / 100 * b->cfg.access_message_in_memory_max_ratio;
}

/* RocketMQ's suggestWhichBrokerId for an answer (see the top). */
static int64_t suggest_broker(const pull_ctx *p, const store_get_result *res, const store_record_ref *recs)
{
    broker *b = p->b;
    if (!b->cfg.slave_read_enable)
        return 0;
    if (res->count > 0) {
        const store_record_ref *last = &recs[res->count - 1];
        int64_t behind = store_commitlog_max_offset(b->store) - (last->physical_offset + last->size);
        if (behind > memory_limit(b))
            return p->which_slow;
    }
    return p->broker_id;
}

static void respond_pull(pull_ctx *p, int32_t code, const store_get_result *res, store_record_ref *recs,
                         pin_box *box)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__PullMessageResponseHeader r = MQ__PULL_MESSAGE_RESPONSE_HEADER__INIT;
    h.code = code;
    r.suggestwhichbrokerid = suggest_broker(p, res, recs);
    r.has_suggestwhichbrokerid = 1;
    r.nextbeginoffset = res->next_begin_offset;
    r.has_nextbeginoffset = 1;
    r.minoffset = res->min_offset;
    r.has_minoffset = 1;
    r.maxoffset = res->max_offset;
    r.has_maxoffset = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE;
    h.pull_message_response = &r;
    if (code != RS_SUCCESS || res->count == 0) {
        p->b->stats.get_miss++;
        if (box)
            release_pin(box);
        rm_respond(&p->to, &h, NULL, 0);
        return;
    }
    p->b->stats.get_found++;
    p->b->stats.get_msgs += (uint64_t)res->count;
    p->b->stats.get_bytes += (uint64_t)res->total_bytes;
    struct iovec small[64];
    struct iovec *iov = res->count <= 64 ? small : xmalloc((size_t)res->count * sizeof *iov);
    int n = 0;
    for (int i = 0; i < res->count; i++) {
        if (n > 0 && (const uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == recs[i].data) {
            iov[n - 1].iov_len += recs[i].size; /* adjacent in the CommitLog */
        } else {
            iov[n].iov_base = (void *)recs[i].data;
            iov[n].iov_len = recs[i].size;
            n++;
        }
    }
    rm_respond_iov(&p->to, &h, iov, n, release_pin, box);
    if (iov != small)
        free(iov);
}

/* Runs the pull once. Returns true if it answered; false if it found nothing
 * and may still be held (only when allow_hold). */
static bool execute(pull_ctx *p, bool allow_hold)
{
    broker *b = p->b;
    int64_t reset;
    if (offset_manager_take_reset(b->offsets, p->group, p->topic, p->queue_id, &reset)) {
        /* An operator reset this group's offset: send the consumer there. */
        store_get_result moved;
        memset(&moved, 0, sizeof moved);
        moved.next_begin_offset = reset;
        store_queue_offsets(b->store, p->topic, p->queue_id, &moved.min_offset, &moved.max_offset);
        respond_pull(p, RS_PULL_OFFSET_MOVED, &moved, NULL, NULL);
        return true;
    }
    store_record_ref small[32];
    store_record_ref *recs = p->max_count <= 32 ? small : xmalloc((size_t)p->max_count * sizeof *recs);
    store_get_request req = {
        .topic = p->topic,
        .queue_id = p->queue_id,
        .offset = p->offset,
        .max_count = p->max_count,
        .max_bytes = b->cfg.max_transfer_bytes_on_message_in_memory,
        .cq_filter = p->sub.match_all ? NULL : cq_filter,
        .record_filter = NULL,
        .filter_arg = &p->sub,
    };
    pin_box *box = xmalloc(sizeof *box);
    store_get_result res;
    memset(&res, 0, sizeof res);
    int rc = store_get_messages(b->store, &req, recs, &res);
    box->pin = res.pin;
    bool answered = true;
    if (rc < 0) {
        release_pin(box);
        rm_respond_status(&p->to, RS_SYSTEM_ERROR, "pull failed: %s", store_strerror(rc));
    } else {
        int32_t code = map_status(res.status, p->offset);
        if (b->cfg.broker_role == ROLE_SLAVE && code == RS_PULL_OFFSET_MOVED && p->offset >= res.max_offset) {
            /* not copied here yet: wait for it, never move the consumer */
            code = RS_PULL_NOT_FOUND;
            res.next_begin_offset = p->offset;
        }
        if (code == RS_PULL_NOT_FOUND && allow_hold && p->deadline_ms > mono_ms()) {
            release_pin(box);
            answered = false;
        } else {
            respond_pull(p, code, &res, recs, box);
        }
    }
    if (recs != small)
        free(recs);
    return answered;
}

static bool retry_held(void *ctx, bool final)
{
    pull_ctx *p = ctx;
    if (!rm_conn_is_open(p->to.conn)) {
        ctx_free(p);
        return true;
    }
    rm_conn *conn = p->to.conn;
    pull_hold *ph = p->b->pull_hold;
    rm_conn_ref(conn);
    if (execute(p, !final)) {
        ctx_free(p);
        if (pull_hold_direct(ph))
            rm_conn_flush_now(conn); /* answered from the loop's prepare phase */
        rm_conn_unref(conn);
        return true;
    }
    rm_conn_unref(conn);
    pull_hold_add(p->b->pull_hold, p->topic, p->queue_id, p->offset, p->deadline_ms - mono_ms(), p);
    return true; /* re-held under a new entry: the old one is done */
}

static void drop_held(void *ctx) { ctx_free(ctx); }

static void on_pull(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__PullMessageRequestHeader *h = req->hdr->pull_message;
    char err[256];
    if (!(b->cfg.broker_perm & PERM_READ)) {
        rm_reply_status(c, req, RS_NO_PERMISSION, "the broker[%s] pulling message is forbidden", b->addr);
        return;
    }
    if (!h->consumergroup || !*h->consumergroup || !h->topic || !*h->topic) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "PULL_MESSAGE needs consumerGroup and topic");
        return;
    }
    const group_config *g = group_table_ensure(b->groups, h->consumergroup);
    if (!g) {
        rm_reply_status(c, req, RS_SUBSCRIPTION_GROUP_NOT_EXIST, "subscription group [%s] does not exist", h->consumergroup);
        return;
    }
    if (!g->consume_enable) {
        rm_reply_status(c, req, RS_NO_PERMISSION, "subscription group no permission, %s", h->consumergroup);
        return;
    }
    const topic_config *tc = topic_table_find(b->topics, h->topic);
    if (!tc) {
        rm_reply_status(c, req, RS_TOPIC_NOT_EXIST, "topic[%s] not exist, apply first please!", h->topic);
        return;
    }
    if (!(tc->perm & PERM_READ)) {
        rm_reply_status(c, req, RS_NO_PERMISSION, "the topic[%s] pulling message is forbidden", h->topic);
        return;
    }
    if (h->queueid < 0 || h->queueid >= tc->read_queue_nums) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d]",
                        h->queueid, h->topic, tc->read_queue_nums);
        return;
    }
    pull_ctx *p = xcalloc(1, sizeof *p);
    p->b = b;
    p->broker_id = g->broker_id;
    p->which_slow = g->which_broker_when_consume_slowly;
    if (h->sysflag & PULL_FLAG_SUBSCRIPTION) {
        if (mq_subscription_parse(h->subscription, h->expressiontype, &p->sub, err, sizeof err) != 0) {
            free(p);
            rm_reply_status(c, req, RS_SUBSCRIPTION_PARSE_FAILED, "parse the consumer's subscription failed: %s", err);
            return;
        }
    } else {
        const mq_subscription *s = client_manager_subscription(b->clients, h->consumergroup, h->topic);
        if (!s) {
            free(p);
            rm_reply_status(c, req, RS_SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist, group %s topic %s",
                            h->consumergroup, h->topic);
            return;
        }
        mq_subscription_copy(&p->sub, s);
    }
    if (p->sub.type == SUB_SQL92) {
        mq_subscription_free(&p->sub);
        free(p);
        rm_reply_status(c, req, RS_SUBSCRIPTION_PARSE_FAILED,
                        "SQL92 filtering is not supported by this broker yet (group %s)", h->consumergroup);
        return;
    }
    if ((h->sysflag & PULL_FLAG_COMMIT_OFFSET) && h->commitoffset >= 0 && b->cfg.broker_role != ROLE_SLAVE)
        offset_manager_commit(b->offsets, h->consumergroup, h->topic, h->queueid, h->commitoffset);

    p->group = xstrdup(h->consumergroup);
    p->topic = xstrdup(h->topic);
    p->queue_id = h->queueid;
    p->offset = h->queueoffset;
    p->max_count = h->maxmsgnums > 0 ? h->maxmsgnums : 1;
    if (p->max_count > b->cfg.max_transfer_count_on_message_in_memory)
        p->max_count = b->cfg.max_transfer_count_on_message_in_memory;
    if (p->max_count > MAX_PULL_COUNT)
        p->max_count = MAX_PULL_COUNT;
    p->sysflag = h->sysflag;
    rm_defer(c, req, &p->to);
    if (h->sysflag & PULL_FLAG_SUSPEND) {
        int64_t hold = b->cfg.long_polling_enable ? h->suspendtimeoutmillis : b->cfg.short_polling_time_mills;
        if (hold > MAX_SUSPEND_MS)
            hold = MAX_SUSPEND_MS;
        if (hold > 0)
            p->deadline_ms = mono_ms() + hold;
    }
    if (execute(p, p->deadline_ms != 0)) {
        ctx_free(p);
        return;
    }
    pull_hold_add(b->pull_hold, p->topic, p->queue_id, p->offset, p->deadline_ms - mono_ms(), p);
}

void processor_pull_register(broker *b)
{
    b->pull_hold = pull_hold_new(b->loop, b->q, retry_held, drop_held);
    store_set_arrival_listener(b->store, pull_hold_arrived, b->pull_hold);
    rm_dispatch_on(b->dispatch, RC_PULL_MESSAGE, on_pull, b);
}

void processor_pull_unregister(broker *b)
{
    if (b->store)
        store_set_arrival_listener(b->store, NULL, NULL);
    evq_drain(b->q); /* arrivals already posted run before the table goes */
    pull_hold_free(b->pull_hold);
    b->pull_hold = NULL;
}
