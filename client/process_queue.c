/*
 * process_queue.c - see process_queue.h. The slots are a sorted array with a
 * moving head: messages arrive in offset order (append), finish in any
 * order (binary search, mark), and finished slots leave from the head, so
 * every operation is O(log n) or amortised O(1) with no allocation once the
 * array has grown to the queue's flow-control threshold.
 */
#include "process_queue.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void mqc_inflight_init(mqc_inflight *f, int64_t next_offset)
{
    memset(f, 0, sizeof *f);
    f->next_offset = next_offset;
}

void mqc_inflight_free(mqc_inflight *f)
{
    free(f->slots);
    memset(f, 0, sizeof *f);
}

void mqc_inflight_reset(mqc_inflight *f, int64_t next_offset)
{
    f->head = f->len = f->live = 0;
    f->live_bytes = 0;
    f->next_offset = next_offset;
}

static void pop_done(mqc_inflight *f)
{
    while (f->len && f->slots[f->head].done) {
        f->head++;
        f->len--;
    }
    if (!f->len)
        f->head = 0;
}

/* Index (from head) of the first slot with offset >= off. */
static size_t lower_bound(const mqc_inflight *f, int64_t off)
{
    size_t lo = 0, hi = f->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->slots[f->head + mid].offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool mqc_inflight_add(mqc_inflight *f, int64_t offset, uint32_t size)
{
    size_t pos = f->len;
    if (f->len && f->slots[f->head + f->len - 1].offset >= offset) {
        pos = lower_bound(f, offset);
        if (pos < f->len && f->slots[f->head + pos].offset == offset)
            return false;
    }
    if (f->head + f->len == f->cap) {
        if (f->head > 0) { /* slide down before growing */
            memmove(f->slots, f->slots + f->head, f->len * sizeof *f->slots);
            f->head = 0;
        }
        if (f->len == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 64;
            f->slots = xrealloc(f->slots, f->cap * sizeof *f->slots);
        }
    }
    mqc_inflight_slot *at = f->slots + f->head + pos;
    if (pos < f->len)
        memmove(at + 1, at, (f->len - pos) * sizeof *at);
    at->offset = offset;
    at->size = size;
    at->done = false;
    f->len++;
    f->live++;
    f->live_bytes += size;
    return true;
}

void mqc_inflight_set_next(mqc_inflight *f, int64_t next_offset) { f->next_offset = next_offset; }

bool mqc_inflight_done(mqc_inflight *f, int64_t offset)
{
    size_t pos = lower_bound(f, offset);
    if (pos >= f->len)
        return false;
    mqc_inflight_slot *s = &f->slots[f->head + pos];
    if (s->offset != offset || s->done)
        return false;
    s->done = true;
    f->live--;
    f->live_bytes -= s->size;
    pop_done(f);
    return true;
}

int64_t mqc_inflight_commit_offset(const mqc_inflight *f)
{
    /* Finished slots leave from the head, so the head is the smallest live one. */
    return f->len ? f->slots[f->head].offset : f->next_offset;
}

int64_t mqc_inflight_span(const mqc_inflight *f)
{
    if (f->live < 2)
        return 0;
    size_t last = f->head + f->len - 1;
    while (f->slots[last].done)
        last--;
    return f->slots[last].offset - f->slots[f->head].offset;
}

mqc_flow mqc_flow_check(const mqc_inflight *f, size_t max_count, uint64_t max_bytes, int64_t max_span)
{
    if (f->live > max_count)
        return MQC_FLOW_COUNT;
    if (f->live_bytes > max_bytes)
        return MQC_FLOW_SIZE;
    if (max_span > 0 && mqc_inflight_span(f) > max_span)
        return MQC_FLOW_SPAN;
    return MQC_FLOW_OK;
}
