// ConsumeQueue: entry bytes, pull statuses and filters, arrival
// notifications, delay-topic delivery times, rebuild of lost or damaged
// queues from the CommitLog.
#include "store_test_util.h"

#include <map>
#include <mutex>

using namespace storetest;

namespace {

std::string cq_path(const TempDir &d, const std::string &topic, int qid, int64_t start = 0)
{
    char name[32];
    snprintf(name, sizeof name, "%020lld", (long long)start);
    return d.sub("consumequeue/") + topic + "/" + std::to_string(qid) + "/" + name;
}

store_get_result get(store *s, const char *topic, int qid, int64_t off, int max,
                     std::vector<store_record_ref> &refs, store_cq_filter f = nullptr,
                     void *arg = nullptr, int max_bytes = 0)
{
    refs.resize(max);
    store_get_request req = {};
    req.topic = topic;
    req.queue_id = qid;
    req.offset = off;
    req.max_count = max;
    req.max_bytes = max_bytes;
    req.cq_filter = f;
    req.filter_arg = arg;
    store_get_result res;
    EXPECT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
    return res;
}

} // namespace

TEST(StoreConsumeQueue, EntriesAre20BytesOffsetSizeTagHash)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    Msg a("Q", 1, "aaa");
    a.prop(MSG_PROP_TAGS, "TagA");
    Msg b("Q", 1, "bbbb");
    store_put_result ra = put(s, a), rb = put(s, b);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    store_close(s); // flushes the ConsumeQueue
    std::string f = read_file(cq_path(d, "Q", 1));
    ASSERT_EQ(f.size(), 100u * 20);
    EXPECT_EQ((int64_t)be64_load(f.data()), ra.physical_offset);
    EXPECT_EQ((int32_t)be32_load(f.data() + 8), ra.wrote_bytes);
    EXPECT_EQ((int64_t)be64_load(f.data() + 12), 2598919); // "TagA".hashCode()
    EXPECT_EQ((int64_t)be64_load(f.data() + 20), rb.physical_offset);
    EXPECT_EQ((int32_t)be32_load(f.data() + 28), rb.wrote_bytes);
    EXPECT_EQ((int64_t)be64_load(f.data() + 32), 0); // no tag
    EXPECT_EQ(be32_load(f.data() + 48), 0u);         // third entry empty
}

TEST(StoreConsumeQueue, PullStatusesFollowRocketMQ)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    std::vector<store_record_ref> refs;
    store_get_result r = get(s, "None", 0, 0, 8, refs);
    EXPECT_EQ(r.status, STORE_GET_NO_MATCHED_LOGIC_QUEUE);
    for (int i = 0; i < 5; i++)
        put(s, Msg("P", 0, "m" + std::to_string(i)));
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    r = get(s, "P", 0, 0, 3, refs);
    EXPECT_EQ(r.status, STORE_GET_FOUND);
    EXPECT_EQ(r.count, 3);
    EXPECT_EQ(r.next_begin_offset, 3);
    EXPECT_EQ(r.min_offset, 0);
    EXPECT_EQ(r.max_offset, 5);
    EXPECT_EQ(refs[2].queue_offset, 2);
    EXPECT_EQ(r.pin.count, 1);
    store_pin_release(&r.pin);
    r = get(s, "P", 0, 3, 32, refs);
    EXPECT_EQ(r.count, 2);
    EXPECT_EQ(r.next_begin_offset, 5);
    store_pin_release(&r.pin);
    r = get(s, "P", 0, 5, 32, refs);
    EXPECT_EQ(r.status, STORE_GET_OFFSET_OVERFLOW_ONE);
    EXPECT_EQ(r.next_begin_offset, 5);
    r = get(s, "P", 0, 9, 32, refs);
    EXPECT_EQ(r.status, STORE_GET_OFFSET_OVERFLOW_BADLY);
    EXPECT_EQ(r.next_begin_offset, 0); // min offset 0 -> back to it
    // max_bytes: the first record always comes, then the limit applies.
    r = get(s, "P", 0, 0, 32, refs, nullptr, nullptr, 1);
    EXPECT_EQ(r.count, 1);
    EXPECT_EQ(r.next_begin_offset, 1);
    store_pin_release(&r.pin);
    store_close(s);
}

static bool only_tag_b(void *arg, int64_t tag)
{
    (void)arg;
    return tag == msg_tag_hash("B", 1);
}

