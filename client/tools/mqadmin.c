/*
 * mqadmin.c - the operations tool: the command table with one option
 * table per command (each flag's value name, meaning and default), the one
 * argument parser, help (`mqadmin VERB -h`, `mqadmin help VERB`), the one
 * unknown-flag message, --version, and the helpers the command files share
 * (mqadmin.h). Subcommands and flags follow RocketMQ's mqadmin (-n
 * nameservers, -t topic, -g group, -c cluster, -b broker, -i message id or
 * queue id, -k key, -s timestamp); flags of ours have long names (--json,
 * --tags, --commit).
 *
 * The tool itself keeps no state beyond one call: it parses, runs one
 * command with the admin API (mq/admin.h), prints, and exits. The client
 * library's own log lines are silenced (MQADMIN_LOG=info brings them back)
 * so stdout and stderr carry only results and the one-line error.
 */
#define _GNU_SOURCE /* strptime */
#include "mqadmin.h"

#include <ctype.h>
#include <stdarg.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Flags every command shares. */
#define OPT_N {'n', NULL, "NAMESRV", "nameservers, 'host:port;host:port'", "$NAMESRV_ADDR"}
#define OPT_JSON {MQADMIN_OPT_JSON, "json", NULL, "print JSON instead of a table", NULL}
#define OPT_END {0, NULL, NULL, NULL, NULL}
#define OPT_BODY_BYTES {'l', NULL, "BODY_BYTES", "print at most this many body bytes (0: all)", "4096"}

static const mqadmin_opt o_cluster_list[] = {OPT_N, OPT_JSON, OPT_END};
static const mqadmin_opt o_topic_list[] = {
    OPT_N, {'c', NULL, "CLUSTER", "only topics of this cluster", "every cluster"}, OPT_JSON, OPT_END};
