// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>

#include "obs/thread_metrics.h"
#include "backend/backend.h"
#include "backend/health_board.h"
#include "backend/redis_connection.h"
#include "config/config.h"

namespace laminar::backend {

// What a backend made of RedisConnections (a single Redis, a Redis Cluster) reports, from its I/O
// thread, about the connections it observes: reply latencies (this thread's p99 in the shared
// health cell, and the latency histogram), failed commands, and whether this thread counts the
// backend up. The health cell counts the threads that see the backend up; the thread that takes
// that count to zero, or back from it, hears so from countUp() and logs the change, so each
// transition is logged once, not once per thread and retry.
class ObservedBackend : public Backend, public DedicatedPool, public RedisConnection::Observer {
public:
    void publishLatency(size_t thread_index) final {
        if (thread_index < HealthCell::kMaxThreads) cell_->p99_us[thread_index].store(latency_.p99(), std::memory_order_relaxed);
    }

    // RedisConnection::Observer (connectionChanged is the backend's own)
    void replyLatency(uint32_t micros) final {
        latency_.add(micros);
        counters_.latency.observe(micros);
    }
    void commandFailed() final { cell_->noteFailure(); }

protected:
    // `counters`: this thread's for this backend name; they must outlive the backend.
    ObservedBackend(const config::BackendConfig& cfg, obs::BackendCounters& counters, HealthBoard& health)
        : Backend(cfg), counters_(counters), cell_(health.cell(cfg.name)) {
        cell_->known_threads.fetch_add(1);
        cell_->up_threads.fetch_add(1);  // optimistic until a connection fails
    }
    ~ObservedBackend() override {
        if (counted_up_) cell_->up_threads.fetch_sub(1);
        cell_->known_threads.fetch_sub(1);
    }

    enum class Transition { kNone, kUp, kDown };
    // This thread now sees the backend up (or not): kUp when that takes the backend up for every
    // thread, kDown when it takes it down, else kNone.
    Transition countUp(bool up) {
        if (up == counted_up_) return Transition::kNone;
        counted_up_ = up;
        int before = cell_->up_threads.fetch_add(up ? 1 : -1);
        if (up && before == 0) return Transition::kUp;
        if (!up && before == 1) return Transition::kDown;
        return Transition::kNone;
    }

    obs::BackendCounters& counters_;

private:
    std::shared_ptr<HealthCell> cell_;
    LatencyRing latency_;
    bool counted_up_ = true;
};

}  // namespace laminar::backend
