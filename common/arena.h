/*
 * arena.h - a bump allocator for short-lived decoding work.
 *
 * The transport decodes each frame's header with protobuf-c into an arena
 * that belongs to the connection and is reset after the handler returns, so
 * decoding costs no malloc/free per request once the arena has warmed up.
 * Anything a handler keeps beyond its call must be copied out.
 */
#ifndef MQ_ARENA_H
#define MQ_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head;     /* chunk being filled */
    size_t chunk_size;     /* size of new chunks */
    ProtobufCAllocator pb; /* protobuf-c view of this arena */
} arena;

void arena_init(arena *a, size_t chunk_size);
void arena_free(arena *a);
/* 16-byte aligned memory valid until arena_reset/arena_free. */
void *arena_alloc(arena *a, size_t n);
char *arena_strndup(arena *a, const char *s, size_t n);
/* Forgets every allocation; keeps one chunk for reuse. */
void arena_reset(arena *a);

#ifdef __cplusplus
}
#endif

#endif
