// SPDX-License-Identifier: Apache-2.0
#include "policy/sync_engine.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <utility>
#include <xxhash.h>

#include "backend/backend.h"
#include "obs/logging.h"
#include "policy/clock.h"
#include "policy/key_copy.h"
#include "policy/route_stats.h"
#include "policy/snapshot.h"

namespace laminar::policy {
namespace {
constexpr int kMaxAttempts = 5;

// For a task built without a snapshot (unit tests of strategies): every backend up.
struct AllUp final : Health {
    State state(int) const override { return State::kUp; }
    double p99Millis(int) const override { return 0; }
};
const AllUp kAllUp;

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("sync");
    return l;
}
}  // namespace

namespace {
std::atomic<uint64_t> g_engines{0};
}

SyncEngine::SyncEngine(std::vector<SyncHost*> hosts, size_t shards_per_host) : hosts_(std::move(hosts)), id_(++g_engines) {
    size_t n = std::max<size_t>(1, hosts_.size() * shards_per_host);
    for (size_t i = 0; i < n; ++i) {
        shards_.push_back(std::make_unique<Shard>());
        shards_.back()->host = hosts_[i % hosts_.size()];
    }
}

SyncEngine::~SyncEngine() { alive_->store(false); }

// Every write of a route that syncs counts here, so the last counter a thread used is kept at hand
// (counters are never removed, so the pointer stays good for the engine's life).
std::atomic<int64_t>& SyncEngine::counter(const std::string& pair) const {
    struct Last {
        uint64_t engine = 0;
        std::string pair;
        std::atomic<int64_t>* counter = nullptr;
    };
    thread_local Last last;
    if (last.engine == id_ && last.pair == pair) return *last.counter;
    std::lock_guard lock(counters_mu_);
    auto& c = counters_[pair];
    if (!c) c = std::make_unique<std::atomic<int64_t>>(0);
    last = {id_, pair, c.get()};
    return *c;
}

int64_t SyncEngine::pending(const std::string& pair) const {
    {
        std::lock_guard lock(counters_mu_);
        if (!counters_.count(pair)) return 0;
    }
    return counter(pair).load();
}

// A key is counted under the direction of the copy it waits for: re-tasked to another direction
// (a phase flip), its count moves with it, so the barrier of that direction sees it.
void SyncEngine::recount(Entry& e) {
    if (e.counted_pair == e.task.pair) return;
    counter(e.counted_pair).fetch_sub(1);
    counter(e.task.pair).fetch_add(1);
    e.counted_pair = e.task.pair;
}

int64_t SyncEngine::pendingTotal() const {
    std::lock_guard lock(counters_mu_);
    int64_t total = 0;
    for (const auto& [pair, c] : counters_) total += c->load();
    return total;
}

