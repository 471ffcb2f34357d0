/*
 * crash_body.h - the deterministic message body used by the store crash
 * child and the tests that check its output: the bytes follow from the
 * message key and the length alone, so a checker can tell an intact record
 * from a damaged one without the writer telling it the content.
 */
#ifndef MQ_STORE_CRASH_BODY_H
#define MQ_STORE_CRASH_BODY_H

#include <stddef.h>
#include <stdint.h>

static inline void crash_body_fill(const char *key, uint8_t *out, size_t len)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (size_t i = 0; i < len; i++) {
        h = h * 1103515245u + 12345u;
        out[i] = (uint8_t)('!' + (h >> 16) % 90);
    }
}

#endif
