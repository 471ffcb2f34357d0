/*
 * namesrv_register.h - the broker's registrar: keeps this broker registered
 * with every nameserver of namesrvAddr.
 *
 * It registers at start, every registerNameServerPeriod ms, and soon after
 * any topic change (registrar_trigger, called by the topic table; changes in
 * the same loop turn are coalesced into one registration). The body is
 * every topic config plus the topic table's data version. Each nameserver
 * has its own connection and its own request in flight, so a dead or slow
 * nameserver never delays the others; a lost connection is reopened by the
 * next registration (within a second when the nameserver was reachable
 * before). On stop it unregisters from every nameserver it can reach.
 *
 * Thread: the broker's loop; never blocks it (connects are non-blocking,
 * requests asynchronous). Failures are logged when a nameserver's state
 * changes (reachable <-> unreachable), not at every attempt.
 */
#ifndef MQ_NAMESRV_REGISTER_H
#define MQ_NAMESRV_REGISTER_H

#include <stdbool.h>
#include <stddef.h>

#include "broker_context.h"

#ifdef __cplusplus
extern "C" {
#endif

struct namesrv_registrar;

/* Reads namesrvAddr, brokerName... from b->cfg and b->addr. Returns 0, or
 * -1 with err if the nameserver list is malformed. An empty list is
 * allowed (a broker nobody routes to; a warning is logged). */
int registrar_new(broker *b, struct namesrv_registrar **out, char *err, size_t errlen);
/* First registration now, then every registerNameServerPeriod ms. */
void registrar_start(struct namesrv_registrar *r);
/* Registers again soon (topic configs changed). */
void registrar_trigger(struct namesrv_registrar *r);
/* Registers now and calls done(arg) once every nameserver has answered
 * this registration (or failed, or was unreachable), so a caller can answer
 * its client knowing every live nameserver has the change (admin topic
 * updates: read-your-writes for mqadmin). done runs after 2 s at the latest
 * (a slow nameserver gets the change when it answers), and at once when the
 * registrar is stopping. */
void registrar_register_now(struct namesrv_registrar *r, void (*done)(void *arg), void *arg);
/* Sends UNREGISTER_BROKER to every connected nameserver and calls done(arg)
 * once all answered or failed (at most ~1 s). Stops periodic registration. */
void registrar_unregister_all(struct namesrv_registrar *r, void (*done)(void *arg), void *arg);
/* Closes every connection and frees (pending callbacks are not called). */
void registrar_free(struct namesrv_registrar *r);

/* For a slave: the master address the nameservers reported, "" if none yet. */
const char *registrar_master_addr(const struct namesrv_registrar *r);
/* Number of nameservers that accepted the last registration sent to them. */
int registrar_registered_count(const struct namesrv_registrar *r);

#ifdef __cplusplus
}
#endif

#endif
