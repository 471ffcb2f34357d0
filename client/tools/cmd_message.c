/*
 * cmd_message.c - `mqadmin sendMessage` and `mqadmin consumeMessage`.
 *
 * sendMessage starts a producer (group "mqadmin_producer"), sends one
 * message synchronously and prints the send result.
 *
 * consumeMessage reads like RocketMQ's: a pull consumer prints at most -c
 * COUNT messages (default 128) of the topic, queue by queue, or of one queue
 * (-b BROKER_NAME -i QUEUE_ID). Each queue is read from -o OFFSET (one
 * queue), or the first message stored at or after -s BEGIN, or, when -g
 * names a group that has committed an offset there, where that group would
 * consume next, else the queue's min offset; up to the first message stored
 * after -e END (default: the queue's max offset when the command starts).
 * Nothing is committed: a group's offsets stay as they were unless --commit
 * (ours, needs -g) asks to move them past the printed messages. The pull
 * consumer sends no heartbeat, so live members of -g are not rebalanced.
 * Messages go to stdout, one per line (--json: one JSON object per line); a
 * summary goes to stderr.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/consumer.h"
#include "mq/producer.h"
#include "mqadmin.h"

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Prints one finished compact JSON object as a line. */
static void print_json_line(json_writer *w, bytebuf *b)
{
    if (json_writer_finish(w) == 0) {
        fwrite(b->data, 1, b->len, stdout);
        fputc('\n', stdout);
    }
    bytebuf_free(b);
}

/* ---- sendMessage ---- */

int cmd_send_message(const mqadmin_args *a)
{
    const char *ns = a->flags['n'], *topic = a->flags['t'], *body = a->flags['p'], *keys = a->flags['k'];
    const char *tags = a->flags['c'], *broker = a->flags['b'], *qid = a->flags['i'];
    const char *delay_level = a->flags[MQADMIN_OPT_DELAY_LEVEL], *deliver_time = a->flags[MQADMIN_OPT_DELIVER_TIME];
    const char *delay_ms = a->flags[MQADMIN_OPT_DELAY_MS];
    bool json = a->json;
    if (!topic || !body)
        return mqadmin_usage(a, "%s", "-t TOPIC and -p BODY are required");
    if ((broker == NULL) != (qid == NULL))
        return mqadmin_usage(a, "%s", "-b and -i go together");
    int64_t queue_id = -1;
    if (qid && !parse_i64(qid, 0, 65535, &queue_id))
        return mqadmin_usage(a, "bad queue id '%s'", qid);
    if ((delay_level != NULL) + (deliver_time != NULL) + (delay_ms != NULL) > 1)
        return mqadmin_usage(a, "%s", "give at most one of --delayLevel, --deliverTime and --delayMs");
    int64_t level = 0, at_ms = 0, after_ms = 0;
    if (delay_level && !parse_i64(delay_level, 1, MQ_DELAY_LEVEL_MAX, &level))
        return mqadmin_usage(a, "bad delay level '%s' (1..%d)", delay_level, MQ_DELAY_LEVEL_MAX);
    if (deliver_time && !parse_i64(deliver_time, 1, INT64_MAX, &at_ms))
        return mqadmin_usage(a, "bad delivery time '%s' (epoch milliseconds)", deliver_time);
    if (delay_ms && !parse_i64(delay_ms, 1, INT64_MAX, &after_ms))
        return mqadmin_usage(a, "bad delay '%s' (milliseconds > 0)", delay_ms);

    mq_error err = {0};
    mq_producer *p = NULL;
    if (mq_producer_new("mqadmin_producer", ns, NULL, &p, &err) != MQ_OK ||
        mq_producer_start(p, &err) != MQ_OK) {
        mq_producer_destroy(p);
        return err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", err.message) : mqadmin_fail_err("start", &err);
    }
    mq_message *m = mq_message_new(topic);
    mq_message_set_body(m, body, strlen(body), NULL);
    int rc = MQ_OK;
    if (tags)
        rc = mq_message_set_tags(m, tags, &err);
    if (rc == MQ_OK && keys)
        rc = mq_message_set_keys(m, keys, &err);
    if (rc == MQ_OK && level)
        rc = mq_message_set_delay_level(m, (int)level, &err);
    if (rc == MQ_OK && at_ms)
        rc = mq_message_set_deliver_time(m, at_ms, &err);
    if (rc == MQ_OK && after_ms)
        rc = mq_message_set_delay_ms(m, after_ms, &err);
    mq_send_result r;
    if (rc == MQ_OK) {
        if (broker) {
            mq_message_queue q;
            memset(&q, 0, sizeof q);
            snprintf(q.topic, sizeof q.topic, "%s", topic);
            snprintf(q.broker_name, sizeof q.broker_name, "%s", broker);
            q.queue_id = (int)queue_id;
            rc = mq_producer_send_to_queue(p, m, &q, &r, &err);
        } else {
            rc = mq_producer_send(p, m, &r, &err);
        }
    }
    mq_message_destroy(m);
    mq_producer_destroy(p);
    if (rc != MQ_OK)
        return mqadmin_fail_err("send", &err);
    if (json) {
        bytebuf b;
        bytebuf_init(&b);
        json_writer w;
        json_writer_init(&w, &b, false);
        json_object_begin(&w);
        json_kv_string(&w, "sendStatus", mq_send_status_name(r.status));
        json_kv_string(&w, "msgId", r.msg_id);
        json_kv_string(&w, "offsetMsgId", r.offset_msg_id);
        json_kv_string(&w, "topic", r.queue.topic);
        json_kv_string(&w, "brokerName", r.queue.broker_name);
        json_kv_int(&w, "queueId", r.queue.queue_id);
        json_kv_int(&w, "queueOffset", r.queue_offset);
        json_object_end(&w);
        print_json_line(&w, &b);
    } else {
        mqadmin_table t;
        mqadmin_table_init(&t, 6, "#Broker Name", "#QID", "#Send Result", "#MsgId", "#OffsetMsgId", "#QueueOffset");
        char qid_s[16], off_s[32];
        snprintf(qid_s, sizeof qid_s, "%d", r.queue.queue_id);
        snprintf(off_s, sizeof off_s, "%lld", (long long)r.queue_offset);
        mqadmin_table_row(&t, r.queue.broker_name, qid_s, mq_send_status_name(r.status), r.msg_id, r.offset_msg_id,
                          off_s);
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
    }
    return MQADMIN_OK;
}

