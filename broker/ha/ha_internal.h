/*
 * ha_internal.h - the ha_service object shared by the files of broker/ha/
 * (ha_service.c: life cycle, SYNC_MASTER waits, stats; ha_master.c: the HA
 * listener and one thread per slave; ha_slave.c: the slave's client;
 * ha_sync.c: the slave's copy of configs and offsets). Nothing outside
 * broker/ha includes it; the interface is ha.h.
 */
#ifndef MQ_BROKER_HA_INTERNAL_H
#define MQ_BROKER_HA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <ev.h>

#include "evq.h"
#include "ha.h"
#include "ha_state.h"
#include "store/store.h"

#define HA_HEADER_LEN 12 /* master -> slave: offset 8 + size 4 */
#define HA_REPORT_LEN 8  /* slave -> master: offset 8 */

/* One connected slave, served by its ha-conn thread. */
typedef struct ha_conn {
    struct ha_conn *next;       /* conns_mu */
    struct ha_service *ha;
    int fd;
    int wake_fd;                /* eventfd: new data in the log, or stop */
    atomic_bool wake_pending;
    pthread_t thread;
    atomic_bool done;           /* thread finished: the reaper joins and frees */
    char peer[64];
    _Atomic int64_t acked;      /* last offset the slave reported, -1 before the first */
} ha_conn;

/* A SYNC_MASTER send waiting for a slave (loop thread). */
typedef struct ha_wait {
    struct ha_wait *next;
    evq_item flush_item;        /* the store-flush callback posts it */
    struct ha_service *ha;
    int64_t end;
    int64_t deadline;           /* mono ms */
    rm_reply_to to;
    int32_t queue_id;
    int64_t queue_offset;
    char *msg_id;               /* batch: comma-separated ids; kept across reuse */
    size_t msg_id_cap;
    bool slave_done, flush_done;
    bool plain;                 /* answered with a status and msg_id as its remark (ha_status_wait) */
    store_put_status slave_status, flush_status;
} ha_wait;

struct ha_service {
    broker *b;
    store *s;
    int role;
    atomic_bool stop;
    int stop_fd;                /* eventfd, readable once stopping */

    /* master */
    int listen_fd;
    int port;
    pthread_t accept_thread;
    bool accept_running;
    pthread_mutex_t conns_mu;
    ha_conn *conns;
    _Atomic int64_t ack_max;    /* best offset a valid slave acknowledged */
    evq_item ack_item;
    atomic_bool ack_posted;

    /* SYNC_MASTER waits, loop thread: FIFO in put order (ends and deadlines grow) */
    ha_wait *head, *tail, *spare;
    atomic_int nwaiting;
    ev_timer wait_timer;
    uint64_t sync_waits, sync_ok, sync_timeouts, sync_not_available;

    /* slave */
    pthread_t slave_thread;
    bool slave_running;
    pthread_mutex_t master_mu;
    char master_ha[64];         /* master_mu */
    char master_addr[64];       /* loop thread */
    atomic_bool connected;
    _Atomic int64_t master_seen;
    _Atomic uint64_t bytes_received;

    /* epoch history, hist_mu (loop, ha-conn and ha-slave threads) */
    pthread_mutex_t hist_mu;
    ha_history hist;
    atomic_bool restart_pending; /* ha-slave: a cut is recorded; the broker restarts */
    ev_timer fence_timer;        /* loop: a fenced master waits for its slaves, then restarts */
    int64_t fence_deadline;

    /* slave config sync (ha_sync.c), loop thread */
    ev_timer sync_timer;
    rm_conn *sync_conn;
    int sync_inflight;
    _Atomic int64_t sync_config_ms;
};

/* ha_master.c */
int ha_master_start(struct ha_service *ha, char *err, size_t errlen);
void ha_master_stop(struct ha_service *ha);
/* Any thread: wake every ha-conn thread (new bytes in the log). */
void ha_master_notify(struct ha_service *ha);
/* Best ack among connected slaves (-1 none), their count and "addr:ack;..". */
int ha_master_slaves(struct ha_service *ha, int64_t *best_ack, char *list, size_t cap);

/* ha_service.c: an ha-conn thread saw a new ack. */
void ha_on_ack(struct ha_service *ha, int64_t offset);

/* ha_slave.c */
int ha_slave_start(struct ha_service *ha, char *err, size_t errlen);
void ha_slave_stop(struct ha_service *ha);

/* ha_sync.c */
void ha_sync_start(struct ha_service *ha);
void ha_sync_stop(struct ha_service *ha);
/* A round now (the master's address just became known). */
void ha_sync_now(struct ha_service *ha);
/* Master side: serves GET_ALL_CONSUMER_OFFSET. */
void ha_sync_register(broker *b);


/* ha_role.c: the ha-slave thread found that the local log must be cut at
 * offset: records it and restarts the broker (posted to the loop). */
void ha_request_truncation(struct ha_service *ha, int64_t offset, const char *why);
/* ha_role.c: the fenced master's drain timer (fence_timer). */
void ha_fence_tick(struct ev_loop *loop, ev_timer *t, int revents);

/* Waits up to ms for fd to become readable or the service to stop.
 * Returns 1 readable, 0 timeout, -1 stopping. */
int ha_poll_in(struct ha_service *ha, int fd, int ms);

#endif
