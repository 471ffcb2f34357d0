/*
 * mqadmin.c - the operations tool: the command table, argument parsing,
 * help, and the helpers the command files share (mqadmin.h). Subcommands
 * and flags follow RocketMQ's mqadmin (-n nameservers, -t topic, -g group,
 * -c cluster, -b broker address, -i message id, -k key, -s timestamp);
 * --json prints machine-readable output.
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

static const mqadmin_command commands[] = {
    {"clusterList", "n:", "-n NAMESRV [--json]", "list clusters and their brokers", cmd_cluster_list},
    {"topicList", "n:c:", "-n NAMESRV [-c CLUSTER] [--json]", "list topic names", cmd_topic_list},
    {"topicRoute", "n:t:", "-n NAMESRV -t TOPIC [--json]", "show the route of a topic", cmd_topic_route},
    {"topicStatus", "n:t:", "-n NAMESRV -t TOPIC [--json]", "min/max offset and last update of every queue", cmd_topic_status},
    {"updateTopic", "n:c:b:t:r:w:p:o:", "-n NAMESRV (-c CLUSTER | -b BROKER) -t TOPIC [-r READ] [-w WRITE] [-p PERM] [-o ORDER] [--json]",
     "create or update a topic", cmd_update_topic},
    {"deleteTopic", "n:c:t:", "-n NAMESRV -c CLUSTER -t TOPIC [--json]", "delete a topic from brokers and nameservers", cmd_delete_topic},
    {"updateSubGroup", "n:c:b:g:s:m:d:q:r:i:w:a:",
     "-n NAMESRV (-c CLUSTER | -b BROKER) -g GROUP [-s CONSUME_ENABLE] [-m FROM_MIN] [-d BROADCAST] [-q RETRY_QUEUES] [-r RETRY_MAX] [-i BROKER_ID] [-w SLOW_BROKER_ID] [-a NOTIFY] [--json]",
     "create or update a consumer group", cmd_update_sub_group},
    {"brokerStatus", "n:b:c:", "-n NAMESRV (-b BROKER | -c CLUSTER) [--json]", "runtime statistics of a broker", cmd_broker_status},
    {"consumerProgress", "n:g:t:", "-n NAMESRV [-g GROUP [-t TOPIC]] [--json]",
     "per-queue broker offset, consumer offset and lag of a group; without -g every group's total lag", cmd_consumer_progress},
    {"consumerConnection", "n:g:", "-n NAMESRV -g GROUP [--json]", "live members of a consumer group, subscriptions, mode",
     cmd_consumer_connection},
    {"producerConnection", "n:g:t:", "-n NAMESRV -g GROUP -t TOPIC [--json]",
     "producers of a group connected to the brokers of a topic", cmd_producer_connection},
    {"deleteSubGroup", "n:b:c:g:r:", "-n NAMESRV (-b BROKER | -c CLUSTER) -g GROUP [-r CLEAN_OFFSETS]",
     "delete a consumer group from brokers", cmd_delete_sub_group},
    {"updateBrokerConfig", "n:b:c:k:v:", "-n NAMESRV (-b BROKER_ADDR | -c CLUSTER) -k KEY -v VALUE",
     "change a broker key that needs no restart (brokerPermission, autoCreateTopicEnable, ...)", cmd_update_broker_config},
    {"getBrokerConfig", "n:b:", "-n NAMESRV -b BROKER_ADDR [--json]", "a broker's configuration", cmd_get_broker_config},
    {"wipeWritePerm", "n:b:", "-n NAMESRV -b BROKER_NAME", "stop routing sends to a broker (pulls continue), on every nameserver",
     cmd_wipe_write_perm},
    {"addWritePerm", "n:b:", "-n NAMESRV -b BROKER_NAME", "route sends to a broker again after wipeWritePerm",
     cmd_add_write_perm},
    {"queryMsgById", "n:i:t:l:", "-n NAMESRV -i MSGID [-t TOPIC] [-l BODY_BYTES] [--json]",
     "print a message by offset id, or by unique id (needs -t)", cmd_query_msg_by_id},
    {"queryMsgByUniqueKey", "n:i:t:l:", "-n NAMESRV -i UNIQUE_ID -t TOPIC [-l BODY_BYTES] [--json]",
     "print a message by the id its producer got", cmd_query_msg_by_unique_key},
    {"queryMsgByKey", "n:t:k:b:e:m:l:", "-n NAMESRV -t TOPIC -k KEY [-b BEGIN] [-e END] [-m MAX_PER_BROKER] [-l BODY_BYTES] [--json]",
     "messages with a key, from every broker of the topic", cmd_query_msg_by_key},
    {"queryMsgByOffset", "n:t:b:i:o:l:", "-n NAMESRV -t TOPIC -b BROKER_NAME -i QUEUE -o OFFSET [-l BODY_BYTES] [--json]",
     "a message by queue offset", cmd_query_msg_by_offset},
    {"resetOffsetByTime", "n:g:t:s:f:b:q:o:",
     "-n NAMESRV -g GROUP -t TOPIC (-s TIMESTAMP [-f FORCE] | -b BROKER_NAME -q QUEUE -o OFFSET) [--json]",
     "move a group's offsets to a time (now, ms or yyyy-MM-dd#HH:mm:ss:SSS) or one queue to an offset, online or not",
     cmd_reset_offset_by_time},
    {"sendMessage", NULL, "-n NAMESRV -t TOPIC -p BODY [-k KEYS] [-c TAGS] [-b BROKER_NAME -i QUEUE_ID] [--json]",
     "send one message", cmd_send_message},
    {"consumeMessage", NULL, "-n NAMESRV -t TOPIC -g GROUP [-c TAGS] [-o OFFSET | -s TIMESTAMP] [--max N] [--idle S] [--json]",
     "consume as a member of GROUP and print messages", cmd_consume_message},
    {"queryDlqMsg", "n:g:", "-n NAMESRV -g GROUP [--json]",
     "list a group's dead letters: id, original topic, reconsume count, failure time, resent or not", cmd_query_dlq_msg},
    {"resendDlq", "n:g:i:", "-n NAMESRV -g GROUP [-i MSGID] [--json]",
     "send dead letters back to their original topic: one (-i) or all not resent yet", cmd_resend_dlq},
    {"queryTransaction", "n:b:c:g:pm:", "-n NAMESRV (-b BROKER | -c CLUSTER) [-g PRODUCER_GROUP] [-p] [-m MAX] [--json]",
     "half messages waiting for a decision (-p: parked after the maximum checks), with age and checks", cmd_query_transaction},
    {"resolveTransaction", "n:b:i:a:", "-n NAMESRV -b BROKER -i MSGID -a commit|rollback [--json]",
     "commit or roll back a pending or parked half message by hand", cmd_resolve_transaction},
    {"printMsg", "n:t:b:e:a:i:o:x:s:m:l:",
     "-n NAMESRV -t TOPIC [-b BEGIN] [-e END] [-a BROKER_NAME [-i QUEUE [-o FROM] [-x TO]]] [-s TAGS] [-m MAX] [-l BODY_BYTES] [--json]",
     "print the messages of a topic over a time range, or of one queue over an offset range", cmd_print_msg},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: mqadmin COMMAND [FLAGS]\n\nmqadmin %s - operate mq nameservers and brokers.\n\nCommands:\n",
            mq_version());
    for (size_t i = 0; i < MQ_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-18s %s%s\n  %-18s   %s\n", commands[i].name, commands[i].summary,
                commands[i].run ? "" : " (not implemented yet)", "", commands[i].usage);
    fprintf(out, "\nCommon flags: -n 'host:port;host:port' nameservers (or NAMESRV_ADDR), --json, -h.\n"
                 "Exit status: 0 success, 1 the operation failed, 2 bad usage.\n");
}

static void command_usage(const mqadmin_command *c, FILE *out)
{
    fprintf(out, "Usage: mqadmin %s %s\n  %s\n", c->name, c->usage, c->summary);
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

int mqadmin_fail_err(const char *what, const mq_error *err)
{
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

void mqadmin_json_broker(json_writer *w, const mq_broker_info *b)
{
    json_object_begin(w);
    json_kv_string(w, "cluster", b->cluster);
    json_kv_string(w, "brokerName", b->broker_name);
    json_key(w, "brokerAddrs");
    json_object_begin(w);
    for (size_t i = 0; i < b->n_addrs; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)b->addrs[i].id);
        json_kv_string(w, id, b->addrs[i].addr);
    }
    json_object_end(w);
    json_object_end(w);
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

/* Fills a from argv[2..] according to c's flag string. Returns 0, 1 for
 * "help was printed", or MQADMIN_USAGE. */
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
        if (!strcmp(arg, "--json")) {
            a->json = true;
            continue;
        }
        if (arg[0] != '-' || !arg[1] || arg[2]) {
            fprintf(stderr, "mqadmin %s: unexpected argument '%s'\n", c->name, arg);
            command_usage(c, stderr);
            return MQADMIN_USAGE;
        }
        unsigned char letter = (unsigned char)arg[1];
        const char *spec = letter < 128 && letter != ':' ? strchr(c->flag_spec, letter) : NULL;
        if (!spec) {
            fprintf(stderr, "mqadmin %s: unknown flag '%s'\n", c->name, arg);
            command_usage(c, stderr);
            return MQADMIN_USAGE;
        }
        if (spec[1] == ':') {
            if (i + 1 >= argc) {
                fprintf(stderr, "mqadmin %s: flag %s needs a value\n", c->name, arg);
                return MQADMIN_USAGE;
            }
            a->flags[letter] = argv[++i];
        } else {
            a->flags[letter] = "";
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *lvl = getenv("MQADMIN_LOG");
    log_level level = LOG_OFF;
    if (!lvl || log_level_parse(lvl, &level) != 0)
        level = LOG_OFF;
    log_set_level(level);

    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? MQADMIN_USAGE : MQADMIN_OK;
    }
    for (size_t i = 0; i < MQ_ARRAY_LEN(commands); i++) {
        const mqadmin_command *c = &commands[i];
        if (strcmp(argv[1], c->name) != 0)
            continue;
        if (!c->run) {
            fprintf(stderr, "mqadmin: %s is not implemented yet\n", c->name);
            return MQADMIN_USAGE;
        }
        mqadmin_args a;
        if (!c->flag_spec) { /* parses its own flags */
            memset(&a, 0, sizeof a);
            a.command = c->name;
            a.argc = argc;
            a.argv = argv;
            return c->run(&a);
        }
        int rc = parse_args(c, argc, argv, &a);
        if (rc == 1)
            return MQADMIN_OK;
        if (rc != 0)
            return rc;
        return c->run(&a);
    }
    fprintf(stderr, "mqadmin: unknown command '%s' (see mqadmin --help)\n", argv[1]);
    return MQADMIN_USAGE;
}
