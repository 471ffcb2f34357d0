/*
 * admin_transaction.c - mq/admin_transaction.h: QUERY_TRANSACTION and
 * RESOLVE_TRANSACTION (our request codes 50000/50001) to one broker, on the
 * admin handle's runtime (admin_internal.h).
 */
#include "mq/admin_transaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "body.pb-c.h"
#include "protocol.h"
#include "util.h"

static char *dup_or_empty(const char *s) { return xstrdup(s ? s : ""); }

/* Packs body and sends code to the broker at addr (admin_call). */
static int call(mq_admin *a, const char *addr, int32_t code, const ProtobufCMessage *body, const char *what,
                mqc_response *r, mq_error *err)
{
    if (!addr || !*addr) {
        mqc_error_set(err, MQ_EINVAL, "%s: a broker address is required", what);
        return MQ_EINVAL;
    }
    size_t len = protobuf_c_message_get_packed_size(body);
    uint8_t *buf = xmalloc(len ? len : 1);
    protobuf_c_message_pack(body, buf);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = code;
    int rc = admin_call(a, addr, &h, buf, len, what, r, err);
    free(buf);
    return rc;
}

int mq_admin_query_transaction(mq_admin *a, const char *broker_addr, const char *producer_group, bool parked,
                               int limit, mq_half_message_list **out, mq_error *err)
{
    Mq__TransactionQuery q = MQ__TRANSACTION_QUERY__INIT;
    q.producergroup = producer_group && *producer_group ? (char *)producer_group : NULL;
    q.parked = parked, q.has_parked = 1;
    q.limit = limit > 0 ? limit : 100, q.has_limit = 1;
    char what[160];
    snprintf(what, sizeof what, "%s transactions on %s", parked ? "parked" : "pending", broker_addr ? broker_addr : "");
    mqc_response r;
    int rc = call(a, broker_addr, RC_QUERY_TRANSACTION, &q.base, what, &r, err);
    if (rc != MQ_OK)
        return rc;
    Mq__TransactionList *l = (Mq__TransactionList *)protobuf_c_message_unpack(&mq__transaction_list__descriptor, NULL,
                                                                               r.body_len, r.body);
    mqc_response_free(&r);
    if (!l) {
        mqc_error_set(err, MQ_ENETWORK, "%s: undecodable answer", what);
        return MQ_ENETWORK;
    }
    mq_half_message_list *o = xcalloc(1, sizeof *o);
    o->n = l->n_items;
    o->total = l->total;
    o->items = xcalloc(o->n ? o->n : 1, sizeof *o->items);
    for (size_t i = 0; i < o->n; i++) {
        const Mq__HalfMessageInfo *m = l->items[i];
        mq_half_message *h = &o->items[i];
        h->half_offset = m->halfoffset;
        h->commit_log_offset = m->commitlogoffset;
        h->msg_id = dup_or_empty(m->msgid);
        h->offset_msg_id = dup_or_empty(m->offsetmsgid);
        h->producer_group = dup_or_empty(m->producergroup);
        h->topic = dup_or_empty(m->topic);
        h->queue_id = m->queueid;
        h->keys = dup_or_empty(m->keys);
        h->tags = dup_or_empty(m->tags);
        h->store_timestamp = m->storetimestamp;
        h->check_times = m->checktimes;
        h->next_check_timestamp = m->nextchecktimestamp;
        h->parked_timestamp = m->parkedtimestamp;
        h->parked = m->parked;
    }
    mq__transaction_list__free_unpacked(l, NULL);
    *out = o;
    return MQ_OK;
}

void mq_half_message_list_free(mq_half_message_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        mq_half_message *h = &l->items[i];
        free(h->msg_id);
        free(h->offset_msg_id);
        free(h->producer_group);
        free(h->topic);
        free(h->keys);
        free(h->tags);
    }
    free(l->items);
    free(l);
}

int mq_admin_resolve_transaction(mq_admin *a, const char *broker_addr, const char *msg_id, bool commit, char *remark,
                                 size_t remark_len, mq_error *err)
{
    if (!msg_id || !*msg_id) {
        mqc_error_set(err, MQ_EINVAL, "a message id (transaction id or offset msg id) is required");
        return MQ_EINVAL;
    }
    Mq__TransactionResolve q = MQ__TRANSACTION_RESOLVE__INIT;
    q.msgid = (char *)msg_id;
    q.commit = commit, q.has_commit = 1;
    char what[200];
    snprintf(what, sizeof what, "%s transaction %s on %s", commit ? "commit" : "roll back", msg_id,
             broker_addr ? broker_addr : "");
    mqc_response r;
    int rc = call(a, broker_addr, RC_RESOLVE_TRANSACTION, &q.base, what, &r, err);
    if (rc != MQ_OK)
        return rc;
    if (remark && remark_len)
        snprintf(remark, remark_len, "%s", mqc_response_remark(&r));
    mqc_response_free(&r);
    return MQ_OK;
}
