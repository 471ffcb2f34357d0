/*
 * producer.c - the producer (mq/producer.h): route lookup, queue choice,
 * retries, SYSTEM_BUSY back-off, latency fault avoidance, heartbeats.
 *
 * Threads and what they own
 *   Application threads run sync sends start to finish: choose a queue,
 *   build the header on their stack, hand it to the I/O thread with
 *   mqc_invoke_sync_view and read the answer straight from the transport's
 *   buffer, so a sync send allocates nothing in this file (the property
 *   string is built in a stack buffer; the body is borrowed until the
 *   transport copies it into its output chunk).
 *   Async and oneway sends copy the message into one job allocation and
 *   post it (intrusively) to the I/O thread, which chooses the queue, sends,
 *   retries and runs the callback. Async jobs that reach the I/O thread in
 *   the same wake-up (one drain of the posted work) for the same topic are
 *   sent together as one
 *   SEND_BATCH_MESSAGE (wire-level batching, as Kafka clients do; no linger
 *   timer, so a lone message is never delayed): the broker stores them as
 *   consecutive records of one queue, and each job still gets its own
 *   callback, queue offset and message ids. A failed batch falls back to
 *   each job's own retry path. A counter bounds the jobs alive at once
 *   (max_async_inflight): the caller waits for room, which is the
 *   back-pressure of a pipelined producer.
 *   The I/O thread also sends heartbeats every heartbeat_interval_ms to the
 *   masters of every topic used so far (mqc_heartbeater, heartbeat.c).
 *
 * Shared state
 *   `lock` guards the publish table (topic -> writable queues built from the
 *   cached route, shared by reference count with senders); the heartbeater
 *   guards its set of brokers; the fault table has its own mutex; the round-robin
 *   counter of a topic is atomic. A topic whose route does not exist yet
 *   is sent through the brokers of the template topic TBW102 (the broker
 *   creates it on first send when autoCreateTopicEnable=true), as RocketMQ
 *   does; its real route is fetched again in the background at most once a
 *   second until it exists.
 */
#define _GNU_SOURCE
#include "mq/producer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heartbeat.h"
#include "instance.h"
#include "log.h"
#include "message_internal.h"
#include "queue_select.h"
#include "util.h"

#define DEFAULT_TOPIC "TBW102"
#define DEFAULT_TOPIC_QUEUE_NUMS 4
#define BUSY_BACKOFF_FIRST_MS 5
#define BUSY_BACKOFF_MAX_MS 200
#define PROPS_STACK 1024

enum { P_CREATED = 0, P_STARTED = 1, P_STOPPED = 2 };

/* Writable queues of a topic from one version of its route. */
typedef struct topic_pub {
    atomic_int refs;
    mqc_route *route;       /* reference; owns the strings the queues point to */
    mqc_pub_queue *queues;  /* sorted by broker name, queue id */
    int n;
    bool from_default;      /* built from TBW102 (topic not created yet) */
    int64_t built_ms;
} topic_pub;

typedef struct topic_slot {
    topic_pub *pub;
    atomic_uint counter;    /* round-robin position */
    atomic_llong refetch_ms;/* from_default: last background route fetch */
} topic_slot;

struct mq_producer {
    char *group;
    char *namesrv;
    mq_producer_options o;
    mqc_instance *inst;
    atomic_int state;
    pthread_mutex_t lock; /* publish */
    strmap publish;       /* topic -> topic_slot* */
    mqc_heartbeater hb;   /* brokers of the topics used so far */
    mqc_fault_table faults;
    /* async/oneway jobs alive */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cv;
    int jobs;
    int jobs_waiters; /* threads in a timed wait on jobs_cv (signal only then) */
    strmap pending;           /* (io) topic -> pending_list: async jobs posted together */
    struct send_job *backoff_jobs; /* (io) async jobs waiting out a SYSTEM_BUSY back-off */
    bool io_closing;          /* (io) shutdown: no more back-off waits */
    atomic_uint_fast64_t oneway_failures;
};

void mq_producer_options_init(mq_producer_options *o)
{
    memset(o, 0, sizeof *o);
    o->send_timeout_ms = 3000;
    o->retry_times_when_send_failed = 2;
    o->retry_times_when_send_async_failed = 2;
    o->max_message_size = 4 * 1024 * 1024;
    o->compress_msg_body_over_howmuch = 0;
    o->send_latency_fault_enable = true;
    o->fault_isolation_ms = 30000;
    o->max_async_inflight = 10000;
    o->async_batch_max_msgs = 64;
    o->async_batch_max_bytes = 256 * 1024;
    o->heartbeat_interval_ms = 30000;
    o->poll_name_server_interval_ms = 30000;
}

const char *mq_send_status_name(mq_send_status s)
{
    switch (s) {
    case MQ_SEND_OK: return "SEND_OK";
    case MQ_SEND_FLUSH_DISK_TIMEOUT: return "FLUSH_DISK_TIMEOUT";
    case MQ_SEND_FLUSH_SLAVE_TIMEOUT: return "FLUSH_SLAVE_TIMEOUT";
    case MQ_SEND_SLAVE_NOT_AVAILABLE: return "SLAVE_NOT_AVAILABLE";
    }
    return "UNKNOWN";
}

void mq_send_result_destroy(mq_send_result *r)
{
    if (!r)
        return;
    free(r->batch_msg_ids);
    free(r->batch_offset_msg_ids);
    r->batch_msg_ids = r->batch_offset_msg_ids = NULL;
}

void mq_free(void *p) { free(p); }

/* ---- publish table ---- */

static void pub_unref(topic_pub *pub)
{
    if (pub && atomic_fetch_sub(&pub->refs, 1) == 1) {
        mqc_route_release(pub->route);
        free(pub->queues);
        free(pub);
    }
}

static int pub_queue_cmp(const void *a, const void *b)
{
    const mqc_pub_queue *x = a, *y = b;
    int c = strcmp(x->broker_name, y->broker_name);
    return c ? c : (x->queue_id > y->queue_id) - (x->queue_id < y->queue_id);
}

/* Writable queues of route (with a master). from_default limits each broker
 * to DEFAULT_TOPIC_QUEUE_NUMS queues, as RocketMQ does for TBW102. Takes the
 * route reference. */
static topic_pub *pub_build(mqc_route *route, bool from_default)
{
    topic_pub *pub = xcalloc(1, sizeof *pub);
    atomic_init(&pub->refs, 1);
    pub->route = route;
    pub->from_default = from_default;
    pub->built_ms = mono_ms();
    Mq__TopicRouteData *d = route->data;
    int total = 0;
    for (size_t i = 0; i < d->n_queuedatas; i++)
        if (d->queuedatas[i]->perm & PERM_WRITE)
            total += d->queuedatas[i]->writequeuenums > 0 ? d->queuedatas[i]->writequeuenums : 0;
    pub->queues = xcalloc(total ? (size_t)total : 1, sizeof *pub->queues);
    for (size_t i = 0; i < d->n_queuedatas; i++) {
        Mq__QueueData *q = d->queuedatas[i];
        if (!(q->perm & PERM_WRITE) || !q->brokername)
            continue;
        const char *addr = mqc_route_broker_addr(route, q->brokername, 0);
        if (!addr)
            continue; /* no master: cannot take writes */
        int nq = q->writequeuenums;
        if (from_default && nq > DEFAULT_TOPIC_QUEUE_NUMS)
            nq = DEFAULT_TOPIC_QUEUE_NUMS;
        for (int j = 0; j < nq; j++) {
            pub->queues[pub->n].broker_name = q->brokername;
            pub->queues[pub->n].addr = addr;
            pub->queues[pub->n].queue_id = j;
            pub->n++;
        }
    }
    qsort(pub->queues, (size_t)pub->n, sizeof *pub->queues, pub_queue_cmp);
    return pub;
}

