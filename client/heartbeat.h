/*
 * heartbeat.h - how producers and consumers tell brokers they exist:
 * HEART_BEAT (body HeartbeatData) to every broker of the topics in use,
 * and UNREGISTER_CLIENT on shutdown. Also the helpers both need to reach
 * "every broker of these topics" and to wait, bounded, for a burst of
 * requests sent in parallel. Internal to libmqclient.
 */
#ifndef MQ_CLIENT_HEARTBEAT_H
#define MQ_CLIENT_HEARTBEAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "body.pb-c.h"
#include "bytes.h"
#include "instance.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Encodes a HeartbeatData body for client_id with an optional producer
 * group and an optional consumer. */
void mqc_heartbeat_encode(const char *client_id, const char *producer_group,
                          const Mq__ConsumerData *consumer, bytebuf *out);

/* A set of broker addresses. */
typedef struct mqc_addr_set {
    char (*addrs)[ADDR_TEXT_MAX];
    int n;
    int cap;
} mqc_addr_set;

void mqc_addr_set_free(mqc_addr_set *s);
bool mqc_addr_set_has(const mqc_addr_set *s, const char *addr);
/* Adds addr; returns true if it was new. */
bool mqc_addr_set_add(mqc_addr_set *s, const char *addr);
/* Adds the addresses of the brokers of a route (every broker id, or the
 * masters only). */
void mqc_addr_set_add_route(mqc_addr_set *s, const mqc_route *r, bool masters_only);

/* The heartbeat machinery of one producer or push consumer (the client
 * runtime both share): the body it sends, every broker heartbeated so far
 * (unregistered from at shutdown) and the periodic timer on the I/O thread.
 * addrs has its own mutex because a producer meets new brokers on
 * application threads; body is written before start and then only read. */
typedef struct mqc_heartbeater {
    mqc_instance *inst;
    pthread_mutex_t lock;   /* guards addrs */
    mqc_addr_set addrs;     /* (locked) every broker heartbeated so far */
    bytebuf body;           /* HeartbeatData; set before start, then read-only */
    ev_timer timer;         /* (io) */
    /* (io) Fills the brokers to heartbeat each period; NULL: every broker
     * of addrs. */
    void (*collect)(void *owner, mqc_addr_set *out);
    void *owner;
} mqc_heartbeater;

void mqc_heartbeater_init(mqc_heartbeater *hb);
void mqc_heartbeater_free(mqc_heartbeater *hb);
/* Binds hb to inst and starts the timer: every period_ms, heartbeat the
 * brokers collect names (or every broker of addrs). Before this only
 * mqc_heartbeater_add and _snapshot may be used. (io) */
void mqc_heartbeater_start(mqc_heartbeater *hb, mqc_instance *inst, int period_ms, void (*collect)(void *owner, mqc_addr_set *out),
                           void *owner);
void mqc_heartbeater_stop(mqc_heartbeater *hb); /* (io) */
/* Adds addr to the brokers heartbeated; returns true if it was new. (any) */
bool mqc_heartbeater_add(mqc_heartbeater *hb, const char *addr);
/* Heartbeats the brokers of to: only those not heartbeated before
 * (only_new), or all of them. (io) */
void mqc_heartbeater_send(mqc_heartbeater *hb, const mqc_addr_set *to, bool only_new);
/* The same for only_new from any thread: the brokers of to not seen before
 * are added now and heartbeated soon by the I/O thread. (any) */
void mqc_heartbeater_greet(mqc_heartbeater *hb, const mqc_addr_set *to);
/* A copy of every broker heartbeated so far (for UNREGISTER_CLIENT). (any) */
void mqc_heartbeater_snapshot(mqc_heartbeater *hb, mqc_addr_set *out);

/* Sends a heartbeat body to addr without waiting; a failure is logged at
 * debug level (the next period retries). (io) */
void mqc_heartbeat_send_async(mqc_instance *inst, const char *addr, const bytebuf *body);

/* Counts parallel requests down so that a user thread can wait for all of
 * them with a deadline (shutdown: commit offsets, unlock, unregister).
 * Reference-counted: a request that completes after the waiter gave up
 * still finds it. */
typedef struct mqc_countdown mqc_countdown;

/* A countdown holding one reference (the waiter's). */
mqc_countdown *mqc_countdown_new(void);
/* Waits until nothing is pending or timeout_ms passed; returns how many
 * were still pending. */
int mqc_countdown_wait(mqc_countdown *c, int timeout_ms);
void mqc_countdown_release(mqc_countdown *c);

/* Sends a request to addr on the I/O thread; cd counts it until it is
 * answered or fails. h (its typed header included) and body are copied.
 * (any, not io) */
void mqc_request_counted(mqc_instance *inst, const char *addr, const Mq__RemotingHeader *h,
                         const void *body, size_t body_len, int timeout_ms, mqc_countdown *cd);

/* UNREGISTER_CLIENT to every address of set, in parallel, waiting at most
 * timeout_ms. producer_group or consumer_group may be NULL. (any, not io) */
void mqc_unregister(mqc_instance *inst, const mqc_addr_set *set, const char *producer_group,
                    const char *consumer_group, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
