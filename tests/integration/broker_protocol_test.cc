// broker_protocol_test.cc - the broker's message handlers, driven at the
// protocol level against real mqnamesrv/mqbroker processes: send (single,
// batch), pull (tag filter, long polling), offsets, heartbeats and
// membership, queue locks, error statuses, and durability of acknowledged
// messages across kill -9 under SYNC_FLUSH. The client library has its own
// tests; these pin down what the broker answers.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "wait.h"

extern "C" {
#include "body.pb-c.h"
#include "bytes.h"
#include "instance.h"
#include "log.h"
#include "message.h"
#include "util.h"
}

namespace {

// A client speaking the protocol directly through the client runtime.
struct Wire {
    mqc_instance *inst = nullptr;
    std::string broker;
    explicit Wire(const std::string &namesrv, const std::string &broker_addr, const char *instance = nullptr)
        : broker(broker_addr) {
        mqc_options o;
        mqc_options_default(&o);
        o.namesrv_addr = namesrv.c_str();
        o.instance_name = instance;
        o.request_timeout_ms = 10000;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mqc_instance_new(&o, &inst, &err)) << err.message;
    }
    ~Wire() { mqc_instance_free(inst); }

    mqc_response call(Mq__RemotingHeader *h, const std::string &body = "", int timeout_ms = 10000) {
        mqc_response r{};
        mq_error err{};
        int rc = mqc_invoke_sync(inst, broker.c_str(), h, body.data(), body.size(), timeout_ms, &r, &err);
        EXPECT_EQ(MQ_OK, rc) << err.message;
        return r;
    }

