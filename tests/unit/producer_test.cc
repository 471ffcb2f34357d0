// producer_test.cc - the producer (client/producer.c) against fake brokers
// and a fake nameserver on loopback: what goes on the wire for sync, async,
// oneway and batch sends, round-robin, retries on another broker, SYSTEM_BUSY
// back-off, fault avoidance, ordered sends, validation and routes.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fake_cluster.h"
#include "ports.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "message.h"
#include "mq/producer.h"
#include "producer_internal.h"
#include "queue_select.h"
}

namespace {

class ProducerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log_set_level(LOG_ERROR);
        a = std::make_unique<FakeBroker>("broker-a");
        b = std::make_unique<FakeBroker>("broker-b");
        ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}, {"broker-b", b->addr(), 4, 4, 6}});
    }
    void TearDown() override {
        if (p)
            mq_producer_destroy(p);
    }
    void start(mq_producer_options *o = nullptr) {
        mq_producer_options def;
        mq_producer_options_init(&def);
        if (!o) {
            def.send_timeout_ms = 2000;
            o = &def;
        }
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_new("PG", ns.addr().c_str(), o, &p, &err)) << err.message;
        ASSERT_EQ(MQ_OK, mq_producer_start(p, &err)) << err.message;
    }
    static mq_message *msg(const std::string &topic, const std::string &body, const char *tags = nullptr,
                           const char *keys = nullptr) {
        mq_message *m = mq_message_new(topic.c_str());
        mq_message_set_body(m, body.data(), body.size(), nullptr);
        if (tags)
            mq_message_set_tags(m, tags, nullptr);
        if (keys)
            mq_message_set_keys(m, keys, nullptr);
        return m;
    }
    size_t sends(FakeBroker &x) {
        return x.with_lock([&] { return x.sends.size(); });
    }
    // Messages stored, whether they came alone or in batches.
    size_t stored(FakeBroker &x) {
        return x.with_lock([&] {
            size_t n = 0;
            for (auto &q : x.queues)
                n += q.second.size();
            return n;
        });
    }
    FakeNamesrv ns;
    std::unique_ptr<FakeBroker> a, b;
    mq_producer *p = nullptr;
};

TEST_F(ProducerTest, SyncSendCarriesRocketMQHeaderAndRawBody) {
    start();
    mq_message *m = msg("T", "hello", "TagA", "k1 k2");
    mq_message_set_property(m, "color", "red", nullptr);
    mq_message_set_flag(m, 7);
    mq_send_result r;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, &err)) << err.message;
    mq_message_destroy(m);
    EXPECT_EQ(MQ_SEND_OK, r.status);
    FakeBroker &x = r.queue.broker_name == std::string("broker-a") ? *a : *b;
    RecordedSend s = x.with_lock([&] { return x.sends.at(0); });
    EXPECT_EQ(RC_SEND_MESSAGE_V2, s.code);
    EXPECT_EQ("PG", s.group);
    EXPECT_EQ("T", s.topic);
    EXPECT_EQ("TBW102", s.default_topic);
    EXPECT_EQ(4, s.default_queue_nums);
    EXPECT_EQ(r.queue.queue_id, s.queue_id);
    EXPECT_EQ(7, s.flag);
    EXPECT_EQ(0, s.sysflag);
    EXPECT_FALSE(s.batch);
    EXPECT_NEAR((double)now_ms(), (double)s.born_ms, 5000.0);
    EXPECT_EQ("hello", s.body);
    EXPECT_EQ("TagA", prop_of(s.properties, "TAGS"));
    EXPECT_EQ("k1 k2", prop_of(s.properties, "KEYS"));
    EXPECT_EQ("true", prop_of(s.properties, "WAIT"));
    EXPECT_EQ("red", prop_of(s.properties, "color"));
    EXPECT_EQ(std::string(r.msg_id), prop_of(s.properties, "UNIQ_KEY"));
    EXPECT_EQ(32u, strlen(r.msg_id));
    EXPECT_EQ(32u, strlen(r.offset_msg_id));
    EXPECT_STREQ("T", r.queue.topic);
    EXPECT_EQ(0, r.queue_offset);
    EXPECT_EQ(1, r.batch_count);
    EXPECT_EQ(nullptr, r.batch_msg_ids);
    EXPECT_EQ(1u, x.queue_size("T", r.queue.queue_id));
}

