/*
 * mq/admin.h - the admin API of libmqclient: what mqadmin and consoles use
 * to look at clusters and routes and to manage topics and consumer groups.
 *
 * An mq_admin handle talks to the nameservers it was given (any live one
 * answers queries) and to brokers by address. Every call here blocks the
 * calling thread until the answer arrives or the handle's timeout passes;
 * calls may be made from any thread, several at once. Results are plain C
 * structs owned by the caller, each freed with the matching *_free
 * function (which accepts NULL). On failure a call returns a negative
 * MQ_E* code (mq/mq.h) and, if err is not NULL, fills it: MQ_EINVAL for a
 * bad argument (e.g. an illegal topic name, checked before anything is
 * sent), MQ_ENETWORK / MQ_ETIMEOUT when no nameserver or broker answered,
 * MQ_ENOROUTE for a topic no nameserver knows, MQ_EBROKER with err->status
 * set to the server's response code (RocketMQ numbers) otherwise.
 */
#ifndef MQ_ADMIN_H
#define MQ_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mq_admin mq_admin;

/* Creates a handle for the nameservers in namesrv_addr ("host:port;host:port";
 * NULL or "" reads the NAMESRV_ADDR environment variable). timeout_ms bounds
 * each request (0 = 3000). Starts the client's I/O thread; connects lazily.
 * Returns MQ_OK with *out, or MQ_EINVAL (bad or missing list). */
int mq_admin_new(const char *namesrv_addr, int timeout_ms, mq_admin **out, mq_error *err);
/* Closes connections and stops the I/O thread. Not while another thread is
 * inside a call on the same handle. */
void mq_admin_free(mq_admin *admin);

/* ---- result types ---- */

/* One address of a broker group: id 0 is the master, > 0 slaves. */
typedef struct mq_broker_addr {
    int64_t id;
    char *addr;                 /* "ip:port" */
} mq_broker_addr;

/* A broker group (broker name) with its addresses, sorted by id. */
typedef struct mq_broker_info {
    char *cluster;
    char *broker_name;
    size_t n_addrs;
    mq_broker_addr *addrs;
} mq_broker_info;

/* A cluster and the names of its broker groups (sorted). */
typedef struct mq_cluster {
    char *name;
    size_t n_broker_names;
    char **broker_names;
} mq_cluster;

/* GET_BROKER_CLUSTER_INFO: clusters sorted by name, brokers by name. */
typedef struct mq_cluster_info {
    size_t n_clusters;
    mq_cluster *clusters;
    size_t n_brokers;
    mq_broker_info *brokers;
} mq_cluster_info;

/* A list of strings (topic names...). */
typedef struct mq_string_list {
    size_t n;
    char **items;
} mq_string_list;

/* Queues of a topic on one broker group. perm: 4 READ | 2 WRITE | 1 INHERIT. */
typedef struct mq_queue_data {
    char *broker_name;
    int32_t read_queue_nums;
    int32_t write_queue_nums;
    int32_t perm;
    int32_t topic_sys_flag;
} mq_queue_data;

/* The route of a topic: queue data per broker group and those groups'
 * addresses, both sorted by broker name. */
typedef struct mq_topic_route {
    char *topic;
    char *order_topic_conf;     /* NULL if none */
    size_t n_queue_datas;
    mq_queue_data *queue_datas;
    size_t n_brokers;
    mq_broker_info *brokers;
} mq_topic_route;

/* Key/value pairs (broker runtime info), sorted by key. */
typedef struct mq_kv {
    char *key;
    char *value;
} mq_kv;

typedef struct mq_kv_list {
    size_t n;
    mq_kv *items;
} mq_kv_list;

void mq_cluster_info_free(mq_cluster_info *ci);
void mq_string_list_free(mq_string_list *l);
void mq_topic_route_free(mq_topic_route *r);
void mq_kv_list_free(mq_kv_list *l);
/* The value of key in l, or NULL. */
const char *mq_kv_get(const mq_kv_list *l, const char *key);

/* ---- queries (nameservers) ---- */

/* Every cluster with its broker groups and addresses. */
int mq_admin_cluster_info(mq_admin *admin, mq_cluster_info **out, mq_error *err);
/* Topic names, sorted: all (cluster NULL or "") or those on a broker of cluster. */
int mq_admin_topic_list(mq_admin *admin, const char *cluster, mq_string_list **out, mq_error *err);
/* The route of topic. MQ_ENOROUTE if no nameserver knows it. */
int mq_admin_topic_route(mq_admin *admin, const char *topic, mq_topic_route **out, mq_error *err);
/* Master addresses of every broker group of cluster (sorted by broker
 * name). MQ_ENOTFOUND if the cluster is unknown or has no master. */
int mq_admin_cluster_masters(mq_admin *admin, const char *cluster, mq_string_list **out, mq_error *err);

/* ---- topics ---- */

typedef struct mq_topic_config {
    const char *topic;
    int32_t read_queue_nums;    /* 1..1024 */
    int32_t write_queue_nums;   /* 1..1024 */
    int32_t perm;               /* 6 = read and write */
    int32_t topic_sys_flag;
    bool order;
} mq_topic_config;

/* Defaults of mqadmin updateTopic: 8 read and 8 write queues, perm 6, not ordered. */
void mq_topic_config_init(mq_topic_config *tc, const char *topic);

