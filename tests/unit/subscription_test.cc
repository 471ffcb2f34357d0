// subscription_test.cc - tag expressions parsed and matched the same way on
// the broker (by hash) and the client (by string).

#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "message.h"
#include "subscription.h"
}

TEST(SubscriptionTest, StarAndEmptyMatchEverything) {
    for (const char *e : std::initializer_list<const char *>{"*", "", "  *  ", nullptr}) {
        mq_subscription s;
        char err[128];
        ASSERT_EQ(0, mq_subscription_parse(e, "TAG", &s, err, sizeof err));
        EXPECT_TRUE(s.match_all);
        EXPECT_TRUE(mq_subscription_match_tag(&s, "anything", 8));
        EXPECT_TRUE(mq_subscription_match_tag(&s, "", 0));
        EXPECT_TRUE(mq_subscription_match_code(&s, 12345));
        mq_subscription_free(&s);
    }
}

TEST(SubscriptionTest, TagListMatchesByStringAndHash) {
    mq_subscription s;
    char err[128];
    ASSERT_EQ(0, mq_subscription_parse("TagA || TagB||TagC ", nullptr, &s, err, sizeof err)) << err;
    ASSERT_EQ(3, s.n_tags);
    EXPECT_STREQ("TagC", s.tags[2]);
    EXPECT_EQ(2598919, s.codes[0]); // Java "TagA".hashCode()
    EXPECT_TRUE(mq_subscription_match_tag(&s, "TagB", 4));
    EXPECT_FALSE(mq_subscription_match_tag(&s, "TagD", 4));
    EXPECT_FALSE(mq_subscription_match_tag(&s, "Tag", 3));
    EXPECT_FALSE(mq_subscription_match_tag(&s, "", 0)); // untagged messages do not match a tag list
    EXPECT_TRUE(mq_subscription_match_code(&s, msg_tag_hash("TagC", 4)));
    EXPECT_FALSE(mq_subscription_match_code(&s, msg_tag_hash("TagD", 4)));
    mq_subscription c;
    mq_subscription_copy(&c, &s);
    mq_subscription_free(&s);
    EXPECT_TRUE(mq_subscription_match_tag(&c, "TagA", 4));
    mq_subscription_free(&c);
}

TEST(SubscriptionTest, MalformedExpressionsAreRejected) {
    mq_subscription s;
    char err[128];
    EXPECT_NE(0, mq_subscription_parse("TagA || ", "TAG", &s, err, sizeof err));
    EXPECT_NE(0, mq_subscription_parse("TagA |||| TagB", "TAG", &s, err, sizeof err));
    EXPECT_NE(0, mq_subscription_parse("a > 1", "XPATH", &s, err, sizeof err));
    EXPECT_NE(std::string::npos, std::string(err).find("XPATH"));
    ASSERT_EQ(0, mq_subscription_parse("a > 1", "SQL92", &s, err, sizeof err));
    EXPECT_EQ(SUB_SQL92, s.type);
    mq_subscription_free(&s);
}
