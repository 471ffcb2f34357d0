/*
 * main.c - mqnamesrv: parse the configuration (defaults < -c file < flags),
 * set up logging, start the nameserver (namesrv.c), log "listening on port
 * N" (tests and scripts read it), run the loop. SIGTERM/SIGINT stop the
 * loop; everything is freed and the process exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "log.h"
#include "namesrv.h"
#include "process.h"
#include "util.h"

static void stop_loop(void *arg) { ev_break((struct ev_loop *)arg, EVBREAK_ALL); }

int main(int argc, char **argv)
{
    namesrv_config cfg;
    char err[512];
    cfg_cli cli = {"mqnamesrv", "mqnamesrv - the nameserver: brokers register with it, clients ask it for routes.",
                   namesrv_config_options, NULL};
    int rc = cfg_cli_parse(&cli, &cfg, argc, argv, err, sizeof err);
    if (rc == CFG_CLI_EXIT_OK)
        return 0;
    if (rc == CFG_CLI_ERROR || process_setup_logging(cfg.log_level, cfg.log_file, err, sizeof err) != 0) {
        fprintf(stderr, "mqnamesrv: %s\n", err);
        return 2;
    }
    struct ev_loop *loop = EV_DEFAULT;
    namesrv ns;
    if (namesrv_start(&ns, &cfg, loop, err, sizeof err) != 0) {
        log_error("mqnamesrv cannot start: %s", err);
        fprintf(stderr, "mqnamesrv: %s\n", err);
        return 1;
    }
    if (ns.http)
        log_info("mqnamesrv HTTP endpoint on port %d", ns_http_port(ns.http));
    log_info("mqnamesrv listening on port %d (broker expiry %lld ms, sweep every %d ms)",
             rm_server_port(ns.server), (long long)cfg.broker_channel_expired_time,
             cfg.scan_not_active_broker_interval);
    process_watch_stop_signals(loop, stop_loop, loop);
    ev_run(loop, 0);
    process_stop_signals(loop);
    namesrv_stop(&ns);
    log_info("mqnamesrv stopped");
    return 0;
}
