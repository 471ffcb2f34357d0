// client_logic_test.cc - the client library's decisions, without any
// network: queue allocation, queue selection with fault avoidance, sharding
// keys, in-flight bookkeeping and flow control, outgoing message properties,
// decoding pull bodies into received messages, and the local offsets file.

#include <gtest/gtest.h>

#include <cstdio>
#include <ftw.h>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "allocate.h"
#include "message.h"
#include "message_internal.h"
#include "mq/message.h"
#include "process_queue.h"
#include "offset_store.h"
#include "queue_select.h"
#include "util.h"
}

namespace {

// ---- allocation ----

std::vector<std::pair<int, int>> allocate_all(int queues, const std::vector<std::string> &ids) {
    std::vector<const char *> p;
    for (auto &s : ids)
        p.push_back(s.c_str());
    std::vector<std::pair<int, int>> out;
    for (auto &me : ids) {
        int first, count;
        mqc_allocate_averagely(queues, p.data(), (int)p.size(), me.c_str(), &first, &count);
        out.push_back({first, count});
    }
    return out;
}

TEST(Allocate, AveragelyInContiguousBlocksFirstOnesGetTheRemainder) {
    auto r = allocate_all(8, {"a", "b", "c"});
    EXPECT_EQ((std::pair<int, int>{0, 3}), r[0]);
    EXPECT_EQ((std::pair<int, int>{3, 3}), r[1]);
    EXPECT_EQ((std::pair<int, int>{6, 2}), r[2]);
    r = allocate_all(8, {"a", "b"});
    EXPECT_EQ((std::pair<int, int>{0, 4}), r[0]);
    EXPECT_EQ((std::pair<int, int>{4, 4}), r[1]);
    r = allocate_all(2, {"a", "b", "c"}); // more consumers than queues
    EXPECT_EQ(1, r[0].second);
    EXPECT_EQ(1, r[1].second);
    EXPECT_EQ(0, r[2].second);
}

TEST(Allocate, EveryQueueExactlyOnceForManyShapes) {
    for (int q = 1; q <= 17; q++) {
        for (int c = 1; c <= 7; c++) {
            std::vector<std::string> ids;
            for (int i = 0; i < c; i++)
                ids.push_back("10.0.0.1@" + std::to_string(i));
            std::vector<int> owner(q, 0);
            for (auto &fc : allocate_all(q, ids))
                for (int i = fc.first; i < fc.first + fc.second; i++)
                    owner[i]++;
            for (int i = 0; i < q; i++)
                EXPECT_EQ(1, owner[i]) << q << " queues, " << c << " consumers, queue " << i;
        }
    }
}

TEST(Allocate, AClientTheBrokerDoesNotListGetsNothing) {
    const char *ids[] = {"a", "b"};
    int first, count;
    mqc_allocate_averagely(8, ids, 2, "z", &first, &count);
    EXPECT_EQ(0, count);
}

TEST(Allocate, QueueOrder) {
    mq_message_queue q[3]{};
    strcpy(q[0].topic, "T");
    strcpy(q[0].broker_name, "b");
    q[0].queue_id = 0;
    strcpy(q[1].topic, "T");
    strcpy(q[1].broker_name, "a");
    q[1].queue_id = 10;
    strcpy(q[2].topic, "T");
    strcpy(q[2].broker_name, "a");
    q[2].queue_id = 2;
    qsort(q, 3, sizeof q[0], mqc_queue_compare);
    EXPECT_STREQ("a", q[0].broker_name);
    EXPECT_EQ(2, q[0].queue_id);
    EXPECT_EQ(10, q[1].queue_id);
    EXPECT_STREQ("b", q[2].broker_name);
}

// ---- queue selection and fault avoidance ----

struct Queues {
    std::vector<mqc_pub_queue> q;
    Queues() {
        for (int i = 0; i < 4; i++)
            q.push_back({"broker-a", "a:1", i});
        for (int i = 0; i < 4; i++)
            q.push_back({"broker-b", "b:1", i});
    }
};

TEST(QueueSelect, RoundRobinFromTheCounter) {
    Queues qs;
    for (uint32_t i = 0; i < 16; i++)
        EXPECT_EQ((int)(i % 8), mqc_select_queue(qs.q.data(), 8, i, nullptr, nullptr, 0));
}

TEST(QueueSelect, ARetryAvoidsTheBrokerThatFailed) {
    Queues qs;
    for (uint32_t i = 0; i < 8; i++) {
        int idx = mqc_select_queue(qs.q.data(), 8, i, "broker-a", nullptr, 0);
        EXPECT_STREQ("broker-b", qs.q[idx].broker_name);
    }
    // Only one broker: it is used anyway.
    EXPECT_EQ(2, mqc_select_queue(qs.q.data(), 4, 2, "broker-a", nullptr, 0));
}

TEST(QueueSelect, FaultAvoidanceSkipsAnIsolatedBrokerUntilItsTimeIsUp) {
    Queues qs;
    mqc_fault_table ft;
    mqc_fault_table_init(&ft, 30000);
    mqc_fault_update(&ft, "broker-a", 5, true, 1000); // failed at t=1000
    EXPECT_FALSE(mqc_fault_available(&ft, "broker-a", 1000));
    for (uint32_t i = 0; i < 8; i++) {
        int idx = mqc_select_queue(qs.q.data(), 8, i, nullptr, &ft, 2000);
        EXPECT_STREQ("broker-b", qs.q[idx].broker_name);
    }
    // Both isolated: still a queue (of a broker other than the last one).
    mqc_fault_update(&ft, "broker-b", 5, true, 1000);
    int idx = mqc_select_queue(qs.q.data(), 8, 0, "broker-a", &ft, 2000);
    EXPECT_STREQ("broker-b", qs.q[idx].broker_name);
    // After the isolation, a is used again; a fast success clears b at once.
    EXPECT_TRUE(mqc_fault_available(&ft, "broker-a", 31000));
    mqc_fault_update(&ft, "broker-b", 3, false, 2000);
    EXPECT_TRUE(mqc_fault_available(&ft, "broker-b", 2000));
    mqc_fault_table_free(&ft);
}

TEST(QueueSelect, SlowBrokersAreAvoidedByLatencySteps) {
    EXPECT_EQ(0, mqc_fault_duration(10, 600000));
    EXPECT_EQ(0, mqc_fault_duration(549, 600000));
    EXPECT_EQ(30000, mqc_fault_duration(550, 600000));
    EXPECT_EQ(60000, mqc_fault_duration(1500, 600000));
    EXPECT_EQ(180000, mqc_fault_duration(3000, 600000));
    EXPECT_EQ(600000, mqc_fault_duration(20000, 600000));
    EXPECT_EQ(30000, mqc_fault_duration(20000, 30000)); // capped
    mqc_fault_table ft;
    mqc_fault_table_init(&ft, 30000);
    mqc_fault_update(&ft, "slow", 1200, false, 0);
    EXPECT_FALSE(mqc_fault_available(&ft, "slow", 29999));
    EXPECT_TRUE(mqc_fault_available(&ft, "slow", 30000));
    EXPECT_TRUE(mqc_fault_available(&ft, "never-seen", 0));
    mqc_fault_table_free(&ft);
}

TEST(QueueSelect, ShardingKeyIsJavaHashModuloQueues) {
    EXPECT_EQ(97 % 8, mqc_select_by_key("a", 8));
    for (const char *k : {"order-1", "zzzzzzzzzz", "polygenelubricants", "\xe4\xb8\xad\xe6\x96\x87", ""}) {
        int32_t h = msg_java_hash(k, strlen(k));
        for (int n : {1, 3, 8, 16}) {
            int v = mqc_select_by_key(k, n);
            EXPECT_GE(v, 0);
            EXPECT_LT(v, n);
            EXPECT_EQ(std::abs((long)(h % n)), v) << k;
        }
    }
}

// ---- in flight ----

TEST(InFlight, CommitsTheSmallestOffsetStillInFlight) {
    mqc_inflight f;
    mqc_inflight_init(&f, 100);
    EXPECT_EQ(100, mqc_inflight_commit_offset(&f));
    for (int i = 100; i < 110; i++)
        ASSERT_TRUE(mqc_inflight_add(&f, i, 10));
    mqc_inflight_set_next(&f, 110);
    EXPECT_EQ(100, mqc_inflight_commit_offset(&f));
    EXPECT_TRUE(mqc_inflight_done(&f, 103));
    EXPECT_TRUE(mqc_inflight_done(&f, 101));
    EXPECT_EQ(100, mqc_inflight_commit_offset(&f));
    EXPECT_TRUE(mqc_inflight_done(&f, 100));
    EXPECT_EQ(102, mqc_inflight_commit_offset(&f)); // 101 done too, 102 still in flight
    EXPECT_FALSE(mqc_inflight_done(&f, 101));       // twice
    EXPECT_FALSE(mqc_inflight_done(&f, 555));       // never added
    EXPECT_EQ(7u, f.live);
    EXPECT_EQ(70u, f.live_bytes);
    for (int i = 102; i < 110; i++)
        mqc_inflight_done(&f, i);
    EXPECT_EQ(110, mqc_inflight_commit_offset(&f)); // nothing in flight: the pull position
    EXPECT_EQ(0u, f.live);
    mqc_inflight_free(&f);
}

TEST(InFlight, FilteredOutMessagesDoNotHoldTheOffsetBack) {
    mqc_inflight f;
    mqc_inflight_init(&f, 0);
    mqc_inflight_add(&f, 3, 1); // offsets 0-2 and 4-9 were filtered out by tag
    mqc_inflight_set_next(&f, 10);
    EXPECT_EQ(3, mqc_inflight_commit_offset(&f));
    mqc_inflight_done(&f, 3);
    EXPECT_EQ(10, mqc_inflight_commit_offset(&f));
    mqc_inflight_free(&f);
}

TEST(InFlight, GrowsAndKeepsOrderAcrossManyMessages) {
    mqc_inflight f;
    mqc_inflight_init(&f, 0);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++)
            ASSERT_TRUE(mqc_inflight_add(&f, round * 100 + i, 1));
        for (int i = 99; i >= 0; i--) { // finish in reverse
            ASSERT_TRUE(mqc_inflight_done(&f, round * 100 + i));
            EXPECT_EQ(i == 0 ? (int64_t)f.next_offset : round * 100, mqc_inflight_commit_offset(&f));
        }
        mqc_inflight_set_next(&f, (round + 1) * 100);
    }
    EXPECT_EQ(5000, mqc_inflight_commit_offset(&f));
    mqc_inflight_free(&f);
}

