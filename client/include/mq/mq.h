/*
 * mq/mq.h - libmqclient, the C client of the broker: common definitions.
 *
 * Every public name starts with mq_ (functions, types) or MQ_ (constants).
 * Functions return MQ_OK (0) or a negative MQ_E* code; where a message helps,
 * they also fill an mq_error the caller provides. The library never prints.
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

#ifdef __cplusplus
}
#endif

#endif
