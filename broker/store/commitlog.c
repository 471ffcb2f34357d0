/*
 * commitlog.c - see commitlog.h.
 *
 * The put path: everything that can be done without the lock (validation,
 * body CRC, record size) is done by the caller; under put_lock we pick the
 * position, assign queue offsets and the store timestamp, encode each
 * record into the staging buffer and write the batch with pwrite (see
 * stage_write), or, for a deferred put, leave it staged behind the deferred
 * puts before it until cl_write_staged (or a put that is not deferred, a
 * roll-over, or a staging buffer past CL_STAGE_MIN) writes them all in one
 * pwrite. max_offset is published once the bytes are written, so readers
 * and the dispatcher never see a partial record or a partial batch.
 * No disk I/O happens under the lock in the common case: the next segment
 * was created by store-alloc in advance.
 */
#define _GNU_SOURCE
#include "commitlog.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "log.h"
#include "util.h"

#define PAGE 4096

int cl_init(commitlog *cl, const char *dir, int64_t seg_size, const store_io_hooks *hooks,
            const msg_host *store_host)
{
    memset(cl, 0, sizeof *cl);
    snprintf(cl->dir, sizeof cl->dir, "%s", dir);
    cl->seg_size = seg_size;
    cl->hooks = hooks;
    cl->store_host = *store_host;
    pthread_rwlock_init(&cl->segs_lock, NULL);
    pthread_mutex_init(&cl->put_lock, NULL);
    pthread_mutex_init(&cl->alloc_lock, NULL);
    pthread_cond_init(&cl->alloc_cond, NULL);
    strmap_init(&cl->queues);
    cl->alloc_want = -1;
    cl->staged_from = -1;
    cl->recent_from = -1;
    atomic_init(&cl->max_offset, 0);
    atomic_init(&cl->min_offset, 0);
    atomic_init(&cl->refuse, 0);
    return mf_mkdirs(cl->dir);
}

static void segs_append(commitlog *cl, mapped_file *f)
{
    if (cl->nsegs == cl->segs_cap) {
        cl->segs_cap = cl->segs_cap ? cl->segs_cap * 2 : 16;
        cl->segs = xrealloc(cl->segs, cl->segs_cap * sizeof *cl->segs);
    }
    cl->segs[cl->nsegs++] = f;
}

int cl_load(commitlog *cl, char *err, size_t errlen)
{
    int64_t *starts;
    ssize_t listed = mf_list_dir(cl->dir, &starts);
    if (listed < 0) {
        snprintf(err, errlen, "cannot open %s: %s", cl->dir, strerror(errno));
        return STORE_ERR_IO;
    }
    size_t n = (size_t)listed;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (starts[i] % cl->seg_size != 0 || (i > 0 && starts[i] != starts[i - 1] + cl->seg_size)) {
            snprintf(err, errlen,
                     "CommitLog segment %020lld does not follow %020lld with size %lld "
                     "(missing file, or mapedFileSizeCommitLog changed?)",
                     (long long)starts[i], i ? (long long)starts[i - 1] : -1LL,
                     (long long)cl->seg_size);
            rc = STORE_ERR_CORRUPT;
            break;
        }
        mapped_file *f;
        int r = mf_open(cl->dir, starts[i], cl->seg_size, cl->hooks, &f);
        if (r == -EINVAL && i == n - 1) {
            /* An empty last segment is a creation cut short by a crash
             * (creation reserves the full size before anything is written). */
            char path[700];
            struct stat st;
            mf_path(path, sizeof path, cl->dir, starts[i]);
            if (stat(path, &st) == 0 && st.st_size == 0) {
                log_warn("removing incomplete CommitLog segment %s", path);
                unlink(path);
                break;
            }
        }
        if (r < 0) {
            snprintf(err, errlen, "cannot map CommitLog segment %020lld: %s%s",
                     (long long)starts[i], strerror(-r),
                     r == -EINVAL ? " (size differs from mapedFileSizeCommitLog)" : "");
            rc = r == -EINVAL ? STORE_ERR_CORRUPT : STORE_ERR_IO;
            break;
        }
        segs_append(cl, f);
    }
    free(starts);
    if (cl->nsegs)
        atomic_store(&cl->min_offset, cl->segs[0]->start);
    return rc;
}

