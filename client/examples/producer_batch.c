/*
 * producer_batch.c - send 32 messages of one topic in one request; the
 * broker stores them atomically, one after the other, in one queue.
 *
 *   build/bin/example_producer_batch [NAMESRV]
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
    enum { N = 32 };
    mq_message *msgs[N];
    for (int i = 0; i < N; i++) {
        char body[64];
        snprintf(body, sizeof body, "batch item %d", i);
        msgs[i] = mq_message_new("TopicTest");
        mq_message_set_body(msgs[i], body, strlen(body), NULL);
    }
    mq_send_result r;
    int rc = mq_producer_send_batch(p, (const mq_message *const *)msgs, N, &r, &err);
    if (rc == MQ_OK) {
        printf("%s: %d messages in %s/%d from offset %lld\nids: %s\n", mq_send_status_name(r.status), r.batch_count,
               r.queue.broker_name, r.queue.queue_id, (long long)r.queue_offset, r.batch_msg_ids);
        mq_send_result_destroy(&r);
    } else {
        fprintf(stderr, "batch failed: %s\n", err.message);
    }
    for (int i = 0; i < N; i++)
        mq_message_destroy(msgs[i]);
    mq_producer_destroy(p);
    return rc == MQ_OK ? 0 : 1;
}
