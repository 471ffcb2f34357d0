// Crash soak with real processes. Each cycle: producer threads send unique
// keyed messages with sync sends to a SYNC_FLUSH broker, the broker is
// killed with SIGKILL at a random moment and restarted, and a consumer group
// ("live") reads what is new from its committed offset and commits. At the
// end: every message a producer saw acknowledged is consumable exactly once
// by a fresh group (missing and duplicated counted), the live group's
// offsets are within its queues, and, with the broker stopped, the store is
// opened in-process to check that every ConsumeQueue entry points at an
// intact record of that queue and offset and that the key index finds each
// acknowledged message exactly once at its queue position.
// The same runs with ASYNC_FLUSH (a process kill loses nothing the OS has:
// no acknowledged loss, no corruption), and with the nameserver killed and
// restarted under load (the broker re-registers, clients carry on).
//
// MQ_SOAK_CYCLES (default 5) and MQ_SOAK_THREADS (default 4) scale it:
// tests/soak/crash_soak.sh runs it with 100 cycles. Each test prints one
// "SOAK ..." line with its figures.
#include <cstdlib>
#include <random>

#include "../unit/store_test_util.h"
#include "cluster.h"
#include "reliability_util.h"
#include "wait.h"

namespace {

int env_int(const char *name, int def) {
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : def;
}

const int64_t SEG = 1 << 20;
const int64_t CQ_FILE = 60000;

struct SoakFigures {
    int cycles = 0;
    int64_t acked = 0, failed = 0, missing = 0, duplicated = 0, unacked_present = 0;
    int64_t live_redelivered = 0, live_read = 0;
    int64_t max_restart_ms = 0, total_restart_ms = 0;
};

// With the broker stopped: the store under dir agrees with itself and with
// what was acknowledged (ConsumeQueues -> CommitLog, key index -> queue).
void verify_store(const std::string &dir, const std::vector<std::string> &acked, const std::string &topic) {
    store_config c = storetest::small_config(dir, SEG, CQ_FILE / 20);
    store *s = storetest::open_store(c);
    ASSERT_NE(s, nullptr);
    int64_t in_queues = storetest::verify_all_queues(s);
    EXPECT_GE(in_queues, (int64_t)acked.size());
    int64_t checked = 0;
    for (const std::string &key : acked) {
        int64_t offs[4];
        int n = store_query_by_key(s, topic.c_str(), key.c_str(), 0, INT64_MAX, offs, 4);
        EXPECT_EQ(n, 1) << key;
        if (n != 1)
            continue;
        store_pin pin;
        store_pin_init(&pin);
        store_record_ref ref;
        ASSERT_EQ(store_read_record(s, offs[0], &ref, &pin), 0) << key;
        msg_record r;
        ASSERT_EQ(msg_decode(ref.data, ref.size, true, &r), MSG_OK) << key;
        // The ConsumeQueue entry at the record's queue offset points back at it.
        std::vector<store_record_ref> refs(1);
        store_get_request req = {};
        std::string t(r.topic, r.topic_len);
        req.topic = t.c_str();
        req.queue_id = r.queue_id;
        req.offset = r.queue_offset;
        req.max_count = 1;
        store_get_result res;
        EXPECT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
        EXPECT_EQ(res.status, STORE_GET_FOUND) << key;
        if (res.status == STORE_GET_FOUND) {
            EXPECT_EQ(refs[0].physical_offset, offs[0]) << key;
        }
        store_pin_release(&res.pin);
        store_pin_release(&pin);
        checked++;
    }
    EXPECT_EQ(checked, (int64_t)acked.size());
    store_close(s);
}

void run_soak(const char *flush, int cycles, int threads) {
    std::random_device rd;
    unsigned seed = rd();
    std::mt19937 rng(seed);
    SCOPED_TRACE(std::string(flush) + " seed " + std::to_string(seed));
    MqCluster c("crashsoak");
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--flushDiskType=" + std::string(flush), "--mapedFileSizeCommitLog=" + std::to_string(SEG),
                                 "--mapedFileSizeConsumeQueue=" + std::to_string(CQ_FILE),
                                 "--registerNameServerPeriod=1000"});
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    const std::string topic = "SoakT";
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", b.addr(), "-t", topic, "-r", "4", "-w", "4"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    std::string store_dir = c.dir() + "/broker-a-0-store";

    SoakFigures f;
    std::vector<std::string> acked;
    std::map<std::string, int> live_seen;
    for (int cycle = 0; cycle < cycles; cycle++) {
        SCOPED_TRACE("cycle " + std::to_string(cycle));
        {
            reltest::Senders s(c.namesrv_list(), topic, "c" + std::to_string(cycle), threads);
            ASSERT_TRUE(wait_for([&] { return s.acked_count() >= 20; }, 15000)) << s.last_error();
            // The kill lands anywhere in the next 0..1.5 s of traffic.
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1500000));
            b.kill9();
            s.stop();
            std::vector<std::string> a = s.acked();
            acked.insert(acked.end(), a.begin(), a.end());
            f.failed += s.failed_count();
        }
        size_t log_from = mqtest::file_size(b.log_path());
        auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(b.start(30000));
        int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        f.max_restart_ms = std::max(f.max_restart_ms, ms);
        f.total_restart_ms += ms;
        // The route is back once the broker registered again (the nameserver
        // dropped it when the killed broker's connection closed).
        ASSERT_TRUE(wait_for([&] {
            return mqtest::read_file(b.log_path(), log_from).find("registered with nameserver") != std::string::npos;
        }, 10000));
        f.live_read += reltest::read_topic(c.namesrv_list(), "soak_live", topic, live_seen, true);
        f.cycles++;
        if (testing::Test::HasFailure())
            break;
    }
    for (auto &kv : live_seen)
        f.live_redelivered += kv.second - 1;
    reltest::Verdict v = reltest::compare(acked, reltest::drain(c.namesrv_list(), "soak_final", topic));
    f.acked = v.acked;
    f.missing = v.missing;
    f.duplicated = v.duplicated;
    f.unacked_present = v.unacked_present;
    EXPECT_EQ((int64_t)acked.size(), v.acked) << "keys are unique";
    EXPECT_EQ(0, v.missing) << "first missing " << v.first_missing;
    EXPECT_EQ(0, v.duplicated);
    // Every acknowledged message also reached the live group, across crashes.
    reltest::Verdict lv = reltest::compare(acked, live_seen);
    EXPECT_EQ(0, lv.missing) << "live group missed " << lv.first_missing;

    ASSERT_TRUE(b.stop());
    verify_store(store_dir, acked, topic);
    printf("SOAK %s cycles=%d threads=%d acked=%lld missing=%lld duplicated=%lld unacked_present=%lld "
           "send_failures=%lld live_read=%lld live_redelivered=%lld restart_ms_avg=%lld restart_ms_max=%lld\n",
           flush, f.cycles, threads, (long long)f.acked, (long long)f.missing, (long long)f.duplicated,
           (long long)f.unacked_present, (long long)f.failed, (long long)f.live_read,
           (long long)f.live_redelivered, (long long)(f.cycles ? f.total_restart_ms / f.cycles : 0),
           (long long)f.max_restart_ms);
    fflush(stdout);
    ASSERT_TRUE(ns.stop());
}

} // namespace

