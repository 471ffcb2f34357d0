/*
 * order_timeout.c - the order-timeout pattern with scheduled delivery:
 * when an order is created, schedule a "cancel check" message 30 minutes
 * later (mq_message_set_delay_ms); when the check arrives, cancel the order
 * unless it was paid meanwhile. Nothing polls a table, nothing keeps a timer
 * in the application: the broker holds the check until it is due, across
 * broker restarts.
 *
 * Time is compressed so it can be watched: one simulated minute lasts
 * --minute-ms real milliseconds (100: the 30-minute timeout takes 3 s).
 * Orders are created at random moments; about half are paid before their
 * timeout, some after it (too late: already cancelled).
 *
 *   build/bin/example_order_timeout [NAMESRV] [--orders N] [--minute-ms MS]
 *
 * Each line shows the simulated clock ("t+12.3m") and what happened. The
 * program ends when every check has arrived and prints a summary; a check
 * that arrived before its order's 30 minutes would be reported as EARLY.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "mq/consumer.h"
#include "mq/producer.h"

#define TOPIC "OrderTimeoutCheck"
#define TIMEOUT_MINUTES 30

typedef enum { ORDER_PENDING, ORDER_PAID, ORDER_CANCELLED } order_state;

typedef struct order {
    order_state state;
    int64_t created_ms;
} order;

static order *g_orders;
static int g_n = 20;
static int64_t g_minute_ms = 100;
static int64_t g_t0;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_checks, g_cancelled, g_skipped, g_early;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static double sim_minutes(void) { return (double)(now_ms() - g_t0) / (double)g_minute_ms; }

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The cancel check: runs on a consume thread when the broker delivers it. */
static mq_consume_status on_check(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        const char *id = mq_message_ext_keys(msgs[i]);
        int k = atoi(id);
        if (k < 0 || k >= g_n)
            continue;
        pthread_mutex_lock(&g_lock);
        order *o = &g_orders[k];
        int64_t age = now_ms() - o->created_ms;
        if (age < TIMEOUT_MINUTES * g_minute_ms) {
            atomic_fetch_add(&g_early, 1);
            printf("t+%5.1fm  order %-3d EARLY check after %.1f minutes\n", sim_minutes(), k,
                   (double)age / (double)g_minute_ms);
        } else if (o->state == ORDER_PAID) {
            atomic_fetch_add(&g_skipped, 1);
            printf("t+%5.1fm  order %-3d check: paid, nothing to do\n", sim_minutes(), k);
        } else {
            o->state = ORDER_CANCELLED;
            atomic_fetch_add(&g_cancelled, 1);
            printf("t+%5.1fm  order %-3d check: unpaid after %d minutes -> CANCELLED\n", sim_minutes(), k,
                   TIMEOUT_MINUTES);
        }
        pthread_mutex_unlock(&g_lock);
        atomic_fetch_add(&g_checks, 1);
    }
    fflush(stdout);
    return MQ_CONSUME_SUCCESS;
}

/* Customers whose payment moment has come pay (orders[0..n)). */
static void pay_due(double *pay_at, int n)
{
    pthread_mutex_lock(&g_lock);
    for (int j = 0; j < n; j++)
        if (pay_at[j] >= 0 && sim_minutes() >= pay_at[j]) {
            if (g_orders[j].state == ORDER_PENDING) {
                g_orders[j].state = ORDER_PAID;
                printf("t+%5.1fm  order %-3d paid\n", sim_minutes(), j);
            } else if (g_orders[j].state == ORDER_CANCELLED) {
                printf("t+%5.1fm  order %-3d payment refused: the order was cancelled\n", sim_minutes(), j);
            }
            pay_at[j] = -1;
        }
    pthread_mutex_unlock(&g_lock);
}

