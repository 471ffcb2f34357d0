/*
 * mapped_file.h - one fixed-size data file mapped into memory: the unit the
 * CommitLog and the ConsumeQueues are made of (RocketMQ's MappedFile).
 *
 * A mapped_file is reference counted. The owning list (a CommitLog's segment
 * array, a ConsumeQueue's file array) holds one reference; readers take one
 * for as long as they use pointers into the mapping (store_pin). Removing a
 * file unlinks it at once and marks it removed; the mapping and descriptor
 * go away with the last reference, so a reader never sees memory unmapped
 * under it. Reference operations are atomic and may happen on any thread.
 *
 * Every flush and file creation passes through the store's io hooks (fault
 * injection for tests). Files are named by their start offset as a 20-digit
 * zero-padded decimal, as RocketMQ names them.
 */
#ifndef MQ_STORE_MAPPED_FILE_H
#define MQ_STORE_MAPPED_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

typedef struct mapped_file {
    int64_t start;          /* logical offset of byte 0 (= the file name) */
    int64_t size;           /* bytes, fixed */
    uint8_t *base;          /* mapping, PROT_READ|PROT_WRITE, MAP_SHARED */
    int fd;
    atomic_int refs;
    atomic_bool removed;
    const store_io_hooks *hooks;
    char path[];
} mapped_file;

/* Writes dir/<20-digit start> into buf. */
void mf_path(char *buf, size_t cap, const char *dir, int64_t start);
/* Parses a 20-digit file name; returns 0 and the offset, or -1. */
int mf_parse_name(const char *name, int64_t *start);
/* Start offsets of the segment files (20-digit names) in dir, ascending,
 * malloc'd into *starts (free it). Returns the count, or -1 with errno set
 * if dir cannot be read. */
ssize_t mf_list_dir(const char *dir, int64_t **starts);

/* Creates a new file of size bytes (blocks reserved with fallocate so that a
 * full disk fails here rather than as SIGBUS on a later write), maps it and
 * fsyncs its directory. Returns 0 or a negative errno. refs = 1. */
int mf_create(const char *dir, int64_t start, int64_t size, const store_io_hooks *hooks,
              mapped_file **out);
/* Maps an existing file; its size must be exactly size (-EINVAL otherwise). */
int mf_open(const char *dir, int64_t start, int64_t size, const store_io_hooks *hooks,
            mapped_file **out);

static inline void mf_ref(mapped_file *f) { atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed); }
/* Drops a reference; the last one unmaps, closes and frees. */
void mf_unref(mapped_file *f);
/* Unlinks the file now (the mapping lives on until the last unref). */
void mf_remove(mapped_file *f);

/* Makes bytes [from, to) of the file durable (msync MS_SYNC of the pages).
 * Returns 0 or a negative errno (from the hook or msync). */
int mf_flush(mapped_file *f, int64_t from, int64_t to);
/* Writes len bytes at offset rel of f with pwrite (the page cache takes
 * them without faulting the mapping in); on a failed or short write (EIO)
 * the rest is stored through the mapping, and the error then surfaces at
 * the flush (STORE.md D9). */
void mf_write(mapped_file *f, const uint8_t *src, size_t len, int64_t rel);
/* Maps the pages of [from, to) ahead of the writer (read faults, nothing is
 * dirtied), so that appends do not pay for page-cache allocation. */
void mf_prefault(mapped_file *f, int64_t from, int64_t to);
/* Zeroes bytes [from, size) of the file: used to cut a torn tail. */
int mf_zero_tail(mapped_file *f, int64_t from);

/* fsync of a directory (after creating or removing files in it). */
int mf_sync_dir(const char *dir);
/* mkdir -p. Returns 0 or a negative errno. */
int mf_mkdirs(const char *path);
/* rm -r of a directory tree (ConsumeQueue of a deleted topic). */
int mf_remove_tree(const char *path);

#endif