int cl_check_record(const uint8_t *p, int64_t avail, int64_t pos, bool verify_crc,
                    msg_record *out)
{
    if (avail < MSG_BLANK_LEN)
        return CL_REC_INVALID;
    uint32_t size = be32_load(p);
    uint32_t magic = be32_load(p + 4);
    if (magic == MSG_MAGIC_BLANK)
        return (int64_t)size == avail ? CL_REC_BLANK : CL_REC_INVALID;
    if (size == 0)
        return CL_REC_END;
    if (magic != MSG_MAGIC_V1 && magic != MSG_MAGIC_V2)
        return CL_REC_INVALID;
    if ((int64_t)size > avail)
        return CL_REC_INVALID;
    if (msg_decode(p, size, verify_crc, out) != MSG_OK)
        return CL_REC_INVALID;
    if (out->physical_offset != pos)
        return CL_REC_INVALID;
    return (int)size;
}

/* Index of the segment containing pos (segs_lock held or single-threaded). */
static size_t seg_index(commitlog *cl, int64_t pos)
{
    return (size_t)((pos - cl->segs[0]->start) / cl->seg_size);
}

/* Walks from pos while records are valid; returns the end. */
static int64_t walk(commitlog *cl, int64_t pos, int64_t limit, cl_record_cb cb, void *arg,
                    bool *stopped)
{
    *stopped = false;
    if (cl->nsegs == 0)
        return pos;
    size_t idx = seg_index(cl, pos);
    while (idx < cl->nsegs && pos < limit) {
        mapped_file *f = cl->segs[idx];
        int64_t rel = pos - f->start;
        if (rel >= cl->seg_size) {
            idx++;
            continue;
        }
        msg_record r;
        int rc = cl_check_record(f->base + rel, cl->seg_size - rel, pos, true, &r);
        if (rc == CL_REC_BLANK) {
            if (f->start + cl->seg_size > limit)
                break;
            pos = f->start + cl->seg_size;
            idx++;
            continue;
        }
        if (rc <= 0)
            break;
        if (pos + rc > limit)
            break;
        if (cb && cb(arg, &r) != 0) {
            *stopped = true;
            break;
        }
        pos += rc;
    }
    return pos;
}

