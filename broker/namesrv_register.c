/*
 * namesrv_register.c - see namesrv_register.h.
 *
 * One ns_peer per nameserver: its connection (opened lazily, reopened when
 * found closed), whether a request is in flight, and whether another
 * registration was asked meanwhile (sent when the answer arrives). A
 * registration round encodes the body once and sends it to every peer.
 * Timers: `period` (registerNameServerPeriod), `soon` (0 s, coalesces
 * triggers of one loop turn), `retry` (1 s after a reachable nameserver's
 * connection dropped, so a restarted nameserver relearns us quickly).
 */
#include "namesrv_register.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "ha/ha.h"

#include "body.pb-c.h"
#include "bytes.h"
#include "log.h"
#include "topic_config.h"
#include "util.h"

enum {
    REQUEST_TIMEOUT_MS = 3000,
    UNREGISTER_TIMEOUT_MS = 1000,
    RETRY_AFTER_DROP_MS = 1000,
    WAIT_MAX_MS = 2000, /* registrar_register_now answers by then at the latest */
};

typedef struct ns_peer {
    struct namesrv_registrar *r;
    char addr[ADDR_TEXT_MAX];
    rm_conn *conn;
    bool in_flight;
    bool again;     /* a registration was asked while one was in flight */
    bool reachable; /* state of the last attempt, for logging changes only */
    bool registered;
    uint64_t sent_round; /* round of the registration in flight */
    uint64_t done_round; /* latest round answered, failed or skipped */
} ns_peer;

/* Someone waiting until every nameserver has seen a registration round. */
typedef struct reg_waiter {
    struct reg_waiter *next;
    struct namesrv_registrar *r;
    uint64_t round;
    ev_timer deadline; /* a slow nameserver must not hold an admin answer past WAIT_MAX_MS */
    void (*done)(void *arg);
    void *arg;
} reg_waiter;

struct namesrv_registrar {
    broker *b;
    ns_peer peers[MAX_NAMESRV];
    int npeers;
    rm_options conn_opts;
    ev_timer period, soon, retry;
    bool stopping;
    int unregister_pending;
    void (*unregister_done)(void *arg);
    void *unregister_arg;
    ev_timer unregister_deadline;
    char master_addr[ADDR_TEXT_MAX];
    char ha_addr[ADDR_TEXT_MAX];
    uint64_t round;      /* registration rounds started */
    reg_waiter *waiters;
};

static void register_all(struct namesrv_registrar *r);
static void send_register(ns_peer *p, const bytebuf *body);

/* Completes the waiters whose round every nameserver has seen (all of them
 * when stopping). Each done() may start new work; the list is detached first. */
static void check_waiters(struct namesrv_registrar *r)
{
    reg_waiter **link = &r->waiters, *ready = NULL;
    while (*link) {
        reg_waiter *w = *link;
        bool all = true;
        for (int i = 0; i < r->npeers && all && !r->stopping; i++)
            all = r->peers[i].done_round >= w->round;
        if (all) {
            *link = w->next;
            w->next = ready;
            ready = w;
        } else {
            link = &w->next;
        }
    }
    while (ready) {
        reg_waiter *w = ready;
        ready = w->next;
        ev_timer_stop(r->b->loop, &w->deadline);
        w->done(w->arg);
        free(w);
    }
}

static void on_waiter_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    reg_waiter *w = t->data;
    struct namesrv_registrar *r = w->r;
    for (reg_waiter **link = &r->waiters; *link; link = &(*link)->next)
        if (*link == w) {
            *link = w->next;
            break;
        }
    log_warn("a nameserver has not confirmed the registration within %d ms; answering anyway", WAIT_MAX_MS);
    w->done(w->arg);
    free(w);
}

/* ---- connections ---- */

static void on_peer_close(rm_conn *c, void *arg)
{
    ns_peer *p = arg;
    (void)c;
    struct namesrv_registrar *r = p->r;
    if (r->stopping)
        return;
    if (p->reachable) {
        log_warn("connection to nameserver %s lost; registering again in %d ms", p->addr, RETRY_AFTER_DROP_MS);
        p->reachable = false;
        p->registered = false;
        if (!ev_is_active(&r->retry)) {
            ev_timer_set(&r->retry, RETRY_AFTER_DROP_MS / 1000.0, 0.);
            ev_timer_start(r->b->loop, &r->retry);
        }
    }
}

