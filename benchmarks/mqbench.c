/*
 * mqbench.c - the load generator: `mqbench producer|consumer|e2e [flags]`,
 * built on the public client API.
 *
 *   producer  -w threads send as fast as allowed (or at --rate in total)
 *             with --mode sync | async | oneway | batch; latency = send call
 *             to result (async: to its callback; oneway: the call itself;
 *             batch: per batch).
 *   consumer  a push consumer of group -g (--from first|last; it says
 *             where it starts); "age" instead of latency: the send time
 *             mqbench wrote into the body, else the born timestamp, to the
 *             listener, so a backlog shows as its age, not as slowness.
 *   e2e       a consumer (fresh group) and -w producer threads sending at
 *             --rate messages/s in total, each body carrying its send time;
 *             latency = send to receive. Sends are sync by default (one at
 *             a time per thread: RocketMQ's default send, and what the Redis
 *             peer's e2e does); --mode async or oneway to compare.
 *             --consumer push (default): the push consumer, whose I/O thread
 *             hands each message to a consume thread. --consumer pull: the
 *             pull consumer, a thread per queue in a long poll that reads
 *             its answer itself, as the Redis peer's consumer is a thread
 *             blocked in XREAD (see benchmarks/README.md, W4).
 *   delay     scheduled delivery: random delay levels and exact times,
 *             lateness = receive - due time (mqbench_delay.c).
 *   tx        transactional sends with outcomes at --rollback-ratio and
 *             --unknown-ratio, consumed and verified (mqbench_tx.c).
 *
 * Every second one line: messages/s, MB/s, latency p50/p99/max of that
 * second, errors; at the end a summary of the whole run and, with --json,
 * a last line that is one JSON object (msgs, seconds, msgs_per_sec,
 * mb_per_sec, p50_ms, p99_ms, p999_ms, max_ms, errors). Latencies come from
 * a log-linear histogram of every message (histogram.h), not samples.
 * A mode is one row of `modes`, a send kind one row of `send_kinds`: the
 * transaction and delay modes of a later issue are rows too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "histogram.h"
#include "log.h"
#include "mqbench_delay.h"
#include "mqbench_tx.h"
#include "mq/consumer.h"
#include "mq/producer.h"
#include "process.h"

#define STAMP_MAGIC "MQB1"
#define STAMP_LEN 12 /* magic + 8-byte wall-clock microseconds */

typedef struct bench_opts {
    const char *namesrv;
    const char *topic;
    const char *group;
    const char *send_mode;
    const char *from;
    int size;
    int threads;
    int batch;
    double rate;     /* msgs/s in total, 0 = unlimited */
    double duration; /* seconds, 0 = until --count or a signal */
    int64_t count;   /* 0 = unlimited */
    bool json;
    double rollback_ratio, unknown_ratio, wait; /* tx (mqbench_tx.c) */
    const char *consumer; /* e2e: "push" (NULL) or "pull" */
} bench_opts;

static bench_opts g_o;
static hist g_hist;
static atomic_uint_fast64_t g_msgs, g_bytes, g_errors, g_sent;
static atomic_int_fast64_t g_remaining;
static atomic_bool g_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, true);
}

int64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t mono_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void record(uint64_t n, uint64_t bytes, int64_t latency_us)
{
    atomic_fetch_add_explicit(&g_msgs, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_bytes, bytes, memory_order_relaxed);
    hist_record(&g_hist, latency_us > 0 ? (uint64_t)latency_us : 0);
}

static void count_error(const mq_error *err)
{
    uint64_t n = atomic_fetch_add(&g_errors, 1) + 1;
    if (n == 1 || n % 1000 == 0)
        fprintf(stderr, "mqbench: error (%llu so far): %s\n", (unsigned long long)n, err ? err->message : "?");
}

/* Claims n messages of --count; false once the run is over. */
static bool claim(int64_t n)
{
    if (atomic_load(&g_stop))
        return false;
    return g_o.count <= 0 || atomic_fetch_sub(&g_remaining, n) > 0;
}

/* Absolute schedule: the k-th send of a thread is due at start + k * interval. */
typedef struct pacer {
    double interval_us;
    int64_t start_us;
    uint64_t k;
} pacer;

