/*
 * pull_hold.h - long polling: pulls that found nothing wait here, keyed by
 * (topic, queue), until the dispatcher reports new entries for that queue or
 * their suspend time runs out.
 *
 * The registry knows nothing of pulls themselves: an entry is an opaque
 * context plus two callbacks of its owner (processor_pull.c). `retry` is
 * called when the queue grew past the entry's offset (final = false) or at
 * the deadline (final = true, must answer); it returns true once it has
 * answered, and the entry is then removed.
 *
 * Threads: everything runs on the loop thread, except
 * pull_hold_arrived(), which the store's dispatch thread calls. Arrivals are
 * coalesced per queue in a small locked table and handed to the loop with
 * one evq post per batch, so a busy dispatcher costs one wake-up per round,
 * not one per message, and none while no pull is held anywhere.
 */
#ifndef MQ_BROKER_PULL_HOLD_H
#define MQ_BROKER_PULL_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "evq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pull_hold pull_hold;

typedef bool (*pull_hold_retry_fn)(void *ctx, bool final);
typedef void (*pull_hold_drop_fn)(void *ctx);

pull_hold *pull_hold_new(struct ev_loop *loop, evq *q, pull_hold_retry_fn retry, pull_hold_drop_fn drop);
/* Drops every held entry (drop callback) and frees. Loop thread. */
void pull_hold_free(pull_hold *ph);

/* Holds ctx until (topic, queue_id) has entries at or past `offset`, or for
 * hold_ms. Loop thread. */
void pull_hold_add(pull_hold *ph, const char *topic, int32_t queue_id, int64_t offset, int64_t hold_ms,
                   void *ctx);

/* Retries every pull held on (topic, queue_id) now, whatever its offset
 * (e.g. after an offset reset). Loop thread. */
void pull_hold_kick(pull_hold *ph, const char *topic, int32_t queue_id);

/* The store's arrival listener (store_arrival_cb): any thread. */
void pull_hold_arrived(void *ph, const char *topic, int32_t queue_id, int64_t max_offset);

/* Between begin and end, arrivals reported on the loop thread itself (the
 * broker's inline dispatch, store_dispatch_inline) retry the held pulls at
 * once instead of through the evq post and one more loop iteration, and
 * pull_hold_direct() tells their owner to write its answers at once (the
 * loop is in its prepare phase, where queued answers would wait for the
 * next turn). Loop thread. */
void pull_hold_direct_begin(pull_hold *ph);
void pull_hold_direct_end(pull_hold *ph);
bool pull_hold_direct(const pull_hold *ph);

/* Entries currently held (stats, tests). Loop thread. */
size_t pull_hold_count(const pull_hold *ph);

#ifdef __cplusplus
}
#endif

#endif
