// client_instance_test.cc - the client runtime (client/instance.c) against
// fake nameservers on loopback: route fetch and cache, fail-over between
// nameservers, cached routes while every nameserver is down, timeouts, and
// shutdown waking blocked callers.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "loop_thread.h"
#include "ports.h"
#include "wait.h"

extern "C" {
#include "body.pb-c.h"
#include "instance.h"
#include "log.h"
#include "remoting.h"
}

namespace {

// A fake nameserver: knows topic "T1" on broker-a, answers TOPIC_NOT_EXIST
// for others, and stays silent for topic "silent".
struct FakeNamesrv {
    LoopThread lt;
    rm_dispatch *d = nullptr;
    rm_server *srv = nullptr;
    int port = 0;
    std::atomic<int> route_queries{0};

    explicit FakeNamesrv(int want_port = 0) {
        lt.run([&] {
            d = rm_dispatch_new();
            rm_dispatch_on(d, RC_GET_ROUTEINFO_BY_TOPIC, on_route, this);
            srv = rm_server_new(lt.loop(), nullptr, d);
            char err[256];
            if (rm_server_listen(srv, "127.0.0.1", want_port, err, sizeof err) == 0)
                port = rm_server_port(srv);
        });
    }
    ~FakeNamesrv() {
        lt.run([&] {
            rm_server_free(srv);
            rm_dispatch_free(d);
        });
    }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port); }

    static void on_route(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeNamesrv *self = static_cast<FakeNamesrv *>(arg);
        self->route_queries++;
        std::string topic = req->hdr->topic->topic ? req->hdr->topic->topic : "";
        if (topic == "silent")
            return;
        if (topic != "T1") {
            rm_reply_status(c, req, RS_TOPIC_NOT_EXIST, "No topic route info in name server for the topic: %s", topic.c_str());
            return;
        }
        Mq__QueueData q = MQ__QUEUE_DATA__INIT;
        q.brokername = (char *)"broker-a";
        q.readqueuenums = q.writequeuenums = 4;
        q.has_readqueuenums = q.has_writequeuenums = 1;
        q.perm = 6;
        q.has_perm = 1;
        Mq__QueueData *qs[] = {&q};
        Mq__BrokerData__BrokerAddrsEntry e0 = MQ__BROKER_DATA__BROKER_ADDRS_ENTRY__INIT;
        e0.key = 0;
        e0.has_key = 1;
        e0.value = (char *)"10.0.0.1:10911";
        Mq__BrokerData__BrokerAddrsEntry e1 = MQ__BROKER_DATA__BROKER_ADDRS_ENTRY__INIT;
        e1.key = 1;
        e1.has_key = 1;
        e1.value = (char *)"10.0.0.2:10911";
        Mq__BrokerData__BrokerAddrsEntry *es[] = {&e1, &e0};
        Mq__BrokerData b = MQ__BROKER_DATA__INIT;
        b.cluster = (char *)"DefaultCluster";
        b.brokername = (char *)"broker-a";
        b.n_brokeraddrs = 2;
        b.brokeraddrs = es;
        Mq__BrokerData *bs[] = {&b};
        Mq__TopicRouteData rd = MQ__TOPIC_ROUTE_DATA__INIT;
        rd.n_queuedatas = 1;
        rd.queuedatas = qs;
        rd.n_brokerdatas = 1;
        rd.brokerdatas = bs;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        rm_reply_msg(c, req, &h, &rd.base);
    }
};


struct Instance {
    mqc_instance *inst = nullptr;
    explicit Instance(const std::string &ns, int timeout_ms = 1000) {
        mqc_options o;
        mqc_options_default(&o);
        o.namesrv_addr = ns.c_str();
        o.request_timeout_ms = timeout_ms;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mqc_instance_new(&o, &inst, &err)) << err.message;
    }
    ~Instance() { mqc_instance_free(inst); }
};

class ClientInstanceTest : public ::testing::Test {
  protected:
    void SetUp() override { log_set_level(LOG_ERROR); }
};

