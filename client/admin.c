/*
 * admin.c - the admin API (mq/admin.h) on top of the client runtime
 * (instance.h): each call builds a typed request, sends it with the
 * runtime's blocking invoke (nameserver fail-over included), checks the
 * status, and converts the protobuf answer into the public plain-C result
 * types, so no protobuf type leaks into the public header.
 *
 * Names are validated here before anything is sent, with the same rules
 * the broker applies (common/names.c), so a typo fails fast with the
 * broker's wording.
 */
#include "mq/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "admin_internal.h"
#include "body.pb-c.h"
#include "instance.h"
#include "names.h"
#include "protocol.h"
#include "util.h"

int mq_admin_new(const char *namesrv_addr, int timeout_ms, mq_admin **out, mq_error *err)
{
    mqc_options o;
    mqc_options_default(&o);
    o.namesrv_addr = namesrv_addr;
    o.request_timeout_ms = timeout_ms > 0 ? timeout_ms : 3000;
    mq_admin *a = xcalloc(1, sizeof *a);
    a->timeout_ms = o.request_timeout_ms;
    int rc = mqc_instance_new(&o, &a->inst, err);
    if (rc != MQ_OK) {
        free(a);
        return rc;
    }
    const char *list = namesrv_addr && *namesrv_addr ? namesrv_addr : getenv("NAMESRV_ADDR");
    char why[256];
    a->namesrv_count = addr_list_split(list, a->namesrv, MQ_ADMIN_MAX_NAMESRV, why, sizeof why);
    if (a->namesrv_count < 0)
        a->namesrv_count = 0; /* the runtime accepted it, so this cannot happen */
    *out = a;
    return MQ_OK;
}

void mq_admin_free(mq_admin *a)
{
    if (!a)
        return;
    mqc_instance_free(a->inst);
    free(a);
}

/* ---- plumbing ---- */

static void header_init(Mq__RemotingHeader *h, int32_t code)
{
    *h = (Mq__RemotingHeader)MQ__REMOTING_HEADER__INIT;
    h->code = code;
}

/* Packs a control body (malloc'd into *buf). */
static size_t pack_body(const ProtobufCMessage *m, uint8_t **buf)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *buf = xmalloc(n ? n : 1);
    return protobuf_c_message_pack(m, *buf);
}

/* Sends to a nameserver (addr NULL: any live one of the list) or a broker
 * and checks the status. On MQ_OK the caller owns *r. */
