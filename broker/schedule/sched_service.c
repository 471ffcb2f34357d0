/*
 * sched_service.c - delivers scheduled messages (contract in schedule.h,
 * design in docs/STORE.md "Scheduled messages").
 *
 * Owns: the schedule index (sched_index.h, its own RocksDB) and two threads.
 *
 * sched-ingest: reads each queue of SCHEDULE_TOPIC_XXXX (queue N-1 = delay
 *   level N; the ConsumeQueue tag field is the due time) and queue 0 of
 *   rmq_sys_wheel_timer (due time = property TIMER_OUT_MS) from its read
 *   offset and writes one key (due ms, CommitLog offset) per message, the new
 *   read offset and the per-level "ingested" counter in ONE RocksDB batch: a
 *   crash re-reads exactly what was not indexed. A timer message due further
 *   than roll_window_ms away is keyed at now + window with the ROLL flag.
 *
 * sched-deliver: waits for the first ingest pass (so downtime backlog is
 *   delivered in due order), then repeatedly takes up to `batch` keys with
 *   due <= now in key order and for each reads the scheduled record from
 *   the CommitLog, restores topic and queue from REAL_TOPIC / REAL_QID,
 *   drops DELAY, adds SCHED_ORIGIN=<offset>:<due>, keeps everything else
 *   (body, UNIQ_KEY, born time, reconsume times) and appends them all with
 *   one store_put_batch. ROLL keys are re-put to the timer topic instead.
 *   Then one RocksDB batch deletes the keys and bumps the "delivered"
 *   counters. It sleeps until the next due key or until ingest adds keys.
 *
 * None twice: before the re-put the thread records "inflight" = the
 *   CommitLog max offset (every re-put of the batch lands at or after it);
 *   the key deletion batch removes it again. After a crash between the two,
 *   start finds "inflight", walks the CommitLog from there to its end and
 *   deletes the key named by every SCHED_ORIGIN it meets, so what was
 *   re-put is not re-put again. Under SYNC_FLUSH the keys are deleted only
 *   once the re-puts are durable.
 *
 * Invariants: a key exists for every indexed, undelivered message; the
 *   deliver thread's scan position only moves back when ingest reports a key
 *   before it (new_*, under mu); memory does not depend on the number of keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "names.h"
#include "sched_index.h"
#include "schedule.h"
#include "store.h"
#include "util.h"

enum {
    NQ = SCHED_MAX_LEVELS + 1, /* slot 0 = timer queue, slot L = delay level L */
    INGEST_MAX = 1024,         /* CQ entries read per queue per round */
};

typedef struct rl_log {
    int64_t last_ms;
    int64_t suppressed;
} rl_log;

struct sched_service {
    store *s;
    sched_config cfg;
    sched_index *ix;
    pthread_t ingest_th, deliver_th;
    bool ingest_started, deliver_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* ingest -> deliver: new keys; stop */
    bool stop;
    bool ingest_ready;      /* first ingest pass done */
    bool has_new;           /* new_due/new_off: smallest key ingested since last look */
    int64_t new_due, new_off;

    _Atomic int64_t cursor[NQ];    /* read offset of each schedule queue */
    _Atomic int64_t cq_max[NQ];    /* last seen max offset of each queue */
    _Atomic int64_t ingested[NQ];
    _Atomic int64_t delivered[NQ];
    _Atomic int64_t n_delivered, n_rolled, n_lost;
    _Atomic int64_t head_due;      /* earliest key seen by the last deliver round, 0 none */
    int64_t start_cl_max;

    rl_log rl_put, rl_lost;
};

/* ---- small helpers ------------------------------------------------------------ */

