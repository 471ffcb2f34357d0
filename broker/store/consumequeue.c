/*
 * consumequeue.c - see consumequeue.h.
 *
 * Entries are written in place with pwrite and read through the mapping; a
 * file is created when the first entry that falls into it is written.
 * Positions are queue offsets (the record's QUEUEOFFSET field), so writing
 * an entry twice (recovery redo) writes the same bytes at the same place.
 *
 * Why pwrite: a store into a shared mapping faults on the first write to a
 * page, and again on the first write after each flush cleaned it (ext4's
 * page_mkwrite, which starts a journal handle and waits while the journal
 * commits). Measured on the development VM: 15-22 us per such fault on
 * average and up to 1.2-1.9 ms, against 4-5 us (at most 35 us) for a pwrite
 * of the same entry. The dispatcher, which also runs on the broker's loop
 * (inline dispatch), stages a round's appended entries per queue and writes
 * each queue's run with one pwrite at the round's end (cq_put_staged).
 */
#define _GNU_SOURCE
#include "consumequeue.h"

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
#include "message.h"
#include "util.h"

enum { CQ_STAGE = 128 }; /* entries a queue stages per dispatch round (2.5 KiB) */

int cq_table_init(cq_table *t, const char *dir, int64_t file_size,
                  const store_io_hooks *hooks)
{
    memset(t, 0, sizeof *t);
    snprintf(t->root, sizeof t->root, "%s", dir);
    t->file_size = file_size;
    t->hooks = hooks;
    pthread_rwlock_init(&t->lock, NULL);
    strmap_init(&t->topics);
    atomic_init(&t->count, 0);
    return mf_mkdirs(t->root);
}

static consume_queue *cq_new(cq_table *t, const char *topic, size_t tlen, int32_t qid)
{
    consume_queue *q = xcalloc(1, sizeof *q);
    q->topic = xstrndup(topic, tlen);
    q->topic_len = tlen;
    q->qid = qid;
    size_t dlen = strlen(t->root) + tlen + 16;
    q->dir = xmalloc(dlen);
    snprintf(q->dir, dlen, "%s/%s/%d", t->root, q->topic, (int)qid);
    q->file_size = t->file_size;
    q->hooks = t->hooks;
    atomic_init(&q->refs, 1);
    atomic_init(&q->deleted, false);
    pthread_mutex_init(&q->lock, NULL);
    atomic_init(&q->min_offset, 0);
    atomic_init(&q->max_offset, 0);
    return q;
}

void cq_ref(consume_queue *q) { atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed); }

void cq_unref(consume_queue *q)
{
    int old = atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old != 1)
        return;
    if (q->tail)
        mf_unref(q->tail);
    for (size_t i = 0; i < q->nfiles; i++)
        mf_unref(q->files[i]);
    free(q->files);
    pthread_mutex_destroy(&q->lock);
    free(q->stage);
    free(q->dir);
    free(q->topic);
    free(q);
}

static void files_append(consume_queue *q, mapped_file *f)
{
    if (q->nfiles == q->files_cap) {
        q->files_cap = q->files_cap ? q->files_cap * 2 : 4;
        q->files = xrealloc(q->files, q->files_cap * sizeof *q->files);
    }
    q->files[q->nfiles++] = f;
}

/* Inserts q into the table (write lock held). The table owns q's first ref. */
static void table_insert(cq_table *t, consume_queue *q)
{
    u64map *m = strmap_get(&t->topics, q->topic);
    if (!m) {
        m = xcalloc(1, sizeof *m);
        u64map_init(m);
        strmap_put(&t->topics, q->topic, m);
    }
    u64map_put(m, (uint64_t)(uint32_t)q->qid, q);
    atomic_fetch_add(&t->count, 1);
}

static bool entry_is_data(const mapped_file *f, int64_t qoff)
{
    cq_entry e;
    cq_entry_at(f, qoff, &e);
    return e.size != 0 && e.size != CQ_BLANK_SIZE;
}

static bool empty_file(const char *dir, int64_t start)
{
    char path[1100];
    struct stat st;
    mf_path(path, sizeof path, dir, start);
    return stat(path, &st) == 0 && st.st_size == 0;
}

