/*
 * allocate.c - see allocate.h. Queue blocks: with q queues and c consumers,
 * each gets q / c queues and the first q % c get one more, in id order.
 */
#include "allocate.h"

#include <string.h>

void mqc_allocate_averagely(int n_queues, const char *const *ids, int n_ids, const char *me,
                            int *first, int *count)
{
    *first = 0;
    *count = 0;
    int index = -1;
    for (int i = 0; i < n_ids; i++) {
        if (!strcmp(ids[i], me)) {
            index = i;
            break;
        }
    }
    if (index < 0 || n_queues <= 0)
        return;
    int mod = n_queues % n_ids;
    int size = n_queues <= n_ids ? 1 : (mod > 0 && index < mod ? n_queues / n_ids + 1 : n_queues / n_ids);
    int start = (mod > 0 && index < mod) ? index * size : index * size + mod;
    int range = n_queues - start < size ? n_queues - start : size;
    if (range <= 0)
        return;
    *first = start;
    *count = range;
}

int mqc_queue_compare(const void *a, const void *b)
{
    const mq_message_queue *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    c = strcmp(x->broker_name, y->broker_name);
    if (c)
        return c;
    return (x->queue_id > y->queue_id) - (x->queue_id < y->queue_id);
}

int mqc_string_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
