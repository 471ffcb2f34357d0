// ops_test.cc - the operator's view (issue 16) against real mqnamesrv,
// mqbroker and mqadmin processes (tests/support/cluster.h): message
// lookups by key, offset id, unique id and queue offset across two
// brokers, "not found" answers, printMsg ranges.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.h"
#include "http_client.h"
#include "ports.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "mq/consumer.h"
#include "mq/producer.h"
}

namespace {

const char *kTopic = "OpsTopic";

struct Sent {
    std::string body, key, msg_id, offset_id, broker;
    int queue = 0;
    int64_t offset = 0;
};

mq_message_queue queue_of(const char *broker, int queue_id) {
    mq_message_queue q{};
    snprintf(q.topic, sizeof q.topic, "%s", kTopic);
    snprintf(q.broker_name, sizeof q.broker_name, "%s", broker);
    q.queue_id = queue_id;
    return q;
}

int count_of(const std::string &s, const std::string &what) {
    int n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size()))
        n++;
    return n;
}

class OpsTest : public ::testing::Test {
  protected:
    void SetUp() override { log_set_level(LOG_ERROR); }
    void TearDown() override {
        if (producer)
            mq_producer_destroy(producer);
    }

    void start(std::vector<std::string> broker_flags = {}, std::vector<std::string> ns_flags = {}) {
        ns = &c.add_namesrv(ns_flags);
        ASSERT_TRUE(ns->start());
        a = &c.add_broker("broker-a", c.namesrv_list(), broker_flags);
        b = &c.add_broker("broker-b", c.namesrv_list(), broker_flags);
        ASSERT_TRUE(c.start_all());
        ASSERT_TRUE(a->wait_log("registered with nameserver", 10000));
        ASSERT_TRUE(b->wait_log("registered with nameserver", 10000));
        ToolResult r = c.mqadmin(
            {"updateTopic", "-n", c.namesrv_list(), "-c", "DefaultCluster", "-t", kTopic, "-r", "2", "-w", "2"});
        ASSERT_EQ(0, r.exit_code) << r.out << r.err;
        ASSERT_TRUE(wait_for(
            [&] {
                ToolResult t = c.mqadmin({"topicRoute", "-n", c.namesrv_list(), "-t", kTopic});
                return t.exit_code == 0 && t.out.find("broker-a") != std::string::npos &&
                       t.out.find("broker-b") != std::string::npos;
            },
            10000));
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_new("ops_producer", c.namesrv_list().c_str(), nullptr, &producer, &err))
            << err.message;
        ASSERT_EQ(MQ_OK, mq_producer_start(producer, &err)) << err.message;
    }

    // Sends n messages "body-i" with key "key-i", round robin over the queues.
    void send(int n, const std::string &prefix = "") {
        for (int i = 0; i < n; i++) {
            Sent s;
            s.body = prefix + "body-" + std::to_string(i);
            s.key = prefix + "key-" + std::to_string(i);
            mq_message *m = mq_message_new(kTopic);
            mq_message_set_body(m, s.body.data(), s.body.size(), nullptr);
            mq_message_set_keys(m, s.key.c_str(), nullptr);
            mq_message_set_tags(m, i % 2 ? "odd" : "even", nullptr);
            mq_send_result r;
            mq_error err{};
            ASSERT_EQ(MQ_OK, mq_producer_send(producer, m, &r, &err)) << err.message;
            mq_message_destroy(m);
            s.msg_id = r.msg_id;
            s.offset_id = r.offset_msg_id;
            s.broker = r.queue.broker_name;
            s.queue = r.queue.queue_id;
            s.offset = r.queue_offset;
            mq_send_result_destroy(&r);
            sent.push_back(s);
        }
    }

    // The store indexes and dispatches messages after it acknowledged them
    // (asynchronously, as RocketMQ does): waits until the last message sent
    // to each broker can be found by key, so every earlier one can too.
    void wait_indexed() {
        std::map<std::string, std::string> last_key;
        for (auto &s : sent)
            last_key[s.broker] = s.key;
        for (auto &kv : last_key)
            ASSERT_TRUE(wait_for(
                [&] {
                    return c.mqadmin({"queryMsgByKey", "-n", c.namesrv_list(), "-t", kTopic, "-k", kv.second})
                               .exit_code == 0;
                },
                10000))
                << kv.second << " on " << kv.first << " never became searchable";
    }

    // First sent message stored on broker.
    const Sent &on(const std::string &broker) {
        for (auto &s : sent)
            if (s.broker == broker)
                return s;
        ADD_FAILURE() << "nothing was sent to " << broker;
        return sent.front();
    }

    MqCluster c;
    MqProcess *ns = nullptr, *a = nullptr, *b = nullptr;
    mq_producer *producer = nullptr;
    std::vector<Sent> sent;
};

