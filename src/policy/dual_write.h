// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/strategy.h"

namespace laminar::policy {

// Dual write (docs/design.md, "Dual write / synchronize"; mode: sync is the synchronize pattern at key level).
//  1. Reads go to `primary` (or to `secondary` with `reads: secondary`).
//  2. mode: sync (the default, exact): a write runs on primary and the client gets primary's
//     reply; then every key it wrote is marked dirty and the sync engine copies the key's state
//     primary -> secondary (see sync_engine.h). Counters, appends and list pushes on a key the
//     secondary did not have yet come out equal on both sides, and concurrent writers cannot
//     leave the sides in different orders. A plain overwrite (as in 3) fixes its keys' whole
//     state, so when no copy of its keys is queued or running the write itself is sent to both
//     sides at once and stands for the copy (SyncEngine::claimForward); a copy asked for meanwhile
//     waits for it and reads the primary afterwards, so the secondary never ends older.
//  3. mode: command (fast, the plain dual write): plain overwrites (SET without NX/XX/GET/KEEPTTL,
//     SETEX, PSETEX, MSET, DEL, UNLINK) are sent to both sides at once, before either reply is
//     awaited, so the latency is the slower side's, not the sum. Every other write runs as in
//     mode: sync, so non-idempotent writes never put a wrong value on the secondary.
//  4. ack: primary (default) answers with primary's reply as soon as it arrives; ack: both (mode:
//     command only) waits for both and reports a failure of either.
//  5. A secondary failure is never silently dropped: it is counted (secondary_failures, or
//     sync_failures after retries) and logged.
//  6. Writes without keys (FLUSHALL, when allowed) go to both sides.
// Reverse: swap primary and secondary (the migration phases do this between read_old and read_new;
// the flip waits until the keys still being copied the old way are done).
class DualWrite final : public Strategy {
public:
    enum class Mode { kSync, kCommand };
    DualWrite(std::unique_ptr<Strategy> primary, std::unique_ptr<Strategy> secondary, Mode mode, bool ack_both,
              bool reads_secondary);
    std::string_view type() const override { return "dual_write"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    int pinTarget() const override { return reads_secondary_ ? secondary_->pinTarget() : primary_->pinTarget(); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override;
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override {
        fn(*primary_);
        fn(*secondary_);
    }
    // Every write of the route asks: the default's walk over forEachChild costs a std::function.
    bool serializes(const Request& req) const override { return primary_->serializes(req) || secondary_->serializes(req); }
    void syncPairs(std::vector<std::pair<int, int>>& out) const override;
    bool backfillTask(SyncTask& task, std::string& why) const override;
    void afterPinnedWrite(std::string_view key, Context& ctx) const override;
    void beforePinnedWrite(std::string_view key, Context& ctx) const override;
    // What copies a key this strategy wrote: primary to secondary, counted under pairName().
    SyncTask syncTask(std::shared_ptr<const Snapshot> snapshot, RouteStats* stats) const;
    // "old>new": the sync engine's counter for this direction.
    const std::string& pairName() const { return pair_; }
    void setPairName(std::string p) { pair_ = std::move(p); }

private:
    std::unique_ptr<Strategy> primary_, secondary_;
    Mode mode_;
    bool ack_both_;
    bool reads_secondary_;
    // Both sides are backends (not strategies of their own): a plain overwrite sent to each is the
    // same write on each, so it may stand for its keys' copy (execute()).
    bool forwards_;
    std::string pair_;
};

std::unique_ptr<Strategy> makeDualWrite(config::MapReader& r, Builder& b);

}  // namespace laminar::policy