static int call(mq_admin *a, const char *addr, Mq__RemotingHeader *h, const void *body, size_t len,
                const char *what, mqc_response *r, mq_error *err)
{
    int rc = addr ? mqc_invoke_sync(a->inst, addr, h, body, len, a->timeout_ms, r, err)
                  : mqc_invoke_namesrv_sync(a->inst, h, body, len, a->timeout_ms, r, err);
    if (rc != MQ_OK)
        return rc;
    if (r->code != RS_SUCCESS) {
        mqc_error_from_response(err, what, r);
        mqc_response_free(r);
        return MQ_EBROKER;
    }
    return MQ_OK;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int cmp_addr(const void *x, const void *y)
{
    int64_t a = ((const mq_broker_addr *)x)->id, b = ((const mq_broker_addr *)y)->id;
    return a < b ? -1 : a > b;
}

static int cmp_broker(const void *x, const void *y)
{
    return strcmp(((const mq_broker_info *)x)->broker_name, ((const mq_broker_info *)y)->broker_name);
}

static int cmp_cluster(const void *x, const void *y)
{
    return strcmp(((const mq_cluster *)x)->name, ((const mq_cluster *)y)->name);
}

static int cmp_queue(const void *x, const void *y)
{
    return strcmp(((const mq_queue_data *)x)->broker_name, ((const mq_queue_data *)y)->broker_name);
}

static int cmp_kv(const void *x, const void *y) { return strcmp(((const mq_kv *)x)->key, ((const mq_kv *)y)->key); }

static char *dup_or_empty(const char *s) { return xstrdup(s ? s : ""); }

static void broker_info_from_pb(const Mq__BrokerData *bd, mq_broker_info *out)
{
    out->cluster = dup_or_empty(bd->cluster);
    out->broker_name = dup_or_empty(bd->brokername);
    out->n_addrs = bd->n_brokeraddrs;
    out->addrs = xcalloc(bd->n_brokeraddrs ? bd->n_brokeraddrs : 1, sizeof *out->addrs);
    for (size_t i = 0; i < bd->n_brokeraddrs; i++) {
        out->addrs[i].id = bd->brokeraddrs[i]->key;
        out->addrs[i].addr = dup_or_empty(bd->brokeraddrs[i]->value);
    }
    qsort(out->addrs, out->n_addrs, sizeof *out->addrs, cmp_addr);
}

static void broker_info_free(mq_broker_info *b)
{
    free(b->cluster);
    free(b->broker_name);
    for (size_t i = 0; i < b->n_addrs; i++)
        free(b->addrs[i].addr);
    free(b->addrs);
}

static bool check_topic(const char *topic, mq_error *err)
{
    char why[256];
    if (topic_name_valid(topic, why, sizeof why))
        return true;
    mqc_error_set(err, MQ_EINVAL, "%s", why);
    return false;
}

static bool check_text(const char *what, const char *v, mq_error *err)
{
    if (v && *v)
        return true;
    mqc_error_set(err, MQ_EINVAL, "no %s given", what);
    return false;
}

/* ---- results ---- */

void mq_cluster_info_free(mq_cluster_info *ci)
{
    if (!ci)
        return;
    for (size_t i = 0; i < ci->n_clusters; i++) {
        free(ci->clusters[i].name);
        for (size_t j = 0; j < ci->clusters[i].n_broker_names; j++)
            free(ci->clusters[i].broker_names[j]);
        free(ci->clusters[i].broker_names);
    }
    free(ci->clusters);
    for (size_t i = 0; i < ci->n_brokers; i++)
        broker_info_free(&ci->brokers[i]);
    free(ci->brokers);
    free(ci);
}

void mq_string_list_free(mq_string_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    free(l);
}

void mq_topic_route_free(mq_topic_route *r)
{
    if (!r)
        return;
    free(r->topic);
    free(r->order_topic_conf);
    for (size_t i = 0; i < r->n_queue_datas; i++)
        free(r->queue_datas[i].broker_name);
    free(r->queue_datas);
    for (size_t i = 0; i < r->n_brokers; i++)
        broker_info_free(&r->brokers[i]);
    free(r->brokers);
    free(r);
}

void mq_kv_list_free(mq_kv_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    free(l);
}

const char *mq_kv_get(const mq_kv_list *l, const char *key)
{
    for (size_t i = 0; l && key && i < l->n; i++)
        if (!strcmp(l->items[i].key, key))
            return l->items[i].value;
    return NULL;
}

/* ---- queries ---- */

int mq_admin_cluster_info(mq_admin *a, mq_cluster_info **out, mq_error *err)
{
    Mq__RemotingHeader h;
    header_init(&h, RC_GET_BROKER_CLUSTER_INFO);
    mqc_response r;
    int rc = call(a, NULL, &h, NULL, 0, "cluster info", &r, err);
    if (rc != MQ_OK)
        return rc;
    Mq__ClusterInfo *ci = (Mq__ClusterInfo *)admin_unpack(&mq__cluster_info__descriptor, &r, "cluster info", err);
    if (!ci)
        return MQ_ENETWORK;
    mq_cluster_info *res = xcalloc(1, sizeof *res);
    res->n_brokers = ci->n_brokeraddrtable;
    res->brokers = xcalloc(res->n_brokers ? res->n_brokers : 1, sizeof *res->brokers);
    for (size_t i = 0; i < ci->n_brokeraddrtable; i++) {
        const Mq__ClusterInfo__BrokerAddrTableEntry *e = ci->brokeraddrtable[i];
        if (e->value) {
            broker_info_from_pb(e->value, &res->brokers[i]);
        } else {
            res->brokers[i].cluster = xstrdup("");
            res->brokers[i].broker_name = dup_or_empty(e->key);
            res->brokers[i].addrs = xcalloc(1, sizeof *res->brokers[i].addrs);
        }
    }
    qsort(res->brokers, res->n_brokers, sizeof *res->brokers, cmp_broker);
    res->n_clusters = ci->n_clusteraddrtable;
    res->clusters = xcalloc(res->n_clusters ? res->n_clusters : 1, sizeof *res->clusters);
    for (size_t i = 0; i < ci->n_clusteraddrtable; i++) {
        const Mq__ClusterInfo__ClusterAddrTableEntry *e = ci->clusteraddrtable[i];
        mq_cluster *c = &res->clusters[i];
        c->name = dup_or_empty(e->key);
        size_t n = e->value ? e->value->n_brokernames : 0;
        c->n_broker_names = n;
        c->broker_names = xcalloc(n ? n : 1, sizeof *c->broker_names);
        for (size_t j = 0; j < n; j++)
            c->broker_names[j] = dup_or_empty(e->value->brokernames[j]);
        qsort(c->broker_names, n, sizeof *c->broker_names, cmp_str);
    }
    qsort(res->clusters, res->n_clusters, sizeof *res->clusters, cmp_cluster);
    mq__cluster_info__free_unpacked(ci, NULL);
    *out = res;
    return MQ_OK;
}

int mq_admin_topic_list(mq_admin *a, const char *cluster, mq_string_list **out, mq_error *err)
{
    Mq__RemotingHeader h;
    Mq__GetTopicsByClusterRequestHeader ch = MQ__GET_TOPICS_BY_CLUSTER_REQUEST_HEADER__INIT;
    if (cluster && *cluster) {
        header_init(&h, RC_GET_TOPICS_BY_CLUSTER);
        ch.cluster = (char *)cluster;
        h.ext_case = MQ__REMOTING_HEADER__EXT_GET_TOPICS_BY_CLUSTER;
        h.get_topics_by_cluster = &ch;
    } else {
        header_init(&h, RC_GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
    }
    mqc_response r;
    int rc = call(a, NULL, &h, NULL, 0, "topic list", &r, err);
    if (rc != MQ_OK)
        return rc;
    Mq__TopicList *tl = (Mq__TopicList *)admin_unpack(&mq__topic_list__descriptor, &r, "topic list", err);
    if (!tl)
        return MQ_ENETWORK;
    mq_string_list *l = xcalloc(1, sizeof *l);
    l->n = tl->n_topiclist;
    l->items = xcalloc(l->n ? l->n : 1, sizeof *l->items);
    for (size_t i = 0; i < l->n; i++)
        l->items[i] = dup_or_empty(tl->topiclist[i]);
    qsort(l->items, l->n, sizeof *l->items, cmp_str);
    mq__topic_list__free_unpacked(tl, NULL);
    *out = l;
    return MQ_OK;
}

int mq_admin_topic_route(mq_admin *a, const char *topic, mq_topic_route **out, mq_error *err)
{
    if (!check_topic(topic, err))
        return MQ_EINVAL;
    Mq__RemotingHeader h;
    header_init(&h, RC_GET_ROUTEINFO_BY_TOPIC);
    Mq__TopicRequestHeader th = MQ__TOPIC_REQUEST_HEADER__INIT;
    th.topic = (char *)topic;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &th;
    mqc_response r;
    int rc = call(a, NULL, &h, NULL, 0, "topic route", &r, err);
    if (rc == MQ_EBROKER && err && err->status == RS_TOPIC_NOT_EXIST) {
        err->code = MQ_ENOROUTE;
        return MQ_ENOROUTE;
    }
    if (rc != MQ_OK)
        return rc;
    Mq__TopicRouteData *rd =
        (Mq__TopicRouteData *)admin_unpack(&mq__topic_route_data__descriptor, &r, "topic route", err);
    if (!rd)
        return MQ_ENETWORK;
    mq_topic_route *res = xcalloc(1, sizeof *res);
    res->topic = xstrdup(topic);
    res->order_topic_conf = rd->ordertopicconf && *rd->ordertopicconf ? xstrdup(rd->ordertopicconf) : NULL;
    res->n_queue_datas = rd->n_queuedatas;
    res->queue_datas = xcalloc(rd->n_queuedatas ? rd->n_queuedatas : 1, sizeof *res->queue_datas);
    for (size_t i = 0; i < rd->n_queuedatas; i++) {
        const Mq__QueueData *q = rd->queuedatas[i];
        mq_queue_data *o = &res->queue_datas[i];
        o->broker_name = dup_or_empty(q->brokername);
        o->read_queue_nums = q->readqueuenums;
        o->write_queue_nums = q->writequeuenums;
        o->perm = q->perm;
        o->topic_sys_flag = q->topicsysflag;
    }
    qsort(res->queue_datas, res->n_queue_datas, sizeof *res->queue_datas, cmp_queue);
    res->n_brokers = rd->n_brokerdatas;
    res->brokers = xcalloc(rd->n_brokerdatas ? rd->n_brokerdatas : 1, sizeof *res->brokers);
    for (size_t i = 0; i < rd->n_brokerdatas; i++)
        broker_info_from_pb(rd->brokerdatas[i], &res->brokers[i]);
    qsort(res->brokers, res->n_brokers, sizeof *res->brokers, cmp_broker);
    mq__topic_route_data__free_unpacked(rd, NULL);
    *out = res;
    return MQ_OK;
}

int mq_admin_cluster_masters(mq_admin *a, const char *cluster, mq_string_list **out, mq_error *err)
{
    if (!check_text("cluster name", cluster, err))
        return MQ_EINVAL;
    mq_cluster_info *ci;
    int rc = mq_admin_cluster_info(a, &ci, err);
    if (rc != MQ_OK)
        return rc;
    const mq_cluster *c = NULL;
    for (size_t i = 0; i < ci->n_clusters && !c; i++)
        if (!strcmp(ci->clusters[i].name, cluster))
            c = &ci->clusters[i];
    if (!c) {
        mqc_error_set(err, MQ_ENOTFOUND, "cluster %s is not known to the nameservers", cluster);
        mq_cluster_info_free(ci);
        return MQ_ENOTFOUND;
    }
    mq_string_list *l = xcalloc(1, sizeof *l);
    l->items = xcalloc(c->n_broker_names ? c->n_broker_names : 1, sizeof *l->items);
    for (size_t i = 0; i < c->n_broker_names; i++)
        for (size_t j = 0; j < ci->n_brokers; j++) {
            const mq_broker_info *b = &ci->brokers[j];
            if (strcmp(b->broker_name, c->broker_names[i]) != 0)
                continue;
            for (size_t k = 0; k < b->n_addrs; k++)
                if (b->addrs[k].id == 0)
                    l->items[l->n++] = xstrdup(b->addrs[k].addr);
        }
    mq_cluster_info_free(ci);
    if (l->n == 0) {
        mqc_error_set(err, MQ_ENOTFOUND, "cluster %s has no master broker", cluster);
        mq_string_list_free(l);
        return MQ_ENOTFOUND;
    }
    *out = l;
    return MQ_OK;
}

/* ---- topics ---- */

void mq_topic_config_init(mq_topic_config *tc, const char *topic)
{
    memset(tc, 0, sizeof *tc);
    tc->topic = topic;
    tc->read_queue_nums = 8;
    tc->write_queue_nums = 8;
    tc->perm = PERM_READ | PERM_WRITE;
}

int mq_admin_update_topic(mq_admin *a, const char *broker_addr, const mq_topic_config *tc, mq_error *err)
{
    if (!check_text("broker address", broker_addr, err) || !check_topic(tc->topic, err))
        return MQ_EINVAL;
    if (topic_is_system(tc->topic)) {
        mqc_error_set(err, MQ_EINVAL, "topic %s is a system topic", tc->topic);
        return MQ_EINVAL;
    }
    Mq__RemotingHeader h;
    header_init(&h, RC_UPDATE_AND_CREATE_TOPIC);
    Mq__CreateTopicRequestHeader ch = MQ__CREATE_TOPIC_REQUEST_HEADER__INIT;
    ch.topic = (char *)tc->topic;
    ch.defaulttopic = (char *)TOPIC_AUTO_CREATE;
    ch.readqueuenums = tc->read_queue_nums;
    ch.writequeuenums = tc->write_queue_nums;
    ch.perm = tc->perm;
    ch.topicsysflag = tc->topic_sys_flag;
    ch.order = tc->order;
    ch.topicfiltertype = (char *)"SINGLE_TAG";
    ch.has_readqueuenums = ch.has_writequeuenums = ch.has_perm = ch.has_topicsysflag = ch.has_order = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_CREATE_TOPIC;
    h.create_topic = &ch;
    mqc_response r;
    char what[320];
    snprintf(what, sizeof what, "update topic %s on %s", tc->topic, broker_addr);
    int rc = call(a, broker_addr, &h, NULL, 0, what, &r, err);
    if (rc == MQ_OK)
        mqc_response_free(&r);
    return rc;
}

/* Runs fn on the master of every broker group of cluster, stopping at the
 * first failure. *done (if done is not NULL) gets the masters fn succeeded
 * on, in order: an empty list when none. */
static int for_each_master(mq_admin *a, const char *cluster, mq_string_list **done, mq_error *err,
                           int (*fn)(mq_admin *a, const char *addr, const void *arg, mq_error *err),
                           const void *arg)
{
    mq_string_list *masters;
    int rc = mq_admin_cluster_masters(a, cluster, &masters, err);
    if (rc != MQ_OK) {
        if (done)
            *done = xcalloc(1, sizeof **done);
        return rc;
    }
    size_t ok = 0;
    while (ok < masters->n && (rc = fn(a, masters->items[ok], arg, err)) == MQ_OK)
        ok++;
    for (size_t i = ok; i < masters->n; i++)
        free(masters->items[i]);
    masters->n = ok;
    if (done)
        *done = masters;
    else
        mq_string_list_free(masters);
    return rc;
}

static int update_topic_fn(mq_admin *a, const char *addr, const void *arg, mq_error *err)
{
    return mq_admin_update_topic(a, addr, arg, err);
}

int mq_admin_update_topic_in_cluster(mq_admin *a, const char *cluster, const mq_topic_config *tc,
                                     mq_string_list **done, mq_error *err)
{
    if (!check_topic(tc->topic, err)) {
        if (done)
            *done = xcalloc(1, sizeof **done);
        return MQ_EINVAL;
    }
    return for_each_master(a, cluster, done, err, update_topic_fn, tc);
}

static int delete_in_broker_fn(mq_admin *a, const char *addr, const void *arg, mq_error *err)
{
    Mq__RemotingHeader h;
    header_init(&h, RC_DELETE_TOPIC_IN_BROKER);
    Mq__TopicRequestHeader th = MQ__TOPIC_REQUEST_HEADER__INIT;
    th.topic = (char *)arg;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &th;
    mqc_response r;
    char what[320];
    snprintf(what, sizeof what, "delete topic %s on %s", (const char *)arg, addr);
    int rc = call(a, addr, &h, NULL, 0, what, &r, err);
    if (rc == MQ_OK)
        mqc_response_free(&r);
    return rc;
}

int mq_admin_delete_topic(mq_admin *a, const char *cluster, const char *topic, mq_error *err)
{
    if (!check_topic(topic, err))
        return MQ_EINVAL;
    if (topic_is_system(topic)) {
        mqc_error_set(err, MQ_EINVAL, "topic %s is a system topic", topic);
        return MQ_EINVAL;
    }
    int rc = for_each_master(a, cluster, NULL, err, delete_in_broker_fn, topic);
    if (rc != MQ_OK)
        return rc;
    for (int i = 0; i < a->namesrv_count; i++) {
        Mq__RemotingHeader h;
        header_init(&h, RC_DELETE_TOPIC_IN_NAMESRV);
        Mq__DeleteTopicFromNamesrvRequestHeader dh = MQ__DELETE_TOPIC_FROM_NAMESRV_REQUEST_HEADER__INIT;
        dh.topic = (char *)topic;
        dh.clustername = (char *)cluster;
        h.ext_case = MQ__REMOTING_HEADER__EXT_DELETE_TOPIC_FROM_NAMESRV;
        h.delete_topic_from_namesrv = &dh;
        mqc_response r;
        char what[320];
        snprintf(what, sizeof what, "nameserver %s", a->namesrv[i]);
        rc = call(a, a->namesrv[i], &h, NULL, 0, what, &r, err);
        if (rc != MQ_OK) {
            if (err) {
                char inner[sizeof err->message];
                str_copy(inner, sizeof inner, err->message);
                snprintf(err->message, sizeof err->message, "topic deleted from the brokers, but %.200s", inner);
            }
            return rc;
        }
        mqc_response_free(&r);
    }
    return MQ_OK;
}

/* ---- groups ---- */

void mq_group_config_init(mq_group_config *g, const char *group)
{
    memset(g, 0, sizeof *g);
    g->group = group;
    g->consume_enable = true;
    g->consume_from_min_enable = true;
    g->consume_broadcast_enable = true;
    g->retry_queue_nums = 1;
    g->retry_max_times = 16;
    g->which_broker_when_consume_slowly = 1;
    g->notify_consumer_ids_changed_enable = true;
}

int mq_admin_update_group(mq_admin *a, const char *broker_addr, const mq_group_config *g, mq_error *err)
{
    char why[256];
    if (!check_text("broker address", broker_addr, err))
        return MQ_EINVAL;
    if (!group_name_valid(g->group, why, sizeof why)) {
        mqc_error_set(err, MQ_EINVAL, "%s", why);
        return MQ_EINVAL;
    }
    Mq__SubscriptionGroupConfig m = MQ__SUBSCRIPTION_GROUP_CONFIG__INIT;
    m.groupname = (char *)g->group;
    m.consumeenable = g->consume_enable;
    m.consumefromminenable = g->consume_from_min_enable;
    m.consumebroadcastenable = g->consume_broadcast_enable;
    m.retryqueuenums = g->retry_queue_nums;
    m.retrymaxtimes = g->retry_max_times;
    m.brokerid = g->broker_id;
    m.whichbrokerwhenconsumeslowly = g->which_broker_when_consume_slowly;
    m.notifyconsumeridschangedenable = g->notify_consumer_ids_changed_enable;
    m.has_consumeenable = m.has_consumefromminenable = m.has_consumebroadcastenable = 1;
    m.has_retryqueuenums = m.has_retrymaxtimes = m.has_brokerid = 1;
    m.has_whichbrokerwhenconsumeslowly = m.has_notifyconsumeridschangedenable = 1;
    uint8_t *body;
    size_t len = pack_body(&m.base, &body);
    Mq__RemotingHeader h;
    header_init(&h, RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP);
    mqc_response r;
    char what[320];
    snprintf(what, sizeof what, "update group %s on %s", g->group, broker_addr);
    int rc = call(a, broker_addr, &h, body, len, what, &r, err);
    free(body);
    if (rc == MQ_OK)
        mqc_response_free(&r);
    return rc;
}

static int update_group_fn(mq_admin *a, const char *addr, const void *arg, mq_error *err)
{
    return mq_admin_update_group(a, addr, arg, err);
}

int mq_admin_update_group_in_cluster(mq_admin *a, const char *cluster, const mq_group_config *g,
                                     mq_string_list **done, mq_error *err)
{
    char why[256];
    if (!group_name_valid(g->group, why, sizeof why)) {
        if (done)
            *done = xcalloc(1, sizeof **done);
        mqc_error_set(err, MQ_EINVAL, "%s", why);
        return MQ_EINVAL;
    }
    return for_each_master(a, cluster, done, err, update_group_fn, g);
}

/* ---- brokers ---- */

int mq_admin_broker_runtime_info(mq_admin *a, const char *broker_addr, mq_kv_list **out, mq_error *err)
{
    if (!check_text("broker address", broker_addr, err))
        return MQ_EINVAL;
    Mq__RemotingHeader h;
    header_init(&h, RC_GET_BROKER_RUNTIME_INFO);
    mqc_response r;
    char what[160];
    snprintf(what, sizeof what, "runtime info of %s", broker_addr);
    int rc = call(a, broker_addr, &h, NULL, 0, what, &r, err);
    if (rc != MQ_OK)
        return rc;
    Mq__KVTable *kv = (Mq__KVTable *)admin_unpack(&mq__kvtable__descriptor, &r, what, err);
    if (!kv)
        return MQ_ENETWORK;
    mq_kv_list *l = xcalloc(1, sizeof *l);
    l->n = kv->n_table;
    l->items = xcalloc(l->n ? l->n : 1, sizeof *l->items);
    for (size_t i = 0; i < l->n; i++) {
        l->items[i].key = dup_or_empty(kv->table[i]->key);
        l->items[i].value = dup_or_empty(kv->table[i]->value);
    }
    qsort(l->items, l->n, sizeof *l->items, cmp_kv);
    mq__kvtable__free_unpacked(kv, NULL);
    *out = l;
    return MQ_OK;
}

/* ---- queues, consumer progress, offset resets ---- */

/* Broker name and master address of each broker group of topic's route. */
typedef struct master_list {
    size_t n;
    char **names;
    char **addrs;
} master_list;

static void master_list_free(master_list *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->names[i]);
        free(m->addrs[i]);
    }
    free(m->names);
    free(m->addrs);
    memset(m, 0, sizeof *m);
}

