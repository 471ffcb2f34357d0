/*
 * query.c - the read side of store.h: pulls through the ConsumeQueue, reads
 * by CommitLog offset, queue offsets and times, key-index queries, topic
 * listing and deletion. Runs on the caller's thread; takes only short locks
 * (table and file-array lookups) and references on the files it touches.
 */
#define _GNU_SOURCE
#include <string.h>

#include "bytes.h"
#include "index.h"
#include "log.h"
#include "store_parts.h"
#include "util.h"

#define DEFAULT_MAX_BYTES (256 * 1024)
#define MIN_SCAN_ENTRIES 16000

void store_pin_init(store_pin *pin) { memset(pin, 0, sizeof *pin); }

void store_pin_release(store_pin *pin)
{
    for (int i = 0; i < pin->count; i++)
        mf_unref(pin->files[i]);
    pin->count = 0;
}

/* Returns the pinned segment containing phys, pinning it if needed; NULL if
 * the segment is gone, *full set if the pin has no room. */
static mapped_file *pin_segment(const store_read_parts *s, store_pin *pin, int64_t phys, bool *full)
{
    *full = false;
    for (int i = pin->count; i-- > 0;) {
        mapped_file *f = pin->files[i];
        if (phys >= f->start && phys < f->start + f->size)
            return f;
    }
    if (pin->count == STORE_PIN_MAX) {
        *full = true;
        return NULL;
    }
    mapped_file *f = cl_acquire(s->cl, phys);
    if (f)
        pin->files[pin->count++] = f;
    return f;
}

static consume_queue *lookup(const store_read_parts *s, const char *topic, int32_t qid)
{
    if (!topic)
        return NULL;
    return cq_get(s->cqs, topic, strlen(topic), qid);
}

int store_get_messages(store *st, const store_get_request *req, store_record_ref *records,
                       store_get_result *res)
{
    const store_read_parts *s = store_read_parts_of(st);
    memset(res, 0, sizeof *res);
    if (req->max_count <= 0 || !records)
        return STORE_ERR_INVALID;
    consume_queue *q = lookup(s, req->topic, req->queue_id);
    if (!q) {
        res->status = STORE_GET_NO_MATCHED_LOGIC_QUEUE;
        res->next_begin_offset = 0;
        return 0;
    }
    int64_t min = cq_min(q), max = cq_max(q), off = req->offset;
    res->min_offset = min;
    res->max_offset = max;
    if (max == 0) {
        res->status = STORE_GET_NO_MESSAGE_IN_QUEUE;
        res->next_begin_offset = 0;
    } else if (off < min) {
        res->status = STORE_GET_OFFSET_TOO_SMALL;
        res->next_begin_offset = min;
    } else if (off == max) {
        res->status = STORE_GET_OFFSET_OVERFLOW_ONE;
        res->next_begin_offset = off;
    } else if (off > max) {
        res->status = STORE_GET_OFFSET_OVERFLOW_BADLY;
        res->next_begin_offset = min == 0 ? min : max;
    } else {
        store_get_status st = STORE_GET_NO_MATCHED_MESSAGE;
        int64_t max_bytes = req->max_bytes > 0 ? req->max_bytes : DEFAULT_MAX_BYTES;
        int64_t scan_limit = MQ_MAX((int64_t)MIN_SCAN_ENTRIES, (int64_t)req->max_count * 20);
        int64_t cl_min = cl_min_offset(s->cl);
        mapped_file *cqf = NULL;
        int64_t i = off;
        for (int64_t scanned = 0; i < max && scanned < scan_limit; i++, scanned++) {
            if (!cqf || i * CQ_UNIT >= cqf->start + cqf->size || i * CQ_UNIT < cqf->start) {
                if (cqf)
                    mf_unref(cqf);
                cqf = cq_file_at(q, i);
                if (!cqf) {
                    if (res->count == 0)
                        st = STORE_GET_OFFSET_FOUND_NULL;
                    break;
                }
            }
            cq_entry e;
            cq_entry_at(cqf, i, &e);
            if (e.size <= 0 || e.size == CQ_BLANK_SIZE)
                continue;
            if (res->count >= req->max_count ||
                (res->count > 0 && res->total_bytes + e.size > max_bytes))
                break;
            if (req->cq_filter && !req->cq_filter(req->filter_arg, e.tag))
                continue;
            if (e.phys < cl_min) {
                if (res->count == 0)
                    st = STORE_GET_MESSAGE_WAS_REMOVING;
                continue;
            }
            bool full;
            mapped_file *seg = pin_segment(s, &res->pin, e.phys, &full);
            if (full)
                break;
            if (!seg || e.phys + e.size > seg->start + seg->size) {
                if (res->count == 0)
                    st = STORE_GET_MESSAGE_WAS_REMOVING;
                continue;
            }
            const uint8_t *data = seg->base + (e.phys - seg->start);
            if (req->record_filter && !req->record_filter(req->filter_arg, data, (uint32_t)e.size))
                continue;
            store_record_ref *r = &records[res->count++];
            r->data = data;
            r->size = (uint32_t)e.size;
            r->queue_offset = i;
            r->physical_offset = e.phys;
            r->tag_code = e.tag;
            res->total_bytes += e.size;
            st = STORE_GET_FOUND;
        }
        if (cqf)
            mf_unref(cqf);
        res->status = st;
        res->next_begin_offset = i;
    }
    cq_unref(q);
    return 0;
}