/* Maps the files of one queue and finds its min and max offsets. */
static void cq_load_files(consume_queue *q)
{
    int64_t *starts;
    ssize_t listed = mf_list_dir(q->dir, &starts);
    if (listed < 0)
        return;
    size_t n = (size_t)listed;
    for (size_t i = 0; i < n; i++) {
        mapped_file *f;
        if (i == n - 1 && empty_file(q->dir, starts[i])) {
            /* Creation cut short by a crash (before its blocks were
             * reserved): nothing was ever written to it. */
            char path[1100];
            mf_path(path, sizeof path, q->dir, starts[i]);
            unlink(path);
            break;
        }
        if (starts[i] % q->file_size != 0 ||
            (q->nfiles && starts[i] != q->files[q->nfiles - 1]->start + q->file_size) ||
            mf_open(q->dir, starts[i], q->file_size, q->hooks, &f) != 0) {
            log_warn("ConsumeQueue %s is damaged at file %020lld; it will be rebuilt", q->dir,
                     (long long)starts[i]);
            q->damaged = true;
            break;
        }
        files_append(q, f);
    }
    free(starts);
    if (q->nfiles == 0)
        return;
    int64_t per_file = q->file_size / CQ_UNIT;
    /* max: after the last non-empty entry, scanning back over empty files. */
    int64_t max = q->files[0]->start / CQ_UNIT;
    for (size_t i = q->nfiles; i-- > 0 && max == q->files[0]->start / CQ_UNIT;) {
        mapped_file *f = q->files[i];
        int64_t first = f->start / CQ_UNIT;
        for (int64_t k = per_file; k-- > 0;) {
            cq_entry en;
            cq_entry_at(f, first + k, &en);
            if (en.size != 0) {
                max = first + k + 1;
                break;
            }
        }
    }
    /* min: the first real entry of the first file. */
    int64_t min = q->files[0]->start / CQ_UNIT;
    while (min < max && !entry_is_data(q->files[(size_t)((min * CQ_UNIT - q->files[0]->start) / q->file_size)], min))
        min++;
    atomic_store(&q->min_offset, min);
    atomic_store(&q->max_offset, max);
    q->flushed = max * CQ_UNIT;
    q->started = max > min || min > 0;
}

int cq_table_load(cq_table *t, char *err, size_t errlen)
{
    DIR *d = opendir(t->root);
    if (!d) {
        snprintf(err, errlen, "cannot open %s: %s", t->root, strerror(errno));
        return STORE_ERR_IO;
    }
    struct dirent *te;
    while ((te = readdir(d)) != NULL) {
        if (te->d_name[0] == '.')
            continue;
        char tdir[1024];
        snprintf(tdir, sizeof tdir, "%s/%s", t->root, te->d_name);
        DIR *qd = opendir(tdir);
        if (!qd)
            continue;
        struct dirent *qe;
        while ((qe = readdir(qd)) != NULL) {
            int32_t qid;
            if (qe->d_name[0] == '.' || parse_int32(qe->d_name, 0, INT32_MAX, &qid) != 0)
                continue;
            consume_queue *q = cq_new(t, te->d_name, strlen(te->d_name), qid);
            cq_load_files(q);
            table_insert(t, q);
        }
        closedir(qd);
    }
    closedir(d);
    return 0;
}

void cq_table_destroy(cq_table *t)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&t->topics, &it, &k, &v)) {
        u64map *m = v;
        size_t j = 0;
        uint64_t qk;
        void *qv;
        while (u64map_next(m, &j, &qk, &qv))
            cq_unref(qv);
        u64map_free(m);
        free(m);
    }
    strmap_free(&t->topics);
    pthread_rwlock_destroy(&t->lock);
}

consume_queue *cq_get(cq_table *t, const char *topic, size_t tlen, int32_t qid)
{
    consume_queue *q = NULL;
    pthread_rwlock_rdlock(&t->lock);
    u64map *m = strmap_getn(&t->topics, topic, tlen);
    if (m) {
        q = u64map_get(m, (uint64_t)(uint32_t)qid);
        if (q)
            cq_ref(q);
    }
    pthread_rwlock_unlock(&t->lock);
    return q;
}

consume_queue *cq_get_or_create(cq_table *t, const char *topic, size_t tlen, int32_t qid,
                                bool *created)
{
    *created = false;
    consume_queue *q = cq_get(t, topic, tlen, qid);
    if (q)
        return q;
    pthread_rwlock_wrlock(&t->lock);
    u64map *m = strmap_getn(&t->topics, topic, tlen);
    q = m ? u64map_get(m, (uint64_t)(uint32_t)qid) : NULL;
    if (!q) {
        q = cq_new(t, topic, tlen, qid);
        table_insert(t, q);
        *created = true;
    }
    cq_ref(q);
    pthread_rwlock_unlock(&t->lock);
    return q;
}

