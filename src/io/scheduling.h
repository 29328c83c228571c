// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>

#include "config/config.h"

namespace laminar::io {

// How an I/O thread asks the kernel to schedule it (config `io_scheduling`).
//
// Why it matters: a client that shares a core with laminar wakes the I/O thread with each
// request it sends. Under the normal policy the woken thread preempts that client at once, takes
// the one request there is, forwards it alone and sleeps again, while the client goes on to send
// the rest of its batch, one wake-up each. Under SCHED_BATCH a woken thread does not preempt: the
// client sends its whole batch and blocks, and laminar takes every request in one round, with one
// write to the backend. Measured at -P 1 with 50 clients on laminar's core (docs/performance.md):
// 0.04 sleeps per request instead of 0.10, and a quarter less CPU per request.
//
// The price: a thread that does not preempt also waits behind CPU-bound work on its core until
// that work's time slice ends (measured beside a busy loop: p95 8 ms instead of 0.15 ms).
//   normal    the kernel's default (SCHED_OTHER);
//   batch     SCHED_BATCH always;
//   adaptive  (default) SCHED_BATCH while the thread's own wait for the CPU stays short
//             (/proc/thread-self/schedstat: mean run-queue delay per time slice at most
//             kMaxMeanDelay); above that, back to SCHED_OTHER, and SCHED_BATCH is tried again
//             after a back-off that doubles on every failed try.
// A thread started under a real-time or idle policy (chrt -r, -f, -i) is left as it is.
enum class SchedPolicy : uint8_t { kNormal, kBatch };

// The adaptive rule, on cumulative counters: pure logic, unit-tested with a manual clock.
class SchedGovernor {
public:
    using Clock = std::chrono::steady_clock;
    struct Sample {
        uint64_t delay_ns = 0;  // time spent runnable but waiting for a CPU, since the thread began
        uint64_t slices = 0;    // times the thread was given a CPU, since the thread began
    };

    static constexpr std::chrono::microseconds kMaxMeanDelay{200};
    // Only a busy thread is judged: kMinSlices slices within kMaxWindow. A quiet one (a few
    // wake-ups a second, e.g. its own timers while other work fills its core) starts its window
    // over, so the CPU it waits for when nobody asks anything of it does not count against it.
    static constexpr uint64_t kMinSlices = 32;
    static constexpr std::chrono::seconds kMaxWindow{2};
    static constexpr std::chrono::seconds kFirstBackoff{10};
    static constexpr std::chrono::seconds kMaxBackoff{300};
    // SCHED_BATCH held this long without a fallback: the next fallback starts the back-off anew.
    static constexpr std::chrono::seconds kForgiveAfter{300};

    // Feeds the counters read now; returns the policy the thread should have from now on. The
    // first call starts in SCHED_BATCH.
    SchedPolicy step(Clock::time_point now, Sample s);
    SchedPolicy policy() const { return policy_; }
    uint64_t fallbacks() const { return fallbacks_; }
    // How long the last fallback keeps the normal policy.
    std::chrono::seconds hold() const { return hold_; }

private:
    void openWindow(Clock::time_point now, Sample s) {
        window_at_ = now;
        window_ = s;
    }

    bool started_ = false;
    SchedPolicy policy_ = SchedPolicy::kNormal;
    Clock::time_point window_at_;
    Sample window_;
    Clock::time_point batch_since_;
    Clock::time_point retry_at_;
    std::chrono::seconds backoff_ = kFirstBackoff;
    std::chrono::seconds hold_{0};
    uint64_t fallbacks_ = 0;
};

// One I/O thread's policy: made, used and destroyed on that thread.
class ThreadScheduling {
public:
    ThreadScheduling() = default;
    ~ThreadScheduling();
    ThreadScheduling(const ThreadScheduling&) = delete;
    ThreadScheduling& operator=(const ThreadScheduling&) = delete;

    // At the thread's start and on every sweep: applies `mode` (the running configuration's).
    void update(config::IoScheduling mode, SchedGovernor::Clock::time_point now);
    bool batch() const { return current_ == SchedPolicy::kBatch; }
    uint64_t fallbacks() const { return fallbacks_; }  // since the thread began, across reloads

private:
    bool set(SchedPolicy p);
    bool readSample(SchedGovernor::Sample& s);

    SchedGovernor governor_;
    SchedPolicy current_ = SchedPolicy::kNormal;
    config::IoScheduling mode_ = config::IoScheduling::kNormal;
    uint64_t fallbacks_ = 0;
    int schedstat_fd_ = -1;
    bool started_ = false;
    bool no_policy_ = false;     // the kernel refused a policy change: the thread stays as it is
    bool no_schedstat_ = false;  // adaptive cannot measure: the thread stays normal
};

}  // namespace laminar::io
