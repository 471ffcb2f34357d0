// CommitLog: put results, record bytes in the log, segment roll-over at exact
// boundaries, batches, size limits, transaction types, locking, concurrency.
#include "store_test_util.h"

#include <atomic>
#include <fcntl.h>
#include <set>

using namespace storetest;

namespace {

const int64_t SEG = 64 * 1024;

std::string segment_path(const TempDir &d, int64_t start)
{
    char name[32];
    snprintf(name, sizeof name, "%020lld", (long long)start);
    return d.sub("commitlog/") + name;
}

// Size of the record Msg("T", 0, body) with no properties.
size_t record_size(size_t body) { return 88 + body + 1 + 1 + 2; }

} // namespace

TEST(StoreCommitLog, PutAssignsOffsetsAndWritesRocketMQRecord)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    ASSERT_NE(s, nullptr);
    Msg m("TopicA", 2, "hello");
    m.prop(MSG_PROP_TAGS, "TagA").prop(MSG_PROP_KEYS, "k1");
    store_put_result r1 = put(s, m);
    ASSERT_EQ(r1.status, STORE_PUT_OK) << r1.remark;
    store_put_result r2 = put(s, m);
    ASSERT_EQ(r2.status, STORE_PUT_OK);
    EXPECT_EQ(r1.physical_offset, 0);
    EXPECT_EQ(r1.queue_offset, 0);
    EXPECT_EQ(r2.queue_offset, 1);
    EXPECT_EQ(r2.physical_offset, r1.wrote_bytes);
    EXPECT_EQ(r1.msg_count, 1);
    EXPECT_GT(r1.store_timestamp, 1600000000000LL);
    EXPECT_EQ(strlen(r1.offset_msg_id), 32u);
    // The id decodes back to the store host and the offset.
    msg_host h;
    int64_t off;
    ASSERT_EQ(msg_offset_id_decode(r2.offset_msg_id, 32, &h, &off), 0);
    EXPECT_EQ(off, r2.physical_offset);
    EXPECT_EQ(h.port, 10911);
    EXPECT_EQ(store_commitlog_max_offset(s), r2.physical_offset + r2.wrote_bytes);

    // The record read back by offset is the RocketMQ layout with our fields.
    store_pin pin;
    store_pin_init(&pin);
    store_record_ref ref;
    ASSERT_EQ(store_read_record(s, r2.physical_offset, &ref, &pin), 0);
    msg_record rec;
    ASSERT_EQ(msg_decode(ref.data, ref.size, true, &rec), MSG_OK);
    EXPECT_EQ(rec.magic, MSG_MAGIC_V1);
    EXPECT_EQ(rec.queue_id, 2);
    EXPECT_EQ(rec.queue_offset, 1);
    EXPECT_EQ(rec.physical_offset, r2.physical_offset);
    EXPECT_EQ(rec.store_timestamp, r2.store_timestamp);
    EXPECT_EQ(rec.store_host.port, 10911);
    EXPECT_EQ(rec.born_timestamp, 1700000000000LL);
    EXPECT_EQ(std::string((const char *)rec.body, rec.body_len), "hello");
    EXPECT_EQ(std::string(rec.topic, rec.topic_len), "TopicA");
    // Reading at an offset that is not a record start is refused.
    EXPECT_EQ(store_read_record(s, r2.physical_offset + 1, &ref, &pin), STORE_ERR_NOT_FOUND);
    EXPECT_EQ(store_read_record(s, store_commitlog_max_offset(s), &ref, &pin), STORE_ERR_NOT_FOUND);
    store_pin_release(&pin);
    store_close(s);

    // On disk: the same bytes at the same place in segment 0.
    std::string seg = read_file(segment_path(d, 0));
    ASSERT_EQ((int64_t)seg.size(), SEG);
    EXPECT_EQ(be32_load(seg.data() + r2.physical_offset), (uint32_t)r2.wrote_bytes);
    EXPECT_EQ(be32_load(seg.data() + r2.physical_offset + 4), MSG_MAGIC_V1);
}