static void on_refetched(mqc_instance *inst, const char *topic, int rc, void *arg)
{
    (void)inst;
    (void)topic;
    (void)rc;
    (void)arg;
}

static void refetch_start(void *arg)
{
    void **a = arg;
    mqc_route_refresh_async(a[0], a[1], on_refetched, NULL);
    free(a[1]);
    free(a);
}

/* Asks the I/O thread to fetch topic's route in the background. (any) */
static void refetch_route(mq_producer *p, const char *topic)
{
    void **a = xmalloc(2 * sizeof *a);
    a[0] = p->inst;
    a[1] = xstrdup(topic);
    if (mqc_post(p->inst, refetch_start, a) != MQ_OK) {
        free(a[1]);
        free(a);
    }
}

static void heartbeat_new_brokers(mq_producer *p, const topic_pub *pub);

/* Installs pub as the current queues of topic; returns a reference for the
 * caller. */
static topic_pub *pub_install(mq_producer *p, const char *topic, topic_pub *pub)
{
    pthread_mutex_lock(&p->lock);
    topic_slot *slot = strmap_get(&p->publish, topic);
    if (!slot) {
        slot = xcalloc(1, sizeof *slot);
        atomic_init(&slot->counter, (unsigned)(mono_ns() & 0xffff));
        strmap_put(&p->publish, topic, slot);
    }
    topic_pub *old = slot->pub;
    slot->pub = pub;
    atomic_fetch_add(&pub->refs, 1);
    pthread_mutex_unlock(&p->lock);
    pub_unref(old);
    heartbeat_new_brokers(p, pub);
    return pub;
}

/* The current queues of topic and its round-robin counter. Never blocks
 * when the cached route is current; otherwise fetches (blocking) unless
 * on_io, where only cached routes are used. */
static int pub_get(mq_producer *p, const char *topic, bool on_io, topic_pub **out,
                   atomic_uint **counter, mq_error *err)
{
    mqc_route *cur = mqc_route_cached(p->inst, topic);
    pthread_mutex_lock(&p->lock);
    topic_slot *slot = strmap_get(&p->publish, topic);
    topic_pub *pub = slot ? slot->pub : NULL;
    if (pub && ((cur && pub->route == cur) || (!cur && pub->from_default))) {
        atomic_fetch_add(&pub->refs, 1);
        *out = pub;
        *counter = &slot->counter;
        bool refetch = false;
        if (pub->from_default) {
            long long now = mono_ms(), last = atomic_load(&slot->refetch_ms);
            refetch = now - last >= 1000 && atomic_compare_exchange_strong(&slot->refetch_ms, &last, now);
        }
        pthread_mutex_unlock(&p->lock);
        mqc_route_release(cur);
        if (refetch)
            refetch_route(p, topic);
        return MQ_OK;
    }
    pthread_mutex_unlock(&p->lock);

    mqc_route *route = cur;
    bool from_default = false;
    if (!route) {
        if (on_io) {
            mqc_error_set(err, MQ_ENOROUTE, "no route for topic %s yet", topic);
            return MQ_ENOROUTE;
        }
        mq_error e = {0};
        int rc = mqc_route_get(p->inst, topic, false, &route, &e);
        if (rc == MQ_ENOROUTE) {
            /* Not created yet: go through the brokers that may create it. */
            mq_error e2 = {0};
            if (mqc_route_get(p->inst, DEFAULT_TOPIC, false, &route, &e2) == MQ_OK) {
                from_default = true;
            } else {
                if (err)
                    *err = e;
                return rc;
            }
        } else if (rc != MQ_OK) {
            if (err)
                *err = e;
            return rc;
        }
    }
    topic_pub *built = pub_build(route, from_default);
    if (built->n == 0) {
        mqc_error_set(err, MQ_ENOROUTE, "topic %s has no writable queue on a broker with a master%s",
                      topic, from_default ? " (not created yet, and no broker auto-creates topics)" : "");
        pub_unref(built);
        return MQ_ENOROUTE;
    }
    pub_install(p, topic, built);
    pthread_mutex_lock(&p->lock);
    topic_slot *s2 = strmap_get(&p->publish, topic);
    *counter = &s2->counter;
    atomic_store(&s2->refetch_ms, mono_ms());
    pthread_mutex_unlock(&p->lock);
    *out = built; /* pub_install's reference */
    return MQ_OK;
}

/* ---- heartbeats ---- */

/* Heartbeats the brokers of pub not heartbeated before. (any) */
static void heartbeat_new_brokers(mq_producer *p, const topic_pub *pub)
{
    mqc_addr_set set = {0};
    for (int i = 0; i < pub->n; i++)
        mqc_addr_set_add(&set, pub->queues[i].addr);
    mqc_heartbeater_greet(&p->hb, &set);
    mqc_addr_set_free(&set);
}

static void on_drained(void *arg);

static void io_start(void *arg)
{
    mq_producer *p = arg;
    mqc_heartbeater_start(&p->hb, p->inst, p->o.heartbeat_interval_ms, NULL, NULL);
    mqc_on_drained(p->inst, on_drained, p);
}

static void stop_backoff_jobs(mq_producer *p);
static void flush_pending(mq_producer *p);

static void io_stop(void *arg)
{
    mq_producer *p = arg;
    p->io_closing = true;
    mqc_heartbeater_stop(&p->hb);
    mqc_on_drained(p->inst, NULL, NULL);
    flush_pending(p); /* jobs posted but not yet sent go out (or fail) now */
    stop_backoff_jobs(p);
}

/* ---- life cycle ---- */

int mq_producer_new(const char *group, const char *namesrv_addr, const mq_producer_options *opts,
                    mq_producer **out, mq_error *err)
{
    int rc = mqc_check_group(group, err);
    if (rc != MQ_OK)
        return rc;
    mq_producer_options o;
    if (opts)
        o = *opts;
    else
        mq_producer_options_init(&o);
    if (o.compress_msg_body_over_howmuch != 0) {
        mqc_error_set(err, MQ_EINVAL, "compress_msg_body_over_howmuch: compression is not implemented yet (use 0)");
        return MQ_EINVAL;
    }
    if (o.send_timeout_ms <= 0 || o.max_message_size <= 0 || o.retry_times_when_send_failed < 0 ||
        o.retry_times_when_send_async_failed < 0 || o.max_async_inflight <= 0 ||
        o.heartbeat_interval_ms <= 0 || o.fault_isolation_ms < 0 || o.async_batch_max_msgs < 1 ||
        o.async_batch_max_bytes < 1024) {
        mqc_error_set(err, MQ_EINVAL, "producer options: timeouts, sizes and intervals must be positive");
        return MQ_EINVAL;
    }
    mq_producer *p = xcalloc(1, sizeof *p);
    p->group = xstrdup(group);
    p->namesrv = namesrv_addr ? xstrdup(namesrv_addr) : NULL;
    p->o = o;
    p->o.instance_name = o.instance_name ? xstrdup(o.instance_name) : NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->jobs_lock, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&p->jobs_cv, &a);
    pthread_condattr_destroy(&a);
    strmap_init(&p->publish);
    strmap_init(&p->pending);
    mqc_fault_table_init(&p->faults, o.fault_isolation_ms);
    mqc_heartbeater_init(&p->hb);
    *out = p;
    return MQ_OK;
}

