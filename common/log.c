/*
 * log.c - formats a line into a stack buffer and writes it with one write(2).
 *
 * The level and the output fd are process-wide atomics; the thread name is
 * thread-local. Nothing here allocates, so logging is safe from any thread.
 */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_level = LOG_INFO;
static atomic_int g_fd = 2;
static _Thread_local char t_name[16] = "main";

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

static atomic_bool g_level_set;
static _Atomic(log_sink_fn) g_sink;
static void *_Atomic g_sink_arg;

void log_set_level(log_level level)
{
    atomic_store(&g_level_set, true);
    atomic_store(&g_level, (int)level);
}

void log_set_default_level(log_level level)
{
    if (!atomic_load(&g_level_set))
        atomic_store(&g_level, (int)level);
}

void log_set_sink(log_sink_fn fn, void *arg)
{
    atomic_store(&g_sink_arg, arg);
    atomic_store(&g_sink, fn);
}

log_level log_get_level(void) { return (log_level)atomic_load_explicit(&g_level, memory_order_relaxed); }

int log_level_parse(const char *name, log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int old = atomic_exchange(&g_fd, fd);
    if (old > 2)
        close(old);
    return 0;
}

void log_set_thread_name(const char *name)
{
    snprintf(t_name, sizeof t_name, "%s", name);
    pthread_setname_np(pthread_self(), t_name);
}

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d %s [%s] %s:%d ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000),
                     level_names[level < LOG_ERROR ? level : LOG_ERROR], t_name, base, line);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof buf - 2)
        len = sizeof buf - 2; /* truncated line */
    log_sink_fn sink = atomic_load(&g_sink);
    if (sink) {
        buf[len] = '\0';
        sink(level, buf, atomic_load(&g_sink_arg));
        return;
    }
    buf[len++] = '\n';
    ssize_t w = write(atomic_load(&g_fd), buf, len);
    (void)w;
}

/* ---- rate-limited lines ---------------------------------------------------- */

static atomic_int g_repeat_ms = 10000;

void log_set_repeat_interval(int ms)
{
    if (ms > 0)
        atomic_store(&g_repeat_ms, ms);
}

int log_get_repeat_interval(void) { return atomic_load(&g_repeat_ms); }

static int64_t log_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int log_limiter_pass(log_limiter *l, int burst, int64_t *suppressed, int64_t *since_ms)
{
    if (burst < 1)
        burst = 1;
    if (burst > LOG_LIMIT_BURST_MAX)
        burst = LOG_LIMIT_BURST_MAX;
    int64_t now = log_mono_ms();
    int64_t st = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
    /* The interval's end and its line count change together (one CAS):
     * the first caller after the end opens a new interval, the first
     * `burst` callers in it write, the others count a drop. */
    for (;;) {
        int64_t end = st >> 8, lines = st & 0xff, next;
        if (end == 0 || now >= end)
            next = ((now + atomic_load(&g_repeat_ms)) << 8) | 1;
        else if (lines < burst)
            next = st + 1;
        else {
            __atomic_fetch_add(&l->suppressed, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (__atomic_compare_exchange_n(&l->state, &st, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    *suppressed = __atomic_exchange_n(&l->suppressed, 0, __ATOMIC_ACQ_REL);
    int64_t last = __atomic_exchange_n(&l->last_ms, now, __ATOMIC_ACQ_REL);
    *since_ms = last ? now - last : 0;
    return 1;
}

void log_vwrite_limited(log_limiter *l, int burst, log_level level, const char *file, int line,
                        const char *fmt, va_list ap)
{
    int64_t dropped, since;
    if (!log_limiter_pass(l, burst, &dropped, &since))
        return;
    char msg[1800];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    if (m < 0)
        msg[0] = '\0';
    if (dropped > 0)
        log_write(level, file, line, "%s (%lld similar lines suppressed in the last %.1f s)", msg,
                  (long long)dropped, (double)since / 1000.0);
    else
        log_write(level, file, line, "%s", msg);
}

void log_write_limited(log_limiter *l, int burst, log_level level, const char *file, int line,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite_limited(l, burst, level, file, line, fmt, ap);
    va_end(ap);
}
