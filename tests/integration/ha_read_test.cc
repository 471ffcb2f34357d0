// ha_read_test.cc - reads from slaves, END_TRANSACTION under SYNC_MASTER and
// the slave's copy of deletions (issue 14), with real processes: a
// nameserver, a master and a slave of broker group "broker-a" on loopback
// (tests/support/cluster.h), consumers through the public API, raw frames
// where the test must see a header field.
//
// What is checked: with slaveReadEnable a consumer far behind is sent to the
// slave (suggestWhichBrokerId, in both header encodings) and the slave then
// serves its pulls (the slave's own pull counters), and it comes back to the
// master once caught up; without slaveReadEnable every pull stays on the
// master; a slave asked for offsets it has not copied yet holds and answers
// PULL_NOT_FOUND at that offset (never PULL_OFFSET_MOVED); END_TRANSACTION
// on a SYNC_MASTER answers SUCCESS only when the slave has the decision,
// FLUSH_SLAVE_TIMEOUT with the slave paused and SLAVE_NOT_AVAILABLE with it
// dead; topics, groups and offsets deleted on the master go from the slave.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ha_pair.h"
#include "raw_socket.h"

extern "C" {
#include "body.pb-c.h"
#include "bytes.h"
#include "log.h"
#include "message.h"
#include "mq/admin.h"
#include "mq/consumer.h"
#include "mq/producer.h"
#include "util.h"
}

