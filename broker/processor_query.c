/*
 * processor_query.c - looking messages up rather than consuming them:
 * VIEW_MESSAGE_BY_ID (33, by CommitLog offset decoded from an offset msg
 * id) and QUERY_MESSAGE (12, by key or unique id through the RocksDB index).
 *
 * Loop thread. Answers carry stored records as they are on disk (zero copy,
 * like pulls), so clients decode them with the same code as pulled messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_context.h"
#include "processors.h"
#include "store/store.h"
#include "util.h"

enum { QUERY_MAX = 64 }; /* RocketMQ's maxMsgsNumBatch */

typedef struct pin_box {
    store_pin pin;
} pin_box;

static void release_pin(void *arg)
{
    pin_box *box = arg;
    store_pin_release(&box->pin);
    free(box);
}

static void on_view(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__ViewMessageRequestHeader *h = req->hdr->view_message;
    pin_box *box = xmalloc(sizeof *box);
    store_pin_init(&box->pin);
    store_record_ref rec;
    int rc = store_read_record(b->store, h->offset, &rec, &box->pin);
    if (rc < 0) {
        release_pin(box);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "no message at commit log offset %lld: %s",
                        (long long)h->offset, store_strerror(rc));
        return;
    }
    Mq__RemotingHeader rh = MQ__REMOTING_HEADER__INIT;
    rh.code = RS_SUCCESS;
    struct iovec iov = {(void *)rec.data, rec.size};
    rm_reply_iov(c, req, &rh, &iov, 1, release_pin, box);
}

static void on_query(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    const Mq__QueryMessageRequestHeader *h = req->hdr->query_message;
    if (!h->topic || !*h->topic || !h->key || !*h->key) {
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "QUERY_MESSAGE needs topic and key");
        return;
    }
    int max = h->maxnum > 0 && h->maxnum < QUERY_MAX ? h->maxnum : QUERY_MAX;
    int64_t offsets[QUERY_MAX];
    int n;
    if (h->has__unique_key_query && h->_unique_key_query)
        n = store_query_by_uniq_key(b->store, h->topic, h->key, offsets, max);
    else
        n = store_query_by_key(b->store, h->topic, h->key, h->begintimestamp,
                               h->has_endtimestamp && h->endtimestamp > 0 ? h->endtimestamp : INT64_MAX,
                               offsets, max);
    if (n > max)
        n = max;
    pin_box *box = xmalloc(sizeof *box);
    store_pin_init(&box->pin);
    struct iovec iov[QUERY_MAX];
    int found = 0;
    for (int i = 0; i < n; i++) {
        store_record_ref rec;
        if (store_read_record(b->store, offsets[i], &rec, &box->pin) < 0)
            continue; /* removed by retention, or the pin is full: report what we have */
        iov[found].iov_base = (void *)rec.data;
        iov[found].iov_len = rec.size;
        found++;
    }
    if (found == 0) {
        release_pin(box);
        rm_reply_status(c, req, RS_QUERY_NOT_FOUND, "can not find message by key %s in topic %s, maybe time range not correct",
                        h->key, h->topic);
        return;
    }
    Mq__RemotingHeader rh = MQ__REMOTING_HEADER__INIT;
    Mq__QueryMessageResponseHeader r = MQ__QUERY_MESSAGE_RESPONSE_HEADER__INIT;
    rh.code = RS_SUCCESS;
    r.indexlastupdatetimestamp = now_ms();
    r.has_indexlastupdatetimestamp = 1;
    r.indexlastupdatephyoffset = store_dispatched_offset(b->store);
    r.has_indexlastupdatephyoffset = 1;
    rh.ext_case = MQ__REMOTING_HEADER__EXT_QUERY_MESSAGE_RESPONSE;
    rh.query_message_response = &r;
    rm_reply_iov(c, req, &rh, iov, found, release_pin, box);
}

void processor_query_register(broker *b)
{
    rm_dispatch_on(b->dispatch, RC_VIEW_MESSAGE_BY_ID, on_view, b);
    rm_dispatch_on(b->dispatch, RC_QUERY_MESSAGE, on_query, b);
}
