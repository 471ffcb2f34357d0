/*
 * ha_service.c - the replication service's life cycle, the SYNC_MASTER
 * waits and the stats (ha.h). The transfer itself is ha_master.c and
 * ha_slave.c; the slave's copy of configs and offsets is ha_sync.c.
 *
 * SYNC_MASTER waits (RocketMQ's GroupTransferService), loop thread: a send
 * that must be on a slave becomes an ha_wait in a FIFO, in put order, so
 * end offsets and deadlines both grow along it. An ha-conn thread that sees
 * a higher ack posts (once, coalesced) to the loop, which completes the
 * head waits the best ack covers; a timer completes the heads whose
 * deadline (slaveTimeout) passed with FLUSH_SLAVE_TIMEOUT. Under
 * SYNC_FLUSH the wait also registers with the store's flusher, and the
 * answer goes out when both are done (the flush status first, as RocketMQ).
 * Waits are recycled through a spare list: no allocation per send once warm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ha_internal.h"
#include "log.h"
#include "processor_send.h"
#include "util.h"

/* ---- SYNC_MASTER waits ---- */

static int32_t answer_code(store_put_status st)
{
    switch (st) {
    case STORE_PUT_OK: return RS_SUCCESS;
    case STORE_PUT_FLUSH_DISK_TIMEOUT: return RS_FLUSH_DISK_TIMEOUT;
    case STORE_PUT_FLUSH_SLAVE_TIMEOUT: return RS_FLUSH_SLAVE_TIMEOUT;
    case STORE_PUT_SLAVE_NOT_AVAILABLE: return RS_SLAVE_NOT_AVAILABLE;
    default: return RS_SYSTEM_ERROR;
    }
}

static void wait_finish(ha_service *ha, ha_wait *w)
{
    if (!w->slave_done || !w->flush_done)
        return;
    store_put_status st = w->flush_status != STORE_PUT_OK ? w->flush_status : w->slave_status;
    if (w->plain)
        rm_respond_status(&w->to, answer_code(st), "%s%s", w->msg_id,
                          st == STORE_PUT_OK                   ? ""
                          : st == STORE_PUT_FLUSH_DISK_TIMEOUT ? ", but not flushed to disk in time (syncFlushTimeout)"
                          : st == STORE_PUT_SLAVE_NOT_AVAILABLE ? ", but no slave is available to copy it"
                                                                : ", but no slave had it in time (slaveTimeout)");
    else
        send_answer_stored(&w->to, answer_code(st), w->msg_id, w->queue_id, w->queue_offset, NULL);
    w->next = ha->spare;
    ha->spare = w;
}

static void slave_done(ha_service *ha, ha_wait *w, store_put_status st)
{
    w->slave_done = true;
    w->slave_status = st;
    if (st == STORE_PUT_OK)
        ha->sync_ok++;
    else if (st == STORE_PUT_FLUSH_SLAVE_TIMEOUT)
        ha->sync_timeouts++;
    else if (st == STORE_PUT_SLAVE_NOT_AVAILABLE)
        ha->sync_not_available++;
    wait_finish(ha, w);
}

/* Completes the head waits covered by the best ack or past their deadline. */
static void complete_waits(ha_service *ha, bool stopping)
{
    int64_t acked = atomic_load(&ha->ack_max);
    int64_t now = mono_ms();
    while (ha->head) {
        ha_wait *w = ha->head;
        store_put_status st;
        if (w->end <= acked)
            st = STORE_PUT_OK;
        else if (stopping || w->deadline <= now)
            st = STORE_PUT_FLUSH_SLAVE_TIMEOUT;
        else
            break;
        ha->head = w->next;
        if (!ha->head)
            ha->tail = NULL;
        atomic_fetch_sub(&ha->nwaiting, 1);
        slave_done(ha, w, st);
    }
    if (ha->head && !stopping) {
        double in = (double)(ha->head->deadline - now) / 1000.0;
        ev_timer_stop(ha->b->loop, &ha->wait_timer);
        ev_timer_set(&ha->wait_timer, in > 0 ? in : 0.001, 0.);
        ev_timer_start(ha->b->loop, &ha->wait_timer);
    } else {
        ev_timer_stop(ha->b->loop, &ha->wait_timer);
    }
}

