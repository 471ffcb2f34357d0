// json_protocol_test.cc - RocketMQ's JSON remoting (serialize type 0) against
// real mqnamesrv and mqbroker processes on free ports: routes, cluster info,
// topic lists and KV config in RocketMQ's JSON shapes; a broker registering
// the way a RocketMQ 4.x broker does; lenient input; bad JSON answered or
// refused without disturbing other connections; our protobuf clients served
// side by side on the same ports.

#include <gtest/gtest.h>

#include <jansson.h>

#include <memory>
#include <string>
#include <vector>

#include "cluster.h"
#include "raw_socket.h"
#include "wait.h"

extern "C" {
#include "crc.h"
#include "log.h"
#include "mq/admin.h"
}

namespace {

const int quiet_logs = (log_set_level(LOG_WARN), 0);

// One answer: the parsed JSON header and the raw body.
struct Answer {
    json_t *hdr = nullptr;
    std::string body;
    uint8_t type = 255;
    ~Answer() {
        json_decref(hdr);
        json_decref(body_json);
    }
    Answer() = default;
    Answer(const Answer &) = delete;
    int code() const { return (int)json_integer_value(json_object_get(hdr, "code")); }
    int opaque() const { return (int)json_integer_value(json_object_get(hdr, "opaque")); }
    std::string remark() const {
        const char *r = json_string_value(json_object_get(hdr, "remark"));
        return r ? r : "";
    }
    std::string ext(const char *key) const {
        const char *v = json_string_value(json_object_get(json_object_get(hdr, "extFields"), key));
        return v ? v : "<none>";
    }
    // The body parsed as JSON (owned by the answer).
    json_t *json() {
        if (!body_json) {
            json_error_t je;
            body_json = json_loadb(body.data(), body.size(), 0, &je);
            EXPECT_NE(nullptr, body_json) << je.text << ": " << body;
        }
        return body_json;
    }
    json_t *body_json = nullptr;
};

// A RocketMQ client connection speaking JSON headers.
class JsonClient {
  public:
    explicit JsonClient(int port) : s_(port) {}
    bool ok() const { return s_.ok(); }
    RawSocket &sock() { return s_; }

    // Sends {code, language, version, opaque, flag 0, extFields: ext}; ext is JSON text.
    bool send(int code, const std::string &ext = "{}", const std::string &body = "") {
        std::string h = "{\"code\":" + std::to_string(code) + ",\"language\":\"JAVA\",\"version\":401,\"opaque\":" +
                        std::to_string(++opaque_) + ",\"flag\":0,\"extFields\":" + ext + "}";
        return send_raw(h, body);
    }
    bool send_raw(const std::string &header, const std::string &body = "", uint8_t type = 0) {
        std::string f(8, '\0');
        be32_store(&f[0], (uint32_t)(4 + header.size() + body.size()));
        be32_store(&f[4], ((uint32_t)type << 24) | (uint32_t)header.size());
        return s_.send_all(f + header + body);
    }
    bool read(Answer &a, int timeout_ms = 5000) {
        std::vector<uint8_t> fr;
        if (!s_.read_frame(fr, timeout_ms))
            return false;
        uint32_t mark = be32_load(fr.data() + 4);
        a.type = (uint8_t)(mark >> 24);
        uint32_t hl = mark & 0xFFFFFF;
        json_error_t je;
        a.hdr = json_loadb((const char *)fr.data() + 8, hl, 0, &je);
        EXPECT_NE(nullptr, a.hdr) << "answer header is not JSON: " << je.text;
        a.body.assign((const char *)fr.data() + 8 + hl, fr.size() - 8 - hl);
        return a.hdr != nullptr;
    }
    // Sends and reads the answer, which must be a JSON response to this request.
    std::unique_ptr<Answer> call(int code, const std::string &ext = "{}", const std::string &body = "") {
        auto a = std::make_unique<Answer>();
        EXPECT_TRUE(send(code, ext, body));
        EXPECT_TRUE(read(*a)) << "no answer to code " << code;
        EXPECT_EQ(RM_SERIALIZE_JSON, a->type);
        EXPECT_EQ(opaque_, a->opaque());
        EXPECT_EQ(1, json_integer_value(json_object_get(a->hdr, "flag")));
        return a;
    }
    int last_opaque() const { return opaque_; }

