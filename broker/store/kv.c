/*
 * kv.c - see kv.h.
 */
#define _GNU_SOURCE
#include "kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "log.h"
#include "util.h"

/* ---- index compaction filter ---------------------------------------------- */

static unsigned char index_filter(void *state, int level, const char *key, size_t klen,
                                  const char *val, size_t vlen, char **new_val,
                                  size_t *new_vlen, unsigned char *changed)
{
    (void)level, (void)val, (void)vlen, (void)new_val, (void)new_vlen, (void)changed;
    const _Atomic int64_t *min = state;
    if (klen < 17 || key[0] != 'K')
        return 0;
    int64_t phys = (int64_t)be64_load(key + klen - 8);
    return phys < atomic_load_explicit(min, memory_order_relaxed);
}

static const char *index_filter_name(void *state)
{
    (void)state;
    return "mq_store_index_min_offset";
}

static void noop_destructor(void *state) { (void)state; }

/* ---- open / close ----------------------------------------------------------- */

static kv_cf *cf_add(kv_db *kv, const char *name, rocksdb_column_family_handle_t *h)
{
    kv_cf *cf = xcalloc(1, sizeof *cf);
    cf->name = xstrdup(name);
    cf->h = h;
    kv->cfs = xrealloc(kv->cfs, (kv->ncfs + 1) * sizeof *kv->cfs);
    kv->cfs[kv->ncfs++] = cf;
    return cf;
}

int kv_open(kv_db *kv, const char *dir, const _Atomic int64_t *cl_min, char *err,
            size_t errlen)
{
    memset(kv, 0, sizeof *kv);
    pthread_mutex_init(&kv->cf_lock, NULL);
    kv->cl_min = cl_min;
    char path[700];
    snprintf(path, sizeof path, "%s", dir);

    kv->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(kv->opts, 1);
    rocksdb_options_set_create_missing_column_families(kv->opts, 1);
    rocksdb_options_increase_parallelism(kv->opts, 2);
    rocksdb_options_set_max_background_jobs(kv->opts, 2);
    rocksdb_options_set_keep_log_file_num(kv->opts, 3);
    rocksdb_options_set_max_log_file_size(kv->opts, 8 << 20);
    rocksdb_options_set_max_total_wal_size(kv->opts, 256 << 20);
    rocksdb_options_set_compression(kv->opts, rocksdb_lz4_compression);

    kv->index_opts = rocksdb_options_create_copy(kv->opts);
    kv->index_filter = rocksdb_compactionfilter_create((void *)cl_min, noop_destructor,
                                                       index_filter, index_filter_name);
    rocksdb_options_set_compaction_filter(kv->index_opts, kv->index_filter);
    rocksdb_options_set_write_buffer_size(kv->index_opts, 32 << 20);

    kv->wo = rocksdb_writeoptions_create();
    kv->wo_nowal = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(kv->wo_nowal, 1);
    kv->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(kv->wo_sync, 1);
    kv->ro = rocksdb_readoptions_create();

    /* Open every existing column family, plus the index one. */
    char *e = NULL;
    size_t nexisting = 0;
    char **existing = rocksdb_list_column_families(kv->opts, path, &nexisting, &e);
    if (e) { /* no database yet */
        free(e);
        e = NULL;
        free(existing); /* an empty array, still allocated */
        existing = NULL;
        nexisting = 0;
    }
    size_t n = 0;
    const char **names = xcalloc(nexisting + 2, sizeof *names);
    const rocksdb_options_t **copts = xcalloc(nexisting + 2, sizeof *copts);
    bool have_default = false, have_index = false;
    for (size_t i = 0; i < nexisting; i++) {
        names[n] = existing[i];
        bool is_index = strcmp(existing[i], KV_INDEX_CF) == 0;
        copts[n++] = is_index ? kv->index_opts : kv->opts;
        have_default |= strcmp(existing[i], "default") == 0;
        have_index |= is_index;
    }
    if (!have_default) {
        names[n] = "default";
        copts[n++] = kv->opts;
    }
    if (!have_index) {
        names[n] = KV_INDEX_CF;
        copts[n++] = kv->index_opts;
    }
    rocksdb_column_family_handle_t **handles = xcalloc(n, sizeof *handles);
    kv->db = rocksdb_open_column_families(kv->opts, path, (int)n, names, copts, handles, &e);
    int rc = 0;
    if (e) {
        snprintf(err, errlen, "cannot open RocksDB at %s: %s", path, e);
        free(e);
        rc = STORE_ERR_KV;
    } else {
        for (size_t i = 0; i < n; i++) {
            kv_cf *cf = cf_add(kv, names[i], handles[i]);
            if (strcmp(names[i], KV_INDEX_CF) == 0)
                kv->index_cf = cf->h;
        }
    }
    if (existing)
        rocksdb_list_column_families_destroy(existing, nexisting);
    free(names);
    free(copts);
    free(handles);
    return rc;
}

void kv_close(kv_db *kv)
{
    if (kv->db) {
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        for (size_t i = 0; i < kv->ncfs; i++) {
            char *e = NULL;
            rocksdb_flush_cf(kv->db, fo, kv->cfs[i]->h, &e);
            if (e) {
                log_warn("RocksDB flush of %s failed: %s", kv->cfs[i]->name, e);
                free(e);
            }
        }
        rocksdb_flushoptions_destroy(fo);
        for (size_t i = 0; i < kv->ncfs; i++)
            rocksdb_column_family_handle_destroy(kv->cfs[i]->h);
        rocksdb_close(kv->db);
        kv->db = NULL;
    }
    for (size_t i = 0; i < kv->ncfs; i++) {
        free(kv->cfs[i]->name);
        free(kv->cfs[i]);
    }
    free(kv->cfs);
    kv->cfs = NULL;
    kv->ncfs = 0;
    if (kv->index_opts)
        rocksdb_options_destroy(kv->index_opts);
    if (kv->index_filter)
        rocksdb_compactionfilter_destroy(kv->index_filter);
    if (kv->opts)
        rocksdb_options_destroy(kv->opts);
    if (kv->wo)
        rocksdb_writeoptions_destroy(kv->wo);
    if (kv->wo_sync)
        rocksdb_writeoptions_destroy(kv->wo_sync);
    if (kv->wo_nowal)
        rocksdb_writeoptions_destroy(kv->wo_nowal);
    kv->wo_nowal = NULL;
    if (kv->ro)
        rocksdb_readoptions_destroy(kv->ro);
    kv->opts = kv->index_opts = NULL;
    kv->index_filter = NULL;
    kv->wo = kv->wo_sync = NULL;
    kv->ro = NULL;
    pthread_mutex_destroy(&kv->cf_lock);
}

void kv_compact_index(kv_db *kv)
{
    rocksdb_compact_range_cf(kv->db, kv->index_cf, NULL, 0, NULL, 0);
}

int kv_flush_index(kv_db *kv)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *e = NULL;
    rocksdb_flush_cf(kv->db, fo, kv->index_cf, &e);
    rocksdb_flushoptions_destroy(fo);
    if (e) {
        log_warn("RocksDB index flush failed: %s", e);
        free(e);
        return STORE_ERR_KV;
    }
    return 0;
}