TEST(InFlight, OlderOffsetsAreInsertedInOrderAndDuplicatesRefused) {
    mqc_inflight f;
    mqc_inflight_init(&f, 0);
    mqc_inflight_add(&f, 10, 1);
    mqc_inflight_add(&f, 12, 1);
    EXPECT_TRUE(mqc_inflight_add(&f, 5, 1)); // the broker moved the queue back
    EXPECT_FALSE(mqc_inflight_add(&f, 10, 1));
    EXPECT_EQ(5, mqc_inflight_commit_offset(&f));
    EXPECT_EQ(7, mqc_inflight_span(&f));
    mqc_inflight_done(&f, 5);
    EXPECT_EQ(10, mqc_inflight_commit_offset(&f));
    mqc_inflight_reset(&f, 40);
    EXPECT_EQ(40, mqc_inflight_commit_offset(&f));
    EXPECT_EQ(0u, f.live);
    mqc_inflight_free(&f);
}

TEST(FlowControl, PausesAboveCountSizeOrSpan) {
    mqc_inflight f;
    mqc_inflight_init(&f, 0);
    for (int i = 0; i < 10; i++)
        mqc_inflight_add(&f, i, 100);
    EXPECT_EQ(MQC_FLOW_OK, mqc_flow_check(&f, 10, 1000, 100));
    EXPECT_EQ(MQC_FLOW_COUNT, mqc_flow_check(&f, 9, 1 << 20, 100));
    EXPECT_EQ(MQC_FLOW_SIZE, mqc_flow_check(&f, 100, 999, 100));
    mqc_inflight_add(&f, 3000, 1); // one slow message far behind the newest
    EXPECT_EQ(MQC_FLOW_SPAN, mqc_flow_check(&f, 100, 1 << 20, 2000));
    EXPECT_EQ(MQC_FLOW_OK, mqc_flow_check(&f, 100, 1 << 20, 0)); // span off (orderly)
    for (int i = 0; i < 10; i++)
        mqc_inflight_done(&f, i);
    EXPECT_EQ(MQC_FLOW_OK, mqc_flow_check(&f, 100, 1 << 20, 2000));
    mqc_inflight_free(&f);
}