int mq_producer_start(mq_producer *p, mq_error *err)
{
    if (atomic_load(&p->state) != P_CREATED) {
        mqc_error_set(err, MQ_ESTATE, "producer already started or shut down");
        return MQ_ESTATE;
    }
    mqc_options io;
    mqc_options_default(&io);
    io.namesrv_addr = p->namesrv;
    io.instance_name = p->o.instance_name;
    io.request_timeout_ms = p->o.send_timeout_ms;
    io.poll_name_server_interval_ms = p->o.poll_name_server_interval_ms;
    int rc = mqc_instance_new(&io, &p->inst, err);
    if (rc != MQ_OK)
        return rc;
    mqc_heartbeat_encode(mqc_client_id(p->inst), p->group, NULL, &p->hb.body);
    mqc_run_sync(p->inst, io_start, p);
    atomic_store(&p->state, P_STARTED);
    return MQ_OK;
}

static int timed_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline_mono_ms)
{
    struct timespec ts;
    ts.tv_sec = deadline_mono_ms / 1000;
    ts.tv_nsec = (deadline_mono_ms % 1000) * 1000000L;
    return pthread_cond_timedwait(cv, m, &ts);
}

void mq_producer_shutdown(mq_producer *p)
{
    int expected = P_STARTED;
    if (!atomic_compare_exchange_strong(&p->state, &expected, P_STOPPED)) {
        atomic_store(&p->state, P_STOPPED);
        return;
    }
    /* Let async sends finish: each ends by its deadline (send timeout). */
    int64_t deadline = mono_ms() + p->o.send_timeout_ms + 1000;
    pthread_mutex_lock(&p->jobs_lock);
    p->jobs_waiters++;
    while (p->jobs > 0)
        if (timed_wait_ms(&p->jobs_cv, &p->jobs_lock, deadline) == ETIMEDOUT)
            break;
    p->jobs_waiters--;
    int left = p->jobs;
    pthread_mutex_unlock(&p->jobs_lock);
    if (left)
        log_warn("producer %s: %d async sends still pending at shutdown; their callbacks get MQ_ESTATE",
                 p->group, left);
    mqc_run_sync(p->inst, io_stop, p);
    mqc_addr_set set = {0};
    mqc_heartbeater_snapshot(&p->hb, &set);
    mqc_unregister(p->inst, &set, p->group, NULL, mqc_default_timeout(p->inst));
    mqc_addr_set_free(&set);
    mqc_instance_free(p->inst); /* jobs still queued finish with MQ_ESTATE here */
    p->inst = NULL;
}

void mq_producer_destroy(mq_producer *p)
{
    if (!p)
        return;
    mq_producer_shutdown(p);
    void *v;
    for (size_t it = 0; strmap_next(&p->publish, &it, NULL, &v);) {
        topic_slot *s = v;
        pub_unref(s->pub);
        free(s);
    }
    strmap_free(&p->publish);
    strmap_free(&p->pending); /* emptied by io_stop */
    mqc_heartbeater_free(&p->hb);
    mqc_fault_table_free(&p->faults);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->jobs_lock);
    pthread_cond_destroy(&p->jobs_cv);
    free((char *)p->o.instance_name);
    free(p->group);
    free(p->namesrv);
    free(p);
}

const char *mq_producer_client_id(const mq_producer *p)
{
    return p->inst ? mqc_client_id(p->inst) : "";
}

uint64_t mq_producer_oneway_failures(const mq_producer *p)
{
    return atomic_load(&((mq_producer *)p)->oneway_failures);
}

static int check_started(mq_producer *p, mq_error *err)
{
    if (atomic_load(&p->state) != P_STARTED) {
        mqc_error_set(err, MQ_ESTATE, "producer is %s",
                      atomic_load(&p->state) == P_CREATED ? "not started" : "shut down");
        return MQ_ESTATE;
    }
    return MQ_OK;
}

/* ---- one send request, and what the broker answered ---- */

typedef struct send_req {
    int32_t code;            /* RC_SEND_MESSAGE_V2 or RC_SEND_BATCH_MESSAGE */
    const char *topic;
    const char *props;
    int32_t flag;
    const uint8_t *body;
    uint32_t body_len;
    int64_t born_ms;
} send_req;

typedef struct send_answer {
    int32_t code;
    int32_t queue_id;
    int64_t queue_offset;
    char *msg_id;            /* heap copy for batches (may be long) */
    char msg_id_small[MQ_MSG_ID_MAX];
    char remark[200];
} send_answer;

static void fill_header(mq_producer *p, const send_req *r, const mqc_pub_queue *q,
                        Mq__RemotingHeader *h, Mq__SendMessageRequestHeader *sh)
{
    mq__remoting_header__init(h);
    mq__send_message_request_header__init(sh);
    h->code = r->code;
    h->has_code = 1;
    h->ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
    h->send_message = sh;
    sh->producergroup = p->group;
    sh->topic = (char *)r->topic;
    sh->defaulttopic = (char *)DEFAULT_TOPIC;
    sh->defaulttopicqueuenums = DEFAULT_TOPIC_QUEUE_NUMS;
    sh->has_defaulttopicqueuenums = 1;
    sh->queueid = q->queue_id;
    sh->has_queueid = 1;
    sh->sysflag = 0;
    sh->has_sysflag = 1;
    sh->borntimestamp = r->born_ms;
    sh->has_borntimestamp = 1;
    sh->flag = r->flag;
    sh->has_flag = 1;
    sh->properties = (char *)r->props;
    sh->reconsumetimes = 0;
    sh->has_reconsumetimes = 1;
    sh->unitmode = 0;
    sh->has_unitmode = 1;
    if (r->code == RC_SEND_BATCH_MESSAGE) {
        sh->batch = 1;
        sh->has_batch = 1;
    }
    sh->brokername = (char *)q->broker_name;
}

static void read_answer(const rm_cmd *resp, send_answer *a)
{
    a->code = resp->hdr->code;
    str_copy(a->remark, sizeof a->remark, resp->hdr->remark ? resp->hdr->remark : "");
    const Mq__SendMessageResponseHeader *sr =
        resp->hdr->ext_case == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE ? resp->hdr->send_message_response
                                                                               : NULL;
    if (!sr)
        return;
    a->queue_id = sr->queueid;
    a->queue_offset = sr->queueoffset;
    const char *id = sr->msgid ? sr->msgid : "";
    if (strlen(id) < sizeof a->msg_id_small) {
        strcpy(a->msg_id_small, id);
    } else {
        free(a->msg_id);
        a->msg_id = xstrdup(id);
    }
}

