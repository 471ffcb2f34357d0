/*
 * index.h - the message-key index and the store's bookkeeping inside the
 * RocksDB column family "store_index". Key formats (all lengths big-endian):
 *
 *   'K' topic_len(2) topic key_len(2) key store_ms(8) phys(8)  -> ""
 *       one per UNIQ_KEY and per space-separated KEYS token of a record
 *   'Q' topic_len(2) topic queue_id(4)                         -> ""
 *       every queue that ever received an entry (to notice a lost
 *       ConsumeQueue directory at open)
 *   'M' "dispatch"                                              -> offset(8)
 *       CommitLog offset below which every index entry is written; it is
 *       part of the same atomic write batch as the entries it covers
 *
 * Writer: the store-dispatch thread, one write batch per dispatch round,
 * memtable only (no WAL: no syscall and no journal wait on the dispatch
 * path). A crash loses the unflushed memtable; since memtables are flushed
 * in order, what survives is a prefix of the writes, and the marker inside
 * it says where recovery must redo from. store-ckpt flushes the column
 * family every INDEX_FLUSH_INTERVAL_MS, which bounds that redo.
 * Readers: any thread.
 */
#ifndef MQ_STORE_INDEX_H
#define MQ_STORE_INDEX_H

#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>

#include "kv.h"

/* Adds the index entries of one record (its UNIQ_KEY and each token of its
 * KEYS, either may be NULL) to wb; returns how many. */
int idx_add_record(rocksdb_writebatch_t *wb, kv_db *kv, const char *topic, size_t tlen,
                   const char *uniq, size_t ulen, const char *keys, size_t klen,
                   int64_t store_ms, int64_t phys);
/* Adds the dispatch marker / a queue registration to wb. */
void idx_add_marker(rocksdb_writebatch_t *wb, kv_db *kv, int64_t offset);
void idx_add_queue(rocksdb_writebatch_t *wb, kv_db *kv, const char *topic, size_t tlen,
                   int32_t qid);
/* Writes wb and clears it: through the WAL (no sync), or memtable only. */
int idx_write(kv_db *kv, rocksdb_writebatch_t *wb, bool wal);

/* Reads the dispatch marker; STORE_ERR_NOT_FOUND on a new database. */
int idx_load_marker(kv_db *kv, int64_t *offset);

/* Calls cb for every registered queue. */
typedef void (*idx_queue_cb)(void *arg, const char *topic, size_t tlen, int32_t qid);
int idx_foreach_queue(kv_db *kv, idx_queue_cb cb, void *arg);
/* Forgets a topic's registered queues. */
int idx_delete_topic(kv_db *kv, const char *topic);

/* Offsets of topic's records indexed under key with store time in
 * [begin, end], newest first, skipping offsets below cl_min. */
int idx_query(kv_db *kv, const char *topic, const char *key, int64_t begin, int64_t end,
              int64_t cl_min, int64_t *offsets, int cap);

#endif
