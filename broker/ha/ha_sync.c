/*
 * ha_sync.c - a slave's copy of its master's metadata (RocketMQ's
 * SlaveSynchronize): every slaveSyncInterval, over a normal remoting
 * connection to the master's listen address (learned from the nameserver),
 * GET_ALL_TOPIC_CONFIG, GET_ALL_SUBSCRIPTIONGROUP_CONFIG and
 * GET_ALL_CONSUMER_OFFSET, applied to the slave's own tables, so a slave that
 * serves consumers while the master is away starts them at the offsets they
 * committed to the master. The slave's tables become copies of the
 * master's, as RocketMQ's (which clears and refills them): topics and groups
 * are added, updated, and deleted when the master no longer has them (a
 * deleted topic also loses its ConsumeQueues and its offsets there, as on
 * the master); offsets of (group, topic) pairs the master no longer has go
 * too (a group deleted with its offsets, a deleted topic). System topics are
 * never deleted, and an empty topic or group table deletes nothing (a
 * master always has its system topics and groups: an empty one is not a
 * real answer). The master side of GET_ALL_CONSUMER_OFFSET is here as well.
 *
 * Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.pb-c.h"
#include "consumer_offset.h"
#include "ha_internal.h"
#include "hashmap.h"
#include "log.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "util.h"

enum { SYNC_TIMEOUT_MS = 5000 };

/* ---- master: GET_ALL_CONSUMER_OFFSET ---- */

typedef struct offsets_pb {
    Mq__ConsumerOffsetEntry *entries;
    Mq__ConsumerOffsetEntry **ptrs;
    size_t n, cap;
} offsets_pb;

static void add_offset(void *arg, const char *key, int32_t queue_id, int64_t offset)
{
    offsets_pb *o = arg;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->entries = xrealloc(o->entries, o->cap * sizeof *o->entries);
    }
    Mq__ConsumerOffsetEntry *e = &o->entries[o->n++];
    *e = (Mq__ConsumerOffsetEntry)MQ__CONSUMER_OFFSET_ENTRY__INIT;
    e->key = (char *)key;
    e->queueid = queue_id;
    e->has_queueid = 1;
    e->offset = offset;
    e->has_offset = 1;
}

static void on_all_consumer_offset(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    offsets_pb o = {0};
    offset_manager_foreach(b->offsets, add_offset, &o);
    o.ptrs = xcalloc(o.n ? o.n : 1, sizeof *o.ptrs);
    for (size_t i = 0; i < o.n; i++)
        o.ptrs[i] = &o.entries[i];
    Mq__ConsumerOffsetTable t = MQ__CONSUMER_OFFSET_TABLE__INIT;
    t.n_offsettable = o.n;
    t.offsettable = o.ptrs;
    rm_reply_ok(c, req, &t.base);
    free(o.ptrs);
    free(o.entries);
}

void ha_sync_register(broker *b)
{
    rm_dispatch_on(b->dispatch, RC_GET_ALL_CONSUMER_OFFSET, on_all_consumer_offset, b);
}

/* ---- slave: apply the master's tables ---- */

/* A growing list of copied names. */
typedef struct names {
    char **v;
    size_t n, cap;
} names;

static void names_add(names *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = xstrdup(name);
}

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static void apply_topics(ha_service *ha, const Mq__TopicConfigTable *m)
{
    int changed = 0;
    for (size_t i = 0; i < m->n_topicconfigtable; i++) {
        const Mq__TopicConfigTable__TopicConfigTableEntry *e = m->topicconfigtable[i];
        topic_config tc;
        if (!e->key || !e->value || topic_config_from_pb(e->value, e->key, &tc) != 0)
            continue;
        const topic_config *old = topic_table_find(ha->b->topics, tc.name);
        if (old && old->read_queue_nums == tc.read_queue_nums && old->write_queue_nums == tc.write_queue_nums &&
            old->perm == tc.perm && old->topic_sys_flag == tc.topic_sys_flag && old->order == tc.order)
            continue;
        char err[256];
        if (topic_table_update(ha->b->topics, &tc, err, sizeof err) != 0)
            log_warn("slave sync: topic %s not copied: %s", tc.name, err);
        else
            changed++;
    }
    if (changed)
        log_info("slave sync: %d topic configs copied from the master", changed);
    if (m->n_topicconfigtable == 0)
        return;
    strmap keep;
    strmap_init(&keep);
    for (size_t i = 0; i < m->n_topicconfigtable; i++) {
        const Mq__TopicConfigTable__TopicConfigTableEntry *e = m->topicconfigtable[i];
        const char *name = e->key && *e->key ? e->key : e->value && e->value->topicname ? e->value->topicname : NULL;
        if (name)
            strmap_put(&keep, name, &keep);
    }
    names gone = {0};
    const topic_config *tc;
    for (size_t it = 0; topic_table_next(ha->b->topics, &it, &tc);)
        if (!strmap_get(&keep, tc->name) && !topic_is_system(tc->name))
            names_add(&gone, tc->name);
    strmap_free(&keep);
    for (size_t i = 0; i < gone.n; i++) {
        char err[256];
        const char *name = gone.v[i];
        if (topic_table_delete(ha->b->topics, name, err, sizeof err) < 0) {
            log_warn("slave sync: topic %s not deleted: %s", name, err);
            continue;
        }
        store_delete_topic(ha->s, name);
        char **groups;
        size_t n = offset_manager_groups_of(ha->b->offsets, name, &groups);
        for (size_t k = 0; k < n; k++) {
            offset_manager_remove(ha->b->offsets, groups[k], name);
            free(groups[k]);
        }
        free(groups);
        log_info("slave sync: topic %s deleted (the master no longer has it)", name);
    }
    names_free(&gone);
}

