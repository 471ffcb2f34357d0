/*
 * message_ext.c - received messages: a pull body (CommitLog records back to
 * back, as the broker stores them) decoded into mq_message_ext views.
 *
 * One allocation per pull: the batch header, the views and a copy of the
 * body live in one block. Decoding is in place: after every record has been
 * parsed (pass 1), the length fields that follow each string are no longer
 * needed, so pass 2 writes a NUL after the body and the topic and rewrites
 * the property string "k\x01v\x02k\x01v" as "k\0v\0k\0v\0" (moving pairs
 * left over malformed ones), which makes every getter a plain pointer into
 * the block. The extra byte at the end of the copy takes the NUL after the
 * last record. Tags are then checked exactly against the subscription (the
 * broker filtered by hash only) and non-matching views are dropped.
 *
 * A batch is reference-counted (atomic): each message handed to a consume
 * task holds one reference, a pull result holds one; any thread may drop
 * the last one.
 *
 * Blocks are recycled (block_get / block_put): a batch is allocated on
 * mq-io and usually freed on a consume thread, and glibc gives such a block
 * back to mq-io's arena, which trims it (madvise: a TLB shootdown of every
 * CPU) and takes page faults to use the memory again. A W3 backlog consume
 * spent more client CPU on that than on decoding (perf: page faults under
 * memmove and sysmalloc on mq-io, tlb_finish_mmu on the consume threads).
 * The pool keeps blocks of up to POOL_BLOCK_MAX bytes, POOL_BYTES in all,
 * process-wide, under a mutex taken once per batch.
 */
#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "message_internal.h"
#include "util.h"

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

enum {
    POOL_GRAIN = 16 * 1024,        /* block sizes are multiples of this */
    POOL_BLOCK_MAX = 1024 * 1024,  /* larger blocks are malloc'ed and freed */
    POOL_BYTES = 16 * 1024 * 1024, /* kept at most, in all */
};

typedef struct pool_block {
    struct pool_block *next;
    size_t cap;
} pool_block;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pool_block *pool_head;
static size_t pool_bytes;

/* A block of at least need bytes (its size in *cap): a pooled one no more
 * than twice as big, else a new one. */
static void *block_get(size_t need, size_t *cap)
{
    size_t want = align_up(need, POOL_GRAIN);
    if (want <= POOL_BLOCK_MAX) {
        pthread_mutex_lock(&pool_mu);
        for (pool_block **pp = &pool_head; *pp; pp = &(*pp)->next) {
            pool_block *blk = *pp;
            if (blk->cap >= want && blk->cap <= 2 * want) {
                *pp = blk->next;
                pool_bytes -= blk->cap;
                pthread_mutex_unlock(&pool_mu);
                *cap = blk->cap;
                return blk;
            }
        }
        pthread_mutex_unlock(&pool_mu);
    }
    *cap = want;
    return xmalloc(want);
}

static void block_put(void *p, size_t cap)
{
    if (cap <= POOL_BLOCK_MAX) {
        pthread_mutex_lock(&pool_mu);
        if (pool_bytes + cap <= POOL_BYTES) {
            pool_block *blk = p;
            blk->cap = cap;
            blk->next = pool_head;
            pool_head = blk;
            pool_bytes += cap;
            p = NULL;
        }
        pthread_mutex_unlock(&pool_mu);
    }
    free(p);
}

/* Rewrites props[0..len) as "k\0v\0..." in place; writes at most one byte
 * past len. Returns the new length and finds the properties we index. */
static size_t compact_props(mq_message_ext *m, char *props, size_t len, const char **retry_topic)
{
    size_t it = 0, w = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(props, len, &it, &k, &kl, &v, &vl)) {
        /* w <= k - props, and the pair's end (w + kl + vl + 2) never passes
         * the iterator except for a last pair without separator, whose
         * trailing NUL lands on the byte after the region. */
        char *key = props + w;
        memmove(key, k, kl);
        key[kl] = '\0';
        char *val = key + kl + 1;
        memmove(val, v, vl);
        val[vl] = '\0';
        w += kl + vl + 2;
        if (kl == 4 && !memcmp(key, "TAGS", 4))
            m->tags = val;
        else if (kl == 4 && !memcmp(key, "KEYS", 4))
            m->keys = val;
        else if (kl == 8 && !memcmp(key, "UNIQ_KEY", 8))
            m->uniq_id = val;
        else if (kl == 11 && !memcmp(key, "RETRY_TOPIC", 11))
            *retry_topic = val;
    }
    return w;
}

