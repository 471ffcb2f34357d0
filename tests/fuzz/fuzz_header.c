/*
 * fuzz_header.c - the protobuf header decode for every request code.
 *
 * The first input byte picks an entry of the protocol table (protocol.h:
 * every request code the servers know); the rest is decoded three ways:
 *   1. as a whole mq.RemotingHeader (frame_header_decode, type 2), then put
 *      through the transport's check for each code in the table (does it
 *      carry the typed header that code needs? - handle_request) and
 *      rendered as JSON (common/json.c, as the HTTP views and tools do);
 *   2. as the picked code's typed request header message on its own;
 *   3. as the picked code's typed response header message;
 *   4. as a control body: the same byte picks one of every message of
 *      proto/ (all_messages.inc), decoded as frame_body_decode does for
 *      rm_body_decode.
 * Checked: what decodes re-packs and decodes again to the same packed size;
 * rm_header_ext agrees with the oneof case; JSON rendering never fails on a
 * decoded message; undecodable input comes with an error text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "fuzz_check.h"
#include "json.h"
#include "log.h"
#include "protocol.h"
#include "body.pb-c.h"

static const ProtobufCMessageDescriptor *const all_messages[] = {
#define MQ_PROTO_MESSAGE(d) &d,
#include "all_messages.inc"
#undef MQ_PROTO_MESSAGE
};

static void repack(const ProtobufCMessage *m, arena *a)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(m->descriptor, &a->pb, n, buf);
    FUZZ_CHECK(m2 != NULL);
    FUZZ_CHECK(protobuf_c_message_get_packed_size(m2) == n);
    free(buf);
}

static void render(const ProtobufCMessage *m)
{
    bytebuf b;
    bytebuf_init(&b);
    FUZZ_CHECK(json_from_message(m, false, &b) == 0);
    FUZZ_CHECK(b.len > 0);
    bytebuf_free(&b);
}

static const ProtobufCMessageDescriptor *ext_descriptor(Mq__RemotingHeader__ExtCase ext)
{
    if (ext == MQ__REMOTING_HEADER__EXT__NOT_SET)
        return NULL;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&mq__remoting_header__descriptor, (unsigned)ext);
    FUZZ_CHECK(fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE);
    return fd->descriptor;
}

static void decode_as(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size,
                      arena *a)
{
    if (!d)
        return;
    char err[160] = "";
    ProtobufCMessage *m = frame_body_decode(RM_SERIALIZE_PROTOBUF, d, data, size, a, err, sizeof err);
    if (!m) {
        FUZZ_CHECK_ERR(err);
        return;
    }
    FUZZ_CHECK(m->descriptor == d);
    repack(m, a);
    render(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arena a;
    static int ncodes;
    if (ncodes == 0) {
        log_set_level(LOG_OFF);
        arena_init(&a, 8192);
        while (rm_code_at(ncodes))
            ncodes++;
        FUZZ_CHECK(ncodes > 0);
    }
    if (size < 1)
        return 0;
    uint8_t selector = data[0];
    const rm_code_info *picked = rm_code_at(selector % ncodes);
    data++;
    size--;

    arena_reset(&a);
    Mq__RemotingHeader *h = NULL;
    char err[160] = "";
    if (frame_header_decode(RM_SERIALIZE_PROTOBUF, data, size, &a, &h, err, sizeof err) == 0) {
        const ProtobufCMessage *ext = rm_header_ext(h);
        FUZZ_CHECK((ext != NULL) == (h->ext_case != MQ__REMOTING_HEADER__EXT__NOT_SET));
        for (int i = 0; i < ncodes; i++) {
            const rm_code_info *info = rm_code_at(i);
            FUZZ_CHECK(rm_code_lookup(info->code) == info);
            /* The transport's check before a handler runs. */
            bool carries = info->request_ext == MQ__REMOTING_HEADER__EXT__NOT_SET ||
                           h->ext_case == info->request_ext;
            if (carries && ext && info->request_ext != MQ__REMOTING_HEADER__EXT__NOT_SET)
                FUZZ_CHECK(ext->descriptor == ext_descriptor(info->request_ext));
        }
        FUZZ_CHECK(rm_code_name(h->code) != NULL && rm_status_name(h->code) != NULL);
        repack(&h->base, &a);
        render(&h->base);
    } else {
        FUZZ_CHECK_ERR(err);
    }

    arena_reset(&a);
    decode_as(ext_descriptor(picked->request_ext), data, size, &a);
    arena_reset(&a);
    decode_as(ext_descriptor(picked->response_ext), data, size, &a);
    arena_reset(&a);
    decode_as(all_messages[selector % (sizeof all_messages / sizeof all_messages[0])], data, size, &a);
    return 0;
}
