// Retention: disk-full refusal and recovery, expired and forced segment
// deletion, clamped consumer reads, ConsumeQueue and index cleanup, pinned
// segments outliving their deletion.
#include "store_test_util.h"

#include <atomic>
#include <mutex>

using namespace storetest;

namespace {

const int64_t SEG = 64 * 1024;

struct Env {
    std::atomic<double> usage{10.0};
    std::atomic<int64_t> clock{0}; // 0 = real time
    static double disk(void *arg, const char *path)
    {
        (void)path;
        return ((Env *)arg)->usage.load();
    }
    static int64_t now(void *arg)
    {
        int64_t c = ((Env *)arg)->clock.load();
        return c ? c : now_ms();
    }
};

store_config env_config(const std::string &root, Env *e)
{
    store_config c = small_config(root, SEG, 10); // 10 CQ entries per file
    c.disk_usage = Env::disk;
    c.disk_usage_arg = e;
    c.clock_ms = Env::now;
    c.clock_arg = e;
    // Never the deletion hour unless a test says so.
    int hour = (int)((now_ms() / 3600000 + 12) % 24);
    snprintf(c.delete_when, sizeof c.delete_when, "%02d", hour);
    return c;
}

// ~6 segments of 1 KiB messages in queue R/0, each with a key.
std::vector<store_put_result> fill(store *s, int n = 360)
{
    std::vector<store_put_result> out;
    for (int i = 0; i < n; i++) {
        Msg m("R", 0, std::string(1000, 'a' + i % 26));
        m.prop(MSG_PROP_KEYS, "key" + std::to_string(i));
        out.push_back(put(s, m));
        EXPECT_EQ(out.back().status, STORE_PUT_OK);
    }
    EXPECT_TRUE(wait_until([&] { return dispatched(s); }));
    return out;
}

} // namespace

TEST(StoreRetention, FullDiskRefusesWritesAndRecovers)
{
    TempDir d;
    Env e;
    store *s = open_store(env_config(d.path, &e));
    EXPECT_EQ(put(s, Msg("D", 0, "before")).status, STORE_PUT_OK);
    e.usage = 95;
    store_clean_now(s);
    store_put_result r = put(s, Msg("D", 0, "refused"));
    EXPECT_EQ(r.status, STORE_PUT_DISK_FULL);
    EXPECT_NE(std::string(r.remark).find("disk full"), std::string::npos) << r.remark;
    store_stats st;
    store_get_stats(s, &st);
    EXPECT_TRUE(st.disk_full);
    EXPECT_DOUBLE_EQ(st.disk_used_ratio, 95);
    // Reads keep working.
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    EXPECT_EQ(pull_bodies(s, "D", 0, 0), std::vector<std::string>{"before"});
    e.usage = 60;
    store_clean_now(s);
    EXPECT_EQ(put(s, Msg("D", 0, "after")).status, STORE_PUT_OK);
    store_get_stats(s, &st);
    EXPECT_FALSE(st.disk_full);
    store_close(s);
    // A store opened on a full disk refuses writes from the start.
    e.usage = 99;
    s = open_store(env_config(d.path, &e));
    EXPECT_EQ(put(s, Msg("D", 0, "x")).status, STORE_PUT_DISK_FULL);
    store_close(s);
}

