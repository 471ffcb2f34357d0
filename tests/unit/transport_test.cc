// transport_test.cc - the libev transport (common/remoting.c) with real
// sockets on loopback: pipelining, out-of-order answers, timeouts, bad
// frames, slow peers, zero-copy bodies. The server runs on its own loop
// thread; clients are either a second loop on the test thread or raw sockets.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <vector>

#include "loop_thread.h"
#include "ports.h"
#include "raw_socket.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "remoting.h"
}

namespace {

enum { CODE_ECHO = 9001, CODE_DEFER = 9002, CODE_BIG = 9003, CODE_SILENT = 9004, CODE_IOV = 9005, CODE_KEEP = 9006 };

// Server state: touched only on the server's loop thread, except atomics.
struct Server {
    LoopThread lt;
    rm_dispatch *d = nullptr;
    rm_server *srv = nullptr;
    int port = 0;
    std::vector<rm_reply_to> deferred;
    size_t defer_batch = 0;
    std::atomic<size_t> max_queued{0};
    std::atomic<int> closes{0};
    std::atomic<int> iov_released{0};
    std::atomic<int> handled{0};
    rm_conn *kept = nullptr; // the connection of the last CODE_KEEP request (referenced)

    explicit Server(rm_options *opts = nullptr) {
        lt.run([&] {
            d = rm_dispatch_new();
            rm_dispatch_on(d, CODE_ECHO, echo, this);
            rm_dispatch_on(d, CODE_DEFER, defer, this);
            rm_dispatch_on(d, CODE_BIG, big, this);
            rm_dispatch_on(d, CODE_SILENT, silent, this);
            rm_dispatch_on(d, CODE_IOV, iov, this);
            rm_dispatch_on(d, CODE_KEEP, keep, this);
            rm_dispatch_on(d, RC_SEND_MESSAGE_V2, echo, this);
            srv = rm_server_new(lt.loop(), opts, d);
            char err[256];
            ASSERT_EQ(0, rm_server_listen(srv, "127.0.0.1", 0, err, sizeof err)) << err;
            port = rm_server_port(srv);
            rm_server_on_close(srv, [](rm_conn *, void *arg) { static_cast<Server *>(arg)->closes++; }, this);
        });
    }
    ~Server() {
        lt.run([&] {
            for (auto &to : deferred)
                rm_reply_to_drop(&to);
            if (kept)
                rm_conn_unref(kept);
            rm_server_free(srv);
            rm_dispatch_free(d);
        });
    }
    size_t conn_count() {
        size_t n = 0;
        lt.run([&] { n = rm_server_conn_count(srv); });
        return n;
    }
    size_t input_held() {
        size_t n = 0;
        lt.run([&] { n = rm_server_input_held(srv); });
        return n;
    }

