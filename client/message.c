/*
 * message.c - outgoing messages (mq_message) and the checks RocketMQ's
 * Validators make before a send: topic and group names (by the rules of
 * common/names.h), body present and within the size limit.
 *
 * A message keeps its fields as separate C strings (so getters need no
 * parsing); the wire property string "k\x01v\x02k\x01v" is built per send
 * into a buffer the sender reuses. Separators inside values are refused
 * when set, so building can never fail. No locking: a message belongs to
 * one thread at a time (see mq/message.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "message_internal.h"
#include "names.h"
#include "util.h"

typedef struct user_prop {
    char *name;
    char *value;
} user_prop;

struct mq_message {
    char *topic;
    char *tags; /* NULL: none */
    char *keys;
    const uint8_t *body;
    size_t body_len;
    uint8_t *owned_body;
    user_prop *props;
    int n_props;
    int cap_props;
    int delay_level;
    int32_t flag;
};

/* Properties the broker or the client library set themselves
 * (RocketMQ MessageConst.STRING_HASH_SET). */
static const char *const reserved_props[] = {
    MSG_PROP_KEYS, MSG_PROP_TAGS, MSG_PROP_WAIT, MSG_PROP_DELAY, MSG_PROP_RETRY_TOPIC,
    MSG_PROP_REAL_TOPIC, MSG_PROP_REAL_QID, MSG_PROP_TRAN_MSG, MSG_PROP_PGROUP,
    MSG_PROP_MIN_OFFSET, MSG_PROP_MAX_OFFSET, MSG_PROP_BUYER_ID, MSG_PROP_ORIGIN_MESSAGE_ID,
    MSG_PROP_TRANSFER_FLAG, MSG_PROP_CORRECTION_FLAG, MSG_PROP_MQ2_FLAG, MSG_PROP_RECONSUME_TIME,
    MSG_PROP_MSG_REGION, MSG_PROP_TRACE_SWITCH, MSG_PROP_UNIQ_KEY, MSG_PROP_MAX_RECONSUME_TIMES,
    MSG_PROP_CONSUME_START_TIME, MSG_PROP_TRAN_PREPARED_QUEUE_OFFSET,
    MSG_PROP_TRANSACTION_CHECK_TIMES, MSG_PROP_CHECK_IMMUNITY_TIME, MSG_PROP_INSTANCE_ID,
    MSG_PROP_INNER_NUM, MSG_PROP_INNER_BASE, MSG_PROP_DLQ_ORIGIN_TOPIC,
    MSG_PROP_DLQ_ORIGIN_MESSAGE_ID, NULL,
};

static bool has_separator(const char *s)
{
    return s && (strchr(s, MSG_NAME_VALUE_SEPARATOR) || strchr(s, MSG_PROPERTY_SEPARATOR));
}

mq_message *mq_message_new(const char *topic)
{
    if (!topic)
        return NULL;
    mq_message *m = xcalloc(1, sizeof *m);
    m->topic = xstrdup(topic);
    return m;
}

void mq_message_destroy(mq_message *m)
{
    if (!m)
        return;
    free(m->topic);
    free(m->tags);
    free(m->keys);
    free(m->owned_body);
    for (int i = 0; i < m->n_props; i++) {
        free(m->props[i].name);
        free(m->props[i].value);
    }
    free(m->props);
    free(m);
}

int mq_message_set_topic(mq_message *m, const char *topic, mq_error *err)
{
    if (!topic) {
        mqc_error_set(err, MQ_EINVAL, "topic is NULL");
        return MQ_EINVAL;
    }
    free(m->topic);
    m->topic = xstrdup(topic);
    return MQ_OK;
}

static int set_text(char **field, const char *what, const char *v, mq_error *err)
{
    if (has_separator(v)) {
        mqc_error_set(err, MQ_EINVAL, "%s must not contain the characters \\x01 or \\x02", what);
        return MQ_EINVAL;
    }
    free(*field);
    *field = v && *v ? xstrdup(v) : NULL;
    return MQ_OK;
}

int mq_message_set_tags(mq_message *m, const char *tags, mq_error *err)
{
    return set_text(&m->tags, "tags", tags, err);
}

int mq_message_set_keys(mq_message *m, const char *keys, mq_error *err)
{
    return set_text(&m->keys, "keys", keys, err);
}