TEST_F(ProducerTest, EachSendGetsAFreshUniqueId) {
    start();
    mq_message *m = msg("T", "x");
    std::set<std::string> ids;
    for (int i = 0; i < 20; i++) {
        mq_send_result r;
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, nullptr));
        ids.insert(r.msg_id);
    }
    mq_message_destroy(m);
    EXPECT_EQ(20u, ids.size());
}

TEST_F(ProducerTest, RoundRobinOverEveryWritableQueueOfEveryBroker) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}, {"broker-b", b->addr(), 4, 2, 6}});
    start();
    mq_message *m = msg("T", "x");
    std::map<std::string, int> hits;
    for (int i = 0; i < 60; i++) {
        mq_send_result r;
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, nullptr));
        hits[std::string(r.queue.broker_name) + "/" + std::to_string(r.queue.queue_id)]++;
    }
    mq_message_destroy(m);
    EXPECT_EQ(6u, hits.size()); // 4 of a, 2 writable of b
    for (auto &kv : hits)
        EXPECT_EQ(10, kv.second) << kv.first;
}

TEST_F(ProducerTest, RetriesOnAnotherBrokerAndThenAvoidsTheFailedOne) {
    a->send_status = RS_SYSTEM_ERROR; // always
    start();
    mq_message *m = msg("T", "x");
    for (int i = 0; i < 10; i++) {
        mq_send_result r;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, &err)) << err.message;
        EXPECT_STREQ("broker-b", r.queue.broker_name);
    }
    mq_message_destroy(m);
    // The failed broker was tried once, then avoided.
    EXPECT_EQ(1u, sends(*a));
    EXPECT_EQ(10u, sends(*b));
}

TEST_F(ProducerTest, RetriesWhenABrokerIsDead) {
    auto dead = unused_port();
    ns.set_route("T", {{"broker-a", "127.0.0.1:" + std::to_string(dead), 4, 4, 6}, {"broker-b", b->addr(), 4, 4, 6}});
    start();
    mq_message *m = msg("T", "x");
    for (int i = 0; i < 8; i++) {
        mq_send_result r;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, &err)) << err.message;
        EXPECT_STREQ("broker-b", r.queue.broker_name);
    }
    mq_message_destroy(m);
    EXPECT_EQ(8u, sends(*b));
}

TEST_F(ProducerTest, WithoutFaultAvoidanceStillMovesToAnotherBrokerOnRetry) {
    a->send_status = RS_SERVICE_NOT_AVAILABLE;
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.send_latency_fault_enable = false;
    start(&o);
    mq_message *m = msg("T", "x");
    for (int i = 0; i < 8; i++) {
        mq_send_result r;
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, nullptr));
        EXPECT_STREQ("broker-b", r.queue.broker_name);
    }
    mq_message_destroy(m);
    EXPECT_GE(sends(*a), 1u); // attempts that started on a moved to b
}

TEST_F(ProducerTest, SystemBusyIsRetriedWithBackOffInsteadOfFailing) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}});
    a->send_status = RS_SYSTEM_BUSY;
    a->send_status_times = 5; // busy five times, then it stores
    start();
    mq_message *m = msg("T", "x");
    mq_send_result r;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, &err)) << err.message;
    mq_message_destroy(m);
    EXPECT_EQ(6u, sends(*a)); // 5 busy answers did not use up the 3 attempts
}

TEST_F(ProducerTest, PersistentBusyFailsAtTheSendTimeoutWithTheReason) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}});
    a->send_status = RS_SYSTEM_BUSY;
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.send_timeout_ms = 300;
    start(&o);
    mq_message *m = msg("T", "x");
    mq_error err{};
    int64_t t0 = mono_ms();
    EXPECT_EQ(MQ_EBROKER, mq_producer_send(p, m, nullptr, &err));
    int64_t took = mono_ms() - t0;
    mq_message_destroy(m);
    EXPECT_EQ(RS_SYSTEM_BUSY, err.status);
    EXPECT_NE(std::string::npos, std::string(err.message).find("busy")) << err.message;
    EXPECT_GE(took, 250);
    EXPECT_LT(took, 2000);
    EXPECT_GT(sends(*a), 3u);
}

