// SPDX-License-Identifier: Apache-2.0
#include "policy/snapshot.h"

#include <algorithm>
#include <cctype>

#include "resp/glob.h"
#include "policy/migration.h"

namespace laminar::policy {

bool Route::matches(const resp::CommandInfo& cmd, std::string_view key, bool keyless) const {
    if (catch_all) return true;
    if (!key_globs.empty()) {
        if (keyless) return false;
        bool any = std::any_of(key_globs.begin(), key_globs.end(), [&](const std::string& g) { return resp::globMatch(g, key); });
        if (!any) return false;
    }
    if (match_read || match_write || !command_names.empty()) {
        bool by_class = (match_read && !cmd.has(resp::kWrite)) || (match_write && cmd.has(resp::kWrite));
        if (!by_class) {
            std::string_view name = cmd.name;
            std::string_view top = name.substr(0, name.find('|'));
            bool by_name = std::any_of(command_names.begin(), command_names.end(),
                                       [&](const std::string& n) { return n == name || n == top; });
            if (!by_name) return false;
        }
    }
    return true;
}

namespace {
std::vector<std::string> pairNames(const Strategy& s, const config::Config& cfg) {
    std::vector<std::pair<int, int>> pairs;
    s.syncPairs(pairs);
    std::vector<std::string> out;
    for (auto [a, b] : pairs) out.push_back(cfg.backends[static_cast<size_t>(a)].name + ">" + cfg.backends[static_cast<size_t>(b)].name);
    return out;
}
}  // namespace

Snapshot::Snapshot(config::Config cfg, uint64_t generation, const Snapshot* previous, std::shared_ptr<Registry> registry)
    : cfg_(std::move(cfg)),
      registry_(registry ? std::move(registry) : std::make_shared<Registry>()),
      generation_(generation),
      loaded_at_(std::chrono::system_clock::now()) {
    for (const auto& b : cfg_.backends) health_.push_back(registry_->health.cell(b.name));
    routes_.reserve(cfg_.routes.size());
    for (const auto& rc : cfg_.routes) {
        Route& r = routes_.emplace_back();
        r.name = rc.name;
        r.catch_all = !rc.match;
        r.force = rc.force;
        if (rc.match) {
            r.key_globs = rc.match->keys;
            for (auto c : rc.match->commands) {
                std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return std::tolower(ch); });
                if (c == "read") r.match_read = true;
                else if (c == "write") r.match_write = true;
                else r.command_names.push_back(c);
            }
        }
        Builder b(cfg_, rc.name);
        r.strategy = rc.strategy.migration ? buildMigration(rc.strategy.node, rc.strategy.yaml_path, b)
                                           : b.build(rc.strategy.node, rc.strategy.yaml_path);
        r.backends = b.reached();
        r.stats = registry_->stats.route(rc.name);
    }
    if (!previous) return;
    // Directions the previous configuration copied keys in and this one does not: wait for them.
    for (auto& r : routes_) {
        auto now = pairNames(*r.strategy, cfg_);
        for (const auto& old : previous->routes_) {
            if (old.name != r.name) continue;
            for (const auto& p : pairNames(*old.strategy, previous->cfg_))
                if (std::find(now.begin(), now.end(), p) == now.end()) r.barrier.push_back(p);
        }
        r.barrier_open = r.barrier.empty();
    }
}

const Route* Snapshot::routeForKey(const resp::CommandInfo& cmd, std::string_view key) const {
    for (const auto& r : routes_)
        if (r.matches(cmd, key, false)) return &r;
    return &routes_.back();
}

const Route* Snapshot::route(const resp::CommandInfo& cmd, std::span<const std::string_view> argv,
                             std::span<const int> key_indices, std::string& error) const {
    if (routes_.size() == 1) return &routes_.front();
    if (key_indices.empty()) {
        for (const auto& r : routes_)
            if (r.matches(cmd, {}, true)) return &r;
        return &routes_.back();
    }
    const Route* first = routeForKey(cmd, argv[static_cast<size_t>(key_indices[0])]);
    for (size_t i = 1; i < key_indices.size(); ++i) {
        const Route* r = routeForKey(cmd, argv[static_cast<size_t>(key_indices[i])]);
        if (r != first) {
            error = "ERR laminar: '" + std::string(cmd.name) + "' has keys in routes '" + first->name + "' and '" + r->name +
                    "'; send them separately";
            return nullptr;
        }
    }
    return first;
}

Health::State Snapshot::state(int backend) const {
    const auto& cell = *health_[static_cast<size_t>(backend)];
    if (cell.down()) return State::kDown;
    if (cell.degraded()) return State::kDegraded;
    return State::kUp;
}

double Snapshot::p99Millis(int backend) const { return health_[static_cast<size_t>(backend)]->p99Micros() / 1000.0; }

std::shared_ptr<const Snapshot> loadSnapshot(const std::string& path, uint64_t generation, const Snapshot* previous,
                                             std::shared_ptr<Registry> registry) {
    return std::make_shared<const Snapshot>(config::loadFile(path), generation, previous, std::move(registry));
}

}  // namespace laminar::policy
