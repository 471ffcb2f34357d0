/*
 * metrics.c - the broker's Prometheus metrics, served on metricsPort
 * (GET /metrics) by common/http_server.c on the broker's loop.
 *
 * Traffic is counted by a remoting observer on the broker's dispatch table
 * (rm_dispatch_observe), so no request handler knows about metrics: on a
 * send or pull request the observer finds (or adds) the topic's counters
 * and returns them as the request's tag; when the answer leaves, the
 * observer counts it by result (the response status name), adds the bytes
 * and the latency (arrival to answer, long-polling included for pulls).
 * Everything else (stored/delivered totals, store, lag, connections) is
 * read from the broker's own state when scraped, so nothing is kept twice.
 *
 * Owned by the loop thread: the observer and the scrape run there, so the
 * counters need no atomics. Topic entries live until the broker stops
 * (series of a deleted topic stay, as Prometheus expects counters to).
 */
#include "ha/ha.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "consumer_offset.h"
#include "hashmap.h"
#include "http_server.h"
#include "log.h"
#include "prom.h"
#include "protocol.h"
#include "store/store.h"
#include "topic_config.h"
#include "util.h"

enum { OP_SEND = 0, OP_PULL = 1, OPS = 2, RESULTS_MAX = 12 };

static const char *const op_names[OPS] = {"send", "pull"};

typedef struct result_count {
    int32_t status;
    uint64_t n;
} result_count;

typedef struct topic_metrics {
    char *topic;
    result_count results[OPS][RESULTS_MAX]; /* distinct statuses seen, in order of arrival */
    int n_results[OPS];
    uint64_t bytes_in;   /* request bodies of sends */
    uint64_t bytes_out;  /* answer bodies of pulls */
} topic_metrics;

/* The observer's tag: the topic's counters and which operation. */
typedef struct op_tag {
    topic_metrics *t;
    int op;
} op_tag;

struct broker_metrics {
    broker *b;
    http_server *http;
    strmap topics;       /* name -> topic_metrics* */
    prom_histogram latency[OPS];
    int64_t start_ms;
};

/* ---- observing ---- */

static topic_metrics *topic_of(broker_metrics *m, const char *name)
{
    topic_metrics *t = strmap_get(&m->topics, name);
    if (!t) {
        t = xcalloc(1, sizeof(*t) + 2 * sizeof(op_tag));
        t->topic = xstrdup(name);
        strmap_put(&m->topics, name, t);
    }
    return t;
}

/* The two tags of a topic live right after its counters. */
static op_tag *tag_of(topic_metrics *t, int op) { return (op_tag *)(t + 1) + op; }

static void *on_request(void *arg, const rm_cmd *req)
{
    broker_metrics *m = arg;
    const char *topic = NULL;
    int op;
    switch (req->hdr->code) {
    case RC_SEND_MESSAGE:
    case RC_SEND_MESSAGE_V2:
    case RC_SEND_BATCH_MESSAGE:
        if (req->hdr->ext_case != MQ__REMOTING_HEADER__EXT_SEND_MESSAGE)
            return NULL;
        topic = req->hdr->send_message->topic;
        op = OP_SEND;
        break;
    case RC_PULL_MESSAGE:
        if (req->hdr->ext_case != MQ__REMOTING_HEADER__EXT_PULL_MESSAGE)
            return NULL;
        topic = req->hdr->pull_message->topic;
        op = OP_PULL;
        break;
    default:
        return NULL;
    }
    if (!topic || !*topic || strlen(topic) > 255)
        return NULL; /* the handler refuses it; not a topic's traffic */
    topic_metrics *t = topic_of(m, topic);
    if (op == OP_SEND)
        t->bytes_in += req->body_len;
    op_tag *tag = tag_of(t, op);
    tag->t = t;
    tag->op = op;
    return tag;
}

static void on_response(void *arg, void *tag_arg, int32_t request_code, int32_t status, size_t body_bytes,
                        int64_t elapsed_ns)
{
    (void)request_code;
    broker_metrics *m = arg;
    op_tag *tag = tag_arg;
    topic_metrics *t = tag->t;
    prom_histogram_observe(&m->latency[tag->op], (double)elapsed_ns / 1e9);
    if (tag->op == OP_PULL)
        t->bytes_out += body_bytes;
    result_count *r = t->results[tag->op];
    int n = t->n_results[tag->op];
    for (int i = 0; i < n; i++)
        if (r[i].status == status) {
            r[i].n++;
            return;
        }
    int slot = n < RESULTS_MAX ? n : RESULTS_MAX - 1; /* the last slot absorbs a flood of odd statuses */
    if (n < RESULTS_MAX) {
        r[slot].status = status;
        t->n_results[tag->op]++;
    }
    r[slot].n++;
}

/* ---- writing ---- */

