/*
 * metrics.c - the nameserver's Prometheus metrics (GET /metrics on
 * metricsPort, and on httpPort): requests by type and result with their
 * latency, route table sizes, connections and frames.
 *
 * Requests are counted by a remoting observer on the nameserver's dispatch
 * table (rm_dispatch_observe), so the handlers know nothing of metrics.
 * Loop thread only, like everything in the nameserver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "namesrv.h"
#include "prom.h"
#include "protocol.h"
#include "util.h"

struct ns_metrics {
    u64map counts;          /* (request code << 32 | status) -> uint64_t* */
    prom_histogram latency;
    int64_t start_ms;
};

static void *on_request(void *arg, const rm_cmd *req)
{
    (void)req;
    return arg; /* every request is observed */
}

static void on_response(void *arg, void *tag, int32_t code, int32_t status, size_t bytes, int64_t elapsed_ns)
{
    (void)tag;
    (void)bytes;
    struct ns_metrics *m = arg;
    uint64_t key = (uint64_t)(uint32_t)code << 32 | (uint32_t)status;
    uint64_t *n = u64map_get(&m->counts, key);
    if (!n) {
        if (m->counts.count >= 1024)
            return; /* bounded: junk request codes cannot grow it without end */
        n = xcalloc(1, sizeof *n);
        u64map_put(&m->counts, key, n);
    }
    (*n)++;
    prom_histogram_observe(&m->latency, (double)elapsed_ns / 1e9);
}

void ns_metrics_init(namesrv *ns)
{
    struct ns_metrics *m = xcalloc(1, sizeof *m);
    u64map_init(&m->counts);
    m->start_ms = now_ms();
    ns->metrics = m;
    rm_observer o = {on_request, on_response, m};
    rm_dispatch_observe(ns->dispatch, &o);
}

void ns_metrics_free(namesrv *ns)
{
    struct ns_metrics *m = ns->metrics;
    if (!m)
        return;
    rm_observer none = {0};
    if (ns->dispatch)
        rm_dispatch_observe(ns->dispatch, &none);
    void *v;
    for (size_t it = 0; u64map_next(&m->counts, &it, NULL, &v);)
        free(v);
    u64map_free(&m->counts);
    free(m);
    ns->metrics = NULL;
}

void ns_metrics_write(namesrv *ns, bytebuf *out)
{
    struct ns_metrics *m = ns->metrics;
    prom_family(out, "mq_namesrv_requests_total", "counter", "Requests answered, by request type and result.");
    uint64_t key;
    void *v;
    for (size_t it = 0; m && u64map_next(&m->counts, &it, &key, &v);) {
        char code[16], status[16];
        const char *req = rm_code_name((int32_t)(key >> 32)), *res = rm_status_name((int32_t)(uint32_t)key);
        if (!req || !strcmp(req, "UNKNOWN"))
            snprintf(code, sizeof code, "%d", (int32_t)(key >> 32)), req = code;
        if (!res || !strcmp(res, "UNKNOWN"))
            snprintf(status, sizeof status, "%d", (int32_t)(uint32_t)key), res = status;
        prom_sample(out, "mq_namesrv_requests_total", (double)*(uint64_t *)v, 2, "request", req, "result", res);
    }
    prom_family(out, "mq_namesrv_request_duration_seconds", "histogram", "Time from a request's arrival to its answer.");
    if (m)
        prom_histogram_write(out, "mq_namesrv_request_duration_seconds", &m->latency, NULL, NULL);
    Mq__ClusterInfo *ci;
    ns_routes_cluster_info(ns->routes, &ns->scratch, &ci);
    rm_stats st;
    rm_stats_get(&st);
    struct {
        const char *name, *type, *help;
        double v;
    } rows[] = {
        {"mq_namesrv_clusters", "gauge", "Clusters with at least one registered broker.", (double)ci->n_clusteraddrtable},
        {"mq_namesrv_broker_groups", "gauge", "Broker groups (broker names) known.", (double)ci->n_brokeraddrtable},
        {"mq_namesrv_live_brokers", "gauge", "Broker addresses whose registration has not expired.",
         (double)ns_routes_live_count(ns->routes)},
        {"mq_namesrv_topics", "gauge", "Topics with a route.", (double)ns_routes_topic_count(ns->routes)},
        {"mq_connections", "gauge", "Open connections (brokers and clients).",
         ns->server ? (double)rm_server_conn_count(ns->server) : 0},
        {"mq_frames_received_total", "counter", "Remoting frames read.", (double)st.frames_in},
        {"mq_frames_sent_total", "counter", "Remoting frames written.", (double)st.frames_out},
        {"mq_start_time_seconds", "gauge", "When the nameserver started (seconds since the epoch).",
         m ? (double)m->start_ms / 1e3 : 0},
    };
    for (size_t i = 0; i < MQ_ARRAY_LEN(rows); i++) {
        prom_family(out, rows[i].name, rows[i].type, rows[i].help);
        prom_sample(out, rows[i].name, rows[i].v, 0);
    }
    arena_reset(&ns->scratch);
}
