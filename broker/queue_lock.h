/*
 * queue_lock.h - broker-side locks that orderly consumers hold on queues
 * (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ), so one consumer of a group processes a
 * queue at a time, strictly in order, also across a rebalance.
 *
 * A lock is a lease: it lasts `lease_ms` (RocketMQ: 60 s) from the last
 * time its holder locked it again; clients renew every 20 s. An expired
 * lock may be taken by another client of the group. Loop thread only.
 */
#ifndef MQ_BROKER_QUEUE_LOCK_H
#define MQ_BROKER_QUEUE_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct queue_locks queue_locks;

queue_locks *queue_locks_new(int64_t lease_ms);
void queue_locks_free(queue_locks *l);

/* Locks (or renews) queue (topic, queue_id) of group for client_id at time
 * now_ms. Returns true if client_id holds the lock afterwards. */
bool queue_locks_try(queue_locks *l, const char *group, const char *topic, int32_t queue_id,
                     const char *client_id, int64_t now_ms);
/* Releases the lock if client_id holds it. */
void queue_locks_release(queue_locks *l, const char *group, const char *topic, int32_t queue_id,
                         const char *client_id);
/* True if client_id holds an unexpired lock. */
bool queue_locks_held_by(queue_locks *l, const char *group, const char *topic, int32_t queue_id,
                         const char *client_id, int64_t now_ms);
/* Drops expired locks (memory hygiene; expiry is also checked on every use). */
void queue_locks_expire(queue_locks *l, int64_t now_ms);
size_t queue_locks_count(const queue_locks *l);

#ifdef __cplusplus
}
#endif

#endif
