/*
 * heartbeat.c - see heartbeat.h. Heartbeats are periodic and idempotent, so
 * a failed one is only logged (debug): the next period sends it again, and
 * the broker keeps a client for 120 s between heartbeats.
 */
#include "heartbeat.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "log.h"
#include "util.h"

void mqc_heartbeat_encode(const char *client_id, const char *producer_group,
                          const Mq__ConsumerData *consumer, bytebuf *out)
{
    Mq__HeartbeatData hb = MQ__HEARTBEAT_DATA__INIT;
    hb.clientid = (char *)client_id;
    Mq__ProducerData pd = MQ__PRODUCER_DATA__INIT;
    Mq__ProducerData *pds[1] = {&pd};
    if (producer_group) {
        pd.groupname = (char *)producer_group;
        hb.n_producerdataset = 1;
        hb.producerdataset = pds;
    }
    Mq__ConsumerData *cds[1] = {(Mq__ConsumerData *)consumer};
    if (consumer) {
        hb.n_consumerdataset = 1;
        hb.consumerdataset = cds;
    }
    char err[128];
    bytebuf_clear(out);
    frame_body_encode(RM_SERIALIZE_PROTOBUF, &hb.base, out, err, sizeof err);
}

void mqc_addr_set_free(mqc_addr_set *s)
{
    free(s->addrs);
    memset(s, 0, sizeof *s);
}

bool mqc_addr_set_has(const mqc_addr_set *s, const char *addr)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->addrs[i], addr))
            return true;
    return false;
}

bool mqc_addr_set_add(mqc_addr_set *s, const char *addr)
{
    if (!addr || !*addr || mqc_addr_set_has(s, addr))
        return false;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->addrs = xrealloc(s->addrs, (size_t)s->cap * sizeof *s->addrs);
    }
    str_copy(s->addrs[s->n++], ADDR_TEXT_MAX, addr);
    return true;
}

void mqc_addr_set_add_route(mqc_addr_set *s, const mqc_route *r, bool masters_only)
{
    for (size_t i = 0; i < r->data->n_brokerdatas; i++) {
        Mq__BrokerData *b = r->data->brokerdatas[i];
        for (size_t j = 0; j < b->n_brokeraddrs; j++)
            if (!masters_only || b->brokeraddrs[j]->key == 0)
                mqc_addr_set_add(s, b->brokeraddrs[j]->value);
    }
}

static void on_heartbeat_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg)
{
    (void)arg;
    if (err != RM_OK)
        log_debug("heartbeat to %s: %s", rm_conn_peer(conn), err == RM_ETIMEDOUT ? "timed out" : "connection closed");
    else if (resp->hdr->code != RS_SUCCESS)
        log_warn("heartbeat to %s refused: %s (%d) %s", rm_conn_peer(conn), rm_status_name(resp->hdr->code),
                 resp->hdr->code, resp->hdr->remark ? resp->hdr->remark : "");
}

void mqc_heartbeat_send_async(mqc_instance *inst, const char *addr, const bytebuf *body)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_HEART_BEAT;
    h.has_code = 1;
    mq_error e;
    if (mqc_invoke_async(inst, addr, &h, body->data, body->len, 0, on_heartbeat_response, NULL, &e) !=
        MQ_OK)
        log_debug("heartbeat to %s: %s", addr, e.message);
}

/* ---- the heartbeater a producer or consumer owns ---- */

void mqc_heartbeater_init(mqc_heartbeater *hb)
{
    memset(hb, 0, sizeof *hb);
    pthread_mutex_init(&hb->lock, NULL);
    bytebuf_init(&hb->body);
}

void mqc_heartbeater_free(mqc_heartbeater *hb)
{
    mqc_addr_set_free(&hb->addrs);
    bytebuf_free(&hb->body);
    pthread_mutex_destroy(&hb->lock);
}

