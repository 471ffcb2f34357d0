/*
 * processor_send.c - SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and
 * SEND_BATCH_MESSAGE (320): validate, append to the CommitLog, answer.
 *
 * Loop thread. The append itself is a store put: the record is encoded
 * under the store's put lock and written into the CommitLog's page cache
 * with pwrite, no disk I/O. Under ASYNC_FLUSH the answer goes out at once.
 * Under SYNC_FLUSH (unless the message says WAIT=false) the answer waits for
 * the group commit covering the record, made on the loop itself as Redis's
 * appendfsync always does: every such send of a loop turn is kept in a list
 * (turn_answer, no allocation) and its put is deferred (staged, unwritten);
 * when the turn ends (on_wake_prepare) the connections the previous commit
 * answered are read once more (and briefly awaited, syncFlushGatherMicros),
 * the turn's deferred puts are written in one pwrite, one store_flush_now
 * msyncs everything written and the loop answers them all, SUCCESS or
 * FLUSH_DISK_TIMEOUT after a flush error. A turn (after its commit, if
 * any) that wrote at most INLINE_DISPATCH_MAX bytes dispatches them on the
 * loop instead of waking store-dispatch, and answers the pulls they wake
 * there and then; while pulls are held, the turn's ASYNC_FLUSH sends are
 * answered after that (held_first), so the consumer hears first.
 * No thread hand-off per send; the loop is stalled for the msync
 * (and by a stuck disk, with no syncFlushTimeout answer: see
 * docs/STORE.md). The request's connection is held by an rm_reply_to
 * meanwhile, so a producer that disconnects costs nothing but a dropped
 * answer.
 *
 * What is refused, with RocketMQ's statuses: broker policy in send_check
 * (see processor_send.h: permissions, topic names, unknown topics when
 * auto-creation is off, queue ids out of range, too many sends waiting for
 * the disk), COMMIT/ROLLBACK flags on a send (send_check_features),
 * transactional messages in a batch, and
 * whatever the store refuses (empty or oversize bodies,
 * oversize properties, a full disk: MESSAGE_ILLEGAL / SERVICE_NOT_AVAILABLE
 * with the store's remark). The store computes the body CRC; this file never
 * looks at the body. A message with a delay level or delivery time is
 * rewritten into its scheduled form by sched_prepare
 * (broker/schedule/schedule.h) before the put, in a batch too (RocketMQ
 * refuses delayed batches; we store each item in its scheduled form); a bad
 * or too-far delivery time is MESSAGE_ILLEGAL with the reason.
 *
 * A transactional half message (PREPARED flag or TRAN_MSG=true, single sends
 * only) is rewritten into the half topic by broker/transaction/
 * (txn_half_prepare) before the put and enters its pending index
 * (txn_half_stored) after it; the answer is the usual one, after fsync
 * under SYNC_FLUSH. A delay it asks for is checked now and applied at
 * commit (the committed message goes through sched_prepare).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_context.h"
#include "bytes.h"
#include "ha/ha.h"
#include "log.h"
#include "message.h"
#include "processor_send.h"
#include "processors.h"
#include "pull_hold.h"
#include "schedule/schedule.h"
#include "store/store.h"
#include "topic_config.h"
#include "transaction/transaction.h"
#include "util.h"

enum {
    MAX_BATCH = 4096,          /* messages in one batch request */
    MAX_FLUSH_WAITERS = 65536, /* sync-flush answers of one loop turn before SYSTEM_BUSY */
    /* A turn that wrote at most this much (and commits nothing) dispatches
     * it on the loop: a few messages cost no wake-up of store-dispatch and
     * no wake-up of the loop for the arrival. More is left to the thread,
     * which runs beside the loop. */
    INLINE_DISPATCH_MAX = 16 * 1024,
    RECENT_MAX = 64,           /* connections the next group commit reads first */
    /* ASYNC_FLUSH sends of a turn whose answers wait for the turn's inline
     * dispatch while pulls are held (pulls answered first); more are
     * answered at once, as a turn that large is not dispatched inline. */
    HELD_FIRST_MAX = 16,
};