TEST_F(OpsTest, QueriesFindTheRightMessageOnEitherBrokerAndSayNotFoundOtherwise) {
    start();
    send(100);
    wait_indexed();
    const std::string ns_list = c.namesrv_list();

    // By key, across both brokers: each key once, with its body.
    for (const char *broker : {"broker-a", "broker-b"}) {
        const Sent &s = on(broker);
        ToolResult r = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", s.key});
        ASSERT_EQ(0, r.exit_code) << r.err;
        EXPECT_EQ(1, count_of(r.out, "OffsetID:")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("\n" + s.body + "\n")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("Keys:               [" + s.key + "]")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("Broker Name:        " + s.broker)) << r.out;

        // By offset id (no topic needed), by unique id (with -t), and queryMsgByUniqueKey.
        for (auto args : std::vector<std::vector<std::string>>{
                 {"queryMsgById", "-n", ns_list, "-i", s.offset_id},
                 {"queryMsgById", "-n", ns_list, "-i", s.msg_id, "-t", kTopic},
                 {"queryMsgByUniqueKey", "-n", ns_list, "-i", s.msg_id, "-t", kTopic},
                 {"queryMsgByOffset", "-n", ns_list, "-t", kTopic, "-b", s.broker, "-i", std::to_string(s.queue),
                  "-o", std::to_string(s.offset)}}) {
            ToolResult q = c.mqadmin(args);
            ASSERT_EQ(0, q.exit_code) << args[0] << " " << args[4] << ": " << q.err;
            EXPECT_EQ(1, count_of(q.out, "OffsetID:")) << q.out;
            EXPECT_NE(std::string::npos, q.out.find("OffsetID:           " + s.offset_id)) << q.out;
            EXPECT_NE(std::string::npos, q.out.find("MsgId:              " + s.msg_id)) << q.out;
            EXPECT_NE(std::string::npos, q.out.find("\n" + s.body + "\n")) << q.out;
        }
    }

    // JSON: the same fields, machine-readable.
    const Sent &s = sent[42];
    ToolResult j = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", s.key, "--json"});
    ASSERT_EQ(0, j.exit_code) << j.err;
    EXPECT_NE(std::string::npos, j.out.find("\"body\": \"" + s.body + "\"")) << j.out;
    EXPECT_NE(std::string::npos, j.out.find("\"offsetMsgId\": \"" + s.offset_id + "\"")) << j.out;
    EXPECT_NE(std::string::npos, j.out.find("\"UNIQ_KEY\": \"" + s.msg_id + "\"")) << j.out;

    // A time range that ends before the messages were stored finds nothing.
    ToolResult old = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", s.key, "-b", "1000", "-e", "2000"});
    EXPECT_EQ(1, old.exit_code) << old.out;
    EXPECT_NE(std::string::npos, old.err.find("not found")) << old.err;

    // Not found, clearly, with exit status 1.
    for (auto args : std::vector<std::vector<std::string>>{
             {"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", "no-such-key"},
             {"queryMsgByUniqueKey", "-n", ns_list, "-t", kTopic, "-i", "7F00000100002A9F0000000000ABCDEF"},
             {"queryMsgByOffset", "-n", ns_list, "-t", kTopic, "-b", "broker-a", "-i", "0", "-o", "100000"}}) {
        ToolResult q = c.mqadmin(args);
        EXPECT_EQ(1, q.exit_code) << args[0] << ": " << q.out;
        EXPECT_EQ("", q.out);
        EXPECT_NE(std::string::npos, q.err.find("not found")) << args[0] << ": " << q.err;
    }
    // An offset id of a real broker but past its CommitLog end.
    {
        std::string id = on("broker-a").offset_id;
        id.replace(16, 16, "00000000FFFFFFFF");
        ToolResult q = c.mqadmin({"queryMsgById", "-n", ns_list, "-i", id});
        EXPECT_EQ(1, q.exit_code) << q.out;
        EXPECT_NE(std::string::npos, q.err.find("not found")) << q.err;
    }
    // An id that is neither, without a topic: the tool says what to add.
    ToolResult bad = c.mqadmin({"queryMsgById", "-n", ns_list, "-i", "0123456789ABCDEF0123456789ABCDEF"});
    EXPECT_EQ(2, bad.exit_code);
    EXPECT_NE(std::string::npos, bad.err.find("-t TOPIC")) << bad.err;
    // A topic nobody knows.
    ToolResult nt = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", "NoSuchTopic", "-k", "k"});
    EXPECT_EQ(1, nt.exit_code);
}

