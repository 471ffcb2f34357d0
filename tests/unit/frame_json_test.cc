// frame_json_test.cc - RocketMQ's JSON header (serialize type 0), its binary
// header (type 1) and JSON control bodies (common/frame_json.c): what
// RocketMQ clients send decodes into our typed headers and bodies, what we
// send back has RocketMQ's shape, lenient input is accepted, bad input gets
// a precise error. Also measures the decode cost of one JSON request header.

#include <gtest/gtest.h>

#include <jansson.h>

#include <time.h>

#include <cstdio>
#include <random>
#include <string>
#include <utility>

extern "C" {
#include "arena.h"
#include "body.pb-c.h"
#include "frame.h"
#include "protocol.h"
#include "remoting.pb-c.h"
}

namespace {

struct Arena {
    arena a;
    Arena() { arena_init(&a, 4096); }
    ~Arena() { arena_free(&a); }
};

Mq__RemotingHeader *decode_json(arena *a, const std::string &s, std::string *err = nullptr) {
    char e[256] = "";
    Mq__RemotingHeader *h = nullptr;
    int rc = frame_header_decode(RM_SERIALIZE_JSON, (const uint8_t *)s.data(), s.size(), a, &h, e, sizeof e);
    if (err)
        *err = e;
    return rc == 0 ? h : nullptr;
}

// Parses JSON text with jansson (the test's independent reader of our output).
json_t *parse(const std::string &s) {
    json_error_t je;
    json_t *j = json_loadb(s.data(), s.size(), 0, &je);
    EXPECT_NE(nullptr, j) << je.text << " in " << s;
    return j;
}

std::string str(const bytebuf &b) { return std::string((const char *)b.data, b.len); }

// json.c's writer and jansson share a binary: jansson's own functions must
// stay jansson's (json_pack builds strings and nulls with json_string and
// json_null, which the writer once also defined).
TEST(FrameJson, JanssonKeepsItsOwnSymbols) {
    json_t *j = json_pack("{s:s,s:n}", "a", "b", "c");
    ASSERT_NE(nullptr, j);
    EXPECT_STREQ("b", json_string_value(json_object_get(j, "a")));
    EXPECT_TRUE(json_is_null(json_object_get(j, "c")));
    json_t *s = json_string("x");
    EXPECT_STREQ("x", json_string_value(s));
    json_decref(s);
    json_decref(j);
}

TEST(FrameJson, PullRequestFromAliOnsWithNumbersAndBooleans) {
    Arena ar;
    // As ali-ons sends it: numbers where Java sends strings, flag 0, no remark.
    std::string s = R"({"code":11,"language":"JAVA","opaque":42,"flag":0,"version":121,)"
                    R"("extFields":{"consumerGroup":"g1","topic":"T","queueId":3,"queueOffset":"17",)"
                    R"("maxMsgNums":32,"sysFlag":6,"commitOffset":-1,"suspendTimeoutMillis":15000,)"
                    R"("subscription":"TagA || TagB","subVersion":1733450000000,"AccessKey":"ignored"}})";
    Mq__RemotingHeader *h = decode_json(&ar.a, s);
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(11, h->code);
    EXPECT_EQ(RM_LANGUAGE_JAVA, h->language);
    EXPECT_EQ(42, h->opaque);
    EXPECT_EQ(121, h->version);
    EXPECT_EQ(0, h->flag);
    ASSERT_EQ(MQ__REMOTING_HEADER__EXT_PULL_MESSAGE, h->ext_case);
    const Mq__PullMessageRequestHeader *p = h->pull_message;
    EXPECT_STREQ("g1", p->consumergroup);
    EXPECT_STREQ("T", p->topic);
    EXPECT_TRUE(p->has_queueid);
    EXPECT_EQ(3, p->queueid);
    EXPECT_EQ(17, p->queueoffset);
    EXPECT_EQ(32, p->maxmsgnums);
    EXPECT_EQ(6, p->sysflag);
    EXPECT_EQ(-1, p->commitoffset);
    EXPECT_EQ(15000, p->suspendtimeoutmillis);
    EXPECT_STREQ("TagA || TagB", p->subscription);
    EXPECT_EQ(1733450000000LL, p->subversion);
    EXPECT_FALSE(p->has_maxmsgbytes);
    EXPECT_EQ(nullptr, p->expressiontype);
}

TEST(FrameJson, SendMessageV2OneLetterKeys) {
    Arena ar;
    std::string s = R"({"code":310,"language":"JAVA","opaque":1,"flag":0,"version":401,)"
                    R"("extFields":{"a":"PG","b":"TopicA","c":"TBW102","d":"4","e":"2","f":"0",)"
                    R"("g":"1733450000123","h":0,"i":"TAGS\u0001t1\u0002KEYS\u0001k1\u0002","j":"0",)"
                    R"("k":false,"l":16,"m":"false","n":"broker-a"}})";
    Mq__RemotingHeader *h = decode_json(&ar.a, s);
    ASSERT_NE(nullptr, h);
    ASSERT_EQ(MQ__REMOTING_HEADER__EXT_SEND_MESSAGE, h->ext_case);
    const Mq__SendMessageRequestHeader *m = h->send_message;
    EXPECT_STREQ("PG", m->producergroup);
    EXPECT_STREQ("TopicA", m->topic);
    EXPECT_STREQ("TBW102", m->defaulttopic);
    EXPECT_EQ(4, m->defaulttopicqueuenums);
    EXPECT_EQ(2, m->queueid);
    EXPECT_EQ(0, m->sysflag);
    EXPECT_EQ(1733450000123LL, m->borntimestamp);
    EXPECT_TRUE(m->has_flag);
    EXPECT_STREQ("TAGS\x01t1\x02KEYS\x01k1\x02", m->properties);
    EXPECT_TRUE(m->has_unitmode);
    EXPECT_FALSE(m->unitmode);
    EXPECT_EQ(16, m->maxreconsumetimes);
    EXPECT_TRUE(m->has_batch);
    EXPECT_STREQ("broker-a", m->brokername);

    // SEND_MESSAGE (10) uses the long names; one-letter keys mean nothing there.
    std::string s10 = R"({"code":10,"opaque":2,"extFields":{"producerGroup":"PG","topic":"T","queueId":"1","b":"x"}})";
    h = decode_json(&ar.a, s10);
    ASSERT_NE(nullptr, h);
    ASSERT_EQ(MQ__REMOTING_HEADER__EXT_SEND_MESSAGE, h->ext_case);
    EXPECT_STREQ("T", h->send_message->topic);
    EXPECT_EQ(1, h->send_message->queueid);
}

TEST(FrameJson, HeaderEdgeCases) {
    Arena ar;
    // No extFields at all: the typed header is there, empty (handlers check fields).
    Mq__RemotingHeader *h = decode_json(&ar.a, R"({"code":105,"opaque":9})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT_TOPIC, h->ext_case);
    EXPECT_EQ(nullptr, h->topic->topic);
    // A code without a typed header, unknown keys, unknown language, null remark.
    h = decode_json(&ar.a, R"({"code":206,"language":"COBOL","remark":null,"extFields":{"x":"1"},"serializeTypeCurrentRPC":"JSON"})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT__NOT_SET, h->ext_case);
    EXPECT_EQ(RM_LANGUAGE_OTHER, h->language);
    EXPECT_EQ(nullptr, h->remark);
    // A code we do not know decodes; the transport answers it NOT_SUPPORTED.
    h = decode_json(&ar.a, R"({"code":99999,"language":3,"opaque":"5","flag":"2"})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(99999, h->code);
    EXPECT_EQ(3, h->language);
    EXPECT_EQ(5, h->opaque);
    EXPECT_EQ(RM_FLAG_ONEWAY, h->flag);
    // A response: extFields are not mapped (the code is a status).
    h = decode_json(&ar.a, R"({"code":0,"flag":1,"opaque":3,"remark":"fine","extFields":{"msgId":"X"}})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT__NOT_SET, h->ext_case);
    EXPECT_STREQ("fine", h->remark);
}

TEST(FrameJson, BadHeadersGetPreciseErrors) {
    Arena ar;
    std::string err;
    EXPECT_EQ(nullptr, decode_json(&ar.a, R"({"code":11,"opaque":1,)", &err));
    EXPECT_NE(std::string::npos, err.find("undecodable JSON header")) << err;
    EXPECT_EQ(nullptr, decode_json(&ar.a, R"([1,2])", &err));
    EXPECT_NE(std::string::npos, err.find("not an object")) << err;
    EXPECT_EQ(nullptr, decode_json(&ar.a, R"({"opaque":1})", &err));
    EXPECT_NE(std::string::npos, err.find("without \"code\"")) << err;
    EXPECT_EQ(nullptr, decode_json(&ar.a, R"({"code":"abc"})", &err));
    EXPECT_NE(std::string::npos, err.find("\"code\" is not a 32-bit integer")) << err;
    EXPECT_EQ(nullptr, decode_json(&ar.a, R"({"code":11,"opaque":99999999999})", &err));
    EXPECT_NE(std::string::npos, err.find("\"opaque\"")) << err;
    EXPECT_EQ(nullptr, decode_json(&ar.a, "", &err));

    // A value that does not fit its field: the header decodes (so the request
    // can be answered), without its typed header, with the reason in remark.
    Mq__RemotingHeader *h = decode_json(&ar.a, R"({"code":30,"opaque":7,"extFields":{"topic":"T","queueId":"abc"}})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(7, h->opaque);
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT__NOT_SET, h->ext_case);
    ASSERT_NE(nullptr, h->remark);
    EXPECT_STREQ("extFields.queueId: expected a 32-bit integer, got \"abc\"", h->remark);
    h = decode_json(&ar.a, R"({"code":30,"opaque":7,"extFields":{"queueId":4294967296}})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT__NOT_SET, h->ext_case);
    h = decode_json(&ar.a, R"({"code":30,"opaque":7,"extFields":{"topic":{"x":1}}})");
    ASSERT_NE(nullptr, h);
    EXPECT_STREQ("extFields.topic: expected a string, got an object or array", h->remark);
    h = decode_json(&ar.a, R"({"code":30,"opaque":7,"extFields":"topic=T"})");
    ASSERT_NE(nullptr, h);
    EXPECT_STREQ("extFields is not an object", h->remark);
    h = decode_json(&ar.a, R"({"code":14,"opaque":7,"extFields":{"setZeroIfNotFound":"maybe"}})");
    ASSERT_NE(nullptr, h);
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT__NOT_SET, h->ext_case);
}

TEST(FrameJson, ResponsesGoOutAsRocketMqJson) {
    Arena ar;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__SendMessageResponseHeader r = MQ__SEND_MESSAGE_RESPONSE_HEADER__INIT;
    r.msgid = (char *)"7F00000100002A9F0000000000000000";
    r.queueid = 3;
    r.has_queueid = 1;
    r.queueoffset = 12345678901LL;
    r.has_queueoffset = 1;
    h.code = 0;
    h.opaque = 77;
    h.flag = RM_FLAG_RESPONSE;
    h.language = RM_LANGUAGE_CPP;
    h.version = RM_VERSION_OURS;
    h.remark = (char *)"quote \" and \x01";
    h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE;
    h.send_message_response = &r;
    bytebuf out;
    bytebuf_init(&out);
    char err[128];
    ASSERT_EQ(0, frame_encode(RM_SERIALIZE_JSON, &h, "BODY", 4, &out, err, sizeof err)) << err;
    frame_view v;
    ASSERT_EQ(FRAME_OK, frame_parse(out.data, out.len, RM_MAX_FRAME_DEFAULT, &v));
    EXPECT_EQ(RM_SERIALIZE_JSON, v.serialize_type);
    EXPECT_EQ(std::string("BODY"), std::string((const char *)v.body, v.body_len));
    json_t *j = parse(std::string((const char *)v.header, v.header_len));
    ASSERT_NE(nullptr, j);
    EXPECT_EQ(0, json_integer_value(json_object_get(j, "code")));
    EXPECT_EQ(77, json_integer_value(json_object_get(j, "opaque")));
    EXPECT_EQ(1, json_integer_value(json_object_get(j, "flag")));
    EXPECT_STREQ("CPP", json_string_value(json_object_get(j, "language")));
    EXPECT_STREQ("quote \" and \x01", json_string_value(json_object_get(j, "remark")));
    json_t *ext = json_object_get(j, "extFields");
    ASSERT_TRUE(json_is_object(ext));
    // Every extFields value is a string, as in Java's HashMap<String, String>.
    EXPECT_STREQ("7F00000100002A9F0000000000000000", json_string_value(json_object_get(ext, "msgId")));
    EXPECT_STREQ("3", json_string_value(json_object_get(ext, "queueId")));
    EXPECT_STREQ("12345678901", json_string_value(json_object_get(ext, "queueOffset")));
    EXPECT_EQ(3u, json_object_size(ext));
    json_decref(j);

    // A header without a typed member still has an (empty) extFields object.
    Mq__RemotingHeader e = MQ__REMOTING_HEADER__INIT;
    e.code = RS_TOPIC_NOT_EXIST;
    e.flag = RM_FLAG_RESPONSE;
    bytebuf_clear(&out);
    ASSERT_EQ(0, frame_encode(RM_SERIALIZE_JSON, &e, nullptr, 0, &out, err, sizeof err));
    ASSERT_EQ(FRAME_OK, frame_parse(out.data, out.len, RM_MAX_FRAME_DEFAULT, &v));
    j = parse(std::string((const char *)v.header, v.header_len));
    EXPECT_EQ(0u, json_object_size(json_object_get(j, "extFields")));
    EXPECT_EQ(nullptr, json_object_get(j, "remark"));
    json_decref(j);
    bytebuf_free(&out);
}

TEST(FrameJson, RequestsWeSendRoundTripInBothRocketMqTypes) {
    // A SEND_MESSAGE_V2 request goes out with one-letter keys and comes back
    // the same; the binary type 1 carries the same fields.
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__SendMessageRequestHeader s = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
    s.producergroup = (char *)"PG";
    s.topic = (char *)"T";
    s.queueid = -1;
    s.has_queueid = 1;
    s.unitmode = 1;
    s.has_unitmode = 1;
    s.properties = (char *)"a\x01" "b\x02";
    h.code = RC_SEND_MESSAGE_V2;
    h.opaque = 5;
    h.language = 9;
    h.version = 409;
    h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
    h.send_message = &s;
    for (uint8_t type : {(uint8_t)RM_SERIALIZE_JSON, (uint8_t)RM_SERIALIZE_ROCKETMQ}) {
        SCOPED_TRACE(type);
        Arena ar;
        bytebuf out;
        bytebuf_init(&out);
        char err[128];
        ASSERT_EQ(0, frame_encode(type, &h, nullptr, 0, &out, err, sizeof err)) << err;
        frame_view v;
        ASSERT_EQ(FRAME_OK, frame_parse(out.data, out.len, RM_MAX_FRAME_DEFAULT, &v));
        EXPECT_EQ(type, v.serialize_type);
        if (type == RM_SERIALIZE_JSON) {
            json_t *j = parse(std::string((const char *)v.header, v.header_len));
            json_t *ext = json_object_get(j, "extFields");
            EXPECT_STREQ("PG", json_string_value(json_object_get(ext, "a")));
            EXPECT_STREQ("-1", json_string_value(json_object_get(ext, "e")));
            EXPECT_STREQ("true", json_string_value(json_object_get(ext, "k")));
            EXPECT_STREQ("GO", json_string_value(json_object_get(j, "language")));
            json_decref(j);
        }
        Mq__RemotingHeader *back = nullptr;
        ASSERT_EQ(0, frame_header_decode(type, v.header, v.header_len, &ar.a, &back, err, sizeof err)) << err;
        EXPECT_EQ(RC_SEND_MESSAGE_V2, back->code);
        EXPECT_EQ(5, back->opaque);
        EXPECT_EQ(9, back->language);
        EXPECT_EQ(409, back->version);
        ASSERT_EQ(MQ__REMOTING_HEADER__EXT_SEND_MESSAGE, back->ext_case);
        EXPECT_STREQ("PG", back->send_message->producergroup);
        EXPECT_STREQ("T", back->send_message->topic);
        EXPECT_EQ(-1, back->send_message->queueid);
        EXPECT_TRUE(back->send_message->unitmode);
        EXPECT_STREQ("a\x01" "b\x02", back->send_message->properties);
        EXPECT_FALSE(back->send_message->has_sysflag);
        bytebuf_free(&out);
    }
}

TEST(FrameJson, BinaryHeaderRejectsOverruns) {
    Arena ar;
    char err[128];
    Mq__RemotingHeader *h;
    uint8_t short_hdr[10] = {0};
    EXPECT_EQ(-1, frame_header_decode(RM_SERIALIZE_ROCKETMQ, short_hdr, sizeof short_hdr, &ar.a, &h, err, sizeof err));
    uint8_t hdr[21] = {0, 30, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100};
    EXPECT_EQ(-1, frame_header_decode(RM_SERIALIZE_ROCKETMQ, hdr, sizeof hdr, &ar.a, &h, err, sizeof err));
    EXPECT_NE(nullptr, strstr(err, "extFields")) << err;
    hdr[16] = 200; // remark length past the end
    EXPECT_EQ(-1, frame_header_decode(RM_SERIALIZE_ROCKETMQ, hdr, sizeof hdr, &ar.a, &h, err, sizeof err));
    EXPECT_NE(nullptr, strstr(err, "remark")) << err;
}

// ---- bodies ----

ProtobufCMessage *decode_body(arena *a, const ProtobufCMessageDescriptor *d, const std::string &s,
                              std::string *err = nullptr) {
    char e[256] = "";
    ProtobufCMessage *m =
        frame_body_decode(RM_SERIALIZE_JSON, d, (const uint8_t *)s.data(), s.size(), a, e, sizeof e);
    if (err)
        *err = e;
    return m;
}

// A route: `copies` queue datas and broker datas of broker-a (4 queues, RW),
// each broker data with a master (0) and a slave (1) address.
struct Route {
    Mq__QueueData qd = MQ__QUEUE_DATA__INIT;
    Mq__BrokerData bd = MQ__BROKER_DATA__INIT;
    Mq__BrokerData__BrokerAddrsEntry e0 = MQ__BROKER_DATA__BROKER_ADDRS_ENTRY__INIT, e1 = e0;
    Mq__BrokerData__BrokerAddrsEntry *es[2] = {&e0, &e1};
    Mq__QueueData *qds[2] = {&qd, &qd};
    Mq__BrokerData *bds[2] = {&bd, &bd};
    Mq__TopicRouteData rd = MQ__TOPIC_ROUTE_DATA__INIT;
    explicit Route(size_t copies) {
        qd.brokername = (char *)"broker-a";
        qd.readqueuenums = qd.writequeuenums = 4;
        qd.has_readqueuenums = qd.has_writequeuenums = 1;
        qd.perm = 6;
        qd.has_perm = 1;
        qd.has_topicsysflag = 1;
        bd.cluster = (char *)"DefaultCluster";
        bd.brokername = (char *)"broker-a";
        e0.value = (char *)"127.0.0.1:10911";
        e1.key = 1;
        e1.value = (char *)"127.0.0.1:10921";
        bd.n_brokeraddrs = 2;
        bd.brokeraddrs = es;
        rd.n_queuedatas = rd.n_brokerdatas = copies;
        rd.queuedatas = qds;
        rd.brokerdatas = bds;
    }
};

TEST(FrameJsonBody, RouteDataHasRocketMqShape) {
    Route r(1);
    Mq__TopicRouteData &rd = r.rd;
    bytebuf out;
    bytebuf_init(&out);
    char err[128];
    ASSERT_EQ(0, frame_body_encode(RM_SERIALIZE_JSON, &rd.base, &out, err, sizeof err));
    json_t *j = parse(str(out));
    ASSERT_NE(nullptr, j);
    json_t *q = json_array_get(json_object_get(j, "queueDatas"), 0);
    EXPECT_STREQ("broker-a", json_string_value(json_object_get(q, "brokerName")));
    EXPECT_EQ(4, json_integer_value(json_object_get(q, "readQueueNums")));
    EXPECT_EQ(4, json_integer_value(json_object_get(q, "writeQueueNums")));
    EXPECT_EQ(6, json_integer_value(json_object_get(q, "perm")));
    json_t *b = json_array_get(json_object_get(j, "brokerDatas"), 0);
    EXPECT_STREQ("DefaultCluster", json_string_value(json_object_get(b, "cluster")));
    json_t *addrs = json_object_get(b, "brokerAddrs");
    EXPECT_STREQ("127.0.0.1:10911", json_string_value(json_object_get(addrs, "0")));
    EXPECT_STREQ("127.0.0.1:10921", json_string_value(json_object_get(addrs, "1")));
    json_decref(j);

    // ... and decodes back, from our text and from fastjson's unquoted keys.
    Arena ar;
    for (const std::string &text :
         {str(out), std::string(R"({"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},)"
                                R"("brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},)"
                                R"("queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,)"
                                R"("topicSynFlag":0,"writeQueueNums":4}]})")}) {
        SCOPED_TRACE(text);
        std::string e;
        auto *back = (Mq__TopicRouteData *)decode_body(&ar.a, &mq__topic_route_data__descriptor, text, &e);
        ASSERT_NE(nullptr, back) << e;
        ASSERT_EQ(1u, back->n_brokerdatas);
        ASSERT_EQ(2u, back->brokerdatas[0]->n_brokeraddrs);
        EXPECT_EQ(0, back->brokerdatas[0]->brokeraddrs[0]->key);
        EXPECT_STREQ("127.0.0.1:10911", back->brokerdatas[0]->brokeraddrs[0]->value);
        EXPECT_EQ(1, back->brokerdatas[0]->brokeraddrs[1]->key);
        ASSERT_EQ(1u, back->n_queuedatas);
        EXPECT_EQ(6, back->queuedatas[0]->perm);
        EXPECT_STREQ("broker-a", back->queuedatas[0]->brokername);
    }
    bytebuf_free(&out);
}