static bool group_same(const group_config *a, const group_config *b)
{
    return a->consume_enable == b->consume_enable && a->consume_from_min_enable == b->consume_from_min_enable &&
           a->consume_broadcast_enable == b->consume_broadcast_enable && a->retry_queue_nums == b->retry_queue_nums &&
           a->retry_max_times == b->retry_max_times && a->broker_id == b->broker_id &&
           a->which_broker_when_consume_slowly == b->which_broker_when_consume_slowly &&
           a->notify_consumer_ids_changed_enable == b->notify_consumer_ids_changed_enable;
}

static void apply_groups(ha_service *ha, const Mq__SubscriptionGroupWrapper *m)
{
    int changed = 0;
    for (size_t i = 0; i < m->n_subscriptiongrouptable; i++) {
        const Mq__SubscriptionGroupWrapper__SubscriptionGroupTableEntry *e = m->subscriptiongrouptable[i];
        group_config g;
        if (!e->value || group_config_from_pb(e->value, &g) != 0)
            continue;
        const group_config *old = group_table_find(ha->b->groups, g.name);
        if (old && group_same(old, &g))
            continue;
        char err[256];
        if (group_table_update(ha->b->groups, &g, err, sizeof err) != 0)
            log_warn("slave sync: group %s not copied: %s", g.name, err);
        else
            changed++;
    }
    if (changed)
        log_info("slave sync: %d subscription groups copied from the master", changed);
    if (m->n_subscriptiongrouptable == 0)
        return;
    strmap keep;
    strmap_init(&keep);
    for (size_t i = 0; i < m->n_subscriptiongrouptable; i++) {
        const Mq__SubscriptionGroupWrapper__SubscriptionGroupTableEntry *e = m->subscriptiongrouptable[i];
        const char *name = e->value && e->value->groupname ? e->value->groupname : e->key;
        if (name)
            strmap_put(&keep, name, &keep);
    }
    names gone = {0};
    const group_config *g;
    for (size_t it = 0; group_table_next(ha->b->groups, &it, &g);)
        if (!strmap_get(&keep, g->name))
            names_add(&gone, g->name);
    strmap_free(&keep);
    for (size_t i = 0; i < gone.n; i++) {
        char err[256];
        if (group_table_delete(ha->b->groups, gone.v[i], err, sizeof err) < 0)
            log_warn("slave sync: group %s not deleted: %s", gone.v[i], err);
        else
            log_info("slave sync: subscription group %s deleted (the master no longer has it)", gone.v[i]);
    }
    names_free(&gone);
}

typedef struct offset_keys {
    const strmap *master; /* "topic@group" keys of the master's table */
    strmap seen;          /* keys already in gone */
    names gone;
} offset_keys;

static void collect_gone_offsets(void *arg, const char *key, int32_t queue_id, int64_t offset)
{
    (void)queue_id;
    (void)offset;
    offset_keys *k = arg;
    if (!strchr(key, '@') || strmap_get(k->master, key) || strmap_get(&k->seen, key))
        return;
    strmap_put(&k->seen, key, &k->seen);
    names_add(&k->gone, key);
}