static void on_send_view(const rm_cmd *resp, void *arg) { read_answer(resp, arg); }

static const char *answer_msg_id(const send_answer *a) { return a->msg_id ? a->msg_id : a->msg_id_small; }

static bool is_stored(int32_t code)
{
    return code == RS_SUCCESS || code == RS_FLUSH_DISK_TIMEOUT || code == RS_FLUSH_SLAVE_TIMEOUT ||
           code == RS_SLAVE_NOT_AVAILABLE;
}

static bool is_retryable(int32_t code)
{
    return code == RS_TOPIC_NOT_EXIST || code == RS_SERVICE_NOT_AVAILABLE || code == RS_SYSTEM_ERROR ||
           code == RS_NO_PERMISSION || code == 204 /* NO_BUYER_ID */ || code == 205 /* NOT_IN_CURRENT_UNIT */;
}

static mq_send_status status_of(int32_t code)
{
    switch (code) {
    case RS_FLUSH_DISK_TIMEOUT: return MQ_SEND_FLUSH_DISK_TIMEOUT;
    case RS_FLUSH_SLAVE_TIMEOUT: return MQ_SEND_FLUSH_SLAVE_TIMEOUT;
    case RS_SLAVE_NOT_AVAILABLE: return MQ_SEND_SLAVE_NOT_AVAILABLE;
    default: return MQ_SEND_OK;
    }
}

static void fill_result(const send_req *r, const mqc_pub_queue *q, const send_answer *a,
                        const char *uniq_id, mq_send_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = status_of(a->code);
    str_copy(res->msg_id, sizeof res->msg_id, uniq_id);
    const char *oid = answer_msg_id(a);
    size_t first = strcspn(oid, ",");
    if (first >= sizeof res->offset_msg_id)
        first = sizeof res->offset_msg_id - 1;
    memcpy(res->offset_msg_id, oid, first);
    res->offset_msg_id[first] = '\0';
    str_copy(res->queue.topic, sizeof res->queue.topic, r->topic);
    str_copy(res->queue.broker_name, sizeof res->queue.broker_name, q->broker_name);
    res->queue.queue_id = q->queue_id;
    res->queue_offset = a->queue_offset;
    res->batch_count = 1;
}

/* What to do after an attempt. */
typedef enum { NEXT_DONE, NEXT_RETRY, NEXT_BUSY, NEXT_FAIL } next_step;

/* Classifies an attempt, updates fault avoidance, fills err for failures. */
static next_step judge(mq_producer *p, const mqc_pub_queue *q, int rc, const send_answer *a,
                       const mq_error *e, int64_t latency_ms, mq_error *err)
{
    int64_t now = mono_ms_coarse();
    if (rc == MQ_OK && is_stored(a->code)) {
        if (p->o.send_latency_fault_enable)
            mqc_fault_update(&p->faults, q->broker_name, latency_ms, false, now);
        return NEXT_DONE;
    }
    if (rc == MQ_OK && a->code == RS_SYSTEM_BUSY) {
        mqc_error_set(err, MQ_EBROKER, "broker %s is busy: %s", q->broker_name, a->remark);
        err->status = a->code;
        return NEXT_BUSY;
    }
    if (rc == MQ_OK) {
        mqc_error_set(err, MQ_EBROKER, "send to %s (%s) failed: %s (%d)%s%s", q->broker_name, q->addr,
                      rm_status_name(a->code), a->code, a->remark[0] ? ": " : "", a->remark);
        err->status = a->code;
        if (!is_retryable(a->code))
            return NEXT_FAIL;
    } else {
        if (err)
            *err = *e;
        if (rc == MQ_ESTATE || rc == MQ_EINVAL)
            return NEXT_FAIL;
    }
    if (p->o.send_latency_fault_enable)
        mqc_fault_update(&p->faults, q->broker_name, latency_ms, true, now);
    return NEXT_RETRY;
}

static int busy_backoff_next(int prev)
{
    return prev <= 0 ? BUSY_BACKOFF_FIRST_MS : (prev * 2 > BUSY_BACKOFF_MAX_MS ? BUSY_BACKOFF_MAX_MS : prev * 2);
}

/* The blocking send loop shared by send, send_batch and the fixed-queue
 * sends. fixed: a queue the caller chose (no move to another queue). */
static int send_blocking(mq_producer *p, const send_req *r, const mqc_pub_queue *fixed,
                         const char *uniq_id, mq_send_result *result, mq_error *err)
{
    int64_t start = mono_ms();
    int64_t deadline = start + p->o.send_timeout_ms;
    int attempts = fixed ? 1 : 1 + p->o.retry_times_when_send_failed;
    int tried = 0;
    int backoff = 0;
    const char *avoid = NULL;
    char avoid_buf[MQ_BROKER_NAME_MAX + 1];
    mq_error last = {0};
    bool have_last = false;
    send_answer a;
    memset(&a, 0, sizeof a);
    int rc = MQ_OK;
    while (tried < attempts) {
        int64_t now = mono_ms();
        if (now >= deadline)
            break;
        topic_pub *pub = NULL;
        atomic_uint *counter = NULL;
        mqc_pub_queue q;
        if (fixed) {
            q = *fixed;
        } else {
            rc = pub_get(p, r->topic, false, &pub, &counter, err);
            if (rc != MQ_OK) {
                free(a.msg_id);
                return rc;
            }
            int idx = mqc_select_queue(pub->queues, pub->n, atomic_fetch_add(counter, 1), avoid,
                                       p->o.send_latency_fault_enable ? &p->faults : NULL, now);
            q = pub->queues[idx];
        }
        Mq__RemotingHeader h;
        Mq__SendMessageRequestHeader sh;
        fill_header(p, r, &q, &h, &sh);
        mq_error e = {0};
        rc = mqc_invoke_sync_view(p->inst, q.addr, &h, r->body, r->body_len, (int)(deadline - now),
                                  on_send_view, &a, &e);
        int64_t latency = mono_ms() - now;
        mq_error why = {0};
        next_step step = judge(p, &q, rc, &a, &e, latency, &why);
        if (step == NEXT_DONE) {
            if (result)
                fill_result(r, &q, &a, uniq_id, result);
            if (result && r->code == RC_SEND_BATCH_MESSAGE && a.msg_id)
                result->batch_offset_msg_ids = a.msg_id;
            else if (result && r->code == RC_SEND_BATCH_MESSAGE)
                result->batch_offset_msg_ids = xstrdup(a.msg_id_small);
            else
                free(a.msg_id);
            pub_unref(pub);
            return MQ_OK;
        }
        last = why;
        have_last = true;
        str_copy(avoid_buf, sizeof avoid_buf, q.broker_name);
        avoid = avoid_buf;
        pub_unref(pub);
        if (step == NEXT_FAIL)
            break;
        if (step == NEXT_BUSY) {
            /* Not an attempt lost: wait a little and try again (another
             * broker if there is one), for as long as the budget allows. */
            backoff = busy_backoff_next(backoff);
            int64_t left = deadline - mono_ms();
            if (left <= 0)
                break;
            sleep_ms(backoff < left ? backoff : left);
            if (fixed)
                continue;
            continue;
        }
        tried++;
        if (!fixed)
            refetch_route(p, r->topic);
    }
    free(a.msg_id);
    if (have_last) {
        if (err) {
            *err = last;
            if (mono_ms() >= deadline && last.code != MQ_ETIMEOUT) {
                char tail[sizeof err->message];
                str_copy(tail, sizeof tail, last.message);
                snprintf(err->message, sizeof err->message, "send timed out after %d ms; last attempt: %.180s",
                         p->o.send_timeout_ms, tail);
            }
        }
        return last.code ? last.code : MQ_EBROKER;
    }
    mqc_error_set(err, MQ_ETIMEOUT, "send timed out after %d ms", p->o.send_timeout_ms);
    return MQ_ETIMEOUT;
}

