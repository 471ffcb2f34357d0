/*
 * processors.h - one registration function per processor file. broker_init
 * calls each; a new processor (processor_send.c, processor_pull.c, ...)
 * adds its line here and one call in broker.c. Each binds its request codes
 * to handlers on b->dispatch; handlers run on the loop thread with the
 * broker as their argument.
 */
#ifndef MQ_PROCESSORS_H
#define MQ_PROCESSORS_H

#include "broker.h"

void processor_admin_register(broker *b);

#endif
