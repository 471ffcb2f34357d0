/*
 * protocol.h - RocketMQ's remoting numbers: request codes, response codes,
 * flags, serialize types, language codes, and the table that says which
 * typed header (oneof member of mq.RemotingHeader) each code carries.
 *
 * The numbers are RocketMQ's (docs/PROTOCOL.md "Request codes"), so one port can
 * serve our client and RocketMQ 4.x clients. protocol.c holds the table; it
 * is read-only after start and safe from any thread.
 */
#ifndef MQ_PROTOCOL_H
#define MQ_PROTOCOL_H

#include <stdint.h>

#include "remoting.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frame layout constants. */
enum {
    RM_SERIALIZE_JSON = 0,     /* RocketMQ JSON header */
    RM_SERIALIZE_ROCKETMQ = 1, /* RocketMQ binary header */
    RM_SERIALIZE_PROTOBUF = 2, /* ours: mq.RemotingHeader */
    RM_MAX_FRAME_DEFAULT = 16 * 1024 * 1024,
    RM_MAX_HEADER = (1 << 24) - 1,
};

/* RemotingHeader.flag bits */
enum {
    RM_FLAG_RESPONSE = 1 << 0,
    RM_FLAG_ONEWAY = 1 << 1,
};

/* RocketMQ LanguageCode: what we send as `language`. */
enum {
    RM_LANGUAGE_JAVA = 0,
    RM_LANGUAGE_CPP = 1,
    RM_LANGUAGE_OTHER = 7,
    RM_LANGUAGE_OURS = RM_LANGUAGE_CPP, /* native C/C++ clients report CPP */
};

/* LanguageCode name of a value ("JAVA" for 0), or NULL if unknown; RocketMQ's
 * JSON writes the name. */
const char *rm_language_name(int32_t language);
/* Value of a LanguageCode name, or -1 if unknown. */
int32_t rm_language_code(const char *name);

/* MQVersion ordinal we report (V4_9_8). */
enum { RM_VERSION_OURS = 409 };

/* Request codes (RocketMQ RequestCode), one list: the RC_ enum, the
 * protocol table (protocol.c) and the names all come from it. Columns: name,
 * number, the typed header (oneof member of mq.RemotingHeader, _NOT_SET for
 * none) a request carries, and the one a successful response carries. */
