/*
 * push_consumer.c - the push consumer's life cycle (mq/consumer.h):
 * subscriptions, start, the I/O thread's timers (rebalance, heartbeat,
 * offset commits, lock renewal), NOTIFY_CONSUMER_IDS_CHANGED, suspend and
 * resume, and a bounded shutdown. The moving parts live in rebalance.c,
 * pull_loop.c and consume_service.c (see push_consumer_internal.h).
 *
 * Shutdown order matters: (1) on the I/O thread, mark closing and stop every
 * timer, so no new pull, rebalance or retry starts; (2) stop the consume
 * threads, letting running listener calls finish (their results still
 * count); (3) commit every queue's offset and release orderly locks, in
 * parallel, waiting at most a request timeout; (4) unregister; (5) stop the
 * I/O thread, which fails the pulls still held by brokers; (6) free the
 * process queues once nothing refers to them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocate.h"
#include "frame.h"
#include "log.h"
#include "push_consumer_internal.h"
#include "util.h"

enum { C_CREATED = 0, C_STARTED = 1, C_STOPPING = 2, C_STOPPED = 3 };

void mq_push_consumer_options_init(mq_push_consumer_options *o)
{
    memset(o, 0, sizeof *o);
    o->message_model = MQ_CLUSTERING;
    o->consume_from = MQ_CONSUME_FROM_LAST_OFFSET;
    o->consume_thread_count = 20;
    o->consume_message_batch_max_size = 1;
    o->pull_batch_size = 32;
    o->pull_threshold_for_queue = 1000;
    o->pull_threshold_size_for_queue_mib = 100;
    o->consume_concurrently_max_span = 2000;
    o->max_reconsume_times = -1;
    o->suspend_current_queue_time_ms = 1000;
    o->pull_suspend_timeout_ms = 15000;
    o->pull_request_timeout_ms = 30000;
    o->pull_error_delay_ms = 3000;
    o->rebalance_interval_ms = 20000;
    o->heartbeat_interval_ms = 30000;
    o->persist_offset_interval_ms = 5000;
    o->lock_renew_interval_ms = 20000;
    o->lock_expiry_ms = 30000;
    o->send_back_retry_delay_ms = 5000;
    o->request_timeout_ms = 3000;
    o->poll_name_server_interval_ms = 30000;
}

static int check_options(const mq_push_consumer_options *o, mq_error *err)
{
    struct {
        const char *name;
        int64_t v, lo, hi;
    } checks[] = {
        {"consume_thread_count", o->consume_thread_count, 1, 1000},
        {"consume_message_batch_max_size", o->consume_message_batch_max_size, 1, 1024},
        {"pull_batch_size", o->pull_batch_size, 1, 1024},
        {"pull_threshold_for_queue", o->pull_threshold_for_queue, 1, 65535},
        {"pull_threshold_size_for_queue_mib", o->pull_threshold_size_for_queue_mib, 1, 1024},
        {"consume_concurrently_max_span", o->consume_concurrently_max_span, 1, 65535},
        {"max_reconsume_times", o->max_reconsume_times, -1, 16384},
        {"suspend_current_queue_time_ms", o->suspend_current_queue_time_ms, 1, 30000},
        {"pull_suspend_timeout_ms", o->pull_suspend_timeout_ms, 1, 600000},
        {"pull_request_timeout_ms", o->pull_request_timeout_ms, 1, 600000},
        {"pull_error_delay_ms", o->pull_error_delay_ms, 1, 600000},
        {"rebalance_interval_ms", o->rebalance_interval_ms, 1, 3600000},
        {"heartbeat_interval_ms", o->heartbeat_interval_ms, 1, 3600000},
        {"persist_offset_interval_ms", o->persist_offset_interval_ms, 1, 3600000},
        {"lock_renew_interval_ms", o->lock_renew_interval_ms, 1, 3600000},
        {"lock_expiry_ms", o->lock_expiry_ms, 1, 3600000},
        {"send_back_retry_delay_ms", o->send_back_retry_delay_ms, 1, 3600000},
        {"request_timeout_ms", o->request_timeout_ms, 1, 600000},
        {"poll_name_server_interval_ms", o->poll_name_server_interval_ms, 1, 3600000},
        {"message_model", o->message_model, 0, 1},
        {"consume_from", o->consume_from, 0, 2},
    };
    for (size_t i = 0; i < MQ_ARRAY_LEN(checks); i++) {
        if (checks[i].v < checks[i].lo || checks[i].v > checks[i].hi) {
            mqc_error_set(err, MQ_EINVAL, "option %s = %lld is outside %lld..%lld", checks[i].name,
                          (long long)checks[i].v, (long long)checks[i].lo, (long long)checks[i].hi);
            return MQ_EINVAL;
        }
    }
    if (o->pull_request_timeout_ms <= o->pull_suspend_timeout_ms) {
        mqc_error_set(err, MQ_EINVAL, "pull_request_timeout_ms (%d) must exceed pull_suspend_timeout_ms (%d)",
                      o->pull_request_timeout_ms, o->pull_suspend_timeout_ms);
        return MQ_EINVAL;
    }
    return MQ_OK;
}

int mq_push_consumer_new(const char *group, const char *namesrv_addr, const mq_push_consumer_options *opts,
                         mq_push_consumer **out, mq_error *err)
{
    int rc = mqc_check_group(group, err);
    if (rc != MQ_OK)
        return rc;
    mq_push_consumer_options o;
    if (opts)
        o = *opts;
    else
        mq_push_consumer_options_init(&o);
    rc = check_options(&o, err);
    if (rc != MQ_OK)
        return rc;
    mq_push_consumer *c = xcalloc(1, sizeof *c);
    c->group = xstrdup(group);
    c->namesrv = namesrv_addr ? xstrdup(namesrv_addr) : NULL;
    c->o = o;
    c->instance_name = o.instance_name ? xstrdup(o.instance_name) : NULL;
    c->offset_dir = o.local_offset_dir ? xstrdup(o.local_offset_dir) : NULL;
    c->o.instance_name = c->instance_name;
    c->o.local_offset_dir = c->offset_dir;
    strmap_init(&c->pqs);
    strmap_init(&c->local_offsets);
    mqc_heartbeater_init(&c->hb);
    pthread_mutex_init(&c->svc.lock, NULL);
    pthread_cond_init(&c->svc.cv, NULL);
    *out = c;
    return MQ_OK;
}

static int add_sub(mq_push_consumer *c, const char *topic, const char *expr, const char *type, bool retry,
                   mq_error *err)
{
    if (atomic_load(&c->state) != C_CREATED) {
        mqc_error_set(err, MQ_ESTATE, "subscribe before start");
        return MQ_ESTATE;
    }
    int rc = mqc_check_topic(topic, err);
    if (rc != MQ_OK)
        return rc;
    mq_subscription s;
    char why[200];
    if (mq_subscription_parse(expr ? expr : "*", type, &s, why, sizeof why) != 0) {
        mqc_error_set(err, MQ_EINVAL, "bad subscription expression for %s: %s", topic, why);
        return MQ_EINVAL;
    }
    if (s.type == SUB_TAG && s.match_all) {
        free(s.expression);
        s.expression = xstrdup("*");
    }
    s.version = now_ms();
    mqc_sub *slot = NULL;
    for (int i = 0; i < c->n_subs; i++)
        if (!strcmp(c->subs[i].topic, topic))
            slot = &c->subs[i];
    if (slot) {
        mq_subscription_free(&slot->sub);
        free(slot->expr_type);
    } else {
        c->subs = xrealloc(c->subs, (size_t)(c->n_subs + 1) * sizeof *c->subs);
        slot = &c->subs[c->n_subs++];
        memset(slot, 0, sizeof *slot);
        slot->topic = xstrdup(topic);
    }
    slot->sub = s;
    slot->expr_type = xstrdup(s.type == SUB_SQL92 ? "SQL92" : "TAG");
    slot->is_retry = retry;
    return MQ_OK;
}

int mq_push_consumer_subscribe(mq_push_consumer *c, const char *topic, const char *expression, mq_error *err)
{
    return add_sub(c, topic, expression, "TAG", false, err);
}

int mq_push_consumer_subscribe_sql(mq_push_consumer *c, const char *topic, const char *sql, mq_error *err)
{
    if (!sql || !*sql) {
        mqc_error_set(err, MQ_EINVAL, "empty SQL92 expression");
        return MQ_EINVAL;
    }
    return add_sub(c, topic, sql, "SQL92", false, err);
}

void mq_push_consumer_set_listener(mq_push_consumer *c, mq_concurrent_listener fn, void *arg)
{
    c->listener = fn;
    c->orderly_listener = NULL;
    c->listener_arg = arg;
}

void mq_push_consumer_set_orderly_listener(mq_push_consumer *c, mq_orderly_listener fn, void *arg)
{
    c->orderly_listener = fn;
    c->listener = NULL;
    c->listener_arg = arg;
}

const char *mq_push_consumer_client_id(const mq_push_consumer *c)
{
    return c->inst ? mqc_client_id(c->inst) : "";
}

/* ---- heartbeats (io) ---- */

