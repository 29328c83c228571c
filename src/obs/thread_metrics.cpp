// SPDX-License-Identifier: Apache-2.0
#include "obs/thread_metrics.h"

namespace laminar::obs {

std::string_view name(CommandClass c) {
    static constexpr std::array<std::string_view, kCommandClasses> kNames = {"read", "write", "other"};
    return kNames[static_cast<size_t>(c)];
}

std::string_view name(ErrorKind k) {
    static constexpr std::array<std::string_view, kErrorKinds> kNames = {
        "protocol", "auth", "command", "refused", "backend_unavailable", "backend_timeout", "backend_error"};
    return kNames[static_cast<size_t>(k)];
}

void ThreadMetrics::bindRoutes(const std::vector<std::pair<std::string, std::string>>& routes) {
    std::vector<RouteCounters*> bound;
    std::lock_guard lock(mu_);
    for (const auto& key : routes) {
        auto& c = by_route_[key];
        if (!c) c = std::make_unique<RouteCounters>();
        bound.push_back(c.get());
    }
    routes_.swap(bound);
}

BackendCounters& ThreadMetrics::backend(const std::string& name) {
    std::lock_guard lock(mu_);
    auto& c = by_backend_[name];
    if (!c) c = std::make_unique<BackendCounters>();
    return *c;
}

uint64_t ThreadMetrics::allErrors(ErrorKind kind) const {
    auto k = static_cast<size_t>(kind);
    uint64_t n = unrouted_errors_[k].value();
    std::lock_guard lock(mu_);
    for (const auto& [key, counters] : by_route_) n += counters->errors[k].value();
    return n;
}

const RouteCounters* ThreadMetrics::findRoute(const std::string& route, const std::string& strategy) const {
    std::lock_guard lock(mu_);
    auto it = by_route_.find({route, strategy});
    return it == by_route_.end() ? nullptr : it->second.get();
}

const BackendCounters* ThreadMetrics::findBackend(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = by_backend_.find(name);
    return it == by_backend_.end() ? nullptr : it->second.get();
}

}  // namespace laminar::obs
