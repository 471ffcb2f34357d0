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

/* MQVersion ordinal we report (V4_9_8). */
enum { RM_VERSION_OURS = 409 };

/* Request codes (RocketMQ RequestCode). */
enum {
    RC_SEND_MESSAGE = 10,
    RC_PULL_MESSAGE = 11,
    RC_QUERY_MESSAGE = 12,
    RC_QUERY_BROKER_OFFSET = 13,
    RC_QUERY_CONSUMER_OFFSET = 14,
    RC_UPDATE_CONSUMER_OFFSET = 15,
    RC_UPDATE_AND_CREATE_TOPIC = 17,
    RC_GET_ALL_TOPIC_CONFIG = 21,
    RC_UPDATE_BROKER_CONFIG = 25,
    RC_GET_BROKER_CONFIG = 26,
    RC_GET_BROKER_RUNTIME_INFO = 28,
    RC_SEARCH_OFFSET_BY_TIMESTAMP = 29,
    RC_GET_MAX_OFFSET = 30,
    RC_GET_MIN_OFFSET = 31,
    RC_GET_EARLIEST_MSG_STORETIME = 32,
    RC_VIEW_MESSAGE_BY_ID = 33,
    RC_HEART_BEAT = 34,
    RC_UNREGISTER_CLIENT = 35,
    RC_CONSUMER_SEND_MSG_BACK = 36,
    RC_END_TRANSACTION = 37,
    RC_GET_CONSUMER_LIST_BY_GROUP = 38,
    RC_CHECK_TRANSACTION_STATE = 39,
    RC_NOTIFY_CONSUMER_IDS_CHANGED = 40,
    RC_LOCK_BATCH_MQ = 41,
    RC_UNLOCK_BATCH_MQ = 42,
    RC_GET_ALL_CONSUMER_OFFSET = 43,
    RC_GET_ALL_DELAY_OFFSET = 45,
    RC_PUT_KV_CONFIG = 100,
    RC_GET_KV_CONFIG = 101,
    RC_DELETE_KV_CONFIG = 102,
    RC_REGISTER_BROKER = 103,
    RC_UNREGISTER_BROKER = 104,
    RC_GET_ROUTEINFO_BY_TOPIC = 105,
    RC_GET_BROKER_CLUSTER_INFO = 106,
    RC_UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
    RC_GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
    RC_GET_TOPIC_STATS_INFO = 202,
    RC_GET_CONSUMER_CONNECTION_LIST = 203,
    RC_GET_PRODUCER_CONNECTION_LIST = 204,
    RC_WIPE_WRITE_PERM_OF_BROKER = 205,
    RC_GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
    RC_DELETE_SUBSCRIPTIONGROUP = 207,
    RC_GET_CONSUME_STATS = 208,
    RC_DELETE_TOPIC_IN_BROKER = 215,
    RC_DELETE_TOPIC_IN_NAMESRV = 216,
    RC_GET_KVLIST_BY_NAMESPACE = 219,
    RC_RESET_CONSUMER_CLIENT_OFFSET = 220,
    RC_INVOKE_BROKER_TO_RESET_OFFSET = 222,
    RC_GET_TOPICS_BY_CLUSTER = 224,
    RC_GET_CONSUMER_RUNNING_INFO = 307,
    RC_CONSUME_MESSAGE_DIRECTLY = 309,
    RC_SEND_MESSAGE_V2 = 310,
    RC_SEND_BATCH_MESSAGE = 320,
    RC_QUERY_DATA_VERSION = 322,
    RC_ADD_WRITE_PERM_OF_BROKER = 327,
};

/* Response codes (RocketMQ RemotingSysResponseCode + ResponseCode). */
enum {
    RS_SUCCESS = 0,
    RS_SYSTEM_ERROR = 1,
    RS_SYSTEM_BUSY = 2,
    RS_REQUEST_CODE_NOT_SUPPORTED = 3,
    RS_TRANSACTION_FAILED = 4,
    RS_FLUSH_DISK_TIMEOUT = 10,
    RS_SLAVE_NOT_AVAILABLE = 11,
    RS_FLUSH_SLAVE_TIMEOUT = 12,
    RS_MESSAGE_ILLEGAL = 13,
    RS_SERVICE_NOT_AVAILABLE = 14,
    RS_VERSION_NOT_SUPPORTED = 15,
    RS_NO_PERMISSION = 16,
    RS_TOPIC_NOT_EXIST = 17,
    RS_TOPIC_EXIST_ALREADY = 18,
    RS_PULL_NOT_FOUND = 19,
    RS_PULL_RETRY_IMMEDIATELY = 20,
    RS_PULL_OFFSET_MOVED = 21,
    RS_QUERY_NOT_FOUND = 22,
    RS_SUBSCRIPTION_PARSE_FAILED = 23,
    RS_SUBSCRIPTION_NOT_EXIST = 24,
    RS_SUBSCRIPTION_NOT_LATEST = 25,
    RS_SUBSCRIPTION_GROUP_NOT_EXIST = 26,
    RS_FILTER_DATA_NOT_EXIST = 27,
    RS_FILTER_DATA_NOT_LATEST = 28,
    RS_INVALID_PARAMETER = 29,
    RS_TRANSACTION_SHOULD_COMMIT = 200,
    RS_TRANSACTION_SHOULD_ROLLBACK = 201,
    RS_TRANSACTION_STATE_UNKNOW = 202,
    RS_TRANSACTION_STATE_GROUP_WRONG = 203,
    RS_CONSUMER_NOT_ONLINE = 206,
    RS_CONSUME_MSG_TIMEOUT = 207,
    RS_NO_MESSAGE = 208,
    RS_FLOW_CONTROL = 215,
};

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
