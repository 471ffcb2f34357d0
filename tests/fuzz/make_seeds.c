/*
 * make_seeds.c - writes the seed corpora of the fuzz targets (committed
 * under tests/fuzz/corpus/<target>/): valid inputs built with the
 * project's own encoders, so each target starts from inputs that reach
 * deep into its code. Run by hand after a format change:
 *   build-fuzz/fuzz/make_seeds tests/fuzz/corpus
 * Crash reproducers found later are added next to these by hand
 * (crash-<what>), never regenerated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frame.h"
#include "message.h"
#include "protocol.h"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- frames and headers ---- */

static void frame_seeds(void)
{
    bytebuf all;
    bytebuf_init(&all);
    char err[160];
    for (int i = 0; rm_code_at(i); i++) {
        const rm_code_info *info = rm_code_at(i);
        /* A request carrying the typed header its code needs (fields
         * left unset: the decoder sees the oneof member). */
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = info->code;
        h.has_code = 1;
        h.opaque = i + 1;
        h.has_opaque = 1;
        h.remark = "seed";
        Mq__SendMessageRequestHeader send = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
        Mq__PullMessageRequestHeader pull = MQ__PULL_MESSAGE_REQUEST_HEADER__INIT;
        if (info->request_ext == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE) {
            send.producergroup = "PG";
            send.topic = "TopicA";
            send.properties = "TAGS\001a\002KEYS\001k1 k2\002";
            h.ext_case = info->request_ext;
            h.send_message = &send;
        } else if (info->request_ext == MQ__REMOTING_HEADER__EXT_PULL_MESSAGE) {
            pull.consumergroup = "CG";
            pull.topic = "TopicA";
            pull.subscription = "a || b";
            h.ext_case = info->request_ext;
            h.pull_message = &pull;
        }
        bytebuf b;
        bytebuf_init(&b);
        const char body[] = "body-bytes";
        if (frame_encode(RM_SERIALIZE_PROTOBUF, &h, body, sizeof body - 1, &b, err, sizeof err) != 0) {
            fprintf(stderr, "encode %s: %s\n", info->name, err);
            exit(1);
        }
        char name[64];
        snprintf(name, sizeof name, "frame-%s", info->name);
        put("frame", name, b.data, b.len);
        bytebuf_append(&all, b.data, b.len);
        /* fuzz_header: selector byte + the header alone. */
        uint8_t *hdr = malloc(b.len);
        hdr[0] = (uint8_t)i;
        uint32_t hlen = (uint32_t)(b.data[5] << 16 | b.data[6] << 8 | b.data[7]);
        memcpy(hdr + 1, b.data + FRAME_PREFIX, hlen);
        snprintf(name, sizeof name, "header-%s", info->name);
        put("header", name, hdr, hlen + 1);
        free(hdr);
        bytebuf_free(&b);
    }
    put("frame", "frames-all-codes", all.data, all.len);
    /* A frame of an unsupported serialize type and one cut short. */
    static const uint8_t json_frame[] = {0, 0, 0, 14, 0, 0, 0, 10, '{', '"', 'c', 'o', 'd', 'e', '"', ':', '1', '}'};
    put("frame", "frame-json-type", json_frame, sizeof json_frame);
    put("frame", "frame-truncated", all.data, all.len > 20 ? 20 : all.len);
    bytebuf_free(&all);
}

/* ---- CommitLog segments ---- */

static size_t record(uint8_t *dst, size_t cap, int64_t pos, const char *topic, int qid,
                     const char *props, const char *body)
{
    msg_record r;
    memset(&r, 0, sizeof r);
    r.queue_id = qid;
    r.queue_offset = pos / 100;
    r.physical_offset = pos;
    r.born_timestamp = 1700000000000LL;
    r.store_timestamp = 1700000000123LL;
    msg_host_set(&r.born_host, "10.1.2.3", 54321);
    msg_host_set(&r.store_host, qid % 2 ? "::1" : "192.168.0.9", 10911);
    r.body = (const uint8_t *)body;
    r.body_len = (uint32_t)strlen(body);
    r.body_crc = msg_body_crc(body, r.body_len);
    r.topic = topic;
    r.topic_len = (uint32_t)strlen(topic);
    r.properties = props;
    r.properties_len = (uint32_t)strlen(props);
    int n = msg_encode(&r, dst, cap);
    if (n < 0) {
        fprintf(stderr, "msg_encode: %s\n", msg_strerror(n));
        exit(1);
    }
    return (size_t)n;
}

