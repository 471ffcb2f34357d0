// compat_test.cc - the RocketMQ 4.x client compatibility suite: each test
// starts a real mqnamesrv and mqbroker on free loopback ports, creates its
// topics with mqadmin, and runs one scenario of tests/compat/js with Node.js
// and the npm package ali-ons (an independent RocketMQ client speaking the
// JSON remoting protocol). A scenario checks what the client sees and prints
// "RESULT <json>"; the test then checks the broker's side with mqadmin where
// that adds something (dead letters, transactions).
//
// The broker runs with a short delay-level table (so retries, dead letters
// and delayed messages take well under a second) and a quick transaction
// check. Waits are deadlines, never fixed sleeps: in the scenarios
// (waitFor) and here (wait_for).
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "cluster.h"
#include "wait.h"

namespace {

// The delay levels the broker runs with (ms), 18 levels like RocketMQ's.
// Level 2 is the delay test's; levels 3 and 4 are the first two retries.
const std::vector<int> kLevelsMs = {200, 700, 300, 400, 500, 500, 500, 500, 500,
                                    500, 500, 500, 500, 500, 500, 500, 500, 500};

std::string level_table() {
    std::string s;
    for (int ms : kLevelsMs)
        s += (s.empty() ? "" : " ") + std::to_string(ms) + "ms";
    return s;
}

std::string quote(const std::string &s) {
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\')
            out += '\\';
        out += ch;
    }
    return out + "\"";
}

// A JSON object from pairs whose values are already JSON.
std::string json_obj(const std::vector<std::pair<std::string, std::string>> &kv) {
    std::string s = "{";
    for (auto &p : kv)
        s += (s.size() > 1 ? "," : "") + quote(p.first) + ":" + p.second;
    return s + "}";
}

class AliOns : public ::testing::Test {
  protected:
    AliOns() : c("compat") {}

    void SetUp() override {
        std::string marker = std::string(MQ_COMPAT_NODE_MODULES) + "/ali-ons/package.json";
        ASSERT_EQ(access(marker.c_str(), R_OK), 0)
            << "ali-ons is not installed under " << MQ_COMPAT_NODE_MODULES
            << "; the ctest fixture compat_npm_install installs it (run the suite with ctest)";
        setenv("NODE_PATH", MQ_COMPAT_NODE_MODULES, 1);
    }

    void start(std::vector<std::string> flags = {}) {
        ns = &c.add_namesrv();
        ASSERT_TRUE(ns->start());
        flags.push_back("--messageDelayLevel=" + level_table());
        broker = &c.add_broker("broker-a", c.namesrv_list(), flags);
        ASSERT_TRUE(broker->start());
    }

    void create_topic(const std::string &topic, int queues) {
        ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", broker->addr(), "-t", topic, "-r",
                                  std::to_string(queues), "-w", std::to_string(queues)});
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        wait_route(topic);
    }

    // The nameserver routes topic to the broker (after a broker restart too).
    void wait_route(const std::string &topic) {
        ToolResult last;
        bool ok = wait_for(
            [&] {
                last = c.mqadmin({"topicRoute", "-n", c.namesrv_list(), "-t", topic});
                return last.exit_code == 0 && last.out.find(broker->addr()) != std::string::npos;
            },
            10000);
        ASSERT_TRUE(ok) << "no route for " << topic << ": " << last.out << last.err;
    }

    // Runs js/<script>.js with the common settings plus extra (JSON values).
    // Returns the RESULT json; fails the test with the scenario's log if it
    // does not pass.
    std::string scenario(const std::string &script, std::vector<std::pair<std::string, std::string>> extra,
                         int deadline_ms = 30000) {
        std::vector<std::pair<std::string, std::string>> kv = {
            {"namesrv", quote(ns->addr())},
            {"broker", quote(broker->addr())},
            {"brokerName", quote("broker-a")},
            {"deadlineMs", std::to_string(deadline_ms)},
        };
        kv.insert(kv.end(), extra.begin(), extra.end());
        std::string out = c.dir() + "/logs/" + script + std::to_string(++runs_) + ".out";
        std::string err = c.dir() + "/logs/" + script + std::to_string(runs_) + ".err";
        std::string path = std::string(MQ_COMPAT_JS_DIR) + "/" + script + ".js";
        auto t0 = std::chrono::steady_clock::now();
        pid_t pid = mqtest::spawn(MQ_NODE_EXECUTABLE, {path, json_obj(kv)}, out, err);
        EXPECT_GT(pid, 0);
        if (pid <= 0)
            return "";
        int status = mqtest::wait_exit(pid, deadline_ms + 10000);
        if (status == -1) {
            ::kill(pid, SIGKILL);
            mqtest::wait_exit(pid, 5000);
        }
        long ms = (long)std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                      .count();
        std::string text = mqtest::read_file(out);
        std::string log = mqtest::read_file(err);
        EXPECT_EQ(status, 0) << script << ".js failed (status " << status << ") after " << ms << " ms:\n"
                             << log << text;
        size_t at = text.rfind("RESULT ");
        if (status != 0 || at == std::string::npos)
            return "";
        if (getenv("MQ_COMPAT_VERBOSE")) // the scenario's own log, also when it passes
            fprintf(stderr, "%s", log.c_str());
        fprintf(stderr, "%s.js passed in %ld ms: %s", script.c_str(), ms, text.c_str() + at);
        return text.substr(at + 7);
    }

    static std::string num(long v) { return std::to_string(v); }

    MqCluster c;
    MqProcess *ns = nullptr, *broker = nullptr;
    int runs_ = 0;
};

