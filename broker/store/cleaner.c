/*
 * cleaner.c - see cleaner.h.
 */
#define _GNU_SOURCE
#include "cleaner.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log.h"
#include "util.h"

static double statvfs_usage(const char *path)
{
    struct statvfs v;
    if (statvfs(path, &v) != 0 || v.f_blocks == 0)
        return -1;
    return 100.0 * (double)(v.f_blocks - v.f_bfree) / (double)v.f_blocks;
}

static double usage_of(const store_config *cfg, const char *path)
{
    return cfg->disk_usage ? cfg->disk_usage(cfg->disk_usage_arg, path) : statvfs_usage(path);
}

/* The fuller of the CommitLog's and the ConsumeQueues' filesystems (they
 * may be two disks: storePathCommitLog, storePathConsumeQueue); *path is
 * the one reported. */
static double disk_usage(cleaner *c, const char **path)
{
    const store_config *cfg = c->cfg;
    *path = cfg->store_path_commit_log;
    double r = usage_of(cfg, cfg->store_path_commit_log);
    if (r >= 0 && strcmp(cfg->store_path_consume_queue, cfg->store_path_commit_log) != 0) {
        double q = usage_of(cfg, cfg->store_path_consume_queue);
        if (q < 0 || q > r) {
            r = q;
            *path = cfg->store_path_consume_queue;
        }
    }
    return r;
}

static int64_t wall_ms(cleaner *c)
{
    return c->cfg->clock_ms ? c->cfg->clock_ms(c->cfg->clock_arg) : now_ms();
}

static void clean_tick(void *arg);

int cleaner_init(cleaner *c, const store_config *cfg, commitlog *cl, cq_table *cqs, kv_db *kv,
                 dispatcher *disp)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->cl = cl;
    c->cqs = cqs;
    c->kv = kv;
    c->disp = disp;
    pthread_mutex_init(&c->round_lock, NULL);
    int period = cfg->clean_resource_interval < CLEANER_DISK_CHECK_MS ? cfg->clean_resource_interval
                                                                      : CLEANER_DISK_CHECK_MS;
    ticker_init(&c->tick, "store-clean", period, clean_tick, c);
    atomic_init(&c->disk_ratio, 0.0);
    /* deleteWhen: "04" or "04;16". */
    char buf[64];
    str_copy(buf, sizeof buf, cfg->delete_when);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        int32_t h;
        if (parse_int32(str_trim(tok), 0, 23, &h) != 0)
            return STORE_ERR_INVALID;
        if (c->nhours < 24)
            c->hours[c->nhours++] = h;
    }
    return 0;
}

void cleaner_check_disk(cleaner *c)
{
    const store_config *cfg = c->cfg;
    const char *path;
    double ratio = disk_usage(c, &path);
    if (ratio < 0) {
        log_warn("cannot read disk usage of %s", path);
        return;
    }
    atomic_store(&c->disk_ratio, ratio);
    bool full = ratio >= cfg->disk_space_warning_level_ratio;
    int old = cl_set_refusal(c->cl, CL_REFUSE_DISK_FULL, full);
    if (full && !(old & CL_REFUSE_DISK_FULL)) {
        log_error("disk use %.1f%% of %s >= %d%% (diskSpaceWarningLevelRatio): refusing writes",
                  ratio, path, cfg->disk_space_warning_level_ratio);
    } else if (!full && (old & CL_REFUSE_DISK_FULL)) {
        log_info("disk use %.1f%% of %s back below %d%%: accepting writes again", ratio, path,
                 cfg->disk_space_warning_level_ratio);
    }
}

static bool is_delete_hour(cleaner *c, int64_t now)
{
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    for (int i = 0; i < c->nhours; i++)
        if (c->hours[i] == tm.tm_hour)
            return true;
    return false;
}

/* Deletes up to max expired segments, oldest first, stopping at the first
 * one that must stay. */
