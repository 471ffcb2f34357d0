/*
 * main.c - mqbroker: parse the configuration (defaults < -c broker.conf <
 * flags), set up logging, start the broker (broker.c), log "listening on
 * port N" (tests and scripts read it), run the loop. SIGTERM/SIGINT stop the
 * broker in order (unregister, stop serving); the process exits 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "broker.h"
#include "log.h"
#include "process.h"

static void on_stop_signal(void *arg) { broker_stop(arg); }

int main(int argc, char **argv)
{
    broker_config cfg;
    char err[4400];
    cfg_cli cli = {"mqbroker",
                   "mqbroker - the broker: stores messages in a CommitLog, serves producers and consumers.",
                   broker_config_options, broker_config_flags};
    int rc = cfg_cli_parse(&cli, &cfg, argc, argv, err, sizeof err);
    if (rc == CFG_CLI_EXIT_OK)
        return 0;
    if (rc == CFG_CLI_ERROR || process_setup_logging(cfg.log_level, cfg.log_file, err, sizeof err) != 0) {
        fprintf(stderr, "mqbroker: %s\n", err);
        return 2;
    }
    char warn[4400];
    if (broker_config_check(&cfg, warn, sizeof warn, err, sizeof err) != 0) {
        fprintf(stderr, "mqbroker: %s\n", err);
        return 2;
    }
    if (warn[0])
        log_warn("%s", warn);
    struct ev_loop *loop = EV_DEFAULT;
    broker b;
    if (broker_init(&b, &cfg, loop, err, sizeof err) != 0) {
        log_error("mqbroker cannot start: %s", err);
        fprintf(stderr, "mqbroker: %s\n", err);
        return 1;
    }
    log_info("mqbroker %s (cluster %s, id %lld) at %s listening on port %d", cfg.broker_name,
             cfg.broker_cluster_name, (long long)cfg.broker_id, b.addr, b.port);
    process_watch_stop_signals(loop, on_stop_signal, &b);
    ev_run(loop, 0);
    process_stop_signals(loop);
    broker_destroy(&b);
    log_info("mqbroker stopped");
    return 0;
}