namespace {

const char *kTopic = "ReadTopic";

// An answer: the unpacked protobuf header and the body.
struct Frame {
    Mq__RemotingHeader *hdr = nullptr;
    std::string body;
    Frame() = default;
    Frame(const Frame &) = delete;
    Frame(Frame &&o) noexcept : hdr(o.hdr), body(std::move(o.body)) { o.hdr = nullptr; }
    ~Frame() {
        if (hdr)
            mq__remoting_header__free_unpacked(hdr, nullptr);
    }
    int code() const { return hdr ? hdr->code : -1; }
    std::string remark() const { return hdr && hdr->remark ? hdr->remark : ""; }
    const Mq__PullMessageResponseHeader *pull() const {
        return hdr && hdr->ext_case == MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE ? hdr->pull_message_response
                                                                                      : nullptr;
    }
};

// One connection speaking our protobuf headers, request by request.
class Raw {
  public:
    explicit Raw(int port) : s_(port) {}
    Frame call(Mq__RemotingHeader *h, const std::string &body = "", int timeout_ms = 10000) {
        h->opaque = ++opaque_;
        h->has_opaque = 1;
        Frame f;
        EXPECT_TRUE(s_.send_all(make_frame(h, body)));
        std::vector<uint8_t> raw;
        while (s_.read_frame(raw, timeout_ms)) {
            uint32_t hl = be32_load(raw.data() + 4) & 0xFFFFFF;
            Mq__RemotingHeader *rh = mq__remoting_header__unpack(nullptr, hl, raw.data() + 8);
            if (rh && rh->has_flag && (rh->flag & RM_FLAG_RESPONSE) && rh->opaque == h->opaque) {
                f.hdr = rh;
                f.body.assign((const char *)raw.data() + 8 + hl, raw.size() - 8 - hl);
                return f;
            }
            if (rh)
                mq__remoting_header__free_unpacked(rh, nullptr);
        }
        ADD_FAILURE() << "no answer to request code " << h->code;
        return f;
    }
    Frame pull(const std::string &topic, int32_t qid, int64_t offset, int suspend_ms = 0) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__PullMessageRequestHeader p = MQ__PULL_MESSAGE_REQUEST_HEADER__INIT;
        h.code = RC_PULL_MESSAGE;
        h.has_code = 1;
        p.consumergroup = (char *)"raw_reader";
        p.topic = (char *)topic.c_str();
        p.queueid = qid, p.has_queueid = 1;
        p.queueoffset = offset, p.has_queueoffset = 1;
        p.maxmsgnums = 4, p.has_maxmsgnums = 1;
        p.sysflag = PULL_FLAG_SUBSCRIPTION | (suspend_ms > 0 ? PULL_FLAG_SUSPEND : 0), p.has_sysflag = 1;
        p.suspendtimeoutmillis = suspend_ms, p.has_suspendtimeoutmillis = 1;
        p.subscription = (char *)"*";
        h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE;
        h.pull_message = &p;
        return call(&h, "", suspend_ms + 10000);
    }
    // A half message (transactional, prepared) of producer group group.
    struct Half {
        int code = -1;
        int64_t half_offset = -1, commit_log_offset = -1;
        std::string uniq;
    };
    Half half(const std::string &group, const std::string &body) {
        char uniq[MSG_ID_BUF];
        msg_uniq_id_new(uniq, sizeof uniq);
        bytebuf b;
        bytebuf_init(&b);
        msg_prop_append(&b, "UNIQ_KEY", uniq);
        msg_prop_append(&b, "TRAN_MSG", "true");
        msg_prop_append(&b, "PGROUP", group.c_str());
        std::string props((const char *)b.data, b.len);
        bytebuf_free(&b);
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__SendMessageRequestHeader s = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
        h.code = RC_SEND_MESSAGE_V2;
        h.has_code = 1;
        s.producergroup = (char *)group.c_str();
        s.topic = (char *)kTopic;
        s.defaulttopic = (char *)"TBW102";
        s.queueid = 0, s.has_queueid = 1;
        s.sysflag = MSG_SYSFLAG_TX_PREPARED, s.has_sysflag = 1;
        s.borntimestamp = now_ms(), s.has_borntimestamp = 1;
        s.properties = (char *)props.c_str();
        h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
        h.send_message = &s;
        Frame f = call(&h, body);
        Half out;
        out.code = f.code();
        out.uniq = uniq;
        if (f.hdr && f.hdr->ext_case == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE) {
            std::string id = f.hdr->send_message_response->msgid ? f.hdr->send_message_response->msgid : "";
            out.half_offset = f.hdr->send_message_response->queueoffset;
            msg_host host;
            EXPECT_EQ(0, msg_offset_id_decode(id.c_str(), id.size(), &host, &out.commit_log_offset));
        }
        return out;
    }
    // END_TRANSACTION commit, two-way.
    Frame commit(const std::string &group, const Half &x) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__EndTransactionRequestHeader e = MQ__END_TRANSACTION_REQUEST_HEADER__INIT;
        h.code = RC_END_TRANSACTION;
        h.has_code = 1;
        e.producergroup = (char *)group.c_str();
        e.transtatetableoffset = x.half_offset, e.has_transtatetableoffset = 1;
        e.commitlogoffset = x.commit_log_offset, e.has_commitlogoffset = 1;
        e.commitorrollback = MSG_SYSFLAG_TX_COMMIT, e.has_commitorrollback = 1;
        e.msgid = (char *)x.uniq.c_str();
        e.transactionid = (char *)x.uniq.c_str();
        h.ext_case = MQ__REMOTING_HEADER__EXT_END_TRANSACTION;
        h.end_transaction = &e;
        return call(&h);
    }
    // Topic names of GET_ALL_TOPIC_CONFIG.
    std::vector<std::string> topics() {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_GET_ALL_TOPIC_CONFIG;
        h.has_code = 1;
        Frame f = call(&h);
        std::vector<std::string> out;
        auto *t = mq__topic_config_table__unpack(nullptr, f.body.size(), (const uint8_t *)f.body.data());
        EXPECT_NE(nullptr, t);
        if (t) {
            for (size_t i = 0; i < t->n_topicconfigtable; i++)
                out.push_back(t->topicconfigtable[i]->key);
            mq__topic_config_table__free_unpacked(t, nullptr);
        }
        return out;
    }
    // Group names of GET_ALL_SUBSCRIPTIONGROUP_CONFIG.
    std::vector<std::string> groups() {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG;
        h.has_code = 1;
        Frame f = call(&h);
        std::vector<std::string> out;
        auto *t = mq__subscription_group_wrapper__unpack(nullptr, f.body.size(), (const uint8_t *)f.body.data());
        EXPECT_NE(nullptr, t);
        if (t) {
            for (size_t i = 0; i < t->n_subscriptiongrouptable; i++)
                out.push_back(t->subscriptiongrouptable[i]->value->groupname);
            mq__subscription_group_wrapper__free_unpacked(t, nullptr);
        }
        return out;
    }
    // The group's committed offset of a queue, -1 if it has none.
    int64_t committed(const std::string &group, const std::string &topic, int32_t qid) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__QueryConsumerOffsetRequestHeader q = MQ__QUERY_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
        h.code = RC_QUERY_CONSUMER_OFFSET;
        h.has_code = 1;
        q.consumergroup = (char *)group.c_str();
        q.topic = (char *)topic.c_str();
        q.queueid = qid, q.has_queueid = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_QUERY_CONSUMER_OFFSET;
        h.query_consumer_offset = &q;
        Frame f = call(&h);
        if (f.code() != RS_SUCCESS || !f.hdr || f.hdr->ext_case != MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE)
            return -1;
        return f.hdr->offset_response->offset;
    }
    // UPDATE_CONSUMER_OFFSET, two-way.
    int commit_offset(const std::string &group, const std::string &topic, int32_t qid, int64_t offset) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__UpdateConsumerOffsetRequestHeader u = MQ__UPDATE_CONSUMER_OFFSET_REQUEST_HEADER__INIT;
        h.code = RC_UPDATE_CONSUMER_OFFSET;
        h.has_code = 1;
        u.consumergroup = (char *)group.c_str();
        u.topic = (char *)topic.c_str();
        u.queueid = qid, u.has_queueid = 1;
        u.commitoffset = offset, u.has_commitoffset = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_UPDATE_CONSUMER_OFFSET;
        h.update_consumer_offset = &u;
        return call(&h).code();
    }
    RawSocket &sock() { return s_; }

  private:
    RawSocket s_;
    int32_t opaque_ = 0;
};