static bool rl_ok(rl_log *r, int64_t *suppressed)
{
    int64_t now = mono_ms();
    if (r->last_ms && now - r->last_ms < 10000) {
        r->suppressed++;
        return false;
    }
    r->last_ms = now;
    *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

static void slot_name(char *buf, size_t cap, const char *kind, int slot)
{
    snprintf(buf, cap, "%s:%d", kind, slot);
}

static const char *slot_topic(int slot) { return slot == 0 ? SCHED_TOPIC_TIMER : MSG_TOPIC_SCHEDULE; }
static int32_t slot_qid(int slot) { return slot == 0 ? 0 : slot - 1; }

static bool prop_i64(const char *p, size_t n, const char *key, int64_t *out)
{
    const char *v;
    size_t vl;
    char buf[32];
    if (!msg_prop_get(p, n, key, &v, &vl) || vl == 0 || vl >= sizeof buf)
        return false;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    return parse_int64(buf, INT64_MIN, INT64_MAX, out) == 0;
}

static void wait_ms(sched_service *sv, int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&sv->cv, &sv->mu, &ts);
}

void sched_config_init(sched_config *c)
{
    memset(c, 0, sizeof *c);
    str_copy(c->dir, sizeof c->dir, "./store/schedule");
    c->batch = 1024;
    c->poll_ms = 20;
    c->roll_window_ms = 24LL * 3600 * 1000;
}

/* ---- ingest ------------------------------------------------------------------- */

/* Indexes what is new in one schedule queue. Returns entries consumed. */
static int ingest_queue(sched_service *sv, int slot, sched_ibatch *b, store_record_ref *recs)
{
    const char *topic = slot_topic(slot);
    int32_t qid = slot_qid(slot);
    int64_t cur = atomic_load(&sv->cursor[slot]);
    store_get_request req = {.topic = topic, .queue_id = qid, .offset = cur,
                             .max_count = INGEST_MAX, .max_bytes = 64 << 20};
    store_get_result res;
    if (store_get_messages(sv->s, &req, recs, &res) != 0)
        return 0;
    atomic_store(&sv->cq_max[slot], res.max_offset);
    int64_t next = cur;
    int n = 0;
    int64_t now = now_ms();
    int64_t min_due = INT64_MAX, min_off = 0;
    sched_ibatch_clear(b);
    switch (res.status) {
    case STORE_GET_FOUND:
        for (int i = 0; i < res.count; i++) {
            sched_key k = {.offset = recs[i].physical_offset, .size = (int32_t)recs[i].size,
                           .level = (uint8_t)slot};
            if (slot > 0) {
                k.due_ms = recs[i].tag_code;
            } else {
                msg_record m;
                if (msg_decode(recs[i].data, recs[i].size, false, &m) != MSG_OK ||
                    !prop_i64(m.properties, m.properties_len, MSG_PROP_TIMER_OUT_MS, &k.due_ms))
                    k.due_ms = now; /* unreadable due time: deliver at once */
                if (sv->cfg.roll_window_ms > 0 && k.due_ms - now > sv->cfg.roll_window_ms) {
                    k.due_ms = now + sv->cfg.roll_window_ms;
                    k.flags = SCHED_KEY_ROLL;
                }
            }
            if (k.due_ms < 0)
                k.due_ms = 0;
            sched_ibatch_put_key(b, &k);
            if (k.due_ms < min_due || (k.due_ms == min_due && k.offset < min_off))
                min_due = k.due_ms, min_off = k.offset;
            n++;
        }
        next = res.next_begin_offset;
        break;
    case STORE_GET_NO_MATCHED_MESSAGE:
    case STORE_GET_MESSAGE_WAS_REMOVING:
    case STORE_GET_OFFSET_FOUND_NULL:
        /* entries whose records are gone (retention): step over them */
        next = res.next_begin_offset > cur ? res.next_begin_offset : cur;
        if (next != cur)
            log_warn("schedule: %s queue %d: %" PRId64 " entries from offset %" PRId64
                     " point at removed records; skipped", topic, qid, next - cur, cur);
        break;
    case STORE_GET_OFFSET_TOO_SMALL:
        log_warn("schedule: %s queue %d: read offset %" PRId64 " below the queue's min %" PRId64
                 " (retention); continuing there", topic, qid, cur, res.min_offset);
        next = res.min_offset;
        break;
    case STORE_GET_OFFSET_OVERFLOW_BADLY:
        log_warn("schedule: %s queue %d: read offset %" PRId64 " beyond the queue's max %" PRId64
                 " (truncated after a crash); continuing there", topic, qid, cur, res.max_offset);
        next = res.max_offset;
        break;
    default:
        break;
    }
    store_pin_release(&res.pin);
    if (next == cur && n == 0)
        return 0;
    char name[32];
    slot_name(name, sizeof name, "q", slot);
    sched_ibatch_set(b, name, next);
    if (n > 0) {
        slot_name(name, sizeof name, "i", slot);
        sched_ibatch_set(b, name, atomic_load(&sv->ingested[slot]) + n);
    }
    if (sched_index_write(sv->ix, b, false) != 0)
        return 0; /* logged; retried next round */
    atomic_store(&sv->cursor[slot], next);
    atomic_fetch_add(&sv->ingested[slot], n);
    if (n > 0) {
        pthread_mutex_lock(&sv->mu);
        if (!sv->has_new || min_due < sv->new_due || (min_due == sv->new_due && min_off < sv->new_off)) {
            sv->new_due = min_due;
            sv->new_off = min_off;
            sv->has_new = true;
        }
        pthread_cond_broadcast(&sv->cv);
        pthread_mutex_unlock(&sv->mu);
    }
    return n > 0 ? n : 1;
}

