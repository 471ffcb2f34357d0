/*
 * kv.h - the store's RocksDB database (under <root>/kv): one column family
 * "store_index" owned by the store (message-key index, queue registry,
 * dispatch marker; see index.h) and any number of named column families for
 * column families found at open (RocksDB must open every existing one; the
 * store creates no others: the broker keeps its data in its own database).
 *
 * RocksDB is thread-safe; kv_db only guards its table of column-family
 * handles with a mutex. The index column family drops entries that point
 * below the CommitLog's min offset during compaction (compaction filter
 * reading the CommitLog's atomic min offset).
 */
#ifndef MQ_STORE_KV_H
#define MQ_STORE_KV_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define KV_INDEX_CF "store_index"

typedef struct kv_cf {
    char *name;
    rocksdb_column_family_handle_t *h;
} kv_cf;

typedef struct kv_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *index_opts;
    rocksdb_compactionfilter_t *index_filter;
    rocksdb_writeoptions_t *wo;      /* WAL, no sync */
    rocksdb_writeoptions_t *wo_nowal; /* memtable only (index; redone after a crash) */
    rocksdb_writeoptions_t *wo_sync; /* WAL + fsync */
    rocksdb_readoptions_t *ro;
    pthread_mutex_t cf_lock;
    kv_cf **cfs;
    size_t ncfs;
    rocksdb_column_family_handle_t *index_cf;
    const _Atomic int64_t *cl_min; /* compaction filter threshold */
} kv_db;

/* dir: the database's folder (<root>/kv or storePathIndex). */
int kv_open(kv_db *kv, const char *dir, const _Atomic int64_t *cl_min, char *err,
            size_t errlen);
/* Flushes memtables (so the next open needs no WAL replay) and closes. */
void kv_close(kv_db *kv);
/* Compacts the index column family (drops entries below the min offset). */
void kv_compact_index(kv_db *kv);
/* Flushes the index column family's memtable to disk. */
int kv_flush_index(kv_db *kv);

#endif
