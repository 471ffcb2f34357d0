/*
 * transaction.c - the transaction service: its life cycle, the state
 * changes of a half message (T1 in transaction.h), operator lookups and
 * listings.
 *
 * State of one half message and who moves it (loop thread, each move right
 * after the CommitLog append that records it):
 *
 *   (send) --txn_half_stored--> PENDING --txn_end commit/rollback--> RESOLVED
 *                                  |  ^ check-back (txn_check.c), count in meta_db "c"
 *                                  v
 *                      PARKED (meta_db "p", after transactionCheckMax checks)
 *                                  |--txn_end (operator or late producer)--> RESOLVED
 *
 * Persistent bookkeeping in the broker's metadata database (meta_db),
 * namespace "txn" (keys: a letter and the half offset in 20 digits):
 *   "m"             half_low (8 bytes BE), op_low (8): the rebuild's scan marks
 *   "c<offset>"     checks sent (4 bytes BE), only once a check was sent
 *   "p<offset>"     parked: half_phys, copy_phys, parked_ms (8 each), checks
 *                   (4), producer group (rest); written with sync
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "meta_db.h"
#include "txn_internal.h"
#include "util.h"

/* ---- small helpers shared by the files of the service ---- */

uint32_t txn_group_id(txn_service *t, const char *name, size_t len)
{
    uintptr_t v = (uintptr_t)strmap_getn(&t->group_ids, name, len);
    if (v)
        return (uint32_t)(v - 1);
    char *copy = xstrndup(name, len);
    t->groups = xrealloc(t->groups, (t->n_groups + 1) * sizeof *t->groups);
    t->groups[t->n_groups] = copy;
    strmap_put(&t->group_ids, copy, (void *)(uintptr_t)(t->n_groups + 1));
    return t->n_groups++;
}

const char *txn_group_name(const txn_service *t, uint32_t id)
{
    return id < t->n_groups ? t->groups[id] : "";
}

int64_t txn_first_check_ms(const txn_service *t, const msg_record *half)
{
    int64_t delay = t->b->cfg.transaction_time_out;
    const char *v;
    size_t vl;
    if (msg_prop_get(half->properties, half->properties_len, MSG_PROP_CHECK_IMMUNITY_TIME, &v, &vl) && vl > 0 &&
        vl < 12) {
        char num[12];
        memcpy(num, v, vl);
        num[vl] = 0;
        int64_t sec;
        if (parse_int64(num, 0, 86400LL * 365, &sec) == 0)
            delay = sec * 1000;
    }
    return half->store_timestamp + delay;
}

void txn_meta_key(char prefix, int64_t half_offset, char key[24])
{
    snprintf(key, 24, "%c%020" PRId64, prefix, half_offset);
}

void txn_parked_save(txn_service *t, const txn_parked *pk)
{
    txn_parked *own = u64map_get(&t->parked, (uint64_t)pk->half_offset);
    if (!own) {
        own = xmalloc(sizeof *own);
        u64map_put(&t->parked, (uint64_t)pk->half_offset, own);
    }
    *own = *pk;
    const char *g = txn_group_name(t, pk->group);
    size_t gl = strlen(g);
    char key[24];
    uint8_t *val = xmalloc(28 + gl);
    txn_meta_key('p', pk->half_offset, key);
    be64_store(val, (uint64_t)pk->half_phys);
    be64_store(val + 8, (uint64_t)pk->copy_phys);
    be64_store(val + 16, (uint64_t)pk->parked_ms);
    be32_store(val + 24, (uint32_t)pk->checks);
    memcpy(val + 28, g, gl);
    if (meta_db_put(t->meta, TXN_NS, key, val, 28 + gl, true) != 0)
        log_error("cannot persist parked transaction %" PRId64 " (metadata database)", pk->half_offset);
    free(val);
    txn_meta_key('c', pk->half_offset, key);
    meta_db_delete(t->meta, TXN_NS, key, false);
}

