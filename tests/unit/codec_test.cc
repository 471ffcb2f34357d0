// codec_test.cc - the frame codec (common/frame.c) and every message in
// proto/: each is filled field by field from its descriptor, encoded,
// decoded and re-encoded, and must come back byte for byte. The message list
// is generated from the protoc-c output, so new messages are covered
// without touching this file.

#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "arena.h"
#include "body.pb-c.h"
#include "frame.h"
#include "message.h"
#include "protocol.h"
#include "remoting.pb-c.h"
}

namespace {

#define MQ_PROTO_MESSAGE(d) &d,
const ProtobufCMessageDescriptor *const all_messages[] = {
#include "all_messages.inc"
};
#undef MQ_PROTO_MESSAGE

// Fills every field of m (all members of a oneof only if `oneof_case` is 0;
// otherwise only that member). Values depend on `seed` so fields differ.
void fill(ProtobufCMessage *m, arena *a, int seed, int depth, unsigned oneof_case = 0);

void *field_ptr(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
    return (char *)m + f->offset;
}

size_t scalar_size(ProtobufCType t) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    default:
        return 8;
    }
}

void set_value(void *dst, const ProtobufCFieldDescriptor *f, arena *a, int v, int depth) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
        int32_t x = -1000 * v - 7;
        memcpy(dst, &x, 4);
        break;
    }
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
        uint32_t x = 3000000000u + v;
        memcpy(dst, &x, 4);
        break;
    }
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t x = (int64_t)1 << 40;
        x = -(x + v);
        memcpy(dst, &x, 8);
        break;
    }
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t x = ((uint64_t)1 << 63) + v;
        memcpy(dst, &x, 8);
        break;
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float x = 1.5f * v;
        memcpy(dst, &x, 4);
        break;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = 2.25 * v;
        memcpy(dst, &x, 8);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean x = 1;
        memcpy(dst, &x, sizeof x);
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = (const ProtobufCEnumDescriptor *)f->descriptor;
        int x = e->values[v % e->n_values].value;
        memcpy(dst, &x, 4);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        std::string s = std::string(f->name) + "-\xc3\xa9-" + std::to_string(v);
        char *p = arena_strndup(a, s.data(), s.size());
        memcpy(dst, &p, sizeof p);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData b;
        b.len = 5;
        b.data = (uint8_t *)arena_strndup(a, "\0\1\2\3\4", 5);
        memcpy(dst, &b, sizeof b);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *d = (const ProtobufCMessageDescriptor *)f->descriptor;
        ProtobufCMessage *sub = (ProtobufCMessage *)arena_alloc(a, d->sizeof_message);
        d->message_init(sub);
        if (depth < 4)
            fill(sub, a, v + 1, depth + 1);
        memcpy(dst, &sub, sizeof sub);
        break;
    }
    }
}

void fill(ProtobufCMessage *m, arena *a, int seed, int depth, unsigned oneof_case) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int v = seed + (int)i;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            unsigned want = oneof_case;
            uint32_t *case_p = (uint32_t *)((char *)m + f->quantifier_offset);
            if (want ? f->id != want : *case_p != 0)
                continue; // one member per oneof
            *case_p = f->id;
            set_value(field_ptr(m, f), f, a, v, depth);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = 3;
            size_t sz = scalar_size(f->type);
            void *arr = arena_alloc(a, n * sz);
            for (size_t k = 0; k < n; k++)
                set_value((char *)arr + k * sz, f, a, v + (int)k, depth);
            *(size_t *)((char *)m + f->quantifier_offset) = n;
            memcpy(field_ptr(m, f), &arr, sizeof arr);
        } else {
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
            set_value(field_ptr(m, f), f, a, v, depth);
        }
    }
}

std::string pack(const ProtobufCMessage *m) {
    std::string s(protobuf_c_message_get_packed_size(m), '\0');
    protobuf_c_message_pack(m, (uint8_t *)s.data());
    return s;
}

