/*
 * op.c - decisions written to the CommitLog, and the rebuild of the
 * pending index from the half and op queues at start.
 *
 * A decision is one store_put_batch (one lock, consecutive records):
 *   commit    [op "c", real message]   rollback [op "r"]
 *   park      [op "p", copy of the half in TRANS_CHECK_MAX_TIME_TOPIC]
 * The op record comes first (T2): if a crash tears the batch, either
 * nothing of it survived (the transaction is still pending and will be
 * decided or checked again) or the op survived without its real message,
 * which the rebuild detects (the record after the op is not a COMMIT record
 * with PREPARED_TRANSACTION_OFFSET = the half's offset) and redoes.
 *
 * Rebuild (txn_rebuild, at open, before the broker serves):
 *   1. scan marks from meta_db ("m": half_low, op_low): every half message
 *      below half_low is resolved, and every op record of a half message at
 *      or above half_low is at or above op_low (op_low is the op queue
 *      length when that half message was stored; later ops come after it);
 *   2. half queue [half_low, max): every record becomes a pending entry;
 *   3. meta_db "c<offset>": check counts; "p<offset>": the parked set;
 *   4. op queue [op_low, max): each op removes its half message from
 *      pending (or parked); "p" parks it; "c" whose real message is missing
 *      is redone after the scan.
 * Cost: one pass over the records of the two windows; the windows are as
 * long as the oldest pending transaction is old (bounded by
 * transactionTimeOut + transactionCheckMax * transactionCheckInterval).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "log.h"
#include "meta_db.h"
#include "schedule/schedule.h"
#include "txn_internal.h"
#include "util.h"

int txn_apply(txn_service *t, char op, int64_t half_offset, const msg_record *half, int64_t half_phys, int checks,
              store_put_result *res, int64_t *second_phys)
{
    msg_record recs[2];
    char body[24];
    size_t n = 1;
    txn_op_record(t, op, half_offset, 0, body, &recs[0]);
    if (op == 'c') {
        if (txn_real_record(t, half, half_phys, &recs[1]) != 0) {
            memset(res, 0, sizeof *res);
            res->status = STORE_PUT_MESSAGE_ILLEGAL;
            snprintf(res->remark, sizeof res->remark, "half message at %" PRId64 " has no valid REAL_TOPIC/REAL_QID",
                     half_phys);
            return -res->status;
        }
        /* a delayed transactional message starts its delay at commit (its
         * delay was validated when the half message was sent) */
        char why[160];
        if (sched_prepare(t->s, t->b->cfg.timer_max_delay_sec, now_ms(), &recs[1], &t->sched_props, why, sizeof why) ==
            SCHED_ERR)
            log_warn("committed message of half message %" PRId64 " delivered at once: %s", half_offset, why);
        n = 2;
    } else if (op == 'p') {
        bytebuf *p = &t->props2;
        bytebuf_clear(p);
        bytebuf_append(p, half->properties, half->properties_len);
        char v[24];
        snprintf(v, sizeof v, "%d", checks);
        msg_prop_set(p, MSG_PROP_TRANSACTION_CHECK_TIMES, v);
        snprintf(v, sizeof v, "%" PRId64, half_offset);
        msg_prop_set(p, MSG_PROP_TRAN_PREPARED_QUEUE_OFFSET, v);
        recs[1] = *half;
        recs[1].topic = TOPIC_PARKED;
        recs[1].topic_len = (uint32_t)strlen(TOPIC_PARKED);
        recs[1].queue_id = 0;
        recs[1].queue_offset = 0;
        recs[1].physical_offset = 0;
        recs[1].store_timestamp = 0;
        recs[1].sysflag &= ~MSG_SYSFLAG_TX_MASK;
        recs[1].prepared_transaction_offset = half_phys;
        recs[1].properties = (const char *)p->data;
        recs[1].properties_len = (uint32_t)p->len;
        n = 2;
    }
    int64_t phys[2];
    int rc = store_put_batch(t->s, recs, n, res, phys);
    if (rc == 0) {
        t->op_next++;
        if (second_phys)
            *second_phys = phys[n - 1];
        store_wake_dispatcher(t->s);
    }
    return rc;
}

/* ---- rebuild ---- */

typedef struct scan_ctx {
    txn_service *t;
    int64_t op_low;
    u64map redo;               /* half offset -> (void *)(half_phys + 1) */
    int64_t halves, ops;
} scan_ctx;

typedef void (*record_fn)(scan_ctx *x, const store_record_ref *ref, const msg_record *r);

static int scan_queue(scan_ctx *x, const char *topic, int64_t from, int64_t to, record_fn fn)
{
    store_record_ref refs[64];
    for (int64_t next = from; next < to;) {
        store_get_request req = {0};
        req.topic = topic;
        req.queue_id = 0;
        req.offset = next;
        req.max_count = 64;
        req.max_bytes = 4 << 20;
        store_get_result res;
        int rc = store_get_messages(x->t->s, &req, refs, &res);
        if (rc != 0)
            return rc;
        if (res.count == 0) {
            store_pin_release(&res.pin);
            if (res.next_begin_offset <= next)
                break; /* nothing more readable */
            next = res.next_begin_offset;
            continue;
        }
        for (int i = 0; i < res.count; i++) {
            msg_record r;
            if (msg_decode(refs[i].data, refs[i].size, false, &r) != MSG_OK)
                continue;
            fn(x, &refs[i], &r);
        }
        next = res.next_begin_offset > next ? res.next_begin_offset : next + res.count;
        store_pin_release(&res.pin);
    }
    return 0;
}

