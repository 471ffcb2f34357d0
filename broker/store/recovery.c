/*
 * recovery.c - start-up recovery, run once by store_open before any service
 * thread exists.
 *
 * 1. Redo point. After a clean stop (no abort file, checkpoint flagged CLEAN)
 *    it is the exact log end written by store_close: nothing to verify or
 *    redo. After a crash it is the lower of the checkpoint's ConsumeQueue
 *    offset and the index's dispatch marker: everything below it is durable
 *    in ConsumeQueues and RocksDB.
 * 2. CommitLog walk from the redo point: every record is checked (magic,
 *    lengths, body CRC, PHYSICALOFFSET == position) and re-dispatched (CQ
 *    entry + index entries, idempotent: positions come from the record); the
 *    first invalid record ends the log, the torn tail is zeroed and later
 *    segments removed.
 * 3. ConsumeQueue entries pointing at or past the end are dropped.
 * 4. Queues that are damaged (gaps, wrong sizes, last entry not matching its
 *    record) or registered in the index but missing on disk are rebuilt from
 *    the whole CommitLog.
 * 5. Every queue's min offset is moved to its first entry still in the
 *    CommitLog, and the put path's queue-offset table is rebuilt from the
 *    queues' max offsets.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "index.h"
#include "log.h"
#include "recovery.h"
#include "util.h"

#define REDO_COMMIT_EVERY 4096

typedef struct redo_ctx {
    const recovery_parts *p;
    int64_t records;
} redo_ctx;

static int redo_record(void *arg, const msg_record *r)
{
    redo_ctx *x = arg;
    if (x->records > 0 && x->records % REDO_COMMIT_EVERY == 0)
        dispatcher_commit(x->p->disp, r->physical_offset);
    x->records++;
    return dispatcher_record(x->p->disp, r);
}

/* Does the queue's last entry point at a record of this very queue? */
static bool last_entry_matches(commitlog *cl, consume_queue *q)
{
    int64_t max = cq_max(q), min = cq_min(q);
    if (max <= min)
        return true;
    cq_entry e;
    if (cq_read(q, max - 1, &e) != 0)
        return false;
    if (e.size == CQ_BLANK_SIZE)
        return true;
    if (e.phys < cl_min_offset(cl))
        return true; /* its records were cleaned: nothing to compare with */
    mapped_file *f = cl_acquire(cl, e.phys);
    if (!f)
        return false;
    int64_t rel = e.phys - f->start;
    msg_record r;
    int rc = cl_check_record(f->base + rel, f->size - rel, e.phys, false, &r);
    bool ok = rc > 0 && rc == e.size && r.queue_id == q->qid && r.queue_offset == max - 1 &&
              r.topic_len == q->topic_len && memcmp(r.topic, q->topic, q->topic_len) == 0;
    mf_unref(f);
    return ok;
}

typedef struct rebuild_ctx {
    const recovery_parts *p;
    strmap queues; /* "topic-qid" -> consume_queue * */
    int64_t entries;
} rebuild_ctx;

static size_t qkey(char *buf, const char *topic, size_t tlen, int32_t qid)
{
    memcpy(buf, topic, tlen);
    return tlen + (size_t)sprintf(buf + tlen, "-%d", (int)qid);
}

static int rebuild_record(void *arg, const msg_record *r)
{
    rebuild_ctx *x = arg;
    int32_t tx = msg_tx_type(r->sysflag);
    if (tx == MSG_SYSFLAG_TX_PREPARED || tx == MSG_SYSFLAG_TX_ROLLBACK)
        return 0;
    char key[300];
    if (r->topic_len > STORE_TOPIC_MAX)
        return 0;
    size_t kl = qkey(key, r->topic, r->topic_len, r->queue_id);
    consume_queue *q = strmap_getn(&x->queues, key, kl);
    if (!q)
        return 0;
    const char *tags = NULL, *delay = NULL;
    size_t tl = 0, dl = 0;
    msg_prop_get(r->properties, r->properties_len, MSG_PROP_TAGS, &tags, &tl);
    msg_prop_get(r->properties, r->properties_len, MSG_PROP_DELAY, &delay, &dl);
    int64_t tag = cq_sink_tag_code(x->p->cqsink, r, tags, tl, delay, dl);
    x->entries++;
    return cq_put(q, r->queue_offset, r->physical_offset, (int32_t)r->total_size, tag);
}

static void rebuild_add(rebuild_ctx *x, consume_queue *q)
{
    char key[300];
    size_t kl = qkey(key, q->topic, q->topic_len, q->qid);
    key[kl] = '\0';
    if (strmap_get(&x->queues, key))
        return;
    cq_ref(q);
    cq_reset(q);
    strmap_put(&x->queues, key, q);
}

