// kv_config_test.cc - the nameserver's KV config (nameserver/kv_config.c):
// put/get/delete/list, persistence to RocketMQ's kvConfig.json through a
// temporary file, a change that cannot be written is undone, a bad file is
// refused at open.

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.h"

extern "C" {
#include "kv_config.h"
}

namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

TEST(KvConfig, PutGetDeleteListInMemory) {
    char err[256];
    ns_kv *kv = ns_kv_open("", err, sizeof err);
    ASSERT_NE(nullptr, kv) << err;
    EXPECT_EQ(nullptr, ns_kv_get(kv, "N", "k"));
    ASSERT_EQ(0, ns_kv_put(kv, "N", "k", "v1", err, sizeof err));
    ASSERT_EQ(0, ns_kv_put(kv, "N", "k", "v2", err, sizeof err));
    ASSERT_EQ(0, ns_kv_put(kv, "N", "k2", "", err, sizeof err));
    EXPECT_STREQ("v2", ns_kv_get(kv, "N", "k"));
    EXPECT_STREQ("", ns_kv_get(kv, "N", "k2"));
    EXPECT_EQ(nullptr, ns_kv_get(kv, "M", "k"));
    arena a;
    arena_init(&a, 1024);
    Mq__KVTable *t = ns_kv_list(kv, "N", &a);
    ASSERT_NE(nullptr, t);
    EXPECT_EQ(2u, t->n_table);
    EXPECT_EQ(nullptr, ns_kv_list(kv, "M", &a));
    ASSERT_EQ(0, ns_kv_delete(kv, "N", "k", err, sizeof err));
    ASSERT_EQ(0, ns_kv_delete(kv, "N", "k2", err, sizeof err));
    ASSERT_EQ(0, ns_kv_delete(kv, "N", "nothing", err, sizeof err));
    EXPECT_EQ(nullptr, ns_kv_list(kv, "N", &a));
    EXPECT_EQ(0u, ns_kv_namespaces(kv));
    arena_free(&a);
    ns_kv_free(kv);
}

TEST(KvConfig, PersistsAsRocketMqKvConfigJson) {
    TempDir dir("kvconfig");
    std::string path = dir.sub("kvConfig.json");
    char err[256];
    ns_kv *kv = ns_kv_open(path.c_str(), err, sizeof err);
    ASSERT_NE(nullptr, kv) << err;
    ASSERT_EQ(0, ns_kv_put(kv, "ORDER_TOPIC_CONFIG", "T", "broker-a:4;broker-b:4", err, sizeof err)) << err;
    ASSERT_EQ(0, ns_kv_put(kv, "NS2", "a b", "line\nbreak \"q\"", err, sizeof err)) << err;
    ASSERT_EQ(0, ns_kv_put(kv, "NS2", "gone", "x", err, sizeof err)) << err;
    ASSERT_EQ(0, ns_kv_delete(kv, "NS2", "gone", err, sizeof err)) << err;
    ns_kv_free(kv);
    std::string text = slurp(path);
    EXPECT_NE(std::string::npos, text.find("\"configTable\"")) << text;
    EXPECT_NE(std::string::npos, text.find("\"broker-a:4;broker-b:4\"")) << text;
    EXPECT_EQ(std::string::npos, text.find("gone")) << text;
    struct stat st;
    EXPECT_NE(0, stat((path + ".tmp").c_str(), &st)); // renamed away

    kv = ns_kv_open(path.c_str(), err, sizeof err);
    ASSERT_NE(nullptr, kv) << err;
    EXPECT_STREQ("line\nbreak \"q\"", ns_kv_get(kv, "NS2", "a b"));
    EXPECT_STREQ("broker-a:4;broker-b:4", ns_kv_get(kv, "ORDER_TOPIC_CONFIG", "T"));
    EXPECT_EQ(nullptr, ns_kv_get(kv, "NS2", "gone"));

    // A change that cannot be written (the directory is gone) is undone.
    ns_kv *kv2 = ns_kv_open(dir.sub("sub/kv.json").c_str(), err, sizeof err); // parent missing: empty table
    ASSERT_NE(nullptr, kv2) << err;
    EXPECT_EQ(-1, ns_kv_put(kv2, "N", "k", "v", err, sizeof err));
    EXPECT_NE(nullptr, strstr(err, "cannot write")) << err;
    EXPECT_EQ(nullptr, ns_kv_get(kv2, "N", "k"));
    ns_kv_free(kv2);
    ns_kv_free(kv);
}

TEST(KvConfig, BadFileIsRefused) {
    TempDir dir("kvconfig-bad");
    char err[256];
    for (const char *text : {"{not json", R"({"configTable":[1]})", R"({"configTable":{"N":{"k":1}}})",
                             R"({"configTable":{"N":"v"}})"}) {
        std::string path = dir.sub("kv.json");
        std::ofstream(path) << text;
        EXPECT_EQ(nullptr, ns_kv_open(path.c_str(), err, sizeof err)) << text;
        EXPECT_NE(nullptr, strstr(err, "kv.json")) << err;
    }
}

} // namespace
