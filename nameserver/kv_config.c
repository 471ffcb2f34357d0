/*
 * kv_config.c - see kv_config.h. Two levels of strmap (namespace -> key ->
 * malloc'd value); the file is read and written with jansson.
 */
#include "kv_config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hashmap.h"
#include "util.h"

struct ns_kv {
    strmap spaces;  /* namespace -> strmap* (key -> char* value) */
    char *path;     /* NULL: memory only */
};

static strmap *space(const ns_kv *kv, const char *ns) { return strmap_get(&kv->spaces, ns); }

static void set_raw(ns_kv *kv, const char *ns, const char *key, char *value)
{
    strmap *m = space(kv, ns);
    if (!m) {
        m = xmalloc(sizeof *m);
        strmap_init(m);
        strmap_put(&kv->spaces, ns, m);
    }
    free(strmap_put(m, key, value));
}

static char *remove_raw(ns_kv *kv, const char *ns, const char *key)
{
    strmap *m = space(kv, ns);
    if (!m)
        return NULL;
    char *old = strmap_remove(m, key);
    if (m->count == 0) {
        strmap_remove(&kv->spaces, ns);
        strmap_free(m);
        free(m);
    }
    return old;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Rewrites the file: temporary file, fsync, rename, fsync of the directory. */
static int persist(const ns_kv *kv, char *err, size_t errlen)
{
    if (!kv->path)
        return 0;
    json_t *table = json_object();
    const char *ns, *key;
    void *v, *val;
    for (size_t it = 0; strmap_next(&kv->spaces, &it, &ns, &v);) {
        json_t *o = json_object();
        for (size_t jt = 0; strmap_next(v, &jt, &key, &val);)
            json_object_set_new(o, key, json_string(val));
        json_object_set_new(table, ns, o);
    }
    json_t *root = json_pack("{s:o}", "configTable", table);
    char *text = json_dumps(root, JSON_INDENT(4) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text) {
        snprintf(err, errlen, "cannot render the KV config as JSON");
        return -1;
    }
    size_t plen = strlen(kv->path);
    char *tmp = xmalloc(plen + 5);
    memcpy(tmp, kv->path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, kv->path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, kv->path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    char *dircopy = xstrdup(kv->path);
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dircopy);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    free(tmp);
    free(text);
    return rc;
}

static int load(ns_kv *kv, char *err, size_t errlen)
{
    struct stat st;
    if (stat(kv->path, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* first start */
        snprintf(err, errlen, "cannot read %s: %s", kv->path, strerror(errno));
        return -1;
    }
    json_error_t je;
    json_t *root = json_load_file(kv->path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s is not valid JSON (line %d: %s)", kv->path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    json_t *table = json_object_get(root, "configTable");
    if (table && !json_is_object(table)) {
        snprintf(err, errlen, "%s: configTable is not an object", kv->path);
        goto out;
    }
    const char *ns, *key;
    json_t *o, *val;
    json_object_foreach(table, ns, o) {
        if (!json_is_object(o)) {
            snprintf(err, errlen, "%s: namespace %s is not an object", kv->path, ns);
            goto out;
        }
        json_object_foreach(o, key, val) {
            if (!json_is_string(val)) {
                snprintf(err, errlen, "%s: %s/%s is not a string", kv->path, ns, key);
                goto out;
            }
            set_raw(kv, ns, key, xstrdup(json_string_value(val)));
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

ns_kv *ns_kv_open(const char *path, char *err, size_t errlen)
{
    ns_kv *kv = xcalloc(1, sizeof *kv);
    strmap_init(&kv->spaces);
    if (path && *path) {
        kv->path = xstrdup(path);
        if (load(kv, err, errlen) != 0) {
            ns_kv_free(kv);
            return NULL;
        }
    }
    return kv;
}

void ns_kv_free(ns_kv *kv)
{
    if (!kv)
        return;
    const char *ns, *key;
    void *v, *val;
    for (size_t it = 0; strmap_next(&kv->spaces, &it, &ns, &v);) {
        for (size_t jt = 0; strmap_next(v, &jt, &key, &val);)
            free(val);
        strmap_free(v);
        free(v);
    }
    strmap_free(&kv->spaces);
    free(kv->path);
    free(kv);
}

int ns_kv_put(ns_kv *kv, const char *ns, const char *key, const char *value, char *err, size_t errlen)
{
    const char *cur = ns_kv_get(kv, ns, key);
    char *old = cur ? xstrdup(cur) : NULL;
    set_raw(kv, ns, key, xstrdup(value));
    if (persist(kv, err, errlen) != 0) {
        if (old)
            set_raw(kv, ns, key, old);
        else
            free(remove_raw(kv, ns, key));
        return -1;
    }
    free(old);
    return 0;
}

const char *ns_kv_get(const ns_kv *kv, const char *ns, const char *key)
{
    strmap *m = space(kv, ns);
    return m ? strmap_get(m, key) : NULL;
}

int ns_kv_delete(ns_kv *kv, const char *ns, const char *key, char *err, size_t errlen)
{
    char *old = remove_raw(kv, ns, key);
    if (!old)
        return 0;
    if (persist(kv, err, errlen) != 0) {
        set_raw(kv, ns, key, old);
        return -1;
    }
    free(old);
    return 0;
}

Mq__KVTable *ns_kv_list(const ns_kv *kv, const char *ns, arena *a)
{
    strmap *m = space(kv, ns);
    if (!m || m->count == 0)
        return NULL;
    Mq__KVTable *t = arena_alloc(a, sizeof *t);
    mq__kvtable__init(t);
    t->table = arena_alloc(a, m->count * sizeof *t->table);
    const char *key;
    void *val;
    for (size_t it = 0; strmap_next(m, &it, &key, &val);) {
        Mq__KVTable__TableEntry *e = arena_alloc(a, sizeof *e);
        mq__kvtable__table_entry__init(e);
        e->key = (char *)key;
        e->value = val;
        t->table[t->n_table++] = e;
    }
    return t;
}

size_t ns_kv_namespaces(const ns_kv *kv) { return kv->spaces.count; }
