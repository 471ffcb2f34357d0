/*
 * cmd_ha.c - mqadmin haPromote (ours; RocketMQ 4 changes roles by hand in
 * broker.conf, RocketMQ 5 elects through its controller):
 *   haPromote -b BROKER_NAME [-c CLUSTER] [-s SLAVE_ADDR] [-r ROLE] [-t MS]
 * Asks every address of the group the nameservers know for its replication
 * state (HA_STATE), picks the slave with the highest CommitLog offset (or
 * -s), and makes it master with epoch = highest epoch known + 1, at
 * least 2 (HA_PROMOTE); it restarts itself as brokerId 0 and registers with that
 * epoch, which fences the old master at the nameservers. A master that
 * still answers is fenced first (HA_FENCE: it refuses sends at once), and
 * the slave is given up to -t ms to copy the master's last bytes, so a
 * planned switch loses nothing. Waits (-t) until the new master answers as
 * master. --json prints {"brokerName":..,"master":..,"epoch":..,
 * "offset":..,"oldMaster":..,"oldMasterState":..}.
 */
#include <stdlib.h>
#include <string.h>

#include "mq/admin_ha.h"
#include "mqadmin.h"
#include "util.h"

typedef struct member {
    const char *addr;
    int64_t id;
    bool up;
    mq_ha_state st;
} member;

static int64_t wait_offset(mq_admin *admin, const char *addr, int64_t want, int64_t deadline)
{
    mq_ha_state st = {0};
    mq_error err = {0};
    int64_t have = -1;
    while (mono_ms() < deadline) {
        if (mq_admin_ha_state(admin, addr, &st, &err) == MQ_OK) {
            have = st.max_offset;
            if (have >= want)
                return have;
        }
        sleep_ms(100);
    }
    return have;
}

