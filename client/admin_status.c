/*
 * admin_status.c - status and maintenance calls of the admin API
 * (mq/admin_status.h): consumer connections merged from every master,
 * wipe/add write permission on every nameserver, broker configuration,
 * group list and group deletion on one broker. Blocking calls on the
 * caller's thread through the handle's client runtime (admin_internal.h).
 */
#define _GNU_SOURCE /* asprintf */
#include "mq/admin_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "body.pb-c.h"
#include "protocol.h"
#include "util.h"

static bool check_arg(const char *what, const char *v, mq_error *err)
{
    if (v && *v)
        return true;
    mqc_error_set(err, MQ_EINVAL, "no %s given", what);
    return false;
}

/* The request/answer of the calls to one broker: checks the address, sends
 * code with h (NULL: no typed header) and body, checks the answer's status.
 * MQ_OK with *r (the caller frees it), or an error in err. */
static int ask_broker(mq_admin *a, const char *broker_addr, int32_t code, Mq__RemotingHeader *h, const void *body,
                      size_t len, const char *what, mqc_response *r, mq_error *err)
{
    if (!check_arg("broker address", broker_addr, err))
        return MQ_EINVAL;
    Mq__RemotingHeader plain = MQ__REMOTING_HEADER__INIT;
    if (!h)
        h = &plain;
    h->code = code;
    return admin_call(a, broker_addr, h, body, len, what, r, err);
}

static void kv_add(mq_kv_list *l, const char *key, size_t klen, const char *value, size_t vlen)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n].key = xstrndup(key, klen);
    l->items[l->n].value = xstrndup(value, vlen);
    l->n++;
}

static int cmp_kv(const void *x, const void *y) { return strcmp(((const mq_kv *)x)->key, ((const mq_kv *)y)->key); }
static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* ---- consumer connections ---- */

void mq_consumer_connection_free(mq_consumer_connection *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_conns; i++) {
        free(c->conns[i].client_id);
        free(c->conns[i].client_addr);
    }
    free(c->conns);
    for (size_t i = 0; i < c->n_subs; i++) {
        free(c->subs[i].topic);
        free(c->subs[i].expression);
        free(c->subs[i].expression_type);
    }
    free(c->subs);
    free(c->consume_type);
    free(c->message_model);
    free(c->consume_from_where);
    free(c);
}

static char *dup_or_null(const char *s) { return s && *s ? xstrdup(s) : NULL; }

/* Adds the members one broker reported that are not known yet. */
static void merge_members(mq_consumer_connection *out, Mq__Connection *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Mq__Connection *c = set[i];
        bool seen = !c->clientid;
        for (size_t k = 0; k < out->n_conns && !seen; k++)
            seen = !strcmp(out->conns[k].client_id, c->clientid);
        if (seen)
            continue;
        out->conns = xrealloc(out->conns, (out->n_conns + 1) * sizeof *out->conns);
        mq_connection *m = &out->conns[out->n_conns++];
        m->client_id = xstrdup(c->clientid);
        m->client_addr = xstrdup(c->clientaddr ? c->clientaddr : "");
        m->language = c->language;
        m->version = c->version;
    }
}

/* Adds what one broker reported, skipping members and subscriptions already known. */
static void merge_connection(mq_consumer_connection *out, const Mq__ConsumerConnection *cc)
{
    merge_members(out, cc->connectionset, cc->n_connectionset);
    for (size_t i = 0; i < cc->n_subscriptiontable; i++) {
        const Mq__SubscriptionData *s = cc->subscriptiontable[i];
        bool seen = !s->topic;
        for (size_t k = 0; k < out->n_subs && !seen; k++)
            seen = !strcmp(out->subs[k].topic, s->topic);
        if (seen)
            continue;
        out->subs = xrealloc(out->subs, (out->n_subs + 1) * sizeof *out->subs);
        mq_subscription_entry *e = &out->subs[out->n_subs++];
        e->topic = xstrdup(s->topic);
        e->expression = xstrdup(s->substring ? s->substring : "*");
        e->expression_type = xstrdup(s->expressiontype ? s->expressiontype : "TAG");
    }
    if (!out->consume_type)
        out->consume_type = dup_or_null(cc->consumetype);
    if (!out->message_model)
        out->message_model = dup_or_null(cc->messagemodel);
    if (!out->consume_from_where)
        out->consume_from_where = dup_or_null(cc->consumefromwhere);
}

static int cmp_conn(const void *x, const void *y)
{
    return strcmp(((const mq_connection *)x)->client_id, ((const mq_connection *)y)->client_id);
}

