// hashmap_test.cc - u64map and strmap against std::unordered_map under a
// long random sequence of puts, gets and removes (deletion by backward
// shift is where open addressing usually breaks).

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>

extern "C" {
#include "arena.h"
#include "hashmap.h"
}

TEST(HashmapTest, U64MapMatchesReference) {
    u64map m;
    u64map_init(&m);
    std::unordered_map<uint64_t, uintptr_t> ref;
    std::mt19937_64 rng(1);
    for (int i = 0; i < 200000; i++) {
        uint64_t k = rng() % 5000; // many collisions of probe runs
        uintptr_t v = (uintptr_t)rng() | 1;
        switch (rng() % 3) {
        case 0:
            u64map_put(&m, k, (void *)v);
            ref[k] = v;
            break;
        case 1: {
            void *got = u64map_remove(&m, k);
            auto it = ref.find(k);
            ASSERT_EQ(it == ref.end() ? 0 : it->second, (uintptr_t)got);
            if (it != ref.end())
                ref.erase(it);
            break;
        }
        default: {
            auto it = ref.find(k);
            ASSERT_EQ(it == ref.end() ? 0 : it->second, (uintptr_t)u64map_get(&m, k));
        }
        }
        ASSERT_EQ(ref.size(), m.count);
    }
    size_t seen = 0;
    uint64_t k;
    void *v;
    for (size_t it = 0; u64map_next(&m, &it, &k, &v);) {
        ASSERT_EQ(ref.at(k), (uintptr_t)v);
        seen++;
    }
    EXPECT_EQ(ref.size(), seen);
    u64map_free(&m);
}

TEST(HashmapTest, StrMapMatchesReference) {
    strmap m;
    strmap_init(&m);
    std::unordered_map<std::string, uintptr_t> ref;
    std::mt19937 rng(2);
    for (int i = 0; i < 100000; i++) {
        std::string k = "topic-" + std::to_string(rng() % 3000);
        uintptr_t v = (uintptr_t)rng() | 1;
        switch (rng() % 3) {
        case 0:
            strmap_put(&m, k.c_str(), (void *)v);
            ref[k] = v;
            break;
        case 1: {
            void *got = strmap_remove(&m, k.c_str());
            auto it = ref.find(k);
            ASSERT_EQ(it == ref.end() ? 0 : it->second, (uintptr_t)got);
            if (it != ref.end())
                ref.erase(it);
            break;
        }
        default: {
            auto it = ref.find(k);
            ASSERT_EQ(it == ref.end() ? 0 : it->second, (uintptr_t)strmap_get(&m, k.c_str()));
            std::string padded = k + "#tail";
            ASSERT_EQ(it == ref.end() ? 0 : it->second, (uintptr_t)strmap_getn(&m, padded.c_str(), k.size()));
        }
        }
        ASSERT_EQ(ref.size(), m.count);
    }
    strmap_free(&m);
}

TEST(ArenaTest, AllocationsAreAlignedAndSurviveUntilReset) {
    arena a;
    arena_init(&a, 256);
    std::vector<char *> ptrs;
    for (int i = 0; i < 1000; i++) {
        size_t n = 1 + i % 300; // some larger than a chunk
        char *p = (char *)arena_alloc(&a, n);
        ASSERT_EQ(0u, (uintptr_t)p % 16);
        memset(p, i & 0xff, n);
        ptrs.push_back(p);
    }
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ((char)(i & 0xff), ptrs[i][0]);
    arena_reset(&a);
    EXPECT_STREQ("abc", arena_strndup(&a, "abcdef", 3));
    arena_free(&a);
}