TEST_F(ProducerTest, NonRetryableStatusFailsAtOnce) {
    a->send_status = RS_MESSAGE_ILLEGAL;
    b->send_status = RS_MESSAGE_ILLEGAL;
    start();
    mq_message *m = msg("T", "x");
    mq_error err{};
    EXPECT_EQ(MQ_EBROKER, mq_producer_send(p, m, nullptr, &err));
    mq_message_destroy(m);
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, err.status);
    EXPECT_NE(std::string::npos, std::string(err.message).find("MESSAGE_ILLEGAL")) << err.message;
    EXPECT_EQ(1u, sends(*a) + sends(*b));
}

TEST_F(ProducerTest, StoredButNotFlushedIsAResultNotARetry) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}});
    a->send_status = RS_FLUSH_DISK_TIMEOUT;
    start();
    mq_message *m = msg("T", "x");
    mq_send_result r;
    ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, nullptr));
    mq_message_destroy(m);
    EXPECT_EQ(MQ_SEND_FLUSH_DISK_TIMEOUT, r.status);
    EXPECT_STREQ("FLUSH_DISK_TIMEOUT", mq_send_status_name(r.status));
    EXPECT_EQ(1u, sends(*a));
}

TEST_F(ProducerTest, AllAttemptsFailingReportsTheLastError) {
    a->send_status = RS_SYSTEM_ERROR;
    b->send_status = RS_SYSTEM_ERROR;
    start();
    mq_message *m = msg("T", "x");
    mq_error err{};
    EXPECT_EQ(MQ_EBROKER, mq_producer_send(p, m, nullptr, &err));
    mq_message_destroy(m);
    EXPECT_EQ(3u, sends(*a) + sends(*b)); // 1 + retryTimesWhenSendFailed
    EXPECT_EQ(RS_SYSTEM_ERROR, err.status);
}

TEST_F(ProducerTest, SilentBrokerTimesOutWithinTheBudget) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}});
    a->silent_sends = true;
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.send_timeout_ms = 300;
    start(&o);
    mq_message *m = msg("T", "x");
    mq_error err{};
    int64_t t0 = mono_ms();
    EXPECT_EQ(MQ_ETIMEOUT, mq_producer_send(p, m, nullptr, &err));
    EXPECT_LT(mono_ms() - t0, 1500);
    mq_message_destroy(m);
}

