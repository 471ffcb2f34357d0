// transaction_test.cc - the broker side of transactional messages, driven
// with raw frames against real mqnamesrv/mqbroker processes: half messages
// are invisible, commit shows the message exactly once, rollback hides it,
// duplicate and unknown decisions are answered safely, check-back asks the
// producer's own connection and stops at transactionCheckMax, parked
// messages are listed and resolved with mqadmin, and kill -9 before and
// after decisions resolves every transaction exactly once with no check for
// a decided one. (Client-side transactions are tested on the client.)

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "cluster.h"
#include "raw_socket.h"
#include "wait.h"

extern "C" {
#include "body.pb-c.h"
#include "bytes.h"
#include "log.h"
#include "message.h"
#include "util.h"
}

namespace {

const char *const HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC";

struct Frame {
    Mq__RemotingHeader *hdr = nullptr;
    std::string body;
    Frame() = default;
    Frame(const Frame &) = delete;
    Frame(Frame &&o) noexcept : hdr(o.hdr), body(std::move(o.body)) { o.hdr = nullptr; }
    Frame &operator=(Frame &&o) noexcept {
        std::swap(hdr, o.hdr);
        body = std::move(o.body);
        return *this;
    }
    ~Frame() {
        if (hdr)
            mq__remoting_header__free_unpacked(hdr, nullptr);
    }
    int code() const { return hdr ? hdr->code : -1; }
    std::string remark() const { return hdr && hdr->remark ? hdr->remark : ""; }
};

// A check-back the broker sent us.
struct Check {
    int64_t half_offset, commit_log_offset;
    std::string msg_id, transaction_id, offset_msg_id, topic;
    std::string body_topic, body;
    int64_t at_ms;
};

// One producer connection: requests and their answers, plus the
// CHECK_TRANSACTION_STATE requests the broker pushes on the same socket.
class Producer {
  public:
    Producer(int port, std::string group) : sock_(port), group_(std::move(group)) {
        char id[64];
        snprintf(id, sizeof id, "127.0.0.1@txn-test-%d", ++instances_);
        client_id_ = id;
    }
    bool ok() const { return sock_.ok(); }

    Frame call(Mq__RemotingHeader *h, const std::string &body = "", bool oneway = false) {
        h->opaque = ++opaque_;
        h->has_opaque = 1;
        if (oneway) {
            h->flag = RM_FLAG_ONEWAY;
            h->has_flag = 1;
        }
        EXPECT_TRUE(sock_.send_all(make_frame(h, body)));
        if (oneway)
            return Frame();
        auto deadline = mono_ms() + 10000;
        while (mono_ms() < deadline) {
            Frame f;
            if (!read(f, 10000))
                break;
            if (f.hdr->has_flag && (f.hdr->flag & RM_FLAG_RESPONSE) && f.hdr->opaque == h->opaque)
                return f;
        }
        ADD_FAILURE() << "no answer to request code " << h->code;
        return Frame();
    }

    // Collects check-backs for up to ms.
    void poll(int ms) {
        auto deadline = mono_ms() + ms;
        while (mono_ms() < deadline) {
            Frame f;
            if (!read(f, (int)(deadline - mono_ms())))
                return;
        }
    }

    int heartbeat() {
        Mq__ProducerData pd = MQ__PRODUCER_DATA__INIT;
        pd.groupname = (char *)group_.c_str();
        Mq__ProducerData *pds[] = {&pd};
        Mq__HeartbeatData hb = MQ__HEARTBEAT_DATA__INIT;
        hb.clientid = (char *)client_id_.c_str();
        hb.n_producerdataset = 1;
        hb.producerdataset = pds;
        std::string body(protobuf_c_message_get_packed_size(&hb.base), '\0');
        protobuf_c_message_pack(&hb.base, (uint8_t *)body.data());
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_HEART_BEAT;
        h.has_code = 1;
        return call(&h, body).code();
    }

