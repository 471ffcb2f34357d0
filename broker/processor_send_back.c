/*
 * processor_send_back.c - CONSUMER_SEND_MSG_BACK (36): a consumer failed a
 * message; store a copy for redelivery through %RETRY%<group> after a
 * growing delay, or park it in %DLQ%<group> once it failed too often.
 *
 * Loop thread. The request names the failed message by CommitLog offset;
 * the record is read back from the store (store_read_record, pinned only
 * for the duration of the handler), the rules of retry_policy.h decide
 * where the copy goes and what it carries, the retry or DLQ topic is
 * created on first use and the shared send policy (send_check,
 * processor_send.h) is applied to it (RocketMQ's createTopicInSendMessageBackMethod:
 * retryQueueNums queues for the retry topic, one queue for the DLQ, both
 * readable and writable so operators can read dead letters, as RocketMQ
 * >= 4.9.2 does), and the copy is appended with store_put. A retry copy
 * carries DELAY = its level and is rewritten by sched_prepare
 * (schedule/schedule.h) into SCHEDULE_TOPIC_XXXX, from where the schedule
 * service delivers it to %RETRY%<group> when due; a DLQ copy is visible at
 * once.
 *
 * The answer: SUCCESS once stored (under SYNC_FLUSH once flushed, because
 * the consumer treats an answered send-back as consumed and moves its
 * offset past the original), or an error status; on any error the client
 * keeps the message and retries it locally, so nothing is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_context.h"
#include "bytes.h"
#include "log.h"
#include "message.h"
#include "processor_send.h"
#include "processors.h"
#include "retry_policy.h"
#include "schedule/schedule.h"
#include "store/store.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "util.h"

typedef struct send_back_state {
    broker *b;
    bytebuf props;      /* the copy's properties, reused per request */
    bytebuf sched_props; /* ... and their scheduled form (sched_prepare) */
    int64_t dlq_count;  /* for the rate-limited DLQ log line */
    int64_t dlq_logged_ms;
} send_back_state;

/* One line per 10 s at most, however many messages are dead-lettered. */
static void note_dlq(send_back_state *st, const char *group, const char *topic, int32_t reconsume, int32_t max)
{
    st->dlq_count++;
    int64_t now = mono_ms();
    if (st->dlq_logged_ms && now - st->dlq_logged_ms < 10000)
        return;
    log_warn("group %s: a message of %s failed %d time(s) (max %d) and went to %s%s; %lld dead-lettered since start",
             group, topic, reconsume, max, TOPIC_DLQ_PREFIX, group, (long long)st->dlq_count);
    st->dlq_logged_ms = now;
}

/* ---- answering after the flush (SYNC_FLUSH) ---- */

typedef struct flush_wait {
    evq_item item;
    evq *q;
    rm_reply_to to;
    store_put_status status;
} flush_wait;

static void on_flushed_loop(evq_item *item)
{
    flush_wait *w = (flush_wait *)item;
    if (w->status == STORE_PUT_OK)
        rm_respond_status(&w->to, RS_SUCCESS, NULL);
    else
        rm_respond_status(&w->to, RS_FLUSH_DISK_TIMEOUT, "sent back, but not flushed to disk in time");
    free(w);
}

static void on_flushed(void *arg, store_put_status status)
{
    flush_wait *w = arg;
    w->status = status;
    evq_post(w->q, &w->item, on_flushed_loop); /* store-flush thread -> loop */
}

static void answer_stored(send_back_state *st, rm_conn *c, const rm_cmd *req, const store_put_result *res)
{
    broker *b = st->b;
    if (b->cfg.flush_disk_type == FLUSH_SYNC) {
        flush_wait *w = xcalloc(1, sizeof *w);
        w->q = b->q;
        rm_defer(c, req, &w->to);
        int rc = store_wait_flushed(b->store, res->physical_offset + res->wrote_bytes, on_flushed, w);
        if (rc == 0)
            return;
        rm_respond_status(&w->to, rc > 0 ? RS_SUCCESS : RS_FLUSH_DISK_TIMEOUT,
                          rc > 0 ? NULL : "sent back, but not flushed to disk in time");
        free(w);
        return;
    }
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

/* ---- the handler ---- */

/* The retry or DLQ topic is created on first use with its own shape (the
 * group's retryQueueNums queues, or one DLQ queue), then the shared send
 * policy decides as for any send (broker and topic permissions, role, a
 * queue, back-pressure). Returns the queue, or -1 after answering. */
static int32_t target_queue(broker *b, rm_conn *c, const rm_cmd *req, const char *name, int32_t queues)
{
    if (!topic_table_ensure(b->topics, name, queues, queues, PERM_READ | PERM_WRITE, 0)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "topic[%s] not exist and cannot be created", name);
        return -1;
    }
    send_target t = {.topic = name, .queue_id = -1, .internal = true};
    char remark[320];
    int32_t code = send_check(b, &t, remark, sizeof remark);
    if (code != RS_SUCCESS) {
        rm_reply_status(c, req, code, "%s", remark);
        return -1;
    }
    return t.queue_id;
}

