// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "config/config.h"
#include "config/yaml_reader.h"
#include "resp/command_table.h"

namespace laminar::policy {

class Clock;
class WriteQueue;
class Health;
class SyncHost;
class SyncEngine;
class Snapshot;
struct RouteStats;
struct SyncTask;

// One client command as a strategy sees it.
struct Request {
    std::span<const std::string_view> argv;
    std::string_view raw;            // the command as RESP bytes, forwarded unchanged
    const resp::CommandInfo* cmd;
    std::span<const int> keys;       // argv indices of its keys

    std::string_view key() const { return keys.empty() ? std::string_view() : argv[static_cast<size_t>(keys[0])]; }
    bool isWrite() const { return cmd->has(resp::kWrite); }
    // DEL / UNLINK: strategies that read from two places send these to both, so a stale copy
    // cannot come back through the other side.
    bool isDelete() const;
    // Its effect does not depend on what the key holds: SET (without NX/XX/GET/KEEPTTL), SETEX,
    // PSETEX, MSET, DEL, UNLINK. Sending it to both sides leaves both equal.
    bool isPlainOverwrite() const;
};

// How a strategy reaches backends.
class Dispatch {
public:
    virtual void send(int backend, std::string_view raw, backend::ReplySink* sink) = 0;
    // The keys a canary of `backend` writes (Backend::canaryKeys).
    virtual std::vector<backend::CanaryKey> canaryKeys(int backend, const std::string& base) {
        (void)backend;
        return {{base, {}}};
    }

protected:
    ~Dispatch() = default;
};

// What a strategy may use while it routes one command. `client` keeps the command in order with
// the client's others; `background` is for work that must not depend on the client staying
// connected (warm copies, shadow reads, key syncs): its sinks own themselves.
struct Context {
    Dispatch& client;
    Dispatch& background;
    const Clock& clock;
    const Health& health;
    SyncEngine* sync;                                   // null in unit tests that do not need it
    const std::shared_ptr<const Snapshot>* snapshot;    // sinks that outlive execute() copy it
    RouteStats* stats;                                  // counters of the route being executed
    SyncHost* host = nullptr;                           // the client's I/O thread, for work that comes back later
    policy::WriteQueue* queue = nullptr;                 // the durable write queue, when open
};

// Context for work that outlives the client's command: both dispatches are the background one.
inline Context backgroundContext(const Context& ctx) {
    return Context{ctx.background, ctx.background, ctx.clock, ctx.health, ctx.sync, nullptr, ctx.stats};
}

// How one command is sent to backends and how its reply is chosen. Strategies are immutable
// parts of a snapshot, shared by every I/O thread; per-command state lives in the sinks.
// Children are themselves strategies (a backend name compiles to a proxy), so strategies compose.
class Strategy {
public:
    virtual ~Strategy() = default;
    virtual std::string_view type() const = 0;
    virtual void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const = 0;
    // The backend a client in a stateful mode (MULTI, blocking, pub/sub) is pinned to: where this
    // strategy reads.
    virtual int pinTarget() const = 0;
    // For LAMINAR ROUTE: the backends a read (write=false) or write of `req` would go to now.
    virtual void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const = 0;
    // The hooks below default to the strategy's children (forEachChild), so that every wrapper
    // (condition, shadow, convert, timed_rollover, read_only, migration) keeps the machinery of
    // what it wraps: a condition whose `else` is a dual_write has its flip barrier, its MULTI
    // catch-up and its backfill.
    //
    // The client's later commands must wait until this one is answered (it runs in steps that a
    // pipelined command must not overtake, e.g. a copy before a write). Default: when any child's
    // must (a wrapper may route the command to any of them).
    virtual bool serializes(const Request& req) const;
    // Writes are refused whatever they are (read_only): a split MSET is refused whole.
    virtual bool refusesWrites() const { return false; }
    // For INFO and LAMINAR ROUTE: "dual_write(primary=old, secondary=new, ack=primary)".
    virtual std::string describe() const = 0;
    // Strategies that write through the sync engine, for the flip barrier: the (primary,
    // secondary) backend pairs whose keys it keeps in step. Default: its children's.
    virtual void syncPairs(std::vector<std::pair<int, int>>& out) const;
    // For LAMINAR BACKFILL: the copy direction (from, to, pair) a backfill of this route feeds to
    // the sync engine. False, with why, for strategies that have none. Default: the first child's
    // that has one.
    virtual bool backfillTask(SyncTask& task, std::string& why) const;
    // A write on `key` was applied through a client's dedicated connection (inside MULTI/EXEC, or a
    // blocking write), bypassing execute(): strategies that keep another side in step catch up
    // here. Called on the client's thread once the write's reply (EXEC's) has arrived. Default:
    // the first child that holds the pin target (where the write was applied) catches up.
    virtual void afterPinnedWrite(std::string_view key, Context& ctx) const;
    // The same write, before it is sent (EXEC's, or the blocking write's): what must be on record
    // before the write can land (the sync engine's write-ahead, new_only's changed keys). Walks
    // the tree as afterPinnedWrite does, so that the two reach the same strategy.
    virtual void beforePinnedWrite(std::string_view key, Context& ctx) const;
    // The time after `now` at which a read of `key` stops going where it goes now with no reload
    // (an undated key at its timed_rollover cutoff), if there is one: CLIENT TRACKING invalidates
    // the key then. Default: the earliest of its children's.
    virtual std::optional<std::chrono::system_clock::time_point> readMovesAt(std::string_view key,
                                                                             std::chrono::system_clock::time_point now) const;
    // The strategies this one is made of (none for a proxy), so that what a route holds can be
    // found by walking its tree (the migrations of a reload's phase checks).
    virtual void forEachChild(const std::function<void(const Strategy&)>& fn) const { (void)fn; }
};

// Builds strategies from YAML, with errors that name file, line and path.
class Builder {
public:
    Builder(const config::Config& cfg, const std::string& route_name) : cfg_(cfg), ctx_{cfg.source}, route_(route_name) {}