static void build_heartbeat(mq_push_consumer *c)
{
    int n = c->n_subs;
    Mq__SubscriptionData *sd = xcalloc((size_t)n, sizeof *sd);
    Mq__SubscriptionData **sdp = xcalloc((size_t)n, sizeof *sdp);
    int32_t(*codes)[SUB_MAX_TAGS] = xcalloc((size_t)n, sizeof *codes);
    for (int i = 0; i < n; i++) {
        mqc_sub *s = &c->subs[i];
        mq__subscription_data__init(&sd[i]);
        sd[i].topic = s->topic;
        sd[i].substring = s->sub.expression;
        if (s->sub.type == SUB_TAG && !s->sub.match_all) {
            sd[i].n_tagsset = (size_t)s->sub.n_tags;
            sd[i].tagsset = s->sub.tags;
            for (int k = 0; k < s->sub.n_tags; k++)
                codes[i][k] = (int32_t)s->sub.codes[k];
            sd[i].n_codeset = (size_t)s->sub.n_tags;
            sd[i].codeset = codes[i];
        }
        sd[i].subversion = s->sub.version;
        sd[i].has_subversion = 1;
        sd[i].expressiontype = s->expr_type;
        sdp[i] = &sd[i];
    }
    static const char *const from[] = {"CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_FIRST_OFFSET",
                                       "CONSUME_FROM_TIMESTAMP"};
    Mq__ConsumerData cd = MQ__CONSUMER_DATA__INIT;
    cd.groupname = c->group;
    cd.consumetype = (char *)"CONSUME_PASSIVELY";
    cd.messagemodel = (char *)(c->o.message_model == MQ_BROADCASTING ? "BROADCASTING" : "CLUSTERING");
    cd.consumefromwhere = (char *)from[c->o.consume_from];
    cd.n_subscriptiondataset = (size_t)n;
    cd.subscriptiondataset = sdp;
    cd.unitmode = 0;
    cd.has_unitmode = 1;
    mqc_heartbeat_encode(mqc_client_id(c->inst), NULL, &cd, &c->hb.body);
    free(codes);
    free(sdp);
    free(sd);
}