TEST(StoreRetention, ExpiredSegmentsGoAtDeleteHourAndReadsClamp)
{
    TempDir d;
    Env e;
    store_config c = env_config(d.path, &e);
    store *s = open_store(c);
    std::vector<store_put_result> res = fill(s);
    store_stats st;
    store_get_stats(s, &st);
    size_t segs_before = (size_t)st.segments; // the pre-created next file not counted
    ASSERT_GE(segs_before, 6u);
    // Not expired, not the hour, disk fine: nothing happens.
    EXPECT_EQ(store_clean_now(s), 0);
    // 73 hours later, still not the deletion hour: nothing either.
    e.clock = now_ms() + 73LL * 3600 * 1000;
    EXPECT_EQ(store_clean_now(s), 0);
    store_close(s);
    // Now make it the deletion hour.
    time_t secs = (time_t)(e.clock.load() / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    snprintf(c.delete_when, sizeof c.delete_when, "%02d", tm.tm_hour);
    s = open_store(c);
    int deleted = store_clean_now(s);
    EXPECT_EQ(deleted, (int)segs_before - 1); // everything but the current segment
    int64_t cl_min = store_commitlog_min_offset(s);
    EXPECT_EQ(cl_min, (int64_t)(segs_before - 1) * SEG);
    store_get_stats(s, &st);
    EXPECT_EQ(st.segments, 1);
    EXPECT_EQ(st.segments_deleted, deleted);
    EXPECT_LE(list_dir(d.sub("commitlog")).size(), 2u); // current + pre-created next

    // The queue's min offset moved to its first record still in the log.
    int64_t min, max;
    store_queue_offsets(s, "R", 0, &min, &max);
    EXPECT_EQ(max, 360);
    int64_t first_live = 0;
    while (res[first_live].physical_offset < cl_min)
        first_live++;
    EXPECT_EQ(min, first_live);
    // A consumer behind the min offset is told so and moved to it.
    std::vector<store_record_ref> refs(8);
    store_get_request req = {};
    req.topic = "R";
    req.queue_id = 0;
    req.offset = 0;
    req.max_count = 8;
    store_get_result r;
    ASSERT_EQ(store_get_messages(s, &req, refs.data(), &r), 0);
    EXPECT_EQ(r.status, STORE_GET_OFFSET_TOO_SMALL);
    EXPECT_EQ(r.next_begin_offset, min);
    req.offset = r.next_begin_offset;
    ASSERT_EQ(store_get_messages(s, &req, refs.data(), &r), 0);
    EXPECT_EQ(r.status, STORE_GET_FOUND);
    EXPECT_EQ(refs[0].physical_offset, res[first_live].physical_offset);
    store_pin_release(&r.pin);
    // ConsumeQueue files wholly below the min are gone (10 entries each).
    std::vector<std::string> cqs = list_dir(d.sub("consumequeue/R/0"));
    EXPECT_EQ(cqs.size(), (size_t)(35 - first_live / 10 + 1));
    // The index no longer answers with removed records.
    std::vector<int64_t> offs(4);
    EXPECT_EQ(store_query_by_key(s, "R", "key0", 0, INT64_MAX, offs.data(), 4), 0);
    EXPECT_EQ(store_query_by_key(s, "R", "key359", 0, INT64_MAX, offs.data(), 4), 1);
    // Reading a removed record by offset is refused.
    store_pin pin;
    store_pin_init(&pin);
    store_record_ref ref;
    EXPECT_EQ(store_read_record(s, res[0].physical_offset, &ref, &pin), STORE_ERR_NOT_FOUND);
    store_pin_release(&pin);
    store_close(s);

    // After a restart the clamped state holds.
    s = open_store(c);
    store_queue_offsets(s, "R", 0, &min, &max);
    EXPECT_EQ(min, first_live);
    EXPECT_EQ(max, 360);
    EXPECT_EQ(put(s, Msg("R", 0, "next")).queue_offset, 360);
    store_close(s);
}

TEST(StoreRetention, DiskPressureDeletesAtOnceAndForciblyAboveCleanRatio)
{
    TempDir d;
    Env e;
    store *s = open_store(env_config(d.path, &e));
    fill(s);
    // Above diskMaxUsedSpaceRatio only expired segments go: none are.
    e.usage = 80;
    EXPECT_EQ(store_clean_now(s), 0);
    // Expired + above 75%: deleted without waiting for the hour.
    e.clock = now_ms() + 73LL * 3600 * 1000;
    int deleted = store_clean_now(s);
    EXPECT_GE(deleted, 5);
    store_close(s);

}

struct LostLog {
    std::mutex mu;
    std::vector<std::string> segments;
    std::vector<store_lost_range> ranges;
    static void hook(void *arg, const char *segment, const store_lost_range *lost, size_t n)
    {
        LostLog *l = (LostLog *)arg;
        std::lock_guard<std::mutex> g(l->mu);
        l->segments.push_back(segment);
        for (size_t i = 0; i < n; i++)
            l->ranges.push_back(lost[i]); // topic pointer checked during the call only
        for (size_t i = 0; i < n; i++)
            EXPECT_STREQ(lost[i].topic, "R");
    }
};

TEST(StoreRetention, UnexpiredSegmentsStayAboveCleanRatioByDefault)
{
    TempDir d;
    Env e;
    store_config c = env_config(d.path, &e);
    EXPECT_FALSE(c.clean_file_forcibly_enable); // RocketMQ's default is true; ours is not
    store *s = open_store(c);
    fill(s);
    int64_t max = store_commitlog_max_offset(s);
    for (double u : {80.0, 86.0, 95.0, 99.9}) {
        e.usage = u;
        EXPECT_EQ(store_clean_now(s), 0) << u;
    }
    EXPECT_EQ(store_commitlog_min_offset(s), 0);
    int64_t min, qmax;
    store_queue_offsets(s, "R", 0, &min, &qmax);
    EXPECT_EQ(min, 0);
    EXPECT_EQ(qmax, 360);
    // Refused while full, nothing lost; accepted again once space is back.
    EXPECT_EQ(put(s, Msg("R", 0, "x")).status, STORE_PUT_DISK_FULL);
    EXPECT_EQ(store_commitlog_max_offset(s), max);
    e.usage = 50;
    EXPECT_EQ(store_clean_now(s), 0);
    EXPECT_EQ(put(s, Msg("R", 0, "x")).status, STORE_PUT_OK);
    store_close(s);
}

TEST(StoreRetention, ForcedCleanDeletesOneOldestSegmentPerRoundWhenEnabled)
{
    TempDir d;
    Env e;
    LostLog lost;
    store_config c = env_config(d.path, &e);
    c.clean_file_forcibly_enable = true;
    c.on_forced_delete = LostLog::hook;
    c.on_forced_delete_arg = &lost;
    store *s = open_store(c);
    fill(s);
    int64_t max = store_commitlog_max_offset(s);
    int64_t segs = (max + SEG - 1) / SEG;
    ASSERT_GE(segs, 5);
    e.usage = 86;
    int64_t prev_to = 0;
    for (int64_t round = 1; round < segs; round++) {
        ASSERT_EQ(store_clean_now(s), 1) << round; // one per round, oldest first
        EXPECT_EQ(store_commitlog_min_offset(s), round * SEG);
        std::lock_guard<std::mutex> g(lost.mu);
        ASSERT_EQ(lost.ranges.size(), (size_t)round);
        const store_lost_range &r = lost.ranges.back();
        EXPECT_EQ(r.queue_id, 0);
        EXPECT_EQ(r.from, prev_to); // contiguous, from the queue's start
        EXPECT_GT(r.to, r.from);
        prev_to = r.to;
        int64_t qmin, qmax;
        store_queue_offsets(s, "R", 0, &qmin, &qmax);
        EXPECT_EQ(qmin, r.to);
    }
    // Never the segment being written.
    EXPECT_EQ(store_clean_now(s), 0);
    EXPECT_EQ(store_commitlog_min_offset(s), (segs - 1) * SEG);
    EXPECT_EQ(lost.segments.size(), (size_t)(segs - 1));
    // Below the clean ratio nothing goes.
    store_close(s);
}

TEST(StoreRetention, PinnedSegmentOutlivesItsDeletion)
{
    TempDir d;
    Env e;
    store *s = open_store(env_config(d.path, &e));
    fill(s);
    std::vector<store_record_ref> refs(4);
    store_get_request req = {};
    req.topic = "R";
    req.queue_id = 0;
    req.offset = 0;
    req.max_count = 4;
    store_get_result pulled;
    ASSERT_EQ(store_get_messages(s, &req, refs.data(), &pulled), 0);
    ASSERT_EQ(pulled.count, 4);
    std::string seg0 = d.sub("commitlog/00000000000000000000");
    ASSERT_EQ(access(seg0.c_str(), F_OK), 0);
    e.clock = now_ms() + 73LL * 3600 * 1000;
    ASSERT_GE(store_delete_expired_now(s), 1);
    EXPECT_NE(access(seg0.c_str(), F_OK), 0); // unlinked
    // The pulled records are still mapped and intact.
    for (int i = 0; i < pulled.count; i++) {
        msg_record r;
        ASSERT_EQ(msg_decode(refs[i].data, refs[i].size, true, &r), MSG_OK);
        EXPECT_EQ(r.queue_offset, i);
    }
    // Released from another thread, as the broker's writev completion would.
    std::thread([&] { store_pin_release(&pulled.pin); }).join();
    EXPECT_EQ(pulled.pin.count, 0);
    store_close(s);
}

// storePathCommitLog / storePathConsumeQueue on other disks: the guard
// watches each part's filesystem, and the fuller one refuses writes.
TEST(StoreRetention, DiskGuardWatchesTheCommitLogAndConsumeQueueFilesystems)
{
    TempDir d;
    struct TwoDisks {
        std::atomic<double> cl{10.0}, cq{10.0};
        std::mutex mu;
        std::vector<std::string> asked;
        static double disk(void *arg, const char *path)
        {
            auto *t = (TwoDisks *)arg;
            std::lock_guard<std::mutex> g(t->mu);
            t->asked.push_back(path);
            return std::string(path).find("/disk-cq") != std::string::npos ? t->cq.load() : t->cl.load();
        }
    } disks;
    store_config c = small_config(d.sub("root"));
    snprintf(c.store_path_commit_log, sizeof c.store_path_commit_log, "%s", d.sub("disk-cl/commitlog").c_str());
    snprintf(c.store_path_consume_queue, sizeof c.store_path_consume_queue, "%s", d.sub("disk-cq/cq").c_str());
    c.disk_usage = TwoDisks::disk;
    c.disk_usage_arg = &disks;
    store *s = open_store(c);
    ASSERT_NE(s, nullptr);
    {
        std::lock_guard<std::mutex> g(disks.mu);
        EXPECT_NE(std::find(disks.asked.begin(), disks.asked.end(), d.sub("disk-cl/commitlog")), disks.asked.end());
        EXPECT_NE(std::find(disks.asked.begin(), disks.asked.end(), d.sub("disk-cq/cq")), disks.asked.end());
    }
    EXPECT_EQ(put(s, Msg("P", 0, "a")).status, STORE_PUT_OK);
    disks.cq = 95.0; // the ConsumeQueues' disk fills up
    store_clean_now(s);
    EXPECT_EQ(put(s, Msg("P", 0, "b")).status, STORE_PUT_DISK_FULL);
    disks.cq = 10.0;
    disks.cl = 95.0; // then the CommitLog's
    store_clean_now(s);
    EXPECT_EQ(put(s, Msg("P", 0, "c")).status, STORE_PUT_DISK_FULL);
    disks.cl = 10.0;
    store_clean_now(s);
    EXPECT_EQ(put(s, Msg("P", 0, "d")).status, STORE_PUT_OK);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    EXPECT_EQ(pull_bodies(s, "P", 0, 0), (std::vector<std::string>{"a", "d"}));
    store_close(s);
    // Each part is where it was configured, nothing of it under the root.
    EXPECT_FALSE(list_dir(d.sub("disk-cl/commitlog")).empty());
    EXPECT_FALSE(list_dir(d.sub("disk-cq/cq")).empty());
    EXPECT_TRUE(list_dir(d.sub("root/commitlog")).empty());
    EXPECT_TRUE(list_dir(d.sub("root/consumequeue")).empty());
}

// A part configured away from the files it has: the open refuses (instead of
// starting an empty store that seems to have lost every message).
TEST(StoreRetention, APartConfiguredAwayFromItsFilesRefusesToOpen)
{
    TempDir d;
    store_config c = small_config(d.path);
    store *s = open_store(c);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(put(s, Msg("P", 0, "kept")).status, STORE_PUT_OK);
    store_close(s);
    for (const char *key : {"storePathCommitLog", "storePathConsumeQueue", "storePathIndex"}) {
        store_config m = c;
        char *field = !strcmp(key, "storePathCommitLog")      ? m.store_path_commit_log
                      : !strcmp(key, "storePathConsumeQueue") ? m.store_path_consume_queue
                                                              : m.store_path_index;
        snprintf(field, sizeof m.store_path_commit_log, "%s", d.sub("other-disk/part").c_str());
        store *x = nullptr;
        char err[512] = "";
        EXPECT_EQ(store_open(&m, &x, err, sizeof err), STORE_ERR_INVALID) << key;
        EXPECT_NE(std::string(err).find(key), std::string::npos) << err;
        if (x)
            store_close(x);
    }
    // RocketMQ's default index place (a stock broker.conf) is ours.
    store_config m = c;
    snprintf(m.store_path_index, sizeof m.store_path_index, "%s/index/", d.path.c_str());
    s = open_store(m);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(pull_bodies(s, "P", 0, 0), (std::vector<std::string>{"kept"}));
    store_close(s);
    EXPECT_TRUE(list_dir(d.sub("index")).empty());
}
