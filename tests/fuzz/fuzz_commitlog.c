/*
 * fuzz_commitlog.c - CommitLog record parsing as recovery uses it.
 *
 * The input is one CommitLog segment (the first record should start at
 * offset 0 of the log). It is walked exactly as commitlog.c walk() does in
 * cl_recover: cl_check_record at each position (magic, lengths, body CRC,
 * PHYSICALOFFSET), a blank end-of-file marker ends the segment, anything
 * invalid ends the log. Each valid record then goes through what the redo
 * hands it to: the ConsumeQueue sink's property scan and tag code
 * (cq_sink_tag_code, including SCHEDULE_TOPIC_XXXX delay levels) and the
 * index sink's key split (idx_add_record into a RocksDB write batch that is
 * never written). The walk runs with and without CRC checking, so records
 * a fuzzer cannot checksum still reach the decoders.
 *
 * Checked: a valid record lies inside the segment, its topic, body and
 * properties lie inside the record, the walk always advances.
 */
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commitlog.h"
#include "dispatch.h"
#include "fuzz_check.h"
#include "index.h"
#include "kv.h"
#include "log.h"

static kv_db kv;
static _Atomic int64_t cl_min;
static cq_sink sink;
static rocksdb_writebatch_t *wb;
static const int64_t delay_ms[] = {1000, 5000, 10000, 30000, 60000};

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_commitlog: could not remove %s\n", dir);
}

static char kv_dir[64];

static void teardown(void)
{
    kv_close(&kv);
    remove_tree(kv_dir);
}

static void setup(void)
{
    log_set_level(LOG_OFF);
    char dir[] = "/tmp/mq-fuzz-commitlog-XXXXXX";
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    char err[256];
    if (kv_open(&kv, dir, &cl_min, err, sizeof err) != 0) { /* the database in dir itself */
        fprintf(stderr, "fuzz_commitlog: kv_open: %s\n", err);
        abort();
    }
    snprintf(kv_dir, sizeof kv_dir, "%s", dir);
    atexit(teardown);
    cq_sink_init(&sink, NULL, NULL, delay_ms, (int)(sizeof delay_ms / sizeof delay_ms[0]));
    wb = rocksdb_writebatch_create();
}

static bool inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
    const uint8_t *q = p;
    return n == 0 || (q >= base && q <= base + len && n <= (size_t)(base + len - q));
}

static void sinks(const msg_record *r)
{
    const char *tags = NULL, *delay = NULL, *keys = NULL, *uniq = NULL;
    size_t tags_len = 0, delay_len = 0, keys_len = 0, uniq_len = 0;
    size_t it = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(r->properties, r->properties_len, &it, &k, &kl, &v, &vl)) {
        FUZZ_CHECK(inside(k, kl, (const uint8_t *)r->properties, r->properties_len));
        FUZZ_CHECK(inside(v, vl, (const uint8_t *)r->properties, r->properties_len));
        if (kl == 4 && !memcmp(k, "TAGS", 4))
            tags = v, tags_len = vl;
        else if (kl == 5 && !memcmp(k, "DELAY", 5))
            delay = v, delay_len = vl;
        else if (kl == 4 && !memcmp(k, "KEYS", 4))
            keys = v, keys_len = vl;
        else if (kl == 8 && !memcmp(k, "UNIQ_KEY", 8))
            uniq = v, uniq_len = vl;
    }
    (void)cq_sink_tag_code(&sink, r, tags, tags_len, delay, delay_len);
    const char *val;
    size_t val_len;
    (void)msg_prop_get(r->properties, r->properties_len, MSG_PROP_TAGS, &val, &val_len);
    if (uniq || keys) {
        idx_add_record(wb, &kv, r->topic, r->topic_len, uniq, uniq_len, keys, keys_len,
                       r->store_timestamp, r->physical_offset);
        rocksdb_writebatch_clear(wb);
    }
}

static void walk(const uint8_t *seg, size_t size, bool verify_crc)
{
    int64_t pos = 0;
    while ((size_t)pos < size) {
        msg_record r;
        int rc = cl_check_record(seg + pos, (int64_t)size - pos, pos, verify_crc, &r);
        if (rc == CL_REC_BLANK || rc <= 0)
            break;
        FUZZ_CHECK((size_t)rc <= size - (size_t)pos);
        const uint8_t *rec = seg + pos;
        FUZZ_CHECK(r.total_size == (uint32_t)rc && r.physical_offset == pos);
        FUZZ_CHECK(inside(r.topic, r.topic_len, rec, (size_t)rc));
        FUZZ_CHECK(inside(r.body, r.body_len, rec, (size_t)rc));
        FUZZ_CHECK(inside(r.properties, r.properties_len, rec, (size_t)rc));
        FUZZ_CHECK(msg_peek_store_timestamp(rec) == r.store_timestamp);
        sinks(&r);
        pos += rc;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    /* A private copy: the walk must not depend on bytes past the segment. */
    uint8_t *seg = malloc(size ? size : 1);
    memcpy(seg, data, size);
    walk(seg, size, true);
    walk(seg, size, false);
    free(seg);
    return 0;
}
