/*
 * redis_bench.c - load generator for Redis Streams, measuring what mqbench
 * measures on our broker (see peer_common.h for the histogram and the
 * output). One hiredis connection per worker thread; every message is one
 * stream entry `XADD <stream> * d <body>` whose body starts with a
 * send stamp.
 *
 *   producer --mode sync    one XADD at a time per connection; latency =
 *                           command to reply.
 *   producer --mode async   pipelined: up to --window XADDs in flight per
 *                           connection (hiredis writes what is queued
 *                           whenever it waits for a reply); latency = the
 *                           moment the command was queued to its reply.
 *   consumer                consumer group -g on the stream (created at 0):
 *                           XREADGROUP COUNT --batch, then one XACK of the
 *                           batch's ids, pipelined with the next read;
 *                           latency = age of each message (stamp to receipt).
 *   e2e                     one consumer (blocking XREAD COUNT --batch from
 *                           the last id seen) and -w producers sending one
 *                           XADD at a time at --rate in total; latency = send
 *                           stamp to receipt; messages not received 5 s
 *                           after the last send count as errors.
 *
 * Durability is read from the server (CONFIG GET appendonly/appendfsync)
 * and stated in the JSON line: with appendfsync everysec Redis answers
 * before the AOF is fsynced (up to about a second of acknowledged writes
 * can be lost); with appendfsync always it fsyncs the AOF before it sends
 * the replies of an event-loop iteration (group commit across clients).
 */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer_common.h"

typedef struct worker {
    pthread_t thread;
    int id;
    redisContext *c;
    char *body;
} worker;

static atomic_int g_running;              /* workers not finished */
static atomic_uint_fast64_t g_sent;       /* e2e: messages sent */
static atomic_bool g_consumer_stop;       /* e2e: consumer may quit */
static char g_durability[256];

static redisContext *connect_server(void)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(g_peer.host, g_peer.port, tv);
    if (!c || c->err) {
        fprintf(stderr, "redis_bench: cannot connect to %s:%d: %s\n", g_peer.host, g_peer.port,
                c ? c->errstr : "out of memory");
        exit(1);
    }
    return c;
}

static bool all_done(void) { return atomic_load(&g_running) == 0; }

/* Reply to XADD: the new entry's id, or an error. */
static bool xadd_ok(redisReply *r)
{
    if (r->type == REDIS_REPLY_STRING)
        return true;
    peer_error("XADD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    return false;
}

static void produce_sync(worker *w)
{
    peer_pacer pc;
    peer_pacer_init(&pc, g_peer.rate / g_peer.threads);
    while (peer_claim(1)) {
        peer_pace(&pc);
        int64_t t0 = peer_now_us();
        peer_stamp(w->body, t0);
        redisReply *r = redisCommand(w->c, "XADD %s * d %b", g_peer.topic, w->body, (size_t)g_peer.size);
        if (!r) {
            peer_error("connection: %s", w->c->errstr);
            return;
        }
        if (xadd_ok(r))
            peer_record(1, peer_now_us() - t0);
        freeReplyObject(r);
    }
}

static void produce_async(worker *w)
{
    int64_t *queued_at = calloc((size_t)g_peer.window, sizeof *queued_at);
    uint64_t head = 0, tail = 0; /* queued, answered */
    bool more = true;
    peer_pacer pc;
    peer_pacer_init(&pc, g_peer.rate / g_peer.threads);
    while (more || head > tail) {
        while (more && head - tail < (uint64_t)g_peer.window) {
            if (!peer_claim(1)) {
                more = false;
                break;
            }
            peer_pace(&pc);
            int64_t t0 = peer_now_us();
            peer_stamp(w->body, t0);
            redisAppendCommand(w->c, "XADD %s * d %b", g_peer.topic, w->body, (size_t)g_peer.size);
            queued_at[head++ % (uint64_t)g_peer.window] = t0;
        }
        if (head == tail)
            break;
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK) {
            peer_error("connection: %s", w->c->errstr);
            break;
        }
        if (xadd_ok(r))
            peer_record(1, peer_now_us() - queued_at[tail % (uint64_t)g_peer.window]);
        tail++;
        freeReplyObject(r);
    }
    free(queued_at);
}

