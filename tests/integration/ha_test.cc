// ha_test.cc - master/slave replication (issue 14) with real processes: a
// nameserver, a master and a slave of broker group "broker-a" on loopback
// (tests/support/cluster.h), producers and consumers through the public API.
//
// What is checked: under SYNC_MASTER 10,000 acknowledged messages are all
// consumable from the slave after kill -9 of the master, and a group that
// had consumed them on the master resumes on the slave at the offsets it
// committed there (copied by the slave's sync); a silent slave makes SYNC
// sends answer FLUSH_SLAVE_TIMEOUT and a dead one SLAVE_NOT_AVAILABLE, never
// SEND_OK, and a restarted slave brings SEND_OK back; a slave restarted far
// behind catches up and its CommitLog is then the master's byte for byte;
// under ASYNC_MASTER the lag is reported (brokerStatus, haLagBytes) and
// closes; a slave refuses sends.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ha_pair.h"

extern "C" {
#include "log.h"
#include "mq/admin.h"
#include "mq/consumer.h"
#include "mq/producer.h"
}

namespace {

const char *kTopic = "HaTopic";

class HaTest : public HaPairTest {
  protected:
    HaTest() : HaPairTest("ha_test") {}

    // A nameserver, master broker-a (id 0, role) and its slave (id 1).
    void start(const std::string &role, std::vector<std::string> extra = {}) {
        extra.insert(extra.begin(), "--mapedFileSizeCommitLog=1048576");
        start_pair(role, kTopic, extra);
    }

    mq_producer *producer(const char *group = "ha_producer") {
        mq_producer_options o;
        mq_producer_options_init(&o);
        o.send_timeout_ms = 10000;
        o.retry_times_when_send_failed = 0;
        mq_producer *p = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_producer_new(group, c.namesrv_list().c_str(), &o, &p, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_producer_start(p, &err)) << err.message;
        producers.push_back(p);
        return p;
    }

    mq_push_consumer *consumer(const char *group, Receipts *got) {
        mq_push_consumer_options o;
        mq_push_consumer_options_init(&o);
        o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
        o.pull_suspend_timeout_ms = 2000;
        o.pull_request_timeout_ms = 5000;
        o.pull_error_delay_ms = 200;
        o.persist_offset_interval_ms = 200;
        o.rebalance_interval_ms = 1000;
        o.heartbeat_interval_ms = 1000;
        o.request_timeout_ms = 3000;
        mq_push_consumer *pc = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_push_consumer_new(group, c.namesrv_list().c_str(), &o, &pc, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_push_consumer_subscribe(pc, kTopic, "*", &err)) << err.message;
        mq_push_consumer_set_listener(pc, record, got);
        EXPECT_EQ(MQ_OK, mq_push_consumer_start(pc, &err)) << err.message;
        consumers.push_back(pc);
        return pc;
    }

    int send(mq_producer *p, const std::string &body, std::string *why = nullptr) {
        return send_to(p, kTopic, body, why);
    }



    // The line of a table that mentions addr (without its newline), or "".
    static std::string row_of(const std::string &out, const std::string &addr) {
        size_t at = out.find(addr);
        if (at == std::string::npos)
            return "";
        size_t b = out.rfind('\n', at), e = out.find('\n', at);
        std::string line = out.substr(b == std::string::npos ? 0 : b + 1, (e == std::string::npos ? out.size() : e) -
                                                                          (b == std::string::npos ? 0 : b + 1));
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        return line;
    }

