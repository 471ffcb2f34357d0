/*
 * processor_admin.c - the broker's admin requests: create/update/delete a
 * topic, list topic configs, create/update/delete/list subscription groups,
 * runtime info and configuration. What mqadmin and consoles call.
 *
 * Runs on the loop thread. Bad names and values are answered with a status
 * and a remark naming the problem (SYSTEM_ERROR as RocketMQ does for
 * validation failures of topics, INVALID_PARAMETER for missing fields);
 * nothing here aborts. Changes are logged at info by the tables.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha/ha.h"
#include "broker_context.h"
#include "log.h"
#include "namesrv_register.h"
#include "consumer_offset.h"
#include "processors.h"
#include "schedule/schedule.h"
#include "pull_hold.h"
#include "store/store.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "transaction/transaction.h"
#include "util.h"

#ifndef MQ_VERSION_STRING
#define MQ_VERSION_STRING "0.0.0"
#endif

/* ---- topics ---- */

/* A topic change is answered once every nameserver has the new
 * registration, so "updateTopic, then topicRoute" sees the change. */
typedef struct after_registration {
    rm_reply_to to;
} after_registration;

static void answer_registered(void *arg)
{
    after_registration *a = arg;
    rm_respond_status(&a->to, RS_SUCCESS, NULL);
    free(a);
}

static void reply_after_registration(broker *b, rm_conn *c, const rm_cmd *req)
{
    if (!b->registrar) {
        rm_reply_status(c, req, RS_SUCCESS, NULL);
        return;
    }
    after_registration *a = xmalloc(sizeof *a);
    rm_defer(c, req, &a->to);
    registrar_register_now(b->registrar, answer_registered, a);
}

static void on_update_topic(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__CreateTopicRequestHeader *th = req->hdr->create_topic;
    char err[320];
    if (!topic_name_valid(th->topic, err, sizeof err)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (topic_is_system(th->topic)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "The topic[%s] is conflict with system topic.", th->topic);
        return;
    }
    if (!th->has_readqueuenums || !th->has_writequeuenums) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "topic %s: readQueueNums and writeQueueNums are required",
                        th->topic);
        return;
    }
    topic_config tc = {
        .read_queue_nums = th->readqueuenums,
        .write_queue_nums = th->writequeuenums,
        .perm = th->has_perm ? th->perm : PERM_READ | PERM_WRITE,
        .topic_sys_flag = th->has_topicsysflag ? th->topicsysflag : 0,
        .order = th->has_order && th->order,
    };
    str_copy(tc.name, sizeof tc.name, th->topic);
    if (topic_table_update(b->topics, &tc, err, sizeof err) != 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    reply_after_registration(b, c, req);
}

