// Unit tests for broker/retry_policy.c: where a sent-back message goes
// (rules R2, R3) and what its copy carries (R4).
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "message.h"
#include "retry_policy.h"
}

namespace {

std::string prop(const bytebuf &b, const char *key)
{
    const char *v;
    size_t n;
    if (!msg_prop_get(reinterpret_cast<const char *>(b.data), b.len, key, &v, &n))
        return "<absent>";
    return std::string(v, n);
}

int count_key(const bytebuf &b, const char *key)
{
    size_t it = 0, kl, vl;
    const char *k, *v;
    int n = 0;
    while (msg_prop_next(reinterpret_cast<const char *>(b.data), b.len, &it, &k, &kl, &v, &vl))
        n += kl == strlen(key) && !memcmp(k, key, kl);
    return n;
}

}  // namespace

TEST(RetryDecide, FirstFailureGoesToRetryTopicAtLevelThree)
{
    retry_decision d = retry_decide(0, 0, -1, 16, 18);
    EXPECT_EQ(d.target, RETRY_TO_RETRY_TOPIC);
    EXPECT_EQ(d.delay_level, 3);
    EXPECT_EQ(d.reconsume_times, 1);
    EXPECT_EQ(d.max_reconsume, 16);
}

TEST(RetryDecide, LevelGrowsWithReconsumeTimesUpToTheLastLevel)
{
    for (int r = 0; r < 16; r++) {
        retry_decision d = retry_decide(r, 0, -1, 16, 18);
        ASSERT_EQ(d.target, RETRY_TO_RETRY_TOPIC) << r;
        EXPECT_EQ(d.delay_level, 3 + r) << r;
        EXPECT_EQ(d.reconsume_times, r + 1);
    }
    // A group allowing more retries than levels: clamped to the last level.
    retry_decision d = retry_decide(30, 0, -1, 100, 18);
    EXPECT_EQ(d.target, RETRY_TO_RETRY_TOPIC);
    EXPECT_EQ(d.delay_level, 18);
    d = retry_decide(INT32_MAX - 1, 0, -1, INT32_MAX, 18);
    EXPECT_EQ(d.delay_level, 18);
}

TEST(RetryDecide, SixteenthFailureGoesToTheDlq)
{
    retry_decision d = retry_decide(16, 0, -1, 16, 18);
    EXPECT_EQ(d.target, RETRY_TO_DLQ);
    EXPECT_EQ(d.delay_level, 0);
    EXPECT_EQ(d.reconsume_times, 17);
}

TEST(RetryDecide, ClientMaxOverridesGroupMax)
{
    EXPECT_EQ(retry_decide(2, 0, 2, 16, 18).target, RETRY_TO_DLQ);
    EXPECT_EQ(retry_decide(2, 0, 5, 1, 18).target, RETRY_TO_RETRY_TOPIC);
    EXPECT_EQ(retry_decide(2, 0, 5, 1, 18).max_reconsume, 5);
    // Absent (negative): the group decides.
    EXPECT_EQ(retry_decide(1, 0, -1, 1, 18).target, RETRY_TO_DLQ);
    // Zero: the first failure is already too many.
    EXPECT_EQ(retry_decide(0, 0, 0, 16, 18).target, RETRY_TO_DLQ);
}

TEST(RetryDecide, NegativeLevelMeansDlqAndExplicitLevelIsKept)
{
    EXPECT_EQ(retry_decide(0, -1, -1, 16, 18).target, RETRY_TO_DLQ);
    retry_decision d = retry_decide(4, 2, -1, 16, 18);
    EXPECT_EQ(d.target, RETRY_TO_RETRY_TOPIC);
    EXPECT_EQ(d.delay_level, 2);
    EXPECT_EQ(retry_decide(0, 99, -1, 16, 18).delay_level, 18);
    EXPECT_EQ(retry_decide(0, 0, -1, 16, 2).delay_level, 2); // short custom level list
}

