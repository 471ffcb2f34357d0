/*
 * processor.c - the nameserver's request handlers: broker registration and
 * unregistration, route and cluster queries, topic deletion, data-version
 * queries, KV config, and dropping a broker whose connection closed. One
 * handler per request whatever its encoding: RocketMQ clients and brokers
 * (JSON headers and bodies) and ours (protobuf) get the same answers, each
 * in the encoding it asked in (common/frame.h).
 *
 * Handlers run on the loop thread. Answers are built in ns->scratch (an
 * arena reset after every request), so a query costs no malloc once the
 * arena is warm; strings in answers point into the route tables, which do
 * not change while a handler runs. Registrations, unregistrations and
 * expiries are logged at info; queries are not logged.
 */
#include <stdio.h>
#include <string.h>

#include "crc.h"

#include "log.h"
#include "names.h"
#include "namesrv.h"
#include "util.h"

static void reply_msg(namesrv *ns, rm_conn *c, const rm_cmd *req, const ProtobufCMessage *body)
{
    rm_reply_ok(c, req, body);
    arena_reset(&ns->scratch);
}

static void on_register_broker(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__RegisterBrokerRequestHeader *rh = req->hdr->register_broker;
    if (rh->has_compressed && rh->compressed) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "compressed registration bodies are not supported");
        return;
    }
    if (rh->has_bodycrc32 && rh->bodycrc32 != 0 && req->body_len > 0) {
        uint32_t crc = mq_crc32(0, req->body, req->body_len);
        if ((int32_t)crc != rh->bodycrc32) {
            rm_reply_status(c, req, RS_SYSTEM_ERROR, "registration body CRC mismatch (sent %d, computed %d)",
                            rh->bodycrc32, (int32_t)crc);
            return;
        }
    }
    const Mq__RegisterBrokerBody *body = NULL;
    if (req->body_len > 0) {
        char err[256];
        body = (const Mq__RegisterBrokerBody *)rm_body_decode(c, req, &mq__register_broker_body__descriptor,
                                                               err, sizeof err);
        if (!body) {
            rm_reply_status(c, req, RS_SYSTEM_ERROR, "bad registration body: %s", err);
            return;
        }
    }
    ns_broker_reg reg = {
        .cluster = rh->clustername,
        .broker_name = rh->brokername,
        .broker_addr = rh->brokeraddr,
        .ha_addr = rh->haserveraddr,
        .broker_id = rh->has_brokerid ? rh->brokerid : 0,
        .epoch = rh->has_haepoch ? rh->haepoch : 0,
        .topics = body ? body->topicconfigserializewrapper : NULL,
        .conn_id = rm_conn_id(c),
        .now_ms = mono_ms(),
    };
    ns_register_result res;
    char err[256];
    if (ns_routes_register(ns->routes, &reg, &res, err, sizeof err) != 0) {
        log_warn("bad registration from %s: %s", rm_conn_peer(c), err);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (res.new_broker)
        log_info("broker registered: cluster %s, name %s, id %lld, address %s, %zu topics (from %s)",
                 reg.cluster, reg.broker_name, (long long)reg.broker_id, reg.broker_addr,
                 reg.topics ? reg.topics->n_topicconfigtable : (size_t)0, rm_conn_peer(c));
    else if (res.topics_updated)
        log_info("broker %s (%s) updated its topics: %zu topics", reg.broker_name, reg.broker_addr,
                 reg.topics ? reg.topics->n_topicconfigtable : (size_t)0);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__RegisterBrokerResponseHeader rr = MQ__REGISTER_BROKER_RESPONSE_HEADER__INIT;
    if (res.master_addr[0]) {
        rr.masteraddr = res.master_addr;
        rr.haserveraddr = res.ha_addr;
    }
    if (res.fenced) {
        log_warn("broker %s (%s) registered as master with epoch %lld, below the group's %lld: fenced",
                 reg.broker_name, reg.broker_addr, (long long)reg.epoch, (long long)res.master_epoch);
        rr.fenced = 1, rr.has_fenced = 1;
        rr.masterepoch = res.master_epoch, rr.has_masterepoch = 1;
        rr.slavebrokerid = res.slave_id, rr.has_slavebrokerid = 1;
    }
    h.code = RS_SUCCESS;
    h.ext_case = MQ__REMOTING_HEADER__EXT_REGISTER_BROKER_RESPONSE;
    h.register_broker_response = &rr;
    /* As RocketMQ: the body is the ORDER_TOPIC_CONFIG namespace, if any. */
    Mq__KVTable *order = ns_kv_list(ns->kv, NS_KV_ORDER_TOPIC_CONFIG, &ns->scratch);
    rm_reply_msg(c, req, &h, order ? &order->base : NULL);
    arena_reset(&ns->scratch);
}