int mqc_msg_batch_decode(const uint8_t *body, size_t len, const char *broker_name,
                         const mq_subscription *filter, mqc_msg_batch **out, mq_error *err)
{
    /* Count the records first: one allocation for everything. */
    int count = 0;
    for (size_t off = 0; off < len;) {
        uint32_t total = len - off >= 4 ? be32_load(body + off) : 0;
        if (total < 4 || total > len - off) {
            mqc_error_set(err, MQ_EBROKER, "malformed pull body: record %d at byte %zu has size %u "
                          "(%zu bytes left)", count, off, total, len - off);
            return MQ_EBROKER;
        }
        off += total;
        count++;
    }
    size_t name_len = strlen(broker_name) + 1;
    size_t views_at = align_up(sizeof(mqc_msg_batch), alignof(mq_message_ext));
    size_t buf_at = views_at + (size_t)count * sizeof(mq_message_ext);
    size_t name_at = buf_at + len + 1;
    size_t cap;
    mqc_msg_batch *b = block_get(name_at + name_len, &cap);
    b->cap = cap;
    b->refs = 1;
    b->msgs = (mq_message_ext *)((char *)b + views_at);
    b->buf = (uint8_t *)b + buf_at;
    b->len = len;
    if (len)
        memcpy(b->buf, body, len);
    b->buf[len] = 0;
    memcpy((char *)b + name_at, broker_name, name_len);
    b->broker_name = (char *)b + name_at;
    b->decoded = count;

    /* Pass 1: parse every record before touching any byte. */
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        msg_record r;
        int rc = msg_decode(b->buf + off, len - off, false, &r);
        if (rc != MSG_OK) {
            mqc_error_set(err, MQ_EBROKER, "malformed pull body: record %d at byte %zu: %s", i, off,
                          rc == MSG_BLANK ? "end-of-file marker" : msg_strerror(rc));
            block_put(b, b->cap);
            return MQ_EBROKER;
        }
        mq_message_ext *m = &b->msgs[i];
        memset(m, 0, offsetof(mq_message_ext, offset_id));
        m->batch = b;
        m->stored_topic = r.topic;
        m->topic_len = r.topic_len;
        m->props = r.properties;
        m->props_len = r.properties_len;
        m->body = r.body;
        m->body_len = r.body_len;
        m->queue_id = r.queue_id;
        m->flag = r.flag;
        m->reconsume_times = r.reconsume_times;
        m->sysflag = r.sysflag;
        m->queue_offset = r.queue_offset;
        m->commit_log_offset = r.physical_offset;
        m->born_timestamp = r.born_timestamp;
        m->store_timestamp = r.store_timestamp;
        m->born_host = r.born_host;
        m->store_host = r.store_host;
        off += r.total_size;
    }

    /* Pass 2: terminate strings in place, index properties, filter. */
    int kept = 0;
    for (int i = 0; i < count; i++) {
        mq_message_ext *m = &b->msgs[i];
        ((uint8_t *)m->body)[m->body_len] = 0;         /* was TOPICLEN */
        ((char *)m->stored_topic)[m->topic_len] = '\0'; /* was PROPLEN */
        const char *retry_topic = NULL;
        m->tags = m->keys = "";
        m->props_len = compact_props(m, (char *)m->props, m->props_len, &retry_topic);
        if (filter && !mq_subscription_match_tag(filter, m->tags, strlen(m->tags)))
            continue;
        m->topic = retry_topic ? retry_topic : m->stored_topic;
        if (kept != i)
            memcpy(&b->msgs[kept], m, offsetof(mq_message_ext, offset_id));
        m = &b->msgs[kept++];
        if (msg_offset_id_encode(&m->store_host, m->commit_log_offset, m->offset_id,
                                 sizeof m->offset_id) < 0)
            m->offset_id[0] = '\0';
    }
    b->n = kept;
    *out = b;
    return MQ_OK;
}

void mqc_msg_batch_ref(mqc_msg_batch *b, int n) { __atomic_fetch_add(&b->refs, n, __ATOMIC_RELAXED); }

void mqc_msg_batch_unref(mqc_msg_batch *b)
{
    if (!b)
        return;
    int before = __atomic_fetch_sub(&b->refs, 1, __ATOMIC_ACQ_REL);
    assert(before > 0);
    if (before == 1)
        block_put(b, b->cap);
}

/* ---- getters ---- */

const char *mq_message_ext_topic(const mq_message_ext *m) { return m->topic; }
const char *mq_message_ext_tags(const mq_message_ext *m) { return m->tags; }
const char *mq_message_ext_keys(const mq_message_ext *m) { return m->keys; }
const char *mq_message_ext_offset_msg_id(const mq_message_ext *m) { return m->offset_id; }
int mq_message_ext_queue_id(const mq_message_ext *m) { return m->queue_id; }
int64_t mq_message_ext_queue_offset(const mq_message_ext *m) { return m->queue_offset; }
const char *mq_message_ext_broker_name(const mq_message_ext *m) { return m->batch->broker_name; }
int64_t mq_message_ext_born_timestamp(const mq_message_ext *m) { return m->born_timestamp; }
int64_t mq_message_ext_store_timestamp(const mq_message_ext *m) { return m->store_timestamp; }
int mq_message_ext_reconsume_times(const mq_message_ext *m) { return m->reconsume_times; }
int64_t mq_message_ext_commit_log_offset(const mq_message_ext *m) { return m->commit_log_offset; }
int32_t mq_message_ext_flag(const mq_message_ext *m) { return m->flag; }

const char *mq_message_ext_msg_id(const mq_message_ext *m)
{
    return m->uniq_id && *m->uniq_id ? m->uniq_id : m->offset_id;
}

const void *mq_message_ext_body(const mq_message_ext *m, size_t *len)
{
    if (len)
        *len = m->body_len;
    return m->body;
}

int mq_message_ext_next_property(const mq_message_ext *m, size_t *iter, const char **name,
                                 const char **value)
{
    if (*iter >= m->props_len)
        return 0;
    const char *k = m->props + *iter;
    size_t kl = strlen(k);
    const char *v = k + kl + 1;
    *iter += kl + strlen(v) + 2;
    *name = k;
    *value = v;
    return 1;
}

const char *mq_message_ext_property(const mq_message_ext *m, const char *name)
{
    size_t it = 0;
    const char *k, *v;
    while (mq_message_ext_next_property(m, &it, &k, &v))
        if (!strcmp(k, name))
            return v;
    return NULL;
}

int mq_message_ext_born_host(const mq_message_ext *m, char *buf, size_t cap)
{
    return msg_host_format(&m->born_host, buf, cap);
}

int mq_message_ext_store_host(const mq_message_ext *m, char *buf, size_t cap)
{
    return msg_host_format(&m->store_host, buf, cap);
}