static void master_list_add(master_list *m, const char *name, const char *addr)
{
    m->names = xrealloc(m->names, (m->n + 1) * sizeof *m->names);
    m->addrs = xrealloc(m->addrs, (m->n + 1) * sizeof *m->addrs);
    m->names[m->n] = xstrdup(name);
    m->addrs[m->n] = xstrdup(addr);
    m->n++;
}

static void add_masters(master_list *m, const mq_broker_info *brokers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < brokers[i].n_addrs; k++)
            if (brokers[i].addrs[k].id == 0)
                master_list_add(m, brokers[i].broker_name, brokers[i].addrs[k].addr);
}

static int route_masters(mq_admin *a, const char *topic, master_list *out, mq_error *err)
{
    memset(out, 0, sizeof *out);
    mq_topic_route *r;
    int rc = mq_admin_topic_route(a, topic, &r, err);
    if (rc != MQ_OK)
        return rc;
    add_masters(out, r->brokers, r->n_brokers);
    mq_topic_route_free(r);
    if (out->n == 0) {
        mqc_error_set(err, MQ_ENOROUTE, "topic %s has no master broker in its route", topic);
        return MQ_ENOROUTE;
    }
    return MQ_OK;
}

static int cmp_queue_offsets(const void *x, const void *y)
{
    const mq_queue_offsets *a = x, *b = y;
    int c = strcmp(a->broker_name, b->broker_name);
    return c ? c : (a->queue_id > b->queue_id) - (a->queue_id < b->queue_id);
}

