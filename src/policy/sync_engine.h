// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <bitset>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/strategy.h"

namespace laminar::policy {

// One I/O thread as the sync engine uses it (net::Worker implements it).
class SyncHost {
public:
    virtual ~SyncHost() = default;
    virtual bool isCurrentThread() const = 0;
    virtual void post(std::function<void()> fn) = 0;
    virtual void postAfter(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
    // This thread's connections, for work that belongs to no client.
    virtual Dispatch& background() = 0;
    // The configuration this thread routes with now (null in unit tests without one): a copy
    // made under an older one checks that its backends are still where it will send.
    virtual std::shared_ptr<const Snapshot> currentSnapshot() const { return nullptr; }
    // A route's reads went elsewhere with no reload (a condition's value changed): what clients
    // cached (CLIENT TRACKING) may no longer be what a read returns.
    virtual void readsMoved() {}
};

// Where the engine writes down the keys it owes a side while that side is away, so that they
// outlive a restart (MigrationState keeps them on disk). Called from any I/O thread: owe() after
// the key entered the backlog, paid() after it left.
class SyncLedger {
public:
    virtual ~SyncLedger() = default;
    virtual void owe(const std::string& pair, std::string_view key) = 0;
    virtual void paid(const std::string& pair, std::string_view key) = 0;
    // Write-ahead: a write of `key` is about to be sent, so its copy `pair` is owed from now until
    // settled() pays the units the engine's entry for the key absorbed (one per such write).
    virtual void ahead(const std::string& pair, std::string_view key) {
        (void)pair;
        (void)key;
    }
    virtual void settled(const std::string& pair, std::string_view key, int64_t units) {
        (void)pair;
        (void)key;
        (void)units;
    }
    // A write changed `key` of `route` on one side only (new_only): the keys a step back copies.
    virtual void changed(const std::string& route, std::string_view key) = 0;
};

// What a key sync copies, and how: from the side reads are served from to the other.
struct SyncTask {
    std::shared_ptr<const Snapshot> snapshot;  // keeps the strategies and health alive
    const Strategy* from = nullptr;
    const Strategy* to = nullptr;
    RouteStats* stats = nullptr;
    std::string pair;  // "old>new": backend names, for the flip barrier's pending count
};

// The keys one caller (an online backfill) marked dirty that are not copied yet: `left` drops when
// a copy that read the key after the mark has finished, `failed` counts those the other side
// refused (the engine keeps retrying them in the backlog).
struct SyncTracker {
    std::atomic<int64_t> left{0};
    std::atomic<uint64_t> failed{0};
};

// Keeps a secondary identical to a primary by copying each written key's state, one key at a time
// (docs/design.md: hazards 1 to 5 and how each is removed).
//
//  1. markDirty(task, key) after a write was applied on the primary. The key's state is read from
//     the primary (DUMP + PTTL) *after* that write, and the secondary is made equal (RESTORE
//     REPLACE with the TTL, or DEL when the key is gone). Nothing is replayed, so counters, lists
//     and appends on a key the secondary did not have come out right.
//  2. Keys are sharded by hash over the I/O threads; a shard copies one key at a time, so two
//     copies of one key never race. A key dirtied again while its copy runs is copied once more
//     afterwards: the last copy always reads the final state. Several writes to a key that wait
//     in the queue collapse into one copy.
//  3. A copy that fails because a side is away (laminar's "unavailable" or "timed out", LOADING,
//     BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN) is retried with backoff (100 ms doubling, at most
//     kMaxBackoff) for as long as the outage lasts: the key is in its pair's backlog meanwhile
//     (backlog(): keys and the age of the oldest), and is never given up. A copy the other side
//     refuses (a value it cannot hold, OOM, a DUMP format it does not read) is tried 5 times, then
//     counted in sync_failures, logged with its key, and kept in the backlog too, retried with
//     backoff up to kRefusedRetry: no key is ever given up, so the phase guardrails refuse the next step until
//     the cause is fixed and the key copied (or the step is forced). Failures are logged at most
//     once a second, with the key and a count of the lines held back; a pair's backlog draining
//     is logged once.
//  4. pending(pair) counts keys queued or in flight per primary>secondary pair, so a phase flip
//     can wait until the old direction has drained (the flip barrier).
//  5. A mark may carry a SyncTracker: it tells its caller when its own keys are copied, however
//     busy the pair stays with other writes.
class SyncEngine {
public:
    explicit SyncEngine(std::vector<SyncHost*> hosts, size_t shards_per_host = 32);
    ~SyncEngine();