static void on_send_back(rm_conn *c, const rm_cmd *req, void *arg)
{
    send_back_state *st = arg;
    broker *b = st->b;
    const Mq__ConsumerSendMsgBackRequestHeader *h = req->hdr->consumer_send_msg_back;
    char err[320];
    if (!h->group || !group_name_valid(h->group, err, sizeof err)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "bad group: %s", h->group ? err : "group is required");
        return;
    }
    if (!h->has_offset || h->offset < 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "CONSUMER_SEND_MSG_BACK needs the commit log offset of the message");
        return;
    }
    const group_config *g = group_table_ensure(b->groups, h->group);
    if (!g) {
        rm_reply_status(c, req, RS_SUBSCRIPTION_GROUP_NOT_EXIST, "subscription group not exist, %s", h->group);
        return;
    }
    if (g->retry_queue_nums <= 0) { /* R1 */
        rm_reply_status(c, req, RS_SUCCESS, NULL);
        return;
    }

    store_pin pin;
    store_pin_init(&pin);
    store_record_ref ref;
    msg_record rec;
    int rc = store_read_record(b->store, h->offset, &ref, &pin);
    if (rc == 0 && msg_decode(ref.data, ref.size, false, &rec) != MSG_OK)
        rc = STORE_ERR_CORRUPT;
    if (rc != 0) {
        store_pin_release(&pin);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "look message by offset failed, %lld: %s", (long long)h->offset,
                        store_strerror(rc));
        return;
    }
    char topic[TOPIC_NAME_MAX_LONG + 1];
    snprintf(topic, sizeof topic, "%.*s", (int)rec.topic_len, rec.topic);

    retry_decision d = retry_decide(rec.reconsume_times, h->has_delaylevel ? h->delaylevel : 0,
                                    h->has_maxreconsumetimes ? h->maxreconsumetimes : -1, g->retry_max_times,
                                    store_delay_level_count(b->store));
    char target[TOPIC_NAME_MAX_LONG + 16];
    int tlen = d.target == RETRY_TO_DLQ ? retry_dlq_topic_name(h->group, target, sizeof target)
                                        : retry_topic_name(h->group, target, sizeof target);
    int32_t queue = -1;
    if (tlen < 0 || tlen > TOPIC_NAME_MAX_LONG)
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "group name %s is too long for its retry topics", h->group);
    else
        queue = target_queue(b, c, req, target, d.target == RETRY_TO_DLQ ? 1 : g->retry_queue_nums);
    if (queue < 0) {
        store_pin_release(&pin);
        return;
    }

    char offset_id[MSG_ID_BUF];
    if (msg_offset_id_encode(&rec.store_host, rec.physical_offset, offset_id, sizeof offset_id) < 0)
        offset_id[0] = '\0';
    rc = retry_build_properties(rec.properties, rec.properties_len, topic, offset_id, &d, &st->props);
    if (rc != 0) {
        store_pin_release(&pin);
        rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "cannot rebuild the properties of the message at %lld: %s",
                        (long long)h->offset, msg_strerror(rc));
        return;
    }

    msg_record copy = rec; /* body, flag, sysflag, born time and host, store host */
    copy.topic = target;
    copy.topic_len = (uint32_t)tlen;
    copy.queue_id = queue;
    copy.reconsume_times = d.reconsume_times;
    copy.store_timestamp = 0;
    copy.prepared_transaction_offset = 0;
    copy.sysflag &= ~(MSG_SYSFLAG_BORNHOST_V6 | MSG_SYSFLAG_STOREHOST_V6 | MSG_SYSFLAG_NEED_UNWRAP |
                      MSG_SYSFLAG_INNER_BATCH | MSG_SYSFLAG_TX_MASK);
    copy.properties = (const char *)st->props.data;
    copy.properties_len = (uint32_t)st->props.len;
    if (d.target == RETRY_TO_RETRY_TOPIC &&
        sched_prepare(b->store, b->cfg.timer_max_delay_sec, now_ms(), &copy, &st->sched_props, err, sizeof err) ==
            SCHED_ERR) {
        store_pin_release(&pin);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "cannot schedule the retry of the message at %lld: %s",
                        (long long)h->offset, err);
        return;
    }
    store_put_result res;
    rc = store_put(b->store, &copy, &res);
    store_pin_release(&pin);
    if (rc != 0 || res.status != STORE_PUT_OK) {
        rm_reply_status(c, req, send_put_refused(b, res.status), "send back to %s failed: %s: %s", target,
                        store_put_status_name(res.status),
                        res.remark[0] ? res.remark : "not stored");
        return;
    }
    store_wake_dispatcher(b->store);
    if (d.target == RETRY_TO_DLQ) {
        b->stats.send_back_dlq++;
        note_dlq(st, h->group, topic, rec.reconsume_times, d.max_reconsume);
    } else {
        b->stats.send_back_retries++;
    }
    answer_stored(st, c, req, &res);
}

static send_back_state *g_state; /* one broker per process */

void processor_send_back_register(broker *b)
{
    send_back_state *st = xcalloc(1, sizeof *st);
    st->b = b;
    bytebuf_init(&st->props);
    bytebuf_init(&st->sched_props);
    g_state = st;
    rm_dispatch_on(b->dispatch, RC_CONSUMER_SEND_MSG_BACK, on_send_back, st);
}

void processor_send_back_unregister(broker *b)
{
    (void)b;
    if (!g_state)
        return;
    bytebuf_free(&g_state->props);
    bytebuf_free(&g_state->sched_props);
    free(g_state);
    g_state = NULL;
}