void txn_parked_forget(txn_service *t, int64_t half_offset)
{
    free(u64map_remove(&t->parked, (uint64_t)half_offset));
    char key[24];
    txn_meta_key('p', half_offset, key);
    if (meta_db_delete(t->meta, TXN_NS, key, true) != 0)
        log_error("cannot forget parked transaction %" PRId64 " (metadata database)", half_offset);
}

/* Rebuild marks (op.c): the lowest pending half offset and the op queue
 * length when it was stored. Parked messages live in meta_db, so they do not
 * hold the marks back. O(pending): at most every 5 s, and at close. */
void txn_marks_save(txn_service *t, bool force)
{
    int64_t now = mono_ms();
    if (!force && now - t->marks_saved_ms < 5000)
        return;
    t->marks_saved_ms = now;
    int64_t half_low = t->half_next, op_low = t->op_next;
    const txn_pending *p = &t->pending;
    for (uint32_t i = 0; i < p->heap_len; i++) {
        const txn_entry *e = &p->pool[p->heap[i]];
        if (e->half_offset < half_low) {
            half_low = e->half_offset;
            op_low = e->op_mark;
        }
    }
    if (half_low == t->marks_half && op_low == t->marks_op)
        return;
    uint8_t v[16];
    be64_store(v, (uint64_t)half_low);
    be64_store(v + 8, (uint64_t)op_low);
    if (meta_db_put(t->meta, TXN_NS, "m", v, sizeof v, false) == 0) {
        t->marks_half = half_low;
        t->marks_op = op_low;
    }
}

/* ---- life cycle ---- */

int txn_open(broker *b, txn_service **out, char *err, size_t errlen)
{
    txn_service *t = xcalloc(1, sizeof *t);
    t->b = b;
    t->s = b->store;
    t->marks_half = t->marks_op = -1;
    t->started_ms = now_ms();
    txn_pending_init(&t->pending);
    u64map_init(&t->parked);
    strmap_init(&t->group_ids);
    bytebuf_init(&t->props);
    bytebuf_init(&t->props2);
    bytebuf_init(&t->sched_props);
    bytebuf_init(&t->rec);
    char ip[80];
    int port = 0;
    char why[64];
    if (addr_split(b->addr, ip, sizeof ip, &port, why, sizeof why) != 0 || msg_host_set(&t->self_host, ip, port) != 0)
        msg_host_set(&t->self_host, "127.0.0.1", b->port);
    t->meta = b->meta;
    if (txn_rebuild(t, err, errlen) != 0) {
        txn_close(t);
        return -1;
    }
    t->ready = true;
    txn_check_start(t);
    *out = t;
    return 0;
}

void txn_close(txn_service *t)
{
    if (!t)
        return;
    txn_check_stop(t);
    if (t->ready) /* never save marks of a half-built index */
        txn_marks_save(t, true);
    size_t it = 0;
    uint64_t k;
    void *v;
    while (u64map_next(&t->parked, &it, &k, &v))
        free(v);
    u64map_free(&t->parked);
    txn_pending_free(&t->pending);
    strmap_free(&t->group_ids);
    for (uint32_t i = 0; i < t->n_groups; i++)
        free(t->groups[i]);
    free(t->groups);
    bytebuf_free(&t->props);
    bytebuf_free(&t->props2);
    bytebuf_free(&t->sched_props);
    bytebuf_free(&t->rec);
    free(t);
}

void txn_get_stats(const txn_service *t, txn_stats *out)
{
    *out = t->st;
    out->pending = txn_pending_count(&t->pending);
    out->parked = t->parked.count;
    out->index_bytes = txn_pending_bytes(&t->pending);
}

/* ---- phase 1 ---- */

