/*
 * rabbitmq_bench.c - load generator for RabbitMQ (AMQP 0-9-1, librabbitmq),
 * measuring what mqbench measures on our broker (see peer_common.h for the
 * histogram and the output). One connection and one channel per worker
 * thread; the queue (-t) is declared durable with x-queue-type classic or
 * quorum (--queue-type); every message is persistent (delivery_mode 2),
 * published to the default exchange, and its body starts with a send stamp.
 *
 *   producer --mode sync    publisher confirms, wait for each confirm before
 *                           the next publish; latency = publish to confirm.
 *   producer --mode async   publisher confirms with up to --window
 *                           unconfirmed messages per channel (a confirm may
 *                           cover many with `multiple`); latency = publish to
 *                           its confirm.
 *   consumer                basic.consume with prefetch --batch and manual
 *                           acks (one `multiple` ack every half prefetch);
 *                           latency = age of each message (stamp to receipt).
 *   e2e                     one consumer (prefetch --batch, acks as above)
 *                           and -w publishers at --rate in total, confirms
 *                           read while waiting for the next send; latency =
 *                           send stamp to delivery; messages not delivered 5 s
 *                           after the last send count as errors.
 *
 * Durability: RabbitMQ confirms a persistent message routed to a durable
 * queue only once it is on disk: a classic queue confirms after its
 * message store / queue index has been fsynced (fsyncs are batched across
 * messages), a quorum queue after its Raft log entry has been fsynced by
 * the write-ahead log (also batched). There is no setting that confirms
 * persistent messages before fsync, so every figure of this tool is
 * "acknowledged after fsync"; the JSON line says so.
 */
#define _GNU_SOURCE
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "peer_common.h"

#define CHANNEL 1

typedef struct worker {
    pthread_t thread;
    int id;
    amqp_connection_state_t conn;
    char *body;
    /* publisher confirms: seq numbers [low, next) are unconfirmed */
    uint64_t next, low;
    int64_t *sent_at; /* by seq % window */
    bool *confirmed;  /* by seq % window */
    uint64_t ring;    /* size of the two rings */
    bool record_latency;
} worker;

static atomic_int g_running;
static atomic_uint_fast64_t g_sent;
static atomic_bool g_consumer_stop;
static char g_durability[256];

static bool all_done(void) { return atomic_load(&g_running) == 0; }
static bool count_reached(void) { return g_peer.count > 0 && peer_done() >= (uint64_t)g_peer.count; }

static void die_on_rpc(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf(stderr, "rabbitmq_bench: %s: %s\n", what, amqp_error_string2(r.library_error));
    else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD || r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_bytes_t *text = r.reply.id == AMQP_CONNECTION_CLOSE_METHOD
                                       ? &((amqp_connection_close_t *)r.reply.decoded)->reply_text
                                       : &((amqp_channel_close_t *)r.reply.decoded)->reply_text;
        fprintf(stderr, "rabbitmq_bench: %s: server closed: %.*s\n", what, (int)text->len, (char *)text->bytes);
    } else
        fprintf(stderr, "rabbitmq_bench: %s: server error (method 0x%08x)\n", what, r.reply.id);
    exit(1);
}

/* Connects, opens the channel and declares the queue (same arguments from
 * every worker, so the declarations agree). */
static amqp_connection_state_t connect_server(void)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    if (!sock || amqp_socket_open(sock, g_peer.host, g_peer.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "rabbitmq_bench: cannot connect to %s:%d\n", g_peer.host, g_peer.port);
        exit(1);
    }
    die_on_rpc(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, CHANNEL);
    die_on_rpc(amqp_get_rpc_reply(conn), "channel.open");
    amqp_table_entry_t arg = {.key = amqp_cstring_bytes("x-queue-type"),
                              .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                        .value.bytes = amqp_cstring_bytes(g_peer.queue_type)}};
    amqp_table_t args = {.num_entries = 1, .entries = &arg};
    amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(g_peer.topic), 0, 1, 0, 0, args);
    die_on_rpc(amqp_get_rpc_reply(conn), "queue.declare");
    return conn;
}

static void enable_confirms(worker *w, uint64_t ring, bool record_latency)
{
    amqp_confirm_select(w->conn, CHANNEL);
    die_on_rpc(amqp_get_rpc_reply(w->conn), "confirm.select");
    w->next = w->low = 1; /* a channel numbers its publishes from 1 */
    w->ring = ring;
    w->sent_at = calloc(ring, sizeof *w->sent_at);
    w->confirmed = calloc(ring, sizeof *w->confirmed);
    w->record_latency = record_latency;
}