TEST_F(ClientInstanceTest, FetchesAndCachesRoutes) {
    FakeNamesrv ns;
    Instance c(ns.addr());
    mqc_route *r = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mqc_route_get(c.inst, "T1", false, &r, &err)) << err.message;
    ASSERT_EQ(1u, r->data->n_queuedatas);
    EXPECT_EQ(4, r->data->queuedatas[0]->writequeuenums);
    EXPECT_STREQ("10.0.0.1:10911", mqc_route_broker_addr(r, "broker-a", 0));
    EXPECT_STREQ("10.0.0.2:10911", mqc_route_broker_addr(r, "broker-a", 1));
    EXPECT_STREQ("10.0.0.1:10911", mqc_route_any_addr(r, "broker-a"));
    EXPECT_EQ(nullptr, mqc_route_broker_addr(r, "broker-b", 0));
    mqc_route_release(r);
    ASSERT_EQ(MQ_OK, mqc_route_get(c.inst, "T1", false, &r, &err));
    mqc_route_release(r);
    EXPECT_EQ(1, ns.route_queries.load()); // second answer came from the cache
    ASSERT_EQ(MQ_OK, mqc_route_get(c.inst, "T1", true, &r, &err));
    mqc_route_release(r);
    EXPECT_EQ(2, ns.route_queries.load());
}

TEST_F(ClientInstanceTest, UnknownTopicIsNoRouteWithTheServersReason) {
    FakeNamesrv ns;
    Instance c(ns.addr());
    mqc_route *r = nullptr;
    mq_error err{};
    EXPECT_EQ(MQ_ENOROUTE, mqc_route_get(c.inst, "Nope", false, &r, &err));
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, err.status);
    EXPECT_NE(std::string::npos, std::string(err.message).find("Nope")) << err.message;
}

TEST_F(ClientInstanceTest, FailsOverToALiveNameserver) {
    FakeNamesrv ns;
    std::string list = "127.0.0.1:" + std::to_string(unused_port()) + ";" + ns.addr();
    for (int i = 0; i < 4; i++) { // whichever it starts with, it gets an answer
        Instance c(list);
        mqc_route *r = nullptr;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mqc_route_get(c.inst, "T1", true, &r, &err)) << err.message;
        mqc_route_release(r);
    }
}

TEST_F(ClientInstanceTest, KeepsCachedRouteWhenEveryNameserverIsDown) {
    auto ns = std::make_unique<FakeNamesrv>();
    Instance c(ns->addr());
    mqc_route *r = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mqc_route_get(c.inst, "T1", false, &r, &err));
    mqc_route_release(r);
    ns.reset();
    ASSERT_EQ(MQ_OK, mqc_route_get(c.inst, "T1", true, &r, &err)) << err.message;
    EXPECT_STREQ("10.0.0.1:10911", mqc_route_broker_addr(r, "broker-a", 0));
    mqc_route_release(r);
    // A topic never seen cannot be routed.
    EXPECT_EQ(MQ_ENETWORK, mqc_route_get(c.inst, "T2", false, &r, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("no nameserver answered")) << err.message;
}

