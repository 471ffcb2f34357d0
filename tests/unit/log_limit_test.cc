// Rate-limited log lines (common/log.c): one line per call site per
// interval, with the count of the lines dropped in between, from many threads.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "log.h"
#include "temp_dir.h"
#include "util.h"
#include "wait.h"

namespace {

std::string read_all(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int count_of(const std::string &s, const std::string &needle)
{
    int n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1))
        n++;
    return n;
}

void flood(int n)
{
    for (int i = 0; i < n; i++)
        log_error_limited("disk full: refused put %d", i);
}

} // namespace

TEST(LogLimit, OneLinePerIntervalWithTheCountOfDroppedLines)
{
    TempDir dir;
    std::string path = dir.path() + "/log";
    ASSERT_EQ(log_open_file(path.c_str()), 0);
    log_set_repeat_interval(300);

    // The interval is counted from a site's last written line; only the
    // passing of time ends it, so the test waits on the clock from a moment
    // known to be after that line.
    auto interval_over = [](int64_t since) {
        return wait_for([&] { return mono_ms() > since + 300; });
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back(flood, 2500);
    for (auto &t : ts)
        t.join();
    std::string first = read_all(path);
    EXPECT_EQ(count_of(first, "disk full: refused put"), 1) << first;
    EXPECT_EQ(count_of(first, "suppressed"), 0) << first;

    ASSERT_TRUE(interval_over(mono_ms()));
    flood(1);
    int64_t second_at = mono_ms();
    std::string second = read_all(path);
    EXPECT_EQ(count_of(second, "disk full: refused put"), 2) << second;
    EXPECT_NE(second.find("(9999 similar lines suppressed in the last"), std::string::npos) << second;

    // Another call site has its own limiter.
    log_warn_limited("another site");
    EXPECT_NE(read_all(path).find("another site"), std::string::npos);

    // Lines below the level are neither written nor counted.
    log_set_level(LOG_OFF);
    flood(10);
    log_set_level(LOG_INFO);
    ASSERT_TRUE(interval_over(second_at));
    flood(1);
    std::string third = read_all(path);
    EXPECT_EQ(count_of(third, "disk full: refused put"), 3) << third;
    EXPECT_EQ(count_of(third, "suppressed"), 1) << third;

    log_set_repeat_interval(10000);
    ASSERT_EQ(log_open_file("/dev/stderr"), 0);
}

// A limiter with a burst (remoting's connection lines): the first `burst`
// lines of an interval are written, the rest counted and reported with the
// first line of a later interval.
TEST(LogLimit, ABurstOfLinesPerIntervalThenTheCount)
{
    TempDir dir;
    std::string path = dir.path() + "/log";
    ASSERT_EQ(log_open_file(path.c_str()), 0);
    log_set_repeat_interval(300);
    static log_limiter limiter;
    auto line = [](int i) { log_write_limited(&limiter, 3, LOG_WARN, __FILE__, __LINE__, "peer %d closed", i); };

    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 250; i++)
                line(t * 1000 + i);
        });
    for (auto &t : ts)
        t.join();
    int64_t flood_end = mono_ms();
    std::string first = read_all(path);
    EXPECT_EQ(count_of(first, " closed"), 3) << first;
    EXPECT_EQ(count_of(first, "suppressed"), 0) << first;

    // Only time ends the interval.
    ASSERT_TRUE(wait_for([&] { return mono_ms() > flood_end + 300; }));
    line(-1);
    line(-2);
    std::string second = read_all(path);
    EXPECT_EQ(count_of(second, " closed"), 5) << second;
    EXPECT_NE(second.find("peer -1 closed (997 similar lines suppressed in the last"), std::string::npos) << second;
    EXPECT_EQ(count_of(second, "suppressed"), 1) << second;

    log_set_repeat_interval(10000);
    ASSERT_EQ(log_open_file("/dev/stderr"), 0);
}
