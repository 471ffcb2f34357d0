/*
 * route_info.c - see route_info.h.
 *
 * Layout: a topic's queue data is a small array sorted by broker name (a
 * topic lives on a few broker names, so an array beats a map in memory and
 * speed); broker addresses per broker name are a small array sorted by id.
 * Queue data refers to its broker by the broker data's name pointer, which
 * is what makes "remove every queue of broker X" a pointer comparison.
 * Stale-topic removal after a master registration uses a generation number:
 * entries the registration touched carry the new generation, the others of
 * that broker are swept.
 */
#include "route_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "names.h"
#include "protocol.h"
#include "util.h"

enum { NAME_MAX_LEN = 127 };

typedef struct queue_data {
    const char *broker_name; /* the broker_data's name */
    int32_t read_queue_nums;
    int32_t write_queue_nums;
    int32_t perm;
    int32_t topic_sys_flag;
    uint32_t gen;            /* registration that last wrote it */
} queue_data;

typedef struct topic_entry {
    queue_data *qd;
    uint32_t n, cap;
} topic_entry;

typedef struct broker_addr {
    int64_t id;
    char addr[ADDR_TEXT_MAX];
} broker_addr;

typedef struct broker_data {
    char *name;
    char *cluster;
    broker_addr *addrs;
    int n, cap;
    int64_t master_epoch; /* highest haEpoch a master (id 0) of this name registered */
} broker_data;

typedef struct live_broker {
    int64_t last_update_ms;
    int64_t dv_timestamp, dv_counter;
    uint64_t conn_id;
    char ha_addr[ADDR_TEXT_MAX];
} live_broker;

struct ns_routes {
    strmap topics;   /* topic -> topic_entry* */
    strmap brokers;  /* broker name -> broker_data* */
    strmap clusters; /* cluster -> strmap* (broker name -> broker_data*) */
    strmap live;     /* broker addr -> live_broker* */
    uint32_t gen;
};

ns_routes *ns_routes_new(void)
{
    ns_routes *r = xcalloc(1, sizeof *r);
    strmap_init(&r->topics);
    strmap_init(&r->brokers);
    strmap_init(&r->clusters);
    strmap_init(&r->live);
    return r;
}

static void topic_entry_free(topic_entry *t)
{
    free(t->qd);
    free(t);
}

static void broker_data_free(broker_data *b)
{
    free(b->name);
    free(b->cluster);
    free(b->addrs);
    free(b);
}

void ns_routes_free(ns_routes *r)
{
    if (!r)
        return;
    void *v;
    for (size_t it = 0; strmap_next(&r->topics, &it, NULL, &v);)
        topic_entry_free(v);
    for (size_t it = 0; strmap_next(&r->brokers, &it, NULL, &v);)
        broker_data_free(v);
    for (size_t it = 0; strmap_next(&r->clusters, &it, NULL, &v);) {
        strmap_free(v);
        free(v);
    }
    for (size_t it = 0; strmap_next(&r->live, &it, NULL, &v);)
        free(v);
    strmap_free(&r->topics);
    strmap_free(&r->brokers);
    strmap_free(&r->clusters);
    strmap_free(&r->live);
    free(r);
}

size_t ns_routes_topic_count(const ns_routes *r) { return r->topics.count; }
size_t ns_routes_live_count(const ns_routes *r) { return r->live.count; }

/* ---- queue data ---- */

