/*
 * admin_internal.h - what admin.c lends the other admin_*.c files of the
 * library (admin_query.c: message lookups; admin_status.c: status and
 * maintenance; the transaction admin calls): the handle's state and the
 * checked call. Not public.
 */
#ifndef MQ_CLIENT_ADMIN_INTERNAL_H
#define MQ_CLIENT_ADMIN_INTERNAL_H

#include "addr.h"
#include "instance.h"
#include "mq/admin.h"

enum { MQ_ADMIN_MAX_NAMESRV = 32 };

struct mq_admin {
    mqc_instance *inst;
    int timeout_ms;
    char namesrv[MQ_ADMIN_MAX_NAMESRV][ADDR_TEXT_MAX];
    int namesrv_count;
};

/* Sends to a nameserver (addr NULL: any live one) or a broker with the
 * handle's timeout and checks the status: MQ_OK with *r (the caller frees
 * it), or an error in err naming `what` (MQ_EBROKER for a refusal). */
int admin_call(mq_admin *a, const char *addr, Mq__RemotingHeader *h, const void *body, size_t len, const char *what,
               mqc_response *r, mq_error *err);

/* Decodes an answer's body as d and frees the answer: the message, or NULL
 * with err (MQ_ENETWORK) naming `what`. */
ProtobufCMessage *admin_unpack(const ProtobufCMessageDescriptor *d, mqc_response *r, const char *what, mq_error *err);

#endif
