/*
 * remoting.h - the transport every process uses: non-blocking TCP on libev,
 * RocketMQ-style frames, many requests in flight per connection.
 *
 * Model
 *   One libev loop owns its connections; every function here must be called
 *   on that loop's thread (use evq.h to get there from another thread).
 *   A connection (rm_conn) is symmetric: it can send requests and receive
 *   responses (matched by opaque, each with a timeout), and it can receive
 *   requests, which an rm_dispatch table routes to handlers by code.
 *   A server (rm_server) accepts connections that share one dispatch table.
 *
 * Requests a handler gets
 *   The rm_cmd and everything it points to (header, strings, body bytes) live
 *   only during the handler call. A handler answers at once with rm_reply*,
 *   or keeps an rm_reply_to (rm_defer) and answers later with rm_respond*
 *   (long polling, sync flush); an rm_reply_to holds a reference on the
 *   connection until answered or dropped. Answers to oneway requests are
 *   silently discarded. Unknown codes are answered REQUEST_CODE_NOT_SUPPORTED
 *   and a request without the typed header its code needs is answered
 *   SYSTEM_ERROR, before any handler runs.
 *
 * Bad input and slow peers
 *   A frame over max_frame, inconsistent lengths, an unsupported serialize
 *   type or an undecodable header closes that connection (logged once);
 *   other connections are not affected. Output is queued per connection;
 *   above write_pause_bytes the connection stops reading new requests, above
 *   write_limit_bytes it is closed, and a queue that makes no progress for
 *   write_stall_ms is closed: memory stays bounded whatever a peer does.
 *   Input: a frame in progress must arrive whole within frame_timeout_ms of
 *   its first byte (a peer that stops or trickles mid-frame is closed); one
 *   connection holds at most one unfinished frame, so at most max_frame + 4
 *   bytes, and the read buffer grows with the bytes that arrive, not with
 *   the length a peer declares. A server caps the bytes all its connections
 *   together hold for unhandled input at input_limit_bytes: going over it
 *   closes the connection whose unfinished frame started longest ago (the
 *   staller, usually) until back under. A server accepts at most
 *   max_connections at once and closes the ones over at once. Every such
 *   close is logged with its reason at WARN, connection closes and refusals
 *   at most a few lines per 10 s per kind, with a count of the lines left
 *   out, so a hostile peer cannot grow the log at will.
 *
 * Writes
 *   Frames are appended to the connection's queue and sent with one gathered
 *   write (sendmsg with MSG_NOSIGNAL), header and body together: frames
 *   produced while handling one batch of input go out in one write, and so
 *   do frames queued anywhere else during one loop turn (an ev_prepare
 *   watcher per connection flushes before the loop polls). Consequence:
 *   do not queue frames from inside another ev_prepare callback - libev
 *   runs prepare watchers started during the prepare phase only at the
 *   next turn, after the loop may have blocked. Zero-copy bodies (rm_reply_iov) are queued as
 *   references and released by callback once sent or dropped.
 */
#ifndef MQ_REMOTING_H
#define MQ_REMOTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ev.h>

#include "protocol.h"
#include "remoting.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rm_conn rm_conn;
typedef struct rm_server rm_server;
typedef struct rm_dispatch rm_dispatch;

/* Errors given to response callbacks and returned by functions (negative). */
enum {
    RM_OK = 0,
    RM_ETIMEDOUT = -1, /* no response within the timeout */
    RM_ECLOSED = -2,   /* connection closed (or never opened) before the response */
    RM_EENCODE = -3,   /* could not encode the frame */
    RM_ETOOBIG = -4,   /* frame over the maximum, or queue over its limit */
};

/* A decoded frame. Valid only during the callback that receives it. */
typedef struct rm_cmd {
    Mq__RemotingHeader *hdr;
    const uint8_t *body;
    uint32_t body_len;
    uint8_t serialize_type;
} rm_cmd;

typedef struct rm_options {
    uint32_t max_frame;        /* largest frame accepted or sent (16 MiB) */
    size_t write_pause_bytes;  /* stop reading requests while this much output is queued (4 MiB) */
    size_t write_limit_bytes;  /* close the connection above this much queued output (64 MiB) */
    int write_stall_ms;        /* close if queued output makes no progress this long (30000) */
    int idle_timeout_ms;       /* close after this long with no input; 0 = never (0) */
    int connect_timeout_ms;    /* outgoing connect timeout (3000) */
    int frame_timeout_ms;      /* a frame in progress must arrive whole within this; 0 = no limit (30000) */
    size_t input_limit_bytes;  /* servers: unhandled input all connections together may hold (64 MiB); 0 = no limit */
    int max_connections;       /* servers: connections open at once; 0 = the descriptor limit less 256 (0) */
} rm_options;

void rm_options_default(rm_options *o);

