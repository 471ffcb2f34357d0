/*
 * cmd_cluster.c - mqadmin clusterList: every cluster, broker group and
 * broker address the nameservers know, with each broker's version, topic
 * count and uptime from its runtime info (a broker that does not answer is
 * shown as unreachable), its replication role and lag: on a master the bytes
 * its best slave has not acknowledged ("no slave" without one), on a slave
 * the bytes it is behind its master's CommitLog end. --json prints the nameserver's ClusterInfo in
 * RocketMQ's shape: {"brokerAddrTable":{...},"clusterAddrTable":{...}}.
 */
#include <stdlib.h>
#include <string.h>

#include "mqadmin.h"
#include "msg_json.h"
#include "util.h"

static void uptime_text(const char *boot_ms, char *out, size_t cap)
{
    int64_t boot;
    if (!boot_ms || parse_int64(boot_ms, 0, INT64_MAX, &boot) != 0) {
        snprintf(out, cap, "-");
        return;
    }
    int64_t s = (now_ms() - boot) / 1000;
    if (s < 0)
        s = 0;
    snprintf(out, cap, "%lldd %02lld:%02lld:%02lld", (long long)(s / 86400), (long long)(s / 3600 % 24),
             (long long)(s / 60 % 60), (long long)(s % 60));
}

static int print_json(const mq_cluster_info *ci)
{
    bytebuf buf;
    bytebuf_init(&buf);
    json_writer w;
    json_writer_init(&w, &buf, true);
    json_object_begin(&w);
    json_key(&w, "brokerAddrTable");
    json_object_begin(&w);
    for (size_t i = 0; i < ci->n_brokers; i++) {
        json_key(&w, ci->brokers[i].broker_name);
        broker_data_json_write(&w, &ci->brokers[i]);
    }
    json_object_end(&w);
    json_key(&w, "clusterAddrTable");
    json_object_begin(&w);
    for (size_t i = 0; i < ci->n_clusters; i++) {
        json_key(&w, ci->clusters[i].name);
        json_array_begin(&w);
        for (size_t j = 0; j < ci->clusters[i].n_broker_names; j++)
            json_str(&w, ci->clusters[i].broker_names[j]);
        json_array_end(&w);
    }
    json_object_end(&w);
    json_object_end(&w);
    return mqadmin_json_print(&w, &buf);
}

/* Replication column of one broker: role and lag (see the top comment). */
static void ha_text(const mq_kv_list *kv, int64_t master_max, char *role, size_t rcap, char *lag, size_t lcap)
{
    const char *r = mq_kv_get(kv, "brokerRole");
    snprintf(role, rcap, "%s", r ? r : "-");
    const char *v;
    if (r && strcmp(r, "SLAVE") == 0) {
        v = mq_kv_get(kv, "haSlaveOffset");
        if (master_max < 0 || !v)
            snprintf(lag, lcap, "%s", master_max < 0 ? "master down" : "-");
        else
            snprintf(lag, lcap, "%lld", (long long)MQ_MAX(0, master_max - atoll(v)));
    } else if ((v = mq_kv_get(kv, "haSlaveCount")) && atoi(v) == 0) {
        snprintf(lag, lcap, "no slave");
    } else {
        v = mq_kv_get(kv, "haLagBytes");
        snprintf(lag, lcap, "%s", v ? v : "-");
    }
}

/* CommitLog end of a group's master (id 0), -1 if it has none or it does not answer. */
static int64_t master_max_offset(mq_admin *admin, const mq_broker_info *bi)
{
    int64_t max = -1;
    for (size_t k = 0; k < bi->n_addrs; k++) {
        mq_kv_list *kv = NULL;
        if (bi->addrs[k].id != 0 || mq_admin_broker_runtime_info(admin, bi->addrs[k].addr, &kv, NULL) != MQ_OK)
            continue;
        const char *v = mq_kv_get(kv, "commitLogMaxOffset");
        if (v)
            max = atoll(v);
        mq_kv_list_free(kv);
    }
    return max;
}

int cmd_cluster_list(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_cluster_info *ci;
    mq_error err = {0};
    if (mq_admin_cluster_info(admin, &ci, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("cluster info", &err);
    }
    if (ci->n_brokers == 0) { /* an empty table would look like success */
        mq_cluster_info_free(ci);
        mq_admin_free(admin);
        return mqadmin_fail("no broker is registered with the nameserver(s) %s (is mqbroker running with "
                            "namesrvAddr pointing there?)", mqadmin_namesrv(a));
    }
    if (a->json) {
        rc = print_json(ci);
    } else {
        mqadmin_table t;
        mqadmin_table_init(&t, 9, "#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#Topics", "#Uptime",
                           "#Role", "#HA Lag");
        for (size_t c = 0; c < ci->n_clusters; c++) {
            const mq_cluster *cl = &ci->clusters[c];
            for (size_t n = 0; n < cl->n_broker_names; n++) {
                for (size_t b = 0; b < ci->n_brokers; b++) {
                    const mq_broker_info *bi = &ci->brokers[b];
                    if (strcmp(bi->broker_name, cl->broker_names[n]) != 0)
                        continue;
                    int64_t master_max = bi->n_addrs > 1 ? master_max_offset(admin, bi) : -1;
                    for (size_t k = 0; k < bi->n_addrs; k++) {
                        char id[24], up[48], role[24], lag[32];
                        snprintf(id, sizeof id, "%lld", (long long)bi->addrs[k].id);
                        mq_kv_list *kv = NULL;
                        mq_error e = {0};
                        if (mq_admin_broker_runtime_info(admin, bi->addrs[k].addr, &kv, &e) == MQ_OK) {
                            uptime_text(mq_kv_get(kv, "bootTimestamp"), up, sizeof up);
                            const char *ver = mq_kv_get(kv, "brokerVersionDesc");
                            const char *topics = mq_kv_get(kv, "topicCount");
                            ha_text(kv, master_max, role, sizeof role, lag, sizeof lag);
                            mqadmin_table_row(&t, cl->name, bi->broker_name, id, bi->addrs[k].addr, ver ? ver : "-",
                                              topics ? topics : "-", up, role, lag);
                        } else {
                            mqadmin_table_row(&t, cl->name, bi->broker_name, id, bi->addrs[k].addr, "unreachable",
                                              "-", "-", "-", "-");
                        }
                        mq_kv_list_free(kv);
                    }
                }
            }
        }
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
    }
    mq_cluster_info_free(ci);
    mq_admin_free(admin);
    return rc;
}
