/*
 * client_manager.h - who is connected to this broker, learned from
 * heartbeats: producer groups (asked for transaction check-backs) and
 * consumer groups (membership for rebalancing, their subscriptions for
 * pulls that carry none, their connections for offset resets).
 *
 * Loop thread only. A client is identified by its client id and lives on
 * one connection; it leaves when it unregisters, when its connection
 * closes, or after channelExpiredTimeout without a heartbeat. Whenever a
 * consumer group's membership changes, every remaining member is told with
 * a oneway NOTIFY_CONSUMER_IDS_CHANGED, so they rebalance at once instead
 * of waiting for their next periodic rebalance.
 */
#ifndef MQ_BROKER_CLIENT_MANAGER_H
#define MQ_BROKER_CLIENT_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "body.pb-c.h"
#include "broker_context.h"
#include "remoting.h"
#include "subscription.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct client_manager client_manager;

client_manager *client_manager_new(broker *b);
void client_manager_free(client_manager *m);

/* Records a heartbeat from conn, whose request header said language and
 * version (shown by consumerConnection). Returns 0, or -1 with err (bad
 * group name, unparsable subscription) after recording what was valid. */
int client_manager_heartbeat(client_manager *m, rm_conn *conn, const Mq__HeartbeatData *hb, int32_t language,
                             int32_t version, char *err, size_t errlen);
/* UNREGISTER_CLIENT: removes client_id from the named groups (either may be NULL). */
void client_manager_unregister(client_manager *m, const char *client_id, const char *producer_group,
                               const char *consumer_group);
/* Drops every client of a closed connection. */
void client_manager_conn_closed(client_manager *m, rm_conn *conn);
/* Drops clients silent for longer than timeout_ms (called by a timer). */
void client_manager_expire(client_manager *m, int64_t timeout_ms);

/* Sorted client ids of a consumer group; *ids is malloc'd (free each and the
 * array with client_manager_ids_free). Returns the count (0 if unknown). */
size_t client_manager_consumer_ids(client_manager *m, const char *group, char ***ids);
void client_manager_ids_free(char **ids, size_t n);

/* The subscription a consumer group registered for topic, or NULL. */
const mq_subscription *client_manager_subscription(client_manager *m, const char *group,
                                                   const char *topic);
/* Message model of a group ("CLUSTERING"/"BROADCASTING"), NULL if unknown. */
const char *client_manager_message_model(client_manager *m, const char *group);

/* Connections of a group's live consumers (for RESET_CONSUMER_CLIENT_OFFSET),
 * or of a producer group's live producers (for CHECK_TRANSACTION_STATE).
 * Fills up to max connections (borrowed: valid until the loop returns);
 * returns how many. */
size_t client_manager_consumer_conns(client_manager *m, const char *group, rm_conn **out, size_t max);
size_t client_manager_producer_conns(client_manager *m, const char *group, rm_conn **out, size_t max);

/* ConsumerConnection body for GET_CONSUMER_CONNECTION_LIST; returns false if
 * the group has no live consumer. The caller frees with
 * client_manager_connection_free. */
bool client_manager_connection_info(client_manager *m, const char *group, Mq__ConsumerConnection *out);
void client_manager_connection_free(Mq__ConsumerConnection *c);
/* GET_PRODUCER_CONNECTION_LIST body of a producer group; false if no
 * producer of it is connected. Free with client_manager_producer_info_free. */
bool client_manager_producer_info(client_manager *m, const char *group, Mq__ProducerConnection *out);
void client_manager_producer_info_free(Mq__ProducerConnection *c);

/* Names of known consumer groups (for stats); same ownership as ids. */
size_t client_manager_consumer_groups(client_manager *m, char ***groups);

#ifdef __cplusplus
}
#endif

#endif
