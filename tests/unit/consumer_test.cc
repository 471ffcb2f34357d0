// consumer_test.cc - the push and pull consumers (client/push_consumer.c,
// rebalance.c, pull_loop.c, consume_service.c, pull_consumer.c) against fake
// brokers and a fake nameserver on loopback: start offsets and
// consumeFromWhere, long polling, rebalancing on NOTIFY_CONSUMER_IDS_CHANGED,
// committed offset = smallest in flight, send-back on RECONSUME_LATER and
// local retry when it fails, OFFSET_MOVED, exact tag filtering, flow
// control, broadcasting with local offsets, orderly locks and order, and the
// pull consumer's calls.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ftw.h>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fake_cluster.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "message.h"
#include "mq/consumer.h"
}

namespace {

struct Got {
    std::string topic, tags, keys, body, msg_id, broker;
    int queue_id;
    int64_t offset;
    int reconsume;
};

// Collects what a listener receives; behaviour decides each answer.
struct Collector {
    std::mutex m;
    std::condition_variable cv;
    std::vector<Got> got;
    std::function<int(const Got &)> behaviour; // returns a consume status
    std::atomic<int> calls{0};

    static Got of(const mq_message_ext *x) {
        size_t n;
        const void *b = mq_message_ext_body(x, &n);
        return Got{mq_message_ext_topic(x),
                   mq_message_ext_tags(x),
                   mq_message_ext_keys(x),
                   std::string((const char *)b, n),
                   mq_message_ext_msg_id(x),
                   mq_message_ext_broker_name(x),
                   mq_message_ext_queue_id(x),
                   mq_message_ext_queue_offset(x),
                   mq_message_ext_reconsume_times(x)};
    }
    int handle(const mq_message_ext *const *msgs, int n) {
        int st = 0;
        for (int i = 0; i < n; i++) {
            Got g = of(msgs[i]);
            calls++;
            int s = behaviour ? behaviour(g) : 0;
            std::lock_guard<std::mutex> l(m);
            if (s == 0)
                got.push_back(g);
            st |= s;
            cv.notify_all();
        }
        return st;
    }
    static mq_consume_status concurrent(const mq_message_ext *const *msgs, int n, void *arg) {
        return (mq_consume_status)static_cast<Collector *>(arg)->handle(msgs, n);
    }
    static mq_orderly_status orderly(const mq_message_ext *const *msgs, int n, void *arg) {
        return (mq_orderly_status)static_cast<Collector *>(arg)->handle(msgs, n);
    }
    size_t size() {
        std::lock_guard<std::mutex> l(m);
        return got.size();
    }
    bool wait_size(size_t n, int ms = 5000) {
        std::unique_lock<std::mutex> l(m);
        return cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return got.size() >= n; });
    }
    std::vector<Got> snapshot() {
        std::lock_guard<std::mutex> l(m);
        return got;
    }
};

class ConsumerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log_set_level(LOG_ERROR);
        a = std::make_unique<FakeBroker>("broker-a");
        b = std::make_unique<FakeBroker>("broker-b");
        ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}, {"broker-b", b->addr(), 4, 4, 6}});
        ns.set_route("%RETRY%G", {{"broker-a", a->addr(), 1, 1, 6}});
    }
    void TearDown() override {
        for (auto *c : consumers)
            mq_push_consumer_destroy(c);
    }
    static mq_push_consumer_options fast_options() {
        mq_push_consumer_options o;
        mq_push_consumer_options_init(&o);
        o.consume_thread_count = 4;
        o.pull_suspend_timeout_ms = 2000;
        o.pull_request_timeout_ms = 5000;
        o.pull_error_delay_ms = 50;
        o.persist_offset_interval_ms = 50;
        o.rebalance_interval_ms = 5000;
        o.heartbeat_interval_ms = 5000;
        o.lock_renew_interval_ms = 200;
        o.send_back_retry_delay_ms = 100;
        o.suspend_current_queue_time_ms = 50;
        o.request_timeout_ms = 2000;
        return o;
    }
    mq_push_consumer *consumer(Collector &col, mq_push_consumer_options o, const char *expr = "*", bool orderly = false,
                               const char *group = "G", bool start = true) {
        mq_push_consumer *c = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_push_consumer_new(group, ns.addr().c_str(), &o, &c, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_push_consumer_subscribe(c, "T", expr, &err)) << err.message;
        if (orderly)
            mq_push_consumer_set_orderly_listener(c, Collector::orderly, &col);
        else
            mq_push_consumer_set_listener(c, Collector::concurrent, &col);
        if (start) {
            EXPECT_EQ(MQ_OK, mq_push_consumer_start(c, &err)) << err.message;
        }
        consumers.push_back(c);
        return c;
    }
    int assigned(mq_push_consumer *c) {
        mq_message_queue *qs;
        int n;
        mq_push_consumer_assigned_queues(c, &qs, &n);
        int user = 0;
        for (int i = 0; i < n; i++)
            user += std::string(qs[i].topic) == "T";
        mq_free(qs);
        return user;
    }
    std::set<std::string> assigned_set(mq_push_consumer *c) {
        mq_message_queue *qs;
        int n;
        mq_push_consumer_assigned_queues(c, &qs, &n);
        std::set<std::string> s;
        for (int i = 0; i < n; i++)
            if (std::string(qs[i].topic) == "T")
                s.insert(std::string(qs[i].broker_name) + "/" + std::to_string(qs[i].queue_id));
        mq_free(qs);
        return s;
    }
    void shutdown(mq_push_consumer *c) {
        mq_push_consumer_shutdown(c);
    }
    FakeNamesrv ns;
    std::unique_ptr<FakeBroker> a, b;
    std::vector<mq_push_consumer *> consumers;
};

TEST_F(ConsumerTest, NewGroupFromFirstOffsetGetsEveryMessageAndCommits) {
    for (int i = 0; i < 40; i++) // 5 in each of the 8 queues
        ((i / 4) % 2 ? a : b)->add_message("T", i % 4, "m" + std::to_string(i), "TagA", "k" + std::to_string(i));
    Collector col;
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(40));
    std::set<std::string> bodies;
    for (auto &g : col.snapshot()) {
        bodies.insert(g.body);
        EXPECT_EQ("T", g.topic);
        EXPECT_EQ("TagA", g.tags);
        EXPECT_EQ(32u, g.msg_id.size());
    }
    EXPECT_EQ(40u, bodies.size());
    // Committed: every queue at its end.
    ASSERT_TRUE(wait_for([&] {
        for (int q = 0; q < 4; q++)
            if (a->offset_of("G", "T", q) != 5 || b->offset_of("G", "T", q) != 5)
                return false;
        return true;
    }));
    shutdown(c);
    EXPECT_EQ(40u, col.size());
}

TEST_F(ConsumerTest, NewGroupFromLastOffsetSkipsHistory) {
    for (int i = 0; i < 8; i++)
        a->add_message("T", 0, "old" + std::to_string(i));
    Collector col;
    mq_push_consumer *c = consumer(col, fast_options()); // LAST is the default
    // The queue's start offset is its end: a commit of 8 shows it.
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 8; }));
    a->add_message("T", 0, "new");
    ASSERT_TRUE(col.wait_size(1));
    auto got = col.snapshot();
    EXPECT_EQ("new", got[0].body);
    EXPECT_EQ(8, got[0].offset);
    shutdown(c);
    EXPECT_EQ(1u, col.size());
}

TEST_F(ConsumerTest, CommittedOffsetWinsOverConsumeFrom) {
    for (int i = 0; i < 6; i++)
        a->add_message("T", 1, "m" + std::to_string(i));
    a->set_offset("G", "T", 1, 4);
    Collector col;
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(2));
    EXPECT_FALSE(col.wait_size(3, 200));
    auto got = col.snapshot();
    std::set<int64_t> offs{got[0].offset, got[1].offset};
    EXPECT_EQ((std::set<int64_t>{4, 5}), offs);
    shutdown(c);
}

TEST_F(ConsumerTest, FromTimestampStartsAtTheFirstMessageStoredAfterIt) {
    a->add_message("T", 2, "before");
    int64_t t = now_ms() + 5;
    ASSERT_TRUE(wait_for([&] { return now_ms() > t + 5; }));
    a->add_message("T", 2, "after1");
    a->add_message("T", 2, "after2");
    Collector col;
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_TIMESTAMP;
    o.consume_timestamp_ms = t;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(2));
    EXPECT_FALSE(col.wait_size(3, 200));
    for (auto &g : col.snapshot())
        EXPECT_NE("before", g.body);
    shutdown(c);
}

