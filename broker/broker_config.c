/*
 * broker_config.c - the option table of mqbroker: key names and defaults are
 * RocketMQ's (docs/OPERATIONS.md "Configuration") unless a comment
 * says why we differ.
 */
#include "broker_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const roles[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE", NULL};
static const char *const flush_types[] = {"ASYNC_FLUSH", "SYNC_FLUSH", NULL};

#define B broker_config
const cfg_option broker_config_options[] = {
    CFG_STRING(B, broker_cluster_name, "brokerClusterName", "DefaultCluster", "cluster this broker belongs to"),
    CFG_STRING(B, broker_name, "brokerName", "broker-a", "broker group name (master and slaves share it)"),
    CFG_INT64(B, broker_id, "brokerId", "0", 0, 1024, "0 = master, > 0 = slave"),
    CFG_STRING(B, namesrv_addr, "namesrvAddr", "", "nameservers, 'host:port;host:port'"),
    CFG_STRING(B, broker_ip1, "brokerIP1", "", "address announced to nameservers (default: 127.0.0.1 if every namesrvAddr is loopback, else the first non-loopback IPv4)"),
    CFG_INT(B, listen_port, "listenPort", "10911", 0, 65535, "TCP port for clients (0 = any free port)"),
    CFG_INT(B, ha_listen_port, "haListenPort", "-1", -1, 65535, "TCP port for slaves (-1 = listenPort + 1 as RocketMQ, or any free port when listenPort is 0; 0 = any free port)"),
    CFG_INT(B, metrics_port, "metricsPort", "-1", -1, 65535, "HTTP port of GET /metrics (Prometheus; -1 = off, 0 = any free port)"),
    CFG_ENUM(B, broker_role, "brokerRole", "ASYNC_MASTER", roles, "replication role"),
    CFG_INT(B, register_name_server_period, "registerNameServerPeriod", "30000", 1000, 600000, "ms between registrations with the nameservers"),
    CFG_INT(B, broker_perm, "brokerPermission", "6", 0, 7, "READ 4 | WRITE 2 for the whole broker"),
    CFG_STRING(B, store_path_root_dir, "storePathRootDir", "./store", "root folder of CommitLog, ConsumeQueue, indexes and metadata"),
    CFG_ENUM(B, flush_disk_type, "flushDiskType", "ASYNC_FLUSH", flush_types, "acknowledge before (ASYNC) or after (SYNC) fsync"),
    CFG_INT64(B, maped_file_size_commit_log, "mapedFileSizeCommitLog", "1073741824", 4096, (int64_t)1 << 40, "bytes per CommitLog segment file"),
    CFG_INT(B, maped_file_size_consume_queue, "mapedFileSizeConsumeQueue", "6000000", 20 * 16, 2000000000, "bytes per ConsumeQueue file (multiple of 20)"),
    CFG_INT(B, flush_interval_commit_log, "flushIntervalCommitLog", "500", 1, 60000, "ms between async flushes"),
    CFG_INT(B, flush_commit_log_least_pages, "flushCommitLogLeastPages", "4", 0, 1 << 20, "dirty 4 KiB pages that trigger an async flush"),
    CFG_INT(B, flush_commit_log_thorough_interval, "flushCommitLogThoroughInterval", "10000", 0, 3600000, "ms after which any dirty page is flushed"),
    CFG_INT(B, sync_flush_timeout, "syncFlushTimeout", "5000", 1, 600000, "ms a SYNC_FLUSH send waits before FLUSH_DISK_TIMEOUT"),
    CFG_INT(B, sync_flush_gather_micros, "syncFlushGatherMicros", "60", 0, 10000, "us a SYNC_FLUSH group commit waits for producers the last one answered (0: no wait)"),
    CFG_INT(B, file_reserved_time, "fileReservedTime", "72", 0, 100000, "hours CommitLog segments are kept"),
    CFG_STRING(B, delete_when, "deleteWhen", "04", "hours of day (';'-separated) when expired segments are deleted"),
    CFG_INT(B, disk_max_used_space_ratio, "diskMaxUsedSpaceRatio", "75", 10, 95, "% disk use above which expired segments are deleted at once"),
    CFG_INT(B, disk_space_clean_forcibly_ratio, "diskSpaceCleanForciblyRatio", "85", 10, 99, "% disk use above which even unexpired segments are deleted"),
    CFG_INT(B, disk_space_warning_level_ratio, "diskSpaceWarningLevelRatio", "90", 10, 99, "% disk use above which writes are refused"),
    CFG_BOOL(B, clean_file_forcibly_enable, "cleanFileForciblyEnable", "false", "above diskSpaceCleanForciblyRatio delete unexpired (unconsumed) segments, one per round (RocketMQ default: true)"),
    CFG_INT(B, clean_resource_interval, "cleanResourceInterval", "10000", 100, 3600000, "ms between retention rounds (disk use is read every second)"),
    CFG_INT(B, max_message_size, "maxMessageSize", "4194304", 1024, 64 * 1024 * 1024, "largest message body in bytes"),
    CFG_BOOL(B, message_index_enable, "messageIndexEnable", "true", "index messages by key and unique id"),
    CFG_STRING(B, message_delay_level, "messageDelayLevel", "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", "delay of each level (ms, s, m, h, d)"),
    CFG_BOOL(B, auto_create_topic_enable, "autoCreateTopicEnable", "true", "create a topic on its first send"),
    CFG_BOOL(B, auto_create_subscription_group, "autoCreateSubscriptionGroup", "true", "create a consumer group on first use"),
    CFG_INT(B, default_topic_queue_nums, "defaultTopicQueueNums", "8", 1, 1024, "queues of an auto-created topic"),
    CFG_BOOL(B, long_polling_enable, "longPollingEnable", "true", "hold pulls until a message arrives"),
    CFG_INT(B, short_polling_time_mills, "shortPollingTimeMills", "1000", 1, 60000, "hold time of a pull when long polling is off"),
    CFG_INT(B, max_transfer_count_on_message_in_memory, "maxTransferCountOnMessageInMemory", "32", 1, 65536, "messages per pull response"),
    CFG_INT(B, max_transfer_bytes_on_message_in_memory, "maxTransferBytesOnMessageInMemory", "262144", 1024, 16 * 1024 * 1024, "bytes per pull response"),
    CFG_INT(B, client_channel_expired_time, "channelExpiredTimeout", "120000", 1000, 3600000, "ms without heartbeat after which a client is dropped"),
    CFG_BOOL(B, enable_property_filter, "enablePropertyFilter", "false", "allow SQL92 subscriptions"),
    CFG_INT64(B, transaction_time_out, "transactionTimeOut", "6000", 0, 86400000, "ms before a half message is first checked"),
    CFG_INT(B, transaction_check_max, "transactionCheckMax", "15", 1, 1000, "checks before a half message is parked"),
    CFG_INT64(B, transaction_check_interval, "transactionCheckInterval", "30000", 100, 86400000, "ms between check rounds"),
    CFG_INT64(B, timer_max_delay_sec, "timerMaxDelaySec", "3456000", 1, 315360000, "longest delay of a timer message in seconds (40 days)"),
    CFG_INT(B, max_frame_size, "maxFrameSize", "16777216", 1024, 1 << 30, "largest frame accepted on a connection"),
    CFG_INT(B, server_write_limit_bytes, "serverWriteLimitBytes", "67108864", 65536, 1 << 30, "queued output above which a client that does not read is dropped"),
    CFG_INT(B, server_frame_timeout_millis, "serverFrameTimeoutMillis", "30000", 0, 3600000, "ms a frame may take from its first byte to its last before the client is dropped (0 = no limit)"),
    CFG_INT64(B, server_input_max_bytes, "serverInputMaxBytes", "67108864", 0, (int64_t)1 << 40, "bytes of unfinished frames all clients together may hold; over it the oldest is dropped (0 = no limit)"),
    CFG_INT(B, server_max_connections, "serverMaxConnections", "0", 0, 1 << 24, "client connections open at once, more are closed at accept (0 = descriptor limit less 256)"),
    CFG_STRING(B, log_level, "logLevel", "info", "debug, info, warn or error"),
    CFG_STRING(B, log_file, "logFile", "", "append logs to this file (default: stderr)"),
    CFG_STRING(B, ha_master_address, "haMasterAddress", "", "slave: master's HA address host:port (default: learned from the nameserver)"),
    CFG_INT(B, ha_send_heartbeat_interval, "haSendHeartbeatInterval", "5000", 100, 600000, "ms between HA heartbeats (slave offset reports, master empty frames)"),
    CFG_INT(B, ha_housekeeping_interval, "haHousekeepingInterval", "20000", 500, 3600000, "ms without HA traffic after which a connection is dropped"),
    CFG_INT(B, ha_transfer_batch_size, "haTransferBatchSize", "32768", 4096, 16777216, "bytes of CommitLog per HA frame"),
    CFG_INT64(B, ha_slave_fallbehind_max, "haSlaveFallbehindMax", "268435456", 0, (int64_t)1 << 50, "SYNC_MASTER: a slave further behind (bytes) counts as not available"),
    CFG_INT(B, slave_timeout, "slaveTimeout", "3000", 1, 600000, "SYNC_MASTER: ms a send waits for a slave before FLUSH_SLAVE_TIMEOUT"),
    CFG_INT(B, slave_sync_interval, "slaveSyncInterval", "10000", 100, 3600000, "slave: ms between copies of topics, groups and consumer offsets from the master"),
    CFG_BOOL(B, slave_read_enable, "slaveReadEnable", "false", "pull answers may send a consumer that reads far behind to a slave (suggestWhichBrokerId = the group's whichBrokerWhenConsumeSlowly)"),
    CFG_INT(B, access_message_in_memory_max_ratio, "accessMessageInMemoryMaxRatio", "40", 0, 100, "% of physical memory of CommitLog a pull may leave unread behind it before it counts as reading far behind (slaveReadEnable)"),
    /* ---- RocketMQ broker.conf compatibility (issue 18) ---- */
    CFG_INT64(B, maped_file_size_commit_log, "mappedFileSizeCommitLog", "1073741824", 4096, (int64_t)1 << 40, "newer spelling of mapedFileSizeCommitLog"),
    CFG_INT(B, maped_file_size_consume_queue, "mappedFileSizeConsumeQueue", "6000000", 20 * 16, 2000000000, "newer spelling of mapedFileSizeConsumeQueue"),
    CFG_STRING(B, store_path_commit_log, "storePathCommitLog", "", "CommitLog folder, may be on another disk (empty = storePathRootDir/commitlog)"),
    CFG_STRING(B, store_path_consume_queue, "storePathConsumeQueue", "", "ConsumeQueue folder, may be on another disk (empty = storePathRootDir/consumequeue)"),
    CFG_STRING(B, store_path_index, "storePathIndex", "", "folder of the key index (a RocksDB database; empty = storePathRootDir/kv)"),
    CFG_STRING(B, store_checkpoint, "storeCheckpoint", "", "checkpoint file; must be storePathRootDir/checkpoint (default)"),
    CFG_STRING(B, abort_file, "abortFile", "", "abort marker file; must be storePathRootDir/abort (default)"),
    CFG_BOOL(B, strict_config, "strictConfig", "false", "refuse to start when the configuration names keys this broker does not use"),
    CFG_BOOL(B, acl_enable, "aclEnable", "false", "RocketMQ ACL: not implemented, so true refuses to start (never runs open by surprise)"),
#define N(name) CFG_NOTED(B, not_used_keys, name)
    /* RocketMQ 4.9 BrokerConfig / MessageStoreConfig / NettyServerConfig keys that
     * stock and documented broker.conf files set and this broker does not use
     * (an ordinary row above with the same name takes precedence) */
    N("rocketmqHome"), N("brokerIP2"), N("traceTopicEnable"), N("msgTraceTopicName"),
    N("sendMessageThreadPoolNums"), N("pullMessageThreadPoolNums"), N("queryMessageThreadPoolNums"),
    N("adminBrokerThreadPoolNums"), N("clientManageThreadPoolNums"), N("consumerManageThreadPoolNums"),
    N("heartbeatThreadPoolNums"), N("endTransactionThreadPoolNums"), N("processReplyMessageThreadPoolNums"),
    N("sendThreadPoolQueueCapacity"), N("pullThreadPoolQueueCapacity"), N("queryThreadPoolQueueCapacity"),
    N("clientManagerThreadPoolQueueCapacity"), N("consumerManagerThreadPoolQueueCapacity"),
    N("heartbeatThreadPoolQueueCapacity"), N("endTransactionPoolQueueCapacity"),
    N("useReentrantLockWhenPutMessage"), N("waitTimeMillsInSendQueue"), N("waitTimeMillsInPullQueue"),
    N("waitTimeMillsInHeartbeatQueue"), N("waitTimeMillsInTransactionQueue"), N("brokerFastFailureEnable"),
    N("osPageCacheBusyTimeOutMills"), N("transientStorePoolEnable"), N("transientStorePoolSize"),
    N("fastFailIfNoBufferInStorePool"), N("slaveReadEnable"),
    N("flushIntervalConsumeQueue"), N("flushConsumeQueueLeastPages"), N("flushConsumeQueueThoroughInterval"),
    N("commitIntervalCommitLog"), N("commitCommitLogLeastPages"), N("commitCommitLogThoroughInterval"),
    N("flushCommitLogTimed"), N("deleteCommitLogFilesInterval"), N("deleteConsumeQueueFilesInterval"),
    N("destroyMapedFileIntervalForcibly"), N("redeleteHangedFileInterval"),
    N("maxTransferBytesOnMessageInDisk"), N("maxTransferCountOnMessageInDisk"),
    N("accessMessageInMemoryMaxRatio"), N("maxHashSlotNum"), N("maxIndexNum"), N("maxMsgsNumBatch"),
    N("messageIndexSafe"), N("enableConsumeQueueExt"), N("enableCalcFilterBitMap"), N("filterServerNums"),
    N("checkCRCOnRecover"), N("serverWorkerThreads"), N("serverCallbackExecutorThreads"),
    N("serverSelectorThreads"), N("serverOnewaySemaphoreValue"), N("serverAsyncSemaphoreValue"),
    N("serverChannelMaxIdleTimeSeconds"), N("serverSocketSndBufSize"), N("serverSocketRcvBufSize"),
    N("serverPooledByteBufAllocatorEnable"), N("useEpollNativeSelector"), N("fetchNamesrvAddrByAddressServer"),
    N("rejectTransactionMessage"), N("checkTransactionMessageEnable"), N("brokerTopicEnable"),
    N("clusterTopicEnable"), N("autoDeleteUnusedStats"), N("isolateLogEnable"),
    N("notifyConsumerIdsChangedEnable"), N("highSpeedMode"), N("commercialEnable"), N("enableDLegerCommitLog"),
    N("dLegerGroup"), N("dLegerPeers"), N("dLegerSelfId"), N("duplicationEnable"), N("diskFallRecorded"),
    N("defaultQueryMaxNum"), N("transferMsgByHeap"), N("startAcceptSendRequestTimeStamp"), N("traceOn"),
    N("forceRegister"), N("registerBrokerTimeoutMills"), N("compressedRegister"), N("putMsgIndexHightWater"),
    N("maxDelayTime"), N("warmMapedFileEnable"), N("offsetCheckInSlave"), N("debugLockEnable"),
    N("flushDelayOffsetInterval"), N("flushConsumerOffsetInterval"), N("flushConsumerOffsetHistoryInterval"),
    N("storeReplyMessageEnable"), N("autoCreateSubscriptionGroupEnable"), N("enableSlaveActingMaster"),
    N("enableControllerMode"), N("controllerAddr"), N("listenPortFast"),
#undef N
    CFG_END,
};
#undef B

