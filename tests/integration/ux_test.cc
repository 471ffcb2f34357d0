// ux_test.cc - what a new user and a RocketMQ operator meet first (issue
// 18), against real processes: mqadmin consumeMessage's RocketMQ flags and
// that it leaves a group's offsets alone; honest exits (no broker, unknown
// group or topic, a broker port given as nameserver, a refused connection);
// -h / help / unknown flags / --version; a stock RocketMQ broker.conf; the
// client's log level and log callback.
#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.h"
#include "mq/consumer.h"
#include "mq/mq.h"
#include "mq/producer.h"
#include "ports.h"
#include "wait.h"

namespace {

const char *kTopic = "UxTopic";

bool has(const std::string &text, const std::string &needle) { return text.find(needle) != std::string::npos; }

int count_lines_starting(const std::string &text, const std::string &prefix) {
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
        n += line.rfind(prefix, 0) == 0;
    return n;
}

class UxTest : public OneBrokerTest {
  protected:
    UxTest() : OneBrokerTest("ux_test") {}

    void start_with_topic() {
        OneBrokerTest::start_with_topic(kTopic, 2);
        ASSERT_TRUE(wait_for([&] { return queues().size() == 2; }, 10000));
    }

    std::vector<mq_message_queue> queues() {
        std::vector<mq_message_queue> v;
        mq_pull_consumer *pc = nullptr;
        if (mq_pull_consumer_new("ux_probe", c.namesrv_list().c_str(), nullptr, &pc, nullptr) == MQ_OK &&
            mq_pull_consumer_start(pc, nullptr) == MQ_OK) {
            mq_message_queue *qs = nullptr;
            int n = 0;
            if (mq_pull_consumer_fetch_queues(pc, kTopic, &qs, &n, nullptr) == MQ_OK)
                v.assign(qs, qs + n);
            mq_free(qs);
        }
        mq_pull_consumer_destroy(pc);
        return v;
    }

    // The committed offset of every queue for group (-1: none).
    std::vector<int64_t> offsets(const std::string &group) {
        std::vector<int64_t> v;
        mq_pull_consumer *pc = nullptr;
        EXPECT_EQ(MQ_OK, mq_pull_consumer_new(group.c_str(), c.namesrv_list().c_str(), nullptr, &pc, nullptr));
        EXPECT_EQ(MQ_OK, mq_pull_consumer_start(pc, nullptr));
        for (auto &q : queues()) {
            int64_t off = -1;
            if (mq_pull_consumer_query_offset(pc, &q, &off, nullptr) != MQ_OK)
                off = -1;
            v.push_back(off);
        }
        mq_pull_consumer_destroy(pc);
        return v;
    }

    void commit(const std::string &group, int64_t offset) {
        mq_pull_consumer *pc = nullptr;
        ASSERT_EQ(MQ_OK, mq_pull_consumer_new(group.c_str(), c.namesrv_list().c_str(), nullptr, &pc, nullptr));
        ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, nullptr));
        for (auto &q : queues())
            ASSERT_EQ(MQ_OK, mq_pull_consumer_commit_offset(pc, &q, offset, nullptr));
        mq_pull_consumer_destroy(pc);
    }

    // n messages, alternating queues, tags TagA/TagB, bodies m0..m(n-1).
    void send(int n) {
        mq_producer *p = nullptr;
        ASSERT_EQ(MQ_OK, mq_producer_new("ux_producer", c.namesrv_list().c_str(), nullptr, &p, nullptr));
        ASSERT_EQ(MQ_OK, mq_producer_start(p, nullptr));
        auto qs = queues();
        ASSERT_EQ(2u, qs.size());
        for (int i = 0; i < n; i++) {
            mq_message *m = mq_message_new(kTopic);
            std::string body = "m" + std::to_string(i);
            mq_message_set_body(m, body.data(), body.size(), nullptr);
            mq_message_set_tags(m, i % 2 ? "TagB" : "TagA", nullptr);
            mq_error err{};
            ASSERT_EQ(MQ_OK, mq_producer_send_to_queue(p, m, &qs[i % 2], nullptr, &err)) << err.message;
            mq_message_destroy(m);
        }
        mq_producer_destroy(p);
        // A send is answered once stored; the ConsumeQueues that readers see
        // are built just after, by the dispatcher, which may lag under load.
        ASSERT_TRUE(wait_for([&] { return max_offset_sum() >= n; }, 10000)) << max_offset_sum();
    }

    int64_t max_offset_sum() {
        int64_t sum = 0;
        mq_pull_consumer *pc = nullptr;
        if (mq_pull_consumer_new("ux_probe", c.namesrv_list().c_str(), nullptr, &pc, nullptr) == MQ_OK &&
            mq_pull_consumer_start(pc, nullptr) == MQ_OK)
            for (auto &q : queues()) {
                int64_t max = 0;
                if (mq_pull_consumer_max_offset(pc, &q, &max, nullptr) == MQ_OK)
                    sum += max;
            }
        mq_pull_consumer_destroy(pc);
        return sum;
    }
};

