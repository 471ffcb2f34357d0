/*
 * ha_role.c - failover of a broker group (ha.h "failover"; docs/OPERATIONS.md
 * "Failover"): promotion of a slave, fencing of an old master by epoch, and
 * what happens at start (the persisted role, a pending CommitLog cut).
 *
 * Role changes happen at start only. A promotion (HA_PROMOTE from
 * `mqadmin haPromote`) stops replication, appends (epoch, its max offset) to
 * the epoch history, persists brokerRole/brokerId 0 under
 * <storePathRootDir>/ha/role and restarts the broker in place
 * (broker_restart: same process, ports and arguments). A fencing (a
 * nameserver's answer to a registration whose epoch is below the group's
 * highest, or HA_FENCE) makes a master refuse sends at once (b->fenced),
 * waits up to FENCE_DRAIN_MS for its connected slaves to have its whole log,
 * persists brokerRole=SLAVE and restarts. A slave whose log diverged from
 * its master's (ha_slave.c's handshake) persists the cut offset and
 * restarts; the store cuts the log while opening (store_config.truncate_to)
 * and ha_boot_end records what was cut.
 *
 * Loop thread, except ha_request_truncation (ha-slave thread) and the boot
 * functions (before the loop runs).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.pb-c.h"
#include "broker.h"
#include "ha_internal.h"
#include "hashmap.h"
#include "log.h"
#include "protocol.h"
#include "util.h"

#define FENCE_DRAIN_MS 5000

/* ---- boot ---- */

/* What the store cut while opening (one broker per process starts at a
 * time: broker_init runs once before the loop). */
static struct {
    bool active;
    int64_t to;
    int64_t end;
    int64_t msgs;
    strmap topics; /* topic -> (int64_t *) count */
    char why[512];
} g_cut;

static void on_cut_record(void *arg, const msg_record *r)
{
    (void)arg;
    char topic[256];
    size_t n = r->topic_len < sizeof topic - 1 ? r->topic_len : sizeof topic - 1;
    memcpy(topic, r->topic, n);
    topic[n] = '\0';
    int64_t *c = strmap_get(&g_cut.topics, topic);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        strmap_put(&g_cut.topics, topic, c);
    }
    (*c)++;
    g_cut.msgs++;
    if (r->physical_offset + (int64_t)r->total_size > g_cut.end)
        g_cut.end = r->physical_offset + (int64_t)r->total_size;
}

int ha_boot_begin(broker_config *cfg, struct store_config *sc, char *err, size_t errlen)
{
    const char *root = cfg->store_path_root_dir;
    int role;
    int64_t id;
    char why[512];
    int rc = ha_role_load(root, &role, &id, why, sizeof why, err, errlen);
    if (rc < 0)
        return -1;
    if (rc > 0 && (role != cfg->broker_role || id != cfg->broker_id)) {
        log_warn("ROLE OVERRIDE: %s/ha/role says brokerRole=%s brokerId=%lld (%s); the configuration says "
                 "brokerRole=%s brokerId=%lld. The persisted role wins: this broker was %s. "
                 "See docs/OPERATIONS.md \"Failover\" before removing that file.",
                 root, ha_role_name(role), (long long)id, why, ha_role_name(cfg->broker_role),
                 (long long)cfg->broker_id, role == ROLE_SLAVE ? "fenced by a newer master" : "promoted");
        cfg->broker_role = role;
        cfg->broker_id = id;
    }
    int64_t off;
    rc = ha_truncate_load(root, &off, why, sizeof why, err, errlen);
    if (rc < 0)
        return -1;
    memset(&g_cut, 0, sizeof g_cut);
    if (rc > 0) {
        g_cut.active = true;
        g_cut.to = g_cut.end = off;
        str_copy(g_cut.why, sizeof g_cut.why, why);
        strmap_init(&g_cut.topics);
        sc->truncate_to = off;
        sc->on_truncate = on_cut_record;
        sc->on_truncate_arg = NULL;
        log_warn("CommitLog cut pending at offset %lld (%s): cutting while the store opens", (long long)off, why);
    }
    return 0;
}