static void on_unregister_broker(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__UnRegisterBrokerRequestHeader *uh = req->hdr->unregister_broker;
    int64_t id = uh->has_brokerid ? uh->brokerid : 0;
    if (ns_routes_unregister(ns->routes, uh->clustername, uh->brokername, uh->brokeraddr, id) == 0)
        log_info("broker unregistered: cluster %s, name %s, id %lld, address %s",
                 uh->clustername ? uh->clustername : "?", uh->brokername ? uh->brokername : "?",
                 (long long)id, uh->brokeraddr ? uh->brokeraddr : "?");
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_route_by_topic(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const char *topic = req->hdr->topic->topic;
    char err[256];
    if (!topic_name_valid(topic, err, sizeof err)) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "%s", err);
        return;
    }
    Mq__TopicRouteData *rd;
    if (ns_routes_topic_route(ns->routes, topic, &ns->scratch, &rd) != 0) {
        arena_reset(&ns->scratch);
        rm_reply_status(c, req, RS_TOPIC_NOT_EXIST, "No topic route info in name server for the topic: %s",
                        topic);
        return;
    }
    if (ns->cfg.order_message_enable)
        rd->ordertopicconf = (char *)ns_kv_get(ns->kv, NS_KV_ORDER_TOPIC_CONFIG, topic);
    reply_msg(ns, c, req, &rd->base);
}

static void on_cluster_info(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    Mq__ClusterInfo *ci;
    ns_routes_cluster_info(ns->routes, &ns->scratch, &ci);
    reply_msg(ns, c, req, &ci->base);
}

static void on_all_topics(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    Mq__TopicList *tl;
    ns_routes_topic_list(ns->routes, NULL, &ns->scratch, &tl);
    reply_msg(ns, c, req, &tl->base);
}

static void on_topics_by_cluster(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const char *cluster = req->hdr->get_topics_by_cluster->cluster;
    if (!cluster || !*cluster) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "GET_TOPICS_BY_CLUSTER needs a cluster name");
        return;
    }
    Mq__TopicList *tl;
    ns_routes_topic_list(ns->routes, cluster, &ns->scratch, &tl);
    reply_msg(ns, c, req, &tl->base);
}

static void on_delete_topic(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__DeleteTopicFromNamesrvRequestHeader *dh = req->hdr->delete_topic_from_namesrv;
    char err[256];
    if (!topic_name_valid(dh->topic, err, sizeof err)) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "%s", err);
        return;
    }
    /* RocketMQ answers SUCCESS whether or not the topic was known. */
    if (ns_routes_delete_topic(ns->routes, dh->topic, dh->clustername) == 0)
        log_info("topic %s deleted from the registry%s%s (requested by %s)", dh->topic,
                 dh->clustername && *dh->clustername ? " for cluster " : "",
                 dh->clustername ? dh->clustername : "", rm_conn_peer(c));
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

/* WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER */
static void on_write_perm(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const char *name = req->hdr->wipe_write_perm->brokername;
    if (!name || !*name) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "brokerName is required");
        return;
    }
    bool add = req->hdr->code == RC_ADD_WRITE_PERM_OF_BROKER;
    int n = ns_routes_set_write_perm(ns->routes, name, add);
    log_info("%s write permission of broker %s on %d topics (requested by %s)", add ? "restored" : "wiped", name, n,
             rm_conn_peer(c));
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__WipeWritePermOfBrokerResponseHeader r = MQ__WIPE_WRITE_PERM_OF_BROKER_RESPONSE_HEADER__INIT;
    h.code = RS_SUCCESS;
    if (add) {
        r.addtopiccount = n;
        r.has_addtopiccount = 1;
    } else {
        r.wipetopiccount = n;
        r.has_wipetopiccount = 1;
    }
    h.ext_case = MQ__REMOTING_HEADER__EXT_WIPE_WRITE_PERM_RESPONSE;
    h.wipe_write_perm_response = &r;
    rm_reply(c, req, &h, NULL, 0);
}

static void on_query_data_version(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__QueryDataVersionRequestHeader *qh = req->hdr->query_data_version;
    int64_t ts = 0, counter = 0;
    if (req->body_len > 0) {
        char err[256];
        const Mq__DataVersion *dv = (const Mq__DataVersion *)rm_body_decode(
            c, req, &mq__data_version__descriptor, err, sizeof err);
        if (!dv) {
            rm_reply_status(c, req, RS_SYSTEM_ERROR, "bad data version body: %s", err);
            return;
        }
        ts = dv->timestamp;
        counter = dv->counter;
    }
    Mq__DataVersion stored = MQ__DATA_VERSION__INIT;
    bool changed = ns_routes_data_version_changed(ns->routes, qh->brokeraddr, ts, counter, mono_ms(),
                                                  &stored, &ns->scratch);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__QueryDataVersionResponseHeader qr = MQ__QUERY_DATA_VERSION_RESPONSE_HEADER__INIT;
    qr.changed = changed;
    qr.has_changed = 1;
    h.code = RS_SUCCESS;
    h.ext_case = MQ__REMOTING_HEADER__EXT_QUERY_DATA_VERSION_RESPONSE;
    h.query_data_version_response = &qr;
    rm_reply_msg(c, req, &h, stored.has_timestamp ? &stored.base : NULL);
}

