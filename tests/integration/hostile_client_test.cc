// hostile_client_test.cc - the transport's defences (common/remoting.c,
// "Bad input and slow peers" in remoting.h) against real mqbroker and
// mqnamesrv processes: clients that stop mid-frame, trickle a frame byte by
// byte, declare 64 MiB frames or open connections in a loop. Each time:
// memory stays bounded (the server's RSS from /proc), a well-behaved client
// on another connection keeps getting answers, the offender is dropped
// with a log line that says why, and those lines stay few (rate-limited).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "raw_socket.h"
#include "wait.h"

namespace {

using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true; // freed buffers sit in ASan's quarantine: RSS says little
#else
constexpr bool kAsan = false;
#endif

// VmRSS or VmHWM (peak) of a process, in MiB.
double proc_mib(pid_t pid, const char *field) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, strlen(field), field) == 0)
            return std::stod(line.substr(strlen(field) + 1)) / 1024.0;
    return -1;
}

size_t count_of(const std::string &text, const std::string &needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        n++;
    return n;
}

// A well-behaved client: one request, its answer, the time it took (ms);
// -1 if there was no answer.
double ask_ms(RawSocket &s, int32_t code) {
    static int opaque = 1;
    auto t0 = Clock::now();
    if (!s.send_all(make_request(code, opaque++)))
        return -1;
    std::vector<uint8_t> f;
    if (!s.read_frame(f, 5000))
        return -1;
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The prefix of a frame declaring `total` bytes (length field included),
// serialize type 2 with a 16-byte header: what comes after is never checked
// because the frame never completes.
std::string frame_prefix(uint32_t total) {
    std::string p(8, '\0');
    be32_store((uint8_t *)&p[0], total - 4);
    be32_store((uint8_t *)&p[4], (2u << 24) | 16u);
    return p;
}

// 40 connections each send half of a 16 MiB frame and stop (issue 15's
// check): the broker's memory stays within its input limit, it drops them
// (the oldest when over the limit, the rest at the frame deadline), and a
// normal client is served all along. The deadline (15 s) is longer than
// the sending takes even under ASan, so the limit is what drops most.
TEST(HostileClient, HalfFramesAreDroppedAndBrokerMemoryStaysBounded) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    const int kDeadlineMs = 15000;
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--mapedFileSizeCommitLog=1048576",
                                 "--serverFrameTimeoutMillis=" + std::to_string(kDeadlineMs)});
    ASSERT_TRUE(b.start());
    RawSocket good(b.port());
    ASSERT_TRUE(good.ok());
    ASSERT_GE(ask_ms(good, RC_GET_BROKER_RUNTIME_INFO), 0);
    double base = proc_mib(b.pid(), "VmRSS:");

    const uint32_t kFrame = 16u << 20;
    std::string half = frame_prefix(kFrame) + std::string(kFrame / 2 - 8, 'x');
    std::vector<std::unique_ptr<RawSocket>> bad;
    double worst_ms = 0;
    int answered = 0;
    auto t0 = Clock::now();
    for (int i = 0; i < 40; i++) {
        bad.push_back(std::make_unique<RawSocket>(b.port()));
        ASSERT_TRUE(bad.back()->ok());
        bad.back()->send_all(half); // fails once the broker drops it: fine
        double ms = ask_ms(good, RC_GET_BROKER_RUNTIME_INFO);
        ASSERT_GE(ms, 0) << "the well-behaved client got no answer after hostile connection " << i;
        worst_ms = std::max(worst_ms, ms);
        answered++;
    }
    double peak = proc_mib(b.pid(), "VmHWM:");
    double after_send = proc_mib(b.pid(), "VmRSS:");
    // Every hostile connection is closed by the broker, within the frame
    // deadline (plus scheduling slack on a loaded machine).
    for (auto &s : bad)
        EXPECT_TRUE(s->wait_closed(kDeadlineMs + 10000));
    double all_closed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    // Served meanwhile, and afterwards.
    while (std::chrono::duration<double>(Clock::now() - t0).count() < all_closed_s + 0.5) {
        double ms = ask_ms(good, RC_GET_BROKER_RUNTIME_INFO);
        ASSERT_GE(ms, 0);
        worst_ms = std::max(worst_ms, ms);
        answered++;
    }
    double end = proc_mib(b.pid(), "VmRSS:");
    printf("[ broker RSS ] before %.1f MiB, peak %.1f MiB (+%.1f), after sending %.1f MiB, after the drops %.1f MiB; "
           "40 x 8 MiB half-frames dropped within %.1f s; %d answers to a normal client, slowest %.1f ms\n",
           base, peak, peak - base, after_send, end, all_closed_s, answered, worst_ms);
    // 40 x 8 MiB = 320 MiB was sent. The input limit is 64 MiB (default);
    // allow 32 MiB for the one recv that goes over before the drop and the
    // allocator's rounding.
    if (!kAsan) {
        EXPECT_LT(peak - base, 64 + 32) << "the broker held more than its input limit";
    }
    EXPECT_LT(worst_ms, kAsan ? 5000 : 2000) << "the well-behaved client waited too long";
    std::string log = b.log();
    EXPECT_NE(std::string::npos, log.find("input limit of 67108864 bytes reached")) << "no drop for the input limit";
    // 40 drops, but at most 10 lines per 10 s are written for them (so
    // drops at the frame deadline may be counted, not logged, here; the
    // trickle test below sees that reason).
    EXPECT_LE(count_of(log, "dropping connection"), 10u * (size_t)(all_closed_s / 10 + 2));
    EXPECT_TRUE(b.running());
}