TEST_F(ConsumerTest, LongPollDeliversANewMessageWithinMilliseconds) {
    Collector col;
    auto o = fast_options();
    o.pull_suspend_timeout_ms = 10000;
    o.pull_request_timeout_ms = 15000;
    mq_push_consumer *c = consumer(col, o);
    // Wait until every queue has a pull held by the brokers.
    ASSERT_TRUE(wait_for([&] {
        // 4 queues of T each, and broker-a's queue of %RETRY%G
        return a->with_lock([&] { return a->held.size(); }) == 5 && b->with_lock([&] { return b->held.size(); }) == 4;
    }));
    RecordedPull p = a->with_lock([&] { return a->pulls.back(); });
    EXPECT_EQ(PULL_FLAG_SUSPEND | PULL_FLAG_SUBSCRIPTION | PULL_FLAG_COMMIT_OFFSET, p.sysflag);
    EXPECT_EQ(10000, p.suspend_ms);
    EXPECT_EQ(32, p.max_nums);
    EXPECT_EQ("*", p.subscription);
    EXPECT_EQ("TAG", p.expression_type);
    EXPECT_EQ("G", p.group);
    int64_t t0 = mono_us();
    a->add_message("T", 3, "hello");
    ASSERT_TRUE(col.wait_size(1, 2000));
    int64_t took_us = mono_us() - t0;
    EXPECT_LT(took_us, 200000) << "long poll took " << took_us << " us";
    shutdown(c);
}

TEST_F(ConsumerTest, EmptyLongPollIsRepulled) {
    Collector col;
    auto o = fast_options();
    o.pull_suspend_timeout_ms = 50;
    o.pull_request_timeout_ms = 2000;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(wait_for([&] { return a->with_lock([&] { return a->pulls.size(); }) >= 20; }));
    a->add_message("T", 0, "late");
    ASSERT_TRUE(col.wait_size(1));
    shutdown(c);
}

TEST_F(ConsumerTest, RebalancesWhenTheBrokerSaysTheGroupChanged) {
    Collector c1, c2;
    auto o = fast_options();
    o.rebalance_interval_ms = 60000; // only NOTIFY can make this fast
    mq_push_consumer *x = consumer(c1, o);
    ASSERT_TRUE(wait_for([&] { return assigned(x) == 8; }));
    mq_push_consumer *y = consumer(c2, o);
    ASSERT_TRUE(wait_for([&] { return assigned(x) == 4 && assigned(y) == 4; }));
    auto sx = assigned_set(x), sy = assigned_set(y);
    for (auto &q : sx)
        EXPECT_EQ(0u, sy.count(q)) << q;
    // Messages go to whoever owns the queue, once.
    for (int i = 0; i < 16; i++)
        (i % 2 ? a : b)->add_message("T", i % 4, "m" + std::to_string(i));
    ASSERT_TRUE(wait_for([&] { return c1.size() + c2.size() == 16; }));
    EXPECT_EQ(8u, c1.size());
    EXPECT_EQ(8u, c2.size());
    // One leaves: the other takes everything back.
    shutdown(y);
    ASSERT_TRUE(wait_for([&] { return assigned(x) == 8; }));
    for (int i = 0; i < 8; i++)
        (i % 2 ? a : b)->add_message("T", i % 4, "n" + std::to_string(i));
    ASSERT_TRUE(wait_for([&] { return c1.size() == 16; }));
    EXPECT_EQ(8u, c2.size());
    shutdown(x);
}

