/*
 * processor_transaction.c - END_TRANSACTION (37) from producers, and the
 * operator codes QUERY_TRANSACTION (50000) and RESOLVE_TRANSACTION (50001).
 *
 * Loop thread. The work is broker/transaction/ (transaction.h); this file
 * decodes, answers and waits for the disk. END_TRANSACTION is oneway from
 * RocketMQ clients (no answer is sent then); a two-way request is answered
 * SUCCESS once the decision is durable under SYNC_FLUSH (FLUSH_DISK_TIMEOUT
 * after syncFlushTimeout), at once under ASYNC_FLUSH; under SYNC_MASTER only
 * once a slave has the decision's records too (the commit's re-put message
 * and the op record), with the statuses of a SYNC_MASTER send otherwise
 * (FLUSH_SLAVE_TIMEOUT after slaveTimeout, SLAVE_NOT_AVAILABLE; ha.h). Answers to decisions
 * that do nothing carry a remark that says why: already resolved
 * (SUCCESS: the earlier decision stands), unknown offsets or mismatching
 * producer group (SYSTEM_ERROR, as RocketMQ), UNKNOWN state (SUCCESS,
 * nothing changes). A slave answers SLAVE_NOT_AVAILABLE (RocketMQ).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.pb-c.h"
#include "broker_context.h"
#include "ha/ha.h"
#include "log.h"
#include "processors.h"
#include "transaction/transaction.h"
#include "util.h"

typedef struct end_wait {
    evq_item item;
    broker *b;
    rm_reply_to to;
    store_put_status status;
    char remark[200];
} end_wait;

static void on_flush_done_loop(evq_item *item)
{
    end_wait *w = (end_wait *)item;
    if (w->status == STORE_PUT_OK)
        rm_respond_status(&w->to, RS_SUCCESS, "%s", w->remark);
    else
        rm_respond_status(&w->to, RS_FLUSH_DISK_TIMEOUT, "%s, but not flushed to disk in time (syncFlushTimeout)",
                          w->remark);
    free(w);
}

static void on_flushed(void *arg, store_put_status status)
{
    end_wait *w = arg;
    w->status = status;
    evq_post(w->b->q, &w->item, on_flush_done_loop);
}

/* Answers an applied decision: after a slave has it under SYNC_MASTER, after
 * the flush under SYNC_FLUSH. */
static void answer_applied(broker *b, rm_conn *c, const rm_cmd *req, const txn_end_result *res, const char *what)
{
    bool oneway = req->hdr->has_flag && (req->hdr->flag & RM_FLAG_ONEWAY);
    if (oneway)
        return;
    bool sync_master = b->cfg.broker_role == ROLE_SYNC_MASTER && b->ha;
    if (!sync_master && b->cfg.flush_disk_type != FLUSH_SYNC) {
        rm_reply_status(c, req, RS_SUCCESS, "%s", what);
        return;
    }
    rm_reply_to to;
    rm_defer(c, req, &to);
    if (sync_master && ha_status_wait(b->ha, &to, res->end_offset, what))
        return; /* it waits for the flush too */
    if (b->cfg.flush_disk_type != FLUSH_SYNC) {
        rm_respond_status(&to, RS_SUCCESS, "%s", what);
        return;
    }
    end_wait *w = xcalloc(1, sizeof *w);
    w->b = b;
    w->to = to;
    snprintf(w->remark, sizeof w->remark, "%s", what);
    int rc = store_wait_flushed(b->store, res->end_offset, on_flushed, w);
    if (rc == 0)
        return;
    free(w);
    if (rc < 0) {
        rm_respond_status(&to, RS_FLUSH_DISK_TIMEOUT, "%s, but the flush could not be awaited", what);
        return;
    }
    rm_respond_status(&to, RS_SUCCESS, "%s", what);
}

static void answer_end(broker *b, rm_conn *c, const rm_cmd *req, const txn_end_result *res, const char *what)
{
    switch (res->status) {
    case TXN_END_APPLIED:
        answer_applied(b, c, req, res, what);
        return;
    case TXN_END_ALREADY:
        rm_reply_status(c, req, RS_SUCCESS, "%s", res->remark);
        return;
    case TXN_END_UNKNOWN:
    case TXN_END_MISMATCH:
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "%s", res->remark);
        return;
    case TXN_END_STORE_ERROR:
    default:
        rm_reply_status(c, req,
                        res->store_status == STORE_PUT_DISK_FULL || res->store_status == STORE_PUT_IO_ERROR ||
                                res->store_status == STORE_PUT_SERVICE_NOT_AVAILABLE
                            ? RS_SERVICE_NOT_AVAILABLE
                            : RS_SYSTEM_ERROR,
                        "%s", res->remark);
        return;
    }
}

static bool master_or_answer(broker *b, rm_conn *c, const rm_cmd *req)
{
    if (!b->txn) {
        rm_reply_status(c, req, RS_SERVICE_NOT_AVAILABLE, "the transaction service is not running");
        return false;
    }
    if (b->cfg.broker_role == ROLE_SLAVE) {
        rm_reply_status(c, req, RS_SLAVE_NOT_AVAILABLE, "broker %s is a slave: transactions are decided on the master",
                        b->addr);
        return false;
    }
    return true;
}

