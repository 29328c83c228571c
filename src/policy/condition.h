// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/strategy.h"

namespace laminar::policy {

// A runtime test of one command, compiled from `when` at build time: evaluating it reads only the
// request and the context, never YAML.
struct Condition {
    enum class Kind { kBackendDown, kBackendDegraded, kBackendUp, kLatencyAbove, kQueueStale, kQueueLagAbove, kPercent, kCommands, kAll, kAny, kNot };
    explicit Condition(Kind k) : kind(k) {}

    Kind kind;
    int backend = -1;                 // backend_*, latency_above
    std::string backend_name;
    double p99_millis = 0;            // latency_above
    double lag_seconds = 0;           // queue_lag_above
    uint64_t buckets = 0;             // percent: of kPercentBuckets
    double percent = 0;
    bool reads = false, writes = false;
    std::vector<std::string> names;   // commands: lowercase names ("get", "config|get", "config")
    std::vector<Condition> children;  // all, any, not

    static constexpr uint64_t kPercentBuckets = 10000;  // percent has a resolution of 0.01

    bool eval(const Request& req, bool write, const Context& ctx) const;
    // Depends only on the state of backends and the queue, never on the command: a change of its
    // value is an event worth a log line (a fail-safe engaged or cleared).
    bool stateOnly() const;
    std::string describe() const;
};

// Decorator (docs/design.md, "Decorator"): a clever adapter that picks a side per command by
// any condition — bad weather, latency, a share of the keys, the kind of command.
//  1. When `when` holds for a command, it goes to `then`; otherwise to `else`. Reads and writes
//     alike; the reply is the chosen side's, unchanged.
//  2. backend_down: B holds while B is down; backend_degraded: B while it is degraded or down;
//     backend_up: B while it is up (from the health board, re-read for every command).
//  3. latency_above: {backend: B, p99: D} holds while B's recent p99 latency is above D.
//  4. percent: N (0..100, resolution 0.01) holds for a fixed N% of keys: XXH64(first key) % 10000
//     < N*100, so one key always takes the same side while N stays. A keyless command is never
//     selected (so under `not` it always is).
//  5. commands: [...] holds for commands of a listed class (`read`: any command that is not a
//     write; `write`) or name (lowercase; a container name such as `config` covers its subcommands).
//  6. all: [...] holds when every listed condition holds, any: [...] when at least one does,
//     not: C when C does not; they nest.
//  7. queue_stale: B holds while the write queue's canary through backend B is stale (canary.stale),
//     and while there is no write queue; queue_lag_above: {target: B, lag: D} while B's oldest
//     unapplied queue record is older than D. With them a route names its fail-safe, e.g. a
//     queued_write that falls back to a synchronous dual_write, or read_only.
//  8. A condition that depends only on backend and queue state logs each change of its value, once:
//     "route 'r': fail-safe engaged: queue_stale(new) holds, commands go to ..." and "... cleared".
// Reverse: change (or negate) the condition, or swap `then` and `else`.
class ConditionStrategy final : public Strategy {
public:
    ConditionStrategy(Condition when, std::unique_ptr<Strategy> then, std::unique_ptr<Strategy> otherwise, std::string route = {});
    std::string_view type() const override { return "condition"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    int pinTarget() const override { return else_->pinTarget(); }
    // A pinned client's write ran where `else` pins it: `else` catches up (as a dual_write there would).
    void afterPinnedWrite(std::string_view key, Context& ctx) const override { else_->afterPinnedWrite(key, ctx); }
    void beforePinnedWrite(std::string_view key, Context& ctx) const override { else_->beforePinnedWrite(key, ctx); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override;
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override {
        fn(*then_);
        fn(*else_);
    }

private:
    // Logs a change of a stateOnly() condition's value; true when this call saw one.
    bool noteTransition(bool holds) const;

    Condition when_;
    std::string route_;
    mutable std::atomic<int> last_{-1};  // the last value of a stateOnly() condition: -1 unknown
    std::unique_ptr<Strategy> then_, else_;
};

// condition {when, then, else}
std::unique_ptr<Strategy> makeCondition(config::MapReader& r, Builder& b);

}  // namespace laminar::policy