/* The namespace and key of a KV request, or an INVALID_PARAMETER answer. */
static bool kv_args(rm_conn *c, const rm_cmd *req, bool need_key)
{
    const Mq__KVConfigRequestHeader *kh = req->hdr->kv_config;
    if (!kh->namespace_ || !*kh->namespace_ || (need_key && (!kh->key || !*kh->key))) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "%s needs namespace%s", rm_code_name(req->hdr->code),
                        need_key ? " and key" : "");
        return false;
    }
    return true;
}

static void on_put_kv(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__KVConfigRequestHeader *kh = req->hdr->kv_config;
    if (!kv_args(c, req, true))
        return;
    if (!kh->value) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "PUT_KV_CONFIG needs a value");
        return;
    }
    char err[256];
    if (ns_kv_put(ns->kv, kh->namespace_, kh->key, kh->value, err, sizeof err) != 0) {
        log_warn("KV config %s/%s not stored: %s", kh->namespace_, kh->key, err);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "KV config not stored: %s", err);
        return;
    }
    log_info("KV config put: %s/%s = %s (from %s)", kh->namespace_, kh->key, kh->value, rm_conn_peer(c));
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_get_kv(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__KVConfigRequestHeader *kh = req->hdr->kv_config;
    if (!kv_args(c, req, true))
        return;
    const char *v = ns_kv_get(ns->kv, kh->namespace_, kh->key);
    if (!v) {
        rm_reply_status(c, req, RS_QUERY_NOT_FOUND, "No config item, Namespace: %s Key: %s", kh->namespace_,
                        kh->key);
        return;
    }
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__GetKVConfigResponseHeader r = MQ__GET_KVCONFIG_RESPONSE_HEADER__INIT;
    r.value = (char *)v;
    h.code = RS_SUCCESS;
    h.ext_case = MQ__REMOTING_HEADER__EXT_GET_KV_CONFIG_RESPONSE;
    h.get_kv_config_response = &r;
    rm_reply(c, req, &h, NULL, 0);
}

static void on_delete_kv(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    const Mq__KVConfigRequestHeader *kh = req->hdr->kv_config;
    if (!kv_args(c, req, true))
        return;
    char err[256];
    if (ns_kv_delete(ns->kv, kh->namespace_, kh->key, err, sizeof err) != 0) {
        log_warn("KV config %s/%s not deleted: %s", kh->namespace_, kh->key, err);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "KV config not deleted: %s", err);
        return;
    }
    log_info("KV config deleted: %s/%s (from %s)", kh->namespace_, kh->key, rm_conn_peer(c));
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

static void on_kv_list(rm_conn *c, const rm_cmd *req, void *arg)
{
    namesrv *ns = arg;
    if (!kv_args(c, req, false))
        return;
    const char *space = req->hdr->kv_config->namespace_;
    Mq__KVTable *t = ns_kv_list(ns->kv, space, &ns->scratch);
    if (!t) {
        rm_reply_status(c, req, RS_QUERY_NOT_FOUND, "No config item, Namespace: %s", space);
        return;
    }
    reply_msg(ns, c, req, &t->base);
}

static void on_conn_close(rm_conn *c, void *arg)
{
    namesrv *ns = arg;
    ns_routes_conn_closed(ns->routes, rm_conn_id(c));
}

void ns_processor_register(namesrv *ns)
{
    rm_dispatch *d = ns->dispatch;
    rm_dispatch_on(d, RC_REGISTER_BROKER, on_register_broker, ns);
    rm_dispatch_on(d, RC_UNREGISTER_BROKER, on_unregister_broker, ns);
    rm_dispatch_on(d, RC_GET_ROUTEINFO_BY_TOPIC, on_route_by_topic, ns);
    rm_dispatch_on(d, RC_GET_BROKER_CLUSTER_INFO, on_cluster_info, ns);
    rm_dispatch_on(d, RC_GET_ALL_TOPIC_LIST_FROM_NAMESERVER, on_all_topics, ns);
    rm_dispatch_on(d, RC_GET_TOPICS_BY_CLUSTER, on_topics_by_cluster, ns);
    rm_dispatch_on(d, RC_DELETE_TOPIC_IN_NAMESRV, on_delete_topic, ns);
    rm_dispatch_on(d, RC_QUERY_DATA_VERSION, on_query_data_version, ns);
    rm_dispatch_on(d, RC_WIPE_WRITE_PERM_OF_BROKER, on_write_perm, ns);
    rm_dispatch_on(d, RC_ADD_WRITE_PERM_OF_BROKER, on_write_perm, ns);
    rm_dispatch_on(d, RC_PUT_KV_CONFIG, on_put_kv, ns);
    rm_dispatch_on(d, RC_GET_KV_CONFIG, on_get_kv, ns);
    rm_dispatch_on(d, RC_DELETE_KV_CONFIG, on_delete_kv, ns);
    rm_dispatch_on(d, RC_GET_KVLIST_BY_NAMESPACE, on_kv_list, ns);
    rm_server_on_close(ns->server, on_conn_close, ns);
}
