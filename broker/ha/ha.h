/*
 * ha.h - master/slave replication of a broker group (RocketMQ's HAService):
 * the one interface of broker/ha/. See docs/ARCHITECTURE.md "Replication".
 *
 * A group is one master (brokerRole ASYNC_MASTER or SYNC_MASTER, brokerId 0)
 * and slaves (SLAVE, brokerId > 0, same brokerName). The slave connects to
 * the master's haListenPort and copies its CommitLog byte for byte with
 * RocketMQ 4.x's HA wire format:
 *   slave -> master: 8-byte big-endian offset = the slave's CommitLog max
 *     offset, on connect, after applying data and every
 *     haSendHeartbeatInterval;
 *   master -> slave: 8-byte start offset + 4-byte size + that many bytes of
 *     the master's CommitLog (at most haTransferBatchSize, never across a
 *     segment end); size 0 is a heartbeat.
 * The slave appends whole, CRC-checked records at exactly its log's end
 * (store_replica_append); its own dispatcher builds ConsumeQueues and
 * indexes. A restart of either side resumes from the slave's max offset.
 *
 * Threads. Master: ha-accept (listen socket) and one ha-conn thread per
 * slave (reads acks, writes log bytes straight from the mapped segments).
 * Slave: ha-slave (connect, receive, append, report). The broker loop owns
 * the SYNC_MASTER waits (ha_send_wait), the slave's periodic copy of topic
 * and group configs and consumer offsets from the master (over a normal
 * remoting connection, as RocketMQ's SlaveSynchronize), and the stats
 * reads. Everything here is called on the loop thread unless noted.
 */
#ifndef MQ_BROKER_HA_H
#define MQ_BROKER_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_context.h"
#include "remoting.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ha_service ha_service;
struct store_config;

/* ---- failover (ha_role.c, ha_state.c; docs/OPERATIONS.md "Failover") ----
 * Role changes happen at start only: a promotion, a fencing or a cut of
 * the CommitLog is persisted under <storePathRootDir>/ha/ and the broker
 * restarts itself in place (broker_restart). */

/* broker_init, before the store opens: applies the role persisted by a
 * promotion or fencing to cfg (logged loudly) and a pending cut of the
 * CommitLog to sc. Returns 0, or -1 with err (unreadable state files). */
int ha_boot_begin(broker_config *cfg, struct store_config *sc, char *err, size_t errlen);
/* After the store opened: records the cut made (log line with the range
 * and the messages per topic, ha/truncations) and clears it. */
int ha_boot_end(const broker_config *cfg, char *err, size_t errlen);
/* Serves HA_STATE, HA_PROMOTE and HA_FENCE (our codes 50010-50012). */
void ha_role_register(broker *b);
/* A nameserver (or HA_FENCE) says the group has a master of a newer epoch:
 * a master refuses writes from now on (send_check reads b->fenced) and
 * restarts as a slave of it. No-op on a slave. */
void ha_fenced(broker *b, const char *master_addr, int64_t epoch, int64_t slave_id, const char *source);
/* Last epoch of this broker's history (0 none); registration carries it. */
int64_t ha_epoch(ha_service *ha);

/* Starts replication for b's role (after the store is open): a master
 * listens on haListenPort, a slave starts its client and config sync.
 * Returns 0, or -1 with err. *out is NULL when nothing was started. */
int ha_start(broker *b, ha_service **out, char *err, size_t errlen);
/* Stops the threads and answers pending SYNC_MASTER waits
 * (FLUSH_SLAVE_TIMEOUT). Before the store closes. NULL is a no-op. */
void ha_stop(ha_service *ha);
/* Frees, after the store closed and the loop queue was drained (a wait
 * whose flush was pending is answered from that queue). NULL is a no-op. */
void ha_free(ha_service *ha);

/* Port the master's HA listener is bound to (0 on a slave). */
int ha_listen_port(const ha_service *ha);

/* The registrar learned the group's master (brokerAddr and its HA address)
 * from a nameserver: a slave without haMasterAddress follows it. */
void ha_set_master(ha_service *ha, const char *master_addr, const char *ha_addr);

/* SYNC_MASTER: takes over the answer of a stored send whose producer waits
 * (WAIT not false). It is answered with send_answer_stored once a slave has
 * acknowledged end_offset (and, under SYNC_FLUSH, the disk has it too):
 * SUCCESS, FLUSH_SLAVE_TIMEOUT after slaveTimeout, SLAVE_NOT_AVAILABLE at once
 * when no slave is connected or the best one is more than
 * haSlaveFallbehindMax behind, FLUSH_DISK_TIMEOUT if the flush timed out.
 * Returns false (to is untouched) when ha is NULL or not a SYNC_MASTER. */
bool ha_send_wait(ha_service *ha, rm_reply_to *to, int64_t end_offset, int32_t queue_id,
                  int64_t queue_offset, const char *msg_id);

/* SYNC_MASTER: the same wait for an answer that is a status with remark
 * (END_TRANSACTION: the commit's re-put and op records): SUCCESS once a
 * slave (and under SYNC_FLUSH the disk) has end_offset, else the statuses
 * above with the remark and the reason. Returns false like ha_send_wait. */
bool ha_status_wait(ha_service *ha, rm_reply_to *to, int64_t end_offset, const char *remark);

typedef struct ha_stats {
    int role;                  /* ROLE_* */
    int64_t epoch;             /* last epoch of the epoch history (0 none) */
    /* master */
    int slaves;                /* connected slaves */
    int64_t master_offset;     /* CommitLog max offset */
    int64_t slave_ack_offset;  /* best offset a connected slave acknowledged, -1 none */
    int64_t lag_bytes;         /* master_offset - slave_ack_offset (0 without slaves) */
    uint64_t sync_waits, sync_ok, sync_timeouts, sync_not_available;
    char slave_list[512];      /* "addr:ack;..." of the connected slaves */
    /* slave */
    bool connected;
    char master_ha_addr[64];
    int64_t slave_offset;      /* local CommitLog max offset */
    int64_t master_offset_seen;/* end of the last frame received (the master's offset then) */
    uint64_t bytes_received;
    int64_t sync_config_ms;    /* wall clock of the last config/offset copy, 0 never */
} ha_stats;

/* Any thread. A NULL ha reports role from nothing (zeros). */
void ha_get_stats(ha_service *ha, ha_stats *out);

#ifdef __cplusplus
}
#endif

#endif
