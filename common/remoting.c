/*
 * remoting.c - connections, servers and dispatch on a libev loop.
 *
 * Ownership: a connection is reference counted. Being open holds one
 * reference (dropped by rm_conn_close); rm_connect's caller holds one; each
 * deferred answer (rm_reply_to) and each callback in progress holds one.
 * Buffers are freed only when the last reference goes, so a handler may close
 * its own connection and a late deferred answer finds a closed connection,
 * never freed memory. Debug builds assert that a reference is never taken
 * on or dropped from a connection whose count is already zero, and that
 * the public functions run on the loop's thread (evq.h loop_owner: noted
 * by the connection's callbacks, checked while the loop runs).
 *
 * Input: one read buffer per connection; frames are parsed in place and their
 * headers decoded into the connection's arena, reset per frame.
 * Output: a list of segments, either owned chunks that many small frames are
 * packed into, or borrowed zero-copy parts with a release callback, sent with
 * sendmsg (a gathered write, like writev, that never raises SIGPIPE). Frames
 * are never written as they are queued: a batch of input being handled
 * (c->processing) ends with one flush, and anything queued otherwise (a
 * client's requests, deferred answers) is flushed by the connection's
 * ev_prepare watcher just before the loop next polls. So whatever one loop
 * turn produces for a connection leaves in one system call.
 *
 * Input limits (see remoting.h "Bad input and slow peers"): after each batch
 * of input, in_held is what the read buffer holds unhandled (an unfinished
 * frame, or frames left while reading is paused). A server sums it over its
 * connections (in_held) and keeps those with an unfinished frame on a list
 * ordered by when that frame started (part_*): over input_limit_bytes, the
 * list's head is closed first. Each connection's frame_timer fires at its
 * frame's deadline; a completed frame only moves frame_start, so busy
 * connections do not touch the timer per frame. Invariant: a server's
 * in_held is the sum of its open connections' in_held, and a connection is
 * on the list exactly while it has an unfinished frame (in_frame).
 */
#define _GNU_SOURCE
#include "remoting.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "arena.h"
#include "bytes.h"
#include "evq.h"
#include "frame.h"
#include "hashmap.h"
#include "log.h"
#include "util.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

enum {
    READ_CHUNK = 64 * 1024,     /* bytes asked of each recv */
    OUT_CHUNK = 16 * 1024,      /* size of owned output chunks */
    MAX_IOV = 64,               /* iovecs per sendmsg */
    READS_PER_EVENT = 8,        /* recv calls per readable event (fairness) */
    IN_BUF_KEEP = 256 * 1024,   /* shrink the read buffer back when idle above this */
    RECV_MAX = 1024 * 1024,     /* bytes one recv may add (bounds the overshoot of input limits) */
    FD_RESERVE = 256,           /* descriptors left for files when max_connections is automatic */
    LOG_BURST = 10,             /* connection log lines of one kind per log repeat interval */
};

/* ---- statistics ---- */

static _Atomic uint64_t st_frames_in, st_frames_out, st_bad_frames, st_slow_drops, st_timeouts,
    st_input_drops, st_refused;
static _Atomic uint64_t next_conn_id = 1;

void rm_stats_get(rm_stats *out)
{
    out->frames_in = atomic_load(&st_frames_in);
    out->frames_out = atomic_load(&st_frames_out);
    out->bad_frames = atomic_load(&st_bad_frames);
    out->slow_peer_drops = atomic_load(&st_slow_drops);
    out->timeouts = atomic_load(&st_timeouts);
    out->input_drops = atomic_load(&st_input_drops);
    out->refused = atomic_load(&st_refused);
}

/* ---- rate-limited connection log lines ----
 * Connection events come from peers, so their log lines are limited per
 * kind by log.c's limiter: LOG_BURST lines per repeat interval (10 s by
 * default), then silence; the first line of a later interval says how many
 * were suppressed. Any loop thread may log. */

typedef enum conn_event {
    EV_CLOSED,  /* normal ends: peer closed, read/write errors, timeouts of ours */
    EV_DROPPED, /* offenders: bad frames, input or output limits */
    EV_REFUSED, /* over max_connections */
    EV_ACCEPT,  /* accept(2) failures */
    EV_KINDS,
} conn_event;

static log_limiter conn_log_limiters[EV_KINDS];