static void on_half(scan_ctx *x, const store_record_ref *ref, const msg_record *r)
{
    txn_service *t = x->t;
    const char *g;
    size_t gl;
    txn_entry e = {0};
    e.half_offset = ref->queue_offset;
    e.half_phys = ref->physical_offset;
    e.next_check_ms = txn_first_check_ms(t, r);
    e.op_mark = x->op_low;
    e.group = msg_prop_get(r->properties, r->properties_len, MSG_PROP_PGROUP, &g, &gl) ? txn_group_id(t, g, gl)
                                                                                       : txn_group_id(t, "", 0);
    txn_pending_add(&t->pending, &e);
    x->halves++;
}

/* Is the record right after the op record the real message of half_phys? */
static bool real_follows(txn_service *t, const store_record_ref *op, int64_t half_phys)
{
    store_pin pin;
    store_pin_init(&pin);
    msg_record r;
    bool ok = txn_read(t, op->physical_offset + op->size, &r, &pin) == 0 &&
              msg_tx_type(r.sysflag) == MSG_SYSFLAG_TX_COMMIT && r.prepared_transaction_offset == half_phys;
    store_pin_release(&pin);
    return ok;
}

static int64_t parked_copy_follows(txn_service *t, const store_record_ref *op, int64_t half_offset)
{
    store_pin pin;
    store_pin_init(&pin);
    msg_record r;
    int64_t at = op->physical_offset + op->size, found = -1;
    const char *v;
    size_t vl;
    if (txn_read(t, at, &r, &pin) == 0 && r.topic_len == strlen(TOPIC_PARKED) &&
        !memcmp(r.topic, TOPIC_PARKED, r.topic_len) &&
        msg_prop_get(r.properties, r.properties_len, MSG_PROP_TRAN_PREPARED_QUEUE_OFFSET, &v, &vl) && vl < 24) {
        char num[24];
        memcpy(num, v, vl);
        num[vl] = 0;
        int64_t h;
        if (parse_int64(num, 0, INT64_MAX, &h) == 0 && h == half_offset)
            found = at;
    }
    store_pin_release(&pin);
    return found;
}

static void apply_op(scan_ctx *x, const store_record_ref *ref, int64_t op_store_ms, char op, int64_t h)
{
    txn_service *t = x->t;
    txn_entry e;
    bool was_pending = txn_pending_remove(&t->pending, h, &e);
    txn_parked *pk = u64map_get(&t->parked, (uint64_t)h);
    if (op == 'p') {
        if (was_pending && !pk) {
            txn_parked n = {h, e.half_phys, e.half_phys, op_store_ms, e.checks, e.group};
            int64_t copy = parked_copy_follows(t, ref, h);
            if (copy >= 0)
                n.copy_phys = copy;
            txn_parked_save(t, &n);
        }
        return;
    }
    if (op == 'c') {
        int64_t half_phys = was_pending ? e.half_phys : pk ? pk->half_phys : -1;
        if (half_phys < 0) {
            uintptr_t v = (uintptr_t)u64map_get(&x->redo, (uint64_t)h);
            if (!v)
                return; /* resolved before the window */
            half_phys = (int64_t)(v - 1);
            if (real_follows(t, ref, half_phys))
                u64map_remove(&x->redo, (uint64_t)h);
            return;
        }
        if (!real_follows(t, ref, half_phys))
            u64map_put(&x->redo, (uint64_t)h, (void *)(uintptr_t)(half_phys + 1));
        else
            u64map_remove(&x->redo, (uint64_t)h);
    }
    if (pk)
        txn_parked_forget(t, h);
}

static void on_op(scan_ctx *x, const store_record_ref *ref, const msg_record *r)
{
    const char *v;
    size_t vl;
    char op = 'r'; /* an op without TXN_OP (RocketMQ's) just means "resolved" */
    if (msg_prop_get(r->properties, r->properties_len, TXN_PROP_OP, &v, &vl) && vl == 1)
        op = v[0];
    x->ops++;
    /* body: one offset, or RocketMQ 5's comma-separated list */
    const char *p = (const char *)r->body, *end = p + r->body_len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        char num[24];
        size_t n = (size_t)(stop - p);
        int64_t h;
        if (n > 0 && n < sizeof num) {
            memcpy(num, p, n);
            num[n] = 0;
            if (parse_int64(num, 0, INT64_MAX, &h) == 0)
                apply_op(x, ref, r->store_timestamp, op, h);
        }
        p = comma ? comma + 1 : end;
    }
}

