// transaction_client_test.cc - the transactional producer (mq/transaction.h)
// end to end against real mqnamesrv and mqbroker processes: commit and
// rollback do what they say; a consumer never sees a half message (a
// transaction left UNKNOWN stays invisible until a check-back commits it)
// nor a rolled-back one; a producer process killed after its half message
// and before deciding has its transaction resolved by check-back through
// another member of its group (the order-service example, run as real
// child processes, with its RocksDB order table deciding); `mqbench tx`
// verifies every transaction of a short run and sees check-backs.
//
// The broker runs with a short transactionTimeOut and
// transactionCheckInterval so that check-backs come within a second or two.

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "mq/consumer.h"
#include "mq/transaction.h"
}

namespace {

const char *kTopic = "TxOrders";

// The first line of text containing needle, or "".
std::string line_with(const std::string &text, const std::string &needle) {
    size_t at = text.find(needle);
    if (at == std::string::npos)
        return "";
    size_t begin = text.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    size_t end = text.find('\n', at);
    return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// What a consumer received, by key.
struct Seen {
    std::mutex m;
    std::map<std::string, int> by_key;
    std::vector<std::string> half_flags; // keys of messages carrying TRAN_MSG
    int count(const std::string &k) {
        std::lock_guard<std::mutex> g(m);
        auto it = by_key.find(k);
        return it == by_key.end() ? 0 : it->second;
    }
    static mq_consume_status listener(const mq_message_ext *const *msgs, int n, void *arg) {
        Seen *s = static_cast<Seen *>(arg);
        std::lock_guard<std::mutex> g(s->m);
        for (int i = 0; i < n; i++) {
            std::string k = mq_message_ext_keys(msgs[i]);
            s->by_key[k]++;
            if (mq_message_ext_property(msgs[i], "TRAN_MSG"))
                s->half_flags.push_back(k);
        }
        return MQ_CONSUME_SUCCESS;
    }
};

// A listener whose outcomes the test chooses per key (body = key).
struct Decisions {
    std::mutex m;
    std::map<std::string, mq_transaction_state> execute, check;
    std::atomic<int> checks{0};
    static mq_transaction_state on_execute(const mq_message *msg, const char *, void *, void *arg) {
        Decisions *d = static_cast<Decisions *>(arg);
        std::lock_guard<std::mutex> g(d->m);
        return d->execute[mq_message_keys(msg)];
    }
    static mq_transaction_state on_check(const mq_message_ext *msg, void *arg) {
        Decisions *d = static_cast<Decisions *>(arg);
        d->checks++;
        std::lock_guard<std::mutex> g(d->m);
        auto it = d->check.find(mq_message_ext_keys(msg));
        return it == d->check.end() ? MQ_TRANSACTION_UNKNOWN : it->second;
    }
};

class TransactionClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log_set_level(LOG_ERROR);
        ns = &c.add_namesrv();
        ASSERT_TRUE(ns->start());
        broker = &c.add_broker("broker-a", c.namesrv_list(),
                               {"--transactionTimeOut=1000", "--transactionCheckInterval=500"});
        ASSERT_TRUE(c.start_all());
        ASSERT_TRUE(broker->wait_log("registered with nameserver", 10000));
        ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-c", "DefaultCluster", "-t", kTopic,
                                  "-r", "2", "-w", "2"});
        ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    }
    void TearDown() override {
        for (auto *pc : consumers)
            mq_push_consumer_destroy(pc);
        for (auto *tp : tps)
            mq_transaction_producer_destroy(tp);
        for (pid_t p : children) {
            ::kill(p, SIGKILL);
            mqtest::wait_exit(p, 5000);
        }
    }

    mq_transaction_producer *tx_producer(Decisions *d, const char *group = "tx_group") {
        mq_transaction_producer_options o;
        mq_transaction_producer_options_init(&o);
        o.producer.send_timeout_ms = 5000;
        o.producer.heartbeat_interval_ms = 1000;
        mq_transaction_listener l = {Decisions::on_execute, Decisions::on_check, d};
        mq_transaction_producer *tp = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_transaction_producer_new(group, c.namesrv_list().c_str(), &o, &l, &tp, &err))
            << err.message;
        EXPECT_EQ(MQ_OK, mq_transaction_producer_start(tp, &err)) << err.message;
        tps.push_back(tp);
        return tp;
    }

    mq_push_consumer *consumer(Seen *s, const char *group) {
        mq_push_consumer_options o;
        mq_push_consumer_options_init(&o);
        o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
        o.pull_suspend_timeout_ms = 2000;
        o.rebalance_interval_ms = 1000;
        o.heartbeat_interval_ms = 1000;
        mq_push_consumer *pc = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_push_consumer_new(group, c.namesrv_list().c_str(), &o, &pc, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_push_consumer_subscribe(pc, kTopic, "*", &err)) << err.message;
        mq_push_consumer_set_listener(pc, Seen::listener, s);
        EXPECT_EQ(MQ_OK, mq_push_consumer_start(pc, &err)) << err.message;
        consumers.push_back(pc);
        return pc;
    }

    mq_transaction_send_result send(mq_transaction_producer *tp, const std::string &key) {
        mq_message *m = mq_message_new(kTopic);
        mq_message_set_keys(m, key.c_str(), nullptr);
        mq_message_set_body(m, key.data(), key.size(), nullptr);
        mq_transaction_send_result r{};
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_transaction_producer_send(tp, m, nullptr, &r, &err)) << err.message;
        mq_message_destroy(m);
        return r;
    }

    // A plain message sent after everything else; once the consumer has it
    // and the commits, what it has not seen by then it is not going to see
    // (both queues are drained past it in a single consumer).
    void send_marker(mq_transaction_producer *tp, const std::string &key) {
        mq_message *m = mq_message_new(kTopic);
        mq_message_set_keys(m, key.c_str(), nullptr);
        mq_message_set_body(m, "marker", 6, nullptr);
        mq_error err{};
        mq_producer *p = mq_transaction_producer_producer(tp);
        for (int q = 0; q < 2; q++) { // one per queue
            mq_message_queue mqq{};
            snprintf(mqq.topic, sizeof mqq.topic, "%s", kTopic);
            snprintf(mqq.broker_name, sizeof mqq.broker_name, "broker-a");
            mqq.queue_id = q;
            EXPECT_EQ(MQ_OK, mq_producer_send_to_queue(p, m, &mqq, nullptr, &err)) << err.message;
        }
        mq_message_destroy(m);
    }

    pid_t spawn_order_service(const std::vector<std::string> &args, const std::string &out) {
        std::vector<std::string> all{c.namesrv_list(), "--topic", kTopic};
        all.insert(all.end(), args.begin(), args.end());
        pid_t pid = mqtest::spawn(MqCluster::bin("example_transaction_order_service"), all, out, out);
        EXPECT_GT(pid, 0);
        children.push_back(pid);
        return pid;
    }

    MqCluster c{"txclient"};
    MqProcess *ns = nullptr, *broker = nullptr;
    std::vector<mq_transaction_producer *> tps;
    std::vector<mq_push_consumer *> consumers;
    std::vector<pid_t> children;
};

