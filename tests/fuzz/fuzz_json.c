/*
 * fuzz_json.c - RocketMQ's header encodings (JSON, serialize type 0, and
 * the binary ROCKETMQ form, type 1) and its JSON control bodies, through the
 * codec table of common/frame.c (frame_json.c fills those rows).
 *
 * Input: first byte = mode (bit 0: header type 0 or 1; bit 1: decode the
 * rest as a JSON control body instead, the second byte picking the message
 * among every message of proto/). Checked: a decoded header re-encodes in
 * the same type and decodes again to the same code, opaque and flag; a
 * decoded body re-encodes as JSON and decodes again; a refusal comes with an
 * error text. Where no codec is linked for a type (before frame_json.c),
 * every input is refused and only that is checked.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "body.pb-c.h"
#include "frame.h"
#include "fuzz_check.h"
#include "log.h"
#include "protocol.h"

static const ProtobufCMessageDescriptor *const all_messages[] = {
#define MQ_PROTO_MESSAGE(d) &d,
#include "all_messages.inc"
#undef MQ_PROTO_MESSAGE
};

static void header(uint8_t type, const uint8_t *data, size_t size, arena *a)
{
    Mq__RemotingHeader *h = NULL;
    char err[256] = "";
    if (frame_header_decode(type, data, size, a, &h, err, sizeof err) != 0) {
        FUZZ_CHECK_ERR(err);
        return;
    }
    FUZZ_CHECK(h != NULL && frame_serialize_supported(type));
    bytebuf b;
    bytebuf_init(&b);
    if (frame_encode(type, h, NULL, 0, &b, err, sizeof err) == 0) {
        frame_view f;
        FUZZ_CHECK(frame_parse(b.data, b.len, UINT32_MAX, &f) == FRAME_OK);
        Mq__RemotingHeader *h2 = NULL;
        if (frame_header_decode(type, f.header, f.header_len, a, &h2, err, sizeof err) != 0) {
            fprintf(stderr, "re-encoded header does not decode: %s\n", err);
            abort();
        }
        FUZZ_CHECK(h2->code == h->code && h2->opaque == h->opaque && h2->flag == h->flag);
    } else {
        FUZZ_CHECK_ERR(err);
    }
    bytebuf_free(&b);
}

static void body(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size, arena *a)
{
    char err[256] = "";
    ProtobufCMessage *m = frame_body_decode(RM_SERIALIZE_JSON, d, data, size, a, err, sizeof err);
    if (!m) {
        FUZZ_CHECK_ERR(err);
        return;
    }
    FUZZ_CHECK(m->descriptor == d);
    bytebuf b;
    bytebuf_init(&b);
    FUZZ_CHECK(frame_body_encode(RM_SERIALIZE_JSON, m, &b, err, sizeof err) == 0);
    ProtobufCMessage *m2 = frame_body_decode(RM_SERIALIZE_JSON, d, b.data, b.len, a, err, sizeof err);
    if (!m2) {
        fprintf(stderr, "re-encoded %s body does not decode: %s\n%.*s\n", d->short_name, err, (int)b.len,
                (const char *)b.data);
        abort();
    }
    bytebuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arena a;
    static bool ready;
    if (!ready) {
        log_set_level(LOG_OFF);
        arena_init(&a, 8192);
        ready = true;
    }
    if (size < 2)
        return 0;
    uint8_t mode = data[0], pick = data[1];
    arena_reset(&a);
    if (mode & 2)
        body(all_messages[pick % (sizeof all_messages / sizeof all_messages[0])], data + 2, size - 2, &a);
    else
        header(mode & 1 ? RM_SERIALIZE_ROCKETMQ : RM_SERIALIZE_JSON, data + 2, size - 2, &a);
    return 0;
}
