/*
 * queue_select.c - see queue_select.h. The fault table is shared by every
 * thread that sends with one producer (and its I/O thread, for async
 * retries); one mutex guards it, taken once per selection.
 */
#include "queue_select.h"

#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "util.h"

typedef struct fault_item {
    int64_t latency_ms;
    int64_t available_at_ms;
} fault_item;

void mqc_fault_table_init(mqc_fault_table *t, int64_t max_isolation_ms)
{
    pthread_mutex_init(&t->lock, NULL);
    strmap_init(&t->items);
    t->max_isolation_ms = max_isolation_ms;
}

void mqc_fault_table_free(mqc_fault_table *t)
{
    void *v;
    for (size_t it = 0; strmap_next(&t->items, &it, NULL, &v);)
        free(v);
    strmap_free(&t->items);
    pthread_mutex_destroy(&t->lock);
}

int64_t mqc_fault_duration(int64_t latency_ms, int64_t max_isolation_ms)
{
    static const int64_t latency_steps[] = {50, 100, 550, 1000, 2000, 3000, 15000};
    static const int64_t durations[] = {0, 0, 30000, 60000, 120000, 180000, 600000};
    int64_t d = 0;
    for (int i = (int)MQ_ARRAY_LEN(latency_steps) - 1; i >= 0; i--) {
        if (latency_ms >= latency_steps[i]) {
            d = durations[i];
            break;
        }
    }
    return d < max_isolation_ms ? d : max_isolation_ms;
}

void mqc_fault_update(mqc_fault_table *t, const char *broker, int64_t latency_ms, bool isolation,
                      int64_t now_ms)
{
    int64_t d = isolation ? t->max_isolation_ms : mqc_fault_duration(latency_ms, t->max_isolation_ms);
    pthread_mutex_lock(&t->lock);
    fault_item *f = strmap_get(&t->items, broker);
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f) {
            pthread_mutex_unlock(&t->lock);
            return;
        }
        strmap_put(&t->items, broker, f);
    }
    f->latency_ms = isolation ? INT64_MAX : latency_ms;
    f->available_at_ms = now_ms + d;
    pthread_mutex_unlock(&t->lock);
}

static bool available_locked(mqc_fault_table *t, const char *broker, int64_t now_ms)
{
    fault_item *f = strmap_get(&t->items, broker);
    return !f || now_ms >= f->available_at_ms;
}

bool mqc_fault_available(mqc_fault_table *t, const char *broker, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    bool ok = available_locked(t, broker, now_ms);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

int mqc_select_queue(const mqc_pub_queue *qs, int n, uint32_t start, const char *avoid_broker,
                     mqc_fault_table *ft, int64_t now_ms)
{
    int other = -1;
    if (ft)
        pthread_mutex_lock(&ft->lock);
    for (int i = 0; i < n; i++) {
        int pos = (int)((start + (uint32_t)i) % (uint32_t)n);
        bool same = avoid_broker && !strcmp(qs[pos].broker_name, avoid_broker);
        if (same)
            continue;
        if (!ft || available_locked(ft, qs[pos].broker_name, now_ms)) {
            if (ft)
                pthread_mutex_unlock(&ft->lock);
            return pos;
        }
        if (other < 0)
            other = pos;
    }
    if (ft)
        pthread_mutex_unlock(&ft->lock);
    return other >= 0 ? other : (int)(start % (uint32_t)n);
}

int mqc_select_by_key(const char *key, int n)
{
    int32_t h = msg_java_hash(key, strlen(key));
    int v = (int)(h % n); /* C and Java agree: the sign follows the dividend */
    return v < 0 ? -v : v;
}