TEST(FrameJsonBody, ClusterInfoSetsAreArrays) {
    Arena ar;
    std::string text = R"({"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"1.2.3.4:10911"},"brokerName":"broker-a",)"
                       R"("cluster":"C1"}},"clusterAddrTable":{"C1":["broker-a","broker-b"]}})";
    std::string e;
    auto *ci = (Mq__ClusterInfo *)decode_body(&ar.a, &mq__cluster_info__descriptor, text, &e);
    ASSERT_NE(nullptr, ci) << e;
    ASSERT_EQ(1u, ci->n_clusteraddrtable);
    EXPECT_STREQ("C1", ci->clusteraddrtable[0]->key);
    ASSERT_EQ(2u, ci->clusteraddrtable[0]->value->n_brokernames);
    EXPECT_STREQ("broker-b", ci->clusteraddrtable[0]->value->brokernames[1]);
    bytebuf out;
    bytebuf_init(&out);
    char err[128];
    ASSERT_EQ(0, frame_body_encode(RM_SERIALIZE_JSON, &ci->base, &out, err, sizeof err));
    json_t *j = parse(str(out));
    EXPECT_EQ(2u, json_array_size(json_object_get(json_object_get(j, "clusterAddrTable"), "C1")));
    EXPECT_STREQ("1.2.3.4:10911",
                 json_string_value(json_object_get(
                     json_object_get(json_object_get(json_object_get(j, "brokerAddrTable"), "broker-a"), "brokerAddrs"),
                     "0")));
    json_decref(j);
    bytebuf_free(&out);
}