static void pace(pacer *p)
{
    if (p->interval_us <= 0)
        return;
    int64_t due = p->start_us + (int64_t)(p->interval_us * (double)p->k++);
    if (due > mono_now_us()) {
        struct timespec ts = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

/* ---- send kinds ---- */

typedef struct sender {
    mq_producer *p;
    mq_message *msg;
    mq_message **batch; /* --mode batch */
    char *body;
    bool e2e;           /* latency measured by the consumer */
} sender;

static void stamp(sender *s)
{
    int64_t t = wall_us();
    memcpy(s->body, STAMP_MAGIC, 4);
    memcpy(s->body + 4, &t, 8);
}

static int send_sync(sender *s)
{
    mq_error err = {0};
    int64_t t0 = mono_now_us();
    if (mq_producer_send(s->p, s->msg, NULL, &err) != MQ_OK) {
        count_error(&err);
        return 1;
    }
    atomic_fetch_add_explicit(&g_sent, 1, memory_order_relaxed);
    if (!s->e2e)
        record(1, (uint64_t)g_o.size, mono_now_us() - t0);
    return 1;
}

static void on_async_measured(int rc, const mq_send_result *r, const mq_error *err, void *arg)
{
    (void)r;
    if (rc != MQ_OK) {
        count_error(err);
        return;
    }
    atomic_fetch_add_explicit(&g_sent, 1, memory_order_relaxed);
    record(1, (uint64_t)g_o.size, mono_now_us() - (int64_t)(intptr_t)arg);
}

static void on_async_counted(int rc, const mq_send_result *r, const mq_error *err, void *arg)
{
    (void)r;
    (void)arg;
    if (rc != MQ_OK)
        count_error(err);
    else
        atomic_fetch_add_explicit(&g_sent, 1, memory_order_relaxed);
}

static int send_async(sender *s)
{
    mq_error err = {0};
    int rc = s->e2e ? mq_producer_send_async(s->p, s->msg, on_async_counted, NULL, &err)
                    : mq_producer_send_async(s->p, s->msg, on_async_measured, (void *)(intptr_t)mono_now_us(), &err);
    if (rc != MQ_OK)
        count_error(&err);
    return 1;
}

static int send_oneway(sender *s)
{
    mq_error err = {0};
    int64_t t0 = mono_now_us();
    if (mq_producer_send_oneway(s->p, s->msg, &err) != MQ_OK) {
        count_error(&err);
        return 1;
    }
    atomic_fetch_add_explicit(&g_sent, 1, memory_order_relaxed);
    if (!s->e2e)
        record(1, (uint64_t)g_o.size, mono_now_us() - t0);
    return 1;
}

static int send_batch(sender *s)
{
    mq_error err = {0};
    mq_send_result r;
    int64_t t0 = mono_now_us();
    if (mq_producer_send_batch(s->p, (const mq_message *const *)s->batch, (size_t)g_o.batch, &r, &err) != MQ_OK) {
        count_error(&err);
        return g_o.batch;
    }
    mq_send_result_destroy(&r);
    atomic_fetch_add_explicit(&g_sent, (uint64_t)g_o.batch, memory_order_relaxed);
    record((uint64_t)g_o.batch, (uint64_t)g_o.size * (uint64_t)g_o.batch, mono_now_us() - t0);
    return g_o.batch;
}

typedef struct send_kind {
    const char *name;
    int (*send)(sender *s); /* returns the messages it sent (or tried) */
} send_kind;

static const send_kind send_kinds[] = {
    {"sync", send_sync},
    {"async", send_async},
    {"oneway", send_oneway},
    {"batch", send_batch},
};

static const send_kind *g_kind;

static void *sender_main(void *arg)
{
    sender *s = arg;
    pacer pc = {g_o.rate > 0 ? 1e6 * g_o.threads / g_o.rate : 0, mono_now_us(), 0};
    int per_call = g_kind->send == send_batch ? g_o.batch : 1;
    while (claim(per_call)) {
        pace(&pc);
        if (s->e2e)
            stamp(s);
        g_kind->send(s);
    }
    return NULL;
}

static int start_producer(mq_producer **out)
{
    mq_producer_options po;
    mq_producer_options_init(&po);
    mq_error err = {0};
    if (mq_producer_new("mqbench_producer", g_o.namesrv, &po, out, &err) != MQ_OK ||
        mq_producer_start(*out, &err) != MQ_OK) {
        fprintf(stderr, "mqbench: producer: %s\n", err.message);
        return 1;
    }
    return 0;
}

/* Runs -w sender threads until the run ends; joins them. */
static int run_senders(mq_producer *p, bool e2e, pthread_t **threads_out, sender **senders_out)
{
    int n = g_o.threads;
    sender *ss = calloc((size_t)n, sizeof *ss);
    pthread_t *ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        sender *s = &ss[i];
        s->p = p;
        s->e2e = e2e;
        s->body = malloc((size_t)g_o.size);
        for (int k = 0; k < g_o.size; k++)
            s->body[k] = (char)('a' + (k + i) % 26);
        int nb = g_kind->send == send_batch ? g_o.batch : 1;
        s->batch = calloc((size_t)nb, sizeof *s->batch);
        for (int k = 0; k < nb; k++) {
            s->batch[k] = mq_message_new(g_o.topic);
            mq_message_set_body_ref(s->batch[k], s->body, (size_t)g_o.size, NULL);
        }
        s->msg = s->batch[0];
        pthread_create(&ts[i], NULL, sender_main, s);
    }
    *threads_out = ts;
    *senders_out = ss;
    return 0;
}

static void join_senders(pthread_t *ts, sender *ss)
{
    int nb = g_kind->send == send_batch ? g_o.batch : 1;
    for (int i = 0; i < g_o.threads; i++) {
        pthread_join(ts[i], NULL);
    }
    for (int i = 0; i < g_o.threads; i++) {
        for (int k = 0; k < nb; k++)
            mq_message_destroy(ss[i].batch[k]);
        free(ss[i].batch);
        free(ss[i].body);
    }
    free(ts);
    free(ss);
}

/* ---- consumer side ---- */

#define WARMUP_BODY "mqbench warm-up probe"
static atomic_bool g_warm_seen; /* e2e: the consumer received a probe */

static mq_consume_status on_consume(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    int64_t now = wall_us();
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *b = mq_message_ext_body(msgs[i], &len);
        if (len == sizeof WARMUP_BODY - 1 && !memcmp(b, WARMUP_BODY, len)) {
            atomic_store(&g_warm_seen, true); /* not measured */
            continue;
        }
        int64_t sent;
        if (len >= STAMP_LEN && !memcmp(b, STAMP_MAGIC, 4))
            memcpy(&sent, b + 4, 8);
        else
            sent = mq_message_ext_born_timestamp(msgs[i]) * 1000;
        record(1, len, now - sent);
        if (g_o.count > 0 && atomic_fetch_sub(&g_remaining, 1) <= 1)
            atomic_store(&g_stop, true);
    }
    return MQ_CONSUME_SUCCESS;
}