/* A send of this loop turn answered when the turn ends (on_wake_prepare). */
typedef struct turn_answer {
    rm_reply_to to;
    int32_t queue_id;
    int64_t queue_offset;
    size_t id_at;               /* its message id(s), NUL-terminated, in the list's ids */
} turn_answer;

typedef struct answer_list {
    turn_answer *a;
    size_t n, cap;
    bytebuf ids;
} answer_list;

struct send_state {
    broker *b;
    msg_host store_host;
    uint64_t rng;
    ev_prepare wake;            /* active after a put: wakes the dispatcher once per loop turn */
    /* one-entry cache of the last connection's born host */
    uint64_t host_conn_id;
    msg_host host;
    bytebuf sched_props;        /* properties of a message rewritten by sched_prepare */
    bytebuf batch_props;        /* the same for every item of a batch */
    answer_list sync;           /* SYNC_FLUSH sends of this loop turn */
    int64_t sync_end;           /* CommitLog end they need durable */
    answer_list held_first;     /* ASYNC sends answered after the pulls they wake */
    rm_conn *recent[RECENT_MAX]; /* answered by the last group commit (referenced) */
    size_t nrecent;
};
typedef struct send_state send_state;

static const msg_host *born_host(send_state *st, rm_conn *c)
{
    if (st->host_conn_id != rm_conn_id(c)) {
        char ip[80];
        int port = 0;
        char err[64];
        if (addr_split(rm_conn_peer(c), ip, sizeof ip, &port, err, sizeof err) != 0 ||
            msg_host_set(&st->host, ip, port) != 0)
            msg_host_set(&st->host, "127.0.0.1", 0);
        st->host_conn_id = rm_conn_id(c);
    }
    return &st->host;
}

static int32_t pick_queue(send_state *st, int32_t n)
{
    st->rng ^= st->rng << 13;
    st->rng ^= st->rng >> 7;
    st->rng ^= st->rng << 17;
    return (int32_t)(st->rng % (uint64_t)n);
}

/* Connections that sent SYNC_FLUSH sends are likely to send the next one
 * as soon as their answer arrives, which is often while the loop handles
 * the other connections of the next turn. Before the next group commit,
 * the connections answered by the last one that have not sent anything in
 * this turn are read once more (rm_conn_read_now: one recv, no wait), so a
 * request that arrived meanwhile shares this fsync instead of waiting for
 * the next (W5 x8: 4-6 messages per fsync otherwise, as the answered and
 * the waiting halves of the producers alternate). If the last commit
 * answered two or more connections and some are still silent, the loop
 * then sleeps up to syncFlushGatherMicros (60) for them, reading each as it
 * sends: PostgreSQL's commit_delay, but only for producers known to be
 * coming, so a lone producer (W5 x1) never waits. At x8 this takes the
 * group from about 6 to about 8 messages per fsync for a wait of a fraction
 * of the fsync itself. */
static void remember_recent(send_state *st)
{
    for (size_t i = 0; i < st->sync.n && st->nrecent < RECENT_MAX; i++) {
        rm_conn *c = st->sync.a[i].to.conn;
        if (!c || (i > 0 && st->sync.a[i - 1].to.conn == c))
            continue;
        rm_conn_ref(c);
        st->recent[st->nrecent++] = c;
    }
}

static void forget_recent(send_state *st)
{
    for (size_t i = 0; i < st->nrecent; i++)
        rm_conn_unref(st->recent[i]);
    st->nrecent = 0;
}

static bool in_turn(const send_state *st, const rm_conn *c)
{
    for (size_t j = 0; j < st->sync.n; j++)
        if (st->sync.a[j].to.conn == c)
            return true;
    return false;
}

static void read_recent(send_state *st)
{
    rm_conn *late[RECENT_MAX];
    size_t nlate = 0;
    for (size_t i = 0; i < st->nrecent; i++) {
        rm_conn *c = st->recent[i];
        if (in_turn(st, c))
            continue;
        rm_conn_read_now(c);
        if (!in_turn(st, c))
            late[nlate++] = c;
    }
    int64_t budget = st->b->cfg.sync_flush_gather_micros;
    if (nlate == 0 || st->nrecent < 2 || budget <= 0)
        return;
    int64_t deadline = mono_us() + budget;
    for (int64_t left = budget; nlate > 0 && left > 0; left = deadline - mono_us()) {
        if (rm_conn_wait_input(late, nlate, left) == 0)
            break;
        size_t k = 0;
        for (size_t i = 0; i < nlate; i++)
            if (!in_turn(st, late[i]))
                late[k++] = late[i];
        nlate = k;
    }
}

