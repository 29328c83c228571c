// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include <spdlog/logger.h>

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
// that count to zero, or back from it, has the cell count the transition and log it, so each
// transition is logged once, not once per thread and retry, and a backend that flaps is summed up
// once per log.flap_interval (FlapDamper).
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
    void flushHealthLog() final { cell_->logDue(*log_); }

protected:
    // `counters`: this thread's for this backend name; they must outlive the backend. `log`: where
    // its up/down lines go.
    ObservedBackend(const config::BackendConfig& cfg, obs::BackendCounters& counters, HealthBoard& health, std::shared_ptr<spdlog::logger> log)
        : Backend(cfg), counters_(counters), cell_(health.cell(cfg.name)), log_(std::move(log)) {
        cell_->known_threads.fetch_add(1);
        cell_->up_threads.fetch_add(1);  // optimistic until a connection fails
    }
    ~ObservedBackend() override {
        if (counted_up_) cell_->up_threads.fetch_sub(1);
        cell_->known_threads.fetch_sub(1);
    }

    // This thread now sees the backend up (or not). When that takes the backend up (or down) for
    // every thread, the cell counts the transition and logs `<subject> is up` (`is down: <why>`),
    // damped (FlapDamper). `subject` makes the name for the line, only when this thread's view changes.
    template <class Subject>
    void countUp(bool up, const Subject& subject, std::string_view why) {
        if (up == counted_up_) return;
        counted_up_ = up;
        cell_->countThread(up, subject(), why, *log_);
    }

    obs::BackendCounters& counters_;

private:
    std::shared_ptr<HealthCell> cell_;
    std::shared_ptr<spdlog::logger> log_;
    LatencyRing latency_;
    bool counted_up_ = true;
};

}  // namespace laminar::backend
