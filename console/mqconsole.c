/*
 * mqconsole.c - the web console: one static page (console/index.html,
 * compiled in) and the JSON API it reads, served over HTTP by GNU
 * libmicrohttpd (common/http_server.c, threaded mode) on top of
 * libmqclient's admin API - a separate program, so the nameserver and the
 * brokers never make blocking calls for a browser.
 *
 *   GET  /                      the page
 *   GET  /api/cluster           clusters, brokers and each broker's runtime status (brokerStatus)
 *   GET  /api/topics            topic names
 *   GET  /api/topic?topic=T     route and per-queue offsets (topicRoute + topicStatus)
 *   GET  /api/group?group=G[&topic=T]   per-queue lag (consumerProgress)
 *   POST /api/reset?group=G&topic=T&time=MS|now   offsets to a time (resetOffsetByTime)
 *   GET  /api/message?topic=T&key=K | ?id=ID[&topic=T]   lookup (queryMsgByKey / queryMsgById)
 *
 * JSON shapes follow mqadmin --json. Errors are {"status":N,"error":"..."}:
 * 400 bad or missing parameter, 404 nothing found, 502 a server failed.
 *
 * Threads: the library's listener and one thread per connection run the
 * handlers; they share one mq_admin handle (safe for concurrent calls).
 * The main thread waits for SIGTERM/SIGINT and stops. Listens on
 * 127.0.0.1 unless --listenAddress says otherwise: the reset action
 * changes consumer offsets and the console has no login.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "json.h"
#include "mq/admin.h"
#include "mq/admin_query.h"
#include "msg_json.h"
#include "util.h"
#include "process.h"

extern const unsigned char console_page[];
extern const unsigned long console_page_len;

enum { BODY_LIMIT = 4096 };

typedef struct console {
    mq_admin *admin;
} console;

/* ---- helpers ---- */

static void begin(json_writer *w, http_response *resp)
{
    json_writer_init(w, &resp->body, false);
    json_object_begin(w);
}

static void end(json_writer *w) { json_object_end(w), json_writer_finish(w); }

static void fail(http_response *resp, const mq_error *err)
{
    int status = err->code == MQ_EINVAL ? 400 : err->code == MQ_ENOTFOUND || err->code == MQ_ENOROUTE ? 404 : 502;
    http_response_error(resp, status, "%s", err->message);
}

static const char *need(const http_request *req, http_response *resp, const char *name)
{
    const char *v = http_request_arg(req, name);
    if (!v || !*v)
        http_response_error(resp, 400, "parameter %s is required", name);
    return v && *v ? v : NULL;
}

static void json_kv_list(json_writer *w, const mq_kv_list *kv)
{
    json_object_begin(w);
    for (size_t i = 0; i < kv->n; i++)
        json_kv_string(w, kv->items[i].key, kv->items[i].value);
    json_object_end(w);
}

/* ---- handlers ---- */

