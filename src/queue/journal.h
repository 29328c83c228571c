// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace laminar::queue {

enum class Fsync { kAlways, kEverySec, kNo };

struct JournalOptions {
    std::filesystem::path dir;
    Fsync fsync = Fsync::kEverySec;
    uint64_t max_bytes = 1ull << 30;      // unapplied bytes (the slowest target's backlog) before append() refuses
    uint64_t segment_bytes = 64ull << 20;  // a segment is closed once it reaches this size
    std::vector<std::string> targets;      // one cursor each; a target no longer listed is forgotten
};

// One record as a reader gets it back.
struct Record {
    uint64_t seq = 0;      // 1, 2, 3, ... over the journal's whole life (survives restarts)
    int64_t unix_ms = 0;   // when it was appended
    std::string data;      // the bytes given to append()
    bool lost = false;     // found damaged (or its segment missing) at open: no data
};

struct JournalStats {
    uint64_t appended = 0;   // records appended since open
    uint64_t last_seq = 0;   // newest record
    uint64_t bytes = 0;      // bytes on disk in segments
    uint64_t rejected = 0;   // appends refused as full since open
    uint64_t fsyncs = 0;     // fsync calls since open
    uint64_t torn_bytes = 0; // bytes cut from a torn tail at open
    uint64_t lost_records = 0;        // records found damaged or missing at open
    std::vector<std::string> damage;  // where, one line per damaged place
    struct Target {
        uint64_t acked = 0;       // last seq applied
        uint64_t records = 0;     // records not applied yet
        uint64_t bytes = 0;       // their bytes
        int64_t oldest_ms = 0;    // unix_ms of the oldest unapplied record (0: none)
    };
    std::map<std::string, Target> targets;
};

// A durable, append-only journal of opaque records (RESP commands) read back in order by each of
// several targets, each with its own persisted cursor: laminar's write queue.
//
//  1. Records live in segment files `dir/<first seq, 20 digits>.seg`. Each record is framed as
//     [u32 length][u32 CRC-32C of data, seq, unix_ms][u64 seq][i64 unix_ms][data], little-endian.
//  2. open() scans every segment. Bytes that are not a whole record (a short frame, an absurd
//     length, a checksum that fails) followed by a whole record further on are damage: the
//     records they held are lost, the scan goes on from the record found again, and read() hands
//     the lost ones out marked `lost` (no data), so readers skip them in order. A missing segment
//     loses its records the same way. Bytes that are not a record at the end of the last segment,
//     with nothing whole after them, are a torn tail (a write a crash cut short): the file is
//     truncated at the last good record, never replayed as garbage, and torn_bytes says how much
//     was cut. Each damaged place is logged with its records and bytes, and stats() counts them
//     (lost_records, damage). open() fails only on a read error or records out of order.
//  3. append() is thread-safe and returns the record's seq, or 0 when unapplied bytes plus the
//     record would exceed max_bytes (counted in rejected). The write() happens under the lock;
//     durability is per the fsync policy:
//       always   — whenDurable() callbacks run after an fsync covering the record. One flusher
//                  thread fsyncs, and one fsync covers every record appended while the previous
//                  one ran (group commit).
//       everysec — the flusher fsyncs once a second; whenDurable() runs at once (after write()).
//       no       — never fsyncs (the OS decides); whenDurable() runs at once.
//  4. whenDurable(seq, fn) calls fn(true) once seq is durable, on the flusher thread or at once on the
//     caller's thread. fn must be quick (post to the caller's own thread).
//  5. read(target, after, max, out) returns records with seq > after, up to max, in order; a
//     reader keeps its own position for records in flight and calls ack(target, seq) once all
//     records up to seq are applied. Cursors are persisted in `dir/cursors` (written to a temp
//     file and renamed; fsynced with the policy), so after a restart each target resumes after its
//     last persisted ack: a record may be applied twice after a crash, never skipped.
//     whenPersisted() waits for a cursor to be on disk, for writes that must not be replayed over.
//  6. A segment every target has acked to its end (and which is not the one being appended to)
//     is deleted.
//  7. stats() is thread-safe and cheap enough to call on every metrics scrape.
//
// I/O errors never throw. A write of records or cursors that fails (a full disk) is cut back and
// refused (append() returns 0; a cursor file is replaced only once whole, so the old one stays),
// logged once, and reported by writeError() until a write works again: appends and cursor writes
// resume by themselves once there is space, segments every target applied are still deleted, and
// open() still works. An fsync that fails, or a file that cannot be cut back, is kept (error()):
// from then on append() returns 0, and whenDurable() callbacks not yet run get fn(false) (the
// records may not be durable), as do those still waiting when the journal is destroyed: a caller
// never waits forever. Records already written can still be read.
//
// Thread safety: every public method may be called from any thread.
class Journal {
public:
    // Creates dir if needed, recovers (2), loads cursors (a new target starts at the journal's
    // current end: it gets only records appended from now on), starts the flusher thread.
    static std::unique_ptr<Journal> open(JournalOptions options, std::string& error);
    ~Journal();  // stops the flusher after a final fsync
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    uint64_t append(std::string_view data);
    // With a backlog bound of its own instead of max_bytes (a write that already ran on a backend
    // and must still reach the others: allowed a little over the bound).
    uint64_t append(std::string_view data, uint64_t limit);
    // Several records in one write (a client's pipeline): the first one's seq (the others follow
    // it), or 0 when they do not all fit (none is appended).
    uint64_t appendMany(std::span<const std::string_view> records, uint64_t limit = 0);
    void whenDurable(uint64_t seq, std::function<void(bool durable)> fn);
    // False when `target` is unknown, or when reading fails (a read error, a record whose checksum
    // no longer matches: error() says which). `after` is the last seq the reader has (acked or in
    // flight); records already deleted are skipped.
    bool read(const std::string& target, uint64_t after, size_t max, std::vector<Record>& out);
    // fn(true) once `target`'s cursor on disk is at `seq` or past it (the caller acked it first):
    // at once on the caller's thread, or on the flusher thread, which then persists the cursors
    // without waiting for its next tick (one write serves every caller waiting). fn(false) when
    // the journal failed (or is closed) first. Before a write that bypasses the journal reaches a
    // target, so that a crash cannot replay older records of that target over it.
    void whenPersisted(const std::string& target, uint64_t seq, std::function<void(bool persisted)> fn);
    void ack(const std::string& target, uint64_t seq);
    uint64_t acked(const std::string& target) const;
    uint64_t lastSeq() const;
    // The bytes the slowest target has not applied (what max_bytes bounds): cheap, no I/O.
    uint64_t backlogBytes() const;
    JournalStats stats() const;
    // The first I/O error that stops the journal, empty while it is healthy.
    std::string error() const;
    // That, or else why the last append or cursor write failed (a full disk...) while it has not
    // worked again since: empty when writes work.
    std::string writeError() const;
    const JournalOptions& options() const { return opt_; }

private:
    explicit Journal(JournalOptions options);
    // Segments, cursors, the flusher thread and pending callbacks: see journal.cpp.
    JournalOptions opt_;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace laminar::queue
