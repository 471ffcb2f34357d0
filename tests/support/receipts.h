// receipts.h - what a test consumer received: how many times each body
// arrived, for "nothing lost" (has_all) and "how many duplicates" checks.
// Thread-safe: consumer callbacks add from the client's threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

struct Receipts {
    std::mutex m;
    std::map<std::string, int> count;
    std::atomic<uint64_t> total{0};
    void add(const std::string &body) {
        std::lock_guard<std::mutex> g(m);
        count[body]++;
        total++;
    }
    size_t unique() {
        std::lock_guard<std::mutex> g(m);
        return count.size();
    }
    uint64_t duplicates() { return total.load() - unique(); }
    bool has_all(const std::vector<std::string> &bodies) {
        std::lock_guard<std::mutex> g(m);
        for (auto &b : bodies)
            if (!count.count(b))
                return false;
        return true;
    }
};
