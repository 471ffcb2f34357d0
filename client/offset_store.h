/*
 * offset_store.h - a BROADCASTING consumer's offsets in a local JSON file
 * (see offset_store.c), and the text key of a queue used by the push
 * consumer's tables and by the file. Internal to libmqclient.
 */
#ifndef MQ_CLIENT_OFFSET_STORE_H
#define MQ_CLIENT_OFFSET_STORE_H

#include <stddef.h>

#include "hashmap.h"
#include "mq/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a local offsets file into map (key -> malloc'd int64_t). A missing
 * file is an empty map; an unreadable or malformed one is MQ_EINVAL. */
int mqc_local_offsets_load(const char *path, strmap *map, mq_error *err);
/* Writes map atomically (temporary file + rename), creating directories. */
int mqc_local_offsets_save(const char *path, const strmap *map, mq_error *err);
/* Frees the values and empties map. */
void mqc_local_offsets_free(strmap *map);
/* "topic\x01broker\x01queueId". */
void mqc_queue_key(const mq_message_queue *mq, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
