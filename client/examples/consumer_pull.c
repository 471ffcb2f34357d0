/*
 * consumer_pull.c - the application drives: for every queue of the topic,
 * start at the group's committed offset (or the queue's first message),
 * pull until nothing new, then commit where it stopped.
 *
 *   build/bin/example_consumer_pull [NAMESRV]
 */
#include <stdio.h>

#include "common.h"
#include "mq/consumer.h"

int main(int argc, char **argv)
{
    mq_error err = {0};
    mq_pull_consumer *c = NULL;
    if (mq_pull_consumer_new("example_pull_consumer", example_namesrv(argc, argv), NULL, &c, &err) != MQ_OK ||
        mq_pull_consumer_start(c, &err) != MQ_OK) {
        fprintf(stderr, "cannot start the pull consumer: %s\n", err.message);
        mq_pull_consumer_destroy(c);
        return 1;
    }
    mq_message_queue *qs = NULL;
    int n = 0;
    if (mq_pull_consumer_fetch_queues(c, "TopicTest", &qs, &n, &err) != MQ_OK) {
        fprintf(stderr, "%s\n", err.message);
        mq_pull_consumer_destroy(c);
        return 1;
    }
    long total = 0;
    for (int i = 0; i < n; i++) {
        int64_t offset;
        if (mq_pull_consumer_query_offset(c, &qs[i], &offset, &err) != MQ_OK &&
            mq_pull_consumer_min_offset(c, &qs[i], &offset, &err) != MQ_OK) {
            fprintf(stderr, "%s/%d: %s\n", qs[i].broker_name, qs[i].queue_id, err.message);
            continue;
        }
        for (;;) {
            mq_pull_result r;
            if (mq_pull_consumer_pull(c, &qs[i], "*", offset, 32, 0, &r, &err) != MQ_OK) {
                fprintf(stderr, "%s/%d: %s\n", qs[i].broker_name, qs[i].queue_id, err.message);
                break;
            }
            for (int k = 0; k < r.n; k++) {
                size_t len;
                const char *body = mq_message_ext_body(r.msgs[k], &len);
                printf("%s/%d@%lld %.*s\n", qs[i].broker_name, qs[i].queue_id,
                       (long long)mq_message_ext_queue_offset(r.msgs[k]), (int)len, body);
            }
            total += r.n;
            mq_pull_status st = r.status;
            offset = r.next_begin_offset;
            mq_pull_result_destroy(&r);
            if (st == MQ_PULL_NO_NEW_MSG)
                break;
        }
        mq_pull_consumer_commit_offset(c, &qs[i], offset, &err);
    }
    printf("%ld messages from %d queues\n", total, n);
    mq_free(qs);
    mq_pull_consumer_destroy(c);
    return 0;
}