TEST(StoreCommitLog, ExplicitStoreTimestampIsKept)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    Msg m("T", 0, "x");
    m.store_ts = 1234567;
    store_put_result r = put(s, m);
    ASSERT_EQ(r.status, STORE_PUT_OK);
    EXPECT_EQ(r.store_timestamp, 1234567);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    int64_t ts;
    ASSERT_EQ(store_offset_store_time(s, "T", 0, 0, &ts), 0);
    EXPECT_EQ(ts, 1234567);
    store_close(s);
}

// A record that leaves exactly MSG_BLANK_LEN bytes fits; the next one rolls
// over and an 8-byte blank marker ends the segment.
TEST(StoreCommitLog, RecordFillingSegmentUpToBlankLengthFits)
{
    TempDir d;
    store *s = open_store(small_config(d.path, SEG));
    store_put_result a = put(s, Msg("T", 0, std::string(1000, 'a')));
    ASSERT_EQ(a.status, STORE_PUT_OK);
    int64_t remaining = SEG - a.wrote_bytes;
    size_t body = (size_t)(remaining - 8) - record_size(0);
    store_put_result b = put(s, Msg("T", 0, std::string(body, 'b')));
    ASSERT_EQ(b.status, STORE_PUT_OK);
    EXPECT_EQ(b.physical_offset, a.wrote_bytes);
    EXPECT_EQ(b.physical_offset + b.wrote_bytes, SEG - 8);
    store_put_result c = put(s, Msg("T", 0, "c"));
    ASSERT_EQ(c.status, STORE_PUT_OK);
    EXPECT_EQ(c.physical_offset, SEG);
    EXPECT_EQ(c.queue_offset, 2);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    std::vector<std::string> got = pull_bodies(s, "T", 0, 0);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[1].size(), body);
    EXPECT_EQ(got[2], "c");
    store_close(s);
    std::string seg0 = read_file(segment_path(d, 0));
    EXPECT_EQ(be32_load(seg0.data() + SEG - 8), 8u);
    EXPECT_EQ(be32_load(seg0.data() + SEG - 4), MSG_MAGIC_BLANK);
}

// One byte more and the record goes to the next segment behind a blank
// marker covering the whole rest of the first one.
TEST(StoreCommitLog, RecordOneByteTooBigRollsOver)
{
    TempDir d;
    store *s = open_store(small_config(d.path, SEG));
    store_put_result a = put(s, Msg("T", 0, std::string(1000, 'a')));
    int64_t remaining = SEG - a.wrote_bytes;
    size_t body = (size_t)(remaining - 7) - record_size(0);
    store_put_result b = put(s, Msg("T", 0, std::string(body, 'b')));
    ASSERT_EQ(b.status, STORE_PUT_OK);
    EXPECT_EQ(b.physical_offset, SEG);
    EXPECT_EQ(b.queue_offset, 1);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    EXPECT_EQ(pull_bodies(s, "T", 0, 0).size(), 2u);
    store_close(s);
    std::string seg0 = read_file(segment_path(d, 0));
    EXPECT_EQ(be32_load(seg0.data() + a.wrote_bytes), (uint32_t)remaining);
    EXPECT_EQ(be32_load(seg0.data() + a.wrote_bytes + 4), MSG_MAGIC_BLANK);
    // Reopen: the blank marker is walked over and offsets continue.
    s = open_store(small_config(d.path, SEG));
    store_put_result c = put(s, Msg("T", 0, "c"));
    EXPECT_EQ(c.queue_offset, 2);
    EXPECT_EQ(c.physical_offset, b.physical_offset + b.wrote_bytes);
    store_close(s);
}