#define RM_REQUEST_CODES(X) \
    X(SEND_MESSAGE, 10, SEND_MESSAGE, SEND_MESSAGE_RESPONSE) \
    X(PULL_MESSAGE, 11, PULL_MESSAGE, PULL_MESSAGE_RESPONSE) \
    X(QUERY_MESSAGE, 12, QUERY_MESSAGE, QUERY_MESSAGE_RESPONSE) \
    X(QUERY_CONSUMER_OFFSET, 14, QUERY_CONSUMER_OFFSET, OFFSET_RESPONSE) \
    X(UPDATE_CONSUMER_OFFSET, 15, UPDATE_CONSUMER_OFFSET, _NOT_SET) \
    X(UPDATE_AND_CREATE_TOPIC, 17, CREATE_TOPIC, _NOT_SET) \
    X(GET_ALL_TOPIC_CONFIG, 21, _NOT_SET, _NOT_SET) \
    X(UPDATE_BROKER_CONFIG, 25, _NOT_SET, _NOT_SET) \
    X(GET_BROKER_CONFIG, 26, _NOT_SET, _NOT_SET) \
    X(GET_BROKER_RUNTIME_INFO, 28, _NOT_SET, _NOT_SET) \
    X(SEARCH_OFFSET_BY_TIMESTAMP, 29, SEARCH_OFFSET, OFFSET_RESPONSE) \
    X(GET_MAX_OFFSET, 30, QUEUE, OFFSET_RESPONSE) \
    X(GET_MIN_OFFSET, 31, QUEUE, OFFSET_RESPONSE) \
    X(GET_EARLIEST_MSG_STORETIME, 32, QUEUE, TIMESTAMP_RESPONSE) \
    X(VIEW_MESSAGE_BY_ID, 33, VIEW_MESSAGE, _NOT_SET) \
    X(HEART_BEAT, 34, _NOT_SET, _NOT_SET) \
    X(UNREGISTER_CLIENT, 35, UNREGISTER_CLIENT, _NOT_SET) \
    X(CONSUMER_SEND_MSG_BACK, 36, CONSUMER_SEND_MSG_BACK, _NOT_SET) \
    X(END_TRANSACTION, 37, END_TRANSACTION, _NOT_SET) \
    X(GET_CONSUMER_LIST_BY_GROUP, 38, CONSUMER_GROUP, _NOT_SET) \
    X(CHECK_TRANSACTION_STATE, 39, CHECK_TRANSACTION_STATE, _NOT_SET) \
    X(NOTIFY_CONSUMER_IDS_CHANGED, 40, CONSUMER_GROUP, _NOT_SET) \
    X(LOCK_BATCH_MQ, 41, _NOT_SET, _NOT_SET) \
    X(UNLOCK_BATCH_MQ, 42, _NOT_SET, _NOT_SET) \
    X(GET_ALL_CONSUMER_OFFSET, 43, _NOT_SET, _NOT_SET) \
    X(GET_ALL_DELAY_OFFSET, 45, _NOT_SET, _NOT_SET) \
    X(PUT_KV_CONFIG, 100, KV_CONFIG, _NOT_SET) \
    X(GET_KV_CONFIG, 101, KV_CONFIG, GET_KV_CONFIG_RESPONSE) \
    X(DELETE_KV_CONFIG, 102, KV_CONFIG, _NOT_SET) \
    X(REGISTER_BROKER, 103, REGISTER_BROKER, REGISTER_BROKER_RESPONSE) \
    X(UNREGISTER_BROKER, 104, UNREGISTER_BROKER, _NOT_SET) \
    X(GET_ROUTEINFO_BY_TOPIC, 105, TOPIC, _NOT_SET) \
    X(GET_BROKER_CLUSTER_INFO, 106, _NOT_SET, _NOT_SET) \
    X(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 200, _NOT_SET, _NOT_SET) \
    X(GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201, _NOT_SET, _NOT_SET) \
    X(GET_TOPIC_STATS_INFO, 202, TOPIC, _NOT_SET) \
    X(GET_CONSUMER_CONNECTION_LIST, 203, CONSUMER_GROUP, _NOT_SET) \
    X(GET_PRODUCER_CONNECTION_LIST, 204, GET_PRODUCER_CONNECTION_LIST, _NOT_SET) \
    X(WIPE_WRITE_PERM_OF_BROKER, 205, WIPE_WRITE_PERM, WIPE_WRITE_PERM_RESPONSE) \
    X(GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 206, _NOT_SET, _NOT_SET) \
    X(DELETE_SUBSCRIPTIONGROUP, 207, DELETE_SUBSCRIPTION_GROUP, _NOT_SET) \
    X(GET_CONSUME_STATS, 208, GET_CONSUME_STATS, _NOT_SET) \
    X(DELETE_TOPIC_IN_BROKER, 215, TOPIC, _NOT_SET) \
    X(DELETE_TOPIC_IN_NAMESRV, 216, DELETE_TOPIC_FROM_NAMESRV, _NOT_SET) \
    X(GET_KVLIST_BY_NAMESPACE, 219, KV_CONFIG, _NOT_SET) \
    X(RESET_CONSUMER_CLIENT_OFFSET, 220, RESET_OFFSET, _NOT_SET) \
    X(INVOKE_BROKER_TO_RESET_OFFSET, 222, RESET_OFFSET, _NOT_SET) \
    X(GET_TOPICS_BY_CLUSTER, 224, GET_TOPICS_BY_CLUSTER, _NOT_SET) \
    X(GET_CONSUMER_RUNNING_INFO, 307, _NOT_SET, _NOT_SET) \
    X(CONSUME_MESSAGE_DIRECTLY, 309, _NOT_SET, _NOT_SET) \
    X(SEND_MESSAGE_V2, 310, SEND_MESSAGE, SEND_MESSAGE_RESPONSE) \
    X(SEND_BATCH_MESSAGE, 320, SEND_MESSAGE, SEND_MESSAGE_RESPONSE) \
    X(QUERY_DATA_VERSION, 322, QUERY_DATA_VERSION, QUERY_DATA_VERSION_RESPONSE) \
    X(ADD_WRITE_PERM_OF_BROKER, 327, WIPE_WRITE_PERM, WIPE_WRITE_PERM_RESPONSE) \
    /* ours: operator access to transactions (no RocketMQ equivalent) */ \
    X(QUERY_TRANSACTION, 50000, _NOT_SET, _NOT_SET) \
    X(RESOLVE_TRANSACTION, 50001, _NOT_SET, _NOT_SET) \
    /* ours: failover of a broker group (broker/ha/ha_role.c) */ \
    X(HA_STATE, 50010, _NOT_SET, _NOT_SET) \
    X(HA_PROMOTE, 50011, _NOT_SET, _NOT_SET) \
    X(HA_FENCE, 50012, _NOT_SET, _NOT_SET)

/* Codes we name but neither serve nor decode yet: not in the protocol
 * table, so they are answered REQUEST_CODE_NOT_SUPPORTED. */