const cfg_flag broker_config_flags[] = {
    {'n', "namesrvAddr"},
    {0, NULL},
};

/* A path key must be "" or root/name (trailing slashes ignored): the store
 * keeps its checkpoint and abort marker (beside its lock) under
 * storePathRootDir. */
static bool at_default(const char *path, const char *root, const char *name)
{
    return !path[0] || path_is_child(path, root, name);
}

int broker_config_check(const broker_config *c, char *warn, size_t warnlen, char *err, size_t errlen)
{
    static const struct {
        size_t off;
        const char *key, *name;
    } paths[] = {
        {offsetof(broker_config, store_checkpoint), "storeCheckpoint", "checkpoint"},
        {offsetof(broker_config, abort_file), "abortFile", "abort"},
    };
    warn[0] = '\0';
    if (c->acl_enable) {
        snprintf(err, errlen, "aclEnable: RocketMQ ACL is not implemented; this broker cannot authenticate "
                 "clients, and would run open: set aclEnable=false, and keep the broker on a trusted "
                 "network (docs/OPERATIONS.md, Configuration)");
        return -1;
    }
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *p = (const char *)c + paths[i].off;
        if (!at_default(p, c->store_path_root_dir, paths[i].name)) {
            snprintf(err, errlen, "%s=%s: this broker keeps it at storePathRootDir/%s (%s/%s); set "
                     "storePathRootDir to the parent folder instead", paths[i].key, p, paths[i].name,
                     c->store_path_root_dir, paths[i].name);
            return -1;
        }
    }
    char keys[sizeof c->not_used_keys];
    snprintf(keys, sizeof keys, "%s", c->not_used_keys);
    if (keys[0] && c->strict_config) {
        snprintf(err, errlen, "strictConfig=true and these keys are not used by this broker: %s", keys);
        return -1;
    }
    if (keys[0])
        snprintf(warn, warnlen, "configuration keys accepted but not used by this broker (RocketMQ settings "
                 "with no effect here; strictConfig=true refuses them): %s", keys);
    return 0;
}
