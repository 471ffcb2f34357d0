/*
 * producer_impl.h - what producer.c, producer_async.c and publish_table.c
 * share: the producer struct, the route snapshot's layout, the request and
 * answer of one send. Code built on the producer uses producer_internal.h.
 * Internal to libmqclient (C only: C11 atomics).
 */
#ifndef MQ_CLIENT_PRODUCER_IMPL_H
#define MQ_CLIENT_PRODUCER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "heartbeat.h"
#include "producer_internal.h"

#define MQC_DEFAULT_TOPIC "TBW102"
#define MQC_DEFAULT_TOPIC_QUEUE_NUMS 4

/* Life-cycle states: see the table at the top of producer.c. */
enum { P_CREATED = 0, P_STARTED = 1, P_STOPPED = 2 };

/* Writable queues of a topic from one version of its route: a route
 * snapshot. Immutable once built; shared by reference count between the
 * publish table and every send using it. */
struct mqc_topic_pub {
    atomic_int refs;
    mqc_route *route;       /* reference; owns the strings the queues point to */
    mqc_pub_queue *queues;  /* sorted by broker name, queue id */
    int n;
    bool from_default;      /* built from TBW102 (topic not created yet) */
    int64_t built_ms;
};

struct mq_producer {
    char *group;
    char *namesrv;
    mq_producer_options o;
    mqc_instance *inst;
    atomic_int state;
    pthread_mutex_t lock; /* publish */
    strmap publish;       /* topic -> publish_slot* (publish_table.c) */
    mqc_heartbeater hb;   /* brokers of the topics used so far */
    mqc_fault_table faults;
    /* async/oneway jobs alive */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cv;
    int jobs;
    int jobs_waiters; /* threads in a timed wait on jobs_cv (signal only then) */
    struct send_job *job_free; /* (jobs_lock) finished jobs kept for reuse */
    size_t job_free_bytes;
    strmap pending;           /* (io) topic -> pending_list: async jobs posted together */
    bytebuf batch_body;       /* (io) body of the automatic batch being sent */
    struct send_job *backoff_jobs; /* (io) async jobs waiting out a SYSTEM_BUSY back-off */
    bool io_closing;          /* (io) shutdown: no more back-off waits */
    atomic_uint_fast64_t oneway_failures;
};

/* producer_async.c: frees the jobs kept for reuse (destroy). */
void mqc_prod_jobs_free_pool(mq_producer *p);

/* ---- publish_table.c ---- */

/* The current snapshot of topic and its round-robin counter. Never blocks
 * when the cached route is current; otherwise fetches (blocking) unless
 * on_io, where only cached routes are used. */
int mqc_pub_get(mq_producer *p, const char *topic, bool on_io, mqc_topic_pub **out, atomic_uint **counter,
                mq_error *err);
/* Index of the queue of pub to try next: round-robin from *counter (NULL:
 * from now_ms), avoiding avoid_broker and, if enabled, slow brokers. */
int mqc_pub_choose(mq_producer *p, const mqc_topic_pub *pub, atomic_uint *counter, const char *avoid_broker,
                   int64_t now_ms);
/* The queue of pub the caller chose (want, or index idx), resolved in pub. */
int mqc_pub_resolve(const mqc_topic_pub *pub, const char *topic, const mq_message_queue *want, int idx,
                    mqc_pub_queue *q, mq_error *err);
/* pub's queues as the public API shows them (caller frees). */
mq_message_queue *mqc_pub_to_queues(const mqc_topic_pub *pub, const char *topic);
/* Fetches topic's route again in the background: from any thread (posts to
 * the I/O thread), or on the I/O thread itself (_io). */
void mqc_pub_refetch(mq_producer *p, const char *topic);
void mqc_pub_refetch_io(mq_producer *p, const char *topic);
/* Frees the table (destroy, after shutdown). */
void mqc_pub_table_free(mq_producer *p);

/* ---- one send request, and what the broker answered (producer.c) ---- */

typedef struct mqc_send_req {
    int32_t code;            /* RC_SEND_MESSAGE_V2 or RC_SEND_BATCH_MESSAGE */
    const char *topic;
    const char *props;
    int32_t flag;
    const uint8_t *body;
    uint32_t body_len;
    int64_t born_ms;
    int32_t sysflag;
} mqc_send_req;

typedef struct mqc_send_answer {
    int32_t code;
    int32_t queue_id;
    int64_t queue_offset;
    char *msg_id;            /* heap copy for batches (may be long) */
    char msg_id_small[MQ_MSG_ID_MAX];
    char remark[200];
} mqc_send_answer;

/* What to do after an attempt. */
typedef enum { MQC_NEXT_DONE, MQC_NEXT_RETRY, MQC_NEXT_BUSY, MQC_NEXT_FAIL } mqc_next_step;

int mqc_prod_check_started(mq_producer *p, mq_error *err);
/* check_started, then the message against the producer's limits. */
int mqc_prod_check_send(mq_producer *p, const mq_message *msg, mq_error *err);
void mqc_prod_fill_header(mq_producer *p, const mqc_send_req *r, const mqc_pub_queue *q, Mq__RemotingHeader *h,
                          Mq__SendMessageRequestHeader *sh);
void mqc_prod_read_answer(const rm_cmd *resp, mqc_send_answer *a);
const char *mqc_prod_answer_msg_id(const mqc_send_answer *a);
bool mqc_prod_is_stored(int32_t code);
void mqc_prod_fill_result(const mqc_send_req *r, const mqc_pub_queue *q, const mqc_send_answer *a,
                          const char *uniq_id, mq_send_result *res);
/* Classifies an attempt, updates fault avoidance, fills err for failures. */
mqc_next_step mqc_prod_judge(mq_producer *p, const mqc_pub_queue *q, int rc, const mqc_send_answer *a,
                             const mq_error *e, int64_t latency_ms, mq_error *err);
int mqc_prod_busy_backoff_next(int prev);
int mqc_prod_timed_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline_mono_ms);

/* ---- producer_async.c ---- */

/* After each drain of posted work: what arrived together goes together. (io) */
void mqc_prod_jobs_on_drained(void *p);
/* Sends everything pending now. (io) */
void mqc_prod_jobs_flush(mq_producer *p);
/* Shutdown: jobs waiting out a back-off end now with MQ_ESTATE. (io) */
void mqc_prod_jobs_stop_backoff(mq_producer *p);

#endif
