/*
 * broker.c - the broker's life cycle (broker.h): what starts in which order,
 * and how it stops.
 *
 * Start: metadata database (<storePathRootDir>/config) -> topic and group
 * tables (plus RocketMQ's start-up topics) -> store -> processors -> listen
 * -> registrar. Stop (SIGTERM/SIGINT): unregister from the nameservers
 * (bounded wait), stop the server, break the loop; broker_destroy frees the
 * rest in reverse order. All on the loop thread. The shared context it
 * builds is broker_context.h; the counters' rates are broker_stats.c.
 */
#include "broker.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "log.h"
#include "meta_db.h"
#include "namesrv_register.h"
#include "consumer_offset.h"
#include "ha/ha.h"
#include "processors.h"
#include "schedule/schedule.h"
#include "store/store.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "transaction/transaction.h"
#include "util.h"

/* Topics RocketMQ's broker creates at start (TopicConfigManager). */
static int create_startup_topics(broker *b, char *err, size_t errlen)
{
    int rw = PERM_READ | PERM_WRITE;
    if (b->cfg.auto_create_topic_enable &&
        !topic_table_ensure(b->topics, TOPIC_AUTO_CREATE, b->cfg.default_topic_queue_nums,
                            b->cfg.default_topic_queue_nums, rw | PERM_INHERIT, 0))
        goto fail;
    if (!topic_table_ensure(b->topics, TOPIC_SELF_TEST, 1, 1, rw, 0) ||
        !topic_table_ensure(b->topics, TOPIC_OFFSET_MOVED_EVENT, 1, 1, rw, 0))
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create the start-up system topics in the metadata database");
    return -1;
}

static int resolve_address(broker *b, char *err, size_t errlen)
{
    char ip[48];
    if (b->cfg.broker_ip1[0])
        str_copy(ip, sizeof ip, b->cfg.broker_ip1);
    else if (addr_list_all_loopback(b->cfg.namesrv_addr))
        str_copy(ip, sizeof ip, "127.0.0.1"); /* a single-node system stays on loopback */
    else
        addr_local_ip(ip, sizeof ip);
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1) {
        snprintf(err, errlen, "brokerIP1 '%s' is not an IPv4 address", ip);
        return -1;
    }
    b->ip4 = ntohl(a.s_addr);
    snprintf(b->addr, sizeof b->addr, "%s:%d", ip, b->port);
    return 0;
}

/* Opening writes: RocksDB a new log and manifest, the store a checkpoint. On
 * a partition with no room at all RocksDB aborts the process (an assertion
 * in its writer) instead of failing, so the broker says why and stops.
 * Below the watermark but above this, it starts and refuses sends. */
#define BROKER_MIN_FREE_TO_OPEN (4LL << 20)

