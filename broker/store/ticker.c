/*
 * ticker.c - see ticker.h.
 */
#include "ticker.h"

#include <time.h>

#include "log.h"
#include "store.h"

void ticker_init(ticker *t, const char *name, int interval_ms, void (*fn)(void *arg), void *arg)
{
    t->name = name;
    t->interval_ms = interval_ms;
    t->fn = fn;
    t->arg = arg;
    t->running = false;
    t->stop = false;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
}

static void *ticker_main(void *arg)
{
    ticker *t = arg;
    log_set_thread_name(t->name);
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += t->interval_ms / 1000;
        ts.tv_nsec += (long)(t->interval_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&t->cond, &t->mu, &ts);
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->mu);
        t->fn(t->arg);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int ticker_start(ticker *t)
{
    t->stop = false;
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0)
        return STORE_ERR_IO;
    t->running = true;
    return 0;
}

void ticker_stop(ticker *t)
{
    if (!t->running)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    t->running = false;
}

void ticker_destroy(ticker *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cond);
}