int main(int argc, char **argv)
{
    const char *ns = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--orders") && i + 1 < argc)
            g_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--minute-ms") && i + 1 < argc)
            g_minute_ms = atoll(argv[++i]);
        else if (argv[i][0] != '-')
            ns = argv[i];
        else {
            fprintf(stderr, "usage: %s [NAMESRV] [--orders N] [--minute-ms MS]\n", argv[0]);
            return 2;
        }
    }
    if (g_n < 1 || g_n > 100000 || g_minute_ms < 1) {
        fprintf(stderr, "--orders 1..100000, --minute-ms >= 1\n");
        return 2;
    }
    if (!ns)
        ns = example_namesrv(1, argv);
    g_orders = calloc((size_t)g_n, sizeof *g_orders);
    srand((unsigned)now_ms());

    mq_error err = {0};
    mq_push_consumer_options co;
    mq_push_consumer_options_init(&co);
    co.consume_from = MQ_CONSUME_FROM_TIMESTAMP; /* only checks scheduled from now on */
    co.consume_timestamp_ms = now_ms();
    co.poll_name_server_interval_ms = 1000;       /* the topic appears with the first order */
    co.rebalance_interval_ms = 1000;
    mq_push_consumer *c = NULL;
    mq_producer *p = NULL;
    if (mq_push_consumer_new("example_order_timeout", ns, &co, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, TOPIC, "*", &err) != MQ_OK) {
        fprintf(stderr, "consumer: %s\n", err.message);
        return 1;
    }
    mq_push_consumer_set_listener(c, on_check, NULL);
    if (mq_push_consumer_start(c, &err) != MQ_OK || mq_producer_new("example_order_producer", ns, NULL, &p, &err) != MQ_OK ||
        mq_producer_start(p, &err) != MQ_OK) {
        fprintf(stderr, "start: %s\n", err.message);
        mq_push_consumer_destroy(c);
        mq_producer_destroy(p);
        return 1;
    }
    signal(SIGINT, example_on_signal);
    signal(SIGTERM, example_on_signal);
    printf("%d orders, each cancelled if unpaid %d minutes after creation (1 minute = %lld ms)\n", g_n,
           TIMEOUT_MINUTES, (long long)g_minute_ms);
    g_t0 = now_ms();
    /* pay_at[k]: simulated minute the customer pays (or -1: never) */
    double *pay_at = calloc((size_t)g_n, sizeof *pay_at);
    int sent = 0;
    for (int k = 0; k < g_n && !example_stop; k++) {
        sleep_ms(g_minute_ms * (rand() % 3)); /* orders come in over time */
        pthread_mutex_lock(&g_lock);
        g_orders[k].state = ORDER_PENDING;
        g_orders[k].created_ms = now_ms();
        pthread_mutex_unlock(&g_lock);
        int r = rand() % 10;
        pay_at[k] = r < 5 ? sim_minutes() + 1 + rand() % 25 : r < 7 ? sim_minutes() + 35 + rand() % 10 : -1;
        char key[16], body[64];
        snprintf(key, sizeof key, "%d", k);
        snprintf(body, sizeof body, "cancel-check order=%d", k);
        mq_message *m = mq_message_new(TOPIC);
        mq_message_set_body(m, body, strlen(body), NULL);
        mq_message_set_keys(m, key, NULL);
        mq_message_set_delay_ms(m, TIMEOUT_MINUTES * g_minute_ms, NULL); /* "in 30 minutes" */
        mq_send_result res;
        if (mq_producer_send(p, m, &res, &err) != MQ_OK) {
            fprintf(stderr, "order %d: cannot schedule its check: %s\n", k, err.message);
        } else {
            sent++;
            printf("t+%5.1fm  order %-3d created; cancel check scheduled for t+%.1fm\n", sim_minutes(), k,
                   sim_minutes() + TIMEOUT_MINUTES);
        }
        mq_message_destroy(m);
        /* customers who pay now */
        pay_due(pay_at, k + 1);
    }
    /* late payers keep trying while the checks come in */
    int64_t give_up = now_ms() + (TIMEOUT_MINUTES + 20) * g_minute_ms + 30000;
    while (atomic_load(&g_checks) < sent && !example_stop && now_ms() < give_up) {
        pay_due(pay_at, g_n);
        fflush(stdout);
        sleep_ms(g_minute_ms / 2 + 1);
    }
    printf("summary: %d orders, %d checks arrived, %d cancelled, %d paid in time (check skipped), %d early\n", g_n,
           atomic_load(&g_checks), atomic_load(&g_cancelled), atomic_load(&g_skipped), atomic_load(&g_early));
    mq_producer_destroy(p);
    mq_push_consumer_destroy(c);
    free(pay_at);
    free(g_orders);
    return atomic_load(&g_checks) == sent && atomic_load(&g_early) == 0 ? 0 : 1;
}
