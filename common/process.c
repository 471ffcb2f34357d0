/*
 * process.c - see process.h. Signal watchers are ev_signal, so handlers run
 * on the loop thread like everything else.
 */
#include "process.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#ifndef MQ_VERSION_STRING
#define MQ_VERSION_STRING "0.0.0"
#endif

const char *process_version(void) { return MQ_VERSION_STRING; }

bool process_version_asked(const char *program, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--version")) {
            printf("%s %s\n", program, MQ_VERSION_STRING);
            return true;
        }
    return false;
}

static ev_signal sig_term, sig_int;
static void (*stop_fn)(void *arg);
static void *stop_arg;

int process_setup_logging(const char *level, const char *file, char *err, size_t errlen)
{
    log_level lvl;
    if (log_level_parse(level, &lvl) != 0) {
        snprintf(err, errlen, "bad logLevel '%s': expected debug, info, warn or error", level);
        return -1;
    }
    log_set_level(lvl);
    if (file && *file) {
        int rc = log_open_file(file);
        if (rc != 0) {
            snprintf(err, errlen, "cannot open log file %s: %s", file, strerror(-rc));
            return -1;
        }
    }
    return 0;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    log_info("received signal %d, shutting down", w->signum);
    if (stop_fn)
        stop_fn(stop_arg);
}

void process_watch_stop_signals(struct ev_loop *loop, void (*on_stop)(void *arg), void *arg)
{
    signal(SIGPIPE, SIG_IGN);
    stop_fn = on_stop;
    stop_arg = arg;
    ev_signal_init(&sig_term, on_signal, SIGTERM);
    ev_signal_init(&sig_int, on_signal, SIGINT);
    ev_signal_start(loop, &sig_term);
    ev_signal_start(loop, &sig_int);
}

void process_stop_signals(struct ev_loop *loop)
{
    ev_signal_stop(loop, &sig_term);
    ev_signal_stop(loop, &sig_int);
}
