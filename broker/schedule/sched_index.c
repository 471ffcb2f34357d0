/*
 * sched_index.c - RocksDB index of pending scheduled messages; layout and
 * invariants in sched_index.h.
 */
#include "sched_index.h"

#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "log.h"
#include "util.h"

struct sched_index {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo, *wo_sync;
    rocksdb_readoptions_t *ro;
};

struct sched_ibatch {
    rocksdb_writebatch_t *wb;
};

enum { KEY_LEN = 17, VAL_LEN = 6 };

static void key_encode(uint8_t *k, int64_t due, int64_t off)
{
    k[0] = 'k';
    /* due times are >= 0 (sched_prepare refuses negative ones) */
    be64_store(k + 1, (uint64_t)due);
    be64_store(k + 9, (uint64_t)off);
}

static size_t name_key(char *buf, size_t cap, const char *name)
{
    int n = snprintf(buf, cap, "v%s", name);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int sched_index_open(const char *dir, sched_index **out, char *err, size_t errlen)
{
    sched_index *ix = xcalloc(1, sizeof *ix);
    ix->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(ix->opts, 1);
    rocksdb_options_set_max_background_jobs(ix->opts, 2);
    rocksdb_options_set_keep_log_file_num(ix->opts, 2);
    rocksdb_options_set_max_log_file_size(ix->opts, 8 << 20);
    rocksdb_options_set_max_total_wal_size(ix->opts, 64 << 20);
    rocksdb_options_set_write_buffer_size(ix->opts, 16 << 20);
    rocksdb_options_set_max_write_buffer_number(ix->opts, 2);
    rocksdb_options_set_compression(ix->opts, rocksdb_lz4_compression);
    ix->cache = rocksdb_cache_create_lru(8 << 20);
    ix->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(ix->table, ix->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(ix->table, 1);
    rocksdb_options_set_block_based_table_factory(ix->opts, ix->table);
    ix->wo = rocksdb_writeoptions_create();
    ix->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(ix->wo_sync, 1);
    ix->ro = rocksdb_readoptions_create();
    char *e = NULL;
    ix->db = rocksdb_open(ix->opts, dir, &e);
    if (e) {
        snprintf(err, errlen, "cannot open the schedule index %s: %s", dir, e);
        free(e);
        ix->db = NULL;
        sched_index_close(ix);
        return -1;
    }
    *out = ix;
    return 0;
}

void sched_index_close(sched_index *ix)
{
    if (!ix)
        return;
    if (ix->db) {
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        char *e = NULL;
        rocksdb_flush(ix->db, fo, &e);
        free(e);
        rocksdb_flushoptions_destroy(fo);
        rocksdb_close(ix->db);
    }
    rocksdb_readoptions_destroy(ix->ro);
    rocksdb_writeoptions_destroy(ix->wo);
    rocksdb_writeoptions_destroy(ix->wo_sync);
    rocksdb_options_destroy(ix->opts);
    rocksdb_block_based_options_destroy(ix->table);
    rocksdb_cache_destroy(ix->cache);
    free(ix);
}

int64_t sched_index_get(sched_index *ix, const char *name, int64_t dflt)
{
    char k[160];
    size_t kl = name_key(k, sizeof k, name);
    size_t vl = 0;
    char *e = NULL;
    char *v = rocksdb_get(ix->db, ix->ro, k, kl, &vl, &e);
    if (e) {
        log_error("schedule index: get %s: %s", name, e);
        free(e);
        return dflt;
    }
    int64_t r = dflt;
    if (v && vl == 8)
        r = (int64_t)be64_load(v);
    rocksdb_free(v);
    return r;
}

static void key_decode(const char *k, const char *v, size_t vl, sched_key *out)
{
    out->due_ms = (int64_t)be64_load(k + 1);
    out->offset = (int64_t)be64_load(k + 9);
    out->size = vl >= 4 ? (int32_t)be32_load(v) : 0;
    out->level = vl >= 5 ? (uint8_t)v[4] : 0;
    out->flags = vl >= 6 ? (uint8_t)v[5] : 0;
}

int sched_index_take(sched_index *ix, int64_t from_due, int64_t from_off, int64_t until_ms,
                     sched_key *out, int max, int64_t *next_due)
{
    *next_due = 0;
    uint8_t start[KEY_LEN];
    key_encode(start, from_due < 0 ? 0 : from_due, from_off < 0 ? 0 : from_off);
    static const char upper[] = {'k' + 1};
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, upper, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator(ix->db, ro);
    int n = 0;
    for (rocksdb_iter_seek(it, (const char *)start, KEY_LEN); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (kl != KEY_LEN || k[0] != 'k')
            continue;
        sched_key key;
        key_decode(k, v, vl, &key);
        if (key.due_ms > until_ms || n == max) {
            *next_due = key.due_ms;
            break;
        }
        out[n++] = key;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (e) {
        log_error("schedule index: scan: %s", e);
        free(e);
        return -1;
    }
    return n;
}

int sched_index_find(sched_index *ix, int64_t due_ms, int64_t offset, sched_key *out)
{
    uint8_t k[KEY_LEN];
    key_encode(k, due_ms, offset);
    size_t vl = 0;
    char *e = NULL;
    char *v = rocksdb_get(ix->db, ix->ro, (const char *)k, KEY_LEN, &vl, &e);
    if (e) {
        log_error("schedule index: get key: %s", e);
        free(e);
        return 0;
    }
    if (!v)
        return 0;
    key_decode((const char *)k, v, vl, out);
    rocksdb_free(v);
    return 1;
}

sched_ibatch *sched_ibatch_new(void)
{
    sched_ibatch *b = xcalloc(1, sizeof *b);
    b->wb = rocksdb_writebatch_create();
    return b;
}

void sched_ibatch_clear(sched_ibatch *b) { rocksdb_writebatch_clear(b->wb); }

void sched_ibatch_free(sched_ibatch *b)
{
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    free(b);
}

void sched_ibatch_put_key(sched_ibatch *b, const sched_key *k)
{
    uint8_t key[KEY_LEN], val[VAL_LEN];
    key_encode(key, k->due_ms, k->offset);
    be32_store(val, (uint32_t)k->size);
    val[4] = k->level;
    val[5] = k->flags;
    rocksdb_writebatch_put(b->wb, (const char *)key, KEY_LEN, (const char *)val, VAL_LEN);
}

void sched_ibatch_del_key(sched_ibatch *b, int64_t due_ms, int64_t offset)
{
    uint8_t key[KEY_LEN];
    key_encode(key, due_ms, offset);
    rocksdb_writebatch_delete(b->wb, (const char *)key, KEY_LEN);
}

void sched_ibatch_set(sched_ibatch *b, const char *name, int64_t v)
{
    char k[160];
    size_t kl = name_key(k, sizeof k, name);
    uint8_t val[8];
    be64_store(val, (uint64_t)v);
    rocksdb_writebatch_put(b->wb, k, kl, (const char *)val, 8);
}

void sched_ibatch_del(sched_ibatch *b, const char *name)
{
    char k[160];
    size_t kl = name_key(k, sizeof k, name);
    rocksdb_writebatch_delete(b->wb, k, kl);
}

int sched_ibatch_count(const sched_ibatch *b) { return rocksdb_writebatch_count(b->wb); }

int sched_index_write(sched_index *ix, sched_ibatch *b, bool sync)
{
    char *e = NULL;
    rocksdb_write(ix->db, sync ? ix->wo_sync : ix->wo, b->wb, &e);
    if (e) {
        log_error("schedule index: write: %s", e);
        free(e);
        return -1;
    }
    return 0;
}
