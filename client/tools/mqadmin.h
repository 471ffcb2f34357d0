/*
 * mqadmin.h - what every mqadmin command file shares: parsed arguments,
 * the command table entry, and helpers for flags, errors, tables and JSON.
 *
 * Adding a command: write `int cmd_xxx(const mqadmin_args *a)` in a
 * cmd_<group>.c file, declare it below, and add one line to the table in
 * mqadmin.c (name, its option table, summary, function). The option table
 * lists every flag with its value name, meaning and default; main parses
 * argv with it (and prints -h from it), so a command reads a->flags['t']
 * (or a->flags[MQADMIN_OPT_TAGS]) and never sees argv.
 *
 * Exit codes: 0 success; 1 the operation failed (nameserver unreachable,
 * topic missing, broker refused...); 2 usage errors and commands not
 * implemented yet. Every failure prints one line "mqadmin: ..." on stderr.
 * Results go to stdout: aligned tables for people, or with --json one JSON
 * document (RocketMQ's shapes, written with common/json.h).
 */
#ifndef MQ_MQADMIN_H
#define MQ_MQADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bytes.h"
#include "json.h"
#include "mq/admin.h"

/* Keys of flags that have only a long name (--json, --tags...): codes
 * below ' ', so they index mqadmin_args.flags next to the letters. */
enum {
    MQADMIN_OPT_JSON = 1,
    MQADMIN_OPT_TAGS,
    MQADMIN_OPT_COMMIT,
    MQADMIN_OPT_DELAY_LEVEL,
    MQADMIN_OPT_DELIVER_TIME,
    MQADMIN_OPT_DELAY_MS,
};

typedef struct mqadmin_args {
    const char *command;
    const char *flags[128]; /* by key: value of -x / --name, "" for a switch, NULL if absent */
    bool json;              /* --json */
} mqadmin_args;

typedef int (*mqadmin_fn)(const mqadmin_args *a);

/* One flag of a command. The table drives parsing, `-h`, `mqadmin help
 * COMMAND` and the unknown-flag message, so they cannot drift apart. */
typedef struct mqadmin_opt {
    int key;               /* the letter ('t' for -t), or MQADMIN_OPT_* for a long-only flag; 0 ends */
    const char *long_name; /* "tags" for --tags; NULL: the flag is -<key> */
    const char *arg;       /* value placeholder shown in help ("TOPIC"); NULL: a switch */
    const char *help;      /* meaning; "(required)" in it marks a required flag */
    const char *def;       /* default shown in help, NULL: none */
} mqadmin_opt;

typedef struct mqadmin_command {
    const char *name;
    const mqadmin_opt *opts; /* flags accepted (main parses them) */
    const char *summary;
    mqadmin_fn run;
} mqadmin_command;

enum { MQADMIN_OK = 0, MQADMIN_FAILED = 1, MQADMIN_USAGE = 2 };

/* ---- commands (one file per group) ---- */
int cmd_cluster_list(const mqadmin_args *a);   /* cmd_cluster.c */
int cmd_broker_status(const mqadmin_args *a);  /* cmd_broker.c */
int cmd_topic_list(const mqadmin_args *a);     /* cmd_topic.c */
int cmd_topic_route(const mqadmin_args *a);
int cmd_update_topic(const mqadmin_args *a);
int cmd_delete_topic(const mqadmin_args *a);
int cmd_update_sub_group(const mqadmin_args *a); /* cmd_group.c */
int cmd_topic_status(const mqadmin_args *a);       /* cmd_offset.c */
int cmd_consumer_progress(const mqadmin_args *a);
int cmd_reset_offset_by_time(const mqadmin_args *a);
int cmd_send_message(const mqadmin_args *a);    /* cmd_message.c */
int cmd_consume_message(const mqadmin_args *a);
int cmd_query_dlq_msg(const mqadmin_args *a);   /* cmd_dlq.c */
int cmd_resend_dlq(const mqadmin_args *a);
int cmd_query_transaction(const mqadmin_args *a);   /* cmd_transaction.c */
int cmd_resolve_transaction(const mqadmin_args *a);
int cmd_query_msg_by_id(const mqadmin_args *a); /* cmd_query.c */
int cmd_query_msg_by_unique_key(const mqadmin_args *a);
int cmd_query_msg_by_key(const mqadmin_args *a);
int cmd_query_msg_by_offset(const mqadmin_args *a);
int cmd_print_msg(const mqadmin_args *a);
int cmd_consumer_connection(const mqadmin_args *a); /* cmd_status.c */
int cmd_producer_connection(const mqadmin_args *a);
int cmd_consumer_progress_all(const mqadmin_args *a);
int cmd_wipe_write_perm(const mqadmin_args *a);
int cmd_add_write_perm(const mqadmin_args *a);
int cmd_get_broker_config(const mqadmin_args *a);
int cmd_delete_sub_group(const mqadmin_args *a);
int cmd_update_broker_config(const mqadmin_args *a);
int cmd_ha_promote(const mqadmin_args *a); /* cmd_ha.c */

