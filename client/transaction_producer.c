/*
 * transaction_producer.c - the transactional producer (mq/transaction.h):
 * half message, local transaction, END_TRANSACTION, and answers to the
 * broker's CHECK_TRANSACTION_STATE.
 *
 * It wraps an ordinary mq_producer (producer_internal.h gives it the runtime
 * and the half-message send) and adds:
 *
 *   send path (application thread)
 *     half message: the message's wire properties + TRAN_MSG=true +
 *     PGROUP=<group>, sysflag TRANSACTION_PREPARED, sent synchronously with
 *     the producer's retries -> listener.execute on the same thread ->
 *     END_TRANSACTION to the master of the broker that stored it, with
 *     commitLogOffset (decoded from the offset message id), the half-queue
 *     offset as tranStateTableOffset, msgId = transactionId = UNIQ_KEY,
 *     fromTransactionCheck=false. Oneway as RocketMQ, or request/response
 *     with end_transaction_wait.
 *
 *   check path
 *     I/O thread ("mq-io"): on_check decodes the request (header + the half
 *     message in CommitLog format), drops what is not for this group, and
 *     queues a check job (bounded: check_queue_max). It never runs
 *     application code.
 *     Check threads ("mq-txcheck-N"): take jobs, run listener.check, send
 *     END_TRANSACTION (oneway, fromTransactionCheck=true) to the broker that
 *     asked, over the producer's connection to it.
 *
 * Invariants
 *   T1. Application code never runs on the I/O thread.
 *   T2. After shutdown began no check callback starts; queued jobs are
 *       dropped (the broker asks again at its next round).
 *   T3. A job owns one reference to its decoded message batch.
 */
#define _GNU_SOURCE
#include "mq/transaction.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "log.h"
#include "message.h"
#include "message_internal.h"
#include "producer_internal.h"
#include "protocol.h"
#include "util.h"

#define PROPS_STACK 1024

enum { TP_CREATED = 0, TP_STARTED = 1, TP_STOPPED = 2 };

typedef struct check_job {
    struct check_job *next;
    mqc_msg_batch *batch;       /* one message: the half message (T3) */
    char broker_addr[64];       /* who asked: the answer goes there */
    int64_t tran_state_offset;  /* header tranStateTableOffset */
    int64_t commit_log_offset;  /* header commitLogOffset (-1 if absent) */
    char transaction_id[MQ_MSG_ID_MAX];
} check_job;

struct mq_transaction_producer {
    mq_producer *p;
    char *group;
    mq_transaction_listener l;
    mq_transaction_producer_options o;
    atomic_int state;
    atomic_bool closing;        /* T2: set before the check threads stop */
    /* check queue (check threads and the I/O thread) */
    pthread_mutex_t qlock;
    pthread_cond_t qcv;
    check_job *head, *tail;
    int queued;
    pthread_t *threads;
    int n_threads;
    int64_t last_drop_log_ms;   /* (qlock) rate limit of the drop warning */
    uint64_t drops_unlogged;    /* (qlock) */
    /* counters */
    atomic_uint_fast64_t sent, committed, rolled_back, unknown;
    atomic_uint_fast64_t checks, checks_answered, checks_dropped, end_failures;
};

const char *mq_transaction_state_name(mq_transaction_state s)
{
    switch (s) {
    case MQ_TRANSACTION_COMMIT: return "COMMIT";
    case MQ_TRANSACTION_ROLLBACK: return "ROLLBACK";
    case MQ_TRANSACTION_UNKNOWN: return "UNKNOWN";
    }
    return "UNKNOWN";
}

/* The sysflag value END_TRANSACTION carries for a state. */
static int32_t end_type(mq_transaction_state s)
{
    switch (s) {
    case MQ_TRANSACTION_COMMIT: return MSG_SYSFLAG_TX_COMMIT;
    case MQ_TRANSACTION_ROLLBACK: return MSG_SYSFLAG_TX_ROLLBACK;
    default: return MSG_SYSFLAG_TX_NOT;
    }
}

