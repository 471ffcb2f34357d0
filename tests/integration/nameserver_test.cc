// nameserver_test.cc - nameservers and brokers as real processes on free
// ports (tests/support/cluster.h): registration with several nameservers,
// routes from either, expiry of dead and silent brokers, nameserver and
// broker restarts, bad input, the HTTP endpoint, broker admin requests, and
// mqadmin run as a process. Timeouts are shortened (expiry 2000 ms,
// registration every 1000 ms) so every test takes a few seconds at most.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cluster.h"
#include "http_client.h"
#include "ports.h"
#include "raw_socket.h"
#include "wait.h"

extern "C" {
#include "body.pb-c.h"
#include "log.h"
#include "mq/admin.h"
}

namespace {

// The client library logs connection events at info; keep test output to warnings.
const int quiet_logs = (log_set_level(LOG_WARN), 0);

const char *kExpiry = "--brokerChannelExpiredTime=2000";
const char *kSweep = "--scanNotActiveBrokerInterval=100";
const char *kPeriod = "--registerNameServerPeriod=1000";

// An admin handle on exactly one nameserver (so a check says what *that*
// nameserver knows).
struct Admin {
    mq_admin *a = nullptr;
    explicit Admin(const std::string &ns) {
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_admin_new(ns.c_str(), 2000, &a, &err)) << err.message;
    }
    ~Admin() { mq_admin_free(a); }

    // broker name -> write queue count of topic; empty if there is no route.
    std::map<std::string, int> queues(const std::string &topic) {
        std::map<std::string, int> out;
        mq_topic_route *r = nullptr;
        mq_error err{};
        if (mq_admin_topic_route(a, topic.c_str(), &r, &err) == MQ_OK) {
            for (size_t i = 0; i < r->n_queue_datas; i++)
                out[r->queue_datas[i].broker_name] = r->queue_datas[i].write_queue_nums;
            mq_topic_route_free(r);
        }
        return out;
    }

    // broker addresses the nameserver knows, "name/id=addr".
    std::vector<std::string> brokers() {
        std::vector<std::string> out;
        mq_cluster_info *ci = nullptr;
        mq_error err{};
        if (mq_admin_cluster_info(a, &ci, &err) != MQ_OK)
            return out;
        for (size_t i = 0; i < ci->n_brokers; i++)
            for (size_t k = 0; k < ci->brokers[i].n_addrs; k++)
                out.push_back(std::string(ci->brokers[i].broker_name) + "/" + std::to_string(ci->brokers[i].addrs[k].id) +
                              "=" + ci->brokers[i].addrs[k].addr);
        mq_cluster_info_free(ci);
        return out;
    }

    bool knows_broker(const std::string &addr) {
        for (auto &b : brokers())
            if (b.size() >= addr.size() && b.compare(b.size() - addr.size(), addr.size(), addr) == 0)
                return true;
        return false;
    }

    void create_topic(const std::string &broker_addr, const std::string &topic, int queues) {
        mq_topic_config tc;
        mq_topic_config_init(&tc, topic.c_str());
        tc.read_queue_nums = tc.write_queue_nums = queues;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_admin_update_topic(a, broker_addr.c_str(), &tc, &err)) << err.message;
    }
};

std::map<std::string, int> Q(std::initializer_list<std::pair<const std::string, int>> l) { return l; }

std::string http(int port, const std::string &request) { return http_exchange(port, request); }
std::string get(int port, const std::string &path) { return http_get(port, path); }
int status_of(const std::string &resp) { return http_status(resp); }

// Sends one request frame and decodes the answer's header.
struct Answer {
    int code = -1;
    std::string remark;
    bool closed = false;
};

