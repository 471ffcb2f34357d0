/*
 * store_cq_stage.c - the ConsumeQueue stage (cq_put_staged /
 * cq_write_staged) driven directly, in C: consumequeue.h uses C11 atomics,
 * which C++ cannot include. Each scenario returns NULL when it holds, else
 * what failed (a static string); store_cq_stage_test.cc runs them.
 */
#include "store_cq_stage.h"

#include <stdbool.h>
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

#define TRY(step)                                                                           \
    do {                                                                                    \
        const char *why_ = (step);                                                          \
        if (why_)                                                                           \
            return why_;                                                                    \
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

/* NULL if the queue's published end is want (at least want if !exact). */
static const char *max_is(consume_queue *q, int64_t want, bool exact, const char *when)
{
    CHECK(exact ? cq_max(q) == want : cq_max(q) >= want, "max %lld %s, want %s%lld", (long long)cq_max(q), when,
          exact ? "" : ">= ", (long long)want);
    return NULL;
}

/* Runs body on queue 0 of topics[0..n) of a fresh table in dir, with files
 * of file_entries entries, and tears it all down. */
static const char *with_queues(const char *dir, int64_t file_entries, const char *const *topics, int n,
                               const char *(*body)(consume_queue **qs))
{
    cq_table t;
    CHECK(cq_table_init(&t, dir, file_entries * CQ_UNIT, NULL) == 0, "cq_table_init %s", dir);
    consume_queue *qs[2];
    for (int i = 0; i < n; i++) {
        bool created;
        qs[i] = cq_get_or_create(&t, topics[i], strlen(topics[i]), 0, &created);
    }
    const char *why = body(qs);
    for (int i = 0; i < n; i++)
        cq_unref(qs[i]);
    cq_table_destroy(&t);
    return why;
}

static const char *publish_body(consume_queue **qs)
{
    consume_queue *q = qs[0];
    TRY(put_range(q, 0, 5));
    /* The first entry of a queue is written at once (blank fill before it);
     * the next ones wait in the stage, unseen by readers. */
    TRY(max_is(q, 1, true, "before the write"));
    cq_entry e;
    CHECK(cq_read(q, 1, &e) != 0, "a staged entry was readable before cq_write_staged");
    cq_write_staged(q, false);
    TRY(max_is(q, 5, true, "after the write"));
    return check_range(q, 0, 5);
}

const char *cq_stage_publishes_only_when_written(const char *dir)
{
    const char *topics[] = {"A"};
    return with_queues(dir, 100, topics, 1, publish_body);
}

static const char *same_bytes_body(consume_queue **qs)
{
    consume_queue *a = qs[0], *b = qs[1];
    for (int64_t k = 0; k < 600; k += 100) { /* rounds of 100 entries */
        TRY(put_range(a, k, k + 100));
        TRY(put_range(b, k, k + 100));
        cq_write_staged(a, true);
        cq_write_staged(b, false);
    }
    TRY(max_is(a, 600, true, "through the mapping"));
    TRY(max_is(b, 600, true, "by pwrite"));
    TRY(check_range(a, 0, 600));
    TRY(check_range(b, 0, 600));
    mapped_file *fa = cq_file_at(a, 0), *fb = cq_file_at(b, 0);
    bool same = fa && fb && memcmp(fa->base, fb->base, 1000 * CQ_UNIT) == 0;
    if (fa)
        mf_unref(fa);
    if (fb)
        mf_unref(fb);
    CHECK(same, "the two queue files differ");
    return NULL;
}

const char *cq_stage_map_and_pwrite_write_the_same_bytes(const char *dir)
{
    const char *topics[] = {"ViaMap", "ViaPwrite"};
    return with_queues(dir, 1000, topics, 2, same_bytes_body);
}

static const char *full_body(consume_queue **qs)
{
    consume_queue *q = qs[0];
    TRY(put_range(q, 0, 300));
    /* entry 0 at once; 1..128 written when 129 came, 129..256 when 257 did */
    TRY(max_is(q, 257, true, "with the stage full twice"));
    /* The first entry of the next file writes the stage (it belongs to the
     * file before) and is staged itself. */
    TRY(put_range(q, 300, 750));
    TRY(max_is(q, 600, false, "after crossing two files"));
    cq_write_staged(q, false);
    TRY(check_range(q, 0, 750));
    CHECK(q->nfiles == 3, "%zu files, want 3", q->nfiles);
    return NULL;
}

const char *cq_stage_full_or_file_end_writes_first(const char *dir)
{
    /* 300 entries per file: the stage (128 entries) fills twice in the
     * first file, and the run crosses into the second and third. */
    const char *topics[] = {"Full"};
    return with_queues(dir, 300, topics, 1, full_body);
}

static const char *gap_body(consume_queue **qs)
{
    consume_queue *q = qs[0];
    TRY(put_range(q, 0, 5));
    /* An entry past max is not staged: the stage is written, the gap
     * blank-filled and the entry written, all at once. */
    TRY(put_range(q, 8, 9));
    TRY(max_is(q, 9, true, "after the gap"));
    TRY(check_range(q, 0, 5));
    for (int64_t k = 5; k < 8; k++) {
        cq_entry e;
        CHECK(cq_read(q, k, &e) == 0 && e.size == CQ_BLANK_SIZE && e.phys == 0, "entry %lld of the gap is not blank",
              (long long)k);
    }
    return check_range(q, 8, 9);
}

const char *cq_stage_gap_is_blank_filled_after_the_stage(const char *dir)
{
    const char *topics[] = {"Gap"};
    return with_queues(dir, 100, topics, 1, gap_body);
}