TEST(CodecTest, EveryProtoMessageRoundTrips) {
    ASSERT_GE(sizeof all_messages / sizeof all_messages[0], 60u);
    for (const ProtobufCMessageDescriptor *d : all_messages) {
        SCOPED_TRACE(d->name);
        arena a;
        arena_init(&a, 4096);
        ProtobufCMessage *m = (ProtobufCMessage *)arena_alloc(&a, d->sizeof_message);
        d->message_init(m);
        fill(m, &a, 1, 0);
        std::string bytes = pack(m);
        ASSERT_GT(bytes.size(), 0u);

        // Through the body codec of our serialize type.
        bytebuf b;
        bytebuf_init(&b);
        char err[256];
        ASSERT_EQ(0, frame_body_encode(RM_SERIALIZE_PROTOBUF, m, &b, err, sizeof err)) << err;
        ASSERT_EQ(bytes, std::string((char *)b.data, b.len));
        arena a2;
        arena_init(&a2, 4096);
        ProtobufCMessage *back = frame_body_decode(RM_SERIALIZE_PROTOBUF, d, b.data, b.len, &a2, err, sizeof err);
        ASSERT_NE(nullptr, back) << err;
        EXPECT_EQ(bytes, pack(back));
        bytebuf_free(&b);
        arena_free(&a2);
        arena_free(&a);
    }
}

TEST(CodecTest, EveryTypedHeaderRoundTripsInAFrame) {
    const ProtobufCMessageDescriptor *hd = &mq__remoting_header__descriptor;
    int members = 0;
    for (unsigned i = 0; i < hd->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &hd->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        members++;
        SCOPED_TRACE(f->name);
        arena a;
        arena_init(&a, 4096);
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        fill(&h.base, &a, 5, 0, f->id);
        ASSERT_EQ((unsigned)h.ext_case, f->id);
        std::string body = "body-bytes\x00\x01";
        bytebuf out;
        bytebuf_init(&out);
        char err[256];
        ASSERT_EQ(0, frame_encode(RM_SERIALIZE_PROTOBUF, &h, body.data(), body.size(), &out, err, sizeof err)) << err;

        frame_view v;
        ASSERT_EQ(FRAME_OK, frame_parse(out.data, out.len, RM_MAX_FRAME_DEFAULT, &v));
        EXPECT_EQ(out.len, v.frame_bytes);
        EXPECT_EQ(RM_SERIALIZE_PROTOBUF, v.serialize_type);
        EXPECT_EQ(body, std::string((const char *)v.body, v.body_len));
        arena a2;
        arena_init(&a2, 4096);
        Mq__RemotingHeader *back = nullptr;
        ASSERT_EQ(0, frame_header_decode(v.serialize_type, v.header, v.header_len, &a2, &back, err, sizeof err)) << err;
        EXPECT_EQ(h.ext_case, back->ext_case);
        EXPECT_EQ(pack(&h.base), pack(&back->base));
        ASSERT_NE(nullptr, rm_header_ext(back));
        EXPECT_EQ(f->descriptor, rm_header_ext(back)->descriptor);
        bytebuf_free(&out);
        arena_free(&a2);
        arena_free(&a);
    }
    EXPECT_GE(members, 30);
}

TEST(CodecTest, EveryTableCodeNamesAnExistingHeader) {
    for (int i = 0; rm_code_at(i); i++) {
        const rm_code_info *c = rm_code_at(i);
        SCOPED_TRACE(c->name);
        EXPECT_EQ(c, rm_code_lookup(c->code));
        for (auto ext : {c->request_ext, c->response_ext}) {
            if (ext != MQ__REMOTING_HEADER__EXT__NOT_SET) {
                EXPECT_NE(nullptr, protobuf_c_message_descriptor_get_field(&mq__remoting_header__descriptor, ext));
            }
        }
    }
    EXPECT_STREQ("SEND_MESSAGE_V2", rm_code_name(RC_SEND_MESSAGE_V2));
    EXPECT_STREQ("UNKNOWN", rm_code_name(123456));
    EXPECT_STREQ("FLUSH_DISK_TIMEOUT", rm_status_name(RS_FLUSH_DISK_TIMEOUT));
}

