/*
 * subscription_group.h - consumer group configs (RocketMQ's
 * SubscriptionGroupConfig): may the group consume, from where, how many
 * retry queues and retries before the dead-letter queue. Persisted in the
 * metadata database (namespace "group", protobuf SubscriptionGroupConfig).
 *
 * Thread: the broker's loop thread owns the table. Changes are written to
 * meta_db (sync) before they are visible. Pointers returned by find/ensure/
 * next stay valid until that group is deleted or the table freed.
 */
#ifndef MQ_SUBSCRIPTION_GROUP_H
#define MQ_SUBSCRIPTION_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "body.pb-c.h"
#include "names.h" /* group_name_valid */

#ifdef __cplusplus
extern "C" {
#endif

struct meta_db;
struct group_table;

typedef struct group_config {
    char name[256];
    bool consume_enable;                     /* default true */
    bool consume_from_min_enable;            /* default true */
    bool consume_broadcast_enable;           /* default true */
    int32_t retry_queue_nums;                /* default 1 */
    int32_t retry_max_times;                 /* default 16 */
    int64_t broker_id;                       /* default 0 */
    int64_t which_broker_when_consume_slowly; /* default 1 */
    bool notify_consumer_ids_changed_enable; /* default true */
} group_config;

/* RocketMQ's defaults (docs/OPERATIONS.md "Configuration") for a group named name
 * (truncated if too long: validation catches it). */
void group_config_init(group_config *g, const char *name);

int group_table_open(struct meta_db *db, struct group_table **out, char *err, size_t errlen);
void group_table_free(struct group_table *t);

const group_config *group_table_find(struct group_table *t, const char *name);
/* The group, created with the defaults if missing (autoCreateSubscriptionGroup).
 * NULL if the name is invalid or it cannot be persisted. */
const group_config *group_table_ensure(struct group_table *t, const char *name);
/* Creates or updates; validates the name and numbers. Returns 0, or -1 with err. */
int group_table_update(struct group_table *t, const group_config *g, char *err, size_t errlen);
/* Returns 0 if deleted, 1 if there was no such group, -1 with err on error. */
int group_table_delete(struct group_table *t, const char *name, char *err, size_t errlen);

size_t group_table_count(const struct group_table *t);
bool group_table_next(const struct group_table *t, size_t *it, const group_config **out);
void group_table_data_version(const struct group_table *t, int64_t *timestamp, int64_t *counter);

void group_config_to_pb(const group_config *g, Mq__SubscriptionGroupConfig *out);
/* Missing fields get the defaults. Returns 0, or -1 if the name is missing or too long. */
int group_config_from_pb(const Mq__SubscriptionGroupConfig *m, group_config *g);

#ifdef __cplusplus
}
#endif

#endif
