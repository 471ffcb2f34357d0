/*
 * consumer_push.c - a push consumer in a group (CLUSTERING): the group's
 * members share the queues; the listener runs on the consume threads.
 * Returning MQ_RECONSUME_LATER sends a message back for a later retry.
 *
 *   build/bin/example_consumer_push [NAMESRV]       (Ctrl-C stops it)
 */
#include <stdio.h>

#include "common.h"
#include "mq/consumer.h"

static mq_consume_status on_message(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *body = mq_message_ext_body(msgs[i], &len);
        printf("%s %s/%d@%lld tags=%s keys=%s body=%.*s\n", mq_message_ext_msg_id(msgs[i]),
               mq_message_ext_broker_name(msgs[i]), mq_message_ext_queue_id(msgs[i]),
               (long long)mq_message_ext_queue_offset(msgs[i]), mq_message_ext_tags(msgs[i]),
               mq_message_ext_keys(msgs[i]), (int)len, body);
    }
    return MQ_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.consume_from = MQ_CONSUME_FROM_FIRST_OFFSET; /* a new group reads what is stored */
    mq_error err = {0};
    mq_push_consumer *c = NULL;
    if (mq_push_consumer_new("example_consumer", example_namesrv(argc, argv), &o, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, "TopicTest", "TagA || TagB", &err) != MQ_OK) {
        fprintf(stderr, "%s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    mq_push_consumer_set_listener(c, on_message, NULL);
    if (mq_push_consumer_start(c, &err) != MQ_OK) {
        fprintf(stderr, "cannot start the consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    example_wait_for_ctrl_c();
    mq_push_consumer_destroy(c); /* commits offsets */
    return 0;
}