int mq_admin_consumer_connection(mq_admin *a, const char *group, mq_consumer_connection **out, mq_error *err)
{
    if (!check_arg("consumer group", group, err))
        return MQ_EINVAL;
    mq_cluster_info *ci;
    int rc = mq_admin_cluster_info(a, &ci, err);
    if (rc != MQ_OK)
        return rc;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__ConsumerGroupRequestHeader g = MQ__CONSUMER_GROUP_REQUEST_HEADER__INIT;
    h.code = RC_GET_CONSUMER_CONNECTION_LIST;
    g.consumergroup = (char *)group;
    h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP;
    h.consumer_group = &g;
    mq_consumer_connection *res = xcalloc(1, sizeof *res);
    mq_error first = {0};
    for (size_t i = 0; i < ci->n_brokers; i++) {
        const mq_broker_info *b = &ci->brokers[i];
        if (!b->n_addrs || b->addrs[0].id != 0)
            continue;
        mqc_response r;
        mq_error e = {0};
        if (admin_call(a, b->addrs[0].addr, &h, NULL, 0, "consumer connections", &r, &e) != MQ_OK) {
            if (first.code == 0 && e.status != RS_CONSUMER_NOT_ONLINE)
                first = e;
            continue;
        }
        Mq__ConsumerConnection *cc =
            (Mq__ConsumerConnection *)admin_unpack(&mq__consumer_connection__descriptor, &r, "consumer connections", &e);
        if (cc) {
            merge_connection(res, cc);
            mq__consumer_connection__free_unpacked(cc, NULL);
        }
    }
    mq_cluster_info_free(ci);
    if (res->n_conns == 0) {
        mq_consumer_connection_free(res);
        if (first.code != 0) {
            if (err)
                *err = first;
            return first.code;
        }
        mqc_error_set(err, MQ_ENOTFOUND, "consumer group %s has no live member on any broker (not online)", group);
        return MQ_ENOTFOUND;
    }
    qsort(res->conns, res->n_conns, sizeof *res->conns, cmp_conn);
    *out = res;
    return MQ_OK;
}

int mq_admin_producer_connection(mq_admin *a, const char *group, const char *topic, mq_consumer_connection **out,
                                 mq_error *err)
{
    if (!check_arg("producer group", group, err) || !check_arg("topic", topic, err))
        return MQ_EINVAL;
    mq_topic_route *route;
    int rc = mq_admin_topic_route(a, topic, &route, err);
    if (rc != MQ_OK)
        return rc;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__GetProducerConnectionListRequestHeader g = MQ__GET_PRODUCER_CONNECTION_LIST_REQUEST_HEADER__INIT;
    h.code = RC_GET_PRODUCER_CONNECTION_LIST;
    g.producergroup = (char *)group;
    h.ext_case = MQ__REMOTING_HEADER__EXT_GET_PRODUCER_CONNECTION_LIST;
    h.get_producer_connection_list = &g;
    mq_consumer_connection *res = xcalloc(1, sizeof *res);
    for (size_t i = 0; i < route->n_brokers; i++) {
        const mq_broker_info *b = &route->brokers[i];
        mqc_response r;
        mq_error e = {0};
        if (!b->n_addrs || admin_call(a, b->addrs[0].addr, &h, NULL, 0, "producer connections", &r, &e) != MQ_OK)
            continue; /* the group is not connected there (SYSTEM_ERROR), or the broker is down */
        Mq__ProducerConnection *pc =
            (Mq__ProducerConnection *)admin_unpack(&mq__producer_connection__descriptor, &r, "producer connections", &e);
        if (pc) {
            merge_members(res, pc->connectionset, pc->n_connectionset);
            mq__producer_connection__free_unpacked(pc, NULL);
        }
    }
    mq_topic_route_free(route);
    if (res->n_conns == 0) {
        mq_consumer_connection_free(res);
        mqc_error_set(err, MQ_ENOTFOUND, "producer group %s has no producer connected to the brokers of topic %s",
                      group, topic);
        return MQ_ENOTFOUND;
    }
    qsort(res->conns, res->n_conns, sizeof *res->conns, cmp_conn);
    *out = res;
    return MQ_OK;
}

/* ---- write permission ---- */

int mq_admin_set_write_perm(mq_admin *a, const char *broker_name, bool writable, mq_kv_list **out, mq_error *err)
{
    if (!check_arg("broker name", broker_name, err))
        return MQ_EINVAL;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__WipeWritePermOfBrokerRequestHeader w = MQ__WIPE_WRITE_PERM_OF_BROKER_REQUEST_HEADER__INIT;
    h.code = writable ? RC_ADD_WRITE_PERM_OF_BROKER : RC_WIPE_WRITE_PERM_OF_BROKER;
    w.brokername = (char *)broker_name;
    h.ext_case = MQ__REMOTING_HEADER__EXT_WIPE_WRITE_PERM;
    h.wipe_write_perm = &w;
    mq_kv_list *l = xcalloc(1, sizeof *l);
    for (int i = 0; i < a->namesrv_count; i++) {
        mqc_response r;
        int rc = admin_call(a, a->namesrv[i], &h, NULL, 0, writable ? "add write perm" : "wipe write perm", &r, err);
        if (rc != MQ_OK) {
            mq_kv_list_free(l);
            return rc;
        }
        int32_t n = 0;
        if (r.hdr->ext_case == MQ__REMOTING_HEADER__EXT_WIPE_WRITE_PERM_RESPONSE)
            n = writable ? r.hdr->wipe_write_perm_response->addtopiccount
                         : r.hdr->wipe_write_perm_response->wipetopiccount;
        mqc_response_free(&r);
        char count[16];
        snprintf(count, sizeof count, "%d", n);
        kv_add(l, a->namesrv[i], strlen(a->namesrv[i]), count, strlen(count));
    }
    if (out)
        *out = l;
    else
        mq_kv_list_free(l);
    return MQ_OK;
}