static void answer_later(answer_list *l, rm_reply_to *to, int32_t queue_id, int64_t queue_offset,
                         const char *msg_id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->a = xrealloc(l->a, l->cap * sizeof *l->a);
    }
    turn_answer *a = &l->a[l->n++];
    a->to = *to;
    a->queue_id = queue_id;
    a->queue_offset = queue_offset;
    a->id_at = l->ids.len;
    bytebuf_append(&l->ids, msg_id, strlen(msg_id) + 1);
}

/* Answers every send of the list with code. The answers are queued during
 * the prepare phase, after the connections' own prepare watchers (which
 * write them) were collected, so each connection is written here at once
 * rather than one loop turn later. */
static void answer_all(answer_list *l, int32_t code)
{
    const char *ids = bytebuf_cstr(&l->ids);
    for (size_t i = 0; i < l->n; i++) {
        turn_answer *a = &l->a[i];
        rm_conn *c = a->to.conn;
        if (c)
            rm_conn_ref(c); /* the answer drops the reply's reference */
        send_answer_stored(&a->to, code, ids + a->id_at, a->queue_id, a->queue_offset, NULL);
        if (c) {
            /* A turn's sends of one connection are usually adjacent. */
            if (i + 1 == l->n || l->a[i + 1].to.conn != c)
                rm_conn_flush_now(c);
            rm_conn_unref(c);
        }
    }
    l->n = 0;
    bytebuf_clear(&l->ids);
}

static void answer_list_free(answer_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rm_reply_to_drop(&l->a[i].to);
    free(l->a);
    bytebuf_free(&l->ids);
}

/* The turn's group commit: one flush for every SYNC_FLUSH send of the turn. */
static void commit_sync(send_state *st)
{
    int rc = store_flush_now(st->b->store, st->sync_end);
    remember_recent(st);
    answer_all(&st->sync, rc == 0 ? RS_SUCCESS : RS_FLUSH_DISK_TIMEOUT);
}

/* The store defers dispatcher wake-ups to us (defer_dispatch_wake): every
 * put of this loop turn is covered by one wake when the turn ends, or by an
 * inline dispatch. Both come after the group commit: a dispatcher woken
 * before it was often scheduled on the loop's CPU and preempted the loop
 * on its way to the msync (W5 x1: 30-40 us per commit, perf sched). */
static void on_wake_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    send_state *st = w->data;
    ev_prepare_stop(loop, w);
    if (st->sync.n)
        read_recent(st);
    forget_recent(st);
    store_write_deferred(st->b->store); /* the turn's deferred puts, in one write */
    if (st->sync.n)
        commit_sync(st);
    pull_hold *ph = st->b->pull_hold;
    if (ph)
        pull_hold_direct_begin(ph); /* held pulls of these queues are answered now */
    bool dispatched = store_dispatch_inline(st->b->store, INLINE_DISPATCH_MAX);
    if (ph)
        pull_hold_direct_end(ph);
    if (!dispatched)
        store_wake_dispatcher(st->b->store);
    if (st->held_first.n)
        answer_all(&st->held_first, RS_SUCCESS);
}

static void stored(send_state *st)
{
    if (!ev_is_active(&st->wake))
        ev_prepare_start(st->b->loop, &st->wake);
}

/* The put of a send. A send whose answer waits for the turn's group
 * commit is deferred: its bytes reach the file with the turn's other such
 * sends in one write, just before the flush (on_wake_prepare). Any other
 * answer may leave before the turn ends, so its put is written at once. */
static int put(send_state *st, const msg_record *recs, size_t n, bool wait, store_put_result *res,
               int64_t *offsets)
{
    bool defer = wait && st->b->cfg.flush_disk_type == FLUSH_SYNC;
    int rc = defer ? store_put_batch_deferred(st->b->store, recs, n, res, offsets)
                   : store_put_batch(st->b->store, recs, n, res, offsets);
    if (rc == 0)
        stored(st);
    return rc;
}