TEST_F(OpsTest, PrintMsgWalksAQueueRangeAndATimeRange) {
    start();
    send(40);
    wait_indexed();
    const std::string ns_list = c.namesrv_list();
    std::map<std::string, int> per_queue;
    for (auto &s : sent)
        per_queue[s.broker + "/" + std::to_string(s.queue)]++;

    // One queue, whole range: exactly its messages, in offset order.
    const Sent &first = on("broker-b");
    ToolResult r = c.mqadmin({"printMsg", "-n", ns_list, "-t", kTopic, "-a", "broker-b", "-i",
                              std::to_string(first.queue), "--json"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(per_queue["broker-b/" + std::to_string(first.queue)], count_of(r.out, "\n")) << r.out;
    EXPECT_EQ(0u, r.out.find("{\"msgId\":\"" + first.msg_id + "\"")) << r.out;

    // An offset range of that queue: [1, 3).
    r = c.mqadmin({"printMsg", "-n", ns_list, "-t", kTopic, "-a", "broker-b", "-i", std::to_string(first.queue), "-o",
                   "1", "-x", "3", "--json"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(2, count_of(r.out, "\n")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("\"queueOffset\":1,")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("\"queueOffset\":2,")) << r.out;

    // The whole topic over all time: all 40; with a tag filter: half.
    r = c.mqadmin({"printMsg", "-n", ns_list, "-t", kTopic, "-b", "0", "-e", "now", "--json"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(40, count_of(r.out, "\n"));
    r = c.mqadmin({"printMsg", "-n", ns_list, "-t", kTopic, "-s", "odd", "--json"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(20, count_of(r.out, "\n"));
    EXPECT_EQ(0, count_of(r.out, "\"tags\":\"even\""));

    // A range in the past: not found.
    r = c.mqadmin({"printMsg", "-n", ns_list, "-t", kTopic, "-b", "1000", "-e", "2000"});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_NE(std::string::npos, r.err.find("not found")) << r.err;
    // Offsets without a queue are a usage error.
    r = c.mqadmin({"printMsg", "-n", ns_list, "-t", kTopic, "-o", "1"});
    EXPECT_EQ(2, r.exit_code);
}

TEST_F(OpsTest, BinaryBodiesPrintAsHexAndLongBodiesAreCutUnlessAsked) {
    start();
    const std::string ns_list = c.namesrv_list();
    std::string bin("\x01\x02\xff\x00 ok", 7);
    std::string text(10000, 'x');
    std::vector<std::pair<std::string, std::string>> msgs{{"bin", bin}, {"long", text}};
    for (auto &kv : msgs) {
        mq_message *m = mq_message_new(kTopic);
        mq_message_set_body(m, kv.second.data(), kv.second.size(), nullptr);
        mq_message_set_keys(m, kv.first.c_str(), nullptr);
        mq_send_result r;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send(producer, m, &r, &err)) << err.message;
        mq_message_destroy(m);
        Sent s;
        s.key = kv.first;
        s.broker = r.queue.broker_name;
        sent.push_back(s);
        mq_send_result_destroy(&r);
    }
    wait_indexed();
    ToolResult r = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", "bin"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("7 bytes, hex\n0102FF00206F6B\n")) << r.out;

    r = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", "long"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("10000 bytes, text (cut at -l; -l 0 prints all)\n" + std::string(4096, 'x') + "\n"))
        << r.out.substr(0, 2000);
    r = c.mqadmin({"queryMsgByKey", "-n", ns_list, "-t", kTopic, "-k", "long", "-l", "0"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("10000 bytes, text\n" + text + "\n"));
}

// The value of the sample `name{labels}` (labels exactly as printed), or -1.
double sample(const std::string &text, const std::string &series) {
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos)
        return -1;
    return atof(text.c_str() + at + 1 + series.size() + 1);
}

// Checks the Prometheus text format line by line (strictly: HELP/TYPE
// before samples of a family, names and labels well-formed, numeric
// values), and with promtool when Debian's prometheus package is
// installed. Returns "" or what is wrong.
std::string check_exposition(const std::string &text, const std::string &dir) {
    static const std::regex help("# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+");
    static const std::regex type("# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)");
    static const std::regex sample_re(
        "([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*\\})? "
        "(-?[0-9.e+-]+|\\+Inf|NaN)");
    std::istringstream in(text);
    std::string line, family;
    int n = 0;
    while (std::getline(in, line)) {
        n++;
        std::smatch m;
        if (std::regex_match(line, help))
            continue;
        if (std::regex_match(line, m, type)) {
            family = m[1];
            continue;
        }
        if (!std::regex_match(line, m, sample_re))
            return "line " + std::to_string(n) + " is malformed: " + line;
        std::string name = m[1];
        if (name != family && name != family + "_bucket" && name != family + "_sum" && name != family + "_count")
            return "line " + std::to_string(n) + ": sample " + name + " outside its family " + family;
    }
    if (n == 0)
        return "empty exposition";
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        std::string path = dir + "/metrics.txt";
        std::ofstream(path) << text;
        std::string cmd = "promtool check metrics < " + path + " > " + path + ".out 2>&1";
        int rc = system(cmd.c_str());
        if (rc != 0)
            return "promtool: " + mqtest::read_file(path + ".out");
    }
    return "";
}

TEST_F(OpsTest, MetricsScrapeAfterKnownTrafficShowsTheRightCounters) {
    int broker_metrics = unused_port();
    int ns_metrics = unused_port();
    ns = &c.add_namesrv({"--metricsPort=" + std::to_string(ns_metrics)});
    ASSERT_TRUE(ns->start());
    a = &c.add_broker("broker-a", c.namesrv_list(), {"--metricsPort=" + std::to_string(broker_metrics)});
    ASSERT_TRUE(c.start_all());
    ASSERT_TRUE(a->wait_log("registered with nameserver", 10000));
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", a->addr(), "-t", kTopic, "-r", "2", "-w", "2"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_producer_new("ops_producer", c.namesrv_list().c_str(), nullptr, &producer, &err));
    ASSERT_EQ(MQ_OK, mq_producer_start(producer, &err)) << err.message;

    std::string before = http_body(http_get(broker_metrics, "/metrics"));
    const std::string sends = "mq_send_requests_total{topic=\"OpsTopic\",result=\"SUCCESS\"}";
    EXPECT_EQ(-1, sample(before, sends)) << "no traffic yet";
    send(30);
    wait_indexed();
    size_t body_bytes = 0;
    for (auto &s : sent)
        body_bytes += s.body.size();

    // A group consumes queue 0 up to its end and commits: its lag is what queue 1 holds.
    mq_pull_consumer *pc = nullptr;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_new("ops_metrics_group", c.namesrv_list().c_str(), nullptr, &pc, &err));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err));
    mq_message_queue q = queue_of("broker-a", 0);
    mq_pull_result pr;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", 0, 32, 0, &pr, &err)) << err.message;
    EXPECT_EQ(MQ_PULL_FOUND, pr.status);
    int64_t next = pr.next_begin_offset;
    mq_pull_result_destroy(&pr);
    ASSERT_EQ(MQ_OK, mq_pull_consumer_commit_offset(pc, &q, next, &err));
    mq_pull_consumer_destroy(pc);
    int in_q1 = 0;
    for (auto &s : sent)
        in_q1 += s.queue == 1;

    std::string text;
    ASSERT_TRUE(wait_for([&] {
        text = http_body(http_get(broker_metrics, "/metrics"));
        return sample(text, "mq_consumer_lag_messages{group=\"ops_metrics_group\",topic=\"OpsTopic\"}") == in_q1;
    })) << text;
    EXPECT_EQ(30, sample(text, sends)) << text;
    EXPECT_EQ((double)body_bytes, sample(text, "mq_received_bytes_total{topic=\"OpsTopic\"}")) << text;
    EXPECT_EQ(1, sample(text, "mq_pull_requests_total{topic=\"OpsTopic\",result=\"SUCCESS\"}")) << text;
    EXPECT_GT(sample(text, "mq_sent_bytes_total{topic=\"OpsTopic\"}"), (double)body_bytes / 4) << text;
    EXPECT_EQ(30, sample(text, "mq_messages_stored_total"));
    EXPECT_EQ(31, sample(text, "mq_request_duration_seconds_count{op=\"send\"}") +
                      sample(text, "mq_request_duration_seconds_count{op=\"pull\"}"));
    EXPECT_GE(sample(text, "mq_connections"), 1);
    EXPECT_GT(sample(text, "mq_commitlog_max_offset_bytes"), (double)body_bytes);
    EXPECT_GT(sample(text, "mq_disk_used_ratio"), 0);
    EXPECT_EQ("", check_exposition(text, c.dir()));

    // Refused sends are counted by their result.
    {
        mq_message *m = mq_message_new(kTopic);
        mq_message_set_body(m, "x", 1, nullptr);
        mq_send_result sr;
        mq_message_queue bad = queue_of("broker-a", 7); // the topic has 2 queues
        EXPECT_NE(MQ_OK, mq_producer_send_to_queue(producer, m, &bad, &sr, &err));
        mq_message_destroy(m);
    }
    text = http_body(http_get(broker_metrics, "/metrics"));
    EXPECT_EQ(1, sample(text, "mq_send_requests_total{topic=\"OpsTopic\",result=\"SYSTEM_ERROR\"}")) << text;

    // The nameserver's metrics: requests by type, route sizes.
    std::string ns_text = http_body(http_get(ns_metrics, "/metrics"));
    EXPECT_GE(sample(ns_text, "mq_namesrv_requests_total{request=\"REGISTER_BROKER\",result=\"SUCCESS\"}"), 1) << ns_text;
    EXPECT_GE(sample(ns_text, "mq_namesrv_requests_total{request=\"GET_ROUTEINFO_BY_TOPIC\",result=\"SUCCESS\"}"), 1);
    EXPECT_EQ(1, sample(ns_text, "mq_namesrv_live_brokers"));
    EXPECT_EQ("", check_exposition(ns_text, c.dir()));

    // Bad requests get clear answers.
    EXPECT_EQ(404, http_status(http_get(broker_metrics, "/nope")));
    EXPECT_EQ(405, http_status(http_exchange(broker_metrics, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")));
    EXPECT_EQ(505, http_status(http_exchange(broker_metrics, "GET /metrics HTTP/7.0\r\n\r\n")));
    EXPECT_EQ(414, http_status(http_exchange(broker_metrics, "GET /" + std::string(40000, 'x') + " HTTP/1.1\r\n\r\n")));
    EXPECT_EQ(200, http_status(http_get(broker_metrics, "/metrics"))) << "still serving";
}

// Runs headless Chromium on url and returns the DOM after the page's
// scripts ran (their fetches included: virtual time waits for them).
std::string chromium_dom(MqCluster &c, const std::string &url) {
    std::string profile = c.dir() + "/chromium-profile", out = c.dir() + "/dom.html";
    std::string cmd = "chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                      "--disable-background-networking --disable-component-update --disable-sync "
                      "--user-data-dir=" + profile + " --virtual-time-budget=5000 --dump-dom '" + url + "' > " + out +
                      " 2>/dev/null";
    if (system(cmd.c_str()) != 0)
        return "";
    return mqtest::read_file(out);
}

TEST_F(OpsTest, ConsoleRendersClusterTopicAndGroupLagInHeadlessChromium) {
    ASSERT_EQ(0, system("command -v chromium >/dev/null 2>&1")) << "chromium is not installed (deploy/setup.sh)";
    start();
    send(20);
    wait_indexed();
    // Group ops_console commits offset 2 on both queues of broker-a.
    mq_error err{};
    mq_pull_consumer *pc = nullptr;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_new("ops_console", c.namesrv_list().c_str(), nullptr, &pc, &err));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err));
    int expected_lag = 0;
    for (int qid = 0; qid < 2; qid++) {
        mq_message_queue q = queue_of("broker-a", qid);
        ASSERT_EQ(MQ_OK, mq_pull_consumer_commit_offset(pc, &q, 2, &err)) << err.message;
        int n = 0;
        for (auto &s : sent)
            n += s.broker == "broker-a" && s.queue == qid;
        expected_lag += n - 2;
    }
    mq_pull_consumer_destroy(pc);
    int lag_a = expected_lag; // the group's queues: those it has offsets on
    for (auto &s : sent)
        expected_lag += s.broker == "broker-b"; // asked with the topic, queues without offsets count from 0

    MqProcess console("mqconsole", MqCluster::bin("mqconsole"), {"-n", c.namesrv_list(), "--listenPort=0"},
                      c.dir() + "/logs/mqconsole.log");
    ASSERT_TRUE(console.start());
    int port = console.port();

    // The JSON API first: what the page reads.
    std::string g = http_get(port, "/api/group?group=ops_console&topic=" + std::string(kTopic));
    ASSERT_EQ(200, http_status(g)) << g;
    EXPECT_NE(std::string::npos, g.find("\"totalLag\":" + std::to_string(expected_lag))) << g;
    EXPECT_EQ(400, http_status(http_get(port, "/api/group")));
    EXPECT_EQ(404, http_status(http_get(port, "/api/topic?topic=NoSuchTopic")));
    EXPECT_EQ(404, http_status(http_get(port, "/nope")));
    EXPECT_EQ(405, http_status(http_get(port, "/api/reset?group=ops_console&topic=OpsTopic&time=0")));
    std::string m = http_get(port, "/api/message?topic=" + std::string(kTopic) + "&key=" + sent[7].key);
    EXPECT_NE(std::string::npos, m.find("\"body\":\"" + sent[7].body + "\"")) << m;

    // The page in a real browser.
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/?topic=" + kTopic + "&group=ops_console";
    std::string dom = chromium_dom(c, url);
    ASSERT_NE(std::string::npos, dom.find("id=\"broker-table\"")) << dom;
    for (const char *b : {"broker-a", "broker-b"})
        EXPECT_NE(std::string::npos, dom.find("<td class=\" \">" + std::string(b) + "</td><td class=\"num \">0</td>"))
            << b << " missing from the broker table:\n" << dom;
    EXPECT_NE(std::string::npos, dom.find("<h2 id=\"topic-name\">OpsTopic</h2>")) << dom;
    EXPECT_NE(std::string::npos, dom.find("id=\"queue-table\"")) << dom;
    EXPECT_NE(std::string::npos, dom.find("total lag <span class=\"lag\">" + std::to_string(lag_a) + "</span>"))
        << dom;

    // "Reset to time" (what the page's button posts): back to the start, the lag is everything.
    std::string r = http_exchange(port, "POST /api/reset?group=ops_console&topic=OpsTopic&time=0 HTTP/1.1\r\n"
                                        "Content-Length: 0\r\n\r\n");
    ASSERT_EQ(200, http_status(r)) << r;
    EXPECT_NE(std::string::npos, r.find("\"offset\":0")) << r;
    g = http_get(port, "/api/group?group=ops_console&topic=" + std::string(kTopic));
    EXPECT_NE(std::string::npos, g.find("\"totalLag\":" + std::to_string(sent.size()))) << g;
    EXPECT_TRUE(console.stop());
}

mq_consume_status ignore_messages(const mq_message_ext *const *, int, void *) { return MQ_CONSUME_SUCCESS; }

TEST_F(OpsTest, ConsumerConnectionListsTheLiveMembersOfAGroup) {
    start();
    const std::string ns_list = c.namesrv_list();
    ToolResult none = c.mqadmin({"consumerConnection", "-n", ns_list, "-g", "ops_conn"});
    EXPECT_EQ(1, none.exit_code);
    EXPECT_NE(std::string::npos, none.err.find("not online")) << none.err;

    std::vector<mq_push_consumer *> members;
    for (const char *instance : {"member1", "member2"}) {
        mq_push_consumer_options o;
        mq_push_consumer_options_init(&o);
        o.instance_name = instance;
        mq_push_consumer *pc = nullptr;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_push_consumer_new("ops_conn", ns_list.c_str(), &o, &pc, &err)) << err.message;
        ASSERT_EQ(MQ_OK, mq_push_consumer_subscribe(pc, kTopic, "TagA || TagB", &err)) << err.message;
        mq_push_consumer_set_listener(pc, ignore_messages, nullptr);
        ASSERT_EQ(MQ_OK, mq_push_consumer_start(pc, &err)) << err.message;
        members.push_back(pc);
    }
    std::string id1 = mq_push_consumer_client_id(members[0]), id2 = mq_push_consumer_client_id(members[1]);
    ToolResult r;
    ASSERT_TRUE(wait_for(
        [&] {
            r = c.mqadmin({"consumerConnection", "-n", ns_list, "-g", "ops_conn"});
            return r.exit_code == 0 && r.out.find(id1) != std::string::npos && r.out.find(id2) != std::string::npos;
        },
        10000))
        << r.out << r.err;
    EXPECT_NE(std::string::npos, r.out.find("TagA || TagB")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("MessageModel: CLUSTERING")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("ConsumeType: CONSUME_PASSIVELY")) << r.out;
    ToolResult j = c.mqadmin({"consumerConnection", "-n", ns_list, "-g", "ops_conn", "--json"});
    EXPECT_NE(std::string::npos, j.out.find("\"clientId\": \"" + id1 + "\"")) << j.out;
    EXPECT_NE(std::string::npos, j.out.find("\"language\": \"CPP\"")) << j.out;

    // consumerProgress without -g lists the group with its members.
    ToolResult all = c.mqadmin({"consumerProgress", "-n", ns_list, "--json"});
    ASSERT_EQ(0, all.exit_code) << all.err;
    EXPECT_NE(std::string::npos, all.out.find("\"group\": \"ops_conn\",\n      \"consumers\": 2")) << all.out;

    // A member that leaves is gone from the list (it unregisters on shutdown).
    mq_push_consumer_destroy(members[0]);
    ASSERT_TRUE(wait_for(
        [&] {
            r = c.mqadmin({"consumerConnection", "-n", ns_list, "-g", "ops_conn"});
            return r.exit_code == 0 && r.out.find(id1) == std::string::npos && r.out.find(id2) != std::string::npos;
        },
        10000))
        << r.out << r.err;
    mq_push_consumer_destroy(members[1]);

    // producerConnection: the fixture's producer, by its client id.
    send(1);
    std::string pid = mq_producer_client_id(producer);
    ToolResult p = c.mqadmin({"producerConnection", "-n", ns_list, "-g", "ops_producer", "-t", kTopic});
    ASSERT_EQ(0, p.exit_code) << p.err;
    EXPECT_NE(std::string::npos, p.out.find(pid)) << p.out;
    EXPECT_EQ(1, count_of(p.out, pid)) << "merged across the two brokers: " << p.out;
    p = c.mqadmin({"producerConnection", "-n", ns_list, "-g", "nobody_produces", "-t", kTopic});
    EXPECT_EQ(1, p.exit_code);
    EXPECT_NE(std::string::npos, p.err.find("has no producer connected")) << p.err;
}

TEST_F(OpsTest, WipeWritePermStopsSendsWhilePullsDrainAndAddWritePermRestores) {
    start();
    send(16); // round robin over 4 queues: 8 on each broker
    wait_indexed();
    const std::string ns_list = c.namesrv_list();
    int on_a = 0;
    for (auto &s : sent)
        on_a += s.broker == "broker-a";
    ASSERT_GT(on_a, 0);

    ToolResult w = c.mqadmin({"wipeWritePerm", "-n", ns_list, "-b", "broker-a"});
    ASSERT_EQ(0, w.exit_code) << w.err;
    EXPECT_NE(std::string::npos, w.out.find("wipe write perm of broker[broker-a] in name server[" + ns->addr() + "] OK, ")) << w.out;
    ToolResult route = c.mqadmin({"topicRoute", "-n", ns_list, "-t", kTopic, "--json"});
    EXPECT_NE(std::string::npos, route.out.find("\"brokerName\": \"broker-a\",\n      \"readQueueNums\": 2,\n      \"writeQueueNums\": 2,\n      \"perm\": 4"))
        << route.out;

    // A producer that learns the route now sends only to broker-b.
    auto sends_to = [&](int n) {
        std::map<std::string, int> where;
        mq_producer *p = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_producer_new("ops_wipe", ns_list.c_str(), nullptr, &p, &err));
        EXPECT_EQ(MQ_OK, mq_producer_start(p, &err)) << err.message;
        for (int i = 0; i < n; i++) {
            mq_message *m = mq_message_new(kTopic);
            mq_message_set_body(m, "w", 1, nullptr);
            mq_send_result r;
            if (mq_producer_send(p, m, &r, &err) == MQ_OK) {
                where[r.queue.broker_name]++;
                mq_send_result_destroy(&r);
            } else {
                where["error: " + std::string(err.message)]++;
            }
            mq_message_destroy(m);
        }
        mq_producer_destroy(p);
        return where;
    };
    std::map<std::string, int> where = sends_to(8);
    EXPECT_EQ((std::map<std::string, int>{{"broker-b", 8}}), where);

    // Pulls still drain broker-a.
    mq_pull_consumer *pc = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_pull_consumer_new("ops_drain", ns_list.c_str(), nullptr, &pc, &err));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err));
    int drained = 0;
    for (int qid = 0; qid < 2; qid++) {
        mq_message_queue q = queue_of("broker-a", qid);
        mq_pull_result pr;
        ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", 0, 32, 0, &pr, &err)) << err.message;
        drained += pr.n;
        mq_pull_result_destroy(&pr);
    }
    mq_pull_consumer_destroy(pc);
    EXPECT_EQ(on_a, drained);

    ToolResult add = c.mqadmin({"addWritePerm", "-n", ns_list, "-b", "broker-a"});
    ASSERT_EQ(0, add.exit_code) << add.err;
    EXPECT_NE(std::string::npos, add.out.find("add write perm of broker[broker-a] in name server[" + ns->addr() + "] OK, ")) << add.out;
    where = sends_to(8);
    EXPECT_EQ(4, where["broker-a"]) << "round robin over 4 writable queues again";
    EXPECT_EQ(4, where["broker-b"]);

    ToolResult bad = c.mqadmin({"wipeWritePerm", "-n", ns_list});
    EXPECT_EQ(2, bad.exit_code);
}

