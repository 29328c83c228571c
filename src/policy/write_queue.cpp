// SPDX-License-Identifier: Apache-2.0
#include "policy/write_queue.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <deque>

#include "obs/logging.h"
#include "policy/clock.h"
#include "policy/key_copy.h"
#include "policy/proxy.h"
#include "policy/snapshot.h"
#include "policy/sync_engine.h"
#include "queue/record.h"
#include "resp/writer.h"

namespace laminar::policy {
namespace {

using queue::Fsync;
using queue::Journal;
using queue::JournalOptions;
using queue::QueuedRecord;
using queue::Record;
using queue::decodeRecord;
using queue::encodeCommandRecord;
using queue::encodeKeysRecord;

constexpr size_t kWindow = 256;
constexpr auto kTick = std::chrono::milliseconds(100);

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("queue");
    return l;
}

Fsync fsyncOf(config::QueueConfig::Fsync f) {
    switch (f) {
        case config::QueueConfig::Fsync::kAlways: return Fsync::kAlways;
        case config::QueueConfig::Fsync::kEverySec: return Fsync::kEverySec;
        case config::QueueConfig::Fsync::kNo: return Fsync::kNo;
    }
    return Fsync::kEverySec;
}

std::string firstLine(std::string_view raw) {
    auto s = raw.substr(0, std::min<size_t>(raw.size(), 200));
    s = s.substr(0, s.find('\r'));
    return std::string(s);
}

}  // namespace

struct WriteQueue::Applier {
    std::string target;
    uint64_t read_to = 0;     // the last seq handed to the window
    uint64_t generation = 0;  // a failure starts a new one: late replies of the old are ignored
    struct Slot {
        uint64_t seq;
        bool done = false;
    };
    std::deque<Slot> window;
    bool keys_in_flight = false;
    bool backing_off = false;
    int failures = 0;
    std::string state = "ok";  // under state_mu_
    std::atomic<uint64_t> applied{0}, retries{0}, errors{0}, undelivered{0};
    std::multimap<uint64_t, std::function<void()>> waiters;  // for afterCommandsApplied: seq -> fn
    std::chrono::steady_clock::time_point last_error_log{};
    std::atomic<int64_t> lag_ms{0};           // age of its oldest unapplied record, refreshed each tick
    std::atomic<int64_t> canary_seen_ms{0};   // the newest canary read back from it (when it was queued)
    std::atomic<int64_t> canary_age_ms{0};
    std::atomic<bool> canary_stale{false};
};

// A canary read (rare): what to do with the reply, if the queue still exists.
namespace {
struct FnSink final : backend::ReplySink {
    std::shared_ptr<std::atomic<bool>> alive;
    std::function<void(std::string_view, bool)> done;
    void complete(std::string_view raw, bool failed) override {
        if (alive->load()) done(raw, failed);
        delete this;
    }
};
}  // namespace

// One queued command on its way to a target: no std::function, one allocation per record.
struct WriteQueue::ApplySink final : backend::ReplySink {
    WriteQueue* queue;
    std::shared_ptr<std::atomic<bool>> alive;
    Applier* applier;
    uint64_t generation, seq;
    void complete(std::string_view raw, bool failed) override {
        if (alive->load()) queue->applied(*applier, generation, seq, raw, failed);
        delete this;
    }
};

std::unique_ptr<WriteQueue> WriteQueue::open(const config::Config& cfg, SyncHost& host, SnapshotFn snapshot, std::string& error) {
    JournalOptions opt;
    opt.dir = cfg.queue.dir;
    opt.fsync = fsyncOf(cfg.queue.fsync);
    opt.max_bytes = cfg.queue.max_bytes;
    opt.segment_bytes = cfg.queue.segment_bytes;
    for (const auto& b : cfg.backends) opt.targets.push_back(b.name);
    auto journal = Journal::open(opt, error);
    if (!journal) return nullptr;
    std::unique_ptr<WriteQueue> q(new WriteQueue(cfg, std::move(journal), host, std::move(snapshot)));
    auto st = q->journal_->stats();
    log()->info("write queue open in {}: {} records not applied yet{}", cfg.queue.dir, st.last_seq - [&] {
        uint64_t low = st.last_seq;
        for (const auto& [t, s] : st.targets) low = std::min(low, s.acked);
        return low;
    }(), st.torn_bytes ? fmt::format(", {} bytes of a torn tail cut", st.torn_bytes) : std::string());
    q->host_.post([self = q.get(), alive = q->alive_] {
        if (alive->load()) self->tick();
    });
    return q;
}

