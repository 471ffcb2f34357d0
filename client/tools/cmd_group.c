/*
 * cmd_group.c - mqadmin consumer-group commands:
 *   updateSubGroup (-c | -b) -g GROUP [-s consumeEnable] [-m consumeFromMinEnable]
 *                  [-d consumeBroadcastEnable] [-q retryQueueNums] [-r retryMaxTimes]
 *                  [-i brokerId] [-w whichBrokerWhenConsumeSlowly] [-a notifyConsumerIdsChanged]
 * Flags and defaults are RocketMQ's (SubscriptionGroupConfig). --json prints
 * the resulting config as RocketMQ's SubscriptionGroupConfig JSON plus the
 * broker addresses updated.
 */
#include <string.h>

#include "mqadmin.h"

int cmd_update_sub_group(const mqadmin_args *a)
{
    const char *broker = a->flags['b'], *cluster = a->flags['c'];
    const char *group = mqadmin_required(a, 'g', "GROUP");
    if (!group)
        return MQADMIN_USAGE;
    if ((!broker || !*broker) == (!cluster || !*cluster))
        return mqadmin_usage(a, "give either -b BROKER_ADDR or -c CLUSTER");
    mq_group_config g;
    mq_group_config_init(&g, group);
    int64_t q, r, id, slow;
    int rc;
    if ((rc = mqadmin_bool_flag(a, 's', true, &g.consume_enable)) ||
        (rc = mqadmin_bool_flag(a, 'm', true, &g.consume_from_min_enable)) ||
        (rc = mqadmin_bool_flag(a, 'd', true, &g.consume_broadcast_enable)) ||
        (rc = mqadmin_bool_flag(a, 'a', true, &g.notify_consumer_ids_changed_enable)) ||
        (rc = mqadmin_int_flag(a, 'q', 0, 1024, 1, &q)) || (rc = mqadmin_int_flag(a, 'r', -1, 10000, 16, &r)) ||
        (rc = mqadmin_int_flag(a, 'i', 0, 1024, 0, &id)) || (rc = mqadmin_int_flag(a, 'w', 0, 1024, 1, &slow)))
        return rc;
    g.retry_queue_nums = (int32_t)q;
    g.retry_max_times = (int32_t)r;
    g.broker_id = id;
    g.which_broker_when_consume_slowly = slow;

    mq_admin *admin;
    if ((rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    mq_string_list one = {1, (char **)&broker}, *done = NULL;
    int st = cluster && *cluster ? mq_admin_update_group_in_cluster(admin, cluster, &g, &done, &err)
                                 : mq_admin_update_group(admin, broker, &g, &err);
    rc = mqadmin_report_updates(a, "subscription group", broker, done, st, &err);
    const mq_string_list *targets = done ? done : &one;
    if (rc == 0 && a->json) {
        bytebuf buf;
        bytebuf_init(&buf);
        json_writer w;
        json_writer_init(&w, &buf, true);
        json_object_begin(&w);
        json_kv_string(&w, "groupName", g.group);
        json_kv_bool(&w, "consumeEnable", g.consume_enable);
        json_kv_bool(&w, "consumeFromMinEnable", g.consume_from_min_enable);
        json_kv_bool(&w, "consumeBroadcastEnable", g.consume_broadcast_enable);
        json_kv_int(&w, "retryQueueNums", g.retry_queue_nums);
        json_kv_int(&w, "retryMaxTimes", g.retry_max_times);
        json_kv_int(&w, "brokerId", g.broker_id);
        json_kv_int(&w, "whichBrokerWhenConsumeSlowly", g.which_broker_when_consume_slowly);
        json_kv_bool(&w, "notifyConsumerIdsChangedEnable", g.notify_consumer_ids_changed_enable);
        json_key(&w, "brokerAddrs");
        json_array_begin(&w);
        for (size_t i = 0; i < targets->n; i++)
            json_str(&w, targets->items[i]);
        json_array_end(&w);
        json_object_end(&w);
        rc = mqadmin_json_print(&w, &buf);
    } else if (rc == 0)
        printf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%s, consumeFromMinEnable=%s, "
               "consumeBroadcastEnable=%s, retryQueueNums=%d, retryMaxTimes=%d, brokerId=%lld, "
               "whichBrokerWhenConsumeSlowly=%lld, notifyConsumerIdsChangedEnable=%s]\n",
               g.group, g.consume_enable ? "true" : "false", g.consume_from_min_enable ? "true" : "false",
               g.consume_broadcast_enable ? "true" : "false", g.retry_queue_nums, g.retry_max_times,
               (long long)g.broker_id, (long long)g.which_broker_when_consume_slowly,
               g.notify_consumer_ids_changed_enable ? "true" : "false");
    mq_string_list_free(done);
    mq_admin_free(admin);
    return rc;
}
