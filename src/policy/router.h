// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
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
    std::unique_ptr<Strategy> strategy;

    // Whether this route takes a command of this kind on this key (an empty key: a keyless command).
    bool matches(const resp::CommandInfo& cmd, std::string_view key, bool keyless) const;
};

// The immutable compiled configuration commands are routed with. A reload builds a new one aside
// and swaps a pointer; commands in flight finish on the one they started with.
class Snapshot {
public:
    Snapshot(config::Config cfg, uint64_t generation);  // throws config::ConfigError

    const config::Config& config() const { return cfg_; }
    uint64_t generation() const { return generation_; }
    std::chrono::system_clock::time_point loadedAt() const { return loaded_at_; }
    const std::vector<Route>& routes() const { return routes_; }

    // The route for one command: the first route that matches every key (keyless commands: the
    // first route whose match has no keys and takes the command, else the catch-all). nullptr when
    // the keys fall into different routes; `error` then names them.
    const Route* route(const resp::CommandInfo& cmd, std::span<const std::string_view> argv,
                       std::span<const int> key_indices, std::string& error) const;
    const Route* routeForKey(const resp::CommandInfo& cmd, std::string_view key) const;

private:
    config::Config cfg_;
    uint64_t generation_;
    std::chrono::system_clock::time_point loaded_at_;
    std::vector<Route> routes_;
};

}  // namespace laminar::policy