    // Echo: answers with the request's remark and body.
    static void echo(rm_conn *c, const rm_cmd *req, void *arg) {
        static_cast<Server *>(arg)->handled++;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        h.remark = req->hdr->remark;
        rm_reply(c, req, &h, req->body, req->body_len);
    }
    // Defer: keeps requests until defer_batch are held, then answers them all
    // in shuffled order.
    static void defer(rm_conn *c, const rm_cmd *req, void *arg) {
        Server *s = static_cast<Server *>(arg);
        s->handled++;
        rm_reply_to to;
        rm_defer(c, req, &to);
        s->deferred.push_back(to);
        if (s->deferred.size() < s->defer_batch)
            return;
        std::mt19937 rng(42);
        std::shuffle(s->deferred.begin(), s->deferred.end(), rng);
        for (auto &t : s->deferred) {
            Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
            h.code = RS_SUCCESS;
            std::string remark = "answer-to-" + std::to_string(t.opaque);
            h.remark = (char *)remark.c_str();
            rm_respond(&t, &h, nullptr, 0);
        }
        s->deferred.clear();
    }
    // Big: answers with a 1 MiB body, recording the queue size seen.
    static void big(rm_conn *c, const rm_cmd *req, void *arg) {
        Server *s = static_cast<Server *>(arg);
        s->handled++;
        static std::string body(1 << 20, 'x');
        size_t q = rm_conn_queued_bytes(c);
        if (q > s->max_queued)
            s->max_queued = q;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        rm_reply(c, req, &h, body.data(), body.size());
        q = rm_conn_queued_bytes(c);
        if (q > s->max_queued)
            s->max_queued = q;
    }
    static void silent(rm_conn *, const rm_cmd *, void *arg) { static_cast<Server *>(arg)->handled++; }
    // Keep: remembers the connection, then echoes.
    static void keep(rm_conn *c, const rm_cmd *req, void *arg) {
        Server *s = static_cast<Server *>(arg);
        if (s->kept)
            rm_conn_unref(s->kept);
        rm_conn_ref(c);
        s->kept = c;
        echo(c, req, arg);
    }
    // Iov: answers with two borrowed parts and counts their release.
    static void iov(rm_conn *c, const rm_cmd *req, void *arg) {
        static const char a[] = "hello ", b[] = "world";
        struct iovec parts[2] = {{(void *)a, 6}, {(void *)b, 5}};
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        rm_reply_iov(c, req, &h, parts, 2, [](void *p) { static_cast<Server *>(p)->iov_released++; }, arg);
    }
};

// A client loop on the test thread.
struct Client {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    rm_conn *conn = nullptr;
    explicit Client(int port, rm_options *opts = nullptr) {
        char err[256];
        std::string addr = "127.0.0.1:" + std::to_string(port);
        conn = rm_connect(loop, addr.c_str(), opts, nullptr, err, sizeof err);
        EXPECT_NE(conn, nullptr) << err;
    }
    ~Client() {
        if (conn) {
            rm_conn_close(conn);
            rm_conn_unref(conn);
        }
        ev_loop_destroy(loop);
    }
    // Runs the loop until done() or timeout. A 2 ms tick wakes the loop so a
    // condition changed by another thread is seen.
    bool run_until(std::function<bool()> done, int timeout_ms = 10000) {
        ev_timer tick;
        ev_timer_init(&tick, [](struct ev_loop *, ev_timer *, int) {}, 0.002, 0.002);
        ev_timer_start(loop, &tick);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        bool ok = true;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) {
                ok = false;
                break;
            }
            ev_run(loop, EVRUN_ONCE);
        }
        ev_timer_stop(loop, &tick);
        return ok;
    }
};

struct Answer {
    int err = 1;
    int code = -1;
    std::string remark, body;
    bool done = false;
};

void on_answer(rm_conn *, int err, const rm_cmd *resp, void *arg) {
    Answer *a = static_cast<Answer *>(arg);
    a->err = err;
    if (resp) {
        a->code = resp->hdr->code;
        a->remark = resp->hdr->remark ? resp->hdr->remark : "";
        a->body.assign((const char *)resp->body, resp->body_len);
    }
    a->done = true;
}

int send_request(Client &cl, int32_t code, const std::string &remark, const std::string &body,
                 Answer *a, int timeout_ms = 5000) {
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = code;
    h.remark = (char *)remark.c_str();
    return rm_request(cl.conn, &h, body.data(), body.size(), timeout_ms, on_answer, a);
}

class TransportTest : public ::testing::Test {
  protected:
    void SetUp() override { log_set_level(getenv("MQ_TEST_DEBUG") ? LOG_DEBUG : LOG_WARN); }
};

TEST_F(TransportTest, EchoRoundTrip) {
    Server s;
    Client cl(s.port);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_ECHO, "hi", std::string("\0body\xff", 6), &a));
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ(RM_OK, a.err);
    EXPECT_EQ(RS_SUCCESS, a.code);
    EXPECT_EQ("hi", a.remark);
    EXPECT_EQ(std::string("\0body\xff", 6), a.body);
}

TEST_F(TransportTest, TenThousandPipelinedRequestsAnsweredOutOfOrder) {
    Server s;
    const size_t n = 10000;
    s.lt.run([&] { s.defer_batch = 500; }); // answer in shuffled batches of 500
    Client cl(s.port);
    std::vector<Answer> answers(n);
    std::vector<int32_t> opaques(n);
    for (size_t i = 0; i < n; i++) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = CODE_DEFER;
        ASSERT_EQ(RM_OK, rm_request(cl.conn, &h, nullptr, 0, 20000, on_answer, &answers[i]));
        opaques[i] = h.opaque;
    }
    EXPECT_EQ(n, rm_conn_pending_requests(cl.conn));
    size_t done = 0;
    ASSERT_TRUE(cl.run_until([&] {
        done = 0;
        for (auto &a : answers)
            done += a.done;
        return done == n;
    }, 30000)) << done << " of " << n;
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(RM_OK, answers[i].err);
        // Each answer names the request it answers: it reached its own caller.
        ASSERT_EQ("answer-to-" + std::to_string(opaques[i]), answers[i].remark);
    }
    EXPECT_EQ(0u, rm_conn_pending_requests(cl.conn));
}

