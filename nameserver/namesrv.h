/*
 * namesrv.h - the nameserver's context: configuration, the loop, the
 * transport server, the route tables and the optional HTTP endpoint.
 *
 * One namesrv per process; everything here is owned by the loop thread
 * ("main"), which runs the request handlers (processor.c), the expiry sweep
 * and the HTTP endpoint (http.c). Routes are not persisted: a restarted
 * nameserver relearns them from the next broker registrations. Only the KV
 * config is, when kvConfigPath is set (kv_config.h).
 */
#ifndef MQ_NAMESRV_H
#define MQ_NAMESRV_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "arena.h"
#include "bytes.h"
#include "config.h"
#include "kv_config.h"
#include "remoting.h"
#include "route_info.h"

typedef struct namesrv_config {
    int32_t listen_port;
    int64_t broker_channel_expired_time;
    int32_t scan_not_active_broker_interval;
    int32_t http_port;
    int32_t http_max_connections;
    int32_t metrics_port;
    int32_t max_frame_size;
    int32_t server_frame_timeout_millis;
    int64_t server_input_max_bytes;
    int32_t server_max_connections;
    char log_level[16];
    char log_file[1024];
    char kv_config_path[1024];
    bool order_message_enable;
} namesrv_config;

extern const cfg_option namesrv_config_options[];

struct ns_http;
struct ns_metrics;

typedef struct namesrv {
    namesrv_config cfg;
    struct ev_loop *loop;
    rm_dispatch *dispatch;
    rm_server *server;
    ns_routes *routes;
    ns_kv *kv;              /* KV config (kv_config.h) */
    arena scratch;          /* answers are built here; reset after each request */
    ev_timer scan_timer;    /* expiry sweep */
    struct ns_http *http;   /* NULL when httpPort = 0 */
    struct ns_http *metrics_http; /* NULL when metricsPort = -1 */
    struct ns_metrics *metrics;   /* metrics.c: request counters */
} namesrv;

/* Creates the tables, registers the request handlers, listens on
 * listenPort (and httpPort), starts the expiry sweep. Returns 0, or -1 with
 * err. */
int namesrv_start(namesrv *ns, const namesrv_config *cfg, struct ev_loop *loop, char *err,
                  size_t errlen);
/* Stops listening and frees everything (loop thread, after or before ev_run). */
void namesrv_stop(namesrv *ns);

/* processor.c: binds the nameserver's request codes to their handlers. */
void ns_processor_register(namesrv *ns);

/* http.c: the read-only HTTP/JSON endpoint. */
struct ns_http *ns_http_start(namesrv *ns, int port, int max_connections, char *err, size_t errlen);
int ns_http_port(const struct ns_http *h);
void ns_http_stop(struct ns_http *h);

/* metrics.c: Prometheus metrics (served on httpPort and metricsPort). */
void ns_metrics_init(namesrv *ns);
void ns_metrics_free(namesrv *ns);
void ns_metrics_write(namesrv *ns, bytebuf *out);

#endif
