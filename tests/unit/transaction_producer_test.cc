// transaction_producer_test.cc - the transactional producer
// (client/transaction_producer.c) against a fake broker and nameserver on
// loopback: what the half message and END_TRANSACTION carry, which thread
// runs which callback, and how CHECK_TRANSACTION_STATE requests the broker
// sends over the producer's connection are answered (or refused).

#include <gtest/gtest.h>

#include <pthread.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fake_cluster.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "message.h"
#include "mq/transaction.h"
}

namespace {

struct RecordedEnd {
    bool oneway;
    std::string group, msg_id, transaction_id, topic;
    int64_t tran_state_offset, commit_log_offset;
    int32_t type;
    bool from_check;
};

// What the fake broker saw of END_TRANSACTION, and how it answers.
struct EndLog {
    std::mutex m;
    std::vector<RecordedEnd> ends;
    std::atomic<int> answer{RS_SUCCESS};

    static void on_end(rm_conn *c, const rm_cmd *req, void *arg) {
        EndLog *self = static_cast<EndLog *>(arg);
        const Mq__EndTransactionRequestHeader *e = req->hdr->end_transaction;
        RecordedEnd r;
        r.oneway = (req->hdr->flag & RM_FLAG_ONEWAY) != 0;
        r.group = e->producergroup ? e->producergroup : "";
        r.msg_id = e->msgid ? e->msgid : "";
        r.transaction_id = e->transactionid ? e->transactionid : "";
        r.topic = e->topic ? e->topic : "";
        r.tran_state_offset = e->has_transtatetableoffset ? e->transtatetableoffset : -1;
        r.commit_log_offset = e->has_commitlogoffset ? e->commitlogoffset : -1;
        r.type = e->has_commitorrollback ? e->commitorrollback : -1;
        r.from_check = e->has_fromtransactioncheck && e->fromtransactioncheck;
        {
            std::lock_guard<std::mutex> g(self->m);
            self->ends.push_back(r);
        }
        int st = self->answer;
        rm_reply_status(c, req, st, st == RS_SUCCESS ? nullptr : "scripted END_TRANSACTION failure");
    }
    size_t size() {
        std::lock_guard<std::mutex> g(m);
        return ends.size();
    }
    RecordedEnd at(size_t i) {
        std::lock_guard<std::mutex> g(m);
        return ends.at(i);
    }
};

// The listener: scripted outcomes, and where each callback ran.
struct Script {
    std::atomic<int> execute_state{MQ_TRANSACTION_COMMIT};
    std::atomic<int> check_state{MQ_TRANSACTION_COMMIT};
    std::atomic<int> executes{0}, checks{0};
    std::mutex m;
    std::vector<std::string> execute_ids, check_ids, check_bodies, check_threads;
    pthread_t execute_thread{};
    void *last_send_arg = nullptr;

