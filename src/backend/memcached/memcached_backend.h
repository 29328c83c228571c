// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>

#include <memory>

#include "obs/thread_metrics.h"
#include "backend/backend.h"
#include "backend/health_board.h"

namespace laminar::backend::memcached {

class Pool;
struct Inbox;

// A memcached backend as one I/O thread sees it. libmemcached blocks, so the I/O thread never
// calls it: commands go to the backend's pool of threads (`pool` threads, each with its own
// libmemcached connections), which translate them (Translator) and post the replies back here.
//
//   I/O thread: send() --(lane = client id % pool)--> pool thread: libmemcached ... --post--> sink
//
// One client's commands always take the same lane, so they run in the order sent.
class MemcachedBackend final : public Backend {
public:
    // `counters`: this thread's for this backend name (reply latency); they must outlive the backend.
    MemcachedBackend(boost::asio::io_context& ioc, const config::BackendConfig& cfg, obs::BackendCounters& counters, HealthBoard& health);
    ~MemcachedBackend() override;

    void send(uint64_t client_id, std::string_view raw, ReplySink* sink) override;
    bool anyUp() const override { return !cell_->down(); }
    // With several servers, one key per server.
    std::vector<CanaryKey> canaryKeys(const std::string& base) const override;
    bool idle() const override;
    void publishLatency(size_t thread_index) override;
    void flushHealthLog() override;

private:
    std::shared_ptr<Pool> pool_;  // shared by every I/O thread
    std::shared_ptr<Inbox> inbox_;
    std::shared_ptr<HealthCell> cell_;
};

}  // namespace laminar::backend::memcached