static void write_traffic(broker_metrics *m, bytebuf *out)
{
    static const char *const names[OPS] = {"mq_send_requests_total", "mq_pull_requests_total"};
    static const char *const helps[OPS] = {"Send requests answered, by topic and result (response status).",
                                           "Pull requests answered, by topic and result (response status)."};
    for (int op = 0; op < OPS; op++) {
        prom_family(out, names[op], "counter", helps[op]);
        for (size_t it = 0; true;) {
            const char *name;
            void *v;
            if (!strmap_next(&m->topics, &it, &name, &v))
                break;
            topic_metrics *t = v;
            for (int i = 0; i < t->n_results[op]; i++)
                prom_sample(out, names[op], (double)t->results[op][i].n, 2, "topic", t->topic, "result",
                            rm_status_name(t->results[op][i].status));
        }
    }
    prom_family(out, "mq_received_bytes_total", "counter", "Bytes of send request bodies, by topic.");
    for (size_t it = 0;;) {
        const char *name;
        void *v;
        if (!strmap_next(&m->topics, &it, &name, &v))
            break;
        prom_sample(out, "mq_received_bytes_total", (double)((topic_metrics *)v)->bytes_in, 1, "topic", name);
    }
    prom_family(out, "mq_sent_bytes_total", "counter", "Bytes of pull answers (messages delivered), by topic.");
    for (size_t it = 0;;) {
        const char *name;
        void *v;
        if (!strmap_next(&m->topics, &it, &name, &v))
            break;
        prom_sample(out, "mq_sent_bytes_total", (double)((topic_metrics *)v)->bytes_out, 1, "topic", name);
    }
    prom_family(out, "mq_request_duration_seconds", "histogram",
                "Time from a send or pull request's arrival to its answer (pulls include long-polling).");
    for (int op = 0; op < OPS; op++)
        prom_histogram_write(out, "mq_request_duration_seconds", &m->latency[op], "op", op_names[op]);
}

/* Lag of every group with committed offsets, summed over the topic's queues. */
static void write_lag(broker_metrics *m, bytebuf *out)
{
    broker *b = m->b;
    prom_family(out, "mq_consumer_lag_messages", "gauge",
                "Messages stored but not yet consumed, by consumer group and topic (queues of this broker).");
    const topic_config *tc;
    for (size_t it = 0; topic_table_next(b->topics, &it, &tc);) {
        char **groups;
        size_t ng = offset_manager_groups_of(b->offsets, tc->name, &groups);
        for (size_t g = 0; g < ng; g++) {
            int64_t lag = 0;
            for (int32_t q = 0; q < tc->read_queue_nums; q++) {
                int64_t min, max, consumer;
                store_queue_offsets(b->store, tc->name, q, &min, &max);
                if (!offset_manager_query(b->offsets, groups[g], tc->name, q, &consumer) || consumer < min)
                    consumer = min;
                if (max > consumer)
                    lag += max - consumer;
            }
            prom_sample(out, "mq_consumer_lag_messages", (double)lag, 2, "group", groups[g], "topic", tc->name);
            free(groups[g]);
        }
        free(groups);
    }
}

static void write_store(broker_metrics *m, bytebuf *out)
{
    broker *b = m->b;
    store_stats ss;
    store_get_stats(b->store, &ss);
    const broker_config *c = &b->cfg;
    struct {
        const char *name, *type, *help;
        double v;
    } rows[] = {
        {"mq_messages_stored_total", "counter", "Messages stored by this broker since it started.",
         (double)ss.put_msgs},
        {"mq_messages_delivered_total", "counter", "Messages sent to consumers since the broker started.",
         (double)b->stats.get_msgs},
        {"mq_commitlog_min_offset_bytes", "gauge", "Smallest CommitLog offset still stored.",
         (double)ss.commitlog_min_offset},
        {"mq_commitlog_max_offset_bytes", "gauge", "CommitLog offset the next message will be written at.",
         (double)ss.commitlog_max_offset},
        {"mq_commitlog_unflushed_bytes", "gauge", "CommitLog bytes written but not yet flushed to disk.",
         (double)(ss.commitlog_max_offset - ss.flushed_offset)},
        {"mq_dispatch_lag_bytes", "gauge", "CommitLog bytes not yet dispatched to consume queues and indexes.",
         (double)ss.dispatch_lag_bytes},
        {"mq_disk_used_ratio", "gauge", "Used fraction of the store's disk (0..1).", ss.disk_used_ratio / 100.0},
        {"mq_disk_max_used_ratio", "gauge", "diskMaxUsedSpaceRatio: above it expired CommitLog files are deleted at once.",
         c->disk_max_used_space_ratio / 100.0},
        {"mq_disk_clean_forcibly_ratio", "gauge", "diskSpaceCleanForciblyRatio: above it unexpired files are deleted too.",
         c->disk_space_clean_forcibly_ratio / 100.0},
        {"mq_disk_warning_ratio", "gauge", "diskSpaceWarningLevelRatio: above it sends are refused (disk full).",
         c->disk_space_warning_level_ratio / 100.0},
        {"mq_disk_full", "gauge", "1 while writes are refused for lack of space.", ss.disk_full ? 1 : 0},
        {"mq_store_io_error", "gauge", "1 while writes are refused after a flush error.", ss.io_error ? 1 : 0},
        {"mq_fsync_total", "counter", "CommitLog flush rounds that synced data to disk.", (double)ss.fsync_count},
        {"mq_fsync_messages_total", "counter", "Messages made durable by those flush rounds.", (double)ss.fsync_msgs},
        {"mq_flush_max_seconds", "gauge", "Slowest CommitLog flush round (write-back and fsync) since start.",
         (double)ss.flush_max_us / 1e6},
        {"mq_flush_timeouts_total", "counter", "SYNC_FLUSH sends answered FLUSH_DISK_TIMEOUT.", (double)ss.flush_timeouts},
        {"mq_flush_errors_total", "counter", "Failed CommitLog flushes.", (double)ss.flush_errors},
        {"mq_commitlog_segments", "gauge", "CommitLog segment files.", (double)ss.segments},
        {"mq_consume_queues", "gauge", "Consume queues.", (double)ss.queues},
        {"mq_connections", "gauge", "Open client connections.",
         b->server ? (double)rm_server_conn_count(b->server) : 0},
        {"mq_start_time_seconds", "gauge", "When the broker started (seconds since the epoch).", (double)b->start_ms / 1e3},
    };
    for (size_t i = 0; i < MQ_ARRAY_LEN(rows); i++) {
        prom_family(out, rows[i].name, rows[i].type, rows[i].help);
        prom_sample(out, rows[i].name, rows[i].v, 0);
    }
}