/* A state returned by application code: anything else counts as UNKNOWN
 * (as RocketMQ treats null or an exception). */
static mq_transaction_state sane_state(mq_transaction_state s)
{
    return s == MQ_TRANSACTION_COMMIT || s == MQ_TRANSACTION_ROLLBACK ? s : MQ_TRANSACTION_UNKNOWN;
}

void mq_transaction_producer_options_init(mq_transaction_producer_options *o)
{
    memset(o, 0, sizeof *o);
    mq_producer_options_init(&o->producer);
    o->check_thread_count = 1;
    o->check_queue_max = 2000;
    o->end_transaction_wait = false;
}

/* ---- life cycle ---- */

int mq_transaction_producer_new(const char *group, const char *namesrv_addr,
                                const mq_transaction_producer_options *opts,
                                const mq_transaction_listener *listener, mq_transaction_producer **out,
                                mq_error *err)
{
    mq_transaction_producer_options o;
    if (opts)
        o = *opts;
    else
        mq_transaction_producer_options_init(&o);
    if (!listener || !listener->execute || !listener->check) {
        mqc_error_set(err, MQ_EINVAL, "a transaction listener needs both execute and check callbacks");
        return MQ_EINVAL;
    }
    if (o.check_thread_count < 1 || o.check_thread_count > 256 || o.check_queue_max < 1) {
        mqc_error_set(err, MQ_EINVAL, "check_thread_count must be 1..256 and check_queue_max positive");
        return MQ_EINVAL;
    }
    mq_producer *p;
    int rc = mq_producer_new(group, namesrv_addr, &o.producer, &p, err);
    if (rc != MQ_OK)
        return rc;
    mq_transaction_producer *tp = xcalloc(1, sizeof *tp);
    tp->p = p;
    tp->group = xstrdup(group);
    tp->l = *listener;
    tp->o = o;
    tp->o.producer.instance_name = NULL; /* the producer keeps its own copy */
    pthread_mutex_init(&tp->qlock, NULL);
    pthread_cond_init(&tp->qcv, NULL);
    *out = tp;
    return MQ_OK;
}

mq_producer *mq_transaction_producer_producer(mq_transaction_producer *tp) { return tp->p; }

static void *check_thread(void *arg);
static void on_check(rm_conn *conn, const rm_cmd *req, void *arg);

static void register_check_handler(void *arg)
{
    mq_transaction_producer *tp = arg;
    mqc_on_request(mqc_producer_instance(tp->p), RC_CHECK_TRANSACTION_STATE, on_check, tp);
}

int mq_transaction_producer_start(mq_transaction_producer *tp, mq_error *err)
{
    if (atomic_load(&tp->state) != TP_CREATED) {
        mqc_error_set(err, MQ_ESTATE, "transaction producer already started or shut down");
        return MQ_ESTATE;
    }
    int rc = mq_producer_start(tp->p, err);
    if (rc != MQ_OK)
        return rc;
    tp->threads = xcalloc((size_t)tp->o.check_thread_count, sizeof *tp->threads);
    for (int i = 0; i < tp->o.check_thread_count; i++) {
        if (pthread_create(&tp->threads[i], NULL, check_thread, tp) != 0) {
            mqc_error_set(err, MQ_ENOMEM, "cannot start check thread %d", i);
            atomic_store(&tp->state, TP_STARTED);
            mq_transaction_producer_shutdown(tp);
            return MQ_ENOMEM;
        }
        tp->n_threads++;
    }
    /* Before any send or announce: no broker knows this member yet (no
     * heartbeat went out), so no check can arrive before the handler. */
    mqc_run_sync(mqc_producer_instance(tp->p), register_check_handler, tp);
    atomic_store(&tp->state, TP_STARTED);
    return MQ_OK;
}