    struct SendResult {
        int code;
        std::string remark, msg_id;
        int32_t queue_id;
        int64_t queue_offset;
    };
    SendResult send(const std::string &topic, int32_t queue_id, const std::string &body, const std::string &props,
                    int32_t code = RC_SEND_MESSAGE_V2) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__SendMessageRequestHeader s = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
        h.code = code;
        s.producergroup = (char *)"test_producer";
        s.topic = (char *)topic.c_str();
        s.defaulttopic = (char *)"TBW102";
        s.queueid = queue_id;
        s.has_queueid = 1;
        s.borntimestamp = now_ms();
        s.has_borntimestamp = 1;
        s.properties = (char *)props.c_str();
        h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
        h.send_message = &s;
        mqc_response r = call(&h, body);
        SendResult out{r.code, mqc_response_remark(&r), "", -1, -1};
        if (r.hdr && r.hdr->ext_case == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE) {
            out.msg_id = r.hdr->send_message_response->msgid ? r.hdr->send_message_response->msgid : "";
            out.queue_id = r.hdr->send_message_response->queueid;
            out.queue_offset = r.hdr->send_message_response->queueoffset;
        }
        mqc_response_free(&r);
        return out;
    }

    struct Pulled {
        int code = -1;
        std::string remark;
        int64_t next = -1, min = -1, max = -1;
        std::vector<std::string> bodies, tags, ids;
        std::vector<int64_t> queue_offsets;
    };
    Pulled pull(const std::string &topic, int32_t queue_id, int64_t offset, const std::string &sub = "*",
                int32_t sysflag = PULL_FLAG_SUBSCRIPTION, int64_t suspend_ms = 0, const std::string &group = "g1") {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__PullMessageRequestHeader p = MQ__PULL_MESSAGE_REQUEST_HEADER__INIT;
        h.code = RC_PULL_MESSAGE;
        p.consumergroup = (char *)group.c_str();
        p.topic = (char *)topic.c_str();
        p.queueid = queue_id;
        p.has_queueid = 1;
        p.queueoffset = offset;
        p.has_queueoffset = 1;
        p.maxmsgnums = 32;
        p.has_maxmsgnums = 1;
        p.sysflag = sysflag;
        p.has_sysflag = 1;
        p.suspendtimeoutmillis = suspend_ms;
        p.has_suspendtimeoutmillis = 1;
        p.subscription = (char *)sub.c_str();
        h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE;
        h.pull_message = &p;
        mqc_response r = call(&h, "", 30000);
        Pulled out;
        out.code = r.code;
        out.remark = mqc_response_remark(&r);
        if (r.hdr && r.hdr->ext_case == MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE) {
            out.next = r.hdr->pull_message_response->nextbeginoffset;
            out.min = r.hdr->pull_message_response->minoffset;
            out.max = r.hdr->pull_message_response->maxoffset;
        }
        size_t pos = 0;
        while (pos < r.body_len) {
            msg_record rec;
            int rc = msg_decode(r.body + pos, r.body_len - pos, true, &rec);
            EXPECT_EQ(MSG_OK, rc) << "record at " << pos << ": " << msg_strerror(rc);
            if (rc != MSG_OK)
                break;
            out.bodies.emplace_back((const char *)rec.body, rec.body_len);
            const char *v;
            size_t vl;
            out.tags.emplace_back(msg_prop_get(rec.properties, rec.properties_len, "TAGS", &v, &vl) ? std::string(v, vl) : "");
            char id[MSG_ID_BUF];
            msg_offset_id_encode(&rec.store_host, rec.physical_offset, id, sizeof id);
            out.ids.emplace_back(id);
            out.queue_offsets.push_back(rec.queue_offset);
            pos += rec.total_size;
        }
        mqc_response_free(&r);
        return out;
    }

    int simple(int32_t code, Mq__RemotingHeader__ExtCase ext, ProtobufCMessage *m, int64_t *offset = nullptr,
               std::string *remark = nullptr) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = code;
        h.ext_case = ext;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(&mq__remoting_header__descriptor, ext);
        *(ProtobufCMessage **)((char *)&h + fd->offset) = m;
        mqc_response r = call(&h);
        if (offset && r.hdr && r.hdr->ext_case == MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE)
            *offset = r.hdr->offset_response->offset;
        if (remark)
            *remark = mqc_response_remark(&r);
        int code_out = r.code;
        mqc_response_free(&r);
        return code_out;
    }

    int query_offset(const std::string &group, const std::string &topic, int32_t q, int64_t *off) {
        Mq__QueryConsumerOffsetRequestHeader x = MQ__QUERY_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
        x.consumergroup = (char *)group.c_str();
        x.topic = (char *)topic.c_str();
        x.queueid = q;
        x.has_queueid = 1;
        return simple(RC_QUERY_CONSUMER_OFFSET, MQ__REMOTING_HEADER__EXT_QUERY_CONSUMER_OFFSET, &x.base, off);
    }
    int commit_offset(const std::string &group, const std::string &topic, int32_t q, int64_t off) {
        Mq__UpdateConsumerOffsetRequestHeader x = MQ__UPDATE_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
        x.consumergroup = (char *)group.c_str();
        x.topic = (char *)topic.c_str();
        x.queueid = q;
        x.has_queueid = 1;
        x.commitoffset = off;
        x.has_commitoffset = 1;
        return simple(RC_UPDATE_CONSUMER_OFFSET, MQ__REMOTING_HEADER__EXT_UPDATE_CONSUMER_OFFSET, &x.base);
    }
    int64_t queue_offset(int32_t code, const std::string &topic, int32_t q) {
        Mq__QueueRequestHeader x = MQ__QUEUE_REQUEST_HEADER__INIT;
        x.topic = (char *)topic.c_str();
        x.queueid = q;
        x.has_queueid = 1;
        int64_t off = -1;
        EXPECT_EQ(RS_SUCCESS, simple(code, MQ__REMOTING_HEADER__EXT_QUEUE, &x.base, &off));
        return off;
    }
    // Acknowledged messages become readable once the dispatcher has indexed
    // them (a moment later): wait for the queue to reach n entries.
    bool dispatched(const std::string &topic, int32_t q, int64_t n) {
        return wait_for([&] { return queue_offset(RC_GET_MAX_OFFSET, topic, q) >= n; });
    }
    int64_t search(const std::string &topic, int32_t q, int64_t ts) {
        Mq__SearchOffsetRequestHeader x = MQ__SEARCH_OFFSET_REQUEST_HEADER__INIT;
        x.topic = (char *)topic.c_str();
        x.queueid = q;
        x.has_queueid = 1;
        x.timestamp = ts;
        x.has_timestamp = 1;
        int64_t off = -1;
        EXPECT_EQ(RS_SUCCESS, simple(RC_SEARCH_OFFSET_BY_TIMESTAMP, MQ__REMOTING_HEADER__EXT_SEARCH_OFFSET, &x.base, &off));
        return off;
    }
    int heartbeat(const std::string &group) {
        Mq__SubscriptionData sd = MQ__SUBSCRIPTION_DATA__INIT;
        sd.topic = (char *)"T";
        sd.substring = (char *)"*";
        Mq__SubscriptionData *sds[] = {&sd};
        Mq__ConsumerData cd = MQ__CONSUMER_DATA__INIT;
        cd.groupname = (char *)group.c_str();
        cd.consumetype = (char *)"CONSUME_PASSIVELY";
        cd.messagemodel = (char *)"CLUSTERING";
        cd.consumefromwhere = (char *)"CONSUME_FROM_LAST_OFFSET";
        cd.n_subscriptiondataset = 1;
        cd.subscriptiondataset = sds;
        Mq__ConsumerData *cds[] = {&cd};
        Mq__HeartbeatData hb = MQ__HEARTBEAT_DATA__INIT;
        hb.clientid = (char *)mqc_client_id(inst);
        hb.n_consumerdataset = 1;
        hb.consumerdataset = cds;
        std::string body(protobuf_c_message_get_packed_size(&hb.base), '\0');
        protobuf_c_message_pack(&hb.base, (uint8_t *)body.data());
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_HEART_BEAT;
        mqc_response r = call(&h, body);
        int code = r.code;
        mqc_response_free(&r);
        return code;
    }
    std::vector<std::string> consumer_ids(const std::string &group) {
        Mq__ConsumerGroupRequestHeader x = MQ__CONSUMER_GROUP_REQUEST_HEADER__INIT;
        x.consumergroup = (char *)group.c_str();
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_GET_CONSUMER_LIST_BY_GROUP;
        h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP;
        h.consumer_group = &x;
        mqc_response r = call(&h);
        std::vector<std::string> ids;
        if (r.code == RS_SUCCESS) {
            auto *b = mq__get_consumer_list_by_group_response_body__unpack(nullptr, r.body_len, r.body);
            for (size_t i = 0; b && i < b->n_consumeridlist; i++)
                ids.push_back(b->consumeridlist[i]);
            if (b)
                mq__get_consumer_list_by_group_response_body__free_unpacked(b, nullptr);
        }
        mqc_response_free(&r);
        return ids;
    }
    std::vector<int32_t> lock(bool lock_it, const std::string &group, const std::vector<int32_t> &queues) {
        std::vector<Mq__MessageQueue> mqs(queues.size());
        std::vector<Mq__MessageQueue *> ptrs;
        for (size_t i = 0; i < queues.size(); i++) {
            mq__message_queue__init(&mqs[i]);
            mqs[i].topic = (char *)"T";
            mqs[i].brokername = (char *)"broker-a";
            mqs[i].queueid = queues[i];
            mqs[i].has_queueid = 1;
            ptrs.push_back(&mqs[i]);
        }
        Mq__LockBatchRequestBody b = MQ__LOCK_BATCH_REQUEST_BODY__INIT;
        b.consumergroup = (char *)group.c_str();
        b.clientid = (char *)mqc_client_id(inst);
        b.n_mqset = ptrs.size();
        b.mqset = ptrs.data();
        std::string body(protobuf_c_message_get_packed_size(&b.base), '\0');
        protobuf_c_message_pack(&b.base, (uint8_t *)body.data());
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = lock_it ? RC_LOCK_BATCH_MQ : RC_UNLOCK_BATCH_MQ;
        mqc_response r = call(&h, body);
        EXPECT_EQ(RS_SUCCESS, r.code) << mqc_response_remark(&r);
        std::vector<int32_t> locked;
        if (lock_it && r.code == RS_SUCCESS) {
            auto *resp = mq__lock_batch_response_body__unpack(nullptr, r.body_len, r.body);
            for (size_t i = 0; resp && i < resp->n_lockokmqset; i++)
                locked.push_back(resp->lockokmqset[i]->queueid);
            if (resp)
                mq__lock_batch_response_body__free_unpacked(resp, nullptr);
        }
        mqc_response_free(&r);
        return locked;
    }
};

