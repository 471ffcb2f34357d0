/*
 * main.c - mqnamesrv: parses the configuration, listens, runs the loop until
 * SIGTERM/SIGINT. The route tables and request handlers arrive with the
 * nameserver issue; until then every request is answered
 * REQUEST_CODE_NOT_SUPPORTED by the transport.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "config.h"
#include "log.h"
#include "process.h"
#include "remoting.h"

typedef struct namesrv_config {
    int32_t listen_port;
    int64_t broker_channel_expired_time;
    int32_t scan_not_active_broker_interval;
    int32_t http_port;
    char log_level[16];
    char log_file[1024];
} namesrv_config;

#define N namesrv_config
static const cfg_option options[] = {
    CFG_INT(N, listen_port, "listenPort", "9876", 0, 65535, "TCP port (0 = any free port)"),
    CFG_INT64(N, broker_channel_expired_time, "brokerChannelExpiredTime", "120000", 100, 86400000, "ms of broker silence before it is dropped"),
    CFG_INT(N, scan_not_active_broker_interval, "scanNotActiveBrokerInterval", "5000", 10, 600000, "ms between sweeps for silent brokers"),
    CFG_INT(N, http_port, "httpPort", "0", 0, 65535, "read-only HTTP/JSON port (0 = off)"),
    CFG_STRING(N, log_level, "logLevel", "info", "debug, info, warn or error"),
    CFG_STRING(N, log_file, "logFile", "", "append logs to this file (default: stderr)"),
    CFG_END,
};
#undef N

static void stop_loop(void *arg) { ev_break((struct ev_loop *)arg, EVBREAK_ALL); }

int main(int argc, char **argv)
{
    namesrv_config cfg;
    char err[512];
    cfg_cli cli = {"mqnamesrv", "mqnamesrv - the nameserver: brokers register with it, clients ask it for routes.",
                   options, NULL};
    int rc = cfg_cli_parse(&cli, &cfg, argc, argv, err, sizeof err);
    if (rc == CFG_CLI_EXIT_OK)
        return 0;
    if (rc == CFG_CLI_ERROR || process_setup_logging(cfg.log_level, cfg.log_file, err, sizeof err) != 0) {
        fprintf(stderr, "mqnamesrv: %s\n", err);
        return 2;
    }
    struct ev_loop *loop = EV_DEFAULT;
    rm_dispatch *d = rm_dispatch_new();
    rm_server *srv = rm_server_new(loop, NULL, d);
    if (rm_server_listen(srv, "0.0.0.0", cfg.listen_port, err, sizeof err) != 0) {
        fprintf(stderr, "mqnamesrv: %s\n", err);
        return 1;
    }
    log_info("mqnamesrv listening on port %d", rm_server_port(srv));
    process_watch_stop_signals(loop, stop_loop, loop);
    ev_run(loop, 0);
    rm_server_free(srv);
    rm_dispatch_free(d);
    log_info("mqnamesrv stopped");
    return 0;
}
