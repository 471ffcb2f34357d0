// Unit tests of broker/schedule/: sched_prepare (the rewrite into the
// scheduled form), the on-disk index (order, atomic batches, persistence),
// and the delivery service over a real store in a temporary directory
// (delivery never early, in due order, crash repair without duplicates).
#include "store_test_util.h"

#include <map>
#include <set>

extern "C" {
#include "schedule/sched_index.h"
#include "schedule/schedule.h"
}

using namespace storetest;

namespace {

std::string prop(const msg_record &r, const char *key)
{
    const char *v;
    size_t vl;
    if (!msg_prop_get(r.properties, r.properties_len, key, &v, &vl))
        return "<none>";
    return std::string(v, vl);
}

struct StoreFixture : ::testing::Test {
    TempDir dir;
    store *s = nullptr;
    void open(const char *levels = "100ms 300ms 1s")
    {
        store_config c = small_config(dir.sub("store"), 1 << 20, 1000);
        snprintf(c.message_delay_level, sizeof c.message_delay_level, "%s", levels);
        s = open_store(c);
        ASSERT_NE(s, nullptr);
    }
    void TearDown() override
    {
        if (s)
            store_close(s);
    }
};

using PrepareTest = StoreFixture;

TEST_F(PrepareTest, DelayLevelGoesToScheduleTopicAndIsClamped)
{
    open();
    Msg m("Orders", 3, "x");
    m.prop(MSG_PROP_DELAY, "7").prop(MSG_PROP_UNIQ_KEY, "U1").prop(MSG_PROP_TIMER_DELAY_MS, "5000");
    msg_record r = m.rec();
    bytebuf props;
    bytebuf_init(&props);
    char err[256] = "";
    ASSERT_EQ(sched_prepare(s, 3600, now_ms(), &r, &props, err, sizeof err), SCHED_LEVEL) << err;
    EXPECT_EQ(std::string(r.topic, r.topic_len), MSG_TOPIC_SCHEDULE);
    EXPECT_EQ(r.queue_id, 2); // clamped to the highest of 3 levels, queue = level - 1
    EXPECT_EQ(prop(r, MSG_PROP_DELAY), "3");
    EXPECT_EQ(prop(r, MSG_PROP_REAL_TOPIC), "Orders");
    EXPECT_EQ(prop(r, MSG_PROP_REAL_QID), "3");
    EXPECT_EQ(prop(r, MSG_PROP_UNIQ_KEY), "U1");
    EXPECT_EQ(prop(r, MSG_PROP_TIMER_DELAY_MS), "<none>"); // the level wins, as RocketMQ 5
    bytebuf_free(&props);
}

TEST_F(PrepareTest, TimerPropertiesGiveExactDueTime)
{
    open();
    bytebuf props;
    bytebuf_init(&props);
    char err[256] = "";
    const int64_t now = 1800000000000LL;
    {
        Msg m("Orders", 1, "x");
        m.prop(MSG_PROP_TIMER_DELAY_MS, "1500");
        msg_record r = m.rec();
        ASSERT_EQ(sched_prepare(s, 3600, now, &r, &props, err, sizeof err), SCHED_TIMER) << err;
        EXPECT_EQ(std::string(r.topic, r.topic_len), SCHED_TOPIC_TIMER);
        EXPECT_EQ(r.queue_id, 0);
        EXPECT_EQ(prop(r, MSG_PROP_TIMER_OUT_MS), std::to_string(now + 1500));
        EXPECT_EQ(prop(r, MSG_PROP_REAL_QID), "1");
    }
    {
        Msg m("Orders", 0, "x");
        m.prop(MSG_PROP_TIMER_DELIVER_MS, std::to_string(now + 42));
        msg_record r = m.rec();
        ASSERT_EQ(sched_prepare(s, 3600, now, &r, &props, err, sizeof err), SCHED_TIMER) << err;
        EXPECT_EQ(prop(r, MSG_PROP_TIMER_OUT_MS), std::to_string(now + 42));
    }
    {
        Msg m("Orders", 0, "x");
        m.prop(MSG_PROP_TIMER_DELAY_SEC, "2");
        msg_record r = m.rec();
        ASSERT_EQ(sched_prepare(s, 3600, now, &r, &props, err, sizeof err), SCHED_TIMER) << err;
        EXPECT_EQ(prop(r, MSG_PROP_TIMER_OUT_MS), std::to_string(now + 2000));
    }
    bytebuf_free(&props);
}

TEST_F(PrepareTest, NothingToScheduleLeavesRecordAlone)
{
    open();
    bytebuf props;
    bytebuf_init(&props);
    char err[256] = "";
    const int64_t now = 1800000000000LL;
    const char *cases[][2] = {{MSG_PROP_DELAY, "0"},
                              {MSG_PROP_TIMER_DELIVER_MS, "1700000000000"}, // in the past
                              {MSG_PROP_KEYS, "k"}};
    for (auto &c : cases) {
        Msg m("Orders", 2, "x");
        m.prop(c[0], c[1]);
        msg_record r = m.rec();
        EXPECT_EQ(sched_prepare(s, 3600, now, &r, &props, err, sizeof err), SCHED_NONE) << c[0];
        EXPECT_EQ(std::string(r.topic, r.topic_len), "Orders");
        EXPECT_EQ(r.queue_id, 2);
    }
    Msg half("Orders", 2, "x");
    half.prop(MSG_PROP_DELAY, "2");
    half.sysflag = MSG_SYSFLAG_TX_PREPARED;
    msg_record r = half.rec();
    EXPECT_EQ(sched_prepare(s, 3600, now, &r, &props, err, sizeof err), SCHED_NONE);
    bytebuf_free(&props);
}

TEST_F(PrepareTest, BadTimesAreRefusedWithReason)
{
    open();
    bytebuf props;
    bytebuf_init(&props);
    const int64_t now = 1800000000000LL;
    struct {
        const char *key, *val, *expect;
    } cases[] = {
        {MSG_PROP_TIMER_DELAY_MS, "3600001", "timerMaxDelaySec"},
        {MSG_PROP_TIMER_DELIVER_MS, "1800003600001", "timerMaxDelaySec"},
        {MSG_PROP_TIMER_DELAY_SEC, "99999999999999999", "timerMaxDelaySec"},
        {MSG_PROP_TIMER_DELIVER_MS, "-5", "negative"},
        {MSG_PROP_TIMER_DELAY_MS, "-1", "negative"},
        {MSG_PROP_DELAY, "-2", "negative"},
        {MSG_PROP_DELAY, "soon", "not a delay level"},
        {MSG_PROP_TIMER_DELAY_MS, "12abc", "not an integer"},
    };
    for (auto &c : cases) {
        Msg m("Orders", 0, "x");
        m.prop(c.key, c.val);
        msg_record r = m.rec();
        char err[256] = "";
        EXPECT_EQ(sched_prepare(s, 3600, now, &r, &props, err, sizeof err), SCHED_ERR) << c.key << "=" << c.val;
        EXPECT_NE(std::string(err).find(c.expect), std::string::npos) << err;
        EXPECT_EQ(std::string(r.topic, r.topic_len), "Orders");
    }
    bytebuf_free(&props);
}

// ---- the index ----

TEST(ScheduleIndex, KeysComeBackInDueOrderAndPersist)
{
    TempDir dir;
    sched_index *ix = nullptr;
    char err[256] = "";
    ASSERT_EQ(sched_index_open(dir.sub("ix").c_str(), &ix, err, sizeof err), 0) << err;
    sched_ibatch *b = sched_ibatch_new();
    int64_t dues[] = {500, 100, 300, 100, 200};
    for (int i = 0; i < 5; i++) {
        sched_key k = {dues[i], 1000 - i, 50 + i, (uint8_t)i, 0};
        sched_ibatch_put_key(b, &k);
    }
    sched_ibatch_set(b, "q:1", 77);
    ASSERT_EQ(sched_index_write(ix, b, false), 0);
    sched_key out[8];
    int64_t next = -1;
    int n = sched_index_take(ix, 0, 0, 300, out, 8, &next);
    ASSERT_EQ(n, 4);
    EXPECT_EQ(out[0].due_ms, 100);
    EXPECT_EQ(out[0].offset, 997); // same due: store order
    EXPECT_EQ(out[1].offset, 999);
    EXPECT_EQ(out[2].due_ms, 200);
    EXPECT_EQ(out[3].due_ms, 300);
    EXPECT_EQ(out[3].size, 52);
    EXPECT_EQ(out[3].level, 2);
    EXPECT_EQ(next, 500);
    // a full array reports the next key too; a start key skips what is before it
    n = sched_index_take(ix, 100, 998, 1000, out, 2, &next);
    ASSERT_EQ(n, 2);
    EXPECT_EQ(out[0].offset, 999);
    EXPECT_EQ(out[1].due_ms, 200);
    EXPECT_EQ(next, 300);
    sched_ibatch_clear(b);
    sched_ibatch_del_key(b, 100, 997);
    sched_ibatch_del(b, "q:1");
    sched_ibatch_set(b, "d:0", 1);
    ASSERT_EQ(sched_index_write(ix, b, true), 0);
    sched_index_close(ix);

    ASSERT_EQ(sched_index_open(dir.sub("ix").c_str(), &ix, err, sizeof err), 0) << err;
    EXPECT_EQ(sched_index_get(ix, "q:1", -1), -1);
    EXPECT_EQ(sched_index_get(ix, "d:0", -1), 1);
    n = sched_index_take(ix, 0, 0, INT64_MAX, out, 8, &next);
    EXPECT_EQ(n, 4);
    EXPECT_EQ(next, 0);
    sched_key k;
    EXPECT_EQ(sched_index_find(ix, 100, 997, &k), 0);
    EXPECT_EQ(sched_index_find(ix, 500, 1000, &k), 1);
    EXPECT_EQ(k.size, 50);
    sched_ibatch_free(b);
    sched_index_close(ix);
}

// ---- the service over a real store ----

struct Delivered {
    std::string body;
    int64_t store_ms;
    std::string origin;
};

std::vector<Delivered> read_all(store *s, const char *topic, int32_t qid)
{
    std::vector<Delivered> out;
    int64_t off = 0;
    for (;;) {
        std::vector<store_record_ref> refs(64);
        store_get_request req = {};
        req.topic = topic;
        req.queue_id = qid;
        req.offset = off;
        req.max_count = 64;
        store_get_result res;
        EXPECT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
        for (int i = 0; i < res.count; i++) {
            msg_record r;
            EXPECT_EQ(msg_decode(refs[i].data, refs[i].size, true, &r), MSG_OK);
            out.push_back({std::string((const char *)r.body, r.body_len), r.store_timestamp,
                           prop(r, SCHED_PROP_ORIGIN)});
        }
        store_pin_release(&res.pin);
        if (res.status != STORE_GET_FOUND)
            break;
        off = res.next_begin_offset;
    }
    return out;
}

struct ServiceTest : StoreFixture {
    sched_service *sv = nullptr;
    bytebuf props;
    ServiceTest() { bytebuf_init(&props); }
    ~ServiceTest() override { bytebuf_free(&props); }
    void start()
    {
        sched_config c;
        sched_config_init(&c);
        snprintf(c.dir, sizeof c.dir, "%s", dir.sub("schedule").c_str());
        c.commitlog_segment_size = 1 << 20;
        char err[256] = "";
        ASSERT_EQ(sched_service_start(s, &c, &sv, err, sizeof err), 0) << err;
    }
    void stop()
    {
        sched_service_stop(sv);
        sv = nullptr;
    }
    void TearDown() override
    {
        stop();
        StoreFixture::TearDown();
    }
    // Stores a message the way processor_send does; returns its due time.
    int64_t send(const std::string &body, const char *key, const std::string &val, int32_t qid = 0)
    {
        Msg m("Orders", qid, body);
        m.prop(key, val).prop(MSG_PROP_UNIQ_KEY, "ID-" + body);
        msg_record r = m.rec();
        char err[256] = "";
        int64_t now = now_ms();
        int rc = sched_prepare(s, 3600, now, &r, &props, err, sizeof err);
        EXPECT_GT(rc, 0) << err;
        store_put_result res;
        EXPECT_EQ(store_put(s, &r, &res), 0) << res.remark;
        if (rc == SCHED_TIMER) {
            const char *v;
            size_t vl;
            msg_prop_get(r.properties, r.properties_len, MSG_PROP_TIMER_OUT_MS, &v, &vl);
            return std::stoll(std::string(v, vl));
        }
        return res.store_timestamp; // a level: due = store time + level delay
    }
};

TEST_F(ServiceTest, DelayLevelsAreNeverEarly)
{
    open("100ms 300ms 600ms");
    start();
    std::map<std::string, int64_t> due;
    int64_t lv[] = {100, 300, 600};
    for (int l = 1; l <= 3; l++)
        due["L" + std::to_string(l)] = send("L" + std::to_string(l), MSG_PROP_DELAY, std::to_string(l)) + lv[l - 1];
    ASSERT_TRUE(wait_until([&] { return read_all(s, "Orders", 0).size() == 3; }, 5000));
    auto got = read_all(s, "Orders", 0);
    EXPECT_EQ(got[0].body, "L1");
    EXPECT_EQ(got[1].body, "L2");
    EXPECT_EQ(got[2].body, "L3");
    for (auto &d : got) {
        EXPECT_GE(d.store_ms, due[d.body]) << d.body << " delivered early";
        EXPECT_LE(d.store_ms, due[d.body] + 500) << d.body << " very late";
        EXPECT_NE(d.origin, "<none>");
    }
    sched_stats st;
    // the counters move once the re-puts are stored, just after they are readable
    EXPECT_TRUE(wait_until([&] {
        sched_service_stats(sv, &st);
        return st.delivered == 3 &&
               st.level_pending[0] + st.level_pending[1] + st.level_pending[2] + st.timer_pending == 0;
    }, 5000));
    EXPECT_EQ(st.levels, 3);
    EXPECT_EQ(st.delivered, 3);
}

TEST_F(ServiceTest, ExactTimesArriveInDueOrderAndSurviveRestart)
{
    open();
    start();
    // Sent in reverse order of due time; two of them far enough to cross a restart.
    std::map<std::string, int64_t> due;
    int64_t now = now_ms();
    for (int i = 9; i >= 0; i--)
        due["T" + std::to_string(i)] =
            send("T" + std::to_string(i), MSG_PROP_TIMER_DELIVER_MS, std::to_string(now + 200 + i * 60));
    stop(); // nothing due yet is delivered on the way down
    sched_stats st;
    start();
    sched_service_stats(sv, &st);
    ASSERT_TRUE(wait_until([&] { return read_all(s, "Orders", 0).size() == 10; }, 5000));
    auto got = read_all(s, "Orders", 0);
    for (size_t i = 0; i < got.size(); i++) {
        EXPECT_EQ(got[i].body, "T" + std::to_string(i)) << "out of due order";
        EXPECT_GE(got[i].store_ms, due[got[i].body]);
    }
    // the keys go once the re-puts are stored (just after they are readable), and nothing more arrives
    EXPECT_TRUE(wait_until([&] { sched_service_stats(sv, &st); return st.timer_pending == 0; }, 5000))
        << st.timer_pending << " still pending";
    EXPECT_EQ(read_all(s, "Orders", 0).size(), 10u);
}

TEST_F(ServiceTest, InterruptedDeliveryIsRepairedWithoutDuplicates)
{
    open();
    start();
    int64_t d1 = send("A", MSG_PROP_TIMER_DELAY_MS, "60000");
    int64_t d2 = send("B", MSG_PROP_TIMER_DELAY_MS, "60000");
    sched_stats st;
    ASSERT_TRUE(wait_until([&] {
        sched_service_stats(sv, &st);
        return st.indexed == 2;
    }));
    stop();
    // Simulate a crash after the re-put of A and before its key was deleted:
    // the marker is set and A's delivered copy is in the CommitLog.
    sched_index *ix = nullptr;
    char err[256] = "";
    ASSERT_EQ(sched_index_open(dir.sub("schedule").c_str(), &ix, err, sizeof err), 0) << err;
    sched_key keys[4];
    int64_t next;
    ASSERT_EQ(sched_index_take(ix, 0, 0, INT64_MAX, keys, 4, &next), 2);
    EXPECT_EQ(keys[0].due_ms, d1);
    EXPECT_EQ(keys[1].due_ms, d2);
    sched_ibatch *b = sched_ibatch_new();
    sched_ibatch_set(b, "inflight", store_commitlog_max_offset(s));
    ASSERT_EQ(sched_index_write(ix, b, true), 0);
    sched_ibatch_free(b);
    sched_index_close(ix);
    Msg copy("Orders", 0, "A");
    copy.prop(SCHED_PROP_ORIGIN, std::to_string(keys[0].offset) + ":" + std::to_string(d1));
    put(s, copy);

    start();
    sched_service_stats(sv, &st);
    EXPECT_EQ(st.timer_pending, 1) << "A was already delivered; only B is pending";
    stop();
    ASSERT_EQ(sched_index_open(dir.sub("schedule").c_str(), &ix, err, sizeof err), 0) << err;
    ASSERT_EQ(sched_index_take(ix, 0, 0, INT64_MAX, keys, 4, &next), 1);
    EXPECT_EQ(keys[0].due_ms, d2);
    EXPECT_EQ(sched_index_get(ix, "inflight", -1), -1);
    sched_index_close(ix);
}

TEST_F(ServiceTest, FarTimersAreRolledNotDeliveredEarly)
{
    open();
    sched_config c;
    sched_config_init(&c);
    snprintf(c.dir, sizeof c.dir, "%s", dir.sub("schedule").c_str());
    c.commitlog_segment_size = 1 << 20;
    c.roll_window_ms = 150; // park anything further than 150 ms
    char err[256] = "";
    ASSERT_EQ(sched_service_start(s, &c, &sv, err, sizeof err), 0) << err;
    int64_t due = send("far", MSG_PROP_TIMER_DELAY_MS, "700");
    ASSERT_TRUE(wait_until([&] { return read_all(s, "Orders", 0).size() == 1; }, 5000));
    auto got = read_all(s, "Orders", 0);
    EXPECT_GE(got[0].store_ms, due);
    // The service counts a delivery after its put and its index batch: the
    // message can be read before the count moves.
    sched_stats st;
    EXPECT_TRUE(wait_until([&] { sched_service_stats(sv, &st); return st.delivered == 1; }, 5000))
        << "delivered " << st.delivered;
    EXPECT_GE(st.rolled, 1);
}

} // namespace