static void on_wait_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    complete_waits(t->data, false);
}

static void on_ack_loop(evq_item *item)
{
    ha_service *ha = (ha_service *)((char *)item - offsetof(ha_service, ack_item));
    atomic_store(&ha->ack_posted, false);
    complete_waits(ha, false);
}

void ha_on_ack(ha_service *ha, int64_t offset)
{
    int64_t cur = atomic_load(&ha->ack_max);
    while (offset > cur && !atomic_compare_exchange_weak(&ha->ack_max, &cur, offset)) {
    }
    if (offset > cur && atomic_load(&ha->nwaiting) > 0 && !atomic_exchange(&ha->ack_posted, true))
        evq_post(ha->b->q, &ha->ack_item, on_ack_loop);
}

static void on_flush_loop(evq_item *item)
{
    ha_wait *w = (ha_wait *)((char *)item - offsetof(ha_wait, flush_item));
    w->flush_done = true;
    wait_finish(w->ha, w);
}

/* store-flush thread */
static void on_flushed(void *arg, store_put_status status)
{
    ha_wait *w = arg;
    w->flush_status = status;
    evq_post(w->ha->b->q, &w->flush_item, on_flush_loop);
}

static bool wait_start(ha_service *ha, rm_reply_to *to, int64_t end_offset, int32_t queue_id,
                       int64_t queue_offset, const char *msg_id, bool plain)
{
    if (!ha || ha->role != ROLE_SYNC_MASTER)
        return false;
    ha_wait *w = ha->spare;
    if (w)
        ha->spare = w->next;
    else
        w = xcalloc(1, sizeof *w);
    w->next = NULL;
    w->ha = ha;
    w->end = end_offset;
    w->deadline = mono_ms() + ha->b->cfg.slave_timeout;
    w->to = *to;
    w->queue_id = queue_id;
    w->queue_offset = queue_offset;
    size_t idlen = strlen(msg_id) + 1;
    if (idlen > w->msg_id_cap) {
        w->msg_id_cap = idlen < 64 ? 64 : idlen;
        w->msg_id = xrealloc(w->msg_id, w->msg_id_cap);
    }
    memcpy(w->msg_id, msg_id, idlen);
    w->plain = plain;
    w->slave_done = w->flush_done = false;
    w->flush_status = w->slave_status = STORE_PUT_OK;
    ha->sync_waits++;
    if (ha->b->cfg.flush_disk_type == FLUSH_SYNC) {
        int rc = store_wait_flushed(ha->s, end_offset, on_flushed, w);
        if (rc != 0) {
            w->flush_done = true;
            w->flush_status = rc == 1 ? STORE_PUT_OK : STORE_PUT_FLUSH_DISK_TIMEOUT;
        }
    } else {
        w->flush_done = true;
    }
    int64_t best;
    int n = ha_master_slaves(ha, &best, NULL, 0);
    int64_t max = store_commitlog_max_offset(ha->s);
    if (atomic_load(&ha->ack_max) >= end_offset) {
        slave_done(ha, w, STORE_PUT_OK);
    } else if (n == 0 || best < 0 || max - best > ha->b->cfg.ha_slave_fallbehind_max) {
        slave_done(ha, w, STORE_PUT_SLAVE_NOT_AVAILABLE);
    } else {
        if (ha->tail)
            ha->tail->next = w;
        else
            ha->head = w;
        ha->tail = w;
        atomic_fetch_add(&ha->nwaiting, 1);
        if (!ev_is_active(&ha->wait_timer))
            complete_waits(ha, false); /* arms the timer */
        ha_master_notify(ha);
        /* an ack that raced the enqueue */
        if (atomic_load(&ha->ack_max) >= end_offset)
            complete_waits(ha, false);
    }
    return true;
}

