/*
 * cmd_query.c - mqadmin's message lookups: queryMsgById (offset id or
 * unique id), queryMsgByUniqueKey, queryMsgByKey (-b/-e time range, every
 * broker of the topic), queryMsgByOffset (-b broker name -i queue -o
 * offset) and printMsg (a topic over a time range, or one queue over an
 * offset range). Uses mq/admin_query.h; nothing is consumed or committed.
 *
 * Each message is printed as RocketMQ's queryMsgById prints it: one
 * "Label: value" line per header, the properties, then the body - as text
 * when it is valid UTF-8 without control characters (tab and newlines
 * allowed), else as hex - capped at -l BYTES (default 4096; -l 0 prints
 * everything). --json prints the queries' messages as one JSON array and
 * printMsg's as one object per line (it streams). Nothing found is
 * "mqadmin: ... not found" on stderr and exit status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/admin_query.h"
#include "mqadmin.h"
#include "msg_json.h"

enum { BODY_LIMIT_DEFAULT = 4096 };

static void print_text(const mq_message_ext *m, size_t limit)
{
    char t1[32], t2[32], born[64], store[64];
    mq_message_ext_born_host(m, born, sizeof born);
    mq_message_ext_store_host(m, store, sizeof store);
    const char *uniq = mq_message_ext_property(m, "UNIQ_KEY");
    printf("%-20s%s\n", "OffsetID:", mq_message_ext_offset_msg_id(m));
    printf("%-20s%s\n", "MsgId:", uniq ? uniq : mq_message_ext_offset_msg_id(m));
    printf("%-20s%s\n", "Topic:", mq_message_ext_topic(m));
    printf("%-20s[%s]\n", "Tags:", mq_message_ext_tags(m));
    printf("%-20s[%s]\n", "Keys:", mq_message_ext_keys(m));
    printf("%-20s%s\n", "Broker Name:", mq_message_ext_broker_name(m));
    printf("%-20s%d\n", "Queue ID:", mq_message_ext_queue_id(m));
    printf("%-20s%lld\n", "Queue Offset:", (long long)mq_message_ext_queue_offset(m));
    printf("%-20s%lld\n", "CommitLog Offset:", (long long)mq_message_ext_commit_log_offset(m));
    printf("%-20s%d\n", "Reconsume Times:", mq_message_ext_reconsume_times(m));
    printf("%-20s%s\n", "Born Timestamp:", mqadmin_time_text(mq_message_ext_born_timestamp(m), t1));
    printf("%-20s%s\n", "Store Timestamp:", mqadmin_time_text(mq_message_ext_store_timestamp(m), t2));
    printf("%-20s%s\n", "Born Host:", born);
    printf("%-20s%s\n", "Store Host:", store);
    printf("%-20s%d\n", "Flag:", (int)mq_message_ext_flag(m));
    printf("%-20s{", "Properties:");
    const char *k, *v;
    int i = 0;
    for (size_t it = 0; mq_message_ext_next_property(m, &it, &k, &v);)
        printf("%s%s=%s", i++ ? ", " : "", k, v);
    printf("}\n");
    bool hex, cut;
    size_t total;
    char *body = msg_body_text(m, limit, &hex, &cut, &total);
    printf("%-20s%zu bytes, %s%s\n", "Body:", total, hex ? "hex" : "text",
           cut ? " (cut at -l; -l 0 prints all)" : "");
    printf("%s\n", body);
    free(body);
}

static int body_limit(const mqadmin_args *a, size_t *limit)
{
    int64_t v;
    int rc = mqadmin_int_flag(a, 'l', 0, INT32_MAX, BODY_LIMIT_DEFAULT, &v);
    *limit = (size_t)v;
    return rc;
}

/* Prints a query's result (or its error) and frees it. */
static int print_list(const mqadmin_args *a, int rc, mq_message_list *l, const mq_error *err, const char *what)
{
    if (rc != MQ_OK)
        return err->code == MQ_EINVAL ? mqadmin_usage(a, "%s", err->message) : mqadmin_fail_err(what, err);
    size_t limit;
    if ((rc = body_limit(a, &limit)) != 0) {
        mq_message_list_free(l);
        return rc;
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        bytebuf_init(&buf);
        json_writer_init(&w, &buf, true);
        json_array_begin(&w);
        for (size_t i = 0; i < l->n; i++)
            msg_json_write(&w, l->msgs[i], limit);
        json_array_end(&w);
        rc = mqadmin_json_print(&w, &buf);
    } else {
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                printf("\n");
            print_text(l->msgs[i], limit);
        }
    }
    mq_message_list_free(l);
    return rc;
}

/* One lookup: what the command parsed, and which library call to make. */
typedef enum { Q_ID, Q_UNIQUE, Q_KEY, Q_OFFSET } query_kind;

typedef struct query_args {
    query_kind kind;
    const char *topic, *id, *key, *broker;
    int64_t begin, end, max, queue, offset;
} query_args;

/* Opens the handle (after checking -l, so usage errors come first), runs
 * the lookup, prints what it found or why not. */