TEST_F(UxTest, ConsumeMessageTakesACountAndLeavesTheGroupsOffsets) {
    start_with_topic();
    send(20); // 10 per queue
    commit("audit", 2);
    std::vector<int64_t> before = offsets("audit");
    ASSERT_EQ((std::vector<int64_t>{2, 2}), before);

    // -c is a count, as in RocketMQ: 3 messages, from where the group is.
    ToolResult r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "-g", "audit", "-c", "3"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    EXPECT_EQ(3, count_lines_starting(r.out, "msgId=")) << r.out << r.err;
    EXPECT_TRUE(has(r.out, "queueOffset=2 ")) << r.out;
    EXPECT_FALSE(has(r.out, "queueOffset=1 ")) << r.out;
    EXPECT_TRUE(has(r.err, "no offsets committed")) << r.err;
    EXPECT_EQ(before, offsets("audit"));

    // Default count 128 covers the whole topic; without -g from min offsets.
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "--json"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(20, count_lines_starting(r.out, "{")) << r.out;

    // One queue from an offset (-b -i -o), and a tag filter (ours: --tags).
    std::string bname = queues()[1].broker_name;
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "-b", bname, "-i", "1", "-o", "7"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(3, count_lines_starting(r.out, "msgId=")) << r.out;
    EXPECT_TRUE(has(r.out, "queueId=1 queueOffset=7 ")) << r.out;
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "--tags", "TagA"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(10, count_lines_starting(r.out, "msgId=")) << r.out;
    EXPECT_FALSE(has(r.out, "tags=TagB")) << r.out;
    // -e END before every message: nothing, still exit 0.
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "-e", "1000"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(0, count_lines_starting(r.out, "msgId=")) << r.out;
    EXPECT_EQ(before, offsets("audit"));

    // --commit (ours) moves the group past what was printed.
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "-g", "audit", "-c", "3", "--commit"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    std::vector<int64_t> after = offsets("audit");
    EXPECT_EQ(before[0] + before[1] + 3, after[0] + after[1]);

    // Bad usage names what is wrong.
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "-c", "TagA"});
    EXPECT_EQ(2, r.exit_code);
    EXPECT_TRUE(has(r.err, "-c 'TagA' is not a number")) << r.err;
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", kTopic, "--commit"});
    EXPECT_EQ(2, r.exit_code);
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", "NoSuchTopic"});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
}

TEST_F(UxTest, EmptyAnswersAndMissingThingsExitOneWithAReason) {
    start_with_topic();
    ToolResult r = c.mqadmin({"consumerProgress", "-n", c.namesrv_list(), "-g", "nobody"});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "group nobody has no offsets")) << r.err;
    r = c.mqadmin({"deleteTopic", "-n", c.namesrv_list(), "-c", "DefaultCluster", "-t", "NoSuchTopic"});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "does not exist")) << r.err;
    EXPECT_FALSE(has(r.out, "success")) << r.out;
    r = c.mqadmin({"deleteSubGroup", "-n", c.namesrv_list(), "-c", "DefaultCluster", "-g", "nobody"});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "does not exist, nothing deleted")) << r.err;
    r = c.mqadmin({"topicRoute", "-n", c.namesrv_list(), "-t", "NoSuchTopic"});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    // A broker's port given as the nameserver.
    r = c.mqadmin({"clusterList", "-n", broker->addr()});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "is that a broker port")) << r.err;
    // Nobody listening: "refused", with the address.
    std::string closed = "127.0.0.1:" + std::to_string(unused_port());
    r = c.mqadmin({"clusterList", "-n", closed});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "refused")) << r.err;
    EXPECT_TRUE(has(r.err, closed)) << r.err;
}

