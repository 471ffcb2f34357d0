// route_info_test.cc - the nameserver's route tables (nameserver/route_info.c):
// registration of masters and slaves, topic updates driven by the data
// version, unregistration, expiry, closed connections, master replacement,
// and the query results built from them.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "log.h"
#include "route_info.h"
}

namespace {

// Builds the RegisterBrokerBody part of a registration.
struct Topics {
    std::vector<Mq__TopicConfig> cfgs;
    std::vector<Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry> entries;
    std::vector<Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry *> ptrs;
    std::vector<std::string> names;
    Mq__DataVersion dv = MQ__DATA_VERSION__INIT;
    Mq__TopicConfigSerializeWrapper w = MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__INIT;

    Topics(std::vector<std::string> topics, int64_t version, int queues = 4) : names(std::move(topics)) {
        cfgs.resize(names.size());
        entries.resize(names.size());
        for (size_t i = 0; i < names.size(); i++) {
            cfgs[i] = MQ__TOPIC_CONFIG__INIT;
            cfgs[i].topicname = (char *)names[i].c_str();
            cfgs[i].readqueuenums = cfgs[i].writequeuenums = queues;
            cfgs[i].has_readqueuenums = cfgs[i].has_writequeuenums = 1;
            cfgs[i].perm = 6;
            cfgs[i].has_perm = 1;
            entries[i] = MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__TOPIC_CONFIG_TABLE_ENTRY__INIT;
            entries[i].key = (char *)names[i].c_str();
            entries[i].value = &cfgs[i];
        }
        for (auto &e : entries)
            ptrs.push_back(&e);
        dv.timestamp = 1000;
        dv.counter = version;
        dv.has_timestamp = dv.has_counter = 1;
        w.n_topicconfigtable = ptrs.size();
        w.topicconfigtable = ptrs.data();
        w.dataversion = &dv;
    }
};

class RouteInfoTest : public ::testing::Test {
  protected:
    ns_routes *r = nullptr;
    arena a;
    void SetUp() override {
        log_set_level(LOG_ERROR);
        r = ns_routes_new();
        arena_init(&a, 4096);
    }
    void TearDown() override {
        ns_routes_free(r);
        arena_free(&a);
    }

    ns_register_result reg(const char *name, int64_t id, const char *addr, const Topics *t,
                           int64_t now = 0, uint64_t conn = 0, const char *cluster = "DefaultCluster",
                           const char *ha = nullptr, int64_t epoch = 0) {
        ns_broker_reg g{};
        g.epoch = epoch;
        g.cluster = cluster;
        g.broker_name = name;
        g.broker_addr = addr;
        g.ha_addr = ha;
        g.broker_id = id;
        g.topics = t ? &t->w : nullptr;
        g.conn_id = conn;
        g.now_ms = now;
        ns_register_result res;
        char err[256];
        EXPECT_EQ(0, ns_routes_register(r, &g, &res, err, sizeof err)) << err;
        return res;
    }

    // broker name -> queue count, or empty if no route.
    std::map<std::string, int> route(const char *topic) {
        std::map<std::string, int> out;
        Mq__TopicRouteData *rd;
        if (ns_routes_topic_route(r, topic, &a, &rd) == 0)
            for (size_t i = 0; i < rd->n_queuedatas; i++)
                out[rd->queuedatas[i]->brokername] = rd->queuedatas[i]->writequeuenums;
        arena_reset(&a);
        return out;
    }

    // broker name -> {id -> addr} as a route of topic shows it.
    std::map<std::string, std::map<int64_t, std::string>> route_brokers(const char *topic) {
        std::map<std::string, std::map<int64_t, std::string>> out;
        Mq__TopicRouteData *rd;
        if (ns_routes_topic_route(r, topic, &a, &rd) == 0)
            for (size_t i = 0; i < rd->n_brokerdatas; i++)
                for (size_t j = 0; j < rd->brokerdatas[i]->n_brokeraddrs; j++)
                    out[rd->brokerdatas[i]->brokername][rd->brokerdatas[i]->brokeraddrs[j]->key] =
                        rd->brokerdatas[i]->brokeraddrs[j]->value;
        arena_reset(&a);
        return out;
    }

