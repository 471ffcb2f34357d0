/*
 * histogram.h - latency histogram for mqbench: log-linear buckets over
 * microseconds. Values below 64 us have a bucket each; above, every power
 * of two is split into 32 equal buckets, so a reported percentile is within
 * 1/32 (3.1 %) of the true value, up to 2^41 us. Recording is one relaxed
 * atomic increment (any thread); a reader takes snapshots and subtracts
 * them to get one interval's distribution.
 */
#ifndef MQ_BENCH_HISTOGRAM_H
#define MQ_BENCH_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HIST_BUCKETS (64 + 35 * 32)

typedef struct hist_counts {
    uint64_t c[HIST_BUCKETS];
    uint64_t total;
} hist_counts;

/* Shared by recording threads; zero-initialise (static or calloc). */
typedef struct hist {
    uint64_t c[HIST_BUCKETS]; /* changed with __atomic builtins */
    uint64_t max;             /* largest value ever recorded */
} hist;

/* Bucket of a value in microseconds, and the values a bucket covers [low, high). */
size_t hist_index(uint64_t us);
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);

void hist_record(hist *h, uint64_t us);
/* Copies the counts (a consistent-enough view while others record). */
void hist_snapshot(const hist *h, hist_counts *out);
/* out = now - before (an interval). */
void hist_diff(const hist_counts *now, const hist_counts *before, hist_counts *out);
/* The value at quantile q (0..1): the upper edge of the bucket holding it,
 * in microseconds; 0 if empty. */
uint64_t hist_quantile(const hist_counts *h, double q);
/* The upper edge of the highest non-empty bucket (0 if empty). */
uint64_t hist_max(const hist_counts *h);

#ifdef __cplusplus
}
#endif

#endif
