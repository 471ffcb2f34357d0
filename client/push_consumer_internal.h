/*
 * push_consumer_internal.h - the parts of the push consumer and how they
 * share state. Internal to libmqclient.
 *
 *   push_consumer.c    life cycle, subscriptions, heartbeats, timers, shutdown
 *   rebalance.c        which queues are ours (rebalance), process queues,
 *                      queue locks of orderly consumers
 *   pull_loop.c        per queue: the start offset, then long-polling pulls
 *                      into the consume service; offset commits
 *   consume_service.c  consume threads: listeners, send-back, local retry
 *   offset_store.c     BROADCASTING offsets in a local file (offset_store.h)
 *
 * Threads
 *   (io) the client I/O thread: owns the process-queue table, every timer,
 *   every request. (consume) the consume threads. Process queues are shared
 *   by both: their `lock` guards the fields marked (locked); fields marked
 *   (io) are the I/O thread's alone. A process queue is reference-counted:
 *   the table, a pending request, a running timer and each consume task
 *   hold one reference.
 */
#ifndef MQ_CLIENT_PUSH_CONSUMER_INTERNAL_H
#define MQ_CLIENT_PUSH_CONSUMER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hashmap.h"
#include "heartbeat.h"
#include "instance.h"
#include "message_internal.h"
#include "offset_store.h"
#include "mq/consumer.h"
#include "process_queue.h"
#include "subscription.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mq_push_consumer mq_push_consumer;

/* One subscribed topic. */
typedef struct mqc_sub {
    char *topic;
    mq_subscription sub;    /* parsed expression */
    char *expr_type;        /* "TAG" or "SQL92" */
    bool is_retry;          /* %RETRY%<group>, subscribed automatically */
    bool route_fetching;    /* (io) an async route fetch is running */
    bool no_route_logged;   /* (io) "no route yet" was logged; cleared when one comes */
    bool ids_pending;       /* (io) GET_CONSUMER_LIST_BY_GROUP in flight */
    bool again;             /* (io) rebalance again when it answers */
} mqc_sub;

typedef enum mqc_pq_state {
    PQ_WAIT_LOCK,   /* orderly: waiting for the broker lock */
    PQ_WAIT_OFFSET, /* ready to find the start offset */
    PQ_OFFSET,      /* start-offset requests in flight */
    PQ_PULLING,     /* pull loop running */
    PQ_RELEASING,   /* dropped (orderly): waiting for the listener, then unlock */
} mqc_pq_state;

/* A queue assigned to this consumer and what is in flight from it. */
typedef struct mqc_pq {
    mq_message_queue mq;
    char key[MQ_TOPIC_MAX + MQ_BROKER_NAME_MAX + 16]; /* "topic\x01broker\x01id" */
    atomic_int refs;
    mq_push_consumer *c;
    mqc_sub *sub;

    pthread_mutex_t lock;
    mqc_inflight inflight;   /* (locked) */
    bool dropped;            /* (locked) */
    bool offset_known;       /* (locked) the start offset was found */
    bool locked;             /* (locked) orderly: broker lock held */
    int64_t lock_ms;         /* (locked) mono time of the last successful lock */
    mq_message_ext **pending;/* (locked) orderly: messages not yet consumed, in order */
    size_t pend_cap, pend_head, pend_len;
    bool scheduled;          /* (locked) orderly: a consume task is queued or running */
    bool consuming;          /* (locked) orderly: the listener is running */

    mqc_pq_state state;      /* (io) */
    bool parked;             /* (io) waits for resume() or a lock */
    bool pull_inflight;      /* (io) a pull request awaits its answer: never two at once */
    bool in_table;           /* (io) */
    ev_timer timer;          /* (io) pull later / retry the offset / release check */
    bool timer_on;           /* (io) */
    ev_timer resume_timer;   /* (io) orderly: end of a SUSPEND pause */
    bool resume_on;          /* (io) */
    int64_t persisted;       /* (io) offset last sent to the broker */
    uint64_t flow_pauses;    /* (io) times flow control paused the queue */
    int64_t pull_from;       /* (io) broker id the last pull answer suggested (0 = master) */
    bool pulled_slave;       /* (io) the pull in flight went to a slave */
    int64_t master_down_ms;  /* (io) mono time until which pulls avoid the master (it failed) */
    struct mqc_pq *rel_prev, *rel_next; /* (io) in c->releasing while PQ_RELEASING */
} mqc_pq;

/* A consume task: one message (concurrent) or a queue (orderly). */
typedef struct mqc_task {
    mqc_pq *pq;
    mq_message_ext *msg;
} mqc_task;

typedef struct mqc_consume_service {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    mqc_task *ring;
    size_t cap, head, len;
    pthread_t *threads;
    int n_threads;
    bool stopping;
    bool suspended;
} mqc_consume_service;