static bool body_has_7(void *arg, const uint8_t *rec, uint32_t size)
{
    (void)arg;
    msg_record r;
    if (msg_decode(rec, size, false, &r) != MSG_OK)
        return false;
    return memchr(r.body, '7', r.body_len) != nullptr;
}

TEST(StoreConsumeQueue, FiltersSkipEntriesAndStepNextOffset)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    for (int i = 0; i < 10; i++) {
        Msg m("F", 0, "m" + std::to_string(i));
        m.prop(MSG_PROP_TAGS, i == 6 ? "B" : "A");
        put(s, m);
    }
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    std::vector<store_record_ref> refs;
    store_get_result r = get(s, "F", 0, 0, 32, refs, only_tag_b);
    ASSERT_EQ(r.status, STORE_GET_FOUND);
    ASSERT_EQ(r.count, 1);
    EXPECT_EQ(refs[0].queue_offset, 6);
    EXPECT_EQ(refs[0].tag_code, msg_tag_hash("B", 1));
    EXPECT_EQ(r.next_begin_offset, 10);
    store_pin_release(&r.pin);
    r = get(s, "F", 0, 7, 32, refs, only_tag_b);
    EXPECT_EQ(r.status, STORE_GET_NO_MATCHED_MESSAGE);
    EXPECT_EQ(r.count, 0);
    EXPECT_EQ(r.next_begin_offset, 10); // stepped past the filtered entries
    store_pin_release(&r.pin);
    // Record filter (e.g. SQL92) over whole records.
    refs.resize(32);
    store_get_request req = {};
    req.topic = "F";
    req.queue_id = 0;
    req.offset = 0;
    req.max_count = 32;
    req.record_filter = body_has_7;
    ASSERT_EQ(store_get_messages(s, &req, refs.data(), &r), 0);
    ASSERT_EQ(r.count, 1);
    EXPECT_EQ(refs[0].queue_offset, 7);
    store_pin_release(&r.pin);
    store_close(s);
}

TEST(StoreConsumeQueue, EntriesSpanSeveralQueueFiles)
{
    TempDir d;
    store *s = open_store(small_config(d.path, 256 * 1024, 10)); // 10 entries per file
    for (int i = 0; i < 35; i++)
        put(s, Msg("M", 3, std::to_string(i)));
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    std::vector<std::string> got = pull_bodies(s, "M", 3, 8, 32);
    ASSERT_EQ(got.size(), 27u);
    EXPECT_EQ(got.front(), "8");
    EXPECT_EQ(got.back(), "34");
    store_close(s);
    EXPECT_EQ(list_dir(d.sub("consumequeue/M/3")).size(), 4u);
}

TEST(StoreConsumeQueue, ArrivalListenerIsCoalescedPerQueue)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    struct Seen {
        std::mutex mu;
        std::map<std::pair<std::string, int>, int64_t> max;
        int calls = 0;
    } seen;
    store_set_arrival_listener(
        s,
        [](void *arg, const char *topic, int32_t qid, int64_t max) {
            Seen *x = (Seen *)arg;
            std::lock_guard<std::mutex> g(x->mu);
            x->max[{topic, qid}] = max;
            x->calls++;
        },
        &seen);
    // A batch is dispatched in one round: one call per queue, not per message.
    std::vector<Msg> msgs;
    for (int i = 0; i < 50; i++)
        msgs.emplace_back("L", i % 2, "x");
    std::vector<msg_record> recs;
    for (auto &m : msgs)
        recs.push_back(m.rec());
    store_put_result res;
    ASSERT_EQ(store_put_batch(s, recs.data(), recs.size(), &res, nullptr), 0);
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard<std::mutex> g(seen.mu);
        return seen.max[{"L", 0}] == 25 && seen.max[{"L", 1}] == 25;
    }));
    {
        std::lock_guard<std::mutex> g(seen.mu);
        EXPECT_LE(seen.calls, 4); // at most two rounds for 50 records
    }
    store_close(s);
}

