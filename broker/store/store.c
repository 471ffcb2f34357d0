/*
 * store.c - the store object: configuration, open/close, the put path and
 * durability waits, delay levels, stats. Reads and queries are in query.c.
 *
 * The put path does the per-message work that needs no lock (validation,
 * body CRC, record size) on the caller's thread, then hands the batch to
 * cl_put, which holds the CommitLog's put lock for the memcpy only.
 */
#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"
#include "log.h"
#include "store_internal.h"
#include "util.h"

#define DEFAULT_DELAY_LEVELS "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

const char *store_strerror(int code)
{
    switch (code) {
    case 0: return "ok";
    case STORE_ERR_INVALID: return "invalid argument";
    case STORE_ERR_NOT_FOUND: return "not found";
    case STORE_ERR_IO: return "I/O error";
    case STORE_ERR_LOCKED: return "store locked by another process";
    case STORE_ERR_CORRUPT: return "store data corrupt";
    case STORE_ERR_CLOSED: return "store closed";
    case STORE_ERR_KV: return "RocksDB error";
    case STORE_ERR_FULL: return "array too small";
    default: return "unknown store error";
    }
}

const char *store_put_status_name(store_put_status st)
{
    switch (st) {
#define NAME_(name, value, text, code) case STORE_PUT_##name: return text;
    STORE_PUT_STATUS_TABLE(NAME_)
#undef NAME_
    }
    return "UNKNOWN_ERROR";
}

const char *store_get_status_name(store_get_status st)
{
    switch (st) {
#define NAME_(name, value, text) case STORE_GET_##name: return text;
    STORE_GET_STATUS_TABLE(NAME_)
#undef NAME_
    }
    return "UNKNOWN";
}

void store_config_init(store_config *c)
{
    memset(c, 0, sizeof *c);
    str_copy(c->store_path_root_dir, sizeof c->store_path_root_dir, "./store");
    c->maped_file_size_commit_log = 1024LL * 1024 * 1024;
    c->maped_file_size_consume_queue = 300000LL * CQ_UNIT;
    c->flush_disk_type = STORE_ASYNC_FLUSH;
    c->flush_interval_commit_log = 500;
    c->flush_commit_log_least_pages = 4;
    c->flush_commit_log_thorough_interval = 10000;
    c->sync_flush_timeout = 5000;
    c->flush_interval_consume_queue = 1000;
    c->max_message_size = 4 * 1024 * 1024;
    c->file_reserved_time = 72;
    str_copy(c->delete_when, sizeof c->delete_when, "04");
    c->disk_max_used_space_ratio = 75;
    c->disk_space_clean_forcibly_ratio = 85;
    c->disk_space_warning_level_ratio = 90;
    c->clean_file_forcibly_enable = false; /* RocketMQ: true; never lose a backlog by default */
    c->clean_resource_interval = 10000;
    c->delete_commit_log_files_max = 10;
    c->message_index_enable = true;
    str_copy(c->message_delay_level, sizeof c->message_delay_level, DEFAULT_DELAY_LEVELS);
    msg_host_set(&c->store_host, "127.0.0.1", 10911);
    c->truncate_to = -1;
}

int store_delay_levels_parse(const char *spec, int64_t *levels_ms, int cap)
{
    char buf[256];
    if (!str_copy(buf, sizeof buf, spec))
        return -1;
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        size_t len = strlen(tok);
        if (len < 2 || n >= cap)
            return -1;
        int64_t unit;
        if (len >= 3 && tok[len - 2] == 'm' && tok[len - 1] == 's') {
            unit = 1; /* "500ms": short levels for tests and benchmarks */
            tok[--len] = '\0';
        } else {
            switch (tok[len - 1]) {
            case 's': unit = 1000; break;
            case 'm': unit = 60 * 1000; break;
            case 'h': unit = 3600 * 1000; break;
            case 'd': unit = 24 * 3600 * 1000; break;
            default: return -1;
            }
        }
        tok[len - 1] = '\0';
        int64_t v;
        if (parse_int64(tok, 0, INT64_MAX / unit, &v) != 0)
            return -1;
        levels_ms[n++] = v * unit;
    }
    return n;
}