void mqc_heartbeat_route(mq_push_consumer *c, const mqc_route *r, bool only_new)
{
    mqc_addr_set set = {0};
    mqc_addr_set_add_route(&set, r, false);
    mqc_heartbeater_send(&c->hb, &set, only_new);
    mqc_addr_set_free(&set);
}

/* Each heartbeat period: every broker of the subscribed topics. (io) */
static void collect_heartbeat_brokers(void *owner, mqc_addr_set *out)
{
    mq_push_consumer *c = owner;
    for (int i = 0; i < c->n_subs; i++) {
        mqc_route *r = mqc_route_cached(c->inst, c->subs[i].topic);
        if (r) {
            mqc_addr_set_add_route(out, r, false);
            mqc_route_release(r);
        }
    }
}

static void on_rebalance_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_rebalance_all(w->data);
}

static void on_persist_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_persist_all(w->data);
}

static void on_lock_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    mqc_lock_all(w->data);
}

static void on_notify(rm_conn *conn, const rm_cmd *req, void *arg)
{
    mq_push_consumer *c = arg;
    rm_reply_status(conn, req, RS_SUCCESS, NULL); /* dropped if the request was oneway */
    if (c->closing)
        return;
    const Mq__ConsumerGroupRequestHeader *g =
        req->hdr->ext_case == MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP ? req->hdr->consumer_group : NULL;
    if (g && g->consumergroup && strcmp(g->consumergroup, c->group) != 0)
        return;
    log_info("consumer %s: broker %s says the group changed; rebalancing", c->group, rm_conn_peer(conn));
    mqc_rebalance_soon(c, 0);
}

