/*
 * store_bench.c - in-process benchmark of the message store (not a test).
 *
 *   store_bench [--dir DIR] [--runs 3] [--bytes 1073741824] [--size 1024]
 *               [--sync-seconds 3] [--only append|sync|read|latency|recovery]
 *
 * Workloads, each run --runs times on a fresh store, median reported:
 *   append    ASYNC_FLUSH, one writer, --size byte bodies, --bytes in total,
 *             1 GiB segments: put throughput, and throughput until the last
 *             byte is flushed (comparable with dd conv=fdatasync).
 *   sync      SYNC_FLUSH, 1 / 8 / 64 writer threads for --sync-seconds each:
 *             throughput, messages per fsync, put latency p50 / p99.
 *   read      the append data read back through the ConsumeQueues (8 queues,
 *             32 records per pull, every record copied out as a socket write
 *             would): throughput with a warm page cache.
 *   latency   one writer at 5,000 msgs/s for --sync-seconds: time from the
 *             start of a put to the dispatcher's arrival notification for it
 *             (what wakes a long-polling pull): p50 / p99 / p99.9 / max.
 *   recovery  store_crash_child (next to this binary) appends ~--bytes with
 *             ASYNC_FLUSH and is SIGKILLed; then the timed reopen: crash
 *             recovery from the checkpoint, and with the checkpoint deleted
 *             (every record verified), reported per GiB.
 * Output: one line per measurement, then a summary table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "message.h"
#include "store.h"
#include "util.h"
#include "process.h"

extern char **environ;

static struct {
    char dir[512];
    int runs;
    int64_t bytes;
    int size;
    int sync_seconds;
    const char *only;
    char self_dir[512];
} opt = {.runs = 3, .bytes = 1LL << 30, .size = 1024, .sync_seconds = 3};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void rm_rf(const char *path)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "store_bench: cannot remove %s\n", path);
}

static store *open_bench_store(const char *root, store_flush_disk_type type)
{
    store_config c;
    store_config_init(&c);
    str_copy(c.store_path_root_dir, sizeof c.store_path_root_dir, root);
    c.flush_disk_type = type;
    store *s;
    char err[256];
    if (store_open(&c, &s, err, sizeof err) != 0) {
        fprintf(stderr, "store_bench: %s\n", err);
        exit(1);
    }
    return s;
}

typedef struct bench_msg {
    char topic[32];
    uint8_t *body;
    bytebuf props;
} bench_msg;

static void bench_msg_init(bench_msg *m, int size)
{
    snprintf(m->topic, sizeof m->topic, "BenchTopic");
    m->body = xmalloc((size_t)size);
    for (int i = 0; i < size; i++)
        m->body[i] = (uint8_t)('a' + i % 26);
    bytebuf_init(&m->props);
}

/* A message like a producer's: a unique id and a tag (index + tag hash work). */
static msg_record bench_record(bench_msg *m, int size, int qid)
{
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    bytebuf_clear(&m->props);
    msg_prop_append(&m->props, MSG_PROP_UNIQ_KEY, uniq);
    msg_prop_append(&m->props, MSG_PROP_TAGS, "TagA");
    msg_record r;
    memset(&r, 0, sizeof r);
    r.topic = m->topic;
    r.topic_len = (uint32_t)strlen(m->topic);
    r.queue_id = qid;
    r.body = m->body;
    r.body_len = (uint32_t)size;
    r.properties = (const char *)m->props.data;
    r.properties_len = (uint32_t)m->props.len;
    r.born_timestamp = now_ms();
    msg_host_set(&r.born_host, "127.0.0.1", 40000);
    return r;
}

static void bench_msg_free(bench_msg *m)
{
    free(m->body);
    bytebuf_free(&m->props);
}

/* ---- append + read ---------------------------------------------------------- */

typedef struct append_result {
    double put_mbs, put_msgs, durable_mbs, dispatch_lag_ms;
    double read_mbs, read_msgs;
} append_result;

