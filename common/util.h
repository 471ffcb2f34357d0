/*
 * util.h - small helpers every component uses: clocks, checked allocation,
 * string copies, and decimal parsing with range checks.
 *
 * Clocks: wall time (now_ms) is what RocketMQ stores in records and what
 * users give for "rewind to this millisecond"; monotonic time (mono_ms,
 * mono_us) is for timeouts and latency, immune to clock steps.
 */
#ifndef MQ_UTIL_H
#define MQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MQ_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Wall-clock milliseconds since the epoch. */
int64_t now_ms(void);
/* Monotonic clock in milliseconds / microseconds / nanoseconds. */
int64_t mono_ms(void);
/* Monotonic milliseconds from the coarse clock: a few ms of resolution but
 * far cheaper to read (no timestamp counter); for per-message deadlines and
 * timeouts on hot paths, never for measuring short intervals. */
int64_t mono_ms_coarse(void);
int64_t mono_us(void);
int64_t mono_ns(void);

/* Allocation that aborts on out-of-memory: the process cannot keep its
 * promises without memory, and every caller checking NULL is noise. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Copies src into dst of size cap, always NUL-terminated; returns false if
 * src did not fit (dst then holds a truncated copy). */
bool str_copy(char *dst, size_t cap, const char *src);

/* Strict decimal parsing: whole string, no trailing junk, in [min, max].
 * Return 0 on success, -1 otherwise (out untouched). */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
int parse_int32(const char *s, int32_t min, int32_t max, int32_t *out);
/* "true"/"false" (any case), "1"/"0", "yes"/"no". */
int parse_bool(const char *s, bool *out);

/* Trims leading and trailing white space in place; returns s. */
char *str_trim(char *s);

/* True if path names root/name, as text (trailing slashes ignored):
 * "/s/commitlog/" is /s's "commitlog". */
bool path_is_child(const char *path, const char *root, const char *name);

/* Sleeps for ms milliseconds (tests and back-off only). */
void sleep_ms(int64_t ms);

#ifdef __cplusplus
}
#endif

#endif
