// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io/write_ahead.h"
#include "policy/phase_guard.h"
#include "policy/sync_engine.h"

namespace laminar::policy {

// What a migration remembers across a restart of laminar, in the configured `state_dir`
// (docs/design.md, hazard 7):
//
//   migrations  each migration route's record (phase, since when, which side may lack writes) and
//               its last completed backfill; replaced whole (write, fsync, rename) when it changes.
//   owed        the keys the sync engine owes a side, by copy direction: appended as keys enter and
//               leave the backlog (a side away), and, written ahead, as each dual write is about
//               to be sent (a unit) and once its copy is done (the units paid); compacted at
//               start and whenever it outgrows what is owed, rewritten whole, with every key
//               still queued, at a clean stop.
//   changed     per route, the keys written in new_only since the route entered it, so that a
//               step back copies just those to `from` (LAMINAR BACKFILL START <route> CHANGED).
//               The record is complete only when it covers the whole new_only spell: it began
//               with the step from dual_write_read_new (when `from` was whole), every run since
//               stopped cleanly, and it stayed under kMaxChangedKeys.
//   running     held (flock) while laminar runs; removed at a clean stop. Found at start, the last
//               run ended without one (SIGKILL, a crash, the machine).
//   ahead-intact  the boot id of the machine this run started on, while every write-ahead record
//               reached its file before the write it describes left laminar: removed at the
//               first write that fails (a full disk).
//
// Write-ahead: records of writes about to be sent (ahead(), changed(), and owe()) are buffered and
// go out in one write(2) before the event-loop turn's backend writes do (io::beforeSend), so a
// SIGKILL or crash of laminar after a backend took a write cannot lose the record of its copy; they
// are not fsynced (a power loss may lose the last ones). So an unclean start trusts the files when
// ahead-intact holds this boot's id: the owed keys are copied again and nothing else is needed.
// Otherwise (the machine restarted, or a record could not be written) copies in flight may have
// gone unrecorded: the side each route copies to is marked as lacking writes, the backfills of
// before and the completeness of the changed records are forgotten, and the guardrails ask for a
// reconciling backfill before reads move there.
class MigrationState final : public SyncLedger, public io::WriteAheadLog {
public:
    struct Owed {
        std::string pair, key;
    };
    struct Loaded {
        std::map<std::string, MigrationRecord> board;
        std::map<std::string, PhaseFacts::Backfill> backfills;  // by route
        std::vector<Owed> owed;
        bool unclean = false;  // the last run did not stop cleanly
        // Of an unclean start: why its records cannot be trusted (the rule above), empty when
        // they can.
        std::string untrusted;
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
    void ahead(const std::string& pair, std::string_view key) override;
    void settled(const std::string& pair, std::string_view key, int64_t units) override;
    void changed(const std::string& route, std::string_view key) override;
    // io::WriteAheadLog: from any I/O thread, before it sends backend bytes.
    void drainAhead() override;

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
    // Writes what is buffered; rewrites the owed file with just what is owed once it has grown
    // past kCompactAt and four times that (empties it when nothing is owed). False with error set
    // on a write error (the records stay buffered).
    bool flush(std::string& error);
    static constexpr off_t kCompactAt = 1 << 20;
    // Bytes of the owed file (for tests).
    off_t owedFileSize() const;
    // A clean stop: `owed` (every key the engine still holds) replaces the file, then release().
    bool closeCleanly(const std::vector<Owed>& owed, std::string& error);
    // What an unclean start whose records cannot be trusted does to what it read: the side each
    // route copies to may lack writes, and the backfills of before do not cover them.
    static void distrust(Loaded& loaded);
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
    // Replays the owed file into the keys still owed: `+`/`-` (a key enters, leaves the backlog),
    // `W`/`d` (write-ahead units recorded, paid; the key field begins with the count, 8 bytes);
    // a torn last record is ignored.
    static std::vector<Owed> decodeOwed(std::string_view bytes);
    // A `W` or `d` record: `count` units of `key`.
    static void appendUnits(std::string& out, char op, std::string_view pair, std::string_view key, int64_t count);
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
    bool drainLocked(std::string& error);
    bool compactLocked(std::string& error);
    // What the owed file replays to, kept beside it so that it can be rewritten at any time.
    struct Owing {
        bool backlog = false;  // a `+` not yet answered by its `-`
        int64_t units = 0;
    };
    std::unordered_map<std::string, Owing> owing_;  // by mirrorKey(pair, key)
    static std::string mirrorKey(std::string_view pair, std::string_view key);

    std::filesystem::path dir_;
    int lock_fd_ = -1;
    int owed_fd_ = -1;
    std::string last_board_;
    mutable std::mutex mu_;
    std::string buffered_;  // owed records not written yet
    std::map<std::string, Changes> changes_;  // by route
    std::string changed_buffered_;            // changed records not written yet
    int changed_fd_ = -1;
    bool ahead_broken_ = false;  // a write-ahead record failed to go out: ahead-intact is gone
    std::atomic<uint64_t> fsyncs_{0};
};

}  // namespace laminar::policy
