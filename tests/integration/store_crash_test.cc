// Store crash test with real processes: build/bin/store_crash_child appends
// with SYNC_FLUSH from 4 threads and prints every acknowledged put; the test
// SIGKILLs it at a random moment, reopens the store (crash recovery), and
// checks that every acknowledged record is present and intact, that every
// record reachable through a ConsumeQueue is an intact record of that queue
// at that offset (acknowledged or not: no garbage is readable), and that the
// ConsumeQueues and the key index agree with the CommitLog. Several rounds on
// the same store; a last round with ASYNC_FLUSH checks integrity only.
#include "../unit/store_test_util.h"

#include <random>

using namespace storetest;

namespace {

const int64_t SEG = 256 * 1024;

// Every record in every queue carries a body derived from its key.
int64_t verify_bodies(store *s)
{
    std::vector<QueueSpan> qs = list_queues(s);
    int64_t n = 0;
    std::vector<store_record_ref> refs(64);
    for (auto &q : qs) {
        for (int64_t next = q.min; next < q.max;) {
            store_get_request req = {};
            req.topic = q.topic.c_str();
            req.queue_id = q.qid;
            req.offset = next;
            req.max_count = 64;
            store_get_result res;
            EXPECT_EQ(store_get_messages(s, &req, refs.data(), &res), 0);
            if (res.count == 0) {
                ADD_FAILURE() << "hole in " << q.topic << "/" << q.qid << " at " << next;
                return -1;
            }
            for (int i = 0; i < res.count; i++) {
                msg_record r;
                EXPECT_EQ(msg_decode(refs[i].data, refs[i].size, true, &r), MSG_OK);
                const char *k;
                size_t kl;
                EXPECT_TRUE(msg_prop_get(r.properties, r.properties_len, MSG_PROP_KEYS, &k, &kl));
                std::string key(k, kl);
                std::vector<uint8_t> want(r.body_len);
                crash_body_fill(key.c_str(), want.data(), want.size());
                EXPECT_EQ(memcmp(r.body, want.data(), want.size()), 0) << key;
            }
            next += res.count;
            n += res.count;
            store_pin_release(&res.pin);
        }
    }
    return n;
}

} // namespace

TEST(StoreCrash, KillDuringSyncFlushWritesLosesNoAcknowledgedMessage)
{
    TempDir d;
    std::random_device rd;
    unsigned seed = rd();
    std::mt19937 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::vector<Ack> all;
    store_config cfg = small_config(d.path, SEG, 200);
    const int rounds = 6;
    for (int round = 0; round < rounds; round++) {
        bool sync = round < rounds - 1;
        SCOPED_TRACE("round " + std::to_string(round) + (sync ? " sync" : " async"));
        Child ch;
        std::vector<std::string> args = child_args(d.path, round, sync ? "sync" : "async", 0, SEG);
        ASSERT_TRUE(ch.start(args));
        size_t want = 50 + rng() % 3000;
        ASSERT_TRUE(ch.wait_for([&] { return ch.acks.size() >= want; }, 20000))
            << "child acknowledged only " << ch.acks.size();
        // A random extra moment, so the kill can land anywhere in a put.
        int extra_us = (int)(rng() % 30000);
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(extra_us);
        while (std::chrono::steady_clock::now() < until)
            ch.pump(1);
        ch.kill9();
        EXPECT_EQ(ch.fails, 0);
        all.insert(all.end(), ch.acks.begin(), ch.acks.end());

        int64_t t0 = mono_ms();
        store *s = open_store(cfg);
        ASSERT_NE(s, nullptr);
        int64_t open_ms = mono_ms() - t0;
        EXPECT_LT(open_ms, 5000);
        for (auto &a : all)
            verify_ack(s, a);
        int64_t in_queues = verify_all_queues(s);
        EXPECT_GE(in_queues, (int64_t)all.size());
        EXPECT_EQ(verify_bodies(s), in_queues);
        store_close(s);
        if (HasFatalFailure() || HasNonfatalFailure())
            break;
    }
    EXPECT_GT(all.size(), 100u);
}