TEST_F(TransactionClientTest, CommitDeliversOnceAndRollbackNever) {
    Decisions d;
    for (int i = 0; i < 5; i++) {
        d.execute["commit-" + std::to_string(i)] = MQ_TRANSACTION_COMMIT;
        d.execute["rollback-" + std::to_string(i)] = MQ_TRANSACTION_ROLLBACK;
    }
    mq_transaction_producer *tp = tx_producer(&d);
    Seen seen;
    consumer(&seen, "tx_consumer");
    for (int i = 0; i < 5; i++) {
        mq_transaction_send_result r = send(tp, "commit-" + std::to_string(i));
        EXPECT_EQ(MQ_TRANSACTION_COMMIT, r.state);
        EXPECT_EQ(MQ_OK, r.end_rc) << r.end_error.message;
        r = send(tp, "rollback-" + std::to_string(i));
        EXPECT_EQ(MQ_TRANSACTION_ROLLBACK, r.state);
    }
    send_marker(tp, "marker");
    ASSERT_TRUE(wait_for(
        [&] {
            if (seen.count("marker") < 2)
                return false;
            for (int i = 0; i < 5; i++)
                if (seen.count("commit-" + std::to_string(i)) == 0)
                    return false;
            return true;
        },
        20000));
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(1, seen.count("commit-" + std::to_string(i))) << i;
        EXPECT_EQ(0, seen.count("rollback-" + std::to_string(i))) << i;
    }
    std::lock_guard<std::mutex> g(seen.m);
    EXPECT_TRUE(seen.half_flags.empty()) << "a consumer saw a message still flagged TRAN_MSG";
    // Decided at once: nothing for the broker to check.
    EXPECT_EQ(0, d.checks.load());
}

