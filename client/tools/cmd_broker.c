/*
 * cmd_broker.c - mqadmin brokerStatus: the runtime key/value table of one
 * broker (-b ADDR) or of every broker of a cluster (-c CLUSTER), printed as
 * "key : value" lines (RocketMQ's layout). --json prints
 * {"ip:port":{"key":"value",...},...}.
 */
#include <string.h>

#include "mqadmin.h"
#include "util.h"

int cmd_broker_status(const mqadmin_args *a)
{
    const char *broker = a->flags['b'], *cluster = a->flags['c'];
    if ((!broker || !*broker) == (!cluster || !*cluster))
        return mqadmin_usage(a, "give either -b BROKER_ADDR or -c CLUSTER");
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_error err = {0};
    mq_string_list one = {1, (char **)&broker};
    mq_string_list *addrs = &one;
    mq_string_list *all = NULL;
    if (cluster && *cluster) {
        mq_cluster_info *ci;
        if (mq_admin_cluster_info(admin, &ci, &err) != MQ_OK) {
            mq_admin_free(admin);
            return mqadmin_fail_err("cluster info", &err);
        }
        all = xcalloc(1, sizeof *all);
        for (size_t i = 0; i < ci->n_brokers; i++)
            if (!strcmp(ci->brokers[i].cluster, cluster))
                for (size_t k = 0; k < ci->brokers[i].n_addrs; k++) {
                    all->items = xrealloc(all->items, (all->n + 1) * sizeof *all->items);
                    all->items[all->n++] = xstrdup(ci->brokers[i].addrs[k].addr);
                }
        mq_cluster_info_free(ci);
        if (all->n == 0) {
            mq_string_list_free(all);
            mq_admin_free(admin);
            return mqadmin_fail("cluster %s has no broker known to the nameservers", cluster);
        }
        addrs = all;
    }
    bytebuf buf;
    json_writer w;
    if (a->json) {
        bytebuf_init(&buf);
        json_writer_init(&w, &buf, true);
        json_object_begin(&w);
    }
    for (size_t i = 0; i < addrs->n && rc == 0; i++) {
        mq_kv_list *kv;
        if (mq_admin_broker_runtime_info(admin, addrs->items[i], &kv, &err) != MQ_OK) {
            rc = mqadmin_fail_err("broker status", &err);
            break;
        }
        if (a->json) {
            json_key(&w, addrs->items[i]);
            json_object_begin(&w);
            for (size_t k = 0; k < kv->n; k++)
                json_kv_string(&w, kv->items[k].key, kv->items[k].value);
            json_object_end(&w);
        } else {
            if (addrs->n > 1)
                printf("%s#Broker %s\n", i ? "\n" : "", addrs->items[i]);
            for (size_t k = 0; k < kv->n; k++)
                printf("%-32s: %s\n", kv->items[k].key, kv->items[k].value);
        }
        mq_kv_list_free(kv);
    }
    if (a->json) {
        json_object_end(&w);
        if (rc == 0)
            rc = mqadmin_json_print(&w, &buf);
        else
            bytebuf_free(&buf);
    }
    mq_string_list_free(all);
    mq_admin_free(admin);
    return rc;
}
