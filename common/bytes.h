/*
 * bytes.h - big-endian loads and stores (RocketMQ's wire and disk formats are
 * big-endian throughout) and a growable byte buffer.
 *
 * The load/store helpers work on unaligned pointers. A bytebuf owns its
 * memory; bytebuf_reserve() keeps earlier bytes and may move them.
 */
#ifndef MQ_BYTES_H
#define MQ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline uint16_t be16_load(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
static inline uint32_t be32_load(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t be64_load(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline void be16_store(void *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    memcpy(p, &v, 2);
}
static inline void be32_store(void *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}
static inline void be64_store(void *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

typedef struct bytebuf {
    uint8_t *data;
    size_t len;
    size_t cap;
} bytebuf;

void bytebuf_init(bytebuf *b);
void bytebuf_free(bytebuf *b);
/* Makes room for n more bytes; returns a pointer to the first free byte. */
uint8_t *bytebuf_reserve(bytebuf *b, size_t n);
void bytebuf_append(bytebuf *b, const void *p, size_t n);
void bytebuf_append_str(bytebuf *b, const char *s);
void bytebuf_printf(bytebuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bytebuf_append_be32(bytebuf *b, uint32_t v);
void bytebuf_append_be64(bytebuf *b, uint64_t v);
/* Empties the buffer, keeping its memory. */
static inline void bytebuf_clear(bytebuf *b) { b->len = 0; }
/* Returns the bytes as a NUL-terminated string (the NUL is not counted in len). */
const char *bytebuf_cstr(bytebuf *b);

#ifdef __cplusplus
}
#endif

#endif
