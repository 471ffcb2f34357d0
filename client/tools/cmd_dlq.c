/*
 * cmd_dlq.c - dead letters: `mqadmin queryDlqMsg` lists the messages of a
 * group's dead-letter topic %DLQ%<group>, `mqadmin resendDlq` sends them
 * (or one of them) back to their original topic.
 *
 * Both read the DLQ with a pull consumer of the group itself (a pull
 * consumer sends no heartbeat, so it never joins the group's rebalance),
 * queue by queue, from the smallest stored offset to the end. A dead letter
 * keeps what the broker wrote at send-back: the original topic (property
 * RETRY_TOPIC, which the client library already shows as the message's
 * topic), the original message id (UNIQ_KEY, and ORIGIN_MESSAGE_ID = the
 * offset id of its first stored copy), the reconsume count, and the time it
 * was dead-lettered (its store time in the DLQ).
 *
 * Progress of "resend everything" is the group's committed offset on the
 * DLQ queue: resendDlq without -i resends the messages from that offset
 * (the first stored one if none) to the end and then commits past them, so
 * running it twice does not resend twice; queryDlqMsg marks the messages
 * below it as resent. resendDlq -i ID resends the messages with that id
 * (message id, offset id or original id) wherever they are, without moving
 * the offset. A resent message is a new message (new id, reconsume count
 * 0) with the dead letter's body, flag, tags, keys and user properties,
 * sent by producer group "mqadmin_dlq_resend"; the output maps old ids to
 * new ones.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/consumer.h"
#include "mq/producer.h"
#include "mqadmin.h"

enum { DLQ_PULL_BATCH = 32 };

typedef struct dlq_walk {
    const char *group;
    char topic[MQ_TOPIC_MAX + 16];
    mq_pull_consumer *pc;
    mq_error err;
} dlq_walk;

/* Called for each dead letter; resent: below the group's committed offset.
 * Return false to stop with an error already printed. */
typedef bool (*dlq_visit_fn)(void *arg, const mq_message_queue *q, const mq_message_ext *m, bool resent);

/* Walks every queue of the DLQ from min to max. queue_done (may be NULL)
 * is called after a queue with its end offset. Returns MQADMIN_OK or an
 * exit code after printing why. */
static int dlq_walk_all(dlq_walk *w, dlq_visit_fn visit,
                        bool (*queue_done)(void *arg, dlq_walk *w, const mq_message_queue *q, int64_t end),
                        void *arg, bool from_committed)
{
    mq_message_queue *qs = NULL;
    int n = 0;
    if (mq_pull_consumer_fetch_queues(w->pc, w->topic, &qs, &n, &w->err) != MQ_OK) {
        if (w->err.code == MQ_ENOROUTE)
            return mqadmin_fail("group %s has no dead letters (no topic %s)", w->group, w->topic);
        return mqadmin_fail_err("dead-letter topic", &w->err);
    }
    int rc = MQADMIN_OK;
    for (int i = 0; i < n && rc == MQADMIN_OK; i++) {
        int64_t min = 0, max = 0, committed = -1;
        if (mq_pull_consumer_min_offset(w->pc, &qs[i], &min, &w->err) != MQ_OK ||
            mq_pull_consumer_max_offset(w->pc, &qs[i], &max, &w->err) != MQ_OK) {
            rc = mqadmin_fail_err("offsets of the dead-letter queue", &w->err);
            break;
        }
        mq_error qe = {0};
        if (mq_pull_consumer_query_offset(w->pc, &qs[i], &committed, &qe) != MQ_OK)
            committed = -1; /* nothing resent yet */
        int64_t off = from_committed && committed > min ? committed : min;
        while (off < max && rc == MQADMIN_OK) {
            mq_pull_result r;
            if (mq_pull_consumer_pull(w->pc, &qs[i], NULL, off, DLQ_PULL_BATCH, 0, &r, &w->err) != MQ_OK) {
                rc = mqadmin_fail_err("read the dead-letter queue", &w->err);
                break;
            }
            for (int k = 0; k < r.n && rc == MQADMIN_OK; k++)
                if (!visit(arg, &qs[i], r.msgs[k], mq_message_ext_queue_offset(r.msgs[k]) < committed))
                    rc = MQADMIN_FAILED;
            int64_t next = r.next_begin_offset;
            mq_pull_result_destroy(&r);
            if (next <= off) /* nothing more readable (removed by retention) */
                break;
            off = next;
        }
        if (rc == MQADMIN_OK && queue_done && !queue_done(arg, w, &qs[i], off))
            rc = MQADMIN_FAILED;
    }
    mq_free(qs);
    return rc;
}

static int dlq_open(const mqadmin_args *a, dlq_walk *w)
{
    memset(w, 0, sizeof *w);
    w->group = mqadmin_required(a, 'g', "GROUP");
    if (!w->group)
        return MQADMIN_USAGE;
    snprintf(w->topic, sizeof w->topic, "%%DLQ%%%s", w->group);
    if (mq_pull_consumer_new(w->group, a->flags['n'], NULL, &w->pc, &w->err) != MQ_OK ||
        mq_pull_consumer_start(w->pc, &w->err) != MQ_OK) {
        mq_pull_consumer_destroy(w->pc);
        w->pc = NULL;
        return w->err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", w->err.message) : mqadmin_fail_err("start", &w->err);
    }
    return MQADMIN_OK;
}

