// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "policy/sync_engine.h"

namespace laminar::policy {

class Snapshot;

// The online backfill of one route in a dual-write phase (the hot copy of docs/design.md; hazards 3 and 4 there): SCAN
// the primary and mark every key the route owns dirty in the sync engine, at a rate limit. The
// engine copies each key's state as it is when the copy runs (or deletes it on the secondary when
// it is gone), one key at a time, so a key written or deleted through the proxy meanwhile ends
// identical on both sides: the backfill never writes a value it read earlier.
//
// With `reconcile`, once the primary is scanned the secondary is scanned too, and its keys of the
// route are marked the same way: a key the primary no longer has is deleted there (the engine's
// copy of a missing key is a DEL). That is what a step back after a one-sided phase needs
// (hazard 8): keys deleted in new_only must not come back on old.
//
// Runs on one I/O thread (`host`); start(), stop() and status() may be called from any thread.
class Backfill : public std::enable_shared_from_this<Backfill> {
public:
    struct Options {
        std::string route;
        uint64_t rate = 1000;  // keys per second
        std::string match;     // SCAN MATCH; empty: the route's own glob when it has exactly one
        size_t batch = 100;    // SCAN COUNT
        bool reconcile = false;  // also scan the secondary: delete there what the primary lacks
        // CHANGED: these keys (those a new_only spell wrote) instead of a SCAN; each is copied as
        // the primary has it, or deleted on the secondary when the primary lacks it.
        std::shared_ptr<const std::vector<std::string>> keys;
    };
    // `snapshot` returns the host thread's current snapshot (called on the host thread).
    Backfill(Options options, SyncHost& host, SyncEngine& engine, std::function<std::shared_ptr<const Snapshot>()> snapshot);

    void start();
    void stop();
    bool running() const;
    // "running: 1200 keys scanned, 1200 queued for copy, 35 left to copy (old>new), 980 keys/s, 12 s",
    // "done: ..." once every queued key is copied, "failed: ...: why".
    std::string status() const;
    const std::string& route() const { return opt_.route; }
    struct Progress {
        const char* state;  // running | draining | done | stopped | failed
        uint64_t scanned = 0, queued = 0;
        int64_t left = 0;      // queued keys not copied yet
        uint64_t failed = 0;   // queued keys the engine gave up on (logged)
        std::string pair;      // the copy direction of its last batch ("old>new"); empty before one
        std::chrono::steady_clock::time_point started{};
        bool reconcile = false;
    };
    Progress progress() const;

private:
    enum class State { kRunning, kDraining, kDone, kStopped, kFailed };
    void scanNext();
    void onScan(const SyncTask& task, std::string_view raw, bool failed);
    void listNext(const SyncTask& task);
    // Marks the route's keys of one batch dirty, then schedules the next batch (`next`: the SCAN
    // cursor, "0" when this was the last).
    void markBatch(const SyncTask& task, const std::vector<std::string>& keys, std::string next);
    void drain();
    void finish(State state, std::string why = {});
    // The route's copy direction in the current snapshot, or false with `why`.
    bool resolve(SyncTask& task, std::string& why);

    Options opt_;
    SyncHost& host_;
    SyncEngine& engine_;
    std::function<std::shared_ptr<const Snapshot>()> snapshot_;

    mutable std::mutex mu_;  // guards what status() reads
    State state_ = State::kRunning;
    std::string why_;
    std::string pair_;
    uint64_t scanned_ = 0, queued_ = 0;
    int scan_failures_ = 0;
    std::chrono::steady_clock::time_point started_, ended_;
    std::string cursor_ = "0";
    bool scanning_secondary_ = false;  // reconcile: the primary is done, the secondary's turn
    size_t list_pos_ = 0;              // opt_.keys: the next key to mark
    // The keys this backfill queued that the engine has not copied yet: done is when none are
    // left, however busy the pair stays with the proxy's own writes.
    std::shared_ptr<SyncTracker> tracker_ = std::make_shared<SyncTracker>();
};

}  // namespace laminar::policy