WriteQueue::WriteQueue(const config::Config& cfg, std::unique_ptr<queue::Journal> journal, SyncHost& host, SnapshotFn snapshot)
    : cfg_(cfg.queue), journal_(std::move(journal)), host_(host), snapshot_(std::move(snapshot)) {
    for (const auto& t : journal_->options().targets) {
        auto a = std::make_unique<Applier>();
        a->target = t;
        a->read_to = journal_->acked(t);
        appliers_.push_back(std::move(a));
        // Command records already in the journal count: a synchronous write waits for them too.
        last_command_[t] = std::make_unique<std::atomic<uint64_t>>(journal_->lastSeq());
    }
}

WriteQueue::~WriteQueue() { alive_->store(false); }

bool WriteQueue::hasTarget(std::string_view backend) const { return last_command_.find(backend) != last_command_.end(); }

bool WriteQueue::hasRoom(uint64_t bytes) const { return journal_->backlogBytes() + bytes + 64 <= cfg_.max_bytes; }

uint64_t WriteQueue::appendCommand(std::span<const std::string> targets, std::string_view resp) {
    uint64_t seq = journal_->append(encodeCommandRecord(targets, resp));
    if (seq == 0) return 0;
    for (const auto& t : targets)
        if (auto it = last_command_.find(t); it != last_command_.end()) {
            auto& last = *it->second;
            uint64_t cur = last.load();
            while (cur < seq && !last.compare_exchange_weak(cur, seq)) {
            }
        }
    kick();
    return seq;
}