TEST_F(TransactionClientTest, UnknownStaysInvisibleUntilACheckCommitsIt) {
    Decisions d;
    d.execute["pending"] = MQ_TRANSACTION_UNKNOWN;
    d.execute["pending-rb"] = MQ_TRANSACTION_UNKNOWN;
    mq_transaction_producer *tp = tx_producer(&d);
    Seen seen;
    consumer(&seen, "tx_consumer_unknown");
    EXPECT_EQ(MQ_TRANSACTION_UNKNOWN, send(tp, "pending").state);
    EXPECT_EQ(MQ_TRANSACTION_UNKNOWN, send(tp, "pending-rb").state);
    // The check answers UNKNOWN for a while: still invisible.
    ASSERT_TRUE(wait_for([&] { return d.checks.load() >= 2; }, 20000)) << "no check-back arrived";
    send_marker(tp, "marker");
    ASSERT_TRUE(wait_for([&] { return seen.count("marker") == 2; }, 20000));
    EXPECT_EQ(0, seen.count("pending"));
    EXPECT_EQ(0, seen.count("pending-rb"));
    {
        std::lock_guard<std::mutex> g(d.m);
        d.check["pending"] = MQ_TRANSACTION_COMMIT;
        d.check["pending-rb"] = MQ_TRANSACTION_ROLLBACK;
    }
    ASSERT_TRUE(wait_for([&] { return seen.count("pending") == 1; }, 20000)) << "the check's COMMIT never delivered";
    send_marker(tp, "marker2");
    ASSERT_TRUE(wait_for([&] { return seen.count("marker2") == 2; }, 20000));
    EXPECT_EQ(1, seen.count("pending"));
    EXPECT_EQ(0, seen.count("pending-rb"));
    std::lock_guard<std::mutex> g(seen.m);
    EXPECT_TRUE(seen.half_flags.empty());
}