TEST(RetryProperties, FirstFailureRecordsOriginalTopicAndId)
{
    bytebuf in, out;
    bytebuf_init(&in);
    bytebuf_init(&out);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_TAGS, "TagA"), 0);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_UNIQ_KEY, "UNIQ1"), 0);
    ASSERT_EQ(msg_prop_append(&in, "color", "red"), 0);
    retry_decision d = retry_decide(0, 0, -1, 16, 18);
    ASSERT_EQ(retry_build_properties(reinterpret_cast<const char *>(in.data), in.len, "Orders", "OFFSETID1", &d, &out),
              0);
    EXPECT_EQ(prop(out, MSG_PROP_RETRY_TOPIC), "Orders");
    EXPECT_EQ(prop(out, MSG_PROP_ORIGIN_MESSAGE_ID), "OFFSETID1");
    EXPECT_EQ(prop(out, MSG_PROP_DELAY), "3");
    EXPECT_EQ(prop(out, MSG_PROP_UNIQ_KEY), "UNIQ1");
    EXPECT_EQ(prop(out, MSG_PROP_TAGS), "TagA");
    EXPECT_EQ(prop(out, "color"), "red");
    bytebuf_free(&in);
    bytebuf_free(&out);
}

TEST(RetryProperties, LaterFailuresKeepTheFirstTopicAndIdAndReplaceTheDelay)
{
    bytebuf in, out;
    bytebuf_init(&in);
    bytebuf_init(&out);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_RETRY_TOPIC, "Orders"), 0);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_ORIGIN_MESSAGE_ID, "FIRST"), 0);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_DELAY, "3"), 0);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_TIMER_DELIVER_MS, "123"), 0);
    ASSERT_EQ(msg_prop_append(&in, "SCHED_ORIGIN", "4096:1700000000000"), 0);
    bytebuf_append(&in, "\x02", 1);  // a trailing separator, as RocketMQ 4.8 writes
    retry_decision d = retry_decide(1, 0, -1, 16, 18);
    ASSERT_EQ(retry_build_properties(reinterpret_cast<const char *>(in.data), in.len, "%RETRY%g", "SECOND", &d, &out),
              0);
    EXPECT_EQ(prop(out, MSG_PROP_RETRY_TOPIC), "Orders");
    EXPECT_EQ(prop(out, MSG_PROP_ORIGIN_MESSAGE_ID), "FIRST");
    EXPECT_EQ(prop(out, MSG_PROP_DELAY), "4");
    EXPECT_EQ(count_key(out, MSG_PROP_DELAY), 1);
    EXPECT_EQ(prop(out, MSG_PROP_TIMER_DELIVER_MS), "<absent>");
    EXPECT_EQ(prop(out, "SCHED_ORIGIN"), "<absent>") << "the last hop's scheduled record is not the copy's";
    bytebuf_free(&in);
    bytebuf_free(&out);
}

TEST(RetryProperties, DlqCopyHasNoDelay)
{
    bytebuf in, out;
    bytebuf_init(&in);
    bytebuf_init(&out);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_RETRY_TOPIC, "Orders"), 0);
    ASSERT_EQ(msg_prop_append(&in, MSG_PROP_DELAY, "18"), 0);
    retry_decision d = retry_decide(16, 0, -1, 16, 18);
    ASSERT_EQ(retry_build_properties(reinterpret_cast<const char *>(in.data), in.len, "%RETRY%g", "X", &d, &out), 0);
    EXPECT_EQ(prop(out, MSG_PROP_DELAY), "<absent>");
    EXPECT_EQ(prop(out, MSG_PROP_RETRY_TOPIC), "Orders");
    EXPECT_EQ(prop(out, MSG_PROP_ORIGIN_MESSAGE_ID), "X");
    // Empty input works too.
    ASSERT_EQ(retry_build_properties("", 0, "T", "ID", &d, &out), 0);
    EXPECT_EQ(prop(out, MSG_PROP_RETRY_TOPIC), "T");
    bytebuf_free(&in);
    bytebuf_free(&out);
}

TEST(RetryTopicNames, PrefixesAndOverflow)
{
    char buf[300];
    EXPECT_EQ(retry_topic_name("g1", buf, sizeof buf), 9);
    EXPECT_STREQ(buf, "%RETRY%g1");
    EXPECT_EQ(retry_dlq_topic_name("g1", buf, sizeof buf), 7);
    EXPECT_STREQ(buf, "%DLQ%g1");
    char small[8];
    EXPECT_EQ(retry_topic_name("g1", small, sizeof small), -1);
}
