/*
 * mq/admin_transaction.h - operator access to transactional messages on a
 * broker (ours; RocketMQ has no equivalent): list the half messages that
 * wait for a decision or were parked after transactionCheckMax checks, and
 * commit or roll one back by hand. Same conventions as mq/admin.h: blocking
 * calls, results owned by the caller, MQ_E* codes with err filled.
 */
#ifndef MQ_ADMIN_TRANSACTION_H
#define MQ_ADMIN_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/admin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One half message. */
typedef struct mq_half_message {
    int64_t half_offset;         /* queue offset in RMQ_SYS_TRANS_HALF_TOPIC */
    int64_t commit_log_offset;
    char *msg_id;                /* transaction id (UNIQ_KEY) */
    char *offset_msg_id;
    char *producer_group;
    char *topic;                 /* real topic */
    int32_t queue_id;            /* real queue */
    char *keys;
    char *tags;
    int64_t store_timestamp;     /* ms */
    int32_t check_times;         /* CHECK_TRANSACTION_STATE sent so far */
    int64_t next_check_timestamp; /* pending: ms of the next check */
    int64_t parked_timestamp;    /* parked: when */
    bool parked;
} mq_half_message;

typedef struct mq_half_message_list {
    size_t n;
    mq_half_message *items;      /* oldest first */
    int64_t total;               /* matching on the broker (n may be fewer: limit) */
} mq_half_message_list;

void mq_half_message_list_free(mq_half_message_list *l);

/* Pending (parked=false) or parked half messages of the broker at
 * broker_addr, of producer_group only when not NULL/"", at most limit
 * (0 = 100). */
int mq_admin_query_transaction(mq_admin *admin, const char *broker_addr, const char *producer_group, bool parked,
                               int limit, mq_half_message_list **out, mq_error *err);

/* Commits (commit=true) or rolls back the pending or parked half message
 * msg_id (transaction id or offset msg id) on broker_addr. remark (may be
 * NULL) receives the broker's description of what was done. MQ_EBROKER with
 * err->status QUERY_NOT_FOUND (22) when the broker has no such undecided
 * message. */
int mq_admin_resolve_transaction(mq_admin *admin, const char *broker_addr, const char *msg_id, bool commit,
                                 char *remark, size_t remark_len, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
