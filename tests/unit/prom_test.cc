// prom_test.cc - the Prometheus text writer (common/prom.c): label
// escaping, number formatting, histogram buckets are cumulative and end
// with +Inf = count.

#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "prom.h"
}

namespace {

std::string text(bytebuf &b) { return std::string((const char *)b.data, b.len); }

TEST(Prom, FamiliesAndSamplesWithEscapedLabels) {
    bytebuf b;
    bytebuf_init(&b);
    prom_family(&b, "mq_x_total", "counter", "Things.");
    prom_sample(&b, "mq_x_total", 42, 2, "topic", "a\"b\\c\nd", "result", "SUCCESS");
    prom_sample(&b, "mq_x_total", 0.25, 0);
    prom_sample(&b, "mq_x_total", 1e300 * 1e300, 0);
    EXPECT_EQ("# HELP mq_x_total Things.\n# TYPE mq_x_total counter\n"
              "mq_x_total{topic=\"a\\\"b\\\\c\\nd\",result=\"SUCCESS\"} 42\n"
              "mq_x_total 0.25\n"
              "mq_x_total +Inf\n",
              text(b));
    bytebuf_free(&b);
}

TEST(Prom, HistogramBucketsAreCumulative) {
    prom_histogram h{};
    prom_histogram_observe(&h, 0.00005); // <= 100us
    prom_histogram_observe(&h, 0.0001);  // on the bound: still <= 100us
    prom_histogram_observe(&h, 0.003);   // <= 5ms
    prom_histogram_observe(&h, 60);      // only +Inf
    bytebuf b;
    bytebuf_init(&b);
    prom_histogram_write(&b, "mq_d_seconds", &h, "op", "send");
    std::string t = text(b);
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_bucket{op=\"send\",le=\"0.0001\"} 2\n")) << t;
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_bucket{op=\"send\",le=\"0.0025\"} 2\n")) << t;
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_bucket{op=\"send\",le=\"0.005\"} 3\n")) << t;
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_bucket{op=\"send\",le=\"10\"} 3\n")) << t;
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_bucket{op=\"send\",le=\"+Inf\"} 4\n")) << t;
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_count{op=\"send\"} 4\n")) << t;
    EXPECT_NE(std::string::npos, t.find("mq_d_seconds_sum{op=\"send\"} 60.00315")) << t;
    bytebuf_free(&b);

    bytebuf_init(&b);
    prom_histogram_write(&b, "mq_e_seconds", &h, nullptr, nullptr);
    t = text(b);
    EXPECT_NE(std::string::npos, t.find("mq_e_seconds_bucket{le=\"+Inf\"} 4\nmq_e_seconds_sum 60.00315")) << t;
    EXPECT_NE(std::string::npos, t.find("\nmq_e_seconds_count 4\n")) << t;
    bytebuf_free(&b);
}

} // namespace