/* Index of broker_name's entry in t, or where it would go (*found false). */
static uint32_t qd_find(const topic_entry *t, const char *broker_name, bool *found)
{
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = strcmp(t->qd[mid].broker_name, broker_name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void qd_remove_at(topic_entry *t, uint32_t i)
{
    memmove(&t->qd[i], &t->qd[i + 1], (t->n - i - 1) * sizeof t->qd[0]);
    t->n--;
}

/* Removes every queue data of broker b; drops topics left empty. */
static void remove_topics_of_broker(ns_routes *r, const broker_data *b)
{
    const char **dead = NULL;
    size_t ndead = 0, capdead = 0;
    const char *topic;
    void *v;
    for (size_t it = 0; strmap_next(&r->topics, &it, &topic, &v);) {
        topic_entry *t = v;
        bool found;
        uint32_t i = qd_find(t, b->name, &found);
        if (!found)
            continue;
        qd_remove_at(t, i);
        if (t->n == 0) {
            if (ndead == capdead) {
                capdead = capdead ? capdead * 2 : 16;
                dead = xrealloc(dead, capdead * sizeof *dead);
            }
            dead[ndead++] = topic;
        }
    }
    for (size_t i = 0; i < ndead; i++) {
        char *name = xstrdup(dead[i]); /* the key dies with the entry */
        topic_entry_free(strmap_remove(&r->topics, name));
        free(name);
    }
    free(dead);
}

/* Creates or updates broker b's queue data for a topic config. */
static void put_queue_data(ns_routes *r, const broker_data *b, const Mq__TopicConfig *tc,
                           const char *topic)
{
    topic_entry *t = strmap_get(&r->topics, topic);
    if (!t) {
        t = xcalloc(1, sizeof *t);
        strmap_put(&r->topics, topic, t);
    }
    bool found;
    uint32_t i = qd_find(t, b->name, &found);
    if (!found) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 2;
            t->qd = xrealloc(t->qd, t->cap * sizeof t->qd[0]);
        }
        memmove(&t->qd[i + 1], &t->qd[i], (t->n - i) * sizeof t->qd[0]);
        t->n++;
        t->qd[i].broker_name = b->name;
    }
    queue_data *q = &t->qd[i];
    q->read_queue_nums = tc->has_readqueuenums ? tc->readqueuenums : 16;
    q->write_queue_nums = tc->has_writequeuenums ? tc->writequeuenums : 16;
    q->perm = tc->has_perm ? tc->perm : 6;
    q->topic_sys_flag = tc->has_topicsysflag ? tc->topicsysflag : 0;
    q->gen = r->gen;
}

/* After a master registration: topics of b the registration did not list. */
static void sweep_stale_topics(ns_routes *r, const broker_data *b)
{
    const char **dead = NULL;
    size_t ndead = 0, capdead = 0;
    const char *topic;
    void *v;
    for (size_t it = 0; strmap_next(&r->topics, &it, &topic, &v);) {
        topic_entry *t = v;
        bool found;
        uint32_t i = qd_find(t, b->name, &found);
        if (!found || t->qd[i].gen == r->gen)
            continue;
        log_info("topic %s no longer on broker %s: removed from its route", topic, b->name);
        qd_remove_at(t, i);
        if (t->n == 0) {
            if (ndead == capdead) {
                capdead = capdead ? capdead * 2 : 16;
                dead = xrealloc(dead, capdead * sizeof *dead);
            }
            dead[ndead++] = topic;
        }
    }
    for (size_t i = 0; i < ndead; i++) {
        char *name = xstrdup(dead[i]);
        topic_entry_free(strmap_remove(&r->topics, name));
        free(name);
    }
    free(dead);
}

/* ---- brokers and clusters ---- */

static void cluster_add(ns_routes *r, const char *cluster, broker_data *b)
{
    strmap *set = strmap_get(&r->clusters, cluster);
    if (!set) {
        set = xcalloc(1, sizeof *set);
        strmap_init(set);
        strmap_put(&r->clusters, cluster, set);
    }
    strmap_put(set, b->name, b);
}

static void cluster_remove(ns_routes *r, const char *cluster, const char *broker_name)
{
    strmap *set = strmap_get(&r->clusters, cluster);
    if (!set)
        return;
    strmap_remove(set, broker_name);
    if (set->count == 0) {
        char *key = xstrdup(cluster);
        strmap_remove(&r->clusters, key);
        free(key);
        strmap_free(set);
        free(set);
    }
}

