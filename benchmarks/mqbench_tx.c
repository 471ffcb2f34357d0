/*
 * mqbench_tx.c - `mqbench tx`: -w threads send transactional messages
 * through one mq_transaction_producer; execute commits, rolls back
 * (--rollback-ratio) or answers UNKNOWN (--unknown-ratio), and the check
 * callback resolves an UNKNOWN transaction when the broker checks back
 * (every other one to commit, the rest to rollback). A push consumer of a
 * fresh group reads the topic from the start of the run.
 *
 * Every transaction has a sequence number, carried in its body after the
 * run id, and one ledger entry: its decided state (written by execute or
 * by the first check) and how often it was received. At the end:
 *   mismatches = received although rolled back or never decided
 *              + committed but never received
 *              + received more than once
 * and "unresolved" = UNKNOWN transactions no check-back resolved within
 * --wait seconds. The exit code is 0 only with no mismatch, nothing
 * unresolved and no failed send. tps counts transactions (half send + execute + END) over the
 * sending phase; latency is one mq_transaction_producer_send call.
 *
 * Threads: the senders (execute runs there), the producer's check threads
 * (check), the consumer's threads (listener) and the main thread
 * (reporting). The ledger is lock-free: per entry one atomic state byte
 * and one atomic receive counter, in chunks allocated on first use.
 */
#define _GNU_SOURCE
#include "mqbench_tx.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "histogram.h"
#include "mq/consumer.h"
#include "mq/transaction.h"

#define TX_MAGIC "MQTX"
#define TX_HEAD 20 /* magic 4 + run id 8 + sequence 8 */
#define CHUNK_BITS 16
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 16384 /* 2^30 transactions */

/* Ledger states. */
enum {
    TX_SENDING = 0,     /* not stored yet, or execute still running */
    TX_COMMIT = 1,      /* execute committed */
    TX_ROLLBACK = 2,    /* execute rolled back */
    TX_UNKNOWN = 3,     /* execute left it to the check */
    TX_CHK_COMMIT = 4,  /* a check committed it */
    TX_CHK_ROLLBACK = 5,/* a check rolled it back */
    TX_FAILED = 6,      /* the half send failed */
};

typedef struct entry {
    _Atomic uint8_t state;
    _Atomic uint8_t received; /* saturates at 255 */
} entry;

static const mqbench_tx_opts *o;
static uint64_t run_id;
static _Atomic(entry *) chunks[MAX_CHUNKS];
static atomic_uint_fast64_t next_seq;
static atomic_int_fast64_t remaining;
static hist lat;
static atomic_uint_fast64_t n_sent, n_commit, n_rollback, n_unknown, n_errors;
static atomic_uint_fast64_t n_checked, n_check_calls, n_check_commit, n_check_rollback;
static atomic_uint_fast64_t n_received, n_foreign;
static atomic_bool senders_done;

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static bool stopping(void) { return atomic_load(o->stop); }

/* The entry of seq, its chunk allocated on first use (any thread). */
static entry *ledger(uint64_t seq, bool create)
{
    uint64_t c = seq >> CHUNK_BITS;
    if (c >= MAX_CHUNKS)
        return NULL;
    entry *ch = atomic_load(&chunks[c]);
    if (!ch && create) {
        entry *fresh = calloc(CHUNK_SIZE, sizeof *fresh);
        if (!fresh)
            return NULL;
        if (atomic_compare_exchange_strong(&chunks[c], &ch, fresh))
            ch = fresh;
        else
            free(fresh); /* another thread won; ch is its chunk */
    }
    return ch ? &ch[seq & (CHUNK_SIZE - 1)] : NULL;
}

/* Reads run id and sequence from a body; false if it is not this run's. */
static bool parse_body(const void *body, size_t len, uint64_t *seq)
{
    if (len < TX_HEAD || memcmp(body, TX_MAGIC, 4) != 0)
        return false;
    uint64_t rid;
    memcpy(&rid, (const char *)body + 4, 8);
    if (rid != run_id)
        return false;
    memcpy(seq, (const char *)body + 12, 8);
    return *seq < atomic_load(&next_seq);
}

/* ---- the listener ---- */