TEST_F(ProducerTest, ValidatesMessagesBeforeSending) {
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.max_message_size = 100;
    start(&o);
    mq_error err{};
    mq_message *m = mq_message_new("T");
    EXPECT_EQ(MQ_EINVAL, mq_producer_send(p, m, nullptr, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("empty")) << err.message;
    std::string big(101, 'x');
    mq_message_set_body(m, big.data(), big.size(), nullptr);
    EXPECT_EQ(MQ_EINVAL, mq_producer_send(p, m, nullptr, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("100")) << err.message;
    mq_message_set_body(m, "x", 1, nullptr);
    mq_message_set_topic(m, "bad topic", nullptr);
    EXPECT_EQ(MQ_EINVAL, mq_producer_send(p, m, nullptr, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("bad topic")) << err.message;
    mq_message_set_topic(m, std::string(128, 'a').c_str(), nullptr);
    EXPECT_EQ(MQ_EINVAL, mq_producer_send(p, m, nullptr, &err));
    mq_message_set_topic(m, "TBW102", nullptr);
    EXPECT_EQ(MQ_EINVAL, mq_producer_send(p, m, nullptr, &err));
    EXPECT_EQ(MQ_EINVAL, mq_message_set_tags(m, "a\x01" "b", &err));
    EXPECT_EQ(MQ_EINVAL, mq_message_set_property(m, "TAGS", "x", &err));
    EXPECT_EQ(MQ_EINVAL, mq_message_set_delay_level(m, 19, &err));
    mq_message_destroy(m);
    EXPECT_EQ(0u, sends(*a) + sends(*b));
}

TEST_F(ProducerTest, UnknownTopicIsNoRouteWithTheNameserversReason) {
    start();
    mq_message *m = msg("Nope", "x");
    mq_error err{};
    EXPECT_EQ(MQ_ENOROUTE, mq_producer_send(p, m, nullptr, &err));
    mq_message_destroy(m);
    EXPECT_NE(std::string::npos, std::string(err.message).find("No topic route info")) << err.message;
}

TEST_F(ProducerTest, UncreatedTopicGoesThroughTheTemplateTopicsBrokers) {
    ns.set_route("TBW102", {{"broker-a", a->addr(), 8, 8, 7}});
    start();
    mq_message *m = msg("NewTopic", "x");
    std::set<int> queues;
    for (int i = 0; i < 8; i++) {
        mq_send_result r;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send(p, m, &r, &err)) << err.message;
        queues.insert(r.queue.queue_id);
    }
    mq_message_destroy(m);
    EXPECT_EQ(4u, queues.size()); // defaultTopicQueueNums
    RecordedSend s = a->with_lock([&] { return a->sends.at(0); });
    EXPECT_EQ("NewTopic", s.topic);
    EXPECT_EQ("TBW102", s.default_topic);
}

TEST_F(ProducerTest, AsyncSendsCallBackOnceEachWithResults) {
    start();
    const int n = 200;
    std::mutex mu;
    std::condition_variable cv;
    int done = 0, ok = 0;
    std::set<std::string> ids;
    struct Ctx {
        std::mutex *mu;
        std::condition_variable *cv;
        int *done, *ok;
        std::set<std::string> *ids;
    } ctx{&mu, &cv, &done, &ok, &ids};
    mq_message *m = msg("T", "async");
    for (int i = 0; i < n; i++) {
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send_async(
                             p, m,
                             [](int rc, const mq_send_result *r, const mq_error *, void *arg) {
                                 Ctx *c = static_cast<Ctx *>(arg);
                                 std::lock_guard<std::mutex> g(*c->mu);
                                 (*c->done)++;
                                 if (rc == MQ_OK) {
                                     (*c->ok)++;
                                     c->ids->insert(r->msg_id);
                                 }
                                 c->cv->notify_all();
                             },
                             &ctx, &err))
            << err.message;
    }
    mq_message_destroy(m); // async sends copied it
    std::unique_lock<std::mutex> g(mu);
    ASSERT_TRUE(cv.wait_for(g, std::chrono::seconds(10), [&] { return done == n; }));
    EXPECT_EQ(n, ok);
    EXPECT_EQ((size_t)n, ids.size());
    // Every message stored once; async sends that reached the I/O thread
    // together travelled as batches (fewer requests than messages).
    EXPECT_EQ((size_t)n, stored(*a) + stored(*b));
    EXPECT_LE(sends(*a) + sends(*b), (size_t)n);
    // A few batches may all have gone to one of the two brokers.
    auto &first = sends(*a) > 0 ? *a : *b;
    RecordedSend s = first.with_lock([&] { return first.sends.at(0); });
    EXPECT_FALSE(s.oneway);
}

TEST_F(ProducerTest, AsyncSendsPostedTogetherTravelAsBatchesWithTheirOwnResults) {
    start();
    const int n = 300;
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    std::vector<mq_send_result> results;
    struct Ctx {
        std::mutex *mu;
        std::condition_variable *cv;
        int *done;
        std::vector<mq_send_result> *results;
    } ctx{&mu, &cv, &done, &results};
    std::vector<mq_message *> msgs;
    for (int i = 0; i < n; i++)
        msgs.push_back(msg("T", "m" + std::to_string(i)));
    for (int i = 0; i < n; i++) {
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_send_async(
                             p, msgs[i],
                             [](int rc, const mq_send_result *r, const mq_error *, void *arg) {
                                 Ctx *c = static_cast<Ctx *>(arg);
                                 std::lock_guard<std::mutex> g(*c->mu);
                                 if (rc == MQ_OK)
                                     c->results->push_back(*r);
                                 (*c->done)++;
                                 c->cv->notify_all();
                             },
                             &ctx, &err))
            << err.message;
    }
    std::unique_lock<std::mutex> g(mu);
    ASSERT_TRUE(cv.wait_for(g, std::chrono::seconds(10), [&] { return done == n; }));
    ASSERT_EQ((size_t)n, results.size());
    EXPECT_EQ((size_t)n, stored(*a) + stored(*b));
    size_t batches = 0;
    for (FakeBroker *x : {a.get(), b.get()})
        x->with_lock([&] {
            for (auto &s : x->sends)
                batches += s.code == RC_SEND_BATCH_MESSAGE;
            return 0;
        });
    EXPECT_GT(batches, 0u) << "300 sends posted at once should have formed at least one batch";
    // Each message has its own unique id, its own offset id, and a queue
    // offset no other message of its queue has.
    std::set<std::string> uniq, offset_ids, positions;
    for (auto &r : results) {
        uniq.insert(r.msg_id);
        offset_ids.insert(r.offset_msg_id);
        positions.insert(std::string(r.queue.broker_name) + "/" + std::to_string(r.queue.queue_id) + "/" +
                         std::to_string(r.queue_offset));
        EXPECT_EQ(32u, strlen(r.offset_msg_id));
    }
    EXPECT_EQ((size_t)n, uniq.size());
    EXPECT_EQ((size_t)n, offset_ids.size());
    EXPECT_EQ((size_t)n, positions.size());
    g.unlock();
    for (auto *m : msgs)
        mq_message_destroy(m);
}