    static mq_transaction_state execute(const mq_message *msg, const char *txid, void *send_arg, void *arg) {
        Script *s = static_cast<Script *>(arg);
        (void)msg;
        std::lock_guard<std::mutex> g(s->m);
        s->execute_ids.push_back(txid);
        s->execute_thread = pthread_self();
        s->last_send_arg = send_arg;
        s->executes++;
        return (mq_transaction_state)s->execute_state.load();
    }
    static mq_transaction_state check(const mq_message_ext *msg, void *arg) {
        Script *s = static_cast<Script *>(arg);
        char name[32] = "";
        pthread_getname_np(pthread_self(), name, sizeof name);
        size_t len = 0;
        const char *body = (const char *)mq_message_ext_body(msg, &len);
        std::lock_guard<std::mutex> g(s->m);
        s->check_ids.push_back(mq_message_ext_msg_id(msg));
        s->check_bodies.push_back(std::string(body, len));
        s->check_threads.push_back(name);
        s->checks++;
        return (mq_transaction_state)s->check_state.load();
    }
};

class TransactionProducerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log_set_level(LOG_ERROR);
        b = std::make_unique<FakeBroker>("broker-a");
        b->lt.run([&] { rm_dispatch_on(b->d, RC_END_TRANSACTION, EndLog::on_end, &ends); });
        ns.set_route("T", {{"broker-a", b->addr(), 1, 1, 6}});
    }
    void TearDown() override {
        for (auto *tp : tps)
            mq_transaction_producer_destroy(tp);
    }
    mq_transaction_producer *start(const char *group = "TPG", bool wait_end = false) {
        mq_transaction_producer_options o;
        mq_transaction_producer_options_init(&o);
        o.producer.send_timeout_ms = 2000;
        o.check_thread_count = 2;
        o.end_transaction_wait = wait_end;
        mq_transaction_listener l = {Script::execute, Script::check, &script};
        mq_transaction_producer *tp = nullptr;
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_transaction_producer_new(group, ns.addr().c_str(), &o, &l, &tp, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_transaction_producer_start(tp, &err)) << err.message;
        tps.push_back(tp);
        return tp;
    }
    static mq_message *msg(const std::string &body) {
        mq_message *m = mq_message_new("T");
        mq_message_set_body(m, body.data(), body.size(), nullptr);
        mq_message_set_keys(m, "order-1", nullptr);
        return m;
    }
    // Sends one transactional message with body; expects success.
    mq_transaction_send_result send_ok(mq_transaction_producer *tp, const std::string &body) {
        mq_message *m = msg(body);
        mq_transaction_send_result r{};
        mq_error err{};
        EXPECT_EQ(MQ_OK, mq_transaction_producer_send(tp, m, nullptr, &r, &err)) << err.message;
        mq_message_destroy(m);
        return r;
    }
    // The client id of tp, once the broker holds a connection from it.
    std::string known_client(mq_transaction_producer *tp) {
        std::string id = mq_producer_client_id(mq_transaction_producer_producer(tp));
        EXPECT_TRUE(wait_for([&] { return b->with_lock([&] { return b->client_conns.count(id) > 0; }); }));
        return id;
    }
    static std::string prop(const std::string &props, const std::string &name) {
        const char *v;
        size_t vl;
        if (!msg_prop_get(props.data(), props.size(), name.c_str(), &v, &vl))
            return "<none>";
        return std::string(v, vl);
    }
    // Sends CHECK_TRANSACTION_STATE (oneway, as a broker does) to the client
    // with this id, for the stored half message at queue offset off of T.
    bool check_back(const std::string &client_id, int64_t off, const std::string &txid) {
        bool sent = false;
        b->lt.run([&] {
            std::vector<uint8_t> rec;
            {
                std::lock_guard<std::mutex> g(b->m);
                auto q = b->queues.find({"T", 0});
                if (q == b->queues.end() || (size_t)off >= q->second.size())
                    return;
                rec = q->second[(size_t)off].record;
            }
            auto c = b->client_conns.find(client_id);
            if (c == b->client_conns.end() || !rm_conn_is_open(c->second))
                return;
            msg_record r;
            msg_decode(rec.data(), rec.size(), false, &r);
            Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
            Mq__CheckTransactionStateRequestHeader ch = MQ__CHECK_TRANSACTION_STATE_REQUEST_HEADER__INIT;
            h.code = RC_CHECK_TRANSACTION_STATE;
            h.has_code = 1;
            h.ext_case = MQ__REMOTING_HEADER__EXT_CHECK_TRANSACTION_STATE;
            h.check_transaction_state = &ch;
            ch.transtatetableoffset = off;
            ch.has_transtatetableoffset = 1;
            ch.commitlogoffset = r.physical_offset;
            ch.has_commitlogoffset = 1;
            ch.transactionid = (char *)txid.c_str();
            ch.msgid = (char *)txid.c_str();
            sent = rm_oneway(c->second, &h, rec.data(), rec.size()) == RM_OK;
        });
        return sent;
    }
    FakeNamesrv ns;
    std::unique_ptr<FakeBroker> b;
    EndLog ends;
    Script script;
    std::vector<mq_transaction_producer *> tps;
};