static int start_consumer(const char *group, mq_consume_from from, int64_t from_ts, mq_push_consumer **out)
{
    mq_push_consumer_options co;
    mq_push_consumer_options_init(&co);
    co.consume_from = from;
    co.consume_timestamp_ms = from_ts;
    co.consume_thread_count = g_o.threads;
    mq_error err = {0};
    if (mq_push_consumer_new(group, g_o.namesrv, &co, out, &err) != MQ_OK ||
        mq_push_consumer_subscribe(*out, g_o.topic, "*", &err) != MQ_OK) {
        fprintf(stderr, "mqbench: consumer: %s\n", err.message);
        mq_push_consumer_destroy(*out);
        return 1;
    }
    mq_push_consumer_set_listener(*out, on_consume, NULL);
    if (mq_push_consumer_start(*out, &err) != MQ_OK) {
        fprintf(stderr, "mqbench: consumer: %s\n", err.message);
        mq_push_consumer_destroy(*out);
        return 1;
    }
    return 0;
}

/* ---- reporting ---- */

typedef struct report {
    int64_t start_us;
    int64_t last_us;
    uint64_t last_msgs, last_bytes, last_sent;
    hist_counts last;
} report;

static void report_tick(report *r, bool show_sent)
{
    int64_t now = mono_now_us();
    hist_counts cur, d;
    hist_snapshot(&g_hist, &cur);
    hist_diff(&cur, &r->last, &d);
    uint64_t msgs = atomic_load(&g_msgs), bytes = atomic_load(&g_bytes), sent = atomic_load(&g_sent);
    double dt = (double)(now - r->last_us) / 1e6;
    {
        printf("[%5.0fs] %9.0f msgs/s %8.2f MB/s  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms  errors %llu",
               (double)(now - r->start_us) / 1e6, (double)(msgs - r->last_msgs) / dt,
               (double)(bytes - r->last_bytes) / dt / 1048576.0, hist_quantile(&d, 0.5) / 1000.0,
               hist_quantile(&d, 0.99) / 1000.0, hist_max(&d) / 1000.0,
               (unsigned long long)atomic_load(&g_errors));
        if (show_sent)
            printf("  sent %.0f/s", (double)(sent - r->last_sent) / dt);
        printf("\n");
        fflush(stdout);
    }
    r->last = cur;
    r->last_us = now;
    r->last_msgs = msgs;
    r->last_bytes = bytes;
    r->last_sent = sent;
}