int cl_scan(commitlog *cl, int64_t from, int64_t to, cl_record_cb cb, void *arg)
{
    if (cl->nsegs == 0 || from >= to)
        return 0;
    if (from < cl->segs[0]->start)
        from = cl->segs[0]->start;
    bool stopped;
    walk(cl, from, to, cb, arg, &stopped);
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int cl_recover(commitlog *cl, int64_t from, int64_t limit, cl_record_cb cb, void *arg, int64_t *end_out,
               char *err, size_t errlen)
{
    int64_t end;
    if (cl->nsegs == 0) {
        end = 0;
    } else {
        int64_t first = cl->segs[0]->start;
        int64_t last_end = cl->segs[cl->nsegs - 1]->start + cl->seg_size;
        if (from < first || from > last_end) {
            if (from > last_end)
                log_warn("checkpoint offset %lld is past the CommitLog end %lld; scanning "
                         "the whole log", (long long)from, (long long)last_end);
            from = first;
        }
        bool stopped;
        end = walk(cl, from, limit, cb, arg, &stopped);
        if (end == from && from > first && from < last_end) {
            /* Nothing valid at the checkpoint offset. If bytes are there,
             * the offset is not a record boundary we can trust: re-walk the
             * segment from its start (always a boundary). */
            mapped_file *f = cl->segs[seg_index(cl, from)];
            int64_t rel = from - f->start;
            size_t probe = (size_t)MQ_MIN(cl->seg_size - rel, 64);
            if (!all_zero(f->base + rel, probe)) {
                log_error("no valid record at checkpoint offset %lld; re-walking its segment",
                          (long long)from);
                end = walk(cl, f->start, limit, cb, arg, &stopped);
            }
        }
        if (stopped) {
            snprintf(err, errlen, "recovery callback failed at CommitLog offset %lld",
                     (long long)end);
            return STORE_ERR_IO;
        }
    }
    /* Cut everything after end: zero the tail of its segment, drop later ones. */
    size_t keep = 0;
    if (cl->nsegs) {
        keep = seg_index(cl, end) + 1; /* segments [0, keep) stay */
        if (keep > cl->nsegs) /* end is exactly the end of the last segment */
            keep = cl->nsegs;
        mapped_file *last = cl->segs[keep - 1];
        if (end < last->start + cl->seg_size) {
            int rc = mf_zero_tail(last, end - last->start);
            if (rc < 0) {
                snprintf(err, errlen, "cannot truncate %s at %lld: %s", last->path,
                         (long long)(end - last->start), strerror(-rc));
                return STORE_ERR_IO;
            }
        }
        for (size_t i = keep; i < cl->nsegs; i++) {
            if (be32_load(cl->segs[i]->base) == 0)
                log_info("removing unused CommitLog segment %s", cl->segs[i]->path);
            else
                log_warn("removing CommitLog segment %s past the recovered end %lld",
                         cl->segs[i]->path, (long long)end);
            mf_remove(cl->segs[i]);
            mf_unref(cl->segs[i]);
        }
        cl->nsegs = keep;
    }
    /* The current segment is the one containing end; create it if end is
     * exactly the end of the last segment (or the log is empty). */
    if (cl->nsegs && end < cl->segs[cl->nsegs - 1]->start + cl->seg_size) {
        cl->cur = cl->segs[cl->nsegs - 1];
    } else {
        mapped_file *f;
        int rc = mf_create(cl->dir, end, cl->seg_size, cl->hooks, &f);
        if (rc < 0) {
            snprintf(err, errlen, "cannot create CommitLog segment at %lld: %s",
                     (long long)end, strerror(-rc));
            return STORE_ERR_IO;
        }
        segs_append(cl, f);
        cl->cur = f;
    }
    cl->write_pos = end;
    atomic_store(&cl->max_offset, end);
    atomic_store(&cl->min_offset, cl->segs[0]->start);
    *end_out = end;
    return 0;
}

/* ---- store-alloc ---------------------------------------------------------- */

static void *alloc_main(void *arg)
{
    commitlog *cl = arg;
    log_set_thread_name("store-alloc");
    pthread_mutex_lock(&cl->alloc_lock);
    while (!cl->alloc_stop) {
        int64_t want = cl->alloc_want;
        if (want >= 0 && !(cl->alloc_ready && cl->alloc_ready->start == want)) {
            pthread_mutex_unlock(&cl->alloc_lock);
            mapped_file *f = NULL;
            int rc = mf_create(cl->dir, want, cl->seg_size, cl->hooks, &f);
            pthread_mutex_lock(&cl->alloc_lock);
            if (rc == 0 && cl->alloc_want == want && !cl->alloc_ready) {
                cl->alloc_ready = f;
            } else if (rc == 0) {
                mf_remove(f);
                mf_unref(f);
            } else if (cl->alloc_want == want) {
                cl->alloc_want = -1; /* the putter will try itself and report */
            }
            pthread_cond_broadcast(&cl->alloc_cond);
            continue;
        }
        pthread_cond_wait(&cl->alloc_cond, &cl->alloc_lock);
    }
    pthread_mutex_unlock(&cl->alloc_lock);
    return NULL;
}

int cl_start(commitlog *cl)
{
    pthread_mutex_lock(&cl->alloc_lock);
    cl->alloc_stop = false;
    if (cl->cur)
        cl->alloc_want = cl->cur->start + cl->seg_size;
    pthread_mutex_unlock(&cl->alloc_lock);
    if (pthread_create(&cl->alloc_thread, NULL, alloc_main, cl) != 0)
        return STORE_ERR_IO;
    cl->alloc_running = true;
    return 0;
}

void cl_stop(commitlog *cl)
{
    if (cl->alloc_running) {
        pthread_mutex_lock(&cl->alloc_lock);
        cl->alloc_stop = true;
        pthread_cond_broadcast(&cl->alloc_cond);
        pthread_mutex_unlock(&cl->alloc_lock);
        pthread_join(cl->alloc_thread, NULL);
        cl->alloc_running = false;
    }
    if (cl->alloc_ready) { /* never used: do not leave an empty segment */
        mf_remove(cl->alloc_ready);
        mf_unref(cl->alloc_ready);
        cl->alloc_ready = NULL;
    }
}

void cl_destroy(commitlog *cl)
{
    for (size_t i = 0; i < cl->nsegs; i++)
        mf_unref(cl->segs[i]);
    free(cl->segs);
    cl->segs = NULL;
    free(cl->stage);
    cl->stage = NULL;
    cl->nsegs = 0;
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&cl->queues, &it, &k, &v))
        free(v);
    strmap_free(&cl->queues);
    pthread_rwlock_destroy(&cl->segs_lock);
    pthread_mutex_destroy(&cl->put_lock);
    pthread_mutex_destroy(&cl->alloc_lock);
    pthread_cond_destroy(&cl->alloc_cond);
}

