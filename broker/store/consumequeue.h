/*
 * consumequeue.h - the ConsumeQueues: per (topic, queue id) an array of
 * 20-byte entries (CommitLog offset 8 | record size 4 | tag code 8), the
 * entry for queue offset q at byte q * 20, split into fixed-size mapped files
 * under consumequeue/<topic>/<queueId>/<20-digit byte offset>.
 *
 * Writer: the store-dispatch thread only (and recovery, single-threaded,
 * before the threads start). An entry is written completely before max_offset
 * moves past it (release store), so a reader that loads max_offset (acquire)
 * and stays below it always reads complete entries.
 * Readers: any thread (pulls, offset queries), through cq_get (a referenced
 * queue) and cq_file_at (a referenced file).
 * store-ckpt flushes files (owns `flushed`); store-clean deletes files whose
 * entries all point below the CommitLog's min offset and moves min_offset.
 * The table (topic -> queue id -> queue) is guarded by a rwlock; a queue's
 * file array by its mutex. Queues are reference counted: a deleted topic's
 * queues are freed when the last user lets go.
 */
#ifndef MQ_STORE_CONSUMEQUEUE_H
#define MQ_STORE_CONSUMEQUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"
#include "hashmap.h"
#include "mapped_file.h"

#define CQ_UNIT 20
#define CQ_BLANK_SIZE INT32_MAX /* filler entry before a queue's first real one */

typedef struct cq_entry {
    int64_t phys;
    int32_t size;
    int64_t tag;
} cq_entry;

typedef struct consume_queue {
    char *topic; /* NUL-terminated */
    size_t topic_len;
    int32_t qid;
    char *dir;
    int64_t file_size;
    const store_io_hooks *hooks;
    atomic_int refs;
    atomic_bool deleted;
    bool damaged;                 /* load found gaps / bad sizes: rebuild */
    pthread_mutex_t lock;         /* files */
    mapped_file **files;          /* ascending, contiguous */
    size_t nfiles, files_cap;
    _Atomic int64_t min_offset;   /* first queue offset available */
    _Atomic int64_t max_offset;   /* next queue offset to be written */
    int64_t flushed;              /* bytes made durable (store-ckpt) */
    mapped_file *tail;            /* dispatcher's referenced current file */
    bool started;                 /* writer: first entry placed (min fixed) */
    uint64_t round;               /* dispatcher: last round that touched it */
    uint8_t *stage;               /* dispatcher: appended entries not yet written */
    int64_t stage_q0;             /* queue offset of stage's first entry */
    int nstage;
} consume_queue;

typedef struct cq_table {
    char root[600];
    int64_t file_size;
    const store_io_hooks *hooks;
    pthread_rwlock_t lock;
    strmap topics; /* topic -> u64map * (queue id -> consume_queue *) */
    atomic_long count;
} cq_table;

/* dir: the ConsumeQueues' folder (<root>/consumequeue or
 * storePathConsumeQueue), created if missing. */
int cq_table_init(cq_table *t, const char *dir, int64_t file_size,
                  const store_io_hooks *hooks);
/* Maps every existing queue (single-threaded, at open). Queues with gaps or
 * wrong file sizes are marked damaged, not fatal. */
int cq_table_load(cq_table *t, char *err, size_t errlen);
void cq_table_destroy(cq_table *t);

/* Referenced queue or NULL. */
consume_queue *cq_get(cq_table *t, const char *topic, size_t tlen, int32_t qid);
/* Referenced queue, created (directory and table entry) if new. */
consume_queue *cq_get_or_create(cq_table *t, const char *topic, size_t tlen, int32_t qid,
                                bool *created);
void cq_ref(consume_queue *q);
void cq_unref(consume_queue *q);

/* Referenced snapshot of every queue (or of one topic's if topic != NULL).
 * Release with cq_snapshot_free. */
consume_queue **cq_snapshot(cq_table *t, const char *topic, size_t *n);
void cq_snapshot_free(consume_queue **qs, size_t n);

/* Writes the entry for queue offset qoff (dispatcher / recovery). Entries
 * below min are ignored (already cleaned); a gap after max is filled with
 * blank entries. Returns 0 or a negative errno (file creation). */
int cq_put(consume_queue *q, int64_t qoff, int64_t phys, int32_t size, int64_t tag);
/* cq_put for the dispatcher: an entry appended at max is kept in the
 * queue's stage (up to CQ_STAGE entries, one file) and written, with the
 * ones before it, in one pwrite by cq_write_staged, which also publishes
 * them (max_offset); anything else is written at once, after the stage. */
int cq_put_staged(consume_queue *q, int64_t qoff, int64_t phys, int32_t size, int64_t tag);
/* via_map: store the staged entries through the mapping instead. */
void cq_write_staged(consume_queue *q, bool via_map);

/* Reads one entry below max_offset. Returns 0 or STORE_ERR_NOT_FOUND. */
int cq_read(consume_queue *q, int64_t qoff, cq_entry *out);
/* Referenced file holding queue offset qoff, or NULL. */
mapped_file *cq_file_at(consume_queue *q, int64_t qoff);

/* Reads the entry of queue offset qoff from file f (which must hold it). */
static inline void cq_entry_at(const mapped_file *f, int64_t qoff, cq_entry *e)
{
    const uint8_t *p = f->base + (qoff * CQ_UNIT - f->start);
    e->phys = (int64_t)be64_load(p);
    e->size = (int32_t)be32_load(p + 8);
    e->tag = (int64_t)be64_load(p + 12);
}

static inline int64_t cq_min(consume_queue *q)
{
    return atomic_load_explicit(&q->min_offset, memory_order_acquire);
}
static inline int64_t cq_max(consume_queue *q)
{
    return atomic_load_explicit(&q->max_offset, memory_order_acquire);
}

/* Recovery: drops entries pointing at or past CommitLog offset end. An entry
 * there that cannot be a real one (size outside [88, max_record]) marks the
 * queue damaged instead (returns -1). */
int cq_truncate_phys(consume_queue *q, int64_t end, int32_t max_record);
/* Removes every file and resets the queue to empty (rebuild). */
void cq_reset(consume_queue *q);
/* Flushes written entries not yet durable (store-ckpt). */
int cq_flush(consume_queue *q);
/* Retention: deletes files whose entries all point below cl_min (never the
 * last file) and moves min_offset to the first entry >= cl_min. Returns the
 * number of files deleted. */
int cq_clean_below(consume_queue *q, int64_t cl_min);
/* First queue offset in [min, max) whose entry points at >= phys (entries are
 * in CommitLog order), or max. */
int64_t cq_lower_bound_phys(consume_queue *q, int64_t phys);

/* Removes a topic's queues from the table and deletes their files. */
int cq_delete_topic(cq_table *t, const char *topic);


#endif
