/*
 * half.c - the records of a transaction: the half message made from a
 * transactional send, the real message made from a half message at commit,
 * and the op record of a decision. Pure record building and reading; no
 * state changes (transaction.c and op.c decide).
 *
 * Layouts (docs/STORE.md "Transactions"):
 *   half:  topic RMQ_SYS_TRANS_HALF_TOPIC, queue 0, transaction bits NOT (so
 *          the half queue gets a ConsumeQueue entry), the sender's
 *          properties + REAL_TOPIC, REAL_QID (+ PGROUP if it was missing).
 *   real:  the half with topic/queue restored, REAL_TOPIC, REAL_QID and
 *          TRAN_MSG removed, sysflag COMMIT, PREPARED_TRANSACTION_OFFSET =
 *          the half's CommitLog offset, store time = the half's (RocketMQ).
 *   op:    topic RMQ_SYS_TRANS_OP_HALF_TOPIC, queue 0, TAGS=d, body = half
 *          queue offset in decimal (RocketMQ), TXN_OP = c | r | p (ours).
 * Loop thread (uses the service's reusable buffers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn_internal.h"
#include "util.h"

static bool prop_is(const char *props, size_t plen, const char *key, const char *want)
{
    const char *v;
    size_t vl;
    return msg_prop_get(props, plen, key, &v, &vl) && vl == strlen(want) && !memcmp(v, want, vl);
}

bool txn_is_prepared(int32_t sysflag, const char *props, size_t plen)
{
    return msg_tx_type(sysflag) == MSG_SYSFLAG_TX_PREPARED || prop_is(props, plen, MSG_PROP_TRAN_MSG, "true");
}

int txn_half_prepare(txn_service *t, msg_record *r, const char *producer_group, char *err, size_t errlen)
{
    int32_t tx = msg_tx_type(r->sysflag);
    if (tx == MSG_SYSFLAG_TX_COMMIT || tx == MSG_SYSFLAG_TX_ROLLBACK) {
        snprintf(err, errlen, "a send cannot carry a COMMIT or ROLLBACK transaction flag: decide with END_TRANSACTION");
        return -1;
    }
    bytebuf *p = &t->props;
    bytebuf_clear(p);
    bytebuf_append(p, r->properties, r->properties_len);
    /* strip a trailing separator: msg_prop_append adds its own */
    while (p->len && p->data[p->len - 1] == MSG_PROPERTY_SEPARATOR)
        p->len--;
    const char *v;
    size_t vl;
    if (!msg_prop_get(r->properties, r->properties_len, MSG_PROP_PGROUP, &v, &vl) || vl == 0) {
        if (!producer_group || !*producer_group) {
            snprintf(err, errlen, "a transactional message needs its producer group (PGROUP property or producerGroup header) for check-back");
            return -1;
        }
        msg_prop_set(p, MSG_PROP_PGROUP, producer_group);
    }
    char qid[16];
    snprintf(qid, sizeof qid, "%d", r->queue_id);
    char topic[MSG_TOPIC_MAX_V1 * 2 + 2];
    if (r->topic_len >= sizeof topic) {
        snprintf(err, errlen, "topic too long");
        return -1;
    }
    memcpy(topic, r->topic, r->topic_len);
    topic[r->topic_len] = 0;
    if (msg_prop_set(p, MSG_PROP_REAL_TOPIC, topic) < 0 || msg_prop_set(p, MSG_PROP_REAL_QID, qid) < 0 ||
        msg_prop_set(p, MSG_PROP_TRAN_MSG, "true") < 0) {
        snprintf(err, errlen, "cannot add the transaction properties");
        return -1;
    }
    if (p->len > MSG_PROPERTIES_MAX) {
        snprintf(err, errlen, "properties of %zu bytes with the transaction properties exceed %d", p->len,
                 MSG_PROPERTIES_MAX);
        return -1;
    }
    r->topic = MSG_TOPIC_TRANS_HALF;
    r->topic_len = (uint32_t)strlen(MSG_TOPIC_TRANS_HALF);
    r->queue_id = 0;
    r->sysflag &= ~MSG_SYSFLAG_TX_MASK;
    r->properties = (const char *)p->data;
    r->properties_len = (uint32_t)p->len;
    return 0;
}

int txn_read(txn_service *t, int64_t phys, msg_record *r, store_pin *pin)
{
    store_record_ref ref;
    int rc = store_read_record(t->s, phys, &ref, pin);
    if (rc != 0)
        return rc;
    return msg_decode(ref.data, ref.size, false, r) == MSG_OK ? 0 : STORE_ERR_CORRUPT;
}

bool txn_is_half_record(const msg_record *r, int64_t half_offset)
{
    size_t n = strlen(MSG_TOPIC_TRANS_HALF);
    return r->topic_len == n && !memcmp(r->topic, MSG_TOPIC_TRANS_HALF, n) && r->queue_offset == half_offset;
}

int txn_real_record(txn_service *t, const msg_record *half, int64_t half_phys, msg_record *out)
{
    const char *topic, *qid;
    size_t tl, ql;
    if (!msg_prop_get(half->properties, half->properties_len, MSG_PROP_REAL_TOPIC, &topic, &tl) ||
        !msg_prop_get(half->properties, half->properties_len, MSG_PROP_REAL_QID, &qid, &ql) || tl == 0 || ql == 0 ||
        ql > 10)
        return -1;
    char q[12];
    memcpy(q, qid, ql);
    q[ql] = 0;
    int32_t queue_id;
    if (parse_int32(q, 0, 65535, &queue_id) != 0)
        return -1;
    bytebuf *p = &t->props2;
    bytebuf_clear(p);
    bytebuf_append(p, half->properties, half->properties_len);
    msg_prop_remove(p, MSG_PROP_REAL_TOPIC);
    msg_prop_remove(p, MSG_PROP_REAL_QID);
    msg_prop_remove(p, MSG_PROP_TRAN_MSG);
    *out = *half;
    out->topic = topic;
    out->topic_len = (uint32_t)tl;
    out->queue_id = queue_id;
    out->sysflag = (half->sysflag & ~MSG_SYSFLAG_TX_MASK) | MSG_SYSFLAG_TX_COMMIT;
    out->prepared_transaction_offset = half_phys;
    out->queue_offset = 0;
    out->physical_offset = 0;
    out->properties = (const char *)p->data;
    out->properties_len = (uint32_t)p->len;
    return 0;
}

void txn_op_record(txn_service *t, char op, int64_t half_offset, int64_t store_ms, char body[24], msg_record *out)
{
    bytebuf *p = &t->props;
    bytebuf_clear(p);
    char o[2] = {op, 0};
    msg_prop_append(p, MSG_PROP_TAGS, TXN_OP_TAG);
    msg_prop_append(p, TXN_PROP_OP, o);
    int n = snprintf(body, 24, "%lld", (long long)half_offset);
    memset(out, 0, sizeof *out);
    out->topic = MSG_TOPIC_TRANS_OP_HALF;
    out->topic_len = (uint32_t)strlen(MSG_TOPIC_TRANS_OP_HALF);
    out->queue_id = 0;
    out->born_timestamp = now_ms();
    out->born_host = t->self_host;
    out->store_timestamp = store_ms;
    out->body = (const uint8_t *)body;
    out->body_len = (uint32_t)n;
    out->properties = (const char *)p->data;
    out->properties_len = (uint32_t)p->len;
}