static void run_append(int run, append_result *out, bool do_read)
{
    char root[600];
    snprintf(root, sizeof root, "%s/append-%d", opt.dir, run);
    rm_rf(root);
    store *s = open_bench_store(root, STORE_ASYNC_FLUSH);
    bench_msg m;
    bench_msg_init(&m, opt.size);
    int64_t n = 0, bytes = 0;
    int64_t t0 = mono_us();
    while (bytes < opt.bytes) {
        msg_record r = bench_record(&m, opt.size, (int)(n % 8));
        store_put_result res;
        if (store_put(s, &r, &res) != 0) {
            fprintf(stderr, "put failed: %s\n", res.remark);
            exit(1);
        }
        bytes += res.wrote_bytes;
        n++;
    }
    int64_t t1 = mono_us();
    int64_t end = store_commitlog_max_offset(s);
    while (store_dispatched_offset(s) < end)
        sleep_ms(1);
    int64_t t2 = mono_us();
    store_wait_flushed_blocking(s, end);
    int64_t t3 = mono_us();
    out->put_mbs = bytes / 1048576.0 / ((t1 - t0) / 1e6);
    out->put_msgs = n / ((t1 - t0) / 1e6);
    out->durable_mbs = bytes / 1048576.0 / ((t3 - t0) / 1e6);
    out->dispatch_lag_ms = (t2 - t1) / 1000.0;
    printf("append run %d: %lld msgs, %.0f MB in %.2f s: %.0f msgs/s, %.1f MB/s put; "
           "%.1f MB/s until flushed; dispatch done %.1f ms after the last put\n",
           run, (long long)n, bytes / 1e6, (t1 - t0) / 1e6, out->put_msgs, out->put_mbs,
           out->durable_mbs, out->dispatch_lag_ms);
    if (do_read) {
        enum { BATCH = 32 };
        store_record_ref refs[BATCH];
        uint8_t *sink = xmalloc(256 * 1024);
        int64_t got = 0, got_bytes = 0;
        int64_t r0 = mono_us();
        for (int q = 0; q < 8; q++) {
            int64_t off = 0;
            for (;;) {
                store_get_request req = {.topic = "BenchTopic", .queue_id = q, .offset = off,
                                         .max_count = BATCH};
                store_get_result res;
                store_get_messages(s, &req, refs, &res);
                if (res.count == 0)
                    break;
                size_t pos = 0;
                for (int i = 0; i < res.count; i++) { /* the copy a socket write makes */
                    memcpy(sink + pos, refs[i].data, refs[i].size);
                    pos += refs[i].size;
                    got_bytes += refs[i].size;
                }
                got += res.count;
                off = res.next_begin_offset;
                store_pin_release(&res.pin);
            }
        }
        int64_t r1 = mono_us();
        free(sink);
        out->read_msgs = got / ((r1 - r0) / 1e6);
        out->read_mbs = got_bytes / 1048576.0 / ((r1 - r0) / 1e6);
        printf("read   run %d: %lld msgs through 8 ConsumeQueues in %.2f s: %.0f msgs/s, %.1f MB/s\n",
               run, (long long)got, (r1 - r0) / 1e6, out->read_msgs, out->read_mbs);
        if (got != n)
            printf("read   run %d: WARNING read %lld of %lld messages\n", run, (long long)got,
                   (long long)n);
    }
    store_close(s);
    bench_msg_free(&m);
    rm_rf(root);
}

/* ---- sync flush --------------------------------------------------------------- */

typedef struct sync_worker {
    store *s;
    int id;
    atomic_bool *stop;
    int64_t count;
    int64_t *lat_us;
    int64_t lat_cap;
} sync_worker;

