/*
 * txn_internal.h - what the files of broker/transaction/ share; not an
 * interface for the rest of the broker (that is transaction.h).
 */
#ifndef MQ_BROKER_TXN_INTERNAL_H
#define MQ_BROKER_TXN_INTERNAL_H

#include <ev.h>

#include "bytes.h"
#include "hashmap.h"
#include "names.h"
#include "transaction.h"

/* ---- pending.c: the pending index ----
 * One 48-byte entry per pending half message in a pool (array + free list),
 * a u64map half queue offset -> pool slot, and a binary min-heap of slots
 * ordered by next check time. No allocation per transaction once the arrays
 * have grown. */
typedef struct txn_entry {
    int64_t half_offset;     /* queue offset in RMQ_SYS_TRANS_HALF_TOPIC (the key) */
    int64_t half_phys;       /* CommitLog offset of the half message */
    int64_t next_check_ms;   /* wall clock of the next check */
    int64_t op_mark;         /* op queue length when the half was stored (T2 scan start) */
    uint32_t group;          /* interned producer group (txn_groups) */
    uint16_t checks;         /* checks sent */
    uint16_t unused;
    uint32_t heap_pos;       /* index in the heap */
    uint32_t next_free;      /* free-list link while unused */
} txn_entry;

typedef struct txn_pending {
    txn_entry *pool;
    uint32_t pool_len, pool_cap, free_head;
    uint32_t *heap;          /* pool slots */
    uint32_t heap_len, heap_cap;
    u64map by_offset;        /* half_offset -> (void *)(slot + 1) */
} txn_pending;

void txn_pending_init(txn_pending *p);
void txn_pending_free(txn_pending *p);
/* Adds an entry (copied); returns it, or the existing one for the offset. */
txn_entry *txn_pending_add(txn_pending *p, const txn_entry *e);
txn_entry *txn_pending_get(txn_pending *p, int64_t half_offset);
/* Removes and returns true if it was there (*out gets a copy when not NULL). */
bool txn_pending_remove(txn_pending *p, int64_t half_offset, txn_entry *out);
/* The entry due first, or NULL when empty. */
txn_entry *txn_pending_top(txn_pending *p);
/* Call after changing e->next_check_ms. */
void txn_pending_reschedule(txn_pending *p, txn_entry *e);
size_t txn_pending_count(const txn_pending *p);
/* Bytes held by the index's arrays (for the memory figure). */
size_t txn_pending_bytes(const txn_pending *p);

/* A parked half message (also persisted in meta_db under "p<offset>"). */
typedef struct txn_parked {
    int64_t half_offset;
    int64_t half_phys;
    int64_t copy_phys;       /* its copy in TRANS_CHECK_MAX_TIME_TOPIC (or half_phys) */
    int64_t parked_ms;
    int32_t checks;
    uint32_t group;
} txn_parked;

/* ---- the service ---- */
struct txn_service {
    broker *b;
    store *s;
    struct meta_db *meta;     /* namespace TXN_NS: check counts, parked set, scan marks */
    txn_pending pending;
    u64map parked;            /* half_offset -> txn_parked* */
    strmap group_ids;         /* producer group -> id + 1 */
    char **groups;            /* id -> name */
    uint32_t n_groups;
    int64_t op_next;          /* next queue offset of the op queue */
    int64_t half_next;        /* next queue offset of the half queue */
    int64_t marks_half, marks_op; /* last persisted scan marks */
    int64_t marks_saved_ms;
    bytebuf props;            /* reusable: half / real / op properties */
    bytebuf props2;
    bytebuf sched_props;      /* reusable: a committed message rewritten by sched_prepare */
    bytebuf rec;              /* reusable: check-back body */
    msg_host self_host;       /* born host of op records */
    ev_timer timer;
    uint32_t rr;              /* round robin over a group's producers */
    int64_t started_ms;       /* wall clock at open */
    bool ready;               /* the index was rebuilt completely */
    int64_t park_log_ms;      /* rate limit of the parking log line */
    uint64_t park_log_count;
    int64_t noprod_log_ms;
    uint64_t noprod_log_count;
    txn_stats st;
};

/* transaction.c */
uint32_t txn_group_id(txn_service *t, const char *name, size_t len);
const char *txn_group_name(const txn_service *t, uint32_t id);
int64_t txn_first_check_ms(const txn_service *t, const msg_record *half);
/* meta_db key of a half offset: prefix + 20 digits (sorts like the offset). */
void txn_meta_key(char prefix, int64_t half_offset, char key[24]);
void txn_parked_save(txn_service *t, const txn_parked *pk);
void txn_parked_forget(txn_service *t, int64_t half_offset);
void txn_marks_save(txn_service *t, bool force);

/* half.c: records */
/* Reads and decodes the record at phys (pin released by the caller). */
int txn_read(txn_service *t, int64_t phys, msg_record *r, store_pin *pin);
/* True if r is a half message (half topic) with queue offset half_offset. */
bool txn_is_half_record(const msg_record *r, int64_t half_offset);
/* Builds the committed real message from a half record into *out, its
 * properties in t->props2. Returns 0 or -1 (REAL_TOPIC/REAL_QID missing). */
int txn_real_record(txn_service *t, const msg_record *half, int64_t half_phys, msg_record *out);
/* Builds an op record for a decision ('c', 'r', 'p') into *out (properties
 * in t->props, body in body[24]). */
void txn_op_record(txn_service *t, char op, int64_t half_offset, int64_t store_ms, char body[24], msg_record *out);

/* op.c: decisions and rebuild */
int txn_apply(txn_service *t, char op, int64_t half_offset, const msg_record *half, int64_t half_phys,
              int checks, store_put_result *res, int64_t *second_phys);
int txn_rebuild(txn_service *t, char *err, size_t errlen);

/* txn_check.c */
void txn_check_start(txn_service *t);
void txn_check_stop(txn_service *t);

#define TXN_PROP_OP "TXN_OP"        /* our op-record property: c, r or p */
#define TXN_OP_TAG "d"              /* RocketMQ's REMOVE_TAG */
#define TOPIC_PARKED TOPIC_TRANS_CHECK_MAX_TIME
#define TXN_NS META_NS_TXN         /* meta_db namespace */

#endif