TEST_F(OpsTest, BrokerStatusConfigAndDeleteSubGroup) {
    start();
    const std::string ns_list = c.namesrv_list();
    ToolResult r = c.mqadmin({"getBrokerConfig", "-n", ns_list, "-b", a->addr()});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("brokerName") ) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("=  broker-a\n")) << r.out;
    r = c.mqadmin({"brokerStatus", "-n", ns_list, "-b", a->addr()});
    ASSERT_EQ(0, r.exit_code) << r.err;
    for (const char *key : {"putTpsLastMinute", "getTpsLastMinute", "commitLogMinOffset", "commitLogMaxOffset",
                            "commitLogDiskRatio", "diskWarningLevelRatio", "diskMaxUsedSpaceRatio", "connectionCount",
                            "uptimeSeconds"})
        EXPECT_NE(std::string::npos, r.out.find(std::string("\n") + key + " ")) << key << " missing:\n" << r.out;
    // updateBrokerConfig: brokerPermission 4 (read only) reaches the route at once; 6 restores it.
    r = c.mqadmin({"updateBrokerConfig", "-n", ns_list, "-b", a->addr(), "-k", "brokerPermission", "-v", "4"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("update broker config success, " + a->addr())) << r.out;
    ToolResult route;
    EXPECT_TRUE(wait_for([&] {
        route = c.mqadmin({"topicRoute", "-n", ns_list, "-t", kTopic});
        return route.out.find("broker-a      2             2              R--") != std::string::npos;
    })) << route.out;
    r = c.mqadmin({"getBrokerConfig", "-n", ns_list, "-b", a->addr(), "--json"});
    EXPECT_NE(std::string::npos, r.out.find("\"brokerPermission\": \"4\"")) << r.out;
    {
        mq_message *m = mq_message_new(kTopic);
        mq_message_set_body(m, "x", 1, nullptr);
        mq_send_result sr;
        mq_error err{};
        mq_message_queue qa = queue_of("broker-a", 0);
        EXPECT_NE(MQ_OK, mq_producer_send_to_queue(producer, m, &qa, &sr, &err));
        EXPECT_NE(std::string::npos, std::string(err.message).find("forbidden")) << err.message;
        mq_message_destroy(m);
    }
    r = c.mqadmin({"updateBrokerConfig", "-n", ns_list, "-c", "DefaultCluster", "-k", "brokerPermission", "-v", "6"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(wait_for([&] {
        route = c.mqadmin({"topicRoute", "-n", ns_list, "-t", kTopic});
        return route.out.find("R--") == std::string::npos;
    })) << route.out;
    r = c.mqadmin({"updateBrokerConfig", "-n", ns_list, "-b", a->addr(), "-k", "listenPort", "-v", "1"});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_NE(std::string::npos, r.err.find("listenPort cannot change at run time")) << r.err;
    r = c.mqadmin({"updateBrokerConfig", "-n", ns_list, "-b", a->addr(), "-k", "brokerPermission", "-v", "nine"});
    EXPECT_EQ(1, r.exit_code);

    r = c.mqadmin({"updateSubGroup", "-n", ns_list, "-c", "DefaultCluster", "-g", "ops_doomed"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    r = c.mqadmin({"consumerProgress", "-n", ns_list});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_NE(std::string::npos, r.out.find("ops_doomed")) << r.out;
    r = c.mqadmin({"deleteSubGroup", "-n", ns_list, "-c", "DefaultCluster", "-g", "ops_doomed"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(2, count_of(r.out, "delete subscription group [ops_doomed] from broker")) << r.out;
    r = c.mqadmin({"consumerProgress", "-n", ns_list});
    EXPECT_EQ(std::string::npos, r.out.find("ops_doomed")) << r.out;
}

} // namespace