    // Whether the slave's CommitLog has the master's bytes up to the slave's end.
    bool same_commitlog_prefix(std::string *why) {
        std::string md = c.dir() + "/broker-a-0-store/commitlog", sd = c.dir() + "/broker-a-1-store/commitlog";
        int files = 0;
        for (int64_t start = 0;; start += 1048576) {
            char name[32];
            snprintf(name, sizeof name, "/%020lld", (long long)start);
            std::string s = mqtest::read_file(sd + name), m = mqtest::read_file(md + name);
            if (s.empty())
                break;
            files++;
            if (m.size() != s.size() || m != s) {
                *why = std::string("segment ") + name + " differs";
                return false;
            }
        }
        if (files < 2) {
            *why = "expected the log to span several segments";
            return false;
        }
        return true;
    }

};

TEST_F(HaTest, SyncMasterAcknowledgedMessagesAreAllConsumableFromTheSlaveAfterMasterKill) {
    start("SYNC_MASTER");
    mq_producer *p = producer();
    std::vector<std::string> acked;
    std::atomic<int> next{0};
    std::mutex am;
    std::atomic<int> not_ok{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; t++)
        senders.emplace_back([&] {
            for (int i; (i = next++) < 10000;) {
                std::string body = "sync-" + std::to_string(i) + std::string(100, 'x');
                if (send(p, body) == MQ_SEND_OK) {
                    std::lock_guard<std::mutex> g(am);
                    acked.push_back(body);
                } else {
                    not_ok++;
                }
            }
        });
    for (auto &t : senders)
        t.join();
    ASSERT_EQ(0, not_ok.load()) << "with the slave connected every send is SEND_OK";
    ASSERT_EQ(10000u, acked.size());
    EXPECT_EQ(0, runtime_ll(master, "haLagBytes"));
    // A group consumes everything from the master and commits its offsets.
    Receipts before;
    mq_push_consumer *g1 = consumer("ha_group", &before);
    ASSERT_TRUE(wait_for([&] { return before.has_all(acked); }, 60000));
    // The group's offsets reach the master (persisted on the way out), then
    // the slave's copy: wait for two sync rounds that began after that.
    mq_push_consumer_destroy(g1);
    consumers.clear();
    long long t_destroyed = (long long)std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    ASSERT_TRUE(wait_for([&] { return runtime_ll(slave, "haLastConfigSync") > t_destroyed + 700; }, 10000));

    master->kill9();
    // The route now has only the slave: consumers read from it.
    Receipts fresh;
    consumer("ha_group_after", &fresh);
    ASSERT_TRUE(wait_for([&] { return fresh.has_all(acked); }, 60000))
        << "acknowledged messages missing on the slave: " << fresh.unique() << " of " << acked.size();
    // The group that had consumed on the master resumes at its committed offsets.
    Receipts resumed;
    consumer("ha_group", &resumed);
    std::this_thread::sleep_for(std::chrono::milliseconds(3000)); // time to (wrongly) redeliver
    EXPECT_LT(resumed.total.load(), 100u) << "the slave did not have the group's committed offsets";
    // The slave refuses writes.
    std::string why;
    mq_producer *direct = producer("ha_producer2");
    EXPECT_NE(MQ_SEND_OK, send(direct, "to-slave", &why));
}

TEST_F(HaTest, SilentOrDeadSlaveMakesSyncSendsReportTimeoutNeverSuccess) {
    start("SYNC_MASTER", {"--slaveTimeout=800"});
    mq_producer *p = producer();
    for (int i = 0; i < 200; i++)
        ASSERT_EQ(MQ_SEND_OK, send(p, "warm-" + std::to_string(i)));
    // Alive but silent: the connection stays up, the acks stop.
    pause_now(slave);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(MQ_SEND_FLUSH_SLAVE_TIMEOUT, send(p, "paused-1"));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ms, 700);
    EXPECT_LT(ms, 5000);
    // Killed while senders run: no send completes as SEND_OK once it is gone.
    std::atomic<bool> stop{false};
    std::atomic<bool> dead{false};
    std::atomic<int> ok_after{0}, timeouts{0}, not_available{0}, failed{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; t++)
        senders.emplace_back([&, t] {
            for (int i = 0; !stop; i++) {
                bool started_dead = dead;
                int st = send(p, "kill-" + std::to_string(t) + "-" + std::to_string(i));
                if (st == MQ_SEND_OK && started_dead)
                    ok_after++;
                else if (st == MQ_SEND_FLUSH_SLAVE_TIMEOUT)
                    timeouts++;
                else if (st == MQ_SEND_SLAVE_NOT_AVAILABLE)
                    not_available++;
                else if (st < 0)
                    failed++;
            }
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    slave->kill9();
    dead = true;
    ASSERT_TRUE(wait_for([&] { return not_available.load() >= 50; }, 20000));
    stop = true;
    for (auto &t : senders)
        t.join();
    EXPECT_EQ(0, ok_after.load()) << "a send was acknowledged SEND_OK without a slave";
    EXPECT_GE(timeouts.load(), 1) << "the sends waiting when the slave stopped time out";
    EXPECT_EQ(0, failed.load());
    EXPECT_GE(runtime_ll(master, "haLagBytes"), 0);
    // Back: it catches up and SEND_OK returns.
    ASSERT_TRUE(slave->start());
    ASSERT_TRUE(wait_for([&] { return send(p, "back") == MQ_SEND_OK; }, 20000));
}

TEST_F(HaTest, SlaveRestartedFarBehindCatchesUpByteForByte) {
    start("ASYNC_MASTER");
    mq_producer *p = producer();
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(MQ_SEND_OK, send(p, "early-" + std::to_string(i)));
    ASSERT_TRUE(slave->stop());
    // ~24 MiB written while the slave is away, across many 1 MiB segments.
    std::string pad(2000, 'p');
    std::atomic<int> next{0}, bad{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; t++)
        senders.emplace_back([&] {
            for (int i; (i = next++) < 12000;)
                if (send(p, "behind-" + std::to_string(i) + pad) != MQ_SEND_OK)
                    bad++;
        });
    for (auto &t : senders)
        t.join();
    ASSERT_EQ(0, bad.load());
    long long target = runtime_ll(master, "commitLogMaxOffset");
    ASSERT_GT(target, 24000000);
    ASSERT_TRUE(slave->start());
    // Catch-up speed: from the first progress seen to the master's end.
    long long from = runtime_ll(slave, "haSlaveOffset"), first = -1;
    std::chrono::steady_clock::time_point t_first;
    ASSERT_TRUE(wait_for(
        [&] {
            long long at = runtime_ll(slave, "haSlaveOffset");
            if (first < 0 && at > from) {
                first = at;
                t_first = std::chrono::steady_clock::now();
            }
            return at >= target;
        },
        60000))
        << "slave at " << runtime_ll(slave, "haSlaveOffset") << " of " << target;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_first).count();
    fprintf(stderr, "slave catch-up: %.1f MiB in %.3f s = %.1f MiB/s\n", (target - first) / 1048576.0, secs,
            (target - first) / 1048576.0 / secs);
    ASSERT_TRUE(wait_for([&] { return runtime_ll(master, "haLagBytes") == 0; }, 10000));
    // Both stopped cleanly: the slave's log is the master's, byte for byte.
    ASSERT_TRUE(slave->stop());
    ASSERT_TRUE(master->stop());
    std::string why;
    EXPECT_TRUE(same_commitlog_prefix(&why)) << why;
    // And the master restarted serves the slave again from where it is.
    ASSERT_TRUE(master->start());
    ASSERT_TRUE(slave->start());
    ASSERT_TRUE(wait_for([&] { return send(p, "after-restarts") == MQ_SEND_OK; }, 20000));
    long long end = runtime_ll(master, "commitLogMaxOffset");
    ASSERT_TRUE(wait_for([&] { return runtime_ll(slave, "haSlaveOffset") == end; }, 20000));
}

TEST_F(HaTest, NewSlaveOfAMasterThatDeletedItsFirstSegmentsStartsAtItsFirstOffset) {
    std::string all_hours;
    for (int h = 0; h < 24; h++)
        all_hours += (h ? ";" : "") + std::to_string(h);
    start("ASYNC_MASTER", {"--fileReservedTime=0", "--deleteWhen=" + all_hours});
    ASSERT_TRUE(slave->stop());
    std::filesystem::remove_all(c.dir() + "/broker-a-1-store"); // a new slave: empty store
    mq_producer *p = producer();
    for (int i = 0; i < 3000; i++)
        ASSERT_EQ(MQ_SEND_OK, send(p, "old-" + std::to_string(i) + std::string(1000, 'o')));
    // The cleaner (every 10 s) deletes the expired segments but the current one.
    ASSERT_TRUE(wait_for([&] { return runtime_ll(master, "commitLogMinOffset") > 0; }, 30000));
    long long min = runtime_ll(master, "commitLogMinOffset");
    ASSERT_TRUE(slave->start());
    long long end = runtime_ll(master, "commitLogMaxOffset");
    ASSERT_TRUE(wait_for([&] { return runtime_ll(slave, "haSlaveOffset") == end; }, 20000))
        << runtime_ll(slave, "haSlaveOffset") << " of " << end;
    // It starts at the master's first segment then (the cleaner may have
    // deleted more since `min` was read).
    long long smin = runtime_ll(slave, "commitLogMinOffset");
    EXPECT_GE(smin, min);
    EXPECT_EQ(0, smin % 1048576);
    ASSERT_EQ(MQ_SEND_OK, send(p, "new"));
    end = runtime_ll(master, "commitLogMaxOffset");
    ASSERT_TRUE(wait_for([&] { return runtime_ll(slave, "haSlaveOffset") == end; }, 20000));
}

TEST_F(HaTest, AsyncMasterLagIsReportedAndCloses) {
    start("ASYNC_MASTER");
    mq_producer *p = producer();
    ASSERT_EQ(MQ_SEND_OK, send(p, "first"));
    ASSERT_TRUE(wait_for([&] { return runtime_ll(master, "haSlaveCount") == 1 && runtime_ll(master, "haLagBytes") == 0; },
                         10000));
    pause_now(slave);
    for (int i = 0; i < 500; i++)
        ASSERT_EQ(MQ_SEND_OK, send(p, "lagging-" + std::to_string(i) + std::string(500, 'l')));
    long long lag = runtime_ll(master, "haLagBytes");
    EXPECT_GT(lag, 250000) << "500 messages of ~600 bytes are not on the paused slave";
    ToolResult r = c.mqadmin({"brokerStatus", "-n", c.namesrv_list(), "-b", master->addr()});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("haLagBytes")) << r.out;
    // clusterList: the roles, and the lag in the master's row.
    r = c.mqadmin({"clusterList", "-n", c.namesrv_list()});
    EXPECT_EQ(0, r.exit_code) << r.err;
    std::string mrow = row_of(r.out, master->addr());
    EXPECT_NE(std::string::npos, mrow.find("ASYNC_MASTER")) << r.out;
    EXPECT_GT(atoll(mrow.substr(mrow.find_last_of(' ') + 1).c_str()), 250000) << r.out;
    slave->resume();
    ASSERT_TRUE(wait_for([&] { return runtime_ll(master, "haLagBytes") == 0; }, 10000));
    r = c.mqadmin({"clusterList", "-n", c.namesrv_list()});
    std::string srow = row_of(r.out, slave->addr());
    EXPECT_NE(std::string::npos, srow.find("SLAVE")) << r.out;
    EXPECT_EQ("0", srow.substr(srow.find_last_of(' ') + 1)) << r.out;
    EXPECT_EQ(runtime_ll(master, "commitLogMaxOffset"), runtime_ll(slave, "haSlaveOffset"));
    EXPECT_EQ("true", runtime(slave, "haConnected"));
    // The route lists the group's master and its slave by id.
    r = c.mqadmin({"topicRoute", "-n", c.namesrv_list(), "-t", kTopic, "--json"});
    EXPECT_NE(std::string::npos, r.out.find("\"0\": \"" + master->addr() + "\"")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("\"1\": \"" + slave->addr() + "\"")) << r.out;
}

} // namespace
