/*
 * instance.c - see instance.h.
 *
 * Cross-thread calls: a caller on another thread fills a call record on its
 * own stack, posts it to the I/O thread and waits on the record's condition
 * variable; the I/O thread sends, and on the response copies what the caller
 * needs out of the transport's buffers before signalling. The record stays
 * valid because its owner is waiting.
 *
 * "View" calls (mqc_invoke_sync_view: the producer's sync sends, the pull
 * consumer's pulls) first try a connection of the caller's own (direct.c):
 * the caller writes the request and reads the answer itself, with no
 * thread hand-off. While DIRECT_MAX_CALLERS such calls are in progress,
 * further ones take the path below instead: the caller's
 * header is used in place and the response is read on the I/O thread
 * straight from the transport's buffer, so no header is packed, copied or
 * unpacked and nothing is allocated here; the call record is posted
 * intrusively (evq_post) for the same reason.
 *
 * Nameserver fail-over: requests go to the current nameserver; a connection
 * failure or timeout moves the index to the next one and retries until each
 * has been tried once. The header is kept packed between attempts so async
 * callers need not keep theirs alive.
 */
#define _GNU_SOURCE
#include "instance.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "direct.h"
#include "evq.h"
#include "hashmap.h"
#include "log.h"
#include "util.h"

/* View calls go direct while at most this many are in progress at once.
 * Direct saves each caller two thread hand-offs; the shared connection
 * saves the broker a read and a write per caller (one read and one write
 * carry all the callers' requests and answers), which wins when many
 * threads send at once (W5 x64: 39-41k against 31-35k msgs/s direct). */
enum { DIRECT_MAX_CALLERS = 8 };

typedef struct route_entry {
    mqc_route pub; /* first: mqc_route* and route_entry* convert */
    atomic_int refs;
} route_entry;

struct mqc_instance {
    struct ev_loop *loop;
    evq *q;
    pthread_t thread;
    pthread_t io_tid;
    ev_async stop_async;
    ev_timer route_timer;
    rm_dispatch *dispatch;
    rm_options conn_opts;
    mqc_direct *direct; /* sync view calls on the caller's thread (direct.c) */
    atomic_int view_calls; /* view calls in progress, direct or not */
    int direct_max;
    strmap conns; /* addr -> rm_conn* (io) */
    char namesrv[MAX_NAMESRV][ADDR_TEXT_MAX];
    int namesrv_count;
    int namesrv_current; /* (io) */
    int timeout_ms;
    int poll_interval_ms;
    char client_ip[64];
    char client_id[160];
    pthread_mutex_t lock; /* guards stopping and routes */
    bool stopping;
    bool io_stopping; /* (io) shutdown under way: start nothing new */
    strmap routes; /* topic -> route_entry* */
};

/* ---- errors ---- */

