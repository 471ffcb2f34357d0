/*
 * schedule.h - scheduled delivery: delay levels (RocketMQ's DELAY property)
 * and exact delivery times (TIMER_DELIVER_MS / TIMER_DELAY_MS /
 * TIMER_DELAY_SEC). The one interface of broker/schedule/.
 *
 * Two parts (design: docs/STORE.md "Scheduled messages"):
 *
 * 1. sched_prepare(): called by every path that stores a message a client
 *    (or the broker itself) asked to deliver later - processor_send.c for
 *    SEND_MESSAGE, the send-back (retry) processor, a transaction commit.
 *    It rewrites the record into its scheduled form, exactly as RocketMQ
 *    does: the real topic and queue are saved in the properties REAL_TOPIC
 *    and REAL_QID, and the record goes to a system topic the store indexes
 *    like any other (its ConsumeQueue is built by the store's dispatcher):
 *      - DELAY=N (N >= 1): topic SCHEDULE_TOPIC_XXXX, queue N-1 (RocketMQ
 *        4's layout; the dispatcher writes the delivery time into the CQ
 *        tag field). N above the highest configured level is clamped to the
 *        highest (DELAY is rewritten to the clamped level), as RocketMQ does.
 *      - TIMER_DELIVER_MS / TIMER_DELAY_MS / TIMER_DELAY_SEC: topic
 *        rmq_sys_wheel_timer, queue 0, property TIMER_OUT_MS = the due time
 *        in epoch ms (RocketMQ 5's timer layout, exact to the millisecond:
 *        no rounding to a precision). A due time already reached makes a
 *        normal message (as RocketMQ 5). DELAY wins over the timer
 *        properties, which are then removed (as RocketMQ 5).
 *
 * 2. sched_service: two threads that deliver what was stored in scheduled
 *    form. sched-ingest reads the schedule queues from persisted offsets and
 *    records (due ms, CommitLog offset) keys in an on-disk index (its own
 *    RocksDB under <storePathRootDir>/schedule), atomically with the read
 *    offsets; sched-deliver takes due keys in due order, re-puts each
 *    message into its real topic and queue (store_put_batch, no fsync per
 *    message) and deletes the keys. Nothing in memory grows with the number
 *    of pending messages; bodies stay in the CommitLog. Each re-put carries
 *    the property SCHED_ORIGIN (CommitLog offset of the scheduled record) so
 *    that a crash between the re-put and the key deletion is repaired at
 *    start without delivering twice.
 *
 * Threads: sched_prepare is a pure function (any thread). sched_service_*
 * may be called from any thread.
 */
#ifndef MQ_SCHED_H
#define MQ_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

struct store;

/* System topic of exact-time (timer) messages, as RocketMQ 5. Delay-level
 * messages use SCHEDULE_TOPIC_XXXX (MSG_TOPIC_SCHEDULE). */
#define SCHED_TOPIC_TIMER "rmq_sys_wheel_timer"
/* Property of a delivered message: CommitLog offset of its scheduled copy. */
#define SCHED_PROP_ORIGIN "SCHED_ORIGIN"
/* Delay levels the service can track (messageDelayLevel entries). */
#define SCHED_MAX_LEVELS 64

/* ---- rewriting a message into its scheduled form ------------------------- */

enum {
    SCHED_NONE = 0,  /* not scheduled: r and props untouched, store as is */
    SCHED_LEVEL = 1, /* rewritten to SCHEDULE_TOPIC_XXXX, queue level-1 */
    SCHED_TIMER = 2, /* rewritten to rmq_sys_wheel_timer, queue 0 */
    SCHED_ERR = -1,  /* refused: err says why (answer MESSAGE_ILLEGAL) */
};

