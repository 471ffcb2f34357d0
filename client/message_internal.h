/*
 * message_internal.h - what the producer and consumers need from the
 * message types beyond the public API: name and message validation, the
 * wire property string of an outgoing message, and decoding a pull body into
 * received-message views. Internal to libmqclient.
 */
#ifndef MQ_CLIENT_MESSAGE_INTERNAL_H
#define MQ_CLIENT_MESSAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "message.h"
#include "mq/message.h"
#include "subscription.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Topic names a producer may send to and consumers may subscribe to:
 * ^[%|a-zA-Z0-9_-]+$, at most 127 characters (255 for %RETRY%/%DLQ%
 * topics), not a system topic. Returns MQ_OK or MQ_EINVAL with err. */
int mqc_check_topic(const char *topic, mq_error *err);
/* Group names: the same characters, at most 255. */
int mqc_check_group(const char *group, mq_error *err);
/* Topic, body present and within max_size. */
int mqc_check_message(const mq_message *m, int max_size, mq_error *err);

/* Writes the property string sent with m (user properties, TAGS, KEYS,
 * WAIT, DELAY, and UNIQ_KEY = uniq_id unless NULL) into out, NUL-terminated,
 * like snprintf: returns the length it needs; out holds the whole string
 * only if that is < cap (callers use a stack buffer and retry bigger). */
size_t mqc_message_wire_props(const mq_message *m, const char *uniq_id, char *out, size_t cap);
const uint8_t *mqc_message_body(const mq_message *m, uint32_t *len);

/* Received messages. A batch is one pull's body, decoded in place: the
 * records' strings are NUL-terminated inside the batch buffer (properties
 * rewritten as "k\0v\0..."), and each mq_message_ext points into it.
 * Reference-counted: a consume task or a pull result holds references;
 * the last release frees everything. */
typedef struct mqc_msg_batch mqc_msg_batch;

struct mq_message_ext {
    mqc_msg_batch *batch;
    const char *topic;        /* original topic for retried messages */
    const char *stored_topic; /* topic of the record (e.g. %RETRY%group) */
    const char *tags;
    const char *keys;
    const char *uniq_id;      /* NULL if none */
    const char *props;        /* "k\0v\0k\0v\0" */
    size_t props_len;
    const uint8_t *body;
    uint32_t body_len;
    int32_t queue_id;
    int32_t flag;
    int32_t reconsume_times;
    int32_t sysflag;
    int64_t queue_offset;
    int64_t commit_log_offset;
    int64_t born_timestamp;
    int64_t store_timestamp;
    uint32_t topic_len;       /* of stored_topic */
    msg_host born_host;
    msg_host store_host;
    char offset_id[MSG_ID_BUF];
};

struct mqc_msg_batch {
    int refs;               /* changed with __atomic builtins (any thread) */
    int n;                  /* messages kept (after filtering) */
    int decoded;            /* records in the body */
    const char *broker_name;
    mq_message_ext *msgs;   /* n views */
    uint8_t *buf;           /* the pull body copy (+1 byte) */
    size_t len;
    size_t cap;             /* bytes of the block (message_ext.c's pool) */
};

/* Decodes a pull body (records back to back). Keeps the messages whose tag
 * passes filter exactly (NULL: all). Returns MQ_OK with a batch holding one
 * reference (n may be 0), or MQ_EBROKER with err for a malformed body. The
 * body is copied. */
int mqc_msg_batch_decode(const uint8_t *body, size_t len, const char *broker_name,
                         const mq_subscription *filter, mqc_msg_batch **out, mq_error *err);
void mqc_msg_batch_ref(mqc_msg_batch *b, int n);
void mqc_msg_batch_unref(mqc_msg_batch *b);

#ifdef __cplusplus
}
#endif

#endif