bool contains(const std::vector<std::string> &v, const std::string &s) {
    for (auto &x : v)
        if (x == s)
            return true;
    return false;
}

class HaReadTest : public HaPairTest {
  protected:
    HaReadTest() : HaPairTest("ha_read_test") {}
    void TearDown() override {
        if (producer)
            mq_producer_destroy(producer);
    }

    // A nameserver, master broker-a (id 0, role) and its slave (id 1); extra
    // flags for both.
    void start(const std::string &role, std::vector<std::string> extra = {}) {
        extra.insert(extra.begin(), "--mapedFileSizeCommitLog=4194304");
        start_pair(role, kTopic, extra);
        if (HasFatalFailure())
            return;
        // the slave has the topic (its sync) before anyone reads from it
        ASSERT_TRUE(wait_for([&] { return contains(Raw(slave->port()).topics(), kTopic); }, 10000));
        mq_producer_options o;
        mq_producer_options_init(&o);
        o.send_timeout_ms = 10000;
        o.retry_times_when_send_failed = 0;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_new("read_producer", c.namesrv_list().c_str(), &o, &producer, &err));
        ASSERT_EQ(MQ_OK, mq_producer_start(producer, &err)) << err.message;
    }

    mq_push_consumer *consumer(const char *group, Receipts *got) {
        mq_push_consumer_options o;
        mq_push_consumer_options_init(&o);
        o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
        o.pull_batch_size = 8; // many pulls per queue: room to switch brokers
        o.pull_suspend_timeout_ms = 1000;
        o.pull_request_timeout_ms = 5000;
        o.pull_error_delay_ms = 200;
        o.persist_offset_interval_ms = 200;
        o.rebalance_interval_ms = 1000;
        o.heartbeat_interval_ms = 1000;
        o.request_timeout_ms = 3000;
        mq_push_consumer *pc = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_push_consumer_new(group, c.namesrv_list().c_str(), &o, &pc, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_push_consumer_subscribe(pc, kTopic, "*", &err)) << err.message;
        mq_push_consumer_set_listener(pc, record, got);
        EXPECT_EQ(MQ_OK, mq_push_consumer_start(pc, &err)) << err.message;
        consumers.push_back(pc);
        return pc;
    }

    int send(const std::string &body) { return send_to(producer, kTopic, body); }

    // n messages of ~1 KB; their bodies.
    std::vector<std::string> send_many(const std::string &prefix, int n) {
        std::vector<std::string> bodies;
        for (int i = 0; i < n; i++) {
            std::string b = prefix + std::to_string(i) + std::string(1000, 'r');
            EXPECT_EQ(MQ_SEND_OK, send(b));
            bodies.push_back(b);
        }
        return bodies;
    }

    // Messages a broker has returned to pulls since it started.
    long long pulled(MqProcess *b) { return runtime_ll(b, "msgGetTotalSinceStart"); }

    // The slave has the master's whole log, and both have indexed it (their
    // ConsumeQueues answer pulls for all of it).
    bool slave_caught_up() {
        long long end = runtime_ll(master, "commitLogMaxOffset");
        return end > 0 && runtime_ll(slave, "haSlaveOffset") == end && dispatched(master) && dispatched(slave);
    }
    bool dispatched(MqProcess *b) { return runtime_ll(b, "dispatchBehindBytes") == 0; }


    mq_producer *producer = nullptr;
};

