/*
 * producer_sync.c - send ten messages and wait for each result.
 *
 *   build/bin/example_producer_sync [NAMESRV]        (default 127.0.0.1:9876)
 *
 * Needs a topic "TopicTest" (mqadmin updateTopic -n NAMESRV -c DefaultCluster
 * -t TopicTest) or a broker with autoCreateTopicEnable=true.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "mq/producer.h"

int main(int argc, char **argv)
{
    mq_error err = {0};
    mq_producer *p = NULL;
    if (mq_producer_new("example_producer", example_namesrv(argc, argv), NULL, &p, &err) != MQ_OK ||
        mq_producer_start(p, &err) != MQ_OK) {
        fprintf(stderr, "cannot start the producer: %s\n", err.message);
        mq_producer_destroy(p);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < 10; i++) {
        char body[64], keys[32];
        snprintf(body, sizeof body, "Hello mq %d", i);
        snprintf(keys, sizeof keys, "order-%d", i);
        mq_message *m = mq_message_new("TopicTest");
        mq_message_set_tags(m, "TagA", NULL);
        mq_message_set_keys(m, keys, NULL);
        mq_message_set_body(m, body, strlen(body), NULL);
        mq_send_result r;
        if (mq_producer_send(p, m, &r, &err) == MQ_OK)
            printf("%s msgId=%s queue=%s/%d offset=%lld\n", mq_send_status_name(r.status), r.msg_id,
                   r.queue.broker_name, r.queue.queue_id, (long long)r.queue_offset);
        else
            fprintf(stderr, "send %d failed: %s\n", i, err.message), failed++;
        mq_message_destroy(m);
    }
    mq_producer_destroy(p);
    return failed ? 1 : 0;
}