bool ha_send_wait(ha_service *ha, rm_reply_to *to, int64_t end_offset, int32_t queue_id,
                  int64_t queue_offset, const char *msg_id)
{
    return wait_start(ha, to, end_offset, queue_id, queue_offset, msg_id, false);
}

bool ha_status_wait(ha_service *ha, rm_reply_to *to, int64_t end_offset, const char *remark)
{
    return wait_start(ha, to, end_offset, 0, 0, remark, true);
}

/* ---- new data -> wake the ha-conn threads (store-dispatch thread) ---- */

static int sink_record(void *arg, const msg_record *r)
{
    (void)arg;
    (void)r;
    return 0;
}

static int sink_round_end(void *arg, int64_t upto)
{
    (void)upto;
    ha_master_notify(arg);
    return 0;
}

/* ---- life cycle ---- */

int ha_start(broker *b, ha_service **out, char *err, size_t errlen)
{
    *out = NULL;
    ha_service *ha = xcalloc(1, sizeof *ha);
    ha->b = b;
    ha->s = b->store;
    ha->role = b->cfg.broker_role;
    ha->listen_fd = -1;
    ha->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&ha->conns_mu, NULL);
    pthread_mutex_init(&ha->master_mu, NULL);
    pthread_mutex_init(&ha->hist_mu, NULL);
    atomic_init(&ha->ack_max, -1);
    ev_timer_init(&ha->wait_timer, on_wait_timer, 1., 0.);
    ha->wait_timer.data = ha;
    ev_timer_init(&ha->fence_timer, ha_fence_tick, 0., 0.1);
    ha->fence_timer.data = ha;
    if (ha->stop_fd < 0) {
        snprintf(err, errlen, "eventfd failed");
        goto fail;
    }
    if (ha_history_load(b->cfg.store_path_root_dir, &ha->hist, err, errlen) < 0)
        goto fail;
    if (ha->role != ROLE_SLAVE && ha->hist.n == 0) { /* a master's first start: epoch 1 from the beginning */
        ha_history_add(&ha->hist, 1, 0);
        if (ha_history_save(b->cfg.store_path_root_dir, &ha->hist, err, errlen) != 0)
            goto fail;
    }
    if (ha->role == ROLE_SLAVE) {
        if (b->cfg.broker_id <= 0) {
            snprintf(err, errlen, "brokerRole=SLAVE needs brokerId > 0 (0 is the master's id)");
            goto fail;
        }
        if (ha_slave_start(ha, err, errlen) != 0)
            goto fail;
        ha_sync_start(ha);
        log_info("replication: SLAVE %lld of %s, master HA address %s, epoch %lld", (long long)b->cfg.broker_id,
                 b->cfg.broker_name, b->cfg.ha_master_address[0] ? b->cfg.ha_master_address : "from the nameserver",
                 (long long)ha_history_last(&ha->hist));
    } else {
        if (b->cfg.broker_id != 0) {
            snprintf(err, errlen, "brokerRole=%s needs brokerId=0 (ids > 0 are slaves)",
                     ha->role == ROLE_SYNC_MASTER ? "SYNC_MASTER" : "ASYNC_MASTER");
            goto fail;
        }
        store_sink sink = {"ha-notify", ha, sink_record, sink_round_end};
        if (store_add_sink(b->store, &sink) != 0) {
            snprintf(err, errlen, "cannot add the HA dispatch sink");
            goto fail;
        }
        if (ha_master_start(ha, err, errlen) != 0)
            goto fail;
        ha_sync_register(b);
        log_info("replication: %s of %s at epoch %lld", ha->role == ROLE_SYNC_MASTER ? "SYNC_MASTER" : "ASYNC_MASTER",
                 b->cfg.broker_name, (long long)ha_history_last(&ha->hist));
    }
    *out = ha;
    return 0;
