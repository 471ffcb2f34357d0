/*
 * instance.h - the runtime under every client object (producer, consumers,
 * admin): one I/O thread with a libev loop, a connection per broker or
 * nameserver address, request/response with timeouts, the nameserver list
 * with fail-over, and the topic route cache. Internal to libmqclient.
 *
 * Threads
 *   "mq-io" runs the loop and owns every socket, the connection table and
 *   timers. Functions marked (io) must run there; (any) may be called from
 *   any thread except where they would wait on the I/O thread from itself
 *   (the *_sync calls refuse that with MQ_ESTATE).
 *
 * Routes
 *   A route is the nameserver's TopicRouteData for a topic, unpacked into
 *   protobuf-c structs and shared by reference count. The cache is refreshed
 *   every poll_name_server_interval_ms for every topic asked for, and on
 *   demand (force_refresh after a send failure). When every nameserver is
 *   down the cached route stays in use.
 */
#ifndef MQ_CLIENT_INSTANCE_H
#define MQ_CLIENT_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "body.pb-c.h"
#include "evq.h"
#include "mq/mq.h"
#include "remoting.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqc_instance mqc_instance;

typedef struct mqc_options {
    const char *namesrv_addr;         /* "a:9876;b:9876"; NULL or "" reads NAMESRV_ADDR */
    const char *instance_name;        /* part of the client id; NULL = "<pid>#<nanotime>" */
    int request_timeout_ms;           /* default timeout of requests (3000) */
    int poll_name_server_interval_ms; /* route refresh period (30000) */
} mqc_options;

void mqc_options_default(mqc_options *o);

/* Starts the I/O thread. Returns MQ_OK, or an error (bad nameserver list...). */
int mqc_instance_new(const mqc_options *o, mqc_instance **out, mq_error *err);
/* Stops the I/O thread and closes every connection. Not from the I/O thread. */
void mqc_instance_free(mqc_instance *inst);

/* Shutdown's first step: view calls (mqc_invoke_sync_view) in progress
 * return MQ_ESTATE at once, later ones at their start; other calls are
 * unaffected. (any, not io) */
void mqc_stop_sync_calls(mqc_instance *inst);

/* "ip@instance" as RocketMQ builds it; stable for the instance's life. (any) */
const char *mqc_client_id(const mqc_instance *inst);
/* The first non-loopback IPv4 of this host as text. (any) */
const char *mqc_client_ip(const mqc_instance *inst);
struct ev_loop *mqc_loop(mqc_instance *inst);
bool mqc_on_io_thread(const mqc_instance *inst);
int mqc_default_timeout(const mqc_instance *inst);

/* Runs fn(arg) on the I/O thread soon. Returns MQ_ESTATE (fn not run) once
 * shutdown began. (any) */
int mqc_post(mqc_instance *inst, void (*fn)(void *arg), void *arg);
/* Runs fn(arg) on the I/O thread and waits for it. Returns MQ_ESTATE if
 * called on the I/O thread or after shutdown began. (any) */
int mqc_run_sync(mqc_instance *inst, void (*fn)(void *arg), void *arg);
/* Like mqc_post with an item embedded in the caller's struct: posting never
 * allocates (hot paths: async and oneway sends). Returns MQ_ESTATE (fn not
 * run, item untouched) once shutdown began. (any) */
int mqc_post_item(mqc_instance *inst, evq_item *item, void (*fn)(evq_item *item));

/* fn(arg) runs on the I/O thread after each batch of posted work (evq
 * drain): the producer sends what arrived together as one batch. One hook
 * per instance. (io) */
void mqc_on_drained(mqc_instance *inst, void (*fn)(void *arg), void *arg);

/* Handlers for requests brokers send us (CHECK_TRANSACTION_STATE,
 * NOTIFY_CONSUMER_IDS_CHANGED, RESET_CONSUMER_CLIENT_OFFSET...). (io) */
void mqc_on_request(mqc_instance *inst, int32_t code, rm_handler_fn fn, void *arg);

/* The connection to addr, opened if needed (and reopened if it closed).
 * Returns NULL with err if the address is bad or refused at once. (io) */
rm_conn *mqc_conn(mqc_instance *inst, const char *addr, mq_error *err);

