/*
 * app.c - a program written against the INSTALLED libmqclient only
 * (install_test.sh builds it with pkg-config and with find_package). It
 * uses the library for real: version, the log callback, a producer whose
 * send to a nameserver nobody listens on must fail with "refused".
 * Usage: app NAMESRV_ADDR (an address where nothing listens). Exit 0 = ok.
 */
#include <stdio.h>
#include <string.h>

#include <mq/mq.h>
#include <mq/producer.h>

static int warnings;

static void on_log(mq_log_level level, const char *line, void *arg)
{
    (void)arg;
    if (level >= MQ_LOG_WARN)
        warnings++;
    fprintf(stderr, "app log: %s\n", line);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: app NAMESRV_ADDR\n");
        return 2;
    }
    printf("libmqclient %s\n", mq_version());
    mq_log_set_callback(on_log, NULL);
    mq_error err = {0};
    mq_producer *p = NULL;
    if (mq_producer_new("install_test_app", argv[1], NULL, &p, &err) != MQ_OK ||
        mq_producer_start(p, &err) != MQ_OK) {
        fprintf(stderr, "app: producer: %s\n", err.message);
        return 1;
    }
    mq_message *m = mq_message_new("InstallTestTopic");
    mq_message_set_body(m, "hello", 5, NULL);
    int rc = mq_producer_send(p, m, NULL, &err);
    mq_message_destroy(m);
    mq_producer_destroy(p);
    printf("send: %s (%s); %d warning line(s) logged\n", mq_strerror(rc), err.message, warnings);
    return rc != MQ_OK && strstr(err.message, "refused") ? 0 : 1;
}