int mq_message_set_body(mq_message *m, const void *body, size_t len, mq_error *err)
{
    if (!body && len) {
        mqc_error_set(err, MQ_EINVAL, "body is NULL with length %zu", len);
        return MQ_EINVAL;
    }
    uint8_t *copy = NULL;
    if (len) {
        copy = xmalloc(len);
        memcpy(copy, body, len);
    }
    free(m->owned_body);
    m->owned_body = copy;
    m->body = copy;
    m->body_len = len;
    return MQ_OK;
}

int mq_message_set_body_ref(mq_message *m, const void *body, size_t len, mq_error *err)
{
    if (!body && len) {
        mqc_error_set(err, MQ_EINVAL, "body is NULL with length %zu", len);
        return MQ_EINVAL;
    }
    free(m->owned_body);
    m->owned_body = NULL;
    m->body = body;
    m->body_len = len;
    return MQ_OK;
}

int mq_message_set_property(mq_message *m, const char *name, const char *value, mq_error *err)
{
    if (!name || !*name || has_separator(name) || has_separator(value)) {
        mqc_error_set(err, MQ_EINVAL, "property names must be non-empty and names and values "
                                      "must not contain \\x01 or \\x02");
        return MQ_EINVAL;
    }
    for (const char *const *r = reserved_props; *r; r++) {
        if (!strcmp(*r, name)) {
            mqc_error_set(err, MQ_EINVAL, "property %s is reserved (set by the library or broker)",
                          name);
            return MQ_EINVAL;
        }
    }
    for (int i = 0; i < m->n_props; i++) {
        if (strcmp(m->props[i].name, name) != 0)
            continue;
        free(m->props[i].value);
        if (value) {
            m->props[i].value = xstrdup(value);
        } else {
            free(m->props[i].name);
            m->props[i] = m->props[--m->n_props];
        }
        return MQ_OK;
    }
    if (!value)
        return MQ_OK;
    if (m->n_props == m->cap_props) {
        m->cap_props = m->cap_props ? m->cap_props * 2 : 4;
        m->props = xrealloc(m->props, (size_t)m->cap_props * sizeof *m->props);
    }
    m->props[m->n_props].name = xstrdup(name);
    m->props[m->n_props].value = xstrdup(value);
    m->n_props++;
    return MQ_OK;
}

int mq_message_set_delay_level(mq_message *m, int level, mq_error *err)
{
    if (level < 0 || level > MQ_DELAY_LEVEL_MAX) {
        mqc_error_set(err, MQ_EINVAL, "delay level %d outside 0..%d", level, MQ_DELAY_LEVEL_MAX);
        return MQ_EINVAL;
    }
    m->delay_level = level;
    return MQ_OK;
}

