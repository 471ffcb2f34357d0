/*
 * store_crash_child.c - a writer process for crash tests and benchmarks.
 *
 * Opens a store, appends messages from one or more threads and prints one
 * line per acknowledged put on stdout (a single write(2) per line, so lines
 * from different threads never interleave and survive a SIGKILL of the
 * process once written to the pipe):
 *
 *   ACK <phys> <queue_offset> <topic> <queue_id> <key> <body_len> <wrote_bytes>
 *
 * The body is crash_body_fill(key, body_len); KEYS = key, UNIQ_KEY = a fresh
 * unique id, TAGS = "tag<queue_id>". Under --flush sync a put is acknowledged
 * only once durable (store_put_wait). With --count the process ends after
 * that many acknowledged puts per thread: by _exit() without closing the
 * store (a crash as far as the store can tell), or cleanly with --close.
 * Without --count it runs until killed. --progress-ms N also prints
 * "POS <CommitLog end>" every N ms (benchmarks). Not a test by itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_body.h"
#include "log.h"
#include "message.h"
#include "store.h"
#include "util.h"
#include "process.h"

typedef struct child_opts {
    const char *dir;
    int64_t seg;
    int64_t cq_bytes;
    bool sync;
    int threads;
    int64_t count;
    int topics;
    int queues;
    int body_min, body_max;
    int round;
    bool close;
    bool quiet;
    int progress_ms;
    unsigned seed;
} child_opts;

static child_opts g_opt = {
    .seg = 256 * 1024, .cq_bytes = 1000 * 20, .sync = true, .threads = 4, .count = 0,
    .topics = 3, .queues = 4, .body_min = 10, .body_max = 3000, .round = 0, .seed = 1,
};
static store *g_store;
static atomic_llong g_acked;

static void say(const char *line, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3); /* the reader is gone */
        line += w;
        n -= (size_t)w;
    }
}

