/*
 * processor_config.c - UPDATE_BROKER_CONFIG (25): changes configuration
 * keys at run time. The body is "key=value" lines, as in broker.conf.
 *
 * Only keys whose readers all run on the loop thread (the request
 * handlers, the registrar) may change, so a change needs no lock and is
 * seen by the next request; every other key (store, ports, identity) is
 * refused with the list of the keys that can change: those need a restart.
 * All lines are checked before any is applied. A brokerPermission change is
 * announced to the nameservers at once (the topic data version moves, so
 * they take the new perms), as RocketMQ does. Loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_config.h"
#include "config.h"
#include "log.h"
#include "processors.h"
#include "topic_config.h"
#include "util.h"

static const char *const runtime_keys[] = {
    "brokerPermission",     "autoCreateTopicEnable",    "autoCreateSubscriptionGroup",
    "defaultTopicQueueNums", "longPollingEnable",       "shortPollingTimeMills",
    "maxTransferCountOnMessageInMemory", "maxTransferBytesOnMessageInMemory", "channelExpiredTimeout",
};

#define RUNTIME_KEYS_TEXT                                                                                         \
    "brokerPermission, autoCreateTopicEnable, autoCreateSubscriptionGroup, defaultTopicQueueNums, "              \
    "longPollingEnable, shortPollingTimeMills, maxTransferCountOnMessageInMemory, "                              \
    "maxTransferBytesOnMessageInMemory, channelExpiredTimeout"

static bool runtime_key(const char *key)
{
    for (size_t i = 0; i < MQ_ARRAY_LEN(runtime_keys); i++)
        if (!strcmp(key, runtime_keys[i]))
            return true;
    return false;
}

/* Applies every "key=value" line of text to cfg; -1 with err at the first bad one. */
static int apply(broker_config *cfg, char *text, bool *perm_changed, char *err, size_t errlen)
{
    int32_t perm = cfg->broker_perm;
    int n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, "\r")] = '\0';
        if (!*line || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            snprintf(err, errlen, "'%.64s' is not key=value", line);
            return -1;
        }
        *eq = '\0';
        if (!runtime_key(line)) {
            snprintf(err, errlen, "%.64s cannot change at run time (set it in broker.conf and restart); keys that can: "
                     RUNTIME_KEYS_TEXT, line);
            return -1;
        }
        if (cfg_set(broker_config_options, cfg, line, eq + 1, err, errlen) != 0)
            return -1;
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "no key=value line in the request body");
        return -1;
    }
    *perm_changed = cfg->broker_perm != perm;
    return 0;
}

static void on_update_config(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    char err[512];
    char *text = xstrndup((const char *)req->body, req->body_len);
    char shown[300]; /* the change on one log line */
    size_t n = MQ_MIN(req->body_len, sizeof shown - 1);
    for (size_t i = 0; i < n; i++)
        shown[i] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
    shown[n] = '\0';
    broker_config *trial = xmalloc(sizeof *trial);
    *trial = b->cfg; /* all or nothing: check every line on a copy first */
    bool perm_changed = false;
    int rc = apply(trial, text, &perm_changed, err, sizeof err);
    free(trial);
    if (rc == 0) { /* then set only those fields in place (strtok_r cut text: take it again) */
        free(text);
        text = xstrndup((const char *)req->body, req->body_len);
        rc = apply(&b->cfg, text, &perm_changed, err, sizeof err);
    }
    free(text);
    if (rc != 0) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "%s", err);
        return;
    }
    log_info("configuration changed at run time by %s: %s", rm_conn_peer(c), shown);
    if (perm_changed)
        topic_table_touch(b->topics); /* re-registers with the new perms */
    rm_reply_status(c, req, RS_SUCCESS, NULL);
}

void processor_config_register(broker *b)
{
    rm_dispatch_on(b->dispatch, RC_UPDATE_BROKER_CONFIG, on_update_config, b);
}
