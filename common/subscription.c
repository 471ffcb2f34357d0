/*
 * subscription.c - see subscription.h. Pure functions; no shared state.
 */
#include "subscription.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message.h"
#include "util.h"

void mq_subscription_free(mq_subscription *s)
{
    for (int i = 0; i < s->n_tags; i++)
        free(s->tags[i]);
    free(s->expression);
    memset(s, 0, sizeof *s);
}

void mq_subscription_copy(mq_subscription *dst, const mq_subscription *src)
{
    *dst = *src;
    for (int i = 0; i < src->n_tags; i++)
        dst->tags[i] = xstrdup(src->tags[i]);
    dst->expression = src->expression ? xstrdup(src->expression) : NULL;
}

int mq_subscription_parse(const char *expr, const char *type, mq_subscription *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!expr)
        expr = "";
    if (type && *type && strcasecmp(type, "TAG") != 0) {
        if (strcasecmp(type, "SQL92") != 0) {
            snprintf(err, errlen, "unknown expression type '%s' (TAG or SQL92)", type);
            return -1;
        }
        out->type = SUB_SQL92;
        out->expression = xstrdup(expr);
        return 0;
    }
    out->type = SUB_TAG;
    out->expression = xstrdup(expr);
    const char *p = expr;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || (p[0] == '*' && p[strspn(p + 1, " \t") + 1] == '\0')) {
        out->match_all = true;
        return 0;
    }
    while (*p) {
        const char *bar = strstr(p, "||");
        const char *end = bar ? bar : p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (s == e) {
            snprintf(err, errlen, "empty tag in subscription '%s'", expr);
            mq_subscription_free(out);
            return -1;
        }
        if (out->n_tags >= SUB_MAX_TAGS) {
            snprintf(err, errlen, "more than %d tags in subscription", SUB_MAX_TAGS);
            mq_subscription_free(out);
            return -1;
        }
        out->tags[out->n_tags] = xstrndup(s, (size_t)(e - s));
        out->codes[out->n_tags] = msg_tag_hash(s, (size_t)(e - s));
        out->n_tags++;
        p = bar ? bar + 2 : end;
        if (bar && !*p) {
            snprintf(err, errlen, "subscription '%s' ends with '||'", expr);
            mq_subscription_free(out);
            return -1;
        }
    }
    return 0;
}

bool mq_subscription_match_code(const mq_subscription *s, int64_t tag_code)
{
    if (s->type != SUB_TAG || s->match_all)
        return true;
    for (int i = 0; i < s->n_tags; i++)
        if (s->codes[i] == tag_code)
            return true;
    return false;
}

bool mq_subscription_match_tag(const mq_subscription *s, const char *tag, size_t len)
{
    if (s->type != SUB_TAG || s->match_all)
        return true;
    for (int i = 0; i < s->n_tags; i++)
        if (strlen(s->tags[i]) == len && memcmp(s->tags[i], tag, len) == 0)
            return true;
    return false;
}