void mqc_error_set(mq_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    err->status = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

const char *mqc_response_remark(const mqc_response *r)
{
    return r->hdr && r->hdr->remark ? r->hdr->remark : "";
}

void mqc_error_from_response(mq_error *err, const char *what, const mqc_response *r)
{
    if (!err)
        return;
    err->code = MQ_EBROKER;
    err->status = r->code;
    snprintf(err->message, sizeof err->message, "%s: %s (%d)%s%s", what, rm_status_name(r->code),
             r->code, *mqc_response_remark(r) ? ": " : "", mqc_response_remark(r));
}

void mqc_response_free(mqc_response *r)
{
    if (!r)
        return;
    if (r->hdr)
        mq__remoting_header__free_unpacked(r->hdr, NULL);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Copies a transport response (valid during a callback) into out. */
static void copy_response(const rm_cmd *resp, mqc_response *out)
{
    memset(out, 0, sizeof *out);
    out->code = resp->hdr->code;
    size_t n = mq__remoting_header__get_packed_size(resp->hdr);
    uint8_t small[512];
    uint8_t *buf = n <= sizeof small ? small : xmalloc(n);
    mq__remoting_header__pack(resp->hdr, buf);
    out->hdr = mq__remoting_header__unpack(NULL, n, buf);
    if (buf != small)
        free(buf);
    if (resp->body_len) {
        out->body = xmalloc(resp->body_len);
        memcpy(out->body, resp->body, resp->body_len);
        out->body_len = resp->body_len;
    }
}

/* ---- options, thread, posting ---- */

void mqc_options_default(mqc_options *o)
{
    o->namesrv_addr = NULL;
    o->instance_name = NULL;
    o->request_timeout_ms = 3000;
    o->poll_name_server_interval_ms = 30000;
}

const char *mqc_client_id(const mqc_instance *inst) { return inst->client_id; }
const char *mqc_client_ip(const mqc_instance *inst) { return inst->client_ip; }
struct ev_loop *mqc_loop(mqc_instance *inst) { return inst->loop; }
int mqc_default_timeout(const mqc_instance *inst) { return inst->timeout_ms; }

bool mqc_on_io_thread(const mqc_instance *inst)
{
    return pthread_equal(pthread_self(), inst->io_tid);
}

int mqc_post(mqc_instance *inst, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&inst->lock);
    bool stopping = inst->stopping;
    if (!stopping)
        evq_post_fn(inst->q, fn, arg);
    pthread_mutex_unlock(&inst->lock);
    return stopping ? MQ_ESTATE : MQ_OK;
}

int mqc_post_item(mqc_instance *inst, evq_item *item, void (*fn)(evq_item *item))
{
    pthread_mutex_lock(&inst->lock);
    bool stopping = inst->stopping;
    if (!stopping)
        evq_post(inst->q, item, fn);
    pthread_mutex_unlock(&inst->lock);
    return stopping ? MQ_ESTATE : MQ_OK;
}

typedef struct run_sync_job {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool done;
} run_sync_job;

static void run_sync_trampoline(void *p)
{
    run_sync_job *j = p;
    j->fn(j->arg);
    pthread_mutex_lock(&j->m);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->m);
}