  private:
    RawSocket s_;
    int opaque_ = 0;
};

class JsonProtocolTest : public ::testing::Test {
  protected:
    JsonProtocolTest() : c("jsonproto") {}
    MqCluster c;
    MqProcess *ns = nullptr, *broker = nullptr;
    void SetUp() override {
        ns = &c.add_namesrv();
        ASSERT_TRUE(ns->start());
        broker = &c.add_broker("broker-a", c.namesrv_list(), {"--mapedFileSizeCommitLog=1048576"});
        ASSERT_TRUE(broker->start());
    }
    // Creates a topic with a JSON UPDATE_AND_CREATE_TOPIC on the broker.
    void create_topic(const std::string &topic, int queues) {
        JsonClient b(broker->port());
        ASSERT_TRUE(b.ok());
        std::string q = std::to_string(queues);
        auto a = b.call(17, "{\"topic\":\"" + topic + "\",\"defaultTopic\":\"TBW102\",\"readQueueNums\":" + q +
                                ",\"writeQueueNums\":\"" + q + "\",\"perm\":6,\"topicFilterType\":\"SINGLE_TAG\","
                                "\"topicSysFlag\":0,\"order\":false}");
        ASSERT_EQ(0, a->code()) << a->remark();
    }
};

TEST_F(JsonProtocolTest, RouteClusterAndTopicListsInRocketMqShape) {
    create_topic("JsonTopic", 3);
    JsonClient n(ns->port());
    ASSERT_TRUE(n.ok());
    std::unique_ptr<Answer> r;
    ASSERT_TRUE(wait_for([&] {
        r = n.call(105, R"({"topic":"JsonTopic"})");
        return r->code() == 0;
    })) << r->remark();
    json_t *route = r->json();
    ASSERT_TRUE(json_is_object(route)) << r->body;
    json_t *qd = json_array_get(json_object_get(route, "queueDatas"), 0);
    EXPECT_STREQ("broker-a", json_string_value(json_object_get(qd, "brokerName")));
    EXPECT_EQ(3, json_integer_value(json_object_get(qd, "readQueueNums")));
    EXPECT_EQ(3, json_integer_value(json_object_get(qd, "writeQueueNums")));
    EXPECT_EQ(6, json_integer_value(json_object_get(qd, "perm")));
    json_t *bd = json_array_get(json_object_get(route, "brokerDatas"), 0);
    EXPECT_STREQ("broker-a", json_string_value(json_object_get(bd, "brokerName")));
    EXPECT_STREQ("DefaultCluster", json_string_value(json_object_get(bd, "cluster")));
    EXPECT_EQ(broker->addr(), json_string_value(json_object_get(json_object_get(bd, "brokerAddrs"), "0")));

    // Unknown topic: TOPIC_NOT_EXIST with RocketMQ's remark, still JSON.
    auto nx = n.call(105, R"({"topic":"NoSuchTopic"})");
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, nx->code());
    EXPECT_NE(std::string::npos, nx->remark().find("No topic route info")) << nx->remark();
    EXPECT_TRUE(nx->body.empty());

    auto ci = n.call(106);
    ASSERT_EQ(0, ci->code());
    json_t *bat = json_object_get(ci->json(), "brokerAddrTable");
    EXPECT_EQ(broker->addr(),
              json_string_value(json_object_get(json_object_get(json_object_get(bat, "broker-a"), "brokerAddrs"), "0")));
    json_t *cat = json_object_get(json_object_get(ci->json(), "clusterAddrTable"), "DefaultCluster");
    ASSERT_TRUE(json_is_array(cat)) << ci->body;
    EXPECT_STREQ("broker-a", json_string_value(json_array_get(cat, 0)));