TEST(UxNoBrokerTest, ClusterListAndTopicListWithoutABrokerExitOne) {
    MqCluster c("ux_nobroker");
    c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    ToolResult r = c.mqadmin({"clusterList", "-n", c.namesrv_list()});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "no broker is registered")) << r.err;
    r = c.mqadmin({"topicList", "-n", c.namesrv_list()});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "no broker is registered")) << r.err;
    r = c.mqadmin({"consumerProgress", "-n", c.namesrv_list()});
    EXPECT_EQ(1, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "no master broker is registered")) << r.err;
}

TEST(UxHelpTest, EveryVerbHasFlagHelpAndUnknownFlagsAreNamed) {
    MqCluster c("ux_help");
    ToolResult all = c.mqadmin({"--help"});
    ASSERT_EQ(0, all.exit_code);
    std::istringstream in(all.out);
    std::string line;
    int verbs = 0;
    bool in_commands = false;
    while (std::getline(in, line)) {
        if (line == "Commands:") {
            in_commands = true;
            continue;
        }
        if (!in_commands)
            continue;
        if (line.size() < 3 || line[0] != ' ')
            break;
        std::string verb = line.substr(2, line.find(' ', 2) - 2);
        verbs++;
        ToolResult h = c.mqadmin({verb, "-h"});
        EXPECT_EQ(0, h.exit_code) << verb;
        EXPECT_TRUE(has(h.out, "Usage: mqadmin " + verb)) << h.out;
        EXPECT_TRUE(has(h.out, "  -n NAMESRV ")) << verb << h.out;
        EXPECT_TRUE(has(h.out, "(default: $NAMESRV_ADDR)")) << verb << h.out;
        ToolResult hv = c.mqadmin({"help", verb});
        EXPECT_EQ(0, hv.exit_code) << verb;
        EXPECT_EQ(h.out, hv.out) << verb;
        ToolResult bad = c.mqadmin({verb, "--no-such-flag"});
        EXPECT_EQ(2, bad.exit_code) << verb;
        EXPECT_TRUE(has(bad.err, "unknown flag '--no-such-flag'")) << verb << bad.err;
    }
    EXPECT_GE(verbs, 28);
    ToolResult h = c.mqadmin({"help", "consumeMessage"});
    EXPECT_TRUE(has(h.out, "-c COUNT")) << h.out;
    EXPECT_TRUE(has(h.out, "(default: 128)")) << h.out;
    ToolResult bad = c.mqadmin({"sendMessage", "-x", "1"});
    EXPECT_EQ(2, bad.exit_code);
    EXPECT_TRUE(has(bad.err, "unknown flag '-x'")) << bad.err;
    bad = c.mqadmin({"topicRoute", "-t"});
    EXPECT_EQ(2, bad.exit_code);
    EXPECT_TRUE(has(bad.err, "flag '-t' needs a value")) << bad.err;
    bad = c.mqadmin({"help", "noSuchVerb"});
    EXPECT_EQ(2, bad.exit_code);

    for (const char *prog : {"mqnamesrv", "mqbroker", "mqconsole"}) {
        ToolResult u = c.run(prog, {"--no-such-flag"});
        EXPECT_EQ(2, u.exit_code) << prog;
        EXPECT_TRUE(has(u.err, "unknown flag '--no-such-flag'")) << prog << u.err;
    }
    for (const char *prog : {"mqadmin", "mqnamesrv", "mqbroker", "mqbench", "mqconsole", "store_bench"}) {
        ToolResult v = c.run(prog, {"--version"});
        EXPECT_EQ(0, v.exit_code) << prog << v.err;
        EXPECT_EQ(std::string(prog) + " " + mq_version() + "\n", v.out) << prog;
    }
}

// The stock RocketMQ broker.conf (tests/integration/conf), store paths moved
// to the test's folder.
std::string stock_conf(MqCluster &c, const std::string &extra = "") {
    std::ifstream in(std::string(MQ_SOURCE_DIR) + "/tests/integration/conf/rocketmq-4.9-broker.conf");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    const std::string from = "/usr/local/rocketmq/store";
    for (size_t at; (at = text.find(from)) != std::string::npos;)
        text.replace(at, from.size(), c.dir() + "/rmq-store");
    std::string path = c.dir() + "/broker.conf";
    std::ofstream(path) << text << extra;
    return path;
}