static void *producer_main(void *arg)
{
    worker *w = arg;
    if (!strcmp(g_peer.send_mode, "sync"))
        produce_sync(w);
    else
        produce_async(w);
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

/* Records every entry of an XREAD/XREADGROUP reply; returns how many there
 * were and, if last_id is given, copies the last entry's id there. */
static size_t take_entries(redisReply *r, char *last_id, size_t last_id_size, redisReply **entries_out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return 0;
    redisReply *stream = r->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2)
        return 0;
    redisReply *entries = stream->element[1];
    int64_t now = peer_now_us();
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY ||
            e->element[1]->elements < 2) {
            peer_error("malformed stream entry");
            continue;
        }
        redisReply *value = e->element[1]->element[1];
        int64_t stamp = peer_read_stamp(value->str, value->len);
        if (stamp < 0)
            peer_count_only(1);
        else
            peer_record(1, now - stamp);
    }
    if (last_id && entries->elements > 0)
        snprintf(last_id, last_id_size, "%s", entries->element[entries->elements - 1]->element[0]->str);
    if (entries_out)
        *entries_out = entries;
    return entries->elements;
}

static bool count_reached(void) { return g_peer.count > 0 && peer_done() >= (uint64_t)g_peer.count; }

static void *consumer_main(void *arg)
{
    worker *w = arg;
    char consumer[32];
    snprintf(consumer, sizeof consumer, "c%d", w->id);
    const char **argv = calloc((size_t)g_peer.batch + 3, sizeof *argv);
    size_t *lens = calloc((size_t)g_peer.batch + 3, sizeof *lens);
    bool ack_pending = false;
    while (!peer_stopped() && !count_reached()) {
        redisAppendCommand(w->c, "XREADGROUP GROUP %s %s COUNT %d BLOCK 1000 STREAMS %s >", g_peer.group, consumer,
                           g_peer.batch, g_peer.topic);
        redisReply *r = NULL;
        if (ack_pending) { /* the XACK queued before this read */
            if (redisGetReply(w->c, (void **)&r) != REDIS_OK)
                break;
            if (r->type == REDIS_REPLY_ERROR)
                peer_error("XACK: %s", r->str);
            freeReplyObject(r);
            ack_pending = false;
        }
        if (redisGetReply(w->c, (void **)&r) != REDIS_OK) {
            peer_error("connection: %s", w->c->errstr);
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            peer_error("XREADGROUP: %s", r->str);
            freeReplyObject(r);
            break;
        }
        redisReply *entries = NULL;
        size_t n = take_entries(r, NULL, 0, &entries);
        if (n > 0) {
            argv[0] = "XACK";
            argv[1] = g_peer.topic;
            argv[2] = g_peer.group;
            for (size_t i = 0; i < n; i++) {
                argv[3 + i] = entries->element[i]->element[0]->str;
                lens[3 + i] = entries->element[i]->element[0]->len;
            }
            for (int i = 0; i < 3; i++)
                lens[i] = strlen(argv[i]);
            redisAppendCommandArgv(w->c, (int)(n + 3), argv, lens);
            ack_pending = true;
        }
        freeReplyObject(r);
    }
    if (ack_pending) {
        redisReply *r = NULL;
        if (redisGetReply(w->c, (void **)&r) == REDIS_OK)
            freeReplyObject(r);
    }
    free(argv);
    free(lens);
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

static void *e2e_producer_main(void *arg)
{
    worker *w = arg;
    peer_pacer pc;
    peer_pacer_init(&pc, g_peer.rate / g_peer.threads);
    while (peer_claim(1)) {
        peer_pace(&pc);
        peer_stamp(w->body, peer_now_us());
        redisReply *r = redisCommand(w->c, "XADD %s * d %b", g_peer.topic, w->body, (size_t)g_peer.size);
        if (!r) {
            peer_error("connection: %s", w->c->errstr);
            break;
        }
        if (xadd_ok(r))
            atomic_fetch_add(&g_sent, 1);
        freeReplyObject(r);
    }
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

static void *e2e_consumer_main(void *arg)
{
    worker *w = arg;
    char last_id[64] = "0-0";
    while (!atomic_load(&g_consumer_stop)) {
        redisReply *r = redisCommand(w->c, "XREAD COUNT %d BLOCK 100 STREAMS %s %s", g_peer.batch, g_peer.topic,
                                     last_id);
        if (!r) {
            peer_error("connection: %s", w->c->errstr);
            break;
        }
        if (r->type == REDIS_REPLY_ERROR)
            peer_error("XREAD: %s", r->str);
        else
            take_entries(r, last_id, sizeof last_id, NULL);
        freeReplyObject(r);
    }
    return NULL;
}

/* States the server's persistence settings in g_durability. */
static void read_durability(redisContext *c)
{
    char aof[32] = "?", fsync[32] = "?";
    redisReply *r = redisCommand(c, "CONFIG GET appendonly");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        snprintf(aof, sizeof aof, "%s", r->element[1]->str);
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG GET appendfsync");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        snprintf(fsync, sizeof fsync, "%s", r->element[1]->str);
    freeReplyObject(r);
    const char *meaning = strcmp(aof, "yes") ? "no AOF: acknowledged in memory only"
                          : !strcmp(fsync, "always") ? "reply after fsync, group commit per event-loop turn"
                          : !strcmp(fsync, "everysec") ? "reply before fsync, fsync once a second"
                                                       : "reply before fsync, fsync left to the OS";
    snprintf(g_durability, sizeof g_durability, "appendonly %s, appendfsync %s (%s)", aof, fsync, meaning);
    if (!*g_peer.durability)
        g_peer.durability = g_durability;
}

int main(int argc, char **argv)
{
    peer_parse_args(argc, argv, "redis_bench", 6379);
    redisContext *admin = connect_server();
    read_durability(admin);

    int n = g_peer.threads;
    worker *ws = calloc((size_t)n + 1, sizeof *ws);
    for (int i = 0; i <= n; i++) {
        ws[i].id = i;
        ws[i].c = connect_server();
        ws[i].body = malloc((size_t)g_peer.size);
        memset(ws[i].body, 'x', (size_t)g_peer.size);
    }

    if (!strcmp(g_peer.mode, "consumer")) {
        redisReply *r = redisCommand(admin, "XGROUP CREATE %s %s 0 MKSTREAM", g_peer.topic, g_peer.group);
        if (!r || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9))) {
            fprintf(stderr, "redis_bench: XGROUP CREATE: %s\n", r ? r->str : admin->errstr);
            return 1;
        }
        freeReplyObject(r);
    }

    pthread_t consumer;
    if (!strcmp(g_peer.mode, "e2e"))
        pthread_create(&consumer, NULL, e2e_consumer_main, &ws[n]);

    void *(*work)(void *) = !strcmp(g_peer.mode, "producer") ? producer_main
                            : !strcmp(g_peer.mode, "consumer") ? consumer_main
                                                               : e2e_producer_main;
    atomic_store(&g_running, n);
    peer_begin();
    for (int i = 0; i < n; i++)
        pthread_create(&ws[i].thread, NULL, work, &ws[i]);
    peer_report_loop(!strcmp(g_peer.mode, "consumer") ? count_reached : all_done);
    for (int i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);

    if (!strcmp(g_peer.mode, "e2e"))
        peer_e2e_finish("redis_bench", atomic_load(&g_sent), &g_consumer_stop, consumer);
    peer_summary("redis", NULL);
    for (int i = 0; i <= n; i++) {
        redisFree(ws[i].c);
        free(ws[i].body);
    }
    free(ws);
    redisFree(admin);
    return 0;
}
