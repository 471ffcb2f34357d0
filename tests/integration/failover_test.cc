// failover_test.cc - failover of a broker group (issue 14 part 3) with real
// processes: a nameserver, master broker-a-0 and slave broker-a-1 on
// loopback (tests/support/cluster.h), `mqadmin haPromote`, producers and
// consumers through the public API.
//
// What is checked: under SYNC_MASTER, after kill -9 of the master and a
// promotion of the slave, sends succeed on the new master and every
// acknowledged message is consumed; the old master restarted with its
// original configuration is fenced by the nameserver, rejoins as a slave,
// has its unreplicated tail cut and recorded, and then holds the new
// master's CommitLog byte for byte. A live old master (fenced by the
// promotion command) refuses sends. A slave whose log is ahead of its
// master's (the master's disk restored from an older copy) is cut to the
// master's end, records it, and follows again. The time from kill -9 to
// consumption resuming on the promoted slave is printed.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ha_pair.h"

extern "C" {
#include "log.h"
#include "mq/admin.h"
#include "mq/admin_ha.h"
#include "mq/consumer.h"
#include "mq/producer.h"
}

namespace {

const char *kTopic = "FoTopic";

using Clock = std::chrono::steady_clock;
long long ms_since(Clock::time_point t) {
    return (long long)std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

class FailoverTest : public HaPairTest {
  protected:
    FailoverTest() : HaPairTest("failover_test") {}

    void start(const std::string &role, std::vector<std::string> extra = {}) {
        extra.insert(extra.begin(), "--mapedFileSizeCommitLog=1048576");
        start_pair(role, kTopic, extra, 3000);
    }

    mq_producer *producer(const char *group, int poll_ms = 1000) {
        mq_producer_options o;
        mq_producer_options_init(&o);
        o.send_timeout_ms = 5000;
        o.retry_times_when_send_failed = 0;
        o.poll_name_server_interval_ms = poll_ms;
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
        o.pull_suspend_timeout_ms = 1000;
        o.pull_request_timeout_ms = 3000;
        o.pull_error_delay_ms = 100;
        o.persist_offset_interval_ms = 200;
        o.rebalance_interval_ms = 500;
        o.heartbeat_interval_ms = 1000;
        o.request_timeout_ms = 2000;
        o.poll_name_server_interval_ms = 500;
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

    bool ha_state(MqProcess *b, mq_ha_state *st) { return mq_admin_ha_state(admin, b->addr().c_str(), st, nullptr) == MQ_OK; }

    // A master's role and epoch, or a slave's, once it answers.
    bool is_role(MqProcess *b, const std::string &role, long long epoch = -1) {
        mq_ha_state st;
        return ha_state(b, &st) && role == st.role && (epoch < 0 || st.epoch == epoch);
    }
    long long max_offset(MqProcess *b) {
        mq_ha_state st;
        return ha_state(b, &st) ? st.max_offset : -1;
    }

    // Every CommitLog segment of `follower` equals the same segment of
    // `leader` (after both stopped: the follower has all of the leader's log).
    bool same_commitlog(const std::string &leader, const std::string &follower, std::string *why) {
        std::string ld = c.dir() + "/" + leader + "-store/commitlog", fd = c.dir() + "/" + follower + "-store/commitlog";
        int files = 0;
        for (int64_t start = 0;; start += 1048576) {
            char name[32];
            snprintf(name, sizeof name, "/%020lld", (long long)start);
            std::string l = mqtest::read_file(ld + name), f = mqtest::read_file(fd + name);
            if (l.empty() && f.empty())
                break;
            files++;
            if (l != f) {
                *why = std::string("segment ") + name + " differs (" + std::to_string(l.size()) + " / " +
                       std::to_string(f.size()) + " bytes)";
                return false;
            }
        }
        if (files == 0) {
            *why = "no CommitLog segment";
            return false;
        }
        return true;
    }

    std::string truncations(const std::string &store) {
        return mqtest::read_file(c.dir() + "/" + store + "-store/ha/truncations");
    }

};

TEST_F(FailoverTest, SyncMasterKilledSlavePromotedNothingAcknowledgedLostOldMasterRejoins) {
    start("SYNC_MASTER");
    mq_producer *p = producer("fo_producer");
    std::vector<std::string> acked;
    for (int i = 0; i < 2000; i++) {
        std::string body = "acked-" + std::to_string(i) + std::string(200, 'x');
        ASSERT_EQ(MQ_SEND_OK, send(p, body)) << "with the slave connected every send is SEND_OK";
        acked.push_back(body);
    }
    Receipts got;
    consumer("fo_group", &got);
    ASSERT_TRUE(wait_for([&] { return got.has_all(acked); }, 60000));

    // kill -9 of the master, then at once the promotion by the operator tool.
    auto t_kill = Clock::now();
    master->kill9();
    ToolResult r = c.mqadmin({"haPromote", "-n", c.namesrv_list(), "-b", "broker-a"});
    long long t_promoted = ms_since(t_kill);
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    EXPECT_NE(std::string::npos, r.out.find("promoted " + slave->addr())) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("epoch 2")) << r.out;
    ASSERT_TRUE(is_role(slave, "ASYNC_MASTER", 2));
    EXPECT_EQ("2", runtime(slave, "haEpoch"));

    // Sends succeed on the new master; the group consumes them from it.
    std::vector<std::string> after;
    ASSERT_TRUE(wait_for(
        [&] {
            std::string body = "after-" + std::to_string(after.size());
            if (send(p, body) != MQ_SEND_OK)
                return false;
            after.push_back(body);
            return true;
        },
        30000));
    long long t_send_ok = ms_since(t_kill);
    ASSERT_TRUE(wait_for([&] { return got.has_all(after); }, 30000));
    long long t_consumed = ms_since(t_kill);
    fprintf(stderr,
            "failover: kill -9 -> haPromote done %lld ms, -> first send OK on the new master %lld ms, "
            "-> consumed %lld ms\n",
            t_promoted, t_send_ok, t_consumed);
    for (int i = 0; i < 200; i++) {
        std::string body = "after-more-" + std::to_string(i);
        ASSERT_EQ(MQ_SEND_OK, send(p, body));
        after.push_back(body);
    }
    ASSERT_TRUE(wait_for([&] { return got.has_all(acked) && got.has_all(after); }, 30000))
        << "acknowledged messages lost: " << got.unique() << " received";
    // Duplicates only as clustering allows: at most what the offsets copied
    // to the slave (every slaveSyncInterval) had not caught up with.
    EXPECT_LT(got.duplicates(), 2000u);

    // The old master restarted with its original configuration (SYNC_MASTER,
    // brokerId 0): fenced by the nameserver, it rejoins as a slave, has
    // nothing to cut and catches up.
    ASSERT_TRUE(master->start());
    ASSERT_TRUE(master->wait_log("FENCED by nameserver", 15000)) << master->log();
    ASSERT_TRUE(wait_for([&] { return is_role(master, "SLAVE", 2); }, 20000));
    long long end = max_offset(slave);
    ASSERT_TRUE(wait_for([&] { return max_offset(master) == end; }, 20000)) << max_offset(master) << " of " << end;
    EXPECT_TRUE(truncations("broker-a-0").empty()) << "nothing was written past the promotion point";
    ASSERT_EQ(MQ_SEND_OK, send(p, "after-rejoin"));
    after.push_back("after-rejoin");
    ASSERT_TRUE(wait_for([&] { return got.has_all(after); }, 30000));
    end = max_offset(slave);
    ASSERT_TRUE(wait_for([&] { return max_offset(master) == end; }, 20000));
    ASSERT_TRUE(master->stop());
    ASSERT_TRUE(slave->stop());
    std::string why;
    EXPECT_TRUE(same_commitlog("broker-a-1", "broker-a-0", &why)) << why;
}

TEST_F(FailoverTest, OldMastersUnreplicatedTailIsCutRecordedAndReplaced) {
    start("SYNC_MASTER");
    mq_producer *p = producer("fo_producer");
    std::vector<std::string> acked;
    for (int i = 0; i < 500; i++) {
        acked.push_back("acked-" + std::to_string(i));
        ASSERT_EQ(MQ_SEND_OK, send(p, acked.back()));
    }
    long long replicated = max_offset(master);
    ASSERT_TRUE(wait_for([&] { return max_offset(slave) == replicated; }, 10000));
    // An unreplicated tail: with the slave stopped these are stored on the
    // master only and never acknowledged (SLAVE_NOT_AVAILABLE).
    ASSERT_TRUE(slave->stop());
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(MQ_SEND_SLAVE_NOT_AVAILABLE, send(p, "unacked-" + std::to_string(i)));
    long long old_end = max_offset(master);
    ASSERT_GT(old_end, replicated);
    master->kill9();
    ASSERT_TRUE(slave->start());
    ToolResult r = c.mqadmin({"haPromote", "-n", c.namesrv_list(), "-b", "broker-a", "-r", "SYNC_MASTER"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    ASSERT_TRUE(is_role(slave, "SYNC_MASTER", 2));
    ASSERT_EQ(replicated, max_offset(slave));
    // Alone, the SYNC_MASTER stores sends but says no slave has them.
    ASSERT_TRUE(wait_for([&] { return send(p, "new-0") == MQ_SEND_SLAVE_NOT_AVAILABLE; }, 30000));
    // The old master comes back: fenced, it cuts [replicated, old_end) and
    // records it, then copies the new master's log.
    ASSERT_TRUE(master->start());
    ASSERT_TRUE(master->wait_log("REPLICATION TRUNCATION", 20000)) << master->log();
    std::string rec = truncations("broker-a-0");
    EXPECT_NE(std::string::npos, rec.find("cut CommitLog [" + std::to_string(replicated) + ", " +
                                          std::to_string(old_end) + ")"))
        << rec;
    EXPECT_NE(std::string::npos, rec.find("5 messages {FoTopic=5}")) << rec;
    ASSERT_TRUE(wait_for([&] { return is_role(master, "SLAVE", 2); }, 20000));
    // With its new slave, SYNC_MASTER sends are SEND_OK again.
    ASSERT_TRUE(wait_for([&] { return send(p, "new-1") == MQ_SEND_OK; }, 30000));
    Receipts got;
    consumer("fo_tail_group", &got);
    acked.push_back("new-0");
    acked.push_back("new-1");
    ASSERT_TRUE(wait_for([&] { return got.has_all(acked); }, 30000));
    long long end = max_offset(slave);
    ASSERT_TRUE(wait_for([&] { return max_offset(master) == end; }, 20000));
    ASSERT_TRUE(master->stop());
    ASSERT_TRUE(slave->stop());
    std::string why;
    EXPECT_TRUE(same_commitlog("broker-a-1", "broker-a-0", &why)) << why;
}

TEST_F(FailoverTest, LiveOldMasterIsFencedRefusesSendsAndRejoins) {
    start("ASYNC_MASTER");
    mq_producer *p = producer("fo_producer", 30000); // keeps its stale route to the old master
    std::vector<std::string> acked;
    for (int i = 0; i < 300; i++) {
        acked.push_back("live-" + std::to_string(i));
        ASSERT_EQ(MQ_SEND_OK, send(p, acked.back()));
    }
    // A planned switch: the tool fences the live master first, lets the
    // slave copy its last bytes, then promotes.
    long long end = max_offset(master);
    ToolResult r = c.mqadmin({"haPromote", "-n", c.namesrv_list(), "-b", "broker-a", "-s", slave->addr(), "-r",
                              "SYNC_MASTER"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    EXPECT_NE(std::string::npos, r.out.find("fenced")) << r.out;
    ASSERT_TRUE(master->wait_log("FENCED by HA_FENCE", 5000));
    ASSERT_TRUE(is_role(slave, "SYNC_MASTER", 2));
    EXPECT_EQ(end, max_offset(slave)) << "a planned switch loses nothing";
    // The old master refuses sends from a client whose route still names it
    // (fenced, restarting, or already a slave: never SEND_OK).
    std::string why;
    EXPECT_NE(MQ_SEND_OK, send(p, "to-old-master", &why));
    // It rejoins as a slave of the new master, with nothing to cut.
    ASSERT_TRUE(wait_for([&] { return is_role(master, "SLAVE"); }, 20000));
    EXPECT_TRUE(truncations("broker-a-0").empty());
    // The client follows the new route; SYNC_MASTER sends are SEND_OK again
    // once the old master replicates.
    ASSERT_TRUE(wait_for([&] { return send(p, "to-new-master") == MQ_SEND_OK; }, 30000));
    Receipts got;
    consumer("fo_live_group", &got);
    acked.push_back("to-new-master");
    ASSERT_TRUE(wait_for([&] { return got.has_all(acked); }, 30000));
    long long e2 = max_offset(slave);
    ASSERT_TRUE(wait_for([&] { return max_offset(master) == e2; }, 20000));
    // A second promotion back to the old master works the same way (epoch 3).
    r = c.mqadmin({"haPromote", "-n", c.namesrv_list(), "-b", "broker-a"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    ASSERT_TRUE(is_role(master, "ASYNC_MASTER", 3));
    ASSERT_TRUE(wait_for([&] { return is_role(slave, "SLAVE", 3); }, 20000));
}

TEST_F(FailoverTest, SlaveAheadOfItsMasterIsCutToTheMastersEndAndFollows) {
    start("ASYNC_MASTER");
    mq_producer *p = producer("fo_producer");
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(MQ_SEND_OK, send(p, "kept-" + std::to_string(i)));
    // A copy of the master's store (stopped cleanly), as a backup would be.
    ASSERT_TRUE(master->stop());
    namespace fs = std::filesystem;
    std::string mstore = c.dir() + "/broker-a-0-store", backup = c.dir() + "/backup-store";
    fs::copy(mstore, backup, fs::copy_options::recursive);
    long long backup_end = -1;
    ASSERT_TRUE(master->start());
    backup_end = max_offset(master);
    // (the producer's connection died with the old process: the first send
    // may fail until it reconnects)
    ASSERT_TRUE(wait_for([&] { return send(p, "lost-0") == MQ_SEND_OK; }, 20000));
    for (int i = 1; i < 50; i++)
        ASSERT_EQ(MQ_SEND_OK, send(p, "lost-" + std::to_string(i)));
    long long end = max_offset(master);
    ASSERT_TRUE(wait_for([&] { return max_offset(slave) == end; }, 20000));
    // The master's disk is replaced by the older copy.
    master->kill9();
    fs::remove_all(mstore);
    fs::copy(backup, mstore, fs::copy_options::recursive);
    ASSERT_TRUE(master->start());
    ASSERT_EQ(backup_end, max_offset(master));
    // The slave, ahead, cuts its log to the master's end and records it.
    ASSERT_TRUE(slave->wait_log("REPLICATION TRUNCATION", 20000)) << slave->log();
    std::string rec = truncations("broker-a-1");
    EXPECT_NE(std::string::npos, rec.find("cut CommitLog [" + std::to_string(backup_end) + ", " +
                                          std::to_string(end) + ")"))
        << rec;
    // 50 (more only if a failed first attempt above was stored after all)
    size_t at = rec.find("{FoTopic=");
    ASSERT_NE(std::string::npos, at) << rec;
    EXPECT_GE(atoi(rec.c_str() + at + 9), 50) << rec;
    EXPECT_NE(std::string::npos, rec.find("slave ahead of its master")) << rec;
    // ...and follows again.
    ASSERT_TRUE(wait_for([&] { return send(p, "new-after-restore") == MQ_SEND_OK; }, 20000));
    long long e2 = max_offset(master);
    ASSERT_TRUE(wait_for([&] { return max_offset(slave) == e2; }, 20000));
    ASSERT_TRUE(slave->stop());
    ASSERT_TRUE(master->stop());
    std::string why;
    EXPECT_TRUE(same_commitlog("broker-a-0", "broker-a-1", &why)) << why;
}

} // namespace
