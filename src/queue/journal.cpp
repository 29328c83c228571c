// SPDX-License-Identifier: Apache-2.0
#include "queue/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>
#include <set>

#include "obs/logging.h"
#include "queue/cursor_file.h"
#include "queue/file.h"
#include "queue/frame.h"
#include "queue/segment.h"

namespace laminar::queue {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(100);       // cursors are persisted at most this often
constexpr auto kEverySec = std::chrono::seconds(1);
constexpr uint64_t kReadBudget = 4 << 20;                    // bytes one read() gathers (at least one record)
constexpr uint64_t kMaxSegmentBytes = 1ull << 32;            // record offsets are kept as u32

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("queue");
    return l;
}

int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

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

bool validTarget(const std::string& t) {
    return !t.empty() && std::none_of(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c) || c == 0; });
}

}  // namespace

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
        if (append_error.empty()) log()->error("journal {}: cannot append ({}); writes to the queue are refused until appends work again",
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

// --- open and recovery --------------------------------------------------------------------------

std::unique_ptr<Journal> Journal::open(JournalOptions options, std::string& error) {
    if (options.dir.empty()) {
        error = "queue: dir is not set";
        return nullptr;
    }
    if (options.segment_bytes == 0 || options.segment_bytes > kMaxSegmentBytes) {
        error = fmt::format("queue: segment_bytes must be in 1..{}, got {}", kMaxSegmentBytes, options.segment_bytes);
        return nullptr;
    }
    for (const auto& t : options.targets) {
        if (!validTarget(t)) {
            error = "queue: target name \"" + t + "\" must be non-empty and without spaces";
            return nullptr;
        }
    }
    std::error_code ec;
    fs::create_directories(options.dir, ec);
    if (ec) {
        error = "queue: cannot create " + options.dir.string() + ": " + ec.message();
        return nullptr;
    }
    std::unique_ptr<Journal> j(new Journal(std::move(options)));
    Impl& s = *j->impl_;
    std::string err;
    if (!s.recover(err) || !s.loadTargets(err)) {
        error = "queue: " + err;
        return nullptr;
    }
    s.flusher = std::thread([&s] { s.flushLoop(); });
    return j;
}

Journal::Journal(JournalOptions options) : opt_(std::move(options)), impl_(std::make_unique<Impl>(opt_)) {}

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
        log()->error("{}: damaged at bytes {}..{} ({}): {}; the records after it are kept. Their targets skip them (each counts them); "
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
            log()->warn("{}: torn tail at offset {} ({}): cut {} bytes", path.string(), scan.good_bytes, scan.problem,
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
            log()->error("the {} keys the lost records wrote (as far as the damage tells) are in {}", lost_keys.size(), path.string());
        else
            log()->error("cannot write {}: {}", path.string(), why.empty() ? errnoText() : why);
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
            log()->warn("target {}: acked {} but the journal ends at {} (lost in a crash): resuming at {}", t, c,
                        last_seq, last_seq);
            c = last_seq;
        }
        if (c + 1 < oldest) {
            log()->warn("target {}: acked {} but the oldest record is {}: records {}..{} are gone", t, c, oldest,
                        c + 1, oldest - 1);
            c = oldest - 1;
        }
        cursors[t] = c;
    }
    for (const auto& [t, c] : stored) {
        if (!cursors.count(t)) log()->info("target {} is no longer configured: its cursor ({}) is dropped", t, c);
    }
    // The file on disk is still the one read (a failed write never replaces it): a full disk does
    // not keep the journal, and every route with it, from opening. The flusher writes it later.
    std::string store_err;
    if (!storeCursors(opt.dir, cursors, opt.fsync != Fsync::kNo, fsyncs, store_err)) {
        log()->error("{}: cannot write the cursors ({}); the journal opens with those on disk and writes them again every {} ms",
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

bool Journal::Impl::createSegment(uint64_t first_seq, std::string& err) {
    Segment seg;
    seg.first_seq = first_seq;
    seg.base = end_pos;
    seg.path = opt.dir / segmentName(first_seq);
    seg.file = openFile(seg.path, O_RDWR | O_CREAT | O_EXCL, err);
    if (!seg.file) return false;
    segments.push_back(std::move(seg));
    dir_dirty = true;
    return true;
}

// --- lookups (mu held) --------------------------------------------------------------------------

const Segment& Journal::Impl::segmentFor(uint64_t seq) const {
    auto it = std::upper_bound(segments.begin(), segments.end(), seq,
                               [](uint64_t s, const Segment& seg) { return s < seg.first_seq; });
    return *std::prev(it);
}

uint64_t Journal::Impl::position(uint64_t seq) const {
    if (seq > last_seq) return end_pos;
    if (seq <= segments.front().first_seq) return segments.front().base;
    const Segment& seg = segmentFor(seq);
    return seg.base + seg.offsetOf(seq);
}

uint64_t Journal::Impl::slowestBacklog() const {
    if (cursors.empty()) return end_pos - segments.front().base;
    uint64_t slowest = std::numeric_limits<uint64_t>::max();
    for (const auto& [t, c] : cursors) slowest = std::min(slowest, c);
    return backlog(slowest);
}

int64_t Journal::Impl::unixMsOf(uint64_t seq) const {
    const Segment& seg = segmentFor(seq);
    char buf[8];
    if (!readAllAt(seg.file->fd(), buf, sizeof buf, seg.offsetOf(seq) + 16)) return 0;
    int64_t ms = 0;
    for (int i = 7; i >= 0; --i) ms = (ms << 8) | static_cast<unsigned char>(buf[i]);
    return ms;
}

void Journal::Impl::fail(std::string what) {
    if (!error.empty()) return;
    error = std::move(what);
    for (auto& [seq, fn] : waiting) abandoned.push_back(std::move(fn));
    waiting.clear();
    for (auto& w : persist_waiting) abandoned.push_back(std::move(w.fn));
    persist_waiting.clear();
    wake.notify_all();  // the flusher tells them
    log()->error("journal {} failed, refusing appends from now on: {}", opt.dir.string(), error);
}

// --- the data path ------------------------------------------------------------------------------

uint64_t Journal::backlogBytes() const {
    std::lock_guard lk(impl_->mu);
    return impl_->slowestBacklog();
}

uint64_t Journal::append(std::string_view data) { return appendMany(std::span<const std::string_view>(&data, 1)); }

uint64_t Journal::append(std::string_view data, uint64_t limit) { return appendMany(std::span<const std::string_view>(&data, 1), limit); }

uint64_t Journal::appendMany(std::span<const std::string_view> records, uint64_t limit) {
    if (limit == 0) limit = opt_.max_bytes;
    Impl& s = *impl_;
    if (records.empty()) return 0;
    std::vector<uint32_t> crcs;
    crcs.reserve(records.size());
    uint64_t total = 0;
    for (auto r : records) {
        if (r.size() > kMaxRecordBytes) {
            std::lock_guard lk(s.mu);
            ++s.rejected;
            log()->warn("refusing a {}-byte record (the limit is {})", r.size(), kMaxRecordBytes);
            return 0;
        }
        crcs.push_back(dataChecksum(r));
        total += kFrameHeaderBytes + r.size();
    }
    std::lock_guard lk(s.mu);
    if (!s.error.empty()) return 0;
    if (s.slowestBacklog() + total > limit) {
        s.rejected += records.size();
        return 0;
    }
    std::string err;
    if (s.segments.back().bytes >= opt_.segment_bytes && s.segments.back().count() > 0 &&
        !s.createSegment(s.last_seq + 1, err)) {
        s.appendFailed(err, records.size());
        return 0;
    }
    Segment& seg = s.segments.back();
    if (seg.bytes + total > std::numeric_limits<uint32_t>::max()) {  // offsets are 32-bit
        s.fail(fmt::format("{}: a batch of {} bytes does not fit the segment", seg.path.string(), total));
        return 0;
    }
    const uint64_t first = s.last_seq + 1;
    const int64_t now = nowMs();
    std::vector<std::array<char, kFrameHeaderBytes>> headers;
    headers.reserve(records.size());
    std::vector<iovec> iov;
    iov.reserve(records.size() * 2);
    for (size_t i = 0; i < records.size(); ++i) {
        headers.push_back(encodeHeader(first + i, now, static_cast<uint32_t>(records[i].size()), crcs[i]));
        iov.push_back({headers.back().data(), headers.back().size()});
        iov.push_back({const_cast<char*>(records[i].data()), records[i].size()});
    }
    // In slices of IOV_MAX (1024) buffers: one pwritev each.
    uint64_t at = seg.bytes;
    for (size_t i = 0; i < iov.size(); i += 1024) {
        size_t n = std::min<size_t>(1024, iov.size() - i);
        uint64_t bytes = 0;
        for (size_t j = i; j < i + n; ++j) bytes += iov[j].iov_len;
        if (!writeAllAt(seg.file->fd(), iov.data() + i, static_cast<int>(n), at)) {
            // Nothing of the batch counts: cut what part of it was written, and refuse it. A full
            // disk (or another write error) passes: the next append tries again. Only a file that
            // cannot be cut back to its records stops the journal.
            std::string what = fmt::format("write {} at offset {}: {}", seg.path.string(), at, errnoText());
            if (::ftruncate(seg.file->fd(), static_cast<off_t>(seg.bytes)) != 0) {
                s.fail(what + "; and it cannot be cut back: " + errnoText());
                return 0;
            }
            s.appendFailed(what, records.size());
            return 0;
        }
        at += bytes;
    }
    for (auto r : records) {
        seg.offsets.push_back(static_cast<uint32_t>(seg.bytes));
        seg.bytes += kFrameHeaderBytes + r.size();
    }
    seg.dirty = true;
    s.end_pos += total;
    if (!s.append_error.empty()) {
        log()->info("journal {}: appends work again (they failed: {})", opt_.dir.string(), s.append_error);
        s.append_error.clear();
    }
    s.last_seq = first + records.size() - 1;
    s.appended += records.size();
    if (opt_.fsync == Fsync::kAlways) s.wake.notify_one();
    return first;
}

void Journal::whenDurable(uint64_t seq, std::function<void(bool durable)> fn) {
    Impl& s = *impl_;
    if (opt_.fsync == Fsync::kAlways) {
        std::unique_lock lk(s.mu);
        if (!s.error.empty()) {
            lk.unlock();
            return fn(false);
        }
        if (seq > s.synced_seq) {
            s.waiting.emplace(seq, std::move(fn));
            return;
        }
    }
    fn(true);
}

void Journal::whenPersisted(const std::string& target, uint64_t seq, std::function<void(bool persisted)> fn) {
    Impl& s = *impl_;
    std::unique_lock lk(s.mu);
    auto it = s.persisted.find(target);
    if (!s.error.empty() || it == s.persisted.end() || it->second >= seq) {
        bool ok = s.error.empty();
        lk.unlock();
        return fn(ok);
    }
    s.persist_waiting.push_back({target, seq, std::move(fn)});
    s.wake.notify_all();
}

bool Journal::read(const std::string& target, uint64_t after, size_t max, std::vector<Record>& out) {
    Impl& s = *impl_;
    struct Piece {
        std::shared_ptr<File> file;
        fs::path path;
        uint64_t offset;
        uint64_t bytes;
        uint64_t first_seq;
        uint64_t count;
        // Only for a segment with records lost to damage: where each record starts, and which
        // are lost (handed out as Record::lost, with no data).
        std::vector<uint32_t> offsets;
        std::vector<char> lost;
    };
    std::vector<Piece> pieces;
    {
        std::lock_guard lk(s.mu);
        if (!s.cursors.count(target)) return false;
        if (after >= s.last_seq) return true;
        uint64_t seq = std::max(after + 1, s.segments.front().first_seq);
        uint64_t budget = kReadBudget;
        while (seq <= s.last_seq && max > 0 && budget > 0) {
            const Segment& seg = s.segmentFor(seq);
            uint64_t i = seq - seg.first_seq;
            uint64_t j = i + std::min<uint64_t>(seg.count() - i, max);
            uint64_t begin = seg.offsets[i];
            if (seg.offsetOf(seg.first_seq + j) - begin > budget) {
                // The most records from i that fit the budget; at least one.
                auto fit = std::upper_bound(seg.offsets.begin() + static_cast<ptrdiff_t>(i) + 1,
                                            seg.offsets.begin() + static_cast<ptrdiff_t>(j), begin + budget);
                j = std::max<uint64_t>(i + 1, static_cast<uint64_t>(fit - seg.offsets.begin()) - 1);
            }
            uint64_t end = seg.offsetOf(seg.first_seq + j);
            pieces.push_back({seg.file, seg.path, begin, end - begin, seq, j - i, {}, {}});
            if (!seg.lost.empty()) {
                Piece& p = pieces.back();
                p.offsets.assign(seg.offsets.begin() + static_cast<ptrdiff_t>(i), seg.offsets.begin() + static_cast<ptrdiff_t>(j));
                for (uint64_t k = 0; k < j - i; ++k) p.lost.push_back(std::binary_search(seg.lost.begin(), seg.lost.end(), seq + k));
            }
            budget -= std::min(budget, end - begin);
            max -= j - i;
            seq += j - i;
        }
    }
    // Outside the lock: the bytes are written and stay put, and each piece holds its file open.
    std::string buf;
    for (const Piece& p : pieces) {
        buf.resize(p.bytes);
        std::string problem;
        if (!readAllAt(p.file->fd(), buf.data(), buf.size(), p.offset)) problem = "read error: " + errnoText();
        size_t off = 0;
        for (uint64_t k = 0; k < p.count && problem.empty(); ++k) {
            if (!p.lost.empty()) {
                if (p.lost[k]) {
                    out.push_back(Record{p.first_seq + k, 0, {}, true});
                    continue;
                }
                off = p.offsets[k] - p.offset;
            }
            FrameHeader h = decodeHeader(buf.data() + off);
            std::string_view data(buf.data() + off + kFrameHeaderBytes,
                                  std::min<size_t>(h.len, buf.size() - off - kFrameHeaderBytes));
            if (h.seq != p.first_seq + k || !checksumMatches(h, data)) {
                problem = fmt::format("offset {}: record {} is corrupt", p.offset + off, p.first_seq + k);
                break;
            }
            out.push_back(Record{h.seq, h.unix_ms, std::string(data), false});
            off += kFrameHeaderBytes + h.len;
        }
        if (!problem.empty()) {
            std::lock_guard lk(s.mu);
            s.fail(p.path.string() + ": " + problem);
            return false;
        }
    }
    return true;
}

void Journal::ack(const std::string& target, uint64_t seq) {
    Impl& s = *impl_;
    std::lock_guard lk(s.mu);
    auto it = s.cursors.find(target);
    if (it == s.cursors.end()) return;
    seq = std::min(seq, s.last_seq);
    if (seq > it->second) {
        it->second = seq;
        s.cursors_dirty = true;
    }
}

uint64_t Journal::acked(const std::string& target) const {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->cursors.find(target);
    return it == impl_->cursors.end() ? 0 : it->second;
}

uint64_t Journal::lastSeq() const {
    std::lock_guard lk(impl_->mu);
    return impl_->last_seq;
}

std::string Journal::error() const {
    std::lock_guard lk(impl_->mu);
    return impl_->error;
}

std::string Journal::writeError() const {
    std::lock_guard lk(impl_->mu);
    if (!impl_->error.empty()) return impl_->error;
    if (!impl_->append_error.empty()) return impl_->append_error;
    return impl_->cursor_error;
}

JournalStats Journal::stats() const {
    const Impl& s = *impl_;
    JournalStats st;
    std::lock_guard lk(s.mu);
    st.appended = s.appended;
    st.last_seq = s.last_seq;
    st.bytes = s.end_pos - s.segments.front().base;
    st.rejected = s.rejected;
    st.fsyncs = s.fsyncs.load(std::memory_order_relaxed);
    st.torn_bytes = s.torn_bytes;
    st.lost_records = s.lost_records;
    st.damage = s.damage;
    for (const auto& [target, acked] : s.cursors) {
        JournalStats::Target& t = st.targets[target];
        t.acked = acked;
        t.records = s.last_seq - acked;
        t.bytes = s.backlog(acked);
        t.oldest_ms = t.records > 0 ? s.unixMsOf(acked + 1) : 0;
    }
    return st;
}

// --- the flusher --------------------------------------------------------------------------------

Journal::~Journal() {
    Impl& s = *impl_;
    if (!s.flusher.joinable()) return;
    {
        std::lock_guard lk(s.mu);
        s.stop = true;
    }
    s.wake.notify_all();
    s.flusher.join();
    // Still waiting (an fsync failed, or the last one did not cover them): not durable.
    for (auto& [seq, fn] : s.waiting) s.abandoned.push_back(std::move(fn));
    s.waiting.clear();
    for (auto& w : s.persist_waiting) s.abandoned.push_back(std::move(w.fn));
    s.persist_waiting.clear();
    for (auto& fn : s.abandoned) fn(false);
}

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
            log()->error("a whenDurable callback threw: {}", e.what());
        } catch (...) {
            log()->error("a whenDurable callback threw");
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
        if (cursor_error.empty()) log()->error("{}: cannot write the cursors ({}); trying again every {} ms", opt.dir.string(), err, kTick.count());
        cursor_error = err;
        cursors_dirty = true;
        for (auto& w : persist_waiting) abandoned.push_back(std::move(w.fn));
        persist_waiting.clear();
        return;
    }
    if (!cursor_error.empty()) {
        log()->info("{}: the cursors are written again", opt.dir.string());
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