typedef struct tx_choice {
    uint64_t seq;
    mq_transaction_state state;
} tx_choice;

static mq_transaction_state on_execute(const mq_message *msg, const char *txid, void *send_arg, void *arg)
{
    (void)msg;
    (void)txid;
    (void)arg;
    const tx_choice *c = send_arg;
    entry *e = ledger(c->seq, true);
    uint8_t st = c->state == MQ_TRANSACTION_COMMIT ? TX_COMMIT : c->state == MQ_TRANSACTION_ROLLBACK ? TX_ROLLBACK
                                                                                                     : TX_UNKNOWN;
    /* A check may already have decided it (it only does so for UNKNOWN:
     * here the entry is still SENDING, so the check answered UNKNOWN). */
    atomic_store(&e->state, st);
    return c->state;
}

static mq_transaction_state on_check(const mq_message_ext *msg, void *arg)
{
    (void)arg;
    atomic_fetch_add(&n_check_calls, 1);
    size_t len;
    const void *body = mq_message_ext_body(msg, &len);
    uint64_t seq;
    if (!parse_body(body, len, &seq))
        return MQ_TRANSACTION_UNKNOWN; /* not ours to decide */
    entry *e = ledger(seq, true);
    if (!e)
        return MQ_TRANSACTION_UNKNOWN;
    uint8_t st = atomic_load(&e->state);
    if (st == TX_UNKNOWN) {
        /* Decide once: half of them commit. */
        uint8_t want = seq % 2 == 0 ? TX_CHK_COMMIT : TX_CHK_ROLLBACK;
        if (atomic_compare_exchange_strong(&e->state, &st, want)) {
            atomic_fetch_add(&n_checked, 1);
            atomic_fetch_add(want == TX_CHK_COMMIT ? &n_check_commit : &n_check_rollback, 1);
            st = want;
        }
    }
    switch (st) {
    case TX_COMMIT:
    case TX_CHK_COMMIT: return MQ_TRANSACTION_COMMIT;
    case TX_ROLLBACK:
    case TX_CHK_ROLLBACK:
    case TX_FAILED: return MQ_TRANSACTION_ROLLBACK; /* a send that failed may still have stored it */
    default: return MQ_TRANSACTION_UNKNOWN;          /* execute has not returned yet */
    }
}

/* ---- senders ---- */

typedef struct tx_sender {
    mq_transaction_producer *tp;
    uint64_t rng;
    int index;
} tx_sender;

static double next_uniform(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / (double)(1ull << 53);
}

static void *sender_main(void *arg)
{
    tx_sender *s = arg;
    char *body = malloc((size_t)o->size);
    for (int k = 0; k < o->size; k++)
        body[k] = (char)('a' + (k + s->index) % 26);
    memcpy(body, TX_MAGIC, 4);
    memcpy(body + 4, &run_id, 8);
    mq_message *m = mq_message_new(o->topic);
    mq_message_set_body_ref(m, body, (size_t)o->size, NULL);
    while (!stopping() && !atomic_load(&senders_done)) {
        if (o->count > 0 && atomic_fetch_sub(&remaining, 1) <= 0)
            break;
        tx_choice c;
        c.seq = atomic_fetch_add(&next_seq, 1);
        if (!ledger(c.seq, true))
            break; /* ledger full */
        double u = next_uniform(&s->rng);
        c.state = u < o->unknown_ratio                      ? MQ_TRANSACTION_UNKNOWN
                  : u < o->unknown_ratio + o->rollback_ratio ? MQ_TRANSACTION_ROLLBACK
                                                             : MQ_TRANSACTION_COMMIT;
        memcpy(body + 12, &c.seq, 8);
        mq_transaction_send_result r;
        mq_error err = {0};
        int64_t t0 = mono_us();
        if (mq_transaction_producer_send(s->tp, m, &c, &r, &err) != MQ_OK) {
            atomic_store(&ledger(c.seq, false)->state, TX_FAILED);
            uint64_t n = atomic_fetch_add(&n_errors, 1) + 1;
            if (n == 1 || n % 1000 == 0)
                fprintf(stderr, "mqbench: tx error (%llu so far): %s\n", (unsigned long long)n, err.message);
            continue;
        }
        hist_record(&lat, (uint64_t)(mono_us() - t0));
        atomic_fetch_add(&n_sent, 1);
        atomic_fetch_add(r.state == MQ_TRANSACTION_COMMIT     ? &n_commit
                         : r.state == MQ_TRANSACTION_ROLLBACK ? &n_rollback
                                                              : &n_unknown,
                         1);
        if (!r.executed) /* rolled back without execute (flush not confirmed) */
            atomic_store(&ledger(c.seq, false)->state, TX_ROLLBACK);
    }
    mq_message_destroy(m);
    free(body);
    return NULL;
}