static void conn_log(conn_event kind, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_log(conn_event kind, log_level level, const char *fmt, ...)
{
    if (level < log_get_level())
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite_limited(&conn_log_limiters[kind], LOG_BURST, level, __FILE__, __LINE__, fmt, ap);
    va_end(ap);
}

/* ---- types ---- */

typedef struct handler_entry {
    rm_handler_fn fn;
    void *arg;
} handler_entry;

struct rm_dispatch {
    u64map handlers; /* code -> handler_entry* */
    rm_observer observer;
};

typedef struct out_seg {
    struct out_seg *next;
    const uint8_t *ptr; /* next unsent byte */
    size_t len;         /* unsent bytes */
    uint8_t *buf;       /* owned chunk, or NULL for a borrowed part */
    size_t cap, used;
    rm_release_fn release; /* borrowed: run when this segment is done with */
    void *release_arg;
} out_seg;

typedef struct pending_req {
    ev_timer timer; /* first: the timer callback casts back */
    rm_conn *conn;
    int32_t opaque;
    rm_response_fn cb;
    void *arg;
} pending_req;

struct rm_conn {
    struct ev_loop *loop;
    int fd;
    int refs;            /* > 0 until freed */
    loop_owner owner;    /* debug builds: the loop's thread */
    uint64_t id;
    bool open;
    bool connected;
    bool processing;     /* inside handle_input: answers only queue */
    bool read_paused;    /* output over write_pause_bytes */
    bool in_frame;       /* an unfinished frame is buffered (on the server's part list) */
    ev_io rio, wio;
    ev_prepare flush_prepare; /* active while output waits for the end of this loop turn */
    ev_timer connect_timer, stall_timer, idle_timer, frame_timer;
    ev_tstamp last_input, last_output_progress;
    ev_tstamp frame_start;  /* when the unfinished frame's first byte was buffered */
    size_t in_held;         /* unhandled input bytes after the last batch */
    rm_conn *part_prev, *part_next; /* the server's list of unfinished frames, oldest first */
    rm_options opts;
    rm_dispatch *dispatch;
    rm_server *server;
    rm_conn *srv_prev, *srv_next;
    char peer[ADDR_TEXT_MAX];
    bytebuf in;
    size_t in_off;
    out_seg *out_head, *out_tail, *spare;
    size_t out_bytes;
    u64map pending; /* (uint32)opaque -> pending_req* */
    int32_t next_opaque;
    arena arena;
    bytebuf scratch;
    void *data;
    void *obs_tag;          /* the observer's tag of the request being handled */
    int64_t obs_start_ns;
    rm_close_fn on_close;
    char close_why[160];    /* why close_for closed it ("connect failed: ...") */
    void *on_close_arg;
    uint8_t peer_type;      /* serialize type of the peer's last request + 1 (0: none yet) */
};

/* Requests we send go out in the encoding the peer itself speaks (a RocketMQ
 * client only reads JSON), ours until it has sent a request. */
static uint8_t request_type(const rm_conn *c)
{
    return c->peer_type ? (uint8_t)(c->peer_type - 1) : RM_SERIALIZE_PROTOBUF;
}

struct rm_server {
    struct ev_loop *loop;
    int fd;
    int port;
    ev_io accept_io;
    rm_options opts;
    rm_dispatch *dispatch;
    rm_conn *conns;
    size_t conn_count;
    size_t max_conns;       /* from opts.max_connections, resolved */
    size_t in_held;         /* sum of the connections' in_held */
    rm_conn *part_head, *part_tail; /* connections with an unfinished frame, oldest first */
    ev_timer accept_timer;  /* re-enables accepting after running out of descriptors */
    rm_close_fn on_close;
    void *on_close_arg;
};

void rm_options_default(rm_options *o)
{
    o->max_frame = RM_MAX_FRAME_DEFAULT;
    o->write_pause_bytes = 4u << 20;
    o->write_limit_bytes = 64u << 20;
    o->write_stall_ms = 30000;
    o->idle_timeout_ms = 0;
    o->connect_timeout_ms = 3000;
    o->frame_timeout_ms = 30000;
    o->input_limit_bytes = 64u << 20;
    o->max_connections = 0;
}

/* ---- dispatch ---- */

rm_dispatch *rm_dispatch_new(void)
{
    rm_dispatch *d = xcalloc(1, sizeof *d);
    u64map_init(&d->handlers);
    return d;
}

void rm_dispatch_free(rm_dispatch *d)
{
    if (!d)
        return;
    void *v;
    for (size_t it = 0; u64map_next(&d->handlers, &it, NULL, &v);)
        free(v);
    u64map_free(&d->handlers);
    free(d);
}

void rm_dispatch_observe(rm_dispatch *d, const rm_observer *o) { d->observer = *o; }

void rm_dispatch_on(rm_dispatch *d, int32_t code, rm_handler_fn fn, void *arg)
{
    handler_entry *e = xmalloc(sizeof *e);
    e->fn = fn;
    e->arg = arg;
    free(u64map_put(&d->handlers, (uint32_t)code, e));
}

/* ---- connection basics ---- */

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_stall_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_flush_prepare(struct ev_loop *loop, ev_prepare *w, int revents);
static void on_idle_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_frame_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_flush(rm_conn *c);
static void handle_input(rm_conn *c);

static void set_socket_options(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Loop thread only (debug builds). */
#define ASSERT_LOOP_THREAD(c) assert(loop_owner_here(&(c)->owner, (c)->loop))

static rm_conn *conn_new(struct ev_loop *loop, int fd, const rm_options *opts, rm_dispatch *d)
{
    rm_conn *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->fd = fd;
    c->refs = 1; /* held by the open state */
    if (ev_depth(loop) > 0) /* made by a callback of the running loop */
        LOOP_OWNER_NOTE(&c->owner);
    c->id = atomic_fetch_add(&next_conn_id, 1);
    c->open = true;
    c->opts = *opts;
    c->dispatch = d;
    c->next_opaque = 1;
    bytebuf_init(&c->in);
    bytebuf_init(&c->scratch);
    u64map_init(&c->pending);
    arena_init(&c->arena, 8192);
    ev_io_init(&c->rio, on_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    ev_init(&c->stall_timer, on_stall_timer);
    ev_prepare_init(&c->flush_prepare, on_flush_prepare);
    ev_init(&c->idle_timer, on_idle_timer);
    ev_init(&c->frame_timer, on_frame_timer);
    c->last_input = c->last_output_progress = ev_now(loop);
    return c;
}

static void start_reading(rm_conn *c)
{
    ev_io_start(c->loop, &c->rio);
    if (c->opts.idle_timeout_ms > 0) {
        c->idle_timer.repeat = c->opts.idle_timeout_ms / 1000.0;
        ev_timer_again(c->loop, &c->idle_timer);
    }
}

void rm_conn_ref(rm_conn *c)
{
    ASSERT_LOOP_THREAD(c);
    assert(c->refs > 0); /* never revive a freed connection */
    c->refs++;
}

static void seg_free(out_seg *s)
{
    if (s->release)
        s->release(s->release_arg);
    free(s->buf);
    free(s);
}

void rm_conn_unref(rm_conn *c)
{
    if (!c)
        return;
    ASSERT_LOOP_THREAD(c);
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    /* Last reference: rm_conn_close ran already (it held the "open" one). */
    bytebuf_free(&c->in);
    bytebuf_free(&c->scratch);
    u64map_free(&c->pending);
    arena_free(&c->arena);
    if (c->spare)
        seg_free(c->spare);
    free(c);
}

bool rm_conn_is_open(const rm_conn *c) { return c && c->open; }
bool rm_conn_is_connected(const rm_conn *c) { return c && c->open && c->connected; }
const char *rm_conn_peer(const rm_conn *c) { return c->peer; }
uint64_t rm_conn_id(const rm_conn *c) { return c->id; }
struct ev_loop *rm_conn_loop(const rm_conn *c) { return c->loop; }
void rm_conn_set_data(rm_conn *c, void *data) { c->data = data; }
void *rm_conn_data(const rm_conn *c) { return c->data; }
size_t rm_conn_queued_bytes(const rm_conn *c) { return c->out_bytes; }
size_t rm_conn_pending_requests(const rm_conn *c) { return c->pending.count; }

void rm_conn_set_on_close(rm_conn *c, rm_close_fn fn, void *arg)
{
    c->on_close = fn;
    c->on_close_arg = arg;
}

const char *rm_conn_close_reason(const rm_conn *c) { return c->close_why; }

static void drop_output(rm_conn *c)
{
    out_seg *s = c->out_head;
    while (s) {
        out_seg *next = s->next;
        seg_free(s);
        s = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

/* ---- input accounting (see the top of the file) ---- */

static void part_unlink(rm_server *s, rm_conn *c)
{
    if (c->part_prev)
        c->part_prev->part_next = c->part_next;
    else
        s->part_head = c->part_next;
    if (c->part_next)
        c->part_next->part_prev = c->part_prev;
    else
        s->part_tail = c->part_prev;
    c->part_prev = c->part_next = NULL;
}

static void part_append(rm_server *s, rm_conn *c)
{
    c->part_prev = s->part_tail;
    c->part_next = NULL;
    if (s->part_tail)
        s->part_tail->part_next = c;
    else
        s->part_head = c;
    s->part_tail = c;
}

/* Records what c holds unhandled after a batch of input. A frame that
 * completed in the batch (frame_done) restarts the clock of the next. */
static void input_account(rm_conn *c, bool frame_done)
{
    size_t held = c->in.len - c->in_off;
    rm_server *s = c->server;
    if (s)
        s->in_held = s->in_held - c->in_held + held;
    c->in_held = held;
    if (held == 0) {
        if (c->in_frame && s)
            part_unlink(s, c);
        c->in_frame = false; /* an armed frame_timer finds nothing to do */
        return;
    }
    if (c->in_frame && !frame_done)
        return; /* the same frame, still arriving */
    c->frame_start = ev_now(c->loop);
    if (s) {
        if (c->in_frame)
            part_unlink(s, c);
        part_append(s, c); /* newest start: the tail keeps the list ordered */
    }
    c->in_frame = true;
    if (c->opts.frame_timeout_ms > 0 && !ev_is_active(&c->frame_timer)) {
        ev_timer_set(&c->frame_timer, c->opts.frame_timeout_ms / 1000.0, 0.);
        ev_timer_start(c->loop, &c->frame_timer);
    }
}

static void input_release(rm_conn *c)
{
    ev_timer_stop(c->loop, &c->frame_timer);
    if (c->server) {
        c->server->in_held -= c->in_held;
        if (c->in_frame)
            part_unlink(c->server, c);
    }
    c->in_held = 0;
    c->in_frame = false;
}

/* Declared size of the frame at the head of c's input (0 if not known yet). */
static size_t input_frame_size(const rm_conn *c)
{
    return c->in_held >= 4 ? (size_t)be32_load(c->in.data + c->in_off) + 4 : 0;
}

void rm_conn_close(rm_conn *c)
{
    if (!c || !c->open)
        return;
    ASSERT_LOOP_THREAD(c);
    rm_conn_ref(c); /* callbacks below may drop other references */
    c->open = false;
    c->connected = false;
    ev_io_stop(c->loop, &c->rio);
    ev_io_stop(c->loop, &c->wio);
    ev_prepare_stop(c->loop, &c->flush_prepare);
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_timer_stop(c->loop, &c->stall_timer);
    ev_timer_stop(c->loop, &c->idle_timer);
    input_release(c);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    drop_output(c);

    /* Fail pending requests. Callbacks cannot add new ones: the connection
     * is closed, so rm_request refuses. */
    size_t n = c->pending.count;
    if (n) {
        pending_req **list = xmalloc(n * sizeof *list);
        size_t k = 0;
        void *v;
        for (size_t it = 0; u64map_next(&c->pending, &it, NULL, &v);)
            list[k++] = v;
        u64map_free(&c->pending);
        u64map_init(&c->pending);
        for (size_t i = 0; i < k; i++) {
            ev_timer_stop(c->loop, &list[i]->timer);
            list[i]->cb(c, RM_ECLOSED, NULL, list[i]->arg);
            free(list[i]);
        }
        free(list);
    }

    if (c->server) {
        rm_server *s = c->server;
        if (c->srv_prev)
            c->srv_prev->srv_next = c->srv_next;
        else
            s->conns = c->srv_next;
        if (c->srv_next)
            c->srv_next->srv_prev = c->srv_prev;
        s->conn_count--;
        c->server = NULL;
        if (c->on_close)
            c->on_close(c, c->on_close_arg);
        if (s->on_close)
            s->on_close(c, s->on_close_arg);
    } else if (c->on_close) {
        c->on_close(c, c->on_close_arg);
    }
    rm_conn_unref(c); /* the "open" reference */
    rm_conn_unref(c); /* ours */
}

/* Ends that are nobody's fault (INFO) and offenders dropped (WARN). */
static void close_for(rm_conn *c, const char *why)
{
    conn_log(EV_CLOSED, LOG_INFO, "closing connection %s: %s", c->peer, why);
    str_copy(c->close_why, sizeof c->close_why, why);
    rm_conn_close(c);
}

static void drop_for(rm_conn *c, const char *why)
{
    conn_log(EV_DROPPED, LOG_WARN, "dropping connection %s: %s", c->peer, why);
    str_copy(c->close_why, sizeof c->close_why, why);
    rm_conn_close(c);
}

/* ---- output ---- */

static void pause_reading(rm_conn *c)
{
    if (!c->read_paused) {
        c->read_paused = true;
        ev_io_stop(c->loop, &c->rio);
    }
}

static void resume_reading(rm_conn *c)
{
    if (!c->read_paused || !c->open)
        return;
    c->read_paused = false;
    if (c->connected)
        ev_io_start(c->loop, &c->rio);
    /* Frames already buffered were left unhandled when we paused. */
    if (!c->processing && c->in.len > c->in_off) {
        rm_conn_ref(c);
        handle_input(c);
        rm_conn_unref(c);
    }
}

static out_seg *owned_seg_with_room(rm_conn *c, size_t n)
{
    out_seg *t = c->out_tail;
    if (t && t->buf && t->cap - t->used >= n)
        return t;
    out_seg *s;
    if (c->spare && n <= c->spare->cap) {
        s = c->spare;
        c->spare = NULL;
    } else {
        size_t cap = n > OUT_CHUNK ? n : OUT_CHUNK;
        s = xmalloc(sizeof *s);
        s->buf = xmalloc(cap);
        s->cap = cap;
    }
    s->next = NULL;
    s->used = 0;
    s->ptr = s->buf;
    s->len = 0;
    s->release = NULL;
    s->release_arg = NULL;
    if (t)
        t->next = s;
    else
        c->out_head = s;
    c->out_tail = s;
    return s;
}

static void append_owned(rm_conn *c, const void *p, size_t n)
{
    out_seg *s = owned_seg_with_room(c, n);
    memcpy(s->buf + s->used, p, n);
    s->used += n;
    s->len += n;
    c->out_bytes += n;
}

static void append_borrowed(rm_conn *c, const void *p, size_t n, rm_release_fn rel, void *arg)
{
    out_seg *s = xmalloc(sizeof *s);
    s->next = NULL;
    s->ptr = p;
    s->len = n;
    s->buf = NULL;
    s->cap = s->used = 0;
    s->release = rel;
    s->release_arg = arg;
    if (c->out_tail)
        c->out_tail->next = s;
    else
        c->out_head = s;
    c->out_tail = s;
    c->out_bytes += n;
}

/* Queues one frame. body (copied) or iov (borrowed) but not both. Calls
 * release exactly once in every case. */
static int queue_frame(rm_conn *c, uint8_t type, const Mq__RemotingHeader *h, const void *body,
                       size_t body_len, const struct iovec *iov, int iovcnt, rm_release_fn release,
                       void *release_arg)
{
    int rc = RM_OK;
    char err[160];
    size_t iov_bytes = 0;
    for (int i = 0; i < iovcnt; i++)
        iov_bytes += iov[i].iov_len;
    size_t total_body = body ? body_len : iov_bytes;
    ASSERT_LOOP_THREAD(c);

    if (!c->open) {
        rc = RM_ECLOSED;
        goto out;
    }
    bytebuf_clear(&c->scratch);
    if (frame_encode(type, h, NULL, total_body, &c->scratch, err, sizeof err) != 0) {
        log_warn("cannot encode frame for %s: %s", c->peer, err);
        rc = RM_EENCODE;
        goto out;
    }
    if (c->scratch.len + total_body > (size_t)c->opts.max_frame + 4) {
        log_warn("refusing to send a %zu-byte frame to %s (max %u)", c->scratch.len + total_body,
                 c->peer, c->opts.max_frame);
        rc = RM_ETOOBIG;
        goto out;
    }
    append_owned(c, c->scratch.data, c->scratch.len);
    if (body && body_len) {
        append_owned(c, body, body_len);
    } else {
        for (int i = 0; i < iovcnt; i++) {
            if (iov[i].iov_len == 0)
                continue;
            bool last = true;
            for (int j = i + 1; j < iovcnt; j++)
                if (iov[j].iov_len)
                    last = false;
            append_borrowed(c, iov[i].iov_base, iov[i].iov_len, last ? release : NULL,
                            last ? release_arg : NULL);
            if (last)
                release = NULL; /* now owned by the segment */
        }
    }
    atomic_fetch_add_explicit(&st_frames_out, 1, memory_order_relaxed);
    if (c->out_bytes > c->opts.write_limit_bytes) {
        atomic_fetch_add(&st_slow_drops, 1);
        char why[128];
        snprintf(why, sizeof why, "peer is not reading (%zu bytes queued, limit %zu)", c->out_bytes,
                 c->opts.write_limit_bytes);
        drop_for(c, why);
        rc = RM_ETOOBIG;
        goto out;
    }
    if (c->out_bytes > c->opts.write_pause_bytes)
        pause_reading(c);
    /* Written when this loop turn ends (or when the input batch being
     * handled ends): everything queued meanwhile leaves in one write. */
    if (!c->processing && !ev_is_active(&c->flush_prepare))
        ev_prepare_start(c->loop, &c->flush_prepare);
out:
    if (release)
        release(release_arg);
    return rc;
}

static void consume_output(rm_conn *c, size_t n)
{
    c->out_bytes -= n;
    while (n > 0) {
        out_seg *s = c->out_head;
        size_t take = n < s->len ? n : s->len;
        s->ptr += take;
        s->len -= take;
        n -= take;
        if (s->len == 0 && !(s == c->out_tail && s->buf && s->used < s->cap)) {
            c->out_head = s->next;
            if (!c->out_head)
                c->out_tail = NULL;
            if (s->buf && s->cap == OUT_CHUNK && !c->spare) {
                c->spare = s;
            } else {
                seg_free(s);
            }
        }
    }
    /* A drained tail chunk with room left stays for the next frame. */
    if (c->out_head && c->out_head == c->out_tail && c->out_head->len == 0 && c->out_head->buf) {
        out_seg *s = c->out_head;
        s->used = 0;
        s->ptr = s->buf;
    }
}

static void conn_flush(rm_conn *c)
{
    if (!c->open || !c->connected)
        return;
    while (c->out_bytes > 0) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        for (out_seg *s = c->out_head; s && n < MAX_IOV; s = s->next)
            if (s->len)
                iov[n++] = (struct iovec){(void *)s->ptr, s->len};
        /* sendmsg + MSG_NOSIGNAL: a peer that vanished must not raise
         * SIGPIPE in whatever process embeds the transport. */
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(c->loop, &c->wio);
                if (c->opts.write_stall_ms > 0 && !ev_is_active(&c->stall_timer)) {
                    c->last_output_progress = ev_now(c->loop);
                    ev_timer_set(&c->stall_timer, c->opts.write_stall_ms / 1000.0, 0.);
                    ev_timer_start(c->loop, &c->stall_timer);
                }
                return;
            }
            char why[128];
            snprintf(why, sizeof why, "write failed: %s", strerror(errno));
            close_for(c, why);
            return;
        }
        c->last_output_progress = ev_now(c->loop);
        consume_output(c, (size_t)w);
    }
    ev_io_stop(c->loop, &c->wio);
    ev_timer_stop(c->loop, &c->stall_timer);
    if (c->read_paused)
        resume_reading(c);
}

static void on_flush_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, flush_prepare);
    LOOP_OWNER_NOTE(&c->owner);
    ev_prepare_stop(loop, w);
    rm_conn_ref(c); /* a failed write closes c */
    conn_flush(c);
    rm_conn_unref(c);
}