static int addr_index_by_id(const broker_data *b, int64_t id)
{
    for (int i = 0; i < b->n; i++)
        if (b->addrs[i].id == id)
            return i;
    return -1;
}

static void addr_remove_at(broker_data *b, int i)
{
    memmove(&b->addrs[i], &b->addrs[i + 1], (size_t)(b->n - i - 1) * sizeof b->addrs[0]);
    b->n--;
}

/* Removes broker data that has no address left, with its queue data. */
static void drop_broker_if_empty(ns_routes *r, broker_data *b)
{
    if (b->n > 0)
        return;
    log_info("broker %s (cluster %s) has no live address left: removed with its queue data",
             b->name, b->cluster);
    remove_topics_of_broker(r, b);
    cluster_remove(r, b->cluster, b->name);
    char *key = xstrdup(b->name);
    strmap_remove(&r->brokers, key);
    free(key);
    broker_data_free(b);
}

/* Removes addr everywhere (live table, every broker name). */
static void drop_addr(ns_routes *r, const char *addr)
{
    char *key = xstrdup(addr); /* addr may be the live map's own key */
    free(strmap_remove(&r->live, key));
    broker_data **hit = NULL;
    size_t nhit = 0;
    void *v;
    for (size_t it = 0; strmap_next(&r->brokers, &it, NULL, &v);) {
        broker_data *b = v;
        bool removed = false;
        for (int i = 0; i < b->n;) {
            if (!strcmp(b->addrs[i].addr, key)) {
                addr_remove_at(b, i);
                removed = true;
            } else {
                i++;
            }
        }
        if (removed && b->n == 0) {
            hit = xrealloc(hit, (nhit + 1) * sizeof *hit);
            hit[nhit++] = b;
        }
    }
    for (size_t i = 0; i < nhit; i++)
        drop_broker_if_empty(r, hit[i]);
    free(hit);
    free(key);
}

/* ---- registration ---- */

static bool field_ok(const char *what, const char *v, char *err, size_t errlen)
{
    if (!v || !*v) {
        snprintf(err, errlen, "registration lacks %s", what);
        return false;
    }
    if (strlen(v) > NAME_MAX_LEN) {
        snprintf(err, errlen, "%s is longer than %d characters", what, NAME_MAX_LEN);
        return false;
    }
    return true;
}

