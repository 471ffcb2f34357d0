/*
 * processors.h - one entry point per processor file. broker_init calls each
 * *_register once (after the store and tables exist) to create its state
 * and claim its request codes; broker_stop/destroy call the matching
 * *_unregister in reverse order. Adding a processor is one line here and
 * one in broker.c.
 */
#ifndef MQ_BROKER_PROCESSORS_H
#define MQ_BROKER_PROCESSORS_H

#include "broker_context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* processor_admin.c: topics, groups, broker runtime info and config */
void processor_admin_register(broker *b);

/* processor_client.c: heartbeats, membership, queue locks */
void processor_client_register(broker *b);
void processor_client_conn_closed(broker *b, rm_conn *c);
void processor_client_unregister(broker *b);

/* processor_send.c: SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE */
void processor_send_register(broker *b);
void processor_send_unregister(broker *b);

/* processor_send_back.c: CONSUMER_SEND_MSG_BACK (retry topic, dead-letter queue) */
void processor_send_back_register(broker *b);
void processor_send_back_unregister(broker *b);

/* processor_pull.c: PULL_MESSAGE with long polling */
void processor_pull_register(broker *b);
void processor_pull_unregister(broker *b);

/* processor_offset.c: consumer offsets, min/max/search offsets, consume stats */
void processor_offset_register(broker *b);
void processor_offset_unregister(broker *b);

/* processor_query.c: VIEW_MESSAGE_BY_ID, QUERY_MESSAGE */
void processor_query_register(broker *b);

/* processor_transaction.c: END_TRANSACTION, QUERY_TRANSACTION, RESOLVE_TRANSACTION */
void processor_transaction_register(broker *b);

/* processor_config.c: UPDATE_BROKER_CONFIG (keys that can change at run time). */
void processor_config_register(broker *b);

#ifdef __cplusplus
}
#endif

#endif