TEST_F(ConsumerTest, HeartbeatCarriesTheSubscriptionAndTheRetryTopic) {
    Collector col;
    mq_push_consumer *c = consumer(col, fast_options(), "TagA || TagB");
    ASSERT_TRUE(wait_for([&] { return a->with_lock([&] { return !a->heartbeat_bodies.empty(); }); }));
    a->with_lock([&] {
        Mq__HeartbeatData *hb = a->heartbeat_bodies[0];
        EXPECT_EQ(std::string(mq_push_consumer_client_id(c)), hb->clientid);
        ASSERT_EQ(1u, hb->n_consumerdataset);
        Mq__ConsumerData *cd = hb->consumerdataset[0];
        EXPECT_STREQ("G", cd->groupname);
        EXPECT_STREQ("CONSUME_PASSIVELY", cd->consumetype);
        EXPECT_STREQ("CLUSTERING", cd->messagemodel);
        EXPECT_STREQ("CONSUME_FROM_LAST_OFFSET", cd->consumefromwhere);
        ASSERT_EQ(2u, cd->n_subscriptiondataset);
        Mq__SubscriptionData *s = cd->subscriptiondataset[0];
        EXPECT_STREQ("T", s->topic);
        EXPECT_STREQ("TagA || TagB", s->substring);
        ASSERT_EQ(2u, s->n_tagsset);
        EXPECT_STREQ("TagB", s->tagsset[1]);
        ASSERT_EQ(2u, s->n_codeset);
        EXPECT_EQ(msg_java_hash("TagA", 4), s->codeset[0]);
        EXPECT_STREQ("TAG", s->expressiontype);
        EXPECT_STREQ("%RETRY%G", cd->subscriptiondataset[1]->topic);
        EXPECT_STREQ("*", cd->subscriptiondataset[1]->substring);
    });
    shutdown(c);
}

TEST_F(ConsumerTest, CommittedOffsetIsTheSmallestMessageStillInFlight) {
    for (int i = 0; i < 6; i++)
        a->add_message("T", 0, "m" + std::to_string(i));
    Collector col;
    std::mutex gate;
    std::condition_variable gate_cv;
    bool open = false;
    col.behaviour = [&](const Got &g) {
        if (g.queue_id == 0 && g.offset == 2) { // hold this one
            std::unique_lock<std::mutex> l(gate);
            gate_cv.wait(l, [&] { return open; });
        }
        return 0;
    };
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(5));
    // Offsets 0,1,3,4,5 done; 2 in flight: the broker must hold 2.
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 2; }));
    sleep_ms(150); // several persist periods: still 2, never beyond
    EXPECT_EQ(2, a->offset_of("G", "T", 0));
    {
        std::lock_guard<std::mutex> l(gate);
        open = true;
    }
    gate_cv.notify_all();
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 6; }));
    shutdown(c);
}

TEST_F(ConsumerTest, ReconsumeLaterSendsTheMessageBack) {
    std::string id;
    a->add_message("T", 1, "bad", "TagX", "key-1");
    Collector col;
    col.behaviour = [&](const Got &g) { return g.body == "bad" ? 1 : 0; };
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(wait_for([&] { return a->with_lock([&] { return a->send_backs.size(); }) == 1; }));
    RecordedSendBack sb = a->with_lock([&] { return a->send_backs[0]; });
    EXPECT_EQ(0, sb.offset); // commit log offset of the first record
    EXPECT_EQ("G", sb.group);
    EXPECT_EQ(0, sb.delay_level);
    EXPECT_EQ("T", sb.origin_topic);
    EXPECT_EQ(32u, sb.origin_msg_id.size());
    EXPECT_EQ(-1, sb.max_reconsume_times) << "absent by default: the group's retryMaxTimes applies";
    // Sent back counts as done: the offset moves past it.
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 1) == 1; }));
    EXPECT_EQ(1, col.calls.load());
    shutdown(c);
}

TEST_F(ConsumerTest, AnExplicitMaxReconsumeTimesTravelsWithTheSendBack) {
    a->add_message("T", 1, "bad");
    Collector col;
    col.behaviour = [&](const Got &) { return 1; };
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    o.max_reconsume_times = 5;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(wait_for([&] { return a->with_lock([&] { return a->send_backs.size(); }) == 1; }));
    EXPECT_EQ(5, a->with_lock([&] { return a->send_backs[0].max_reconsume_times; }));
    shutdown(c);
}

TEST_F(ConsumerTest, FailedSendBackIsConsumedAgainLocally) {
    a->send_back_status = RS_SYSTEM_ERROR;
    a->add_message("T", 1, "flaky");
    Collector col;
    std::atomic<int> tries{0};
    col.behaviour = [&](const Got &) { return tries++ == 0 ? 1 : 0; };
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(1));
    EXPECT_EQ(2, tries.load());
    EXPECT_EQ(1, col.snapshot()[0].reconsume); // counted locally
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 1) == 1; }));
    shutdown(c);
}

