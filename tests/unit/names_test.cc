// names_test.cc - RocketMQ's topic and group name rules (common/names.c).

#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "names.h"
}

namespace {

std::string why(const char *name) {
    char err[256] = "";
    EXPECT_FALSE(topic_name_valid(name, err, sizeof err)) << name;
    return err;
}

TEST(TopicName, AcceptsRocketMQsCharacters) {
    EXPECT_TRUE(topic_name_valid("TopicTest", nullptr, 0));
    EXPECT_TRUE(topic_name_valid("a-b_c|d%e09", nullptr, 0));
    EXPECT_TRUE(topic_name_valid(std::string(127, 'x').c_str(), nullptr, 0));
}

TEST(TopicName, RejectsBlankLongAndIllegalWithAClearReason) {
    EXPECT_NE(std::string::npos, why("").find("blank"));
    EXPECT_NE(std::string::npos, why(nullptr).find("blank"));
    EXPECT_NE(std::string::npos, why(std::string(128, 'x').c_str()).find("limit is 127"));
    EXPECT_NE(std::string::npos, why("a b").find("illegal character ' '"));
    EXPECT_NE(std::string::npos, why("a/b").find("'/'"));
    EXPECT_NE(std::string::npos, why("caf\xC3\xA9").find("0xc3"));
    // The quoted name in the message stays printable and short.
    std::string msg = why(("\x01" + std::string(300, 'x')).c_str());
    EXPECT_EQ(std::string::npos, msg.find('\x01'));
    EXPECT_LT(msg.size(), 200u);
}

TEST(TopicName, RetryAndDlqTopicsMayBeLonger) {
    std::string retry = "%RETRY%" + std::string(200, 'g');
    std::string dlq = "%DLQ%" + std::string(250, 'g');
    EXPECT_TRUE(topic_name_valid(retry.c_str(), nullptr, 0));
    EXPECT_TRUE(topic_name_valid(dlq.c_str(), nullptr, 0));
    EXPECT_FALSE(topic_name_valid(("%DLQ%" + std::string(251, 'g')).c_str(), nullptr, 0));
}

TEST(GroupName, SameCharactersUpTo255) {
    EXPECT_TRUE(group_name_valid("please_rename_unique_group_name", nullptr, 0));
    EXPECT_TRUE(group_name_valid(std::string(255, 'g').c_str(), nullptr, 0));
    char err[128];
    EXPECT_FALSE(group_name_valid(std::string(256, 'g').c_str(), err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("group name"));
    EXPECT_FALSE(group_name_valid("g:1", nullptr, 0));
}

TEST(SystemTopics, AreRecognised) {
    for (const char *t : {"TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                          "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "BenchmarkTest",
                          "RMQ_SYS_TRACE_TOPIC", "rmq_sys_anything"})
        EXPECT_TRUE(topic_is_system(t)) << t;
    EXPECT_FALSE(topic_is_system("TopicTest"));
    EXPECT_FALSE(topic_is_system("%RETRY%g"));
    EXPECT_TRUE(topic_is_retry_or_dlq("%RETRY%g"));
    EXPECT_TRUE(topic_is_retry_or_dlq("%DLQ%g"));
}

} // namespace
