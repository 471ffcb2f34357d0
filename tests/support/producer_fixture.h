// producer_fixture.h - a test with a real mqnamesrv and mqbroker, one topic
// of 4 queues on the broker, and a producer of the client library that the
// test creates with its own options and the fixture shuts down and destroys.
#pragma once

#include <string>

#include "cluster.h"
#include "mq/mq.h"
#include "mq/producer.h"

extern "C" {
#include "log.h"
}

class OneBrokerProducerTest : public OneBrokerTest {
  protected:
    OneBrokerProducerTest(const char *tag, const char *topic) : OneBrokerTest(tag), topic(topic) {}
    const char *topic;
    mq_producer *p = nullptr;

    void SetUp() override { log_set_level(LOG_ERROR); }
    void TearDown() override {
        if (p) {
            mq_producer_shutdown(p);
            mq_producer_destroy(p);
        }
    }

    // Starts the nameserver and the broker and creates the topic.
    void start_with_topic() { OneBrokerTest::start_with_topic(topic, 4); }

    // Creates and starts p (group `group`) with options o.
    void start_producer(const char *group, const mq_producer_options &o) {
        mq_error err{};
        ASSERT_EQ(MQ_OK, mq_producer_new(group, c.namesrv_list().c_str(), &o, &p, &err)) << err.message;
        ASSERT_EQ(MQ_OK, mq_producer_start(p, &err)) << err.message;
    }

    // A message of the topic with body; the caller destroys it.
    mq_message *message(const std::string &body) {
        mq_message *m = mq_message_new(topic);
        mq_message_set_body(m, body.data(), body.size(), nullptr);
        return m;
    }
};