int mqc_run_sync(mqc_instance *inst, void (*fn)(void *arg), void *arg)
{
    if (mqc_on_io_thread(inst))
        return MQ_ESTATE;
    run_sync_job j = {fn, arg, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    pthread_mutex_lock(&inst->lock);
    bool stopping = inst->stopping;
    if (!stopping)
        evq_post_fn(inst->q, run_sync_trampoline, &j);
    pthread_mutex_unlock(&inst->lock);
    if (stopping)
        return MQ_ESTATE;
    pthread_mutex_lock(&j.m);
    while (!j.done)
        pthread_cond_wait(&j.cv, &j.m);
    pthread_mutex_unlock(&j.m);
    return MQ_OK;
}

static void *io_main(void *arg)
{
    mqc_instance *inst = arg;
    log_set_thread_name("mq-io");
    /* Every socket write of this client happens on this thread. A write to
     * a peer that died (a broker killed) must fail with EPIPE, not kill the
     * application with SIGPIPE: keep the signal blocked here (it stays
     * pending on this thread, harmlessly). */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    ev_run(inst->loop, 0);
    return NULL;
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    mqc_instance *inst = w->data;
    inst->io_stopping = true;
    ev_timer_stop(loop, &inst->route_timer);
    /* Close every connection: pending requests fail, waiters wake. */
    const char *k;
    void *v;
    size_t n = inst->conns.count, i = 0;
    rm_conn **list = xmalloc((n ? n : 1) * sizeof *list);
    for (size_t it = 0; strmap_next(&inst->conns, &it, &k, &v);)
        list[i++] = v;
    for (i = 0; i < n; i++)
        rm_conn_close(list[i]); /* on_conn_close unrefs and unmaps */
    free(list);
    evq_drain(inst->q);
    ev_break(loop, EVBREAK_ALL);
}

static void refresh_routes(struct ev_loop *loop, ev_timer *w, int revents);

int mqc_instance_new(const mqc_options *o, mqc_instance **out, mq_error *err)
{
    log_set_default_level(LOG_WARN); /* the library's default (mq/mq.h), unless the application chose */
    mqc_options def;
    if (!o) {
        mqc_options_default(&def);
        o = &def;
    }
    const char *ns = o->namesrv_addr && *o->namesrv_addr ? o->namesrv_addr : getenv("NAMESRV_ADDR");
    if (!ns || !*ns) {
        mqc_error_set(err, MQ_EINVAL, "no nameserver address: give one (-n host:9876) or set NAMESRV_ADDR");
        return MQ_EINVAL;
    }
    mqc_instance *inst = xcalloc(1, sizeof *inst);
    char why[256];
    inst->namesrv_count = addr_list_split(ns, inst->namesrv, MAX_NAMESRV, why, sizeof why);
    if (inst->namesrv_count <= 0) {
        mqc_error_set(err, MQ_EINVAL, "bad nameserver list '%s': %s", ns,
                      inst->namesrv_count == 0 ? "empty" : why);
        free(inst);
        return MQ_EINVAL;
    }
    inst->namesrv_current = (int)(mono_ns() % inst->namesrv_count);
    inst->timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 3000;
    inst->poll_interval_ms = o->poll_name_server_interval_ms > 0 ? o->poll_name_server_interval_ms : 30000;
    addr_local_ip(inst->client_ip, sizeof inst->client_ip);
    if (o->instance_name && *o->instance_name)
        snprintf(inst->client_id, sizeof inst->client_id, "%s@%s", inst->client_ip, o->instance_name);
    else
        snprintf(inst->client_id, sizeof inst->client_id, "%s@%d#%lld", inst->client_ip, (int)getpid(),
                 (long long)mono_ns());
    rm_options_default(&inst->conn_opts);
    inst->direct = mqc_direct_new(&inst->conn_opts);
    inst->direct_max = DIRECT_MAX_CALLERS;
    const char *env = getenv("MQ_DIRECT_MAX");
    if (env && *env)
        inst->direct_max = atoi(env);
    pthread_mutex_init(&inst->lock, NULL);
    strmap_init(&inst->conns);
    strmap_init(&inst->routes);
    inst->loop = ev_loop_new(EVFLAG_AUTO);
    inst->q = evq_new(inst->loop);
    inst->dispatch = rm_dispatch_new();
    ev_async_init(&inst->stop_async, on_stop);
    inst->stop_async.data = inst;
    ev_async_start(inst->loop, &inst->stop_async);
    ev_timer_init(&inst->route_timer, refresh_routes, inst->poll_interval_ms / 1000.0,
                  inst->poll_interval_ms / 1000.0);
    inst->route_timer.data = inst;
    ev_timer_start(inst->loop, &inst->route_timer);
    if (pthread_create(&inst->thread, NULL, io_main, inst) != 0) {
        mqc_error_set(err, MQ_ENOMEM, "cannot start the client I/O thread");
        evq_free(inst->q);
        ev_loop_destroy(inst->loop);
        rm_dispatch_free(inst->dispatch);
        mqc_direct_free(inst->direct);
        free(inst);
        return MQ_ENOMEM;
    }
    inst->io_tid = inst->thread;
    *out = inst;
    return MQ_OK;
}

void mqc_instance_free(mqc_instance *inst)
{
    if (!inst)
        return;
    pthread_mutex_lock(&inst->lock);
    inst->stopping = true;
    pthread_mutex_unlock(&inst->lock);
    mqc_direct_free(inst->direct);
    ev_async_send(inst->loop, &inst->stop_async);
    pthread_join(inst->thread, NULL);
    evq_free(inst->q);
    ev_loop_destroy(inst->loop);
    rm_dispatch_free(inst->dispatch);
    strmap_free(&inst->conns);
    void *v;
    for (size_t it = 0; strmap_next(&inst->routes, &it, NULL, &v);)
        mqc_route_release(v);
    strmap_free(&inst->routes);
    pthread_mutex_destroy(&inst->lock);
    free(inst);
}

void mqc_stop_sync_calls(mqc_instance *inst)
{
    mqc_direct_stop(inst->direct);
}

void mqc_on_drained(mqc_instance *inst, void (*fn)(void *arg), void *arg)
{
    evq_set_after_drain(inst->q, fn, arg);
}

void mqc_on_request(mqc_instance *inst, int32_t code, rm_handler_fn fn, void *arg)
{
    rm_dispatch_on(inst->dispatch, code, fn, arg);
}

/* ---- connections (io) ---- */

static void on_conn_close(rm_conn *c, void *arg)
{
    mqc_instance *inst = arg;
    const char *peer = rm_conn_peer(c);
    if (strmap_get(&inst->conns, peer) == c) {
        strmap_remove(&inst->conns, peer);
        rm_conn_unref(c);
    }
}

rm_conn *mqc_conn(mqc_instance *inst, const char *addr, mq_error *err)
{
    if (inst->io_stopping) {
        mqc_error_set(err, MQ_ESTATE, "client is shutting down");
        return NULL;
    }
    rm_conn *c = strmap_get(&inst->conns, addr);
    if (c && rm_conn_is_open(c))
        return c;
    char why[256];
    c = rm_connect(inst->loop, addr, &inst->conn_opts, inst->dispatch, why, sizeof why);
    if (!c) {
        mqc_error_set(err, MQ_ENETWORK, "%s", why);
        return NULL;
    }
    rm_conn_set_on_close(c, on_conn_close, inst);
    strmap_put(&inst->conns, addr, c); /* the map keeps rm_connect's reference */
    return c;
}

/* ---- calls ---- */

typedef struct call {
    evq_item item;           /* posts the call without allocating */
    mqc_instance *inst;
    const char *addr;        /* NULL: nameservers */
    uint8_t *hdr_bytes;      /* packed header, reused across attempts */
    size_t hdr_len;
    Mq__RemotingHeader *hdr; /* or the caller's header, used in place (sync view calls) */
    void (*view)(const rm_cmd *resp, void *arg); /* sync view calls: reads the response */
    void *view_arg;
    const void *body;
    size_t body_len;
    int timeout_ms;
    bool oneway;
    int tried;
    /* completion: either a waiter (sync) or a callback (async) */
    void (*done)(struct call *c, int rc, const rm_cmd *resp);
    void *arg;
    /* sync waiter */
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool finished;
    int rc;
    mqc_response *out;
    mq_error err;
    char tried_addrs[256];
} call;

static void call_attempt(call *c);

static void call_finish(call *c, int rc, const rm_cmd *resp)
{
    c->done(c, rc, resp);
}

static void on_call_response(rm_conn *conn, int e, const rm_cmd *resp, void *arg)
{
    (void)conn;
    call *c = arg;
    if (e == RM_OK) {
        call_finish(c, MQ_OK, resp);
        return;
    }
    const char *why = conn ? rm_conn_close_reason(conn) : "";
    const char *what = e == RM_ETIMEDOUT ? "timed out" : *why ? why : "connection closed";
    if (!c->addr) {
        mqc_instance *inst = c->inst;
        log_warn("nameserver %s: %s", inst->namesrv[inst->namesrv_current], what);
        size_t used = strlen(c->tried_addrs);
        snprintf(c->tried_addrs + used, sizeof c->tried_addrs - used, ": %s", what);
        inst->namesrv_current = (inst->namesrv_current + 1) % inst->namesrv_count;
        call_attempt(c);
        return;
    }
    mqc_error_set(&c->err, e == RM_ETIMEDOUT ? MQ_ETIMEOUT : MQ_ENETWORK, "%s: %s", c->addr, what);
    call_finish(c, c->err.code, NULL);
}

static void call_attempt(call *c)
{
    mqc_instance *inst = c->inst;
    if (inst->io_stopping) {
        mqc_error_set(&c->err, MQ_ESTATE, "client is shutting down");
        call_finish(c, MQ_ESTATE, NULL);
        return;
    }
    for (;;) {
        const char *addr = c->addr;
        if (!addr) {
            if (c->tried >= inst->namesrv_count) {
                mqc_error_set(&c->err, MQ_ENETWORK, "no nameserver answered (tried %s)", c->tried_addrs);
                call_finish(c, MQ_ENETWORK, NULL);
                return;
            }
            addr = inst->namesrv[inst->namesrv_current];
            size_t used = strlen(c->tried_addrs);
            snprintf(c->tried_addrs + used, sizeof c->tried_addrs - used, "%s%s", used ? ", " : "", addr);
            c->tried++;
        }
        mq_error e = {0};
        rm_conn *conn = mqc_conn(inst, addr, &e);
        int rc = RM_ECLOSED;
        if (conn) {
            Mq__RemotingHeader *h =
                c->hdr ? c->hdr : mq__remoting_header__unpack(NULL, c->hdr_len, c->hdr_bytes);
            if (c->oneway)
                rc = rm_oneway(conn, h, c->body, c->body_len);
            else
                rc = rm_request(conn, h, c->body, c->body_len, c->timeout_ms, on_call_response, c);
            if (!c->hdr)
                mq__remoting_header__free_unpacked(h, NULL);
        }
        if (rc == RM_OK) {
            if (c->oneway)
                call_finish(c, MQ_OK, NULL);
            return;
        }
        if (c->addr) {
            mqc_error_set(&c->err, MQ_ENETWORK, "%s: %s", addr, conn ? "cannot send" : e.message);
            call_finish(c, MQ_ENETWORK, NULL);
            return;
        }
        inst->namesrv_current = (inst->namesrv_current + 1) % inst->namesrv_count;
    }
}

static void call_start_item(evq_item *item) { call_attempt((call *)item); }

static void sync_done(call *c, int rc, const rm_cmd *resp)
{
    if (resp && c->view)
        c->view(resp, c->view_arg);
    else if (resp && c->out)
        copy_response(resp, c->out);
    pthread_mutex_lock(&c->m);
    c->rc = rc;
    c->finished = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->m);
}

