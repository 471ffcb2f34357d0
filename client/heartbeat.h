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
