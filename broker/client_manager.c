/*
 * client_manager.c - producer and consumer groups by heartbeat; see
 * client_manager.h. Loop thread only.
 *
 * A channel holds a reference on its connection, so a notification can be
 * sent to it until the transport reports the close (client_manager_conn_closed
 * then drops the channel and the reference).
 */
#include "client_manager.h"

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "util.h"

typedef struct client_channel {
    char *client_id;
    rm_conn *conn; /* referenced */
    int32_t language;
    int32_t version;
    int64_t last_update; /* mono_ms */
} client_channel;

typedef struct consumer_group {
    char *consume_type;
    char *message_model;
    char *consume_from_where;
    strmap channels; /* client id -> client_channel* */
    strmap subs;     /* topic -> mq_subscription* */
} consumer_group;

typedef struct producer_group {
    strmap channels; /* client id -> client_channel* */
} producer_group;

struct client_manager {
    broker *b;
    strmap consumers; /* group -> consumer_group* */
    strmap producers; /* group -> producer_group* */
};

client_manager *client_manager_new(broker *b)
{
    client_manager *m = xcalloc(1, sizeof *m);
    m->b = b;
    strmap_init(&m->consumers);
    strmap_init(&m->producers);
    return m;
}

static void channel_free(client_channel *ch)
{
    rm_conn_unref(ch->conn);
    free(ch->client_id);
    free(ch);
}

static void channels_free(strmap *channels)
{
    void *v;
    for (size_t it = 0; strmap_next(channels, &it, NULL, &v);)
        channel_free(v);
    strmap_free(channels);
}

static void consumer_group_free(consumer_group *g)
{
    channels_free(&g->channels);
    void *v;
    for (size_t it = 0; strmap_next(&g->subs, &it, NULL, &v);) {
        mq_subscription_free(v);
        free(v);
    }
    strmap_free(&g->subs);
    free(g->consume_type);
    free(g->message_model);
    free(g->consume_from_where);
    free(g);
}

static void producer_group_free(producer_group *g)
{
    channels_free(&g->channels);
    free(g);
}

void client_manager_free(client_manager *m)
{
    if (!m)
        return;
    void *v;
    for (size_t it = 0; strmap_next(&m->consumers, &it, NULL, &v);)
        consumer_group_free(v);
    for (size_t it = 0; strmap_next(&m->producers, &it, NULL, &v);)
        producer_group_free(v);
    strmap_free(&m->consumers);
    strmap_free(&m->producers);
    free(m);
}

