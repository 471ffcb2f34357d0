/*
 * peer_common.c - options, histogram, pacing and reporting for the C peer
 * load generators (see peer_common.h for what is measured and how).
 *
 * State is process-wide (one run per process): counters and the histogram
 * are written by worker threads with relaxed atomics and read by the
 * reporter (main) thread.
 */
#define _GNU_SOURCE
#include "peer_common.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

peer_opts g_peer;

static const char *g_tool;

/* ---- histogram: log-linear buckets of microseconds ---- */

#define SUB_BITS 5                  /* 32 buckets per power of two */
#define LINEAR 64                   /* 0..63 us: one bucket each */
#define MAX_POW 40                  /* values clamp at 2^40 us */
#define BUCKETS (LINEAR + (MAX_POW - 6) * (1 << SUB_BITS))

typedef struct counts {
    uint64_t c[BUCKETS];
    uint64_t total;
} counts;

static uint64_t g_hist[BUCKETS];
static uint64_t g_max_us;
static atomic_uint_fast64_t g_msgs, g_errors;
static atomic_int_fast64_t g_claimable;
static atomic_bool g_stop;
static int64_t g_start_us, g_end_us;

static size_t bucket_of(uint64_t us)
{
    if (us < LINEAR)
        return (size_t)us;
    int pow = 63 - __builtin_clzll(us); /* >= 6 */
    if (pow >= MAX_POW)
        return BUCKETS - 1;
    size_t sub = (size_t)(us >> (pow - SUB_BITS)) & ((1u << SUB_BITS) - 1);
    return LINEAR + (size_t)(pow - 6) * (1u << SUB_BITS) + sub;
}

/* Upper edge (exclusive) of bucket i: a percentile is reported as the
 * upper edge of the bucket holding it, never below the true value. */
static uint64_t bucket_high(size_t i)
{
    if (i < LINEAR)
        return i + 1;
    size_t j = i - LINEAR;
    int pow = 6 + (int)(j >> SUB_BITS);
    uint64_t sub = j & ((1u << SUB_BITS) - 1);
    uint64_t step = 1ull << (pow - SUB_BITS);
    return (1ull << pow) + (sub + 1) * step;
}

static void snapshot(counts *out)
{
    out->total = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        out->c[i] = __atomic_load_n(&g_hist[i], __ATOMIC_RELAXED);
        out->total += out->c[i];
    }
}

static void diff(const counts *now, const counts *before, counts *out)
{
    out->total = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        out->c[i] = now->c[i] - before->c[i];
        out->total += out->c[i];
    }
}

/* The value at quantile q, in ms: the upper edge of its bucket, but never
 * more than cap_us (the exact maximum, when known). */
static double quantile_ms(const counts *h, double q, uint64_t cap_us)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total);
    if (rank >= h->total)
        rank = h->total - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        seen += h->c[i];
        if (seen > rank) {
            uint64_t v = bucket_high(i);
            return (double)(cap_us && v > cap_us ? cap_us : v) / 1000.0;
        }
    }
    return 0;
}

static double highest_ms(const counts *h)
{
    for (size_t i = BUCKETS; i-- > 0;)
        if (h->c[i])
            return (double)bucket_high(i) / 1000.0;
    return 0;
}

/* ---- clocks, counters ---- */

int64_t peer_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

bool peer_stopped(void) { return atomic_load_explicit(&g_stop, memory_order_relaxed); }

void peer_stop(void) { atomic_store(&g_stop, true); }

bool peer_claim(int64_t n)
{
    if (peer_stopped())
        return false;
    return g_peer.count <= 0 || atomic_fetch_sub(&g_claimable, n) >= n;
}