typedef void (*rm_handler_fn)(rm_conn *conn, const rm_cmd *req, void *arg);
/* err is RM_OK with resp set, or RM_ETIMEDOUT / RM_ECLOSED with resp NULL. */
typedef void (*rm_response_fn)(rm_conn *conn, int err, const rm_cmd *resp, void *arg);
typedef void (*rm_close_fn)(rm_conn *conn, void *arg);
typedef void (*rm_release_fn)(void *arg);

/* ---- dispatch tables ---- */

rm_dispatch *rm_dispatch_new(void);
void rm_dispatch_free(rm_dispatch *d);
/* Routes requests with this code to fn(conn, req, arg). Replaces an earlier entry. */
void rm_dispatch_on(rm_dispatch *d, int32_t code, rm_handler_fn fn, void *arg);

/* Watches the traffic of a dispatch table (metrics): on_request runs on the
 * loop before each request's handler and returns a tag for it (NULL: not
 * observed); on_response runs when an observed request is answered, also
 * later through rm_defer, with its status, the answer's body bytes and the
 * nanoseconds since the request arrived. One observer per table. */
typedef struct rm_observer {
    void *(*on_request)(void *arg, const rm_cmd *req);
    void (*on_response)(void *arg, void *tag, int32_t request_code, int32_t status, size_t body_bytes,
                        int64_t elapsed_ns);
    void *arg;
} rm_observer;
void rm_dispatch_observe(rm_dispatch *d, const rm_observer *o);

/* ---- servers ---- */

/* A server on loop with options (copied) and a dispatch table (borrowed; must
 * outlive the server). */
rm_server *rm_server_new(struct ev_loop *loop, const rm_options *opts, rm_dispatch *d);
/* Listens on host:port (port 0 picks a free port). Returns 0, or -1 with err. */
int rm_server_listen(rm_server *s, const char *host, int port, char *err, size_t errlen);
/* The port actually bound. */
int rm_server_port(const rm_server *s);
/* Called for every accepted connection when it closes. */
void rm_server_on_close(rm_server *s, rm_close_fn fn, void *arg);
size_t rm_server_conn_count(const rm_server *s);
/* Bytes of unhandled input its connections hold (what input_limit_bytes caps). */
size_t rm_server_input_held(const rm_server *s);
/* Stops listening and closes every accepted connection; frees the server. */
void rm_server_free(rm_server *s);

/* ---- outgoing connections ---- */

/* Starts connecting to "host:port". Requests may be sent at once; they go out
 * when connected, or fail with RM_ECLOSED. d (borrowed, may be NULL) handles
 * requests the peer sends us. Returns NULL with err if the address is bad.
 * The caller owns one reference: end with rm_conn_close, then rm_conn_unref.
 * A connect that fails at once returns NULL with err; one that fails later
 * closes the connection (close callback, pending requests RM_ECLOSED). */
rm_conn *rm_connect(struct ev_loop *loop, const char *addr, const rm_options *opts,
                    rm_dispatch *d, char *err, size_t errlen);

/* ---- connections ---- */

/* Closes now: pending requests fail with RM_ECLOSED, queued output is
 * dropped, the close callback runs. Safe to call twice. */
void rm_conn_close(rm_conn *c);
bool rm_conn_is_open(const rm_conn *c);
/* Writes what is queued on c now instead of when the loop turn ends (for
 * answers queued from an ev_prepare watcher, which would otherwise wait for
 * one more loop turn). A no-op inside c's input handling. Loop thread. */
void rm_conn_flush_now(rm_conn *c);
/* Reads and handles, now, whatever input the socket already holds (no
 * wait): for a caller about to do something expensive for the requests it
 * has (the broker's group commit), so requests that arrived meanwhile share
 * it. Handlers run as for any input; answers they queue leave as usual. */
void rm_conn_read_now(rm_conn *c);
/* Sleeps until one of the n connections has input or timeout_us passed,
 * then reads (as rm_conn_read_now) each that has some; returns how many it
 * read. Closed or paused connections are skipped. Loop thread: the loop
 * stalls meanwhile, so a caller bounds the wait (the broker's group commit
 * waits for producers it expects, a few tens of microseconds). */
size_t rm_conn_wait_input(rm_conn *const *cs, size_t n, int64_t timeout_us);
bool rm_conn_is_connected(const rm_conn *c);
void rm_conn_ref(rm_conn *c);
void rm_conn_unref(rm_conn *c);
/* "ip:port" of the peer. */
const char *rm_conn_peer(const rm_conn *c);
/* Process-unique connection id (never reused). */
uint64_t rm_conn_id(const rm_conn *c);
struct ev_loop *rm_conn_loop(const rm_conn *c);
void rm_conn_set_data(rm_conn *c, void *data);
void *rm_conn_data(const rm_conn *c);
/* One close callback per connection (in addition to the server's). */
void rm_conn_set_on_close(rm_conn *c, rm_close_fn fn, void *arg);
/* Why the connection was closed by this side ("connect failed: Connection
 * refused", "connect timed out", ...), or "" (open, or closed by the peer). */
