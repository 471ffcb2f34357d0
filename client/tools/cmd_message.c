/*
 * cmd_message.c - `mqadmin sendMessage` and `mqadmin consumeMessage`.
 *
 * sendMessage starts a producer (group "mqadmin_producer"), sends one
 * message synchronously and prints the send result.
 *
 * consumeMessage consumes as a member of group -g in CLUSTERING mode with a
 * push consumer: from the group's committed offsets, or, for a group with
 * none, from the first message still stored (this tool's default, unlike a
 * push consumer's LAST). -o OFFSET / -s TIMESTAMP first commit that start
 * (an offset, or the first message stored at or after the time) for every
 * queue of the topic, then consume from there. The group's offsets are
 * committed as it goes and on exit. It stops after --max N messages (the
 * consumer is suspended from the listener so no message beyond N is
 * acknowledged), after --idle S seconds without a new message, or on
 * SIGINT/SIGTERM. One consume thread keeps each queue's messages in order
 * on the output. Messages go to stdout, one per line (--json: one JSON
 * object per line); a summary goes to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define SEND_USAGE                                                                                  \
    "-n NAMESRV -t TOPIC -p BODY [-k KEYS] [-c TAGS] [-b BROKER_NAME -i QUEUE_ID]\n"                 \
    "       [--delayLevel N | --deliverTime EPOCH_MS | --delayMs MS] [--json]"

int cmd_send_message(const mqadmin_args *a)
{
    int argc = a->argc;
    char **argv = a->argv;
    const char *ns = NULL, *topic = NULL, *body = NULL, *keys = NULL, *tags = NULL, *broker = NULL, *qid = NULL;
    const char *delay_level = NULL, *deliver_time = NULL, *delay_ms = NULL;
    bool json = a->json;
    static const struct option longs[] = {{"json", no_argument, NULL, 'J'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"delayLevel", required_argument, NULL, 'L'},
                                          {"deliverTime", required_argument, NULL, 'T'},
                                          {"delayMs", required_argument, NULL, 'D'},
                                          {0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "n:t:p:k:c:b:i:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'n': ns = optarg; break;
        case 't': topic = optarg; break;
        case 'p': body = optarg; break;
        case 'k': keys = optarg; break;
        case 'c': tags = optarg; break;
        case 'b': broker = optarg; break;
        case 'i': qid = optarg; break;
        case 'J': json = true; break;
        case 'L': delay_level = optarg; break;
        case 'T': deliver_time = optarg; break;
        case 'D': delay_ms = optarg; break;
        case 'h':
            printf("Usage: mqadmin sendMessage %s\n  send one message and print the result; --delayLevel N holds it\n"
                   "  for the broker's level N delay, --deliverTime delivers it at that epoch millisecond,\n"
                   "  --delayMs that many ms after it is stored\n", SEND_USAGE);
            return MQADMIN_OK;
        default: return mqadmin_usage(a, "%s", "unknown option or missing value");
        }
    }
    if (optind < argc - 1)
        return mqadmin_usage(a, "unexpected argument '%s'", argv[optind + 1]);
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

#define CONSUME_USAGE "-n NAMESRV -t TOPIC -g GROUP [-c TAGS] [-o OFFSET | -s TIMESTAMP] [--max N] [--idle S] [--json]"

typedef struct consume_state {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int64_t count;
    int64_t max;          /* 0: unlimited */
    struct timespec last; /* CLOCK_MONOTONIC of the last message (or start) */
    bool json;
    mq_push_consumer *c;
} consume_state;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

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
    fflush(stdout);
}

static mq_consume_status on_messages(const mq_message_ext *const *msgs, int n, void *arg)
{
    consume_state *s = arg;
    pthread_mutex_lock(&s->m);
    for (int i = 0; i < n; i++) {
        print_message(msgs[i], s->json);
        s->count++;
    }
    if (s->max > 0 && s->count >= s->max)
        mq_push_consumer_suspend(s->c); /* acknowledge nothing beyond --max */
    clock_gettime(CLOCK_MONOTONIC, &s->last);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->m);
    return MQ_CONSUME_SUCCESS;
}

/* Commits a start offset for every queue of topic (-o / -s). */
static int set_start(const char *ns, const char *group, const char *topic, int64_t offset, int64_t ts)
{
    mq_error err = {0};
    mq_pull_consumer *pc = NULL;
    if (mq_pull_consumer_new(group, ns, NULL, &pc, &err) != MQ_OK || mq_pull_consumer_start(pc, &err) != MQ_OK) {
        mq_pull_consumer_destroy(pc);
        return mqadmin_fail_err("start", &err);
    }
    mq_message_queue *qs = NULL;
    int n = 0;
    int rc = mq_pull_consumer_fetch_queues(pc, topic, &qs, &n, &err);
    for (int i = 0; rc == MQ_OK && i < n; i++) {
        int64_t start = offset, min = 0, max = 0;
        if (ts >= 0)
            rc = mq_pull_consumer_search_offset(pc, &qs[i], ts, &start, &err);
        if (rc == MQ_OK)
            rc = mq_pull_consumer_min_offset(pc, &qs[i], &min, &err);
        if (rc == MQ_OK)
            rc = mq_pull_consumer_max_offset(pc, &qs[i], &max, &err);
        if (rc != MQ_OK)
            break;
        start = start < min ? min : start > max ? max : start;
        rc = mq_pull_consumer_commit_offset(pc, &qs[i], start, &err);
    }
    mq_free(qs);
    mq_pull_consumer_destroy(pc);
    return rc == MQ_OK ? MQADMIN_OK : mqadmin_fail_err(ts >= 0 ? "set the start time" : "set the start offset", &err);
}