/* Takes the segment starting at start from store-alloc (waiting if it is
 * being created) or creates it here. put_lock held. */
static int take_segment(commitlog *cl, int64_t start, mapped_file **out)
{
    mapped_file *f = NULL;
    int rc = 0;
    pthread_mutex_lock(&cl->alloc_lock);
    for (;;) {
        if (cl->alloc_ready && cl->alloc_ready->start == start) {
            f = cl->alloc_ready;
            cl->alloc_ready = NULL;
            break;
        }
        if (cl->alloc_ready) { /* stale: prepared for another position */
            mf_remove(cl->alloc_ready);
            mf_unref(cl->alloc_ready);
            cl->alloc_ready = NULL;
        }
        if (cl->alloc_running && !cl->alloc_stop && cl->alloc_want == start) {
            pthread_cond_wait(&cl->alloc_cond, &cl->alloc_lock);
            continue;
        }
        pthread_mutex_unlock(&cl->alloc_lock);
        log_warn_limited("CommitLog segment %lld not prepared in advance; creating it in the put path",
                 (long long)start);
        rc = mf_create(cl->dir, start, cl->seg_size, cl->hooks, &f);
        pthread_mutex_lock(&cl->alloc_lock);
        break;
    }
    if (rc == 0) {
        cl->alloc_want = start + cl->seg_size;
        pthread_cond_broadcast(&cl->alloc_cond);
    }
    pthread_mutex_unlock(&cl->alloc_lock);
    *out = f;
    return rc;
}

static bool write_staged_and_publish(commitlog *cl);

/* Closes the current segment with a blank marker and moves to the next.
 * put_lock held. */
static int roll(commitlog *cl)
{
    write_staged_and_publish(cl); /* staged bytes precede the blank */
    if (cl->cur) {
        int64_t rel = cl->write_pos - cl->cur->start;
        int64_t remaining = cl->seg_size - rel;
        if (remaining > 0)
            msg_encode_blank(cl->cur->base + rel, (uint32_t)remaining);
        cl->write_pos = cl->cur->start + cl->seg_size;
        cl->cur = NULL;
    }
    mapped_file *f;
    int rc = take_segment(cl, cl->write_pos, &f);
    if (rc < 0)
        return rc;
    pthread_rwlock_wrlock(&cl->segs_lock);
    segs_append(cl, f);
    pthread_rwlock_unlock(&cl->segs_lock);
    cl->cur = f;
    return 0;
}

static size_t queue_key(char *buf, const char *topic, size_t tlen, int32_t qid)
{
    memcpy(buf, topic, tlen);
    int n = sprintf(buf + tlen, "-%d", (int)qid);
    return tlen + (size_t)n;
}

static int64_t *queue_slot(commitlog *cl, const char *topic, size_t tlen, int32_t qid)
{
    char key[300];
    size_t klen = queue_key(key, topic, tlen, qid);
    int64_t *slot = strmap_getn(&cl->queues, key, klen);
    if (!slot) {
        slot = xcalloc(1, sizeof *slot);
        strmap_put(&cl->queues, key, slot);
    }
    return slot;
}

void cl_queue_set(commitlog *cl, const char *topic, size_t tlen, int32_t qid, int64_t next)
{
    pthread_mutex_lock(&cl->put_lock);
    int64_t *slot = queue_slot(cl, topic, tlen, qid);
    if (next > *slot)
        *slot = next;
    pthread_mutex_unlock(&cl->put_lock);
}

void cl_queue_remove_topic(commitlog *cl, const char *topic)
{
    size_t tlen = strlen(topic);
    pthread_mutex_lock(&cl->put_lock);
    const char **doomed = NULL;
    size_t n = 0, cap = 0;
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&cl->queues, &it, &k, &v)) {
        const char *dash = strrchr(k, '-');
        if (dash && (size_t)(dash - k) == tlen && memcmp(k, topic, tlen) == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                doomed = xrealloc(doomed, cap * sizeof *doomed);
            }
            doomed[n++] = k;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char key[300];
        str_copy(key, sizeof key, doomed[i]);
        free(strmap_remove(&cl->queues, key));
    }
    free(doomed);
    pthread_mutex_unlock(&cl->put_lock);
}