    auto contains = [](json_t *list, const char *topic) {
        for (size_t i = 0; i < json_array_size(list); i++)
            if (!strcmp(json_string_value(json_array_get(list, i)), topic))
                return true;
        return false;
    };
    auto all = n.call(206);
    ASSERT_EQ(0, all->code());
    EXPECT_TRUE(contains(json_object_get(all->json(), "topicList"), "JsonTopic")) << all->body;
    auto by = n.call(224, R"({"cluster":"DefaultCluster"})");
    ASSERT_EQ(0, by->code());
    EXPECT_TRUE(contains(json_object_get(by->json(), "topicList"), "JsonTopic")) << by->body;
    auto none = n.call(224, R"({"cluster":"OtherCluster"})");
    ASSERT_EQ(0, none->code());
    EXPECT_EQ(0u, json_array_size(json_object_get(none->json(), "topicList"))) << none->body;

    // Our own admin client (protobuf) on the same port sees the same route.
    mq_admin *adm = nullptr;
    mq_error err{};
    ASSERT_EQ(MQ_OK, mq_admin_new(ns->addr().c_str(), 3000, &adm, &err)) << err.message;
    mq_topic_route *tr = nullptr;
    ASSERT_EQ(MQ_OK, mq_admin_topic_route(adm, "JsonTopic", &tr, &err)) << err.message;
    ASSERT_EQ(1u, tr->n_queue_datas);
    EXPECT_EQ(3, tr->queue_datas[0].write_queue_nums);
    mq_topic_route_free(tr);
    mq_admin_free(adm);
}

TEST_F(JsonProtocolTest, KvConfig) {
    JsonClient n(ns->port());
    ASSERT_TRUE(n.ok());
    auto miss = n.call(101, R"({"namespace":"NS1","key":"k1"})");
    EXPECT_EQ(RS_QUERY_NOT_FOUND, miss->code());
    EXPECT_EQ("No config item, Namespace: NS1 Key: k1", miss->remark());
    EXPECT_EQ(0, n.call(100, R"({"namespace":"NS1","key":"k1","value":"v1"})")->code());
    EXPECT_EQ(0, n.call(100, R"({"namespace":"NS1","key":"k2","value":42})")->code()); // a number is a value too
    auto got = n.call(101, R"({"namespace":"NS1","key":"k1"})");
    EXPECT_EQ(0, got->code());
    EXPECT_EQ("v1", got->ext("value"));
    auto list = n.call(219, R"({"namespace":"NS1"})");
    ASSERT_EQ(0, list->code());
    json_t *table = json_object_get(list->json(), "table");
    EXPECT_STREQ("v1", json_string_value(json_object_get(table, "k1")));
    EXPECT_STREQ("42", json_string_value(json_object_get(table, "k2")));
    EXPECT_EQ(0, n.call(102, R"({"namespace":"NS1","key":"k1"})")->code());
    EXPECT_EQ(RS_QUERY_NOT_FOUND, n.call(101, R"({"namespace":"NS1","key":"k1"})")->code());
    EXPECT_EQ(0, n.call(102, R"({"namespace":"NS1","key":"never-there"})")->code());
    auto bad = n.call(100, R"({"namespace":"NS1","value":"v"})");
    EXPECT_EQ(RS_INVALID_PARAMETER, bad->code());
    EXPECT_NE(std::string::npos, bad->remark().find("namespace and key")) << bad->remark();
    EXPECT_EQ(RS_QUERY_NOT_FOUND, n.call(219, R"({"namespace":"Empty"})")->code());
}