#define RM_REQUEST_CODES_UNTABLED(X) \
    X(QUERY_BROKER_OFFSET, 13)

#define RM_REQUEST_ENUM_(name, num, req, resp) RC_##name = num,
#define RM_UNTABLED_ENUM_(name, num) RC_##name = num,
enum { RM_REQUEST_CODES(RM_REQUEST_ENUM_) RM_REQUEST_CODES_UNTABLED(RM_UNTABLED_ENUM_) };
#undef RM_REQUEST_ENUM_
#undef RM_UNTABLED_ENUM_

/* Response codes (RocketMQ RemotingSysResponseCode + ResponseCode), one
 * list: the RS_ enum and rm_status_name come from it. */
#define RM_RESPONSE_CODES(X) \
    X(SUCCESS, 0) \
    X(SYSTEM_ERROR, 1) \
    X(SYSTEM_BUSY, 2) \
    X(REQUEST_CODE_NOT_SUPPORTED, 3) \
    X(TRANSACTION_FAILED, 4) \
    X(FLUSH_DISK_TIMEOUT, 10) \
    X(SLAVE_NOT_AVAILABLE, 11) \
    X(FLUSH_SLAVE_TIMEOUT, 12) \
    X(MESSAGE_ILLEGAL, 13) \
    X(SERVICE_NOT_AVAILABLE, 14) \
    X(VERSION_NOT_SUPPORTED, 15) \
    X(NO_PERMISSION, 16) \
    X(TOPIC_NOT_EXIST, 17) \
    X(TOPIC_EXIST_ALREADY, 18) \
    X(PULL_NOT_FOUND, 19) \
    X(PULL_RETRY_IMMEDIATELY, 20) \
    X(PULL_OFFSET_MOVED, 21) \
    X(QUERY_NOT_FOUND, 22) \
    X(SUBSCRIPTION_PARSE_FAILED, 23) \
    X(SUBSCRIPTION_NOT_EXIST, 24) \
    X(SUBSCRIPTION_NOT_LATEST, 25) \
    X(SUBSCRIPTION_GROUP_NOT_EXIST, 26) \
    X(FILTER_DATA_NOT_EXIST, 27) \
    X(FILTER_DATA_NOT_LATEST, 28) \
    X(INVALID_PARAMETER, 29) \
    X(TRANSACTION_SHOULD_COMMIT, 200) \
    X(TRANSACTION_SHOULD_ROLLBACK, 201) \
    X(TRANSACTION_STATE_UNKNOW, 202) \
    X(TRANSACTION_STATE_GROUP_WRONG, 203) \
    X(CONSUMER_NOT_ONLINE, 206) \
    X(CONSUME_MSG_TIMEOUT, 207) \
    X(NO_MESSAGE, 208) \
    X(FLOW_CONTROL, 215)

#define RM_RESPONSE_ENUM_(name, num) RS_##name = num,
enum { RM_RESPONSE_CODES(RM_RESPONSE_ENUM_) };
#undef RM_RESPONSE_ENUM_

/* perm bits (RocketMQ PermName) */
enum {
    PERM_PRIORITY = 8,
    PERM_READ = 4,
    PERM_WRITE = 2,
    PERM_INHERIT = 1,
};

/* PULL_MESSAGE sysFlag bits (RocketMQ PullSysFlag) */
enum {
    PULL_FLAG_COMMIT_OFFSET = 0x1,
    PULL_FLAG_SUSPEND = 0x2,
    PULL_FLAG_SUBSCRIPTION = 0x4,
    PULL_FLAG_CLASS_FILTER = 0x8,
    PULL_FLAG_LITE_PULL = 0x10,
};

/* What the protocol table knows of one request code. */
typedef struct rm_code_info {
    int32_t code;
    const char *name;
    Mq__RemotingHeader__ExtCase request_ext;  /* typed header the request carries, or NOT_SET */
    Mq__RemotingHeader__ExtCase response_ext; /* typed header of a successful response, or NOT_SET */
} rm_code_info;

/* Returns the table entry for a request code, or NULL if the code is unknown. */
const rm_code_info *rm_code_lookup(int32_t code);

/* Name of a request code ("SEND_MESSAGE_V2") or "UNKNOWN". */
const char *rm_code_name(int32_t code);

/* Name of a response code ("FLUSH_DISK_TIMEOUT") or "UNKNOWN". */
const char *rm_status_name(int32_t status);

/* Iterates the whole table (for docs and tests): returns NULL past the end. */
const rm_code_info *rm_code_at(int index);

/* The oneof member a header carries, as a message (NULL if none). */
const ProtobufCMessage *rm_header_ext(const Mq__RemotingHeader *h);

#ifdef __cplusplus
}
#endif

#endif