/* ---- answers ---- */

/* Response code of a put status, from the store's status table. */
static int32_t status_code(store_put_status s)
{
    switch (s) {
#define CODE_(name, value, text, code) case STORE_PUT_##name: return code;
    STORE_PUT_STATUS_TABLE(CODE_)
#undef CODE_
    }
    return RS_SYSTEM_ERROR;
}

/* Answers a stored message (SUCCESS or a "stored but..." status). */
void send_answer_stored(rm_reply_to *to, int32_t code, const char *msg_id, int32_t queue_id,
                        int64_t queue_offset, const char *transaction_id)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__SendMessageResponseHeader r = MQ__SEND_MESSAGE_RESPONSE_HEADER__INIT;
    h.code = code;
    if (code == RS_FLUSH_DISK_TIMEOUT)
        h.remark = (char *)"stored, but not flushed to disk in time (syncFlushTimeout)";
    else if (code == RS_FLUSH_SLAVE_TIMEOUT)
        h.remark = (char *)"stored, but no slave confirmed it in time (slaveTimeout)";
    else if (code == RS_SLAVE_NOT_AVAILABLE)
        h.remark = (char *)"stored, but no slave is connected and caught up (SYNC_MASTER)";
    r.msgid = (char *)msg_id;
    r.queueid = queue_id;
    r.has_queueid = 1;
    r.queueoffset = queue_offset;
    r.has_queueoffset = 1;
    r.transactionid = (char *)transaction_id;
    h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE;
    h.send_message_response = &r;
    rm_respond(to, &h, NULL, 0);
}

/* Answers now, or after the turn's flush when the broker flushes
 * synchronously. */
static void finish(send_state *st, rm_conn *c, const rm_cmd *req, const store_put_result *res,
                   const char *msg_id, bool wait)
{
    rm_reply_to to;
    rm_defer(c, req, &to);
    int64_t end = res->physical_offset + res->wrote_bytes;
    if (wait && ha_send_wait(st->b->ha, &to, end, req->hdr->send_message->queueid, res->queue_offset, msg_id))
        return; /* SYNC_MASTER: broker/ha answers once a slave (and under SYNC_FLUSH the disk) has it */
    if (wait && st->b->cfg.flush_disk_type == FLUSH_SYNC) {
        answer_later(&st->sync, &to, req->hdr->send_message->queueid, res->queue_offset, msg_id);
        if (end > st->sync_end)
            st->sync_end = end;
        stored(st); /* the turn's prepare commits it */
        return;
    }
    if (st->b->pull_hold && pull_hold_count(st->b->pull_hold) > 0 && st->held_first.n < HELD_FIRST_MAX) {
        /* Consumers are waiting: the turn's inline dispatch answers their
         * pulls first, then this (on_wake_prepare). */
        answer_later(&st->held_first, &to, req->hdr->send_message->queueid, res->queue_offset, msg_id);
        stored(st);
        return;
    }
    send_answer_stored(&to, RS_SUCCESS, msg_id, req->hdr->send_message->queueid, res->queue_offset, NULL);
}

/* ---- broker policy shared by every send path (processor_send.h) ---- */