static bool publish(worker *w)
{
    amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                     .delivery_mode = AMQP_DELIVERY_PERSISTENT};
    int64_t now = peer_now_us();
    peer_stamp(w->body, now);
    amqp_bytes_t body = {.len = (size_t)g_peer.size, .bytes = w->body};
    int rc = amqp_basic_publish(w->conn, CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(g_peer.topic), 0, 0, &props,
                                body);
    if (rc != AMQP_STATUS_OK) {
        peer_error("publish: %s", amqp_error_string2(rc));
        return false;
    }
    w->sent_at[w->next % w->ring] = now;
    w->confirmed[w->next % w->ring] = false;
    w->next++;
    return true;
}

static void settle(worker *w, uint64_t seq, bool ok, int64_t now)
{
    if (seq < w->low || seq >= w->next || w->confirmed[seq % w->ring])
        return;
    w->confirmed[seq % w->ring] = true;
    if (!ok)
        peer_error("message nacked by the broker");
    else if (w->record_latency)
        peer_record(1, now - w->sent_at[seq % w->ring]);
    else
        atomic_fetch_add(&g_sent, 1);
}

/* Reads one frame (waiting at most timeout_us, < 0 = forever) and applies
 * the confirm it carries. Returns false on timeout or a broken channel. */
static bool read_confirm(worker *w, int64_t timeout_us)
{
    amqp_frame_t frame;
    struct timeval tv = {(time_t)(timeout_us / 1000000), (suseconds_t)(timeout_us % 1000000)};
    int rc = timeout_us < 0 ? amqp_simple_wait_frame(w->conn, &frame)
                            : amqp_simple_wait_frame_noblock(w->conn, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return false;
    if (rc != AMQP_STATUS_OK) {
        peer_error("reading confirms: %s", amqp_error_string2(rc));
        w->low = w->next; /* give up on what is in flight */
        return false;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD)
        return true;
    int64_t now = peer_now_us();
    amqp_method_number_t id = frame.payload.method.id;
    if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
        bool ok = id == AMQP_BASIC_ACK_METHOD;
        uint64_t tag = ok ? ((amqp_basic_ack_t *)frame.payload.method.decoded)->delivery_tag
                          : ((amqp_basic_nack_t *)frame.payload.method.decoded)->delivery_tag;
        bool multiple = ok ? ((amqp_basic_ack_t *)frame.payload.method.decoded)->multiple
                           : ((amqp_basic_nack_t *)frame.payload.method.decoded)->multiple;
        for (uint64_t s = multiple ? w->low : tag; s <= tag; s++)
            settle(w, s, ok, now);
        while (w->low < w->next && w->confirmed[w->low % w->ring])
            w->low++;
    } else if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
        peer_error("the broker closed the channel");
        w->low = w->next;
        return false;
    }
    amqp_maybe_release_buffers(w->conn);
    return true;
}

