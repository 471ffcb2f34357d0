// Helpers shared by the store unit tests: a temporary store directory that
// cleans itself up, small-segment configurations, message builders, and
// wait-for-condition with a deadline (no fixed sleeps).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include "bytes.h"
#include "log.h"
#include "message.h"
#include "store.h"
#include "util.h"
}

namespace storetest {

inline void remove_tree(const std::string &path)
{
    DIR *d = opendir(path.c_str());
    if (!d) {
        unlink(path.c_str());
        return;
    }
    while (struct dirent *e = readdir(d)) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        std::string sub = path + "/" + e->d_name;
        struct stat st;
        if (lstat(sub.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(sub);
        else
            unlink(sub.c_str());
    }
    closedir(d);
    rmdir(path.c_str());
}

struct TempDir {
    std::string path;
    TempDir()
    {
        char tmpl[] = "/tmp/mqstore-test-XXXXXX";
        char *p = mkdtemp(tmpl);
        EXPECT_NE(p, nullptr);
        path = p ? p : "/tmp/mqstore-test-failed";
    }
    ~TempDir() { remove_tree(path); }
    std::string sub(const std::string &s) const { return path + "/" + s; }
};

inline store_config small_config(const std::string &root, int64_t seg = 64 * 1024,
                                 int64_t cq_entries = 100)
{
    store_config c;
    store_config_init(&c);
    snprintf(c.store_path_root_dir, sizeof c.store_path_root_dir, "%s", root.c_str());
    c.maped_file_size_commit_log = seg;
    c.maped_file_size_consume_queue = cq_entries * 20;
    c.flush_interval_commit_log = 10;
    c.flush_interval_consume_queue = 50;
    c.sync_flush_timeout = 5000;
    c.clean_resource_interval = 3600 * 1000; // tests drive the cleaner by hand
    return c;
}

inline store *open_store(const store_config &c)
{
    store *s = nullptr;
    char err[256] = "";
    int rc = store_open(&c, &s, err, sizeof err);
    EXPECT_EQ(rc, 0) << err;
    return s;
}

// A message under construction: owns its topic, body and properties.
struct Msg {
    std::string topic = "TopicTest";
    std::string body = "body";
    bytebuf props;
    int32_t queue_id = 0;
    int32_t sysflag = 0;
    int64_t store_ts = 0;
    Msg() { bytebuf_init(&props); }
    Msg(const std::string &t, int32_t q, const std::string &b) : Msg()
    {
        topic = t;
        queue_id = q;
        body = b;
    }
    Msg(const Msg &o) : Msg()
    {
        topic = o.topic;
        body = o.body;
        queue_id = o.queue_id;
        sysflag = o.sysflag;
        store_ts = o.store_ts;
        bytebuf_append(&props, o.props.data, o.props.len);
    }
    ~Msg() { bytebuf_free(&props); }
    Msg &prop(const char *k, const std::string &v)
    {
        msg_prop_set(&props, k, v.c_str());
        return *this;
    }
    msg_record rec() const
    {
        msg_record r;
        memset(&r, 0, sizeof r);
        r.topic = topic.data();
        r.topic_len = (uint32_t)topic.size();
        r.queue_id = queue_id;
        r.body = (const uint8_t *)body.data();
        r.body_len = (uint32_t)body.size();
        r.properties = (const char *)props.data;
        r.properties_len = (uint32_t)props.len;
        r.sysflag = sysflag;
        r.born_timestamp = 1700000000000LL;
        msg_host_set(&r.born_host, "10.0.0.2", 40000);
        r.store_timestamp = store_ts;
        return r;
    }
};

inline store_put_result put(store *s, const Msg &m)
{
    store_put_result res;
    msg_record r = m.rec();
    store_put(s, &r, &res);
    return res;
}

// Waits until pred() holds or the deadline passes; returns pred().
inline bool wait_until(const std::function<bool()> &pred, int timeout_ms = 5000)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline)
            return pred();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
}

inline bool dispatched(store *s)
{
    return store_dispatched_offset(s) == store_commitlog_max_offset(s);
}

// Reads queue entries [from, to) through the pull path; returns decoded bodies.
inline std::vector<std::string> pull_bodies(store *s, const char *topic, int32_t qid,
                                            int64_t from, int max = 32)
{
    std::vector<store_record_ref> refs(max);
    store_get_request req = {};
    req.topic = topic;
    req.queue_id = qid;
    req.offset = from;
    req.max_count = max;
    store_get_result res;
    std::vector<std::string> out;
    EXPECT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
    for (int i = 0; i < res.count; i++) {
        msg_record r;
        EXPECT_EQ(msg_decode(refs[i].data, refs[i].size, true, &r), MSG_OK);
        out.emplace_back((const char *)r.body, r.body_len);
    }
    store_pin_release(&res.pin);
    return out;
}

inline std::string read_file(const std::string &path)
{
    FILE *f = fopen(path.c_str(), "rb");
    if (!f)
        return "";
    std::string s;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        s.append(buf, n);
    fclose(f);
    return s;
}

inline std::vector<std::string> list_dir(const std::string &path)
{
    std::vector<std::string> out;
    DIR *d = opendir(path.c_str());
    if (!d)
        return out;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            out.push_back(e->d_name);
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace storetest
