/*
 * txn_check.c - check-back: asks the producer group of each undecided half
 * message for its state, and parks what stays undecided.
 *
 * A timer on the broker's loop (every 50 ms, or transactionCheckInterval if
 * shorter) looks at the top of the pending heap: an entry is due when
 * next_check_ms (store time + transactionTimeOut, or the message's
 * CHECK_IMMUNITY_TIME_IN_SECONDS; then + transactionCheckInterval after each
 * check) has passed. A due entry with transactionCheckMax checks behind it
 * is parked; otherwise CHECK_TRANSACTION_STATE (39) goes oneway to one live
 * producer of its group (round robin, learned from heartbeats by
 * client_manager), over the producer's own connection, with RocketMQ's
 * header and the half message re-encoded with its real topic and queue as
 * body. The count is kept in meta_db ("c<offset>", one batch per tick), so a restart does
 * not hand out a fresh set of checks. A round without a live producer counts
 * too: an orphaned transaction ends parked and listed, not checked forever.
 *
 * Only pending entries are in the heap (T3): a decided or parked message is
 * never checked. A tick spends at most 20 ms on due entries (some 2,000
 * checks), so the loop keeps serving when many fall due at once; the rest
 * follow on the next ticks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_manager.h"
#include "log.h"
#include "meta_db.h"
#include "protocol.h"
#include "txn_internal.h"
#include "util.h"

enum { TICK_BUDGET_US = 20000, MAX_PRODUCERS = 64, LOG_EVERY_MS = 10000 };

static void send_check(txn_service *t, rm_conn *conn, const txn_entry *e, const msg_record *half)
{
    const char *topic, *qid, *uniq, *tid;
    size_t tl = 0, ql = 0, ul = 0, il = 0;
    msg_prop_get(half->properties, half->properties_len, MSG_PROP_REAL_TOPIC, &topic, &tl);
    msg_prop_get(half->properties, half->properties_len, MSG_PROP_REAL_QID, &qid, &ql);
    bool has_uniq = msg_prop_get(half->properties, half->properties_len, MSG_PROP_UNIQ_KEY, &uniq, &ul);
    bool has_tid = msg_prop_get(half->properties, half->properties_len, MSG_PROP_TRANSACTION_ID, &tid, &il);
    char real_topic[256] = "", uniq_s[128] = "", tid_s[128] = "", q[12] = "";
    if (tl < sizeof real_topic)
        memcpy(real_topic, topic, tl), real_topic[tl] = 0;
    if (has_uniq && ul < sizeof uniq_s)
        memcpy(uniq_s, uniq, ul), uniq_s[ul] = 0;
    if (has_tid && il < sizeof tid_s)
        memcpy(tid_s, tid, il), tid_s[il] = 0;
    if (ql < sizeof q)
        memcpy(q, qid, ql), q[ql] = 0;
    /* body: the half message as RocketMQ's MessageDecoder reads it, with its
     * real topic and queue (the producer looks its transaction up by it) */
    msg_record body = *half;
    body.topic = real_topic;
    body.topic_len = (uint32_t)strlen(real_topic);
    body.queue_id = atoi(q);
    size_t size = msg_record_size(&body);
    bytebuf_clear(&t->rec);
    uint8_t *dst = bytebuf_reserve(&t->rec, size);
    if (msg_encode(&body, dst, size) < 0)
        return;
    t->rec.len = size;
    char offset_id[MSG_ID_BUF];
    msg_offset_id_encode(&half->store_host, e->half_phys, offset_id, sizeof offset_id);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__CheckTransactionStateRequestHeader c = MQ__CHECK_TRANSACTION_STATE_REQUEST_HEADER__INIT;
    h.code = RC_CHECK_TRANSACTION_STATE;
    c.transtatetableoffset = e->half_offset;
    c.has_transtatetableoffset = 1;
    c.commitlogoffset = e->half_phys;
    c.has_commitlogoffset = 1;
    c.msgid = uniq_s;
    c.transactionid = has_tid ? tid_s : uniq_s;
    c.offsetmsgid = offset_id;
    c.topic = real_topic;
    h.ext_case = MQ__REMOTING_HEADER__EXT_CHECK_TRANSACTION_STATE;
    h.check_transaction_state = &c;
    rm_oneway(conn, &h, t->rec.data, t->rec.len);
}

/* Rate-limited summary lines: one per LOG_EVERY_MS at most per kind. */
static bool log_due(int64_t *last_ms, uint64_t *count)
{
    (*count)++;
    int64_t now = mono_ms();
    if (now - *last_ms < LOG_EVERY_MS)
        return false;
    *last_ms = now;
    return true;
}