TEST_F(ProducerTest, AsyncSendRetriesOnAnotherBroker) {
    a->send_status = RS_SYSTEM_ERROR;
    start();
    std::atomic<int> rc{1};
    std::atomic<bool> called{false};
    std::string broker;
    struct Ctx {
        std::atomic<int> *rc;
        std::atomic<bool> *called;
        std::string *broker;
    } ctx{&rc, &called, &broker};
    // Eight sends walk eight consecutive queue positions at least: one
    // starts on broker-a (4 of the 8 queues) before it is isolated.
    for (int i = 0; i < 8; i++) {
        called = false;
        mq_message *m = msg("T", "x");
        ASSERT_EQ(MQ_OK, mq_producer_send_async(
                             p, m,
                             [](int r, const mq_send_result *res, const mq_error *, void *arg) {
                                 Ctx *c = static_cast<Ctx *>(arg);
                                 if (res)
                                     *c->broker = res->queue.broker_name;
                                 *c->rc = r;
                                 *c->called = true;
                             },
                             &ctx, nullptr));
        mq_message_destroy(m);
        ASSERT_TRUE(wait_for([&] { return called.load(); }));
        EXPECT_EQ(MQ_OK, rc.load());
        EXPECT_EQ("broker-b", broker);
    }
    EXPECT_GE(sends(*a), 1u);
}

TEST_F(ProducerTest, OnewaySendsArriveFlaggedOneway) {
    start();
    mq_message *m = msg("T", "fire");
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(MQ_OK, mq_producer_send_oneway(p, m, nullptr));
    mq_message_destroy(m);
    ASSERT_TRUE(wait_for([&] { return sends(*a) + sends(*b) == 10; }));
    RecordedSend s = b->with_lock([&] { return b->sends.at(0); });
    EXPECT_TRUE(s.oneway);
    EXPECT_EQ("fire", s.body);
    EXPECT_EQ(0u, mq_producer_oneway_failures(p));
}

TEST_F(ProducerTest, BatchIsOneRequestWithOwnIdsPerMessage) {
    ns.set_route("T", {{"broker-a", a->addr(), 4, 4, 6}});
    start();
    std::vector<mq_message *> ms;
    for (int i = 0; i < 5; i++)
        ms.push_back(msg("T", "m" + std::to_string(i), "TagB", ("key" + std::to_string(i)).c_str()));
    mq_send_result r;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_producer_send_batch(p, ms.data(), ms.size(), &r, &err)) << err.message;
    for (auto *m : ms)
        mq_message_destroy(m);
    ASSERT_EQ(1u, sends(*a));
    RecordedSend s = a->with_lock([&] { return a->sends.at(0); });
    EXPECT_EQ(RC_SEND_BATCH_MESSAGE, s.code);
    EXPECT_TRUE(s.batch);
    // The body is RocketMQ's batch encoding; each item has its own UNIQ_KEY.
    msg_batch_iter it;
    msg_batch_iter_init(&it, s.body.data(), s.body.size());
    msg_batch_item item;
    std::vector<std::string> ids;
    int i = 0;
    while (msg_batch_next(&it, &item) == 1) {
        std::string props(item.properties, item.properties_len);
        EXPECT_EQ("m" + std::to_string(i), std::string((const char *)item.body, item.body_len));
        EXPECT_EQ("key" + std::to_string(i), prop_of(props, "KEYS"));
        EXPECT_EQ("TagB", prop_of(props, "TAGS"));
        ids.push_back(prop_of(props, "UNIQ_KEY"));
        i++;
    }
    ASSERT_EQ(5, i);
    std::string joined;
    for (auto &id : ids)
        joined += (joined.empty() ? "" : ",") + id;
    EXPECT_EQ(5, r.batch_count);
    EXPECT_EQ(joined, r.batch_msg_ids);
    EXPECT_EQ(ids[0], r.msg_id);
    ASSERT_NE(nullptr, r.batch_offset_msg_ids);
    EXPECT_EQ(5u * 32 + 4, strlen(r.batch_offset_msg_ids));
    EXPECT_EQ(0, strncmp(r.offset_msg_id, r.batch_offset_msg_ids, 32));
    EXPECT_EQ(5u, a->queue_size("T", r.queue.queue_id));
    mq_send_result_destroy(&r);
}