// accessMessageInMemoryMaxRatio=0: any backlog behind a pull counts as far
// behind, so a few thousand messages are enough to see the switch.
TEST_F(HaReadTest, FarBehindConsumerIsSentToTheSlaveAndBackToTheMasterWhenCaughtUp) {
    start("ASYNC_MASTER", {"--slaveReadEnable=true", "--accessMessageInMemoryMaxRatio=0"});
    std::vector<std::string> backlog = send_many("backlog-", 2000);
    ASSERT_TRUE(wait_for([&] { return slave_caught_up(); }, 20000));

    // The answers say so, in our header and in RocketMQ's JSON one.
    {
        Raw m(master->port());
        Frame f = m.pull(kTopic, 0, 0);
        ASSERT_EQ(RS_SUCCESS, f.code()) << f.remark();
        ASSERT_NE(nullptr, f.pull());
        EXPECT_EQ(1, f.pull()->suggestwhichbrokerid) << "far behind: the group's whichBrokerWhenConsumeSlowly";
        // caught up (nothing after offset max): the group's brokerId, the master
        int64_t max = f.pull()->maxoffset;
        Frame end = m.pull(kTopic, 0, max);
        EXPECT_EQ(RS_PULL_NOT_FOUND, end.code());
        ASSERT_NE(nullptr, end.pull());
        EXPECT_EQ(0, end.pull()->suggestwhichbrokerid);
        // on the slave, still behind: stay there
        Frame s = Raw(slave->port()).pull(kTopic, 0, 0);
        ASSERT_EQ(RS_SUCCESS, s.code()) << s.remark();
        EXPECT_EQ(1, s.pull()->suggestwhichbrokerid);

        std::string hdr = "{\"code\":11,\"language\":\"JAVA\",\"version\":401,\"opaque\":7,\"flag\":0,\"extFields\":"
                          "{\"consumerGroup\":\"raw_reader\",\"topic\":\"" +
                          std::string(kTopic) +
                          "\",\"queueId\":\"1\",\"queueOffset\":\"0\",\"maxMsgNums\":\"4\",\"sysFlag\":\"4\","
                          "\"commitOffset\":\"0\",\"suspendTimeoutMillis\":\"0\",\"subscription\":\"*\","
                          "\"subVersion\":\"0\",\"expressionType\":\"TAG\"}}";
        std::string frame(8, '\0');
        be32_store(&frame[0], (uint32_t)(4 + hdr.size()));
        be32_store(&frame[4], (uint32_t)hdr.size()); // serialize type 0: JSON
        RawSocket js(master->port());
        ASSERT_TRUE(js.send_all(frame + hdr));
        std::vector<uint8_t> raw;
        ASSERT_TRUE(js.read_frame(raw, 10000));
        std::string answer((const char *)raw.data() + 8, be32_load(raw.data() + 4) & 0xFFFFFF);
        EXPECT_NE(std::string::npos, answer.find("\"suggestWhichBrokerId\":\"1\"")) << answer;
    }

    // The pull consumer follows the suggestion too: its second pull of a
    // queue goes to the slave.
    {
        mq_pull_consumer *pc = nullptr;
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_pull_consumer_new("pull_reader", c.namesrv_list().c_str(), nullptr, &pc, &err));
        ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err)) << err.message;
        mq_message_queue q{};
        snprintf(q.topic, sizeof q.topic, "%s", kTopic);
        snprintf(q.broker_name, sizeof q.broker_name, "broker-a");
        q.queue_id = 2;
        long long s0 = pulled(slave), m0 = pulled(master);
        mq_pull_result r;
        ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", 0, 8, 0, &r, &err)) << err.message;
        EXPECT_EQ(MQ_PULL_FOUND, r.status);
        int64_t next = r.next_begin_offset;
        mq_pull_result_destroy(&r);
        EXPECT_EQ(s0, pulled(slave));
        EXPECT_EQ(m0 + 8, pulled(master));
        ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", next, 8, 0, &r, &err)) << err.message;
        EXPECT_EQ(MQ_PULL_FOUND, r.status);
        mq_pull_result_destroy(&r);
        EXPECT_EQ(s0 + 8, pulled(slave)) << "the second pull went to the slave";
        EXPECT_EQ(m0 + 8, pulled(master));
        mq_pull_consumer_destroy(pc);
    }

    long long slave0 = pulled(slave), master0 = pulled(master);
    Receipts got;
    consumer("read_group", &got);
    ASSERT_TRUE(wait_for([&] { return got.has_all(backlog); }, 60000)) << got.unique() << " of " << backlog.size();
    long long from_slave = pulled(slave) - slave0, from_master = pulled(master) - master0;
    fprintf(stderr, "backlog of %zu: %lld pulled from the slave, %lld from the master\n", backlog.size(), from_slave,
            from_master);
    // the first pull of each queue is the master's; the rest of the backlog the slave's
    EXPECT_GE(from_slave, 1500) << "master served " << from_master;
    EXPECT_LT(from_master, 500) << "slave served " << from_slave;

    // Caught up: each queue's next answer sends it back to the master; new
    // messages sent one at a time then come from the master (at most one per
    // queue still from a pull the slave was holding).
    long long slave1 = pulled(slave), master1 = pulled(master);
    std::vector<std::string> live;
    for (int i = 0; i < 24; i++) {
        std::string b = "live-" + std::to_string(i);
        ASSERT_EQ(MQ_SEND_OK, send(b));
        live.push_back(b);
        ASSERT_TRUE(wait_for([&] { return got.has_all(live); }, 15000)) << b;
    }
    fprintf(stderr, "caught up, %zu new: %lld pulled from the slave, %lld from the master\n", live.size(),
            pulled(slave) - slave1, pulled(master) - master1);
    EXPECT_LE(pulled(slave) - slave1, 4);
    EXPECT_GE(pulled(master) - master1, 20);
}

