/*
 * checkpoint.h - the `checkpoint` file and the store-ckpt service that keeps
 * it current.
 *
 * Layout (one 4 KiB page, written whole with pwrite + fdatasync):
 *   0 physicMsgTimestamp 8 | 8 logicsMsgTimestamp 8 | 16 indexMsgTimestamp 8 |
 *  24 masterFlushedOffset 8 | 32 confirmPhyOffset 8      (RocketMQ's fields)
 *  1024 and 2048: two slots, written alternately, each
 *     magic "MQCKPT01" 8 | seq 8 | cq_offset 8 | cl_end 8 | flushed 8 |
 *     flags 4 | crc32 4
 * The slot with the highest sequence and a valid CRC wins, so a torn write
 * of the page leaves the previous slot usable.
 *
 * cq_offset: every ConsumeQueue entry of records below it is durable (the
 * ConsumeQueues were msync'ed after the dispatcher passed it). flushed: the
 * CommitLog is durable below it (a record boundary). cl_end and
 * flag CLEAN: written by a clean shutdown, the exact end of the log.
 *
 * Thread: store-ckpt, every flush_interval_consume_queue ms: flush the
 * ConsumeQueues, then write the page; every INDEX_FLUSH_INTERVAL_MS it also
 * flushes the index column family's memtable (see index.h). store_close writes the final page
 * after the thread has stopped.
 */
#ifndef MQ_STORE_CHECKPOINT_H
#define MQ_STORE_CHECKPOINT_H

#include <pthread.h>

#include "ticker.h"
#include <stdbool.h>
#include <stdint.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "dispatch.h"
#include "flush.h"
#include "kv.h"

#define CKPT_FLAG_CLEAN 0x1
#define INDEX_FLUSH_INTERVAL_MS 10000

typedef struct ckpt_data {
    int64_t physic_ts, logics_ts, index_ts;
    int64_t flushed_offset, confirm_offset;
    int64_t cq_offset;
    int64_t cl_end;
    uint32_t flags;
    uint64_t seq;
} ckpt_data;

/* What the checkpoint reads and flushes (borrowed, owned by the store). */
typedef struct ckpt_parts {
    commitlog *cl;       /* written offset, last store time */
    cq_table *cqs;       /* msync'ed before cq_offset is written (D7) */
    kv_db *kv;           /* index memtable flush */
    dispatcher *disp;    /* dispatched offset = cq_offset */
    index_sink *idx;     /* index entries added (when to flush the memtable) */
    flusher *fl;         /* CommitLog flushed offset */
} ckpt_parts;

typedef struct checkpoint {
    ckpt_parts p;
    char path[700];
    int fd;
    uint8_t page[4096];
    ckpt_data last;
    int64_t index_flush_ms;     /* store-ckpt: last index flush (monotonic) */
    int64_t index_keys_flushed;
    ticker tick;                /* store-ckpt: ckpt_run_once every flushIntervalConsumeQueue */
} checkpoint;

/* Opens (creating) the file and reads the newest valid slot into *loaded;
 * returns 0, STORE_ERR_NOT_FOUND (no valid slot) or an I/O error. */
int ckpt_open(checkpoint *c, const ckpt_parts *parts, const char *root, int interval_ms,
              ckpt_data *loaded);
/* Writes d as the next slot (d->seq is assigned). */
int ckpt_write(checkpoint *c, ckpt_data *d);
/* Flushes every ConsumeQueue and writes a checkpoint for the dispatched offset. */
int ckpt_run_once(checkpoint *c);
int ckpt_start(checkpoint *c);
void ckpt_stop(checkpoint *c);
void ckpt_close(checkpoint *c);

#endif