TEST_F(ConsumerTest, OffsetMovedJumpsToTheBrokersOffset) {
    for (int i = 0; i < 10; i++)
        a->add_message("T", 0, "m" + std::to_string(i));
    a->set_offset("G", "T", 0, 0);
    a->offset_moved_to = 7;
    Collector col;
    mq_push_consumer *c = consumer(col, fast_options());
    // Queue 0 of broker-a: the first pull answered OFFSET_MOVED to 7.
    ASSERT_TRUE(col.wait_size(3));
    EXPECT_FALSE(col.wait_size(4, 200));
    for (auto &g : col.snapshot())
        EXPECT_GE(g.offset, 7);
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 10; }));
    shutdown(c);
}

TEST_F(ConsumerTest, PullErrorsAreRetried) {
    a->add_message("T", 0, "x");
    a->fail_pulls = 6;
    Collector col;
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(1));
    shutdown(c);
}

TEST_F(ConsumerTest, TagFilterIsExactOnTheClient) {
    // "Aa" and "BB" have the same Java hash: the broker cannot tell them apart.
    ASSERT_EQ(msg_java_hash("Aa", 2), msg_java_hash("BB", 2));
    a->add_message("T", 0, "1", "Aa");
    a->add_message("T", 0, "2", "BB");
    a->add_message("T", 0, "3", "TagC");
    a->add_message("T", 0, "4", "Aa");
    Collector col;
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o, "Aa");
    ASSERT_TRUE(col.wait_size(2));
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 4; })); // filtered ones count as done
    auto got = col.snapshot();
    ASSERT_EQ(2u, got.size());
    for (auto &g : got)
        EXPECT_EQ("Aa", g.tags);
    shutdown(c);
}

TEST_F(ConsumerTest, FlowControlStopsPullingAQueueWhoseMessagesPileUp) {
    for (int i = 0; i < 60; i++)
        a->add_message("T", 0, "m" + std::to_string(i));
    Collector col;
    std::mutex gate;
    std::condition_variable gate_cv;
    bool open = false;
    col.behaviour = [&](const Got &) {
        std::unique_lock<std::mutex> l(gate);
        gate_cv.wait(l, [&] { return open; });
        return 0;
    };
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    o.pull_batch_size = 4;
    o.pull_threshold_for_queue = 10;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(wait_for([&] { return col.calls.load() >= 4; })); // every consume thread blocked
    sleep_ms(300);
    int64_t highest = a->with_lock([&] {
        int64_t h = 0;
        for (auto &p : a->pulls)
            if (p.topic == "T" && p.queue_id == 0)
                h = std::max(h, p.offset);
        return h;
    });
    EXPECT_LE(highest, 12); // stopped just above 10 cached messages
    {
        std::lock_guard<std::mutex> l(gate);
        open = true;
    }
    gate_cv.notify_all();
    ASSERT_TRUE(col.wait_size(60));
    shutdown(c);
}

TEST_F(ConsumerTest, SuspendStopsDeliveryAndResumeContinues) {
    Collector col;
    mq_push_consumer *c = nullptr;
    col.behaviour = [&](const Got &) {
        if (col.calls.load() == 3)
            mq_push_consumer_suspend(c);
        return 0;
    };
    auto o = fast_options();
    o.consume_thread_count = 1;
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    c = consumer(col, o, "*", false, "G", false);
    for (int i = 0; i < 10; i++)
        a->add_message("T", 0, "m" + std::to_string(i));
    ASSERT_EQ(MQ_OK, mq_push_consumer_start(c, nullptr));
    ASSERT_TRUE(col.wait_size(3));
    EXPECT_FALSE(col.wait_size(4, 300));
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 3; }));
    mq_push_consumer_resume(c);
    ASSERT_TRUE(col.wait_size(10));
    shutdown(c);
}