static void apply_offsets(ha_service *ha, const Mq__ConsumerOffsetTable *m)
{
    for (size_t i = 0; i < m->n_offsettable; i++) {
        const Mq__ConsumerOffsetEntry *e = m->offsettable[i];
        const char *at = e->key ? strchr(e->key, '@') : NULL; /* topics have no '@' */
        if (!at || at == e->key || !at[1] || e->queueid < 0 || e->offset < 0)
            continue;
        char topic[256];
        size_t tl = (size_t)(at - e->key);
        if (tl >= sizeof topic)
            continue;
        memcpy(topic, e->key, tl);
        topic[tl] = '\0';
        int64_t cur;
        if (!offset_manager_query(ha->b->offsets, at + 1, topic, e->queueid, &cur) || cur != e->offset)
            offset_manager_commit(ha->b->offsets, at + 1, topic, e->queueid, e->offset);
    }
    /* (group, topic) pairs the master no longer has (an empty table is a
     * real one here: the last group deleted with its offsets) */
    offset_keys k = {.master = NULL};
    strmap_init(&k.seen);
    strmap master;
    strmap_init(&master);
    for (size_t i = 0; i < m->n_offsettable; i++)
        if (m->offsettable[i]->key)
            strmap_put(&master, m->offsettable[i]->key, &master);
    k.master = &master;
    offset_manager_foreach(ha->b->offsets, collect_gone_offsets, &k);
    strmap_free(&master);
    strmap_free(&k.seen);
    for (size_t i = 0; i < k.gone.n; i++) {
        char *key = k.gone.v[i];
        char *at = strchr(key, '@');
        *at = '\0';
        offset_manager_remove(ha->b->offsets, at + 1, key);
        log_info("slave sync: offsets of group %s on topic %s deleted (the master no longer has them)", at + 1, key);
    }
    names_free(&k.gone);
}

/* ---- slave: the rounds ---- */

typedef enum { SYNC_TOPICS, SYNC_GROUPS, SYNC_OFFSETS } sync_kind;

typedef struct sync_req {
    ha_service *ha;
    sync_kind kind;
} sync_req;

static void on_sync_response(rm_conn *c, int err, const rm_cmd *resp, void *arg)
{
    sync_req *r = arg;
    ha_service *ha = r->ha;
    ha->sync_inflight--;
    if (err == 0 && resp && resp->hdr->code == RS_SUCCESS && !atomic_load(&ha->stop)) {
        static const ProtobufCMessageDescriptor *const descs[] = {
            &mq__topic_config_table__descriptor, &mq__subscription_group_wrapper__descriptor,
            &mq__consumer_offset_table__descriptor};
        char why[200];
        ProtobufCMessage *m = rm_body_decode(c, resp, descs[r->kind], why, sizeof why);
        if (!m) {
            log_warn("slave sync: bad answer from the master: %s", why);
        } else if (r->kind == SYNC_TOPICS) {
            apply_topics(ha, (const Mq__TopicConfigTable *)m);
        } else if (r->kind == SYNC_GROUPS) {
            apply_groups(ha, (const Mq__SubscriptionGroupWrapper *)m);
        } else {
            apply_offsets(ha, (const Mq__ConsumerOffsetTable *)m);
            atomic_store(&ha->sync_config_ms, now_ms());
        }
    }
    free(r);
}

static void sync_round(ha_service *ha)
{
    if (!ha->master_addr[0] || ha->sync_inflight > 0)
        return;
    if (ha->sync_conn && !rm_conn_is_open(ha->sync_conn)) {
        rm_conn_unref(ha->sync_conn);
        ha->sync_conn = NULL;
    }
    if (!ha->sync_conn) {
        rm_options opts;
        rm_options_default(&opts);
        char err[200];
        ha->sync_conn = rm_connect(ha->b->loop, ha->master_addr, &opts, NULL, err, sizeof err);
        if (!ha->sync_conn)
            return;
    }
    static const int32_t codes[] = {RC_GET_ALL_TOPIC_CONFIG, RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
                                    RC_GET_ALL_CONSUMER_OFFSET};
    for (int k = 0; k < 3; k++) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = codes[k];
        sync_req *r = xcalloc(1, sizeof *r);
        r->ha = ha;
        r->kind = (sync_kind)k;
        if (rm_request(ha->sync_conn, &h, NULL, 0, SYNC_TIMEOUT_MS, on_sync_response, r) == 0)
            ha->sync_inflight++;
        else
            free(r);
    }
}

void ha_sync_now(ha_service *ha)
{
    if (ha->role == ROLE_SLAVE && !atomic_load(&ha->stop))
        sync_round(ha);
}

static void on_sync_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    sync_round(t->data);
}

void ha_sync_start(ha_service *ha)
{
    double every = ha->b->cfg.slave_sync_interval / 1000.0;
    ev_timer_init(&ha->sync_timer, on_sync_timer, every, every);
    ha->sync_timer.data = ha;
    ev_timer_start(ha->b->loop, &ha->sync_timer);
}

void ha_sync_stop(ha_service *ha)
{
    if (ha->role != ROLE_SLAVE)
        return;
    ev_timer_stop(ha->b->loop, &ha->sync_timer);
    if (ha->sync_conn) {
        rm_conn_close(ha->sync_conn); /* answers what is in flight with RM_ECLOSED */
        rm_conn_unref(ha->sync_conn);
        ha->sync_conn = NULL;
    }
}