static const mqadmin_opt o_topic_route[] = {OPT_N, {'t', NULL, "TOPIC", "topic (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_update_topic[] = {
    OPT_N,
    {'c', NULL, "CLUSTER", "create on every master of this cluster (or give -b)", NULL},
    {'b', NULL, "BROKER_ADDR", "create on this broker only, ip:port (or give -c)", NULL},
    {'t', NULL, "TOPIC", "topic (required)", NULL},
    {'r', NULL, "READ", "read queues", "8"},
    {'w', NULL, "WRITE", "write queues", "8"},
    {'p', NULL, "PERM", "permission: 2 write, 4 read, 6 both", "6"},
    {'o', NULL, "ORDER", "true: an ordered topic", "false"},
    OPT_JSON, OPT_END};
static const mqadmin_opt o_delete_topic[] = {
    OPT_N, {'c', NULL, "CLUSTER", "cluster to delete it from (required)", NULL},
    {'t', NULL, "TOPIC", "topic (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_update_sub_group[] = {
    OPT_N,
    {'c', NULL, "CLUSTER", "create on every master of this cluster (or give -b)", NULL},
    {'b', NULL, "BROKER_ADDR", "create on this broker only, ip:port (or give -c)", NULL},
    {'g', NULL, "GROUP", "consumer group (required)", NULL},
    {'s', NULL, "BOOL", "consumeEnable: the group may consume", "true"},
    {'m', NULL, "BOOL", "consumeFromMinEnable", "true"},
    {'d', NULL, "BOOL", "consumeBroadcastEnable", "true"},
    {'q', NULL, "N", "retryQueueNums", "1"},
    {'r', NULL, "N", "retryMaxTimes (-1: no retry)", "16"},
    {'i', NULL, "ID", "brokerId to consume from", "0"},
    {'w', NULL, "ID", "whichBrokerWhenConsumeSlowly", "1"},
    {'a', NULL, "BOOL", "notifyConsumerIdsChangedEnable", "true"},
    OPT_JSON, OPT_END};
static const mqadmin_opt o_broker_status[] = {
    OPT_N, {'b', NULL, "BROKER_ADDR", "one broker, ip:port (or give -c)", NULL},
    {'c', NULL, "CLUSTER", "every broker of this cluster (or give -b)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_consumer_progress[] = {
    OPT_N, {'g', NULL, "GROUP", "consumer group; without it, every group's total lag", NULL},
    {'t', NULL, "TOPIC", "only this topic of the group", "every topic"}, OPT_JSON, OPT_END};
static const mqadmin_opt o_consumer_connection[] = {
    OPT_N, {'g', NULL, "GROUP", "consumer group (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_producer_connection[] = {
    OPT_N, {'g', NULL, "GROUP", "producer group (required)", NULL},
    {'t', NULL, "TOPIC", "topic whose brokers are asked (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_delete_sub_group[] = {
    OPT_N, {'b', NULL, "BROKER_ADDR", "one broker, ip:port (or give -c)", NULL},
    {'c', NULL, "CLUSTER", "every master of this cluster (or give -b)", NULL},
    {'g', NULL, "GROUP", "consumer group (required)", NULL},
    {'r', NULL, "BOOL", "also delete the group's offsets", "false"}, OPT_JSON, OPT_END};
static const mqadmin_opt o_update_broker_config[] = {
    OPT_N, {'b', NULL, "BROKER_ADDR", "one broker, ip:port (or give -c)", NULL},
    {'c', NULL, "CLUSTER", "every broker of this cluster (or give -b)", NULL},
    {'k', NULL, "KEY", "configuration key (required)", NULL},
    {'v', NULL, "VALUE", "new value (required)", NULL}, OPT_END};
static const mqadmin_opt o_get_broker_config[] = {
    OPT_N, {'b', NULL, "BROKER_ADDR", "broker, ip:port (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_write_perm[] = {
    OPT_N, {'b', NULL, "BROKER_NAME", "broker name, e.g. broker-a (required)", NULL}, OPT_END};
static const mqadmin_opt o_query_msg_by_id[] = {
    OPT_N, {'i', NULL, "MSGID", "offset message id, or unique id with -t (required)", NULL},
    {'t', NULL, "TOPIC", "topic, needed to look up a unique id", NULL}, OPT_BODY_BYTES, OPT_JSON, OPT_END};
static const mqadmin_opt o_query_msg_by_unique_key[] = {
    OPT_N, {'i', NULL, "UNIQUE_ID", "the id the producer got (required)", NULL},
    {'t', NULL, "TOPIC", "topic (required)", NULL}, OPT_BODY_BYTES, OPT_JSON, OPT_END};
static const mqadmin_opt o_query_msg_by_key[] = {
    OPT_N, {'t', NULL, "TOPIC", "topic (required)", NULL}, {'k', NULL, "KEY", "message key (required)", NULL},
    {'b', NULL, "BEGIN", "earliest store time: now, ms or yyyy-MM-dd#HH:mm:ss:SSS", "0"},
    {'e', NULL, "END", "latest store time, same forms", "no limit"},
    {'m', NULL, "MAX", "messages per broker, 1..64", "64"}, OPT_BODY_BYTES, OPT_JSON, OPT_END};
static const mqadmin_opt o_query_msg_by_offset[] = {
    OPT_N, {'t', NULL, "TOPIC", "topic (required)", NULL},
    {'b', NULL, "BROKER_NAME", "broker name (required)", NULL}, {'i', NULL, "QUEUE", "queue id (required)", NULL},
    {'o', NULL, "OFFSET", "queue offset (required)", NULL}, OPT_BODY_BYTES, OPT_JSON, OPT_END};
static const mqadmin_opt o_reset_offset[] = {
    OPT_N, {'g', NULL, "GROUP", "consumer group (required)", NULL}, {'t', NULL, "TOPIC", "topic (required)", NULL},
    {'s', NULL, "TIMESTAMP", "move every queue to this time: now, ms or yyyy-MM-dd#HH:mm:ss:SSS", NULL},
    {'f', NULL, "BOOL", "also move offsets forward (false: only back)", "true"},
    {'b', NULL, "BROKER_NAME", "move one queue to -o instead (with -q)", NULL},
    {'q', NULL, "QUEUE", "queue id, with -b", NULL}, {'o', NULL, "OFFSET", "new offset, with -b and -q", NULL},
    OPT_JSON, OPT_END};
static const mqadmin_opt o_send_message[] = {
    OPT_N, {'t', NULL, "TOPIC", "topic (required)", NULL}, {'p', NULL, "BODY", "message body (required)", NULL},
    {'k', NULL, "KEYS", "keys, space separated", NULL}, {'c', NULL, "TAGS", "tag", NULL},
    {'b', NULL, "BROKER_NAME", "send to this broker's queue -i", NULL},
    {'i', NULL, "QUEUE_ID", "queue id, with -b", NULL},
    {MQADMIN_OPT_DELAY_LEVEL, "delayLevel", "N", "deliver after the broker's delay level N", NULL},
    {MQADMIN_OPT_DELIVER_TIME, "deliverTime", "EPOCH_MS", "deliver at this epoch millisecond", NULL},
    {MQADMIN_OPT_DELAY_MS, "delayMs", "MS", "deliver this many ms after it is stored", NULL},
    OPT_JSON, OPT_END};
static const mqadmin_opt o_consume_message[] = {
    OPT_N, {'t', NULL, "TOPIC", "topic (required)", NULL},
    {'c', NULL, "COUNT", "print at most this many messages", "128"},
    {'b', NULL, "BROKER_NAME", "only this broker's queue -i", NULL},
    {'i', NULL, "QUEUE_ID", "queue id, with -b", NULL},
    {'o', NULL, "OFFSET", "start offset in queue -b/-i", NULL},
    {'s', NULL, "BEGIN", "start at the first message stored at or after: now, ms or yyyy-MM-dd#HH:mm:ss:SSS", NULL},
    {'e', NULL, "END", "stop before messages stored after this time, same forms",
     "each queue's end when the command starts"},
    {'g', NULL, "GROUP", "group: start where it would consume next (no -o/-s)", "TOOLS_CONSUMER"},
    {MQADMIN_OPT_TAGS, "tags", "EXPR", "only messages with these tags, 'TagA || TagB'", "*"},
    {MQADMIN_OPT_COMMIT, "commit", NULL, "commit -g's offsets past the printed messages", "off: offsets stay"},
    OPT_JSON, OPT_END};
static const mqadmin_opt o_query_dlq_msg[] = {
    OPT_N, {'g', NULL, "GROUP", "consumer group (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_resend_dlq[] = {
    OPT_N, {'g', NULL, "GROUP", "consumer group (required)", NULL},
    {'i', NULL, "MSGID", "only this dead letter", "all not resent yet"}, OPT_JSON, OPT_END};
static const mqadmin_opt o_query_transaction[] = {
    OPT_N, {'b', NULL, "BROKER_ADDR", "one broker, ip:port (or give -c)", NULL},
    {'c', NULL, "CLUSTER", "every master of this cluster (or give -b)", NULL},
    {'g', NULL, "PRODUCER_GROUP", "only this producer group", "every group"},
    {'p', NULL, NULL, "parked half messages (after the maximum checks)", "pending ones"},
    {'m', NULL, "MAX", "at most this many, 1..10000", "100"}, OPT_JSON, OPT_END};
static const mqadmin_opt o_resolve_transaction[] = {
    OPT_N, {'b', NULL, "BROKER_ADDR", "broker holding it, ip:port (required)", NULL},
    {'i', NULL, "MSGID", "offset id of the half message (required)", NULL},
    {'a', NULL, "ACTION", "commit or rollback (required)", NULL}, OPT_JSON, OPT_END};
static const mqadmin_opt o_print_msg[] = {
    OPT_N, {'t', NULL, "TOPIC", "topic (required)", NULL},
    {'b', NULL, "BEGIN", "earliest store time: now, ms or yyyy-MM-dd#HH:mm:ss:SSS", "0"},
    {'e', NULL, "END", "latest store time, same forms", "no limit"},
    {'a', NULL, "BROKER_NAME", "only this broker", "every broker"},
    {'i', NULL, "QUEUE", "only this queue, with -a", "every queue"},
    {'o', NULL, "FROM", "first queue offset, with -a and -i", "min offset"},
    {'x', NULL, "TO", "last queue offset (exclusive), with -a and -i", "max offset"},
    {'s', NULL, "TAGS", "only messages with these tags", "*"},
    {'m', NULL, "MAX", "at most this many messages (0: all)", "0"}, OPT_BODY_BYTES, OPT_JSON, OPT_END};
static const mqadmin_opt o_ha_promote[] = {
    OPT_N, {'b', NULL, "BROKER_NAME", "the broker group whose slave becomes master (required)", NULL},
    {'c', NULL, "CLUSTER", "its cluster", "any"},
    {'s', NULL, "SLAVE_ADDR", "promote this slave, ip:port", "the slave with the highest CommitLog offset"},
    {'r', NULL, "ROLE", "role of the new master: ASYNC_MASTER or SYNC_MASTER", "ASYNC_MASTER"},
    {'t', NULL, "MS", "how long to wait for a catch-up and for the new master", "15000"}, OPT_JSON, OPT_END};

static const mqadmin_command commands[] = {
    {"clusterList", o_cluster_list, "list clusters and their brokers", cmd_cluster_list},
    {"topicList", o_topic_list, "list topic names", cmd_topic_list},
    {"topicRoute", o_topic_route, "show the route of a topic", cmd_topic_route},
    {"topicStatus", o_topic_route, "min/max offset and last update of every queue", cmd_topic_status},
    {"updateTopic", o_update_topic, "create or update a topic", cmd_update_topic},
    {"deleteTopic", o_delete_topic, "delete a topic from brokers and nameservers", cmd_delete_topic},
    {"updateSubGroup", o_update_sub_group, "create or update a consumer group", cmd_update_sub_group},
    {"brokerStatus", o_broker_status, "runtime statistics of a broker", cmd_broker_status},
    {"consumerProgress", o_consumer_progress,
     "per-queue broker offset, consumer offset and lag of a group; without -g every group's total lag",
     cmd_consumer_progress},
    {"consumerConnection", o_consumer_connection, "live members of a consumer group, subscriptions, mode",
     cmd_consumer_connection},
    {"producerConnection", o_producer_connection, "producers of a group connected to the brokers of a topic",
     cmd_producer_connection},
    {"deleteSubGroup", o_delete_sub_group, "delete a consumer group from brokers", cmd_delete_sub_group},
    {"updateBrokerConfig", o_update_broker_config,
     "change a broker key that needs no restart (brokerPermission, autoCreateTopicEnable, ...)",
     cmd_update_broker_config},
    {"getBrokerConfig", o_get_broker_config, "a broker's configuration", cmd_get_broker_config},
    {"wipeWritePerm", o_write_perm, "stop routing sends to a broker (pulls continue), on every nameserver",
     cmd_wipe_write_perm},
    {"addWritePerm", o_write_perm, "route sends to a broker again after wipeWritePerm", cmd_add_write_perm},
    {"queryMsgById", o_query_msg_by_id, "print a message by offset id, or by unique id (needs -t)",
     cmd_query_msg_by_id},
    {"queryMsgByUniqueKey", o_query_msg_by_unique_key, "print a message by the id its producer got",
     cmd_query_msg_by_unique_key},
    {"queryMsgByKey", o_query_msg_by_key, "messages with a key, from every broker of the topic",
     cmd_query_msg_by_key},
    {"queryMsgByOffset", o_query_msg_by_offset, "a message by queue offset", cmd_query_msg_by_offset},
    {"resetOffsetByTime", o_reset_offset,
     "move a group's offsets to a time, or one queue to an offset, online or not", cmd_reset_offset_by_time},
    {"sendMessage", o_send_message, "send one message", cmd_send_message},
    {"consumeMessage", o_consume_message,
     "print messages of a topic (RocketMQ's pull semantics); commits nothing unless --commit", cmd_consume_message},
    {"queryDlqMsg", o_query_dlq_msg,
     "list a group's dead letters: id, original topic, reconsume count, failure time, resent or not",
     cmd_query_dlq_msg},
    {"resendDlq", o_resend_dlq, "send dead letters back to their original topic: one (-i) or all not resent yet",
     cmd_resend_dlq},
    {"queryTransaction", o_query_transaction,
     "half messages waiting for a decision (-p: parked after the maximum checks), with age and checks",
     cmd_query_transaction},
    {"resolveTransaction", o_resolve_transaction, "commit or roll back a pending or parked half message by hand",
     cmd_resolve_transaction},
    {"haPromote", o_ha_promote,
     "make a slave the master of its group with a new epoch; the old master is fenced and rejoins as a slave",
     cmd_ha_promote},
    {"printMsg", o_print_msg,
     "print the messages of a topic over a time range, or of one queue over an offset range", cmd_print_msg},
};

/* "-t TOPIC" or "--max N" (or "--json") into buf. */
static const char *opt_name(const mqadmin_opt *o, char *buf, size_t cap)
{
    if (o->long_name)
        snprintf(buf, cap, "--%s%s%s", o->long_name, o->arg ? " " : "", o->arg ? o->arg : "");
    else
        snprintf(buf, cap, "-%c%s%s", o->key, o->arg ? " " : "", o->arg ? o->arg : "");
    return buf;
}

/* One line: the command's flags, required ones bare, the rest in brackets. */
static void synopsis(const mqadmin_command *c, FILE *out)
{
    char b[64];
    fprintf(out, "mqadmin %s", c->name);
    for (const mqadmin_opt *o = c->opts; o->key; o++) {
        bool req = o->help && strstr(o->help, "(required)");
        fprintf(out, req ? " %s" : " [%s]", opt_name(o, b, sizeof b));
    }
    fputc('\n', out);
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: mqadmin COMMAND [FLAGS]\n       mqadmin help COMMAND\n\n"
                 "mqadmin %s - operate mq nameservers and brokers.\n\nCommands:\n",
            mq_version());
    for (size_t i = 0; i < MQ_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nCommon flags: -n 'host:port;host:port' nameservers (or NAMESRV_ADDR), --json, -h.\n"
                 "'mqadmin COMMAND -h' lists a command's flags with their meaning and default.\n"
                 "Exit status: 0 success, 1 the operation failed, 2 bad usage.\n");
}

static void command_usage(const mqadmin_command *c, FILE *out)
{
    fputs("Usage: ", out);
    synopsis(c, out);
    fprintf(out, "\n%s\n\nFlags:\n", c->summary);
    char b[64];
    for (const mqadmin_opt *o = c->opts; o->key; o++) {
        fprintf(out, "  %-24s %s", opt_name(o, b, sizeof b), o->help);
        if (o->def)
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
    fprintf(out, "  %-24s %s\n", "-h, --help", "print this help");
}

static const mqadmin_command *find_command(const char *name)
{
    for (size_t i = 0; i < MQ_ARRAY_LEN(commands); i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* ---- helpers ---- */

int mqadmin_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mqadmin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return MQADMIN_FAILED;
}

int mqadmin_usage(const mqadmin_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mqadmin %s: ", a->command);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see mqadmin %s -h)\n", a->command);
    va_end(ap);
    return MQADMIN_USAGE;
}

const char *mqadmin_namesrv(const mqadmin_args *a)
{
    const char *ns = a->flags['n'];
    if (!ns || !*ns)
        ns = getenv("NAMESRV_ADDR");
    return ns && *ns ? ns : "(none)";
}

int mqadmin_fail_err(const char *what, const mq_error *err)
{
    if (err->code == MQ_EBROKER && err->status == 3) /* REQUEST_CODE_NOT_SUPPORTED */
        return mqadmin_fail("%s: the server does not know this request; is that a broker port rather than a "
                            "nameserver's (default 9876)?", err->message);
    if (err->code == MQ_ENETWORK || err->code == MQ_ETIMEOUT)
        return mqadmin_fail("%s: cannot reach the server: %s", what, err->message);
    if (err->code == MQ_EBROKER || err->code == MQ_ENOROUTE) /* the message names the request */
        return mqadmin_fail("%s", err->message);
    return mqadmin_fail("%s: %s", what, err->message);
}

int mqadmin_report_updates(const mqadmin_args *a, const char *what, const char *broker,
                           const mq_string_list *done, int st, const mq_error *err)
{
    if (!a->json) {
        if (done)
            for (size_t i = 0; i < done->n; i++)
                printf("create %s to %s success.\n", what, done->items[i]);
        else if (st == MQ_OK)
            printf("create %s to %s success.\n", what, broker);
    }
    if (st == MQ_OK)
        return 0;
    char failed[96];
    snprintf(failed, sizeof failed, "update %s", what);
    return mqadmin_fail_err(failed, err);
}

int mqadmin_open(const mqadmin_args *a, mq_admin **out)
{
    mq_error err = {0};
    const char *ns = a->flags['n'];
    if (mq_admin_new(ns, 0, out, &err) != MQ_OK) {
        if (err.code == MQ_EINVAL)
            return mqadmin_usage(a, "%s", err.message);
        return mqadmin_fail("%s", err.message);
    }
    return 0;
}

const char *mqadmin_required(const mqadmin_args *a, char letter, const char *what)
{
    const char *v = a->flags[(unsigned char)letter];
    if (!v || !*v) {
        mqadmin_usage(a, "-%c %s is required", letter, what);
        return NULL;
    }
    return v;
}

const char *mqadmin_open_for(const mqadmin_args *a, char letter, const char *what, mq_admin **admin,
                             int *rc)
{
    const char *v = mqadmin_required(a, letter, what);
    if (!v) {
        *rc = MQADMIN_USAGE;
        return NULL;
    }
    *rc = mqadmin_open(a, admin);
    return *rc == 0 ? v : NULL;
}

int mqadmin_int_flag(const mqadmin_args *a, char letter, int64_t min, int64_t max, int64_t def, int64_t *out)
{
    const char *v = a->flags[(unsigned char)letter];
    if (!v) {
        *out = def;
        return 0;
    }
    if (parse_int64(v, min, max, out) != 0)
        return mqadmin_usage(a, "-%c '%s' is not a number between %lld and %lld", letter, v, (long long)min,
                             (long long)max);
    return 0;
}

int mqadmin_bool_flag(const mqadmin_args *a, char letter, bool def, bool *out)
{
    const char *v = a->flags[(unsigned char)letter];
    if (!v) {
        *out = def;
        return 0;
    }
    if (parse_bool(v, out) != 0)
        return mqadmin_usage(a, "-%c '%s' is not true or false", letter, v);
    return 0;
}

int mqadmin_time_flag(const mqadmin_args *a, char letter, int64_t *out_ms)
{
    const char *v = a->flags[(unsigned char)letter];
    if (!v || !*v)
        return mqadmin_usage(a, "-%c TIMESTAMP is required", letter);
    if (!strcmp(v, "now")) {
        *out_ms = now_ms();
        return 0;
    }
    int64_t ms;
    if (parse_int64(v, -1, INT64_MAX, &ms) == 0) {
        *out_ms = ms;
        return 0;
    }
    struct tm tm = {0};
    int millis = 0;
    const char *end = strptime(v, "%Y-%m-%d#%H:%M:%S", &tm);
    if (end && *end == ':' && isdigit((unsigned char)end[1])) {
        millis = atoi(end + 1);
        end += strlen(end);
    }
    if (!end || *end) {
        return mqadmin_usage(a, "-%c '%s': expected now, milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS", letter, v);
    }
    tm.tm_isdst = -1;
    *out_ms = (int64_t)mktime(&tm) * 1000 + millis;
    return 0;
}

const char *mqadmin_time_text(int64_t ms, char buf[32])
{
    if (ms <= 0)
        return "-";
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ",%03d", (int)(ms % 1000));
    return buf;
}

const char *mqadmin_perm_text(int32_t perm, char buf[4])
{
    buf[0] = (perm & 4) ? 'R' : '-';
    buf[1] = (perm & 2) ? 'W' : '-';
    buf[2] = (perm & 1) ? 'X' : '-';
    buf[3] = '\0';
    return buf;
}

void mqadmin_table_init(mqadmin_table *t, int ncols, ...)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    va_list ap;
    va_start(ap, ncols);
    t->cap = 16;
    t->cells = xcalloc(t->cap * (size_t)ncols, sizeof *t->cells);
    for (int i = 0; i < ncols; i++)
        t->cells[i] = xstrdup(va_arg(ap, const char *));
    t->nrows = 1;
    va_end(ap);
}

void mqadmin_table_row(mqadmin_table *t, ...)
{
    if (t->nrows == t->cap) {
        t->cap *= 2;
        t->cells = xrealloc(t->cells, t->cap * (size_t)t->ncols * sizeof *t->cells);
    }
    va_list ap;
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++) {
        const char *v = va_arg(ap, const char *);
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = xstrdup(v ? v : "");
    }
    t->nrows++;
    va_end(ap);
}

void mqadmin_table_print(const mqadmin_table *t, FILE *out)
{
    size_t width[32] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols && c < 32; c++) {
            size_t n = strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (n > width[c])
                width[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (c == t->ncols - 1)
                fprintf(out, "%s\n", cell);
            else
                fprintf(out, "%-*s  ", (int)width[c < 32 ? c : 31], cell);
        }
    }
}

void mqadmin_table_free(mqadmin_table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
}

void mqadmin_json_object_start(json_writer *w, bytebuf *buf)
{
    bytebuf_init(buf);
    json_writer_init(w, buf, true);
    json_object_begin(w);
}

int mqadmin_json_object_done(json_writer *w, bytebuf *buf)
{
    json_object_end(w);
    return mqadmin_json_print(w, buf);
}

int mqadmin_json_print(json_writer *w, bytebuf *buf)
{
    int rc = json_writer_finish(w);
    if (rc == 0)
        fwrite(buf->data, 1, buf->len, stdout);
    bytebuf_free(buf);
    return rc == 0 ? MQADMIN_OK : mqadmin_fail("internal error writing JSON");
}

/* ---- argument parsing ---- */

/* Fills a from argv[2..] according to c's option table: "-x VALUE",
 * "--name VALUE", "--name=VALUE", switches without value. Returns 0, 1 for
 * "help was printed", or MQADMIN_USAGE after one line naming the flag. */
static int parse_args(const mqadmin_command *c, int argc, char **argv, mqadmin_args *a)
{
    memset(a, 0, sizeof *a);
    a->command = c->name;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            command_usage(c, stdout);
            return 1;
        }
        const mqadmin_opt *opt = NULL;
        const char *inline_value = NULL;
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *eq = strchr(arg + 2, '=');
            size_t n = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
            for (const mqadmin_opt *o = c->opts; o->key && !opt; o++)
                if (o->long_name && strlen(o->long_name) == n && !strncmp(o->long_name, arg + 2, n))
                    opt = o;
            inline_value = eq ? eq + 1 : NULL;
        } else if (arg[0] == '-' && arg[1] && !arg[2]) {
            for (const mqadmin_opt *o = c->opts; o->key && !opt; o++)
                if (!o->long_name && o->key == (unsigned char)arg[1])
                    opt = o;
        } else {
            return mqadmin_usage(a, "unexpected argument '%s'", arg);
        }
        if (!opt)
            return mqadmin_usage(a, "unknown flag '%s'", arg);
        const char *value = "";
        if (opt->arg) {
            if (inline_value)
                value = inline_value;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return mqadmin_usage(a, "flag '%s' needs a value (%s)", arg, opt->arg);
        } else if (inline_value) {
            return mqadmin_usage(a, "flag '--%s' takes no value", opt->long_name);
        }
        if (opt->key == MQADMIN_OPT_JSON)
            a->json = true;
        a->flags[opt->key] = value;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *lvl = getenv("MQADMIN_LOG");
    log_level level = LOG_OFF;
    if (!lvl || log_level_parse(lvl, &level) != 0)
        level = LOG_OFF;
    mq_log_set_level((mq_log_level)level);

    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("mqadmin %s\n", mq_version());
        return MQADMIN_OK;
    }
    if (argc >= 3 && !strcmp(argv[1], "help")) {
        const mqadmin_command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "mqadmin: unknown command '%s' (see mqadmin --help)\n", argv[2]);
            return MQADMIN_USAGE;
        }
        command_usage(c, stdout);
        return MQADMIN_OK;
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? MQADMIN_USAGE : MQADMIN_OK;
    }
    const mqadmin_command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "mqadmin: unknown command '%s' (see mqadmin --help)\n", argv[1]);
        return MQADMIN_USAGE;
    }
    mqadmin_args a;
    int rc = parse_args(c, argc, argv, &a);
    if (rc == 1)
        return MQADMIN_OK;
    if (rc != 0)
        return rc;
    return c->run(&a);
}
