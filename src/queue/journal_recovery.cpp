// SPDX-License-Identifier: Apache-2.0
// Journal::open()'s reading of what is on disk: segments scanned for torn tails and damage, the
// keys of lost records told, cursors loaded.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "queue/cursor_file.h"
#include "queue/file.h"
#include "queue/journal_impl.h"

namespace laminar::queue {
namespace {

constexpr size_t kMaxLostKeys = 1'000'000;  // lost keys kept for lost-keys.txt

// A key as redis-cli prints it: printable ASCII as it is, other bytes, quotes and backslashes escaped.
std::string printable(std::string_view key) {
    std::string out = "\"";
    for (unsigned char c : key) {
        if (c == '"' || c == '\\') out += fmt::format("\\{}", static_cast<char>(c));
        else if (c >= 0x20 && c < 0x7f) out.push_back(static_cast<char>(c));
        else out += fmt::format("\\x{:02x}", c);
    }
    return out + "\"";
}

std::string keyList(const std::vector<std::string>& keys, size_t max) {
    std::string out;
    for (size_t i = 0; i < keys.size() && i < max; ++i) out += (i ? " " : "") + printable(keys[i]);
    if (keys.size() > max) out += fmt::format(" and {} more", keys.size() - max);
    return out;
}

}  // namespace

// Takes dir/lock, then scans every segment in seq order (spec 2). Recovered segments are marked dirty: a process crash
// can leave written but unsynced pages behind, and the flusher's first pass makes them durable.
bool Journal::Impl::recover(std::string& err) {
    lock = openFile(opt.dir / "lock", O_RDWR | O_CREAT, err);
    if (!lock) return false;
    if (::flock(lock->fd(), LOCK_EX | LOCK_NB) != 0) {
        err = opt.dir.string() + " is in use by another journal (flock: " + errnoText() + ")";
        return false;
    }
    std::vector<std::pair<uint64_t, fs::path>> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(opt.dir, ec)) {
        if (auto seq = parseSegmentName(e.path().filename().string())) found.emplace_back(*seq, e.path());
    }
    if (ec) {
        err = "cannot list " + opt.dir.string() + ": " + ec.message();
        return false;
    }
    std::sort(found.begin(), found.end());
    uint64_t pos = 0;
    // Damage found at open: said once here, loudly, and kept for LAMINAR STATUS and /metrics.
    auto report = [&](const fs::path& path, const Damage& d) {
        lost_records += d.end_seq - d.first_seq;
        std::string what = d.end_seq > d.first_seq ? fmt::format("records {}..{} ({}) are lost", d.first_seq, d.end_seq - 1, d.end_seq - d.first_seq)
                                                   : std::string("no record is lost");
        if (!d.keys.empty()) what += fmt::format(", writing keys {}", keyList(d.keys, 20));
        if (d.unreadable) what += fmt::format(" ({} of them say no key)", d.unreadable);
        for (const auto& k : d.keys)
            if (lost_keys.size() < kMaxLostKeys) lost_keys.insert(k);
        damage.push_back(fmt::format("{}: bytes {}..{}: {}; {}", path.filename().string(), d.from_byte, d.to_byte, d.why, what));
        journalLog()->error("{}: damaged at bytes {}..{} ({}): {}; the records after it are kept. Their targets skip them (each counts them); "
                     "copy what they wrote with `laminar copy` or a backfill",
                     path.string(), d.from_byte, d.to_byte, d.why, what);
    };
    for (size_t i = 0; i < found.size(); ++i) {
        const auto& [first, path] = found[i];
        bool last = i + 1 == found.size();
        if (first == 0) {
            err = path.string() + ": seqs start at 1";
            return false;
        }
        if (!segments.empty() && first < segments.back().lastSeq() + 1) {
            err = fmt::format("{}: starts at seq {} but the segment before ends at {}", path.string(), first,
                              segments.back().lastSeq());
            return false;
        }
        if (!segments.empty() && first > segments.back().lastSeq() + 1) {
            // A segment is missing: its records are lost; the segment before stands for them.
            Segment& prev = segments.back();
            Damage d{prev.lastSeq() + 1, first, prev.bytes, prev.bytes, "the segment holding them is missing", {}, first - prev.lastSeq() - 1};
            report(prev.path, d);
            for (uint64_t q = d.first_seq; q < first; ++q) {
                prev.offsets.push_back(static_cast<uint32_t>(prev.bytes));
                prev.lost.push_back(q);
            }
        }
        auto file = openFile(path, O_RDWR, err);
        if (!file) return false;
        struct stat st {};
        if (::fstat(file->fd(), &st) != 0) {
            err = "stat " + path.string() + ": " + errnoText();
            return false;
        }
        auto size = static_cast<uint64_t>(st.st_size);
        SegmentScan scan = scanSegment(file->fd(), size, first);
        for (const Damage& d : scan.damage) report(path, d);
        // Emptied (a file system that lost its data blocks in a crash, a hand): damage like any
        // other, its records lost, not a journal that cannot open.
        if (!last && scan.offsets.empty() && scan.problem.empty()) scan.problem = "the segment is empty";
        if (!scan.problem.empty() && !scan.fatal && !last) {
            // No whole record after the damage, and not the last segment: the rest of it is lost
            // (the next segment says up to where). Kept as it is on disk, never appended to.
            uint64_t next_first = found[i + 1].first;
            uint64_t from = first + scan.offsets.size();
            if (next_first > from) {
                Damage d{from, next_first, scan.good_bytes, size, scan.problem, {}, 0};
                readLostKeys(file->fd(), size, d);
                report(path, d);
                for (uint64_t q = from; q < next_first; ++q) {
                    scan.offsets.push_back(static_cast<uint32_t>(scan.good_bytes));
                    scan.lost.push_back(q);
                }
            }
            scan.good_bytes = size;
            scan.problem.clear();
        }
        if (!scan.problem.empty()) {
            if (scan.fatal) {
                err = fmt::format("{}: offset {}: {}", path.string(), scan.good_bytes, scan.problem);
                return false;
            }
            if (::ftruncate(file->fd(), static_cast<off_t>(scan.good_bytes)) != 0 || !syncFd(file->fd(), fsyncs)) {
                err = "truncate " + path.string() + ": " + errnoText();
                return false;
            }
            torn_bytes = size - scan.good_bytes;
            journalLog()->warn("{}: torn tail at offset {} ({}): cut {} bytes", path.string(), scan.good_bytes, scan.problem,
                        torn_bytes);
        }
        if (scan.offsets.empty() && !last) {
            err = path.string() + ": empty, yet not the last segment";
            return false;
        }
        Segment seg;
        seg.first_seq = first;
        seg.offsets = std::move(scan.offsets);
        seg.lost = std::move(scan.lost);
        seg.bytes = scan.good_bytes;
        seg.base = pos;
        seg.path = path;
        seg.file = std::move(file);
        seg.dirty = true;
        pos += seg.bytes;
        segments.push_back(std::move(seg));
    }
    end_pos = pos;
    if (!lost_keys.empty()) {
        // Every lost key, one per line (escaped as in the log), for the operator to copy.
        auto path = opt.dir / "lost-keys.txt";
        std::string text;
        for (const auto& k : lost_keys) text += printable(k) + "\n";
        std::string why;
        auto tmp = opt.dir / "lost-keys.txt.tmp";
        auto f = openFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, why);
        iovec iov{text.data(), text.size()};
        if (f && writeAllAt(f->fd(), &iov, 1, 0) && ::rename(tmp.c_str(), path.c_str()) == 0)
            journalLog()->error("the {} keys the lost records wrote (as far as the damage tells) are in {}", lost_keys.size(), path.string());
        else
            journalLog()->error("cannot write {}: {}", path.string(), why.empty() ? errnoText() : why);
    }
    if (segments.empty()) {
        if (!createSegment(1, err)) return false;
        if (opt.fsync != Fsync::kNo && !syncDir(opt.dir, fsyncs, err)) return false;
        dir_dirty = false;
    }
    last_seq = segments.back().lastSeq();
    return true;
}