TEST(UxBrokerConfTest, AStockRocketMQBrokerConfStartsTheBroker) {
    MqCluster c("ux_conf");
    c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    std::string conf = stock_conf(c);
    // The cluster's own flags (free port, -n, storePathRootDir) come after -c
    // and win, so point storePathRootDir back at the file's value.
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"-c", conf, "--storePathRootDir=" + c.dir() + "/rmq-store",
                                 "--mapedFileSizeCommitLog=1048576", "--mappedFileSizeCommitLog=1048576"});
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    std::string log = b.log();
    size_t at = log.find("accepted but not used");
    ASSERT_NE(std::string::npos, at) << log;
    EXPECT_EQ(std::string::npos, log.find("accepted but not used", at + 1)) << "warned twice:\n" << log;
    for (const char *key : {"brokerIP2", "sendMessageThreadPoolNums", "flushConsumeQueueLeastPages"})
        EXPECT_TRUE(has(log.substr(at, log.find('\n', at) - at), key)) << key;
    for (const char *honoured : {"storePathCommitLog", "mappedFileSizeCommitLog", "deleteWhen"})
        EXPECT_FALSE(has(log.substr(at, log.find('\n', at) - at), honoured)) << honoured;
    EXPECT_EQ(0, access((c.dir() + "/rmq-store/commitlog").c_str(), F_OK)) << "the store is where the file says";
    ToolResult r = c.mqadmin({"clusterList", "-n", c.namesrv_list()});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(has(r.out, "broker-a")) << r.out;
    // maxMessageSize=65536 from the file is honoured.
    r = c.mqadmin({"getBrokerConfig", "-n", c.namesrv_list(), "-b", b.addr()});
    EXPECT_TRUE(has(r.out, "65536")) << r.out;
}

TEST(UxBrokerConfTest, StrictModeAndPathsWeCannotHonourRefuseToStartAndSlaveReplicates) {
    MqCluster c("ux_conf_strict");
    std::string store = "--storePathRootDir=" + c.dir() + "/rmq-store";
    ToolResult r = c.run("mqbroker", {"-c", stock_conf(c, "strictConfig=true\n"), store, "--listenPort=0"});
    EXPECT_EQ(2, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "strictConfig=true")) << r.err;
    EXPECT_TRUE(has(r.err, "sendMessageThreadPoolNums")) << r.err;
    r = c.run("mqbroker", {"-c", stock_conf(c), store, "--storeCheckpoint=/elsewhere/checkpoint", "--listenPort=0"});
    EXPECT_EQ(2, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "storeCheckpoint=/elsewhere/checkpoint")) << r.err;
    r = c.run("mqbroker", {"-p", "-c", stock_conf(c), store});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(has(r.out, "mapedFileSizeConsumeQueue=300000\n")) << r.out;
    EXPECT_FALSE(has(r.out, "sendMessageThreadPoolNums")) << "not part of the effective configuration";
    EXPECT_TRUE(has(r.out, "aclEnable=false\n")) << r.out;
    // ACL is not implemented: asking for it stops the broker instead of
    // letting it run open.
    r = c.run("mqbroker", {"-c", stock_conf(c, "aclEnable=true\n"), store, "--listenPort=0"});
    EXPECT_EQ(2, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "aclEnable: RocketMQ ACL is not implemented")) << r.err;
    r = c.run("mqbroker", {"-c", stock_conf(c), store, "--aclEnable=true", "--listenPort=0"});
    EXPECT_EQ(2, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.err, "aclEnable: RocketMQ ACL is not implemented")) << r.err;

    c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &s = c.add_broker("broker-a", c.namesrv_list(), {"--brokerRole=SLAVE"}, 1);
    ASSERT_TRUE(s.start());
    EXPECT_TRUE(has(s.log(), "replication: SLAVE 1 of broker-a")) << s.log();
}

