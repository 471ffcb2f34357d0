/*
 * msg_json.c - the JSON views shared by mqadmin and mqconsole. A received
 * message as text and JSON (mqadmin's lookups, cmd_query.c): the body as
 * text when it is valid UTF-8 without control characters (tab and newlines
 * allowed), else as hex, cut at a byte limit; the JSON object mqadmin
 * --json prints. A queue's offsets (topicStatus) and a topic's route
 * (topicRoute, RocketMQ's TopicRouteData shape).
 */
#include "msg_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* True if body is UTF-8 without control characters other than \t \n \r. */
static bool body_printable(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || c == 0xc0 || c == 0xc1 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* The body as printed: text or hex of at most limit bytes (0 = all). A
 * text cut keeps whole UTF-8 characters. Returns a malloc'd string. */
char *msg_body_text(const mq_message_ext *m, size_t limit, bool *hex, bool *cut, size_t *total)
{
    size_t n;
    const unsigned char *b = mq_message_ext_body(m, &n);
    *total = n;
    *hex = !body_printable(b, n);
    size_t shown = limit && n > limit ? limit : n;
    if (!*hex)
        while (shown < n && shown > 0 && (b[shown] & 0xc0) == 0x80)
            shown--;
    *cut = shown < n;
    if (!*hex) {
        char *s = xmalloc(shown + 1);
        memcpy(s, b, shown);
        s[shown] = '\0';
        return s;
    }
    char *s = xmalloc(shown * 2 + 1);
    for (size_t i = 0; i < shown; i++)
        snprintf(s + 2 * i, 3, "%02X", b[i]);
    s[shown * 2] = '\0';
    return s;
}

void msg_json_write(json_writer *w, const mq_message_ext *m, size_t limit)
{
    char born[64], store[64];
    mq_message_ext_born_host(m, born, sizeof born);
    mq_message_ext_store_host(m, store, sizeof store);
    json_object_begin(w);
    json_kv_string(w, "msgId", mq_message_ext_msg_id(m));
    json_kv_string(w, "offsetMsgId", mq_message_ext_offset_msg_id(m));
    json_kv_string(w, "topic", mq_message_ext_topic(m));
    json_kv_string(w, "tags", mq_message_ext_tags(m));
    json_kv_string(w, "keys", mq_message_ext_keys(m));
    json_kv_string(w, "brokerName", mq_message_ext_broker_name(m));
    json_kv_int(w, "queueId", mq_message_ext_queue_id(m));
    json_kv_int(w, "queueOffset", mq_message_ext_queue_offset(m));
    json_kv_int(w, "commitLogOffset", mq_message_ext_commit_log_offset(m));
    json_kv_int(w, "reconsumeTimes", mq_message_ext_reconsume_times(m));
    json_kv_int(w, "bornTimestamp", mq_message_ext_born_timestamp(m));
    json_kv_int(w, "storeTimestamp", mq_message_ext_store_timestamp(m));
    json_kv_string(w, "bornHost", born);
    json_kv_string(w, "storeHost", store);
    json_kv_int(w, "flag", mq_message_ext_flag(m));
    json_key(w, "properties");
    json_object_begin(w);
    const char *k, *v;
    for (size_t it = 0; mq_message_ext_next_property(m, &it, &k, &v);)
        json_kv_string(w, k, v);
    json_object_end(w);
    bool hex, cut;
    size_t total;
    char *body = msg_body_text(m, limit, &hex, &cut, &total);
    json_kv_int(w, "bodyLength", (int64_t)total);
    json_kv_string(w, "bodyEncoding", hex ? "hex" : "text");
    json_kv_bool(w, "bodyTruncated", cut);
    json_kv_string(w, "body", body);
    json_object_end(w);
    free(body);
}

void queue_offsets_json_write(json_writer *w, const mq_queue_offsets *q)
{
    json_object_begin(w);
    json_kv_string(w, "brokerName", q->broker_name);
    json_kv_int(w, "queueId", q->queue_id);
    json_kv_int(w, "minOffset", q->min_offset);
    json_kv_int(w, "maxOffset", q->max_offset);
    json_kv_int(w, "lastUpdateTimestamp", q->last_update_ms);
    json_object_end(w);
}

void broker_data_json_write(json_writer *w, const mq_broker_info *b)
{
    json_object_begin(w);
    json_kv_string(w, "cluster", b->cluster);
    json_kv_string(w, "brokerName", b->broker_name);
    json_key(w, "brokerAddrs");
    json_object_begin(w);
    for (size_t i = 0; i < b->n_addrs; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)b->addrs[i].id);
        json_kv_string(w, id, b->addrs[i].addr);
    }
    json_object_end(w);
    json_object_end(w);
}

void topic_route_json_write(json_writer *w, const mq_topic_route *r)
{
    if (r->order_topic_conf)
        json_kv_string(w, "orderTopicConf", r->order_topic_conf);
    json_key(w, "queueDatas");
    json_array_begin(w);
    for (size_t i = 0; i < r->n_queue_datas; i++) {
        const mq_queue_data *q = &r->queue_datas[i];
        json_object_begin(w);
        json_kv_string(w, "brokerName", q->broker_name);
        json_kv_int(w, "readQueueNums", q->read_queue_nums);
        json_kv_int(w, "writeQueueNums", q->write_queue_nums);
        json_kv_int(w, "perm", q->perm);
        json_kv_int(w, "topicSysFlag", q->topic_sys_flag);
        json_object_end(w);
    }
    json_array_end(w);
    json_key(w, "brokerDatas");
    json_array_begin(w);
    for (size_t i = 0; i < r->n_brokers; i++)
        broker_data_json_write(w, &r->brokers[i]);
    json_array_end(w);
}