TEST(CrashSoak, SyncFlushKill9LosesNoAcknowledgedMessage) {
    run_soak("SYNC_FLUSH", env_int("MQ_SOAK_CYCLES", 5), env_int("MQ_SOAK_THREADS", 4));
}

TEST(CrashSoak, AsyncFlushKill9NoCorruptionNoLoss) {
    run_soak("ASYNC_FLUSH", std::max(2, env_int("MQ_SOAK_CYCLES", 5) / 2), env_int("MQ_SOAK_THREADS", 4));
}

TEST(CrashSoak, NameserverKilledUnderLoadBrokerReRegistersClientsCarryOn) {
    MqCluster c("nssoak");
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--flushDiskType=SYNC_FLUSH", "--registerNameServerPeriod=1000"});
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", b.addr(), "-t", "NsSoakT", "-r", "4", "-w", "4"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    std::vector<std::string> acked;
    int cycles = std::max(2, env_int("MQ_SOAK_CYCLES", 5) / 2);
    {
        reltest::Senders s(c.namesrv_list(), "NsSoakT", "ns", 2);
        for (int cycle = 0; cycle < cycles; cycle++) {
            SCOPED_TRACE("cycle " + std::to_string(cycle));
            ASSERT_TRUE(wait_for([&] { return s.acked_count() >= 20 * (cycle + 1); }, 15000)) << s.last_error();
            ns.kill9();
            // Routes are cached: sends go on while the nameserver is down.
            int64_t at_kill = s.acked_count();
            ASSERT_TRUE(wait_for([&] { return s.acked_count() >= at_kill + 50; }, 15000)) << s.last_error();
            size_t regs = mqtest::read_file(b.log_path()).size();
            ASSERT_TRUE(ns.start());
            // The broker registers again by itself (registerNameServerPeriod).
            ASSERT_TRUE(wait_for([&] {
                return mqtest::read_file(b.log_path(), regs).find("registered with nameserver") != std::string::npos;
            }, 10000));
            ToolResult cl = c.mqadmin({"clusterList", "-n", c.namesrv_list()});
            EXPECT_NE(std::string::npos, cl.out.find("broker-a")) << cl.out << cl.err;
        }
        // A new client finds the route through the restarted nameserver.
        reltest::Senders fresh(c.namesrv_list(), "NsSoakT", "fresh", 1);
        ASSERT_TRUE(wait_for([&] { return fresh.acked_count() >= 10; }, 15000)) << fresh.last_error();
        fresh.stop();
        s.stop();
        acked = s.acked();
        std::vector<std::string> a = fresh.acked();
        acked.insert(acked.end(), a.begin(), a.end());
        EXPECT_EQ(0, s.failed_count()) << s.last_error();
    }
    reltest::Verdict v = reltest::compare(acked, reltest::drain(c.namesrv_list(), "ns_final", "NsSoakT"));
    EXPECT_EQ(0, v.missing) << v.first_missing;
    EXPECT_EQ(0, v.duplicated);
    printf("SOAK nameserver cycles=%d acked=%lld missing=%lld duplicated=%lld\n", cycles, (long long)v.acked,
           (long long)v.missing, (long long)v.duplicated);
    fflush(stdout);
}