TEST(StoreConsumeQueue, ScheduleTopicTagHoldsDeliveryTime)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    EXPECT_EQ(store_delay_level_count(s), 18);
    EXPECT_EQ(store_deliver_time(s, 1, 1000), 2000);
    EXPECT_EQ(store_deliver_time(s, 3, 1000), 11000);
    EXPECT_EQ(store_deliver_time(s, 18, 0), 2 * 3600 * 1000);
    EXPECT_EQ(store_deliver_time(s, 99, 0), 2 * 3600 * 1000); // clamped
    Msg m(MSG_TOPIC_SCHEDULE, 2, "later");
    m.prop(MSG_PROP_DELAY, "3").prop(MSG_PROP_TAGS, "T");
    m.store_ts = 5000;
    put(s, m);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    std::vector<store_record_ref> refs;
    store_get_result r = get(s, MSG_TOPIC_SCHEDULE, 2, 0, 1, refs);
    ASSERT_EQ(r.count, 1);
    EXPECT_EQ(refs[0].tag_code, 5000 + 10000);
    store_pin_release(&r.pin);
    store_close(s);
    // A custom level table.
    store_config c = small_config(d.path);
    snprintf(c.message_delay_level, sizeof c.message_delay_level, "2s 1d");
    s = open_store(c);
    EXPECT_EQ(store_delay_level_count(s), 2);
    EXPECT_EQ(store_deliver_time(s, 2, 0), 86400000);
    store_close(s);
    int64_t lv[4];
    EXPECT_EQ(store_delay_levels_parse("1s 5x", lv, 4), -1);
    ASSERT_EQ(store_delay_levels_parse("200ms 1s 3m", lv, 4), 3); // ms for short test levels
    EXPECT_EQ(lv[0], 200);
    EXPECT_EQ(lv[1], 1000);
    EXPECT_EQ(lv[2], 180000);
    EXPECT_EQ(store_delay_levels_parse("ms", lv, 4), -1);
    EXPECT_EQ(store_delay_levels_parse("1s 2s 3s 4s 5s", lv, 4), -1);
}

static void fill(store *s, int n)
{
    for (int i = 0; i < n; i++) {
        Msg m("R", i % 2, "record-" + std::to_string(i) + std::string(i * 37 % 500, 'z'));
        m.prop(MSG_PROP_TAGS, i % 3 ? "A" : "B");
        put(s, m);
    }
    put(s, Msg("Other", 0, "x"));
}

TEST(StoreConsumeQueue, DeletedQueueDirectoryIsRebuiltIdentically)
{
    TempDir d;
    store_config c = small_config(d.path, 64 * 1024, 50);
    store *s = open_store(c);
    fill(s, 300);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    store_close(s);
    std::vector<std::string> files = list_dir(d.sub("consumequeue/R/1"));
    ASSERT_EQ(files.size(), 3u);
    std::vector<std::string> before;
    for (auto &f : files)
        before.push_back(read_file(d.sub("consumequeue/R/1/") + f));
    std::string other = read_file(cq_path(d, "Other", 0));

    remove_tree(d.sub("consumequeue/R"));
    s = open_store(c);
    ASSERT_NE(s, nullptr);
    int64_t min, max;
    store_queue_offsets(s, "R", 1, &min, &max);
    EXPECT_EQ(max, 150);
    store_close(s);
    ASSERT_EQ(list_dir(d.sub("consumequeue/R/1")), files);
    for (size_t i = 0; i < files.size(); i++)
        EXPECT_EQ(read_file(d.sub("consumequeue/R/1/") + files[i]), before[i]) << files[i];
    EXPECT_EQ(read_file(cq_path(d, "Other", 0)), other);
}

static void write_at(const std::string &path, long pos, const char *bytes, size_t n)
{
    FILE *fp = fopen(path.c_str(), "r+b");
    ASSERT_NE(fp, nullptr);
    fseek(fp, pos, SEEK_SET);
    fwrite(bytes, 1, n, fp);
    fclose(fp);
}

TEST(StoreConsumeQueue, DamagedQueueIsRebuilt)
{
    TempDir d;
    store_config c = small_config(d.path, 64 * 1024, 50);
    store *s = open_store(c);
    fill(s, 300);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    store_close(s);
    std::string f0 = cq_path(d, "R", 0, 0), f1 = cq_path(d, "R", 0, 1000),
                f2 = cq_path(d, "R", 0, 2000);
    std::string before0 = read_file(f0), before1 = read_file(f1), before2 = read_file(f2);

    // 1. The last entry points at garbage: detected by checking its record.
    write_at(f2, 20 * 49, "garbagegarbagegarbag", 20);
    s = open_store(c);
    ASSERT_NE(s, nullptr);
    store_close(s);
    EXPECT_EQ(read_file(f2), before2);

    // 2. A file of the wrong size in the middle.
    ASSERT_EQ(truncate(f1.c_str(), 123), 0);
    s = open_store(c);
    ASSERT_NE(s, nullptr);
    std::vector<std::string> got = pull_bodies(s, "R", 0, 60, 4);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].substr(0, 10), "record-120");
    store_close(s);
    EXPECT_EQ(read_file(f0), before0);
    EXPECT_EQ(read_file(f1), before1);
    EXPECT_EQ(read_file(f2), before2);
}

