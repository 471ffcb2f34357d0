/*
 * meta_db.c - see meta_db.h. One RocksDB instance, one column family per
 * namespace, tuned for a few megabytes of data: 1 MiB write buffers, a
 * 4 MiB block cache, no compression, few open files, RocksDB's own log
 * kept short. Column family handles live in a small array guarded by a
 * mutex (lookups are a handful of strcmp; namespaces are few).
 */
#define _GNU_SOURCE
#include "meta_db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>

#include "log.h"
#include "util.h"

enum { MAX_NS = 64 };

struct meta_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_block_based_table_options_t *table;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo_sync, *wo_async;
    pthread_mutex_t lock; /* guards ns_names, cfs, ncf */
    int ncf;
    char *ns_names[MAX_NS];
    rocksdb_column_family_handle_t *cfs[MAX_NS];
    char dir[1024];
};

typedef struct batch_op {
    bool del;
    char *ns;
    char *key;
    void *val;
    size_t len;
} batch_op;

struct meta_batch {
    batch_op *ops;
    size_t n, cap;
};

/* mkdir -p */
static int make_dirs(const char *path, char *err, size_t errlen)
{
    char buf[1024];
    if (!str_copy(buf, sizeof buf, path)) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

static void set_options(struct meta_db *m)
{
    m->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(m->opts, 1);
    rocksdb_options_set_create_missing_column_families(m->opts, 1);
    rocksdb_options_set_write_buffer_size(m->opts, 1 << 20);
    rocksdb_options_set_max_write_buffer_number(m->opts, 2);
    rocksdb_options_set_max_total_wal_size(m->opts, 8 << 20);
    rocksdb_options_set_max_open_files(m->opts, 64);
    rocksdb_options_set_compression(m->opts, rocksdb_no_compression);
    rocksdb_options_set_keep_log_file_num(m->opts, 2);
    rocksdb_options_set_max_log_file_size(m->opts, 1 << 20);
    rocksdb_options_set_info_log_level(m->opts, 2 /* WARN */);
    rocksdb_options_increase_parallelism(m->opts, 1);
    m->cache = rocksdb_cache_create_lru(4 << 20);
    m->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(m->table, m->cache);
    rocksdb_options_set_block_based_table_factory(m->opts, m->table);
    m->ro = rocksdb_readoptions_create();
    m->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(m->wo_sync, 1);
    m->wo_async = rocksdb_writeoptions_create();
}

static void free_options(struct meta_db *m)
{
    rocksdb_readoptions_destroy(m->ro);
    rocksdb_writeoptions_destroy(m->wo_sync);
    rocksdb_writeoptions_destroy(m->wo_async);
    rocksdb_options_destroy(m->opts);
    rocksdb_block_based_options_destroy(m->table);
    rocksdb_cache_destroy(m->cache);
}

int meta_db_open(const char *dir, struct meta_db **out, char *err, size_t errlen)
{
    if (make_dirs(dir, err, errlen) != 0)
        return -1;
    struct meta_db *m = xcalloc(1, sizeof *m);
    str_copy(m->dir, sizeof m->dir, dir);
    pthread_mutex_init(&m->lock, NULL);
    set_options(m);

    char *rerr = NULL;
    size_t nlisted = 0;
    char **listed = rocksdb_list_column_families(m->opts, dir, &nlisted, &rerr);
    if (rerr) { /* a new database: only "default" */
        free(rerr);
        rerr = NULL;
        if (listed)
            rocksdb_list_column_families_destroy(listed, nlisted);
        listed = NULL;
        nlisted = 0;
    }
    const char *names[MAX_NS];
    int n = 0;
    names[n++] = "default";
    for (size_t i = 0; i < nlisted && n < MAX_NS; i++)
        if (strcmp(listed[i], "default") != 0)
            names[n++] = listed[i];
    /* The broker's own namespaces exist from the start: creating a column
     * family later writes and fsyncs a new MANIFEST and OPTIONS file on the
     * caller's thread, which for the first consumer offset commit or
     * transaction was the broker's loop (1-2 ms, in the middle of traffic). */
    static const char *const known[] = {META_NS_TOPIC, META_NS_GROUP, META_NS_OFFSET, META_NS_TXN};
    for (size_t k = 0; k < sizeof known / sizeof known[0] && n < MAX_NS; k++) {
        bool have = false;
        for (int i = 0; i < n && !have; i++)
            have = strcmp(names[i], known[k]) == 0;
        if (!have)
            names[n++] = known[k];
    }
    const rocksdb_options_t *cf_opts[MAX_NS];
    for (int i = 0; i < n; i++)
        cf_opts[i] = m->opts;
    m->db = rocksdb_open_column_families(m->opts, dir, n, names, cf_opts, m->cfs, &rerr);
    if (rerr) {
        snprintf(err, errlen, "cannot open metadata database %s: %s", dir, rerr);
        free(rerr);
        if (listed)
            rocksdb_list_column_families_destroy(listed, nlisted);
        free_options(m);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return -1;
    }
    for (int i = 0; i < n; i++)
        m->ns_names[i] = xstrdup(names[i]);
    m->ncf = n;
    if (listed)
        rocksdb_list_column_families_destroy(listed, nlisted);
    *out = m;
    return 0;
}

void meta_db_close(struct meta_db *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->ncf; i++) {
        rocksdb_column_family_handle_destroy(m->cfs[i]);
        free(m->ns_names[i]);
    }
    rocksdb_close(m->db);
    free_options(m);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* The column family of ns, created if asked; NULL if missing (or on error). */
static rocksdb_column_family_handle_t *cf_for(struct meta_db *m, const char *ns, bool create)
{
    rocksdb_column_family_handle_t *h = NULL;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->ncf; i++)
        if (!strcmp(m->ns_names[i], ns)) {
            h = m->cfs[i];
            break;
        }
    if (!h && create) {
        if (m->ncf >= MAX_NS) {
            log_error("metadata database %s: too many namespaces (creating '%s')", m->dir, ns);
        } else {
            char *rerr = NULL;
            h = rocksdb_create_column_family(m->db, m->opts, ns, &rerr);
            if (rerr) {
                log_error("metadata database %s: cannot create namespace '%s': %s", m->dir, ns, rerr);
                free(rerr);
                h = NULL;
            } else {
                m->ns_names[m->ncf] = xstrdup(ns);
                m->cfs[m->ncf++] = h;
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    return h;
}

static bool args_ok(const char *ns, const char *key) { return ns && *ns && key; }

static int check(struct meta_db *m, const char *what, char *rerr)
{
    if (!rerr)
        return 0;
    log_error("metadata database %s: %s failed: %s", m->dir, what, rerr);
    free(rerr);
    return -1;
}

int meta_db_put(struct meta_db *m, const char *ns, const char *key, const void *val, size_t len,
                bool sync)
{
    if (!args_ok(ns, key) || (!val && len))
        return -1;
    rocksdb_column_family_handle_t *cf = cf_for(m, ns, true);
    if (!cf)
        return -1;
    char *rerr = NULL;
    rocksdb_put_cf(m->db, sync ? m->wo_sync : m->wo_async, cf, key, strlen(key), val ? val : "", len,
                   &rerr);
    return check(m, "put", rerr);
}

int meta_db_get(struct meta_db *m, const char *ns, const char *key, void **val, size_t *len)
{
    if (!args_ok(ns, key))
        return -1;
    rocksdb_column_family_handle_t *cf = cf_for(m, ns, false);
    if (!cf)
        return 1;
    char *rerr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(m->db, m->ro, cf, key, strlen(key), &n, &rerr);
    if (check(m, "get", rerr) != 0)
        return -1;
    if (!v)
        return 1;
    /* RocksDB's buffer comes from its allocator: copy into ours. */
    *val = xmalloc(n ? n : 1);
    memcpy(*val, v, n);
    *len = n;
    rocksdb_free(v);
    return 0;
}

int meta_db_delete(struct meta_db *m, const char *ns, const char *key, bool sync)
{
    if (!args_ok(ns, key))
        return -1;
    rocksdb_column_family_handle_t *cf = cf_for(m, ns, false);
    if (!cf)
        return 0;
    char *rerr = NULL;
    rocksdb_delete_cf(m->db, sync ? m->wo_sync : m->wo_async, cf, key, strlen(key), &rerr);
    return check(m, "delete", rerr);
}

int meta_db_scan(struct meta_db *m, const char *ns, const char *prefix,
                 int (*fn)(void *arg, const char *key, const void *val, size_t len), void *arg)
{
    if (!ns || !*ns || !fn)
        return -1;
    rocksdb_column_family_handle_t *cf = cf_for(m, ns, false);
    if (!cf)
        return 0;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(m->db, m->ro, cf);
    rocksdb_iter_seek(it, prefix, plen);
    char small[512];
    char *key = small;
    size_t keycap = sizeof small;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < plen || memcmp(k, prefix, plen) != 0)
            break;
        if (klen + 1 > keycap) {
            keycap = klen + 1;
            key = key == small ? xmalloc(keycap) : xrealloc(key, keycap);
        }
        memcpy(key, k, klen);
        key[klen] = '\0';
        const char *v = rocksdb_iter_value(it, &vlen);
        if (fn(arg, key, v, vlen) != 0)
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (key != small)
        free(key);
    return check(m, "scan", rerr);
}

struct meta_batch *meta_batch_new(void) { return xcalloc(1, sizeof(struct meta_batch)); }

static void batch_add(struct meta_batch *b, bool del, const char *ns, const char *key,
                      const void *val, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->ops = xrealloc(b->ops, b->cap * sizeof *b->ops);
    }
    batch_op *op = &b->ops[b->n++];
    op->del = del;
    op->ns = xstrdup(ns ? ns : "");
    op->key = key ? xstrdup(key) : NULL;
    op->len = del ? 0 : len;
    op->val = NULL;
    if (!del) {
        op->val = xmalloc(len ? len : 1);
        if (len && val)
            memcpy(op->val, val, len);
        else
            op->len = 0;
    }
}

void meta_batch_put(struct meta_batch *b, const char *ns, const char *key, const void *val, size_t len)
{
    batch_add(b, false, ns, key, val, len);
}

void meta_batch_delete(struct meta_batch *b, const char *ns, const char *key)
{
    batch_add(b, true, ns, key, NULL, 0);
}

int meta_db_write(struct meta_db *m, struct meta_batch *b, bool sync)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < b->n; i++) {
        batch_op *op = &b->ops[i];
        if (!args_ok(op->ns, op->key)) {
            rocksdb_writebatch_destroy(wb);
            return -1;
        }
        rocksdb_column_family_handle_t *cf = cf_for(m, op->ns, !op->del);
        if (!cf) {
            if (op->del)
                continue; /* nothing to delete in a namespace that does not exist */
            rocksdb_writebatch_destroy(wb);
            return -1;
        }
        if (op->del)
            rocksdb_writebatch_delete_cf(wb, cf, op->key, strlen(op->key));
        else
            rocksdb_writebatch_put_cf(wb, cf, op->key, strlen(op->key), op->val, op->len);
    }
    char *rerr = NULL;
    rocksdb_write(m->db, sync ? m->wo_sync : m->wo_async, wb, &rerr);
    rocksdb_writebatch_destroy(wb);
    return check(m, "batch write", rerr);
}

void meta_batch_free(struct meta_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ops[i].ns);
        free(b->ops[i].key);
        free(b->ops[i].val);
    }
    free(b->ops);
    free(b);
}
