// reliability_util.h - what the reliability tests (disk_full_test,
// crash_soak_test) share: producer threads sending unique keyed messages and
// recording which ones the broker acknowledged, and a drain that reads a
// whole topic as one consumer group and counts every key it sees.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "wait.h"

#include "mq/admin.h"
#include "mq/consumer.h"
#include "mq/producer.h"

namespace reltest {

// Threads sending keyed messages ("<prefix>-t<thread>-<seq>") with sync sends
// until stop(). A key is "acked" when mq_producer_send returned MQ_OK; every
// failure is counted by its broker status (0 for network/timeouts).
class Senders {
  public:
    Senders(const std::string &namesrv, const std::string &topic, const std::string &prefix, int threads,
            int body_size = 256)
        : topic_(topic), prefix_(prefix), body_(body_size, 'x') {
        mq_producer_options o;
        mq_producer_options_init(&o);
        o.send_timeout_ms = 2000;
        o.retry_times_when_send_failed = 0; // one broker: a retry is a duplicate at best
        o.send_latency_fault_enable = false;
        mq_error err{};
        std::string group = "rel_" + prefix;
        EXPECT_EQ(MQ_OK, mq_producer_new(group.c_str(), namesrv.c_str(), &o, &p_, &err)) << err.message;
        EXPECT_EQ(MQ_OK, mq_producer_start(p_, &err)) << err.message;
        for (int t = 0; t < threads; t++)
            threads_.emplace_back([this, t] { run(t); });
    }
    ~Senders() {
        stop();
        mq_producer_destroy(p_);
    }

    void stop() {
        stop_ = true;
        for (auto &t : threads_)
            if (t.joinable())
                t.join();
    }

    int64_t acked_count() const { return acked_n_.load(); }
    int64_t failed_count() const { return failed_n_.load(); }
    std::vector<std::string> acked() {
        std::lock_guard<std::mutex> g(mu_);
        return acked_;
    }
    std::map<int, int64_t> failures() {
        std::lock_guard<std::mutex> g(mu_);
        return failures_;
    }
    std::string last_error() {
        std::lock_guard<std::mutex> g(mu_);
        return last_error_;
    }
    // Acks since the failure count last changed (a send went through after one failed).
    int64_t acked_after_failure() const { return acked_after_failure_.load(); }

  private:
    void run(int t) {
        char key[128];
        for (int64_t seq = 0; !stop_; seq++) {
            snprintf(key, sizeof key, "%s-t%d-%lld", prefix_.c_str(), t, (long long)seq);
            mq_message *m = mq_message_new(topic_.c_str());
            mq_message_set_keys(m, key, nullptr);
            mq_message_set_body(m, body_.data(), body_.size(), nullptr);
            mq_send_result r;
            mq_error err{};
            int rc = mq_producer_send(p_, m, &r, &err);
            mq_message_destroy(m);
            {
                std::lock_guard<std::mutex> g(mu_);
                if (rc == MQ_OK) {
                    acked_.push_back(key);
                    mq_send_result_destroy(&r);
                } else {
                    failures_[rc == MQ_EBROKER ? err.status : 0]++;
                    last_error_ = err.message;
                }
            }
            if (rc == MQ_OK) {
                acked_n_++;
                acked_after_failure_++;
            } else {
                failed_n_++;
                acked_after_failure_ = 0;
                std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a down broker: no busy loop
            }
        }
    }