    // From any I/O thread. Each call brings one unit of task.pair's pending count: counted here,
    // synchronously, unless `reserved` says the caller counted it already with reserve() (a write
    // reserves when it is sent, so a flip barrier sees it before its reply arrives).
    // `ahead`: writeAhead() recorded a unit for this write before it was sent; the key's entry
    // pays it once no copy is owed any more.
    void markDirty(const SyncTask& task, std::string_view key, bool reserved = false, std::shared_ptr<SyncTracker> tracker = nullptr,
                   bool ahead = false);
    // Before a write of `key` is sent (DualWrite, pinned writes), with a state_dir: records that
    // its copy is owed, so that a SIGKILL before the copy loses nothing. True when recorded: the
    // markDirty() after the write then passes ahead = true.
    bool writeAhead(const std::string& pair, std::string_view key) {
        if (!ledger_) return false;
        ledger_->ahead(pair, key);
        return true;
    }
    bool writesAhead() const { return ledger_ != nullptr; }
    // A plain overwrite (SET, SETEX, MSET, DEL...) fixes its keys' whole state, so the write
    // itself, sent to the secondary as well, is an exact copy of it, provided nothing else copies
    // those keys meanwhile. From the thread about to send such a write of `keys` (its units
    // reserved, its write-ahead recorded): true when every key's shard is this thread's, holds no
    // entry for the key (no copy queued, running or waiting), and no other forwarded write of the
    // key's bucket (a hash slot a key shares with a few others) is out. The bucket is then held
    // until forwarded(): a key marked meanwhile waits in its entry, parked, and is copied once the
    // write is done on both sides, reading the primary after it. Holds no memory per write.
    // False: nothing done, the write takes the usual way (markDirty after the primary's reply).
    // `out` (as long as the keys) receives what forwarded() and notForwarded() take back for each key.
    class Claim {
        friend class SyncEngine;
        void* shard_ = nullptr;
        uint32_t bucket_ = 0;
    };
    // The keys are argv[i] for each i of `keys` (a request's key indices).
    bool claimForward(std::span<const std::string_view> argv, std::span<const int> keys, std::span<Claim> out);
    // Both sides applied a claimed write of `key`: its copy is done. `counter`: where its unit was
    // reserved (counterOf(pair)); `ahead`: writeAhead() recorded it.
    void forwarded(const Claim& claim, std::string_view key, const std::string& pair, std::atomic<int64_t>& counter,
                   RouteStats* stats, bool ahead);
    // A side did not apply it (away, or an error reply): the key is copied as after any other
    // write, by `task`, retried while a side is away; its unit and write-ahead record go with it.
    void notForwarded(const Claim& claim, std::string_view key, const SyncTask& task, bool ahead);
    // The pending counter of `pair`, for a caller that counts a write and later settles it.
    std::atomic<int64_t>& counterOf(const std::string& pair) { return counter(pair); }
    void reserve(const std::string& pair, int64_t n) { counter(pair).fetch_add(n); }
    // Keys queued, in flight, or announced, over every pair.
    int64_t pendingTotal() const;
    int64_t pending(const std::string& pair) const;
    uint64_t queuedTotal() const { return queued_total_.load(std::memory_order_relaxed); }

    // Keys of a pair whose copy failed because a side was away and is being retried.
    struct Backlog {
        int64_t keys = 0;
        double oldest_seconds = 0;  // since the first failure of the oldest of them
    };
    Backlog backlog(const std::string& pair) const;
    // Every pair with a backlog, by name.
    std::vector<std::pair<std::string, Backlog>> backlogs() const;
    static constexpr std::chrono::milliseconds kMaxBackoff{5000};
    static constexpr std::chrono::milliseconds kRefusedRetry{30000};

    // One line per direction that had failures since the last call (the summary that follows the
    // rate-limited failure lines), and the counts start again. `period`: since the last call.
    std::vector<std::string> takeFailureSummary(std::chrono::seconds period);

