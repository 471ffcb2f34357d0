/*
 * cmd_status.c - mqadmin's status and maintenance commands built on
 * mq/admin_status.h: consumerConnection -g G (live members, their client
 * ids, addresses, languages and versions; subscriptions; consume mode),
 * consumerProgress without -g (every group of every master with its total
 * lag), wipeWritePerm / addWritePerm -b BROKER_NAME (on every nameserver),
 * getBrokerConfig -b ADDR, updateBrokerConfig and deleteSubGroup
 * (-b ADDR | -c CLUSTER).
 * Layouts follow RocketMQ's mqadmin; --json prints one JSON document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/admin_status.h"
#include "mqadmin.h"
#include "util.h"

static const char *language_name(int32_t l)
{
    static const char *const names[] = {"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER",
                                        "HTTP", "GO", "PHP", "OMS"};
    return l >= 0 && l < (int32_t)(sizeof names / sizeof names[0]) ? names[l] : "UNKNOWN";
}

/* The members table: # ClientId ClientAddr Language Version. */
static void print_members(const mq_consumer_connection *cc)
{
    mqadmin_table t;
    mqadmin_table_init(&t, 5, "#", "#ClientId", "#ClientAddr", "#Language", "#Version");
    for (size_t i = 0; i < cc->n_conns; i++) {
        char n[24], v[16];
        snprintf(n, sizeof n, "%zu", i + 1);
        snprintf(v, sizeof v, "%d", cc->conns[i].version);
        mqadmin_table_row(&t, n, cc->conns[i].client_id, cc->conns[i].client_addr,
                          language_name(cc->conns[i].language), v);
    }
    mqadmin_table_print(&t, stdout);
    mqadmin_table_free(&t);
}

static void json_members(json_writer *w, const mq_consumer_connection *cc)
{
    json_key(w, "connectionSet");
    json_array_begin(w);
    for (size_t i = 0; i < cc->n_conns; i++) {
        json_object_begin(w);
        json_kv_string(w, "clientId", cc->conns[i].client_id);
        json_kv_string(w, "clientAddr", cc->conns[i].client_addr);
        json_kv_string(w, "language", language_name(cc->conns[i].language));
        json_kv_int(w, "version", cc->conns[i].version);
        json_object_end(w);
    }
    json_array_end(w);
}