void rm_conn_flush_now(rm_conn *c)
{
    LOOP_OWNER_NOTE(&c->owner);
    if (c->processing || !ev_is_active(&c->flush_prepare))
        return;
    ev_prepare_stop(c->loop, &c->flush_prepare);
    rm_conn_ref(c); /* a failed write closes c */
    conn_flush(c);
    rm_conn_unref(c);
}

static void on_stall_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, stall_timer);
    double limit = c->opts.write_stall_ms / 1000.0;
    double idle = ev_now(loop) - c->last_output_progress;
    if (c->out_bytes == 0)
        return;
    if (idle >= limit) {
        atomic_fetch_add(&st_slow_drops, 1);
        char why[128];
        snprintf(why, sizeof why, "peer read nothing for %d ms (%zu bytes queued)",
                 c->opts.write_stall_ms, c->out_bytes);
        drop_for(c, why);
        return;
    }
    ev_timer_set(w, limit - idle, 0.);
    ev_timer_start(loop, w);
}

static void on_idle_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, idle_timer);
    double limit = c->opts.idle_timeout_ms / 1000.0;
    double idle = ev_now(loop) - c->last_input;
    if (idle >= limit) {
        close_for(c, "idle timeout");
        return;
    }
    w->repeat = limit - idle;
    ev_timer_again(loop, w);
}

