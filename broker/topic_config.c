/*
 * topic_config.c - see topic_config.h. The table is a strmap of malloc'd
 * topic_config entries; the database is the truth at start, memory
 * afterwards (every change goes to the database first).
 */
#include "topic_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "meta_db.h"
#include "protocol.h"
#include "util.h"

struct topic_table {
    struct meta_db *db;
    strmap topics; /* name -> topic_config* */
    int64_t dv_timestamp, dv_counter;
    void (*on_change)(void *arg);
    void *on_change_arg;
};

void topic_config_to_pb(const topic_config *tc, Mq__TopicConfig *out)
{
    *out = (Mq__TopicConfig)MQ__TOPIC_CONFIG__INIT;
    out->topicname = (char *)tc->name;
    out->readqueuenums = tc->read_queue_nums;
    out->writequeuenums = tc->write_queue_nums;
    out->perm = tc->perm;
    out->topicsysflag = tc->topic_sys_flag;
    out->order = tc->order;
    out->topicfiltertype = (char *)"SINGLE_TAG";
    out->has_readqueuenums = out->has_writequeuenums = out->has_perm = 1;
    out->has_topicsysflag = out->has_order = 1;
}

void topic_table_to_pb(const struct topic_table *t, int32_t perm_override, topic_table_pb *out)
{
    size_t n = topic_table_count(t);
    out->configs = xcalloc(n ? n : 1, sizeof *out->configs);
    out->entries = xcalloc(n ? n : 1, sizeof *out->entries);
    out->entry_ptrs = xcalloc(n ? n : 1, sizeof *out->entry_ptrs);
    size_t i = 0;
    const topic_config *tc;
    for (size_t it = 0; i < n && topic_table_next(t, &it, &tc); i++) {
        topic_config_to_pb(tc, &out->configs[i]);
        if (perm_override >= 0)
            out->configs[i].perm = perm_override;
        out->entries[i] = (Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry)
            MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__TOPIC_CONFIG_TABLE_ENTRY__INIT;
        out->entries[i].key = (char *)tc->name;
        out->entries[i].value = &out->configs[i];
        out->entry_ptrs[i] = &out->entries[i];
    }
    out->version = (Mq__DataVersion)MQ__DATA_VERSION__INIT;
    topic_table_data_version(t, &out->version.timestamp, &out->version.counter);
    out->version.has_timestamp = out->version.has_counter = 1;
    out->msg = (Mq__TopicConfigSerializeWrapper)MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__INIT;
    out->msg.n_topicconfigtable = i;
    out->msg.topicconfigtable = out->entry_ptrs;
    out->msg.dataversion = &out->version;
}

void topic_table_pb_free(topic_table_pb *p)
{
    free(p->configs);
    free(p->entries);
    free(p->entry_ptrs);
    p->configs = NULL;
    p->entries = NULL;
    p->entry_ptrs = NULL;
}

int topic_config_from_pb(const Mq__TopicConfig *m, const char *name_if_missing, topic_config *tc)
{
    memset(tc, 0, sizeof *tc);
    const char *name = m->topicname && *m->topicname ? m->topicname : name_if_missing;
    if (!name || !str_copy(tc->name, sizeof tc->name, name))
        return -1;
    tc->read_queue_nums = m->has_readqueuenums ? m->readqueuenums : 16;
    tc->write_queue_nums = m->has_writequeuenums ? m->writequeuenums : 16;
    tc->perm = m->has_perm ? m->perm : PERM_READ | PERM_WRITE;
    tc->topic_sys_flag = m->has_topicsysflag ? m->topicsysflag : 0;
    tc->order = m->has_order && m->order;
    return 0;
}

static int load_one(void *arg, const char *key, const void *val, size_t len)
{
    struct topic_table *t = arg;
    Mq__TopicConfig *m = mq__topic_config__unpack(NULL, len, val);
    topic_config tc;
    if (!m || topic_config_from_pb(m, key, &tc) != 0 || !topic_name_valid(tc.name, NULL, 0)) {
        log_warn("metadata: unreadable topic config under key '%s' skipped", key);
    } else {
        topic_config *e = xmalloc(sizeof *e);
        *e = tc;
        strmap_put(&t->topics, e->name, e);
    }
    if (m)
        mq__topic_config__free_unpacked(m, NULL);
    return 0;
}

