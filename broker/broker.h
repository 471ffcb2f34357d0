/*
 * broker.h - the broker's life cycle: what starts in which order and how it
 * stops. The shared context (struct broker, its counters) is
 * broker_context.h; the parts of the broker include that, only main.c and
 * tests that run a whole broker include this.
 *
 * Start-up order (broker_init): config → logging → metadata database →
 * topic and group tables → store (recovery) → scheduled delivery
 * (broker/schedule) → processors register their
 * request codes → listen → register with the nameservers. Shutdown
 * (broker_stop, on SIGTERM/SIGINT) reverses it: unregister from the
 * nameservers, stop accepting, flush offsets, close the store cleanly.
 * All on the loop thread.
 */
#ifndef MQ_BROKER_H
#define MQ_BROKER_H

#include <stddef.h>

#include <ev.h>

#include "broker_config.h"
#include "broker_context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the broker from a parsed config: opens storage, registers the
 * processors, listens, starts registering with the nameservers. Returns 0,
 * or -1 with err (the caller exits). */
int broker_init(broker *b, const broker_config *cfg, struct ev_loop *loop, char *err, size_t errlen);
/* Orderly stop, on the loop thread: unregister, stop listening, flush, break the loop. */
void broker_stop(broker *b);
/* Stops like broker_stop, then main starts the broker again in the same
 * process (same pid, ports and arguments): a role change or a cut of the
 * CommitLog persisted under <storePathRootDir>/ha/ takes effect at start. */
void broker_restart(broker *b, const char *why);
/* Frees everything after the loop returned. */
void broker_destroy(broker *b);

#ifdef __cplusplus
}
#endif

#endif
