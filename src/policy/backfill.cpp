// SPDX-License-Identifier: Apache-2.0
#include "policy/backfill.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "obs/logging.h"
#include "policy/clock.h"
#include "policy/owned_command.h"
#include "policy/route_stats.h"
#include "policy/snapshot.h"
#include "resp/reply_view.h"

namespace laminar::policy {
namespace {

constexpr int64_t kMaxPending = 10000;  // engine queue depth above which the scan waits
constexpr int kMaxScanFailures = 10;

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("backfill");
    return l;
}

// Reads "*2 $cursor *N $key..." (a SCAN reply). False when it is anything else.
class ScanReply {
public:
    explicit ScanReply(std::string_view raw) : raw_(raw) {}
    bool parse(std::string& cursor, std::vector<std::string>& keys) {
        long long n;
        std::string_view c;
        if (!header('*', n) || n != 2 || !bulk(c)) return false;
        cursor.assign(c);
        if (!header('*', n) || n < 0) return false;
        for (long long i = 0; i < n; ++i) {
            std::string_view k;
            if (!bulk(k)) return false;
            keys.emplace_back(k);
        }
        return true;
    }

private:
    bool header(char type, long long& n) {
        if (pos_ >= raw_.size() || raw_[pos_] != type) return false;
        auto eol = raw_.find("\r\n", pos_);
        if (eol == std::string_view::npos || !resp::parseLongLong(raw_.data() + pos_ + 1, eol - pos_ - 1, n)) return false;
        pos_ = eol + 2;
        return true;
    }
    bool bulk(std::string_view& out) {
        long long n;
        if (!header('$', n) || n < 0 || pos_ + static_cast<size_t>(n) + 2 > raw_.size()) return false;
        out = raw_.substr(pos_, static_cast<size_t>(n));
        pos_ += static_cast<size_t>(n) + 2;
        return true;
    }
    std::string_view raw_;
    size_t pos_ = 0;
};

// What a total was counted for: the copy direction and where both backends are. A reload that
// changes either makes the count say nothing of the scan from then on.
std::string totalIdentity(const SyncTask& task) {
    std::string id = task.pair;
    auto arrow = task.pair.find('>');
    if (arrow == std::string::npos) return id;
    for (const auto& name : {task.pair.substr(0, arrow), task.pair.substr(arrow + 1)})
        if (const auto* b = task.snapshot->config().backend(name)) id += fmt::format(" {}={}/{}", name, b->where(), b->db);
    return id;
}

// Collects the DBSIZE replies of countTotal; the last one to arrive reports the sum, or 0 when
// any side could not count (memcached, an error, a failure).
struct CountState {
    int waiting = 0;
    uint64_t sum = 0;
    bool unknown = false;
    std::function<void(uint64_t)> done;
};

struct CountSink final : backend::ReplySink {
    std::shared_ptr<CountState> state;
    void complete(std::string_view raw, bool failed) override {
        long long n = 0;
        if (failed || !resp::integerValue(raw, n) || n < 0) state->unknown = true;
        else state->sum += static_cast<uint64_t>(n);
        if (--state->waiting == 0) state->done(state->unknown ? 0 : state->sum);
        delete this;
    }
};

struct ScanSink final : backend::ReplySink {
    std::shared_ptr<Backfill> owner;
    std::function<void(std::string_view, bool)> done;
    void complete(std::string_view raw, bool failed) override {
        done(raw, failed);
        delete this;
    }
};

}  // namespace

Backfill::Backfill(Options options, SyncHost& host, SyncEngine& engine, std::function<std::shared_ptr<const Snapshot>()> snapshot)
    : opt_(std::move(options)), host_(host), engine_(engine), snapshot_(std::move(snapshot)) {
    if (opt_.rate == 0) opt_.rate = 1;
}

void Backfill::start() {
    {
        std::lock_guard lock(mu_);
        started_ = std::chrono::steady_clock::now();
    }
    host_.post([self = shared_from_this()] { self->scanNext(); });
}

void Backfill::stop() {
    std::lock_guard lock(mu_);
    if (state_ == State::kRunning || state_ == State::kDraining) {
        state_ = State::kStopped;
        ended_ = std::chrono::steady_clock::now();
        log()->info("backfill of route '{}' stopped after {} keys", opt_.route, scanned_);
    }
}

bool Backfill::running() const {
    std::lock_guard lock(mu_);
    return state_ == State::kRunning || state_ == State::kDraining;
}

bool Backfill::resolve(SyncTask& task, std::string& why) {
    auto snap = snapshot_();
    for (const auto& r : snap->routes()) {
        if (r.name != opt_.route) continue;
        if (!r.strategy->backfillTask(task, why)) {
            why = fmt::format("route '{}' cannot be backfilled: {}", r.name, why);
            return false;
        }
        task.snapshot = snap;
        task.stats = r.stats.get();
        return true;
    }
    why = fmt::format("route '{}' is no longer in the configuration", opt_.route);
    return false;
}