static void set_str(char **dst, const char *src)
{
    if (*dst && src && strcmp(*dst, src) == 0)
        return;
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

/* Adds or refreshes a channel; returns true if the client is new to the map. */
static bool channel_upsert(strmap *channels, const char *client_id, rm_conn *conn, int32_t language,
                           int32_t version)
{
    client_channel *ch = strmap_get(channels, client_id);
    bool added = false;
    if (!ch) {
        ch = xcalloc(1, sizeof *ch);
        ch->client_id = xstrdup(client_id);
        rm_conn_ref(conn);
        ch->conn = conn;
        strmap_put(channels, client_id, ch);
        added = true;
    } else if (ch->conn != conn) { /* reconnected */
        rm_conn_ref(conn);
        rm_conn_unref(ch->conn);
        ch->conn = conn;
    }
    ch->language = language;
    ch->version = version;
    ch->last_update = mono_ms();
    return added;
}

static void notify_ids_changed(client_manager *m, const char *group, consumer_group *g)
{
    (void)m;
    void *v;
    for (size_t it = 0; strmap_next(&g->channels, &it, NULL, &v);) {
        client_channel *ch = v;
        if (!rm_conn_is_open(ch->conn))
            continue;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__ConsumerGroupRequestHeader cg = MQ__CONSUMER_GROUP_REQUEST_HEADER__INIT;
        h.code = RC_NOTIFY_CONSUMER_IDS_CHANGED;
        cg.consumergroup = (char *)group;
        h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP;
        h.consumer_group = &cg;
        rm_oneway(ch->conn, &h, NULL, 0);
    }
}

/* Replaces the group's subscriptions with those of the heartbeat. */
static int update_subscriptions(consumer_group *g, const Mq__ConsumerData *cd, char *err, size_t errlen)
{
    int rc = 0;
    strmap fresh;
    strmap_init(&fresh);
    for (size_t i = 0; i < cd->n_subscriptiondataset; i++) {
        const Mq__SubscriptionData *sd = cd->subscriptiondataset[i];
        if (!sd->topic || !*sd->topic)
            continue;
        mq_subscription *s = xcalloc(1, sizeof *s);
        if (mq_subscription_parse(sd->substring, sd->expressiontype, s, err, errlen) != 0) {
            free(s);
            rc = -1;
            continue;
        }
        s->version = sd->has_subversion ? sd->subversion : 0;
        mq_subscription *old = strmap_put(&fresh, sd->topic, s);
        if (old) {
            mq_subscription_free(old);
            free(old);
        }
    }
    void *v;
    for (size_t it = 0; strmap_next(&g->subs, &it, NULL, &v);) {
        mq_subscription_free(v);
        free(v);
    }
    strmap_free(&g->subs);
    g->subs = fresh;
    return rc;
}

int client_manager_heartbeat(client_manager *m, rm_conn *conn, const Mq__HeartbeatData *hb, int32_t language,
                             int32_t version, char *err, size_t errlen)
{
    int rc = 0;
    if (!hb->clientid || !*hb->clientid) {
        snprintf(err, errlen, "heartbeat without clientID");
        return -1;
    }
    for (size_t i = 0; i < hb->n_producerdataset; i++) {
        const char *name = hb->producerdataset[i]->groupname;
        if (!name || !*name)
            continue;
        producer_group *g = strmap_get(&m->producers, name);
        if (!g) {
            g = xcalloc(1, sizeof *g);
            strmap_init(&g->channels);
            strmap_put(&m->producers, name, g);
        }
        if (channel_upsert(&g->channels, hb->clientid, conn, language, version))
            log_info("producer %s of group %s registered from %s", hb->clientid, name, rm_conn_peer(conn));
    }
    for (size_t i = 0; i < hb->n_consumerdataset; i++) {
        const Mq__ConsumerData *cd = hb->consumerdataset[i];
        if (!cd->groupname || !*cd->groupname)
            continue;
        consumer_group *g = strmap_get(&m->consumers, cd->groupname);
        if (!g) {
            g = xcalloc(1, sizeof *g);
            strmap_init(&g->channels);
            strmap_init(&g->subs);
            strmap_put(&m->consumers, cd->groupname, g);
        }
        set_str(&g->consume_type, cd->consumetype);
        set_str(&g->message_model, cd->messagemodel);
        set_str(&g->consume_from_where, cd->consumefromwhere);
        if (update_subscriptions(g, cd, err, errlen) != 0)
            rc = -1;
        if (channel_upsert(&g->channels, hb->clientid, conn, language, version)) {
            log_info("consumer %s joined group %s (%zu members)", hb->clientid, cd->groupname,
                     g->channels.count);
            notify_ids_changed(m, cd->groupname, g);
        }
    }
    return rc;
}

/* Removes client_id from a consumer group; drops an empty group. */
static void consumer_leave(client_manager *m, const char *group, const char *client_id, const char *why)
{
    consumer_group *g = strmap_get(&m->consumers, group);
    if (!g)
        return;
    client_channel *ch = strmap_remove(&g->channels, client_id);
    if (!ch)
        return;
    log_info("consumer %s left group %s (%s)", client_id, group, why);
    channel_free(ch);
    if (g->channels.count == 0) {
        strmap_remove(&m->consumers, group);
        consumer_group_free(g);
    } else {
        notify_ids_changed(m, group, g);
    }
}

static void producer_leave(client_manager *m, const char *group, const char *client_id)
{
    producer_group *g = strmap_get(&m->producers, group);
    if (!g)
        return;
    client_channel *ch = strmap_remove(&g->channels, client_id);
    if (ch)
        channel_free(ch);
    if (g->channels.count == 0) {
        strmap_remove(&m->producers, group);
        producer_group_free(g);
    }
}

void client_manager_unregister(client_manager *m, const char *client_id, const char *producer_group,
                               const char *consumer_group)
{
    if (!client_id)
        return;
    if (producer_group && *producer_group)
        producer_leave(m, producer_group, client_id);
    if (consumer_group && *consumer_group)
        consumer_leave(m, consumer_group, client_id, "unregistered");
}

/* Collects (group, client) pairs matching a predicate, then removes them:
 * maps must not change while being iterated. */
typedef bool (*channel_pred)(const client_channel *ch, const void *arg);

typedef struct leaving {
    char *group;
    char *client;
} leaving;

static size_t collect(strmap *groups, bool consumers, channel_pred pred, const void *arg, leaving **out)
{
    size_t n = 0, cap = 0;
    leaving *list = NULL;
    const char *gname;
    void *gv;
    for (size_t it = 0; strmap_next(groups, &it, &gname, &gv);) {
        strmap *channels = consumers ? &((consumer_group *)gv)->channels : &((producer_group *)gv)->channels;
        const char *cid;
        void *cv;
        for (size_t jt = 0; strmap_next(channels, &jt, &cid, &cv);) {
            if (!pred(cv, arg))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                list = xrealloc(list, cap * sizeof *list);
            }
            list[n].group = xstrdup(gname);
            list[n].client = xstrdup(cid);
            n++;
        }
    }
    *out = list;
    return n;
}