// ---- outgoing messages ----

TEST(Message, SettersGettersAndWireProperties) {
    mq_message *m = mq_message_new("T");
    mq_error err{};
    EXPECT_STREQ("", mq_message_tags(m));
    ASSERT_EQ(MQ_OK, mq_message_set_tags(m, "TagA", &err));
    ASSERT_EQ(MQ_OK, mq_message_set_keys(m, "k1 k2", &err));
    ASSERT_EQ(MQ_OK, mq_message_set_property(m, "a", "1", &err));
    ASSERT_EQ(MQ_OK, mq_message_set_property(m, "b", "2", &err));
    ASSERT_EQ(MQ_OK, mq_message_set_property(m, "a", "3", &err)); // replaces
    ASSERT_EQ(MQ_OK, mq_message_set_property(m, "b", nullptr, &err)); // removes
    ASSERT_EQ(MQ_OK, mq_message_set_delay_level(m, 3, &err));
    EXPECT_STREQ("3", mq_message_property(m, "a"));
    EXPECT_EQ(nullptr, mq_message_property(m, "b"));
    char buf[256];
    size_t n = mqc_message_wire_props(m, "ID1", buf, sizeof buf);
    std::string props(buf, n);
    const char *v;
    size_t vl;
    ASSERT_TRUE(msg_prop_get(props.data(), n, "TAGS", &v, &vl));
    EXPECT_EQ("TagA", std::string(v, vl));
    ASSERT_TRUE(msg_prop_get(props.data(), n, "KEYS", &v, &vl));
    EXPECT_EQ("k1 k2", std::string(v, vl));
    ASSERT_TRUE(msg_prop_get(props.data(), n, "DELAY", &v, &vl));
    EXPECT_EQ("3", std::string(v, vl));
    ASSERT_TRUE(msg_prop_get(props.data(), n, "UNIQ_KEY", &v, &vl));
    EXPECT_EQ("ID1", std::string(v, vl));
    ASSERT_TRUE(msg_prop_get(props.data(), n, "WAIT", &v, &vl));
    ASSERT_TRUE(msg_prop_get(props.data(), n, "a", &v, &vl));
    EXPECT_FALSE(msg_prop_get(props.data(), n, "b", &v, &vl));
    EXPECT_NE('\x02', props.back()); // no trailing separator
    // Too small a buffer: the length it needs, like snprintf.
    EXPECT_EQ(n, mqc_message_wire_props(m, "ID1", buf, 4));
    // A borrowed body is not copied.
    static const char body[] = "borrowed";
    mq_message_set_body_ref(m, body, 8, &err);
    size_t bl;
    EXPECT_EQ((const void *)body, mq_message_body(m, &bl));
    EXPECT_EQ(8u, bl);
    mq_message_set_body(m, body, 8, &err);
    EXPECT_NE((const void *)body, mq_message_body(m, &bl));
    mq_message_destroy(m);
}