std::map<std::string, std::string> runtime_info(Wire &w) {
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_GET_BROKER_RUNTIME_INFO;
    mqc_response r = w.call(&h);
    std::map<std::string, std::string> kv;
    EXPECT_EQ(RS_SUCCESS, r.code);
    auto *t = mq__kvtable__unpack(nullptr, r.body_len, r.body);
    for (size_t i = 0; t && i < t->n_table; i++)
        kv[t->table[i]->key] = t->table[i]->value;
    if (t)
        mq__kvtable__free_unpacked(t, nullptr);
    mqc_response_free(&r);
    return kv;
}

// Pulls the broker holds (long polling) right now, from its runtime info.
int pulls_held(Wire &w) {
    auto kv = runtime_info(w);
    return kv.count("pullRequestsHeld") ? std::stoi(kv["pullRequestsHeld"]) : -1;
}

// Waits until the wall clock has moved past ms (now_ms() > ms). For tests
// whose subject is a timestamp: two events must get different store times,
// and only the passing of time can give them that.
bool clock_passes(int64_t ms) {
    return wait_for([&] { return now_ms() > ms; });
}


std::string props(const std::string &tags, const std::string &keys = "") {
    bytebuf b;
    bytebuf_init(&b);
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    msg_prop_append(&b, "UNIQ_KEY", uniq);
    if (!tags.empty())
        msg_prop_append(&b, "TAGS", tags.c_str());
    if (!keys.empty())
        msg_prop_append(&b, "KEYS", keys.c_str());
    msg_prop_append(&b, "WAIT", "true");
    std::string s((const char *)b.data, b.len);
    bytebuf_free(&b);
    return s;
}

class BrokerProtocolTest : public OneBrokerTest {
  protected:
    BrokerProtocolTest() : OneBrokerTest("broker_protocol") {}
    void SetUp() override { log_set_level(LOG_ERROR); }
};