TEST_F(TransportTest, UnknownCodeIsAnsweredNotSupported) {
    Server s;
    Client cl(s.port);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, 4242, "", "", &a));
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ(RS_REQUEST_CODE_NOT_SUPPORTED, a.code);
    EXPECT_NE(std::string::npos, a.remark.find("4242"));
    // The connection stays usable.
    Answer b;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_ECHO, "again", "", &b));
    ASSERT_TRUE(cl.run_until([&] { return b.done; }));
    EXPECT_EQ("again", b.remark);
}

TEST_F(TransportTest, RequestWithoutItsTypedHeaderIsRefused) {
    Server s;
    Client cl(s.port);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, RC_SEND_MESSAGE_V2, "", "payload", &a)); // no SendMessageRequestHeader
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ(RS_SYSTEM_ERROR, a.code);
    EXPECT_NE(std::string::npos, a.remark.find("SendMessageRequestHeader")) << a.remark;
    EXPECT_EQ(0, s.handled.load());
}

TEST_F(TransportTest, RequestTimesOutWhenNoAnswer) {
    Server s;
    Client cl(s.port);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_SILENT, "", "", &a, 100));
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ(RM_ETIMEDOUT, a.err);
    EXPECT_EQ(0u, rm_conn_pending_requests(cl.conn));
}

TEST_F(TransportTest, PendingRequestsFailWhenServerGoesAway) {
    auto s = std::make_unique<Server>();
    Client cl(s->port);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_SILENT, "", "", &a, 10000));
    ASSERT_TRUE(cl.run_until([&] { return s->handled.load() == 1; }));
    s.reset(); // closes every connection
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ(RM_ECLOSED, a.err);
    EXPECT_FALSE(rm_conn_is_open(cl.conn));
    Answer b;
    EXPECT_EQ(RM_ECLOSED, send_request(cl, CODE_ECHO, "", "", &b));
}

TEST_F(TransportTest, ConnectToClosedPortFails) {
    int port = unused_port(); // nobody listens there

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[256] = "";
    std::string addr = "127.0.0.1:" + std::to_string(port);
    rm_conn *c = rm_connect(loop, addr.c_str(), nullptr, nullptr, err, sizeof err);
    if (c) { // refused asynchronously: the request fails with ECLOSED
        Answer a;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = CODE_ECHO;
        ASSERT_EQ(RM_OK, rm_request(c, &h, nullptr, 0, 5000, on_answer, &a));
        while (!a.done)
            ev_run(loop, EVRUN_ONCE);
        EXPECT_EQ(RM_ECLOSED, a.err);
        rm_conn_close(c);
        rm_conn_unref(c);
    } else {
        EXPECT_NE(std::string::npos, std::string(err).find("refused")) << err;
    }
    ev_loop_destroy(loop);
    char bad[256];
    EXPECT_EQ(nullptr, rm_connect(EV_DEFAULT, "no-port-here", nullptr, nullptr, bad, sizeof bad));
    EXPECT_NE(std::string::npos, std::string(bad).find("no-port-here"));
}