/* ---- consumer ---- */

static mq_consume_status on_consume(const mq_message_ext *const *msgs, int n, void *arg)
{
    (void)arg;
    for (int i = 0; i < n; i++) {
        size_t len;
        const void *body = mq_message_ext_body(msgs[i], &len);
        uint64_t seq;
        entry *e;
        if (!parse_body(body, len, &seq) || !(e = ledger(seq, false))) {
            atomic_fetch_add(&n_foreign, 1);
            continue;
        }
        uint8_t r = atomic_load(&e->received);
        while (r < 255 && !atomic_compare_exchange_weak(&e->received, &r, (uint8_t)(r + 1)))
            ;
        atomic_fetch_add(&n_received, 1);
    }
    return MQ_CONSUME_SUCCESS;
}

/* ---- the verdict ---- */

typedef struct verdict {
    uint64_t received_rolled_back, received_undecided, committed_missing, duplicates, unresolved, committed_total;
} verdict;

static void judge(verdict *v)
{
    memset(v, 0, sizeof *v);
    uint64_t n = atomic_load(&next_seq);
    for (uint64_t seq = 0; seq < n; seq++) {
        entry *e = ledger(seq, false);
        if (!e)
            continue;
        uint8_t st = atomic_load(&e->state), r = atomic_load(&e->received);
        switch (st) {
        case TX_COMMIT:
        case TX_CHK_COMMIT:
            v->committed_total++;
            if (r == 0)
                v->committed_missing++;
            else if (r > 1)
                v->duplicates++;
            break;
        case TX_ROLLBACK:
        case TX_CHK_ROLLBACK:
            if (r)
                v->received_rolled_back++;
            break;
        case TX_UNKNOWN:
            v->unresolved++;
            if (r)
                v->received_undecided++;
            break;
        default:
            if (r)
                v->received_undecided++;
            break;
        }
    }
}

/* Everything decided arrived and no UNKNOWN is left (the wait can end). */
static bool settled(void)
{
    verdict v;
    judge(&v);
    return v.unresolved == 0 && v.committed_missing == 0;
}

static void tick(int64_t start, int64_t *last_t, uint64_t *last_sent, hist_counts *last_h)
{
    int64_t now = mono_us();
    hist_counts cur, d;
    hist_snapshot(&lat, &cur);
    hist_diff(&cur, last_h, &d);
    uint64_t sent = atomic_load(&n_sent);
    double dt = (double)(now - *last_t) / 1e6;
    printf("[%5.0fs] %8.0f tx/s  p50 %7.3f ms  p99 %7.3f ms  sent %llu  committed %llu  rolled_back %llu  "
           "unknown %llu  checked %llu  received %llu  errors %llu\n",
           (double)(now - start) / 1e6, dt > 0 ? (double)(sent - *last_sent) / dt : 0.0,
           hist_quantile(&d, 0.5) / 1000.0, hist_quantile(&d, 0.99) / 1000.0, (unsigned long long)sent,
           (unsigned long long)atomic_load(&n_commit), (unsigned long long)atomic_load(&n_rollback),
           (unsigned long long)atomic_load(&n_unknown), (unsigned long long)atomic_load(&n_checked),
           (unsigned long long)atomic_load(&n_received), (unsigned long long)atomic_load(&n_errors));
    fflush(stdout);
    *last_t = now;
    *last_sent = sent;
    *last_h = cur;
}