/* Turns a msg_record about to be stored into its scheduled form when its
 * properties ask for a later delivery.
 *
 * In: r fully filled for its REAL topic and queue (topic, queue_id,
 * properties, sysflag...); s gives the configured delay levels
 * (messageDelayLevel); max_delay_sec is timerMaxDelaySec; now_ms the wall
 * clock (epoch ms) the delay is counted from. props is a caller-owned
 * buffer (initialised, reusable; its old contents are discarded).
 *
 * Out, by return value:
 *   SCHED_NONE  - nothing to schedule (no DELAY/TIMER_* property, DELAY=0,
 *                 a due time already reached, or a PREPARED/ROLLBACK
 *                 transactional record: a half message is never delayed;
 *                 call this again on commit). r and props are not changed.
 *   SCHED_LEVEL / SCHED_TIMER - r->topic, r->topic_len, r->queue_id,
 *                 r->properties and r->properties_len now describe the
 *                 scheduled record: r->properties points into props (keep
 *                 props alive until the put returns), r->topic at a static
 *                 string. Everything else in r (body, flag, sysflag, born
 *                 time and host, reconsume times, UNIQ_KEY and other
 *                 properties) is kept. Put r with store_put as usual.
 *   SCHED_ERR   - refused, nothing changed; err (errlen bytes) holds a
 *                 one-line reason for the client: a DELAY or TIMER_* value
 *                 that is not an integer, a negative level, delay or
 *                 delivery time, a delivery time more than max_delay_sec
 *                 after now_ms, or no delay levels configured.
 *
 * Pure: reads only its arguments (and the store's level table); any thread.
 * Batches: call it per item (RocketMQ refuses delayed batches; we store each
 * item in its scheduled form: store_put_batch takes mixed topics). */
int sched_prepare(struct store *s, int64_t max_delay_sec, int64_t now_ms, msg_record *r,
                  bytebuf *props, char *err, size_t errlen);

/* ---- the delivery service -------------------------------------------------- */

typedef struct sched_service sched_service;

typedef struct sched_config {
    char dir[512];          /* index database directory (<storePathRootDir>/schedule) */
    int32_t batch;          /* messages per re-put batch (default 1024) */
    int32_t poll_ms;        /* idle re-check of the schedule queues (default 20) */
    int64_t roll_window_ms; /* keys further than this are parked and re-put ("rolled") when
                               they reach it, so their body stays younger than CommitLog
                               retention; default 24 h; 0 = never roll */
    bool sync_flush;        /* SYNC_FLUSH store: a re-put is made durable before its key
                               is deleted */
    int64_t commitlog_segment_size; /* mapedFileSizeCommitLog (crash repair walks segments) */
} sched_config;

void sched_config_init(sched_config *c);

/* Opens the index (creating it), repairs a delivery interrupted by a crash
 * (see the top comment), and starts sched-ingest and sched-deliver. The
 * store must stay open until sched_service_stop. Blocks during the repair.
 * Returns 0, or -1 with a one-line reason in err. */
int sched_service_start(struct store *s, const sched_config *cfg, sched_service **out, char *err,
                        size_t errlen);
/* Stops both threads (a batch in progress completes), closes the index and
 * frees. NULL is a no-op. Blocks. Call before store_close. */
void sched_service_stop(sched_service *sv);

typedef struct sched_stats {
    int32_t levels;                       /* configured delay levels */
    int64_t level_pending[SCHED_MAX_LEVELS]; /* stored, not yet delivered, per level (index 0 = level 1) */
    int64_t timer_pending;                /* exact-time messages stored, not yet delivered */
    int64_t indexed;                      /* keys in the index (ingested, not delivered) */
    int64_t delivered;                    /* re-puts since start */
    int64_t rolled;                       /* parked far-future messages re-put since start */
    int64_t lost;                         /* keys whose record was gone (retention), since start */
    int64_t lag_ms;                       /* now - due time of the oldest due, undelivered key (0 if none) */
    int64_t ingest_lag;                   /* schedule-queue entries not yet indexed */
    int64_t next_due_ms;                  /* earliest due time in the index, 0 if empty */
} sched_stats;

/* A snapshot of the counters. Cheap (no disk I/O but a few RocksDB reads). */
void sched_service_stats(sched_service *sv, sched_stats *out);

#ifdef __cplusplus
}
#endif

#endif
