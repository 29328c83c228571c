// SPDX-License-Identifier: Apache-2.0
#include "policy/dual_write.h"

#include "policy/fanout.h"
#include "policy/route_stats.h"
#include "policy/sync_engine.h"
#include "resp/reply_view.h"

namespace laminar::policy {
namespace {

// Passes primary's reply to the client, then marks the written keys dirty.
struct SyncAfterWrite final : backend::ReplySink {
    backend::ReplySink* client;
    SyncTask task;
    SyncEngine* engine;
    std::vector<std::string> keys;
    bool ahead = false;  // the keys' write-ahead units were recorded before the write was sent

    void complete(std::string_view raw, bool failed) override {
        client->complete(raw, failed);
        // Even a failed or refused write is synced: the primary may have applied part of it (a
        // timeout after the write), and copying the key's state is always safe. The keys were
        // counted as pending when the write was sent.
        if (engine)
            for (const auto& k : keys) engine->markDirty(task, k, true, nullptr, ahead);
        delete this;
    }
};

}  // namespace

DualWrite::DualWrite(std::unique_ptr<Strategy> primary, std::unique_ptr<Strategy> secondary, Mode mode, bool ack_both,
                     bool reads_secondary)
    : primary_(std::move(primary)), secondary_(std::move(secondary)), mode_(mode), ack_both_(ack_both), reads_secondary_(reads_secondary) {
    pair_ = primary_->describe() + ">" + secondary_->describe();
}

void DualWrite::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (!req.isWrite()) {
        (reads_secondary_ ? secondary_ : primary_)->execute(req, sink, ctx);
        return;
    }
    auto* failures = ctx.stats ? &ctx.stats->secondary_failures : nullptr;
    if (req.keys.empty() || (mode_ == Mode::kCommand && req.isPlainOverwrite())) {
        sendToBoth(req, sink, ctx, *primary_, *secondary_, ack_both_ ? Merge::kFirstAfterBoth : Merge::kFirst, failures);
        return;
    }
    auto* s = new SyncAfterWrite;
    s->client = sink;
    s->engine = ctx.sync;
    if (ctx.snapshot) s->task.snapshot = *ctx.snapshot;
    s->task.from = primary_.get();
    s->task.to = secondary_.get();
    s->task.stats = ctx.stats;
    s->task.pair = pair_;
    for (int i : req.keys) s->keys.emplace_back(req.argv[static_cast<size_t>(i)]);
    // Pending from now: a flip barrier must wait for this write even before its reply arrives.
    // With a state_dir, owed on disk from now too: the record goes out before the write does.
    if (s->engine) {
        s->engine->reserve(pair_, static_cast<int64_t>(s->keys.size()));
        for (const auto& k : s->keys) s->ahead = s->engine->writeAhead(pair_, k);
    }
    primary_->execute(req, s, ctx);
}

void DualWrite::beforePinnedWrite(std::string_view key, Context& ctx) const {
    if (ctx.sync) ctx.sync->writeAhead(pair_, key);
}

void DualWrite::afterPinnedWrite(std::string_view key, Context& ctx) const {
    if (!ctx.sync) return;
    SyncTask task;
    if (ctx.snapshot) task.snapshot = *ctx.snapshot;
    task.from = primary_.get();
    task.to = secondary_.get();
    task.stats = ctx.stats;
    task.pair = pair_;
    ctx.sync->markDirty(task, key, false, nullptr, ctx.sync->writesAhead());
}

void DualWrite::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    if (!write) {
        (reads_secondary_ ? secondary_ : primary_)->targets(req, ctx, false, out);
        return;
    }
    primary_->targets(req, ctx, true, out);
    secondary_->targets(req, ctx, true, out);
}

std::string DualWrite::describe() const {
    return "dual_write(primary=" + primary_->describe() + ", secondary=" + secondary_->describe() +
           ", mode=" + (mode_ == Mode::kSync ? "sync" : "command") + ", ack=" + (ack_both_ ? "both" : "primary") +
           (reads_secondary_ ? ", reads=secondary" : "") + ")";
}

bool DualWrite::backfillTask(SyncTask& task, std::string& why) const {
    if (mode_ == Mode::kCommand) {
        // Plain overwrites reach the secondary without the sync engine: a backfill copy read
        // before one of them could land after it.
        why = "mode: command writes the secondary without the sync engine; a backfill needs mode: sync (the default)";
        return false;
    }
    task.from = primary_.get();
    task.to = secondary_.get();
    task.pair = pair_;
    return true;
}

void DualWrite::syncPairs(std::vector<std::pair<int, int>>& out) const {
    out.emplace_back(primary_->pinTarget(), secondary_->pinTarget());
}

std::unique_ptr<Strategy> makeDualWrite(config::MapReader& r, Builder& b) {
    auto primary = b.child(r, "primary");
    auto secondary = b.child(r, "secondary");
    using Mode = DualWrite::Mode;
    auto mode = r.choice<Mode>("mode", Mode::kSync, {{"sync", Mode::kSync}, {"command", Mode::kCommand}});
    bool ack_both = r.choice<bool>("ack", false, {{"primary", false}, {"both", true}});
    if (ack_both && mode == Mode::kSync)
        b.fail(r.take("ack"), r.path("ack"), "ack: both needs mode: command (in mode: sync the secondary is written by the sync engine, after the reply)");
    bool reads_secondary = r.choice<bool>("reads", false, {{"primary", false}, {"secondary", true}});
    auto pair = b.backendName(primary->pinTarget()) + ">" + b.backendName(secondary->pinTarget());
    auto dw = std::make_unique<DualWrite>(std::move(primary), std::move(secondary), mode, ack_both, reads_secondary);
    dw->setPairName(std::move(pair));
    return dw;
}

}  // namespace laminar::policy
