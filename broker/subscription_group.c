/*
 * subscription_group.c - see subscription_group.h. Same shape as the topic
 * table: a strmap of malloc'd entries, the database written first.
 */
#include "subscription_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "meta_db.h"
#include "util.h"

struct group_table {
    struct meta_db *db;
    strmap groups; /* name -> group_config* */
    int64_t dv_timestamp, dv_counter;
};

void group_config_init(group_config *g, const char *name)
{
    memset(g, 0, sizeof *g);
    if (name)
        str_copy(g->name, sizeof g->name, name);
    g->consume_enable = true;
    g->consume_from_min_enable = true;
    g->consume_broadcast_enable = true;
    g->retry_queue_nums = 1;
    g->retry_max_times = 16;
    g->broker_id = 0;
    g->which_broker_when_consume_slowly = 1;
    g->notify_consumer_ids_changed_enable = true;
}

void group_config_to_pb(const group_config *g, Mq__SubscriptionGroupConfig *m)
{
    *m = (Mq__SubscriptionGroupConfig)MQ__SUBSCRIPTION_GROUP_CONFIG__INIT;
    m->groupname = (char *)g->name;
    m->consumeenable = g->consume_enable;
    m->consumefromminenable = g->consume_from_min_enable;
    m->consumebroadcastenable = g->consume_broadcast_enable;
    m->retryqueuenums = g->retry_queue_nums;
    m->retrymaxtimes = g->retry_max_times;
    m->brokerid = g->broker_id;
    m->whichbrokerwhenconsumeslowly = g->which_broker_when_consume_slowly;
    m->notifyconsumeridschangedenable = g->notify_consumer_ids_changed_enable;
    m->has_consumeenable = m->has_consumefromminenable = m->has_consumebroadcastenable = 1;
    m->has_retryqueuenums = m->has_retrymaxtimes = m->has_brokerid = 1;
    m->has_whichbrokerwhenconsumeslowly = m->has_notifyconsumeridschangedenable = 1;
}

int group_config_from_pb(const Mq__SubscriptionGroupConfig *m, group_config *g)
{
    group_config_init(g, NULL);
    if (!m->groupname || !str_copy(g->name, sizeof g->name, m->groupname))
        return -1;
    if (m->has_consumeenable)
        g->consume_enable = m->consumeenable;
    if (m->has_consumefromminenable)
        g->consume_from_min_enable = m->consumefromminenable;
    if (m->has_consumebroadcastenable)
        g->consume_broadcast_enable = m->consumebroadcastenable;
    if (m->has_retryqueuenums)
        g->retry_queue_nums = m->retryqueuenums;
    if (m->has_retrymaxtimes)
        g->retry_max_times = m->retrymaxtimes;
    if (m->has_brokerid)
        g->broker_id = m->brokerid;
    if (m->has_whichbrokerwhenconsumeslowly)
        g->which_broker_when_consume_slowly = m->whichbrokerwhenconsumeslowly;
    if (m->has_notifyconsumeridschangedenable)
        g->notify_consumer_ids_changed_enable = m->notifyconsumeridschangedenable;
    return 0;
}

static int load_one(void *arg, const char *key, const void *val, size_t len)
{
    struct group_table *t = arg;
    Mq__SubscriptionGroupConfig *m = mq__subscription_group_config__unpack(NULL, len, val);
    group_config g;
    if (!m || group_config_from_pb(m, &g) != 0 || !group_name_valid(g.name, NULL, 0)) {
        log_warn("metadata: unreadable group config under key '%s' skipped", key);
    } else {
        group_config *e = xmalloc(sizeof *e);
        *e = g;
        strmap_put(&t->groups, e->name, e);
    }
    if (m)
        mq__subscription_group_config__free_unpacked(m, NULL);
    return 0;
}