TEST(FrameJsonBody, MessageQueueKeyedMapsAsFastjsonWritesThem) {
    // GET_CONSUME_STATS: Java's Map<MessageQueue, OffsetWrapper>, which
    // fastjson writes with the MessageQueue object as the key.
    Mq__MessageQueue mq = MQ__MESSAGE_QUEUE__INIT;
    mq.topic = (char *)"T";
    mq.brokername = (char *)"broker-a";
    mq.queueid = 1;
    mq.has_queueid = 1;
    Mq__OffsetWrapper ow = MQ__OFFSET_WRAPPER__INIT;
    ow.brokeroffset = 10;
    ow.has_brokeroffset = 1;
    ow.consumeroffset = 7;
    ow.has_consumeroffset = 1;
    Mq__QueueOffsetEntry qe = MQ__QUEUE_OFFSET_ENTRY__INIT;
    qe.mq = &mq;
    qe.offset = &ow;
    Mq__QueueOffsetEntry *qes[] = {&qe, &qe};
    Mq__ConsumeStats cs = MQ__CONSUME_STATS__INIT;
    cs.n_offsettable = 2;
    cs.offsettable = qes;
    cs.consumetps = 1.5;
    cs.has_consumetps = 1;
    bytebuf out;
    bytebuf_init(&out);
    char err[128];
    ASSERT_EQ(0, frame_body_encode(RM_SERIALIZE_JSON, &cs.base, &out, err, sizeof err));
    std::string text = str(out);
    EXPECT_NE(std::string::npos,
              text.find(R"("offsetTable":{{"topic":"T","brokerName":"broker-a","queueId":1}:{"brokerOffset":10,"consumerOffset":7},)"))
        << text;
    Arena ar;
    std::string e;
    auto *back = (Mq__ConsumeStats *)decode_body(&ar.a, &mq__consume_stats__descriptor, text, &e);
    ASSERT_NE(nullptr, back) << e;
    // jansson keeps one of two equal keys: the map has one queue.
    ASSERT_EQ(1u, back->n_offsettable);
    EXPECT_STREQ("broker-a", back->offsettable[0]->mq->brokername);
    EXPECT_EQ(1, back->offsettable[0]->mq->queueid);
    EXPECT_EQ(7, back->offsettable[0]->offset->consumeroffset);
    EXPECT_DOUBLE_EQ(1.5, back->consumetps);
    // Our own list form is accepted too.
    back = (Mq__ConsumeStats *)decode_body(
        &ar.a, &mq__consume_stats__descriptor,
        R"({"offsetTable":[{"mq":{"topic":"T","brokerName":"b","queueId":"2"},"offset":{"brokerOffset":"5"}}]})", &e);
    ASSERT_NE(nullptr, back) << e;
    ASSERT_EQ(1u, back->n_offsettable);
    EXPECT_EQ(2, back->offsettable[0]->mq->queueid);
    EXPECT_EQ(5, back->offsettable[0]->offset->brokeroffset);
    bytebuf_free(&out);
}

