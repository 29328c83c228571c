// SPDX-License-Identifier: Apache-2.0
#include "policy/route_stats.h"

namespace laminar::policy {

std::vector<std::pair<std::string, uint64_t>> RouteStats::values() const {
    auto v = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    return {{"secondary_failures", v(secondary_failures)}, {"fallbacks", v(fallbacks)},
            {"warm_copies", v(warm_copies)},               {"warm_failures", v(warm_failures)},
            {"syncs", v(syncs)},                           {"sync_failures", v(sync_failures)},
            {"shadow_compared", v(shadow_compared)},       {"shadow_mismatches", v(shadow_mismatches)},
            {"shadow_failures", v(shadow_failures)}};
}

StatsBoard& StatsBoard::instance() {
    static StatsBoard board;
    return board;
}

std::shared_ptr<RouteStats> StatsBoard::route(const std::string& name) {
    std::lock_guard lock(mu_);
    auto& r = routes_[name];
    if (!r) r = std::make_shared<RouteStats>();
    return r;
}

}  // namespace laminar::policy
