// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "queue/journal.h"

namespace laminar::policy {

class Snapshot;
class SyncHost;


// laminar's durable write queue: the journal (journal.h) plus one applier per target backend,
// which applies the records addressed to it in journal order (record.h says what a record asks).
//
//  1. Every backend of the configuration at open is a target, with its own cursor; records name
//     their targets, so one journal serves every queued_write route. A backend added by a later
//     reload becomes a target at the next restart.
//  2. An applier runs on the queue's I/O thread (`host`): command records are pipelined on the
//     thread's connection to the target (up to 256 in flight), key records wait for what is in
//     flight, then copy each key's state from its `from` backend. A record is acknowledged in the
//     journal once it and every earlier one are applied.
//  3. A target that fails (down, timing out) is retried from its first unapplied record with a
//     backoff (100 ms doubling to 5 s): nothing is skipped, so after a crash or an outage a record
//     may be applied twice, never lost. Records are written so that this is harmless (absolute
//     expiries, overwrites, state copies). An error reply (WRONGTYPE...) is counted and logged,
//     and the applier goes on: retrying would not change it.
//  4. afterCommandsApplied(target) lets a write that must run synchronously on a target wait until
//     every command record queued before it has reached that target, so it cannot overtake them,
//     and until the target's cursor past them is on disk, so that a crash cannot replay them over
//     it (records are otherwise harmless to apply twice; across a later direct write they are not).
//
// Thread safety: append*, whenDurable, afterCommandsApplied and status may be called from any
// thread; the appliers run on `host`.
class WriteQueue {
public:
    using SnapshotFn = std::function<std::shared_ptr<const Snapshot>()>;
    static std::unique_ptr<WriteQueue> open(const config::Config& cfg, SyncHost& host, SnapshotFn snapshot, std::string& error);
    ~WriteQueue();
    WriteQueue(const WriteQueue&) = delete;
    WriteQueue& operator=(const WriteQueue&) = delete;

    const config::QueueConfig& config() const { return cfg_; }
    bool hasTarget(std::string_view backend) const;
    // Why the journal cannot write now (its fatal error, or a full disk...); empty while it can.
    std::string error() const { return journal_->writeError(); }
    // The record's seq, or 0 when the queue is full (or failed: error() says why).
    uint64_t appendCommand(std::span<const std::string> targets, std::string_view resp);
    // The keys of a write that already ran on `from` (its reply may depend on the data, or the
    // queue was full under when_full: sync): a key record is small, and it may take the backlog up
    // to a quarter over max_bytes, so that a full queue still delivers what `sync` ran. 0 when
    // even that does not fit (or the journal failed): the write is then counted as undelivered
    // for each target (status(), LAMINAR STATUS) and the caller tells its client.
    uint64_t appendRanKeys(std::string_view from, std::span<const std::string> targets, std::span<const std::string_view> keys);
    // Batching, so a client's pipeline costs one journal write: the command record joins this
    // thread's batch, written by flushBatch() (the I/O thread calls it once it has handled what it
    // read), which then calls done(seq) in order; done(0) when the batch did not fit (full).
    // `targets` must outlive the flush (a strategy's own list).
    void appendCommandBatched(const std::vector<std::string>& targets, std::string resp, std::function<void(uint64_t seq)> done);
    void flushBatch();
    // Space for `bytes` more (when_full decides what a write does when there is none).
    bool hasRoom(uint64_t bytes = 0) const;
    void countReject() { rejected_.fetch_add(1, std::memory_order_relaxed); }
    // `fn(true)` runs once `seq` is durable under queue.fsync, at once or on the journal's thread;
    // fn(false) when it cannot be (the journal failed, or closed first).
    void whenDurable(uint64_t seq, std::function<void(bool durable)> fn);
    // `fn` runs once `target` has applied every command record appended so far: at once on the
    // caller's thread, or later on the queue's thread.
    void afterCommandsApplied(const std::string& target, std::function<void()> fn);

    struct TargetStatus {
        uint64_t records = 0, bytes = 0;  // not applied yet
        double lag_seconds = 0;           // age of the oldest of them
        uint64_t applied = 0, retries = 0, errors = 0;
        uint64_t undelivered = 0;         // writes that ran elsewhere but could not be queued for it
        std::string state;                // "ok" or "retrying: why"; with undelivered, what it missed
    };
    struct Status {
        uint64_t records = 0, bytes = 0;  // the slowest target's backlog
        double lag_seconds = 0;           // the oldest unapplied record, over every target
        uint64_t appended = 0, rejected = 0, fsyncs = 0;  // rejected: writes refused as full (when_full)
        uint64_t lost_records = 0;        // found damaged at open (the journal's log says where)
        std::vector<std::string> damage;  // each damaged place: its records and the keys they wrote
        std::map<std::string, TargetStatus> targets;
    };
    Status status() const;

    // Queue canaries (canary.every): each target gets `SET laminar:canary:queue:<target> <ms> PXAT
    // <ms + canary.ttl>` through the queue, and its value is read back from the target directly;
    // the canary is stale while the newest one that came through is older than canary.stale.
    struct Canary {
        bool stale = false;
        double age_seconds = 0;  // since the newest canary that came through was queued
    };
    std::map<std::string, Canary> canaries() const;  // empty while canaries are off
    // Cheap (atomics), for `condition` routes: queue_stale and queue_lag_above.
    bool canaryStale(std::string_view target) const;
    double lagSeconds(std::string_view target) const;
    // "3 records (1.2 KiB) behind, lag 0.4 s; new: 3 behind, ok; old: up to date" for LAMINAR STATUS.
    std::string summary() const;

private:
    struct Applier;
    struct ApplySink;
    // A target's reply to record `seq` (sent in applier generation `generation`).
    void applied(Applier& a, uint64_t generation, uint64_t seq, std::string_view raw, bool failure);
    WriteQueue(const config::Config& cfg, std::unique_ptr<queue::Journal> journal, SyncHost& host, SnapshotFn snapshot);
    void kick();
    void tick();
    void canaryTick();
    void pumpAll();
    void pump(Applier& a);
    void settle(Applier& a);
    static void markDone(Applier& a, uint64_t seq);
    void failed(Applier& a, std::string why);
    void copyKeys(Applier& a, uint64_t seq, const std::string& from, std::vector<std::string> keys);
    void afterPersisted(const std::string& target, uint64_t seq, std::function<void()> fn);
    Applier* applier(const std::string& target);

    config::QueueConfig cfg_;
    std::unique_ptr<queue::Journal> journal_;
    SyncHost& host_;
    SnapshotFn snapshot_;
    std::vector<std::unique_ptr<Applier>> appliers_;
    std::map<std::string, std::unique_ptr<std::atomic<uint64_t>>, std::less<>> last_command_;  // per target
    std::atomic<bool> kick_pending_{false};
    std::atomic<uint64_t> rejected_{0};
    std::atomic<bool> canaries_on_{false};
    int64_t canaries_since_ms_ = 0;  // when canaries were turned on (host thread)
    std::chrono::steady_clock::time_point next_canary_{};
    mutable std::mutex state_mu_;  // guards the appliers' state strings
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace laminar::policy