TEST_F(TransactionProducerTest, HalfMessageThenExecuteThenOnewayCommit) {
    mq_transaction_producer *tp = start();
    mq_message *m = msg("order 1");
    int send_arg = 7;
    mq_transaction_send_result r;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_transaction_producer_send(tp, m, &send_arg, &r, &err)) << err.message;
    mq_message_destroy(m);

    // The half message: prepared sysflag, TRAN_MSG and PGROUP, its own UNIQ_KEY.
    auto sent = b->with_lock([&] { return b->sends; });
    ASSERT_EQ(1u, sent.size());
    EXPECT_EQ(MSG_SYSFLAG_TX_PREPARED, sent[0].sysflag);
    EXPECT_EQ("TPG", sent[0].group);
    EXPECT_EQ("true", prop(sent[0].properties, "TRAN_MSG"));
    EXPECT_EQ("TPG", prop(sent[0].properties, "PGROUP"));
    EXPECT_EQ("order-1", prop(sent[0].properties, "KEYS"));
    EXPECT_EQ(r.send.msg_id, prop(sent[0].properties, "UNIQ_KEY"));

    // execute ran on this thread with the transaction id and the send arg.
    EXPECT_EQ(1, script.executes.load());
    EXPECT_TRUE(pthread_equal(script.execute_thread, pthread_self()));
    EXPECT_EQ(&send_arg, script.last_send_arg);
    EXPECT_EQ(std::string(r.send.msg_id), script.execute_ids.at(0));
    EXPECT_TRUE(r.executed);
    EXPECT_EQ(MQ_TRANSACTION_COMMIT, r.state);
    EXPECT_EQ(MQ_OK, r.end_rc);

    // END_TRANSACTION: oneway, commit, the half message's offsets and ids.
    ASSERT_TRUE(wait_for([&] { return ends.size() == 1; }));
    RecordedEnd e = ends.at(0);
    EXPECT_TRUE(e.oneway);
    EXPECT_EQ("TPG", e.group);
    EXPECT_EQ(MSG_SYSFLAG_TX_COMMIT, e.type);
    EXPECT_FALSE(e.from_check);
    EXPECT_EQ(r.send.queue_offset, e.tran_state_offset);
    EXPECT_EQ(0, e.commit_log_offset); // first record of the fake CommitLog
    EXPECT_EQ(r.send.msg_id, e.msg_id);
    EXPECT_EQ(r.send.msg_id, e.transaction_id);
    EXPECT_EQ("T", e.topic);

    mq_transaction_stats st;
    mq_transaction_producer_stats(tp, &st);
    EXPECT_EQ(1u, st.sent);
    EXPECT_EQ(1u, st.committed);
}

TEST_F(TransactionProducerTest, RollbackAndUnknownReportTheirTypes) {
    mq_transaction_producer *tp = start();
    script.execute_state = MQ_TRANSACTION_ROLLBACK;
    mq_transaction_send_result r1 = send_ok(tp, "x");
    script.execute_state = MQ_TRANSACTION_UNKNOWN;
    mq_transaction_send_result r2 = send_ok(tp, "x");
    script.execute_state = 42; // not a state: taken as UNKNOWN
    mq_transaction_send_result r3 = send_ok(tp, "x");
    EXPECT_EQ(MQ_TRANSACTION_ROLLBACK, r1.state);
    EXPECT_EQ(MQ_TRANSACTION_UNKNOWN, r2.state);
    EXPECT_EQ(MQ_TRANSACTION_UNKNOWN, r3.state);
    ASSERT_TRUE(wait_for([&] { return ends.size() == 3; }));
    EXPECT_EQ(MSG_SYSFLAG_TX_ROLLBACK, ends.at(0).type);
    EXPECT_EQ(MSG_SYSFLAG_TX_NOT, ends.at(1).type);
    EXPECT_EQ(MSG_SYSFLAG_TX_NOT, ends.at(2).type);
    EXPECT_EQ(1, ends.at(1).tran_state_offset);
    EXPECT_GT(ends.at(1).commit_log_offset, 0);
    EXPECT_NE(r1.send.msg_id, std::string(r2.send.msg_id));
}

