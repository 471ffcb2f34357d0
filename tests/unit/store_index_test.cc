// Indexes: message keys and unique ids (RocksDB), queue offset by store time,
// and the generic key/value API over column families.
#include "store_test_util.h"


using namespace storetest;

namespace {

std::vector<int64_t> query(store *s, const char *topic, const char *key, int64_t begin = 0,
                           int64_t end = INT64_MAX, int cap = 64)
{
    std::vector<int64_t> out(cap);
    int n = store_query_by_key(s, topic, key, begin, end, out.data(), cap);
    EXPECT_GE(n, 0);
    out.resize(n < 0 ? 0 : n);
    return out;
}

} // namespace

TEST(StoreIndex, KeysAndUniqueIdsFindTheirRecords)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    std::vector<store_put_result> res;
    for (int i = 0; i < 20; i++) {
        Msg m("OrderTopic", i % 4, "order-" + std::to_string(i));
        m.prop(MSG_PROP_KEYS, "order" + std::to_string(i) + " customer" + std::to_string(i % 3));
        m.prop(MSG_PROP_UNIQ_KEY, "UNIQ" + std::to_string(i));
        m.store_ts = 1000 + i * 100;
        res.push_back(put(s, m));
    }
    Msg other("OtherTopic", 0, "x");
    other.prop(MSG_PROP_KEYS, "order5");
    store_put_result ro = put(s, other);
    Msg rollback("OrderTopic", 0, "rb");
    rollback.sysflag = MSG_SYSFLAG_TX_ROLLBACK;
    rollback.prop(MSG_PROP_KEYS, "rolledback");
    put(s, rollback);
    Msg prepared("OrderTopic", 0, "pp");
    prepared.sysflag = MSG_SYSFLAG_TX_PREPARED;
    prepared.prop(MSG_PROP_KEYS, "prepared");
    store_put_result rp = put(s, prepared);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));

    EXPECT_EQ(query(s, "OrderTopic", "order5"), std::vector<int64_t>{res[5].physical_offset});
    EXPECT_EQ(query(s, "OtherTopic", "order5"), std::vector<int64_t>{ro.physical_offset});
    EXPECT_TRUE(query(s, "OrderTopic", "order55").empty());
    EXPECT_TRUE(query(s, "OrderTopic", "order").empty()); // exact keys, no prefix match
    // customer1: i = 1, 4, 7, ..., 19 -> newest first
    std::vector<int64_t> c1 = query(s, "OrderTopic", "customer1");
    ASSERT_EQ(c1.size(), 7u);
    EXPECT_EQ(c1.front(), res[19].physical_offset);
    EXPECT_EQ(c1.back(), res[1].physical_offset);
    // time range [1400, 1700]: i = 4, 7
    std::vector<int64_t> ranged = query(s, "OrderTopic", "customer1", 1400, 1700);
    EXPECT_EQ(ranged, (std::vector<int64_t>{res[7].physical_offset, res[4].physical_offset}));
    // max count
    EXPECT_EQ(query(s, "OrderTopic", "customer1", 0, INT64_MAX, 2).size(), 2u);
    // unique ids
    std::vector<int64_t> u(4);
    ASSERT_EQ(store_query_by_uniq_key(s, "OrderTopic", "UNIQ12", u.data(), 4), 1);
    EXPECT_EQ(u[0], res[12].physical_offset);
    // rollback records are not indexed, prepared ones are (RocketMQ)
    EXPECT_TRUE(query(s, "OrderTopic", "rolledback").empty());
    EXPECT_EQ(query(s, "OrderTopic", "prepared"), std::vector<int64_t>{rp.physical_offset});
    store_stats st;
    store_get_stats(s, &st);
    EXPECT_EQ(st.index_keys, 20 * 3 + 1 + 1);
    store_close(s);

    // Still there after a restart.
    s = open_store(small_config(d.path));
    EXPECT_EQ(query(s, "OrderTopic", "order7"), std::vector<int64_t>{res[7].physical_offset});
    store_close(s);
}

