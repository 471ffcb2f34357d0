/*
 * crc.c - see crc.h.
 */
#include "crc.h"

#include <isa-l/crc.h>

uint32_t mq_crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    /* crc32_gzip_refl takes a 64-bit length, so no chunking is needed. */
    return crc32_gzip_refl(crc, p, (uint64_t)n);
}
