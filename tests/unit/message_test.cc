// Unit tests of common/message.{h,c}: CommitLog record layout, CRC,
// properties, Java hashes, message ids and the batch body codec.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <thread>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "bytes.h"
#include "message.h"
}

namespace {

struct Rec {
    std::string topic = "TopicTest";
    std::string body = "hello, world";
    std::string props;
    msg_record r;
    Rec()
    {
        memset(&r, 0, sizeof r);
        bytebuf b;
        bytebuf_init(&b);
        msg_prop_append(&b, MSG_PROP_TAGS, "TagA");
        msg_prop_append(&b, MSG_PROP_KEYS, "k1 k2");
        msg_prop_append(&b, MSG_PROP_UNIQ_KEY, "0A0000010F0A1B2C3D4E5F6070809000");
        props.assign((const char *)b.data, b.len);
        bytebuf_free(&b);
    }
    msg_record &fill()
    {
        r.topic = topic.data();
        r.topic_len = (uint32_t)topic.size();
        r.body = (const uint8_t *)body.data();
        r.body_len = (uint32_t)body.size();
        r.properties = props.data();
        r.properties_len = (uint32_t)props.size();
        r.body_crc = msg_body_crc(body.data(), body.size());
        r.queue_id = 3;
        r.flag = 77;
        r.queue_offset = 123456789012LL;
        r.physical_offset = 0x0102030405060708LL;
        r.sysflag = MSG_SYSFLAG_TX_COMMIT;
        r.born_timestamp = 1700000000123LL;
        r.store_timestamp = 1700000000456LL;
        msg_host_set(&r.born_host, "10.1.2.3", 54321);
        msg_host_set(&r.store_host, "192.168.0.9", 10911);
        r.reconsume_times = 5;
        r.prepared_transaction_offset = 4096;
        return r;
    }
};

std::vector<uint8_t> encode(const msg_record &r)
{
    std::vector<uint8_t> buf(msg_record_size(&r));
    int n = msg_encode(&r, buf.data(), buf.size());
    EXPECT_EQ(n, (int)buf.size());
    return buf;
}

} // namespace

