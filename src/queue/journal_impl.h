// SPDX-License-Identifier: Apache-2.0
// The journal's insides, shared by its three files: journal.cpp (open, append, read, ack),
// journal_recovery.cpp (what open() finds on disk) and journal_flusher.cpp (the thread that
// fsyncs, persists cursors and deletes applied segments). Not for use outside queue/.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "obs/logging.h"
#include "queue/journal.h"
#include "queue/segment.h"

namespace laminar::queue {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

inline constexpr auto kTick = std::chrono::milliseconds(100);       // cursors are persisted at most this often
inline constexpr auto kEverySec = std::chrono::seconds(1);
inline constexpr uint64_t kReadBudget = 4 << 20;                    // bytes one read() gathers (at least one record)
inline constexpr uint64_t kMaxSegmentBytes = 1ull << 32;            // record offsets are kept as u32

inline std::shared_ptr<spdlog::logger> journalLog() {
    static auto l = obs::logger("queue");
    return l;
}

inline int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline bool validTarget(const std::string& t) {
    return !t.empty() && std::none_of(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c) || c == 0; });
}

struct Journal::Impl {
    explicit Impl(const JournalOptions& o) : opt(o) {}

    const JournalOptions& opt;

    mutable std::mutex mu;
    std::condition_variable wake;  // the flusher: records to fsync (always), or stop
    std::deque<Segment> segments;  // oldest first; back() is appended to; never empty once open
    uint64_t last_seq = 0;
    uint64_t end_pos = 0;          // journal-wide byte position after the last record
    Cursors cursors;               // what ack() said
    Cursors persisted;             // what dir/cursors says; segments are deleted by these, never by cursors
    bool cursors_dirty = false;
    bool dir_dirty = false;        // a segment was created since dir was last fsynced
    uint64_t synced_seq = 0;       // always: records up to here are fsynced
    std::multimap<uint64_t, std::function<void(bool)>> waiting;  // always: whenDurable() not yet due
    struct PersistWaiter {
        std::string target;
        uint64_t seq;
        std::function<void(bool)> fn;
    };
    std::vector<PersistWaiter> persist_waiting;  // whenPersisted() not yet due
    std::vector<std::function<void(bool)>> abandoned;          // waiting when the journal failed: told so
    std::string error;             // the first I/O error that cannot be retried; appends are refused from then on
    std::string append_error;      // the last append's write error (ENOSPC...), cleared by the next append that works
    std::string cursor_error;      // the last cursor write's error, cleared by the next that works
    bool stop = false;
    std::thread flusher;
    std::shared_ptr<File> lock;    // dir/lock, flock()ed: one journal per directory

    uint64_t appended = 0;
    uint64_t rejected = 0;
    uint64_t torn_bytes = 0;
    uint64_t lost_records = 0;         // found damaged or missing at open
    std::vector<std::string> damage;   // where, one line each
    std::set<std::string> lost_keys;   // what the lost records wrote, as far as the damage tells
    std::atomic<uint64_t> fsyncs{0};

    bool recover(std::string& err);
    bool loadTargets(std::string& err);
    bool createSegment(uint64_t first_seq, std::string& err);

    // The segment holding seq (front().first_seq <= seq <= last_seq).
    const Segment& segmentFor(uint64_t seq) const;
    // Journal-wide position where record seq starts; end_pos past the last record.
    uint64_t position(uint64_t seq) const;
    // Bytes of the records after `acked`.
    uint64_t backlog(uint64_t acked) const { return end_pos - position(acked + 1); }
    uint64_t slowestBacklog() const;
    int64_t unixMsOf(uint64_t seq) const;

    // Records the first I/O error (mu held).
    void fail(std::string what);
    // An append that could not be written (mu held): refused, said once until one works again.
    void appendFailed(std::string what, size_t records) {
        rejected += records;
        if (append_error.empty()) journalLog()->error("journal {}: cannot append ({}); writes to the queue are refused until appends work again",
                                               opt.dir.string(), what);
        append_error = std::move(what);
    }

    // The flusher thread and what it does, each entered and left with mu held.
    void flushLoop();
    void syncData(std::unique_lock<std::mutex>& lk);
    void persistCursors(std::unique_lock<std::mutex>& lk, bool sync);
    void deleteAckedSegments(std::unique_lock<std::mutex>& lk);
    void runDue(std::unique_lock<std::mutex>& lk);
    // The whenPersisted() callbacks the persisted cursors made due (all of them, told false, once
    // the journal failed).
    void runPersisted(std::unique_lock<std::mutex>& lk);
};

}  // namespace laminar::queue
