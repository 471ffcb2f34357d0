/*
 * recovery.h - start-up recovery (see recovery.c and docs/STORE.md,
 * "Recovery"): brings the CommitLog, the ConsumeQueues and the index in line
 * after they are loaded, before any service thread exists.
 */
#ifndef MQ_STORE_RECOVERY_H
#define MQ_STORE_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "dispatch.h"
#include "kv.h"

/* What recovery works on (borrowed from the store, which composes them). */
typedef struct recovery_parts {
    commitlog *cl;
    cq_table *cqs;
    kv_db *kv;              /* the index's dispatch marker and queue registry */
    dispatcher *disp;       /* initialised with its sinks, not started: the redo runs through it */
    index_sink *idx;        /* redo: entries below its durable point are skipped */
    cq_sink *cqsink;        /* redo as above; tag codes for rebuilt queues */
    const char *root;       /* for log lines */
    bool crashed;           /* the last run did not close cleanly (or no checkpoint) */
    int32_t max_message_size;
    int64_t limit;          /* the log ends at or before this offset (INT64_MAX: no limit) */
} recovery_parts;

/* `ck` is the loaded checkpoint or NULL. Sets *end to the recovered end of
 * the CommitLog, the dispatcher's position to it and the dispatched offset.
 * Single-threaded. Returns 0 or a STORE_ERR_* code with err. */
int store_recover(const recovery_parts *p, const ckpt_data *ck, int64_t *end, char *err,
                  size_t errlen);

#endif