// Bad frames close only the offending connection; a healthy client on the
// same server keeps getting answers in the same test.
TEST_F(TransportTest, BadFramesCloseOnlyTheirConnection) {
    Server s;
    Client good(s.port);
    auto check_good = [&](const std::string &tag) {
        Answer a;
        ASSERT_EQ(RM_OK, send_request(good, CODE_ECHO, tag, "", &a));
        ASSERT_TRUE(good.run_until([&] { return a.done; }));
        EXPECT_EQ(tag, a.remark);
    };
    check_good("before");

    { // oversized: a length prefix over the 16 MiB maximum
        RawSocket r(s.port);
        ASSERT_TRUE(r.ok());
        uint8_t pre[8];
        be32_store(pre, 100u << 20);
        be32_store(pre + 4, (2u << 24) | 10);
        r.send_all(pre, sizeof pre);
        EXPECT_TRUE(r.wait_closed());
    }
    check_good("after-oversized");

    { // inconsistent lengths: header longer than the frame
        RawSocket r(s.port);
        uint8_t pre[8];
        be32_store(pre, 8);
        be32_store(pre + 4, (2u << 24) | 1000);
        r.send_all(pre, sizeof pre);
        EXPECT_TRUE(r.wait_closed());
    }
    { // length field smaller than its own 4 bytes
        RawSocket r(s.port);
        uint8_t pre[8] = {0, 0, 0, 2, 0, 0, 0, 0};
        r.send_all(pre, sizeof pre);
        EXPECT_TRUE(r.wait_closed());
    }
    { // well-framed but undecodable protobuf header
        RawSocket r(s.port);
        std::string junk = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
        uint8_t pre[8];
        be32_store(pre, 4 + (uint32_t)junk.size());
        be32_store(pre + 4, (2u << 24) | (uint32_t)junk.size());
        r.send_all(pre, sizeof pre);
        r.send_all(junk);
        EXPECT_TRUE(r.wait_closed());
    }
    { // an undecodable RocketMQ binary header (type 1, too short) and an unknown type
        for (uint32_t type : {1u, 77u}) {
            RawSocket r(s.port);
            uint8_t f[12];
            be32_store(f, 8);
            be32_store(f + 4, (type << 24) | 4);
            memcpy(f + 8, "abcd", 4);
            r.send_all(f, sizeof f);
            EXPECT_TRUE(r.wait_closed()) << type;
        }
    }
    { // random garbage from several connections at once
        std::mt19937 rng(7);
        std::vector<std::unique_ptr<RawSocket>> socks;
        for (int i = 0; i < 20; i++) {
            socks.push_back(std::make_unique<RawSocket>(s.port));
            std::string g(64 + rng() % 512, '\0');
            for (auto &ch : g)
                ch = (char)rng();
            socks.back()->send_all(g);
        }
        check_good("during-garbage");
    }
    { // truncated frame, then the peer goes away: nothing to answer, no crash
        RawSocket r(s.port);
        std::string f = make_request(CODE_ECHO, 1, "0123456789");
        r.send_all(f.data(), f.size() - 5);
    }
    { // a truncated frame held open does not stall anyone else
        RawSocket r(s.port);
        std::string f = make_request(CODE_ECHO, 1, "0123456789");
        r.send_all(f.data(), f.size() - 5);
        check_good("beside-truncated");
        r.send_all(f.data() + f.size() - 5, 5); // completing it gets the answer
        std::vector<uint8_t> resp;
        EXPECT_TRUE(r.read_frame(resp));
    }
    check_good("after");
    EXPECT_TRUE(wait_for([&] { return s.conn_count() == 1; })) << s.conn_count();
    rm_stats st;
    rm_stats_get(&st);
    EXPECT_GE(st.bad_frames, 5u);
}

// A peer that sends requests and never reads the answers: the server stops
// reading it, its queue stays under the bound, and it is dropped.
TEST_F(TransportTest, PeerThatNeverReadsIsDroppedWithBoundedQueue) {
    rm_options o;
    rm_options_default(&o);
    o.write_pause_bytes = 2u << 20;
    o.write_limit_bytes = 8u << 20;
    o.write_stall_ms = 300;
    Server s(&o);
    Client good(s.port);
    rm_stats before;
    rm_stats_get(&before);
    {
        RawSocket r(s.port, 64 * 1024);
        std::string burst;
        for (int i = 0; i < 200; i++)
            burst += make_request(CODE_BIG, i + 1);
        // Send without reading; the server stops reading us, so this may block:
        // send from a thread and let the socket close unblock it.
        std::thread t([&] { r.send_all(burst); });
        ASSERT_TRUE(wait_for([&] { return s.closes.load() >= 1; }, 10000));
        shutdown(r.fd(), SHUT_RDWR);
        t.join();
    }
    EXPECT_LE(s.max_queued.load(), o.write_limit_bytes);
    EXPECT_LT(s.handled.load(), 200); // it stopped reading the peer's requests
    rm_stats after;
    rm_stats_get(&after);
    EXPECT_GE(after.slow_peer_drops, before.slow_peer_drops + 1);
    // Everyone else is still served.
    Answer a;
    ASSERT_EQ(RM_OK, send_request(good, CODE_ECHO, "still here", "", &a));
    ASSERT_TRUE(good.run_until([&] { return a.done; }));
    EXPECT_EQ("still here", a.remark);
}