    std::vector<std::string> topics(const char *cluster = nullptr) {
        Mq__TopicList *tl;
        ns_routes_topic_list(r, cluster, &a, &tl);
        std::vector<std::string> out(tl->topiclist, tl->topiclist + tl->n_topiclist);
        arena_reset(&a);
        return out;
    }
};

TEST_F(RouteInfoTest, MastersOfTwoBrokerNamesBothServeATopic) {
    Topics ta({"T1", "T2"}, 1), tb({"T1"}, 1, 8);
    EXPECT_TRUE(reg("broker-a", 0, "10.0.0.1:10911", &ta).new_broker);
    EXPECT_TRUE(reg("broker-b", 0, "10.0.0.2:10911", &tb).new_broker);
    auto r1 = route("T1");
    EXPECT_EQ(2u, r1.size());
    EXPECT_EQ(4, r1["broker-a"]);
    EXPECT_EQ(8, r1["broker-b"]);
    EXPECT_EQ((std::map<std::string, int>{{"broker-a", 4}}), route("T2"));
    EXPECT_TRUE(route("T3").empty());
    EXPECT_EQ((std::vector<std::string>{"T1", "T2"}), topics());
    EXPECT_EQ("10.0.0.2:10911", route_brokers("T1")["broker-b"][0]);
}

TEST_F(RouteInfoTest, SlaveDoesNotChangeQueuesAndLearnsItsMaster) {
    Topics tm({"T1"}, 1), ts({"T1", "OnlyOnSlave"}, 7, 2);
    reg("broker-a", 0, "10.0.0.1:10911", &tm, 0, 0, "DefaultCluster", "10.0.0.1:10912");
    ns_register_result res = reg("broker-a", 1, "10.0.0.9:10911", &ts);
    EXPECT_STREQ("10.0.0.1:10911", res.master_addr);
    EXPECT_STREQ("10.0.0.1:10912", res.ha_addr);
    EXPECT_EQ(4, route("T1")["broker-a"]);
    EXPECT_TRUE(route("OnlyOnSlave").empty());
    auto b = route_brokers("T1")["broker-a"];
    EXPECT_EQ("10.0.0.1:10911", b[0]);
    EXPECT_EQ("10.0.0.9:10911", b[1]);
    // A master's own result names no master.
    EXPECT_STREQ("", reg("broker-a", 0, "10.0.0.1:10911", &tm).master_addr);
}

TEST_F(RouteInfoTest, QueuesChangeOnlyWithANewDataVersion) {
    Topics v1({"T1"}, 1, 4), v1_other({"T1"}, 1, 16), v2({"T1"}, 2, 16);
    reg("broker-a", 0, "10.0.0.1:10911", &v1);
    EXPECT_FALSE(reg("broker-a", 0, "10.0.0.1:10911", &v1_other).topics_updated);
    EXPECT_EQ(4, route("T1")["broker-a"]);
    EXPECT_TRUE(reg("broker-a", 0, "10.0.0.1:10911", &v2).topics_updated);
    EXPECT_EQ(16, route("T1")["broker-a"]);
}

TEST_F(RouteInfoTest, ATopicTheMasterNoLongerListsDisappears) {
    Topics a1({"T1", "T2"}, 1), b1({"T2"}, 1), a2({"T1"}, 2);
    reg("broker-a", 0, "10.0.0.1:10911", &a1);
    reg("broker-b", 0, "10.0.0.2:10911", &b1);
    reg("broker-a", 0, "10.0.0.1:10911", &a2);
    EXPECT_EQ((std::map<std::string, int>{{"broker-b", 4}}), route("T2"));
    Topics b2({}, 2);
    reg("broker-b", 0, "10.0.0.2:10911", &b2);
    EXPECT_TRUE(route("T2").empty());
    EXPECT_EQ((std::vector<std::string>{"T1"}), topics());
}

TEST_F(RouteInfoTest, UnregisterRemovesTheBrokerAndItsQueues) {
    Topics ta({"T1"}, 1), tb({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &ta);
    reg("broker-b", 0, "10.0.0.2:10911", &tb);
    EXPECT_EQ(0, ns_routes_unregister(r, "DefaultCluster", "broker-a", "10.0.0.1:10911", 0));
    EXPECT_EQ((std::map<std::string, int>{{"broker-b", 4}}), route("T1"));
    EXPECT_EQ(-1, ns_routes_unregister(r, "DefaultCluster", "broker-a", "10.0.0.1:10911", 0));
    EXPECT_EQ(0, ns_routes_unregister(r, "DefaultCluster", "broker-b", "10.0.0.2:10911", 0));
    EXPECT_TRUE(route("T1").empty());
    EXPECT_TRUE(topics().empty());
    EXPECT_EQ(0u, ns_routes_live_count(r));
    Mq__ClusterInfo *ci;
    ns_routes_cluster_info(r, &a, &ci);
    EXPECT_EQ(0u, ci->n_brokeraddrtable);
    EXPECT_EQ(0u, ci->n_clusteraddrtable);
}

TEST_F(RouteInfoTest, QueuesStayWhileASlaveOfTheBrokerNameLives) {
    Topics tm({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &tm);
    reg("broker-a", 1, "10.0.0.9:10911", nullptr);
    ns_routes_unregister(r, "DefaultCluster", "broker-a", "10.0.0.1:10911", 0);
    EXPECT_EQ(4, route("T1")["broker-a"]);
    auto b = route_brokers("T1")["broker-a"];
    EXPECT_EQ(1u, b.size());
    EXPECT_EQ("10.0.0.9:10911", b[1]);
}

TEST_F(RouteInfoTest, UnregisterWithAWrongIdLeavesNoStrayAddress) {
    Topics t({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &t);
    EXPECT_EQ(0, ns_routes_unregister(r, "DefaultCluster", "broker-a", "10.0.0.1:10911", 7));
    EXPECT_TRUE(route("T1").empty());
    EXPECT_TRUE(route_brokers("T1").empty());
    reg("broker-a", 0, "10.0.0.1:10911", &t);
    EXPECT_EQ(0, ns_routes_unregister(r, "DefaultCluster", "broker-a", nullptr, 0)); // by name and id
    EXPECT_TRUE(route("T1").empty());
    EXPECT_EQ(0u, ns_routes_live_count(r));
}

TEST_F(RouteInfoTest, SilentBrokersExpire) {
    Topics ta({"T1"}, 1), tb({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &ta, /*now*/ 1000);
    reg("broker-b", 0, "10.0.0.2:10911", &tb, /*now*/ 5000);
    EXPECT_EQ(0, ns_routes_expire(r, 3000, 2000));
    EXPECT_EQ(1, ns_routes_expire(r, 3001, 2000));
    EXPECT_EQ((std::map<std::string, int>{{"broker-b", 4}}), route("T1"));
    reg("broker-b", 0, "10.0.0.2:10911", &tb, /*now*/ 6000); // heartbeat
    EXPECT_EQ(0, ns_routes_expire(r, 7500, 2000));
    EXPECT_EQ(1, ns_routes_expire(r, 8001, 2000));
    EXPECT_TRUE(route("T1").empty());
}

TEST_F(RouteInfoTest, ClosedConnectionDropsItsBrokerAtOnce) {
    Topics ta({"T1"}, 1), tb({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &ta, 0, /*conn*/ 11);
    reg("broker-b", 0, "10.0.0.2:10911", &tb, 0, /*conn*/ 12);
    EXPECT_EQ(0, ns_routes_conn_closed(r, 99));
    EXPECT_EQ(1, ns_routes_conn_closed(r, 11));
    EXPECT_EQ((std::map<std::string, int>{{"broker-b", 4}}), route("T1"));
}

TEST_F(RouteInfoTest, SameAddressWithANewIdReplacesTheOldId) {
    Topics tm({"T1"}, 1), ts({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &tm);
    reg("broker-a", 1, "10.0.0.9:10911", &ts);
    ns_routes_unregister(r, "DefaultCluster", "broker-a", "10.0.0.1:10911", 0); // master gone
    Topics promoted({"T1"}, 5, 2);
    ns_register_result res = reg("broker-a", 0, "10.0.0.9:10911", &promoted); // slave becomes master
    EXPECT_TRUE(res.topics_updated);
    auto b = route_brokers("T1")["broker-a"];
    EXPECT_EQ(1u, b.size());
    EXPECT_EQ("10.0.0.9:10911", b[0]);
    EXPECT_EQ(2, route("T1")["broker-a"]);
}

TEST_F(RouteInfoTest, AMasterOfALowerEpochIsFencedAndLeftOutOfTheRoute) {
    Topics t1({"T1"}, 1), t2({"T1"}, 2);
    reg("broker-a", 0, "10.0.0.1:10911", &t1, 0, 0, "DefaultCluster", "10.0.0.1:10912", 1);
    reg("broker-a", 1, "10.0.0.9:10911", nullptr, 0, 0, "DefaultCluster", "", 1);
    // The slave is promoted with epoch 2: it replaces the master at once.
    ns_register_result res = reg("broker-a", 0, "10.0.0.9:10911", &t2, 0, 0, "DefaultCluster", "10.0.0.9:10912", 2);
    EXPECT_FALSE(res.fenced);
    auto b = route_brokers("T1")["broker-a"];
    ASSERT_EQ(1u, b.size());
    EXPECT_EQ("10.0.0.9:10911", b[0]);
    // The old master (epoch 1) registers again: fenced, told who leads, not routed.
    res = reg("broker-a", 0, "10.0.0.1:10911", &t1, 0, 0, "DefaultCluster", "10.0.0.1:10912", 1);
    EXPECT_TRUE(res.fenced);
    EXPECT_EQ(2, res.master_epoch);
    EXPECT_EQ(std::string("10.0.0.9:10911"), res.master_addr);
    EXPECT_EQ(std::string("10.0.0.9:10912"), res.ha_addr);
    EXPECT_EQ(1, res.slave_id);
    b = route_brokers("T1")["broker-a"];
    ASSERT_EQ(1u, b.size());
    EXPECT_EQ("10.0.0.9:10911", b[0]);
    // As a slave it is welcome, and the next free id is then 2.
    res = reg("broker-a", 1, "10.0.0.1:10911", nullptr, 0, 0, "DefaultCluster", "", 2);
    EXPECT_FALSE(res.fenced);
    EXPECT_EQ(std::string("10.0.0.9:10911"), res.master_addr);
    res = reg("broker-a", 0, "10.0.0.5:10911", &t1, 0, 0, "DefaultCluster", "", 0); // an old version: epoch 0
    EXPECT_TRUE(res.fenced);
    EXPECT_EQ(2, res.slave_id);
    // A restarted nameserver relearns the epoch from the first master that registers.
    ns_routes_free(r);
    r = ns_routes_new();
    EXPECT_FALSE(reg("broker-a", 0, "10.0.0.9:10911", &t2, 0, 0, "DefaultCluster", "", 2).fenced);
    EXPECT_TRUE(reg("broker-a", 0, "10.0.0.1:10911", &t1, 0, 0, "DefaultCluster", "", 1).fenced);
}

TEST_F(RouteInfoTest, ClusterInfoAndTopicsByCluster) {
    Topics ta({"T1", "TA"}, 1), tb({"T1", "TB"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &ta, 0, 0, "c1");
    reg("broker-b", 0, "10.0.0.2:10911", &tb, 0, 0, "c2");
    reg("broker-b", 1, "10.0.0.3:10911", nullptr, 0, 0, "c2");
    Mq__ClusterInfo *ci;
    ns_routes_cluster_info(r, &a, &ci);
    std::map<std::string, std::set<std::string>> clusters;
    for (size_t i = 0; i < ci->n_clusteraddrtable; i++)
        for (size_t j = 0; j < ci->clusteraddrtable[i]->value->n_brokernames; j++)
            clusters[ci->clusteraddrtable[i]->key].insert(ci->clusteraddrtable[i]->value->brokernames[j]);
    EXPECT_EQ((std::set<std::string>{"broker-a"}), clusters["c1"]);
    EXPECT_EQ((std::set<std::string>{"broker-b"}), clusters["c2"]);
    ASSERT_EQ(2u, ci->n_brokeraddrtable);
    arena_reset(&a);
    EXPECT_EQ((std::vector<std::string>{"T1", "TA"}), topics("c1"));
    EXPECT_EQ((std::vector<std::string>{"T1", "TB"}), topics("c2"));
    EXPECT_TRUE(topics("nope").empty());
}

TEST_F(RouteInfoTest, DeleteTopicEverywhereOrPerCluster) {
    Topics ta({"T1"}, 1), tb({"T1"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &ta, 0, 0, "c1");
    reg("broker-b", 0, "10.0.0.2:10911", &tb, 0, 0, "c2");
    EXPECT_EQ(0, ns_routes_delete_topic(r, "T1", "c1"));
    EXPECT_EQ((std::map<std::string, int>{{"broker-b", 4}}), route("T1"));
    EXPECT_EQ(0, ns_routes_delete_topic(r, "T1", nullptr));
    EXPECT_TRUE(route("T1").empty());
    EXPECT_EQ(-1, ns_routes_delete_topic(r, "T1", nullptr));
}

TEST_F(RouteInfoTest, BadRegistrationsAreRefusedAndChangeNothing) {
    ns_broker_reg g{};
    ns_register_result res;
    char err[256];
    g.cluster = "DefaultCluster";
    g.broker_name = "broker-a";
    g.broker_addr = nullptr;
    EXPECT_EQ(-1, ns_routes_register(r, &g, &res, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("brokerAddr"));
    g.broker_addr = "no-port";
    EXPECT_EQ(-1, ns_routes_register(r, &g, &res, err, sizeof err));
    g.broker_addr = "10.0.0.1:10911";
    g.broker_id = -3;
    EXPECT_EQ(-1, ns_routes_register(r, &g, &res, err, sizeof err));
    std::string long_name(300, 'x');
    g.broker_id = 0;
    g.broker_name = long_name.c_str();
    EXPECT_EQ(-1, ns_routes_register(r, &g, &res, err, sizeof err));
    EXPECT_EQ(0u, ns_routes_live_count(r));
    // Topics with bad names in a body are skipped, the rest applied.
    Topics t({"good", "bad name"}, 1);
    reg("broker-a", 0, "10.0.0.1:10911", &t);
    EXPECT_EQ((std::vector<std::string>{"good"}), topics());
}

TEST_F(RouteInfoTest, DataVersionQuery) {
    Topics t({"T1"}, 3);
    EXPECT_TRUE(ns_routes_data_version_changed(r, "10.0.0.1:10911", 1000, 3, 0, nullptr, &a));
    reg("broker-a", 0, "10.0.0.1:10911", &t);
    EXPECT_FALSE(ns_routes_data_version_changed(r, "10.0.0.1:10911", 1000, 3, 0, nullptr, &a));
    EXPECT_TRUE(ns_routes_data_version_changed(r, "10.0.0.1:10911", 1000, 4, 0, nullptr, &a));
}

TEST_F(RouteInfoTest, ManyTopicsAndBrokers) {
    std::vector<std::string> names;
    for (int i = 0; i < 2000; i++)
        names.push_back("topic-" + std::to_string(i));
    for (int b = 0; b < 5; b++) {
        Topics t(names, 1);
        std::string name = "broker-" + std::to_string(b), addr = "10.0.0." + std::to_string(b) + ":10911";
        reg(name.c_str(), 0, addr.c_str(), &t, 0, (uint64_t)b + 1);
    }
    EXPECT_EQ(2000u, ns_routes_topic_count(r));
    EXPECT_EQ(5u, route("topic-1999").size());
    for (int b = 0; b < 5; b++)
        ns_routes_conn_closed(r, (uint64_t)b + 1);
    EXPECT_EQ(0u, ns_routes_topic_count(r));
}

} // namespace