int mq_transaction_producer_announce(mq_transaction_producer *tp, const char *topic, mq_error *err)
{
    if (atomic_load(&tp->state) != TP_STARTED) {
        mqc_error_set(err, MQ_ESTATE, "transaction producer is not started");
        return MQ_ESTATE;
    }
    /* Building the topic's publish table heartbeats its new brokers. */
    mq_message_queue *qs = NULL;
    int n = 0;
    int rc = mq_producer_fetch_publish_queues(tp->p, topic, &qs, &n, err);
    free(qs);
    return rc;
}

void mq_transaction_producer_shutdown(mq_transaction_producer *tp)
{
    if (atomic_exchange(&tp->state, TP_STOPPED) != TP_STARTED) {
        if (tp->p)
            mq_producer_shutdown(tp->p);
        return;
    }
    atomic_store(&tp->closing, true);
    pthread_mutex_lock(&tp->qlock);
    pthread_cond_broadcast(&tp->qcv);
    pthread_mutex_unlock(&tp->qlock);
    for (int i = 0; i < tp->n_threads; i++)
        pthread_join(tp->threads[i], NULL);
    tp->n_threads = 0;
    /* The I/O thread may still queue a job until the producer stops it:
     * stop it first, then drop what is left (T2). */
    mq_producer_shutdown(tp->p);
    pthread_mutex_lock(&tp->qlock);
    check_job *j = tp->head;
    tp->head = tp->tail = NULL;
    tp->queued = 0;
    pthread_mutex_unlock(&tp->qlock);
    while (j) {
        check_job *next = j->next;
        mqc_msg_batch_unref(j->batch);
        free(j);
        j = next;
    }
}

void mq_transaction_producer_destroy(mq_transaction_producer *tp)
{
    if (!tp)
        return;
    mq_transaction_producer_shutdown(tp);
    mq_producer_destroy(tp->p);
    free(tp->threads);
    free(tp->group);
    pthread_mutex_destroy(&tp->qlock);
    pthread_cond_destroy(&tp->qcv);
    free(tp);
}

void mq_transaction_producer_stats(const mq_transaction_producer *tp, mq_transaction_stats *out)
{
    out->sent = atomic_load(&tp->sent);
    out->committed = atomic_load(&tp->committed);
    out->rolled_back = atomic_load(&tp->rolled_back);
    out->unknown = atomic_load(&tp->unknown);
    out->checks = atomic_load(&tp->checks);
    out->checks_answered = atomic_load(&tp->checks_answered);
    out->checks_dropped = atomic_load(&tp->checks_dropped);
    out->end_failures = atomic_load(&tp->end_failures);
}

/* ---- END_TRANSACTION ---- */

typedef struct end_req {
    const char *group;
    int64_t tran_state_offset;
    int64_t commit_log_offset;
    mq_transaction_state state;
    bool from_check;
    const char *msg_id;
    const char *transaction_id;
    const char *topic;
} end_req;

/* Sends END_TRANSACTION to addr: oneway, or (wait) as a request whose
 * answer must be SUCCESS. (any, not io) */
