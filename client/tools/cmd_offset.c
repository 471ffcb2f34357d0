/*
 * cmd_offset.c - mqadmin commands about queue offsets:
 *   topicStatus        min/max offset and last update of every queue of a topic
 *   consumerProgress   a group's committed offset and lag per queue
 *   resetOffsetByTime  move a group to a time, or one queue to an exact offset,
 *                      whether its consumers are online or not
 * Tables follow RocketMQ's mqadmin layout; --json prints one document.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mqadmin.h"
#include "msg_json.h"
#include "util.h"

/* Opens the JSON object of one queue: {"brokerName":..,"queueId":.., */
static void json_queue_begin(json_writer *w, const char *broker_name, int32_t queue_id)
{
    json_object_begin(w);
    json_kv_string(w, "brokerName", broker_name);
    json_kv_int(w, "queueId", queue_id);
}

int cmd_topic_status(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc;
    const char *topic = mqadmin_open_for(a, 't', "TOPIC", &admin, &rc);
    if (!topic)
        return rc;
    mq_error err = {0};
    mq_topic_status *st;
    if (mq_admin_topic_status(admin, topic, &st, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("topic status", &err);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_key(&w, "offsetTable");
        json_array_begin(&w);
        for (size_t i = 0; i < st->n; i++)
            queue_offsets_json_write(&w, &st->queues[i]);
        json_array_end(&w);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        mqadmin_table t;
        mqadmin_table_init(&t, 5, "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated");
        for (size_t i = 0; i < st->n; i++) {
            char qid[16], min[24], max[24], when[32];
            snprintf(qid, sizeof qid, "%d", st->queues[i].queue_id);
            snprintf(min, sizeof min, "%" PRId64, st->queues[i].min_offset);
            snprintf(max, sizeof max, "%" PRId64, st->queues[i].max_offset);
            mqadmin_table_row(&t, st->queues[i].broker_name, qid, min, max,
                              mqadmin_time_text(st->queues[i].last_update_ms, when));
        }
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
    }
    mq_topic_status_free(st);
    mq_admin_free(admin);
    return rc;
}

int cmd_consumer_progress(const mqadmin_args *a)
{
    const char *group = a->flags['g'];
    if (!group || !*group)
        return cmd_consumer_progress_all(a); /* cmd_status.c: every group, its total lag */
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_error err = {0};
    mq_consumer_progress *p;
    if (mq_admin_consumer_progress(admin, group, a->flags['t'], &p, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("consumer progress", &err);
    }
    if (p->n == 0) { /* no offsets anywhere: an unknown group, or one that never committed */
        mq_consumer_progress_free(p);
        mq_admin_free(admin);
        if (a->flags['t'])
            return mqadmin_fail("group %s has no offsets for topic %s (unknown group, or it never consumed it)",
                                group, a->flags['t']);
        return mqadmin_fail("group %s has no offsets on any broker (unknown group, or it never consumed)", group);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_kv_string(&w, "consumerGroup", group);
        json_kv_int(&w, "diffTotal", p->total_lag);
        json_key(&w, "offsetTable");
        json_array_begin(&w);
        for (size_t i = 0; i < p->n; i++) {
            const mq_queue_progress *q = &p->queues[i];
            json_queue_begin(&w, q->broker_name, q->queue_id);
            json_kv_string(&w, "topic", q->topic);
            json_kv_int(&w, "brokerOffset", q->broker_offset);
            json_kv_int(&w, "consumerOffset", q->consumer_offset);
            json_kv_int(&w, "diff", q->lag);
            json_kv_int(&w, "lastTimestamp", q->last_timestamp);
            json_object_end(&w);
        }
        json_array_end(&w);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        mqadmin_table t;
        mqadmin_table_init(&t, 7, "#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff",
                           "#LastTime");
        for (size_t i = 0; i < p->n; i++) {
            const mq_queue_progress *q = &p->queues[i];
            char qid[16], bo[24], co[24], diff[24], when[32];
            snprintf(qid, sizeof qid, "%d", q->queue_id);
            snprintf(bo, sizeof bo, "%" PRId64, q->broker_offset);
            snprintf(co, sizeof co, "%" PRId64, q->consumer_offset);
            snprintf(diff, sizeof diff, "%" PRId64, q->lag);
            mqadmin_table_row(&t, q->topic, q->broker_name, qid, bo, co, diff, mqadmin_time_text(q->last_timestamp, when));
        }
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
        printf("\nDiff Total: %" PRId64 "\n", p->total_lag);
    }
    mq_consumer_progress_free(p);
    mq_admin_free(admin);
    return rc;
}

int cmd_reset_offset_by_time(const mqadmin_args *a)
{
    const char *group = mqadmin_required(a, 'g', "GROUP");
    const char *topic = group ? mqadmin_required(a, 't', "TOPIC") : NULL;
    if (!group || !topic)
        return MQADMIN_USAGE;
    const char *broker = a->flags['b'];
    bool exact = broker && *broker;
    int64_t ts = 0, queue = -1, offset = -1;
    bool force = true;
    int rc;
    if (exact) {
        if (a->flags['s'])
            return mqadmin_usage(a, "give either -s TIMESTAMP or -b BROKER_NAME -q QUEUE -o OFFSET, not both");
        if (!a->flags['q'] || !a->flags['o'])
            return mqadmin_usage(a, "-b BROKER_NAME needs -q QUEUE and -o OFFSET");
        if ((rc = mqadmin_int_flag(a, 'q', 0, 65535, 0, &queue)) != 0 ||
            (rc = mqadmin_int_flag(a, 'o', 0, INT64_MAX, 0, &offset)) != 0)
            return rc;
    } else if ((rc = mqadmin_time_flag(a, 's', &ts)) != 0 || (rc = mqadmin_bool_flag(a, 'f', true, &force)) != 0) {
        return rc;
    }
    mq_admin *admin;
    if ((rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    if (exact) {
        if (mq_admin_reset_offset_to(admin, group, topic, broker, (int32_t)queue, offset, &err) != MQ_OK)
            rc = mqadmin_fail_err("reset offset", &err);
        else if (a->json)
            printf("{\"brokerName\":\"%s\",\"queueId\":%" PRId64 ",\"offset\":%" PRId64 "}\n", broker, queue, offset);
        else
            printf("group %s topic %s: %s queue %" PRId64 " reset to offset %" PRId64 "\n", group, topic, broker, queue,
                   offset);
        mq_admin_free(admin);
        return rc;
    }
    mq_queue_offset_list *l;
    if (mq_admin_reset_offset_by_time(admin, group, topic, ts, force, &l, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("reset offset", &err);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_key(&w, "offsetTable");
        json_array_begin(&w);
        for (size_t i = 0; i < l->n; i++) {
            json_queue_begin(&w, l->items[i].broker_name, l->items[i].queue_id);
            json_kv_int(&w, "offset", l->items[i].offset);
            json_object_end(&w);
        }
        json_array_end(&w);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        mqadmin_table t;
        mqadmin_table_init(&t, 3, "#Broker Name", "#QID", "#Offset");
        for (size_t i = 0; i < l->n; i++) {
            char qid[16], off[24];
            snprintf(qid, sizeof qid, "%d", l->items[i].queue_id);
            snprintf(off, sizeof off, "%" PRId64, l->items[i].offset);
            mqadmin_table_row(&t, l->items[i].broker_name, qid, off);
        }
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
    }
    mq_queue_offset_list_free(l);
    mq_admin_free(admin);
    return rc;
}