uint64_t SyncEngine::hashOf(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

void SyncEngine::markDirty(const SyncTask& task, std::string_view key, bool reserved, std::shared_ptr<SyncTracker> tracker, bool ahead) {
    if (!reserved) counter(task.pair).fetch_add(1);
    if (tracker) tracker->left.fetch_add(1);
    Shard& shard = shardOf(key);
    if (shard.host->isCurrentThread()) {
        enqueue(shard, task, std::string(key), std::move(tracker), {}, ahead);
        return;
    }
    shard.host->post([this, &shard, task, k = std::string(key), tracker = std::move(tracker), ahead, alive = alive_] {
        if (alive->load()) enqueue(shard, task, k, tracker, {}, ahead);
    });
}

void SyncEngine::enqueue(Shard& shard, const SyncTask& task, std::string key, std::shared_ptr<SyncTracker> tracker,
                         std::chrono::steady_clock::time_point owed_since, bool ahead) {
    auto [it, inserted] = shard.keys.try_emplace(key);
    Entry& e = it->second;
    if (tracker) e.waiting.push_back(std::move(tracker));
    if (ahead) {
        auto u = std::find_if(e.units.begin(), e.units.end(), [&](const auto& p) { return p.first == task.pair; });
        if (u == e.units.end()) e.units.emplace_back(task.pair, 1);
        else ++u->second;
    }
    if (owed_since != std::chrono::steady_clock::time_point{}) {
        // Restored: restore() counted it in the backlog already, unless the key got there first.
        if (e.backlog_pair.empty()) {
            e.backlog_pair = task.pair;
            e.backlog_since = owed_since;
        } else {
            std::lock_guard lock(backlog_mu_);
            auto& times = backlog_[task.pair];
            if (auto t = times.find(owed_since); t != times.end()) times.erase(t);
        }
    }
    if (!inserted) {
        // Already queued: the copy that will run reads the newest state anyway. In flight: run
        // again afterwards, under the newest task (a reload may have changed the strategies).
        counter(task.pair).fetch_sub(1);  // the unit this call brought: the key is counted once
        e.task = task;
        if (e.in_flight) e.again = true;
        else recount(e);
        return;
    }
    e.task = task;
    e.counted_pair = task.pair;  // keeps the unit this call brought
    queued_total_.fetch_add(1, std::memory_order_relaxed);
    if (uint32_t bucket = bucketOf(hashOf(key)); shard.forwarding.test(bucket)) {
        // A forwarded write of this key (or of one sharing its bucket) is out: copied once it is
        // done on both sides, so that the copy reads the primary after it.
        e.parked = true;
        shard.parked.emplace_back(bucket, std::move(key));
        return;
    }
    shard.queue.push_back(std::move(key));
    pump(shard);
}

bool SyncEngine::claimForward(std::span<const std::string_view> argv, std::span<const int> keys, std::span<Claim> out) {
    if (keys.empty() || out.size() < keys.size()) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
        std::string_view key = argv[static_cast<size_t>(keys[i])];
        uint64_t hash = hashOf(key);
        Shard& shard = shardOf(hash);
        uint32_t bucket = bucketOf(hash);
        if (!shard.host->isCurrentThread() || shard.forwarding.test(bucket) || (!shard.keys.empty() && shard.keys.find(key) != shard.keys.end()))
            return false;
        for (size_t j = 0; j < i; ++j)
            if (out[j].shard_ == &shard && out[j].bucket_ == bucket) return false;  // MSET k a k b: one bucket, one write
        out[i].shard_ = &shard;
        out[i].bucket_ = bucket;
    }
    for (size_t i = 0; i < keys.size(); ++i) static_cast<Shard*>(out[i].shard_)->forwarding.set(out[i].bucket_);
    return true;
}

void SyncEngine::forwarded(const Claim& claim, std::string_view key, const std::string& pair, std::atomic<int64_t>& counter,
                           RouteStats* stats, bool ahead) {
    if (stats) RouteStats::add(stats->syncs);
    counter.fetch_sub(1);
    if (ahead && ledger_) ledger_->settled(pair, key, 1);
    Shard& shard = *static_cast<Shard*>(claim.shard_);
    shard.forwarding.reset(claim.bucket_);
    if (!shard.parked.empty()) settleForward(shard, claim.bucket_);
}

void SyncEngine::notForwarded(const Claim& claim, std::string_view key, const SyncTask& task, bool ahead) {
    Shard& shard = *static_cast<Shard*>(claim.shard_);
    shard.forwarding.reset(claim.bucket_);  // first, so that the key is queued, not parked
    enqueue(shard, task, std::string(key), nullptr, {}, ahead);
    if (!shard.parked.empty()) settleForward(shard, claim.bucket_);
}

// The forwarded write of `bucket` is done (its bit cleared): the keys parked behind it are copied now.
void SyncEngine::settleForward(Shard& shard, uint32_t bucket) {
    bool moved = false;
    std::erase_if(shard.parked, [&](auto& parked) {
        if (parked.first != bucket) return false;
        if (auto it = shard.keys.find(parked.second); it != shard.keys.end() && it->second.parked) {
            it->second.parked = false;
            shard.queue.push_back(std::move(parked.second));
            moved = true;
        }
        return true;
    });
    if (moved) pump(shard);
}

