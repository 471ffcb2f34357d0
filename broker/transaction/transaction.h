/*
 * transaction.h - transactional messages on the broker: half messages,
 * decisions (commit / rollback), check-back and parking. The one interface
 * of broker/transaction/ (the files behind it: pending.c, half.c, op.c,
 * txn_check.c, transaction.c; docs/STORE.md "Transactions").
 *
 * Life of a transaction (RocketMQ's protocol, ROCKETMQ-FACTS.md section 6):
 *   1. A send with the PREPARED sysflag or TRAN_MSG=true is stored as a half
 *      message in RMQ_SYS_TRANS_HALF_TOPIC queue 0 with REAL_TOPIC/REAL_QID
 *      (txn_half_prepare + txn_half_stored). No consumer can read that topic.
 *   2. END_TRANSACTION decides it: a commit appends [op record, real message]
 *      in one CommitLog batch, a rollback appends [op record]. Op records live
 *      in RMQ_SYS_TRANS_OP_HALF_TOPIC queue 0 (tag "d", body = half queue
 *      offset, as RocketMQ) and carry the decision in property TXN_OP.
 *   3. Undecided after transactionTimeOut (or CHECK_IMMUNITY_TIME_IN_SECONDS),
 *      the producer group is asked with CHECK_TRANSACTION_STATE, every
 *      transactionCheckInterval, at most transactionCheckMax times; then the
 *      message is parked: [op "p", copy in TRANS_CHECK_MAX_TIME_TOPIC].
 *      Parked messages wait for an operator (mqadmin resolveTransaction) or a
 *      late END_TRANSACTION from the producer.
 *
 * Invariants (numbered in the code where they are kept):
 *   T1 A half message is in exactly one of: pending (in memory index),
 *      parked (in memory + meta_db), resolved (neither). Moves happen on
 *      the loop thread, right after the CommitLog append that records them,
 *      so a second decision always finds the first one.
 *   T2 A commit's op record precedes its real message in the same batch; on
 *      start, a commit op whose real message did not survive is redone, and
 *      a commit op followed by its real message is never redone: the real
 *      message exists exactly once.
 *   T3 Only pending messages are checked: a decided or parked one is never
 *      checked again, including after a restart (the index is rebuilt from
 *      the half and op queues before the broker serves).
 *
 * Threads: everything runs on the broker's loop thread: the processors call
 * in, and the check-back is a timer on that loop (each tick handles at most
 * a bounded number of due messages). txn_open blocks while it rebuilds the
 * index (before the broker serves).
 */
#ifndef MQ_BROKER_TRANSACTION_H
#define MQ_BROKER_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_context.h"
#include "message.h"
#include "store/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct txn_service txn_service;

/* Counters for runtime info (loop thread). */
typedef struct txn_stats {
    uint64_t pending;        /* half messages waiting for a decision */
    uint64_t parked;         /* parked after transactionCheckMax checks, not resolved yet */
    uint64_t halves;         /* half messages stored since start */
    uint64_t committed;      /* commits applied since start */
    uint64_t rolled_back;    /* rollbacks applied since start */
    uint64_t checks_sent;    /* CHECK_TRANSACTION_STATE sent since start */
    uint64_t checks_no_producer; /* check rounds with no live producer of the group */
    uint64_t parked_total;   /* messages parked since start */
    uint64_t ignored;        /* END_TRANSACTION for resolved/unknown half messages */
    uint64_t redone;         /* commits redone at start (real message lost in a crash) */
    int64_t check_delay_max_ms; /* largest lateness of a check after its due time */
    uint64_t index_bytes;    /* memory of the pending index (arrays) */
} txn_stats;

/* Opens the service: rebuilds the pending index from the half and op queues
 * (blocks), starts the check timer on b->loop. Returns 0 or -1 with err. */
int txn_open(broker *b, txn_service **out, char *err, size_t errlen);
/* Stops the timer, persists the scan marks, frees memory. NULL is a no-op.
 * Call before store_close. */
void txn_close(txn_service *t);

void txn_get_stats(const txn_service *t, txn_stats *out);

/* ---- phase 1: half messages (processor_send.c) ---- */

/* True if a send is transactional (PREPARED sysflag or TRAN_MSG=true). */
bool txn_is_prepared(int32_t sysflag, const char *props, size_t plen);

/* Turns r (a validated send to its real topic/queue) into the half record:
 * topic RMQ_SYS_TRANS_HALF_TOPIC, queue 0, transaction bits cleared,
 * properties + REAL_TOPIC, REAL_QID (and PGROUP from producer_group when the
 * message lacks it). The new properties live in a buffer of t, valid until
 * the next call. Returns 0, or -1 with err (message illegal). */
int txn_half_prepare(txn_service *t, msg_record *r, const char *producer_group, char *err, size_t errlen);
/* Records a stored half message in the pending index (call right after a
 * successful store_put of the record txn_half_prepare produced). */
void txn_half_stored(txn_service *t, const msg_record *r, const store_put_result *res);

/* ---- phase 2: decisions (processor_transaction.c) ---- */

typedef enum txn_decision {
    TXN_COMMIT = MSG_SYSFLAG_TX_COMMIT,
    TXN_ROLLBACK = MSG_SYSFLAG_TX_ROLLBACK,
} txn_decision;

typedef enum txn_end_status {
    TXN_END_APPLIED = 0,      /* decision written; wait for end_offset to be durable */
    TXN_END_ALREADY = 1,      /* the half message was resolved before: nothing done */
    TXN_END_UNKNOWN = 2,      /* no half message at these offsets */
    TXN_END_MISMATCH = 3,     /* producer group / offsets do not match the half message */
    TXN_END_STORE_ERROR = 4,  /* the append failed (store_status says why) */
} txn_end_status;

typedef struct txn_end_result {
    txn_end_status status;
    store_put_status store_status;
    int64_t end_offset;       /* CommitLog end of what was written (APPLIED) */
    char remark[256];
} txn_end_result;

/* Applies a decision for the half message at half queue offset
 * half_offset and CommitLog offset commit_log_offset. producer_group may be
 * NULL (not checked: operator resolution). */
void txn_end(txn_service *t, int64_t half_offset, int64_t commit_log_offset, const char *producer_group,
             txn_decision decision, txn_end_result *res);

/* Operator resolution by message id: a UNIQ_KEY (transaction id) or an offset
 * message id of the half (or parked copy). Fills *half_offset and
 * *commit_log_offset of the pending or parked half message; returns 0 or -1
 * with err. */
int txn_find(txn_service *t, const char *msg_id, int64_t *half_offset, int64_t *commit_log_offset,
             char *err, size_t errlen);

/* ---- operators: listing ---- */

typedef struct txn_info {
    int64_t half_offset;
    int64_t commit_log_offset;  /* of the half message */
    int64_t store_ms;           /* when the half message was stored */
    int64_t next_check_ms;      /* pending: next check; 0 for parked */
    int64_t parked_ms;          /* parked: when; 0 for pending */
    int32_t checks;
    bool parked;
    char producer_group[256];
    char msg_id[64];            /* UNIQ_KEY */
    char offset_msg_id[MSG_ID_BUF];
    char topic[256];            /* real topic */
    int32_t queue_id;           /* real queue */
    char keys[256];
    char tags[128];
} txn_info;

/* Pending (parked=false) or parked half messages, oldest first, optionally
 * of one producer group (NULL = all), at most cap into out. Returns how many
 * match in all (may exceed cap). */
size_t txn_list(txn_service *t, bool parked, const char *producer_group, txn_info *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
