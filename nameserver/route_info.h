/*
 * route_info.h - the nameserver's route tables, RocketMQ's RouteInfoManager
 * (docs/ARCHITECTURE.md "The nameserver"), built only from broker registrations.
 *
 * Tables
 *   topics   topic -> queue data per broker name (read/write queue counts,
 *            perm, topic sys flag)
 *   brokers  broker name -> cluster and address per broker id (0 = master)
 *   clusters cluster -> broker names
 *   live     broker address -> last registration time, topic-config data
 *            version, connection id, HA address
 *
 * Rules
 *   - Only a master (id 0) updates queue data, and only when its data
 *     version changed or it is new; a topic the master no longer lists loses
 *     that broker's queue data. A slave learns the master's address and HA
 *     address from the result.
 *   - An address re-registering under another id replaces its old id.
 *   - Removing the last address of a broker name removes the broker name
 *     from its cluster and its queue data from every topic; a topic left
 *     with no queue data disappears.
 *   - Invariant: queue data for broker name X exists only while broker data
 *     for X exists (queue data points at the broker data's name).
 *
 * Thread: one owner (the nameserver's loop); no locks. Connections are
 * known by rm_conn_id so the tables never hold transport objects and unit
 * tests need no sockets. Query results are protobuf messages allocated in
 * a caller's arena; their strings point into the tables, so use them
 * before the tables next change (i.e. within the request handler).
 */
#ifndef MQ_NS_ROUTE_INFO_H
#define MQ_NS_ROUTE_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "arena.h"
#include "body.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ns_routes ns_routes;

/* One REGISTER_BROKER, as the handler decoded it. */
typedef struct ns_broker_reg {
    const char *cluster;
    const char *broker_name;
    const char *broker_addr;                      /* "ip:port" */
    const char *ha_addr;                          /* may be NULL or "" */
    int64_t broker_id;                            /* 0 = master */
    int64_t epoch;                                /* haEpoch (0: none sent) */
    const Mq__TopicConfigSerializeWrapper *topics; /* may be NULL (no topic update) */
    uint64_t conn_id;                             /* 0 if not over a connection */
    int64_t now_ms;                               /* monotonic ms */
} ns_broker_reg;

typedef struct ns_register_result {
    bool new_broker;                  /* the address was not live before */
    bool topics_updated;              /* queue data was rewritten from this registration */
    char master_addr[ADDR_TEXT_MAX];  /* for a slave: the master's address, else "" */
    char ha_addr[ADDR_TEXT_MAX];      /* for a slave: the master's HA address, else "" */
    /* Failover: a master (id 0) whose epoch is below the highest a master of
     * its group registered is fenced: nothing is changed, master_addr/ha_addr
     * name the current master ("" if it expired since), master_epoch its
     * epoch, slave_id the lowest free id > 0 of the group. */
    bool fenced;
    int64_t master_epoch;
    int64_t slave_id;
} ns_register_result;

ns_routes *ns_routes_new(void);
void ns_routes_free(ns_routes *r);

/* Applies a registration. Returns 0, or -1 with err if a field is missing
 * or malformed (tables unchanged). */
int ns_routes_register(ns_routes *r, const ns_broker_reg *reg, ns_register_result *out, char *err,
                       size_t errlen);
/* UNREGISTER_BROKER: drops the address from the live table and the id from
 * the broker name. Returns 0, or -1 if the broker was not known. */
int ns_routes_unregister(ns_routes *r, const char *cluster, const char *broker_name,
                         const char *broker_addr, int64_t broker_id);
/* Drops every broker whose last registration is older than expiry_ms
 * before now_ms. Returns how many addresses were dropped. */
int ns_routes_expire(ns_routes *r, int64_t now_ms, int64_t expiry_ms);
/* Drops every broker registered over connection conn_id (it closed).
 * Returns how many addresses were dropped. */
int ns_routes_conn_closed(ns_routes *r, uint64_t conn_id);
/* QUERY_DATA_VERSION: true if addr is unknown or registered another topic
 * data version; refreshes the address's last-update time when known. */
bool ns_routes_data_version_changed(ns_routes *r, const char *broker_addr, int64_t timestamp,
                                    int64_t counter, int64_t now_ms, Mq__DataVersion *stored,
                                    arena *a);

/* Route of a topic. Returns 0 with *out, or -1 if no live broker serves it. */
int ns_routes_topic_route(const ns_routes *r, const char *topic, arena *a, Mq__TopicRouteData **out);
/* Every cluster with its brokers. */
void ns_routes_cluster_info(const ns_routes *r, arena *a, Mq__ClusterInfo **out);
/* Topic names (sorted); cluster NULL = all, else topics on a broker of that cluster. */
void ns_routes_topic_list(const ns_routes *r, const char *cluster, arena *a, Mq__TopicList **out);
/* Removes a topic's queue data: every broker's (cluster NULL or "") or only
 * those of brokers in cluster. Returns 0, or -1 if the topic was unknown. */
int ns_routes_delete_topic(ns_routes *r, const char *topic, const char *cluster);

/* wipeWritePerm / addWritePerm: clears (writable false) or sets the WRITE
 * bit of broker_name's queue data on every topic. Returns how many topics
 * changed. A later registration that carries new topic data (the broker's
 * data version changed) writes the broker's own perms again. */
int ns_routes_set_write_perm(ns_routes *r, const char *broker_name, bool writable);
size_t ns_routes_topic_count(const ns_routes *r);
size_t ns_routes_live_count(const ns_routes *r);

#ifdef __cplusplus
}
#endif

#endif