TEST(FrameJsonBody, SubscriptionTableIsAMapKeyedByTopic) {
    // ConsumerConnection.subscriptionTable is Java's Map<topic, SubscriptionData>.
    Mq__SubscriptionData sd1 = MQ__SUBSCRIPTION_DATA__INIT, sd2 = MQ__SUBSCRIPTION_DATA__INIT;
    sd1.topic = (char *)"T1";
    sd1.substring = (char *)"*";
    sd2.topic = (char *)"%RETRY%G";
    sd2.substring = (char *)"*";
    Mq__SubscriptionData *sds[] = {&sd1, &sd2};
    Mq__ConsumerConnection cc = MQ__CONSUMER_CONNECTION__INIT;
    cc.n_subscriptiontable = 2;
    cc.subscriptiontable = sds;
    cc.consumetype = (char *)"CONSUME_PASSIVELY";
    Mq__Connection conn = MQ__CONNECTION__INIT;
    conn.clientid = (char *)"c1";
    conn.language = 9;
    conn.has_language = 1;
    Mq__Connection *conns[] = {&conn};
    cc.n_connectionset = 1;
    cc.connectionset = conns;
    bytebuf out;
    bytebuf_init(&out);
    char err[128];
    ASSERT_EQ(0, frame_body_encode(RM_SERIALIZE_JSON, &cc.base, &out, err, sizeof err));
    json_t *j = parse(str(out));
    json_t *st = json_object_get(j, "subscriptionTable");
    ASSERT_TRUE(json_is_object(st)) << str(out);
    // Connection.language is Java's LanguageCode enum: its name.
    EXPECT_STREQ("GO", json_string_value(json_object_get(json_array_get(json_object_get(j, "connectionSet"), 0),
                                                          "language")));
    EXPECT_STREQ("*", json_string_value(json_object_get(json_object_get(st, "%RETRY%G"), "subString")));
    EXPECT_TRUE(json_is_array(json_object_get(j, "connectionSet")));
    json_decref(j);
    Arena ar;
    std::string e;
    auto *back = (Mq__ConsumerConnection *)decode_body(&ar.a, &mq__consumer_connection__descriptor, str(out), &e);
    ASSERT_NE(nullptr, back) << e;
    ASSERT_EQ(2u, back->n_subscriptiontable);
    ASSERT_EQ(1u, back->n_connectionset);
    EXPECT_EQ(9, back->connectionset[0]->language);
    EXPECT_STREQ("T1", back->subscriptiontable[0]->topic);
    bytebuf_free(&out);
}