static void *ingest_main(void *arg)
{
    sched_service *sv = arg;
    log_set_thread_name("sched-ingest");
    sched_ibatch *b = sched_ibatch_new();
    store_record_ref *recs = xmalloc(INGEST_MAX * sizeof *recs);
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        bool stop = sv->stop;
        pthread_mutex_unlock(&sv->mu);
        if (stop)
            break;
        int got = 0;
        int32_t ids[NQ];
        int nq = store_list_queues(sv->s, MSG_TOPIC_SCHEDULE, ids, NQ);
        for (int i = 0; i < nq && i < NQ; i++)
            if (ids[i] >= 0 && ids[i] < SCHED_MAX_LEVELS)
                got += ingest_queue(sv, ids[i] + 1, b, recs);
        got += ingest_queue(sv, 0, b, recs);
        pthread_mutex_lock(&sv->mu);
        if (!sv->ingest_ready && got == 0 && store_dispatched_offset(sv->s) >= sv->start_cl_max) {
            sv->ingest_ready = true;
            pthread_cond_broadcast(&sv->cv);
        }
        if (got == 0 && !sv->stop)
            wait_ms(sv, sv->cfg.poll_ms);
        pthread_mutex_unlock(&sv->mu);
    }
    free(recs);
    sched_ibatch_free(b);
    return NULL;
}

/* ---- delivery ----------------------------------------------------------------- */

typedef struct deliver_buf {
    sched_key *keys;
    msg_record *recs;
    size_t *prop_at;     /* offset of each record's properties in props */
    int *key_of;         /* key index of each record */
    bytebuf props;
    bytebuf one;
    sched_ibatch *b;
} deliver_buf;

/* Builds the delivered form of the record at k into d->recs[*nrec]. Returns
 * 1 built, 0 the record is gone or unusable (the key is dropped), -1 the pin
 * is full (stop the batch here). */
