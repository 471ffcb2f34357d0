/*
 * mq/producer.h - the producer: sends messages to the brokers that serve a
 * topic, synchronously, asynchronously, oneway, in batches, or to a chosen
 * queue (ordered sends by sharding key).
 *
 * Life cycle: mq_producer_new -> mq_producer_start -> sends from any number
 * of threads -> mq_producer_shutdown -> mq_producer_destroy. All send
 * functions are thread-safe.
 *
 * Threads: the producer runs one I/O thread ("mq-io") that owns its sockets.
 * Blocking calls (mq_producer_send*, except _async and _oneway) wait for the
 * broker on the caller's thread and must not be made from a send callback.
 * Async callbacks run on the I/O thread: they must return quickly and must
 * not block (no blocking send from a callback; an async send is fine).
 *
 * Where a message goes: the producer fetches the topic's route from a
 * nameserver (on the first send, then every 30 s and after a failure) and
 * picks the writable queues of all its brokers in turn (round-robin). A send
 * that fails for a reason worth retrying (no connection, timeout, and the
 * broker statuses SYSTEM_ERROR, SERVICE_NOT_AVAILABLE, NO_PERMISSION,
 * TOPIC_NOT_EXIST, NO_BUYER_ID, NOT_IN_CURRENT_UNIT) is retried on another
 * broker, up to 1 + retry_times attempts within send_timeout_ms. A broker
 * answering SYSTEM_BUSY slows the producer down instead: the send is retried
 * after a short growing back-off for as long as the send timeout allows.
 * With latency fault avoidance, a broker that just failed or answered slowly
 * is skipped for a while (it is still used when no other broker is left).
 *
 * Results FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE
 * mean the broker stored the message but could not confirm the flush or the
 * replication in time; they are returned as the result status (MQ_OK), not
 * retried.
 */
#ifndef MQ_MQ_PRODUCER_H
#define MQ_MQ_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/message.h"
#include "mq/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mq_producer mq_producer;

typedef struct mq_producer_options {
    const char *instance_name;          /* part of the client id; NULL = "<pid>#<time>" */
    int send_timeout_ms;                /* budget of one send, retries included (3000) */
    int retry_times_when_send_failed;   /* sync and batch: extra attempts (2) */
    int retry_times_when_send_async_failed; /* async: extra attempts (2) */
    int max_message_size;               /* body (or batch body) limit in bytes (4 MiB) */
    int compress_msg_body_over_howmuch; /* must be 0: compression is not implemented yet */
    bool send_latency_fault_enable;     /* avoid brokers that failed or were slow (true) */
    int fault_isolation_ms;             /* how long a failed broker is avoided (30000) */
    int max_async_inflight;             /* async/oneway sends queued or awaiting an answer;
                                           more block the caller up to send_timeout_ms (10000) */
    int heartbeat_interval_ms;          /* heartbeats to brokers (30000) */
    int poll_name_server_interval_ms;   /* route refresh (30000) */
} mq_producer_options;

/* Fills o with the defaults above. */
void mq_producer_options_init(mq_producer_options *o);

/* A producer of group (a name: letters, digits, %, -, _, |). namesrv_addr is
 * "host:port;host:port"; NULL or "" reads the NAMESRV_ADDR environment
 * variable. opts may be NULL (defaults); it is copied. Starts nothing.
 * Returns MQ_OK with *out, or MQ_EINVAL with err. */
int mq_producer_new(const char *group, const char *namesrv_addr, const mq_producer_options *opts,
                    mq_producer **out, mq_error *err);
/* Starts the I/O thread. Returns MQ_OK, MQ_ESTATE if already started or shut
 * down, or an error. */
int mq_producer_start(mq_producer *p, mq_error *err);
/* Waits for async sends in flight (each ends with its callback, at the
 * latest after send_timeout_ms), unregisters from the brokers and stops the
 * I/O thread. Sends after this fail with MQ_ESTATE. Idempotent; not from a
 * callback, and not while another thread is inside a send function (stop
 * the sending threads first). */
void mq_producer_shutdown(mq_producer *p);
/* Shuts down if needed and frees the producer. NULL is ignored. */
void mq_producer_destroy(mq_producer *p);
/* "ip@instance", as the brokers see this producer. */
const char *mq_producer_client_id(const mq_producer *p);

typedef enum mq_send_status {
    MQ_SEND_OK = 0,
    MQ_SEND_FLUSH_DISK_TIMEOUT = 1,
    MQ_SEND_FLUSH_SLAVE_TIMEOUT = 2,
    MQ_SEND_SLAVE_NOT_AVAILABLE = 3,
} mq_send_status;

/* "SEND_OK", "FLUSH_DISK_TIMEOUT", ... (static strings). */
const char *mq_send_status_name(mq_send_status s);

