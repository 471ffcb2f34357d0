/*
 * common.h - what every example shares: the nameserver list from the
 * command line or NAMESRV_ADDR, and a clean stop on Ctrl-C.
 */
#ifndef MQ_EXAMPLES_COMMON_H
#define MQ_EXAMPLES_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mq/mq.h"

static volatile sig_atomic_t example_stop;

static void example_on_signal(int sig)
{
    (void)sig;
    example_stop = 1;
}

/* argv[1] if given, else NAMESRV_ADDR, else 127.0.0.1:9876. -h/--help and
 * --version print and exit instead of being taken for an address. */
static inline const char *example_namesrv(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("Usage: %s [NAMESRV] ...\n  NAMESRV: 'host:port;host:port' (default: $NAMESRV_ADDR, else "
               "127.0.0.1:9876)\n", argv[0]);
        exit(0);
    }
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("%s (libmqclient %s)\n", argv[0], mq_version());
        exit(0);
    }
    if (argc > 1)
        return argv[1];
    const char *env = getenv("NAMESRV_ADDR");
    return env && *env ? env : "127.0.0.1:9876";
}

static inline void example_wait_for_ctrl_c(void)
{
    signal(SIGINT, example_on_signal);
    signal(SIGTERM, example_on_signal);
    while (!example_stop)
        pause();
}

#endif
