// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace laminar::policy {

// Counters of one route, shared by every I/O thread and kept across reloads (by route name), for
// INFO, LAMINAR STATUS and metrics. A strategy that cannot tell the client about a failure (a
// secondary write, a warm copy, a shadow read) counts it here and logs it.
struct RouteStats {
    std::atomic<uint64_t> secondary_failures{0};  // dual_write / queued copies that failed
    std::atomic<uint64_t> fallbacks{0};           // dual_lookup reads answered by the second side
    std::atomic<uint64_t> warm_copies{0};         // keys copied into `first` by dual_lookup warm
    std::atomic<uint64_t> warm_failures{0};
    std::atomic<uint64_t> syncs{0};               // keys copied primary -> secondary by the sync engine
    std::atomic<uint64_t> sync_failures{0};
    std::atomic<uint64_t> shadow_compared{0};
    std::atomic<uint64_t> shadow_mismatches{0};
    std::atomic<uint64_t> shadow_failures{0};     // the shadow side did not answer
    std::atomic<uint64_t> queued{0};              // queued_write: writes journaled for the queue
    std::atomic<uint64_t> queue_rejects{0};       // queued_write: writes refused, the queue full

    static void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

    // Every counter above, named as LAMINAR STATUS and /metrics (laminar_route_<name>_total) show it.
    struct Field {
        const char* name;
        std::atomic<uint64_t> RouteStats::*counter;
        const char* help;
    };
    static std::span<const Field> fields();
    // name:value pairs for LAMINAR STATUS.
    std::vector<std::pair<std::string, uint64_t>> values() const;
};

// Every route's RouteStats by name, made on first use. One per daemon, in its policy::Registry.
class StatsBoard {
public:
    std::shared_ptr<RouteStats> route(const std::string& name);

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<RouteStats>> routes_;
};

}  // namespace laminar::policy