/* Builds the wire properties into buf (stack) or a heap copy. */
static const char *props_for(const mq_message *m, const char *uniq, char *buf, size_t cap, char **heap)
{
    size_t n = mqc_message_wire_props(m, uniq, buf, cap);
    *heap = NULL;
    if (n < cap)
        return buf;
    *heap = xmalloc(n + 1);
    mqc_message_wire_props(m, uniq, *heap, n + 1);
    return *heap;
}

int mq_producer_send(mq_producer *p, const mq_message *msg, mq_send_result *result, mq_error *err)
{
    int rc = check_started(p, err);
    if (rc == MQ_OK)
        rc = mqc_check_message(msg, p->o.max_message_size, err);
    if (rc != MQ_OK)
        return rc;
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    char buf[PROPS_STACK], *heap;
    send_req r = {RC_SEND_MESSAGE_V2, mq_message_topic(msg), props_for(msg, uniq, buf, sizeof buf, &heap),
                  mq_message_flag(msg), NULL, 0, now_ms()};
    r.body = mqc_message_body(msg, &r.body_len);
    rc = send_blocking(p, &r, NULL, uniq, result, err);
    free(heap);
    return rc;
}

/* The queue of one route snapshot (pub) to send to: index idx of its
 * writable queues, or the queue named by want (its master's address from
 * the same snapshot). */
static int fixed_queue(const topic_pub *pub, const char *topic, const mq_message_queue *want, int idx,
                       mqc_pub_queue *q, mq_error *err)
{
    if (want) {
        const char *addr = mqc_route_broker_addr(pub->route, want->broker_name, 0);
        if (!addr) {
            mqc_error_set(err, MQ_ENOROUTE, "broker %s of topic %s has no master in the route",
                          want->broker_name, topic);
            return MQ_ENOROUTE;
        }
        q->broker_name = want->broker_name;
        q->addr = addr;
        q->queue_id = want->queue_id;
        return MQ_OK;
    }
    if (idx < 0 || idx >= pub->n) {
        mqc_error_set(err, MQ_EINVAL, "selector returned queue index %d of %d", idx, pub->n);
        return MQ_EINVAL;
    }
    *q = pub->queues[idx];
    return MQ_OK;
}

/* Sends msg to a queue the caller chose from the route snapshot pub, which
 * the caller holds: the queue is resolved in that same snapshot, so a route
 * refresh between the choice and the send cannot move the message. */
static int send_fixed(mq_producer *p, const mq_message *msg, const topic_pub *pub, const mq_message_queue *want,
                      int idx, mq_send_result *result, mq_error *err)
{
    mqc_pub_queue q;
    int rc = fixed_queue(pub, mq_message_topic(msg), want, idx, &q, err);
    if (rc != MQ_OK)
        return rc;
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    char buf[PROPS_STACK], *heap;
    send_req r = {RC_SEND_MESSAGE_V2, mq_message_topic(msg), props_for(msg, uniq, buf, sizeof buf, &heap),
                  mq_message_flag(msg), NULL, 0, now_ms()};
    r.body = mqc_message_body(msg, &r.body_len);
    rc = send_blocking(p, &r, &q, uniq, result, err);
    free(heap);
    return rc;
}

/* The checks every fixed-queue send makes. */
static int fixed_send_check(mq_producer *p, const mq_message *msg, bool given, const char *what, mq_error *err)
{
    int rc = check_started(p, err);
    if (rc == MQ_OK)
        rc = mqc_check_message(msg, p->o.max_message_size, err);
    if (rc == MQ_OK && !given) {
        mqc_error_set(err, MQ_EINVAL, "%s is NULL", what);
        rc = MQ_EINVAL;
    }
    return rc;
}

int mq_producer_send_to_queue(mq_producer *p, const mq_message *msg, const mq_message_queue *queue,
                              mq_send_result *result, mq_error *err)
{
    int rc = fixed_send_check(p, msg, queue != NULL, "queue", err);
    if (rc != MQ_OK)
        return rc;
    if (strcmp(queue->topic, mq_message_topic(msg)) != 0) {
        mqc_error_set(err, MQ_EINVAL, "the queue's topic differs from the message's topic");
        return MQ_EINVAL;
    }
    topic_pub *pub;
    atomic_uint *counter;
    if ((rc = pub_get(p, queue->topic, false, &pub, &counter, err)) != MQ_OK)
        return rc;
    rc = send_fixed(p, msg, pub, queue, -1, result, err);
    pub_unref(pub);
    return rc;
}

int mq_producer_send_orderly(mq_producer *p, const mq_message *msg, const char *sharding_key,
                             mq_send_result *result, mq_error *err)
{
    int rc = fixed_send_check(p, msg, sharding_key != NULL, "sharding key", err);
    if (rc != MQ_OK)
        return rc;
    topic_pub *pub; /* one route snapshot for the choice and the send */
    atomic_uint *counter;
    if ((rc = pub_get(p, mq_message_topic(msg), false, &pub, &counter, err)) != MQ_OK)
        return rc;
    rc = send_fixed(p, msg, pub, NULL, mqc_select_by_key(sharding_key, pub->n), result, err);
    pub_unref(pub);
    return rc;
}

/* The queues of a route snapshot, as the public API shows them. */
static mq_message_queue *pub_to_queues(const topic_pub *pub, const char *topic)
{
    mq_message_queue *qs = xcalloc(pub->n ? (size_t)pub->n : 1, sizeof *qs);
    for (int i = 0; i < pub->n; i++) {
        str_copy(qs[i].topic, sizeof qs[i].topic, topic);
        str_copy(qs[i].broker_name, sizeof qs[i].broker_name, pub->queues[i].broker_name);
        qs[i].queue_id = pub->queues[i].queue_id;
    }
    return qs;
}

int mq_producer_fetch_publish_queues(mq_producer *p, const char *topic, mq_message_queue **queues,
                                     int *n, mq_error *err)
{
    int rc = check_started(p, err);
    if (rc == MQ_OK)
        rc = mqc_check_topic(topic, err);
    if (rc != MQ_OK)
        return rc;
    topic_pub *pub;
    atomic_uint *counter;
    rc = pub_get(p, topic, false, &pub, &counter, err);
    if (rc != MQ_OK)
        return rc;
    *queues = pub_to_queues(pub, topic);
    *n = pub->n;
    pub_unref(pub);
    return MQ_OK;
}