static int build_one(sched_service *sv, deliver_buf *d, int ki, store_pin *pin, int *nrec)
{
    const sched_key *k = &d->keys[ki];
    store_record_ref ref;
    int rc = store_read_record(sv->s, k->offset, &ref, pin);
    if (rc == STORE_ERR_FULL)
        return -1;
    msg_record m;
    const char *why = NULL;
    const char *rt = NULL;
    size_t rtl = 0;
    int64_t rq = 0;
    if (rc < 0)
        why = "record no longer in the CommitLog";
    else if (msg_decode(ref.data, ref.size, false, &m) != MSG_OK)
        why = "record unreadable";
    else if (!(k->flags & SCHED_KEY_ROLL) &&
             (!msg_prop_get(m.properties, m.properties_len, MSG_PROP_REAL_TOPIC, &rt, &rtl) || rtl == 0 ||
              !prop_i64(m.properties, m.properties_len, MSG_PROP_REAL_QID, &rq) || rq < 0 || rq > INT32_MAX))
        why = "REAL_TOPIC / REAL_QID missing";
    else if (rt && rtl == strlen(MSG_TOPIC_TRANS_HALF) && !memcmp(rt, MSG_TOPIC_TRANS_HALF, rtl))
        why = "real topic is the transaction half topic (discarded, as RocketMQ)";
    if (why) {
        int64_t supp;
        atomic_fetch_add(&sv->n_lost, 1);
        if (rl_ok(&sv->rl_lost, &supp))
            log_warn("schedule: message at CommitLog offset %" PRId64 " (due %" PRId64 ") dropped: %s"
                     " (%" PRId64 " similar lines suppressed)", k->offset, k->due_ms, why, supp);
        return 0;
    }
    bytebuf *one = &d->one;
    bytebuf_clear(one);
    bytebuf_append(one, m.properties, m.properties_len);
    char origin[48];
    snprintf(origin, sizeof origin, "%" PRId64 ":%" PRId64, k->offset, k->due_ms);
    msg_prop_set(one, SCHED_PROP_ORIGIN, origin);
    msg_record *r = &d->recs[*nrec];
    *r = m;
    r->queue_offset = 0;
    r->physical_offset = 0;
    r->store_timestamp = 0;
    if (k->flags & SCHED_KEY_ROLL) {
        r->topic = SCHED_TOPIC_TIMER;
        r->topic_len = (uint32_t)strlen(SCHED_TOPIC_TIMER);
        r->queue_id = 0;
    } else {
        msg_prop_remove(one, MSG_PROP_DELAY);
        r->topic = rt;
        r->topic_len = (uint32_t)rtl;
        r->queue_id = (int32_t)rq;
    }
    d->prop_at[*nrec] = d->props.len;
    r->properties_len = (uint32_t)one->len;
    bytebuf_append(&d->props, one->data, one->len);
    d->key_of[*nrec] = ki;
    (*nrec)++;
    return 1;
}

static int put_records(sched_service *sv, msg_record *recs, int n, store_put_result *res)
{
    int rc = store_put_batch(sv->s, recs, (size_t)n, res, NULL);
    if (rc == 0 || res->status != STORE_PUT_MESSAGE_ILLEGAL || n == 1)
        return rc;
    /* a batch too large for one segment, or one message the store refuses
     * (e.g. its real topic is no longer a legal name): one by one */
    int64_t end = 0;
    for (int i = 0; i < n; i++) {
        rc = store_put(sv->s, &recs[i], res);
        if (rc != 0 && res->status != STORE_PUT_MESSAGE_ILLEGAL)
            return rc;
        if (rc == 0) {
            end = res->physical_offset + res->wrote_bytes;
            continue;
        }
        int64_t supp;
        atomic_fetch_add(&sv->n_lost, 1);
        if (rl_ok(&sv->rl_lost, &supp))
            log_warn("schedule: due message for %.*s refused by the store: %s; dropped"
                     " (%" PRId64 " similar lines suppressed)", (int)recs[i].topic_len, recs[i].topic,
                     res->remark, supp);
    }
    res->status = STORE_PUT_OK;
    res->physical_offset = end;
    res->wrote_bytes = 0;
    return 0;
}

/* Delivers keys[0..n). Returns how many keys were consumed (delivered or
 * dropped), 0 if the store refused the batch (retried later). */