static void start_timer(mq_push_consumer *c, ev_timer *t, void (*cb)(struct ev_loop *, ev_timer *, int), int ms)
{
    ev_timer_init(t, cb, ms / 1000.0, ms / 1000.0);
    t->data = c;
    ev_timer_start(mqc_loop(c->inst), t);
}

static void io_start(void *arg)
{
    mq_push_consumer *c = arg;
    mqc_on_request(c->inst, RC_NOTIFY_CONSUMER_IDS_CHANGED, on_notify, c);
    ev_timer_init(&c->rebalance_soon, NULL, 0., 0.);
    start_timer(c, &c->rebalance_timer, on_rebalance_timer, c->o.rebalance_interval_ms);
    mqc_heartbeater_start(&c->hb, c->inst, c->o.heartbeat_interval_ms, collect_heartbeat_brokers, c);
    start_timer(c, &c->persist_timer, on_persist_timer, c->o.persist_offset_interval_ms);
    if (c->orderly && c->o.message_model == MQ_CLUSTERING)
        start_timer(c, &c->lock_timer, on_lock_timer, c->o.lock_renew_interval_ms);
    mqc_rebalance_all(c);
}

/* ---- start ---- */

int mq_push_consumer_start(mq_push_consumer *c, mq_error *err)
{
    if (atomic_load(&c->state) != C_CREATED) {
        mqc_error_set(err, MQ_ESTATE, "consumer already started or shut down");
        return MQ_ESTATE;
    }
    if (c->n_subs == 0) {
        mqc_error_set(err, MQ_EINVAL, "no subscription: call mq_push_consumer_subscribe first");
        return MQ_EINVAL;
    }
    if (!c->listener && !c->orderly_listener) {
        mqc_error_set(err, MQ_EINVAL, "no listener: call mq_push_consumer_set_listener first");
        return MQ_EINVAL;
    }
    c->orderly = c->orderly_listener != NULL;
    c->max_reconsume = c->o.max_reconsume_times >= 0 ? c->o.max_reconsume_times : (c->orderly ? -1 : 16);
    int rc;
    if (c->o.message_model == MQ_CLUSTERING) {
        char retry[MQ_TOPIC_MAX + 16];
        snprintf(retry, sizeof retry, "%%RETRY%%%s", c->group);
        bool have = false;
        for (int i = 0; i < c->n_subs; i++)
            have |= !strcmp(c->subs[i].topic, retry);
        if (!have && (rc = add_sub(c, retry, "*", "TAG", true, err)) != MQ_OK)
            return rc;
    }
    mqc_options io;
    mqc_options_default(&io);
    io.namesrv_addr = c->namesrv;
    io.instance_name = c->instance_name;
    io.request_timeout_ms = c->o.request_timeout_ms;
    io.poll_name_server_interval_ms = c->o.poll_name_server_interval_ms;
    if ((rc = mqc_instance_new(&io, &c->inst, err)) != MQ_OK)
        return rc;
    if (c->o.message_model == MQ_BROADCASTING) {
        bytebuf path;
        bytebuf_init(&path);
        if (c->offset_dir) {
            bytebuf_append_str(&path, c->offset_dir);
        } else {
            const char *home = getenv("HOME");
            bytebuf_printf(&path, "%s/.mq_offsets", home && *home ? home : ".");
        }
        bytebuf_printf(&path, "/%s/%s/offsets.json", c->instance_name ? c->instance_name : "DEFAULT", c->group);
        c->offset_file = xstrdup(bytebuf_cstr(&path));
        bytebuf_free(&path);
        if ((rc = mqc_local_offsets_load(c->offset_file, &c->local_offsets, err)) != MQ_OK) {
            mqc_instance_free(c->inst);
            c->inst = NULL;
            return rc;
        }
    }
    build_heartbeat(c);

    /* Routes and a first heartbeat before the first rebalance, so that the
     * brokers list us when we ask for the group's members. */
    int routed = 0, unreachable = 0;
    mq_error last = {0};
    for (int i = 0; i < c->n_subs; i++) {
        mqc_route *r;
        mq_error e = {0};
        int grc = mqc_route_get(c->inst, c->subs[i].topic, false, &r, &e);
        if (grc != MQ_OK) {
            if (grc != MQ_ENOROUTE)
                unreachable++;
            if (!c->subs[i].is_retry) {
                log_warn("consumer %s: %s (will keep trying)", c->group, e.message);
                last = e;
            }
            continue;
        }
        routed++;
        for (size_t b = 0; b < r->data->n_brokerdatas; b++) {
            Mq__BrokerData *bd = r->data->brokerdatas[b];
            for (size_t j = 0; j < bd->n_brokeraddrs; j++) {
                const char *a = bd->brokeraddrs[j]->value;
                if (!mqc_heartbeater_add(&c->hb, a))
                    continue;
                Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
                h.code = RC_HEART_BEAT;
                h.has_code = 1;
                mqc_response resp;
                mq_error he;
                if (mqc_invoke_sync(c->inst, a, &h, c->hb.body.data, c->hb.body.len, c->o.request_timeout_ms, &resp,
                                    &he) != MQ_OK) {
                    log_warn("consumer %s: heartbeat to %s: %s", c->group, a, he.message);
                    continue;
                }
                if (resp.code != RS_SUCCESS)
                    log_warn("consumer %s: heartbeat refused by %s: %s (%d) %s", c->group, a,
                             rm_status_name(resp.code), resp.code, mqc_response_remark(&resp));
                mqc_response_free(&resp);
            }
        }
        mqc_route_release(r);
    }
    if (routed == 0 && unreachable > 0) {
        if (err)
            *err = last;
        mqc_instance_free(c->inst);
        c->inst = NULL;
        mqc_local_offsets_free(&c->local_offsets);
        return last.code ? last.code : MQ_ENETWORK;
    }
    if ((rc = mqc_svc_start(c, err)) != MQ_OK) {
        mqc_instance_free(c->inst);
        c->inst = NULL;
        return rc;
    }
    atomic_store(&c->state, C_STARTED);
    mqc_run_sync(c->inst, io_start, c);
    return MQ_OK;
}