/* Writes an encoded batch into its segment: the page cache takes the bytes
 * as Redis's AOF does, a folio at a time as the log grows, with no pages
 * mapped (and zeroed) ahead of the writer. A write that crosses a page can
 * be cut at a page boundary by a fatal signal (kill -9), so such a batch is
 * written in two steps: everything after the first record's TOTALSIZE,
 * then that size. A torn batch therefore leaves a zero size where it
 * starts and recovery ends the log there, as it did when records were
 * stored through the mapping with TOTALSIZE last. put_lock held. */
static void stage_write(mapped_file *seg, const uint8_t *src, size_t len, int64_t rel)
{
    if (((size_t)rel & (PAGE - 1)) + len <= PAGE) {
        mf_write(seg, src, len, rel);
        return;
    }
    mf_write(seg, src + 4, len - 4, rel + 4);
    mf_write(seg, src, 4, rel);
}

/* Writes [staged_from, write_pos) from the staging buffer and publishes
 * max_offset. Returns whether anything was written. put_lock held. */
static bool write_staged_and_publish(commitlog *cl)
{
    if (cl->staged_from < 0)
        return false;
    size_t len = (size_t)(cl->write_pos - cl->staged_from);
    stage_write(cl->cur, cl->stage, len, cl->staged_from - cl->cur->start);
    cl->recent_from = cl->staged_from;
    cl->recent_to = cl->write_pos;
    cl->staged_from = -1;
    /* D1: max_offset is published once, after every record staged is
     * written (so no reader sees part of a batch); it only grows.
     * seq_cst: pairs with the dispatcher's "sleeping" flag (see dispatch.c). */
    assert(cl->write_pos > atomic_load_explicit(&cl->max_offset, memory_order_relaxed));
    atomic_store(&cl->max_offset, cl->write_pos);
    return true;
}

bool cl_copy_recent(commitlog *cl, int64_t pos, uint8_t *dst, size_t len)
{
    pthread_mutex_lock(&cl->put_lock);
    bool ok = cl->recent_from >= 0 && pos >= cl->recent_from && pos + (int64_t)len <= cl->recent_to;
    if (ok)
        memcpy(dst, cl->stage + (pos - cl->recent_from), len);
    pthread_mutex_unlock(&cl->put_lock);
    return ok;
}

void cl_write_staged(commitlog *cl)
{
    pthread_mutex_lock(&cl->put_lock);
    bool wrote = write_staged_and_publish(cl);
    pthread_mutex_unlock(&cl->put_lock);
    if (wrote && cl->on_append)
        cl->on_append(cl->on_append_arg);
}

