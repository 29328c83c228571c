// SPDX-License-Identifier: Apache-2.0
#include "policy/route_stats.h"

namespace laminar::policy {

std::span<const RouteStats::Field> RouteStats::fields() {
    static const Field kFields[] = {
        {"secondary_failures", &RouteStats::secondary_failures, "Writes to a secondary side that failed (dual_write, dual_lookup writes: both)."},
        {"fallbacks", &RouteStats::fallbacks, "dual_lookup reads answered by the second side after a miss on the first."},
        {"warm_copies", &RouteStats::warm_copies, "Keys dual_lookup (warm: true) copied into the first side."},
        {"warm_failures", &RouteStats::warm_failures, "dual_lookup warm copies that failed."},
        {"syncs", &RouteStats::syncs, "Keys the sync engine copied from primary to secondary."},
        {"sync_failures", &RouteStats::sync_failures, "Keys the other side refused to take 5 times (kept in the backlog and retried with backoff up to 30 s)."},
        {"shadow_compared", &RouteStats::shadow_compared, "Replies shadow compared between primary and shadow."},
        {"shadow_mismatches", &RouteStats::shadow_mismatches, "Compared shadow replies that differed from the primary's."},
        {"shadow_failures", &RouteStats::shadow_failures, "Shadow commands the shadow side did not answer."},
        {"queued", &RouteStats::queued, "queued_write: writes journaled in the durable queue."},
        {"queue_rejects", &RouteStats::queue_rejects, "queued_write: writes refused because the queue was full."},
    };
    return kFields;
}

std::vector<std::pair<std::string, uint64_t>> RouteStats::values() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const auto& f : fields()) out.emplace_back(f.name, (this->*f.counter).load(std::memory_order_relaxed));
    return out;
}

std::shared_ptr<RouteStats> StatsBoard::route(const std::string& name) {
    std::lock_guard lock(mu_);
    auto& r = routes_[name];
    if (!r) r = std::make_shared<RouteStats>();
    return r;
}

}  // namespace laminar::policy
