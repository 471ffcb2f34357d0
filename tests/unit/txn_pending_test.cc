// txn_pending_test.cc - the pending-transaction index (broker/transaction/
// pending.c): the heap always yields the earliest due entry, lookups and
// removals by half offset stay right under random add / reschedule /
// remove, and slots are reused (no growth when pending stays flat).

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

extern "C" {
#include "transaction/txn_internal.h"
}

namespace {

TEST(TxnPending, EarliestDueComesFirstUnderRandomChanges) {
    txn_pending p;
    txn_pending_init(&p);
    std::mt19937 rng(7);
    std::unordered_map<int64_t, int64_t> model; // half offset -> next check
    std::vector<int64_t> keys;                  // the same offsets, for random picks
    int64_t next_offset = 0;
    for (int step = 0; step < 50000; step++) {
        int op = rng() % 10;
        if (op < 5 || keys.empty()) {
            txn_entry e{};
            e.half_offset = next_offset++;
            e.next_check_ms = rng() % 100000;
            txn_pending_add(&p, &e);
            model[e.half_offset] = e.next_check_ms;
            keys.push_back(e.half_offset);
        } else if (op < 8) {
            size_t i = rng() % keys.size();
            int64_t k = keys[i];
            keys[i] = keys.back();
            keys.pop_back();
            txn_entry out{};
            ASSERT_TRUE(txn_pending_remove(&p, k, &out));
            EXPECT_EQ(model[k], out.next_check_ms);
            model.erase(k);
        } else {
            int64_t k = keys[rng() % keys.size()];
            txn_entry *e = txn_pending_get(&p, k);
            ASSERT_NE(nullptr, e);
            e->next_check_ms = model[k] = rng() % 100000;
            txn_pending_reschedule(&p, e);
        }
        ASSERT_EQ(model.size(), txn_pending_count(&p));
        if (step % 97 == 0 && !model.empty()) {
            int64_t min = INT64_MAX;
            for (auto &kv : model)
                min = std::min(min, kv.second);
            ASSERT_EQ(min, txn_pending_top(&p)->next_check_ms);
        }
    }
    // Drain in order.
    int64_t last = -1;
    while (txn_entry *e = txn_pending_top(&p)) {
        EXPECT_GE(e->next_check_ms, last);
        last = e->next_check_ms;
        EXPECT_EQ(model[e->half_offset], e->next_check_ms);
        model.erase(e->half_offset);
        ASSERT_TRUE(txn_pending_remove(&p, e->half_offset, nullptr));
    }
    EXPECT_TRUE(model.empty());
    EXPECT_FALSE(txn_pending_remove(&p, 3, nullptr));
    txn_pending_free(&p);
}

TEST(TxnPending, SlotsAreReusedWhenPendingStaysFlat) {
    txn_pending p;
    txn_pending_init(&p);
    for (int64_t i = 0; i < 5000; i++) {
        txn_entry e{};
        e.half_offset = i;
        e.next_check_ms = i;
        txn_pending_add(&p, &e);
    }
    size_t bytes = txn_pending_bytes(&p);
    for (int64_t i = 5000; i < 500000; i++) { // one decided, one new: 5000 pending throughout
        ASSERT_TRUE(txn_pending_remove(&p, i - 5000, nullptr));
        txn_entry e{};
        e.half_offset = i;
        e.next_check_ms = i;
        txn_pending_add(&p, &e);
    }
    EXPECT_EQ(5000u, txn_pending_count(&p));
    EXPECT_LE(txn_pending_bytes(&p), bytes * 2); // the map may rehash once; the arrays do not grow
    EXPECT_EQ(495000, txn_pending_top(&p)->half_offset);
    // Adding an offset twice keeps the first entry.
    txn_entry dup{};
    dup.half_offset = 495000;
    dup.next_check_ms = -5;
    EXPECT_EQ(495000, txn_pending_add(&p, &dup)->next_check_ms);
    txn_pending_free(&p);
}

} // namespace
