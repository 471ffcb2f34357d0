/*
 * cmd_topic.c - mqadmin topic commands:
 *   topicList   [-c CLUSTER]    topic names (of one cluster with -c)
 *   topicRoute  -t TOPIC        queues per broker group and broker addresses
 *   updateTopic (-c | -b) -t .. create or update on a broker or every master of a cluster
 *   deleteTopic -c -t           delete from the cluster's masters and every nameserver
 * --json output uses RocketMQ's shapes: {"topicList":[...]} and TopicRouteData
 * {"queueDatas":[...],"brokerDatas":[...]}.
 */
#include <string.h>

#include "mqadmin.h"
#include "msg_json.h"
#include "util.h"

int cmd_topic_list(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    const char *cluster = a->flags['c'];
    mq_string_list *l;
    mq_error err = {0};
    if (mq_admin_topic_list(admin, cluster, &l, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("topic list", &err);
    }
    if (l->n == 0) {
        mq_string_list_free(l);
        mq_admin_free(admin);
        if (cluster && *cluster)
            return mqadmin_fail("cluster %s has no topics (is the name right? see mqadmin clusterList)", cluster);
        return mqadmin_fail("the nameserver(s) %s know no topic: no broker is registered (see mqadmin clusterList)",
                            mqadmin_namesrv(a));
    }
    if (a->json) {
        bytebuf buf;
        bytebuf_init(&buf);
        json_writer w;
        json_writer_init(&w, &buf, true);
        json_object_begin(&w);
        json_key(&w, "topicList");
        json_array_begin(&w);
        for (size_t i = 0; i < l->n; i++)
            json_str(&w, l->items[i]);
        json_array_end(&w);
        json_object_end(&w);
        rc = mqadmin_json_print(&w, &buf);
    } else if (cluster && *cluster) {
        mqadmin_table t;
        mqadmin_table_init(&t, 2, "#Cluster Name", "#Topic");
        for (size_t i = 0; i < l->n; i++)
            mqadmin_table_row(&t, cluster, l->items[i]);
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
    } else {
        for (size_t i = 0; i < l->n; i++)
            printf("%s\n", l->items[i]);
    }
    mq_string_list_free(l);
    mq_admin_free(admin);
    return rc;
}

static int route_json(const mq_topic_route *r)
{
    bytebuf buf;
    json_writer w;
    mqadmin_json_object_start(&w, &buf);
    topic_route_json_write(&w, r);
    json_object_end(&w);
    return mqadmin_json_print(&w, &buf);
}

int cmd_topic_route(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc;
    const char *topic = mqadmin_open_for(a, 't', "TOPIC", &admin, &rc);
    if (!topic)
        return rc;
    mq_topic_route *r;
    mq_error err = {0};
    int e = mq_admin_topic_route(admin, topic, &r, &err);
    mq_admin_free(admin);
    if (e != MQ_OK)
        return mqadmin_fail_err("topic route", &err);
    if (a->json) {
        rc = route_json(r);
    } else {
        mqadmin_table q;
        mqadmin_table_init(&q, 5, "#Broker Name", "#Read Queues", "#Write Queues", "#Perm", "#SysFlag");
        for (size_t i = 0; i < r->n_queue_datas; i++) {
            const mq_queue_data *d = &r->queue_datas[i];
            char rq[16], wq[16], perm[4], sf[16];
            snprintf(rq, sizeof rq, "%d", d->read_queue_nums);
            snprintf(wq, sizeof wq, "%d", d->write_queue_nums);
            snprintf(sf, sizeof sf, "%d", d->topic_sys_flag);
            mqadmin_table_row(&q, d->broker_name, rq, wq, mqadmin_perm_text(d->perm, perm), sf);
        }
        mqadmin_table_print(&q, stdout);
        mqadmin_table_free(&q);
        printf("\n");
        mqadmin_table b;
        mqadmin_table_init(&b, 4, "#Cluster Name", "#Broker Name", "#BID", "#Addr");
        for (size_t i = 0; i < r->n_brokers; i++)
            for (size_t k = 0; k < r->brokers[i].n_addrs; k++) {
                char id[24];
                snprintf(id, sizeof id, "%lld", (long long)r->brokers[i].addrs[k].id);
                mqadmin_table_row(&b, r->brokers[i].cluster, r->brokers[i].broker_name, id,
                                  r->brokers[i].addrs[k].addr);
            }
        mqadmin_table_print(&b, stdout);
        mqadmin_table_free(&b);
    }
    mq_topic_route_free(r);
    return rc;
}

int cmd_update_topic(const mqadmin_args *a)
{
    const char *broker = a->flags['b'], *cluster = a->flags['c'];
    const char *topic = mqadmin_required(a, 't', "TOPIC");
    if (!topic)
        return MQADMIN_USAGE;
    if ((!broker || !*broker) == (!cluster || !*cluster))
        return mqadmin_usage(a, "give either -b BROKER_ADDR or -c CLUSTER");
    int64_t r, w, p;
    bool order;
    int rc;
    if ((rc = mqadmin_int_flag(a, 'r', 1, 1024, 8, &r)) || (rc = mqadmin_int_flag(a, 'w', 1, 1024, 8, &w)) ||
        (rc = mqadmin_int_flag(a, 'p', 0, 7, 6, &p)) || (rc = mqadmin_bool_flag(a, 'o', false, &order)))
        return rc;
    mq_topic_config tc;
    mq_topic_config_init(&tc, topic);
    tc.read_queue_nums = (int32_t)r;
    tc.write_queue_nums = (int32_t)w;
    tc.perm = (int32_t)p;
    tc.order = order;

    mq_admin *admin;
    if ((rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    mq_string_list one = {1, (char **)&broker}, *done = NULL;
    int st = cluster && *cluster ? mq_admin_update_topic_in_cluster(admin, cluster, &tc, &done, &err)
                                 : mq_admin_update_topic(admin, broker, &tc, &err);
    rc = mqadmin_report_updates(a, "topic", broker, done, st, &err);
    const mq_string_list *targets = done ? done : &one;
    if (rc == 0) {
        char perm[4];
        if (a->json) {
            bytebuf buf;
            bytebuf_init(&buf);
            json_writer jw;
            json_writer_init(&jw, &buf, true);
            json_object_begin(&jw);
            json_kv_string(&jw, "topicName", topic);
            json_kv_int(&jw, "readQueueNums", tc.read_queue_nums);
            json_kv_int(&jw, "writeQueueNums", tc.write_queue_nums);
            json_kv_int(&jw, "perm", tc.perm);
            json_kv_bool(&jw, "order", tc.order);
            json_key(&jw, "brokerAddrs");
            json_array_begin(&jw);
            for (size_t i = 0; i < targets->n; i++)
                json_str(&jw, targets->items[i]);
            json_array_end(&jw);
            json_object_end(&jw);
            rc = mqadmin_json_print(&jw, &buf);
        } else {
            printf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, order=%s]\n", topic,
                   tc.read_queue_nums, tc.write_queue_nums, mqadmin_perm_text(tc.perm, perm),
                   tc.order ? "true" : "false");
        }
    }
    mq_string_list_free(done);
    mq_admin_free(admin);
    return rc;
}

int cmd_delete_topic(const mqadmin_args *a)
{
    const char *topic = mqadmin_required(a, 't', "TOPIC");
    if (!topic)
        return MQADMIN_USAGE;
    mq_admin *admin;
    int rc;
    const char *cluster = mqadmin_open_for(a, 'c', "CLUSTER", &admin, &rc);
    if (!cluster)
        return rc;
    mq_error err = {0};
    mq_topic_route *route = NULL;
    if (mq_admin_topic_route(admin, topic, &route, &err) != MQ_OK) { /* nothing to delete: say so */
        mq_admin_free(admin);
        if (err.code == MQ_ENOROUTE || err.code == MQ_ENOTFOUND)
            return mqadmin_fail("topic %s does not exist, nothing deleted", topic);
        return mqadmin_fail_err("delete topic", &err);
    }
    mq_topic_route_free(route);
    if (mq_admin_delete_topic(admin, cluster, topic, &err) != MQ_OK) {
        rc = mqadmin_fail_err("delete topic", &err);
    } else if (a->json) {
        bytebuf buf;
        bytebuf_init(&buf);
        json_writer w;
        json_writer_init(&w, &buf, true);
        json_object_begin(&w);
        json_kv_string(&w, "topic", topic);
        json_kv_string(&w, "cluster", cluster);
        json_kv_bool(&w, "deleted", true);
        json_object_end(&w);
        rc = mqadmin_json_print(&w, &buf);
    } else {
        printf("delete topic [%s] from cluster [%s] success.\ndelete topic [%s] from NameServer success.\n", topic,
               cluster, topic);
    }
    mq_admin_free(admin);
    return rc;
}