TEST(JsonNameserver, KvConfigPersistsAcrossRestarts) {
    MqCluster c("jsonkv");
    std::string path = c.dir() + "/kvConfig.json";
    MqProcess &ns = c.add_namesrv({"--kvConfigPath=" + path, "--orderMessageEnable=true"});
    ASSERT_TRUE(ns.start());
    {
        JsonClient n(ns.port());
        EXPECT_EQ(0, n.call(100, R"({"namespace":"ORDER_TOPIC_CONFIG","key":"OrderedTopic","value":"broker-x:4"})")->code());
        EXPECT_EQ(0, n.call(100, R"({"namespace":"NS2","key":"a b","value":"line\nbreak"})")->code());
    }
    std::string text = mqtest::read_file(path);
    EXPECT_NE(std::string::npos, text.find("\"configTable\"")) << text;
    ASSERT_TRUE(ns.restart());
    JsonClient n(ns.port());
    auto got = n.call(101, R"({"namespace":"NS2","key":"a b"})");
    ASSERT_EQ(0, got->code()) << got->remark();
    EXPECT_EQ("line\nbreak", got->ext("value"));

    // A RocketMQ broker registering gets the ORDER_TOPIC_CONFIG table back,
    // and (orderMessageEnable) the route carries orderTopicConf.
    std::string body = R"({"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,)"
                       R"("timestamp":1733450000000},"topicConfigTable":{"OrderedTopic":{"order":true,"perm":6,)"
                       R"("readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"OrderedTopic",)"
                       R"("topicSysFlag":0,"writeQueueNums":4}}}})";
    auto reg = n.call(103,
                      R"({"brokerName":"broker-x","brokerAddr":"127.0.0.1:1","clusterName":"C","haServerAddr":"127.0.0.1:2",)"
                      R"("brokerId":"0","compressed":"false"})",
                      body);
    ASSERT_EQ(0, reg->code()) << reg->remark();
    EXPECT_STREQ("broker-x:4",
                 json_string_value(json_object_get(json_object_get(reg->json(), "table"), "OrderedTopic")));
    auto route = n.call(105, R"({"topic":"OrderedTopic"})");
    ASSERT_EQ(0, route->code()) << route->remark();
    EXPECT_STREQ("broker-x:4", json_string_value(json_object_get(route->json(), "orderTopicConf")));

    // A file that is not JSON stops the nameserver with a clear error rather
    // than being overwritten.
    ASSERT_TRUE(ns.stop());
    FILE *f = fopen(path.c_str(), "w");
    ASSERT_NE(nullptr, f);
    fputs("{not json", f);
    fclose(f);
    ToolResult r = c.run("mqnamesrv", {"--listenPort=0", "--kvConfigPath=" + path}, 10000);
    EXPECT_EQ(1, r.exit_code);
    EXPECT_NE(std::string::npos, r.err.find("is not valid JSON")) << r.err;
}