Answer ask(RawSocket &s, Mq__RemotingHeader *h, const std::string &body = "") {
    Answer a;
    static int opaque = 1;
    h->opaque = opaque++;
    h->has_opaque = 1;
    h->has_code = 1;
    if (!s.send_all(make_frame(h, body))) {
        a.closed = true;
        return a;
    }
    std::vector<uint8_t> f;
    if (!s.read_frame(f)) {
        a.closed = true;
        return a;
    }
    uint32_t hlen = be32_load(f.data() + 4) & 0xFFFFFF;
    Mq__RemotingHeader *rh = mq__remoting_header__unpack(nullptr, hlen, f.data() + 8);
    if (rh) {
        a.code = rh->code;
        a.remark = rh->remark ? rh->remark : "";
        mq__remoting_header__free_unpacked(rh, nullptr);
    }
    return a;
}

Answer ask_route(RawSocket &s, const char *topic) {
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__TopicRequestHeader t = MQ__TOPIC_REQUEST_HEADER__INIT;
    t.topic = (char *)topic;
    h.code = RC_GET_ROUTEINFO_BY_TOPIC;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &t;
    return ask(s, &h);
}

bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

size_t count(const std::string &hay, const std::string &needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
        n++;
    return n;
}

// ---------------------------------------------------------------------------

TEST(Nameserver, TopicOnTwoBrokersIsRoutedByEitherNameserver) {
    MqCluster c;
    MqProcess &ns1 = c.add_namesrv();
    MqProcess &ns2 = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", c.namesrv_list());
    MqProcess &b = c.add_broker("broker-b", c.namesrv_list());
    ASSERT_TRUE(c.start_all());
    Admin admin1(ns1.addr()), admin2(ns2.addr());
    for (Admin *ad : {&admin1, &admin2})
        ASSERT_TRUE(wait_for([&] { return ad->knows_broker(a.addr()) && ad->knows_broker(b.addr()); }));

    // Created through the cluster's masters: the brokers answer once every
    // nameserver has their new registration, so no waiting is needed.
    Admin both(c.namesrv_list());
    mq_topic_config tc;
    mq_topic_config_init(&tc, "Orders");
    tc.read_queue_nums = tc.write_queue_nums = 4;
    mq_string_list *done = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_admin_update_topic_in_cluster(both.a, "DefaultCluster", &tc, &done, &err)) << err.message;
    ASSERT_EQ(2u, done->n);
    EXPECT_NE(std::string(done->items[0]), std::string(done->items[1]));
    mq_string_list_free(done);
    EXPECT_EQ(Q({{"broker-a", 4}, {"broker-b", 4}}), admin1.queues("Orders"));
    EXPECT_EQ(Q({{"broker-a", 4}, {"broker-b", 4}}), admin2.queues("Orders"));

    // An update on one broker changes only its queues, on both nameservers.
    admin1.create_topic(b.addr(), "Orders", 8);
    EXPECT_EQ(Q({{"broker-a", 4}, {"broker-b", 8}}), admin1.queues("Orders"));
    EXPECT_EQ(Q({{"broker-a", 4}, {"broker-b", 8}}), admin2.queues("Orders"));

    // Topic lists, per cluster too.
    mq_string_list *l = nullptr;
    ASSERT_EQ(MQ_OK, mq_admin_topic_list(admin2.a, "DefaultCluster", &l, &err)) << err.message;
    std::vector<std::string> topics(l->items, l->items + l->n);
    mq_string_list_free(l);
    EXPECT_TRUE(std::count(topics.begin(), topics.end(), "Orders"));
    EXPECT_TRUE(std::count(topics.begin(), topics.end(), "TBW102"));
    ASSERT_EQ(MQ_OK, mq_admin_topic_list(admin2.a, "NoSuchCluster", &l, &err));
    EXPECT_EQ(0u, l->n);
    mq_string_list_free(l);

    // Deleting removes it from the brokers and both nameservers.
    ASSERT_EQ(MQ_OK, mq_admin_delete_topic(both.a, "DefaultCluster", "Orders", &err)) << err.message;
    EXPECT_TRUE(admin1.queues("Orders").empty());
    EXPECT_TRUE(admin2.queues("Orders").empty());
}

