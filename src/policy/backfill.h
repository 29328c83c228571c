// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "policy/sync_engine.h"

namespace laminar::policy {

class Snapshot;

// How far a scan has come against a total counted when it began (docs/operations.md, "Monitoring"):
// the percent of the total scanned (at most 99 until the scan has ended: keys written meanwhile
// can outnumber the count; 100 once it has), and, while it runs and has scanned something but not
// yet the total, the seconds left at the average pace so far. Nothing when the total is unknown (0).
struct ScanEstimate {
    int percent = 0;
    std::optional<double> eta_seconds;
};
std::optional<ScanEstimate> estimateScan(uint64_t scanned, uint64_t total, double elapsed_seconds, bool complete);
// The scan's part of a backfill's status line: "1200 keys scanned" (total unknown),
// "1200 of ~5000 keys scanned (24%, ETA 12 s)" while running (`~`: `upper_bound`, the total counts
// keys outside the scan's MATCH too; no ETA when `running` is false: stopped or failed), or
// "5000 keys scanned (100%)" once the scan has ended.
std::string describeScan(uint64_t scanned, uint64_t total, bool upper_bound, double elapsed_seconds, bool complete, bool running);

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
// Its progress has a total when the backends can count their keys (DBSIZE, summed over a
// cluster's masters; the secondary's added with `reconcile`), asked once when it starts: an upper
// bound when the scan has a MATCH. A reload that changes the route's copy direction (a phase step)
// or its backends drops the total: the scan goes on, without a percent or ETA.
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
    // "running: 1200 of ~5000 keys scanned (24%, ETA 12 s), 1200 queued for copy, 35 left to copy
    // (old>new), 980 keys/s, 12 s" (describeScan), "done: ..." once every queued key is copied,
    // "failed: ...: why".
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
        uint64_t total = 0;  // keys to scan, counted at start; 0: unknown (or dropped by a reload)
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
    // Asks the backends for the total (DBSIZE) once, at the first batch.
    void countTotal(const SyncTask& task, bool upper_bound);
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
    bool counted_ = false;             // countTotal has been sent
    uint64_t total_ = 0;               // 0: unknown
    bool total_upper_bound_ = false;   // the scan has a MATCH: DBSIZE counts other keys too
    std::string total_for_;            // what the total was counted for: the pair and both backends
    // The keys this backfill queued that the engine has not copied yet: done is when none are
    // left, however busy the pair stays with the proxy's own writes.
    std::shared_ptr<SyncTracker> tracker_ = std::make_shared<SyncTracker>();
};

}  // namespace laminar::policy
