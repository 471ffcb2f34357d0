/*
 * subscription.h - a consumer's subscription expression, parsed once and
 * matched many times, the same way on the broker (by tag hash, against
 * ConsumeQueue entries) and on the client (by tag string, exactly).
 *
 * Tag expressions are RocketMQ's: "*" or "" matches everything; otherwise
 * tags separated by "||" with optional spaces ("TagA || TagB"). A message has
 * at most one tag (the TAGS property). SQL92 expressions (expressionType
 * "SQL92") are kept as text here; their evaluation lives with the filter.
 */
#ifndef MQ_SUBSCRIPTION_H
#define MQ_SUBSCRIPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SUB_MAX_TAGS 64

typedef enum sub_type { SUB_TAG = 0, SUB_SQL92 = 1 } sub_type;

typedef struct mq_subscription {
    sub_type type;
    bool match_all;           /* "*" or empty */
    int n_tags;
    char *tags[SUB_MAX_TAGS]; /* owned copies */
    int64_t codes[SUB_MAX_TAGS]; /* tag hashes (ConsumeQueue tag codes) */
    char *expression;         /* the expression as given (owned) */
    int64_t version;          /* subVersion sent by the client */
} mq_subscription;

/* Parses expr of the given type ("TAG" or NULL/"" for tags, "SQL92").
 * Returns 0, or -1 with err (too many tags, empty tag between "||", unknown
 * type). The result must be released with mq_subscription_free. */
int mq_subscription_parse(const char *expr, const char *type, mq_subscription *out, char *err,
                          size_t errlen);
void mq_subscription_free(mq_subscription *s);
/* Deep copy. */
void mq_subscription_copy(mq_subscription *dst, const mq_subscription *src);

/* Broker side: does a ConsumeQueue entry with this tag code pass? (A hash
 * collision lets a wrong tag through; the client checks the string.) */
bool mq_subscription_match_code(const mq_subscription *s, int64_t tag_code);
/* Client side: does a message whose TAGS is tag[0..len) pass? len 0 = no tag. */
bool mq_subscription_match_tag(const mq_subscription *s, const char *tag, size_t len);

#ifdef __cplusplus
}
#endif

#endif