TEST_F(HaReadTest, WithoutSlaveReadEnableEveryPullStaysOnTheMaster) {
    start("ASYNC_MASTER", {"--accessMessageInMemoryMaxRatio=0"});
    std::vector<std::string> backlog = send_many("backlog-", 1000);
    ASSERT_TRUE(wait_for([&] { return slave_caught_up(); }, 20000));
    Frame f = Raw(master->port()).pull(kTopic, 0, 0);
    ASSERT_EQ(RS_SUCCESS, f.code());
    EXPECT_EQ(0, f.pull()->suggestwhichbrokerid);
    // a slave still serves a pull sent to it (the master may be gone) but
    // sends the consumer back to the master
    Frame s = Raw(slave->port()).pull(kTopic, 0, 0);
    ASSERT_EQ(RS_SUCCESS, s.code()) << s.remark();
    EXPECT_EQ(0, s.pull()->suggestwhichbrokerid);
    long long slave0 = pulled(slave);
    Receipts got;
    consumer("read_group", &got);
    ASSERT_TRUE(wait_for([&] { return got.has_all(backlog); }, 60000));
    EXPECT_EQ(slave0, pulled(slave)) << "a consumer read from the slave without slaveReadEnable";
}

// The route is refreshed only every 60 s here: the consumer must move to the
// slave because its pull to the dead master failed, not because the route
// changed.
TEST_F(HaReadTest, ConsumerWhoseMasterDiesMidBacklogGoesOnFromTheSlaveAtOnce) {
    start("ASYNC_MASTER");
    struct Gate {
        std::atomic<bool> open{false};
        Receipts got;
    } gate;
    auto gated = [](const mq_message_ext *const *msgs, int n, void *arg) {
        Gate *g = static_cast<Gate *>(arg);
        for (int i = 0; i < 30000 && !g->open; i++) // at most 60 s
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return record(msgs, n, &g->got);
    };
    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    o.consume_thread_count = 1;
    o.pull_batch_size = 8;
    o.pull_threshold_for_queue = 8; // a queue stops pulling with 8 waiting
    o.pull_suspend_timeout_ms = 1000;
    o.pull_error_delay_ms = 200;
    o.persist_offset_interval_ms = 200;
    o.rebalance_interval_ms = 1000;
    o.heartbeat_interval_ms = 1000;
    o.poll_name_server_interval_ms = 60000;
    mq_push_consumer *pc = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_push_consumer_new("failing_over", c.namesrv_list().c_str(), &o, &pc, &err)) << err.message;
    consumers.push_back(pc);
    ASSERT_EQ(MQ_OK, mq_push_consumer_subscribe(pc, kTopic, "*", &err)) << err.message;
    mq_push_consumer_set_listener(pc, gated, &gate);
    std::vector<std::string> backlog = send_many("backlog-", 400);
    ASSERT_TRUE(wait_for([&] { return slave_caught_up(); }, 20000));
    ASSERT_EQ(MQ_OK, mq_push_consumer_start(pc, &err)) << err.message;
    // the consumer holds a few messages per queue and waits
    ASSERT_TRUE(wait_for([&] { return pulled(master) >= 16; }, 20000));
    long long slave0 = pulled(slave);
    master->kill9();
    gate.open = true;
    ASSERT_TRUE(wait_for([&] { return gate.got.has_all(backlog); }, 20000))
        << gate.got.unique() << " of " << backlog.size() << " consumed";
    EXPECT_GE(pulled(slave) - slave0, 300);
}