static int run_call_sync(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                         const void *body, size_t body_len, int timeout_ms, bool oneway,
                         mqc_response *out, void (*view)(const rm_cmd *, void *),
                         void *view_arg, mq_error *err)
{
    if (mqc_on_io_thread(inst)) {
        mqc_error_set(err, MQ_ESTATE, "blocking call from the client I/O thread");
        return MQ_ESTATE;
    }
    if (out)
        memset(out, 0, sizeof *out);
    call c;
    memset(&c, 0, sizeof c);
    c.inst = inst;
    c.addr = addr;
    h->has_code = 1;
    uint8_t small[1024];
    if (view) {
        c.hdr = h; /* the caller waits: its header stays valid */
        c.view = view;
        c.view_arg = view_arg;
        c.hdr_bytes = small;
    } else {
        size_t n = mq__remoting_header__get_packed_size(h);
        c.hdr_bytes = n <= sizeof small ? small : xmalloc(n);
        c.hdr_len = mq__remoting_header__pack(h, c.hdr_bytes);
    }
    c.body = body;
    c.body_len = body_len;
    c.timeout_ms = timeout_ms > 0 ? timeout_ms : inst->timeout_ms;
    c.oneway = oneway;
    c.done = sync_done;
    c.out = out;
    pthread_mutex_init(&c.m, NULL);
    pthread_cond_init(&c.cv, NULL);

    pthread_mutex_lock(&inst->lock);
    bool stopping = inst->stopping;
    if (!stopping)
        evq_post(inst->q, &c.item, call_start_item);
    pthread_mutex_unlock(&inst->lock);
    int rc;
    if (stopping) {
        mqc_error_set(err, MQ_ESTATE, "client is shut down");
        rc = MQ_ESTATE;
    } else {
        pthread_mutex_lock(&c.m);
        while (!c.finished)
            pthread_cond_wait(&c.cv, &c.m);
        pthread_mutex_unlock(&c.m);
        rc = c.rc;
        if (rc != MQ_OK && err)
            *err = c.err;
    }
    if (c.hdr_bytes != small)
        free(c.hdr_bytes);
    pthread_mutex_destroy(&c.m);
    pthread_cond_destroy(&c.cv);
    return rc;
}