int mq_producer_send_select(mq_producer *p, const mq_message *msg, mq_queue_selector selector,
                            void *arg, mq_send_result *result, mq_error *err)
{
    int rc = fixed_send_check(p, msg, selector != NULL, "selector", err);
    if (rc != MQ_OK)
        return rc;
    topic_pub *pub; /* one route snapshot for the choice and the send */
    atomic_uint *counter;
    if ((rc = pub_get(p, mq_message_topic(msg), false, &pub, &counter, err)) != MQ_OK)
        return rc;
    mq_message_queue *qs = pub_to_queues(pub, mq_message_topic(msg));
    int idx = selector(qs, pub->n, msg, arg);
    free(qs);
    rc = send_fixed(p, msg, pub, NULL, idx, result, err);
    pub_unref(pub);
    return rc;
}

int mq_producer_send_batch(mq_producer *p, const mq_message *const *msgs, size_t n,
                           mq_send_result *result, mq_error *err)
{
    int rc = check_started(p, err);
    if (rc != MQ_OK)
        return rc;
    if (!msgs || n == 0) {
        mqc_error_set(err, MQ_EINVAL, "empty batch");
        return MQ_EINVAL;
    }
    const char *topic = mq_message_topic(msgs[0]);
    for (size_t i = 0; i < n; i++) {
        rc = mqc_check_message(msgs[i], p->o.max_message_size, err);
        if (rc != MQ_OK)
            return rc;
        if (strcmp(mq_message_topic(msgs[i]), topic) != 0) {
            mqc_error_set(err, MQ_EINVAL, "batch message %zu has topic %s, not %s", i,
                          mq_message_topic(msgs[i]), topic);
            return MQ_EINVAL;
        }
        if (mq_message_delay_level(msgs[i]) > 0) {
            mqc_error_set(err, MQ_EINVAL, "batch message %zu has a delay level: not allowed in a batch", i);
            return MQ_EINVAL;
        }
    }
    bytebuf body, ids;
    bytebuf_init(&body);
    bytebuf_init(&ids);
    char first_id[MSG_ID_BUF] = "";
    for (size_t i = 0; i < n; i++) {
        char uniq[MSG_ID_BUF];
        msg_uniq_id_new(uniq, sizeof uniq);
        if (i == 0)
            strcpy(first_id, uniq);
        bytebuf_printf(&ids, "%s%s", i ? "," : "", uniq);
        char buf[PROPS_STACK], *heap;
        const char *props = props_for(msgs[i], uniq, buf, sizeof buf, &heap);
        msg_batch_item item;
        item.flag = mq_message_flag(msgs[i]);
        item.body = mqc_message_body(msgs[i], &item.body_len);
        item.properties = props;
        item.properties_len = (uint32_t)strlen(props);
        int brc = msg_batch_encode(&body, &item, 1);
        free(heap);
        if (brc != 0 || body.len > (size_t)p->o.max_message_size) {
            mqc_error_set(err, MQ_EINVAL, "batch of %zu messages is larger than %d bytes", n,
                          p->o.max_message_size);
            bytebuf_free(&body);
            bytebuf_free(&ids);
            return MQ_EINVAL;
        }
    }
    char props[64];
    snprintf(props, sizeof props, "%s%c%s", MSG_PROP_WAIT, MSG_NAME_VALUE_SEPARATOR, "true");
    send_req r = {RC_SEND_BATCH_MESSAGE, topic, props, 0, body.data, (uint32_t)body.len, now_ms()};
    mq_send_result res;
    rc = send_blocking(p, &r, NULL, first_id, &res, err);
    if (rc == MQ_OK) {
        res.batch_count = (int)n;
        res.batch_msg_ids = xstrdup(bytebuf_cstr(&ids));
        if (result)
            *result = res;
        else
            mq_send_result_destroy(&res);
    }
    bytebuf_free(&body);
    bytebuf_free(&ids);
    return rc;
}

/* ---- async and oneway: jobs on the I/O thread ---- */

typedef struct send_job {
    evq_item item;
    mq_producer *p;
    mq_send_callback cb; /* NULL: oneway */
    void *arg;
    send_req r;
    char uniq[MSG_ID_BUF];
    int attempts_left;
    int backoff_ms;
    int64_t deadline;
    int64_t sent_ms;
    mqc_pub_queue q;
    topic_pub *pub;      /* reference while q points into it */
    char avoid[MQ_BROKER_NAME_MAX + 1];
    mq_error last;
    bool have_last;
    ev_timer backoff_timer;
    struct send_job *bprev, *bnext; /* in p->backoff_jobs while the timer runs */
    send_answer a;
    bool batchable;      /* may travel in an automatic batch (no delay) */
    uint32_t props_len;  /* length of r.props, kept for batching */
    struct send_job *pnext; /* (io) in a pending list of this loop turn */
    char storage[];      /* topic, props, body */
} send_job;

static int jobs_acquire(mq_producer *p, mq_error *err)
{
    pthread_mutex_lock(&p->jobs_lock);
    int64_t deadline = p->jobs >= p->o.max_async_inflight ? mono_ms() + p->o.send_timeout_ms : 0;
    while (p->jobs >= p->o.max_async_inflight) {
        p->jobs_waiters++;
        int w = timed_wait_ms(&p->jobs_cv, &p->jobs_lock, deadline);
        p->jobs_waiters--;
        if (w == ETIMEDOUT && p->jobs >= p->o.max_async_inflight) {
            pthread_mutex_unlock(&p->jobs_lock);
            mqc_error_set(err, MQ_ETIMEOUT, "%d async sends in flight for %d ms (max_async_inflight)",
                          p->o.max_async_inflight, p->o.send_timeout_ms);
            return MQ_ETIMEOUT;
        }
    }
    p->jobs++;
    pthread_mutex_unlock(&p->jobs_lock);
    return MQ_OK;
}

static void jobs_release(mq_producer *p)
{
    pthread_mutex_lock(&p->jobs_lock);
    p->jobs--;
    if (p->jobs_waiters > 0) /* no futex wake per message when nobody waits */
        pthread_cond_broadcast(&p->jobs_cv);
    pthread_mutex_unlock(&p->jobs_lock);
}

static void job_finish(send_job *j, int rc, mq_error *err)
{
    mq_producer *p = j->p;
    if (j->cb) {
        if (rc == MQ_OK) {
            mq_send_result res;
            fill_result(&j->r, &j->q, &j->a, j->uniq, &res);
            j->cb(MQ_OK, &res, NULL, j->arg);
        } else {
            j->cb(rc, NULL, err, j->arg);
        }
    }
    pub_unref(j->pub);
    free(j->a.msg_id);
    free(j);
    jobs_release(p);
}

static void job_attempt(send_job *j);

static void backoff_unlink(send_job *j)
{
    if (j->bprev)
        j->bprev->bnext = j->bnext;
    else
        j->p->backoff_jobs = j->bnext;
    if (j->bnext)
        j->bnext->bprev = j->bprev;
    j->bprev = j->bnext = NULL;
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    send_job *j = w->data;
    backoff_unlink(j);
    job_attempt(j);
}