static void on_connected(rm_conn *c)
{
    c->connected = true;
    ev_timer_stop(c->loop, &c->connect_timer);
    start_reading(c);
    conn_flush(c);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, wio);
    LOOP_OWNER_NOTE(&c->owner);
    rm_conn_ref(c);
    if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            char why[160];
            snprintf(why, sizeof why, "connect failed: %s", strerror(err));
            close_for(c, why);
        } else {
            ev_io_stop(c->loop, &c->wio);
            on_connected(c);
        }
    } else {
        conn_flush(c);
    }
    rm_conn_unref(c);
}

/* ---- input ---- */

static void handle_request(rm_conn *c, const rm_cmd *cmd)
{
    const Mq__RemotingHeader *h = cmd->hdr;
    handler_entry *e = c->dispatch ? u64map_get(&c->dispatch->handlers, (uint32_t)h->code) : NULL;
    if (!e) {
        log_debug("request code %d from %s not supported", h->code, c->peer);
        rm_reply_status(c, cmd, RS_REQUEST_CODE_NOT_SUPPORTED, "request code %d not supported",
                        h->code);
        return;
    }
    const rm_code_info *info = rm_code_lookup(h->code);
    if (info && info->request_ext != MQ__REMOTING_HEADER__EXT__NOT_SET &&
        h->ext_case != info->request_ext) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(
            &mq__remoting_header__descriptor, (unsigned)info->request_ext);
        rm_reply_status(c, cmd, RS_SYSTEM_ERROR, "%s (%d) request lacks its %s header%s%s", info->name,
                        h->code, fd ? ((const ProtobufCMessageDescriptor *)fd->descriptor)->short_name : "typed",
                        h->remark ? ": " : "", h->remark ? h->remark : "");
        return;
    }
    const rm_observer *o = &c->dispatch->observer;
    if (o->on_request && (c->obs_tag = o->on_request(o->arg, cmd)) != NULL)
        c->obs_start_ns = mono_ns();
    e->fn(c, cmd, e->arg);
    c->obs_tag = NULL;
}

