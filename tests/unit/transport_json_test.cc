// transport_json_test.cc - the transport (common/remoting.c) with RocketMQ's
// encodings on real loopback sockets: a server answers each request in the
// serialize type it came in, and the requests it sends a peer (oneway, with
// a control body, as CHECK_TRANSACTION_STATE or RESET_CONSUMER_CLIENT_OFFSET
// are sent) go out in the type that peer last used: JSON header and JSON
// body to a RocketMQ client, protobuf to ours, on the same server.

#include <gtest/gtest.h>

#include <jansson.h>

#include <string>
#include <vector>

#include "loop_thread.h"
#include "raw_socket.h"

extern "C" {
#include "body.pb-c.h"
#include "remoting.h"
}

namespace {

// A code whose handler first pushes a oneway request with a KVTable body
// back to the requester, then answers.
enum { CODE_PUSH_BACK = 9101, CODE_PUSHED = 9102 };

struct Server {
    LoopThread lt;
    rm_dispatch *d = nullptr;
    rm_server *srv = nullptr;
    int port = 0;
    Server() {
        lt.run([&] {
            d = rm_dispatch_new();
            rm_dispatch_on(d, CODE_PUSH_BACK, push_back, this);
            srv = rm_server_new(lt.loop(), nullptr, d);
            char err[256];
            ASSERT_EQ(0, rm_server_listen(srv, "127.0.0.1", 0, err, sizeof err)) << err;
            port = rm_server_port(srv);
        });
    }
    ~Server() {
        lt.run([&] {
            rm_server_free(srv);
            rm_dispatch_free(d);
        });
    }
    static void push_back(rm_conn *c, const rm_cmd *req, void *) {
        Mq__KVTable t = MQ__KVTABLE__INIT;
        Mq__KVTable__TableEntry e = MQ__KVTABLE__TABLE_ENTRY__INIT;
        e.key = (char *)"k";
        e.value = (char *)"v";
        Mq__KVTable__TableEntry *es[] = {&e};
        t.n_table = 1;
        t.table = es;
        Mq__RemotingHeader p = MQ__REMOTING_HEADER__INIT;
        p.code = CODE_PUSHED;
        EXPECT_EQ(RM_OK, rm_oneway_msg(c, &p, &t.base));
        rm_reply_ok(c, req, &t.base);
    }
};

struct Frame {
    uint8_t type;
    std::string header, body;
};

Frame read(RawSocket &s) {
    std::vector<uint8_t> fr;
    EXPECT_TRUE(s.read_frame(fr));
    Frame f{};
    if (fr.size() < 8)
        return f;
    uint32_t mark = be32_load(fr.data() + 4);
    uint32_t hl = mark & 0xFFFFFF;
    f.type = (uint8_t)(mark >> 24);
    f.header.assign((const char *)fr.data() + 8, hl);
    f.body.assign((const char *)fr.data() + 8 + hl, fr.size() - 8 - hl);
    return f;
}

TEST(TransportJson, RequestsToAPeerGoOutInItsEncoding) {
    Server s;
    // A RocketMQ client: JSON in, JSON out, including the pushed request.
    RawSocket js(s.port);
    ASSERT_TRUE(js.ok());
    std::string h = "{\"code\":" + std::to_string(CODE_PUSH_BACK) + ",\"opaque\":5,\"flag\":0,\"language\":\"JAVA\"}";
    std::string f(8, '\0');
    be32_store(&f[0], (uint32_t)(4 + h.size()));
    be32_store(&f[4], (uint32_t)h.size());
    ASSERT_TRUE(js.send_all(f + h));
    for (int i = 0; i < 2; i++) {
        Frame fr = read(js);
        EXPECT_EQ(RM_SERIALIZE_JSON, fr.type);
        json_error_t je;
        json_t *hj = json_loadb(fr.header.data(), fr.header.size(), 0, &je);
        ASSERT_NE(nullptr, hj) << je.text;
        int flag = (int)json_integer_value(json_object_get(hj, "flag"));
        if (flag & RM_FLAG_RESPONSE) {
            EXPECT_EQ(5, json_integer_value(json_object_get(hj, "opaque")));
        } else {
            EXPECT_EQ(RM_FLAG_ONEWAY, flag);
            EXPECT_EQ(CODE_PUSHED, json_integer_value(json_object_get(hj, "code")));
        }
        json_decref(hj);
        json_t *bj = json_loadb(fr.body.data(), fr.body.size(), 0, &je);
        ASSERT_NE(nullptr, bj) << "body is not JSON: " << fr.body;
        EXPECT_STREQ("v", json_string_value(json_object_get(json_object_get(bj, "table"), "k")));
        json_decref(bj);
    }

    // Our protobuf client on the same server: protobuf both ways.
    RawSocket ps(s.port);
    ASSERT_TRUE(ps.ok());
    ASSERT_TRUE(ps.send_all(make_request(CODE_PUSH_BACK, 6)));
    for (int i = 0; i < 2; i++) {
        Frame fr = read(ps);
        EXPECT_EQ(RM_SERIALIZE_PROTOBUF, fr.type);
        Mq__KVTable *t = mq__kvtable__unpack(nullptr, fr.body.size(), (const uint8_t *)fr.body.data());
        ASSERT_NE(nullptr, t);
        ASSERT_EQ(1u, t->n_table);
        EXPECT_STREQ("v", t->table[0]->value);
        mq__kvtable__free_unpacked(t, nullptr);
    }
}

} // namespace