int store_delay_level_count(store *s) { return s->ndelay; }

int64_t store_deliver_time(store *s, int level, int64_t store_ms)
{
    return cq_sink_deliver_time(&s->cqsink, level, store_ms);
}

/* ---- open / close ---------------------------------------------------------- */

static int check_config(const store_config *c, char *err, size_t errlen)
{
    if (!c->store_path_root_dir[0]) {
        snprintf(err, errlen, "storePathRootDir is empty");
        return STORE_ERR_INVALID;
    }
    if (strlen(c->store_path_root_dir) + sizeof "/consumequeue" > sizeof c->store_path_consume_queue) {
        snprintf(err, errlen, "storePathRootDir is too long (at most %zu bytes)",
                 sizeof c->store_path_consume_queue - sizeof "/consumequeue");
        return STORE_ERR_INVALID;
    }
    if (c->maped_file_size_commit_log < 4096 || c->maped_file_size_commit_log % 4096 ||
        c->maped_file_size_commit_log > INT32_MAX + 1LL) {
        snprintf(err, errlen, "mapedFileSizeCommitLog %lld must be a multiple of 4096 in [4 KiB, 2 GiB]",
                 (long long)c->maped_file_size_commit_log);
        return STORE_ERR_INVALID;
    }
    if (c->maped_file_size_consume_queue < CQ_UNIT || c->maped_file_size_consume_queue % CQ_UNIT) {
        snprintf(err, errlen, "mapedFileSizeConsumeQueue %lld must be a positive multiple of 20",
                 (long long)c->maped_file_size_consume_queue);
        return STORE_ERR_INVALID;
    }
    if (c->max_message_size <= 0 || c->sync_flush_timeout <= 0 ||
        c->flush_interval_consume_queue <= 0 || c->clean_resource_interval <= 0 ||
        c->file_reserved_time < 0) {
        snprintf(err, errlen, "maxMessageSize, syncFlushTimeout, flushIntervalConsumeQueue, "
                              "cleanResourceInterval must be > 0 and fileReservedTime >= 0");
        return STORE_ERR_INVALID;
    }
    int ratios[] = {c->disk_max_used_space_ratio, c->disk_space_clean_forcibly_ratio,
                    c->disk_space_warning_level_ratio};
    for (size_t i = 0; i < MQ_ARRAY_LEN(ratios); i++) {
        if (ratios[i] < 0 || ratios[i] > 100) {
            snprintf(err, errlen, "disk space ratios must be in [0, 100]");
            return STORE_ERR_INVALID;
        }
    }
    return 0;
}

static void store_free(store *s)
{
    if (s->have_clean)
        cleaner_destroy(&s->clean);
    if (s->have_disp) {
        dispatcher_destroy(&s->disp);
        cq_sink_destroy(&s->cqsink);
        index_sink_destroy(&s->idx);
    }
    if (s->have_fl)
        flusher_destroy(&s->fl);
    if (s->have_ckpt)
        ckpt_close(&s->ckpt);
    if (s->have_kv)
        kv_close(&s->kv);
    if (s->have_cqs)
        cq_table_destroy(&s->cqs);
    if (s->have_cl) {
        for (size_t i = 0; i < s->cl.nsegs; i++)
            if (atomic_load(&s->cl.segs[i]->refs) > 1)
                log_warn("CommitLog segment %s still pinned at close", s->cl.segs[i]->path);
        cl_destroy(&s->cl);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
}

static void stop_services(store *s)
{
    cleaner_stop(&s->clean);
    dispatcher_stop(&s->disp);
    flusher_stop(&s->fl);
    cl_stop(&s->cl);
    ckpt_stop(&s->ckpt);
}

/* An empty part path means <root>/name (check_config made room for it).
 * RocketMQ's default index place, <root>/index, means our index database's
 * default place, <root>/kv: a stock broker.conf names it. */
static void default_part_path(char *path, size_t cap, const store_config *cfg, const char *name)
{
    if ((!path[0] || (!strcmp(name, "kv") && path_is_child(path, cfg->store_path_root_dir, "index"))) &&
        snprintf(path, cap, "%s/%s", cfg->store_path_root_dir, name) >= (int)cap)
        path[0] = '\0'; /* not reached: check_config refused such a root */
}

/* True if dir exists and holds an entry. */
static bool dir_has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool any = false;
    for (struct dirent *e; !any && (e = readdir(d));)
        any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return any;
}

