/*
 * fuzz_frame.c - the frame codec as the transport's input path uses it
 * (common/remoting.c handle_input): frame_parse over a buffer of any number
 * of frames, with the default maximum and a tiny one, then the header codec
 * of each frame's serialize type.
 *
 * Checked for every input: a FRAME_OK view lies inside the buffer and its
 * parts add up to the frame; a header that decodes re-encodes into a frame
 * that parses and decodes again to the same code, opaque and flag; a header
 * that does not decode comes with an error text.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "fuzz_check.h"
#include "log.h"
#include "protocol.h"

static void roundtrip(uint8_t type, const Mq__RemotingHeader *h, const frame_view *f)
{
    bytebuf b;
    bytebuf_init(&b);
    char err[160];
    int rc = frame_encode(type, h, f->body, f->body_len, &b, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK_ERR(err);
        bytebuf_free(&b);
        return;
    }
    frame_view g;
    FUZZ_CHECK(frame_parse(b.data, b.len, UINT32_MAX, &g) == FRAME_OK);
    FUZZ_CHECK(g.frame_bytes == b.len);
    FUZZ_CHECK(g.serialize_type == type);
    FUZZ_CHECK(g.body_len == f->body_len);
    FUZZ_CHECK(f->body_len == 0 || memcmp(g.body, f->body, f->body_len) == 0);
    arena a2;
    arena_init(&a2, 1024);
    Mq__RemotingHeader *h2 = NULL;
    FUZZ_CHECK(frame_header_decode(g.serialize_type, g.header, g.header_len, &a2, &h2, err,
                                   sizeof err) == 0);
    FUZZ_CHECK(h2->code == h->code && h2->opaque == h->opaque && h2->flag == h->flag);
    /* A RocketMQ (JSON or binary) request whose extFields do not fit is
     * decoded without its typed member and with the reason in remark, so the
     * server can answer it; re-encoded, it has no extFields, and decodes to an
     * empty typed member. Every other header keeps its member. */
    bool rejected_ext = type != RM_SERIALIZE_PROTOBUF && h->ext_case == MQ__REMOTING_HEADER__EXT__NOT_SET;
    FUZZ_CHECK(h2->ext_case == h->ext_case || rejected_ext);
    arena_free(&a2);
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
    static const uint32_t maxes[] = {RM_MAX_FRAME_DEFAULT, 64};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        size_t off = 0;
        while (off < size) {
            frame_view f;
            frame_status st = frame_parse(data + off, size - off, maxes[m], &f);
            if (st == FRAME_NEED_MORE) {
                /* Only a prefix of a frame: fewer bytes than its length says. */
                if (size - off >= 4) {
                    uint32_t len = (uint32_t)data[off] << 24 | (uint32_t)data[off + 1] << 16 |
                                   (uint32_t)data[off + 2] << 8 | data[off + 3];
                    FUZZ_CHECK((size_t)len + 4 > size - off);
                }
                break;
            }
            if (st != FRAME_OK) {
                FUZZ_CHECK(st == FRAME_TOO_BIG || st == FRAME_MALFORMED);
                break;
            }
            FUZZ_CHECK(f.frame_bytes >= FRAME_PREFIX && f.frame_bytes <= size - off);
            FUZZ_CHECK(f.frame_bytes - 4 <= maxes[m]);
            FUZZ_CHECK(f.header == data + off + FRAME_PREFIX);
            FUZZ_CHECK(f.body == f.header + f.header_len);
            FUZZ_CHECK((size_t)FRAME_PREFIX + f.header_len + f.body_len == f.frame_bytes);
            arena_reset(&a);
            Mq__RemotingHeader *h = NULL;
            char err[160] = "";
            if (frame_header_decode(f.serialize_type, f.header, f.header_len, &a, &h, err,
                                    sizeof err) == 0) {
                FUZZ_CHECK(h != NULL);
                FUZZ_CHECK(frame_serialize_supported(f.serialize_type));
                roundtrip(f.serialize_type, h, &f);
            } else {
                FUZZ_CHECK_ERR(err);
            }
            off += f.frame_bytes;
        }
    }
    return 0;
}