int mqc_invoke_sync(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                    const void *body, size_t body_len, int timeout_ms, mqc_response *out,
                    mq_error *err)
{
    if (!addr || !*addr) {
        mqc_error_set(err, MQ_EINVAL, "no address");
        return MQ_EINVAL;
    }
    return run_call_sync(inst, addr, h, body, body_len, timeout_ms, false, out, NULL, NULL, err);
}

int mqc_invoke_sync_view(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                         const void *body, size_t body_len, int timeout_ms,
                         void (*on_response)(const rm_cmd *resp, void *arg), void *arg,
                         mq_error *err)
{
    if (!addr || !*addr) {
        mqc_error_set(err, MQ_EINVAL, "no address");
        return MQ_EINVAL;
    }
    if (mqc_on_io_thread(inst)) {
        mqc_error_set(err, MQ_ESTATE, "blocking call from the client I/O thread");
        return MQ_ESTATE;
    }
    int rc;
    if (atomic_fetch_add(&inst->view_calls, 1) < inst->direct_max)
        rc = mqc_direct_call(inst->direct, addr, h, body, body_len,
                             timeout_ms > 0 ? timeout_ms : inst->timeout_ms, on_response, arg, err);
    else /* many callers at once: the shared connection batches them */
        rc = run_call_sync(inst, addr, h, body, body_len, timeout_ms, false, NULL, on_response, arg,
                           err);
    atomic_fetch_sub(&inst->view_calls, 1);
    return rc;
}