TEST_F(BrokerProtocolTest, SendThenPullReturnsTheStoredRecords) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    std::vector<std::string> ids;
    for (int i = 0; i < 5; i++) {
        auto r = w.send("T", 0, "body-" + std::to_string(i), props(i % 2 ? "B" : "A", "k" + std::to_string(i)));
        ASSERT_EQ(RS_SUCCESS, r.code) << r.remark;
        EXPECT_EQ(0, r.queue_id);
        EXPECT_EQ(i, r.queue_offset);
        EXPECT_EQ(32u, r.msg_id.size());
        ids.push_back(r.msg_id);
    }
    ASSERT_TRUE(w.dispatched("T", 0, 5));
    auto p = w.pull("T", 0, 0);
    ASSERT_EQ(RS_SUCCESS, p.code) << p.remark;
    ASSERT_EQ(5u, p.bodies.size());
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ("body-" + std::to_string(i), p.bodies[i]);
        EXPECT_EQ(i, p.queue_offsets[i]);
        EXPECT_EQ(ids[i], p.ids[i]); // the offset msg id a RocketMQ client computes from the record
    }
    EXPECT_EQ(5, p.next);
    EXPECT_EQ(0, p.min);
    EXPECT_EQ(5, p.max);
    // Reading on from the end finds nothing new; from the middle, the rest.
    EXPECT_EQ(RS_PULL_NOT_FOUND, w.pull("T", 0, 5).code);
    EXPECT_EQ(2u, w.pull("T", 0, 3).bodies.size());
    EXPECT_EQ(RS_PULL_OFFSET_MOVED, w.pull("T", 0, 50).code);
}

TEST_F(BrokerProtocolTest, BatchIsStoredAsConsecutiveRecords) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    ASSERT_EQ(RS_SUCCESS, w.send("T", 1, "first", props("A")).code);
    std::vector<std::string> bodies, prop_strs;
    std::vector<msg_batch_item> items(10);
    for (int i = 0; i < 10; i++) {
        bodies.push_back("batch-" + std::to_string(i));
        prop_strs.push_back(props("A"));
    }
    for (int i = 0; i < 10; i++) {
        items[i] = msg_batch_item{0, (const uint8_t *)bodies[i].data(), (uint32_t)bodies[i].size(),
                                  prop_strs[i].data(), (uint32_t)prop_strs[i].size()};
    }
    bytebuf b;
    bytebuf_init(&b);
    ASSERT_EQ(0, msg_batch_encode(&b, items.data(), items.size()));
    auto r = w.send("T", 1, std::string((char *)b.data, b.len), "", RC_SEND_BATCH_MESSAGE);
    bytebuf_free(&b);
    ASSERT_EQ(RS_SUCCESS, r.code) << r.remark;
    EXPECT_EQ(1, r.queue_offset);
    EXPECT_EQ(10 * 32 + 9u, r.msg_id.size()); // ten comma-joined offset ids
    ASSERT_TRUE(w.dispatched("T", 1, 11));
    auto p = w.pull("T", 1, 1);
    ASSERT_EQ(10u, p.bodies.size());
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(bodies[i], p.bodies[i]);
        EXPECT_EQ(1 + i, p.queue_offsets[i]);
    }
    // Garbage batch bodies are refused, not stored.
    auto bad = w.send("T", 1, std::string("\x00\x00\x00\x30garbage", 11), "", RC_SEND_BATCH_MESSAGE);
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, bad.code) << bad.remark;
    EXPECT_EQ(11, w.queue_offset(RC_GET_MAX_OFFSET, "T", 1));
}

TEST_F(BrokerProtocolTest, TagFilterSkipsOtherTagsAndStepsPastThem) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    const char *tags[] = {"A", "B", "A", "C", "B", "A"};
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 2, std::to_string(i), props(tags[i])).code);
    ASSERT_TRUE(w.dispatched("T", 2, 6));
    auto p = w.pull("T", 2, 0, "A");
    ASSERT_EQ(RS_SUCCESS, p.code);
    EXPECT_EQ((std::vector<std::string>{"0", "2", "5"}), p.bodies);
    EXPECT_EQ(6, p.next);
    auto q = w.pull("T", 2, 0, "B || C");
    EXPECT_EQ((std::vector<std::string>{"1", "3", "4"}), q.bodies);
    auto none = w.pull("T", 2, 0, "Z");
    EXPECT_EQ(RS_PULL_RETRY_IMMEDIATELY, none.code);
    EXPECT_EQ(6, none.next); // steps past the filtered-out entries
}