int ns_routes_register(ns_routes *r, const ns_broker_reg *reg, ns_register_result *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    char host[256];
    int port;
    if (!field_ok("clusterName", reg->cluster, err, errlen) ||
        !field_ok("brokerName", reg->broker_name, err, errlen) ||
        !field_ok("brokerAddr", reg->broker_addr, err, errlen))
        return -1;
    if (strlen(reg->broker_addr) >= ADDR_TEXT_MAX ||
        addr_split(reg->broker_addr, host, sizeof host, &port, err, errlen) != 0) {
        snprintf(err, errlen, "bad brokerAddr '%.64s'", reg->broker_addr);
        return -1;
    }
    if (reg->broker_id < 0) {
        snprintf(err, errlen, "bad brokerId %lld", (long long)reg->broker_id);
        return -1;
    }
    if (reg->ha_addr && strlen(reg->ha_addr) >= ADDR_TEXT_MAX) {
        snprintf(err, errlen, "haServerAddr is too long");
        return -1;
    }

    bool register_first = false;
    broker_data *b = strmap_get(&r->brokers, reg->broker_name);
    if (b && reg->broker_id == 0 && reg->epoch < b->master_epoch) {
        /* Failover fencing: an older master. Left out of the route. */
        out->fenced = true;
        out->master_epoch = b->master_epoch;
        int m = addr_index_by_id(b, 0);
        if (m >= 0 && strcmp(b->addrs[m].addr, reg->broker_addr) != 0) {
            str_copy(out->master_addr, sizeof out->master_addr, b->addrs[m].addr);
            live_broker *ml = strmap_get(&r->live, b->addrs[m].addr);
            if (ml)
                str_copy(out->ha_addr, sizeof out->ha_addr, ml->ha_addr);
        }
        int64_t id = 1;
        for (int i = 0; i < b->n; i++) /* ascending ids */
            if (b->addrs[i].id == id && strcmp(b->addrs[i].addr, reg->broker_addr) != 0)
                id++;
        out->slave_id = id;
        return 0;
    }
    if (b && reg->broker_id == 0 && reg->epoch > b->master_epoch) {
        int m = addr_index_by_id(b, 0);
        if (m >= 0 && strcmp(b->addrs[m].addr, reg->broker_addr) != 0)
            log_warn("broker %s: master %s (epoch %lld) replaces %s (epoch %lld)", b->name, reg->broker_addr,
                     (long long)reg->epoch, b->addrs[m].addr, (long long)b->master_epoch);
    }
    if (!b) {
        b = xcalloc(1, sizeof *b);
        b->name = xstrdup(reg->broker_name);
        b->cluster = xstrdup(reg->cluster);
        strmap_put(&r->brokers, b->name, b);
        register_first = true;
    } else if (strcmp(b->cluster, reg->cluster) != 0) {
        log_info("broker %s moved from cluster %s to %s", b->name, b->cluster, reg->cluster);
        cluster_remove(r, b->cluster, b->name);
        free(b->cluster);
        b->cluster = xstrdup(reg->cluster);
    }
    cluster_add(r, reg->cluster, b);
    if (reg->broker_id == 0 && reg->epoch > b->master_epoch)
        b->master_epoch = reg->epoch;

    /* The same address under another id (slave promoted): drop the old id. */
    for (int i = 0; i < b->n;) {
        if (b->addrs[i].id != reg->broker_id && !strcmp(b->addrs[i].addr, reg->broker_addr))
            addr_remove_at(b, i);
        else
            i++;
    }
    int idx = addr_index_by_id(b, reg->broker_id);
    if (idx < 0) {
        if (b->n == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 2;
            b->addrs = xrealloc(b->addrs, (size_t)b->cap * sizeof b->addrs[0]);
        }
        idx = 0;
        while (idx < b->n && b->addrs[idx].id < reg->broker_id)
            idx++;
        memmove(&b->addrs[idx + 1], &b->addrs[idx], (size_t)(b->n - idx) * sizeof b->addrs[0]);
        b->n++;
        b->addrs[idx].id = reg->broker_id;
        register_first = true;
    }
    str_copy(b->addrs[idx].addr, sizeof b->addrs[idx].addr, reg->broker_addr);

    live_broker *lb = strmap_get(&r->live, reg->broker_addr);
    const Mq__DataVersion *dv = reg->topics ? reg->topics->dataversion : NULL;
    int64_t dv_ts = dv && dv->has_timestamp ? dv->timestamp : 0;
    int64_t dv_counter = dv && dv->has_counter ? dv->counter : 0;
    bool version_changed = !lb || lb->dv_timestamp != dv_ts || lb->dv_counter != dv_counter;

    if (reg->broker_id == 0 && reg->topics && (version_changed || register_first)) {
        r->gen++;
        for (size_t i = 0; i < reg->topics->n_topicconfigtable; i++) {
            const Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry *e =
                reg->topics->topicconfigtable[i];
            const char *name = e->value && e->value->topicname ? e->value->topicname : e->key;
            if (!e->value || !topic_name_valid(name, NULL, 0))
                continue; /* a broker never sends these; skip rather than fail all */
            put_queue_data(r, b, e->value, name);
        }
        sweep_stale_topics(r, b);
        out->topics_updated = true;
    }

    if (!lb) {
        lb = xcalloc(1, sizeof *lb);
        strmap_put(&r->live, reg->broker_addr, lb);
        out->new_broker = true;
    }
    lb->last_update_ms = reg->now_ms;
    if (reg->topics) {
        lb->dv_timestamp = dv_ts;
        lb->dv_counter = dv_counter;
    }
    lb->conn_id = reg->conn_id;
    str_copy(lb->ha_addr, sizeof lb->ha_addr, reg->ha_addr ? reg->ha_addr : "");

    if (reg->broker_id != 0) {
        int m = addr_index_by_id(b, 0);
        if (m >= 0) {
            str_copy(out->master_addr, sizeof out->master_addr, b->addrs[m].addr);
            live_broker *ml = strmap_get(&r->live, b->addrs[m].addr);
            if (ml)
                str_copy(out->ha_addr, sizeof out->ha_addr, ml->ha_addr);
        }
    }
    return 0;
}

