/*
 * cmd_message.h - mqadmin's message commands, built on the public client
 * API only (mq/producer.h, mq/consumer.h):
 *
 *   mqadmin sendMessage -n NS -t TOPIC -p BODY [-k KEYS] [-c TAGS]
 *                       [-b BROKER_NAME -i QUEUE_ID] [--json]
 *   mqadmin consumeMessage -n NS -t TOPIC -g GROUP [-c TAGS]
 *                       [-o OFFSET | -s TIMESTAMP] [--max N] [--idle S] [--json]
 *
 * Each takes the whole command line (argv[1] is the command name) because
 * consumeMessage has long flags (--max, --idle). Exit status: 0 success, 1
 * the operation failed (message on stderr), 2 bad usage.
 */
#ifndef MQ_CMD_MESSAGE_H
#define MQ_CMD_MESSAGE_H

int cmd_send_message_main(int argc, char **argv);
int cmd_consume_message_main(int argc, char **argv);

#endif