/* ---- consumeMessage ---- */

static void print_message(const mq_message_ext *m, bool json)
{
    size_t n;
    const char *body = mq_message_ext_body(m, &n);
    if (json) {
        bytebuf b;
        bytebuf_init(&b);
        json_writer w;
        json_writer_init(&w, &b, false);
        json_object_begin(&w);
        json_kv_string(&w, "topic", mq_message_ext_topic(m));
        json_kv_string(&w, "brokerName", mq_message_ext_broker_name(m));
        json_kv_int(&w, "queueId", mq_message_ext_queue_id(m));
        json_kv_int(&w, "queueOffset", mq_message_ext_queue_offset(m));
        json_kv_string(&w, "msgId", mq_message_ext_msg_id(m));
        json_kv_string(&w, "offsetMsgId", mq_message_ext_offset_msg_id(m));
        json_kv_string(&w, "keys", mq_message_ext_keys(m));
        json_kv_string(&w, "tags", mq_message_ext_tags(m));
        json_kv_int(&w, "bornTimestamp", mq_message_ext_born_timestamp(m));
        json_kv_int(&w, "storeTimestamp", mq_message_ext_store_timestamp(m));
        json_kv_int(&w, "reconsumeTimes", mq_message_ext_reconsume_times(m));
        json_key(&w, "body");
        json_string_n(&w, body, n);
        json_object_end(&w);
        print_json_line(&w, &b);
    } else {
        printf("msgId=%s brokerName=%s queueId=%d queueOffset=%lld keys=%s tags=%s body=%.*s\n",
               mq_message_ext_msg_id(m), mq_message_ext_broker_name(m), mq_message_ext_queue_id(m),
               (long long)mq_message_ext_queue_offset(m), mq_message_ext_keys(m), mq_message_ext_tags(m), (int)n,
               body);
    }
}

typedef struct consume_args {
    const char *group;     /* -g, or NULL */
    const char *tags;      /* --tags, or NULL */
    int64_t offset;        /* -o, or -1 */
    int64_t begin, end;    /* -s / -e in ms, or -1 */
    int64_t left;          /* messages still to print (-c) */
    bool commit, json;
} consume_args;

/* The [start, stop) offsets of one queue. */
static int queue_range(mq_pull_consumer *pc, const mq_message_queue *q, const consume_args *ca, int64_t *start,
                       int64_t *stop, mq_error *err)
{
    int64_t min, max;
    int rc = mq_pull_consumer_min_offset(pc, q, &min, err);
    if (rc == MQ_OK)
        rc = mq_pull_consumer_max_offset(pc, q, &max, err);
    if (rc != MQ_OK)
        return rc;
    *start = min;
    if (ca->offset >= 0) {
        *start = ca->offset;
    } else if (ca->begin >= 0) {
        rc = mq_pull_consumer_search_offset(pc, q, ca->begin, start, err);
    } else if (ca->group) {
        int64_t committed;
        rc = mq_pull_consumer_query_offset(pc, q, &committed, err);
        if (rc == MQ_OK)
            *start = committed;
        else if (rc == MQ_ENOTFOUND)
            rc = MQ_OK;
    }
    *stop = max;
    if (rc == MQ_OK && ca->end >= 0) {
        /* search_offset answers the first message at or after the time */
        rc = mq_pull_consumer_search_offset(pc, q, ca->end + 1, stop, err);
        if (rc == MQ_OK && *stop > max)
            *stop = max;
    }
    if (*start < min)
        *start = min;
    if (*start > max)
        *start = max;
    return rc;
}

/* Prints queue q's messages in [start, stop) until ca->left is 0; *next is
 * the offset after the last message looked at. */
