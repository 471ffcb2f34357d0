/*
 * producer_orderly.c - ordered sends: every step of one order carries the
 * order id as sharding key, so all of them land in one queue, in order
 * (consume them with example_consumer_orderly).
 *
 *   build/bin/example_producer_orderly [NAMESRV]
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
    static const char *steps[] = {"created", "paid", "shipped", "delivered"};
    int failed = 0;
    for (int order = 0; order < 5; order++) {
        char key[32];
        snprintf(key, sizeof key, "order-%d", order);
        for (int s = 0; s < 4; s++) {
            char body[64];
            snprintf(body, sizeof body, "%s %s", key, steps[s]);
            mq_message *m = mq_message_new("TopicTest");
            mq_message_set_keys(m, key, NULL);
            mq_message_set_body(m, body, strlen(body), NULL);
            mq_send_result r;
            if (mq_producer_send_orderly(p, m, key, &r, &err) == MQ_OK)
                printf("%-22s -> %s/%d\n", body, r.queue.broker_name, r.queue.queue_id);
            else
                fprintf(stderr, "%s: %s\n", body, err.message), failed++;
            mq_message_destroy(m);
        }
    }
    mq_producer_destroy(p);
    return failed ? 1 : 0;
}