TEST(Nameserver, ADeadOrStuckNameserverDoesNotHoldUpTheOthers) {
    MqCluster c;
    MqProcess &ns1 = c.add_namesrv();
    MqProcess &ns2 = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    std::string dead = "127.0.0.1:" + std::to_string(unused_port());
    MqProcess &a = c.add_broker("broker-a", ns1.addr() + ";" + dead + ";" + ns2.addr(), {kPeriod});
    ASSERT_TRUE(c.start_all());
    Admin admin1(ns1.addr()), admin2(ns2.addr());
    ASSERT_TRUE(wait_for([&] { return admin1.knows_broker(a.addr()) && admin2.knows_broker(a.addr()); }));

    ns2.pause(); // accepts nothing, answers nothing, connection stays open
    mq_admin *slow = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_admin_new(ns1.addr().c_str(), 6000, &slow, &err));
    mq_topic_config tc;
    mq_topic_config_init(&tc, "T");
    tc.read_queue_nums = tc.write_queue_nums = 2;
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(MQ_OK, mq_admin_update_topic(slow, a.addr().c_str(), &tc, &err)) << err.message;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    mq_admin_free(slow);
    EXPECT_LT(ms, 3000) << "the broker waited too long for a stuck nameserver";
    EXPECT_EQ(Q({{"broker-a", 2}}), admin1.queues("T")); // the live one has it at once
    ns2.resume();
    EXPECT_TRUE(wait_for([&] { return admin2.queues("T") == Q({{"broker-a", 2}}); }, 3000));
}

TEST(Nameserver, KilledBrokerLeavesTheRoutesWithinTheExpiry) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv({kExpiry, kSweep});
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr(), {kPeriod});
    MqProcess &b = c.add_broker("broker-b", ns.addr(), {kPeriod});
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    admin.create_topic(a.addr(), "T", 4);
    admin.create_topic(b.addr(), "T", 4);
    ASSERT_EQ(Q({{"broker-a", 4}, {"broker-b", 4}}), admin.queues("T"));

    auto t0 = std::chrono::steady_clock::now();
    b.kill9();
    ASSERT_TRUE(wait_for([&] { return admin.queues("T") == Q({{"broker-a", 4}}); }, 4000));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(ms, 2000 + 500) << "not dropped within the expiry";
    EXPECT_FALSE(admin.knows_broker(b.addr()));
    EXPECT_TRUE(admin.knows_broker(a.addr()));

    a.kill9();
    ASSERT_TRUE(wait_for([&] { return admin.queues("T").empty(); }, 4000));
    // "How it will be checked": mqadmin reports no route, with a failure status.
    ToolResult r = c.mqadmin({"topicRoute", "-n", ns.addr(), "-t", "T", "--json"});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_TRUE(contains(r.err, "No topic route info in name server for the topic: T")) << r.err;
}

TEST(Nameserver, SilentBrokerIsDroppedAfterTheExpiryAndComesBack) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv({kExpiry, kSweep});
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr(), {kPeriod});
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    ASSERT_TRUE(wait_for([&] { return admin.knows_broker(a.addr()); }));

    // Stopped, its connection stays open: only the expiry can drop it.
    a.pause();
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_for([&] { return !admin.knows_broker(a.addr()); }, 5000));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ms, 2000 - 1000) << "dropped long before brokerChannelExpiredTime"; // last registration <= 1 s earlier
    EXPECT_TRUE(ns.wait_log("silent for"));

    a.resume(); // registers again at its next period
    EXPECT_TRUE(wait_for([&] { return admin.knows_broker(a.addr()); }, 3000));
}