    struct Sent {
        int code = -1;
        std::string remark, offset_msg_id, uniq;
        int64_t half_offset = -1, commit_log_offset = -1;
    };
    Sent send(const std::string &topic, int32_t qid, const std::string &body, bool prepared = true,
              const std::string &extra_props = "", int32_t code = RC_SEND_MESSAGE_V2) {
        char uniq[MSG_ID_BUF];
        msg_uniq_id_new(uniq, sizeof uniq);
        bytebuf b;
        bytebuf_init(&b);
        msg_prop_append(&b, "UNIQ_KEY", uniq);
        msg_prop_append(&b, "KEYS", ("key-" + body).c_str());
        if (prepared) {
            msg_prop_append(&b, "TRAN_MSG", "true");
            msg_prop_append(&b, "PGROUP", group_.c_str());
        }
        std::string props((const char *)b.data, b.len);
        bytebuf_free(&b);
        props += extra_props;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__SendMessageRequestHeader s = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
        h.code = code;
        h.has_code = 1;
        s.producergroup = (char *)group_.c_str();
        s.topic = (char *)topic.c_str();
        s.defaulttopic = (char *)"TBW102";
        s.queueid = qid;
        s.has_queueid = 1;
        s.sysflag = prepared ? MSG_SYSFLAG_TX_PREPARED : 0;
        s.has_sysflag = 1;
        s.borntimestamp = now_ms();
        s.has_borntimestamp = 1;
        s.properties = (char *)props.c_str();
        h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
        h.send_message = &s;
        Frame f = call(&h, body);
        Sent out;
        out.code = f.code();
        out.remark = f.remark();
        out.uniq = uniq;
        if (f.hdr && f.hdr->ext_case == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE) {
            out.offset_msg_id = f.hdr->send_message_response->msgid ? f.hdr->send_message_response->msgid : "";
            out.half_offset = f.hdr->send_message_response->queueoffset;
            msg_host host;
            EXPECT_EQ(0, msg_offset_id_decode(out.offset_msg_id.c_str(), out.offset_msg_id.size(), &host,
                                              &out.commit_log_offset));
        }
        return out;
    }

    // END_TRANSACTION as RocketMQ's client sends it (oneway unless asked).
    Frame end(int64_t half_offset, int64_t clo, int32_t type, const std::string &uniq, bool oneway = false,
              bool from_check = false) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__EndTransactionRequestHeader e = MQ__END_TRANSACTION_REQUEST_HEADER__INIT;
        h.code = RC_END_TRANSACTION;
        h.has_code = 1;
        e.producergroup = (char *)group_.c_str();
        e.transtatetableoffset = half_offset;
        e.has_transtatetableoffset = 1;
        e.commitlogoffset = clo;
        e.has_commitlogoffset = 1;
        e.commitorrollback = type;
        e.has_commitorrollback = 1;
        e.fromtransactioncheck = from_check;
        e.has_fromtransactioncheck = 1;
        e.msgid = (char *)uniq.c_str();
        e.transactionid = (char *)uniq.c_str();
        h.ext_case = MQ__REMOTING_HEADER__EXT_END_TRANSACTION;
        h.end_transaction = &e;
        return call(&h, "", oneway);
    }
    Frame end(const Sent &s, int32_t type, bool oneway = false) {
        return end(s.half_offset, s.commit_log_offset, type, s.uniq, oneway);
    }

