/*
 * direct.h - blocking request/response on the calling thread, over a pool
 * of connections of its own: the path of the synchronous calls whose
 * latency the caller waits for (the producer's sync sends, the pull
 * consumer's pulls). Internal to libmqclient; see direct.c.
 */
#ifndef MQ_CLIENT_DIRECT_H
#define MQ_CLIENT_DIRECT_H

#include <stddef.h>

#include "mq/mq.h"
#include "remoting.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqc_direct mqc_direct;

/* A pool that opens connections with o's connect timeout and accepts
 * answers up to o's max_frame. */
mqc_direct *mqc_direct_new(const rm_options *o);
/* Refuses new calls, wakes the calls in progress (they fail with
 * MQ_ESTATE) and waits for them to return. (any, once or more) */
void mqc_direct_stop(mqc_direct *d);
/* mqc_direct_stop, then closes every connection and frees the pool. */
void mqc_direct_free(mqc_direct *d);

/* Sends one request to addr on a pooled connection (opened if none is
 * idle) and waits for its answer on the calling thread, for at most
 * timeout_ms. on_response(resp, arg) runs on the calling thread with a view
 * of the answer, valid during that call only, and only when the result is
 * MQ_OK. Returns MQ_OK, MQ_ETIMEOUT, MQ_ENETWORK (err says why) or
 * MQ_ESTATE once the pool is being stopped. h's opaque, flag and code fields
 * are set here. (any) */
int mqc_direct_call(mqc_direct *d, const char *addr, Mq__RemotingHeader *h, const void *body,
                    size_t body_len, int timeout_ms,
                    void (*on_response)(const rm_cmd *resp, void *arg), void *arg,
                    mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