/* What the percentiles measure: "latency", or "age" (consumer mode). */
static const char *g_measure = "latency";

static void summary(const char *mode, const report *r)
{
    double secs = (double)(mono_now_us() - r->start_us) / 1e6;
    hist_counts all;
    hist_snapshot(&g_hist, &all);
    uint64_t msgs = atomic_load(&g_msgs), bytes = atomic_load(&g_bytes);
    double max_ms = (double)__atomic_load_n(&g_hist.max, __ATOMIC_RELAXED) / 1000.0;
    printf("summary: %s%s%s %llu msgs in %.2f s: %.0f msgs/s, %.2f MB/s, %s p50 %.3f ms p99 %.3f ms "
           "p999 %.3f ms max %.3f ms, errors %llu\n",
           mode, g_kind ? " " : "", g_kind ? g_kind->name : "", (unsigned long long)msgs, secs,
           (double)msgs / secs, (double)bytes / secs / 1048576.0, g_measure, hist_quantile(&all, 0.5) / 1000.0,
           hist_quantile(&all, 0.99) / 1000.0, hist_quantile(&all, 0.999) / 1000.0, max_ms,
           (unsigned long long)atomic_load(&g_errors));
    if (g_o.json)
        printf("{\"mode\":\"%s\",\"send_mode\":\"%s\",\"msgs\":%llu,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,"
               "\"mb_per_sec\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
               "\"errors\":%llu,\"size\":%d,\"threads\":%d}\n",
               mode, g_kind ? g_kind->name : "", (unsigned long long)msgs, secs, (double)msgs / secs,
               (double)bytes / secs / 1048576.0, hist_quantile(&all, 0.5) / 1000.0,
               hist_quantile(&all, 0.99) / 1000.0, hist_quantile(&all, 0.999) / 1000.0, max_ms,
               (unsigned long long)atomic_load(&g_errors), g_o.size, g_o.threads);
    fflush(stdout);
}

/* Reports every second until the duration passes, --count is reached,
 * a signal arrives or done() says so. */
static void report_loop(report *r, bool show_sent, bool (*done)(void))
{
    int64_t end = g_o.duration > 0 ? r->start_us + (int64_t)(g_o.duration * 1e6) : INT64_MAX;
    int64_t next = r->start_us + 1000000;
    while (!atomic_load(&g_stop) && !(done && done())) {
        int64_t now = mono_now_us();
        if (now >= end)
            break;
        if (now >= next) {
            report_tick(r, show_sent);
            next += 1000000;
        }
        usleep(10000);
    }
    atomic_store(&g_stop, true);
}

static pthread_t *g_threads;
static sender *g_senders;

static bool senders_finished(void)
{
    return g_o.count > 0 && atomic_load(&g_remaining) <= 0;
}

static void report_init(report *r)
{
    memset(r, 0, sizeof *r);
    r->start_us = r->last_us = mono_now_us();
}

/* ---- modes ---- */