static void api_cluster(console *c, http_response *resp)
{
    mq_error err = {0};
    mq_cluster_info *ci;
    if (mq_admin_cluster_info(c->admin, &ci, &err) != MQ_OK)
        return fail(resp, &err);
    json_writer w;
    begin(&w, resp);
    json_key(&w, "clusters");
    json_array_begin(&w);
    for (size_t i = 0; i < ci->n_clusters; i++) {
        json_object_begin(&w);
        json_kv_string(&w, "name", ci->clusters[i].name);
        json_key(&w, "brokerNames");
        json_array_begin(&w);
        for (size_t k = 0; k < ci->clusters[i].n_broker_names; k++)
            json_str(&w, ci->clusters[i].broker_names[k]);
        json_array_end(&w);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_key(&w, "brokers");
    json_array_begin(&w);
    for (size_t i = 0; i < ci->n_brokers; i++) {
        const mq_broker_info *b = &ci->brokers[i];
        for (size_t k = 0; k < b->n_addrs; k++) {
            json_object_begin(&w);
            json_kv_string(&w, "cluster", b->cluster);
            json_kv_string(&w, "brokerName", b->broker_name);
            json_kv_int(&w, "brokerId", b->addrs[k].id);
            json_kv_string(&w, "addr", b->addrs[k].addr);
            mq_kv_list *kv;
            mq_error e = {0};
            if (mq_admin_broker_runtime_info(c->admin, b->addrs[k].addr, &kv, &e) == MQ_OK) {
                json_key(&w, "status");
                json_kv_list(&w, kv);
                mq_kv_list_free(kv);
            } else {
                json_kv_string(&w, "error", e.message);
            }
            json_object_end(&w);
        }
    }
    json_array_end(&w);
    end(&w);
    mq_cluster_info_free(ci);
}

static void api_topics(console *c, http_response *resp)
{
    mq_error err = {0};
    mq_string_list *l;
    if (mq_admin_topic_list(c->admin, NULL, &l, &err) != MQ_OK)
        return fail(resp, &err);
    json_writer w;
    begin(&w, resp);
    json_key(&w, "topicList");
    json_array_begin(&w);
    for (size_t i = 0; i < l->n; i++)
        json_str(&w, l->items[i]);
    json_array_end(&w);
    end(&w);
    mq_string_list_free(l);
}

static void api_topic(console *c, const http_request *req, http_response *resp)
{
    const char *topic = need(req, resp, "topic");
    if (!topic)
        return;
    mq_error err = {0};
    mq_topic_route *r;
    mq_topic_status *st;
    if (mq_admin_topic_route(c->admin, topic, &r, &err) != MQ_OK)
        return fail(resp, &err);
    if (mq_admin_topic_status(c->admin, topic, &st, &err) != MQ_OK) {
        mq_topic_route_free(r);
        return fail(resp, &err);
    }
    json_writer w;
    begin(&w, resp);
    json_kv_string(&w, "topic", topic);
    topic_route_json_write(&w, r);
    json_key(&w, "queues");
    json_array_begin(&w);
    for (size_t i = 0; i < st->n; i++)
        queue_offsets_json_write(&w, &st->queues[i]);
    json_array_end(&w);
    end(&w);
    mq_topic_route_free(r);
    mq_topic_status_free(st);
}

static void api_group(console *c, const http_request *req, http_response *resp)
{
    const char *group = need(req, resp, "group");
    if (!group)
        return;
    const char *topic = http_request_arg(req, "topic");
    mq_error err = {0};
    mq_consumer_progress *p;
    if (mq_admin_consumer_progress(c->admin, group, topic && *topic ? topic : NULL, &p, &err) != MQ_OK)
        return fail(resp, &err);
    json_writer w;
    begin(&w, resp);
    json_kv_string(&w, "group", group);
    json_kv_int(&w, "totalLag", p->total_lag);
    json_key(&w, "queues");
    json_array_begin(&w);
    for (size_t i = 0; i < p->n; i++) {
        const mq_queue_progress *q = &p->queues[i];
        json_object_begin(&w);
        json_kv_string(&w, "topic", q->topic);
        json_kv_string(&w, "brokerName", q->broker_name);
        json_kv_int(&w, "queueId", q->queue_id);
        json_kv_int(&w, "brokerOffset", q->broker_offset);
        json_kv_int(&w, "consumerOffset", q->consumer_offset);
        json_kv_int(&w, "lag", q->lag);
        json_kv_int(&w, "lastTimestamp", q->last_timestamp);
        json_object_end(&w);
    }
    json_array_end(&w);
    end(&w);
    mq_consumer_progress_free(p);
}

static void api_reset(console *c, const http_request *req, http_response *resp)
{
    const char *group = need(req, resp, "group");
    const char *topic = group ? need(req, resp, "topic") : NULL;
    const char *time = topic ? need(req, resp, "time") : NULL;
    if (!time)
        return;
    int64_t ms;
    if (!strcmp(time, "now"))
        ms = now_ms();
    else if (parse_int64(time, 0, INT64_MAX, &ms) != 0)
        return http_response_error(resp, 400, "time '%s' is not milliseconds since the epoch or now", time);
    mq_error err = {0};
    mq_queue_offset_list *l;
    if (mq_admin_reset_offset_by_time(c->admin, group, topic, ms, true, &l, &err) != MQ_OK)
        return fail(resp, &err);
    json_writer w;
    begin(&w, resp);
    json_key(&w, "offsets");
    json_array_begin(&w);
    for (size_t i = 0; l && i < l->n; i++) {
        json_object_begin(&w);
        json_kv_string(&w, "brokerName", l->items[i].broker_name);
        json_kv_int(&w, "queueId", l->items[i].queue_id);
        json_kv_int(&w, "offset", l->items[i].offset);
        json_object_end(&w);
    }
    json_array_end(&w);
    end(&w);
    mq_queue_offset_list_free(l);
}

static void api_message(console *c, const http_request *req, http_response *resp)
{
    const char *topic = http_request_arg(req, "topic"), *key = http_request_arg(req, "key");
    const char *id = http_request_arg(req, "id");
    mq_error err = {0};
    mq_message_list *l = NULL;
    int rc;
    if (id && *id)
        rc = mq_admin_query_msg_id(c->admin, topic, id, &l, &err);
    else if (key && *key && topic && *topic)
        rc = mq_admin_query_key(c->admin, topic, key, 0, INT64_MAX, 0, &l, &err);
    else
        return http_response_error(resp, 400, "give id (and topic for a unique id), or topic and key");
    if (rc != MQ_OK)
        return fail(resp, &err);
    json_writer w;
    begin(&w, resp);
    json_key(&w, "messages");
    json_array_begin(&w);
    for (size_t i = 0; i < l->n; i++)
        msg_json_write(&w, l->msgs[i], BODY_LIMIT);
    json_array_end(&w);
    end(&w);
    mq_message_list_free(l);
}

static void on_request(void *arg, const http_request *req, http_response *resp)
{
    console *c = arg;
    const char *p = req->path;
    if (!strcmp(p, "/api/reset")) {
        if (!http_method_refused(req, resp, "POST"))
            api_reset(c, req, resp);
        return;
    }
    if (http_method_refused(req, resp, "GET, HEAD"))
        return;
    if (!strcmp(p, "/") || !strcmp(p, "/index.html")) {
        resp->content_type = "text/html; charset=utf-8";
        bytebuf_append(&resp->body, console_page, console_page_len);
    } else if (!strcmp(p, "/api/cluster")) {
        api_cluster(c, resp);
    } else if (!strcmp(p, "/api/topics")) {
        api_topics(c, resp);
    } else if (!strcmp(p, "/api/topic")) {
        api_topic(c, req, resp);
    } else if (!strcmp(p, "/api/group")) {
        api_group(c, req, resp);
    } else if (!strcmp(p, "/api/message")) {
        api_message(c, req, resp);
    } else {
        http_response_error(resp, 404, "no such path: the console serves / and /api/{cluster,topics,topic,group,reset,message}");
    }
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out, "Usage: mqconsole -n NAMESRV [--listenPort=8080] [--listenAddress=127.0.0.1]\n"
                 "  Serves the web console at http://ADDRESS:PORT/ (port 0: any free port).\n"
                 "  NAMESRV may also come from NAMESRV_ADDR.\n");
}

