/*
 * mq/admin_query.h - looking messages up with the admin API (part of
 * mq/admin.h's handle; what mqadmin queryMsgById / queryMsgByKey /
 * queryMsgByUniqueKey / queryMsgByOffset / printMsg and consoles use).
 *
 * Lookups do not consume: nothing is committed for any group. They read
 * what the brokers still store (retention may have removed older messages)
 * and return read-only message views (mq/message.h's mq_message_ext
 * getters work on them). "Nothing matched" is MQ_ENOTFOUND with a message
 * saying what was looked for; the other errors are those of mq/admin.h.
 */
#ifndef MQ_ADMIN_QUERY_H
#define MQ_ADMIN_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "mq/admin.h"
#include "mq/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Messages found, sorted by store time (then broker name, CommitLog
 * offset). Owned by the caller: mq_message_list_free releases the views. */
typedef struct mq_message_list {
    size_t n;
    const mq_message_ext **msgs;
    void *priv_; /* internal */
} mq_message_list;

void mq_message_list_free(mq_message_list *l);

/* By offset message id (store host + CommitLog offset, 32 or 56 hex
 * characters): VIEW_MESSAGE_BY_ID to the broker the id names. */
int mq_admin_view_message(mq_admin *admin, const char *offset_msg_id, mq_message_list **out, mq_error *err);

/* By unique id (UNIQ_KEY, what a producer's send returns) in topic: asks
 * the master of every broker group of the topic's route. */
int mq_admin_query_unique_key(mq_admin *admin, const char *topic, const char *unique_id,
                              mq_message_list **out, mq_error *err);

/* By either kind of id, as RocketMQ's queryMsgById: an id that decodes to
 * the address of a broker the nameservers know is looked up as an offset
 * id; otherwise (or if that broker has no such record) as a unique id in
 * topic, which is then required (NULL: MQ_EINVAL naming -t). */
int mq_admin_query_msg_id(mq_admin *admin, const char *topic, const char *id, mq_message_list **out,
                          mq_error *err);

/* Messages of topic whose KEYS include key (keys are space separated),
 * stored in [begin_ms, end_ms] (0 and INT64_MAX for all time), from every
 * master of the topic's route; at most max_per_broker (1..64, RocketMQ's
 * batch limit; 0 = 64) from each broker. */
int mq_admin_query_key(mq_admin *admin, const char *topic, const char *key, int64_t begin_ms, int64_t end_ms,
                       int max_per_broker, mq_message_list **out, mq_error *err);

/* The message at offset of one queue (broker group broker_name, queue_id). */
int mq_admin_query_offset(mq_admin *admin, const char *topic, const char *broker_name, int32_t queue_id,
                          int64_t offset, mq_message_list **out, mq_error *err);

/* What mq_admin_read_messages reads. Times bound the store time
 * (inclusive); offsets ([from_offset, to_offset), -1 for the queue's own
 * min/max) need one queue (broker_name and queue_id >= 0). */
typedef struct mq_message_range {
    const char *broker_name;   /* NULL: every broker group of the route */
    int32_t queue_id;          /* -1: every queue */
    int64_t begin_ms;          /* 0: from the first stored */
    int64_t end_ms;            /* INT64_MAX: up to now */
    int64_t from_offset;       /* -1: min offset / first at begin_ms */
    int64_t to_offset;         /* -1: max offset */
    const char *tags;          /* tag expression ("*", "A || B"); NULL = all */
    size_t max_messages;       /* stop after this many; 0 = no limit */
} mq_message_range;

void mq_message_range_init(mq_message_range *r);

/* Calls fn for every message of topic in range, queue by queue (sorted by
 * broker name, queue id), in offset order. fn returning non-zero stops the
 * walk (not an error). Returns MQ_OK (even if nothing matched; *count, may
 * be NULL, says how many were passed to fn) or the first error. */
typedef int (*mq_message_fn)(const mq_message_ext *m, void *arg);
int mq_admin_read_messages(mq_admin *admin, const char *topic, const mq_message_range *range, mq_message_fn fn,
                           void *arg, size_t *count, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
