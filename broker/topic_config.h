/*
 * topic_config.h - the broker's topic table: every topic this broker
 * serves, with its queue counts, permission and flags, persisted in the
 * metadata database (namespace "topic", protobuf TopicConfig values) so it
 * survives restarts.
 *
 * Thread: the broker's loop thread owns the table (admin handlers, the
 * send handler's auto-creation, the registrar). Every change (create,
 * update, delete) is written through to meta_db with sync before it is
 * visible, bumps the data version (timestamp + counter, what the
 * nameserver compares) and calls the change callback, which re-registers
 * with the nameservers at once.
 *
 * Pointers returned by find/ensure/next stay valid until that topic is
 * deleted or the table freed (updates change the entry in place).
 */
#ifndef MQ_TOPIC_CONFIG_H
#define MQ_TOPIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "body.pb-c.h"
#include "names.h" /* topic_name_valid, topic_is_system */

#ifdef __cplusplus
extern "C" {
#endif

struct meta_db;
struct topic_table;

enum {
    TOPIC_QUEUE_NUMS_MAX = 1024,
};

typedef struct topic_config {
    char name[256];
    int32_t read_queue_nums;
    int32_t write_queue_nums;
    int32_t perm;            /* PERM_READ | PERM_WRITE | PERM_INHERIT (protocol.h) */
    int32_t topic_sys_flag;
    bool order;
} topic_config;

/* Loads every topic from db (borrowed; must outlive the table). Returns 0,
 * or -1 with err if the database cannot be read. */
int topic_table_open(struct meta_db *db, struct topic_table **out, char *err, size_t errlen);
void topic_table_free(struct topic_table *t);
/* fn(arg) runs after every change (once per call that changed something). */
void topic_table_on_change(struct topic_table *t, void (*fn)(void *arg), void *arg);

const topic_config *topic_table_find(struct topic_table *t, const char *name);
/* Creates or updates. Validates the name (topic_name_valid), queue counts
 * (1..TOPIC_QUEUE_NUMS_MAX) and perm (bits 0..3); persists; re-registers.
 * Returns 0, or -1 with err (nothing changed). System topics are not
 * refused here: the admin handler refuses users, the broker itself may. */
int topic_table_update(struct topic_table *t, const topic_config *tc, char *err, size_t errlen);
/* Returns 0 if deleted, 1 if there was no such topic, -1 with err on error. */
int topic_table_delete(struct topic_table *t, const char *name, char *err, size_t errlen);
/* The topic, created with these values if missing (auto-creation on send,
 * %RETRY%/%DLQ% and other system topics). NULL if the name is invalid or
 * it cannot be persisted (logged). */
const topic_config *topic_table_ensure(struct topic_table *t, const char *name, int32_t read,
                                       int32_t write, int32_t perm, int32_t sys_flag);

size_t topic_table_count(const struct topic_table *t);
/* Moves the data version and calls the change callback without changing a
 * topic (the broker's permission changed: the nameservers must re-read). */
void topic_table_touch(struct topic_table *t);
/* Iteration: for (size_t it = 0; topic_table_next(t, &it, &tc);) ... No
 * changes to the table during an iteration. */
bool topic_table_next(const struct topic_table *t, size_t *it, const topic_config **out);
/* The data version registered with the nameservers. */
void topic_table_data_version(const struct topic_table *t, int64_t *timestamp, int64_t *counter);

/* A TopicConfig message viewing tc (strings point into tc). */
void topic_config_to_pb(const topic_config *tc, Mq__TopicConfig *out);

/* The whole table as one message: `msg` is REGISTER_BROKER's
 * TopicConfigSerializeWrapper, and also GET_ALL_TOPIC_CONFIG's answer
 * (TopicConfigTable has the same fields under the same numbers and names,
 * so the bytes and the JSON are the same). It views the table's strings:
 * use it before the table changes, and do not move the struct (msg points
 * into it). */
typedef struct topic_table_pb {
    Mq__TopicConfigSerializeWrapper msg;
    Mq__DataVersion version;
    Mq__TopicConfig *configs;
    Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry *entries;
    Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry **entry_ptrs;
} topic_table_pb;

/* Fills out from t. perm_override >= 0 replaces every topic's perm (a
 * broker that is not both readable and writable says so for each topic);
 * -1 keeps each topic's own. Free with topic_table_pb_free. */
void topic_table_to_pb(const struct topic_table *t, int32_t perm_override, topic_table_pb *out);
void topic_table_pb_free(topic_table_pb *p);
/* Fills tc from a message (missing fields get RocketMQ's TopicConfig
 * defaults: 16/16 queues, perm 6). Returns 0, or -1 if the name does not fit. */
int topic_config_from_pb(const Mq__TopicConfig *m, const char *name_if_missing, topic_config *tc);

#ifdef __cplusplus
}
#endif

#endif
