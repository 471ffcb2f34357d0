/*
 * main.c - mqbroker: parse the configuration (defaults < -c broker.conf <
 * flags), set up logging, start the broker (broker.c), log "listening on
 * port N" (tests and scripts read it), run the loop. SIGTERM/SIGINT stop the
 * broker in order (unregister, stop serving); the process exits 0.
 * broker_restart (a role change or CommitLog cut of failover, broker/ha/)
 * stops the same way, then re-executes the program with its arguments plus
 * the ports it had: same pid, same ports, state taken from the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "broker.h"
#include "log.h"
#include "process.h"

/* A stop signal also cancels a restart in place in progress (failover's
 * role change or cut): the operator wants the process gone, not back. */
static void on_stop_signal(void *arg)
{
    broker *b = arg;
    b->restart = false;
    broker_stop(b);
}

/* Runs mqbroker again in this process: the original arguments, then the
 * bound port (an ephemeral listenPort=0 must not change) and, for an HA
 * port derived from listenPort 0, haListenPort=0 again. Returns on failure. */
static void reexec(int argc, char **argv, int port, const broker_config *cfg)
{
    char **av = calloc((size_t)argc + 3, sizeof *av);
    char portarg[64], haarg[64] = "--haListenPort=0";
    if (!av)
        return;
    for (int i = 0; i < argc; i++)
        av[i] = argv[i];
    int n = argc;
    snprintf(portarg, sizeof portarg, "--listenPort=%d", port);
    av[n++] = portarg;
    if (cfg->listen_port == 0 && cfg->ha_listen_port < 0)
        av[n++] = haarg;
    av[n] = NULL;
    fflush(NULL);
    execv("/proc/self/exe", av);
    log_error("cannot re-execute mqbroker: %m");
    free(av);
}

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
    log_info("mqbroker %s (cluster %s, id %lld) at %s listening on port %d", b.cfg.broker_name,
             b.cfg.broker_cluster_name, (long long)b.cfg.broker_id, b.addr, b.port);
    process_watch_stop_signals(loop, on_stop_signal, &b);
    ev_run(loop, 0);
    process_stop_signals(loop);
    bool restart = b.restart;
    int port = b.port;
    broker_destroy(&b);
    if (restart) {
        log_info("mqbroker restarting in place");
        reexec(argc, argv, port, &cfg);
        return 1;
    }
    log_info("mqbroker stopped");
    return 0;
}