int main(int argc, char **argv)
{
    if (process_version_asked("mqconsole", argc, argv))
        return 0;
    const char *ns = NULL, *listen = "127.0.0.1";
    int64_t port = 8080;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-n") && i + 1 < argc) {
            ns = argv[++i];
        } else if (!strncmp(a, "--namesrvAddr=", 14)) {
            ns = a + 14;
        } else if (!strncmp(a, "--listenAddress=", 16)) {
            listen = a + 16;
        } else if (!strncmp(a, "--listenPort=", 13)) {
            if (parse_int64(a + 13, 0, 65535, &port) != 0) {
                fprintf(stderr, "mqconsole: --listenPort '%s' is not a port number\n", a + 13);
                return 2;
            }
        } else {
            fprintf(stderr, "mqconsole: %s '%s' (see mqconsole --help)\n", a[0] == '-' ? "unknown flag" : "unexpected argument", a);
            usage(stderr);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts: they inherit it */
    console c = {0};
    mq_error err = {0};
    if (mq_admin_new(ns, 0, &c.admin, &err) != MQ_OK) {
        fprintf(stderr, "mqconsole: %s\n", err.message);
        return 2;
    }
    char why[256];
    http_server *http = http_server_start_threaded(listen, (int)port, 64, on_request, &c, why, sizeof why);
    if (!http) {
        fprintf(stderr, "mqconsole: %s\n", why);
        mq_admin_free(c.admin);
        return 1;
    }
    printf("mqconsole listening on port %d (http://%s:%d/)\n", http_server_port(http), listen, http_server_port(http));
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    printf("mqconsole stopping (signal %d)\n", sig);
    http_server_stop(http);
    mq_admin_free(c.admin);
    return 0;
}