const char *rm_conn_close_reason(const rm_conn *c);
size_t rm_conn_queued_bytes(const rm_conn *c);
size_t rm_conn_pending_requests(const rm_conn *c);

/* Sends a request and calls cb exactly once (response, timeout or close).
 * The transport sets h->opaque, h->flag, and language/version if unset.
 * body may be NULL. Returns 0, or a negative RM_E* (cb is then not called). */
int rm_request(rm_conn *c, Mq__RemotingHeader *h, const void *body, size_t body_len,
               int timeout_ms, rm_response_fn cb, void *arg);
/* Same with a control body message encoded for the connection. */
int rm_request_msg(rm_conn *c, Mq__RemotingHeader *h, const ProtobufCMessage *body,
                   int timeout_ms, rm_response_fn cb, void *arg);
/* A request with the oneway flag: no response, no callback. */
int rm_oneway(rm_conn *c, Mq__RemotingHeader *h, const void *body, size_t body_len);
/* Same with a control body message encoded for the connection. Requests go
 * out in the serialize type of the peer's last request (ours until then). */
int rm_oneway_msg(rm_conn *c, Mq__RemotingHeader *h, const ProtobufCMessage *body);

/* Decodes a control body of the given type, in the encoding of cmd. The
 * result lives in the connection's per-frame arena (valid during the
 * callback). Returns NULL with err filled if the body does not decode. */
ProtobufCMessage *rm_body_decode(rm_conn *c, const rm_cmd *cmd,
                                 const ProtobufCMessageDescriptor *desc, char *err,
                                 size_t errlen);

/* ---- answering requests ---- */

/* Where an answer goes. Built by rm_defer (holds a connection reference) or
 * used implicitly by rm_reply* inside a handler. */
typedef struct rm_reply_to {
    rm_conn *conn;
    int32_t opaque;
    int32_t request_code;
    uint8_t serialize_type;
    bool oneway;
    bool holds_ref;
    void *obs_tag;          /* the dispatch observer's tag for this request, or NULL */
    int64_t obs_start_ns;   /* monotonic arrival time, when obs_tag is set */
} rm_reply_to;

/* Keeps what is needed to answer req later; must end with rm_respond* or
 * rm_reply_to_drop. */
void rm_defer(rm_conn *c, const rm_cmd *req, rm_reply_to *out);
/* Releases without answering (e.g. the requester is gone). */
void rm_reply_to_drop(rm_reply_to *to);

/* Answer with header h (its code is the status; opaque/flag are set here) and
 * an optional body. Each consumes `to` (releases its reference). Return 0, or
 * negative if the connection is gone or the frame could not be queued. */
int rm_respond(rm_reply_to *to, Mq__RemotingHeader *h, const void *body, size_t body_len);
int rm_respond_msg(rm_reply_to *to, Mq__RemotingHeader *h, const ProtobufCMessage *body);
/* Zero-copy: iov parts are sent as they are; release(release_arg) runs once
 * they are no longer needed (sent, or connection closed), also on failure. */
int rm_respond_iov(rm_reply_to *to, Mq__RemotingHeader *h, const struct iovec *iov, int iovcnt,
                   rm_release_fn release, void *release_arg);
/* Header-only answer with a status code and a printf-style remark (may be NULL). */
int rm_respond_status(rm_reply_to *to, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, answering req at once from inside its handler. */
int rm_reply(rm_conn *c, const rm_cmd *req, Mq__RemotingHeader *h, const void *body,
             size_t body_len);
int rm_reply_msg(rm_conn *c, const rm_cmd *req, Mq__RemotingHeader *h,
                 const ProtobufCMessage *body);
int rm_reply_iov(rm_conn *c, const rm_cmd *req, Mq__RemotingHeader *h, const struct iovec *iov,
                 int iovcnt, rm_release_fn release, void *release_arg);
int rm_reply_status(rm_conn *c, const rm_cmd *req, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* SUCCESS with body (may be NULL) and a header carrying nothing else. */
int rm_reply_ok(rm_conn *c, const rm_cmd *req, const ProtobufCMessage *body);

/* Counters of one process (all loops), for stats and tests. */
typedef struct rm_stats {
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t bad_frames;        /* connections closed for protocol errors */
    uint64_t slow_peer_drops;   /* connections closed for output limits */
    uint64_t timeouts;          /* requests that timed out */
    uint64_t input_drops;       /* connections closed for the frame deadline or the input limit */
    uint64_t refused;           /* connections closed at accept (max_connections) */
} rm_stats;
void rm_stats_get(rm_stats *out);

#ifdef __cplusplus
}
#endif

#endif