consume_queue **cq_snapshot(cq_table *t, const char *topic, size_t *n)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t cap = (size_t)atomic_load(&t->count) + 1, cnt = 0;
    consume_queue **out = xmalloc(cap * sizeof *out);
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&t->topics, &it, &k, &v)) {
        if (topic && strcmp(k, topic) != 0)
            continue;
        size_t j = 0;
        uint64_t qk;
        void *qv;
        while (u64map_next(v, &j, &qk, &qv)) {
            if (cnt == cap) {
                cap *= 2;
                out = xrealloc(out, cap * sizeof *out);
            }
            cq_ref(qv);
            out[cnt++] = qv;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    *n = cnt;
    return out;
}

void cq_snapshot_free(consume_queue **qs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cq_unref(qs[i]);
    free(qs);
}

/* File index holding byte position pos (lock held), or -1. */
static ssize_t file_index(consume_queue *q, int64_t pos)
{
    if (q->nfiles == 0 || pos < q->files[0]->start)
        return -1;
    size_t i = (size_t)((pos - q->files[0]->start) / q->file_size);
    return i < q->nfiles ? (ssize_t)i : -1;
}

mapped_file *cq_file_at(consume_queue *q, int64_t qoff)
{
    pthread_mutex_lock(&q->lock);
    ssize_t i = file_index(q, qoff * CQ_UNIT);
    mapped_file *f = NULL;
    if (i >= 0) {
        f = q->files[i];
        mf_ref(f);
    }
    pthread_mutex_unlock(&q->lock);
    return f;
}

int cq_read(consume_queue *q, int64_t qoff, cq_entry *out)
{
    if (qoff < cq_min(q) || qoff >= cq_max(q))
        return STORE_ERR_NOT_FOUND;
    mapped_file *f = cq_file_at(q, qoff);
    if (!f)
        return STORE_ERR_NOT_FOUND;
    cq_entry_at(f, qoff, out);
    mf_unref(f);
    return 0;
}

static void encode_entry(uint8_t *p, int64_t phys, int32_t size, int64_t tag)
{
    be64_store(p, (uint64_t)phys);
    be32_store(p + 8, (uint32_t)size);
    be64_store(p + 12, (uint64_t)tag);
}

static void write_entry(mapped_file *f, int64_t qoff, int64_t phys, int32_t size, int64_t tag)
{
    uint8_t e[CQ_UNIT];
    encode_entry(e, phys, size, tag);
    mf_write(f, e, CQ_UNIT, qoff * CQ_UNIT - f->start);
}

/* Blank entries [k0, k1) of f, a few KiB per pwrite. */
static void write_blanks(mapped_file *f, int64_t k0, int64_t k1)
{
    enum { CHUNK = 200 };
    uint8_t buf[CHUNK * CQ_UNIT];
    for (int i = 0; i < CHUNK; i++)
        encode_entry(buf + i * CQ_UNIT, 0, CQ_BLANK_SIZE, 0);
    for (int64_t k = k0; k < k1; k += CHUNK)
        mf_write(f, buf, (size_t)MQ_MIN(k1 - k, (int64_t)CHUNK) * CQ_UNIT, k * CQ_UNIT - f->start);
}

void cq_write_staged(consume_queue *q, bool via_map)
{
    if (q->nstage == 0)
        return;
    size_t len = (size_t)q->nstage * CQ_UNIT;
    if (via_map)
        memcpy(q->tail->base + (q->stage_q0 * CQ_UNIT - q->tail->start), q->stage, len);
    else
        mf_write(q->tail, q->stage, len, q->stage_q0 * CQ_UNIT - q->tail->start);
    atomic_store_explicit(&q->max_offset, q->stage_q0 + q->nstage, memory_order_release);
    q->nstage = 0;
}

/* Referenced file for byte position pos, creating files up to it. The
 * dispatcher is the only creator, so no creation race; lock guards readers. */
static int file_for_write(consume_queue *q, int64_t pos, mapped_file **out)
{
    pthread_mutex_lock(&q->lock);
    ssize_t i = file_index(q, pos);
    if (i >= 0) {
        *out = q->files[i];
        mf_ref(*out);
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    int rc = 0;
    if (q->nfiles == 0)
        rc = mf_mkdirs(q->dir);
    int64_t want = pos - pos % q->file_size;
    while (rc == 0) {
        int64_t next = q->nfiles ? q->files[q->nfiles - 1]->start + q->file_size : want;
        if (next > want)
            break;
        mapped_file *f;
        pthread_mutex_unlock(&q->lock); /* file creation may be slow */
        /* Not prefaulted: populating a new 6 MB file took 15-25 ms of fresh
         * memory on this VM in one go (W4's first second: p99 17 ms, max
         * 25 ms, one stall per new queue), where the pages' own write
         * faults cost ~13 us every 204 entries. */
        rc = mf_create(q->dir, next, q->file_size, q->hooks, &f);
        pthread_mutex_lock(&q->lock);
        if (rc == 0)
            files_append(q, f);
    }
    if (rc == 0) {
        *out = q->files[file_index(q, pos)];
        mf_ref(*out);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int cq_put(consume_queue *q, int64_t qoff, int64_t phys, int32_t size, int64_t tag)
{
    int rc = cq_put_staged(q, qoff, phys, size, tag);
    cq_write_staged(q, false);
    return rc;
}

int cq_put_staged(consume_queue *q, int64_t qoff, int64_t phys, int32_t size, int64_t tag)
{
    if (q->damaged)
        return 0; /* recovery rebuilds it from scratch after the redo */
    int64_t max = q->nstage ? q->stage_q0 + q->nstage : cq_max(q);
    bool empty = !q->started;
    if (!empty && qoff < cq_min(q))
        return 0;
    int64_t pos = qoff * CQ_UNIT;
    mapped_file *f = q->tail;
    if (!f || pos < f->start || pos >= f->start + f->size) {
        cq_write_staged(q, false); /* the stage belongs to the tail file */
        mapped_file *nf;
        int rc = file_for_write(q, pos, &nf);
        if (rc < 0)
            return rc;
        if (q->tail)
            mf_unref(q->tail);
        q->tail = f = nf;
    }
    if (!empty && qoff == max) { /* the dispatcher's usual case */
        if (q->nstage == CQ_STAGE)
            cq_write_staged(q, false);
        if (!q->stage)
            q->stage = xmalloc(CQ_STAGE * CQ_UNIT);
        if (q->nstage == 0)
            q->stage_q0 = qoff;
        encode_entry(q->stage + (size_t)q->nstage++ * CQ_UNIT, phys, size, tag);
        return 0;
    }
    cq_write_staged(q, false);
    if (empty) {
        /* First entry of a queue (possibly not at 0: older records were
         * cleaned): blank-fill the file before it, as RocketMQ does. */
        write_blanks(f, f->start / CQ_UNIT, qoff);
        atomic_store(&q->min_offset, qoff);
        max = qoff;
        q->started = true;
    } else if (qoff > max) {
        log_warn("ConsumeQueue %s: gap from %lld to %lld filled with blank entries", q->dir,
                 (long long)max, (long long)qoff);
        for (int64_t k = max; k < qoff;) {
            mapped_file *g;
            if (file_for_write(q, k * CQ_UNIT, &g) != 0)
                break; /* logged by mf_create; those entries stay zero (size 0), as before */
            int64_t end = MQ_MIN(qoff, (g->start + g->size) / CQ_UNIT);
            write_blanks(g, k, end);
            mf_unref(g);
            k = end;
        }
    }
    write_entry(f, qoff, phys, size, tag);
    if (qoff >= max)
        atomic_store_explicit(&q->max_offset, qoff + 1, memory_order_release);
    return 0;
}

int cq_truncate_phys(consume_queue *q, int64_t end, int32_t max_record)
{
    int64_t max = cq_max(q), min = cq_min(q);
    int64_t keep = max;
    while (keep > min) {
        cq_entry e;
        mapped_file *f = cq_file_at(q, keep - 1);
        if (!f)
            break;
        cq_entry_at(f, keep - 1, &e);
        if (e.size == CQ_BLANK_SIZE || (e.size != 0 && e.phys < end)) {
            mf_unref(f);
            break;
        }
        if (e.size != 0 && (e.phys < 0 || e.size < MSG_FIXED_LEN_V4 || e.size > max_record)) {
            /* Not an entry a lost record left behind: garbage. */
            mf_unref(f);
            log_warn("ConsumeQueue %s: entry %lld is garbage", q->dir, (long long)keep - 1);
            q->damaged = true;
            return -1;
        }
        write_entry(f, keep - 1, 0, 0, 0);
        mf_unref(f);
        keep--;
    }
    if (keep == max)
        return 0;
    log_info("ConsumeQueue %s: dropped entries %lld..%lld pointing past CommitLog end %lld",
             q->dir, (long long)keep, (long long)max - 1, (long long)end);
    atomic_store(&q->max_offset, keep);
    if (keep <= min)
        atomic_store(&q->min_offset, keep);
    if (q->flushed > keep * CQ_UNIT)
        q->flushed = keep * CQ_UNIT;
    /* Files that start past the new end hold nothing any more. */
    pthread_mutex_lock(&q->lock);
    while (q->nfiles > 1 && q->files[q->nfiles - 1]->start > keep * CQ_UNIT) {
        mapped_file *f = q->files[--q->nfiles];
        if (q->tail == f) {
            mf_unref(q->tail);
            q->tail = NULL;
        }
        mf_remove(f);
        mf_unref(f);
    }
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void cq_reset(consume_queue *q)
{
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->nfiles; i++) {
        mf_remove(q->files[i]);
        mf_unref(q->files[i]);
    }
    q->nfiles = 0;
    if (q->tail) {
        mf_unref(q->tail);
        q->tail = NULL;
    }
    pthread_mutex_unlock(&q->lock);
    mf_remove_tree(q->dir); /* also files that were never mapped (damage) */
    atomic_store(&q->min_offset, 0);
    atomic_store(&q->max_offset, 0);
    q->flushed = 0;
    q->damaged = false;
    q->started = false;
}

int cq_flush(consume_queue *q)
{
    int64_t upto = cq_max(q) * CQ_UNIT;
    int rc = 0;
    while (q->flushed < upto) {
        mapped_file *f;
        pthread_mutex_lock(&q->lock);
        ssize_t i = file_index(q, q->flushed);
        if (i < 0 && q->nfiles && q->flushed < q->files[0]->start) {
            q->flushed = q->files[0]->start; /* cleaned away */
            pthread_mutex_unlock(&q->lock);
            continue;
        }
        f = i >= 0 ? q->files[i] : NULL;
        if (f)
            mf_ref(f);
        pthread_mutex_unlock(&q->lock);
        if (!f)
            break;
        int64_t stop = MQ_MIN(upto, f->start + f->size);
        rc = mf_flush(f, q->flushed - f->start, stop - f->start);
        mf_unref(f);
        if (rc < 0)
            break;
        q->flushed = stop;
    }
    return rc;
}

int64_t cq_lower_bound_phys(consume_queue *q, int64_t phys)
{
    int64_t lo = cq_min(q), hi = cq_max(q);
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        cq_entry e;
        if (cq_read(q, mid, &e) != 0) { /* file went away under us: treat as below */
            lo = mid + 1;
            continue;
        }
        if (e.size == CQ_BLANK_SIZE || e.phys < phys)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int cq_clean_below(consume_queue *q, int64_t cl_min)
{
    int deleted = 0;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        if (q->nfiles < 2) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        mapped_file *f = q->files[0];
        int64_t last = (f->start + f->size) / CQ_UNIT - 1;
        cq_entry e;
        cq_entry_at(f, last, &e);
        if (e.size == 0 || e.phys + e.size > cl_min || last >= cq_max(q)) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        memmove(q->files, q->files + 1, (q->nfiles - 1) * sizeof *q->files);
        q->nfiles--;
        if (cq_min(q) < (f->start + f->size) / CQ_UNIT)
            atomic_store(&q->min_offset, (f->start + f->size) / CQ_UNIT);
        pthread_mutex_unlock(&q->lock);
        mf_remove(f);
        mf_unref(f);
        deleted++;
    }
    int64_t min = cq_lower_bound_phys(q, cl_min);
    if (min > cq_min(q))
        atomic_store(&q->min_offset, min);
    return deleted;
}

int cq_delete_topic(cq_table *t, const char *topic)
{
    pthread_rwlock_wrlock(&t->lock);
    u64map *m = strmap_remove(&t->topics, topic);
    pthread_rwlock_unlock(&t->lock);
    if (!m)
        return STORE_ERR_NOT_FOUND;
    size_t j = 0;
    uint64_t qk;
    void *qv;
    while (u64map_next(m, &j, &qk, &qv)) {
        consume_queue *q = qv;
        atomic_store(&q->deleted, true);
        pthread_mutex_lock(&q->lock);
        for (size_t i = 0; i < q->nfiles; i++)
            mf_remove(q->files[i]);
        pthread_mutex_unlock(&q->lock);
        atomic_fetch_sub(&t->count, 1);
        cq_unref(q);
    }
    u64map_free(m);
    free(m);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", t->root, topic);
    mf_remove_tree(dir);
    return 0;
}