static void on_delete_topic(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const char *topic = req->hdr->topic->topic;
    char err[320];
    if (!topic_name_valid(topic, err, sizeof err)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (topic_is_system(topic)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "The topic[%s] is conflict with system topic.", topic);
        return;
    }
    /* RocketMQ answers SUCCESS for a topic it does not have. */
    int rc = topic_table_delete(b->topics, topic, err, sizeof err);
    if (rc < 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (rc == 0) {
        store_delete_topic(b->store, topic);
        char **groups;
        size_t n = offset_manager_groups_of(b->offsets, topic, &groups);
        for (size_t i = 0; i < n; i++) {
            offset_manager_remove(b->offsets, groups[i], topic);
            free(groups[i]);
        }
        free(groups);
    }
    if (rc == 0)
        reply_after_registration(b, c, req);
    else
        rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_all_topic_config(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    topic_table_pb topics;
    topic_table_to_pb(b->topics, -1, &topics);
    rm_reply_ok(c, req, &topics.msg.base); /* the fields of TopicConfigTable */
    topic_table_pb_free(&topics);
}

/* ---- subscription groups ---- */

static void on_update_group(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    char err[320];
    if (req->body_len == 0) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP needs a SubscriptionGroupConfig body");
        return;
    }
    const Mq__SubscriptionGroupConfig *m = (const Mq__SubscriptionGroupConfig *)rm_body_decode(
        c, req, &mq__subscription_group_config__descriptor, err, sizeof err);
    if (!m) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "%s", err);
        return;
    }
    group_config g;
    if (group_config_from_pb(m, &g) != 0) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "groupName is missing or longer than %d characters",
                        GROUP_NAME_MAX);
        return;
    }
    if (group_table_update(b->groups, &g, err, sizeof err) != 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_delete_group(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const char *name = req->hdr->delete_subscription_group->groupname;
    char err[320];
    if (!group_name_valid(name, err, sizeof err)) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (group_table_delete(b->groups, name, err, sizeof err) < 0) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    const Mq__DeleteSubscriptionGroupRequestHeader *dh = req->hdr->delete_subscription_group;
    if (dh->has_cleanoffset && dh->cleanoffset)
        offset_manager_remove(b->offsets, name, NULL);
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_all_group_config(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    size_t n = group_table_count(b->groups);
    Mq__SubscriptionGroupConfig *cfgs = xcalloc(n ? n : 1, sizeof *cfgs);
    Mq__SubscriptionGroupWrapper__SubscriptionGroupTableEntry *es = xcalloc(n ? n : 1, sizeof *es);
    Mq__SubscriptionGroupWrapper__SubscriptionGroupTableEntry **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
    size_t i = 0;
    const group_config *g;
    for (size_t it = 0; i < n && group_table_next(b->groups, &it, &g); i++) {
        group_config_to_pb(g, &cfgs[i]);
        es[i] = (Mq__SubscriptionGroupWrapper__SubscriptionGroupTableEntry)
            MQ__SUBSCRIPTION_GROUP_WRAPPER__SUBSCRIPTION_GROUP_TABLE_ENTRY__INIT;
        es[i].key = (char *)g->name;
        es[i].value = &cfgs[i];
        ptrs[i] = &es[i];
    }
    Mq__DataVersion dv = MQ__DATA_VERSION__INIT;
    group_table_data_version(b->groups, &dv.timestamp, &dv.counter);
    dv.has_timestamp = dv.has_counter = 1;
    Mq__SubscriptionGroupWrapper w = MQ__SUBSCRIPTION_GROUP_WRAPPER__INIT;
    w.n_subscriptiongrouptable = i;
    w.subscriptiongrouptable = ptrs;
    w.dataversion = &dv;
    rm_reply_ok(c, req, &w.base);
    free(cfgs);
    free(es);
    free(ptrs);
}

/* ---- runtime info and config ---- */

typedef struct kv_builder {
    Mq__KVTable__TableEntry entries[96];
    Mq__KVTable__TableEntry *ptrs[96];
    char values[96][256];
    size_t n;
} kv_builder;

static void kv_add(kv_builder *k, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv_add(kv_builder *k, const char *key, const char *fmt, ...)
{
    if (k->n >= MQ_ARRAY_LEN(k->entries))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->values[k->n], sizeof k->values[k->n], fmt, ap);
    va_end(ap);
    Mq__KVTable__TableEntry *e = &k->entries[k->n];
    *e = (Mq__KVTable__TableEntry)MQ__KVTABLE__TABLE_ENTRY__INIT;
    e->key = (char *)key;
    e->value = k->values[k->n];
    k->ptrs[k->n] = e;
    k->n++;
}

/* Scheduled delivery: pending per delay level ("L1=0 L2=3 ..."), exact-time
 * messages pending, and how late the scheduler is. */
static void schedule_runtime_info(broker *b, kv_builder *k)
{
    sched_stats ss;
    sched_service_stats(b->sched, &ss);
    char levels[256];
    size_t n = 0;
    int64_t total = ss.timer_pending;
    levels[0] = '\0';
    for (int i = 0; i < ss.levels && n + 24 < sizeof levels; i++) {
        n += (size_t)snprintf(levels + n, sizeof levels - n, "%sL%d=%lld", i ? " " : "", i + 1,
                              (long long)ss.level_pending[i]);
        total += ss.level_pending[i];
    }
    kv_add(k, "scheduleMessagePendingPerLevel", "%s", levels);
    kv_add(k, "timerMessagePending", "%lld", (long long)ss.timer_pending);
    kv_add(k, "scheduleMessagePendingTotal", "%lld", (long long)total);
    kv_add(k, "scheduleLagMs", "%lld", (long long)ss.lag_ms);
    kv_add(k, "scheduleIngestBehind", "%lld", (long long)ss.ingest_lag);
    kv_add(k, "scheduleDeliveredTotal", "%lld", (long long)ss.delivered);
    kv_add(k, "scheduleRolledTotal", "%lld", (long long)ss.rolled);
    kv_add(k, "scheduleLostTotal", "%lld", (long long)ss.lost);
}

/* Replication: a master's slaves and lag; a slave's master and position. */
static void ha_runtime_info(broker *b, kv_builder *k)
{
    ha_stats hs;
    ha_get_stats(b->ha, &hs);
    if (!b->ha)
        return;
    kv_add(k, "haEpoch", "%lld", (long long)hs.epoch);
    if (b->fenced[0])
        kv_add(k, "haFenced", "%s", b->fenced);
    if (hs.role == ROLE_SLAVE) {
        kv_add(k, "haMasterAddr", "%s", hs.master_ha_addr);
        kv_add(k, "haConnected", "%s", hs.connected ? "true" : "false");
        kv_add(k, "haSlaveOffset", "%lld", (long long)hs.slave_offset);
        kv_add(k, "haMasterOffsetSeen", "%lld", (long long)hs.master_offset_seen);
        kv_add(k, "haReceivedBytes", "%llu", (unsigned long long)hs.bytes_received);
        kv_add(k, "haLastConfigSync", "%lld", (long long)hs.sync_config_ms);
        return;
    }
    kv_add(k, "haListenPort", "%d", ha_listen_port(b->ha));
    kv_add(k, "haSlaveCount", "%d", hs.slaves);
    kv_add(k, "haSlaves", "%s", hs.slave_list);
    kv_add(k, "haSlaveAckOffset", "%lld", (long long)hs.slave_ack_offset);
    kv_add(k, "haLagBytes", "%lld", (long long)hs.lag_bytes);
    if (hs.role == ROLE_SYNC_MASTER)
        kv_add(k, "haSyncSends", "ok %llu, slave timeout %llu, slave not available %llu",
               (unsigned long long)hs.sync_ok, (unsigned long long)hs.sync_timeouts,
               (unsigned long long)hs.sync_not_available);
}

static void on_runtime_info(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    static const char *const roles[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE"};
    static const char *const flushes[] = {"ASYNC_FLUSH", "SYNC_FLUSH"};
    kv_builder k;
    k.n = 0;
    int64_t up = (now_ms() - b->start_ms) / 1000;
    kv_add(&k, "brokerVersionDesc", "%s", MQ_VERSION_STRING);
    kv_add(&k, "brokerVersion", "%d", RM_VERSION_OURS);
    kv_add(&k, "brokerClusterName", "%s", b->cfg.broker_cluster_name);
    kv_add(&k, "brokerName", "%s", b->cfg.broker_name);
    kv_add(&k, "brokerId", "%lld", (long long)b->cfg.broker_id);
    kv_add(&k, "brokerAddr", "%s", b->addr);
    kv_add(&k, "brokerRole", "%s", roles[b->cfg.broker_role % 3]);
    kv_add(&k, "flushDiskType", "%s", flushes[b->cfg.flush_disk_type % 2]);
    kv_add(&k, "brokerPermission", "%d", b->cfg.broker_perm);
    kv_add(&k, "bootTimestamp", "%lld", (long long)b->start_ms);
    kv_add(&k, "runtime", "[ %lld days, %lld hours, %lld minutes, %lld seconds ]", (long long)(up / 86400),
           (long long)(up / 3600 % 24), (long long)(up / 60 % 60), (long long)(up % 60));
    kv_add(&k, "topicCount", "%zu", topic_table_count(b->topics));
    kv_add(&k, "subscriptionGroupCount", "%zu", group_table_count(b->groups));
    kv_add(&k, "connectionCount", "%zu", b->server ? rm_server_conn_count(b->server) : (size_t)0);
    kv_add(&k, "namesrvRegistered", "%d", b->registrar ? registrar_registered_count(b->registrar) : 0);
    kv_add(&k, "storePathRootDir", "%s", b->cfg.store_path_root_dir);
    rm_stats st;
    rm_stats_get(&st);
    kv_add(&k, "remotingFramesIn", "%llu", (unsigned long long)st.frames_in);
    kv_add(&k, "remotingFramesOut", "%llu", (unsigned long long)st.frames_out);
    kv_add(&k, "putTps", "%.1f %.1f %.1f", broker_rate(b, BROKER_RATE_PUT_MSGS, 10),
           broker_rate(b, BROKER_RATE_PUT_MSGS, 60), broker_rate(b, BROKER_RATE_PUT_MSGS, 1));
    kv_add(&k, "getTransferedTps", "%.1f %.1f %.1f", broker_rate(b, BROKER_RATE_GET_MSGS, 10),
           broker_rate(b, BROKER_RATE_GET_MSGS, 60), broker_rate(b, BROKER_RATE_GET_MSGS, 1));
    kv_add(&k, "putTpsLastMinute", "%.1f", broker_rate(b, BROKER_RATE_PUT_MSGS, 60));
    kv_add(&k, "getTpsLastMinute", "%.1f", broker_rate(b, BROKER_RATE_GET_MSGS, 60));
    kv_add(&k, "uptimeSeconds", "%lld", (long long)up);
    kv_add(&k, "diskWarningLevelRatio", "%.2f", b->cfg.disk_space_warning_level_ratio / 100.0);
    kv_add(&k, "diskCleanForciblyRatio", "%.2f", b->cfg.disk_space_clean_forcibly_ratio / 100.0);
    kv_add(&k, "diskMaxUsedSpaceRatio", "%.2f", b->cfg.disk_max_used_space_ratio / 100.0);
    kv_add(&k, "getFoundTps", "%.1f", broker_rate(b, BROKER_RATE_GET_FOUND, 10));
    kv_add(&k, "getMissTps", "%.1f", broker_rate(b, BROKER_RATE_GET_MISS, 10));
    store_stats ss = {0};
    if (b->store)
        store_get_stats(b->store, &ss);
    kv_add(&k, "msgPutTotalSinceStart", "%llu", (unsigned long long)ss.put_msgs);
    kv_add(&k, "msgGetTotalSinceStart", "%llu", (unsigned long long)b->stats.get_msgs);
    kv_add(&k, "sendRefusedTotal", "%llu", (unsigned long long)b->stats.put_refused);
    kv_add(&k, "sendBusyRejectedTotal", "%llu", (unsigned long long)b->stats.busy_rejections);
    kv_add(&k, "sendBackRetryTotal", "%llu", (unsigned long long)b->stats.send_back_retries);
    kv_add(&k, "sendBackDlqTotal", "%llu", (unsigned long long)b->stats.send_back_dlq);
    if (b->store) {
        kv_add(&k, "commitLogMinOffset", "%lld", (long long)ss.commitlog_min_offset);
        kv_add(&k, "commitLogMaxOffset", "%lld", (long long)ss.commitlog_max_offset);
        kv_add(&k, "commitLogFlushedOffset", "%lld", (long long)ss.flushed_offset);
        kv_add(&k, "dispatchBehindBytes", "%lld", (long long)ss.dispatch_lag_bytes);
        kv_add(&k, "commitLogDiskRatio", "%.2f", ss.disk_used_ratio / 100.0);
        kv_add(&k, "diskFull", "%s", ss.disk_full ? "true" : "false");
        kv_add(&k, "storeIoError", "%s", ss.io_error ? "true" : "false");
        kv_add(&k, "fsyncCount", "%lld", (long long)ss.fsync_count);
        kv_add(&k, "msgsPerFsync", "%.1f", ss.msgs_per_fsync);
        kv_add(&k, "flushDiskTimeoutTotal", "%lld", (long long)ss.flush_timeouts);
        kv_add(&k, "commitLogSegments", "%lld", (long long)ss.segments);
        kv_add(&k, "consumeQueueCount", "%lld", (long long)ss.queues);
        int64_t earliest = 0;
        if (store_commitlog_earliest_time(b->store, &earliest) == 0)
            kv_add(&k, "earliestMessageTimeStamp", "%lld", (long long)earliest);
    }
    if (b->pull_hold)
        kv_add(&k, "pullRequestsHeld", "%zu", pull_hold_count(b->pull_hold));
    if (b->sched)
        schedule_runtime_info(b, &k);
    ha_runtime_info(b, &k);
    if (b->txn) {
        txn_stats ts;
        txn_get_stats(b->txn, &ts);
        kv_add(&k, "transactionHalfPending", "%llu", (unsigned long long)ts.pending);
        kv_add(&k, "transactionParked", "%llu", (unsigned long long)ts.parked);
        kv_add(&k, "transactionChecksSent", "%llu", (unsigned long long)ts.checks_sent);
        kv_add(&k, "transactionChecksNoProducer", "%llu", (unsigned long long)ts.checks_no_producer);
        kv_add(&k, "transactionCommitted", "%llu", (unsigned long long)ts.committed);
        kv_add(&k, "transactionRolledBack", "%llu", (unsigned long long)ts.rolled_back);
        kv_add(&k, "transactionParkedSinceStart", "%llu", (unsigned long long)ts.parked_total);
        kv_add(&k, "transactionCheckLatenessMaxMs", "%lld", (long long)ts.check_delay_max_ms);
        kv_add(&k, "transactionIndexBytes", "%llu", (unsigned long long)ts.index_bytes);
    }
    Mq__KVTable t = MQ__KVTABLE__INIT;
    t.n_table = k.n;
    t.table = k.ptrs;
    rm_reply_ok(c, req, &t.base);
}

static void on_broker_config(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "out of memory");
        return;
    }
    cfg_print(broker_config_options, &b->cfg, f);
    fclose(f);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RS_SUCCESS;
    rm_reply(c, req, &h, text, len);
    free(text);
}

void processor_admin_register(broker *b)
{
    rm_dispatch *d = b->dispatch;
    rm_dispatch_on(d, RC_UPDATE_AND_CREATE_TOPIC, on_update_topic, b);
    rm_dispatch_on(d, RC_DELETE_TOPIC_IN_BROKER, on_delete_topic, b);
    rm_dispatch_on(d, RC_GET_ALL_TOPIC_CONFIG, on_all_topic_config, b);
    rm_dispatch_on(d, RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, on_update_group, b);
    rm_dispatch_on(d, RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, on_all_group_config, b);
    rm_dispatch_on(d, RC_DELETE_SUBSCRIPTIONGROUP, on_delete_group, b);
    rm_dispatch_on(d, RC_GET_BROKER_RUNTIME_INFO, on_runtime_info, b);
    rm_dispatch_on(d, RC_GET_BROKER_CONFIG, on_broker_config, b);
}