int cmd_producer_connection(const mqadmin_args *a)
{
    const char *group = mqadmin_required(a, 'g', "GROUP");
    const char *topic = group ? mqadmin_required(a, 't', "TOPIC") : NULL;
    if (!topic)
        return MQADMIN_USAGE;
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_error err = {0};
    mq_consumer_connection *pc;
    if (mq_admin_producer_connection(admin, group, topic, &pc, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("producer connection", &err);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_members(&w, pc);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        print_members(pc);
    }
    mq_consumer_connection_free(pc);
    mq_admin_free(admin);
    return rc;
}

int cmd_consumer_connection(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc;
    const char *group = mqadmin_open_for(a, 'g', "GROUP", &admin, &rc);
    if (!group)
        return rc;
    mq_error err = {0};
    mq_consumer_connection *cc;
    if (mq_admin_consumer_connection(admin, group, &cc, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("consumer connection", &err);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_members(&w, cc);
        json_key(&w, "subscriptionTable");
        json_object_begin(&w);
        for (size_t i = 0; i < cc->n_subs; i++) {
            json_key(&w, cc->subs[i].topic);
            json_object_begin(&w);
            json_kv_string(&w, "subString", cc->subs[i].expression);
            json_kv_string(&w, "expressionType", cc->subs[i].expression_type);
            json_object_end(&w);
        }
        json_object_end(&w);
        json_kv_string(&w, "consumeType", cc->consume_type);
        json_kv_string(&w, "messageModel", cc->message_model);
        json_kv_string(&w, "consumeFromWhere", cc->consume_from_where);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        print_members(cc);
        mqadmin_table t;
        printf("\nBelow is subscription:\n");
        mqadmin_table_init(&t, 3, "#", "#Topic", "#SubExpression");
        for (size_t i = 0; i < cc->n_subs; i++) {
            char n[24];
            snprintf(n, sizeof n, "%zu", i + 1);
            mqadmin_table_row(&t, n, cc->subs[i].topic, cc->subs[i].expression);
        }
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
        printf("\nConsumeType: %s\nMessageModel: %s\nConsumeFromWhere: %s\n",
               cc->consume_type ? cc->consume_type : "-", cc->message_model ? cc->message_model : "-",
               cc->consume_from_where ? cc->consume_from_where : "-");
    }
    mq_consumer_connection_free(cc);
    mq_admin_free(admin);
    return rc;
}

/* Master addresses of every broker group the nameservers know, or of one cluster. */
static int masters(mq_admin *admin, const char *cluster, mq_string_list **out, mq_error *err)
{
    if (cluster && *cluster)
        return mq_admin_cluster_masters(admin, cluster, out, err);
    mq_cluster_info *ci;
    int rc = mq_admin_cluster_info(admin, &ci, err);
    if (rc != MQ_OK)
        return rc;
    mq_string_list *l = xcalloc(1, sizeof *l);
    l->items = xcalloc(ci->n_brokers + 1, sizeof *l->items);
    for (size_t i = 0; i < ci->n_brokers; i++)
        if (ci->brokers[i].n_addrs && ci->brokers[i].addrs[0].id == 0)
            l->items[l->n++] = xstrdup(ci->brokers[i].addrs[0].addr);
    mq_cluster_info_free(ci);
    if (l->n == 0) { /* nothing to ask: an empty table would look like success */
        mq_string_list_free(l);
        if (err) {
            err->code = MQ_ENOTFOUND;
            snprintf(err->message, sizeof err->message, "no master broker is registered with the nameservers");
        }
        return MQ_ENOTFOUND;
    }
    *out = l;
    return MQ_OK;
}

/* The brokers a command acts on: -b BROKER_ADDR, or every master of -c
 * CLUSTER (then *all owns the list). Returns 0 or the exit code. */
static int targets(const mqadmin_args *a, mq_admin *admin, const char **broker, mq_string_list *one,
                   mq_string_list **all, mq_string_list **addrs)
{
    const char *cluster = a->flags['c'];
    *broker = a->flags['b'];
    *all = NULL;
    *one = (mq_string_list){1, (char **)broker};
    *addrs = one;
    if (!cluster || !*cluster)
        return 0;
    mq_error err = {0};
    if (masters(admin, cluster, all, &err) != MQ_OK)
        return mqadmin_fail_err("cluster masters", &err);
    *addrs = *all;
    return 0;
}

int cmd_consumer_progress_all(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_error err = {0};
    mq_string_list *addrs = NULL, *groups = xcalloc(1, sizeof *groups);
    rc = masters(admin, NULL, &addrs, &err);
    for (size_t i = 0; rc == MQ_OK && i < addrs->n; i++) {
        mq_string_list *g;
        if ((rc = mq_admin_group_list(admin, addrs->items[i], &g, &err)) != MQ_OK)
            break;
        for (size_t k = 0; k < g->n; k++) {
            bool seen = false;
            for (size_t j = 0; j < groups->n && !seen; j++)
                seen = !strcmp(groups->items[j], g->items[k]);
            if (!seen) {
                groups->items = xrealloc(groups->items, (groups->n + 1) * sizeof *groups->items);
                groups->items[groups->n++] = xstrdup(g->items[k]);
            }
        }
        mq_string_list_free(g);
    }
    mq_string_list_free(addrs);
    if (rc != MQ_OK) {
        mq_string_list_free(groups);
        mq_admin_free(admin);
        return mqadmin_fail_err("consumer groups", &err);
    }
    bytebuf buf;
    json_writer w;
    mqadmin_table t;
    if (a->json) {
        mqadmin_json_object_start(&w, &buf);
        json_key(&w, "groups");
        json_array_begin(&w);
    } else {
        mqadmin_table_init(&t, 4, "#Group", "#Consumers", "#Model", "#Diff Total");
    }
    for (size_t i = 0; i < groups->n; i++) {
        const char *group = groups->items[i];
        mq_consumer_progress *p;
        mq_consumer_connection *cc = NULL;
        if (mq_admin_consumer_progress(admin, group, NULL, &p, &err) != MQ_OK)
            continue; /* a group deleted meanwhile */
        mq_error e = {0};
        mq_admin_consumer_connection(admin, group, &cc, &e);
        char lag[24], n[24];
        snprintf(lag, sizeof lag, "%lld", (long long)p->total_lag);
        snprintf(n, sizeof n, "%zu", cc ? cc->n_conns : 0);
        const char *model = cc && cc->message_model ? cc->message_model : "-";
        if (a->json) {
            json_object_begin(&w);
            json_kv_string(&w, "group", group);
            json_kv_int(&w, "consumers", cc ? (int64_t)cc->n_conns : 0);
            json_kv_string(&w, "messageModel", model);
            json_kv_int(&w, "diffTotal", p->total_lag);
            json_object_end(&w);
        } else {
            mqadmin_table_row(&t, group, n, model, lag);
        }
        mq_consumer_connection_free(cc);
        mq_consumer_progress_free(p);
    }
    if (a->json) {
        json_array_end(&w);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        mqadmin_table_print(&t, stdout);
        mqadmin_table_free(&t);
    }
    mq_string_list_free(groups);
    mq_admin_free(admin);
    return rc;
}

static int write_perm(const mqadmin_args *a, bool writable)
{
    mq_admin *admin;
    int rc;
    const char *broker = mqadmin_open_for(a, 'b', "BROKER_NAME", &admin, &rc);
    if (!broker)
        return rc;
    mq_error err = {0};
    mq_kv_list *l;
    if (mq_admin_set_write_perm(admin, broker, writable, &l, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err(writable ? "add write perm" : "wipe write perm", &err);
    }
    for (size_t i = 0; i < l->n; i++)
        printf("%s write perm of broker[%s] in name server[%s] OK, %s\n", writable ? "add" : "wipe", broker,
               l->items[i].key, l->items[i].value);
    mq_kv_list_free(l);
    mq_admin_free(admin);
    return MQADMIN_OK;
}

int cmd_wipe_write_perm(const mqadmin_args *a) { return write_perm(a, false); }
int cmd_add_write_perm(const mqadmin_args *a) { return write_perm(a, true); }

int cmd_get_broker_config(const mqadmin_args *a)
{
    mq_admin *admin;
    int rc;
    const char *broker = mqadmin_open_for(a, 'b', "BROKER_ADDR", &admin, &rc);
    if (!broker)
        return rc;
    mq_error err = {0};
    mq_kv_list *kv;
    if (mq_admin_broker_config(admin, broker, &kv, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("broker config", &err);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        for (size_t i = 0; i < kv->n; i++)
            json_kv_string(&w, kv->items[i].key, kv->items[i].value);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        printf("============%s============\n", broker);
        for (size_t i = 0; i < kv->n; i++)
            printf("%-50s=  %s\n", kv->items[i].key, kv->items[i].value);
    }
    mq_kv_list_free(kv);
    mq_admin_free(admin);
    return rc;
}

int cmd_delete_sub_group(const mqadmin_args *a)
{
    const char *group = mqadmin_required(a, 'g', "GROUP");
    const char *broker = a->flags['b'], *cluster = a->flags['c'];
    if (!group)
        return MQADMIN_USAGE;
    if ((!broker || !*broker) == (!cluster || !*cluster))
        return mqadmin_usage(a, "give either -b BROKER_ADDR or -c CLUSTER");
    bool clean;
    int rc = mqadmin_bool_flag(a, 'r', false, &clean);
    if (rc != 0)
        return rc;
    mq_admin *admin;
    if ((rc = mqadmin_open(a, &admin)) != 0)
        return rc;
    mq_error err = {0};
    mq_string_list one, *addrs, *all;
    if ((rc = targets(a, admin, &broker, &one, &all, &addrs)) != 0) {
        mq_admin_free(admin);
        return rc;
    }
    size_t deleted = 0;
    for (size_t i = 0; i < addrs->n && rc == 0; i++) {
        mq_string_list *known = NULL; /* deleting what is not there is not a success */
        bool there = false;
        if (mq_admin_group_list(admin, addrs->items[i], &known, &err) != MQ_OK) {
            rc = mqadmin_fail_err("delete group", &err);
            break;
        }
        for (size_t k = 0; k < known->n && !there; k++)
            there = !strcmp(known->items[k], group);
        mq_string_list_free(known);
        if (!there) {
            fprintf(stderr, "mqadmin: subscription group %s does not exist on broker %s\n", group, addrs->items[i]);
            continue;
        }
        if (mq_admin_delete_group(admin, addrs->items[i], group, clean, &err) != MQ_OK) {
            rc = mqadmin_fail_err("delete group", &err);
        } else {
            deleted++;
            printf("delete subscription group [%s] from broker [%s] success%s.\n", group, addrs->items[i],
                   clean ? ", offsets removed" : "");
        }
    }
    if (rc == 0 && deleted == 0)
        rc = mqadmin_fail("subscription group %s does not exist, nothing deleted", group);
    mq_string_list_free(all);
    mq_admin_free(admin);
    return rc;
}

int cmd_update_broker_config(const mqadmin_args *a)
{
    const char *key = mqadmin_required(a, 'k', "KEY");
    const char *value = key ? mqadmin_required(a, 'v', "VALUE") : NULL;
    const char *broker = a->flags['b'], *cluster = a->flags['c'];
    if (!value)
        return MQADMIN_USAGE;
    if ((!broker || !*broker) == (!cluster || !*cluster))
        return mqadmin_usage(a, "give either -b BROKER_ADDR or -c CLUSTER");
    mq_admin *admin;
    int rc = mqadmin_open(a, &admin);
    if (rc != 0)
        return rc;
    mq_error err = {0};
    mq_string_list one, *addrs, *all;
    if ((rc = targets(a, admin, &broker, &one, &all, &addrs)) != 0) {
        mq_admin_free(admin);
        return rc;
    }
    for (size_t i = 0; i < addrs->n && rc == 0; i++) {
        if (mq_admin_update_broker_config(admin, addrs->items[i], key, value, &err) != MQ_OK)
            rc = err.code == MQ_EINVAL ? mqadmin_usage(a, "%s", err.message) : mqadmin_fail_err("update broker config", &err);
        else
            printf("update broker config success, %s\n", addrs->items[i]);
    }
    mq_string_list_free(all);
    mq_admin_free(admin);
    return rc;
}
