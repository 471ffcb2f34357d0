/*
 * histogram.c - see histogram.h. Index of v >= 64: with e = floor(log2 v),
 * the top six bits of v select one of 32 sub-buckets of [2^e, 2^(e+1)).
 */
#include "histogram.h"

#include <string.h>

size_t hist_index(uint64_t us)
{
    if (us < 64)
        return (size_t)us;
    int e = 63 - __builtin_clzll(us);
    if (e > 40) /* clamp: beyond 2^41 us (25 days) */
        return HIST_BUCKETS - 1;
    size_t sub = (size_t)(us >> (e - 5)) - 32;
    return 64 + (size_t)(e - 6) * 32 + sub;
}

uint64_t hist_bucket_low(size_t i)
{
    if (i < 64)
        return i;
    size_t e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
    return (uint64_t)(32 + sub) << (e - 5);
}

uint64_t hist_bucket_high(size_t i)
{
    if (i < 64)
        return i + 1;
    size_t e = (i - 64) / 32 + 6;
    return hist_bucket_low(i) + ((uint64_t)1 << (e - 5));
}

void hist_record(hist *h, uint64_t us)
{
    __atomic_fetch_add(&h->c[hist_index(us)], 1, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    while (us > m && !__atomic_compare_exchange_n(&h->max, &m, us, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void hist_snapshot(const hist *h, hist_counts *out)
{
    out->total = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        out->c[i] = __atomic_load_n(&h->c[i], __ATOMIC_RELAXED);
        out->total += out->c[i];
    }
}

void hist_diff(const hist_counts *now, const hist_counts *before, hist_counts *out)
{
    out->total = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        out->c[i] = now->c[i] - before->c[i];
        out->total += out->c[i];
    }
}

uint64_t hist_quantile(const hist_counts *h, double q)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total);
    if (rank >= h->total)
        rank = h->total - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->c[i];
        if (seen > rank)
            return hist_bucket_high(i);
    }
    return hist_bucket_high(HIST_BUCKETS - 1);
}

uint64_t hist_max(const hist_counts *h)
{
    for (size_t i = HIST_BUCKETS; i-- > 0;)
        if (h->c[i])
            return hist_bucket_high(i);
    return 0;
}