/* ---- suspend / resume ---- */

void mq_push_consumer_suspend(mq_push_consumer *c)
{
    atomic_store(&c->suspended, true);
    mqc_svc_set_suspended(c, true);
}

static void io_unpark(void *arg) { mqc_unpark_all(arg); }

void mq_push_consumer_resume(mq_push_consumer *c)
{
    atomic_store(&c->suspended, false);
    mqc_svc_set_suspended(c, false);
    if (atomic_load(&c->state) == C_STARTED)
        mqc_post(c->inst, io_unpark, c);
}

typedef struct assigned_call {
    mq_push_consumer *c;
    mq_message_queue *qs;
    int n;
} assigned_call;

static void io_assigned(void *arg)
{
    assigned_call *a = arg;
    size_t n = a->c->pqs.count, i = 0;
    a->qs = xcalloc(n ? n : 1, sizeof *a->qs);
    void *v;
    for (size_t it = 0; strmap_next(&a->c->pqs, &it, NULL, &v);)
        a->qs[i++] = ((mqc_pq *)v)->mq;
    a->n = (int)n;
}

int mq_push_consumer_assigned_queues(mq_push_consumer *c, mq_message_queue **queues, int *n)
{
    assigned_call a = {c, NULL, 0};
    if (atomic_load(&c->state) != C_STARTED || mqc_run_sync(c->inst, io_assigned, &a) != MQ_OK) {
        *queues = xcalloc(1, sizeof **queues);
        *n = 0;
        return MQ_ESTATE;
    }
    qsort(a.qs, (size_t)a.n, sizeof *a.qs, mqc_queue_compare);
    *queues = a.qs;
    *n = a.n;
    return MQ_OK;
}