TEST(FrameJsonBody, ClientBodiesDecode) {
    Arena ar;
    std::string e;
    // ali-ons HEART_BEAT body.
    auto *hb = (Mq__HeartbeatData *)decode_body(
        &ar.a, &mq__heartbeat_data__descriptor,
        R"({"clientID":"10.0.0.1@123","producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],)"
        R"("consumerDataSet":[{"groupName":"G","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING",)"
        R"("consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"T","subString":"A || B",)"
        R"("classFilterMode":false,"tagsSet":["A","B"],"codeSet":[65,66],"subVersion":1733450000000}],"unitMode":false}]})",
        &e);
    ASSERT_NE(nullptr, hb) << e;
    EXPECT_STREQ("10.0.0.1@123", hb->clientid);
    ASSERT_EQ(1u, hb->n_consumerdataset);
    const Mq__ConsumerData *cd = hb->consumerdataset[0];
    EXPECT_STREQ("CONSUME_PASSIVELY", cd->consumetype);
    ASSERT_EQ(1u, cd->n_subscriptiondataset);
    ASSERT_EQ(2u, cd->subscriptiondataset[0]->n_tagsset);
    EXPECT_STREQ("B", cd->subscriptiondataset[0]->tagsset[1]);
    ASSERT_EQ(2u, cd->subscriptiondataset[0]->n_codeset);
    EXPECT_EQ(66, cd->subscriptiondataset[0]->codeset[1]);
    EXPECT_EQ(1733450000000LL, cd->subscriptiondataset[0]->subversion);

    // A RocketMQ 4.x broker's REGISTER_BROKER body (fastjson, with fields we do not keep).
    auto *rb = (Mq__RegisterBrokerBody *)decode_body(
        &ar.a, &mq__register_broker_body__descriptor,
        R"({"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":2,"stateVersion":0,)"
        R"("timestamp":1733450000000},"topicConfigTable":{"TBW102":{"order":false,"perm":7,"readQueueNums":8,)"
        R"("topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8},)"
        R"("T1":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",)"
        R"("topicName":"T1","topicSysFlag":0,"writeQueueNums":4}}}})",
        &e);
    ASSERT_NE(nullptr, rb) << e;
    const Mq__TopicConfigSerializeWrapper *w = rb->topicconfigserializewrapper;
    ASSERT_NE(nullptr, w);
    EXPECT_EQ(2, w->dataversion->counter);
    ASSERT_EQ(2u, w->n_topicconfigtable);
    bool saw_t1 = false;
    for (size_t i = 0; i < w->n_topicconfigtable; i++)
        if (!strcmp(w->topicconfigtable[i]->key, "T1")) {
            saw_t1 = true;
            EXPECT_EQ(6, w->topicconfigtable[i]->value->perm);
            EXPECT_EQ(4, w->topicconfigtable[i]->value->writequeuenums);
        }
    EXPECT_TRUE(saw_t1);

    // LOCK_BATCH_MQ body: a Set<MessageQueue> is an array.
    auto *lb = (Mq__LockBatchRequestBody *)decode_body(
        &ar.a, &mq__lock_batch_request_body__descriptor,
        R"({"consumerGroup":"G","clientId":"c1","onlyThisBroker":true,"mqSet":[{"brokerName":"b","queueId":0,"topic":"T"},)"
        R"({"brokerName":"b","queueId":1,"topic":"T"}]})",
        &e);
    ASSERT_NE(nullptr, lb) << e;
    EXPECT_TRUE(lb->onlythisbroker);
    ASSERT_EQ(2u, lb->n_mqset);
    EXPECT_EQ(1, lb->mqset[1]->queueid);
}

