// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "backend/backend.h"
#include "config/config.h"
#include "resp/command_table.h"

namespace laminar::policy {

// One client command as a strategy sees it: its arguments, its raw bytes (forwarded unchanged)
// and its command-table entry.
struct Request {
    std::span<const std::string_view> argv;
    std::string_view raw;
    const resp::CommandInfo* cmd;
};

// How a strategy reaches backends: the client session implements it, so commands of one client
// stay on one connection per backend, in order.
class Dispatch {
public:
    virtual void send(int backend, std::string_view raw, backend::ReplySink* sink) = 0;

protected:
    ~Dispatch() = default;
};

// How one command is sent to backends and how its reply is chosen. Strategies are immutable
// parts of a snapshot, shared by every I/O thread; per-command state lives in the sinks.
class Strategy {
public:
    virtual ~Strategy() = default;
    virtual std::string_view type() const = 0;
    virtual void execute(const Request& req, backend::ReplySink* sink, Dispatch& dispatch) const = 0;
    // The backend a client in a stateful mode (MULTI, blocking, pub/sub) is pinned to.
    virtual int pinTarget() const = 0;
    // For LAMINAR ROUTE and INFO: "proxy -> old".
    virtual std::string describe(const config::Config& cfg) const = 0;
};

// Builds the strategy a route's config names. Throws config::ConfigError.
std::unique_ptr<Strategy> makeStrategy(const config::StrategyConfig& sc, const config::Config& cfg);

}  // namespace laminar::policy