    std::string topic_, prefix_, body_;
    mq_producer *p_ = nullptr;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<std::string> acked_;
    std::map<int, int64_t> failures_;
    std::string last_error_;
    std::atomic<int64_t> acked_n_{0}, failed_n_{0}, acked_after_failure_{0};
};

// Reads every queue of topic as group, from its min offset (or, with
// from_committed, from the group's committed offset when it has one) to its
// max, and commits the end; adds every key seen to seen. Returns the number
// of messages read.
// Waits until every broker of topic's route has indexed all it has stored
// (dispatchBehindBytes 0): a send is acknowledged once it is in the
// CommitLog, its ConsumeQueue entry follows (RocketMQ's reput), and a queue's
// max offset only counts what is indexed.
inline void wait_dispatched(const std::string &namesrv, const std::string &topic) {
    mq_admin *admin = nullptr;
    ASSERT_EQ(MQ_OK, mq_admin_new(namesrv.c_str(), 3000, &admin, nullptr));
    mq_topic_route *route = nullptr;
    if (mq_admin_topic_route(admin, topic.c_str(), &route, nullptr) == MQ_OK) {
        for (size_t i = 0; i < route->n_brokers; i++)
            for (size_t j = 0; j < route->brokers[i].n_addrs; j++) {
                const char *addr = route->brokers[i].addrs[j].addr;
                EXPECT_TRUE(wait_for([&] {
                    mq_kv_list *kv = nullptr;
                    if (mq_admin_broker_runtime_info(admin, addr, &kv, nullptr) != MQ_OK)
                        return false;
                    const char *v = mq_kv_get(kv, "dispatchBehindBytes");
                    bool done = v && atoll(v) == 0;
                    mq_kv_list_free(kv);
                    return done;
                }, 10000)) << addr << " has not indexed all it stored";
            }
        mq_topic_route_free(route);
    }
    mq_admin_free(admin);
}

inline int64_t read_topic(const std::string &namesrv, const std::string &group, const std::string &topic,
                          std::map<std::string, int> &seen, bool from_committed = false) {
    wait_dispatched(namesrv, topic);
    mq_pull_consumer *pc = nullptr;
    mq_error err{};
    EXPECT_EQ(MQ_OK, mq_pull_consumer_new(group.c_str(), namesrv.c_str(), nullptr, &pc, &err)) << err.message;
    EXPECT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err)) << err.message;
    mq_message_queue *qs = nullptr;
    int nq = 0;
    EXPECT_EQ(MQ_OK, mq_pull_consumer_fetch_queues(pc, topic.c_str(), &qs, &nq, &err)) << err.message;
    int64_t total = 0;
    for (int i = 0; i < nq; i++) {
        int64_t off = 0, max = 0;
        if (!from_committed || mq_pull_consumer_query_offset(pc, &qs[i], &off, &err) != MQ_OK) {
            EXPECT_EQ(MQ_OK, mq_pull_consumer_min_offset(pc, &qs[i], &off, &err)) << err.message;
        }
        EXPECT_EQ(MQ_OK, mq_pull_consumer_max_offset(pc, &qs[i], &max, &err)) << err.message;
        EXPECT_LE(off, max) << "committed offset past the end of " << topic << "/" << qs[i].queue_id;
        while (off < max) {
            mq_pull_result pr;
            if (mq_pull_consumer_pull(pc, &qs[i], "*", off, 256, 0, &pr, &err) != MQ_OK) {
                ADD_FAILURE() << "pull " << topic << "/" << qs[i].queue_id << " at " << off << ": " << err.message;
                break;
            }
            for (int k = 0; k < pr.n; k++) {
                const char *key = mq_message_ext_keys(pr.msgs[k]);
                seen[key ? key : ""]++;
                total++;
            }
            bool stuck = pr.next_begin_offset <= off;
            off = pr.next_begin_offset;
            mq_pull_result_destroy(&pr);
            if (stuck) {
                ADD_FAILURE() << "no progress in " << topic << "/" << qs[i].queue_id << " at " << off;
                break;
            }
        }
        EXPECT_EQ(MQ_OK, mq_pull_consumer_commit_offset(pc, &qs[i], off, &err)) << err.message;
    }
    mq_free(qs);
    mq_pull_consumer_destroy(pc);
    return total;
}

// The whole topic as a fresh group: how often each key was seen.
inline std::map<std::string, int> drain(const std::string &namesrv, const std::string &group,
                                        const std::string &topic) {
    std::map<std::string, int> seen;
    read_topic(namesrv, group, topic, seen);
    return seen;
}

struct Verdict {
    int64_t acked = 0, missing = 0, duplicated = 0, unacked_present = 0;
    std::string first_missing;
};

// Compares what a group read with what the producers saw acknowledged.
inline Verdict compare(const std::vector<std::string> &acked, const std::map<std::string, int> &seen) {
    Verdict v;
    std::set<std::string> ack(acked.begin(), acked.end());
    v.acked = (int64_t)ack.size();
    for (auto &k : ack) {
        auto it = seen.find(k);
        if (it == seen.end()) {
            if (v.missing++ == 0)
                v.first_missing = k;
        }
    }
    for (auto &kv : seen) {
        if (kv.second > 1)
            v.duplicated += kv.second - 1;
        if (!ack.count(kv.first))
            v.unacked_present++;
    }
    return v;
}

} // namespace reltest
