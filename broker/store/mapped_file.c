/*
 * mapped_file.c - see mapped_file.h. Plain POSIX file and mapping calls; the
 * only shared state is each file's reference count and removed flag.
 */
#define _GNU_SOURCE
#include "mapped_file.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PAGE 4096

void mf_path(char *buf, size_t cap, const char *dir, int64_t start)
{
    snprintf(buf, cap, "%s/%020lld", dir, (long long)start);
}

int mf_parse_name(const char *name, int64_t *start)
{
    if (strlen(name) != 20)
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    *start = v;
    return 0;
}

static mapped_file *mf_new(const char *dir, int64_t start, int64_t size,
                           const store_io_hooks *hooks)
{
    size_t plen = strlen(dir) + 22;
    mapped_file *f = xcalloc(1, sizeof *f + plen);
    mf_path(f->path, plen, dir, start);
    f->start = start;
    f->size = size;
    f->fd = -1;
    f->hooks = hooks;
    atomic_init(&f->refs, 1);
    atomic_init(&f->removed, false);
    return f;
}

static int mf_map(mapped_file *f)
{
    void *p = mmap(NULL, (size_t)f->size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    f->base = p;
    return 0;
}

int mf_create(const char *dir, int64_t start, int64_t size, const store_io_hooks *hooks,
              mapped_file **out)
{
    mapped_file *f = mf_new(dir, start, size, hooks);
    int rc = 0;
    if (hooks && hooks->before_create && (rc = hooks->before_create(hooks->arg, f->path, size)) < 0)
        goto fail;
    f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (fallocate(f->fd, 0, 0, size) != 0) {
        rc = -errno;
        if (rc != -EOPNOTSUPP && rc != -ENOSYS)
            goto fail_unlink;
        if (ftruncate(f->fd, size) != 0) { /* file system without fallocate */
            rc = -errno;
            goto fail_unlink;
        }
    }
    if ((rc = mf_map(f)) < 0)
        goto fail_unlink;
    mf_sync_dir(dir);
    *out = f;
    return 0;
fail_unlink:
    unlink(f->path);
fail:
    if (f->fd >= 0)
        close(f->fd);
    log_error_limited("cannot create %s (%lld bytes): %s", f->path, (long long)size, strerror(-rc));
    free(f);
    return rc;
}

int mf_open(const char *dir, int64_t start, int64_t size, const store_io_hooks *hooks,
            mapped_file **out)
{
    mapped_file *f = mf_new(dir, start, size, hooks);
    int rc;
    f->fd = open(f->path, O_RDWR | O_CLOEXEC);
    if (f->fd < 0) {
        rc = -errno;
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        rc = -errno;
        goto fail;
    }
    if (st.st_size != size) {
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = mf_map(f)) < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    if (f->fd >= 0)
        close(f->fd);
    free(f);
    return rc;
}

void mf_unref(mapped_file *f)
{
    /* D3: the mapping goes with the last reference (the log's, or a pin's),
     * never before: a reference count never drops below zero. */
    int old = atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old != 1)
        return;
    if (f->base)
        munmap(f->base, (size_t)f->size);
    if (f->fd >= 0)
        close(f->fd);
    free(f);
}

void mf_remove(mapped_file *f)
{
    bool was = atomic_exchange(&f->removed, true);
    if (!was && unlink(f->path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", f->path, strerror(errno));
}

int mf_flush(mapped_file *f, int64_t from, int64_t to)
{
    if (to > f->size)
        to = f->size;
    if (from < 0)
        from = 0;
    if (to <= from)
        return 0;
    const store_io_hooks *h = f->hooks;
    if (h && h->before_flush) {
        int rc = h->before_flush(h->arg, f->path);
        if (rc < 0)
            return rc;
    }
    int64_t a = from & ~(int64_t)(PAGE - 1);
    if (msync(f->base + a, (size_t)(to - a), MS_SYNC) != 0)
        return -errno;
    return 0;
}

void mf_prefault(mapped_file *f, int64_t from, int64_t to)
{
    if (to > f->size)
        to = f->size;
    from &= ~(int64_t)(PAGE - 1);
    if (from >= to)
        return;
    /* Read faults map the (zero) pages without dirtying them: no extra
     * writeback, and the writer later takes only a cheap write-enable fault. */
#ifdef MADV_POPULATE_READ
    if (madvise(f->base + from, (size_t)(to - from), MADV_POPULATE_READ) == 0)
        return;
#endif
    volatile uint8_t sink = 0;
    for (int64_t p = from; p < to; p += PAGE)
        sink ^= f->base[p];
    (void)sink;
}

int mf_zero_tail(mapped_file *f, int64_t from)
{
    if (from >= f->size)
        return 0;
    int64_t aligned = (from + PAGE - 1) & ~(int64_t)(PAGE - 1);
    if (aligned > f->size)
        aligned = f->size;
    memset(f->base + from, 0, (size_t)(aligned - from));
    if (aligned < f->size) {
        /* Zero the rest without touching every page; keep the blocks. */
        if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE, aligned, f->size - aligned) != 0) {
            if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, aligned,
                          f->size - aligned) != 0) {
                memset(f->base + aligned, 0, (size_t)(f->size - aligned));
            } else if (fallocate(f->fd, 0, aligned, f->size - aligned) != 0) {
                log_warn("cannot re-reserve blocks of %s: %s", f->path, strerror(errno));
            }
        }
    }
    return mf_flush(f, from, f->size);
}

void mf_write(mapped_file *f, const uint8_t *src, size_t len, int64_t rel)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(f->fd, src + done, len - done, (off_t)(rel + (int64_t)done));
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        memcpy(f->base + rel + (int64_t)done, src + done, len - done);
        return;
    }
}

int mf_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int mf_mkdirs(const char *path)
{
    /* Usually only the last component is new (a queue's folder under its
     * topic's): one mkdir, not one per component. */
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -errno;
    char tmp[1024];
    if (!str_copy(tmp, sizeof tmp, path))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int mf_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = mf_remove_tree(sub) ? -1 : rc;
        else if (unlink(sub) != 0)
            rc = -errno;
    }
    closedir(d);
    if (rmdir(path) != 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}

static int cmp_start(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

ssize_t mf_list_dir(const char *dir, int64_t **starts)
{
    *starts = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t start;
        if (mf_parse_name(e->d_name, &start) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *starts = xrealloc(*starts, cap * sizeof **starts);
        }
        (*starts)[n++] = start;
    }
    closedir(d);
    if (n > 1)
        qsort(*starts, n, sizeof **starts, cmp_start);
    return (ssize_t)n;
}
