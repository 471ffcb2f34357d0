/*
 * ticker.h - a store thread that runs one function every interval_ms until
 * stopped (store-ckpt, store-clean). Stopping wakes it at once; a round in
 * progress finishes first.
 */
#ifndef MQ_STORE_TICKER_H
#define MQ_STORE_TICKER_H

#include <pthread.h>
#include <stdbool.h>

typedef struct ticker {
    const char *name; /* thread name in the logs */
    int interval_ms;
    void (*fn)(void *arg);
    void *arg;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
} ticker;

void ticker_init(ticker *t, const char *name, int interval_ms, void (*fn)(void *arg), void *arg);
/* Returns 0, or STORE_ERR_IO if the thread cannot be created. */
int ticker_start(ticker *t);
/* Wakes and joins the thread; nothing if it is not running. */
void ticker_stop(ticker *t);
void ticker_destroy(ticker *t);

#endif