/* Replication (broker/ha): role, slaves and lag on a master, position on a slave. */
static void write_ha(broker_metrics *m, bytebuf *out)
{
    ha_stats hs;
    ha_get_stats(m->b->ha, &hs);
    static const char *const roles[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE"};
    prom_family(out, "mq_ha_role", "gauge", "Replication role of this broker (value 1).");
    prom_sample(out, "mq_ha_role", 1, 1, "role", roles[m->b->cfg.broker_role % 3]);
    struct {
        const char *name, *type, *help;
        double v;
    } rows[] = {
        {"mq_ha_epoch", "gauge", "Last epoch of this broker's epoch history (failover).", (double)hs.epoch},
        {"mq_ha_slaves", "gauge", "Master: connected slaves.", (double)hs.slaves},
        {"mq_ha_lag_bytes", "gauge", "Master: CommitLog bytes the best connected slave has not acknowledged.",
         (double)hs.lag_bytes},
        {"mq_ha_sync_timeouts_total", "counter", "SYNC_MASTER sends answered FLUSH_SLAVE_TIMEOUT.", (double)hs.sync_timeouts},
        {"mq_ha_sync_slave_not_available_total", "counter", "SYNC_MASTER sends answered SLAVE_NOT_AVAILABLE.",
         (double)hs.sync_not_available},
        {"mq_ha_slave_connected", "gauge", "Slave: 1 while connected to the master's HA port.", hs.connected ? 1 : 0},
        {"mq_ha_received_bytes_total", "counter", "Slave: bytes received from the master.", (double)hs.bytes_received},
    };
    for (size_t i = 0; i < MQ_ARRAY_LEN(rows); i++) {
        prom_family(out, rows[i].name, rows[i].type, rows[i].help);
        prom_sample(out, rows[i].name, rows[i].v, 0);
    }
}

void broker_metrics_write(broker_metrics *m, bytebuf *out)
{
    prom_family(out, "mq_broker_info", "gauge", "Identity of this broker (value 1).");
    prom_sample(out, "mq_broker_info", 1, 3, "cluster", m->b->cfg.broker_cluster_name, "broker", m->b->cfg.broker_name,
                "addr", m->b->addr);
    write_traffic(m, out);
    write_store(m, out);
    write_lag(m, out);
    write_ha(m, out);
}

static void on_http(void *arg, const http_request *req, http_response *resp)
{
    broker_metrics *m = arg;
    if (http_method_refused(req, resp, "GET, HEAD"))
        return;
    if (strcmp(req->path, "/metrics") != 0) {
        http_response_error(resp, 404, "no such path: the broker serves /metrics");
        return;
    }
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    broker_metrics_write(m, &resp->body);
}

broker_metrics *broker_metrics_start(broker *b, int port, char *err, size_t errlen)
{
    broker_metrics *m = xcalloc(1, sizeof *m);
    m->b = b;
    strmap_init(&m->topics);
    m->http = http_server_start(b->loop, port, 16, on_http, m, err, errlen);
    if (!m->http) {
        strmap_free(&m->topics);
        free(m);
        return NULL;
    }
    rm_observer o = {on_request, on_response, m};
    rm_dispatch_observe(b->dispatch, &o);
    log_info("broker metrics on port %d (GET /metrics)", http_server_port(m->http));
    return m;
}

int broker_metrics_port(const broker_metrics *m) { return http_server_port(m->http); }

void broker_metrics_stop(broker_metrics *m)
{
    if (!m)
        return;
    rm_observer none = {0};
    if (m->b->dispatch)
        rm_dispatch_observe(m->b->dispatch, &none);
    http_server_stop(m->http);
    for (size_t it = 0;;) {
        const char *name;
        void *v;
        if (!strmap_next(&m->topics, &it, &name, &v))
            break;
        free(((topic_metrics *)v)->topic);
        free(v);
    }
    strmap_free(&m->topics);
    free(m);
}