TEST_F(ClientInstanceTest, SyncInvokeTimesOut) {
    FakeNamesrv ns;
    Instance c(ns.addr(), 200);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__TopicRequestHeader t = MQ__TOPIC_REQUEST_HEADER__INIT;
    t.topic = (char *)"silent";
    h.code = RC_GET_ROUTEINFO_BY_TOPIC;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &t;
    mqc_response resp;
    mq_error err{};
    EXPECT_EQ(MQ_ETIMEOUT, mqc_invoke_sync(c.inst, ns.addr().c_str(), &h, nullptr, 0, 200, &resp, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("timed out")) << err.message;
}

TEST_F(ClientInstanceTest, ShutdownWakesBlockedCallers) {
    FakeNamesrv ns;
    auto c = std::make_unique<Instance>(ns.addr(), 60000);
    std::atomic<int> rc{1};
    std::thread t([&] {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__TopicRequestHeader th = MQ__TOPIC_REQUEST_HEADER__INIT;
        th.topic = (char *)"silent";
        h.code = RC_GET_ROUTEINFO_BY_TOPIC;
        h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
        h.topic = &th;
        mqc_response resp;
        mq_error err{};
        rc = mqc_invoke_sync(c->inst, ns.addr().c_str(), &h, nullptr, 0, 60000, &resp, &err);
    });
    ASSERT_TRUE(wait_for([&] { return ns.route_queries.load() == 1; }));
    c.reset(); // must not hang
    t.join();
    EXPECT_NE(MQ_OK, rc.load());
}

TEST_F(ClientInstanceTest, AsyncRouteRefreshFillsTheCacheFromTheIoThread) {
    FakeNamesrv ns;
    Instance c(ns.addr());
    struct Ctx {
        std::atomic<int> rc{1};
        std::atomic<bool> done{false};
        bool on_io = false;
        mqc_instance *inst;
    };
    for (const char *topic : {"T1", "Nope"}) {
        Ctx ctx;
        ctx.inst = c.inst;
        struct Start {
            Ctx *ctx;
            const char *topic;
        } st{&ctx, topic};
        ASSERT_EQ(MQ_OK, mqc_run_sync(
                             c.inst,
                             [](void *arg) {
                                 Start *s = static_cast<Start *>(arg);
                                 mqc_route_refresh_async(
                                     s->ctx->inst, s->topic,
                                     [](mqc_instance *inst, const char *, int rc, void *a) {
                                         Ctx *x = static_cast<Ctx *>(a);
                                         x->on_io = mqc_on_io_thread(inst);
                                         x->rc = rc;
                                         x->done = true;
                                     },
                                     s->ctx);
                             },
                             &st));
        ASSERT_TRUE(wait_for([&] { return ctx.done.load(); }));
        EXPECT_TRUE(ctx.on_io);
        mqc_route *r = mqc_route_cached(c.inst, topic);
        if (std::string(topic) == "T1") {
            EXPECT_EQ(MQ_OK, ctx.rc.load());
            ASSERT_NE(nullptr, r);
            EXPECT_STREQ("10.0.0.1:10911", mqc_route_broker_addr(r, "broker-a", 0));
            mqc_route_release(r);
        } else {
            EXPECT_EQ(MQ_ENOROUTE, ctx.rc.load());
            EXPECT_EQ(nullptr, r);
        }
    }
}

TEST_F(ClientInstanceTest, SyncViewCallReadsTheResponseOnTheIoThread) {
    FakeNamesrv ns;
    Instance c(ns.addr());
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__TopicRequestHeader t = MQ__TOPIC_REQUEST_HEADER__INIT;
    t.topic = (char *)"Nope";
    h.code = RC_GET_ROUTEINFO_BY_TOPIC;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &t;
    struct Seen {
        int code = -1;
        std::string remark;
    } seen;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mqc_invoke_sync_view(
                         c.inst, ns.addr().c_str(), &h, nullptr, 0, 1000,
                         [](const rm_cmd *resp, void *arg) {
                             Seen *s = static_cast<Seen *>(arg);
                             s->code = resp->hdr->code;
                             s->remark = resp->hdr->remark ? resp->hdr->remark : "";
                         },
                         &seen, &err))
        << err.message;
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, seen.code);
    EXPECT_NE(std::string::npos, seen.remark.find("Nope"));
    t.topic = (char *)"silent";
    seen.code = -1;
    EXPECT_EQ(MQ_ETIMEOUT, mqc_invoke_sync_view(
                               c.inst, ns.addr().c_str(), &h, nullptr, 0, 100,
                               [](const rm_cmd *, void *arg) { static_cast<Seen *>(arg)->code = 0; }, &seen, &err));
    EXPECT_EQ(-1, seen.code); // not called without a response
}

TEST_F(ClientInstanceTest, APeerThatDiesDoesNotKillTheProcessWithSigpipe) {
    // A "broker" that accepts, reads nothing and dies.
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(0, bind(lfd, (sockaddr *)&sa, sizeof sa));
    ASSERT_EQ(0, listen(lfd, 64));
    socklen_t len = sizeof sa;
    getsockname(lfd, (sockaddr *)&sa, &len);
    std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
    std::atomic<int> resets{0};
    std::thread acceptor([&] {
        for (;;) {
            int fd = accept(lfd, nullptr, nullptr);
            if (fd < 0)
                return;
            // Let the client's data pile up unread, then close: the kernel
            // answers the unread data and every later write with RST.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            close(fd);
            resets++;
        }
    });
    FakeNamesrv ns;
    Instance c(ns.addr());
    std::string body(256 * 1024, 'x');
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_SEND_MESSAGE_V2;
    int failed = 0;
    for (int i = 0; i < 500; i++) {
        mq_error err{};
        if (mqc_invoke_oneway(c.inst, addr.c_str(), &h, body.data(), body.size(), &err) != MQ_OK)
            failed++;
    }
    // Still alive: writes to the reset peer failed quietly (EPIPE), no SIGPIPE.
    EXPECT_GT(resets.load(), 0);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    acceptor.join();
    (void)failed;
}

TEST_F(ClientInstanceTest, RejectsBadNameserverLists) {
    mqc_options o;
    mqc_options_default(&o);
    mqc_instance *inst = nullptr;
    mq_error err{};
    o.namesrv_addr = "localhost";
    EXPECT_EQ(MQ_EINVAL, mqc_instance_new(&o, &inst, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("localhost")) << err.message;
    o.namesrv_addr = ";;";
    unsetenv("NAMESRV_ADDR");
    EXPECT_EQ(MQ_EINVAL, mqc_instance_new(&o, &inst, &err));
}

} // namespace