TEST_F(ProducerTest, BatchRulesAreChecked) {
    start();
    mq_message *m1 = msg("T", "a"), *m2 = msg("U", "b");
    const mq_message *ms[] = {m1, m2};
    mq_error err{};
    EXPECT_EQ(MQ_EINVAL, mq_producer_send_batch(p, ms, 2, nullptr, &err));
    mq_message_set_topic(m2, "T", nullptr);
    mq_message_set_delay_level(m2, 3, nullptr);
    EXPECT_EQ(MQ_EINVAL, mq_producer_send_batch(p, ms, 2, nullptr, &err));
    mq_message_destroy(m1);
    mq_message_destroy(m2);
}

TEST_F(ProducerTest, OrderlySendsPutAKeyOnOneQueueChosenByJavaHash) {
    start();
    mq_message_queue *qs;
    int n;
    ASSERT_EQ(MQ_OK, mq_producer_fetch_publish_queues(p, "T", &qs, &n, nullptr));
    ASSERT_EQ(8, n);
    EXPECT_STREQ("broker-a", qs[0].broker_name);
    EXPECT_EQ(3, qs[3].queue_id);
    EXPECT_STREQ("broker-b", qs[4].broker_name);
    for (const char *key : {"order-1", "order-2", "customer-42", "zz"}) {
        int32_t h = msg_java_hash(key, strlen(key));
        int want = std::abs(h % n);
        for (int i = 0; i < 3; i++) {
            mq_message *m = msg("T", "x");
            mq_send_result r;
            mq_error err{};
            ASSERT_EQ(MQ_OK, mq_producer_send_orderly(p, m, key, &r, &err)) << err.message;
            mq_message_destroy(m);
            EXPECT_STREQ(qs[want].broker_name, r.queue.broker_name) << key;
            EXPECT_EQ(qs[want].queue_id, r.queue.queue_id) << key;
        }
    }
    mq_free(qs);
}

TEST_F(ProducerTest, OrderlySendDoesNotMoveToAnotherQueueOnFailure) {
    a->send_status = RS_SYSTEM_ERROR;
    start();
    // "a" hashes to 97 % 8 = 1: a queue of broker-a.
    mq_message *m = msg("T", "x");
    mq_error err{};
    EXPECT_EQ(MQ_EBROKER, mq_producer_send_orderly(p, m, "a", nullptr, &err));
    mq_message_destroy(m);
    EXPECT_EQ(1u, sends(*a));
    EXPECT_EQ(0u, sends(*b));
}

TEST_F(ProducerTest, SelectorAndExplicitQueue) {
    start();
    mq_message *m = msg("T", "x");
    mq_send_result r;
    ASSERT_EQ(MQ_OK, mq_producer_send_select(
                         p, m, [](const mq_message_queue *, int n, const mq_message *, void *) { return n - 1; },
                         nullptr, &r, nullptr));
    EXPECT_STREQ("broker-b", r.queue.broker_name);
    EXPECT_EQ(3, r.queue.queue_id);
    mq_error err{};
    EXPECT_EQ(MQ_EINVAL, mq_producer_send_select(
                             p, m, [](const mq_message_queue *, int n, const mq_message *, void *) { return n; },
                             nullptr, &r, &err));
    mq_message_queue q{};
    strcpy(q.topic, "T");
    strcpy(q.broker_name, "broker-a");
    q.queue_id = 2;
    ASSERT_EQ(MQ_OK, mq_producer_send_to_queue(p, m, &q, &r, nullptr));
    EXPECT_STREQ("broker-a", r.queue.broker_name);
    EXPECT_EQ(2, r.queue.queue_id);
    EXPECT_EQ(1u, a->queue_size("T", 2));
    strcpy(q.broker_name, "broker-z");
    EXPECT_EQ(MQ_ENOROUTE, mq_producer_send_to_queue(p, m, &q, &r, &err));
    mq_message_destroy(m);
}

