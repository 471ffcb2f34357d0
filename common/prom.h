/*
 * prom.h - writing Prometheus text exposition format (version 0.0.4), for
 * the servers' /metrics: metric families (# HELP / # TYPE), samples with
 * escaped label values, and fixed-bucket latency histograms.
 *
 * Pure functions over a bytebuf plus a histogram that one thread updates
 * (the caller's loop); no registry: each server writes its metrics from
 * its own state when scraped, so nothing is kept twice.
 */
#ifndef MQ_PROM_H
#define MQ_PROM_H

#include <stdint.h>

#include "bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "# HELP name help\n# TYPE name type\n"; type is counter, gauge or histogram. */
void prom_family(bytebuf *b, const char *name, const char *type, const char *help);
/* One sample: name{k1="v1",...} value. nlabels pairs of (const char *key,
 * const char *value) follow; values are escaped. */
void prom_sample(bytebuf *b, const char *name, double value, int nlabels, ...);

/* Latency buckets in seconds: 100us .. 10s (the +Inf bucket is implied). */
enum { PROM_BUCKETS = 12 };
extern const double prom_bucket_bounds[PROM_BUCKETS];

typedef struct prom_histogram {
    uint64_t buckets[PROM_BUCKETS]; /* not cumulative: observations <= bound[i] and > bound[i-1] */
    uint64_t count;
    double sum;
} prom_histogram;

void prom_histogram_observe(prom_histogram *h, double seconds);
/* name_bucket{labels,le=".."} (cumulative), name_sum, name_count; one label
 * pair (key, value) or key NULL for none. */
void prom_histogram_write(bytebuf *b, const char *name, const prom_histogram *h, const char *key, const char *value);

#ifdef __cplusplus
}
#endif

#endif
