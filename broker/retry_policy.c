/*
 * retry_policy.c - RocketMQ's send-back rules (see retry_policy.h for the
 * list R1..R4 and where they come from). Pure: no state, any thread.
 */
#include "retry_policy.h"

#include <stdio.h>
#include <string.h>

#include "message.h"
#include "names.h"
#include "schedule/schedule.h" /* SCHED_PROP_ORIGIN */

enum { RETRY_FIRST_LEVEL = 3 }; /* level of the first retry: 10 s by default */

retry_decision retry_decide(int32_t reconsume_times, int32_t requested_level, int32_t client_max,
                            int32_t group_max, int level_count)
{
    retry_decision d;
    d.max_reconsume = client_max >= 0 ? client_max : group_max;
    d.reconsume_times = reconsume_times < 0 ? 1 : reconsume_times + 1;
    if (requested_level < 0 || reconsume_times >= d.max_reconsume) { /* R2 */
        d.target = RETRY_TO_DLQ;
        d.delay_level = 0;
        return d;
    }
    /* R3; the sum is computed in 64 bits so a huge reconsume count clamps
     * instead of overflowing. */
    int64_t level = requested_level > 0 ? requested_level : (int64_t)RETRY_FIRST_LEVEL + reconsume_times;
    if (level_count < 1)
        level_count = 1;
    if (level > level_count)
        level = level_count;
    d.target = RETRY_TO_RETRY_TOPIC;
    d.delay_level = (int32_t)level;
    return d;
}

int retry_build_properties(const char *props, size_t plen, const char *topic, const char *offset_msg_id,
                           const retry_decision *d, bytebuf *out)
{
    bytebuf_clear(out);
    /* Copy pair by pair: drops empty and malformed pairs and a trailing
     * separator, which msg_prop_set would otherwise keep around. */
    size_t it = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(props, plen, &it, &k, &kl, &v, &vl))
        if (kl > 0 && msg_prop_appendn(out, k, kl, v, vl) != 0)
            return MSG_ERR_INVALID;
    const char *val;
    size_t len;
    int rc = 0;
    if (!msg_prop_get((const char *)out->data, out->len, MSG_PROP_RETRY_TOPIC, &val, &len))
        rc = msg_prop_append(out, MSG_PROP_RETRY_TOPIC, topic);
    if (rc == 0 && !msg_prop_get((const char *)out->data, out->len, MSG_PROP_ORIGIN_MESSAGE_ID, &val, &len))
        rc = msg_prop_append(out, MSG_PROP_ORIGIN_MESSAGE_ID, offset_msg_id);
    if (rc != 0)
        return rc;
    /* Left over from an earlier delivery; the new copy's own delay is below.
     * SCHED_ORIGIN names the scheduled record the last hop came from: the
     * copy is a new record and must not claim it. */
    msg_prop_remove(out, SCHED_PROP_ORIGIN);
    msg_prop_remove(out, MSG_PROP_TIMER_DELIVER_MS);
    msg_prop_remove(out, MSG_PROP_TIMER_DELAY_MS);
    msg_prop_remove(out, MSG_PROP_TIMER_DELAY_SEC);
    if (d->target == RETRY_TO_RETRY_TOPIC) {
        char level[16];
        snprintf(level, sizeof level, "%d", d->delay_level);
        return msg_prop_set(out, MSG_PROP_DELAY, level);
    }
    msg_prop_remove(out, MSG_PROP_DELAY);
    return 0;
}

static int prefixed(const char *prefix, const char *group, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", prefix, group ? group : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int retry_topic_name(const char *group, char *out, size_t cap) { return prefixed(TOPIC_RETRY_PREFIX, group, out, cap); }

int retry_dlq_topic_name(const char *group, char *out, size_t cap) { return prefixed(TOPIC_DLQ_PREFIX, group, out, cap); }
