/*
 * producer_async.c - send 1000 messages without waiting; results arrive in
 * a callback on the client's I/O thread (keep it short, never block there).
 *
 *   build/bin/example_producer_async [NAMESRV]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "mq/producer.h"

static atomic_int ok, failed;

static void on_sent(int rc, const mq_send_result *r, const mq_error *err, void *arg)
{
    (void)r;
    (void)arg;
    if (rc == MQ_OK)
        atomic_fetch_add(&ok, 1);
    else if (atomic_fetch_add(&failed, 1) == 0)
        fprintf(stderr, "first failure: %s\n", err->message);
}

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
    for (int i = 0; i < 1000; i++) {
        char body[64];
        snprintf(body, sizeof body, "async %d", i);
        mq_message_set_body(m, body, strlen(body), NULL); /* the send copies it: reuse is fine */
        if (mq_producer_send_async(p, m, on_sent, NULL, &err) != MQ_OK)
            fprintf(stderr, "send %d not accepted: %s\n", i, err.message), atomic_fetch_add(&failed, 1);
    }
    mq_message_destroy(m);
    mq_producer_destroy(p); /* waits for the callbacks of sends in flight */
    printf("sent %d, failed %d\n", atomic_load(&ok), atomic_load(&failed));
    return atomic_load(&failed) ? 1 : 0;
}
