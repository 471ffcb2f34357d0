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
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "bytes.h"
#include "log.h"
#include "message.h"
#include "store.h"
#include "util.h"
#include "../../broker/store/tools/crash_body.h"
}

extern char **environ;

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

// ---- the crash child (build/bin/store_crash_child) ----------------------------

struct Ack {
    int64_t phys = 0, qoff = 0;
    std::string topic;
    int qid = 0;
    std::string key;
    int len = 0, wrote = 0;
};

// A store_crash_child process with its stdout on a pipe; collects ACK lines.
class Child {
public:
    pid_t pid = -1;
    std::vector<Ack> acks;
    bool ready = false, exited = false, closed = false;
    int fails = 0;

    ~Child()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        if (fd >= 0)
            close(fd);
    }
    bool start(const std::vector<std::string> &args)
    {
        int p[2];
        if (pipe(p) != 0)
            return false;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_addclose(&fa, p[0]);
        std::string bin = std::string(MQ_BIN_DIR) + "/store_crash_child";
        std::vector<char *> argv;
        argv.push_back((char *)bin.c_str());
        for (auto &a : args)
            argv.push_back((char *)a.c_str());
        argv.push_back(nullptr);
        int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        fd = p[0];
        if (rc != 0)
            pid = -1;
        return rc == 0;
    }
    // Reads what is available within timeout_ms; false at end of stream.
    bool pump(int timeout_ms)
    {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return true;
        char tmp[65536];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0)
            return false;
        buf.append(tmp, (size_t)n);
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            parse(buf.substr(0, nl));
            buf.erase(0, nl + 1);
        }
        return true;
    }
    bool wait_for(const std::function<bool()> &pred, int timeout_ms)
    {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!pred()) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            if (!pump(20))
                return pred();
        }
        return true;
    }
    // Waits for the process to end by itself; returns its exit status.
    int join(int timeout_ms = 30000)
    {
        wait_for([] { return false; }, timeout_ms); // drain until EOF
        int st = -1;
        if (pid > 0) {
            waitpid(pid, &st, 0);
            pid = -1;
        }
        return st;
    }
    // SIGKILL; everything the child wrote before dying is still collected.
    void kill9()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            pid = -1;
        }
        while (pump(0)) {
            struct pollfd pfd = {fd, POLLIN, 0};
            if (poll(&pfd, 1, 0) <= 0)
                break;
        }
    }

private:
    int fd = -1;
    std::string buf;
    void parse(const std::string &line)
    {
        std::istringstream in(line);
        std::string word;
        in >> word;
        if (word == "ACK") {
            Ack a;
            in >> a.phys >> a.qoff >> a.topic >> a.qid >> a.key >> a.len >> a.wrote;
            acks.push_back(a);
        } else if (word == "READY") {
            ready = true;
        } else if (word == "EXIT") {
            exited = true;
        } else if (word == "CLOSED") {
            closed = true;
        } else if (word == "FAIL") {
            fails++;
        }
    }
};

inline std::vector<std::string> child_args(const std::string &dir, int round,
                                           const std::string &flush, int count,
                                           int64_t seg = 256 * 1024)
{
    std::vector<std::string> a = {"--dir", dir, "--flush", flush, "--round", std::to_string(round),
                                  "--seg", std::to_string(seg), "--cq-entries", "200",
                                  "--seed", std::to_string(round + 1)};
    if (count > 0) {
        a.push_back("--count");
        a.push_back(std::to_string(count));
    }
    return a;
}

// Checks that an acknowledged record is present and intact, and that its
// ConsumeQueue entry and its key index entry agree with it.
inline void verify_ack(store *s, const Ack &a)
{
    SCOPED_TRACE("ack " + a.key + " at " + std::to_string(a.phys));
    store_pin pin;
    store_pin_init(&pin);
    store_record_ref ref;
    ASSERT_EQ(store_read_record(s, a.phys, &ref, &pin), 0);
    EXPECT_EQ((int)ref.size, a.wrote);
    msg_record r;
    ASSERT_EQ(msg_decode(ref.data, ref.size, true, &r), MSG_OK);
    EXPECT_EQ(std::string(r.topic, r.topic_len), a.topic);
    EXPECT_EQ(r.queue_id, a.qid);
    EXPECT_EQ(r.queue_offset, a.qoff);
    std::vector<uint8_t> want((size_t)a.len);
    crash_body_fill(a.key.c_str(), want.data(), want.size());
    ASSERT_EQ((int)r.body_len, a.len);
    EXPECT_EQ(memcmp(r.body, want.data(), want.size()), 0);
    const char *v;
    size_t vl;
    ASSERT_TRUE(msg_prop_get(r.properties, r.properties_len, MSG_PROP_KEYS, &v, &vl));
    EXPECT_EQ(std::string(v, vl), a.key);
    store_pin_release(&pin);
    // ConsumeQueue entry
    std::vector<store_record_ref> refs(1);
    store_get_request req = {};
    req.topic = a.topic.c_str();
    req.queue_id = a.qid;
    req.offset = a.qoff;
    req.max_count = 1;
    store_get_result res;
    ASSERT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
    ASSERT_EQ(res.status, STORE_GET_FOUND);
    EXPECT_EQ(refs[0].physical_offset, a.phys);
    store_pin_release(&res.pin);
    // Key index
    int64_t offs[4];
    int n = store_query_by_key(s, a.topic.c_str(), a.key.c_str(), 0, INT64_MAX, offs, 4);
    ASSERT_EQ(n, 1);
    EXPECT_EQ(offs[0], a.phys);
}

// Every queue of the store with its offset range.
struct QueueSpan {
    std::string topic;
    int32_t qid;
    int64_t min, max;
};
inline std::vector<QueueSpan> list_queues(store *s)
{
    std::vector<QueueSpan> qs;
    store_foreach_queue(
        s,
        [](void *arg, const char *t, int32_t q, int64_t mn, int64_t mx) {
            ((std::vector<QueueSpan> *)arg)->push_back({t, q, mn, mx});
            return true;
        },
        &qs);
    return qs;
}

// Every entry of every queue points at an intact record of that queue with
// the matching queue offset: no garbage is readable.
inline int64_t verify_all_queues(store *s)
{
    std::vector<QueueSpan> qs = list_queues(s);
    int64_t total = 0;
    std::vector<store_record_ref> refs(32);
    for (auto &q : qs) {
        int64_t next = q.min;
        while (next < q.max) {
            store_get_request req = {};
            req.topic = q.topic.c_str();
            req.queue_id = q.qid;
            req.offset = next;
            req.max_count = 32;
            store_get_result res;
            EXPECT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
            EXPECT_EQ(res.status, STORE_GET_FOUND) << q.topic << "/" << q.qid << " @" << next;
            if (res.status != STORE_GET_FOUND || res.count == 0)
                return -1;
            for (int i = 0; i < res.count; i++) {
                msg_record r;
                EXPECT_EQ(msg_decode(refs[i].data, refs[i].size, true, &r), MSG_OK);
                EXPECT_EQ(std::string(r.topic, r.topic_len), q.topic);
                EXPECT_EQ(r.queue_id, q.qid);
                EXPECT_EQ(r.queue_offset, next + i);
                EXPECT_EQ(refs[i].queue_offset, next + i);
            }
            next += res.count;
            total += res.count;
            store_pin_release(&res.pin);
        }
    }
    return total;
}

} // namespace storetest