static int end_transaction(mq_transaction_producer *tp, const char *addr, const end_req *e, bool wait,
                           mq_error *err)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__EndTransactionRequestHeader eh = MQ__END_TRANSACTION_REQUEST_HEADER__INIT;
    h.code = RC_END_TRANSACTION;
    h.has_code = 1;
    h.ext_case = MQ__REMOTING_HEADER__EXT_END_TRANSACTION;
    h.end_transaction = &eh;
    eh.producergroup = (char *)e->group;
    eh.transtatetableoffset = e->tran_state_offset;
    eh.has_transtatetableoffset = 1;
    eh.commitlogoffset = e->commit_log_offset;
    eh.has_commitlogoffset = 1;
    eh.commitorrollback = end_type(e->state);
    eh.has_commitorrollback = 1;
    eh.fromtransactioncheck = e->from_check;
    eh.has_fromtransactioncheck = 1;
    eh.msgid = (char *)e->msg_id;
    eh.transactionid = (char *)e->transaction_id;
    eh.topic = (char *)e->topic;
    mqc_instance *inst = mqc_producer_instance(tp->p);
    if (!wait)
        return mqc_invoke_oneway(inst, addr, &h, NULL, 0, err);
    mqc_response r;
    int rc = mqc_invoke_sync(inst, addr, &h, NULL, 0, tp->o.producer.send_timeout_ms, &r, err);
    if (rc != MQ_OK)
        return rc;
    if (r.code != RS_SUCCESS) {
        mqc_error_from_response(err, "END_TRANSACTION", &r);
        rc = MQ_EBROKER;
    }
    mqc_response_free(&r);
    return rc;
}

/* The master address of the broker named broker_name that serves topic. */
static int broker_addr_of(mq_transaction_producer *tp, const char *topic, const char *broker_name, char *out,
                          size_t cap, mq_error *err)
{
    mqc_instance *inst = mqc_producer_instance(tp->p);
    mqc_route *r = mqc_route_cached(inst, topic);
    if (!r && mqc_route_get(inst, topic, false, &r, err) != MQ_OK)
        r = mqc_route_cached(inst, "TBW102"); /* sent through the template topic */
    const char *addr = r ? mqc_route_broker_addr(r, broker_name, 0) : NULL;
    if (addr)
        str_copy(out, cap, addr);
    mqc_route_release(r);
    if (!addr) {
        mqc_error_set(err, MQ_ENOROUTE, "no master address for broker %s of topic %s", broker_name, topic);
        return MQ_ENOROUTE;
    }
    return MQ_OK;
}

/* ---- the send path (application thread) ---- */

/* The half message's properties: the message's own, then TRAN_MSG and
 * PGROUP. Into buf, or a heap copy when it does not fit. */
static const char *half_props(const mq_message *m, const char *uniq, const char *group, char *buf, size_t cap,
                              char **heap)
{
    *heap = NULL;
    size_t n = mqc_message_wire_props(m, uniq, NULL, 0);
    size_t extra = 32 + strlen(group); /* "\2TRAN_MSG\1true\2PGROUP\1<group>" */
    char *out = buf;
    if (n + extra + 1 > cap)
        out = *heap = xmalloc(n + extra + 1);
    mqc_message_wire_props(m, uniq, out, n + 1);
    snprintf(out + n, extra + 1, "%c%s%ctrue%c%s%c%s", MSG_PROPERTY_SEPARATOR, MSG_PROP_TRAN_MSG,
             MSG_NAME_VALUE_SEPARATOR, MSG_PROPERTY_SEPARATOR, MSG_PROP_PGROUP, MSG_NAME_VALUE_SEPARATOR, group);
    return out;
}