/* The peer's open connection, opened if needed; NULL if it cannot be. */
static rm_conn *peer_conn(ns_peer *p)
{
    if (p->conn && !rm_conn_is_open(p->conn)) {
        rm_conn_unref(p->conn);
        p->conn = NULL;
    }
    if (!p->conn) {
        char err[256];
        p->conn = rm_connect(p->r->b->loop, p->addr, &p->r->conn_opts, NULL, err, sizeof err);
        if (!p->conn) {
            if (p->reachable)
                log_warn("cannot connect to nameserver %s: %s", p->addr, err);
            p->reachable = false;
            p->registered = false;
            return NULL;
        }
        rm_conn_set_on_close(p->conn, on_peer_close, p);
    }
    return p->conn;
}

/* ---- registration ---- */

static void build_body(struct namesrv_registrar *r, bytebuf *out)
{
    broker *b = r->b;
    bool broker_rw = (b->cfg.broker_perm & (PERM_READ | PERM_WRITE)) == (PERM_READ | PERM_WRITE);
    topic_table_pb topics;
    /* a broker not readable or writable says so for every topic */
    topic_table_to_pb(b->topics, broker_rw ? -1 : b->cfg.broker_perm, &topics);
    Mq__RegisterBrokerBody body = MQ__REGISTER_BROKER_BODY__INIT;
    body.topicconfigserializewrapper = &topics.msg;
    size_t len = mq__register_broker_body__get_packed_size(&body);
    uint8_t *dst = bytebuf_reserve(out, len);
    out->len += mq__register_broker_body__pack(&body, dst);
    topic_table_pb_free(&topics);
}

static void on_register_response(rm_conn *c, int err, const rm_cmd *resp, void *arg)
{
    (void)c;
    ns_peer *p = arg;
    struct namesrv_registrar *r = p->r;
    p->in_flight = false;
    p->done_round = p->sent_round;
    if (r->stopping)
        return;
    if (err != RM_OK) {
        if (p->reachable || !p->registered)
            log_warn("registration with nameserver %s failed: %s", p->addr,
                     err == RM_ETIMEDOUT ? "timed out" : "connection closed or refused");
        p->reachable = false;
        p->registered = false;
    } else if (resp->hdr->code != RS_SUCCESS) {
        log_warn("nameserver %s refused the registration: %s (%d) %s", p->addr, rm_status_name(resp->hdr->code),
                 resp->hdr->code, resp->hdr->remark ? resp->hdr->remark : "");
        p->reachable = true;
        p->registered = false;
    } else {
        if (!p->registered)
            log_info("registered with nameserver %s as %s (cluster %s, id %lld)", p->addr, r->b->addr,
                     r->b->cfg.broker_cluster_name, (long long)r->b->cfg.broker_id);
        p->reachable = true;
        p->registered = true;
        const Mq__RegisterBrokerResponseHeader *rh =
            resp->hdr->ext_case == MQ__REMOTING_HEADER__EXT_REGISTER_BROKER_RESPONSE
                ? resp->hdr->register_broker_response
                : NULL;
        if (rh && rh->has_fenced && rh->fenced) { /* failover: a newer master exists */
            char source[96];
            snprintf(source, sizeof source, "nameserver %s", p->addr);
            ha_fenced(r->b, rh->masteraddr, rh->masterepoch, rh->slavebrokerid, source);
        } else if (rh && rh->masteraddr &&
            (strcmp(rh->masteraddr, r->master_addr) != 0 ||
             strcmp(rh->haserveraddr ? rh->haserveraddr : "", r->ha_addr) != 0)) {
            str_copy(r->master_addr, sizeof r->master_addr, rh->masteraddr);
            str_copy(r->ha_addr, sizeof r->ha_addr, rh->haserveraddr ? rh->haserveraddr : "");
            log_info("master of %s is %s (HA %s)", r->b->cfg.broker_name, r->master_addr, r->ha_addr);
            ha_set_master(r->b->ha, r->master_addr, r->ha_addr);
        }
    }
    if (p->again) {
        p->again = false;
        bytebuf body;
        bytebuf_init(&body);
        build_body(r, &body);
        send_register(p, &body);
        bytebuf_free(&body);
    }
    check_waiters(r);
}

/* Sends the current round to p, or marks it to follow once its request in
 * flight is answered. A peer that cannot be reached has "seen" the round. */
