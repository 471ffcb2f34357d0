/*
 * broker.c - the broker's life cycle (broker.h): what starts in which order,
 * and how it stops.
 *
 * Start: metadata database (<storePathRootDir>/config) -> topic and group
 * tables (plus RocketMQ's start-up topics) -> store -> processors -> listen
 * -> registrar. Stop (SIGTERM/SIGINT): unregister from the nameservers
 * (bounded wait), stop the server, break the loop; broker_destroy frees the
 * rest in reverse order. All on the loop thread.
 */
#include "broker.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "meta_db.h"
#include "namesrv_register.h"
#include "processors.h"
#include "subscription_group.h"
#include "topic_config.h"
#include "util.h"

/* Topics RocketMQ's broker creates at start (TopicConfigManager). */
static int create_startup_topics(broker *b, char *err, size_t errlen)
{
    int rw = PERM_READ | PERM_WRITE;
    if (b->cfg.auto_create_topic_enable &&
        !topic_table_ensure(b->topics, TOPIC_AUTO_CREATE, b->cfg.default_topic_queue_nums,
                            b->cfg.default_topic_queue_nums, rw | PERM_INHERIT, 0))
        goto fail;
    if (!topic_table_ensure(b->topics, TOPIC_SELF_TEST, 1, 1, rw, 0) ||
        !topic_table_ensure(b->topics, TOPIC_OFFSET_MOVED_EVENT, 1, 1, rw, 0))
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create the start-up system topics in the metadata database");
    return -1;
}

static int resolve_address(broker *b, char *err, size_t errlen)
{
    char ip[48];
    if (b->cfg.broker_ip1[0])
        str_copy(ip, sizeof ip, b->cfg.broker_ip1);
    else
        addr_local_ip(ip, sizeof ip);
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1) {
        snprintf(err, errlen, "brokerIP1 '%s' is not an IPv4 address", ip);
        return -1;
    }
    b->ip4 = ntohl(a.s_addr);
    snprintf(b->addr, sizeof b->addr, "%s:%d", ip, b->port);
    return 0;
}

static void on_topics_changed(void *arg)
{
    broker *b = arg;
    registrar_trigger(b->registrar);
}

int broker_init(broker *b, const broker_config *cfg, struct ev_loop *loop, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    b->loop = loop;
    b->start_ms = now_ms();
    b->q = evq_new(loop);

    char dir[1100];
    snprintf(dir, sizeof dir, "%s/config", cfg->store_path_root_dir);
    if (meta_db_open(dir, &b->meta, err, errlen) != 0)
        goto fail;
    if (topic_table_open(b->meta, &b->topics, err, errlen) != 0 ||
        group_table_open(b->meta, &b->groups, err, errlen) != 0)
        goto fail;
    if (create_startup_topics(b, err, errlen) != 0)
        goto fail;
    log_info("metadata loaded from %s: %zu topics, %zu subscription groups", dir,
             topic_table_count(b->topics), group_table_count(b->groups));

    /* store: opened here once broker/store lands */

    b->dispatch = rm_dispatch_new();
    processor_admin_register(b);

    rm_options opts;
    rm_options_default(&opts);
    opts.max_frame = (uint32_t)cfg->max_frame_size;
    opts.write_limit_bytes = (size_t)cfg->server_write_limit_bytes;
    b->server = rm_server_new(loop, &opts, b->dispatch);
    if (rm_server_listen(b->server, "0.0.0.0", cfg->listen_port, err, errlen) != 0)
        goto fail;
    b->port = rm_server_port(b->server);
    if (resolve_address(b, err, errlen) != 0)
        goto fail;

    if (registrar_new(b, &b->registrar, err, errlen) != 0)
        goto fail;
    topic_table_on_change(b->topics, on_topics_changed, b);
    registrar_start(b->registrar);
    return 0;
fail:
    broker_destroy(b);
    return -1;
}

static void on_unregistered(void *arg)
{
    broker *b = arg;
    rm_server_free(b->server);
    b->server = NULL;
    log_info("broker %s stopped serving", b->cfg.broker_name);
    ev_break(b->loop, EVBREAK_ALL);
}

void broker_stop(broker *b)
{
    if (b->stopping)
        return;
    b->stopping = true;
    log_info("broker %s stopping: unregistering from the nameservers", b->cfg.broker_name);
    /* store: flush offsets and close the store cleanly here once broker/store lands */
    if (b->registrar)
        registrar_unregister_all(b->registrar, on_unregistered, b);
    else
        on_unregistered(b);
}

void broker_destroy(broker *b)
{
    if (b->topics)
        topic_table_on_change(b->topics, NULL, NULL);
    registrar_free(b->registrar);
    b->registrar = NULL;
    rm_server_free(b->server);
    b->server = NULL;
    rm_dispatch_free(b->dispatch);
    b->dispatch = NULL;
    group_table_free(b->groups);
    b->groups = NULL;
    topic_table_free(b->topics);
    b->topics = NULL;
    meta_db_close(b->meta);
    b->meta = NULL;
    if (b->q)
        evq_free(b->q);
    b->q = NULL;
}