int mq_transaction_producer_send(mq_transaction_producer *tp, const mq_message *msg, void *send_arg,
                                 mq_transaction_send_result *result, mq_error *err)
{
    if (atomic_load(&tp->state) != TP_STARTED) {
        mqc_error_set(err, MQ_ESTATE, "transaction producer is %s",
                      atomic_load(&tp->state) == TP_CREATED ? "not started" : "shut down");
        return MQ_ESTATE;
    }
    if (!msg) {
        mqc_error_set(err, MQ_EINVAL, "message is NULL");
        return MQ_EINVAL;
    }
    if (mq_message_delay_level(msg) > 0) {
        mqc_error_set(err, MQ_EINVAL, "a transactional message cannot have a delay level");
        return MQ_EINVAL;
    }
    const char *group = tp->group;
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    char buf[PROPS_STACK], *heap;
    const char *props = half_props(msg, uniq, group, buf, sizeof buf, &heap);
    mq_transaction_send_result local;
    mq_transaction_send_result *res = result ? result : &local;
    memset(res, 0, sizeof *res);
    int rc = mqc_producer_send_prepared(tp->p, msg, uniq, props, &res->send, err);
    free(heap);
    if (rc != MQ_OK)
        return rc;
    atomic_fetch_add(&tp->sent, 1);

    /* A half message whose flush or replication was not confirmed is rolled
     * back without running the local transaction (RocketMQ does the same). */
    mq_transaction_state st = MQ_TRANSACTION_ROLLBACK;
    if (res->send.status == MQ_SEND_OK) {
        st = sane_state(tp->l.execute(msg, uniq, send_arg, tp->l.arg));
        res->executed = true;
    }
    res->state = st;
    atomic_fetch_add(st == MQ_TRANSACTION_COMMIT     ? &tp->committed
                     : st == MQ_TRANSACTION_ROLLBACK ? &tp->rolled_back
                                                     : &tp->unknown,
                     1);

    msg_host host;
    int64_t commit_log_offset = 0;
    char addr[128];
    if (msg_offset_id_decode(res->send.offset_msg_id, strlen(res->send.offset_msg_id), &host,
                             &commit_log_offset) != 0) {
        mqc_error_set(&res->end_error, MQ_EBROKER, "the broker's offset message id \"%s\" is malformed",
                      res->send.offset_msg_id);
        res->end_rc = MQ_EBROKER;
    } else {
        res->end_rc = broker_addr_of(tp, res->send.queue.topic, res->send.queue.broker_name, addr, sizeof addr,
                                     &res->end_error);
    }
    if (res->end_rc == MQ_OK) {
        end_req e = {group, res->send.queue_offset, commit_log_offset, st, false, uniq, uniq,
                     mq_message_topic(msg)};
        res->end_rc = end_transaction(tp, addr, &e, tp->o.end_transaction_wait, &res->end_error);
    }
    if (res->end_rc != MQ_OK) {
        atomic_fetch_add(&tp->end_failures, 1);
        log_warn("transaction %s of group %s: %s locally, but END_TRANSACTION failed (%s); the broker will "
                 "check back", uniq, group, mq_transaction_state_name(st), res->end_error.message);
    }
    return MQ_OK;
}

/* ---- the check path ---- */

/* Logs dropped check requests at most once a second. (qlock held) */
static void note_drop_locked(mq_transaction_producer *tp, const char *why)
{
    atomic_fetch_add(&tp->checks_dropped, 1);
    tp->drops_unlogged++;
    int64_t now = mono_ms_coarse();
    if (now - tp->last_drop_log_ms >= 1000) {
        log_warn("producer group %s: dropped %llu transaction check request(s) (last: %s); the broker asks again",
                 tp->group, (unsigned long long)tp->drops_unlogged, why);
        tp->drops_unlogged = 0;
        tp->last_drop_log_ms = now;
    }
}

static void drop_check(mq_transaction_producer *tp, const char *why)
{
    pthread_mutex_lock(&tp->qlock);
    note_drop_locked(tp, why);
    pthread_mutex_unlock(&tp->qlock);
}

/* CHECK_TRANSACTION_STATE from a broker (io). The broker sends it oneway:
 * there is nothing to answer here; the answer is an END_TRANSACTION. */
