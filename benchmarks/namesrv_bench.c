/*
 * namesrv_bench.c - measures the nameserver: route-query latency on
 * loopback and memory with many topics registered.
 *
 *   namesrv_bench [--bin PATH/mqnamesrv] [--brokers 10] [--topics 10000]
 *                 [--spread] [--queries 100000]
 *
 * It starts its own mqnamesrv (listenPort=0, log in a temp file), registers
 * --brokers simulated brokers over their own connections (kept open: a
 * closed connection would unregister them), each with every topic (or,
 * with --spread, topics split evenly between brokers), reads the
 * nameserver's VmRSS before and after, then sends --queries
 * GET_ROUTEINFO_BY_TOPIC requests one at a time for random topics on one
 * connection and prints the latency distribution (round trip as the client
 * sees it: encode, loopback, nameserver, decode of the header).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "body.pb-c.h"
#include "bytes.h"
#include "frame.h"
#include "protocol.h"
#include "util.h"
#include "process.h"

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            perror("write");
            exit(1);
        }
        c += w;
        n -= (size_t)w;
    }
}

static void read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            fprintf(stderr, "read: connection closed\n");
            exit(1);
        }
        c += r;
        n -= (size_t)r;
    }
}

/* Sends one request frame and returns the response code. */
static int call(int fd, Mq__RemotingHeader *h, const void *body, size_t len, bytebuf *out, bytebuf *in)
{
    static int32_t opaque = 1;
    char err[128];
    h->opaque = opaque++;
    h->has_opaque = h->has_code = 1;
    bytebuf_clear(out);
    if (frame_encode(RM_SERIALIZE_PROTOBUF, h, body, len, out, err, sizeof err) != 0) {
        fprintf(stderr, "encode: %s\n", err);
        exit(1);
    }
    write_all(fd, out->data, out->len);
    uint8_t pre[4];
    read_all(fd, pre, 4);
    uint32_t n = be32_load(pre);
    bytebuf_clear(in);
    uint8_t *dst = bytebuf_reserve(in, n);
    read_all(fd, dst, n);
    in->len = n;
    uint32_t hlen = be32_load(in->data) & 0xFFFFFF;
    Mq__RemotingHeader *rh = mq__remoting_header__unpack(NULL, hlen, in->data + 4);
    int code = rh ? rh->code : -1;
    if (rh)
        mq__remoting_header__free_unpacked(rh, NULL);
    return code;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static pid_t start_namesrv(const char *bin, const char *log, int *port)
{
    char logflag[600];
    snprintf(logflag, sizeof logflag, "--logFile=%s", log);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "--listenPort=0", logflag, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000; i++) {
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            char *at = strstr(line, "listening on port ");
            if (at) {
                *port = atoi(at + strlen("listening on port "));
                fclose(f);
                return pid;
            }
        }
        if (f)
            fclose(f);
        usleep(5000);
    }
    fprintf(stderr, "mqnamesrv (%s) did not start; see %s\n", bin, log);
    kill(pid, SIGKILL);
    exit(1);
}