// A frame sent one byte at a time never completes before its deadline: the
// sender is dropped, however steadily it trickles.
TEST(HostileClient, ByteByByteSenderIsDroppedAtTheFrameDeadline) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv({"--serverFrameTimeoutMillis=1500"});
    ASSERT_TRUE(ns.start());
    RawSocket good(ns.port());
    ASSERT_GE(ask_ms(good, RC_GET_BROKER_CLUSTER_INFO), 0);
    RawSocket slow(ns.port());
    std::string frame = make_request(RC_GET_BROKER_CLUSTER_INFO, 7, std::string(200, 'b'));
    auto t0 = Clock::now();
    size_t sent = 0;
    while (sent < frame.size() && slow.send_all(frame.data() + sent, 1)) {
        sent++;
        ASSERT_GE(ask_ms(good, RC_GET_BROKER_CLUSTER_INFO), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the hostile client's pace
        if (std::chrono::duration<double>(Clock::now() - t0).count() > 20)
            break;
    }
    EXPECT_TRUE(slow.wait_closed(10000));
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    printf("[ trickle ] %zu of %zu bytes sent one by one; dropped after %.1f s\n", sent, frame.size(), s);
    EXPECT_LT(sent, frame.size());
    EXPECT_TRUE(ns.wait_log("frame not complete 1500 ms after its first byte"));
    EXPECT_GE(ask_ms(good, RC_GET_BROKER_CLUSTER_INFO), 0);
}

// A frame declaring 64 MiB is refused when its length arrives, before any
// of it is buffered; 10 half-sent 16 MiB frames leave the nameserver's
// memory within its input limit (issue 15: they took it from 2 to 82 MiB).
TEST(HostileClient, NameserverRefusesHugeFramesAndBoundsHalfFrames) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv({"--serverFrameTimeoutMillis=3000", "--serverInputMaxBytes=33554432"});
    ASSERT_TRUE(ns.start());
    RawSocket good(ns.port());
    ASSERT_GE(ask_ms(good, RC_GET_BROKER_CLUSTER_INFO), 0);
    double base = proc_mib(ns.pid(), "VmRSS:");
    {
        RawSocket huge(ns.port());
        huge.send_all(frame_prefix(64u << 20) + std::string(1 << 20, 'h'));
        EXPECT_TRUE(huge.wait_closed());
        EXPECT_TRUE(ns.wait_log("exceeds the maximum of 16777216"));
    }
    std::string half = frame_prefix(16u << 20) + std::string((8u << 20) - 8, 'x');
    std::vector<std::unique_ptr<RawSocket>> bad;
    for (int i = 0; i < 10; i++) {
        bad.push_back(std::make_unique<RawSocket>(ns.port()));
        bad.back()->send_all(half);
        ASSERT_GE(ask_ms(good, RC_GET_BROKER_CLUSTER_INFO), 0);
    }
    double peak = proc_mib(ns.pid(), "VmHWM:");
    for (auto &s : bad)
        EXPECT_TRUE(s->wait_closed(13000));
    printf("[ nameserver RSS ] before %.1f MiB, peak %.1f MiB (+%.1f) with 10 x 8 MiB half-frames and a 32 MiB "
           "input limit, now %.1f MiB\n",
           base, peak, peak - base, proc_mib(ns.pid(), "VmRSS:"));
    if (!kAsan) {
        EXPECT_LT(peak - base, 32 + 24);
    }
    EXPECT_GE(ask_ms(good, RC_GET_BROKER_CLUSTER_INFO), 0);
}

// Thousands of connections: past serverMaxConnections they are closed at
// accept, the refusals are logged a few lines per 10 s, memory stays
// small and a connected client is still answered.
TEST(HostileClient, ConnectionFloodIsRefusedOverTheLimitWithFewLogLines) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--mapedFileSizeCommitLog=1048576", "--serverMaxConnections=300"});
    ASSERT_TRUE(b.start());
    RawSocket good(b.port());
    ASSERT_GE(ask_ms(good, RC_GET_BROKER_RUNTIME_INFO), 0);
    double base = proc_mib(b.pid(), "VmRSS:");
    std::vector<std::unique_ptr<RawSocket>> flood;
    for (int i = 0; i < 2000; i++) {
        flood.push_back(std::make_unique<RawSocket>(b.port()));
        if (i % 200 == 0) {
            ASSERT_GE(ask_ms(good, RC_GET_BROKER_RUNTIME_INFO), 0) << "after " << i << " connections";
        }
    }
    // Those over the limit are closed by the broker; count them.
    auto closed_now = [](RawSocket &s) {
        char ch;
        ssize_t r = recv(s.fd(), &ch, 1, MSG_DONTWAIT | MSG_PEEK);
        return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    };
    size_t refused = 0;
    wait_for([&] {
        refused = 0;
        for (auto &s : flood)
            refused += closed_now(*s);
        return refused >= 1700;
    }, 10000);
    double peak = proc_mib(b.pid(), "VmHWM:");
    std::string log = b.log();
    size_t lines = count_of(log, "refusing connection");
    printf("[ connection flood ] 2000 connections, %zu closed at once (limit 300 open); %zu log lines; "
           "RSS %.1f -> peak %.1f MiB\n",
           refused, lines, base, peak);
    EXPECT_GE(refused, 1500u);
    EXPECT_GE(lines, 1u);
    EXPECT_LE(lines, 25u) << "refusals must be rate-limited in the log";
    EXPECT_GE(ask_ms(good, RC_GET_BROKER_RUNTIME_INFO), 0);
    flood.clear();
    // Slots free again: a new client gets in.
    EXPECT_TRUE(wait_for([&] {
        RawSocket again(b.port());
        return ask_ms(again, RC_GET_BROKER_RUNTIME_INFO) >= 0;
    }, 10000));
}

} // namespace
