/*
 * cleaner.h - retention and disk-space guard (RocketMQ's CleanCommitLogService
 * and CleanConsumeQueueService).
 *
 * Every second (CLEANER_DISK_CHECK_MS, or clean_resource_interval if
 * shorter), on the store-clean thread, step 1; every clean_resource_interval
 * ms (or on the caller's thread through store_clean_now) a whole round:
 *  1. read the disk use of the CommitLog's partition and, when elsewhere,
 *     the ConsumeQueues' (the fuller counts); at or above the warning
 *     ratio the CommitLog refuses puts (DISK_FULL), below it accepts again.
 *     The room between the warning ratio and a full disk is what the
 *     ConsumeQueues, checkpoint, RocksDB (metadata, index) and a restart's
 *     recovery write into. A put that cannot create a segment (ENOSPC
 *     below the ratio) re-reads the disk use at once;
 *  2. at a deleteWhen hour, or at once above diskMaxUsedSpaceRatio, delete
 *     CommitLog segments older than fileReservedTime hours, oldest first, at
 *     most delete_commit_log_files_max per round, never the current one;
 *     only if clean_file_forcibly_enable (off by default, unlike RocketMQ)
 *     and above the clean-forcibly ratio, and no expired segment went this
 *     round: delete ONE unexpired segment, the oldest, never the current one
 *     nor one the dispatcher has not passed; logged (WARN) with its offsets
 *     and the queue offsets it held, and reported to on_forced_delete;
 *  3. delete ConsumeQueue files and key-index entries pointing below the new
 *     CommitLog min offset and move every queue's min offset;
 *  4. read the disk use again, so writes resume as soon as space is back.
 * A segment still pinned by a reader leaves the log at once (reads below the
 * min offset are refused) but its mapping and blocks live until the last pin
 * is released. Rounds are serialised by a mutex.
 */
#ifndef MQ_STORE_CLEANER_H
#define MQ_STORE_CLEANER_H

#include <pthread.h>

#include "ticker.h"
#include <stdbool.h>
#include <stdint.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "dispatch.h"
#include "kv.h"
#include "store.h"

#define CLEANER_DISK_CHECK_MS 1000

typedef struct cleaner {
    const store_config *cfg;    /* retention settings, disk-usage and clock hooks */
    commitlog *cl;              /* segments to delete, the DISK_FULL refusal */
    cq_table *cqs;              /* queue files below the new min offset */
    kv_db *kv;                  /* index compaction */
    dispatcher *disp;           /* never delete what it has not passed */
    ticker tick;                /* store-clean: a round every cleanResourceInterval */
    pthread_mutex_t round_lock; /* one round at a time */
    int hours[24];
    int nhours;
    _Atomic double disk_ratio;
    _Atomic int64_t segments_deleted;
    int64_t last_compaction_ms; /* monotonic; round_lock */
    int64_t last_round_ms;      /* monotonic; store-clean thread */
} cleaner;

int cleaner_init(cleaner *c, const store_config *cfg, commitlog *cl, cq_table *cqs, kv_db *kv,
                 dispatcher *disp);
/* One round; force_expired deletes expired segments regardless of the hour.
 * Returns the number of CommitLog segments deleted. */
int cleaner_run_once(cleaner *c, bool force_expired);
/* Only step 1 (used at open so a full disk is refused from the start). */
void cleaner_check_disk(cleaner *c);
int cleaner_start(cleaner *c);
void cleaner_stop(cleaner *c);
void cleaner_destroy(cleaner *c);

#endif