static int mode_producer(void)
{
    mq_producer *p;
    if (start_producer(&p))
        return 1;
    report r;
    report_init(&r);
    run_senders(p, false, &g_threads, &g_senders);
    report_loop(&r, false, senders_finished);
    join_senders(g_threads, g_senders);
    mq_producer_shutdown(p); /* waits for async callbacks */
    report_tick(&r, false);
    summary("producer", &r);
    mq_producer_destroy(p);
    return 0;
}

static int mode_consumer(void)
{
    mq_push_consumer *c;
    mq_consume_from from = g_o.from && !strcmp(g_o.from, "first") ? MQ_CONSUME_FROM_FIRST_OFFSET
                                                                  : MQ_CONSUME_FROM_LAST_OFFSET;
    const char *group = g_o.group ? g_o.group : "mqbench_consumer";
    g_measure = "age";
    printf("consuming %s as group %s from its committed offsets; where it has none, from the %s (--from %s%s)\n"
           "age = time from send (or birth) to receipt: for a backlog this is how old the messages are, "
           "not how slow delivery is\n",
           g_o.topic, group, from == MQ_CONSUME_FROM_FIRST_OFFSET ? "first message stored" : "next message sent",
           from == MQ_CONSUME_FROM_FIRST_OFFSET ? "first" : "last",
           from == MQ_CONSUME_FROM_FIRST_OFFSET ? "" : "; --from first reads what is stored already");
    fflush(stdout);
    if (start_consumer(group, from, 0, &c))
        return 1;
    report r;
    report_init(&r);
    report_loop(&r, false, NULL);
    mq_push_consumer_destroy(c);
    report_tick(&r, false);
    summary("consumer", &r);
    return 0;
}

/* ---- e2e's pull consumer: a thread per queue, each in a long poll ---- */

enum { PULL_BLOCK_MS = 500, PULL_BATCH = 32 };

typedef struct pullers pullers;

typedef struct puller {
    pullers *all;
    mq_message_queue q;
    pthread_t thread;
} puller;

struct pullers {
    mq_pull_consumer *pc;
    puller *p;
    int n;
    atomic_bool stop;
};

static void *pull_main(void *arg)
{
    puller *me = arg;
    pullers *all = me->all;
    mq_error err = {0};
    int64_t off = -1; /* from the queue's end: only this run's messages */
    while (!atomic_load(&all->stop)) {
        if (off < 0 && mq_pull_consumer_max_offset(all->pc, &me->q, &off, &err) != MQ_OK) {
            count_error(&err);
            off = -1;
            usleep(50000);
            continue;
        }
        mq_pull_result r;
        if (mq_pull_consumer_pull(all->pc, &me->q, NULL, off, PULL_BATCH, PULL_BLOCK_MS, &r, &err) != MQ_OK) {
            count_error(&err);
            usleep(50000);
            continue;
        }
        if (r.status == MQ_PULL_FOUND)
            on_consume((const mq_message_ext *const *)r.msgs, r.n, NULL);
        off = r.next_begin_offset;
        mq_pull_result_destroy(&r);
    }
    return NULL;
}

/* Starts a puller per queue of the topic. The topic may not exist yet (it
 * is created by the first send), so the probe is sent until it has a route. */
static int start_pullers(const char *group, mq_producer *p, mq_message *probe, pullers *all)
{
    mq_error err = {0};
    if (mq_pull_consumer_new(group, g_o.namesrv, NULL, &all->pc, &err) != MQ_OK ||
        mq_pull_consumer_start(all->pc, &err) != MQ_OK) {
        fprintf(stderr, "mqbench: pull consumer: %s\n", err.message);
        mq_pull_consumer_destroy(all->pc);
        return 1;
    }
    mq_message_queue *qs = NULL;
    int64_t until = mono_now_us() + 30000000;
    while (mq_pull_consumer_fetch_queues(all->pc, g_o.topic, &qs, &all->n, &err) != MQ_OK || all->n == 0) {
        if (mono_now_us() > until || atomic_load(&g_stop)) {
            fprintf(stderr, "mqbench: pull consumer: no queues of %s within 30 s: %s\n", g_o.topic, err.message);
            mq_pull_consumer_destroy(all->pc);
            return 1;
        }
        mq_producer_send(p, probe, NULL, NULL);
        usleep(20000);
    }
    all->p = calloc((size_t)all->n, sizeof *all->p);
    for (int i = 0; i < all->n; i++) {
        all->p[i].all = all;
        all->p[i].q = qs[i];
    }
    mq_free(qs);
    for (int i = 0; i < all->n; i++)
        pthread_create(&all->p[i].thread, NULL, pull_main, &all->p[i]);
    return 0;
}

