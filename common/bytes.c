/*
 * bytes.c - the growable byte buffer of bytes.h.
 */
#include "bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

void bytebuf_init(bytebuf *b) { memset(b, 0, sizeof *b); }

void bytebuf_free(bytebuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

uint8_t *bytebuf_reserve(bytebuf *b, size_t n)
{
    if (b->cap - b->len < n + 1) { /* +1 keeps room for bytebuf_cstr's NUL */
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void bytebuf_append(bytebuf *b, const void *p, size_t n)
{
    uint8_t *dst = bytebuf_reserve(b, n);
    if (n)
        memcpy(dst, p, n);
    b->len += n;
}

void bytebuf_append_str(bytebuf *b, const char *s) { bytebuf_append(b, s, strlen(s)); }

void bytebuf_printf(bytebuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        bytebuf_append(b, small, (size_t)n);
        return;
    }
    char *dst = (char *)bytebuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void bytebuf_append_be32(bytebuf *b, uint32_t v)
{
    be32_store(bytebuf_reserve(b, 4), v);
    b->len += 4;
}

void bytebuf_append_be64(bytebuf *b, uint64_t v)
{
    be64_store(bytebuf_reserve(b, 8), v);
    b->len += 8;
}

const char *bytebuf_cstr(bytebuf *b)
{
    bytebuf_reserve(b, 0);
    b->data[b->len] = '\0';
    return (const char *)b->data;
}
