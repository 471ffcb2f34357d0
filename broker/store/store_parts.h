/*
 * store_parts.h - the narrow view of the store that its read API (query.c)
 * is given: the CommitLog, the ConsumeQueue table and the RocksDB database,
 * nothing else (no services, no configuration, no refusal state). store.c
 * composes the store and hands this view out.
 */
#ifndef MQ_STORE_PARTS_H
#define MQ_STORE_PARTS_H

#include "commitlog.h"
#include "consumequeue.h"
#include "kv.h"
#include "store.h"

typedef struct store_read_parts {
    commitlog *cl;
    cq_table *cqs;
    kv_db *kv;
} store_read_parts;

const store_read_parts *store_read_parts_of(store *s);

#endif
