/*
 * transaction_order_service.c - an order service that announces each new
 * order to the rest of the shop with a transactional message, so that its
 * order table and the message can never disagree.
 *
 * For each order: the producer stores an "OrderCreated" half message
 * (invisible to consumers), then runs the local transaction - checking
 * stock and writing the order row into a local RocksDB table with a synced
 * write - and commits the message only if the row was written. If this
 * process dies in between, the broker later asks any live member of the
 * producer group (check-back); the check callback looks the order row up:
 * found -> COMMIT, not found -> ROLLBACK. The inventory service
 * (transaction_inventory.c) receives exactly the orders that exist.
 *
 *   build/bin/example_transaction_order_service [NAMESRV] [options]
 *     --db DIR            order table (./order_db)
 *     --orders N          orders to place (5); 0 = place none
 *     --prefix P          order ids are P-1, P-2, ... (the process id)
 *     --topic T           (OrderTopic)
 *     --out-of-stock K    every K-th order fails the stock check: no row,
 *                         ROLLBACK (5; 0 = never)
 *     --unknown I         order I: write the row but answer UNKNOWN, as a
 *                         service does that cannot tell whether its commit
 *                         went through; the check-back finds the row
 *     --stall-after-row I order I: write the row, then hang inside the
 *                         transaction (kill the process: another member
 *                         commits it on check-back)
 *     --stall-before-row I  order I: hang before writing the row (kill it:
 *                         the check-back rolls it back)
 *     --stay              keep answering check-backs until Ctrl-C (always
 *                         with --orders 0)
 *
 * See docs/CLIENT.md ("Transactions") for a walk-through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "common.h"
#include "mq/transaction.h"

#define GROUP "order_service"

typedef struct order {
    char id[64];
    int number; /* 1-based position in this run */
    const char *item;
    int quantity;
} order;

typedef struct service {
    rocksdb_t *db;
    rocksdb_writeoptions_t *sync_write;
    rocksdb_readoptions_t *read;
    int out_of_stock_every;
    int unknown_at, stall_after_row_at, stall_before_row_at;
} service;

static void row_key(const char *order_id, char *key, size_t cap) { snprintf(key, cap, "order/%s", order_id); }

static void hang_until_killed(const char *order_id, const char *what)
{
    printf("order %s: %s; the transaction stays open until this process is killed\n", order_id, what);
    fflush(stdout);
    for (;;)
        pause();
}

/* The local transaction: runs on the sending thread after the half message
 * is stored. Only a durable order row may lead to COMMIT. */
static mq_transaction_state execute(const mq_message *msg, const char *txid, void *send_arg, void *arg)
{
    (void)msg;
    service *s = arg;
    const order *o = send_arg;
    if (o->number == s->stall_before_row_at)
        hang_until_killed(o->id, "half message stored, order row NOT written");
    if (s->out_of_stock_every > 0 && o->number % s->out_of_stock_every == 0) {
        printf("order %s: %s out of stock, no order row -> ROLLBACK\n", o->id, o->item);
        return MQ_TRANSACTION_ROLLBACK;
    }
    char key[96], row[256];
    row_key(o->id, key, sizeof key);
    int n = snprintf(row, sizeof row, "{\"order\":\"%s\",\"item\":\"%s\",\"qty\":%d,\"tx\":\"%s\"}", o->id, o->item,
                     o->quantity, txid);
    char *err = NULL;
    rocksdb_put(s->db, s->sync_write, key, strlen(key), row, (size_t)n, &err);
    if (err) {
        printf("order %s: cannot write the order row (%s) -> ROLLBACK\n", o->id, err);
        rocksdb_free(err);
        return MQ_TRANSACTION_ROLLBACK;
    }
    if (o->number == s->stall_after_row_at)
        hang_until_killed(o->id, "half message stored, order row written");
    if (o->number == s->unknown_at) {
        printf("order %s: row written, but we answer UNKNOWN -> the broker will check back\n", o->id);
        return MQ_TRANSACTION_UNKNOWN;
    }
    printf("order %s: row written -> COMMIT\n", o->id);
    return MQ_TRANSACTION_COMMIT;
}

/* The check-back: runs on a check thread of whichever member the broker
 * asked. The order id is the message's key; the row decides. */
static mq_transaction_state check(const mq_message_ext *msg, void *arg)
{
    service *s = arg;
    const char *order_id = mq_message_ext_keys(msg);
    char key[96];
    row_key(order_id, key, sizeof key);
    size_t len = 0;
    char *err = NULL;
    char *row = rocksdb_get(s->db, s->read, key, strlen(key), &len, &err);
    mq_transaction_state st;
    if (err) {
        printf("check order %s (tx %s): database error %s -> UNKNOWN (asked again later)\n", order_id,
               mq_message_ext_msg_id(msg), err);
        rocksdb_free(err);
        st = MQ_TRANSACTION_UNKNOWN;
    } else {
        st = row ? MQ_TRANSACTION_COMMIT : MQ_TRANSACTION_ROLLBACK;
        printf("check order %s (tx %s): row %s -> %s\n", order_id, mq_message_ext_msg_id(msg),
               row ? "found" : "not found", mq_transaction_state_name(st));
    }
    fflush(stdout);
    rocksdb_free(row);
    return st;
}