int cmd_ha_promote(const mqadmin_args *a)
{
    int rc;
    mq_admin *admin;
    const char *name = mqadmin_open_for(a, 'b', "broker name", &admin, &rc);
    if (!name)
        return rc;
    const char *cluster = a->flags['c'], *want = a->flags['s'];
    const char *role = a->flags['r'] && *a->flags['r'] ? a->flags['r'] : "ASYNC_MASTER";
    int64_t wait_ms;
    if (strcmp(role, "ASYNC_MASTER") != 0 && strcmp(role, "SYNC_MASTER") != 0) {
        mq_admin_free(admin);
        return mqadmin_usage(a, "-r must be ASYNC_MASTER or SYNC_MASTER");
    }
    if ((rc = mqadmin_int_flag(a, 't', 0, 3600000, 15000, &wait_ms)) != 0) {
        mq_admin_free(admin);
        return rc;
    }
    mq_error err = {0};
    mq_cluster_info *ci;
    if (mq_admin_cluster_info(admin, &ci, &err) != MQ_OK) {
        mq_admin_free(admin);
        return mqadmin_fail_err("cluster info", &err);
    }
    const mq_broker_info *bi = NULL;
    for (size_t i = 0; i < ci->n_brokers && !bi; i++)
        if (!strcmp(ci->brokers[i].broker_name, name) && (!cluster || !strcmp(ci->brokers[i].cluster, cluster)))
            bi = &ci->brokers[i];
    size_t n = bi ? bi->n_addrs : 0;
    member *m = xcalloc(n + 1, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        m[i].addr = bi->addrs[i].addr;
        m[i].id = bi->addrs[i].id;
    }
    bool listed = false;
    for (size_t i = 0; i < n; i++)
        listed |= want && !strcmp(m[i].addr, want);
    if (want && !listed) /* a slave the nameservers lost (e.g. expired): ask it anyway */
        m[n++] = (member){.addr = want, .id = -1};
    int64_t epoch = 0;
    member *chosen = NULL, *master = NULL;
    for (size_t i = 0; i < n; i++) {
        mq_error e = {0};
        m[i].up = mq_admin_ha_state(admin, m[i].addr, &m[i].st, &e) == MQ_OK;
        if (!m[i].up) {
            fprintf(stderr, "mqadmin: %s (id %lld) does not answer: %s\n", m[i].addr, (long long)m[i].id, e.message);
            continue;
        }
        if (m[i].st.epoch > epoch)
            epoch = m[i].st.epoch;
        bool slave = !strcmp(m[i].st.role, "SLAVE");
        if (!slave && !m[i].st.fenced)
            master = &m[i];
        if (slave && (want ? !strcmp(m[i].addr, want)
                           : !chosen || m[i].st.max_offset > chosen->st.max_offset))
            chosen = &m[i];
    }
    rc = MQADMIN_OK;
    if (!chosen) {
        rc = want ? mqadmin_fail("%s is not a slave of %s that answers", want, name)
                  : mqadmin_fail("broker group %s has no slave that answers (%zu addresses known)", name, n);
        goto done;
    }
    /* Above every epoch known, and at least 2: a master's first start is
     * epoch 1, and a slave that never connected does not know even that. */
    epoch = (epoch < 1 ? 1 : epoch) + 1;
    const char *old_state = "unreachable";
    if (master) { /* planned switch: stop the master's writes, let the slave copy its last bytes */
        mq_ha_state fs;
        if (mq_admin_ha_fence(admin, master->addr, epoch, chosen->addr, chosen->st.broker_id, &fs, &err) != MQ_OK) {
            rc = mqadmin_fail_err("fencing the master", &err);
            goto done;
        }
        int64_t have = wait_offset(admin, chosen->addr, fs.max_offset, mono_ms() + wait_ms);
        old_state = "fenced";
        if (have < fs.max_offset)
            fprintf(stderr, "mqadmin: warning: %s copied the fenced master's log up to %lld of %lld; the rest "
                            "will be cut from %s when it rejoins (recorded in its store's ha/truncations)\n",
                    chosen->addr, (long long)have, (long long)fs.max_offset, master->addr);
    }
    mq_ha_state ps;
    if (mq_admin_ha_promote(admin, chosen->addr, epoch, role, &ps, &err) != MQ_OK) {
        rc = mqadmin_fail_err("promotion", &err);
        goto done;
    }
    /* It restarts in place: wait until it answers as master. */
    int64_t deadline = mono_ms() + wait_ms;
    bool up = false;
    while (!up && mono_ms() < deadline) {
        mq_ha_state st;
        mq_error e = {0};
        up = mq_admin_ha_state(admin, chosen->addr, &st, &e) == MQ_OK && strcmp(st.role, "SLAVE") != 0 &&
             st.epoch == epoch;
        if (!up)
            sleep_ms(100);
    }
    if (a->json) {
        bytebuf buf;
        json_writer w;
        mqadmin_json_object_start(&w, &buf);
        json_kv_string(&w, "brokerName", name);
        json_kv_string(&w, "master", chosen->addr);
        json_kv_string(&w, "role", role);
        json_kv_int(&w, "epoch", epoch);
        json_kv_int(&w, "offset", ps.max_offset);
        json_kv_string(&w, "oldMaster", master ? master->addr : "");
        json_kv_string(&w, "oldMasterState", old_state);
        json_kv_bool(&w, "serving", up);
        rc = mqadmin_json_object_done(&w, &buf);
    } else {
        printf("promoted %s to %s of %s at epoch %lld (CommitLog offset %lld); old master%s%s: %s\n",
               chosen->addr, role, name, (long long)epoch, (long long)ps.max_offset, master ? " " : "",
               master ? master->addr : "", old_state);
    }
    if (!up)
        rc = mqadmin_fail("%s did not come back as master within %lld ms (see its log)", chosen->addr,
                          (long long)wait_ms);
done:
    free(m);
    mq_cluster_info_free(ci);
    mq_admin_free(admin);
    return rc;
}
