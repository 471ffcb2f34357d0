// loop_thread.h - test helper: a libev loop running on its own thread, with
// a way to run code on it and wait for the result. Servers under test live
// on such a thread while the test body plays the client.
#pragma once

#include <ev.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

extern "C" {
#include "evq.h"
}

class LoopThread {
  public:
    LoopThread() : loop_(ev_loop_new(EVFLAG_AUTO)) {
        q_ = evq_new(loop_);
        ev_async_init(&stop_, [](struct ev_loop *l, ev_async *, int) { ev_break(l, EVBREAK_ALL); });
        ev_async_start(loop_, &stop_);
        thread_ = std::thread([this] { ev_run(loop_, 0); });
    }
    ~LoopThread() {
        ev_async_send(loop_, &stop_);
        thread_.join();
        evq_free(q_);
        ev_loop_destroy(loop_);
    }
    struct ev_loop *loop() { return loop_; }

    // Runs fn on the loop thread and waits until it has run.
    void run(std::function<void()> fn) {
        struct Job {
            std::function<void()> fn;
            std::mutex m;
            std::condition_variable cv;
            bool done = false;
        } job;
        job.fn = std::move(fn);
        evq_post_fn(
            q_,
            [](void *arg) {
                Job *j = static_cast<Job *>(arg);
                j->fn();
                std::lock_guard<std::mutex> g(j->m);
                j->done = true;
                j->cv.notify_all();
            },
            &job);
        std::unique_lock<std::mutex> g(job.m);
        job.cv.wait(g, [&] { return job.done; });
    }

  private:
    struct ev_loop *loop_;
    evq *q_;
    ev_async stop_;
    std::thread thread_;
};