static int consume_queue(mq_pull_consumer *pc, const mq_message_queue *q, consume_args *ca, int64_t start,
                         int64_t stop, int64_t *next, mq_error *err)
{
    int64_t off = start;
    while (off < stop && ca->left > 0) {
        mq_pull_result r;
        int want = ca->left < 32 ? (int)ca->left : 32;
        int rc = mq_pull_consumer_pull(pc, q, ca->tags, off, want, 0, &r, err);
        if (rc != MQ_OK)
            return rc;
        bool progressed = r.next_begin_offset > off;
        for (int i = 0; i < r.n && ca->left > 0; i++) {
            int64_t qo = mq_message_ext_queue_offset(r.msgs[i]);
            if (qo >= stop)
                break;
            print_message(r.msgs[i], ca->json);
            ca->left--;
            off = qo + 1;
        }
        if (ca->left > 0 && r.next_begin_offset > off)
            off = r.next_begin_offset < stop ? r.next_begin_offset : stop;
        mq_pull_result_destroy(&r);
        if (!progressed)
            break; /* nothing more to read below stop */
    }
    *next = off;
    return MQ_OK;
}

int cmd_consume_message(const mqadmin_args *a)
{
    const char *ns = a->flags['n'], *topic = a->flags['t'], *broker = a->flags['b'], *qid_s = a->flags['i'];
    consume_args ca = {.group = a->flags['g'], .tags = a->flags[MQADMIN_OPT_TAGS], .offset = -1, .begin = -1,
                       .end = -1, .commit = a->flags[MQADMIN_OPT_COMMIT] != NULL, .json = a->json};
    if (!topic || !*topic)
        return mqadmin_usage(a, "%s", "-t TOPIC is required");
    if ((broker == NULL) != (qid_s == NULL))
        return mqadmin_usage(a, "%s", "-b BROKER_NAME and -i QUEUE_ID go together");
    int64_t qid = -1;
    int rc;
    if ((rc = mqadmin_int_flag(a, 'c', 1, INT64_MAX, 128, &ca.left)) != 0 ||
        (rc = mqadmin_int_flag(a, 'i', 0, 65535, -1, &qid)) != 0 ||
        (rc = mqadmin_int_flag(a, 'o', 0, INT64_MAX, -1, &ca.offset)) != 0)
        return rc;
    if (ca.offset >= 0 && !broker)
        return mqadmin_usage(a, "%s", "-o OFFSET needs one queue: -b BROKER_NAME -i QUEUE_ID");
    if (ca.offset >= 0 && a->flags['s'])
        return mqadmin_usage(a, "%s", "give -o or -s, not both");
    if ((a->flags['s'] && (rc = mqadmin_time_flag(a, 's', &ca.begin)) != 0) ||
        (a->flags['e'] && (rc = mqadmin_time_flag(a, 'e', &ca.end)) != 0))
        return rc;
    if (ca.begin >= 0 && ca.end >= 0 && ca.begin > ca.end)
        return mqadmin_usage(a, "%s", "-s BEGIN is after -e END");
    if (ca.commit && !ca.group)
        return mqadmin_usage(a, "%s", "--commit needs -g GROUP");

    mq_error err = {0};
    mq_pull_consumer *pc = NULL;
    if (mq_pull_consumer_new(ca.group ? ca.group : "TOOLS_CONSUMER", ns, NULL, &pc, &err) != MQ_OK ||
        mq_pull_consumer_start(pc, &err) != MQ_OK) {
        mq_pull_consumer_destroy(pc);
        return err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", err.message) : mqadmin_fail_err("start", &err);
    }
    mq_message_queue *qs = NULL;
    int n = 0;
    rc = mq_pull_consumer_fetch_queues(pc, topic, &qs, &n, &err);
    if (rc != MQ_OK) {
        mq_pull_consumer_destroy(pc);
        return mqadmin_fail_err("topic", &err);
    }
    int64_t total = 0, want = ca.left;
    bool found = !broker;
    for (int i = 0; rc == MQ_OK && i < n && ca.left > 0; i++) {
        if (broker && (strcmp(qs[i].broker_name, broker) != 0 || qs[i].queue_id != (int)qid))
            continue;
        found = true;
        int64_t start, stop, next;
        rc = queue_range(pc, &qs[i], &ca, &start, &stop, &err);
        int64_t before = ca.left;
        if (rc == MQ_OK)
            rc = consume_queue(pc, &qs[i], &ca, start, stop, &next, &err);
        total += before - ca.left;
        if (rc == MQ_OK && ca.commit && next > start)
            rc = mq_pull_consumer_commit_offset(pc, &qs[i], next, &err);
    }
    fflush(stdout);
    mq_free(qs);
    mq_pull_consumer_destroy(pc);
    if (rc != MQ_OK)
        return mqadmin_fail_err("consume", &err);
    if (!found)
        return mqadmin_fail("topic %s has no queue %lld on broker %s", topic, (long long)qid, broker);
    fprintf(stderr, "mqadmin: printed %lld message(s) of %s (-c %lld); %s%s\n", (long long)total, topic,
            (long long)want, ca.commit ? "offsets committed for group " : "no offsets committed",
            ca.commit ? ca.group : "");
    return MQADMIN_OK;
}