// The order service (a real process) is killed inside its local
// transaction; a second member of the group, started afterwards, answers
// the broker's check-back from the order table: a written row commits the
// order, a missing one rolls it back.
TEST_F(TransactionClientTest, KilledProducerIsResolvedByAnotherMember) {
    std::string db = c.dir() + "/orders";
    std::string out1 = c.dir() + "/logs/order1.out", out2 = c.dir() + "/logs/order2.out",
                out3 = c.dir() + "/logs/order3.out";
    Seen seen;
    consumer(&seen, "inventory_test");

    // 1: row written, then killed before deciding -> committed by check.
    pid_t p1 = spawn_order_service({"--db", db, "--prefix", "kept", "--orders", "1", "--out-of-stock", "0",
                                    "--stall-after-row", "1"},
                                   out1);
    ASSERT_TRUE(wait_for([&] { return mqtest::read_file(out1).find("order row written; the transaction stays open") !=
                                      std::string::npos; },
                         20000))
        << mqtest::read_file(out1);
    ::kill(p1, SIGKILL);
    EXPECT_EQ(128 + SIGKILL, mqtest::wait_exit(p1, 5000));

    // 2: killed before the row -> rolled back by check.
    pid_t p2 = spawn_order_service({"--db", db, "--prefix", "lost", "--orders", "1", "--out-of-stock", "0",
                                    "--stall-before-row", "1"},
                                   out2);
    ASSERT_TRUE(wait_for([&] { return mqtest::read_file(out2).find("order row NOT written") != std::string::npos; },
                         20000))
        << mqtest::read_file(out2);
    ::kill(p2, SIGKILL);
    EXPECT_EQ(128 + SIGKILL, mqtest::wait_exit(p2, 5000));
    EXPECT_EQ(0, seen.count("kept-1"));

    // Another member of the group: places no order, answers check-backs.
    // (The second process may already have answered kept-1 while it hung:
    // any live member may be asked. The sender of each was dead by then.)
    spawn_order_service({"--db", db, "--orders", "0"}, out3);
    auto checks_of = [&](const std::string &order) {
        std::string all = mqtest::read_file(out2) + mqtest::read_file(out3);
        return line_with(all, "check order " + order + " ");
    };
    ASSERT_TRUE(wait_for([&] { return !checks_of("kept-1").empty() && !checks_of("lost-1").empty(); }, 30000))
        << mqtest::read_file(out2) << mqtest::read_file(out3);
    EXPECT_NE(std::string::npos, checks_of("kept-1").find("row found -> COMMIT")) << checks_of("kept-1");
    EXPECT_NE(std::string::npos, checks_of("lost-1").find("row not found -> ROLLBACK")) << checks_of("lost-1");
    EXPECT_EQ("", line_with(mqtest::read_file(out1), "check order"));
    ASSERT_TRUE(wait_for([&] { return seen.count("kept-1") == 1; }, 20000));

    Decisions d;
    mq_transaction_producer *tp = tx_producer(&d, "marker_group");
    send_marker(tp, "marker");
    ASSERT_TRUE(wait_for([&] { return seen.count("marker") == 2; }, 20000));
    EXPECT_EQ(1, seen.count("kept-1"));
    EXPECT_EQ(0, seen.count("lost-1"));
}

// `mqbench tx` against the real broker: every transaction verified, the
// UNKNOWN ones resolved by check-back; bad ratios refused.
TEST_F(TransactionClientTest, MqbenchTxReportsNoMismatchAndSomeChecks) {
    ToolResult r = c.run("mqbench", {"tx", "-n", c.namesrv_list(), "-t", kTopic, "-w", "2", "-s", "64",
                                     "--duration", "2", "--rollback-ratio", "0.2", "--unknown-ratio", "0.2",
                                     "--wait", "60", "--json"},
                         120000);
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    std::string last = r.out.substr(r.out.rfind('{'));
    auto field = [&](const std::string &name) {
        size_t at = last.find("\"" + name + "\":");
        EXPECT_NE(std::string::npos, at) << name << " missing in " << last;
        return at == std::string::npos ? -1.0 : std::stod(last.substr(at + name.size() + 3));
    };
    EXPECT_EQ(0, field("mismatches")) << last;
    EXPECT_GT(field("sent"), 0) << last;
    EXPECT_GT(field("checked"), 0) << last;
    EXPECT_GT(field("rolled_back"), 0) << last;
    EXPECT_GT(field("tps"), 0) << last;
    EXPECT_EQ(field("committed"), field("received")) << last;
    EXPECT_EQ(field("sent"), field("committed") + field("rolled_back")) << last;

    ToolResult bad = c.run("mqbench", {"tx", "-n", c.namesrv_list(), "--rollback-ratio", "0.8", "--unknown-ratio",
                                       "0.5"});
    EXPECT_EQ(2, bad.exit_code) << bad.out << bad.err;
    EXPECT_NE(std::string::npos, bad.err.find("ratio")) << bad.err;
}

} // namespace