namespace {
// Whether `task`, made under an older configuration, still sends to the same backends: background
// work is dispatched by index into the thread's current backends.
bool stillAddresses(const SyncTask& task, const Snapshot& now) {
    const auto& then = task.snapshot->config().backends;
    const auto& cur = now.config().backends;
    for (int b : {task.from->pinTarget(), task.to->pinTarget()}) {
        auto i = static_cast<size_t>(b);
        if (b < 0 || i >= then.size() || i >= cur.size() || then[i].name != cur[i].name) return false;
    }
    return true;
}

// The task that copies `pair` in `now`: the first route whose backfill direction it is.
bool retask(SyncTask& task, const std::shared_ptr<const Snapshot>& now) {
    for (const auto& r : now->routes()) {
        SyncTask t;
        std::string why;
        if (!r.strategy->backfillTask(t, why) || t.pair != task.pair) continue;
        t.snapshot = now;
        t.stats = r.stats.get();
        task = std::move(t);
        return true;
    }
    return false;
}
}  // namespace

// A key queued under an older configuration whose backends moved or went: copied under the current
// one when it still copies that direction, else dropped with a log line (the flip guardrails
// refuse such a reload while keys wait in the backlog; forced, a reconciling backfill repairs it).
bool SyncEngine::revalidate(Shard& shard, const std::string& key, Entry& e) {
    auto now = shard.host->currentSnapshot();
    if (!now || !e.task.snapshot || e.task.snapshot == now || stillAddresses(e.task, *now)) return true;
    if (retask(e.task, now)) return true;
    log()->warn("sync {}: key '{}' not copied: the configuration no longer has that direction or its backends (run a reconciling "
                "backfill if it mattered)",
                e.task.pair, std::string_view(key).substr(0, 100));
    return false;
}

bool SyncEngine::restore(const std::shared_ptr<const Snapshot>& now, const std::string& pair, std::string_view key) {
    SyncTask task;
    task.pair = pair;
    if (!retask(task, now)) return false;
    auto since = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(backlog_mu_);
        backlog_[pair].insert(since);
    }
    counter(pair).fetch_add(1);
    Shard& shard = shardOf(key);
    shard.host->post([this, &shard, task = std::move(task), k = std::string(key), since, alive = alive_] {
        if (alive->load()) enqueue(shard, task, k, nullptr, since);
    });
    return true;
}

std::vector<std::pair<std::string, std::string>> SyncEngine::heldKeys() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& shard : shards_)
        for (const auto& [key, e] : shard->keys) out.emplace_back(e.task.pair, key);
    return out;
}

void SyncEngine::pump(Shard& shard) {
    while (!shard.busy && !shard.queue.empty()) {
        std::string key = std::move(shard.queue.front());
        shard.queue.pop_front();
        auto it = shard.keys.find(key);
        if (it == shard.keys.end()) continue;
        Entry& e = it->second;
        if (!revalidate(shard, key, e)) {
            // Its marks are answered as given up on; its pending unit goes with it.
            for (auto* list : {&e.waiting, &e.running})
                for (auto& t : *list) {
                    t->failed.fetch_add(1);
                    t->left.fetch_sub(1);
                }
            counter(e.counted_pair).fetch_sub(1);
            release(key, e);
            shard.keys.erase(it);
            continue;
        }
        e.in_flight = true;
        e.again = false;
        e.running.insert(e.running.end(), e.waiting.begin(), e.waiting.end());
        e.waiting.clear();
        shard.busy = true;
        const Health& health = e.task.snapshot ? static_cast<const Health&>(*e.task.snapshot) : kAllUp;
        Context ctx{shard.host->background(), shard.host->background(), SystemClock::instance(), health, this, nullptr, e.task.stats};
        auto alive = alive_;
        Shard* sp = &shard;
        // The copy keeps its own reference to the snapshot: a reload may re-task the key (and
        // drop the entry's) while this copy still runs on the old strategies.
        auto keep = e.task.snapshot;
        copyKey(key, *e.task.from, *e.task.to, true, ctx, [this, sp, key, alive, keep](bool ok, std::string_view why) {
            if (alive->load()) finished(*sp, key, ok, why);
        });
    }
}