store_put_status cl_put(commitlog *cl, const msg_record *msgs, const cl_item *items, size_t n,
                        int64_t total, store_put_result *res, int64_t *phys_offsets, bool defer)
{
    pthread_mutex_lock(&cl->put_lock);
    int refuse = atomic_load_explicit(&cl->refuse, memory_order_relaxed);
    if (refuse) {
        pthread_mutex_unlock(&cl->put_lock);
        return (refuse & CL_REFUSE_CLOSED)      ? STORE_PUT_SERVICE_NOT_AVAILABLE
               : (refuse & CL_REFUSE_IO_ERROR) ? STORE_PUT_IO_ERROR
                                               : STORE_PUT_DISK_FULL;
    }
    if (!cl->cur || cl->seg_size - (cl->write_pos - cl->cur->start) < total + MSG_BLANK_LEN) {
        if (roll(cl) < 0) {
            pthread_mutex_unlock(&cl->put_lock);
            return STORE_PUT_CREATE_MAPPED_FILE_FAILED;
        }
    }
    int64_t start = cl->write_pos;
    bool wrote = false;
    if (cl->staged_from >= 0 && (size_t)(start - cl->staged_from) + (size_t)total > CL_STAGE_MIN)
        wrote = write_staged_and_publish(cl); /* deferral keeps the buffer at its first size */
    if (cl->staged_from < 0) {
        cl->staged_from = start;
        cl->recent_from = -1; /* the stage is about to be overwritten */
    }
    size_t kept = (size_t)(start - cl->staged_from); /* staged by deferred puts before */
    if (cl->stage_cap < kept + (size_t)total) { /* once, or for more than ever before */
        cl->stage_cap = MQ_MAX(kept + (size_t)total, (size_t)CL_STAGE_MIN);
        cl->stage = xrealloc(cl->stage, cl->stage_cap);
    }
    uint8_t *stage = cl->stage + kept;
    int64_t now = now_ms();
    int64_t *slot = NULL;
    const char *slot_topic = NULL;
    uint32_t slot_tlen = 0;
    int32_t slot_qid = -1;
    for (size_t i = 0; i < n; i++) {
        msg_record r = msgs[i];
        int32_t tx = msg_tx_type(r.sysflag);
        bool counted = tx != MSG_SYSFLAG_TX_PREPARED && tx != MSG_SYSFLAG_TX_ROLLBACK;
        if (counted) {
            if (!slot || r.queue_id != slot_qid || r.topic_len != slot_tlen ||
                (r.topic != slot_topic && memcmp(r.topic, slot_topic, r.topic_len) != 0)) {
                slot = queue_slot(cl, r.topic, r.topic_len, r.queue_id);
                slot_topic = r.topic;
                slot_tlen = r.topic_len;
                slot_qid = r.queue_id;
            }
            r.queue_offset = (*slot)++;
        } else {
            r.queue_offset = 0;
        }
        r.body_crc = items[i].crc;
        r.physical_offset = cl->write_pos;
        if (r.store_timestamp == 0)
            r.store_timestamp = now;
        r.store_host = cl->store_host;
        size_t at = (size_t)(cl->write_pos - start);
        msg_encode(&r, stage + at, (size_t)total - at);
        if (i == 0) {
            res->physical_offset = r.physical_offset;
            res->queue_offset = r.queue_offset;
            res->store_timestamp = r.store_timestamp;
        }
        if (phys_offsets)
            phys_offsets[i] = r.physical_offset;
        cl->write_pos += items[i].size;
    }
    atomic_fetch_add_explicit(&cl->put_msgs, (int64_t)n, memory_order_relaxed);
    atomic_fetch_add_explicit(&cl->put_bytes, total, memory_order_relaxed);
    atomic_store_explicit(&cl->last_store_ts, res->store_timestamp, memory_order_relaxed);
    assert(cl->write_pos - res->physical_offset == total);
    if (!defer)
        wrote = write_staged_and_publish(cl);
    pthread_mutex_unlock(&cl->put_lock);
    res->wrote_bytes = (int32_t)total;
    res->msg_count = (int32_t)n;
    if (wrote && cl->on_append)
        cl->on_append(cl->on_append_arg);
    return STORE_PUT_OK;
}

int cl_set_refusal(commitlog *cl, int reason, bool on)
{
    /* D9: an I/O error refusal lasts until restart; closed stays closed. */
    assert(on || !(reason & (CL_REFUSE_IO_ERROR | CL_REFUSE_CLOSED)));
    return on ? atomic_fetch_or(&cl->refuse, reason) : atomic_fetch_and(&cl->refuse, ~reason);
}

/* ---- readers -------------------------------------------------------------- */

mapped_file *cl_acquire(commitlog *cl, int64_t offset)
{
    mapped_file *f = NULL;
    pthread_rwlock_rdlock(&cl->segs_lock);
    if (cl->nsegs && offset >= cl->segs[0]->start) {
        size_t idx = seg_index(cl, offset);
        if (idx < cl->nsegs) {
            f = cl->segs[idx];
            mf_ref(f);
        }
    }
    pthread_rwlock_unlock(&cl->segs_lock);
    return f;
}

mapped_file *cl_first(commitlog *cl, size_t *count)
{
    mapped_file *f = NULL;
    pthread_rwlock_rdlock(&cl->segs_lock);
    *count = cl->nsegs;
    if (cl->nsegs) {
        f = cl->segs[0];
        mf_ref(f);
    }
    pthread_rwlock_unlock(&cl->segs_lock);
    return f;
}

size_t cl_segment_count(commitlog *cl)
{
    pthread_rwlock_rdlock(&cl->segs_lock);
    size_t n = cl->nsegs;
    pthread_rwlock_unlock(&cl->segs_lock);
    return n;
}

