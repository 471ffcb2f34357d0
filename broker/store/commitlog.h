/*
 * commitlog.h - the CommitLog: one append-only log of every message, made of
 * fixed-size mapped segment files named by their start offset.
 *
 * Writers: any thread calling cl_put (serialised by put_lock; a batch is
 * encoded into a staging buffer and written into the segment's page cache
 * with pwrite: a copy, no disk I/O). A deferred put leaves its bytes in the
 * staging buffer, unpublished, until cl_write_staged or the next put that
 * is not deferred writes everything staged in one pwrite: the broker's
 * SYNC_FLUSH sends of one loop turn reach the file in one system call,
 * just before the turn's group commit. The queue-offset table
 * ("topic-queueId" -> next queue offset) lives under the same lock.
 * Readers: any thread, through the segment's mapping (cl_acquire: a
 * referenced segment) for bytes
 * below max_offset, which is published with a release store after the
 * records are complete; a record below max_offset never changes.
 * The segment array is guarded by segs_lock (read: lookups; write: roll-over
 * by a putter, head removal by the cleaner).
 * store-alloc thread: creates the next segment before the current one fills
 * so that roll-over does not wait on file creation. Nothing maps pages ahead
 * of the writer any more: the dispatcher reads new records with pread, and
 * the first pull of a page maps it, 16 pages per fault (the kernel's
 * fault-around).
 *
 * Invariant: after every record at least MSG_BLANK_LEN bytes remain in its
 * segment, so a segment always ends with a record that exactly fills it or
 * with a blank end-of-file marker covering the rest.
 */
#ifndef MQ_STORE_COMMITLOG_H
#define MQ_STORE_COMMITLOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hashmap.h"
#include "mapped_file.h"
#include "message.h"
#include "store.h"

/* Initial size of the staging buffer a batch is encoded into (it grows to
 * the largest batch written). */
#define CL_STAGE_MIN (1 << 20)

/* Refusal reasons (bit set in commitlog.refuse). */
#define CL_REFUSE_CLOSED 0x1
#define CL_REFUSE_DISK_FULL 0x2
#define CL_REFUSE_IO_ERROR 0x4

/* Per-message data prepared outside the put lock. */
typedef struct cl_item {
    uint32_t crc;
    uint32_t size;
} cl_item;

typedef struct commitlog {
    char dir[600];
    int64_t seg_size;
    const store_io_hooks *hooks;
    msg_host store_host;

    pthread_rwlock_t segs_lock;
    mapped_file **segs; /* ascending, contiguous */
    size_t nsegs, segs_cap;

    pthread_mutex_t put_lock;
    mapped_file *cur;   /* put_lock; NULL while the next segment is pending */
    int64_t write_pos;  /* put_lock */
    strmap queues;      /* put_lock: "topic-qid" -> int64_t * (next offset) */
    uint8_t *stage;     /* put_lock: a batch is encoded here, then written with pwrite */
    size_t stage_cap;
    int64_t staged_from; /* put_lock: stage holds [staged_from, write_pos), not yet
                          * written (deferred puts); -1 when nothing is staged */
    int64_t recent_from, recent_to; /* put_lock: stage[0..] still holds the last
                          * written bytes [recent_from, recent_to); -1 when not */
    _Atomic int64_t max_offset;
    _Atomic int64_t min_offset;
    _Atomic int64_t put_msgs;
    _Atomic int64_t put_bytes;
    _Atomic int64_t last_store_ts;
    atomic_int refuse;

    /* store-alloc */
    pthread_t alloc_thread;
    bool alloc_running;
    pthread_mutex_t alloc_lock;
    pthread_cond_t alloc_cond;
    int64_t alloc_want;        /* start of the segment to prepare, -1 none */
    mapped_file *alloc_ready;
    bool alloc_stop;

    /* Called after each successful put, outside the lock (wakes dispatch). */
    void (*on_append)(void *arg);
    void *on_append_arg;
} commitlog;

/* Sets (on) or clears one CL_REFUSE_* reason; returns the reasons before.
 * Any thread. Services (cleaner, flusher, close) use this, never the field. */
int cl_set_refusal(commitlog *cl, int reason, bool on);
/* The refusal reasons now (0 = accepting puts). */
static inline int cl_refusals(commitlog *cl) { return atomic_load(&cl->refuse); }

/* dir: the CommitLog's folder (<root>/commitlog or storePathCommitLog),
 * created if missing. */
int cl_init(commitlog *cl, const char *dir, int64_t seg_size, const store_io_hooks *hooks,
            const msg_host *store_host);
/* Maps the existing segments. Fails (with err) on a gap or a segment of the
 * wrong size (mapedFileSizeCommitLog changed). */
int cl_load(commitlog *cl, char *err, size_t errlen);

