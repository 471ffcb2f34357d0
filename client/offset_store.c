/*
 * offset_store.c - a BROADCASTING consumer's offsets, kept on the local disk
 * because every consumer of the group reads every queue on its own.
 *
 * The file is JSON, one entry per queue:
 *   {"offsetTable":[{"topic":"T","brokerName":"broker-a","queueId":0,"offset":12}, ...]}
 * written to a temporary file and renamed over the old one, so a crash
 * leaves the old or the new table, never half of one. Topic names cannot
 * hold quotes or backslashes (their charset is checked); broker names are
 * escaped on write. The reader accepts exactly this shape (it is our file);
 * an unreadable file is an error reported to the caller, not a reset.
 * Only the I/O thread of a consumer calls these functions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "instance.h"
#include "offset_store.h"
#include "util.h"

void mqc_queue_key(const mq_message_queue *mq, char *out, size_t cap)
{
    snprintf(out, cap, "%s\x01%s\x01%d", mq->topic, mq->broker_name, mq->queue_id);
}

void mqc_local_offsets_free(strmap *map)
{
    void *v;
    for (size_t it = 0; strmap_next(map, &it, NULL, &v);)
        free(v);
    strmap_free(map);
    strmap_init(map);
}

/* Finds "name": in [p, end) and returns a pointer after the colon. */
static const char *field(const char *p, const char *end, const char *name)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\"", name);
    const char *f = memmem(p, (size_t)(end - p), pat, strlen(pat));
    if (!f)
        return NULL;
    f += strlen(pat);
    while (f < end && (*f == ' ' || *f == ':'))
        f++;
    return f < end ? f : NULL;
}

/* Copies a JSON string starting at p (the opening quote) into out. */
static bool json_string(const char *p, const char *end, char *out, size_t cap)
{
    if (p >= end || *p != '"')
        return false;
    size_t n = 0;
    for (p++; p < end && *p != '"'; p++) {
        char ch = *p;
        if (ch == '\\' && p + 1 < end)
            ch = *++p;
        if (n + 1 >= cap)
            return false;
        out[n++] = ch;
    }
    out[n] = '\0';
    return p < end;
}

int mqc_local_offsets_load(const char *path, strmap *map, mq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return MQ_OK;
        mqc_error_set(err, MQ_EINVAL, "cannot read offsets file %s: %s", path, strerror(errno));
        return MQ_EINVAL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            text = xrealloc(text, cap);
        }
        size_t r = fread(text + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    text = text ? text : xmalloc(1);
    text[len] = '\0';
    int rc = MQ_OK;
    const char *p = text, *end = text + len;
    while ((p = memchr(p, '{', (size_t)(end - p))) != NULL) {
        const char *close = memchr(p + 1, '}', (size_t)(end - p - 1));
        const char *inner = memchr(p + 1, '{', (size_t)(end - p - 1));
        if (inner && (!close || inner < close)) { /* the outer object */
            p = inner;
            continue;
        }
        if (!close)
            break;
        mq_message_queue mq;
        memset(&mq, 0, sizeof mq);
        const char *t = field(p, close, "topic"), *b = field(p, close, "brokerName"),
                   *q = field(p, close, "queueId"), *o = field(p, close, "offset");
        int64_t qid, off;
        char num[32];
        if (!t || !b || !q || !o || !json_string(t, close, mq.topic, sizeof mq.topic) ||
            !json_string(b, close, mq.broker_name, sizeof mq.broker_name)) {
            rc = MQ_EINVAL;
            break;
        }
        size_t qn = strspn(q, "-0123456789"), on = strspn(o, "-0123456789");
        if (qn == 0 || qn >= sizeof num || on == 0 || on >= sizeof num) {
            rc = MQ_EINVAL;
            break;
        }
        memcpy(num, q, qn);
        num[qn] = '\0';
        if (parse_int64(num, 0, INT32_MAX, &qid) != 0) {
            rc = MQ_EINVAL;
            break;
        }
        memcpy(num, o, on);
        num[on] = '\0';
        if (parse_int64(num, -1, INT64_MAX, &off) != 0) {
            rc = MQ_EINVAL;
            break;
        }
        mq.queue_id = (int)qid;
        char key[sizeof(mq.topic) + sizeof(mq.broker_name) + 16];
        mqc_queue_key(&mq, key, sizeof key);
        int64_t *v = xmalloc(sizeof *v);
        *v = off;
        free(strmap_put(map, key, v));
        p = close + 1;
    }
    free(text);
    if (rc != MQ_OK)
        mqc_error_set(err, MQ_EINVAL, "offsets file %s is not in the expected format", path);
    return rc;
}

static int mkdirs(const char *dir)
{
    char buf[4096];
    if (!str_copy(buf, sizeof buf, dir))
        return -1;
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void json_escaped(bytebuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            bytebuf_append(b, "\\", 1);
        bytebuf_append(b, s, 1);
    }
}

int mqc_local_offsets_save(const char *path, const strmap *map, mq_error *err)
{
    char dir[4096];
    str_copy(dir, sizeof dir, path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdirs(dir) != 0) {
            mqc_error_set(err, MQ_EINVAL, "cannot create directory %s: %s", dir, strerror(errno));
            return MQ_EINVAL;
        }
    }
    bytebuf b;
    bytebuf_init(&b);
    bytebuf_append_str(&b, "{\"offsetTable\":[");
    const char *k;
    void *v;
    bool first = true;
    for (size_t it = 0; strmap_next(map, &it, &k, &v);) {
        const char *s1 = strchr(k, '\x01');
        const char *s2 = s1 ? strchr(s1 + 1, '\x01') : NULL;
        if (!s2)
            continue;
        bytebuf_printf(&b, "%s\n {\"topic\":\"%.*s\",\"brokerName\":\"", first ? "" : ",", (int)(s1 - k), k);
        char broker[256];
        snprintf(broker, sizeof broker, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
        json_escaped(&b, broker);
        bytebuf_printf(&b, "\",\"queueId\":%s,\"offset\":%lld}", s2 + 1, (long long)*(int64_t *)v);
        first = false;
    }
    bytebuf_append_str(&b, "\n]}\n");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = MQ_OK;
    bool ok = f != NULL;
    if (f) {
        ok = fwrite(b.data, 1, b.len, f) == b.len;
        ok = fclose(f) == 0 && ok;
    }
    if (!ok || rename(tmp, path) != 0) {
        mqc_error_set(err, MQ_EINVAL, "cannot write offsets file %s: %s", path, strerror(errno));
        rc = MQ_EINVAL;
    }
    bytebuf_free(&b);
    return rc;
}