TEST_F(JsonProtocolTest, RegisterAndUnregisterLikeARocketMqBroker) {
    JsonClient n(ns->port());
    ASSERT_TRUE(n.ok());
    // The JSON a 4.x broker sends (fastjson: numbers, booleans, nested maps,
    // fields we do not keep), with its body CRC.
    std::string body = R"({"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,)"
                       R"("stateVersion":0,"timestamp":1733450000000},"topicConfigTable":{"JavaTopic":{"attributes":{},)"
                       R"("order":false,"perm":6,"readQueueNums":2,"topicFilterType":"SINGLE_TAG","topicName":"JavaTopic",)"
                       R"("topicSysFlag":0,"writeQueueNums":2},"TBW102":{"order":false,"perm":7,"readQueueNums":8,)"
                       R"("topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8}}}})";
    int32_t crc = (int32_t)mq_crc32(0, body.data(), body.size());
    std::string ext = R"({"brokerName":"broker-java","brokerAddr":"127.0.0.1:30911","clusterName":"JavaCluster",)"
                      R"("haServerAddr":"127.0.0.1:30912","brokerId":0,"compressed":false,"bodyCrc32":)" +
                      std::to_string(crc) + "}";
    auto reg = n.call(103, ext, body);
    ASSERT_EQ(0, reg->code()) << reg->remark();
    auto route = n.call(105, R"({"topic":"JavaTopic"})");
    ASSERT_EQ(0, route->code()) << route->remark();
    json_t *bd = json_array_get(json_object_get(route->json(), "brokerDatas"), 0);
    EXPECT_STREQ("127.0.0.1:30911", json_string_value(json_object_get(json_object_get(bd, "brokerAddrs"), "0")));
    EXPECT_STREQ("JavaCluster", json_string_value(json_object_get(bd, "cluster")));

    // A slave of it learns the master's address and HA address.
    auto slave = n.call(103,
                        R"({"brokerName":"broker-java","brokerAddr":"127.0.0.1:30921","clusterName":"JavaCluster",)"
                        R"("haServerAddr":"127.0.0.1:30922","brokerId":"1"})",
                        body);
    ASSERT_EQ(0, slave->code()) << slave->remark();
    EXPECT_EQ("127.0.0.1:30911", slave->ext("masterAddr"));
    EXPECT_EQ("127.0.0.1:30912", slave->ext("haServerAddr"));

    // A wrong CRC is refused with a clear answer.
    auto badcrc = n.call(103,
                         R"({"brokerName":"broker-java","brokerAddr":"127.0.0.1:30911","clusterName":"JavaCluster",)"
                         R"("brokerId":0,"bodyCrc32":12345})",
                         body);
    EXPECT_EQ(RS_SYSTEM_ERROR, badcrc->code());
    EXPECT_NE(std::string::npos, badcrc->remark().find("CRC")) << badcrc->remark();

    for (const char *id : {"1", "0"}) {
        auto un = n.call(104, std::string(R"({"brokerName":"broker-java","brokerAddr":"127.0.0.1:309)") +
                                  (id[0] == '0' ? "11" : "21") + R"(","clusterName":"JavaCluster","brokerId":)" + id +
                                  "}");
        EXPECT_EQ(0, un->code()) << un->remark();
    }
    EXPECT_EQ(RS_TOPIC_NOT_EXIST, n.call(105, R"({"topic":"JavaTopic"})")->code());
}

TEST_F(JsonProtocolTest, BadJsonIsAnsweredOrRefusedAndOthersKeepBeingServed) {
    JsonClient good(ns->port());
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(0, good.call(206)->code());

    // A value that does not fit its field: answered, with the field named,
    // and the connection keeps serving.
    JsonClient n(ns->port());
    auto a = n.call(224, R"({"cluster":{"nested":true}})");
    EXPECT_EQ(RS_SYSTEM_ERROR, a->code());
    EXPECT_NE(std::string::npos, a->remark().find("extFields.cluster: expected a string")) << a->remark();
    EXPECT_EQ(0, n.call(206)->code());
    // A body that is not JSON: answered with the reason.
    auto b = n.call(103, R"({"brokerName":"x","brokerAddr":"127.0.0.1:5","clusterName":"C","brokerId":0})",
                    "{\"topicConfigSerializeWrapper\":");
    EXPECT_EQ(RS_SYSTEM_ERROR, b->code());
    EXPECT_NE(std::string::npos, b->remark().find("undecodable RegisterBrokerBody JSON body")) << b->remark();

    // A header that is not JSON at all cannot be answered (no opaque): that
    // connection is closed, the others go on.
    for (std::string junk : {std::string("{\"code\":105,\"opaque\":"), std::string("not json"), std::string("[]"),
                             std::string("{\"opaque\":3}")}) {
        JsonClient bad(ns->port());
        ASSERT_TRUE(bad.send_raw(junk));
        EXPECT_TRUE(bad.sock().wait_closed()) << junk;
        EXPECT_EQ(0, good.call(206)->code()) << junk;
    }
    // An unknown request code in JSON: REQUEST_CODE_NOT_SUPPORTED, in JSON.
    auto u = good.call(77777);
    EXPECT_EQ(RS_REQUEST_CODE_NOT_SUPPORTED, u->code());
    EXPECT_TRUE(ns->running());
}

