/*
 * names.h - RocketMQ's rules for topic and consumer-group names, and the
 * names of system topics. One copy of these rules serves the broker (which
 * refuses bad names on create and send), the nameserver (which refuses bad
 * names in queries) and the admin tool (which refuses them before asking).
 *
 * Rules (docs/PROTOCOL.md "Names and size limits"): characters `%|a-zA-Z0-9_-` only,
 * not blank; a topic has at most 127 characters, except retry and
 * dead-letter topics (%RETRY%..., %DLQ%...) which may have 255; a group has
 * at most 255. Pure functions: any thread.
 */
#ifndef MQ_NAMES_H
#define MQ_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TOPIC_NAME_MAX = 127,      /* ordinary topics */
    TOPIC_NAME_MAX_LONG = 255, /* %RETRY%<group> and %DLQ%<group> */
    GROUP_NAME_MAX = 255,
};

#define TOPIC_RETRY_PREFIX "%RETRY%"
#define TOPIC_DLQ_PREFIX "%DLQ%"
#define TOPIC_AUTO_CREATE "TBW102"
#define TOPIC_SCHEDULE "SCHEDULE_TOPIC_XXXX"
#define TOPIC_TRANS_HALF "RMQ_SYS_TRANS_HALF_TOPIC"
#define TOPIC_TRANS_OP_HALF "RMQ_SYS_TRANS_OP_HALF_TOPIC"
#define TOPIC_TRANS_CHECK_MAX_TIME "TRANS_CHECK_MAX_TIME_TOPIC"
#define TOPIC_SELF_TEST "SELF_TEST_TOPIC"
#define TOPIC_OFFSET_MOVED_EVENT "OFFSET_MOVED_EVENT"
#define TOPIC_BENCHMARK "BenchmarkTest"
#define TOPIC_TRACE "RMQ_SYS_TRACE_TOPIC"

/* True if name is a legal topic name; otherwise false with err saying what
 * is wrong (blank, too long, which character). err may be NULL. */
bool topic_name_valid(const char *name, char *err, size_t errlen);
/* The same for a consumer or producer group name. */
bool group_name_valid(const char *name, char *err, size_t errlen);
/* True for RocketMQ's system topics (TBW102, SCHEDULE_TOPIC_XXXX, the
 * transaction topics, SELF_TEST_TOPIC, OFFSET_MOVED_EVENT, BenchmarkTest,
 * RMQ_SYS_TRACE_TOPIC, rmq_sys_*): users may not create or delete them. */
bool topic_is_system(const char *name);
/* True for %RETRY%... and %DLQ%... topics. */
bool topic_is_retry_or_dlq(const char *name);

#ifdef __cplusplus
}
#endif

#endif