// A route refresh between the choice of a queue and the send must not move
// the message: the choice and the send use one route snapshot. The selector
// runs between the two, so it changes the nameserver's route (broker-a
// gone, broker-b with 4 queues) and waits until the producer has refreshed
// it; before the fix the send looked the route up again and index 1 meant
// broker-b's queue 1 instead of broker-a's.
struct RefreshDuringChoice {
    FakeNamesrv *ns = nullptr;
    FakeBroker *b = nullptr;
    mq_producer *p = nullptr;
    const char *key = nullptr;
    int chosen = -1;
    std::vector<mq_message_queue> seen;
    bool refreshed = false;
};

static int refresh_then_choose_by_key(const mq_message_queue *qs, int n, const mq_message *, void *arg) {
    auto *t = static_cast<RefreshDuringChoice *>(arg);
    t->seen.assign(qs, qs + n);
    t->chosen = mqc_select_by_key(t->key, n); // what mq_producer_send_orderly chooses
    t->ns->set_route("T", {{"broker-b", t->b->addr(), 4, 4, 6}});
    t->refreshed = wait_for([&] {
        mq_message_queue *now;
        int m = 0;
        if (mq_producer_fetch_publish_queues(t->p, "T", &now, &m, nullptr) != MQ_OK)
            return false;
        mq_free(now);
        return m == 4;
    });
    return t->chosen;
}

TEST_F(ProducerTest, RouteRefreshBetweenChoiceAndSendKeepsTheChosenQueue) {
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.send_timeout_ms = 2000;
    o.poll_name_server_interval_ms = 20;
    start(&o);
    // "a" hashes to 97: queue 1 of 8 (broker-a) before, queue 1 of 4 (broker-b) after.
    RefreshDuringChoice t;
    t.ns = &ns;
    t.b = b.get();
    t.p = p;
    t.key = "a";
    mq_message *m = msg("T", "keyed");
    mq_send_result r;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_producer_send_select(p, m, refresh_then_choose_by_key, &t, &r, &err)) << err.message;
    mq_message_destroy(m);
    ASSERT_TRUE(t.refreshed) << "the producer never saw the new route";
    ASSERT_EQ(8u, t.seen.size());
    ASSERT_EQ(1, t.chosen);
    EXPECT_STREQ(t.seen[1].broker_name, r.queue.broker_name);
    EXPECT_STREQ("broker-a", r.queue.broker_name);
    EXPECT_EQ(1, r.queue.queue_id);
    EXPECT_EQ(1u, a->queue_size("T", 1));
    EXPECT_EQ(0u, sends(*b));
}

// The same for mq_producer_send_orderly's own path (producer_internal.h):
// the snapshot it takes (mqc_producer_route) is the one the send resolves
// the key's queue in (mqc_producer_send_chosen), even when the route is
// refreshed in between.
TEST_F(ProducerTest, OrderlySendUsesTheSnapshotItChoseFrom) {
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.send_timeout_ms = 2000;
    o.poll_name_server_interval_ms = 20;
    start(&o);
    mqc_topic_pub *snap = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mqc_producer_route(p, "T", &snap, &err)) << err.message;
    ASSERT_EQ(8, mqc_topic_pub_count(snap));
    int idx = mqc_select_by_key("a", mqc_topic_pub_count(snap));
    ns.set_route("T", {{"broker-b", b->addr(), 4, 4, 6}});
    ASSERT_TRUE(wait_for([&] {
        mq_message_queue *now;
        int m = 0;
        if (mq_producer_fetch_publish_queues(p, "T", &now, &m, nullptr) != MQ_OK)
            return false;
        mq_free(now);
        return m == 4;
    }));
    mq_message *m = msg("T", "keyed");
    mq_send_result r;
    ASSERT_EQ(MQ_OK, mqc_producer_send_chosen(p, m, 0, snap, nullptr, idx, &r, &err)) << err.message;
    mq_message_destroy(m);
    mqc_pub_unref(snap);
    EXPECT_STREQ("broker-a", r.queue.broker_name);
    EXPECT_EQ(1, r.queue.queue_id);
    EXPECT_EQ(0u, sends(*b));
}

