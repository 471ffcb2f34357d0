/*
 * queue_select.h - how the producer picks a queue: round-robin over the
 * writable queues of a topic, skipping brokers that just failed or were
 * slow (latency fault avoidance, RocketMQ's MQFaultStrategy) and the broker
 * of the previous failed attempt; and the stable choice by sharding key.
 * Pure decisions plus one small mutex-guarded table, so they are unit
 * tested on their own. Internal to libmqclient.
 */
#ifndef MQ_CLIENT_QUEUE_SELECT_H
#define MQ_CLIENT_QUEUE_SELECT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hashmap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A writable queue of a topic. Strings are borrowed from the route. */
typedef struct mqc_pub_queue {
    const char *broker_name;
    const char *addr; /* master address */
    int queue_id;
} mqc_pub_queue;

/* Brokers to avoid, by name. Thread-safe. */
typedef struct mqc_fault_table {
    pthread_mutex_t lock;
    strmap items;           /* broker name -> fault_item* */
    int64_t max_isolation_ms;
} mqc_fault_table;

void mqc_fault_table_init(mqc_fault_table *t, int64_t max_isolation_ms);
void mqc_fault_table_free(mqc_fault_table *t);
/* How long a broker whose last send took latency_ms is avoided: RocketMQ's
 * steps (< 550 ms: not at all; 550 ms: 30 s; 1 s: 60 s; 2 s: 120 s; 3 s: 180 s;
 * 15 s: 600 s), capped at max_isolation_ms. */
int64_t mqc_fault_duration(int64_t latency_ms, int64_t max_isolation_ms);
/* Records a send to broker: its latency, or a failure (isolation: avoided
 * for max_isolation_ms). A fast success makes the broker available again. */
void mqc_fault_update(mqc_fault_table *t, const char *broker, int64_t latency_ms, bool isolation,
                      int64_t now_ms);
bool mqc_fault_available(mqc_fault_table *t, const char *broker, int64_t now_ms);

/* Index of the queue to use among qs[0..n), trying them in turn from
 * position start (the caller's round-robin counter): the first whose broker
 * is not avoid_broker and is available in ft; failing that, the first not
 * on avoid_broker; failing that, qs[start % n]. ft NULL: fault avoidance
 * off. n must be > 0. */
int mqc_select_queue(const mqc_pub_queue *qs, int n, uint32_t start, const char *avoid_broker,
                     mqc_fault_table *ft, int64_t now_ms);

/* RocketMQ's SelectMessageQueueByHash: |Java hashCode(key) % n|. */
int mqc_select_by_key(const char *key, int n);

#ifdef __cplusplus
}
#endif

#endif