/* Validates a record at phys inside a referenced segment; fills r. */
static int check_at(const store_read_parts *s, mapped_file *f, int64_t phys, msg_record *r)
{
    int64_t rel = phys - f->start;
    int64_t avail = MQ_MIN(f->size - rel, cl_max_offset(s->cl) - phys);
    int rc = cl_check_record(f->base + rel, avail, phys, false, r);
    return rc > 0 ? rc : STORE_ERR_NOT_FOUND;
}

int store_read_record(store *st, int64_t phys, store_record_ref *out, store_pin *pin)
{
    const store_read_parts *s = store_read_parts_of(st);
    if (phys < cl_min_offset(s->cl) || phys >= cl_max_offset(s->cl))
        return STORE_ERR_NOT_FOUND;
    bool full;
    mapped_file *f = pin_segment(s, pin, phys, &full);
    if (full)
        return STORE_ERR_FULL;
    if (!f)
        return STORE_ERR_NOT_FOUND;
    msg_record r;
    int size = check_at(s, f, phys, &r);
    if (size < 0)
        return size; /* the segment stays in the pin; released with it */
    out->data = f->base + (phys - f->start);
    out->size = (uint32_t)size;
    out->queue_offset = r.queue_offset;
    out->physical_offset = phys;
    out->tag_code = 0;
    return 0;
}

/* Store time of the record a CQ entry points at. */
static int entry_store_time(const store_read_parts *s, const cq_entry *e, int64_t *ts)
{
    if (e->size <= 0 || e->size == CQ_BLANK_SIZE || e->phys < cl_min_offset(s->cl))
        return STORE_ERR_NOT_FOUND;
    mapped_file *f = cl_acquire(s->cl, e->phys);
    if (!f)
        return STORE_ERR_NOT_FOUND;
    int rc = STORE_ERR_NOT_FOUND;
    int64_t rel = e->phys - f->start;
    if (rel + e->size <= f->size && e->size >= MSG_FIXED_LEN_V4) {
        const uint8_t *p = f->base + rel;
        int32_t sysflag = (int32_t)be32_load(p + MSG_POS_SYSFLAG);
        size_t pos = msg_store_timestamp_pos(sysflag);
        if ((int64_t)pos + 8 <= e->size) {
            *ts = (int64_t)be64_load(p + pos);
            rc = 0;
        }
    }
    mf_unref(f);
    return rc;
}

static int offset_time(const store_read_parts *s, consume_queue *q, int64_t off, int64_t *ts)
{
    cq_entry e;
    int rc = cq_read(q, off, &e);
    return rc < 0 ? rc : entry_store_time(s, &e, ts);
}