static void *sync_main(void *arg)
{
    sync_worker *w = arg;
    bench_msg m;
    bench_msg_init(&m, opt.size);
    while (!atomic_load(w->stop)) {
        msg_record r = bench_record(&m, opt.size, w->id % 8);
        store_put_result res;
        int64_t t0 = mono_us();
        if (store_put_wait(w->s, &r, &res) != 0) {
            fprintf(stderr, "sync put failed: %s\n", res.remark);
            break;
        }
        if (w->count < w->lat_cap)
            w->lat_us[w->count] = mono_us() - t0;
        w->count++;
    }
    bench_msg_free(&m);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct sync_result {
    double msgs, mbs, per_fsync, p50_us, p99_us;
} sync_result;

static void run_sync(int run, int threads, sync_result *out)
{
    char root[600];
    snprintf(root, sizeof root, "%s/sync-%d-%d", opt.dir, threads, run);
    rm_rf(root);
    store *s = open_bench_store(root, STORE_SYNC_FLUSH);
    atomic_bool stop = false;
    sync_worker *w = xcalloc((size_t)threads, sizeof *w);
    pthread_t *th = xcalloc((size_t)threads, sizeof *th);
    int64_t cap = 2000000 / threads;
    store_stats before;
    store_get_stats(s, &before);
    int64_t t0 = mono_us();
    for (int i = 0; i < threads; i++) {
        w[i] = (sync_worker){.s = s, .id = i, .stop = &stop, .lat_cap = cap};
        w[i].lat_us = xmalloc((size_t)cap * sizeof(int64_t));
        pthread_create(&th[i], NULL, sync_main, &w[i]);
    }
    sleep_ms(opt.sync_seconds * 1000);
    atomic_store(&stop, true);
    int64_t total = 0, nlat = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].count;
        nlat += MQ_MIN(w[i].count, cap);
    }
    int64_t t1 = mono_us();
    store_stats after;
    store_get_stats(s, &after);
    int64_t *all = xmalloc((size_t)(nlat ? nlat : 1) * sizeof *all);
    int64_t k = 0;
    for (int i = 0; i < threads; i++) {
        int64_t c = MQ_MIN(w[i].count, cap);
        memcpy(all + k, w[i].lat_us, (size_t)c * sizeof *all);
        k += c;
        free(w[i].lat_us);
    }
    qsort(all, (size_t)nlat, sizeof *all, cmp_i64);
    double secs = (t1 - t0) / 1e6;
    int64_t fsyncs = after.fsync_count - before.fsync_count;
    int64_t synced = after.fsync_msgs - before.fsync_msgs;
    out->msgs = total / secs;
    out->mbs = (double)(after.put_bytes - before.put_bytes) / 1048576.0 / secs;
    out->per_fsync = fsyncs ? (double)synced / (double)fsyncs : 0;
    out->p50_us = nlat ? (double)all[nlat / 2] : 0;
    out->p99_us = nlat ? (double)all[nlat * 99 / 100] : 0;
    printf("sync   run %d, %2d writers: %lld msgs in %.2f s: %.0f msgs/s, %.1f MB/s, %lld fsyncs, "
           "%.1f msgs/fsync, put latency p50 %.0f us p99 %.0f us\n",
           run, threads, (long long)total, secs, out->msgs, out->mbs, (long long)fsyncs,
           out->per_fsync, out->p50_us, out->p99_us);
    free(all);
    free(w);
    free(th);
    store_close(s);
    rm_rf(root);
}

/* ---- recovery ----------------------------------------------------------------- */

typedef struct recovery_result {
    double redo_ms, full_ms, full_gib, full_ms_per_gib;
} recovery_result;

