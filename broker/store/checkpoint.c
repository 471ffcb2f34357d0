/*
 * checkpoint.c - see checkpoint.h.
 */
#define _GNU_SOURCE
#include "checkpoint.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "crc.h"

#include "bytes.h"
#include "log.h"
#include "util.h"

#define SLOT_A 1024
#define SLOT_B 2048
#define SLOT_LEN 48
static const char SLOT_MAGIC[8] = {'M', 'Q', 'C', 'K', 'P', 'T', '0', '1'};

static bool slot_read(const uint8_t *p, ckpt_data *d)
{
    if (memcmp(p, SLOT_MAGIC, 8) != 0)
        return false;
    uint32_t crc = mq_crc32(0, p, SLOT_LEN - 4);
    if (crc != be32_load(p + SLOT_LEN - 4))
        return false;
    d->seq = be64_load(p + 8);
    d->cq_offset = (int64_t)be64_load(p + 16);
    d->cl_end = (int64_t)be64_load(p + 24);
    d->flushed_offset = (int64_t)be64_load(p + 32);
    d->flags = be32_load(p + 40);
    return true;
}

static void slot_write(uint8_t *p, const ckpt_data *d)
{
    memset(p, 0, SLOT_LEN);
    memcpy(p, SLOT_MAGIC, 8);
    be64_store(p + 8, d->seq);
    be64_store(p + 16, (uint64_t)d->cq_offset);
    be64_store(p + 24, (uint64_t)d->cl_end);
    be64_store(p + 32, (uint64_t)d->flushed_offset);
    be32_store(p + 40, d->flags);
    be32_store(p + SLOT_LEN - 4, mq_crc32(0, p, SLOT_LEN - 4));
}

static void ckpt_tick(void *arg);

int ckpt_open(checkpoint *c, const ckpt_parts *parts, const char *root, int interval_ms,
              ckpt_data *loaded)
{
    memset(c, 0, sizeof *c);
    c->p = *parts;
    ticker_init(&c->tick, "store-ckpt", interval_ms, ckpt_tick, c);
    snprintf(c->path, sizeof c->path, "%s/checkpoint", root);
    c->fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->fd < 0)
        return STORE_ERR_IO;
    ssize_t n = pread(c->fd, c->page, sizeof c->page, 0);
    if (n < 0)
        return STORE_ERR_IO;
    if (n < (ssize_t)sizeof c->page)
        memset(c->page + n, 0, sizeof c->page - (size_t)n);
    ckpt_data a = {0}, b = {0};
    bool va = slot_read(c->page + SLOT_A, &a), vb = slot_read(c->page + SLOT_B, &b);
    if (!va && !vb)
        return STORE_ERR_NOT_FOUND;
    ckpt_data *best = va && (!vb || a.seq > b.seq) ? &a : &b;
    best->physic_ts = (int64_t)be64_load(c->page);
    best->logics_ts = (int64_t)be64_load(c->page + 8);
    best->index_ts = (int64_t)be64_load(c->page + 16);
    best->confirm_offset = (int64_t)be64_load(c->page + 32);
    c->last = *best;
    *loaded = *best;
    return 0;
}

int ckpt_write(checkpoint *c, ckpt_data *d)
{
    d->seq = c->last.seq + 1;
    be64_store(c->page, (uint64_t)d->physic_ts);
    be64_store(c->page + 8, (uint64_t)d->logics_ts);
    be64_store(c->page + 16, (uint64_t)d->index_ts);
    be64_store(c->page + 24, (uint64_t)d->flushed_offset);
    be64_store(c->page + 32, (uint64_t)d->confirm_offset);
    slot_write(c->page + (d->seq % 2 ? SLOT_B : SLOT_A), d);
    if (pwrite(c->fd, c->page, sizeof c->page, 0) != (ssize_t)sizeof c->page) {
        log_error("cannot write %s: %s", c->path, strerror(errno));
        return STORE_ERR_IO;
    }
    if (fdatasync(c->fd) != 0) {
        log_error("cannot sync %s: %s", c->path, strerror(errno));
        return STORE_ERR_IO;
    }
    c->last = *d;
    return 0;
}

int ckpt_run_once(checkpoint *c)
{
    const ckpt_parts *p = &c->p;
    int64_t dispatched = dispatcher_dispatched(p->disp);
    int64_t flushed = flusher_flushed(p->fl);
    if (dispatched == c->last.cq_offset && flushed == c->last.flushed_offset &&
        !(c->last.flags & CKPT_FLAG_CLEAN))
        return 0;
    int64_t logics_ts = atomic_load(&p->disp->last_store_ts);
    size_t n;
    consume_queue **qs = cq_snapshot(p->cqs, NULL, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&qs[i]->deleted))
            continue;
        int r = cq_flush(qs[i]);
        if (r < 0) {
            log_error("ConsumeQueue flush of %s failed: %s", qs[i]->dir, strerror(-r));
            rc = STORE_ERR_IO;
        }
    }
    cq_snapshot_free(qs, n);
    if (rc < 0)
        return rc; /* keep the old checkpoint: its redo point is still valid */
    /* D7: cq_offset is written only after the queues holding every entry
     * below it were msync'ed (above); D5 makes `dispatched` such a point. */
    assert(dispatched <= cl_max_offset(p->cl));
    /* The index memtable is written without WAL: flush it now and then so a
     * crash never has to redo more than this interval of index entries. */
    int64_t keys = atomic_load(&p->idx->keys), now = mono_ms();
    if (keys != c->index_keys_flushed && now - c->index_flush_ms >= INDEX_FLUSH_INTERVAL_MS) {
        c->index_flush_ms = now;
        if (kv_flush_index(p->kv) == 0)
            c->index_keys_flushed = keys;
    }
    ckpt_data d = {0};
    d.physic_ts = atomic_load(&p->cl->last_store_ts);
    d.logics_ts = logics_ts;
    d.index_ts = logics_ts;
    d.flushed_offset = flushed;
    d.confirm_offset = cl_max_offset(p->cl);
    d.cq_offset = dispatched;
    d.cl_end = -1;
    return ckpt_write(c, &d);
}

static void ckpt_tick(void *arg) { ckpt_run_once(arg); }

int ckpt_start(checkpoint *c) { return ticker_start(&c->tick); }

void ckpt_stop(checkpoint *c) { ticker_stop(&c->tick); }

void ckpt_close(checkpoint *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ticker_destroy(&c->tick);
}
