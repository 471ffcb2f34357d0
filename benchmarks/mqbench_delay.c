/*
 * mqbench_delay.c - `mqbench delay`: scheduled-delivery lateness.
 *
 * -w producer threads send at --rate messages/s in total for --duration
 * seconds; each message asks for a random later delivery, in turn a delay
 * level (chosen among the first --levels of --level-spec, which must match
 * the broker's messageDelayLevel), an absolute time (TIMER_DELIVER_MS) and a
 * relative delay (TIMER_DELAY_MS), up to --max-delay ms. The body carries
 * the due time; a push consumer (fresh group) measures lateness = receive
 * time - due time on the same clock, and counts early deliveries (lateness
 * < 0, must be 0). For a level or a relative delay the due time is taken as
 * the send call's start (in whole ms, as the broker counts) + delay, a lower
 * bound of the broker's (it stores the message after that), so lateness is
 * over-estimated by the send time and an early count can never be a false
 * alarm.
 *
 * --pending N first parks N messages due --pending-delay ms later (batches of
 * 64, not measured) so lateness is measured with that many pending.
 * --burst N then sends N messages all due at the same millisecond (--burst-lead
 * ms after the burst starts) and reports how long after that instant the
 * last one arrived (burst_drain_ms) and was re-put by the broker
 * (burst_reput_ms, from the delivered records' store times).
 *
 * Output: one line per second (sent, received, lateness p50/p99 of the
 * second, early), a summary, and with --json a last line that is one JSON
 * object: sent, received, early, duplicates, lateness_p50_ms,
 * lateness_p99_ms, lateness_max_ms (and burst_* when --burst was given).
 */
#define _GNU_SOURCE
#include "mqbench_delay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "histogram.h"
#include "mq/consumer.h"
#include "mq/producer.h"

#define DELAY_MAGIC "MQD1"
enum { BODY_MIN = 4 + 8 + 8 + 1 }; /* magic, due us, sequence, kind */

static const delay_opts *g_d;
static hist g_late;                      /* lateness of on-time or late deliveries, us */
static atomic_uint_fast64_t g_sent, g_recv, g_early, g_errors, g_dups;
static atomic_int_fast64_t g_max_late_us, g_min_late_us;
static int64_t g_level_ms[64];
static int g_nlevels;
/* seen[seq] bits: duplicates are counted, not measured twice */
static _Atomic uint8_t *g_seen;
static uint64_t g_seen_cap;
/* burst */
static int64_t g_burst_due_us;
static uint64_t g_burst_first_seq, g_burst_n;
static atomic_uint_fast64_t g_burst_recv;
static atomic_int_fast64_t g_burst_last_recv_us, g_burst_last_store_ms;

static void atomic_max(atomic_int_fast64_t *a, int64_t v)
{
    int64_t cur = atomic_load(a);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static void atomic_min(atomic_int_fast64_t *a, int64_t v)
{
    int64_t cur = atomic_load(a);
    while (v < cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static int parse_levels(const char *spec)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save)) {
        char *end;
        double v = strtod(t, &end);
        int64_t unit = !strcmp(end, "ms") ? 1 : !strcmp(end, "s") ? 1000 : !strcmp(end, "m") ? 60000
                     : !strcmp(end, "h") ? 3600000 : !strcmp(end, "d") ? 86400000 : -1;
        if (unit < 0 || end == t)
            return -1;
        g_level_ms[n++] = (int64_t)(v * (double)unit);
    }
    return n;
}

/* ---- consumer ---- */

