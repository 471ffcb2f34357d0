/*
 * transaction_inventory.c - the inventory service of the order example
 * (transaction_order_service.c): a push consumer that reserves stock for
 * every order the order service committed. It never sees an order that was
 * rolled back, nor one whose transaction is still open: those messages are
 * half messages on the broker, invisible to consumers.
 *
 * Delivery is at least once (a crash before the offset commit redelivers),
 * so the reservation is idempotent: an order already reserved is skipped
 * (here in memory; a real service keeps this in its own database).
 *
 *   build/bin/example_transaction_inventory [NAMESRV] [TOPIC]   (Ctrl-C stops it)
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "mq/consumer.h"

#define MAX_ORDERS 65536

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *reserved[MAX_ORDERS];
static int n_reserved;

/* True if order_id was not reserved before (and remembers it). */
static int reserve_once(const char *order_id)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_reserved; i++)
        if (!strcmp(reserved[i], order_id)) {
            pthread_mutex_unlock(&lock);
            return 0;
        }
    if (n_reserved < MAX_ORDERS)
        reserved[n_reserved++] = strdup(order_id);
    pthread_mutex_unlock(&lock);
    return 1;
}

static mq_consume_status on_orders(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        const char *order_id = mq_message_ext_keys(msgs[i]);
        size_t len;
        const char *body = mq_message_ext_body(msgs[i], &len);
        if (reserve_once(order_id))
            printf("inventory: reserve stock for order %s: %.*s\n", order_id, (int)len, body);
        else
            printf("inventory: order %s already reserved (redelivery), skipped\n", order_id);
        fflush(stdout);
    }
    return MQ_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *topic = argc > 2 ? argv[2] : "OrderTopic";
    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET; /* a new group reads every stored order */
    mq_error err = {0};
    mq_push_consumer *c = NULL;
    if (mq_push_consumer_new("inventory_service", example_namesrv(argc, argv), &o, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, topic, "OrderCreated", &err) != MQ_OK) {
        fprintf(stderr, "%s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    mq_push_consumer_set_listener(c, on_orders, NULL);
    if (mq_push_consumer_start(c, &err) != MQ_OK) {
        fprintf(stderr, "cannot start the inventory consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    printf("inventory service: consuming %s as group inventory_service; Ctrl-C stops\n", topic);
    fflush(stdout);
    example_wait_for_ctrl_c();
    mq_push_consumer_destroy(c);
    for (int i = 0; i < n_reserved; i++)
        free(reserved[i]);
    return 0;
}
