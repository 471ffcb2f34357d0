/*
 * consumer_offset.h - committed consumer offsets, per (group, topic, queue).
 *
 * Held in memory (loop thread) and persisted to the metadata database every
 * flushConsumerOffsetInterval (5 s) and at shutdown, like RocketMQ's
 * ConsumerOffsetManager. A commit is cheap (a table update); a crash loses
 * at most the last few seconds of commits, which means redelivery, never
 * loss. Negative commits are ignored (some clients commit -1 for queues they
 * never consumed).
 */
#ifndef MQ_BROKER_CONSUMER_OFFSET_H
#define MQ_BROKER_CONSUMER_OFFSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct offset_manager offset_manager;

/* Loads every committed offset from the metadata database. */
offset_manager *offset_manager_new(broker *b, char *err, size_t errlen);
/* Persists, then frees. */
void offset_manager_free(offset_manager *m);

void offset_manager_commit(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                           int64_t offset);
/* True with *offset if the group ever committed for that queue. */
bool offset_manager_query(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                          int64_t *offset);
/* Writes what changed since the last call. Returns 0 or -1 (logged). */
int offset_manager_persist(offset_manager *m);
/* Forgets a group's offsets (all topics, or one topic if topic != NULL). */
void offset_manager_remove(offset_manager *m, const char *group, const char *topic);

/* Offset resets decided by the broker (INVOKE_BROKER_TO_RESET_OFFSET):
 * offset_manager_reset commits offset for the queue and marks a reset as
 * pending. While it is pending, commits from consumers (which still carry
 * positions from before the reset) are ignored. offset_manager_take_reset
 * returns and clears it: the pull processor calls it and answers the
 * group's next pull of that queue PULL_OFFSET_MOVED to the new offset, so
 * online consumers follow whatever client they use, and offline ones find
 * the new committed offset when they start. */
void offset_manager_reset(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                          int64_t offset);
bool offset_manager_take_reset(offset_manager *m, const char *group, const char *topic, int32_t queue_id,
                               int64_t *offset);

/* Calls cb for every committed offset (key "topic@group", RocketMQ's). */
void offset_manager_foreach(offset_manager *m,
                            void (*cb)(void *arg, const char *key, int32_t queue_id, int64_t offset), void *arg);

/* Topics a group has offsets for; *topics malloc'd (free each and the array). */
size_t offset_manager_topics_of(offset_manager *m, const char *group, char ***topics);
/* Groups with offsets on a topic; same ownership. */
size_t offset_manager_groups_of(offset_manager *m, const char *topic, char ***groups);

#ifdef __cplusplus
}
#endif

#endif
