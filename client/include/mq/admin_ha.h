/*
 * mq/admin_ha.h - failover of a broker group (ours; RocketMQ 4 changes roles
 * by editing broker.conf and restarting): read a broker's replication state,
 * promote a slave to master with a new epoch, fence an old master. Same
 * conventions as mq/admin.h: blocking calls, MQ_E* codes with err filled.
 * See docs/OPERATIONS.md "Failover".
 */
#ifndef MQ_ADMIN_HA_H
#define MQ_ADMIN_HA_H

#include <stdbool.h>
#include <stdint.h>

#include "mq/admin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mq_ha_state {
    char broker_name[128];
    int64_t broker_id;
    char role[16];       /* ASYNC_MASTER, SYNC_MASTER, SLAVE */
    int64_t epoch;       /* last epoch of its history, 0 none */
    int64_t max_offset;  /* CommitLog max offset */
    bool fenced;         /* a master that learned of a newer master */
} mq_ha_state;

/* HA_STATE (50010) of the broker at addr. */
int mq_admin_ha_state(mq_admin *a, const char *broker_addr, mq_ha_state *out, mq_error *err);
/* HA_PROMOTE (50011): the slave at addr becomes master (role "ASYNC_MASTER"
 * or "SYNC_MASTER") of its group with epoch; it restarts itself as such.
 * *out: its state as master (epoch, the offset the epoch starts at). */
int mq_admin_ha_promote(mq_admin *a, const char *broker_addr, int64_t epoch, const char *role, mq_ha_state *out,
                        mq_error *err);
/* HA_FENCE (50012): the master at addr learns that master_addr leads the
 * group with epoch: it refuses sends and rejoins as slave slave_id. */
int mq_admin_ha_fence(mq_admin *a, const char *broker_addr, int64_t epoch, const char *master_addr,
                      int64_t slave_id, mq_ha_state *out, mq_error *err);

#ifdef __cplusplus
}
#endif

#endif