static int int_arg(const char *v) { return v ? atoi(v) : 0; }

int main(int argc, char **argv)
{
    const char *namesrv = NULL, *db_path = "./order_db", *topic = "OrderTopic";
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%d", (int)getpid());
    int orders = 5;
    bool stay = false;
    service s = {0};
    s.out_of_stock_every = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--db") && v) db_path = argv[++i];
        else if (!strcmp(a, "--orders") && v) orders = int_arg(argv[++i]);
        else if (!strcmp(a, "--prefix") && v) snprintf(prefix, sizeof prefix, "%s", argv[++i]);
        else if (!strcmp(a, "--topic") && v) topic = argv[++i];
        else if (!strcmp(a, "--out-of-stock") && v) s.out_of_stock_every = int_arg(argv[++i]);
        else if (!strcmp(a, "--unknown") && v) s.unknown_at = int_arg(argv[++i]);
        else if (!strcmp(a, "--stall-after-row") && v) s.stall_after_row_at = int_arg(argv[++i]);
        else if (!strcmp(a, "--stall-before-row") && v) s.stall_before_row_at = int_arg(argv[++i]);
        else if (!strcmp(a, "--stay")) stay = true;
        else if (a[0] != '-' && !namesrv) namesrv = a;
        else {
            fprintf(stderr, "unknown or incomplete option %s (see the comment at the top of %s)\n", a, __FILE__);
            return 2;
        }
    }
    if (!namesrv) {
        char *fake[] = {argv[0]};
        namesrv = example_namesrv(1, fake);
    }

    /* The order table. */
    rocksdb_options_t *dbo = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(dbo, 1);
    char *err = NULL;
    s.db = rocksdb_open(dbo, db_path, &err);
    if (err) {
        fprintf(stderr, "cannot open the order table %s: %s\n", db_path, err);
        rocksdb_free(err);
        rocksdb_options_destroy(dbo);
        return 1;
    }
    s.sync_write = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s.sync_write, 1); /* the row is on disk before COMMIT */
    s.read = rocksdb_readoptions_create();

    mq_transaction_producer_options o;
    mq_transaction_producer_options_init(&o);
    mq_transaction_listener l = {execute, check, &s};
    mq_transaction_producer *tp = NULL;
    mq_error e = {0};
    int rc = 0;
    if (mq_transaction_producer_new(GROUP, namesrv, &o, &l, &tp, &e) != MQ_OK ||
        mq_transaction_producer_start(tp, &e) != MQ_OK ||
        /* Be known to the brokers of the topic even before the first order,
         * so that they can ask us about orders of other members. */
        mq_transaction_producer_announce(tp, topic, &e) != MQ_OK) {
        fprintf(stderr, "%s\n", e.message);
        rc = 1;
        goto out;
    }
    printf("order service: group %s, topic %s, order table %s\n", GROUP, topic, db_path);
    fflush(stdout);

    static const char *const items[] = {"keyboard", "monitor", "mouse", "laptop", "headset"};
    for (int i = 1; i <= orders && !example_stop; i++) {
        order ord = {.number = i, .item = items[(i - 1) % 5], .quantity = 1 + i % 3};
        snprintf(ord.id, sizeof ord.id, "%s-%d", prefix, i);
        char body[256];
        int n = snprintf(body, sizeof body, "{\"event\":\"OrderCreated\",\"order\":\"%s\",\"item\":\"%s\",\"qty\":%d}",
                         ord.id, ord.item, ord.quantity);
        mq_message *m = mq_message_new(topic);
        mq_message_set_tags(m, "OrderCreated", NULL);
        mq_message_set_keys(m, ord.id, NULL);
        mq_message_set_body(m, body, (size_t)n, NULL);
        mq_transaction_send_result r;
        if (mq_transaction_producer_send(tp, m, &ord, &r, &e) != MQ_OK) {
            fprintf(stderr, "order %s: the half message was not stored: %s\n", ord.id, e.message);
            rc = 1;
        } else {
            printf("order %s: message %s %s%s\n", ord.id, r.send.msg_id, mq_transaction_state_name(r.state),
                   r.end_rc == MQ_OK ? "" : " (report lost: the broker will check back)");
        }
        fflush(stdout);
        mq_message_destroy(m);
    }
    if (orders == 0 || stay) {
        printf("answering check-backs for group %s; Ctrl-C stops\n", GROUP);
        fflush(stdout);
        example_wait_for_ctrl_c();
    }
out:
    mq_transaction_producer_destroy(tp);
    rocksdb_readoptions_destroy(s.read);
    rocksdb_writeoptions_destroy(s.sync_write);
    rocksdb_close(s.db);
    rocksdb_options_destroy(dbo);
    return rc;
}
