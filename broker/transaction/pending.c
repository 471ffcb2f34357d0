/*
 * pending.c - the index of pending half messages: which transactions wait
 * for a decision, and which is due to be checked next.
 *
 * Owned by the loop thread (no locks). Three arrays:
 *   pool   48-byte txn_entry per pending transaction, reused through a free
 *          list (no allocation per transaction once grown);
 *   heap   4-byte pool slots, a binary min-heap on next_check_ms, so the
 *          check timer finds due transactions in O(1) and reschedules in
 *          O(log n) without scanning the half queue (RocketMQ rereads it);
 *   map    u64map half queue offset -> slot, for END_TRANSACTION.
 * Memory per pending transaction: 48 (entry) + 4 (heap) + 17/load factor
 * (map, 0.35..0.7) = about 76..100 bytes, plus array slack when grown.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "txn_internal.h"
#include "util.h"

#define NO_SLOT UINT32_MAX

void txn_pending_init(txn_pending *p)
{
    memset(p, 0, sizeof *p);
    p->free_head = NO_SLOT;
    u64map_init(&p->by_offset);
}

void txn_pending_free(txn_pending *p)
{
    free(p->pool);
    free(p->heap);
    u64map_free(&p->by_offset);
    memset(p, 0, sizeof *p);
}

static bool earlier(const txn_pending *p, uint32_t a, uint32_t b)
{
    const txn_entry *x = &p->pool[a], *y = &p->pool[b];
    if (x->next_check_ms != y->next_check_ms)
        return x->next_check_ms < y->next_check_ms;
    return x->half_offset < y->half_offset;
}

static void heap_set(txn_pending *p, uint32_t pos, uint32_t slot)
{
    p->heap[pos] = slot;
    p->pool[slot].heap_pos = pos;
}

static void sift_up(txn_pending *p, uint32_t pos)
{
    uint32_t slot = p->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!earlier(p, slot, p->heap[parent]))
            break;
        heap_set(p, pos, p->heap[parent]);
        pos = parent;
    }
    heap_set(p, pos, slot);
}

static void sift_down(txn_pending *p, uint32_t pos)
{
    uint32_t slot = p->heap[pos];
    for (;;) {
        uint32_t l = 2 * pos + 1, best = pos;
        uint32_t best_slot = slot;
        if (l < p->heap_len && earlier(p, p->heap[l], best_slot)) {
            best = l;
            best_slot = p->heap[l];
        }
        if (l + 1 < p->heap_len && earlier(p, p->heap[l + 1], best_slot)) {
            best = l + 1;
            best_slot = p->heap[l + 1];
        }
        if (best == pos)
            break;
        heap_set(p, pos, best_slot);
        pos = best;
    }
    heap_set(p, pos, slot);
}

txn_entry *txn_pending_get(txn_pending *p, int64_t half_offset)
{
    uintptr_t v = (uintptr_t)u64map_get(&p->by_offset, (uint64_t)half_offset);
    return v ? &p->pool[v - 1] : NULL;
}

txn_entry *txn_pending_add(txn_pending *p, const txn_entry *e)
{
    txn_entry *old = txn_pending_get(p, e->half_offset);
    if (old)
        return old;
    uint32_t slot;
    if (p->free_head != NO_SLOT) {
        slot = p->free_head;
        p->free_head = p->pool[slot].next_free;
    } else {
        if (p->pool_len == p->pool_cap) {
            p->pool_cap = p->pool_cap ? p->pool_cap * 2 : 1024;
            p->pool = xrealloc(p->pool, (size_t)p->pool_cap * sizeof *p->pool);
        }
        slot = p->pool_len++;
    }
    p->pool[slot] = *e;
    p->pool[slot].next_free = NO_SLOT;
    if (p->heap_len == p->heap_cap) {
        p->heap_cap = p->heap_cap ? p->heap_cap * 2 : 1024;
        p->heap = xrealloc(p->heap, (size_t)p->heap_cap * sizeof *p->heap);
    }
    p->heap[p->heap_len] = slot;
    p->pool[slot].heap_pos = p->heap_len;
    p->heap_len++;
    sift_up(p, p->heap_len - 1);
    u64map_put(&p->by_offset, (uint64_t)e->half_offset, (void *)(uintptr_t)(slot + 1));
    return &p->pool[slot];
}

bool txn_pending_remove(txn_pending *p, int64_t half_offset, txn_entry *out)
{
    uintptr_t v = (uintptr_t)u64map_remove(&p->by_offset, (uint64_t)half_offset);
    if (!v)
        return false;
    uint32_t slot = (uint32_t)(v - 1);
    if (out)
        *out = p->pool[slot];
    uint32_t pos = p->pool[slot].heap_pos;
    p->heap_len--;
    if (pos != p->heap_len) {
        heap_set(p, pos, p->heap[p->heap_len]);
        sift_down(p, pos); /* then up: the moved entry may be earlier than pos's parent */
        sift_up(p, pos);
    }
    p->pool[slot].next_free = p->free_head;
    p->free_head = slot;
    return true;
}

txn_entry *txn_pending_top(txn_pending *p)
{
    return p->heap_len ? &p->pool[p->heap[0]] : NULL;
}

void txn_pending_reschedule(txn_pending *p, txn_entry *e)
{
    uint32_t pos = e->heap_pos;
    sift_up(p, pos);
    sift_down(p, e->heap_pos);
}

size_t txn_pending_count(const txn_pending *p) { return p->by_offset.count; }

size_t txn_pending_bytes(const txn_pending *p)
{
    return (size_t)p->pool_cap * sizeof *p->pool + (size_t)p->heap_cap * sizeof *p->heap +
           p->by_offset.cap * (sizeof(uint64_t) + sizeof(void *) + 1);
}