// The ledger hears of a key after the backlog counts it, and after the backlog lets it go: the
// ledger may drop its whole record whenever the backlog is empty (MigrationState::flush).
void SyncEngine::enterBacklog(const std::string& key, Entry& e) {
    if (!e.backlog_pair.empty()) return;
    e.backlog_pair = e.task.pair;
    e.backlog_since = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(backlog_mu_);
        backlog_[e.backlog_pair].insert(e.backlog_since);
    }
    if (ledger_) ledger_->owe(e.backlog_pair, key);
}

void SyncEngine::leaveBacklog(const std::string& key, Entry& e) {
    if (e.backlog_pair.empty()) return;
    bool drained = false;
    {
        std::lock_guard lock(backlog_mu_);
        auto& times = backlog_[e.backlog_pair];
        if (auto it = times.find(e.backlog_since); it != times.end()) times.erase(it);
        drained = times.empty();
        if (drained) backlog_.erase(e.backlog_pair);
    }
    if (ledger_) ledger_->paid(e.backlog_pair, key);
    if (drained) log()->info("sync {}: backlog drained, every key that failed to copy is copied", e.backlog_pair);
    e.backlog_pair.clear();
}

void SyncEngine::release(const std::string& key, Entry& e) {
    leaveBacklog(key, e);
    if (ledger_)
        for (const auto& [pair, n] : e.units) ledger_->settled(pair, key, n);
    e.units.clear();
}

SyncEngine::Backlog SyncEngine::backlog(const std::string& pair) const {
    std::lock_guard lock(backlog_mu_);
    auto it = backlog_.find(pair);
    if (it == backlog_.end() || it->second.empty()) return {};
    return {static_cast<int64_t>(it->second.size()),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - *it->second.begin()).count()};
}

std::vector<std::pair<std::string, SyncEngine::Backlog>> SyncEngine::backlogs() const {
    std::vector<std::string> pairs;
    {
        std::lock_guard lock(backlog_mu_);
        for (const auto& [pair, times] : backlog_) pairs.push_back(pair);
    }
    std::sort(pairs.begin(), pairs.end());
    std::vector<std::pair<std::string, Backlog>> out;
    for (auto& p : pairs)
        if (auto b = backlog(p); b.keys > 0) out.emplace_back(std::move(p), b);
    return out;
}

std::vector<std::string> SyncEngine::takeFailureSummary(std::chrono::seconds period) {
    std::map<std::string, FailureCounts> counts;
    {
        std::lock_guard lock(backlog_mu_);
        counts.swap(failures_since_);
    }
    std::vector<std::string> out;
    for (const auto& [pair, c] : counts) {
        auto b = backlog(pair);
        out.push_back(fmt::format("sync {}: in the last {} s, {} copies failed for a side that was away and will be retried, {} copies "
                                  "were refused by the other side (retried with backoff up to {} s); backlog {} keys, oldest {:.1f} s",
                                  pair, period.count(), c.retried, c.refused, kRefusedRetry.count() / 1000, b.keys, b.oldest_seconds));
    }
    return out;
}