TEST(FrameJsonBody, BadBodiesNameTheProblem) {
    Arena ar;
    std::string e;
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__heartbeat_data__descriptor, R"({"clientID":)", &e));
    EXPECT_NE(std::string::npos, e.find("undecodable HeartbeatData JSON body")) << e;
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__heartbeat_data__descriptor, R"({"consumerDataSet":"G"})", &e));
    EXPECT_NE(std::string::npos, e.find("HeartbeatData.consumerDataSet: expected a list, got \"G\"")) << e;
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__heartbeat_data__descriptor, R"({"consumerDataSet":{"a":1}})", &e));
    EXPECT_NE(std::string::npos, e.find("ConsumerData: expected an object, got 1")) << e;
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__topic_route_data__descriptor,
                                   R"({"queueDatas":[{"brokerName":"b","perm":"rw"}]})", &e));
    EXPECT_NE(std::string::npos, e.find("QueueData.perm: expected a 32-bit integer, got \"rw\"")) << e;
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__topic_route_data__descriptor,
                                   R"({"brokerDatas":[{"brokerAddrs":{"master":"x"}}]})", &e));
    EXPECT_NE(std::string::npos, e.find("key")) << e;
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__topic_route_data__descriptor, "[]", &e));
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__topic_route_data__descriptor, "", &e));
    EXPECT_EQ(nullptr, decode_body(&ar.a, &mq__topic_route_data__descriptor, "{\"queueDatas\":[null]}", &e));
}

