/*
 * mq/consumer.h - consumers: the push consumer (the library pulls, the
 * application's listener is called for each message) and the pull consumer
 * (the application asks for messages of a queue at an offset).
 *
 * ---- Push consumer -------------------------------------------------------
 *
 * Life cycle: mq_push_consumer_new -> mq_push_consumer_subscribe (one or more
 * topics) -> mq_push_consumer_set_listener or _set_orderly_listener ->
 * mq_push_consumer_start -> ... -> mq_push_consumer_shutdown ->
 * mq_push_consumer_destroy.
 *
 * Threads: the I/O thread ("mq-io") pulls (long polling), rebalances,
 * heartbeats, commits offsets and runs every timer; it never calls the
 * listener. A pool of consume threads ("mq-consume-0".."N-1") runs the
 * listener. The application's threads call start, shutdown, suspend and
 * resume.
 *
 * CLUSTERING (default): the queues of each subscribed topic are shared among
 * the group's live consumers (AllocateMessageQueueAveragely over the sorted
 * queues and client ids), rebalanced every 20 s and at once when the broker
 * says the group changed. Each message goes to one consumer of the group;
 * offsets are committed to the broker every 5 s, on pulls and on shutdown.
 * The committed offset of a queue is its smallest message still being
 * consumed (or waiting to be), so a consumer that crashes or loses a queue
 * causes redelivery, never loss: delivery is at least once.
 * A concurrent listener's RECONSUME_LATER sends the message back to the
 * broker (retry topic %RETRY%<group>, which this consumer also subscribes
 * to), which redelivers it after delay level 3 + its reconsume count (10 s,
 * 30 s, 1 min, ...); after max_reconsume_times failures it goes to the
 * dead-letter topic %DLQ%<group> instead (see `mqadmin queryDlqMsg`). A
 * retried message is delivered with its original topic and message id;
 * mq_message_ext_reconsume_times says how often it failed before. If the
 * send-back fails the message is consumed again locally 5 s later.
 *
 * BROADCASTING: every consumer gets every queue; offsets are kept in a
 * local file (local_offset_dir); RECONSUME_LATER is logged and dropped.
 *
 * Orderly listener: the consumer locks its queues on the broker
 * (LOCK_BATCH_MQ, renewed every 20 s) and consumes a queue only while it
 * holds the lock, one batch at a time, in queue order.
 * SUSPEND_CURRENT_QUEUE_A_MOMENT retries the same messages after
 * suspend_current_queue_time_ms, holding the queue meanwhile (no retry
 * topic: order is kept); once a message has been retried
 * max_reconsume_times times (when set) it is sent to %DLQ%<group> and the
 * queue moves on.
 *
 * A group with no committed offset starts where consume_from says: the end
 * of each queue (LAST, default: only new messages), the first message
 * still stored (FIRST), or the first message stored at or after
 * consume_timestamp_ms (TIMESTAMP).
 *
 * ---- Pull consumer -------------------------------------------------------
 *
 * Stateless toward the broker: the application chooses queues and offsets,
 * and may store its offsets with the group on the broker. Every call blocks
 * the calling thread; calls are thread-safe.
 */
#ifndef MQ_MQ_CONSUMER_H
#define MQ_MQ_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/message.h"
#include "mq/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mq_message_model {
    MQ_CLUSTERING = 0,
    MQ_BROADCASTING = 1,
} mq_message_model;

typedef enum mq_consume_from {
    MQ_CONSUME_FROM_LAST_OFFSET = 0,
    MQ_CONSUME_FROM_FIRST_OFFSET = 1,
    MQ_CONSUME_FROM_TIMESTAMP = 2,
} mq_consume_from;

typedef enum mq_consume_status {
    MQ_CONSUME_SUCCESS = 0,
    MQ_RECONSUME_LATER = 1,
} mq_consume_status;

typedef enum mq_orderly_status {
    MQ_ORDERLY_SUCCESS = 0,
    MQ_ORDERLY_SUSPEND_CURRENT_QUEUE_A_MOMENT = 1,
} mq_orderly_status;

/* Concurrent listener: msgs[0..n) (n <= consume_message_batch_max_size,
 * all from one queue) are valid until it returns. Runs on a consume thread;
 * several run at once. RECONSUME_LATER applies to all n messages. */
typedef mq_consume_status (*mq_concurrent_listener)(const mq_message_ext *const *msgs, int n,
                                                    void *arg);
/* Orderly listener: consecutive messages of one queue, in order; at most one
 * call per queue at a time. Runs on a consume thread. */