TEST_F(ConsumerTest, ShutdownCommitsOffsetsAndUnregisters) {
    auto o = fast_options();
    o.persist_offset_interval_ms = 60000; // only shutdown commits
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    for (int i = 0; i < 4; i++)
        b->add_message("T", 2, "m" + std::to_string(i));
    Collector col;
    mq_push_consumer *c = consumer(col, o);
    ASSERT_TRUE(col.wait_size(4));
    std::string id = mq_push_consumer_client_id(c);
    shutdown(c);
    EXPECT_EQ(4, b->offset_of("G", "T", 2));
    EXPECT_TRUE(b->with_lock([&] {
        return std::find(b->unregisters.begin(), b->unregisters.end(), id) != b->unregisters.end();
    }));
    // A new member of the group continues from there: nothing again.
    Collector col2;
    mq_push_consumer *c2 = consumer(col2, o);
    ASSERT_TRUE(wait_for([&] { return assigned(c2) == 8; }));
    EXPECT_FALSE(col2.wait_size(1, 300));
    b->add_message("T", 2, "next");
    ASSERT_TRUE(col2.wait_size(1));
    EXPECT_EQ("next", col2.snapshot()[0].body);
    shutdown(c2);
}

TEST_F(ConsumerTest, RetryTopicMessagesComeBackUnderTheirOriginalTopic) {
    a->add_message("%RETRY%G", 0, "again", "TagA", "", std::string("RETRY_TOPIC\x01T", 13), 1);
    Collector col;
    mq_push_consumer *c = consumer(col, fast_options());
    ASSERT_TRUE(col.wait_size(1));
    Got g = col.snapshot()[0];
    EXPECT_EQ("T", g.topic);
    EXPECT_EQ("again", g.body);
    EXPECT_EQ(1, g.reconsume);
    shutdown(c);
}

static int remove_entry(const char *path, const struct stat *, int, struct FTW *) { return remove(path); }

TEST_F(ConsumerTest, BroadcastingDeliversEverythingToEveryoneWithLocalOffsets) {
    char tmpl[] = "/tmp/mq-offsets-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    for (int i = 0; i < 12; i++)
        (i % 2 ? a : b)->add_message("T", i % 4, "m" + std::to_string(i));
    auto o = fast_options();
    o.message_model = MQ_BROADCASTING;
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    o.local_offset_dir = dir.c_str();
    Collector c1, c2;
    o.instance_name = "one";
    mq_push_consumer *x = consumer(c1, o);
    o.instance_name = "two";
    mq_push_consumer *y = consumer(c2, o);
    ASSERT_TRUE(c1.wait_size(12));
    ASSERT_TRUE(c2.wait_size(12));
    EXPECT_EQ(8, assigned(x));
    EXPECT_EQ(8, assigned(y));
    shutdown(x);
    shutdown(y);
    // Offsets are local, not on the broker.
    EXPECT_EQ(-1, a->offset_of("G", "T", 0));
    FILE *f = fopen((dir + "/one/G/offsets.json").c_str(), "r");
    ASSERT_NE(nullptr, f);
    fclose(f);
    // Restarting "one" continues where it stopped.
    Collector c3;
    o.instance_name = "one";
    mq_push_consumer *z = consumer(c3, o);
    ASSERT_TRUE(wait_for([&] { return assigned(z) == 8; }));
    a->add_message("T", 1, "fresh");
    ASSERT_TRUE(c3.wait_size(1));
    EXPECT_FALSE(c3.wait_size(2, 200));
    EXPECT_EQ("fresh", c3.snapshot()[0].body);
    shutdown(z);
    nftw(dir.c_str(), remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TEST_F(ConsumerTest, OrderlyLocksQueuesAndConsumesEachInOrder) {
    for (int i = 0; i < 40; i++)
        a->add_message("T", i % 2, std::to_string(i / 2));
    Collector col;
    std::atomic<int> suspends{0};
    col.behaviour = [&](const Got &g) {
        if (g.body == "5" && suspends.load() < 2) { // ask for this one again, twice
            suspends++;
            return 1;
        }
        return 0;
    };
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_push_consumer *c = consumer(col, o, "*", true);
    ASSERT_TRUE(col.wait_size(40));
    EXPECT_GT(a->lock_requests.load(), 0);
    std::map<int, std::vector<int>> per_queue;
    for (auto &g : col.snapshot())
        per_queue[g.queue_id].push_back(std::stoi(g.body));
    for (auto &kv : per_queue) {
        ASSERT_EQ(20u, kv.second.size());
        for (int i = 0; i < 20; i++)
            EXPECT_EQ(i, kv.second[i]) << "queue " << kv.first;
    }
    EXPECT_EQ(2, suspends.load());
    ASSERT_TRUE(wait_for([&] { return a->offset_of("G", "T", 0) == 20 && a->offset_of("G", "T", 1) == 20; }));
    shutdown(c);
    EXPECT_GT(a->unlock_requests.load(), 0);
    EXPECT_TRUE(a->with_lock([&] { return a->locks.empty(); }));
}

TEST_F(ConsumerTest, OrderlyHandOverKeepsOrderAcrossARebalance) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}});
    std::mutex mu;
    std::map<int, std::vector<int>> seen; // queue -> sequence numbers, both consumers
    auto record = [&](const Got &g) {
        std::lock_guard<std::mutex> l(mu);
        seen[g.queue_id].push_back(std::stoi(g.body));
        return 0;
    };
    Collector c1, c2;
    c1.behaviour = record;
    c2.behaviour = record;
    auto o = fast_options();
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    int seq[4] = {0, 0, 0, 0};
    auto send = [&](int n) {
        for (int i = 0; i < n; i++) {
            int q = i % 4;
            a->add_message("T", q, std::to_string(seq[q]++));
        }
    };
    send(40);
    mq_push_consumer *x = consumer(c1, o, "*", true);
    ASSERT_TRUE(c1.wait_size(40));
    mq_push_consumer *y = consumer(c2, o, "*", true);
    send(40);
    ASSERT_TRUE(wait_for([&] { return c1.size() + c2.size() >= 80 && assigned(x) == 2 && assigned(y) == 2; }, 8000));
    send(40);
    ASSERT_TRUE(wait_for([&] { return c1.size() + c2.size() >= 120; }, 8000));
    std::lock_guard<std::mutex> l(mu);
    for (auto &kv : seen) {
        // Strictly in order; a message consumed by the old owner is never
        // seen again by the new one (it committed before unlocking).
        for (size_t i = 1; i < kv.second.size(); i++)
            EXPECT_LT(kv.second[i - 1], kv.second[i]) << "queue " << kv.first << " at " << i;
        EXPECT_EQ(30u, kv.second.size()) << "queue " << kv.first;
    }
}