/* A part configured away from its default place while its files are still
 * at the default place and none at the new one: the store would start
 * empty and seem to have lost everything. Refuse, saying what to move. */
static int check_part_moved(const store_config *cfg, const char *path, const char *key, const char *name,
                            char *err, size_t errlen)
{
    char def[sizeof cfg->store_path_root_dir + 16];
    snprintf(def, sizeof def, "%s/%s", cfg->store_path_root_dir, name);
    if (path_is_child(path, cfg->store_path_root_dir, name) || !dir_has_entries(def) || dir_has_entries(path))
        return 0;
    snprintf(err, errlen, "%s=%s is empty but %s holds this store's files: move them there (broker "
             "stopped) or set %s back", key, path, def, key);
    return STORE_ERR_INVALID;
}

static int truncate_record(void *arg, const msg_record *r)
{
    const store_config *c = arg;
    c->on_truncate(c->on_truncate_arg, r);
    return 0;
}

int store_open(const store_config *cfg, store **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    int rc = check_config(cfg, err, errlen);
    if (rc < 0)
        return rc;
    int64_t t_open = mono_ms();
    store *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->lock_fd = -1;
    default_part_path(s->cfg.store_path_commit_log, sizeof s->cfg.store_path_commit_log, cfg, "commitlog");
    default_part_path(s->cfg.store_path_consume_queue, sizeof s->cfg.store_path_consume_queue, cfg, "consumequeue");
    default_part_path(s->cfg.store_path_index, sizeof s->cfg.store_path_index, cfg, "kv");
    s->read = (store_read_parts){.cl = &s->cl, .cqs = &s->cqs, .kv = &s->kv};
    const char *root = s->cfg.store_path_root_dir;
    s->ndelay = store_delay_levels_parse(s->cfg.message_delay_level, s->delay_ms,
                                         STORE_MAX_DELAY_LEVELS);
    if (s->ndelay < 0) {
        snprintf(err, errlen, "bad messageDelayLevel \"%s\"", s->cfg.message_delay_level);
        rc = STORE_ERR_INVALID;
        goto fail;
    }
    if ((rc = mf_mkdirs(root)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", root, strerror(-rc));
        rc = STORE_ERR_IO;
        goto fail;
    }
    if ((rc = check_part_moved(&s->cfg, s->cfg.store_path_commit_log, "storePathCommitLog", "commitlog", err,
                               errlen)) < 0 ||
        (rc = check_part_moved(&s->cfg, s->cfg.store_path_consume_queue, "storePathConsumeQueue", "consumequeue",
                               err, errlen)) < 0 ||
        (rc = check_part_moved(&s->cfg, s->cfg.store_path_index, "storePathIndex", "kv", err, errlen)) < 0)
        goto fail;
    char path[700];
    snprintf(path, sizeof path, "%s/lock", root);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        bool busy = errno == EWOULDBLOCK;
        snprintf(err, errlen, "%s %s: %s", busy ? "store is in use by another process:" : "cannot lock",
                 path, busy ? "lock file held" : strerror(errno));
        rc = busy ? STORE_ERR_LOCKED : STORE_ERR_IO;
        goto fail;
    }
    snprintf(s->abort_path, sizeof s->abort_path, "%s/abort", root);
    s->crashed = access(s->abort_path, F_OK) == 0;
    int afd = open(s->abort_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (afd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->abort_path, strerror(errno));
        rc = STORE_ERR_IO;
        goto fail;
    }
    close(afd);
    mf_sync_dir(root);

    if ((rc = cl_init(&s->cl, s->cfg.store_path_commit_log, s->cfg.maped_file_size_commit_log, &s->cfg.io_hooks,
                      &s->cfg.store_host)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->cfg.store_path_commit_log, strerror(-rc));
        rc = STORE_ERR_IO;
        goto fail;
    }
    s->have_cl = true;
    if ((rc = cl_load(&s->cl, err, errlen)) < 0)
        goto fail;
    if ((rc = cq_table_init(&s->cqs, s->cfg.store_path_consume_queue, s->cfg.maped_file_size_consume_queue,
                            &s->cfg.io_hooks)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->cfg.store_path_consume_queue, strerror(-rc));
        rc = STORE_ERR_IO;
        goto fail;
    }
    s->have_cqs = true;
    if ((rc = cq_table_load(&s->cqs, err, errlen)) < 0)
        goto fail;
    int64_t t_kv = mono_ms();
    if ((rc = mf_mkdirs(s->cfg.store_path_index)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->cfg.store_path_index, strerror(-rc));
        rc = STORE_ERR_IO;
        goto fail;
    }
    if ((rc = kv_open(&s->kv, s->cfg.store_path_index, &s->cl.min_offset, err, errlen)) < 0)
        goto fail;
    t_kv = mono_ms() - t_kv;
    s->have_kv = true;
    /* The dispatcher and its built-in sinks: ConsumeQueue first, so a
     * round's entries are written and its held pulls answered before the
     * key index's RocksDB batch is (a memtable insert per key, 4 us of the
     * W4 path when it came first); key index second, its round end writing
     * the batch the ConsumeQueue sink's records added queue registrations
     * to. The batch has no WAL: its order against the ConsumeQueue's writes
     * decides nothing after a crash (the redo starts at its marker).
     * Recovery's redo runs through them. */
    dispatcher_init(&s->disp, &s->cl, 0);
    index_sink_init(&s->idx, &s->kv, s->cfg.message_index_enable);
    cq_sink_init(&s->cqsink, &s->cqs, &s->idx, s->delay_ms, s->ndelay);
    s->have_disp = true;
    store_sink sink = cq_sink_as_sink(&s->cqsink);
    dispatcher_add_sink(&s->disp, &sink);
    sink = index_sink_as_sink(&s->idx);
    dispatcher_add_sink(&s->disp, &sink);
    ckpt_data ck;
    ckpt_parts cp = {.cl = &s->cl, .cqs = &s->cqs, .kv = &s->kv, .disp = &s->disp,
                     .idx = &s->idx, .fl = &s->fl};
    rc = ckpt_open(&s->ckpt, &cp, root, s->cfg.flush_interval_consume_queue, &ck);
    s->have_ckpt = true;
    if (rc < 0 && rc != STORE_ERR_NOT_FOUND) {
        snprintf(err, errlen, "cannot read %s/checkpoint: %s", root, strerror(errno));
        goto fail;
    }
    bool have_ck = rc == 0;
    if (!have_ck && s->cl.nsegs > 0)
        s->crashed = true; /* data but no usable checkpoint: verify everything */

    int64_t end;
    recovery_parts rp = {.cl = &s->cl, .cqs = &s->cqs, .kv = &s->kv, .disp = &s->disp,
                         .idx = &s->idx, .cqsink = &s->cqsink, .root = root,
                         .crashed = s->crashed, .max_message_size = s->cfg.max_message_size,
                         .limit = INT64_MAX};
    if (s->cfg.truncate_to >= 0) { /* replication: cut the tail, then recover as after a crash */
        if (s->cfg.on_truncate)
            cl_scan(&s->cl, s->cfg.truncate_to, INT64_MAX, truncate_record, &s->cfg);
        rp.limit = s->cfg.truncate_to;
        rp.crashed = true;
    }
    if ((rc = store_recover(&rp, have_ck ? &ck : NULL, &end, err, errlen)) < 0)
        goto fail;
    flusher_init(&s->fl, &s->cl, &s->cfg, end);
    s->have_fl = true;
    if ((rc = cleaner_init(&s->clean, &s->cfg, &s->cl, &s->cqs, &s->kv, &s->disp)) < 0) {
        snprintf(err, errlen, "bad deleteWhen \"%s\"", s->cfg.delete_when);
        goto fail;
    }
    s->have_clean = true;
    cleaner_check_disk(&s->clean);
    s->cl.on_append = s->cfg.defer_dispatch_wake ? NULL : dispatcher_notify;
    s->cl.on_append_arg = &s->disp;
    if (cl_start(&s->cl) < 0 || flusher_start(&s->fl) < 0 || dispatcher_start(&s->disp) < 0 ||
        ckpt_start(&s->ckpt) < 0 || cleaner_start(&s->clean) < 0) {
        snprintf(err, errlen, "cannot start the store threads");
        rc = STORE_ERR_IO;
        stop_services(s);
        goto fail;
    }
    s->started = true;
    ckpt_run_once(&s->ckpt); /* the old CLEAN mark must not outlive this run */
    log_info("store %s open in %lld ms (RocksDB %lld ms): CommitLog [%lld, %lld), %zu segments, "
             "%ld queues, %s",
             root, (long long)(mono_ms() - t_open), (long long)t_kv,
             (long long)cl_min_offset(&s->cl), (long long)end, cl_segment_count(&s->cl),
             (long)atomic_load(&s->cqs.count),
             s->cfg.flush_disk_type == STORE_SYNC_FLUSH ? "SYNC_FLUSH" : "ASYNC_FLUSH");
    *out = s;
    return 0;
fail:
    log_error("store open failed: %s", err);
    store_free(s);
    return rc;
}

