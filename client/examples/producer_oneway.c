/*
 * producer_oneway.c - fire-and-forget: no result, no retry (logs, metrics).
 *
 *   build/bin/example_producer_oneway [NAMESRV]
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
    mq_message *m = mq_message_new("TopicTest");
    mq_message_set_tags(m, "Log", NULL);
    for (int i = 0; i < 100; i++) {
        char body[64];
        snprintf(body, sizeof body, "log line %d", i);
        mq_message_set_body(m, body, strlen(body), NULL);
        if (mq_producer_send_oneway(p, m, &err) != MQ_OK)
            fprintf(stderr, "not accepted: %s\n", err.message);
    }
    mq_message_destroy(m);
    printf("oneway sends that could not be written: %llu\n",
           (unsigned long long)mq_producer_oneway_failures(p));
    mq_producer_destroy(p);
    return 0;
}
