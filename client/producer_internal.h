/*
 * producer_internal.h - the producer's parts and the seams between them.
 * Internal to libmqclient.
 *
 *   producer.c        life cycle, the blocking (sync) send loop, the sync
 *                     API (send, to a queue, orderly, selector, batch), and
 *                     the request/answer helpers every send uses
 *   producer_async.c  async and oneway sends: jobs on the I/O thread,
 *                     SYSTEM_BUSY back-off, automatic batching
 *   publish_table.c   topic -> writable queues of one route snapshot
 *                     (mqc_topic_pub), shared by reference count, and the
 *                     queue choice over a snapshot (round-robin with fault
 *                     avoidance, or the caller's index / named queue)
 *
 * This header is the seam for code built on the producer (C and C++);
 * producer_impl.h holds what the three parts share. Seams for code built on
 * the producer (a transactional producer sending
 * half messages, for one): take a route snapshot with mqc_producer_route,
 * choose a queue in it, and send with mqc_producer_send_chosen (sync, no
 * move to another queue, the queue resolved in that same snapshot); or send
 * with retries over every writable queue with mqc_producer_send_sync. Both
 * take the header's sysFlag (e.g. MSG_SYSFLAG_TX_PREPARED).
 * mqc_producer_instance gives the client runtime (mqc_invoke_* to a broker,
 * mqc_on_request for requests brokers send, e.g.
 * CHECK_TRANSACTION_STATE).
 */
#ifndef MQ_CLIENT_PRODUCER_INTERNAL_H
#define MQ_CLIENT_PRODUCER_INTERNAL_H

#include <stdint.h>

#include "instance.h"
#include "mq/producer.h"
#include "queue_select.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A route snapshot: the writable queues of a topic from one version of
 * its route, sorted by broker name and queue id. Immutable; shared by
 * reference count. */
typedef struct mqc_topic_pub mqc_topic_pub;

/* Number of writable queues of snap, and queue i of them (0 <= i < n). */
int mqc_topic_pub_count(const mqc_topic_pub *snap);
const mqc_pub_queue *mqc_topic_pub_queue(const mqc_topic_pub *snap, int i);
void mqc_pub_unref(mqc_topic_pub *snap);

mqc_instance *mqc_producer_instance(mq_producer *p);
/* The current route snapshot of topic (fetched, blocking, if not cached);
 * a reference for the caller (mqc_pub_unref). (any, not io) */
int mqc_producer_route(mq_producer *p, const char *topic, mqc_topic_pub **snap, mq_error *err);
/* Sends msg, blocking, to the queue of snap the caller chose: want (by
 * broker name and id) or, if want is NULL, snap->queues[idx]. No retry on
 * another queue. The caller checked the message (mqc_check_message). */
int mqc_producer_send_chosen(mq_producer *p, const mq_message *msg, int32_t sysflag, const mqc_topic_pub *snap,
                             const mq_message_queue *want, int idx, mq_send_result *result, mq_error *err);
/* Sends msg, blocking, to a queue chosen round-robin, retrying on another
 * broker (mq_producer_send with a sysFlag). */
int mqc_producer_send_sync(mq_producer *p, const mq_message *msg, int32_t sysflag, mq_send_result *result,
                           mq_error *err);
/* A transactional half message (transaction_producer.c): like
 * mqc_producer_send_sync with sysFlag TRANSACTION_PREPARED, but with the
 * wire properties props built by the caller (the message's own plus
 * TRAN_MSG and PGROUP, which the public API reserves) and the unique id
 * uniq_id they already carry. */
int mqc_producer_send_prepared(mq_producer *p, const mq_message *msg, const char *uniq_id, const char *props,
                               mq_send_result *result, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