int main(int argc, char **argv)
{
    if (process_version_asked("namesrv_bench", argc, argv))
        return 0;
    char default_bin[1024];
    snprintf(default_bin, sizeof default_bin, "%s/mqnamesrv", dirname(xstrdup(argv[0])));
    const char *bin = default_bin;
    int brokers = 10, topics = 10000, queries = 100000;
    bool spread = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bin") && i + 1 < argc)
            bin = argv[++i];
        else if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--topics") && i + 1 < argc)
            topics = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--spread"))
            spread = true;
        else {
            fprintf(stderr, "usage: %s [--bin mqnamesrv] [--brokers N] [--topics N] [--spread] [--queries N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (brokers < 1 || topics < 1 || queries < 1)
        return 2;

    char log[] = "/tmp/namesrv_bench-XXXXXX";
    int lfd = mkstemp(log);
    close(lfd);
    int port = 0;
    pid_t ns = start_namesrv(bin, log, &port);
    long rss0 = rss_kib(ns);

    bytebuf out, in;
    bytebuf_init(&out);
    bytebuf_init(&in);
    char (*names)[32] = xcalloc((size_t)topics, sizeof *names);
    for (int t = 0; t < topics; t++)
        snprintf(names[t], sizeof names[t], "bench-topic-%06d", t);

    int *fds = xcalloc((size_t)brokers, sizeof *fds);
    int64_t reg_start = mono_us();
    for (int b = 0; b < brokers; b++) {
        int first = spread ? b * topics / brokers : 0, last = spread ? (b + 1) * topics / brokers : topics;
        size_t n = (size_t)(last - first);
        Mq__TopicConfig *cfgs = xcalloc(n, sizeof *cfgs);
        Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry *es = xcalloc(n, sizeof *es);
        Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry **ps = xcalloc(n, sizeof *ps);
        for (size_t i = 0; i < n; i++) {
            cfgs[i] = (Mq__TopicConfig)MQ__TOPIC_CONFIG__INIT;
            cfgs[i].topicname = names[first + (int)i];
            cfgs[i].readqueuenums = cfgs[i].writequeuenums = 8;
            cfgs[i].perm = 6;
            cfgs[i].has_readqueuenums = cfgs[i].has_writequeuenums = cfgs[i].has_perm = 1;
            es[i] = (Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry)
                MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__TOPIC_CONFIG_TABLE_ENTRY__INIT;
            es[i].key = names[first + (int)i];
            es[i].value = &cfgs[i];
            ps[i] = &es[i];
        }
        Mq__DataVersion dv = MQ__DATA_VERSION__INIT;
        dv.timestamp = now_ms();
        dv.has_timestamp = 1;
        Mq__TopicConfigSerializeWrapper w = MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__INIT;
        w.n_topicconfigtable = n;
        w.topicconfigtable = ps;
        w.dataversion = &dv;
        Mq__RegisterBrokerBody body = MQ__REGISTER_BROKER_BODY__INIT;
        body.topicconfigserializewrapper = &w;
        size_t len = mq__register_broker_body__get_packed_size(&body);
        uint8_t *buf = xmalloc(len);
        mq__register_broker_body__pack(&body, buf);
        char name[32], addr[64];
        snprintf(name, sizeof name, "bench-broker-%02d", b);
        snprintf(addr, sizeof addr, "10.1.0.%d:10911", b + 1);
        Mq__RegisterBrokerRequestHeader rh = MQ__REGISTER_BROKER_REQUEST_HEADER__INIT;
        rh.brokername = name;
        rh.brokeraddr = addr;
        rh.clustername = (char *)"BenchCluster";
        rh.brokerid = 0;
        rh.has_brokerid = 1;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RC_REGISTER_BROKER;
        h.ext_case = MQ__REMOTING_HEADER__EXT_REGISTER_BROKER;
        h.register_broker = &rh;
        fds[b] = connect_port(port);
        int code = call(fds[b], &h, buf, len, &out, &in);
        if (code != RS_SUCCESS) {
            fprintf(stderr, "registration refused: %d\n", code);
            return 1;
        }
        free(buf);
        free(cfgs);
        free(es);
        free(ps);
    }
    int64_t reg_us = mono_us() - reg_start;
    long rss1 = rss_kib(ns);

    int qfd = connect_port(port);
    int64_t *lat = xcalloc((size_t)queries, sizeof *lat);
    unsigned seed = 12345;
    Mq__TopicRequestHeader th = MQ__TOPIC_REQUEST_HEADER__INIT;
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_GET_ROUTEINFO_BY_TOPIC;
    h.ext_case = MQ__REMOTING_HEADER__EXT_TOPIC;
    h.topic = &th;
    for (int i = 0; i < 2000; i++) { /* warm-up */
        th.topic = names[rand_r(&seed) % (unsigned)topics];
        call(qfd, &h, NULL, 0, &out, &in);
    }
    size_t resp_bytes = 0;
    int64_t t0 = mono_us();
    for (int i = 0; i < queries; i++) {
        th.topic = names[rand_r(&seed) % (unsigned)topics];
        int64_t s = mono_ns();
        int code = call(qfd, &h, NULL, 0, &out, &in);
        lat[i] = mono_ns() - s;
        if (code != RS_SUCCESS) {
            fprintf(stderr, "route query failed: %d\n", code);
            return 1;
        }
        resp_bytes = in.len;
    }
    int64_t total_us = mono_us() - t0;
    qsort(lat, (size_t)queries, sizeof *lat, cmp_i64);
    long rss2 = rss_kib(ns);

    printf("nameserver: %s (pid %d, port %d)\n", bin, (int)ns, port);
    printf("registered: %d brokers x %s = %d topics (%s), in %.1f ms\n", brokers,
           spread ? "a share of the topics" : "every topic", topics, spread ? "spread" : "each on every broker",
           reg_us / 1000.0);
    printf("RSS: %ld KiB empty, %ld KiB after registration (+%ld KiB), %ld KiB after queries\n", rss0, rss1,
           rss1 - rss0, rss2);
    printf("route query (%d sequential, one connection, %zu-byte answers): median %.1f us, p99 %.1f us, "
           "p99.9 %.1f us, max %.1f us, %.0f queries/s\n",
           queries, resp_bytes, lat[queries / 2] / 1000.0, lat[(size_t)queries * 99 / 100] / 1000.0,
           lat[(size_t)queries * 999 / 1000] / 1000.0, lat[queries - 1] / 1000.0,
           queries / (total_us / 1e6));

    kill(ns, SIGTERM);
    waitpid(ns, NULL, 0);
    unlink(log);
    for (int b = 0; b < brokers; b++)
        close(fds[b]);
    close(qfd);
    bytebuf_free(&out);
    bytebuf_free(&in);
    free(lat);
    free(fds);
    free(names);
    return 0;
}