static mq_consume_status on_msgs(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    int64_t now = wall_us();
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *b = mq_message_ext_body(msgs[i], &len);
        if (len < BODY_MIN || memcmp(b, DELAY_MAGIC, 4) != 0)
            continue;
        int64_t due;
        uint64_t seq;
        memcpy(&due, b + 4, 8);
        memcpy(&seq, b + 12, 8);
        if (seq < g_seen_cap) {
            uint8_t bit = (uint8_t)(1u << (seq & 7));
            if (atomic_fetch_or(&g_seen[seq >> 3], bit) & bit) {
                atomic_fetch_add(&g_dups, 1);
                continue;
            }
        }
        atomic_fetch_add(&g_recv, 1);
        int64_t late = now - due;
        if (late < 0)
            atomic_fetch_add(&g_early, 1);
        else
            hist_record(&g_late, (uint64_t)late);
        atomic_max(&g_max_late_us, late);
        atomic_min(&g_min_late_us, late);
        if (g_burst_n && seq >= g_burst_first_seq && seq < g_burst_first_seq + g_burst_n) {
            atomic_fetch_add(&g_burst_recv, 1);
            atomic_max(&g_burst_last_recv_us, now);
            atomic_max(&g_burst_last_store_ms, mq_message_ext_store_timestamp(msgs[i]));
        }
    }
    return MQ_CONSUME_SUCCESS;
}

/* ---- producers ---- */

typedef struct dsender {
    mq_producer *p;
    int idx;
    uint64_t rng;
    char *body;
} dsender;

static atomic_uint_fast64_t g_seq;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill_body(char *body, int64_t due_us, uint64_t seq, char kind)
{
    memcpy(body, DELAY_MAGIC, 4);
    memcpy(body + 4, &due_us, 8);
    memcpy(body + 12, &seq, 8);
    body[20] = kind;
}