/* ---- shutdown ---- */

static void io_close(void *arg)
{
    mq_push_consumer *c = arg;
    struct ev_loop *loop = mqc_loop(c->inst);
    c->closing = true;
    ev_timer_stop(loop, &c->rebalance_timer);
    ev_timer_stop(loop, &c->rebalance_soon);
    mqc_heartbeater_stop(&c->hb);
    ev_timer_stop(loop, &c->persist_timer);
    ev_timer_stop(loop, &c->lock_timer);
    void *v;
    for (size_t it = 0; strmap_next(&c->pqs, &it, NULL, &v);)
        mqc_pq_stop_timers(v);
    for (mqc_pq *pq = c->releasing; pq; pq = pq->rel_next)
        mqc_pq_stop_timers(pq);
    mqc_svc_cancel_retries(c);
}

/* A final offset commit (and unlock) prepared on the I/O thread. */
typedef struct final_commit {
    char addr[ADDR_TEXT_MAX];
    mqc_pq *pq;
    int64_t offset;
} final_commit;

typedef struct final_call {
    mq_push_consumer *c;
    final_commit *items;
    int n;
    mqc_addr_set hb;
} final_call;

static void io_final(void *arg)
{
    final_call *f = arg;
    mq_push_consumer *c = f->c;
    size_t cap = c->pqs.count + 8;
    f->items = xcalloc(cap, sizeof *f->items);
    void *v;
    /* Table and releasing queues alike. */
    for (int pass = 0; pass < 2; pass++) {
        size_t it = 0;
        mqc_pq *rel = c->releasing;
        for (;;) {
            mqc_pq *pq;
            if (pass == 0) {
                if (!strmap_next(&c->pqs, &it, NULL, &v))
                    break;
                pq = v;
            } else {
                if (!rel)
                    break;
                pq = rel;
                rel = rel->rel_next;
            }
            pthread_mutex_lock(&pq->lock);
            bool known = pq->offset_known;
            int64_t off = mqc_inflight_commit_offset(&pq->inflight);
            pthread_mutex_unlock(&pq->lock);
            if (c->o.message_model == MQ_BROADCASTING) {
                if (known)
                    mqc_pq_persist(c, pq);
                continue;
            }
            if ((size_t)f->n == cap) {
                cap *= 2;
                f->items = xrealloc(f->items, cap * sizeof *f->items);
            }
            final_commit *fc = &f->items[f->n];
            if (!mqc_pq_broker_addr(c, &pq->mq, fc->addr, sizeof fc->addr))
                continue;
            fc->pq = pq;
            fc->offset = known ? off : -1;
            mqc_pq_ref(pq);
            f->n++;
        }
    }
    if (c->o.message_model == MQ_BROADCASTING && c->offset_file) {
        mq_error e;
        if (mqc_local_offsets_save(c->offset_file, &c->local_offsets, &e) != MQ_OK)
            log_warn("consumer %s: %s", c->group, e.message);
    }
    mqc_heartbeater_snapshot(&c->hb, &f->hb);
}

