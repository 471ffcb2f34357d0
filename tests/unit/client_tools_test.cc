// client_tools_test.cc - mqadmin sendMessage / consumeMessage and mqbench
// run as processes against the in-process fake nameserver and brokers:
// flags, output (text and JSON), exit codes, tag filtering, --max, start
// offsets and committed offsets. (The same commands against real servers
// are in tests/integration/send_consume_test.cc.)

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "fake_cluster.h"
#include "wait.h"

extern "C" {
#include "log.h"
}

namespace {

struct CmdResult {
    int code = -1;
    std::string out;
};

// Runs a shell command line; stdout captured, stderr appended after it.
CmdResult run(const std::string &cmd) {
    CmdResult r;
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p)
        return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        r.out.append(buf, n);
    int st = pclose(p);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::vector<std::string> lines(const std::string &s) {
    std::vector<std::string> v;
    std::istringstream in(s);
    std::string l;
    while (std::getline(in, l))
        v.push_back(l);
    return v;
}

class ToolsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log_set_level(LOG_ERROR);
        a = std::make_unique<FakeBroker>("broker-a");
        ns.set_route("T", {{"broker-a", a->addr(), 2, 2, 6}});
        ns.set_route("%RETRY%cg", {{"broker-a", a->addr(), 1, 1, 6}});
        admin = std::string(MQ_BIN_DIR) + "/mqadmin";
        bench = std::string(MQ_BIN_DIR) + "/mqbench";
    }
    FakeNamesrv ns;
    std::unique_ptr<FakeBroker> a;
    std::string admin, bench;
};

TEST_F(ToolsTest, SendMessagePrintsTheResult) {
    CmdResult r = run(admin + " sendMessage -n " + ns.addr() + " -t T -p 'hello world' -k 'k1 k2' -c TagA");
    ASSERT_EQ(0, r.code) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("SEND_OK")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("broker-a")) << r.out;
    RecordedSend s = a->with_lock([&] { return a->sends.at(0); });
    EXPECT_EQ("hello world", s.body);
    EXPECT_EQ("TagA", prop_of(s.properties, "TAGS"));
    EXPECT_EQ("k1 k2", prop_of(s.properties, "KEYS"));
    r = run(admin + " sendMessage -n " + ns.addr() + " -t T -p x -b broker-a -i 1 --json");
    ASSERT_EQ(0, r.code) << r.out;
    EXPECT_EQ(0u, r.out.find("{\"sendStatus\":\"SEND_OK\"")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("\"queueId\":1,")) << r.out;
}

TEST_F(ToolsTest, SendMessageFailuresAreClear) {
    CmdResult r = run(admin + " sendMessage -n " + ns.addr() + " -t NoSuchTopic -p x");
    EXPECT_EQ(1, r.code) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("No topic route info")) << r.out;
    r = run(admin + " sendMessage -n " + ns.addr() + " -t T");
    EXPECT_EQ(2, r.code) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("-p BODY")) << r.out;
    r = run(admin + " sendMessage -n " + ns.addr() + " -t 'bad topic' -p x");
    EXPECT_EQ(1, r.code) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("bad topic")) << r.out;
}

TEST_F(ToolsTest, ConsumeMessageFiltersByTagAndCommitsOnlyWhenAsked) {
    for (int i = 0; i < 20; i++)
        a->add_message("T", i % 2, "body" + std::to_string(i), i % 4 == 0 ? "TagA" : "TagB", "key" + std::to_string(i));
    CmdResult r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -g cg --tags TagA --json");
    ASSERT_EQ(0, r.code) << r.out;
    int n = 0;
    for (auto &l : lines(r.out)) {
        if (l.rfind("{", 0) != 0)
            continue;
        n++;
        EXPECT_NE(std::string::npos, l.find("\"tags\":\"TagA\"")) << l;
        EXPECT_NE(std::string::npos, l.find("\"msgId\":\"")) << l;
        EXPECT_NE(std::string::npos, l.find("\"keys\":\"key")) << l;
        EXPECT_NE(std::string::npos, l.find("\"body\":\"body")) << l;
    }
    EXPECT_EQ(5, n) << r.out;
    EXPECT_EQ(-1, a->offset_of("cg", "T", 0)) << "nothing committed without --commit";
    // --commit: the group moves past what was read.
    r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -g cg --commit");
    ASSERT_EQ(0, r.code) << r.out;
    EXPECT_EQ(10, a->offset_of("cg", "T", 0));
    EXPECT_EQ(10, a->offset_of("cg", "T", 1));
    // From the group's offsets now: nothing left.
    r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -g cg");
    ASSERT_EQ(0, r.code) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("printed 0 message")) << r.out;
}