static void *producer_main(void *arg)
{
    worker *w = arg;
    uint64_t window = !strcmp(g_peer.send_mode, "sync") ? 1 : (uint64_t)g_peer.window;
    peer_pacer pc;
    peer_pacer_init(&pc, g_peer.rate / g_peer.threads);
    bool more = true;
    while (more || w->low < w->next) {
        while (more && w->next - w->low < window) {
            if (!peer_claim(1)) {
                more = false;
                break;
            }
            peer_pace(&pc);
            if (!publish(w)) {
                more = false;
                break;
            }
        }
        if (w->low == w->next)
            break;
        if (!read_confirm(w, -1) && w->low == w->next)
            break;
    }
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

/* Starts a consumer on the worker's channel with prefetch --batch. */
static void start_consumer(worker *w)
{
    amqp_basic_qos(w->conn, CHANNEL, 0, (uint16_t)(g_peer.batch > 65535 ? 65535 : g_peer.batch), 0);
    die_on_rpc(amqp_get_rpc_reply(w->conn), "basic.qos");
    amqp_basic_consume(w->conn, CHANNEL, amqp_cstring_bytes(g_peer.topic), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    die_on_rpc(amqp_get_rpc_reply(w->conn), "basic.consume");
}

/* Receives until should_stop() says so; acks with `multiple` every half
 * prefetch and at the end. */
static void consume_loop(worker *w, bool (*should_stop)(void), int64_t wait_us)
{
    uint64_t unacked = 0, last_tag = 0;
    uint64_t ack_every = g_peer.batch / 2 > 0 ? (uint64_t)g_peer.batch / 2 : 1;
    while (!should_stop()) {
        amqp_envelope_t env;
        struct timeval tv = {(time_t)(wait_us / 1000000), (suseconds_t)(wait_us % 1000000)};
        amqp_maybe_release_buffers(w->conn);
        amqp_rpc_reply_t r = amqp_consume_message(w->conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            amqp_frame_t frame; /* not a delivery: skip it */
            if (amqp_simple_wait_frame(w->conn, &frame) != AMQP_STATUS_OK)
                break;
            continue;
        }
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            peer_error("consume: %s", r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                          ? amqp_error_string2(r.library_error)
                                          : "server exception");
            break;
        }
        int64_t stamp = peer_read_stamp(env.message.body.bytes, env.message.body.len);
        if (stamp < 0)
            peer_count_only(1);
        else
            peer_record(1, peer_now_us() - stamp);
        last_tag = env.delivery_tag;
        amqp_destroy_envelope(&env);
        if (++unacked >= ack_every) {
            amqp_basic_ack(w->conn, CHANNEL, last_tag, 1);
            unacked = 0;
        }
    }
    if (unacked)
        amqp_basic_ack(w->conn, CHANNEL, last_tag, 1);
}

static bool consumer_should_stop(void) { return peer_stopped() || count_reached(); }
static bool e2e_consumer_should_stop(void) { return atomic_load(&g_consumer_stop); }

static void *consumer_main(void *arg)
{
    worker *w = arg;
    start_consumer(w);
    consume_loop(w, consumer_should_stop, 200000);
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

static void *e2e_consumer_main(void *arg)
{
    consume_loop(arg, e2e_consumer_should_stop, 100000);
    return NULL;
}

/* e2e publisher: sends at its share of --rate and reads confirms while it
 * waits for the next send; at the end waits up to 5 s for the rest. */
static void *e2e_producer_main(void *arg)
{
    worker *w = arg;
    peer_pacer pc;
    peer_pacer_init(&pc, g_peer.rate / g_peer.threads);
    while (peer_claim(1)) {
        int64_t wait;
        while ((wait = peer_pacer_wait_us(&pc)) > 0)
            read_confirm(w, wait);
        pc.k++;
        while (w->next - w->low >= w->ring) /* ring full: wait for the oldest */
            read_confirm(w, -1);
        if (!publish(w))
            break;
    }
    int64_t deadline = peer_now_us() + 5000000;
    while (w->low < w->next && peer_now_us() < deadline)
        read_confirm(w, deadline - peer_now_us());
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    peer_parse_args(argc, argv, "rabbitmq_bench", 5672);
    if (strcmp(g_peer.queue_type, "classic") && strcmp(g_peer.queue_type, "quorum")) {
        fprintf(stderr, "rabbitmq_bench: --queue-type classic|quorum\n");
        return 1;
    }
    snprintf(g_durability, sizeof g_durability, "%s",
             !strcmp(g_peer.queue_type, "quorum")
                 ? "quorum queue (1 node), persistent, confirm after the Raft WAL fsync (batched)"
                 : "classic durable queue, persistent, confirm after fsync (batched)");
    if (!*g_peer.durability)
        g_peer.durability = g_durability;

    int n = g_peer.threads;
    worker *ws = calloc((size_t)n + 1, sizeof *ws);
    for (int i = 0; i <= n; i++) {
        ws[i].id = i;
        ws[i].conn = connect_server();
        ws[i].body = malloc((size_t)g_peer.size);
        memset(ws[i].body, 'x', (size_t)g_peer.size);
    }
    bool producer = !strcmp(g_peer.mode, "producer"), e2e = !strcmp(g_peer.mode, "e2e");
    if (producer || e2e)
        for (int i = 0; i < n; i++)
            enable_confirms(&ws[i], producer ? (uint64_t)g_peer.window : 1u << 16, producer);

    pthread_t consumer;
    if (e2e) {
        start_consumer(&ws[n]);
        pthread_create(&consumer, NULL, e2e_consumer_main, &ws[n]);
    }
    void *(*work)(void *) = producer ? producer_main : e2e ? e2e_producer_main : consumer_main;
    atomic_store(&g_running, n);
    peer_begin();
    for (int i = 0; i < n; i++)
        pthread_create(&ws[i].thread, NULL, work, &ws[i]);
    peer_report_loop(producer || e2e ? all_done : count_reached);
    for (int i = 0; i < n; i++)
        pthread_join(ws[i].thread, NULL);

    if (e2e)
        peer_e2e_finish("rabbitmq_bench", atomic_load(&g_sent), &g_consumer_stop, consumer);
    char extra[64];
    snprintf(extra, sizeof extra, "\"queue_type\":\"%s\"", g_peer.queue_type);
    peer_summary("rabbitmq", extra);
    for (int i = 0; i <= n; i++) {
        amqp_channel_close(ws[i].conn, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(ws[i].conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(ws[i].conn);
        free(ws[i].body);
        free(ws[i].sent_at);
        free(ws[i].confirmed);
    }
    free(ws);
    return 0;
}