TEST_F(HaReadTest, SlaveAskedForOffsetsItHasNotCopiedHoldsAndNeverMovesTheConsumer) {
    start("ASYNC_MASTER", {"--slaveReadEnable=true"});
    send_many("first-", 40);
    ASSERT_TRUE(wait_for([&] { return slave_caught_up(); }, 20000));
    // The slave comes back pointed at a master HA port where nobody listens:
    // it serves, but copies nothing more.
    ASSERT_TRUE(slave->stop());
    send_many("second-", 200);
    int ha = master->ha_port();
    slave->set_flag("haMasterAddress", "127.0.0.1:1");
    ASSERT_TRUE(slave->start());
    ASSERT_TRUE(wait_for([&] { return dispatched(slave) && dispatched(master); }, 20000));
    Raw m(master->port()), s(slave->port());
    int64_t slave_max = s.pull(kTopic, 0, 0).pull()->maxoffset;
    int64_t master_max = m.pull(kTopic, 0, 0).pull()->maxoffset;
    ASSERT_LT(slave_max, master_max);
    int64_t want = slave_max + 5;
    auto t0 = std::chrono::steady_clock::now();
    Frame f = s.pull(kTopic, 0, want, 800);
    auto held = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(RS_PULL_NOT_FOUND, f.code()) << f.remark();
    ASSERT_NE(nullptr, f.pull());
    EXPECT_EQ(want, f.pull()->nextbeginoffset) << "the consumer stays where it is";
    EXPECT_EQ(0, f.pull()->suggestwhichbrokerid) << "the master has it";
    EXPECT_GE(held, 700) << "held like any empty pull";
    // The master's answer at the same offset has the messages.
    EXPECT_EQ(RS_SUCCESS, m.pull(kTopic, 0, want).code());
    // Copying again: a pull held on the slave is answered with the messages.
    ASSERT_TRUE(slave->stop());
    slave->set_flag("haMasterAddress", "127.0.0.1:" + std::to_string(ha));
    ASSERT_TRUE(slave->start());
    Raw s2(slave->port());
    ASSERT_TRUE(wait_for([&] { return s2.pull(kTopic, 0, want, 500).code() == RS_SUCCESS; }, 20000));
}