// storePathCommitLog, storePathConsumeQueue and storePathIndex as RocketMQ
// operators set them (the CommitLog on its own disk): each part is written
// where configured, found there again after a restart, and the lock and
// checkpoint stay under storePathRootDir.
TEST(UxBrokerConfTest, StorePathsPutEachPartWhereConfigured) {
    MqCluster c("ux_paths");
    c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    const std::string root = c.dir() + "/root", cl = c.dir() + "/disk-cl/commitlog",
                      cq = c.dir() + "/disk-cq/consumequeue", idx = c.dir() + "/disk-idx/index";
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--storePathRootDir=" + root, "--storePathCommitLog=" + cl,
                                 "--storePathConsumeQueue=" + cq, "--storePathIndex=" + idx,
                                 "--mappedFileSizeCommitLog=1048576"});
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", b.addr(), "-t", "Paths", "-r", "1",
                              "-w", "1"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    for (int i = 0; i < 5; i++) {
        r = c.mqadmin({"sendMessage", "-n", c.namesrv_list(), "-t", "Paths", "-p", "body-" + std::to_string(i),
                       "-k", "key-" + std::to_string(i)});
        ASSERT_EQ(0, r.exit_code) << r.out << r.err;
        ASSERT_TRUE(has(r.out, "SEND_OK")) << r.out;
    }
    ASSERT_TRUE(b.stop());
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    // Everything sent before the restart is read back, by queue and by key.
    r = c.mqadmin({"consumeMessage", "-n", c.namesrv_list(), "-t", "Paths"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    for (int i = 0; i < 5; i++)
        EXPECT_TRUE(has(r.out, "body-" + std::to_string(i))) << r.out;
    r = c.mqadmin({"queryMsgByKey", "-n", c.namesrv_list(), "-t", "Paths", "-k", "key-3"});
    EXPECT_EQ(0, r.exit_code) << r.out << r.err;
    EXPECT_TRUE(has(r.out, "key-3")) << r.out;
    ASSERT_TRUE(b.stop());
    auto entries = [](const std::string &dir) {
        std::vector<std::string> out;
        if (DIR *d = opendir(dir.c_str())) {
            while (struct dirent *e = readdir(d))
                if (e->d_name[0] != '.')
                    out.push_back(e->d_name);
            closedir(d);
        }
        return out;
    };
    // CommitLog segments are named by their 20-digit start offset.
    std::vector<std::string> segs = entries(cl);
    ASSERT_FALSE(segs.empty());
    EXPECT_EQ(20u, segs[0].size()) << segs[0];
    EXPECT_EQ((std::vector<std::string>{"0"}), entries(cq + "/Paths")) << "one queue of topic Paths";
    EXPECT_EQ(0, access((idx + "/CURRENT").c_str(), F_OK)) << "the index database";
    for (const char *own : {"lock", "checkpoint", "config"})
        EXPECT_EQ(0, access((root + "/" + own).c_str(), F_OK)) << own;
    for (const char *moved : {"commitlog", "consumequeue", "kv", "index"})
        EXPECT_NE(0, access((root + "/" + moved).c_str(), F_OK)) << moved << " under the root";
}

// The client's public logging switches: the callback gets the lines, the
// level filters them.
std::mutex g_lines_mu;
std::vector<std::pair<mq_log_level, std::string>> g_lines;

void capture(mq_log_level level, const char *line, void *arg) {
    std::lock_guard<std::mutex> g(g_lines_mu);
    g_lines.emplace_back(level, line);
    ++*static_cast<std::atomic<int> *>(arg);
}

TEST(UxLogTest, TheLogCallbackGetsWarningsAndTheLevelFiltersThem) {
    std::atomic<int> n{0};
    mq_log_set_callback(capture, &n);
    mq_log_set_level(MQ_LOG_WARN);
    std::string closed = "127.0.0.1:" + std::to_string(unused_port());
    mq_producer *p = nullptr;
    mq_producer_options o;
    mq_producer_options_init(&o);
    ASSERT_EQ(MQ_OK, mq_producer_new("ux_log", closed.c_str(), &o, &p, nullptr));
    ASSERT_EQ(MQ_OK, mq_producer_start(p, nullptr));
    mq_message *m = mq_message_new(kTopic);
    mq_message_set_body(m, "x", 1, nullptr);
    mq_error err{};
    EXPECT_NE(MQ_OK, mq_producer_send(p, m, nullptr, &err));
    EXPECT_TRUE(has(err.message, "refused")) << err.message;
    EXPECT_TRUE(wait_for([&] { return n.load() > 0; }, 5000));
    {
        std::lock_guard<std::mutex> g(g_lines_mu);
        ASSERT_FALSE(g_lines.empty());
        EXPECT_EQ(MQ_LOG_WARN, g_lines[0].first);
        EXPECT_TRUE(has(g_lines[0].second, closed)) << g_lines[0].second;
        EXPECT_EQ(std::string::npos, g_lines[0].second.find('\n'));
    }
    mq_log_set_level(MQ_LOG_ERROR);
    EXPECT_EQ(MQ_LOG_ERROR, mq_log_get_level());
    int before = n.load();
    EXPECT_NE(MQ_OK, mq_producer_send(p, m, nullptr, &err));
    EXPECT_EQ(before, n.load());
    mq_message_destroy(m);
    mq_producer_destroy(p);
    mq_log_set_callback(nullptr, nullptr);
}

} // namespace