int mqc_invoke_namesrv_sync(mqc_instance *inst, Mq__RemotingHeader *h, const void *body,
                            size_t body_len, int timeout_ms, mqc_response *out, mq_error *err)
{
    return run_call_sync(inst, NULL, h, body, body_len, timeout_ms, false, out, NULL, NULL, err);
}

int mqc_invoke_oneway(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                      const void *body, size_t body_len, mq_error *err)
{
    if (mqc_on_io_thread(inst)) {
        mq_error e;
        rm_conn *c = mqc_conn(inst, addr, &e);
        if (!c) {
            if (err)
                *err = e;
            return MQ_ENETWORK;
        }
        return rm_oneway(c, h, body, body_len) == RM_OK ? MQ_OK : MQ_ENETWORK;
    }
    return run_call_sync(inst, addr, h, body, body_len, 0, true, NULL, NULL, NULL, err);
}

int mqc_invoke_async(mqc_instance *inst, const char *addr, Mq__RemotingHeader *h,
                     const void *body, size_t body_len, int timeout_ms, rm_response_fn cb,
                     void *arg, mq_error *err)
{
    rm_conn *c = mqc_conn(inst, addr, err);
    if (!c)
        return MQ_ENETWORK;
    int rc = rm_request(c, h, body, body_len, timeout_ms > 0 ? timeout_ms : inst->timeout_ms, cb, arg);
    if (rc != RM_OK) {
        mqc_error_set(err, MQ_ENETWORK, "%s: cannot send (%d)", addr, rc);
        return MQ_ENETWORK;
    }
    return MQ_OK;
}

/* ---- routes ---- */

void mqc_route_release(mqc_route *r)
{
    route_entry *e = (route_entry *)r;
    if (!e)
        return;
    int before = atomic_fetch_sub(&e->refs, 1);
    assert(before > 0);
    if (before != 1)
        return;
    if (e->pub.data)
        mq__topic_route_data__free_unpacked(e->pub.data, NULL);
    free(e->pub.topic);
    free(e);
}