    struct Pulled {
        int code = -1;
        std::string remark;
        std::vector<std::string> bodies, uniqs, props;
        std::vector<int64_t> phys;
        int64_t next = 0;
    };
    Pulled pull(const std::string &topic, int32_t qid, int64_t offset) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__PullMessageRequestHeader p = MQ__PULL_MESSAGE_REQUEST_HEADER__INIT;
        h.code = RC_PULL_MESSAGE;
        h.has_code = 1;
        p.consumergroup = (char *)"txn_test_consumer";
        p.topic = (char *)topic.c_str();
        p.queueid = qid;
        p.has_queueid = 1;
        p.queueoffset = offset;
        p.has_queueoffset = 1;
        p.maxmsgnums = 32;
        p.has_maxmsgnums = 1;
        p.sysflag = PULL_FLAG_SUBSCRIPTION;
        p.has_sysflag = 1;
        p.subscription = (char *)"*";
        h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE;
        h.pull_message = &p;
        Frame f = call(&h);
        Pulled out;
        out.code = f.code();
        out.remark = f.remark();
        if (f.hdr && f.hdr->ext_case == MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE)
            out.next = f.hdr->pull_message_response->nextbeginoffset;
        size_t pos = 0;
        while (pos < f.body.size()) {
            msg_record r;
            if (msg_decode(f.body.data() + pos, f.body.size() - pos, true, &r) != MSG_OK) {
                ADD_FAILURE() << "undecodable record in pull answer";
                break;
            }
            out.bodies.emplace_back((const char *)r.body, r.body_len);
            out.props.emplace_back(r.properties, r.properties_len);
            out.phys.push_back(r.physical_offset);
            const char *v;
            size_t vl;
            out.uniqs.emplace_back(msg_prop_get(r.properties, r.properties_len, "UNIQ_KEY", &v, &vl) ? std::string(v, vl) : "");
            pos += r.total_size;
        }
        return out;
    }
    // Every message of a queue from offset 0.
    std::vector<std::string> all(const std::string &topic, int32_t qid) {
        std::vector<std::string> got;
        int64_t off = 0;
        for (;;) {
            Pulled p = pull(topic, qid, off);
            if (p.code != RS_SUCCESS || p.bodies.empty())
                break;
            got.insert(got.end(), p.bodies.begin(), p.bodies.end());
            off = p.next;
        }
        return got;
    }
    int64_t max_offset(const std::string &topic, int32_t qid) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__QueueRequestHeader q = MQ__QUEUE_REQUEST_HEADER__INIT;
        h.code = RC_GET_MAX_OFFSET;
        h.has_code = 1;
        q.topic = (char *)topic.c_str();
        q.queueid = qid;
        q.has_queueid = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_QUEUE;
        h.queue = &q;
        Frame f = call(&h);
        return f.hdr && f.hdr->ext_case == MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE ? f.hdr->offset_response->offset : -1;
    }
    std::map<std::string, std::string> runtime() {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_GET_BROKER_RUNTIME_INFO;
        h.has_code = 1;
        Frame f = call(&h);
        std::map<std::string, std::string> m;
        Mq__KVTable *t = mq__kvtable__unpack(nullptr, f.body.size(), (const uint8_t *)f.body.data());
        if (t) {
            for (size_t i = 0; i < t->n_table; i++)
                m[t->table[i]->key] = t->table[i]->value;
            mq__kvtable__free_unpacked(t, nullptr);
        }
        return m;
    }

    std::vector<Check> checks;
    // Checks received for one half message.
    size_t checks_for(int64_t half_offset) const {
        size_t n = 0;
        for (auto &c : checks)
            n += c.half_offset == half_offset;
        return n;
    }

  private:
    bool read(Frame &f, int timeout_ms) {
        std::vector<uint8_t> raw;
        if (timeout_ms <= 0 || !sock_.read_frame(raw, timeout_ms))
            return false;
        uint32_t hl = be32_load(raw.data() + 4) & 0xFFFFFF;
        f.hdr = mq__remoting_header__unpack(nullptr, hl, raw.data() + 8);
        if (!f.hdr)
            return false;
        f.body.assign((const char *)raw.data() + 8 + hl, raw.size() - 8 - hl);
        if (f.hdr->code == RC_CHECK_TRANSACTION_STATE && !(f.hdr->flag & RM_FLAG_RESPONSE)) {
            Check c{};
            c.at_ms = now_ms();
            auto *x = f.hdr->check_transaction_state;
            if (x) {
                c.half_offset = x->transtatetableoffset;
                c.commit_log_offset = x->commitlogoffset;
                c.msg_id = x->msgid ? x->msgid : "";
                c.transaction_id = x->transactionid ? x->transactionid : "";
                c.offset_msg_id = x->offsetmsgid ? x->offsetmsgid : "";
                c.topic = x->topic ? x->topic : "";
            }
            msg_record r;
            if (msg_decode(f.body.data(), f.body.size(), true, &r) == MSG_OK) {
                c.body_topic.assign(r.topic, r.topic_len);
                c.body.assign((const char *)r.body, r.body_len);
            }
            checks.push_back(c);
        }
        return true;
    }

    RawSocket sock_;
    std::string group_, client_id_;
    int32_t opaque_ = 0;
    static inline int instances_ = 0;
};

