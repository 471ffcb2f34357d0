/*
 * consumer_orderly.c - an orderly push consumer: each queue is locked on
 * the broker and consumed by one thread at a time, in order. Asking to
 * suspend retries the same message after a pause, holding the queue.
 *
 *   build/bin/example_consumer_orderly [NAMESRV]    (Ctrl-C stops it)
 */
#include <stdio.h>

#include "common.h"
#include "mq/consumer.h"

static mq_orderly_status on_messages(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *body = mq_message_ext_body(msgs[i], &len);
        printf("queue %d offset %lld: %.*s\n", mq_message_ext_queue_id(msgs[i]),
               (long long)mq_message_ext_queue_offset(msgs[i]), (int)len, body);
    }
    return MQ_ORDERLY_SUCCESS;
}

int main(int argc, char **argv)
{
    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET;
    mq_error err = {0};
    mq_push_consumer *c = NULL;
    if (mq_push_consumer_new("example_orderly_consumer", example_namesrv(argc, argv), &o, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, "TopicTest", "*", &err) != MQ_OK) {
        fprintf(stderr, "%s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    mq_push_consumer_set_orderly_listener(c, on_messages, NULL);
    if (mq_push_consumer_start(c, &err) != MQ_OK) {
        fprintf(stderr, "cannot start the consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    example_wait_for_ctrl_c();
    mq_push_consumer_destroy(c);
    return 0;
}