// ---- pull consumer ----

class PullConsumerTest : public ConsumerTest {
  protected:
    void SetUp() override {
        ConsumerTest::SetUp();
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_pull_consumer_new("PullG", ns.addr().c_str(), nullptr, &pc, &err)) << err.message;
        ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err)) << err.message;
    }
    void TearDown() override {
        mq_pull_consumer_destroy(pc);
        ConsumerTest::TearDown();
    }
    mq_message_queue queue(const char *broker, int qid) {
        mq_message_queue q{};
        strcpy(q.topic, "T");
        strcpy(q.broker_name, broker);
        q.queue_id = qid;
        return q;
    }
    mq_pull_consumer *pc = nullptr;
};

TEST_F(PullConsumerTest, FetchesQueuesAndPullsByOffset) {
    mq_message_queue *qs;
    int n;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_fetch_queues(pc, "T", &qs, &n, nullptr));
    ASSERT_EQ(8, n);
    EXPECT_STREQ("broker-a", qs[0].broker_name);
    EXPECT_STREQ("broker-b", qs[7].broker_name);
    EXPECT_EQ(3, qs[7].queue_id);
    mq_free(qs);
    for (int i = 0; i < 5; i++)
        b->add_message("T", 3, "m" + std::to_string(i), i % 2 ? "odd" : "even", "key" + std::to_string(i));
    mq_message_queue q = queue("broker-b", 3);
    mq_pull_result r;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", 1, 3, 0, &r, &err)) << err.message;
    EXPECT_EQ(MQ_PULL_FOUND, r.status);
    ASSERT_EQ(3, r.n);
    EXPECT_EQ(4, r.next_begin_offset);
    EXPECT_EQ(5, r.max_offset);
    EXPECT_EQ(1, mq_message_ext_queue_offset(r.msgs[0]));
    EXPECT_STREQ("m1", (const char *)mq_message_ext_body(r.msgs[0], nullptr));
    EXPECT_STREQ("key1", mq_message_ext_keys(r.msgs[0]));
    EXPECT_STREQ("odd", mq_message_ext_tags(r.msgs[0]));
    EXPECT_STREQ("broker-b", mq_message_ext_broker_name(r.msgs[0]));
    EXPECT_EQ(3, mq_message_ext_queue_id(r.msgs[0]));
    char host[64];
    mq_message_ext_store_host(r.msgs[0], host, sizeof host);
    EXPECT_EQ(b->addr(), host);
    EXPECT_NE(nullptr, mq_message_ext_property(r.msgs[0], "UNIQ_KEY"));
    EXPECT_STREQ(mq_message_ext_property(r.msgs[0], "UNIQ_KEY"), mq_message_ext_msg_id(r.msgs[0]));
    mq_pull_result_destroy(&r);
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "odd", 0, 32, 0, &r, &err)) << err.message;
    ASSERT_EQ(2, r.n);
    EXPECT_STREQ("m3", (const char *)mq_message_ext_body(r.msgs[1], nullptr));
    mq_pull_result_destroy(&r);
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, nullptr, 5, 32, 0, &r, &err));
    EXPECT_EQ(MQ_PULL_NO_NEW_MSG, r.status);
    EXPECT_EQ(0, r.n);
    mq_pull_result_destroy(&r);
    b->offset_moved_to = 2;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, nullptr, 99, 32, 0, &r, &err));
    EXPECT_EQ(MQ_PULL_OFFSET_ILLEGAL, r.status);
    EXPECT_EQ(2, r.next_begin_offset);
    mq_pull_result_destroy(&r);
}

