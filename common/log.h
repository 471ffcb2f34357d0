/*
 * log.h - the one logger of every process (nameserver, broker, tools, client).
 *
 * A line is "2026-11-21 11:39:00.123 INFO  [thread] file.c:42 message".
 * Lines go to stderr unless log_open_file() names a file. Every line is
 * written with a single write(2), so lines from different threads never
 * interleave. The hot path (per message) must not log: log at connection,
 * file, or service granularity.
 */
#ifndef MQ_LOG_H
#define MQ_LOG_H

#include <stdarg.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
    LOG_OFF = 4,
} log_level;

/* Sets the minimum level written (default LOG_INFO). */
void log_set_level(log_level level);
log_level log_get_level(void);

/* Sets the level only if log_set_level was never called: a library's
 * default that an application's explicit choice overrides. */
void log_set_default_level(log_level level);

/* Sends each line to fn (line without newline, NUL-terminated) instead of
 * the fd; fn NULL restores the fd. For embedders (libmqclient's
 * mq_log_set_callback). */
typedef void (*log_sink_fn)(log_level level, const char *line, void *arg);
void log_set_sink(log_sink_fn fn, void *arg);

/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int log_level_parse(const char *name, log_level *out);

/* Appends to the file at path (created if missing). Returns 0 or -errno. */
int log_open_file(const char *path);

/* Names the calling thread in log lines (also sets the OS thread name). */
void log_set_thread_name(const char *name);

void log_write(log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_AT(lvl, ...)                                          \
    do {                                                          \
        if ((lvl) >= log_get_level())                             \
            log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);    \
    } while (0)

#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

/* ---- rate-limited lines ----------------------------------------------------
 * For errors that can repeat per request (a full disk refusing every send, a
 * hostile peer): a call site written with log_*_limited writes at most one
 * line per interval (log_set_repeat_interval, default 10 s). The lines it
 * drops in between are counted, and the next line it writes ends with
 * "(N similar lines suppressed in the last S s)". Each call site has its own
 * limiter (a static in the macro); lock-free, no allocation, any thread.
 * Dropped lines are reported with the next line of the same site, so a flood
 * that stops leaves its last count unreported.
 * A limiter may also let a burst of lines through per interval (the first
 * `burst` lines of an interval are written, the rest counted): remoting's
 * connection lines use 10, so a handful of peers closing at once are all
 * named. The interval starts at its first written line. */
typedef struct log_limiter {
    int64_t state;      /* (interval end, monotonic ms) << 8 | lines written in it (atomic) */
    int64_t suppressed; /* lines dropped since the last one written (atomic) */
    int64_t last_ms;    /* when the last line was written (atomic) */
} log_limiter;

#define LOG_LIMIT_BURST_MAX 255

/* Interval of a limiter, in ms (> 0; default 10000). */
void log_set_repeat_interval(int ms);
int log_get_repeat_interval(void);

/* True if the site may write now (one of the first `burst` lines of its
 * interval, 1 <= burst <= LOG_LIMIT_BURST_MAX); then *suppressed is the
 * number of lines it dropped since its last one and *since_ms the time
 * since that line. */
int log_limiter_pass(log_limiter *l, int burst, int64_t *suppressed, int64_t *since_ms);

void log_write_limited(log_limiter *l, int burst, log_level level, const char *file, int line,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void log_vwrite_limited(log_limiter *l, int burst, log_level level, const char *file, int line,
                        const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

#define LOG_LIMITED_AT(lvl, ...)                                               \
    do {                                                                       \
        static log_limiter log_site_limiter_;                                  \
        if ((lvl) >= log_get_level())                                          \
            log_write_limited(&log_site_limiter_, 1, (lvl), __FILE__, __LINE__,\
                              __VA_ARGS__);                                    \
    } while (0)

#define log_info_limited(...) LOG_LIMITED_AT(LOG_INFO, __VA_ARGS__)
#define log_warn_limited(...) LOG_LIMITED_AT(LOG_WARN, __VA_ARGS__)
#define log_error_limited(...) LOG_LIMITED_AT(LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