static int check_room_to_open(const char *root, char *err, size_t errlen)
{
    char path[1024];
    str_copy(path, sizeof path, root);
    struct statvfs v;
    while (statvfs(path, &v) != 0) { /* first start: the nearest existing parent */
        char *slash = strrchr(path, '/');
        if (errno != ENOENT || !slash)
            return 0; /* cannot tell: let the open report what it finds */
        if (slash == path)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    long long avail = (long long)v.f_bavail * (long long)v.f_frsize;
    if (avail >= BROKER_MIN_FREE_TO_OPEN)
        return 0;
    snprintf(err, errlen, "disk full: %lld KiB free on the partition of %s, the broker needs %lld KiB to "
                          "open its store (RocksDB logs, checkpoint); free space and start again",
             avail / 1024, root, BROKER_MIN_FREE_TO_OPEN / 1024);
    return -1;
}

static void on_topics_changed(void *arg)
{
    broker *b = arg;
    registrar_trigger(b->registrar);
}

/* ---- what a forced deletion cost each consumer group ----------------------
 * The store's cleaner (store-clean thread) reports the queue offsets an
 * unexpired segment took with it; committed offsets live on the loop, so the
 * ranges are copied and counted there: per group, the messages of those
 * ranges at or above its committed offset (all of them for a queue it has
 * no commit on), one WARN line per group. */
typedef struct lost_report {
    broker *b;
    char segment[600];
    size_t n;
    store_lost_range r[];
} lost_report;

static void lost_report_run(void *arg)
{
    lost_report *lr = arg;
    broker *b = lr->b;
    char **names = NULL;
    int64_t *cost = NULL;
    size_t ngroups = 0;
    for (size_t i = 0; b->offsets && i < lr->n; i++) {
        const store_lost_range *r = &lr->r[i];
        char **groups;
        size_t ng = offset_manager_groups_of(b->offsets, r->topic, &groups);
        for (size_t g = 0; g < ng; g++) {
            int64_t committed = 0;
            offset_manager_query(b->offsets, groups[g], r->topic, r->queue_id, &committed);
            int64_t lost = committed >= r->to ? 0 : r->to - (committed > r->from ? committed : r->from);
            size_t k = 0;
            while (k < ngroups && strcmp(names[k], groups[g]) != 0)
                k++;
            if (k == ngroups) {
                names = xrealloc(names, (ngroups + 1) * sizeof *names);
                cost = xrealloc(cost, (ngroups + 1) * sizeof *cost);
                names[k] = groups[g];
                groups[g] = NULL;
                cost[k] = 0;
                ngroups++;
            }
            cost[k] += lost;
            free(groups[g]);
        }
        free(groups);
    }
    if (ngroups == 0)
        log_warn("forced deletion of %s: no consumer group has offsets on its %zu queues",
                 lr->segment, lr->n);
    for (size_t k = 0; k < ngroups; k++) {
        log_warn("forced deletion of %s cost group %s %lld unconsumed messages", lr->segment,
                 names[k], (long long)cost[k]);
        free(names[k]);
    }
    free(names);
    free(cost);
    for (size_t i = 0; i < lr->n; i++)
        free((char *)lr->r[i].topic);
    free(lr);
}

static void on_forced_delete(void *arg, const char *segment, const store_lost_range *lost, size_t n)
{
    broker *b = arg;
    lost_report *lr = xcalloc(1, sizeof *lr + n * sizeof lr->r[0]);
    lr->b = b;
    str_copy(lr->segment, sizeof lr->segment, segment);
    lr->n = n;
    for (size_t i = 0; i < n; i++) {
        lr->r[i] = lost[i];
        lr->r[i].topic = xstrdup(lost[i].topic);
    }
    evq_post_fn(b->q, lost_report_run, lr);
}

/* Maps the broker's keys onto the store's configuration. */
static int store_config_from(const broker *b, store_config *sc, char *err, size_t errlen)
{
    const broker_config *c = &b->cfg;
    store_config_init(sc);
    if (!str_copy(sc->store_path_root_dir, sizeof sc->store_path_root_dir, c->store_path_root_dir)) {
        snprintf(err, errlen, "storePathRootDir is too long (at most %zu bytes)", sizeof sc->store_path_root_dir - 1);
        return -1;
    }
    if (!str_copy(sc->store_path_commit_log, sizeof sc->store_path_commit_log, c->store_path_commit_log) ||
        !str_copy(sc->store_path_consume_queue, sizeof sc->store_path_consume_queue, c->store_path_consume_queue) ||
        !str_copy(sc->store_path_index, sizeof sc->store_path_index, c->store_path_index)) {
        snprintf(err, errlen, "storePathCommitLog, storePathConsumeQueue and storePathIndex: at most %zu bytes",
                 sizeof sc->store_path_commit_log - 1);
        return -1;
    }
    sc->maped_file_size_commit_log = c->maped_file_size_commit_log;
    sc->maped_file_size_consume_queue = c->maped_file_size_consume_queue;
    sc->flush_disk_type = c->flush_disk_type == FLUSH_SYNC ? STORE_SYNC_FLUSH : STORE_ASYNC_FLUSH;
    sc->flush_interval_commit_log = c->flush_interval_commit_log;
    sc->flush_commit_log_least_pages = c->flush_commit_log_least_pages;
    sc->flush_commit_log_thorough_interval = c->flush_commit_log_thorough_interval;
    sc->sync_flush_timeout = c->sync_flush_timeout;
    sc->max_message_size = c->max_message_size;
    sc->file_reserved_time = c->file_reserved_time;
    str_copy(sc->delete_when, sizeof sc->delete_when, c->delete_when);
    sc->disk_max_used_space_ratio = c->disk_max_used_space_ratio;
    sc->disk_space_clean_forcibly_ratio = c->disk_space_clean_forcibly_ratio;
    sc->disk_space_warning_level_ratio = c->disk_space_warning_level_ratio;
    sc->clean_file_forcibly_enable = c->clean_file_forcibly_enable;
    sc->clean_resource_interval = c->clean_resource_interval;
    sc->on_forced_delete = on_forced_delete;
    sc->on_forced_delete_arg = (void *)b;
    sc->message_index_enable = c->message_index_enable;
    sc->defer_dispatch_wake = true; /* processor_send wakes it once per loop turn */
    if (!str_copy(sc->message_delay_level, sizeof sc->message_delay_level, c->message_delay_level)) {
        snprintf(err, errlen, "messageDelayLevel is too long");
        return -1;
    }
    char ip[64];
    int port;
    if (addr_split(b->addr, ip, sizeof ip, &port, err, errlen) != 0 || msg_host_set(&sc->store_host, ip, port) != 0) {
        snprintf(err, errlen, "cannot use %s as the store host", b->addr);
        return -1;
    }
    return 0;
}

static void on_conn_closed(rm_conn *c, void *arg)
{
    processor_client_conn_closed(arg, c);
}

/* Starts scheduled delivery (broker/schedule/) over the open store. Far
 * timer messages are rolled (re-put) every half fileReservedTime, at most
 * daily, so their bodies outlive CommitLog retention. */
static int schedule_start(broker *b, const store_config *sc, char *err, size_t errlen)
{
    sched_config c;
    sched_config_init(&c);
    if (!str_copy(c.dir, sizeof c.dir, sc->store_path_root_dir) ||
        strlen(c.dir) + sizeof "/schedule" > sizeof c.dir) {
        snprintf(err, errlen, "storePathRootDir is too long");
        return -1;
    }
    strcat(c.dir, "/schedule");
    c.sync_flush = sc->flush_disk_type == STORE_SYNC_FLUSH;
    c.commitlog_segment_size = sc->maped_file_size_commit_log;
    int64_t half_retention = (int64_t)sc->file_reserved_time * 3600 * 1000 / 2;
    if (half_retention > 0 && half_retention < c.roll_window_ms)
        c.roll_window_ms = half_retention;
    return sched_service_start(b->store, &c, &b->sched, err, errlen);
}

int broker_init(broker *b, const broker_config *cfg, struct ev_loop *loop, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    b->loop = loop;
    b->start_ms = now_ms();
    b->q = evq_new(loop);

    char dir[1100];
    snprintf(dir, sizeof dir, "%s/config", cfg->store_path_root_dir);
    if (check_room_to_open(cfg->store_path_root_dir, err, errlen) != 0 ||
        (cfg->store_path_commit_log[0] && check_room_to_open(cfg->store_path_commit_log, err, errlen) != 0) ||
        (cfg->store_path_consume_queue[0] && check_room_to_open(cfg->store_path_consume_queue, err, errlen) != 0))
        goto fail;
    if (meta_db_open(dir, &b->meta, err, errlen) != 0)
        goto fail;
    if (topic_table_open(b->meta, &b->topics, err, errlen) != 0 ||
        group_table_open(b->meta, &b->groups, err, errlen) != 0)
        goto fail;
    if (create_startup_topics(b, err, errlen) != 0)
        goto fail;
    log_info("metadata loaded from %s: %zu topics, %zu subscription groups", dir,
             topic_table_count(b->topics), group_table_count(b->groups));

    /* Listen first: the store records brokerIP1:port as the store host. The
     * loop is not running yet, so no request is served before the
     * processors below are in place. */
    b->dispatch = rm_dispatch_new();
    rm_options opts;
    rm_options_default(&opts);
    opts.max_frame = (uint32_t)cfg->max_frame_size;
    opts.write_limit_bytes = (size_t)cfg->server_write_limit_bytes;
    opts.frame_timeout_ms = cfg->server_frame_timeout_millis;
    opts.input_limit_bytes = (size_t)cfg->server_input_max_bytes;
    opts.max_connections = cfg->server_max_connections;
    b->server = rm_server_new(loop, &opts, b->dispatch);
    if (rm_server_listen(b->server, "0.0.0.0", cfg->listen_port, err, errlen) != 0)
        goto fail;
    b->port = rm_server_port(b->server);
    if (resolve_address(b, err, errlen) != 0)
        goto fail;

    store_config sc;
    if (store_config_from(b, &sc, err, errlen) != 0)
        goto fail;
    if (ha_boot_begin(&b->cfg, &sc, err, errlen) != 0)
        goto fail;
    int64_t t0 = mono_ms();
    if (store_open(&sc, &b->store, err, errlen) != 0)
        goto fail;
    log_info("store opened under %s in %lld ms", cfg->store_path_root_dir, (long long)(mono_ms() - t0));
    if (ha_boot_end(&b->cfg, err, errlen) != 0)
        goto fail;
    /* A slave's log is its master's copy: the services that write to the
     * store (scheduled delivery, transaction checks) run on the master only. */
    bool slave = b->cfg.broker_role == ROLE_SLAVE;
    if (!slave && schedule_start(b, &sc, err, errlen) != 0)
        goto fail;
    b->offsets = offset_manager_new(b, err, errlen);
    if (!b->offsets)
        goto fail;
    if (!slave && txn_open(b, &b->txn, err, errlen) != 0)
        goto fail;

    processor_admin_register(b);
    processor_client_register(b);
    processor_send_register(b);
    processor_send_back_register(b);
    processor_pull_register(b);
    processor_offset_register(b);
    processor_query_register(b);
    processor_transaction_register(b);
    processor_config_register(b);
    ha_role_register(b);
    rm_server_on_close(b->server, on_conn_closed, b);
    broker_rates_start(b);
    if (cfg->metrics_port >= 0 && !(b->metrics = broker_metrics_start(b, cfg->metrics_port, err, errlen)))
        goto fail;

    if (ha_start(b, &b->ha, err, errlen) != 0)
        goto fail;
    if (registrar_new(b, &b->registrar, err, errlen) != 0)
        goto fail;
    topic_table_on_change(b->topics, on_topics_changed, b);
    /* The loop has not run yet and its clock still says when it was created:
     * opening the store can take seconds, which would expire the first
     * registration's connect timeout before its first turn. */
    ev_now_update(b->loop);
    registrar_start(b->registrar);
    return 0;
fail:
    broker_destroy(b);
    return -1;
}

static void on_unregistered(void *arg)
{
    broker *b = arg;
    rm_server_free(b->server);
    b->server = NULL;
    log_info("broker %s stopped serving", b->cfg.broker_name);
    ev_break(b->loop, EVBREAK_ALL);
}

void broker_stop(broker *b)
{
    if (b->stopping)
        return;
    b->stopping = true;
    log_info("broker %s stopping: unregistering from the nameservers", b->cfg.broker_name);
    if (b->registrar)
        registrar_unregister_all(b->registrar, on_unregistered, b);
    else
        on_unregistered(b);
}

void broker_restart(broker *b, const char *why)
{
    if (b->stopping)
        return;
    log_warn("broker %s restarting in place: %s", b->cfg.broker_name, why);
    b->restart = true;
    broker_stop(b);
}

void broker_destroy(broker *b)
{
    broker_rates_stop(b);
    if (b->topics)
        topic_table_on_change(b->topics, NULL, NULL);
    registrar_free(b->registrar);
    b->registrar = NULL;
    /* Close connections first: nothing new arrives while the rest winds down. */
    if (b->server)
        rm_server_on_close(b->server, NULL, NULL);
    rm_server_free(b->server);
    b->server = NULL;
    if (b->pull_hold)
        processor_pull_unregister(b);
    processor_offset_unregister(b); /* persists committed offsets */
    ha_stop(b->ha);                 /* answers SYNC_MASTER waits; stops appending on a slave */
    sched_service_stop(b->sched);   /* re-puts into the store: stop before it closes */
    b->sched = NULL;
    txn_close(b->txn); /* persists its scan marks */
    b->txn = NULL;
    if (b->store) {
        store_close(b->store); /* completes sync-flush waiters: their answers are posted to q */
        b->store = NULL;
    }
    if (b->q)
        evq_drain(b->q);
    ha_free(b->ha); /* after the drain: it answered waits whose flush completed */
    b->ha = NULL;
    processor_send_back_unregister(b);
    processor_send_unregister(b);
    if (b->clients)
        processor_client_unregister(b);
    broker_metrics_stop(b->metrics);
    b->metrics = NULL;
    rm_dispatch_free(b->dispatch);
    b->dispatch = NULL;
    group_table_free(b->groups);
    b->groups = NULL;
    topic_table_free(b->topics);
    b->topics = NULL;
    meta_db_close(b->meta);
    b->meta = NULL;
    if (b->q)
        evq_free(b->q);
    b->q = NULL;
}
