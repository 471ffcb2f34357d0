/*
 * kv_config.h - the nameserver's KV config, RocketMQ's KVConfigManager:
 * namespace -> key -> value, set by operators (PUT/GET/DELETE_KV_CONFIG,
 * GET_KVLIST_BY_NAMESPACE). The ORDER_TOPIC_CONFIG namespace holds
 * "brokerName:queueNum;..." per ordered topic: it is sent back to brokers
 * on registration and, with orderMessageEnable, put in routes.
 *
 * Persistence: with a path (kvConfigPath), the whole table is loaded at start
 * and rewritten on every change as RocketMQ's kvConfig.json,
 * {"configTable":{namespace:{key:value}}}, through a temporary file that is
 * fsynced and renamed over the old one (the directory is fsynced too): a
 * crash leaves the old or the new file, never half of one. A change that
 * cannot be persisted is undone and reported. Without a path the table lives
 * in memory only (RocketMQ always persists, to ~/namesrv/kvConfig.json; we
 * do not write to $HOME unasked).
 *
 * Thread: one owner (the nameserver's loop); no locks.
 */
#ifndef MQ_NS_KV_CONFIG_H
#define MQ_NS_KV_CONFIG_H

#include <stddef.h>

#include "arena.h"
#include "body.pb-c.h"

typedef struct ns_kv ns_kv;

#define NS_KV_ORDER_TOPIC_CONFIG "ORDER_TOPIC_CONFIG"

/* Opens the table; path NULL or "" keeps it in memory. A file that exists
 * but cannot be read or parsed is an error (NULL with err), not an empty
 * table: starting would otherwise overwrite it. */
ns_kv *ns_kv_open(const char *path, char *err, size_t errlen);
void ns_kv_free(ns_kv *kv);

/* Sets namespace/key to value and persists. Returns 0, or -1 with err (the
 * table is unchanged then). */
int ns_kv_put(ns_kv *kv, const char *ns, const char *key, const char *value, char *err, size_t errlen);
/* The value, or NULL. Valid until the table next changes. */
const char *ns_kv_get(const ns_kv *kv, const char *ns, const char *key);
/* Removes namespace/key (nothing to do if absent: 0) and persists. Returns 0
 * or -1 with err (the table is unchanged then). */
int ns_kv_delete(ns_kv *kv, const char *ns, const char *key, char *err, size_t errlen);
/* The namespace as a KVTable allocated in a (strings point into the table),
 * or NULL if it has no keys. */
Mq__KVTable *ns_kv_list(const ns_kv *kv, const char *ns, arena *a);
/* Number of namespaces (for logs). */
size_t ns_kv_namespaces(const ns_kv *kv);

#endif
