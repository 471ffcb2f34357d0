/*
 * ha_state.c - what a broker persists about its place in the group's
 * history, under <storePathRootDir>/ha/ (all written whole to a temporary
 * file, fsynced, renamed, directory fsynced):
 *
 *   epoch      the epoch history, one "epoch startOffset" line per epoch in
 *              ascending order (RocketMQ 5's EpochFile, Kafka's
 *              leader-epoch-checkpoint): CommitLog bytes from startOffset up
 *              to the next line's start were written by the master of that
 *              epoch. A master starts epoch 1 at offset 0; a promotion adds
 *              (max known + 1, the promoted slave's max offset); a slave
 *              takes its master's history at each HA handshake.
 *   role       the effective role: "brokerRole=..", "brokerId=..", "why=..".
 *              Written by a promotion or a fencing; it overrides broker.conf
 *              at the next start (logged loudly), so a promoted slave stays
 *              master and a fenced master stays a slave.
 *   truncate   a pending cut of the CommitLog: "offset=..", "why=..". The
 *              next start cuts the log there (store_config.truncate_to) and
 *              removes the file.
 *   truncations  the record of every cut made (appended, one line each:
 *              time, range, bytes, messages per topic, why).
 *
 * ha_diverge_point compares two histories (Kafka's truncation by leader
 * epoch, done on the whole history at once). Loop thread or the ha-slave
 * thread, one at a time: the files are small and written rarely.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ha_internal.h"
#include "log.h"
#include "util.h"

static void ha_path(const char *root, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/ha%s%s", root, name[0] ? "/" : "", name);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes text to <root>/ha/name atomically and durably. */
static int write_file(const char *root, const char *name, const char *text, char *err, size_t errlen)
{
    char dir[1100], path[1200], tmp[1210];
    ha_path(root, "", dir, sizeof dir);
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", root, strerror(errno));
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    ha_path(root, name, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(err, errlen, "cannot fsync %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fsync_dir(dir) != 0) {
        snprintf(err, errlen, "cannot fsync %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads <root>/ha/name (at most cap - 1 bytes). 1 read, 0 absent, -1 error. */
static int read_file(const char *root, const char *name, char *buf, size_t cap, char *err, size_t errlen)
{
    char path[1200];
    ha_path(root, name, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0 || len + (size_t)r == cap - 1) {
            len += (size_t)r;
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return 1;
}

/* Value of "key=" in a key=value text, copied to out; false if absent. */
static bool kv_get(const char *text, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            const char *v = p + kl + 1, *e = strchr(v, '\n');
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

/* ---- epoch history ---- */

void ha_history_free(ha_history *h)
{
    free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}

void ha_history_add(ha_history *h, int64_t epoch, int64_t start)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->e = xrealloc(h->e, h->cap * sizeof h->e[0]);
    }
    h->e[h->n].epoch = epoch;
    h->e[h->n].start = start;
    h->n++;
}

int64_t ha_history_last(const ha_history *h) { return h->n ? h->e[h->n - 1].epoch : 0; }

int ha_history_load(const char *root, ha_history *h, char *err, size_t errlen)
{
    ha_history_free(h);
    char buf[64 * 1024];
    int rc = read_file(root, "epoch", buf, sizeof buf, err, errlen);
    if (rc <= 0)
        return rc;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long e, s;
        if (sscanf(line, "%lld %lld", &e, &s) != 2 || e <= 0 || s < 0 ||
            (h->n && (e <= h->e[h->n - 1].epoch || s < h->e[h->n - 1].start))) {
            snprintf(err, errlen, "%s/ha/epoch: bad line \"%.60s\" (want ascending \"epoch startOffset\")", root,
                     line);
            ha_history_free(h);
            return -1;
        }
        ha_history_add(h, e, s);
    }
    return 1;
}

int ha_history_save(const char *root, const ha_history *h, char *err, size_t errlen)
{
    size_t cap = 64 + h->n * 48;
    char *text = xmalloc(cap);
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < h->n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%lld %lld\n", (long long)h->e[i].epoch,
                                 (long long)h->e[i].start);
    int rc = write_file(root, "epoch", text, err, errlen);
    free(text);
    return rc;
}

bool ha_history_equal(const ha_history *a, const ha_history *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->e[i].epoch != b->e[i].epoch || a->e[i].start != b->e[i].start)
            return false;
    return true;
}

int64_t ha_diverge_point(const ha_history *l, int64_t lend, const ha_history *m, int64_t mend)
{
    int64_t cut = MQ_MIN(lend, mend);
    if (m->n == 0)
        return cut; /* a master without history (older version): offsets only */
    for (size_t i = 0; i < l->n; i++) {
        int64_t ls = l->e[i].start, le = i + 1 < l->n ? l->e[i + 1].start : lend;
        if (ls >= cut)
            break;
        size_t j = 0;
        while (j < m->n && m->e[j].epoch != l->e[i].epoch)
            j++;
        if (j == m->n) /* written under an epoch the master never had */
            return ls;
        int64_t ms = m->e[j].start, me = j + 1 < m->n ? m->e[j + 1].start : mend;
        if (ms != ls)
            return MQ_MIN(cut, MQ_MIN(ms, ls));
        if (me < le)
            return MQ_MIN(cut, me);
    }
    return cut;
}

/* ---- role override ---- */

int ha_role_save(const char *root, int role, int64_t broker_id, const char *why, char *err, size_t errlen)
{
    static const char *const names[] = {"ASYNC_MASTER", "SYNC_MASTER", "SLAVE"};
    char text[600];
    snprintf(text, sizeof text, "brokerRole=%s\nbrokerId=%lld\nwhy=%s\n", names[role], (long long)broker_id,
             why);
    return write_file(root, "role", text, err, errlen);
}

int ha_role_load(const char *root, int *role, int64_t *broker_id, char *why, size_t whycap, char *err,
                 size_t errlen)
{
    char buf[2048], v[64];
    int rc = read_file(root, "role", buf, sizeof buf, err, errlen);
    if (rc <= 0)
        return rc;
    int r = -1;
    if (kv_get(buf, "brokerRole", v, sizeof v))
        r = ha_role_parse(v);
    int64_t id = -1;
    if (kv_get(buf, "brokerId", v, sizeof v) && parse_int64(v, 0, INT64_MAX, &id) != 0)
        id = -1;
    if (r < 0 || id < 0 || (r == ROLE_SLAVE) != (id > 0)) {
        snprintf(err, errlen, "%s/ha/role: bad content (want brokerRole= and a matching brokerId=)", root);
        return -1;
    }
    if (!kv_get(buf, "why", why, whycap))
        why[0] = '\0';
    *role = r;
    *broker_id = id;
    return 1;
}

int ha_role_parse(const char *s)
{
    if (!strcmp(s, "ASYNC_MASTER"))
        return ROLE_ASYNC_MASTER;
    if (!strcmp(s, "SYNC_MASTER"))
        return ROLE_SYNC_MASTER;
    if (!strcmp(s, "SLAVE"))
        return ROLE_SLAVE;
    return -1;
}

const char *ha_role_name(int role)
{
    return role == ROLE_SYNC_MASTER ? "SYNC_MASTER" : role == ROLE_SLAVE ? "SLAVE" : "ASYNC_MASTER";
}

/* ---- truncation ---- */

int ha_truncate_save(const char *root, int64_t offset, const char *why, char *err, size_t errlen)
{
    char text[700];
    snprintf(text, sizeof text, "offset=%lld\nwhy=%s\n", (long long)offset, why);
    return write_file(root, "truncate", text, err, errlen);
}

int ha_truncate_load(const char *root, int64_t *offset, char *why, size_t whycap, char *err, size_t errlen)
{
    char buf[2048], v[64];
    int rc = read_file(root, "truncate", buf, sizeof buf, err, errlen);
    if (rc <= 0)
        return rc;
    if (!kv_get(buf, "offset", v, sizeof v) || parse_int64(v, 0, INT64_MAX, offset) != 0) {
        snprintf(err, errlen, "%s/ha/truncate: bad content (want offset=N)", root);
        return -1;
    }
    if (!kv_get(buf, "why", why, whycap))
        why[0] = '\0';
    return 1;
}

int ha_truncate_done(const char *root, const char *record, char *err, size_t errlen)
{
    char path[1200], dir[1100];
    ha_path(root, "truncations", path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *line = NULL;
    int n = asprintf(&line, "%s %s\n", ts, record);
    bool ok = n > 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    free(line);
    close(fd);
    if (!ok) {
        snprintf(err, errlen, "cannot append to %s: %s", path, strerror(errno));
        return -1;
    }
    ha_path(root, "truncate", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    ha_path(root, "", dir, sizeof dir);
    fsync_dir(dir);
    return 0;
}