static int set_time_prop(mq_message *m, const char *name, int64_t v, mq_error *err)
{
    if (v < 0) {
        mqc_error_set(err, MQ_EINVAL, "%s must not be negative (got %lld)", name, (long long)v);
        return MQ_EINVAL;
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return mq_message_set_property(m, name, v ? buf : NULL, err);
}

int mq_message_set_deliver_time(mq_message *m, int64_t epoch_ms, mq_error *err)
{
    return set_time_prop(m, MSG_PROP_TIMER_DELIVER_MS, epoch_ms, err);
}

int mq_message_set_delay_ms(mq_message *m, int64_t delay_ms, mq_error *err)
{
    return set_time_prop(m, MSG_PROP_TIMER_DELAY_MS, delay_ms, err);
}

void mq_message_set_flag(mq_message *m, int32_t flag) { m->flag = flag; }
const char *mq_message_topic(const mq_message *m) { return m->topic; }
const char *mq_message_tags(const mq_message *m) { return m->tags ? m->tags : ""; }
const char *mq_message_keys(const mq_message *m) { return m->keys ? m->keys : ""; }
int mq_message_delay_level(const mq_message *m) { return m->delay_level; }
int32_t mq_message_flag(const mq_message *m) { return m->flag; }

const void *mq_message_body(const mq_message *m, size_t *len)
{
    if (len)
        *len = m->body_len;
    return m->body;
}

const char *mq_message_property(const mq_message *m, const char *name)
{
    for (int i = 0; i < m->n_props; i++)
        if (!strcmp(m->props[i].name, name))
            return m->props[i].value;
    return NULL;
}

const uint8_t *mqc_message_body(const mq_message *m, uint32_t *len)
{
    *len = (uint32_t)m->body_len;
    return m->body;
}

/* Appends "name\x01value" (with a leading \x02 after the first pair) at
 * out + *n when it fits; always advances *n by the length it needs. */
static void put_pair(char *out, size_t cap, size_t *n, const char *name, const char *value)
{
    size_t kl = strlen(name), vl = strlen(value);
    size_t need = (*n ? 1 : 0) + kl + 1 + vl;
    if (*n + need <= cap) {
        char *p = out + *n;
        if (*n)
            *p++ = MSG_PROPERTY_SEPARATOR;
        memcpy(p, name, kl);
        p[kl] = MSG_NAME_VALUE_SEPARATOR;
        memcpy(p + kl + 1, value, vl);
    }
    *n += need;
}

size_t mqc_message_wire_props(const mq_message *m, const char *uniq_id, char *out, size_t cap)
{
    /* Separators were refused when the values were set. */
    size_t n = 0;
    for (int i = 0; i < m->n_props; i++)
        put_pair(out, cap, &n, m->props[i].name, m->props[i].value);
    if (m->tags)
        put_pair(out, cap, &n, MSG_PROP_TAGS, m->tags);
    if (m->keys)
        put_pair(out, cap, &n, MSG_PROP_KEYS, m->keys);
    put_pair(out, cap, &n, MSG_PROP_WAIT, "true");
    if (m->delay_level > 0) {
        char level[16];
        snprintf(level, sizeof level, "%d", m->delay_level);
        put_pair(out, cap, &n, MSG_PROP_DELAY, level);
    }
    if (uniq_id)
        put_pair(out, cap, &n, MSG_PROP_UNIQ_KEY, uniq_id);
    if (n < cap)
        out[n] = '\0';
    return n;
}

/* ---- validation (RocketMQ Validators; the name rules are common/names.h) ---- */

/* Topics a producer may not send to (RocketMQ NOT_ALLOWED_SEND_TOPIC_SET,
 * plus the auto-create template topic). */
static const char *const no_send_topics[] = {
    TOPIC_AUTO_CREATE, TOPIC_SCHEDULE, TOPIC_TRANS_HALF, TOPIC_TRANS_OP_HALF, TOPIC_TRANS_CHECK_MAX_TIME,
    TOPIC_SELF_TEST, TOPIC_OFFSET_MOVED_EVENT, NULL,
};

int mqc_check_topic(const char *topic, mq_error *err)
{
    char why[200];
    if (!topic || !topic_name_valid(topic, why, sizeof why)) {
        mqc_error_set(err, MQ_EINVAL, "bad topic name '%s': %s", topic ? topic : "", topic ? why : "NULL");
        return MQ_EINVAL;
    }
    for (const char *const *s = no_send_topics; *s; s++) {
        if (!strcmp(*s, topic)) {
            mqc_error_set(err, MQ_EINVAL, "topic %s is a system topic and cannot be used here", topic);
            return MQ_EINVAL;
        }
    }
    return MQ_OK;
}

int mqc_check_group(const char *group, mq_error *err)
{
    char why[200];
    if (!group || !group_name_valid(group, why, sizeof why)) {
        mqc_error_set(err, MQ_EINVAL, "bad group name '%s': %s", group ? group : "", group ? why : "NULL");
        return MQ_EINVAL;
    }
    return MQ_OK;
}

int mqc_check_message(const mq_message *m, int max_size, mq_error *err)
{
    if (!m) {
        mqc_error_set(err, MQ_EINVAL, "message is NULL");
        return MQ_EINVAL;
    }
    int rc = mqc_check_topic(m->topic, err);
    if (rc != MQ_OK)
        return rc;
    if (!m->body || m->body_len == 0) {
        mqc_error_set(err, MQ_EINVAL, "message body is empty");
        return MQ_EINVAL;
    }
    if (m->body_len > (size_t)max_size) {
        mqc_error_set(err, MQ_EINVAL, "message body is %zu bytes (at most %d)", m->body_len, max_size);
        return MQ_EINVAL;
    }
    return MQ_OK;
}
