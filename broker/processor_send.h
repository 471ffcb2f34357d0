/*
 * processor_send.h - the broker's send policy, shared by every path that
 * puts a producer's (or the broker's own) message into the store: single
 * and batch sends (processor_send.c) and, as they land, send-back of
 * consumed messages and transactional sends.
 *
 * Division of work with the store: the store (store_put / store_put_batch)
 * is the one authority on record validity — topic characters and length,
 * queue id >= 0, body 1..maxMessageSize, properties <= 32767 bytes, record
 * size — and computes the body CRC (once). Its refusals come back as a
 * store_put_status with a remark; answer them with send_put_refused().
 * Nothing here repeats those checks: send_check() decides only broker
 * policy, so a new send path calls it and then store_put*.
 *
 * Thread: the broker's loop thread (all of these touch loop-owned state).
 */
#ifndef MQ_BROKER_PROCESSOR_SEND_H
#define MQ_BROKER_PROCESSOR_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_context.h"
#include "store/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a send wants to write to. */
typedef struct send_target {
    const char *topic;          /* required; NULL is refused */
    int32_t queue_id;           /* in: the requested queue, < 0 = let the broker pick;
                                 * out (on RS_SUCCESS): the queue to put to */
    int32_t default_queue_nums; /* auto-creation: queues the producer asks for (the
                                 * broker's default caps it); <= 0 = the default */
    bool internal;              /* a send the broker makes itself (send-back to a retry
                                 * or DLQ topic, transaction commit): system topics allowed */
} send_target;

/* Broker policy for one send, in this order: broker write permission and
 * role (NO_PERMISSION, SERVICE_NOT_AVAILABLE on a slave), topic name rules
 * of the topic table and system topics (SYSTEM_ERROR, NO_PERMISSION), topic
 * exists or is auto-created (TOPIC_NOT_EXIST), topic write permission
 * (NO_PERMISSION), queue id in range or picked at random (SYSTEM_ERROR), too
 * many sends waiting for the disk (SYSTEM_BUSY; counted in
 * stats.busy_rejections). Returns RS_SUCCESS, with t->queue_id set, or the
 * response code with a remark in remark[rlen]. May create the topic. Does
 * not answer: the caller does (rm_reply_status(c, req, code, "%s", remark)). */
int32_t send_check(broker *b, send_target *t, char *remark, size_t rlen);

/* Features a message may ask for that no service handles: COMMIT/ROLLBACK
 * transaction flags on a send (a half message is decided with
 * END_TRANSACTION): RS_SUCCESS or RS_MESSAGE_ILLEGAL with a remark. Per
 * message (a batch calls it for each). Transactional half messages
 * (PREPARED / TRAN_MSG) pass: the single send path hands them to
 * broker/transaction/ (txn_half_prepare), the batch path refuses them.
 * Delayed and timed delivery is not a refusal: sched_prepare
 * (schedule/schedule.h) rewrites such a message into its scheduled form
 * before the put (a send path calls it after send_check); for a half
 * message that happens at commit. */
int32_t send_check_features(int32_t sysflag, const char *props, size_t plen, char *remark,
                            size_t rlen);

/* Answers a stored send: code SUCCESS or a "stored, but" status
 * (FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE); msg_id is
 * the offset id (a batch: the ids joined by commas). Consumes to. */
void send_answer_stored(rm_reply_to *to, int32_t code, const char *msg_id, int32_t queue_id,
                        int64_t queue_offset, const char *transaction_id);

/* The response code of a store refusal (never RS_SUCCESS), from the store's
 * status table; counts it in stats.put_refused. */
int32_t send_put_refused(broker *b, store_put_status status);

#ifdef __cplusplus
}
#endif

#endif