static void handle_response(rm_conn *c, const rm_cmd *cmd)
{
    pending_req *p = u64map_remove(&c->pending, (uint32_t)cmd->hdr->opaque);
    if (!p) {
        log_debug("response from %s for unknown request %d (timed out?)", c->peer, cmd->hdr->opaque);
        return;
    }
    ev_timer_stop(c->loop, &p->timer);
    p->cb(c, RM_OK, cmd, p->arg);
    free(p);
}

/* Returns false if the connection was closed for a bad frame. */
static bool handle_frame(rm_conn *c, const frame_view *f)
{
    char err[160];
    arena_reset(&c->arena);
    Mq__RemotingHeader *h = NULL;
    if (frame_header_decode(f->serialize_type, f->header, f->header_len, &c->arena, &h, err,
                            sizeof err) != 0) {
        atomic_fetch_add(&st_bad_frames, 1);
        drop_for(c, err);
        return false;
    }
    atomic_fetch_add_explicit(&st_frames_in, 1, memory_order_relaxed);
    rm_cmd cmd = {h, f->body, f->body_len, f->serialize_type};
    if (h->flag & RM_FLAG_RESPONSE) {
        handle_response(c, &cmd);
    } else {
        c->peer_type = (uint8_t)(f->serialize_type + 1);
        handle_request(c, &cmd);
    }
    return c->open;
}

static void handle_input(rm_conn *c)
{
    size_t frames = 0;
    c->processing = true;
    while (c->open && !c->read_paused) {
        frame_view f;
        frame_status st = frame_parse(c->in.data + c->in_off, c->in.len - c->in_off,
                                      c->opts.max_frame, &f);
        if (st == FRAME_NEED_MORE)
            break;
        if (st != FRAME_OK) {
            atomic_fetch_add(&st_bad_frames, 1);
            char why[160];
            if (st == FRAME_TOO_BIG)
                snprintf(why, sizeof why, "frame of %u bytes exceeds the maximum of %u",
                         be32_load(c->in.data + c->in_off), c->opts.max_frame);
            else
                snprintf(why, sizeof why, "malformed frame (inconsistent lengths)");
            drop_for(c, why);
            break;
        }
        if (!handle_frame(c, &f))
            break;
        c->in_off += f.frame_bytes;
        frames++;
    }
    c->processing = false;
    if (!c->open)
        return;
    /* Compact the read buffer. */
    if (c->in_off == c->in.len) {
        c->in_off = c->in.len = 0;
        if (c->in.cap > IN_BUF_KEEP) {
            bytebuf_free(&c->in);
            bytebuf_init(&c->in);
        }
    } else if (c->in_off > 0 && c->in_off >= c->in.len / 2) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    input_account(c, frames > 0);
    arena_reset(&c->arena);
    conn_flush(c);
}

