// async_send_test.cc - the async producer's limit on sends in flight
// (max_async_inflight, client/producer_async.c) against a real mqnamesrv
// and mqbroker.
//
// What is checked: with the limit reached (the broker stopped, SIGSTOP),
// the next send waits; once the broker answers it goes out and every send
// succeeds. Four threads sending through a small limit all complete, and
// the sends begun but not yet answered never pass the limit (plus the
// threads that may be inside a send call). Senders waiting for room are
// woken once a quarter of the limit is free, not at each answer; these
// tests hold that to its promise of no lost or stuck send.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "producer_fixture.h"
#include "wait.h"

namespace {

const char *kTopic = "AsyncTopic";

struct Counts {
    std::atomic<int> begun{0}, ok{0}, failed{0}, max_open{0};
    void begin() {
        int open = ++begun - (ok.load() + failed.load());
        int m = max_open.load();
        while (open > m && !max_open.compare_exchange_weak(m, open))
            ;
    }
};

void on_sent(int rc, const mq_send_result *, const mq_error *, void *arg) {
    Counts *c = static_cast<Counts *>(arg);
    if (rc == MQ_OK)
        c->ok++;
    else
        c->failed++;
}

class AsyncSendTest : public OneBrokerProducerTest {
  protected:
    AsyncSendTest() : OneBrokerProducerTest("async_send_test", kTopic) {}

    void start_with_producer(int max_inflight) {
        start_with_topic();
        mq_producer_options o;
        mq_producer_options_init(&o);
        o.max_async_inflight = max_inflight;
        o.send_timeout_ms = 20000;
        start_producer("async_producer", o);
        mq_message *m = message("warm"); // the route, before the broker is stopped
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, nullptr, &err)) << err.message;
        mq_message_destroy(m);
    }

    int send_async(const std::string &body, Counts *counts) {
        mq_message *m = message(body);
        mq_error err{};
        counts->begin();
        int rc = mq_producer_send_async(p, m, on_sent, counts, &err);
        if (rc != MQ_OK)
            counts->failed++;
        mq_message_destroy(m);
        return rc;
    }
};

TEST_F(AsyncSendTest, TheSendPastTheLimitWaitsUntilTheBrokerAnswers) {
    const int limit = 16;
    start_with_producer(limit);
    Counts counts;
    broker->pause();
    for (int i = 0; i < limit; i++)
        ASSERT_EQ(MQ_OK, send_async("in-limit-" + std::to_string(i), &counts)) << i;
    std::atomic<int> extra_rc{-1000};
    std::thread extra([&] { extra_rc = send_async("past-the-limit", &counts); });
    // The broker answers nothing while stopped: the 17th send must wait.
    EXPECT_FALSE(wait_for([&] { return extra_rc.load() != -1000; }, 300))
        << "a send past max_async_inflight did not wait";
    broker->resume();
    extra.join();
    EXPECT_EQ(MQ_OK, extra_rc.load());
    ASSERT_TRUE(wait_for([&] { return counts.ok.load() + counts.failed.load() == limit + 1; }, 20000))
        << counts.ok.load() << " ok, " << counts.failed.load() << " failed";
    EXPECT_EQ(limit + 1, counts.ok.load());
}

TEST_F(AsyncSendTest, FourThreadsThroughASmallLimitAllCompleteWithinIt) {
    const int limit = 40, threads = 4, each = 500;
    start_with_producer(limit);
    Counts counts;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&, t] {
            std::string body(1024, 'a' + t);
            for (int i = 0; i < each; i++)
                send_async(body, &counts);
        });
    for (auto &t : ts)
        t.join();
    ASSERT_TRUE(wait_for([&] { return counts.ok.load() + counts.failed.load() == threads * each; }, 30000))
        << counts.ok.load() << " ok, " << counts.failed.load() << " failed";
    EXPECT_EQ(threads * each, counts.ok.load());
    // In flight: at most the limit, plus the threads inside a send call
    // that have not yet taken their place.
    EXPECT_LE(counts.max_open.load(), limit + threads);
    EXPECT_GE(counts.max_open.load(), 2) << "the sends were never pipelined";
}

} // namespace
