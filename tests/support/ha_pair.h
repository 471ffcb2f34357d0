// ha_pair.h - the fixture base of the replication tests (ha_test,
// failover_test, ha_read_test): a nameserver and one broker group, master
// broker-a (id 0) and its slave (id 1), as real processes on free loopback
// ports, with an admin handle, a broker's runtime keys, pausing a process
// and a push-consumer listener that records bodies into Receipts.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cluster.h"
#include "receipts.h"
#include "wait.h"

extern "C" {
#include "log.h"
#include "mq/admin.h"
#include "mq/consumer.h"
#include "mq/producer.h"
}

class HaPairTest : public ::testing::Test {
  protected:
    explicit HaPairTest(const char *name) : c(name) {}
    ~HaPairTest() override {
        for (auto *pc : consumers)
            mq_push_consumer_destroy(pc);
        for (auto *p : producers)
            mq_producer_destroy(p);
        if (admin)
            mq_admin_free(admin);
    }
    void SetUp() override { log_set_level(LOG_ERROR); }

    // Sends body to topic; returns the send status, or -1 if the send failed
    // (why says why).
    static int send_to(mq_producer *p, const char *topic, const std::string &body, std::string *why = nullptr) {
        mq_message *m = mq_message_new(topic);
        mq_message_set_body(m, body.data(), body.size(), nullptr);
        mq_send_result r;
        mq_error err{};
        int rc = mq_producer_send(p, m, &r, &err);
        mq_message_destroy(m);
        if (rc != MQ_OK) {
            if (why)
                *why = err.message;
            return -1;
        }
        return (int)r.status;
    }

    // Starts the nameserver, the master (role) and the slave with `flags` on
    // both, waits until the master has the slave's first offset report (the
    // slave's "connected" line comes earlier, and a SYNC_MASTER send in
    // between answers SLAVE_NOT_AVAILABLE) and creates topic with 4 queues.
    void start_pair(const std::string &role, const std::string &topic, std::vector<std::string> flags,
                    int admin_timeout_ms = 5000) {
        ns = &c.add_namesrv();
        ASSERT_TRUE(ns->start());
        flags.insert(flags.begin(), {"--registerNameServerPeriod=1000", "--haSendHeartbeatInterval=500",
                                     "--haHousekeepingInterval=5000", "--slaveSyncInterval=300"}); // flags win
        std::vector<std::string> mflags = flags;
        mflags.push_back("--brokerRole=" + role);
        master = &c.add_broker("broker-a", c.namesrv_list(), mflags);
        ASSERT_TRUE(master->start());
        ASSERT_GT(master->ha_port(), 0) << "the master logs its HA port";
        slave = &c.add_slave("broker-a", c.namesrv_list(), flags);
        ASSERT_TRUE(slave->start());
        ASSERT_TRUE(slave->wait_log("HA: connected to master", 15000));
        ASSERT_EQ(MQ_OK, mq_admin_new(c.namesrv_list().c_str(), admin_timeout_ms, &admin, nullptr));
        ASSERT_TRUE(wait_for([&] {
            return runtime_ll(master, "haSlaveAckOffset") >= 0 && runtime_ll(master, "haSlaveCount") == 1;
        }, 15000));
        ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", master->addr(), "-t", topic, "-r",
                                  "4", "-w", "4"});
        ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    }

    // A runtime key of a broker (brokerStatus), "" when it does not answer.
    std::string runtime(MqProcess *b, const char *key) {
        mq_kv_list *kv = nullptr;
        if (mq_admin_broker_runtime_info(admin, b->addr().c_str(), &kv, nullptr) != MQ_OK)
            return "";
        const char *v = mq_kv_get(kv, key);
        std::string s = v ? v : "";
        mq_kv_list_free(kv);
        return s;
    }
    long long runtime_ll(MqProcess *b, const char *key) {
        std::string s = runtime(b, key);
        return s.empty() ? -1 : atoll(s.c_str());
    }

    // SIGSTOP, and wait until the kernel has really stopped it (kill returns before).
    static void pause_now(MqProcess *proc) {
        proc->pause();
        ASSERT_TRUE(wait_for([&] {
            std::ifstream f("/proc/" + std::to_string(proc->pid()) + "/stat");
            std::string st;
            std::getline(f, st);
            size_t paren = st.rfind(')');
            return paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'T';
        }));
    }

    // A push-consumer listener: every body into the Receipts given as arg.
    static mq_consume_status record(const mq_message_ext *const *msgs, int n, void *arg) {
        for (int i = 0; i < n; i++) {
            size_t len;
            const char *b = (const char *)mq_message_ext_body(msgs[i], &len);
            static_cast<Receipts *>(arg)->add(std::string(b, len));
        }
        return MQ_CONSUME_SUCCESS;
    }

    MqCluster c;
    MqProcess *ns = nullptr, *master = nullptr, *slave = nullptr;
    mq_admin *admin = nullptr;
    std::vector<mq_producer *> producers;       // destroyed with the fixture
    std::vector<mq_push_consumer *> consumers;  // destroyed with the fixture
};