uint64_t WriteQueue::appendRanKeys(std::string_view from, std::span<const std::string> targets, std::span<const std::string_view> keys) {
    uint64_t seq = journal_->append(encodeKeysRecord(from, targets, keys), cfg_.max_bytes + cfg_.max_bytes / 4);
    if (seq) {
        kick();
        return seq;
    }
    for (const auto& t : targets)
        for (auto& a : appliers_)
            if (a->target == t) a->undelivered.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

namespace {
struct Batch {
    const WriteQueue* owner = nullptr;
    std::vector<std::string> records;
    std::vector<const std::vector<std::string>*> targets;
    std::vector<std::function<void(uint64_t)>> done;
};
thread_local Batch t_batch;
constexpr size_t kMaxBatch = 512;  // records per journal write (IOV_MAX / 2)
}  // namespace

void WriteQueue::appendCommandBatched(const std::vector<std::string>& targets, std::string resp, std::function<void(uint64_t)> done) {
    if (t_batch.owner != this) {
        flushBatch();
        t_batch.owner = this;
    }
    t_batch.records.push_back(encodeCommandRecord(targets, resp));
    t_batch.targets.push_back(&targets);
    t_batch.done.push_back(std::move(done));
    if (t_batch.records.size() >= kMaxBatch) flushBatch();
}

void WriteQueue::flushBatch() {
    if (t_batch.records.empty() || t_batch.owner != this) return;
    Batch b = std::move(t_batch);
    t_batch = Batch{};
    std::vector<std::string_view> views(b.records.begin(), b.records.end());
    uint64_t first = journal_->appendMany(views);
    if (first) {
        // Each target's newest command record: a batch usually carries one route's target list
        // many times, so each distinct list is looked up once, for its last record.
        std::vector<const std::vector<std::string>*> seen;
        for (size_t i = b.targets.size(); i-- > 0;) {
            if (std::find(seen.begin(), seen.end(), b.targets[i]) != seen.end()) continue;
            seen.push_back(b.targets[i]);
            for (const auto& t : *b.targets[i])
                if (auto it = last_command_.find(t); it != last_command_.end()) {
                    auto& last = *it->second;
                    uint64_t cur = last.load();
                    while (cur < first + i && !last.compare_exchange_weak(cur, first + i)) {
                    }
                }
        }
        kick();
    }
    for (size_t i = 0; i < b.done.size(); ++i) b.done[i](first ? first + i : 0);
}

void WriteQueue::whenDurable(uint64_t seq, std::function<void(bool)> fn) { journal_->whenDurable(seq, std::move(fn)); }

void WriteQueue::afterCommandsApplied(const std::string& target, std::function<void()> fn) {
    flushBatch();  // this thread's batched commands come before
    auto it = last_command_.find(target);
    if (it == last_command_.end()) return fn();
    uint64_t seq = it->second->load();
    if (journal_->acked(target) >= seq) return afterPersisted(target, seq, std::move(fn));
    host_.post([this, alive = alive_, target, seq, fn = std::move(fn)]() mutable {
        if (!alive->load()) return;
        Applier* a = applier(target);
        if (!a || journal_->acked(target) >= seq) return afterPersisted(target, seq, std::move(fn));
        a->waiters.emplace(seq, [this, target, seq, fn = std::move(fn)]() mutable { afterPersisted(target, seq, std::move(fn)); });
    });
}

// The write `fn` runs goes to `target` outside the journal: were the target's cursor on disk still
// before `seq`, a crash would replay those records over it (SET k v1, then DEL k directly: after
// the crash, k is back). So it waits for the cursor to be on disk. The journal failing first
// (false) runs it all the same: it can no longer be replayed either way, and the failure is logged.
void WriteQueue::afterPersisted(const std::string& target, uint64_t seq, std::function<void()> fn) {
    journal_->whenPersisted(target, seq, [this, alive = alive_, fn = std::move(fn)](bool) mutable {
        if (host_.isCurrentThread()) return fn();
        host_.post([alive, fn = std::move(fn)] {
            if (alive->load()) fn();
        });
    });
}

WriteQueue::Applier* WriteQueue::applier(const std::string& target) {
    for (auto& a : appliers_)
        if (a->target == target) return a.get();
    return nullptr;
}

void WriteQueue::kick() {
    if (kick_pending_.exchange(true)) return;
    host_.post([this, alive = alive_] {
        if (!alive->load()) return;
        kick_pending_.store(false);
        pumpAll();
    });
}

void WriteQueue::tick() {
    pumpAll();
    canaryTick();
    host_.postAfter(kTick, [this, alive = alive_] {
        if (alive->load()) tick();
    });
}

namespace {
int64_t unixMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

void WriteQueue::canaryTick() {
    auto st = journal_->stats();
    int64_t now = unixMillis();
    for (auto& a : appliers_) {
        auto it = st.targets.find(a->target);
        a->lag_ms.store(it != st.targets.end() && it->second.oldest_ms ? std::max<int64_t>(0, now - it->second.oldest_ms) : 0);
    }
    auto snap = snapshot_();
    if (!snap) return;
    const auto& cc = snap->config().canary;
    if (cc.every.count() == 0) {
        if (canaries_on_.exchange(false))
            for (auto& a : appliers_) a->canary_stale.store(false);
        return;
    }
    if (!canaries_on_.exchange(true)) {
        canaries_since_ms_ = now;
        next_canary_ = {};
    }
    for (auto& a : appliers_) {
        int64_t seen = a->canary_seen_ms.load();
        int64_t age = now - (seen ? seen : canaries_since_ms_);
        bool stale = age > cc.stale.count();
        a->canary_age_ms.store(age);
        if (stale != a->canary_stale.exchange(stale)) {
            if (stale) log()->warn("queue canary through '{}' is stale: the newest that came through was queued {:.1f} s ago", a->target, age / 1000.0);
            else log()->info("queue canary through '{}' is fresh again", a->target);
        }
    }
    auto steady = std::chrono::steady_clock::now();
    if (steady < next_canary_) return;
    next_canary_ = steady + cc.every;
    for (auto& a : appliers_) {
        int idx = snap->config().backendIndex(a->target);
        if (idx < 0) continue;
        std::string key = "laminar:canary:queue:" + a->target;
        // Read back what came through so far, then queue the next one.
        std::string get;
        resp::appendCommand(get, {"GET", key});
        auto* sink = new FnSink;
        sink->alive = alive_;
        Applier* ap = a.get();
        sink->done = [ap](std::string_view raw, bool failed) {
            // "$13\r\n1800000000000\r\n"
            if (failed || raw.size() < 4 || raw[0] != '$') return;
            auto body = raw.substr(raw.find('\n') + 1);
            int64_t ms = 0;
            for (char ch : body.substr(0, body.find('\r'))) {
                if (ch < '0' || ch > '9') return;
                ms = ms * 10 + (ch - '0');
            }
            int64_t cur = ap->canary_seen_ms.load();
            while (ms > cur && !ap->canary_seen_ms.compare_exchange_weak(cur, ms)) {
            }
        };
        host_.background().send(idx, get, sink);
        std::string set;
        std::string stamp = std::to_string(now), at = std::to_string(now + cc.ttl.count());
        resp::appendCommand(set, {"SET", key, stamp, "PXAT", at});
        std::vector<std::string> target = {a->target};
        appendCommand(target, set);
    }
}

std::map<std::string, WriteQueue::Canary> WriteQueue::canaries() const {
    std::map<std::string, Canary> out;
    if (!canaries_on_.load()) return out;
    for (const auto& a : appliers_) out[a->target] = {a->canary_stale.load(), static_cast<double>(a->canary_age_ms.load()) / 1000.0};
    return out;
}

bool WriteQueue::canaryStale(std::string_view target) const {
    for (const auto& a : appliers_)
        if (a->target == target) return a->canary_stale.load();
    return true;  // not a queue target: nothing comes through
}

double WriteQueue::lagSeconds(std::string_view target) const {
    for (const auto& a : appliers_)
        if (a->target == target) return static_cast<double>(a->lag_ms.load()) / 1000.0;
    return 0;
}

void WriteQueue::pumpAll() {
    for (auto& a : appliers_) pump(*a);
}

void WriteQueue::pump(Applier& a) {
    if (a.backing_off || a.keys_in_flight || a.window.size() >= kWindow) return;
    auto snap = snapshot_();
    int target = snap ? snap->config().backendIndex(a.target) : -1;
    std::vector<Record> records;
    const uint64_t generation = a.generation;
    while (!a.backing_off && !a.keys_in_flight && a.window.size() < kWindow) {
        records.clear();
        if (!journal_->read(a.target, a.read_to, kWindow - a.window.size(), records) || records.empty()) break;
        bool stop = false;
        for (auto& rec : records) {
            if (rec.lost) {  // damaged at open (the journal logged and counted them): skipped
                a.read_to = rec.seq;
                a.window.push_back({rec.seq, true});
                continue;
            }
            auto r = decodeRecord(rec.data);
            if (!r || !r->addressedTo(a.target)) {
                if (!r) {
                    a.errors.fetch_add(1, std::memory_order_relaxed);
                    log()->error("queue record {} is not one laminar wrote: skipped", rec.seq);
                }
                a.read_to = rec.seq;
                a.window.push_back({rec.seq, true});
                continue;
            }
            if (target < 0) {  // the backend left the configuration: its records wait for it
                failed(a, "not in the configuration");
                return;
            }
            if (r->kind == QueuedRecord::Kind::kKeys) {
                bool busy = false;
                for (const auto& s : a.window) busy = busy || !s.done;
                if (busy) {  // a key copy waits for every command sent before it
                    stop = true;
                    break;
                }
                a.read_to = rec.seq;
                a.window.push_back({rec.seq});
                a.keys_in_flight = true;
                std::vector<std::string> keys(r->keys.begin(), r->keys.end());
                copyKeys(a, rec.seq, std::string(r->from), std::move(keys));
                stop = true;
                break;
            }
            a.read_to = rec.seq;
            a.window.push_back({rec.seq});
            auto* sink = new ApplySink;
            sink->queue = this;
            sink->alive = alive_;
            sink->applier = &a;
            sink->generation = a.generation;
            sink->seq = rec.seq;
            host_.background().send(target, r->command, sink);
            // A connection that is down fails the record at once: the applier is backing off now,
            // and the records read after it wait for the retry. (Going on here once failed every
            // later record too, each scheduling a retry of its own: a spin that grew without end.)
            if (a.generation != generation) return;
        }
        if (stop) break;
    }
    settle(a);
}

void WriteQueue::applied(Applier& a, uint64_t generation, uint64_t seq, std::string_view raw, bool failure) {
    if (a.generation != generation) return;
    if (failure) return failed(a, firstLine(raw));
    if (!raw.empty() && raw[0] == '-') {
        a.errors.fetch_add(1, std::memory_order_relaxed);
        auto now = std::chrono::steady_clock::now();
        if (now - a.last_error_log > std::chrono::seconds(1)) {
            a.last_error_log = now;
            log()->error("queue record {} refused by '{}': {}", seq, a.target, firstLine(raw));
        }
    }
    markDone(a, seq);
    a.applied.fetch_add(1, std::memory_order_relaxed);
    settle(a);
    // Refill once half the window is free: one journal read brings many records back, rather
    // than one read per reply.
    if (a.window.size() <= kWindow / 2) pump(a);
}

void WriteQueue::copyKeys(Applier& a, uint64_t seq, const std::string& from, std::vector<std::string> keys) {
    auto snap = snapshot_();
    int src = snap->config().backendIndex(from), dst = snap->config().backendIndex(a.target);
    if (src < 0 || dst < 0) return failed(a, fmt::format("'{}' is not in the configuration", src < 0 ? from : a.target));
    struct Job {
        std::shared_ptr<const Snapshot> snap;
        Proxy from, to;
        size_t left;
        bool ok = true;
        std::string why;
    };
    auto job = std::make_shared<Job>(Job{snap, Proxy(src, from), Proxy(dst, a.target), keys.size(), true, {}});
    uint64_t gen = a.generation;
    Applier* ap = &a;
    auto one = [this, ap, gen, seq, job, alive = alive_](bool ok, std::string_view why) {
        if (!alive->load() || ap->generation != gen) return;
        if (!ok && job->ok) {
            job->ok = false;
            job->why = std::string(why);
        }
        if (--job->left > 0) return;
        ap->keys_in_flight = false;
        if (!job->ok) return failed(*ap, job->why);
        markDone(*ap, seq);
        ap->applied.fetch_add(1, std::memory_order_relaxed);
        settle(*ap);
        pump(*ap);
    };
    if (keys.empty()) {
        job->left = 1;
        return one(true, {});
    }
    Context ctx{host_.background(), host_.background(), SystemClock::instance(), *snap, nullptr, nullptr, nullptr};
    for (const auto& k : keys) copyKey(k, job->from, job->to, true, ctx, one);
}

// The window holds consecutive seqs (every record read is added, addressed to the target or not),
// unless the journal skipped records it no longer has.
void WriteQueue::markDone(Applier& a, uint64_t seq) {
    if (a.window.empty() || seq < a.window.front().seq) return;
    size_t i = static_cast<size_t>(seq - a.window.front().seq);
    if (i < a.window.size() && a.window[i].seq == seq) {
        a.window[i].done = true;
        return;
    }
    for (auto& s : a.window)  // a gap (records lost before they were read): search
        if (s.seq == seq) s.done = true;
}

void WriteQueue::settle(Applier& a) {
    uint64_t last = 0;
    while (!a.window.empty() && a.window.front().done) {
        last = a.window.front().seq;
        a.window.pop_front();
    }
    if (last == 0) return;
    journal_->ack(a.target, last);
    if (a.failures) {
        a.failures = 0;
        std::lock_guard lock(state_mu_);
        a.state = "ok";
        log()->info("queue target '{}' applies again", a.target);
    }
    while (!a.waiters.empty() && a.waiters.begin()->first <= last) {
        auto fn = std::move(a.waiters.begin()->second);
        a.waiters.erase(a.waiters.begin());
        fn();
    }
}

void WriteQueue::failed(Applier& a, std::string why) {
    if (a.backing_off) return;  // one retry at a time: what failed since belongs to the same outage
    ++a.generation;
    a.window.clear();
    a.keys_in_flight = false;
    a.read_to = journal_->acked(a.target);
    a.backing_off = true;
    a.retries.fetch_add(1, std::memory_order_relaxed);
    auto delay = std::min(std::chrono::milliseconds(100 << std::min(a.failures, 6)), std::chrono::milliseconds(5000));
    if (a.failures++ == 0) log()->warn("queue target '{}' failed ({}): retrying from record {}", a.target, why, a.read_to + 1);
    {
        std::lock_guard lock(state_mu_);
        a.state = "retrying: " + why;
    }
    host_.postAfter(delay, [this, ap = &a, alive = alive_] {
        if (!alive->load()) return;
        ap->backing_off = false;
        pump(*ap);
    });
}

WriteQueue::Status WriteQueue::status() const {
    auto st = journal_->stats();
    Status out;
    out.appended = st.appended;
    out.lost_records = st.lost_records;
    out.damage = st.damage;
    // Writes refused (countReject), not the journal's refused appends: one refused ack: queued
    // write is two of those (its batch, then its retry), and a write when_full: sync ran anyway.
    out.rejected = rejected_.load(std::memory_order_relaxed);
    out.fsyncs = st.fsyncs;
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::lock_guard lock(state_mu_);
    for (const auto& a : appliers_) {
        TargetStatus t;
        if (auto it = st.targets.find(a->target); it != st.targets.end()) {
            t.records = it->second.records;
            t.bytes = it->second.bytes;
            t.lag_seconds = it->second.oldest_ms ? std::max<double>(0, static_cast<double>(now_ms - it->second.oldest_ms) / 1000.0) : 0;
        }
        t.applied = a->applied.load(std::memory_order_relaxed);
        t.retries = a->retries.load(std::memory_order_relaxed);
        t.errors = a->errors.load(std::memory_order_relaxed);
        t.undelivered = a->undelivered.load(std::memory_order_relaxed);
        t.state = a->state;
        if (t.undelivered)
            t.state += fmt::format("; missed {} writes that ran on the primary while the queue was full (copy their keys: laminar copy, or a backfill)",
                                   t.undelivered);
        out.records = std::max(out.records, t.records);
        out.bytes = std::max(out.bytes, t.bytes);
        out.lag_seconds = std::max(out.lag_seconds, t.lag_seconds);
        out.targets.emplace(a->target, std::move(t));
    }
    return out;
}

std::string WriteQueue::summary() const {
    auto st = status();
    std::string out = fmt::format("{} records ({} bytes) behind, lag {:.1f} s, {} appended, {} rejected", st.records, st.bytes, st.lag_seconds,
                                  st.appended, st.rejected);
    if (auto why = error(); !why.empty()) out += fmt::format("; CANNOT WRITE: {}", why);
    if (st.lost_records) {
        out += fmt::format("; DAMAGED: {} records lost at open (their writes never reach the targets; every key is in lost-keys.txt "
                           "in the queue's directory, when the damage tells)",
                           st.lost_records);
        constexpr size_t kShown = 3;
        for (size_t i = 0; i < st.damage.size() && i < kShown; ++i) out += "; " + st.damage[i];
        if (st.damage.size() > kShown) out += fmt::format("; and {} more damaged places (see the log)", st.damage.size() - kShown);
    }
    auto canary = canaries();
    for (const auto& [name, t] : st.targets) {
        auto c = canary.find(name);
        if (t.records == 0 && t.applied == 0 && t.state == "ok" && c == canary.end()) continue;
        out += fmt::format("; {}: {} behind, {} applied, {} errors, {}", name, t.records, t.applied, t.errors, t.state);
        if (c != canary.end()) out += fmt::format(", canary {} ({:.1f} s old)", c->second.stale ? "stale" : "fresh", c->second.age_seconds);
    }
    return out;
}

}  // namespace laminar::policy