TEST_F(BrokerProtocolTest, LongPollIsAnsweredAsSoonAsAMessageArrives) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    ASSERT_EQ(RS_SUCCESS, w.send("T", 3, "warm-up", props("A")).code);
    ASSERT_TRUE(w.dispatched("T", 3, 1));
    Wire sender(c.namesrv_list(), broker->addr());
    ASSERT_EQ(0, pulls_held(sender));
    std::atomic<int64_t> sent_at{0};
    std::atomic<bool> parked{false};
    std::thread t([&] {
        // Send only once the broker holds the pull: the answer must come
        // from the arrival waking it, not from the pull finding the message.
        parked = wait_for([&] { return pulls_held(sender) == 1; }, 10000);
        sent_at = mono_us();
        EXPECT_EQ(RS_SUCCESS, sender.send("T", 3, "late", props("A")).code);
    });
    auto p = w.pull("T", 3, 1, "*", PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND, 10000);
    int64_t got_us = mono_us();
    t.join();
    ASSERT_TRUE(parked) << "the broker never reported the pull as held";
    ASSERT_EQ(RS_SUCCESS, p.code) << p.remark;
    ASSERT_EQ(1u, p.bodies.size());
    EXPECT_EQ("late", p.bodies[0]);
    EXPECT_LT(got_us - sent_at, 200000) << "answered " << (got_us - sent_at) << " us after the send";
    EXPECT_EQ(0, pulls_held(sender)); // answered, not left behind
    // With nothing arriving, the hold ends with PULL_NOT_FOUND at its deadline.
    int64_t start_us = mono_us();
    auto empty = w.pull("T", 3, 2, "*", PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND, 300);
    EXPECT_EQ(RS_PULL_NOT_FOUND, empty.code);
    EXPECT_GE(mono_us() - start_us, 250000);
}

TEST_F(BrokerProtocolTest, NewGroupHasNoOffsetCommittedOffsetsPersist) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 0, "m", props("A")).code);
    int64_t off = -1;
    EXPECT_EQ(RS_QUERY_NOT_FOUND, w.query_offset("fresh", "T", 0, &off)); // never 0 by accident
    EXPECT_EQ(RS_SUCCESS, w.commit_offset("g1", "T", 0, 2));
    EXPECT_EQ(RS_SUCCESS, w.commit_offset("g1", "T", 0, -1)); // ignored, as RocketMQ clients send it
    ASSERT_EQ(RS_SUCCESS, w.query_offset("g1", "T", 0, &off));
    EXPECT_EQ(2, off);
    EXPECT_EQ(0, w.queue_offset(RC_GET_MIN_OFFSET, "T", 0));
    // The max offset is the end of the ConsumeQueue, which the dispatcher
    // extends a moment after the append is acknowledged.
    EXPECT_TRUE(w.dispatched("T", 0, 3));
    EXPECT_EQ(3, w.queue_offset(RC_GET_MAX_OFFSET, "T", 0));
    ASSERT_TRUE(broker->stop());
    ASSERT_TRUE(broker->start());
    Wire w2(c.namesrv_list(), broker->addr());
    ASSERT_EQ(RS_SUCCESS, w2.query_offset("g1", "T", 0, &off));
    EXPECT_EQ(2, off);
}

TEST_F(BrokerProtocolTest, SearchOffsetByTime) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    // Store timestamps have millisecond resolution: each boundary below
    // waits for the clock to move past it, so the messages on either side
    // get store times strictly before and after it.
    int64_t before = now_ms();
    ASSERT_TRUE(clock_passes(before));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 0, "a", props("A")).code);
    int64_t last_a = now_ms(); // the "a" messages were all stored by now
    ASSERT_TRUE(clock_passes(last_a));
    int64_t middle = now_ms();
    ASSERT_TRUE(clock_passes(middle));
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 0, "b", props("A")).code);
    ASSERT_TRUE(w.dispatched("T", 0, 5));
    EXPECT_EQ(0, w.search("T", 0, before));
    EXPECT_EQ(3, w.search("T", 0, middle));
    EXPECT_EQ(5, w.search("T", 0, now_ms() + 60000));
}

