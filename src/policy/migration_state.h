// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "policy/phase_guard.h"
#include "policy/sync_engine.h"

namespace laminar::policy {

// What a migration remembers across a restart of laminar, in the configured `state_dir`
// (docs/design.md, hazard 7):
//
//   migrations  each migration route's record (phase, since when, which side may lack writes) and
//               its last completed backfill; replaced whole (write, fsync, rename) when it changes.
//   owed        the keys the sync engine owes a side, by copy direction: appended as keys enter and
//               leave the backlog (a side away), rewritten whole, with every key still queued, at
//               a clean stop, and compacted at start.
//   changed     per route, the keys written in new_only since the route entered it, so that a
//               step back copies just those to `from` (LAMINAR BACKFILL START <route> CHANGED).
//               The record is complete only when it covers the whole new_only spell: it began
//               with the step from dual_write_read_new (when `from` was whole), every run since
//               stopped cleanly, and it stayed under kMaxChangedKeys.
//   running     held (flock) while laminar runs; removed at a clean stop. Found at start, the last
//               run ended without one (SIGKILL, a crash, the machine): copies in flight then may
//               never have reached their side, so that side is marked as lacking writes and the
//               backfills of before are forgotten: the guardrails ask for a reconciling backfill
//               before reads move there.
//
// The owed keys are appended through a buffer the main thread flushes (flush(), about once a
// second): what a crash loses of them is covered by the rule above.
class MigrationState final : public SyncLedger {
public:
    struct Owed {
        std::string pair, key;
    };
    struct Loaded {
        std::map<std::string, MigrationRecord> board;
        std::map<std::string, PhaseFacts::Backfill> backfills;  // by route
        std::vector<Owed> owed;
        bool unclean = false;  // the last run did not stop cleanly
    };

    // Creates `dir` if needed, takes its lock, and reads what it holds. Null with error set when
    // the directory cannot be used (another laminar holds it, a damaged file, no permission).
    static std::unique_ptr<MigrationState> open(const std::filesystem::path& dir, Loaded& out, std::string& error);
    ~MigrationState() override;

    // The board and backfills in force; written only when they changed since the last call.
    // False with error set when the file cannot be written (the old one stays whole).
    bool save(const std::map<std::string, MigrationRecord>& board, const std::map<std::string, PhaseFacts::Backfill>& backfills,
              std::string& error);

    // SyncLedger: from any thread.
    void owe(const std::string& pair, std::string_view key) override;
    void paid(const std::string& pair, std::string_view key) override;
    void changed(const std::string& route, std::string_view key) override;

    // The keys `route` changes from now on are recorded (a new record); `complete`: the other side
    // was whole when it began.
    void beginChanges(const std::string& route, bool complete);
    // The route left new_only: its record stays, for the step back, and grows no more.
    void endChanges(const std::string& route);
    struct ChangedKeys {
        bool known = false;      // a record exists
        bool recording = false;  // the route is in new_only
        bool complete = false;
        std::vector<std::string> keys;
    };
    ChangedKeys changedKeys(const std::string& route) const;
    static constexpr size_t kMaxChangedKeys = 1'000'000;  // past it, a record is dropped as incomplete
    // Writes what owe/paid buffered; with nothing owed any more (the engine's backlog is empty),
    // empties the file. False with error set on a write error (the records stay buffered).
    bool flush(bool nothing_owed, std::string& error);
    // A clean stop: `owed` (every key the engine still holds) replaces the file, then release().
    bool closeCleanly(const std::vector<Owed>& owed, std::string& error);
    // A stop with the files as they are (a start refused before any work): `running` goes.
    bool release(std::string& error);

    const std::filesystem::path& dir() const { return dir_; }

    // The file formats, for tests.
    static std::string encodeBoard(const std::map<std::string, MigrationRecord>& board,
                                   const std::map<std::string, PhaseFacts::Backfill>& backfills);
    static bool decodeBoard(std::string_view text, Loaded& out, std::string& error);
    // One record of the owed and changed files: op, then a name (a copy direction, a route) and a
    // key, each with its length.
    static void appendRecord(std::string& out, char op, std::string_view name, std::string_view key);
    // Replays `+`/`-` records into the keys still owed; a torn last record is ignored.
    static std::vector<Owed> decodeOwed(std::string_view bytes);
    struct Changes {
        bool recording = false, complete = false;
        std::unordered_set<std::string> keys;
    };
    // Replays the records of the changed file: `0` (a complete record begins), `i` (an incomplete
    // one begins), `+` (a key), `s` (recording stops), `x` (dropped past kMaxChangedKeys).
    static std::map<std::string, Changes> decodeChanged(std::string_view bytes);

private:
    MigrationState(std::filesystem::path dir, int lock_fd, int owed_fd);
    bool writeBuffered(int fd, std::string& buffer, const char* name, std::string& error);

    std::filesystem::path dir_;
    int lock_fd_ = -1;
    int owed_fd_ = -1;
    std::string last_board_;
    mutable std::mutex mu_;
    std::string buffered_;  // owed records not written yet
    std::map<std::string, Changes> changes_;  // by route
    std::string changed_buffered_;            // changed records not written yet
    int changed_fd_ = -1;
    std::atomic<uint64_t> fsyncs_{0};
};

}  // namespace laminar::policy
