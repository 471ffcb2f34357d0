/*
 * mqadmin.c - the operations tool. Subcommands and flags follow RocketMQ's
 * mqadmin (-n nameservers, -t topic, -g group, -c cluster, -b broker address,
 * -i message id, -k key, -s timestamp); --json prints machine-readable output.
 *
 * This first version knows the command table and prints help; each command
 * is implemented with the client library's admin calls as they arrive, and
 * until then exits with status 2 saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_message.h"
#include "log.h"
#include "mq/mq.h"

typedef struct admin_command {
    const char *name;
    const char *flags;
    const char *summary;
} admin_command;

static const admin_command commands[] = {
    {"clusterList", "-n NAMESRV [--json]", "list clusters and their brokers"},
    {"topicList", "-n NAMESRV [-c CLUSTER] [--json]", "list topic names"},
    {"topicRoute", "-n NAMESRV -t TOPIC [--json]", "show the route of a topic"},
    {"topicStatus", "-n NAMESRV -t TOPIC [--json]", "min/max offset and last update of every queue"},
    {"updateTopic", "-n NAMESRV (-c CLUSTER | -b BROKER) -t TOPIC [-r READ] [-w WRITE] [-p PERM] [-o ORDER]", "create or update a topic"},
    {"deleteTopic", "-n NAMESRV -c CLUSTER -t TOPIC", "delete a topic from brokers and nameservers"},
    {"updateSubGroup", "-n NAMESRV (-c CLUSTER | -b BROKER) -g GROUP [-r RETRY_MAX] [-q RETRY_QUEUES]", "create or update a consumer group"},
    {"brokerStatus", "-n NAMESRV -b BROKER [--json]", "runtime statistics of a broker"},
    {"consumerProgress", "-n NAMESRV -g GROUP [-t TOPIC] [--json]", "per-queue broker offset, consumer offset and lag"},
    {"queryMsgById", "-n NAMESRV -i MSGID", "print a message by offset or unique id"},
    {"queryMsgByKey", "-n NAMESRV -t TOPIC -k KEY [-b BEGIN] [-e END]", "messages with a key"},
    {"queryMsgByOffset", "-n NAMESRV -t TOPIC -b BROKER_NAME -i QUEUE -o OFFSET", "a message by queue offset"},
    {"resetOffsetByTime", "-n NAMESRV -g GROUP -t TOPIC -s TIMESTAMP", "rewind or forward a group to a time"},
    {"sendMessage", "-n NAMESRV -t TOPIC -p BODY [-k KEYS] [-c TAGS] [-b BROKER_NAME -i QUEUE_ID] [--json]", "send one message"},
    {"consumeMessage", "-n NAMESRV -t TOPIC -g GROUP [-c TAGS] [-o OFFSET | -s TIMESTAMP] [--max N] [--idle S] [--json]", "consume and print messages"},
    {"printMsg", "-n NAMESRV -t TOPIC [-b BEGIN] [-e END]", "print the messages of a topic"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: mqadmin COMMAND [FLAGS]\n\nmqadmin %s - operate mq nameservers and brokers.\n\nCommands:\n",
            mq_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-18s %s\n  %-18s   %s\n", commands[i].name, commands[i].summary, "",
                commands[i].flags);
    fprintf(out, "\nCommon flags: -n 'host:port;host:port' nameservers (or NAMESRV_ADDR), --json, -h.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    /* The client library's log lines stay off unless MQADMIN_LOG=info etc. */
    log_level level = LOG_OFF;
    const char *lvl = getenv("MQADMIN_LOG");
    if (!lvl || log_level_parse(lvl, &level) != 0)
        level = LOG_OFF;
    log_set_level(level);
    if (!strcmp(argv[1], "sendMessage"))
        return cmd_send_message_main(argc, argv);
    if (!strcmp(argv[1], "consumeMessage"))
        return cmd_consume_message_main(argc, argv);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            fprintf(stderr, "mqadmin: %s is not implemented yet\n", argv[1]);
            return 2;
        }
    }
    fprintf(stderr, "mqadmin: unknown command '%s' (see mqadmin --help)\n", argv[1]);
    return 1;
}