// Unfinished frames: over the server's input limit the connection whose
// frame started first is dropped (not the newcomer), the rest go at the
// frame deadline, a pipelining client that keeps completing frames is never
// timed out, and a well-behaved client is served throughout.
TEST_F(TransportTest, UnfinishedFramesAreDroppedOldestFirstAndAtTheirDeadline) {
    rm_options o;
    rm_options_default(&o);
    o.input_limit_bytes = 1u << 20;
    o.frame_timeout_ms = 3000;
    Server s(&o);
    Client good(s.port);
    rm_stats before;
    rm_stats_get(&before);
    std::string part(600 * 1024, 'p');
    std::string prefix(8, '\0');
    be32_store((uint8_t *)&prefix[0], (2u << 20) - 4);
    be32_store((uint8_t *)&prefix[4], (2u << 24) | 16u);
    RawSocket older(s.port), newer(s.port), steady(s.port);
    ASSERT_TRUE(older.send_all(prefix + part));
    ASSERT_TRUE(wait_for([&] { return s.input_held() == prefix.size() + part.size(); }));
    // A client whose frames keep completing, each split over two writes.
    std::atomic<bool> stop{false};
    auto pipeline_start = std::chrono::steady_clock::now();
    std::thread pipeliner([&] {
        int i = 0;
        while (!stop) {
            std::string f = make_request(CODE_SILENT, ++i, std::string(100, 'x'));
            steady.send_all(f.substr(0, 50));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            steady.send_all(f.substr(50));
        }
    });
    ASSERT_TRUE(newer.send_all(prefix + part)); // 1.2 MiB held: over the limit
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(older.wait_closed(3000)) << "the oldest unfinished frame goes first";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500))
        << "dropped for the limit, not at its deadline";
    EXPECT_FALSE(newer.wait_closed(10)) << "the newer frame was dropped instead of the older";
    Answer a;
    ASSERT_EQ(RM_OK, send_request(good, CODE_ECHO, "served", "", &a));
    ASSERT_TRUE(good.run_until([&] { return a.done; }));
    EXPECT_EQ("served", a.remark);
    EXPECT_TRUE(newer.wait_closed(8000)) << "dropped at its frame deadline";
    // Well past the deadline, the pipelining client is still connected.
    // What is tested is the passing of time: two frame deadlines since the
    // pipelining client began, each of its frames split by a pause.
    auto two_deadlines = pipeline_start + std::chrono::milliseconds(2 * o.frame_timeout_ms);
    ASSERT_TRUE(wait_for([&] { return std::chrono::steady_clock::now() >= two_deadlines; },
                         2 * o.frame_timeout_ms + 1000));
    stop = true;
    pipeliner.join();
    EXPECT_FALSE(steady.wait_closed(10)) << "a client completing frames was timed out";
    rm_stats after;
    rm_stats_get(&after);
    EXPECT_EQ(before.input_drops + 2, after.input_drops);
}

TEST_F(TransportTest, ZeroCopyBodyIsSentAndReleased) {
    Server s;
    Client cl(s.port);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_IOV, "", "", &a));
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ("hello world", a.body);
    EXPECT_TRUE(wait_for([&] { return s.iov_released.load() == 1; }));
}

TEST_F(TransportTest, LargeBodiesRoundTrip) {
    Server s;
    Client cl(s.port);
    std::string body(3 << 20, '\0');
    for (size_t i = 0; i < body.size(); i++)
        body[i] = (char)(i * 31);
    Answer a;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_ECHO, "big", body, &a, 10000));
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ(body, a.body);
}

TEST_F(TransportTest, OnewayRequestGetsNoAnswer) {
    Server s;
    Client cl(s.port);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = CODE_ECHO;
    ASSERT_EQ(RM_OK, rm_oneway(cl.conn, &h, "x", 1));
    Answer a; // a normal request after it is answered; the oneway one is not
    ASSERT_EQ(RM_OK, send_request(cl, CODE_ECHO, "second", "", &a));
    ASSERT_TRUE(cl.run_until([&] { return a.done; }));
    EXPECT_EQ("second", a.remark);
    EXPECT_EQ(2, s.handled.load());
}