/* ---- helpers (mqadmin.c) ---- */

/* Prints "mqadmin: <message>" and returns MQADMIN_FAILED. */
int mqadmin_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "mqadmin <command>: <message>" plus a hint and returns MQADMIN_USAGE. */
int mqadmin_usage(const mqadmin_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The nameserver list in use: -n, else NAMESRV_ADDR (for messages). */
const char *mqadmin_namesrv(const mqadmin_args *a);
/* Prints what failed and why (err->message), returns MQADMIN_FAILED. */
int mqadmin_fail_err(const char *what, const mq_error *err);
/* After an update on one broker (-b) or on every master of a cluster (-c,
 * the library's *_in_cluster): prints "create <what> to ADDR success." for
 * each broker done (text mode) and, if st is not MQ_OK, what failed.
 * done lists the brokers a cluster update reached (NULL after -b, then
 * broker counts when st is MQ_OK). Returns the exit code (0 or
 * MQADMIN_FAILED). */
int mqadmin_report_updates(const mqadmin_args *a, const char *what, const char *broker,
                           const mq_string_list *done, int st, const mq_error *err);

/* Opens the admin handle for -n (or NAMESRV_ADDR). On failure prints why
 * and returns non-zero (the exit code). */
int mqadmin_open(const mqadmin_args *a, mq_admin **out);

/* The value of a flag that must be present; NULL after printing a usage error. */
const char *mqadmin_required(const mqadmin_args *a, char letter, const char *what);
/* The preamble of most verbs: the required flag's value, then the admin
 * handle. NULL with *rc the exit code (usage or connection failure). */
const char *mqadmin_open_for(const mqadmin_args *a, char letter, const char *what, mq_admin **admin,
                             int *rc);
/* Integer flag in [min, max] (default def when absent). Returns 0, or
 * MQADMIN_USAGE after printing why. */
int mqadmin_int_flag(const mqadmin_args *a, char letter, int64_t min, int64_t max, int64_t def, int64_t *out);
/* Boolean flag ("true"/"false"...; default def). Returns 0 or MQADMIN_USAGE. */
int mqadmin_bool_flag(const mqadmin_args *a, char letter, bool def, bool *out);

/* A time flag as RocketMQ's mqadmin takes it: "now", milliseconds since
 * the epoch, or local time "yyyy-MM-dd#HH:mm:ss:SSS" (":SSS" optional).
 * Returns 0, or MQADMIN_USAGE after printing why. */
int mqadmin_time_flag(const mqadmin_args *a, char letter, int64_t *out_ms);
/* Formats epoch milliseconds as local "yyyy-MM-dd HH:mm:ss,SSS" ("-" for 0). */
const char *mqadmin_time_text(int64_t ms, char buf[32]);

/* "RW-" style text of a perm value. */
const char *mqadmin_perm_text(int32_t perm, char buf[4]);

/* A text table: columns aligned to the widest cell. */
typedef struct mqadmin_table {
    int ncols;
    size_t nrows, cap;
    char **cells; /* nrows * ncols, header row first */
} mqadmin_table;

void mqadmin_table_init(mqadmin_table *t, int ncols, ...); /* ncols header strings */
void mqadmin_table_row(mqadmin_table *t, ...);            /* ncols printf'd strings: pass plain char* */
void mqadmin_table_print(const mqadmin_table *t, FILE *out);
void mqadmin_table_free(mqadmin_table *t);

/* Writes a finished JSON document (pretty) to stdout and frees the buffer. */
int mqadmin_json_print(json_writer *w, bytebuf *buf);
/* Starts a pretty JSON document that is one object; mqadmin_json_object_done
 * closes it, prints it and frees the buffer. */
void mqadmin_json_object_start(json_writer *w, bytebuf *buf);
int mqadmin_json_object_done(json_writer *w, bytebuf *buf);

#endif