void Backfill::finish(State state, std::string why) {
    std::lock_guard lock(mu_);
    if (state_ == State::kStopped) return;
    state_ = state;
    why_ = std::move(why);
    ended_ = std::chrono::steady_clock::now();
    if (state == State::kDone) log()->info("backfill of route '{}' done: {} keys scanned, {} copied, {} failed", opt_.route, scanned_, queued_ - tracker_->failed.load(), tracker_->failed.load());
    else log()->error("backfill of route '{}' failed after {} keys: {}", opt_.route, scanned_, why_);
}

void Backfill::scanNext() {
    if (!running()) return;
    SyncTask task;
    std::string why;
    if (!resolve(task, why)) return finish(State::kFailed, why);
    if (engine_.pending(task.pair) > kMaxPending) {  // let the engine catch up
        host_.postAfter(std::chrono::milliseconds(50), [self = shared_from_this()] { self->scanNext(); });
        return;
    }
    if (opt_.keys) return listNext(task);
    std::string match = opt_.match;
    if (match.empty()) {
        for (const auto& r : task.snapshot->routes())
            if (r.name == opt_.route && r.key_globs.size() == 1) match = r.key_globs[0];
    }
    std::string cursor;
    bool secondary;
    {
        std::lock_guard lock(mu_);
        cursor = cursor_;
        pair_ = task.pair;
        secondary = scanning_secondary_;
    }
    if (!counted_) {
        counted_ = true;
        countTotal(task, !match.empty());
    }
    {
        // A reload moved the route (a phase step flips the direction) or its backends: the count
        // was of something else.
        std::lock_guard lock(mu_);
        if (total_ > 0 && total_for_ != totalIdentity(task)) total_ = 0;
    }
    std::vector<std::string> words = {"SCAN", cursor, "COUNT", std::to_string(opt_.batch)};
    if (!match.empty()) words.insert(words.end(), {"MATCH", match});
    OwnedCommand scan(std::move(words));
    auto* sink = new ScanSink;
    auto self = shared_from_this();
    sink->done = [self, task](std::string_view raw, bool failed) {
        if (!self->running()) return;
        self->onScan(task, raw, failed);
    };
    Context ctx{host_.background(), host_.background(), SystemClock::instance(), *task.snapshot, &engine_, nullptr, task.stats};
    (secondary ? task.to : task.from)->execute(scan.request(), sink, ctx);
}

void Backfill::onScan(const SyncTask& task, std::string_view raw, bool failed) {
    std::string next;
    std::vector<std::string> keys;
    if (failed || resp::isError(raw) || !ScanReply(raw).parse(next, keys)) {
        int failures;
        {
            std::lock_guard lock(mu_);
            failures = ++scan_failures_;
        }
        std::string why(raw.substr(0, std::min<size_t>(raw.size(), 200)));
        while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
        if (failures >= kMaxScanFailures)
            return finish(State::kFailed, fmt::format("SCAN on the {} failed: {}", scanning_secondary_ ? "secondary" : "primary", why));
        log()->warn("backfill of route '{}': SCAN failed ({}), retrying", opt_.route, why);
        host_.postAfter(std::chrono::milliseconds(200 * failures), [self = shared_from_this()] { self->scanNext(); });
        return;
    }
    markBatch(task, keys, std::move(next));
}

void Backfill::listNext(const SyncTask& task) {
    const auto& all = *opt_.keys;
    size_t from;
    {
        std::lock_guard lock(mu_);
        pair_ = task.pair;
        from = list_pos_;
        if (!counted_) {  // the total is known exactly: the list
            counted_ = true;
            total_ = all.size();
            total_for_ = totalIdentity(task);
            total_upper_bound_ = false;
        }
    }
    size_t to = std::min(all.size(), from + opt_.batch);
    std::vector<std::string> batch(all.begin() + static_cast<std::ptrdiff_t>(from), all.begin() + static_cast<std::ptrdiff_t>(to));
    {
        std::lock_guard lock(mu_);
        list_pos_ = to;
    }
    markBatch(task, batch, to == all.size() ? "0" : "more");
}

void Backfill::markBatch(const SyncTask& task, const std::vector<std::string>& keys, std::string next) {
    // Only the keys this route owns: another route's keys follow that route's strategy.
    static const std::vector<std::string_view> kSet = {"set", "k", "v"};
    static const resp::CommandInfo* set = resp::lookupCommand(kSet);
    uint64_t marked = 0;
    for (const auto& k : keys) {
        const Route* r = task.snapshot->routeForKey(*set, k);
        if (!r || r->name != opt_.route) continue;
        engine_.markDirty(task, k, false, tracker_);
        ++marked;
    }
    {
        std::lock_guard lock(mu_);
        scanned_ += keys.size();
        queued_ += marked;
        cursor_ = next;
        scan_failures_ = 0;
        if (next == "0" && opt_.reconcile && !opt_.keys && !scanning_secondary_) {
            scanning_secondary_ = true;  // the same marks over the secondary's keys: extra ones get deleted
            next.clear();
        } else if (next == "0" && state_ == State::kRunning) {
            state_ = State::kDraining;
        }
    }
    if (next == "0") return drain();
    auto delay = std::chrono::milliseconds(keys.size() * 1000 / opt_.rate);
    host_.postAfter(delay, [self = shared_from_this()] { self->scanNext(); });
}