void store_queue_offsets(store *st, const char *topic, int32_t qid, int64_t *min, int64_t *max)
{
    const store_read_parts *s = store_read_parts_of(st);
    consume_queue *q = lookup(s, topic, qid);
    *min = q ? cq_min(q) : 0;
    *max = q ? cq_max(q) : 0;
    if (q)
        cq_unref(q);
}

int store_offset_store_time(store *st, const char *topic, int32_t qid, int64_t offset,
                            int64_t *store_ms)
{
    const store_read_parts *s = store_read_parts_of(st);
    consume_queue *q = lookup(s, topic, qid);
    if (!q)
        return STORE_ERR_NOT_FOUND;
    int rc = offset_time(s, q, offset, store_ms);
    cq_unref(q);
    return rc;
}

/* First queue offset whose record is still in the CommitLog. */
static int64_t first_live(const store_read_parts *s, consume_queue *q)
{
    int64_t lo = cq_lower_bound_phys(q, cl_min_offset(s->cl));
    return MQ_MAX(lo, cq_min(q));
}

int store_earliest_message_time(store *st, const char *topic, int32_t qid, int64_t *store_ms)
{
    const store_read_parts *s = store_read_parts_of(st);
    consume_queue *q = lookup(s, topic, qid);
    if (!q)
        return STORE_ERR_NOT_FOUND;
    int64_t first = first_live(s, q);
    int rc = first < cq_max(q) ? offset_time(s, q, first, store_ms) : STORE_ERR_NOT_FOUND;
    cq_unref(q);
    return rc;
}

int store_queue_last_store_time(store *st, const char *topic, int32_t qid, int64_t *store_ms)
{
    const store_read_parts *s = store_read_parts_of(st);
    consume_queue *q = lookup(s, topic, qid);
    if (!q)
        return STORE_ERR_NOT_FOUND;
    int64_t max = cq_max(q);
    int rc = max > cq_min(q) ? offset_time(s, q, max - 1, store_ms) : STORE_ERR_NOT_FOUND;
    cq_unref(q);
    return rc;
}

int store_commitlog_earliest_time(store *st, int64_t *store_ms)
{
    const store_read_parts *s = store_read_parts_of(st);
    size_t n;
    mapped_file *f = cl_first(s->cl, &n);
    if (!f)
        return STORE_ERR_NOT_FOUND;
    int rc = STORE_ERR_NOT_FOUND;
    if (f->start < cl_max_offset(s->cl)) {
        msg_record r;
        if (check_at(s, f, f->start, &r) > 0) {
            *store_ms = r.store_timestamp;
            rc = 0;
        }
    }
    mf_unref(f);
    return rc;
}

int store_search_offset_by_time(store *st, const char *topic, int32_t qid, int64_t ts,
                                store_boundary boundary, int64_t *offset)
{
    const store_read_parts *s = store_read_parts_of(st);
    consume_queue *q = lookup(s, topic, qid);
    if (!q) {
        *offset = 0;
        return 0;
    }
    int64_t lo = first_live(s, q), max = cq_max(q);
    if (lo >= max) {
        *offset = max;
        cq_unref(q);
        return 0;
    }
    /* Store times grow with the queue offset (they are taken under the put
     * lock); a record whose time cannot be read counts as "too early". */
    int64_t l = lo, h = max;
    while (l < h) {
        int64_t mid = l + (h - l) / 2, t;
        bool left_of = offset_time(s, q, mid, &t) != 0 ||
                       (boundary == STORE_BOUNDARY_LOWER ? t < ts : t <= ts);
        if (left_of)
            l = mid + 1;
        else
            h = mid;
    }
    if (boundary == STORE_BOUNDARY_LOWER)
        *offset = l;                         /* == max when ts is after the last */
    else
        *offset = l > lo ? l - 1 : lo;       /* == min when ts is before the first */
    cq_unref(q);
    return 0;
}

