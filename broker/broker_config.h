/*
 * broker_config.h - every setting of mqbroker, with RocketMQ's key names.
 *
 * Filled once at start by cfg_cli_parse (defaults < -c broker.conf < flags)
 * and read-only afterwards, so any thread may read it without locks.
 */
#ifndef MQ_BROKER_CONFIG_H
#define MQ_BROKER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

enum broker_role { ROLE_ASYNC_MASTER = 0, ROLE_SYNC_MASTER = 1, ROLE_SLAVE = 2 };
enum flush_disk_type { FLUSH_ASYNC = 0, FLUSH_SYNC = 1 };

typedef struct broker_config {
    /* identity and cluster */
    char broker_cluster_name[128];
    char broker_name[128];
    int64_t broker_id;
    char namesrv_addr[1024];
    char broker_ip1[64];
    int32_t listen_port;
    int32_t ha_listen_port;
    int32_t metrics_port;
    int32_t broker_role;
    int32_t register_name_server_period;
    int32_t broker_perm;
    /* storage */
    char store_path_root_dir[1024];
    int32_t flush_disk_type;
    int64_t maped_file_size_commit_log;
    int32_t maped_file_size_consume_queue;
    int32_t flush_interval_commit_log;
    int32_t flush_commit_log_least_pages;
    int32_t flush_commit_log_thorough_interval;
    int32_t sync_flush_timeout;
    int32_t sync_flush_gather_micros; /* group commit waits this long for expected producers */
    int32_t file_reserved_time;
    char delete_when[64];
    int32_t disk_max_used_space_ratio;
    int32_t disk_space_clean_forcibly_ratio;
    int32_t disk_space_warning_level_ratio;
    bool clean_file_forcibly_enable;
    int32_t clean_resource_interval;
    int32_t max_message_size;
    bool message_index_enable;
    char message_delay_level[512];
    /* topics, groups, consuming */
    bool auto_create_topic_enable;
    bool auto_create_subscription_group;
    int32_t default_topic_queue_nums;
    bool long_polling_enable;
    int32_t short_polling_time_mills;
    int32_t max_transfer_count_on_message_in_memory;
    int32_t max_transfer_bytes_on_message_in_memory;
    int32_t client_channel_expired_time;
    bool enable_property_filter;
    /* transactions and timers */
    int64_t transaction_time_out;
    int32_t transaction_check_max;
    int64_t transaction_check_interval;
    int64_t timer_max_delay_sec;
    /* network */
    int32_t max_frame_size;
    int32_t server_write_limit_bytes;
    int32_t server_frame_timeout_millis;
    int64_t server_input_max_bytes;
    int32_t server_max_connections;
    /* replication (broker/ha) */
    char ha_master_address[128];
    int32_t ha_send_heartbeat_interval;
    int32_t ha_housekeeping_interval;
    int32_t ha_transfer_batch_size;
    int64_t ha_slave_fallbehind_max;
    int32_t slave_timeout;
    int32_t slave_sync_interval;
    bool slave_read_enable;
    int32_t access_message_in_memory_max_ratio;
    /* logging */
    char log_level[16];
    char log_file[1024];
    /* RocketMQ compatibility (issue 18): paths a RocketMQ broker.conf names
     * ("" = the default under storePathRootDir; the CommitLog, ConsumeQueue
     * and index folders may be anywhere, the checkpoint and abort marker
     * stay under the root), and the keys accepted without being used,
     * which broker_config_check reports */
    char store_path_commit_log[1024];
    char store_path_consume_queue[1024];
    char store_path_index[1024];
    char store_checkpoint[1024];
    char abort_file[1024];
    bool strict_config;
    bool acl_enable; /* refused: ACL is not implemented */
    char not_used_keys[4096];
} broker_config;

extern const cfg_option broker_config_options[];

/* After parsing: checks the RocketMQ path keys against the layout this
 * broker uses and collects what an operator must hear about. Returns 0, with
 * warn filled ("" if nothing to say: log it once at WARN); or -1 with err
 * (a path we cannot honour, or strictConfig=true and keys not used). */
int broker_config_check(const broker_config *c, char *warn, size_t warnlen, char *err, size_t errlen);
extern const cfg_flag broker_config_flags[];

#ifdef __cplusplus
}
#endif

#endif
