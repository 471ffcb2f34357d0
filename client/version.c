/*
 * version.c - library version and error texts (mq/mq.h).
 */
#include "mq/mq.h"

#ifndef MQ_VERSION_STRING
#define MQ_VERSION_STRING "0.0.0"
#endif

const char *mq_version(void) { return MQ_VERSION_STRING; }

const char *mq_strerror(int code)
{
    switch (code) {
    case MQ_OK: return "success";
    case MQ_EINVAL: return "invalid argument";
    case MQ_ETIMEOUT: return "timed out";
    case MQ_ENOROUTE: return "no route for topic";
    case MQ_ENETWORK: return "network error";
    case MQ_EBROKER: return "broker returned an error";
    case MQ_ESTATE: return "not started or already shut down";
    case MQ_ENOMEM: return "out of memory";
    case MQ_ENOTFOUND: return "not found";
    default: return "unknown error";
    }
}