static void park(txn_service *t, txn_entry *e, const msg_record *half)
{
    txn_entry copy = *e;
    store_put_result res;
    int64_t copy_phys = copy.half_phys;
    if (txn_apply(t, 'p', copy.half_offset, half, copy.half_phys, copy.checks, &res, &copy_phys) != 0) {
        /* store refuses writes (disk full...): try again next interval */
        e->next_check_ms = now_ms() + t->b->cfg.transaction_check_interval;
        txn_pending_reschedule(&t->pending, e);
        log_warn("cannot park half message %" PRId64 ": %s (retrying)", copy.half_offset, res.remark);
        return;
    }
    txn_pending_remove(&t->pending, copy.half_offset, NULL);
    txn_parked pk = {copy.half_offset, copy.half_phys, copy_phys, now_ms(), copy.checks, copy.group};
    txn_parked_save(t, &pk);
    t->st.parked_total++;
    if (log_due(&t->park_log_ms, &t->park_log_count)) {
        const char *uniq = "";
        size_t ul = 0;
        msg_prop_get(half->properties, half->properties_len, MSG_PROP_UNIQ_KEY, &uniq, &ul);
        log_warn("parked %" PRIu64 " half message(s) after %d unanswered checks in %s (latest: offset %" PRId64
                 ", msgId %.*s, producer group %s); list with mqadmin queryTransaction -p, resolve with "
                 "mqadmin resolveTransaction", t->park_log_count, t->b->cfg.transaction_check_max, TOPIC_PARKED,
                 copy.half_offset, (int)ul, uniq, txn_group_name(t, copy.group));
        t->park_log_count = 0;
    }
}

static void check_one(txn_service *t, txn_entry *e, int64_t now, struct meta_batch *counts)
{
    store_pin pin;
    store_pin_init(&pin);
    msg_record half;
    if (txn_read(t, e->half_phys, &half, &pin) != 0) {
        log_warn("half message %" PRId64 " at %" PRId64 " is no longer in the CommitLog (retention); dropped from "
                 "the pending index", e->half_offset, e->half_phys);
        txn_pending_remove(&t->pending, e->half_offset, NULL);
        store_pin_release(&pin);
        return;
    }
    if (e->checks >= t->b->cfg.transaction_check_max) {
        park(t, e, &half);
        store_pin_release(&pin);
        return;
    }
    /* lateness of checks that fell due while we ran (not during downtime) */
    if (e->next_check_ms >= t->started_ms && now - e->next_check_ms > t->st.check_delay_max_ms)
        t->st.check_delay_max_ms = now - e->next_check_ms;
    rm_conn *conns[MAX_PRODUCERS];
    const char *group = txn_group_name(t, e->group);
    size_t n = t->b->clients ? client_manager_producer_conns(t->b->clients, group, conns, MAX_PRODUCERS) : 0;
    if (n == 0) {
        t->st.checks_no_producer++;
        if (log_due(&t->noprod_log_ms, &t->noprod_log_count)) {
            log_warn("%" PRIu64 " transaction check(s) found no live producer of their group (latest: group %s, "
                     "half message %" PRId64 ")", t->noprod_log_count, group, e->half_offset);
            t->noprod_log_count = 0;
        }
    } else {
        send_check(t, conns[t->rr++ % n], e, &half);
        t->st.checks_sent++;
    }
    store_pin_release(&pin);
    e->checks++;
    char key[24];
    uint8_t val[4];
    txn_meta_key('c', e->half_offset, key);
    be32_store(val, e->checks);
    meta_batch_put(counts, TXN_NS, key, val, 4);
    e->next_check_ms = now + t->b->cfg.transaction_check_interval;
    txn_pending_reschedule(&t->pending, e);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    txn_service *t = w->data;
    int64_t now = now_ms(), start = mono_us();
    struct meta_batch *counts = NULL;
    for (unsigned i = 1;; i++) {
        txn_entry *e = txn_pending_top(&t->pending);
        if (!e || e->next_check_ms > now)
            break;
        if (!counts)
            counts = meta_batch_new();
        check_one(t, e, now, counts);
        if (i % 64 == 0 && mono_us() - start > TICK_BUDGET_US)
            break; /* the rest on the next tick: the loop keeps serving */
    }
    if (counts) {
        /* one meta_db write per tick for all the check counts it changed */
        meta_db_write(t->meta, counts, false);
        meta_batch_free(counts);
    }
    txn_marks_save(t, false);
}

void txn_check_start(txn_service *t)
{
    double period = 0.05;
    if (t->b->cfg.transaction_check_interval / 1000.0 < period)
        period = t->b->cfg.transaction_check_interval / 1000.0;
    ev_timer_init(&t->timer, on_tick, period, period);
    t->timer.data = t;
    if (t->b->loop)
        ev_timer_start(t->b->loop, &t->timer);
}

void txn_check_stop(txn_service *t)
{
    if (t->b->loop && ev_is_active(&t->timer))
        ev_timer_stop(t->b->loop, &t->timer);
}