/* ---- broker config and groups ---- */

int mq_admin_broker_config(mq_admin *a, const char *broker_addr, mq_kv_list **out, mq_error *err)
{
    mqc_response r;
    int rc = ask_broker(a, broker_addr, RC_GET_BROKER_CONFIG, NULL, NULL, 0, "broker config", &r, err);
    if (rc != MQ_OK)
        return rc;
    mq_kv_list *l = xcalloc(1, sizeof *l);
    const char *p = (const char *)r.body, *end = p + r.body_len;
    while (p < end) { /* "key=value\n" lines, as the broker's config file */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(line_end - p));
        if (eq && *p != '#')
            kv_add(l, p, (size_t)(eq - p), eq + 1, (size_t)(line_end - eq - 1));
        p = line_end + 1;
    }
    mqc_response_free(&r);
    qsort(l->items, l->n, sizeof *l->items, cmp_kv);
    *out = l;
    return MQ_OK;
}

int mq_admin_group_list(mq_admin *a, const char *broker_addr, mq_string_list **out, mq_error *err)
{
    mqc_response r;
    int rc = ask_broker(a, broker_addr, RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG, NULL, NULL, 0, "group list", &r, err);
    if (rc != MQ_OK)
        return rc;
    Mq__SubscriptionGroupWrapper *w =
        (Mq__SubscriptionGroupWrapper *)admin_unpack(&mq__subscription_group_wrapper__descriptor, &r, "group list", err);
    if (!w)
        return MQ_ENETWORK;
    mq_string_list *l = xcalloc(1, sizeof *l);
    l->items = xcalloc(w->n_subscriptiongrouptable ? w->n_subscriptiongrouptable : 1, sizeof *l->items);
    for (size_t i = 0; i < w->n_subscriptiongrouptable; i++)
        if (w->subscriptiongrouptable[i]->key)
            l->items[l->n++] = xstrdup(w->subscriptiongrouptable[i]->key);
    mq__subscription_group_wrapper__free_unpacked(w, NULL);
    qsort(l->items, l->n, sizeof *l->items, cmp_str);
    *out = l;
    return MQ_OK;
}

int mq_admin_delete_group(mq_admin *a, const char *broker_addr, const char *group, bool clean_offset, mq_error *err)
{
    if (!check_arg("broker address", broker_addr, err) || !check_arg("consumer group", group, err))
        return MQ_EINVAL;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__DeleteSubscriptionGroupRequestHeader d = MQ__DELETE_SUBSCRIPTION_GROUP_REQUEST_HEADER__INIT;
    d.groupname = (char *)group;
    d.cleanoffset = clean_offset;
    d.has_cleanoffset = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_DELETE_SUBSCRIPTION_GROUP;
    h.delete_subscription_group = &d;
    mqc_response r;
    int rc = ask_broker(a, broker_addr, RC_DELETE_SUBSCRIPTIONGROUP, &h, NULL, 0, "delete group", &r, err);
    if (rc == MQ_OK)
        mqc_response_free(&r);
    return rc;
}

int mq_admin_update_broker_config(mq_admin *a, const char *broker_addr, const char *key, const char *value,
                                  mq_error *err)
{
    if (!check_arg("broker address", broker_addr, err) || !check_arg("key", key, err) || !value)
        return value ? MQ_EINVAL : (mqc_error_set(err, MQ_EINVAL, "no value given"), MQ_EINVAL);
    if (strpbrk(key, "=\n") || strchr(value, '\n')) {
        mqc_error_set(err, MQ_EINVAL, "key and value must not contain '=' (key) or line breaks");
        return MQ_EINVAL;
    }
    char *body = NULL;
    int len = asprintf(&body, "%s=%s\n", key, value);
    if (len < 0) {
        mqc_error_set(err, MQ_ENOMEM, "out of memory");
        return MQ_ENOMEM;
    }
    mqc_response r;
    int rc = ask_broker(a, broker_addr, RC_UPDATE_BROKER_CONFIG, NULL, body, (size_t)len, "update broker config", &r,
                        err);
    free(body);
    if (rc == MQ_OK)
        mqc_response_free(&r);
    return rc;
}