TEST(Nameserver, RestartedNameserverLearnsEveryRouteWithinOnePeriod) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr(), {kPeriod});
    MqProcess &b = c.add_broker("broker-b", ns.addr(), {kPeriod});
    ASSERT_TRUE(c.start_all());
    {
        Admin admin(ns.addr());
        admin.create_topic(a.addr(), "T", 2);
        admin.create_topic(b.addr(), "T", 3);
        admin.create_topic(b.addr(), "OnlyB", 1);
    }
    ASSERT_TRUE(ns.stop());
    ASSERT_TRUE(ns.start()); // same port, empty tables
    auto t0 = std::chrono::steady_clock::now();
    Admin admin(ns.addr());
    ASSERT_TRUE(wait_for([&] {
        return admin.queues("T") == Q({{"broker-a", 2}, {"broker-b", 3}}) && admin.queues("OnlyB") == Q({{"broker-b", 1}});
    }, 3000));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LE(ms, 1000 + 500) << "took longer than one registration period";
}

TEST(Nameserver, RestartedBrokerKeepsItsTopics) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr(), {kPeriod});
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    admin.create_topic(a.addr(), "Kept", 4);
    mq_group_config g;
    mq_group_config_init(&g, "KeptGroup");
    g.retry_max_times = 5;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_admin_update_group(admin.a, a.addr().c_str(), &g, &err)) << err.message;

    ASSERT_TRUE(a.stop()); // clean stop: exit status 0
    EXPECT_TRUE(ns.wait_log("broker unregistered"));
    ASSERT_TRUE(wait_for([&] { return admin.queues("Kept").empty(); }));
    ASSERT_TRUE(a.start()); // same port and store
    ASSERT_TRUE(wait_for([&] { return admin.queues("Kept") == Q({{"broker-a", 4}}); }, 3000));

    a.kill9(); // a crash right after a change keeps it too (synced writes)
    ASSERT_TRUE(a.start());
    admin.create_topic(a.addr(), "AfterCrash", 2);
    a.kill9();
    ASSERT_TRUE(a.start());
    ASSERT_TRUE(wait_for([&] {
        return admin.queues("Kept") == Q({{"broker-a", 4}}) && admin.queues("AfterCrash") == Q({{"broker-a", 2}});
    }, 3000));
    EXPECT_TRUE(contains(a.log(), "4 topics, 1 subscription groups")) << a.log(); // 3 system topics + Kept
}

TEST(Nameserver, BadRequestsGetErrorsAndTheNameserverKeepsServing) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr());
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    ASSERT_TRUE(wait_for([&] { return !admin.queues("TBW102").empty(); }));

    RawSocket s(ns.port());
    ASSERT_TRUE(s.ok());
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = 9999;
    Answer ans = ask(s, &h);
    EXPECT_EQ(RS_REQUEST_CODE_NOT_SUPPORTED, ans.code);

    ans = ask_route(s, "bad topic!");
    EXPECT_EQ(RS_INVALID_PARAMETER, ans.code);
    EXPECT_TRUE(contains(ans.remark, "illegal character")) << ans.remark;
    ans = ask_route(s, "");
    EXPECT_EQ(RS_INVALID_PARAMETER, ans.code);
    ans = ask_route(s, "NoSuchTopic");
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, ans.code);
    EXPECT_EQ("No topic route info in name server for the topic: NoSuchTopic", ans.remark);

    Mq__RemotingHeader nh = MQ__REMOTING_HEADER__INIT; // a route query without its header
    nh.code = RC_GET_ROUTEINFO_BY_TOPIC;
    EXPECT_EQ(RS_SYSTEM_ERROR, ask(s, &nh).code);

    Mq__RemotingHeader rh = MQ__REMOTING_HEADER__INIT; // registration with a garbage body
    Mq__RegisterBrokerRequestHeader reg = MQ__REGISTER_BROKER_REQUEST_HEADER__INIT;
    reg.brokername = (char *)"evil";
    reg.brokeraddr = (char *)"10.9.9.9:1";
    reg.clustername = (char *)"DefaultCluster";
    rh.code = RC_REGISTER_BROKER;
    rh.ext_case = MQ__REMOTING_HEADER__EXT_REGISTER_BROKER;
    rh.register_broker = &reg;
    ans = ask(s, &rh, std::string("\xff\xff\xff\xff garbage", 12));
    EXPECT_EQ(RS_SYSTEM_ERROR, ans.code);
    reg.brokeraddr = (char *)"no-port"; // a malformed address
    ans = ask(s, &rh);
    EXPECT_EQ(RS_SYSTEM_ERROR, ans.code);
    EXPECT_TRUE(contains(ans.remark, "brokerAddr")) << ans.remark;
    EXPECT_FALSE(admin.knows_broker("10.9.9.9:1"));

    // Garbage bytes: that connection is closed, nobody else notices.
    RawSocket g(ns.port());
    ASSERT_TRUE(g.send_all(std::string("\x00\x00\x00\x08\x07\x00\x00\x04garbage!", 16)));
    EXPECT_TRUE(g.wait_closed());
    RawSocket huge(ns.port());
    ASSERT_TRUE(huge.send_all(std::string("\x7f\xff\xff\xff", 4)));
    EXPECT_TRUE(huge.wait_closed());

    // Random bytes from many connections (fixed seed): each is answered or
    // closed, the nameserver keeps serving.
    std::mt19937 rng(42);
    for (int i = 0; i < 50; i++) {
        RawSocket r(ns.port());
        std::string junk(1 + rng() % 300, '\0');
        for (auto &ch : junk)
            ch = (char)(rng() & 0xff);
        if (i % 2) // a plausible prefix so the junk reaches the header decoder
            junk = std::string("\x00\x00\x01\x00\x02\x00\x00\x40", 8) + junk;
        r.send_all(junk);
    }
    EXPECT_EQ(RS_SUCCESS, ask_route(s, "TBW102").code);
    EXPECT_TRUE(admin.knows_broker(a.addr()));
    EXPECT_TRUE(ns.running());
}