void txn_half_stored(txn_service *t, const msg_record *r, const store_put_result *res)
{
    const char *g;
    size_t gl;
    txn_entry e = {0};
    e.half_offset = res->queue_offset;
    e.half_phys = res->physical_offset;
    msg_record stored = *r;
    stored.store_timestamp = res->store_timestamp;
    e.next_check_ms = txn_first_check_ms(t, &stored);
    e.op_mark = t->op_next;
    e.group = msg_prop_get(r->properties, r->properties_len, MSG_PROP_PGROUP, &g, &gl) ? txn_group_id(t, g, gl)
                                                                                       : txn_group_id(t, "", 0);
    txn_pending_add(&t->pending, &e);
    if (res->queue_offset >= t->half_next)
        t->half_next = res->queue_offset + 1;
    t->st.halves++;
}

/* ---- phase 2 ---- */

static bool group_matches(const msg_record *half, const char *group)
{
    const char *v;
    size_t vl;
    if (!group)
        return true;
    return msg_prop_get(half->properties, half->properties_len, MSG_PROP_PGROUP, &v, &vl) && vl == strlen(group) &&
           !memcmp(v, group, vl);
}

void txn_end(txn_service *t, int64_t half_offset, int64_t commit_log_offset, const char *producer_group,
             txn_decision decision, txn_end_result *res)
{
    memset(res, 0, sizeof *res);
    const char *what = decision == TXN_COMMIT ? "commit" : "rollback";
    txn_entry *e = txn_pending_get(&t->pending, half_offset);
    txn_parked *pk = e ? NULL : u64map_get(&t->parked, (uint64_t)half_offset);
    store_pin pin;
    store_pin_init(&pin);
    msg_record half;
    if (!e && !pk) {
        t->st.ignored++;
        if (txn_read(t, commit_log_offset, &half, &pin) == 0 && txn_is_half_record(&half, half_offset)) {
            res->status = TXN_END_ALREADY;
            snprintf(res->remark, sizeof res->remark,
                     "the transaction of half message %" PRId64 " (commitLogOffset %" PRId64
                     ") was already resolved; this %s is ignored", half_offset, commit_log_offset, what);
        } else {
            res->status = TXN_END_UNKNOWN;
            snprintf(res->remark, sizeof res->remark,
                     "no half message at commitLogOffset %" PRId64 " with tranStateTableOffset %" PRId64
                     " (unknown offsets, or expired): %s ignored", commit_log_offset, half_offset, what);
        }
        store_pin_release(&pin);
        return;
    }
    int64_t half_phys = e ? e->half_phys : pk->half_phys;
    if (commit_log_offset != half_phys) {
        res->status = TXN_END_MISMATCH;
        snprintf(res->remark, sizeof res->remark,
                 "commitLogOffset %" PRId64 " does not match the half message at tranStateTableOffset %" PRId64
                 " (stored at %" PRId64 "): %s ignored", commit_log_offset, half_offset, half_phys, what);
        return;
    }
    int rc = txn_read(t, half_phys, &half, &pin);
    if (rc != 0 && pk && pk->copy_phys != half_phys)
        rc = txn_read(t, pk->copy_phys, &half, &pin);
    if (rc != 0) {
        res->status = TXN_END_STORE_ERROR;
        res->store_status = STORE_PUT_UNKNOWN_ERROR;
        snprintf(res->remark, sizeof res->remark, "half message %" PRId64 " cannot be read (%s)", half_offset,
                 store_strerror(rc));
        store_pin_release(&pin);
        return;
    }
    if (!group_matches(&half, producer_group)) {
        res->status = TXN_END_MISMATCH;
        snprintf(res->remark, sizeof res->remark,
                 "producer group %s is not the one of half message %" PRId64 " (its PGROUP differs): %s ignored",
                 producer_group, half_offset, what);
        store_pin_release(&pin);
        return;
    }
    int checks = e ? e->checks : pk->checks;
    store_put_result put;
    rc = txn_apply(t, decision == TXN_COMMIT ? 'c' : 'r', half_offset, &half, half_phys, checks, &put, NULL);
    store_pin_release(&pin);
    if (rc != 0) {
        res->status = TXN_END_STORE_ERROR;
        res->store_status = put.status;
        snprintf(res->remark, sizeof res->remark, "%s of half message %" PRId64 " not written: %s: %s", what,
                 half_offset, store_put_status_name(put.status), put.remark);
        return;
    }
    /* T1: the decision is in the CommitLog; the index follows at once */
    if (e) {
        txn_pending_remove(&t->pending, half_offset, NULL);
        if (checks > 0) {
            char key[24];
            txn_meta_key('c', half_offset, key);
            meta_db_delete(t->meta, TXN_NS, key, false);
        }
    } else {
        txn_parked_forget(t, half_offset);
        log_info("parked transaction %" PRId64 " resolved: %s", half_offset, what);
    }
    if (decision == TXN_COMMIT)
        t->st.committed++;
    else
        t->st.rolled_back++;
    res->status = TXN_END_APPLIED;
    res->store_status = put.status;
    res->end_offset = put.physical_offset + put.wrote_bytes;
}

