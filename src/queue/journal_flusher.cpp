// SPDX-License-Identifier: Apache-2.0
// The journal's flusher thread: fsyncs (always, everysec), persists cursors, deletes segments
// every target has applied, and runs the callbacks waiting for each.
#include <unistd.h>

#include <fmt/format.h>

#include "queue/cursor_file.h"
#include "queue/file.h"
#include "queue/journal_impl.h"

namespace laminar::queue {

// Wakes for records to fsync (always), once a second (everysec), and every kTick to persist
// cursors and delete acked segments. The last pass, on stop, does all of it once more.
void Journal::Impl::flushLoop() {
    std::unique_lock lk(mu);
    const bool always = opt.fsync == Fsync::kAlways;
    auto next_sync = SteadyClock::now() + kEverySec;
    auto next_cursors = SteadyClock::now();
    for (;;) {
        wake.wait_for(lk, kTick, [&] {
            return stop || !abandoned.empty() || (always && error.empty() && last_seq > synced_seq) ||
                   (!persist_waiting.empty() && cursors_dirty);
        });
        if (!abandoned.empty()) {
            auto told = std::move(abandoned);
            abandoned.clear();
            lk.unlock();
            for (auto& fn : told) fn(false);
            lk.lock();
        }
        const bool last = stop;
        auto now = SteadyClock::now();
        if (error.empty() && (always || (opt.fsync == Fsync::kEverySec && (now >= next_sync || last)))) {
            syncData(lk);
            next_sync = now + kEverySec;
        }
        // At most every kTick however often the loop turns (always: once per group commit), or
        // at once when a write waits for a cursor to be on disk (one write serves all that wait).
        if (error.empty() && cursors_dirty && (now >= next_cursors || last || !persist_waiting.empty())) {
            // Ahead of the tick, for a write waiting on it, the file must survive a crash of
            // laminar (written and renamed); an fsync too only under `always` (everysec may lose
            // a second to a crash of the machine, and the tick's write fsyncs as before).
            persistCursors(lk, now >= next_cursors || last || always);
            next_cursors = now + kTick;
        }
        runPersisted(lk);
        if (error.empty()) deleteAckedSegments(lk);
        if (last) break;
    }
}

// One fsync of every segment written since the last one (group commit: it covers every record
// appended up to the moment it starts), then the whenDurable() callbacks it made due.
void Journal::Impl::syncData(std::unique_lock<std::mutex>& lk) {
    std::vector<std::pair<std::shared_ptr<File>, fs::path>> files;
    for (Segment& seg : segments) {
        if (!seg.dirty) continue;
        files.emplace_back(seg.file, seg.path);
        seg.dirty = false;
    }
    bool dir = dir_dirty;
    dir_dirty = false;
    uint64_t upto = last_seq;
    if (!files.empty() || dir) {
        lk.unlock();
        std::string err;
        for (const auto& [file, path] : files) {
            if (!syncFd(file->fd(), fsyncs)) {
                err = "fsync " + path.string() + ": " + errnoText();
                break;
            }
        }
        if (err.empty() && dir) syncDir(opt.dir, fsyncs, err);
        lk.lock();
        // No retry: after a failed fsync the kernel may have dropped the dirty pages, so a later
        // fsync succeeding would prove nothing.
        if (!err.empty()) return fail(err);
    }
    synced_seq = std::max(synced_seq, upto);
    runDue(lk);
}

void Journal::Impl::runDue(std::unique_lock<std::mutex>& lk) {
    auto end = waiting.upper_bound(synced_seq);
    if (end == waiting.begin()) return;
    std::vector<std::function<void(bool)>> due;
    for (auto it = waiting.begin(); it != end; ++it) due.push_back(std::move(it->second));
    waiting.erase(waiting.begin(), end);
    lk.unlock();
    for (auto& fn : due) {
        try {
            fn(true);
        } catch (const std::exception& e) {
            journalLog()->error("a whenDurable callback threw: {}", e.what());
        } catch (...) {
            journalLog()->error("a whenDurable callback threw");
        }
    }
    due.clear();
    lk.lock();
}

void Journal::Impl::runPersisted(std::unique_lock<std::mutex>& lk) {
    if (persist_waiting.empty()) return;
    std::vector<std::function<void(bool)>> due;
    std::erase_if(persist_waiting, [&](PersistWaiter& w) {
        auto it = persisted.find(w.target);
        if (it != persisted.end() && it->second < w.seq) return false;
        due.push_back(std::move(w.fn));
        return true;
    });
    if (due.empty()) return;
    lk.unlock();
    for (auto& fn : due) fn(true);
    due.clear();
    lk.lock();
}

void Journal::Impl::persistCursors(std::unique_lock<std::mutex>& lk, bool sync) {
    Cursors snapshot = cursors;
    cursors_dirty = false;
    lk.unlock();
    std::string err;
    bool ok = storeCursors(opt.dir, snapshot, sync && opt.fsync != Fsync::kNo, fsyncs, err);
    lk.lock();
    if (!ok) {
        // The file on disk is still the last good one (the new one replaces it only once whole):
        // try again at the next tick. Who waits for a cursor on disk is told it is not.
        if (cursor_error.empty()) journalLog()->error("{}: cannot write the cursors ({}); trying again every {} ms", opt.dir.string(), err, kTick.count());
        cursor_error = err;
        cursors_dirty = true;
        for (auto& w : persist_waiting) abandoned.push_back(std::move(w.fn));
        persist_waiting.clear();
        return;
    }
    if (!cursor_error.empty()) {
        journalLog()->info("{}: the cursors are written again", opt.dir.string());
        cursor_error.clear();
    }
    persisted = std::move(snapshot);
}

// Deletes, oldest first, segments every target's persisted cursor is past (spec 6). Persisted,
// not in-memory cursors: after a crash a target resumes from its persisted cursor, and the
// records after it must still be there.
void Journal::Impl::deleteAckedSegments(std::unique_lock<std::mutex>& lk) {
    uint64_t upto = std::numeric_limits<uint64_t>::max();
    for (const auto& [t, c] : persisted) upto = std::min(upto, c);
    std::vector<Segment> doomed;
    while (segments.size() > 1 && segments.front().lastSeq() <= upto) {
        doomed.push_back(std::move(segments.front()));
        segments.pop_front();
    }
    if (doomed.empty()) return;
    lk.unlock();
    std::string err;
    for (const Segment& seg : doomed) {
        // Oldest first, stopping at the first failure: the files left are still contiguous.
        if (::unlink(seg.path.c_str()) != 0) {
            err = "delete " + seg.path.string() + ": " + errnoText();
            break;
        }
    }
    if (err.empty() && opt.fsync != Fsync::kNo) syncDir(opt.dir, fsyncs, err);
    doomed.clear();
    lk.lock();
    if (!err.empty()) fail(err);
}

}  // namespace laminar::queue