int32_t send_check(broker *b, send_target *t, char *remark, size_t rlen)
{
    send_state *st = b->send;
    char err[200];
    if (!(b->cfg.broker_perm & PERM_WRITE)) {
        snprintf(remark, rlen, "the broker[%s] sending message is forbidden", b->addr);
        return RS_NO_PERMISSION;
    }
    if (b->cfg.broker_role == ROLE_SLAVE) {
        snprintf(remark, rlen, "broker %s is a slave: send to the master", b->addr);
        return RS_SERVICE_NOT_AVAILABLE;
    }
    if (b->fenced[0]) { /* failover: a newer master exists (broker/ha/ha_role.c) */
        snprintf(remark, rlen, "%s", b->fenced);
        return RS_SERVICE_NOT_AVAILABLE;
    }
    /* The topic table's naming rule (it decides what may be created); the
     * store's character rule is checked by the store alone. */
    if (!t->topic || !topic_name_valid(t->topic, err, sizeof err)) {
        snprintf(remark, rlen, "bad topic: %s", t->topic ? err : "topic is required");
        return RS_SYSTEM_ERROR;
    }
    if (!t->internal && topic_is_system(t->topic)) {
        snprintf(remark, rlen, "topic %s is a system topic and cannot be sent to", t->topic);
        return RS_NO_PERMISSION;
    }
    const topic_config *tc = topic_table_find(b->topics, t->topic);
    if (!tc && b->cfg.auto_create_topic_enable) {
        int32_t q = b->cfg.default_topic_queue_nums;
        if (t->default_queue_nums > 0 && t->default_queue_nums < q)
            q = t->default_queue_nums;
        tc = topic_table_ensure(b->topics, t->topic, q, q, PERM_READ | PERM_WRITE, 0);
        if (tc)
            log_info("auto-created topic %s with %d queues on first send", t->topic, q);
    }
    if (!tc) {
        snprintf(remark, rlen, "topic[%s] not exist, apply first please! (autoCreateTopicEnable=false)",
                 t->topic);
        return RS_TOPIC_NOT_EXIST;
    }
    if (!(tc->perm & PERM_WRITE)) {
        snprintf(remark, rlen, "the topic[%s] sending message is forbidden", t->topic);
        return RS_NO_PERMISSION;
    }
    if (t->queue_id < 0) {
        t->queue_id = pick_queue(st, tc->write_queue_nums);
    } else if (t->queue_id >= tc->write_queue_nums) {
        snprintf(remark, rlen, "request queueId[%d] is illegal, topic %s has %d write queues",
                 t->queue_id, t->topic, tc->write_queue_nums);
        return RS_SYSTEM_ERROR;
    }
    if (st->sync.n >= MAX_FLUSH_WAITERS) {
        b->stats.busy_rejections++;
        snprintf(remark, rlen,
                 "[TOO_MANY_FLUSH_WAITERS] broker busy: %zu sends waiting for the disk, try later",
                 st->sync.n);
        return RS_SYSTEM_BUSY;
    }
    return RS_SUCCESS;
}

int32_t send_check_features(int32_t sysflag, const char *props, size_t plen, char *remark,
                            size_t rlen)
{
    (void)props; /* no property-driven refusal left: delays go to sched_prepare */
    (void)plen;
    int32_t tx = msg_tx_type(sysflag);
    if (tx == MSG_SYSFLAG_TX_COMMIT || tx == MSG_SYSFLAG_TX_ROLLBACK) {
        snprintf(remark, rlen, "a send cannot carry a COMMIT or ROLLBACK transaction flag: decide a half "
                               "message with END_TRANSACTION");
        return RS_MESSAGE_ILLEGAL;
    }
    return RS_SUCCESS;
}

int32_t send_put_refused(broker *b, store_put_status status)
{
    int32_t code = status_code(status);
    b->stats.put_refused++;
    return code == RS_SUCCESS ? RS_SYSTEM_ERROR : code;
}

/* send_check for a request's header; the queue it picks is written back
 * into the header. Answers and returns false on a refusal. */
static bool check_request(broker *b, rm_conn *c, const rm_cmd *req)
{
    Mq__SendMessageRequestHeader *h = req->hdr->send_message;
    send_target t = {
        .topic = h->topic,
        .queue_id = h->has_queueid ? h->queueid : -1,
        .default_queue_nums = h->has_defaulttopicqueuenums ? h->defaulttopicqueuenums : 0,
    };
    char remark[320];
    int32_t code = send_check(b, &t, remark, sizeof remark);
    if (code != RS_SUCCESS) {
        rm_reply_status(c, req, code, "%s", remark);
        return false;
    }
    h->queueid = t.queue_id;
    h->has_queueid = 1;
    return true;
}

static bool check_features(rm_conn *c, const rm_cmd *req, int32_t sysflag, const char *props, size_t plen)
{
    char remark[128];
    int32_t code = send_check_features(sysflag, props, plen, remark, sizeof remark);
    if (code == RS_SUCCESS)
        return true;
    rm_reply_status(c, req, code, "%s", remark);
    return false;
}