TEST(StoreIndex, IndexCanBeDisabled)
{
    TempDir d;
    store_config c = small_config(d.path);
    c.message_index_enable = false;
    store *s = open_store(c);
    Msg m("T", 0, "x");
    m.prop(MSG_PROP_KEYS, "k");
    put(s, m);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    EXPECT_TRUE(query(s, "T", "k").empty());
    store_close(s);
}

class OffsetByTime : public ::testing::Test {
protected:
    TempDir d;
    store *s = nullptr;
    // Store times of queue offsets 0..6 (equal times on purpose).
    std::vector<int64_t> times = {1000, 2000, 2000, 2000, 3000, 5000, 9000};
    void SetUp() override
    {
        s = open_store(small_config(d.path, 64 * 1024, 3)); // 3 entries per CQ file
        for (size_t i = 0; i < times.size(); i++) {
            Msg m("Time", 0, "t");
            m.store_ts = times[i];
            put(s, m);
        }
        ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    }
    void TearDown() override { store_close(s); }
    int64_t lower(int64_t ts)
    {
        int64_t off = -1;
        EXPECT_EQ(store_search_offset_by_time(s, "Time", 0, ts, STORE_BOUNDARY_LOWER, &off), 0);
        return off;
    }
    int64_t upper(int64_t ts)
    {
        int64_t off = -1;
        EXPECT_EQ(store_search_offset_by_time(s, "Time", 0, ts, STORE_BOUNDARY_UPPER, &off), 0);
        return off;
    }
};

TEST_F(OffsetByTime, FirstAtOrAfter)
{
    EXPECT_EQ(lower(0), 0);       // before the first message
    EXPECT_EQ(lower(1000), 0);
    EXPECT_EQ(lower(1001), 1);
    EXPECT_EQ(lower(2000), 1);    // first of equal times
    EXPECT_EQ(lower(2500), 4);
    EXPECT_EQ(lower(5000), 5);
    EXPECT_EQ(lower(8999), 6);
    EXPECT_EQ(lower(9000), 6);
    EXPECT_EQ(lower(9001), 7);    // after the last: max offset, nothing to consume
    EXPECT_EQ(lower(INT64_MAX), 7);
}

TEST_F(OffsetByTime, LastAtOrBefore)
{
    EXPECT_EQ(upper(0), 0);       // before the first: min offset
    EXPECT_EQ(upper(1000), 0);
    EXPECT_EQ(upper(1999), 0);
    EXPECT_EQ(upper(2000), 3);    // last of equal times
    EXPECT_EQ(upper(4999), 4);
    EXPECT_EQ(upper(9000), 6);
    EXPECT_EQ(upper(100000), 6);  // after the last: the last message
}

TEST_F(OffsetByTime, UnknownAndEmptyQueues)
{
    int64_t off = -1;
    EXPECT_EQ(store_search_offset_by_time(s, "Nope", 0, 5, STORE_BOUNDARY_LOWER, &off), 0);
    EXPECT_EQ(off, 0);
    int64_t ts;
    EXPECT_EQ(store_earliest_message_time(s, "Time", 0, &ts), 0);
    EXPECT_EQ(ts, 1000);
    EXPECT_EQ(store_queue_last_store_time(s, "Time", 0, &ts), 0);
    EXPECT_EQ(ts, 9000);
    EXPECT_EQ(store_commitlog_earliest_time(s, &ts), 0);
    EXPECT_EQ(ts, 1000);
    EXPECT_EQ(store_offset_store_time(s, "Time", 0, 4, &ts), 0);
    EXPECT_EQ(ts, 3000);
    EXPECT_EQ(store_offset_store_time(s, "Time", 0, 7, &ts), STORE_ERR_NOT_FOUND);
}

TEST(StoreIndex, OffsetByTimeOverRealClock)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    int64_t t0 = now_ms();
    for (int i = 0; i < 200; i++)
        put(s, Msg("Clock", 1, "x"));
    int64_t t1 = now_ms();
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    int64_t off;
    store_search_offset_by_time(s, "Clock", 1, t0 - 1, STORE_BOUNDARY_LOWER, &off);
    EXPECT_EQ(off, 0);
    store_search_offset_by_time(s, "Clock", 1, t1 + 1, STORE_BOUNDARY_LOWER, &off);
    EXPECT_EQ(off, 200);
    store_close(s);
}