static const char *prop_or(const mq_message_ext *m, const char *name, const char *def)
{
    const char *v = mq_message_ext_property(m, name);
    return v ? v : def;
}

/* ---- queryDlqMsg ---- */

typedef struct query_state {
    bool json;
    json_writer w;
    bytebuf buf;
    mqadmin_table t;
    int64_t count;
} query_state;

static bool query_visit(void *arg, const mq_message_queue *q, const mq_message_ext *m, bool resent)
{
    query_state *s = arg;
    s->count++;
    size_t blen;
    const char *body = mq_message_ext_body(m, &blen);
    if (s->json) {
        json_object_begin(&s->w);
        json_kv_string(&s->w, "msgId", mq_message_ext_msg_id(m));
        json_kv_string(&s->w, "originMsgId", prop_or(m, "ORIGIN_MESSAGE_ID", ""));
        json_kv_string(&s->w, "originTopic", mq_message_ext_topic(m));
        json_kv_int(&s->w, "reconsumeTimes", mq_message_ext_reconsume_times(m));
        json_kv_int(&s->w, "failedTimestamp", mq_message_ext_store_timestamp(m));
        json_kv_int(&s->w, "bornTimestamp", mq_message_ext_born_timestamp(m));
        json_kv_string(&s->w, "offsetMsgId", mq_message_ext_offset_msg_id(m));
        json_kv_string(&s->w, "brokerName", q->broker_name);
        json_kv_int(&s->w, "queueId", q->queue_id);
        json_kv_int(&s->w, "queueOffset", mq_message_ext_queue_offset(m));
        json_kv_string(&s->w, "keys", mq_message_ext_keys(m));
        json_kv_string(&s->w, "tags", mq_message_ext_tags(m));
        json_kv_bool(&s->w, "resent", resent);
        json_key(&s->w, "body");
        json_string_n(&s->w, body, blen);
        json_object_end(&s->w);
        return true;
    }
    char rt[16], when[32], shown[48];
    snprintf(rt, sizeof rt, "%d", mq_message_ext_reconsume_times(m));
    snprintf(shown, sizeof shown, "%.*s%s", (int)(blen > 40 ? 40 : blen), body, blen > 40 ? "..." : "");
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    mqadmin_table_row(&s->t, mq_message_ext_msg_id(m), mq_message_ext_topic(m), rt,
                      mqadmin_time_text(mq_message_ext_store_timestamp(m), when), resent ? "yes" : "no",
                      mq_message_ext_keys(m), shown);
    return true;
}

int cmd_query_dlq_msg(const mqadmin_args *a)
{
    dlq_walk w;
    int rc = dlq_open(a, &w);
    if (rc != MQADMIN_OK)
        return rc;
    query_state s;
    memset(&s, 0, sizeof s);
    s.json = a->json;
    if (s.json) {
        mqadmin_json_object_start(&s.w, &s.buf);
        json_kv_string(&s.w, "group", w.group);
        json_kv_string(&s.w, "topic", w.topic);
        json_key(&s.w, "messages");
        json_array_begin(&s.w);
    } else {
        mqadmin_table_init(&s.t, 7, "#MsgId", "#OriginTopic", "#ReconsumeTimes", "#FailedAt", "#Resent", "#Keys",
                           "#Body");
    }
    rc = dlq_walk_all(&w, query_visit, NULL, &s, false);
    mq_pull_consumer_destroy(w.pc);
    if (s.json) {
        json_array_end(&s.w);
        json_kv_int(&s.w, "count", s.count);
        if (rc != MQADMIN_OK) {
            bytebuf_free(&s.buf);
            return rc;
        }
        return mqadmin_json_object_done(&s.w, &s.buf);
    }
    if (rc == MQADMIN_OK) {
        mqadmin_table_print(&s.t, stdout);
        printf("%lld dead letter(s) in %s\n", (long long)s.count, w.topic);
    }
    mqadmin_table_free(&s.t);
    return rc;
}

/* ---- resendDlq ---- */

typedef struct resend_state {
    const char *id;   /* -i, or NULL for every message not resent yet */
    mq_producer *p;
    bool json;
    json_writer w;
    bytebuf buf;
    mqadmin_table t;
    int64_t sent;
} resend_state;

static bool id_matches(const mq_message_ext *m, const char *id)
{
    const char *origin = mq_message_ext_property(m, "ORIGIN_MESSAGE_ID");
    return !strcasecmp(mq_message_ext_msg_id(m), id) || !strcasecmp(mq_message_ext_offset_msg_id(m), id) ||
           (origin && !strcasecmp(origin, id));
}