static int deliver_batch(sched_service *sv, deliver_buf *d, int n)
{
    store_pin pin;
    store_pin_init(&pin);
    bytebuf_clear(&d->props);
    int nrec = 0, done = 0;
    for (; done < n; done++)
        if (build_one(sv, d, done, &pin, &nrec) < 0)
            break;
    if (done == 0) {
        store_pin_release(&pin);
        return 0;
    }
    for (int i = 0; i < nrec; i++)
        d->recs[i].properties = (const char *)d->props.data + d->prop_at[i];
    if (nrec > 0) {
        sched_ibatch_clear(d->b);
        sched_ibatch_set(d->b, "inflight", store_commitlog_max_offset(sv->s));
        /* SYNC_FLUSH: the marker must survive a machine crash that keeps the re-puts */
        if (sched_index_write(sv->ix, d->b, sv->cfg.sync_flush) != 0) {
            store_pin_release(&pin);
            return 0;
        }
        store_put_result res;
        int rc = put_records(sv, d->recs, nrec, &res);
        store_pin_release(&pin);
        store_wake_dispatcher(sv->s); /* the broker defers dispatcher wake-ups to the putter */
        if (rc != 0) {
            int64_t supp;
            if (rl_ok(&sv->rl_put, &supp))
                log_warn("schedule: re-put of %d due messages refused: %s (%s); retrying"
                         " (%" PRId64 " similar lines suppressed)", nrec,
                         store_put_status_name(res.status), res.remark, supp);
            return 0;
        }
        if (sv->cfg.sync_flush &&
            store_wait_flushed_blocking(sv->s, res.physical_offset + res.wrote_bytes) != STORE_PUT_OK)
            log_warn("schedule: re-put batch not durable within the flush timeout; keys deleted anyway");
    } else {
        store_pin_release(&pin);
    }
    int64_t add[NQ] = {0};
    int rolled = 0;
    sched_ibatch_clear(d->b);
    for (int i = 0; i < done; i++) {
        sched_ibatch_del_key(d->b, d->keys[i].due_ms, d->keys[i].offset);
        add[d->keys[i].level < NQ ? d->keys[i].level : 0]++;
    }
    for (int i = 0; i < nrec; i++)
        if (d->keys[d->key_of[i]].flags & SCHED_KEY_ROLL)
            rolled++;
    char name[32];
    for (int l = 0; l < NQ; l++) {
        if (!add[l])
            continue;
        slot_name(name, sizeof name, "d", l);
        sched_ibatch_set(d->b, name, atomic_load(&sv->delivered[l]) + add[l]);
    }
    sched_ibatch_del(d->b, "inflight");
    if (sched_index_write(sv->ix, d->b, false) != 0)
        log_error("schedule: could not delete %d delivered keys; a restart repairs it", done);
    for (int l = 0; l < NQ; l++)
        atomic_fetch_add(&sv->delivered[l], add[l]);
    atomic_fetch_add(&sv->n_delivered, nrec - rolled);
    atomic_fetch_add(&sv->n_rolled, rolled);
    return done;
}