fail:
    ha_stop(ha);
    ha_free(ha);
    return -1;
}

void ha_stop(ha_service *ha)
{
    if (!ha || atomic_load(&ha->stop))
        return;
    atomic_store(&ha->stop, true);
    uint64_t one = 1;
    if (ha->stop_fd >= 0) {
        ssize_t w = write(ha->stop_fd, &one, sizeof one);
        (void)w;
    }
    ha_sync_stop(ha);
    ha_slave_stop(ha);
    ha_master_stop(ha);
    complete_waits(ha, true); /* FLUSH_SLAVE_TIMEOUT: the slave never confirmed */
}

void ha_free(ha_service *ha)
{
    if (!ha)
        return;
    ev_timer_stop(ha->b->loop, &ha->wait_timer);
    ev_timer_stop(ha->b->loop, &ha->fence_timer);
    while (ha->spare) {
        ha_wait *w = ha->spare;
        ha->spare = w->next;
        free(w->msg_id);
        free(w);
    }
    if (ha->stop_fd >= 0)
        close(ha->stop_fd);
    pthread_mutex_destroy(&ha->conns_mu);
    pthread_mutex_destroy(&ha->master_mu);
    pthread_mutex_destroy(&ha->hist_mu);
    ha_history_free(&ha->hist);
    free(ha);
}

int ha_listen_port(const ha_service *ha) { return ha ? ha->port : 0; }

void ha_set_master(ha_service *ha, const char *master_addr, const char *ha_addr)
{
    if (!ha || ha->role != ROLE_SLAVE)
        return;
    bool changed = strcmp(ha->master_addr, master_addr ? master_addr : "") != 0;
    str_copy(ha->master_addr, sizeof ha->master_addr, master_addr ? master_addr : "");
    if (!ha->b->cfg.ha_master_address[0] && ha_addr && ha_addr[0]) {
        pthread_mutex_lock(&ha->master_mu);
        str_copy(ha->master_ha, sizeof ha->master_ha, ha_addr);
        pthread_mutex_unlock(&ha->master_mu);
    }
    if (changed && ha->master_addr[0])
        ha_sync_now(ha);
}

void ha_get_stats(ha_service *ha, ha_stats *o)
{
    memset(o, 0, sizeof *o);
    o->slave_ack_offset = -1;
    if (!ha)
        return;
    o->role = ha->role;
    o->epoch = ha_epoch(ha);
    if (ha->role == ROLE_SLAVE) {
        o->connected = atomic_load(&ha->connected);
        pthread_mutex_lock(&ha->master_mu);
        str_copy(o->master_ha_addr, sizeof o->master_ha_addr, ha->master_ha);
        pthread_mutex_unlock(&ha->master_mu);
        o->slave_offset = store_commitlog_max_offset(ha->s);
        o->master_offset_seen = atomic_load(&ha->master_seen);
        o->bytes_received = atomic_load(&ha->bytes_received);
        o->sync_config_ms = atomic_load(&ha->sync_config_ms);
        return;
    }
    o->master_offset = store_commitlog_max_offset(ha->s);
    o->slaves = ha_master_slaves(ha, &o->slave_ack_offset, o->slave_list, sizeof o->slave_list);
    o->lag_bytes = o->slaves && o->slave_ack_offset >= 0 ? MQ_MAX(0, o->master_offset - o->slave_ack_offset) : 0;
    if (o->slaves && o->slave_ack_offset < 0)
        o->lag_bytes = o->master_offset;
    o->sync_waits = ha->sync_waits;
    o->sync_ok = ha->sync_ok;
    o->sync_timeouts = ha->sync_timeouts;
    o->sync_not_available = ha->sync_not_available;
}