static void commitlog_seeds(void)
{
    static uint8_t seg[8192];
    memset(seg, 0, sizeof seg);
    size_t pos = 0;
    pos += record(seg + pos, sizeof seg - pos, (int64_t)pos, "TopicA", 0,
                  "TAGS\001tagA\002KEYS\001k1 k2\002UNIQ_KEY\0010A0000010000000000000001\002", "hello");
    pos += record(seg + pos, sizeof seg - pos, (int64_t)pos, "SCHEDULE_TOPIC_XXXX", 2,
                  "DELAY\0013\002REAL_TOPIC\001TopicA\002REAL_QID\0011\002", "later");
    char long_topic[200];
    memset(long_topic, 'T', sizeof long_topic - 1);
    long_topic[sizeof long_topic - 1] = '\0';
    pos += record(seg + pos, sizeof seg - pos, (int64_t)pos, long_topic, 1, "", "v2 magic");
    put("commitlog", "records", seg, pos);
    /* Followed by zeros (the normal end) and by a blank end marker. */
    put("commitlog", "records-then-zero", seg, pos + 64);
    msg_encode_blank(seg + pos, (uint32_t)(sizeof seg - pos));
    put("commitlog", "records-then-blank", seg, sizeof seg);
    /* A torn tail: the last record cut in half. */
    put("commitlog", "torn-tail", seg, pos - 40);
}

/* ---- config ---- */

static void config_seeds(void)
{
    /* first byte: bit 0 table (0 broker, 1 nameserver), bit 1 argv */
    static const char broker_file[] =
        "\000# broker\nbrokerClusterName = DefaultCluster\nbrokerName=broker-a\nbrokerId=0\n"
        "namesrvAddr=127.0.0.1:9876;127.0.0.2:9876\nlistenPort=10911\nflushDiskType=SYNC_FLUSH\n"
        "deleteWhen=04\nfileReservedTime=48\nmaxMessageSize=4194304\n! comment\n\n"
        "storePathRootDir=/tmp/store\nautoCreateTopicEnable=false\n";
    put("config", "broker-file", broker_file, sizeof broker_file - 1);
    static const char ns_file[] = "\001listenPort: 9876\nhttpPort=8080\nlogLevel=debug\n";
    put("config", "namesrv-file", ns_file, sizeof ns_file - 1);
    static const char broker_argv[] = "\002-n\n127.0.0.1:9876\n--brokerName=b1\n--listenPort\n0\n-p";
    put("config", "broker-argv", broker_argv, sizeof broker_argv - 1);
    static const char ns_argv[] = "\003--listenPort=0\n--metricsPort\n-1";
    put("config", "namesrv-argv", ns_argv, sizeof ns_argv - 1);
}

/* ---- HTTP ---- */

static void http_seeds(void)
{
    /* first byte: bit 0 handler (0 nameserver, 1 broker), bits 1-3 method */
    static const struct {
        const char *name;
        uint8_t sel;
        const char *path;
    } seeds[] = {
        {"ns-clusters", 0, "/clusters"},       {"ns-topics", 0, "/topics/"},
        {"ns-route", 0, "/topics/TopicA/route"}, {"ns-route-bad", 0, "/topics/a b/route"},
        {"ns-metrics", 0, "/metrics"},         {"ns-head", 2, "/topics"},
        {"ns-post", 4, "/clusters"},           {"broker-metrics", 1, "/metrics"},
        {"broker-404", 1, "/"},                {"broker-post", 5, "/metrics"},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char buf[256];
        buf[0] = (char)seeds[i].sel;
        size_t n = strlen(seeds[i].path);
        memcpy(buf + 1, seeds[i].path, n);
        put("http", seeds[i].name, buf, n + 1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    root = argv[1];
    frame_seeds();
    commitlog_seeds();
    config_seeds();
    http_seeds();
    return 0;
}