    // The strategy at `node`: a mapping with `type`, or a bare backend name (a proxy to it).
    std::unique_ptr<Strategy> build(const YAML::Node& node, const std::string& path);
    // A child field of a strategy (`primary`, `then`...): a backend name or a nested strategy.
    std::unique_ptr<Strategy> child(config::MapReader& r, const std::string& key);
    // A field naming a backend: its index. Fails unless the config has it.
    int backend(config::MapReader& r, const std::string& key);
    int backendIndex(const YAML::Node& node, const std::string& path);
    // A proxy to `backend`: the leaf through which every strategy sends. Builders make them here,
    // so that reached() knows every backend the strategy being built can send to.
    std::unique_ptr<Strategy> proxy(int backend);
    // The backends of every proxy made so far, ascending, without repeats.
    const std::vector<int>& reached() const { return reached_; }

    [[noreturn]] void fail(const YAML::Node& near, const std::string& path, const std::string& msg) const {
        ctx_.fail(near, path, msg);
    }
    const config::Ctx& ctx() const { return ctx_; }
    const config::Config& config() const { return cfg_; }
    const std::string& routeName() const { return route_; }
    std::string backendName(int index) const { return cfg_.backends[static_cast<size_t>(index)].name; }

private:
    const config::Config& cfg_;
    config::Ctx ctx_;
    std::string route_;
    int depth_ = 0;
    std::vector<int> reached_;
};

using MakeStrategy = std::unique_ptr<Strategy> (*)(config::MapReader& r, Builder& b);

// The `migration: {from, to, phase}` shorthand, compiled to the strategies above.
std::unique_ptr<Strategy> buildMigration(const YAML::Node& node, const std::string& path, Builder& b);

}  // namespace laminar::policy
