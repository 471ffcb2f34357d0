/*
 * frame.c - framing plus the table of header/body codecs per serialize type.
 *
 * Type 2 (protobuf) is ours and lives here; RocketMQ's JSON (type 0) and
 * binary (type 1) headers are in frame_json.c and map extFields onto the
 * same typed oneof members. Control bodies of types 0 and 1 are RocketMQ's
 * JSON (a type-1 request still carries JSON bodies in RocketMQ). A type
 * outside the table is refused with a message naming it.
 */
#include "frame.h"

#include <stdio.h>

#include "frame_json.h"
#include "protocol.h"

typedef struct header_codec {
    const char *name;
    int (*decode)(const uint8_t *data, size_t len, arena *a, Mq__RemotingHeader **out, char *err,
                  size_t errlen);
    int (*encode)(const Mq__RemotingHeader *h, bytebuf *out, char *err, size_t errlen);
    int (*body_encode)(const ProtobufCMessage *msg, bytebuf *out, char *err, size_t errlen);
    ProtobufCMessage *(*body_decode)(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                     size_t len, arena *a, char *err, size_t errlen);
} header_codec;

/* ---- type 2: protobuf ---- */

/* protobuf-c accepts field number 0 when its tag is a non-minimal varint
 * (0x80 0x00 ...), keeps it as an unknown field and writes it back minimal,
 * which it then refuses: such a message could not be re-packed (the client
 * copies response headers that way). Field 0 is invalid protobuf: refuse. */
static bool pb_has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *at = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const ProtobufCMessage *const *items = *(const ProtobufCMessage *const *const *)at;
            for (size_t k = 0; k < n; k++)
                if (items[k] && pb_has_field_zero(items[k]))
                    return true;
        } else {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                continue;
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)at;
            if (sub && pb_has_field_zero(sub))
                return true;
        }
    }
    return false;
}

static int pb_header_decode(const uint8_t *data, size_t len, arena *a, Mq__RemotingHeader **out,
                            char *err, size_t errlen)
{
    Mq__RemotingHeader *h = mq__remoting_header__unpack(&a->pb, len, data);
    if (h && pb_has_field_zero(&h->base)) {
        snprintf(err, errlen, "undecodable protobuf header (%zu bytes): field number 0", len);
        return -1;
    }
    if (!h) {
        snprintf(err, errlen, "undecodable protobuf header (%zu bytes)", len);
        return -1;
    }
    *out = h;
    return 0;
}

static int pb_header_encode(const Mq__RemotingHeader *h, bytebuf *out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    size_t n = mq__remoting_header__get_packed_size(h);
    uint8_t *dst = bytebuf_reserve(out, n);
    out->len += mq__remoting_header__pack(h, dst);
    return 0;
}

static int pb_body_encode(const ProtobufCMessage *msg, bytebuf *out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *dst = bytebuf_reserve(out, n);
    out->len += protobuf_c_message_pack(msg, dst);
    return 0;
}

static ProtobufCMessage *pb_body_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                        size_t len, arena *a, char *err, size_t errlen)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a->pb, len, data);
    if (m && pb_has_field_zero(m)) {
        snprintf(err, errlen, "undecodable %s body (%zu bytes): field number 0", desc->short_name, len);
        return NULL;
    }
    if (!m)
        snprintf(err, errlen, "undecodable %s body (%zu bytes)", desc->short_name, len);
    return m;
}

static const header_codec codecs[] = {
    [RM_SERIALIZE_JSON] = {"JSON", frame_json_header_decode, frame_json_header_encode,
                           frame_json_body_encode, frame_json_body_decode},
    [RM_SERIALIZE_ROCKETMQ] = {"ROCKETMQ", frame_rmq_header_decode, frame_rmq_header_encode,
                               frame_json_body_encode, frame_json_body_decode},
    [RM_SERIALIZE_PROTOBUF] = {"PROTOBUF", pb_header_decode, pb_header_encode, pb_body_encode,
                               pb_body_decode},
};

static const header_codec *codec_for(uint8_t type, char *err, size_t errlen)
{
    if (type < sizeof codecs / sizeof codecs[0] && codecs[type].decode)
        return &codecs[type];
    if (type < sizeof codecs / sizeof codecs[0])
        snprintf(err, errlen, "serialize type %u (%s) is not supported by this server", type,
                 codecs[type].name);
    else
        snprintf(err, errlen, "unknown serialize type %u", type);
    return NULL;
}

bool frame_serialize_supported(uint8_t type)
{
    return type < sizeof codecs / sizeof codecs[0] && codecs[type].decode != NULL;
}

frame_status frame_parse(const uint8_t *buf, size_t len, uint32_t max_frame, frame_view *out)
{
    if (len < 4)
        return FRAME_NEED_MORE;
    uint32_t length = be32_load(buf);
    if (length > max_frame)
        return FRAME_TOO_BIG;
    if (length < 4)
        return FRAME_MALFORMED;
    if (len < 8)
        return FRAME_NEED_MORE;
    uint32_t mark = be32_load(buf + 4);
    uint32_t header_len = mark & 0xFFFFFF;
    if (header_len > length - 4)
        return FRAME_MALFORMED;
    if (len < (size_t)length + 4)
        return FRAME_NEED_MORE;
    out->frame_bytes = (size_t)length + 4;
    out->serialize_type = (uint8_t)(mark >> 24);
    out->header = buf + 8;
    out->header_len = header_len;
    out->body = buf + 8 + header_len;
    out->body_len = length - 4 - header_len;
    return FRAME_OK;
}

int frame_header_decode(uint8_t type, const uint8_t *data, size_t len, arena *a,
                        Mq__RemotingHeader **out, char *err, size_t errlen)
{
    const header_codec *c = codec_for(type, err, errlen);
    if (!c)
        return -1;
    return c->decode(data, len, a, out, err, errlen);
}

int frame_encode(uint8_t type, const Mq__RemotingHeader *h, const void *body, size_t body_len,
                 bytebuf *out, char *err, size_t errlen)
{
    const header_codec *c = codec_for(type, err, errlen);
    if (!c)
        return -1;
    size_t start = out->len;
    bytebuf_reserve(out, FRAME_PREFIX);
    out->len += FRAME_PREFIX;
    if (c->encode(h, out, err, errlen) != 0) {
        out->len = start;
        return -1;
    }
    size_t header_len = out->len - start - FRAME_PREFIX;
    if (header_len > RM_MAX_HEADER || 4 + header_len + body_len > UINT32_MAX) {
        out->len = start;
        snprintf(err, errlen, "frame too large (header %zu, body %zu bytes)", header_len, body_len);
        return -1;
    }
    be32_store(out->data + start, (uint32_t)(4 + header_len + body_len));
    be32_store(out->data + start + 4, ((uint32_t)type << 24) | (uint32_t)header_len);
    if (body && body_len)
        bytebuf_append(out, body, body_len);
    return 0;
}

int frame_body_encode(uint8_t type, const ProtobufCMessage *msg, bytebuf *out, char *err,
                      size_t errlen)
{
    const header_codec *c = codec_for(type, err, errlen);
    if (!c)
        return -1;
    return c->body_encode(msg, out, err, errlen);
}

ProtobufCMessage *frame_body_decode(uint8_t type, const ProtobufCMessageDescriptor *desc,
                                    const uint8_t *data, size_t len, arena *a, char *err,
                                    size_t errlen)
{
    const header_codec *c = codec_for(type, err, errlen);
    if (!c)
        return NULL;
    return c->body_decode(desc, data, len, a, err, errlen);
}