TEST(StoreCommitLog, ManySegmentsReadBackInOrder)
{
    TempDir d;
    store *s = open_store(small_config(d.path, SEG));
    const int N = 600; // ~600 KiB: about ten segments
    for (int i = 0; i < N; i++) {
        store_put_result r = put(s, Msg("T", i % 3, std::to_string(i) + std::string(1000, 'x')));
        ASSERT_EQ(r.status, STORE_PUT_OK) << i;
        ASSERT_EQ(r.queue_offset, i / 3);
    }
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    for (int q = 0; q < 3; q++) {
        int64_t next = 0;
        int seen = 0;
        while (next < N / 3) {
            std::vector<std::string> got = pull_bodies(s, "T", q, next, 16);
            ASSERT_FALSE(got.empty());
            for (auto &b : got) {
                EXPECT_EQ(b.substr(0, b.size() - 1000), std::to_string(seen * 3 + q));
                seen++;
            }
            next += (int64_t)got.size();
        }
        EXPECT_EQ(seen, N / 3);
    }
    store_stats st;
    store_get_stats(s, &st);
    EXPECT_GE(st.segments, 9);
    EXPECT_EQ(st.put_msgs, N);
    store_close(s);
    EXPECT_GE(list_dir(d.sub("commitlog")).size(), 9u);
}

TEST(StoreCommitLog, BatchIsConsecutiveWithOwnQueueOffsets)
{
    TempDir d;
    store *s = open_store(small_config(d.path, SEG));
    put(s, Msg("B", 1, "first"));
    std::vector<Msg> msgs;
    for (int i = 0; i < 5; i++) {
        msgs.emplace_back("B", 1, "batch-" + std::to_string(i));
        char id[MSG_ID_BUF];
        msg_uniq_id_new(id, sizeof id);
        msgs.back().prop(MSG_PROP_UNIQ_KEY, id);
    }
    std::vector<msg_record> recs;
    for (auto &m : msgs)
        recs.push_back(m.rec());
    store_put_result res;
    int64_t offs[5];
    ASSERT_EQ(store_put_batch(s, recs.data(), recs.size(), &res, offs), 0) << res.remark;
    EXPECT_EQ(res.msg_count, 5);
    EXPECT_EQ(res.queue_offset, 1);
    EXPECT_EQ(offs[0], res.physical_offset);
    int64_t pos = res.physical_offset;
    store_pin pin;
    store_pin_init(&pin);
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(offs[i], pos);
        store_record_ref ref;
        ASSERT_EQ(store_read_record(s, offs[i], &ref, &pin), 0);
        EXPECT_EQ(ref.queue_offset, 1 + i);
        pos += ref.size;
    }
    store_pin_release(&pin);
    EXPECT_EQ(pos, res.physical_offset + res.wrote_bytes);
    store_close(s);
}