static int run_query(const mqadmin_args *a, const query_args *q, const char *what)
{
    size_t limit;
    mq_admin *admin;
    int rc = body_limit(a, &limit);
    if (rc != 0 || (rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    mq_message_list *l = NULL;
    switch (q->kind) {
    case Q_ID: rc = mq_admin_query_msg_id(admin, q->topic, q->id, &l, &err); break;
    case Q_UNIQUE: rc = mq_admin_query_unique_key(admin, q->topic, q->id, &l, &err); break;
    case Q_KEY: rc = mq_admin_query_key(admin, q->topic, q->key, q->begin, q->end, (int)q->max, &l, &err); break;
    case Q_OFFSET:
        rc = mq_admin_query_offset(admin, q->topic, q->broker, (int32_t)q->queue, q->offset, &l, &err);
        break;
    }
    rc = print_list(a, rc, l, &err, what);
    mq_admin_free(admin);
    return rc;
}

int cmd_query_msg_by_id(const mqadmin_args *a)
{
    query_args q = {.kind = Q_ID, .topic = a->flags['t'], .id = mqadmin_required(a, 'i', "MSG_ID")};
    return q.id ? run_query(a, &q, "query by id") : MQADMIN_USAGE;
}

int cmd_query_msg_by_unique_key(const mqadmin_args *a)
{
    query_args q = {.kind = Q_UNIQUE, .id = mqadmin_required(a, 'i', "UNIQUE_ID")};
    q.topic = q.id ? mqadmin_required(a, 't', "TOPIC") : NULL;
    return q.topic ? run_query(a, &q, "query by unique key") : MQADMIN_USAGE;
}

/* Optional time flag: absent leaves *ms alone. */
static int opt_time(const mqadmin_args *a, char letter, int64_t *ms)
{
    return a->flags[(unsigned char)letter] ? mqadmin_time_flag(a, letter, ms) : 0;
}

int cmd_query_msg_by_key(const mqadmin_args *a)
{
    query_args q = {.kind = Q_KEY, .topic = mqadmin_required(a, 't', "TOPIC"), .begin = 0, .end = INT64_MAX};
    q.key = q.topic ? mqadmin_required(a, 'k', "KEY") : NULL;
    if (!q.key)
        return MQADMIN_USAGE;
    int rc;
    if ((rc = opt_time(a, 'b', &q.begin)) != 0 || (rc = opt_time(a, 'e', &q.end)) != 0 ||
        (rc = mqadmin_int_flag(a, 'm', 1, 64, 64, &q.max)) != 0)
        return rc;
    if (q.begin > q.end)
        return mqadmin_usage(a, "-b BEGIN is after -e END");
    return run_query(a, &q, "query by key");
}

int cmd_query_msg_by_offset(const mqadmin_args *a)
{
    query_args q = {.kind = Q_OFFSET, .topic = mqadmin_required(a, 't', "TOPIC")};
    q.broker = q.topic ? mqadmin_required(a, 'b', "BROKER_NAME") : NULL;
    if (!q.broker || !mqadmin_required(a, 'i', "QUEUE") || !mqadmin_required(a, 'o', "OFFSET"))
        return MQADMIN_USAGE;
    int rc;
    if ((rc = mqadmin_int_flag(a, 'i', 0, 65535, 0, &q.queue)) != 0 ||
        (rc = mqadmin_int_flag(a, 'o', 0, INT64_MAX, 0, &q.offset)) != 0)
        return rc;
    return run_query(a, &q, "query by offset");
}

typedef struct print_state {
    bool json;
    size_t limit;
} print_state;

static int print_one(const mq_message_ext *m, void *arg)
{
    print_state *s = arg;
    if (s->json) {
        bytebuf buf;
        json_writer w;
        bytebuf_init(&buf);
        json_writer_init(&w, &buf, false);
        msg_json_write(&w, m, s->limit);
        if (json_writer_finish(&w) == 0) {
            fwrite(buf.data, 1, buf.len, stdout);
            fputc('\n', stdout);
        }
        bytebuf_free(&buf);
    } else {
        print_text(m, s->limit);
        printf("\n");
    }
    return 0;
}

int cmd_print_msg(const mqadmin_args *a)
{
    const char *topic = mqadmin_required(a, 't', "TOPIC");
    if (!topic)
        return MQADMIN_USAGE;
    mq_message_range rg;
    mq_message_range_init(&rg);
    int64_t queue = -1, from = -1, to = -1, max = 0;
    int rc;
    if ((rc = opt_time(a, 'b', &rg.begin_ms)) != 0 || (rc = opt_time(a, 'e', &rg.end_ms)) != 0 ||
        (rc = mqadmin_int_flag(a, 'i', 0, 65535, -1, &queue)) != 0 ||
        (rc = mqadmin_int_flag(a, 'o', 0, INT64_MAX, -1, &from)) != 0 ||
        (rc = mqadmin_int_flag(a, 'x', 0, INT64_MAX, -1, &to)) != 0 ||
        (rc = mqadmin_int_flag(a, 'm', 0, INT64_MAX, 0, &max)) != 0)
        return rc;
    rg.broker_name = a->flags['a'];
    rg.queue_id = (int32_t)queue;
    rg.from_offset = from;
    rg.to_offset = to;
    rg.tags = a->flags['s'];
    rg.max_messages = (size_t)max;
    if (rg.begin_ms > rg.end_ms)
        return mqadmin_usage(a, "-b BEGIN is after -e END");
    if ((from >= 0 || to >= 0) && (!rg.broker_name || queue < 0))
        return mqadmin_usage(a, "-o/-x offsets need one queue: -a BROKER_NAME -i QUEUE");
    if (queue >= 0 && !rg.broker_name)
        return mqadmin_usage(a, "-i QUEUE needs -a BROKER_NAME");
    print_state s = {a->json, 0};
    if ((rc = body_limit(a, &s.limit)) != 0)
        return rc;
    mq_admin *admin;
    if ((rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    size_t count = 0;
    rc = mq_admin_read_messages(admin, topic, &rg, print_one, &s, &count, &err);
    mq_admin_free(admin);
    if (rc != MQ_OK)
        return err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", err.message) : mqadmin_fail_err("print messages", &err);
    if (count == 0)
        return mqadmin_fail("no message of topic %s in that range: not found", topic);
    if (!a->json)
        fprintf(stderr, "%zu message(s)\n", count);
    return MQADMIN_OK;
}