int topic_table_open(struct meta_db *db, struct topic_table **out, char *err, size_t errlen)
{
    struct topic_table *t = xcalloc(1, sizeof *t);
    t->db = db;
    strmap_init(&t->topics);
    t->dv_timestamp = now_ms(); /* differs from any earlier run's version */
    if (meta_db_scan(db, META_NS_TOPIC, "", load_one, t) != 0) {
        snprintf(err, errlen, "cannot read topic configs from the metadata database");
        topic_table_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void topic_table_free(struct topic_table *t)
{
    if (!t)
        return;
    void *v;
    for (size_t it = 0; strmap_next(&t->topics, &it, NULL, &v);)
        free(v);
    strmap_free(&t->topics);
    free(t);
}

void topic_table_on_change(struct topic_table *t, void (*fn)(void *arg), void *arg)
{
    t->on_change = fn;
    t->on_change_arg = arg;
}

static void changed(struct topic_table *t)
{
    t->dv_timestamp = now_ms();
    t->dv_counter++;
    if (t->on_change)
        t->on_change(t->on_change_arg);
}

void topic_table_touch(struct topic_table *t) { changed(t); }

const topic_config *topic_table_find(struct topic_table *t, const char *name)
{
    return name ? strmap_get(&t->topics, name) : NULL;
}

static bool config_valid(const topic_config *tc, char *err, size_t errlen)
{
    if (!topic_name_valid(tc->name, err, errlen))
        return false;
    if (tc->read_queue_nums < 1 || tc->read_queue_nums > TOPIC_QUEUE_NUMS_MAX ||
        tc->write_queue_nums < 1 || tc->write_queue_nums > TOPIC_QUEUE_NUMS_MAX) {
        snprintf(err, errlen, "topic %s: read and write queue numbers must be between 1 and %d (got %d and %d)",
                 tc->name, TOPIC_QUEUE_NUMS_MAX, tc->read_queue_nums, tc->write_queue_nums);
        return false;
    }
    if (tc->perm & ~(PERM_PRIORITY | PERM_READ | PERM_WRITE | PERM_INHERIT)) {
        snprintf(err, errlen, "topic %s: bad perm %d (READ 4 | WRITE 2 | INHERIT 1)", tc->name, tc->perm);
        return false;
    }
    if (tc->topic_sys_flag < 0) {
        snprintf(err, errlen, "topic %s: bad topicSysFlag %d", tc->name, tc->topic_sys_flag);
        return false;
    }
    return true;
}

static int persist(struct topic_table *t, const topic_config *tc, char *err, size_t errlen)
{
    Mq__TopicConfig m;
    topic_config_to_pb(tc, &m);
    uint8_t buf[512];
    size_t n = mq__topic_config__get_packed_size(&m);
    uint8_t *p = n <= sizeof buf ? buf : xmalloc(n);
    mq__topic_config__pack(&m, p);
    int rc = meta_db_put(t->db, META_NS_TOPIC, tc->name, p, n, true);
    if (p != buf)
        free(p);
    if (rc != 0)
        snprintf(err, errlen, "cannot persist topic %s in the metadata database", tc->name);
    return rc;
}

int topic_table_update(struct topic_table *t, const topic_config *tc, char *err, size_t errlen)
{
    if (!config_valid(tc, err, errlen))
        return -1;
    if (persist(t, tc, err, errlen) != 0)
        return -1;
    topic_config *e = strmap_get(&t->topics, tc->name);
    bool created = !e;
    if (!e) {
        e = xmalloc(sizeof *e);
        strmap_put(&t->topics, tc->name, e);
    }
    *e = *tc;
    log_info("topic %s %s: read %d, write %d, perm %d, order %s", e->name, created ? "created" : "updated",
             e->read_queue_nums, e->write_queue_nums, e->perm, e->order ? "true" : "false");
    changed(t);
    return 0;
}

int topic_table_delete(struct topic_table *t, const char *name, char *err, size_t errlen)
{
    topic_config *e = name ? strmap_get(&t->topics, name) : NULL;
    if (!e)
        return 1;
    if (meta_db_delete(t->db, META_NS_TOPIC, name, true) != 0) {
        snprintf(err, errlen, "cannot delete topic %s from the metadata database", name);
        return -1;
    }
    strmap_remove(&t->topics, e->name);
    log_info("topic %s deleted", e->name);
    free(e);
    changed(t);
    return 0;
}

const topic_config *topic_table_ensure(struct topic_table *t, const char *name, int32_t read,
                                       int32_t write, int32_t perm, int32_t sys_flag)
{
    const topic_config *e = topic_table_find(t, name);
    if (e)
        return e;
    topic_config tc = {.read_queue_nums = read, .write_queue_nums = write, .perm = perm,
                       .topic_sys_flag = sys_flag};
    char err[256] = "name too long";
    if (!name || !str_copy(tc.name, sizeof tc.name, name) || topic_table_update(t, &tc, err, sizeof err) != 0) {
        log_warn("cannot create topic %.64s: %s", name ? name : "(null)", name ? err : "no name");
        return NULL;
    }
    return topic_table_find(t, name);
}

size_t topic_table_count(const struct topic_table *t) { return t->topics.count; }

bool topic_table_next(const struct topic_table *t, size_t *it, const topic_config **out)
{
    void *v;
    if (!strmap_next(&t->topics, it, NULL, &v))
        return false;
    *out = v;
    return true;
}

void topic_table_data_version(const struct topic_table *t, int64_t *timestamp, int64_t *counter)
{
    *timestamp = t->dv_timestamp;
    *counter = t->dv_counter;
}