TEST_F(ToolsTest, ConsumeMessageStopsAtCountAndStartsAtAnOffset) {
    for (int i = 0; i < 10; i++)
        a->add_message("T", 0, "m" + std::to_string(i));
    CmdResult r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -g cg2 -c 3");
    ASSERT_EQ(0, r.code) << r.out;
    int n = 0;
    for (auto &l : lines(r.out))
        n += l.rfind("msgId=", 0) == 0;
    EXPECT_EQ(3, n) << r.out;
    EXPECT_EQ(-1, a->offset_of("cg2", "T", 0));
    r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -b broker-a -i 0 -o 8");
    ASSERT_EQ(0, r.code) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("body=m8")) << r.out;
    EXPECT_NE(std::string::npos, r.out.find("body=m9")) << r.out;
    EXPECT_EQ(std::string::npos, r.out.find("body=m7")) << r.out;
    r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -b broker-a -i 0 -o 1 -s 5");
    EXPECT_EQ(2, r.code) << r.out;
    r = run(admin + " consumeMessage -n " + ns.addr() + " -t T -o 1");
    EXPECT_EQ(2, r.code) << r.out;
    r = run(admin + " consumeMessage -n " + ns.addr() + " -t Missing -g cg3");
    EXPECT_EQ(1, r.code) << r.out;
}

TEST_F(ToolsTest, BenchProducerAndConsumerReportAJsonSummary) {
    for (const char *mode : {"sync", "async", "oneway", "batch"}) {
        CmdResult r = run(bench + " producer -n " + ns.addr() + " -t T -s 100 -w 2 --mode " + mode +
                    " --batch 10 --count 200 --duration 20 --json");
        ASSERT_EQ(0, r.code) << r.out;
        auto ls = lines(r.out);
        ASSERT_FALSE(ls.empty());
        const std::string &last = ls.back();
        EXPECT_EQ(0u, last.find("{\"mode\":\"producer\"")) << r.out;
        EXPECT_NE(std::string::npos, last.find("\"msgs\":200,")) << last;
        EXPECT_NE(std::string::npos, last.find("\"errors\":0,")) << last;
        for (const char *k : {"msgs_per_sec", "mb_per_sec", "p50_ms", "p99_ms", "p999_ms", "max_ms"})
            EXPECT_NE(std::string::npos, last.find(k)) << k;
    }
    ASSERT_TRUE(wait_for([&] { return a->queue_size("T", 0) + a->queue_size("T", 1) == 800; }));
    CmdResult r = run(bench + " consumer -n " + ns.addr() + " -t T -g bench --from first --count 800 --duration 20 --json");
    ASSERT_EQ(0, r.code) << r.out;
    EXPECT_NE(std::string::npos, lines(r.out).back().find("\"msgs\":800,")) << r.out;
}

TEST_F(ToolsTest, BenchEndToEndMeasuresSendToReceive) {
    // The push consumer, then the pull consumer's thread per queue (from
    // the queues' ends: the push run's messages are not counted again).
    for (const char *consumer : {"push", "pull"}) {
        CmdResult r = run(bench + " e2e -n " + ns.addr() + " -t T -s 64 --rate 500 --duration 2 --json --consumer " + consumer);
        ASSERT_EQ(0, r.code) << r.out;
        const std::string last = lines(r.out).back();
        EXPECT_EQ(0u, last.find("{\"mode\":\"e2e\"")) << r.out;
        EXPECT_NE(std::string::npos, last.find("\"errors\":0,")) << last;
        EXPECT_EQ(std::string::npos, last.find("\"msgs\":0,")) << last;
        EXPECT_EQ(std::string::npos, r.out.find("were not received")) << r.out;
    }
    CmdResult bad = run(bench + " e2e -n " + ns.addr() + " -t T --consumer lite");
    EXPECT_EQ(2, bad.code) << bad.out;
    EXPECT_NE(std::string::npos, bad.out.find("--consumer push|pull")) << bad.out;
}

} // namespace