TEST_F(ProducerTest, HeartbeatsBrokersInUseAndUnregistersOnShutdown) {
    start();
    mq_message *m = msg("T", "x");
    ASSERT_EQ(MQ_OK, mq_producer_send(p, m, nullptr, nullptr));
    mq_message_destroy(m);
    std::string id = mq_producer_client_id(p);
    ASSERT_TRUE(wait_for([&] {
        return a->with_lock([&] { return !a->heartbeat_producer_groups.empty(); }) &&
               b->with_lock([&] { return !b->heartbeat_producer_groups.empty(); });
    }));
    EXPECT_EQ("PG", a->with_lock([&] { return a->heartbeat_producer_groups[0]; }));
    EXPECT_EQ(id, a->with_lock([&] { return a->heartbeats[0]; }));
    mq_producer_shutdown(p);
    EXPECT_EQ(1u, a->with_lock([&] { return a->unregisters.size(); }));
    EXPECT_EQ(id, a->with_lock([&] { return a->unregisters[0]; }));
    mq_error err{};
    m = msg("T", "x");
    EXPECT_EQ(MQ_ESTATE, mq_producer_send(p, m, nullptr, &err));
    EXPECT_EQ(MQ_ESTATE, mq_producer_send_async(p, m, [](int, const mq_send_result *, const mq_error *, void *) {},
                                                nullptr, &err));
    mq_message_destroy(m);
}

TEST_F(ProducerTest, ShutdownWaitsForAsyncSendsInFlight) {
    start();
    std::atomic<int> called{0};
    mq_message *m = msg("T", "x");
    for (int i = 0; i < 50; i++)
        ASSERT_EQ(MQ_OK, mq_producer_send_async(
                             p, m, [](int, const mq_send_result *, const mq_error *, void *arg) { (*(std::atomic<int> *)arg)++; },
                             &called, nullptr));
    mq_message_destroy(m);
    mq_producer_shutdown(p);
    EXPECT_EQ(50, called.load());
}

TEST_F(ProducerTest, RejectsBadOptions) {
    mq_producer_options o;
    mq_producer_options_init(&o);
    o.compress_msg_body_over_howmuch = 4096;
    mq_error err{};
    mq_producer *q = nullptr;
    EXPECT_EQ(MQ_EINVAL, mq_producer_new("PG", ns.addr().c_str(), &o, &q, &err));
    EXPECT_EQ(MQ_EINVAL, mq_producer_new("bad group!", ns.addr().c_str(), nullptr, &q, &err));
}

} // namespace

TEST_F(ProducerTest, AFailedBatchFallsBackToRetryingEachMessage) {
    a->send_status = RS_SYSTEM_ERROR; // broker-a refuses everything
    start();
    const int n = 200;
    std::atomic<int> done{0}, ok{0};
    struct Ctx {
        std::atomic<int> *done, *ok;
    } ctx{&done, &ok};
    mq_message *m = msg("T", "retry-me");
    for (int i = 0; i < n; i++)
        ASSERT_EQ(MQ_OK, mq_producer_send_async(
                             p, m,
                             [](int rc, const mq_send_result *, const mq_error *, void *arg) {
                                 Ctx *c = static_cast<Ctx *>(arg);
                                 if (rc == MQ_OK)
                                     (*c->ok)++;
                                 (*c->done)++;
                             },
                             &ctx, nullptr));
    mq_message_destroy(m);
    ASSERT_TRUE(wait_for([&] { return done.load() == n; }, 10000));
    EXPECT_EQ(n, ok.load());            // every message made it
    EXPECT_EQ((size_t)n, stored(*b));   // all on broker-b
    EXPECT_EQ(0u, stored(*a));
}
