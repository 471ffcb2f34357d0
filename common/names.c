/*
 * names.c - see names.h. Error texts quote the offending name, shortened
 * and with unprintable bytes shown as '?', so a garbage name cannot garble
 * a log line or a response remark.
 */
#include "names.h"

#include <stdio.h>
#include <string.h>

static const char *const system_topics[] = {
    TOPIC_AUTO_CREATE,        TOPIC_SCHEDULE,       TOPIC_BENCHMARK,
    TOPIC_TRANS_HALF,         TOPIC_TRACE,          TOPIC_TRANS_OP_HALF,
    TOPIC_TRANS_CHECK_MAX_TIME, TOPIC_SELF_TEST,    TOPIC_OFFSET_MOVED_EVENT,
};

static bool char_allowed(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '%' ||
           c == '|' || c == '_' || c == '-';
}

/* A printable, shortened copy of name for messages. */
static void quote(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < cap; p++) {
        if (n >= 64) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        out[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
    }
    out[n] = '\0';
}

static bool name_valid(const char *what, const char *name, size_t max, char *err, size_t errlen)
{
    char shown[80];
    if (!name || !*name) {
        if (err)
            snprintf(err, errlen, "%s name is blank", what);
        return false;
    }
    size_t len = strlen(name);
    quote(name, shown, sizeof shown);
    if (len > max) {
        if (err)
            snprintf(err, errlen, "%s name '%s' is %zu characters long; the limit is %zu", what, shown,
                     len, max);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!char_allowed(c)) {
            if (err) {
                if (c >= 0x20 && c < 0x7f)
                    snprintf(err, errlen,
                             "%s name '%s' contains the illegal character '%c' (allowed: letters, digits, %%, |, _ and -)",
                             what, shown, c);
                else
                    snprintf(err, errlen,
                             "%s name '%s' contains the illegal byte 0x%02x (allowed: letters, digits, %%, |, _ and -)",
                             what, shown, c);
            }
            return false;
        }
    }
    return true;
}

bool topic_is_retry_or_dlq(const char *name)
{
    return name && (!strncmp(name, TOPIC_RETRY_PREFIX, strlen(TOPIC_RETRY_PREFIX)) ||
                    !strncmp(name, TOPIC_DLQ_PREFIX, strlen(TOPIC_DLQ_PREFIX)));
}

bool topic_name_valid(const char *name, char *err, size_t errlen)
{
    size_t max = topic_is_retry_or_dlq(name) ? TOPIC_NAME_MAX_LONG : TOPIC_NAME_MAX;
    return name_valid("topic", name, max, err, errlen);
}

bool group_name_valid(const char *name, char *err, size_t errlen)
{
    return name_valid("group", name, GROUP_NAME_MAX, err, errlen);
}

bool topic_is_system(const char *name)
{
    if (!name)
        return false;
    for (size_t i = 0; i < sizeof system_topics / sizeof system_topics[0]; i++)
        if (!strcmp(name, system_topics[i]))
            return true;
    return !strncmp(name, "rmq_sys_", 8);
}