/* Over the server's input limit: close connections, the one whose
 * unfinished frame started longest ago first, until back under. */
static void enforce_input_limit(rm_conn *c)
{
    rm_server *s = c->server;
    if (!s || s->opts.input_limit_bytes == 0)
        return;
    while (s->in_held > s->opts.input_limit_bytes && s->part_head) {
        rm_conn *v = s->part_head;
        char why[256];
        snprintf(why, sizeof why,
                 "input limit of %zu bytes reached (%zu held by unhandled input); its frame was the "
                 "oldest in progress: %.1f s, %zu of %zu bytes received",
                 s->opts.input_limit_bytes, s->in_held, ev_now(v->loop) - v->frame_start, v->in_held,
                 input_frame_size(v));
        atomic_fetch_add(&st_input_drops, 1);
        bool self = v == c;
        drop_for(v, why);
        if (self)
            break;
    }
}

static void on_frame_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, frame_timer);
    LOOP_OWNER_NOTE(&c->owner);
    if (!c->open || !c->in_frame)
        return;
    double limit = c->opts.frame_timeout_ms / 1000.0;
    if (c->read_paused) /* we stopped reading (its answers queue up): not the peer's delay */
        c->frame_start = ev_now(loop);
    double age = ev_now(loop) - c->frame_start;
    if (age >= limit) {
        char why[200];
        snprintf(why, sizeof why, "frame not complete %d ms after its first byte (%zu of %zu bytes received)",
                 c->opts.frame_timeout_ms, c->in_held, input_frame_size(c));
        atomic_fetch_add(&st_input_drops, 1);
        drop_for(c, why);
        return;
    }
    ev_timer_set(w, limit - age, 0.);
    ev_timer_start(loop, w);
}

static void read_input(rm_conn *c);

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, rio);
    LOOP_OWNER_NOTE(&c->owner);
    c->last_input = ev_now(loop);
    read_input(c);
}

void rm_conn_read_now(rm_conn *c)
{
    LOOP_OWNER_NOTE(&c->owner);
    if (c->open && c->connected && !c->read_paused)
        read_input(c);
}

size_t rm_conn_wait_input(rm_conn *const *cs, size_t n, int64_t timeout_us)
{
    enum { MAX_WAIT = 64 };
    struct pollfd pf[MAX_WAIT];
    rm_conn *of[MAX_WAIT];
    size_t np = 0;
    for (size_t i = 0; i < n && np < MAX_WAIT; i++) {
        rm_conn *c = cs[i];
        LOOP_OWNER_NOTE(&c->owner);
        if (c->open && c->connected && !c->read_paused) {
            pf[np] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            of[np++] = c;
        }
    }
    if (np == 0 || timeout_us <= 0)
        return 0;
    struct timespec ts = {(time_t)(timeout_us / 1000000), (long)(timeout_us % 1000000) * 1000};
    if (ppoll(pf, (nfds_t)np, &ts, NULL) <= 0)
        return 0;
    size_t got = 0;
    for (size_t i = 0; i < np; i++) {
        if (pf[i].revents && of[i]->open && !of[i]->read_paused) {
            read_input(of[i]);
            got++;
        }
    }
    return got;
}

/* Reads what the socket holds (up to READS_PER_EVENT recv calls) and
 * handles the frames. */
static void read_input(rm_conn *c)
{
    rm_conn_ref(c);
    for (int round = 0; round < READS_PER_EVENT && c->open && !c->read_paused; round++) {
        /* Read at least the rest of a frame whose length is known. */
        size_t want = READ_CHUNK;
        size_t have = c->in.len - c->in_off;
        if (have >= 4) {
            size_t need = (size_t)be32_load(c->in.data + c->in_off) + 4;
            /* Grow with what arrives (at most doubling), not with what the
             * peer declares: a stalled 16 MiB frame holds what was sent. */
            if (need > have && need - have > want && need <= (size_t)c->opts.max_frame + 4)
                want = MQ_MIN(need - have, MQ_MAX(have, (size_t)READ_CHUNK));
        }
        uint8_t *dst = bytebuf_reserve(&c->in, want);
        size_t room = MQ_MIN(c->in.cap - c->in.len - 1, (size_t)RECV_MAX);
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            handle_input(c);
            if (c->open)
                enforce_input_limit(c);
            if ((size_t)n < room)
                break; /* socket drained */
            continue;
        }
        if (n == 0) {
            close_for(c, "peer closed the connection");
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            char why[128];
            snprintf(why, sizeof why, "read failed: %s", strerror(errno));
            close_for(c, why);
        }
        break;
    }
    rm_conn_unref(c);
}

/* ---- servers ---- */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    rm_server *s = container_of(w, rm_server, accept_io);
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(s->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection stays in the backlog and the
                 * socket stays readable: wait instead of spinning. */
                conn_log(EV_ACCEPT, LOG_WARN,
                         "accept on port %d failed: %s (%zu connections open); pausing accepts for 100 ms",
                         s->port, strerror(errno), s->conn_count);
                ev_io_stop(loop, &s->accept_io);
                ev_timer_set(&s->accept_timer, 0.1, 0.);
                ev_timer_start(loop, &s->accept_timer);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_log(EV_ACCEPT, LOG_WARN, "accept on port %d failed: %s", s->port, strerror(errno));
            }
            return;
        }
        if (s->max_conns && s->conn_count >= s->max_conns) {
            char peer[ADDR_TEXT_MAX];
            addr_format((struct sockaddr *)&ss, peer, sizeof peer);
            close(fd);
            atomic_fetch_add(&st_refused, 1);
            conn_log(EV_REFUSED, LOG_WARN, "refusing connection from %s on port %d: %zu connections open (limit %zu)",
                     peer, s->port, s->conn_count, s->max_conns);
            continue;
        }
        set_socket_options(fd);
        rm_conn *c = conn_new(loop, fd, &s->opts, s->dispatch);
        addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
        c->connected = true;
        c->server = s;
        c->srv_next = s->conns;
        if (s->conns)
            s->conns->srv_prev = c;
        s->conns = c;
        s->conn_count++;
        start_reading(c);
        log_debug("accepted connection from %s", c->peer);
    }
}

static void on_accept_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    rm_server *s = container_of(w, rm_server, accept_timer);
    if (s->fd >= 0)
        ev_io_start(loop, &s->accept_io);
}