int ha_boot_end(const broker_config *cfg, char *err, size_t errlen)
{
    if (!g_cut.active)
        return 0;
    char per_topic[1500] = "";
    size_t used = 0;
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(&g_cut.topics, &it, &k, &v)) {
        if (used < sizeof per_topic) {
            int n = snprintf(per_topic + used, sizeof per_topic - used, "%s%s=%lld", used ? " " : "", k,
                             (long long)*(int64_t *)v);
            used += n > 0 ? (size_t)n : 0;
        }
        free(v);
    }
    strmap_free(&g_cut.topics);
    char record[2400];
    snprintf(record, sizeof record, "cut CommitLog [%lld, %lld): %lld bytes, %lld messages {%s}; why: %s",
             (long long)g_cut.to, (long long)g_cut.end, (long long)(g_cut.end - g_cut.to),
             (long long)g_cut.msgs, per_topic, g_cut.why);
    g_cut.active = false;
    if (ha_truncate_done(cfg->store_path_root_dir, record, err, errlen) != 0) {
        log_error("REPLICATION TRUNCATION (could not be recorded in ha/truncations: %s): %s", err, record);
        return -1;
    }
    log_warn("REPLICATION TRUNCATION: %s (recorded in %s/ha/truncations)", record, cfg->store_path_root_dir);
    return 0;
}

/* ---- runtime ---- */

int64_t ha_epoch(ha_service *ha)
{
    if (!ha)
        return 0;
    pthread_mutex_lock(&ha->hist_mu);
    int64_t e = ha_history_last(&ha->hist);
    pthread_mutex_unlock(&ha->hist_mu);
    return e;
}

static void restart_cb(void *arg)
{
    broker *b = arg;
    broker_restart(b, "the CommitLog must be cut to follow the master (recorded under ha/truncate)");
}

void ha_request_truncation(ha_service *ha, int64_t offset, const char *why)
{
    char err[300];
    if (ha_truncate_save(ha->b->cfg.store_path_root_dir, offset, why, err, sizeof err) != 0) {
        log_error("HA: cannot record the CommitLog cut at %lld: %s; not replicating", (long long)offset, err);
        atomic_store(&ha->restart_pending, true);
        return;
    }
    log_warn("HA: the local CommitLog must be cut at offset %lld: %s; restarting to cut it", (long long)offset,
             why);
    atomic_store(&ha->restart_pending, true);
    evq_post_fn(ha->b->q, restart_cb, ha->b);
}

/* A fenced master waits for its slaves to have everything, then restarts. */
void ha_fence_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    ha_service *ha = t->data;
    int64_t best = -1;
    int n = ha_master_slaves(ha, &best, NULL, 0);
    int64_t max = store_commitlog_max_offset(ha->s);
    if (n > 0 && best < max && mono_ms() < ha->fence_deadline)
        return;
    ev_timer_stop(loop, t);
    if (n > 0 && best < max)
        log_warn("fenced: slaves still %lld bytes behind after %d ms; restarting anyway", (long long)(max - best),
                 FENCE_DRAIN_MS);
    broker_restart(ha->b, "fenced by a newer master: rejoining as a slave");
}

void ha_fenced(broker *b, const char *master_addr, int64_t epoch, int64_t slave_id, const char *source)
{
    if (b->cfg.broker_role == ROLE_SLAVE || b->fenced[0] || b->stopping)
        return;
    if (slave_id <= 0)
        slave_id = 1;
    snprintf(b->fenced, sizeof b->fenced,
             "broker %s (%s) was fenced: the master of %s is now %s (epoch %lld); send there", b->addr,
             b->cfg.broker_name, b->cfg.broker_name, master_addr && *master_addr ? master_addr : "another broker",
             (long long)epoch);
    log_error("FENCED by %s: %s. Refusing sends; rejoining as slave %lld", source, b->fenced, (long long)slave_id);
    char why[600], err[300];
    snprintf(why, sizeof why, "fenced by %s: master %s of epoch %lld", source,
             master_addr && *master_addr ? master_addr : "?", (long long)epoch);
    if (ha_role_save(b->cfg.store_path_root_dir, ROLE_SLAVE, slave_id, why, err, sizeof err) != 0) {
        log_error("fenced, but cannot persist the slave role: %s; refusing sends, not restarting", err);
        return;
    }
    if (!b->ha) {
        broker_restart(b, "fenced by a newer master: rejoining as a slave");
        return;
    }
    b->ha->fence_deadline = mono_ms() + FENCE_DRAIN_MS;
    ev_timer_start(b->loop, &b->ha->fence_timer);
}

/* ---- requests ---- */

static void reply_state(broker *b, rm_conn *c, const rm_cmd *req)
{
    Mq__HaState st = MQ__HA_STATE__INIT;
    st.brokername = b->cfg.broker_name;
    st.brokerid = b->cfg.broker_id, st.has_brokerid = 1;
    st.role = (char *)ha_role_name(b->cfg.broker_role);
    st.epoch = ha_epoch(b->ha), st.has_epoch = 1;
    st.maxoffset = b->store ? store_commitlog_max_offset(b->store) : 0, st.has_maxoffset = 1;
    st.fenced = b->fenced[0] != 0, st.has_fenced = 1;
    rm_reply_ok(c, req, &st.base);
}