TEST_F(TransactionProducerTest, UnconfirmedFlushRollsBackWithoutExecuting) {
    mq_transaction_producer *tp = start();
    b->send_status = RS_FLUSH_DISK_TIMEOUT;
    b->send_status_times = 1;
    mq_transaction_send_result r = send_ok(tp, "x");
    EXPECT_EQ(MQ_SEND_FLUSH_DISK_TIMEOUT, r.send.status);
    EXPECT_FALSE(r.executed);
    EXPECT_EQ(0, script.executes.load());
    EXPECT_EQ(MQ_TRANSACTION_ROLLBACK, r.state);
    ASSERT_TRUE(wait_for([&] { return ends.size() == 1; }));
    EXPECT_EQ(MSG_SYSFLAG_TX_ROLLBACK, ends.at(0).type);
}

TEST_F(TransactionProducerTest, FailedHalfSendRunsNothing) {
    mq_transaction_producer *tp = start();
    b->send_status = RS_MESSAGE_ILLEGAL; // not retried
    mq_message *m = msg("x");
    mq_error err{};
    EXPECT_EQ(MQ_EBROKER, mq_transaction_producer_send(tp, m, nullptr, nullptr, &err));
    EXPECT_EQ(RS_MESSAGE_ILLEGAL, err.status);
    EXPECT_NE(std::string::npos, std::string(err.message).find("MESSAGE_ILLEGAL")) << err.message;
    mq_message_destroy(m);
    EXPECT_EQ(0, script.executes.load());
    EXPECT_EQ(0u, ends.size());
}

