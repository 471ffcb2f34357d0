/*
 * consumer_broadcast.c - BROADCASTING: every running copy of this program
 * receives every message; each keeps its offsets in a local file
 * (~/.mq_offsets/<instance>/<group>/offsets.json).
 *
 *   build/bin/example_consumer_broadcast [NAMESRV] [INSTANCE]   (Ctrl-C stops it)
 */
#include <stdio.h>

#include "common.h"
#include "mq/consumer.h"

static mq_consume_status on_message(const mq_message_ext *const *msgs, int n, void *arg)
{
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *body = mq_message_ext_body(msgs[i], &len);
        printf("[%s] %.*s\n", (const char *)arg, (int)len, body);
    }
    return MQ_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *instance = argc > 2 ? argv[2] : "example";
    mq_push_consumer_options o;
    mq_push_consumer_options_init(&o);
    o.message_model = MQ_BROADCASTING;
    o.instance_name = instance; /* names the local offsets file */
    mq_error err = {0};
    mq_push_consumer *c = NULL;
    if (mq_push_consumer_new("example_broadcast", example_namesrv(argc, argv), &o, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, "TopicTest", "*", &err) != MQ_OK) {
        fprintf(stderr, "%s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    mq_push_consumer_set_listener(c, on_message, (void *)instance);
    if (mq_push_consumer_start(c, &err) != MQ_OK) {
        fprintf(stderr, "cannot start the consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    example_wait_for_ctrl_c();
    mq_push_consumer_destroy(c);
    return 0;
}