void peer_record(uint64_t n, int64_t latency_us)
{
    uint64_t us = latency_us > 0 ? (uint64_t)latency_us : 0;
    __atomic_fetch_add(&g_hist[bucket_of(us)], n, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&g_max_us, __ATOMIC_RELAXED);
    while (us > m && !__atomic_compare_exchange_n(&g_max_us, &m, us, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    atomic_fetch_add_explicit(&g_msgs, n, memory_order_relaxed);
}

void peer_count_only(uint64_t n) { atomic_fetch_add_explicit(&g_msgs, n, memory_order_relaxed); }

uint64_t peer_done(void) { return atomic_load_explicit(&g_msgs, memory_order_relaxed); }

void peer_error(const char *fmt, ...)
{
    uint64_t n = atomic_fetch_add(&g_errors, 1) + 1;
    if (n != 1 && n % 1000 != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error (%llu so far): ", g_tool, (unsigned long long)n);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- pacing ---- */

void peer_pacer_init(peer_pacer *p, double per_second)
{
    p->interval_us = per_second > 0 ? 1e6 / per_second : 0;
    p->start_us = peer_now_us();
    p->k = 0;
}

int64_t peer_pacer_wait_us(const peer_pacer *p)
{
    if (p->interval_us <= 0)
        return 0;
    return p->start_us + (int64_t)(p->interval_us * (double)p->k) - peer_now_us();
}

void peer_pace(peer_pacer *p)
{
    if (p->interval_us > 0) {
        int64_t due = p->start_us + (int64_t)(p->interval_us * (double)p->k);
        if (due > peer_now_us()) {
            struct timespec ts = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        }
    }
    p->k++;
}

/* ---- stamps ---- */

#define STAMP_MAGIC "PB01"

void peer_stamp(char *body, int64_t us)
{
    memcpy(body, STAMP_MAGIC, 4);
    memcpy(body + 4, &us, 8);
}

int64_t peer_read_stamp(const char *body, size_t len)
{
    int64_t us;
    if (len < 12 || memcmp(body, STAMP_MAGIC, 4) != 0)
        return -1;
    memcpy(&us, body + 4, 8);
    return us;
}

/* ---- options ---- */

static void usage(FILE *out, int default_port)
{
    fprintf(out,
            "Usage: %s producer|consumer|e2e [FLAGS]\n\n"
            "  producer   publish as fast as allowed (or at --rate); latency = publish to ack\n"
            "  consumer   consume a stored backlog; latency = age of the message (stamp to receipt)\n"
            "  e2e        publish at --rate and consume; latency = send to receive\n\n"
            "Flags:\n"
            "  -h HOST          server host (127.0.0.1)\n"
            "  -p PORT          server port (%d)\n"
            "  -t NAME          stream / queue (bench)\n"
            "  -s BYTES         message body size (1024)\n"
            "  -w N             workers, one connection each (1)\n"
            "  --mode M         producer: sync | async (async)\n"
            "  --window N       async: messages in flight per connection (128)\n"
            "  --batch N        consumer: messages per fetch / prefetch (500)\n"
            "  --queue-type Q   rabbitmq: classic | quorum (classic)\n"
            "  -g GROUP         consumer group / durable consumer (bench_group)\n"
            "  --rate R         messages per second in total, 0 = unlimited (0)\n"
            "  --duration S     run for S seconds (10; 0 = until --count)\n"
            "  --count N        stop after N messages\n"
            "  --workload W     label for the JSON line\n"
            "  --durability T   durability text for the JSON line\n"
            "  --json           end with one JSON summary line\n",
            g_tool, default_port);
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, true);
}

void peer_parse_args(int argc, char **argv, const char *tool, int default_port)
{
    g_tool = tool;
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout, default_port);
        exit(argc < 2 ? 1 : 0);
    }
    g_peer = (peer_opts){.mode = argv[1], .host = "127.0.0.1", .port = default_port, .topic = "bench",
                         .send_mode = "async", .queue_type = "classic", .group = "bench_group",
                         .workload = "", .durability = "", .size = 1024, .threads = 1, .window = 128,
                         .batch = 500, .duration = 10};
    if (strcmp(g_peer.mode, "producer") && strcmp(g_peer.mode, "consumer") && strcmp(g_peer.mode, "e2e")) {
        fprintf(stderr, "%s: unknown mode '%s'\n", tool, g_peer.mode);
        usage(stderr, default_port);
        exit(1);
    }
    enum { O_MODE = 256, O_WINDOW, O_BATCH, O_QTYPE, O_RATE, O_DURATION, O_COUNT, O_WORKLOAD, O_DURABILITY, O_JSON };
    static const struct option longs[] = {
        {"mode", required_argument, 0, O_MODE},         {"window", required_argument, 0, O_WINDOW},
        {"batch", required_argument, 0, O_BATCH},       {"queue-type", required_argument, 0, O_QTYPE},
        {"rate", required_argument, 0, O_RATE},         {"duration", required_argument, 0, O_DURATION},
        {"count", required_argument, 0, O_COUNT},       {"workload", required_argument, 0, O_WORKLOAD},
        {"durability", required_argument, 0, O_DURABILITY}, {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'H'},                  {0, 0, 0, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h:p:t:s:w:g:", longs, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'h': g_peer.host = optarg; break;
        case 'p': g_peer.port = (int)strtol(optarg, &end, 10); break;
        case 't': g_peer.topic = optarg; break;
        case 's': g_peer.size = (int)strtol(optarg, &end, 10); break;
        case 'w': g_peer.threads = (int)strtol(optarg, &end, 10); break;
        case 'g': g_peer.group = optarg; break;
        case O_MODE: g_peer.send_mode = optarg; break;
        case O_WINDOW: g_peer.window = (int)strtol(optarg, &end, 10); break;
        case O_BATCH: g_peer.batch = (int)strtol(optarg, &end, 10); break;
        case O_QTYPE: g_peer.queue_type = optarg; break;
        case O_RATE: g_peer.rate = strtod(optarg, &end); break;
        case O_DURATION: g_peer.duration = strtod(optarg, &end); break;
        case O_COUNT: g_peer.count = strtoll(optarg, &end, 10); break;
        case O_WORKLOAD: g_peer.workload = optarg; break;
        case O_DURABILITY: g_peer.durability = optarg; break;
        case O_JSON: g_peer.json = true; break;
        case 'H': usage(stdout, default_port); exit(0);
        default: usage(stderr, default_port); exit(1);
        }
        if (end && *end) {
            fprintf(stderr, "%s: bad number '%s'\n", tool, optarg);
            exit(1);
        }
    }
    if (g_peer.size < 16 || g_peer.threads < 1 || g_peer.threads > 1024 || g_peer.window < 1 || g_peer.batch < 1 ||
        g_peer.rate < 0 || g_peer.duration < 0 || g_peer.count < 0 || g_peer.port < 1 || g_peer.port > 65535 ||
        (g_peer.duration == 0 && g_peer.count == 0)) {
        fprintf(stderr, "%s: bad value: -s >= 16, -w 1..1024, --window/--batch >= 1, --duration or --count > 0\n",
                tool);
        exit(1);
    }
    if (strcmp(g_peer.send_mode, "sync") && strcmp(g_peer.send_mode, "async")) {
        fprintf(stderr, "%s: --mode sync|async\n", tool);
        exit(1);
    }
    atomic_store(&g_claimable, g_peer.count);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_start_us = peer_now_us();
}

/* ---- reporting ---- */

static void put_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static counts g_last, g_now, g_interval; /* reporter thread only */
static uint64_t g_last_msgs, g_last_errors;
static int64_t g_last_us;

static void report_tick(void)
{
    int64_t now = peer_now_us();
    snapshot(&g_now);
    diff(&g_now, &g_last, &g_interval);
    uint64_t msgs = peer_done(), errors = atomic_load(&g_errors);
    double dt = (double)(now - g_last_us) / 1e6;
    double rate = (double)(msgs - g_last_msgs) / dt;
    printf("[%5.0fs] %9.0f msgs/s %8.2f MB/s  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms  errors %llu\n",
           (double)(now - g_start_us) / 1e6, rate, rate * g_peer.size / 1048576.0, quantile_ms(&g_interval, 0.5, 0),
           quantile_ms(&g_interval, 0.99, 0), highest_ms(&g_interval), (unsigned long long)(errors - g_last_errors));
    fflush(stdout);
    g_last = g_now;
    g_last_msgs = msgs;
    g_last_errors = errors;
    g_last_us = now;
}

void peer_begin(void) { g_start_us = peer_now_us(); }

void peer_end(void) { g_end_us = peer_now_us(); }

void peer_e2e_finish(const char *name, uint64_t sent, _Atomic bool *consumer_stop, pthread_t consumer)
{
    peer_end();
    int64_t deadline = peer_now_us() + 5000000;
    while (peer_done() < sent && peer_now_us() < deadline)
        usleep(1000);
    atomic_store(consumer_stop, true);
    pthread_join(consumer, NULL);
    if (peer_done() < sent) {
        fprintf(stderr, "%s: %llu of %llu sent messages were not received\n", name,
                (unsigned long long)(sent - peer_done()), (unsigned long long)sent);
        for (uint64_t i = peer_done(); i < sent; i++)
            peer_error("message not received");
    }
}

void peer_report_loop(bool (*done)(void))
{
    g_last_us = g_start_us;
    int64_t end = g_peer.duration > 0 ? g_start_us + (int64_t)(g_peer.duration * 1e6) : INT64_MAX;
    int64_t next = g_start_us + 1000000;
    while (!peer_stopped() && !(done && done())) {
        int64_t now = peer_now_us();
        if (now >= end)
            break;
        if (now >= next) {
            report_tick();
            next += 1000000;
        }
        usleep(5000);
    }
    peer_stop();
}

void peer_summary(const char *system, const char *extra)
{
    if (!g_end_us)
        g_end_us = peer_now_us();
    counts all;
    snapshot(&all);
    uint64_t msgs = peer_done(), errors = atomic_load(&g_errors);
    double secs = (double)(g_end_us - g_start_us) / 1e6;
    double rate = secs > 0 ? (double)msgs / secs : 0;
    uint64_t max_us = __atomic_load_n(&g_max_us, __ATOMIC_RELAXED);
    double max_ms = (double)max_us / 1000.0;
    const char *kind = strcmp(g_peer.mode, "producer") ? "" : g_peer.send_mode;
    printf("summary: %s %s%s%s %llu msgs in %.2f s: %.0f msgs/s, %.2f MB/s, latency p50 %.3f ms p99 %.3f ms "
           "p999 %.3f ms max %.3f ms, errors %llu\n",
           system, g_peer.mode, *kind ? " " : "", kind, (unsigned long long)msgs, secs, rate,
           rate * g_peer.size / 1048576.0, quantile_ms(&all, 0.5, max_us), quantile_ms(&all, 0.99, max_us), quantile_ms(&all, 0.999, max_us),
           max_ms, (unsigned long long)errors);
    if (g_peer.json) {
        printf("{\"system\":");
        put_json_string(system);
        printf(",\"workload\":");
        put_json_string(g_peer.workload);
        printf(",\"mode\":\"%s\",\"send_mode\":\"%s\",\"count\":%llu,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,"
               "\"mb_per_sec\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
               "\"errors\":%llu,\"size\":%d,\"threads\":%d,\"window\":%d,\"durability\":",
               g_peer.mode, kind, (unsigned long long)msgs, secs, rate, rate * g_peer.size / 1048576.0,
               quantile_ms(&all, 0.5, max_us), quantile_ms(&all, 0.99, max_us), quantile_ms(&all, 0.999, max_us), max_ms,
               (unsigned long long)errors, g_peer.size, g_peer.threads, strcmp(kind, "async") ? 1 : g_peer.window);
        put_json_string(g_peer.durability);
        printf("%s%s}\n", extra ? "," : "", extra ? extra : "");
    }
    fflush(stdout);
}