int ns_routes_unregister(ns_routes *r, const char *cluster, const char *broker_name,
                         const char *broker_addr, int64_t broker_id)
{
    (void)cluster;
    if (broker_addr && *broker_addr) {
        /* By address, wherever it is listed: an id that does not match
         * must not leave an address behind that nothing would expire. */
        bool known = strmap_get(&r->live, broker_addr) != NULL;
        void *v;
        for (size_t it = 0; !known && strmap_next(&r->brokers, &it, NULL, &v);) {
            const broker_data *b = v;
            for (int i = 0; i < b->n && !known; i++)
                known = !strcmp(b->addrs[i].addr, broker_addr);
        }
        if (known)
            drop_addr(r, broker_addr);
        return known ? 0 : -1;
    }
    broker_data *b = broker_name ? strmap_get(&r->brokers, broker_name) : NULL;
    int idx = b ? addr_index_by_id(b, broker_id) : -1;
    if (idx < 0)
        return -1;
    char *addr = xstrdup(b->addrs[idx].addr);
    drop_addr(r, addr);
    free(addr);
    return 0;
}

/* Drops the addresses collected in addrs[0..n). */
static int drop_addrs(ns_routes *r, char **addrs, int n)
{
    for (int i = 0; i < n; i++) {
        drop_addr(r, addrs[i]);
        free(addrs[i]);
    }
    free(addrs);
    return n;
}

int ns_routes_expire(ns_routes *r, int64_t now_ms, int64_t expiry_ms)
{
    char **dead = NULL;
    int n = 0;
    const char *addr;
    void *v;
    for (size_t it = 0; strmap_next(&r->live, &it, &addr, &v);) {
        live_broker *lb = v;
        if (now_ms - lb->last_update_ms > expiry_ms) {
            log_info("broker %s silent for %lld ms (limit %lld): dropped", addr,
                     (long long)(now_ms - lb->last_update_ms), (long long)expiry_ms);
            dead = xrealloc(dead, (size_t)(n + 1) * sizeof *dead);
            dead[n++] = xstrdup(addr);
        }
    }
    return drop_addrs(r, dead, n);
}

int ns_routes_conn_closed(ns_routes *r, uint64_t conn_id)
{
    if (conn_id == 0)
        return 0;
    char **dead = NULL;
    int n = 0;
    const char *addr;
    void *v;
    for (size_t it = 0; strmap_next(&r->live, &it, &addr, &v);) {
        live_broker *lb = v;
        if (lb->conn_id == conn_id) {
            log_info("connection of broker %s closed: dropped", addr);
            dead = xrealloc(dead, (size_t)(n + 1) * sizeof *dead);
            dead[n++] = xstrdup(addr);
        }
    }
    return drop_addrs(r, dead, n);
}

bool ns_routes_data_version_changed(ns_routes *r, const char *broker_addr, int64_t timestamp,
                                    int64_t counter, int64_t now_ms, Mq__DataVersion *stored,
                                    arena *a)
{
    (void)a;
    live_broker *lb = broker_addr ? strmap_get(&r->live, broker_addr) : NULL;
    if (!lb)
        return true;
    lb->last_update_ms = now_ms;
    if (stored) {
        stored->timestamp = lb->dv_timestamp;
        stored->has_timestamp = 1;
        stored->counter = lb->dv_counter;
        stored->has_counter = 1;
    }
    return lb->dv_timestamp != timestamp || lb->dv_counter != counter;
}