bool mqc_heartbeater_add(mqc_heartbeater *hb, const char *addr)
{
    pthread_mutex_lock(&hb->lock);
    bool fresh = mqc_addr_set_add(&hb->addrs, addr);
    pthread_mutex_unlock(&hb->lock);
    return fresh;
}

void mqc_heartbeater_snapshot(mqc_heartbeater *hb, mqc_addr_set *out)
{
    pthread_mutex_lock(&hb->lock);
    for (int i = 0; i < hb->addrs.n; i++)
        mqc_addr_set_add(out, hb->addrs.addrs[i]);
    pthread_mutex_unlock(&hb->lock);
}

void mqc_heartbeater_send(mqc_heartbeater *hb, const mqc_addr_set *to, bool only_new)
{
    assert(mqc_on_io_thread(hb->inst));
    for (int i = 0; i < to->n; i++)
        if (mqc_heartbeater_add(hb, to->addrs[i]) || !only_new)
            mqc_heartbeat_send_async(hb->inst, to->addrs[i], &hb->body);
}

typedef struct greet_job {
    mqc_heartbeater *hb;
    mqc_addr_set set;
} greet_job;

static void greet_job_run(void *arg)
{
    greet_job *j = arg;
    for (int i = 0; i < j->set.n; i++)
        mqc_heartbeat_send_async(j->hb->inst, j->set.addrs[i], &j->hb->body);
    mqc_addr_set_free(&j->set);
    free(j);
}

void mqc_heartbeater_greet(mqc_heartbeater *hb, const mqc_addr_set *to)
{
    greet_job *j = xcalloc(1, sizeof *j);
    j->hb = hb;
    for (int i = 0; i < to->n; i++)
        if (mqc_heartbeater_add(hb, to->addrs[i]))
            mqc_addr_set_add(&j->set, to->addrs[i]);
    if (j->set.n == 0 || mqc_post(hb->inst, greet_job_run, j) != MQ_OK) {
        mqc_addr_set_free(&j->set);
        free(j);
    }
}

static void on_heartbeat_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_heartbeater *hb = w->data;
    mqc_addr_set set = {0};
    if (hb->collect)
        hb->collect(hb->owner, &set);
    else
        mqc_heartbeater_snapshot(hb, &set);
    mqc_heartbeater_send(hb, &set, false);
    mqc_addr_set_free(&set);
}

void mqc_heartbeater_start(mqc_heartbeater *hb, mqc_instance *inst, int period_ms,
                           void (*collect)(void *owner, mqc_addr_set *out), void *owner)
{
    hb->inst = inst;
    assert(mqc_on_io_thread(inst));
    hb->collect = collect;
    hb->owner = owner;
    double period = period_ms / 1000.0;
    ev_timer_init(&hb->timer, on_heartbeat_timer, period, period);
    hb->timer.data = hb;
    ev_timer_start(mqc_loop(hb->inst), &hb->timer);
}

void mqc_heartbeater_stop(mqc_heartbeater *hb)
{
    assert(mqc_on_io_thread(hb->inst));
    ev_timer_stop(mqc_loop(hb->inst), &hb->timer);
}

/* ---- countdown ---- */

struct mqc_countdown {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int pending;
    atomic_int refs;
};

mqc_countdown *mqc_countdown_new(void)
{
    mqc_countdown *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->m, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &a);
    pthread_condattr_destroy(&a);
    atomic_init(&c->refs, 1);
    return c;
}

void mqc_countdown_release(mqc_countdown *c)
{
    if (!c)
        return;
    int before = atomic_fetch_sub(&c->refs, 1);
    assert(before > 0);
    if (before == 1) {
        pthread_mutex_destroy(&c->m);
        pthread_cond_destroy(&c->cv);
        free(c);
    }
}

static void countdown_add(mqc_countdown *c)
{
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_lock(&c->m);
    c->pending++;
    pthread_mutex_unlock(&c->m);
}

