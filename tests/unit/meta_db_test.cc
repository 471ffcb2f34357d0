// meta_db_test.cc - the broker's metadata database (broker/meta_db.c):
// round trips per namespace, prefix scans, batches, reopening, and the topic
// and subscription-group tables persisted in it (broker/topic_config.c,
// broker/subscription_group.c).

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "temp_dir.h"

extern "C" {
#include "log.h"
#include "meta_db.h"
#include "protocol.h"
#include "subscription_group.h"
#include "topic_config.h"
}

namespace {

class MetaDbTest : public ::testing::Test {
  protected:
    TempDir dir{"metadb"};
    meta_db *db = nullptr;
    void SetUp() override {
        log_set_level(LOG_ERROR);
        open();
    }
    void TearDown() override { meta_db_close(db); }
    void open() {
        char err[256];
        ASSERT_EQ(0, meta_db_open(dir.sub("config/deeper").c_str(), &db, err, sizeof err)) << err;
    }
    void reopen() {
        meta_db_close(db);
        db = nullptr;
        open();
    }
    std::string get(const char *ns, const char *key) {
        void *v = nullptr;
        size_t n = 0;
        int rc = meta_db_get(db, ns, key, &v, &n);
        if (rc != 0)
            return rc == 1 ? "<none>" : "<error>";
        std::string s((const char *)v, n);
        free(v);
        return s;
    }
    std::map<std::string, std::string> scan(const char *ns, const char *prefix) {
        std::map<std::string, std::string> out;
        EXPECT_EQ(0, meta_db_scan(db, ns, prefix,
                                  [](void *arg, const char *k, const void *v, size_t n) {
                                      (*(std::map<std::string, std::string> *)arg)[k] = std::string((const char *)v, n);
                                      return 0;
                                  },
                                  &out));
        return out;
    }
};

TEST_F(MetaDbTest, PutGetDeleteInSeparateNamespaces) {
    EXPECT_EQ(0, meta_db_put(db, "topic", "k", "topic-value", 11, true));
    EXPECT_EQ(0, meta_db_put(db, "offset", "k", "7", 1, false));
    EXPECT_EQ("topic-value", get("topic", "k"));
    EXPECT_EQ("7", get("offset", "k"));
    EXPECT_EQ("<none>", get("group", "k"));
    EXPECT_EQ("<none>", get("never-created", "k"));
    std::string binary("a\0b\xff", 4);
    EXPECT_EQ(0, meta_db_put(db, "topic", "bin", binary.data(), binary.size(), true));
    EXPECT_EQ(binary, get("topic", "bin"));
    EXPECT_EQ(0, meta_db_put(db, "topic", "empty", nullptr, 0, true));
    EXPECT_EQ("", get("topic", "empty"));
    EXPECT_EQ(0, meta_db_delete(db, "topic", "k", true));
    EXPECT_EQ("<none>", get("topic", "k"));
    EXPECT_EQ(0, meta_db_delete(db, "topic", "missing", true));
    EXPECT_EQ(0, meta_db_delete(db, "no-such-ns", "missing", true));
    EXPECT_EQ("7", get("offset", "k"));
}

TEST_F(MetaDbTest, BadArgumentsAreErrorsNotCrashes) {
    void *v;
    size_t n;
    EXPECT_LT(meta_db_put(db, nullptr, "k", "v", 1, false), 0);
    EXPECT_LT(meta_db_put(db, "", "k", "v", 1, false), 0);
    EXPECT_LT(meta_db_put(db, "topic", nullptr, "v", 1, false), 0);
    EXPECT_LT(meta_db_get(db, "topic", nullptr, &v, &n), 0);
    EXPECT_LT(meta_db_scan(db, "topic", "", nullptr, nullptr), 0);
}

TEST_F(MetaDbTest, ScanByPrefixInKeyOrderAndStopEarly) {
    for (const char *k : {"g1@t1@0", "g1@t1@1", "g1@t2@0", "g2@t1@0", "g10@t1@0"})
        ASSERT_EQ(0, meta_db_put(db, "offset", k, k, strlen(k), false));
    auto g1 = scan("offset", "g1@");
    EXPECT_EQ((std::vector<std::string>{"g1@t1@0", "g1@t1@1", "g1@t2@0"}),
              [&] { std::vector<std::string> ks; for (auto &kv : g1) ks.push_back(kv.first); return ks; }());
    EXPECT_EQ(5u, scan("offset", "").size());
    EXPECT_TRUE(scan("offset", "zzz").empty());
    EXPECT_TRUE(scan("nothing-here", "").empty());
    int calls = 0;
    EXPECT_EQ(0, meta_db_scan(db, "offset", "", [](void *arg, const char *, const void *, size_t) {
        return ++*(int *)arg == 2 ? 1 : 0;
    }, &calls));
    EXPECT_EQ(2, calls);
}

TEST_F(MetaDbTest, LongKeysScanToo) {
    std::string k(2000, 'k');
    ASSERT_EQ(0, meta_db_put(db, "group", k.c_str(), "v", 1, true));
    auto all = scan("group", "kkk");
    ASSERT_EQ(1u, all.size());
    EXPECT_EQ(k, all.begin()->first);
}

TEST_F(MetaDbTest, BatchesApplyAtomicallyAcrossNamespaces) {
    ASSERT_EQ(0, meta_db_put(db, "offset", "old", "1", 1, false));
    meta_batch *b = meta_batch_new();
    meta_batch_put(b, "offset", "a", "10", 2);
    meta_batch_put(b, "topic", "T", "cfg", 3);
    meta_batch_delete(b, "offset", "old");
    meta_batch_delete(b, "never", "x");
    ASSERT_EQ(0, meta_db_write(db, b, true));
    meta_batch_free(b);
    EXPECT_EQ("10", get("offset", "a"));
    EXPECT_EQ("cfg", get("topic", "T"));
    EXPECT_EQ("<none>", get("offset", "old"));
    meta_batch *bad = meta_batch_new();
    meta_batch_put(bad, "offset", "b", "1", 1);
    meta_batch_put(bad, "offset", nullptr, "1", 1);
    EXPECT_LT(meta_db_write(db, bad, true), 0);
    meta_batch_free(bad);
    EXPECT_EQ("<none>", get("offset", "b"));
}

TEST_F(MetaDbTest, SurvivesReopenWithEveryNamespace) {
    ASSERT_EQ(0, meta_db_put(db, "topic", "T", "1", 1, true));
    ASSERT_EQ(0, meta_db_put(db, "offset", "o", "2", 1, false));
    ASSERT_EQ(0, meta_db_put(db, "custom", "c", "3", 1, true));
    reopen();
    EXPECT_EQ("1", get("topic", "T"));
    EXPECT_EQ("2", get("offset", "o"));
    EXPECT_EQ("3", get("custom", "c"));
}

TEST_F(MetaDbTest, SecondOpenOfTheSameDirectoryFails) {
    meta_db *other = nullptr;
    char err[256];
    EXPECT_NE(0, meta_db_open(dir.sub("config/deeper").c_str(), &other, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("cannot open")) << err;
}

// ---- topic and group tables on top of meta_db ----

TEST_F(MetaDbTest, TopicTablePersistsValidatesAndVersions) {
    topic_table *t;
    char err[256];
    ASSERT_EQ(0, topic_table_open(db, &t, err, sizeof err));
    int changes = 0;
    topic_table_on_change(t, [](void *arg) { ++*(int *)arg; }, &changes);
    int64_t ts0, c0, ts1, c1;
    topic_table_data_version(t, &ts0, &c0);

    topic_config tc{};
    strcpy(tc.name, "Orders");
    tc.read_queue_nums = tc.write_queue_nums = 4;
    tc.perm = PERM_READ | PERM_WRITE;
    tc.order = true;
    ASSERT_EQ(0, topic_table_update(t, &tc, err, sizeof err)) << err;
    EXPECT_EQ(1, changes);
    topic_table_data_version(t, &ts1, &c1);
    EXPECT_EQ(c0 + 1, c1);
    const topic_config *found = topic_table_find(t, "Orders");
    ASSERT_NE(nullptr, found);
    tc.write_queue_nums = 8;
    ASSERT_EQ(0, topic_table_update(t, &tc, err, sizeof err));
    EXPECT_EQ(found, topic_table_find(t, "Orders")); // updated in place
    EXPECT_EQ(8, found->write_queue_nums);

    topic_config bad = tc;
    strcpy(bad.name, "bad name");
    EXPECT_EQ(-1, topic_table_update(t, &bad, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("illegal character"));
    bad = tc;
    bad.read_queue_nums = 0;
    EXPECT_EQ(-1, topic_table_update(t, &bad, err, sizeof err));
    bad = tc;
    bad.write_queue_nums = 100000;
    EXPECT_EQ(-1, topic_table_update(t, &bad, err, sizeof err));
    bad = tc;
    bad.perm = 64;
    EXPECT_EQ(-1, topic_table_update(t, &bad, err, sizeof err));
    EXPECT_EQ(2, changes);

    EXPECT_NE(nullptr, topic_table_ensure(t, "%RETRY%group1", 1, 1, 6, 0));
    EXPECT_EQ(nullptr, topic_table_ensure(t, "bad/name", 1, 1, 6, 0));
    EXPECT_EQ(2u, topic_table_count(t));
    EXPECT_EQ(0, topic_table_delete(t, "%RETRY%group1", err, sizeof err));
    EXPECT_EQ(1, topic_table_delete(t, "%RETRY%group1", err, sizeof err));
    EXPECT_EQ(4, changes);
    topic_table_free(t);

    reopen();
    ASSERT_EQ(0, topic_table_open(db, &t, err, sizeof err));
    ASSERT_EQ(1u, topic_table_count(t));
    const topic_config *o = topic_table_find(t, "Orders");
    ASSERT_NE(nullptr, o);
    EXPECT_EQ(4, o->read_queue_nums);
    EXPECT_EQ(8, o->write_queue_nums);
    EXPECT_TRUE(o->order);
    EXPECT_EQ(PERM_READ | PERM_WRITE, o->perm);
    topic_table_free(t);
}

TEST_F(MetaDbTest, GroupTableDefaultsPersistenceAndValidation) {
    group_table *t;
    char err[256];
    ASSERT_EQ(0, group_table_open(db, &t, err, sizeof err));
    const group_config *g = group_table_ensure(t, "cg1");
    ASSERT_NE(nullptr, g);
    EXPECT_TRUE(g->consume_enable);
    EXPECT_TRUE(g->consume_from_min_enable);
    EXPECT_TRUE(g->consume_broadcast_enable);
    EXPECT_EQ(1, g->retry_queue_nums);
    EXPECT_EQ(16, g->retry_max_times);
    EXPECT_EQ(1, g->which_broker_when_consume_slowly);
    group_config u = *g;
    u.retry_max_times = 3;
    u.consume_enable = false;
    ASSERT_EQ(0, group_table_update(t, &u, err, sizeof err));
    u.retry_queue_nums = -1;
    EXPECT_EQ(-1, group_table_update(t, &u, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("retryQueueNums"));
    EXPECT_EQ(nullptr, group_table_ensure(t, "no spaces"));
    EXPECT_EQ(nullptr, group_table_ensure(t, std::string(300, 'g').c_str()));
    group_table_ensure(t, "cg2");
    EXPECT_EQ(0, group_table_delete(t, "cg2", err, sizeof err));
    group_table_free(t);

    reopen();
    ASSERT_EQ(0, group_table_open(db, &t, err, sizeof err));
    ASSERT_EQ(1u, group_table_count(t));
    g = group_table_find(t, "cg1");
    ASSERT_NE(nullptr, g);
    EXPECT_EQ(3, g->retry_max_times);
    EXPECT_FALSE(g->consume_enable);
    group_table_free(t);
}

} // namespace
