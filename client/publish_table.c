/*
 * publish_table.c - the producer's publish table: topic -> the writable
 * queues of one version of its route (mqc_topic_pub, a route snapshot),
 * and the choice of a queue over a snapshot.
 *
 * A snapshot is immutable and shared by reference count between the table
 * and every send using it, so a send that chose a queue in a snapshot can
 * send to it even if the route changes meanwhile (ordered and selector
 * sends resolve the chosen queue in the snapshot they chose from). The
 * table is guarded by the producer's `lock`; the round-robin counter of a
 * topic is atomic. A topic whose route does not exist yet is sent through
 * the brokers of the template topic TBW102 (the broker creates it on first
 * send when autoCreateTopicEnable=true), as RocketMQ does; its real route is
 * fetched again in the background at most once a second until it exists.
 * Installing a snapshot heartbeats the brokers not seen before.
 *
 * Threads: any (sends on application threads, async jobs on the I/O thread,
 * which uses cached routes only).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "producer_impl.h"
#include "util.h"

typedef struct publish_slot {
    mqc_topic_pub *pub;
    atomic_uint counter;    /* round-robin position */
    atomic_llong refetch_ms;/* from_default: last background route fetch */
} publish_slot;

/* Takes another reference on a live snapshot. */
static void pub_ref(mqc_topic_pub *pub)
{
    int before = atomic_fetch_add(&pub->refs, 1);
    assert(before > 0);
    (void)before;
}

int mqc_topic_pub_count(const mqc_topic_pub *snap) { return snap->n; }

const mqc_pub_queue *mqc_topic_pub_queue(const mqc_topic_pub *snap, int i) { return &snap->queues[i]; }

void mqc_pub_unref(mqc_topic_pub *pub)
{
    if (!pub)
        return;
    int before = atomic_fetch_sub(&pub->refs, 1);
    assert(before > 0);
    if (before == 1) {
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
 * to MQC_DEFAULT_TOPIC_QUEUE_NUMS queues, as RocketMQ does for TBW102. Takes the
 * route reference. */
static mqc_topic_pub *pub_build(mqc_route *route, bool from_default)
{
    mqc_topic_pub *pub = xcalloc(1, sizeof *pub);
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
        if (from_default && nq > MQC_DEFAULT_TOPIC_QUEUE_NUMS)
            nq = MQC_DEFAULT_TOPIC_QUEUE_NUMS;
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

void mqc_pub_refetch_io(mq_producer *p, const char *topic)
{
    mqc_route_refresh_async(p->inst, topic, on_refetched, NULL);
}

/* Asks the I/O thread to fetch topic's route in the background. (any) */
void mqc_pub_refetch(mq_producer *p, const char *topic)
{
    void **a = xmalloc(2 * sizeof *a);
    a[0] = p->inst;
    a[1] = xstrdup(topic);
    if (mqc_post(p->inst, refetch_start, a) != MQ_OK) {
        free(a[1]);
        free(a);
    }
}

/* Heartbeats the brokers of pub not heartbeated before. (any) */
static void heartbeat_new_brokers(mq_producer *p, const mqc_topic_pub *pub)
{
    mqc_addr_set set = {0};
    for (int i = 0; i < pub->n; i++)
        mqc_addr_set_add(&set, pub->queues[i].addr);
    mqc_heartbeater_greet(&p->hb, &set);
    mqc_addr_set_free(&set);
}

/* Installs pub as the current queues of topic; returns a reference for the
 * caller. */
static mqc_topic_pub *pub_install(mq_producer *p, const char *topic, mqc_topic_pub *pub)
{
    pthread_mutex_lock(&p->lock);
    publish_slot *slot = strmap_get(&p->publish, topic);
    if (!slot) {
        slot = xcalloc(1, sizeof *slot);
        atomic_init(&slot->counter, (unsigned)(mono_ns() & 0xffff));
        strmap_put(&p->publish, topic, slot);
    }
    mqc_topic_pub *old = slot->pub;
    slot->pub = pub;
    pub_ref(pub);
    pthread_mutex_unlock(&p->lock);
    mqc_pub_unref(old);
    heartbeat_new_brokers(p, pub);
    return pub;
}

int mqc_pub_get(mq_producer *p, const char *topic, bool on_io, mqc_topic_pub **out,
                   atomic_uint **counter, mq_error *err)
{
    mqc_route *cur = mqc_route_cached(p->inst, topic);
    pthread_mutex_lock(&p->lock);
    publish_slot *slot = strmap_get(&p->publish, topic);
    mqc_topic_pub *pub = slot ? slot->pub : NULL;
    if (pub && ((cur && pub->route == cur) || (!cur && pub->from_default))) {
        pub_ref(pub);
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
            mqc_pub_refetch(p, topic);
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
            if (mqc_route_get(p->inst, MQC_DEFAULT_TOPIC, false, &route, &e2) == MQ_OK) {
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
    mqc_topic_pub *built = pub_build(route, from_default);
    if (built->n == 0) {
        mqc_error_set(err, MQ_ENOROUTE, "topic %s has no writable queue on a broker with a master%s",
                      topic, from_default ? " (not created yet, and no broker auto-creates topics)" : "");
        mqc_pub_unref(built);
        return MQ_ENOROUTE;
    }
    pub_install(p, topic, built);
    pthread_mutex_lock(&p->lock);
    publish_slot *s2 = strmap_get(&p->publish, topic);
    *counter = &s2->counter;
    atomic_store(&s2->refetch_ms, mono_ms());
    pthread_mutex_unlock(&p->lock);
    *out = built; /* pub_install's reference */
    return MQ_OK;
}

int mqc_pub_choose(mq_producer *p, const mqc_topic_pub *pub, atomic_uint *counter, const char *avoid_broker,
                   int64_t now_ms)
{
    uint32_t start = counter ? atomic_fetch_add(counter, 1) : (uint32_t)now_ms;
    return mqc_select_queue(pub->queues, pub->n, start, avoid_broker,
                            p->o.send_latency_fault_enable ? &p->faults : NULL, now_ms);
}

void mqc_pub_table_free(mq_producer *p)
{
    void *v;
    for (size_t it = 0; strmap_next(&p->publish, &it, NULL, &v);) {
        publish_slot *s = v;
        mqc_pub_unref(s->pub);
        free(s);
    }
    strmap_free(&p->publish);
}

/* The chosen queue, resolved in pub: index idx of its writable queues, or
 * the queue named by want (its master's address from the same snapshot). */
int mqc_pub_resolve(const mqc_topic_pub *pub, const char *topic, const mq_message_queue *want, int idx,
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

/* The queues of a route snapshot, as the public API shows them. */
mq_message_queue *mqc_pub_to_queues(const mqc_topic_pub *pub, const char *topic)
{
    mq_message_queue *qs = xcalloc(pub->n ? (size_t)pub->n : 1, sizeof *qs);
    for (int i = 0; i < pub->n; i++) {
        str_copy(qs[i].topic, sizeof qs[i].topic, topic);
        str_copy(qs[i].broker_name, sizeof qs[i].broker_name, pub->queues[i].broker_name);
        qs[i].queue_id = pub->queues[i].queue_id;
    }
    return qs;
}