/* ---- operators ---- */

/* Half offset of a record that is a half message or a parked copy, or -1. */
static int64_t half_offset_of(txn_service *t, const msg_record *r)
{
    size_t n = strlen(MSG_TOPIC_TRANS_HALF);
    if (r->topic_len == n && !memcmp(r->topic, MSG_TOPIC_TRANS_HALF, n))
        return r->queue_offset;
    const char *v;
    size_t vl;
    n = strlen(TOPIC_PARKED);
    if (r->topic_len == n && !memcmp(r->topic, TOPIC_PARKED, n) &&
        msg_prop_get(r->properties, r->properties_len, MSG_PROP_TRAN_PREPARED_QUEUE_OFFSET, &v, &vl) && vl < 24) {
        char num[24];
        memcpy(num, v, vl);
        num[vl] = 0;
        int64_t h;
        if (parse_int64(num, 0, INT64_MAX, &h) == 0)
            return h;
    }
    (void)t;
    return -1;
}

static bool known(txn_service *t, int64_t h, int64_t *half_offset, int64_t *clo)
{
    txn_entry *e = txn_pending_get(&t->pending, h);
    txn_parked *pk = e ? NULL : u64map_get(&t->parked, (uint64_t)h);
    if (!e && !pk)
        return false;
    *half_offset = h;
    *clo = e ? e->half_phys : pk->half_phys;
    return true;
}

