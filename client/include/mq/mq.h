/*
 * mq/mq.h - libmqclient, the C client of the broker: common definitions.
 *
 * Every public name starts with mq_ (functions, types) or MQ_ (constants).
 * Functions return MQ_OK (0) or a negative MQ_E* code; where a message helps,
 * they also fill an mq_error the caller provides (err may always be NULL).
 * The library never prints results; it logs only what no call can report
 * (a periodic heartbeat that failed, a oneway send that could not be
 * written), at WARN by default, to stderr, never once per message. Choose
 * the level with mq_log_set_level and the destination with
 * mq_log_set_callback (below).
 *
 * The rest of the API:
 *   mq/message.h   messages to send (mq_message) and received (mq_message_ext)
 *   mq/producer.h  mq_producer: sync, async, oneway, batch and ordered sends
 *   mq/consumer.h  mq_push_consumer (listeners) and mq_pull_consumer
 *
 * Threads: every producer or consumer object runs one I/O thread ("mq-io")
 * that owns its sockets and timers; a push consumer also runs a pool of
 * consume threads ("mq-consume-N") that call the listener. Blocking calls
 * are made from the application's threads; each header says which thread
 * runs each callback.
 */
#ifndef MQ_MQ_H
#define MQ_MQ_H

#ifdef __cplusplus
extern "C" {
#endif

/* Library version, e.g. "0.1.0". The string is static. */
const char *mq_version(void);

/* Error codes (negative) returned by the library. */
enum {
    MQ_OK = 0,
    MQ_EINVAL = -1,       /* bad argument (message says which) */
    MQ_ETIMEOUT = -2,     /* no answer in time */
    MQ_ENOROUTE = -3,     /* no route for the topic from any nameserver */
    MQ_ENETWORK = -4,     /* connection failed or closed */
    MQ_EBROKER = -5,      /* the broker answered with an error status */
    MQ_ESTATE = -6,       /* object not started, or already shut down */
    MQ_ENOMEM = -7,
    MQ_ENOTFOUND = -8,    /* nothing matches (message, offset, group) */
};

/* Longest names, NUL excluded (RocketMQ: user topics <= 127 characters,
 * %RETRY%/%DLQ% topics <= 255; groups <= 255). */
#define MQ_TOPIC_MAX 255
#define MQ_GROUP_MAX 255
#define MQ_BROKER_NAME_MAX 127
/* Room for a message id (unique or offset id) and its NUL. */
#define MQ_MSG_ID_MAX 57

/* A queue of a topic on one broker. A plain value: copy it freely. */
typedef struct mq_message_queue {
    char topic[MQ_TOPIC_MAX + 1];
    char broker_name[MQ_BROKER_NAME_MAX + 1];
    int queue_id;
} mq_message_queue;

/* Frees memory the library returned to the caller (queue arrays). */
void mq_free(void *p);

/* Text of an error code, e.g. "timed out". The string is static. */
const char *mq_strerror(int code);

/* Filled by calls that can say more than a code. `status` is the broker's
 * response code when code == MQ_EBROKER (RocketMQ numbers, e.g. 17
 * TOPIC_NOT_EXIST), else 0; `message` is a NUL-terminated explanation. */
typedef struct mq_error {
    int code;
    int status;
    char message[256];
} mq_error;

/* ---- logging ------------------------------------------------------------ */

typedef enum mq_log_level {
    MQ_LOG_DEBUG = 0,
    MQ_LOG_INFO = 1,  /* rebalance results, queues gained and lost */
    MQ_LOG_WARN = 2,  /* the default: failures no call reports */
    MQ_LOG_ERROR = 3,
    MQ_LOG_OFF = 4,
} mq_log_level;

/* Lines below level are not produced. Process-wide; any thread, any time. */
void mq_log_set_level(mq_log_level level);
mq_log_level mq_log_get_level(void);

/* Called with each line instead of writing it to stderr: line is one
 * NUL-terminated "date time LEVEL [thread] file:line text" without a
 * newline, valid during the call only. It runs on the library thread that
 * logs, possibly several at once, so it must be thread-safe and must not
 * call back into the library. fn NULL restores stderr. Set it before
 * creating producers or consumers. */
typedef void (*mq_log_fn)(mq_log_level level, const char *line, void *arg);
void mq_log_set_callback(mq_log_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