static void on_end_transaction(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    if (!master_or_answer(b, c, req))
        return;
    const Mq__EndTransactionRequestHeader *h = req->hdr->end_transaction;
    if (!h || !h->has_transtatetableoffset || !h->has_commitlogoffset || !h->has_commitorrollback) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER,
                        "END_TRANSACTION needs tranStateTableOffset, commitLogOffset and commitOrRollback");
        return;
    }
    if (h->commitorrollback == MSG_SYSFLAG_TX_NOT) {
        rm_reply_status(c, req, RS_SUCCESS, "state UNKNOWN for half message %" PRId64 ": nothing changes, it will be "
                        "checked again", (int64_t)h->transtatetableoffset);
        return;
    }
    if (h->commitorrollback != MSG_SYSFLAG_TX_COMMIT && h->commitorrollback != MSG_SYSFLAG_TX_ROLLBACK) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER,
                        "commitOrRollback %d is not 8 (commit), 12 (rollback) or 0 (unknown)", h->commitorrollback);
        return;
    }
    txn_end_result res;
    const char *group = h->producergroup && *h->producergroup ? h->producergroup : NULL;
    txn_end(b->txn, h->transtatetableoffset, h->commitlogoffset, group, (txn_decision)h->commitorrollback, &res);
    answer_end(b, c, req, &res, h->commitorrollback == MSG_SYSFLAG_TX_COMMIT ? "committed" : "rolled back");
}

/* ---- operators ---- */

static void on_query_transaction(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    if (!b->txn) {
        rm_reply_status(c, req, RS_SERVICE_NOT_AVAILABLE, "the transaction service is not running");
        return;
    }
    char err[160];
    Mq__TransactionQuery *q = NULL;
    if (req->body_len > 0) {
        q = (Mq__TransactionQuery *)rm_body_decode(c, req, &mq__transaction_query__descriptor, err, sizeof err);
        if (!q) {
            rm_reply_status(c, req, RS_INVALID_PARAMETER, "bad QUERY_TRANSACTION body: %s", err);
            return;
        }
    }
    int limit = q && q->has_limit && q->limit > 0 ? q->limit : 100;
    if (limit > 10000)
        limit = 10000;
    bool parked = q && q->has_parked && q->parked;
    txn_info *rows = xcalloc((size_t)limit, sizeof *rows);
    size_t total = txn_list(b->txn, parked, q ? q->producergroup : NULL, rows, (size_t)limit);
    size_t n = total < (size_t)limit ? total : (size_t)limit;
    Mq__HalfMessageInfo *items = xcalloc(n ? n : 1, sizeof *items);
    Mq__HalfMessageInfo **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        Mq__HalfMessageInfo *m = &items[i];
        const txn_info *r = &rows[i];
        *m = (Mq__HalfMessageInfo)MQ__HALF_MESSAGE_INFO__INIT;
        m->halfoffset = r->half_offset, m->has_halfoffset = 1;
        m->commitlogoffset = r->commit_log_offset, m->has_commitlogoffset = 1;
        m->msgid = (char *)r->msg_id;
        m->offsetmsgid = (char *)r->offset_msg_id;
        m->producergroup = (char *)r->producer_group;
        m->topic = (char *)r->topic;
        m->queueid = r->queue_id, m->has_queueid = 1;
        m->keys = (char *)r->keys;
        m->tags = (char *)r->tags;
        m->storetimestamp = r->store_ms, m->has_storetimestamp = 1;
        m->checktimes = r->checks, m->has_checktimes = 1;
        m->nextchecktimestamp = r->next_check_ms, m->has_nextchecktimestamp = r->next_check_ms != 0;
        m->parkedtimestamp = r->parked_ms, m->has_parkedtimestamp = r->parked;
        m->parked = r->parked, m->has_parked = 1;
        ptrs[i] = m;
    }
    Mq__TransactionList l = MQ__TRANSACTION_LIST__INIT;
    l.n_items = n;
    l.items = ptrs;
    l.total = (int64_t)total, l.has_total = 1;
    rm_reply_ok(c, req, &l.base);
    free(ptrs);
    free(items);
    free(rows);
}

static void on_resolve_transaction(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    if (!master_or_answer(b, c, req))
        return;
    char err[300];
    Mq__TransactionResolve *r =
        (Mq__TransactionResolve *)rm_body_decode(c, req, &mq__transaction_resolve__descriptor, err, sizeof err);
    if (!r || !r->msgid || !*r->msgid || !r->has_commit) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "RESOLVE_TRANSACTION needs msgId and commit (true/false)%s%s",
                        r ? "" : ": ", r ? "" : err);
        return;
    }
    int64_t half_offset, clo;
    if (txn_find(b->txn, r->msgid, &half_offset, &clo, err, sizeof err) != 0) {
        rm_reply_status(c, req, RS_QUERY_NOT_FOUND, "%s", err);
        return;
    }
    txn_end_result res;
    txn_end(b->txn, half_offset, clo, NULL, r->commit ? TXN_COMMIT : TXN_ROLLBACK, &res);
    char what[200];
    snprintf(what, sizeof what, "transaction %s (half message %" PRId64 ") %s by the operator", r->msgid, half_offset,
             r->commit ? "committed" : "rolled back");
    if (res.status == TXN_END_APPLIED)
        log_info("%s", what);
    answer_end(b, c, req, &res, what);
}

void processor_transaction_register(broker *b)
{
    rm_dispatch_on(b->dispatch, RC_END_TRANSACTION, on_end_transaction, b);
    rm_dispatch_on(b->dispatch, RC_QUERY_TRANSACTION, on_query_transaction, b);
    rm_dispatch_on(b->dispatch, RC_RESOLVE_TRANSACTION, on_resolve_transaction, b);
}