typedef mq_orderly_status (*mq_orderly_listener)(const mq_message_ext *const *msgs, int n,
                                                 void *arg);

typedef struct mq_push_consumer_options {
    const char *instance_name;         /* part of the client id; NULL = "<pid>#<time>" */
    mq_message_model message_model;    /* MQ_CLUSTERING */
    mq_consume_from consume_from;      /* MQ_CONSUME_FROM_LAST_OFFSET */
    int64_t consume_timestamp_ms;      /* for _FROM_TIMESTAMP (0 = 30 minutes ago) */
    int consume_thread_count;          /* listener threads (20; RocketMQ consumeThreadMin/Max) */
    int consume_message_batch_max_size;/* messages per listener call (1) */
    int pull_batch_size;               /* messages per pull (32) */
    int pull_threshold_for_queue;      /* stop pulling a queue above this many cached messages (1000) */
    int pull_threshold_size_for_queue_mib; /* ... or above this many MiB of bodies (100) */
    int consume_concurrently_max_span; /* ... or when max - min cached offset exceeds this (2000; concurrent only) */
    int max_reconsume_times;           /* -1: concurrent = the group's retryMaxTimes on the broker
                                          (16 unless `mqadmin updateSubGroup -r`), orderly =
                                          unlimited; >= 0: this many, then the DLQ */
    int suspend_current_queue_time_ms; /* orderly SUSPEND pause (1000) */
    int pull_suspend_timeout_ms;       /* broker holds an empty pull this long (15000) */
    int pull_request_timeout_ms;       /* pull request timeout (30000) */
    int pull_error_delay_ms;           /* pause after a failed pull (3000) */
    int rebalance_interval_ms;         /* (20000) */
    int heartbeat_interval_ms;         /* (30000) */
    int persist_offset_interval_ms;    /* commit offsets this often (5000) */
    int lock_renew_interval_ms;        /* orderly: renew queue locks (20000) */
    int lock_expiry_ms;                /* orderly: consider a lock lost after (30000) */
    int send_back_retry_delay_ms;      /* consume again locally after a failed send-back (5000) */
    int request_timeout_ms;            /* other requests (3000) */
    int poll_name_server_interval_ms;  /* route refresh (30000) */
    const char *local_offset_dir;      /* BROADCASTING offsets: NULL = ~/.mq_offsets; the file is
                                          <dir>/<instance_name or DEFAULT>/<group>/offsets.json */
} mq_push_consumer_options;

void mq_push_consumer_options_init(mq_push_consumer_options *o);

typedef struct mq_push_consumer mq_push_consumer;

/* A push consumer of group (letters, digits, %, -, _, |). namesrv_addr as
 * for the producer. opts may be NULL; it is copied. */
int mq_push_consumer_new(const char *group, const char *namesrv_addr,
                         const mq_push_consumer_options *opts, mq_push_consumer **out,
                         mq_error *err);
/* Subscribes to topic with a tag expression: "*" (or NULL/""), "TagA",
 * "TagA || TagB". Before start only. Subscribing to a topic again replaces
 * its expression. */
int mq_push_consumer_subscribe(mq_push_consumer *c, const char *topic, const char *expression,
                               mq_error *err);
/* The same with an SQL92 expression over message properties ("a > 5 AND
 * b = 'x'"): passed to the broker, which filters (it must have
 * enablePropertyFilter=true). */
int mq_push_consumer_subscribe_sql(mq_push_consumer *c, const char *topic, const char *sql,
                                   mq_error *err);
/* Exactly one listener, set before start. arg is passed to every call. */
void mq_push_consumer_set_listener(mq_push_consumer *c, mq_concurrent_listener fn, void *arg);
void mq_push_consumer_set_orderly_listener(mq_push_consumer *c, mq_orderly_listener fn, void *arg);
/* Starts: fetches routes, sends heartbeats (blocking, bounded by the request
 * timeout per broker), then rebalances and consumes in the background.
 * Returns MQ_OK, or MQ_EINVAL (no subscription or listener), MQ_ESTATE,
 * MQ_ENETWORK (no nameserver answered for any subscribed topic). A topic
 * that does not exist yet is not an error (as in RocketMQ): it is logged
 * and looked up again at every rebalance. */
int mq_push_consumer_start(mq_push_consumer *c, mq_error *err);
/* Stops pulling, lets listener calls already running finish (messages not
 * yet handed to the listener stay uncommitted and are redelivered later),
 * commits offsets, releases queue locks, unregisters from the brokers and
 * stops the threads. Bounded by about two request timeouts plus the
 * longest running listener call. Idempotent; not from a listener, and not
 * concurrently with suspend/resume/assigned_queues on other threads. */