int64_t num(const std::map<std::string, std::string> &m, const std::string &k) {
    auto it = m.find(k);
    return it == m.end() ? -1 : std::stoll(it->second);
}

class TransactionTest : public OneBrokerTest {
  protected:
    TransactionTest() : OneBrokerTest("transaction") {}
    void SetUp() override { log_set_level(LOG_ERROR); }
    bool has_messages(Producer &p, const std::string &topic, int32_t q, int64_t n) {
        return wait_for([&] { return p.max_offset(topic, q) >= n; });
    }
};

TEST_F(TransactionTest, CommitShowsTheMessageOnceRollbackHidesItAndRepeatsAreIgnored) {
    start({"--transactionTimeOut=600000"});
    Producer p(broker->port(), "pg");
    ASSERT_TRUE(p.ok());
    auto a = p.send("T", 0, "order-A");
    ASSERT_EQ(RS_SUCCESS, a.code) << a.remark;
    auto b = p.send("T", 0, "order-B");
    ASSERT_EQ(RS_SUCCESS, b.code) << b.remark;
    EXPECT_EQ(0, a.half_offset);
    EXPECT_EQ(1, b.half_offset);
    // Half messages are invisible: nothing in the real queue, and the half topic cannot be pulled.
    ASSERT_TRUE(has_messages(p, "T", 0, 0));
    EXPECT_EQ(0, p.max_offset("T", 0));
    auto half = p.pull(HALF_TOPIC, 0, 0);
    EXPECT_NE(RS_SUCCESS, half.code);
    EXPECT_TRUE(half.bodies.empty());
    EXPECT_EQ(2, num(p.runtime(), "transactionHalfPending"));

    Frame r = p.end(a, MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ(RS_SUCCESS, r.code()) << r.remark();
    r = p.end(b, MSG_SYSFLAG_TX_ROLLBACK);
    EXPECT_EQ(RS_SUCCESS, r.code()) << r.remark();
    ASSERT_TRUE(has_messages(p, "T", 0, 1));
    auto got = p.pull("T", 0, 0);
    ASSERT_EQ(RS_SUCCESS, got.code) << got.remark;
    ASSERT_EQ(std::vector<std::string>{"order-A"}, got.bodies);
    EXPECT_EQ(a.uniq, got.uniqs[0]); // the consumer sees the producer's message id
    EXPECT_EQ(std::string::npos, got.props[0].find("REAL_TOPIC"));
    EXPECT_EQ(std::string::npos, got.props[0].find("TRAN_MSG"));

    // A repeated commit, a commit after the rollback and a rollback after
    // the commit change nothing and say so.
    r = p.end(a, MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ(RS_SUCCESS, r.code());
    EXPECT_NE(std::string::npos, r.remark().find("already resolved")) << r.remark();
    r = p.end(b, MSG_SYSFLAG_TX_COMMIT);
    EXPECT_NE(std::string::npos, r.remark().find("already resolved")) << r.remark();
    r = p.end(a, MSG_SYSFLAG_TX_ROLLBACK);
    EXPECT_NE(std::string::npos, r.remark().find("already resolved")) << r.remark();
    p.end(a, MSG_SYSFLAG_TX_COMMIT, true); // oneway, as RocketMQ's client sends it
    // Unknown offsets and a wrong producer group get clear errors.
    r = p.end(999, 123456, MSG_SYSFLAG_TX_COMMIT, "x");
    EXPECT_EQ(RS_SYSTEM_ERROR, r.code());
    EXPECT_NE(std::string::npos, r.remark().find("no half message")) << r.remark();
    auto c2 = p.send("T", 0, "order-C");
    ASSERT_EQ(RS_SUCCESS, c2.code);
    r = p.end(c2.half_offset, c2.commit_log_offset + 1, MSG_SYSFLAG_TX_COMMIT, c2.uniq);
    EXPECT_EQ(RS_SYSTEM_ERROR, r.code());
    EXPECT_NE(std::string::npos, r.remark().find("does not match")) << r.remark();
    Producer other(broker->port(), "other_group");
    r = other.end(c2, MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ(RS_SYSTEM_ERROR, r.code());
    EXPECT_NE(std::string::npos, r.remark().find("producer group")) << r.remark();
    r = p.end(c2, 3);
    EXPECT_EQ(RS_INVALID_PARAMETER, r.code()) << r.remark();
    r = p.end(c2, MSG_SYSFLAG_TX_NOT); // UNKNOWN: nothing changes
    EXPECT_EQ(RS_SUCCESS, r.code());
    EXPECT_EQ(2, num(p.runtime(), "transactionHalfPending") + 1); // only C is pending
    r = p.end(c2, MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ(RS_SUCCESS, r.code()) << r.remark();
    ASSERT_TRUE(has_messages(p, "T", 0, 2));
    p.poll(100);
    EXPECT_EQ((std::vector<std::string>{"order-A", "order-C"}), p.all("T", 0));
    auto rt = p.runtime();
    EXPECT_EQ(2, num(rt, "transactionCommitted"));
    EXPECT_EQ(1, num(rt, "transactionRolledBack"));
    EXPECT_EQ(0, num(rt, "transactionHalfPending"));
    // Plain sends still work beside transactions.
    EXPECT_EQ(RS_SUCCESS, p.send("T", 0, "plain", false).code);
}

TEST_F(TransactionTest, TransactionalSendsThatCannotWorkGetClearErrors) {
    start({"--autoCreateTopicEnable=false"});
    Producer p(broker->port(), "pg");
    auto r = p.send("NoSuchTopic", 0, "x");
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, r.code);
    EXPECT_NE(std::string::npos, r.remark.find("NoSuchTopic")) << r.remark;
    r = p.send(HALF_TOPIC, 0, "x");
    EXPECT_EQ(RS_NO_PERMISSION, r.code) << r.remark;
    // Not in a batch: the half message would have no queue offset of its own.
    std::string props = std::string("TRAN_MSG\x01true\x02PGROUP\x01pg");
    msg_batch_item items[2] = {{0, (const uint8_t *)"a", 1, "", 0},
                               {0, (const uint8_t *)"b", 1, props.c_str(), (uint32_t)props.size()}};
    bytebuf batch;
    bytebuf_init(&batch);
    ASSERT_EQ(0, msg_batch_encode(&batch, items, 2));
    std::string body((const char *)batch.data, batch.len);
    bytebuf_free(&batch);
    auto made = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", broker->addr(), "-t", "Orders"});
    ASSERT_EQ(0, made.exit_code) << made.err;
    r = p.send("Orders", 0, body, false, "", RC_SEND_BATCH_MESSAGE);
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, r.code);
    EXPECT_NE(std::string::npos, r.remark.find("not in a batch")) << r.remark;
    EXPECT_EQ(0, num(p.runtime(), "transactionHalfPending"));
}

TEST_F(TransactionTest, CheckBackAsksTheProducerStopsAtTheMaximumAndParksForTheOperator) {
    start({"--transactionTimeOut=300", "--transactionCheckInterval=200", "--transactionCheckMax=3"});
    Producer p(broker->port(), "pg");
    ASSERT_EQ(RS_SUCCESS, p.heartbeat());
    auto x = p.send("T", 1, "never-decided");
    auto y = p.send("T", 1, "decided-on-check");
    auto z = p.send("T", 1, "immune", true, std::string("\x02") + "CHECK_IMMUNITY_TIME_IN_SECONDS\x01" "2");
    ASSERT_EQ(RS_SUCCESS, x.code);
    ASSERT_EQ(RS_SUCCESS, y.code);
    ASSERT_EQ(RS_SUCCESS, z.code);
    int64_t sent_ms = now_ms();
    // First check of y: answer commit from the check, as a producer does.
    ASSERT_TRUE(wait_for([&] { p.poll(20); return p.checks_for(y.half_offset) >= 1; }, 5000));
    for (auto &ch : p.checks)
        if (ch.half_offset == y.half_offset) {
            EXPECT_EQ(y.commit_log_offset, ch.commit_log_offset);
            EXPECT_EQ(y.uniq, ch.msg_id);
            EXPECT_EQ(y.uniq, ch.transaction_id);
            EXPECT_EQ(y.offset_msg_id, ch.offset_msg_id);
            EXPECT_EQ("T", ch.topic);
            EXPECT_EQ("T", ch.body_topic); // the body carries the real topic
            EXPECT_EQ("decided-on-check", ch.body);
            // Checked no earlier than transactionTimeOut after the send.
            EXPECT_GE(ch.at_ms - sent_ms, 250);
            fprintf(stderr, "first check %lld ms after the send (transactionTimeOut 300)\n",
                    (long long)(ch.at_ms - sent_ms));
            break;
        }
    p.end(y.half_offset, y.commit_log_offset, MSG_SYSFLAG_TX_COMMIT, y.uniq, true, true);
    // x is checked exactly transactionCheckMax times, then parked.
    ASSERT_TRUE(wait_for([&] { p.poll(20); return num(p.runtime(), "transactionParked") == 1; }, 10000));
    p.poll(600); // three more intervals: nothing else for x or y
    EXPECT_EQ(3u, p.checks_for(x.half_offset));
    EXPECT_EQ(1u, p.checks_for(y.half_offset));
    // z's immunity (2 s) holds back its first check.
    ASSERT_TRUE(wait_for([&] { p.poll(20); return p.checks_for(z.half_offset) >= 1; }, 5000));
    for (auto &ch : p.checks)
        if (ch.half_offset == z.half_offset) {
            EXPECT_GE(ch.at_ms - sent_ms, 1900);
            break;
        }
    p.end(z, MSG_SYSFLAG_TX_ROLLBACK);
    ASSERT_TRUE(has_messages(p, "T", 1, 1));
    EXPECT_EQ(std::vector<std::string>{"decided-on-check"}, p.all("T", 1));

    // The operator sees x parked with its checks, and commits it by hand.
    auto q = c.mqadmin({"queryTransaction", "-n", c.namesrv_list(), "-b", broker->addr(), "-p"});
    ASSERT_EQ(0, q.exit_code) << q.err;
    EXPECT_NE(std::string::npos, q.out.find(x.uniq)) << q.out;
    EXPECT_NE(std::string::npos, q.out.find("1 parked")) << q.out;
    q = c.mqadmin({"queryTransaction", "-n", c.namesrv_list(), "-c", "DefaultCluster", "-p", "--json"});
    ASSERT_EQ(0, q.exit_code) << q.err;
    EXPECT_NE(std::string::npos, q.out.find("\"msgId\": \"" + x.uniq + "\"")) << q.out;
    EXPECT_NE(std::string::npos, q.out.find("\"checkTimes\": 3")) << q.out;
    q = c.mqadmin({"queryTransaction", "-n", c.namesrv_list(), "-b", broker->addr(), "-g", "pg", "--json"});
    ASSERT_EQ(0, q.exit_code) << q.err;
    EXPECT_NE(std::string::npos, q.out.find("\"total\": 0")) << q.out; // nothing pending
    auto rt = p.runtime();
    EXPECT_EQ(1, num(rt, "transactionParked"));
    EXPECT_EQ(0, num(rt, "transactionHalfPending"));
    EXPECT_GE(num(rt, "transactionChecksSent"), 5);
    EXPECT_NE(std::string::npos, broker->log().find("parked 1 half message")) << broker->log();
    q = c.mqadmin({"resolveTransaction", "-n", c.namesrv_list(), "-b", broker->addr(), "-i", x.uniq, "-a", "commit"});
    ASSERT_EQ(0, q.exit_code) << q.err;
    EXPECT_NE(std::string::npos, q.out.find("committed")) << q.out;
    ASSERT_TRUE(has_messages(p, "T", 1, 2));
    EXPECT_EQ((std::vector<std::string>{"decided-on-check", "never-decided"}), p.all("T", 1));
    q = c.mqadmin({"resolveTransaction", "-n", c.namesrv_list(), "-b", broker->addr(), "-i", x.uniq, "-a", "rollback"});
    EXPECT_EQ(1, q.exit_code) << q.out;
    EXPECT_NE(std::string::npos, q.err.find("already resolved")) << q.err;
    EXPECT_EQ(0, num(p.runtime(), "transactionParked"));
    // The parked state survives a restart of the broker, resolution too.
    auto w = p.send("T", 1, "parked-then-restart");
    ASSERT_TRUE(wait_for([&] { p.poll(20); return num(p.runtime(), "transactionParked") == 1; }, 10000));
    ASSERT_TRUE(broker->restart());
    Producer p2(broker->port(), "pg");
    ASSERT_EQ(RS_SUCCESS, p2.heartbeat());
    EXPECT_EQ(1, num(p2.runtime(), "transactionParked"));
    p2.poll(500);
    EXPECT_EQ(0u, p2.checks.size()); // parked messages are never checked again
    q = c.mqadmin({"resolveTransaction", "-n", c.namesrv_list(), "-b", broker->addr(), "-i", w.offset_msg_id, "-a",
                   "rollback"});
    ASSERT_EQ(0, q.exit_code) << q.err;
    EXPECT_EQ(0, num(p2.runtime(), "transactionParked"));
    EXPECT_EQ((std::vector<std::string>{"decided-on-check", "never-decided"}), p2.all("T", 1));
}

TEST_F(TransactionTest, Kill9BeforeAndAfterDecisionsResolvesEachTransactionOnce) {
    start({"--flushDiskType=SYNC_FLUSH", "--transactionTimeOut=1000", "--transactionCheckInterval=200",
           "--transactionCheckMax=1000"});
    std::vector<Producer::Sent> h;
    {
        Producer p(broker->port(), "pg");
        for (int i = 0; i < 6; i++) {
            h.push_back(p.send("T", 0, "m" + std::to_string(i)));
            ASSERT_EQ(RS_SUCCESS, h.back().code) << h.back().remark;
        }
        // Decided before the crash (answers come after fsync under SYNC_FLUSH).
        ASSERT_EQ(RS_SUCCESS, p.end(h[0], MSG_SYSFLAG_TX_COMMIT).code());
        ASSERT_EQ(RS_SUCCESS, p.end(h[1], MSG_SYSFLAG_TX_ROLLBACK).code());
    }
    broker->kill9(); // m2..m5 undecided
    ASSERT_TRUE(broker->start());
    {
        Producer p(broker->port(), "pg");
        ASSERT_EQ(RS_SUCCESS, p.heartbeat());
        EXPECT_EQ(4, num(p.runtime(), "transactionHalfPending"));
        // Only undecided ones are checked; decide m2 and m3 from the checks.
        ASSERT_TRUE(wait_for([&] {
            p.poll(20);
            return p.checks_for(h[2].half_offset) && p.checks_for(h[3].half_offset) && p.checks_for(h[4].half_offset);
        }, 10000));
        EXPECT_EQ(0u, p.checks_for(h[0].half_offset));
        EXPECT_EQ(0u, p.checks_for(h[1].half_offset));
        ASSERT_EQ(RS_SUCCESS, p.end(h[2], MSG_SYSFLAG_TX_COMMIT).code());
        ASSERT_EQ(RS_SUCCESS, p.end(h[3], MSG_SYSFLAG_TX_ROLLBACK).code());
        // m4 committed and the broker killed at once: between decision and dispatch.
        ASSERT_EQ(RS_SUCCESS, p.end(h[4], MSG_SYSFLAG_TX_COMMIT).code());
        broker->kill9();
    }
    ASSERT_TRUE(broker->start());
    Producer p(broker->port(), "pg");
    ASSERT_EQ(RS_SUCCESS, p.heartbeat());
    EXPECT_EQ(1, num(p.runtime(), "transactionHalfPending")); // m5
    ASSERT_TRUE(wait_for([&] { p.poll(20); return p.checks_for(h[5].half_offset) >= 1; }, 10000));
    ASSERT_EQ(RS_SUCCESS, p.end(h[5], MSG_SYSFLAG_TX_COMMIT).code());
    p.poll(1500); // past timeout + interval: no check for anything decided
    for (int i = 0; i < 5; i++)
        EXPECT_EQ(0u, p.checks_for(h[i].half_offset)) << "m" << i;
    EXPECT_EQ(1u, p.checks_for(h[5].half_offset));
    ASSERT_TRUE(has_messages(p, "T", 0, 3));
    EXPECT_EQ((std::vector<std::string>{"m0", "m2", "m4", "m5"}), p.all("T", 0));
    // Repeated decisions after the restarts still change nothing.
    for (int i = 0; i < 6; i++)
        EXPECT_NE(std::string::npos, p.end(h[i], MSG_SYSFLAG_TX_COMMIT).remark().find("already resolved"));
    EXPECT_EQ((std::vector<std::string>{"m0", "m2", "m4", "m5"}), p.all("T", 0));
    EXPECT_EQ(0, num(p.runtime(), "transactionHalfPending"));
}

// T2: a commit whose op record survived a crash but whose real message did
// not (the tail of the CommitLog torn off at the real message) is redone at
// start: the message appears exactly once.
TEST_F(TransactionTest, CommitWhoseMessageWasTornOffIsRedoneAtStart) {
    start({"--flushDiskType=SYNC_FLUSH", "--transactionTimeOut=600000"});
    Producer::Sent s;
    int64_t real_phys = -1;
    {
        Producer p(broker->port(), "pg");
        s = p.send("T", 0, "torn");
        ASSERT_EQ(RS_SUCCESS, s.code) << s.remark;
        ASSERT_EQ(RS_SUCCESS, p.end(s, MSG_SYSFLAG_TX_COMMIT).code());
        ASSERT_TRUE(has_messages(p, "T", 0, 1));
        auto got = p.pull("T", 0, 0);
        ASSERT_EQ(1u, got.bodies.size());
        real_phys = got.phys[0];
    }
    broker->kill9();
    // Tear the CommitLog at the real message: TOTALSIZE 0 is the end of the log.
    std::string seg = c.dir() + "/broker-a-0-store/commitlog/00000000000000000000";
    int fd = open(seg.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << seg;
    uint32_t zero = 0;
    ASSERT_EQ(4, pwrite(fd, &zero, 4, real_phys));
    fsync(fd);
    close(fd);
    ASSERT_TRUE(broker->start());
    EXPECT_TRUE(broker->wait_log("message rewritten")) << broker->log();
    Producer p(broker->port(), "pg");
    ASSERT_TRUE(has_messages(p, "T", 0, 1));
    p.poll(200);
    EXPECT_EQ(std::vector<std::string>{"torn"}, p.all("T", 0));
    EXPECT_EQ(0, num(p.runtime(), "transactionHalfPending"));
    EXPECT_NE(std::string::npos, p.end(s, MSG_SYSFLAG_TX_COMMIT).remark().find("already resolved"));
    // And a second restart does not redo it again.
    ASSERT_TRUE(broker->restart());
    Producer p2(broker->port(), "pg");
    EXPECT_EQ(std::vector<std::string>{"torn"}, p2.all("T", 0));
}

// A transactional message with a delay level is delayed from its commit
// (RocketMQ refuses the combination); a bad delay is refused at the half send.
TEST_F(TransactionTest, ADelayedTransactionalMessageIsDelayedFromItsCommit) {
    start({"--transactionTimeOut=600000"});
    Producer p(broker->port(), "pg");
    auto bad = p.send("T", 0, "bad", true, std::string("\x02") + "DELAY\x01" "x");
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, bad.code) << bad.remark;
    auto d = p.send("T", 0, "delayed", true, std::string("\x02") + "DELAY\x01" "2"); // level 2: 5 s
    ASSERT_EQ(RS_SUCCESS, d.code) << d.remark;
    int64_t committed = mono_ms();
    ASSERT_EQ(RS_SUCCESS, p.end(d, MSG_SYSFLAG_TX_COMMIT).code());
    p.poll(1000);
    EXPECT_EQ(0, p.max_offset("T", 0)); // not yet
    ASSERT_TRUE(wait_for([&] { return p.max_offset("T", 0) >= 1; }, 15000));
    EXPECT_GE(mono_ms() - committed, 4500);
    EXPECT_EQ(std::vector<std::string>{"delayed"}, p.all("T", 0));
    EXPECT_NE(std::string::npos, p.end(d, MSG_SYSFLAG_TX_COMMIT).remark().find("already resolved"));
}

} // namespace