static void fill_record(send_state *st, rm_conn *c, const Mq__SendMessageRequestHeader *h, msg_record *r)
{
    memset(r, 0, sizeof *r);
    r->topic = h->topic;
    r->topic_len = (uint32_t)strlen(h->topic);
    r->queue_id = h->queueid;
    r->flag = h->flag;
    r->sysflag = h->sysflag & ~(MSG_SYSFLAG_BORNHOST_V6 | MSG_SYSFLAG_STOREHOST_V6 | MSG_SYSFLAG_NEED_UNWRAP | MSG_SYSFLAG_INNER_BATCH);
    r->born_timestamp = h->has_borntimestamp ? h->borntimestamp : now_ms();
    r->born_host = *born_host(st, c);
    r->store_host = st->store_host;
    r->reconsume_times = h->reconsumetimes;
}

static bool put_ok_or_answer(broker *b, rm_conn *c, const rm_cmd *req, int rc,
                             const store_put_result *res)
{
    if (rc == 0 && res->status == STORE_PUT_OK)
        return true;
    rm_reply_status(c, req, send_put_refused(b, res->status), "%s: %s", store_put_status_name(res->status),
                    res->remark[0] ? res->remark : "not stored");
    return false;
}

/* ---- handlers ---- */

static void on_send(rm_conn *c, const rm_cmd *req, void *arg)
{
    send_state *st = arg;
    Mq__SendMessageRequestHeader *h = req->hdr->send_message;
    if (!check_request(st->b, c, req))
        return;
    const char *props = h->properties ? h->properties : "";
    size_t plen = strlen(props);
    if (!check_features(c, req, h->sysflag, props, plen))
        return;
    msg_record r;
    fill_record(st, c, h, &r);
    r.body = req->body;
    r.body_len = req->body_len;
    r.properties = props;
    r.properties_len = (uint32_t)plen;
    char why[256];
    bool half = st->b->txn && txn_is_prepared(h->sysflag, props, plen);
    if (half) {
        /* a delay is checked now and applied at commit (txn_real_record) */
        msg_record probe = r;
        probe.sysflag &= ~MSG_SYSFLAG_TX_MASK; /* sched_prepare passes over half messages */
        if (sched_prepare(st->b->store, st->b->cfg.timer_max_delay_sec, now_ms(), &probe, &st->sched_props, why,
                          sizeof why) == SCHED_ERR ||
            txn_half_prepare(st->b->txn, &r, h->producergroup, why, sizeof why) != 0) {
            rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "%s", why);
            return;
        }
    } else if (sched_prepare(st->b->store, st->b->cfg.timer_max_delay_sec, now_ms(), &r, &st->sched_props, why,
                             sizeof why) == SCHED_ERR) {
        rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "%s", why);
        return;
    }
    store_put_result res;
    bool wait = store_wait_requested(props, plen);
    int rc = put(st, &r, 1, wait, &res, NULL);
    if (!put_ok_or_answer(st->b, c, req, rc, &res))
        return;
    if (half)
        txn_half_stored(st->b->txn, &r, &res);
    finish(st, c, req, &res, res.offset_msg_id, wait);
}