int mq_admin_topic_status(mq_admin *a, const char *topic, mq_topic_status **out, mq_error *err)
{
    if (!check_topic(topic, err))
        return MQ_EINVAL;
    master_list m;
    int rc = route_masters(a, topic, &m, err);
    if (rc != MQ_OK)
        return rc;
    mq_topic_status *st = xcalloc(1, sizeof *st);
    for (size_t i = 0; i < m.n && rc == MQ_OK; i++) {
        Mq__RemotingHeader h;
        header_init(&h, RC_GET_TOPIC_STATS_INFO);
        Mq__TopicRequestHeader th = MQ__TOPIC_REQUEST_HEADER__INIT;
        th.topic = (char *)topic;
        h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
        h.topic = &th;
        mqc_response r;
        char what[320];
        snprintf(what, sizeof what, "topic stats of %s on %s", topic, m.addrs[i]);
        if ((rc = call(a, m.addrs[i], &h, NULL, 0, what, &r, err)) != MQ_OK)
            break;
        Mq__TopicStatsTable *t = (Mq__TopicStatsTable *)admin_unpack(&mq__topic_stats_table__descriptor, &r, what, err);
        if (!t) {
            rc = MQ_ENETWORK;
            break;
        }
        st->queues = xrealloc(st->queues, (st->n + t->n_offsettable) * sizeof *st->queues);
        for (size_t k = 0; k < t->n_offsettable; k++) {
            const Mq__TopicOffsetEntry *e = t->offsettable[k];
            mq_queue_offsets *q = &st->queues[st->n++];
            q->broker_name = xstrdup(m.names[i]);
            q->queue_id = e->mq ? e->mq->queueid : 0;
            q->min_offset = e->offset ? e->offset->minoffset : 0;
            q->max_offset = e->offset ? e->offset->maxoffset : 0;
            q->last_update_ms = e->offset ? e->offset->lastupdatetimestamp : 0;
        }
        mq__topic_stats_table__free_unpacked(t, NULL);
    }
    master_list_free(&m);
    if (rc != MQ_OK) {
        mq_topic_status_free(st);
        return rc;
    }
    qsort(st->queues, st->n, sizeof *st->queues, cmp_queue_offsets);
    *out = st;
    return MQ_OK;
}