TEST_F(HaReadTest, EndTransactionOnASyncMasterIsAcknowledgedOnlyOnceTheSlaveHasIt) {
    start("SYNC_MASTER", {"--slaveTimeout=800"});
    const std::string group = "txn_ha_group";
    Raw p(master->port());
    std::vector<Raw::Half> halves;
    for (int i = 0; i < 12; i++) {
        halves.push_back(p.half(group, "half-" + std::to_string(i)));
        ASSERT_EQ(RS_SUCCESS, halves.back().code);
    }
    size_t next = 0;
    Frame ok = p.commit(group, halves[next++]);
    EXPECT_EQ(RS_SUCCESS, ok.code()) << ok.remark();
    EXPECT_NE(std::string::npos, ok.remark().find("committed")) << ok.remark();

    // Silent slave: the commit is written but the producer hears the timeout.
    pause_now(slave);
    auto t0 = std::chrono::steady_clock::now();
    Frame late = p.commit(group, halves[next++]);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(RS_FLUSH_SLAVE_TIMEOUT, late.code()) << late.remark();
    EXPECT_NE(std::string::npos, late.remark().find("slaveTimeout")) << late.remark();
    EXPECT_GE(ms, 700);
    EXPECT_LT(ms, 5000);

    // Dead slave: SLAVE_NOT_AVAILABLE once the master saw it go, never SUCCESS.
    slave->resume();
    slave->kill9();
    int code = -1;
    ASSERT_TRUE(wait_for(
        [&] {
            if (next >= halves.size())
                return false;
            Frame f = p.commit(group, halves[next++]);
            code = f.code();
            EXPECT_NE(RS_SUCCESS, code) << "a commit acknowledged without a slave: " << f.remark();
            return code == RS_SLAVE_NOT_AVAILABLE;
        },
        20000))
        << "last answer " << code;
    // The decision itself was applied (only the acknowledgement waited): a
    // second commit of the first timed-out one is "already resolved".
    Frame again = p.commit(group, halves[1]);
    EXPECT_EQ(RS_SUCCESS, again.code());
    EXPECT_NE(std::string::npos, again.remark().find("already resolved")) << again.remark();
}

TEST_F(HaReadTest, TopicsGroupsAndOffsetsDeletedOnTheMasterGoFromTheSlave) {
    start("ASYNC_MASTER");
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", master->addr(), "-t", "DoomedTopic", "-r",
                              "2", "-w", "2"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    r = c.mqadmin({"updateSubGroup", "-n", c.namesrv_list(), "-b", master->addr(), "-g", "doomed_group"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    r = c.mqadmin({"updateSubGroup", "-n", c.namesrv_list(), "-b", master->addr(), "-g", "kept_group"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    Raw m(master->port()), s(slave->port());
    ASSERT_EQ(RS_SUCCESS, m.commit_offset("doomed_group", kTopic, 1, 7));
    ASSERT_EQ(RS_SUCCESS, m.commit_offset("kept_group", kTopic, 1, 9));
    ASSERT_EQ(RS_SUCCESS, m.commit_offset("kept_group", "DoomedTopic", 0, 3));
    ASSERT_TRUE(wait_for(
        [&] {
            return contains(s.topics(), "DoomedTopic") && contains(s.groups(), "doomed_group") &&
                   s.committed("doomed_group", kTopic, 1) == 7 && s.committed("kept_group", kTopic, 1) == 9 &&
                   s.committed("kept_group", "DoomedTopic", 0) == 3;
        },
        10000));

    r = c.mqadmin({"deleteTopic", "-n", c.namesrv_list(), "-c", "DefaultCluster", "-t", "DoomedTopic"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    r = c.mqadmin({"deleteSubGroup", "-n", c.namesrv_list(), "-b", master->addr(), "-g", "doomed_group", "-r",
                   "true"});
    ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    ASSERT_FALSE(contains(m.topics(), "DoomedTopic"));
    ASSERT_EQ(-1, m.committed("doomed_group", kTopic, 1));

    ASSERT_TRUE(wait_for(
        [&] {
            return !contains(s.topics(), "DoomedTopic") && !contains(s.groups(), "doomed_group") &&
                   s.committed("doomed_group", kTopic, 1) == -1 && s.committed("kept_group", "DoomedTopic", 0) == -1;
        },
        10000))
        << "the slave kept what the master deleted";
    // what the master kept stays
    EXPECT_TRUE(contains(s.topics(), kTopic));
    EXPECT_TRUE(contains(s.groups(), "kept_group"));
    EXPECT_EQ(9, s.committed("kept_group", kTopic, 1));
    EXPECT_TRUE(contains(s.topics(), "TBW102")) << "system topics stay";
    // and survive a restart of the slave
    ASSERT_TRUE(slave->stop());
    ASSERT_TRUE(slave->start());
    Raw s2(slave->port());
    EXPECT_FALSE(contains(s2.topics(), "DoomedTopic"));
    EXPECT_FALSE(contains(s2.groups(), "doomed_group"));
    EXPECT_EQ(-1, s2.committed("doomed_group", kTopic, 1));
}

} // namespace
