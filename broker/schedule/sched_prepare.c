/*
 * sched_prepare.c - rewrites a message that asks for a later delivery into
 * its scheduled form (see schedule.h for the contract). Pure function: no
 * state, no locks, no I/O.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "schedule.h"
#include "store.h"
#include "util.h"

/* Reads an integer property. 0 absent, 1 found (*out set), -1 not an integer. */
static int prop_int(const char *props, size_t plen, const char *key, int64_t *out)
{
    const char *v;
    size_t vlen;
    if (!msg_prop_get(props, plen, key, &v, &vlen))
        return 0;
    char buf[32];
    if (vlen == 0 || vlen >= sizeof buf)
        return -1;
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
    return parse_int64(buf, INT64_MIN, INT64_MAX, out) == 0 ? 1 : -1;
}

/* Copies r's properties into props and records the real topic and queue. */
static int start_props(const msg_record *r, bytebuf *props)
{
    bytebuf_clear(props);
    bytebuf_append(props, r->properties ? r->properties : "", r->properties_len);
    /* A trailing separator (RocketMQ 4.x clients send one) is dropped by the
     * first msg_prop_remove/set below, which rewrites the string. */
    char topic[256], qid[16];
    size_t tl = r->topic_len < sizeof topic ? r->topic_len : sizeof topic - 1;
    memcpy(topic, r->topic, tl);
    topic[tl] = '\0';
    snprintf(qid, sizeof qid, "%d", (int)r->queue_id);
    if (msg_prop_set(props, MSG_PROP_REAL_TOPIC, topic) != 0 ||
        msg_prop_set(props, MSG_PROP_REAL_QID, qid) != 0)
        return -1;
    return 0;
}

static void point_at(msg_record *r, bytebuf *props, const char *topic, int32_t qid)
{
    r->topic = topic;
    r->topic_len = (uint32_t)strlen(topic);
    r->queue_id = qid;
    r->properties = (const char *)props->data;
    r->properties_len = (uint32_t)props->len;
}

int sched_prepare(store *s, int64_t max_delay_sec, int64_t now, msg_record *r, bytebuf *props,
                  char *err, size_t errlen)
{
    int32_t tx = msg_tx_type(r->sysflag);
    if (tx == MSG_SYSFLAG_TX_PREPARED || tx == MSG_SYSFLAG_TX_ROLLBACK)
        return SCHED_NONE;
    const char *p = r->properties ? r->properties : "";
    size_t plen = r->properties_len;
    int64_t level = 0, deliver_ms = 0, delay_ms = 0, delay_sec = 0;
    int has_level = prop_int(p, plen, MSG_PROP_DELAY, &level);
    int has_at = prop_int(p, plen, MSG_PROP_TIMER_DELIVER_MS, &deliver_ms);
    int has_ms = prop_int(p, plen, MSG_PROP_TIMER_DELAY_MS, &delay_ms);
    int has_sec = prop_int(p, plen, MSG_PROP_TIMER_DELAY_SEC, &delay_sec);
    if (has_level < 0) {
        snprintf(err, errlen, "property DELAY is not a delay level (an integer 1..%d)",
                 store_delay_level_count(s));
        return SCHED_ERR;
    }
    if (has_level > 0 && level < 0) {
        snprintf(err, errlen, "delay level %" PRId64 " is negative", level);
        return SCHED_ERR;
    }
    if (has_level > 0 && level > 0) {
        int n = store_delay_level_count(s);
        if (n <= 0) {
            snprintf(err, errlen, "delay levels are not configured (messageDelayLevel is empty)");
            return SCHED_ERR;
        }
        if (level > n)
            level = n; /* RocketMQ clamps to the highest level */
        if (start_props(r, props) != 0)
            goto bad_props;
        char lv[16];
        snprintf(lv, sizeof lv, "%d", (int)level);
        msg_prop_set(props, MSG_PROP_DELAY, lv);
        msg_prop_remove(props, MSG_PROP_TIMER_DELIVER_MS);
        msg_prop_remove(props, MSG_PROP_TIMER_DELAY_MS);
        msg_prop_remove(props, MSG_PROP_TIMER_DELAY_SEC);
        point_at(r, props, MSG_TOPIC_SCHEDULE, (int32_t)level - 1);
        return SCHED_LEVEL;
    }
    const char *which = has_at < 0 ? MSG_PROP_TIMER_DELIVER_MS
                        : has_ms < 0 ? MSG_PROP_TIMER_DELAY_MS
                        : has_sec < 0 ? MSG_PROP_TIMER_DELAY_SEC
                                      : NULL;
    if (which) {
        snprintf(err, errlen, "property %s is not an integer", which);
        return SCHED_ERR;
    }
    int64_t due;
    const int64_t max_ms = max_delay_sec * 1000;
    if (has_at > 0) {
        if (deliver_ms < 0) {
            snprintf(err, errlen, "delivery time %s=%" PRId64 " is negative",
                     MSG_PROP_TIMER_DELIVER_MS, deliver_ms);
            return SCHED_ERR;
        }
        due = deliver_ms;
    } else if (has_ms > 0 || has_sec > 0) {
        int64_t d = has_ms > 0 ? delay_ms : delay_sec;
        const char *name = has_ms > 0 ? MSG_PROP_TIMER_DELAY_MS : MSG_PROP_TIMER_DELAY_SEC;
        if (d < 0) {
            snprintf(err, errlen, "delay %s=%" PRId64 " is negative", name, d);
            return SCHED_ERR;
        }
        if (has_ms <= 0 && d > INT64_MAX / 1000 / 2)
            d = INT64_MAX / 1000 / 2; /* refused below as too far */
        int64_t ms = has_ms > 0 ? d : d * 1000;
        due = ms > INT64_MAX / 2 ? INT64_MAX / 2 : now + ms;
    } else {
        return SCHED_NONE;
    }
    if (due - now > max_ms) {
        snprintf(err, errlen,
                 "delivery time %" PRId64 " is %" PRId64 " ms from now, beyond timerMaxDelaySec=%" PRId64
                 " s",
                 due, due - now, max_delay_sec);
        return SCHED_ERR;
    }
    if (due <= now)
        return SCHED_NONE; /* due already: a normal message, as RocketMQ 5 */
    if (start_props(r, props) != 0)
        goto bad_props;
    char out[24];
    snprintf(out, sizeof out, "%" PRId64, due);
    msg_prop_set(props, MSG_PROP_TIMER_OUT_MS, out);
    point_at(r, props, SCHED_TOPIC_TIMER, 0);
    return SCHED_TIMER;
bad_props:
    snprintf(err, errlen, "topic or queue cannot be stored as a property");
    return SCHED_ERR;
}
