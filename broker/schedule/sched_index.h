/*
 * sched_index.h - the on-disk index of pending scheduled messages (internal
 * to broker/schedule/; the unit tests use it directly).
 *
 * Its own RocksDB database (one default column family). Keys:
 *   'k' due_ms(8, big-endian) cl_offset(8, BE) -> size(4, BE) level(1) flags(1)
 *        one pending message: its due time and the CommitLog offset of its
 *        scheduled record; level 0 = exact-time (timer) message. Keys sort
 *        by due time, then by CommitLog offset (store order).
 *   'v' name -> int64 (8, BE)
 *        read offsets of the schedule queues ("q:<topic>:<queue>"), per-level
 *        counters ("i:<level>" ingested, "d:<level>" delivered), and the
 *        delivery marker ("inflight": CommitLog offset below which no re-put
 *        of the batch in progress can lie).
 * Memory: RocksDB's memtables (bounded: 2 x 16 MiB) and an 8 MiB block cache
 * holding index and filter blocks too, so nothing grows with the number of
 * keys. Writes go through the WAL without fsync (they survive a process
 * crash; see schedule.h for the machine-crash reasoning).
 *
 * Threads: RocksDB is thread-safe; a batch belongs to one thread.
 */
#ifndef MQ_SCHED_INDEX_H
#define MQ_SCHED_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sched_index sched_index;
typedef struct sched_ibatch sched_ibatch;

enum { SCHED_KEY_ROLL = 1 }; /* flags: parked far-future message, re-put to the timer topic */

typedef struct sched_key {
    int64_t due_ms;
    int64_t offset; /* CommitLog offset of the scheduled record */
    int32_t size;
    uint8_t level;  /* 0 = timer */
    uint8_t flags;
} sched_key;

int sched_index_open(const char *dir, sched_index **out, char *err, size_t errlen);
void sched_index_close(sched_index *ix);

/* Reads a named value; returns dflt when absent. */
int64_t sched_index_get(sched_index *ix, const char *name, int64_t dflt);

/* Up to max keys in key order starting at (from_due, from_off) inclusive
 * whose due_ms <= until_ms, into out. Returns the count (or -1 on a RocksDB
 * error). *next_due receives the due time of the first key after those
 * returned (the first key not due yet, or the one after a full array), or 0
 * when there is none. */
int sched_index_take(sched_index *ix, int64_t from_due, int64_t from_off, int64_t until_ms,
                     sched_key *out, int max, int64_t *next_due);

/* Finds the key of a CommitLog offset with a known due time. 1 found, 0 not. */
int sched_index_find(sched_index *ix, int64_t due_ms, int64_t offset, sched_key *out);

/* Atomic batches: everything put into one batch is applied at once. */
sched_ibatch *sched_ibatch_new(void);
void sched_ibatch_clear(sched_ibatch *b);
void sched_ibatch_free(sched_ibatch *b);
void sched_ibatch_put_key(sched_ibatch *b, const sched_key *k);
void sched_ibatch_del_key(sched_ibatch *b, int64_t due_ms, int64_t offset);
void sched_ibatch_set(sched_ibatch *b, const char *name, int64_t v);
void sched_ibatch_del(sched_ibatch *b, const char *name);
int sched_ibatch_count(const sched_ibatch *b);
/* Applies b (WAL; fsync when sync). 0 or -1 (logged). */
int sched_index_write(sched_index *ix, sched_ibatch *b, bool sync);

#endif