/* Fails early and clearly when the topic has no route. */
static int check_topic(const mqadmin_args *a, const char *ns, const char *group, const char *topic)
{
    mq_error err = {0};
    mq_pull_consumer *pc = NULL;
    if (mq_pull_consumer_new(group, ns, NULL, &pc, &err) != MQ_OK || mq_pull_consumer_start(pc, &err) != MQ_OK) {
        mq_pull_consumer_destroy(pc);
        return err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", err.message)
                                     : mqadmin_fail_err("start", &err);
    }
    mq_message_queue *qs = NULL;
    int n = 0;
    int rc = mq_pull_consumer_fetch_queues(pc, topic, &qs, &n, &err);
    mq_free(qs);
    mq_pull_consumer_destroy(pc);
    return rc == MQ_OK ? MQADMIN_OK : mqadmin_fail_err("topic", &err);
}

static double since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

int cmd_consume_message(const mqadmin_args *a)
{
    int argc = a->argc;
    char **argv = a->argv;
    const char *ns = NULL, *topic = NULL, *group = NULL, *tags = NULL, *off_s = NULL, *ts_s = NULL;
    const char *max_s = NULL, *idle_s = NULL;
    bool json = false;
    static const struct option longs[] = {{"json", no_argument, NULL, 'J'},
                                          {"max", required_argument, NULL, 'M'},
                                          {"idle", required_argument, NULL, 'I'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "n:t:g:c:o:s:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'n': ns = optarg; break;
        case 't': topic = optarg; break;
        case 'g': group = optarg; break;
        case 'c': tags = optarg; break;
        case 'o': off_s = optarg; break;
        case 's': ts_s = optarg; break;
        case 'M': max_s = optarg; break;
        case 'I': idle_s = optarg; break;
        case 'J': json = true; break;
        case 'h':
            printf("Usage: mqadmin consumeMessage %s\n  consume as a member of GROUP and print each message\n",
                   CONSUME_USAGE);
            return MQADMIN_OK;
        default: return mqadmin_usage(a, "%s", "unknown option or missing value");
        }
    }
    if (optind < argc - 1)
        return mqadmin_usage(a, "unexpected argument '%s'", argv[optind + 1]);
    if (!topic || !group)
        return mqadmin_usage(a, "%s", "-t TOPIC and -g GROUP are required");
    if (off_s && ts_s)
        return mqadmin_usage(a, "%s", "give -o or -s, not both");
    int64_t offset = -1, ts = -1, max = 0, idle = 0;
    if (off_s && !parse_i64(off_s, 0, INT64_MAX, &offset))
        return mqadmin_usage(a, "bad offset '%s'", off_s);
    if (ts_s && !strcmp(ts_s, "now")) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ts = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    } else if (ts_s && !parse_i64(ts_s, 0, INT64_MAX, &ts)) {
        return mqadmin_usage(a, "bad timestamp '%s' (milliseconds or now)", ts_s);
    }
    if (max_s && !parse_i64(max_s, 1, INT64_MAX, &max))
        return mqadmin_usage(a, "bad --max '%s'", max_s);
    if (idle_s && !parse_i64(idle_s, 1, 86400, &idle))
        return mqadmin_usage(a, "bad --idle '%s' (seconds)", idle_s);

    int rc = check_topic(a, ns, group, topic);
    if (rc == MQADMIN_OK && (offset >= 0 || ts >= 0))
        rc = set_start(ns, group, topic, offset, ts);
    if (rc != MQADMIN_OK)
        return rc;

    consume_state s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.m, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s.cv, &ca);
    pthread_condattr_destroy(&ca);
    s.max = max;
    s.json = json;
    clock_gettime(CLOCK_MONOTONIC, &s.last);

    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    o.consume_thread_count = 1;
    o.persist_offset_interval_ms = 1000;
    mq_error err = {0};
    mq_push_consumer *c = NULL;
    if (mq_push_consumer_new(group, ns, &o, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, topic, tags ? tags : "*", &err) != MQ_OK) {
        mq_push_consumer_destroy(c);
        return err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", err.message)
                                     : mqadmin_fail_err("consumer", &err);
    }
    s.c = c;
    mq_push_consumer_set_listener(c, on_messages, &s);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (mq_push_consumer_start(c, &err) != MQ_OK) {
        mq_push_consumer_destroy(c);
        return mqadmin_fail_err("start", &err);
    }
    pthread_mutex_lock(&s.m);
    while (!g_stop && !(max > 0 && s.count >= max) && !(idle > 0 && since(&s.last) >= (double)idle)) {
        struct timespec wake;
        clock_gettime(CLOCK_MONOTONIC, &wake);
        wake.tv_nsec += 100 * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s.cv, &s.m, &wake);
    }
    int64_t count = s.count;
    pthread_mutex_unlock(&s.m);
    mq_push_consumer_destroy(c); /* commits the group's offsets */
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.m);
    fprintf(stderr, "mqadmin: consumed %lld message(s) of %s as group %s\n", (long long)count, topic, group);
    return MQADMIN_OK;
}