TEST_F(BrokerProtocolTest, BadSendsGetClearErrorsAndNothingIsStored) {
    start({"--autoCreateTopicEnable=false", "--maxMessageSize=1024"});
    Wire w(c.namesrv_list(), broker->addr());
    auto r = w.send("NoSuchTopic", 0, "x", props("A"));
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, r.code);
    EXPECT_NE(std::string::npos, r.remark.find("NoSuchTopic")) << r.remark;
    r = w.send("bad topic!", 0, "x", props("A"));
    EXPECT_NE(RS_SUCCESS, r.code);
    EXPECT_NE(std::string::npos, r.remark.find("topic")) << r.remark;
    r = w.send("SCHEDULE_TOPIC_XXXX", 0, "x", props("A"));
    EXPECT_EQ(RS_NO_PERMISSION, r.code) << r.remark;
    // Create the topic through the admin path, then the sends that are wrong for other reasons.
    Mq__CreateTopicRequestHeader ct = MQ__CREATE_TOPIC_REQUEST_HEADER__INIT;
    ct.topic = (char *)"T2";
    ct.readqueuenums = ct.writequeuenums = 2;
    ct.has_readqueuenums = ct.has_writequeuenums = 1;
    ct.perm = 6;
    ct.has_perm = 1;
    std::string remark;
    ASSERT_EQ(RS_SUCCESS, w.simple(RC_UPDATE_AND_CREATE_TOPIC, MQ__REMOTING_HEADER__EXT_CREATE_TOPIC, &ct.base, nullptr, &remark)) << remark;
    r = w.send("T2", 7, "x", props("A"));
    EXPECT_EQ(RS_SYSTEM_ERROR, r.code);
    EXPECT_NE(std::string::npos, r.remark.find("queueId")) << r.remark;
    r = w.send("T2", 0, std::string(2000, 'x'), props("A"));
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, r.code) << r.remark;
    r = w.send("T2", 0, "", props("A"));
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, r.code) << r.remark;
    std::string bad_delay = props("A") + "\x02" "DELAY\x01" "-1";
    r = w.send("T2", 0, "x", bad_delay);
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, r.code) << r.remark;
    EXPECT_NE(std::string::npos, r.remark.find("negative")) << r.remark;
    std::string delayed = props("A") + "\x02" "DELAY\x01" "3";
    r = w.send("T2", 0, "x", delayed);
    EXPECT_EQ(RS_SUCCESS, r.code) << r.remark; // scheduled (10 s): not visible below
    auto p = w.pull("T2", 9, 0);
    EXPECT_EQ(RS_SYSTEM_ERROR, p.code);
    EXPECT_NE(std::string::npos, p.remark.find("queueId")) << p.remark;
    EXPECT_EQ(0, w.queue_offset(RC_GET_MAX_OFFSET, "T2", 0));
    // The broker still serves good requests.
    EXPECT_EQ(RS_SUCCESS, w.send("T2", 0, "ok", props("A")).code);
}

TEST_F(BrokerProtocolTest, HeartbeatsMakeAGroupAndMembersAreToldOfChanges) {
    start();
    Wire a(c.namesrv_list(), broker->addr(), "a");
    Wire b(c.namesrv_list(), broker->addr(), "b");
    static std::atomic<int> notified;
    notified = 0;
    ASSERT_EQ(MQ_OK, mqc_run_sync(a.inst, [](void *arg) {
        mqc_on_request((mqc_instance *)arg, RC_NOTIFY_CONSUMER_IDS_CHANGED,
                       [](rm_conn *, const rm_cmd *, void *) { notified++; }, nullptr);
    }, a.inst));
    ASSERT_EQ(RS_SUCCESS, a.heartbeat("cg"));
    EXPECT_EQ(std::vector<std::string>{mqc_client_id(a.inst)}, a.consumer_ids("cg"));
    ASSERT_EQ(RS_SUCCESS, b.heartbeat("cg"));
    auto ids = a.consumer_ids("cg");
    ASSERT_EQ(2u, ids.size());
    EXPECT_LT(ids[0], ids[1]); // sorted
    EXPECT_TRUE(wait_for([&] { return notified.load() >= 1; }));
    // The heartbeat created the group's retry topic.
    EXPECT_EQ(RS_PULL_NOT_FOUND, a.pull("%RETRY%cg", 0, 0).code);
}

TEST_F(BrokerProtocolTest, QueueLocksAreExclusiveUntilReleased) {
    start();
    Wire a(c.namesrv_list(), broker->addr(), "a");
    Wire b(c.namesrv_list(), broker->addr(), "b");
    EXPECT_EQ((std::vector<int32_t>{0, 1}), a.lock(true, "og", {0, 1}));
    EXPECT_EQ((std::vector<int32_t>{2}), b.lock(true, "og", {0, 1, 2}));
    EXPECT_EQ((std::vector<int32_t>{0, 1}), a.lock(true, "og", {0, 1})); // renewal
    a.lock(false, "og", {0});
    EXPECT_EQ((std::vector<int32_t>{0}), b.lock(true, "og", {0, 1}));
}

TEST_F(BrokerProtocolTest, SyncFlushKeepsEveryAcknowledgedMessageAcrossKill9) {
    start({"--flushDiskType=SYNC_FLUSH"});
    std::vector<std::string> acked;
    {
        Wire w(c.namesrv_list(), broker->addr());
        for (int i = 0; i < 200; i++) {
            auto r = w.send("T", 0, "durable-" + std::to_string(i), props("A"));
            ASSERT_EQ(RS_SUCCESS, r.code) << r.remark;
            acked.push_back("durable-" + std::to_string(i));
        }
    }
    broker->kill9();
    ASSERT_TRUE(broker->start());
    Wire w(c.namesrv_list(), broker->addr());
    ASSERT_TRUE(w.dispatched("T", 0, (int64_t)acked.size()));
    std::vector<std::string> got;
    int64_t off = 0;
    while (got.size() < acked.size()) {
        auto p = w.pull("T", 0, off);
        ASSERT_EQ(RS_SUCCESS, p.code) << "after " << got.size() << ": " << p.remark;
        got.insert(got.end(), p.bodies.begin(), p.bodies.end());
        off = p.next;
    }
    EXPECT_EQ(acked, got);
}

} // namespace

