/*
 * peer_common.h - what the C load generators for the peer brokers
 * (redis_bench.c, rabbitmq_bench.c) share with each other, so that they
 * measure and report exactly like mqbench: the command line, a latency
 * histogram, the once-a-second line, the final summary and JSON line.
 *
 * Measuring: every acknowledged (producer) or received (consumer, e2e)
 * message is recorded once in a log-linear histogram of microseconds:
 * below 64 us one bucket per microsecond, above that every power of two is
 * split into 32 buckets, so a percentile is exact to within 1/32 (3.1 %)
 * of its value, up to 2^40 us. Recording is a relaxed atomic increment
 * from any thread; the reporter thread subtracts snapshots to get one
 * second's distribution. Throughput is messages done divided by the time
 * from the start of the load to the moment the last worker finished
 * (a producer's in-flight messages are waited for and counted).
 *
 * Threads: the main thread parses options, sets up (connects, declares),
 * calls peer_begin(), starts the workers of the tool, runs
 * peer_report_loop() (which ends the run after --duration, when
 * --count messages are claimed and done, or on SIGINT/SIGTERM), joins the
 * workers and prints the summary. Workers only call peer_claim(),
 * peer_record*(), peer_error() and peer_stopped().
 */
#ifndef PEER_COMMON_H
#define PEER_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Options shared by every peer tool (`TOOL --help` lists them). */
typedef struct peer_opts {
    const char *mode;       /* producer | consumer | e2e */
    const char *host;       /* server host (127.0.0.1) */
    int port;               /* server port (tool default) */
    const char *topic;      /* stream, queue or subject name (bench) */
    const char *send_mode;  /* producer: sync (wait for each ack) | async (window in flight) */
    const char *queue_type; /* rabbitmq: classic | quorum */
    const char *group;      /* consumer group / durable name (bench_group) */
    const char *workload;   /* label copied to the JSON line (W1..W5) */
    const char *durability; /* text copied to the JSON line */
    int size;               /* message body bytes (1024) */
    int threads;            /* workers, one connection each (1) */
    int window;             /* async: messages in flight per connection (128) */
    int batch;              /* consumer: messages per fetch / prefetch (500) */
    double rate;            /* messages per second in total, 0 = unlimited */
    double duration;        /* seconds, 0 = until --count */
    int64_t count;          /* messages in total, 0 = until --duration */
    bool json;              /* end with one JSON line */
} peer_opts;

extern peer_opts g_peer;

/* Parses argv (argv[1] is the mode) into g_peer with default_port and
 * tool name for messages; exits with status 1 and usage on bad input. */
void peer_parse_args(int argc, char **argv, const char *tool, int default_port);

/* Clocks in microseconds. Monotonic is shared by all processes of the
 * machine, so a stamp taken by one process can be compared by another. */
int64_t peer_now_us(void);

/* Claims n messages of --count for a producer; false once the run is
 * over (count reached, duration passed, or a signal). */
bool peer_claim(int64_t n);
bool peer_stopped(void);
void peer_stop(void);

/* Records n messages done with one latency (microseconds). */
void peer_record(uint64_t n, int64_t latency_us);
/* Counts messages done without a latency (e.g. a consumer's warm-up). */
void peer_count_only(uint64_t n);
/* Counts an error; prints the first and every 1000th. */
void peer_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Messages recorded so far. */
uint64_t peer_done(void);

/* Absolute send schedule: the k-th send is due at start + k * interval. */
typedef struct peer_pacer {
    double interval_us; /* 0 = no pacing */
    int64_t start_us;
    uint64_t k;
} peer_pacer;

void peer_pacer_init(peer_pacer *p, double per_second);
/* Microseconds until the next send is due (<= 0: due now). */
int64_t peer_pacer_wait_us(const peer_pacer *p);
/* Sleeps until the next send is due, then counts it. */
void peer_pace(peer_pacer *p);

/* Marks the start of the load (call just before starting the workers). */
void peer_begin(void);

/* Marks the end of the load for the throughput figure (e2e: the last
 * send, not the last receipt); peer_summary() uses the time it is called
 * otherwise. */
void peer_end(void);

/* e2e, after the senders have stopped: marks peer_end(), waits up to 5 s
 * for all `sent` messages to be received, then sets *consumer_stop and
 * joins the consumer thread; every message that never arrived counts as an
 * error. `name` prefixes the message on stderr. */
void peer_e2e_finish(const char *name, uint64_t sent, _Atomic bool *consumer_stop, pthread_t consumer);

/* Runs the once-a-second report until the run ends: --duration passed,
 * done() returns true (may be NULL), or a signal. Then sets the stop flag. */
void peer_report_loop(bool (*done)(void));

/* Prints the summary line and, with --json, the JSON line. system names
 * the peer ("redis"), extra is more JSON members or NULL
 * (e.g. "\"queue_type\":\"quorum\""). Call after the workers are joined. */
void peer_summary(const char *system, const char *extra);

/* Puts a send stamp (monotonic microseconds) in the first 8 bytes of a
 * body, and reads it back (returns -1 if the body is too short). */
void peer_stamp(char *body, int64_t us);
int64_t peer_read_stamp(const char *body, size_t len);

#endif