void mq_push_consumer_shutdown(mq_push_consumer *c);
void mq_push_consumer_destroy(mq_push_consumer *c);
/* Pauses: no more pulls and no more listener calls (those running finish);
 * messages already pulled stay uncommitted. May be called from a listener
 * (e.g. to stop after N messages). */
void mq_push_consumer_suspend(mq_push_consumer *c);
void mq_push_consumer_resume(mq_push_consumer *c);
const char *mq_push_consumer_client_id(const mq_push_consumer *c);
/* The queues currently assigned to this consumer (all subscribed topics,
 * the retry topic included), sorted. *queues is malloc'd: mq_free. */
int mq_push_consumer_assigned_queues(mq_push_consumer *c, mq_message_queue **queues, int *n);

/* ---- pull consumer -------------------------------------------------------- */

typedef struct mq_pull_consumer mq_pull_consumer;

typedef struct mq_pull_consumer_options {
    const char *instance_name;        /* NULL = "<pid>#<time>" */
    int request_timeout_ms;           /* (3000) */
    int poll_name_server_interval_ms; /* (30000) */
} mq_pull_consumer_options;

void mq_pull_consumer_options_init(mq_pull_consumer_options *o);

int mq_pull_consumer_new(const char *group, const char *namesrv_addr,
                         const mq_pull_consumer_options *opts, mq_pull_consumer **out,
                         mq_error *err);
int mq_pull_consumer_start(mq_pull_consumer *c, mq_error *err);
void mq_pull_consumer_shutdown(mq_pull_consumer *c);
void mq_pull_consumer_destroy(mq_pull_consumer *c);

/* The readable queues of topic, sorted. *queues is malloc'd: mq_free. */
int mq_pull_consumer_fetch_queues(mq_pull_consumer *c, const char *topic, mq_message_queue **queues,
                                  int *n, mq_error *err);

typedef enum mq_pull_status {
    MQ_PULL_FOUND = 0,          /* messages returned */
    MQ_PULL_NO_NEW_MSG = 1,     /* nothing at or after offset (yet) */
    MQ_PULL_NO_MATCHED_MSG = 2, /* messages there, none matched the expression */
    MQ_PULL_OFFSET_ILLEGAL = 3, /* offset outside [min, max]: continue at next_begin_offset */
} mq_pull_status;

const char *mq_pull_status_name(mq_pull_status s);

/* Messages msgs[0..n) are owned by the result until mq_pull_result_destroy. */
typedef struct mq_pull_result {
    mq_pull_status status;
    int64_t next_begin_offset; /* where the next pull of this queue should start */
    int64_t min_offset;        /* of the queue, as the broker answered */
    int64_t max_offset;
    mq_message_ext **msgs;
    int n;
    void *priv_;               /* internal */
} mq_pull_result;

void mq_pull_result_destroy(mq_pull_result *r);

/* Pulls up to max_nums (1..1024) messages of queue from offset that match
 * the tag expression (NULL = all). block_ms 0 returns at once; > 0 lets the
 * broker hold the request until a message arrives or block_ms passes (long
 * polling). Blocking. Returns MQ_OK with *result filled (status says what
 * came back) or an error. */
int mq_pull_consumer_pull(mq_pull_consumer *c, const mq_message_queue *queue,
                          const char *expression, int64_t offset, int max_nums, int block_ms,
                          mq_pull_result *result, mq_error *err);

/* The group's committed offset of queue; MQ_ENOTFOUND if it has none. */
int mq_pull_consumer_query_offset(mq_pull_consumer *c, const mq_message_queue *queue,
                                  int64_t *offset, mq_error *err);
/* Commits offset (the next message to consume) for the group. Waits for
 * the broker's answer. */
int mq_pull_consumer_commit_offset(mq_pull_consumer *c, const mq_message_queue *queue,
                                   int64_t offset, mq_error *err);
/* The offset of the first message stored at or after timestamp_ms. */
int mq_pull_consumer_search_offset(mq_pull_consumer *c, const mq_message_queue *queue,
                                   int64_t timestamp_ms, int64_t *offset, mq_error *err);
/* The smallest offset still stored / the offset the next message will get. */
int mq_pull_consumer_min_offset(mq_pull_consumer *c, const mq_message_queue *queue,
                                int64_t *offset, mq_error *err);
int mq_pull_consumer_max_offset(mq_pull_consumer *c, const mq_message_queue *queue,
                                int64_t *offset, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