mqc_route *mqc_route_cached(mqc_instance *inst, const char *topic)
{
    pthread_mutex_lock(&inst->lock);
    route_entry *e = strmap_get(&inst->routes, topic);
    if (e)
        atomic_fetch_add(&e->refs, 1);
    pthread_mutex_unlock(&inst->lock);
    return (mqc_route *)e;
}

/* Replaces the cached route of topic (or removes it if data is NULL);
 * returns a new reference to the new entry. */
static mqc_route *route_store(mqc_instance *inst, const char *topic, Mq__TopicRouteData *data)
{
    route_entry *e = NULL;
    if (data) {
        e = xcalloc(1, sizeof *e);
        e->pub.topic = xstrdup(topic);
        e->pub.data = data;
        e->pub.fetched_ms = mono_ms();
        atomic_store(&e->refs, 2); /* cache + caller */
    }
    pthread_mutex_lock(&inst->lock);
    route_entry *old = e ? strmap_put(&inst->routes, topic, e) : strmap_remove(&inst->routes, topic);
    pthread_mutex_unlock(&inst->lock);
    if (old)
        mqc_route_release(&old->pub);
    return e ? &e->pub : NULL;
}

static void route_request_header(Mq__RemotingHeader *h, Mq__TopicRequestHeader *t, const char *topic)
{
    mq__remoting_header__init(h);
    mq__topic_request_header__init(t);
    h->code = RC_GET_ROUTEINFO_BY_TOPIC;
    h->has_code = 1;
    t->topic = (char *)topic;
    h->ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h->topic = t;
}

int mqc_route_get(mqc_instance *inst, const char *topic, bool force_refresh, mqc_route **out,
                  mq_error *err)
{
    mqc_route *cached = mqc_route_cached(inst, topic);
    if (cached && !force_refresh) {
        *out = cached;
        return MQ_OK;
    }
    Mq__RemotingHeader h;
    Mq__TopicRequestHeader t;
    route_request_header(&h, &t, topic);
    mqc_response r;
    mq_error e = {0};
    int rc = mqc_invoke_namesrv_sync(inst, &h, NULL, 0, 0, &r, &e);
    if (rc != MQ_OK) {
        if (cached) { /* every nameserver down: keep using what we know */
            *out = cached;
            return MQ_OK;
        }
        if (err)
            *err = e;
        return rc;
    }
    if (r.code != RS_SUCCESS) {
        if (r.code == RS_TOPIC_NOT_EXIST) {
            mqc_error_set(err, MQ_ENOROUTE, "no route for topic %s: %s", topic, mqc_response_remark(&r));
            if (err)
                err->status = r.code;
            rc = MQ_ENOROUTE;
            route_store(inst, topic, NULL);
        } else {
            mqc_error_from_response(err, "route query", &r);
            rc = MQ_EBROKER;
        }
        mqc_response_free(&r);
        if (cached)
            mqc_route_release(cached);
        return rc;
    }
    Mq__TopicRouteData *data = mq__topic_route_data__unpack(NULL, r.body_len, r.body);
    mqc_response_free(&r);
    if (cached)
        mqc_route_release(cached);
    if (!data) {
        mqc_error_set(err, MQ_ENETWORK, "undecodable route of topic %s", topic);
        return MQ_ENETWORK;
    }
    *out = route_store(inst, topic, data);
    return MQ_OK;
}

/* Periodic refresh: one async nameserver call per cached topic. */
typedef struct refresh_call {
    call c;
    char *topic;
    mqc_route_cb cb; /* may be NULL (periodic refresh) */
    void *cb_arg;
    Mq__RemotingHeader h;
    Mq__TopicRequestHeader t;
    uint8_t hdr[512];
} refresh_call;

