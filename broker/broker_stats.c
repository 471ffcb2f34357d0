/*
 * broker_stats.c - per-second rates of the broker's counters
 * (broker_context.h): a 1 s timer on the loop thread copies each rate
 * counter into a 60-slot ring; broker_rate subtracts two slots. Messages
 * put come from the store's own count (store_get_stats), the rest from
 * broker_stats. Loop thread only.
 */
#include "broker_context.h"

#include "store/store.h"

static void sample(broker *b, uint64_t out[BROKER_RATE_COUNTERS])
{
    uint64_t put = 0;
    if (b->store) {
        store_stats ss;
        store_get_stats(b->store, &ss);
        put = (uint64_t)ss.put_msgs;
    }
    out[BROKER_RATE_PUT_MSGS] = put;
    out[BROKER_RATE_GET_MSGS] = b->stats.get_msgs;
    out[BROKER_RATE_GET_FOUND] = b->stats.get_found;
    out[BROKER_RATE_GET_MISS] = b->stats.get_miss;
}

static void on_rate_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    broker *b = w->data;
    broker_rates *r = &b->rates;
    sample(b, r->samples[r->next]);
    r->next = (r->next + 1) % BROKER_RATE_WINDOW;
    if (r->filled < BROKER_RATE_WINDOW)
        r->filled++;
}

void broker_rates_start(broker *b)
{
    ev_timer_init(&b->rates.timer, on_rate_tick, 1.0, 1.0);
    b->rates.timer.data = b;
    ev_timer_start(b->loop, &b->rates.timer);
}

void broker_rates_stop(broker *b)
{
    if (b->loop)
        ev_timer_stop(b->loop, &b->rates.timer);
}

double broker_rate(const broker *b, broker_rate_counter counter, int seconds)
{
    const broker_rates *r = &b->rates;
    if (r->filled < 2)
        return 0;
    if (seconds >= r->filled)
        seconds = r->filled - 1;
    if (seconds < 1)
        seconds = 1;
    int newest = (r->next + BROKER_RATE_WINDOW - 1) % BROKER_RATE_WINDOW;
    int oldest = (newest + BROKER_RATE_WINDOW - seconds) % BROKER_RATE_WINDOW;
    return (double)(r->samples[newest][counter] - r->samples[oldest][counter]) / seconds;
}