static void stop_pullers(pullers *all)
{
    atomic_store(&all->stop, true);
    for (int i = 0; i < all->n; i++)
        pthread_join(all->p[i].thread, NULL); /* within PULL_BLOCK_MS */
    free(all->p);
    mq_pull_consumer_destroy(all->pc);
}

static int mode_e2e(void)
{
    char fresh[64];
    snprintf(fresh, sizeof fresh, "mqbench_e2e_%d", (int)getpid());
    const char *group = g_o.group ? g_o.group : fresh;
    bool pull = g_o.consumer && !strcmp(g_o.consumer, "pull");
    mq_push_consumer *c = NULL;
    pullers all = {0};
    /* A fresh group that starts at this run's first message, not at history. */
    if (!pull && start_consumer(group, MQ_CONSUME_FROM_TIMESTAMP, wall_us() / 1000 - 1000, &c))
        return 1;
    mq_producer *p;
    if (start_producer(&p)) {
        mq_push_consumer_destroy(c);
        return 1;
    }
    /* Warm up: probe until the consumer receives (its route, assignment and
     * long poll are in place), so start-up is not counted as latency. */
    mq_message *probe = mq_message_new(g_o.topic);
    mq_message_set_body(probe, WARMUP_BODY, sizeof WARMUP_BODY - 1, NULL);
    if (pull && start_pullers(group, p, probe, &all)) {
        mq_message_destroy(probe);
        mq_producer_destroy(p);
        return 1;
    }
    int64_t warm_until = mono_now_us() + 30000000;
    while (!atomic_load(&g_warm_seen) && !atomic_load(&g_stop) && mono_now_us() < warm_until) {
        mq_producer_send(p, probe, NULL, NULL);
        usleep(20000);
    }
    mq_message_destroy(probe);
    if (!atomic_load(&g_warm_seen))
        fprintf(stderr, "mqbench: e2e: the consumer received nothing within 30 s of warm-up; measuring anyway\n");
    report r;
    report_init(&r);
    run_senders(p, true, &g_threads, &g_senders);
    report_loop(&r, true, NULL);
    join_senders(g_threads, g_senders);
    mq_producer_shutdown(p);
    /* Let the last messages arrive (at most 2 s). */
    int64_t until = mono_now_us() + 2000000;
    while (atomic_load(&g_msgs) < atomic_load(&g_sent) && mono_now_us() < until)
        usleep(10000);
    report_tick(&r, true);
    summary("e2e", &r); /* before the teardown: a puller's long poll ends within PULL_BLOCK_MS */
    if (pull)
        stop_pullers(&all);
    else
        mq_push_consumer_destroy(c);
    mq_producer_destroy(p);
    uint64_t sent = atomic_load(&g_sent), got = atomic_load(&g_msgs);
    if (got < sent)
        fprintf(stderr, "mqbench: %llu of %llu sent messages were not received in time\n",
                (unsigned long long)(sent - got), (unsigned long long)sent);
    return 0;
}

static delay_opts g_delay = {.max_delay_ms = 3000, .level_spec = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
                              .levels = 2, .pending_delay_ms = 3600000, .burst_lead_ms = 30000};

static int mode_delay(void)
{
    g_delay.namesrv = g_o.namesrv;
    g_delay.topic = g_o.topic;
    g_delay.group = g_o.group;
    g_delay.size = g_o.size;
    g_delay.threads = g_o.threads;
    g_delay.rate = g_o.rate;
    g_delay.duration = g_o.duration;
    g_delay.json = g_o.json;
    g_delay.stop = &g_stop;
    return mqbench_delay(&g_delay);
}

/* Long-only options of tx (beyond every short option letter). */
enum { OPT_TX_ROLLBACK = 1001, OPT_TX_UNKNOWN, OPT_TX_WAIT };

