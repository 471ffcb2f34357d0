// histogram_test.cc - mqbench's latency histogram (benchmarks/histogram.c):
// bucket edges, precision, quantiles and interval differences.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <vector>

extern "C" {
#include "histogram.h"
}

TEST(Histogram, BucketsTileTheRangeWithBoundedError) {
    for (size_t i = 0; i + 1 < HIST_BUCKETS; i++) {
        EXPECT_EQ(hist_bucket_high(i), hist_bucket_low(i + 1)) << i;
        uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
        EXPECT_EQ(i, hist_index(lo));
        EXPECT_EQ(i, hist_index(hi - 1));
        if (lo >= 64) {
            EXPECT_LE((double)(hi - lo) / (double)lo, 1.0 / 32 + 1e-9);
        }
    }
    EXPECT_EQ(0u, hist_index(0));
    EXPECT_EQ(63u, hist_index(63));
    EXPECT_EQ(HIST_BUCKETS - 1, hist_index(UINT64_MAX));
}

TEST(Histogram, QuantilesOfAKnownDistribution) {
    static hist h; // zeroed
    std::vector<uint64_t> vals;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100000; i++) {
        uint64_t v = 50 + rng() % 20000; // 50 us .. 20 ms
        vals.push_back(v);
        hist_record(&h, v);
    }
    std::sort(vals.begin(), vals.end());
    hist_counts s;
    hist_snapshot(&h, &s);
    EXPECT_EQ(100000u, s.total);
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        double want = (double)vals[(size_t)(q * vals.size())];
        double got = (double)hist_quantile(&s, q);
        EXPECT_GE(got, want);
        EXPECT_LE(got, want * (1 + 1.0 / 32) + 1) << q;
    }
    EXPECT_EQ(vals.back(), h.max);
    EXPECT_GE(hist_max(&s), vals.back());
}

TEST(Histogram, IntervalsBySubtractingSnapshots) {
    static hist h;
    hist_counts a, b, d;
    for (int i = 0; i < 1000; i++)
        hist_record(&h, 100);
    hist_snapshot(&h, &a);
    for (int i = 0; i < 1000; i++)
        hist_record(&h, 5000);
    hist_snapshot(&h, &b);
    hist_diff(&b, &a, &d);
    EXPECT_EQ(1000u, d.total);
    EXPECT_GE(hist_quantile(&d, 0.5), 5000u);
    EXPECT_LE(hist_quantile(&d, 0.5), 5200u);
    hist_counts empty{};
    EXPECT_EQ(0u, hist_quantile(&empty, 0.99));
}