int mqbench_tx_run(const mqbench_tx_opts *opts)
{
    o = opts;
    if (o->size < TX_HEAD || o->rollback_ratio < 0 || o->unknown_ratio < 0 ||
        o->rollback_ratio + o->unknown_ratio > 1.0 || o->wait < 0) {
        fprintf(stderr, "mqbench: tx: -s >= %d, ratios >= 0 with rollback + unknown <= 1, --wait >= 0\n", TX_HEAD);
        return 2;
    }
    run_id = ((uint64_t)getpid() << 32) ^ (uint64_t)mono_us() ^ (uint64_t)time(NULL);
    atomic_store(&remaining, o->count);
    char group[64], cgroup[64];
    snprintf(group, sizeof group, "mqbench_tx_%d", (int)getpid());
    snprintf(cgroup, sizeof cgroup, "mqbench_tx_consumer_%d", (int)getpid());

    /* The consumer first: a fresh group from this moment on. */
    mq_push_consumer_options co;
    mq_push_consumer_options_init(&co);
    co.consume_from = MQ_CONSUME_FROM_TIMESTAMP;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    co.consume_timestamp_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 - 1000;
    co.consume_thread_count = 4;
    mq_push_consumer *c = NULL;
    mq_error err = {0};
    if (mq_push_consumer_new(cgroup, o->namesrv, &co, &c, &err) != MQ_OK ||
        mq_push_consumer_subscribe(c, o->topic, "*", &err) != MQ_OK) {
        fprintf(stderr, "mqbench: tx consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }
    mq_push_consumer_set_listener(c, on_consume, NULL);
    if (mq_push_consumer_start(c, &err) != MQ_OK) {
        fprintf(stderr, "mqbench: tx consumer: %s\n", err.message);
        mq_push_consumer_destroy(c);
        return 1;
    }

    mq_transaction_producer_options po;
    mq_transaction_producer_options_init(&po);
    po.check_thread_count = 2;
    mq_transaction_listener l = {on_execute, on_check, NULL};
    mq_transaction_producer *tp = NULL;
    if (mq_transaction_producer_new(group, o->namesrv, &po, &l, &tp, &err) != MQ_OK ||
        mq_transaction_producer_start(tp, &err) != MQ_OK) {
        fprintf(stderr, "mqbench: tx producer: %s\n", err.message);
        mq_transaction_producer_destroy(tp);
        mq_push_consumer_destroy(c);
        return 1;
    }

    int64_t start = mono_us(), last_t = start;
    uint64_t last_sent = 0;
    hist_counts last_h;
    memset(&last_h, 0, sizeof last_h);
    tx_sender *ss = calloc((size_t)o->threads, sizeof *ss);
    pthread_t *ts = calloc((size_t)o->threads, sizeof *ts);
    for (int i = 0; i < o->threads; i++) {
        ss[i].tp = tp;
        ss[i].index = i;
        ss[i].rng = run_id * 2654435761u + (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
        pthread_create(&ts[i], NULL, sender_main, &ss[i]);
    }
    int64_t end = o->duration > 0 ? start + (int64_t)(o->duration * 1e6) : INT64_MAX;
    int64_t next = start + 1000000;
    while (!stopping() && mono_us() < end && !(o->count > 0 && atomic_load(&remaining) <= 0)) {
        if (mono_us() >= next) {
            tick(start, &last_t, &last_sent, &last_h);
            next += 1000000;
        }
        usleep(10000);
    }
    atomic_store(&senders_done, true);
    for (int i = 0; i < o->threads; i++)
        pthread_join(ts[i], NULL);
    double send_secs = (double)(mono_us() - start) / 1e6;
    free(ts);
    free(ss);

    /* Wait for check-backs and deliveries. */
    int64_t wait_end = mono_us() + (int64_t)(o->wait * 1e6);
    while (!stopping() && mono_us() < wait_end && !settled()) {
        if (mono_us() >= next) {
            tick(start, &last_t, &last_sent, &last_h);
            next += 1000000;
        }
        usleep(20000);
    }
    /* A short quiet period so that a late duplicate or a late delivery of
     * something rolled back would still be seen. */
    int64_t quiet_end = mono_us() + 1000000;
    while (!stopping() && mono_us() < quiet_end)
        usleep(20000);
    mq_transaction_stats tst;
    mq_transaction_producer_stats(tp, &tst);
    mq_transaction_producer_destroy(tp);
    mq_push_consumer_destroy(c);
    tick(start, &last_t, &last_sent, &last_h);

    verdict v;
    judge(&v);
    uint64_t mismatches = v.received_rolled_back + v.received_undecided + v.committed_missing + v.duplicates;
    uint64_t sent = atomic_load(&n_sent);
    bool pass = mismatches == 0 && v.unresolved == 0 && sent > 0 && atomic_load(&n_errors) == 0;
    double tps = send_secs > 0 ? (double)sent / send_secs : 0;
    hist_counts all;
    hist_snapshot(&lat, &all);
    uint64_t committed = atomic_load(&n_commit) + atomic_load(&n_check_commit);
    uint64_t rolled_back = atomic_load(&n_rollback) + atomic_load(&n_check_rollback);
    printf("summary: tx %llu transactions in %.2f s: %.0f tx/s, latency p50 %.3f ms p99 %.3f ms; committed %llu "
           "(%llu by check), rolled_back %llu (%llu by check), checked %llu (check calls %llu), received %llu, "
           "unresolved %llu, errors %llu\n",
           (unsigned long long)sent, send_secs, tps, hist_quantile(&all, 0.5) / 1000.0,
           hist_quantile(&all, 0.99) / 1000.0, (unsigned long long)committed,
           (unsigned long long)atomic_load(&n_check_commit), (unsigned long long)rolled_back,
           (unsigned long long)atomic_load(&n_check_rollback), (unsigned long long)atomic_load(&n_checked),
           (unsigned long long)atomic_load(&n_check_calls), (unsigned long long)atomic_load(&n_received),
           (unsigned long long)v.unresolved, (unsigned long long)atomic_load(&n_errors));
    printf("mismatches: %llu (received but rolled back %llu, received but undecided %llu, committed never "
           "received %llu, duplicates %llu)%s\n",
           (unsigned long long)mismatches, (unsigned long long)v.received_rolled_back,
           (unsigned long long)v.received_undecided, (unsigned long long)v.committed_missing,
           (unsigned long long)v.duplicates,
           pass ? ": PASS" : sent == 0 || atomic_load(&n_errors) ? ": FAIL (failed sends)" : ": FAIL");
    if (tst.end_failures || tst.checks_dropped)
        printf("producer: %llu END_TRANSACTION failures, %llu check requests dropped\n",
               (unsigned long long)tst.end_failures, (unsigned long long)tst.checks_dropped);
    if (o->json)
        printf("{\"mode\":\"tx\",\"sent\":%llu,\"committed\":%llu,\"rolled_back\":%llu,\"unknown\":%llu,"
               "\"checked\":%llu,\"check_calls\":%llu,\"received\":%llu,\"mismatches\":%llu,"
               "\"received_rolled_back\":%llu,\"received_undecided\":%llu,\"committed_missing\":%llu,"
               "\"duplicates\":%llu,\"unresolved\":%llu,\"errors\":%llu,\"tps\":%.1f,\"seconds\":%.3f,"
               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"size\":%d,\"threads\":%d}\n",
               (unsigned long long)sent, (unsigned long long)committed, (unsigned long long)rolled_back,
               (unsigned long long)atomic_load(&n_unknown), (unsigned long long)atomic_load(&n_checked),
               (unsigned long long)atomic_load(&n_check_calls), (unsigned long long)atomic_load(&n_received),
               (unsigned long long)mismatches, (unsigned long long)v.received_rolled_back,
               (unsigned long long)v.received_undecided, (unsigned long long)v.committed_missing,
               (unsigned long long)v.duplicates, (unsigned long long)v.unresolved,
               (unsigned long long)atomic_load(&n_errors), tps, send_secs, hist_quantile(&all, 0.5) / 1000.0,
               hist_quantile(&all, 0.99) / 1000.0, o->size, o->threads);
    fflush(stdout);
    for (size_t i = 0; i < MAX_CHUNKS; i++)
        free(atomic_load(&chunks[i]));
    return pass ? 0 : 1;
}