void Backfill::countTotal(const SyncTask& task, bool upper_bound) {
    auto state = std::make_shared<CountState>();
    std::vector<const Strategy*> sides = {task.from};
    if (opt_.reconcile) sides.push_back(task.to);
    state->waiting = static_cast<int>(sides.size());
    auto self = shared_from_this();
    auto id = totalIdentity(task);
    state->done = [self, id, upper_bound](uint64_t total) {
        std::lock_guard lock(self->mu_);
        self->total_ = total;
        self->total_for_ = id;
        self->total_upper_bound_ = upper_bound;
    };
    static const std::vector<std::string> kDbsize = {"DBSIZE"};
    Context ctx{host_.background(), host_.background(), SystemClock::instance(), *task.snapshot, &engine_, nullptr, task.stats};
    for (const auto* side : sides) {
        OwnedCommand dbsize(kDbsize);
        auto* sink = new CountSink;
        sink->state = state;
        side->execute(dbsize.request(), sink, ctx);
    }
}

// Every key is queued: done once the engine has copied each (writes through the proxy may keep the
// pair busy forever; they are the engine's, not the backfill's).
void Backfill::drain() {
    if (!running()) return;
    if (tracker_->left.load() == 0) return finish(State::kDone);
    host_.postAfter(std::chrono::milliseconds(100), [self = shared_from_this()] { self->drain(); });
}

namespace {
const char* const kStateNames[] = {"running", "draining", "done", "stopped", "failed"};
}

Backfill::Progress Backfill::progress() const {
    std::lock_guard lock(mu_);
    return {kStateNames[static_cast<int>(state_)], scanned_, queued_, tracker_->left.load(), tracker_->failed.load(), pair_, started_, opt_.reconcile, total_};
}

std::optional<ScanEstimate> estimateScan(uint64_t scanned, uint64_t total, double elapsed_seconds, bool complete) {
    if (total == 0) return std::nullopt;
    ScanEstimate e;
    if (complete) {
        e.percent = 100;
        return e;
    }
    // Integer arithmetic: 99.9% is not 100% while keys are left.
    e.percent = static_cast<int>(std::min<uint64_t>(99, scanned >= total ? 99 : scanned * 100 / total));
    if (scanned > 0 && scanned < total && elapsed_seconds > 0)
        e.eta_seconds = elapsed_seconds * static_cast<double>(total - scanned) / static_cast<double>(scanned);
    return e;
}

std::string describeScan(uint64_t scanned, uint64_t total, bool upper_bound, double elapsed_seconds, bool complete, bool running) {
    auto e = estimateScan(scanned, total, elapsed_seconds, complete);
    if (!e) return fmt::format("{} keys scanned", scanned);
    if (complete) return fmt::format("{} keys scanned (100%)", scanned);
    std::string eta = running && e->eta_seconds ? fmt::format(", ETA {:.0f} s", *e->eta_seconds) : std::string();
    return fmt::format("{} of {}{} keys scanned ({}%{})", scanned, upper_bound ? "~" : "", total, e->percent, eta);
}

std::string Backfill::status() const {
    std::lock_guard lock(mu_);
    auto end = state_ == State::kRunning || state_ == State::kDraining ? std::chrono::steady_clock::now() : ended_;
    double secs = std::chrono::duration<double>(end - started_).count();
    // The scan is complete once draining or done (the primary's, and with reconcile the secondary's).
    bool complete = state_ == State::kDraining || state_ == State::kDone;
    std::string scan = describeScan(scanned_, total_, total_upper_bound_, secs, complete, state_ == State::kRunning);
    std::string out = fmt::format("{}: {}, {} queued for copy, {} left to copy ({}), {:.0f} keys/s, {:.1f} s",
                                  kStateNames[static_cast<int>(state_)], scan, queued_, tracker_->left.load(),
                                  pair_.empty() ? "-" : pair_, secs > 0 ? static_cast<double>(scanned_) / secs : 0.0, secs);
    if (opt_.keys) out += fmt::format(", changed: the {} keys written in new_only", opt_.keys->size());
    else if (opt_.reconcile) out += scanning_secondary_ ? ", reconcile: the secondary's keys too" : ", reconcile: the secondary's keys next";
    if (uint64_t failed = tracker_->failed.load()) out += fmt::format(", {} failed (see the log)", failed);
    if (!why_.empty()) out += ": " + why_;
    return out;
}

}  // namespace laminar::policy
