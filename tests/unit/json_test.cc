// json_test.cc - the JSON writer (common/json.c): escaping of every kind of
// awkward input, nesting and misuse, and the protobuf renderer's RocketMQ
// shapes (maps with string keys, BrokerNameSet as an array, absent fields
// left out).

#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "body.pb-c.h"
#include "json.h"
#include "remoting.pb-c.h"
}

namespace {

std::string escaped(const std::string &s) {
    bytebuf b;
    bytebuf_init(&b);
    json_escape(&b, s.data(), s.size());
    std::string out((const char *)b.data, b.len);
    bytebuf_free(&b);
    return out;
}

std::string render(const ProtobufCMessage *m, bool pretty = false) {
    bytebuf b;
    bytebuf_init(&b);
    EXPECT_EQ(0, json_from_message(m, pretty, &b));
    std::string out((const char *)b.data, b.len);
    bytebuf_free(&b);
    return out;
}

TEST(JsonEscape, QuotesBackslashesAndControlCharacters) {
    EXPECT_EQ("\"plain\"", escaped("plain"));
    EXPECT_EQ("\"a\\\"b\\\\c\"", escaped("a\"b\\c"));
    EXPECT_EQ("\"\\n\\r\\t\\b\\f\"", escaped("\n\r\t\b\f"));
    EXPECT_EQ("\"\\u0001\\u001f\\u007f\"", escaped(std::string("\x01\x1f\x7f", 3)));
    EXPECT_EQ("\"a\\u0000b\"", escaped(std::string("a\0b", 3)));
}

TEST(JsonEscape, KeepsValidUtf8AndReplacesInvalidBytes) {
    EXPECT_EQ("\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"", escaped("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
    // lone continuation byte, truncated sequence, overlong encoding, surrogate
    EXPECT_EQ("\"a\xEF\xBF\xBD" "b\"", escaped("a\x80" "b"));
    EXPECT_EQ("\"\xEF\xBF\xBD\xEF\xBF\xBD\"", escaped("\xE2\x82")); // one per byte
    EXPECT_EQ("\"\xEF\xBF\xBD\xEF\xBF\xBD\"", escaped("\xC0\xAF"));
    EXPECT_EQ("\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"", escaped("\xED\xA0\x80"));
}

TEST(JsonWriter, NestsObjectsAndArraysWithCommas) {
    bytebuf b;
    bytebuf_init(&b);
    json_writer w;
    json_writer_init(&w, &b, false);
    json_object_begin(&w);
    json_kv_string(&w, "name", "x");
    json_key(&w, "list");
    json_array_begin(&w);
    json_int(&w, -1);
    json_uint(&w, 18446744073709551615ull);
    json_double(&w, 0.5);
    json_bool(&w, true);
    json_nil(&w);
    json_str(&w, nullptr);
    json_array_end(&w);
    json_key(&w, "empty");
    json_object_begin(&w);
    json_object_end(&w);
    json_object_end(&w);
    ASSERT_EQ(0, json_writer_finish(&w));
    EXPECT_EQ("{\"name\":\"x\",\"list\":[-1,18446744073709551615,0.5,true,null,null],\"empty\":{}}",
              std::string((const char *)b.data, b.len));
    bytebuf_free(&b);
}

TEST(JsonWriter, PrettyOutputIsIndented) {
    bytebuf b;
    bytebuf_init(&b);
    json_writer w;
    json_writer_init(&w, &b, true);
    json_object_begin(&w);
    json_kv_int(&w, "a", 1);
    json_key(&w, "b");
    json_array_begin(&w);
    json_int(&w, 2);
    json_array_end(&w);
    json_object_end(&w);
    ASSERT_EQ(0, json_writer_finish(&w));
    EXPECT_EQ("{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}\n", std::string((const char *)b.data, b.len));
    bytebuf_free(&b);
}

TEST(JsonWriter, ReportsMisuse) {
    bytebuf b;
    bytebuf_init(&b);
    json_writer w;
    json_writer_init(&w, &b, false);
    json_object_begin(&w);
    json_int(&w, 1); // value without key
    EXPECT_NE(0, json_writer_finish(&w));

    json_writer_init(&w, &b, false);
    json_array_begin(&w);
    json_object_end(&w); // wrong closer
    EXPECT_NE(0, json_writer_finish(&w));

    json_writer_init(&w, &b, false);
    json_array_begin(&w); // never closed
    EXPECT_NE(0, json_writer_finish(&w));

    json_writer_init(&w, &b, false);
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        json_array_begin(&w);
    EXPECT_NE(0, json_writer_finish(&w));
    bytebuf_free(&b);
}

TEST(JsonProtobuf, RouteHasRocketMQsShape) {
    Mq__QueueData q = MQ__QUEUE_DATA__INIT;
    q.brokername = (char *)"broker-a";
    q.readqueuenums = q.writequeuenums = 4;
    q.has_readqueuenums = q.has_writequeuenums = 1;
    q.perm = 6;
    q.has_perm = 1;
    Mq__QueueData *qs[] = {&q};
    Mq__BrokerData__BrokerAddrsEntry e0 = MQ__BROKER_DATA__BROKER_ADDRS_ENTRY__INIT;
    e0.key = 0;
    e0.has_key = 1;
    e0.value = (char *)"10.0.0.1:10911";
    Mq__BrokerData__BrokerAddrsEntry *es[] = {&e0};
    Mq__BrokerData bd = MQ__BROKER_DATA__INIT;
    bd.cluster = (char *)"DefaultCluster";
    bd.brokername = (char *)"broker-a";
    bd.n_brokeraddrs = 1;
    bd.brokeraddrs = es;
    Mq__BrokerData *bs[] = {&bd};
    Mq__TopicRouteData rd = MQ__TOPIC_ROUTE_DATA__INIT;
    rd.n_queuedatas = 1;
    rd.queuedatas = qs;
    rd.n_brokerdatas = 1;
    rd.brokerdatas = bs;
    EXPECT_EQ("{\"queueDatas\":[{\"brokerName\":\"broker-a\",\"readQueueNums\":4,\"writeQueueNums\":4,"
              "\"perm\":6}],\"brokerDatas\":[{\"cluster\":\"DefaultCluster\",\"brokerName\":\"broker-a\","
              "\"brokerAddrs\":{\"0\":\"10.0.0.1:10911\"}}],\"filterServerTable\":{}}",
              render(&rd.base));
}

TEST(JsonProtobuf, ClusterInfoSetsBecomeArrays) {
    char *names[] = {(char *)"broker-a", (char *)"broker-b"};
    Mq__BrokerNameSet set = MQ__BROKER_NAME_SET__INIT;
    set.n_brokernames = 2;
    set.brokernames = names;
    Mq__ClusterInfo__ClusterAddrTableEntry ce = MQ__CLUSTER_INFO__CLUSTER_ADDR_TABLE_ENTRY__INIT;
    ce.key = (char *)"DefaultCluster";
    ce.value = &set;
    Mq__ClusterInfo__ClusterAddrTableEntry *ces[] = {&ce};
    Mq__ClusterInfo ci = MQ__CLUSTER_INFO__INIT;
    ci.n_clusteraddrtable = 1;
    ci.clusteraddrtable = ces;
    EXPECT_EQ("{\"brokerAddrTable\":{},\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-a\",\"broker-b\"]}}",
              render(&ci.base));
}

TEST(JsonProtobuf, KVTableAndEscapedValues) {
    Mq__KVTable__TableEntry e = MQ__KVTABLE__TABLE_ENTRY__INIT;
    e.key = (char *)"we\"ird";
    e.value = (char *)"line\nbreak";
    Mq__KVTable__TableEntry *es[] = {&e};
    Mq__KVTable kv = MQ__KVTABLE__INIT;
    kv.n_table = 1;
    kv.table = es;
    EXPECT_EQ("{\"table\":{\"we\\\"ird\":\"line\\nbreak\"}}", render(&kv.base));
}

TEST(JsonProtobuf, EveryMessageRendersWhenEmpty) {
    // Every descriptor in proto/ renders to a well-formed document.
#define MQ_PROTO_MESSAGE(d)                                                    \
    {                                                                          \
        ProtobufCMessage *m = (ProtobufCMessage *)calloc(1, d.sizeof_message); \
        protobuf_c_message_init(&d, m);                                        \
        std::string s = render(m);                                             \
        EXPECT_FALSE(s.empty()) << d.name;                                     \
        free(m);                                                               \
    }
#include "all_messages.inc"
#undef MQ_PROTO_MESSAGE
}

} // namespace
