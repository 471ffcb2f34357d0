/*
 * broker_context.h - the broker's shared context: the one `broker` struct
 * every part of the broker reaches the others through, and its counters.
 * broker.h owns its life cycle (start, stop, free); nothing here starts or
 * stops anything but the once-a-second rate sampling.
 *
 * One `broker` per process. Everything in it is owned by the event-loop
 * thread ("main") unless a field says otherwise: request handlers (the
 * processor_*.c files) run there, read the config freely, and reach the
 * other parts through these pointers. Service threads (the store's flush,
 * dispatch and cleaner threads, schedule and transaction services) never
 * touch loop-owned state directly; they post work to `q`.
 *
 * Counters: one source for each. What the store counts (messages and bytes
 * put, flushes, disk state) is read from store_get_stats; `broker_stats`
 * holds only what the broker alone sees (refused and busy sends, pulls).
 */
#ifndef MQ_BROKER_CONTEXT_H
#define MQ_BROKER_CONTEXT_H

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
struct sched_service;      /* schedule/schedule.h: delay-level and exact-time delivery */
struct txn_service;        /* transaction/transaction.h: half messages, check-back */
struct broker_metrics;     /* metrics.h: Prometheus metrics (metricsPort) */
struct ha_service;         /* ha/ha.h: master/slave replication */

/* Counters only the broker sees; the processors bump them on the loop
 * thread and GET_BROKER_RUNTIME_INFO reports them. Messages and bytes put
 * are the store's (store_stats), not counted again here. */
typedef struct broker_stats {
    uint64_t put_refused;       /* sends answered with an error */
    uint64_t busy_rejections;   /* sends answered SYSTEM_BUSY */
    uint64_t send_back_retries; /* failed messages stored for a retry (processor_send_back.c) */
    uint64_t send_back_dlq;     /* failed messages dead-lettered */
    uint64_t get_found;         /* pulls answered with messages */
    uint64_t get_miss;          /* pulls answered without */
    uint64_t get_msgs;          /* messages sent to consumers */
    uint64_t get_bytes;
} broker_stats;

/* Counters with per-second rates (broker_rate). */
typedef enum broker_rate_counter {
    BROKER_RATE_PUT_MSGS,       /* store_stats.put_msgs */
    BROKER_RATE_GET_MSGS,       /* broker_stats.get_msgs */
    BROKER_RATE_GET_FOUND,
    BROKER_RATE_GET_MISS,
    BROKER_RATE_COUNTERS
} broker_rate_counter;

enum { BROKER_RATE_WINDOW = 60 }; /* seconds of per-second samples kept */

typedef struct broker_rates {
    uint64_t samples[BROKER_RATE_WINDOW][BROKER_RATE_COUNTERS];
    int next;                   /* slot of the next sample */
    int filled;
    ev_timer timer;             /* 1 s, loop thread */
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
    struct sched_service *sched;
    struct txn_service *txn;      /* transaction/transaction.h */
    struct broker_metrics *metrics; /* NULL unless metricsPort is set */
    struct ha_service *ha;        /* ha/ha.h: replication (HA listener or slave client) */

    bool stopping;                /* broker_stop ran */
    bool restart;                 /* broker_restart: main re-executes the broker after the stop */
    char fenced[512];             /* non-empty: a newer master exists (ha_fenced); sends are refused with this */
    broker_stats stats;
    broker_rates rates;
} broker;

/* broker_stats.c: samples the rate counters once a second on b->loop from
 * broker_rates_start until broker_rates_stop (both loop thread; stop is a
 * no-op if never started). */
void broker_rates_start(broker *b);
void broker_rates_stop(broker *b);
/* Per-second rate of a counter over the last `seconds` (1..60), from the
 * samples; 0 before two samples exist. Loop thread. */
double broker_rate(const broker *b, broker_rate_counter counter, int seconds);

#ifdef __cplusplus
}
#endif

#endif