static void commit_and_unlock(mq_push_consumer *c, final_call *f)
{
    if (f->n == 0)
        return;
    mqc_countdown *cd = mqc_countdown_new();
    for (int i = 0; i < f->n; i++) {
        final_commit *fc = &f->items[i];
        if (fc->offset < 0)
            continue;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__UpdateConsumerOffsetRequestHeader u = MQ__UPDATE_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
        h.code = RC_UPDATE_CONSUMER_OFFSET;
        h.has_code = 1;
        u.consumergroup = c->group;
        u.topic = fc->pq->mq.topic;
        u.queueid = fc->pq->mq.queue_id;
        u.has_queueid = 1;
        u.commitoffset = fc->offset;
        u.has_commitoffset = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_UPDATE_CONSUMER_OFFSET;
        h.update_consumer_offset = &u;
        mqc_request_counted(c->inst, fc->addr, &h, NULL, 0, c->o.request_timeout_ms, cd);
    }
    int left = mqc_countdown_wait(cd, c->o.request_timeout_ms);
    mqc_countdown_release(cd);
    if (left)
        log_warn("consumer %s: %d offset commits unanswered at shutdown", c->group, left);
    if (!c->orderly)
        return;
    /* Unlock after the commits were answered: the next owner reads the
     * offset only once it holds the lock. */
    cd = mqc_countdown_new();
    bytebuf body;
    bytebuf_init(&body);
    for (int i = 0; i < f->n; i++) {
        mqc_lock_body(c, &f->items[i].pq, 1, &body);
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_UNLOCK_BATCH_MQ;
        h.has_code = 1;
        mqc_request_counted(c->inst, f->items[i].addr, &h, body.data, body.len, c->o.request_timeout_ms, cd);
    }
    bytebuf_free(&body);
    mqc_countdown_wait(cd, c->o.request_timeout_ms);
    mqc_countdown_release(cd);
}

void mq_push_consumer_shutdown(mq_push_consumer *c)
{
    int expected = C_STARTED;
    if (!atomic_compare_exchange_strong(&c->state, &expected, C_STOPPING)) {
        expected = C_CREATED;
        atomic_compare_exchange_strong(&c->state, &expected, C_STOPPED);
        return;
    }
    mqc_run_sync(c->inst, io_close, c);
    mqc_svc_stop(c);
    final_call f;
    memset(&f, 0, sizeof f);
    f.c = c;
    mqc_run_sync(c->inst, io_final, &f);
    commit_and_unlock(c, &f);
    mqc_unregister(c->inst, &f.hb, NULL, c->group, c->o.request_timeout_ms);
    mqc_instance_free(c->inst); /* fails held pulls: their callbacks release queues */
    c->inst = NULL;
    for (int i = 0; i < f.n; i++)
        mqc_pq_unref(f.items[i].pq);
    free(f.items);
    mqc_addr_set_free(&f.hb);
    void *v;
    for (size_t it = 0; strmap_next(&c->pqs, &it, NULL, &v);)
        mqc_pq_unref(v);
    strmap_free(&c->pqs);
    strmap_init(&c->pqs);
    while (c->releasing) {
        mqc_pq *pq = c->releasing;
        c->releasing = pq->rel_next;
        mqc_pq_unref(pq);
    }
    atomic_store(&c->state, C_STOPPED);
}

void mq_push_consumer_destroy(mq_push_consumer *c)
{
    if (!c)
        return;
    mq_push_consumer_shutdown(c);
    for (int i = 0; i < c->n_subs; i++) {
        free(c->subs[i].topic);
        free(c->subs[i].expr_type);
        mq_subscription_free(&c->subs[i].sub);
    }
    free(c->subs);
    free(c->svc.ring);
    pthread_mutex_destroy(&c->svc.lock);
    pthread_cond_destroy(&c->svc.cv);
    mqc_local_offsets_free(&c->local_offsets);
    strmap_free(&c->local_offsets);
    strmap_free(&c->pqs);
    mqc_heartbeater_free(&c->hb);
    free(c->offset_file);
    free(c->instance_name);
    free(c->offset_dir);
    free(c->namesrv);
    free(c->group);
    free(c);
}