static int delete_segments(cleaner *c, int64_t now, int max)
{
    const store_config *cfg = c->cfg;
    int64_t reserved_ms = (int64_t)cfg->file_reserved_time * 3600 * 1000;
    int deleted = 0;
    while (deleted < max) {
        size_t count;
        mapped_file *f = cl_first(c->cl, &count);
        if (!f)
            break;
        bool keep = count < 2; /* never the current segment */
        /* D8: nor data the dispatcher has not passed yet. */
        if (!keep && f->start + f->size > dispatcher_dispatched(c->disp))
            keep = true;
        if (!keep) {
            struct stat st;
            int64_t mtime = fstat(f->fd, &st) == 0
                                ? (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000
                                : now;
            keep = now < mtime + reserved_ms;
        }
        if (keep || cl_remove_first(c->cl, f) != 0) {
            mf_unref(f);
            break;
        }
        log_info("deleted expired CommitLog segment %s (offsets [%lld, %lld), older than "
                 "fileReservedTime %d h)",
                 f->path, (long long)f->start, (long long)(f->start + f->size),
                 cfg->file_reserved_time);
        mf_unref(f);
        deleted++;
    }
    return deleted;
}

/* One unexpired segment, the oldest, never the one being written nor one the
 * dispatcher has not passed; logged with what it held, and reported per
 * queue to the on_forced_delete hook (the broker counts the unconsumed
 * messages per group). Returns 1 if deleted. */
static int delete_one_forcibly(cleaner *c, double ratio)
{
    const store_config *cfg = c->cfg;
    size_t count;
    mapped_file *f = cl_first(c->cl, &count);
    if (!f)
        return 0;
    int64_t end = f->start + f->size;
    if (count < 2 || end > dispatcher_dispatched(c->disp)) {
        mf_unref(f);
        return 0;
    }
    size_t n;
    consume_queue **qs = cq_snapshot(c->cqs, NULL, &n);
    store_lost_range *lost = xcalloc(n ? n : 1, sizeof *lost);
    size_t nlost = 0;
    int64_t msgs = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t from = cq_lower_bound_phys(qs[i], f->start);
        int64_t to = cq_lower_bound_phys(qs[i], end);
        if (to > from) {
            lost[nlost++] = (store_lost_range){qs[i]->topic, qs[i]->qid, from, to};
            msgs += to - from;
        }
    }
    int deleted = 0;
    if (cl_remove_first(c->cl, f) == 0) {
        deleted = 1;
        log_warn("deleted UNEXPIRED CommitLog segment %s (offsets [%lld, %lld), %lld messages in "
                 "%zu queues): disk use %.1f%% >= diskSpaceCleanForciblyRatio %d%% and "
                 "cleanFileForciblyEnable is on",
                 f->path, (long long)f->start, (long long)end, (long long)msgs, nlost, ratio,
                 cfg->disk_space_clean_forcibly_ratio);
        for (size_t i = 0; i < nlost && i < 16; i++)
            log_warn("  %s/%d: queue offsets [%lld, %lld) deleted", lost[i].topic,
                     lost[i].queue_id, (long long)lost[i].from, (long long)lost[i].to);
        if (nlost > 16)
            log_warn("  ... and %zu more queues", nlost - 16);
        if (cfg->on_forced_delete)
            cfg->on_forced_delete(cfg->on_forced_delete_arg, f->path, lost, nlost);
    }
    free(lost);
    cq_snapshot_free(qs, n);
    mf_unref(f);
    return deleted;
}

static void clean_queues(cleaner *c)
{
    int64_t min = cl_min_offset(c->cl);
    size_t n;
    consume_queue **qs = cq_snapshot(c->cqs, NULL, &n);
    int files = 0;
    for (size_t i = 0; i < n; i++)
        files += cq_clean_below(qs[i], min);
    cq_snapshot_free(qs, n);
    if (files)
        log_info("deleted %d ConsumeQueue files below CommitLog offset %lld", files,
                 (long long)min);
}

int cleaner_run_once(cleaner *c, bool force_expired)
{
    const store_config *cfg = c->cfg;
    pthread_mutex_lock(&c->round_lock);
    cleaner_check_disk(c);
    double ratio = atomic_load(&c->disk_ratio);
    int64_t now = wall_ms(c);
    bool space = ratio >= cfg->disk_max_used_space_ratio;
    bool forcibly = cfg->clean_file_forcibly_enable &&
                    ratio >= cfg->disk_space_clean_forcibly_ratio;
    int deleted = 0;
    if (force_expired || space || is_delete_hour(c, now)) {
        int max = cfg->delete_commit_log_files_max > 0 ? cfg->delete_commit_log_files_max : 10;
        deleted = delete_segments(c, now, max);
        /* Unexpired data goes only if the operator said so, and one segment
         * per round: the next round sees the space it freed. */
        if (forcibly && deleted == 0)
            deleted = delete_one_forcibly(c, ratio);
    }
    if (deleted) {
        atomic_fetch_add(&c->segments_deleted, deleted);
        clean_queues(c);
        /* Index entries below the min offset are already invisible to
         * queries; a compaction drops them from disk (compaction filter).
         * A full compaction is not cheap on a large index: at most hourly. */
        int64_t mono = mono_ms();
        if (c->last_compaction_ms == 0 || mono - c->last_compaction_ms >= 3600 * 1000) {
            c->last_compaction_ms = mono;
            kv_compact_index(c->kv);
        }
        cleaner_check_disk(c);
    }
    pthread_mutex_unlock(&c->round_lock);
    return deleted;
}

/* Disk use every tick (at most CLEANER_DISK_CHECK_MS), so writes stop soon
 * after the watermark is crossed; a deletion round every
 * clean_resource_interval. */
static void clean_tick(void *arg)
{
    cleaner *c = arg;
    int64_t now = mono_ms();
    if (c->last_round_ms == 0 || now - c->last_round_ms >= c->cfg->clean_resource_interval) {
        c->last_round_ms = now;
        cleaner_run_once(c, false);
    } else {
        cleaner_check_disk(c);
    }
}

int cleaner_start(cleaner *c) { return ticker_start(&c->tick); }

void cleaner_stop(cleaner *c) { ticker_stop(&c->tick); }

void cleaner_destroy(cleaner *c)
{
    pthread_mutex_destroy(&c->round_lock);
    ticker_destroy(&c->tick);
}
