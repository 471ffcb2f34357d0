/*
 * cmd_transaction.c - mqadmin transaction commands (ours; RocketMQ's
 * mqadmin has none):
 *   queryTransaction (-b BROKER | -c CLUSTER) [-g PRODUCER_GROUP] [-p] [-m MAX]
 *       half messages waiting for a decision, oldest first, with their age,
 *       checks sent and next check; -p: those parked after
 *       transactionCheckMax checks instead.
 *   resolveTransaction -b BROKER -i MSGID -a commit|rollback
 *       decide a pending or parked half message by hand (MSGID: transaction
 *       id / UNIQ_KEY, or the offset msg id of the half message).
 * --json prints {"brokers":{"ip:port":{"total":N,"messages":[...]}}} for the
 * query and {"broker":..,"msgId":..,"action":..,"remark":..} for resolve.
 */
#include <stdio.h>
#include <string.h>

#include "mq/admin_transaction.h"
#include "mqadmin.h"
#include "util.h"

static void age_text(int64_t since_ms, int64_t now, char *buf, size_t cap)
{
    int64_t s = since_ms > 0 ? (now - since_ms) / 1000 : 0;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, cap, "%llds", (long long)s);
    else if (s < 7200)
        snprintf(buf, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(buf, cap, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
}

static void json_half(json_writer *w, const mq_half_message *h, int64_t now)
{
    json_object_begin(w);
    json_kv_string(w, "msgId", h->msg_id);
    json_kv_string(w, "offsetMsgId", h->offset_msg_id);
    json_kv_string(w, "producerGroup", h->producer_group);
    json_kv_string(w, "topic", h->topic);
    json_kv_int(w, "queueId", h->queue_id);
    json_kv_string(w, "keys", h->keys);
    json_kv_string(w, "tags", h->tags);
    json_kv_int(w, "halfOffset", h->half_offset);
    json_kv_int(w, "commitLogOffset", h->commit_log_offset);
    json_kv_int(w, "storeTimestamp", h->store_timestamp);
    json_kv_int(w, "ageMs", h->store_timestamp ? now - h->store_timestamp : 0);
    json_kv_int(w, "checkTimes", h->check_times);
    if (h->parked)
        json_kv_int(w, "parkedTimestamp", h->parked_timestamp);
    else
        json_kv_int(w, "nextCheckTimestamp", h->next_check_timestamp);
    json_kv_bool(w, "parked", h->parked);
    json_object_end(w);
}

int cmd_query_transaction(const mqadmin_args *a)
{
    const char *broker = a->flags['b'], *cluster = a->flags['c'], *group = a->flags['g'];
    bool parked = a->flags['p'] != NULL;
    if ((!broker || !*broker) == (!cluster || !*cluster))
        return mqadmin_usage(a, "give either -b BROKER_ADDR or -c CLUSTER");
    int64_t max;
    int rc = mqadmin_int_flag(a, 'm', 1, 10000, 100, &max);
    if (rc)
        return rc;
    mq_admin *admin;
    if ((rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    mq_string_list one = {1, (char **)&broker};
    mq_string_list *targets = &one, *masters = NULL;
    if (cluster && *cluster) {
        if (mq_admin_cluster_masters(admin, cluster, &masters, &err) != MQ_OK) {
            mq_admin_free(admin);
            return mqadmin_fail_err("query transactions", &err);
        }
        targets = masters;
    }
    bytebuf buf;
    json_writer w;
    if (a->json) {
        mqadmin_json_object_start(&w, &buf);
        json_key(&w, "brokers");
        json_object_begin(&w);
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < targets->n && rc == 0; i++) {
        mq_half_message_list *l;
        if (mq_admin_query_transaction(admin, targets->items[i], group, parked, (int)max, &l, &err) != MQ_OK) {
            rc = mqadmin_fail_err("query transactions", &err);
            break;
        }
        if (a->json) {
            json_key(&w, targets->items[i]);
            json_object_begin(&w);
            json_kv_int(&w, "total", l->total);
            json_key(&w, "messages");
            json_array_begin(&w);
            for (size_t k = 0; k < l->n; k++)
                json_half(&w, &l->items[k], now);
            json_array_end(&w);
            json_object_end(&w);
        } else {
            printf("%s#Broker %s: %lld %s half message(s)%s\n", i ? "\n" : "", targets->items[i], (long long)l->total,
                   parked ? "parked" : "pending", (int64_t)l->n < l->total ? " (oldest shown; raise -m for more)" : "");
            if (l->n) {
                mqadmin_table t;
                mqadmin_table_init(&t, 8, "#MsgId", "#ProducerGroup", "#Topic", "#Queue", "#Keys", "#Age", "#Checks",
                                   parked ? "#Parked" : "#NextCheck");
                for (size_t k = 0; k < l->n; k++) {
                    const mq_half_message *h = &l->items[k];
                    char age[32], q[16], checks[16], tb[32], when[32];
                    age_text(h->store_timestamp, now, age, sizeof age);
                    snprintf(q, sizeof q, "%d", h->queue_id);
                    snprintf(checks, sizeof checks, "%d", h->check_times);
                    str_copy(when, sizeof when,
                             mqadmin_time_text(parked ? h->parked_timestamp : h->next_check_timestamp, tb));
                    mqadmin_table_row(&t, h->msg_id, h->producer_group, h->topic, q, h->keys, age, checks, when);
                }
                mqadmin_table_print(&t, stdout);
                mqadmin_table_free(&t);
            }
        }
        mq_half_message_list_free(l);
    }
    if (a->json) {
        json_object_end(&w);
        if (rc == 0)
            rc = mqadmin_json_object_done(&w, &buf);
        else
            bytebuf_free(&buf);
    }
    mq_string_list_free(masters);
    mq_admin_free(admin);
    return rc;
}

int cmd_resolve_transaction(const mqadmin_args *a)
{
    const char *broker = mqadmin_required(a, 'b', "BROKER_ADDR");
    if (!broker)
        return MQADMIN_USAGE;
    const char *id = mqadmin_required(a, 'i', "MSGID");
    if (!id)
        return MQADMIN_USAGE;
    const char *action = mqadmin_required(a, 'a', "commit|rollback");
    if (!action)
        return MQADMIN_USAGE;
    bool commit;
    if (!strcmp(action, "commit"))
        commit = true;
    else if (!strcmp(action, "rollback"))
        commit = false;
    else
        return mqadmin_usage(a, "-a must be commit or rollback, not '%s'", action);
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_error err = {0};
    char remark[512];
    if (mq_admin_resolve_transaction(admin, broker, id, commit, remark, sizeof remark, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err(commit ? "commit transaction" : "roll back transaction", &err);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_kv_string(&w, "broker", broker);
        json_kv_string(&w, "msgId", id);
        json_kv_string(&w, "action", action);
        json_kv_string(&w, "remark", remark);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        printf("%s\n", remark);
    }
    mq_admin_free(admin);
    return rc;
}