static void run_recovery(int run, recovery_result *out)
{
    char root[600], child[1100], seg[32], size[16], rnd[16];
    snprintf(root, sizeof root, "%s/recovery-%d", opt.dir, run);
    rm_rf(root);
    snprintf(child, sizeof child, "%s/store_crash_child", opt.self_dir);
    snprintf(seg, sizeof seg, "%d", 1 << 30);
    snprintf(size, sizeof size, "%d", opt.size);
    snprintf(rnd, sizeof rnd, "%d", run);
    char *argv[] = {child, "--dir", root, "--flush", "async", "--seg", seg, "--threads", "1",
                    "--body-min", size, "--body-max", size, "--round", rnd, "--quiet",
                    "--progress-ms", "50", "--cq-entries", "300000", NULL};
    int p[2];
    if (pipe(p) != 0)
        exit(1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    pid_t pid;
    if (posix_spawn(&pid, child, &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "store_bench: cannot start %s: %s\n", child, strerror(errno));
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    /* The child reports its CommitLog end every 50 ms: kill it mid-write
     * once the log holds --bytes. */
    FILE *in = fdopen(p[0], "r");
    char line[128];
    long long pos = 0;
    while (fgets(line, sizeof line, in)) {
        if (sscanf(line, "POS %lld", &pos) == 1 && pos >= opt.bytes)
            break;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fclose(in);
    if (pos < opt.bytes) {
        fprintf(stderr, "store_bench: writer child ended early at %lld bytes\n", pos);
        exit(1);
    }

    log_set_level(LOG_INFO); /* the store logs its recovery phases */
    int64_t r0 = mono_us();
    store *s = open_bench_store(root, STORE_ASYNC_FLUSH);
    int64_t r1 = mono_us();
    int64_t end = store_commitlog_max_offset(s);
    store_close(s);
    /* Crash state again, and no checkpoint: the next open verifies (CRC)
     * and re-dispatches every record of the log. */
    char path[800];
    snprintf(path, sizeof path, "%s/abort", root);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/checkpoint", root);
    unlink(path);
    int64_t r2 = mono_us();
    s = open_bench_store(root, STORE_ASYNC_FLUSH);
    int64_t r3 = mono_us();
    store_close(s);
    log_set_level(LOG_WARN);
    out->redo_ms = (r1 - r0) / 1000.0;
    out->full_ms = (r3 - r2) / 1000.0;
    out->full_gib = end / (double)(1LL << 30);
    out->full_ms_per_gib = out->full_ms / out->full_gib;
    printf("recovery run %d: log %.2f GiB; reopen after SIGKILL %.0f ms (redo from checkpoint); "
           "reopen without checkpoint %.0f ms = %.0f ms per GiB verified\n",
           run, out->full_gib, out->redo_ms, out->full_ms, out->full_ms_per_gib);
    rm_rf(root);
}

/* ---- dispatch latency ----------------------------------------------------------- */

typedef struct latency_state {
    int64_t *put_ns;    /* by queue offset: when the put started */
    int64_t *seen_ns;   /* by queue offset: when the arrival listener saw it */
    int64_t n;
    _Atomic int64_t seen; /* next offset not yet seen */
    int64_t max_put_ns;
} latency_state;

static void on_arrival(void *arg, const char *topic, int32_t qid, int64_t max)
{
    (void)topic, (void)qid;
    latency_state *l = arg;
    int64_t now = mono_ns();
    int64_t from = atomic_load(&l->seen);
    for (int64_t o = from; o < max && o < l->n; o++)
        l->seen_ns[o] = now;
    if (max > from)
        atomic_store(&l->seen, max);
}

typedef struct latency_result {
    double p50_us, p99_us, p999_us, max_us;
} latency_result;

/* One writer at 5,000 msgs/s (ASYNC_FLUSH): time from the start of a put
 * to the arrival notification of its queue (what wakes a held pull). */
static void run_latency(int run, latency_result *out)
{
    char root[600];
    snprintf(root, sizeof root, "%s/latency-%d", opt.dir, run);
    rm_rf(root);
    store *s = open_bench_store(root, STORE_ASYNC_FLUSH);
    latency_state l = {0};
    l.n = 5000LL * opt.sync_seconds;
    l.put_ns = xcalloc((size_t)l.n, sizeof(int64_t));
    l.seen_ns = xcalloc((size_t)l.n, sizeof(int64_t));
    store_set_arrival_listener(s, on_arrival, &l);
    bench_msg m;
    bench_msg_init(&m, opt.size);
    snprintf(m.topic, sizeof m.topic, "LatencyTopic");
    int64_t start = mono_ns();
    for (int64_t i = 0; i < l.n; i++) {
        int64_t due = start + i * 200000; /* 200 us apart */
        int64_t now;
        while ((now = mono_ns()) < due) {
            if (due - now > 60000)
                sleep_ms(0), usleep((useconds_t)((due - now) / 1000 - 50));
        }
        msg_record r = bench_record(&m, opt.size, 0);
        l.put_ns[i] = mono_ns();
        store_put_result res;
        store_put(s, &r, &res);
        int64_t took = mono_ns() - l.put_ns[i];
        if (took > l.max_put_ns)
            l.max_put_ns = took;
    }
    while (atomic_load(&l.seen) < l.n)
        sleep_ms(1);
    store_set_arrival_listener(s, NULL, NULL);
    int64_t *lat = xmalloc((size_t)l.n * sizeof *lat);
    for (int64_t i = 0; i < l.n; i++)
        lat[i] = l.seen_ns[i] - l.put_ns[i];
    qsort(lat, (size_t)l.n, sizeof *lat, cmp_i64);
    out->p50_us = lat[l.n / 2] / 1000.0;
    out->p99_us = lat[l.n * 99 / 100] / 1000.0;
    out->p999_us = lat[l.n * 999 / 1000] / 1000.0;
    out->max_us = lat[l.n - 1] / 1000.0;
    printf("latency run %d: %lld msgs at 5000/s, put start -> arrival notification: p50 %.0f us, "
           "p99 %.0f us, p99.9 %.0f us, max %.0f us\n",
           run, (long long)l.n, out->p50_us, out->p99_us, out->p999_us, out->max_us);
    printf("latency run %d: slowest put call %.0f us\n", run, l.max_put_ns / 1000.0);
    free(lat);
    free(l.put_ns);
    free(l.seen_ns);
    bench_msg_free(&m);
    store_close(s);
    rm_rf(root);
}

int main(int argc, char **argv)
{
    if (process_version_asked("store_bench", argc, argv))
        return 0;
    static const struct option longs[] = {
        {"dir", 1, 0, 'd'},  {"runs", 1, 0, 'r'},         {"bytes", 1, 0, 'b'},
        {"size", 1, 0, 's'}, {"sync-seconds", 1, 0, 'S'}, {"only", 1, 0, 'o'},
        {0, 0, 0, 0},
    };
    str_copy(opt.dir, sizeof opt.dir, "/tmp/mq-store-bench");
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'd': str_copy(opt.dir, sizeof opt.dir, optarg); break;
        case 'o': opt.only = optarg; break;
        case 'r':
        case 'b':
        case 's':
        case 'S':
            if (parse_int64(optarg, 1, INT64_MAX, &v) != 0) {
                fprintf(stderr, "bad value for --%s\n", longs[0].name);
                return 2;
            }
            if (c == 'r')
                opt.runs = (int)v;
            else if (c == 'b')
                opt.bytes = v;
            else if (c == 's')
                opt.size = (int)v;
            else
                opt.sync_seconds = (int)v;
            break;
        default:
            fprintf(stderr, "usage: store_bench [--dir DIR] [--runs N] [--bytes N] [--size N] "
                            "[--sync-seconds N] [--only append|sync|read|latency|recovery]\n");
            return 2;
        }
    }
    char self[512];
    str_copy(self, sizeof self, argv[0]);
    str_copy(opt.self_dir, sizeof opt.self_dir, dirname(self));
    log_set_level(LOG_WARN);
    mkdir(opt.dir, 0755);
    bool all = !opt.only;
    int runs = opt.runs;
    double a_put[16], a_msgs[16], a_dur[16], r_mbs[16], r_msgs[16];
    double s_msgs[3][16], s_mbs[3][16], s_pf[3][16], s_p50[3][16], s_p99[3][16];
    double rc_redo[16], rc_full[16], rc_per[16];
    double l50[16], l99[16], l999[16], lmax[16];
    const int writers[3] = {1, 8, 64};
    if (runs > 16)
        runs = 16;
    bool do_append = all || !strcmp(opt.only, "append") || !strcmp(opt.only, "read");
    bool do_read = all || !strcmp(opt.only, "read");
    for (int i = 0; do_append && i < runs; i++) {
        append_result ar = {0};
        run_append(i, &ar, do_read);
        a_put[i] = ar.put_mbs, a_msgs[i] = ar.put_msgs, a_dur[i] = ar.durable_mbs;
        r_mbs[i] = ar.read_mbs, r_msgs[i] = ar.read_msgs;
    }
    bool do_sync = all || !strcmp(opt.only, "sync");
    for (int w = 0; do_sync && w < 3; w++)
        for (int i = 0; i < runs; i++) {
            sync_result sr;
            run_sync(i, writers[w], &sr);
            s_msgs[w][i] = sr.msgs, s_mbs[w][i] = sr.mbs, s_pf[w][i] = sr.per_fsync;
            s_p50[w][i] = sr.p50_us, s_p99[w][i] = sr.p99_us;
        }
    bool do_latency = all || !strcmp(opt.only, "latency");
    for (int i = 0; do_latency && i < runs; i++) {
        latency_result lr;
        run_latency(i, &lr);
        l50[i] = lr.p50_us, l99[i] = lr.p99_us, l999[i] = lr.p999_us, lmax[i] = lr.max_us;
    }
    bool do_recovery = all || !strcmp(opt.only, "recovery");
    for (int i = 0; do_recovery && i < runs; i++) {
        recovery_result rr;
        run_recovery(i, &rr);
        rc_redo[i] = rr.redo_ms, rc_full[i] = rr.full_ms, rc_per[i] = rr.full_ms_per_gib;
    }

    printf("\n== store_bench summary: medians of %d runs, %d-byte bodies, dir %s ==\n", runs,
           opt.size, opt.dir);
    if (do_append)
        printf("append ASYNC_FLUSH, 1 writer:  %.0f msgs/s  %.1f MB/s put  |  %.1f MB/s until "
               "flushed\n",
               median(a_msgs, runs), median(a_put, runs), median(a_dur, runs));
    if (do_read)
        printf("read via ConsumeQueue (warm):  %.0f msgs/s  %.1f MB/s\n", median(r_msgs, runs),
               median(r_mbs, runs));
    for (int w = 0; do_sync && w < 3; w++)
        printf("SYNC_FLUSH %2d writer(s):       %.0f msgs/s  %.1f MB/s  %.1f msgs/fsync  p50 %.0f "
               "us  p99 %.0f us\n",
               writers[w], median(s_msgs[w], runs), median(s_mbs[w], runs), median(s_pf[w], runs),
               median(s_p50[w], runs), median(s_p99[w], runs));
    if (do_latency)
        printf("put -> arrival notification, 5000 msgs/s: p50 %.0f us  p99 %.0f us  p99.9 %.0f us  "
               "max %.0f us\n",
               median(l50, runs), median(l99, runs), median(l999, runs), median(lmax, runs));
    if (do_recovery)
        printf("recovery after SIGKILL:        %.0f ms (checkpoint redo)  |  %.0f ms per GiB "
               "verified without checkpoint (%.0f ms)\n",
               median(rc_redo, runs), median(rc_per, runs), median(rc_full, runs));
    rm_rf(opt.dir);
    return 0;
}