/* ---- queries ---- */

static Mq__BrokerData *build_broker_data(const broker_data *b, arena *a)
{
    Mq__BrokerData *bd = arena_alloc(a, sizeof *bd);
    *bd = (Mq__BrokerData)MQ__BROKER_DATA__INIT;
    bd->cluster = b->cluster;
    bd->brokername = b->name;
    bd->n_brokeraddrs = (size_t)b->n;
    bd->brokeraddrs = arena_alloc(a, (size_t)(b->n ? b->n : 1) * sizeof *bd->brokeraddrs);
    Mq__BrokerData__BrokerAddrsEntry *es = arena_alloc(a, (size_t)(b->n ? b->n : 1) * sizeof *es);
    for (int i = 0; i < b->n; i++) {
        es[i] = (Mq__BrokerData__BrokerAddrsEntry)MQ__BROKER_DATA__BROKER_ADDRS_ENTRY__INIT;
        es[i].key = b->addrs[i].id;
        es[i].has_key = 1;
        es[i].value = (char *)b->addrs[i].addr;
        bd->brokeraddrs[i] = &es[i];
    }
    return bd;
}

int ns_routes_topic_route(const ns_routes *r, const char *topic, arena *a, Mq__TopicRouteData **out)
{
    const topic_entry *t = topic ? strmap_get(&r->topics, topic) : NULL;
    if (!t || t->n == 0)
        return -1;
    Mq__TopicRouteData *rd = arena_alloc(a, sizeof *rd);
    *rd = (Mq__TopicRouteData)MQ__TOPIC_ROUTE_DATA__INIT;
    rd->queuedatas = arena_alloc(a, t->n * sizeof *rd->queuedatas);
    rd->brokerdatas = arena_alloc(a, t->n * sizeof *rd->brokerdatas);
    Mq__QueueData *qs = arena_alloc(a, t->n * sizeof *qs);
    for (uint32_t i = 0; i < t->n; i++) {
        const queue_data *q = &t->qd[i];
        qs[i] = (Mq__QueueData)MQ__QUEUE_DATA__INIT;
        qs[i].brokername = (char *)q->broker_name;
        qs[i].readqueuenums = q->read_queue_nums;
        qs[i].writequeuenums = q->write_queue_nums;
        qs[i].perm = q->perm;
        qs[i].topicsysflag = q->topic_sys_flag;
        qs[i].has_readqueuenums = qs[i].has_writequeuenums = qs[i].has_perm = qs[i].has_topicsysflag = 1;
        rd->queuedatas[rd->n_queuedatas++] = &qs[i];
        const broker_data *b = strmap_get(&r->brokers, q->broker_name);
        if (b)
            rd->brokerdatas[rd->n_brokerdatas++] = build_broker_data(b, a);
    }
    if (rd->n_brokerdatas == 0)
        return -1;
    *out = rd;
    return 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

void ns_routes_cluster_info(const ns_routes *r, arena *a, Mq__ClusterInfo **out)
{
    Mq__ClusterInfo *ci = arena_alloc(a, sizeof *ci);
    *ci = (Mq__ClusterInfo)MQ__CLUSTER_INFO__INIT;
    size_t nb = r->brokers.count, nc = r->clusters.count;
    ci->brokeraddrtable = arena_alloc(a, (nb ? nb : 1) * sizeof *ci->brokeraddrtable);
    ci->clusteraddrtable = arena_alloc(a, (nc ? nc : 1) * sizeof *ci->clusteraddrtable);
    const char *key;
    void *v;
    for (size_t it = 0; strmap_next(&r->brokers, &it, &key, &v);) {
        Mq__ClusterInfo__BrokerAddrTableEntry *e = arena_alloc(a, sizeof *e);
        *e = (Mq__ClusterInfo__BrokerAddrTableEntry)MQ__CLUSTER_INFO__BROKER_ADDR_TABLE_ENTRY__INIT;
        e->key = (char *)key;
        e->value = build_broker_data(v, a);
        ci->brokeraddrtable[ci->n_brokeraddrtable++] = e;
    }
    for (size_t it = 0; strmap_next(&r->clusters, &it, &key, &v);) {
        const strmap *set = v;
        Mq__ClusterInfo__ClusterAddrTableEntry *e = arena_alloc(a, sizeof *e);
        *e = (Mq__ClusterInfo__ClusterAddrTableEntry)MQ__CLUSTER_INFO__CLUSTER_ADDR_TABLE_ENTRY__INIT;
        e->key = (char *)key;
        Mq__BrokerNameSet *s = arena_alloc(a, sizeof *s);
        *s = (Mq__BrokerNameSet)MQ__BROKER_NAME_SET__INIT;
        s->brokernames = arena_alloc(a, (set->count ? set->count : 1) * sizeof *s->brokernames);
        const char *bn;
        for (size_t j = 0; strmap_next(set, &j, &bn, NULL);)
            s->brokernames[s->n_brokernames++] = (char *)bn;
        qsort(s->brokernames, s->n_brokernames, sizeof *s->brokernames, cmp_str);
        e->value = s;
        ci->clusteraddrtable[ci->n_clusteraddrtable++] = e;
    }
    *out = ci;
}

void ns_routes_topic_list(const ns_routes *r, const char *cluster, arena *a, Mq__TopicList **out)
{
    Mq__TopicList *tl = arena_alloc(a, sizeof *tl);
    *tl = (Mq__TopicList)MQ__TOPIC_LIST__INIT;
    size_t n = r->topics.count;
    tl->topiclist = arena_alloc(a, (n ? n : 1) * sizeof *tl->topiclist);
    const strmap *set = cluster && *cluster ? strmap_get(&r->clusters, cluster) : NULL;
    if (cluster && *cluster && !set) {
        *out = tl;
        return;
    }
    const char *topic;
    void *v;
    for (size_t it = 0; strmap_next(&r->topics, &it, &topic, &v);) {
        const topic_entry *t = v;
        bool take = !set;
        for (uint32_t i = 0; !take && i < t->n; i++)
            take = strmap_get(set, t->qd[i].broker_name) != NULL;
        if (take)
            tl->topiclist[tl->n_topiclist++] = (char *)topic;
    }
    qsort(tl->topiclist, tl->n_topiclist, sizeof *tl->topiclist, cmp_str);
    *out = tl;
}

int ns_routes_delete_topic(ns_routes *r, const char *topic, const char *cluster)
{
    topic_entry *t = topic ? strmap_get(&r->topics, topic) : NULL;
    if (!t)
        return -1;
    if (cluster && *cluster) {
        const strmap *set = strmap_get(&r->clusters, cluster);
        for (uint32_t i = 0; set && i < t->n;) {
            if (strmap_get(set, t->qd[i].broker_name))
                qd_remove_at(t, i);
            else
                i++;
        }
        if (t->n > 0)
            return 0;
    }
    topic_entry_free(strmap_remove(&r->topics, topic));
    return 0;
}

int ns_routes_set_write_perm(ns_routes *r, const char *broker_name, bool writable)
{
    int changed = 0;
    void *v;
    for (size_t it = 0; strmap_next(&r->topics, &it, NULL, &v);) {
        topic_entry *t = v;
        bool found;
        uint32_t i = qd_find(t, broker_name, &found);
        if (!found)
            continue;
        int32_t perm = writable ? t->qd[i].perm | PERM_WRITE : t->qd[i].perm & ~PERM_WRITE;
        if (perm != t->qd[i].perm) {
            t->qd[i].perm = perm;
            changed++;
        }
    }
    return changed;
}
