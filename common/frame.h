/*
 * frame.h - the one frame codec: RocketMQ remoting framing plus header and
 * body encodings chosen by the frame's serialize type.
 *
 *   [int32 length = 4 + header length + body length]
 *   [int32: serialize type << 24 | header length]
 *   [header][body]                                     (all big-endian)
 *
 * Handlers never see the wire encoding: every header decodes into an
 * mq.RemotingHeader (typed custom header in its oneof) and every control body
 * into its protobuf message, whatever the serialize type. A header codec is a
 * row in a table indexed by serialize type: type 2 (protobuf) is ours, types
 * 0 (RocketMQ JSON) and 1 (RocketMQ binary) are RocketMQ's (frame_json.c).
 * Types without a codec are refused with a clear error.
 */
#ifndef MQ_FRAME_H
#define MQ_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "bytes.h"
#include "remoting.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum frame_status {
    FRAME_OK = 0,
    FRAME_NEED_MORE = 1,   /* not a whole frame yet */
    FRAME_TOO_BIG = -1,    /* length over the maximum */
    FRAME_MALFORMED = -2,  /* lengths inconsistent */
} frame_status;

/* One frame located in a buffer: pointers into that buffer. */
typedef struct frame_view {
    size_t frame_bytes;    /* whole frame including the 4-byte length prefix */
    uint8_t serialize_type;
    const uint8_t *header;
    uint32_t header_len;
    const uint8_t *body;
    uint32_t body_len;
} frame_view;

/* Size of the prefix (length + type/header length). */
#define FRAME_PREFIX 8

/* Finds the first frame in buf[0..len). max_frame bounds the length field. */
frame_status frame_parse(const uint8_t *buf, size_t len, uint32_t max_frame, frame_view *out);

/* True if a codec exists for this serialize type. */
bool frame_serialize_supported(uint8_t serialize_type);

/* Decodes a header. Allocations come from the arena. Returns 0, or -1 with err. */
int frame_header_decode(uint8_t serialize_type, const uint8_t *data, size_t len, arena *a,
                        Mq__RemotingHeader **out, char *err, size_t errlen);

/* Appends one whole frame (prefix, header, and body_len bytes of body if body
 * is not NULL) to out. If body is NULL but body_len > 0, the prefix counts
 * body_len bytes the caller will send right after (zero-copy bodies).
 * Returns 0, or -1 with err (type unsupported, header too big). */
int frame_encode(uint8_t serialize_type, const Mq__RemotingHeader *h, const void *body,
                 size_t body_len, bytebuf *out, char *err, size_t errlen);

/* Control bodies: encode / decode a protobuf message in the encoding of the
 * serialize type (protobuf for 2). Decoding allocates from the arena. */
int frame_body_encode(uint8_t serialize_type, const ProtobufCMessage *msg, bytebuf *out,
                      char *err, size_t errlen);
ProtobufCMessage *frame_body_decode(uint8_t serialize_type, const ProtobufCMessageDescriptor *desc,
                                    const uint8_t *data, size_t len, arena *a, char *err,
                                    size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