/* Validates the record at p (avail bytes to the end of its segment) that
 * should start at CommitLog offset pos: magic, lengths, body CRC and the
 * PHYSICALOFFSET field. Returns its size (> 0), CL_REC_END (zero bytes),
 * CL_REC_BLANK (end-of-file marker covering the rest) or CL_REC_INVALID. */
#define CL_REC_END 0
#define CL_REC_BLANK (-1)
#define CL_REC_INVALID (-2)
int cl_check_record(const uint8_t *p, int64_t avail, int64_t pos, bool verify_crc,
                    msg_record *out);

/* Recovery walk: validates records from offset `from` (a record boundary
 * from the checkpoint; clamped into the log) and calls cb for each; the end
 * of the last valid record becomes the log end. The torn tail is zeroed,
 * later segments removed, the current segment prepared. Single-threaded
 * (before cl_start). */
typedef int (*cl_record_cb)(void *arg, const msg_record *r);
/* limit: the log ends at or before it (replication cuts a diverged tail;
 * INT64_MAX otherwise). */
int cl_recover(commitlog *cl, int64_t from, int64_t limit, cl_record_cb cb, void *arg, int64_t *end_out,
               char *err, size_t errlen);

/* Walks valid records in [from, to) without recovery side effects (used to
 * rebuild lost ConsumeQueues). Stops early if cb returns non-zero. */
int cl_scan(commitlog *cl, int64_t from, int64_t to, cl_record_cb cb, void *arg);

int cl_start(commitlog *cl);
/* Stops store-alloc and removes an unused pre-created segment. */
void cl_stop(commitlog *cl);
void cl_destroy(commitlog *cl);

/* Appends n records (see store_put_batch). items[i] holds each body CRC and
 * record size; total is their sum. Returns the put status; fills res
 * (except offset_msg_id and remark, which the caller formats). defer: the
 * records may stay staged (unwritten, unpublished) until cl_write_staged;
 * otherwise they are written, with anything staged before them, and
 * published before return. */
store_put_status cl_put(commitlog *cl, const msg_record *msgs, const cl_item *items, size_t n,
                        int64_t total, store_put_result *res, int64_t *phys_offsets, bool defer);
/* Writes and publishes what deferred puts left staged. Any thread. */
void cl_write_staged(commitlog *cl);
/* Copies [pos, pos + len) into dst if the staging buffer still holds it
 * (the last put's bytes, just written): the dispatcher's inline round
 * reads a put it follows at once without a pread. Returns whether it did. */
bool cl_copy_recent(commitlog *cl, int64_t pos, uint8_t *dst, size_t len);

/* Sets the next queue offset of a queue (recovery) / forgets a topic. */
void cl_queue_set(commitlog *cl, const char *topic, size_t tlen, int32_t qid, int64_t next);
void cl_queue_remove_topic(commitlog *cl, const char *topic);

/* Referenced segment containing offset, or NULL (below min / past the last
 * segment). Release with mf_unref. */
mapped_file *cl_acquire(commitlog *cl, int64_t offset);
/* Referenced first segment (or NULL) and the segment count. */
mapped_file *cl_first(commitlog *cl, size_t *count);
/* Removes the first segment if it is still `expected` and not the last one;
 * returns 0 or -1. The file is unlinked; its mapping lives on while pinned. */
int cl_remove_first(commitlog *cl, mapped_file *expected);
size_t cl_segment_count(commitlog *cl);

/* Flushes [from, to) of the log (msync of every segment concerned). */
int cl_flush(commitlog *cl, int64_t from, int64_t to);

/* Replication (replica.c, on a slave): copies len bytes taken from a master's
 * CommitLog to exactly `offset`, which must be the end of this log; the
 * bytes are whole records (validated by the caller) and/or a segment's
 * closing blank marker, all inside one segment. Moves to the next segment
 * when offset is a segment start. Publishes the new max offset and wakes the
 * dispatcher like a put. Returns 0 or STORE_ERR_INVALID / _IO / _CLOSED. */
int cl_append_raw(commitlog *cl, int64_t offset, const uint8_t *data, int64_t len);
/* Replication: a log that has never been written (max offset 0) starts at
 * `offset` instead (a segment start): its empty segments are removed, and
 * min and max offsets become `offset`. For a new slave whose master no longer
 * has offset 0. Returns 0 or STORE_ERR_INVALID (not empty, bad offset). */
int cl_restart_empty_at(commitlog *cl, int64_t offset);

static inline int64_t cl_max_offset(commitlog *cl)
{
    return atomic_load_explicit(&cl->max_offset, memory_order_acquire);
}
static inline int64_t cl_min_offset(commitlog *cl)
{
    return atomic_load_explicit(&cl->min_offset, memory_order_acquire);
}

#endif
