/*
 * store_cq_stage.c - the ConsumeQueue stage (cq_put_staged /
 * cq_write_staged) driven directly, in C: consumequeue.h uses C11 atomics,
 * which C++ cannot include. Each scenario returns NULL when it holds, else
 * what failed (a static string); store_cq_stage_test.cc runs them.
 */
#include "store_cq_stage.h"

#include <stdio.h>
#include <string.h>

#include "consumequeue.h"

static char g_why[256];

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            snprintf(g_why, sizeof g_why, __VA_ARGS__);                                     \
            return g_why;                                                                   \
        }                                                                                   \
    } while (0)

/* Entry values for queue offset k: distinct per k. */
static int64_t phys_of(int64_t k) { return 1000 + k * 300; }
static int32_t size_of(int64_t k) { return (int32_t)(200 + k % 50); }
static int64_t tag_of(int64_t k) { return k * 7 - 3; }

static const char *put_range(consume_queue *q, int64_t from, int64_t to)
{
    for (int64_t k = from; k < to; k++)
        CHECK(cq_put_staged(q, k, phys_of(k), size_of(k), tag_of(k)) == 0, "put of entry %lld failed",
              (long long)k);
    return NULL;
}

static const char *check_range(consume_queue *q, int64_t from, int64_t to)
{
    for (int64_t k = from; k < to; k++) {
        cq_entry e;
        CHECK(cq_read(q, k, &e) == 0, "entry %lld not readable (max %lld)", (long long)k, (long long)cq_max(q));
        CHECK(e.phys == phys_of(k) && e.size == size_of(k) && e.tag == tag_of(k),
              "entry %lld reads %lld/%d/%lld", (long long)k, (long long)e.phys, e.size, (long long)e.tag);
    }
    return NULL;
}

static consume_queue *queue(cq_table *t, const char *topic)
{
    bool created;
    return cq_get_or_create(t, topic, strlen(topic), 0, &created);
}

const char *cq_stage_publishes_only_when_written(const char *dir)
{
    cq_table t;
    CHECK(cq_table_init(&t, dir, 100 * CQ_UNIT, NULL) == 0, "cq_table_init");
    consume_queue *q = queue(&t, "A");
    const char *why = put_range(q, 0, 5);
    /* The first entry of a queue is written at once (blank fill before it);
     * the next ones wait in the stage, unseen by readers. */
    if (!why && cq_max(q) != 1)
        snprintf(g_why, sizeof g_why, "max %lld before the write, want 1", (long long)cq_max(q)), why = g_why;
    cq_entry e;
    if (!why && cq_read(q, 1, &e) == 0)
        why = "a staged entry was readable before cq_write_staged";
    if (!why) {
        cq_write_staged(q, false);
        if (cq_max(q) != 5)
            snprintf(g_why, sizeof g_why, "max %lld after the write, want 5", (long long)cq_max(q)), why = g_why;
    }
    if (!why)
        why = check_range(q, 0, 5);
    cq_unref(q);
    cq_table_destroy(&t);
    return why;
}

const char *cq_stage_map_and_pwrite_write_the_same_bytes(const char *dir)
{
    cq_table t;
    CHECK(cq_table_init(&t, dir, 1000 * CQ_UNIT, NULL) == 0, "cq_table_init");
    consume_queue *a = queue(&t, "ViaMap"), *b = queue(&t, "ViaPwrite");
    const char *why = NULL;
    for (int64_t k = 0; k < 600 && !why; k += 100) { /* rounds of 100 entries */
        if (!(why = put_range(a, k, k + 100)))
            why = put_range(b, k, k + 100);
        cq_write_staged(a, true);
        cq_write_staged(b, false);
    }
    if (!why && (cq_max(a) != 600 || cq_max(b) != 600))
        snprintf(g_why, sizeof g_why, "max %lld / %lld, want 600", (long long)cq_max(a), (long long)cq_max(b)),
            why = g_why;
    if (!why)
        why = check_range(a, 0, 600);
    if (!why)
        why = check_range(b, 0, 600);
    if (!why) {
        mapped_file *fa = cq_file_at(a, 0), *fb = cq_file_at(b, 0);
        if (!fa || !fb || memcmp(fa->base, fb->base, 1000 * CQ_UNIT) != 0)
            why = "the two queue files differ";
        if (fa)
            mf_unref(fa);
        if (fb)
            mf_unref(fb);
    }
    cq_unref(a);
    cq_unref(b);
    cq_table_destroy(&t);
    return why;
}

const char *cq_stage_full_or_file_end_writes_first(const char *dir)
{
    cq_table t;
    /* 300 entries per file: the stage (128 entries) fills twice in the
     * first file, and the run crosses into the second and third. */
    CHECK(cq_table_init(&t, dir, 300 * CQ_UNIT, NULL) == 0, "cq_table_init");
    consume_queue *q = queue(&t, "Full");
    const char *why = put_range(q, 0, 300);
    /* entry 0 at once; 1..128 written when 129 came, 129..256 when 257 did */
    if (!why && cq_max(q) != 257)
        snprintf(g_why, sizeof g_why, "max %lld with the stage full twice, want 257", (long long)cq_max(q)),
            why = g_why;
    /* The first entry of the next file writes the stage (it belongs to the
     * file before) and is staged itself. */
    if (!why)
        why = put_range(q, 300, 750);
    if (!why && cq_max(q) < 600)
        snprintf(g_why, sizeof g_why, "max %lld after crossing two files, want >= 600", (long long)cq_max(q)),
            why = g_why;
    if (!why) {
        cq_write_staged(q, false);
        why = check_range(q, 0, 750);
    }
    if (!why && q->nfiles != 3)
        snprintf(g_why, sizeof g_why, "%zu files, want 3", q->nfiles), why = g_why;
    cq_unref(q);
    cq_table_destroy(&t);
    return why;
}

const char *cq_stage_gap_is_blank_filled_after_the_stage(const char *dir)
{
    cq_table t;
    CHECK(cq_table_init(&t, dir, 100 * CQ_UNIT, NULL) == 0, "cq_table_init");
    consume_queue *q = queue(&t, "Gap");
    const char *why = put_range(q, 0, 5);
    /* An entry past max is not staged: the stage is written, the gap
     * blank-filled and the entry written, all at once. */
    if (!why)
        why = put_range(q, 8, 9);
    if (!why && cq_max(q) != 9)
        snprintf(g_why, sizeof g_why, "max %lld after the gap, want 9", (long long)cq_max(q)), why = g_why;
    if (!why)
        why = check_range(q, 0, 5);
    for (int64_t k = 5; k < 8 && !why; k++) {
        cq_entry e;
        if (cq_read(q, k, &e) != 0 || e.size != CQ_BLANK_SIZE || e.phys != 0)
            snprintf(g_why, sizeof g_why, "entry %lld of the gap is not blank", (long long)k), why = g_why;
    }
    if (!why)
        why = check_range(q, 8, 9);
    cq_unref(q);
    cq_table_destroy(&t);
    return why;
}
