// Long-poll registry: held pulls are retried when their queue grows past
// their offset or at their deadline; arrivals with nothing held are recorded
// without waking the loop, and the next hold still sees them.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include <ev.h>

extern "C" {
#include "evq.h"
#include "pull_hold.h"
#include "util.h"
}

namespace {

struct Retry {
    int id;
    bool final;
};

struct PullHold : ::testing::Test {
    struct ev_loop *loop = nullptr;
    evq *q = nullptr;
    pull_hold *ph = nullptr;
    std::vector<Retry> retries;
    int drops = 0;
    int ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};

    static bool on_retry(void *ctx, bool final)
    {
        int *id = static_cast<int *>(ctx);
        PullHold *f = current;
        f->retries.push_back({*id, final});
        return true; // answered
    }
    static void on_drop(void *) { current->drops++; }
    static PullHold *current;

    void SetUp() override
    {
        current = this;
        loop = ev_loop_new(EVFLAG_AUTO);
        q = evq_new(loop);
        ph = pull_hold_new(loop, q, on_retry, on_drop);
    }
    void TearDown() override
    {
        pull_hold_free(ph);
        evq_free(q);
        ev_loop_destroy(loop);
        current = nullptr;
    }
    // Turns the loop until pred holds or 5 s pass.
    template <typename P> bool run_until(P pred)
    {
        int64_t deadline = mono_ms() + 5000;
        while (!pred()) {
            if (mono_ms() > deadline)
                return false;
            ev_run(loop, EVRUN_ONCE);
        }
        return true;
    }
    // Turns the loop without blocking a few times.
    void spin()
    {
        for (int i = 0; i < 5; i++)
            ev_run(loop, EVRUN_NOWAIT);
    }
};
PullHold *PullHold::current = nullptr;

TEST_F(PullHold, HeldPullIsRetriedWhenItsQueueGrowsFromAnotherThread)
{
    pull_hold_add(ph, "T", 0, 5, 10000, &ids[1]);
    pull_hold_add(ph, "T", 1, 5, 10000, &ids[2]);
    EXPECT_EQ(2u, pull_hold_count(ph));
    std::thread dispatcher([&] { pull_hold_arrived(ph, "T", 0, 6); });
    dispatcher.join();
    ASSERT_TRUE(run_until([&] { return !retries.empty(); }));
    ASSERT_EQ(1u, retries.size());
    EXPECT_EQ(1, retries[0].id);
    EXPECT_FALSE(retries[0].final);
    EXPECT_EQ(1u, pull_hold_count(ph)); // queue 1 still waits
}

TEST_F(PullHold, ArrivalNotPastTheOffsetWaitsForTheDeadline)
{
    pull_hold_add(ph, "T", 0, 10, 50, &ids[3]);
    pull_hold_arrived(ph, "T", 0, 10);
    spin();
    EXPECT_TRUE(retries.empty());
    ASSERT_TRUE(run_until([&] { return !retries.empty(); }));
    EXPECT_EQ(3, retries[0].id);
    EXPECT_TRUE(retries[0].final);
    EXPECT_EQ(0u, pull_hold_count(ph));
}

// The race the recording closes: the pull read the queue at offset 5 and
// found nothing, the dispatcher then reported offset 6 while nothing was
// held (so no wake-up was posted), and only then was the pull held.
TEST_F(PullHold, ArrivalWithNothingHeldIsSeenByTheNextHold)
{
    pull_hold_arrived(ph, "T", 0, 6);
    pull_hold_arrived(ph, "U", 0, 3);
    spin();
    EXPECT_TRUE(retries.empty());
    pull_hold_add(ph, "T", 0, 5, 10000, &ids[4]); // behind: retried at once
    pull_hold_add(ph, "U", 0, 3, 10000, &ids[5]); // up to date: keeps waiting
    ASSERT_TRUE(run_until([&] { return !retries.empty(); }));
    spin();
    ASSERT_EQ(1u, retries.size());
    EXPECT_EQ(4, retries[0].id);
    EXPECT_FALSE(retries[0].final);
    EXPECT_EQ(1u, pull_hold_count(ph));
    // And later arrivals keep waking the loop while something is held.
    std::thread dispatcher([&] { pull_hold_arrived(ph, "U", 0, 4); });
    dispatcher.join();
    ASSERT_TRUE(run_until([&] { return retries.size() == 2; }));
    EXPECT_EQ(5, retries[1].id);
    EXPECT_EQ(0, drops);
}

} // namespace