// At most one line a second over every shard, with the key; the lines held back are counted.
void SyncEngine::logFailure(const std::string& key, const Entry& e, bool transient, std::chrono::milliseconds retry,
                            std::string_view why) {
    uint64_t held = 0;
    {
        std::lock_guard lock(backlog_mu_);
        auto& counts = failures_since_[e.task.pair];
        ++(transient ? counts.retried : counts.refused);
        auto now = std::chrono::steady_clock::now();
        if (now - last_log_ < std::chrono::seconds(1)) {
            ++held_back_;
            return;
        }
        last_log_ = now;
        held = std::exchange(held_back_, 0);
    }
    std::string more = held ? fmt::format(" ({} more failure lines held back in the last second)", held) : std::string();
    std::string_view shown = why.substr(0, why.find_first_of("\r\n"));
    std::string_view k = std::string_view(key).substr(0, 100);
    if (transient) {
        auto b = backlog(e.task.pair);
        log()->warn("sync {}: copy of key '{}' failed, retrying in {} ms; backlog {} keys, oldest {:.1f} s: {}{}", e.task.pair, k,
                    retry.count(), b.keys, b.oldest_seconds, shown, more);
    } else {
        log()->error("sync {}: key '{}' refused by the other side ({} tries so far), kept in the backlog and retried in {} ms (at "
                     "most every {} s); the next phase waits for it: {}{}",
                     e.task.pair, k, e.attempts, retry.count(), kRefusedRetry.count() / 1000, shown, more);
    }
}

void SyncEngine::finished(Shard& shard, const std::string& key, bool ok, std::string_view why) {
    shard.busy = false;
    auto it = shard.keys.find(key);
    if (it == shard.keys.end()) {
        pump(shard);
        return;
    }
    Entry& e = it->second;
    e.in_flight = false;
    RouteStats* stats = e.task.stats;
    // The marks this copy answers: copied, refused, or carried to the next copy.
    auto settle = [&e](bool copied) {
        for (auto& t : e.running) {
            if (!copied) t->failed.fetch_add(1);
            t->left.fetch_sub(1);
        }
        e.running.clear();
    };
    const bool transient = !ok && backend::isTransientError(why);
    if (ok) {
        if (stats) RouteStats::add(stats->syncs);
        if (e.refused) log()->info("sync {}: key '{}' copied after the other side had refused it", e.task.pair, std::string_view(key).substr(0, 100));
        e.attempts = 0;
        e.refused = false;
        leaveBacklog(key, e);
        settle(true);
    } else if (!e.again) {
        // Retried after a backoff, for as long as it takes; the key stays counted as pending
        // meanwhile. A side that is away enters the backlog at once; a refusal does after
        // kMaxAttempts tries, is counted as a sync failure then, and its marks are answered as
        // failed (a backfill or MULTI waiting on it goes on), but the key is never given up.
        std::chrono::milliseconds delay;
        if (transient) {
            e.attempts = std::min(e.attempts + 1, 16);
            enterBacklog(key, e);
            delay = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50LL << e.attempts), kMaxBackoff);
            logFailure(key, e, true, delay, why);
        } else if (e.refused || ++e.attempts >= kMaxAttempts) {
            // Backing off to kRefusedRetry: a cause fixed soon (OOM, say) is followed soon.
            if (e.refused) e.attempts = std::min(e.attempts + 1, 16);
            delay = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50LL << e.attempts), kRefusedRetry);
            if (!e.refused) {
                e.refused = true;
                if (stats) RouteStats::add(stats->sync_failures);
                settle(false);
            }
            enterBacklog(key, e);
            logFailure(key, e, false, delay, why);
        } else {
            delay = std::chrono::milliseconds(50LL << e.attempts);
        }
        auto alive = alive_;
        Shard* sp = &shard;
        shard.host->postAfter(delay, [this, sp, key, alive] {
            if (!alive->load()) return;
            sp->queue.push_back(key);
            pump(*sp);
        });
        pump(shard);
        return;
    } else if (transient || e.refused) {
        enterBacklog(key, e);  // copied again at once (the key was written meanwhile); still owed
    }
    if (e.again) {
        e.again = false;
        e.waiting.insert(e.waiting.end(), e.running.begin(), e.running.end());  // a failed copy: the next one answers
        e.running.clear();
        recount(e);
        shard.queue.push_back(key);
    } else {
        counter(e.counted_pair).fetch_sub(1);
        release(key, e);
        shard.keys.erase(it);
    }
    pump(shard);
}

}  // namespace laminar::policy