/* What a successful send returns. A plain value for single messages; a batch
 * result also owns two strings: release it with mq_send_result_destroy
 * (harmless on any result, so calling it always is fine). */
typedef struct mq_send_result {
    mq_send_status status;
    char msg_id[MQ_MSG_ID_MAX];        /* unique id (UNIQ_KEY); of the first message of a batch */
    char offset_msg_id[MQ_MSG_ID_MAX]; /* broker's offset id; of the first message of a batch */
    mq_message_queue queue;            /* where it went */
    int64_t queue_offset;              /* offset in that queue (of the first message of a batch) */
    int batch_count;                   /* messages sent: 1, or the batch size */
    char *batch_msg_ids;               /* batch: comma-joined unique ids, else NULL */
    char *batch_offset_msg_ids;        /* batch: the broker's comma-joined offset ids, else NULL */
} mq_send_result;

void mq_send_result_destroy(mq_send_result *r);

/* Sends and waits for the broker (blocking, at most send_timeout_ms). Returns
 * MQ_OK with *result (which may be NULL), or: MQ_EINVAL (bad message: topic
 * name, empty body, too big), MQ_ENOROUTE (no route: err has the
 * nameserver's reason), MQ_ETIMEOUT, MQ_ENETWORK, MQ_EBROKER (err->status
 * is the broker's code), MQ_ESTATE (not started). */
int mq_producer_send(mq_producer *p, const mq_message *msg, mq_send_result *result, mq_error *err);

/* Called once per async send with rc MQ_OK and the result, or an error
 * code with err filled (result NULL). Runs on the I/O thread; result and err
 * are valid during the call only. Must not block. */
typedef void (*mq_send_callback)(int rc, const mq_send_result *result, const mq_error *err,
                                 void *arg);

/* Sends without waiting for the broker: the message is copied (it may be
 * destroyed as soon as this returns) and cb runs later. Blocks only on the
 * first send to a topic (route fetch) and when max_async_inflight sends are
 * pending (back-pressure, at most send_timeout_ms). Returns MQ_OK (cb will
 * run exactly once) or an error (cb will not run). */
int mq_producer_send_async(mq_producer *p, const mq_message *msg, mq_send_callback cb, void *arg,
                           mq_error *err);

/* Sends without any answer: no result, no retry. The message is copied. A
 * oneway send that cannot be written later (connection lost) is counted in
 * mq_producer_oneway_failures and logged, not reported. */
int mq_producer_send_oneway(mq_producer *p, const mq_message *msg, mq_error *err);
/* Oneway sends that were accepted but could not be written. */
uint64_t mq_producer_oneway_failures(const mq_producer *p);

/* Sends n messages of one topic in one request, stored atomically and
 * consecutively in one queue (SEND_BATCH_MESSAGE). Each message gets its own
 * unique id. Delay levels are not allowed in a batch. The encoded batch must
 * fit max_message_size. Blocking, retried like mq_producer_send. */
int mq_producer_send_batch(mq_producer *p, const mq_message *const *msgs, size_t n,
                           mq_send_result *result, mq_error *err);

/* Sends to the given queue (blocking). Never moves to another queue: only a
 * SYSTEM_BUSY answer is retried (same queue, with back-off). */
int mq_producer_send_to_queue(mq_producer *p, const mq_message *msg, const mq_message_queue *queue,
                              mq_send_result *result, mq_error *err);

/* Ordered send: messages with the same sharding key go to the same queue
 * while the topic's queues do not change. The queue is the key's Java
 * String.hashCode modulo the number of writable queues (as RocketMQ's
 * SelectMessageQueueByHash), over the queues sorted by broker name and
 * queue id. Blocking; like mq_producer_send_to_queue. */
int mq_producer_send_orderly(mq_producer *p, const mq_message *msg, const char *sharding_key,
                             mq_send_result *result, mq_error *err);

/* Picks one of the n writable queues (sorted by broker name, queue id) for
 * msg: returns an index in [0, n). Runs on the sending thread. */
typedef int (*mq_queue_selector)(const mq_message_queue *queues, int n, const mq_message *msg,
                                 void *arg);

/* Sends to the queue the selector picks (blocking; like send_to_queue).
 * An index out of range fails with MQ_EINVAL. */
int mq_producer_send_select(mq_producer *p, const mq_message *msg, mq_queue_selector selector,
                            void *arg, mq_send_result *result, mq_error *err);

/* The writable queues of topic in selector order (fetching the route if
 * needed; blocking). *queues is malloc'd: free with mq_free. */
int mq_producer_fetch_publish_queues(mq_producer *p, const char *topic, mq_message_queue **queues,
                                     int *n, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