struct mq_push_consumer {
    char *group;
    char *namesrv;
    mq_push_consumer_options o;
    char *instance_name;
    char *offset_dir;
    mqc_sub *subs;
    int n_subs;
    mq_concurrent_listener listener;
    mq_orderly_listener orderly_listener;
    void *listener_arg;
    bool orderly;
    int max_reconsume;       /* resolved default */
    mqc_instance *inst;
    atomic_int state;
    atomic_bool suspended;
    /* per-message events logged as counts, not one line each (consume_service.c) */
    atomic_ullong send_back_failures, dropped_broadcast, dead_lettered;

    /* (io) */
    strmap pqs;              /* key -> mqc_pq* */
    mqc_pq *releasing;       /* dropped orderly queues waiting to commit and unlock */
    struct local_retry *local_retries; /* messages waiting to be consumed again */
    bool closing;
    ev_timer rebalance_timer, rebalance_soon, persist_timer, lock_timer;
    mqc_heartbeater hb;      /* brokers of the subscribed topics (heartbeat.c) */
    unsigned ids_rr;
    strmap local_offsets;    /* BROADCASTING: key -> int64_t* */
    char *offset_file;

    mqc_consume_service svc;
};

/* ---- process_queue.c: the process queue (io unless marked) ---- */
/* A process queue for mq of sub, holding one reference (the table's). */
mqc_pq *mqc_pq_new(mq_push_consumer *c, mqc_sub *sub, const mq_message_queue *mq);
void mqc_pq_ref(mqc_pq *pq);   /* (any) */
void mqc_pq_unref(mqc_pq *pq); /* (any) the last frees */
/* Orderly: may this queue be consumed now? (locked) */
bool mqc_pq_lock_valid(const mqc_pq *pq, int64_t now);
/* Orderly: queue a consume task for pq if it has messages and none is queued. */
void mqc_pq_schedule_orderly(mqc_pq *pq);
/* The queue is no longer ours: out of the table, timers off, then release
 * (orderly with the lock held) or commit now. Drops the table's reference. */
void mqc_pq_drop(mq_push_consumer *c, mqc_pq *pq);
/* Runs mqc_pq_step after delay_ms. */
void mqc_pq_later(mqc_pq *pq, int delay_ms);
void mqc_pq_stop_timers(mqc_pq *pq);
/* Ends the release of a dropped orderly queue: commit, unlock, forget. */
void mqc_pq_release_now(mqc_pq *pq);

/* ---- rebalance.c (io) ---- */
void mqc_rebalance_all(mq_push_consumer *c);
/* Rebalance again after delay_ms (coalesced). */
void mqc_rebalance_soon(mq_push_consumer *c, int delay_ms);
void mqc_lock_all(mq_push_consumer *c);
/* Asks pq's broker for pq's lock (a queue still waiting for it). */
void mqc_lock_queue(mq_push_consumer *c, mqc_pq *pq);
/* Master address of pq's broker from the cached route, copied into out. */
bool mqc_pq_broker_addr(mq_push_consumer *c, const mq_message_queue *mq, char *out, size_t cap);
/* Where pq's next pull goes (RocketMQ's pullFromWhichNodeTable): the broker
 * id the last answer suggested if the route has it, else the master, else
 * any broker of that name (the master left the route). While
 * pq->master_down_ms is ahead (a pull to the master just failed) a slave of
 * the route is chosen instead of the master. *slave is true when the
 * address is not the master's. (io) */
bool mqc_pq_pull_addr(mq_push_consumer *c, const mqc_pq *pq, char *out, size_t cap, bool *slave);
/* Sends the queue's encoded lock body (LockBatchRequestBody) of queues. */
void mqc_lock_body(mq_push_consumer *c, mqc_pq **pqs, int n, bytebuf *out);
/* Sends UNLOCK_BATCH_MQ oneway for pq. (io) */
void mqc_pq_unlock_oneway(mq_push_consumer *c, mqc_pq *pq);

/* ---- pull_loop.c (io) ---- */
/* Runs the queue's next step (lock wait, offset search, pull). */
void mqc_pq_step(mqc_pq *pq);
/* Commit offsets of every queue that advanced (periodic). */
void mqc_persist_all(mq_push_consumer *c);
/* Commits pq's offset now (oneway), e.g. when it is dropped. */
void mqc_pq_persist(mq_push_consumer *c, mqc_pq *pq);
/* Restarts queues parked by suspend(). */
void mqc_unpark_all(mq_push_consumer *c);

/* ---- consume_service.c ---- */
int mqc_svc_start(mq_push_consumer *c, mq_error *err);
/* Stops taking tasks, waits for running listeners, drops queued tasks. */
void mqc_svc_stop(mq_push_consumer *c);
/* Hands the kept messages of batch (from pq) to the listeners. Takes the
 * caller's batch reference. (io) */
void mqc_svc_submit(mq_push_consumer *c, mqc_pq *pq, mqc_msg_batch *batch);
/* Orderly: queues a consume task for pq (the caller set pq->scheduled). */
void mqc_svc_push_queue(mq_push_consumer *c, mqc_pq *pq);
void mqc_svc_set_suspended(mq_push_consumer *c, bool suspended);
/* Shutdown: forgets local retries still waiting (their messages stay
 * uncommitted). (io) */
void mqc_svc_cancel_retries(mq_push_consumer *c);

#ifdef __cplusplus
}
#endif

#endif