namespace {

TEST_F(BrokerProtocolTest, RuntimeInfoReportsTrafficAndStore) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    for (int i = 0; i < 7; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 0, "x", props("A")).code);
    ASSERT_TRUE(w.dispatched("T", 0, 7));
    w.pull("T", 0, 0);
    auto kv = runtime_info(w);
    EXPECT_EQ("7", kv["msgPutTotalSinceStart"]);
    EXPECT_EQ("7", kv["msgGetTotalSinceStart"]);
    EXPECT_GT(std::stoll(kv["commitLogMaxOffset"]), 0);
    EXPECT_EQ("false", kv["diskFull"]);
    EXPECT_EQ("broker-a", kv["brokerName"]);
    EXPECT_TRUE(kv.count("putTps"));
}

TEST_F(BrokerProtocolTest, DeletedTopicLosesItsQueuesAndOffsets) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("Gone", 0, "x", props("A")).code);
    ASSERT_TRUE(w.dispatched("Gone", 0, 3));
    ASSERT_EQ(RS_SUCCESS, w.commit_offset("g", "Gone", 0, 2));
    Mq__TopicRequestHeader t = MQ__TOPIC_REQUEST_HEADER__INIT;
    t.topic = (char *)"Gone";
    ASSERT_EQ(RS_SUCCESS, w.simple(RC_DELETE_TOPIC_IN_BROKER, MQ__REMOTING_HEADER__EXT_TOPIC, &t.base));
    int64_t off;
    EXPECT_EQ(RS_QUERY_NOT_FOUND, w.query_offset("g", "Gone", 0, &off));
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, w.pull("Gone", 0, 0).code);
    // Sent again (auto-created), it starts from offset 0.
    auto r = w.send("Gone", 0, "again", props("A"));
    ASSERT_EQ(RS_SUCCESS, r.code);
    EXPECT_EQ(0, r.queue_offset);
}

} // namespace

namespace {

// INVOKE_BROKER_TO_RESET_OFFSET with the given fields; returns the code.
int reset_offset(Wire &w, const std::string &group, const std::string &topic, int64_t timestamp,
                 int32_t queue_id = -1, int64_t offset = -1, std::string *remark = nullptr) {
    Mq__ResetOffsetRequestHeader x = MQ__RESET_OFFSET_REQUEST_HEADER__INIT;
    x.group = (char *)group.c_str();
    x.topic = (char *)topic.c_str();
    x.timestamp = timestamp;
    x.has_timestamp = 1;
    x.isforce = 1;
    x.has_isforce = 1;
    if (queue_id >= 0) {
        x.queueid = queue_id;
        x.has_queueid = 1;
        x.offset = offset;
        x.has_offset = 1;
    }
    return w.simple(RC_INVOKE_BROKER_TO_RESET_OFFSET, MQ__REMOTING_HEADER__EXT_RESET_OFFSET, &x.base, nullptr, remark);
}

TEST_F(BrokerProtocolTest, ResetByTimeWorksForOfflineGroupsAndRedirectsTheNextPull) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 0, std::to_string(i), props("A")).code);
    ASSERT_TRUE(w.dispatched("T", 0, 10));
    ASSERT_EQ(RS_SUCCESS, w.commit_offset("g", "T", 0, 8));
    // Rewind to the beginning (a time before every message).
    ASSERT_EQ(RS_SUCCESS, reset_offset(w, "g", "T", 1));
    int64_t off = -1;
    ASSERT_EQ(RS_SUCCESS, w.query_offset("g", "T", 0, &off));
    EXPECT_EQ(0, off);
    // A consumer still running from before commits its old position: ignored.
    EXPECT_EQ(RS_SUCCESS, w.commit_offset("g", "T", 0, 9));
    ASSERT_EQ(RS_SUCCESS, w.query_offset("g", "T", 0, &off));
    EXPECT_EQ(0, off);
    // Its next pull is sent back to the reset offset, once.
    auto p = w.pull("T", 0, 9, "*", PULL_FLAG_SUBSCRIPTION, 0, "g");
    EXPECT_EQ(RS_PULL_OFFSET_MOVED, p.code);
    EXPECT_EQ(0, p.next);
    EXPECT_EQ(RS_SUCCESS, w.pull("T", 0, 0, "*", PULL_FLAG_SUBSCRIPTION, 0, "g").code);
    EXPECT_EQ(RS_SUCCESS, w.commit_offset("g", "T", 0, 3));
    ASSERT_EQ(RS_SUCCESS, w.query_offset("g", "T", 0, &off));
    EXPECT_EQ(3, off);
    // Forward to the end, then an exact offset on one queue.
    ASSERT_EQ(RS_SUCCESS, reset_offset(w, "g", "T", -1));
    ASSERT_EQ(RS_SUCCESS, w.query_offset("g", "T", 0, &off));
    EXPECT_EQ(10, off);
    ASSERT_EQ(RS_SUCCESS, reset_offset(w, "g", "T", 0, 0, 5));
    ASSERT_EQ(RS_SUCCESS, w.query_offset("g", "T", 0, &off));
    EXPECT_EQ(5, off);
    std::string remark;
    EXPECT_NE(RS_SUCCESS, reset_offset(w, "g", "T", 0, 0, 99, &remark));
    EXPECT_NE(std::string::npos, remark.find("outside")) << remark;
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, reset_offset(w, "g", "NoSuchTopic", 0));
}

