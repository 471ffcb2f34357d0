/*
 * frame_json.h - RocketMQ's own header encodings as codec rows for frame.c:
 * the JSON header (serialize type 0) with JSON control bodies, and the
 * ROCKETMQ binary header (type 1). Only frame.c includes this; everything
 * else goes through frame.h, which picks the codec by serialize type.
 */
#ifndef MQ_FRAME_JSON_H
#define MQ_FRAME_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "bytes.h"
#include "remoting.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Type 0: {"code":..,"language":"JAVA","version":..,"opaque":..,"flag":..,
 * "remark":..,"extFields":{..}}. */
int frame_json_header_decode(const uint8_t *data, size_t len, arena *a, Mq__RemotingHeader **out,
                             char *err, size_t errlen);
int frame_json_header_encode(const Mq__RemotingHeader *h, bytebuf *out, char *err, size_t errlen);

/* Control bodies as RocketMQ's (fastjson) JSON, for types 0 and 1. */
int frame_json_body_encode(const ProtobufCMessage *msg, bytebuf *out, char *err, size_t errlen);
ProtobufCMessage *frame_json_body_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                         size_t len, arena *a, char *err, size_t errlen);

/* Type 1: code int16, language int8, version int16, opaque int32, flag
 * int32, remark (int32 length + UTF-8), extFields (int32 length + entries
 * of int16 key length, key, int32 value length, value). */
int frame_rmq_header_decode(const uint8_t *data, size_t len, arena *a, Mq__RemotingHeader **out,
                            char *err, size_t errlen);
int frame_rmq_header_encode(const Mq__RemotingHeader *h, bytebuf *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
