// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>

#include <chrono>
#include <memory>

#include "policy/strategy.h"

namespace laminar::policy {

// Queued write (docs/design.md, "Queued write"): writes reach `queued` backends through
// laminar's durable on-disk queue (policy/write_queue.h), so their latency is never the client's.
//  1. Reads go to `primary`.
//  2. ack: primary — a write runs on primary and the client gets primary's real reply; then the
//     keys it wrote are journaled, and each queued backend is made equal to primary's state of
//     those keys as it is when the record is applied (in journal order; a late apply copies the
//     newest state, never an older one, so concurrent writers cannot leave the sides different).
//     Keys are journaled even after an error reply (a script may have written before failing):
//     copying a key's state is always safe.
//  3. ack: queued — a write whose reply cannot depend on the data (SET without NX/XX/GET, SETEX,
//     PSETEX, MSET) is journaled for every target, primary included, with relative expiries made
//     absolute, and acknowledged (+OK) once durable under queue.fsync; the queue applies it to
//     each target in order. Reads on primary may lag the queue until it applies. Every other
//     write first waits until primary has applied the commands queued before it (so it cannot
//     overtake them), then runs as in case 2.
//  4. When the queue is full (queue.max_bytes): when_full: reject answers an error naming the
//     queue; block waits for room up to queue.block_timeout, then answers that error; sync runs
//     the write as in case 2 (synchronously on primary, journaling only its keys).
//  5. Writes without keys (FLUSHALL when allowed) run on primary, then are journaled as commands
//     for the queued backends.
//  6. `primary` and `queued` are backend names (the queue addresses backends by name, across
//     restarts).
// Reverse: swap primary and a queued backend.
class QueuedWrite final : public Strategy {
public:
    QueuedWrite(int primary, std::string primary_name, std::vector<std::string> queued, bool ack_queued, std::string route);
    std::string_view type() const override { return "queued_write"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    int pinTarget() const override { return primary_; }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override;
    void afterPinnedWrite(std::string_view key, Context& ctx) const override;

    void setQueuedIndices(std::vector<int> v) { queued_index_ = std::move(v); }

private:
    // A write that may run after execute() returns: its own copy of the command.
    struct Pending;
    struct Deferred;
    void writeThrough(std::shared_ptr<Pending> w, Context& ctx) const;
    void queueCommand(Pending* w, Context& ctx) const;
    void retryQueueCommand(std::shared_ptr<Pending> w, Context& ctx) const;
    void acknowledge(uint64_t seq, backend::ReplySink* sink, Deferred& d) const;
    void reject(Pending& w, Context& ctx) const;

    // The queue whose targets were checked against this strategy's backends (they are fixed once
    // the queue is open): the check runs once, not per command.
    mutable std::atomic<const policy::WriteQueue*> checked_queue_{nullptr};
    int primary_;
    std::string primary_name_;
    std::vector<std::string> queued_;
    std::vector<std::string> all_;  // primary, then queued
    std::vector<int> queued_index_;
    bool ack_queued_;
    std::string route_;
};

std::unique_ptr<Strategy> makeQueuedWrite(config::MapReader& r, Builder& b);

}  // namespace laminar::policy
