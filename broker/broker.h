/*
 * broker.h - the broker's shared context and its life cycle.
 *
 * One `broker` per process. Everything in it is owned by the event-loop
 * thread ("main") unless a field says otherwise: request handlers (the
 * processor_*.c files) run there, read the config freely, and reach the
 * other parts through these pointers. Service threads (the store's flush,
 * dispatch and cleaner threads, schedule and transaction services) never
 * touch loop-owned state directly; they post work to `q`.
 *
 * Start-up order (broker_init): config → logging → metadata database →
 * topic and group tables → store (recovery) → processors register their
 * request codes → listen → register with the nameservers. Shutdown
 * (broker_stop, on SIGTERM/SIGINT) reverses it: unregister from the
 * nameservers, stop accepting, flush offsets, close the store cleanly.
 */
#ifndef MQ_BROKER_H
#define MQ_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "addr.h"
#include "broker_config.h"
#include "evq.h"
#include "remoting.h"

#ifdef __cplusplus
extern "C" {
#endif

struct meta_db;            /* meta_db.h: RocksDB for topics, groups, consumer offsets */
struct store;              /* store/store.h: CommitLog, ConsumeQueue, indexes */
struct topic_table;        /* topic_config.h */
struct group_table;        /* subscription_group.h */
struct namesrv_registrar;  /* namesrv_register.h */
struct client_manager;     /* client_manager.h: producers and consumer groups by heartbeat */
struct offset_manager;     /* consumer_offset.h */
struct pull_hold;          /* pull_hold.h: long-polling pulls */
struct queue_locks;        /* queue_lock.h: orderly consumers' queue locks */
struct send_state;         /* processor_send.c: send policy state (processor_send.h) */

/* Counters the processors bump (loop thread) and GET_BROKER_RUNTIME_INFO
 * reports, with per-second rates sampled by a timer in broker.c. */
typedef struct broker_stats {
    uint64_t put_msgs;          /* messages stored */
    uint64_t put_bytes;         /* body bytes stored */
    uint64_t put_refused;       /* sends answered with an error */
    uint64_t busy_rejections;   /* sends answered SYSTEM_BUSY */
    uint64_t get_found;         /* pulls answered with messages */
    uint64_t get_miss;          /* pulls answered without */
    uint64_t get_msgs;          /* messages sent to consumers */
    uint64_t get_bytes;
} broker_stats;

enum { BROKER_RATE_WINDOW = 60 }; /* seconds of per-second samples kept */

typedef struct broker_rates {
    broker_stats samples[BROKER_RATE_WINDOW];
    int next;                   /* slot of the next sample */
    int filled;
} broker_rates;

typedef struct broker {
    broker_config cfg;            /* read-only after start: any thread */
    struct ev_loop *loop;
    rm_dispatch *dispatch;        /* request code -> processor */
    rm_server *server;
    evq *q;                       /* service threads -> loop */
    char addr[ADDR_TEXT_MAX];     /* "brokerIP1:port" announced and used in offset msg ids */
    uint32_t ip4;                 /* brokerIP1 as a host-order IPv4 (store host) */
    int port;                     /* port actually listened on */
    int64_t start_ms;             /* wall clock at start */

    struct meta_db *meta;
    struct store *store;
    struct topic_table *topics;
    struct group_table *groups;
    struct namesrv_registrar *registrar;
    struct client_manager *clients;
    struct offset_manager *offsets;
    struct pull_hold *pull_hold;
    struct queue_locks *locks;
    struct send_state *send;

    bool stopping;                /* broker_stop ran */
    broker_stats stats;
    broker_rates rates;
    ev_timer rate_timer;
} broker;

/* Messages per second of a counter over the last `seconds` (<= 60), from
 * the sampled rates; e.g. broker_rate(b, offsetof(broker_stats, put_msgs), 10). */
double broker_rate(const broker *b, size_t counter_offset, int seconds);

/* Builds the broker from a parsed config: opens storage, registers the
 * processors, listens, starts registering with the nameservers. Returns 0,
 * or -1 with err (the caller exits). */
int broker_init(broker *b, const broker_config *cfg, struct ev_loop *loop, char *err, size_t errlen);
/* Orderly stop, on the loop thread: unregister, stop listening, flush, break the loop. */
void broker_stop(broker *b);
/* Frees everything after the loop returned. */
void broker_destroy(broker *b);

#ifdef __cplusplus
}
#endif

#endif
