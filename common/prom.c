/*
 * prom.c - Prometheus text format writer (prom.h).
 */
#include "prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const double prom_bucket_bounds[PROM_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   1.0,    10.0};

enum { LABELS_MAX = 8 };

void prom_family(bytebuf *b, const char *name, const char *type, const char *help)
{
    bytebuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(bytebuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            bytebuf_append_str(b, "\\\\");
        else if (*v == '"')
            bytebuf_append_str(b, "\\\"");
        else if (*v == '\n')
            bytebuf_append_str(b, "\\n");
        else
            bytebuf_append(b, v, 1);
    }
}

static void value_text(bytebuf *b, double v)
{
    if (isinf(v))
        bytebuf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        bytebuf_append_str(b, "NaN");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        bytebuf_printf(b, "%.0f", v);
    else
        bytebuf_printf(b, "%.9g", v);
}

/* name{k="v",...} value; keys[i] NULL ends the list early. */
static void sample(bytebuf *b, const char *name, double value, int n, const char *const *keys,
                   const char *const *vals)
{
    bytebuf_append_str(b, name);
    if (n > 0) {
        bytebuf_append_str(b, "{");
        for (int i = 0; i < n; i++) {
            bytebuf_printf(b, "%s%s=\"", i ? "," : "", keys[i]);
            label_value(b, vals[i] ? vals[i] : "");
            bytebuf_append_str(b, "\"");
        }
        bytebuf_append_str(b, "}");
    }
    bytebuf_append_str(b, " ");
    value_text(b, value);
    bytebuf_append_str(b, "\n");
}

void prom_sample(bytebuf *b, const char *name, double value, int nlabels, ...)
{
    const char *keys[LABELS_MAX], *vals[LABELS_MAX];
    va_list ap;
    va_start(ap, nlabels);
    int n = nlabels < LABELS_MAX ? nlabels : LABELS_MAX;
    for (int i = 0; i < n; i++) {
        keys[i] = va_arg(ap, const char *);
        vals[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    sample(b, name, value, n, keys, vals);
}

void prom_histogram_observe(prom_histogram *h, double seconds)
{
    int i = 0;
    while (i < PROM_BUCKETS && seconds > prom_bucket_bounds[i])
        i++;
    if (i < PROM_BUCKETS)
        h->buckets[i]++;
    h->count++;
    h->sum += seconds;
}

void prom_histogram_write(bytebuf *b, const char *name, const prom_histogram *h, const char *key, const char *value)
{
    char n_bucket[128], n_sum[128], n_count[128], le[32];
    snprintf(n_bucket, sizeof n_bucket, "%s_bucket", name);
    snprintf(n_sum, sizeof n_sum, "%s_sum", name);
    snprintf(n_count, sizeof n_count, "%s_count", name);
    const char *keys[2] = {key, "le"}, *vals[2] = {value, le};
    int first = key ? 0 : 1;
    uint64_t cum = 0;
    for (int i = 0; i <= PROM_BUCKETS; i++) {
        if (i < PROM_BUCKETS) {
            cum += h->buckets[i];
            snprintf(le, sizeof le, "%g", prom_bucket_bounds[i]);
        } else {
            cum = h->count;
            snprintf(le, sizeof le, "+Inf");
        }
        sample(b, n_bucket, (double)cum, 2 - first, keys + first, vals + first);
    }
    sample(b, n_sum, h->sum, 1 - first, keys, vals);
    sample(b, n_count, (double)h->count, 1 - first, keys, vals);
}
