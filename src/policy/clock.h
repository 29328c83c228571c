// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>

namespace laminar::policy {

// Wall-clock time for strategies that decide by date (timed_rollover). Injected, so tests can
// set the time.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::chrono::system_clock::time_point now() const = 0;
};

class SystemClock final : public Clock {
public:
    std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
    static const SystemClock& instance() {
        static const SystemClock clock;
        return clock;
    }
};

class ManualClock final : public Clock {
public:
    explicit ManualClock(std::chrono::system_clock::time_point t = {}) : t_(t.time_since_epoch().count()) {}
    std::chrono::system_clock::time_point now() const override {
        return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(t_.load()));
    }
    void set(std::chrono::system_clock::time_point t) { t_ = t.time_since_epoch().count(); }
    void advance(std::chrono::system_clock::duration d) { t_ += d.count(); }

private:
    std::atomic<std::chrono::system_clock::rep> t_;
};

}  // namespace laminar::policy