static bool on_conn(const client_channel *ch, const void *arg) { return ch->conn == arg; }

static bool expired(const client_channel *ch, const void *arg)
{
    return mono_ms() - ch->last_update > *(const int64_t *)arg;
}

static void remove_matching(client_manager *m, channel_pred pred, const void *arg, const char *why)
{
    leaving *list;
    size_t n = collect(&m->consumers, true, pred, arg, &list);
    for (size_t i = 0; i < n; i++) {
        consumer_leave(m, list[i].group, list[i].client, why);
        free(list[i].group);
        free(list[i].client);
    }
    free(list);
    n = collect(&m->producers, false, pred, arg, &list);
    for (size_t i = 0; i < n; i++) {
        producer_leave(m, list[i].group, list[i].client);
        free(list[i].group);
        free(list[i].client);
    }
    free(list);
}

void client_manager_conn_closed(client_manager *m, rm_conn *conn)
{
    remove_matching(m, on_conn, conn, "connection closed");
}

void client_manager_expire(client_manager *m, int64_t timeout_ms)
{
    remove_matching(m, expired, &timeout_ms, "no heartbeat");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t client_manager_consumer_ids(client_manager *m, const char *group, char ***ids)
{
    *ids = NULL;
    consumer_group *g = strmap_get(&m->consumers, group);
    if (!g || g->channels.count == 0)
        return 0;
    char **list = xmalloc(g->channels.count * sizeof *list);
    size_t n = 0;
    const char *cid;
    for (size_t it = 0; strmap_next(&g->channels, &it, &cid, NULL);)
        list[n++] = xstrdup(cid);
    qsort(list, n, sizeof *list, cmp_str);
    *ids = list;
    return n;
}

void client_manager_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

size_t client_manager_consumer_groups(client_manager *m, char ***groups)
{
    char **list = xmalloc((m->consumers.count ? m->consumers.count : 1) * sizeof *list);
    size_t n = 0;
    const char *name;
    for (size_t it = 0; strmap_next(&m->consumers, &it, &name, NULL);)
        list[n++] = xstrdup(name);
    qsort(list, n, sizeof *list, cmp_str);
    *groups = list;
    return n;
}

const mq_subscription *client_manager_subscription(client_manager *m, const char *group, const char *topic)
{
    consumer_group *g = strmap_get(&m->consumers, group);
    return g ? strmap_get(&g->subs, topic) : NULL;
}

const char *client_manager_message_model(client_manager *m, const char *group)
{
    consumer_group *g = strmap_get(&m->consumers, group);
    return g ? g->message_model : NULL;
}

static size_t conns_of(strmap *channels, rm_conn **out, size_t max)
{
    size_t n = 0;
    void *v;
    for (size_t it = 0; n < max && strmap_next(channels, &it, NULL, &v);) {
        client_channel *ch = v;
        if (rm_conn_is_open(ch->conn))
            out[n++] = ch->conn;
    }
    return n;
}

size_t client_manager_consumer_conns(client_manager *m, const char *group, rm_conn **out, size_t max)
{
    consumer_group *g = strmap_get(&m->consumers, group);
    return g ? conns_of(&g->channels, out, max) : 0;
}

size_t client_manager_producer_conns(client_manager *m, const char *group, rm_conn **out, size_t max)
{
    producer_group *g = strmap_get(&m->producers, group);
    return g ? conns_of(&g->channels, out, max) : 0;
}

/* The members of a group as RocketMQ's Connection list (malloc'd). */
static void connection_set(const strmap *channels, Mq__Connection ***out, size_t *n)
{
    *out = xcalloc(channels->count ? channels->count : 1, sizeof **out);
    *n = 0;
    void *v;
    for (size_t it = 0; strmap_next(channels, &it, NULL, &v);) {
        client_channel *ch = v;
        Mq__Connection *c = xmalloc(sizeof *c);
        mq__connection__init(c);
        c->clientid = xstrdup(ch->client_id);
        c->clientaddr = xstrdup(rm_conn_peer(ch->conn));
        c->language = ch->language;
        c->has_language = 1;
        c->version = ch->version;
        c->has_version = 1;
        (*out)[(*n)++] = c;
    }
}

static void connection_set_free(Mq__Connection **set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(set[i]->clientid);
        free(set[i]->clientaddr);
        free(set[i]);
    }
    free(set);
}