static void on_ha_state(rm_conn *c, const rm_cmd *req, void *arg) { reply_state(arg, c, req); }

static void on_ha_promote(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    char err[300];
    Mq__HaPromote *p = (Mq__HaPromote *)rm_body_decode(c, req, &mq__ha_promote__descriptor, err, sizeof err);
    if (!p || !p->has_epoch || p->epoch <= 0) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "bad HA_PROMOTE body: %s", p ? "epoch > 0 is required" : err);
        return;
    }
    int role = p->role && *p->role ? ha_role_parse(p->role) : ROLE_ASYNC_MASTER;
    if (role < 0 || role == ROLE_SLAVE) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "role must be ASYNC_MASTER or SYNC_MASTER");
        return;
    }
    int64_t last = ha_epoch(b->ha);
    if (b->cfg.broker_role != ROLE_SLAVE) {
        if (last == p->epoch && !b->fenced[0]) { /* a retried command: already done */
            reply_state(b, c, req);
            return;
        }
        rm_reply_status(c, req, RS_SERVICE_NOT_AVAILABLE, "broker %s is a master (epoch %lld), not a slave",
                        b->addr, (long long)last);
        return;
    }
    if (b->stopping) {
        rm_reply_status(c, req, RS_SERVICE_NOT_AVAILABLE, "broker %s is restarting", b->addr);
        return;
    }
    if (p->epoch <= last) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "epoch %lld is not above this broker's epoch %lld",
                        (long long)p->epoch, (long long)last);
        return;
    }
    /* No more bytes from the old master from here on. */
    ha_stop(b->ha);
    int64_t max = store_commitlog_max_offset(b->store);
    ha_service *ha = b->ha;
    pthread_mutex_lock(&ha->hist_mu);
    while (ha->hist.n && ha->hist.e[ha->hist.n - 1].start > max) /* epochs it never received bytes of */
        ha->hist.n--;
    ha_history_add(&ha->hist, p->epoch, max);
    int rc = ha_history_save(b->cfg.store_path_root_dir, &ha->hist, err, sizeof err);
    pthread_mutex_unlock(&ha->hist_mu);
    char why[300];
    snprintf(why, sizeof why, "promoted to %s at epoch %lld, CommitLog offset %lld, by %s", ha_role_name(role),
             (long long)p->epoch, (long long)max, rm_conn_peer(c));
    if (rc == 0)
        rc = ha_role_save(b->cfg.store_path_root_dir, role, 0, why, err, sizeof err);
    if (rc != 0) {
        log_error("promotion failed: %s; restarting as a slave", err);
        rm_reply_status(c, req, RS_SYSTEM_ERROR, "promotion failed: %s", err);
        broker_restart(b, "promotion failed");
        return;
    }
    log_warn("PROMOTED: %s", why);
    Mq__HaState st = MQ__HA_STATE__INIT;
    st.brokername = b->cfg.broker_name;
    st.brokerid = 0, st.has_brokerid = 1;
    st.role = (char *)ha_role_name(role);
    st.epoch = p->epoch, st.has_epoch = 1;
    st.maxoffset = max, st.has_maxoffset = 1;
    rm_reply_ok(c, req, &st.base);
    broker_restart(b, why);
}

static void on_ha_fence(rm_conn *c, const rm_cmd *req, void *arg)
{
    broker *b = arg;
    char err[300];
    Mq__HaFence *f = (Mq__HaFence *)rm_body_decode(c, req, &mq__ha_fence__descriptor, err, sizeof err);
    if (!f || !f->has_epoch) {
        rm_reply_status(c, req, RS_INVALID_PARAMETER, "bad HA_FENCE body: %s", f ? "epoch is required" : err);
        return;
    }
    int64_t last = ha_epoch(b->ha);
    if (b->cfg.broker_role != ROLE_SLAVE && !b->fenced[0]) {
        if (f->epoch <= last) {
            rm_reply_status(c, req, RS_INVALID_PARAMETER, "epoch %lld is not above this master's epoch %lld",
                            (long long)f->epoch, (long long)last);
            return;
        }
        char source[96];
        snprintf(source, sizeof source, "HA_FENCE from %s", rm_conn_peer(c));
        ha_fenced(b, f->masteraddr, f->epoch, f->has_slavebrokerid ? f->slavebrokerid : 0, source);
    }
    reply_state(b, c, req);
}

void ha_role_register(broker *b)
{
    rm_dispatch_on(b->dispatch, RC_HA_STATE, on_ha_state, b);
    rm_dispatch_on(b->dispatch, RC_HA_PROMOTE, on_ha_promote, b);
    rm_dispatch_on(b->dispatch, RC_HA_FENCE, on_ha_fence, b);
}
