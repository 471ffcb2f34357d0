// wait.h - wait for a condition with a deadline instead of sleeping.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

// Polls cond every 2 ms until it holds or timeout_ms passes; returns cond().
inline bool wait_for(std::function<bool()> cond, int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return cond();
}