TEST(Message, NamesAreChecked) {
    mq_error err{};
    EXPECT_EQ(MQ_OK, mqc_check_topic("Topic-1_x|%", &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_topic("", &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_topic("a b", &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_topic("a/b", &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_topic(std::string(128, 'x').c_str(), &err));
    EXPECT_EQ(MQ_OK, mqc_check_topic(std::string(127, 'x').c_str(), &err));
    EXPECT_EQ(MQ_OK, mqc_check_topic(("%RETRY%" + std::string(200, 'g')).c_str(), &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_topic("SCHEDULE_TOPIC_XXXX", &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_topic("TBW102", &err));
    EXPECT_EQ(MQ_OK, mqc_check_topic("BenchmarkTest", &err)); // RocketMQ's benchmark sends there
    EXPECT_EQ(MQ_OK, mqc_check_group("please_rename_unique_group_name", &err));
    EXPECT_EQ(MQ_EINVAL, mqc_check_group("no spaces", &err));
}

// ---- received messages ----

std::string record(const std::string &topic, int qid, int64_t qoff, int64_t phys, const std::string &body,
                   const std::string &props, int reconsume = 0) {
    msg_record r{};
    r.queue_id = qid;
    r.queue_offset = qoff;
    r.physical_offset = phys;
    r.born_timestamp = 1700000000000;
    msg_host_set(&r.born_host, "10.1.2.3", 5555);
    r.store_timestamp = 1700000000123;
    msg_host_set(&r.store_host, "10.9.9.9", 10911);
    r.reconsume_times = reconsume;
    r.flag = 42;
    r.body = (const uint8_t *)body.data();
    r.body_len = (uint32_t)body.size();
    r.topic = topic.c_str();
    r.topic_len = (uint32_t)topic.size();
    r.properties = props.data();
    r.properties_len = (uint32_t)props.size();
    std::string out(msg_record_size(&r), '\0');
    msg_encode(&r, &out[0], out.size());
    return out;
}

std::string props(std::initializer_list<std::pair<std::string, std::string>> kv) {
    std::string s;
    for (auto &p : kv)
        s += (s.empty() ? "" : "\x02") + p.first + "\x01" + p.second;
    return s;
}

TEST(ReceivedMessage, DecodesAPullBodyInPlace) {
    std::string body = record("T", 3, 7, 1000, "hello", props({{"TAGS", "A"}, {"KEYS", "k1 k2"}, {"UNIQ_KEY", "ABC"}, {"x", ""}})) +
                       record("%RETRY%G", 0, 8, 2000, "again", props({{"RETRY_TOPIC", "T"}, {"TAGS", "B"}}), 2) +
                       record("T", 3, 9, 3000, "", "");
    mqc_msg_batch *b;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mqc_msg_batch_decode((const uint8_t *)body.data(), body.size(), "broker-x", nullptr, &b, &err))
        << err.message;
    ASSERT_EQ(3, b->n);
    const mq_message_ext *m = &b->msgs[0];
    EXPECT_STREQ("T", mq_message_ext_topic(m));
    EXPECT_STREQ("A", mq_message_ext_tags(m));
    EXPECT_STREQ("k1 k2", mq_message_ext_keys(m));
    EXPECT_STREQ("ABC", mq_message_ext_msg_id(m));
    EXPECT_STREQ("", mq_message_ext_property(m, "x"));
    EXPECT_EQ(nullptr, mq_message_ext_property(m, "nope"));
    size_t n;
    EXPECT_STREQ("hello", (const char *)mq_message_ext_body(m, &n)); // NUL after the body
    EXPECT_EQ(5u, n);
    EXPECT_EQ(3, mq_message_ext_queue_id(m));
    EXPECT_EQ(7, mq_message_ext_queue_offset(m));
    EXPECT_EQ(1000, mq_message_ext_commit_log_offset(m));
    EXPECT_EQ(1700000000000, mq_message_ext_born_timestamp(m));
    EXPECT_EQ(1700000000123, mq_message_ext_store_timestamp(m));
    EXPECT_EQ(42, mq_message_ext_flag(m));
    EXPECT_STREQ("broker-x", mq_message_ext_broker_name(m));
    char host[64];
    mq_message_ext_born_host(m, host, sizeof host);
    EXPECT_STREQ("10.1.2.3:5555", host);
    mq_message_ext_store_host(m, host, sizeof host);
    EXPECT_STREQ("10.9.9.9:10911", host);
    msg_host sh;
    msg_host_set(&sh, "10.9.9.9", 10911);
    char oid[MSG_ID_BUF];
    msg_offset_id_encode(&sh, 1000, oid, sizeof oid);
    EXPECT_STREQ(oid, mq_message_ext_offset_msg_id(m));
    size_t it = 0;
    const char *k, *v;
    std::set<std::string> names;
    while (mq_message_ext_next_property(m, &it, &k, &v))
        names.insert(k);
    EXPECT_EQ((std::set<std::string>{"TAGS", "KEYS", "UNIQ_KEY", "x"}), names);
    // A retried message shows its original topic.
    m = &b->msgs[1];
    EXPECT_STREQ("T", mq_message_ext_topic(m));
    EXPECT_EQ(2, mq_message_ext_reconsume_times(m));
    EXPECT_STREQ("again", (const char *)mq_message_ext_body(m, nullptr));
    // Without UNIQ_KEY, the id is the offset id.
    m = &b->msgs[2];
    EXPECT_STREQ(mq_message_ext_offset_msg_id(m), mq_message_ext_msg_id(m));
    EXPECT_STREQ("", mq_message_ext_tags(m));
    mqc_msg_batch_unref(b);
}

TEST(ReceivedMessage, ExactTagFilterDropsHashCollisions) {
    std::string body = record("T", 0, 0, 0, "1", props({{"TAGS", "Aa"}})) + record("T", 0, 1, 100, "2", props({{"TAGS", "BB"}})) +
                       record("T", 0, 2, 200, "3", "");
    mq_subscription sub;
    char e[64];
    ASSERT_EQ(0, mq_subscription_parse("Aa", "TAG", &sub, e, sizeof e));
    mqc_msg_batch *b;
    ASSERT_EQ(MQ_OK, mqc_msg_batch_decode((const uint8_t *)body.data(), body.size(), "x", &sub, &b, nullptr));
    EXPECT_EQ(3, b->decoded);
    ASSERT_EQ(1, b->n);
    EXPECT_STREQ("1", (const char *)mq_message_ext_body(&b->msgs[0], nullptr));
    mqc_msg_batch_unref(b);
    mq_subscription_free(&sub);
}

TEST(ReceivedMessage, MalformedBodiesAreErrors) {
    std::string good = record("T", 0, 0, 0, "x", "");
    mqc_msg_batch *b;
    mq_error err{};
    std::string cut = good.substr(0, good.size() - 3);
    EXPECT_EQ(MQ_EBROKER, mqc_msg_batch_decode((const uint8_t *)cut.data(), cut.size(), "x", nullptr, &b, &err));
    std::string bad = good;
    bad[5] = 0x11; // magic
    EXPECT_EQ(MQ_EBROKER, mqc_msg_batch_decode((const uint8_t *)bad.data(), bad.size(), "x", nullptr, &b, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("record 0")) << err.message;
    ASSERT_EQ(MQ_OK, mqc_msg_batch_decode(nullptr, 0, "x", nullptr, &b, &err));
    EXPECT_EQ(0, b->n);
    mqc_msg_batch_unref(b);
}

// ---- local offsets ----

int rm_entry(const char *path, const struct stat *, int, struct FTW *) { return remove(path); }

TEST(LocalOffsets, RoundTripThroughTheFile) {
    char tmpl[] = "/tmp/mq-offsets-test-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    std::string path = dir + "/inst/G/offsets.json";
    strmap m;
    strmap_init(&m);
    mq_error err{};
    ASSERT_EQ(MQ_OK, mqc_local_offsets_load(path.c_str(), &m, &err)); // missing: empty
    EXPECT_EQ(0u, m.count);
    for (int i = 0; i < 3; i++) {
        mq_message_queue q{};
        strcpy(q.topic, "T");
        strcpy(q.broker_name, i == 2 ? "odd \"name\"" : "broker-a");
        q.queue_id = i;
        char key[512];
        mqc_queue_key(&q, key, sizeof key);
        int64_t *v = (int64_t *)malloc(sizeof *v);
        *v = 1000 + i;
        strmap_put(&m, key, v);
    }
    ASSERT_EQ(MQ_OK, mqc_local_offsets_save(path.c_str(), &m, &err)) << err.message;
    strmap back;
    strmap_init(&back);
    ASSERT_EQ(MQ_OK, mqc_local_offsets_load(path.c_str(), &back, &err)) << err.message;
    ASSERT_EQ(3u, back.count);
    const char *k;
    void *v;
    for (size_t it = 0; strmap_next(&m, &it, &k, &v);) {
        int64_t *w = (int64_t *)strmap_get(&back, k);
        ASSERT_NE(nullptr, w) << k;
        EXPECT_EQ(*(int64_t *)v, *w);
    }
    mqc_local_offsets_free(&back);
    FILE *f = fopen(path.c_str(), "w");
    fputs("{\"offsetTable\":[{\"topic\":\"T\",\"queueId\":x}]}", f);
    fclose(f);
    EXPECT_EQ(MQ_EINVAL, mqc_local_offsets_load(path.c_str(), &back, &err));
    mqc_local_offsets_free(&back);
    mqc_local_offsets_free(&m);
    nftw(dir.c_str(), rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

} // namespace
