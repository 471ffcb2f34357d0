/*
 * main.c - mqbroker: parses the configuration, listens, runs the loop until
 * SIGTERM/SIGINT. Storage, registration and request handlers arrive with
 * their issues; until then every request is answered
 * REQUEST_CODE_NOT_SUPPORTED by the transport.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "broker_config.h"
#include "log.h"
#include "process.h"
#include "remoting.h"

static void stop_loop(void *arg) { ev_break((struct ev_loop *)arg, EVBREAK_ALL); }

int main(int argc, char **argv)
{
    broker_config cfg;
    char err[512];
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
    struct ev_loop *loop = EV_DEFAULT;
    rm_dispatch *d = rm_dispatch_new();
    rm_server *srv = rm_server_new(loop, NULL, d);
    if (rm_server_listen(srv, "0.0.0.0", cfg.listen_port, err, sizeof err) != 0) {
        fprintf(stderr, "mqbroker: %s\n", err);
        return 1;
    }
    log_info("mqbroker %s listening on port %d", cfg.broker_name, rm_server_port(srv));
    process_watch_stop_signals(loop, stop_loop, loop);
    ev_run(loop, 0);
    rm_server_free(srv);
    rm_dispatch_free(d);
    log_info("mqbroker stopped");
    return 0;
}
