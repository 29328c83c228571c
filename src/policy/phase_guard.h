// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "policy/migration.h"

namespace laminar::policy {

class Snapshot;

// Where each migration route stands, kept across reloads (in the Registry) by route name: its
// phase, since when, and which side may lack writes because a one-sided phase was in force.
struct MigrationRecord {
    Migration::Phase phase = Migration::Phase::kOldOnly;
    std::string from, to;  // backend names
    std::chrono::steady_clock::time_point since{};
    bool to_missing = true;     // `to` may lack writes: old_only was in force, or it was never filled
    bool from_missing = false;  // `from` may lack writes: new_only was in force
    uint64_t sync_failures_before = 0;  // the route's sync_failures when it entered this phase
};

class MigrationBoard {
public:
    std::optional<MigrationRecord> get(const std::string& route) const;
    std::map<std::string, MigrationRecord> all() const;
    void replace(std::map<std::string, MigrationRecord> records);

private:
    mutable std::mutex mu_;
    std::map<std::string, MigrationRecord> records_;
};

// What a reload knows besides the two configurations.
struct PhaseFacts {
    struct Backfill {
        std::string pair;  // "old>new"
        std::chrono::steady_clock::time_point started;
        uint64_t failed = 0;  // keys the target refused
        bool reconcile = false;  // it also deleted what the source lacks
    };
    // The latest backfill of a route that completed, if any.
    std::function<std::optional<Backfill>(const std::string& route)> backfill = [](const std::string&) { return std::nullopt; };
    // The route's backfill while it runs (or drains): its status line (Backfill::status(), with the
    // scan's percent and ETA when known) and when it started.
    struct Running {
        std::string status;
        std::chrono::steady_clock::time_point started;
    };
    std::function<std::optional<Running>(const std::string& route)> running = [](const std::string&) { return std::nullopt; };
    // Keys of a copy direction waiting for a side that is away (SyncEngine::backlog).
    std::function<int64_t(const std::string& pair)> backlog = [](const std::string&) { return 0; };
    // The last `laminar verify --report` of two backends (either order), when one reported.
    struct Verify {
        std::string a, b, match;
        bool equal = false;
        uint64_t compared = 0, differences = 0;
        std::chrono::steady_clock::time_point at;
    };
    std::function<std::optional<Verify>(const std::string& x, const std::string& y)> verify = [](const std::string&, const std::string&) {
        return std::nullopt;
    };
};

// One migration route's phase change, and why it is unsafe when it is.
struct PhaseChange {
    std::string route;
    std::string before, after;  // phase names; `before` empty for a route new to the board
    std::string refusal;        // empty: safe
    bool forced = false;        // the route says `force: true` (or the reload was forced)
};

// The phase rules (docs/operations.md, "Phase guardrails"), for `next` against what `board`
// recorded of the running configuration:
//  1. A step goes to a neighbouring phase (old_only, dual_write_read_old, dual_write_read_new,
//     new_only); a reload that skips one is refused, naming the phase to go through.
//  2. A step that starts reading from a side that may lack writes (or hold keys deleted since) is
//     refused until a reconciling backfill of the route toward that side has completed since the
//     route entered its current phase:
//     dual_write_read_old -> dual_write_read_new needs one from>to (to is missing what was
//     written before the dual write began); dual_write_read_new -> dual_write_read_old after a
//     new_only spell needs one to>from.
//  3. That step is also refused while keys of that direction wait for a side that was away (the
//     sync backlog): reads would miss them.
// A route that is new, or whose from/to changed, starts a new record: nothing to compare.
std::vector<PhaseChange> checkPhases(const Snapshot& next, const MigrationBoard& board, const PhaseFacts& facts, bool force_all);
// Why stepping `route` from `rec` to `after` is refused by the rules above; empty when it is safe.
std::string stepRefusal(const std::string& route, const MigrationRecord& rec, Migration::Phase after, const PhaseFacts& facts);
// LAMINAR MIGRATION: where the route is, the backfill running now (if any) and the last completed one, what it waits for, and whether each neighbouring phase is
// safe to step to now, with the reasons.
std::string migrationReport(const std::string& route, const MigrationRecord& rec, const PhaseFacts& facts,
                            std::chrono::steady_clock::time_point now, uint64_t sync_failures);
// What the board holds once `next` is in force.
std::map<std::string, MigrationRecord> phasesAfter(const Snapshot& next, const MigrationBoard& board,
                                                   std::chrono::steady_clock::time_point now);

}  // namespace laminar::policy