int cl_remove_first(commitlog *cl, mapped_file *expected)
{
    pthread_rwlock_wrlock(&cl->segs_lock);
    if (cl->nsegs < 2 || cl->segs[0] != expected) {
        pthread_rwlock_unlock(&cl->segs_lock);
        return -1;
    }
    /* D3: the log drops its own reference only; pinned readers keep the
     * mapping (mf_unref unmaps at the last reference). */
    memmove(cl->segs, cl->segs + 1, (cl->nsegs - 1) * sizeof *cl->segs);
    cl->nsegs--;
    atomic_store(&cl->min_offset, cl->segs[0]->start);
    pthread_rwlock_unlock(&cl->segs_lock);
    mf_remove(expected);
    mf_unref(expected);
    return 0;
}

int cl_flush(commitlog *cl, int64_t from, int64_t to)
{
    while (from < to) {
        mapped_file *f = cl_acquire(cl, from);
        if (!f) {
            /* Below the min offset (deleted) or past the log: skip ahead. */
            int64_t min = cl_min_offset(cl);
            if (from < min) {
                from = min;
                continue;
            }
            return -ENOENT;
        }
        int64_t seg_end = f->start + f->size;
        int64_t stop = to < seg_end ? to : seg_end;
        int rc = mf_flush(f, from - f->start, stop - f->start);
        mf_unref(f);
        if (rc < 0)
            return rc;
        from = stop;
    }
    return 0;
}

/* ---- replication (replica.c) ------------------------------------------------ */

int cl_append_raw(commitlog *cl, int64_t offset, const uint8_t *data, int64_t len)
{
    pthread_mutex_lock(&cl->put_lock);
    write_staged_and_publish(cl); /* none on a slave; kept in order if ever */
    int rc = 0;
    if (atomic_load_explicit(&cl->refuse, memory_order_relaxed) & CL_REFUSE_CLOSED) {
        rc = STORE_ERR_CLOSED;
    } else if (offset != cl->write_pos) {
        rc = STORE_ERR_INVALID;
    } else if ((!cl->cur || cl->write_pos == cl->cur->start + cl->seg_size) && roll(cl) < 0) {
        rc = STORE_ERR_IO; /* at a segment end roll() writes no blank: the master's is copied */
    } else if (cl->write_pos + len > cl->cur->start + cl->seg_size) {
        rc = STORE_ERR_INVALID; /* the caller hands over one segment's bytes at a time */
    }
    if (rc < 0) {
        pthread_mutex_unlock(&cl->put_lock);
        return rc;
    }
    stage_write(cl->cur, data, (size_t)len, cl->write_pos - cl->cur->start); /* as cl_put */
    cl->write_pos += len;
    atomic_store(&cl->max_offset, cl->write_pos); /* D1: whole records only (checked by the caller) */
    pthread_mutex_unlock(&cl->put_lock);
    if (cl->on_append)
        cl->on_append(cl->on_append_arg);
    return 0;
}

int cl_restart_empty_at(commitlog *cl, int64_t offset)
{
    if (offset <= 0 || offset % cl->seg_size != 0)
        return STORE_ERR_INVALID;
    pthread_mutex_lock(&cl->put_lock);
    if (cl->write_pos != 0 || cl_max_offset(cl) != 0) {
        pthread_mutex_unlock(&cl->put_lock);
        return STORE_ERR_INVALID;
    }
    pthread_rwlock_wrlock(&cl->segs_lock);
    for (size_t i = 0; i < cl->nsegs; i++) { /* empty: nothing written yet */
        mf_remove(cl->segs[i]);
        mf_unref(cl->segs[i]);
    }
    cl->nsegs = 0;
    atomic_store(&cl->min_offset, offset);
    pthread_rwlock_unlock(&cl->segs_lock);
    cl->cur = NULL; /* the next append takes the segment at offset (roll) */
    cl->write_pos = offset;
    pthread_mutex_lock(&cl->alloc_lock);
    cl->alloc_want = offset;
    pthread_cond_broadcast(&cl->alloc_cond);
    pthread_mutex_unlock(&cl->alloc_lock);
    atomic_store(&cl->max_offset, offset);
    pthread_mutex_unlock(&cl->put_lock);
    return 0;
}