/* Half offset of a "c<20 digits>" / "p<20 digits>" key, or -1. */
static int64_t key_offset(const char *key)
{
    int64_t h;
    return strlen(key) == 21 && parse_int64(key + 1, 0, INT64_MAX, &h) == 0 ? h : -1;
}

static int on_count(void *arg, const char *key, const void *val, size_t vlen)
{
    txn_service *t = arg;
    int64_t h = key_offset(key);
    if (h < 0 || vlen != 4)
        return 0;
    txn_entry *e = txn_pending_get(&t->pending, h);
    if (e) {
        e->checks = (uint16_t)be32_load(val);
        if (e->checks > 0 && e->next_check_ms < now_ms()) {
            e->next_check_ms = now_ms();
            txn_pending_reschedule(&t->pending, e);
        }
    } else {
        meta_db_delete(t->meta, TXN_NS, key, false); /* resolved: stale count */
    }
    return 0;
}

static int on_parked(void *arg, const char *key, const void *val, size_t vlen)
{
    txn_service *t = arg;
    int64_t h = key_offset(key);
    if (h < 0 || vlen < 28)
        return 0;
    const uint8_t *v = val;
    txn_parked *pk = xcalloc(1, sizeof *pk);
    pk->half_offset = h;
    pk->half_phys = (int64_t)be64_load(v);
    pk->copy_phys = (int64_t)be64_load(v + 8);
    pk->parked_ms = (int64_t)be64_load(v + 16);
    pk->checks = (int32_t)be32_load(v + 24);
    pk->group = txn_group_id(t, (const char *)v + 28, vlen - 28);
    free(u64map_put(&t->parked, (uint64_t)pk->half_offset, pk));
    txn_pending_remove(&t->pending, pk->half_offset, NULL);
    return 0;
}

int txn_rebuild(txn_service *t, char *err, size_t errlen)
{
    int64_t t0 = mono_ms();
    int64_t half_low = 0, op_low = 0;
    void *val;
    size_t vlen;
    if (meta_db_get(t->meta, TXN_NS, "m", &val, &vlen) == 0) {
        if (vlen == 16) {
            half_low = (int64_t)be64_load(val);
            op_low = (int64_t)be64_load((uint8_t *)val + 8);
        }
        free(val);
    }
    int64_t hmin, hmax, omin, omax;
    store_queue_offsets(t->s, MSG_TOPIC_TRANS_HALF, 0, &hmin, &hmax);
    store_queue_offsets(t->s, MSG_TOPIC_TRANS_OP_HALF, 0, &omin, &omax);
    t->half_next = hmax;
    t->op_next = omax;
    if (half_low < hmin)
        half_low = hmin;
    if (op_low < omin)
        op_low = omin;
    scan_ctx x = {t, op_low, {0}, 0, 0};
    u64map_init(&x.redo);
    int rc = scan_queue(&x, MSG_TOPIC_TRANS_HALF, half_low, hmax, on_half);
    const char *what = "half queue";
    if (rc == 0 && meta_db_scan(t->meta, TXN_NS, "p", on_parked, t) != 0)
        rc = -1, what = "parked set (metadata database)";
    if (rc == 0 && meta_db_scan(t->meta, TXN_NS, "c", on_count, t) != 0)
        rc = -1, what = "check counts (metadata database)";
    if (rc == 0 && (rc = scan_queue(&x, MSG_TOPIC_TRANS_OP_HALF, op_low, omax, on_op)) != 0)
        what = "op queue";
    if (rc != 0) {
        snprintf(err, errlen, "cannot rebuild the transaction index: reading the %s failed (%s)", what,
                 rc == -1 ? "see log" : store_strerror(rc));
        u64map_free(&x.redo);
        return -1;
    }
    /* T2: commits whose real message did not survive */
    size_t it = 0;
    uint64_t h;
    void *v;
    while (u64map_next(&x.redo, &it, &h, &v)) {
        int64_t half_phys = (int64_t)((uintptr_t)v - 1);
        store_pin pin;
        store_pin_init(&pin);
        msg_record half;
        store_put_result res;
        if (txn_read(t, half_phys, &half, &pin) != 0 || txn_apply(t, 'c', (int64_t)h, &half, half_phys, 0, &res, NULL) != 0) {
            log_error("transaction of half message %" PRIu64 " was committed but its message is lost and cannot be "
                      "rewritten (half message unreadable or store refused)", h);
        } else {
            t->st.redone++;
            log_warn("transaction of half message %" PRIu64 " (CommitLog %" PRId64 ") was committed before a crash "
                     "that lost its message: message rewritten", h, half_phys);
        }
        store_pin_release(&pin);
    }
    u64map_free(&x.redo);
    txn_marks_save(t, true);
    log_info("transactions: %zu pending, %zu parked, %" PRIu64 " commits redone; rebuilt from %" PRId64
             " half and %" PRId64 " op records (half queue from %" PRId64 ", op queue from %" PRId64 ") in %" PRId64 " ms",
             txn_pending_count(&t->pending), t->parked.count, t->st.redone, x.halves, x.ops, half_low, op_low,
             mono_ms() - t0);
    return 0;
}
