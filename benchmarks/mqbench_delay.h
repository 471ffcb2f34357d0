/*
 * mqbench_delay.h - the `mqbench delay` mode (mqbench_delay.c): lateness of
 * scheduled delivery. mqbench.c parses the flags and calls mqbench_delay.
 */
#ifndef MQBENCH_DELAY_H
#define MQBENCH_DELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct delay_opts {
    const char *namesrv;
    const char *topic;
    const char *group;       /* NULL = a fresh one */
    int size;                /* body bytes (>= 21) */
    int threads;             /* sender threads */
    double rate;             /* msgs/s in total (1000) */
    double duration;         /* seconds of sending (10) */
    int64_t max_delay_ms;    /* exact-time delays uniform in 1..max (3000) */
    const char *level_spec;  /* the broker's messageDelayLevel ("1s 5s 10s ...") */
    int levels;              /* use levels 1..levels (2) */
    int64_t pending;         /* park this many far-future messages first (0) */
    int64_t pending_delay_ms;/* ... due this far ahead (3600000) */
    int64_t burst;           /* then send this many due at one instant (0) */
    int64_t burst_lead_ms;   /* ... that instant this far after the burst starts (30000) */
    bool json;
    atomic_bool *stop;       /* set by a signal */
} delay_opts;

/* Clocks shared with mqbench.c: wall-clock and monotonic microseconds. */
int64_t wall_us(void);
int64_t mono_now_us(void);

/* Runs the mode; returns the process exit status (3 if anything was early). */
int mqbench_delay(const delay_opts *o);

#endif