TEST_F(JsonProtocolTest, RocketMqBinaryHeaderIsAnsweredInKind) {
    create_topic("BinTopic", 2);
    JsonClient n(ns->port());
    ASSERT_TRUE(n.ok());
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    Mq__TopicRequestHeader th = MQ__TOPIC_REQUEST_HEADER__INIT;
    th.topic = (char *)"BinTopic";
    h.code = RC_GET_ROUTEINFO_BY_TOPIC;
    h.opaque = 99;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &th;
    bytebuf b;
    bytebuf_init(&b);
    char err[128];
    ASSERT_EQ(0, frame_encode(RM_SERIALIZE_ROCKETMQ, &h, nullptr, 0, &b, err, sizeof err)) << err;
    ASSERT_TRUE(n.sock().send_all(b.data, b.len));
    bytebuf_free(&b);
    std::vector<uint8_t> fr;
    ASSERT_TRUE(n.sock().read_frame(fr));
    frame_view v;
    ASSERT_EQ(FRAME_OK, frame_parse(fr.data(), fr.size(), RM_MAX_FRAME_DEFAULT, &v));
    EXPECT_EQ(RM_SERIALIZE_ROCKETMQ, v.serialize_type);
    arena a;
    arena_init(&a, 1024);
    Mq__RemotingHeader *back = nullptr;
    ASSERT_EQ(0, frame_header_decode(v.serialize_type, v.header, v.header_len, &a, &back, err, sizeof err)) << err;
    EXPECT_EQ(0, back->code) << (back->remark ? back->remark : "");
    EXPECT_EQ(99, back->opaque);
    EXPECT_EQ(RM_FLAG_RESPONSE, back->flag);
    arena_free(&a);
    // The body is RocketMQ's JSON, as for a JSON header.
    json_error_t je;
    json_t *route = json_loadb((const char *)v.body, v.body_len, 0, &je);
    ASSERT_NE(nullptr, route) << je.text;
    EXPECT_EQ(2, json_integer_value(json_object_get(json_array_get(json_object_get(route, "queueDatas"), 0),
                                                    "writeQueueNums")));
    json_decref(route);
}

TEST_F(JsonProtocolTest, BrokerAnswersJsonFrames) {
    create_topic("JsonSend", 2);
    JsonClient b(broker->port());
    ASSERT_TRUE(b.ok());
    // SEND_MESSAGE_V2 with one-letter keys as a 4.x Java producer sends it.
    auto s = b.call(310,
                    R"({"a":"PG","b":"JsonSend","c":"TBW102","d":"4","e":"1","f":"0","g":"1733450000000","h":"0",)"
                    R"("i":"TAGS\u0001TagA\u0002KEYS\u0001k1\u0002","j":"0","k":"false","m":"false"})",
                    "hello from JSON");
    ASSERT_EQ(0, s->code()) << s->remark();
    EXPECT_EQ("1", s->ext("queueId"));
    EXPECT_EQ("0", s->ext("queueOffset"));
    EXPECT_EQ(32u, s->ext("msgId").size()) << s->ext("msgId");
    // GET_MAX_OFFSET with a numeric queueId, as ali-ons sends it (the queue
    // index is written just after the answer, so wait for it).
    std::unique_ptr<Answer> m;
    EXPECT_TRUE(wait_for([&] {
        m = b.call(30, R"({"topic":"JsonSend","queueId":1})");
        return m->code() == 0 && m->ext("offset") == "1";
    })) << m->code() << " " << m->remark() << " offset " << m->ext("offset");
}

} // namespace