void store_close(store *s)
{
    if (!s)
        return;
    cl_set_refusal(&s->cl, CL_REFUSE_CLOSED, true);
    cl_write_staged(&s->cl); /* no put is half-way, none staged after this */
    stop_services(s);
    int64_t end = cl_max_offset(&s->cl);
    bool clean = dispatcher_dispatched(&s->disp) == end && !s->disp.failed &&
                 !atomic_load(&s->fl.io_error) && flusher_flushed(&s->fl) >= end;
    /* Final checkpoint: ConsumeQueues flushed, index memtables flushed. */
    ckpt_run_once(&s->ckpt);
    if (clean && kv_flush_index(&s->kv) == 0) {
        ckpt_data d = s->ckpt.last;
        d.cq_offset = end;
        d.cl_end = end;
        d.flags = CKPT_FLAG_CLEAN;
        if (s->ckpt.last.cq_offset == end && ckpt_write(&s->ckpt, &d) == 0) {
            unlink(s->abort_path);
            mf_sync_dir(s->cfg.store_path_root_dir);
        }
    } else {
        log_warn("store %s closed with pending work: next open will verify and redo",
                 s->cfg.store_path_root_dir);
    }
    log_info("store %s closed at CommitLog offset %lld", s->cfg.store_path_root_dir,
             (long long)end);
    store_free(s);
}

