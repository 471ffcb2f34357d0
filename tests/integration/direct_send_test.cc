// direct_send_test.cc - synchronous sends on the calling thread's own
// pooled connection (client/direct.c) against a real mqnamesrv and
// mqbroker.
//
// What is checked: twelve threads sending at once use at most eight pooled
// connections, reused from send to send, the rest going over the shared
// connection (the broker's connection count);
// a pooled connection the broker closed (broker restarted) is noticed
// before use, so the next send succeeds with no retry; a broker that stops
// answering (SIGSTOP) gives MQ_ETIMEOUT at the send's deadline, and sends
// succeed again once it resumes; a shutdown while a send waits on a
// stopped broker wakes that send at once with MQ_ESTATE.

#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "producer_fixture.h"
#include "wait.h"

namespace {

const char *kTopic = "DirectTopic";

class DirectSendTest : public OneBrokerProducerTest {
  protected:
    DirectSendTest() : OneBrokerProducerTest("direct_send_test", kTopic) {}

    void make_producer(int timeout_ms, int retries) {
        mq_producer_options o;
        mq_producer_options_init(&o);
        o.send_timeout_ms = timeout_ms;
        o.retry_times_when_send_failed = retries;
        o.send_latency_fault_enable = false;
        start_producer("direct_producer", o);
    }

    int send(const std::string &body, mq_error *err) {
        mq_message *m = message(body);
        int rc = mq_producer_send(p, m, nullptr, err);
        mq_message_destroy(m);
        return rc;
    }

    long connection_count() {
        ToolResult r = c.mqadmin({"brokerStatus", "-n", c.namesrv_list(), "-b", broker->addr()});
        size_t at = r.out.find("connectionCount");
        if (r.exit_code != 0 || at == std::string::npos)
            return -1;
        at = r.out.find_first_of("0123456789", at);
        return at == std::string::npos ? -1 : atol(r.out.c_str() + at);
    }
};

TEST_F(DirectSendTest, TwelveThreadsUseAtMostEightPooledConnectionsAndTheSharedOne) {
    start_with_topic();
    make_producer(5000, 2);
    long before = connection_count();
    ASSERT_GE(before, 0);
    std::atomic<int> failed{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 12; t++)
        ts.emplace_back([&, t] {
            for (int i = 0; i < 200; i++) {
                mq_error err{};
                if (send("t" + std::to_string(t) + "-" + std::to_string(i), &err) != MQ_OK)
                    failed++;
            }
        });
    for (auto &t : ts)
        t.join();
    EXPECT_EQ(0, failed.load());
    // 2,400 sends: at most eight go direct at once (client/instance.c), the
    // others over the producer's own connection, so the broker sees that
    // connection (heartbeats), at most eight pooled ones, and mqadmin's.
    long after = connection_count();
    EXPECT_GE(after, before + 1) << "sync sends used no connection of their own";
    EXPECT_LE(after, before + 9) << "more direct connections than allowed, or not reused";
}

TEST_F(DirectSendTest, AConnectionTheBrokerClosedIsReplacedWithoutARetry) {
    start_with_topic();
    make_producer(5000, 0); // one attempt: a stale connection would fail the send
    mq_error err{};
    ASSERT_EQ(MQ_OK, send("before", &err)) << err.message;
    broker->kill9();
    ASSERT_TRUE(broker->restart());
    ASSERT_TRUE(broker->wait_log("registered with nameserver", 10000));
    // The pooled connection is dead; the next send must notice that before
    // writing and open a new one (the producer's cached route still names
    // the same address: the broker came back on its port).
    for (int i = 0; i < 50; i++)
        ASSERT_EQ(MQ_OK, send("after-" + std::to_string(i), &err)) << i << ": " << err.message;
}

TEST_F(DirectSendTest, AStoppedBrokerTimesOutAtTheDeadlineAndServesAgainAfterResume) {
    start_with_topic();
    make_producer(1000, 0);
    mq_error err{};
    ASSERT_EQ(MQ_OK, send("warm", &err)) << err.message;
    broker->pause();
    auto t0 = std::chrono::steady_clock::now();
    int rc = send("while-stopped", &err);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    broker->resume();
    EXPECT_EQ(MQ_ETIMEOUT, rc) << err.message;
    EXPECT_GE(ms, 900);
    EXPECT_LT(ms, 5000);
    EXPECT_NE(std::string::npos, std::string(err.message).find("timed out")) << err.message;
    // The timed-out connection was closed (its late answer cannot be taken
    // for the next send's); later sends succeed.
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(MQ_OK, send("after-" + std::to_string(i), &err)) << i << ": " << err.message;
}

TEST_F(DirectSendTest, ShutdownWakesASendWaitingOnAStoppedBroker) {
    start_with_topic();
    make_producer(20000, 0);
    mq_error err{};
    ASSERT_EQ(MQ_OK, send("warm", &err)) << err.message;
    broker->pause();
    std::atomic<int> rc{-1000};
    std::atomic<pid_t> tid{0};
    std::thread t([&] {
        mq_error e{};
        tid = (pid_t)syscall(SYS_gettid);
        rc = send("blocked", &e);
    });
    // Wait until the sending thread sleeps in recvfrom (system call 45 on
    // x86-64, 207 on arm64): its request is out, its answer awaited.
    ASSERT_TRUE(wait_for(
        [&] {
            pid_t id = tid.load();
            if (!id)
                return false;
            std::ifstream f("/proc/self/task/" + std::to_string(id) + "/syscall");
            std::string sc;
            std::getline(f, sc);
            return sc.rfind("45 ", 0) == 0 || sc.rfind("207 ", 0) == 0;
        },
        5000));
    // Shutdown itself waits on the stopped broker (its UNREGISTER_CLIENT has
    // the request timeout), so it runs beside; the send must end long before.
    std::thread closer([&] { mq_producer_shutdown(p); });
    bool woken = wait_for([&] { return rc.load() != -1000; }, 5000);
    broker->resume();
    t.join();
    closer.join();
    EXPECT_TRUE(woken) << "the waiting send was not woken by shutdown";
    EXPECT_EQ(MQ_ESTATE, rc.load());
    mq_producer_destroy(p);
    p = nullptr;
}

} // namespace
