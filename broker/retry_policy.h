/*
 * retry_policy.h - where a message a consumer failed goes next, and what
 * the new copy carries: RocketMQ's rules for CONSUMER_SEND_MSG_BACK
 * (ROCKETMQ-FACTS.md section 7), as pure functions the send-back processor
 * (processor_send_back.c) applies and unit tests check directly.
 *
 * The rules, in order:
 *   R1. A group with retryQueueNums <= 0 drops failed messages (the
 *       processor answers SUCCESS and writes nothing), as RocketMQ does.
 *   R2. delayLevel < 0 from the client, or a record already consumed
 *       reconsumeTimes >= maxReconsumeTimes times, goes to %DLQ%<group>.
 *       maxReconsumeTimes is the client's value when it sends one (>= 0),
 *       else the group's retryMaxTimes (default 16, `updateSubGroup -r`).
 *   R3. Otherwise it goes to %RETRY%<group> with delay level
 *       3 + reconsumeTimes when the client asked for 0, else the level it
 *       asked for, clamped to the configured levels.
 *   R4. The copy has reconsumeTimes + 1, the failed record's body, flag,
 *       born time/host and properties (UNIQ_KEY, so the message keeps its id),
 *       plus RETRY_TOPIC = the original topic (set on the first failure only)
 *       and ORIGIN_MESSAGE_ID = the offset id of the first stored copy (first
 *       failure only); DELAY = the level for a retry, no DELAY (nor timer
 *       property) for the DLQ; never the SCHED_ORIGIN of the last delivery.
 *
 * Thread: any (no state).
 */
#ifndef MQ_BROKER_RETRY_POLICY_H
#define MQ_BROKER_RETRY_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum retry_target {
    RETRY_TO_RETRY_TOPIC = 0, /* %RETRY%<group>, delayed by delay_level */
    RETRY_TO_DLQ = 1,         /* %DLQ%<group> */
} retry_target;

typedef struct retry_decision {
    retry_target target;
    int32_t delay_level;      /* 1..level_count for a retry; 0 for the DLQ */
    int32_t reconsume_times;  /* of the new copy: the failed record's + 1 */
    int32_t max_reconsume;    /* the limit that was applied */
} retry_decision;

/* Rules R2 and R3. reconsume_times: the failed record's; requested_level:
 * the header's delayLevel; client_max: the header's maxReconsumeTimes, or
 * < 0 when absent; group_max: the group's retryMaxTimes; level_count: the
 * configured delay levels (>= 1). */
retry_decision retry_decide(int32_t reconsume_times, int32_t requested_level, int32_t client_max,
                            int32_t group_max, int level_count);

/* Rule R4 for the properties: writes the copy's property string into out
 * (cleared first) from the failed record's props (plen bytes), its topic
 * and its offset message id. Returns 0, or a negative MSG_ERR_* if a value
 * cannot be stored (a separator inside the topic or id). */
int retry_build_properties(const char *props, size_t plen, const char *topic, const char *offset_msg_id,
                           const retry_decision *d, bytebuf *out);

/* "%RETRY%<group>" / "%DLQ%<group>" into out (cap >= 300 is always enough
 * for a valid group). Returns the length, or -1 if it does not fit. */
int retry_topic_name(const char *group, char *out, size_t cap);
int retry_dlq_topic_name(const char *group, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