/* Creates or updates a topic on the broker at broker_addr. The broker
 * re-registers with the nameservers at once, so the route follows within
 * moments. System topics (TBW102, SCHEDULE_TOPIC_XXXX...) are refused. */
int mq_admin_update_topic(mq_admin *admin, const char *broker_addr, const mq_topic_config *tc,
                          mq_error *err);
/* The same on the master of every broker group of cluster; stops at the
 * first failure. *done (if done is not NULL) is set, also on failure, to
 * the addresses of the brokers updated, in order (an empty list when none);
 * free it with mq_string_list_free. */
int mq_admin_update_topic_in_cluster(mq_admin *admin, const char *cluster, const mq_topic_config *tc,
                                     mq_string_list **done, mq_error *err);
/* Deletes topic from every master of cluster, then from every nameserver
 * of the handle's list (each must answer). */
int mq_admin_delete_topic(mq_admin *admin, const char *cluster, const char *topic, mq_error *err);

/* ---- consumer groups ---- */

typedef struct mq_group_config {
    const char *group;
    bool consume_enable;                      /* true */
    bool consume_from_min_enable;             /* true */
    bool consume_broadcast_enable;            /* true */
    int32_t retry_queue_nums;                 /* 1 */
    int32_t retry_max_times;                  /* 16 */
    int64_t broker_id;                        /* 0 */
    int64_t which_broker_when_consume_slowly; /* 1 */
    bool notify_consumer_ids_changed_enable;  /* true */
} mq_group_config;

/* RocketMQ's SubscriptionGroupConfig defaults (shown above). */
void mq_group_config_init(mq_group_config *g, const char *group);
/* Creates or updates a consumer group on the broker at broker_addr. */
int mq_admin_update_group(mq_admin *admin, const char *broker_addr, const mq_group_config *g,
                          mq_error *err);
/* The same on every master of cluster; *done as for topics. */
int mq_admin_update_group_in_cluster(mq_admin *admin, const char *cluster, const mq_group_config *g,
                                     mq_string_list **done, mq_error *err);

/* ---- brokers ---- */

/* GET_BROKER_RUNTIME_INFO of the broker at broker_addr: version, identity,
 * boot time, topic and group counts, ... */
int mq_admin_broker_runtime_info(mq_admin *admin, const char *broker_addr, mq_kv_list **out,
                                 mq_error *err);

/* ---- queues, consumer progress, offset resets (masters of a topic's route) ---- */

/* Offsets of one queue. */
typedef struct mq_queue_offsets {
    char *broker_name;
    int32_t queue_id;
    int64_t min_offset;
    int64_t max_offset;          /* next offset to be written */
    int64_t last_update_ms;      /* store time of the newest message, 0 if empty */
} mq_queue_offsets;

typedef struct mq_topic_status {
    size_t n;
    mq_queue_offsets *queues;    /* sorted by broker name, then queue id */
} mq_topic_status;

/* GET_TOPIC_STATS_INFO from the master of every broker group of the
 * topic's route. MQ_ENOROUTE if no nameserver knows the topic. */
int mq_admin_topic_status(mq_admin *admin, const char *topic, mq_topic_status **out, mq_error *err);
void mq_topic_status_free(mq_topic_status *s);

/* A consumer group's position on one queue. lag = broker_offset -
 * consumer_offset (never negative). */
typedef struct mq_queue_progress {
    char *topic;
    char *broker_name;
    int32_t queue_id;
    int64_t broker_offset;
    int64_t consumer_offset;     /* 0 if the group never committed */
    int64_t lag;
    int64_t last_timestamp;      /* store time of the last consumed message, 0 if unknown */
} mq_queue_progress;

typedef struct mq_consumer_progress {
    size_t n;
    mq_queue_progress *queues;   /* sorted by topic, broker name, queue id */
    int64_t total_lag;
} mq_consumer_progress;

/* GET_CONSUME_STATS of group: on the masters of topic's route, or, with
 * topic NULL, on every master of every cluster (all topics the group has
 * offsets for). */
int mq_admin_consumer_progress(mq_admin *admin, const char *group, const char *topic,
                               mq_consumer_progress **out, mq_error *err);
void mq_consumer_progress_free(mq_consumer_progress *p);

/* Offsets a reset set, per queue. */
typedef struct mq_queue_offset {
    char *broker_name;
    int32_t queue_id;
    int64_t offset;
} mq_queue_offset;

typedef struct mq_queue_offset_list {
    size_t n;
    mq_queue_offset *items;      /* sorted by broker name, then queue id */
} mq_queue_offset_list;

void mq_queue_offset_list_free(mq_queue_offset_list *l);

/* Moves group's committed offsets on every queue of topic (masters of its
 * route) to the first message stored at or after timestamp_ms, or to the
 * end with timestamp_ms = -1. Works whether the group's consumers are
 * online or not: offline groups start from the new offsets; online
 * consumers are redirected by the broker on their next pull. force = false
 * only moves offsets back (RocketMQ's rule). *out (may be NULL) lists the
 * offsets set. */
int mq_admin_reset_offset_by_time(mq_admin *admin, const char *group, const char *topic,
                                  int64_t timestamp_ms, bool force, mq_queue_offset_list **out,
                                  mq_error *err);
/* The same for one queue (broker group broker_name, queue_id) to an exact
 * offset, which must lie within the queue's [min, max]. */
int mq_admin_reset_offset_to(mq_admin *admin, const char *group, const char *topic,
                             const char *broker_name, int32_t queue_id, int64_t offset, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