bool client_manager_producer_info(client_manager *m, const char *group, Mq__ProducerConnection *out)
{
    mq__producer_connection__init(out);
    producer_group *g = strmap_get(&m->producers, group);
    if (!g || g->channels.count == 0)
        return false;
    connection_set(&g->channels, &out->connectionset, &out->n_connectionset);
    return true;
}

void client_manager_producer_info_free(Mq__ProducerConnection *c)
{
    connection_set_free(c->connectionset, c->n_connectionset);
}

bool client_manager_connection_info(client_manager *m, const char *group, Mq__ConsumerConnection *out)
{
    mq__consumer_connection__init(out);
    consumer_group *g = strmap_get(&m->consumers, group);
    if (!g || g->channels.count == 0)
        return false;
    out->consumetype = g->consume_type ? xstrdup(g->consume_type) : NULL;
    out->messagemodel = g->message_model ? xstrdup(g->message_model) : NULL;
    out->consumefromwhere = g->consume_from_where ? xstrdup(g->consume_from_where) : NULL;
    connection_set(&g->channels, &out->connectionset, &out->n_connectionset);
    void *v;
    out->subscriptiontable = xcalloc(g->subs.count ? g->subs.count : 1, sizeof *out->subscriptiontable);
    const char *topic;
    for (size_t it = 0; strmap_next(&g->subs, &it, &topic, &v);) {
        const mq_subscription *s = v;
        Mq__SubscriptionData *sd = xmalloc(sizeof *sd);
        mq__subscription_data__init(sd);
        sd->topic = xstrdup(topic);
        sd->substring = xstrdup(s->expression ? s->expression : "*");
        sd->expressiontype = xstrdup(s->type == SUB_SQL92 ? "SQL92" : "TAG");
        sd->subversion = s->version;
        sd->has_subversion = 1;
        if (s->type != SUB_SQL92 && s->n_tags > 0) { /* RocketMQ's tagsSet / codeSet */
            sd->n_tagsset = sd->n_codeset = (size_t)s->n_tags;
            sd->tagsset = xcalloc((size_t)s->n_tags, sizeof *sd->tagsset);
            sd->codeset = xcalloc((size_t)s->n_tags, sizeof *sd->codeset);
            for (int i = 0; i < s->n_tags; i++) {
                sd->tagsset[i] = xstrdup(s->tags[i]);
                sd->codeset[i] = (int32_t)s->codes[i];
            }
        }
        out->subscriptiontable[out->n_subscriptiontable++] = sd;
    }
    return true;
}

void client_manager_connection_free(Mq__ConsumerConnection *c)
{
    connection_set_free(c->connectionset, c->n_connectionset);
    for (size_t i = 0; i < c->n_subscriptiontable; i++) {
        free(c->subscriptiontable[i]->topic);
        free(c->subscriptiontable[i]->substring);
        free(c->subscriptiontable[i]->expressiontype);
        for (size_t t = 0; t < c->subscriptiontable[i]->n_tagsset; t++)
            free(c->subscriptiontable[i]->tagsset[t]);
        free(c->subscriptiontable[i]->tagsset);
        free(c->subscriptiontable[i]->codeset);
        free(c->subscriptiontable[i]);
    }
    free(c->subscriptiontable);
    free(c->consumetype);
    free(c->messagemodel);
    free(c->consumefromwhere);
    mq__consumer_connection__init(c);
}