static int mode_tx(void)
{
    mqbench_tx_opts t = {g_o.namesrv,  g_o.topic,          g_o.size,         g_o.threads,
                         g_o.duration, g_o.count,          g_o.rollback_ratio, g_o.unknown_ratio,
                         g_o.wait,     g_o.json,           &g_stop};
    return mqbench_tx_run(&t);
}

typedef struct bench_mode {
    const char *name;
    const char *summary;
    int (*run)(void);
} bench_mode;

static const bench_mode modes[] = {
    {"producer", "send messages as fast as allowed (or at --rate)", mode_producer},
    {"consumer", "consume a topic as group -g and measure", mode_consumer},
    {"e2e", "send at --rate and measure send-to-receive latency", mode_e2e},
    {"delay", "send scheduled messages at --rate and measure lateness past the due time", mode_delay},
    {"tx", "transactional sends at --rollback-ratio / --unknown-ratio, consumed and verified", mode_tx},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: mqbench MODE [FLAGS]\n\nModes:\n");
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        fprintf(out, "  %-10s %s\n", modes[i].name, modes[i].summary);
    fprintf(out,
            "\nFlags:\n"
            "  -n ADDRS         nameservers 'host:port;host:port' (or NAMESRV_ADDR)\n"
            "  -t TOPIC         topic (BenchmarkTopic)\n"
            "  -s BYTES         message body size (1024)\n"
            "  -w N             sender threads / consume threads (producer 1, consumer 4)\n"
            "  --mode M         producer: sync | async | oneway | batch; e2e: sync | async | oneway (sync)\n"
            "  --batch N        messages per batch (16)\n"
            "  --rate R         messages per second in total, 0 = unlimited (0; e2e 5000)\n"
            "  --duration S     run for S seconds (10; 0 = until --count or Ctrl-C)\n"
            "  --count N        stop after N messages\n"
            "  -g GROUP         consumer group (consumer: mqbench_consumer; e2e: a fresh one)\n"
            "  --from W         consumer: where a group with no offsets starts: first | last (last: only new messages)\n"
            "  --consumer K     e2e: push (a push consumer) | pull (a long-polling thread per queue) (push)\n"
            "  --rollback-ratio R  tx: share of transactions rolled back (0.1)\n"
            "  --unknown-ratio R   tx: share left UNKNOWN, resolved by check-back (0)\n"
            "  --wait S         tx: after sending, wait up to S s for check-backs and deliveries (120)\n"
            "  --json           end with one JSON summary line\n"
            "\ndelay mode (-s >= 21, --rate 1000):\n"
            "  --max-delay MS   exact-time delays uniform in 1..MS (3000)\n"
            "  --level-spec S   the broker's messageDelayLevel (RocketMQ's default)\n"
            "  --levels N       use delay levels 1..N (2)\n"
            "  --pending N      first park N messages due --pending-delay MS later (0; 3600000)\n"
            "  --burst N        then send N messages due at one instant --burst-lead MS ahead (0; 30000)\n");
}