TEST(StoreCommitLog, BatchNeverStraddlesASegment)
{
    TempDir d;
    store *s = open_store(small_config(d.path, SEG));
    put(s, Msg("B", 0, std::string(60000, 'a')));
    std::vector<Msg> msgs(4, Msg("B", 0, std::string(2000, 'b')));
    std::vector<msg_record> recs;
    for (auto &m : msgs)
        recs.push_back(m.rec());
    store_put_result res;
    ASSERT_EQ(store_put_batch(s, recs.data(), recs.size(), &res, nullptr), 0);
    EXPECT_EQ(res.physical_offset, SEG); // whole batch moved to segment 1
    // A batch larger than a segment is refused, not split.
    std::vector<Msg> big(40, Msg("B", 0, std::string(2000, 'c')));
    recs.clear();
    for (auto &m : big)
        recs.push_back(m.rec());
    EXPECT_EQ(store_put_batch(s, recs.data(), recs.size(), &res, nullptr),
              -STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_EQ(res.status, STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_NE(std::string(res.remark).find("segment"), std::string::npos);
    store_close(s);
}

TEST(StoreCommitLog, SizeLimitsHaveClearStatuses)
{
    TempDir d;
    store_config c = small_config(d.path, 1024 * 1024);
    c.max_message_size = 1000;
    store *s = open_store(c);
    store_put_result r = put(s, Msg("T", 0, std::string(1001, 'x')));
    EXPECT_EQ(r.status, STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_NE(std::string(r.remark).find("maxMessageSize"), std::string::npos);
    EXPECT_EQ(put(s, Msg("T", 0, std::string(1000, 'x'))).status, STORE_PUT_OK);
    Msg p("T", 0, "x");
    p.prop("BIG", std::string(MSG_PROPERTIES_MAX, 'p'));
    EXPECT_EQ(put(s, p).status, STORE_PUT_PROPERTIES_SIZE_EXCEEDED);
    EXPECT_EQ(put(s, Msg("bad/topic", 0, "x")).status, STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_EQ(put(s, Msg("", 0, "x")).status, STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_EQ(put(s, Msg(std::string(256, 't'), 0, "x")).status, STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_EQ(put(s, Msg("T", -1, "x")).status, STORE_PUT_MESSAGE_ILLEGAL);
    // A 200-byte topic uses the V2 magic and is stored fine.
    store_put_result v2 = put(s, Msg(std::string(200, 'v'), 0, "x"));
    ASSERT_EQ(v2.status, STORE_PUT_OK);
    store_pin pin;
    store_pin_init(&pin);
    store_record_ref ref;
    ASSERT_EQ(store_read_record(s, v2.physical_offset, &ref, &pin), 0);
    EXPECT_EQ(be32_load(ref.data + 4), MSG_MAGIC_V2);
    store_pin_release(&pin);
    store_stats st;
    store_get_stats(s, &st);
    EXPECT_EQ(st.put_refused, 6);
    store_close(s);
}

TEST(StoreCommitLog, PreparedAndRollbackGetQueueOffsetZeroAndNoEntry)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    put(s, Msg("X", 0, "n0"));
    Msg prep("X", 0, "prepared");
    prep.sysflag = MSG_SYSFLAG_TX_PREPARED;
    Msg rb("X", 0, "rollback");
    rb.sysflag = MSG_SYSFLAG_TX_ROLLBACK;
    Msg commit("X", 0, "commit");
    commit.sysflag = MSG_SYSFLAG_TX_COMMIT;
    EXPECT_EQ(put(s, prep).queue_offset, 0);
    EXPECT_EQ(put(s, rb).queue_offset, 0);
    EXPECT_EQ(put(s, commit).queue_offset, 1);
    EXPECT_EQ(put(s, Msg("X", 0, "n2")).queue_offset, 2);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    std::vector<std::string> got = pull_bodies(s, "X", 0, 0);
    EXPECT_EQ(got, (std::vector<std::string>{"n0", "commit", "n2"}));
    store_close(s);
}

TEST(StoreCommitLog, SecondOpenOfSameStoreIsRefused)
{
    TempDir d;
    store *s = open_store(small_config(d.path));
    store_config c = small_config(d.path);
    store *s2 = nullptr;
    char err[256];
    EXPECT_EQ(store_open(&c, &s2, err, sizeof err), STORE_ERR_LOCKED);
    EXPECT_NE(std::string(err).find("another process"), std::string::npos);
    store_close(s);
    // After close the lock is free again.
    s = open_store(c);
    ASSERT_NE(s, nullptr);
    store_close(s);
}

TEST(StoreCommitLog, SegmentSizeChangeIsAClearError)
{
    TempDir d;
    store *s = open_store(small_config(d.path, SEG));
    put(s, Msg("T", 0, "x"));
    store_close(s);
    store_config c = small_config(d.path, 2 * SEG);
    char err[256];
    EXPECT_LT(store_open(&c, &s, err, sizeof err), 0);
    EXPECT_NE(std::string(err).find("mapedFileSizeCommitLog"), std::string::npos) << err;
}

TEST(StoreCommitLog, ConcurrentPutsGetUniqueContiguousQueueOffsets)
{
    TempDir d;
    store *s = open_store(small_config(d.path, 256 * 1024));
    const int T = 4, N = 500;
    std::vector<std::vector<int64_t>> qoffs(T);
    std::vector<std::thread> th;
    for (int t = 0; t < T; t++)
        th.emplace_back([&, t] {
            for (int i = 0; i < N; i++) {
                store_put_result r = put(s, Msg("C", 0, std::string(100 + i % 50, 'a' + t)));
                ASSERT_EQ(r.status, STORE_PUT_OK);
                qoffs[t].push_back(r.queue_offset);
            }
        });
    for (auto &x : th)
        x.join();
    std::set<int64_t> all;
    for (auto &v : qoffs)
        all.insert(v.begin(), v.end());
    ASSERT_EQ(all.size(), (size_t)(T * N));
    EXPECT_EQ(*all.begin(), 0);
    EXPECT_EQ(*all.rbegin(), T * N - 1);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    int64_t min, max;
    store_queue_offsets(s, "C", 0, &min, &max);
    EXPECT_EQ(min, 0);
    EXPECT_EQ(max, T * N);
    store_close(s);
}

// The store is the one authority on record validity and computes the body
// CRC itself; the broker's send path relies on both.
TEST(StoreCommitLog, TheStoreValidatesRecordsAndComputesTheCrc)
{
    TempDir d;
    store *s = open_store(small_config(d.path, 1024 * 1024));
    store_put_result res = put(s, Msg("V", 0, ""));
    EXPECT_EQ(res.status, STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_NE(std::string(res.remark).find("message body is empty"), std::string::npos) << res.remark;
    res = put(s, Msg("bad/topic", 0, "x"));
    EXPECT_EQ(res.status, STORE_PUT_MESSAGE_ILLEGAL);
    res = put(s, Msg("V", -1, "x"));
    EXPECT_EQ(res.status, STORE_PUT_MESSAGE_ILLEGAL);

    // A batch names the member it refuses, and stores nothing.
    std::vector<Msg> msgs = {Msg("V", 0, "a"), Msg("V", 0, ""), Msg("V", 0, "c")};
    std::vector<msg_record> recs;
    for (auto &m : msgs)
        recs.push_back(m.rec());
    EXPECT_EQ(store_put_batch(s, recs.data(), recs.size(), &res, nullptr), -STORE_PUT_MESSAGE_ILLEGAL);
    EXPECT_NE(std::string(res.remark).find("message 1 of the batch: message body is empty"),
              std::string::npos)
        << res.remark;
    EXPECT_EQ(store_commitlog_max_offset(s), 0);

    // Whatever body_crc the caller passes, the record carries the real one.
    Msg m("V", 0, "123456789");
    msg_record r = m.rec();
    r.body_crc = 12345;
    ASSERT_EQ(store_put(s, &r, &res), 0);
    store_pin pin;
    store_pin_init(&pin);
    store_record_ref ref;
    ASSERT_EQ(store_read_record(s, res.physical_offset, &ref, &pin), 0);
    msg_record rec;
    ASSERT_EQ(msg_decode(ref.data, ref.size, true, &rec), MSG_OK); // verifies the CRC
    EXPECT_EQ(rec.body_crc, msg_body_crc("123456789", 9));
    store_pin_release(&pin);
    store_close(s);
}

TEST(StoreCommitLog, WaitFalseIsParsedInOnePlaceWhateverItsCase)
{
    for (const char *v : {"false", "FALSE", "False"}) {
        Msg m;
        m.prop(MSG_PROP_WAIT, v);
        EXPECT_FALSE(store_wait_requested((const char *)m.props.data, m.props.len)) << v;
    }
    for (const char *v : {"true", "TRUE", "no", ""}) {
        Msg m;
        m.prop(MSG_PROP_WAIT, v);
        EXPECT_TRUE(store_wait_requested((const char *)m.props.data, m.props.len)) << v;
    }
    Msg none;
    EXPECT_TRUE(store_wait_requested((const char *)none.props.data, none.props.len));
    EXPECT_TRUE(store_wait_requested("", 0));
}

TEST(StoreCommitLog, StatusNamesComeFromTheTable)
{
    EXPECT_STREQ(store_put_status_name(STORE_PUT_OK), "PUT_OK");
    EXPECT_STREQ(store_put_status_name(STORE_PUT_CREATE_MAPPED_FILE_FAILED), "CREATE_MAPEDFILE_FAILED");
    EXPECT_STREQ(store_put_status_name(STORE_PUT_IO_ERROR), "IO_ERROR");
    EXPECT_STREQ(store_put_status_name((store_put_status)99), "UNKNOWN_ERROR");
    EXPECT_STREQ(store_get_status_name(STORE_GET_OFFSET_OVERFLOW_ONE), "OFFSET_OVERFLOW_ONE");
    EXPECT_STREQ(store_get_status_name((store_get_status)99), "UNKNOWN");
}

// Deferred puts (the broker's SYNC_FLUSH sends of one loop turn): staged,
// invisible until written; written in order, with later puts, by a roll-over,
// by store_flush_now, by store_wait_flushed of their offset, and at close.
TEST(StoreCommitLog, DeferredPutsAreInvisibleUntilWrittenAndStayInOrder)
{
    TempDir d;
    store_config c = small_config(d.path, SEG);
    c.flush_disk_type = STORE_SYNC_FLUSH;
    store *s = open_store(c);
    auto deferred = [&](const std::string &body) {
        Msg m("T", 0, body);
        msg_record r = m.rec();
        store_put_result res;
        EXPECT_EQ(0, store_put_batch_deferred(s, &r, 1, &res, nullptr));
        return res;
    };
    store_put_result a = deferred("a");
    store_put_result b = deferred("b");
    EXPECT_EQ(b.physical_offset, a.physical_offset + a.wrote_bytes);
    EXPECT_EQ(b.queue_offset, 1);
    EXPECT_EQ(0, store_commitlog_max_offset(s)) << "a deferred put was published before its write";
    store_write_deferred(s);
    EXPECT_EQ(b.physical_offset + b.wrote_bytes, store_commitlog_max_offset(s));

    // A put that is not deferred writes what is staged before itself.
    deferred("c");
    store_put_result d1 = put(s, Msg("T", 0, "d"));
    EXPECT_EQ(d1.physical_offset + d1.wrote_bytes, store_commitlog_max_offset(s));

    // store_flush_now writes first, then makes it durable.
    store_put_result e = deferred("e");
    ASSERT_EQ(0, store_flush_now(s, e.physical_offset + e.wrote_bytes));
    EXPECT_GE(store_flushed_offset(s), e.physical_offset + e.wrote_bytes);

    // A waiter for a deferred put's offset gets it written, not refused.
    store_put_result f = deferred("f");
    EXPECT_EQ(STORE_PUT_OK, store_wait_flushed_blocking(s, f.physical_offset + f.wrote_bytes));

    // Deferred puts up to and across a roll-over: the staged bytes land
    // before the blank marker, the roll-over put in the next segment.
    std::vector<store_put_result> rs;
    for (int i = 0; i < 80; i++)
        rs.push_back(deferred(std::to_string(i) + std::string(1000, 'x')));
    EXPECT_GE(rs.back().physical_offset, SEG);
    size_t first_next = 0; // the first put in the second segment
    while (rs[first_next].physical_offset < SEG)
        first_next++;
    ASSERT_GT(first_next, 0u);
    EXPECT_EQ(rs[first_next - 1].physical_offset + rs[first_next - 1].wrote_bytes, store_commitlog_max_offset(s))
        << "the roll-over writes what was staged before it, and nothing after";
    store_write_deferred(s);
    store_put_result g = deferred("g"); // left staged: written at close
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    std::vector<std::string> got = pull_bodies(s, "T", 0, 0, 200);
    ASSERT_EQ(86u, got.size()) << "everything but the staged last one";
    EXPECT_EQ("a", got[0]);
    EXPECT_EQ("f", got[5]);
    for (int i = 0; i < 80; i++)
        EXPECT_EQ(std::to_string(i), got[6 + i].substr(0, got[6 + i].size() - 1000)) << i;
    store_close(s);
    s = open_store(c);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    got = pull_bodies(s, "T", 0, 0, 200);
    ASSERT_EQ(87u, got.size());
    EXPECT_EQ("g", got.back());
    EXPECT_EQ(g.queue_offset, 86);
    store_close(s);
}

// The broker's loop dispatches a few small puts itself (no wake-up of
// store-dispatch): afterwards they are in the ConsumeQueue at once. More than
// the limit is left to the thread.
TEST(StoreCommitLog, SmallPutsAreDispatchedInlineLargeOnesLeftToTheThread)
{
    TempDir d;
    store_config c = small_config(d.path, SEG);
    c.defer_dispatch_wake = true; // as the broker: only store_wake_dispatcher wakes it
    store *s = open_store(c);
    // Once store-dispatch has gone to sleep after its start-up rounds
    // (inline refuses while it is in a round), nothing wakes it but us. It
    // may still be on its way there (a round after an inline one moved the
    // position looks again), so a refusal is retried until it sleeps.
    ASSERT_TRUE(wait_until([&] { return store_dispatch_inline(s, 16 * 1024); }));
    for (int round = 0; round < 20; round++) {
        put(s, Msg("T", 0, "small-" + std::to_string(round)));
        ASSERT_TRUE(wait_until([&] { return store_dispatch_inline(s, 16 * 1024); })) << round;
        EXPECT_TRUE(dispatched(s)) << round; // no waiting: done on this thread
        EXPECT_EQ((size_t)round + 1, pull_bodies(s, "T", 0, 0, 64).size());
    }
    for (int i = 0; i < 40; i++)
        put(s, Msg("T", 1, std::string(1000, 'x')));
    EXPECT_FALSE(store_dispatch_inline(s, 16 * 1024)) << "40 KiB is over the limit";
    store_wake_dispatcher(s);
    ASSERT_TRUE(wait_until([&] { return dispatched(s); }));
    EXPECT_EQ(32u, pull_bodies(s, "T", 1, 0, 32).size());
    store_close(s);
}

// Whether the page holding addr is mapped in this process (present bit of
// /proc/self/pagemap), i.e. a read of it takes no fault.
static bool page_present(const void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t e = 0;
    bool ok = fd >= 0 && pread(fd, &e, sizeof e, (off_t)((uintptr_t)addr / 4096 * sizeof e)) == sizeof e;
    if (fd >= 0)
        close(fd);
    return ok && (e >> 63);
}

// The dispatcher readies the page past the dispatched end (dispatch.c,
// populate): after each inline round the page the next record starts or
// runs into is already mapped, so a pull answer's sendmsg from the mapping
// takes no fault. Records of ~1 KiB cross a page every few puts; each page
// must be ready before the first record enters it, not every other one.
TEST(StoreCommitLog, InlineRoundsReadyThePagePastTheDispatchedEnd)
{
    TempDir d;
    store_config c = small_config(d.path, 1024 * 1024);
    c.defer_dispatch_wake = true;
    store *s = open_store(c);
    ASSERT_TRUE(wait_until([&] { return store_dispatch_inline(s, 16 * 1024); }));
    for (int i = 0; i < 40; i++) {
        put(s, Msg("T", 0, std::string(1000, 'a' + i % 26)));
        ASSERT_TRUE(wait_until([&] { return store_dispatch_inline(s, 16 * 1024); })) << i;
        store_get_request req{};
        req.topic = "T";
        req.queue_id = 0;
        req.offset = i;
        req.max_count = 1;
        store_record_ref r;
        store_get_result res{};
        ASSERT_EQ(0, store_get_messages(s, &req, &r, &res)) << i;
        ASSERT_EQ(1, res.count) << i;
        // The record's end in the mapping, rounded up to the next page.
        const uint8_t *next = (const uint8_t *)(((uintptr_t)(r.data + r.size) + 4095) & ~(uintptr_t)4095);
        EXPECT_TRUE(page_present(next)) << "message " << i << " ends at " << r.physical_offset + r.size
                                        << ": the page after it is not mapped";
        store_pin_release(&res.pin);
    }
    store_close(s);
}