// A service registers a sink instead of editing the dispatcher: it sees every
// record in CommitLog order, and each round end before the round's end is
// published as the dispatched offset.
TEST(StoreDispatch, AServiceSinkSeesEveryRecordAndEachRoundEnd)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    struct Seen {
        std::mutex mu;
        store *s = nullptr;
        std::vector<int64_t> offsets;
        std::vector<std::string> bodies;
        std::vector<int64_t> round_ends;
        bool ahead = false; // a round end found `dispatched` already at upto
        bool gap = false;   // a round end whose records were not all seen
    } seen;
    seen.s = s;
    store_sink sink = {
        "test",
        &seen,
        [](void *arg, const msg_record *r) {
            Seen *x = (Seen *)arg;
            std::lock_guard<std::mutex> g(x->mu);
            x->offsets.push_back(r->physical_offset);
            x->bodies.emplace_back((const char *)r->body, r->body_len);
            return 0;
        },
        [](void *arg, int64_t upto) {
            Seen *x = (Seen *)arg;
            std::lock_guard<std::mutex> g(x->mu);
            if (store_dispatched_offset(x->s) >= upto && upto > 0 &&
                (x->round_ends.empty() || x->round_ends.back() < upto))
                x->ahead = true;
            if (!x->offsets.empty() && x->offsets.back() >= upto)
                x->gap = true;
            x->round_ends.push_back(upto);
            return 0;
        },
    };
    ASSERT_EQ(store_add_sink(s, &sink), 0);
    std::vector<int64_t> expect;
    for (int i = 0; i < 20; i++) {
        Msg m("S", i % 3, "m" + std::to_string(i));
        if (i == 7)
            m.sysflag = MSG_SYSFLAG_TX_PREPARED; // no queue entry, but sinks see it
        expect.push_back(put(s, m).physical_offset);
    }
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    {
        std::lock_guard<std::mutex> g(seen.mu);
        EXPECT_EQ(seen.offsets, expect);
        ASSERT_EQ(seen.bodies.size(), 20u);
        EXPECT_EQ(seen.bodies[19], "m19");
        ASSERT_FALSE(seen.round_ends.empty());
        EXPECT_EQ(seen.round_ends.back(), store_commitlog_max_offset(s));
        EXPECT_FALSE(seen.ahead);
        EXPECT_FALSE(seen.gap);
    }
    // The list is bounded: the built-in sinks plus six.
    int added = 1;
    store_sink more = sink;
    more.on_round_end = nullptr;
    more.on_record = [](void *, const msg_record *) { return 0; };
    while (store_add_sink(s, &more) == 0)
        added++;
    EXPECT_EQ(added, 6);
    EXPECT_EQ(store_add_sink(s, &more), STORE_ERR_FULL);
    store_close(s);
}

// The dispatcher reads the log with pread in 1 MiB pieces: records larger
// than a piece, records cut by a piece's end and segment ends (blank markers)
// all reach the queues whole and in order.
TEST(StoreDispatch, RecordsLargerThanAReadAndAcrossSegmentsAreDispatchedWhole)
{
    TempDir d;
    store_config c = small_config(d.path, 8 * 1024 * 1024, 1000);
    store *s = open_store(c);
    std::vector<std::string> bodies;
    for (int i = 0; i < 40; i++) {
        size_t len = i % 5 == 0 ? 3 * 1024 * 1024 + 7 * i : 1000 + 37 * i; // 3 MiB every fifth
        std::string b(len, (char)('a' + i % 26));
        b += std::to_string(i);
        bodies.push_back(b);
        put(s, Msg("Big", 0, b));
    }
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }, 20000));
    std::vector<std::string> got;
    while (got.size() < bodies.size()) {
        std::vector<std::string> part = pull_bodies(s, "Big", 0, (int64_t)got.size(), 4);
        ASSERT_FALSE(part.empty()) << "queue ends at " << got.size();
        got.insert(got.end(), part.begin(), part.end());
    }
    ASSERT_EQ(got.size(), bodies.size());
    for (size_t i = 0; i < bodies.size(); i++)
        EXPECT_TRUE(got[i] == bodies[i]) << "message " << i;
    EXPECT_GT(store_commitlog_max_offset(s), 2 * c.maped_file_size_commit_log); // several segments
    store_close(s);
}