int group_table_open(struct meta_db *db, struct group_table **out, char *err, size_t errlen)
{
    struct group_table *t = xcalloc(1, sizeof *t);
    t->db = db;
    strmap_init(&t->groups);
    t->dv_timestamp = now_ms();
    if (meta_db_scan(db, META_NS_GROUP, "", load_one, t) != 0) {
        snprintf(err, errlen, "cannot read subscription groups from the metadata database");
        group_table_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void group_table_free(struct group_table *t)
{
    if (!t)
        return;
    void *v;
    for (size_t it = 0; strmap_next(&t->groups, &it, NULL, &v);)
        free(v);
    strmap_free(&t->groups);
    free(t);
}

const group_config *group_table_find(struct group_table *t, const char *name)
{
    return name ? strmap_get(&t->groups, name) : NULL;
}

static bool config_valid(const group_config *g, char *err, size_t errlen)
{
    if (!group_name_valid(g->name, err, errlen))
        return false;
    if (g->retry_queue_nums < 0 || g->retry_queue_nums > 1024) {
        snprintf(err, errlen, "group %s: retryQueueNums must be between 0 and 1024 (got %d)", g->name,
                 g->retry_queue_nums);
        return false;
    }
    if (g->retry_max_times < -1 || g->retry_max_times > 10000) {
        snprintf(err, errlen, "group %s: retryMaxTimes must be between -1 and 10000 (got %d)", g->name,
                 g->retry_max_times);
        return false;
    }
    if (g->broker_id < 0 || g->which_broker_when_consume_slowly < 0) {
        snprintf(err, errlen, "group %s: brokerId and whichBrokerWhenConsumeSlowly must not be negative",
                 g->name);
        return false;
    }
    return true;
}

int group_table_update(struct group_table *t, const group_config *g, char *err, size_t errlen)
{
    if (!config_valid(g, err, errlen))
        return -1;
    Mq__SubscriptionGroupConfig m;
    group_config_to_pb(g, &m);
    uint8_t buf[512];
    size_t n = mq__subscription_group_config__get_packed_size(&m);
    uint8_t *p = n <= sizeof buf ? buf : xmalloc(n);
    mq__subscription_group_config__pack(&m, p);
    int rc = meta_db_put(t->db, META_NS_GROUP, g->name, p, n, true);
    if (p != buf)
        free(p);
    if (rc != 0) {
        snprintf(err, errlen, "cannot persist group %s in the metadata database", g->name);
        return -1;
    }
    group_config *e = strmap_get(&t->groups, g->name);
    bool created = !e;
    if (!e) {
        e = xmalloc(sizeof *e);
        strmap_put(&t->groups, g->name, e);
    }
    *e = *g;
    log_info("subscription group %s %s: consumeEnable %s, retryQueueNums %d, retryMaxTimes %d", e->name,
             created ? "created" : "updated", e->consume_enable ? "true" : "false", e->retry_queue_nums,
             e->retry_max_times);
    t->dv_timestamp = now_ms();
    t->dv_counter++;
    return 0;
}

const group_config *group_table_ensure(struct group_table *t, const char *name)
{
    const group_config *e = group_table_find(t, name);
    if (e)
        return e;
    group_config g;
    group_config_init(&g, name);
    char err[256] = "name too long";
    if (!name || strlen(name) >= sizeof g.name || group_table_update(t, &g, err, sizeof err) != 0) {
        log_warn("cannot create subscription group %.64s: %s", name ? name : "(null)", err);
        return NULL;
    }
    return group_table_find(t, name);
}

int group_table_delete(struct group_table *t, const char *name, char *err, size_t errlen)
{
    group_config *e = name ? strmap_get(&t->groups, name) : NULL;
    if (!e)
        return 1;
    if (meta_db_delete(t->db, META_NS_GROUP, name, true) != 0) {
        snprintf(err, errlen, "cannot delete group %s from the metadata database", name);
        return -1;
    }
    strmap_remove(&t->groups, e->name);
    log_info("subscription group %s deleted", e->name);
    free(e);
    t->dv_timestamp = now_ms();
    t->dv_counter++;
    return 0;
}

size_t group_table_count(const struct group_table *t) { return t->groups.count; }

bool group_table_next(const struct group_table *t, size_t *it, const group_config **out)
{
    void *v;
    if (!strmap_next(&t->groups, it, NULL, &v))
        return false;
    *out = v;
    return true;
}

void group_table_data_version(const struct group_table *t, int64_t *timestamp, int64_t *counter)
{
    *timestamp = t->dv_timestamp;
    *counter = t->dv_counter;
}
