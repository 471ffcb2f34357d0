/*
 * meta_db.h - the broker's metadata database: a small RocksDB under
 * <storePathRootDir>/config holding topic configs ("topic"), subscription
 * group configs ("group") and consumer offsets ("offset"), each namespace a
 * column family. Values are opaque bytes (protobuf-encoded TopicConfig and
 * SubscriptionGroupConfig for the first two).
 *
 * Threads: RocksDB is thread-safe and so is every function here; the
 * namespace table is guarded by a mutex. A namespace is created the first
 * time something is written to it, and every existing namespace is opened
 * at start, so a new owner (timer index, transaction bookkeeping) needs no
 * change here.
 *
 * Durability: sync=true writes fsync the write-ahead log before returning
 * (config changes); sync=false writes are in the OS cache and survive a
 * broker crash but not a machine crash (consumer offsets, which are
 * rewritten every few seconds anyway).
 *
 * Errors: functions return 0 or a negative value and log RocksDB's reason
 * at error level; bad arguments (NULL or empty namespace/key) return -1.
 */
#ifndef MQ_META_DB_H
#define MQ_META_DB_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct meta_db;
struct meta_batch;

#define META_NS_TOPIC "topic"
#define META_NS_GROUP "group"
#define META_NS_OFFSET "offset"
#define META_NS_TXN "txn"

/* Opens (creating if needed) the database in dir (created with parents).
 * Returns 0, or -1 with err (e.g. another broker holds the lock). */
int meta_db_open(const char *dir, struct meta_db **out, char *err, size_t errlen);
/* Closes and frees; pending writes are durable as their sync flag said. */
void meta_db_close(struct meta_db *db);

int meta_db_put(struct meta_db *db, const char *ns, const char *key, const void *val, size_t len,
                bool sync);
/* 0 found (*val malloc'd, caller frees; *len its size), 1 not found, < 0 error. */
int meta_db_get(struct meta_db *db, const char *ns, const char *key, void **val, size_t *len);
/* Deleting a missing key is not an error. */
int meta_db_delete(struct meta_db *db, const char *ns, const char *key, bool sync);
/* Calls fn for every key of ns starting with prefix ("" = all), in key
 * order; key is NUL-terminated, val valid during the call only. fn returns
 * non-zero to stop. Returns 0, or < 0 on error. */
int meta_db_scan(struct meta_db *db, const char *ns, const char *prefix,
                 int (*fn)(void *arg, const char *key, const void *val, size_t len), void *arg);

/* Batches apply atomically (all or nothing) with one WAL write. A batch
 * copies what it is given; it is not tied to a database until written. */
struct meta_batch *meta_batch_new(void);
void meta_batch_put(struct meta_batch *b, const char *ns, const char *key, const void *val, size_t len);
void meta_batch_delete(struct meta_batch *b, const char *ns, const char *key);
int meta_db_write(struct meta_db *db, struct meta_batch *b, bool sync);
void meta_batch_free(struct meta_batch *b);

#ifdef __cplusplus
}
#endif

#endif