static void countdown_done(mqc_countdown *c)
{
    pthread_mutex_lock(&c->m);
    if (--c->pending == 0)
        pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->m);
    mqc_countdown_release(c);
}

int mqc_countdown_wait(mqc_countdown *c, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->m);
    while (c->pending > 0)
        if (pthread_cond_timedwait(&c->cv, &c->m, &dl) == ETIMEDOUT)
            break;
    int left = c->pending;
    pthread_mutex_unlock(&c->m);
    return left;
}

typedef struct counted_req {
    mqc_instance *inst;
    mqc_countdown *cd;
    char addr[ADDR_TEXT_MAX];
    int timeout_ms;
    uint8_t *hdr;
    size_t hdr_len;
    uint8_t *body;
    size_t body_len;
} counted_req;

static void counted_free(counted_req *r)
{
    countdown_done(r->cd);
    free(r->hdr);
    free(r->body);
    free(r);
}

static void on_counted_response(rm_conn *conn, int err, const rm_cmd *resp, void *arg)
{
    (void)conn;
    counted_req *r = arg;
    if (err != RM_OK)
        log_debug("request to %s failed: %s", r->addr, err == RM_ETIMEDOUT ? "timed out" : "closed");
    else if (resp->hdr->code != RS_SUCCESS)
        log_warn("%s answered %s (%d): %s", r->addr, rm_status_name(resp->hdr->code), resp->hdr->code,
                 resp->hdr->remark ? resp->hdr->remark : "");
    counted_free(r);
}

static void counted_start(void *arg)
{
    counted_req *r = arg;
    Mq__RemotingHeader *h = mq__remoting_header__unpack(NULL, r->hdr_len, r->hdr);
    mq_error e;
    int rc = h ? mqc_invoke_async(r->inst, r->addr, h, r->body, r->body_len, r->timeout_ms,
                                  on_counted_response, r, &e)
               : MQ_EINVAL;
    if (h)
        mq__remoting_header__free_unpacked(h, NULL);
    if (rc != MQ_OK)
        counted_free(r);
}

void mqc_request_counted(mqc_instance *inst, const char *addr, const Mq__RemotingHeader *h,
                         const void *body, size_t body_len, int timeout_ms, mqc_countdown *cd)
{
    counted_req *r = xcalloc(1, sizeof *r);
    r->inst = inst;
    r->cd = cd;
    countdown_add(cd);
    str_copy(r->addr, sizeof r->addr, addr);
    r->timeout_ms = timeout_ms;
    r->hdr_len = mq__remoting_header__get_packed_size(h);
    r->hdr = xmalloc(r->hdr_len ? r->hdr_len : 1);
    mq__remoting_header__pack(h, r->hdr);
    if (body_len) {
        r->body = xmalloc(body_len);
        memcpy(r->body, body, body_len);
        r->body_len = body_len;
    }
    if (mqc_post(inst, counted_start, r) != MQ_OK)
        counted_free(r);
}

void mqc_unregister(mqc_instance *inst, const mqc_addr_set *set, const char *producer_group,
                    const char *consumer_group, int timeout_ms)
{
    if (!set->n)
        return;
    mqc_countdown *cd = mqc_countdown_new();
    for (int i = 0; i < set->n; i++) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__UnregisterClientRequestHeader u = MQ__UNREGISTER_CLIENT_REQUEST_HEADER__INIT;
        h.code = RC_UNREGISTER_CLIENT;
        h.has_code = 1;
        u.clientid = (char *)mqc_client_id(inst);
        u.producergroup = (char *)producer_group;
        u.consumergroup = (char *)consumer_group;
        h.ext_case = MQ__REMOTING_HEADER__EXT_UNREGISTER_CLIENT;
        h.unregister_client = &u;
        mqc_request_counted(inst, set->addrs[i], &h, NULL, 0, timeout_ms, cd);
    }
    mqc_countdown_wait(cd, timeout_ms);
    mqc_countdown_release(cd);
}