/* max_connections 0: what the descriptor limit leaves after FD_RESERVE
 * for store files, RocksDB and outgoing connections (0 = unlimited). */
static size_t resolve_max_conns(int configured)
{
    if (configured > 0)
        return (size_t)configured;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    size_t cur = (size_t)rl.rlim_cur;
    return cur > 2 * FD_RESERVE ? cur - FD_RESERVE : cur / 2;
}

rm_server *rm_server_new(struct ev_loop *loop, const rm_options *opts, rm_dispatch *d)
{
    rm_server *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->fd = -1;
    if (opts)
        s->opts = *opts;
    else
        rm_options_default(&s->opts);
    s->dispatch = d;
    s->max_conns = resolve_max_conns(s->opts.max_connections);
    ev_init(&s->accept_timer, on_accept_resume);
    return s;
}

int rm_server_listen(rm_server *s, const char *host, int port, char *err, size_t errlen)
{
    char text[ADDR_TEXT_MAX + 8];
    if (strchr(host, ':'))
        snprintf(text, sizeof text, "[%s]:%d", host, port);
    else
        snprintf(text, sizeof text, "%s:%d", host, port);
    struct sockaddr_storage ss;
    socklen_t len;
    if (addr_resolve(text, &ss, &len, err, errlen) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    s->port = addr_port((struct sockaddr *)&bound);
    s->fd = fd;
    ev_io_init(&s->accept_io, on_accept, fd, EV_READ);
    ev_io_start(s->loop, &s->accept_io);
    return 0;
}

int rm_server_port(const rm_server *s) { return s->port; }
size_t rm_server_conn_count(const rm_server *s) { return s->conn_count; }
size_t rm_server_input_held(const rm_server *s) { return s->in_held; }

void rm_server_on_close(rm_server *s, rm_close_fn fn, void *arg)
{
    s->on_close = fn;
    s->on_close_arg = arg;
}

void rm_server_free(rm_server *s)
{
    if (!s)
        return;
    ev_timer_stop(s->loop, &s->accept_timer);
    if (s->fd >= 0) {
        ev_io_stop(s->loop, &s->accept_io);
        close(s->fd);
    }
    while (s->conns)
        rm_conn_close(s->conns);
    free(s);
}

/* ---- outgoing ---- */

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    rm_conn *c = container_of(w, rm_conn, connect_timer);
    close_for(c, "connect timed out");
}

rm_conn *rm_connect(struct ev_loop *loop, const char *addr, const rm_options *opts,
                    rm_dispatch *d, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (addr_resolve(addr, &ss, &len, err, errlen) != 0)
        return NULL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    set_socket_options(fd);
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    if (rc != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect to %s: %s", addr, strerror(errno));
        close(fd);
        return NULL;
    }
    rm_options o;
    if (opts)
        o = *opts;
    else
        rm_options_default(&o);
    rm_conn *c = conn_new(loop, fd, &o, d);
    str_copy(c->peer, sizeof c->peer, addr);
    c->refs++; /* the caller's */
    if (rc == 0) {
        on_connected(c);
    } else {
        ev_io_start(loop, &c->wio);
        ev_timer_init(&c->connect_timer, on_connect_timeout, o.connect_timeout_ms / 1000.0, 0.);
        ev_timer_start(loop, &c->connect_timer);
    }
    return c;
}

static void on_request_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    pending_req *p = (pending_req *)w;
    rm_conn *c = p->conn;
    u64map_remove(&c->pending, (uint32_t)p->opaque);
    atomic_fetch_add(&st_timeouts, 1);
    rm_conn_ref(c);
    p->cb(c, RM_ETIMEDOUT, NULL, p->arg);
    free(p);
    rm_conn_unref(c);
}

static void prepare_request(rm_conn *c, Mq__RemotingHeader *h, int32_t flag)
{
    do {
        h->opaque = c->next_opaque++;
        if (c->next_opaque <= 0)
            c->next_opaque = 1;
    } while (u64map_contains(&c->pending, (uint32_t)h->opaque));
    h->has_opaque = 1;
    h->has_code = 1;
    h->flag = flag;
    h->has_flag = 1;
    if (!h->has_language) {
        h->language = RM_LANGUAGE_OURS;
        h->has_language = 1;
    }
    if (!h->has_version) {
        h->version = RM_VERSION_OURS;
        h->has_version = 1;
    }
}

int rm_request(rm_conn *c, Mq__RemotingHeader *h, const void *body, size_t body_len,
               int timeout_ms, rm_response_fn cb, void *arg)
{
    if (!c->open)
        return RM_ECLOSED;
    prepare_request(c, h, 0);
    int rc = queue_frame(c, request_type(c), h, body, body_len, NULL, 0, NULL, NULL);
    if (rc != RM_OK)
        return rc;
    if (!c->open) /* closed while flushing */
        return RM_ECLOSED;
    pending_req *p = xmalloc(sizeof *p);
    p->conn = c;
    p->opaque = h->opaque;
    p->cb = cb;
    p->arg = arg;
    ev_timer_init(&p->timer, on_request_timeout, (timeout_ms > 0 ? timeout_ms : 1) / 1000.0, 0.);
    ev_timer_start(c->loop, &p->timer);
    u64map_put(&c->pending, (uint32_t)h->opaque, p);
    return RM_OK;
}

/* A control body of a request on c, in the encoding requests on c use. */
static int encode_request_body(rm_conn *c, const ProtobufCMessage *body, bytebuf *b)
{
    char err[128];
    bytebuf_init(b);
    if (body && frame_body_encode(request_type(c), body, b, err, sizeof err) != 0) {
        bytebuf_free(b);
        return RM_EENCODE;
    }
    return RM_OK;
}

int rm_request_msg(rm_conn *c, Mq__RemotingHeader *h, const ProtobufCMessage *body,
                   int timeout_ms, rm_response_fn cb, void *arg)
{
    bytebuf b;
    if (encode_request_body(c, body, &b) != RM_OK)
        return RM_EENCODE;
    int rc = rm_request(c, h, b.data, b.len, timeout_ms, cb, arg);
    bytebuf_free(&b);
    return rc;
}

