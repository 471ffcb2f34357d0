/*
 * store_internal.h - the store object behind store.h, seen only by its
 * composer (store.c). The services (dispatch, flush, checkpoint, cleaner,
 * recovery, kv) and the read API (query.c, through store_parts.h) never
 * include it: each is given only the parts it needs. Nothing outside
 * broker/store includes this.
 *
 * Ownership: store_open builds every part in order (CommitLog, ConsumeQueues,
 * RocksDB, checkpoint, recovery, flusher, dispatcher, cleaner) and starts the
 * threads; store_close stops them in reverse dependency order and frees.
 */
#ifndef MQ_STORE_INTERNAL_H
#define MQ_STORE_INTERNAL_H

#include <stdatomic.h>

#include "checkpoint.h"
#include "cleaner.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "dispatch.h"
#include "flush.h"
#include "kv.h"
#include "recovery.h"
#include "store_parts.h"
#include "store.h"

#define STORE_MAX_DELAY_LEVELS 64

struct store {
    store_config cfg;
    int lock_fd;
    char abort_path[600];
    bool crashed;              /* the last run did not close cleanly */
    commitlog cl;
    cq_table cqs;
    kv_db kv;
    checkpoint ckpt;
    flusher fl;
    dispatcher disp;
    index_sink idx;            /* built-in sinks of disp, in this order */
    cq_sink cqsink;
    cleaner clean;
    int64_t delay_ms[STORE_MAX_DELAY_LEVELS];
    int ndelay;
    _Atomic int64_t put_refused;
    _Atomic int64_t disk_check_seg; /* segment of the last put: a new one reads the disk use */
    store_read_parts read;     /* query.c's view: &cl, &cqs, &kv */
    /* what has been set up, for unwinding a failed open */
    bool have_cl, have_cqs, have_kv, have_ckpt, have_fl, have_disp, have_clean, started;
};


#endif