int store_list_queues(store *st, const char *topic, int32_t *ids, int cap)
{
    const store_read_parts *s = store_read_parts_of(st);
    size_t n;
    consume_queue **qs = cq_snapshot(s->cqs, topic, &n);
    /* insertion sort: a topic has few queues */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && qs[j - 1]->qid > qs[j]->qid; j--) {
            consume_queue *t = qs[j];
            qs[j] = qs[j - 1];
            qs[j - 1] = t;
        }
    for (size_t i = 0; i < n && (int)i < cap; i++)
        ids[i] = qs[i]->qid;
    cq_snapshot_free(qs, n);
    return (int)n;
}

void store_foreach_queue(store *st, store_queue_cb cb, void *arg)
{
    const store_read_parts *s = store_read_parts_of(st);
    size_t n;
    consume_queue **qs = cq_snapshot(s->cqs, NULL, &n);
    for (size_t i = 0; i < n; i++)
        if (!cb(arg, qs[i]->topic, qs[i]->qid, cq_min(qs[i]), cq_max(qs[i])))
            break;
    cq_snapshot_free(qs, n);
}

int store_delete_topic(store *st, const char *topic)
{
    const store_read_parts *s = store_read_parts_of(st);
    if (!topic || !*topic || strlen(topic) > STORE_TOPIC_MAX || strchr(topic, '/') ||
        !strcmp(topic, ".") || !strcmp(topic, ".."))
        return STORE_ERR_INVALID;
    cl_queue_remove_topic(s->cl, topic);
    int rc = cq_delete_topic(s->cqs, topic);
    idx_delete_topic(s->kv, topic);
    if (rc == 0)
        log_info("deleted the ConsumeQueues of topic %s", topic);
    return rc;
}

/* Does the record at phys belong to topic and carry key (a KEYS token or its
 * UNIQ_KEY)? Guards against index entries left behind by records that a
 * crash recovery cut off, whose offsets new records may since have reused. */
static bool record_has_key(const store_read_parts *s, int64_t phys, const char *topic, size_t tlen,
                           const char *key, size_t klen)
{
    mapped_file *f = cl_acquire(s->cl, phys);
    if (!f)
        return false;
    msg_record r;
    bool ok = check_at(s, f, phys, &r) > 0 && r.topic_len == tlen &&
              memcmp(r.topic, topic, tlen) == 0;
    if (ok) {
        const char *v;
        size_t vl;
        ok = false;
        if (msg_prop_get(r.properties, r.properties_len, MSG_PROP_UNIQ_KEY, &v, &vl) &&
            vl == klen && memcmp(v, key, klen) == 0)
            ok = true;
        if (!ok && msg_prop_get(r.properties, r.properties_len, MSG_PROP_KEYS, &v, &vl)) {
            const char *end = v + vl;
            while (v < end && !ok) {
                const char *sp = memchr(v, MSG_KEY_SEPARATOR, (size_t)(end - v));
                const char *te = sp ? sp : end;
                ok = (size_t)(te - v) == klen && memcmp(v, key, klen) == 0;
                v = te + 1;
            }
        }
    }
    mf_unref(f);
    return ok;
}

int store_query_by_key(store *st, const char *topic, const char *key, int64_t begin_ms,
                       int64_t end_ms, int64_t *phys_offsets, int cap)
{
    const store_read_parts *s = store_read_parts_of(st);
    if (!topic || !key || cap < 0)
        return STORE_ERR_INVALID;
    int n = idx_query(s->kv, topic, key, begin_ms, end_ms, cl_min_offset(s->cl),
                      phys_offsets, cap);
    size_t tlen = strlen(topic), klen = strlen(key);
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (record_has_key(s, phys_offsets[i], topic, tlen, key, klen))
            phys_offsets[kept++] = phys_offsets[i];
    return kept;
}

int store_query_by_uniq_key(store *st, const char *topic, const char *uniq_key,
                            int64_t *phys_offsets, int cap)
{
    return store_query_by_key(st, topic, uniq_key, 0, INT64_MAX, phys_offsets, cap);
}