/* A response copied out of the I/O thread: owns everything it points to. */
typedef struct mqc_response {
    int32_t code;              /* broker/nameserver status (RS_*) */
    Mq__RemotingHeader *hdr;   /* whole header (typed ext included) */
    uint8_t *body;             /* may be NULL */
    size_t body_len;
} mqc_response;

void mqc_response_free(mqc_response *r);
/* The remark of a response, "" if none. */
const char *mqc_response_remark(const mqc_response *r);

/* Sends a request to addr and waits for its response. Returns MQ_OK with
 * *out filled (whatever the response code), or MQ_ETIMEOUT / MQ_ENETWORK /
 * MQ_EINVAL with err. h and body are only read during the call. (any, not io) */
int mqc_invoke_sync(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                    const void *body, size_t body_len, int timeout_ms, mqc_response *out,
                    mq_error *err);
/* Like mqc_invoke_sync without copying the response, and without the I/O
 * thread: the calling thread writes the request and reads the answer on a
 * pooled connection of its own (direct.h). on_response(resp, arg) runs on
 * the calling thread with a view of the answer (valid during that call
 * only) and copies out what the caller needs; it runs only when the result
 * is MQ_OK. h is used in place (its opaque and flag are set), so a call
 * costs no allocation in this layer (the producer's send path, the pull
 * consumer's pulls). (any, not io) */
int mqc_invoke_sync_view(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                         const void *body, size_t body_len, int timeout_ms,
                         void (*on_response)(const rm_cmd *resp, void *arg), void *arg,
                         mq_error *err);
/* The same to the nameservers: tries each live one until one answers. */
int mqc_invoke_namesrv_sync(mqc_instance *inst, Mq__RemotingHeader *h, const void *body,
                            size_t body_len, int timeout_ms, mqc_response *out, mq_error *err);
/* Oneway request to addr (no response). (any) */
int mqc_invoke_oneway(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                      const void *body, size_t body_len, mq_error *err);

/* Asynchronous request; cb runs on the I/O thread exactly once. Returns
 * MQ_OK or an error (cb then not called). (io) */
int mqc_invoke_async(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                     const void *body, size_t body_len, int timeout_ms, rm_response_fn cb,
                     void *arg, mq_error *err);

/* Fills err from a response that is not SUCCESS: code MQ_EBROKER, status
 * the response code, message "<what>: <STATUS_NAME> (<code>): <remark>". */
void mqc_error_from_response(mq_error *err, const char *what, const mqc_response *r);
void mqc_error_set(mq_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- routes ---- */

typedef struct mqc_route {
    char *topic;
    Mq__TopicRouteData *data; /* as the nameserver sent it */
    int64_t fetched_ms;       /* mono_ms of the fetch */
} mqc_route;

/* The route of topic: from the cache, or fetched from a nameserver (blocking)
 * when missing or when force_refresh. If a refresh fails and a cached route
 * exists, the cached route is returned. Returns MQ_OK with a reference to
 * release, or MQ_ENOROUTE / MQ_ENETWORK with err. (any, not io) */
int mqc_route_get(mqc_instance *inst, const char *topic, bool force_refresh, mqc_route **out,
                  mq_error *err);
/* Fetches the route of topic now without blocking: the cache is updated
 * (or the topic dropped from it on TOPIC_NOT_EXIST), then cb (may be NULL)
 * runs on the I/O thread with MQ_OK, MQ_ENOROUTE or MQ_ENETWORK. Used where
 * the I/O thread needs a route it has not cached (a consumer's rebalance).
 * (io) */
typedef void (*mqc_route_cb)(mqc_instance *inst, const char *topic, int rc, void *arg);
void mqc_route_refresh_async(mqc_instance *inst, const char *topic, mqc_route_cb cb, void *arg);
/* The cached route or NULL, never fetching; a reference to release. (any) */
mqc_route *mqc_route_cached(mqc_instance *inst, const char *topic);
void mqc_route_release(mqc_route *r);
/* Address of a broker of the route by name and id (0 = master), or NULL. */
const char *mqc_route_broker_addr(const mqc_route *r, const char *broker_name, int64_t broker_id);
/* Any address of that broker name: the master if present, else the lowest id. */
const char *mqc_route_any_addr(const mqc_route *r, const char *broker_name);
/* The address of that broker name with the lowest id >= min_id, or NULL. */
const char *mqc_route_lowest_addr(const mqc_route *r, const char *broker_name, int64_t min_id);

#ifdef __cplusplus
}
#endif

#endif