TEST(Nameserver, SlaveJoinsItsBrokerGroupAndKeepsItRoutable) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &master = c.add_broker("broker-a", ns.addr(), {kPeriod});
    MqProcess &slave = c.add_broker("broker-a", ns.addr(), {kPeriod, "--brokerRole=SLAVE"}, 1);
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    admin.create_topic(master.addr(), "T", 4);
    ASSERT_TRUE(wait_for([&] { return admin.knows_broker(slave.addr()); }));
    auto list = admin.brokers();
    EXPECT_TRUE(std::count(list.begin(), list.end(), "broker-a/0=" + master.addr()));
    EXPECT_TRUE(std::count(list.begin(), list.end(), "broker-a/1=" + slave.addr()));
    EXPECT_TRUE(slave.wait_log("master of broker-a is " + master.addr()));
    // The master's queue data stays while the slave lives: consumers read from it.
    master.kill9();
    ASSERT_TRUE(wait_for([&] { return !admin.knows_broker(master.addr()); }));
    EXPECT_EQ(Q({{"broker-a", 4}}), admin.queues("T"));
}

TEST(Nameserver, HttpEndpointServesRoutesAsJson) {
    MqCluster c;
    int http_port = unused_port();
    MqProcess &ns = c.add_namesrv({"--httpPort=" + std::to_string(http_port)});
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr());
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    admin.create_topic(a.addr(), "Web", 4);

    std::string r = get(http_port, "/topics/Web/route");
    EXPECT_EQ(200, status_of(r)) << r;
    EXPECT_TRUE(contains(r, "Content-Type: application/json"));
    EXPECT_TRUE(contains(r, "\"queueDatas\":[{\"brokerName\":\"broker-a\",\"readQueueNums\":4,\"writeQueueNums\":4,\"perm\":6"))
        << r;
    EXPECT_TRUE(contains(r, "\"brokerAddrs\":{\"0\":\"" + a.addr() + "\"}")) << r;
    r = get(http_port, "/clusters");
    EXPECT_EQ(200, status_of(r));
    EXPECT_TRUE(contains(r, "\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-a\"]}")) << r;
    r = get(http_port, "/topics");
    EXPECT_EQ(200, status_of(r));
    EXPECT_TRUE(contains(r, "\"Web\"") && contains(r, "\"TBW102\"")) << r;
    r = get(http_port, "/topics/%25RETRY%25nobody/route"); // percent-encoded name, unknown
    EXPECT_EQ(404, status_of(r));
    EXPECT_TRUE(contains(r, "No topic route info in name server for the topic: %RETRY%nobody")) << r;

    r = get(http_port, "/nope");
    EXPECT_EQ(404, status_of(r));
    EXPECT_TRUE(contains(r, "{\"status\":404,\"error\":")) << r;
    r = get(http_port, "/topics/a/b/route");
    EXPECT_EQ(404, status_of(r));
    r = get(http_port, "/topics/bad*name/route");
    EXPECT_EQ(400, status_of(r));
    r = http(http_port, "DELETE /topics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(405, status_of(r));
    r = http(http_port, "garbage\r\n\r\n"); // not even METHOD SP URI: libmicrohttpd hangs up
    EXPECT_TRUE(status_of(r) == 400 || r.empty()) << r;
    r = http(http_port, "GET /" + std::string(40000, 'x') + " HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(status_of(r) == 414 || status_of(r) == 431) << r.substr(0, 200);
    r = http(http_port, std::string("GET /top\0ics HTTP/1.1\r\n\r\n", 26));
    EXPECT_TRUE(status_of(r) == 400 || status_of(r) == 404) << r; // the library ends the path at the NUL
    r = http(http_port, "HEAD /topics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(200, status_of(r));
    EXPECT_FALSE(contains(r, "topicList"));

    std::mt19937 rng(7);
    for (int i = 0; i < 30; i++) {
        std::string junk(1 + rng() % 200, '\0');
        for (auto &ch : junk)
            ch = (char)(rng() & 0xff);
        int st = status_of(http(http_port, junk + "\r\n\r\n"));
        EXPECT_TRUE((st >= 400 && st < 600) || st == 0) << st; // the library's 4xx/5xx, or a closed connection
    }

    // Still serving both ports.
    EXPECT_EQ(200, status_of(get(http_port, "/topics/Web/route")));
    EXPECT_EQ(Q({{"broker-a", 4}}), admin.queues("Web"));
}

TEST(Nameserver, BrokerAdminRequestsValidateAndPersist) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr());
    ASSERT_TRUE(c.start_all());
    Admin admin(ns.addr());
    ASSERT_TRUE(wait_for([&] { return admin.knows_broker(a.addr()); })); // the *_in_cluster calls below need it
    mq_error err{};
    mq_topic_config tc;
    mq_topic_config_init(&tc, "TBW102");
    EXPECT_EQ(MQ_EINVAL, mq_admin_update_topic(admin.a, a.addr().c_str(), &tc, &err)); // refused before sending

    RawSocket s(a.port()); // and the broker refuses it too
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__CreateTopicRequestHeader ch = MQ__CREATE_TOPIC_REQUEST_HEADER__INIT;
    ch.topic = (char *)"SCHEDULE_TOPIC_XXXX";
    ch.readqueuenums = ch.writequeuenums = 4;
    ch.has_readqueuenums = ch.has_writequeuenums = 1;
    h.code = RC_UPDATE_AND_CREATE_TOPIC;
    h.ext_case = MQ__REMOTING_HEADER__EXT_CREATE_TOPIC;
    h.create_topic = &ch;
    Answer ans = ask(s, &h);
    EXPECT_EQ(RS_SYSTEM_ERROR, ans.code);
    EXPECT_TRUE(contains(ans.remark, "conflict with system topic")) << ans.remark;
    ch.topic = (char *)"has space";
    EXPECT_TRUE(contains(ask(s, &h).remark, "illegal character"));
    ch.topic = (char *)"Fine";
    ch.writequeuenums = 5000;
    ans = ask(s, &h);
    EXPECT_EQ(RS_SYSTEM_ERROR, ans.code);
    EXPECT_TRUE(contains(ans.remark, "between 1 and 1024")) << ans.remark;
    ch.has_readqueuenums = 0;
    EXPECT_EQ(RS_INVALID_PARAMETER, ask(s, &h).code);

    Mq__RemotingHeader gh = MQ__REMOTING_HEADER__INIT; // group body that does not decode
    gh.code = RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP;
    EXPECT_EQ(RS_INVALID_PARAMETER, ask(s, &gh, "\xff\xff\xff").code);
    mq_group_config g;
    mq_group_config_init(&g, "bad group");
    EXPECT_EQ(MQ_EINVAL, mq_admin_update_group(admin.a, a.addr().c_str(), &g, &err));
    mq_string_list *done = nullptr;
    EXPECT_EQ(MQ_EINVAL, mq_admin_update_group_in_cluster(admin.a, "DefaultCluster", &g, &done, &err));
    ASSERT_NE(nullptr, done);
    EXPECT_EQ(0u, done->n);
    mq_string_list_free(done);
    mq_group_config_init(&g, "good_group");
    EXPECT_EQ(MQ_OK, mq_admin_update_group_in_cluster(admin.a, "DefaultCluster", &g, &done, &err)) << err.message;
    ASSERT_EQ(1u, done->n);
    EXPECT_EQ(a.addr(), done->items[0]);
    mq_string_list_free(done);
    EXPECT_EQ(MQ_ENOTFOUND, mq_admin_update_group_in_cluster(admin.a, "OtherCluster", &g, &done, &err));
    EXPECT_TRUE(contains(err.message, "OtherCluster")) << err.message;
    EXPECT_EQ(0u, done->n);
    mq_string_list_free(done);

    mq_kv_list *kv = nullptr;
    ASSERT_EQ(MQ_OK, mq_admin_broker_runtime_info(admin.a, a.addr().c_str(), &kv, &err)) << err.message;
    EXPECT_STREQ("broker-a", mq_kv_get(kv, "brokerName"));
    EXPECT_STREQ("DefaultCluster", mq_kv_get(kv, "brokerClusterName"));
    EXPECT_STREQ(a.addr().c_str(), mq_kv_get(kv, "brokerAddr"));
    EXPECT_STREQ("3", mq_kv_get(kv, "topicCount")); // TBW102, SELF_TEST_TOPIC, OFFSET_MOVED_EVENT
    EXPECT_STREQ("1", mq_kv_get(kv, "subscriptionGroupCount"));
    mq_kv_list_free(kv);

    Mq__RemotingHeader cfg = MQ__REMOTING_HEADER__INIT;
    cfg.code = RC_GET_BROKER_CONFIG;
    cfg.opaque = 77;
    cfg.has_opaque = cfg.has_code = 1;
    ASSERT_TRUE(s.send_all(make_frame(&cfg)));
    std::vector<uint8_t> f;
    ASSERT_TRUE(s.read_frame(f));
    std::string text(f.begin() + 8 + (be32_load(f.data() + 4) & 0xFFFFFF), f.end());
    EXPECT_TRUE(contains(text, "brokerName=broker-a")) << text;
    EXPECT_TRUE(contains(text, "listenPort=")) << text;
}