void mq_topic_status_free(mq_topic_status *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->queues[i].broker_name);
    free(s->queues);
    free(s);
}

static int cmp_progress(const void *x, const void *y)
{
    const mq_queue_progress *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    if (!c)
        c = strcmp(a->broker_name, b->broker_name);
    return c ? c : (a->queue_id > b->queue_id) - (a->queue_id < b->queue_id);
}

int mq_admin_consumer_progress(mq_admin *a, const char *group, const char *topic,
                               mq_consumer_progress **out, mq_error *err)
{
    if (!check_text("consumer group", group, err) || (topic && *topic && !check_topic(topic, err)))
        return MQ_EINVAL;
    master_list m;
    int rc;
    if (topic && *topic) {
        rc = route_masters(a, topic, &m, err);
    } else {
        memset(&m, 0, sizeof m);
        mq_cluster_info *ci;
        rc = mq_admin_cluster_info(a, &ci, err);
        if (rc == MQ_OK) {
            add_masters(&m, ci->brokers, ci->n_brokers);
            mq_cluster_info_free(ci);
        }
    }
    if (rc != MQ_OK)
        return rc;
    mq_consumer_progress *p = xcalloc(1, sizeof *p);
    for (size_t i = 0; i < m.n && rc == MQ_OK; i++) {
        Mq__RemotingHeader h;
        header_init(&h, RC_GET_CONSUME_STATS);
        Mq__GetConsumeStatsRequestHeader gh = MQ__GET_CONSUME_STATS_REQUEST_HEADER__INIT;
        gh.consumergroup = (char *)group;
        gh.topic = (char *)(topic && *topic ? topic : NULL);
        h.ext_case = MQ__REMOTING_HEADER__EXT_GET_CONSUME_STATS;
        h.get_consume_stats = &gh;
        mqc_response r;
        char what[320];
        snprintf(what, sizeof what, "consume stats of %s on %s", group, m.addrs[i]);
        if ((rc = call(a, m.addrs[i], &h, NULL, 0, what, &r, err)) != MQ_OK)
            break;
        Mq__ConsumeStats *cs = (Mq__ConsumeStats *)admin_unpack(&mq__consume_stats__descriptor, &r, what, err);
        if (!cs) {
            rc = MQ_ENETWORK;
            break;
        }
        p->queues = xrealloc(p->queues, (p->n + cs->n_offsettable) * sizeof *p->queues);
        for (size_t k = 0; k < cs->n_offsettable; k++) {
            const Mq__QueueOffsetEntry *e = cs->offsettable[k];
            mq_queue_progress *q = &p->queues[p->n++];
            q->topic = dup_or_empty(e->mq ? e->mq->topic : NULL);
            q->broker_name = xstrdup(m.names[i]);
            q->queue_id = e->mq ? e->mq->queueid : 0;
            q->broker_offset = e->offset ? e->offset->brokeroffset : 0;
            q->consumer_offset = e->offset ? e->offset->consumeroffset : 0;
            q->lag = q->broker_offset > q->consumer_offset ? q->broker_offset - q->consumer_offset : 0;
            q->last_timestamp = e->offset ? e->offset->lasttimestamp : 0;
            p->total_lag += q->lag;
        }
        mq__consume_stats__free_unpacked(cs, NULL);
    }
    master_list_free(&m);
    if (rc != MQ_OK) {
        mq_consumer_progress_free(p);
        return rc;
    }
    qsort(p->queues, p->n, sizeof *p->queues, cmp_progress);
    *out = p;
    return MQ_OK;
}