/* ---- put -------------------------------------------------------------------- */

static bool topic_ok(const char *t, size_t n)
{
    if (n == 0 || n > STORE_TOPIC_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Validates one record and computes its size and body CRC (the only place
 * the CRC of a new record is computed; cl_put writes it). `what` names the
 * record in remarks ("" for a single put, "message 3 of the batch: "). */
static store_put_status prepare(store *s, const msg_record *m, const char *what, cl_item *item,
                                char *remark, size_t rlen)
{
    if (!topic_ok(m->topic, m->topic_len)) {
        snprintf(remark, rlen, "%sillegal topic (1..%d of [%%|a-zA-Z0-9_-])", what, STORE_TOPIC_MAX);
        return STORE_PUT_MESSAGE_ILLEGAL;
    }
    if (m->queue_id < 0) {
        snprintf(remark, rlen, "%sillegal queue id %d", what, (int)m->queue_id);
        return STORE_PUT_MESSAGE_ILLEGAL;
    }
    if (m->properties_len > MSG_PROPERTIES_MAX) {
        snprintf(remark, rlen, "%sproperties of %u bytes exceed %d", what, m->properties_len,
                 MSG_PROPERTIES_MAX);
        return STORE_PUT_PROPERTIES_SIZE_EXCEEDED;
    }
    if (m->body_len == 0) {
        snprintf(remark, rlen, "%smessage body is empty", what);
        return STORE_PUT_MESSAGE_ILLEGAL;
    }
    if (m->body_len > (uint32_t)s->cfg.max_message_size) {
        snprintf(remark, rlen, "%smessage body of %u bytes exceeds maxMessageSize %d", what,
                 m->body_len, s->cfg.max_message_size);
        return STORE_PUT_MESSAGE_ILLEGAL;
    }
    msg_record probe = *m;
    probe.store_host = s->cfg.store_host;
    size_t size = msg_record_size(&probe);
    if (size > (size_t)s->cfg.max_message_size + 64 * 1024 ||
        (int64_t)size + MSG_BLANK_LEN > s->cfg.maped_file_size_commit_log) {
        snprintf(remark, rlen, "%srecord of %zu bytes exceeds the limit (maxMessageSize + 64 KiB, "
                               "and the CommitLog segment size)", what, size);
        return STORE_PUT_MESSAGE_ILLEGAL;
    }
    item->size = (uint32_t)size;
    item->crc = msg_body_crc(m->body, m->body_len);
    return STORE_PUT_OK;
}

static void refusal_remark(store *s, store_put_status st, char *remark, size_t rlen)
{
    switch (st) {
    case STORE_PUT_DISK_FULL:
        snprintf(remark, rlen, "disk full: use %.1f%% >= diskSpaceWarningLevelRatio %d%%; writes "
                               "resume once space is freed",
                 atomic_load(&s->clean.disk_ratio), s->cfg.disk_space_warning_level_ratio);
        break;
    case STORE_PUT_IO_ERROR:
        snprintf(remark, rlen, "CommitLog flush failed (I/O error); the store refuses writes "
                               "until the broker restarts");
        break;
    case STORE_PUT_SERVICE_NOT_AVAILABLE:
        snprintf(remark, rlen, "store is shutting down");
        break;
    case STORE_PUT_CREATE_MAPPED_FILE_FAILED:
        snprintf(remark, rlen, "cannot create a CommitLog segment (see broker log)");
        break;
    default:
        snprintf(remark, rlen, "%s", store_put_status_name(st));
    }
}

static int put_batch(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                     int64_t *phys_offsets, bool defer)
{
    memset(res, 0, sizeof *res);
    if (n == 0) {
        res->status = STORE_PUT_MESSAGE_ILLEGAL;
        snprintf(res->remark, sizeof res->remark, "empty batch");
        return -res->status;
    }
    cl_item stack_items[64];
    cl_item *items = n <= MQ_ARRAY_LEN(stack_items) ? stack_items : xmalloc(n * sizeof *items);
    int64_t total = 0;
    store_put_status st = STORE_PUT_OK;
    char what[48] = "";
    for (size_t i = 0; i < n && st == STORE_PUT_OK; i++) {
        if (n > 1)
            snprintf(what, sizeof what, "message %zu of the batch: ", i);
        st = prepare(s, &msgs[i], what, &items[i], res->remark, sizeof res->remark);
        total += items[i].size;
    }
    if (st == STORE_PUT_OK && total + MSG_BLANK_LEN > s->cfg.maped_file_size_commit_log) {
        st = STORE_PUT_MESSAGE_ILLEGAL;
        snprintf(res->remark, sizeof res->remark,
                 "batch of %lld bytes does not fit in one CommitLog segment", (long long)total);
    }
    if (st == STORE_PUT_OK) {
        st = cl_put(&s->cl, msgs, items, n, total, res, phys_offsets, defer);
        if (st == STORE_PUT_OK) {
            /* The watermark is checked every second and at every new
             * segment, so a fast writer overshoots it by a segment at most. */
            int64_t seg = res->physical_offset / s->cfg.maped_file_size_commit_log;
            if (atomic_load_explicit(&s->disk_check_seg, memory_order_relaxed) != seg &&
                atomic_exchange(&s->disk_check_seg, seg) != seg)
                cleaner_check_disk(&s->clean);
        } else if (st == STORE_PUT_CREATE_MAPPED_FILE_FAILED) {
            cleaner_check_disk(&s->clean); /* ENOSPC: refused as DISK_FULL from now on */
            if (cl_refusals(&s->cl) & CL_REFUSE_DISK_FULL)
                st = STORE_PUT_DISK_FULL;
        }
        if (st != STORE_PUT_OK)
            refusal_remark(s, st, res->remark, sizeof res->remark);
    }
    if (items != stack_items)
        free(items);
    res->status = st;
    if (st != STORE_PUT_OK) {
        atomic_fetch_add_explicit(&s->put_refused, 1, memory_order_relaxed);
        return -(int)st;
    }
    msg_offset_id_encode(&s->cfg.store_host, res->physical_offset, res->offset_msg_id,
                         sizeof res->offset_msg_id);
    return 0;
}

int store_put_batch(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                    int64_t *phys_offsets)
{
    return put_batch(s, msgs, n, res, phys_offsets, false);
}

int store_put_batch_deferred(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                             int64_t *phys_offsets)
{
    return put_batch(s, msgs, n, res, phys_offsets, true);
}

void store_write_deferred(store *s)
{
    cl_write_staged(&s->cl);
}

bool store_dispatch_inline(store *s, int64_t max_bytes)
{
    return dispatcher_try_inline(&s->disp, max_bytes);
}

int store_put(store *s, const msg_record *msg, store_put_result *res)
{
    return store_put_batch(s, msg, 1, res, NULL);
}

int store_wait_flushed(store *s, int64_t end_offset, store_flush_cb cb, void *arg)
{
    if (end_offset > cl_max_offset(&s->cl))
        cl_write_staged(&s->cl); /* a deferred put's waiter (SYNC_MASTER sends) */
    return flusher_wait(&s->fl, end_offset, cb, arg);
}

int store_flush_now(store *s, int64_t end_offset)
{
    cl_write_staged(&s->cl);
    return flusher_flush_now(&s->fl, end_offset);
}

store_put_status store_wait_flushed_blocking(store *s, int64_t end_offset)
{
    if (end_offset > cl_max_offset(&s->cl))
        cl_write_staged(&s->cl);
    return flusher_wait_blocking(&s->fl, end_offset);
}

bool store_wait_requested(const char *props, size_t plen)
{
    const char *v;
    size_t vl;
    if (msg_prop_get(props, plen, MSG_PROP_WAIT, &v, &vl))
        return !(vl == 5 && strncasecmp(v, "false", 5) == 0);
    return true;
}

int store_put_batch_wait(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                         int64_t *phys_offsets)
{
    int rc = store_put_batch(s, msgs, n, res, phys_offsets);
    if (rc < 0 || s->cfg.flush_disk_type != STORE_SYNC_FLUSH || !store_wait_requested(msgs[0].properties, msgs[0].properties_len))
        return rc;
    store_put_status st = flusher_wait_blocking(&s->fl, res->physical_offset + res->wrote_bytes);
    if (st != STORE_PUT_OK) {
        res->status = st;
        snprintf(res->remark, sizeof res->remark,
                 "stored, but not flushed to disk within syncFlushTimeout %d ms",
                 s->cfg.sync_flush_timeout);
        return -(int)st;
    }
    return 0;
}

int store_put_wait(store *s, const msg_record *msg, store_put_result *res)
{
    return store_put_batch_wait(s, msg, 1, res, NULL);
}

void store_wake_dispatcher(store *s)
{
    dispatcher_notify(&s->disp);
}

void store_set_arrival_listener(store *s, store_arrival_cb cb, void *arg)
{
    /* Under round_mu: a round reads the pair at its end, so it never sees a
     * new listener with the old argument, and once this returns no round is
     * still calling the old one (its owner may free the argument). */
    pthread_mutex_lock(&s->disp.round_mu);
    atomic_store(&s->cqsink.listener_arg, arg);
    atomic_store(&s->cqsink.listener, cb);
    pthread_mutex_unlock(&s->disp.round_mu);
}

int store_add_sink(store *s, const store_sink *sink)
{
    return dispatcher_add_sink(&s->disp, sink);
}

const store_read_parts *store_read_parts_of(store *s) { return &s->read; }

/* ---- retention, stats -------------------------------------------------------- */

int store_clean_now(store *s) { return cleaner_run_once(&s->clean, false); }

int store_delete_expired_now(store *s) { return cleaner_run_once(&s->clean, true); }

int64_t store_commitlog_min_offset(store *s) { return cl_min_offset(&s->cl); }
int64_t store_commitlog_max_offset(store *s) { return cl_max_offset(&s->cl); }
int64_t store_flushed_offset(store *s) { return flusher_flushed(&s->fl); }
int64_t store_dispatched_offset(store *s) { return dispatcher_dispatched(&s->disp); }

void store_get_stats(store *s, store_stats *o)
{
    memset(o, 0, sizeof *o);
    o->put_msgs = atomic_load(&s->cl.put_msgs);
    o->put_bytes = atomic_load(&s->cl.put_bytes);
    o->put_refused = atomic_load(&s->put_refused);
    o->commitlog_min_offset = cl_min_offset(&s->cl);
    o->commitlog_max_offset = cl_max_offset(&s->cl);
    o->flushed_offset = flusher_flushed(&s->fl);
    o->dispatched_offset = dispatcher_dispatched(&s->disp);
    o->dispatch_lag_bytes = o->commitlog_max_offset - o->dispatched_offset;
    o->fsync_count = atomic_load(&s->fl.fsync_count);
    o->fsync_msgs = atomic_load(&s->fl.fsync_msgs);
    o->msgs_per_fsync = o->fsync_count ? (double)o->fsync_msgs / (double)o->fsync_count : 0;
    o->flush_timeouts = atomic_load(&s->fl.timeouts);
    o->flush_errors = atomic_load(&s->fl.errors);
    o->flush_max_us = atomic_load(&s->fl.max_us);
    pthread_mutex_lock(&s->fl.mu);
    o->flush_watchdog_parked = s->fl.wd_parked;
    pthread_mutex_unlock(&s->fl.mu);
    o->disk_used_ratio = atomic_load(&s->clean.disk_ratio);
    int refuse = cl_refusals(&s->cl);
    o->disk_full = refuse & CL_REFUSE_DISK_FULL;
    o->io_error = refuse & CL_REFUSE_IO_ERROR;
    o->segments = (int64_t)cl_segment_count(&s->cl);
    o->segments_deleted = atomic_load(&s->clean.segments_deleted);
    o->queues = atomic_load(&s->cqs.count);
    o->index_keys = atomic_load(&s->idx.keys);
}
