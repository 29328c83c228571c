// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backend/flap_damper.h"

namespace spdlog {
class logger;
}

namespace laminar::backend {

// What laminar currently knows about one backend, shared by every I/O thread and every snapshot
// (keyed by backend name, so a reload keeps it). Written by the threads' connections, read by
// `condition` routes, INFO and the health endpoints.
struct HealthCell {
    static constexpr size_t kMaxThreads = 64;
    std::atomic<int> up_threads{0};         // I/O threads with a working shared connection to it
    std::atomic<int> known_threads{0};      // I/O threads that have tried to connect
    std::atomic<int64_t> last_failure_ms{0};  // steady-clock ms of the last failed command or connection
    std::array<std::atomic<uint32_t>, kMaxThreads> p99_us{};  // per thread, recent replies
    std::atomic<bool> canary_failing{false};  // its canary (canary.h) could not be written and read back
    // Transitions of the backend as a whole (up_threads to 0 and back), every one, logged or not.
    std::atomic<uint64_t> went_down{0}, went_up{0};

    bool down() const { return (known_threads.load() > 0 && up_threads.load() == 0) || canary_failing.load(); }
    // Up, but a command or connection failed in the last `window`.
    bool degraded(std::chrono::milliseconds window = std::chrono::seconds(5)) const;
    uint32_t p99Micros() const;
    void noteFailure();

    // One I/O thread (or memcached lane) that saw the backend up now does not (`up` false), or the
    // other way round: moves up_threads. When that takes the backend as a whole down, or back up,
    // the transition is counted, and the line the flap damper lets through now, if any, is written
    // to `log`: `<subject> is down: <why>`, `<subject> is up`, or a summary (FlapDamper). Serialised,
    // so the lines follow the transitions in order. `subject`: "backend 'old' at 127.0.0.1:6379".
    void countThread(bool up, std::string_view subject, std::string_view why, spdlog::logger& log);
    // Writes the summary of the transitions the damper held back once it is due. Every I/O thread
    // calls it every 250 ms.
    void logDue(spdlog::logger& log);

private:
    std::mutex log_mu_;
    FlapDamper damper_;
};

// Every backend's HealthCell by name, made on first use. One per daemon, in its policy::Registry.
class HealthBoard {
public:
    std::shared_ptr<HealthCell> cell(const std::string& backend);

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<HealthCell>> cells_;
};

// The p99 of a thread's recent reply latencies for one backend: a ring of the last 512 samples.
class LatencyRing {
public:
    void add(uint32_t micros) {
        samples_[next_++ % samples_.size()] = micros;
        if (count_ < samples_.size()) ++count_;
    }
    uint32_t p99() const;
    size_t count() const { return count_; }

private:
    std::array<uint32_t, 512> samples_{};
    size_t next_ = 0;
    size_t count_ = 0;
};

}  // namespace laminar::backend