TEST(Nameserver, MqadminCommandsAsProcesses) {
    MqCluster c;
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(c.start_all());
    MqProcess &a = c.add_broker("broker-a", ns.addr());
    ASSERT_TRUE(c.start_all());
    std::string n = ns.addr();
    Admin admin(n);
    ASSERT_TRUE(wait_for([&] { return admin.knows_broker(a.addr()); }));

    ToolResult r = c.mqadmin({"clusterList", "-n", n});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(contains(r.out, "DefaultCluster") && contains(r.out, "broker-a") && contains(r.out, a.addr())) << r.out;
    r = c.mqadmin({"clusterList", "-n", n, "--json"});
    EXPECT_EQ(0, r.exit_code);
    EXPECT_TRUE(contains(r.out, "\"clusterAddrTable\"")) << r.out;

    r = c.mqadmin({"updateTopic", "-n", n, "-c", "DefaultCluster", "-t", "T", "-r", "4", "-w", "4"});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(contains(r.out, "create topic to " + a.addr() + " success.")) << r.out;
    r = c.mqadmin({"topicRoute", "-n", n, "-t", "T", "--json"});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(1u, count(r.out, "\"readQueueNums\": 4")) << r.out;
    EXPECT_EQ(1u, count(r.out, "\"writeQueueNums\": 4")) << r.out;
    EXPECT_TRUE(contains(r.out, "\"0\": \"" + a.addr() + "\"")) << r.out;
    r = c.mqadmin({"topicRoute", "-n", n, "-t", "T"});
    EXPECT_EQ(0, r.exit_code);
    EXPECT_TRUE(contains(r.out, "broker-a")) << r.out;

    r = c.mqadmin({"topicList", "-n", n});
    EXPECT_EQ(0, r.exit_code);
    EXPECT_TRUE(contains(r.out, "T\n") && contains(r.out, "TBW102")) << r.out;
    r = c.mqadmin({"updateTopic", "-n", n, "-b", a.addr(), "-t", "T", "-w", "2", "-r", "2", "-p", "4", "--json"});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_EQ(Q({{"broker-a", 2}}), admin.queues("T"));
    r = c.mqadmin({"updateSubGroup", "-n", n, "-c", "DefaultCluster", "-g", "G1", "-r", "3", "-s", "false"});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(contains(r.out, "retryMaxTimes=3") && contains(r.out, "consumeEnable=false")) << r.out;
    r = c.mqadmin({"brokerStatus", "-n", n, "-b", a.addr()});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(contains(r.out, "brokerName") && contains(r.out, "broker-a")) << r.out;
    r = c.mqadmin({"brokerStatus", "-n", n, "-c", "DefaultCluster", "--json"});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(contains(r.out, "\"subscriptionGroupCount\": \"1\"")) << r.out;
    r = c.mqadmin({"deleteTopic", "-n", n, "-c", "DefaultCluster", "-t", "T"});
    EXPECT_EQ(0, r.exit_code) << r.err;
    EXPECT_TRUE(admin.queues("T").empty());

    // Failures: a clear line on stderr and a non-zero status.
    r = c.mqadmin({"topicRoute", "-n", n, "-t", "T"});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_TRUE(contains(r.err, "TOPIC_NOT_EXIST")) << r.err;
    EXPECT_EQ(1u, count(r.err, "\n"));
    r = c.mqadmin({"clusterList", "-n", "127.0.0.1:" + std::to_string(unused_port())});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_TRUE(contains(r.err, "cannot reach")) << r.err;
    r = c.mqadmin({"updateTopic", "-n", n, "-c", "DefaultCluster", "-t", "bad/name"});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_TRUE(contains(r.err, "illegal character '/'")) << r.err;
    r = c.mqadmin({"updateTopic", "-n", n, "-c", "NoCluster", "-t", "X"});
    EXPECT_EQ(1, r.exit_code);
    EXPECT_TRUE(contains(r.err, "NoCluster")) << r.err;
    r = c.mqadmin({"updateTopic", "-n", n, "-t", "X"});
    EXPECT_EQ(2, r.exit_code);
    r = c.mqadmin({"updateTopic", "-n", n, "-c", "DefaultCluster", "-t", "X", "-r", "zero"});
    EXPECT_EQ(2, r.exit_code);
    r = c.mqadmin({"topicRoute", "-n", n, "-t", "T", "-q"});
    EXPECT_EQ(2, r.exit_code);
    r = c.mqadmin({"noSuchCommand"});
    EXPECT_EQ(2, r.exit_code);
    r = c.mqadmin({"queryMsgById", "-n", n, "-i", "X"});
    EXPECT_EQ(2, r.exit_code);
    EXPECT_TRUE(contains(r.err, "'X' is not an offset id; give -t TOPIC")) << r.err;
}

} // namespace
