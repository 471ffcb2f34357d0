/*
 * allocate.h - which queues of a topic a consumer of a group takes:
 * RocketMQ's AllocateMessageQueueAveragely. Every member sorts the same
 * queues and the same client ids and computes its own contiguous block, so
 * the members agree without talking to each other. Pure. Internal.
 */
#ifndef MQ_CLIENT_ALLOCATE_H
#define MQ_CLIENT_ALLOCATE_H

#include <stddef.h>

#include "mq/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* With n_queues sorted queues and the sorted client ids ids[0..n_ids), the
 * block of queues client me gets: [*first, *first + *count). *count is 0 if
 * me is not among ids (the broker does not know us yet) or there are more
 * consumers than queues and me comes late. */
void mqc_allocate_averagely(int n_queues, const char *const *ids, int n_ids, const char *me,
                            int *first, int *count);

/* Orders queues by topic, broker name, queue id (qsort comparator). */
int mqc_queue_compare(const void *a, const void *b);
/* Orders C strings (qsort comparator over char *). */
int mqc_string_compare(const void *a, const void *b);

#ifdef __cplusplus
}
#endif

#endif