static void job_after(send_job *j, int rc, const mq_error *e)
{
    mq_producer *p = j->p;
    mq_error why = {0};
    next_step step = judge(p, &j->q, rc, &j->a, e, mono_ms_coarse() - j->sent_ms, &why);
    if (step == NEXT_DONE) {
        job_finish(j, MQ_OK, NULL);
        return;
    }
    j->last = why;
    j->have_last = true;
    str_copy(j->avoid, sizeof j->avoid, j->q.broker_name);
    int64_t left = j->deadline - mono_ms_coarse();
    if (step == NEXT_BUSY && left > 0 && !p->io_closing) {
        j->backoff_ms = busy_backoff_next(j->backoff_ms);
        j->bprev = NULL;
        j->bnext = p->backoff_jobs;
        if (j->bnext)
            j->bnext->bprev = j;
        p->backoff_jobs = j;
        double d = (j->backoff_ms < left ? j->backoff_ms : left) / 1000.0;
        ev_timer_init(&j->backoff_timer, on_backoff, d, 0.);
        j->backoff_timer.data = j;
        ev_timer_start(mqc_loop(p->inst), &j->backoff_timer);
        return;
    }
    if (step == NEXT_RETRY && --j->attempts_left > 0 && left > 0) {
        mqc_route_refresh_async(p->inst, j->r.topic, on_refetched, NULL);
        job_attempt(j);
        return;
    }
    if (left <= 0 && why.code != MQ_ETIMEOUT) {
        char tail[sizeof why.message];
        str_copy(tail, sizeof tail, why.message);
        snprintf(why.message, sizeof why.message, "send timed out after %d ms; last attempt: %.180s",
                 p->o.send_timeout_ms, tail);
    }
    job_finish(j, why.code ? why.code : MQ_EBROKER, &why);
}

static void on_async_response(rm_conn *conn, int e, const rm_cmd *resp, void *arg)
{
    (void)conn;
    send_job *j = arg;
    if (e == RM_OK) {
        read_answer(resp, &j->a);
        job_after(j, MQ_OK, NULL);
        return;
    }
    mq_error err;
    if (e == RM_ETIMEDOUT)
        mqc_error_set(&err, MQ_ETIMEOUT, "send to %s (%s) timed out", j->q.broker_name, j->q.addr);
    else
        mqc_error_set(&err, MQ_ENETWORK, "connection to %s (%s) closed during the send", j->q.broker_name,
                      j->q.addr);
    job_after(j, err.code, &err);
}

/* Chooses a queue and sends (I/O thread). */
static void job_attempt(send_job *j)
{
    mq_producer *p = j->p;
    mq_error err = {0};
    int64_t now = mono_ms_coarse();
    if (now >= j->deadline) {
        if (j->have_last)
            err = j->last;
        else
            mqc_error_set(&err, MQ_ETIMEOUT, "send timed out after %d ms", p->o.send_timeout_ms);
        job_finish(j, err.code, &err);
        return;
    }
    topic_pub *pub;
    atomic_uint *counter;
    if (pub_get(p, j->r.topic, true, &pub, &counter, &err) == MQ_OK) {
        pub_unref(j->pub);
        j->pub = pub;
    } else if (!j->pub) {
        job_finish(j, err.code, &err);
        return;
    } else {
        pub = j->pub; /* route vanished meanwhile: keep the one we had */
        counter = NULL;
    }
    uint32_t start = counter ? atomic_fetch_add(counter, 1) : (uint32_t)now;
    int idx = mqc_select_queue(pub->queues, pub->n, start, j->avoid[0] ? j->avoid : NULL,
                               p->o.send_latency_fault_enable ? &p->faults : NULL, now);
    j->q = pub->queues[idx];
    Mq__RemotingHeader h;
    Mq__SendMessageRequestHeader sh;
    fill_header(p, &j->r, &j->q, &h, &sh);
    j->sent_ms = now;
    if (!j->cb) { /* oneway */
        int rc = mqc_invoke_oneway(p->inst, j->q.addr, &h, j->r.body, j->r.body_len, &err);
        if (rc != MQ_OK) {
            uint64_t n = atomic_fetch_add(&p->oneway_failures, 1) + 1;
            if (n == 1 || n % 1000 == 0)
                log_warn("oneway send to %s (%s) failed (%llu so far): %s", j->q.broker_name, j->q.addr,
                         (unsigned long long)n, err.message);
            if (p->o.send_latency_fault_enable)
                mqc_fault_update(&p->faults, j->q.broker_name, 0, true, now);
        }
        job_finish(j, MQ_OK, NULL);
        return;
    }
    int rc = mqc_invoke_async(p->inst, j->q.addr, &h, j->r.body, j->r.body_len, (int)(j->deadline - now),
                              on_async_response, j, &err);
    if (rc != MQ_OK)
        job_after(j, rc, &err);
}

/* ---- automatic batching of async sends (I/O thread) ---- */

typedef struct pending_list {
    send_job *head, *tail;
    int n;
} pending_list;

typedef struct batch_req {
    mq_producer *p;
    mqc_pub_queue q;
    topic_pub *pub;     /* reference: q points into it */
    bytebuf body;
    int n;
    send_job *jobs[];
} batch_req;

static void batch_req_free(batch_req *br)
{
    pub_unref(br->pub);
    bytebuf_free(&br->body);
    free(br);
}

/* Splits the broker's comma-joined offset ids into the batch's jobs. */
static void batch_done(batch_req *br, const send_answer *a)
{
    const char *ids = answer_msg_id(a);
    for (int i = 0; i < br->n; i++) {
        send_job *j = br->jobs[i];
        j->a.code = a->code;
        j->a.queue_id = a->queue_id;
        j->a.queue_offset = a->queue_offset + i;
        size_t len = strcspn(ids, ",");
        if (len >= sizeof j->a.msg_id_small)
            len = sizeof j->a.msg_id_small - 1;
        memcpy(j->a.msg_id_small, ids, len);
        j->a.msg_id_small[len] = '\0';
        ids += strcspn(ids, ",");
        if (*ids == ',')
            ids++;
        job_finish(j, MQ_OK, NULL);
    }
}

static void on_batch_response(rm_conn *conn, int e, const rm_cmd *resp, void *arg)
{
    (void)conn;
    batch_req *br = arg;
    mq_producer *p = br->p;
    if (e == RM_OK) {
        send_answer a = {0};
        read_answer(resp, &a);
        if (is_stored(a.code)) {
            if (p->o.send_latency_fault_enable)
                mqc_fault_update(&p->faults, br->q.broker_name, mono_ms_coarse() - br->jobs[0]->sent_ms,
                                 false, mono_ms_coarse());
            batch_done(br, &a);
        } else {
            for (int i = 0; i < br->n; i++) {
                send_job *j = br->jobs[i];
                int32_t code = a.code;
                j->a.code = code;
                str_copy(j->a.remark, sizeof j->a.remark, a.remark);
                job_after(j, MQ_OK, NULL); /* judged one by one: retried alone */
            }
        }
        free(a.msg_id);
    } else {
        mq_error err;
        if (e == RM_ETIMEDOUT)
            mqc_error_set(&err, MQ_ETIMEOUT, "batch send to %s (%s) timed out", br->q.broker_name, br->q.addr);
        else
            mqc_error_set(&err, MQ_ENETWORK, "connection to %s (%s) closed during a batch send",
                          br->q.broker_name, br->q.addr);
        for (int i = 0; i < br->n; i++)
            job_after(br->jobs[i], err.code, &err);
    }
    batch_req_free(br);
}