static void *writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "writer-%d", t);
    log_set_thread_name(name);
    unsigned rng = g_opt.seed * 7919u + (unsigned)t * 104729u + (unsigned)g_opt.round * 15485863u;
    uint8_t *body = xmalloc((size_t)g_opt.body_max + 1);
    bytebuf props;
    bytebuf_init(&props);
    for (int64_t i = 0; g_opt.count == 0 || i < g_opt.count; i++) {
        char key[64], topic[32], uniq[MSG_ID_BUF], tag[16], line[256];
        snprintf(key, sizeof key, "r%d-t%d-%lld", g_opt.round, t, (long long)i);
        int topic_no = (int)(rand_r(&rng) % (unsigned)g_opt.topics);
        int qid = (int)(rand_r(&rng) % (unsigned)g_opt.queues);
        int len = g_opt.body_min + (int)(rand_r(&rng) % (unsigned)(g_opt.body_max - g_opt.body_min + 1));
        snprintf(topic, sizeof topic, "CrashTopic%d", topic_no);
        snprintf(tag, sizeof tag, "tag%d", qid);
        crash_body_fill(key, body, (size_t)len);
        msg_uniq_id_new(uniq, sizeof uniq);
        bytebuf_clear(&props);
        msg_prop_append(&props, MSG_PROP_KEYS, key);
        msg_prop_append(&props, MSG_PROP_UNIQ_KEY, uniq);
        msg_prop_append(&props, MSG_PROP_TAGS, tag);
        msg_record r;
        memset(&r, 0, sizeof r);
        r.topic = topic;
        r.topic_len = (uint32_t)strlen(topic);
        r.queue_id = qid;
        r.body = body;
        r.body_len = (uint32_t)len;
        r.properties = (const char *)props.data;
        r.properties_len = (uint32_t)props.len;
        r.born_timestamp = now_ms();
        msg_host_set(&r.born_host, "127.0.0.1", 50000 + t);
        store_put_result res;
        int rc = store_put_wait(g_store, &r, &res);
        if (rc != 0) {
            int n = snprintf(line, sizeof line, "FAIL %s %s\n", store_put_status_name(res.status),
                             res.remark);
            say(line, (size_t)n);
            i--; /* retry the same key */
            sleep_ms(5);
            continue;
        }
        if (!g_opt.quiet) {
            int n = snprintf(line, sizeof line, "ACK %lld %lld %s %d %s %d %d\n",
                             (long long)res.physical_offset, (long long)res.queue_offset, topic,
                             qid, key, len, res.wrote_bytes);
            say(line, (size_t)n);
        }
        atomic_fetch_add(&g_acked, 1);
    }
    bytebuf_free(&props);
    free(body);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: store_crash_child --dir DIR [--seg BYTES] [--cq-entries N] [--flush sync|async]\n"
            "       [--threads N] [--count N] [--topics N] [--queues N] [--body-min N]\n"
            "       [--body-max N] [--round N] [--seed N] [--close] [--quiet]\n"
            "       [--progress-ms N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (process_version_asked("store_crash_child", argc, argv))
        return 0;
    static const struct option longs[] = {
        {"dir", 1, 0, 'd'},      {"seg", 1, 0, 's'},      {"cq-entries", 1, 0, 'e'},
        {"flush", 1, 0, 'f'},    {"threads", 1, 0, 't'},  {"count", 1, 0, 'n'},
        {"topics", 1, 0, 'T'},   {"queues", 1, 0, 'Q'},   {"body-min", 1, 0, 'm'},
        {"body-max", 1, 0, 'M'}, {"round", 1, 0, 'r'},    {"seed", 1, 0, 'S'},
        {"close", 0, 0, 'c'},    {"quiet", 0, 0, 'q'},    {"progress-ms", 1, 0, 'p'},
        {0, 0, 0, 0},
    };
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'd') {
            g_opt.dir = optarg;
            continue;
        }
        if (c == 'f') {
            if (strcmp(optarg, "sync") && strcmp(optarg, "async"))
                usage();
            g_opt.sync = strcmp(optarg, "sync") == 0;
            continue;
        }
        if (c == 'c') {
            g_opt.close = true;
            continue;
        }
        if (c == 'q') {
            g_opt.quiet = true;
            continue;
        }
        if (c == '?' || parse_int64(optarg, 0, INT64_MAX, &v) != 0)
            usage();
        switch (c) {
        case 's': g_opt.seg = v; break;
        case 'e': g_opt.cq_bytes = v * 20; break;
        case 't': g_opt.threads = (int)v; break;
        case 'n': g_opt.count = v; break;
        case 'T': g_opt.topics = (int)v; break;
        case 'Q': g_opt.queues = (int)v; break;
        case 'm': g_opt.body_min = (int)v; break;
        case 'M': g_opt.body_max = (int)v; break;
        case 'r': g_opt.round = (int)v; break;
        case 'S': g_opt.seed = (unsigned)v; break;
        case 'p': g_opt.progress_ms = (int)v; break;
        }
    }
    if (!g_opt.dir || g_opt.threads < 1 || g_opt.topics < 1 || g_opt.queues < 1 ||
        g_opt.body_min < 0 || g_opt.body_max < g_opt.body_min)
        usage();
    log_set_level(LOG_WARN);
    store_config cfg;
    store_config_init(&cfg);
    str_copy(cfg.store_path_root_dir, sizeof cfg.store_path_root_dir, g_opt.dir);
    cfg.maped_file_size_commit_log = g_opt.seg;
    cfg.maped_file_size_consume_queue = g_opt.cq_bytes;
    cfg.flush_disk_type = g_opt.sync ? STORE_SYNC_FLUSH : STORE_ASYNC_FLUSH;
    cfg.flush_interval_consume_queue = 100;
    cfg.sync_flush_timeout = 10000;
    char err[256];
    if (store_open(&cfg, &g_store, err, sizeof err) != 0) {
        fprintf(stderr, "store_crash_child: %s\n", err);
        return 1;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "READY %lld\n", (long long)store_commitlog_max_offset(g_store));
    say(line, (size_t)n);
    pthread_t *th = xcalloc((size_t)g_opt.threads, sizeof *th);
    for (int t = 0; t < g_opt.threads; t++)
        pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t);
    if (g_opt.progress_ms > 0 && g_opt.count == 0) {
        for (;;) { /* until killed */
            sleep_ms(g_opt.progress_ms);
            n = snprintf(line, sizeof line, "POS %lld\n",
                         (long long)store_commitlog_max_offset(g_store));
            say(line, (size_t)n);
        }
    }
    for (int t = 0; t < g_opt.threads; t++)
        pthread_join(th[t], NULL);
    free(th);
    if (g_opt.close) {
        store_close(g_store);
        say("CLOSED\n", 7);
        return 0;
    }
    /* Simulated crash: wait until what was written is dispatched, so the
     * test also sees ConsumeQueue and index state to recover, then leave
     * without closing anything. */
    int64_t end = store_commitlog_max_offset(g_store);
    for (int i = 0; i < 5000 && store_dispatched_offset(g_store) < end; i++)
        sleep_ms(1);
    say("EXIT\n", 5);
    _exit(0);
}