int txn_find(txn_service *t, const char *msg_id, int64_t *half_offset, int64_t *commit_log_offset, char *err,
             size_t errlen)
{
    static const char *const topics[] = {MSG_TOPIC_TRANS_HALF, TOPIC_PARKED};
    int64_t phys[8];
    bool seen = false;
    for (size_t k = 0; k < 2; k++) {
        int n = store_query_by_uniq_key(t->s, topics[k], msg_id, phys, 8);
        for (int i = 0; i < n; i++) {
            store_pin pin;
            store_pin_init(&pin);
            msg_record r;
            int64_t h = txn_read(t, phys[i], &r, &pin) == 0 ? half_offset_of(t, &r) : -1;
            store_pin_release(&pin);
            if (h >= 0) {
                seen = true;
                if (known(t, h, half_offset, commit_log_offset))
                    return 0;
            }
        }
    }
    msg_host host;
    int64_t off;
    if (msg_offset_id_decode(msg_id, strlen(msg_id), &host, &off) == 0) {
        store_pin pin;
        store_pin_init(&pin);
        msg_record r;
        int64_t h = txn_read(t, off, &r, &pin) == 0 ? half_offset_of(t, &r) : -1;
        store_pin_release(&pin);
        if (h >= 0) {
            seen = true;
            if (known(t, h, half_offset, commit_log_offset))
                return 0;
        }
    }
    snprintf(err, errlen, seen ? "the transaction of message %s is already resolved"
                               : "no half message with id %s on this broker (give its transaction id / UNIQ_KEY or "
                                 "the offset message id of the half message)", msg_id);
    return -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void copy_prop(const msg_record *r, const char *key, char *out, size_t cap)
{
    const char *v;
    size_t vl;
    out[0] = 0;
    if (msg_prop_get(r->properties, r->properties_len, key, &v, &vl)) {
        if (vl >= cap)
            vl = cap - 1;
        memcpy(out, v, vl);
        out[vl] = 0;
    }
}

size_t txn_list(txn_service *t, bool parked, const char *producer_group, txn_info *out, size_t cap)
{
    uint32_t gid = UINT32_MAX;
    if (producer_group && *producer_group) {
        uintptr_t v = (uintptr_t)strmap_get(&t->group_ids, producer_group);
        if (!v)
            return 0;
        gid = (uint32_t)(v - 1);
    }
    size_t n = 0, have = 64;
    int64_t *offs = xmalloc(have * sizeof *offs);
    if (parked) {
        size_t it = 0;
        uint64_t k;
        void *v;
        while (u64map_next(&t->parked, &it, &k, &v)) {
            const txn_parked *pk = v;
            if (gid != UINT32_MAX && pk->group != gid)
                continue;
            if (n == have)
                offs = xrealloc(offs, (have *= 2) * sizeof *offs);
            offs[n++] = pk->half_offset;
        }
    } else {
        const txn_pending *p = &t->pending;
        for (uint32_t i = 0; i < p->heap_len; i++) {
            const txn_entry *e = &p->pool[p->heap[i]];
            if (gid != UINT32_MAX && e->group != gid)
                continue;
            if (n == have)
                offs = xrealloc(offs, (have *= 2) * sizeof *offs);
            offs[n++] = e->half_offset;
        }
    }
    qsort(offs, n, sizeof *offs, cmp_i64);
    for (size_t i = 0; i < n && i < cap; i++) {
        txn_info *o = &out[i];
        memset(o, 0, sizeof *o);
        o->half_offset = offs[i];
        int64_t read_at;
        uint32_t group;
        if (parked) {
            const txn_parked *pk = u64map_get(&t->parked, (uint64_t)offs[i]);
            o->parked = true;
            o->commit_log_offset = pk->half_phys;
            o->parked_ms = pk->parked_ms;
            o->checks = pk->checks;
            group = pk->group;
            read_at = pk->half_phys;
        } else {
            const txn_entry *e = txn_pending_get(&t->pending, offs[i]);
            o->commit_log_offset = e->half_phys;
            o->next_check_ms = e->next_check_ms;
            o->checks = e->checks;
            group = e->group;
            read_at = e->half_phys;
        }
        str_copy(o->producer_group, sizeof o->producer_group, txn_group_name(t, group));
        store_pin pin;
        store_pin_init(&pin);
        msg_record r;
        int rc = txn_read(t, read_at, &r, &pin);
        if (rc != 0 && parked) {
            const txn_parked *pk = u64map_get(&t->parked, (uint64_t)offs[i]);
            rc = txn_read(t, pk->copy_phys, &r, &pin);
        }
        if (rc == 0) {
            o->store_ms = r.store_timestamp;
            copy_prop(&r, MSG_PROP_UNIQ_KEY, o->msg_id, sizeof o->msg_id);
            copy_prop(&r, MSG_PROP_REAL_TOPIC, o->topic, sizeof o->topic);
            copy_prop(&r, MSG_PROP_KEYS, o->keys, sizeof o->keys);
            copy_prop(&r, MSG_PROP_TAGS, o->tags, sizeof o->tags);
            char q[16];
            copy_prop(&r, MSG_PROP_REAL_QID, q, sizeof q);
            o->queue_id = atoi(q);
            msg_offset_id_encode(&r.store_host, o->commit_log_offset, o->offset_msg_id, sizeof o->offset_msg_id);
        } else {
            str_copy(o->topic, sizeof o->topic, "(record expired)");
        }
        store_pin_release(&pin);
    }
    free(offs);
    return n;
}