static void *sender_main(void *arg)
{
    dsender *s = arg;
    mq_message *m = mq_message_new(g_d->topic);
    double interval = g_d->rate > 0 ? 1e6 * g_d->threads / g_d->rate : 0;
    int64_t start = mono_now_us(), end = start + (int64_t)(g_d->duration * 1e6);
    for (uint64_t k = 0;; k++) {
        int64_t at = start + (int64_t)(interval * (double)k);
        if (at >= end || atomic_load(g_d->stop))
            break;
        if (at > mono_now_us()) {
            struct timespec ts = {(time_t)(at / 1000000), (long)(at % 1000000) * 1000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        uint64_t seq = atomic_fetch_add(&g_seq, 1);
        uint64_t r = next_rand(&s->rng);
        int kind = (int)(r % 3);
        /* the broker counts in whole ms from a clock read after this one */
        int64_t t0 = wall_us() / 1000 * 1000, due;
        mq_message_set_delay_level(m, 0, NULL);
        mq_message_set_deliver_time(m, 0, NULL);
        mq_message_set_delay_ms(m, 0, NULL);
        if (kind == 0 && g_nlevels > 0) {
            int lv = 1 + (int)((r >> 8) % (uint64_t)g_nlevels);
            mq_message_set_delay_level(m, lv, NULL);
            due = t0 + g_level_ms[lv - 1] * 1000;
        } else {
            int64_t d = 1 + (int64_t)((r >> 8) % (uint64_t)(g_d->max_delay_ms > 0 ? g_d->max_delay_ms : 1));
            if (kind == 1) {
                mq_message_set_deliver_time(m, t0 / 1000 + d, NULL);
                due = (t0 / 1000 + d) * 1000;
            } else {
                mq_message_set_delay_ms(m, d, NULL);
                due = t0 + d * 1000;
            }
        }
        fill_body(s->body, due, seq, (char)('0' + kind));
        mq_message_set_body_ref(m, s->body, (size_t)g_d->size, NULL);
        mq_error err = {0};
        if (mq_producer_send(s->p, m, NULL, &err) != MQ_OK) {
            uint64_t e = atomic_fetch_add(&g_errors, 1) + 1;
            if (e == 1 || e % 1000 == 0)
                fprintf(stderr, "mqbench: delay: send error (%llu so far): %s\n", (unsigned long long)e, err.message);
            continue;
        }
        atomic_fetch_add(&g_sent, 1);
    }
    mq_message_destroy(m);
    return NULL;
}

/* Sends n messages of one fixed due time (us), or of now + delay_ms each
 * when due_us is 0, in batches of 64; measured ones get sequence numbers. */
static uint64_t send_bulk(mq_producer *p, uint64_t n, int64_t due_us, int64_t delay_ms, bool measured)
{
    enum { B = 64 };
    mq_message *ms[B];
    char *bodies = calloc(B, (size_t)g_d->size);
    for (int i = 0; i < B; i++)
        ms[i] = mq_message_new(g_d->topic);
    uint64_t done = 0;
    int64_t report = mono_now_us() + 1000000;
    while (done < n && !atomic_load(g_d->stop)) {
        int k = (int)(n - done < B ? n - done : B);
        int64_t now = wall_us();
        for (int i = 0; i < k; i++) {
            char *body = bodies + (size_t)i * (size_t)g_d->size;
            int64_t due = due_us ? due_us : now + delay_ms * 1000;
            uint64_t seq = measured ? atomic_fetch_add(&g_seq, 1) : UINT64_MAX;
            fill_body(body, measured ? due : 0, seq, 'b');
            if (!measured)
                memcpy(body, "PARK", 4); /* not counted by the consumer */
            mq_message_set_deliver_time(ms[i], due / 1000 + (due % 1000 ? 1 : 0), NULL);
            mq_message_set_body_ref(ms[i], body, (size_t)g_d->size, NULL);
        }
        mq_send_result r;
        mq_error err = {0};
        if (mq_producer_send_batch(p, (const mq_message *const *)ms, (size_t)k, &r, &err) != MQ_OK) {
            uint64_t e = atomic_fetch_add(&g_errors, 1) + 1;
            if (e == 1 || e % 100 == 0)
                fprintf(stderr, "mqbench: delay: batch send error (%llu so far): %s\n", (unsigned long long)e,
                        err.message);
            usleep(10000);
            continue;
        }
        mq_send_result_destroy(&r);
        done += (uint64_t)k;
        if (measured)
            atomic_fetch_add(&g_sent, (uint64_t)k);
        if (mono_now_us() >= report) {
            fprintf(stderr, "mqbench: delay: %s %llu of %llu\n", measured ? "burst" : "parked",
                    (unsigned long long)done, (unsigned long long)n);
            report += 1000000;
        }
    }
    for (int i = 0; i < B; i++)
        mq_message_destroy(ms[i]);
    free(bodies);
    return done;
}

static double ms_of(uint64_t us) { return (double)us / 1000.0; }

int mqbench_delay(const delay_opts *o)
{
    g_d = o;
    atomic_store(&g_max_late_us, INT64_MIN);
    atomic_store(&g_min_late_us, INT64_MAX);
    g_nlevels = parse_levels(o->level_spec);
    if (g_nlevels < 0) {
        fprintf(stderr, "mqbench: delay: bad --level-spec '%s'\n", o->level_spec);
        return 2;
    }
    if (g_nlevels > o->levels)
        g_nlevels = o->levels;
    if (o->size < BODY_MIN) {
        fprintf(stderr, "mqbench: delay: -s must be >= %d\n", BODY_MIN);
        return 2;
    }
    g_seen_cap = (uint64_t)(o->rate > 0 ? o->rate : 100000) * (uint64_t)(o->duration + 1) * 2 + o->burst + 1024;
    g_seen = calloc(g_seen_cap / 8 + 1, 1);

    char group[64];
    snprintf(group, sizeof group, "mqbench_delay_%d", (int)getpid());
    mq_push_consumer_options co;
    mq_push_consumer_options_init(&co);
    co.consume_from = MQ_CONSUME_FROM_TIMESTAMP;
    co.consume_timestamp_ms = wall_us() / 1000 - 1000;
    co.consume_thread_count = o->threads > 4 ? o->threads : 4;
    co.consume_message_batch_max_size = 32;
    co.pull_threshold_for_queue = 10000;
    co.consume_concurrently_max_span = 65535;
    mq_error err = {0};
    mq_push_consumer *c = NULL;
    mq_producer *p = NULL;
    mq_producer_options po;
    mq_producer_options_init(&po);
    if (mq_push_consumer_new(o->group ? o->group : group, o->namesrv, &co, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, o->topic, "*", &err) != MQ_OK) {
        fprintf(stderr, "mqbench: delay: consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    mq_push_consumer_set_listener(c, on_msgs, NULL);
    if (mq_push_consumer_start(c, &err) != MQ_OK || mq_producer_new("mqbench_delay", o->namesrv, &po, &p, &err) != MQ_OK ||
        mq_producer_start(p, &err) != MQ_OK) {
        fprintf(stderr, "mqbench: delay: start: %s\n", err.message);
        mq_push_consumer_destroy(c);
        mq_producer_destroy(p);
        return 1;
    }
    if (o->pending > 0) {
        int64_t t = mono_now_us();
        uint64_t n = send_bulk(p, (uint64_t)o->pending, 0, o->pending_delay_ms, false);
        fprintf(stderr, "mqbench: delay: parked %llu messages due in %lld ms in %.1f s\n", (unsigned long long)n,
                (long long)o->pending_delay_ms, (double)(mono_now_us() - t) / 1e6);
    }
    /* the measured phase */
    int nt = o->threads;
    pthread_t *ts = calloc((size_t)nt, sizeof *ts);
    dsender *ss = calloc((size_t)nt, sizeof *ss);
    int64_t start = mono_now_us();
    if (o->duration > 0) {
        for (int i = 0; i < nt; i++) {
            ss[i].p = p;
            ss[i].idx = i;
            ss[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ (uint64_t)wall_us();
            ss[i].body = calloc(1, (size_t)o->size);
            pthread_create(&ts[i], NULL, sender_main, &ss[i]);
        }
    }
    hist_counts last, now_c, diff;
    memset(&last, 0, sizeof last);
    int64_t next = start + 1000000;
    uint64_t last_recv = 0, last_sent = 0, last_early = 0;
    bool joined = o->duration <= 0;
    int64_t drain_until = 0;
    int64_t burst_sent_us = 0;
    for (;;) {
        if (atomic_load(o->stop))
            break;
        int64_t t = mono_now_us();
        if (!joined && t >= start + (int64_t)(o->duration * 1e6)) {
            for (int i = 0; i < nt; i++)
                pthread_join(ts[i], NULL);
            joined = true;
        }
        if (joined && o->burst > 0 && !g_burst_n) {
            g_burst_due_us = (wall_us() / 1000 + o->burst_lead_ms) * 1000;
            g_burst_first_seq = atomic_load(&g_seq);
            g_burst_n = (uint64_t)o->burst;
            int64_t b0 = mono_now_us();
            uint64_t n = send_bulk(p, (uint64_t)o->burst, g_burst_due_us, 0, true);
            burst_sent_us = mono_now_us() - b0;
            fprintf(stderr, "mqbench: delay: burst of %llu messages due at one instant sent in %.1f s%s\n",
                    (unsigned long long)n, (double)burst_sent_us / 1e6,
                    wall_us() > g_burst_due_us ? " (AFTER the due instant: raise --burst-lead)" : "");
            t = mono_now_us();
            next = t + 1000000;
        }
        if (joined && !drain_until)
            drain_until = mono_now_us() + (o->max_delay_ms + (g_nlevels ? g_level_ms[g_nlevels - 1] : 0) +
                                       o->burst_lead_ms + 20000) * 1000;
        if (joined && (atomic_load(&g_recv) >= atomic_load(&g_sent) || t >= drain_until))
            break;
        if (t >= next) {
            hist_snapshot(&g_late, &now_c);
            hist_diff(&now_c, &last, &diff);
            last = now_c;
            uint64_t r = atomic_load(&g_recv), s = atomic_load(&g_sent), e = atomic_load(&g_early);
            printf("[%5.1fs] sent %7llu/s  received %7llu/s  lateness p50 %8.2f ms  p99 %8.2f ms  early %llu\n",
                   (double)(t - start) / 1e6, (unsigned long long)(s - last_sent), (unsigned long long)(r - last_recv),
                   ms_of(hist_quantile(&diff, 0.5)), ms_of(hist_quantile(&diff, 0.99)),
                   (unsigned long long)(e - last_early));
            fflush(stdout);
            last_sent = s, last_recv = r, last_early = e;
            next += 1000000;
        }
        usleep(5000);
    }
    atomic_store(o->stop, true);
    if (!joined)
        for (int i = 0; i < nt; i++)
            pthread_join(ts[i], NULL);
    for (int i = 0; i < nt; i++)
        free(ss[i].body);
    free(ts);
    free(ss);
    mq_producer_destroy(p);
    mq_push_consumer_destroy(c);
    hist_counts all;
    hist_snapshot(&g_late, &all);
    uint64_t sent = atomic_load(&g_sent), recv = atomic_load(&g_recv), early = atomic_load(&g_early);
    int64_t maxl = atomic_load(&g_max_late_us);
    double p50 = ms_of(hist_quantile(&all, 0.5)), p99 = ms_of(hist_quantile(&all, 0.99));
    double max_ms = maxl == INT64_MIN ? 0 : (double)maxl / 1000.0;
    printf("delay: sent %llu, received %llu, early %llu, duplicates %llu, send errors %llu\n",
           (unsigned long long)sent, (unsigned long long)recv, (unsigned long long)early,
           (unsigned long long)atomic_load(&g_dups), (unsigned long long)atomic_load(&g_errors));
    printf("delay: lateness p50 %.2f ms, p99 %.2f ms, max %.2f ms (receive time - due time)\n", p50, p99, max_ms);
    double drain_ms = 0, reput_ms = 0;
    if (g_burst_n) {
        int64_t lr = atomic_load(&g_burst_last_recv_us), ls = atomic_load(&g_burst_last_store_ms);
        drain_ms = lr ? (double)(lr - g_burst_due_us) / 1000.0 : -1;
        reput_ms = ls ? (double)(ls * 1000 - g_burst_due_us) / 1000.0 : -1;
        printf("delay: burst of %llu due at one instant: %llu arrived; last re-put %.0f ms and last received "
               "%.0f ms after the due instant\n",
               (unsigned long long)g_burst_n, (unsigned long long)atomic_load(&g_burst_recv), reput_ms, drain_ms);
    }
    if (recv < sent)
        fprintf(stderr, "mqbench: delay: %llu of %llu sent messages were not received in time\n",
                (unsigned long long)(sent - recv), (unsigned long long)sent);
    if (o->json) {
        printf("{\"mode\":\"delay\",\"sent\":%llu,\"received\":%llu,\"early\":%llu,\"duplicates\":%llu,"
               "\"lateness_p50_ms\":%.3f,\"lateness_p99_ms\":%.3f,\"lateness_max_ms\":%.3f,\"pending_parked\":%lld",
               (unsigned long long)sent, (unsigned long long)recv, (unsigned long long)early,
               (unsigned long long)atomic_load(&g_dups), p50, p99, max_ms, (long long)o->pending);
        if (g_burst_n)
            printf(",\"burst\":%llu,\"burst_received\":%llu,\"burst_reput_ms\":%.0f,\"burst_drain_ms\":%.0f",
                   (unsigned long long)g_burst_n, (unsigned long long)atomic_load(&g_burst_recv), reput_ms, drain_ms);
        printf("}\n");
    }
    fflush(stdout);
    free(g_seen);
    return early > 0 ? 3 : 0;
}