// The enums, the protocol table and the names come from one list each
// (protocol.h RM_REQUEST_CODES / RM_RESPONSE_CODES, message.h MSG_RESULTS):
// every number once, every code named by its list, the untabled codes left
// out of the table (answered REQUEST_CODE_NOT_SUPPORTED).
TEST(CodecTest, CodeListsGiveEachCodeOneNumberAndItsName) {
    std::set<int32_t> numbers;
    int tabled = 0;
#define CHECK_REQUEST(name, num, req, resp)                                  \
    EXPECT_TRUE(numbers.insert(num).second) << #name;                        \
    EXPECT_STREQ(#name, rm_code_name(RC_##name));                            \
    EXPECT_EQ(MQ__REMOTING_HEADER__EXT_##req, rm_code_lookup(num)->request_ext); \
    tabled++;
    RM_REQUEST_CODES(CHECK_REQUEST)
#undef CHECK_REQUEST
#define CHECK_UNTABLED(name, num)                       \
    EXPECT_TRUE(numbers.insert(num).second) << #name;   \
    EXPECT_EQ(nullptr, rm_code_lookup(RC_##name)) << #name;
    RM_REQUEST_CODES_UNTABLED(CHECK_UNTABLED)
#undef CHECK_UNTABLED
    EXPECT_EQ(nullptr, rm_code_at(tabled));
    EXPECT_NE(nullptr, rm_code_at(tabled - 1));

    std::set<int32_t> statuses;
#define CHECK_STATUS(name, num)                           \
    EXPECT_TRUE(statuses.insert(num).second) << #name;    \
    EXPECT_STREQ(#name, rm_status_name(num));
    RM_RESPONSE_CODES(CHECK_STATUS)
#undef CHECK_STATUS
    EXPECT_EQ(0, RS_SUCCESS);
    EXPECT_EQ(215, RS_FLOW_CONTROL);
    EXPECT_STREQ("UNKNOWN", rm_status_name(9999));

    std::set<int> results;
#define CHECK_RESULT(name, value, text)                   \
    EXPECT_TRUE(results.insert(value).second) << #name;   \
    EXPECT_STREQ(text, msg_strerror(MSG_##name));
    MSG_RESULTS(CHECK_RESULT)
#undef CHECK_RESULT
    EXPECT_EQ(-4, MSG_ERR_CRC);
    EXPECT_STREQ("unknown message error", msg_strerror(99));
}

std::string frame_bytes(uint32_t length, uint32_t type, uint32_t header_len, size_t extra) {
    std::string s(8 + extra, 'z');
    be32_store(&s[0], length);
    be32_store(&s[4], (type << 24) | header_len);
    return s;
}

TEST(CodecTest, FrameParseHandlesPartialBadAndOversizedInput) {
    frame_view v;
    std::string f = frame_bytes(4 + 3 + 5, 2, 3, 8);
    // Every strict prefix needs more bytes.
    for (size_t n = 0; n < f.size(); n++)
        EXPECT_EQ(FRAME_NEED_MORE, frame_parse((const uint8_t *)f.data(), n, 1024, &v)) << n;
    ASSERT_EQ(FRAME_OK, frame_parse((const uint8_t *)f.data(), f.size(), 1024, &v));
    EXPECT_EQ(3u, v.header_len);
    EXPECT_EQ(5u, v.body_len);
    EXPECT_EQ(16u, v.frame_bytes);
    // Two frames back to back: the first is found alone.
    std::string two = f + f;
    ASSERT_EQ(FRAME_OK, frame_parse((const uint8_t *)two.data(), two.size(), 1024, &v));
    EXPECT_EQ(16u, v.frame_bytes);

    std::string big = frame_bytes(2000, 2, 3, 0);
    EXPECT_EQ(FRAME_TOO_BIG, frame_parse((const uint8_t *)big.data(), 4, 1024, &v));
    std::string tiny = frame_bytes(3, 2, 0, 0);
    EXPECT_EQ(FRAME_MALFORMED, frame_parse((const uint8_t *)tiny.data(), tiny.size(), 1024, &v));
    std::string hdr_too_long = frame_bytes(10, 2, 7, 6);
    EXPECT_EQ(FRAME_MALFORMED, frame_parse((const uint8_t *)hdr_too_long.data(), hdr_too_long.size(), 1024, &v));
}

TEST(CodecTest, UnsupportedSerializeTypesAreRefusedWithTheirName) {
    arena a;
    arena_init(&a, 1024);
    Mq__RemotingHeader *h = nullptr;
    char err[256];
    EXPECT_NE(0, frame_header_decode(RM_SERIALIZE_ROCKETMQ, (const uint8_t *)"x", 1, &a, &h, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("ROCKETMQ")) << err;
    EXPECT_NE(0, frame_header_decode(99, (const uint8_t *)"x", 1, &a, &h, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("99")) << err;
    EXPECT_NE(0, frame_header_decode(RM_SERIALIZE_PROTOBUF, (const uint8_t *)"\xff\xff\xff", 3, &a, &h, err, sizeof err));
    arena_free(&a);
}

// protobuf-c takes field number 0 written as a non-minimal varint tag
// (0x80 0x00) as an unknown field, then refuses its own re-encoding of it;
// the client copies response headers by re-packing them, so such a header
// is refused at decode (found by tests/fuzz/fuzz_frame), also nested.
TEST(CodecTest, FieldNumberZeroIsRefusedEvenAsANonMinimalTag) {
    arena a;
    arena_init(&a, 1024);
    Mq__RemotingHeader *h = nullptr;
    char err[256] = "";
    const uint8_t top[] = {0x08, 0x0a, 0x80, 0x00, 0x05}; /* code=10, field 0 = 5 */
    EXPECT_NE(0, frame_header_decode(RM_SERIALIZE_PROTOBUF, top, sizeof top, &a, &h, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("field number 0")) << err;
    Mq__RemotingHeader ok = MQ__REMOTING_HEADER__INIT;
    Mq__SendMessageRequestHeader send = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
    ok.code = 10;
    ok.has_code = 1;
    ok.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
    ok.send_message = &send;
    std::vector<uint8_t> buf(mq__remoting_header__get_packed_size(&ok) + 3);
    size_t n = mq__remoting_header__pack(&ok, buf.data());
    ASSERT_EQ(0, frame_header_decode(RM_SERIALIZE_PROTOBUF, buf.data(), n, &a, &h, err, sizeof err)) << err;
    /* The typed header is the last field, length-delimited: grow it by the
     * three bytes of a field 0 inside it. */
    ASSERT_EQ(0x00, buf[n - 1]) << "expected an empty nested message at the end";
    buf[n - 1] = 3;
    buf[n] = 0x80;
    buf[n + 1] = 0x00;
    buf[n + 2] = 0x01;
    EXPECT_NE(0, frame_header_decode(RM_SERIALIZE_PROTOBUF, buf.data(), n + 3, &a, &h, err, sizeof err));
    arena_free(&a);
}

TEST(CodecTest, ZeroCopyBodyLengthIsCountedInThePrefix) {
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = 11;
    h.has_code = 1;
    bytebuf out;
    bytebuf_init(&out);
    char err[128];
    ASSERT_EQ(0, frame_encode(RM_SERIALIZE_PROTOBUF, &h, nullptr, 100, &out, err, sizeof err));
    uint32_t header_len = be32_load(out.data + 4) & 0xFFFFFF;
    EXPECT_EQ(out.len, 8 + header_len); // body not appended
    EXPECT_EQ(4 + header_len + 100, be32_load(out.data));
    bytebuf_free(&out);
}

} // namespace
