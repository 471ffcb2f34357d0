/*
 * mqbench_tx.h - `mqbench tx`: transactional messages at chosen outcome
 * ratios, consumed and checked against what was decided (mqbench_tx.c).
 */
#ifndef MQBENCH_TX_H
#define MQBENCH_TX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mqbench_tx_opts {
    const char *namesrv;
    const char *topic;
    int size;              /* body bytes (>= 24: run id and sequence number) */
    int threads;           /* sending threads */
    double duration;       /* seconds of sending (0: until count or a signal) */
    int64_t count;         /* transactions to send (0: unlimited) */
    double rollback_ratio; /* share of transactions execute rolls back */
    double unknown_ratio;  /* share execute leaves UNKNOWN: check-back decides, half commit */
    double wait;           /* seconds to wait after sending for check-backs and deliveries */
    bool json;
    atomic_bool *stop;     /* set by a signal */
} mqbench_tx_opts;

/* Runs the mode; returns the process exit code (0 only without mismatches,
 * with every transaction resolved and no failed send). */
int mqbench_tx_run(const mqbench_tx_opts *o);

#endif
