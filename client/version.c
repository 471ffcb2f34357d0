/*
 * version.c - library version, error texts and the logging switches (mq/mq.h).
 */
#include "mq/mq.h"

#include <stddef.h>

#include "log.h"

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

/* ---- logging: the project logger (common/log.c) behind the public names ---- */

void mq_log_set_level(mq_log_level level) { log_set_level((log_level)level); }

mq_log_level mq_log_get_level(void) { return (mq_log_level)log_get_level(); }

static mq_log_fn g_user_fn;

static void forward(log_level level, const char *line, void *arg) { g_user_fn((mq_log_level)level, line, arg); }

void mq_log_set_callback(mq_log_fn fn, void *arg)
{
    if (fn)
        g_user_fn = fn; /* kept when clearing: a line in flight may still call forward */
    log_set_sink(fn ? forward : NULL, arg);
}