static void send_register(ns_peer *p, const bytebuf *body)
{
    struct namesrv_registrar *r = p->r;
    if (p->in_flight) {
        p->again = true;
        return;
    }
    rm_conn *c = peer_conn(p);
    if (!c) {
        p->done_round = r->round;
        return;
    }
    broker *b = r->b;
    char ha[ADDR_TEXT_MAX + 16];
    char host[ADDR_TEXT_MAX];
    int port;
    char err[64];
    if (addr_split(b->addr, host, sizeof host, &port, err, sizeof err) != 0)
        str_copy(host, sizeof host, "127.0.0.1");
    snprintf(ha, sizeof ha, "%s:%d", host, b->ha ? ha_listen_port(b->ha) : b->cfg.ha_listen_port);
    Mq__RegisterBrokerRequestHeader rh = MQ__REGISTER_BROKER_REQUEST_HEADER__INIT;
    rh.brokername = b->cfg.broker_name;
    rh.brokeraddr = b->addr;
    rh.clustername = b->cfg.broker_cluster_name;
    rh.haserveraddr = ha;
    rh.brokerid = b->cfg.broker_id;
    rh.has_brokerid = 1;
    rh.haepoch = ha_epoch(b->ha);
    rh.has_haepoch = 1;
    rh.compressed = 0;
    rh.has_compressed = 1;
    rh.bodycrc32 = (int32_t)mq_crc32(0, body->data, body->len);
    rh.has_bodycrc32 = 1;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_REGISTER_BROKER;
    h.ext_case = MQ__REMOTING_HEADER__EXT_REGISTER_BROKER;
    h.register_broker = &rh;
    int timeout = MQ_MIN(REQUEST_TIMEOUT_MS, b->cfg.register_name_server_period);
    if (rm_request(c, &h, body->data, body->len, timeout, on_register_response, p) == RM_OK) {
        p->in_flight = true;
        p->sent_round = r->round;
    } else {
        p->done_round = r->round;
    }
}

static void register_all(struct namesrv_registrar *r)
{
    if (r->stopping)
        return;
    r->round++;
    ev_timer_stop(r->b->loop, &r->soon); /* this round covers what it was due for */
    bytebuf body;
    bytebuf_init(&body);
    build_body(r, &body);
    for (int i = 0; i < r->npeers; i++)
        send_register(&r->peers[i], &body);
    bytebuf_free(&body);
    check_waiters(r);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    register_all(w->data);
}

/* ---- life cycle ---- */

int registrar_new(broker *b, struct namesrv_registrar **out, char *err, size_t errlen)
{
    char list[MAX_NAMESRV][ADDR_TEXT_MAX];
    char why[256];
    int n = addr_list_split(b->cfg.namesrv_addr, list, MAX_NAMESRV, why, sizeof why);
    if (n < 0) {
        snprintf(err, errlen, "bad namesrvAddr '%s': %s", b->cfg.namesrv_addr, why);
        return -1;
    }
    struct namesrv_registrar *r = xcalloc(1, sizeof *r);
    r->b = b;
    r->npeers = n;
    for (int i = 0; i < n; i++) {
        r->peers[i].r = r;
        r->peers[i].reachable = true; /* so the first failure is logged */
        str_copy(r->peers[i].addr, sizeof r->peers[i].addr, list[i]);
    }
    rm_options_default(&r->conn_opts);
    r->conn_opts.connect_timeout_ms = MQ_MIN(3000, b->cfg.register_name_server_period);
    double period = b->cfg.register_name_server_period / 1000.0;
    ev_timer_init(&r->period, on_timer, period, period);
    r->period.data = r;
    ev_timer_init(&r->soon, on_timer, 0., 0.);
    r->soon.data = r;
    ev_timer_init(&r->retry, on_timer, RETRY_AFTER_DROP_MS / 1000.0, 0.);
    r->retry.data = r;
    if (n == 0)
        log_warn("no nameserver configured (namesrvAddr is empty): no client will find this broker");
    *out = r;
    return 0;
}

void registrar_start(struct namesrv_registrar *r)
{
    ev_timer_start(r->b->loop, &r->period);
    register_all(r);
}

void registrar_trigger(struct namesrv_registrar *r)
{
    if (r && !r->stopping && !ev_is_active(&r->soon))
        ev_timer_start(r->b->loop, &r->soon);
}

