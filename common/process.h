/*
 * process.h - start-up chores shared by mqnamesrv and mqbroker: apply the
 * logging settings, stop the loop cleanly on SIGTERM/SIGINT, ignore SIGPIPE.
 */
#ifndef MQ_PROCESS_H
#define MQ_PROCESS_H

#include <ev.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Applies level ("info"...) and file ("" = stderr). Returns 0, or -1 with err. */
int process_setup_logging(const char *level, const char *file, char *err, size_t errlen);

/* Watches SIGTERM and SIGINT on loop: the first one calls on_stop(arg) (which
 * should stop the services and break the loop); the watchers are stopped by
 * process_stop_signals. Also ignores SIGPIPE. */
void process_watch_stop_signals(struct ev_loop *loop, void (*on_stop)(void *arg), void *arg);
void process_stop_signals(struct ev_loop *loop);

/* The project version ("0.1.0"), the same for every program and libmqclient. */
const char *process_version(void);
/* If argv holds "--version", prints "<program> <version>" and returns true
 * (the caller exits 0). Every program calls it first thing. */
bool process_version_asked(const char *program, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