/* The dead letter as a new message to its original topic. */
static mq_message *resend_copy(const mq_message_ext *m, mq_error *err)
{
    mq_message *out = mq_message_new(mq_message_ext_topic(m));
    if (!out) {
        err->code = MQ_ENOMEM;
        snprintf(err->message, sizeof err->message, "out of memory");
        return NULL;
    }
    size_t blen;
    const void *body = mq_message_ext_body(m, &blen);
    int rc = mq_message_set_body(out, body, blen, err);
    if (rc == MQ_OK && *mq_message_ext_tags(m))
        rc = mq_message_set_tags(out, mq_message_ext_tags(m), err);
    if (rc == MQ_OK && *mq_message_ext_keys(m))
        rc = mq_message_set_keys(out, mq_message_ext_keys(m), err);
    mq_message_set_flag(out, mq_message_ext_flag(m));
    size_t it = 0;
    const char *k, *v;
    while (rc == MQ_OK && mq_message_ext_next_property(m, &it, &k, &v)) {
        mq_error ignored;
        /* System properties (RETRY_TOPIC, UNIQ_KEY, DELAY...) are refused
         * by the library: the copy is a fresh message. */
        (void)mq_message_set_property(out, k, v, &ignored);
    }
    if (rc != MQ_OK) {
        mq_message_destroy(out);
        return NULL;
    }
    return out;
}

static bool resend_visit(void *arg, const mq_message_queue *q, const mq_message_ext *m, bool resent)
{
    (void)q;
    (void)resent;
    resend_state *s = arg;
    if (s->id && !id_matches(m, s->id))
        return true;
    mq_error err = {0};
    mq_send_result r;
    mq_message *copy = resend_copy(m, &err);
    if (!copy || mq_producer_send(s->p, copy, &r, &err) != MQ_OK) {
        mq_message_destroy(copy);
        fprintf(stderr, "mqadmin: resend of %s to %s failed: %s (%lld resent before it)\n", mq_message_ext_msg_id(m),
                mq_message_ext_topic(m), err.message, (long long)s->sent);
        return false;
    }
    mq_message_destroy(copy);
    s->sent++;
    if (s->json) {
        json_object_begin(&s->w);
        json_kv_string(&s->w, "msgId", mq_message_ext_msg_id(m));
        json_kv_string(&s->w, "topic", mq_message_ext_topic(m));
        json_kv_string(&s->w, "newMsgId", r.msg_id);
        json_kv_string(&s->w, "sendStatus", mq_send_status_name(r.status));
        json_object_end(&s->w);
    } else {
        mqadmin_table_row(&s->t, mq_message_ext_msg_id(m), mq_message_ext_topic(m), r.msg_id,
                          mq_send_status_name(r.status));
    }
    return true;
}

static bool resend_queue_done(void *arg, dlq_walk *w, const mq_message_queue *q, int64_t end)
{
    resend_state *s = arg;
    if (s->id) /* one message: the progress of "resend all" stays */
        return true;
    if (mq_pull_consumer_commit_offset(w->pc, q, end, &w->err) != MQ_OK) {
        fprintf(stderr, "mqadmin: resent, but cannot record the progress of %s/%d: %s (a second resendDlq would "
                        "resend them again)\n", q->broker_name, q->queue_id, w->err.message);
        return false;
    }
    return true;
}

int cmd_resend_dlq(const mqadmin_args *a)
{
    dlq_walk w;
    int rc = dlq_open(a, &w);
    if (rc != MQADMIN_OK)
        return rc;
    resend_state s;
    memset(&s, 0, sizeof s);
    s.id = a->flags['i'] && *a->flags['i'] ? a->flags['i'] : NULL;
    s.json = a->json;
    mq_error err = {0};
    if (mq_producer_new("mqadmin_dlq_resend", a->flags['n'], NULL, &s.p, &err) != MQ_OK ||
        mq_producer_start(s.p, &err) != MQ_OK) {
        mq_producer_destroy(s.p);
        mq_pull_consumer_destroy(w.pc);
        return mqadmin_fail_err("start", &err);
    }
    if (s.json) {
        mqadmin_json_object_start(&s.w, &s.buf);
        json_kv_string(&s.w, "group", w.group);
        json_key(&s.w, "resent");
        json_array_begin(&s.w);
    } else {
        mqadmin_table_init(&s.t, 4, "#MsgId", "#Topic", "#NewMsgId", "#SendStatus");
    }
    rc = dlq_walk_all(&w, resend_visit, resend_queue_done, &s, s.id == NULL);
    mq_producer_destroy(s.p);
    mq_pull_consumer_destroy(w.pc);
    if (rc == MQADMIN_OK && s.id && s.sent == 0)
        rc = mqadmin_fail("no message with id %s in %s", s.id, w.topic);
    if (s.json) {
        json_array_end(&s.w);
        json_kv_int(&s.w, "count", s.sent);
        if (rc != MQADMIN_OK) {
            bytebuf_free(&s.buf);
            return rc;
        }
        return mqadmin_json_object_done(&s.w, &s.buf);
    }
    if (rc == MQADMIN_OK || s.sent > 0)
        mqadmin_table_print(&s.t, stdout);
    if (rc == MQADMIN_OK)
        printf("%lld message(s) resent from %s\n", (long long)s.sent, w.topic);
    mqadmin_table_free(&s.t);
    return rc;
}