// Mangled input (bytes flipped, cut, duplicated, JSON punctuation inserted)
// never crashes a decoder (run under ASan in CI): each call decodes or says
// why not. Covers the fastjson normaliser on broken text too.
TEST(FrameJsonRobustness, MangledHeadersAndBodiesAreDecodedOrRefused) {
    const std::string headers[] = {
        R"({"code":310,"opaque":1,"extFields":{"a":"PG","b":"T","e":2,"k":false,"i":"Ab"}})",
        R"({"code":11,"language":"JAVA","flag":0,"extFields":{"topic":"T","queueId":"1","sysFlag":6}})",
    };
    const std::pair<const ProtobufCMessageDescriptor *, std::string> bodies[] = {
        {&mq__topic_route_data__descriptor,
         R"({"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:1",1:"127.0.0.1:2"},"brokerName":"b"}],"queueDatas":[{"perm":6}]})"},
        {&mq__consume_stats__descriptor,
         R"({"offsetTable":{{"topic":"T","brokerName":"b","queueId":1}:{"brokerOffset":10}},"consumeTps":1.5})"},
        {&mq__heartbeat_data__descriptor,
         R"({"clientID":"c","consumerDataSet":[{"groupName":"G","subscriptionDataSet":[{"topic":"T","tagsSet":["a"]}]}]})"},
    };
    const char punct[] = "{}[]:,\"\\ 0a-";
    std::mt19937 rng(12);
    auto mangle = [&](std::string t) {
        int edits = 1 + (int)(rng() % 4);
        for (int e = 0; e < edits && !t.empty(); e++) {
            size_t at = rng() % t.size();
            switch (rng() % 4) {
            case 0: t[at] = (char)rng(); break;
            case 1: t.resize(at); break;
            case 2: t.insert(at, 1, punct[rng() % (sizeof punct - 1)]); break;
            default: t.insert(at, t.substr(at, rng() % 16)); break;
            }
        }
        return t;
    };
    Arena ar;
    char err[256];
    int decoded = 0, refused = 0;
    for (int i = 0; i < 3000; i++) {
        for (const std::string &h : headers) {
            std::string m = mangle(h);
            Mq__RemotingHeader *out = nullptr;
            err[0] = '\0';
            for (uint8_t type : {(uint8_t)RM_SERIALIZE_JSON, (uint8_t)RM_SERIALIZE_ROCKETMQ}) {
                if (frame_header_decode(type, (const uint8_t *)m.data(), m.size(), &ar.a, &out, err, sizeof err) == 0) {
                    decoded++;
                } else {
                    refused++;
                    EXPECT_NE('\0', err[0]);
                }
            }
        }
        for (const auto &b : bodies) {
            std::string m = mangle(b.second);
            err[0] = '\0';
            if (frame_body_decode(RM_SERIALIZE_JSON, b.first, (const uint8_t *)m.data(), m.size(), &ar.a, err,
                                  sizeof err)) {
                decoded++;
            } else {
                refused++;
                EXPECT_NE('\0', err[0]);
            }
        }
        arena_reset(&ar.a);
    }
    EXPECT_GT(decoded, 0);
    EXPECT_GT(refused, 0);
}