static void *deliver_main(void *arg)
{
    sched_service *sv = arg;
    log_set_thread_name("sched-deliver");
    int cap = sv->cfg.batch;
    deliver_buf d = {0};
    d.keys = xmalloc((size_t)cap * sizeof *d.keys);
    d.recs = xmalloc((size_t)cap * sizeof *d.recs);
    d.prop_at = xmalloc((size_t)cap * sizeof *d.prop_at);
    d.key_of = xmalloc((size_t)cap * sizeof *d.key_of);
    bytebuf_init(&d.props);
    bytebuf_init(&d.one);
    d.b = sched_ibatch_new();
    int64_t from_due = 0, from_off = 0;
    pthread_mutex_lock(&sv->mu);
    while (!sv->ingest_ready && !sv->stop)
        wait_ms(sv, 1000);
    pthread_mutex_unlock(&sv->mu);
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        if (sv->stop) {
            pthread_mutex_unlock(&sv->mu);
            break;
        }
        if (sv->has_new) {
            if (sv->new_due < from_due || (sv->new_due == from_due && sv->new_off < from_off)) {
                from_due = sv->new_due;
                from_off = sv->new_off;
            }
            sv->has_new = false;
        }
        pthread_mutex_unlock(&sv->mu);
        int64_t now = now_ms(), next = 0;
        int n = sched_index_take(sv->ix, from_due, from_off, now, d.keys, cap, &next);
        if (n > 0) {
            atomic_store(&sv->head_due, d.keys[0].due_ms);
            int done = deliver_batch(sv, &d, n);
            if (done > 0) {
                from_due = d.keys[done - 1].due_ms;
                from_off = d.keys[done - 1].offset + 1;
                continue;
            }
            /* the store refused: back off a little */
            pthread_mutex_lock(&sv->mu);
            if (!sv->stop)
                wait_ms(sv, 200);
            pthread_mutex_unlock(&sv->mu);
            continue;
        }
        atomic_store(&sv->head_due, next);
        pthread_mutex_lock(&sv->mu);
        if (!sv->stop && !sv->has_new) {
            int64_t wait = next > 0 ? next - now_ms() : 1000;
            if (wait > 1000)
                wait = 1000;
            wait_ms(sv, wait);
        }
        pthread_mutex_unlock(&sv->mu);
    }
    sched_ibatch_free(d.b);
    bytebuf_free(&d.props);
    bytebuf_free(&d.one);
    free(d.keys);
    free(d.recs);
    free(d.prop_at);
    free(d.key_of);
    return NULL;
}

/* ---- start: repair an interrupted delivery ------------------------------------ */

static int repair(sched_service *sv)
{
    int64_t from = sched_index_get(sv->ix, "inflight", -1);
    if (from < 0)
        return 0;
    int64_t seg = sv->cfg.commitlog_segment_size > 0 ? sv->cfg.commitlog_segment_size : (1LL << 30);
    int64_t off = from < store_commitlog_min_offset(sv->s) ? store_commitlog_min_offset(sv->s) : from;
    int64_t end = store_commitlog_max_offset(sv->s);
    int64_t found = 0, scanned = 0;
    sched_ibatch *b = sched_ibatch_new();
    int64_t add[NQ] = {0};
    while (off < end) {
        store_pin pin;
        store_pin_init(&pin);
        store_record_ref ref;
        msg_record m;
        if (store_read_record(sv->s, off, &ref, &pin) != 0 ||
            msg_decode(ref.data, ref.size, false, &m) != MSG_OK) {
            store_pin_release(&pin);
            off = (off / seg + 1) * seg; /* end-of-segment blank: next segment */
            continue;
        }
        scanned++;
        const char *v;
        size_t vl;
        if (msg_prop_get(m.properties, m.properties_len, SCHED_PROP_ORIGIN, &v, &vl) && vl < 48) {
            char buf[48];
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            int64_t o, due;
            sched_key k;
            if (sscanf(buf, "%" SCNd64 ":%" SCNd64, &o, &due) == 2 && sched_index_find(sv->ix, due, o, &k)) {
                sched_ibatch_del_key(b, due, o);
                add[k.level < NQ ? k.level : 0]++;
                found++;
            }
        }
        off += ref.size;
        store_pin_release(&pin);
    }
    char name[32];
    for (int l = 0; l < NQ; l++) {
        if (!add[l])
            continue;
        slot_name(name, sizeof name, "d", l);
        sched_ibatch_set(b, name, atomic_load(&sv->delivered[l]) + add[l]);
        atomic_fetch_add(&sv->delivered[l], add[l]);
    }
    sched_ibatch_del(b, "inflight");
    int rc = sched_index_write(sv->ix, b, true);
    sched_ibatch_free(b);
    log_info("schedule: interrupted delivery repaired: %" PRId64 " messages already re-put before the "
             "crash (found among %" PRId64 " records after CommitLog offset %" PRId64 ")",
             found, scanned, from);
    return rc;
}