// Makes s.kept the server's side of cl's connection (a CODE_KEEP request).
void keep_connection(Server &s, Client &cl) {
    Answer first;
    ASSERT_EQ(RM_OK, send_request(cl, CODE_KEEP, "keep", "", &first));
    ASSERT_TRUE(cl.run_until([&] { return first.done; }));
    ASSERT_NE(nullptr, s.kept);
}

// rm_conn_wait_input (the broker's group commit waiting for producers it
// expects): the loop thread sleeps until the connection has input, then
// handles it there and then, before the loop runs again.
TEST_F(TransportTest, WaitInputHandlesARequestThatArrivesDuringTheWait) {
    Server s;
    Client cl(s.port);
    ASSERT_NO_FATAL_FAILURE(keep_connection(s, cl));

    std::atomic<bool> waiting{false};
    Answer second;
    std::thread sender([&] { // the client's loop is used by this thread only from here on
        ASSERT_TRUE(wait_for([&] { return waiting.load(); }));
        ASSERT_EQ(RM_OK, send_request(cl, CODE_ECHO, "during the wait", "", &second));
        cl.run_until([&] { return second.done; });
    });
    size_t got = 0;
    int handled_when_back = 0;
    s.lt.run([&] {
        waiting = true;
        got = rm_conn_wait_input(&s.kept, 1, 20 * 1000 * 1000); // returns at the arrival
        handled_when_back = s.handled.load();
    });
    sender.join();
    EXPECT_EQ(1u, got);
    EXPECT_EQ(2, handled_when_back); // handled inside the wait, not by a later loop turn
    EXPECT_TRUE(second.done);
    EXPECT_EQ("during the wait", second.remark);
}

TEST_F(TransportTest, WaitInputReturnsAtTheTimeoutAndSkipsClosedConnections) {
    Server s;
    Client cl(s.port);
    ASSERT_NO_FATAL_FAILURE(keep_connection(s, cl));
    size_t got = 1;
    auto t0 = std::chrono::steady_clock::now();
    s.lt.run([&] { got = rm_conn_wait_input(&s.kept, 1, 20 * 1000); }); // nothing is sent
    EXPECT_EQ(0u, got);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::microseconds(20 * 1000));
    t0 = std::chrono::steady_clock::now();
    s.lt.run([&] {
        rm_conn_close(s.kept);
        got = rm_conn_wait_input(&s.kept, 1, 20 * 1000 * 1000); // would wait 20 s if it polled
    });
    EXPECT_EQ(0u, got);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(EvqTest, PostsFromOtherThreadsRunOnTheLoopInOrder) {
    LoopThread lt;
    std::vector<int> seen;
    std::thread::id loop_id;
    lt.run([&] { loop_id = std::this_thread::get_id(); });
    struct Item {
        evq_item item;
        std::vector<int> *seen;
        int v;
    };
    evq *q = nullptr;
    lt.run([&] { q = evq_new(lt.loop()); });
    std::vector<Item> items(1000);
    std::atomic<int> on_loop{0};
    static std::atomic<int> *on_loop_p;
    static std::thread::id *loop_id_p;
    on_loop_p = &on_loop;
    loop_id_p = &loop_id;
    for (int i = 0; i < 1000; i++) {
        items[i].seen = &seen;
        items[i].v = i;
        evq_post(q, &items[i].item, [](evq_item *it) {
            Item *x = (Item *)it;
            x->seen->push_back(x->v);
            if (std::this_thread::get_id() == *loop_id_p)
                (*on_loop_p)++;
        });
    }
    // A last item on the same queue marks the end (FIFO).
    static std::atomic<bool> finished;
    finished = false;
    evq_item last;
    evq_post(q, &last, [](evq_item *) { finished = true; });
    ASSERT_TRUE(wait_for([&] { return finished.load(); }));
    ASSERT_EQ(1000u, seen.size());
    for (int i = 0; i < 1000; i++)
        EXPECT_EQ(i, seen[i]);
    EXPECT_EQ(1000, on_loop.load());
    lt.run([&] { evq_free(q); });
}

} // namespace