// CPU time of this thread, in ns: benches measure it rather than wall time,
// so other processes on a busy machine do not inflate the numbers.
double cpu_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// The decode cost of one JSON request header: a PULL_MESSAGE as ali-ons
// sends it (the most frequent request of a consumer) and a SEND_MESSAGE_V2.
TEST(FrameJsonBench, DecodeCostPerHeader) {
    const std::string pull = R"({"code":11,"language":"JAVA","opaque":42,"flag":0,"version":121,)"
                             R"("extFields":{"consumerGroup":"group-1","topic":"TopicTest","queueId":3,)"
                             R"("queueOffset":"1234567","maxMsgNums":32,"sysFlag":6,"commitOffset":"1234000",)"
                             R"("suspendTimeoutMillis":15000,"subscription":"TagA || TagB","subVersion":1733450000000}})";
    const std::string send = R"({"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"2",)"
                             R"("f":"0","g":"1733450000123","h":"0","i":"TAGS\u0001TagA\u0002KEYS\u0001k1\u0002",)"
                             R"("j":"0","k":"false","m":"false"},"flag":0,"language":"JAVA","opaque":7,)"
                             R"("serializeTypeCurrentRPC":"JSON","version":401})";
    for (const std::string *s : {&pull, &send}) {
        Arena ar;
        char err[128];
        const int n = 200000;
        double t0 = cpu_ns();
        for (int i = 0; i < n; i++) {
            Mq__RemotingHeader *h;
            ASSERT_EQ(0, frame_header_decode(RM_SERIALIZE_JSON, (const uint8_t *)s->data(), s->size(), &ar.a, &h,
                                             err, sizeof err));
            arena_reset(&ar.a);
        }
        double ns = (cpu_ns() - t0) / n;
        // The same header in our protobuf encoding, for comparison.
        Mq__RemotingHeader *h;
        ASSERT_EQ(0, frame_header_decode(RM_SERIALIZE_JSON, (const uint8_t *)s->data(), s->size(), &ar.a, &h, err,
                                         sizeof err));
        bytebuf pb;
        bytebuf_init(&pb);
        ASSERT_EQ(0, frame_encode(RM_SERIALIZE_PROTOBUF, h, nullptr, 0, &pb, err, sizeof err));
        frame_view v;
        ASSERT_EQ(FRAME_OK, frame_parse(pb.data, pb.len, RM_MAX_FRAME_DEFAULT, &v));
        arena_reset(&ar.a);
        double t1 = cpu_ns();
        for (int i = 0; i < n; i++) {
            ASSERT_EQ(0, frame_header_decode(RM_SERIALIZE_PROTOBUF, v.header, v.header_len, &ar.a, &h, err,
                                             sizeof err));
            arena_reset(&ar.a);
        }
        double pns = (cpu_ns() - t1) / n;
        printf("[bench] JSON header decode (%zu bytes, code %s): %.0f ns/op CPU; same header as protobuf (%u bytes): %.0f ns/op\n",
               s->size(), s == &pull ? "11 PULL_MESSAGE" : "310 SEND_MESSAGE_V2", ns, v.header_len, pns);
        // A loose ceiling that still catches a pathological regression
        // (e.g. a normalisation pass on every header) even under ASan.
        EXPECT_LT(ns, 100000.0);
        bytebuf_free(&pb);
    }
}

// Writing a route body: json.c's writer (what frame_json.c uses) against
// building the same document as a jansson tree and dumping it (what
// replacing the writer with jansson would cost).
TEST(FrameJsonBench, RouteBodyEncodeWriterVsJansson) {
    Route r(2);
    Mq__TopicRouteData &rd = r.rd;
    const int n = 100000;
    bytebuf out;
    bytebuf_init(&out);
    char err[64];
    double t0 = cpu_ns();
    for (int i = 0; i < n; i++) {
        bytebuf_clear(&out);
        ASSERT_EQ(0, frame_body_encode(RM_SERIALIZE_JSON, &rd.base, &out, err, sizeof err));
    }
    double writer_ns = (cpu_ns() - t0) / n;
    size_t writer_len = out.len;
    size_t tree_len = 0;
    double t1 = cpu_ns();
    for (int i = 0; i < n; i++) {
        json_t *root = json_object();
        json_t *qa = json_array(), *ba = json_array();
        for (size_t k = 0; k < rd.n_queuedatas; k++) {
            const Mq__QueueData *q = rd.queuedatas[k];
            json_array_append_new(qa, json_pack("{s:s,s:i,s:i,s:i}", "brokerName", q->brokername, "readQueueNums",
                                                q->readqueuenums, "writeQueueNums", q->writequeuenums, "perm",
                                                q->perm));
        }
        for (size_t k = 0; k < rd.n_brokerdatas; k++) {
            const Mq__BrokerData *b = rd.brokerdatas[k];
            json_t *addrs = json_object();
            for (size_t x = 0; x < b->n_brokeraddrs; x++) {
                char key[24];
                snprintf(key, sizeof key, "%lld", (long long)b->brokeraddrs[x]->key);
                json_object_set_new(addrs, key, json_string(b->brokeraddrs[x]->value));
            }
            json_array_append_new(ba, json_pack("{s:s,s:s,s:o}", "cluster", b->cluster, "brokerName", b->brokername,
                                                "brokerAddrs", addrs));
        }
        json_object_set_new(root, "queueDatas", qa);
        json_object_set_new(root, "brokerDatas", ba);
        char *text = json_dumps(root, JSON_COMPACT);
        tree_len = strlen(text);
        free(text);
        json_decref(root);
    }
    double tree_ns = (cpu_ns() - t1) / n;
    printf("[bench] route body encode (%zu bytes): json.c writer %.0f ns/op CPU; jansson tree + dump (%zu bytes) %.0f ns/op\n",
           writer_len, writer_ns, tree_len, tree_ns);
    EXPECT_GT(writer_len, 100u);
    bytebuf_free(&out);
}

} // namespace
