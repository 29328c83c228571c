// SPDX-License-Identifier: Apache-2.0
#include "policy/dual_write.h"

#include <array>

#include "policy/fanout.h"
#include "policy/recycled.h"
#include "policy/route_stats.h"
#include "policy/sync_engine.h"
#include "resp/reply_view.h"

namespace laminar::policy {
namespace {

// The most keys a plain overwrite may name to be sent to the secondary as it is (SyncEngine::claimForward).
constexpr size_t kMaxForwardKeys = 16;

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

// A plain overwrite the sync engine let stand for its keys' copies (SyncEngine::claimForward): sent
// to both sides at once; the client gets the primary's reply as it comes; once both answered, the
// engine hears whether both applied it. Recycled with its buffers, so it costs no allocation.
struct Forward final {
    backend::ReplySink* client = nullptr;
    SyncEngine* engine = nullptr;
    const DualWrite* strategy = nullptr;
    std::shared_ptr<const Snapshot> snapshot;  // keeps the strategy (and stats) alive
    RouteStats* stats = nullptr;
    std::atomic<int64_t>* counter = nullptr;
    bool ahead = false;
    std::array<SyncEngine::Claim, kMaxForwardKeys> claims;
    std::array<std::string, kMaxForwardKeys> keys;
    size_t n = 0;
    int remaining = 2;
    bool applied = true;
    Forward* next_free = nullptr;  // while recycled

    struct Side final : backend::ReplySink {
        Forward* f = nullptr;
        bool primary = false;
        void complete(std::string_view raw, bool failed) override { f->done(primary, raw, failed); }
    } primary, secondary;

    void done(bool from_primary, std::string_view raw, bool failed) {
        // An error reply (an expiry out of range, say) may leave the sides apart: a copy settles it.
        if (failed || resp::isError(raw)) applied = false;
        if (from_primary) client->complete(raw, failed);
        if (--remaining > 0) return;
        if (applied) {
            for (size_t i = 0; i < n; ++i) engine->forwarded(claims[i], keys[i], strategy->pairName(), *counter, stats, ahead);
        } else {
            SyncTask task = strategy->syncTask(snapshot, stats);
            for (size_t i = 0; i < n; ++i) engine->notForwarded(claims[i], keys[i], task, ahead);
        }
        snapshot.reset();
        remaining = 2;
        applied = true;
        bool large = false;
        for (size_t i = 0; i < n; ++i) large |= keys[i].capacity() > 256;
        Recycled<Forward>::put(this, large);
    }
};

}  // namespace

DualWrite::DualWrite(std::unique_ptr<Strategy> primary, std::unique_ptr<Strategy> secondary, Mode mode, bool ack_both,
                     bool reads_secondary)
    : primary_(std::move(primary)), secondary_(std::move(secondary)), mode_(mode), ack_both_(ack_both), reads_secondary_(reads_secondary),
      forwards_(primary_->type() == "proxy" && secondary_->type() == "proxy") {
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
    SyncEngine* engine = ctx.sync;
    bool ahead = false;
    if (engine) {
        // Pending from now: a flip barrier must wait for this write even before its reply arrives.
        // With a state_dir, owed on disk from now too: the record goes out before the write does.
        auto& counter = engine->counterOf(pair_);
        counter.fetch_add(static_cast<int64_t>(req.keys.size()));
        for (int i : req.keys) engine->writeAhead(pair_, req.argv[static_cast<size_t>(i)]);
        ahead = engine->writesAhead();
        if (forwards_ && req.keys.size() <= kMaxForwardKeys && req.isPlainOverwrite()) {
            auto* f = Recycled<Forward>::acquire();
            if (engine->claimForward(req.argv, req.keys, f->claims)) {
                f->client = sink;
                f->engine = engine;
                f->strategy = this;
                if (ctx.snapshot) f->snapshot = *ctx.snapshot;
                f->stats = ctx.stats;
                f->counter = &counter;
                f->ahead = ahead;
                f->n = req.keys.size();
                for (size_t i = 0; i < f->n; ++i) f->keys[i].assign(req.argv[static_cast<size_t>(req.keys[i])]);
                f->primary.f = f->secondary.f = f;
                f->primary.primary = true;
                // Both are sent before either reply is awaited, as in mode: command.
                primary_->execute(req, &f->primary, ctx);
                secondary_->execute(req, &f->secondary, ctx);
                return;
            }
            Recycled<Forward>::put(f, false);
        }
    }
    auto* s = new SyncAfterWrite;
    s->client = sink;
    s->engine = engine;
    s->task = syncTask(ctx.snapshot ? *ctx.snapshot : nullptr, ctx.stats);
    s->ahead = ahead;
    for (int i : req.keys) s->keys.emplace_back(req.argv[static_cast<size_t>(i)]);
    primary_->execute(req, s, ctx);
}

void DualWrite::beforePinnedWrite(std::string_view key, Context& ctx) const {
    if (ctx.sync) ctx.sync->writeAhead(pair_, key);
}

void DualWrite::afterPinnedWrite(std::string_view key, Context& ctx) const {
    if (ctx.sync) ctx.sync->markDirty(syncTask(ctx.snapshot ? *ctx.snapshot : nullptr, ctx.stats), key, false, nullptr, ctx.sync->writesAhead());
}

SyncTask DualWrite::syncTask(std::shared_ptr<const Snapshot> snapshot, RouteStats* stats) const {
    SyncTask task;
    task.snapshot = std::move(snapshot);
    task.from = primary_.get();
    task.to = secondary_.get();
    task.stats = stats;
    task.pair = pair_;
    return task;
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
