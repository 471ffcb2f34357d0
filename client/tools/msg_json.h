/*
 * msg_json.h - the JSON views that mqadmin and mqconsole both print
 * (msg_json.c): a received message, a queue's offsets, a topic's route.
 */
#ifndef MQ_MSG_JSON_H
#define MQ_MSG_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "mq/admin.h"
#include "mq/message.h"

/* The body as printed: text, or hex when it is not printable UTF-8, of at
 * most limit bytes (0 = all; a text cut keeps whole characters). *total is
 * the body's size. Returns a malloc'd string. */
char *msg_body_text(const mq_message_ext *m, size_t limit, bool *hex, bool *cut, size_t *total);
/* The message as one JSON object (mqadmin --json's shape), body as above. */
void msg_json_write(json_writer *w, const mq_message_ext *m, size_t limit);
/* One queue's offsets as one JSON object (topicStatus's offsetTable entry). */
void queue_offsets_json_write(json_writer *w, const mq_queue_offsets *q);
/* A broker group as RocketMQ's BrokerData:
 * {"cluster":..,"brokerName":..,"brokerAddrs":{"0":"host:port",..}}. */
void broker_data_json_write(json_writer *w, const mq_broker_info *b);
/* A route's members of RocketMQ's TopicRouteData, into the open object:
 * "orderTopicConf" (if any), "queueDatas":[..], "brokerDatas":[..]. */
void topic_route_json_write(json_writer *w, const mq_topic_route *r);

#endif