static void on_send_batch(rm_conn *c, const rm_cmd *req, void *arg)
{
    send_state *st = arg;
    Mq__SendMessageRequestHeader *h = req->hdr->send_message;
    if (!check_request(st->b, c, req))
        return;
    msg_batch_iter it;
    msg_batch_item item;
    msg_batch_iter_init(&it, req->body, req->body_len);
    size_t n = 0, cap = 16;
    msg_record *recs = xmalloc(cap * sizeof *recs);
    msg_record base;
    fill_record(st, c, h, &base);
    size_t pcap = 16;
    size_t *prop_at = xmalloc(pcap * sizeof *prop_at);
    int64_t now = now_ms();
    bytebuf_clear(&st->batch_props);
    int rc;
    bool wait = true;
    while ((rc = msg_batch_next(&it, &item)) == 1) {
        if (n == MAX_BATCH) {
            rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "batch of more than %d messages", MAX_BATCH);
            goto out;
        }
        if (!check_features(c, req, h->sysflag, item.properties, item.properties_len))
            goto out;
        if (txn_is_prepared(h->sysflag, item.properties, item.properties_len)) {
            rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "transactional messages are sent one at a time, not in a "
                                                        "batch (message %zu of the batch is one)", n);
            goto out;
        }
        if (n == cap) {
            cap *= 2;
            recs = xrealloc(recs, cap * sizeof *recs);
        }
        recs[n] = base;
        recs[n].flag = item.flag;
        recs[n].body = item.body;
        recs[n].body_len = item.body_len;
        recs[n].properties = item.properties;
        recs[n].properties_len = item.properties_len;
        if (n == 0)
            wait = store_wait_requested(item.properties, item.properties_len);
        char why[256];
        int sc = sched_prepare(st->b->store, st->b->cfg.timer_max_delay_sec, now, &recs[n], &st->sched_props, why,
                               sizeof why);
        if (sc == SCHED_ERR) {
            rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "message %zu of the batch: %s", n, why);
            goto out;
        }
        if (n == pcap) {
            pcap *= 2;
            prop_at = xrealloc(prop_at, pcap * sizeof *prop_at);
        }
        prop_at[n] = SIZE_MAX;
        if (sc != SCHED_NONE) { /* rewritten: keep its properties in the batch's buffer */
            prop_at[n] = st->batch_props.len;
            bytebuf_append(&st->batch_props, st->sched_props.data, st->sched_props.len);
        }
        n++;
    }
    for (size_t i = 0; i < n; i++)
        if (prop_at[i] != SIZE_MAX)
            recs[i].properties = (const char *)st->batch_props.data + prop_at[i];
    if (rc < 0) {
        rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "malformed batch body: %s (after %zu messages)", msg_strerror(rc), n);
        goto out;
    }
    if (n == 0) {
        rm_reply_status(c, req, RS_MESSAGE_ILLEGAL, "empty batch");
        goto out;
    }
    int64_t *offsets = xmalloc(n * sizeof *offsets);
    store_put_result res;
    rc = put(st, recs, n, wait, &res, offsets);
    if (put_ok_or_answer(st->b, c, req, rc, &res)) {
        bytebuf ids;
        bytebuf_init(&ids);
        for (size_t i = 0; i < n; i++) {
            char id[MSG_ID_BUF];
            msg_offset_id_encode(&st->store_host, offsets[i], id, sizeof id);
            if (i)
                bytebuf_append(&ids, ",", 1);
            bytebuf_append_str(&ids, id);
        }
        finish(st, c, req, &res, bytebuf_cstr(&ids), wait);
        bytebuf_free(&ids);
    }
    free(offsets);
out:
    free(recs);
    free(prop_at);
}

void processor_send_register(broker *b)
{
    send_state *st = xcalloc(1, sizeof *st);
    st->b = b;
    st->rng = (uint64_t)mono_ns() | 1;
    bytebuf_init(&st->sched_props);
    bytebuf_init(&st->batch_props);
    char ip[80];
    int port = 0;
    char err[64];
    if (addr_split(b->addr, ip, sizeof ip, &port, err, sizeof err) != 0 || msg_host_set(&st->store_host, ip, port) != 0)
        msg_host_set(&st->store_host, "127.0.0.1", b->port);
    ev_prepare_init(&st->wake, on_wake_prepare);
    st->wake.data = st;
    bytebuf_init(&st->sync.ids);
    bytebuf_init(&st->held_first.ids);
    b->send = st;
    rm_dispatch_on(b->dispatch, RC_SEND_MESSAGE, on_send, st);
    rm_dispatch_on(b->dispatch, RC_SEND_MESSAGE_V2, on_send, st);
    rm_dispatch_on(b->dispatch, RC_SEND_BATCH_MESSAGE, on_send_batch, st);
}

void processor_send_unregister(broker *b)
{
    if (b->send) {
        send_state *st = b->send;
        ev_prepare_stop(b->loop, &st->wake);
        forget_recent(st);
        answer_list_free(&st->sync);
        answer_list_free(&st->held_first);
        bytebuf_free(&b->send->sched_props);
        bytebuf_free(&b->send->batch_props);
    }
    free(b->send);
    b->send = NULL;
}