int main(int argc, char **argv)
{
    if (process_version_asked("mqbench", argc, argv))
        return 0;
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const bench_mode *mode = NULL;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(argv[1], modes[i].name))
            mode = &modes[i];
    if (!mode) {
        fprintf(stderr, "mqbench: unknown mode '%s' (see mqbench --help)\n", argv[1]);
        return 2;
    }
    bool is_e2e = mode->run == mode_e2e, is_consumer = mode->run == mode_consumer, is_delay = mode->run == mode_delay;
    g_o = (bench_opts){NULL, "BenchmarkTopic", NULL, "sync", "last", is_delay ? 64 : 1024, is_consumer ? 4 : 1, 16,
                       is_e2e ? 5000 : is_delay ? 1000 : 0, 10, 0, false, 0.1, 0, 120, NULL};
    static const struct option longs[] = {
        {"mode", required_argument, NULL, 'M'},   {"batch", required_argument, NULL, 'B'},
        {"rate", required_argument, NULL, 'R'},   {"duration", required_argument, NULL, 'D'},
        {"count", required_argument, NULL, 'C'},  {"from", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'J'},         {"help", no_argument, NULL, 'h'},
        {"max-delay", required_argument, NULL, 'X'}, {"level-spec", required_argument, NULL, 'S'},
        {"levels", required_argument, NULL, 'V'},    {"pending", required_argument, NULL, 'P'},
        {"pending-delay", required_argument, NULL, 'Q'}, {"burst", required_argument, NULL, 'U'},
        {"burst-lead", required_argument, NULL, 'W'},
        {"rollback-ratio", required_argument, NULL, OPT_TX_ROLLBACK},
        {"unknown-ratio", required_argument, NULL, OPT_TX_UNKNOWN},
        {"wait", required_argument, NULL, OPT_TX_WAIT},
        {"consumer", required_argument, NULL, 'K'},
        {0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "n:t:s:w:g:h", longs, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'n': g_o.namesrv = optarg; break;
        case 't': g_o.topic = optarg; break;
        case 'g': g_o.group = optarg; break;
        case 's': g_o.size = (int)strtol(optarg, &end, 10); break;
        case 'w': g_o.threads = (int)strtol(optarg, &end, 10); break;
        case 'M': g_o.send_mode = optarg; break;
        case 'B': g_o.batch = (int)strtol(optarg, &end, 10); break;
        case 'R': g_o.rate = strtod(optarg, &end); break;
        case 'D': g_o.duration = strtod(optarg, &end); break;
        case 'C': g_o.count = strtoll(optarg, &end, 10); break;
        case 'F': g_o.from = optarg; break;
        case 'K': g_o.consumer = optarg; break;
        case 'J': g_o.json = true; break;
        case 'X': g_delay.max_delay_ms = strtoll(optarg, &end, 10); break;
        case 'S': g_delay.level_spec = optarg; break;
        case 'V': g_delay.levels = (int)strtol(optarg, &end, 10); break;
        case 'P': g_delay.pending = strtoll(optarg, &end, 10); break;
        case 'Q': g_delay.pending_delay_ms = strtoll(optarg, &end, 10); break;
        case 'U': g_delay.burst = strtoll(optarg, &end, 10); break;
        case 'W': g_delay.burst_lead_ms = strtoll(optarg, &end, 10); break;
        case OPT_TX_ROLLBACK: g_o.rollback_ratio = strtod(optarg, &end); break;
        case OPT_TX_UNKNOWN: g_o.unknown_ratio = strtod(optarg, &end); break;
        case OPT_TX_WAIT: g_o.wait = strtod(optarg, &end); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "mqbench: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (g_o.size < (is_e2e ? STAMP_LEN : 1) || g_o.size > 4 * 1024 * 1024 || g_o.threads < 1 || g_o.threads > 1024 ||
        g_o.batch < 1 || g_o.rate < 0 || g_o.duration < 0 || g_o.count < 0) {
        fprintf(stderr, "mqbench: bad value: -s 1..4194304 (e2e >= %d), -w 1..1024, --batch >= 1, others >= 0\n",
                STAMP_LEN);
        return 2;
    }
    if (g_o.consumer && strcmp(g_o.consumer, "push") && strcmp(g_o.consumer, "pull")) {
        fprintf(stderr, "mqbench: --consumer push|pull\n");
        return 2;
    }
    if (g_o.from && strcmp(g_o.from, "first") && strcmp(g_o.from, "last")) {
        fprintf(stderr, "mqbench: --from first|last\n");
        return 2;
    }
    if (mode->run == mode_producer || is_e2e) {
        for (size_t i = 0; i < sizeof send_kinds / sizeof send_kinds[0]; i++)
            if (!strcmp(g_o.send_mode, send_kinds[i].name))
                g_kind = &send_kinds[i];
        if (!g_kind) {
            fprintf(stderr, "mqbench: unknown --mode '%s' (sync, async, oneway, batch)\n", g_o.send_mode);
            return 2;
        }
        if (is_e2e && g_kind->send == send_batch) {
            fprintf(stderr, "mqbench: e2e sends with --mode sync, async or oneway\n");
            return 2;
        }
    }
    atomic_store(&g_remaining, g_o.count);
    log_set_level(LOG_WARN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    return mode->run();
}