// Cursors from dir/cursors for the configured targets; a new target starts at the end. Stored at
// once, so a new target's start survives a crash that comes before its first ack.
bool Journal::Impl::loadTargets(std::string& err) {
    Cursors stored;
    if (!loadCursors(opt.dir, stored, err)) return false;
    uint64_t oldest = segments.front().first_seq;
    for (const auto& t : opt.targets) {
        auto it = stored.find(t);
        uint64_t c = it == stored.end() ? last_seq : it->second;
        if (c > last_seq) {
            journalLog()->warn("target {}: acked {} but the journal ends at {} (lost in a crash): resuming at {}", t, c,
                        last_seq, last_seq);
            c = last_seq;
        }
        if (c + 1 < oldest) {
            journalLog()->warn("target {}: acked {} but the oldest record is {}: records {}..{} are gone", t, c, oldest,
                        c + 1, oldest - 1);
            c = oldest - 1;
        }
        cursors[t] = c;
    }
    for (const auto& [t, c] : stored) {
        if (!cursors.count(t)) journalLog()->info("target {} is no longer configured: its cursor ({}) is dropped", t, c);
    }
    // The file on disk is still the one read (a failed write never replaces it): a full disk does
    // not keep the journal, and every route with it, from opening. The flusher writes it later.
    std::string store_err;
    if (!storeCursors(opt.dir, cursors, opt.fsync != Fsync::kNo, fsyncs, store_err)) {
        journalLog()->error("{}: cannot write the cursors ({}); the journal opens with those on disk and writes them again every {} ms",
                     opt.dir.string(), store_err, kTick.count());
        cursor_error = store_err;
        cursors_dirty = true;
        for (const auto& [t, c] : cursors) {
            auto it = stored.find(t);
            persisted[t] = it == stored.end() ? 0 : std::min(c, it->second);  // 0: deletes no segment for it
        }
        return true;
    }
    persisted = cursors;
    return true;
}

}  // namespace laminar::queue