/* Sends jobs[0..n) (same topic, n > 1) as one SEND_BATCH_MESSAGE. */
static void batch_send(mq_producer *p, send_job **jobs, int n)
{
    int64_t now = mono_ms_coarse();
    int64_t deadline = INT64_MAX;
    for (int i = 0; i < n; i++)
        if (jobs[i]->deadline < deadline)
            deadline = jobs[i]->deadline;
    topic_pub *pub;
    atomic_uint *counter;
    mq_error err = {0};
    if (now >= deadline || pub_get(p, jobs[0]->r.topic, true, &pub, &counter, &err) != MQ_OK) {
        for (int i = 0; i < n; i++)
            job_attempt(jobs[i]); /* each finds its own way (or its own error) */
        return;
    }
    uint32_t start = atomic_fetch_add(counter, 1);
    int idx = mqc_select_queue(pub->queues, pub->n, start, NULL,
                               p->o.send_latency_fault_enable ? &p->faults : NULL, now);
    batch_req *br = xmalloc(sizeof *br + (size_t)n * sizeof *br->jobs);
    br->p = p;
    br->pub = pub;
    br->q = pub->queues[idx];
    br->n = n;
    bytebuf_init(&br->body);
    for (int i = 0; i < n; i++) {
        send_job *j = jobs[i];
        msg_batch_item item = {j->r.flag, j->r.body, j->r.body_len, j->r.props, j->props_len};
        msg_batch_encode(&br->body, &item, 1);
        j->q = br->q;
        j->sent_ms = now;
        br->jobs[i] = j;
    }
    send_req r = {RC_SEND_BATCH_MESSAGE, jobs[0]->r.topic, "", 0, br->body.data, (uint32_t)br->body.len, jobs[0]->r.born_ms};
    Mq__RemotingHeader h;
    Mq__SendMessageRequestHeader sh;
    fill_header(p, &r, &br->q, &h, &sh);
    int rc = mqc_invoke_async(p->inst, br->q.addr, &h, br->body.data, br->body.len, (int)(deadline - now),
                              on_batch_response, br, &err);
    if (rc != MQ_OK) {
        for (int i = 0; i < n; i++)
            job_after(jobs[i], rc, &err);
        batch_req_free(br);
    }
}

/* Sends everything pending: alone, or in batches of the configured size. */
static void flush_pending(mq_producer *p)
{
    if (p->pending.count == 0)
        return;
    strmap lists = p->pending;
    strmap_init(&p->pending);
    int max = p->o.async_batch_max_msgs;
    send_job **chunk = xmalloc((size_t)max * sizeof *chunk);
    void *v;
    for (size_t it = 0; strmap_next(&lists, &it, NULL, &v);) {
        pending_list *l = v;
        send_job *j = l->head;
        while (j) {
            int n = 0;
            size_t bytes = 0;
            while (j && n < max && (n == 0 || bytes + j->r.body_len + j->props_len <= (size_t)p->o.async_batch_max_bytes)) {
                bytes += j->r.body_len + j->props_len;
                chunk[n++] = j;
                j = j->pnext;
            }
            if (n == 1)
                job_attempt(chunk[0]);
            else
                batch_send(p, chunk, n);
        }
        free(l);
    }
    free(chunk);
    strmap_free(&lists);
}

/* After each batch of posted jobs: what arrived together goes together. */
static void on_drained(void *arg) { flush_pending(arg); }

static void job_start(evq_item *item)
{
    send_job *j = (send_job *)item;
    mq_producer *p = j->p;
    if (!j->batchable || p->o.async_batch_max_msgs <= 1 || p->io_closing) {
        job_attempt(j);
        return;
    }
    pending_list *l = strmap_get(&p->pending, j->r.topic);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        strmap_put(&p->pending, j->r.topic, l);
    }
    j->pnext = NULL;
    if (l->tail)
        l->tail->pnext = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static int send_job_post(mq_producer *p, const mq_message *msg, mq_send_callback cb, void *arg,
                         mq_error *err)
{
    int rc = check_started(p, err);
    if (rc == MQ_OK)
        rc = mqc_check_message(msg, p->o.max_message_size, err);
    if (rc != MQ_OK)
        return rc;
    const char *topic = mq_message_topic(msg);
    /* Fetch the route here (may block) so the I/O thread always finds it. */
    topic_pub *pub;
    atomic_uint *counter;
    rc = pub_get(p, topic, false, &pub, &counter, err);
    if (rc != MQ_OK)
        return rc;
    rc = jobs_acquire(p, err);
    if (rc != MQ_OK) {
        pub_unref(pub);
        return rc;
    }
    char uniq[MSG_ID_BUF];
    msg_uniq_id_new(uniq, sizeof uniq);
    size_t tl = strlen(topic);
    size_t pl = mqc_message_wire_props(msg, uniq, NULL, 0);
    uint32_t bl;
    const uint8_t *body = mqc_message_body(msg, &bl);
    send_job *j = xmalloc(sizeof *j + tl + 1 + pl + 1 + bl);
    memset(j, 0, sizeof *j);
    char *s = j->storage;
    memcpy(s, topic, tl + 1);
    j->r.topic = s;
    s += tl + 1;
    mqc_message_wire_props(msg, uniq, s, pl + 1);
    j->r.props = s;
    j->props_len = (uint32_t)pl;
    s += pl + 1;
    memcpy(s, body, bl);
    j->r.body = (const uint8_t *)s;
    j->r.body_len = bl;
    j->r.code = RC_SEND_MESSAGE_V2;
    j->r.flag = mq_message_flag(msg);
    j->r.born_ms = now_ms();
    strcpy(j->uniq, uniq);
    j->p = p;
    j->cb = cb;
    j->arg = arg;
    j->pub = pub;
    j->batchable = cb != NULL && mq_message_delay_level(msg) <= 0;
    j->attempts_left = cb ? 1 + p->o.retry_times_when_send_async_failed : 1;
    j->deadline = mono_ms_coarse() + p->o.send_timeout_ms;
    if (mqc_post_item(p->inst, &j->item, job_start) != MQ_OK) {
        pub_unref(pub);
        free(j);
        jobs_release(p);
        mqc_error_set(err, MQ_ESTATE, "producer is shutting down");
        return MQ_ESTATE;
    }
    return MQ_OK;
}

int mq_producer_send_async(mq_producer *p, const mq_message *msg, mq_send_callback cb, void *arg,
                           mq_error *err)
{
    if (!cb) {
        mqc_error_set(err, MQ_EINVAL, "callback is NULL (use mq_producer_send_oneway)");
        return MQ_EINVAL;
    }
    return send_job_post(p, msg, cb, arg, err);
}

int mq_producer_send_oneway(mq_producer *p, const mq_message *msg, mq_error *err)
{
    return send_job_post(p, msg, NULL, NULL, err);
}

/* Shutdown: jobs waiting out a back-off end now with MQ_ESTATE. (io) */
static void stop_backoff_jobs(mq_producer *p)
{
    while (p->backoff_jobs) {
        send_job *j = p->backoff_jobs;
        ev_timer_stop(mqc_loop(p->inst), &j->backoff_timer);
        backoff_unlink(j);
        mq_error e;
        mqc_error_set(&e, MQ_ESTATE, "producer shut down while the send waited for a busy broker");
        job_finish(j, MQ_ESTATE, &e);
    }
}