static void registered_queue(void *arg, const char *topic, size_t tlen, int32_t qid)
{
    rebuild_ctx *x = arg;
    if (tlen == 0 || tlen > STORE_TOPIC_MAX)
        return;
    char key[300];
    size_t kl = qkey(key, topic, tlen, qid);
    if (strmap_getn(&x->queues, key, kl))
        return; /* already being rebuilt */
    consume_queue *q = cq_get(x->p->cqs, topic, tlen, qid);
    if (q && (q->nfiles > 0 || q->started)) {
        cq_unref(q);
        return;
    }
    if (!q) {
        bool created;
        q = cq_get_or_create(x->p->cqs, topic, tlen, qid, &created);
    }
    log_warn("ConsumeQueue %s is missing; rebuilding it from the CommitLog", q->dir);
    rebuild_add(x, q);
    cq_unref(q);
}

int store_recover(const recovery_parts *p, const ckpt_data *ck, int64_t *end_out, char *err,
                  size_t errlen)
{
    commitlog *cl = p->cl;
    int64_t first = cl->nsegs ? cl->segs[0]->start : 0;
    int64_t from;
    int64_t cq_durable = 0, index_durable = 0; /* known durable below these */
    bool fresh = cl->nsegs == 0;
    bool clean = !p->crashed && ck && (ck->flags & CKPT_FLAG_CLEAN) && ck->cl_end >= first;
    if (fresh) {
        from = 0;
        clean = true;
    } else if (clean) {
        from = ck->cl_end;
    } else {
        int64_t marker;
        /* Below the redo point the ConsumeQueues, the index and the
         * CommitLog itself must all be durable. */
        from = ck ? MQ_MIN(ck->cq_offset, ck->flushed_offset) : first;
        cq_durable = ck ? ck->cq_offset : 0;
        if (idx_load_marker(p->kv, &marker) == 0) {
            index_durable = marker;
            if (marker < from)
                from = marker;
        } else {
            from = first;
        }
        if (from < first)
            from = first;
        if (from > p->limit)
            from = p->limit;
        log_warn("store %s was not shut down cleanly: verifying the CommitLog from offset %lld",
                 p->root, (long long)from);
    }
    int64_t t0 = mono_ms();
    dispatcher_seek(p->disp, from);
    /* Records between the redo point and these offsets only need verifying:
     * their queue / index entries survived (typical under ASYNC_FLUSH, where
     * the CommitLog flush lags the dispatcher). */
    p->cqsink->redo_below = cq_durable;
    p->idx->redo_below = index_durable;
    redo_ctx rx = {p, 0};
    int64_t end;
    int rc = cl_recover(cl, from, p->limit, redo_record, &rx, &end, err, errlen);
    if (rc < 0)
        return rc;
    p->disp->pos = end;
    p->cqsink->redo_below = p->idx->redo_below = 0;
    dispatcher_commit(p->disp, end);
    int64_t t1 = mono_ms();
    /* Make the recovered range durable: it may have been in the page cache
     * of the crashed process only. Clean pages cost nothing to msync. */
    if (!clean && end > from)
        cl_flush(cl, from, end);
    if (!clean)
        log_warn("CommitLog recovered: end %lld, %lld records (%lld MB) verified and "
                 "re-dispatched in %lld ms, flushed in %lld ms",
                 (long long)end, (long long)rx.records, (long long)((end - from) >> 20),
                 (long long)(t1 - t0), (long long)(mono_ms() - t1));

    size_t n;
    consume_queue **qs = cq_snapshot(p->cqs, NULL, &n);
    rebuild_ctx bx = {.p = p};
    strmap_init(&bx.queues);
    for (size_t i = 0; i < n; i++) {
        consume_queue *q = qs[i];
        int32_t max_record = p->max_message_size + 64 * 1024 + 2 * STORE_TOPIC_MAX;
        if (q->damaged || cq_truncate_phys(q, end, max_record) < 0 ||
            !last_entry_matches(cl, q)) {
            log_warn("ConsumeQueue %s does not match the CommitLog; rebuilding it", q->dir);
            rebuild_add(&bx, q);
        }
    }
    cq_snapshot_free(qs, n);
    idx_foreach_queue(p->kv, registered_queue, &bx);
    if (bx.queues.count > 0) {
        int64_t t1 = mono_ms();
        cl_scan(cl, cl_min_offset(cl), end, rebuild_record, &bx);
        log_info("rebuilt %zu ConsumeQueues (%lld entries) in %lld ms", bx.queues.count,
                 (long long)bx.entries, (long long)(mono_ms() - t1));
    }
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&bx.queues, &it, &k, &v))
        cq_unref(v);
    strmap_free(&bx.queues);

    qs = cq_snapshot(p->cqs, NULL, &n);
    int64_t min = cl_min_offset(cl);
    for (size_t i = 0; i < n; i++) {
        consume_queue *q = qs[i];
        cq_clean_below(q, min);
        /* Entries re-written by the redo must be flushed again. */
        int64_t redo_from = cq_lower_bound_phys(q, from) * CQ_UNIT;
        if (q->flushed > redo_from)
            q->flushed = redo_from;
        cl_queue_set(cl, q->topic, q->topic_len, q->qid, cq_max(q));
    }
    cq_snapshot_free(qs, n);
    *end_out = end;
    return 0;
}