static void refresh_done(call *c, int rc, const rm_cmd *resp)
{
    refresh_call *rcall = (refresh_call *)c;
    int result = rc == MQ_OK ? MQ_ENETWORK : rc;
    if (rc == MQ_OK && resp->hdr->code == RS_SUCCESS && resp->serialize_type == RM_SERIALIZE_PROTOBUF) {
        Mq__TopicRouteData *data = mq__topic_route_data__unpack(NULL, resp->body_len, resp->body);
        if (data) {
            mqc_route *r = route_store(c->inst, rcall->topic, data);
            mqc_route_release(r);
            result = MQ_OK;
        }
    } else if (rc == MQ_OK && resp->hdr->code == RS_TOPIC_NOT_EXIST) {
        route_store(c->inst, rcall->topic, NULL);
        result = MQ_ENOROUTE;
    } else if (rc != MQ_OK) {
        log_debug("route refresh of %s failed: %s", rcall->topic, c->err.message);
    }
    if (rcall->cb)
        rcall->cb(c->inst, rcall->topic, result, rcall->cb_arg);
    free(rcall->topic);
    free(rcall);
}

static void refresh_start(mqc_instance *inst, char *topic, mqc_route_cb cb, void *arg)
{
    refresh_call *rc = xcalloc(1, sizeof *rc);
    rc->topic = topic;
    rc->cb = cb;
    rc->cb_arg = arg;
    route_request_header(&rc->h, &rc->t, rc->topic);
    rc->c.inst = inst;
    rc->c.hdr_bytes = rc->hdr;
    rc->c.hdr_len = mq__remoting_header__pack(&rc->h, rc->hdr);
    rc->c.timeout_ms = inst->timeout_ms;
    rc->c.done = refresh_done;
    call_attempt(&rc->c);
}

void mqc_route_refresh_async(mqc_instance *inst, const char *topic, mqc_route_cb cb, void *arg)
{
    refresh_start(inst, xstrdup(topic), cb, arg);
}

static void refresh_routes(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_instance *inst = w->data;
    pthread_mutex_lock(&inst->lock);
    size_t n = inst->routes.count, i = 0;
    char **topics = xmalloc((n ? n : 1) * sizeof *topics);
    const char *k;
    for (size_t it = 0; strmap_next(&inst->routes, &it, &k, NULL);)
        topics[i++] = xstrdup(k);
    pthread_mutex_unlock(&inst->lock);
    for (i = 0; i < n; i++)
        refresh_start(inst, topics[i], NULL, NULL);
    free(topics);
}

const char *mqc_route_broker_addr(const mqc_route *r, const char *broker_name, int64_t broker_id)
{
    for (size_t i = 0; i < r->data->n_brokerdatas; i++) {
        Mq__BrokerData *b = r->data->brokerdatas[i];
        if (!b->brokername || strcmp(b->brokername, broker_name) != 0)
            continue;
        for (size_t j = 0; j < b->n_brokeraddrs; j++)
            if (b->brokeraddrs[j]->key == broker_id)
                return b->brokeraddrs[j]->value;
    }
    return NULL;
}

const char *mqc_route_any_addr(const mqc_route *r, const char *broker_name)
{
    return mqc_route_lowest_addr(r, broker_name, INT64_MIN);
}

const char *mqc_route_lowest_addr(const mqc_route *r, const char *broker_name, int64_t min_id)
{
    const char *best = NULL;
    int64_t best_id = INT64_MAX;
    for (size_t i = 0; i < r->data->n_brokerdatas; i++) {
        Mq__BrokerData *b = r->data->brokerdatas[i];
        if (!b->brokername || strcmp(b->brokername, broker_name) != 0)
            continue;
        for (size_t j = 0; j < b->n_brokeraddrs; j++) {
            if (b->brokeraddrs[j]->key >= min_id && b->brokeraddrs[j]->key < best_id) {
                best_id = b->brokeraddrs[j]->key;
                best = b->brokeraddrs[j]->value;
            }
        }
    }
    return best;
}
