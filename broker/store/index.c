/*
 * index.c - see index.h. Exact-key index: unlike RocketMQ's hash-slot
 * IndexFile, a key is stored whole, so a query returns no hash collisions and
 * needs no client-side re-check.
 */
#define _GNU_SOURCE
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "log.h"
#include "message.h"
#include "util.h"

#define IDX_KEY_MAX (1 + 2 + 65535 + 2 + 65535 + 16)

static size_t key_prefix(uint8_t *buf, const char *topic, size_t tlen, const char *key,
                         size_t klen)
{
    uint8_t *p = buf;
    *p++ = 'K';
    be16_store(p, (uint16_t)tlen);
    memcpy(p + 2, topic, tlen);
    p += 2 + tlen;
    be16_store(p, (uint16_t)klen);
    memcpy(p + 2, key, klen);
    p += 2 + klen;
    return (size_t)(p - buf);
}

static void add_key(rocksdb_writebatch_t *wb, kv_db *kv, const char *topic, size_t tlen,
                    const char *key, size_t klen, int64_t store_ms, int64_t phys)
{
    uint8_t buf[1 + 2 + 256 + 2 + 1024 + 16];
    if (tlen > 256 || klen > 1024)
        return; /* absurd key: not indexed */
    size_t n = key_prefix(buf, topic, tlen, key, klen);
    be64_store(buf + n, (uint64_t)store_ms);
    be64_store(buf + n + 8, (uint64_t)phys);
    rocksdb_writebatch_put_cf(wb, kv->index_cf, (const char *)buf, n + 16, "", 0);
}

int idx_add_record(rocksdb_writebatch_t *wb, kv_db *kv, const char *topic, size_t tlen,
                   const char *uniq, size_t ulen, const char *keys, size_t klen,
                   int64_t store_ms, int64_t phys)
{
    int n = 0;
    if (uniq && ulen > 0) {
        add_key(wb, kv, topic, tlen, uniq, ulen, store_ms, phys);
        n++;
    }
    const char *v = keys, *end = keys ? keys + klen : NULL;
    while (v && v < end) {
        const char *sp = memchr(v, MSG_KEY_SEPARATOR, (size_t)(end - v));
        const char *tok_end = sp ? sp : end;
        if (tok_end > v) {
            add_key(wb, kv, topic, tlen, v, (size_t)(tok_end - v), store_ms, phys);
            n++;
        }
        v = tok_end + (sp ? 1 : 0);
    }
    return n;
}

void idx_add_marker(rocksdb_writebatch_t *wb, kv_db *kv, int64_t offset)
{
    uint8_t v[8];
    be64_store(v, (uint64_t)offset);
    rocksdb_writebatch_put_cf(wb, kv->index_cf, "Mdispatch", 9, (const char *)v, 8);
}

static size_t queue_key(uint8_t *buf, const char *topic, size_t tlen, int32_t qid)
{
    buf[0] = 'Q';
    be16_store(buf + 1, (uint16_t)tlen);
    memcpy(buf + 3, topic, tlen);
    be32_store(buf + 3 + tlen, (uint32_t)qid);
    return 3 + tlen + 4;
}

void idx_add_queue(rocksdb_writebatch_t *wb, kv_db *kv, const char *topic, size_t tlen,
                   int32_t qid)
{
    uint8_t buf[3 + 256 + 4];
    if (tlen > 256)
        return;
    size_t n = queue_key(buf, topic, tlen, qid);
    rocksdb_writebatch_put_cf(wb, kv->index_cf, (const char *)buf, n, "", 0);
}

int idx_write(kv_db *kv, rocksdb_writebatch_t *wb, bool wal)
{
    if (rocksdb_writebatch_count(wb) == 0)
        return 0;
    char *e = NULL;
    rocksdb_write(kv->db, wal ? kv->wo : kv->wo_nowal, wb, &e);
    rocksdb_writebatch_clear(wb);
    if (e) {
        log_error("index write failed: %s", e);
        free(e);
        return STORE_ERR_KV;
    }
    return 0;
}

int idx_load_marker(kv_db *kv, int64_t *offset)
{
    char *e = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(kv->db, kv->ro, kv->index_cf, "Mdispatch", 9, &n, &e);
    if (e) {
        log_error("index marker read failed: %s", e);
        free(e);
        return STORE_ERR_KV;
    }
    if (!v)
        return STORE_ERR_NOT_FOUND;
    int rc = STORE_ERR_CORRUPT;
    if (n == 8) {
        *offset = (int64_t)be64_load(v);
        rc = 0;
    }
    rocksdb_free(v);
    return rc;
}

int idx_foreach_queue(kv_db *kv, idx_queue_cb cb, void *arg)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ro, kv->index_cf);
    for (rocksdb_iter_seek(it, "Q", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl < 7 || k[0] != 'Q')
            break;
        size_t tl = be16_load(k + 1);
        if (kl != 3 + tl + 4)
            continue;
        cb(arg, (const char *)k + 3, tl, (int32_t)be32_load(k + 3 + tl));
    }
    rocksdb_iter_destroy(it);
    return 0;
}

int idx_delete_topic(kv_db *kv, const char *topic)
{
    size_t tlen = strlen(topic);
    if (tlen > 256)
        return STORE_ERR_INVALID;
    uint8_t prefix[3 + 256];
    prefix[0] = 'Q';
    be16_store(prefix + 1, (uint16_t)tlen);
    memcpy(prefix + 3, topic, tlen);
    size_t plen = 3 + tlen;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ro, kv->index_cf);
    for (rocksdb_iter_seek(it, (const char *)prefix, plen); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < plen || memcmp(k, prefix, plen) != 0)
            break;
        rocksdb_writebatch_delete_cf(wb, kv->index_cf, k, kl);
    }
    rocksdb_iter_destroy(it);
    int rc = idx_write(kv, wb, true); /* a deletion must survive a crash */
    rocksdb_writebatch_destroy(wb);
    return rc;
}

int idx_query(kv_db *kv, const char *topic, const char *key, int64_t begin, int64_t end,
              int64_t cl_min, int64_t *offsets, int cap)
{
    size_t tlen = strlen(topic), klen = strlen(key);
    if (tlen > 256 || klen > 1024 || cap <= 0)
        return 0;
    if (begin < 0)
        begin = 0;
    if (end < begin)
        return 0;
    uint8_t buf[1 + 2 + 256 + 2 + 1024 + 16];
    size_t plen = key_prefix(buf, topic, tlen, key, klen);
    /* Seek to the last key <= prefix + end + max phys, walk backwards. */
    be64_store(buf + plen, (uint64_t)end);
    memset(buf + plen + 8, 0xFF, 8);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(kv->db, kv->ro, kv->index_cf);
    int n = 0;
    for (rocksdb_iter_seek_for_prev(it, (const char *)buf, plen + 16);
         rocksdb_iter_valid(it) && n < cap; rocksdb_iter_prev(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != plen + 16 || memcmp(k, buf, plen) != 0)
            break;
        int64_t ts = (int64_t)be64_load(k + plen);
        if (ts < begin)
            break;
        int64_t phys = (int64_t)be64_load(k + plen + 8);
        if (phys >= cl_min)
            offsets[n++] = phys;
    }
    rocksdb_iter_destroy(it);
    return n;
}