TEST_F(PullConsumerTest, LongPollingPullWaitsForAMessage) {
    mq_message_queue q = queue("broker-a", 1);
    std::thread t([&] {
        ASSERT_TRUE(wait_for([&] { return a->with_lock([&] { return a->held.size(); }) == 1; }));
        a->add_message("T", 1, "late");
    });
    mq_pull_result r;
    int64_t t0 = mono_ms();
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", 0, 32, 5000, &r, nullptr));
    t.join();
    EXPECT_EQ(MQ_PULL_FOUND, r.status);
    EXPECT_EQ(1, r.n);
    EXPECT_LT(mono_ms() - t0, 3000);
    mq_pull_result_destroy(&r);
}

TEST_F(PullConsumerTest, OffsetCalls) {
    mq_message_queue q = queue("broker-a", 2);
    for (int i = 0; i < 3; i++)
        a->add_message("T", 2, "m");
    int64_t off = 0;
    mq_error err{};
    EXPECT_EQ(MQ_ENOTFOUND, mq_pull_consumer_query_offset(pc, &q, &off, &err));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_commit_offset(pc, &q, 2, &err)) << err.message;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_query_offset(pc, &q, &off, &err));
    EXPECT_EQ(2, off);
    EXPECT_EQ(2, a->offset_of("PullG", "T", 2));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_max_offset(pc, &q, &off, &err));
    EXPECT_EQ(3, off);
    ASSERT_EQ(MQ_OK, mq_pull_consumer_min_offset(pc, &q, &off, &err));
    EXPECT_EQ(0, off);
    ASSERT_EQ(MQ_OK, mq_pull_consumer_search_offset(pc, &q, now_ms() + 100000, &off, &err));
    EXPECT_EQ(3, off);
    mq_message_queue bad = queue("broker-z", 0);
    EXPECT_EQ(MQ_ENOROUTE, mq_pull_consumer_max_offset(pc, &bad, &off, &err));
}

TEST(ConsumerOptions, AreChecked) {
    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.pull_batch_size = 0;
    mq_push_consumer *c = nullptr;
    mq_error err{};
    EXPECT_EQ(MQ_EINVAL, mq_push_consumer_new("G", "127.0.0.1:1", &o, &c, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("pull_batch_size")) << err.message;
    mq_push_consumer_options_init(&o);
    ASSERT_EQ(MQ_OK, mq_push_consumer_new("G", "127.0.0.1:1", &o, &c, &err));
    EXPECT_EQ(MQ_EINVAL, mq_push_consumer_subscribe(c, "T", "A ||", &err));
    EXPECT_EQ(MQ_EINVAL, mq_push_consumer_subscribe(c, "bad topic", "*", &err));
    EXPECT_EQ(MQ_EINVAL, mq_push_consumer_start(c, &err)); // no subscription
    ASSERT_EQ(MQ_OK, mq_push_consumer_subscribe(c, "T", "*", &err));
    EXPECT_EQ(MQ_EINVAL, mq_push_consumer_start(c, &err)); // no listener
    mq_push_consumer_destroy(c);
}

} // namespace