void mq_consumer_progress_free(mq_consumer_progress *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->queues[i].topic);
        free(p->queues[i].broker_name);
    }
    free(p->queues);
    free(p);
}

void mq_queue_offset_list_free(mq_queue_offset_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].broker_name);
    free(l->items);
    free(l);
}

/* One INVOKE_BROKER_TO_RESET_OFFSET; appends the offsets set to out (if any). */
static int reset_on(mq_admin *a, const char *addr, const char *broker_name, const char *group,
                    const char *topic, int64_t timestamp, bool force, int32_t queue_id, int64_t offset,
                    mq_queue_offset_list *out, mq_error *err)
{
    Mq__RemotingHeader h;
    header_init(&h, RC_INVOKE_BROKER_TO_RESET_OFFSET);
    Mq__ResetOffsetRequestHeader x = MQ__RESET_OFFSET_REQUEST_HEADER__INIT;
    x.group = (char *)group;
    x.topic = (char *)topic;
    x.timestamp = timestamp;
    x.has_timestamp = 1;
    x.isforce = force;
    x.has_isforce = 1;
    if (queue_id >= 0) {
        x.queueid = queue_id;
        x.has_queueid = 1;
        x.offset = offset;
        x.has_offset = 1;
    }
    h.ext_case = MQ__REMOTING_HEADER__EXT_RESET_OFFSET;
    h.reset_offset = &x;
    mqc_response r;
    char what[320];
    snprintf(what, sizeof what, "reset offsets of %s on %s", group, addr);
    int rc = call(a, addr, &h, NULL, 0, what, &r, err);
    if (rc != MQ_OK)
        return rc;
    Mq__ResetOffsetBody *b = (Mq__ResetOffsetBody *)admin_unpack(&mq__reset_offset_body__descriptor, &r, what, err);
    if (!b)
        return MQ_ENETWORK;
    if (out) {
        out->items = xrealloc(out->items, (out->n + b->n_offsettable) * sizeof *out->items);
        for (size_t k = 0; k < b->n_offsettable; k++) {
            mq_queue_offset *q = &out->items[out->n++];
            q->broker_name = xstrdup(broker_name);
            q->queue_id = b->offsettable[k]->mq ? b->offsettable[k]->mq->queueid : 0;
            q->offset = b->offsettable[k]->offset;
        }
    }
    mq__reset_offset_body__free_unpacked(b, NULL);
    return MQ_OK;
}