TEST(MessageRecord, LayoutIsRocketMQByteForByte)
{
    Rec x;
    msg_record &r = x.fill();
    std::vector<uint8_t> b = encode(r);
    size_t expect = 88 + x.body.size() + 1 + x.topic.size() + 2 + x.props.size();
    ASSERT_EQ(b.size(), expect);
    EXPECT_EQ(be32_load(&b[0]), expect);
    EXPECT_EQ(be32_load(&b[4]), 0xDAA320A7u);
    EXPECT_EQ(be32_load(&b[8]), msg_body_crc(x.body.data(), x.body.size()));
    EXPECT_EQ(be32_load(&b[12]), 3u);
    EXPECT_EQ(be32_load(&b[16]), 77u);
    EXPECT_EQ((int64_t)be64_load(&b[20]), 123456789012LL);
    EXPECT_EQ((int64_t)be64_load(&b[28]), 0x0102030405060708LL);
    EXPECT_EQ(be32_load(&b[36]), (uint32_t)MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ((int64_t)be64_load(&b[40]), 1700000000123LL);
    const uint8_t born[8] = {10, 1, 2, 3, 0, 0, 0xD4, 0x31};
    EXPECT_EQ(memcmp(&b[48], born, 8), 0);
    EXPECT_EQ((int64_t)be64_load(&b[56]), 1700000000456LL);
    const uint8_t store[8] = {192, 168, 0, 9, 0, 0, 0x2A, 0x9F};
    EXPECT_EQ(memcmp(&b[64], store, 8), 0);
    EXPECT_EQ(be32_load(&b[72]), 5u);
    EXPECT_EQ((int64_t)be64_load(&b[76]), 4096);
    EXPECT_EQ(be32_load(&b[84]), x.body.size());
    EXPECT_EQ(memcmp(&b[88], x.body.data(), x.body.size()), 0);
    size_t p = 88 + x.body.size();
    EXPECT_EQ(b[p], x.topic.size());
    EXPECT_EQ(memcmp(&b[p + 1], x.topic.data(), x.topic.size()), 0);
    p += 1 + x.topic.size();
    EXPECT_EQ(be16_load(&b[p]), x.props.size());
    EXPECT_EQ(memcmp(&b[p + 2], x.props.data(), x.props.size()), 0);
    EXPECT_EQ(msg_peek_store_timestamp(b.data()), 1700000000456LL);
}

TEST(MessageRecord, RoundTripIPv4)
{
    Rec x;
    msg_record &r = x.fill();
    std::vector<uint8_t> b = encode(r);
    msg_record d;
    ASSERT_EQ(msg_decode(b.data(), b.size(), true, &d), MSG_OK);
    EXPECT_EQ(d.total_size, b.size());
    EXPECT_EQ(d.magic, MSG_MAGIC_V1);
    EXPECT_EQ(d.queue_id, 3);
    EXPECT_EQ(d.flag, 77);
    EXPECT_EQ(d.queue_offset, r.queue_offset);
    EXPECT_EQ(d.physical_offset, r.physical_offset);
    EXPECT_EQ(d.sysflag, MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ(msg_tx_type(d.sysflag), MSG_SYSFLAG_TX_COMMIT);
    EXPECT_EQ(d.born_timestamp, r.born_timestamp);
    EXPECT_EQ(d.store_timestamp, r.store_timestamp);
    EXPECT_EQ(d.born_host.port, 54321);
    EXPECT_EQ(d.store_host.port, 10911);
    EXPECT_EQ(memcmp(d.store_host.addr, r.store_host.addr, 4), 0);
    EXPECT_FALSE(d.store_host.ipv6);
    EXPECT_EQ(d.reconsume_times, 5);
    EXPECT_EQ(d.prepared_transaction_offset, 4096);
    EXPECT_EQ(std::string((const char *)d.body, d.body_len), x.body);
    EXPECT_EQ(std::string(d.topic, d.topic_len), x.topic);
    EXPECT_EQ(std::string(d.properties, d.properties_len), x.props);
    // The view points into the buffer: nothing was copied.
    EXPECT_EQ((const uint8_t *)d.body, b.data() + 88);
}

TEST(MessageRecord, RoundTripIPv6HostsAndV2Topic)
{
    Rec x;
    x.topic = std::string(200, 't'); // > 127 bytes: V2 magic, 2-byte length
    msg_record &r = x.fill();
    msg_host_set(&r.born_host, "2001:db8::1", 1);
    msg_host_set(&r.store_host, "::1", 10911);
    std::vector<uint8_t> b = encode(r);
    EXPECT_EQ(b.size(), 88 + 24 + x.body.size() + 2 + x.topic.size() + 2 + x.props.size());
    EXPECT_EQ(be32_load(&b[4]), MSG_MAGIC_V2);
    msg_record d;
    ASSERT_EQ(msg_decode(b.data(), b.size(), true, &d), MSG_OK);
    EXPECT_TRUE(d.sysflag & MSG_SYSFLAG_BORNHOST_V6);
    EXPECT_TRUE(d.sysflag & MSG_SYSFLAG_STOREHOST_V6);
    EXPECT_TRUE(d.born_host.ipv6);
    EXPECT_EQ(memcmp(d.born_host.addr, r.born_host.addr, 16), 0);
    EXPECT_EQ(d.store_host.port, 10911);
    EXPECT_EQ(d.store_timestamp, r.store_timestamp);
    EXPECT_EQ(msg_peek_store_timestamp(b.data()), r.store_timestamp);
    EXPECT_EQ(std::string(d.topic, d.topic_len), x.topic);
    EXPECT_EQ(std::string((const char *)d.body, d.body_len), x.body);
}

TEST(MessageRecord, CrcMismatchIsDetected)
{
    Rec x;
    std::vector<uint8_t> b = encode(x.fill());
    b[90] ^= 0x01; // inside the body
    msg_record d;
    EXPECT_EQ(msg_decode(b.data(), b.size(), true, &d), MSG_ERR_CRC);
    EXPECT_EQ(msg_decode(b.data(), b.size(), false, &d), MSG_OK);
}

TEST(MessageRecord, BodyCrcIsZlibWithTopBitCleared)
{
    // zlib crc32("123456789") = 0xCBF43926; top bit cleared -> 0x4BF43926.
    EXPECT_EQ(msg_body_crc("123456789", 9), 0x4BF43926u);
    EXPECT_EQ(msg_body_crc("", 0), 0u);
}

TEST(MessageRecord, EveryTruncationIsAnErrorNeverACrash)
{
    Rec x;
    std::vector<uint8_t> b = encode(x.fill());
    msg_record d;
    for (size_t n = 0; n < b.size(); n++) {
        std::vector<uint8_t> cut(b.begin(), b.begin() + n); // exact-size heap copy for ASan
        EXPECT_LT(msg_decode(cut.data(), cut.size(), true, &d), 0) << "prefix " << n;
    }
}

TEST(MessageRecord, GarbageNeverCrashes)
{
    std::mt19937 rng(42);
    Rec x;
    std::vector<uint8_t> good = encode(x.fill());
    int ok = 0;
    for (int i = 0; i < 20000; i++) {
        std::vector<uint8_t> b = good;
        int flips = 1 + (int)(rng() % 8);
        for (int f = 0; f < flips; f++)
            b[rng() % b.size()] = (uint8_t)rng();
        b.resize(rng() % (b.size() + 1));
        msg_record d;
        int rc = msg_decode(b.data(), b.size(), true, &d);
        if (rc == MSG_OK) {
            ok++;
            ASSERT_LE(d.total_size, b.size());
            ASSERT_LE(d.body + d.body_len, b.data() + b.size());
            ASSERT_LE((const uint8_t *)d.properties + d.properties_len, b.data() + b.size());
        }
    }
    (void)ok;
}

TEST(MessageRecord, BlankMarker)
{
    uint8_t buf[8];
    msg_encode_blank(buf, 1234);
    EXPECT_EQ(be32_load(buf), 1234u);
    EXPECT_EQ(be32_load(buf + 4), 0xCBD43194u);
    msg_record d;
    EXPECT_EQ(msg_decode(buf, sizeof buf, true, &d), MSG_BLANK);
    EXPECT_EQ(d.total_size, 1234u);
}

TEST(MessageRecord, SizeLimits)
{
    Rec x;
    msg_record &r = x.fill();
    std::string big(MSG_PROPERTIES_MAX + 1, 'a');
    r.properties = big.data();
    r.properties_len = (uint32_t)big.size();
    std::vector<uint8_t> buf(msg_record_size(&r));
    EXPECT_EQ(msg_encode(&r, buf.data(), buf.size()), MSG_ERR_TOO_LARGE);
    x.fill();
    std::vector<uint8_t> small(10);
    EXPECT_EQ(msg_encode(&r, small.data(), small.size()), MSG_ERR_NO_SPACE);
}

TEST(MessageProperties, LookupWithAndWithoutTrailingSeparator)
{
    const char p49[] = "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01" "ABC";
    const char p5x[] = "TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01" "ABC\x02";
    for (const char *p : {p49, p5x}) {
        const char *v;
        size_t vl;
        ASSERT_TRUE(msg_prop_get(p, strlen(p), "UNIQ_KEY", &v, &vl));
        EXPECT_EQ(std::string(v, vl), "ABC");
        ASSERT_TRUE(msg_prop_get(p, strlen(p), "TAGS", &v, &vl));
        EXPECT_EQ(std::string(v, vl), "TagA");
        EXPECT_FALSE(msg_prop_get(p, strlen(p), "TAG", &v, &vl));
        EXPECT_FALSE(msg_prop_get(p, strlen(p), "DELAY", &v, &vl));
    }
    const char *v;
    size_t vl;
    EXPECT_FALSE(msg_prop_get("", 0, "TAGS", &v, &vl));
    // An empty value is a value.
    ASSERT_TRUE(msg_prop_get("A\x01\x02" "B\x01x", 5, "A", &v, &vl));
    EXPECT_EQ(vl, 0u);
}

TEST(MessageProperties, BuildRemoveReplace)
{
    bytebuf b;
    bytebuf_init(&b);
    ASSERT_EQ(msg_prop_append(&b, "DELAY", "3"), 0);
    ASSERT_EQ(msg_prop_append(&b, "TAGS", "T"), 0);
    ASSERT_EQ(msg_prop_append(&b, "REAL_TOPIC", "orders"), 0);
    EXPECT_EQ(std::string((char *)b.data, b.len), "DELAY\x01" "3\x02TAGS\x01T\x02REAL_TOPIC\x01orders");
    EXPECT_EQ(msg_prop_remove(&b, "DELAY"), 1);
    EXPECT_EQ(std::string((char *)b.data, b.len), "TAGS\x01T\x02REAL_TOPIC\x01orders");
    EXPECT_EQ(msg_prop_remove(&b, "REAL_TOPIC"), 1);
    EXPECT_EQ(std::string((char *)b.data, b.len), "TAGS\x01T");
    EXPECT_EQ(msg_prop_remove(&b, "NOPE"), 0);
    ASSERT_EQ(msg_prop_set(&b, "TAGS", "U"), 0);
    ASSERT_EQ(msg_prop_set(&b, "RECONSUME_TIME", "2"), 0);
    EXPECT_EQ(std::string((char *)b.data, b.len), "TAGS\x01U\x02RECONSUME_TIME\x01" "2");
    EXPECT_EQ(msg_prop_append(&b, "bad\x01key", "v"), MSG_ERR_INVALID);
    EXPECT_EQ(msg_prop_append(&b, "k", "bad\x02value"), MSG_ERR_INVALID);
    EXPECT_EQ(msg_prop_append(&b, "", "v"), MSG_ERR_INVALID);
    EXPECT_EQ(msg_prop_remove(&b, "TAGS"), 1);
    EXPECT_EQ(msg_prop_remove(&b, "RECONSUME_TIME"), 1);
    EXPECT_EQ(b.len, 0u);
    bytebuf_free(&b);
}

TEST(MessageHash, JavaStringHashCode)
{
    // Values computed from Java's definition over UTF-16 code units.
    EXPECT_EQ(msg_java_hash("TagA", 4), 2598919);
    EXPECT_EQ(msg_java_hash("", 0), 0);
    EXPECT_EQ(msg_java_hash("hello world", 11), 1794106052);
    EXPECT_EQ(msg_java_hash("\xe4\xb8\xad\xe6\x96\x87", 6), 646394);       // "中文"
    EXPECT_EQ(msg_java_hash("h\xc3\xa9llo", 6), 103094734);               // "héllo"
    EXPECT_EQ(msg_java_hash("\xf0\x9f\x98\x80", 4), 1772899);             // U+1F600, a surrogate pair
    EXPECT_EQ(msg_java_hash("a\xf0\x9f\x98\x80" "b\xe2\x82\xac", 9), 1793348878); // "a😀b€"
    EXPECT_EQ(msg_java_hash("polygenelubricants", 18), INT32_MIN);       // wraps to MIN_VALUE
}

TEST(MessageHash, TagCodeIsSignExtended)
{
    EXPECT_EQ(msg_tag_hash("TagA", 4), 2598919);
    EXPECT_EQ(msg_tag_hash(nullptr, 0), 0);
    EXPECT_EQ(msg_tag_hash("", 0), 0);
    EXPECT_EQ(msg_tag_hash("polygenelubricants", 18), (int64_t)INT32_MIN);
    EXPECT_LT(msg_tag_hash("polygenelubricants", 18), 0);
}

TEST(MessageHash, IndexKeyHash)
{
    // "TopicTest#KEY1".hashCode() = -1656969516 -> abs.
    EXPECT_EQ(msg_index_key_hash("TopicTest", 9, "KEY1", 4), 1656969516);
    // "T#hYE]P:\u2067\ucfe5".hashCode() == Integer.MIN_VALUE: Math.abs
    // overflows and RocketMQ maps it to 0.
    EXPECT_EQ(msg_index_key_hash("T", 1, "hYE]P:\xe2\x81\xa7\xec\xbf\xa5", 12), 0);
}

TEST(MessageId, OffsetIdRoundTripIPv4)
{
    msg_host h;
    ASSERT_EQ(msg_host_set(&h, "10.0.0.1", 10911), 0);
    char id[MSG_ID_BUF];
    ASSERT_EQ(msg_offset_id_encode(&h, 0x123456789ALL, id, sizeof id), 32);
    EXPECT_STREQ(id, "0A00000100002A9F000000123456789A");
    msg_host d;
    int64_t off;
    ASSERT_EQ(msg_offset_id_decode(id, strlen(id), &d, &off), 0);
    EXPECT_EQ(off, 0x123456789ALL);
    EXPECT_EQ(d.port, 10911);
    EXPECT_FALSE(d.ipv6);
    EXPECT_EQ(memcmp(d.addr, h.addr, 4), 0);
    // lower case accepted; wrong length / non-hex rejected
    ASSERT_EQ(msg_offset_id_decode("0a00000100002a9f000000123456789a", 32, &d, &off), 0);
    EXPECT_EQ(off, 0x123456789ALL);
    EXPECT_NE(msg_offset_id_decode(id, 31, &d, &off), 0);
    EXPECT_NE(msg_offset_id_decode("0A00000100002A9F00000012345678ZZ", 32, &d, &off), 0);
}

TEST(MessageId, OffsetIdRoundTripIPv6)
{
    msg_host h;
    ASSERT_EQ(msg_host_set(&h, "fe80::1", 10911), 0);
    char id[MSG_ID_BUF];
    ASSERT_EQ(msg_offset_id_encode(&h, 42, id, sizeof id), 56);
    msg_host d;
    int64_t off;
    ASSERT_EQ(msg_offset_id_decode(id, 56, &d, &off), 0);
    EXPECT_TRUE(d.ipv6);
    EXPECT_EQ(memcmp(d.addr, h.addr, 16), 0);
    EXPECT_EQ(off, 42);
    char small[10];
    EXPECT_EQ(msg_offset_id_encode(&h, 42, small, sizeof small), MSG_ERR_NO_SPACE);
}

TEST(MessageId, UniqueIdLayout)
{
    msg_uniq_gen g;
    const uint8_t ip[4] = {10, 0, 0, 1};
    msg_uniq_gen_init(&g, ip, 4, 0x1234, 0xCAFEBABE);
    // Build "now" = start of this month (local) + 5000 ms.
    time_t t = time(nullptr);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t month = (int64_t)mktime(&tm) * 1000;
    char a[MSG_ID_BUF], b[MSG_ID_BUF];
    ASSERT_EQ(msg_uniq_gen_next(&g, month + 5000, a, sizeof a), 32);
    ASSERT_EQ(msg_uniq_gen_next(&g, month + 5000, b, sizeof b), 32);
    EXPECT_EQ(std::string(a), "0A0000011234CAFEBABE000013880000");
    EXPECT_EQ(std::string(b), "0A0000011234CAFEBABE000013880001");
    msg_host ipd;
    int64_t born;
    ASSERT_EQ(msg_uniq_id_decode(a, 32, &ipd, month + 10000, &born), 0);
    EXPECT_EQ(born, month + 5000);
    EXPECT_EQ(memcmp(ipd.addr, ip, 4), 0);
}

TEST(MessageId, UniqueIdsAreDistinctAcrossThreads)
{
    // The process-wide generator hands out distinct ids under concurrency.
    std::vector<std::string> ids(4 * 5000);
    std::vector<std::thread> th;
    for (int t = 0; t < 4; t++)
        th.emplace_back([&, t] {
            for (int i = 0; i < 5000; i++) {
                char id[MSG_ID_BUF];
                ASSERT_EQ(msg_uniq_id_new(id, sizeof id), 32);
                ids[t * 5000 + i] = id;
            }
        });
    for (auto &x : th)
        x.join();
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST(MessageBatch, RoundTrip)
{
    std::string b1 = "first", b2(3000, 'x'), p1 = "TAGS\x01" "A", p2;
    msg_batch_item items[2] = {
        {7, (const uint8_t *)b1.data(), (uint32_t)b1.size(), p1.data(), (uint32_t)p1.size()},
        {0, (const uint8_t *)b2.data(), (uint32_t)b2.size(), p2.data(), 0},
    };
    bytebuf out;
    bytebuf_init(&out);
    ASSERT_EQ(msg_batch_encode(&out, items, 2), 0);
    EXPECT_EQ(out.len, 22 + b1.size() + p1.size() + 22 + b2.size());
    EXPECT_EQ(be32_load(out.data + 4), 0u); // MAGIC 0
    EXPECT_EQ(be32_load(out.data + 8), 0u); // BODYCRC 0
    msg_batch_iter it;
    msg_batch_iter_init(&it, out.data, out.len);
    msg_batch_item m;
    ASSERT_EQ(msg_batch_next(&it, &m), 1);
    EXPECT_EQ(m.flag, 7);
    EXPECT_EQ(std::string((const char *)m.body, m.body_len), b1);
    EXPECT_EQ(std::string(m.properties, m.properties_len), p1);
    ASSERT_EQ(msg_batch_next(&it, &m), 1);
    EXPECT_EQ(m.body_len, b2.size());
    EXPECT_EQ(m.properties_len, 0u);
    EXPECT_EQ(msg_batch_next(&it, &m), 0);
    bytebuf_free(&out);
}

TEST(MessageBatch, TruncatedAndGarbageInputIsAnError)
{
    std::string body = "payload";
    msg_batch_item item = {1, (const uint8_t *)body.data(), (uint32_t)body.size(), "K\x01v", 3};
    bytebuf out;
    bytebuf_init(&out);
    msg_batch_encode(&out, &item, 1);
    msg_batch_encode(&out, &item, 1);
    size_t one = out.len / 2;
    for (size_t n = 1; n < out.len; n++) {
        std::vector<uint8_t> cut(out.data, out.data + n);
        msg_batch_iter it;
        msg_batch_iter_init(&it, cut.data(), cut.size());
        msg_batch_item m;
        int rc, items = 0;
        while ((rc = msg_batch_next(&it, &m)) == 1)
            items++;
        if (n == one) {
            EXPECT_EQ(rc, 0);
            EXPECT_EQ(items, 1);
        } else {
            EXPECT_LT(rc, 0) << "prefix " << n;
        }
    }
    // Lengths that disagree with TOTALSIZE.
    std::vector<uint8_t> bad(out.data, out.data + one);
    be32_store(&bad[16], 1000); // body length beyond the item
    msg_batch_iter it;
    msg_batch_item m;
    msg_batch_iter_init(&it, bad.data(), bad.size());
    EXPECT_EQ(msg_batch_next(&it, &m), MSG_ERR_LENGTH);
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; i++) {
        std::vector<uint8_t> g(rng() % 200);
        for (auto &c : g)
            c = (uint8_t)rng();
        if (g.size() >= 4 && (rng() & 1))
            be32_store(g.data(), (uint32_t)(rng() % (g.size() + 1)));
        msg_batch_iter_init(&it, g.data(), g.size());
        int rc;
        while ((rc = msg_batch_next(&it, &m)) == 1) {
            ASSERT_LE(m.body + m.body_len, g.data() + g.size());
            ASSERT_LE((const uint8_t *)m.properties + m.properties_len, g.data() + g.size());
        }
    }
    bytebuf_free(&out);
}
