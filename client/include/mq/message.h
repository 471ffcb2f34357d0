/*
 * mq/message.h - messages: mq_message is one to send, mq_message_ext one
 * received (a read-only view).
 *
 * An mq_message belongs to the application: create it, set what it needs,
 * send it (as often as wanted), destroy it. Setters copy their strings.
 * The body is either copied (mq_message_set_body) or borrowed
 * (mq_message_set_body_ref: no copy; the bytes must stay valid and unchanged
 * until the message is destroyed or its body replaced). A message is not
 * thread-safe: do not change it while a send of it is running on another
 * thread. Sending never modifies it; each send gives the message a fresh
 * unique id (UNIQ_KEY), returned in the send result.
 *
 * An mq_message_ext is a view of a message as the broker stored it. The
 * library owns it: in a listener it is valid until the listener returns; in
 * an mq_pull_result until mq_pull_result_destroy. Strings returned by its
 * getters live as long as the view and are never NULL unless said so.
 */
#ifndef MQ_MQ_MESSAGE_H
#define MQ_MQ_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mq/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- messages to send ---------------------------------------------------- */

typedef struct mq_message mq_message;

/* Largest delay level (RocketMQ's default table has 18: 1s 5s 10s 30s 1m ... 2h). */
#define MQ_DELAY_LEVEL_MAX 18

/* A new message for topic (copied; checked when sent, so any string is
 * accepted here). Returns NULL only if topic is NULL. */
mq_message *mq_message_new(const char *topic);
/* Frees the message (a borrowed body is left alone). NULL is ignored. */
void mq_message_destroy(mq_message *m);

/* Each setter returns MQ_OK, or MQ_EINVAL with err when the value cannot be
 * carried: the characters \x01 and \x02 (RocketMQ's property separators) are
 * refused in tags, keys and properties. NULL or "" clears tags and keys. */
int mq_message_set_topic(mq_message *m, const char *topic, mq_error *err);
int mq_message_set_tags(mq_message *m, const char *tags, mq_error *err);
/* Keys for lookup by key (mqadmin queryMsgByKey), separated by spaces. */
int mq_message_set_keys(mq_message *m, const char *keys, mq_error *err);
/* Copies len bytes of body. */
int mq_message_set_body(mq_message *m, const void *body, size_t len, mq_error *err);
/* Borrows body (see above): no copy. */
int mq_message_set_body_ref(mq_message *m, const void *body, size_t len, mq_error *err);
/* A user property. value NULL removes it. Names the broker uses (TAGS, KEYS,
 * DELAY, UNIQ_KEY, WAIT, RETRY_TOPIC, ...) are refused with MQ_EINVAL. */
int mq_message_set_property(mq_message *m, const char *name, const char *value, mq_error *err);
/* Delay level 0 (none) .. MQ_DELAY_LEVEL_MAX: the broker makes the message
 * visible after that level's delay. */
int mq_message_set_delay_level(mq_message *m, int level, mq_error *err);
/* Exact delivery (RocketMQ 5's timer messages): the broker makes the message
 * visible at epoch_ms (property TIMER_DELIVER_MS), or delay_ms after it
 * stores it (TIMER_DELAY_MS); at most the broker's timerMaxDelaySec ahead
 * (40 days by default), else the send fails with MESSAGE_ILLEGAL. A delay
 * level, when also set, wins. Negative values are refused (MQ_EINVAL); 0
 * clears. */
int mq_message_set_deliver_time(mq_message *m, int64_t epoch_ms, mq_error *err);
int mq_message_set_delay_ms(mq_message *m, int64_t delay_ms, mq_error *err);
/* An application-defined integer stored with the message (RocketMQ "flag"). */
void mq_message_set_flag(mq_message *m, int32_t flag);

const char *mq_message_topic(const mq_message *m);
/* Tags and keys, or "" if unset. */
const char *mq_message_tags(const mq_message *m);
const char *mq_message_keys(const mq_message *m);
/* The body and its length (*len may be NULL); NULL when there is none. */
const void *mq_message_body(const mq_message *m, size_t *len);
/* A user property, or NULL. */
const char *mq_message_property(const mq_message *m, const char *name);
int mq_message_delay_level(const mq_message *m);
int32_t mq_message_flag(const mq_message *m);

/* ---- received messages (read-only views) --------------------------------- */

typedef struct mq_message_ext mq_message_ext;

/* The topic the message was sent to. For a message redelivered through the
 * group's retry topic this is the original topic (as RocketMQ's client
 * shows it); mq_message_ext_reconsume_times says how often it came back. */
const char *mq_message_ext_topic(const mq_message_ext *m);
const char *mq_message_ext_tags(const mq_message_ext *m);
const char *mq_message_ext_keys(const mq_message_ext *m);
/* The body (*len may be NULL). A NUL byte follows the body, so text bodies
 * can be printed as C strings; the length excludes it. */
const void *mq_message_ext_body(const mq_message_ext *m, size_t *len);
/* Any property (user or system, e.g. "UNIQ_KEY"), or NULL. */
const char *mq_message_ext_property(const mq_message_ext *m, const char *name);
/* Iterates every property: for (size_t it = 0; mq_message_ext_next_property(m, &it, &k, &v);) */
int mq_message_ext_next_property(const mq_message_ext *m, size_t *iter, const char **name,
                                 const char **value);
/* The message id the producer got (UNIQ_KEY), or the offset id if the
 * message has none. */
const char *mq_message_ext_msg_id(const mq_message_ext *m);
/* The broker's id: store host + CommitLog offset (32 hex characters). */
const char *mq_message_ext_offset_msg_id(const mq_message_ext *m);
int mq_message_ext_queue_id(const mq_message_ext *m);
int64_t mq_message_ext_queue_offset(const mq_message_ext *m);
/* Name of the broker the message was read from. */
const char *mq_message_ext_broker_name(const mq_message_ext *m);
/* Milliseconds since the epoch: when the producer made it / the broker stored it. */
int64_t mq_message_ext_born_timestamp(const mq_message_ext *m);
int64_t mq_message_ext_store_timestamp(const mq_message_ext *m);
/* Writes "ip:port" of the producer / the broker into buf (cap >= 64 always
 * enough); returns the length. */
int mq_message_ext_born_host(const mq_message_ext *m, char *buf, size_t cap);
int mq_message_ext_store_host(const mq_message_ext *m, char *buf, size_t cap);
/* 0 on first delivery; how many times the message was sent back before. */
int mq_message_ext_reconsume_times(const mq_message_ext *m);
/* Physical offset of the record in the broker's CommitLog. */
int64_t mq_message_ext_commit_log_offset(const mq_message_ext *m);
int32_t mq_message_ext_flag(const mq_message_ext *m);

#ifdef __cplusplus
}
#endif

#endif