TEST_F(TransactionProducerTest, BadUseIsRefusedWithAReason) {
    mq_error err{};
    mq_transaction_producer *tp = nullptr;
    mq_transaction_listener half = {Script::execute, nullptr, &script};
    EXPECT_EQ(MQ_EINVAL, mq_transaction_producer_new("TPG", ns.addr().c_str(), nullptr, &half, &tp, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("check")) << err.message;

    tp = start();
    mq_message *m = msg("x");
    mq_message_set_delay_level(m, 3, nullptr);
    EXPECT_EQ(MQ_EINVAL, mq_transaction_producer_send(tp, m, nullptr, nullptr, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("delay")) << err.message;
    mq_message_destroy(m);
    EXPECT_EQ(0u, b->with_lock([&] { return b->sends.size(); }));

    mq_transaction_producer_shutdown(tp);
    m = msg("x");
    EXPECT_EQ(MQ_ESTATE, mq_transaction_producer_send(tp, m, nullptr, nullptr, &err));
    mq_message_destroy(m);
}

TEST_F(TransactionProducerTest, WaitedEndTransactionReportsTheBrokersRefusal) {
    mq_transaction_producer *tp = start("TPG", true);
    ends.answer = RS_SYSTEM_ERROR;
    mq_transaction_send_result r = send_ok(tp, "x");
    EXPECT_EQ(MQ_EBROKER, r.end_rc);
    EXPECT_NE(std::string::npos, std::string(r.end_error.message).find("scripted")) << r.end_error.message;
    ASSERT_EQ(1u, ends.size());
    EXPECT_FALSE(ends.at(0).oneway);
    mq_transaction_stats st;
    mq_transaction_producer_stats(tp, &st);
    EXPECT_EQ(1u, st.end_failures);
}

TEST_F(TransactionProducerTest, CheckBackRunsOnACheckThreadAndAnswers) {
    mq_transaction_producer *tp = start();
    script.execute_state = MQ_TRANSACTION_UNKNOWN;
    mq_transaction_send_result r = send_ok(tp, "order 9");
    std::string id = known_client(tp);

    script.check_state = MQ_TRANSACTION_ROLLBACK;
    ASSERT_TRUE(check_back(id, 0, r.send.msg_id));
    ASSERT_TRUE(wait_for([&] { return ends.size() == 2; }));
    RecordedEnd e = ends.at(1);
    EXPECT_TRUE(e.oneway);
    EXPECT_TRUE(e.from_check);
    EXPECT_EQ(MSG_SYSFLAG_TX_ROLLBACK, e.type);
    EXPECT_EQ("TPG", e.group);
    EXPECT_EQ(0, e.tran_state_offset);
    EXPECT_EQ(0, e.commit_log_offset);
    EXPECT_EQ(r.send.msg_id, e.msg_id);
    EXPECT_EQ(r.send.msg_id, e.transaction_id);
    {
        std::lock_guard<std::mutex> g(script.m);
        ASSERT_EQ(1u, script.check_ids.size());
        EXPECT_EQ(r.send.msg_id, script.check_ids[0]);
        EXPECT_EQ("order 9", script.check_bodies[0]);
        EXPECT_EQ(0u, script.check_threads[0].rfind("mq-txcheck", 0)) << script.check_threads[0];
    }
    mq_transaction_stats st;
    // the answer is counted just after it is written, so the broker may see it first
    EXPECT_TRUE(wait_for([&] { mq_transaction_producer_stats(tp, &st); return st.checks_answered == 1; }));
    EXPECT_EQ(1u, st.checks);
    EXPECT_EQ(1u, st.checks_answered);
}

TEST_F(TransactionProducerTest, AnotherMemberThatOnlyAnnouncedAnswersChecks) {
    mq_transaction_producer *sender = start();
    script.execute_state = MQ_TRANSACTION_UNKNOWN;
    mq_transaction_send_result r = send_ok(sender, "order 5");

    mq_transaction_producer *other = start();
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_transaction_producer_announce(other, "T", &err)) << err.message;
    std::string id = known_client(other);
    ASSERT_TRUE(check_back(id, 0, r.send.msg_id));
    ASSERT_TRUE(wait_for([&] { return ends.size() == 2; }));
    EXPECT_TRUE(ends.at(1).from_check);
    EXPECT_EQ(MSG_SYSFLAG_TX_COMMIT, ends.at(1).type);
    mq_transaction_stats st;
    // the answer is counted just after it is written, so the broker may see it first
    EXPECT_TRUE(wait_for([&] { mq_transaction_producer_stats(other, &st); return st.checks_answered == 1; }));
    EXPECT_EQ(1u, st.checks_answered);
    EXPECT_EQ(0u, st.sent);
}

TEST_F(TransactionProducerTest, ChecksForAnotherGroupOrWithoutMessageAreDropped) {
    mq_transaction_producer *tp = start("TPG");
    mq_error err{};
    // A half message of group OTHER, stored directly on the broker.
    b->add_message("T", 0, "foreign", "", "", "PGROUP\x01OTHER\x02TRAN_MSG\x01true");
    ASSERT_EQ(MQ_OK, mq_transaction_producer_announce(tp, "T", &err)) << err.message;
    std::string id = known_client(tp);
    ASSERT_TRUE(check_back(id, 0, "X"));
    // And one with no body at all.
    b->lt.run([&] {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__CheckTransactionStateRequestHeader ch = MQ__CHECK_TRANSACTION_STATE_REQUEST_HEADER__INIT;
        h.code = RC_CHECK_TRANSACTION_STATE;
        h.has_code = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_CHECK_TRANSACTION_STATE;
        h.check_transaction_state = &ch;
        rm_oneway(b->client_conns[id], &h, nullptr, 0);
    });
    mq_transaction_stats st;
    ASSERT_TRUE(wait_for([&] {
        mq_transaction_producer_stats(tp, &st);
        return st.checks_dropped == 2;
    }));
    EXPECT_EQ(2u, st.checks);
    EXPECT_EQ(0, script.checks.load());
    EXPECT_EQ(0u, ends.size());
}

} // namespace
