/*
 * metrics.h - the broker's Prometheus metrics (metricsPort): traffic by
 * topic and result, latency histograms, bytes in and out, consumer lag,
 * store and connection gauges. See metrics.c and docs/OPERATIONS.md.
 */
#ifndef MQ_BROKER_METRICS_H
#define MQ_BROKER_METRICS_H

#include <stddef.h>

#include "bytes.h"

struct broker;
typedef struct broker_metrics broker_metrics;

/* Starts observing sends and pulls on b's dispatch table and serves
 * GET /metrics on port (0: any free port). Loop thread, after the
 * processors registered. Returns NULL with err if the port cannot be used. */
broker_metrics *broker_metrics_start(struct broker *b, int port, char *err, size_t errlen);
int broker_metrics_port(const broker_metrics *m);
/* Writes every metric in Prometheus text format (loop thread). */
void broker_metrics_write(broker_metrics *m, bytebuf *out);
/* Stops serving and frees (loop thread; before the dispatch table goes). NULL is ignored. */
void broker_metrics_stop(broker_metrics *m);

#endif
