// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/health_board.h"
#include "config/config.h"
#include "policy/health_view.h"
#include "policy/registry.h"
#include "policy/route_stats.h"
#include "policy/strategy.h"
#include "resp/command_table.h"

namespace laminar::policy {

struct Route {
    std::string name;
    bool catch_all = false;
    std::vector<std::string> key_globs;  // empty: any key
    bool match_read = false;
    bool match_write = false;
    std::vector<std::string> command_names;  // lowercase
    bool force = false;  // `force: true`: a reload may take it past the phase guardrails
    std::unique_ptr<Strategy> strategy;
    std::vector<int> backends;  // every backend the strategy can send to, ascending
    std::shared_ptr<RouteStats> stats;
    // The flip barrier: copy directions ("old>new") of the previous configuration that this one
    // reversed or dropped. Commands on the route wait until the sync engine has drained them.
    std::vector<std::string> barrier;
    mutable bool barrier_open = true;  // accessed through std::atomic_ref: set once drained

    // Whether this route takes a command of this kind on this key (keyless: a keyless command).
    bool matches(const resp::CommandInfo& cmd, std::string_view key, bool keyless) const;
    // Multi-key commands go to a proxy route whole; other strategies get them one key at a time.
    bool isProxy() const { return strategy->type() == "proxy"; }
};

// The immutable compiled configuration commands are routed with. A reload builds a new one aside
// and swaps a pointer; commands in flight finish on the one they started with (their sinks hold a
// reference). It is also the strategies' view of backend health.
class Snapshot final : public Health {
public:
    // Builds every route's strategy; throws config::ConfigError naming file, line and path.
    // `previous`: the configuration being replaced, for the flip barrier. `registry`: where backend
    // health and route counters live across reloads (the previous snapshot's, for a reload); a
    // new one when null.
    Snapshot(config::Config cfg, uint64_t generation, const Snapshot* previous = nullptr, std::shared_ptr<Registry> registry = nullptr);

    const config::Config& config() const { return cfg_; }
    uint64_t generation() const { return generation_; }
    std::chrono::system_clock::time_point loadedAt() const { return loaded_at_; }
    const std::vector<Route>& routes() const { return routes_; }
    const Route& catchAll() const { return routes_.back(); }
    Registry& registry() const { return *registry_; }
    const std::shared_ptr<Registry>& sharedRegistry() const { return registry_; }

    // The first route that matches every key (keyless commands: the first route whose match has
    // no keys and takes the command, else the catch-all). nullptr when the keys fall into
    // different routes; `error` then names them.
    const Route* route(const resp::CommandInfo& cmd, std::span<const std::string_view> argv,
                       std::span<const int> key_indices, std::string& error) const;
    const Route* routeForKey(const resp::CommandInfo& cmd, std::string_view key) const;

    // Health
    State state(int backend) const override;
    double p99Millis(int backend) const override;

private:
    config::Config cfg_;
    std::shared_ptr<Registry> registry_;
    uint64_t generation_;
    std::chrono::system_clock::time_point loaded_at_;
    std::vector<Route> routes_;
    std::vector<std::shared_ptr<backend::HealthCell>> health_;
};

// Loads a file and compiles it: what start-up, --check-config and reload all do.
std::shared_ptr<const Snapshot> loadSnapshot(const std::string& path, uint64_t generation, const Snapshot* previous = nullptr,
                                             std::shared_ptr<Registry> registry = nullptr);

}  // namespace laminar::policy