static void on_check(rm_conn *conn, const rm_cmd *req, void *arg)
{
    mq_transaction_producer *tp = arg;
    atomic_fetch_add(&tp->checks, 1);
    if (atomic_load(&tp->closing)) {
        drop_check(tp, "shutting down");
        return;
    }
    const Mq__CheckTransactionStateRequestHeader *ch = req->hdr->check_transaction_state;
    mqc_msg_batch *b = NULL;
    mq_error e;
    if (!req->body_len || mqc_msg_batch_decode(req->body, req->body_len, rm_conn_peer(conn), NULL, &b, &e) != MQ_OK ||
        b->n != 1) {
        if (b)
            mqc_msg_batch_unref(b);
        drop_check(tp, "request without a decodable half message");
        return;
    }
    const char *pgroup = mq_message_ext_property(&b->msgs[0], MSG_PROP_PGROUP);
    if (!pgroup || strcmp(pgroup, tp->group) != 0) {
        mqc_msg_batch_unref(b);
        drop_check(tp, "half message of another producer group");
        return;
    }
    check_job *j = xcalloc(1, sizeof *j);
    j->batch = b;
    str_copy(j->broker_addr, sizeof j->broker_addr, rm_conn_peer(conn));
    j->tran_state_offset = ch->has_transtatetableoffset ? ch->transtatetableoffset : b->msgs[0].queue_offset;
    j->commit_log_offset = ch->has_commitlogoffset ? ch->commitlogoffset : -1;
    str_copy(j->transaction_id, sizeof j->transaction_id,
             ch->transactionid && ch->transactionid[0] ? ch->transactionid : mq_message_ext_msg_id(&b->msgs[0]));
    pthread_mutex_lock(&tp->qlock);
    if (tp->queued >= tp->o.check_queue_max) {
        note_drop_locked(tp, "check queue full");
        pthread_mutex_unlock(&tp->qlock);
        mqc_msg_batch_unref(b);
        free(j);
        return;
    }
    if (tp->tail)
        tp->tail->next = j;
    else
        tp->head = j;
    tp->tail = j;
    tp->queued++;
    pthread_cond_signal(&tp->qcv);
    pthread_mutex_unlock(&tp->qlock);
}

/* Runs one check and answers it (check thread). */
static void run_check(mq_transaction_producer *tp, check_job *j)
{
    const mq_message_ext *m = &j->batch->msgs[0];
    mq_transaction_state st = sane_state(tp->l.check(m, tp->l.arg));
    /* As RocketMQ's client: the half message's unique id, the header's
     * half-queue offset and transaction id. The commit-log offset is the
     * header's (RocketMQ's broker puts the half message's own there, which
     * Java reads from the body; the two are the same). */
    const char *uniq = m->uniq_id ? m->uniq_id : mq_message_ext_offset_msg_id(m);
    end_req e = {tp->group, j->tran_state_offset,
                 j->commit_log_offset >= 0 ? j->commit_log_offset : m->commit_log_offset, st, true, uniq,
                 j->transaction_id, mq_message_ext_topic(m)};
    mq_error err;
    if (end_transaction(tp, j->broker_addr, &e, false, &err) == MQ_OK) {
        atomic_fetch_add(&tp->checks_answered, 1);
    } else {
        atomic_fetch_add(&tp->end_failures, 1);
        log_warn("transaction %s: check answered %s but END_TRANSACTION to %s failed: %s", j->transaction_id,
                 mq_transaction_state_name(st), j->broker_addr, err.message);
    }
}

static void *check_thread(void *arg)
{
    mq_transaction_producer *tp = arg;
    static atomic_int seq;
    char name[16];
    snprintf(name, sizeof name, "mq-txcheck-%d", atomic_fetch_add(&seq, 1) % 100);
    log_set_thread_name(name);
    pthread_mutex_lock(&tp->qlock);
    for (;;) {
        while (!tp->head && !atomic_load(&tp->closing))
            pthread_cond_wait(&tp->qcv, &tp->qlock);
        if (atomic_load(&tp->closing))
            break;
        check_job *j = tp->head;
        tp->head = j->next;
        if (!tp->head)
            tp->tail = NULL;
        tp->queued--;
        pthread_mutex_unlock(&tp->qlock);
        run_check(tp, j);
        mqc_msg_batch_unref(j->batch);
        free(j);
        pthread_mutex_lock(&tp->qlock);
    }
    pthread_mutex_unlock(&tp->qlock);
    return NULL;
}
