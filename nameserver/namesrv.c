/*
 * namesrv.c - the nameserver's configuration table and its start and stop:
 * tables, request handlers, TCP listener, optional HTTP endpoint, and the
 * expiry sweep that runs every scanNotActiveBrokerInterval ms on the loop.
 * All on the loop thread.
 */
#include "namesrv.h"

#include <string.h>

#include "util.h"

#define N namesrv_config
const cfg_option namesrv_config_options[] = {
    CFG_INT(N, listen_port, "listenPort", "9876", 0, 65535, "TCP port (0 = any free port)"),
    CFG_INT64(N, broker_channel_expired_time, "brokerChannelExpiredTime", "120000", 100, 86400000, "ms of broker silence before it is dropped"),
    CFG_INT(N, scan_not_active_broker_interval, "scanNotActiveBrokerInterval", "5000", 10, 600000, "ms between sweeps for silent brokers"),
    CFG_INT(N, http_port, "httpPort", "0", 0, 65535, "read-only HTTP/JSON port (0 = off)"),
    CFG_INT(N, http_max_connections, "httpMaxConnections", "64", 1, 10000, "concurrent HTTP connections served"),
    CFG_INT(N, metrics_port, "metricsPort", "-1", -1, 65535, "HTTP port of GET /metrics (Prometheus; -1 = off, 0 = any free port)"),
    CFG_INT(N, max_frame_size, "maxFrameSize", "16777216", 1024, 1 << 30, "largest frame accepted on a connection"),
    CFG_INT(N, server_frame_timeout_millis, "serverFrameTimeoutMillis", "30000", 0, 3600000, "ms a frame may take from its first byte to its last before the client is dropped (0 = no limit)"),
    CFG_INT64(N, server_input_max_bytes, "serverInputMaxBytes", "67108864", 0, (int64_t)1 << 40, "bytes of unfinished frames all clients together may hold; over it the oldest is dropped (0 = no limit)"),
    CFG_INT(N, server_max_connections, "serverMaxConnections", "0", 0, 1 << 24, "client connections open at once, more are closed at accept (0 = descriptor limit less 256)"),
    CFG_STRING(N, log_level, "logLevel", "info", "debug, info, warn or error"),
    CFG_STRING(N, log_file, "logFile", "", "append logs to this file (default: stderr)"),
    CFG_STRING(N, kv_config_path, "kvConfigPath", "", "file that keeps the KV config (RocketMQ's kvConfig.json; empty = memory only)"),
    CFG_BOOL(N, order_message_enable, "orderMessageEnable", "false", "put ORDER_TOPIC_CONFIG KV entries in routes as orderTopicConf"),
    CFG_END,
};
#undef N

static void on_scan(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    namesrv *ns = w->data;
    ns_routes_expire(ns->routes, mono_ms(), ns->cfg.broker_channel_expired_time);
}

int namesrv_start(namesrv *ns, const namesrv_config *cfg, struct ev_loop *loop, char *err,
                  size_t errlen)
{
    memset(ns, 0, sizeof *ns);
    ns->cfg = *cfg;
    ns->loop = loop;
    ns->routes = ns_routes_new();
    ns->kv = ns_kv_open(cfg->kv_config_path, err, errlen);
    if (!ns->kv) {
        ns_routes_free(ns->routes);
        ns->loop = NULL;
        return -1;
    }
    arena_init(&ns->scratch, 64 * 1024);
    ns->dispatch = rm_dispatch_new();
    rm_options opts;
    rm_options_default(&opts);
    opts.max_frame = (uint32_t)cfg->max_frame_size;
    opts.frame_timeout_ms = cfg->server_frame_timeout_millis;
    opts.input_limit_bytes = (size_t)cfg->server_input_max_bytes;
    opts.max_connections = cfg->server_max_connections;
    ns->server = rm_server_new(loop, &opts, ns->dispatch);
    ns_processor_register(ns);
    ns_metrics_init(ns);
    if (rm_server_listen(ns->server, "0.0.0.0", cfg->listen_port, err, errlen) != 0) {
        namesrv_stop(ns);
        return -1;
    }
    if (cfg->http_port > 0) {
        ns->http = ns_http_start(ns, cfg->http_port, cfg->http_max_connections, err, errlen);
        if (!ns->http) {
            namesrv_stop(ns);
            return -1;
        }
    }
    if (cfg->metrics_port >= 0) {
        ns->metrics_http = ns_http_start(ns, cfg->metrics_port, cfg->http_max_connections, err, errlen);
        if (!ns->metrics_http) {
            namesrv_stop(ns);
            return -1;
        }
    }
    double every = cfg->scan_not_active_broker_interval / 1000.0;
    ev_timer_init(&ns->scan_timer, on_scan, every, every);
    ns->scan_timer.data = ns;
    ev_timer_start(loop, &ns->scan_timer);
    return 0;
}

void namesrv_stop(namesrv *ns)
{
    if (!ns->loop)
        return;
    ev_timer_stop(ns->loop, &ns->scan_timer);
    ns_http_stop(ns->http);
    ns->http = NULL;
    ns_http_stop(ns->metrics_http);
    ns->metrics_http = NULL;
    rm_server_free(ns->server); /* its close callbacks still see the tables */
    ns->server = NULL;
    ns_metrics_free(ns);
    rm_dispatch_free(ns->dispatch);
    ns->dispatch = NULL;
    ns_routes_free(ns->routes);
    ns->routes = NULL;
    ns_kv_free(ns->kv);
    ns->kv = NULL;
    arena_free(&ns->scratch);
    ns->loop = NULL;
}