    // Before the I/O threads start: where backlog keys (and keys changed on one side) are written
    // down.
    void setLedger(SyncLedger* ledger) { ledger_ = ledger; }
    // From any I/O thread: a write changed `key` of `route` on one side only.
    void noteChange(const std::string& route, std::string_view key) {
        if (ledger_) ledger_->changed(route, key);
    }
    // A key owed `pair` by the run before (MigrationState): in the backlog from now, and copied by
    // the route of `now` that copies that direction. False (nothing done) when no route does.
    bool restore(const std::shared_ptr<const Snapshot>& now, const std::string& pair, std::string_view key);
    // Every key queued, in flight or in the backlog, with its direction. Only once the I/O
    // threads have stopped.
    std::vector<std::pair<std::string, std::string>> heldKeys() const;

private:
    struct Entry {
        SyncTask task;
        std::string counted_pair;  // the pending counter this key was counted in
        bool in_flight = false;
        bool parked = false;  // waits for the forwarded writes of its bucket (Shard::parked)
        bool again = false;
        int attempts = 0;
        bool refused = false;  // the other side refused it kMaxAttempts times: retried, backing off to kRefusedRetry
        // In the backlog of this pair since this time (a copy failed because a side was away).
        std::string backlog_pair;
        std::chrono::steady_clock::time_point backlog_since{};
        // Write-ahead units this entry answers for, by the direction they were recorded under.
        std::vector<std::pair<std::string, int64_t>> units;
        // Trackers of marks the next copy answers, and of those the copy in flight answers.
        std::vector<std::shared_ptr<SyncTracker>> waiting, running;
    };
    // Looked up by string_view: a key is copied into a string only when it gets an entry.
    struct KeyHash {
        using is_transparent = void;
        size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
    };
    static constexpr size_t kBuckets = 8192;  // per shard (1 KiB): 256K per I/O thread, so few writes wait for another's
    struct Shard {
        std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> keys;
        std::deque<std::string> queue;
        std::bitset<kBuckets> forwarding;  // buckets with a forwarded write out (claimForward)
        std::vector<std::pair<uint32_t, std::string>> parked;  // keys whose copy waits for their bucket
        bool busy = false;
        SyncHost* host = nullptr;
    };

    // A key's shard and its bucket there, from one hash: the shard from the whole hash, the bucket
    // from its high half, so that a shard's keys still spread over its buckets.
    static uint64_t hashOf(std::string_view key);
    Shard& shardOf(uint64_t hash) const { return *shards_[hash % shards_.size()]; }
    Shard& shardOf(std::string_view key) const { return shardOf(hashOf(key)); }
    static uint32_t bucketOf(uint64_t hash) { return static_cast<uint32_t>((hash >> 32) % kBuckets); }
    void settleForward(Shard& shard, uint32_t bucket);  // the keys parked behind `bucket` are queued
    void enqueue(Shard& shard, const SyncTask& task, std::string key, std::shared_ptr<SyncTracker> tracker,
                 std::chrono::steady_clock::time_point owed_since = {}, bool ahead = false);
    // The key leaves the engine: its write-ahead units are paid, its backlog record too.
    void release(const std::string& key, Entry& e);
    bool revalidate(Shard& shard, const std::string& key, Entry& e);
    void pump(Shard& shard);
    void recount(Entry& e);
    void finished(Shard& shard, const std::string& key, bool ok, std::string_view why);
    std::atomic<int64_t>& counter(const std::string& pair) const;
    void enterBacklog(const std::string& key, Entry& e);
    void leaveBacklog(const std::string& key, Entry& e);
    void logFailure(const std::string& key, const Entry& e, bool transient, std::chrono::milliseconds retry, std::string_view why);

    std::vector<SyncHost*> hosts_;
    const uint64_t id_;  // tells engines apart for counter()'s per-thread cache (an address may be reused)
    SyncLedger* ledger_ = nullptr;
    std::vector<std::unique_ptr<Shard>> shards_;
    mutable std::mutex counters_mu_;
    mutable std::unordered_map<std::string, std::unique_ptr<std::atomic<int64_t>>> counters_;
    std::atomic<uint64_t> queued_total_{0};
    mutable std::mutex backlog_mu_;
    std::unordered_map<std::string, std::multiset<std::chrono::steady_clock::time_point>> backlog_;
    struct FailureCounts {
        uint64_t retried = 0, refused = 0;
    };
    std::map<std::string, FailureCounts> failures_since_;  // by pair, since takeFailureSummary
    std::chrono::steady_clock::time_point last_log_{};
    uint64_t held_back_ = 0;  // failure lines not logged since the last one
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace laminar::policy
