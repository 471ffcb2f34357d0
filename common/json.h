/*
 * json.h - the one JSON writer of the project, and a renderer that writes
 * any protobuf-c message as RocketMQ-shaped JSON.
 *
 * Writer
 *   A json_writer appends to a bytebuf. Calls mirror the document:
 *   json_object_begin / json_key / value / ... / json_object_end. Commas,
 *   quoting and escaping are the writer's job: strings are escaped per RFC
 *   8259 (quote, backslash, control characters as \u00XX) and bytes that are
 *   not valid UTF-8 become U+FFFD, so the output is always valid JSON
 *   whatever the input. Misuse (a value where a key is expected, unbalanced
 *   ends, nesting deeper than JSON_MAX_DEPTH) sets `error` and is reported by
 *   json_writer_finish instead of corrupting the output silently.
 *   `pretty` indents by two spaces for people; compact otherwise.
 *
 * Protobuf renderer
 *   Field names are the descriptors' names, which are RocketMQ's JSON names
 *   (proto/body.proto). Only present fields are written (proto2 presence).
 *   Map fields (repeated XxxEntry{key, value}) become JSON objects whose keys
 *   are strings ("0" for broker id 0); a message whose name ends in "Set"
 *   and that has one repeated field (BrokerNameSet) becomes a JSON array, as
 *   RocketMQ writes a Java Set; int64 values are JSON numbers; enums are
 *   their names; bytes are base64; NaN and infinities are null.
 *   A list of entries keyed by a message ({mq, value}: QueueOffsetEntry,
 *   TopicOffsetEntry, MessageQueueOffset) is a JSON array of such objects,
 *   unless the writer's `fastjson` flag is set: then it is written the way
 *   RocketMQ's fastjson writes a Map<MessageQueue, V>, an object whose keys
 *   are the MessageQueue objects themselves ({{"topic":..}:v}). That is not
 *   valid JSON, but it is what Java RocketMQ tools parse; only the wire codec
 *   (frame_json.c) sets the flag. In that mode a repeated message field named
 *   "...Table" that RocketMQ keeps as a map keyed by the message's first
 *   field (ConsumerConnection.subscriptionTable: topic -> SubscriptionData)
 *   is written as that map, and an int32 field named "language" (a
 *   Connection's LanguageCode) as its name ("JAVA").
 *
 * No global state: any thread, one writer per thread.
 *
 * Names: jansson (which parses JSON, common/frame_json.c) exports
 * json_string and json_null, so the writer's string and null values are
 * json_str and json_nil; two functions of one name would bind jansson's own
 * internal calls to ours.
 */
#ifndef MQ_JSON_H
#define MQ_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { JSON_MAX_DEPTH = 64 };

typedef struct json_writer {
    bytebuf *out;
    bool pretty;
    bool error;                             /* misuse or too deep: see json_writer_finish */
    int depth;                              /* open containers */
    bool is_object[JSON_MAX_DEPTH];         /* per level: object (true) or array */
    bool has_items[JSON_MAX_DEPTH];         /* per level: something written already */
    bool after_key;                         /* a key was written, its value is due */
    bool fastjson;                          /* RocketMQ wire form: see "Protobuf renderer" */
} json_writer;

/* Starts a document appended to out (out keeps its earlier bytes). */
void json_writer_init(json_writer *w, bytebuf *out, bool pretty);
/* Returns 0 if the document is complete and well formed, -1 otherwise. */
int json_writer_finish(json_writer *w);

void json_object_begin(json_writer *w);
void json_object_end(json_writer *w);
void json_array_begin(json_writer *w);
void json_array_end(json_writer *w);
/* A key inside an object; the next call writes its value. */
void json_key(json_writer *w, const char *key);
void json_key_n(json_writer *w, const char *key, size_t n);

void json_str(json_writer *w, const char *s); /* NULL writes null */
void json_string_n(json_writer *w, const char *s, size_t n);
void json_int(json_writer *w, int64_t v);
void json_uint(json_writer *w, uint64_t v);
void json_double(json_writer *w, double v);
void json_bool(json_writer *w, bool v);
void json_nil(json_writer *w);

/* Key and value in one call. */
void json_kv_string(json_writer *w, const char *key, const char *s);
void json_kv_int(json_writer *w, const char *key, int64_t v);
void json_kv_bool(json_writer *w, const char *key, bool v);

/* Appends s (n bytes) to out as a quoted, escaped JSON string. */
void json_escape(bytebuf *out, const char *s, size_t n);

/* Descriptor shapes the renderer (and frame_json.c's reader) treat specially. */
/* A generated map entry XxxEntry{key = 1, value = 2}. */
bool json_pb_map_entry(const ProtobufCMessageDescriptor *d);
/* A "...Set" message with one repeated field: a JSON array (a Java Set). */
bool json_pb_set_wrapper(const ProtobufCMessageDescriptor *d);
/* An entry {mq: MessageQueue, value}: one row of a Java Map<MessageQueue, V>. */
bool json_pb_keyed_entry(const ProtobufCMessageDescriptor *d);
/* Bytes one element of a repeated field of this type takes in its array. */
size_t json_pb_elem_size(ProtobufCType t);

/* Writes msg as a JSON object at the writer's position (a value). */
void json_message(json_writer *w, const ProtobufCMessage *msg);
/* One-shot: the whole document for msg appended to out. Returns 0 or -1. */
int json_from_message(const ProtobufCMessage *msg, bool pretty, bytebuf *out);

#ifdef __cplusplus
}
#endif

#endif
