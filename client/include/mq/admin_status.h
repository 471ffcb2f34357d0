/*
 * mq/admin_status.h - status and maintenance calls of the admin API (part
 * of mq/admin.h's handle): who is connected to a consumer group, taking a
 * broker out of the write path, a broker's configuration, consumer groups
 * of a broker. Errors as in mq/admin.h.
 */
#ifndef MQ_ADMIN_STATUS_H
#define MQ_ADMIN_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/admin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One client connection as a broker sees it. language: RocketMQ's
 * LanguageCode (0 JAVA, 1 CPP, ...); version: the client's MQVersion. */
typedef struct mq_connection {
    char *client_id;
    char *client_addr;
    int32_t language;
    int32_t version;
} mq_connection;

typedef struct mq_subscription_entry {
    char *topic;
    char *expression;        /* "*", "TagA || TagB", or SQL92 text */
    char *expression_type;   /* "TAG" or "SQL92" */
} mq_subscription_entry;

/* The live members of a consumer group (distinct client ids, sorted), its
 * subscriptions and modes, merged from every master broker. */
typedef struct mq_consumer_connection {
    size_t n_conns;
    mq_connection *conns;
    size_t n_subs;
    mq_subscription_entry *subs;
    char *consume_type;       /* CONSUME_PASSIVELY (push) / CONSUME_ACTIVELY (pull) */
    char *message_model;      /* CLUSTERING / BROADCASTING */
    char *consume_from_where;
} mq_consumer_connection;

/* GET_CONSUMER_CONNECTION_LIST on every master of every cluster.
 * MQ_ENOTFOUND if no broker has a live member of group. */
int mq_admin_consumer_connection(mq_admin *admin, const char *group, mq_consumer_connection **out, mq_error *err);
void mq_consumer_connection_free(mq_consumer_connection *c);

/* The producers of a group connected to the masters of topic's route
 * (distinct client ids, sorted), as a consumer connection without
 * subscriptions or modes. MQ_ENOTFOUND if none is connected. */
int mq_admin_producer_connection(mq_admin *admin, const char *group, const char *topic,
                                 mq_consumer_connection **out, mq_error *err);

/* wipeWritePerm (writable false) / addWritePerm (true): asks every
 * nameserver of the handle's list to clear or set the WRITE permission of
 * broker group broker_name on every topic's route, so producers stop (or
 * resume) sending to it while consumers keep pulling. *out (may be NULL)
 * lists, per nameserver address, how many topics changed. Fails on the
 * first nameserver that does not answer. */
int mq_admin_set_write_perm(mq_admin *admin, const char *broker_name, bool writable, mq_kv_list **out,
                            mq_error *err);

/* GET_BROKER_CONFIG: the broker's configuration as key/value pairs. */
int mq_admin_broker_config(mq_admin *admin, const char *broker_addr, mq_kv_list **out, mq_error *err);

/* UPDATE_BROKER_CONFIG: sets key=value on the running broker. Only keys
 * whose change needs no restart are accepted (brokerPermission,
 * autoCreateTopicEnable, autoCreateSubscriptionGroup, defaultTopicQueueNums,
 * longPollingEnable, shortPollingTimeMills, maxTransfer*OnMessageInMemory,
 * channelExpiredTimeout); others fail with MQ_EBROKER naming them. Not
 * persisted: a restart reads broker.conf again. */
int mq_admin_update_broker_config(mq_admin *admin, const char *broker_addr, const char *key, const char *value,
                                  mq_error *err);

/* Names of the consumer groups configured on a broker (sorted). */
int mq_admin_group_list(mq_admin *admin, const char *broker_addr, mq_string_list **out, mq_error *err);

/* DELETE_SUBSCRIPTIONGROUP on one broker; clean_offset also drops the
 * group's committed offsets there. */
int mq_admin_delete_group(mq_admin *admin, const char *broker_addr, const char *group, bool clean_offset,
                          mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
