// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/strategy.h"

namespace laminar::policy {

// The `migration: {from, to, phase}` shorthand: the usual phases of moving one key space,
// compiled to the strategies above. Every step back is valid at any time, with one caveat: keys
// written in new_only are on `to` alone, so before stepping back past dual_write_read_new they
// must be copied back to `from`.
//  1. old_only            -> proxy to `from`
//  2. dual_write_read_old -> dual_write(primary=from, secondary=to, mode=sync): reads from `from`,
//                            every written key copied to `to`
//  3. dual_write_read_new -> dual_write(primary=to, secondary=from, mode=sync): reads from `to`,
//                            every written key copied back to `from` (the reverse gear stays warm)
//  4. new_only            -> proxy to `to`
// Between 2 and 3 the copy direction flips; writes wait until the keys still being copied the old
// way are done (the flip barrier), so no old copy lands on a fresher value.
class Migration final : public Strategy {
public:
    // In the order a migration goes through them; a step is to a neighbour.
    enum class Phase { kOldOnly, kReadOld, kReadNew, kNewOnly };
    static std::string_view phaseName(Phase p);

    Migration(Phase phase, std::string route, std::string from, std::string to, std::unique_ptr<Strategy> inner)
        : phase_(phase), route_(std::move(route)), from_(std::move(from)), to_(std::move(to)), inner_(std::move(inner)) {}
    std::string_view type() const override { return "migration"; }
    // In new_only, the keys each write changes are told to the sync engine (SyncEngine::noteChange),
    // so that a step back can copy just those to `from` (LAMINAR BACKFILL START <route> CHANGED).
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override {
        if (phase_ == Phase::kNewOnly && ctx.sync && req.isWrite()) noteChanges(req, *ctx.sync);
        inner_->execute(req, sink, ctx);
    }
    void afterPinnedWrite(std::string_view key, Context& ctx) const override { inner_->afterPinnedWrite(key, ctx); }
    // In new_only the key is recorded as changed before the write is sent, as execute() does.
    void beforePinnedWrite(std::string_view key, Context& ctx) const override;
    int pinTarget() const override { return inner_->pinTarget(); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override {
        inner_->targets(req, ctx, write, out);
    }
    std::string describe() const override { return "migration(phase=" + std::string(phaseName(phase_)) + ") = " + inner_->describe(); }
    bool backfillTask(SyncTask& task, std::string& why) const override {
        if (inner_->backfillTask(task, why)) return true;
        why = "phase " + describe() + " does not write both sides; backfill in dual_write_read_old or dual_write_read_new";
        return false;
    }
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override { fn(*inner_); }
    Phase phase() const { return phase_; }
    // Backend names: `from` is where the data was, `to` where it goes.
    const std::string& from() const { return from_; }
    const std::string& to() const { return to_; }

private:
    void noteChanges(const Request& req, SyncEngine& sync) const;

    Phase phase_;
    std::string route_, from_, to_;
    std::unique_ptr<Strategy> inner_;
};

}  // namespace laminar::policy