static int cmp_queue_offset(const void *x, const void *y)
{
    const mq_queue_offset *a = x, *b = y;
    int c = strcmp(a->broker_name, b->broker_name);
    return c ? c : (a->queue_id > b->queue_id) - (a->queue_id < b->queue_id);
}

int mq_admin_reset_offset_by_time(mq_admin *a, const char *group, const char *topic,
                                  int64_t timestamp_ms, bool force, mq_queue_offset_list **out,
                                  mq_error *err)
{
    if (!check_text("consumer group", group, err) || !check_topic(topic, err))
        return MQ_EINVAL;
    master_list m;
    int rc = route_masters(a, topic, &m, err);
    if (rc != MQ_OK)
        return rc;
    mq_queue_offset_list *l = xcalloc(1, sizeof *l);
    for (size_t i = 0; i < m.n && rc == MQ_OK; i++)
        rc = reset_on(a, m.addrs[i], m.names[i], group, topic, timestamp_ms, force, -1, 0, l, err);
    master_list_free(&m);
    if (rc != MQ_OK || !out) {
        mq_queue_offset_list_free(l);
        return rc;
    }
    qsort(l->items, l->n, sizeof *l->items, cmp_queue_offset);
    *out = l;
    return MQ_OK;
}

int mq_admin_reset_offset_to(mq_admin *a, const char *group, const char *topic, const char *broker_name,
                             int32_t queue_id, int64_t offset, mq_error *err)
{
    if (!check_text("consumer group", group, err) || !check_topic(topic, err) ||
        !check_text("broker name", broker_name, err))
        return MQ_EINVAL;
    if (queue_id < 0 || offset < 0) {
        mqc_error_set(err, MQ_EINVAL, "queue id and offset must not be negative");
        return MQ_EINVAL;
    }
    master_list m;
    int rc = route_masters(a, topic, &m, err);
    if (rc != MQ_OK)
        return rc;
    rc = MQ_ENOTFOUND;
    for (size_t i = 0; i < m.n; i++)
        if (!strcmp(m.names[i], broker_name))
            rc = reset_on(a, m.addrs[i], m.names[i], group, topic, 0, true, queue_id, offset, NULL, err);
    if (rc == MQ_ENOTFOUND)
        mqc_error_set(err, MQ_ENOTFOUND, "broker %s is not in the route of topic %s", broker_name, topic);
    master_list_free(&m);
    return rc;
}

/* ---- for the admin files beside this one (admin_internal.h) ---- */

int admin_call(mq_admin *a, const char *addr, Mq__RemotingHeader *h, const void *body, size_t len, const char *what,
               mqc_response *r, mq_error *err)
{
    return call(a, addr, h, body, len, what, r, err);
}

ProtobufCMessage *admin_unpack(const ProtobufCMessageDescriptor *d, mqc_response *r, const char *what, mq_error *err)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, r->body_len, r->body);
    mqc_response_free(r);
    if (!m)
        mqc_error_set(err, MQ_ENETWORK, "%s: undecodable %s answer", what, d->short_name);
    return m;
}