int rm_oneway(rm_conn *c, Mq__RemotingHeader *h, const void *body, size_t body_len)
{
    if (!c->open)
        return RM_ECLOSED;
    prepare_request(c, h, RM_FLAG_ONEWAY);
    return queue_frame(c, request_type(c), h, body, body_len, NULL, 0, NULL, NULL);
}

int rm_oneway_msg(rm_conn *c, Mq__RemotingHeader *h, const ProtobufCMessage *body)
{
    bytebuf b;
    if (encode_request_body(c, body, &b) != RM_OK)
        return RM_EENCODE;
    int rc = rm_oneway(c, h, b.data, b.len);
    bytebuf_free(&b);
    return rc;
}

ProtobufCMessage *rm_body_decode(rm_conn *c, const rm_cmd *cmd,
                                 const ProtobufCMessageDescriptor *desc, char *err, size_t errlen)
{
    return frame_body_decode(cmd->serialize_type, desc, cmd->body, cmd->body_len, &c->arena, err,
                             errlen);
}

/* ---- answers ---- */

static void reply_to_init(rm_reply_to *to, rm_conn *c, const rm_cmd *req, bool hold)
{
    to->conn = c;
    to->opaque = req->hdr->opaque;
    to->request_code = req->hdr->code;
    to->serialize_type = req->serialize_type;
    to->oneway = (req->hdr->flag & RM_FLAG_ONEWAY) != 0;
    to->holds_ref = hold;
    to->obs_tag = c->obs_tag;
    to->obs_start_ns = c->obs_start_ns;
    if (hold)
        rm_conn_ref(c);
}

void rm_defer(rm_conn *c, const rm_cmd *req, rm_reply_to *out) { reply_to_init(out, c, req, true); }

void rm_reply_to_drop(rm_reply_to *to)
{
    if (to->conn && to->holds_ref)
        rm_conn_unref(to->conn);
    to->conn = NULL;
}

static int respond(rm_reply_to *to, Mq__RemotingHeader *h, const void *body, size_t body_len,
                   const struct iovec *iov, int iovcnt, rm_release_fn release, void *release_arg)
{
    rm_conn *c = to->conn;
    int rc = RM_OK;
    if (!c) {
        rc = RM_ECLOSED;
        if (release)
            release(release_arg);
    } else if (to->oneway) {
        if (release)
            release(release_arg);
    } else {
        h->opaque = to->opaque;
        h->has_opaque = 1;
        h->flag = RM_FLAG_RESPONSE;
        h->has_flag = 1;
        h->has_code = 1;
        if (!h->has_language) {
            h->language = RM_LANGUAGE_OURS;
            h->has_language = 1;
        }
        if (!h->has_version) {
            h->version = RM_VERSION_OURS;
            h->has_version = 1;
        }
        if (to->obs_tag && c->dispatch && c->dispatch->observer.on_response) {
            size_t bytes = body_len;
            for (int i = 0; i < iovcnt; i++)
                bytes += iov[i].iov_len;
            c->dispatch->observer.on_response(c->dispatch->observer.arg, to->obs_tag, to->request_code, h->code,
                                              bytes, mono_ns() - to->obs_start_ns);
        }
        rc = queue_frame(c, to->serialize_type, h, body, body_len, iov, iovcnt, release,
                         release_arg);
    }
    rm_reply_to_drop(to);
    return rc;
}

int rm_respond(rm_reply_to *to, Mq__RemotingHeader *h, const void *body, size_t body_len)
{
    return respond(to, h, body, body_len, NULL, 0, NULL, NULL);
}

int rm_respond_msg(rm_reply_to *to, Mq__RemotingHeader *h, const ProtobufCMessage *body)
{
    if (!to->conn || to->oneway)
        return respond(to, h, NULL, 0, NULL, 0, NULL, NULL);
    bytebuf b;
    bytebuf_init(&b);
    char err[128];
    if (body && frame_body_encode(to->serialize_type, body, &b, err, sizeof err) != 0) {
        bytebuf_free(&b);
        rm_reply_to_drop(to);
        return RM_EENCODE;
    }
    int rc = respond(to, h, b.data, b.len, NULL, 0, NULL, NULL);
    bytebuf_free(&b);
    return rc;
}

int rm_respond_iov(rm_reply_to *to, Mq__RemotingHeader *h, const struct iovec *iov, int iovcnt,
                   rm_release_fn release, void *release_arg)
{
    return respond(to, h, NULL, 0, iov, iovcnt, release, release_arg);
}

static int respond_status_v(rm_reply_to *to, int32_t code, const char *fmt, va_list ap)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    char remark[512];
    h.code = code;
    if (fmt) {
        vsnprintf(remark, sizeof remark, fmt, ap);
        h.remark = remark;
    }
    return respond(to, &h, NULL, 0, NULL, 0, NULL, NULL);
}

int rm_respond_status(rm_reply_to *to, int32_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = respond_status_v(to, code, fmt, ap);
    va_end(ap);
    return rc;
}

int rm_reply(rm_conn *c, const rm_cmd *req, Mq__RemotingHeader *h, const void *body,
             size_t body_len)
{
    rm_reply_to to;
    reply_to_init(&to, c, req, false);
    return rm_respond(&to, h, body, body_len);
}

int rm_reply_msg(rm_conn *c, const rm_cmd *req, Mq__RemotingHeader *h, const ProtobufCMessage *body)
{
    rm_reply_to to;
    reply_to_init(&to, c, req, false);
    return rm_respond_msg(&to, h, body);
}

int rm_reply_ok(rm_conn *c, const rm_cmd *req, const ProtobufCMessage *body)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RS_SUCCESS;
    return rm_reply_msg(c, req, &h, body);
}

int rm_reply_iov(rm_conn *c, const rm_cmd *req, Mq__RemotingHeader *h, const struct iovec *iov,
                 int iovcnt, rm_release_fn release, void *release_arg)
{
    rm_reply_to to;
    reply_to_init(&to, c, req, false);
    return rm_respond_iov(&to, h, iov, iovcnt, release, release_arg);
}

int rm_reply_status(rm_conn *c, const rm_cmd *req, int32_t code, const char *fmt, ...)
{
    rm_reply_to to;
    reply_to_init(&to, c, req, false);
    va_list ap;
    va_start(ap, fmt);
    int rc = respond_status_v(&to, code, fmt, ap);
    va_end(ap);
    return rc;
}