TEST_F(AliOns, SendAndReceiveWithTagsKeysAndQueues) {
    start();
    create_topic("CompatTopic", 4);
    std::string r = scenario("send_receive", {{"topic", quote("CompatTopic")},
                                              {"group", quote("CompatGroup")},
                                              {"queues", "4"},
                                              {"messages", "24"}});
    EXPECT_NE(r.find("\"received\":16"), std::string::npos) << r;
    // The keys ali-ons sent are indexed: mqadmin finds them too.
    ToolResult q = c.mqadmin({"queryMsgByKey", "-n", ns->addr(), "-t", "CompatTopic", "-k", "common-key", "--json"});
    EXPECT_EQ(q.exit_code, 0) << q.err;
    size_t n = 0;
    for (size_t at = q.out.find("\"msgId\""); at != std::string::npos; at = q.out.find("\"msgId\"", at + 1))
        n++;
    EXPECT_EQ(n, 24u) << q.out;
}

TEST_F(AliOns, SendMessageAndBatchAsTheJavaClientSendsThem) {
    start();
    create_topic("CompatRaw", 2);
    scenario("raw_send", {{"topic", quote("CompatRaw")}, {"group", quote("CompatRawGroup")}});
}

TEST_F(AliOns, BroadcastingDeliversEveryMessageToEveryMember) {
    start();
    create_topic("CompatBroadcast", 4);
    scenario("broadcast", {{"topic", quote("CompatBroadcast")}, {"group", quote("CompatBcGroup")}, {"messages", "12"}});
}

TEST_F(AliOns, ClusteringSharesQueuesBetweenMembers) {
    start();
    create_topic("CompatCluster", 4);
    scenario("clustering", {{"topic", quote("CompatCluster")},
                            {"group", quote("CompatClGroup")},
                            {"queues", "4"},
                            {"messages", "16"}});
}

TEST_F(AliOns, DelayLevelHoldsTheMessage) {
    start();
    create_topic("CompatDelay", 2);
    scenario("delay", {{"topic", quote("CompatDelay")},
                       {"group", quote("CompatDelayGroup")},
                       {"delayLevel", "2"},
                       {"delayMs", num(kLevelsMs[1])}});
}

TEST_F(AliOns, FailedMessagesAreRetriedThenDeadLettered) {
    start();
    create_topic("CompatRetry", 2);
    std::string levels = "[";
    for (int ms : kLevelsMs)
        levels += (levels.size() > 1 ? "," : "") + std::to_string(ms);
    levels += "]";
    std::string r = scenario("retry_dlq", {{"topic", quote("CompatRetry")},
                                           {"group", quote("CompatRetryGroup")},
                                           {"levelMs", levels}});
    // The broker's dead-letter view agrees: one message, from CompatRetry,
    // reconsumed twice, with the original message id.
    ToolResult d = c.mqadmin({"queryDlqMsg", "-n", ns->addr(), "-g", "CompatRetryGroup", "--json"});
    ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
    EXPECT_NE(d.out.find("CompatRetry"), std::string::npos) << d.out;
    size_t at = r.find("\"originMsgId\":\"");
    ASSERT_NE(at, std::string::npos) << r;
    std::string origin = r.substr(at + 15, 32);
    EXPECT_NE(d.out.find(origin), std::string::npos) << "original id " << origin << " in " << d.out;
}

TEST_F(AliOns, RestartedConsumerResumesFromCommittedOffsets) {
    start();
    create_topic("CompatRestart", 4);
    std::vector<std::pair<std::string, std::string>> args = {
        {"topic", quote("CompatRestart")}, {"group", quote("CompatRestartGroup")}, {"queues", "4"}, {"messages", "12"}};
    auto first = args;
    first.push_back({"phase", quote("first")});
    scenario("restart", first);
    // The broker restarts too: the offsets come back from its store.
    ASSERT_TRUE(broker->restart());
    wait_route("CompatRestart");
    auto second = args;
    second.push_back({"phase", quote("second")});
    std::string r = scenario("restart", second);
    EXPECT_NE(r.find("\"committed\":24"), std::string::npos) << r;
}

TEST_F(AliOns, NewGroupStartsFromTimestamp) {
    start();
    create_topic("CompatTime", 2);
    scenario("timestamp", {{"topic", quote("CompatTime")},
                           {"group", quote("CompatTimeGroup")},
                           {"queues", "2"},
                           {"messages", "6"}});
}

TEST_F(AliOns, TransactionalMessagesWithCheckBack) {
    start({"--transactionTimeOut=1000", "--transactionCheckInterval=200"});
    create_topic("CompatTx", 1);
    scenario("transaction", {{"topic", quote("CompatTx")}, {"group", quote("CompatTxGroup")}});
    // Nothing is left undecided on the broker.
    ToolResult q = c.mqadmin({"queryTransaction", "-n", ns->addr(), "-b", broker->addr(), "--json"});
    EXPECT_EQ(q.exit_code, 0) << q.out << q.err;
    EXPECT_NE(q.out.find("\"total\": 0"), std::string::npos) << q.out;
    EXPECT_EQ(q.out.find("CompatTx"), std::string::npos) << q.out;
}

TEST_F(AliOns, AdminAndQueryRequests) {
    start();
    create_topic("CompatAdmin", 2);
    scenario("admin", {{"topic", quote("CompatAdmin")}, {"group", quote("CompatAdminGroup")}, {"queues", "2"}});
}

} // namespace