TEST_F(BrokerProtocolTest, ResetWakesAHeldPull) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", 0, std::to_string(i), props("A")).code);
    ASSERT_TRUE(w.dispatched("T", 0, 3));
    Wire admin(c.namesrv_list(), broker->addr());
    std::thread t([&] {
        // Reset only once the pull is held: the reset must wake it.
        EXPECT_TRUE(wait_for([&] { return pulls_held(admin) == 1; }, 10000));
        EXPECT_EQ(RS_SUCCESS, reset_offset(admin, "g", "T", 0, 0, 1));
    });
    int64_t t0 = mono_ms();
    auto p = w.pull("T", 0, 3, "*", PULL_FLAG_SUBSCRIPTION | PULL_FLAG_SUSPEND, 10000, "g");
    t.join();
    EXPECT_EQ(RS_PULL_OFFSET_MOVED, p.code);
    EXPECT_EQ(1, p.next);
    EXPECT_LT(mono_ms() - t0, 5000);
}

} // namespace

namespace {

TEST_F(BrokerProtocolTest, MqadminTopicStatusConsumerProgressAndReset) {
    start();
    Wire w(c.namesrv_list(), broker->addr());
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(RS_SUCCESS, w.send("T", i % 2, "x", props("A")).code);
    ASSERT_TRUE(w.dispatched("T", 0, 3));
    ASSERT_TRUE(w.dispatched("T", 1, 3));
    ASSERT_EQ(RS_SUCCESS, w.commit_offset("pg", "T", 0, 1));
    ASSERT_EQ(RS_SUCCESS, w.commit_offset("pg", "T", 1, 3));
    // Wait until the nameserver knows the auto-created topic.
    ASSERT_TRUE(wait_for([&] { return c.mqadmin({"topicRoute", "-n", c.namesrv_list(), "-t", "T"}).exit_code == 0; }));

    auto st = c.mqadmin({"topicStatus", "-n", c.namesrv_list(), "-t", "T", "--json"});
    ASSERT_EQ(0, st.exit_code) << st.err;
    EXPECT_NE(std::string::npos, st.out.find("\"maxOffset\": 3")) << st.out;

    auto pr = c.mqadmin({"consumerProgress", "-n", c.namesrv_list(), "-g", "pg", "-t", "T"});
    ASSERT_EQ(0, pr.exit_code) << pr.err;
    EXPECT_NE(std::string::npos, pr.out.find("Diff Total: 2")) << pr.out; // 3-1 on queue 0, 3-3 on queue 1

    auto rs = c.mqadmin({"resetOffsetByTime", "-n", c.namesrv_list(), "-g", "pg", "-t", "T", "-s", "0"});
    ASSERT_EQ(0, rs.exit_code) << rs.err;
    pr = c.mqadmin({"consumerProgress", "-n", c.namesrv_list(), "-g", "pg", "-t", "T", "--json"});
    EXPECT_NE(std::string::npos, pr.out.find("\"diffTotal\": 6")) << pr.out;

    rs = c.mqadmin({"resetOffsetByTime", "-n", c.namesrv_list(), "-g", "pg", "-t", "T", "-b", "broker-a", "-q", "1", "-o", "2"});
    ASSERT_EQ(0, rs.exit_code) << rs.err;
    int64_t off = -1;
    ASSERT_EQ(RS_SUCCESS, w.query_offset("pg", "T", 1, &off));
    EXPECT_EQ(2, off);

    auto bad = c.mqadmin({"resetOffsetByTime", "-n", c.namesrv_list(), "-g", "pg", "-t", "T", "-s", "yesterday"});
    EXPECT_EQ(2, bad.exit_code);
    EXPECT_NE(std::string::npos, bad.err.find("yesterday")) << bad.err;
    bad = c.mqadmin({"topicStatus", "-n", c.namesrv_list(), "-t", "NoSuchTopic"});
    EXPECT_EQ(1, bad.exit_code);
}

} // namespace