void registrar_register_now(struct namesrv_registrar *r, void (*done)(void *arg), void *arg)
{
    if (r->stopping) {
        done(arg);
        return;
    }
    reg_waiter *w = xcalloc(1, sizeof *w);
    w->r = r;
    w->round = r->round + 1; /* the round started below */
    w->done = done;
    w->arg = arg;
    ev_timer_init(&w->deadline, on_waiter_deadline, WAIT_MAX_MS / 1000.0, 0.);
    w->deadline.data = w;
    ev_timer_start(r->b->loop, &w->deadline);
    w->next = r->waiters;
    r->waiters = w;
    register_all(r);
}

static void unregister_finish(struct namesrv_registrar *r)
{
    ev_timer_stop(r->b->loop, &r->unregister_deadline);
    void (*done)(void *) = r->unregister_done;
    r->unregister_done = NULL;
    if (done)
        done(r->unregister_arg);
}

static void on_unregister_response(rm_conn *c, int err, const rm_cmd *resp, void *arg)
{
    (void)c;
    ns_peer *p = arg;
    struct namesrv_registrar *r = p->r;
    if (err == RM_OK && resp->hdr->code == RS_SUCCESS)
        log_info("unregistered from nameserver %s", p->addr);
    else
        log_warn("unregistering from nameserver %s failed", p->addr);
    if (--r->unregister_pending == 0)
        unregister_finish(r);
}

static void on_unregister_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    unregister_finish(w->data);
}

void registrar_unregister_all(struct namesrv_registrar *r, void (*done)(void *arg), void *arg)
{
    broker *b = r->b;
    r->stopping = true;
    check_waiters(r); /* answers whoever waited for a registration */
    ev_timer_stop(b->loop, &r->period);
    ev_timer_stop(b->loop, &r->soon);
    ev_timer_stop(b->loop, &r->retry);
    r->unregister_done = done;
    r->unregister_arg = arg;
    r->unregister_pending = 1; /* held until every request is sent */
    for (int i = 0; i < r->npeers; i++) {
        ns_peer *p = &r->peers[i];
        if (!p->conn || !rm_conn_is_open(p->conn))
            continue;
        Mq__UnRegisterBrokerRequestHeader uh = MQ__UN_REGISTER_BROKER_REQUEST_HEADER__INIT;
        uh.brokername = b->cfg.broker_name;
        uh.brokeraddr = b->addr;
        uh.clustername = b->cfg.broker_cluster_name;
        uh.brokerid = b->cfg.broker_id;
        uh.has_brokerid = 1;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_UNREGISTER_BROKER;
        h.ext_case = MQ__REMOTING_HEADER__EXT_UNREGISTER_BROKER;
        h.unregister_broker = &uh;
        r->unregister_pending++;
        if (rm_request(p->conn, &h, NULL, 0, UNREGISTER_TIMEOUT_MS, on_unregister_response, p) != RM_OK)
            r->unregister_pending--;
    }
    ev_timer_init(&r->unregister_deadline, on_unregister_deadline, (UNREGISTER_TIMEOUT_MS + 200) / 1000.0, 0.);
    r->unregister_deadline.data = r;
    if (--r->unregister_pending == 0) {
        unregister_finish(r);
        return;
    }
    ev_timer_start(b->loop, &r->unregister_deadline);
}

void registrar_free(struct namesrv_registrar *r)
{
    if (!r)
        return;
    r->stopping = true;
    check_waiters(r);
    r->unregister_done = NULL;
    struct ev_loop *loop = r->b->loop;
    ev_timer_stop(loop, &r->period);
    ev_timer_stop(loop, &r->soon);
    ev_timer_stop(loop, &r->retry);
    if (ev_is_active(&r->unregister_deadline))
        ev_timer_stop(loop, &r->unregister_deadline);
    r->unregister_pending = 1 << 20; /* late answers must not call done */
    for (int i = 0; i < r->npeers; i++) {
        if (r->peers[i].conn) {
            rm_conn_close(r->peers[i].conn);
            rm_conn_unref(r->peers[i].conn);
        }
    }
    free(r);
}

const char *registrar_master_addr(const struct namesrv_registrar *r) { return r->master_addr; }

int registrar_registered_count(const struct namesrv_registrar *r)
{
    int n = 0;
    for (int i = 0; i < r->npeers; i++)
        n += r->peers[i].registered;
    return n;
}
