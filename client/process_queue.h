/*
 * process_queue.h - what a push consumer knows about the messages of one
 * queue between pulling them and finishing with them: the offsets in flight
 * (handed to the consume service, not yet done), their total body size,
 * and the pull position. From these follow the offset to commit (the
 * smallest offset still in flight, else the pull position: a restart then
 * redelivers whatever was not finished, never skips it) and the flow-control
 * decision (stop pulling above a count, a size, or an offset span). Pure
 * data: the caller locks (the push consumer keeps one mutex per queue).
 * The push consumer's process queue built on it (mqc_pq) is declared in
 * push_consumer_internal.h and lives in process_queue.c too. Internal to
 * libmqclient.
 */
#ifndef MQ_CLIENT_PROCESS_QUEUE_H
#define MQ_CLIENT_PROCESS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqc_inflight_slot {
    int64_t offset;
    uint32_t size;
    bool done;
} mqc_inflight_slot;

typedef struct mqc_inflight {
    mqc_inflight_slot *slots; /* slots[head .. head + len), sorted by offset */
    size_t cap;
    size_t head;
    size_t len;
    size_t live;         /* slots not done */
    uint64_t live_bytes; /* their sizes */
    int64_t next_offset; /* pull position: every offset below is in flight, done or filtered out */
} mqc_inflight;

void mqc_inflight_init(mqc_inflight *f, int64_t next_offset);
void mqc_inflight_free(mqc_inflight *f);
/* Forgets every slot and moves the pull position. */
void mqc_inflight_reset(mqc_inflight *f, int64_t next_offset);
/* Adds a message handed to the consume service. Offsets normally grow; an
 * older one (after the broker moved the queue back) is inserted in order.
 * Returns false if the offset is already in flight (the caller must not
 * deliver it twice). */
bool mqc_inflight_add(mqc_inflight *f, int64_t offset, uint32_t size);
/* Moves the pull position (nextBeginOffset of a pull). */
void mqc_inflight_set_next(mqc_inflight *f, int64_t next_offset);
/* Marks a message finished. Returns false if it was not in flight. */
bool mqc_inflight_done(mqc_inflight *f, int64_t offset);
/* The offset to commit: the smallest in flight, else the pull position. */
int64_t mqc_inflight_commit_offset(const mqc_inflight *f);
/* Largest minus smallest offset in flight (0 if fewer than two). */
int64_t mqc_inflight_span(const mqc_inflight *f);

typedef enum mqc_flow {
    MQC_FLOW_OK = 0,
    MQC_FLOW_COUNT, /* too many messages cached */
    MQC_FLOW_SIZE,  /* too many bytes cached */
    MQC_FLOW_SPAN,  /* offsets too far apart (concurrent consumers only) */
} mqc_flow;

/* May the queue be pulled again? max_span <= 0 disables the span check. */
mqc_flow mqc_flow_check(const mqc_inflight *f, size_t max_count, uint64_t max_bytes, int64_t max_span);

#ifdef __cplusplus
}
#endif

#endif