int sched_service_start(store *s, const sched_config *cfg, sched_service **out, char *err, size_t errlen)
{
    sched_service *sv = xcalloc(1, sizeof *sv);
    sv->s = s;
    sv->cfg = *cfg;
    if (sv->cfg.batch <= 0)
        sv->cfg.batch = 1024;
    if (sv->cfg.poll_ms <= 0)
        sv->cfg.poll_ms = 20;
    if (sched_index_open(cfg->dir, &sv->ix, err, errlen) != 0) {
        free(sv);
        return -1;
    }
    pthread_mutex_init(&sv->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sv->cv, &ca);
    pthread_condattr_destroy(&ca);
    char name[32];
    for (int l = 0; l < NQ; l++) {
        slot_name(name, sizeof name, "q", l);
        atomic_store(&sv->cursor[l], sched_index_get(sv->ix, name, 0));
        slot_name(name, sizeof name, "i", l);
        atomic_store(&sv->ingested[l], sched_index_get(sv->ix, name, 0));
        slot_name(name, sizeof name, "d", l);
        atomic_store(&sv->delivered[l], sched_index_get(sv->ix, name, 0));
    }
    if (repair(sv) != 0) {
        snprintf(err, errlen, "schedule index %s: cannot record the repair of an interrupted delivery",
                 cfg->dir);
        sched_service_stop(sv);
        return -1;
    }
    sv->start_cl_max = store_commitlog_max_offset(s);
    if (pthread_create(&sv->ingest_th, NULL, ingest_main, sv) != 0) {
        snprintf(err, errlen, "cannot start sched-ingest: %s", strerror(errno));
        sched_service_stop(sv);
        return -1;
    }
    sv->ingest_started = true;
    if (pthread_create(&sv->deliver_th, NULL, deliver_main, sv) != 0) {
        snprintf(err, errlen, "cannot start sched-deliver: %s", strerror(errno));
        sched_service_stop(sv);
        return -1;
    }
    sv->deliver_started = true;
    *out = sv;
    return 0;
}

void sched_service_stop(sched_service *sv)
{
    if (!sv)
        return;
    pthread_mutex_lock(&sv->mu);
    sv->stop = true;
    pthread_cond_broadcast(&sv->cv);
    pthread_mutex_unlock(&sv->mu);
    if (sv->ingest_started)
        pthread_join(sv->ingest_th, NULL);
    if (sv->deliver_started)
        pthread_join(sv->deliver_th, NULL);
    sched_index_close(sv->ix);
    pthread_cond_destroy(&sv->cv);
    pthread_mutex_destroy(&sv->mu);
    free(sv);
}

void sched_service_stats(sched_service *sv, sched_stats *out)
{
    memset(out, 0, sizeof *out);
    int n = store_delay_level_count(sv->s);
    out->levels = n < SCHED_MAX_LEVELS ? n : SCHED_MAX_LEVELS;
    for (int slot = 0; slot < NQ; slot++) {
        int64_t min, max;
        store_queue_offsets(sv->s, slot_topic(slot), slot_qid(slot), &min, &max);
        int64_t cur = atomic_load(&sv->cursor[slot]);
        int64_t unread = max > cur ? max - cur : 0;
        int64_t indexed = atomic_load(&sv->ingested[slot]) - atomic_load(&sv->delivered[slot]);
        if (indexed < 0)
            indexed = 0;
        out->indexed += indexed;
        out->ingest_lag += unread;
        if (slot == 0)
            out->timer_pending = unread + indexed;
        else
            out->level_pending[slot - 1] = unread + indexed;
    }
    out->delivered = atomic_load(&sv->n_delivered);
    out->rolled = atomic_load(&sv->n_rolled);
    out->lost = atomic_load(&sv->n_lost);
    int64_t head = atomic_load(&sv->head_due), now = now_ms();
    out->next_due_ms = head;
    out->lag_ms = head > 0 && head < now ? now - head : 0;
}
